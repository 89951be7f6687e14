/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "msg.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sending ----------------------------------------------------------- */

static void
send_json(struct ipc_chan *c, uint32_t type, uint64_t id, struct json_object *o)
{
	if (ipc_send_json(c, type, id, o) == -1)
		fatalx("cannot queue %s to %s: payload too long", ipc_type_name(type), c->peer);
	json_object_put(o);
}

static void
send_raw(struct ipc_chan *c, uint32_t type, uint64_t id, const void *p, size_t n)
{
	if (ipc_send(c, type, id, p, n) == -1)
		fatalx("cannot queue %s to %s: payload too long", ipc_type_name(type), c->peer);
}

/* ---- decoding: shape checks shared by every decoder --------------------- */

/* The payload as a JSON object, or NULL with *why. */
static struct json_object *
payload_object(const struct ipc_msg *m, const char **why)
{
	struct json_object *o = ipc_msg_json(m);

	if (o == NULL)
		*why = "payload is not a JSON object";
	return o;
}

/* Every member is one of names (NULL-terminated). */
static bool
members_known(struct json_object *o, const char *const *names, const char **why)
{
	json_object_object_foreach(o, key, v) {
		size_t i;

		(void)v;
		for (i = 0; names[i] != NULL && strcmp(names[i], key) != 0; i++)
			;
		if (names[i] == NULL) {
			*why = "unknown member";
			return false;
		}
	}
	return true;
}

/* A string member of 0..max bytes without NUL (min 1 when required), or
 * absent/null when optional (*out NULL). */
static bool
get_str(struct json_object *o, const char *key, bool required, size_t max, const char **out,
    const char **why)
{
	struct json_object *v = NULL;
	size_t len;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
		if (required)
			*why = "required member missing";
		return !required;
	}
	if (!json_object_is_type(v, json_type_string)) {
		*why = "member is not a string";
		return false;
	}
	len = (size_t)json_object_get_string_len(v);
	if (len > max || strlen(json_object_get_string(v)) != len || (required && len == 0)) {
		*why = "string member empty, too long or holding NUL";
		return false;
	}
	*out = json_object_get_string(v);
	return true;
}

static bool
copy_str(struct json_object *o, const char *key, bool required, char *dst, size_t dstsz,
    const char **why)
{
	const char *s;

	if (!get_str(o, key, required, dstsz - 1, &s, why))
		return false;
	snprintf(dst, dstsz, "%s", s ? s : "");
	return true;
}

static bool
get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out,
    const char **why)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) {
		*why = "integer member missing or not an integer";
		return false;
	}
	*out = json_object_get_int64(v);
	if (*out < min || *out > max) {
		*why = "integer member out of range";
		return false;
	}
	return true;
}

static bool
get_bool(struct json_object *o, const char *key, bool *out, const char **why)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean)) {
		*why = "boolean member missing or not a boolean";
		return false;
	}
	*out = json_object_get_boolean(v);
	return true;
}

static struct json_object *
get_obj(struct json_object *o, const char *key, const char **why)
{
	struct json_object *v = jx_get_obj(o, key);

	if (v == NULL)
		*why = "object member missing or not an object";
	return v;
}

/* One of names, by index. */
static bool
get_enum(struct json_object *o, const char *key, const char *const *names, size_t n, int *out,
    const char **why)
{
	const char *s;

	if (!get_str(o, key, true, 64, &s, why))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return true;
		}
	}
	*why = "value not among those defined";
	return false;
}

/* Releases the payload object of a message that failed its check. */
static int
drop(struct json_object *o)
{
	json_object_put(o);
	return -1;
}

/* ---- EXEC_REQ ---------------------------------------------------------- */

static const char *const exec_req_members[] = { "token_only", "request_id", "requester_id",
	"tenant_id", "resource", "scopes", "method", "path", "query", "headers", "body",
	"timeout_ms", "max_pages", "caller", NULL };

static void
exec_req_common(struct json_object *o, bool token_only, const char *tenant_id,
    const char *resource, long timeout_ms)
{
	jx_add_bool(o, "token_only", token_only);
	jx_add_str(o, "tenant_id", tenant_id);
	jx_add_str(o, "resource", resource);
	jx_add_int(o, "timeout_ms", timeout_ms);
}

