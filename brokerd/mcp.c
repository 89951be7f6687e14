/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* JSON-RPC 2.0 framing and MCP method dispatch.  Everything here handles
 * untrusted input: any fault is answered with a JSON-RPC error, never fatal.
 *
 * Two eras side by side (a "dual-era" server):
 *  - legacy (2024-11-05 .. 2025-11-25): initialize negotiates a version for
 *    the session, then tools/list and tools/call;
 *  - 2026-07-28 (stateless): every request carries its version and the
 *    client's capabilities in params._meta; server/discover tells what is
 *    supported; results carry resultType and _meta.serverInfo.
 * A request is served in the 2026-07-28 era when it is server/discover or
 * its _meta names a protocol version or client capabilities; initialize
 * always selects the legacy era. */
#include "buildconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "tools.h"

#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
/* 2026-07-28: the request's protocol version is not one this server speaks. */
#define RPC_UNSUPPORTED_VERSION -32022

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_CLIENT "io.modelcontextprotocol/clientInfo"
#define META_SERVER "io.modelcontextprotocol/serverInfo"

/* Negotiated by initialize; oldest first, the last is what a client asking
 * for anything else gets. */
static const char *const legacy_versions[] = { "2024-11-05", "2025-03-26", "2025-06-18",
	"2025-11-25" };
#define N_LEGACY (sizeof(legacy_versions) / sizeof(legacy_versions[0]))

const char *
mcp_latest_version(void)
{
	return legacy_versions[N_LEGACY - 1];
}
/* Carried per request in _meta. */
static const char *const modern_versions[] = { "2026-07-28" };
#define N_MODERN (sizeof(modern_versions) / sizeof(modern_versions[0]))

bool
mcp_version_known(const char *v)
{
	for (size_t i = 0; i < N_LEGACY; i++)
		if (strcmp(v, legacy_versions[i]) == 0)
			return true;
	for (size_t i = 0; i < N_MODERN; i++)
		if (strcmp(v, modern_versions[i]) == 0)
			return true;
	return false;
}

/* How long a client may reuse tools/list and server/discover results.  They
 * change only when brokerd restarts with another version or configuration;
 * five minutes bounds how long a client works from a stale list after that.
 * "private": the listing names the tenant this broker serves, which a
 * shared gateway has no business caching for other callers. */
#define LIST_TTL_MS 300000
#define LIST_CACHE_SCOPE "private"

bool
mcp_structured(const char *protocol)
{
	/* structuredContent and outputSchema arrived with 2025-06-18. */
	return strcmp(protocol, "2025-06-18") >= 0;
}

static bool
version_in(const char *v, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, list[i]) == 0)
			return true;
	return false;
}

/* Every version this server speaks, newest first: what server/discover and
 * the unsupported-version error both list, so they cannot drift apart. */
static struct json_object *
supported_versions(void)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = N_MODERN; i > 0; i--)
		json_object_array_add(a, json_object_new_string(modern_versions[i - 1]));
	for (size_t i = N_LEGACY; i > 0; i--)
		json_object_array_add(a, json_object_new_string(legacy_versions[i - 1]));
	return a;
}

static struct json_object *
server_info(void)
{
	struct json_object *info = json_object_new_object();

	jx_add_str(info, "name", PACKAGE_NAME);
	jx_add_str(info, "version", BROKERD_VERSION);
	return info;
}

static struct json_object *
server_capabilities(void)
{
	struct json_object *caps = json_object_new_object(), *tools = json_object_new_object();

	jx_add_bool(tools, "listChanged", false);
	jx_add(caps, "tools", tools);
	return caps;
}

static void
server_instructions(const struct broker *b, char *out, size_t len)
{
	snprintf(out, len,
	    "Calls Microsoft Graph for tenant %s with the application's credentials, under a "
	    "default-deny policy. Use %s for a Graph call and %s to see token state. Tokens are "
	    "never returned.%s",
	    b->cfg.tenant_id, tools_listed_name(&b->cfg, TOOL_EXECUTE),
	    tools_listed_name(&b->cfg, TOOL_DESCRIBE),
	    b->cfg.env == BROKER_ENV_SMOKE ? " SMOKE MODE: fake data." : "");
}

