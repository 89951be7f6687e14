/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Query options and body members that make Graph reach resources other
 * than the path names.  "$expand=memberOf" on a user returns the groups
 * too, so with a path allowlist set each expanded resource must itself be
 * allowed; a reference ("$id", "@odata.id", "...@odata.bind") names an
 * object Graph will link, so it must be one the allowlist lets the caller
 * read.  Without an allowlist nothing here applies: every path is open. */
#include "buildconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

/* Nested "$expand" in parentheses deeper than this is refused: Graph
 * itself allows few levels, and it bounds the recursion. */
#define EXPAND_MAX_DEPTH 4
#define QUERY_PATH_MAX (POLICY_VERSION_LEN + 2 * REQ_MAX_PATH_LEN)

struct expand_ctx {
	const struct config *cfg;
	const char *method;
	struct policy_decision *d;
	int depth;
};

/* Percent-escapes decoded and '+' read as a space, as Graph reads a query;
 * false when out is too small (the query check has already refused a
 * malformed escape). */
static const char *
decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++, o++) {
		if (o + 1 >= outsz)
			return "query option is too long";
		if (s[i] == '%' && i + 2 < n && policy_hexval(s[i + 1]) != -1 &&
		    policy_hexval(s[i + 2]) != -1) {
			out[o] = (char)(policy_hexval(s[i + 1]) * 16 + policy_hexval(s[i + 2]));
			i += 2;
		} else
			out[o] = s[i] == '+' ? ' ' : s[i];
		/* A C string judged up to an encoded NUL would not be what
		 * Graph reads; no option needs a control character. */
		if ((unsigned char)out[o] < 0x20 || out[o] == 0x7f)
			return "query option holds an encoded control character";
	}
	out[o] = '\0';
	return NULL;
}

/* Graph takes system query options with or without their '$' and in any
 * letter case ("$expand", "expand", "$EXPAND"). */
static bool
option_is(const char *key, const char *name)
{
	if (*key == '$')
		key++;
	return strcasecmp(key, name) == 0;
}

/* The message is BEFORE, the item quoted (a client-chosen name), AFTER. */
static bool
expand_fail(struct expand_ctx *x, const char *before, const char *item, const char *after)
{
	char q[QUOTE_LEN + 1];

	return policy_deny(x->d, ERR_POLICY_DENIED, "policy.rule.deny.query.expand_not_allowed",
	    "allowlist", "%s'%s'%s", before, text_quote(item, q, sizeof(q)), after);
}

/* Where the next SEP at parenthesis depth 0 and outside a quoted string
 * is, or n; -1 when parentheses or quotes do not balance.  OData doubles a
 * quote inside a string, which the toggling reads right. */
static long
scan_to(const char *s, size_t n, char sep)
{
	int depth = 0;
	bool quoted = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth < 0)
			return -1;
		else if (s[i] == sep && depth == 0)
			return (long)i;
	}
	return depth == 0 && !quoted ? (long)n : -1;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool expand_list(struct expand_ctx *x, const char *base, const char *s, size_t n);

/* The ';'-separated options inside an item's parentheses: a nested
 * $expand reaches further from the item; $levels repeats an expansion to
 * a depth no allowlist pattern can be matched against. */
static bool
expand_options(struct expand_ctx *x, const char *base, const char *s, size_t n)
{
	while (n > 0) {
		long at = scan_to(s, n, ';');
		size_t end = (size_t)at, len = end, klen;
		const char *opt = s, *eq;
		char key[32];

		/* "a(b)c(d)": the item's own parentheses need not balance inside */
		if (at < 0)
			return expand_fail(x, "$expand under ", base + POLICY_VERSION_LEN,
			    " has unbalanced parentheses or quotes");
		trim(&opt, &len);
		eq = memchr(opt, '=', len);
		klen = eq != NULL ? (size_t)(eq - opt) : len;
		while (klen > 0 && (opt[klen - 1] == ' ' || opt[klen - 1] == '\t'))
			klen--;
		snprintf(key, sizeof(key), "%.*s", (int)(klen < sizeof(key) ? klen : 0), opt);
		if (option_is(key, "levels"))
			return expand_fail(x, "$levels under ", base + POLICY_VERSION_LEN,
			    " cannot be judged against the path allowlist");
		if (eq != NULL && option_is(key, "expand") &&
		    !expand_list(x, base, eq + 1, len - (size_t)(eq + 1 - opt)))
			return false;
		s += end + (end < n);
		n -= end + (end < n);
	}
	return true;
}

