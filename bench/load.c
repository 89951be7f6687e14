/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The windowed load loop shared by the floor and the MCP runs: requests are
 * written as soon as the window allows, answers read as they come, each
 * call's latency taken from writing its line to reading its answer. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#define LINE_MAX_BYTES (1 << 20)
#define STALL_MS 60000

struct bytes {
	char *p;
	size_t off, len, cap;
};

struct run {
	const struct load_spec *s;
	struct bytes out, in;
	double *sent_at, *lat_us;
	long sent, done;
	int failed;
};

double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void
lat_finish(struct lat *out, double *lat_us, long n, double secs)
{
	qsort(lat_us, (size_t)n, sizeof(*lat_us), cmp_double);
	out->calls = n;
	out->secs = secs;
	out->per_s = secs > 0 ? (double)n / secs : 0;
	out->p50_us = n > 0 ? lat_us[n / 2] : 0;
	out->p99_us = n > 0 ? lat_us[(n * 99) / 100] : 0;
}

static void
bytes_reserve(struct bytes *b, size_t more)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + more <= b->cap)
		return;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	while (b->len + more > b->cap)
		b->cap = b->cap ? b->cap * 2 : 65536;
	if ((b->p = realloc(b->p, b->cap)) == NULL)
		fatal("realloc");
}

/* Queues requests while the window has room. */
static void
run_fill(struct run *r)
{
	const struct load_spec *s = r->s;

	while (r->sent < s->calls && r->sent - r->done < s->window) {
		bytes_reserve(&r->out, 8192);
		r->out.len += s->make(s->ctx, s->first_id + r->sent, r->out.p + r->out.len, 8192);
		r->sent_at[r->sent++] = now_us();
	}
}

static int
run_write(struct run *r)
{
	ssize_t n = write(r->s->wfd, r->out.p + r->out.off, r->out.len - r->out.off);

	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	r->out.off += (size_t)n;
	return 0;
}

static int
run_answer(struct run *r, const char *line, size_t len)
{
	const struct load_spec *s = r->s;
	long id = s->id_of(line, len), i = id - s->first_id;

	if (id < 0)
		return 0; /* a notification: not an answer */
	if (i < 0 || i >= r->sent || r->lat_us[i] >= 0 || s->check(s->ctx, line, len) == -1) {
		log_warnx("unexpected answer: %.*s", (int)(len > 600 ? 600 : len), line);
		return -1;
	}
	r->lat_us[i] = now_us() - r->sent_at[i];
	r->done++;
	return 0;
}

static int
run_read(struct run *r)
{
	char *nl;
	ssize_t n;

	bytes_reserve(&r->in, 65536);
	n = read(r->s->rfd, r->in.p + r->in.len, r->in.cap - r->in.len);
	if (n == 0) {
		log_warnx("end of answers after %ld of %ld calls", r->done, r->s->calls);
		return -1;
	}
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	r->in.len += (size_t)n;
	while ((nl = memchr(r->in.p + r->in.off, '\n', r->in.len - r->in.off)) != NULL) {
		size_t len = (size_t)(nl - (r->in.p + r->in.off));

		if (run_answer(r, r->in.p + r->in.off, len) == -1)
			return -1;
		r->in.off += len + 1;
	}
	if (r->in.len - r->in.off > LINE_MAX_BYTES)
		return -1;
	return 0;
}

static int
run_step(struct run *r)
{
	struct pollfd pfd[2] = { { r->s->rfd, POLLIN, 0 }, { r->s->wfd, POLLOUT, 0 } };
	int pending = r->out.off < r->out.len;
	int n = poll(pfd, pending ? 2 : 1, STALL_MS);

	if (n == 0) {
		log_warnx("no answer for %d s (%ld of %ld answered)", STALL_MS / 1000, r->done,
		    r->s->calls);
		return -1;
	}
	if (n == -1)
		return errno == EINTR ? 0 : -1;
	if (pending && (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP)) && run_write(r) == -1)
		return -1;
	if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && run_read(r) == -1)
		return -1;
	return 0;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
}

int
load_run(const struct load_spec *s, struct lat *out)
{
	struct run r = { .s = s };
	double start;
	long i;

	r.sent_at = calloc((size_t)s->calls + 1, sizeof(double));
	r.lat_us = calloc((size_t)s->calls + 1, sizeof(double));
	if (r.sent_at == NULL || r.lat_us == NULL)
		fatal("calloc");
	for (i = 0; i < s->calls; i++)
		r.lat_us[i] = -1;
	set_nonblock(s->wfd);
	set_nonblock(s->rfd);
	start = now_us();
	while (!r.failed && r.done < s->calls) {
		run_fill(&r);
		/* Write at once: waiting for poll first would add a wake-up to
		 * every call with one in flight. */
		if (r.out.off < r.out.len && run_write(&r) == -1)
			r.failed = 1;
		else if (run_step(&r) == -1)
			r.failed = 1;
	}
	if (!r.failed)
		lat_finish(out, r.lat_us, s->calls, (now_us() - start) / 1e6);
	free(r.out.p);
	free(r.in.p);
	free(r.sent_at);
	free(r.lat_us);
	return r.failed ? -1 : 0;
}