/* ---- sending ----------------------------------------------------------- */

static struct json_object *
rpc_envelope(struct json_object *id)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "jsonrpc", "2.0");
	jx_add(o, "id", id ? json_object_get(id) : NULL);
	return o;
}

/* Takes ownership of data (may be NULL). */
static void
mcp_send_error_data(struct session *s, struct json_object *id, int code, const char *msg,
    struct json_object *data)
{
	struct json_object *o = rpc_envelope(id), *e = json_object_new_object();

	jx_add_int(e, "code", code);
	jx_add_str(e, "message", msg);
	if (data != NULL)
		jx_add(e, "data", data);
	jx_add(o, "error", e);
	session_send(s, o);
	json_object_put(o);
}

void
mcp_send_error(struct session *s, struct json_object *id, int code, const char *msg,
    const char *detail)
{
	struct json_object *data = NULL;

	if (detail != NULL) {
		data = json_object_new_object();
		jx_add_str(data, "detail", detail);
	}
	mcp_send_error_data(s, id, code, msg, data);
}

static struct json_object *
result_message(const struct rpc_req *r, struct json_object *result)
{
	struct json_object *o = rpc_envelope(r->id), *meta;

	if (r->modern) {
		if (jx_get(result, "resultType") == NULL)
			jx_add_str(result, "resultType", "complete");
		meta = json_object_new_object();
		jx_add(meta, META_SERVER, server_info());
		jx_add(result, "_meta", meta);
	}
	jx_add(o, "result", result);
	return o;
}

void
mcp_send_result(struct session *s, const struct rpc_req *r, struct json_object *result)
{
	struct json_object *o = result_message(r, result);

	session_send(s, o);
	json_object_put(o);
}

/* Stand-ins for the two copies of the structured text in the envelope's
 * JSON: json-c writes \u0001 for the control character, which no text of
 * ours contains, and the last occurrence is ours, since the client's id
 * comes before the result and only our serverInfo after it. */
#define STANDIN_TEXT "\001mab:text\001"
#define STANDIN_SC "\001mab:structured\001"

static const char *
standin_find(const char *env, size_t len, const char *standin, size_t *standin_len)
{
	char quoted[64];
	const char *last = NULL, *p = env;
	size_t n;

	/* As json-c writes it: quotes, and \u0001 for each \001. */
	n = (size_t)snprintf(quoted, sizeof(quoted), "\"\\u0001%.*s\\u0001\"",
	    (int)strlen(standin) - 2, standin + 1);
	while ((p = memmem(p, len - (size_t)(p - env), quoted, n)) != NULL)
		last = p++;
	if (last == NULL)
		fatalx("tool result envelope without its stand-in");
	*standin_len = n;
	return last;
}

/* The envelope (id, content type, isError, 2026-07-28 _meta) is built and
 * serialised by json-c with stand-ins; the structured text, which may hold
 * a Graph body of megabytes, is then written into the session's output
 * twice, once escaped, without another copy: so brokerd holds such a body
 * in its output once per representation, not also as a json-c string and a
 * second serialisation (issue 9). */
