/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* tools/list and tools/call: validation, policy, the hand-off to tokend and
 * the result a client sees.  A call allowed by policy waits in b->calls until
 * tokend answers; every call gets exactly one answer. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "request.h"
#include "timeutil.h"
#include "tools.h"

#define RPC_INVALID_PARAMS -32602

/* ---- schemas ----------------------------------------------------------- */

/* Every property says what it is (a keyword, one "type"): clients that map
 * schemas onto a single-type dialect (Gemini's) or that lint them
 * (mcp-inspector --strict) accept these as they are.  Only "operation" is
 * required: what a call leaves out has a default (request_fill_defaults). */
static const char execute_input_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"operation\"],"
    "\"properties\":{"
    "\"contract_version\":{\"type\":\"string\",\"pattern\":\"^(v0\\\\.1\\\\.(0|[1-9][0-9]{0,8})|v1)$\","
    "\"default\":\"" REQ_CONTRACT_VERSION "\",\"description\":\"the request contract: "
    REQ_CONTRACT_VERSION " or a later v0.1.x (\\\"v1\\\" is accepted too); echoed in the "
    "result\"},"
    "\"request_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,"
    "\"pattern\":\"^[!-~]+$\",\"description\":\"your id for the call, echoed in the result "
    "and the audit record; default: one is generated\"},"
    "\"requester\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"requester_id\"],\"description\":\"on whose behalf; default: the "
    "session's peer (uid and pid), identity_assurance local_peer\",\"properties\":{"
    "\"requester_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128},"
    "\"identity_assurance\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}}},"
    "\"graph\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"description\":\"whose token; every member defaults from the configuration\","
    "\"properties\":{"
    "\"tenant_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":253,"
    "\"description\":\"default: the tenant this broker serves\"},"
    "\"resource\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":256,"
    "\"description\":\"e.g. https://graph.microsoft.com; default: the first allowed "
    "resource\"},"
    "\"scopes\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":32,"
    "\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":256},"
    "\"description\":\"default: every allowed scope\"}}},"
    "\"operation\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"required\":[\"method\",\"path\"],\"properties\":{"
    "\"action\":{\"type\":\"string\",\"enum\":[\"downstream_call\"],"
    "\"default\":\"downstream_call\"},"
    "\"method\":{\"type\":\"string\",\"enum\":[\"GET\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\"]},"
    "\"path\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048,"
    "\"description\":\"relative Graph path under /v1.0/ or /beta/, optionally with "
    "?query, e.g. /v1.0/users?$top=5\"},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":false,"
    "\"description\":\"request headers (lower-case names); any other is refused\","
    "\"properties\":{\"accept\":{\"type\":\"string\"},\"content-type\":{\"type\":\"string\"},"
    "\"if-match\":{\"type\":\"string\"},\"prefer\":{\"type\":\"string\"},"
    "\"consistencylevel\":{\"type\":\"string\"},"
    "\"consistency-level\":{\"type\":\"string\"}}},"
    "\"body\":{\"type\":\"object\",\"additionalProperties\":true,"
    "\"description\":\"JSON body for POST, PUT and PATCH\"}}},"
    "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":120000,"
    "\"default\":30000},"
    "\"max_pages\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000,\"default\":1,"
    "\"description\":\"GET only: follow Graph's @odata.nextLink up to this many pages and "
    "merge their value arrays (capped by the configuration); execution.paging says where to "
    "continue\"}}}";

static const char error_schema[] =
    "{\"type\":\"object\",\"required\":[\"code\",\"message\",\"retryable\",\"category\"],"
    "\"properties\":{\"code\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},"
    "\"retryable\":{\"type\":\"boolean\"},\"category\":{\"type\":\"string\"}}}";

static const char policy_schema[] =
    "{\"type\":\"object\",\"properties\":{\"decision\":{\"type\":\"string\","
    "\"enum\":[\"allow\",\"deny\"]},"
    "\"reason\":{\"type\":\"string\"},\"rule\":{\"type\":\"string\"},"
    "\"policy_version\":{\"type\":\"string\"}}}";

/* Graph's body is whatever JSON it answered (null when it sent none): one
 * branch per type rather than a type array, for single-type dialects. */
/* How a Graph body travels (README: Tokens and Graph), and the body. */
#define BODY_FORMAT_SCHEMA                                                                      \
	"{\"type\":\"string\",\"enum\":[\"empty\",\"json\",\"text\",\"image\",\"binary\","      \
	"\"batch\"]}"
