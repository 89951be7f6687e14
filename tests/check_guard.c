/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Guarded memory (common/guard.c): readable between open and close, and a
 * fault, not a leak, when touched at any other time. */
#include "buildconf.h"

#include <check.h>
#include <signal.h>
#include <string.h>

#include <sodium.h>

#include "guard.h"

static struct guarded g;

static void
store(void)
{
	ck_assert_int_eq(guard_store(&g, "guarded-secret", 14), 0);
}

START_TEST(readable_while_open)
{
	const unsigned char *p;

	store();
	p = guard_open(&g);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(g.len, 14);
	ck_assert_int_eq(memcmp(p, "guarded-secret", 14), 0);
	guard_close(&g);
	/* Open again: the content is still there. */
	ck_assert_int_eq(memcmp(guard_open(&g), "guarded-secret", 14), 0);
	guard_close(&g);
	guard_free(&g);
	ck_assert_ptr_null(g.p);
	ck_assert_uint_eq(g.len, 0);
}
END_TEST

START_TEST(secure_wipe_zeroes)
{
	char buf[] = "a secret outside guarded memory";

	secure_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_int_eq(buf[i], 0);
}
END_TEST

#ifndef HAVE_SANITIZERS
/* A stray read of a stored secret faults: it was never opened. */
START_TEST(read_after_store_faults)
{
	volatile unsigned char c;

	store();
	c = g.p[0];
	(void)c;
	ck_abort_msg("read guarded memory while no-access");
}
END_TEST

/* Closing makes it no-access again. */
START_TEST(read_after_close_faults)
{
	volatile unsigned char c;

	store();
	guard_open(&g);
	guard_close(&g);
	c = g.p[3];
	(void)c;
	ck_abort_msg("read guarded memory after guard_close");
}
END_TEST

/* Open means read-only: a write through a stray pointer faults as well. */
START_TEST(write_while_open_faults)
{
	store();
	guard_open(&g);
	g.p[0] = 'X';
	ck_abort_msg("wrote guarded memory opened read-only");
}
END_TEST
#endif

int
main(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("guard");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, readable_while_open);
	tcase_add_test(tc, secure_wipe_zeroes);
#ifndef HAVE_SANITIZERS
	/* ASan intercepts the fault and reports it as a bug instead. */
	tcase_add_test_raise_signal(tc, read_after_store_faults, SIGSEGV);
	tcase_add_test_raise_signal(tc, read_after_close_faults, SIGSEGV);
	tcase_add_test_raise_signal(tc, write_while_open_faults, SIGSEGV);
#endif
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
