/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* brokerd --connect PATH: the stdio end an MCP spawner launches, joined to a
 * brokerd listening on PATH.  Bytes pass through unchanged both ways.  It
 * reads no configuration and holds no secret: the broker's identity checks
 * happen at the other end, on this process's credentials.  When the client
 * closes stdin the end is passed on (shutdown) and the bridge exits once
 * brokerd has answered what was in flight and closed; when brokerd closes,
 * or the client stops listening, it exits at once. */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "proc.h"

/* A side that does not read stops the other being read beyond this. */
#define BRIDGE_BUF_MAX (1u * 1024u * 1024u)
#define EX_UNAVAILABLE_STATUS 69
/* The socket is there but this user may not open it: a matter of groups,
 * not of a server that is down, so a status of its own (sysexits'
 * EX_NOPERM). */
#define EX_NOPERM_STATUS 77

struct pipe_dir {
	int from, to;
	struct buf buf;
	bool eof;    /* from ended */
	bool broken; /* to cannot be written */
};

/* Why the bridge could not connect, and what the operator can do about it:
 * the MCP client shows this line and nothing else. */
static void __attribute__((noreturn))
bridge_connect_failed(const char *path, int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		log_error("--connect %s: permission denied: this user may not open the socket; "
			  "add the user to the socket's group (MCP_AUTH_BROKER_SOCKET_GROUP, or "
			  "SocketGroup= of the socket unit) and log in again",
		    path);
		exit(EX_NOPERM_STATUS);
	case ENOENT:
		log_error("--connect %s: no such socket: is brokerd --listen (or the socket unit) "
			  "running, and is this its path?",
		    path);
		break;
	case ECONNREFUSED:
		log_error("--connect %s: nothing listens there: start brokerd --listen or the "
			  "socket unit (a stale socket file remains from one that stopped)",
		    path);
		break;
	default:
		log_error("--connect %s: %s", path, strerror(err));
		break;
	}
	exit(EX_UNAVAILABLE_STATUS);
}

static int
bridge_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("--connect %s: path too long for a unix socket", path);
		exit(EX_UNAVAILABLE_STATUS);
	}
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		bridge_connect_failed(path, errno);
	return fd;
}

static void
bridge_read(struct pipe_dir *d)
{
	ssize_t n;

	if (buf_reserve(&d->buf, 65536) == -1)
		fatalx("out of memory");
	do
		n = read(d->from, d->buf.data + d->buf.len, d->buf.cap - d->buf.len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0)
		d->eof = true;
	else
		d->buf.len += (size_t)n;
}

static void
bridge_write(struct pipe_dir *d)
{
	while (buf_avail(&d->buf) > 0) {
		ssize_t n = write(d->to, buf_head(&d->buf), buf_avail(&d->buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			d->broken = true;
			return;
		}
		buf_consume(&d->buf, (size_t)n);
	}
}

static bool
bridge_wants_read(const struct pipe_dir *d)
{
	return !d->eof && buf_avail(&d->buf) < BRIDGE_BUF_MAX;
}

static void
bridge_poll_setup(struct pipe_dir *up, struct pipe_dir *down, struct pollfd *p)
{
	bool sock_in = bridge_wants_read(down), sock_out = buf_avail(&up->buf) > 0;

	p[0] = (struct pollfd){ bridge_wants_read(up) ? up->from : -1, POLLIN, 0 };
	p[1] = (struct pollfd){ sock_in || sock_out ? up->to : -1,
		(short)((sock_in ? POLLIN : 0) | (sock_out ? POLLOUT : 0)), 0 };
	/* Watched even with nothing to write: an error means the client left. */
	p[2] = (struct pollfd){ down->to, buf_avail(&down->buf) ? POLLOUT : 0, 0 };
}

static void __attribute__((noreturn))
bridge_loop(struct pipe_dir *up, struct pipe_dir *down)
{
	struct pollfd p[3];
	bool shut = false;

	for (;;) {
		bridge_poll_setup(up, down, p);
		if (poll(p, 3, -1) == -1 && errno != EINTR)
			fatal("poll");
		if (p[0].revents)
			bridge_read(up);
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && bridge_wants_read(down))
			bridge_read(down);
		bridge_write(up);
		bridge_write(down);
		if (up->broken) { /* brokerd is gone: deliver what it said, then go */
			up->eof = true;
			buf_consume(&up->buf, buf_avail(&up->buf));
		}
		/* The client said all it will: pass the end on, keep relaying. */
		if (up->eof && buf_avail(&up->buf) == 0 && !shut) {
			shutdown(up->to, SHUT_WR);
			shut = true;
		}
		if (down->broken || (p[2].revents & (POLLERR | POLLHUP)))
			exit(0); /* the client stopped listening */
		if (down->eof && buf_avail(&down->buf) == 0)
			exit(0); /* brokerd closed, and everything it said is out */
	}
}

int
bridge_main(const char *path)
{
	struct pipe_dir up, down;
	int sock;

	proc_harden("brokerd");
	signal(SIGPIPE, SIG_IGN);
	sock = bridge_connect(path);
	memset(&up, 0, sizeof(up));
	memset(&down, 0, sizeof(down));
	up.from = STDIN_FILENO;
	up.to = sock;
	down.from = sock;
	down.to = STDOUT_FILENO;
	buf_init(&up.buf);
	buf_init(&down.buf);
	if (proc_set_nonblock(STDIN_FILENO) == -1 || proc_set_nonblock(STDOUT_FILENO) == -1 ||
	    proc_set_nonblock(sock) == -1)
		fatal("fcntl(O_NONBLOCK)");
	bridge_loop(&up, &down);
}