#define BODY_SCHEMA                                                                             \
	"{\"description\":\"Graph's answer: JSON as JSON, text as a string; null for no body, an "  \
	"image or binary content (sent as MCP content of its own) and a batch\","                   \
	"\"anyOf\":[{\"type\":\"object\"},{\"type\":\"array\"},{\"type\":\"string\"},"              \
	"{\"type\":\"number\"},{\"type\":\"boolean\"},{\"type\":\"null\"}]}"

static const char execute_output_props[] =
    "{\"status\":{\"type\":\"string\",\"enum\":[\"ok\",\"error\"]},"
    "\"request_id\":{\"type\":\"string\"},"
    "\"token\":{\"type\":\"object\",\"properties\":{"
    "\"source\":{\"type\":\"string\",\"enum\":[\"minted\",\"cache\",\"cache_fallback\"]},"
    "\"token_type\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"
    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}},"
    "\"execution\":{\"type\":\"object\",\"properties\":{"
    "\"http_status\":{\"type\":\"integer\"},\"provider_request_id\":{\"type\":\"string\"},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"body_format\":" BODY_FORMAT_SCHEMA ","
    "\"body\":" BODY_SCHEMA ","
    "\"responses\":{\"type\":\"array\",\"description\":\"a $batch answer: one entry per "
    "request\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"string\"},\"status\":{\"type\":\"integer\"},"
    "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "\"body_format\":" BODY_FORMAT_SCHEMA ",\"body\":" BODY_SCHEMA ","
    "\"body_base64\":{\"type\":\"string\",\"description\":\"an image or binary body\"}}}},"
    "\"paging\":{\"type\":\"object\",\"description\":\"max_pages over 1: what was "
    "merged\",\"properties\":{\"pages\":{\"type\":\"integer\"},"
    "\"items\":{\"type\":\"integer\"},\"truncated\":{\"type\":\"boolean\"},"
    "\"next_link\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],"
    "\"description\":\"where to continue from (GET it as a path)\"},"
    "\"stopped\":{\"type\":\"string\"}}}}}}";

static const char describe_input_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"resource\":{\"type\":\"string\",\"minLength\":1,\"description\":\"an allowed Graph "
    "resource; default: the first configured\"},"
    "\"contract_version\":{\"type\":\"string\",\"pattern\":\"^(v0\\\\.1\\\\.(0|[1-9][0-9]{0,8})|v1)$\","
    "\"default\":\"" REQ_CONTRACT_VERSION "\"},"
    "\"request_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,"
    "\"pattern\":\"^[!-~]+$\",\"description\":\"default: one is generated\"}}}";

static const char describe_output_props[] =
    "{\"status\":{\"type\":\"string\",\"enum\":[\"ok\",\"error\"]},"
    "\"request_id\":{\"type\":\"string\"},\"tenant_id\":{\"type\":\"string\"},"
    "\"client_id\":{\"type\":\"string\"},\"resource\":{\"type\":\"string\"},"
    "\"cache\":{\"type\":\"object\",\"properties\":{"
    "\"state\":{\"type\":\"string\",\"enum\":[\"empty\",\"valid\",\"expired\"]},"
    "\"token_type\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"
    "\"expires_in_s\":{\"type\":\"integer\"},\"refreshing\":{\"type\":\"boolean\"},"
    "\"throttled\":{\"type\":\"boolean\",\"description\":\"login requests for this "
    "resource are held back after a 429 or repeated refusals\"}}}}";

/* Every result, success or failure, says which contract it answers and
 * which request; error and policy are there when they apply. */
static struct json_object *
output_schema(const char *props_text)
{
	struct json_object *s = json_object_new_object(), *props = jx_literal(props_text);

	jx_add(props, "contract_version", jx_literal("{\"type\":\"string\"}"));
	jx_add(props, "error", jx_literal(error_schema));
	jx_add(props, "policy", jx_literal(policy_schema));
	jx_add_str(s, "type", "object");
	jx_add(s, "required", jx_literal("[\"contract_version\",\"status\",\"request_id\"]"));
	jx_add(s, "properties", props);
	return s;
}