/* Only the headers policy forwards travel: tokend refuses any other. */
void
msg_exec_req_send(struct ipc_chan *c, uint64_t id, const struct graph_request *req,
    const struct policy_decision *d, const struct msg_caller *caller)
{
	struct json_object *o = json_object_new_object(), *h = json_object_new_object();
	struct json_object *scopes = json_object_new_array();
	char resource[512];

	/* Policy allowed this resource, so it has a key. */
	if (!policy_resource_key(req->resource, resource, sizeof(resource)))
		fatalx("allowed resource without a key");
	exec_req_common(o, false, req->tenant_id, resource, req->timeout_ms);
	jx_add_str(o, "request_id", req->request_id);
	jx_add_str(o, "requester_id", req->requester_id);
	for (size_t i = 0; i < req->scopes.n; i++)
		json_object_array_add(scopes, json_object_new_string(req->scopes.v[i]));
	jx_add(o, "scopes", scopes);
	jx_add_str(o, "method", req->method);
	jx_add_str(o, "path", req->path);
	if (req->query != NULL)
		jx_add_str(o, "query", req->query);
	for (size_t i = 0; i < req->n_headers; i++)
		if (d->forward[i])
			jx_add_str(h, req->headers[i].name, req->headers[i].value);
	jx_add(o, "headers", h);
	if (req->body != NULL)
		jx_add(o, "body", json_object_get(req->body));
	jx_add_int(o, "max_pages", req->max_pages > 0 ? req->max_pages : 1);
	if (caller != NULL && caller->credential != NULL) {
		struct json_object *who = json_object_new_object();
		jx_add_str(who, "method", caller->method);
		jx_add_str(who, "credential", caller->credential);
		jx_add(o, "caller", who);
	}
	send_json(c, MSG_EXEC_REQ, id, o);
}

/* {"method":"api_key"|"oauth","credential":"..."}, or absent. */
static bool
exec_req_caller(struct json_object *o, struct msg_caller *out, const char **why)
{
	static const char *const members[] = { "method", "credential", NULL };
	struct json_object *who;
	const char *method, *credential;

	if (!json_object_object_get_ex(o, "caller", &who))
		return true;
	if (!json_object_is_type(who, json_type_object) || !members_known(who, members, why) ||
	    !get_str(who, "method", true, 15, &method, why) ||
	    !get_str(who, "credential", true, MSG_CREDENTIAL_MAX, &credential, why))
		return *why = *why != NULL ? *why : "caller is not an object", false;
	if (strcmp(method, "api_key") != 0 && strcmp(method, "oauth") != 0)
		return *why = "caller.method is neither api_key nor oauth", false;
	snprintf(out->method, sizeof(out->method), "%s", method);
	if ((out->credential = strdup(credential)) == NULL)
		fatalx("out of memory");
	return true;
}

void
msg_exec_req_send_token_only(struct ipc_chan *c, uint64_t id, const char *tenant_id,
    const char *resource, long timeout_ms)
{
	struct json_object *o = json_object_new_object();

	exec_req_common(o, true, tenant_id, resource, timeout_ms);
	send_json(c, MSG_EXEC_REQ, id, o);
}

static bool
exec_req_strings(struct json_object *o, struct graph_request *r, bool token_only,
    const char **why)
{
	const char *s;

	if (!get_str(o, "tenant_id", true, 253, &s, why))
		return false;
	r->tenant_id = xstrdup(s);
	if (!get_str(o, "resource", true, 511, &s, why))
		return false;
	r->resource = xstrdup(s);
	if (token_only)
		return true;
	if (!get_str(o, "request_id", true, REQ_MAX_ID_LEN, &s, why))
		return false;
	r->request_id = xstrdup(s);
	if (!get_str(o, "requester_id", true, 128, &s, why))
		return false;
	r->requester_id = xstrdup(s);
	if (!get_str(o, "method", true, 8, &s, why))
		return false;
	r->method = xstrdup(s);
	if (!get_str(o, "path", true, REQ_MAX_PATH_LEN, &s, why))
		return false;
	r->path = xstrdup(s);
	if (!get_str(o, "query", false, REQ_MAX_PATH_LEN, &s, why))
		return false;
	r->query = s ? xstrdup(s) : NULL;
	return true;
}

static bool
exec_req_scopes(struct json_object *o, struct graph_request *r, const char **why)
{
	struct json_object *a = jx_get_arr(o, "scopes");
	size_t n = a ? json_object_array_length(a) : 0;

	if (n == 0 || n > 32) {
		*why = "scopes missing, empty or too many";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(a, i);

		if (!json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
			*why = "scope is not a string without NUL";
			return false;
		}
		strlist_add(&r->scopes, json_object_get_string(v));
	}
	return true;
}

/* Names are stored as given: policy (in tokend) judges them, and a name
 * that is not lower case or a duplicate is refused there. */
static bool
exec_req_headers(struct json_object *o, struct graph_request *r, const char **why)
{
	struct json_object *h = get_obj(o, "headers", why);

	if (h == NULL)
		return false;
	if (json_object_object_length(h) > REQ_MAX_HEADERS) {
		*why = "too many headers";
		return false;
	}
	json_object_object_foreach(h, name, v) {
		if (!json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
			*why = "header value is not a string without NUL";
			return false;
		}
		r->headers[r->n_headers].name = xstrdup(name);
		r->headers[r->n_headers].value = xstrdup(json_object_get_string(v));
		r->n_headers++;
	}
	return true;
}

