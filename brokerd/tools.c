/* tools/list and tools/call: validation, policy, the hand-off to tokend and
 * the result a client sees.  A call allowed by policy waits in b->calls until
 * tokend answers; every call gets exactly one answer. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "msg.h"
#include "request.h"
#include "timeutil.h"
#include "tools.h"

#define RPC_INVALID_PARAMS -32602

/* ---- schemas ----------------------------------------------------------- */

static const char execute_input_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"contract_version\",\"request_id\",\"requester\",\"graph\",\"operation\"],"
    "\"properties\":{"
    "\"contract_version\":{\"const\":\"v1\"},"
    "\"request_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,"
    "\"pattern\":\"^[!-~]+$\"},"
    "\"requester\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"requester_id\"],\"properties\":{"
    "\"requester_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128},"
    "\"identity_assurance\":{\"type\":\"string\",\"maxLength\":64}}},"
    "\"graph\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"tenant_id\",\"resource\",\"scopes\"],\"properties\":{"
    "\"tenant_id\":{\"type\":\"string\"},"
    "\"resource\":{\"type\":\"string\",\"description\":\"e.g. https://graph.microsoft.com\"},"
    "\"scopes\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":32,"
    "\"items\":{\"type\":\"string\",\"minLength\":1}}}},"
    "\"operation\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"action\",\"method\",\"path\"],\"properties\":{"
    "\"action\":{\"const\":\"downstream_call\"},"
    "\"method\":{\"enum\":[\"GET\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\"]},"
    "\"path\":{\"type\":\"string\",\"description\":\"relative Graph path under /v1.0/ or "
    "/beta/, optionally with ?query\"},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"body\":{\"description\":\"JSON body for POST, PUT and PATCH\"}}},"
    "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":120000,"
    "\"default\":30000}}}";

static const char error_schema[] =
    "{\"type\":\"object\",\"required\":[\"code\",\"message\",\"retryable\",\"category\"],"
    "\"properties\":{\"code\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},"
    "\"retryable\":{\"type\":\"boolean\"},\"category\":{\"type\":\"string\"}}}";

static const char policy_schema[] =
    "{\"type\":\"object\",\"properties\":{\"decision\":{\"enum\":[\"allow\",\"deny\"]},"
    "\"reason\":{\"type\":\"string\"},\"rule\":{\"type\":\"string\"},"
    "\"policy_version\":{\"type\":\"string\"}}}";

static const char execute_output_props[] =
    "{\"status\":{\"enum\":[\"ok\",\"error\"]},\"request_id\":{\"type\":[\"string\",\"null\"]},"
    "\"token\":{\"type\":\"object\",\"properties\":{"
    "\"source\":{\"enum\":[\"minted\",\"cache\",\"cache_fallback\"]},"
    "\"token_type\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"
    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}},"
    "\"execution\":{\"type\":\"object\",\"properties\":{"
    "\"http_status\":{\"type\":\"integer\"},\"provider_request_id\":{\"type\":\"string\"},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"body\":{}}}}";

static const char describe_input_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"resource\":{\"type\":\"string\",\"description\":\"an allowed Graph resource; "
    "default: the first configured\"}}}";

static const char describe_output_props[] =
    "{\"status\":{\"enum\":[\"ok\",\"error\"]},\"tenant_id\":{\"type\":\"string\"},"
    "\"client_id\":{\"type\":\"string\"},\"resource\":{\"type\":\"string\"},"
    "\"cache\":{\"type\":\"object\",\"properties\":{"
    "\"state\":{\"enum\":[\"empty\",\"valid\",\"expired\"]},"
    "\"token_type\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"
    "\"expires_in_s\":{\"type\":\"integer\"},\"refreshing\":{\"type\":\"boolean\"}}}}";

static struct json_object *
output_schema(const char *props_text)
{
	struct json_object *s = json_object_new_object(), *props = jx_literal(props_text);

	jx_add(props, "error", jx_literal(error_schema));
	jx_add(props, "policy", jx_literal(policy_schema));
	jx_add_str(s, "type", "object");
	jx_add(s, "required", jx_literal("[\"status\"]"));
	jx_add(s, "properties", props);
	return s;
}

