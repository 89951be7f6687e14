/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: the managed identity endpoint's answer
 * (tokend/identity.c), IMDS's shape (numbers as strings) and the App
 * Service agent's (expires_on only).
 *
 * The first two bytes are the HTTP status (0..999), the rest the body, as
 * identity_done hands them to identity_parse.  Checked besides "no crash,
 * no leak, no UB": a token only from a 200, header-safe with its type and
 * a positive lifetime no longer than a week; 429 is provider.rate_limited;
 * 404, 410 and 5xx are provider.unavailable (retried); 400, 401 and 403
 * provider.auth_failed; every message printable and naming the managed
 * identity. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokend.h"

#define HEADER_SAFE                                                                             \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
/* A fixed "now" for expires_on: 2026-11-30T00:00:00Z. */
#define FUZZ_NOW 1795996800

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_identity", LOG_LEVEL_ERROR);
	return 0;
}

static void
check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap || strstr(s, "managed identity") == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
}

static void
check_code(long status, enum err_code code)
{
	if (status == 429 && code != ERR_PROVIDER_RATE_LIMITED)
		abort();
	if ((status >= 500 || status == 404 || status == 410) && code != ERR_PROVIDER_UNAVAILABLE)
		abort();
	if ((status == 400 || status == 401 || status == 403) && code != ERR_PROVIDER_AUTH_FAILED)
		abort();
	if (status == 200 && code != ERR_NONE && code != ERR_PROVIDER_BAD_RESPONSE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* identity_done's buffers, same sizes. */
	char msg[512], type[16], *token = (char *)"unset";
	long status, expires_in = 0;
	enum err_code code;
	char *body;

	if (size < 2)
		return 0;
	status = (long)(((unsigned)data[0] << 8 | data[1]) % 1000);
	if ((body = malloc(size - 2 ? size - 2 : 1)) == NULL)
		return 0;
	memcpy(body, data + 2, size - 2);
	memset(msg, 0, sizeof(msg));
	memset(type, 0, sizeof(type));
	code = identity_parse(status, body, size - 2, FUZZ_NOW, &token, &expires_in, type,
	    sizeof(type), msg, sizeof(msg));
	if (code == ERR_NONE) {
		if (status != 200 || token == NULL || token[0] == '\0' || expires_in <= 0 ||
		    expires_in > 7 * 86400)
			abort();
		if (strnlen(type, sizeof(type)) == sizeof(type) || type[0] == '\0')
			abort();
		if (strspn(token, HEADER_SAFE "=") != strlen(token) ||
		    strspn(type, HEADER_SAFE) != strlen(type))
			abort();
	} else if (code == ERR_PROVIDER_AUTH_FAILED || code == ERR_PROVIDER_RATE_LIMITED ||
		   code == ERR_PROVIDER_UNAVAILABLE || code == ERR_PROVIDER_BAD_RESPONSE) {
		if (token != NULL)
			abort();
		check_text(msg, sizeof(msg));
	} else {
		abort();
	}
	check_code(status, code);
	free(token);
	free(body);
	return 0;
}
