/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Tokens for a managed identity (issue 12): a GET to the host's identity
 * endpoint, IMDS (Metadata: true, api-version 2018-02-01) or the App Service
 * / Container Apps agent (X-IDENTITY-HEADER, api-version 2019-08-01).  The
 * one plain-HTTP transfer tokend makes: only to a literal link-local or
 * loopback address, checked again here before every request, with no proxy
 * and no redirect.  404, 410, 429 and 5xx are retried with exponential
 * back-off, as Microsoft documents for IMDS, within the provider timeout. */
#include "buildconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "mi_endpoint.h"
#include "timeutil.h"
#include "tokend.h"

/* First back-off; doubled per attempt up to the cap.  IMDS answers 410 for
 * up to 70 s while it updates, so the cap is long enough to ride that out
 * when the provider timeout allows it. */
#define MI_BACKOFF_FIRST_MS 500
#define MI_BACKOFF_MAX_MS 16000
#define MI_BODY_MAX (64 * 1024)
#define MI_HINT                                                                               \
	"check that a managed identity is enabled on this VM, App Service or Container App"   \
	" (or that MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT is right)"

static void
wipe_json_string(struct json_object *o)
{
	if (o != NULL && json_object_is_type(o, json_type_string))
		sodium_memzero((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

/* IMDS sends its numbers as strings ("3599"); the agent sends expires_on
 * the same way.  A JSON integer is accepted too; nothing else. */
static bool
get_seconds(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v = jx_get(o, name);
	const char *s;
	size_t len;

	if (v != NULL && json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return *out > 0;
	}
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	len = strlen(s);
	if (len == 0 || len > 12 || strspn(s, "0123456789") != len)
		return false;
	*out = strtoll(s, NULL, 10);
	return *out > 0;
}

static enum err_code
identity_parse_success(struct json_object *o, int64_t now, char **token, long *expires_in,
    char *token_type, size_t type_len, char *msg, size_t msg_len)
{
	struct json_object *at = jx_get(o, "access_token"), *res = jx_get(o, "resource");
	const char *type = jx_get_str(o, "token_type"), *why = NULL;
	int64_t in = 0, on = 0;

	if (at == NULL || !json_object_is_type(at, json_type_string) ||
	    !oauth_is_b64token(json_object_get_string(at), (size_t)json_object_get_string_len(at)))
		why = "no usable access_token";
	else if (type != NULL && !oauth_is_type_name(type, type_len - 1))
		why = "an unusable token_type";
	else if (res != NULL && !json_object_is_type(res, json_type_string))
		why = "a resource that is not a string";
	else if (get_seconds(o, "expires_in", &in))
		*expires_in = (long)(in > 86400 * 7 ? 86400 * 7 : in);
	else if (jx_get(o, "expires_in") == NULL && get_seconds(o, "expires_on", &on) && on > now)
		*expires_in = (long)(on - now > 86400 * 7 ? 86400 * 7 : on - now);
	else
		why = "no usable expires_in or expires_on";
	if (why != NULL) {
		wipe_json_string(at);
		snprintf(msg, msg_len, "managed identity endpoint answer has %s", why);
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	snprintf(token_type, type_len, "%s", type ? type : "Bearer");
	if ((*token = strdup(json_object_get_string(at))) == NULL)
		fatalx("out of memory");
	wipe_json_string(at);
	return ERR_NONE;
}

/* What an operator should check, by status. */
static const char *
identity_hint(long status)
{
	if (status == 400)
		return "identity not found: enable the system-assigned identity, or attach the "
		       "user-assigned identity whose Client ID MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID "
		       "names";
	if (status == 401 || status == 403)
		return "the endpoint refused the request: check IDENTITY_HEADER (App Service, "
		       "Container Apps) or that nothing between tokend and IMDS adds headers";
	if (status == 429)
		return "the identity endpoint is throttling this host";
	return status >= 500 || status == 404 || status == 410
	    ? "the identity endpoint is unavailable or updating" : MI_HINT;
}

static enum err_code
identity_parse_error(long status, struct json_object *o, char *msg, size_t msg_len)
{
	const char *error = o ? jx_get_str(o, "error") : NULL;
	char e[65] = "";
	enum err_code code;

	if (status == 429)
		code = ERR_PROVIDER_RATE_LIMITED;
	else if (status >= 500 || status == 404 || status == 410)
		code = ERR_PROVIDER_UNAVAILABLE;
	else if (status == 400 || status == 401 || status == 403)
		code = ERR_PROVIDER_AUTH_FAILED;
	else
		code = ERR_PROVIDER_BAD_RESPONSE;
	/* error names the failure; error_description is prose and is left out. */
	for (size_t i = 0; error != NULL && error[i] != '\0' && i + 1 < sizeof(e); i++) {
		bool ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
		    error[i]) != NULL;
		e[i] = ok ? error[i] : '?';
		e[i + 1] = '\0';
	}
	snprintf(msg, msg_len, "managed identity endpoint answered HTTP %ld%s%s: %s", status,
	    e[0] ? " " : "", e, identity_hint(status));
	return code;
}

enum err_code
identity_parse(long status, const char *body, size_t len, int64_t now, char **token,
    long *expires_in, char *token_type, size_t type_len, char *msg, size_t msg_len)
{
	struct json_object *o = len > 0 ? jx_parse(body, len, NULL) : NULL;
	enum err_code code;

	*token = NULL;
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	if (status == 200 && o != NULL) {
		code = identity_parse_success(o, now, token, expires_in, token_type, type_len, msg,
		    msg_len);
	} else if (status == 200) {
		snprintf(msg, msg_len, "managed identity endpoint answered HTTP 200 with a body "
				       "that is not a JSON object");
		code = ERR_PROVIDER_BAD_RESPONSE;
	} else {
		code = identity_parse_error(status, o, msg, msg_len);
	}
	json_object_put(o);
	return code;
}

static bool
identity_retryable(long status)
{
	return status == 404 || status == 410 || status == 429 || (status >= 500 && status < 600);
}

/* Schedules the next attempt, or says there is no time left for one. */
static bool
identity_schedule_retry(struct tokend *td, struct token_entry *e, const char *retry_after)
{
	long ra = retry_after_seconds(retry_after);
	int64_t delay = MI_BACKOFF_FIRST_MS, now = mono_ms();

	(void)td;
	for (int i = 1; i < e->login_attempts && delay < MI_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > MI_BACKOFF_MAX_MS)
		delay = MI_BACKOFF_MAX_MS;
	if (ra >= 0 && ra * 1000 > delay)
		delay = ra * 1000;
	if (now + delay >= e->login_deadline_ms)
		return false;
	e->login_retry_at_ms = now + delay;
	return true;
}

static void
identity_stored(struct tokend *td, struct token_entry *e, char *token, const char *type,
    long expires_in)
{
	if (cache_store(&td->cache, e, token, strlen(token), type, expires_in) == -1)
		fatalx("out of guarded memory");
	e->has_roles = claims_roles(token, strlen(token), e->roles, sizeof(e->roles));
	sodium_memzero(token, strlen(token));
	free(token);
	log_info("token obtained from the managed identity endpoint for %s (expires in %lds)",
	    e->resource, expires_in);
	mint_done(td, e, ERR_NONE, NULL, -1, NULL);
}

static void
identity_done(struct tokend *td, struct xfer *x, CURLcode rc)
{
	struct token_entry *e = x->owner;
	char msg[512], sig[96], type[16], *token = NULL;
	long expires_in = 0;
	enum err_code code;

	if (rc != CURLE_OK) {
		code = x->too_big ? ERR_PROVIDER_BAD_RESPONSE
		    : rc == CURLE_OPERATION_TIMEDOUT ? ERR_PROVIDER_TIMEOUT
						     : ERR_PROVIDER_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "managed identity endpoint %s: %s: " MI_HINT,
		    td->cfg.mi_endpoint, curl_easy_strerror(rc));
		mint_done(td, e, code, msg, -1, NULL);
		return;
	}
	code = identity_parse(x->status, (const char *)buf_head(&x->body), buf_avail(&x->body),
	    td->cache.now(), &token, &expires_in, type, sizeof(type), msg, sizeof(msg));
	if (code == ERR_NONE) {
		identity_stored(td, e, token, type, expires_in);
		return;
	}
	if (identity_retryable(x->status) && identity_schedule_retry(td, e, x->retry_after)) {
		log_warnx("%s: attempt %d, retrying in %" PRId64 " ms", msg, e->login_attempts,
		    e->login_retry_at_ms - mono_ms());
		return;
	}
	if (identity_retryable(x->status)) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, " (%d attempt%s)", e->login_attempts,
		    e->login_attempts == 1 ? "" : "s");
	}
	snprintf(sig, sizeof(sig), "%ld:managed-identity", x->status);
	mint_done(td, e, code, msg, retry_after_seconds(x->retry_after),
	    x->status >= 400 && x->status < 500 ? sig : NULL);
}