static bool
exec_req_graph(struct json_object *o, struct graph_request *r, const char **why)
{
	struct json_object *body = NULL;
	int64_t pages;

	if (!exec_req_scopes(o, r, why) || !exec_req_headers(o, r, why) ||
	    !get_int(o, "max_pages", 1, REQ_MAX_PAGES, &pages, why))
		return false;
	r->max_pages = (long)pages;
	if (pages > 1 && strcmp(r->method, "GET") != 0) {
		*why = "max_pages over 1 for a method other than GET";
		return false;
	}
	if (json_object_object_get_ex(o, "body", &body) && body != NULL)
		r->body = json_object_get(body);
	return true;
}

int
msg_exec_req_decode(const struct ipc_msg *m, struct msg_exec_req *out, const char **why)
{
	struct json_object *o;
	int64_t timeout;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, exec_req_members, why) ||
	    !get_bool(o, "token_only", &out->token_only, why) ||
	    !get_int(o, "timeout_ms", REQ_TIMEOUT_MIN_MS, REQ_TIMEOUT_MAX_MS, &timeout, why) ||
	    !exec_req_strings(o, &out->req, out->token_only, why) ||
	    (!out->token_only && !exec_req_graph(o, &out->req, why)) ||
	    !exec_req_caller(o, &out->caller, why)) {
		msg_exec_req_free(out);
		return drop(o);
	}
	/* A token_only request carries nothing of a Graph call. */
	if (out->token_only && json_object_object_length(o) != 4) {
		msg_exec_req_free(out);
		*why = "token_only request with members of a Graph call";
		return drop(o);
	}
	out->req.timeout_ms = (long)timeout;
	json_object_put(o);
	return 0;
}

void
msg_exec_req_free(struct msg_exec_req *x)
{
	request_free(&x->req);
	if (x->caller.credential != NULL) {
		sodium_memzero(x->caller.credential, strlen(x->caller.credential));
		free(x->caller.credential);
		x->caller.credential = NULL;
	}
}

/* ---- token metadata ---------------------------------------------------- */

static const char *const token_sources[] = { "minted", "cache", "cache_fallback" };

const char *
msg_token_source_name(enum msg_token_source s)
{
	return token_sources[s];
}

static struct json_object *
token_meta_object(const struct msg_token_meta *t, bool with_roles)
{
	struct json_object *o = json_object_new_object(), *roles;
	char copy[MSG_ROLES_MAX], *save = NULL;

	jx_add_str(o, "source", token_sources[t->source]);
	jx_add_str(o, "token_type", t->token_type);
	jx_add_str(o, "expires_at", t->expires_at);
	if (with_roles && t->has_roles) {
		roles = json_object_new_array();
		snprintf(copy, sizeof(copy), "%s", t->roles);
		for (char *r = strtok_r(copy, " ", &save); r; r = strtok_r(NULL, " ", &save))
			json_object_array_add(roles, json_object_new_string(r));
		jx_add(o, "roles", roles);
	}
	return o;
}

struct json_object *
msg_token_meta_json(const struct msg_token_meta *t)
{
	return token_meta_object(t, false);
}

/* A role name as a token may carry one: visible ASCII, no space (they are
 * joined with spaces), at most MSG_ROLE_NAME_MAX bytes. */
static bool
role_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > MSG_ROLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool
roles_decode(struct json_object *o, struct msg_token_meta *t, const char **why)
{
	struct json_object *arr;
	size_t used = 0;

	if (!json_object_object_get_ex(o, "roles", &arr))
		return true;
	if (!json_object_is_type(arr, json_type_array)) {
		*why = "token.roles is not an array";
		return false;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		size_t len = s ? (size_t)json_object_get_string_len(e) : 0;
		if (s == NULL || !role_name_valid(s, len) || strlen(s) != len) {
			*why = "token.roles holds something that is not a role name";
			return false;
		}
		if (used + len + 2 > sizeof(t->roles)) {
			*why = "token.roles is too long";
			return false;
		}
		if (used > 0)
			t->roles[used++] = ' ';
		memcpy(t->roles + used, s, len + 1);
		used += len;
	}
	t->has_roles = true;
	return true;
}

static bool
token_meta_decode(struct json_object *o, struct msg_token_meta *t, const char **why)
{
	static const char *const members[] = { "source", "token_type", "expires_at", "roles", NULL };
	int src;

	if (o == NULL || !members_known(o, members, why) ||
	    !get_enum(o, "source", token_sources, NITEMS(token_sources), &src, why) ||
	    !copy_str(o, "token_type", true, t->token_type, sizeof(t->token_type), why) ||
	    !copy_str(o, "expires_at", true, t->expires_at, sizeof(t->expires_at), why) ||
	    !roles_decode(o, t, why))
		return false;
	t->source = (enum msg_token_source)src;
	return true;
}

