/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The seccomp filters: each kills a forbidden call with SIGSYS, and lets
 * through what the process needs. */
#include "buildconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <linux/netlink.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "proc.h"
#include "sandbox.h"

#ifdef SECCOMP_DEBUG
/* Debug builds trap and report, then exit 159. */
#define add_forbidden(tc, t) tcase_add_exit_test(tc, t, 159)
#define add_forbidden_loop(tc, t, n) tcase_add_loop_exit_test(tc, t, 159, 0, n)
#else
#define add_forbidden(tc, t) tcase_add_test_raise_signal(tc, t, SIGSYS)
#define add_forbidden_loop(tc, t, n) tcase_add_loop_test_raise_signal(tc, t, SIGSYS, 0, n)
#endif

static void
enter(enum sandbox_profile p)
{
	/* Filters need no_new_privs, as in the real processes. */
	proc_harden("check_sandbox");
	sandbox_enter(p);
}

START_TEST(tokend_execve_killed)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	enter(SANDBOX_TOKEND);
	execve("/bin/true", argv, envp);
	ck_abort_msg("execve returned");
}
END_TEST

START_TEST(tokend_open_for_write_killed)
{
	enter(SANDBOX_TOKEND);
	open("/tmp/mab-sandbox-test", O_WRONLY | O_CREAT, 0600);
	ck_abort_msg("open for writing returned");
}
END_TEST

START_TEST(tokend_open_append_killed)
{
	enter(SANDBOX_TOKEND);
	open("/dev/null", O_RDONLY | O_APPEND);
	ck_abort_msg("open with O_APPEND returned");
}
END_TEST

START_TEST(tokend_ptrace_killed)
{
	enter(SANDBOX_TOKEND);
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	ck_abort_msg("ptrace returned");
}
END_TEST

START_TEST(tokend_fork_killed)
{
	enter(SANDBOX_TOKEND);
	fork();
	ck_abort_msg("fork returned");
}
END_TEST

static void *
thread_main(void *arg)
{
	return arg;
}

START_TEST(tokend_allows_its_work)
{
	pthread_t t;
	void *ret = NULL;
	int fd, s;
	char line[256];

	enter(SANDBOX_TOKEND);
	ck_assert_int_ge((s = socket(AF_INET, SOCK_STREAM, 0)), 0);
	close(s);
	ck_assert_int_ge((s = socket(AF_INET6, SOCK_DGRAM, 0)), 0);
	close(s);
	ck_assert_int_ge((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)), 0);
	close(fd);
	/* curl's threaded resolver. */
	ck_assert_int_eq(pthread_create(&t, NULL, thread_main, (void *)line), 0);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_eq(ret, line);
	/* /proc is out of reach (below): ask the kernel directly. */
	ck_assert_int_eq(prctl(PR_GET_SECCOMP), 2);
	/* Check itself arms a timer after the test returns; leave first. */
	_exit(0);
}
END_TEST

/* Landlock: the resolver's files, and nothing else: not /proc (op's
 * environment), not the service user's files. */
/* In a child: the file the caller made must be out of reach. */
static void
tokend_reads_only_system_files_child(const char *path)
{
	int abi = sandbox_landlock_abi(), fd;

	enter(SANDBOX_TOKEND);
	ck_assert_int_ge((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC)), 0);
	close(fd);
	ck_assert_int_ge((fd = open("/usr/lib/os-release", O_RDONLY | O_CLOEXEC)), 0);
	close(fd);
	if (abi >= 1) {
		errno = 0;
		ck_assert_int_eq(open("/proc/self/environ", O_RDONLY | O_CLOEXEC), -1);
		ck_assert_int_eq(errno, EACCES);
		errno = 0;
		ck_assert_int_eq(open(path, O_RDONLY | O_CLOEXEC), -1);
		ck_assert_int_eq(errno, EACCES);
	} else {
		/* No Landlock in this kernel: only seccomp's read-only rule. */
		ck_assert_int_ge((fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC)), 0);
	}
	_exit(0);
}

/* Landlock: the resolver's files, and nothing else: not /proc (op's
 * environment), not the service user's files. */
