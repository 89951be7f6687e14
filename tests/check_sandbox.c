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
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

START_TEST(brokerd_allows_unix_sockets)
{
	char c = 'x';

	enter(SANDBOX_BROKERD);
	ck_assert_int_ge(socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(write(STDERR_FILENO, &c, 0), 0);
	_exit(0);
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
	tcase_add_exit_test(tb, brokerd_allows_unix_sockets, 0);
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
