/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* A child on pipes (brokerd, or the TLS mock).  brokerd runs the way an MCP
 * client spawns it: its stdin and stdout are ours, its stderr (logs and the
 * audit trail) goes to BENCH_BROKERD_LOG or /dev/null, and its environment
 * is only what the run configures. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#define MAX_ENV	 32
#define MAX_ARGV 32

static void
build_env(const struct bench_env *env, char **envp, char *libexec, size_t cap)
{
	static char path[] = "PATH=/usr/bin:/bin";
	static char smoke[] = "MCP_AUTH_BROKER_ENV=smoke";
	size_t n = 0, i;

	snprintf(libexec, cap, "MCP_AUTH_BROKER_LIBEXECDIR=%s", env->libexecdir);
	envp[n++] = path;
	envp[n++] = smoke; /* the extras may set another: the last one wins */
	envp[n++] = libexec;
	for (i = 0; env->extra != NULL && env->extra[i] != NULL && n < MAX_ENV - 1; i++)
		envp[n++] = (char *)env->extra[i];
	envp[n] = NULL;
}

static void
build_argv(const struct bench_env *env, char **argv)
{
	size_t n = 0, i;

	for (i = 0; env->wrap != NULL && env->wrap[i] != NULL && n < MAX_ARGV - 2; i++)
		argv[n++] = (char *)env->wrap[i];
	argv[n++] = (char *)env->brokerd;
	argv[n] = NULL;
}

static void __attribute__((noreturn))
child_exec(char *const argv[], char *const envp[], int in, int out)
{
	const char *log = getenv("BENCH_BROKERD_LOG");
	int err = open(log != NULL ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (err == -1 || dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

void
spawn_piped(struct broker *b, char *const argv[], char *const envp[])
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) == -1 || pipe2(from, O_CLOEXEC) == -1)
		fatal("pipe2");
	if ((b->pid = fork()) == -1)
		fatal("fork");
	if (b->pid == 0)
		child_exec(argv, envp, to[0], from[1]);
	close(to[0]);
	close(from[1]);
	b->in = to[1];
	b->out = from[0];
	b->next_id = 1;
}

int
broker_start(struct broker *b, const struct bench_env *env)
{
	char *envp[MAX_ENV], *argv[MAX_ARGV], libexec[4096];

	build_env(env, envp, libexec, sizeof(libexec));
	build_argv(env, argv);
	spawn_piped(b, argv, envp);
	return 0;
}

int
broker_write(struct broker *b, const char *data, size_t len)
{
	while (len > 0) {
		struct pollfd pfd = { b->in, POLLOUT, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 30000) <= 0)
			return -1;
		if ((n = write(b->in, data, len)) == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

/* One byte at a time: only for the few lines outside the load runs, so
 * nothing is read ahead of what load_run will read. */
int
broker_read_line(struct broker *b, char *line, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		struct pollfd pfd = { b->out, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 60000) <= 0)
			return -1;
		if ((r = read(b->out, line + n, 1)) == 0)
			return -1;
		if (r == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (r == 1 && line[n++] == '\n') {
			line[n - 1] = '\0';
			return 0;
		}
	}
	return -1;
}

int
broker_initialize(struct broker *b)
{
	char line[65536];
	int n = snprintf(line, sizeof(line),
	    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"initialize\",\"params\":{"
	    "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":"
	    "{\"name\":\"mab-bench\",\"version\":\"1\"}}}\n",
	    b->next_id++);
	static const char done[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

	if (broker_write(b, line, (size_t)n) == -1 || broker_read_line(b, line, sizeof(line)) == -1)
		return -1;
	if (strstr(line, "\"protocolVersion\"") == NULL) {
		log_warnx("initialize failed: %.300s", line);
		return -1;
	}
	return broker_write(b, done, sizeof(done) - 1);
}

int
broker_load(struct broker *b, const struct call *c, long calls, long window, struct lat *out)
{
	struct load_spec s = { .wfd = b->in, .rfd = b->out, .calls = calls, .window = window,
		.first_id = b->next_id, .make = call_make, .id_of = call_id_of,
		.check = call_check, .ctx = c };

	b->next_id += calls;
	return load_run(&s, out);
}

static int
wait_for(pid_t pid, int seconds, int *status)
{
	int i;

	for (i = 0; i < seconds * 100; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r == -1)
			return -1;
		usleep(10000);
	}
	return -1;
}

int
broker_stop(struct broker *b)
{
	int status = 0;

	close(b->in);
	close(b->out);
	if (wait_for(b->pid, 30, &status) == -1) {
		log_warnx("brokerd %d did not exit at end of input: killing it", (int)b->pid);
		kill(b->pid, SIGKILL);
		waitpid(b->pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
