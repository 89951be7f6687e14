/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Starting and stopping secretd and tokend.
 *
 * Order matters: the secretd<->tokend pair is made here, before brokerd reads
 * any client byte, and brokerd keeps no end of it, so a brokerd compromised
 * later through its input can neither ask secretd for the secret nor listen
 * to what secretd tells tokend. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "secretenv.h"
#include "timeutil.h"

extern char **environ;

static const uint32_t from_secretd[] = { MSG_SECRET_ERR, MSG_SECRET_INFO, MSG_CERT_INFO };
static const uint32_t from_tokend[] = { MSG_EXEC_ANS, MSG_DESCRIBE_ANS, MSG_PROGRESS, MSG_JWKS,
	MSG_JWKS_FAIL, MSG_TOKEN_STATS };

/* How long an orderly stop waits for a child before SIGKILL. */
#define CHILD_STOP_GRACE_MS 3000

/* The children's environment: our own variables and nothing else, so no
 * unrelated secret in brokerd's environment reaches them; secretd also gets
 * what its provider needs (secretenv_wanted), never the 1Password token. */
/* Sanitizer builds only: the runtime's options reach the children too
 * (without detect_leaks=0 their exit-time leak check would start a tracer,
 * which the seccomp filters kill). */
static bool
sanitizer_var(const char *entry)
{
#ifdef MAB_SANITIZED
	return strncmp(entry, "ASAN_OPTIONS=", 13) == 0 || strncmp(entry, "UBSAN_OPTIONS=", 14) == 0 ||
	    strncmp(entry, "LSAN_OPTIONS=", 13) == 0;
#else
	(void)entry;
	return false;
#endif
}

static char **
child_environ(const struct broker *b, bool secretd)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < n; i++)
		if (config_is_broker_var(environ[i]) || config_is_child_var(&b->cfg, environ[i]) ||
		    (secretd && secretenv_wanted(&b->cfg, environ[i])) || sanitizer_var(environ[i]))
			env[k++] = environ[i];
	env[k] = NULL;
	return env;
}

/* In the child between fork and exec: what brokerd forgets before it reads
 * a client byte, a held child forgets before it waits, since brokerd may
 * read one meanwhile: the 1Password token (guarded memory: sodium_free
 * wipes and unmaps it; secretd gets it over its channel), and in tokend's
 * the secret variables of the environment it does not pass on (secretd's
 * exec needs them).  brokerd is single-threaded, so this child may call
 * what it likes; it only overwrites and unmaps. */
static void
child_forget(struct broker *b, bool secretd)
{
	guard_free(&b->op_token);
	if (secretd)
		return;
	for (char **e = environ; *e != NULL; e++) {
		char *eq = strchr(*e, '=');
		if (eq != NULL && secretenv_wanted(&b->cfg, *e) && !config_is_broker_var(*e) &&
		    !sanitizer_var(*e))
			secure_wipe(eq + 1, strlen(eq + 1));
	}
}

/* In the child between fork and exec: waits until brokerd closes the hold
 * pipe's writing end (children_release), reading it to its end. */
