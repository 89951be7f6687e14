/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonx.h"
#include "log.h"
#include "request.h"

#define REQ_MAX_REQUESTER_LEN 128
#define REQ_MAX_ASSURANCE_LEN 64
#define REQ_MAX_TENANT_LEN 253 /* a DNS name, the longest tenant form */
#define REQ_MAX_RESOURCE_LEN 256
#define REQ_MAX_SCOPES 32
#define REQ_MAX_SCOPE_LEN 256

/* How much of a client-chosen name (unknown field, header) a message quotes:
 * enough to recognise it, not enough to smuggle anything into a log line. */

/* Which bytes a string field may hold. */
enum req_chars {
	CHARS_ANY,	/* anything but NUL: policy judges the bytes */
	CHARS_NO_CTL,	/* anything but C0 controls and DEL */
	CHARS_PRINT,	/* 0x20-0x7e */
	CHARS_GRAPHIC,	/* 0x21-0x7e: no space either */
};

static const char *top_fields[] = { "contract_version", "request_id", "requester", "graph",
	"operation", "timeout_ms", "max_pages", NULL };
static const char *requester_fields[] = { "requester_id", "identity_assurance", NULL };
static const char *graph_fields[] = { "tenant_id", "resource", "scopes", NULL };
static const char *operation_fields[] = { "action", "method", "path", "headers", "body",
	NULL };

static int req_fail(struct req_error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
req_fail(struct req_error *err, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static bool
chars_ok(const char *s, enum req_chars rule)
{
	for (; *s != '\0' && rule != CHARS_ANY; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (rule != CHARS_NO_CTL && c > 0x7e)
			return false;
		if (rule == CHARS_GRAPHIC && c == 0x20)
			return false;
	}
	return true;
}

/* Strings with an embedded NUL (JSON "\u0000") would be cut short by every C
 * consumer after us, so what policy checked would not be what is used. */
static bool
str_has_nul(struct json_object *v)
{
	return strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v);
}

/* An optional member given as JSON null counts as absent. */
static struct json_object *
member(struct json_object *o, const char *key, bool *present)
{
	struct json_object *v = NULL;

	*present = json_object_object_get_ex(o, key, &v) && v != NULL;
	return v;
}

static bool
field_known(const char *key, const char **known)
{
	for (size_t i = 0; known[i] != NULL; i++)
		if (strcmp(key, known[i]) == 0)
			return true;
	return false;
}

static int
check_unknown(struct json_object *o, const char **known, const char *prefix,
    struct req_error *err)
{
	char q[QUOTE_LEN + 1];

	json_object_object_foreach(o, key, val) {
		(void)val;
		if (!field_known(key, known))
			return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "unknown field %s%s",
			    prefix, text_quote(key, q, sizeof(q)));
	}
	return 0;
}

/* A required (or, with !required, optional) string of 1..maxlen bytes.
 * *out stays NULL when an optional string is absent. */
static int
get_string(struct json_object *o, const char *key, const char *path, bool required,
    size_t maxlen, enum req_chars rule, char **out, struct req_error *err)
{
	struct json_object *v;
	const char *s;
	bool present;
	size_t len;

	v = member(o, key, &present);
	if (!present)
		return required ? req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "%s is required", path) : 0;
	if (!json_object_is_type(v, json_type_string))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "%s must be a string", path);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > maxlen)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "%s must be 1 to %zu characters long", path, maxlen);
	if (str_has_nul(v) || !chars_ok(s, rule))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "%s contains characters that are not allowed", path);
	*out = xstrdup(s);
	return 0;
}

bool
request_id_ok(struct json_object *v)
{
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_string) || str_has_nul(v))
		return false;
	len = (size_t)json_object_get_string_len(v);
	return len > 0 && len <= REQ_MAX_ID_LEN && chars_ok(json_object_get_string(v), CHARS_GRAPHIC);
}

/* "v0.1." and a patch number (no sign, no leading zero, at most 9 digits). */
static bool
contract_patch_ok(const char *v)
{
	size_t digits;

	if (strncmp(v, "v0.1.", 5) != 0)
		return false;
	v += 5;
	digits = strspn(v, "0123456789");
	return digits > 0 && digits <= 9 && v[digits] == '\0' && (v[0] != '0' || digits == 1);
}