const char *
tools_listed_name(const struct config *cfg, const char *tool)
{
	if (cfg->tool_names != TOOL_NAMES_ORIGINAL)
		return tool;
	return strcmp(tool, TOOL_EXECUTE) == 0 ? TOOL_EXECUTE_ORIGINAL : TOOL_DESCRIBE_ORIGINAL;
}

/* The canonical name (TOOL_EXECUTE or TOOL_DESCRIBE) of a name a client
 * calls, listed or not; NULL for no tool of ours. */
static const char *
tools_canonical_name(const char *name)
{
	if (strcmp(name, TOOL_EXECUTE) == 0 || strcmp(name, TOOL_EXECUTE_ORIGINAL) == 0)
		return TOOL_EXECUTE;
	if (strcmp(name, TOOL_DESCRIBE) == 0 || strcmp(name, TOOL_DESCRIBE_ORIGINAL) == 0)
		return TOOL_DESCRIBE;
	return NULL;
}

struct tool_spec {
	const char *name, *title, *input, *output_props;
	const char *description;
	bool read_only, destructive, idempotent, open_world;
};

/* Hints (2025-03-26 on): execute is read-only exactly while mutations are
 * off; with them on it can delete (destructive) and POST is not idempotent.
 * describe reads brokerd's view of tokend's cache: no outside world. */
static struct json_object *
tool_annotations(const struct tool_spec *spec)
{
	struct json_object *ann = json_object_new_object();

	jx_add_str(ann, "title", spec->title);
	jx_add_bool(ann, "readOnlyHint", spec->read_only);
	if (!spec->read_only) { /* the spec: meaningful only when not read-only */
		jx_add_bool(ann, "destructiveHint", spec->destructive);
		jx_add_bool(ann, "idempotentHint", spec->idempotent);
	}
	jx_add_bool(ann, "openWorldHint", spec->open_world);
	return ann;
}

static struct json_object *
tool_def(const char *protocol, const struct tool_spec *spec)
{
	struct json_object *t = json_object_new_object();

	jx_add_str(t, "name", spec->name);
	jx_add_str(t, "description", spec->description);
	jx_add(t, "inputSchema", jx_literal(spec->input));
	if (mcp_structured(protocol)) {
		jx_add_str(t, "title", spec->title);
		jx_add(t, "outputSchema", output_schema(spec->output_props));
	}
	if (strcmp(protocol, "2025-03-26") >= 0)
		jx_add(t, "annotations", tool_annotations(spec));
	return t;
}