static void
child_wait_release(const int hold[2])
{
	char c;
	ssize_t n;

	close(hold[1]);
	while ((n = read(hold[0], &c, 1)) != 0)
		if (n == -1 && errno != EINTR)
			break;
	close(hold[0]);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(struct broker *b, bool secretd, const char *path, int parent_fd, int peer_fd,
    pid_t parent, char **env, const int hold[2])
{
	char *const argv[] = { (char *)path, NULL };
	sigset_t none;
	int devnull;

	/* Armed before exec and kept across it; if brokerd is already gone we
	 * were re-parented and must not start. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 || getppid() != parent)
		_exit(127);
	child_forget(b, secretd);
	child_wait_release(hold);
	if (getppid() != parent)
		_exit(127);
	/* Move both ends above the fixed slots first so dup2 cannot clobber. */
	parent_fd = fcntl(parent_fd, F_DUPFD_CLOEXEC, 10);
	peer_fd = fcntl(peer_fd, F_DUPFD_CLOEXEC, 10);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (parent_fd == -1 || peer_fd == -1 || devnull == -1)
		_exit(127);
	/* stdin is the client's: a child must never read it; stdout is the
	 * MCP channel: a child must never write it. */
	if (dup2(devnull, STDIN_FILENO) == -1 || dup2(STDERR_FILENO, STDOUT_FILENO) == -1 ||
	    dup2(parent_fd, IPC_FD_PARENT) == -1 || dup2(peer_fd, IPC_FD_PEER) == -1)
		_exit(127);
	proc_close_from(IPC_FD_PEER + 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	execve(path, argv, env);
	_exit(127);
}

void
children_program_path(const char *libexecdir, const char *name, char *out, size_t len)
{
	const char *dir = libexecdir != NULL && libexecdir[0] != '\0' ? libexecdir : LIBEXECDIR;

	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		fatalx("path of %s too long", name);
}

static void
child_spawn(struct broker *b, struct child *c, int parent_fd, int peer_fd,
    const uint32_t *accept, size_t n_accept, const int hold[2])
{
	char path[4096];
	char **env = child_environ(b, c == &b->secretd);
	pid_t parent = getpid();

	children_program_path(b->cfg.libexecdir, c->name, path, sizeof(path));
	if (access(path, X_OK) == -1)
		fatal("cannot run %s (set MCP_AUTH_BROKER_LIBEXECDIR to run from a build tree)",
		    path);
	if ((c->pid = fork()) == -1)
		fatal("fork");
	if (c->pid == 0)
		child_exec(b, c == &b->secretd, path, parent_fd, peer_fd, parent, env, hold);
	free(env);
	ipc_chan_init(&c->chan, -1, c->name, accept, n_accept);
	log_debug("started %s, pid %ld", c->name, (long)c->pid);
}

static void
socketpair_or_die(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
}

/* The children are forked here, with their channels, before brokerd reads
 * a client byte or loads its seccomp filter; but each waits to exec until
 * children_release.  Their start (exec, tokend's libcurl and OpenSSL: a
 * few ms of CPU) otherwise ran on the same two cores as brokerd's and put
 * its initialize answer 3-5 ms later (11 ms cold start against 2.4 ms with
 * children that do nothing); brokerd releases them once it has answered
 * its first client message (main.c), before tokend's first request can be
 * sent.  A child held this way runs no code but the wait; if brokerd dies
 * meanwhile, PR_SET_PDEATHSIG kills it and a re-parented one never execs. */
void
children_start(struct broker *b)
{
	int bs[2], bt[2], st[2], hold[2];

	if (pipe2(hold, O_CLOEXEC) == -1)
		fatal("pipe2");
	socketpair_or_die(bs); /* brokerd <-> secretd */
	socketpair_or_die(bt); /* brokerd <-> tokend */
	socketpair_or_die(st); /* secretd <-> tokend */
	b->secretd.name = "secretd";
	b->tokend.name = "tokend";
	child_spawn(b, &b->secretd, bs[1], st[0], from_secretd,
	    sizeof(from_secretd) / sizeof(from_secretd[0]), hold);
	child_spawn(b, &b->tokend, bt[1], st[1], from_tokend,
	    sizeof(from_tokend) / sizeof(from_tokend[0]), hold);
	close(hold[0]);
	b->children_hold_fd = hold[1];
	close(bs[1]);
	close(bt[1]);
	close(st[0]);
	close(st[1]);
	b->secretd.chan.fd = bs[0];
	b->tokend.chan.fd = bt[0];
	if (proc_set_nonblock(bs[0]) == -1 || proc_set_nonblock(bt[0]) == -1)
		fatal("fcntl(O_NONBLOCK)");
}

static void
child_record_exit(struct child *c, int status)
{
	c->exited = true;
	c->status = status;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_debug("%s exited", c->name);
	else if (WIFEXITED(status))
		log_warnx("%s exited with status %d", c->name, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warnx("%s killed by signal %d", c->name, WTERMSIG(status));
}

struct child *
children_reap(struct broker *b)
{
	struct child *first = NULL;
	struct child *kids[] = { &b->secretd, &b->tokend };
	int status;

	for (size_t i = 0; i < 2; i++) {
		if (kids[i]->exited || kids[i]->pid <= 0)
			continue;
		if (waitpid(kids[i]->pid, &status, WNOHANG) == kids[i]->pid) {
			child_record_exit(kids[i], status);
			if (first == NULL)
				first = kids[i];
		}
	}
	return first;
}

/* Closing a child's channel is its signal to exit; a child that does not
 * within the grace period is killed.  Either way it is reaped. */
void
children_release(struct broker *b)
{
	if (b->children_hold_fd < 0)
		return;
	close(b->children_hold_fd);
	b->children_hold_fd = -1;
}

void
children_stop(struct broker *b)
{
	struct child *kids[] = { &b->secretd, &b->tokend };
	int64_t deadline = mono_ms() + CHILD_STOP_GRACE_MS;
	int status;

	children_release(b); /* a held child exits when it finds its channel closed */
	for (size_t i = 0; i < 2; i++)
		ipc_chan_free(&kids[i]->chan);
	for (size_t i = 0; i < 2; i++) {
		struct child *c = kids[i];
		while (!c->exited && c->pid > 0) {
			pid_t r = waitpid(c->pid, &status, WNOHANG);
			if (r == c->pid) {
				child_record_exit(c, status);
			} else if (r == -1 && errno != EINTR) {
				c->exited = true;
			} else if (mono_ms() >= deadline) {
				log_warnx("%s did not exit, killing it", c->name);
				kill(c->pid, SIGKILL);
				deadline = mono_ms() + CHILD_STOP_GRACE_MS;
			} else {
				usleep(10000);
			}
		}
	}
}

/* Reads what a child sent and passes each message on: tokend's to
 * on_tokend, secretd's to secrets_dispatch.  A malformed message is
 * fatal; a child that dies mid-message is a dead child, not a liar.
 * Returns true once the channel has ended (the child is gone). */
bool
children_read(struct broker *b, struct child *c,
    void (*on_tokend)(void *ctx, const struct ipc_msg *m), void *ctx)
{
	struct ipc_msg m;
	ssize_t n = ipc_read(&c->chan);
	int st;

	if (n == -1 && errno != ECONNRESET)
		fatal("read from %s", c->name);
	if (n == -1)
		c->chan.eof = 1;
	while ((st = ipc_next(&c->chan, &m)) == IPC_OK) {
		if (c == &b->tokend)
			on_tokend(ctx, &m);
		else
			secrets_dispatch(b, &m);
		ipc_done(&c->chan, &m);
	}
	if (st < 0 && st != IPC_TRUNCATED)
		fatalx("malformed message from %s (%s)", c->name, ipc_status_str(st));
	return c->chan.eof;
}
