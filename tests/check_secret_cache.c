/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* secretd's cache of the resolved secret (secretd/cache.c) on an injected
 * clock: expiry, the early re-resolution tokend may ask for and its 30 s
 * floor, the fingerprint and when brokerd is told about it. */
#include "buildconf.h"

#include <check.h>
#include <string.h>

#include <sodium.h>

#include "secretd.h"

static int64_t fake_now;

static int64_t
clock_fake(void)
{
	return fake_now;
}

static void
store(struct secret_cache *c, const char *secret)
{
	struct guarded g = { NULL, 0 };

	ck_assert_int_eq(guard_store(&g, secret, strlen(secret)), 0);
	secret_cache_store(c, &g);
	ck_assert_ptr_null(g.p); /* ownership moved */
}

/* Known answers, computed independently (Python: hashlib.blake2b(s,
 * key=b"mcp-auth-broker fingerprint v1".ljust(32, b"\0"),
 * digest_size=32).digest()[:8].hex()). */
START_TEST(fingerprint_known_answers)
{
	char fp[17];

	secret_fingerprint((const unsigned char *)"fake-op-secret-Private-secret", 29, fp);
	ck_assert_str_eq(fp, "535a69ec08f55f29");
	secret_fingerprint((const unsigned char *)"abc", 3, fp);
	ck_assert_str_eq(fp, "4b1971a2ff5f2678");
}
END_TEST

START_TEST(empty_cache_resolves)
{
	struct secret_cache c;

	secret_cache_init(&c, 300, clock_fake);
	ck_assert(secret_cache_needs_resolve(&c, false));
	ck_assert(secret_cache_needs_resolve(&c, true));
}
END_TEST

START_TEST(served_until_expiry)
{
	struct secret_cache c;

	fake_now = 1000000;
	secret_cache_init(&c, 300, clock_fake);
	store(&c, "s1");
	ck_assert(!secret_cache_needs_resolve(&c, false));
	fake_now += 299999;
	ck_assert(!secret_cache_needs_resolve(&c, false));
	fake_now += 1;
	ck_assert(secret_cache_needs_resolve(&c, false));
	secret_cache_free(&c);
}
END_TEST

START_TEST(refresh_honoured_once_per_30s)
{
	struct secret_cache c;

	fake_now = 5000000;
	secret_cache_init(&c, 300, clock_fake);
	store(&c, "s1");
	/* Rejected right after start-up: the secret may just have been rotated. */
	ck_assert(secret_cache_needs_resolve(&c, true));
	secret_cache_note_refresh(&c);
	store(&c, "s2");
	/* Rejected again: resolving once more within 30 s would only burn
	 * 1Password's rate limit. */
	fake_now += SECRET_REFRESH_MIN_MS - 1;
	ck_assert(!secret_cache_needs_resolve(&c, true));
	fake_now += 1;
	ck_assert(secret_cache_needs_resolve(&c, true));
	/* A plain request is still served from the cache. */
	ck_assert(!secret_cache_needs_resolve(&c, false));
	secret_cache_free(&c);
}
END_TEST

/* The floor holds whether or not the refresh found a new secret. */
START_TEST(failed_refresh_counts)
{
	struct secret_cache c;

	fake_now = 0;
	secret_cache_init(&c, 300, clock_fake);
	store(&c, "s1");
	secret_cache_note_refresh(&c); /* resolution then failed: nothing stored */
	fake_now += 1000;
	ck_assert(!secret_cache_needs_resolve(&c, true));
	secret_cache_free(&c);
}
END_TEST

START_TEST(ttl_zero_never_caches)
{
	struct secret_cache c;

	fake_now = 0;
	secret_cache_init(&c, 0, clock_fake);
	store(&c, "s1");
	ck_assert(secret_cache_needs_resolve(&c, false));
	secret_cache_free(&c);
}
END_TEST

START_TEST(news_only_when_the_secret_changes)
{
	struct secret_cache c;
	char fp_a[17];

	secret_cache_init(&c, 300, clock_fake);
	ck_assert(!secret_cache_take_news(&c));
	store(&c, "secret-A");
	memcpy(fp_a, c.fingerprint, sizeof(fp_a));
	ck_assert(secret_cache_take_news(&c));
	ck_assert(!secret_cache_take_news(&c));
	store(&c, "secret-A"); /* re-resolved, not rotated */
	ck_assert(!secret_cache_take_news(&c));
	store(&c, "secret-B");
	ck_assert_str_ne(c.fingerprint, fp_a);
	ck_assert(secret_cache_take_news(&c));
	secret_cache_free(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("secret_cache");
	TCase *tc = tcase_create("cache");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tc, fingerprint_known_answers);
	tcase_add_test(tc, empty_cache_resolves);
	tcase_add_test(tc, served_until_expiry);
	tcase_add_test(tc, refresh_honoured_once_per_30s);
	tcase_add_test(tc, failed_refresh_counts);
	tcase_add_test(tc, ttl_zero_never_caches);
	tcase_add_test(tc, news_only_when_the_secret_changes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
