/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The launcher: the one part of secretd that starts programs.
 *
 * op and a command helper inherit any seccomp filter across execve, so the
 * process that starts them can only have a denylist (common/sandbox.c).
 * secretd forks this small process before it has the 1Password token and
 * before it loads its filter; the launcher takes the denylist and does
 * nothing but run the helper when asked (helper_run, in its own process
 * group, as a child subreaper) and send back what it printed.  secretd,
 * which holds the token and the secret and reads tokend's requests, keeps
 * the allowlist: no network, no processes, no execve.
 *
 * A request carries the helper's path, argv and environment (the token
 * among it, for op); the launcher keeps none of it past the run.  Frames,
 * native byte order (both ends are the same program):
 *   request: u32 length, u32 timeout_s, u32 argc, u32 envc, then path,
 *            argv and envp as NUL-terminated strings
 *   answer:  u32 status, i32 wstatus, u32 err_len, u32 out_len, stderr,
 *            stdout */
#include "buildconf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "secretd.h"
#include "timeutil.h"

/* Path, argv and environment: far below this. */
#define LAUNCH_REQUEST_MAX (64u * 1024u)
#define LAUNCH_MAX_STRINGS 256u
/* Beyond the helper's own timeout: the launcher kills it at that deadline. */
#define LAUNCH_SLACK_MS 5000

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads exactly n bytes by deadline (-1: none): 0, -1 at EOF or error,
 * -2 when the deadline passed. */