static struct json_object *
tool_def(const char *protocol, const char *name, const char *title, const char *desc,
    const char *input, const char *output_props, bool read_only)
{
	struct json_object *t = json_object_new_object(), *ann = json_object_new_object();

	jx_add_str(t, "name", name);
	jx_add_str(t, "description", desc);
	jx_add(t, "inputSchema", jx_literal(input));
	if (mcp_structured(protocol)) {
		jx_add_str(t, "title", title);
		jx_add(t, "outputSchema", output_schema(output_props));
	}
	if (strcmp(protocol, "2025-03-26") >= 0) {
		jx_add_bool(ann, "readOnlyHint", read_only);
		jx_add_bool(ann, "openWorldHint", true);
		jx_add(t, "annotations", ann);
	} else {
		json_object_put(ann);
	}
	return t;
}

struct json_object *
tools_list(const char *protocol)
{
	struct json_object *a = json_object_new_array();

	json_object_array_add(a,
	    tool_def(protocol, TOOL_EXECUTE, "Microsoft Graph call",
		"Performs one Microsoft Graph operation with the application's credentials, if "
		"policy allows it. Returns the HTTP status, allowed response headers and JSON body, "
		"and token metadata - never the token. GET only unless mutations are enabled.",
		execute_input_schema, execute_output_props, false));
	json_object_array_add(a,
	    tool_def(protocol, TOOL_DESCRIBE, "Graph token state",
		"Describes the cached application token for a resource: state and expiry. Never "
		"returns the token and never requests one.",
		describe_input_schema, describe_output_props, true));
	return a;
}

/* ---- results ----------------------------------------------------------- */

/* A tool result: the structured JSON, and the same JSON as text for clients
 * that predate structuredContent, and extra (owned, may be NULL: an image
 * or blob) as content of its own.  Capped (a Graph answer, of any size): -1
 * when it would take the session's unread output past
 * MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES, and nothing is sent; the caller
 * answers with a small error instead.  Errors and token descriptions are a
 * few hundred bytes and always sent, so every call gets its one answer. */
static int
tool_result_with(struct session *s, const struct rpc_req *rq, struct json_object *sc,
    bool is_error, bool capped, struct json_object *extra)
{
	size_t len;
	/* jx_text: never a text cut short under memory pressure. */
	const char *sc_text = jx_text(sc, &len);

	return mcp_send_tool_result(s, rq, sc_text, len, is_error, capped, extra);
}

static int
tool_result(struct session *s, const struct rpc_req *rq, struct json_object *sc, bool is_error,
    bool capped)
{
	return tool_result_with(s, rq, sc, is_error, capped, NULL);
}

static struct json_object *
error_object(enum err_code code, const char *msg)
{
	struct json_object *e = json_object_new_object();

	jx_add_str(e, "code", err_name(code));
	jx_add_str(e, "message", msg);
	jx_add_bool(e, "retryable", err_retryable(code));
	jx_add_str(e, "category", err_category(code));
	return e;
}

static struct json_object *
policy_object(const struct config *cfg, const struct policy_decision *d)
{
	struct json_object *p = json_object_new_object();

	jx_add_str(p, "decision", d->allow ? "allow" : "deny");
	jx_add_str(p, "reason", d->reason);
	jx_add_str(p, "rule", d->rule);
	jx_add_str(p, "policy_version", cfg->policy_version);
	return p;
}

/* The failure result: structuredContent.error, plus the policy decision when
 * policy had decided. */
static void
tool_fail(struct session *s, const struct rpc_req *rq, const char *request_id, enum err_code code,
    const char *msg, struct json_object *policy)
{
	struct json_object *sc = json_object_new_object();

	jx_add_str(sc, "status", "error");
	jx_add_str(sc, "request_id", request_id);
	jx_add(sc, "error", error_object(code, msg));
	if (policy != NULL)
		jx_add(sc, "policy", policy);
	tool_result(s, rq, sc, true, false);
	json_object_put(sc);
}

