/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What secretd's environment holds, how a credential leaves brokerd's
 * environment block, and brokerd's start-up checks (common/secretenv.c). */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "secretenv.h"

#define P "MCP_AUTH_BROKER_"

static void
load(struct config *cfg, const char *provider, const char *ref, const char *extra)
{
	char e_provider[64], e_ref[256];
	char *env[] = { P "ENV=dev", P "TENANT_ID=contoso.example",
		P "GRAPH_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		P "ALLOWED_GRAPH_RESOURCES=https://graph.microsoft.com", P "ALLOWED_SCOPES=x",
		e_provider, e_ref, (char *)extra, NULL };
	struct config_errors errs;

	snprintf(e_provider, sizeof(e_provider), P "SECRET_PROVIDER=%s", provider);
	snprintf(e_ref, sizeof(e_ref), P "GRAPH_SECRET_REF=%s", ref);
	ck_assert_msg(config_load(cfg, env, &errs) == 0, "%s", errs.n ? errs.v[0] : "");
}

START_TEST(secretd_environment_per_provider)
{
	struct config cfg;

	load(&cfg, "1password", "op://v/i/f", NULL);
	ck_assert(secretenv_wanted(&cfg, "PATH=/usr/bin"));
	ck_assert(secretenv_wanted(&cfg, "HOME=/var/lib/mab"));
	ck_assert(secretenv_wanted(&cfg, "CREDENTIALS_DIRECTORY=/run/credentials/mab.service"));
	ck_assert(secretenv_wanted(&cfg, "HTTPS_PROXY=http://proxy:3128"));
	ck_assert(!secretenv_wanted(&cfg, "OP_SERVICE_ACCOUNT_TOKEN=ops_x"));
	ck_assert(!secretenv_wanted(&cfg, "AWS_SECRET_ACCESS_KEY=x"));
	ck_assert(!secretenv_wanted(&cfg, "PATHX=1"));
	config_free(&cfg);

	load(&cfg, "file", "/etc/mab/secret", NULL);
	ck_assert(secretenv_wanted(&cfg, "CREDENTIALS_DIRECTORY=/run/credentials/x"));
	ck_assert(!secretenv_wanted(&cfg, "PATH=/usr/bin"));
	config_free(&cfg);

	load(&cfg, "command", "graph", P "SECRET_HELPER=/usr/bin/true");
	ck_assert(secretenv_wanted(&cfg, "PATH=/usr/bin"));
	ck_assert(secretenv_wanted(&cfg, "HOME=/root"));
	ck_assert(!secretenv_wanted(&cfg, "CREDENTIALS_DIRECTORY=/run/x"));
	ck_assert(!secretenv_wanted(&cfg, "OP_SERVICE_ACCOUNT_TOKEN=ops_x"));
	config_free(&cfg);

	load(&cfg, "env", "GRAPH_SECRET", NULL);
	ck_assert(secretenv_wanted(&cfg, "GRAPH_SECRET=s3cret"));
	ck_assert(!secretenv_wanted(&cfg, "GRAPH_SECRET_2=x"));
	ck_assert(!secretenv_wanted(&cfg, "PATH=/usr/bin"));
	config_free(&cfg);
}
END_TEST

START_TEST(smoke_mode_passes_nothing_more)
{
	struct config cfg;
	struct config_errors errs;
	char *env[] = { P "SECRET_PROVIDER=1password", NULL };

	ck_assert_int_eq(config_load(&cfg, env, &errs), 0);
	ck_assert(!secretenv_wanted(&cfg, "PATH=/usr/bin"));
	config_free(&cfg);
}
END_TEST

/* The value is overwritten where it lies: for the process's initial
 * environment that is the block /proc/PID/environ shows. */
START_TEST(take_wipes_in_place)
{
	static char entry[] = "MAB_CHECK_TOKEN=ops_topsecret";
	struct guarded g = { NULL, 0 };

	ck_assert_int_eq(putenv(entry), 0);
	ck_assert_int_eq(secretenv_take("MAB_CHECK_TOKEN", &g), 1);
	ck_assert_ptr_null(getenv("MAB_CHECK_TOKEN"));
	/* The name goes too: nothing tells that there was a token. */
	for (size_t i = 0; i < sizeof(entry) - 1; i++)
		ck_assert_int_eq(entry[i], 0);
	ck_assert_uint_eq(g.len, strlen("ops_topsecret"));
	ck_assert_int_eq(memcmp(guard_open(&g), "ops_topsecret", g.len), 0);
	guard_close(&g);
	guard_free(&g);
}
END_TEST

