/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "config.h"
#include "log.h"
#include "mi_endpoint.h"

#define PREFIX "MCP_AUTH_BROKER_"
/* An ALLOWED_PATHS entry as written: a method, ':' and a path glob. */
#define REQ_PATH_RULE_MAX 2100

extern char **environ;

/* Smoke mode runs with no Azure and no 1Password: these stand-ins fill every
 * identity the operator did not set, so the whole flow runs on defaults. */
#define SMOKE_TENANT "11111111-1111-1111-1111-111111111111"
#define SMOKE_CLIENT "22222222-2222-2222-2222-222222222222"
#define SMOKE_RESOURCES "https://graph.microsoft.com"
#define SMOKE_SCOPES "User.Read.All"

struct cfg_ctx {
	struct config *cfg;
	struct config_errors *errs;
	const char *name; /* variable being parsed */
	char *const *envp;
};

static void cfg_error(struct cfg_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void config_verror(struct config_errors *errs, const char *name, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
config_verror(struct config_errors *errs, const char *name, const char *fmt, va_list ap)
{
	char msg[512], *line;
	char **v;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (asprintf(&line, "%s: %s", name, msg) == -1)
		fatalx("out of memory");
	if ((v = realloc(errs->v, (errs->n + 1) * sizeof(*v))) == NULL)
		fatalx("out of memory");
	v[errs->n++] = line;
	errs->v = v;
}

void
config_error_add(struct config_errors *errs, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verror(errs, name, fmt, ap);
	va_end(ap);
}

static void
cfg_error(struct cfg_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verror(x->errs, x->name, fmt, ap);
	va_end(ap);
}

/* Splits a list on commas and white space, dropping empty items. */
static void
split_list(const char *s, struct strlist *out)
{
	char *copy = xstrdup(s), *save = NULL;

	for (char *t = strtok_r(copy, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save))
		strlist_add(out, t);
	free(copy);
}

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

static int
parse_long(struct cfg_ctx *x, const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno == ERANGE || !isdigit((unsigned char)v[0])) {
		cfg_error(x, "'%s' is not a whole number", v);
		return -1;
	}
	if (n < min || n > max) {
		cfg_error(x, "%ld is out of range (%ld to %ld)", n, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

static int
parse_bool(struct cfg_ctx *x, const char *v, bool *out)
{
	static const char *yes[] = { "1", "true", "yes", "on" };
	static const char *no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	cfg_error(x, "'%s' is not a boolean: true, yes, on or 1; false, no, off or 0", v);
	return -1;
}

static int
is_guid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* ---- one parser per variable ------------------------------------------- */

static void
set_env(struct cfg_ctx *x, const char *v)
{
	static const struct {
		const char *name;
		enum broker_env env;
	} envs[] = {
		{ "smoke", BROKER_ENV_SMOKE },
		{ "dev", BROKER_ENV_DEV },
		{ "staging", BROKER_ENV_STAGING },
		{ "prod", BROKER_ENV_PROD },
	};
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		if (strcmp(v, envs[i].name) == 0) {
			x->cfg->env = envs[i].env;
			return;
		}
	}
	cfg_error(x, "'%s' is not one of smoke, dev, staging, prod", v);
}

static void
set_tenant(struct cfg_ctx *x, const char *v)
{
	size_t len = strlen(v);

	if (strcasecmp(v, "common") == 0 || strcasecmp(v, "organizations") == 0 ||
	    strcasecmp(v, "consumers") == 0) {
		cfg_error(x, "'%s' is not a tenant: client credentials need one tenant id or domain", v);
		return;
	}
	if (len == 0 || len > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyz"
					     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len) {
		cfg_error(x, "'%s' is not a tenant id (a GUID) or a domain name", v);
		return;
	}
	x->cfg->tenant_id = xstrdup(v);
}

static void
set_client_id(struct cfg_ctx *x, const char *v)
{
	if (!is_guid(v)) {
		cfg_error(x, "'%s' is not an application (client) id: expected a GUID", v);
		return;
	}
	x->cfg->client_id = xstrdup(v);
}

/* An origin: https://host[:port] with nothing after it but an optional slash.
 * Returns the normalised (lower-case, slash-less) form or NULL. */
static char *
parse_origin(const char *v, const char **why)
{
	const char *host = v + strlen("https://");
	size_t len;
	char *out;

	if (strncasecmp(v, "https://", 8) != 0) {
		*why = "must start with https://";
		return NULL;
	}
	len = strcspn(host, "/?#@");
	if (len == 0 || (host[len] != '\0' && !(host[len] == '/' && host[len + 1] == '\0'))) {
		*why = "must be https://host[:port] with no path, query or user";
		return NULL;
	}
	if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") < len) {
		*why = "host contains characters not allowed in a host name";
		return NULL;
	}
	if ((out = strndup(v, 8 + len)) == NULL)
		fatalx("out of memory");
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

static void
set_resources(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { 0 };

	split_list(v, &items);
	if (items.n == 0)
		cfg_error(x, "empty: name at least one resource, e.g. https://graph.microsoft.com");
	for (size_t i = 0; i < items.n; i++) {
		const char *why = NULL;
		char *origin = parse_origin(items.v[i], &why);
		if (origin == NULL) {
			cfg_error(x, "'%s' %s", items.v[i], why);
			continue;
		}
		strlist_add(&x->cfg->resources, origin);
		free(origin);
	}
	strlist_free(&items);
}

static void
set_scopes(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { 0 };

	split_list(v, &items);
	if (items.n == 0)
		cfg_error(x, "empty: name at least one scope, e.g. User.Read.All");
	for (size_t i = 0; i < items.n; i++) {
		if (strlen(items.v[i]) > 256 || has_ctl(items.v[i]))
			cfg_error(x, "'%s' is not a scope name", items.v[i]);
		else
			strlist_add(&x->cfg->scopes, items.v[i]);
	}
	strlist_free(&items);
}

static void
set_mutations(struct cfg_ctx *x, const char *v)
{
	parse_bool(x, v, &x->cfg->enable_mutations);
}

static int
method_known(const char *m)
{
	static const char *methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };

	for (size_t i = 0; i < 5; i++)
		if (strcmp(m, methods[i]) == 0)
			return 1;
	return 0;
}

static void
add_path_rule(struct cfg_ctx *x, const char *item)
{
	const char *colon = strchr(item, ':'), *pattern = item;
	struct path_rule *rules, r = { NULL, NULL, NULL };

	if (colon != NULL && colon[1] == '/') {
		r.method = strndup(item, (size_t)(colon - item));
		if (r.method == NULL)
			fatalx("out of memory");
		pattern = colon + 1;
		if (!method_known(r.method)) {
			cfg_error(x, "'%s': method must be GET, POST, PUT, PATCH or DELETE", item);
			free(r.method);
			return;
		}
	}
	if (strncmp(pattern, "/v1.0/", 6) != 0 && strncmp(pattern, "/beta/", 6) != 0) {
		cfg_error(x, "'%s': pattern must start with /v1.0/ or /beta/", item);
		free(r.method);
		return;
	}
	r.pattern = xstrdup(pattern);
	rules = realloc(x->cfg->paths, (x->cfg->n_paths + 1) * sizeof(*rules));
	if (rules == NULL)
		fatalx("out of memory");
	rules[x->cfg->n_paths++] = r;
	x->cfg->paths = rules;
}

static void
set_paths(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { 0 };

	split_list(v, &items);
	for (size_t i = 0; i < items.n; i++)
		add_path_rule(x, items.v[i]);
	strlist_free(&items);
}

static void
set_provider(struct cfg_ctx *x, const char *v)
{
	static const struct {
		const char *name;
		enum secret_provider p;
	} names[] = {
		{ "none", SECRET_PROVIDER_NONE },
		{ "1password", SECRET_PROVIDER_1PASSWORD },
		{ "file", SECRET_PROVIDER_FILE },
		{ "command", SECRET_PROVIDER_COMMAND },
		{ "env", SECRET_PROVIDER_ENV },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i].name) == 0) {
			x->cfg->secret_provider = names[i].p;
			return;
		}
	}
	cfg_error(x, "'%s' is not one of none, 1password, file, command, env", v);
}

