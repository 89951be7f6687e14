/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The IPC messages, typed (STYLE.md): one encoder and one validating decoder
 * per message type, used by every sender and every receiver, so no other
 * place builds or reads a message's payload by hand.
 *
 * An encoder queues the message on a channel (out of memory, or a payload
 * over IPC_MAX_PAYLOAD, is fatal: every caller would die of it anyway).  A
 * decoder checks the payload's whole shape (known members only, types,
 * lengths, values from closed sets) and returns 0 and a filled structure, or
 * -1 and a short reason in *why: the receiver treats -1 as a broken
 * invariant (log, exit), except where its comment says otherwise.  What a
 * request means (is it allowed?) is the receiver's to re-check with policy;
 * a decoder only guarantees its shape. */
#ifndef MAB_MSG_H
#define MAB_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "errors.h"
#include "ipc.h"
#include "policy.h"
#include "request.h"

/* ---- EXEC_REQ: brokerd -> tokend --------------------------------------- */
/* A Graph call as policy allowed it: only the headers policy forwards.  A
 * token_only request (brokerd --ready) names a tenant and a resource and
 * asks for the token's metadata, no Graph call. */
/* The credential an authenticated HTTP caller presented, passed on for
 * tokend to verify itself before it applies that caller's rules. */
#define MSG_CREDENTIAL_MAX 12288
struct msg_caller {
	char method[16]; /* "api_key" or "oauth"; "" when there is no caller */
	char *credential; /* the API key or the bearer token; wiped when freed */
};

struct msg_exec_req {
	bool token_only;
	struct graph_request req; /* released with msg_exec_req_free */
	struct msg_caller caller;
};

/* caller: NULL, or the session's authenticated caller. */
void msg_exec_req_send(struct ipc_chan *c, uint64_t id, const struct graph_request *req,
    const struct policy_decision *d, const struct msg_caller *caller);
void msg_exec_req_send_token_only(struct ipc_chan *c, uint64_t id, const char *tenant_id,
    const char *resource, long timeout_ms);
int msg_exec_req_decode(const struct ipc_msg *m, struct msg_exec_req *out, const char **why);
void msg_exec_req_free(struct msg_exec_req *x);

/* ---- token metadata, in EXEC_ANS and DESCRIBE_ANS ---------------------- */
enum msg_token_source { TOKEN_SOURCE_MINTED, TOKEN_SOURCE_CACHE, TOKEN_SOURCE_FALLBACK };

/* The roles claim of a token that is a JWT carrying one, as tokend read
 * it: role names (visible ASCII, no space), space-separated.  Only in a
 * token_only answer (brokerd --ready compares them with the policy). */
#define MSG_ROLES_MAX 4096
#define MSG_ROLE_NAME_MAX 256

struct msg_token_meta {
	enum msg_token_source source;
	char token_type[32];
	char expires_at[32]; /* ISO 8601, UTC */
	bool has_roles;	     /* the token is a JWT with a roles claim */
	char roles[MSG_ROLES_MAX];
};

const char *msg_token_source_name(enum msg_token_source s);
/* As the token object of a tool result: {source, token_type, expires_at}
 * (never the roles). */
struct json_object *msg_token_meta_json(const struct msg_token_meta *t);

/* ---- EXEC_ANS: tokend -> brokerd --------------------------------------- */
/* The longest execution.paging.next_link (and Location header) carried. */
#define MSG_NEXT_LINK_MAX 8191

/* What Graph answered, as tokend keeps it: the status and the response
 * headers brokerd may see (NULL or empty: absent). */
struct msg_graph_meta {
	long status;
	const char *request_id;
	const char *client_request_id;
	const char *retry_after;
	const char *content_type;
	const char *location; /* a redirect's target: data, never followed */
};

/* How the body travels: JSON as JSON, text as a string, an image or other
 * binary content as base64 (execution.body_base64, with its content type). */
enum msg_body_format { BODY_EMPTY, BODY_JSON, BODY_TEXT, BODY_IMAGE, BODY_BINARY, BODY_BATCH };

const char *msg_body_format_name(enum msg_body_format f);

/* Success: the token's metadata and, unless the request was token_only, the
 * execution {http_status, provider_request_id, headers, body}.  Failure: an
 * error code and message. */