bool
request_contract_version_ok(struct json_object *v)
{
	const char *s;

	/* str_has_nul: "v1\u0000x" is not "v1", though strcmp would say so
	 * (found by tests/integration/test_hostile_input.py). */
	if (v == NULL || !json_object_is_type(v, json_type_string) || str_has_nul(v))
		return false;
	s = json_object_get_string(v);
	return strcmp(s, REQ_CONTRACT_ALIAS) == 0 || contract_patch_ok(s);
}

const char *
request_contract_version(const char *given)
{
	return given != NULL ? given : REQ_CONTRACT_VERSION;
}

/* Optional: a call that names no version is one of this broker's. */
static int
parse_contract(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *v;
	bool present;

	v = member(args, "contract_version", &present);
	if (!present)
		return 0;
	if (!request_contract_version_ok(v))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "contract_version must be \"" REQ_CONTRACT_VERSION "\" (or a later v0.1.x, "
		    "or \"" REQ_CONTRACT_ALIAS "\"); it may be left out");
	req->contract_version = xstrdup(json_object_get_string(v));
	return 0;
}

/* Left out (or null), the requester is the session's peer
 * (request_fill_defaults).  Given, it must name someone: without an identity
 * there is nobody to hold to account for the call, so every way of giving
 * none is the same policy error, not a shape error. */
static int
parse_requester(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *r, *id;
	bool present;

	r = member(args, "requester", &present);
	if (!present)
		return 0;
	if (!json_object_is_type(r, json_type_object))
		return req_fail(err, ERR_POLICY_MISSING_IDENTITY, "requester.requester_id is required");
	if (check_unknown(r, requester_fields, "requester.", err) == -1)
		return -1;
	id = member(r, "requester_id", &present);
	if (!present || !json_object_is_type(id, json_type_string) ||
	    json_object_get_string_len(id) == 0)
		return req_fail(err, ERR_POLICY_MISSING_IDENTITY, "requester.requester_id is required");
	if (get_string(r, "requester_id", "requester.requester_id", true, REQ_MAX_REQUESTER_LEN,
	    CHARS_PRINT, &req->requester_id, err) == -1)
		return -1;
	return get_string(r, "identity_assurance", "requester.identity_assurance", false,
	    REQ_MAX_ASSURANCE_LEN, CHARS_PRINT, &req->identity_assurance, err);
}

static int
parse_scopes(struct json_object *graph, struct graph_request *req, struct req_error *err)
{
	struct json_object *arr = jx_get_arr(graph, "scopes");
	bool present;
	size_t n;

	(void)member(graph, "scopes", &present);
	if (!present)
		return 0;
	if (arr == NULL)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "graph.scopes must be an array");
	n = json_object_array_length(arr);
	if (n == 0 || n > REQ_MAX_SCOPES)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "graph.scopes must hold 1 to %d scopes", REQ_MAX_SCOPES);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		const char *s;

		if (v == NULL || !json_object_is_type(v, json_type_string))
			return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
			    "graph.scopes[%zu] must be a string", i);
		s = json_object_get_string(v);
		if (*s == '\0' || strlen(s) > REQ_MAX_SCOPE_LEN || str_has_nul(v) ||
		    !chars_ok(s, CHARS_NO_CTL))
			return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
			    "graph.scopes[%zu] must be a scope name of 1 to %d characters", i,
			    REQ_MAX_SCOPE_LEN);
		strlist_add(&req->scopes, s);
	}
	return 0;
}

/* Every member is optional: the broker serves one tenant and a configured
 * set of resources and scopes (request_fill_defaults). */
static int
parse_graph(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *g;
	bool present;

	g = member(args, "graph", &present);
	if (!present)
		return 0;
	if (!json_object_is_type(g, json_type_object))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "graph must be an object");
	if (check_unknown(g, graph_fields, "graph.", err) == -1)
		return -1;
	if (get_string(g, "tenant_id", "graph.tenant_id", false, REQ_MAX_TENANT_LEN, CHARS_NO_CTL,
	    &req->tenant_id, err) == -1)
		return -1;
	if (get_string(g, "resource", "graph.resource", false, REQ_MAX_RESOURCE_LEN, CHARS_NO_CTL,
	    &req->resource, err) == -1)
		return -1;
	return parse_scopes(g, req, err);
}

static int
parse_action(struct json_object *op, struct req_error *err)
{
	struct json_object *v;
	bool present;

	v = member(op, "action", &present);
	if (!present) /* the only action there is */
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.action must be a string");
	if (strcmp(json_object_get_string(v), "downstream_call") != 0 || str_has_nul(v))
		return req_fail(err, ERR_BAD_REQUEST_UNSUPPORTED_OPERATION,
		    "operation.action: only \"downstream_call\" is supported");
	return 0;
}

