/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* One Streamable HTTP request, after libmicrohttpd parsed it: judged in the
 * order a refusal costs least (Host and Origin, method, caller, protocol
 * version, size, session), then the JSON-RPC message goes through mcp.c in a
 * session of its own (SESSION_HTTP), which carries the Mcp-Session-Id's
 * state in and out.  Every refusal is an HTTP status with a JSON-RPC error
 * body; nothing a client sends here is fatal. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_request.h"
#include "jsonx.h"
#include "log.h"
#include "metrics.h"
#include "timeutil.h"

#define RPC_PARSE_ERROR     -32700
#define RPC_INVALID_REQUEST -32600
/* Server errors (JSON-RPC reserves -32000 to -32099) for HTTP refusals. */
#define RPC_SERVER_ERROR  -32000

/* ---- answers ----------------------------------------------------------- */

void
http_answer_free(struct http_answer *a)
{
	free(a->body);
	a->body = NULL;
}

void
http_answer_text(struct http_answer *a, unsigned status, const char *text, size_t len)
{
	a->status = status;
	if ((a->body = malloc(len + 1)) == NULL)
		fatalx("out of memory");
	memcpy(a->body, text, len);
	a->body[len] = '\0';
	a->len = len;
}

void
http_answer_error(struct http_answer *a, unsigned status, int code, const char *msg)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	const char *text;
	size_t len;

	jx_add_str(o, "jsonrpc", "2.0");
	jx_add(o, "id", NULL);
	jx_add_int(e, "code", code);
	jx_add_str(e, "message", msg);
	jx_add(o, "error", e);
	text = jx_text(o, &len);
	http_answer_text(a, status, text, len);
	json_object_put(o);
}

/* A refusal counted by reason (GET /metrics). */
static void
refuse(struct http_answer *a, enum metrics_refusal why, unsigned status, int code, const char *msg)
{
	metrics_refusal(why);
	http_answer_error(a, status, code, msg);
}

/* ---- Host and Origin: DNS rebinding ------------------------------------ */

static bool
host_is_local(const char *host, size_t len)
{
	static const char *const local[] = {"localhost", "127.0.0.1", "[::1]", "::1"};

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (strlen(local[i]) == len && strncasecmp(host, local[i], len) == 0)
			return true;
	return false;
}

/* The length of hp's host part (hp is "host[:port]" or "[v6][:port]"). */
static size_t
host_part_len(const char *hp)
{
	const char *end;

	if (hp[0] == '[')
		return (end = strchr(hp, ']')) ? (size_t)(end - hp) + 1 : strlen(hp);
	return strcspn(hp, ":");
}

static bool
host_listed(const struct strlist *l, const char *hp, size_t hlen)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], hp) == 0 ||
		    (strlen(l->v[i]) == hlen && strncasecmp(l->v[i], hp, hlen) == 0))
			return true;
	return false;
}

/* Host names the listen address, a loopback name, or a configured name:
 * a page that re-binds its own name to 127.0.0.1 still sends its own. */
static bool
http_host_ok(const struct http_ctx *h, const char *host)
{
	size_t hlen;

	if (host == NULL || *host == '\0')
		return false;
	hlen = host_part_len(host);
	if (host_is_local(host, hlen) && h->loopback)
		return true;
	if (strlen(h->host) == hlen && strncasecmp(host, h->host, hlen) == 0)
		return true;
	if (host[0] == '[' && hlen >= 2 && strlen(h->host) == hlen - 2 &&
	    strncasecmp(host + 1, h->host, hlen - 2) == 0)
		return true;
	return host_listed(&h->b->cfg.http_allowed_hosts, host, hlen);
}

/* No Origin: not a browser.  A browser's page may reach us only from a
 * loopback origin or one the configuration names. */
static bool
http_origin_ok(const struct http_ctx *h, const char *origin)
{
	const char *hp;

	if (origin == NULL)
		return true;
	for (size_t i = 0; i < h->b->cfg.http_allowed_origins.n; i++)
		if (strcasecmp(h->b->cfg.http_allowed_origins.v[i], origin) == 0)
			return true;
	if (strncasecmp(origin, "http://", 7) == 0)
		hp = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		hp = origin + 8;
	else
		return false; /* "null" and the like */
	if (strchr(hp, '/') != NULL)
		return false;
	return host_is_local(hp, host_part_len(hp));
}