int
mcp_send_tool_result(struct session *s, const struct rpc_req *r, const char *sc_text,
    size_t sc_len, bool is_error, bool capped, struct json_object *extra)
{
	struct json_object *res = json_object_new_object(), *content = json_object_new_array();
	struct json_object *text = json_object_new_object(), *o;
	bool structured = mcp_structured(r->protocol);
	const char *env, *t, *sc = NULL;
	size_t len, t_len, sc_standin_len = 0;
	struct out_part parts[5];
	size_t n = 0;
	int rc;

	jx_add_str(text, "type", "text");
	jx_add_str(text, "text", STANDIN_TEXT);
	json_object_array_add(content, text);
	/* An image or blob: base64 and a MIME type, which hold no stand-in. */
	if (extra != NULL)
		json_object_array_add(content, extra);
	jx_add(res, "content", content);
	if (structured)
		jx_add_str(res, "structuredContent", STANDIN_SC);
	jx_add_bool(res, "isError", is_error);
	o = result_message(r, res);
	env = jx_text(o, &len);
	t = standin_find(env, len, STANDIN_TEXT, &t_len);
	if (structured)
		sc = standin_find(env, len, STANDIN_SC, &sc_standin_len);
	if (sc != NULL && sc < t)
		fatalx("tool result envelope out of order");
	parts[n++] = (struct out_part){ env, (size_t)(t - env) + 1, false }; /* with the quote */
	parts[n++] = (struct out_part){ sc_text, sc_len, true };
	if (sc == NULL) {
		parts[n++] = (struct out_part){ t + t_len - 1, len - (size_t)(t + t_len - 1 - env), false };
	} else {
		parts[n++] = (struct out_part){ t + t_len - 1, (size_t)(sc - (t + t_len - 1)), false };
		parts[n++] = (struct out_part){ sc_text, sc_len, false };
		parts[n++] = (struct out_part){ sc + sc_standin_len, len - (size_t)(sc + sc_standin_len - env),
			false };
	}
	rc = session_send_parts(s, parts, n, capped);
	json_object_put(o);
	return rc;
}

void
mcp_send_notification(struct session *s, const char *method, struct json_object *params)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "jsonrpc", "2.0");
	jx_add_str(o, "method", method);
	jx_add(o, "params", params);
	session_send(s, o);
	json_object_put(o);
}

/* ---- legacy era: initialize -------------------------------------------- */

static const char *
mcp_negotiate(const char *requested)
{
	for (size_t i = 0; i < N_LEGACY; i++)
		if (strcmp(requested, legacy_versions[i]) == 0)
			return legacy_versions[i];
	return legacy_versions[N_LEGACY - 1];
}

static void
mcp_initialize(struct broker *b, struct session *s, const struct rpc_req *r,
    struct json_object *params)
{
	const char *requested = jx_get_str(params, "protocolVersion");
	struct json_object *res;
	char instructions[512];

	if (requested == NULL) {
		mcp_send_error(s, r->id, RPC_INVALID_PARAMS, "Invalid params",
		    "initialize needs params.protocolVersion (a string)");
		return;
	}
	if (s->initialized) {
		mcp_send_error(s, r->id, RPC_INVALID_REQUEST, "Invalid Request",
		    "session already initialized");
		return;
	}
	snprintf(s->protocol, sizeof(s->protocol), "%s", mcp_negotiate(requested));
	s->initialized = true;
	server_instructions(b, instructions, sizeof(instructions));
	res = json_object_new_object();
	jx_add_str(res, "protocolVersion", s->protocol);
	jx_add(res, "capabilities", server_capabilities());
	jx_add(res, "serverInfo", server_info());
	jx_add_str(res, "instructions", instructions);
	mcp_send_result(s, r, res);
	log_info("session %u initialized, protocol %s (client asked for %.32s)", s->id, s->protocol,
	    requested);
}

/* ---- 2026-07-28 era ---------------------------------------------------- */

static void
mcp_discover(struct broker *b, struct session *s, const struct rpc_req *r)
{
	struct json_object *res = json_object_new_object();
	char instructions[512];

	server_instructions(b, instructions, sizeof(instructions));
	jx_add(res, "supportedVersions", supported_versions());
	jx_add(res, "capabilities", server_capabilities());
	jx_add(res, "serverInfo", server_info());
	jx_add_str(res, "instructions", instructions);
	jx_add_int(res, "ttlMs", LIST_TTL_MS);
	jx_add_str(res, "cacheScope", LIST_CACHE_SCOPE);
	mcp_send_result(s, r, res);
}