static void
set_secret_ref(struct cfg_ctx *x, const char *v)
{
	if (*v == '\0' || strlen(v) > 1024 || has_ctl(v)) {
		cfg_error(x, "not a usable secret reference");
		return;
	}
	x->cfg->secret_ref = xstrdup(v);
}

static void
set_credential(struct cfg_ctx *x, const char *v)
{
	if (strcmp(v, "secret") == 0) {
		x->cfg->graph_credential = GRAPH_CREDENTIAL_SECRET;
	} else if (strcmp(v, "certificate") == 0) {
		x->cfg->graph_credential = GRAPH_CREDENTIAL_CERTIFICATE;
	} else if (strcmp(v, "federated") == 0) {
		x->cfg->graph_credential = GRAPH_CREDENTIAL_FEDERATED;
	} else if (strcmp(v, "managed_identity") == 0) {
		x->cfg->graph_credential = GRAPH_CREDENTIAL_MANAGED_IDENTITY;
	} else {
		cfg_error(x, "'%s' is not one of secret, certificate, federated, managed_identity", v);
	}
}

static void
set_certificate_ref(struct cfg_ctx *x, const char *v)
{
	if (*v == '\0' || strlen(v) > 1024 || has_ctl(v)) {
		cfg_error(x, "not a usable certificate reference");
		return;
	}
	free(x->cfg->certificate_ref);
	x->cfg->certificate_ref = xstrdup(v);
}

static void
set_mi_endpoint(struct cfg_ctx *x, const char *v)
{
	struct mi_endpoint ep;
	const char *why = NULL;

	if (!mi_endpoint_parse(v, &ep, &why)) {
		cfg_error(x, "'%.200s' %s: the managed identity endpoint must be http:// to this "
			     "host (IMDS " MI_IMDS_ENDPOINT " or a loopback agent)", v, why);
		return;
	}
	free(x->cfg->mi_endpoint);
	x->cfg->mi_endpoint = xstrdup(v);
}

static void
set_mi_client_id(struct cfg_ctx *x, const char *v)
{
	if (!is_guid(v)) {
		cfg_error(x, "'%.64s' is not a client id (a GUID: the user-assigned identity's "
			     "Client ID)", v);
		return;
	}
	free(x->cfg->mi_client_id);
	x->cfg->mi_client_id = xstrdup(v);
}

static void
set_certificate_passphrase_ref(struct cfg_ctx *x, const char *v)
{
	if (*v == '\0' || strlen(v) > 1024 || has_ctl(v)) {
		cfg_error(x, "not a usable passphrase reference");
		return;
	}
	free(x->cfg->certificate_passphrase_ref);
	x->cfg->certificate_passphrase_ref = xstrdup(v);
}

/* Exact names, as they appear in the JWS header: RFC 7518 spells them so. */
static void
set_assertion_algorithm(struct cfg_ctx *x, const char *v)
{
	if (strcmp(v, "RS256") == 0)
		x->cfg->assertion_alg = ASSERTION_ALG_RS256;
	else if (strcmp(v, "PS256") == 0)
		x->cfg->assertion_alg = ASSERTION_ALG_PS256;
	else {
		cfg_error(x, "'%s' is not one of RS256, PS256", v);
		return;
	}
	x->cfg->assertion_alg_set = true;
}

static void
set_authority(struct cfg_ctx *x, const char *v)
{
	const char *why = NULL;
	char *origin = parse_origin(v, &why);

	if (origin == NULL) {
		cfg_error(x, "'%s' %s", v, why);
		return;
	}
	free(x->cfg->authority);
	x->cfg->authority = origin;
}

static void
set_abs_path(struct cfg_ctx *x, const char *v, char **out)
{
	if (v[0] != '/' || has_ctl(v)) {
		if (v[0] != '/' && strchr(v, '/') == NULL && !has_ctl(v) && strlen(v) <= 64)
			cfg_error(x, "'%s' is not an absolute path: give the full path "
				     "(for a program, as 'command -v %s' prints it)", v, v);
		else
			cfg_error(x, "'%s' is not an absolute path", v);
		return;
	}
	free(*out);
	*out = xstrdup(v);
}

static void
set_ca_file(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->ca_file);
}

static void
set_audit_file(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->audit_file);
}

static void
set_libexecdir(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->libexecdir);
}

static void
set_op_path(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->op_path);
}

static void
set_secret_helper(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->secret_helper);
}

/* A list of numeric ids (comma or space separated).  Names are not looked
 * up: every process parses this, and only numbers mean the same thing
 * inside and outside a container. */
_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
    "uid_t and gid_t are unsigned int");

static void
set_id_list(struct cfg_ctx *x, const char *v, unsigned **out, size_t *n)
{
	struct strlist items = { 0 };
	unsigned *ids;
	long id;

	split_list(v, &items);
	if (items.n == 0)
		cfg_error(x, "empty: name at least one numeric id");
	if ((ids = calloc(items.n + 1, sizeof(*ids))) == NULL)
		fatalx("out of memory");
	*n = 0;
	for (size_t i = 0; i < items.n; i++)
		if (parse_long(x, items.v[i], 0, 4294967294L, &id) == 0)
			ids[(*n)++] = (unsigned)id;
	free(*out);
	*out = ids;
	strlist_free(&items);
}

static void
set_allowed_uids(struct cfg_ctx *x, const char *v)
{
	set_id_list(x, v, &x->cfg->allowed_uids, &x->cfg->n_allowed_uids);
}

static void
set_allowed_gids(struct cfg_ctx *x, const char *v)
{
	set_id_list(x, v, &x->cfg->allowed_gids, &x->cfg->n_allowed_gids);
}

/* A group name or number; brokerd looks the name up when it makes the socket. */
static void
set_socket_group(struct cfg_ctx *x, const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > 64 || v[0] == '-' ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len) {
		cfg_error(x, "'%s' is not a group name or number", v);
		return;
	}
	free(x->cfg->socket_group);
	x->cfg->socket_group = xstrdup(v);
}

/* Clients of the original contract may look tools up by their dotted
 * names; most MCP clients refuse a dot in a name. */
static void
set_tool_names(struct cfg_ctx *x, const char *v)
{
	if (strcmp(v, "short") == 0)
		x->cfg->tool_names = TOOL_NAMES_SHORT;
	else if (strcmp(v, "original") == 0)
		x->cfg->tool_names = TOOL_NAMES_ORIGINAL;
	else
		cfg_error(x, "'%s' is not one of short, original", v);
}

