/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Graph API versions a path may address; anything else (a host, a scheme,
 * another service's path) is not a Graph call we make on anyone's behalf. */
#define PATH_PREFIX_LEN 6
static const char *path_prefixes[] = { "/v1.0/", "/beta/" };

static const char *forwarded_headers[] = { POLICY_FORWARDED_HEADERS };


/* Fills a denial and returns false, so each check can end with it. */
bool
policy_deny(struct policy_decision *d, enum err_code code, const char *reason, const char *rule,
    const char *fmt, ...)
{
	va_list ap;

	d->allow = false;
	d->code = code;
	snprintf(d->reason, sizeof(d->reason), "%s", reason);
	snprintf(d->rule, sizeof(d->rule), "%s", rule);
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	return false;
}

/* "a, b, c" into out, as many items as fit; ", ..." says some did not. */
const char *
policy_hint_list(char *out, size_t outsz, const char *const *items, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t need = strlen(items[i]) + (i > 0 ? 2 : 0);

		if (used + need + sizeof(", ...") > outsz) {
			snprintf(out + used, outsz - used, "%s...", i > 0 ? ", " : "");
			break;
		}
		used += (size_t)snprintf(out + used, outsz - used, "%s%s", i > 0 ? ", " : "",
		    items[i]);
	}
	return n == 0 ? "none" : out;
}

static bool
check_identity(const struct graph_request *req, struct policy_decision *d)
{
	if (req->requester_id == NULL || req->requester_id[0] == '\0')
		return policy_deny(d, ERR_POLICY_MISSING_IDENTITY,
		    "policy.rule.deny.identity.missing", "identity",
		    "requester.requester_id is required");
	return true;
}

static bool
check_tenant(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	if (req->tenant_id == NULL || cfg->tenant_id == NULL ||
	    strcasecmp(req->tenant_id, cfg->tenant_id) != 0)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.tenant.mismatch",
		    "tenant", "graph.tenant_id is not the tenant this broker serves (%.64s); "
		    "leave it out to use that one", cfg->tenant_id ? cfg->tenant_id : "none");
	return true;
}

/* The configured resources are stored lower case without a trailing slash;
 * "https://Graph.microsoft.com/" names the same origin. */
bool
policy_resource_key(const char *resource, char *out, size_t outsz)
{
	size_t len;

	if (resource == NULL || (len = strlen(resource)) == 0 || len >= outsz)
		return false;
	for (size_t i = 0; i <= len; i++)
		out[i] = (resource[i] >= 'A' && resource[i] <= 'Z') ?
		    (char)(resource[i] - 'A' + 'a') : resource[i];
	if (out[len - 1] == '/')
		out[len - 1] = '\0';
	return true;
}

static bool
check_resource(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, char *norm, size_t normsz)
{
	char hint[POLICY_HINT_LEN];

	if (!policy_resource_key(req->resource, norm, normsz) ||
	    !config_resource_allowed(cfg, norm))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.resource.not_allowed",
		    "resource", "graph.resource is not an allowed Graph resource; allowed: %s",
		    policy_hint_list(hint, sizeof(hint), (const char *const *)cfg->resources.v,
			cfg->resources.n));
	return true;
}

static bool
check_scopes(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	char q[QUOTE_LEN + 1], hint[POLICY_HINT_LEN];

	policy_hint_list(hint, sizeof(hint), (const char *const *)cfg->scopes.v, cfg->scopes.n);
	if (req->scopes.n == 0)
		return policy_deny(d, ERR_POLICY_INVALID_SCOPE,
		    "policy.rule.deny.scope.not_permitted", "scope",
		    "no scope requested; allowed: %s", hint);
	for (size_t i = 0; i < req->scopes.n; i++) {
		if (!config_scope_allowed(cfg, req->scopes.v[i]))
			return policy_deny(d, ERR_POLICY_INVALID_SCOPE,
			    "policy.rule.deny.scope.not_permitted", "scope",
			    "scope '%s' is not permitted; allowed: %s",
			    text_quote(req->scopes.v[i], q, sizeof(q)), hint);
	}
	return true;
}

int
policy_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Graph, or anything between us and it, decodes escapes: an encoded dot,
 * slash or backslash could rebuild a ".." segment or a second path after we
 * looked.  Refusing them outright is what lets the plain dot-segment check
 * below stand for the decoded path too.  "%25" is refused for the same
 * reason one level down ("%252e" decodes to "%2e"). */