static void
mcp_tools_list(const struct broker *b, struct session *s, const struct rpc_req *r)
{
	struct json_object *res = json_object_new_object();

	jx_add(res, "tools", tools_list(&b->cfg, r->protocol));
	if (r->modern) { /* CacheableResult: required from 2026-07-28 on */
		jx_add_int(res, "ttlMs", LIST_TTL_MS);
		jx_add_str(res, "cacheScope", LIST_CACHE_SCOPE);
	}
	mcp_send_result(s, r, res);
}

static void
mcp_unsupported_version(struct session *s, struct json_object *id, const char *requested)
{
	struct json_object *data = json_object_new_object();

	jx_add(data, "supported", supported_versions());
	jx_add_str(data, "requested", requested);
	mcp_send_error_data(s, id, RPC_UNSUPPORTED_VERSION, "Unsupported protocol version", data);
}

/* The per-request fields of the 2026-07-28 era: a version (string) and the
 * client's capabilities (object) are required, clientInfo optional.  Fills
 * r; -1 once the request has been answered with an error. */
static int
mcp_modern_meta(struct session *s, struct rpc_req *r, const char *method,
    struct json_object *meta)
{
	const char *version = jx_get_str(meta, META_VERSION);
	struct json_object *info = NULL;
	bool modern_v, legacy_v;

	if (version == NULL || jx_get_obj(meta, META_CAPS) == NULL) {
		mcp_send_error(s, r->id, RPC_INVALID_PARAMS, "Invalid params",
		    "params._meta needs \"" META_VERSION "\" (a string) and \"" META_CAPS
		    "\" (an object)");
		return -1;
	}
	if (json_object_object_get_ex(meta, META_CLIENT, &info) &&
	    !json_object_is_type(info, json_type_object)) {
		mcp_send_error(s, r->id, RPC_INVALID_PARAMS, "Invalid params",
		    "params._meta \"" META_CLIENT "\" must be an object");
		return -1;
	}
	modern_v = version_in(version, modern_versions, N_MODERN);
	legacy_v = version_in(version, legacy_versions, N_LEGACY);
	if (!modern_v && !legacy_v) {
		mcp_unsupported_version(s, r->id, version);
		return -1;
	}
	/* A legacy version named per request is served as the legacy era is,
	 * under the session's initialize; server/discover is era-neutral. */
	if (modern_v || strcmp(method, "server/discover") == 0) {
		r->modern = true;
		snprintf(r->protocol, sizeof(r->protocol), "%s",
		    modern_v ? version : modern_versions[N_MODERN - 1]);
	}
	return 0;
}

static bool
meta_has(struct json_object *meta, const char *key)
{
	return meta != NULL && json_object_object_get_ex(meta, key, NULL);
}

/* params._meta: the progress token (either era) and, when the request
 * speaks the 2026-07-28 era, its version.  -1 once answered with an error. */
static int
mcp_read_meta(struct session *s, struct rpc_req *r, const char *method, struct json_object *params)
{
	struct json_object *meta = NULL, *token = NULL;

	snprintf(r->protocol, sizeof(r->protocol), "%s", s->protocol);
	if (params != NULL && json_object_object_get_ex(params, "_meta", &meta) &&
	    !json_object_is_type(meta, json_type_object)) {
		mcp_send_error(s, r->id, RPC_INVALID_PARAMS, "Invalid params",
		    "params._meta must be an object");
		return -1;
	}
	if (meta_has(meta, "progressToken")) {
		json_object_object_get_ex(meta, "progressToken", &token);
		if (!json_object_is_type(token, json_type_string) &&
		    !json_object_is_type(token, json_type_int)) {
			mcp_send_error(s, r->id, RPC_INVALID_PARAMS, "Invalid params",
			    "params._meta.progressToken must be a string or an integer");
			return -1;
		}
		r->progress_token = token;
	}
	if (strcmp(method, "initialize") == 0)
		return 0;
	if (strcmp(method, "server/discover") != 0 && !meta_has(meta, META_VERSION) &&
	    !meta_has(meta, META_CAPS))
		return 0;
	return mcp_modern_meta(s, r, method, meta);
}

/* ---- dispatch ---------------------------------------------------------- */

