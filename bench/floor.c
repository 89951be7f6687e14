/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The floor: what the kernel alone costs.  A line of the size of an execute
 * request goes over socketpairs to an echo process and back; with more
 * hops it passes relay processes that only copy bytes, as brokerd relays a
 * call to tokend.  1 hop: client <-> echo.  3 hops: client <-> relay <->
 * relay <-> echo, every process on its own socketpair; a tool call crosses
 * two (client <-> brokerd <-> tokend) plus the work, so the 3-hop floor
 * leaves it a process of slack. */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#define MAX_HOPS 8

/* Writes all of data; blocking is safe here because the window keeps what is
 * in flight (64 lines of a few hundred bytes) far below a socketpair's
 * buffer, so two relays never wait on each other's full buffer. */
static int
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void __attribute__((noreturn))
echo_loop(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write_all(fd, buf, (size_t)n) == -1)
			break;
	_exit(0);
}

/* Copies bytes up and down until either side ends. */
static void __attribute__((noreturn))
relay_loop(int up, int down)
{
	struct pollfd pfd[2] = { { up, POLLIN, 0 }, { down, POLLIN, 0 } };
	char buf[65536];
	int i;

	for (;;) {
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			_exit(1);
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if ((n = read(pfd[i].fd, buf, sizeof(buf))) <= 0)
				_exit(0);
			if (write_all(pfd[1 - i].fd, buf, (size_t)n) == -1)
				_exit(1);
		}
	}
}

static void
close_others(int sp[][2], int hops, int keep1, int keep2)
{
	int h, j;

	for (h = 0; h < hops; h++)
		for (j = 0; j < 2; j++)
			if (sp[h][j] != keep1 && sp[h][j] != keep2)
				close(sp[h][j]);
}

/* Forks the chain, process h on pair h's far end (and pair h+1's near end
 * when it relays); returns the client's end.  Every process closes what it
 * does not use, so the client's close ends the whole chain. */
static int
chain_start(int hops, pid_t *pids)
{
	int sp[MAX_HOPS][2], h;

	for (h = 0; h < hops; h++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp[h]) == -1)
			fatal("socketpair");
	for (h = 0; h < hops; h++) {
		if ((pids[h] = fork()) == -1)
			fatal("fork");
		if (pids[h] != 0)
			continue;
		if (h == hops - 1) {
			close_others(sp, hops, sp[h][1], -1);
			echo_loop(sp[h][1]);
		}
		close_others(sp, hops, sp[h][1], sp[h + 1][0]);
		relay_loop(sp[h][1], sp[h + 1][0]);
	}
	close_others(sp, hops, sp[0][0], -1);
	return sp[0][0];
}

/* "<id> xxxx...\n" of exactly msg_size bytes. */
static size_t
floor_make(const void *ctx, long id, char *b, size_t cap)
{
	size_t size = *(const size_t *)ctx;
	int n = snprintf(b, cap, "%ld ", id);

	if (n < 0 || size > cap || (size_t)n >= size)
		fatalx("floor message size %zu too small or too large", size);
	memset(b + n, 'x', size - (size_t)n - 1);
	b[size - 1] = '\n';
	return size;
}

static long
floor_id_of(const char *line, size_t len)
{
	(void)len;
	return strtol(line, NULL, 10);
}

static int
floor_check(const void *ctx, const char *line, size_t len)
{
	return len + 1 == *(const size_t *)ctx && line[len - 1] == 'x' ? 0 : -1;
}

int
floor_run(int hops, size_t msg_size, long calls, long window, struct lat *out)
{
	pid_t pids[MAX_HOPS];
	struct load_spec s = { .calls = calls, .window = window, .make = floor_make,
		.id_of = floor_id_of, .check = floor_check, .ctx = &msg_size };
	int fd, rc, h;

	if (hops < 1 || hops > MAX_HOPS)
		fatalx("hops %d out of range", hops);
	fd = chain_start(hops, pids);
	s.wfd = s.rfd = fd;
	/* Warm-up, as the MCP runs have: the first calls fault pages in. */
	s.calls = calls < 1000 ? calls : 1000;
	rc = load_run(&s, out);
	s.calls = calls;
	if (rc == 0)
		rc = load_run(&s, out);
	close(fd);
	for (h = 0; h < hops; h++)
		waitpid(pids[h], NULL, 0);
	return rc;
}