/* ---- EXEC_ANS ---------------------------------------------------------- */

static const char *const body_formats[] = { "empty", "json", "text", "image", "binary",
	"batch" };

const char *
msg_body_format_name(enum msg_body_format f)
{
	return body_formats[f];
}

struct json_object *
msg_execution_new(const struct msg_graph_meta *g, enum msg_body_format f,
    struct json_object *body)
{
	struct json_object *ex = json_object_new_object(), *h = json_object_new_object();
	const char *kept[][2] = { { "request-id", g->request_id },
		{ "client-request-id", g->client_request_id }, { "retry-after", g->retry_after },
		{ "content-type", g->content_type }, { "location", g->location } };

	for (size_t i = 0; i < NITEMS(kept); i++)
		if (kept[i][1] != NULL && *kept[i][1] != '\0')
			jx_add_str(h, kept[i][0], kept[i][1]);
	jx_add_int(ex, "http_status", g->status);
	jx_add_str(ex, "provider_request_id", g->request_id ? g->request_id : "");
	jx_add(ex, "headers", h);
	jx_add_str(ex, "body_format", body_formats[f]);
	if (f == BODY_IMAGE || f == BODY_BINARY) {
		jx_add(ex, "body", NULL);
		jx_add(ex, "body_base64", body);
	} else if (f == BODY_BATCH) {
		jx_add(ex, "body", NULL);
		jx_add(ex, "responses", body);
	} else {
		jx_add(ex, "body", body);
	}
	return ex;
}

static struct json_object *
exec_ans_object(const struct msg_token_meta *token, struct json_object *execution)
{
	struct json_object *o = json_object_new_object();

	jx_add_bool(o, "ok", true);
	jx_add(o, "token", token_meta_object(token, true));
	if (execution != NULL)
		jx_add(o, "execution", json_object_get(execution));
	return o;
}

void
msg_exec_ans_send(struct ipc_chan *c, uint64_t id, const struct msg_token_meta *token,
    struct json_object *execution)
{
	send_json(c, MSG_EXEC_ANS, id, exec_ans_object(token, execution));
}

int
msg_exec_ans_try_send(struct ipc_chan *c, uint64_t id, const struct msg_token_meta *token,
    struct json_object *execution)
{
	struct json_object *o = exec_ans_object(token, execution);
	int rc = ipc_send_json(c, MSG_EXEC_ANS, id, o);

	json_object_put(o);
	return rc;
}

/* Error messages fit the decoders' buffers: cut at a character boundary,
 * since a cut inside a UTF-8 sequence would not parse at the other end. */
static const char *
clip(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);

	if (n < outsz)
		return s;
	n = outsz - 1;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

static void
error_send(struct ipc_chan *c, uint32_t type, uint64_t id, enum err_code code, const char *message,
    bool with_ok)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	char cut[sizeof(((struct msg_error *)0)->message)];

	jx_add_str(e, "code", err_name(code));
	jx_add_str(e, "message", clip(message ? message : "", cut, sizeof(cut)));
	if (with_ok) {
		jx_add_bool(o, "ok", false);
		jx_add(o, "error", e);
	} else {
		json_object_put(o);
		o = e;
	}
	send_json(c, type, id, o);
}

void
msg_exec_ans_send_error(struct ipc_chan *c, uint64_t id, enum err_code code, const char *message)
{
	error_send(c, MSG_EXEC_ANS, id, code, message, true);
}

static bool
error_decode(struct json_object *e, enum err_code *code, char *message, size_t len,
    const char **why)
{
	static const char *const members[] = { "code", "message", NULL };
	const char *name;

	if (e == NULL || !members_known(e, members, why) ||
	    !get_str(e, "code", true, 64, &name, why) ||
	    !copy_str(e, "message", true, message, len, why))
		return false;
	if ((*code = err_from_name(name)) == ERR_NONE) {
		*why = "unknown error code";
		return false;
	}
	return true;
}

/* What brokerd passes on to the client: the status, the headers tokend
 * keeps (by name), the body. */
static bool execution_responses_decode(struct json_object *ex, const char **why);

/* The body matches its format: JSON any value, text a string, an image or
 * binary content base64 with its content type, empty nothing, a batch its
 * sub-responses. */