/* ---- callers ----------------------------------------------------------- */

/* What follows "Authorization: Bearer ", or NULL without one. */
static const char *
bearer_value(const struct http_req *rq)
{
	const char *a = rq->authorization;

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return a;
}

/* The key from "Authorization: Bearer <key>" or "X-API-Key: <key>". */
static const char *
presented_key(const struct http_req *rq)
{
	const char *a = bearer_value(rq);

	if (a != NULL)
		return *a != '\0' ? a : NULL;
	return rq->api_key != NULL && *rq->api_key != '\0' ? rq->api_key : NULL;
}

/* ---- OAuth bearer tokens (RFC 6750, RFC 9728) --------------------------- */

/* The token of "Authorization: Bearer <token>", if it looks like a JWT
 * (an API key never has a dot). */
static const char *
presented_jwt(const struct http_req *rq)
{
	const char *a = bearer_value(rq);

	return a != NULL && strchr(a, '.') != NULL ? a : NULL;
}

/* 401 (or 403) with the challenge RFC 6750 and RFC 9728 ask for: where the
 * protected resource metadata is, and what was wrong with the token (an
 * error_description of ours, never token bytes). */
static void
http_challenge(struct http_ctx *h, struct http_answer *a, unsigned status, const char *error,
    const char *why)
{
	const struct config *cfg = &h->b->cfg;
	char msg[300];
	int n;

	snprintf(msg, sizeof(msg), "%s: %s", status == 403 ? "Forbidden" : "Unauthorized",
	    why != NULL ? why : "send Authorization: Bearer <access token>");
	http_answer_error(a, status, RPC_SERVER_ERROR, msg);
	n = snprintf(a->www_authenticate, sizeof(a->www_authenticate),
	    "Bearer resource_metadata=\"%s\"", h->prm_url);
	if (error != NULL && n > 0 && (size_t)n < sizeof(a->www_authenticate))
		n += snprintf(a->www_authenticate + n, sizeof(a->www_authenticate) - (size_t)n,
		    ", error=\"%s\", error_description=\"%s\"", error, why);
	if (status == 403 && n > 0 && (size_t)n < sizeof(a->www_authenticate)) {
		n += snprintf(a->www_authenticate + n, sizeof(a->www_authenticate) - (size_t)n,
		    ", scope=\"");
		for (size_t i = 0; i < cfg->oauth_required_scopes.n && n > 0 &&
		     (size_t)n < sizeof(a->www_authenticate); i++)
			n += snprintf(a->www_authenticate + n, sizeof(a->www_authenticate) - (size_t)n,
			    "%s%s", i ? " " : "", cfg->oauth_required_scopes.v[i]);
		if (n > 0 && (size_t)n < sizeof(a->www_authenticate))
			snprintf(a->www_authenticate + n, sizeof(a->www_authenticate) - (size_t)n, "\"");
	}
}

void
http_oauth_init(struct http_ctx *h)
{
	const char *url = h->b->cfg.resource_server_url;
	const char *host = url != NULL ? strstr(url, "://") : NULL;
	const char *path;
	size_t origin;

	if (!AUTH_MODE_OAUTH(h->b->cfg.auth_mode) || host == NULL)
		return;
	path = host + 3 + strcspn(host + 3, "/");
	origin = (size_t)(path - url);
	if (strcmp(path, "/") == 0)
		path = "";
	snprintf(h->prm_path, sizeof(h->prm_path), "/.well-known/oauth-protected-resource%s", path);
	snprintf(h->prm_url, sizeof(h->prm_url), "%.*s%s", (int)origin, url, h->prm_path);
}

void
http_jwks_update(struct http_ctx *h, struct jwks *k)
{
	if (h->jwks == NULL && (h->jwks = calloc(1, sizeof(*h->jwks))) == NULL)
		fatalx("out of memory");
	jwks_free(h->jwks);
	*h->jwks = *k;
	log_info("http: OAuth key set from tokend: %zu signing key(s)", k->n);
}

/* An unknown kid: the issuer may have rotated its keys.  tokend rate
 * limits the fetch; brokerd asks at most once a second. */
