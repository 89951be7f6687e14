/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What brokerd does with one Streamable HTTP request once libmicrohttpd
 * has parsed it (http.c): Host and Origin, the method, the caller's key,
 * MCP-Protocol-Version, the body's size, Mcp-Session-Id, then the JSON-RPC
 * message itself through the same mcp.c, tools.c and policy as the other
 * transports.  No libmicrohttpd here: tests/fuzz/fuzz_http.c drives it. */
#ifndef BROKERD_HTTP_REQUEST_H
#define BROKERD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "apikeys.h"
#include "bearer.h"
#include "brokerd.h"

/* Mcp-Session-Ids held at once: bounds memory, not legitimate use. */
#define HTTP_MAX_MCP_SESSIONS 1024
#define HTTP_KEY_NAME_MAX     64

/* One line of MCP_AUTH_BROKER_API_KEYS_FILE: only the key's hash. */
struct http_key {
	char name[HTTP_KEY_NAME_MAX + 1];
	unsigned char hash[crypto_hash_sha256_BYTES];
};

/* One Mcp-Session-Id: what a legacy-era session remembers between requests. */
struct http_mcp_session {
	char id[33];                    /* 128 random bits, hex */
	char caller[BEARER_ID_MAX + 1]; /* who made it: only they may use it */
	char protocol[16];
	int64_t last_active_ms;
	struct http_mcp_session *next;
};

/* GET /ready: one readiness check at a time; its result answers every probe
 * for MCP_AUTH_BROKER_HTTP_READY_CACHE_SECONDS after it ended, so a storm
 * of probes makes at most one round of token requests (and a login only
 * when no token is cached). */
struct http_ready {
	bool checking;
	bool have_result;    /* a check has ended */
	int64_t checked_ms;  /* when the last check ended */
	int64_t deadline_ms; /* while checking: unanswered resources time out */
	uint64_t first_id;   /* the check's IPC ids: first_id .. first_id + n - 1 */
	size_t n, answered;
	enum err_code *code; /* per allowed resource: ERR_NONE is ok */
	bool *done;
};

struct http_ctx {
	struct broker *b;
	char host[256]; /* the listen address as given (brackets stripped) */
	char port[8];
	bool loopback;
	struct api_keys keys; /* AUTH_MODE api_key, hybrid */
	struct http_mcp_session *sessions;
	size_t n_sessions;
	void *daemon;    /* http.c: the MHD_Daemon */
	void *suspended; /* http.c: requests waiting for their answer */
	bool quiesced;
	bool run_now;  /* a request was resumed: libmicrohttpd must run */
	size_t active; /* requests begun and not yet completed (http.c) */
	struct http_ready ready;
	/* OAuth callers: the issuer's keys as tokend last sent them (NULL
	 * until it has), when brokerd last asked for a refresh, and the
	 * protected resource metadata's path and URL (RFC 9728). */
	struct jwks *jwks;
	int64_t jwks_asked_ms;
	char prm_path[1100];
	char prm_url[1300];
};

/* Who is calling, as authentication established it. */
struct http_caller {
	char name[BEARER_ID_MAX + 1]; /* "" with AUTH_MODE=none */
	const char *method;           /* "none", "api_key" or "oauth" */
	char roles[REQ_CALLER_ROLES_MAX + 1]; /* the key's roles, or the token's */
	struct bearer_identity token; /* oauth: what the token says */
	const char *credential;       /* what was presented (the key or token) */
};

/* A request as libmicrohttpd parsed it; absent headers are NULL. */
struct http_req {
	const char *method;
	const char *url;
	const char *host;
	const char *origin;
	const char *authorization;
	const char *api_key; /* X-API-Key */
	const char *session_id;
	const char *protocol_version;
	const char *content_type;
	const char *accept; /* http.c: whether a call may be answered as a stream */
	const char *body;
	size_t body_len;
	bool body_too_large; /* over MCP_AUTH_BROKER_MAX_MESSAGE_BYTES: not kept */
	bool peer_loopback;  /* the peer's address is a loopback one */
};

