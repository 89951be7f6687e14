/* The Graph call, made here so that the access token never leaves tokend.
 * brokerd gets the status, the allowed response headers, the JSON body and
 * token metadata. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct json_object *
execution_object(long status, const char *rid, const char *crid, const char *retry_after,
    struct json_object *body)
{
	struct json_object *ex = json_object_new_object(), *h = json_object_new_object();

	if (rid && *rid)
		jx_add_str(h, "request-id", rid);
	if (crid && *crid)
		jx_add_str(h, "client-request-id", crid);
	if (retry_after && *retry_after)
		jx_add_str(h, "retry-after", retry_after);
	jx_add_int(ex, "http_status", status);
	jx_add_str(ex, "provider_request_id", rid ? rid : "");
	jx_add(ex, "headers", h);
	jx_add(ex, "body", body);
	return ex;
}

static void
graph_answer(struct tokend *td, struct exec *x, struct json_object *execution)
{
	struct json_object *o = json_object_new_object(), *token = token_meta(x->entry, x->source);
	char when[32];

	/* The expiry of the token the request carried: the entry may hold a
	 * successor by now, or nothing (a 401 dropped it: never 1970). */
	iso8601_utc(x->sent_expires_at, when, sizeof(when));
	jx_add_str(token, "expires_at", when);
	jx_add_bool(o, "ok", true);
	jx_add(o, "token", token);
	jx_add(o, "execution", execution);
	exec_answer(td, x, o);
}

static bool graph_should_retry(struct tokend *td, struct exec *x, long status,
    const char *retry_after);

/* Smoke mode: the canned answer, sent by the loop when it is due; a canned
 * 429 goes through the same retry rules as a real one. */
static void
graph_smoke(struct tokend *td, struct exec *x)
{
	struct graph_answer g;
	struct json_object *o;
	char rid[64];

	smoke_graph(jx_get_str(x->req, "method"), jx_get_str(x->req, "path"),
	    jx_get(x->req, "body"), ++x->attempts, &g);
	if (graph_should_retry(td, x, g.status, g.retry_after)) {
		json_object_put(g.body);
		return;
	}
	snprintf(rid, sizeof(rid), "00000000-0000-4000-8000-%012llx",
	    (unsigned long long)++td->graph_seq);
	o = json_object_new_object();
	jx_add_bool(o, "ok", true);
	jx_add(o, "token", token_meta(x->entry, x->source));
	jx_add(o, "execution", execution_object(g.status, rid, NULL, g.retry_after, g.body));
	x->state = EXEC_WAIT_GRAPH;
	x->answer = o;
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
	if (!method_idempotent(jx_get_str(x->req, "method")) || x->attempts >= GRAPH_MAX_ATTEMPTS)
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
	*execution = execution_object(status, request_id, client_request_id, retry_after, o);
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

static void
graph_headers(struct xfer *xf, struct exec *x)
{
	struct json_object *h = jx_get_obj(x->req, "headers");
	const unsigned char *tok;
	char line[8192];
	int n;

	if (h != NULL) {
		json_object_object_foreach(h, name, v) {
			snprintf(line, sizeof(line), "%s: %s", name, json_object_get_string(v));
			xfer_header(xf, line);
		}
	}
	if (jx_get_obj(x->req, "headers") == NULL || jx_get(h, "accept") == NULL)
		xfer_header(xf, "Accept: application/json");
	tok = guard_open(&x->entry->token);
	n = snprintf(line, sizeof(line), "Authorization: %s %.*s", x->entry->token_type,
	    (int)x->entry->token.len, (const char *)tok);
	guard_close(&x->entry->token);
	x->sent_generation = x->entry->generation;
	x->sent_expires_at = x->entry->expires_at;
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("access token too long for a header");
	xfer_header(xf, line);
	sodium_memzero(line, sizeof(line));
}

static void
graph_body(struct xfer *xf, struct exec *x, const char *method)
{
	struct json_object *body = jx_get(x->req, "body");
	/* jx_text: json-c's own text was NULL (strdup crashed) or cut short
	 * under memory pressure (tests/integration/test_faults.py). */
	const char *text = body ? jx_text(body, NULL) : "";
	char *copy;

	if (strcmp(method, "GET") == 0)
		return;
	if (strcmp(method, "DELETE") == 0) {
		curl_easy_setopt(xf->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
		return;
	}
	if (body != NULL && jx_get(jx_get_obj(x->req, "headers"), "content-type") == NULL)
		xfer_header(xf, "Content-Type: application/json");
	if ((copy = strdup(text)) == NULL)
		fatalx("out of memory");
	xfer_post(xf, method, copy, strlen(copy));
}

void
graph_start(struct tokend *td, struct exec *x)
{
	const char *method = jx_get_str(x->req, "method"), *query = jx_get_str(x->req, "query");
	char url[4096];
	struct xfer *xf;
	int n;

	if (td->cfg.env == BROKER_ENV_SMOKE) {
		graph_smoke(td, x);
		return;
	}
	n = snprintf(url, sizeof(url), "%s%s%s%s", jx_get_str(x->req, "resource"),
	    jx_get_str(x->req, "path"), query ? "?" : "", query ? query : "");
	if (n < 0 || (size_t)n >= sizeof(url)) {
		exec_fail(td, x, ERR_PROVIDER_UNAVAILABLE, "Graph URL too long");
		return;
	}
	xf = xfer_new(td, url, (long)(x->deadline_ms - mono_ms()),
	    (size_t)td->cfg.max_response_bytes, graph_done, x);
	graph_headers(xf, x);
	graph_body(xf, x, method);
	x->attempts++;
	x->state = EXEC_WAIT_GRAPH;
	x->xfer = xf;
	xfer_start(td, xf);
}
