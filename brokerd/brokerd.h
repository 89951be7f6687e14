/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd: the only process that reads client input.  It holds no secret and
 * no token: it frames MCP, validates, applies policy, audits, and passes
 * allowed calls to tokend. */
#ifndef BROKERD_H
#define BROKERD_H

#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "errors.h"
#include "guard.h"
#include "ipc.h"
#include "msg.h"
#include "policy.h"

#define BROKERD_VERSION PACKAGE_VERSION
/* Exit status when a child dies: the unit should be restarted as a whole. */
#define EXIT_CHILD_DIED 70
/* A client that does not read its answers stops being read at this much
 * unsent output (or at MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES, if less), so
 * its requests cannot add to it; what its calls already in flight may add
 * is bounded by that cap (session_send_parts). */
#define SESSION_OUT_HIGH_WATER (8u * 1024u * 1024u)
/* A session's emptied output block larger than this is freed, not kept. */
#define SESSION_OUT_KEEP (256u * 1024u)
/* How long past its timeout_ms brokerd waits for tokend before answering a
 * call itself: tokend enforces timeout_ms, this is only a backstop. */
#define CALL_BACKSTOP_MS 5000
/* Sessions served at once on the socket; more connections wait in the
 * listen backlog.  Bounds descriptors and the poll set, not legitimate use. */
#define BROKER_MAX_SESSIONS 256
/* Slots of brokerd's poll set besides the two of each session (main.c). */
#define BROKER_POLL_FIXED 4
/* After SIGTERM and the grace period, how long answers may take to drain. */
#define SHUTDOWN_FLUSH_MS 2000

/* SESSION_HTTP: one per HTTP request being served (http_request.c), with
 * no descriptors; its output is the request's answer, which http.c takes. */
enum session_transport { SESSION_STDIO, SESSION_UNIX, SESSION_HTTP };

struct session {
	unsigned id; /* for logs and audit records */
	enum session_transport transport;
	int in_fd;
	int out_fd; /* a unix-socket peer: the same descriptor as in_fd */
	uid_t peer_uid; /* unix: SO_PEERCRED; stdio: our own uid */
	pid_t peer_pid; /* unix: SO_PEERCRED; stdio: our parent, the spawner */
	/* The first members of this session's tool-call audit records, made
	 * at the first record (tools.c): the same for every call. */
	char audit_members[768];
	size_t audit_members_len;
	struct buf in;
	struct buf out;
	bool discarding; /* inside a line over the size limit */
	bool in_eof;
	bool out_broken;
	bool peer_gone; /* unix: the peer closed both directions */
	bool initialized;
	char protocol[16]; /* negotiated version (initialize) */
	size_t inflight;
	size_t max_output; /* MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES */
	int64_t last_active_ms; /* last byte read or written, or answer queued */
	/* HTTP: the verified caller (an API key's name, or an OAuth token's
	 * oid or sub), "" when none was asked for (AUTH_MODE=none); with
	 * OAuth the client application (azp) and the token's id and hash for
	 * audit; how it was verified; the credential presented (wiped with
	 * the session), which tokend checks again; and where the request
	 * waiting for this session's answer points at it (http.c), cleared
	 * when the session is closed under it (shutdown). */
	char caller[129];
	char caller_app[129];
	char token_jti[129];
	char token_hash[17];
	char *credential;
	bool verified;		/* an authenticated caller: roles below apply */
	struct req_caller roles; /* what policy's per-caller rules look at */
	char http_sid[33]; /* the Mcp-Session-Id the request named, or "" */
	const char *auth_method;
	struct session **http_slot;
	struct session *next;
};

/* What an answer needs to know about its request.  The era is per request:
 * a 2026-07-28 request carries its version in _meta, a legacy one relies
 * on the session's initialize. */
struct rpc_req {
	struct json_object *id;		    /* string or integer */
	struct json_object *progress_token; /* params._meta.progressToken, or NULL */
	char protocol[16];		    /* the version governing this request */
	bool modern;			    /* 2026-07-28: resultType and _meta in results */
};

struct child {
	const char *name;
	pid_t pid;
	struct ipc_chan chan;
	bool exited;
	int status; /* from waitpid */
};

/* A tool call waiting for tokend's answer. */
struct call {
	uint64_t ipc_id;
	struct session *session;
	struct rpc_req rpc; /* holds references to id and progress_token */
	int progress_seq;   /* notifications/progress sent so far */
	const char *tool;   /* the name called (tools.h: one of four constants) */
	char *contract_version; /* as the request gave it, or NULL */
	char *request_id;   /* the contract's request_id, given or generated */
	char *requester_id; /* for audit */
	char *target;	    /* execute: resource and path, the URI of binary content */
	struct json_object *scopes;
	struct json_object *detail; /* describe: tenant, client, resource */
	struct policy_decision policy;
	bool has_policy;
	int64_t started_ms;
	int64_t deadline_ms;
	struct call *next;
};

