/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* IPC between brokerd, secretd and tokend (DESIGN.md section 2).
 *
 * Stream socketpairs; every message is a fixed header in host byte order
 * followed by `len` payload bytes.  Requests and answers have distinct types;
 * an answer carries the id of its request, so many requests are in flight at
 * once.  A receiver accepts only the types listed for its channel and checks
 * every length: a malformed message from a peer process is a broken invariant
 * (log, exit).  Untrusted MCP input never reaches this code as a message. */
#ifndef MAB_IPC_H
#define MAB_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "buf.h"

/* Descriptors a child finds its channels at after exec. */
#define IPC_FD_PARENT 3 /* to brokerd */
#define IPC_FD_PEER 4	/* secretd <-> tokend */

/* Large enough for a Graph body at the largest MCP_AUTH_BROKER_MAX_RESPONSE_BYTES
 * allowed by config.c plus its JSON envelope; small enough that a broken peer
 * cannot make a receiver allocate without bound. */
#define IPC_MAX_PAYLOAD (16u * 1024u * 1024u)

enum ipc_type {
	/* Payloads: common/msg.h, one codec per type. */
	/* brokerd -> tokend, and answers.  A token_only EXEC_REQ (brokerd
	 * --ready) asks for the token's metadata without a Graph call. */
	MSG_EXEC_REQ = 1,
	MSG_EXEC_ANS,
	MSG_DESCRIBE_REQ,
	MSG_DESCRIBE_ANS,
	/* brokerd -> tokend, empty payload, id of the call to stop: its client
	 * cancelled it or went away.  No answer; an id tokend no longer knows
	 * (the call just completed) is not an error. */
	MSG_CANCEL_REQ,
	/* tokend -> brokerd, id of a call in flight, unsolicited: the call waits
	 * on a retry.  {"message":"...","retry_in_ms":N} */
	MSG_PROGRESS,
	/* tokend -> secretd, and answers (payload of MSG_SECRET_ANS: the raw secret) */
	MSG_SECRET_REQ = 16,
	MSG_SECRET_ANS,
	MSG_SECRET_ERR,
	/* tokend -> secretd, only with a certificate credential: sign a client
	 * assertion {"refresh":bool}; answered by ASSERTION_ANS (the JWT text,
	 * never the key) or SECRET_ERR.  secretd refuses it with any other
	 * credential, and refuses SECRET_REQ with a certificate. */
	MSG_ASSERTION_REQ = 20,
	MSG_ASSERTION_ANS,
	/* 32 and 33 (a status request brokerd never sent) are retired. */
	/* brokerd -> secretd, once, as the very first message when the provider
	 * is 1password: the raw service-account token (empty when secretd reads
	 * it from $CREDENTIALS_DIRECTORY itself).  Refused at any other time. */
	MSG_OP_TOKEN = 34,
	/* secretd -> brokerd, id 0, unsolicited, each time a different secret is
	 * resolved: {"fingerprint":"<16 hex>","provider":"..."}; never the secret. */
	MSG_SECRET_INFO = 35,
	/* secretd -> brokerd, id 0, unsolicited, each time a different
	 * certificate is loaded: its public facts (subject, thumbprints,
	 * expiry), for the operator; never the key. */
	MSG_CERT_INFO = 36,
	/* brokerd -> tokend, id 0, {}: a caller's token names a key brokerd
	 * does not have; tokend fetches the issuer's key set again, at most
	 * every JWKS_REFRESH_MIN_SECONDS, whoever asks. */
	MSG_JWKS_REQ = 44,
	/* tokend -> brokerd, id 0, unsolicited: the issuer's key set as tokend
	 * fetched and filtered it (public signing keys only, bearer.h), at
	 * start and after each refresh that changed it. */
	MSG_JWKS = 45,
	/* tokend -> brokerd, id 0, unsolicited, each time a fetch of the key
	 * set fails: {"error":"<why>"} (a curl error, the issuer's HTTP
	 * status, or why the set was refused), for brokerd --ready's report.
	 * The key set brokerd holds, if any, stays. */
	MSG_JWKS_FAIL = 49,
	/* tokend -> brokerd, id 0, unsolicited, each time one changes: the
	 * token cache's counters since tokend started, for GET /metrics.
	 * One way: brokerd sends tokend nothing for them, so it cannot touch
	 * tokend's state through them. */
	MSG_TOKEN_STATS = 48,
};

struct ipc_hdr {
	uint32_t type;
	uint32_t flags; /* none defined: must be 0 */
	uint64_t id;
	uint32_t len;
	uint32_t reserved; /* must be 0 */
};

struct ipc_msg {
	struct ipc_hdr hdr;
	const unsigned char *data; /* points into the channel's buffer until ipc_done */
};

struct ipc_chan {
	int fd;
	const char *peer; /* for log lines */
	const uint32_t *accept;
	size_t n_accept;
	struct buf in;
	struct buf out;
	int eof;
};

enum ipc_status {
	IPC_OK = 1,
	IPC_NEED_MORE = 0,
	IPC_BAD_LENGTH = -1,
	IPC_BAD_TYPE = -2,
	IPC_BAD_HEADER = -3,
	IPC_TRUNCATED = -4,
};

void ipc_chan_init(struct ipc_chan *c, int fd, const char *peer, const uint32_t *accept,
    size_t n_accept);
void ipc_chan_free(struct ipc_chan *c);

/* Queues a message; -1 if the payload is too long.  Out of memory is fatal. */
int ipc_send(struct ipc_chan *c, uint32_t type, uint64_t id, const void *p, size_t n);
int ipc_send_json(struct ipc_chan *c, uint32_t type, uint64_t id, struct json_object *o);
/* Writes what the socket takes: 0 all sent, 1 more pending, -1 error. */
int ipc_flush(struct ipc_chan *c);
int ipc_pending_out(const struct ipc_chan *c);

/* Reads what is available: >0 bytes read, 0 end of file (sets eof), -1 error,
 * -2 nothing to read now. */
ssize_t ipc_read(struct ipc_chan *c);
/* Decodes the next complete message (enum ipc_status).  On IPC_OK, release
 * the message with ipc_done before the next call. */
int ipc_next(struct ipc_chan *c, struct ipc_msg *m);
void ipc_done(struct ipc_chan *c, const struct ipc_msg *m);
/* Like ipc_next, but a malformed message or a truncated stream is fatal. */
int ipc_next_checked(struct ipc_chan *c, struct ipc_msg *m);

/* The payload as a JSON object, or NULL if it is not one. */
struct json_object *ipc_msg_json(const struct ipc_msg *m);
const char *ipc_status_str(int status);
const char *ipc_type_name(uint32_t type);

#endif