static void
set_log_level(struct cfg_ctx *x, const char *v)
{
	if (log_level_parse(v, &x->cfg->log_level) == -1)
		cfg_error(x, "'%s' is not one of error, warn, info, debug", v);
}

#define LONG_SETTER(fn, field, min, max)                                                         \
	static void fn(struct cfg_ctx *x, const char *v)                                         \
	{                                                                                        \
		parse_long(x, v, min, max, &x->cfg->field);                                      \
	}

LONG_SETTER(set_skew, token_cache_skew_s, 0, 3600)
LONG_SETTER(set_max_ttl, token_max_ttl_s, 60, 86400)
LONG_SETTER(set_provider_timeout, token_provider_timeout_s, 1, 120)
/* 4 KiB is below any useful request; 16 MiB bounds what one line may cost. */
LONG_SETTER(set_max_message, max_message_bytes, 4096, 16L * 1024 * 1024)
/* The IPC payload cap (16 MiB) must hold the body plus its envelope. */
LONG_SETTER(set_max_response, max_response_bytes, 1024, 12L * 1024 * 1024)
LONG_SETTER(set_max_inflight, max_inflight, 1, 4096)
/* Paging multiplies one call's Graph requests and its answer: bounded by
 * configuration, whatever a caller asks. */
LONG_SETTER(set_paging_max_pages, paging_max_pages, 1, 100)
LONG_SETTER(set_paging_max_items, paging_max_items, 1, 100000)
/* Below CONFIG_ANSWER_MAX of the smallest MAX_RESPONSE_BYTES no answer would
 * fit; 1 GiB is far past any sensible share of one process's memory.  The
 * relation to MAX_RESPONSE_BYTES is checked in config_check_relations. */
LONG_SETTER(set_session_max_output, session_max_output_bytes, CONFIG_ANSWER_MAX(1024),
    1024L * 1024 * 1024)
/* brokerd serves at most BROKER_MAX_SESSIONS (256) sessions in all. */
LONG_SETTER(set_max_sessions_per_uid, max_sessions_per_uid, 1, 256)
/* A day: idle sessions are for closing, not for keeping. */
LONG_SETTER(set_session_idle_timeout, session_idle_timeout_s, 1, 86400)
/* Past five minutes a service manager has long since given up waiting. */
LONG_SETTER(set_shutdown_grace, shutdown_grace_s, 0, 300)
/* secretd waits for a helper synchronously: two minutes is already long. */
LONG_SETTER(set_secret_timeout, secret_timeout_s, 1, 120)
LONG_SETTER(set_secret_cache, secret_cache_s, 0, 86400)

/* Streamable HTTP: a connection is a descriptor and a few kilobytes;
 * 1024 is FD_SETSIZE, the most libmicrohttpd's select mode can watch. */
LONG_SETTER(set_http_max_conns, http_max_connections, 1, 1000)
LONG_SETTER(set_http_max_conns_per_addr, http_max_connections_per_address, 1, 1000)
/* A client silent this long mid-request (slowloris) or between requests
 * loses its connection; a call in flight is not silence (suspended). */
LONG_SETTER(set_http_request_timeout, http_request_timeout_s, 1, 3600)
/* GET /ready: a probe storm makes one check per this many seconds; 0 makes
 * each probe check (single flight and the token cache still apply). */
LONG_SETTER(set_http_ready_cache, http_ready_cache_s, 0, 300)

static void
set_auth_mode(struct cfg_ctx *x, const char *v)
{
	if (strcmp(v, "none") == 0)
		x->cfg->auth_mode = AUTH_MODE_NONE;
	else if (strcmp(v, "api_key") == 0)
		x->cfg->auth_mode = AUTH_MODE_API_KEY;
	else if (strcmp(v, "oauth") == 0)
		x->cfg->auth_mode = AUTH_MODE_OAUTH;
	else if (strcmp(v, "hybrid") == 0)
		x->cfg->auth_mode = AUTH_MODE_HYBRID;
	else
		cfg_error(x, "'%s' is not one of none, api_key, oauth, hybrid", v);
}

