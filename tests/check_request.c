/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "config.h"
#include "errors.h"
#include "jsonx.h"
#include "request.h"

#define TENANT "11111111-1111-1111-1111-111111111111"

/* A request that passes validation; each test changes one member of it, so
 * a failure can only come from that member. */
static const char base_request[] =
    "{\"contract_version\":\"v1\",\"request_id\":\"req-0001\","
    "\"requester\":{\"requester_id\":\"agent-7\",\"identity_assurance\":\"aal2\"},"
    "\"graph\":{\"tenant_id\":\"" TENANT "\",\"resource\":\"https://graph.microsoft.com\","
    "\"scopes\":[\"User.Read.All\"]},"
    "\"operation\":{\"action\":\"downstream_call\",\"method\":\"GET\",\"path\":\"/v1.0/users\"},"
    "\"timeout_ms\":5000}";

static struct json_object *
json(const char *text)
{
	const char *why = NULL;
	struct json_object *o = jx_parse(text, strlen(text), &why);

	ck_assert_msg(o != NULL, "test JSON does not parse (%s): %s", why, text);
	return o;
}

/* The base request with the member at DOTTED ("operation.method") set to the
 * JSON text VALUE, or removed when VALUE is NULL. */
static struct json_object *
base_with(const char *dotted, const char *value)
{
	struct json_object *args = json(base_request), *parent = args;
	char path[128], *dot, *key = path;

	snprintf(path, sizeof(path), "%s", dotted);
	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		parent = jx_get_obj(parent, key);
		ck_assert_msg(parent != NULL, "no object %s in the base request", key);
		key = dot + 1;
	}
	if (value == NULL)
		json_object_object_del(parent, key);
	else
		json_object_object_add(parent, key,
		    strcmp(value, "null") == 0 ? NULL : json(value));
	return args;
}

/* Drops the arguments right after parsing: whatever the request keeps must
 * be its own. */
static int
parse_args(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	int rc = request_parse(args, req, err);

	json_object_put(args);
	return rc;
}

static void
expect_error(const char *dotted, const char *value, enum err_code code, const char *message)
{
	struct graph_request req;
	struct req_error err;

	ck_assert_int_eq(parse_args(base_with(dotted, value), &req, &err), -1);
	ck_assert_msg(err.code == code, "%s = %s: got %s, want %s", dotted,
	    value ? value : "(absent)", err_name(err.code), err_name(code));
	ck_assert_str_eq(err.message, message);
	request_free(&req);
}

static void
expect_text_error(const char *text, enum err_code code, const char *message)
{
	struct graph_request req;
	struct req_error err;

	ck_assert_int_eq(parse_args(json(text), &req, &err), -1);
	ck_assert_msg(err.code == code, "got %s, want %s", err_name(err.code), err_name(code));
	ck_assert_str_eq(err.message, message);
	request_free(&req);
}

static void
expect_ok(const char *dotted, const char *value, struct graph_request *req)
{
	struct req_error err;

	ck_assert_msg(parse_args(base_with(dotted, value), req, &err) == 0, "%s = %s: %s: %s",
	    dotted, value ? value : "(absent)", err_name(err.code), err.message);
	ck_assert_int_eq(err.code, ERR_NONE);
}

/* A JSON string of n copies of c. */
static char *
long_json_string(char c, size_t n)
{
	char *s = malloc(n + 3);

	ck_assert_ptr_nonnull(s);
	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

/* A JSON array of n scope strings. */
static char *
scopes_json(size_t n)
{
	char *s = malloc(n * 16 + 3), *p = s;

	ck_assert_ptr_nonnull(s);
	*p++ = '[';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"S.%zu\"", i ? "," : "", i);
	*p++ = ']';
	*p = '\0';
	return s;
}

/* A JSON object of n headers named x-h<i>. */
static char *
headers_json(size_t n)
{
	char *s = malloc(n * 24 + 3), *p = s;

	ck_assert_ptr_nonnull(s);
	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s\"X-H%zu\":\"v\"", i ? "," : "", i);
	*p++ = '}';
	*p = '\0';
	return s;
}

/* ---- a valid request ----------------------------------------------------- */

