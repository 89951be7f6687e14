/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The file provider (secretd/file.c): which files may hold a secret, and
 * what is read from them. */
#include "buildconf.h"

#include <check.h>
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secretd.h"

#define ME 1000
#define SOMEONE 1001

/* ---- file_refusal on synthetic status and ACLs ------------------------ */

static struct stat
st_of(mode_t mode, uid_t uid)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_uid = uid;
	return st;
}

static const char *
refusal(mode_t mode, uid_t owner, bool credential, const void *acl, size_t acl_len)
{
	static char why[160];
	struct stat st = st_of(mode, owner);

	return file_refusal(&st, acl, acl_len, ME, credential, why, sizeof(why));
}

START_TEST(private_file_accepted)
{
	ck_assert_ptr_null(refusal(S_IFREG | 0600, ME, false, NULL, 0));
	ck_assert_ptr_null(refusal(S_IFREG | 0400, ME, false, NULL, 0));
}
END_TEST

START_TEST(readable_by_others_refused)
{
	const char *why = refusal(S_IFREG | 0640, ME, false, NULL, 0);

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "its group"));
	ck_assert_ptr_nonnull(strstr(why, "0640"));
	ck_assert_ptr_nonnull(strstr(why, "chmod 600"));
	why = refusal(S_IFREG | 0604, ME, false, NULL, 0);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "other users"));
	/* Writable by others is as bad: they could swap the secret. */
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0620, ME, false, NULL, 0));
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0602, ME, false, NULL, 0));
}
END_TEST

START_TEST(other_owner_refused)
{
	const char *why = refusal(S_IFREG | 0600, SOMEONE, false, NULL, 0);

	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "owned by uid 1001"));
	/* Outside $CREDENTIALS_DIRECTORY root is another user too. */
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0600, 0, false, NULL, 0));
	/* Inside it, only root may stand in for us: that is systemd. */
	ck_assert_ptr_null(refusal(S_IFREG | 0400, 0, true, NULL, 0));
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0400, SOMEONE, true, NULL, 0));
}
END_TEST

START_TEST(not_a_regular_file_refused)
{
	ck_assert_ptr_nonnull(refusal(S_IFIFO | 0600, ME, false, NULL, 0));
	ck_assert_ptr_nonnull(refusal(S_IFDIR | 0700, ME, false, NULL, 0));
}
END_TEST

struct acl_e {
	uint16_t tag, perm;
	uint32_t id;
};

/* The xattr form of an ACL: version 2, then the entries, little-endian. */
static size_t
acl_build(unsigned char *buf, const struct acl_e *e, size_t n)
{
	uint32_t v = htole32(2);

	memcpy(buf, &v, 4);
	for (size_t i = 0; i < n; i++) {
		struct acl_e le = { htole16(e[i].tag), htole16(e[i].perm), htole32(e[i].id) };
		memcpy(buf + 4 + i * sizeof(le), &le, sizeof(le));
	}
	return 4 + n * sizeof(struct acl_e);
}

/* How systemd grants a service user its credential on a file system with
 * ACLs: root owns it, mode 0400, plus user:<service>:r, so the group bits
 * show the mask (0440). */
static const struct acl_e grant_me[] = {
	{ 0x01, 4, 0 }, { 0x02, 4, ME }, { 0x04, 0, 0 }, { 0x10, 4, 0 }, { 0x20, 0, 0 },
};

START_TEST(systemd_credential_acl_accepted)
{
	unsigned char buf[128];
	size_t n = acl_build(buf, grant_me, 5);

	ck_assert_ptr_null(refusal(S_IFREG | 0440, 0, true, buf, n));
	/* Without the ACL the same mode means the group may read. */
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, NULL, 0));
}
END_TEST

START_TEST(acl_granting_others_refused)
{
	const struct acl_e someone[] = {
		{ 0x01, 4, 0 }, { 0x02, 4, SOMEONE }, { 0x04, 0, 0 }, { 0x10, 4, 0 }, { 0x20, 0, 0 },
	};
	const struct acl_e group_obj[] = {
		{ 0x01, 4, 0 }, { 0x02, 4, ME }, { 0x04, 4, 0 }, { 0x10, 4, 0 }, { 0x20, 0, 0 },
	};
	const struct acl_e named_group[] = {
		{ 0x01, 4, 0 }, { 0x04, 0, 0 }, { 0x08, 4, 100 }, { 0x10, 4, 0 }, { 0x20, 0, 0 },
	};
	unsigned char buf[128];
	size_t n;

	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, buf, acl_build(buf, someone, 5)));
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, buf, acl_build(buf, group_obj, 5)));
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, buf, acl_build(buf, named_group, 5)));
	/* An ACL we cannot read is assumed to grant everything. */
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, buf, 7));
	n = acl_build(buf, grant_me, 5);
	buf[0] = 3; /* an unknown version */
	ck_assert_ptr_nonnull(refusal(S_IFREG | 0440, 0, true, buf, n));
}
END_TEST

