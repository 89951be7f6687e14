/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: the login endpoint's answer (tokend/oauth.c).
 *
 * The first two bytes are the HTTP status (0..999), the rest the body, as
 * oauth_done hands them to oauth_parse.  Besides "no crash, no leak, no
 * UB", the classification of README's table is checked: a token only from
 * a 200 with a JSON object holding a non-empty access_token and a positive
 * expires_in; 429 is provider.rate_limited, 5xx provider.unavailable, a
 * 200 without a token provider.bad_response; a token and its type accepted
 * are safe to put in a header line; the message (logged, and what the
 * client sees) is printable and the failure signature terminated.  An
 * accepted token's roles claim (tokend/claims.c) is read as oauth_done
 * reads it: the roles, if any, are visible ASCII joined by single spaces,
 * as the EXEC_ANS decoder requires. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokend.h"

/* What may stand in an Authorization header's scheme and credentials
 * without being parsed as something else (RFC 6750 b64token characters). */
#define HEADER_SAFE                                                                             \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_oauth", LOG_LEVEL_ERROR);
	return 0;
}

static void
check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort(); /* not terminated */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void
check_roles(const char *token)
{
	char roles[4096];
	size_t n;

	if (!claims_roles(token, strlen(token), roles, sizeof(roles))) {
		if (roles[0] != '\0')
			abort();
		return;
	}
	n = strnlen(roles, sizeof(roles));
	if (n == sizeof(roles) || (n > 0 && (roles[0] == ' ' || roles[n - 1] == ' ')) ||
	    strstr(roles, "  ") != NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)roles[i] < 0x20 || (unsigned char)roles[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* oauth_done's buffers, same sizes: truncation must be safe there. */
	char msg[256], sig[128], type[16], *token = (char *)"unset";
	long status, expires_in = 0;
	enum err_code code;
	char *body;

	if (size < 2)
		return 0;
	status = (long)(((unsigned)data[0] << 8 | data[1]) % 1000);
	/* An exact-size copy, so ASan sees any read past the body's end. */
	if ((body = malloc(size - 2 ? size - 2 : 1)) == NULL)
		return 0;
	memcpy(body, data + 2, size - 2);
	memset(msg, 0, sizeof(msg));
	memset(type, 0, sizeof(type));
	code = oauth_parse(status, body, size - 2, &token, &expires_in, type, sizeof(type), msg,
	    sizeof(msg), sig, sizeof(sig));
	switch (code) {
	case ERR_NONE:
		if (status != 200 || token == NULL || token[0] == '\0' || expires_in <= 0)
			abort();
		if (strnlen(type, sizeof(type)) == sizeof(type) || type[0] == '\0')
			abort();
		/* Both go into graph.c's Authorization header line as they are. */
		if (strspn(token, HEADER_SAFE "=") != strlen(token) ||
		    strspn(type, HEADER_SAFE) != strlen(type))
			abort();
		check_roles(token);
		break;
	case ERR_PROVIDER_AUTH_FAILED:
	case ERR_PROVIDER_RATE_LIMITED:
	case ERR_PROVIDER_UNAVAILABLE:
	case ERR_PROVIDER_BAD_RESPONSE:
		if (token != NULL || msg[0] == '\0')
			abort();
		check_text(msg, sizeof(msg));
		/* Only compared with the last one (cache.c), never shown. */
		if (strnlen(sig, sizeof(sig)) == sizeof(sig))
			abort();
		break;
	default:
		abort();
	}
	if (status == 429 && code != ERR_PROVIDER_RATE_LIMITED)
		abort();
	if (status >= 500 && code != ERR_PROVIDER_UNAVAILABLE)
		abort();
	if (status == 200 && code != ERR_NONE && code != ERR_PROVIDER_BAD_RESPONSE)
		abort();
	if (status != 200 && code == ERR_PROVIDER_AUTH_FAILED && (status < 400 || status > 499))
		abort();
	free(token);
	free(body);
	return 0;
}
