/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The federated credential's token file (secretd/federated.c): which
 * contents are a usable JWT, and which files are read as the kubelet lays
 * them out. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secretd.h"

#define NOW 1796083200

/* base64url(JSON) . base64url(JSON) . "c2ln", into out. */
static void
make_jwt(const char *header, const char *payload, char *out, size_t cap)
{
	size_t n;

	sodium_bin2base64(out, cap, (const unsigned char *)header, strlen(header),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = strlen(out);
	out[n++] = '.';
	sodium_bin2base64(out + n, cap - n, (const unsigned char *)payload, strlen(payload),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	strcat(out, ".c2ln");
}

static int
parse(const char *payload, struct federated_info *info, const char **why)
{
	char jwt[2048];

	make_jwt("{\"alg\":\"RS256\"}", payload, jwt, sizeof(jwt));
	return federated_parse(jwt, strlen(jwt), NOW, info, why);
}

START_TEST(kubernetes_token_accepted)
{
	struct federated_info info;
	const char *why = NULL;

	ck_assert_int_eq(parse("{\"aud\":[\"api://AzureADTokenExchange\"],\"exp\":1796086800,"
			       "\"iss\":\"https://oidc.example/x/\",\"sub\":\"system:"
			       "serviceaccount:mcp:broker\"}",
			     &info, &why),
	    0);
	ck_assert_str_eq(info.aud, "api://AzureADTokenExchange");
	ck_assert_str_eq(info.iss, "https://oidc.example/x/");
	ck_assert_str_eq(info.sub, "system:serviceaccount:mcp:broker");
	ck_assert_int_eq(info.exp, 1796086800);
	ck_assert_int_eq(parse("{\"aud\":\"api://AzureADTokenExchange\",\"exp\":1796086800}", &info,
			     &why),
	    0);
	ck_assert_str_eq(info.aud, "api://AzureADTokenExchange");
}
END_TEST

START_TEST(expired_or_without_exp_refused)
{
	struct federated_info info;
	const char *why = NULL;

	ck_assert_int_eq(parse("{\"exp\":1796083200}", &info, &why), -2); /* exp == now */
	ck_assert_ptr_nonnull(strstr(why, "expired"));
	ck_assert_int_eq(parse("{\"sub\":\"x\"}", &info, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "no exp"));
	ck_assert_int_eq(parse("{\"exp\":\"soon\"}", &info, &why), -1);
	ck_assert_int_eq(parse("[1]", &info, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "payload"));
}
END_TEST

START_TEST(not_a_jws_refused)
{
	static const char *const bad[] = { "", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.",
		"a.b.c=", "a.b.c\n", "a b.c.d", "eyJ9.eyJ9.c2ln" };
	struct federated_info info;
	const char *why = NULL;
	char big[MSG_ASSERTION_MAX + 16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(federated_parse(bad[i], strlen(bad[i]), NOW, &info, &why) == -1,
		    "accepted '%s'", bad[i]);
	memset(big, 'A', sizeof(big));
	big[10] = big[20] = '.';
	ck_assert_int_eq(federated_parse(big, sizeof(big), NOW, &info, &why), -1);
}
END_TEST

START_TEST(claims_made_printable)
{
	struct federated_info info;
	const char *why = NULL;

	ck_assert_int_eq(parse("{\"exp\":1796086800,\"sub\":\"a\\u0001b\\n\\u00e9\"}", &info, &why),
	    0);
	for (const char *p = info.sub; *p; p++)
		ck_assert(*p >= 0x20 && *p < 0x7f);
}
END_TEST

/* ---- federated_read: the file as the kubelet lays it out ------------- */

static char dir[] = "/tmp/check-federated-XXXXXX";

static void
dir_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check-federated-XXXXXX");
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static int
read_at(const char *path, char *out, size_t cap, struct secret_error *err)
{
	struct federated_info info;
	size_t len = 0;

	return federated_read(path, NOW, out, cap, &len, &info, err);
}

START_TEST(kubelet_layout_read_through_symlinks)
{
	char jwt[1024], path[512], data[256], link[256], out[MSG_ASSERTION_MAX + 2];
	struct secret_error err = { ERR_NONE, "" };

	make_jwt("{}", "{\"exp\":1796086800}", jwt, sizeof(jwt));
	snprintf(data, sizeof(data), "%s/..2026_11_30", dir);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	snprintf(path, sizeof(path), "%s/token", data);
	strcat(jwt, "\n");
	write_file(path, jwt, 0644);
	snprintf(link, sizeof(link), "%s/..data", dir);
	ck_assert_int_eq(symlink("..2026_11_30", link), 0);
	snprintf(path, sizeof(path), "%s/token", dir);
	ck_assert_int_eq(symlink("..data/token", path), 0);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), 0);
	jwt[strlen(jwt) - 1] = '\0';
	ck_assert_str_eq(out, jwt);
}
END_TEST

START_TEST(writable_by_others_or_not_regular_refused)
{
	char jwt[1024], path[256], out[MSG_ASSERTION_MAX + 2];
	struct secret_error err = { ERR_NONE, "" };

	make_jwt("{}", "{\"exp\":1796086800}", jwt, sizeof(jwt));
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, jwt, 0666);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), -1);
	ck_assert_int_eq(err.code, ERR_SECRET_ACCESS_DENIED);
	ck_assert_int_eq(chmod(path, 0620), 0);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), -1);
	ck_assert_int_eq(chmod(path, 0444), 0);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), -1);
	ck_assert_int_eq(err.code, ERR_SECRET_ACCESS_DENIED);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), -1);
	ck_assert_int_eq(err.code, ERR_SECRET_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.message, "federated credential"));
	ck_assert_ptr_null(strstr(err.message, dir)); /* the path goes to the log only */
}
END_TEST

START_TEST(oversized_file_refused_and_wiped)
{
	char path[256], out[MSG_ASSERTION_MAX + 2];
	struct secret_error err = { ERR_NONE, "" };
	char *big = malloc(MSG_ASSERTION_MAX * 2);

	ck_assert_ptr_nonnull(big);
	memset(big, 'A', MSG_ASSERTION_MAX * 2 - 1);
	big[MSG_ASSERTION_MAX * 2 - 1] = '\0';
	big[10] = big[20] = '.';
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, big, 0644);
	ck_assert_int_eq(read_at(path, out, sizeof(out), &err), -1);
	ck_assert_int_eq(err.code, ERR_SECRET_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.message, "too large"));
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_int_eq(out[i], 0);
	free(big);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("federated");
	TCase *tp = tcase_create("parse");
	TCase *tf = tcase_create("read");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tp, kubernetes_token_accepted);
	tcase_add_test(tp, expired_or_without_exp_refused);
	tcase_add_test(tp, not_a_jws_refused);
	tcase_add_test(tp, claims_made_printable);
	tcase_add_checked_fixture(tf, dir_setup, dir_teardown);
	tcase_add_test(tf, kubelet_layout_read_through_symlinks);
	tcase_add_test(tf, writable_by_others_or_not_regular_refused);
	tcase_add_test(tf, oversized_file_refused_and_wiped);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tf);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
