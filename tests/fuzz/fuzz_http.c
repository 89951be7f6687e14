/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: one HTTP request, as libmicrohttpd hands it to brokerd
 * (brokerd/http.c), through what brokerd does with it (http_request.c): Host
 * and Origin, method, the caller's API key, MCP-Protocol-Version, the body's
 * size, Mcp-Session-Id, then the JSON-RPC message through mcp.c and tools.c
 * in the request's own session.  libmicrohttpd's own parsing is not ours to
 * fuzz; the harness feeds what it would pass on.
 *
 * Input: an optional first line "#api_key" (the broker then wants API
 * keys: "alice-key" and "bob-key" are known, as their hashes), a request
 * line "METHOD URL", header lines "Name: value" up to an empty line, then
 * the body.  A header value "$SID" is replaced by the Mcp-Session-Id that
 * an initialize made before the input ran (for the key the input's
 * Authorization names, when it names a known one), so the session paths are
 * reachable.  A call the request makes waits for tokend, which here fails
 * every call in flight (tools_fail_all), so suspended requests end too;
 * GET /ready's check is never answered either, and times out.  A header
 * "X-Fuzz-Peer:" makes the peer non-loopback; the input's length picks
 * MCP_AUTH_BROKER_HTTP_METRICS (off, loopback, on).  A waiting call whose
 * Accept lists text/event-stream is given a progress notification before
 * tokend fails it, and is taken as http.c streams it.
 *
 * Checked (abort): brokerd never exits on the input; every answer has a
 * status brokerd is meant to send and, with a body, one JSON object that is
 * a JSON-RPC 2.0 response (GET /health and /ready: a status document;
 * GET /metrics: text lines of our metrics only); a refusal (4xx, 5xx) is an error with id null; a
 * request's session is gone when its answer is taken; nothing of the key
 * presented appears in the answer.  An event stream is "data: " lines of
 * one JSON-RPC message each, each event ended by a blank line, the
 * progress notification first and a response with an id last. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "brokerd.h"
#include "http_request.h"
#include "jsonx.h"
#include "log.h"

#define API_KEY_LINE "#api_key\n"

static char *const env_smoke[] = {
    "MCP_AUTH_BROKER_ENV=smoke",
    "MCP_AUTH_BROKER_MAX_MESSAGE_BYTES=4096",
    "MCP_AUTH_BROKER_HTTP_ALLOWED_ORIGINS=https://app.example",
    "MCP_AUTH_BROKER_HTTP_ALLOWED_HOSTS=mcp.example",
    NULL,
};

static struct broker broker;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_errors errs;

	(void)argc;
	(void)argv;
	log_init("fuzz_http", LOG_LEVEL_ERROR);
	memset(&broker, 0, sizeof(broker));
	memset(&errs, 0, sizeof(errs));
	if (config_load(&broker.cfg, env_smoke, &errs) == -1)
		abort();
	broker.secretd.name = "secretd";
	broker.tokend.name = "tokend";
	ipc_chan_init(&broker.secretd.chan, -1, "secretd", NULL, 0);
	ipc_chan_init(&broker.tokend.chan, -1, "tokend", NULL, 0);
	broker.sigfd = broker.listener = -1;
	return 0;
}

static void
add_key(struct http_ctx *h, const char *name, const char *key)
{
	api_keys_add(&h->keys, name, key, NULL);
}

static struct http_ctx *
ctx_new(bool api_key)
{
	struct http_ctx *h = calloc(1, sizeof(*h));

	if (h == NULL)
		abort();
	h->b = &broker;
	snprintf(h->host, sizeof(h->host), "127.0.0.1");
	snprintf(h->port, sizeof(h->port), "8808");
	h->loopback = true;
	broker.cfg.auth_mode = api_key ? AUTH_MODE_API_KEY : AUTH_MODE_NONE;
	if (api_key) {
		add_key(h, "alice", "alice-key");
		add_key(h, "bob", "bob-key");
	}
	return h;
}

/* Drops what brokerd queued for tokend and secretd: no one reads it here. */
static void
drain_children(void)
{
	buf_consume(&broker.tokend.chan.out, buf_avail(&broker.tokend.chan.out));
	buf_consume(&broker.secretd.chan.out, buf_avail(&broker.secretd.chan.out));
}

/* GET /metrics: every line a comment or a sample of ours, and no key. */
static void
check_metrics(const struct http_answer *a)
{
	const char *p = a->body, *end = a->body + a->len;

	if (a->content_type == NULL || a->len == 0 || end[-1] != '\n')
		abort();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || (strncmp(p, "# HELP mcp_auth_broker_", 23) != 0 &&
		                   strncmp(p, "# TYPE mcp_auth_broker_", 23) != 0 &&
		                   strncmp(p, "mcp_auth_broker_", 16) != 0))
			abort();
		p = nl + 1;
	}
}

