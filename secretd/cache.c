/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The resolved secret, kept in guarded memory for
 * MCP_AUTH_BROKER_SECRET_CACHE_SECONDS: 1Password service accounts are
 * rate-limited per hour, and a helper may be slow.  Expiry, and the early
 * re-resolution tokend asks for when the login endpoint rejects the secret
 * (at most once per SECRET_REFRESH_MIN_MS), let a rotated secret take effect
 * without a restart. */
#include "buildconf.h"

#include <string.h>

#include <sodium.h>

#include "secretd.h"

void
secret_cache_init(struct secret_cache *c, long ttl_s, int64_t (*now_ms)(void))
{
	memset(c, 0, sizeof(*c));
	c->ttl_s = ttl_s;
	c->now_ms = now_ms;
}

bool
secret_cache_needs_resolve(const struct secret_cache *c, bool refresh)
{
	int64_t now = c->now_ms();

	if (!c->valid || c->ttl_s == 0 || now - c->resolved_ms >= c->ttl_s * 1000)
		return true;
	return refresh && (!c->refreshed || now - c->refreshed_ms >= SECRET_REFRESH_MIN_MS);
}

void
secret_cache_note_refresh(struct secret_cache *c)
{
	c->refreshed = true;
	c->refreshed_ms = c->now_ms();
}

void
secret_cache_store(struct secret_cache *c, struct guarded *g)
{
	const unsigned char *p;

	guard_free(&c->secret);
	c->secret = *g;
	g->p = NULL;
	g->len = 0;
	p = guard_open(&c->secret);
	secret_fingerprint(p, c->secret.len, c->fingerprint);
	guard_close(&c->secret);
	c->valid = true;
	c->resolved_ms = c->now_ms();
}

bool
secret_cache_take_news(struct secret_cache *c)
{
	if (!c->valid || strcmp(c->fingerprint, c->reported) == 0)
		return false;
	memcpy(c->reported, c->fingerprint, sizeof(c->reported));
	return true;
}

void
secret_cache_free(struct secret_cache *c)
{
	guard_free(&c->secret);
	c->valid = false;
}

void
secret_fingerprint(const unsigned char *p, size_t n, char out[17])
{
	unsigned char key[crypto_generichash_KEYBYTES] = { 0 };
	unsigned char h[crypto_generichash_BYTES];

	_Static_assert(sizeof(FINGERPRINT_KEY_TEXT) - 1 <= sizeof(key), "fingerprint key too long");
	memcpy(key, FINGERPRINT_KEY_TEXT, sizeof(FINGERPRINT_KEY_TEXT) - 1);
	crypto_generichash(h, sizeof(h), p, n, key, sizeof(key));
	sodium_bin2hex(out, 17, h, 8);
	sodium_memzero(h, sizeof(h));
}
