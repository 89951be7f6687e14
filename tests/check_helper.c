/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Running op or a command helper (secretd/helper.c), and the providers built
 * on it (secretd/provider.c): what the helper gets, what is captured, and
 * that a timeout takes its whole process group down. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "secretd.h"
#include "timeutil.h"

static char dir[64];

static void
dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_helper.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Runs /bin/sh -c script with exactly env. */
static void
run_sh(const char *script, char *const env[], long timeout_s, struct helper_result *r)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };

	helper_run("/bin/sh", argv, env, timeout_s, r);
}

static const char *
out_text(struct helper_result *r)
{
	static char text[256];
	size_t n = r->out.len < sizeof(text) - 1 ? r->out.len : sizeof(text) - 1;

	memcpy(text, guard_open(&r->out), n);
	guard_close(&r->out);
	text[n] = '\0';
	return text;
}

static bool
exited_with(const struct helper_result *r, int status)
{
	return r->status == HELPER_EXITED && WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == status;
}

/* Alive: exists and is not a zombie (a reparented process whose reaper is
 * slow is dead all the same). */
static bool
pid_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return false;
	return p[2] != 'Z' && p[2] != 'X';
}

static pid_t
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = -1;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	return (pid_t)pid;
}

/* ---- helper_run ------------------------------------------------------- */

START_TEST(stdout_and_stderr_captured)
{
	char *env[] = { NULL };
	struct helper_result r;

	run_sh("printf 'the-secret'; printf 'a warning' >&2; exit 3", env, 5, &r);
	ck_assert(exited_with(&r, 3));
	ck_assert_str_eq(out_text(&r), "the-secret");
	ck_assert_str_eq(r.err, "a warning");
	helper_result_clear(&r);
	ck_assert_ptr_null(r.out.p);
	ck_assert_uint_eq(r.err_len, 0);
}
END_TEST

START_TEST(exactly_the_given_environment)
{
	char *env[] = { "ONLY=this", NULL };
	struct helper_result r;

	setenv("SECRETD_OWN", "must-not-leak", 1);
	run_sh("env | grep -v '^PWD=' | sort | tr '\\n' ' '", env, 5, &r);
	ck_assert(exited_with(&r, 0));
	ck_assert_str_eq(out_text(&r), "ONLY=this ");
	helper_result_clear(&r);
}
END_TEST

START_TEST(stdin_is_dev_null)
{
	char *env[] = { NULL };
	struct helper_result r;

	/* Would block on a terminal or pipe; /dev/null gives end of file. */
	run_sh("cat; echo done", env, 5, &r);
	ck_assert(exited_with(&r, 0));
	ck_assert_str_eq(out_text(&r), "done\n");
	helper_result_clear(&r);
}
END_TEST

START_TEST(no_descriptor_of_ours)
{
	char *env[] = { NULL };
	char script[128];
	struct helper_result r;
	int fd = open("/dev/null", O_RDONLY); /* inheritable, like a careless one */

	ck_assert_int_gt(fd, 2);
	snprintf(script, sizeof(script), "[ -e /proc/$$/fd/%d ] && echo leaked || echo clean", fd);
	run_sh(script, env, 5, &r);
	ck_assert_str_eq(out_text(&r), "clean\n");
	helper_result_clear(&r);
	close(fd);
}
END_TEST

START_TEST(own_process_group)
{
	char *env[] = { NULL };
	struct helper_result r;
	long pid = 0, pgrp = 0;
	const char *p;

	run_sh("cat /proc/$$/stat", env, 5, &r);
	ck_assert(exited_with(&r, 0));
	p = out_text(&r);
	ck_assert_int_eq(sscanf(p, "%ld", &pid), 1);
	p = strrchr(p, ')');
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %ld", &pgrp), 1);
	ck_assert_int_eq(pgrp, pid);
	ck_assert_int_ne(pgrp, getpgrp());
	helper_result_clear(&r);
}
END_TEST

/* The deadline kills the helper and everything it started. */
START_TEST(timeout_kills_the_whole_group)
{
	char *env[] = { NULL };
	char script[256], pidfile[128];
	struct helper_result r;
	pid_t grandchild;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; sleep 30", pidfile);
	run_sh(script, env, 1, &r);
	ck_assert_int_eq(r.status, HELPER_TIMEOUT);
	ck_assert_uint_eq(r.out.len, 0);
	grandchild = read_pid(pidfile);
	for (int i = 0; i < 200 && pid_alive(grandchild); i++)
		usleep(10000);
	ck_assert_msg(!pid_alive(grandchild), "grandchild %ld survived", (long)grandchild);
	helper_result_clear(&r);
}
END_TEST

