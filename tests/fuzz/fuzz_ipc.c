/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* libFuzzer harness: the IPC codec on each receiving side.
 *
 * The input is what a peer process could write on a socketpair.  Its first
 * byte picks the receiver (the accept list brokerd, secretd or tokend gives
 * that channel) and its second how the stream arrives: in pieces of that
 * many bytes (0: all at once), each appended to the channel's input buffer
 * as ipc_read does, after which ipc_next is drained the way the event loops
 * drain it.  At the end the stream is marked ended, as on a peer's EOF.
 *
 * Beyond "no crash, no leak, no UB", the codec is checked against a plain
 * re-reading of the same bytes (so buffering, compaction and consumption
 * cannot change what is decoded); every message accepted has a type on the
 * list, zero reserved fields, a length within IPC_MAX_PAYLOAD, lies inside
 * the buffer and encodes back (ipc_send) to exactly the bytes it came from;
 * and its payload goes through the typed decoder of its type (common/msg.c),
 * which every receiver uses. */
#include "buildconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bearer.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"

/* Mirrors of the receivers' accept lists: brokerd/children.c, secretd/main.c
 * and tokend/main.c keep theirs static.  A type added there belongs here. */
static const uint32_t brokerd_from_secretd[] = { MSG_SECRET_ERR, MSG_SECRET_INFO, MSG_CERT_INFO };
static const uint32_t brokerd_from_tokend[] = { MSG_EXEC_ANS, MSG_DESCRIBE_ANS, MSG_PROGRESS,
	MSG_JWKS, MSG_JWKS_FAIL, MSG_TOKEN_STATS };
static const uint32_t secretd_from_broker[] = { MSG_SECRET_REQ, MSG_OP_TOKEN };
static const uint32_t secretd_from_tokend[] = { MSG_SECRET_REQ, MSG_ASSERTION_REQ };
static const uint32_t tokend_from_broker[] = { MSG_EXEC_REQ, MSG_DESCRIBE_REQ,
	MSG_CANCEL_REQ, MSG_JWKS_REQ };
static const uint32_t tokend_from_secretd[] = { MSG_SECRET_ANS, MSG_SECRET_ERR,
	MSG_ASSERTION_ANS };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct receiver {
	const char *name;
	const uint32_t *accept;
	size_t n;
} receivers[] = {
	{ "brokerd<-secretd", brokerd_from_secretd, N(brokerd_from_secretd) },
	{ "brokerd<-tokend", brokerd_from_tokend, N(brokerd_from_tokend) },
	{ "secretd<-brokerd", secretd_from_broker, N(secretd_from_broker) },
	{ "secretd<-tokend", secretd_from_tokend, N(secretd_from_tokend) },
	{ "tokend<-brokerd", tokend_from_broker, N(tokend_from_broker) },
	{ "tokend<-secretd", tokend_from_secretd, N(tokend_from_secretd) },
};

#define HDR ((size_t)sizeof(struct ipc_hdr))

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_ipc", LOG_LEVEL_ERROR);
	return 0;
}

static int
accepted(const struct receiver *r, uint32_t type)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->accept[i] == type)
			return 1;
	return 0;
}

/* What ipc_next must say about the stream s[off..end), read afresh. */
static int
expected_status(const struct receiver *r, const uint8_t *s, size_t off, size_t end, int eof,
    struct ipc_hdr *h)
{
	size_t avail = end - off;

	if (avail < HDR)
		return (eof && avail > 0) ? IPC_TRUNCATED : IPC_NEED_MORE;
	memcpy(h, s + off, HDR);
	if (h->flags != 0 || h->reserved != 0)
		return IPC_BAD_HEADER;
	if (h->len > IPC_MAX_PAYLOAD)
		return IPC_BAD_LENGTH;
	if (!accepted(r, h->type))
		return IPC_BAD_TYPE;
	if (avail - HDR < h->len)
		return eof ? IPC_TRUNCATED : IPC_NEED_MORE;
	return IPC_OK;
}

/* The receiver's decoder for the message's type: a malformed payload is
 * refused (-1, a broken invariant there), and what it accepts is released
 * whole. */
