/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* OAuth2 client credentials against the Microsoft login endpoint:
 * POST {authority}/{tenant}/oauth2/v2.0/token.  The secret lives only in the
 * request body, which is wiped with the transfer; the token goes straight
 * into guarded memory. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "tokend.h"

/* Wipes a string json-c owns before the object is released. */
static void
wipe_json_string(struct json_object *o)
{
	if (o != NULL && json_object_is_type(o, json_type_string))
		sodium_memzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

static bool
get_expires_in(struct json_object *o, long *out)
{
	struct json_object *v = jx_get(o, "expires_in");
	char *end;

	/* v2.0 answers a number; v1.0 answered a string.  Accept both. */
	if (v != NULL && json_object_is_type(v, json_type_int)) {
		*out = (long)json_object_get_int64(v);
	} else if (v != NULL && json_object_is_type(v, json_type_string)) {
		*out = strtol(json_object_get_string(v), &end, 10);
		if (*end != '\0')
			return false;
	} else {
		return false;
	}
	return *out > 0;
}

static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
bool
oauth_is_b64token(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (is_alnum(s[i]) || (s[i] != '\0' && strchr("-._~+/", s[i]) != NULL)))
		i++;
	if (i == 0)
		return false;
	while (i < len && s[i] == '=')
		i++;
	return i == len;
}

/* RFC 6749 type-name: 1*( ALPHA / DIGIT / "-" / "." / "_" ), here at most max long. */
bool
oauth_is_type_name(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return false;
	return true;
}

/* The token and its type become graph.c's "Authorization: <type> <token>"
 * line, which libcurl sends as it is: a CR or LF in either would add header
 * lines of the login endpoint's choosing, and an empty or cut type makes a
 * header Graph refuses.  Both are checked here, so such an answer is
 * provider.bad_response (found by fuzz_oauth: token_type "" was kept). */