/* The helper finished but left something holding its stdout: the answer
 * does not wait for the deadline, and the straggler goes. */
START_TEST(straggler_does_not_hold_the_answer)
{
	char *env[] = { NULL };
	char script[256], pidfile[128];
	struct helper_result r;
	pid_t straggler;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; printf 'quick'", pidfile);
	run_sh(script, env, 20, &r);
	ck_assert_int_eq(r.status, HELPER_EXITED);
	ck_assert_str_eq(out_text(&r), "quick");
	straggler = read_pid(pidfile);
	for (int i = 0; i < 200 && pid_alive(straggler); i++)
		usleep(10000);
	ck_assert(!pid_alive(straggler));
	helper_result_clear(&r);
}
END_TEST

START_TEST(too_much_output_refused)
{
	char *env[] = { NULL };
	struct helper_result r;

	run_sh("head -c 70000 /dev/zero", env, 5, &r);
	ck_assert_int_eq(r.status, HELPER_TOO_MUCH);
	ck_assert_uint_eq(r.out.len, 0);
	helper_result_clear(&r);
}
END_TEST

START_TEST(stderr_capped_not_blocking)
{
	char *env[] = { NULL };
	struct helper_result r;

	run_sh("head -c 100000 /dev/zero | tr '\\0' e >&2; printf ok", env, 5, &r);
	ck_assert(exited_with(&r, 0));
	ck_assert_str_eq(out_text(&r), "ok");
	ck_assert_uint_eq(r.err_len, HELPER_ERR_MAX);
	ck_assert_uint_eq(strlen(r.err), HELPER_ERR_MAX);
	helper_result_clear(&r);
}
END_TEST

START_TEST(missing_program_fails_cleanly)
{
	char *argv[] = { "/nonexistent/helper", NULL };
	char *env[] = { NULL };
	struct helper_result r;

	helper_run("/nonexistent/helper", argv, env, 5, &r);
	ck_assert(exited_with(&r, 127));
	ck_assert_ptr_nonnull(strstr(r.err, "cannot execute"));
	helper_result_clear(&r);
}
END_TEST

/* ---- the providers that run a helper ----------------------------------- */

static const char *
script(const char *name, const char *body)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
	return path;
}

static void
provider_for(struct provider *p, struct config *cfg, const char *provider, const char *ref,
    const char *helper_var, const char *helper)
{
	char e_provider[64], e_ref[256], e_helper[512];
	char *env[] = { "MCP_AUTH_BROKER_ENV=dev", "MCP_AUTH_BROKER_TENANT_ID=contoso.example",
		"MCP_AUTH_BROKER_GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com",
		"MCP_AUTH_BROKER_ALLOWED_SCOPES=x", e_provider, e_ref, e_helper,
		"MCP_AUTH_BROKER_SECRET_TIMEOUT_SECONDS=2", NULL };
	struct config_errors errs;
	struct secret_error err;

	snprintf(e_provider, sizeof(e_provider), "MCP_AUTH_BROKER_SECRET_PROVIDER=%s", provider);
	snprintf(e_ref, sizeof(e_ref), "MCP_AUTH_BROKER_GRAPH_SECRET_REF=%s", ref);
	snprintf(e_helper, sizeof(e_helper), "MCP_AUTH_BROKER_%s=%s", helper_var, helper);
	ck_assert_msg(config_load(cfg, env, &errs) == 0, "%s", errs.n ? errs.v[0] : "");
	ck_assert_int_eq(provider_init(p, cfg, &err), 0);
}

/* Resolves; returns the secret as text, or NULL with *code. */
static const char *
resolve(struct provider *p, enum err_code *code)
{
	static char text[256];
	struct guarded known = { NULL, 0 }, out = { NULL, 0 };
	struct secret_error err = { ERR_NONE, "" };

	*code = ERR_NONE;
	if (provider_resolve(p, &known, &out, &err) == -1) {
		*code = err.code;
		return NULL;
	}
	ck_assert_uint_lt(out.len, sizeof(text));
	memcpy(text, guard_open(&out), out.len);
	text[out.len] = '\0';
	guard_free(&out);
	return text;
}

START_TEST(command_helper_line_is_the_secret)
{
	struct provider p;
	struct config cfg;
	enum err_code code;

	provider_for(&p, &cfg, "command", "graph", "SECRET_HELPER",
	    script("helper", "[ \"$#\" = 1 ] && [ \"$1\" = graph ] && echo 'line-secret'"));
	ck_assert_str_eq(resolve(&p, &code), "line-secret");
	provider_free(&p);
	config_free(&cfg);
}
END_TEST