const char *
config_auth_mode_name(enum auth_mode m)
{
	static const char *const names[] = { "none", "api_key", "oauth", "hybrid" };

	return (size_t)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

static void
set_http_metrics(struct cfg_ctx *x, const char *v)
{
	if (strcmp(v, "off") == 0)
		x->cfg->http_metrics = HTTP_METRICS_OFF;
	else if (strcmp(v, "loopback") == 0)
		x->cfg->http_metrics = HTTP_METRICS_LOOPBACK;
	else if (strcmp(v, "on") == 0)
		x->cfg->http_metrics = HTTP_METRICS_ON;
	else
		cfg_error(x, "'%s' is not one of off, loopback, on", v);
}

static void
set_api_keys_file(struct cfg_ctx *x, const char *v)
{
	set_abs_path(x, v, &x->cfg->api_keys_file);
}

static void
set_behind_proxy(struct cfg_ctx *x, const char *v)
{
	parse_bool(x, v, &x->cfg->http_behind_proxy);
}

/* "http://host[:port]" or "https://host[:port]", as browsers send Origin:
 * compared exactly, after lower-casing. */
static void
set_allowed_origins(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { NULL, 0 };

	split_list(v, &items);
	for (size_t i = 0; i < items.n; i++) {
		char *o = items.v[i];
		size_t skip = strncasecmp(o, "https://", 8) == 0 ? 8 : strncasecmp(o, "http://", 7) == 0 ? 7 : 0;
		if (skip == 0 || o[skip] == '\0' || strcspn(o + skip, "/?#@") != strlen(o + skip) ||
		    has_ctl(o)) {
			cfg_error(x, "'%s' is not an origin (http[s]://host[:port])", o);
			continue;
		}
		for (char *p = o; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		strlist_add(&x->cfg->http_allowed_origins, o);
	}
	strlist_free(&items);
}

static void
set_allowed_hosts(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { NULL, 0 };

	split_list(v, &items);
	for (size_t i = 0; i < items.n; i++) {
		char *h = items.v[i];
		if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
		    strlen(h)) {
			cfg_error(x, "'%s' is not a host[:port]", h);
			continue;
		}
		for (char *p = h; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		strlist_add(&x->cfg->http_allowed_hosts, h);
	}
	strlist_free(&items);
}

/* An absolute http(s) URL with a host: no user, fragment or control
 * character.  https only unless http_ok (the resource URL, whose http form
 * start-up allows on loopback only). */
static bool
url_ok(struct cfg_ctx *x, const char *v, bool http_ok, bool query_ok)
{
	size_t skip = strncasecmp(v, "https://", 8) == 0		 ? 8
		    : http_ok && strncasecmp(v, "http://", 7) == 0 ? 7
								   : 0;
	size_t host = skip != 0 ? strcspn(v + skip, "/?#") : 0;

	if (skip == 0)
		cfg_error(x, "'%s' must start with https://%s", v, http_ok ? " (or http:// on loopback)" : "");
	else if (host == 0 || memchr(v + skip, '@', host) != NULL || strchr(v, '#') != NULL ||
		 (!query_ok && strchr(v, '?') != NULL) || strchr(v, ' ') != NULL || has_ctl(v) ||
		 strlen(v) > 1024)
		cfg_error(x, "'%s' is not a URL with a host (no user, %sfragment or space)", v,
		    query_ok ? "" : "query, ");
	else
		return true;
	return false;
}

static void
set_resource_server_url(struct cfg_ctx *x, const char *v)
{
	if (url_ok(x, v, true, false)) {
		free(x->cfg->resource_server_url);
		x->cfg->resource_server_url = xstrdup(v);
	}
}

/* An issuer is compared exactly with a token's iss: kept as given. */
static void
set_oauth_issuer(struct cfg_ctx *x, const char *v)
{
	if (url_ok(x, v, false, true)) {
		free(x->cfg->oauth_issuer);
		x->cfg->oauth_issuer = xstrdup(v);
	}
}

/* tokend fetches it, and tokend speaks HTTPS only. */
static void
set_oauth_jwks_uri(struct cfg_ctx *x, const char *v)
{
	if (url_ok(x, v, false, true)) {
		free(x->cfg->oauth_jwks_uri);
		x->cfg->oauth_jwks_uri = xstrdup(v);
	}
}

/* Audiences and scopes: visible ASCII words, as they appear in aud, scp
 * and roles. */
static void
set_word_list(struct cfg_ctx *x, const char *v, struct strlist *out, const char *what)
{
	struct strlist items = { NULL, 0 };

	split_list(v, &items);
	if (items.n == 0)
		cfg_error(x, "empty: name at least one %s", what);
	for (size_t i = 0; i < items.n; i++) {
		if (has_ctl(items.v[i]) || strlen(items.v[i]) > 256 || strchr(items.v[i], '"') ||
		    strchr(items.v[i], '\\')) {
			cfg_error(x, "'%s' is not a usable %s", items.v[i], what);
			continue;
		}
		strlist_add(out, items.v[i]);
	}
	strlist_free(&items);
}

static void
set_oauth_audience(struct cfg_ctx *x, const char *v)
{
	set_word_list(x, v, &x->cfg->oauth_audiences, "audience");
}

static void
set_oauth_required_scopes(struct cfg_ctx *x, const char *v)
{
	set_word_list(x, v, &x->cfg->oauth_required_scopes, "scope or role");
}

static void
set_mutations_role(struct cfg_ctx *x, const char *v)
{
	struct strlist one = { NULL, 0 };

	set_word_list(x, v, &one, "role");
	if (one.n > 1)
		cfg_error(x, "name one role");
	else if (one.n == 1) {
		free(x->cfg->mutations_required_role);
		x->cfg->mutations_required_role = xstrdup(one.v[0]);
	}
	strlist_free(&one);
}

static void
set_path_roles(struct cfg_ctx *x, const char *v)
{
	struct strlist items = { NULL, 0 };

	split_list(v, &items);
	for (size_t i = 0; i < items.n; i++) {
		const char *eq = strrchr(items.v[i], '=');
		if (eq == NULL || eq == items.v[i] || eq[1] == '\0' || has_ctl(items.v[i]) ||
		    strchr(eq + 1, '"') != NULL || strchr(eq + 1, '\\') != NULL) {
			cfg_error(x, "'%s' is not RULE=ROLE (RULE as written in "
				     "MCP_AUTH_BROKER_ALLOWED_PATHS)",
			    items.v[i]);
			continue;
		}
		strlist_add(&x->cfg->path_roles, items.v[i]);
	}
	strlist_free(&items);
}

static const struct cfg_var {
	const char *name;
	void (*set)(struct cfg_ctx *, const char *);
} cfg_vars[] = {
	{ PREFIX "ENV", set_env },
	{ PREFIX "TENANT_ID", set_tenant },
	{ PREFIX "GRAPH_CLIENT_ID", set_client_id },
	{ PREFIX "ALLOWED_GRAPH_RESOURCES", set_resources },
	{ PREFIX "ALLOWED_SCOPES", set_scopes },
	{ PREFIX "ENABLE_MUTATIONS", set_mutations },
	{ PREFIX "ALLOWED_PATHS", set_paths },
	{ PREFIX "SECRET_PROVIDER", set_provider },
	{ PREFIX "GRAPH_SECRET_REF", set_secret_ref },
	{ PREFIX "AUTHORITY", set_authority },
	{ PREFIX "CA_FILE", set_ca_file },
	{ PREFIX "AUDIT_FILE", set_audit_file },
	{ PREFIX "LOG_LEVEL", set_log_level },
	{ PREFIX "TOKEN_CACHE_SKEW_SECONDS", set_skew },
	{ PREFIX "TOKEN_MAX_TTL_SECONDS", set_max_ttl },
	{ PREFIX "TOKEN_PROVIDER_TIMEOUT_SECONDS", set_provider_timeout },
	{ PREFIX "MAX_MESSAGE_BYTES", set_max_message },
	{ PREFIX "MAX_RESPONSE_BYTES", set_max_response },
	{ PREFIX "MAX_INFLIGHT", set_max_inflight },
	{ PREFIX "PAGING_MAX_PAGES", set_paging_max_pages },
	{ PREFIX "PAGING_MAX_ITEMS", set_paging_max_items },
	{ PREFIX "SESSION_MAX_OUTPUT_BYTES", set_session_max_output },
	{ PREFIX "MAX_SESSIONS_PER_UID", set_max_sessions_per_uid },
	{ PREFIX "SESSION_IDLE_TIMEOUT_SECONDS", set_session_idle_timeout },
	{ PREFIX "LIBEXECDIR", set_libexecdir },
	{ PREFIX "ALLOWED_UIDS", set_allowed_uids },
	{ PREFIX "ALLOWED_GIDS", set_allowed_gids },
	{ PREFIX "SOCKET_GROUP", set_socket_group },
	{ PREFIX "SHUTDOWN_GRACE_SECONDS", set_shutdown_grace },
	{ PREFIX "SECRET_TIMEOUT_SECONDS", set_secret_timeout },
	{ PREFIX "SECRET_CACHE_SECONDS", set_secret_cache },
	{ PREFIX "OP_PATH", set_op_path },
	{ PREFIX "SECRET_HELPER", set_secret_helper },
	{ PREFIX "TOOL_NAMES", set_tool_names },
	{ PREFIX "GRAPH_CREDENTIAL", set_credential },
	{ PREFIX "GRAPH_CERTIFICATE_REF", set_certificate_ref },
	{ PREFIX "MANAGED_IDENTITY_ENDPOINT", set_mi_endpoint },
	{ PREFIX "MANAGED_IDENTITY_CLIENT_ID", set_mi_client_id },
	{ PREFIX "GRAPH_CERTIFICATE_PASSPHRASE_REF", set_certificate_passphrase_ref },
	{ PREFIX "GRAPH_ASSERTION_ALGORITHM", set_assertion_algorithm },
	{ PREFIX "AUTH_MODE", set_auth_mode },
	{ PREFIX "API_KEYS_FILE", set_api_keys_file },
	{ PREFIX "HTTP_BEHIND_PROXY", set_behind_proxy },
	{ PREFIX "HTTP_ALLOWED_ORIGINS", set_allowed_origins },
	{ PREFIX "HTTP_ALLOWED_HOSTS", set_allowed_hosts },
	{ PREFIX "HTTP_MAX_CONNECTIONS", set_http_max_conns },
	{ PREFIX "HTTP_MAX_CONNECTIONS_PER_ADDRESS", set_http_max_conns_per_addr },
	{ PREFIX "HTTP_REQUEST_TIMEOUT_SECONDS", set_http_request_timeout },
	{ PREFIX "RESOURCE_SERVER_URL", set_resource_server_url },
	{ PREFIX "OAUTH_ISSUER", set_oauth_issuer },
	{ PREFIX "OAUTH_JWKS_URI", set_oauth_jwks_uri },
	{ PREFIX "OAUTH_AUDIENCE", set_oauth_audience },
	{ PREFIX "OAUTH_REQUIRED_SCOPES", set_oauth_required_scopes },
	{ PREFIX "MUTATIONS_REQUIRED_ROLE", set_mutations_role },
	{ PREFIX "PATH_ROLES", set_path_roles },
	{ PREFIX "HTTP_METRICS", set_http_metrics },
	{ PREFIX "HTTP_READY_CACHE_SECONDS", set_http_ready_cache },
};

static const struct cfg_var *
cfg_var_find(const char *entry, size_t namelen)
{
	for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++)
		if (strlen(cfg_vars[i].name) == namelen && strncmp(cfg_vars[i].name, entry, namelen) == 0)
			return &cfg_vars[i];
	return NULL;
}

/* The workload-identity webhook's variables (config_check_federated). */
static const char *const azure_vars[] = { AZURE_FEDERATED_TOKEN_FILE_VAR, AZURE_CLIENT_ID_VAR,
	AZURE_TENANT_ID_VAR, AZURE_AUTHORITY_HOST_VAR };

/* The value of name in envp, or NULL. */
static const char *
env_value(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
			return envp[i] + len + 1;
	return NULL;
}

static bool
is_azure_var(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(azure_vars) / sizeof(azure_vars[0]); i++)
		if (strlen(azure_vars[i]) == len && strncmp(name, azure_vars[i], len) == 0)
			return true;
	return false;
}