/* The request URL: the endpoint with api-version, resource and, for a
 * user-assigned identity, client_id.  The resource is the configured one
 * itself: these endpoints take a resource, not a scope. */
static void
identity_url(struct tokend *td, CURL *c, const char *resource, char *url, size_t len)
{
	char *res = curl_easy_escape(c, resource, 0);
	char *cid = td->cfg.mi_client_id ? curl_easy_escape(c, td->cfg.mi_client_id, 0) : NULL;

	if (res == NULL || (td->cfg.mi_client_id != NULL && cid == NULL))
		fatalx("out of memory");
	snprintf(url, len, "%s?api-version=%s&resource=%s%s%s", td->cfg.mi_endpoint,
	    td->cfg.mi_app_service ? MI_APP_SERVICE_API_VERSION : MI_IMDS_API_VERSION, res,
	    cid ? "&client_id=" : "", cid ? cid : "");
	curl_free(res);
	curl_free(cid);
}

/* Plain HTTP for this transfer only, straight to the endpoint: no proxy
 * (an HTTP_PROXY would otherwise see the header), no redirect, and
 * "localhost" resolved by us, not by DNS. */
static void
identity_transport(struct xfer *x, const struct mi_endpoint *ep)
{
	char pin[128];

	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	if (ep->localhost) {
		snprintf(pin, sizeof(pin), "localhost:%d:127.0.0.1", ep->port);
		x->resolve = curl_slist_append(NULL, pin);
		if (x->resolve == NULL)
			fatalx("out of memory");
		curl_easy_setopt(x->easy, CURLOPT_RESOLVE, x->resolve);
	}
}