static void
check_answer(const struct http_answer *a, const char *key, bool health)
{
	static const unsigned ok[] = {200, 202, 204, 400, 401, 403, 404, 405, 413, 415, 503};
	struct json_object *o, *id;
	bool known = false;
	const char *why;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		known = known || a->status == ok[i];
	if (!known || (a->body == NULL) != (a->status == 202 || a->status == 204))
		abort();
	if (a->body == NULL)
		return;
	if (key != NULL && memmem(a->body, a->len, key, strlen(key)) != NULL)
		abort();
	if (a->content_type != NULL) { /* only /metrics answers other than JSON */
		check_metrics(a);
		return;
	}
	if ((o = jx_parse(a->body, a->len, &why)) == NULL ||
	    !json_object_is_type(o, json_type_object))
		abort();
	if (health && (a->status == 200 || a->status == 503) &&
	    jx_get_str(o, "status") != NULL) { /* GET /health or /ready: a status document */
		if (jx_get_str(o, "status") == NULL)
			abort();
		json_object_put(o);
		return;
	}
	if (strcmp(jx_get_str(o, "jsonrpc") ? jx_get_str(o, "jsonrpc") : "", "2.0") != 0 ||
	    !json_object_object_get_ex(o, "id", &id))
		abort();
	if (a->status != 200 && (id != NULL || jx_get_obj(o, "error") == NULL))
		abort();
	json_object_put(o);
}

/* One SSE event at p: "data: " and one JSON-RPC message up to "\n\n";
 * the message (the caller puts it), and *p past the event. */
static struct json_object *
check_event(const char **p, const char *end, const char *key)
{
	const char *nl, *why;
	struct json_object *o;

	if (end - *p < 8 || memcmp(*p, "data: ", 6) != 0)
		abort();
	*p += 6;
	if ((nl = memchr(*p, '\n', (size_t)(end - *p))) == NULL || nl + 1 >= end || nl[1] != '\n')
		abort();
	if (key != NULL && memmem(*p, (size_t)(nl - *p), key, strlen(key)) != NULL)
		abort();
	if ((o = jx_parse(*p, (size_t)(nl - *p), &why)) == NULL ||
	    !json_object_is_type(o, json_type_object) ||
	    strcmp(jx_get_str(o, "jsonrpc") ? jx_get_str(o, "jsonrpc") : "", "2.0") != 0)
		abort();
	*p = nl + 2;
	return o;
}

static void
check_stream(const struct buf *events, const char *key)
{
	const char *p = (const char *)buf_head(events), *end = p + buf_avail(events);
	struct json_object *o;
	size_t n = 0;
	bool last_is_response = false;

	while (p < end) {
		o = check_event(&p, end, key);
		if (n++ == 0 && strcmp(jx_get_str(o, "method") ? jx_get_str(o, "method") : "",
		                       "notifications/progress") != 0)
			abort();
		last_is_response =
		    json_object_object_get_ex(o, "id", NULL) && jx_get_str(o, "method") == NULL;
		json_object_put(o);
	}
	if (n < 2 || !last_is_response)
		abort();
}

/* The call is throttled: tokend's progress report comes before the
 * answer, which then comes as an event stream (http.c). */
static void
serve_stream(struct http_ctx *h, struct session *s, const char *key)
{
	struct json_object *p = json_object_new_object();
	struct buf events;

	jx_add_str(p, "progressToken", "fuzz");
	jx_add_int(p, "progress", 1);
	mcp_send_notification(s, "notifications/progress", p);
	buf_init(&events);
	if (!http_stream_wanted(s) || http_stream_take(h, s, &events))
		abort(); /* the call still runs */
	tools_fail_all(&broker, ERR_PROVIDER_UNAVAILABLE, "tokend is unavailable");
	if (!http_stream_take(h, s, &events))
		abort();
	check_stream(&events, key);
	buf_free(&events);
}

/* Serves rq to the end: a request waiting for tokend gets its answer when
 * the calls in flight fail.  true: it was answered as an event stream (and
 * checked), a holds nothing. */
static bool
serve(struct http_ctx *h, const struct http_req *rq, struct http_answer *a, const char *key)
{
	struct session *pending = NULL;
	enum http_outcome out = http_serve(h, rq, a, &pending);

	if (out == HTTP_PENDING && http_accepts_event_stream(rq->accept)) {
		serve_stream(h, pending, key);
	} else if (out == HTTP_PENDING) {
		tools_fail_all(&broker, ERR_PROVIDER_UNAVAILABLE, "tokend is unavailable");
		if (!http_pending_take(h, pending, a))
			abort();
	} else if (out == HTTP_WAIT_READY) { /* tokend never answers: the check times out */
		http_ready_expire(h, INT64_MAX);
		if (!http_ready_take(h, a) || a->status != 503)
			abort();
	}
	drain_children();
	if (broker.sessions != NULL || broker.calls != NULL)
		abort(); /* the request's session ends with its answer */
	return out == HTTP_PENDING && http_accepts_event_stream(rq->accept);
}