/* ---- calls in flight --------------------------------------------------- */

static struct call *
call_new(struct broker *b, struct session *s, const struct rpc_req *rq, const char *tool,
    long timeout_ms)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		fatalx("out of memory");
	c->ipc_id = ++b->next_ipc_id;
	c->session = s;
	c->rpc = *rq;
	json_object_get(c->rpc.id);
	json_object_get(c->rpc.progress_token);
	c->tool = tool;
	c->started_ms = mono_ms();
	c->deadline_ms = c->started_ms + timeout_ms + CALL_BACKSTOP_MS;
	c->next = b->calls;
	b->calls = c;
	s->inflight++;
	return c;
}

static void
call_free(struct broker *b, struct call *c)
{
	for (struct call **pp = &b->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->session->inflight--;
	json_object_put(c->rpc.id);
	json_object_put(c->rpc.progress_token);
	json_object_put(c->scopes);
	json_object_put(c->detail);
	free(c->request_id);
	free(c->requester_id);
	free(c->target);
	free(c);
}

static struct call *
call_find(struct broker *b, uint64_t ipc_id)
{
	for (struct call *c = b->calls; c != NULL; c = c->next)
		if (c->ipc_id == ipc_id)
			return c;
	return NULL;
}

bool
tools_id_in_flight(const struct broker *b, const struct session *s, struct json_object *id)
{
	for (const struct call *c = b->calls; c != NULL; c = c->next)
		if (c->session == s && json_object_equal(c->rpc.id, id))
			return true;
	return false;
}

/* ---- audit ------------------------------------------------------------- */

struct audit_outcome {
	enum err_code code;
	int http_status; /* 0: none */
	const char *token_source;
	bool cancelled; /* the client cancelled, went away, or brokerd stopped */
	const char *detail; /* why, when the code alone does not say it */
};

/* Who asked: the session and its peer (SO_PEERCRED on the socket; on stdio
 * our own uid and the spawner's pid). */
static void
audit_peer(struct json_object *rec, const struct session *s)
{
	jx_add_int(rec, "session", s->id);
	jx_add_str(rec, "transport", s->transport == SESSION_UNIX ? "unix" : "stdio");
	jx_add_int(rec, "peer_uid", (int64_t)s->peer_uid);
	jx_add_int(rec, "peer_pid", (int64_t)s->peer_pid);
}

/* 0, or -1 when the record could not be written (audit.h). */
static int
audit_call(const struct broker *b, const struct session *s, const char *tool,
    const char *request_id, const char *requester_id, const struct policy_decision *d,
    const struct audit_outcome *out, int64_t started_ms)
{
	struct json_object *rec = json_object_new_object();
	int rc;

	audit_peer(rec, s);
	/* A self-check's calls are real calls, and say what they were. */
	if (b->selfcheck != NULL)
		jx_add_str(rec, "selfcheck", b->selfcheck);
	jx_add_str(rec, "tool", tool);
	jx_add_str(rec, "request_id", request_id);
	jx_add_str(rec, "requester_id", requester_id);
	if (d != NULL) {
		jx_add_str(rec, "decision", d->allow ? "allow" : "deny");
		jx_add_str(rec, "reason", d->reason);
		jx_add_str(rec, "rule", d->rule);
		jx_add_str(rec, "policy_version", b->cfg.policy_version);
	}
	jx_add_str(rec, "outcome",
	    out->cancelled ? "cancelled" : out->code == ERR_NONE ? "ok" : err_name(out->code));
	if (out->http_status > 0)
		jx_add_int(rec, "http_status", out->http_status);
	if (out->token_source != NULL)
		jx_add_str(rec, "token_source", out->token_source);
	if (out->detail != NULL)
		jx_add_str(rec, "detail", out->detail);
	jx_add_int(rec, "duration_ms", mono_ms() - started_ms);
	/* Which secret was current, so a record shows whether a rotation had
	 * taken effect; null until secretd has resolved one. */
	jx_add_str(rec, "secret_fingerprint", b->secret_fingerprint[0] ? b->secret_fingerprint : NULL);
	rc = audit_write("tool_call", rec);
	json_object_put(rec);
	return rc;
}

static int
audit_call_done(const struct broker *b, const struct call *c, const struct audit_outcome *out)
{
	return audit_call(b, c->session, c->tool, c->request_id, c->requester_id,
	    c->has_policy ? &c->policy : NULL, out, c->started_ms);
}

/* Audit before effect: while the last record could not be written, an
 * allowed call is refused before it reaches tokend (and its refusal is
 * recorded; a record written again lifts the refusal).  No audit.* code
 * exists (DESIGN.md section 5): the broker cannot serve the call, so
 * provider.unavailable, retryable once the operator has fixed the sink. */
static bool
audit_refuses(char *msg, size_t len)
{
	const char *why = audit_broken();

	if (why == NULL)
		return false;
	snprintf(msg, len, "audit log cannot be written: %s; the call was not made", why);
	return true;
}

/* ---- auth.graph.operation.execute.v1 ----------------------------------- */

static struct json_object *
scopes_array(const struct strlist *scopes)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < scopes->n; i++)
		json_object_array_add(a, json_object_new_string(scopes->v[i]));
	return a;
}

