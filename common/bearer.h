/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* OAuth bearer tokens of remote MCP callers (MCP_AUTH_BROKER_AUTH_MODE=oauth
 * or hybrid): the authorization server's key set (JWKS) and the check of
 * one token against it, with cjose doing the signature.  brokerd checks
 * each request with it, and tokend checks the same token again with its own
 * key set and configuration before it acts for that caller (the monitor
 * rule): one code, two processes.
 *
 * Only asymmetric algorithms (RS256, PS256, ES256) are accepted, each with
 * the one key type it belongs to: "none" and HMAC (HS256 keyed with a
 * public key) never reach cjose. */
#ifndef MAB_BEARER_H
#define MAB_BEARER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "strutil.h"

/* Entra ID's access tokens are 1.5 to 3 KB; a header line of libmicrohttpd
 * is far larger, so the bound is ours. */
#define BEARER_TOKEN_MAX 12288
/* A key set larger than this is not an authorization server's. */
#define JWKS_MAX_BYTES (256 * 1024)
#define JWKS_MAX_KEYS  64
#define BEARER_ID_MAX  128

struct jwks_key;

/* The usable signing keys of a JWKS, and their public members as one JSON
 * text (what tokend hands to brokerd). */
struct jwks {
	struct jwks_key *keys;
	size_t n;
	char *text;
	size_t text_len;
};

/* Parses a JWKS document: keeps RSA keys of 2048 to 8192 bits and P-256 EC
 * keys that have a kid and are not for encryption; private members are
 * dropped.  -1 with why when nothing usable is left or the text is bad. */
int jwks_parse(struct jwks *out, const char *json, size_t len, const char **why);
void jwks_free(struct jwks *k);
bool jwks_has_kid(const struct jwks *k, const char *kid);

/* What a token must satisfy. */
struct bearer_rules {
	const char *issuer;
	const struct strlist *audiences; /* any one of them */
	const struct strlist *required;  /* every one, in scp or roles */
	int64_t skew_s;                  /* allowed clock difference */
};

/* Clock difference allowed on exp and nbf. */
#define BEARER_SKEW_SECONDS 60

/* The rules of MCP_AUTH_BROKER_OAUTH_*: brokerd and tokend check a
 * caller's token with the same ones. */
void bearer_rules_init(struct bearer_rules *r, const struct config *cfg);

/* Who the token says the caller is: never the token itself. */
struct bearer_identity {
	char subject[BEARER_ID_MAX + 1]; /* oid, else sub */
	char app[BEARER_ID_MAX + 1];     /* azp, else appid; may be "" */
	char jti[BEARER_ID_MAX + 1];     /* jti, else Entra's uti; may be "" */
	char hash[17];                   /* SHA-256 of the token, first 8 bytes, hex */
	char kid[BEARER_ID_MAX + 1];     /* the key it was signed with */
	char roles[1025];                /* scp and roles, space-separated */
	int64_t exp;
};

enum bearer_result {
	BEARER_OK,
	BEARER_MALFORMED,
	BEARER_BAD_ALGORITHM,
	BEARER_UNKNOWN_KEY,
	BEARER_BAD_SIGNATURE,
	BEARER_BAD_ISSUER,
	BEARER_BAD_AUDIENCE,
	BEARER_EXPIRED,
	BEARER_NOT_YET_VALID,
	BEARER_INSUFFICIENT_SCOPE,
};

/* Checks token[0..len) at time now (seconds since the epoch).  id is
 * filled on BEARER_OK (and its hash and kid on every result past parsing);
 * why says what failed, for a log line or an error_description: it never
 * holds token bytes. */
enum bearer_result bearer_verify(const struct jwks *k, const struct bearer_rules *r,
    const char *token, size_t len, int64_t now, struct bearer_identity *id, const char **why);
/* "invalid_token" and the like, for a log line and audit. */
const char *bearer_result_name(enum bearer_result r);

/* Verifies built-in RS256, PS256 and ES256 tokens: run before a sandbox
 * is entered, it proves cjose works and makes OpenSSL and jansson do their
 * one-time set-up (configuration file, random seed) while files may still
 * be opened.  fatal on failure. */
void bearer_selftest(void);
/* The self-test's key set (for the fuzz harness). */
const char *bearer_selftest_keys(void);

#endif
