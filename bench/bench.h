/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The benchmark (issue 14): a C load generator for brokerd and the floor it
 * is compared with, measured in one run.  Nothing here is part of the
 * product or of `make check`; `make bench` builds and runs it. */
#ifndef MAB_BENCH_H
#define MAB_BENCH_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_NPROCS 3	/* brokerd, secretd, tokend */

/* What one windowed run measured. */
struct lat {
	long calls;
	double secs;   /* first request written to last answer read */
	double per_s;  /* calls / secs */
	double p50_us; /* per-call latency, from writing the request line to
			* reading its answer line */
	double p99_us;
};

/* One windowed run: calls requests, at most window of them unanswered, over
 * a pair of descriptors carrying newline-terminated lines.  make writes the
 * line for request id into b (at most cap bytes, '\n' included) and returns
 * its length; id_of finds the id an answer line answers (-1: not an answer);
 * check says whether that answer is a success (0) or not (-1). */
struct load_spec {
	int wfd, rfd;
	long calls, window, first_id;
	size_t (*make)(const void *ctx, long id, char *b, size_t cap);
	long (*id_of)(const char *line, size_t len);
	int (*check)(const void *ctx, const char *line, size_t len);
	const void *ctx;
};

/* 0, or -1 when an answer was a failure or nothing arrived for 60 s (the
 * offending line, if any, is logged). */
int load_run(const struct load_spec *s, struct lat *out);

/* floor.c: same-size lines bounced over socketpairs through hops-1 relay
 * processes and an echo process. */
int floor_run(int hops, size_t msg_size, long calls, long window, struct lat *out);

/* mcp.c: the JSON-RPC lines the client sends, and their checks. */
enum call_kind { CALL_PING, CALL_DESCRIBE, CALL_EXECUTE };
struct call {
	enum call_kind kind;
	const char *tenant;
	const char *resource;
	long timeout_ms;
};
size_t call_make(const void *ctx, long id, char *b, size_t cap);
long call_id_of(const char *line, size_t len);
int call_check(const void *ctx, const char *line, size_t len);
const char *call_name(enum call_kind kind);

/* broker.c: one brokerd on pipes, speaking MCP. */
struct broker {
	pid_t pid;
	int in, out; /* our ends: brokerd's stdin, its stdout */
	long next_id;
};
struct bench_env {
	const char *brokerd;	  /* staged brokerd */
	const char *libexecdir;	  /* staged secretd and tokend */
	const char *const *extra; /* more NAME=value, NULL-terminated, or NULL */
	const char *const *wrap;  /* argv prefix (valgrind ...), or NULL */
};
int broker_start(struct broker *b, const struct bench_env *env);
/* Runs argv with envp, stdin and stdout on pipes to b, stderr to the log. */
void spawn_piped(struct broker *b, char *const argv[], char *const envp[]);
int broker_initialize(struct broker *b);
/* Sends calls of one kind, window at a time, on a started broker. */
int broker_load(struct broker *b, const struct call *c, long calls, long window,
    struct lat *out);
/* Closes brokerd's stdin and waits for it (killing it after 30 s). */
int broker_stop(struct broker *b);
/* Reads one answer line (for the cold start measures). */
int broker_read_line(struct broker *b, char *line, size_t cap);
int broker_write(struct broker *b, const char *data, size_t len);

/* procstat.c: brokerd's children and what /proc says about a process. */
struct proc_set {
	pid_t pid[BENCH_NPROCS]; /* brokerd, secretd, tokend; 0 if absent */
};
extern const char *const proc_names[BENCH_NPROCS];
void proc_set_find(struct proc_set *ps, pid_t brokerd);
long proc_rss_kib(pid_t pid);
/* utime + stime in microseconds, or -1. */
double proc_cpu_us(pid_t pid);

/* Everything one run measured, for report.c. */
#define N_WINDOWS 3
extern const long bench_windows[N_WINDOWS]; /* 1, 8, 64 in flight */
enum { FLOOR_1HOP, FLOOR_3HOPS, N_FLOORS };
#define N_CALLS 3 /* ping, describe, execute */
#define N_MOCK	3

struct spread {
	double median, min, max; /* milliseconds */
};

struct mock_row {
	const char *what;
	long calls, window;
	long token_requests, handshakes, connections, graph_requests;
	double secs;
	int ok;
};

struct results {
	long calls, warmup, repeat, cold_runs, cg_calls;
	size_t msg_size;
	struct lat floor[N_FLOORS][N_WINDOWS];
	int floor_ok[N_FLOORS][N_WINDOWS];
	struct lat mcp[N_CALLS][N_WINDOWS];
	int mcp_ok[N_CALLS][N_WINDOWS];
	double cpu_us_per_call[N_CALLS][BENCH_NPROCS]; /* at 64 in flight; -1: unknown */
	long rss_kib[BENCH_NPROCS];
	long rss_after_calls;
	struct spread cold_init, cold_exec;
	int cold_ok;
	double insn_per_call[N_CALLS][BENCH_NPROCS]; /* -1: not measured */
	char insn_note[256];
	struct mock_row mock[N_MOCK];
	char mock_note[256];
	char machine[1024];
};

/* cold.c, callgrind.c, tlsmock.c: one section each. */
int cold_measure(const struct bench_env *env, struct results *res);
int callgrind_measure(const char *nosec_stage, struct results *res);
int tlsmock_measure(const struct bench_env *env, const char *srcdir, struct results *res);
/* report.c: the table, to a stream. */
void report_write(FILE *f, const struct results *res);

/* Sorting helpers and clocks. */
double now_us(void);
void lat_finish(struct lat *out, double *lat_us, long n, double secs);

#endif