/* Whether the rule that admits base names one entity by its key: its last
 * segment is a pattern right after a literal collection name (users, then
 * a star).  Anything else (a literal last segment, a pattern right after
 * the version or after another pattern) may name a collection. */
static bool
rule_names_a_key(const struct path_rule *r)
{
	const char *last = strrchr(r->pattern, '/'), *prev;

	if (last == NULL || strpbrk(last + 1, "*?[") == NULL || last == r->pattern)
		return false;
	for (prev = last - 1; prev > r->pattern && *prev != '/'; prev--)
		;
	return prev > r->pattern && strcspn(prev + 1, "*?[") >= (size_t)(last - prev - 1);
}

/* On a collection, $expand reaches each member's navigation property
 * (base/{id}/item), not base/item: unless base is known to name one entity,
 * that must be allowed too.  The key is a control character no literal
 * pattern segment can match, so only a pattern admits it. */
static bool
expand_member_allowed(struct expand_ctx *x, const char *base, const char *item, size_t n)
{
	const struct path_rule *r = policy_allowlist_find(x->cfg, x->method, base);
	char member[QUERY_PATH_MAX];

	if (r != NULL && rule_names_a_key(r))
		return true;
	if ((size_t)snprintf(member, sizeof(member), "%s/\001/%.*s", base, (int)n, item) >=
	    sizeof(member))
		return false;
	return policy_allowlist_find(x->cfg, x->method, member) != NULL;
}

/* One item: a navigation property, perhaps behind a cast
 * ("microsoft.graph.user/manager"), or "*" for all of them; the resource
 * it reaches is the path below the one it expands from. */
static bool
expand_item(struct expand_ctx *x, const char *base, const char *s, size_t n)
{
	char path[QUERY_PATH_MAX], name[QUOTE_LEN + 1];
	const char *open;
	size_t nlen;
	bool ok;

	trim(&s, &n);
	open = memchr(s, '(', n);
	nlen = open != NULL ? (size_t)(open - s) : n;
	while (nlen > 0 && (s[nlen - 1] == ' ' || s[nlen - 1] == '\t'))
		nlen--;
	snprintf(name, sizeof(name), "%.*s", (int)(nlen < QUOTE_LEN ? nlen : QUOTE_LEN), s);
	if (nlen == 0 || (open != NULL && s[n - 1] != ')'))
		return expand_fail(x, "$expand item ", name, " is malformed");
	if ((size_t)snprintf(path, sizeof(path), "%s/%.*s", base, (int)nlen, s) >= sizeof(path) ||
	    !policy_path_safe(path, NULL, NULL) ||
	    policy_allowlist_find(x->cfg, x->method, path) == NULL)
		return expand_fail(x, "$expand of ", name,
		    " reaches a path that is not in the path allowlist");
	if (!expand_member_allowed(x, base, s, nlen))
		return expand_fail(x, "$expand of ", name,
		    " on a collection reaches each member's, which the path allowlist does not allow");
	if (open == NULL)
		return true;
	if (++x->depth > EXPAND_MAX_DEPTH)
		return expand_fail(x, "$expand under ", name, " is nested too deeply");
	ok = expand_options(x, path, open + 1, n - (size_t)(open - s) - 2);
	x->depth--;
	return ok;
}

static bool
expand_list(struct expand_ctx *x, const char *base, const char *s, size_t n)
{
	for (;;) {
		long end = scan_to(s, n, ',');

		if (end < 0)
			return expand_fail(x, "$expand under ", base + POLICY_VERSION_LEN,
			    " has unbalanced parentheses or quotes");
		if (!expand_item(x, base, s, (size_t)end))
			return false;
		if ((size_t)end == n)
			return true;
		s += end + 1;
		n -= (size_t)end + 1;
	}
}

/* A reference is an absolute URL on the request's own Graph resource or a
 * path under a Graph version.  Linking an object is reaching it, so its
 * path must be safe and one the allowlist lets the caller GET. */
static bool
judge_reference(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const char *what, const char *url)
{
	char res[512], q[QUOTE_LEN + 1];
	const char *path = url;
	size_t rlen;

	if (policy_resource_key(req->resource, res, sizeof(res)) && (rlen = strlen(res)) > 0 &&
	    strncasecmp(url, res, rlen) == 0 && url[rlen] == '/')
		path = url + rlen;
	if (strchr(path, '?') != NULL || !policy_path_safe(path, NULL, NULL) ||
	    policy_allowlist_find(cfg, "GET", path) == NULL)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.reference.not_allowed",
		    "allowlist", "%s '%s' is not a Graph path the allowlist allows GET on", what,
		    text_quote(url, q, sizeof(q)));
	return true;
}