static void
decode_typed(const struct ipc_msg *m)
{
	const char *why = NULL;
	bool refresh;
	char resource[512];

	switch (m->hdr.type) {
	case MSG_EXEC_REQ: {
		struct msg_exec_req x;
		if (msg_exec_req_decode(m, &x, &why) == 0)
			msg_exec_req_free(&x);
		break;
	}
	case MSG_EXEC_ANS: {
		struct msg_exec_ans a;
		if (msg_exec_ans_decode(m, &a, &why) == 0) {
			/* What brokerd relies on when it builds the result. */
			if (a.execution != NULL && (a.http_status < 100 || a.http_status > 599))
				abort();
			msg_exec_ans_free(&a);
		}
		break;
	}
	case MSG_DESCRIBE_REQ:
		(void)msg_describe_req_decode(m, resource, sizeof(resource), &why);
		break;
	case MSG_DESCRIBE_ANS: {
		struct msg_describe_ans a;
		(void)msg_describe_ans_decode(m, &a, &why);
		break;
	}
	case MSG_CANCEL_REQ:
		(void)msg_cancel_req_decode(m, &why);
		break;
	case MSG_PROGRESS: {
		struct msg_progress p;
		(void)msg_progress_decode(m, &p, &why);
		break;
	}
	case MSG_SECRET_REQ:
		(void)msg_secret_req_decode(m, &refresh, &why);
		break;
	case MSG_SECRET_ANS:
		(void)msg_secret_ans_decode(m, &why);
		break;
	case MSG_SECRET_ERR: {
		struct msg_error e;
		(void)msg_secret_err_decode(m, &e, &why);
		break;
	}
	case MSG_OP_TOKEN:
		(void)msg_op_token_decode(m, &why);
		break;
	case MSG_SECRET_INFO: {
		struct msg_secret_info i;
		(void)msg_secret_info_decode(m, &i, &why);
		break;
	}
	case MSG_ASSERTION_REQ:
		(void)msg_assertion_req_decode(m, &refresh, &why);
		break;
	case MSG_ASSERTION_ANS:
		(void)msg_assertion_ans_decode(m, &why);
		break;
	case MSG_CERT_INFO: {
		struct msg_cert_info ci;
		(void)msg_cert_info_decode(m, &ci, &why);
		break;
	}
	case MSG_JWKS_REQ:
		(void)msg_jwks_req_decode(m, &why);
		break;
	case MSG_JWKS: {
		struct jwks k;
		if (msg_jwks_decode(m, &k, &why) == 0)
			jwks_free(&k);
		break;
	}
	case MSG_JWKS_FAIL: {
		char text[MSG_JWKS_FAIL_MAX];
		if (msg_jwks_fail_decode(m, text, sizeof(text), &why) == 0 &&
		    strlen(text) >= sizeof(text))
			abort();
		break;
	}
	case MSG_TOKEN_STATS: {
		struct msg_token_stats ts;
		/* What brokerd prints as counters: never negative. */
		if (msg_token_stats_decode(m, &ts, &why) == 0 &&
		    (ts.cache_hits < 0 || ts.mints < 0 || ts.mint_failures < 0 ||
		        ts.jwks_refreshes < 0))
			abort();
		break;
	}
	default:
		abort(); /* not on any accept list */
	}
}

static void
check_message(struct ipc_chan *c, const struct ipc_msg *m, const uint8_t *s, size_t off)
{
	struct ipc_chan out;

	/* Inside the buffer, and the very bytes of the stream. */
	if (m->data != buf_head(&c->in) + HDR || buf_avail(&c->in) < HDR + m->hdr.len)
		abort();
	if (memcmp(m->data, s + off + HDR, m->hdr.len) != 0)
		abort();
	/* The sender's encoding of this message is the message. */
	ipc_chan_init(&out, -1, "fuzz", NULL, 0);
	if (ipc_send(&out, m->hdr.type, m->hdr.id, m->data, m->hdr.len) != 0)
		abort();
	if (buf_avail(&out.out) != HDR + m->hdr.len ||
	    memcmp(buf_head(&out.out), s + off, HDR + m->hdr.len) != 0)
		abort();
	ipc_chan_free(&out);
	decode_typed(m);
}

/* Drains what is complete; returns 0 once the receiver would have stopped
 * (an error: every receiver treats it as fatal). */
static int
drain(const struct receiver *r, struct ipc_chan *c, const uint8_t *s, size_t *off, size_t end)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	int st, want;

	for (;;) {
		memset(&m, 0, sizeof(m));
		st = ipc_next(c, &m);
		want = expected_status(r, s, *off, end, c->eof, &h);
		if (st != want)
			abort();
		if (st != IPC_OK)
			return st == IPC_NEED_MORE;
		if (memcmp(&m.hdr, &h, HDR) != 0 || !accepted(r, m.hdr.type) ||
		    m.hdr.len > IPC_MAX_PAYLOAD)
			abort();
		check_message(c, &m, s, *off);
		ipc_done(c, &m);
		*off += HDR + m.hdr.len;
		if (buf_avail(&c->in) != end - *off)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct receiver *r;
	struct ipc_chan c;
	size_t chunk, fed = 0, off = 0;
	const uint8_t *s;
	int going = 1;

	if (size < 2)
		return 0;
	r = &receivers[data[0] % N(receivers)];
	chunk = data[1] ? data[1] : (size_t)-1;
	s = data + 2;
	size -= 2;
	ipc_chan_init(&c, -1, r->name, r->accept, r->n);
	while (going && fed < size) {
		size_t n = size - fed < chunk ? size - fed : chunk;

		/* ipc_read reserves this much before each read. */
		if (buf_reserve(&c.in, 65536) == -1 || buf_append(&c.in, s + fed, n) == -1)
			abort();
		fed += n;
		going = drain(r, &c, s, &off, fed);
	}
	if (going) {
		c.eof = 1;
		drain(r, &c, s, &off, fed);
	}
	ipc_chan_free(&c);
	return 0;
}