static void
execute_dispatch(struct broker *b, struct session *s, const struct rpc_req *rq,
    const struct graph_request *req, const struct policy_decision *d)
{
	struct call *c = call_new(b, s, rq, TOOL_EXECUTE, req->timeout_ms);

	if ((c->request_id = strdup(req->request_id)) == NULL ||
	    (c->requester_id = strdup(req->requester_id)) == NULL ||
	    asprintf(&c->target, "%s%s", req->resource, req->path) == -1)
		fatalx("out of memory");
	c->policy = *d;
	c->has_policy = true;
	c->scopes = scopes_array(&req->scopes);
	msg_exec_req_send(&b->tokend.chan, c->ipc_id, req, d);
	log_debug("call %s: %s %s sent to tokend", req->request_id, req->method, req->path);
}

static void
tool_execute(struct broker *b, struct session *s, const struct rpc_req *rq,
    struct json_object *args)
{
	struct graph_request req;
	struct req_error err = { ERR_NONE, "" };
	struct policy_decision d;
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	int64_t started = mono_ms();
	char msg[256];

	if (request_parse(args, &req, &err) == -1) {
		out.code = err.code;
		tool_fail(s, rq, req.request_id, err.code, err.message, NULL);
		audit_call(b, s, TOOL_EXECUTE, req.request_id, req.requester_id, NULL, &out, started);
	} else {
		policy_decide(&b->cfg, &req, &d);
		if (d.allow && audit_refuses(msg, sizeof(msg))) {
			out.code = ERR_PROVIDER_UNAVAILABLE;
			tool_fail(s, rq, req.request_id, out.code, msg, policy_object(&b->cfg, &d));
			audit_call(b, s, TOOL_EXECUTE, req.request_id, req.requester_id, &d, &out, started);
		} else if (d.allow) {
			execute_dispatch(b, s, rq, &req, &d);
		} else {
			out.code = d.code;
			tool_fail(s, rq, req.request_id, d.code, d.message, policy_object(&b->cfg, &d));
			audit_call(b, s, TOOL_EXECUTE, req.request_id, req.requester_id, &d, &out, started);
		}
	}
	request_free(&req);
}

/* The Graph call was made, but its answer would take the session's unread
 * output past its cap: a client that sends calls and does not read their
 * answers would otherwise make brokerd hold them all.  The answer is dropped
 * and the call answered with provider.bad_response, the code a Graph body
 * over MCP_AUTH_BROKER_MAX_RESPONSE_BYTES gets (the body exists but cannot be
 * passed back); not retryable, since asking again while not reading meets
 * the same cap.  The audit record keeps the HTTP status and says why. */
