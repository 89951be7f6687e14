/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The token cache rules of DESIGN.md section 6, on an injected clock. */
#include "buildconf.h"

#include <check.h>
#include <signal.h>
#include <string.h>

#include <sodium.h>

#include "cache.h"

static int64_t fake_now;

static int64_t
clock_fake(void)
{
	return fake_now;
}

static struct token_cache c;
static struct token_entry *e;

static void
setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	fake_now = 1000000;
	cache_init(&c, 60, 3000, clock_fake);
	e = cache_entry(&c, "tenant", "client", "https://graph.microsoft.com");
}

static void
teardown(void)
{
	cache_free(&c);
}

START_TEST(empty_until_stored)
{
	ck_assert_int_eq(cache_state(&c, e), CACHE_EMPTY);
	ck_assert(!cache_usable(&c, e));
	ck_assert_ptr_eq(cache_entry(&c, "tenant", "client", "https://graph.microsoft.com"), e);
	ck_assert_ptr_ne(cache_entry(&c, "tenant", "client", "https://other.example"), e);
}
END_TEST

START_TEST(ttl_clamped_to_max)
{
	ck_assert_int_eq(cache_store(&c, e, "tok", 3, "Bearer", 3599), 0);
	ck_assert_int_eq(e->expires_at, fake_now + 3000);
	ck_assert_int_eq(cache_store(&c, e, "tok", 3, "Bearer", 600), 0);
	ck_assert_int_eq(e->expires_at, fake_now + 600);
}
END_TEST

START_TEST(served_only_while_more_than_skew_left)
{
	cache_store(&c, e, "tok", 3, "Bearer", 600);
	fake_now += 600 - 61;
	ck_assert(cache_usable(&c, e));
	fake_now += 1; /* exactly skew left: no longer served */
	ck_assert(!cache_usable(&c, e));
	ck_assert_int_eq(cache_state(&c, e), CACHE_EXPIRED);
}
END_TEST

START_TEST(expired_never_served_even_when_throttled)
{
	cache_store(&c, e, "tok", 3, "Bearer", 600);
	fake_now += 10000;
	cache_note_failure(&c, e, ERR_PROVIDER_RATE_LIMITED, "429", NULL, 30);
	ck_assert(!cache_usable(&c, e));
	ck_assert(!e->refresh_failed); /* nothing to fall back to */
}
END_TEST

START_TEST(refresh_ahead_at_three_quarters)
{
	cache_store(&c, e, "tok", 3, "Bearer", 3000);
	/* usable for 3000 - 60 s; refresh from 3/4 of that on */
	fake_now += (3000 - 60) * 3 / 4 - 1;
	ck_assert(!cache_wants_refresh(&c, e));
	fake_now += 1;
	ck_assert(cache_wants_refresh(&c, e));
	e->minting = true; /* single flight: one refresh at a time */
	ck_assert(!cache_wants_refresh(&c, e));
}
END_TEST

START_TEST(failed_refresh_falls_back_to_valid_token)
{
	cache_store(&c, e, "tok", 3, "Bearer", 3000);
	fake_now += 2500;
	cache_note_failure(&c, e, ERR_PROVIDER_UNAVAILABLE, "down", NULL, -1);
	ck_assert(e->refresh_failed);
	ck_assert(cache_usable(&c, e));
	cache_note_success(e);
	ck_assert(!e->refresh_failed);
}
END_TEST

START_TEST(throttle_after_429_honours_retry_after)
{
	cache_note_failure(&c, e, ERR_PROVIDER_RATE_LIMITED, "429", NULL, 17);
	ck_assert(cache_throttled(&c, e));
	ck_assert_int_eq(e->throttle_code, ERR_PROVIDER_RATE_LIMITED);
	fake_now += 16;
	ck_assert(cache_throttled(&c, e));
	fake_now += 1;
	ck_assert(!cache_throttled(&c, e));
}
END_TEST

START_TEST(throttle_after_429_without_retry_after)
{
	cache_note_failure(&c, e, ERR_PROVIDER_RATE_LIMITED, "429", NULL, -1);
	ck_assert(cache_throttled(&c, e));
	fake_now += CACHE_THROTTLE_429_S;
	ck_assert(!cache_throttled(&c, e));
}
END_TEST