void
identity_start(struct tokend *td, struct token_entry *e, const unsigned char *header, size_t len)
{
	char url[2048], line[1200];
	struct mi_endpoint ep;
	const char *why = NULL;
	int64_t left = e->login_deadline_ms - mono_ms();
	struct xfer *x;

	/* The monitor's rule holds within tokend too: the endpoint is checked
	 * again where it is used, not trusted from start-up. */
	if (!mi_endpoint_parse(td->cfg.mi_endpoint, &ep, &why))
		fatalx("broken invariant: managed identity endpoint %s", why);
	if (td->cfg.mi_app_service && (header == NULL || len == 0 || len > 1024 ||
					  memchr(header, '\r', len) || memchr(header, '\n', len))) {
		mint_done(td, e, ERR_SECRET_UNAVAILABLE,
		    "managed identity: IDENTITY_HEADER from secretd is empty or unusable", -1, NULL);
		return;
	}
	e->login_attempts++;
	x = xfer_new(td, "http://invalid/", left > 0 ? left : 1, MI_BODY_MAX, identity_done, e);
	identity_url(td, x->easy, e->resource, url, sizeof(url));
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	identity_transport(x, &ep);
	if (td->cfg.mi_app_service) {
		snprintf(line, sizeof(line), "X-IDENTITY-HEADER: %.*s", (int)len, header);
		xfer_header(x, line);
		sodium_memzero(line, sizeof(line));
	} else {
		xfer_header(x, "Metadata: true");
	}
	xfer_header(x, "Accept: application/json");
	xfer_start(td, x);
}
