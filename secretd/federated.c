/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The federated credential (workload identity federation): an OIDC issuer
 * the app registration trusts (the Kubernetes service-account issuer, GitHub
 * Actions, ...) writes a short-lived JWT to AZURE_FEDERATED_TOKEN_FILE, and
 * tokend presents it as the client assertion.  secretd reads the file for
 * every login, so a token the kubelet rotated (it swaps the `..data`
 * symlink of the projected volume) is used as soon as it is there; nothing
 * is cached.
 *
 * The file is laid out by the kubelet, not by the operator: root-owned and
 * mode 0644 is how a projected volume looks, and the token expires within
 * hours, so the secret file's rules (ours alone, mode 0600) do not apply.
 * What does: a regular file (a FIFO must not hang us), owned by root or by
 * us (nobody else can have written it), and writable by nobody else.
 *
 * Its content is checked before tokend sees it: a compact JWS whose header
 * and payload are JSON objects and whose exp is in the future.  The
 * signature is the issuer's, for the login endpoint to verify. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "jsonx.h"
#include "log.h"
#include "proc.h"
#include "secretd.h"

static int
fed_fail(struct secret_error *err, enum err_code code, const char *msg)
{
	err->code = code;
	snprintf(err->message, sizeof(err->message), "federated credential: %s", msg);
	return -1;
}

/* A claim for the operator's eyes: printable ASCII, cut to fit. */
static void
claim_copy(char *out, size_t len, const char *v)
{
	snprintf(out, len, "%s", v != NULL ? v : "");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* aud may be a string or an array of them (RFC 7519 4.1.3). */
static void
claim_aud(struct json_object *payload, char *out, size_t len)
{
	struct json_object *aud = jx_get(payload, "aud");

	if (aud != NULL && json_object_is_type(aud, json_type_array) &&
	    json_object_array_length(aud) > 0)
		aud = json_object_array_get_idx(aud, 0);
	claim_copy(out, len,
	    aud != NULL && json_object_is_type(aud, json_type_string) ? json_object_get_string(aud)
								      : NULL);
}

/* Where each of the three segments starts and how long it is: -1 unless
 * jwt is three non-empty base64url segments joined by dots. */
static int
jwt_split(const char *jwt, size_t len, size_t start[3], size_t seg[3])
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t k = 0;

	start[0] = 0;
	for (size_t i = 0; i < len; i++) {
		if (jwt[i] == '.') {
			if (k == 2)
				return -1;
			seg[k] = i - start[k];
			start[++k] = i + 1;
		} else if (jwt[i] == '\0' || strchr(b64url, jwt[i]) == NULL) {
			return -1;
		}
	}
	if (k != 2)
		return -1;
	seg[2] = len - start[2];
	return seg[0] > 0 && seg[1] > 0 && seg[2] > 0 ? 0 : -1;
}

int
federated_parse(const char *jwt, size_t len, int64_t now, struct federated_info *info,
    const char **why)
{
	struct json_object *header, *payload;
	size_t start[3], seg[3];
	int64_t exp;

	memset(info, 0, sizeof(*info));
	if (len == 0 || len > MSG_ASSERTION_MAX || jwt_split(jwt, len, start, seg) == -1) {
		*why = "the token file does not hold a JWT (three base64url parts joined by dots)";
		return -1;
	}
	if ((header = jx_parse_b64url_object(jwt, seg[0])) == NULL) {
		*why = "the token file does not hold a JWT: its header is not a JSON object";
		return -1;
	}
	json_object_put(header);
	if ((payload = jx_parse_b64url_object(jwt + start[1], seg[1])) == NULL) {
		*why = "the token file does not hold a JWT: its payload is not a JSON object";
		return -1;
	}
	if (!jx_get_int64(payload, "exp", &exp)) {
		json_object_put(payload);
		*why = "the token in the file has no exp (expiry) claim";
		return -1;
	}
	claim_copy(info->iss, sizeof(info->iss), jx_get_str(payload, "iss"));
	claim_copy(info->sub, sizeof(info->sub), jx_get_str(payload, "sub"));
	claim_aud(payload, info->aud, sizeof(info->aud));
	json_object_put(payload);
	info->exp = exp;
	if (exp <= now) {
		*why = "the token in the file has expired: is the projected token still being "
		       "refreshed (kubelet) or written (CI)?";
		return -2;
	}
	return 0;
}

/* Opens the token file (through the kubelet's symlinks) and checks what it
 * is, as laid out by whoever writes it. */
static int
fed_open(const char *path, struct secret_error *err)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO put in the token's place must not hang us. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		log_warn("federated token file %s", path);
		if (errno == ENOENT || errno == ENOTDIR)
			return fed_fail(err, ERR_SECRET_NOT_FOUND,
			    "the token file AZURE_FEDERATED_TOKEN_FILE names does not exist: check "
			    "the projected service-account token volume");
		if (errno == EACCES || errno == EPERM)
			return fed_fail(err, ERR_SECRET_ACCESS_DENIED,
			    "the token file AZURE_FEDERATED_TOKEN_FILE names is not readable by "
			    "secretd's user");
		return fed_fail(err, ERR_SECRET_UNAVAILABLE,
		    "the token file AZURE_FEDERATED_TOKEN_FILE names cannot be opened");
	}
	if (fstat(fd, &st) == -1)
		fatal("fstat %s", path);
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_error("refusing federated token file %s: %s (owner uid %lu, mode %04o): it must "
			  "be a regular file owned by root or uid %lu and writable by its owner only",
		    path, !S_ISREG(st.st_mode) ? "not a regular file" : "owner or mode",
		    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777),
		    (unsigned long)geteuid());
		close(fd);
		return fed_fail(err, ERR_SECRET_ACCESS_DENIED,
		    "the token file is not a regular file, belongs to another user or is writable "
		    "by others: refused (see secretd's log)");
	}
	return fd;
}

int
federated_read(const char *path, int64_t now, char *out, size_t cap, size_t *outlen,
    struct federated_info *info, struct secret_error *err)
{
	const char *why = NULL;
	ssize_t n;
	size_t len;
	int fd, rc;

	if ((fd = fed_open(path, err)) == -1)
		return -1;
	n = proc_read_all(fd, out, cap);
	close(fd);
	if (n == -1) {
		log_warn("read %s", path);
		return fed_fail(err, ERR_SECRET_UNAVAILABLE, "the token file cannot be read");
	}
	len = (size_t)n;
	/* A token written with echo ends in a newline the JWT does not have. */
	while (len > 0 && len < cap &&
	    (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
		len--;
	if ((size_t)n >= cap || len > MSG_ASSERTION_MAX) {
		sodium_memzero(out, cap);
		log_error("federated token file %s is larger than %d bytes", path, MSG_ASSERTION_MAX);
		return fed_fail(err, ERR_SECRET_NOT_FOUND,
		    "the token file is too large to hold a JWT");
	}
	if ((rc = federated_parse(out, len, now, info, &why)) != 0) {
		sodium_memzero(out, cap);
		log_error("federated token file %s: %s", path, why);
		return fed_fail(err, rc == -2 ? ERR_SECRET_UNAVAILABLE : ERR_SECRET_NOT_FOUND, why);
	}
	out[len] = '\0';
	*outlen = len;
	return 0;
}