static void
execute_capped(struct broker *b, struct call *c, struct audit_outcome *out)
{
	char msg[320];

	snprintf(msg, sizeof(msg),
	    "the Graph answer (HTTP %d) was not passed on: this session has %zu bytes of "
	    "answers it has not read and the answer would take it past "
	    "MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES (%zu); read the answers before sending "
	    "more calls",
	    out->http_status, buf_avail(&c->session->out), c->session->max_output);
	log_warnx("session %u: call %llu answered provider.bad_response: the session does not "
		  "read its answers (%zu bytes unread)",
	    c->session->id, (unsigned long long)c->ipc_id, buf_avail(&c->session->out));
	tool_fail(c->session, &c->rpc, c->request_id, ERR_PROVIDER_BAD_RESPONSE, msg,
	    policy_object(&b->cfg, &c->policy));
	out->code = ERR_PROVIDER_BAD_RESPONSE;
	out->detail = "answer not passed on: over MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES of "
		      "unread output";
}

/* An image, or other binary content, as MCP content of its own (image, or
 * an embedded resource blob) rather than inside structuredContent: the
 * base64 is sent once, and execution keeps its format and content type. */
static struct json_object *
binary_content(const struct call *c, const struct msg_exec_ans *a)
{
	struct json_object *ex = a->execution, *b64 = NULL, *item = json_object_new_object(), *res;
	const char *ctype = jx_get_str(jx_get_obj(ex, "headers"), "content-type");

	json_object_object_get_ex(ex, "body_base64", &b64);
	json_object_get(b64);
	json_object_object_del(ex, "body_base64");
	if (a->body_format == BODY_IMAGE) {
		jx_add_str(item, "type", "image");
		jx_add(item, "data", b64);
		jx_add_str(item, "mimeType", ctype);
		return item;
	}
	res = json_object_new_object();
	jx_add_str(res, "uri", c->target);
	jx_add_str(res, "mimeType", ctype);
	jx_add(res, "blob", b64);
	jx_add_str(item, "type", "resource");
	jx_add(item, "resource", res);
	return item;
}

static void
execute_done(struct broker *b, struct call *c, const struct msg_exec_ans *a)
{
	struct json_object *sc = json_object_new_object(), *token, *extra = NULL;
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	char msg[256];
	size_t mark;

	if (a->execution == NULL)
		fatalx("EXEC_ANS from tokend without an execution");
	out.http_status = a->http_status;
	out.token_source = msg_token_source_name(a->token.source);
	token = msg_token_meta_json(&a->token);
	jx_add(token, "scopes", json_object_get(c->scopes));
	jx_add_str(sc, "status", "ok");
	jx_add_str(sc, "request_id", c->request_id);
	jx_add(sc, "policy", policy_object(&b->cfg, &c->policy));
	jx_add(sc, "token", token);
	if (a->body_format == BODY_IMAGE || a->body_format == BODY_BINARY)
		extra = binary_content(c, a);
	jx_add(sc, "execution", json_object_get(a->execution));
	/* Queued, not yet written: the audit record is made before the loop
	 * flushes anything, and a Graph answer whose record is lost is taken
	 * back and not disclosed. */
	mark = session_out_mark(c->session);
	if (tool_result_with(c->session, &c->rpc, sc, false, true, extra) == -1)
		execute_capped(b, c, &out);
	if (audit_call_done(b, c, &out) == -1) {
		session_out_rewind(c->session, mark);
		snprintf(msg, sizeof(msg),
		    "audit log cannot be written: %s; the Graph call was made, its result is withheld",
		    audit_broken());
		tool_fail(c->session, &c->rpc, c->request_id, ERR_PROVIDER_UNAVAILABLE, msg,
		    policy_object(&b->cfg, &c->policy));
	}
	json_object_put(sc);
}

/* A call that failed after dispatch: tokend's error, a dead child, or the
 * backstop timer. */