/* Splits the raw query on '&' first and decodes each part after, as Graph
 * does: "%26" inside a value is not a separator. */
static bool
judge_option(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const char *opt, size_t len)
{
	struct expand_ctx x = { cfg, req->method, d, 0 };
	const char *eq = memchr(opt, '=', len), *k = NULL;
	size_t klen = eq != NULL ? (size_t)(eq - opt) : len, vlen = len - klen - (eq != NULL);
	char key[REQ_MAX_PATH_LEN + 1], value[REQ_MAX_PATH_LEN + 1], q[QUOTE_LEN + 1];
	const char *why;

	if ((why = decode(opt, klen, key, sizeof(key))) != NULL ||
	    (why = decode(opt + len - vlen, vlen, value, sizeof(value))) != NULL)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.path.unsafe", "path",
		    "%s", why);
	k = key;
	klen = strlen(key);
	trim(&k, &klen);
	memmove(key, k, klen);
	key[klen] = '\0';
	/* Decoded once, as Graph decodes it; an escape left over would be
	 * read by nobody the same way. */
	if ((option_is(key, "expand") || option_is(key, "id")) && strchr(value, '%') != NULL)
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.path.unsafe", "path",
		    "query option '%s' is percent-encoded twice", text_quote(key, q, sizeof(q)));
	if (option_is(key, "expand"))
		return expand_list(&x, req->path, value, strlen(value));
	if (option_is(key, "id"))
		return judge_reference(cfg, req, d, "$id", value);
	return true;
}

bool
policy_check_query(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	const char *p = req->query;

	if (cfg->n_paths == 0 || p == NULL)
		return true;
	while (*p != '\0') {
		size_t len = strcspn(p, "&");

		if (!judge_option(cfg, req, d, p, len))
			return false;
		p += len + (p[len] == '&');
	}
	return true;
}

/* OData spells a reference "@odata.id" and a link to set "<property>@odata.bind";
 * Graph's JSON reader is not known to be strict about case or about the
 * short forms of OData 4.01 ("@id", "@bind"), so none of them passes
 * unjudged, whatever comes before it. */
static bool
is_reference_key(const char *key)
{
	static const char *suffixes[] = { "odata.id", "@id", "odata.bind", "@bind" };
	size_t len = strlen(key);

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);

		if (len >= sl && strcasecmp(key + len - sl, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static bool
judge_reference_value(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const char *key, struct json_object *v)
{
	char q[QUOTE_LEN + 1];

	/* Judged as a C string: one holding a NUL would be judged short of
	 * what Graph reads. */
	if (v != NULL && json_object_is_type(v, json_type_string) &&
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.reference.not_allowed",
		    "allowlist", "'%s' holds a NUL character", text_quote(key, q, sizeof(q)));
	if (v != NULL && json_object_is_type(v, json_type_string))
		return judge_reference(cfg, req, d, text_quote(key, q, sizeof(q)),
		    json_object_get_string(v));
	if (v != NULL && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!judge_reference_value(cfg, req, d, key,
			    json_object_array_get_idx(v, i)))
				return false;
		return true;
	}
	return policy_deny(d, ERR_POLICY_DENIED, "policy.rule.deny.reference.not_allowed",
	    "allowlist", "'%s' must be a URL or a list of URLs", text_quote(key, q, sizeof(q)));
}

/* Depth is bounded by the parser's nesting limit (JX_MAX_DEPTH). */
static bool
walk_body(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, struct json_object *v)
{
	if (v != NULL && json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!walk_body(cfg, req, d, json_object_array_get_idx(v, i)))
				return false;
		return true;
	}
	if (v == NULL || !json_object_is_type(v, json_type_object))
		return true;
	json_object_object_foreach(v, key, val) {
		if (is_reference_key(key) ? !judge_reference_value(cfg, req, d, key, val) :
		    !walk_body(cfg, req, d, val))
			return false;
	}
	return true;
}

bool
policy_check_references(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d)
{
	if (cfg->n_paths == 0)
		return true;
	return walk_body(cfg, req, d, req->body);
}