static void
http_jwks_ask(struct http_ctx *h)
{
	int64_t now = mono_ms();

	if (h->jwks_asked_ms != 0 && now - h->jwks_asked_ms < 1000)
		return;
	h->jwks_asked_ms = now;
	msg_jwks_req_send(&h->b->tokend.chan);
}

static int
http_oauth(struct http_ctx *h, const char *token, struct http_answer *a, struct http_caller *who)
{
	struct bearer_rules rules;
	const char *why = NULL;
	enum bearer_result rc;

	if (h->jwks == NULL) {
		http_answer_error(a, 503, RPC_SERVER_ERROR,
		    "Service Unavailable: the authorization server's keys are not loaded yet");
		a->retry_after = 5;
		return -1;
	}
	bearer_rules_init(&rules, &h->b->cfg);
	rc = bearer_verify(h->jwks, &rules, token, strlen(token), wall_s(), &who->token, &why);
	if (rc == BEARER_OK) {
		snprintf(who->name, sizeof(who->name), "%s", who->token.subject);
		snprintf(who->roles, sizeof(who->roles), "%s", who->token.roles);
		who->method = "oauth";
		who->credential = token;
		return 0;
	}
	if (rc == BEARER_UNKNOWN_KEY)
		http_jwks_ask(h);
	log_info("http: bearer token %s refused: %s (%s)", who->token.hash, why,
	    bearer_result_name(rc));
	if (rc == BEARER_INSUFFICIENT_SCOPE)
		http_challenge(h, a, 403, "insufficient_scope", why);
	else
		http_challenge(h, a, 401, "invalid_token", why);
	return -1;
}

/* The caller, per MCP_AUTH_BROKER_AUTH_MODE; -1 with the refusal in a. */
static int
http_authenticate_caller(struct http_ctx *h, const struct http_req *rq, struct http_answer *a,
    struct http_caller *who)
{
	enum auth_mode mode = h->b->cfg.auth_mode;
	const struct api_key *key;
	const char *jwt = presented_jwt(rq);

	memset(who, 0, sizeof(*who));
	who->method = "none";
	if (mode == AUTH_MODE_NONE)
		return 0;
	if (AUTH_MODE_KEYS(mode) && (key = api_keys_match(&h->keys, presented_key(rq))) != NULL) {
		snprintf(who->name, sizeof(who->name), "%s", key->name);
		snprintf(who->roles, sizeof(who->roles), "%s", key->roles);
		who->method = "api_key";
		who->credential = presented_key(rq);
		return 0;
	}
	if (AUTH_MODE_OAUTH(mode) && jwt != NULL)
		return http_oauth(h, jwt, a, who);
	if (AUTH_MODE_OAUTH(mode)) {
		http_challenge(h, a, 401, NULL, NULL);
	} else {
		http_answer_error(a, 401, RPC_SERVER_ERROR,
		    "Unauthorized: send Authorization: Bearer <API key>");
		snprintf(a->www_authenticate, sizeof(a->www_authenticate),
		    "Bearer realm=\"mcp-auth-broker\"");
	}
	return -1;
}

/* GET /.well-known/oauth-protected-resource[/path] (RFC 9728): where a
 * client gets its token, and for what. */
static void
http_prm(struct http_ctx *h, const struct http_req *rq, struct http_answer *a)
{
	const struct config *cfg = &h->b->cfg;
	struct json_object *o, *arr;
	const char *text;
	size_t len;

	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		http_answer_error(a, 405, RPC_SERVER_ERROR, "Method Not Allowed: GET the metadata");
		return;
	}
	o = json_object_new_object();
	jx_add_str(o, "resource", cfg->resource_server_url);
	arr = json_object_new_array();
	json_object_array_add(arr, json_object_new_string(cfg->oauth_issuer));
	jx_add(o, "authorization_servers", arr);
	arr = json_object_new_array();
	json_object_array_add(arr, json_object_new_string("header"));
	jx_add(o, "bearer_methods_supported", arr);
	if (cfg->oauth_required_scopes.n > 0) {
		arr = json_object_new_array();
		for (size_t i = 0; i < cfg->oauth_required_scopes.n; i++)
			json_object_array_add(arr,
			    json_object_new_string(cfg->oauth_required_scopes.v[i]));
		jx_add(o, "scopes_supported", arr);
	}
	jx_add_str(o, "resource_name", "mcp-auth-broker (Microsoft Graph)");
	text = jx_text(o, &len);
	http_answer_text(a, 200, text, len);
	json_object_put(o);
}

