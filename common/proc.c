/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "proc.h"

void
proc_harden(const char *name)
{
	struct rlimit rl = { 0, 0 };

	/* Not dumpable: no ptrace attach by our uid, /proc/PID/mem and environ
	 * owned by root, and no core dump carrying a secret. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_DUMPABLE)");
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit(RLIMIT_CORE)");
	/* Required before an unprivileged seccomp filter, and it keeps exec'd
	 * helpers from gaining privileges through set-uid bits. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_NAME, name, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NAME)");
}

void
proc_child_init(const char *name)
{
	proc_harden(name);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_PDEATHSIG)");
	/* The death signal is armed only now: if brokerd already died we were
	 * re-parented and must not serve anyone. */
	if (getppid() == 1)
		fatalx("parent exited before start-up finished");
	if (fcntl(IPC_FD_PARENT, F_GETFD) == -1)
		fatalx("no channel on descriptor %d: %s is started by brokerd, not by hand",
		    IPC_FD_PARENT, name);
}

void
proc_close_from(int lowfd)
{
	DIR *d;
	struct dirent *de;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9 have no close_range: walk /proc instead. */
	if ((d = opendir("/proc/self/fd")) == NULL) {
		for (int fd = lowfd; fd < 4096; fd++)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] != '.' && fd >= lowfd && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
}

int
proc_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

ssize_t
proc_read_all(int fd, void *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, (unsigned char *)buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}
