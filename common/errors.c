/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <string.h>

#include "errors.h"

static const struct {
	const char *name;
	const char *category;
	bool retryable;
} err_table[ERR_CODE_COUNT] = {
	[ERR_NONE] = { "none", "none", false },
	[ERR_BAD_REQUEST_INVALID_FIELD] = { "bad_request.invalid_field", "bad_request", false },
	[ERR_BAD_REQUEST_INVALID_TIMEOUT] = { "bad_request.invalid_timeout", "bad_request", false },
	[ERR_BAD_REQUEST_UNSUPPORTED_OPERATION] = { "bad_request.unsupported_operation", "bad_request", false },
	[ERR_POLICY_DENIED] = { "policy.denied", "policy", false },
	[ERR_POLICY_MISSING_IDENTITY] = { "policy.missing_identity", "policy", false },
	[ERR_POLICY_INVALID_SCOPE] = { "policy.invalid_scope", "policy", false },
	[ERR_SECRET_NOT_FOUND] = { "secret.not_found", "secret", false },
	[ERR_SECRET_ACCESS_DENIED] = { "secret.access_denied", "secret", false },
	[ERR_SECRET_TIMEOUT] = { "secret.timeout", "secret", true },
	[ERR_SECRET_UNAVAILABLE] = { "secret.unavailable", "secret", true },
	[ERR_PROVIDER_AUTH_FAILED] = { "provider.auth_failed", "provider", false },
	[ERR_PROVIDER_RATE_LIMITED] = { "provider.rate_limited", "provider", true },
	[ERR_PROVIDER_TIMEOUT] = { "provider.timeout", "provider", true },
	[ERR_PROVIDER_UNAVAILABLE] = { "provider.unavailable", "provider", true },
	[ERR_PROVIDER_BAD_RESPONSE] = { "provider.bad_response", "provider", false },
};

static int
err_valid(enum err_code code)
{
	return (int)code >= 0 && code < ERR_CODE_COUNT;
}

const char *
err_name(enum err_code code)
{
	return err_valid(code) ? err_table[code].name : "provider.unavailable";
}

const char *
err_category(enum err_code code)
{
	return err_valid(code) ? err_table[code].category : "provider";
}

bool
err_retryable(enum err_code code)
{
	return err_valid(code) && err_table[code].retryable;
}

enum err_code
err_from_name(const char *name)
{
	for (int i = 1; i < ERR_CODE_COUNT; i++)
		if (strcmp(err_table[i].name, name) == 0)
			return (enum err_code)i;
	return ERR_NONE;
}
