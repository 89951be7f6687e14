/* The seccomp filters: each kills a forbidden call with SIGSYS, and lets
 * through what the process needs. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proc.h"
#include "sandbox.h"

#ifdef SECCOMP_DEBUG
/* Debug builds trap and report, then exit 159. */
#define add_forbidden(tc, t) tcase_add_exit_test(tc, t, 159)
#else
#define add_forbidden(tc, t) tcase_add_test_raise_signal(tc, t, SIGSYS)
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
	FILE *f;
	bool seen = false;

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
	ck_assert_ptr_nonnull((f = fopen("/proc/self/status", "r")));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strcmp(line, "Seccomp:\t2\n") == 0)
			seen = true;
	fclose(f);
	ck_assert_msg(seen, "no 'Seccomp: 2' in /proc/self/status");
	/* Check itself arms a timer after the test returns; leave first. */
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

START_TEST(brokerd_allows_unix_sockets)
{
	char c = 'x';

	enter(SANDBOX_BROKERD);
	ck_assert_int_ge(socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(write(STDERR_FILENO, &c, 0), 0);
	_exit(0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tk = tcase_create("tokend"), *tb = tcase_create("brokerd");
	SRunner *sr;
	int failed;

	add_forbidden(tk, tokend_execve_killed);
	add_forbidden(tk, tokend_open_for_write_killed);
	add_forbidden(tk, tokend_open_append_killed);
	add_forbidden(tk, tokend_ptrace_killed);
	add_forbidden(tk, tokend_fork_killed);
	tcase_add_exit_test(tk, tokend_allows_its_work, 0);
	add_forbidden(tb, brokerd_inet_socket_killed);
	add_forbidden(tb, brokerd_inet6_socket_killed);
	add_forbidden(tb, brokerd_execve_killed);
	add_forbidden(tb, brokerd_fork_killed);
	tcase_add_exit_test(tb, brokerd_allows_unix_sockets, 0);
	suite_add_tcase(s, tk);
	suite_add_tcase(s, tb);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK); /* each test's filter dies with its process */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