/* A federated token's public claims, as secretd read them: never the token. */
struct federated_claims {
	char iss[256];
	char sub[256];
	char aud[256];
	char exp[32]; /* RFC 3339, UTC */
	int64_t exp_unix;
};
/* What --check and --ready report of the federated token file. */
struct federated_check {
	bool described; /* false: not the federated credential (or smoke mode) */
	bool ok;
	struct federated_claims claims;
	char why[512];
};

struct broker {
	struct config cfg;
	struct child secretd;
	struct child tokend;
	struct session *sessions;
	size_t n_sessions;
	unsigned next_session_id;
	struct call *calls;
	uint64_t next_ipc_id;
	int sigfd;
	/* The children are forked but wait to exec until this pipe closes
	 * (children.c): -1 once released. */
	int children_hold_fd;
	int64_t children_hold_until; /* released by then at the latest */
	int listener;	     /* the unix socket, or -1 (stdio, or stopping) */
	struct http_ctx *http; /* --http, or NULL */
	char *listen_path;   /* what --listen named */
	bool listen_unlink;  /* we made the socket file (not systemd): remove it */
	dev_t listen_dev;    /* the socket file as bound: what the reaper may remove */
	ino_t listen_ino;
	pid_t reaper_pid;    /* the socket reaper (reaper.c), or -1 */
	int reaper_fd;	     /* its pipe: closing it has the socket file removed */
	int64_t accept_resume_ms; /* out of descriptors: accept again after this */
	bool stopping; /* SIGTERM: no more input is read or connection accepted */
	int64_t stop_deadline_ms; /* calls still in flight then are cancelled */
	struct guarded op_token;     /* OP_SERVICE_ACCOUNT_TOKEN until handed to secretd */
	const char *selfcheck; /* "health" or "smoke-e2e": serving a self-check (audited so) */
	char secret_fingerprint[17]; /* as secretd last reported it; "" until then */
	char secret_provider[16];
	struct msg_cert_info cert; /* certificate credential: as secretd last
				    * reported it; cert.sha1 "" until then */
	struct federated_check federated; /* --ready, federated credential */
};

/* children.c */
void children_start(struct broker *b);
void children_stop(struct broker *b);
/* Lets the children exec (children_start holds them): see children.c. */
void children_release(struct broker *b);
/* libexecdir/name (NULL or empty: the compiled-in LIBEXECDIR) into out. */
void children_program_path(const char *libexecdir, const char *name, char *out, size_t len);
/* Reaps exited children; returns the one that died first, or NULL. */
struct child *children_reap(struct broker *b);
/* Reads from c: tokend's messages go to on_tokend(ctx, m), secretd's to
 * secrets_dispatch.  True once c's channel has ended. */
bool children_read(struct broker *b, struct child *c,
    void (*on_tokend)(void *ctx, const struct ipc_msg *m), void *ctx);

/* secrets.c */
/* Before the children start: takes OP_SERVICE_ACCOUNT_TOKEN out of the
 * environment (and /proc/PID/environ) into guarded memory. */
void secrets_take(struct broker *b);
/* Right after the children start: sends secretd the token, first thing,
 * then forgets it and wipes the env provider's variable. */
void secrets_hand_over(struct broker *b);
void secrets_dispatch(struct broker *b, const struct ipc_msg *m);
/* Certificates expiring within this many days are warned about. */
#define CERT_WARN_DAYS 30
/* One line on a certificate ("" when none was reported), and whether it
 * expires within CERT_WARN_DAYS of now (or has expired). */
bool secrets_cert_line(const struct msg_cert_info *c, int64_t now, char *out, size_t len);
/* brokerd --check with a certificate credential: runs secretd
 * --describe-certificate (the key is read there, never here) for the
 * certificate's public facts; -1 with why when it could not. */
int secrets_describe_certificate(const struct config *cfg, struct msg_cert_info *ci, char *why,
    size_t len);
struct report;
/* brokerd --check and --ready with a federated credential: runs secretd
 * --describe-federated (the token file is read there, never here); -1
 * with why when the file is missing, unreadable, refused, not a JWT or
 * expired. */
int secrets_describe_federated(const struct config *cfg, struct federated_claims *fc, char *why,
    size_t len);
/* Reads it through secretd, before brokerd's sandbox (which allows no
 * process): --ready does so before it starts the children. */