bool
config_is_broker_var(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return strncmp(entry, PREFIX, strlen(PREFIX)) == 0 ||
	    (eq != NULL && is_azure_var(entry, (size_t)(eq - entry)));
}

bool
config_is_child_var(const struct config *cfg, const char *entry)
{
	size_t n = strlen(MI_IDENTITY_ENDPOINT_VAR);

	return cfg->graph_credential == GRAPH_CREDENTIAL_MANAGED_IDENTITY &&
	    strncmp(entry, MI_IDENTITY_ENDPOINT_VAR, n) == 0 && entry[n] == '=';
}

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->env = BROKER_ENV_SMOKE;
	cfg->secret_provider = SECRET_PROVIDER_NONE;
	cfg->authority = xstrdup("https://login.microsoftonline.com");
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->token_cache_skew_s = 60;
	cfg->token_max_ttl_s = 3000;
	cfg->token_provider_timeout_s = 4;
	cfg->max_message_bytes = 1024L * 1024;
	cfg->max_response_bytes = 4L * 1024 * 1024;
	cfg->max_inflight = 64;
	cfg->paging_max_pages = 10;
	cfg->paging_max_items = 1000;
	cfg->session_max_output_bytes = 0; /* unset: derived in config_check_relations */
	cfg->max_sessions_per_uid = 32;
	cfg->session_idle_timeout_s = 300;
	cfg->shutdown_grace_s = 10;
	cfg->secret_timeout_s = 5;
	cfg->secret_cache_s = 300;
	cfg->auth_mode = AUTH_MODE_NONE;
	cfg->http_max_connections = 64;
	cfg->http_max_connections_per_address = 16;
	cfg->http_request_timeout_s = 30;
	cfg->http_metrics = HTTP_METRICS_LOOPBACK;
	cfg->http_ready_cache_s = 5;
}

/* Edit distance between a and b (at most 64 bytes each are compared;
 * longer names are never close enough to matter). */
static size_t
name_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, 64), lb = strnlen(b, 64), prev[65], cur[65];

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (toupper((unsigned char)a[i - 1]) !=
							toupper((unsigned char)b[j - 1]));
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* The known variable nearest to an unknown name, or NULL when none is near
 * enough to be what was meant (a third of the name's letters wrong). */
static const char *
cfg_var_nearest(const char *name)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, len = strlen(name) - strlen(PREFIX);

	for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++) {
		size_t d = name_distance(name + strlen(PREFIX), cfg_vars[i].name + strlen(PREFIX));
		if (d < best_d) {
			best_d = d;
			best = cfg_vars[i].name;
		}
	}
	return best_d <= 1 + len / 3 ? best : NULL;
}

/* Unknown MCP_AUTH_BROKER_* names are errors: a misspelt ALLOWED_PATHS would
 * otherwise silently widen the policy. */
static void
config_read_env(struct cfg_ctx *x, char *const *envp)
{
	for (size_t i = 0; envp[i] != NULL; i++) {
		const char *eq = strchr(envp[i], '=');
		const struct cfg_var *var;
		char name[128];

		if (eq == NULL || strncmp(envp[i], PREFIX, strlen(PREFIX)) != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - envp[i]), envp[i]);
		x->name = name;
		if ((var = cfg_var_find(envp[i], (size_t)(eq - envp[i]))) == NULL) {
			const char *near = cfg_var_nearest(name);
			if (near != NULL)
				cfg_error(x, "unknown variable: did you mean %s?", near);
			else
				cfg_error(x, "unknown variable (mcp-auth-broker.conf(5) lists them)");
			continue;
		}
		var->set(x, eq + 1);
	}
}

static void
config_smoke_fill(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;

	cfg->secret_provider = SECRET_PROVIDER_SMOKE;
	/* Smoke mode's built-in secret stands in for every credential kind. */
	cfg->graph_credential = GRAPH_CREDENTIAL_SECRET;
	if (cfg->tenant_id == NULL)
		cfg->tenant_id = xstrdup(SMOKE_TENANT);
	if (cfg->client_id == NULL)
		cfg->client_id = xstrdup(SMOKE_CLIENT);
	if (cfg->resources.n == 0)
		split_list(SMOKE_RESOURCES, &cfg->resources);
	if (cfg->scopes.n == 0)
		split_list(SMOKE_SCOPES, &cfg->scopes);
}

/* Whether name has been reported already: a variable set to a bad value
 * is then not also reported as missing. */
static bool
config_reported(const struct config_errors *errs, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < errs->n; i++)
		if (strncmp(errs->v[i], name, len) == 0 && errs->v[i][len] == ':')
			return true;
	return false;
}

static void
config_require(struct cfg_ctx *x, const char *name, int missing, const char *why)
{
	if (missing && !config_reported(x->errs, name)) {
		x->name = name;
		cfg_error(x, "required %s", why);
	}
}

bool
config_op_ref_valid(const char *ref)
{
	const char *p = ref + strlen("op://");
	int parts = 0;

	if (strncmp(ref, "op://", 5) != 0)
		return false;
	/* op://vault/item/field or op://vault/item/section/field; a query such
	 * as ?attribute=otp may follow the last part. */
	for (;;) {
		size_t n = strcspn(p, "/?");
		if (n == 0)
			return false;
		parts++;
		p += n;
		if (*p != '/')
			break;
		p++;
	}
	return parts == 3 || parts == 4;
}