static bool
execution_body_decode(struct json_object *ex, struct json_object *h, enum msg_body_format f,
    const char **why)
{
	struct json_object *body = NULL, *responses = NULL;
	const char *b64 = NULL, *ctype = NULL;
	bool has_body = json_object_object_get_ex(ex, "body", &body);

	json_object_object_get_ex(ex, "responses", &responses);
	if (!get_str(ex, "body_base64", false, IPC_MAX_PAYLOAD, &b64, why) ||
	    !get_str(h, "content-type", false, 128, &ctype, why))
		return false;
	if ((f == BODY_IMAGE || f == BODY_BINARY) != (b64 != NULL) ||
	    (b64 != NULL && (ctype == NULL || body != NULL)) || !has_body ||
	    (f == BODY_TEXT && !json_object_is_type(body, json_type_string)) ||
	    ((f == BODY_EMPTY || f == BODY_BATCH) && body != NULL) ||
	    (f == BODY_BATCH) != (responses != NULL)) {
		*why = "body does not match its format";
		return false;
	}
	return f != BODY_BATCH || execution_responses_decode(ex, why);
}

/* Each sub-response of a batch: {id, status, headers, body_format, body
 * [, body_base64]}, its body as a single answer's. */
static bool
execution_responses_decode(struct json_object *ex, const char **why)
{
	static const char *const members[] = { "id", "status", "headers", "body_format", "body",
		"body_base64", NULL };
	struct json_object *a = jx_get_arr(ex, "responses");
	size_t n = a ? json_object_array_length(a) : 0;

	if (a == NULL || n > 20) {
		*why = "batch responses missing or more than 20";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(a, i), *h;
		const char *s;
		int64_t st;
		int f;

		if (!json_object_is_type(r, json_type_object) || !members_known(r, members, why) ||
		    !get_str(r, "id", true, 128, &s, why) || !get_int(r, "status", 100, 599, &st, why) ||
		    (h = get_obj(r, "headers", why)) == NULL ||
		    !get_enum(r, "body_format", body_formats, NITEMS(body_formats) - 1, &f, why) ||
		    !execution_body_decode(r, h, (enum msg_body_format)f, why))
			return false;
	}
	return true;
}

/* How many pages a paged answer merged, and where to continue from. */
static bool
execution_paging_decode(struct json_object *ex, const char **why)
{
	static const char *const members[] = { "pages", "items", "truncated", "next_link",
		"stopped", NULL };
	struct json_object *p = NULL;
	const char *s;
	int64_t n;
	bool b;

	if (!json_object_object_get_ex(ex, "paging", &p))
		return true;
	if (!json_object_is_type(p, json_type_object) || !members_known(p, members, why) ||
	    !get_int(p, "pages", 1, REQ_MAX_PAGES, &n, why) ||
	    !get_int(p, "items", 0, INT32_MAX, &n, why) || !get_bool(p, "truncated", &b, why) ||
	    !get_str(p, "next_link", false, MSG_NEXT_LINK_MAX, &s, why) ||
	    !get_str(p, "stopped", false, 160, &s, why)) {
		*why = *why ? *why : "malformed paging";
		return false;
	}
	return true;
}

static bool
execution_decode(struct json_object *ex, int *status, enum msg_body_format *format,
    const char **why)
{
	static const char *const members[] = { "http_status", "provider_request_id", "headers",
		"body_format", "body", "body_base64", "responses", "paging", NULL };
	static const char *const headers[] = { "request-id", "client-request-id", "retry-after",
		"content-type", "location", NULL };
	struct json_object *h;
	const char *s;
	int64_t st;
	int f;

	if (ex == NULL || !members_known(ex, members, why) ||
	    !get_int(ex, "http_status", 100, 599, &st, why) ||
	    !get_str(ex, "provider_request_id", false, 128, &s, why) ||
	    (h = get_obj(ex, "headers", why)) == NULL || !members_known(h, headers, why) ||
	    !get_enum(ex, "body_format", body_formats, NITEMS(body_formats), &f, why))
		return false;
	json_object_object_foreach(h, name, v) {
		(void)v;
		if (!get_str(h, name, true, strcmp(name, "location") == 0 ? 4095 : 128, &s, why))
			return false;
	}
	*status = (int)st;
	*format = (enum msg_body_format)f;
	return execution_body_decode(ex, h, *format, why) && execution_paging_decode(ex, why);
}

static int
exec_ans_decode_ok(struct json_object *o, struct msg_exec_ans *out, const char **why)
{
	static const char *const members[] = { "ok", "token", "execution", NULL };
	struct json_object *ex = NULL;

	if (!members_known(o, members, why) || !token_meta_decode(jx_get_obj(o, "token"), &out->token, why))
		return -1;
	if (json_object_object_get_ex(o, "execution", &ex)) {
		if (!execution_decode(jx_get_obj(o, "execution"), &out->http_status,
			&out->body_format, why))
			return -1;
		out->execution = json_object_get(ex);
	}
	return 0;
}

