/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd --http HOST:PORT: MCP Streamable HTTP at /mcp.  libmicrohttpd
 * parses HTTP; it runs in brokerd's own loop (external select mode, no
 * thread: the sandbox allows no clone), on a socket bound here before the
 * sandbox.  What a request means is decided in http_request.c.  A tool
 * call's answer comes later from tokend: its request is suspended until the
 * request's session has it (http_resume_ready).  A call whose session
 * outputs a message before its answer (progress), for a client that
 * accepts text/event-stream, is answered with an event stream instead
 * (http_stream_read): it carries the session's messages as they come.
 * While a call waits, its connection is watched: a client that closes it
 * cancels the call, as a closed unix session does. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "http_request.h"
#include "log.h"
#include "timeutil.h"

#define EX_CONFIG_EXIT 78
/* Headers and the read buffer of one connection: a request line and
 * headers past this are refused (431) by libmicrohttpd. */
#define HTTP_CONN_MEMORY (64u * 1024u)
#define HTTP_BACKLOG     64
/* The most an event stream hands libmicrohttpd at once. */
#define HTTP_STREAM_BLOCK (16u * 1024u)

/* One request being served. */
struct http_conn {
	struct http_ctx *h;
	struct MHD_Connection *mhd;
	struct buf body;
	bool too_large;
	struct session *pending; /* its session while suspended; NULL if closed */
	bool waits_ready;        /* GET /ready, suspended until the check ends */
	bool suspended;
	bool ready;
	struct http_answer answer;
	int fd;         /* its socket, watched while a call waits; -1 if not */
	bool peer_gone; /* its client closed the connection while it waited */
	/* text/event-stream: Accept lists it; the answer is a stream (begun
	 * at the first message before the answer); the answer is among the
	 * events, or the call ended without one, and the stream ends after
	 * them; the session was closed under it (no answer: cut short). */
	bool accepts_sse;
	bool streaming;
	bool stream_end;
	bool stream_cut;
	struct buf events; /* SSE bytes not yet handed to libmicrohttpd */
	struct http_conn *next_suspended;
};

/* ---- start-up ---------------------------------------------------------- */

