/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "jsonx.h"
#include "log.h"

void
ipc_chan_init(struct ipc_chan *c, int fd, const char *peer, const uint32_t *accept,
    size_t n_accept)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->peer = peer;
	c->accept = accept;
	c->n_accept = n_accept;
	buf_init(&c->in);
	buf_init(&c->out);
}

void
ipc_chan_free(struct ipc_chan *c)
{
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

int
ipc_send(struct ipc_chan *c, uint32_t type, uint64_t id, const void *p, size_t n)
{
	struct ipc_hdr h;

	if (n > IPC_MAX_PAYLOAD)
		return -1;
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.id = id;
	h.len = (uint32_t)n;
	/* Every caller dies of a -1 anyway; saying why here turns "cannot queue
	 * request to tokend" into what it was (tests/integration/test_faults.py,
	 * RLIMIT_AS). */
	if (buf_reserve(&c->out, sizeof(h) + n) == -1)
		fatalx("out of memory");
	buf_append(&c->out, &h, sizeof(h));
	if (n > 0)
		buf_append(&c->out, p, n);
	return 0;
}

int
ipc_send_json(struct ipc_chan *c, uint32_t type, uint64_t id, struct json_object *o)
{
	size_t n;
	/* jx_text, not json-c directly: a text json-c could not allocate went
	 * out empty or cut short (tests/integration/test_faults.py). */
	const char *s = jx_text(o, &n);

	return ipc_send(c, type, id, s, n);
}

int
ipc_flush(struct ipc_chan *c)
{
	while (buf_avail(&c->out) > 0) {
		ssize_t n = write(c->fd, buf_head(&c->out), buf_avail(&c->out));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

int
ipc_pending_out(const struct ipc_chan *c)
{
	return buf_avail(&c->out) > 0;
}

ssize_t
ipc_read(struct ipc_chan *c)
{
	ssize_t n;

	if (buf_reserve(&c->in, 65536) == -1)
		return -1;
	do
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : -1;
	if (n == 0)
		c->eof = 1;
	c->in.len += (size_t)n;
	return n;
}

static int
ipc_type_accepted(const struct ipc_chan *c, uint32_t type)
{
	for (size_t i = 0; i < c->n_accept; i++)
		if (c->accept[i] == type)
			return 1;
	return 0;
}

int
ipc_next(struct ipc_chan *c, struct ipc_msg *m)
{
	size_t avail = buf_avail(&c->in);

	if (avail < sizeof(struct ipc_hdr))
		return (c->eof && avail > 0) ? IPC_TRUNCATED : IPC_NEED_MORE;
	memcpy(&m->hdr, buf_head(&c->in), sizeof(m->hdr));
	/* Checked before waiting for the payload, so a bogus length is refused
	 * at once rather than buffered. */
	if (m->hdr.flags != 0 || m->hdr.reserved != 0)
		return IPC_BAD_HEADER;
	if (m->hdr.len > IPC_MAX_PAYLOAD)
		return IPC_BAD_LENGTH;
	if (!ipc_type_accepted(c, m->hdr.type))
		return IPC_BAD_TYPE;
	if (avail - sizeof(m->hdr) < m->hdr.len)
		return c->eof ? IPC_TRUNCATED : IPC_NEED_MORE;
	m->data = buf_head(&c->in) + sizeof(m->hdr);
	return IPC_OK;
}

void
ipc_done(struct ipc_chan *c, const struct ipc_msg *m)
{
	buf_consume(&c->in, sizeof(m->hdr) + m->hdr.len);
}

int
ipc_next_checked(struct ipc_chan *c, struct ipc_msg *m)
{
	int st = ipc_next(c, m);

	if (st < 0)
		fatalx("malformed message from %s (%s, type %u, length %u)", c->peer,
		    ipc_status_str(st), (unsigned)m->hdr.type, (unsigned)m->hdr.len);
	return st;
}

struct json_object *
ipc_msg_json(const struct ipc_msg *m)
{
	struct json_object *o = jx_parse((const char *)m->data, m->hdr.len, NULL);

	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

const char *
ipc_status_str(int status)
{
	switch (status) {
	case IPC_OK:
		return "ok";
	case IPC_NEED_MORE:
		return "incomplete";
	case IPC_BAD_LENGTH:
		return "payload length over the limit";
	case IPC_BAD_TYPE:
		return "message type not accepted on this channel";
	case IPC_BAD_HEADER:
		return "reserved header fields set";
	case IPC_TRUNCATED:
		return "stream ended inside a message";
	}
	return "unknown status";
}

const char *
ipc_type_name(uint32_t type)
{
	switch (type) {
	case MSG_EXEC_REQ:
		return "EXEC_REQ";
	case MSG_EXEC_ANS:
		return "EXEC_ANS";
	case MSG_DESCRIBE_REQ:
		return "DESCRIBE_REQ";
	case MSG_DESCRIBE_ANS:
		return "DESCRIBE_ANS";
	case MSG_CANCEL_REQ:
		return "CANCEL_REQ";
	case MSG_PROGRESS:
		return "PROGRESS";
	case MSG_SECRET_REQ:
		return "SECRET_REQ";
	case MSG_SECRET_ANS:
		return "SECRET_ANS";
	case MSG_SECRET_ERR:
		return "SECRET_ERR";
	case MSG_OP_TOKEN:
		return "OP_TOKEN";
	case MSG_SECRET_INFO:
		return "SECRET_INFO";
	case MSG_ASSERTION_REQ:
		return "ASSERTION_REQ";
	case MSG_ASSERTION_ANS:
		return "ASSERTION_ANS";
	case MSG_CERT_INFO:
		return "CERT_INFO";
	case MSG_JWKS_REQ:
		return "JWKS_REQ";
	case MSG_JWKS:
		return "JWKS";
	case MSG_JWKS_FAIL:
		return "JWKS_FAIL";
	case MSG_TOKEN_STATS:
		return "TOKEN_STATS";
	}
	return "unknown";
}