static int
parse_method(struct json_object *op, struct graph_request *req, struct req_error *err)
{
	static const char *methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	struct json_object *v;
	bool present;

	v = member(op, "method", &present);
	if (!present)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "operation.method is required");
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (json_object_is_type(v, json_type_string) && !str_has_nul(v) &&
		    strcasecmp(json_object_get_string(v), methods[i]) == 0) {
			req->method = xstrdup(methods[i]);
			return 0;
		}
	}
	return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
	    "operation.method must be one of GET, POST, PUT, PATCH, DELETE");
}

/* Whether the path is safe (prefix, characters, traversal) is policy's call,
 * so that every unsafe path is refused with one reason; here it is only
 * measured and split. */
static int
parse_path(struct json_object *op, struct graph_request *req, struct req_error *err)
{
	char *full = NULL, *q;

	if (get_string(op, "path", "operation.path", true, REQ_MAX_PATH_LEN, CHARS_ANY, &full,
	    err) == -1)
		return -1;
	if ((q = strchr(full, '?')) != NULL) {
		req->query = xstrdup(q + 1);
		*q = '\0';
	}
	req->path = full;
	return 0;
}

/* ASCII only: a locale-aware tolower could fold bytes of a UTF-8 name. */
static char *
lower_dup(const char *s)
{
	char *p = xstrdup(s);

	for (char *c = p; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return p;
}

bool
request_header_forwarded(const char *name)
{
	static const char *names[] = { REQ_FORWARDED_HEADERS };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* The original contract refuses a header it does not forward rather than
 * dropping it unseen: the caller learns that its If-None-Match or
 * Authorization never reached Graph.  Header values are policy's to judge
 * (header.invalid); only the shape is checked here.  Names differing in
 * case only are one HTTP header, and which of two values would win is not
 * something to leave to chance. */
static int
add_header(struct graph_request *req, const char *key, struct json_object *v,
    struct req_error *err)
{
	char q[QUOTE_LEN + 1], *name;

	text_quote(key, q, sizeof(q));
	name = lower_dup(key);
	if (!request_header_forwarded(name)) {
		free(name);
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.headers.%s is not a header the broker forwards (accepted: accept, "
		    "content-type, if-match, prefer, consistencylevel)", q);
	}
	free(name);
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.headers.%s must be a string", q);
	if (str_has_nul(v))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.headers.%s contains a NUL byte", q);
	name = lower_dup(key);
	for (size_t i = 0; i < req->n_headers; i++) {
		if (strcmp(req->headers[i].name, name) == 0) {
			free(name);
			return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
			    "operation.headers.%s is given more than once", q);
		}
	}
	req->headers[req->n_headers].name = name;
	req->headers[req->n_headers].value = xstrdup(json_object_get_string(v));
	req->n_headers++;
	return 0;
}

static int
parse_headers(struct json_object *op, struct graph_request *req, struct req_error *err)
{
	struct json_object *h;
	bool present;

	h = member(op, "headers", &present);
	if (!present)
		return 0;
	if (!json_object_is_type(h, json_type_object))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.headers must be an object");
	if (json_object_object_length(h) > REQ_MAX_HEADERS)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.headers may hold at most %d headers", REQ_MAX_HEADERS);
	json_object_object_foreach(h, key, val) {
		if (add_header(req, key, val, err) == -1)
			return -1;
	}
	return 0;
}

/* Graph ignores or rejects a body on GET and DELETE; refusing it here keeps
 * a client from believing it was sent. */
static int
parse_body(struct json_object *op, struct graph_request *req, struct req_error *err)
{
	struct json_object *b;
	bool present;

	b = member(op, "body", &present);
	if (!present)
		return 0;
	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0 &&
	    strcmp(req->method, "PATCH") != 0)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
		    "operation.body is only allowed with POST, PUT or PATCH");
	req->body = json_object_get(b);
	return 0;
}

static int
parse_operation(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *op = jx_get_obj(args, "operation");

	if (jx_get(args, "operation") == NULL)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "operation is required");
	if (op == NULL)
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "operation must be an object");
	if (check_unknown(op, operation_fields, "operation.", err) == -1 ||
	    parse_action(op, err) == -1 || parse_method(op, req, err) == -1 ||
	    parse_path(op, req, err) == -1 || parse_headers(op, req, err) == -1 ||
	    parse_body(op, req, err) == -1)
		return -1;
	return 0;
}