static void
call_fail(struct broker *b, struct call *c, enum err_code code, const char *msg)
{
	struct audit_outcome out = { code, 0, NULL, false, NULL };

	tool_fail(c->session, &c->rpc, c->request_id, code, msg,
	    c->has_policy ? policy_object(&b->cfg, &c->policy) : NULL);
	audit_call_done(b, c, &out);
}

/* ---- auth.graph.token.describe.v1 -------------------------------------- */

/* describe is judged by the resource alone; its decision is recorded like
 * execute's, so that a describe, allowed or denied, leaves one record. */
static void
describe_decide(const struct config *cfg, const char *resource, char *key, size_t len,
    struct policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->rule, sizeof(d->rule), "resource");
	if (!policy_resource_key(resource, key, len) || !config_resource_allowed(cfg, key)) {
		d->code = ERR_POLICY_DENIED;
		snprintf(d->reason, sizeof(d->reason), "policy.rule.deny.resource.not_allowed");
		snprintf(d->message, sizeof(d->message),
		    "resource is not in MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES");
		return;
	}
	d->allow = true;
	snprintf(d->reason, sizeof(d->reason), "policy.rule.allow.token.describe");
}

/* The arguments: only "resource", a string without NUL; NULL and a reason
 * in *why when they are not. */
static const char *
describe_resource(const struct broker *b, struct json_object *args, const char **why)
{
	const char *resource = b->cfg.resources.v[0];

	json_object_object_foreach(args, k, v) {
		/* A NUL in the resource would cut it short where it is used:
		 * "https://graph.microsoft.com\u0000x" was described as the
		 * allowed resource (found by tests/integration/test_hostile_input.py). */
		if (strcmp(k, "resource") != 0 || !json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
			*why = strcmp(k, "resource") ? "unknown field (only \"resource\" is accepted)"
						     : "resource must be a string without NUL characters";
			return NULL;
		}
		resource = json_object_get_string(v);
	}
	return resource;
}

static void
tool_describe(struct broker *b, struct session *s, const struct rpc_req *rq,
    struct json_object *args)
{
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	const char *resource, *why = NULL;
	struct json_object *detail;
	struct policy_decision d;
	int64_t started = mono_ms();
	struct call *c;
	char key[512], msg[256];

	if ((resource = describe_resource(b, args, &why)) == NULL) {
		out.code = ERR_BAD_REQUEST_INVALID_FIELD;
		tool_fail(s, rq, NULL, out.code, why, NULL);
		audit_call(b, s, TOOL_DESCRIBE, NULL, NULL, NULL, &out, started);
		return;
	}
	describe_decide(&b->cfg, resource, key, sizeof(key), &d);
	if (!d.allow || audit_refuses(msg, sizeof(msg))) {
		out.code = d.allow ? ERR_PROVIDER_UNAVAILABLE : d.code;
		tool_fail(s, rq, NULL, out.code, d.allow ? msg : d.message, NULL);
		audit_call(b, s, TOOL_DESCRIBE, NULL, NULL, &d, &out, started);
		return;
	}
	c = call_new(b, s, rq, TOOL_DESCRIBE, 0);
	c->policy = d;
	c->has_policy = true;
	detail = json_object_new_object();
	jx_add_str(detail, "tenant_id", b->cfg.tenant_id);
	jx_add_str(detail, "client_id", b->cfg.client_id);
	jx_add_str(detail, "resource", key);
	c->detail = detail;
	msg_describe_req_send(&b->tokend.chan, c->ipc_id, key);
}

