/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The Graph call, made here so that the access token never leaves tokend.
 * brokerd gets the status, the allowed response headers, the JSON body and
 * token metadata. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "timeutil.h"
#include "tokend.h"

/* Retries of 429/503/504 for one call: few, and only within its timeout_ms. */
#define GRAPH_MAX_ATTEMPTS 5
#define GRAPH_BACKOFF_MAX_S 8
/* The objects around a Graph body in the answer to brokerd: the answer and
 * its execution object. */
#define GRAPH_BODY_ENVELOPE_DEPTH 2

static bool
method_idempotent(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

static bool graph_should_retry(struct tokend *td, struct exec *x, long status,
    const char *retry_after);

/* Smoke mode: the canned answer, sent by the loop when it is due; a canned
 * 429 goes through the same retry rules as a real one. */
static void
graph_smoke(struct tokend *td, struct exec *x)
{
	struct graph_answer g;
	char rid[64];

	smoke_graph(x->req.method, x->req.path, x->req.body, ++x->attempts, &g);
	if (graph_should_retry(td, x, g.status, g.retry_after)) {
		json_object_put(g.body);
		return;
	}
	snprintf(rid, sizeof(rid), "00000000-0000-4000-8000-%012llx",
	    (unsigned long long)++td->graph_seq);
	x->state = EXEC_WAIT_GRAPH;
	x->answer = msg_execution_new(&(struct msg_graph_meta){ g.status, rid, NULL, g.retry_after,
					  g.body ? "application/json" : NULL, NULL },
	    g.body ? BODY_JSON : BODY_EMPTY, g.body);
	x->due_ms = mono_ms() + g.delay_ms;
}

/* Whether to try again, and when: Retry-After if Graph gave one, else an
 * exponential backoff; never past the call's deadline.  brokerd hears of
 * the wait (MSG_PROGRESS), so a client that asked for progress sees it. */
static bool
graph_should_retry(struct tokend *td, struct exec *x, long status, const char *retry_after)
{
	long delay_s = retry_after_seconds(retry_after);
	int64_t now = mono_ms();
	char msg[128];

	if (status != 429 && status != 503 && status != 504)
		return false;
	if (!method_idempotent(x->req.method) || x->attempts >= GRAPH_MAX_ATTEMPTS)
		return false;
	if (delay_s < 0)
		delay_s = (1L << (x->attempts - 1)) > GRAPH_BACKOFF_MAX_S ? GRAPH_BACKOFF_MAX_S
									   : (1L << (x->attempts - 1));
	if (now + delay_s * 1000 >= x->deadline_ms)
		return false;
	x->state = EXEC_WAIT_RETRY;
	x->due_ms = now + delay_s * 1000;
	snprintf(msg, sizeof(msg), "Graph answered %ld; retrying in %ld s (attempt %d of %d)", status,
	    delay_s, x->attempts + 1, GRAPH_MAX_ATTEMPTS);
	exec_progress(td, x, msg, delay_s * 1000);
	return true;
}

static enum err_code
graph_transfer_error(const struct xfer *xf, CURLcode rc, char *msg, size_t len)
{
	if (xf->too_big) {
		snprintf(msg, len, "Graph response larger than MCP_AUTH_BROKER_MAX_RESPONSE_BYTES");
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	snprintf(msg, len, "Graph: %s", curl_easy_strerror(rc));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return ERR_PROVIDER_TIMEOUT;
	/* Headers arrived but the body was cut short or mangled. */
	if (rc == CURLE_PARTIAL_FILE || rc == CURLE_BAD_CONTENT_ENCODING || xf->status > 0)
		return ERR_PROVIDER_BAD_RESPONSE;
	return ERR_PROVIDER_UNAVAILABLE;
}

/* The media type of a Content-Type value, lower case, without parameters. */
static void
media_type(const char *content_type, char *out, size_t outsz)
{
	size_t n = 0;

	for (const char *p = content_type ? content_type : ""; *p && *p != ';' && n + 1 < outsz; p++)
		if (*p != ' ' && *p != '\t')
			out[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	out[n] = '\0';
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Well-formed UTF-8 without NUL: what a JSON string (and an MCP text
 * content) can carry as it is. */
static bool
utf8_text(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		    (c & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;

		if (c == 0 || n == 0 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n;
	}
	return true;
}

static bool
media_is_json(const char *content_type)
{
	char mt[128];

	media_type(content_type, mt, sizeof(mt));
	return strcmp(mt, "application/json") == 0 || has_suffix(mt, "+json") ||
	    strcmp(mt, "text/json") == 0;
}

/* How the body is passed on, by its declared type: JSON must be JSON;
 * text (any text type, XML, CSV) that is not UTF-8 travels as binary; an answer
 * without a type is JSON if it parses, else judged by its bytes. */
static enum msg_body_format
body_format(const char *content_type, const char *body, size_t len, bool *must_be_json)
{
	char mt[128];

	media_type(content_type, mt, sizeof(mt));
	*must_be_json = media_is_json(content_type);
	if (len == 0)
		return BODY_EMPTY;
	if (*must_be_json || mt[0] == '\0')
		return BODY_JSON;
	if (strncmp(mt, "image/", 6) == 0)
		return BODY_IMAGE;
	if ((strncmp(mt, "text/", 5) == 0 || strcmp(mt, "application/xml") == 0 ||
		has_suffix(mt, "+xml") || strcmp(mt, "application/csv") == 0) &&
	    utf8_text((const unsigned char *)body, len))
		return BODY_TEXT;
	return BODY_BINARY;
}

static struct json_object *
base64_string(const char *body, size_t len)
{
	size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(n);
	struct json_object *s;

	if (b64 == NULL)
		fatalx("out of memory");
	sodium_bin2base64(b64, n, (const unsigned char *)body, len, sodium_base64_VARIANT_ORIGINAL);
	s = json_object_new_string_len(b64, (int)(n - 1));
	free(b64);
	return s;
}

/* The body as JSON; NULL with *why if it is not JSON brokerd can read. */
static struct json_object *
json_body(const char *body, size_t len, const char **why)
{
	const char *reason = NULL;
	struct json_object *o;

	/* The body travels to brokerd as EXEC_ANS.execution.body, two levels
	 * down, and brokerd parses EXEC_ANS with jx_parse and treats a message
	 * it cannot parse as fatal: a body nested to within two levels of
	 * JX_MAX_DEPTH would take brokerd down.  fuzz_graph checks this. */
	o = jx_parse_depth(body, len, JX_MAX_DEPTH - GRAPH_BODY_ENVELOPE_DEPTH, &reason);
	if (o == NULL && reason != jx_why_null)
		*why = reason != NULL &&
			strcmp(reason, json_tokener_error_desc(json_tokener_error_depth)) == 0
		    ? "Graph answered with JSON nested too deeply to pass on"
		    : "Graph answered with a body that is not JSON";
	return o;
}

/* A sub-response's headers, by name in any case: the few a single answer
 * passes back, names lower case. */
static struct json_object *
batch_headers(struct json_object *h, const char **content_type)
{
	static const char *const kept[] = { "content-type", "location", "retry-after" };
	struct json_object *out = json_object_new_object();

	*content_type = NULL;
	if (h == NULL)
		return out;
	json_object_object_foreach(h, name, v) {
		for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
			if (strcasecmp(name, kept[i]) != 0 || !json_object_is_type(v, json_type_string) ||
			    json_object_get_string_len(v) > 128)
				continue;
			jx_add_str(out, kept[i], json_object_get_string(v));
			if (i == 0)
				*content_type = json_object_get_string(v);
		}
	}
	return out;
}

/* Graph sends a sub-response body that is not JSON as a base64 string: it is
 * decoded and passed on as a single answer's would be. */
static void
batch_body(struct json_object *entry, struct json_object *body, const char *content_type)
{
	const char *b64 = json_object_get_string(body);
	size_t n = (size_t)json_object_get_string_len(body), len = 0;
	unsigned char *raw = malloc(n + 1);
	bool must_be_json;
	enum msg_body_format f;

	if (raw == NULL)
		fatalx("out of memory");
	if (sodium_base642bin(raw, n + 1, b64, n, " \r\n", &len, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0)
		f = BODY_TEXT; /* not base64 after all: the string is the body */
	else
		f = body_format(content_type, (const char *)raw, len, &must_be_json);
	if (f == BODY_JSON) /* JSON text sent as base64: passed on as received */
		f = BODY_TEXT;
	jx_add_str(entry, "body_format", msg_body_format_name(f));
	if (f == BODY_TEXT && len > 0 && utf8_text(raw, len))
		jx_add(entry, "body", json_object_new_string_len((const char *)raw, (int)len));
	else if (f == BODY_TEXT || f == BODY_EMPTY)
		jx_add(entry, "body", f == BODY_EMPTY ? NULL : json_object_get(body));
	else {
		jx_add(entry, "body", NULL);
		jx_add(entry, "body_base64", json_object_get(body));
	}
	free(raw);
}

/* One sub-response, or NULL if it is not what Graph documents. */
static struct json_object *
batch_entry(struct json_object *r)
{
	struct json_object *e, *body = NULL;
	const char *id = jx_get_str(r, "id"), *ctype;
	int64_t status = 0;

	if (id == NULL || json_object_get_string_len(jx_get(r, "id")) > 128 ||
	    strlen(id) != (size_t)json_object_get_string_len(jx_get(r, "id")) || *id == '\0' ||
	    !jx_get_int64(r, "status", &status) || status < 100 || status > 599)
		return NULL;
	e = json_object_new_object();
	jx_add_str(e, "id", id);
	jx_add_int(e, "status", status);
	jx_add(e, "headers", batch_headers(jx_get_obj(r, "headers"), &ctype));
	json_object_object_get_ex(r, "body", &body);
	if (body != NULL && json_object_is_type(body, json_type_string) && !media_is_json(ctype)) {
		batch_body(e, body, ctype);
	} else {
		jx_add_str(e, "body_format", msg_body_format_name(body ? BODY_JSON : BODY_EMPTY));
		jx_add(e, "body", json_object_get(body));
	}
	return e;
}

/* A batch's answer, {"responses":[...]}, as one entry per sub-response;
 * NULL (then passed on as plain JSON) if it is not that shape. */
static struct json_object *
batch_responses(struct json_object *o)
{
	struct json_object *a = jx_get_arr(o, "responses"), *out, *e;
	size_t n = a ? json_object_array_length(a) : 0;

	if (a == NULL || n > 20 || json_object_object_length(o) != 1)
		return NULL;
	out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		if ((e = batch_entry(json_object_array_get_idx(a, i))) == NULL) {
			json_object_put(out);
			return NULL;
		}
		json_object_array_add(out, e);
	}
	return out;
}

/* Everything in a Graph answer comes from the network: this is the one place
 * it is turned into what brokerd gets, and what the fuzzer exercises. */
enum err_code
graph_parse_answer(const struct msg_graph_meta *g, bool batch, const char *body, size_t len,
    struct json_object **execution, const char **why)
{
	struct json_object *o = NULL;
	enum msg_body_format f;
	bool must_be_json;

	*execution = NULL;
	*why = NULL;
	/* curl takes any three digits; brokerd's decoder, HTTP's range only. */
	if (g->status < 100 || g->status > 599) {
		*why = "Graph answered with an HTTP status out of range";
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	f = body_format(g->content_type, body, len, &must_be_json);
	if (f == BODY_JSON) {
		o = json_body(body, len, why);
		if (*why != NULL && (must_be_json || strstr(*why, "deeply") != NULL))
			return ERR_PROVIDER_BAD_RESPONSE;
		if (*why != NULL) /* no declared type, and not JSON: by its bytes */
			f = utf8_text((const unsigned char *)body, len) ? BODY_TEXT : BODY_BINARY;
		*why = NULL;
	}
	if (f == BODY_JSON && batch && g->status == 200 && o != NULL) {
		struct json_object *responses = batch_responses(o);

		if (responses != NULL) {
			json_object_put(o);
			o = responses;
			f = BODY_BATCH;
		}
	}
	if (f == BODY_TEXT)
		o = json_object_new_string_len(body, (int)len);
	else if (f == BODY_IMAGE || f == BODY_BINARY)
		o = base64_string(body, len);
	/* Content without a declared type still needs one to be MCP content. */
	if (f == BODY_BINARY && (g->content_type == NULL || *g->content_type == '\0')) {
		struct msg_graph_meta typed = *g;

		typed.content_type = "application/octet-stream";
		*execution = msg_execution_new(&typed, f, o);
	} else {
		*execution = msg_execution_new(g, f, o);
	}
	return ERR_NONE;
}

/* Graph's own verdict on the token: 401 with error.code
 * InvalidAuthenticationToken.  A 401 with another body (a resource's own
 * authorization check, a proxy) says nothing about the token. */
static bool
graph_token_rejected(long status, struct json_object *execution)
{
	const char *code;

	if (status != 401)
		return false;
	code = jx_get_str(jx_get_obj(jx_get_obj(execution, "body"), "error"), "code");
	return code != NULL && strcmp(code, "InvalidAuthenticationToken") == 0;
}

static void
graph_done(struct tokend *td, struct xfer *xf, CURLcode rc)
{
	struct exec *x = xf->owner;
	struct json_object *execution;
	const char *why = NULL;
	enum err_code code;
	char msg[256];

	x->xfer = NULL;
	if (rc != CURLE_OK) {
		code = graph_transfer_error(xf, rc, msg, sizeof(msg));
		exec_fail(td, x, code, msg);
		return;
	}
	if (graph_should_retry(td, x, xf->status, xf->retry_after)) {
		log_info("call %llu: Graph answered %ld, retrying", (unsigned long long)x->id,
		    xf->status);
		return;
	}
	code = graph_parse_answer(&(struct msg_graph_meta){ xf->status, xf->request_id,
				      xf->client_request_id, xf->retry_after, xf->content_type,
				      xf->location },
	    strcmp(x->req.method, "POST") == 0 && policy_is_batch(x->req.path),
	    (const char *)buf_head(&xf->body), buf_avail(&xf->body), &execution, &why);
	if (code != ERR_NONE) {
		exec_fail(td, x, code, why);
		return;
	}
	if (graph_token_rejected(xf->status, execution) &&
	    cache_invalidate_generation(x->entry, x->sent_generation))
		log_info("call %llu: Graph rejected the token; the next call mints afresh",
		    (unsigned long long)x->id);
	if (paging_continue(td, x, buf_avail(&xf->body), &execution))
		return;
	exec_answer(td, x, execution);
}

/* The forwarded headers policy allowed (tokend re-checked them: allowlisted
 * names, no control characters, no duplicates). */
static void
graph_headers(struct xfer *xf, const struct graph_request *req)
{
	char line[REQ_MAX_PATH_LEN + 64];
	bool accept = false;

	for (size_t i = 0; i < req->n_headers; i++) {
		snprintf(line, sizeof(line), "%s: %s", req->headers[i].name, req->headers[i].value);
		xfer_header(xf, line);
		accept = accept || strcmp(req->headers[i].name, "accept") == 0;
	}
	if (!accept)
		xfer_header(xf, "Accept: application/json");
}

static bool
request_has_header(const struct graph_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			return true;
	return false;
}

/* Last, and only once the URL is known to be on the configured resource.
 * Sized to the token: the login endpoint decides how long it is. */
static void
graph_authorization(struct xfer *xf, struct exec *x)
{
	struct token_entry *e = x->entry;
	size_t len = sizeof("Authorization: ") + strlen(e->token_type) + 1 + e->token.len;
	const unsigned char *tok;
	char *line = malloc(len);

	if (line == NULL)
		fatalx("out of memory");
	tok = guard_open(&e->token);
	snprintf(line, len, "Authorization: %s %.*s", e->token_type, (int)e->token.len,
	    (const char *)tok);
	guard_close(&e->token);
	x->sent_generation = e->generation;
	x->sent_expires_at = e->expires_at;
	xfer_header(xf, line);
	sodium_memzero(line, len);
	free(line);
}

static void
graph_body(struct xfer *xf, const struct graph_request *req)
{
	/* jx_text: json-c's own text was NULL (strdup crashed) or cut short
	 * under memory pressure (tests/integration/test_faults.py). */
	const char *text = req->body ? jx_text(req->body, NULL) : "";
	char *copy;

	if (strcmp(req->method, "GET") == 0)
		return;
	if (strcmp(req->method, "DELETE") == 0) {
		curl_easy_setopt(xf->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
		return;
	}
	if (req->body != NULL && !request_has_header(req, "content-type"))
		xfer_header(xf, "Content-Type: application/json");
	if ((copy = strdup(text)) == NULL)
		fatalx("out of memory");
	xfer_post(xf, req->method, copy, strlen(copy));
}

/* The Graph URL, built with curl's URL API: scheme, host and port from the
 * configured resource only, the path set as a path and the query as a
 * query, so no byte of either can become an authority.  NULL if curl
 * refuses a part. */
static char *
graph_url(const char *resource, const struct graph_request *req)
{
	CURLU *u = curl_url();
	char *url = NULL;

	if (u == NULL)
		fatalx("out of memory");
	if (curl_url_set(u, CURLUPART_URL, resource, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PATH, req->path, 0) != CURLUE_OK ||
	    (req->query != NULL && curl_url_set(u, CURLUPART_QUERY, req->query, 0) != CURLUE_OK) ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		url = NULL;
	curl_url_cleanup(u);
	return url;
}

struct origin {
	char *scheme, *host, *port;
};

/* Scheme, host and port of url, as curl will connect to them. */
static bool
origin_get(const char *url, struct origin *o)
{
	CURLU *u = curl_url();
	bool ok;

	memset(o, 0, sizeof(*o));
	if (u == NULL)
		fatalx("out of memory");
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &o->host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) == CURLUE_OK;
	curl_url_cleanup(u);
	return ok;
}

static void
origin_free(struct origin *o)
{
	curl_free(o->scheme);
	curl_free(o->host);
	curl_free(o->port);
}

bool
graph_url_on_resource(const char *url, const char *resource)
{
	struct origin a, b;
	bool got_a = origin_get(url, &a), got_b = origin_get(resource, &b);
	bool same;

	same = got_a && got_b && strcasecmp(a.scheme, b.scheme) == 0 && strcasecmp(a.host, b.host) == 0 &&
	    strcmp(a.port, b.port) == 0;
	origin_free(&a);
	origin_free(&b);
	return same;
}

void
graph_start(struct tokend *td, struct exec *x)
{
	const char *resource = x->entry->resource;
	struct xfer *xf;
	char *url;

	if (td->cfg.env == BROKER_ENV_SMOKE) {
		graph_smoke(td, x);
		return;
	}
	if ((url = graph_url(resource, &x->req)) == NULL) {
		exec_fail(td, x, ERR_PROVIDER_UNAVAILABLE, "cannot build the Graph URL");
		return;
	}
	/* Once more before the token goes in: the URL curl will use is on the
	 * configured resource, and that resource is one we serve. */
	if (!config_resource_allowed(&td->cfg, resource) || !graph_url_on_resource(url, resource))
		fatalx("broken invariant: the Graph URL is not on the configured resource");
	/* Pages together stay within MCP_AUTH_BROKER_MAX_RESPONSE_BYTES. */
	xf = xfer_new(td, url, (long)(x->deadline_ms - mono_ms()),
	    (size_t)td->cfg.max_response_bytes - x->page_bytes, graph_done, x);
	curl_free(url);
	graph_headers(xf, &x->req);
	graph_body(xf, &x->req);
	graph_authorization(xf, x);
	x->attempts++;
	x->state = EXEC_WAIT_GRAPH;
	x->xfer = xf;
	xfer_start(td, xf);
}