START_TEST(test_valid_request)
{
	struct graph_request req;

	expect_ok("timeout_ms", "5000", &req);
	ck_assert_str_eq(req.request_id, "req-0001");
	ck_assert_str_eq(req.requester_id, "agent-7");
	ck_assert_str_eq(req.identity_assurance, "aal2");
	ck_assert_str_eq(req.tenant_id, TENANT);
	ck_assert_str_eq(req.resource, "https://graph.microsoft.com");
	ck_assert_uint_eq(req.scopes.n, 1);
	ck_assert_str_eq(req.scopes.v[0], "User.Read.All");
	ck_assert_str_eq(req.method, "GET");
	ck_assert_str_eq(req.path, "/v1.0/users");
	ck_assert_ptr_null(req.query);
	ck_assert_uint_eq(req.n_headers, 0);
	ck_assert_ptr_null(req.body);
	ck_assert_int_eq(req.timeout_ms, 5000);
	request_free(&req);
	/* request_free leaves a zeroed request: a second call is harmless. */
	ck_assert_ptr_null(req.request_id);
	request_free(&req);
}
END_TEST

START_TEST(test_optional_members_absent)
{
	struct graph_request req;
	struct req_error err;
	const char *text = "{\"contract_version\":\"v1\",\"request_id\":\"r\","
			   "\"requester\":{\"requester_id\":\"a\"},"
			   "\"graph\":{\"tenant_id\":\"t\",\"resource\":\"r\",\"scopes\":[\"s\"]},"
			   "\"operation\":{\"action\":\"downstream_call\",\"method\":\"GET\","
			   "\"path\":\"/v1.0/me\"}}";

	ck_assert_int_eq(parse_args(json(text), &req, &err), 0);
	ck_assert_ptr_null(req.identity_assurance);
	ck_assert_int_eq(req.timeout_ms, REQ_TIMEOUT_DEFAULT_MS);
	ck_assert_uint_eq(req.n_headers, 0);
	ck_assert_ptr_null(req.body);
	request_free(&req);
}
END_TEST

START_TEST(test_multiple_scopes_kept_in_order)
{
	struct graph_request req;

	expect_ok("graph.scopes", "[\"User.Read.All\",\"Mail.Send\",\"Group.Read.All\"]", &req);
	ck_assert_uint_eq(req.scopes.n, 3);
	ck_assert_str_eq(req.scopes.v[0], "User.Read.All");
	ck_assert_str_eq(req.scopes.v[1], "Mail.Send");
	ck_assert_str_eq(req.scopes.v[2], "Group.Read.All");
	request_free(&req);
}
END_TEST

/* ---- top level ------------------------------------------------------------ */

START_TEST(test_args_not_object)
{
	struct graph_request req;
	struct req_error err;

	expect_text_error("[]", ERR_BAD_REQUEST_INVALID_FIELD, "arguments must be an object");
	expect_text_error("\"v1\"", ERR_BAD_REQUEST_INVALID_FIELD, "arguments must be an object");
	ck_assert_int_eq(request_parse(NULL, &req, &err), -1);
	ck_assert_int_eq(err.code, ERR_BAD_REQUEST_INVALID_FIELD);
	ck_assert_str_eq(err.message, "arguments must be an object");
	request_free(&req);
}
END_TEST

START_TEST(test_unknown_top_level_field)
{
	expect_error("extra", "1", ERR_BAD_REQUEST_INVALID_FIELD, "unknown field extra");
	/* Misspelt optional member: refused, not silently defaulted. */
	expect_error("timeout", "5000", ERR_BAD_REQUEST_INVALID_FIELD, "unknown field timeout");
	/* A hostile name is quoted without its control characters. */
	expect_error("a\nb", "1", ERR_BAD_REQUEST_INVALID_FIELD, "unknown field a?b");
}
END_TEST

/* The original contract's version and its compatible patch versions, and
 * "v1", which this broker's first clients send; kept as given, to be echoed. */
START_TEST(test_contract_version)
{
	static const char *good[] = { "\"v0.1.0\"", "\"v0.1.1\"", "\"v0.1.10\"",
		"\"v0.1.999999999\"", "\"v1\"" };
	static const char *bad[] = { "\"v2\"", "\"V1\"", "1", "\"v0.1\"", "\"v0.1.\"",
		"\"v0.2.0\"", "\"v0.1.01\"", "\"v0.1.1a\"", "\"v0.1.-1\"", "\"v0.1.1000000000\"",
		"\"v1.0.0\"", "\" v0.1.0\"", "\"v0.1.0\\u0000\"", "\"v1\\u0000x\"", "[]" };
	struct graph_request req;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char want[32];

		expect_ok("contract_version", good[i], &req);
		snprintf(want, sizeof(want), "%.*s", (int)strlen(good[i]) - 2, good[i] + 1);
		ck_assert_str_eq(req.contract_version, want);
		ck_assert_str_eq(request_contract_version(req.contract_version), want);
		request_free(&req);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("contract_version", bad[i], ERR_BAD_REQUEST_INVALID_FIELD, "contract_version must be \"v0.1.0\" (or a later v0.1.x, or \"v1\"); it may be left out");
	/* Left out: the canonical version is what a response carries. */
	expect_ok("contract_version", NULL, &req);
	ck_assert_ptr_null(req.contract_version);
	ck_assert_str_eq(request_contract_version(req.contract_version), "v0.1.0");
	request_free(&req);
	expect_ok("contract_version", "null", &req);
	ck_assert_ptr_null(req.contract_version);
	request_free(&req);
}
END_TEST

