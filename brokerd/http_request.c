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
#define API_KEYS_FILE_MAX (1024 * 1024)

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

static bool
key_name_ok(const char *s, size_t len)
{
	static const char ok[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@:-";

	if (len == 0 || len > HTTP_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
			return false;
	return true;
}

/* One line: "name sha256hex".  -1 when malformed. */
static int
key_line(struct http_ctx *h, char *line)
{
	char *name, *hex, *rest, *save = NULL;
	struct http_key k;
	size_t bin_len;

	if ((name = strtok_r(line, " \t", &save)) == NULL || name[0] == '#')
		return 0;
	hex = strtok_r(NULL, " \t", &save);
	rest = strtok_r(NULL, " \t", &save);
	if (hex == NULL || rest != NULL || !key_name_ok(name, strlen(name)) ||
	    strlen(hex) != 2 * sizeof(k.hash) ||
	    sodium_hex2bin(k.hash, sizeof(k.hash), hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(k.hash))
		return -1;
	snprintf(k.name, sizeof(k.name), "%s", name);
	if ((h->keys = reallocarray(h->keys, h->n_keys + 1, sizeof(k))) == NULL)
		fatalx("out of memory");
	h->keys[h->n_keys++] = k;
	return 0;
}

static int
keys_parse(struct http_ctx *h, char *text, char *why, size_t len)
{
	unsigned lineno = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		l[strcspn(l, "\r")] = '\0';
		if (key_line(h, l) == -1) {
			snprintf(why, len,
			         "line %u is not 'name sha256hex' (name: letters, digits, "
			         "_.@:-, at most 64; the hash: 64 hex digits)",
			         lineno);
			return -1;
		}
	}
	if (h->n_keys == 0) {
		snprintf(why, len, "holds no key");
		return -1;
	}
	return 0;
}

/* The same rules as the secret file (secretd/file.c): it holds what opens
 * the broker to a caller. */
static int
keys_file_check(int fd, char *why, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(why, len, "fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "not a regular file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, len, "owned by uid %lu, not by brokerd's uid %lu",
		         (unsigned long)st.st_uid, (unsigned long)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(why, len, "mode %04o lets other users read it: chmod 0600",
		         (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_size > API_KEYS_FILE_MAX) {
		snprintf(why, len, "larger than 1 MiB");
		return -1;
	}
	return 0;
}

int
http_keys_load(struct http_ctx *h, const char *path, char *why, size_t len)
{
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(why, len, "%s", errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (keys_file_check(fd, why, len) == -1) {
		close(fd);
		return -1;
	}
	if ((text = malloc(API_KEYS_FILE_MAX + 1)) == NULL)
		fatalx("out of memory");
	while ((n = read(fd, text + got, API_KEYS_FILE_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	text[got] = '\0';
	if (n == -1) {
		snprintf(why, len, "read: %s", strerror(errno));
		rc = -1;
	} else {
		rc = keys_parse(h, text, why, len);
	}
	free(text);
	return rc;
}

/* The key from "Authorization: Bearer <key>" or "X-API-Key: <key>". */
static const char *
presented_key(const struct http_req *rq)
{
	const char *a = rq->authorization;

	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		while (*a == ' ')
			a++;
		return *a != '\0' ? a : NULL;
	}
	return rq->api_key != NULL && *rq->api_key != '\0' ? rq->api_key : NULL;
}

/* Every entry is compared, in constant time, whether or not one matched
 * already: how long it takes says nothing about which key was close. */
static const struct http_key *
http_authenticate(const struct http_ctx *h, const struct http_req *rq)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	const struct http_key *found = NULL;
	const char *key = presented_key(rq);

	if (key == NULL)
		return NULL;
	crypto_hash_sha256(hash, (const unsigned char *)key, strlen(key));
	for (size_t i = 0; i < h->n_keys; i++)
		if (sodium_memcmp(hash, h->keys[i].hash, sizeof(hash)) == 0)
			found = &h->keys[i];
	sodium_memzero(hash, sizeof(hash));
	return found;
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
	if (h->keys != NULL)
		sodium_memzero(h->keys, h->n_keys * sizeof(*h->keys));
	free(h->keys);
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
	else if (cfg->http_metrics == HTTP_METRICS_ON && cfg->auth_mode == AUTH_MODE_API_KEY &&
	         http_authenticate(h, rq) == NULL) {
		refuse(a, REFUSAL_AUTH, 401, RPC_SERVER_ERROR,
		       "Unauthorized: send Authorization: Bearer <API key>");
		a->www_authenticate = true;
	} else {
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
                   const struct http_key **caller)
{
	const struct config *cfg = &h->b->cfg;

	if (strcmp(rq->url, "/health") == 0)
		http_health(h, rq, a);
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
	} else if (cfg->auth_mode == AUTH_MODE_API_KEY &&
	           (*caller = http_authenticate(h, rq)) == NULL) {
		refuse(a, REFUSAL_AUTH, 401, RPC_SERVER_ERROR,
		       "Unauthorized: send Authorization: Bearer <API key>");
		a->www_authenticate = true;
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
request_session(struct http_ctx *h, const char *caller, const struct http_mcp_session *m)
{
	struct session *s = session_new(h->b, SESSION_HTTP, -1, -1);

	snprintf(s->caller, sizeof(s->caller), "%s", caller);
	s->auth_method = h->b->cfg.auth_mode == AUTH_MODE_API_KEY ? "api_key" : "none";
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
http_post(struct http_ctx *h, const struct http_req *rq, const char *caller, struct http_answer *a,
          struct session **pending)
{
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
	s = request_session(h, caller, m);
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
	const struct http_key *key = NULL;
	const char *caller;

	memset(a, 0, sizeof(*a));
	*pending = NULL;
	if (strcmp(rq->url, "/ready") == 0)
		return http_ready(h, rq, a);
	if (http_judge_headers(h, rq, a, &key) == -1)
		return HTTP_ANSWERED;
	caller = key != NULL ? key->name : "";
	if (strcmp(rq->method, "DELETE") == 0) {
		http_delete(h, rq, caller, a);
		return HTTP_ANSWERED;
	}
	if (rq->body_too_large) {
		refuse(a, REFUSAL_BODY_TOO_LARGE, 413, RPC_INVALID_REQUEST,
		       "Payload Too Large: over MCP_AUTH_BROKER_MAX_MESSAGE_BYTES");
		return HTTP_ANSWERED;
	}
	return http_post(h, rq, caller, a, pending);
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