static const char *
path_escapes_bad(const char *path)
{
	for (const char *p = path; (p = strchr(p, '%')) != NULL; p += 3) {
		int hi = policy_hexval(p[1]), lo = hi == -1 ? -1 : policy_hexval(p[2]);
		int c = hi * 16 + lo;

		if (hi == -1 || lo == -1)
			return "path contains a malformed percent-escape";
		if (c < 0x20 || c == 0x7f)
			return "path contains an encoded control character";
		if (c == '.' || c == '/' || c == '\\' || c == '%')
			return "path contains an encoded dot, slash, backslash or percent sign";
	}
	return NULL;
}

static const char *
path_chars_bad(const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return "path contains a space, control or non-ASCII character";
		if (*p == '\\')
			return "path contains a backslash";
		if (*p == '#')
			return "path contains a fragment ('#')";
		/* A query travels as the query: one inside the path would be
		 * judged as path and sent as query. */
		if (*p == '?')
			return "path contains a '?'";
	}
	return NULL;
}

static bool
path_has_dot_segment(const char *path)
{
	for (const char *seg = path; seg != NULL; seg = strchr(seg, '/')) {
		size_t len;

		seg++; /* past the '/' */
		len = strcspn(seg, "/");
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return true;
	}
	return false;
}

static bool
path_prefix_ok(const char *path)
{
	for (size_t i = 0; i < NITEMS(path_prefixes); i++)
		if (strncmp(path, path_prefixes[i], PATH_PREFIX_LEN) == 0)
			return path[PATH_PREFIX_LEN] != '\0';
	return false;
}

/* A ':' in the first segment after the version ("/v1.0/https:...") is how a
 * relative path turns into an absolute URL when joined naively.  Later
 * segments keep it: Graph addresses drive items as "root:/a/b:". */
static bool
path_first_segment_colon(const char *path)
{
	const char *seg = path + PATH_PREFIX_LEN;

	return memchr(seg, ':', strcspn(seg, "/")) != NULL;
}

/* Query options are split and percent-decoded (policy_query.c) before
 * $expand is judged; an escape that does not decode would be read one way
 * here and perhaps another by Graph. */
static const char *
query_bad(const char *query)
{
	if (query == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)query; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return "query contains a space, control or non-ASCII character";
		if (*p == '#')
			return "query contains a fragment ('#')";
		if (*p == '%' &&
		    (policy_hexval((char)p[1]) == -1 || policy_hexval((char)p[2]) == -1))
			return "query contains a malformed percent-escape";
	}
	return NULL;
}

static const char *
path_why(const char *path, const char *query)
{
	const char *why;

	if (path == NULL)
		return "path is missing";
	if (!path_prefix_ok(path))
		return "path must be a Graph path under /v1.0/ or /beta/";
	if ((why = path_chars_bad(path)) != NULL)
		return why;
	if (strstr(path, "://") != NULL || path_first_segment_colon(path))
		return "path must be relative: no scheme or host";
	if (strstr(path, "//") != NULL)
		return "path contains an empty segment ('//')";
	if ((why = path_escapes_bad(path)) != NULL)
		return why;
	if (path_has_dot_segment(path))
		return "path contains a '.' or '..' segment";
	return query_bad(query);
}

bool
policy_path_safe(const char *path, const char *query, const char **why)
{
	const char *reason = path_why(path, query);

	if (why != NULL)
		*why = reason;
	return reason == NULL;
}

static bool
check_path(const struct graph_request *req, struct policy_decision *d)
{
	const char *why = NULL;

	if (!policy_path_safe(req->path, req->query, &why))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.path.unsafe", "path",
		    "%s", why);
	return true;
}

/* The incident kill-switch: with mutations off only reads leave the broker. */
static bool
check_mutation(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	bool is_read = req->method != NULL && strcmp(req->method, "GET") == 0, known = false;

	/* Exactly these, as the contract spells them: anything else would go
	 * to curl as a custom request line. */
	for (size_t i = 0; req->method != NULL && i < NITEMS(methods); i++)
		known = known || strcmp(req->method, methods[i]) == 0;
	if (!known)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.method.unknown", "method",
		    "the method must be one of GET, POST, PUT, PATCH, DELETE");
	if (!is_read && (req->method == NULL || !cfg->enable_mutations))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.mutation.disabled",
		    "mutation", "%s is refused: mutations are disabled (only GET is allowed)",
		    req->method != NULL ? req->method : "the method");
	return true;
}

