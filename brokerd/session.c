/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* An MCP session: newline-delimited JSON-RPC on a pair of descriptors (stdio,
 * or one unix-socket peer).  Input is split into lines with a size limit;
 * output is buffered and written as the peer takes it.  The same limits hold
 * for every session: a line over MCP_AUTH_BROKER_MAX_MESSAGE_BYTES is refused
 * and skipped, at most MCP_AUTH_BROKER_MAX_INFLIGHT calls are in flight, and a
 * peer that does not read its answers stops being read.
 *
 * What a session holds is bounded by configuration, not by its client: its
 * unread answers by MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES (an answer of a
 * call already in flight that would go past it is replaced by a small error,
 * tools.c), and a unix-socket session idle for
 * MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS is closed.  The stdio session
 * has no idle timeout: it is the spawner's one session and ends at end of
 * input. */
#include "buildconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <unistd.h>

#include "audit.h"
#include "brokerd.h"
#include "jsonx.h"
#include "log.h"
#include "proc.h"
#include "timeutil.h"

struct session *
session_new(struct broker *b, enum session_transport t, int in_fd, int out_fd)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		fatalx("out of memory");
	s->id = ++b->next_session_id;
	s->transport = t;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->peer_uid = getuid(); /* the caller sets a socket peer's */
	s->max_output = (size_t)b->cfg.session_max_output_bytes;
	s->last_active_ms = mono_ms();
	buf_init(&s->in);
	buf_init(&s->out);
	if (t != SESSION_HTTP && (proc_set_nonblock(in_fd) == -1 || proc_set_nonblock(out_fd) == -1))
		fatal("fcntl(O_NONBLOCK) on the client's descriptors");
	s->next = b->sessions;
	b->sessions = s;
	b->n_sessions++;
	return s;
}

void
session_close(struct broker *b, struct session *s)
{
	tools_drop_session(b, s);
	for (struct session **pp = &b->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			b->n_sessions--;
			break;
		}
	}
	if (s->transport == SESSION_UNIX)
		close(s->in_fd);
	if (s->http_slot != NULL) /* its request is answered 503 (http.c) */
		*s->http_slot = NULL;
	log_info("session %u closed%s", s->id,
	    s->peer_gone || s->out_broken ? " (the peer went away)" : "");
	buf_free(&s->in);
	buf_free(&s->out);
	if (s->credential != NULL) {
		sodium_memzero(s->credential, strlen(s->credential));
		free(s->credential);
	}
	free(s);
}

size_t
session_out_room(const struct session *s)
{
	return buf_avail(&s->out) < s->max_output ? s->max_output - buf_avail(&s->out) : 0;
}

void
session_send(struct session *s, struct json_object *o)
{
	size_t len;
	const char *text;

	if (s->out_broken)
		return;
	/* Plain output never contains a raw newline, so one message is one line. */
	/* jx_text: json-c's own text could come out empty or cut short under
	 * memory pressure (tests/integration/test_faults.py). */
	text = jx_text(o, &len);
	if (buf_append(&s->out, text, len) == -1 || buf_append(&s->out, "\n", 1) == -1)
		fatalx("out of memory");
	s->last_active_ms = mono_ms();
}

/* A part as it will be written: escaped, each quote and backslash gains a
 * backslash and a control character (never in json-c's output) becomes
 * \u00XX, which makes valid JSON string content of any JSON text.  How many
 * bytes each byte grows by, from a table: the structured text (a Graph body
 * of any size) goes through here once per tool result. */
static unsigned char part_grow[256];

static void
part_grow_init(void)
{
	if (part_grow['"'] != 0)
		return;
	for (int c = 0; c < 0x20; c++)
		part_grow[c] = 5;
	part_grow['"'] = part_grow['\\'] = 1;
}

static size_t
part_len(const struct out_part *p)
{
	const unsigned char *in = (const unsigned char *)p->p;
	size_t n = p->len;

	if (p->escape) {
		part_grow_init();
		for (size_t i = 0; i < p->len; i++)
			n += part_grow[in[i]];
	}
	return n;
}

