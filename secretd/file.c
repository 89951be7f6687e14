/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The file provider: a secret in a file the operator manages, or a systemd
 * credential (LoadCredential=) in $CREDENTIALS_DIRECTORY.
 *
 * A secret file that other users can read is a leaked secret: like ssh with
 * a private key, secretd refuses it rather than use it, and says why.  The
 * check is made at each read, so fixing the mode takes effect without a
 * restart. */
#include "buildconf.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "proc.h"
#include "secretd.h"
#include "secretenv.h"

/* The on-disk form of a POSIX ACL (system.posix_acl_access, version 2,
 * little-endian): a 4-byte version, then {tag, perm, id} entries. */
#define ACL_XATTR "system.posix_acl_access"
#define ACL_XATTR_VERSION 2
#define ACL_TAG_USER 0x02
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP 0x08
#define ACL_TAG_MASK 0x10
#define ACL_PERM_READ 0x04

struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static int
fail(struct secret_error *err, enum err_code code, const char *msg)
{
	err->code = code;
	snprintf(err->message, sizeof(err->message), "%s", msg);
	return -1;
}

/* With an ACL, the group bits of the mode are its mask, not the group's
 * permission.  systemd grants a service user read access to a credential
 * that way.  Returns whether anyone but uid (and the owner) may read. */
static bool
acl_reads_beyond(const void *acl, size_t len, uid_t uid)
{
	const unsigned char *p = acl;
	uint16_t mask = 0x07;
	uint32_t version;

	/* Unreadable or of a version we do not know: assume the worst. */
	if (len < 4 || (len - 4) % sizeof(struct acl_entry) != 0)
		return true;
	memcpy(&version, p, sizeof(version));
	if (le32toh(version) != ACL_XATTR_VERSION)
		return true;
	for (size_t off = 4; off < len; off += sizeof(struct acl_entry)) {
		struct acl_entry e;
		memcpy(&e, p + off, sizeof(e));
		if (le16toh(e.tag) == ACL_TAG_MASK)
			mask = le16toh(e.perm);
	}
	for (size_t off = 4; off < len; off += sizeof(struct acl_entry)) {
		struct acl_entry e;
		uint16_t tag;
		memcpy(&e, p + off, sizeof(e));
		tag = le16toh(e.tag);
		if (!(le16toh(e.perm) & mask & ACL_PERM_READ))
			continue;
		if (tag == ACL_TAG_GROUP_OBJ || tag == ACL_TAG_GROUP ||
		    (tag == ACL_TAG_USER && le32toh(e.id) != uid))
			return true;
	}
	return false;
}

const char *
file_refusal(const struct stat *st, const void *acl, size_t acl_len, uid_t uid, bool credential,
    char *why, size_t len)
{
	bool group_reads = (st->st_mode & S_IRWXG) != 0;

	if (!S_ISREG(st->st_mode)) {
		snprintf(why, len, "it is not a regular file");
		return why;
	}
	/* systemd's credential store belongs to root, which can read anything
	 * anyway; anywhere else the secret must be ours alone. */
	if (st->st_uid != uid && !(credential && st->st_uid == 0)) {
		snprintf(why, len, "it is owned by uid %lu, not by secretd's uid %lu: chown it",
		    (unsigned long)st->st_uid, (unsigned long)uid);
		return why;
	}
	if (group_reads && acl_len > 0)
		group_reads = acl_reads_beyond(acl, acl_len, uid);
	if (group_reads || (st->st_mode & S_IRWXO) != 0) {
		snprintf(why, len,
		    "it is accessible to %s (mode %04o): chmod 600 it, as ssh requires of a "
		    "private key",
		    group_reads ? "its group" : "other users", (unsigned)(st->st_mode & 07777));
		return why;
	}
	return NULL;
}

/* The ACL of an open file, or 0 when it has none. */
static size_t
file_acl(int fd, unsigned char *buf, size_t len)
{
	ssize_t n = fgetxattr(fd, ACL_XATTR, buf, len);

	/* ERANGE (an ACL too long for buf) counts as one we cannot read. */
	if (n == -1 && errno == ERANGE)
		return 1;
	return n > 0 ? (size_t)n : 0;
}

static int
file_open_checked(const char *path, bool credential, struct secret_error *err)
{
	unsigned char acl[512];
	char why[160];
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO put in the secret's place must not hang us. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		log_warn("secret file %s", path);
		if (errno == ENOENT)
			return fail(err, ERR_SECRET_NOT_FOUND, "the secret file does not exist");
		if (errno == EACCES || errno == EPERM)
			return fail(err, ERR_SECRET_ACCESS_DENIED, "the secret file is not readable");
		return fail(err, ERR_SECRET_UNAVAILABLE, "the secret file cannot be opened");
	}
	if (fstat(fd, &st) == -1)
		fatal("fstat %s", path);
	if (file_refusal(&st, acl, file_acl(fd, acl, sizeof(acl)), geteuid(), credential, why,
		sizeof(why)) != NULL) {
		log_error("refusing secret file %s: %s", path, why);
		close(fd);
		return fail(err, ERR_SECRET_ACCESS_DENIED,
		    "the secret file is accessible to others or owned by another user: refused "
		    "(see secretd's log)");
	}
	return fd;
}

static int
file_read_fd(int fd, const char *path, struct guarded *out, struct secret_error *err)
{
	unsigned char *buf;
	ssize_t n;
	size_t len;
	int rc = 0;

	/* Guarded from the first byte, like a helper's output. */
	if ((buf = sodium_malloc(HELPER_OUT_MAX + 1)) == NULL)
		fatalx("out of guarded memory");
	n = proc_read_all(fd, buf, HELPER_OUT_MAX + 1);
	len = n > 0 ? (size_t)n : 0;
	/* Files written with echo or an editor end in a newline the secret
	 * does not have. */
	if (n > 0 && len <= HELPER_OUT_MAX && buf[len - 1] == '\n')
		len -= (len > 1 && buf[len - 2] == '\r') ? 2 : 1;
	if (n == -1) {
		log_warn("read %s", path);
		rc = fail(err, ERR_SECRET_UNAVAILABLE, "the secret file cannot be read");
	} else if (len > HELPER_OUT_MAX) {
		log_error("secret file %s is larger than %u bytes", path, HELPER_OUT_MAX);
		rc = fail(err, ERR_SECRET_UNAVAILABLE, "the secret file is too large");
	} else if (len == 0) {
		log_error("secret file %s is empty", path);
		rc = fail(err, ERR_SECRET_NOT_FOUND, "the secret file is empty");
	} else if (guard_store(out, buf, len) == -1) {
		fatalx("out of guarded memory");
	}
	sodium_free(buf);
	return rc;
}

int
file_read_secret(const char *ref, const char *cred_dir, struct guarded *out,
    struct secret_error *err)
{
	char path[4096];
	bool credential = ref[0] != '/';
	int fd, rc;

	if (!credential)
		snprintf(path, sizeof(path), "%s", ref);
	else if (secretenv_credential_path(cred_dir, ref, path, sizeof(path)) == -1)
		return fail(err, ERR_SECRET_NOT_FOUND,
		    "the secret is a credential name, but " CREDENTIALS_DIR_VAR " is not set");
	if ((fd = file_open_checked(path, credential, err)) == -1)
		return -1;
	rc = file_read_fd(fd, path, out, err);
	close(fd);
	return rc;
}