/* FNM_PATHNAME: a '*' stays within one path segment, so a rule for the
 * items of a collection does not also open everything below each item. */
const struct path_rule *
policy_allowlist_find(const struct config *cfg, const char *method, const char *path)
{
	for (size_t i = 0; i < cfg->n_paths; i++) {
		const struct path_rule *r = &cfg->paths[i];

		if ((r->method == NULL || strcmp(r->method, method) == 0) &&
		    fnmatch(r->pattern, path, FNM_PATHNAME) == 0)
			return r;
	}
	return NULL;
}

static bool
check_allowlist(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const struct path_rule **matched)
{
	const char *patterns[64];
	size_t n = 0;
	char hint[POLICY_HINT_LEN];

	*matched = NULL;
	if (cfg->n_paths == 0)
		return true;
	if ((*matched = policy_allowlist_find(cfg, req->method, req->path)) != NULL)
		return true;
	for (size_t i = 0; i < cfg->n_paths && n < NITEMS(patterns); i++)
		if (cfg->paths[i].method == NULL || strcmp(cfg->paths[i].method, req->method) == 0)
			patterns[n++] = cfg->paths[i].pattern;
	return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.path.not_allowed",
	    "allowlist", "operation.path is not in the path allowlist for %s; allowed for %s: %s",
	    req->method, req->method, policy_hint_list(hint, sizeof(hint), patterns, n));
}

/* Whether the verified caller holds role (a scope or an app role). */
static bool
caller_holds(const struct graph_request *req, const char *role)
{
	return req->caller != NULL && words_contain(req->caller->roles, role, false);
}

/* Per-caller rules: a role for any mutation, a role per allowlist entry.
 * Only an authenticated caller holds roles; with none, these refuse. */
static bool
check_caller(const struct config *cfg, const struct graph_request *req,
    const struct path_rule *rule, struct policy_decision *d)
{
	bool is_read = strcmp(req->method, "GET") == 0;

	if (!is_read && cfg->mutations_required_role != NULL &&
	    !caller_holds(req, cfg->mutations_required_role))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.caller.role", "caller",
		    "%s needs a caller holding the role %s (MCP_AUTH_BROKER_MUTATIONS_REQUIRED_ROLE)%s",
		    req->method, cfg->mutations_required_role,
		    req->caller == NULL ? "; this caller is not authenticated" : "");
	if (rule != NULL && rule->role != NULL && !caller_holds(req, rule->role))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.caller.role", "caller",
		    "%s %s needs a caller holding the role %s (MCP_AUTH_BROKER_PATH_ROLES)%s",
		    req->method, rule->pattern, rule->role,
		    req->caller == NULL ? "; this caller is not authenticated" : "");
	return true;
}

/* RFC 9110 token characters. */
static bool
header_name_ok(const char *name)
{
	static const char tchar_punct[] = "!#$%&'*+-.^_`|~";

	if (*name == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(tchar_punct, *p) != NULL))
			return false;
	}
	return true;
}

/* No CR or LF (header injection), no NUL or other controls; obs-text bytes
 * are not needed by any header we forward. */
static bool
header_value_ok(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
		if (*p != '\t' && (*p < 0x20 || *p > 0x7e))
			return false;
	return true;
}

static bool
header_forwarded(const char *name)
{
	for (size_t i = 0; i < NITEMS(forwarded_headers); i++)
		if (strcmp(name, forwarded_headers[i]) == 0)
			return true;
	return false;
}

/* Every header is judged before any is marked, so a denial leaves no
 * half-filled forward[] behind.  Inside a $batch a header travels in the
 * body, where it cannot be stripped: one we would not forward is refused. */