/* Writes p at out (part_len bytes are there); returns how many it wrote.
 * Runs of bytes that need no escape are copied whole. */
static size_t
part_write(unsigned char *out, const struct out_part *p)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *in = (const unsigned char *)p->p, *end = in + p->len, *run;
	unsigned char *start = out;

	if (!p->escape) {
		memcpy(out, in, p->len);
		return p->len;
	}
	part_grow_init();
	while (in < end) {
		for (run = in; in < end && part_grow[*in] == 0; in++)
			;
		memcpy(out, run, (size_t)(in - run));
		out += in - run;
		if (in == end)
			break;
		if (*in == '"' || *in == '\\') {
			*out++ = '\\';
			*out++ = *in;
		} else {
			memcpy(out, "\\u00", 4);
			out[4] = (unsigned char)hex[*in >> 4];
			out[5] = (unsigned char)hex[*in & 0xf];
			out += 6;
		}
		in++;
	}
	return (size_t)(out - start);
}

int
session_send_parts(struct session *s, const struct out_part *parts, size_t n, bool capped)
{
	size_t total = 1, at; /* the newline */

	if (s->out_broken)
		return 0;
	for (size_t i = 0; i < n; i++)
		total += part_len(&parts[i]);
	if (capped && total > session_out_room(s))
		return -1;
	if (buf_reserve(&s->out, total) == -1)
		fatalx("out of memory");
	at = s->out.len;
	for (size_t i = 0; i < n; i++)
		at += part_write(s->out.data + at, &parts[i]);
	s->out.data[at] = '\n';
	s->out.len = at + 1;
	s->last_active_ms = mono_ms();
	return 0;
}

size_t
session_out_mark(const struct session *s)
{
	return s->out.len;
}

void
session_out_rewind(struct session *s, size_t mark)
{
	if (mark < s->out.off || mark > s->out.len)
		fatalx("session output rewound past what was flushed");
	memset(s->out.data + mark, 0, s->out.len - mark);
	s->out.len = mark;
}

int
session_flush(struct session *s)
{
	if (s->transport == SESSION_HTTP) /* http.c takes its output */
		return 0;
	while (buf_avail(&s->out) > 0 && !s->out_broken) {
		ssize_t n = write(s->out_fd, buf_head(&s->out), buf_avail(&s->out));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n == -1) {
			log_warn("session %u: client output closed", s->id);
			s->out_broken = true;
			return -1;
		}
		buf_consume(&s->out, (size_t)n);
		s->last_active_ms = mono_ms();
	}
	/* A block that held a large answer is given back once it is written:
	 * kept, every session that ever got one would hold megabytes. */
	if (buf_avail(&s->out) == 0 && s->out.cap > SESSION_OUT_KEEP)
		buf_free(&s->out);
	return 0;
}

/* Whether the client has left so much unread that its input waits. */
static bool
session_out_full(const struct session *s)
{
	return buf_avail(&s->out) >= SESSION_OUT_HIGH_WATER || session_out_room(s) == 0;
}

bool
session_wants_input(const struct broker *b, const struct session *s)
{
	return !s->in_eof && !s->peer_gone && !s->out_broken && !b->stopping &&
	    !session_out_full(s) && s->inflight < (size_t)b->cfg.max_inflight;
}

/* Done when the client has said all it will and everything it asked for is
 * answered and written, or at once when nobody is left to read the answers. */
bool
session_done(const struct session *s)
{
	if (s->transport == SESSION_HTTP) /* http.c ends it with its request */
		return false;
	if (s->peer_gone || s->out_broken)
		return true;
	return s->in_eof && s->inflight == 0 && buf_avail(&s->in) == 0 && buf_avail(&s->out) == 0;
}

/* Whether another buffered line may be handled now: not past the cap on
 * calls in flight, and not while answers pile up unread (a line such as
 * tools/list turns a few bytes of input into kilobytes of output). */
static bool
session_may_handle(const struct broker *b, const struct session *s)
{
	return s->inflight < (size_t)b->cfg.max_inflight && !session_out_full(s) &&
	    !s->peer_gone && !s->out_broken;
}