bool
config_env_ref_valid(const char *ref)
{
	size_t len = strlen(ref);

	if (len == 0 || len > 128 || isdigit((unsigned char)ref[0]))
		return false;
	if (strspn(ref, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != len)
		return false;
	/* Our own variables reach tokend too: the secret must not be one. */
	return strncmp(ref, PREFIX, strlen(PREFIX)) != 0 && !is_azure_var(ref, len);
}

/* Each provider's reference has a shape; a wrong one is an operator's
 * mistake best reported before anything starts. */
static void
config_check_ref_shape(struct cfg_ctx *x, const char *name, const char *ref)
{
	struct config *cfg = x->cfg;

	x->name = name;
	if (ref == NULL)
		return;
	switch (cfg->secret_provider) {
	case SECRET_PROVIDER_1PASSWORD:
		if (!config_op_ref_valid(ref))
			cfg_error(x, "'%s' is not a 1Password secret reference "
				     "(op://vault/item/field)", ref);
		break;
	case SECRET_PROVIDER_FILE:
		if (ref[0] != '/' && (strchr(ref, '/') != NULL || strcmp(ref, ".") == 0 ||
					 strcmp(ref, "..") == 0))
			cfg_error(x, "'%s' is neither an absolute path nor a credential name "
				     "(a name without '/', looked up in $CREDENTIALS_DIRECTORY)", ref);
		break;
	case SECRET_PROVIDER_ENV:
		if (!config_env_ref_valid(ref))
			cfg_error(x, "'%s' is not an environment variable name secretd may keep "
				     "(letters, digits, '_'; not an MCP_AUTH_BROKER_* one, which tokend "
				     "also receives)", ref);
		break;
	default:
		break;
	}
}

static void
config_check_secret_ref(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;

	config_check_ref_shape(x,
	    cfg->graph_credential == GRAPH_CREDENTIAL_CERTIFICATE ? PREFIX "GRAPH_CERTIFICATE_REF"
								  : PREFIX "GRAPH_SECRET_REF",
	    cfg->secret_ref);
	config_check_ref_shape(x, PREFIX "GRAPH_CERTIFICATE_PASSPHRASE_REF",
	    cfg->certificate_passphrase_ref);
}

/* The passphrase and the algorithm belong to the certificate credential:
 * set with another they would be silently unused, so they are refused. */
static void
config_check_certificate_options(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;

	if (cfg->graph_credential == GRAPH_CREDENTIAL_CERTIFICATE)
		return;
	if (cfg->certificate_passphrase_ref != NULL) {
		x->name = PREFIX "GRAPH_CERTIFICATE_PASSPHRASE_REF";
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not certificate");
	}
	if (cfg->assertion_alg_set) {
		x->name = PREFIX "GRAPH_ASSERTION_ALGORITHM";
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not certificate (only a "
			     "certificate credential signs assertions)");
	}
}

/* With a certificate credential the provider resolves the certificate
 * reference instead of a client secret: it becomes the one reference
 * secretd knows, and a client secret set as well would be ignored, so it is
 * refused rather than silently unused. */
static void
config_check_certificate(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;

	if (cfg->graph_credential != GRAPH_CREDENTIAL_CERTIFICATE) {
		if (cfg->certificate_ref != NULL) {
			x->name = PREFIX "GRAPH_CERTIFICATE_REF";
			cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not certificate");
		}
		return;
	}
	x->name = PREFIX "GRAPH_CREDENTIAL";
	if (cfg->secret_provider == SECRET_PROVIDER_NONE)
		cfg_error(x, "certificate needs MCP_AUTH_BROKER_SECRET_PROVIDER (file, command, "
			     "1password or env) to resolve MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF");
	config_require(x, PREFIX "GRAPH_CERTIFICATE_REF", cfg->certificate_ref == NULL,
	    "when MCP_AUTH_BROKER_GRAPH_CREDENTIAL is certificate: the reference of a PEM "
	    "holding the private key and its certificate");
	if (cfg->secret_ref != NULL) {
		x->name = PREFIX "GRAPH_SECRET_REF";
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is certificate: unset it");
		return;
	}
	if (cfg->certificate_ref != NULL)
		cfg->secret_ref = xstrdup(cfg->certificate_ref);
}

/* A managed identity needs no stored credential: the identity endpoint
 * knows the host.  Settings of the other kinds are refused rather than
 * silently unused.  On App Service and Container Apps the agent's
 * IDENTITY_HEADER is a credential, so it goes where secrets go: secretd
 * keeps it as the env provider's secret and serves it to tokend. */
static void
config_check_managed_identity(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;
	const char *agent = env_value(x->envp, MI_IDENTITY_ENDPOINT_VAR), *why = NULL;
	struct mi_endpoint ep;

	if (cfg->graph_credential != GRAPH_CREDENTIAL_MANAGED_IDENTITY) {
		x->name = cfg->mi_endpoint ? PREFIX "MANAGED_IDENTITY_ENDPOINT"
					   : PREFIX "MANAGED_IDENTITY_CLIENT_ID";
		if (cfg->mi_endpoint != NULL || cfg->mi_client_id != NULL)
			cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not "
				     "managed_identity");
		return;
	}
	x->name = PREFIX "GRAPH_SECRET_REF";
	if (cfg->secret_ref != NULL)
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is managed_identity, which "
			     "uses no client secret: unset it");
	x->name = PREFIX "SECRET_PROVIDER";
	if (cfg->secret_provider != SECRET_PROVIDER_NONE)
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is managed_identity, which "
			     "needs no secret provider: unset it");
	if (cfg->mi_endpoint != NULL || (agent == NULL && (cfg->mi_endpoint =
							     xstrdup(MI_IMDS_ENDPOINT)) != NULL))
		return;
	x->name = MI_IDENTITY_ENDPOINT_VAR;
	if (!mi_endpoint_parse(agent, &ep, &why)) {
		cfg_error(x, "'%.200s' %s: the managed identity endpoint must be http:// to this "
			     "host", agent, why);
		return;
	}
	cfg->mi_endpoint = xstrdup(agent);
	cfg->mi_app_service = true;
	if (cfg->secret_ref == NULL && cfg->secret_provider == SECRET_PROVIDER_NONE) {
		cfg->secret_provider = SECRET_PROVIDER_ENV;
		cfg->secret_ref = xstrdup(MI_IDENTITY_HEADER_VAR);
	}
}

/* AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST: what the
 * workload-identity webhook injects, used where our own variable is not
 * set (set to a bad value, it has been reported already).  With the
 * federated credential only: an AZURE_CLIENT_ID injected for another
 * purpose must not change which application a secret logs in as. */
static void
config_federated_fill(struct cfg_ctx *x)
{
	static const struct {
		const char *ours, *azure;
		void (*set)(struct cfg_ctx *, const char *);
	} fills[] = {
		{ PREFIX "GRAPH_CLIENT_ID", AZURE_CLIENT_ID_VAR, set_client_id },
		{ PREFIX "TENANT_ID", AZURE_TENANT_ID_VAR, set_tenant },
		{ PREFIX "AUTHORITY", AZURE_AUTHORITY_HOST_VAR, set_authority },
	};

	for (size_t i = 0; i < sizeof(fills) / sizeof(fills[0]); i++) {
		const char *v = env_value(x->envp, fills[i].azure);
		if (v == NULL || env_value(x->envp, fills[i].ours) != NULL)
			continue;
		x->name = fills[i].azure;
		fills[i].set(x, v);
	}
}

/* The federated credential: secretd reads the token file the kubelet (or
 * the CI runner) writes and rotates; no provider resolves anything, so a
 * provider or a reference set as well would be ignored, and is refused
 * rather than silently unused. */
