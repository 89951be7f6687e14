/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The stable error codes of DESIGN.md section 5. */
#include "buildconf.h"

#include <check.h>
#include <string.h>

#include "errors.h"

START_TEST(names_round_trip)
{
	for (int i = 1; i < ERR_CODE_COUNT; i++) {
		const char *name = err_name((enum err_code)i);
		const char *dot = strchr(name, '.');
		ck_assert_ptr_nonnull(dot);
		ck_assert_int_eq(err_from_name(name), i);
		/* The category is the part before the dot. */
		ck_assert_int_eq(strncmp(err_category((enum err_code)i), name, (size_t)(dot - name)),
		    0);
		ck_assert_uint_eq(strlen(err_category((enum err_code)i)), (size_t)(dot - name));
	}
	ck_assert_int_eq(err_from_name("policy.nonsense"), ERR_NONE);
	ck_assert_int_eq(err_from_name(""), ERR_NONE);
}
END_TEST

START_TEST(retryable_exactly_timeouts_limits_unavailable)
{
	for (int i = 1; i < ERR_CODE_COUNT; i++) {
		const char *name = err_name((enum err_code)i);
		bool expect = strstr(name, ".timeout") || strstr(name, ".rate_limited") ||
		    strstr(name, ".unavailable");
		ck_assert_msg(err_retryable((enum err_code)i) == expect, "%s", name);
	}
}
END_TEST

START_TEST(contract_names)
{
	static const char *names[] = { "bad_request.invalid_field", "bad_request.invalid_timeout",
		"bad_request.unsupported_operation", "policy.denied", "policy.missing_identity",
		"policy.invalid_scope", "secret.not_found", "secret.access_denied", "secret.timeout",
		"secret.unavailable", "provider.auth_failed", "provider.rate_limited",
		"provider.timeout", "provider.unavailable", "provider.bad_response" };

	ck_assert_int_eq(ERR_CODE_COUNT - 1, (int)(sizeof(names) / sizeof(names[0])));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_int_ne(err_from_name(names[i]), ERR_NONE);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("codes");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, names_round_trip);
	tcase_add_test(tc, retryable_exactly_timeouts_limits_unavailable);
	tcase_add_test(tc, contract_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
