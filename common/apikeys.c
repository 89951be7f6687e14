/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The API key file (apikeys.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikeys.h"
#include "log.h"
#include "proc.h"

static bool
word_ok(const char *s, size_t max, const char *extra)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@:-";
	size_t len = strlen(s);

	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (strchr(ok, s[i]) == NULL && strchr(extra, s[i]) == NULL)
			return false;
	return true;
}

static void
append(struct api_keys *k, const struct api_key *e)
{
	struct api_key *v = reallocarray(k->v, k->n + 1, sizeof(*v));

	if (v == NULL)
		fatalx("out of memory");
	k->v = v;
	k->v[k->n++] = *e;
}

/* One line: "name sha256hex [roles]", roles comma-separated.  -1 when
 * malformed. */
static int
key_line(struct api_keys *k, char *line)
{
	char *name, *hex, *roles, *rest, *save = NULL;
	struct api_key e;
	size_t bin_len;

	memset(&e, 0, sizeof(e));
	if ((name = strtok_r(line, " \t", &save)) == NULL || name[0] == '#')
		return 0;
	hex = strtok_r(NULL, " \t", &save);
	roles = strtok_r(NULL, " \t", &save);
	rest = strtok_r(NULL, " \t", &save);
	if (hex == NULL || rest != NULL || !word_ok(name, API_KEY_NAME_MAX, "") ||
	    (roles != NULL && !word_ok(roles, API_KEY_ROLES_MAX, ",")) ||
	    strlen(hex) != 2 * sizeof(e.hash) ||
	    sodium_hex2bin(e.hash, sizeof(e.hash), hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(e.hash))
		return -1;
	snprintf(e.name, sizeof(e.name), "%s", name);
	if (roles != NULL) {
		snprintf(e.roles, sizeof(e.roles), "%s", roles);
		for (char *p = e.roles; *p != '\0'; p++)
			if (*p == ',')
				*p = ' ';
	}
	append(k, &e);
	return 0;
}

static int
keys_parse(struct api_keys *k, char *text, char *why, size_t len)
{
	unsigned lineno = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		l[strcspn(l, "\r")] = '\0';
		if (key_line(k, l) == -1) {
			snprintf(why, len,
			    "line %u is not 'name sha256hex [role,...]' (name: letters, digits, "
			    "_.@:-, at most 64; the hash: 64 hex digits)",
			    lineno);
			return -1;
		}
	}
	if (k->n == 0) {
		snprintf(why, len, "holds no key");
		return -1;
	}
	return 0;
}

/* The same rules as the secret file (secretd/file.c): it holds what opens
 * the broker to a caller. */
static int
keys_file_check(int fd, char *why, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(why, len, "fstat: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "not a regular file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, len, "owned by uid %lu, not by the broker's uid %lu",
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(why, len, "mode %04o lets other users read it: chmod 0600",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_size > API_KEYS_FILE_MAX) {
		snprintf(why, len, "larger than 1 MiB");
		return -1;
	}
	return 0;
}

int
api_keys_load(struct api_keys *k, const char *path, char *why, size_t len)
{
	char *text;
	ssize_t n;
	int fd, rc;

	memset(k, 0, sizeof(*k));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(why, len, "%s", errno == ELOOP ? "is a symbolic link" : strerror(errno));
		return -1;
	}
	if (keys_file_check(fd, why, len) == -1) {
		close(fd);
		return -1;
	}
	if ((text = malloc(API_KEYS_FILE_MAX + 1)) == NULL)
		fatalx("out of memory");
	n = proc_read_all(fd, text, API_KEYS_FILE_MAX);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (n == -1) {
		snprintf(why, len, "read: %s", strerror(errno));
		rc = -1;
	} else {
		rc = keys_parse(k, text, why, len);
	}
	free(text);
	if (rc == -1)
		api_keys_free(k);
	return rc;
}

/* Every entry is compared, in constant time, whether or not one matched
 * already: how long it takes says nothing about which key was close. */
const struct api_key *
api_keys_match(const struct api_keys *k, const char *key)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	const struct api_key *found = NULL;

	if (key == NULL)
		return NULL;
	crypto_hash_sha256(hash, (const unsigned char *)key, strlen(key));
	for (size_t i = 0; i < k->n; i++)
		if (sodium_memcmp(hash, k->v[i].hash, sizeof(hash)) == 0)
			found = &k->v[i];
	sodium_memzero(hash, sizeof(hash));
	return found;
}

void
api_keys_add(struct api_keys *k, const char *name, const char *key, const char *roles)
{
	struct api_key e;

	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.roles, sizeof(e.roles), "%s", roles != NULL ? roles : "");
	crypto_hash_sha256(e.hash, (const unsigned char *)key, strlen(key));
	append(k, &e);
}

void
api_keys_free(struct api_keys *k)
{
	if (k->v != NULL)
		sodium_memzero(k->v, k->n * sizeof(*k->v));
	free(k->v);
	k->v = NULL;
	k->n = 0;
}