/* host and port of "HOST:PORT" or "[v6]:PORT" into h; -1 when malformed. */
static int
hostport_split(struct http_ctx *h, const char *hp)
{
	const char *colon;
	size_t hlen;

	if (hp[0] == '[') {
		const char *end = strchr(hp, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		hlen = (size_t)(end - hp - 1);
		memcpy(h->host, hp + 1, hlen < sizeof(h->host) ? hlen : 0);
		colon = end + 1;
	} else {
		if ((colon = strrchr(hp, ':')) == NULL || strchr(hp, ':') != colon)
			return -1;
		hlen = (size_t)(colon - hp);
		memcpy(h->host, hp, hlen < sizeof(h->host) ? hlen : 0);
	}
	if (hlen == 0 || hlen >= sizeof(h->host) || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(h->port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	h->host[hlen] = '\0';
	snprintf(h->port, sizeof(h->port), "%s", colon + 1);
	return 0;
}

static void
parse_hostport(struct http_ctx *h, const char *hp)
{
	if (hostport_split(h, hp) == 0)
		return;
	fprintf(stderr, "brokerd: --http '%s': give HOST:PORT (an IPv6 address in brackets)\n", hp);
	exit(64);
}

static bool
addr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >>
		        24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		/* A dual-stack socket sees 127.0.0.1 as ::ffff:127.0.0.1. */
		return IN6_IS_ADDR_LOOPBACK(a6) ||
		       (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return false;
}

/* Bound and listening before the sandbox, which allows no socket or bind. */
static int
http_listen(struct http_ctx *h)
{
	struct addrinfo hints = {0}, *res;
	int fd, on = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(h->host, h->port, &hints, &res)) != 0)
		fatalx("--http %s:%s: %s", h->host, h->port, gai_strerror(rc));
	h->loopback = addr_loopback(res->ai_addr);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		fatal("--http: socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("--http: SO_REUSEADDR");
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("--http: bind %s:%s", h->host, h->port);
	if (listen(fd, HTTP_BACKLOG) == -1)
		fatal("--http: listen");
	freeaddrinfo(res);
	return fd;
}

/* The address systemd bound, for the Host check and the exposure rules. */
static void
http_activated_address(struct http_ctx *h, int fd)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	const void *addr;
	unsigned port;

	if (getsockname(fd, (struct sockaddr *)&sa, &salen) == -1)
		fatal("getsockname on the activated socket");
	if (sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&sa;
		addr = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)&sa;
		addr = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if (inet_ntop(sa.ss_family, addr, h->host, sizeof(h->host)) == NULL)
		fatal("inet_ntop");
	snprintf(h->port, sizeof(h->port), "%u", port);
	h->loopback = addr_loopback((const struct sockaddr *)&sa);
}

/* What may serve on which address: no caller check off loopback, and no
 * key in clear text over a network unless a proxy adds TLS.  NULL, or why
 * not. */
static const char *
http_exposure_refusal(const struct config *cfg, bool loopback)
{
	if (loopback)
		return NULL;
	if (AUTH_MODE_OAUTH(cfg->auth_mode) &&
	    strncasecmp(cfg->resource_server_url, "http://", 7) == 0)
		return "MCP_AUTH_BROKER_RESOURCE_SERVER_URL is http://: tokens would cross the "
		       "network in clear text; only a loopback address may serve it (use the "
		       "https:// URL the proxy serves)";
	if (cfg->auth_mode == AUTH_MODE_NONE)
		return "MCP_AUTH_BROKER_AUTH_MODE=none serves anyone who can connect: only on a "
		       "loopback address (set AUTH_MODE=api_key)";
	if (!cfg->http_behind_proxy)
		return "not a loopback address, and brokerd serves no TLS: put a TLS-terminating "
		       "reverse proxy in front and set MCP_AUTH_BROKER_HTTP_BEHIND_PROXY=true";
	return NULL;
}

static void
http_check_exposure(const struct http_ctx *h)
{
	const char *why = http_exposure_refusal(&h->b->cfg, h->loopback);

	if (why == NULL)
		return;
	fprintf(stderr, "brokerd: --http %s: %s\n", h->host, why);
	exit(EX_CONFIG_EXIT);
}

int
http_check_address(const struct config *cfg, const char *hostport, bool *loopback, char *why,
                   size_t len)
{
	struct http_ctx h = {0};
	struct addrinfo hints = {0}, *res;
	const char *refusal;
	int rc;

	if (hostport_split(&h, hostport) == -1) {
		snprintf(why, len, "'%s': give HOST:PORT (an IPv6 address in brackets)", hostport);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(h.host, h.port, &hints, &res)) != 0) {
		snprintf(why, len, "%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	*loopback = addr_loopback(res->ai_addr);
	freeaddrinfo(res);
	if ((refusal = http_exposure_refusal(cfg, *loopback)) != NULL) {
		snprintf(why, len, "%s: %s", hostport, refusal);
		return -1;
	}
	return 0;
}

static void
http_keys(struct http_ctx *h)
{
	char why[256];

	if (!AUTH_MODE_KEYS(h->b->cfg.auth_mode))
		return;
	if (api_keys_load(&h->keys, h->b->cfg.api_keys_file, why, sizeof(why)) == -1) {
		fprintf(stderr, "brokerd: MCP_AUTH_BROKER_API_KEYS_FILE %s: %s\n",
		        h->b->cfg.api_keys_file, why);
		exit(EX_CONFIG_EXIT);
	}
	log_info("http: %zu API key(s) loaded", h->keys.n);
}

static void __attribute__((format(printf, 2, 0))) mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls);
static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

void
http_open(struct broker *b, const char *hostport, int fd)
{
	struct http_ctx *h;
	const struct config *cfg = &b->cfg;

	if (hostport == NULL && fd < 0)
		return;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatalx("out of memory");
	h->b = b;
	if (fd >= 0) { /* systemd's socket, whatever --http said */
		http_activated_address(h, fd);
		log_info("http: serving the socket systemd passed (socket activation)");
	} else {
		parse_hostport(h, hostport);
		fd = http_listen(h);
	}
	http_check_exposure(h);
	http_keys(h);
	http_oauth_init(h);
	h->daemon = MHD_start_daemon(
	    MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, http_access, h,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->http_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)cfg->http_max_connections_per_address, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)cfg->http_request_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (h->daemon == NULL)
		fatalx("--http: libmicrohttpd did not start");
	b->http = h;
	log_info("http: serving MCP at http://%s%s%s:%s/mcp (auth %s)",
	         strchr(h->host, ':') ? "[" : "", h->host, strchr(h->host, ':') ? "]" : "", h->port,
	         config_auth_mode_name(cfg->auth_mode));
}

