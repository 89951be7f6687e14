/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Stable error codes of the tool contract (DESIGN.md section 5).  The name is
 * "<category>.<reason>"; retryable is true exactly for timeouts, rate limits
 * and unavailability. */
#ifndef MAB_ERRORS_H
#define MAB_ERRORS_H

#include <stdbool.h>

enum err_code {
	ERR_NONE = 0,
	ERR_BAD_REQUEST_INVALID_FIELD,
	ERR_BAD_REQUEST_INVALID_TIMEOUT,
	ERR_BAD_REQUEST_UNSUPPORTED_OPERATION,
	ERR_POLICY_DENIED,
	ERR_POLICY_MISSING_IDENTITY,
	ERR_POLICY_INVALID_SCOPE,
	ERR_SECRET_NOT_FOUND,
	ERR_SECRET_ACCESS_DENIED,
	ERR_SECRET_TIMEOUT,
	ERR_SECRET_UNAVAILABLE,
	ERR_PROVIDER_AUTH_FAILED,
	ERR_PROVIDER_RATE_LIMITED,
	ERR_PROVIDER_TIMEOUT,
	ERR_PROVIDER_UNAVAILABLE,
	ERR_PROVIDER_BAD_RESPONSE,
	ERR_CODE_COUNT
};

const char *err_name(enum err_code code);
/* The category is the part of the name before the dot. */
const char *err_category(enum err_code code);
bool err_retryable(enum err_code code);
/* ERR_NONE when the name is not a known code. */
enum err_code err_from_name(const char *name);

#endif