struct msg_exec_ans {
	enum err_code code; /* ERR_NONE: success */
	char message[512];
	struct msg_token_meta token;
	int http_status;		/* 0 when there is no execution */
	enum msg_body_format body_format;
	struct json_object *execution; /* owned; NULL when there is none */
};

void msg_exec_ans_send(struct ipc_chan *c, uint64_t id, const struct msg_token_meta *token,
    struct json_object *execution);
/* The same, or -1 (nothing queued) when the encoded answer would exceed
 * IPC_MAX_PAYLOAD: a body within MCP_AUTH_BROKER_MAX_RESPONSE_BYTES can
 * grow past it once escaped or in base64. */
int msg_exec_ans_try_send(struct ipc_chan *c, uint64_t id, const struct msg_token_meta *token,
    struct json_object *execution);
void msg_exec_ans_send_error(struct ipc_chan *c, uint64_t id, enum err_code code,
    const char *message);
int msg_exec_ans_decode(const struct ipc_msg *m, struct msg_exec_ans *out, const char **why);
void msg_exec_ans_free(struct msg_exec_ans *a);
/* The execution object tokend sends.  body (owned): for BODY_JSON any JSON
 * value, for BODY_TEXT a string, for BODY_IMAGE and BODY_BINARY the base64
 * string, for BODY_EMPTY NULL, for BODY_BATCH the array of sub-responses
 * (each {id, status, headers, body_format, body[, body_base64]}: the same
 * formats but batch), sent as execution.responses. */
struct json_object *msg_execution_new(const struct msg_graph_meta *g, enum msg_body_format f,
    struct json_object *body);

/* ---- DESCRIBE_REQ: brokerd -> tokend ----------------------------------- */
void msg_describe_req_send(struct ipc_chan *c, uint64_t id, const char *resource);
/* out: the resource, as given (tokend checks it is an allowed one). */
int msg_describe_req_decode(const struct ipc_msg *m, char *resource, size_t len, const char **why);

/* ---- DESCRIBE_ANS: tokend -> brokerd ----------------------------------- */
enum msg_cache_state { CACHE_STATE_EMPTY, CACHE_STATE_VALID, CACHE_STATE_EXPIRED };

struct msg_describe_ans {
	enum msg_cache_state state;
	char token_type[32];  /* not empty unless state is empty */
	char expires_at[32];
	int64_t expires_in_s;
	bool refreshing;
	bool throttled;
};

void msg_describe_ans_send(struct ipc_chan *c, uint64_t id, const struct msg_describe_ans *a);
int msg_describe_ans_decode(const struct ipc_msg *m, struct msg_describe_ans *out, const char **why);
/* As the cache object of the describe tool's result. */
struct json_object *msg_describe_ans_json(const struct msg_describe_ans *a);

/* ---- CANCEL_REQ: brokerd -> tokend, no payload, no answer -------------- */
void msg_cancel_req_send(struct ipc_chan *c, uint64_t id);
int msg_cancel_req_decode(const struct ipc_msg *m, const char **why);

/* ---- PROGRESS: tokend -> brokerd, a call waits on a retry -------------- */
struct msg_progress {
	char message[160];
	int64_t retry_in_ms;
};

void msg_progress_send(struct ipc_chan *c, uint64_t id, const char *message, int64_t retry_in_ms);
int msg_progress_decode(const struct ipc_msg *m, struct msg_progress *out, const char **why);

/* ---- SECRET_REQ: tokend -> secretd ------------------------------------- */
/* refresh: the login endpoint rejected the secret.  A payload that is not
 * a JSON object is -1 (fatal); one that names anything else is -2: secretd
 * refuses it (an answer, not an exit), since a request for another
 * reference is exactly what it exists to refuse. */
void msg_secret_req_send(struct ipc_chan *c, uint64_t id, bool refresh);
int msg_secret_req_decode(const struct ipc_msg *m, bool *refresh, const char **why);

/* ---- SECRET_ANS: secretd -> tokend: the raw secret, never empty -------- */
void msg_secret_ans_send(struct ipc_chan *c, uint64_t id, const unsigned char *p, size_t n);
int msg_secret_ans_decode(const struct ipc_msg *m, const char **why);

