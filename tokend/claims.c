/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What an access token says about itself: the roles claim of a JWT.
 *
 * tokend does not verify its own access token (Graph does, and tokend
 * holds no key to do it with); it reads which application permissions the
 * token carries, so that brokerd --ready can compare them with the policy
 * and a call naming a scope the app was never granted is refused here
 * rather than by Graph with a 403 (DESIGN.md section 4).  The claims are
 * not secret; the token is, and stays in tokend. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <sodium.h>

#include "tokend.h"

/* A JWT's payload is small; Entra's run to a few KiB.  Past this it is
 * not read. */
#define CLAIMS_MAX 65536

/* The decoded payload of a compact JWS (header.payload.signature), NUL
 * terminated, or NULL for anything else. */
static char *
jwt_payload(const char *token, size_t len)
{
	const char *dot1 = memchr(token, '.', len), *dot2;
	size_t b64len, binlen;
	char *bin;

	if (dot1 == NULL)
		return NULL;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL || (b64len = (size_t)(dot2 - dot1 - 1)) == 0 || b64len > CLAIMS_MAX)
		return NULL;
	if ((bin = malloc(b64len + 1)) == NULL)
		fatalx("out of memory");
	if (sodium_base642bin((unsigned char *)bin, b64len, dot1 + 1, b64len, "=", &binlen, NULL,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
		free(bin);
		return NULL;
	}
	bin[binlen] = '\0';
	return bin;
}

static bool
role_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MSG_ROLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The roles array as space-separated names in out; false when one is not
 * a role name or they do not fit (then nothing is judged by them). */
static bool
roles_join(struct json_object *roles, char *out, size_t outsz)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(roles); i++) {
		struct json_object *r = json_object_array_get_idx(roles, i);
		const char *s = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
		int n;
		if (s == NULL || !role_ok(s))
			return false;
		n = snprintf(out + used, outsz - used, "%s%s", used ? " " : "", s);
		if (n < 0 || (size_t)n >= outsz - used)
			return false;
		used += (size_t)n;
	}
	return true;
}

bool
claims_roles(const char *token, size_t len, char *out, size_t outsz)
{
	char *payload = jwt_payload(token, len);
	struct json_object *claims, *roles;
	bool ok = false;

	out[0] = '\0';
	if (payload == NULL)
		return false; /* not a JWT: smoke tokens, opaque tokens */
	claims = json_tokener_parse(payload);
	sodium_memzero(payload, strlen(payload));
	free(payload);
	if (claims != NULL && json_object_is_type(claims, json_type_object) &&
	    json_object_object_get_ex(claims, "roles", &roles) &&
	    json_object_is_type(roles, json_type_array))
		ok = roles_join(roles, out, outsz);
	if (!ok)
		out[0] = '\0';
	json_object_put(claims);
	return ok;
}

const char *
claims_missing_role(const char *roles, const struct strlist *scopes)
{
	for (size_t i = 0; i < scopes->n; i++)
		if (!words_contain(roles, scopes->v[i], true))
			return scopes->v[i];
	return NULL;
}