static void
describe_done(struct broker *b, struct call *c, const struct msg_describe_ans *a)
{
	struct json_object *sc = json_object_new_object();
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	char msg[256];
	size_t mark;

	jx_add_str(sc, "status", "ok");
	json_object_object_foreach(c->detail, k, v) jx_add(sc, k, json_object_get(v));
	jx_add(sc, "cache", msg_describe_ans_json(a));
	/* Recorded before the client sees the token state, as execute. */
	mark = session_out_mark(c->session);
	tool_result(c->session, &c->rpc, sc, false, false);
	if (audit_call_done(b, c, &out) == -1) {
		session_out_rewind(c->session, mark);
		snprintf(msg, sizeof(msg), "audit log cannot be written: %s", audit_broken());
		tool_fail(c->session, &c->rpc, NULL, ERR_PROVIDER_UNAVAILABLE, msg, NULL);
	}
	json_object_put(sc);
}

/* ---- dispatch ---------------------------------------------------------- */

void
tools_call(struct broker *b, struct session *s, const struct rpc_req *rq,
    struct json_object *params)
{
	const char *name = jx_get_str(params, "name");
	struct json_object *args = NULL, *empty = NULL;

	if (name == NULL) {
		mcp_send_error(s, rq->id, RPC_INVALID_PARAMS, "Invalid params",
		    "params.name must be a string");
		return;
	}
	/* "auth.graph.token.describe.v1\u0000x" is not the tool's name, though
	 * strcmp would say so (found by tests/integration/test_hostile_input.py). */
	if (strlen(name) != (size_t)json_object_get_string_len(jx_get(params, "name"))) {
		mcp_send_error(s, rq->id, RPC_INVALID_PARAMS, "Invalid params", "unknown tool");
		return;
	}
	if (!json_object_object_get_ex(params, "arguments", &args) || args == NULL)
		args = empty = json_object_new_object();
	if (!json_object_is_type(args, json_type_object)) {
		mcp_send_error(s, rq->id, RPC_INVALID_PARAMS, "Invalid params",
		    "params.arguments must be an object");
	} else if (strcmp(name, TOOL_EXECUTE) == 0) {
		tool_execute(b, s, rq, args);
	} else if (strcmp(name, TOOL_DESCRIBE) == 0) {
		tool_describe(b, s, rq, args);
	} else {
		mcp_send_error(s, rq->id, RPC_INVALID_PARAMS, "Invalid params", "unknown tool");
	}
	json_object_put(empty);
}

/* tokend says a call waits on a retry: a client that sent a progressToken
 * hears of it; progress counts the waits, so it grows with each one. */
static void
call_progress(struct call *c, const struct msg_progress *report)
{
	struct json_object *p;

	if (c->rpc.progress_token == NULL)
		return;
	p = json_object_new_object();
	jx_add(p, "progressToken", json_object_get(c->rpc.progress_token));
	jx_add_int(p, "progress", ++c->progress_seq);
	jx_add_str(p, "message", report->message);
	log_debug("call %llu: progress, retry in %lld ms", (unsigned long long)c->ipc_id,
	    (long long)report->retry_in_ms);
	mcp_send_notification(c->session, "notifications/progress", p);
}

static void
tools_progress(struct call *c, const struct ipc_msg *m)
{
	struct msg_progress p;
	const char *why = NULL;

	if (msg_progress_decode(m, &p, &why) == -1)
		fatalx("malformed PROGRESS from tokend: %s", why);
	if (c != NULL) /* else: answered, cancelled or expired meanwhile */
		call_progress(c, &p);
}

static void
tools_describe_answer(struct broker *b, struct call *c, const struct ipc_msg *m)
{
	struct msg_describe_ans a;
	const char *why = NULL;

	if (msg_describe_ans_decode(m, &a, &why) == -1)
		fatalx("malformed DESCRIBE_ANS from tokend: %s", why);
	if (c != NULL && strcmp(c->tool, TOOL_DESCRIBE) != 0)
		fatalx("DESCRIBE_ANS from tokend for an execute call");
	if (c != NULL)
		describe_done(b, c, &a);
}