int
msg_exec_ans_decode(const struct ipc_msg *m, struct msg_exec_ans *out, const char **why)
{
	static const char *const members[] = { "ok", "error", NULL };
	struct json_object *o;
	bool ok;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!get_bool(o, "ok", &ok, why))
		return drop(o);
	if (ok)
		rc = exec_ans_decode_ok(o, out, why);
	else
		rc = members_known(o, members, why) &&
			error_decode(jx_get_obj(o, "error"), &out->code, out->message,
			    sizeof(out->message), why)
		    ? 0 : -1;
	json_object_put(o);
	if (rc == -1)
		msg_exec_ans_free(out);
	return rc;
}

void
msg_exec_ans_free(struct msg_exec_ans *a)
{
	json_object_put(a->execution);
	a->execution = NULL;
}

/* ---- DESCRIBE_REQ ------------------------------------------------------ */

void
msg_describe_req_send(struct ipc_chan *c, uint64_t id, const char *resource)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "resource", resource);
	send_json(c, MSG_DESCRIBE_REQ, id, o);
}

int
msg_describe_req_decode(const struct ipc_msg *m, char *resource, size_t len, const char **why)
{
	static const char *const members[] = { "resource", NULL };
	struct json_object *o;

	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) || !copy_str(o, "resource", true, resource, len, why))
		return drop(o);
	json_object_put(o);
	return 0;
}

/* ---- DESCRIBE_ANS ------------------------------------------------------ */

static const char *const cache_states[] = { "empty", "valid", "expired" };

static struct json_object *
describe_cache_object(const struct msg_describe_ans *a)
{
	struct json_object *c = json_object_new_object();

	jx_add_str(c, "state", cache_states[a->state]);
	if (a->state != CACHE_STATE_EMPTY) {
		jx_add_str(c, "token_type", a->token_type);
		jx_add_str(c, "expires_at", a->expires_at);
		jx_add_int(c, "expires_in_s", a->expires_in_s);
	}
	jx_add_bool(c, "refreshing", a->refreshing);
	jx_add_bool(c, "throttled", a->throttled);
	return c;
}

void
msg_describe_ans_send(struct ipc_chan *c, uint64_t id, const struct msg_describe_ans *a)
{
	struct json_object *o = json_object_new_object();

	jx_add(o, "cache", describe_cache_object(a));
	send_json(c, MSG_DESCRIBE_ANS, id, o);
}

struct json_object *
msg_describe_ans_json(const struct msg_describe_ans *a)
{
	return describe_cache_object(a);
}

static bool
describe_cache_decode(struct json_object *c, struct msg_describe_ans *a, const char **why)
{
	static const char *const members[] = { "state", "token_type", "expires_at",
		"expires_in_s", "refreshing", "throttled", NULL };
	int st;

	if (c == NULL || !members_known(c, members, why) ||
	    !get_enum(c, "state", cache_states, NITEMS(cache_states), &st, why) ||
	    !get_bool(c, "refreshing", &a->refreshing, why) ||
	    !get_bool(c, "throttled", &a->throttled, why))
		return false;
	a->state = (enum msg_cache_state)st;
	if (a->state == CACHE_STATE_EMPTY)
		return json_object_object_length(c) == 3 || (*why = "empty cache with a token", false);
	return copy_str(c, "token_type", true, a->token_type, sizeof(a->token_type), why) &&
	    copy_str(c, "expires_at", true, a->expires_at, sizeof(a->expires_at), why) &&
	    get_int(c, "expires_in_s", INT32_MIN, INT32_MAX, &a->expires_in_s, why);
}

int
msg_describe_ans_decode(const struct ipc_msg *m, struct msg_describe_ans *out, const char **why)
{
	static const char *const members[] = { "cache", NULL };
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) ||
	    !describe_cache_decode(jx_get_obj(o, "cache"), out, why))
		return drop(o);
	json_object_put(o);
	return 0;
}

/* ---- CANCEL_REQ -------------------------------------------------------- */

void
msg_cancel_req_send(struct ipc_chan *c, uint64_t id)
{
	send_raw(c, MSG_CANCEL_REQ, id, NULL, 0);
}

int
msg_cancel_req_decode(const struct ipc_msg *m, const char **why)
{
	if (m->hdr.len != 0) {
		*why = "CANCEL_REQ with a payload";
		return -1;
	}
	return 0;
}

/* ---- PROGRESS ---------------------------------------------------------- */

void
msg_progress_send(struct ipc_chan *c, uint64_t id, const char *message, int64_t retry_in_ms)
{
	struct json_object *o = json_object_new_object();
	char cut[sizeof(((struct msg_progress *)0)->message)];

	jx_add_str(o, "message", clip(message, cut, sizeof(cut)));
	jx_add_int(o, "retry_in_ms", retry_in_ms);
	send_json(c, MSG_PROGRESS, id, o);
}