START_TEST(command_helper_failures)
{
	struct provider p;
	struct config cfg;
	enum err_code code;

	provider_for(&p, &cfg, "command", "graph", "SECRET_HELPER", script("empty", "exit 0"));
	ck_assert_ptr_null(resolve(&p, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
	provider_free(&p);
	config_free(&cfg);
	provider_for(&p, &cfg, "command", "graph", "SECRET_HELPER",
	    script("missing", "echo '\"graph\" isn'\"'\"'t an item in the \"v\" vault.' >&2; exit 1"));
	ck_assert_ptr_null(resolve(&p, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
	provider_free(&p);
	config_free(&cfg);
	provider_for(&p, &cfg, "command", "graph", "SECRET_HELPER", script("slow", "exec sleep 30"));
	ck_assert_ptr_null(resolve(&p, &code));
	ck_assert_int_eq(code, ERR_SECRET_TIMEOUT);
	provider_free(&p);
	config_free(&cfg);
}
END_TEST

/* op read --no-newline REF, with the token in its environment and nothing
 * from secretd's but the variables op needs. */
START_TEST(op_gets_the_token_and_the_reference)
{
	struct provider p;
	struct config cfg;
	enum err_code code;
	const char *op = script("op",
	    "[ \"$*\" = 'read --no-newline op://v/i/f' ] || exit 9\n"
	    "[ \"$OP_SERVICE_ACCOUNT_TOKEN\" = ops_tok ] || exit 8\n"
	    "[ -z \"$MCP_AUTH_BROKER_ENV$SECRETD_OWN\" ] || exit 7\n"
	    "printf 'op-secret'");

	setenv("SECRETD_OWN", "must-not-leak", 1);
	provider_for(&p, &cfg, "1password", "op://v/i/f", "OP_PATH", op);
	ck_assert_ptr_null(resolve(&p, &code));
	ck_assert_int_eq(code, ERR_SECRET_ACCESS_DENIED); /* no token yet */
	provider_set_op_token(&p, (const unsigned char *)"ops_tok", 7);
	ck_assert_str_eq(resolve(&p, &code), "op-secret");
	provider_free(&p);
	config_free(&cfg);
}
END_TEST

/* What a failing helper prints is logged, without the token or a secret. */
START_TEST(logged_stderr_is_redacted)
{
	struct provider p;
	struct config cfg;
	enum err_code code;
	char logpath[128], log[4096];
	int saved = dup(STDERR_FILENO), fd;
	ssize_t n;
	const char *op = script("op", "echo \"(401) Unauthorized: token $OP_SERVICE_ACCOUNT_TOKEN "
				      "refused\" >&2; exit 1");

	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	provider_for(&p, &cfg, "1password", "op://v/i/f", "OP_PATH", op);
	provider_set_op_token(&p, (const unsigned char *)"tok-9f8e7d", 10);
	dup2(fd, STDERR_FILENO);
	ck_assert_ptr_null(resolve(&p, &code));
	dup2(saved, STDERR_FILENO);
	ck_assert_int_eq(code, ERR_SECRET_ACCESS_DENIED);
	close(fd);
	fd = open(logpath, O_RDONLY);
	n = read(fd, log, sizeof(log) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	log[n] = '\0';
	ck_assert_ptr_nonnull(strstr(log, "Unauthorized: token [REDACTED] refused"));
	ck_assert_ptr_null(strstr(log, "tok-9f8e7d"));
	provider_free(&p);
	config_free(&cfg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("helper");
	TCase *th = tcase_create("helper_run");
	TCase *tp = tcase_create("provider");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_checked_fixture(th, dir_setup, dir_teardown);
	tcase_set_timeout(th, 20);
	tcase_add_test(th, stdout_and_stderr_captured);
	tcase_add_test(th, exactly_the_given_environment);
	tcase_add_test(th, stdin_is_dev_null);
	tcase_add_test(th, no_descriptor_of_ours);
	tcase_add_test(th, own_process_group);
	tcase_add_test(th, timeout_kills_the_whole_group);
	tcase_add_test(th, straggler_does_not_hold_the_answer);
	tcase_add_test(th, too_much_output_refused);
	tcase_add_test(th, stderr_capped_not_blocking);
	tcase_add_test(th, missing_program_fails_cleanly);
	tcase_add_checked_fixture(tp, dir_setup, dir_teardown);
	tcase_set_timeout(tp, 20);
	tcase_add_test(tp, command_helper_line_is_the_secret);
	tcase_add_test(tp, command_helper_failures);
	tcase_add_test(tp, op_gets_the_token_and_the_reference);
	tcase_add_test(tp, logged_stderr_is_redacted);
	suite_add_tcase(s, th);
	suite_add_tcase(s, tp);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