static void
config_check_federated(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;
	const char *file;

	if (cfg->graph_credential != GRAPH_CREDENTIAL_FEDERATED)
		return;
	config_federated_fill(x);
	x->name = AZURE_FEDERATED_TOKEN_FILE_VAR;
	if ((file = env_value(x->envp, AZURE_FEDERATED_TOKEN_FILE_VAR)) == NULL)
		cfg_error(x, "required when MCP_AUTH_BROKER_GRAPH_CREDENTIAL is federated: the "
			     "path of the federated token file (the workload-identity webhook sets "
			     "it)");
	else if (file[0] != '/' || has_ctl(file) || strlen(file) > 1024)
		cfg_error(x, "'%s' is not an absolute path", file);
	else
		cfg->federated_token_file = xstrdup(file);
	x->name = PREFIX "SECRET_PROVIDER";
	if (cfg->secret_provider != SECRET_PROVIDER_NONE)
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is federated, which reads "
			     "AZURE_FEDERATED_TOKEN_FILE: unset it");
	x->name = PREFIX "GRAPH_SECRET_REF";
	if (cfg->secret_ref != NULL)
		cfg_error(x, "set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL is federated: unset it");
}

static void
config_check_real(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;
	bool fed = cfg->graph_credential == GRAPH_CREDENTIAL_FEDERATED;

	config_check_federated(x);
	config_require(x, PREFIX "TENANT_ID", cfg->tenant_id == NULL,
	    fed ? "outside smoke mode (or AZURE_TENANT_ID)" : "outside smoke mode");
	config_require(x, PREFIX "GRAPH_CLIENT_ID", cfg->client_id == NULL,
	    fed ? "outside smoke mode (or AZURE_CLIENT_ID)" : "outside smoke mode");
	config_require(x, PREFIX "ALLOWED_GRAPH_RESOURCES", cfg->resources.n == 0,
	    "outside smoke mode");
	config_require(x, PREFIX "ALLOWED_SCOPES", cfg->scopes.n == 0, "outside smoke mode");
	config_check_certificate(x);
	config_check_managed_identity(x);
	config_check_certificate_options(x);
	config_require(x, PREFIX "GRAPH_SECRET_REF",
	    cfg->graph_credential == GRAPH_CREDENTIAL_SECRET &&
		cfg->secret_provider != SECRET_PROVIDER_NONE && cfg->secret_ref == NULL,
	    "when MCP_AUTH_BROKER_SECRET_PROVIDER is not none");
	config_require(x, PREFIX "SECRET_HELPER",
	    cfg->secret_provider == SECRET_PROVIDER_COMMAND && cfg->secret_helper == NULL,
	    "when MCP_AUTH_BROKER_SECRET_PROVIDER is command: the absolute path of the program "
	    "that prints the secret");
	config_check_secret_ref(x);
}

/* OAuth callers: the resource URL is required; the issuer and key set
 * default to Entra ID's v2.0 endpoints of the tenant (whose issuer names
 * the tenant's GUID, never a domain); the OAUTH_* settings mean nothing
 * without oauth. */
static void
config_check_oauth(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;
	char url[1200];
	struct strlist aud = { NULL, 0 };

	if (AUTH_MODE_OAUTH(cfg->auth_mode) && cfg->env == BROKER_ENV_SMOKE) {
		x->name = PREFIX "AUTH_MODE";
		cfg_error(x, "%s needs the authorization server's keys, which smoke mode never "
			     "fetches: set MCP_AUTH_BROKER_ENV=dev (or staging, prod)",
		    config_auth_mode_name(cfg->auth_mode));
		return;
	}
	if (!AUTH_MODE_OAUTH(cfg->auth_mode)) {
		const struct {
			const char *name;
			bool set;
		} oauth_only[] = {
			{ PREFIX "RESOURCE_SERVER_URL", cfg->resource_server_url != NULL },
			{ PREFIX "OAUTH_ISSUER", cfg->oauth_issuer != NULL },
			{ PREFIX "OAUTH_JWKS_URI", cfg->oauth_jwks_uri != NULL },
			{ PREFIX "OAUTH_AUDIENCE", cfg->oauth_audiences.n > 0 },
			{ PREFIX "OAUTH_REQUIRED_SCOPES", cfg->oauth_required_scopes.n > 0 },
		};
		for (size_t i = 0; i < sizeof(oauth_only) / sizeof(oauth_only[0]); i++) {
			x->name = oauth_only[i].name;
			if (oauth_only[i].set)
				cfg_error(x, "set, but MCP_AUTH_BROKER_AUTH_MODE is neither oauth nor "
					     "hybrid");
		}
		return;
	}
	if (cfg->tenant_id == NULL) /* reported already */
		return;
	x->name = PREFIX "RESOURCE_SERVER_URL";
	if (cfg->resource_server_url == NULL) {
		cfg_error(x, "is required with MCP_AUTH_BROKER_AUTH_MODE=oauth or hybrid: the URL "
			     "clients use for /mcp, e.g. https://mcp.example.com/mcp");
		return;
	}
	x->name = PREFIX "OAUTH_ISSUER";
	if (cfg->oauth_issuer == NULL && !is_guid(cfg->tenant_id))
		cfg_error(x, "is required when MCP_AUTH_BROKER_TENANT_ID is not a GUID: Entra ID's "
			     "tokens name the tenant's id (https://login.microsoftonline.com/<id>/v2.0)");
	if (cfg->oauth_issuer == NULL) {
		snprintf(url, sizeof(url), "%s/%s/v2.0", cfg->authority, cfg->tenant_id);
		cfg->oauth_issuer = xstrdup(url);
	}
	if (cfg->oauth_jwks_uri == NULL) {
		snprintf(url, sizeof(url), "%s/%s/discovery/v2.0/keys", cfg->authority,
		    cfg->tenant_id);
		cfg->oauth_jwks_uri = xstrdup(url);
	}
	strlist_add(&aud, cfg->resource_server_url);
	for (size_t i = 0; i < cfg->oauth_audiences.n; i++)
		strlist_add(&aud, cfg->oauth_audiences.v[i]);
	strlist_free(&cfg->oauth_audiences);
	cfg->oauth_audiences = aud;
}

/* "RULE=ROLE": RULE is an ALLOWED_PATHS entry as written ("METHOD:/glob"
 * or "/glob"), which gets the role. */
static void
config_attach_path_roles(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;
	char spelled[REQ_PATH_RULE_MAX];

	x->name = PREFIX "PATH_ROLES";
	for (size_t i = 0; i < cfg->path_roles.n; i++) {
		const char *entry = cfg->path_roles.v[i], *eq = strrchr(entry, '=');
		size_t n = (size_t)(eq - entry);
		struct path_rule *found = NULL;

		for (size_t j = 0; j < cfg->n_paths && found == NULL; j++) {
			struct path_rule *r = &cfg->paths[j];
			snprintf(spelled, sizeof(spelled), "%s%s%s", r->method ? r->method : "",
			    r->method ? ":" : "", r->pattern);
			if (strlen(spelled) == n && strncmp(spelled, entry, n) == 0)
				found = r;
		}
		if (found == NULL)
			cfg_error(x, "'%.*s' is not an entry of MCP_AUTH_BROKER_ALLOWED_PATHS", (int)n,
			    entry);
		else if (found->role != NULL)
			cfg_error(x, "'%.*s' has a role already", (int)n, entry);
		else
			found->role = xstrdup(eq + 1);
	}
}