int
msg_progress_decode(const struct ipc_msg *m, struct msg_progress *out, const char **why)
{
	static const char *const members[] = { "message", "retry_in_ms", NULL };
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) ||
	    !copy_str(o, "message", true, out->message, sizeof(out->message), why) ||
	    !get_int(o, "retry_in_ms", 0, REQ_TIMEOUT_MAX_MS, &out->retry_in_ms, why))
		return drop(o);
	json_object_put(o);
	return 0;
}

/* ---- SECRET_REQ -------------------------------------------------------- */

void
msg_secret_req_send(struct ipc_chan *c, uint64_t id, bool refresh)
{
	static const char fresh[] = "{\"refresh\":true}";

	send_raw(c, MSG_SECRET_REQ, id, refresh ? fresh : NULL, refresh ? sizeof(fresh) - 1 : 0);
}

int
msg_secret_req_decode(const struct ipc_msg *m, bool *refresh, const char **why)
{
	static const char *const members[] = { "refresh", NULL };
	struct json_object *o;

	*refresh = false;
	if (m->hdr.len == 0)
		return 0;
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) || !get_bool(o, "refresh", refresh, why)) {
		json_object_put(o);
		return -2;
	}
	json_object_put(o);
	return 0;
}

/* ---- SECRET_ANS, OP_TOKEN: raw bytes ----------------------------------- */

void
msg_secret_ans_send(struct ipc_chan *c, uint64_t id, const unsigned char *p, size_t n)
{
	send_raw(c, MSG_SECRET_ANS, id, p, n);
}

int
msg_secret_ans_decode(const struct ipc_msg *m, const char **why)
{
	if (m->hdr.len == 0) {
		*why = "empty secret";
		return -1;
	}
	return 0;
}

void
msg_op_token_send(struct ipc_chan *c, const unsigned char *p, size_t n)
{
	send_raw(c, MSG_OP_TOKEN, 0, p, n);
}

int
msg_op_token_decode(const struct ipc_msg *m, const char **why)
{
	if (m->hdr.id != 0) {
		*why = "OP_TOKEN with an id";
		return -1;
	}
	return 0;
}

/* ---- SECRET_ERR -------------------------------------------------------- */

void
msg_secret_err_send(struct ipc_chan *c, uint64_t id, enum err_code code, const char *message)
{
	error_send(c, MSG_SECRET_ERR, id, code, message, false);
}

int
msg_secret_err_decode(const struct ipc_msg *m, struct msg_error *out, const char **why)
{
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!error_decode(o, &out->code, out->message, sizeof(out->message), why))
		return drop(o);
	json_object_put(o);
	return 0;
}

/* ---- SECRET_INFO ------------------------------------------------------- */

void
msg_secret_info_send(struct ipc_chan *c, const char *fingerprint, const char *provider)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "fingerprint", fingerprint);
	jx_add_str(o, "provider", provider);
	send_json(c, MSG_SECRET_INFO, 0, o);
}

int
msg_secret_info_decode(const struct ipc_msg *m, struct msg_secret_info *out, const char **why)
{
	static const char *const members[] = { "fingerprint", "provider", NULL };
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) ||
	    !copy_str(o, "fingerprint", true, out->fingerprint, sizeof(out->fingerprint), why) ||
	    !copy_str(o, "provider", true, out->provider, sizeof(out->provider), why))
		return drop(o);
	json_object_put(o);
	if (strlen(out->fingerprint) != 16 ||
	    strspn(out->fingerprint, "0123456789abcdef") != 16) {
		*why = "fingerprint is not 16 hex digits";
		return -1;
	}
	return 0;
}

/* ---- JWKS_FAIL --------------------------------------------------------- */

void
msg_jwks_fail_send(struct ipc_chan *c, const char *why_failed)
{
	struct json_object *o = json_object_new_object();
	char text[MSG_JWKS_FAIL_MAX];

	snprintf(text, sizeof(text), "%s", why_failed); /* cut, not refused */
	jx_add_str(o, "error", text);
	send_json(c, MSG_JWKS_FAIL, 0, o);
}

int
msg_jwks_fail_decode(const struct ipc_msg *m, char *out, size_t len, const char **why)
{
	static const char *const members[] = { "error", NULL };
	struct json_object *o;

	if (m->hdr.id != 0) {
		*why = "JWKS_FAIL with an id";
		return -1;
	}
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) ||
	    !copy_str(o, "error", true, out, len < MSG_JWKS_FAIL_MAX ? len : MSG_JWKS_FAIL_MAX,
		why))
		return drop(o);
	json_object_put(o);
	return 0;
}

/* ---- ASSERTION_REQ ----------------------------------------------------- */

void
msg_assertion_req_send(struct ipc_chan *c, uint64_t id, bool refresh)
{
	const char *p = refresh ? "{\"refresh\":true}" : "{\"refresh\":false}";

	send_raw(c, MSG_ASSERTION_REQ, id, p, strlen(p));
}