/* ---- Mcp-Session-Id ---------------------------------------------------- */

static struct http_mcp_session *
mcp_session_find(struct http_ctx *h, const char *id, const char *caller)
{
	for (struct http_mcp_session *m = h->sessions; m != NULL; m = m->next)
		if (strlen(id) == sizeof(m->id) - 1 &&
		    sodium_memcmp(m->id, id, sizeof(m->id) - 1) == 0)
			return strcmp(m->caller, caller) == 0 ? m : NULL;
	return NULL;
}

static void
mcp_session_remove(struct http_ctx *h, struct http_mcp_session *gone)
{
	for (struct http_mcp_session **pp = &h->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			h->n_sessions--;
			free(gone);
			return;
		}
	}
}

static struct http_mcp_session *
mcp_session_new(struct http_ctx *h, const char *caller, const char *protocol)
{
	struct http_mcp_session *m = calloc(1, sizeof(*m));
	unsigned char r[16];

	if (m == NULL)
		fatalx("out of memory");
	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(m->id, sizeof(m->id), r, sizeof(r));
	snprintf(m->caller, sizeof(m->caller), "%s", caller);
	snprintf(m->protocol, sizeof(m->protocol), "%s", protocol);
	m->last_active_ms = mono_ms();
	m->next = h->sessions;
	h->sessions = m;
	h->n_sessions++;
	return m;
}

void
http_sessions_expire(struct http_ctx *h, int64_t now)
{
	int64_t idle_ms = h->b->cfg.session_idle_timeout_s * 1000;
	struct http_mcp_session *m, *next;

	for (m = h->sessions; m != NULL; m = next) {
		next = m->next;
		if (now - m->last_active_ms >= idle_ms) {
			log_info("http: session %.8s… idle for %ld s, ended", m->id,
			         h->b->cfg.session_idle_timeout_s);
			mcp_session_remove(h, m);
		}
	}
}