void secrets_federated_describe(const struct config *cfg, struct federated_check *fc);
/* Its --check / --ready lines: issuer, subject, audience and expiry, or
 * the failure. */
void secrets_federated_report(struct report *t, const struct config *cfg,
    const struct federated_check *fc);

/* session.c */
/* A new session at the head of b->sessions; the descriptors become its own. */
struct session *session_new(struct broker *b, enum session_transport t, int in_fd, int out_fd);
/* Ends a session: its calls are cancelled in tokend and their answers
 * dropped; a socket is closed.  s is freed. */
void session_close(struct broker *b, struct session *s);
/* Queues one JSON-RPC message; the caller keeps its reference to o. */
void session_send(struct session *s, struct json_object *o);
/* How many more bytes of output the cap allows now. */
size_t session_out_room(const struct session *s);
/* One piece of a message's text, written as it is or escaped as the
 * content of a JSON string. */
struct out_part {
	const char *p;
	size_t len;
	bool escape;
};
/* Queues one message written from parts, straight into the output: a large
 * text is copied once, not first into a json-c string and a serialisation.
 * Capped: -1 and nothing queued when it would go past the session's cap. */
int session_send_parts(struct session *s, const struct out_part *parts, size_t n, bool capped);
/* Where the session's queued output ends now, and taking back what was
 * queued after that mark (before the loop has flushed it): an answer whose
 * audit record could not be written is not disclosed. */
size_t session_out_mark(const struct session *s);
void session_out_rewind(struct session *s, size_t mark);
/* Reads and handles what the client sent; returns 0 at end of input. */
int session_read(struct broker *b, struct session *s);
/* Handles the complete lines already buffered (after calls finished). */
void session_process(struct broker *b, struct session *s);
int session_flush(struct session *s);
bool session_wants_input(const struct broker *b, const struct session *s);
bool session_done(const struct session *s);
/* A unix-socket session with no call in flight that has neither sent nor
 * been sent anything for MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS. */
bool session_idle(const struct broker *b, const struct session *s, int64_t now);
/* When the first session becomes idle, or -1. */
int64_t session_idle_deadline(const struct broker *b);
/* Closes an idle session, and says so in the log and the audit file. */
void session_close_idle(struct broker *b, struct session *s);

/* activation.c: the sockets systemd passed (LISTEN_FDS, LISTEN_FDNAMES) */
struct activated {
	int unix_fd; /* the unix socket, or -1 */
	int http_fd; /* the TCP socket named http, or -1 */
};
/* Takes what systemd passed to us (none: both -1) and removes the LISTEN_*
 * variables; a descriptor that is not what its name says stops brokerd
 * (exit 78). */
void activation_take(struct activated *a);

/* listener.c: the unix socket (--listen, or systemd's) */
/* Before the sandbox: takes systemd's socket (activated_fd >= 0) or makes
 * one at path; nothing when neither is given. */
void listener_open(struct broker *b, const char *path, int activated_fd);
/* Accepts what is waiting; a peer not allowed gets one error and is closed. */
void listener_accept(struct broker *b);
/* Whether another session may be served now (BROKER_MAX_SESSIONS, or fewer
 * when RLIMIT_NOFILE is low). */
bool listener_has_room(const struct broker *b);
/* What brokerd serves on, for the log and systemd's STATUS: "stdio", "a unix
 * socket", "HTTP" or "a unix socket and HTTP". */
const char *listener_transports(const struct broker *b);
/* Stops accepting; has the socket file removed if brokerd made it (reaper.c). */
void listener_close(struct broker *b);

/* reaper.c: removes the socket file brokerd made, which its sandbox cannot */
/* Last thing before the sandbox (brokerd then holds no secret to pass on):
 * forks the reaper for the socket file listener_open made, if it did. */
void reaper_start(struct broker *b);
/* Has the socket file removed (if still the one bound) and waits for it. */
void reaper_finish(struct broker *b);

/* http.c: brokerd --http HOST:PORT, Streamable HTTP at /mcp */
/* Before the sandbox: binds the socket (or takes systemd's, fd >= 0),
 * reads the API keys, starts libmicrohttpd (no thread of its own: it runs
 * in the loop).  Nothing when neither is given. */