START_TEST(tokend_reads_only_system_files)
{
	char path[] = "/tmp/mab-landlock-XXXXXX";
	int fd, status = -1;
	pid_t pid;

	ck_assert_int_ge((fd = mkstemp(path)), 0);
	close(fd);
	ck_assert_int_ge((pid = fork()), 0);
	if (pid == 0)
		tokend_reads_only_system_files_child(path);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	unlink(path);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a file outside /etc, /usr and /lib was readable (status %d)", status);
	_exit(0);
}
END_TEST

START_TEST(brokerd_inet_socket_killed)
{
	enter(SANDBOX_BROKERD);
	socket(AF_INET, SOCK_STREAM, 0);
	ck_abort_msg("socket(AF_INET) returned");
}
END_TEST

START_TEST(brokerd_inet6_socket_killed)
{
	enter(SANDBOX_BROKERD);
	socket(AF_INET6, SOCK_DGRAM, 0);
	ck_abort_msg("socket(AF_INET6) returned");
}
END_TEST

START_TEST(brokerd_execve_killed)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	enter(SANDBOX_BROKERD);
	execve("/bin/true", argv, envp);
	ck_abort_msg("execve returned");
}
END_TEST

START_TEST(brokerd_fork_killed)
{
	enter(SANDBOX_BROKERD);
	fork();
	ck_abort_msg("fork returned");
}
END_TEST

/* brokerd opens nothing once started, so it cannot read another process's
 * /proc files (op's environment holds the 1Password token).  Sanitizer
 * builds keep read-only opens for their reports (common/sandbox.c). */
#ifndef MAB_SANITIZED
START_TEST(brokerd_open_killed)
{
	enter(SANDBOX_BROKERD);
	open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	ck_abort_msg("open returned");
}
END_TEST
#endif

/* What brokerd does once sandboxed: accept a session and judge its peer,
 * read and write, stop its own children. */