struct json_object *
tools_list(const struct config *cfg, const char *protocol)
{
	struct json_object *a = json_object_new_array();
	char execute_desc[TOOLDOC_MAX], describe_desc[TOOLDOC_MAX];
	struct tool_spec execute = { tools_listed_name(cfg, TOOL_EXECUTE), "Microsoft Graph call",
		execute_input_schema, execute_output_props, execute_desc, !cfg->enable_mutations,
		true, false, true };
	struct tool_spec describe = { tools_listed_name(cfg, TOOL_DESCRIBE), "Graph token state",
		describe_input_schema, describe_output_props, describe_desc, true, false, true,
		false };

	tooldoc_execute(cfg, execute_desc, sizeof(execute_desc));
	tooldoc_describe(cfg, describe_desc, sizeof(describe_desc));
	json_object_array_add(a, tool_def(protocol, &execute));
	json_object_array_add(a, tool_def(protocol, &describe));
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
 * policy had decided.  cv: the contract_version the request gave, or NULL. */
static void
tool_fail(struct session *s, const struct rpc_req *rq, const char *cv, const char *request_id,
    enum err_code code, const char *msg, struct json_object *policy)
{
	struct json_object *sc = json_object_new_object();

	jx_add_str(sc, "contract_version", request_contract_version(cv));
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
	free(c->contract_version);
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

/* Whether a call made in session a belongs to the client of session b:
 * over HTTP each request has a session of its own, and the requests of
 * one Mcp-Session-Id (and caller) are one client's. */
static bool
same_client(const struct session *a, const struct session *b)
{
	if (a == b)
		return true;
	return a->transport == SESSION_HTTP && b->transport == SESSION_HTTP &&
	    a->http_sid[0] != '\0' && strcmp(a->http_sid, b->http_sid) == 0 &&
	    strcmp(a->caller, b->caller) == 0;
}

bool
tools_id_in_flight(const struct broker *b, const struct session *s, struct json_object *id)
{
	for (const struct call *c = b->calls; c != NULL; c = c->next)
		if (same_client(c->session, s) && json_object_equal(c->rpc.id, id))
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
 * our own uid and the spawner's pid), the same for each of the session's
 * records: written once. */
static const char *
audit_peer(struct session *s, size_t *len)
{
	struct json_object *o;
	const char *text;
	size_t n;

	/* Built once per session with json-c, so a caller's name is escaped
	 * like every other string; the braces are left off. */
	if (s->audit_members_len == 0) {
		o = json_object_new_object();
		jx_add_int(o, "session", s->id);
		jx_add_str(o, "transport", s->transport == SESSION_UNIX ? "unix" :
			s->transport == SESSION_HTTP ? "http" : "stdio");
		if (s->transport == SESSION_HTTP) {
			jx_add_str(o, "auth_method", s->auth_method != NULL ? s->auth_method : "none");
			if (s->caller[0] != '\0')
				jx_add_str(o, "caller", s->caller);
			/* OAuth: which client application, and which token (its
			 * id and a hash: never the token). */
			if (s->caller_app[0] != '\0')
				jx_add_str(o, "caller_app", s->caller_app);
			if (s->token_jti[0] != '\0')
				jx_add_str(o, "token_jti", s->token_jti);
			if (s->token_hash[0] != '\0')
				jx_add_str(o, "token_sha256", s->token_hash);
		} else {
			jx_add_int(o, "peer_uid", (int64_t)s->peer_uid);
			jx_add_int(o, "peer_pid", (int64_t)s->peer_pid);
		}
		text = jx_text(o, &n);
		if (n < 2 || n - 2 >= sizeof(s->audit_members))
			fatalx("audit record prefix does not fit");
		memcpy(s->audit_members, text + 1, n - 2);
		s->audit_members[n - 2] = '\0';
		s->audit_members_len = n - 2;
		json_object_put(o);
	}
	*len = s->audit_members_len;
	return s->audit_members;
}

/* 0, or -1 when the record could not be written (audit.h).  tool: the name
 * the client called. */
static int
audit_call(const struct broker *b, struct session *s, const char *tool,
    const char *request_id, const char *requester_id, const struct policy_decision *d,
    const struct audit_outcome *out, int64_t started_ms)
{
	struct audit_line rec;
	const char *peer, *canonical = tools_canonical_name(tool);
	size_t peer_len;
	int rc;

	peer = audit_peer(s, &peer_len);
	audit_line_begin(&rec, peer, peer_len);
	/* A self-check's calls are real calls, and say what they were. */
	if (b->selfcheck != NULL)
		audit_line_str(&rec, "selfcheck", b->selfcheck);
	/* The canonical name, whichever the client called, so one query finds
	 * every call of a tool; called_as tells the clients of the original
	 * names apart. */
	audit_line_str(&rec, "tool", canonical);
	if (strcmp(tool, canonical) != 0)
		audit_line_str(&rec, "called_as", tool);
	audit_line_str(&rec, "request_id", request_id);
	/* An authenticated caller is who asked, even for a call that names no
	 * requester (describe) or could not be read. */
	audit_line_str(&rec, "requester_id", s->caller[0] != '\0' ? s->caller : requester_id);
	if (d != NULL) {
		audit_line_str(&rec, "decision", d->allow ? "allow" : "deny");
		audit_line_str(&rec, "reason", d->reason);
		audit_line_str(&rec, "rule", d->rule);
		audit_line_str(&rec, "policy_version", b->cfg.policy_version);
	}
	audit_line_str(&rec, "outcome",
	    out->cancelled ? "cancelled" : out->code == ERR_NONE ? "ok" : err_name(out->code));
	if (out->http_status > 0)
		audit_line_int(&rec, "http_status", out->http_status);
	if (out->token_source != NULL)
		audit_line_str(&rec, "token_source", out->token_source);
	if (out->detail != NULL)
		audit_line_str(&rec, "detail", out->detail);
	audit_line_int(&rec, "duration_ms", mono_ms() - started_ms);
	/* Which secret was current, so a record shows whether a rotation had
	 * taken effect; null until secretd has resolved one. */
	audit_line_str(&rec, "secret_fingerprint",
	    b->secret_fingerprint[0] ? b->secret_fingerprint : NULL);
	rc = audit_line_write(&rec, "tool_call");
	/* Counted as the client sees it: a result whose record was lost is
	 * withheld and answered provider.unavailable (the callers below). */
	metrics_tool_call(canonical,
	    rc == -1 && out->code == ERR_NONE && !out->cancelled ? ERR_PROVIDER_UNAVAILABLE
								 : out->code,
	    out->cancelled, mono_ms() - started_ms);
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

/* ---- graph_execute (auth.graph.operation.execute.v1) ------------------- */

static struct json_object *
scopes_array(const struct strlist *scopes)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < scopes->n; i++)
		json_object_array_add(a, json_object_new_string(scopes->v[i]));
	return a;
}

static void
execute_dispatch(struct broker *b, struct session *s, const struct rpc_req *rq, const char *tool,
    const struct graph_request *req, const struct policy_decision *d)
{
	struct call *c = call_new(b, s, rq, tool, req->timeout_ms);

	if ((c->request_id = strdup(req->request_id)) == NULL ||
	    (c->requester_id = strdup(req->requester_id)) == NULL ||
	    asprintf(&c->target, "%s%s", req->resource, req->path) == -1 ||
	    (req->contract_version != NULL &&
		(c->contract_version = strdup(req->contract_version)) == NULL))
		fatalx("out of memory");
	c->policy = *d;
	c->has_policy = true;
	c->scopes = scopes_array(&req->scopes);
	struct msg_caller who = { "", s->credential };

	if (s->credential != NULL)
		snprintf(who.method, sizeof(who.method), "%s", s->auth_method);
	msg_exec_req_send(&b->tokend.chan, c->ipc_id, req, d, &who);
	log_debug("call %s: %s %s sent to tokend", req->request_id, req->method, req->path);
}

/* A request id for a call that names none, so that every result and audit
 * record can be matched: random, as ids from several brokers (or from one
 * restarted) end up in one log. */
static void
request_id_generate(char *out, size_t len)
{
	unsigned char r[8];
	char hex[sizeof(r) * 2 + 1];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
	snprintf(out, len, "req-%s", hex);
}

/* The session's peer stands for the requester when the call names none:
 * SO_PEERCRED on the socket, our uid and the spawner's pid on stdio. */
static void
session_requester(const struct session *s, char *out, size_t len)
{
	if (s->transport == SESSION_HTTP)
		snprintf(out, len, "%s", s->caller[0] != '\0' ? s->caller : "http:anonymous");
	else
		snprintf(out, len, "uid:%lu/pid:%ld", (unsigned long)s->peer_uid, (long)s->peer_pid);
}

/* An authenticated HTTP caller is the requester, whatever the request
 * says: a key's holder cannot act in another's name (issue 11). */
static void
requester_override(const struct session *s, struct graph_request *req)
{
	if (s->transport != SESSION_HTTP || s->caller[0] == '\0')
		return;
	free(req->requester_id);
	free(req->identity_assurance);
	if ((req->requester_id = strdup(s->caller)) == NULL ||
	    (req->identity_assurance = strdup("verified")) == NULL)
		fatalx("out of memory");
}

static void
tool_execute(struct broker *b, struct session *s, const struct rpc_req *rq, const char *tool,
    struct json_object *args)
{
	struct graph_request req;
	struct req_error err = { ERR_NONE, "" };
	struct policy_decision d;
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	int64_t started = mono_ms();
	char msg[256], generated_id[32], requester[136];
	struct req_defaults def = { generated_id, requester, "local_peer" };
	const char *id;

	session_requester(s, requester, sizeof(requester));
	if (s->transport == SESSION_HTTP && s->caller[0] != '\0')
		def.identity_assurance = "verified";
	/* Only when the call names none: each is a getrandom(2). */
	if (request_parse(args, &req, &err) == -1) {
		out.code = err.code;
		if (req.request_id == NULL)
			request_id_generate(generated_id, sizeof(generated_id));
		id = req.request_id != NULL ? req.request_id : generated_id;
		tool_fail(s, rq, req.contract_version, id, err.code, err.message, NULL);
		audit_call(b, s, tool, id, req.requester_id, NULL, &out, started);
	} else {
		requester_override(s, &req);
		/* Defaults before policy: policy, and tokend after it, judge the
		 * request that is made. */
		if (req.request_id == NULL)
			request_id_generate(generated_id, sizeof(generated_id));
		request_fill_defaults(&req, &b->cfg, &def);
		/* Per-caller rules look at what authentication established. */
		req.caller = s->verified ? &s->roles : NULL;
		policy_decide(&b->cfg, &req, &d);
		if (d.allow && audit_refuses(msg, sizeof(msg))) {
			out.code = ERR_PROVIDER_UNAVAILABLE;
			tool_fail(s, rq, req.contract_version, req.request_id, out.code, msg,
			    policy_object(&b->cfg, &d));
			audit_call(b, s, tool, req.request_id, req.requester_id, &d, &out, started);
		} else if (d.allow) {
			execute_dispatch(b, s, rq, tool, &req, &d);
		} else {
			out.code = d.code;
			tool_fail(s, rq, req.contract_version, req.request_id, d.code, d.message,
			    policy_object(&b->cfg, &d));
			audit_call(b, s, tool, req.request_id, req.requester_id, &d, &out, started);
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
	tool_fail(c->session, &c->rpc, c->contract_version, c->request_id, ERR_PROVIDER_BAD_RESPONSE, msg,
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
	jx_add_str(sc, "contract_version", request_contract_version(c->contract_version));
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
		tool_fail(c->session, &c->rpc, c->contract_version, c->request_id,
		    ERR_PROVIDER_UNAVAILABLE, msg, policy_object(&b->cfg, &c->policy));
	}
	json_object_put(sc);
}

/* A call that failed after dispatch: tokend's error, a dead child, or the
 * backstop timer. */
static void
call_fail(struct broker *b, struct call *c, enum err_code code, const char *msg)
{
	struct audit_outcome out = { code, 0, NULL, false, NULL };

	tool_fail(c->session, &c->rpc, c->contract_version, c->request_id, code, msg,
	    c->has_policy ? policy_object(&b->cfg, &c->policy) : NULL);
	audit_call_done(b, c, &out);
}

/* ---- graph_token_describe (auth.graph.token.describe.v1) --------------- */

/* describe is judged by the resource alone; its decision is recorded like
 * execute's, so that a describe, allowed or denied, leaves one record. */
static void
describe_decide(const struct config *cfg, const char *resource, char *key, size_t len,
    struct policy_decision *d)
{
	char hint[POLICY_HINT_LEN];

	memset(d, 0, sizeof(*d));
	snprintf(d->rule, sizeof(d->rule), "resource");
	if (!policy_resource_key(resource, key, len) || !config_resource_allowed(cfg, key)) {
		d->code = ERR_POLICY_DENIED;
		snprintf(d->reason, sizeof(d->reason), "policy.rule.deny.resource.not_allowed");
		snprintf(d->message, sizeof(d->message),
		    "resource is not in MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES; allowed: %s",
		    policy_hint_list(hint, sizeof(hint), (const char *const *)cfg->resources.v,
			cfg->resources.n));
		return;
	}
	d->allow = true;
	snprintf(d->reason, sizeof(d->reason), "policy.rule.allow.token.describe");
}

/* describe's arguments: references into the arguments object, or the
 * defaults; they live as long as it does. */
struct describe_args {
	const char *resource;
	const char *cv;		/* contract_version as given, or NULL */
	const char *request_id; /* as given, or NULL */
};

/* A string member without NUL: a NUL would cut it short where it is used
 * ("https://graph.microsoft.com\u0000x" was described as the allowed
 * resource, found by tests/integration/test_hostile_input.py). */
static bool
describe_string(struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	    strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

/* The arguments: "resource", "contract_version" and "request_id", each
 * optional; -1 and a reason in *why when they are not acceptable. */
static int
describe_parse(const struct broker *b, struct json_object *args, struct describe_args *da,
    const char **why)
{
	da->resource = b->cfg.resources.v[0];
	da->cv = da->request_id = NULL;
	json_object_object_foreach(args, k, v) {
		size_t len = describe_string(v) ? strlen(json_object_get_string(v)) : 0;

		if (strcmp(k, "resource") == 0 && len > 0) {
			da->resource = json_object_get_string(v);
		} else if (strcmp(k, "contract_version") == 0 && request_contract_version_ok(v)) {
			da->cv = json_object_get_string(v);
		} else if (strcmp(k, "request_id") == 0 && request_id_ok(v)) {
			da->request_id = json_object_get_string(v);
		} else {
			*why = strcmp(k, "resource") == 0 ?
				"resource must be a non-empty string without NUL characters" :
			    strcmp(k, "contract_version") == 0 ?
				"contract_version must be \"" REQ_CONTRACT_VERSION "\" (or a later "
				"v0.1.x, or \"" REQ_CONTRACT_ALIAS "\")" :
			    strcmp(k, "request_id") == 0 ?
				"request_id must be 1 to 128 visible ASCII characters" :
				"unknown field (only \"resource\", \"contract_version\" and "
				"\"request_id\" are accepted)";
			return -1;
		}
	}
	return 0;
}

static void
tool_describe(struct broker *b, struct session *s, const struct rpc_req *rq, const char *tool,
    struct json_object *args)
{
	struct audit_outcome out = { ERR_NONE, 0, NULL, false, NULL };
	const char *why = NULL;
	struct describe_args da;
	struct json_object *detail;
	struct policy_decision d;
	int64_t started = mono_ms();
	struct call *c;
	char key[512], msg[256], generated_id[32];

	request_id_generate(generated_id, sizeof(generated_id));
	if (describe_parse(b, args, &da, &why) == -1) {
		out.code = ERR_BAD_REQUEST_INVALID_FIELD;
		tool_fail(s, rq, NULL, generated_id, out.code, why, NULL);
		audit_call(b, s, tool, generated_id, NULL, NULL, &out, started);
		return;
	}
	if (da.request_id == NULL)
		da.request_id = generated_id;
	describe_decide(&b->cfg, da.resource, key, sizeof(key), &d);
	if (!d.allow || audit_refuses(msg, sizeof(msg))) {
		out.code = d.allow ? ERR_PROVIDER_UNAVAILABLE : d.code;
		tool_fail(s, rq, da.cv, da.request_id, out.code, d.allow ? msg : d.message, NULL);
		audit_call(b, s, tool, da.request_id, NULL, &d, &out, started);
		return;
	}
	c = call_new(b, s, rq, tool, 0);
	if ((c->request_id = strdup(da.request_id)) == NULL ||
	    (da.cv != NULL && (c->contract_version = strdup(da.cv)) == NULL))
		fatalx("out of memory");
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

	jx_add_str(sc, "contract_version", request_contract_version(c->contract_version));
	jx_add_str(sc, "status", "ok");
	jx_add_str(sc, "request_id", c->request_id);
	json_object_object_foreach(c->detail, k, v) jx_add(sc, k, json_object_get(v));
	jx_add(sc, "cache", msg_describe_ans_json(a));
	/* Recorded before the client sees the token state, as execute. */
	mark = session_out_mark(c->session);
	tool_result(c->session, &c->rpc, sc, false, false);
	if (audit_call_done(b, c, &out) == -1) {
		session_out_rewind(c->session, mark);
		snprintf(msg, sizeof(msg), "audit log cannot be written: %s", audit_broken());
		tool_fail(c->session, &c->rpc, c->contract_version, c->request_id,
		    ERR_PROVIDER_UNAVAILABLE, msg, NULL);
	}
	json_object_put(sc);
}

/* ---- dispatch ---------------------------------------------------------- */

/* The name a client called, as one of the four constants (calls keep it,
 * and audit records name it); NULL for no tool of ours. */
static const char *
tools_called_name(const char *name)
{
	static const char *const names[] = { TOOL_EXECUTE, TOOL_DESCRIBE, TOOL_EXECUTE_ORIGINAL,
		TOOL_DESCRIBE_ORIGINAL };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return names[i];
	return NULL;
}

void
tools_call(struct broker *b, struct session *s, const struct rpc_req *rq,
    struct json_object *params)
{
	const char *name = jx_get_str(params, "name"), *tool;
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
	} else if ((tool = tools_called_name(name)) == NULL) {
		mcp_send_error(s, rq->id, RPC_INVALID_PARAMS, "Invalid params", "unknown tool");
	} else if (strcmp(tools_canonical_name(tool), TOOL_EXECUTE) == 0) {
		tool_execute(b, s, rq, tool, args);
	} else {
		tool_describe(b, s, rq, tool, args);
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
	if (c != NULL && strcmp(tools_canonical_name(c->tool), TOOL_DESCRIBE) != 0)
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
	if (c != NULL && strcmp(tools_canonical_name(c->tool), TOOL_EXECUTE) != 0)
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
		if (!same_client(c->session, s) || !json_object_equal(c->rpc.id, rpc_id))
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