START_TEST(take_absent_or_wipe_only)
{
	static char entry[] = "MAB_CHECK_SECRET=value";
	struct guarded g = { NULL, 0 };

	ck_assert_int_eq(secretenv_take("MAB_CHECK_ABSENT", &g), 0);
	ck_assert_ptr_null(g.p);
	ck_assert_int_eq(putenv(entry), 0);
	ck_assert_int_eq(secretenv_take("MAB_CHECK_SECRET", NULL), 1);
	ck_assert_ptr_null(getenv("MAB_CHECK_SECRET"));
	ck_assert_str_eq(entry, "");
}
END_TEST

static char dir[64];

static void
dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_secretenv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
touch(const char *name, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(op_found_on_path_or_where_configured)
{
	struct config cfg;
	char found[4096], search[512], want[256], op_path[300];

	mkdir(strcat(strcpy(search, dir), "/empty"), 0700);
	touch("op", 0755);
	snprintf(want, sizeof(want), "%s/op", dir);
	load(&cfg, "1password", "op://v/i/f", NULL);
	/* Relative entries are skipped: "." here would find ./op by accident. */
	snprintf(search, sizeof(search), ".:%s/empty::%s", dir, dir);
	ck_assert_int_eq(secretenv_find_op(&cfg, search, found, sizeof(found)), 0);
	ck_assert_str_eq(found, want);
	snprintf(search, sizeof(search), "%s/empty", dir);
	ck_assert_int_eq(secretenv_find_op(&cfg, search, found, sizeof(found)), -1);
	config_free(&cfg);

	snprintf(op_path, sizeof(op_path), P "OP_PATH=%s", want);
	load(&cfg, "1password", "op://v/i/f", op_path);
	ck_assert_int_eq(secretenv_find_op(&cfg, "/nonexistent", found, sizeof(found)), 0);
	ck_assert_str_eq(found, want);
	config_free(&cfg);

	touch("not-exec", 0644);
	snprintf(op_path, sizeof(op_path), P "OP_PATH=%s/not-exec", dir);
	load(&cfg, "1password", "op://v/i/f", op_path);
	ck_assert_int_eq(secretenv_find_op(&cfg, NULL, found, sizeof(found)), -1);
	config_free(&cfg);
}
END_TEST

static bool
names(const struct config_errors *errs, const char *var)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strncmp(errs->v[i], var, strlen(var)) == 0 && errs->v[i][strlen(var)] == ':')
			return true;
	return false;
}

START_TEST(startup_checks_name_the_variable)
{
	struct config cfg;
	struct config_errors errs;
	char op_path[300];

	touch("op", 0755);
	snprintf(op_path, sizeof(op_path), P "OP_PATH=%s/op", dir);
	unsetenv("OP_SERVICE_ACCOUNT_TOKEN");
	unsetenv("CREDENTIALS_DIRECTORY");
	load(&cfg, "1password", "op://v/i/f", op_path);
	ck_assert_int_eq(secretenv_check(&cfg, &errs), -1);
	ck_assert(names(&errs, "OP_SERVICE_ACCOUNT_TOKEN"));
	config_errors_free(&errs);
	/* The credential instead of the variable will do. */
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	touch("op-service-account-token", 0600);
	ck_assert_int_eq(secretenv_check(&cfg, &errs), 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	setenv("OP_SERVICE_ACCOUNT_TOKEN", "ops_x", 1);
	ck_assert_int_eq(secretenv_check(&cfg, &errs), 0);
	config_free(&cfg);

	load(&cfg, "file", "graph-secret", NULL);
	ck_assert_int_eq(secretenv_check(&cfg, &errs), -1);
	ck_assert(names(&errs, P "GRAPH_SECRET_REF"));
	config_errors_free(&errs);
	config_free(&cfg);

	load(&cfg, "command", "graph", P "SECRET_HELPER=/nonexistent/helper");
	ck_assert_int_eq(secretenv_check(&cfg, &errs), -1);
	ck_assert(names(&errs, P "SECRET_HELPER"));
	config_errors_free(&errs);
	config_free(&cfg);

	unsetenv("MAB_CHECK_UNSET");
	load(&cfg, "env", "MAB_CHECK_UNSET", NULL);
	ck_assert_int_eq(secretenv_check(&cfg, &errs), -1);
	ck_assert(names(&errs, P "GRAPH_SECRET_REF"));
	config_errors_free(&errs);
	config_free(&cfg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("secretenv");
	TCase *tc = tcase_create("secretenv");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, secretd_environment_per_provider);
	tcase_add_test(tc, smoke_mode_passes_nothing_more);
	tcase_add_test(tc, take_wipes_in_place);
	tcase_add_test(tc, take_absent_or_wipe_only);
	tcase_add_test(tc, op_found_on_path_or_where_configured);
	tcase_add_test(tc, startup_checks_name_the_variable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
