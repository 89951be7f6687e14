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

static void
graph_answer(struct tokend *td, struct exec *x, struct json_object *execution)
{
	exec_answer(td, x, execution);
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
	x->answer = msg_execution_new(g.status, rid, NULL, g.retry_after, g.body);
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

/* Everything in a Graph answer comes from the network: this is the one place
 * it is turned into what brokerd gets, and what the fuzzer exercises. */
enum err_code
graph_parse_answer(long status, const char *request_id, const char *client_request_id,
    const char *retry_after, const char *body, size_t len, struct json_object **execution,
    const char **why)
{
	struct json_object *o = NULL;
	const char *reason = NULL;

	*execution = NULL;
	/* curl takes any three digits; brokerd's decoder, HTTP's range only. */
	if (status < 100 || status > 599) {
		*why = "Graph answered with an HTTP status out of range";
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	/* The body travels to brokerd as EXEC_ANS.execution.body, two levels
	 * down, and brokerd parses EXEC_ANS with jx_parse and treats a message
	 * it cannot parse as fatal: a body nested to within two levels of
	 * JX_MAX_DEPTH would take brokerd down.  fuzz_graph checks this. */
	if (len > 0 && (o = jx_parse_depth(body, len, JX_MAX_DEPTH - GRAPH_BODY_ENVELOPE_DEPTH,
			    &reason)) == NULL) {
		*why = reason != NULL &&
			strcmp(reason, json_tokener_error_desc(json_tokener_error_depth)) == 0
		    ? "Graph answered with JSON nested too deeply to pass on"
		    : "Graph answered with a body that is not JSON";
		return ERR_PROVIDER_BAD_RESPONSE;
	}
	*execution = msg_execution_new(status, request_id, client_request_id, retry_after, o);
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
	code = graph_parse_answer(xf->status, xf->request_id, xf->client_request_id,
	    xf->retry_after, (const char *)buf_head(&xf->body), buf_avail(&xf->body), &execution,
	    &why);
	if (code != ERR_NONE) {
		exec_fail(td, x, code, why);
		return;
	}
	if (graph_token_rejected(xf->status, execution) &&
	    cache_invalidate_generation(x->entry, x->sent_generation))
		log_info("call %llu: Graph rejected the token; the next call mints afresh",
		    (unsigned long long)x->id);
	graph_answer(td, x, execution);
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

/* Last, and only once the URL is known to be on the configured resource. */
static void
graph_authorization(struct xfer *xf, struct exec *x)
{
	struct token_entry *e = x->entry;
	const unsigned char *tok;
	char line[8192];
	int n;

	tok = guard_open(&e->token);
	n = snprintf(line, sizeof(line), "Authorization: %s %.*s", e->token_type, (int)e->token.len,
	    (const char *)tok);
	guard_close(&e->token);
	x->sent_generation = e->generation;
	x->sent_expires_at = e->expires_at;
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("access token too long for a header");
	xfer_header(xf, line);
	sodium_memzero(line, sizeof(line));
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
	xf = xfer_new(td, url, (long)(x->deadline_ms - mono_ms()),
	    (size_t)td->cfg.max_response_bytes, graph_done, x);
	curl_free(url);
	graph_headers(xf, &x->req);
	graph_body(xf, &x->req);
	graph_authorization(xf, x);
	x->attempts++;
	x->state = EXEC_WAIT_GRAPH;
	x->xfer = xf;
	xfer_start(td, xf);
}