/* ---- file_read_secret on real files ------------------------------------ */

static char dir[64];

static void
dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_secret_file.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *
put(const char *name, const void *content, size_t len, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* Reads ref; on success returns the secret as a string, else NULL with *code. */
static const char *
read_secret(const char *ref, const char *cred_dir, enum err_code *code)
{
	static char text[128];
	struct guarded g = { NULL, 0 };
	struct secret_error err = { ERR_NONE, "" };

	*code = ERR_NONE;
	if (file_read_secret(ref, cred_dir, &g, &err) == -1) {
		*code = err.code;
		ck_assert_msg(strlen(err.message) > 0, "no message");
		ck_assert_ptr_null(strstr(err.message, dir)); /* no path for the client */
		return NULL;
	}
	ck_assert_uint_lt(g.len, sizeof(text));
	memcpy(text, guard_open(&g), g.len);
	text[g.len] = '\0';
	guard_free(&g);
	return text;
}

START_TEST(one_trailing_newline_dropped)
{
	enum err_code code;

	ck_assert_str_eq(read_secret(put("a", "abc\n", 4, 0600), NULL, &code), "abc");
	ck_assert_str_eq(read_secret(put("b", "abc\r\n", 5, 0600), NULL, &code), "abc");
	ck_assert_str_eq(read_secret(put("c", "abc", 3, 0400), NULL, &code), "abc");
	ck_assert_str_eq(read_secret(put("d", "a\nb\n\n", 5, 0600), NULL, &code), "a\nb\n");
}
END_TEST

START_TEST(unusable_files)
{
	enum err_code code;
	static char big[70000];
	char absent[128];

	memset(big, 'x', sizeof(big));
	ck_assert_ptr_null(read_secret(put("empty", "", 0, 0600), NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
	ck_assert_ptr_null(read_secret(put("nl", "\n", 1, 0600), NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
	ck_assert_ptr_null(read_secret(put("loose", "abc", 3, 0644), NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_ACCESS_DENIED);
	ck_assert_ptr_null(read_secret(put("big", big, sizeof(big), 0600), NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_UNAVAILABLE);
	snprintf(absent, sizeof(absent), "%s/absent", dir);
	ck_assert_ptr_null(read_secret(absent, NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
}
END_TEST

/* A FIFO in the secret's place is refused, not waited on. */
START_TEST(fifo_refused_without_hanging)
{
	char path[128];
	enum err_code code;

	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(read_secret(path, NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_ACCESS_DENIED);
}
END_TEST

START_TEST(credential_names)
{
	enum err_code code;

	put("graph-client-secret", "cred\n", 5, 0400);
	ck_assert_str_eq(read_secret("graph-client-secret", dir, &code), "cred");
	ck_assert_ptr_null(read_secret("graph-client-secret", NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_NOT_FOUND);
}
END_TEST

/* The file behind a symlink is what is checked and read. */
START_TEST(symlink_followed_and_target_checked)
{
	char link_ok[128], link_bad[128];
	char target_ok[128], target_bad[128];
	enum err_code code;

	snprintf(target_ok, sizeof(target_ok), "%s", put("t-ok", "linked", 6, 0600));
	snprintf(target_bad, sizeof(target_bad), "%s", put("t-bad", "linked", 6, 0644));
	snprintf(link_ok, sizeof(link_ok), "%s/l-ok", dir);
	snprintf(link_bad, sizeof(link_bad), "%s/l-bad", dir);
	ck_assert_int_eq(symlink(target_ok, link_ok), 0);
	ck_assert_int_eq(symlink(target_bad, link_bad), 0);
	ck_assert_str_eq(read_secret(link_ok, NULL, &code), "linked");
	ck_assert_ptr_null(read_secret(link_bad, NULL, &code));
	ck_assert_int_eq(code, ERR_SECRET_ACCESS_DENIED);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("secret_file");
	TCase *tr = tcase_create("refusal");
	TCase *tf = tcase_create("read");
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	tcase_add_test(tr, private_file_accepted);
	tcase_add_test(tr, readable_by_others_refused);
	tcase_add_test(tr, other_owner_refused);
	tcase_add_test(tr, not_a_regular_file_refused);
	tcase_add_test(tr, systemd_credential_acl_accepted);
	tcase_add_test(tr, acl_granting_others_refused);
	tcase_add_checked_fixture(tf, dir_setup, dir_teardown);
	tcase_add_test(tf, one_trailing_newline_dropped);
	tcase_add_test(tf, unusable_files);
	tcase_add_test(tf, fifo_refused_without_hanging);
	tcase_add_test(tf, credential_names);
	tcase_add_test(tf, symlink_followed_and_target_checked);
	suite_add_tcase(s, tr);
	suite_add_tcase(s, tf);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