static bool
check_headers(const struct graph_request *req, bool in_batch, struct policy_decision *d)
{
	char q[QUOTE_LEN + 1];

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct header_kv *h = &req->headers[i];

		if (!header_name_ok(h->name) || !header_value_ok(h->value))
			return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.header.invalid",
			    "header", "header '%s' has an invalid name or value",
			    text_quote(h->name, q, sizeof(q)));
		/* Names differing in case only are one HTTP header: which value
		 * would win is not left to chance. */
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(h->name, req->headers[j].name) == 0)
				return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.header.invalid",
				    "header", "header '%s' is given more than once",
				    text_quote(h->name, q, sizeof(q)));
		if (in_batch && !header_forwarded(h->name))
			return policy_deny(d, ERR_POLICY_DENIED,
			    "policy.rule.deny.header.not_forwarded", "header",
			    "header '%s' is not forwarded and cannot be stripped from a batch",
			    text_quote(h->name, q, sizeof(q)));
	}
	for (size_t i = 0; i < req->n_headers && i < REQ_MAX_HEADERS; i++) {
		d->forward[i] = header_forwarded(req->headers[i].name);
		if (!d->forward[i])
			d->n_stripped++;
	}
	return true;
}

static void rule_printf(struct policy_decision *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A long tenant, resource and pattern can overflow d->rule; the audit
 * record then shows that it was cut rather than a different, shorter rule. */
static void
rule_printf(struct policy_decision *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(d->rule, sizeof(d->rule), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(d->rule))
		memcpy(d->rule + sizeof(d->rule) - 4, "...", 4);
}

static void
allow(const struct config *cfg, bool is_read, const char *resource,
    const struct path_rule *rule, struct policy_decision *d)
{
	d->allow = true;
	d->code = ERR_NONE;
	snprintf(d->reason, sizeof(d->reason), "%s",
	    is_read ? "policy.rule.allow.graph.read" : "policy.rule.allow.graph.mutation");
	if (rule == NULL)
		rule_printf(d, "tenant=%s resource=%s path=any", cfg->tenant_id, resource);
	else
		rule_printf(d, "tenant=%s resource=%s path=%s%s%s", cfg->tenant_id, resource,
		    rule->method ? rule->method : "", rule->method ? ":" : "", rule->pattern);
	snprintf(d->message, sizeof(d->message), "allowed by policy");
}

/* A batch is recognised only once its path is known to be safe, and judged
 * as a whole by policy_batch.c, which comes back here for each request in
 * it.  The order is part of the contract, as in policy_decide. */
bool
policy_judge_operation(const struct config *cfg, const struct graph_request *req,
    bool in_batch, struct policy_decision *d, const struct path_rule **rule, bool *is_read)
{
	*rule = NULL;
	*is_read = false;
	if (!check_path(req, d))
		return false;
	if (policy_batch_path(req->path)) {
		if (in_batch)
			return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.batch.nested",
			    "batch", "a batch may not contain another batch");
		return policy_check_batch(cfg, req, d, rule, is_read) &&
		    check_headers(req, false, d);
	}
	if (!check_mutation(cfg, req, d) || !check_allowlist(cfg, req, d, rule) ||
	    !check_caller(cfg, req, *rule, d) || !policy_check_query(cfg, req, d) || !policy_check_references(cfg, req, d) ||
	    !check_headers(req, in_batch, d))
		return false;
	*is_read = strcmp(req->method, "GET") == 0;
	return true;
}

void
policy_decide(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	const struct path_rule *rule = NULL;
	char resource[512];
	bool is_read = false;

	memset(d, 0, sizeof(*d));
	/* The order is part of the contract: a request failing several checks
	 * gets the reason of the first, the same one every time. */
	if (!check_identity(req, d) || !check_tenant(cfg, req, d) ||
	    !check_resource(cfg, req, d, resource, sizeof(resource)) ||
	    !check_scopes(cfg, req, d) ||
	    !policy_judge_operation(cfg, req, false, d, &rule, &is_read))
		return;
	allow(cfg, is_read, resource, rule, d);
}

/* A token with no Graph call (brokerd --ready): only whose token it is
 * matters, the configured tenant and an allowed resource. */
void
policy_decide_target(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	char resource[512];

	memset(d, 0, sizeof(*d));
	if (!check_tenant(cfg, req, d) || !check_resource(cfg, req, d, resource, sizeof(resource)))
		return;
	d->allow = true;
	snprintf(d->reason, sizeof(d->reason), "policy.rule.allow.token");
	rule_printf(d, "tenant=%s resource=%s", cfg->tenant_id, resource);
}

bool
policy_is_batch(const char *path)
{
	return path != NULL && strlen(path) > POLICY_VERSION_LEN && policy_batch_path(path);
}
