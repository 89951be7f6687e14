/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* A $batch (Graph JSON batching) carries up to 20 requests, each with its
 * own method, URL, headers and body, which Graph runs as if each had been
 * sent alone.  So each is judged as if sent alone, by the same code, and
 * the batch is refused when any one of them is: the envelope's own method
 * and path say nothing about what it does. */
#include "buildconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

/* Graph's own limit; a longer batch would be refused by Graph anyway, and
 * the bound keeps the work per decision small. */
#define BATCH_MAX_REQUESTS 20

static const char *item_members[] = { "id", "method", "url", "headers", "body", "dependsOn",
	NULL };
static const char *methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };

static bool batch_fail(struct policy_decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool
batch_fail(struct policy_decision *d, const char *fmt, ...)
{
	char msg[sizeof(d->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.batch.malformed", "batch",
	    "%s", msg);
}

/* The first segment after the version, percent-decoded and lower-cased
 * (Graph decodes "%24batch" and ignores case), cut to fit in out; false
 * when it had to be cut. */
static bool
first_segment(const char *path, char *out, size_t outsz)
{
	const char *seg = path + POLICY_VERSION_LEN;
	size_t len = strcspn(seg, "/"), o = 0;

	for (size_t i = 0; i < len; i++, o++) {
		char c = seg[i];

		if (o + 1 >= outsz) {
			out[o] = '\0';
			return false;
		}
		/* path safety has refused a malformed escape already */
		if (c == '%' && i + 2 < len) {
			c = (char)(policy_hexval(seg[i + 1]) * 16 + policy_hexval(seg[i + 2]));
			i += 2;
		}
		out[o] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[o] = '\0';
	return true;
}

/* Any first segment that Graph could read as "$batch" followed by more
 * ("$batch%20", "$batch;x") is taken for a batch too, and then refused
 * as malformed unless it is exactly "$batch": a batch must never pass for
 * an ordinary POST that a broad rule such as POST:/v1.0/ + '*' allows. */
bool
policy_batch_path(const char *path)
{
	char seg[32];

	(void)first_segment(path, seg, sizeof(seg));
	return strncmp(seg, "$batch", strlen("$batch")) == 0;
}

static bool
batch_segment_exact(const char *path)
{
	char seg[32];

	return first_segment(path, seg, sizeof(seg)) && strcmp(seg, "$batch") == 0;
}

static bool
string_in(const char *s, const char **set)
{
	for (size_t i = 0; set[i] != NULL; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

/* A string member without NUL bytes (C would read it cut short), or NULL. */
static const char *
str_member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return NULL;
	return json_object_get_string(v);
}

static bool
id_ok(const char *id)
{
	size_t len = id != NULL ? strlen(id) : 0;

	if (len == 0 || len > REQ_MAX_ID_LEN)
		return false;
	for (const char *p = id; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			return false;
	return true;
}

/* The id of request i if it is a usable one, else NULL. */
static const char *
item_id(struct json_object *items, size_t i)
{
	struct json_object *item = json_object_array_get_idx(items, i);
	const char *id;

	if (item == NULL || !json_object_is_type(item, json_type_object))
		return NULL;
	id = str_member(item, "id");
	return id_ok(id) ? id : NULL;
}

/* Whether id names a request before index i: Graph runs a dependency
 * first, and a cycle or a forward reference is not a batch it accepts. */
static bool
id_before(struct json_object *items, size_t i, const char *id)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(item_id(items, j), id) == 0)
			return true;
	return false;
}

static const char *
unknown_member(struct json_object *item)
{
	json_object_object_foreach(item, key, val) {
		if (!string_in(key, item_members))
			return "has an unknown member";
		/* json-c reads null as no value: a member that says nothing
		 * is refused rather than guessed at. */
		if (val == NULL)
			return "has a null member";
	}
	return NULL;
}

static const char *
depends_bad(struct json_object *items, size_t i, struct json_object *deps)
{
	if (deps == NULL)
		return NULL;
	if (!json_object_is_type(deps, json_type_array))
		return "dependsOn must be an array of ids";
	for (size_t k = 0; k < json_object_array_length(deps); k++) {
		struct json_object *v = json_object_array_get_idx(deps, k);

		if (v == NULL || !json_object_is_type(v, json_type_string) ||
		    !id_before(items, i, json_object_get_string(v)))
			return "dependsOn must name requests earlier in the batch";
	}
	return NULL;
}

static const char *
headers_bad(struct json_object *h)
{
	if (h == NULL)
		return NULL;
	if (!json_object_is_type(h, json_type_object))
		return "headers must be an object";
	if (json_object_object_length(h) > REQ_MAX_HEADERS)
		return "has too many headers";
	json_object_object_foreach(h, key, val) {
		(void)key;
		if (val == NULL || !json_object_is_type(val, json_type_string) ||
		    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
			return "headers must be strings";
	}
	return NULL;
}

static const char *
method_of(const char *m)
{
	for (size_t i = 0; m != NULL && methods[i] != NULL; i++)
		if (strcasecmp(m, methods[i]) == 0)
			return methods[i];
	return NULL;
}

static bool
has_header(struct json_object *h, const char *name)
{
	if (h == NULL)
		return false;
	json_object_object_foreach(h, key, val) {
		(void)val;
		if (strcasecmp(key, name) == 0)
			return true;
	}
	return false;
}

static struct json_object *
opt_member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* The shape of request i (its id already known to be usable); NULL when it
 * is one Graph would run as a request of its own. */
static const char *
item_bad(struct json_object *items, size_t i)
{
	struct json_object *item = json_object_array_get_idx(items, i);
	struct json_object *h = opt_member(item, "headers");
	const char *method = method_of(str_member(item, "method"));
	const char *url = str_member(item, "url"), *why;
	bool has_body = json_object_object_get_ex(item, "body", NULL);

	if ((why = unknown_member(item)) != NULL)
		return why;
	if (id_before(items, i, item_id(items, i)))
		return "has the id of an earlier request";
	if (method == NULL)
		return "method must be one of GET, POST, PUT, PATCH, DELETE";
	if (url == NULL || *url == '\0' || strlen(url) > REQ_MAX_PATH_LEN)
		return "url must be a string of 1 to 2048 characters";
	if ((why = headers_bad(h)) != NULL)
		return why;
	/* As request.c says for a request sent alone; and Graph refuses a
	 * batched body without its content type. */
	if (has_body && (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0))
		return "a body is only allowed with POST, PUT or PATCH";
	if (has_body && !has_header(h, "content-type"))
		return "a body needs a content-type header";
	return depends_bad(items, i, opt_member(item, "dependsOn"));
}

/* Request i as a request of its own: the caller's identity, tenant,
 * resource and scopes; its own method, path, query, headers and body.
 * Strings are borrowed from the caller's request and the batch body, but
 * for the lower-cased header names, which sub_free releases. */
struct sub_request {
	struct graph_request req;
	char path[POLICY_VERSION_LEN + REQ_MAX_PATH_LEN + 1];
};

static void
sub_free(struct sub_request *s)
{
	for (size_t i = 0; i < s->req.n_headers; i++)
		free(s->req.headers[i].name);
	s->req.n_headers = 0;
}

/* Header names differing in case only are one HTTP header: which value
 * Graph would take is not left to chance (as request.c does). */
static const char *
sub_headers(struct json_object *h, struct graph_request *req)
{
	if (h == NULL)
		return NULL;
	json_object_object_foreach(h, key, val) {
		char *name = xstrdup(key);

		for (char *c = name; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		req->headers[req->n_headers].name = name;
		req->headers[req->n_headers].value = (char *)json_object_get_string(val);
		req->n_headers++;
		for (size_t i = 0; i + 1 < req->n_headers; i++)
			if (strcmp(req->headers[i].name, name) == 0)
				return "a header is given more than once";
	}
	return NULL;
}

/* The URL is relative to the version of the batch endpoint, with or
 * without its leading '/'; whatever else it holds (a scheme, "..", "//")
 * stays in the path for the path checks to refuse. */
static const char *
sub_build(const struct graph_request *parent, struct json_object *item, struct sub_request *s)
{
	const char *url = str_member(item, "url");
	char *q;

	memset(s, 0, sizeof(*s));
	s->req.request_id = parent->request_id;
	s->req.requester_id = parent->requester_id;
	s->req.identity_assurance = parent->identity_assurance;
	s->req.tenant_id = parent->tenant_id;
	s->req.resource = parent->resource;
	s->req.scopes = parent->scopes;
	s->req.timeout_ms = parent->timeout_ms;
	s->req.caller = parent->caller;
	s->req.method = (char *)method_of(str_member(item, "method"));
	memcpy(s->path, parent->path, POLICY_VERSION_LEN);
	snprintf(s->path + POLICY_VERSION_LEN, sizeof(s->path) - POLICY_VERSION_LEN, "%s",
	    url + (url[0] == '/'));
	if ((q = strchr(s->path, '?')) != NULL) {
		*q = '\0';
		s->req.query = q + 1;
	}
	s->req.path = s->path;
	s->req.body = opt_member(item, "body");
	return sub_headers(opt_member(item, "headers"), &s->req);
}

static bool
judge_item(const struct config *cfg, const struct graph_request *parent,
    struct json_object *items, size_t i, struct policy_decision *d, bool *is_read)
{
	const char *id = item_id(items, i), *why;
	const struct path_rule *rule;
	struct policy_decision sd;
	struct sub_request s;
	char q[QUOTE_LEN + 1];
	bool ok;

	if (id == NULL)
		return batch_fail(d, "batch request #%zu: id must be a string of 1 to %d visible "
		    "characters", i + 1, REQ_MAX_ID_LEN);
	text_quote(id, q, sizeof(q));
	if ((why = item_bad(items, i)) != NULL)
		return batch_fail(d, "batch request '%s': %s", q, why);
	if ((why = sub_build(parent, json_object_array_get_idx(items, i), &s)) != NULL) {
		sub_free(&s);
		return batch_fail(d, "batch request '%s': %s", q, why);
	}
	memset(&sd, 0, sizeof(sd));
	ok = policy_judge_operation(cfg, &s.req, true, &sd, &rule, is_read);
	sub_free(&s);
	if (!ok)
		policy_deny(d, sd.code, sd.reason, sd.rule, "batch request '%s': %s", q,
		    sd.message);
	return ok;
}

static bool
batch_items(struct json_object *body, struct json_object **items, struct policy_decision *d)
{
	size_t n;

	if (body == NULL || !json_object_is_type(body, json_type_object))
		return batch_fail(d, "a batch body must be an object with a requests array");
	json_object_object_foreach(body, key, val) {
		(void)val;
		if (strcmp(key, "requests") != 0)
			return batch_fail(d, "a batch body has no member but requests");
	}
	*items = opt_member(body, "requests");
	if (*items == NULL || !json_object_is_type(*items, json_type_array))
		return batch_fail(d, "a batch body must be an object with a requests array");
	n = json_object_array_length(*items);
	if (n == 0 || n > BATCH_MAX_REQUESTS)
		return batch_fail(d, "a batch holds 1 to %d requests", BATCH_MAX_REQUESTS);
	return true;
}

/* With an allowlist, batching is something the operator opts in to: the
 * endpoint itself must be allowed for POST, matched as the "$batch" it
 * means even when the client spelt it "%24batch". */
static bool
envelope_ok(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const struct path_rule **rule)
{
	const char *seg = req->path + POLICY_VERSION_LEN;
	char canon[POLICY_VERSION_LEN + sizeof("$batch")];

	if (strcmp(req->method, "POST") != 0)
		return batch_fail(d, "a batch is sent with POST");
	if (seg[strcspn(seg, "/")] != '\0' || !batch_segment_exact(req->path))
		return batch_fail(d, "nothing may follow $batch in the path");
	if (req->query != NULL)
		return batch_fail(d, "a batch takes no query options");
	if (cfg->n_paths == 0)
		return true;
	memcpy(canon, req->path, POLICY_VERSION_LEN);
	memcpy(canon + POLICY_VERSION_LEN, "$batch", sizeof("$batch"));
	if ((*rule = policy_allowlist_find(cfg, "POST", canon)) == NULL)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.path.not_allowed",
		    "allowlist", "the batch endpoint is not in the path allowlist for POST");
	return true;
}

/* A batch of reads is a read: it passes with mutations off, as its
 * requests would one by one. */
bool
policy_check_batch(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const struct path_rule **rule, bool *is_read)
{
	struct json_object *items = NULL;

	if (!envelope_ok(cfg, req, d, rule) || !batch_items(req->body, &items, d))
		return false;
	*is_read = true;
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		bool read = false;

		if (!judge_item(cfg, req, items, i, d, &read))
			return false;
		*is_read = *is_read && read;
	}
	return true;
}