static void
mcp_notification(struct broker *b, struct session *s, const char *method,
    struct json_object *params)
{
	struct json_object *request_id = NULL;

	/* Notifications are never answered, not even unknown or malformed ones. */
	if (strcmp(method, "notifications/cancelled") == 0) {
		if (json_object_object_get_ex(params, "requestId", &request_id) &&
		    (json_object_is_type(request_id, json_type_string) ||
			json_object_is_type(request_id, json_type_int)))
			tools_cancel(b, s, request_id, jx_get_str(params, "reason"));
		else
			log_debug("session %u: notifications/cancelled without a usable requestId",
			    s->id);
	} else if (strcmp(method, "notifications/initialized") == 0) {
		log_debug("session %u: client confirmed initialization", s->id);
	} else {
		log_debug("session %u: ignored notification %.64s", s->id, method);
	}
}

static void
mcp_dispatch_modern(struct broker *b, struct session *s, const struct rpc_req *r,
    const char *method, struct json_object *params)
{
	if (strcmp(method, "server/discover") == 0)
		mcp_discover(b, s, r);
	else if (strcmp(method, "tools/list") == 0)
		mcp_tools_list(b, s, r);
	else if (strcmp(method, "tools/call") == 0)
		tools_call(b, s, r, params);
	else /* ping and the handshake are gone from this era */
		mcp_send_error(s, r->id, RPC_METHOD_NOT_FOUND, "Method not found", NULL);
}

static void
mcp_dispatch_legacy(struct broker *b, struct session *s, const struct rpc_req *r,
    const char *method, struct json_object *params)
{
	if (strcmp(method, "initialize") == 0) {
		mcp_initialize(b, s, r, params);
	} else if (strcmp(method, "ping") == 0) {
		mcp_send_result(s, r, json_object_new_object());
	} else if (strcmp(method, "tools/list") != 0 && strcmp(method, "tools/call") != 0) {
		mcp_send_error(s, r->id, RPC_METHOD_NOT_FOUND, "Method not found", NULL);
	} else if (!s->initialized) {
		mcp_send_error(s, r->id, RPC_INVALID_REQUEST, "Invalid Request",
		    "session not initialized: send initialize first (or name a protocol version in "
		    "params._meta)");
	} else if (strcmp(method, "tools/list") == 0) {
		mcp_tools_list(b, s, r);
	} else {
		tools_call(b, s, r, params);
	}
}

/* JSON-RPC ids are strings or integers here; null, fractions, arrays and
 * objects are refused.  So are the two integers json-c saturates to when a
 * number does not fit 64 bits (99999999999999999999 is read as UINT64_MAX):
 * the id echoed would not be the one sent, and the client could not match
 * the answer (found by tests/integration/test_hostile_input.py). */
static bool
mcp_id_valid(struct json_object *id)
{
	if (json_object_is_type(id, json_type_int))
		return json_object_get_int64(id) != INT64_MIN &&
		    json_object_get_uint64(id) != UINT64_MAX;
	return json_object_is_type(id, json_type_string);
}

static void
mcp_request(struct broker *b, struct session *s, struct json_object *id, const char *method,
    struct json_object *params)
{
	struct rpc_req r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	if (params != NULL && !json_object_is_type(params, json_type_object)) {
		mcp_send_error(s, id, RPC_INVALID_PARAMS, "Invalid params", "params must be an object");
		return;
	}
	if (tools_id_in_flight(b, s, id)) {
		mcp_send_error(s, id, RPC_INVALID_REQUEST, "Invalid Request",
		    "id already used by a request in flight");
		return;
	}
	if (mcp_read_meta(s, &r, method, params) == -1)
		return;
	if (r.modern)
		mcp_dispatch_modern(b, s, &r, method, params);
	else
		mcp_dispatch_legacy(b, s, &r, method, params);
}

