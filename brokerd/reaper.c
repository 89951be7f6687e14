/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The socket reaper.  brokerd --listen makes a socket file, and removing it
 * when brokerd stops is the only unlink brokerd would need once sandboxed;
 * allowed there, it would let a brokerd compromised through its input
 * remove any file its user may (the audit log first).  So brokerd's filter
 * allows no unlink: before loading it, brokerd forks this small process,
 * which keeps nothing but the read end of a pipe.  When the pipe ends
 * (brokerd closed it, on SIGTERM or at the end, or died), it removes the
 * path only if it is still the very socket brokerd bound (a socket with the
 * device and inode recorded at bind time), then exits.  A file that has
 * replaced the socket is left alone. */
#include "buildconf.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"

/* In the reaper: stdin is the pipe, every other descriptor is closed. */
static void __attribute__((noreturn))
reaper_main(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	char c;
	ssize_t n;

	/* A stop is brokerd's to act on (a terminal's SIGINT, the service
	 * manager's SIGTERM reach the whole group): the reaper waits for the
	 * pipe to end, which brokerd's exit guarantees. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	sandbox_enter(SANDBOX_SOCKET_REAPER);
	while ((n = read(STDIN_FILENO, &c, 1)) != 0)
		if (n == -1 && errno != EINTR)
			break;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev && st.st_ino == ino)
		(void)unlink(path);
	_exit(0);
}

void
reaper_start(struct broker *b)
{
	int p[2];

	if (!b->listen_unlink)
		return; /* stdio, or systemd's socket: no file of ours */
	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe2");
	if ((b->reaper_pid = fork()) == -1)
		fatal("fork");
	if (b->reaper_pid == 0) {
		proc_harden("brokerd-reaper");
		if (dup2(p[0], STDIN_FILENO) == -1)
			_exit(1);
		proc_close_from(STDERR_FILENO + 1);
		close(STDOUT_FILENO);
		close(STDERR_FILENO);
		reaper_main(b->listen_path, b->listen_dev, b->listen_ino);
	}
	close(p[0]);
	b->reaper_fd = p[1];
}

void
reaper_finish(struct broker *b)
{
	if (b->reaper_fd < 0)
		return;
	close(b->reaper_fd);
	b->reaper_fd = -1;
	/* The socket is gone once brokerd has stopped, not a moment later. */
	while (waitpid(b->reaper_pid, NULL, 0) == -1 && errno == EINTR)
		;
	b->reaper_pid = -1;
}