START_TEST(brokerd_allows_its_work)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int l, c, a, status = -1;
	char path[] = "/tmp/mab-sandbox-XXXXXX", ch = 'x';
	pid_t kid;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", path);
	ck_assert_int_ge((l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)), 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_ge((c = socket(AF_UNIX, SOCK_STREAM, 0)), 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	unlink(sa.sun_path);
	rmdir(path);
	if ((kid = fork()) == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_gt(kid, 0);
	proc_harden("check_sandbox");
	sandbox_enter_brokerd(&kid, 1, STDERR_FILENO);
	ck_assert_int_ge((a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
	ck_assert_int_eq(getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
	ck_assert_int_eq(cred.pid, getpid());
	ck_assert_int_eq(send(c, &ch, 1, MSG_NOSIGNAL), 1);
	ck_assert_int_eq(read(a, &ch, 1), 1);
	ck_assert_int_eq(fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK), 0);
	ck_assert_int_eq(kill(kid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	_exit(0);
}
END_TEST

/* One byte with sendmsg (the raw syscall: brokerd's own sendmsg,
 * brokerd/sendmsg.c, is not linked here), as libmicrohttpd would write a
 * response. */
static void
send_one(int fd, int flags)
{
	char c = 'x';
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { 0 };

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	syscall(SYS_sendmsg, fd, &mh, flags);
}

/* brokerd --http: accept a TCP connection, set the options libmicrohttpd
 * sets, and write its header and body as brokerd/sendmsg.c does (writev). */
START_TEST(brokerd_http_allows_its_work)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int l, c, a, on = 1;
	char ch = 0, x = 'x';
	struct iovec iov = { &x, 1 };
	pid_t none = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge((l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)), 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &salen), 0);
	ck_assert_int_ge((c = socket(AF_INET, SOCK_STREAM, 0)), 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	proc_harden("check_sandbox");
	sandbox_enter_brokerd(&none, 0, STDERR_FILENO);
	ck_assert_int_ge((a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
	ck_assert_int_eq(setsockopt(a, SOL_TCP, TCP_NODELAY, &on, sizeof(on)), 0);
	ck_assert_int_eq(setsockopt(a, SOL_TCP, TCP_CORK, &on, sizeof(on)), 0);
	on = 0;
	ck_assert_int_eq(setsockopt(a, SOL_TCP, TCP_CORK, &on, sizeof(on)), 0);
	ck_assert_int_eq(writev(a, &iov, 1), 1);
	ck_assert_int_eq(read(c, &ch, 1), 1);
	ck_assert_int_eq(ch, 'x');
	_exit(0);
}
END_TEST

/* ---- brokerd: what an attacker inside it tried ---------------------------- */

static pid_t victim = -1;
/* The audit sink the filter protects: stderr unless a case opens a file. */
static int audit_sink = STDERR_FILENO;

/* A process of the same user that brokerd did not start. */
static void
brokerd_with_victim(void)
{
	pid_t none = -1;

	if ((victim = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* gone with the test */
		pause();
		_exit(0);
	}
	ck_assert_int_gt(victim, 0);
	proc_harden("check_sandbox");
	sandbox_enter_brokerd(&none, 0, audit_sink);
}

/* With O_APPEND gone, lseek and write would overwrite recorded history. */
static void
call_fcntl_audit_append(void)
{
	char path[] = "/tmp/mab-audit-XXXXXX";

	ck_assert_int_ge((audit_sink = mkstemp(path)), 0);
	unlink(path);
	ck_assert_int_eq(fcntl(audit_sink, F_SETFL, O_APPEND), 0);
	brokerd_with_victim();
	fcntl(audit_sink, F_SETFL, 0);
}

static void
call_unix_socket(void)
{
	brokerd_with_victim();
	socket(AF_UNIX, SOCK_DGRAM, 0);
}

static void
call_sendmsg_rights(void)
{
	int sv[2], fds[1] = { STDERR_FILENO };
	char c = 'x', ctl[CMSG_SPACE(sizeof(fds))];
	struct iovec iov = { &c, 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv); /* made before the filter */
	brokerd_with_victim();
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	sendmsg(sv[0], &mh, 0);
}

static void
call_sendto_address(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/tmp/mab-nowhere" };
	int s = socket(AF_UNIX, SOCK_DGRAM, 0); /* made before the filter */

	brokerd_with_victim();
	sendto(s, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
}

static void
call_kill_other(void)
{
	brokerd_with_victim();
	kill(victim, SIGKILL);
}

static void
call_tgkill_other(void)
{
	brokerd_with_victim();
	syscall(SYS_tgkill, victim, victim, SIGKILL);
}

static void
call_tkill(void)
{
	brokerd_with_victim();
	syscall(SYS_tkill, victim, SIGKILL);
}

static void
call_unlink(void)
{
	brokerd_with_victim();
	unlink("/tmp/mab-sandbox-no-such-file");
}

static void
call_mmap_exec(void)
{
	brokerd_with_victim();
	mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void
call_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	brokerd_with_victim();
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static void
call_ioctl(void)
{
	int on = 1;

	brokerd_with_victim();
	ioctl(STDERR_FILENO, FIONBIO, &on);
}

static void
call_fcntl_dup(void)
{
	brokerd_with_victim();
	fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 10);
}

static void
call_setsockopt(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0), n = 4096;

	brokerd_with_victim();
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
}

/* brokerd serving HTTP, the unix socket, or both: no sendmsg at all, not
 * even libmicrohttpd's kind on an accepted connection (brokerd/sendmsg.c
 * writes it with writev), since an accepted unix session is a descriptor
 * like any other and SCM_RIGHTS would pass the channels to its peer. */
static void
brokerd_http_with_victim(void)
{
	pid_t none = -1;

	if ((victim = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		pause();
		_exit(0);
	}
	ck_assert_int_gt(victim, 0);
	proc_harden("check_sandbox");
	sandbox_enter_brokerd(&none, 0, audit_sink);
}

/* A unix session accepted after the filter, written to as libmicrohttpd
 * writes a response: with both sockets served, that is what an HTTP
 * connection looks like to the filter. */
static void
call_sendmsg_on_accepted(void)
{
	int l, c;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	/* An abstract address: nothing to remove afterwards. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "mab-check-%ld", (long)getpid());
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		_exit(2);
	brokerd_http_with_victim();
	send_one(accept4(l, NULL, NULL, SOCK_CLOEXEC), MSG_NOSIGNAL);
}

static void
call_http_setsockopt_other(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), n = 1;

	brokerd_http_with_victim();
	setsockopt(s, SOL_TCP, TCP_KEEPIDLE, &n, sizeof(n));
}

static const struct {
	const char *what;
	void (*call)(void);
} brokerd_forbidden[] = {
	{ "sendmsg(MSG_NOSIGNAL) on an accepted session", call_sendmsg_on_accepted },
	{ "--http: setsockopt(TCP_KEEPIDLE)", call_http_setsockopt_other },
	{ "socket(AF_UNIX)", call_unix_socket },
	{ "sendmsg", call_sendmsg_rights },
	{ "sendto with an address", call_sendto_address },
	{ "kill of another process", call_kill_other },
	{ "tgkill of another process", call_tgkill_other },
	{ "tkill", call_tkill },
	{ "unlink", call_unlink },
	{ "mmap(PROT_EXEC)", call_mmap_exec },
	{ "mprotect(PROT_EXEC)", call_mprotect_exec },
	{ "ioctl", call_ioctl },
	{ "fcntl(F_DUPFD_CLOEXEC)", call_fcntl_dup },
	{ "setsockopt", call_setsockopt },
	{ "fcntl(F_SETFL) on the audit sink", call_fcntl_audit_append },
};
#define N_BROKERD_FORBIDDEN (sizeof(brokerd_forbidden) / sizeof(brokerd_forbidden[0]))

START_TEST(brokerd_forbidden_killed)
{
	brokerd_forbidden[_i].call();
	ck_abort_msg("%s returned under brokerd's filter", brokerd_forbidden[_i].what);
}
END_TEST

/* ---- tokend: arguments decide ------------------------------------------- */

static void
call_tokend_mmap_anon_exec(void)
{
	enter(SANDBOX_TOKEND);
	mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void
call_tokend_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	enter(SANDBOX_TOKEND);
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static void
call_tokend_ioctl(void)
{
	char c = 'x';

	enter(SANDBOX_TOKEND);
	ioctl(STDIN_FILENO, TIOCSTI, &c);
}

static void
call_tokend_setsockopt(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), mark = 1;

	enter(SANDBOX_TOKEND);
	setsockopt(s, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
}

static void
call_tokend_packet_socket(void)
{
	enter(SANDBOX_TOKEND);
	socket(AF_PACKET, SOCK_RAW, 0);
}

static void
call_tokend_netlink_audit(void)
{
	enter(SANDBOX_TOKEND);
	socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}

static void
call_tokend_fcntl_setown(void)
{
	enter(SANDBOX_TOKEND);
	fcntl(STDERR_FILENO, F_SETOWN, getpid());
}

static void
call_tokend_kill(void)
{
	enter(SANDBOX_TOKEND);
	kill(getppid(), 0);
}

#ifndef MAB_SANITIZED /* the sanitizer runtime needs prctl */
/* Dumpable again, tokend could be ptraced by any process of its user. */
static void
call_tokend_set_dumpable(void)
{
	enter(SANDBOX_TOKEND);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}
#endif

static const struct {
	const char *what;
	void (*call)(void);
} tokend_forbidden[] = {
	{ "mmap of anonymous memory with PROT_EXEC", call_tokend_mmap_anon_exec },
	{ "mprotect(PROT_EXEC)", call_tokend_mprotect_exec },
	{ "ioctl(TIOCSTI)", call_tokend_ioctl },
	{ "setsockopt(SO_MARK)", call_tokend_setsockopt },
	{ "socket(AF_PACKET)", call_tokend_packet_socket },
	{ "socket(AF_NETLINK, NETLINK_AUDIT)", call_tokend_netlink_audit },
	{ "fcntl(F_SETOWN)", call_tokend_fcntl_setown },
	{ "kill", call_tokend_kill },
#ifndef MAB_SANITIZED
	{ "prctl(PR_SET_DUMPABLE)", call_tokend_set_dumpable },
#endif
};
#define N_TOKEND_FORBIDDEN (sizeof(tokend_forbidden) / sizeof(tokend_forbidden[0]))

START_TEST(tokend_forbidden_killed)
{
	tokend_forbidden[_i].call();
	ck_abort_msg("%s returned under tokend's filter", tokend_forbidden[_i].what);
}
END_TEST

/* The resolver's own work: getaddrinfo, AI_ADDRCONFIG asking netlink. */
START_TEST(tokend_allows_the_resolver)
{
	struct addrinfo hints = { .ai_flags = AI_ADDRCONFIG, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int on = 1, s;

	enter(SANDBOX_TOKEND);
	ck_assert_int_eq(getaddrinfo("localhost", "443", &hints, &res), 0);
	freeaddrinfo(res);
	ck_assert_int_ge((s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP)), 0);
	ck_assert_int_eq(setsockopt(s, SOL_TCP, TCP_NODELAY, &on, sizeof(on)), 0);
	ck_assert_int_eq(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)), 0);
	ck_assert_int_eq(ioctl(s, FIONBIO, &on), 0);
	close(s);
	_exit(0);
}
END_TEST

/* A DNS query over UDP, as nss_dns makes it (socket, the ICMP error queue,
 * connect, send, poll), to a name server of the test's own that never
 * answers: the query must leave, and tokend must live to see the timeout. */
START_TEST(tokend_allows_a_dns_query)
{
	struct sockaddr_in ns = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(ns);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char query[512];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	ck_assert_int_eq(bind(s, (struct sockaddr *)&ns, sizeof(ns)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&ns, &len), 0);
	ck_assert_int_eq(res_init(), 0);
	_res.nscount = 1;
	_res.nsaddr_list[0] = ns;
	_res.retrans = 1;
	_res.retry = 1;
	enter(SANDBOX_TOKEND);
	ck_assert_int_ne(getaddrinfo("mab-sandbox-test.invalid", "443", &hints, &res), 0);
	ck_assert_int_gt(recv(s, query, sizeof(query), 0), 0);
	_exit(0);
}
END_TEST

/* ---- the socket reaper: read, lstat, unlink, nothing else ---------------- */

/* Not even a write (a sanitizer build's reaper keeps what its runtime
 * needs, write among it: there, a socket stands in). */
START_TEST(socket_reaper_write_killed)
{
	enter(SANDBOX_SOCKET_REAPER);
#ifdef MAB_SANITIZED
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
#else
	syscall(SYS_write, STDERR_FILENO, "x", 1);
#endif
	ck_abort_msg("a forbidden call returned under the reaper's filter");
}
END_TEST

START_TEST(socket_reaper_allows_its_work)
{
	struct stat st;

	enter(SANDBOX_SOCKET_REAPER);
	(void)lstat("/tmp/mab-sandbox-no-such-file", &st);
	(void)unlink("/tmp/mab-sandbox-no-such-file");
	syscall(SYS_exit_group, 0);
}
END_TEST

/* ---- secretd: each profile kills what it forbids ------------------------ */

static void
call_execve(void)
{
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };

	execve("/bin/true", argv, envp);
}

static void
call_fork(void)
{
	fork();
}

static void
call_inet_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
}

static void
call_open_for_write(void)
{
	open("/tmp/mab-sandbox-test", O_WRONLY | O_CREAT, 0600);
}

static void
call_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static void
call_process_vm_readv(void)
{
	char buf[8];
	struct iovec local = { buf, sizeof(buf) }, remote = { buf, sizeof(buf) };

	process_vm_readv(getppid(), &local, 1, &remote, 1, 0);
}

static void
call_unshare(void)
{
	unshare(CLONE_NEWUSER);
}

static int
clone_child(void *arg)
{
	(void)arg;
	return 0;
}

/* A new user namespace through clone rather than unshare. */
static void
call_clone_newuser(void)
{
	static char stack[16384];

	clone(clone_child, stack + sizeof(stack), CLONE_NEWUSER | SIGCHLD, NULL);
}

static const struct {
	enum sandbox_profile profile;
	const char *what;
	void (*call)(void);
} secretd_forbidden[] = {
	{ SANDBOX_SECRETD, "execve", call_execve },
	{ SANDBOX_SECRETD, "fork", call_fork },
	{ SANDBOX_SECRETD, "socket(AF_INET)", call_inet_socket },
	{ SANDBOX_SECRETD, "open for writing", call_open_for_write },
	{ SANDBOX_SECRETD, "ptrace", call_ptrace },
	{ SANDBOX_SECRETD_HELPER, "ptrace", call_ptrace },
	{ SANDBOX_SECRETD_HELPER, "process_vm_readv", call_process_vm_readv },
	{ SANDBOX_SECRETD_HELPER, "unshare", call_unshare },
	{ SANDBOX_SECRETD_HELPER, "clone(CLONE_NEWUSER)", call_clone_newuser },
};
#define N_SECRETD_FORBIDDEN (sizeof(secretd_forbidden) / sizeof(secretd_forbidden[0]))

START_TEST(secretd_forbidden_killed)
{
	enter(secretd_forbidden[_i].profile);
	secretd_forbidden[_i].call();
	ck_abort_msg("%s returned under the %s filter", secretd_forbidden[_i].what,
	    sandbox_profile_name(secretd_forbidden[_i].profile));
}
END_TEST

static bool
seccomp_filtered(void)
{
	char line[256];
	bool seen = false;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strcmp(line, "Seccomp:\t2\n") == 0)
			seen = true;
	fclose(f);
	return seen;
}

/* The file provider: a read-only open, the ACL. */
START_TEST(secretd_allows_reading_a_secret_file)
{
	char acl[64];
	int fd;

	enter(SANDBOX_SECRETD);
	ck_assert_int_ge((fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)), 0);
	(void)fgetxattr(fd, "system.posix_acl_access", acl, sizeof(acl));
	close(fd);
	ck_assert_msg(seccomp_filtered(), "no 'Seccomp: 2' in /proc/self/status");
	_exit(0);
}
END_TEST

/* Probes a helper's libraries make are refused, not fatal; clone3, whose
 * flags a filter cannot read, is "not implemented" so callers use clone. */
START_TEST(secretd_helper_refuses_probes)
{
	enter(SANDBOX_SECRETD_HELPER);
	errno = 0;
	ck_assert_int_eq(syscall(SYS_bpf, 0, NULL, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(syscall(SYS_keyctl, 0, 0, 0, 0, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(syscall(SYS_io_uring_setup, 1, NULL), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(syscall(SYS_clone3, NULL, 0), -1);
	ck_assert_int_eq(errno, ENOSYS);
	_exit(0);
}
END_TEST

/* op and command helpers: started, and still under the filter. */
START_TEST(secretd_helper_runs_a_program_that_inherits_the_filter)
{
	char *argv[] = { "/bin/sh", "-c", "grep -q '^Seccomp:[[:space:]]*2$' /proc/self/status", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	int status = -1;
	pid_t pid;

	enter(SANDBOX_SECRETD_HELPER);
	ck_assert_int_ge((pid = fork()), 0);
	if (pid == 0) {
		execve(argv[0], argv, envp);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the helper did not run, or ran without the filter (status %d)", status);
	_exit(0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tk = tcase_create("tokend"), *tb = tcase_create("brokerd");
	TCase *ts = tcase_create("secretd");
	SRunner *sr;
	int failed;

	add_forbidden(tk, tokend_execve_killed);
	add_forbidden(tk, tokend_open_for_write_killed);
	add_forbidden(tk, tokend_open_append_killed);
	add_forbidden(tk, tokend_ptrace_killed);
	add_forbidden(tk, tokend_fork_killed);
	tcase_add_exit_test(tk, tokend_allows_its_work, 0);
	tcase_add_exit_test(tk, tokend_reads_only_system_files, 0);
	add_forbidden(tb, brokerd_inet_socket_killed);
	add_forbidden(tb, brokerd_inet6_socket_killed);
	add_forbidden(tb, brokerd_execve_killed);
	add_forbidden(tb, brokerd_fork_killed);
#ifndef MAB_SANITIZED
	add_forbidden(tb, brokerd_open_killed);
#endif
	tcase_add_exit_test(tb, brokerd_allows_its_work, 0);
	tcase_add_exit_test(tb, brokerd_http_allows_its_work, 0);
	add_forbidden_loop(tb, brokerd_forbidden_killed, (int)N_BROKERD_FORBIDDEN);
	add_forbidden_loop(tk, tokend_forbidden_killed, (int)N_TOKEND_FORBIDDEN);
	tcase_add_exit_test(tk, tokend_allows_the_resolver, 0);
	tcase_add_exit_test(tk, tokend_allows_a_dns_query, 0);
	add_forbidden(tb, socket_reaper_write_killed);
	tcase_add_exit_test(tb, socket_reaper_allows_its_work, 0);
	add_forbidden_loop(ts, secretd_forbidden_killed, (int)N_SECRETD_FORBIDDEN);
	tcase_add_exit_test(ts, secretd_allows_reading_a_secret_file, 0);
	tcase_add_exit_test(ts, secretd_helper_runs_a_program_that_inherits_the_filter, 0);
	tcase_add_exit_test(ts, secretd_helper_refuses_probes, 0);
	suite_add_tcase(s, tk);
	suite_add_tcase(s, tb);
	suite_add_tcase(s, ts);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK); /* each test's filter dies with its process */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