/* ---- requests ---------------------------------------------------------- */

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* A header value lives in the connection's own buffer, which is writable
 * memory libmicrohttpd hands out as const. */
static void
header_wipe(const char *v)
{
	if (v != NULL)
		sodium_memzero((void *)(uintptr_t)v, strlen(v));
}

static enum MHD_Result
http_queue(struct MHD_Connection *c, struct http_answer *a)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(
	    a->len, a->body, a->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		http_answer_free(a);
		return MHD_NO;
	}
	a->body = NULL; /* the response frees it */
	if (a->len > 0)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        a->content_type != NULL ? a->content_type
		                                                : "application/json");
	if (a->session_id[0] != '\0')
		MHD_add_response_header(r, "Mcp-Session-Id", a->session_id);
	if (a->www_authenticate[0] != '\0')
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, a->www_authenticate);
	if (a->retry_after > 0) {
		char v[16];
		snprintf(v, sizeof(v), "%u", a->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	if (a->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST, DELETE");
	if (a->close) /* shutting down: no next request on this connection */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(c, a->status, r);
	MHD_destroy_response(r);
	return rc;
}

/* The body, up to MCP_AUTH_BROKER_MAX_MESSAGE_BYTES; past it, nothing more
 * is kept and the request will be refused 413 once read. */
static void
http_body(struct http_ctx *h, struct http_conn *hc, const char *data, size_t len)
{
	if (hc->too_large)
		return;
	if (buf_avail(&hc->body) + len > (size_t)h->b->cfg.max_message_bytes) {
		hc->too_large = true;
		buf_free(&hc->body);
		buf_init(&hc->body);
		return;
	}
	if (buf_append(&hc->body, data, len) == -1)
		fatalx("out of memory");
}

/* Whether the peer's address is a loopback one (GET /metrics). */
static bool
peer_loopback(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return ci != NULL && ci->client_addr != NULL && addr_loopback(ci->client_addr);
}

/* On h->suspended until http_resume_ready (or http_run, when its client
 * leaves) resumes it. */
static void
http_suspend_listed(struct http_ctx *h, struct http_conn *hc)
{
	hc->suspended = true;
	hc->next_suspended = h->suspended;
	h->suspended = hc;
	MHD_suspend_connection(hc->mhd);
}

/* s: the tool call's session; NULL: GET /ready waits for its check. */
static void
http_suspend(struct http_ctx *h, struct http_conn *hc, struct session *s)
{
	const union MHD_ConnectionInfo *ci;

	hc->pending = s;
	if (s != NULL) {
		s->http_slot = &hc->pending;
		ci = MHD_get_connection_info(hc->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = ci != NULL ? ci->connect_fd : -1;
	} else
		hc->waits_ready = true;
	http_suspend_listed(h, hc);
}

/* ---- text/event-stream ------------------------------------------------- */

/* libmicrohttpd asks for the stream's next bytes.  None yet: the
 * connection is suspended until the session has its next message (no busy
 * loop: libmicrohttpd would call again at once). */
static ssize_t
http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct http_conn *hc = cls;
	size_t n = buf_avail(&hc->events);

	(void)pos;
	if (hc->peer_gone || (hc->stream_cut && n == 0))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n > 0) {
		n = n < max ? n : max;
		memcpy(out, buf_head(&hc->events), n);
		buf_consume(&hc->events, n);
		if (buf_avail(&hc->events) == 0) /* an answer's megabytes go now */
			buf_free(&hc->events);
		return (ssize_t)n;
	}
	if (hc->stream_end)
		return MHD_CONTENT_READER_END_OF_STREAM;
	http_suspend_listed(hc->h, hc);
	return 0;
}

/* 200 text/event-stream, chunked: its events follow as they come. */
static enum MHD_Result
http_stream_queue(struct MHD_Connection *c, struct http_conn *hc)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, http_stream_read,
	                                      hc, NULL);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* The TLS proxy in front (nginx) would otherwise hold the events back. */
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	if (hc->answer.close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

/* A streaming request's session has new messages, or its call ended:
 * whether there is something to send.  The session closed under it
 * (brokerd stopping past its time) cuts the stream short: no answer. */
static bool
http_stream_due(struct http_ctx *h, struct http_conn *hc)
{
	size_t before = buf_avail(&hc->events);

	if (hc->pending == NULL) {
		hc->stream_cut = true;
		return true;
	}
	if (http_stream_take(h, hc->pending, &hc->events)) {
		hc->pending = NULL;
		hc->stream_end = true;
		return true;
	}
	return buf_avail(&hc->events) > before;
}

static enum MHD_Result
http_request(struct http_ctx *h, struct http_conn *hc, const char *url, const char *method)
{
	struct http_req rq = {0};
	struct session *pending;
	enum http_outcome outcome;

	rq.method = method;
	rq.url = url;
	rq.host = header(hc->mhd, MHD_HTTP_HEADER_HOST);
	rq.origin = header(hc->mhd, "Origin");
	rq.authorization = header(hc->mhd, MHD_HTTP_HEADER_AUTHORIZATION);
	rq.api_key = header(hc->mhd, "X-API-Key");
	rq.session_id = header(hc->mhd, "Mcp-Session-Id");
	rq.protocol_version = header(hc->mhd, "MCP-Protocol-Version");
	rq.content_type = header(hc->mhd, MHD_HTTP_HEADER_CONTENT_TYPE);
	rq.accept = header(hc->mhd, MHD_HTTP_HEADER_ACCEPT);
	rq.body = (const char *)buf_head(&hc->body);
	rq.body_len = buf_avail(&hc->body);
	rq.body_too_large = hc->too_large;
	rq.peer_loopback = peer_loopback(hc->mhd);
	if (rq.body == NULL)
		rq.body = "";
	outcome = http_serve(h, &rq, &hc->answer, &pending);
	/* The key is hashed and compared: its bytes in the connection's
	 * buffer (where libmicrohttpd parsed the headers in place) go now,
	 * not when the buffer is next reused. */
	header_wipe(rq.authorization);
	header_wipe(rq.api_key);
	if (outcome == HTTP_PENDING || outcome == HTTP_WAIT_READY) {
		hc->accepts_sse = http_accepts_event_stream(rq.accept);
		http_suspend(h, hc, pending);
		return MHD_YES;
	}
	return http_queue(hc->mhd, &hc->answer);
}

/* libmicrohttpd calls this first with the headers, then once per piece of
 * body, then once more with none. */
static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct http_ctx *h = cls;
	struct http_conn *hc = *con_cls;

	(void)version;
	if (hc == NULL) {
		if ((hc = calloc(1, sizeof(*hc))) == NULL)
			return MHD_NO;
		hc->h = h;
		hc->mhd = c;
		hc->fd = -1;
		buf_init(&hc->body);
		buf_init(&hc->events);
		*con_cls = hc;
		h->active++;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		http_body(h, hc, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (hc->ready) /* resumed: its answer (or its stream's first events) is there */
		return hc->streaming ? http_stream_queue(c, hc) : http_queue(c, &hc->answer);
	if (hc->suspended) /* resumed without an answer: its client left */
		return MHD_NO;
	return http_request(h, hc, url, method);
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
	struct http_ctx *h = cls;
	struct http_conn *hc = *con_cls;

	(void)c;
	(void)toe;
	if (hc == NULL)
		return;
	if (hc->pending != NULL) { /* never answered: its call is cancelled */
		hc->pending->http_slot = NULL;
		session_close(h->b, hc->pending);
	}
	http_answer_free(&hc->answer);
	buf_free(&hc->body);
	buf_free(&hc->events);
	free(hc);
	*con_cls = NULL;
	h->active--;
}

static void
http_conn_resume(struct http_ctx *h, struct http_conn *hc)
{
	MHD_resume_connection(hc->mhd);
	/* In external mode libmicrohttpd has no wake-up channel of its own:
	 * it must run again to answer the request. */
	h->run_now = true;
}

/* Whether a suspended request has something for its client now: its
 * answer, its stream's next events, or its stream's first ones (a message
 * came before the answer, and the client reads event streams). */
static bool
http_conn_due(struct broker *b, struct http_ctx *h, struct http_conn *hc)
{
	if (hc->streaming)
		return http_stream_due(h, hc);
	if (hc->waits_ready && !b->stopping) {
		if (!http_ready_take(h, &hc->answer))
			return false;
	} else if (hc->pending == NULL) { /* its session was closed (shutdown) */
		http_answer_error(&hc->answer, 503, -32000, "Service Unavailable: shutting down");
	} else if (hc->accepts_sse && http_stream_wanted(hc->pending)) {
		hc->streaming = true;
		http_stream_due(h, hc);
	} else if (!http_pending_take(h, hc->pending, &hc->answer)) {
		return false;
	}
	if (!hc->streaming)
		hc->pending = NULL;
	hc->waits_ready = false;
	hc->ready = true;
	hc->answer.close = b->stopping;
	return true;
}

void
http_resume_ready(struct broker *b)
{
	struct http_ctx *h = b->http;
	struct http_conn **pp, *hc;

	if (h == NULL)
		return;
	for (pp = (struct http_conn **)&h->suspended; (hc = *pp) != NULL;) {
		if (!http_conn_due(b, h, hc)) {
			pp = &hc->next_suspended;
			continue;
		}
		*pp = hc->next_suspended;
		http_conn_resume(h, hc);
	}
}

/* ---- the loop ---------------------------------------------------------- */

static fd_set http_rs, http_ws, http_es;
static int http_max_fd;
/* The poll slots: libmicrohttpd's, then one per call waiting (its
 * connection is suspended, so libmicrohttpd does not look at it). */
static size_t http_mhd_n;

/* Whether a suspended request's client may leave and cancel its call. */
static bool
http_watched(const struct http_conn *hc)
{
	return hc->pending != NULL && hc->fd >= 0 && !hc->peer_gone;
}

size_t
http_poll_prepare(struct broker *b)
{
	size_t n = 0;
	MHD_socket max = -1;

	FD_ZERO(&http_rs);
	FD_ZERO(&http_ws);
	FD_ZERO(&http_es);
	http_max_fd = -1;
	if (b->http == NULL)
		return 0;
	if (MHD_get_fdset2(b->http->daemon, &http_rs, &http_ws, &http_es, &max, FD_SETSIZE) !=
	    MHD_YES)
		fatalx("http: MHD_get_fdset2 failed");
	http_max_fd = max;
	for (int fd = 0; fd <= http_max_fd; fd++)
		if (FD_ISSET(fd, &http_rs) || FD_ISSET(fd, &http_ws))
			n++;
	http_mhd_n = n;
	for (struct http_conn *hc = b->http->suspended; hc != NULL; hc = hc->next_suspended)
		n += http_watched(hc);
	return n;
}

void
http_poll_fill(struct broker *b, struct pollfd *p, size_t n)
{
	size_t i = 0;

	for (int fd = 0; fd <= http_max_fd && i < n; fd++) {
		short ev =
		    (FD_ISSET(fd, &http_rs) ? POLLIN : 0) | (FD_ISSET(fd, &http_ws) ? POLLOUT : 0);
		if (ev != 0)
			p[i++] = (struct pollfd){fd, ev, 0};
	}
	/* Only the peer's close (FIN or reset), not its data: a pipelined
	 * request waits in the socket for libmicrohttpd. */
	if (b->http == NULL)
		return;
	for (struct http_conn *hc = b->http->suspended; hc != NULL && i < n;
	     hc = hc->next_suspended)
		if (http_watched(hc))
			p[i++] = (struct pollfd){hc->fd, POLLRDHUP, 0};
}

/* A waiting call's client closed its connection: resumed, libmicrohttpd
 * ends it (http_access refuses to go on, an event stream ends in error),
 * and http_completed closes the session, which cancels the call. */
static void
http_peer_left(struct http_ctx *h, int fd)
{
	struct http_conn **pp, *hc;

	for (pp = (struct http_conn **)&h->suspended; (hc = *pp) != NULL;
	     pp = &hc->next_suspended) {
		if (hc->fd != fd || !http_watched(hc))
			continue;
		log_info("http: the client of session %u left while its call waited",
		         hc->pending->id);
		hc->peer_gone = true;
		*pp = hc->next_suspended;
		http_conn_resume(h, hc);
		return;
	}
}

void
http_run(struct broker *b, const struct pollfd *p, size_t n)
{
	fd_set rs, ws, es;

	if (b->http == NULL)
		return;
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_ZERO(&es);
	b->http->run_now = false;
	for (size_t i = 0; i < n && i < http_mhd_n; i++) {
		if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
			FD_SET(p[i].fd, &rs);
		if (p[i].revents & (POLLOUT | POLLERR))
			FD_SET(p[i].fd, &ws);
	}
	for (size_t i = http_mhd_n; i < n; i++)
		if (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR))
			http_peer_left(b->http, p[i].fd);
	MHD_run_from_select(b->http->daemon, &rs, &ws, &es);
	http_sessions_expire(b->http, mono_ms());
	http_ready_expire(b->http, mono_ms());
}

int64_t
http_next_deadline(const struct broker *b)
{
	MHD_UNSIGNED_LONG_LONG t;
	int64_t next, idle;

	if (b->http == NULL)
		return -1;
	if (b->http->run_now)
		return mono_ms();
	next = MHD_get_timeout(b->http->daemon, &t) == MHD_YES ? mono_ms() + (int64_t)t : -1;
	idle = http_sessions_deadline(b->http);
	if (idle >= 0 && (next < 0 || idle < next))
		next = idle;
	idle = http_ready_deadline(b->http);
	if (idle >= 0 && (next < 0 || idle < next))
		next = idle;
	return next;
}

/* After SIGTERM, until every request begun has been answered (an idle
 * keep-alive connection is not waited for), or the time to drain is over. */
bool
http_serving(const struct broker *b)
{
	if (b->http == NULL)
		return false;
	if (!b->http->quiesced)
		return true;
	if (mono_ms() >= b->stop_deadline_ms + SHUTDOWN_FLUSH_MS)
		return false;
	return b->http->active > 0 || b->http->run_now;
}

void
http_stop_accepting(struct broker *b)
{
	MHD_socket fd;

	if (b->http == NULL || b->http->quiesced)
		return;
	b->http->quiesced = true;
	if ((fd = MHD_quiesce_daemon(b->http->daemon)) != MHD_INVALID_SOCKET)
		close(fd);
}

void
http_close(struct broker *b)
{
	struct http_ctx *h = b->http;

	if (h == NULL)
		return;
	http_resume_ready(b); /* what is left is answered 503 */
	MHD_stop_daemon(h->daemon);
	b->http = NULL;
	http_ctx_free(h);
}