static enum err_code
oauth_parse_success(struct json_object *o, char **token, long *expires_in, char *token_type,
    size_t type_len, char *msg, size_t msg_len)
{
	struct json_object *at = jx_get(o, "access_token");
	const char *type = jx_get_str(o, "token_type");

	if (at == NULL || !json_object_is_type(at, json_type_string) ||
	    json_object_get_string_len(at) == 0) {
		snprintf(msg, msg_len, "login endpoint answer has no access_token");
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	if (!oauth_is_b64token(json_object_get_string(at), (size_t)json_object_get_string_len(at))) {
		wipe_json_string(at);
		snprintf(msg, msg_len, "login endpoint answer has an access_token that is not a "
				       "b64token");
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	if (!get_expires_in(o, expires_in)) {
		wipe_json_string(at);
		snprintf(msg, msg_len, "login endpoint answer has no usable expires_in");
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	if (type != NULL && !oauth_is_type_name(type, type_len - 1)) {
		wipe_json_string(at);
		snprintf(msg, msg_len, "login endpoint answer has an unusable token_type");
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	snprintf(token_type, type_len, "%s", type ? type : "Bearer");
	if ((*token = strdup(json_object_get_string(at))) == NULL)
		fatalx("out of memory");
	wipe_json_string(at);
	return ERR_NONE;
}

/* "AADSTS7000215" from error_codes[0], or "" */
static void
first_aadsts(struct json_object *o, char *out, size_t len)
{
	struct json_object *codes = jx_get_arr(o, "error_codes");
	struct json_object *c = codes ? json_object_array_get_idx(codes, 0) : NULL;

	out[0] = '\0';
	if (c != NULL && json_object_is_type(c, json_type_int))
		snprintf(out, len, "AADSTS%lld", (long long)json_object_get_int64(c));
}

static enum err_code
oauth_parse_error(long status, struct json_object *o, char *msg, size_t msg_len, char *sig,
    size_t sig_len)
{
	const char *error = jx_get_str(o, "error");
	char aadsts[32];
	enum err_code code;

	first_aadsts(o, aadsts, sizeof(aadsts));
	if (status == 429)
		code = ERR_PROVIDER_RATE_LIMITED;
	else if (status >= 500)
		code = ERR_PROVIDER_UNAVAILABLE;
	else if (status >= 400 && error != NULL)
		code = ERR_PROVIDER_AUTH_FAILED; /* invalid_client, unauthorized_client, ... */
	else
		code = ERR_PROVIDER_BAD_RESPONSE;
	/* error and the AADSTS code say what went wrong; the description holds
	 * trace ids and prose, and is left out. */
	snprintf(msg, msg_len, "login endpoint answered HTTP %ld%s%.64s%s%s", status,
	    error ? " " : "", error ? error : "", aadsts[0] ? " " : "", aadsts);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	snprintf(sig, sig_len, "%ld:%.64s:%s", status, error ? error : "", aadsts);
	return code;
}

enum err_code
oauth_parse(long status, const char *body, size_t len, char **token, long *expires_in,
    char *token_type, size_t type_len, char *msg, size_t msg_len, char *sig, size_t sig_len)
{
	struct json_object *o = len > 0 ? jx_parse(body, len, NULL) : NULL;
	enum err_code code;

	*token = NULL;
	sig[0] = '\0';
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	if (status == 200 && o != NULL) {
		code = oauth_parse_success(o, token, expires_in, token_type, type_len, msg, msg_len);
	} else if (status == 200 || (o == NULL && status >= 400 && status < 500 && status != 429)) {
		snprintf(msg, msg_len, "login endpoint answered HTTP %ld with a body that is not "
				       "a JSON object", status);
		code = ERR_PROVIDER_BAD_RESPONSE;
	} else {
		code = oauth_parse_error(status, o, msg, msg_len, sig, sig_len);
	}
	json_object_put(o);
	return code;
}

/* What an operator should check when the login endpoint refused the
 * credential, by its AADSTS code: the message names the credential kind. */
static const char *
oauth_certificate_hint(const char *sig)
{
	static const struct {
		const char *code;
		const char *hint;
	} hints[] = {
		{ ":AADSTS700027", "the endpoint does not know this certificate or its signature does "
				   "not verify: upload the certificate's public part to the app "
				   "registration (thumbprints: brokerd --ready)" },
		{ ":AADSTS700023", "the endpoint does not know this certificate: upload the "
				   "certificate's public part to the app registration" },
		{ ":AADSTS700024", "the assertion is outside its valid time range: check this host's "
				   "clock" },
		{ ":AADSTS50013", "the assertion's audience is not this token endpoint: check "
				  "MCP_AUTH_BROKER_AUTHORITY and MCP_AUTH_BROKER_TENANT_ID" },
		{ ":AADSTS50027", "the assertion is malformed or its key is unusable: check the PEM "
				  "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF names" },
	};
	const char *tail = strrchr(sig, ':');

	for (size_t i = 0; tail != NULL && i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strcmp(tail, hints[i].code) == 0)
			return hints[i].hint;
	return "check that the certificate uploaded to the app registration is the one "
	       "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF names, and that it has not expired";
}

/* The same for the federated credential: the issuer's token was refused. */
static const char *
oauth_federated_hint(const char *sig)
{
	static const struct {
		const char *code;
		const char *hint;
	} hints[] = {
		{ ":AADSTS700213", "no federated identity credential on the app registration matches "
				   "the token's issuer and subject: add one (issuer, subject such as "
				   "system:serviceaccount:NAMESPACE:SERVICEACCOUNT, audience "
				   "api://AzureADTokenExchange; brokerd --check prints the token's)" },
		{ ":AADSTS70021", "no federated identity credential on the app registration matches "
				  "the token's issuer, subject and audience (audience "
				  "api://AzureADTokenExchange): compare them with brokerd --check" },
		{ ":AADSTS700211", "the token's issuer is not one the app registration's federated "
				   "identity credentials name: check the issuer URL (the cluster's OIDC "
				   "issuer)" },
		{ ":AADSTS700212", "the token's audience is not api://AzureADTokenExchange (or the "
				   "credential's audience): check the projected token's audience" },
		{ ":AADSTS700024", "the token is outside its valid time range: has the kubelet (or CI) "
				   "stopped refreshing AZURE_FEDERATED_TOKEN_FILE? check this host's "
				   "clock" },
		{ ":AADSTS700027", "the token's signature does not verify against the issuer's keys: "
				   "check that the issuer's OIDC discovery document and JWKS are "
				   "reachable and current" },
		{ ":AADSTS50013", "the token's audience or issuer is refused: check the federated "
				  "identity credential's issuer and audience" },
	};
	const char *tail = strrchr(sig, ':');

	for (size_t i = 0; tail != NULL && i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strcmp(tail, hints[i].code) == 0)
			return hints[i].hint;
	return "check the app registration's federated identity credential (issuer, subject, "
	       "audience api://AzureADTokenExchange) against the token's (brokerd --check), and "
	       "MCP_AUTH_BROKER_GRAPH_CLIENT_ID / AZURE_CLIENT_ID";
}

static void
oauth_done(struct tokend *td, struct xfer *x, CURLcode rc)
{
	struct token_entry *e = x->owner;
	char msg[512], sig[128], type[16], *token = NULL;
	long expires_in = 0;
	enum err_code code;

	if (rc != CURLE_OK) {
		code = x->too_big ? ERR_PROVIDER_BAD_RESPONSE
		    : rc == CURLE_OPERATION_TIMEDOUT ? ERR_PROVIDER_TIMEOUT
						     : ERR_PROVIDER_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "login endpoint: %s", curl_easy_strerror(rc));
		mint_done(td, e, code, msg, -1, NULL);
		return;
	}
	code = oauth_parse(x->status, (const char *)buf_head(&x->body), buf_avail(&x->body), &token,
	    &expires_in, type, sizeof(type), msg, sizeof(msg), sig, sizeof(sig));
	if (code == ERR_NONE) {
		if (cache_store(&td->cache, e, token, strlen(token), type, expires_in) == -1)
			fatalx("out of guarded memory");
		e->has_roles = claims_roles(token, strlen(token), e->roles, sizeof(e->roles));
		sodium_memzero(token, strlen(token));
		free(token);
		log_info("token minted for %s (expires in %lds)", e->resource, expires_in);
		mint_done(td, e, ERR_NONE, NULL, -1, NULL);
	} else if (code == ERR_PROVIDER_AUTH_FAILED && mint_retry_with_fresh_secret(td, e)) {
		log_warnx("%s: asking secretd for a fresh secret", msg);
	} else {
		if (code == ERR_PROVIDER_AUTH_FAILED &&
		    td->cfg.graph_credential == GRAPH_CREDENTIAL_CERTIFICATE) {
			size_t n = strlen(msg);
			snprintf(msg + n, sizeof(msg) - n, ": certificate credential: %s",
			    oauth_certificate_hint(sig));
		} else if (code == ERR_PROVIDER_AUTH_FAILED &&
		    td->cfg.graph_credential == GRAPH_CREDENTIAL_FEDERATED) {
			size_t n = strlen(msg);
			snprintf(msg + n, sizeof(msg) - n, ": federated credential: %s",
			    oauth_federated_hint(sig));
		}
		mint_done(td, e, code, msg, retry_after_seconds(x->retry_after), sig);
	}
}

/* application/x-www-form-urlencoded value */
static char *
form_escape(CURL *c, const char *s, size_t len)
{
	char *v = curl_easy_escape(c, s, (int)len);

	if (v == NULL)
		fatalx("out of memory");
	return v;
}

/* A certificate credential proves itself with the assertion secretd
 * signed (RFC 7523), the key never reaching tokend; a federated one with
 * the issuer's token secretd read from its file. */
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

void
oauth_start(struct tokend *td, struct token_entry *e, const unsigned char *secret, size_t len)
{
	char url[1024], scope[512];
	struct xfer *x;
	char *esc_secret, *esc_scope, *esc_client, *body;
	size_t body_len;
	bool assertion = config_credential_is_assertion(td->cfg.graph_credential);

	snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/token", td->cfg.authority, e->tenant);
	/* Client credentials take only <resource>/.default, never the
	 * scopes a caller named: those are checked by policy. */
	snprintf(scope, sizeof(scope), "%s/.default", e->resource);
	x = xfer_new(td, url, td->cfg.token_provider_timeout_s * 1000, 64 * 1024, oauth_done, e);
	esc_secret = form_escape(x->easy, (const char *)secret, len);
	esc_scope = form_escape(x->easy, scope, strlen(scope));
	esc_client = form_escape(x->easy, e->client_id, strlen(e->client_id));
	body_len = strlen(esc_secret) + strlen(esc_scope) + strlen(esc_client) + 256;
	if ((body = malloc(body_len)) == NULL)
		fatalx("out of memory");
	if (assertion)
		body_len = (size_t)snprintf(body, body_len,
		    "client_id=%s&client_assertion_type=%s&client_assertion=%s"
		    "&grant_type=client_credentials&scope=%s",
		    esc_client, ASSERTION_TYPE, esc_secret, esc_scope);
	else
		body_len = (size_t)snprintf(body, body_len,
		    "client_id=%s&client_secret=%s&grant_type=client_credentials&scope=%s",
		    esc_client, esc_secret, esc_scope);
	sodium_memzero(esc_secret, strlen(esc_secret));
	curl_free(esc_secret);
	curl_free(esc_scope);
	curl_free(esc_client);
	xfer_header(x, "Content-Type: application/x-www-form-urlencoded");
	xfer_header(x, "Accept: application/json");
	xfer_post(x, "POST", body, body_len);
	xfer_start(td, x);
}