/* An initialize, as the key's holder, to have a session id for "$SID". */
static void
make_session(struct http_ctx *h, const char *auth, char *sid, size_t len)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	                           "\"params\":{\"protocolVersion\":\"2025-06-18\"}}";
	struct http_req rq = {.method = "POST",
	                      .url = "/mcp",
	                      .host = "127.0.0.1:8808",
	                      .authorization = auth,
	                      .content_type = "application/json",
	                      .body = body,
	                      .body_len = sizeof(body) - 1};
	struct http_answer a;

	(void)serve(h, &rq, &a, NULL);
	snprintf(sid, len, "%s", a.session_id);
	http_answer_free(&a);
}

/* The header fields http.c looks up, by name. */
static const char **
header_slot(struct http_req *rq, const char *name, size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
	    {"host", offsetof(struct http_req, host)},
	    {"origin", offsetof(struct http_req, origin)},
	    {"authorization", offsetof(struct http_req, authorization)},
	    {"x-api-key", offsetof(struct http_req, api_key)},
	    {"mcp-session-id", offsetof(struct http_req, session_id)},
	    {"mcp-protocol-version", offsetof(struct http_req, protocol_version)},
	    {"content-type", offsetof(struct http_req, content_type)},
	    {"accept", offsetof(struct http_req, accept)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == len && strncasecmp(fields[i].name, name, len) == 0)
			return (const char **)(void *)((char *)rq + fields[i].off);
	return NULL;
}

/* Splits text (NUL-terminated, modified) into the request line, headers and
 * body; header values stay pointers into text. */
static void
parse_input(char *text, size_t size, struct http_req *rq)
{
	char *line = text, *nl, *sp, *colon;
	const char **slot;

	rq->method = "POST";
	rq->url = "/mcp";
	rq->peer_loopback = true; /* a header "X-Fuzz-Peer:" makes the peer remote */
	if ((nl = strchr(line, '\n')) == NULL) {
		rq->body = text + size;
		return;
	}
	*nl = '\0';
	if ((sp = strchr(line, ' ')) != NULL) {
		*sp = '\0';
		rq->method = line;
		rq->url = sp + 1;
	}
	for (line = nl + 1; (nl = strchr(line, '\n')) != NULL && nl != line; line = nl + 1) {
		*nl = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		if (colon - line == 11 && strncasecmp(line, "x-fuzz-peer", 11) == 0)
			rq->peer_loopback = false;
		if ((slot = header_slot(rq, line, (size_t)(colon - line))) != NULL)
			*slot = colon + 1 + strspn(colon + 1, " ");
	}
	rq->body = nl != NULL ? nl + 1 : text + size;
}

/* A known key the request presents (a random one may be a piece of any
 * fixed message), unless its body holds it too (an answer may quote the
 * body). */
static const char *
presented_key(const struct http_req *rq)
{
	const char *k = NULL;

	if (rq->authorization != NULL && strncasecmp(rq->authorization, "Bearer ", 7) == 0)
		k = rq->authorization + 7;
	else if (rq->api_key != NULL)
		k = rq->api_key;
	if (k == NULL || (strcmp(k, "alice-key") != 0 && strcmp(k, "bob-key") != 0) ||
	    memmem(rq->body, rq->body_len, k, strlen(k)) != NULL)
		return NULL;
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool api_key =
	    size >= strlen(API_KEY_LINE) && memcmp(data, API_KEY_LINE, strlen(API_KEY_LINE)) == 0;
	struct http_req rq = {0};
	struct http_answer a;
	struct http_ctx *h;
	char *text, sid[33];
	size_t skip = api_key ? strlen(API_KEY_LINE) : 0;

	if ((text = malloc(size - skip + 1)) == NULL)
		abort();
	memcpy(text, data + skip, size - skip);
	text[size - skip] = '\0';
	h = ctx_new(api_key);
	broker.cfg.http_metrics = (enum http_metrics)(size % 3);
	parse_input(text, size - skip, &rq);
	rq.body_len = size - skip - (size_t)(rq.body - text);
	rq.body_too_large = rq.body_len > (size_t)broker.cfg.max_message_bytes;
	make_session(h, rq.authorization, sid, sizeof(sid));
	if (rq.session_id != NULL && strcmp(rq.session_id, "$SID") == 0)
		rq.session_id = sid;
	if (!serve(h, &rq, &a, presented_key(&rq)))
		check_answer(&a, presented_key(&rq),
		             strcmp(rq.url, "/health") == 0 || strcmp(rq.url, "/ready") == 0);
	/* MCP_AUTH_BROKER_HTTP_METRICS: off serves nobody, loopback no remote peer. */
	if (strcmp(rq.url, "/metrics") == 0 && a.status == 200 &&
	    (broker.cfg.http_metrics == HTTP_METRICS_OFF ||
	     (broker.cfg.http_metrics == HTTP_METRICS_LOOPBACK && !rq.peer_loopback)))
		abort();
	http_answer_free(&a);
	http_ctx_free(h);
	free(text);
	return 0;
}