START_TEST(test_request_id)
{
	struct graph_request req;
	char *max = long_json_string('r', REQ_MAX_ID_LEN);
	char *over = long_json_string('r', REQ_MAX_ID_LEN + 1);

	/* Optional: request_fill_defaults gives one (generated by brokerd). */
	expect_ok("request_id", NULL, &req);
	ck_assert_ptr_null(req.request_id);
	request_free(&req);
	expect_error("request_id", "7", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id must be a string");
	expect_error("request_id", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id must be 1 to 128 characters long");
	expect_error("request_id", over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id must be 1 to 128 characters long");
	expect_error("request_id", "\"a b\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id contains characters that are not allowed");
	expect_error("request_id", "\"a\\nb\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id contains characters that are not allowed");
	expect_error("request_id", "\"a\\u007fb\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id contains characters that are not allowed");
	expect_error("request_id", "\"r\\u00e9q\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id contains characters that are not allowed");
	expect_error("request_id", "\"a\\u0000b\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "request_id contains characters that are not allowed");
	expect_ok("request_id", max, &req);
	ck_assert_uint_eq(strlen(req.request_id), REQ_MAX_ID_LEN);
	request_free(&req);
	free(max);
	free(over);
}
END_TEST

/* ---- requester ------------------------------------------------------------ */

/* Left out, the requester is the session's (request_fill_defaults); given,
 * it must name someone. */
START_TEST(test_requester_absent)
{
	struct graph_request req;

	expect_ok("requester", NULL, &req);
	ck_assert_ptr_null(req.requester_id);
	ck_assert_ptr_null(req.identity_assurance);
	request_free(&req);
	expect_ok("requester", "null", &req);
	ck_assert_ptr_null(req.requester_id);
	request_free(&req);
}
END_TEST

START_TEST(test_requester_missing_identity)
{
	const enum err_code c = ERR_POLICY_MISSING_IDENTITY;
	const char *m = "requester.requester_id is required";

	expect_error("requester", "\"agent-7\"", c, m);
	expect_error("requester", "[\"agent-7\"]", c, m);
	expect_error("requester", "{}", c, m);
	expect_error("requester.requester_id", NULL, c, m);
	expect_error("requester.requester_id", "null", c, m);
	expect_error("requester.requester_id", "\"\"", c, m);
	expect_error("requester.requester_id", "42", c, m);
}
END_TEST

START_TEST(test_requester_fields)
{
	struct graph_request req;
	char *over = long_json_string('a', 129);
	char *assurance_over = long_json_string('a', 65);

	expect_error("requester.team", "\"x\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "unknown field requester.team");
	expect_error("requester.requester_id", over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "requester.requester_id must be 1 to 128 characters long");
	expect_error("requester.requester_id", "\"agent\\r\\n7\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "requester.requester_id contains characters that are not allowed");
	expect_error("requester.identity_assurance", assurance_over,
	    ERR_BAD_REQUEST_INVALID_FIELD,
	    "requester.identity_assurance must be 1 to 64 characters long");
	expect_error("requester.identity_assurance", "3", ERR_BAD_REQUEST_INVALID_FIELD,
	    "requester.identity_assurance must be a string");
	expect_error("requester.identity_assurance", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "requester.identity_assurance must be 1 to 64 characters long");
	/* Spaces inside an id are fine: it is a display name for the audit. */
	expect_ok("requester.requester_id", "\"Agent Smith\"", &req);
	ck_assert_str_eq(req.requester_id, "Agent Smith");
	request_free(&req);
	expect_ok("requester.identity_assurance", "null", &req);
	ck_assert_ptr_null(req.identity_assurance);
	request_free(&req);
	free(over);
	free(assurance_over);
}
END_TEST

/* ---- graph ----------------------------------------------------------------- */

START_TEST(test_graph_object)
{
	struct graph_request req;

	/* Every member defaults from the configuration (request_fill_defaults). */
	expect_ok("graph", NULL, &req);
	ck_assert_ptr_null(req.tenant_id);
	ck_assert_ptr_null(req.resource);
	ck_assert_uint_eq(req.scopes.n, 0);
	request_free(&req);
	expect_ok("graph", "{}", &req);
	request_free(&req);
	expect_error("graph", "[]", ERR_BAD_REQUEST_INVALID_FIELD, "graph must be an object");
	expect_error("graph.host", "\"evil\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "unknown field graph.host");
}
END_TEST

START_TEST(test_graph_tenant_resource)
{
	char *tenant_over = long_json_string('t', 254);
	char *resource_over = long_json_string('r', 257);

	expect_error("graph.tenant_id", "1", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.tenant_id must be a string");
	expect_error("graph.tenant_id", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.tenant_id must be 1 to 253 characters long");
	expect_error("graph.tenant_id", tenant_over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.tenant_id must be 1 to 253 characters long");
	expect_error("graph.resource", resource_over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.resource must be 1 to 256 characters long");
	expect_error("graph.resource", "\"https://graph\\n\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.resource contains characters that are not allowed");
	free(tenant_over);
	free(resource_over);
}
END_TEST

START_TEST(test_graph_tenant_resource_not_judged)
{
	struct graph_request req;

	/* Allowed or not is policy's decision; validation keeps them as given. */
	expect_ok("graph.resource", "\"https://evil.example/\"", &req);
	ck_assert_str_eq(req.resource, "https://evil.example/");
	request_free(&req);
	expect_ok("graph.tenant_id", "\"contoso.onmicrosoft.com\"", &req);
	ck_assert_str_eq(req.tenant_id, "contoso.onmicrosoft.com");
	request_free(&req);
}
END_TEST

START_TEST(test_graph_scopes)
{
	char *max = scopes_json(32), *over = scopes_json(33);
	char *scope_over = long_json_string('s', 257), arr[300];
	struct graph_request req;

	expect_ok("graph.scopes", NULL, &req);
	ck_assert_uint_eq(req.scopes.n, 0);
	request_free(&req);
	expect_error("graph.scopes", "\"User.Read.All\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes must be an array");
	expect_error("graph.scopes", "[]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes must hold 1 to 32 scopes");
	expect_error("graph.scopes", over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes must hold 1 to 32 scopes");
	expect_error("graph.scopes", "[\"User.Read.All\",1]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes[1] must be a string");
	expect_error("graph.scopes", "[\"User.Read.All\",null]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes[1] must be a string");
	expect_error("graph.scopes", "[\"\"]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes[0] must be a scope name of 1 to 256 characters");
	expect_error("graph.scopes", "[\"a\",\"b\\u0001\"]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes[1] must be a scope name of 1 to 256 characters");
	snprintf(arr, sizeof(arr), "[%s]", scope_over);
	expect_error("graph.scopes", arr, ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph.scopes[0] must be a scope name of 1 to 256 characters");
	expect_ok("graph.scopes", max, &req);
	ck_assert_uint_eq(req.scopes.n, 32);
	ck_assert_str_eq(req.scopes.v[31], "S.31");
	request_free(&req);
	free(max);
	free(over);
	free(scope_over);
}
END_TEST

/* ---- operation -------------------------------------------------------------- */

START_TEST(test_operation_object)
{
	expect_error("operation", NULL, ERR_BAD_REQUEST_INVALID_FIELD, "operation is required");
	expect_error("operation", "\"GET /v1.0/me\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation must be an object");
	expect_error("operation.url", "\"https://evil.example/\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "unknown field operation.url");
}
END_TEST

START_TEST(test_operation_action)
{
	struct graph_request req;

	/* downstream_call is the only action, so it need not be named. */
	expect_ok("operation.action", NULL, &req);
	request_free(&req);
	expect_error("operation.action", "5", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.action must be a string");
	expect_error("operation.action", "\"token_dump\"", ERR_BAD_REQUEST_UNSUPPORTED_OPERATION,
	    "operation.action: only \"downstream_call\" is supported");
	expect_error("operation.action", "\"\"", ERR_BAD_REQUEST_UNSUPPORTED_OPERATION,
	    "operation.action: only \"downstream_call\" is supported");
	expect_error("operation.action", "\"Downstream_Call\"",
	    ERR_BAD_REQUEST_UNSUPPORTED_OPERATION,
	    "operation.action: only \"downstream_call\" is supported");
}
END_TEST

START_TEST(test_operation_method)
{
	static const char *in[] = { "\"get\"", "\"Post\"", "\"PUT\"", "\"patch\"", "\"dElEtE\"" };
	static const char *out[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	const char *m = "operation.method must be one of GET, POST, PUT, PATCH, DELETE";
	struct graph_request req;

	for (size_t i = 0; i < 5; i++) {
		expect_ok("operation.method", in[i], &req);
		ck_assert_str_eq(req.method, out[i]);
		request_free(&req);
	}
	expect_error("operation.method", NULL, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.method is required");
	expect_error("operation.method", "\"OPTIONS\"", ERR_BAD_REQUEST_INVALID_FIELD, m);
	expect_error("operation.method", "\"GET \"", ERR_BAD_REQUEST_INVALID_FIELD, m);
	expect_error("operation.method", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD, m);
	expect_error("operation.method", "1", ERR_BAD_REQUEST_INVALID_FIELD, m);
}
END_TEST

START_TEST(test_operation_path)
{
	char *max = long_json_string('p', REQ_MAX_PATH_LEN);
	char *over = long_json_string('p', REQ_MAX_PATH_LEN + 1);
	struct graph_request req;

	expect_error("operation.path", NULL, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.path is required");
	expect_error("operation.path", "[]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.path must be a string");
	expect_error("operation.path", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.path must be 1 to 2048 characters long");
	expect_error("operation.path", over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.path must be 1 to 2048 characters long");
	expect_error("operation.path", "\"/v1.0/me\\u0000/x\"", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.path contains characters that are not allowed");
	expect_ok("operation.path", max, &req);
	request_free(&req);
	/* Unsafe paths are policy's to refuse (path.unsafe), not validation's. */
	expect_ok("operation.path", "\"https://evil.example/../x\\r\\n\"", &req);
	ck_assert_str_eq(req.path, "https://evil.example/../x\r\n");
	request_free(&req);
	free(max);
	free(over);
}
END_TEST

START_TEST(test_operation_path_query_split)
{
	struct graph_request req;

	expect_ok("operation.path", "\"/v1.0/users?$top=5&$select=id\"", &req);
	ck_assert_str_eq(req.path, "/v1.0/users");
	ck_assert_str_eq(req.query, "$top=5&$select=id");
	request_free(&req);
	expect_ok("operation.path", "\"/v1.0/users?\"", &req);
	ck_assert_str_eq(req.path, "/v1.0/users");
	ck_assert_str_eq(req.query, "");
	request_free(&req);
	expect_ok("operation.path", "\"/v1.0/a?b=1?c\"", &req);
	ck_assert_str_eq(req.path, "/v1.0/a");
	ck_assert_str_eq(req.query, "b=1?c");
	request_free(&req);
	expect_ok("operation.path", "\"/v1.0/me\"", &req);
	ck_assert_str_eq(req.path, "/v1.0/me");
	ck_assert_ptr_null(req.query);
	request_free(&req);
}
END_TEST

/* ---- headers ---------------------------------------------------------------- */

START_TEST(test_headers_stored)
{
	struct graph_request req;

	expect_ok("operation.headers",
	    "{\"Accept\":\"application/JSON\",\"ConsistencyLevel\":\"eventual\","
	    "\"consistency-level\":\"eventual\",\"Content-Type\":\"application/json\","
	    "\"If-Match\":\"*\",\"prefer\":\"return=minimal\"}",
	    &req);
	ck_assert_uint_eq(req.n_headers, 6);
	ck_assert_str_eq(req.headers[0].name, "accept");
	ck_assert_str_eq(req.headers[0].value, "application/JSON");
	ck_assert_str_eq(req.headers[1].name, "consistencylevel");
	ck_assert_str_eq(req.headers[1].value, "eventual");
	ck_assert_str_eq(req.headers[2].name, "consistency-level");
	ck_assert_str_eq(req.headers[3].name, "content-type");
	ck_assert_str_eq(req.headers[4].name, "if-match");
	ck_assert_str_eq(req.headers[5].name, "prefer");
	request_free(&req);
	expect_ok("operation.headers", "{}", &req);
	ck_assert_uint_eq(req.n_headers, 0);
	request_free(&req);
	/* Control bytes are policy's to refuse (header.invalid). */
	expect_ok("operation.headers", "{\"accept\":\"b\\r\\nHost: evil\"}", &req);
	ck_assert_str_eq(req.headers[0].value, "b\r\nHost: evil");
	request_free(&req);
}
END_TEST

START_TEST(test_headers_invalid)
{
	expect_error("operation.headers", "[\"accept\"]", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers must be an object");
	expect_error("operation.headers", "{\"accept\":1}", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers.accept must be a string");
	expect_error("operation.headers", "{\"accept\":null}", ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers.accept must be a string");
	expect_error("operation.headers", "{\"prefer\":[\"a\",\"b\"]}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "operation.headers.prefer must be a string");
	/* The value is never echoed, only the name. */
	expect_error("operation.headers", "{\"prefer\":\"hunter2\\u0000\"}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "operation.headers.prefer contains a NUL byte");
	expect_error("operation.headers", "{\"Accept\":\"a\",\"ACCEPT\":\"b\"}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "operation.headers.ACCEPT is given more than once");
}
END_TEST

/* The original contract: a header the broker would not forward is refused,
 * not dropped unseen, whatever its value; the message names the accepted. */
START_TEST(test_headers_not_forwarded)
{
	static const char *names[] = { "Authorization", "cookie", "X-Forwarded-For", "Host",
		"If-None-Match", "x-ms-client-request-id", "accept ", "content_type", "" };
	char text[128], want[256], q[QUOTE_LEN + 1];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), "{\"accept\":\"a\",\"%s\":\"x\"}", names[i]);
		snprintf(want, sizeof(want),
		    "operation.headers.%s is not a header the broker forwards (accepted: accept, "
		    "content-type, if-match, prefer, consistencylevel)",
		    text_quote(names[i], q, sizeof(q)));
		expect_error("operation.headers", text, ERR_BAD_REQUEST_INVALID_FIELD, want);
	}
	/* A hostile name is quoted without its control characters. */
	expect_error("operation.headers", "{\"x-a\\r\\nhost\":\"v\"}",
	    ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers.x-a??host is not a header the broker forwards (accepted: accept, "
	    "content-type, if-match, prefer, consistencylevel)");
}
END_TEST

START_TEST(test_headers_limit)
{
	char *max = headers_json(REQ_MAX_HEADERS), *over = headers_json(REQ_MAX_HEADERS + 1);
	struct graph_request req;

	/* Counted before any name is judged. */
	expect_error("operation.headers", over, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers may hold at most 32 headers");
	expect_error("operation.headers", max, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.headers.X-H0 is not a header the broker forwards (accepted: accept, "
	    "content-type, if-match, prefer, consistencylevel)");
	(void)req;
	free(max);
	free(over);
}
END_TEST

/* ---- body ------------------------------------------------------------------- */

START_TEST(test_body_only_with_payload_methods)
{
	const char *m = "operation.body is only allowed with POST, PUT or PATCH";
	struct json_object *args;
	struct graph_request req;
	struct req_error err;

	expect_error("operation.body", "{\"a\":1}", ERR_BAD_REQUEST_INVALID_FIELD, m);
	expect_error("operation.body", "\"\"", ERR_BAD_REQUEST_INVALID_FIELD, m);
	args = base_with("operation.method", "\"DELETE\"");
	json_object_object_add(jx_get_obj(args, "operation"), "body", json("[]"));
	ck_assert_int_eq(parse_args(args, &req, &err), -1);
	ck_assert_int_eq(err.code, ERR_BAD_REQUEST_INVALID_FIELD);
	ck_assert_str_eq(err.message, m);
	request_free(&req);
	/* A null body is no body. */
	expect_ok("operation.body", "null", &req);
	ck_assert_ptr_null(req.body);
	request_free(&req);
}
END_TEST

START_TEST(test_body_kept_as_reference)
{
	static const char *methods[] = { "\"POST\"", "\"PUT\"", "\"PATCH\"" };
	struct json_object *args;
	struct graph_request req;
	struct req_error err;

	for (size_t i = 0; i < 3; i++) {
		args = base_with("operation.method", methods[i]);
		json_object_object_add(jx_get_obj(args, "operation"), "body",
		    json("{\"displayName\":\"x\",\"n\":[1,2]}"));
		/* parse_args drops args: the body must survive on our reference. */
		ck_assert_int_eq(parse_args(args, &req, &err), 0);
		ck_assert_ptr_nonnull(req.body);
		ck_assert_str_eq(jx_get_str(req.body, "displayName"), "x");
		request_free(&req);
	}
}
END_TEST

/* ---- timeout_ms ------------------------------------------------------------- */

START_TEST(test_timeout_invalid)
{
	static const char *bad[] = { "\"5000\"", "5000.0", "1.5", "1e3", "true", "0", "-1",
		"99", "120001", "-9223372036854775808", "9223372036854775807",
		"18446744073709551615", "99999999999999999999999", "[]", "{}" };
	const char *m = "timeout_ms must be a whole number of milliseconds from 100 to 120000";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("timeout_ms", bad[i], ERR_BAD_REQUEST_INVALID_TIMEOUT, m);
}
END_TEST

START_TEST(test_timeout_valid)
{
	struct graph_request req;

	expect_ok("timeout_ms", NULL, &req);
	ck_assert_int_eq(req.timeout_ms, 30000);
	request_free(&req);
	expect_ok("timeout_ms", "null", &req);
	ck_assert_int_eq(req.timeout_ms, 30000);
	request_free(&req);
	expect_ok("timeout_ms", "100", &req);
	ck_assert_int_eq(req.timeout_ms, 100);
	request_free(&req);
	expect_ok("timeout_ms", "120000", &req);
	ck_assert_int_eq(req.timeout_ms, 120000);
	request_free(&req);
}
END_TEST

/* ---- order: the first error wins ------------------------------------------- */

START_TEST(test_first_error_wins)
{
	/* request_id first, so every later refusal can name the request */
	expect_text_error("{\"contract_version\":\"v9\",\"x\":1,\"request_id\":\"\"}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "request_id must be 1 to 128 characters long");
	/* unknown field before contract_version */
	expect_text_error("{\"contract_version\":\"v9\",\"x\":1,\"request_id\":\"r\"}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "unknown field x");
	/* contract_version before requester */
	expect_text_error("{\"contract_version\":\"v9\",\"request_id\":\"r\",\"requester\":{}}",
	    ERR_BAD_REQUEST_INVALID_FIELD, "contract_version must be \"v0.1.0\" (or a later v0.1.x, or \"v1\"); it may be left out");
	/* requester before graph */
	expect_text_error("{\"contract_version\":\"v1\",\"request_id\":\"r\",\"requester\":{},"
			  "\"graph\":1}",
	    ERR_POLICY_MISSING_IDENTITY, "requester.requester_id is required");
	/* graph before operation */
	expect_text_error("{\"graph\":1,\"operation\":1}", ERR_BAD_REQUEST_INVALID_FIELD,
	    "graph must be an object");
	/* operation is the one member a call must give */
	expect_text_error("{}", ERR_BAD_REQUEST_INVALID_FIELD, "operation is required");
}
END_TEST

START_TEST(test_first_error_wins_late_members)
{
	struct json_object *args;
	struct graph_request req;
	struct req_error err;

	/* operation before timeout_ms */
	args = base_with("timeout_ms", "\"soon\"");
	json_object_object_add(jx_get_obj(args, "operation"), "method", json("\"TRACE\""));
	ck_assert_int_eq(parse_args(args, &req, &err), -1);
	ck_assert_int_eq(err.code, ERR_BAD_REQUEST_INVALID_FIELD);
	ck_assert_str_eq(err.message,
	    "operation.method must be one of GET, POST, PUT, PATCH, DELETE");
	request_free(&req);
	/* unknown field inside requester before a missing requester_id */
	expect_error("requester", "{\"name\":\"x\"}", ERR_BAD_REQUEST_INVALID_FIELD,
	    "unknown field requester.name");
	/* action before method */
	args = base_with("operation.action", "\"upload\"");
	json_object_object_add(jx_get_obj(args, "operation"), "method", json("\"TRACE\""));
	ck_assert_int_eq(parse_args(args, &req, &err), -1);
	ck_assert_int_eq(err.code, ERR_BAD_REQUEST_UNSUPPORTED_OPERATION);
	request_free(&req);
}
END_TEST

/* ---- defaults ------------------------------------------------------------- */

static char *const env_defaults[] = { "MCP_AUTH_BROKER_ENV=smoke",
	"MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com,https://graph.example",
	"MCP_AUTH_BROKER_ALLOWED_SCOPES=User.Read.All Mail.Send", NULL };
static const struct req_defaults session_defaults = { "req-generated", "uid:1000/pid:4242",
	"local_peer" };

static void
parse_and_fill(const char *text, struct graph_request *req)
{
	struct config cfg;
	struct config_errors errs;
	struct req_error err;

	ck_assert_int_eq(sodium_init() < 0, 0);
	ck_assert_int_eq(config_load(&cfg, env_defaults, &errs), 0);
	ck_assert_msg(parse_args(json(text), req, &err) == 0, "%s", err.message);
	request_fill_defaults(req, &cfg, &session_defaults);
	config_free(&cfg);
}

/* Method and path are all a call must give: the rest comes from the
 * configuration and the session. */
START_TEST(test_defaults_fill_a_minimal_call)
{
	struct graph_request req;

	parse_and_fill("{\"operation\":{\"method\":\"GET\",\"path\":\"/v1.0/me\"}}", &req);
	ck_assert_ptr_null(req.contract_version);
	ck_assert_str_eq(req.request_id, "req-generated");
	ck_assert_str_eq(req.requester_id, "uid:1000/pid:4242");
	ck_assert_str_eq(req.identity_assurance, "local_peer");
	ck_assert_str_eq(req.tenant_id, TENANT);
	ck_assert_str_eq(req.resource, "https://graph.microsoft.com");
	ck_assert_uint_eq(req.scopes.n, 2);
	ck_assert_str_eq(req.scopes.v[0], "User.Read.All");
	ck_assert_str_eq(req.scopes.v[1], "Mail.Send");
	ck_assert_int_eq(req.timeout_ms, REQ_TIMEOUT_DEFAULT_MS);
	request_free(&req);
}
END_TEST

/* What the call gives is kept: defaults fill gaps only. */
START_TEST(test_defaults_keep_what_is_given)
{
	struct graph_request req;

	parse_and_fill("{\"contract_version\":\"v0.1.2\",\"request_id\":\"mine\","
		       "\"requester\":{\"requester_id\":\"agent-7\"},"
		       "\"graph\":{\"resource\":\"https://graph.example\",\"scopes\":[\"Mail.Send\"]},"
		       "\"operation\":{\"method\":\"GET\",\"path\":\"/v1.0/me\"},\"timeout_ms\":500}",
	    &req);
	ck_assert_str_eq(req.contract_version, "v0.1.2");
	ck_assert_str_eq(req.request_id, "mine");
	ck_assert_str_eq(req.requester_id, "agent-7");
	/* The session's assurance does not vouch for a requester the client named. */
	ck_assert_ptr_null(req.identity_assurance);
	ck_assert_str_eq(req.tenant_id, TENANT);
	ck_assert_str_eq(req.resource, "https://graph.example");
	ck_assert_uint_eq(req.scopes.n, 1);
	ck_assert_str_eq(req.scopes.v[0], "Mail.Send");
	ck_assert_int_eq(req.timeout_ms, 500);
	request_free(&req);
}
END_TEST

static Suite *
request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_test(tc, test_valid_request);
	tcase_add_test(tc, test_optional_members_absent);
	tcase_add_test(tc, test_multiple_scopes_kept_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults_fill_a_minimal_call);
	tcase_add_test(tc, test_defaults_keep_what_is_given);
	suite_add_tcase(s, tc);

	tc = tcase_create("top_level");
	tcase_add_test(tc, test_args_not_object);
	tcase_add_test(tc, test_unknown_top_level_field);
	tcase_add_test(tc, test_contract_version);
	tcase_add_test(tc, test_request_id);
	tcase_add_test(tc, test_first_error_wins);
	tcase_add_test(tc, test_first_error_wins_late_members);
	suite_add_tcase(s, tc);

	tc = tcase_create("requester");
	tcase_add_test(tc, test_requester_absent);
	tcase_add_test(tc, test_requester_missing_identity);
	tcase_add_test(tc, test_requester_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("graph");
	tcase_add_test(tc, test_graph_object);
	tcase_add_test(tc, test_graph_tenant_resource);
	tcase_add_test(tc, test_graph_tenant_resource_not_judged);
	tcase_add_test(tc, test_graph_scopes);
	suite_add_tcase(s, tc);

	tc = tcase_create("operation");
	tcase_add_test(tc, test_operation_object);
	tcase_add_test(tc, test_operation_action);
	tcase_add_test(tc, test_operation_method);
	tcase_add_test(tc, test_operation_path);
	tcase_add_test(tc, test_operation_path_query_split);
	tcase_add_test(tc, test_headers_stored);
	tcase_add_test(tc, test_headers_invalid);
	tcase_add_test(tc, test_headers_not_forwarded);
	tcase_add_test(tc, test_headers_limit);
	tcase_add_test(tc, test_body_only_with_payload_methods);
	tcase_add_test(tc, test_body_kept_as_reference);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tcase_add_test(tc, test_timeout_invalid);
	tcase_add_test(tc, test_timeout_valid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(request_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
