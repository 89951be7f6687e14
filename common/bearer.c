/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Bearer tokens and key sets (bearer.h).  cjose checks the signature; what
 * cjose is given is decided here first: the header is read with json-c,
 * its algorithm must be one of three asymmetric ones, its key must be in
 * the set and of the algorithm's type, and only then does cjose see the
 * token.  Claims are read with json-c from what cjose verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <json-c/json.h>
#include <sodium.h>

#include "bearer.h"
#include "jsonx.h"
#include "log.h"

enum key_type { KEY_RSA, KEY_EC };

struct jwks_key {
	char kid[BEARER_ID_MAX + 1];
	enum key_type type;
	cjose_jwk_t *jwk;
};

/* ---- base64url ----------------------------------------------------------- */

static bool
is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* A non-empty part of a compact JWS: base64url without padding, of a
 * length that decodes to whole bytes. */
static bool
segment_ok(const char *s, size_t n)
{
	return n > 0 && n % 4 != 1 && is_b64url(s, n);
}

/* Decoded length of a base64url member, or -1 when it is not one. */
static long
b64url_len(const char *s)
{
	unsigned char bin[1100];
	size_t got;

	if (s == NULL || strlen(s) > 1460 || !is_b64url(s, strlen(s)) ||
	    sodium_base642bin(bin, sizeof(bin), s, strlen(s), NULL, &got, NULL,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	return (long)got;
}

/* Printable ASCII without space, quote or backslash: safe in a log line, an
 * audit record and a WWW-Authenticate header. */
static bool
id_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* ---- JWKS ---------------------------------------------------------------- */

/* The public members of one usable key, or NULL (skipped, with why). */
static struct json_object *
jwks_public(struct json_object *k, enum key_type *type, const char **why)
{
	const char *kty = jx_get_str(k, "kty"), *kid = jx_get_str(k, "kid");
	const char *use = jx_get_str(k, "use");
	struct json_object *pub;
	long n;

	if (!id_ok(kid, BEARER_ID_MAX))
		return *why = "a key without a usable kid", NULL;
	if (use != NULL && strcmp(use, "sig") != 0)
		return *why = "a key not for signatures", NULL;
	pub = json_object_new_object();
	if (kty != NULL && strcmp(kty, "RSA") == 0) {
		n = b64url_len(jx_get_str(k, "n"));
		if (n < 256 || n > 1024 || b64url_len(jx_get_str(k, "e")) < 1 ||
		    b64url_len(jx_get_str(k, "e")) > 8) {
			json_object_put(pub);
			return *why = "an RSA key under 2048 bits or malformed", NULL;
		}
		*type = KEY_RSA;
		jx_add_str(pub, "kty", "RSA");
		jx_add_str(pub, "kid", kid);
		jx_add_str(pub, "n", jx_get_str(k, "n"));
		jx_add_str(pub, "e", jx_get_str(k, "e"));
	} else if (kty != NULL && strcmp(kty, "EC") == 0) {
		const char *crv = jx_get_str(k, "crv");
		if (crv == NULL || strcmp(crv, "P-256") != 0 || b64url_len(jx_get_str(k, "x")) != 32 ||
		    b64url_len(jx_get_str(k, "y")) != 32) {
			json_object_put(pub);
			return *why = "an EC key not on P-256, or malformed", NULL;
		}
		*type = KEY_EC;
		jx_add_str(pub, "kty", "EC");
		jx_add_str(pub, "kid", kid);
		jx_add_str(pub, "crv", "P-256");
		jx_add_str(pub, "x", jx_get_str(k, "x"));
		jx_add_str(pub, "y", jx_get_str(k, "y"));
	} else {
		json_object_put(pub);
		return *why = "a key of another type than RSA or EC", NULL;
	}
	return pub;
}

static int
jwks_add(struct jwks *out, struct json_object *pub, enum key_type type, const char **why)
{
	const char *kid = jx_get_str(pub, "kid");
	size_t len;
	const char *text = jx_text(pub, &len);
	cjose_err err;
	cjose_jwk_t *jwk;

	if (jwks_has_kid(out, kid)) {
		*why = "two keys with one kid";
		return -1;
	}
	if ((jwk = cjose_jwk_import(text, len, &err)) == NULL) {
		*why = "a key cjose cannot import";
		return -1;
	}
	out->keys[out->n].jwk = jwk;
	out->keys[out->n].type = type;
	snprintf(out->keys[out->n].kid, sizeof(out->keys[out->n].kid), "%s", kid);
	out->n++;
	return 0;
}

int
jwks_parse(struct jwks *out, const char *json, size_t len, const char **why)
{
	struct json_object *doc, *keys, *kept;
	const char *skipped = NULL;
	size_t n, tlen;

	memset(out, 0, sizeof(*out));
	if (len > JWKS_MAX_BYTES)
		return *why = "larger than 256 KiB", -1;
	if ((doc = jx_parse(json, len, why)) == NULL)
		return -1;
	if ((keys = jx_get_arr(doc, "keys")) == NULL ||
	    (n = json_object_array_length(keys)) == 0 || n > JWKS_MAX_KEYS) {
		json_object_put(doc);
		return *why = "no \"keys\" array of 1 to 64 keys", -1;
	}
	if ((out->keys = calloc(n, sizeof(*out->keys))) == NULL)
		fatalx("out of memory");
	kept = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *pub;
		enum key_type type;
		struct json_object *k = json_object_array_get_idx(keys, i);
		if (!json_object_is_type(k, json_type_object) ||
		    (pub = jwks_public(k, &type, &skipped)) == NULL)
			continue;
		if (jwks_add(out, pub, type, &skipped) == -1) {
			json_object_put(pub);
			continue;
		}
		json_object_array_add(kept, pub);
	}
	json_object_put(doc);
	if (out->n == 0) {
		json_object_put(kept);
		jwks_free(out);
		return *why = skipped != NULL ? skipped : "no usable signing key", -1;
	}
	doc = json_object_new_object();
	jx_add(doc, "keys", kept);
	json = jx_text(doc, &tlen);
	if ((out->text = malloc(tlen + 1)) == NULL)
		fatalx("out of memory");
	memcpy(out->text, json, tlen + 1);
	out->text_len = tlen;
	json_object_put(doc);
	return 0;
}

void
jwks_free(struct jwks *k)
{
	for (size_t i = 0; i < k->n; i++)
		cjose_jwk_release(k->keys[i].jwk);
	free(k->keys);
	free(k->text);
	memset(k, 0, sizeof(*k));
}

static const struct jwks_key *
jwks_find(const struct jwks *k, const char *kid)
{
	for (size_t i = 0; k != NULL && kid != NULL && i < k->n; i++)
		if (strcmp(k->keys[i].kid, kid) == 0)
			return &k->keys[i];
	return NULL;
}

bool
jwks_has_kid(const struct jwks *k, const char *kid)
{
	return jwks_find(k, kid) != NULL;
}

/* ---- the token ----------------------------------------------------------- */

void
bearer_rules_init(struct bearer_rules *r, const struct config *cfg)
{
	r->issuer = cfg->oauth_issuer;
	r->audiences = &cfg->oauth_audiences;
	r->required = &cfg->oauth_required_scopes;
	r->skew_s = BEARER_SKEW_SECONDS;
}

/* The decoded JSON object of one base64url segment, or NULL. */
static struct json_object *
segment_json(const char *s, size_t n)
{
	return is_b64url(s, n) ? jx_parse_b64url_object(s, n) : NULL;
}

/* Header: alg one of three, its key in the set and of its type, no "crit". */
static enum bearer_result
check_header(const struct jwks *k, const char *token, size_t hlen, struct bearer_identity *id,
    const char **why)
{
	struct json_object *h = segment_json(token, hlen);
	const char *alg, *kid;
	const struct jwks_key *key;
	enum key_type want;
	enum bearer_result rc = BEARER_OK;

	if (h == NULL)
		return *why = "the token's header is not base64url JSON", BEARER_MALFORMED;
	alg = jx_get_str(h, "alg");
	kid = jx_get_str(h, "kid");
	if (alg != NULL && (strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0))
		want = KEY_RSA;
	else if (alg != NULL && strcmp(alg, "ES256") == 0)
		want = KEY_EC;
	else {
		json_object_put(h);
		return *why = "the token's algorithm is not RS256, PS256 or ES256",
		       BEARER_BAD_ALGORITHM;
	}
	if (jx_get(h, "crit") != NULL)
		rc = (*why = "the token's header has critical extensions", BEARER_MALFORMED);
	else if (!id_ok(kid, BEARER_ID_MAX))
		rc = (*why = "the token's header names no usable kid", BEARER_MALFORMED);
	else if ((key = jwks_find(k, kid)) == NULL)
		rc = (*why = "the token was signed with a key the issuer does not list (yet)",
		    BEARER_UNKNOWN_KEY);
	else if (key->type != want)
		rc = (*why = "the token's algorithm does not match its key's type",
		    BEARER_BAD_ALGORITHM);
	if (kid != NULL && id_ok(kid, BEARER_ID_MAX))
		snprintf(id->kid, sizeof(id->kid), "%s", kid);
	json_object_put(h);
	return rc;
}

/* The verified payload, as a JSON object; NULL if the signature fails. */
static struct json_object *
verified_claims(const struct jwks *k, const char *token, size_t len, const char *kid)
{
	cjose_err err;
	cjose_jws_t *jws = cjose_jws_import(token, len, &err);
	uint8_t *plain = NULL;
	size_t plen = 0;
	struct json_object *o = NULL;
	const char *why;

	if (jws == NULL)
		return NULL;
	if (cjose_jws_verify(jws, jwks_find(k, kid)->jwk, &err) &&
	    cjose_jws_get_plaintext(jws, &plain, &plen, &err))
		o = jx_parse((const char *)plain, plen, &why);
	cjose_jws_release(jws);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static bool
in_list(const struct strlist *l, const char *s)
{
	for (size_t i = 0; s != NULL && i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static bool
audience_ok(struct json_object *c, const struct strlist *audiences)
{
	struct json_object *aud = jx_get(c, "aud");

	if (aud != NULL && json_object_is_type(aud, json_type_string))
		return in_list(audiences, json_object_get_string(aud));
	if (aud == NULL || !json_object_is_type(aud, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(aud); i++) {
		struct json_object *a = json_object_array_get_idx(aud, i);
		if (json_object_is_type(a, json_type_string) &&
		    in_list(audiences, json_object_get_string(a)))
			return true;
	}
	return false;
}

/* Whether want is one of the space-separated scp or the roles array. */
static bool
granted(struct json_object *c, const char *want)
{
	struct json_object *roles = jx_get_arr(c, "roles");

	if (words_contain(jx_get_str(c, "scp"), want, false))
		return true;
	for (size_t i = 0; roles != NULL && i < json_object_array_length(roles); i++) {
		struct json_object *r = json_object_array_get_idx(roles, i);
		if (json_object_is_type(r, json_type_string) &&
		    strcmp(json_object_get_string(r), want) == 0)
			return true;
	}
	return false;
}

/* The scopes and roles the token grants, space-separated (words that
 * would not be safe in a log line are left out; so is what does not fit). */
static void
collect_roles(struct json_object *c, char *out, size_t len)
{
	const char *scp = jx_get_str(c, "scp");
	struct json_object *roles = jx_get_arr(c, "roles");
	size_t n = 0;
	char word[BEARER_ID_MAX + 1];

	out[0] = '\0';
	for (const char *p = scp; p != NULL && *p != '\0';) {
		size_t w = strcspn(p, " ");
		if (w > 0 && w <= BEARER_ID_MAX) {
			memcpy(word, p, w);
			word[w] = '\0';
			if (id_ok(word, BEARER_ID_MAX) && n + w + 2 < len)
				n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", word);
		}
		p += w + strspn(p + w, " ");
	}
	for (size_t i = 0; roles != NULL && i < json_object_array_length(roles); i++) {
		struct json_object *r = json_object_array_get_idx(roles, i);
		const char *v = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
		if (id_ok(v, BEARER_ID_MAX) && n + strlen(v) + 2 < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", v);
	}
}

static void
copy_id(char *dst, size_t len, struct json_object *c, const char *first, const char *second)
{
	const char *v = jx_get_str(c, first);

	if (!id_ok(v, BEARER_ID_MAX) && second != NULL)
		v = jx_get_str(c, second);
	snprintf(dst, len, "%s", id_ok(v, BEARER_ID_MAX) ? v : "");
}

static enum bearer_result
check_claims(struct json_object *c, const struct bearer_rules *r, int64_t now,
    struct bearer_identity *id, const char **why)
{
	const char *iss = jx_get_str(c, "iss");
	int64_t exp, nbf;

	if (iss == NULL || strcmp(iss, r->issuer) != 0)
		return *why = "the token's issuer is not the configured one", BEARER_BAD_ISSUER;
	if (!audience_ok(c, r->audiences))
		return *why = "the token is not for this server (aud)", BEARER_BAD_AUDIENCE;
	if (!jx_get_int64(c, "exp", &exp))
		return *why = "the token has no expiry", BEARER_MALFORMED;
	if (now >= exp + r->skew_s)
		return *why = "the token has expired", BEARER_EXPIRED;
	if (jx_get(c, "nbf") != NULL &&
	    (!jx_get_int64(c, "nbf", &nbf) || now + r->skew_s < nbf))
		return *why = "the token is not valid yet (nbf)", BEARER_NOT_YET_VALID;
	for (size_t i = 0; r->required != NULL && i < r->required->n; i++)
		if (!granted(c, r->required->v[i]))
			return *why = "the token lacks a required scope or role",
			       BEARER_INSUFFICIENT_SCOPE;
	copy_id(id->subject, sizeof(id->subject), c, "oid", "sub");
	if (id->subject[0] == '\0')
		return *why = "the token names no subject (oid or sub)", BEARER_MALFORMED;
	copy_id(id->app, sizeof(id->app), c, "azp", "appid");
	copy_id(id->jti, sizeof(id->jti), c, "jti", "uti");
	collect_roles(c, id->roles, sizeof(id->roles));
	id->exp = exp;
	return BEARER_OK;
}

static void
token_hash(const char *token, size_t len, char out[17])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, len);
	sodium_bin2hex(out, 17, h, 8);
}

enum bearer_result
bearer_verify(const struct jwks *k, const struct bearer_rules *r, const char *token, size_t len,
    int64_t now, struct bearer_identity *id, const char **why)
{
	const char *dot1, *dot2;
	struct json_object *claims;
	enum bearer_result rc;

	memset(id, 0, sizeof(*id));
	if (len == 0 || len > BEARER_TOKEN_MAX || memchr(token, '\0', len) != NULL)
		return *why = "the token is empty or too long", BEARER_MALFORMED;
	token_hash(token, len, id->hash);
	dot1 = memchr(token, '.', len);
	dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	/* Every part must be base64url cjose can decode: its decoder asserts
	 * (aborts the process) on padding inside a part, which a caller could
	 * otherwise send (found by fuzz_bearer). */
	if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) ||
	    !segment_ok(token, (size_t)(dot1 - token)) ||
	    !segment_ok(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
	    !segment_ok(dot2 + 1, len - (size_t)(dot2 + 1 - token)))
		return *why = "the token is not a signed JWT (three base64url parts)",
		       BEARER_MALFORMED;
	if ((rc = check_header(k, token, (size_t)(dot1 - token), id, why)) != BEARER_OK)
		return rc;
	if ((claims = verified_claims(k, token, len, id->kid)) == NULL)
		return *why = "the token's signature does not verify", BEARER_BAD_SIGNATURE;
	rc = check_claims(claims, r, now, id, why);
	json_object_put(claims);
	return rc;
}

const char *
bearer_result_name(enum bearer_result r)
{
	switch (r) {
	case BEARER_OK:
		return "ok";
	case BEARER_MALFORMED:
		return "malformed";
	case BEARER_BAD_ALGORITHM:
		return "bad_algorithm";
	case BEARER_UNKNOWN_KEY:
		return "unknown_key";
	case BEARER_BAD_SIGNATURE:
		return "bad_signature";
	case BEARER_BAD_ISSUER:
		return "bad_issuer";
	case BEARER_BAD_AUDIENCE:
		return "bad_audience";
	case BEARER_EXPIRED:
		return "expired";
	case BEARER_NOT_YET_VALID:
		return "not_yet_valid";
	case BEARER_INSUFFICIENT_SCOPE:
		return "insufficient_scope";
	}
	return "unknown";
}

/* ---- self-test ------------------------------------------------------------ */

/* Made once with Python's cryptography (an RSA 2048 and a P-256 key, each
 * token signed with its key: iss and aud "selftest", exp in 2100); the
 * keys' private halves were thrown away.  tests/fuzz/fuzz_bearer.c starts
 * from the same set. */
static const char selftest_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"selftest-rsa\",\"use\":\"sig\",\"n\":\"oCdpiRSDcat1"
    "-3hrd2KjMXBgEgMO7kPxtVtdww9S1qxrFbJSkOfrWONdmo_3F_NhxWKvfTVDVZGEHFV244x_"
    "sGwFQr-LLTqbqbztjLoBGTYMNI6UQ2jeGzZQQG1bxZqHtp5weBC4lqAQTiPjsYtfRCiHQQYM"
    "CZ9mrQKiEoHobMSwxtTyATe5LFhqkgXT14kWjpPfwg4rpYxjXPuYe9LDoH9Lag3Cp0sWGF1i"
    "gJKWcIYTN3FTiY-gBN358UdDOR3hAOd3kUP2wI4eMSjd0BTg8ciKSmIw3Y6FdVb7uTunnTAI"
    "c8Tc4ej7X9pUjwQJ0ts4h0AR--bjRgN0J6on93YzJw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid"
    "\":\"selftest-ec\",\"crv\":\"P-256\",\"x\":\"6WtLe9V2mNfzMMzQB1ktQEivSlkmBbPg_PCcZ"
    "DmUxkk\",\"y\":\"UpwL82EzzdUjxHzy62EDtGKNDPWsbR0LX8JU_bx4RfI\"}]}";

static const char selftest_rs256[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InNlbGZ0ZXN0LXJzYSIsInR5cCI6IkpXVCJ9.eyJpc3M"
    "iOiJzZWxmdGVzdCIsImF1ZCI6InNlbGZ0ZXN0Iiwic3ViIjoic2VsZnRlc3QiLCJleHAiOjQ"
    "xMDI0NDQ4MDAsIm5iZiI6MH0.I3TOsAlrxFGzkY9rUo_MIG9sbHUCSDYShq3QZUKOysWLTMb"
    "6GGoaPO28b86_AbyOzmvv2IwJNueo_hMTuFr5v32mddnyr84uOYswIsPvVK8Y8iueTOzfQPK"
    "4nXrErJz2xmd1c3YlC0zQ1zKnVj2Ix205oPp6DM-ul5rZJWCNU_ryMYvRTs2oB9fDK6yFu4J"
    "xa0yYo4N0B9Y2I0uVmQFnNoEcjfPfhYu8CDvGiI21FBz1NkGOqKwSnfH-zPzq0G0fYMGnKF2"
    "5kZ0Z7AqKtTGodexCWxFfrhfCSfVmp-_6EMYYY-ol4A1z1mtBWLc4Mwzepxg0mJsyf5P2VTs"
    "9Vgjk6g";

static const char selftest_ps256[] =
    "eyJhbGciOiJQUzI1NiIsImtpZCI6InNlbGZ0ZXN0LXJzYSIsInR5cCI6IkpXVCJ9.eyJpc3M"
    "iOiJzZWxmdGVzdCIsImF1ZCI6InNlbGZ0ZXN0Iiwic3ViIjoic2VsZnRlc3QiLCJleHAiOjQ"
    "xMDI0NDQ4MDAsIm5iZiI6MH0.PRCyBd2UQiDVqrICekg_xd9UcfyOxDFSYznyQ0IlwymjDJb"
    "F7AUXeenMEIxm5vsc77p4HFvoiK7w897D0vlDBapNOkALo1ycsEmThq6M8m52L1gEwfg94da"
    "f7RKc_pBwq0cRDhOkAdhuCLn0YLMEl6LNPPY3VCCD3WQwLyYfDKhzjQEoTceeI7ZFWAt2MR2"
    "gd_BapIbhWiCxt21TZM_B0VmUY0DRLMWwdAVsJuuPW-0YSNJh0dhkpF-A0tYlxVVLkYVjr_w"
    "N9k70iYh-d4vDmMOc5DrabUzJbU6PFb2v7QVZqIqKP9Y32Q8tIZzwzSqdnTPTAiqHDU3Mzws"
    "LY_A4jw";

static const char selftest_es256[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6InNlbGZ0ZXN0LWVjIiwidHlwIjoiSldUIn0.eyJpc3Mi"
    "OiJzZWxmdGVzdCIsImF1ZCI6InNlbGZ0ZXN0Iiwic3ViIjoic2VsZnRlc3QiLCJleHAiOjQx"
    "MDI0NDQ4MDAsIm5iZiI6MH0.OZmeYu3IHEg4hCS4WEeMwRPF57cNsU7HNCyEg8kcxmqNgaKN"
    "3gbjFUWn_AYPPM4w5dJxFvtAHL6VNNTfWMMsHA";


const char *
bearer_selftest_keys(void)
{
	return selftest_jwks;
}

void
bearer_selftest(void)
{
	static const char *const tokens[] = { selftest_rs256, selftest_ps256, selftest_es256 };
	char *aud_v[] = { (char *)"selftest" };
	struct strlist aud = { aud_v, 1 };
	struct bearer_rules r = { "selftest", &aud, NULL, 0 };
	struct bearer_identity id;
	struct jwks k;
	const char *why = NULL;

	if (jwks_parse(&k, selftest_jwks, strlen(selftest_jwks), &why) == -1)
		fatalx("bearer self-test: the built-in key set: %s", why);
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		if (bearer_verify(&k, &r, tokens[i], strlen(tokens[i]), 1700000000, &id, &why) !=
		    BEARER_OK)
			fatalx("bearer self-test %zu: %s", i, why);
	/* A signature of another key must fail: cjose is not just saying yes. */
	{
		char bad[2048];
		snprintf(bad, sizeof(bad), "%s", selftest_rs256);
		bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
		if (bearer_verify(&k, &r, bad, strlen(bad), 1700000000, &id, &why) !=
		    BEARER_BAD_SIGNATURE)
			fatalx("bearer self-test: a forged signature was accepted");
	}
	jwks_free(&k);
}