/* json-c saturates integers beyond int64 to INT64_MAX (or keeps them as
 * uint64, read back saturated), so the range check also refuses those. */
static int
parse_timeout(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *v;
	bool present;
	int64_t ms;

	v = member(args, "timeout_ms", &present);
	if (!present)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		ms = json_object_get_int64(v);
		if (ms >= REQ_TIMEOUT_MIN_MS && ms <= REQ_TIMEOUT_MAX_MS) {
			req->timeout_ms = (long)ms;
			return 0;
		}
	}
	return req_fail(err, ERR_BAD_REQUEST_INVALID_TIMEOUT,
	    "timeout_ms must be a whole number of milliseconds from %d to %d",
	    REQ_TIMEOUT_MIN_MS, REQ_TIMEOUT_MAX_MS);
}

/* Pages to follow by @odata.nextLink (GET only: a next link is read). */
static int
parse_max_pages(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	struct json_object *v;
	bool present;
	int64_t n;

	v = member(args, "max_pages", &present);
	if (!present)
		return 0;
	if (json_object_is_type(v, json_type_int) && (n = json_object_get_int64(v)) >= 1 &&
	    n <= REQ_MAX_PAGES) {
		if (n > 1 && strcmp(req->method, "GET") != 0)
			return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
			    "max_pages over 1 is for GET only");
		req->max_pages = (long)n;
		return 0;
	}
	return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD,
	    "max_pages must be a whole number from 1 to %d", REQ_MAX_PAGES);
}

int
request_parse(struct json_object *args, struct graph_request *req, struct req_error *err)
{
	memset(req, 0, sizeof(*req));
	req->timeout_ms = REQ_TIMEOUT_DEFAULT_MS;
	req->max_pages = 1;
	memset(err, 0, sizeof(*err));
	if (args == NULL || !json_object_is_type(args, json_type_object))
		return req_fail(err, ERR_BAD_REQUEST_INVALID_FIELD, "arguments must be an object");
	/* request_id first, so that every later refusal can name the request it
	 * refuses; then unknown fields: a misspelt optional field must not be
	 * silently ignored in favour of a later, less helpful error. */
	if (get_string(args, "request_id", "request_id", false, REQ_MAX_ID_LEN, CHARS_GRAPHIC,
		&req->request_id, err) == -1 ||
	    check_unknown(args, top_fields, "", err) == -1 || parse_contract(args, req, err) == -1 ||
	    parse_requester(args, req, err) == -1 || parse_graph(args, req, err) == -1 ||
	    parse_operation(args, req, err) == -1 || parse_timeout(args, req, err) == -1 ||
	    parse_max_pages(args, req, err) == -1)
		return -1;
	return 0;
}

/* Defaults come before policy, so policy judges, and tokend re-judges,
 * exactly the request that is made. */
void
request_fill_defaults(struct graph_request *req, const struct config *cfg,
    const struct req_defaults *def)
{
	if (req->request_id == NULL)
		req->request_id = xstrdup(def->request_id);
	if (req->requester_id == NULL) {
		req->requester_id = xstrdup(def->requester_id);
		free(req->identity_assurance);
		req->identity_assurance = def->identity_assurance ?
		    xstrdup(def->identity_assurance) : NULL;
	}
	if (req->tenant_id == NULL && cfg->tenant_id != NULL)
		req->tenant_id = xstrdup(cfg->tenant_id);
	if (req->resource == NULL && cfg->resources.n > 0)
		req->resource = xstrdup(cfg->resources.v[0]);
	/* Every allowed scope, up to what a request may name (and tokend
	 * accepts): the token asks for <resource>/.default either way. */
	if (req->scopes.n == 0)
		for (size_t i = 0; i < cfg->scopes.n && i < REQ_MAX_SCOPES; i++)
			strlist_add(&req->scopes, cfg->scopes.v[i]);
}

void
request_free(struct graph_request *req)
{
	free(req->contract_version);
	free(req->request_id);
	free(req->requester_id);
	free(req->identity_assurance);
	free(req->tenant_id);
	free(req->resource);
	strlist_free(&req->scopes);
	free(req->method);
	free(req->path);
	free(req->query);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	json_object_put(req->body);
	memset(req, 0, sizeof(*req));
}
