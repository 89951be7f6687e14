/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Running `op read` or the command helper: the one place secretd starts a
 * program.
 *
 * The helper gets exactly the environment it is given, /dev/null for stdin,
 * no descriptor of ours, and a process group of its own, so that at the
 * deadline the whole group goes, grandchildren included: a hung `op` must
 * not leave anything behind that still holds the service-account token.
 * stdout (the secret) goes straight into guarded memory; stderr is kept for
 * the error mapping and is logged only after redaction, by the caller.
 *
 * A descendant that leaves the group (setsid) still cannot outlive the run:
 * secretd is a child subreaper (helper_become_subreaper), so when its
 * parent exits it becomes secretd's child, and helper_sweep kills it.
 *
 * secretd waits for the helper synchronously: it has one client (tokend,
 * which asks once per login), and the wait is bounded by
 * MCP_AUTH_BROKER_SECRET_TIMEOUT_SECONDS. */
#include "buildconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "proc.h"
#include "secretd.h"
#include "timeutil.h"

/* How often the collecting loop looks whether the helper itself exited while
 * something it started still holds its pipes open. */
#define HELPER_POLL_SLICE_MS 50

struct helper_io {
	pid_t pid;
	int fd_out, fd_err;
	unsigned char *out; /* sodium_malloc'd, HELPER_OUT_MAX + 1 */
	size_t out_len;
	struct helper_result *r;
	bool exited; /* the leader is a zombie, not yet reaped */
};

/* In the child between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
helper_child(const char *path, char *const argv[], char *const envp[], int out_w, int err_w,
    pid_t parent)
{
	static const char msg[] = "secretd: cannot execute the secret helper\n";
	sigset_t none;
	int devnull;

	/* Its own group, so that a timeout can kill everything it started. */
	if (setpgid(0, 0) == -1 || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(127);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull == -1 || dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(out_w, STDOUT_FILENO) == -1 || dup2(err_w, STDERR_FILENO) == -1)
		_exit(127);
	/* Our channels to brokerd and tokend above all. */
	proc_close_from(STDERR_FILENO + 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execve(path, argv, envp);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

static int
helper_spawn(struct helper_io *io, const char *path, char *const argv[], char *const envp[])
{
	int out[2], err[2];
	pid_t parent = getpid();

	if (pipe2(out, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	io->pid = fork();
	if (io->pid == 0)
		helper_child(path, argv, envp, out[1], err[1], parent);
	close(out[1]);
	close(err[1]);
	io->fd_out = out[0];
	io->fd_err = err[0];
	if (io->pid == -1)
		return -1;
	/* Also here: whichever of the two runs first, the group exists before
	 * we might have to kill it. */
	setpgid(io->pid, io->pid);
	return 0;
}

/* Whether the leader has exited; WNOWAIT leaves it a zombie, so its pid, and
 * with it the group id, cannot be reused before we have killed the group. */
static bool
helper_leader_exited(struct helper_io *io)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)io->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return errno == ECHILD;
	return si.si_pid == io->pid;
}

/* Reads what one pipe has; returns 0 at end of file or error, 1 otherwise. */
static int
helper_read(struct helper_io *io, int fd)
{
	unsigned char scratch[512];
	unsigned char *dst = scratch;
	size_t room = sizeof(scratch);
	ssize_t n;

	if (fd == io->fd_out) {
		dst = io->out + io->out_len;
		room = HELPER_OUT_MAX + 1 - io->out_len;
	} else if (io->r->err_len < HELPER_ERR_MAX) {
		dst = (unsigned char *)io->r->err + io->r->err_len;
		room = HELPER_ERR_MAX - io->r->err_len;
	}
	if (room == 0) { /* more than HELPER_OUT_MAX on stdout */
		io->out_len = HELPER_OUT_MAX + 1;
		return 0;
	}
	do
		n = read(fd, dst, room);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return 0;
	if (fd == io->fd_out)
		io->out_len += (size_t)n;
	else if (dst != scratch)
		io->r->err_len += (size_t)n;
	sodium_memzero(scratch, sizeof(scratch));
	return 1;
}

/* Collects stdout and stderr until both end, the deadline passes or stdout
 * grows too large.  Returns the status to report if the helper must be
 * killed, or HELPER_EXITED. */
static enum helper_status
helper_collect(struct helper_io *io, int64_t deadline)
{
	struct pollfd pfd[2] = { { io->fd_out, POLLIN, 0 }, { io->fd_err, POLLIN, 0 } };

	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return HELPER_TIMEOUT;
		if (poll(pfd, 2, left < HELPER_POLL_SLICE_MS ? (int)left : HELPER_POLL_SLICE_MS) == -1 &&
		    errno != EINTR)
			fatal("poll");
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd != -1 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !helper_read(io, pfd[i].fd))
				pfd[i].fd = -1;
		}
		if (io->out_len > HELPER_OUT_MAX)
			return HELPER_TOO_MUCH;
		/* The helper is done but something it started keeps the pipes
		 * open: take the group down now rather than wait for the deadline. */
		if (!io->exited && helper_leader_exited(io)) {
			io->exited = true;
			killpg(io->pid, SIGKILL);
		}
	}
	return HELPER_EXITED;
}

