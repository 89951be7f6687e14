/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Code injected into a running, sandboxed brokerd (tests/integration/
 * test_sandbox_attack.py), standing in for an attacker who took brokerd
 * over through its input.  LD_PRELOADed; in brokerd only (its children
 * never get LD_PRELOAD: brokerd passes them its own variables only), the
 * constructor installs a SIGUSR2 handler.  The test sends SIGUSR2 once the
 * filter is loaded; the handler makes ONE attempt, chosen by MAB_ATTACK,
 * and reports on stderr:
 *     attack NAME: start
 *     attack NAME: returned RC errno ERRNO      (only if the call returned)
 * A filter that kills leaves only the first line.
 *
 * MAB_ATTACK_PATH names the target of sendto_addr and unlink_file,
 * MAB_ATTACK_PID the victim of kill_other, tgkill_other and tkill_other, and
 * MAB_ATTACK_PEER the pid of the --listen client that sendmsg_rights tries
 * to hand brokerd's descriptors to.  Test-only: never installed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static const char *attack = "";
static const char *target_path = "";
static long target_pid = -1;
static long peer_pid = -1;
/* Prepared before the filter, as an attacker could find them lying about:
 * an unconnected datagram socket and a writable page. */
static int dgram = -1;
static void *page;

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(STDERR_FILENO, line, (size_t)n);
}

/* The descriptor of the --listen session whose peer is MAB_ATTACK_PEER
 * (fstat and SO_PEERCRED are what brokerd itself may use). */
static int
peer_fd(void)
{
	for (int fd = 3; fd < 256; fd++) {
		struct stat st;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == peer_pid)
			return fd;
	}
	return -1;
}

/* Every descriptor brokerd holds above stderr but the session itself: the
 * channels to secretd and tokend, the audit file, the listener. */
static long
sendmsg_rights(int flags)
{
	int fd = peer_fd(), fds[16], n = 0;
	char c = 'x', ctl[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { &c, 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	struct stat st;

	for (int i = 3; i < 64 && n < 16; i++)
		if (i != fd && fstat(i, &st) == 0)
			fds[n++] = i;
	memset(&mh, 0, sizeof(mh));
	memset(ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	say("attack %s: %d descriptors to session fd %d\n", attack, n, fd);
	return syscall(SYS_sendmsg, fd, &mh, flags);
}

static long
sendto_addr(void)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, target_path, sizeof(sa.sun_path) - 1);
	return syscall(SYS_sendto, dgram, "injected", 8, 0, &sa, sizeof(sa));
}

/* The audit log, opened O_APPEND: F_SETFL (allowed, for O_NONBLOCK) clears
 * the flag, lseek rewinds, and write overwrites the first record. */
static long
audit_rewrite(void)
{
	for (int fd = 3; fd < 256; fd++) {
		struct stat st;
		long fl = syscall(SYS_fcntl, fd, F_GETFL);

		if (fl == -1 || (fl & O_APPEND) == 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		say("attack %s: audit log at fd %d\n", attack, fd);
		if (syscall(SYS_fcntl, fd, F_SETFL, fl & ~(long)O_APPEND) != 0 ||
		    syscall(SYS_lseek, fd, 0L, SEEK_SET) != 0)
			return -1;
		return syscall(SYS_write, fd, "FORGED", 6);
	}
	say("attack %s: no audit log found\n", attack);
	return -1;
}

static long
run_attack(void)
{
	int on = 1;

	if (strcmp(attack, "control") == 0)
		return syscall(SYS_getpid);
	if (strcmp(attack, "sendmsg_rights") == 0)
		return sendmsg_rights(0);
	/* As libmicrohttpd's own sendmsg would be called, on a brokerd that
	 * also serves HTTP. */
	if (strcmp(attack, "sendmsg_rights_nosignal") == 0)
		return sendmsg_rights(MSG_NOSIGNAL);
	if (strcmp(attack, "sendto_addr") == 0)
		return sendto_addr();
	if (strcmp(attack, "socket") == 0)
		return syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0);
	if (strcmp(attack, "kill_other") == 0)
		return syscall(SYS_kill, target_pid, SIGKILL);
	if (strcmp(attack, "tgkill_other") == 0)
		return syscall(SYS_tgkill, target_pid, target_pid, SIGKILL);
	if (strcmp(attack, "tkill_other") == 0)
		return syscall(SYS_tkill, target_pid, SIGKILL);
	if (strcmp(attack, "unlink_file") == 0)
		return syscall(SYS_unlink, target_path);
	if (strcmp(attack, "unlinkat_file") == 0)
		return syscall(SYS_unlinkat, AT_FDCWD, target_path, 0);
	if (strcmp(attack, "mmap_exec") == 0)
		return syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (strcmp(attack, "mprotect_exec") == 0)
		return syscall(SYS_mprotect, page, 4096, PROT_READ | PROT_EXEC);
	if (strcmp(attack, "ioctl") == 0)
		return syscall(SYS_ioctl, STDERR_FILENO, FIONBIO, &on);
	if (strcmp(attack, "fcntl_bad") == 0) /* a second handle on a channel */
		return syscall(SYS_fcntl, STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
	if (strcmp(attack, "audit_rewrite") == 0)
		return audit_rewrite();
	if (strcmp(attack, "setsockopt_bad") == 0)
		return syscall(SYS_setsockopt, peer_fd(), SOL_SOCKET, SO_SNDBUF, &on, sizeof(on));
	say("attack %s: unknown attack\n", attack);
	return -1;
}

static void
on_sigusr2(int sig)
{
	long rc;

	(void)sig;
	say("attack %s: start\n", attack);
	errno = 0;
	rc = run_attack();
	say("attack %s: returned %ld errno %d\n", attack, rc, errno);
}

__attribute__((constructor)) static void
preload_init(void)
{
	struct sigaction sa;
	const char *v;

	if (strcmp(program_invocation_short_name, "brokerd") != 0 ||
	    (v = getenv("MAB_ATTACK")) == NULL)
		return;
	if ((attack = strdup(v)) == NULL)
		return;
	if ((v = getenv("MAB_ATTACK_PATH")) != NULL && (target_path = strdup(v)) == NULL)
		target_path = "";
	if ((v = getenv("MAB_ATTACK_PID")) != NULL)
		target_pid = strtol(v, NULL, 10);
	if ((v = getenv("MAB_ATTACK_PEER")) != NULL)
		peer_pid = strtol(v, NULL, 10);
	if (strcmp(attack, "sendto_addr") == 0)
		dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
