/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* MCP_AUTH_BROKER_API_KEYS_FILE: "name sha256hex [role,role...]" lines.
 * Only each key's SHA-256 is stored; a presented key is hashed and compared
 * with every entry in constant time.  brokerd authenticates HTTP callers
 * with it, and tokend checks the key brokerd passes with each call again
 * (the monitor rule). */
#ifndef MAB_APIKEYS_H
#define MAB_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

#define API_KEY_NAME_MAX   64
#define API_KEY_ROLES_MAX  512
#define API_KEYS_FILE_MAX  (1024 * 1024)

struct api_key {
	char name[API_KEY_NAME_MAX + 1];
	unsigned char hash[crypto_hash_sha256_BYTES];
	char roles[API_KEY_ROLES_MAX + 1]; /* space-separated; "" for none */
};

struct api_keys {
	struct api_key *v;
	size_t n;
};

/* Reads path, checked like the secret file: a regular file (not a
 * symlink) of our uid, no access for group or other.  -1 with why filled
 * on any problem (k is then empty). */
int api_keys_load(struct api_keys *k, const char *path, char *why, size_t len);
/* The entry whose hash is key's, or NULL; every entry is compared. */
const struct api_key *api_keys_match(const struct api_keys *k, const char *key);
/* For tests and the fuzz harness: an entry for key. */
void api_keys_add(struct api_keys *k, const char *name, const char *key, const char *roles);
void api_keys_free(struct api_keys *k);

#endif