/* ---- idle sessions ----------------------------------------------------- */

/* A peer that connects and sends nothing would hold its slot (and its uid's
 * share, MCP_AUTH_BROKER_MAX_SESSIONS_PER_UID) for ever.  A call in flight
 * is not idleness, however long tokend takes; neither is a client slowly
 * reading a large answer, since every write counts as activity. */
bool
session_idle(const struct broker *b, const struct session *s, int64_t now)
{
	return s->transport == SESSION_UNIX && s->inflight == 0 && !b->stopping &&
	    now - s->last_active_ms >= b->cfg.session_idle_timeout_s * 1000;
}

int64_t
session_idle_deadline(const struct broker *b)
{
	int64_t next = -1, t;

	if (b->stopping) /* session_idle is false then: a past deadline would spin */
		return -1;
	for (const struct session *s = b->sessions; s != NULL; s = s->next) {
		if (s->transport != SESSION_UNIX || s->inflight > 0)
			continue;
		t = s->last_active_ms + b->cfg.session_idle_timeout_s * 1000;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

void
session_close_idle(struct broker *b, struct session *s)
{
	struct json_object *rec = json_object_new_object();

	log_info("session %u: idle for %ld s (MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS), closing",
	    s->id, b->cfg.session_idle_timeout_s);
	jx_add_int(rec, "session", s->id);
	jx_add_str(rec, "transport", "unix");
	jx_add_int(rec, "peer_uid", (int64_t)s->peer_uid);
	jx_add_int(rec, "peer_pid", (int64_t)s->peer_pid);
	jx_add_str(rec, "reason", "idle");
	audit_write("session_closed", rec);
	json_object_put(rec);
	session_close(b, s);
}

static void
session_line(struct broker *b, struct session *s, const unsigned char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	mcp_handle_line(b, s, (const char *)p, len);
}

/* Hands every complete line to mcp; a line over the limit is answered once
 * and the rest of it skipped up to its newline.  Stops while the session has
 * its maximum of calls in flight: the rest waits in the buffer. */
void
session_process(struct broker *b, struct session *s)
{
	size_t max = (size_t)b->cfg.max_message_bytes;

	if (b->stopping) { /* shutting down: what was not handled yet never will be */
		buf_consume(&s->in, buf_avail(&s->in));
		return;
	}
	while (buf_avail(&s->in) > 0 && session_may_handle(b, s)) {
		const unsigned char *head = buf_head(&s->in);
		size_t avail = buf_avail(&s->in);
		const unsigned char *nl = memchr(head, '\n', avail);
		size_t len = nl ? (size_t)(nl - head) : avail;

		if (s->discarding || len > max) {
			if (!s->discarding)
				mcp_send_error(s, NULL, -32600, "Invalid Request",
				    "message longer than MCP_AUTH_BROKER_MAX_MESSAGE_BYTES");
			s->discarding = (nl == NULL);
			buf_consume(&s->in, nl ? len + 1 : len);
			continue;
		}
		if (nl == NULL) {
			if (s->in_eof) /* a last line without its newline still counts */
				session_line(b, s, head, len);
			if (s->in_eof)
				buf_consume(&s->in, len);
			return;
		}
		session_line(b, s, head, len);
		buf_consume(&s->in, len + 1);
	}
}

int
session_read(struct broker *b, struct session *s)
{
	ssize_t n;

	if (buf_reserve(&s->in, 65536) == -1)
		fatalx("out of memory");
	do
		n = read(s->in_fd, s->in.data + s->in.len, s->in.cap - s->in.len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	if (n == -1 && errno == ECONNRESET && s->transport == SESSION_UNIX)
		s->peer_gone = true;
	if (n <= 0) {
		if (n == -1 && !s->peer_gone)
			log_warn("session %u: read from client", s->id);
		s->in_eof = true;
	} else {
		s->in.len += (size_t)n;
		s->last_active_ms = mono_ms();
	}
	session_process(b, s);
	return !s->in_eof;
}