int
msg_assertion_req_decode(const struct ipc_msg *m, bool *refresh, const char **why)
{
	static const char *const members[] = { "refresh", NULL };
	struct json_object *o;

	*refresh = false;
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) || !get_bool(o, "refresh", refresh, why)) {
		json_object_put(o);
		return -2;
	}
	json_object_put(o);
	return 0;
}

/* ---- ASSERTION_ANS ----------------------------------------------------- */

void
msg_assertion_ans_send(struct ipc_chan *c, uint64_t id, const char *jwt, size_t len)
{
	send_raw(c, MSG_ASSERTION_ANS, id, jwt, len);
}

/* Only base64url and exactly two dots: the assertion goes into a form
 * field as it is, so nothing else may reach it. */
int
msg_assertion_ans_decode(const struct ipc_msg *m, const char **why)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t dots = 0;

	if (m->hdr.len == 0 || m->hdr.len > MSG_ASSERTION_MAX) {
		*why = "assertion empty or too long";
		return -1;
	}
	for (size_t i = 0; i < m->hdr.len; i++) {
		if (m->data[i] == '.')
			dots++;
		else if (m->data[i] == '\0' || strchr(b64url, m->data[i]) == NULL)
			dots = 99;
	}
	if (dots != 2 || m->data[0] == '.' || m->data[m->hdr.len - 1] == '.') {
		*why = "assertion is not a compact JWS";
		return -1;
	}
	return 0;
}

/* ---- CERT_INFO --------------------------------------------------------- */

void
msg_cert_info_send(struct ipc_chan *c, const struct msg_cert_info *ci)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "subject", ci->subject);
	jx_add_str(o, "sha256", ci->sha256);
	jx_add_str(o, "sha1", ci->sha1);
	jx_add_str(o, "not_after", ci->not_after);
	jx_add(o, "not_after_unix", json_object_new_int64(ci->not_after_unix));
	send_json(c, MSG_CERT_INFO, 0, o);
}

static bool
is_upper_hex(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789ABCDEF") == len;
}

int
msg_cert_info_decode(const struct ipc_msg *m, struct msg_cert_info *out, const char **why)
{
	static const char *const members[] = { "subject", "sha256", "sha1", "not_after",
		"not_after_unix", NULL };
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if (m->hdr.id != 0) {
		*why = "CERT_INFO with an id";
		return -1;
	}
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	if (!members_known(o, members, why) ||
	    !copy_str(o, "subject", false, out->subject, sizeof(out->subject), why) ||
	    !copy_str(o, "sha256", true, out->sha256, sizeof(out->sha256), why) ||
	    !copy_str(o, "sha1", true, out->sha1, sizeof(out->sha1), why) ||
	    !copy_str(o, "not_after", true, out->not_after, sizeof(out->not_after), why) ||
	    !get_int(o, "not_after_unix", INT64_MIN, INT64_MAX, &out->not_after_unix, why))
		return drop(o);
	json_object_put(o);
	if (!is_upper_hex(out->sha256, 64) || !is_upper_hex(out->sha1, 40)) {
		*why = "thumbprint is not upper-case hex of the right length";
		return -1;
	}
	return 0;
}

/* ---- TOKEN_STATS ------------------------------------------------------- */

void
msg_token_stats_send(struct ipc_chan *c, const struct msg_token_stats *s)
{
	struct json_object *o = json_object_new_object();

	jx_add_int(o, "cache_hits", s->cache_hits);
	jx_add_int(o, "mints", s->mints);
	jx_add_int(o, "mint_failures", s->mint_failures);
	jx_add_int(o, "jwks_refreshes", s->jwks_refreshes);
	send_json(c, MSG_TOKEN_STATS, 0, o);
}

int
msg_token_stats_decode(const struct ipc_msg *m, struct msg_token_stats *out, const char **why)
{
	static const char *const members[] = { "cache_hits", "mints", "mint_failures",
		"jwks_refreshes", NULL };
	struct json_object *o;

	memset(out, 0, sizeof(*out));
	if (m->hdr.id != 0) {
		*why = "TOKEN_STATS carries id 0";
		return -1;
	}
	if ((o = payload_object(m, why)) == NULL)
		return -1;
	/* Counters: never negative (a Prometheus counter only grows). */
	if (!members_known(o, members, why) ||
	    !get_int(o, "cache_hits", 0, INT64_MAX, &out->cache_hits, why) ||
	    !get_int(o, "mints", 0, INT64_MAX, &out->mints, why) ||
	    !get_int(o, "mint_failures", 0, INT64_MAX, &out->mint_failures, why) ||
	    !get_int(o, "jwks_refreshes", 0, INT64_MAX, &out->jwks_refreshes, why))
		return drop(o);
	json_object_put(o);
	return 0;
}