static void
config_check_relations(struct cfg_ctx *x)
{
	struct config *cfg = x->cfg;

	if (cfg->token_cache_skew_s >= cfg->token_max_ttl_s) {
		x->name = PREFIX "TOKEN_CACHE_SKEW_SECONDS";
		cfg_error(x, "%ld must be less than MCP_AUTH_BROKER_TOKEN_MAX_TTL_SECONDS (%ld)",
		    cfg->token_cache_skew_s, cfg->token_max_ttl_s);
	}
	/* Every call gets its answer when the session has read what it was
	 * sent: so the cap must hold the largest answer on its own. */
	if (cfg->session_max_output_bytes == 0) {
		cfg->session_max_output_bytes = CONFIG_SESSION_MAX_OUTPUT_DEFAULT;
		if (cfg->session_max_output_bytes < CONFIG_ANSWER_MAX(cfg->max_response_bytes))
			cfg->session_max_output_bytes = CONFIG_ANSWER_MAX(cfg->max_response_bytes);
	} else if (cfg->session_max_output_bytes < CONFIG_ANSWER_MAX(cfg->max_response_bytes)) {
		x->name = PREFIX "SESSION_MAX_OUTPUT_BYTES";
		cfg_error(x,
		    "%ld is less than one answer can be with MCP_AUTH_BROKER_MAX_RESPONSE_BYTES=%ld "
		    "(3 x that + 65536 = %ld)",
		    cfg->session_max_output_bytes, cfg->max_response_bytes,
		    CONFIG_ANSWER_MAX(cfg->max_response_bytes));
	}
	if (AUTH_MODE_KEYS(cfg->auth_mode) && cfg->api_keys_file == NULL) {
		x->name = PREFIX "API_KEYS_FILE";
		cfg_error(x, "is required with MCP_AUTH_BROKER_AUTH_MODE=%s",
		    cfg->auth_mode == AUTH_MODE_HYBRID ? "hybrid" : "api_key");
	}
	config_check_oauth(x);
	config_attach_path_roles(x);
}

/* A digest of every setting policy_decide reads: audit records carry it so an
 * operator can tell which policy decided a call. */
static void
config_policy_version(struct config *cfg)
{
	crypto_generichash_state st;
	unsigned char h[8];

#define HASH_STR(s) crypto_generichash_update(&st, (const unsigned char *)(s), strlen(s) + 1)
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	HASH_STR(cfg->tenant_id);
	for (size_t i = 0; i < cfg->resources.n; i++)
		HASH_STR(cfg->resources.v[i]);
	HASH_STR("|");
	for (size_t i = 0; i < cfg->scopes.n; i++)
		HASH_STR(cfg->scopes.v[i]);
	HASH_STR(cfg->enable_mutations ? "mut" : "ro");
	for (size_t i = 0; i < cfg->n_paths; i++) {
		HASH_STR(cfg->paths[i].method ? cfg->paths[i].method : "*");
		HASH_STR(cfg->paths[i].pattern);
		/* Hashed only when set: a policy without per-caller rules keeps
		 * the version it had before they existed. */
		if (cfg->paths[i].role != NULL) {
			HASH_STR("role");
			HASH_STR(cfg->paths[i].role);
		}
	}
	if (cfg->mutations_required_role != NULL) {
		HASH_STR("mutations_role");
		HASH_STR(cfg->mutations_required_role);
	}
#undef HASH_STR
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(cfg->policy_version, sizeof(cfg->policy_version), h, sizeof(h));
}

int
config_load(struct config *cfg, char *const *envp, struct config_errors *errs)
{
	struct cfg_ctx x = { cfg, errs, NULL, envp };

	memset(errs, 0, sizeof(*errs));
	config_defaults(cfg);
	config_read_env(&x, envp);
	if (cfg->env == BROKER_ENV_SMOKE)
		config_smoke_fill(&x);
	else
		config_check_real(&x);
	config_check_relations(&x);
	if (errs->n > 0)
		return -1;
	config_policy_version(cfg);
	return 0;
}

void
config_load_or_exit(struct config *cfg)
{
	struct config_errors errs;

	if (config_load(cfg, environ, &errs) == 0)
		return;
	for (size_t i = 0; i < errs.n; i++)
		log_error("configuration: %s", errs.v[i]);
	log_error("configuration: %zu problem%s, not starting", errs.n, errs.n == 1 ? "" : "s");
	exit(EX_CONFIG_STATUS);
}

void
config_free(struct config *cfg)
{
	free(cfg->tenant_id);
	free(cfg->client_id);
	strlist_free(&cfg->resources);
	strlist_free(&cfg->scopes);
	for (size_t i = 0; i < cfg->n_paths; i++) {
		free(cfg->paths[i].method);
		free(cfg->paths[i].pattern);
		free(cfg->paths[i].role);
	}
	free(cfg->mutations_required_role);
	strlist_free(&cfg->path_roles);
	free(cfg->paths);
	free(cfg->secret_ref);
	free(cfg->certificate_ref);
	free(cfg->mi_endpoint);
	free(cfg->mi_client_id);
	free(cfg->federated_token_file);
	free(cfg->certificate_passphrase_ref);
	free(cfg->authority);
	free(cfg->ca_file);
	free(cfg->audit_file);
	free(cfg->libexecdir);
	free(cfg->allowed_uids);
	free(cfg->allowed_gids);
	free(cfg->socket_group);
	free(cfg->op_path);
	free(cfg->secret_helper);
	free(cfg->api_keys_file);
	strlist_free(&cfg->http_allowed_origins);
	strlist_free(&cfg->http_allowed_hosts);
	free(cfg->resource_server_url);
	free(cfg->oauth_issuer);
	free(cfg->oauth_jwks_uri);
	strlist_free(&cfg->oauth_audiences);
	strlist_free(&cfg->oauth_required_scopes);
	memset(cfg, 0, sizeof(*cfg));
}

void
config_errors_free(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->v[i]);
	free(errs->v);
	memset(errs, 0, sizeof(*errs));
}

const char *
config_env_name(enum broker_env env)
{
	static const char *names[] = { "smoke", "dev", "staging", "prod" };

	return names[env];
}

const char *
config_provider_name(enum secret_provider p)
{
	static const char *names[] = { "none", "1password", "file", "command", "env", "smoke" };

	return names[p];
}

const char *
config_credential_name(enum graph_credential c)
{
	static const char *names[] = { "secret", "certificate", "federated", "managed_identity" };

	return names[c];
}

bool
config_credential_is_assertion(enum graph_credential c)
{
	return c == GRAPH_CREDENTIAL_CERTIFICATE || c == GRAPH_CREDENTIAL_FEDERATED;
}

const char *
config_assertion_alg_name(enum assertion_alg a)
{
	return a == ASSERTION_ALG_PS256 ? "PS256" : "RS256";
}

bool
config_resource_allowed(const struct config *cfg, const char *resource)
{
	for (size_t i = 0; i < cfg->resources.n; i++)
		if (strcmp(cfg->resources.v[i], resource) == 0)
			return true;
	return false;
}

bool
config_scope_allowed(const struct config *cfg, const char *scope)
{
	for (size_t i = 0; i < cfg->scopes.n; i++)
		if (strcasecmp(cfg->scopes.v[i], scope) == 0)
			return true;
	return false;
}