int64_t
http_sessions_deadline(const struct http_ctx *h)
{
	int64_t next = -1, t;

	for (const struct http_mcp_session *m = h->sessions; m != NULL; m = m->next) {
		t = m->last_active_ms + h->b->cfg.session_idle_timeout_s * 1000;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

void
http_ctx_free(struct http_ctx *h)
{
	while (h->sessions != NULL)
		mcp_session_remove(h, h->sessions);
	http_ready_free(h);
	api_keys_free(&h->keys);
	if (h->jwks != NULL)
		jwks_free(h->jwks);
	free(h->jwks);
	free(h);
}

/* ---- the request ------------------------------------------------------- */

/* What the message is, as far as the transport cares. */
struct rpc_peek {
	struct json_object *msg;
	const char *method; /* NULL: a response, or not a request at all */
	bool has_id;
	bool modern; /* names a version in params._meta, or server/discover */
};

static int
rpc_peek(const struct http_req *rq, struct rpc_peek *p, struct http_answer *a)
{
	const char *why = NULL;
	struct json_object *meta;

	memset(p, 0, sizeof(*p));
	p->msg = jx_parse(rq->body, rq->body_len, &why);
	if (p->msg == NULL) {
		refuse(a, REFUSAL_PARSE, 400, RPC_PARSE_ERROR, "Parse error");
		return -1;
	}
	if (!json_object_is_type(p->msg, json_type_object)) {
		refuse(a, REFUSAL_BATCH, 400, RPC_INVALID_REQUEST,
		       "one JSON-RPC message per POST: batches are not supported");
		return -1;
	}
	p->method = jx_get_str(p->msg, "method");
	p->has_id = json_object_object_get_ex(p->msg, "id", NULL);
	meta = jx_get_obj(jx_get_obj(p->msg, "params"), "_meta");
	p->modern = (p->method != NULL && strcmp(p->method, "server/discover") == 0) ||
	            (meta != NULL && json_object_object_get_ex(
	                                 meta, "io.modelcontextprotocol/protocolVersion", NULL));
	return 0;
}

/* GET /health, for orchestrators: brokerd answers, so its children run (a
 * child that dies stops brokerd).  No Host, Origin or caller check: a probe
 * knows the pod's address, not a name, and the answer tells nothing. */
static void
http_health(struct http_ctx *h, const struct http_req *rq, struct http_answer *a)
{
	struct json_object *o;
	const char *text;
	size_t len;

	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
		refuse(a, REFUSAL_METHOD, 405, RPC_SERVER_ERROR, "Method Not Allowed: GET /health");
		return;
	}
	o = json_object_new_object();
	jx_add_str(o, "status", h->b->stopping ? "stopping" : "ok");
	jx_add_str(o, "secretd", "running");
	jx_add_str(o, "tokend", "running");
	jx_add_int(o, "sessions", (int64_t)h->n_sessions);
	text = jx_text(o, &len);
	http_answer_text(a, h->b->stopping ? 503 : 200, text, len);
	json_object_put(o);
}

static bool
get_or_head(const struct http_req *rq)
{
	return strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
}

/* GET /metrics (MCP_AUTH_BROKER_HTTP_METRICS): off, 404 as any unknown
 * path; loopback, only to a peer on a loopback address; on, to any peer the
 * transport authenticates (an API key under AUTH_MODE=api_key; under none,
 * brokerd serves loopback only anyway).  No Host check (a scraper knows
 * the address, not a name), but a browser's page may not read it. */
static void
http_metrics(struct http_ctx *h, const struct http_req *rq, struct http_answer *a)
{
	const struct config *cfg = &h->b->cfg;
	struct http_caller who;
	char *text;
	size_t len;

	if (cfg->http_metrics == HTTP_METRICS_OFF)
		refuse(a, REFUSAL_NOT_FOUND, 404, RPC_SERVER_ERROR,
		       "Not Found: MCP is served at /mcp");
	else if (!get_or_head(rq))
		refuse(a, REFUSAL_METHOD, 405, RPC_SERVER_ERROR,
		       "Method Not Allowed: GET /metrics");
	else if (!http_origin_ok(h, rq->origin))
		refuse(a, REFUSAL_ORIGIN, 403, RPC_SERVER_ERROR,
		       "Forbidden: Origin not allowed (MCP_AUTH_BROKER_HTTP_ALLOWED_ORIGINS)");
	else if (cfg->http_metrics == HTTP_METRICS_LOOPBACK && !rq->peer_loopback)
		refuse(a, REFUSAL_METRICS_PEER, 403, RPC_SERVER_ERROR,
		       "Forbidden: /metrics is served to loopback peers only "
		       "(MCP_AUTH_BROKER_HTTP_METRICS=loopback)");
	else if (cfg->http_metrics == HTTP_METRICS_ON &&
	         http_authenticate_caller(h, rq, a, &who) == -1)
		metrics_refusal(REFUSAL_AUTH);
	else {
		text = metrics_render(h->b, &len);
		a->status = 200;
		a->body = text;
		a->len = len;
		a->content_type = "text/plain; version=0.0.4; charset=utf-8";
	}
}

/* GET /ready: no caller, Host or Origin check, as /health: an orchestrator
 * probes an address, and the answer holds no secret (http_ready.c).  A
 * probe storm makes one check: its result answers for
 * MCP_AUTH_BROKER_HTTP_READY_CACHE_SECONDS. */
static enum http_outcome
http_ready(struct http_ctx *h, const struct http_req *rq, struct http_answer *a)
{
	if (!get_or_head(rq)) {
		refuse(a, REFUSAL_METHOD, 405, RPC_SERVER_ERROR, "Method Not Allowed: GET /ready");
		return HTTP_ANSWERED;
	}
	if (h->b->stopping) {
		http_answer_error(a, 503, RPC_SERVER_ERROR, "Service Unavailable: shutting down");
		return HTTP_ANSWERED;
	}
	if (http_ready_fresh(h, mono_ms()) && http_ready_take(h, a))
		return HTTP_ANSWERED;
	http_ready_start(h);
	return http_ready_take(h, a) ? HTTP_ANSWERED : HTTP_WAIT_READY;
}

/* Refusals that need no body: where, how, by whom, which version. */
static int
http_judge_headers(struct http_ctx *h, const struct http_req *rq, struct http_answer *a,
                   struct http_caller *caller)
{
	if (strcmp(rq->url, "/health") == 0)
		http_health(h, rq, a);
	else if (h->prm_path[0] != '\0' &&
	         (strcmp(rq->url, h->prm_path) == 0 ||
	          strcmp(rq->url, "/.well-known/oauth-protected-resource") == 0))
		http_prm(h, rq, a);
	else if (strcmp(rq->url, "/metrics") == 0)
		http_metrics(h, rq, a);
	else if (strcmp(rq->url, "/mcp") != 0)
		refuse(a, REFUSAL_NOT_FOUND, 404, RPC_SERVER_ERROR,
		       "Not Found: MCP is served at /mcp");
	else if (!http_host_ok(h, rq->host))
		refuse(a, REFUSAL_HOST, 403, RPC_SERVER_ERROR,
		       "Forbidden: Host is not this server (MCP_AUTH_BROKER_HTTP_ALLOWED_HOSTS)");
	else if (!http_origin_ok(h, rq->origin))
		refuse(a, REFUSAL_ORIGIN, 403, RPC_SERVER_ERROR,
		       "Forbidden: Origin not allowed (MCP_AUTH_BROKER_HTTP_ALLOWED_ORIGINS)");
	else if (strcmp(rq->method, "POST") != 0 && strcmp(rq->method, "DELETE") != 0) {
		refuse(a, REFUSAL_METHOD, 405, RPC_SERVER_ERROR,
		       "Method Not Allowed: POST a JSON-RPC message, DELETE a session");
		a->allow = true;
	} else if (http_authenticate_caller(h, rq, a, caller) == -1) {
		metrics_refusal(REFUSAL_AUTH);
	} else if (rq->protocol_version != NULL && !mcp_version_known(rq->protocol_version))
		refuse(a, REFUSAL_PROTOCOL_VERSION, 400, RPC_INVALID_REQUEST,
		       "Bad Request: unsupported MCP-Protocol-Version");
	else if (h->b->stopping) {
		refuse(a, REFUSAL_STOPPING, 503, RPC_SERVER_ERROR,
		       "Service Unavailable: shutting down");
		a->close = true;
	} else
		return 0;
	return -1;
}

static void
http_delete(struct http_ctx *h, const struct http_req *rq, const char *caller,
            struct http_answer *a)
{
	struct http_mcp_session *m;

	if (rq->session_id == NULL) {
		refuse(a, REFUSAL_SESSION_REQUIRED, 400, RPC_INVALID_REQUEST,
		       "Bad Request: no Mcp-Session-Id");
		return;
	}
	if ((m = mcp_session_find(h, rq->session_id, caller)) == NULL) {
		refuse(a, REFUSAL_SESSION_UNKNOWN, 404, RPC_SERVER_ERROR,
		       "Not Found: no such session");
		return;
	}
	log_info("http: session %.8s… ended by its client", m->id);
	mcp_session_remove(h, m);
	a->status = 204;
}

/* The last line of the session's output: the answer (a progress
 * notification before it has no stream to go to in a JSON answer). */
static void
answer_from_session(struct session *s, struct http_answer *a)
{
	const unsigned char *p = buf_head(&s->out), *start = p;
	size_t n = buf_avail(&s->out);

	while (n > 0 && p[n - 1] == '\n')
		n--;
	for (size_t i = n; i > 0; i--)
		if (p[i - 1] == '\n') {
			start = p + i;
			break;
		}
	http_answer_text(a, 200, (const char *)start, n - (size_t)(start - p));
	buf_consume(&s->out, buf_avail(&s->out));
}

static struct session *
request_session(struct http_ctx *h, const struct http_caller *who, const struct http_mcp_session *m)
{
	struct session *s = session_new(h->b, SESSION_HTTP, -1, -1);

	snprintf(s->caller, sizeof(s->caller), "%s", who->name);
	s->auth_method = who->method;
	snprintf(s->caller_app, sizeof(s->caller_app), "%s", who->token.app);
	snprintf(s->token_jti, sizeof(s->token_jti), "%s", who->token.jti);
	if (strcmp(who->method, "oauth") == 0)
		snprintf(s->token_hash, sizeof(s->token_hash), "%s", who->token.hash);
	if (who->credential != NULL && (s->credential = strdup(who->credential)) == NULL)
		fatalx("out of memory");
	if (who->credential != NULL) {
		s->verified = true;
		snprintf(s->roles.roles, sizeof(s->roles.roles), "%s", who->roles);
	}
	if (m != NULL) {
		snprintf(s->http_sid, sizeof(s->http_sid), "%s", m->id);
		s->initialized = true;
		snprintf(s->protocol, sizeof(s->protocol), "%s", m->protocol);
	}
	return s;
}

/* Which Mcp-Session-Id serves the message: -1 when refused. */
static int
http_session_for(struct http_ctx *h, const struct http_req *rq, const struct rpc_peek *p,
                 const char *caller, struct http_mcp_session **m, struct http_answer *a)
{
	*m = NULL;
	if (rq->session_id != NULL) {
		if ((*m = mcp_session_find(h, rq->session_id, caller)) == NULL) {
			refuse(a, REFUSAL_SESSION_UNKNOWN, 404, RPC_SERVER_ERROR,
			       "Not Found: no such session (initialize again)");
			return -1;
		}
		(*m)->last_active_ms = mono_ms();
		return 0;
	}
	if (p->modern || (p->method != NULL && strcmp(p->method, "initialize") == 0) || !p->has_id)
		return 0;
	refuse(a, REFUSAL_SESSION_REQUIRED, 400, RPC_INVALID_REQUEST,
	       "Bad Request: Mcp-Session-Id required (send initialize first, or name a protocol "
	       "version in params._meta)");
	return -1;
}

/* initialize answered: the session it made outlives this request. */
static void
http_session_made(struct http_ctx *h, struct session *s, const char *caller, struct http_answer *a)
{
	struct http_mcp_session *m;

	if (!s->initialized)
		return;
	if (h->n_sessions >= HTTP_MAX_MCP_SESSIONS) {
		http_answer_free(a);
		refuse(a, REFUSAL_SESSIONS_FULL, 503, RPC_SERVER_ERROR,
		       "Service Unavailable: too many sessions");
		return;
	}
	m = mcp_session_new(h, caller, s->protocol);
	snprintf(a->session_id, sizeof(a->session_id), "%s", m->id);
	log_info("http: session %.8s… initialized, protocol %s%s%s", m->id, m->protocol,
	         *caller ? ", caller " : "", caller);
}

static enum http_outcome
http_post(struct http_ctx *h, const struct http_req *rq, const struct http_caller *who,
          struct http_answer *a, struct session **pending)
{
	const char *caller = who->name;
	struct http_mcp_session *m;
	struct rpc_peek p;
	struct session *s;

	if (rq->content_type == NULL ||
	    strncasecmp(rq->content_type, "application/json", 16) != 0) {
		refuse(a, REFUSAL_MEDIA_TYPE, 415, RPC_INVALID_REQUEST,
		       "Unsupported Media Type: POST application/json");
		return HTTP_ANSWERED;
	}
	if (rpc_peek(rq, &p, a) == -1 || http_session_for(h, rq, &p, caller, &m, a) == -1) {
		json_object_put(p.msg);
		return HTTP_ANSWERED;
	}
	json_object_put(p.msg);
	s = request_session(h, who, m);
	mcp_handle_line(h->b, s, rq->body, rq->body_len);
	if (s->inflight > 0) { /* what is queued yet is progress, not the answer */
		*pending = s;
		return HTTP_PENDING;
	}
	if (buf_avail(&s->out) == 0) /* a notification, or a response */
		a->status = 202;
	else
		answer_from_session(s, a);
	if (m == NULL && a->status == 200)
		http_session_made(h, s, caller, a);
	session_close(h->b, s);
	return HTTP_ANSWERED;
}

enum http_outcome
http_serve(struct http_ctx *h, const struct http_req *rq, struct http_answer *a,
           struct session **pending)
{
	struct http_caller who;

	memset(a, 0, sizeof(*a));
	*pending = NULL;
	if (strcmp(rq->url, "/ready") == 0)
		return http_ready(h, rq, a);
	memset(&who, 0, sizeof(who));
	if (http_judge_headers(h, rq, a, &who) == -1)
		return HTTP_ANSWERED;
	if (strcmp(rq->method, "DELETE") == 0) {
		http_delete(h, rq, who.name, a);
		return HTTP_ANSWERED;
	}
	if (rq->body_too_large) {
		refuse(a, REFUSAL_BODY_TOO_LARGE, 413, RPC_INVALID_REQUEST,
		       "Payload Too Large: over MCP_AUTH_BROKER_MAX_MESSAGE_BYTES");
		return HTTP_ANSWERED;
	}
	return http_post(h, rq, &who, a, pending);
}

bool
http_pending_take(struct http_ctx *h, struct session *s, struct http_answer *a)
{
	if (s->inflight > 0)
		return false;
	memset(a, 0, sizeof(*a));
	if (buf_avail(&s->out) == 0)
		http_answer_error(a, 503, RPC_SERVER_ERROR,
		                  "Service Unavailable: the call was cancelled, or brokerd is stopping");
	else
		answer_from_session(s, a);
	s->http_slot = NULL;
	session_close(h->b, s);
	return true;
}

/* ---- text/event-stream ------------------------------------------------- */

static const char *
skip_ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Whether a media range's parameters (from its first ';' to end) give
 * q=0, q=0.0 ...: "not acceptable" (RFC 9110, 12.4.2). */
static bool
qvalue_zero(const char *p, const char *end)
{
	while (p != NULL && p < end) {
		p = skip_ows(p + 1, end); /* past the ';' */
		if (end - p >= 2 && (*p == 'q' || *p == 'Q') && p[1] == '=') {
			p += 2;
			if (p == end || *p != '0')
				return false;
			if (++p < end && *p == '.')
				while (++p < end && *p == '0')
					;
			p = skip_ows(p, end);
			return p == end || *p == ';';
		}
		p = memchr(p, ';', (size_t)(end - p));
	}
	return false;
}

/* One media range of an Accept value, p .. p + len. */
static bool
media_range_is_event_stream(const char *p, size_t len)
{
	static const char type[] = "text/event-stream";
	const char *end = p + len, *params;
	size_t tlen;

	p = skip_ows(p, end);
	if ((params = memchr(p, ';', (size_t)(end - p))) == NULL)
		params = end;
	tlen = (size_t)(params - p);
	while (tlen > 0 && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
		tlen--;
	return tlen == sizeof(type) - 1 && strncasecmp(p, type, tlen) == 0 &&
	       !qvalue_zero(params, end);
}

/* The type itself must be named: a client that accepts any type (curl's
 * default) did not say it reads event streams, and gets JSON as before. */
bool
http_accepts_event_stream(const char *accept)
{
	const char *p = accept;
	size_t len;

	if (p == NULL)
		return false;
	for (;;) {
		len = strcspn(p, ",");
		if (media_range_is_event_stream(p, len))
			return true;
		if (p[len] == '\0')
			return false;
		p += len + 1;
	}
}

static size_t
out_messages(const struct session *s)
{
	const unsigned char *p = buf_head(&s->out);
	size_t n = 0, avail = buf_avail(&s->out);

	for (size_t i = 0; i < avail; i++)
		n += p[i] == '\n';
	return n;
}

/* One message before the answer: the call still runs and has output, or it
 * has ended and its answer is not the only message. */
bool
http_stream_wanted(const struct session *s)
{
	size_t n = out_messages(s);

	return s->inflight > 0 ? n > 0 : n > 1;
}

/* A message is one line (session_send), which never holds a raw newline:
 * one SSE data line each, no event id (a POST's stream is not resumed). */
static void
events_from_session(struct buf *events, struct session *s)
{
	const unsigned char *p, *nl;
	size_t len;

	while ((p = buf_head(&s->out)) != NULL &&
	       (nl = memchr(p, '\n', buf_avail(&s->out))) != NULL) {
		len = (size_t)(nl - p);
		if (len > 0 &&
		    (buf_append(events, "data: ", 6) == -1 || buf_append(events, p, len) == -1 ||
		     buf_append(events, "\n\n", 2) == -1))
			fatalx("out of memory");
		buf_consume(&s->out, len + 1);
	}
}

bool
http_stream_take(struct http_ctx *h, struct session *s, struct buf *events)
{
	events_from_session(events, s);
	if (s->inflight > 0)
		return false;
	s->http_slot = NULL;
	session_close(h->b, s);
	return true;
}