START_TEST(throttle_after_identical_4xx_only)
{
	cache_note_failure(&c, e, ERR_PROVIDER_AUTH_FAILED, "bad", "401:invalid_client:AADSTS7000215", -1);
	ck_assert(!cache_throttled(&c, e));
	/* a different 4xx resets the count */
	cache_note_failure(&c, e, ERR_PROVIDER_AUTH_FAILED, "bad", "400:invalid_request:AADSTS900144", -1);
	ck_assert(!cache_throttled(&c, e));
	cache_note_failure(&c, e, ERR_PROVIDER_AUTH_FAILED, "bad", "400:invalid_request:AADSTS900144", -1);
	ck_assert(cache_throttled(&c, e));
	ck_assert_int_eq(e->throttled_until, fake_now + CACHE_THROTTLE_4XX_S);
	ck_assert_str_eq(e->throttle_msg, "bad");
	cache_note_success(e);
	ck_assert(!cache_throttled(&c, e));
}
END_TEST

START_TEST(unavailable_does_not_throttle)
{
	for (int i = 0; i < 5; i++)
		cache_note_failure(&c, e, ERR_PROVIDER_UNAVAILABLE, "down", NULL, -1);
	ck_assert(!cache_throttled(&c, e));
}
END_TEST

START_TEST(invalidate_forgets_token)
{
	cache_store(&c, e, "tok", 3, "Bearer", 3000);
	cache_invalidate(e);
	ck_assert_int_eq(cache_state(&c, e), CACHE_EMPTY);
	ck_assert_ptr_null(e->token.p);
}
END_TEST

/* Issue 9 item 6: a 401 drops the token it was sent with, once; a late 401
 * about an old token leaves its successor alone. */
START_TEST(rejection_drops_only_the_token_it_was_about)
{
	uint64_t first, second;

	cache_store(&c, e, "tok1", 4, "Bearer", 3000);
	first = e->generation;
	ck_assert(cache_invalidate_generation(e, first));
	ck_assert_int_eq(cache_state(&c, e), CACHE_EMPTY);
	/* Nine more 401s about the same token: nothing more to drop. */
	for (int i = 0; i < 9; i++)
		ck_assert(!cache_invalidate_generation(e, first));
	cache_store(&c, e, "tok2", 4, "Bearer", 3000);
	second = e->generation;
	ck_assert_uint_ne(first, second);
	/* A late 401 about tok1 arrives after tok2 was stored. */
	ck_assert(!cache_invalidate_generation(e, first));
	ck_assert_int_eq(cache_state(&c, e), CACHE_VALID);
	ck_assert(cache_invalidate_generation(e, second));
	ck_assert_int_eq(cache_state(&c, e), CACHE_EMPTY);
}
END_TEST

START_TEST(token_kept_no_access)
{
	const unsigned char *p;

	cache_store(&c, e, "secret-token", 12, "Bearer", 3000);
	p = guard_open(&e->token);
	ck_assert_int_eq(memcmp(p, "secret-token", 12), 0);
	guard_close(&e->token);
}
END_TEST

START_TEST(minting_lookup_by_id)
{
	e->minting = true;
	e->mint_id = 42;
	ck_assert_ptr_eq(cache_find_minting(&c, 42), e);
	ck_assert_ptr_null(cache_find_minting(&c, 43));
	e->minting = false;
	ck_assert_ptr_null(cache_find_minting(&c, 42));
}
END_TEST

#ifndef HAVE_SANITIZERS
/* Between uses the token's pages are no-access: a stray read faults. */
START_TEST(token_faults_when_closed)
{
	volatile unsigned char sink;

	cache_store(&c, e, "secret-token", 12, "Bearer", 3000);
	sink = e->token.p[0];
	(void)sink;
}
END_TEST
#endif

int
main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("rules");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, empty_until_stored);
	tcase_add_test(tc, ttl_clamped_to_max);
	tcase_add_test(tc, served_only_while_more_than_skew_left);
	tcase_add_test(tc, expired_never_served_even_when_throttled);
	tcase_add_test(tc, refresh_ahead_at_three_quarters);
	tcase_add_test(tc, failed_refresh_falls_back_to_valid_token);
	tcase_add_test(tc, throttle_after_429_honours_retry_after);
	tcase_add_test(tc, throttle_after_429_without_retry_after);
	tcase_add_test(tc, throttle_after_identical_4xx_only);
	tcase_add_test(tc, unavailable_does_not_throttle);
	tcase_add_test(tc, invalidate_forgets_token);
	tcase_add_test(tc, rejection_drops_only_the_token_it_was_about);
	tcase_add_test(tc, token_kept_no_access);
	tcase_add_test(tc, minting_lookup_by_id);
#ifndef HAVE_SANITIZERS
	tcase_add_test_raise_signal(tc, token_faults_when_closed, SIGSEGV);
#endif
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