static enum helper_status
helper_await_exit(struct helper_io *io, int64_t deadline)
{
	while (!io->exited) {
		if ((io->exited = helper_leader_exited(io)))
			break;
		if (mono_ms() >= deadline)
			return HELPER_TIMEOUT;
		usleep(5000);
	}
	return HELPER_EXITED;
}

void
helper_become_subreaper(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_CHILD_SUBREAPER)");
}

/* The pids of our children (after a run, only what the helper left). */
static size_t
helper_children(pid_t *pids, size_t max)
{
	pid_t self = getpid();
	size_t n = 0;
	struct dirent *d;
	DIR *proc;

	if ((proc = opendir("/proc")) == NULL)
		return 0;
	while (n < max && (d = readdir(proc)) != NULL) {
		char path[300], stat[512], *close_paren;
		long ppid;
		ssize_t len;
		int fd;
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		len = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (len <= 0)
			continue;
		stat[len] = '\0';
		/* "pid (comm) state ppid ...": comm may hold anything but ')'. */
		if ((close_paren = strrchr(stat, ')')) == NULL ||
		    sscanf(close_paren + 1, " %*c %ld", &ppid) != 1 || ppid != (long)self)
			continue;
		pids[n++] = (pid_t)strtol(d->d_name, NULL, 10);
	}
	closedir(proc);
	return n;
}

/* Kills and reaps whatever the helper left that is now our child; what
 * those had started comes back to us in turn, hence the rounds. */
static void
helper_sweep(const char *path)
{
	pid_t pids[64];
	size_t n, total = 0;

	for (int round = 0; round < 16 && (n = helper_children(pids, 64)) > 0; round++) {
		for (size_t i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		for (size_t i = 0; i < n; i++)
			while (waitpid(pids[i], NULL, 0) == -1 && errno == EINTR)
				;
		total += n;
	}
	if (total > 0)
		log_warnx("%s left %zu process%s outside its process group: killed", path, total,
		    total == 1 ? "" : "es");
}

static void
helper_finish(struct helper_io *io, enum helper_status st)
{
	struct helper_result *r = io->r;

	/* Also after a clean exit: nothing the helper started outlives it. */
	killpg(io->pid, SIGKILL);
	while (waitpid(io->pid, &r->wstatus, 0) == -1 && errno == EINTR)
		;
	r->status = st;
	r->err[r->err_len] = '\0';
	if (st == HELPER_EXITED && guard_store(&r->out, io->out, io->out_len) == -1)
		fatalx("out of guarded memory");
}

void
helper_run(const char *path, char *const argv[], char *const envp[], long timeout_s,
    struct helper_result *r)
{
	struct helper_io io = { -1, -1, -1, NULL, 0, r, false };
	int64_t deadline = mono_ms() + timeout_s * 1000;
	enum helper_status st;

	memset(r, 0, sizeof(*r));
	r->status = HELPER_NOT_STARTED;
	/* Guarded from the first byte: the secret is never in ordinary memory. */
	if ((io.out = sodium_malloc(HELPER_OUT_MAX + 1)) == NULL)
		fatalx("out of guarded memory");
	if (helper_spawn(&io, path, argv, envp) == -1) {
		log_warn("cannot start the secret helper %s", path);
	} else {
		st = helper_collect(&io, deadline);
		if (st == HELPER_EXITED)
			st = helper_await_exit(&io, deadline);
		helper_finish(&io, st);
		helper_sweep(path);
	}
	if (io.fd_out != -1)
		close(io.fd_out);
	if (io.fd_err != -1)
		close(io.fd_err);
	sodium_free(io.out);
}

void
helper_result_clear(struct helper_result *r)
{
	guard_free(&r->out);
	sodium_memzero(r->err, sizeof(r->err));
	r->err_len = 0;
}