static void
mcp_handle_message(struct broker *b, struct session *s, struct json_object *msg)
{
	struct json_object *id = NULL, *method, *params = NULL;
	bool has_id = json_object_object_get_ex(msg, "id", &id);
	const char *version = jx_get_str(msg, "jsonrpc");

	method = jx_get(msg, "method");
	if (method == NULL && (jx_get(msg, "result") || jx_get(msg, "error")) && has_id)
		return; /* a response: we send no requests, so there is nothing to match */
	if (has_id && !mcp_id_valid(id)) {
		mcp_send_error(s, NULL, RPC_INVALID_REQUEST, "Invalid Request",
		    "id must be a string or an integer");
		return;
	}
	if (version == NULL || strcmp(version, "2.0") != 0 || method == NULL ||
	    !json_object_is_type(method, json_type_string)) {
		mcp_send_error(s, id, RPC_INVALID_REQUEST, "Invalid Request",
		    "need \"jsonrpc\":\"2.0\" and a string \"method\"");
		return;
	}
	/* A NUL inside the name made strcmp see only what precedes it:
	 * "tools/call\u0000x" was served as tools/call, so brokerd and anything
	 * that filters methods by name disagreed on what was asked (found by
	 * tests/integration/test_hostile_input.py).  No method has such a name. */
	if (strlen(json_object_get_string(method)) != (size_t)json_object_get_string_len(method)) {
		if (has_id)
			mcp_send_error(s, id, RPC_METHOD_NOT_FOUND, "Method not found", NULL);
		return;
	}
	json_object_object_get_ex(msg, "params", &params);
	if (!has_id)
		mcp_notification(b, s, json_object_get_string(method), params);
	else
		mcp_request(b, s, id, json_object_get_string(method), params);
}

/* Whether a \u escape names half of a UTF-16 surrogate pair without the
 * other half.  json-c turns such an escape into U+FFFD, so an id "\ud800"
 * was answered as "\ufffd", an id the client never sent (found by
 * tests/integration/test_hostile_input.py).  In valid JSON every backslash
 * starts an escape inside a string; anything else json-c refuses anyway. */
static bool
mcp_lone_surrogate(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned long u, v;
		char hex[5] = { 0 };

		if (p[i] != '\\')
			continue;
		if (p[i + 1] != 'u' || n - i < 6) {
			i++; /* "\\", "\n", ...: the escaped character is not a backslash */
			continue;
		}
		memcpy(hex, p + i + 2, 4);
		u = strtoul(hex, NULL, 16);
		i += 5;
		if (u >= 0xdc00 && u <= 0xdfff)
			return true;
		if (u < 0xd800 || u > 0xdbff)
			continue;
		if (n - i < 7 || p[i + 1] != '\\' || p[i + 2] != 'u')
			return true;
		memcpy(hex, p + i + 3, 4);
		v = strtoul(hex, NULL, 16);
		if (v < 0xdc00 || v > 0xdfff)
			return true;
		i += 6;
	}
	return false;
}

void
mcp_handle_line(struct broker *b, struct session *s, const char *line, size_t len)
{
	const char *why = NULL;
	struct json_object *msg;

	if (mcp_lone_surrogate(line, len)) {
		mcp_send_error(s, NULL, RPC_PARSE_ERROR, "Parse error",
		    "a \\u escape holds half of a UTF-16 surrogate pair");
		return;
	}
	msg = jx_parse(line, len, &why);
	if (msg == NULL && why == jx_why_null) { /* valid JSON, but no request */
		mcp_send_error(s, NULL, RPC_INVALID_REQUEST, "Invalid Request",
		    "a message must be a JSON object");
		return;
	}
	if (msg == NULL) {
		mcp_send_error(s, NULL, RPC_PARSE_ERROR, "Parse error", why);
		return;
	}
	if (json_object_is_type(msg, json_type_array))
		mcp_send_error(s, NULL, RPC_INVALID_REQUEST, "Invalid Request",
		    "batches are not supported");
	else if (!json_object_is_type(msg, json_type_object))
		mcp_send_error(s, NULL, RPC_INVALID_REQUEST, "Invalid Request",
		    "a message must be a JSON object");
	else
		mcp_handle_message(b, s, msg);
	json_object_put(msg);
}
