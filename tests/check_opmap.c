/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What op's stderr means (secretd/opmap.c), and what of it may be logged. */
#include "buildconf.h"

#include <check.h>
#include <string.h>

#include "secretd.h"

#define STAMP "[ERROR] 2026/11/23 10:00:00 "

static enum err_code
classify(const char *text)
{
	const char *msg = NULL;
	enum err_code code = opmap_classify(text, strlen(text), &msg);

	ck_assert_ptr_nonnull(msg);
	ck_assert_msg(strlen(msg) > 10, "no usable message for '%s'", text);
	return code;
}

/* The messages op 2.x prints, verbatim apart from names. */
START_TEST(op_messages)
{
	static const struct {
		const char *text;
		enum err_code code;
	} cases[] = {
		{ STAMP "\"graph\" isn't an item in the \"Private\" vault. Specify the item with its "
			"UUID, name, or domain.\n",
		    ERR_SECRET_NOT_FOUND },
		{ STAMP "\"qbw7cz35hurhj5zhwzglwd6uku\" isn't an item in any vault.\n",
		    ERR_SECRET_NOT_FOUND },
		{ STAMP "could not read secret 'op://Private/graph/nofield': item 'Private/graph' "
			"does not have a field 'nofield'\n",
		    ERR_SECRET_NOT_FOUND },
		{ STAMP "could not read secret 'op://Nope/graph/secret': error initializing client: "
			"\"Nope\" isn't a vault in this account. Specify the vault with its ID or name.\n",
		    ERR_SECRET_ACCESS_DENIED },
		{ STAMP "\"Hackweek\" doesn't seem to be a vault in this account. Specify the vault "
			"with its UUID or name.\n",
		    ERR_SECRET_ACCESS_DENIED },
		{ STAMP "could not read secret 'op://a/b/c': error initializing client: (401) "
			"Unauthorized: invalid bearer token\n",
		    ERR_SECRET_ACCESS_DENIED },
		{ STAMP "failed to DecodeSACredentials: failed to decode base64 credentials: illegal "
			"base64 data at input byte 4\n",
		    ERR_SECRET_ACCESS_DENIED },
		{ STAMP "illegal base64 data at input byte 0\n", ERR_SECRET_ACCESS_DENIED },
		{ STAMP "could not read secret 'op://a/b/c': (429) Too Many Requests: You've reached "
			"the maximum number of requests\n",
		    ERR_SECRET_UNAVAILABLE },
		{ STAMP "could not read secret 'op://a/b/c': Get \"https://my.1password.com/api\": "
			"dial tcp: lookup my.1password.com: no such host\n",
		    ERR_SECRET_UNAVAILABLE },
		{ "", ERR_SECRET_UNAVAILABLE },
		{ "secretd: cannot execute the secret helper\n", ERR_SECRET_UNAVAILABLE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(classify(cases[i].text) == cases[i].code, "'%s': got %s, want %s",
		    cases[i].text, err_name(classify(cases[i].text)), err_name(cases[i].code));
}
END_TEST

/* The retryable split the client relies on: only throttling and the
 * unknown are worth a retry. */
START_TEST(retryable_only_when_worth_it)
{
	ck_assert(!err_retryable(classify("\"x\" isn't an item in the \"v\" vault.")));
	ck_assert(!err_retryable(classify("(401) Unauthorized: invalid bearer token")));
	ck_assert(err_retryable(classify("(429) Too Many Requests")));
	ck_assert(err_retryable(classify("connection reset by peer")));
}
END_TEST

/* stderr is binary as far as we know: a NUL does not hide what follows. */
START_TEST(classify_past_nul)
{
	static const char text[] = "noise\0(401) Unauthorized: invalid bearer token";
	const char *msg;

	ck_assert_int_eq(opmap_classify(text, sizeof(text) - 1, &msg), ERR_SECRET_ACCESS_DENIED);
}
END_TEST

static const char *
redact(const char *in, const char *secret)
{
	static char out[512];
	struct redact_secret s = { (const unsigned char *)secret, secret ? strlen(secret) : 0 };

	opmap_redact(in, strlen(in), &s, 1, out, sizeof(out));
	return out;
}

START_TEST(redacts_known_secrets)
{
	ck_assert_str_eq(redact("bad secret hunter2x and again hunter2x.", "hunter2x"),
	    "bad secret [REDACTED] and again [REDACTED].");
	/* Inside a word too: a secret has no word boundaries. */
	ck_assert_str_eq(redact("prefix-hunter2x-suffix", "hunter2x"), "prefix-[REDACTED]-suffix");
}
END_TEST

START_TEST(redacts_what_looks_like_a_token)
{
	/* A service-account token, whatever its length. */
	ck_assert_str_eq(redact("token ops_eyJhbGciOi is bad", NULL), "token [REDACTED] is bad");
	/* A long base64 run: a key, a JWT segment, a client secret. */
	ck_assert_str_eq(redact("got 0123456789abcdefghijABCDEFGHIJ+/xyz= here", NULL),
	    "got [REDACTED] here");
	/* Words, names and 1Password's 26-character ids stay readable. */
	ck_assert_str_eq(redact("\"qbw7cz35hurhj5zhwzglwd6uku\" isn't an item", NULL),
	    "\"qbw7cz35hurhj5zhwzglwd6uku\" isn't an item");
}
END_TEST

START_TEST(line_breaks_become_spaces)
{
	ck_assert_str_eq(redact("[ERROR] one\nline two\r\n", NULL), "[ERROR] one line two");
}
END_TEST

/* The capture may end inside a secret: what there is of it still goes. */
START_TEST(redacts_a_secret_cut_short)
{
	ck_assert_str_eq(redact("the secret was s3cr3t-va", "s3cr3t-value-xyz"),
	    "the secret was [REDACTED]");
}
END_TEST

/* Output is bounded and NUL-terminated, and never ends in part of a secret. */
START_TEST(output_bounded)
{
	char in[2000], out[64];
	struct redact_secret s = { (const unsigned char *)"SECRETVALUE", 11 };

	memset(in, 'a', sizeof(in));
	memcpy(in + 45, "  SECRETVALUE", 13);
	opmap_redact(in, sizeof(in), &s, 1, out, sizeof(out));
	ck_assert_uint_le(strlen(out), sizeof(out) - 1);
	ck_assert_ptr_null(strstr(out, "SECRET"));
}
END_TEST

/* A secret too short to search for would blank ordinary words instead. */
START_TEST(short_secret_not_searched)
{
	ck_assert_str_eq(redact("a b c", "b"), "a b c");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("opmap");
	TCase *tc = tcase_create("classify");
	TCase *tr = tcase_create("redact");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, op_messages);
	tcase_add_test(tc, retryable_only_when_worth_it);
	tcase_add_test(tc, classify_past_nul);
	tcase_add_test(tr, redacts_known_secrets);
	tcase_add_test(tr, redacts_what_looks_like_a_token);
	tcase_add_test(tr, line_breaks_become_spaces);
	tcase_add_test(tr, redacts_a_secret_cut_short);
	tcase_add_test(tr, output_bounded);
	tcase_add_test(tr, short_secret_not_searched);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, tr);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