struct http_answer {
	unsigned status;
	char *body; /* malloc'd JSON, or NULL */
	size_t len;
	char session_id[33]; /* non-empty: sent as Mcp-Session-Id */
	char www_authenticate[600]; /* non-empty: sent as WWW-Authenticate */
	unsigned retry_after;       /* non-zero: sent as Retry-After */
	bool allow; /* 405: Allow: POST, DELETE */
	bool close; /* Connection: close (shutting down) */
	const char *content_type; /* NULL: application/json */
};

enum http_outcome { HTTP_ANSWERED, HTTP_PENDING, HTTP_WAIT_READY };

/* Judges and serves rq.  HTTP_PENDING: a tool call waits for tokend; *pending
 * is the request's session, whose answer http_pending_take gives later.
 * HTTP_WAIT_READY: GET /ready waits for the readiness check under way;
 * http_ready_take gives its answer once it has ended. */
enum http_outcome http_serve(struct http_ctx *h, const struct http_req *rq, struct http_answer *a,
                             struct session **pending);
/* Whether the pending request's answer is ready; if so it is in a and the
 * request's session is closed. */
bool http_pending_take(struct http_ctx *h, struct session *s, struct http_answer *a);
void http_answer_free(struct http_answer *a);

/* text/event-stream (MCP Streamable HTTP): a POST whose client lists
 * text/event-stream in Accept, and whose session outputs a message before
 * the answer (a tools/call's notifications/progress while tokend waits on a
 * retry), is answered with an event stream: each message one SSE event
 * ("data: <JSON>"), the answer the last.  Otherwise the answer is JSON. */
/* Whether an Accept value lists text/event-stream (at a q above 0). */
bool http_accepts_event_stream(const char *accept);
/* Whether the pending request's session holds a message before its answer. */
bool http_stream_wanted(const struct session *s);
/* Moves each complete message of the session's output to events as one SSE
 * event.  true: the answer was among them (or the call ended without one),
 * and the session is closed. */
bool http_stream_take(struct http_ctx *h, struct session *s, struct buf *events);
/* A refusal: status and a JSON-RPC error body (id null). */
void http_answer_error(struct http_answer *a, unsigned status, int code, const char *msg);
/* status and a copy of text as the body. */
void http_answer_text(struct http_answer *a, unsigned status, const char *text, size_t len);

/* http_ready.c: GET /ready from the running daemon, as brokerd --ready
 * decides it: can tokend obtain a token for each allowed resource (one in
 * its cache counts; otherwise a login through its single flight)? */
/* Whether the last check's result may still answer at now. */
bool http_ready_fresh(const struct http_ctx *h, int64_t now);
/* Asks tokend, unless a check is under way. */
void http_ready_start(struct http_ctx *h);
/* Whether m (from tokend) belongs to the check under way; if so it is
 * taken (a malformed one is fatal, as for a call's answer). */
bool http_ready_answer(struct broker *b, const struct ipc_msg *m);
/* At its deadline, a check ends with what is unanswered timed out. */
void http_ready_expire(struct http_ctx *h, int64_t now);
int64_t http_ready_deadline(const struct http_ctx *h);
/* The last check's answer (200 or 503), if no check is under way. */
bool http_ready_take(struct http_ctx *h, struct http_answer *a);
void http_ready_free(struct http_ctx *h);

/* OAuth callers: a key set from tokend (MSG_JWKS) replaces the one held;
 * the protected resource metadata's location, from the configuration. */
void http_jwks_update(struct http_ctx *h, struct jwks *k);
void http_oauth_init(struct http_ctx *h);
/* Mcp-Session-Ids idle for MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS go. */
void http_sessions_expire(struct http_ctx *h, int64_t now);
int64_t http_sessions_deadline(const struct http_ctx *h);
void http_ctx_free(struct http_ctx *h);

#endif
