/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* tokend: the only networked process.  It owns the token cache, obtains
 * tokens with the client secret it asks secretd for, and performs the Graph
 * call itself, so access tokens never leave it. */
#ifndef TOKEND_H
#define TOKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "apikeys.h"
#include "bearer.h"
#include "cache.h"
#include "config.h"
#include "errors.h"
#include "ipc.h"
#include "msg.h"

enum exec_state {
	EXEC_WAIT_TOKEN, /* waiting for a login (possibly shared) */
	EXEC_WAIT_GRAPH, /* a Graph transfer is running, or a smoke answer is due */
	EXEC_WAIT_RETRY, /* Graph answered 429/503/504; retrying at due_ms */
};

/* One call from brokerd, from arrival until its single answer. */
struct exec {
	uint64_t id;
	struct graph_request req; /* as decoded, and allowed by tokend's own policy */
	struct token_entry *entry;
	enum exec_state state;
	enum msg_token_source source;
	int64_t deadline_ms;
	int64_t due_ms;		    /* smoke answer or retry time */
	struct json_object *answer; /* smoke: the execution to send at due_ms */
	struct xfer *xfer;	    /* the running Graph transfer */
	int attempts;
	/* The token the Graph request was sent with: its generation (for a
	 * 401) and its expiry (for the answer, whatever became of it). */
	uint64_t sent_generation;
	int64_t sent_expires_at;
	bool token_only; /* brokerd --ready: the token's metadata, no Graph call */
	/* Paging (max_pages over 1): the execution merged so far, the pages
	 * and body bytes it holds. */
	struct json_object *paged;
	int pages;
	size_t page_bytes;
	/* The caller tokend verified itself (req.caller points here when
	 * there is one): policy's per-caller rules look at it. */
	struct req_caller caller;
	struct exec *next;
};

struct tokend {
	struct config cfg;
	struct ipc_chan broker;	 /* fd 3 */
	struct ipc_chan secretd; /* fd 4 */
	struct token_cache cache;
	struct exec *calls;
	uint64_t next_mint_id;
	uint64_t graph_seq;
	CURLM *multi;
	struct buf ca_bundle; /* system CAs plus MCP_AUTH_BROKER_CA_FILE, read before the sandbox */
	void *ca_store;	      /* ca_bundle parsed (an X509_STORE, http.c), or NULL */
	bool ca_store_failed; /* it could not be made: a TLS connection fails */
	/* HTTP callers' API keys (AUTH_MODE api_key, hybrid), read at start. */
	struct api_keys keys;
	/* OAuth callers (jwks.c): the issuer's key set and the one before it. */
	struct jwks jwks;
	struct jwks jwks_prev;
	struct xfer *jwks_xfer;	    /* a fetch in flight */
	int64_t jwks_due_ms;	    /* next fetch, or -1 */
	int64_t jwks_last_demand_ms; /* the last fetch brokerd asked for; -1: none */
	bool jwks_demanded;	     /* the next fetch is one brokerd asked for */
	struct msg_token_stats stats; /* brokerd's GET /metrics (MSG_TOKEN_STATS) */
};

/* main.c: answers and resumption */
/* Answers with the token's metadata and execution (NULL: token_only). */
void exec_answer(struct tokend *td, struct exec *x, struct json_object *execution);
void exec_fail(struct tokend *td, struct exec *x, enum err_code code, const char *msg);
/* Tells brokerd the call waits on a retry (MSG_PROGRESS); no answer yet. */
void exec_progress(struct tokend *td, struct exec *x, const char *message, int64_t retry_in_ms);
/* The login for e finished: code ERR_NONE and the token stored, or a failure. */
void mint_done(struct tokend *td, struct token_entry *e, enum err_code code, const char *msg,
    long retry_after_s, const char *failure_sig);
/* The login endpoint refused the secret: ask secretd for a fresh one, once. */
bool mint_retry_with_fresh_secret(struct tokend *td, struct token_entry *e);
/* Asks secretd for the secret again (a retried managed-identity request). */
void mint_ask_secret(struct tokend *td, struct token_entry *e, bool fresh);

/* http.c: transfers on the curl multi handle */
struct xfer {
	CURL *easy;
	void (*done)(struct tokend *td, struct xfer *x, CURLcode rc);
	void *owner;
	struct curl_slist *headers; /* wiped before release: one holds the token */
	struct curl_slist *resolve; /* CURLOPT_RESOLVE pins, or NULL */
	char *post;		    /* wiped before release: may hold the secret */
	size_t post_len;
	struct buf body;
	size_t max_body;
	bool too_big;
	long status;
	char request_id[128];
	char client_request_id[128];
	char retry_after[32];
	char content_type[128];
	char location[4096]; /* a redirect's target (download URLs run long) */
};

void http_init(struct tokend *td);
void http_cleanup(struct tokend *td);
struct xfer *xfer_new(struct tokend *td, const char *url, long timeout_ms, size_t max_body,
    void (*done)(struct tokend *, struct xfer *, CURLcode), void *owner);