static int
read_all(int fd, void *p, size_t n, int64_t deadline)
{
	unsigned char *b = p;

	while (n > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;
		if (deadline >= 0) {
			int rc = poll(&pfd, 1, poll_timeout_ms(deadline));
			if (rc == -1 && errno == EINTR)
				continue;
			if (rc == 0)
				return -2;
			if (rc == -1)
				return -1;
		}
		r = read(fd, b, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- the launcher process ---------------------------------------------- */

/* Not fatalx: exit() would run secretd's atexit handlers in this copy of
 * it (a sanitizer's leak check among them). */
static void __attribute__((noreturn))
launcher_die(const char *why)
{
	log_error("%s", why);
	_exit(1);
}

/* Splits buf (n bytes of NUL-terminated strings) into out[want]; -1 if it
 * does not hold exactly that many. */
static int
split_strings(char *buf, size_t n, char **out, size_t want)
{
	size_t k = 0, i = 0;

	while (i < n && k < want) {
		char *end = memchr(buf + i, '\0', n - i);
		if (end == NULL)
			return -1;
		out[k++] = buf + i;
		i = (size_t)(end - buf) + 1;
	}
	return k == want && i == n ? 0 : -1;
}

static void
launcher_answer(int fd, const struct helper_result *r)
{
	uint32_t hdr[4] = { (uint32_t)r->status, (uint32_t)r->wstatus, (uint32_t)r->err_len,
		(uint32_t)r->out.len };
	int rc;

	rc = write_all(fd, hdr, sizeof(hdr)) == -1 || write_all(fd, r->err, r->err_len) == -1;
	if (!rc && r->out.len > 0) {
		rc = write_all(fd, guard_open(&r->out), r->out.len) == -1;
		guard_close(&r->out);
	}
	if (rc)
		_exit(0); /* secretd went away: nothing left to serve */
}

/* Serves one request; false when secretd has closed its end. */
static bool
launcher_serve(int fd)
{
	uint32_t hdr[4];
	unsigned char *buf;
	char *strings[1 + 2 * LAUNCH_MAX_STRINGS + 2];
	char **argv, **envp;
	struct helper_result r;
	size_t len;

	if (read_all(fd, hdr, sizeof(hdr), -1) != 0)
		return false;
	len = hdr[0];
	if (len > LAUNCH_REQUEST_MAX || hdr[2] > LAUNCH_MAX_STRINGS || hdr[3] > LAUNCH_MAX_STRINGS)
		launcher_die("malformed request from secretd");
	/* Guarded: the request carries the 1Password token. */
	if ((buf = sodium_malloc(len + 1)) == NULL)
		launcher_die("out of guarded memory");
	if (read_all(fd, buf, len, -1) != 0) {
		sodium_free(buf);
		return false;
	}
	buf[len] = '\0';
	if (split_strings((char *)buf, len, strings, 1 + hdr[2] + hdr[3]) == -1)
		launcher_die("malformed request from secretd");
	argv = strings + 1;
	envp = strings + 2 + hdr[2];
	/* Each list NULL-terminated: envp moves up one to make room. */
	memmove(envp, envp - 1, hdr[3] * sizeof(*envp));
	argv[hdr[2]] = NULL;
	envp[hdr[3]] = NULL;
	helper_run(strings[0], argv, envp, (long)hdr[1], &r);
	sodium_free(buf); /* wipes the token */
	launcher_answer(fd, &r);
	helper_result_clear(&r);
	return true;
}

static void __attribute__((noreturn))
launcher_main(int fd, pid_t parent, enum log_level level)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "secretd-launch");
	log_init("secretd-launch", level);
	helper_become_subreaper();
	sandbox_enter(SANDBOX_SECRETD_HELPER);
	while (launcher_serve(fd))
		;
	_exit(0);
}

/* ---- secretd's side ------------------------------------------------------ */

void
launcher_start(struct launcher *l, enum log_level level)
{
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((l->pid = fork()) == -1)
		fatal("fork");
	if (l->pid == 0) {
		/* Only its end of the pair: not brokerd's or tokend's channel. */
		close(sv[0]);
		if (dup2(sv[1], IPC_FD_PARENT) == -1)
			fatal("dup2");
		proc_close_from(IPC_FD_PARENT + 1);
		launcher_main(IPC_FD_PARENT, parent, level);
	}
	close(sv[1]);
	l->fd = sv[0];
}

void
launcher_stop(struct launcher *l)
{
	if (l->fd == -1)
		return;
	close(l->fd); /* end of requests: the launcher exits */
	l->fd = -1;
	while (waitpid(l->pid, NULL, 0) == -1 && errno == EINTR)
		;
}

void
launcher_run(struct launcher *l, const char *path, char *const argv[], char *const envp[],
    long timeout_s, struct helper_result *r)
{
	uint32_t hdr[4] = { 0, (uint32_t)timeout_s, 0, 0 };
	uint32_t ans[4];
	int64_t deadline = mono_ms() + timeout_s * 1000 + LAUNCH_SLACK_MS;
	unsigned char *req, *out;
	size_t len = strlen(path) + 1, off = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->status = HELPER_NOT_STARTED;
	for (; argv[hdr[2]] != NULL; hdr[2]++)
		len += strlen(argv[hdr[2]]) + 1;
	for (; envp[hdr[3]] != NULL; hdr[3]++)
		len += strlen(envp[hdr[3]]) + 1;
	if (len > LAUNCH_REQUEST_MAX || hdr[2] > LAUNCH_MAX_STRINGS || hdr[3] > LAUNCH_MAX_STRINGS)
		fatalx("helper command line too long");
	if ((req = sodium_malloc(len)) == NULL)
		fatalx("out of guarded memory");
	memcpy(req, path, strlen(path) + 1);
	off = strlen(path) + 1;
	for (uint32_t i = 0; i < hdr[2]; i++, off += strlen(argv[i - 1]) + 1)
		memcpy(req + off, argv[i], strlen(argv[i]) + 1);
	for (uint32_t i = 0; i < hdr[3]; i++, off += strlen(envp[i - 1]) + 1)
		memcpy(req + off, envp[i], strlen(envp[i]) + 1);
	hdr[0] = (uint32_t)len;
	/* A dead launcher is a dead part of secretd: exiting makes brokerd fail
	 * the calls in flight and exit 70, so that the unit is restarted. */
	if (write_all(l->fd, hdr, sizeof(hdr)) == -1 || write_all(l->fd, req, len) == -1)
		fatalx("the launcher is gone: cannot run %s", path);
	sodium_free(req);
	if ((rc = read_all(l->fd, ans, sizeof(ans), deadline)) == 0) {
		if (ans[2] > HELPER_ERR_MAX || ans[3] > HELPER_OUT_MAX + 1)
			fatalx("malformed answer from the launcher");
		rc = read_all(l->fd, r->err, ans[2], deadline);
	}
	if (rc == -1)
		fatalx("the launcher died while running %s", path);
	/* Its answer would come later and be taken for the next request's:
	 * a launcher that missed its deadline is as good as dead. */
	if (rc == -2)
		fatalx("no answer from the launcher for %s within %ld s", path,
		    timeout_s + LAUNCH_SLACK_MS / 1000);
	if (ans[0] > HELPER_NOT_STARTED)
		fatalx("malformed answer from the launcher");
	r->err_len = ans[2];
	r->err[r->err_len] = '\0';
	if ((out = sodium_malloc(ans[3] + 1)) == NULL)
		fatalx("out of guarded memory");
	if ((rc = read_all(l->fd, out, ans[3], deadline)) != 0)
		fatalx("the launcher %s while answering for %s", rc == -1 ? "died" : "stalled", path);
	if (ans[3] > 0 && guard_store(&r->out, out, ans[3]) == -1)
		fatalx("out of guarded memory");
	sodium_free(out);
	r->status = (enum helper_status)ans[0];
	r->wstatus = (int)ans[1];
}
