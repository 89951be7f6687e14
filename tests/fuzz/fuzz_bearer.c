/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: the two untrusted inputs of OAuth callers
 * (common/bearer.c).  Input "J<text>": an issuer's JWKS document as tokend
 * fetches it.  Input "T<text>": a caller's bearer token as brokerd and
 * tokend check it, against the self-test's key set (RSA and P-256) with
 * iss and aud "selftest".
 *
 * Checked (abort): a key set that parses yields its public text, which
 * parses again to the same text (what brokerd gets from tokend is what
 * tokend kept); a token accepted names a subject and has not expired at
 * the harness's fixed clock. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bearer.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwks keys;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *why = NULL;

	(void)argc;
	(void)argv;
	log_init("fuzz_bearer", LOG_LEVEL_ERROR);
	if (jwks_parse(&keys, bearer_selftest_keys(), strlen(bearer_selftest_keys()), &why) == -1)
		abort();
	return 0;
}

static void
fuzz_jwks(const char *text, size_t len)
{
	struct jwks k, again;
	const char *why = NULL;

	if (jwks_parse(&k, text, len, &why) == -1)
		return;
	if (k.n == 0 || k.n > JWKS_MAX_KEYS ||
	    jwks_parse(&again, k.text, k.text_len, &why) == -1)
		abort();
	if (again.n != k.n || strcmp(again.text, k.text) != 0)
		abort();
	jwks_free(&again);
	jwks_free(&k);
}

static void
fuzz_token(const char *text, size_t len)
{
	char *aud_v[] = { (char *)"selftest" };
	struct strlist aud = { aud_v, 1 };
	struct bearer_rules r = { "selftest", &aud, NULL, BEARER_SKEW_SECONDS };
	struct bearer_identity id;
	const char *why = NULL;
	const int64_t now = 1700000000;

	if (bearer_verify(&keys, &r, text, len, now, &id, &why) != BEARER_OK)
		return;
	if (id.subject[0] == '\0' || id.exp + BEARER_SKEW_SECONDS <= now)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	/* Both parsers take length-delimited text; a copy without a NUL
	 * after it lets ASan see any read past the end. */
	if ((text = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
		abort();
	memcpy(text, data + 1, size - 1);
	if (data[0] == 'J')
		fuzz_jwks(text, size - 1);
	else if (data[0] == 'T')
		fuzz_token(text, size - 1);
	free(text);
	return 0;
}