/* ---- SECRET_ERR: secretd -> tokend or brokerd -------------------------- */
struct msg_error {
	enum err_code code;
	char message[512];
};

void msg_secret_err_send(struct ipc_chan *c, uint64_t id, enum err_code code, const char *message);
int msg_secret_err_decode(const struct ipc_msg *m, struct msg_error *out, const char **why);

/* ---- OP_TOKEN: brokerd -> secretd, once, first: the raw 1Password token
 * (empty: secretd reads it from $CREDENTIALS_DIRECTORY itself) ---------- */
void msg_op_token_send(struct ipc_chan *c, const unsigned char *p, size_t n);
int msg_op_token_decode(const struct ipc_msg *m, const char **why);

/* ---- SECRET_INFO: secretd -> brokerd, id 0: which secret is current ---- */
struct msg_secret_info {
	char fingerprint[17]; /* 16 hex digits */
	char provider[16];
};

void msg_secret_info_send(struct ipc_chan *c, const char *fingerprint, const char *provider);
int msg_secret_info_decode(const struct ipc_msg *m, struct msg_secret_info *out, const char **why);

/* ---- ASSERTION_REQ: tokend -> secretd (certificate credential) --------- */
/* refresh: the login endpoint rejected the last assertion (the certificate
 * may have been rotated).  Decoding as SECRET_REQ: -1 not a JSON object
 * (fatal), -2 names anything else (refused with an answer). */
void msg_assertion_req_send(struct ipc_chan *c, uint64_t id, bool refresh);
int msg_assertion_req_decode(const struct ipc_msg *m, bool *refresh, const char **why);

/* ---- ASSERTION_ANS: secretd -> tokend: a signed client assertion ------- */
/* A compact JWS: three base64url parts joined by dots, at most this long. */
#define MSG_ASSERTION_MAX 8192
void msg_assertion_ans_send(struct ipc_chan *c, uint64_t id, const char *jwt, size_t len);
int msg_assertion_ans_decode(const struct ipc_msg *m, const char **why);

/* ---- CERT_INFO: secretd -> brokerd, id 0: the certificate in use ------- */
struct msg_cert_info {
	char subject[256];
	char sha256[65];   /* hex, upper case, as the Azure portal shows */
	char sha1[41];
	char not_after[32]; /* ISO 8601, UTC */
	int64_t not_after_unix;
};

void msg_cert_info_send(struct ipc_chan *c, const struct msg_cert_info *ci);
int msg_cert_info_decode(const struct ipc_msg *m, struct msg_cert_info *out, const char **why);

/* ---- JWKS_REQ: brokerd -> tokend; JWKS: tokend -> brokerd --------------- */
struct jwks;
void msg_jwks_req_send(struct ipc_chan *c);
int msg_jwks_req_decode(const struct ipc_msg *m, const char **why);
/* The key set's public text (jwks->text); decoded into a usable set. */
void msg_jwks_send(struct ipc_chan *c, const struct jwks *k);
int msg_jwks_decode(const struct ipc_msg *m, struct jwks *out, const char **why);
/* ---- JWKS_FAIL: tokend -> brokerd, id 0: a fetch of the key set failed - */
/* Why, in a few words (no body of the issuer's answer): at most this long. */
#define MSG_JWKS_FAIL_MAX 256
void msg_jwks_fail_send(struct ipc_chan *c, const char *why_failed);
int msg_jwks_fail_decode(const struct ipc_msg *m, char *out, size_t len, const char **why);
/* ---- TOKEN_STATS: tokend -> brokerd, id 0: the token cache's counters -- */
/* Counts since tokend started: calls served from the cache, logins that
 * stored a token, logins that failed, and fetches of the OAuth issuer's
 * key set.  Never a token, a key or a resource. */
struct msg_token_stats {
	int64_t cache_hits;
	int64_t mints;
	int64_t mint_failures;
	int64_t jwks_refreshes;
};

void msg_token_stats_send(struct ipc_chan *c, const struct msg_token_stats *s);
int msg_token_stats_decode(const struct ipc_msg *m, struct msg_token_stats *out, const char **why);

#endif