void http_open(struct broker *b, const char *hostport, int fd);
/* The poll set: how many slots http_poll_fill will fill, then fill them. */
size_t http_poll_prepare(struct broker *b);
void http_poll_fill(struct broker *b, struct pollfd *p, size_t n);
/* After poll: lets libmicrohttpd read, write and time out connections. */
void http_run(struct broker *b, const struct pollfd *p, size_t n);
/* After the sessions ran: resumes each request whose answer is ready. */
void http_resume_ready(struct broker *b);
/* When libmicrohttpd or an idle session must be looked at next, or -1. */
int64_t http_next_deadline(const struct broker *b);
bool http_serving(const struct broker *b);
/* SIGTERM: no new connection; requests already in get their answers. */
void http_stop_accepting(struct broker *b);
void http_close(struct broker *b);
/* --check and --ready with --http: whether serving hostport would start
 * (its address and the exposure rules), without binding; -1 with why. */
int http_check_address(const struct config *cfg, const char *hostport, bool *loopback, char *why,
    size_t len);

/* bridge.c: brokerd --connect PATH, stdio <-> socket; reads no configuration */
int bridge_main(const char *path) __attribute__((noreturn));

/* mcp.c */
/* The newest version initialize negotiates (what --tools and the self-checks use). */
const char *mcp_latest_version(void);
/* Whether v is a protocol version this server speaks (either era). */
bool mcp_version_known(const char *v);
void mcp_handle_line(struct broker *b, struct session *s, const char *line, size_t len);
void mcp_send_error(struct session *s, struct json_object *id, int code, const char *msg,
    const char *detail);
/* A result; a 2026-07-28 request's also gets resultType and _meta.serverInfo. */
void mcp_send_result(struct session *s, const struct rpc_req *r, struct json_object *result);
/* A tool result made of one JSON text: structuredContent (if the protocol
 * has it) and, as a string, the text content.  Capped: -1 and nothing sent
 * when it would take the session past its output cap. */
int mcp_send_tool_result(struct session *s, const struct rpc_req *r, const char *sc_text,
    size_t sc_len, bool is_error, bool capped, struct json_object *extra);
void mcp_send_notification(struct session *s, const char *method, struct json_object *params);
bool mcp_structured(const char *protocol);

/* tools.c */
/* What tools/list answers under cfg (names, descriptions and hints follow
 * the configuration) for a protocol version. */
struct json_object *tools_list(const struct config *cfg, const char *protocol);
void tools_call(struct broker *b, struct session *s, const struct rpc_req *r,
    struct json_object *params);
/* An answer or a progress report from tokend. */
void tools_answer(struct broker *b, const struct ipc_msg *m);
/* Answers every call in flight with code (a child died, or shutdown). */
void tools_fail_all(struct broker *b, enum err_code code, const char *msg);
/* notifications/cancelled: stops the call in tokend; it gets no answer. */
void tools_cancel(struct broker *b, struct session *s, struct json_object *rpc_id,
    const char *reason);
/* The session is going away: cancels its calls, drops their answers. */
void tools_drop_session(struct broker *b, struct session *s);
/* SIGTERM's grace period is over: cancels what is left, answering each. */
void tools_shutdown(struct broker *b);
void tools_expire(struct broker *b);
int64_t tools_next_deadline(const struct broker *b);
bool tools_id_in_flight(const struct broker *b, const struct session *s, struct json_object *id);

/* selfcheck.c: --health and --smoke-e2e.  Forks: the child returns and
 * serves MCP on stdio, which is now a socketpair; the parent drives it as a
 * client, prints one line per step, and exits 0 (all passed) or 1. */
enum selfcheck_mode { SELFCHECK_HEALTH, SELFCHECK_SMOKE_E2E };
void selfcheck_fork(enum selfcheck_mode mode, const struct config *cfg);
/* --smoke-e2e, before the configuration is read: smoke mode, and the env
 * provider's variable (a real secret smoke mode does not use) wiped. */
void selfcheck_smoke_env(void);
/* selfcheck_config.c: --check: what can be checked without starting
 * anything, one line each (json: one document, report.h); exits 0 when
 * nothing failed, 1 otherwise. */
void selfcheck_config(bool json, const char *http) __attribute__((noreturn));
/* With hostport (--http given to --check or --ready): whether that address
 * would serve, and where /mcp, /health, /ready and /metrics are, for whom;
 * one line.  Nothing without it. */
struct report;
void selfcheck_http(struct report *t, const struct config *cfg, const char *hostport);
/* --ready, before the children start: a missing program is a failed
 * check (a line and the summary, exit 1). */
void selfcheck_ready_programs(const struct config *cfg, bool json);
/* selfcheck_ready.c: --ready, once the children run: a token for each
 * allowed resource (no Graph call) and its roles against the policy, then
 * the children are stopped; exits 0 or 1. */
void selfcheck_ready(struct broker *b, bool json, const char *http) __attribute__((noreturn));

#endif