/* Adds a request header; the string is wiped when the transfer is freed. */
void xfer_header(struct xfer *x, const char *line);
/* Takes ownership of body (malloc'd), which is wiped when the transfer is freed. */
void xfer_post(struct xfer *x, const char *method, char *body, size_t len);
void xfer_start(struct tokend *td, struct xfer *x);
void xfer_abort(struct tokend *td, struct xfer *x);
/* Runs curl and calls the done callback of each finished transfer. */
void http_run(struct tokend *td);
/* Seconds from a Retry-After value (delta-seconds only); -1 if absent or bad. */
long retry_after_seconds(const char *value);
/* curl's header callback (arg: the struct xfer): keeps the response headers
 * brokerd may see.  Exposed for the fuzzer, which feeds it Graph's lines. */
size_t xfer_on_header(char *p, size_t size, size_t n, void *arg);

/* oauth.c: client credentials against the login endpoint */
void oauth_start(struct tokend *td, struct token_entry *e, const unsigned char *secret, size_t len);
/* Exposed for tests and the fuzzer: classify a login endpoint answer. */
enum err_code oauth_parse(long status, const char *body, size_t len, char **token, long *expires_in,
    char *token_type, size_t type_len, char *msg, size_t msg_len, char *sig, size_t sig_len);

/* main.c: tells brokerd the counters changed (MSG_TOKEN_STATS). */
void stats_changed(struct tokend *td);

/* jwks.c: the OAuth callers' key set, and a caller's credential checked */
/* 0 and the caller's roles when credential proves requester_id; -1 with
 * why when it does not: *fatal says whether that is a forgery (brokerd
 * broken) or only time (a token that expired on its way). */
int jwks_verify_caller(const struct tokend *td, const struct msg_caller *who,
    const char *requester_id, struct req_caller *out, bool *fatal, const char **why);
void jwks_init(struct tokend *td);
void jwks_refresh_req(struct tokend *td);
void jwks_timers(struct tokend *td);
int64_t jwks_next_deadline(const struct tokend *td);
void jwks_cleanup(struct tokend *td);

/* RFC 6750 b64token, RFC 6749 type-name (at most max long): what an access
 * token and its type must be to make an Authorization line. */
bool oauth_is_b64token(const char *s, size_t len);
bool oauth_is_type_name(const char *s, size_t max);

/* identity.c: tokens from the managed identity endpoint (IMDS, or the App
 * Service / Container Apps agent, whose IDENTITY_HEADER secretd serves as
 * the secret; NULL for IMDS).  Retries 404, 410, 429 and 5xx with back-off
 * (identity_resume at e->login_retry_at_ms) within the provider timeout. */
void identity_start(struct tokend *td, struct token_entry *e, const unsigned char *header,
    size_t len);
/* Exposed for tests and the fuzzer: classify an identity endpoint answer;
 * now is the wall clock (expires_on is absolute). */
enum err_code identity_parse(long status, const char *body, size_t len, int64_t now, char **token,
    long *expires_in, char *token_type, size_t type_len, char *msg, size_t msg_len);

/* claims.c: the roles claim of an access token that is a JWT */
/* true and the roles, space-separated, in out when the token is a JWT with
 * a readable roles claim; false (out empty) otherwise. */
bool claims_roles(const char *token, size_t len, char *out, size_t outsz);
/* The first of scopes (compared case-insensitively) not among roles, or NULL. */
const char *claims_missing_role(const char *roles, const struct strlist *scopes);

/* graph.c: the Graph call */
void graph_start(struct tokend *td, struct exec *x);
/* Whether url's scheme, host and port are resource's, as curl parses both. */
bool graph_url_on_resource(const char *url, const char *resource);
/* Exposed for the fuzzer: a finished Graph answer (status, the response
 * headers kept, the body) as the execution object brokerd gets, or
 * ERR_PROVIDER_BAD_RESPONSE with *why.  Retries are decided before. */
enum err_code graph_parse_answer(const struct msg_graph_meta *g, bool batch, const char *body,
    size_t len, struct json_object **execution, const char **why);

/* paging.c: after a page of a call with max_pages over 1.  True: the next
 * page was started (the page is kept).  False: the call is complete, and
 * *execution is its answer (the pages merged, when there were several). */
bool paging_continue(struct tokend *td, struct exec *x, size_t page_bytes,
    struct json_object **execution);

/* smoke.c: MCP_AUTH_BROKER_ENV=smoke stand-ins for the login endpoint and
 * Graph.  Every call still crosses the real IPC. */
#define SMOKE_EXPIRES_IN 3599 /* what Entra ID answers for app tokens */
#define SMOKE_SLOW_PATH "/beta/smoke/slow"
#define SMOKE_SLOW_MS 1500
/* Answers 429 with Retry-After: 1 to the first attempt, 200 to the next:
 * shows retries and progress notifications. */
#define SMOKE_THROTTLED_PATH "/beta/smoke/throttled"

/* A token derived from the secret and the key, starting "smoke-at-". */
void smoke_mint(const unsigned char *secret, size_t len, const char *tenant, const char *resource,
    char *out, size_t outlen);

struct graph_answer {
	int status;
	struct json_object *body; /* owned */
	long delay_ms;		  /* answer only after this long */
	const char *retry_after;  /* Retry-After header, or NULL */
};

/* attempt counts from 1. */
void smoke_graph(const char *method, const char *path, struct json_object *body, int attempt,
    struct graph_answer *ans);

#endif