static void
tools_exec_answer(struct broker *b, struct call *c, const struct ipc_msg *m)
{
	struct msg_exec_ans a;
	const char *why = NULL;

	if (msg_exec_ans_decode(m, &a, &why) == -1)
		fatalx("malformed EXEC_ANS from tokend: %s", why);
	if (c != NULL && strcmp(c->tool, TOOL_EXECUTE) != 0)
		fatalx("EXEC_ANS from tokend for a describe call");
	if (c != NULL && a.code != ERR_NONE)
		call_fail(b, c, a.code, a.message);
	else if (c != NULL)
		execute_done(b, c, &a);
	msg_exec_ans_free(&a);
}

void
tools_answer(struct broker *b, const struct ipc_msg *m)
{
	struct call *c = call_find(b, m->hdr.id);

	/* Every answer is decoded, even one for a call no longer waiting:
	 * whether tokend is still sane does not depend on the client. */
	if (m->hdr.type == MSG_PROGRESS) {
		tools_progress(c, m);
		return;
	}
	if (c == NULL) /* answered already by the backstop timer, or cancelled */
		log_debug("late answer from tokend for call %llu", (unsigned long long)m->hdr.id);
	if (m->hdr.type == MSG_DESCRIBE_ANS)
		tools_describe_answer(b, c, m);
	else
		tools_exec_answer(b, c, m);
	if (c != NULL)
		call_free(b, c);
}

void
tools_fail_all(struct broker *b, enum err_code code, const char *msg)
{
	while (b->calls != NULL) {
		call_fail(b, b->calls, code, msg);
		call_free(b, b->calls);
	}
}

/* The shutdown grace period is over: what is still in flight is stopped in
 * tokend and answered, retryable, so the client can ask again elsewhere. */
void
tools_shutdown(struct broker *b)
{
	while (b->calls != NULL) {
		msg_cancel_req_send(&b->tokend.chan, b->calls->ipc_id);
		call_fail(b, b->calls, ERR_PROVIDER_UNAVAILABLE,
		    "brokerd is shutting down; the call was cancelled");
		call_free(b, b->calls);
	}
}

/* Stops the call in tokend (which sends nothing more for it), records the
 * outcome, and forgets it: whatever tokend had sent meanwhile is dropped. */
static void
call_cancel(struct broker *b, struct call *c, const char *why)
{
	struct audit_outcome out = { ERR_NONE, 0, NULL, true, NULL };

	msg_cancel_req_send(&b->tokend.chan, c->ipc_id);
	log_info("session %u: call %llu cancelled (%s)", c->session->id,
	    (unsigned long long)c->ipc_id, why);
	audit_call_done(b, c, &out);
	call_free(b, c);
}

void
tools_cancel(struct broker *b, struct session *s, struct json_object *rpc_id, const char *reason)
{
	char why[96];

	for (struct call *c = b->calls; c != NULL; c = c->next) {
		if (c->session != s || !json_object_equal(c->rpc.id, rpc_id))
			continue;
		/* The reason is the client's text: cut, and only printable ASCII. */
		snprintf(why, sizeof(why), "client: %.80s", reason ? reason : "no reason given");
		for (char *p = why; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		call_cancel(b, c, why);
		return;
	}
	log_debug("session %u: cancellation for a request not in flight", s->id);
}

void
tools_drop_session(struct broker *b, struct session *s)
{
	struct call *c, *next;

	for (c = b->calls; c != NULL; c = next) {
		next = c->next;
		if (c->session == s)
			call_cancel(b, c, "the session ended");
	}
}

void
tools_expire(struct broker *b)
{
	int64_t now = mono_ms();
	struct call *c, *next;

	for (c = b->calls; c != NULL; c = next) {
		next = c->next;
		if (c->deadline_ms > now)
			continue;
		log_warnx("tokend did not answer call %llu in time", (unsigned long long)c->ipc_id);
		call_fail(b, c, ERR_PROVIDER_TIMEOUT, "no answer from tokend in time");
		call_free(b, c);
	}
}

int64_t
tools_next_deadline(const struct broker *b)
{
	int64_t next = -1;

	for (const struct call *c = b->calls; c != NULL; c = c->next)
		if (next < 0 || c->deadline_ms < next)
			next = c->deadline_ms;
	return next;
}
