/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The token cache (DESIGN.md section 6), keyed by tenant, client id and
 * resource.  Tokens live in guarded memory; an expired token is never
 * served. */
#ifndef TOKEND_CACHE_H
#define TOKEND_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "guard.h"

enum cache_state { CACHE_EMPTY, CACHE_VALID, CACHE_EXPIRED };

struct token_entry {
	char *tenant;
	char *client_id;
	char *resource;
	struct guarded token;
	char token_type[16];
	/* The token's roles claim (tokend claims.c), space-separated: not
	 * secret, kept beside the token for policy and brokerd --ready. */
	bool has_roles;
	char roles[4096];
	int64_t expires_at; /* wall-clock seconds, after the TTL clamp */
	int64_t minted_at;
	int64_t refresh_at; /* wall-clock: refresh ahead of expiry from here on */
	bool minting;	    /* a login is in flight (single flight) */
	bool fresh_secret;  /* this login already asked secretd for a fresh secret */
	bool awaiting_secret; /* its secret request to secretd is unanswered */
	bool refresh_failed; /* the last refresh failed while a token remained */
	uint64_t mint_id;   /* the login's request id on the secretd channel */
	/* A login retried after a back-off (managed identity): when the next
	 * attempt starts (monotonic ms, 0: none), the attempts made and when
	 * the provider timeout budget of the whole login runs out. */
	int64_t login_retry_at_ms;
	int64_t login_deadline_ms;
	int login_attempts;
	/* Which token this is: counts stores, so that a Graph answer about a
	 * token can be told from one about its successor. */
	uint64_t generation;
	/* Throttling of login requests after 429 and repeated identical 4xx. */
	int64_t throttled_until;
	enum err_code throttle_code;
	char throttle_msg[256];
	char last_fail_sig[128];
	int same_fail_count;
	struct token_entry *next;
};

struct token_cache {
	struct token_entry *head;
	long skew_s;
	long max_ttl_s;
	int64_t (*now)(void); /* wall clock; injected by tests */
};

void cache_init(struct token_cache *c, long skew_s, long max_ttl_s, int64_t (*now)(void));
void cache_free(struct token_cache *c);
/* The entry for the key, created empty if absent. */
struct token_entry *cache_entry(struct token_cache *c, const char *tenant, const char *client_id,
    const char *resource);
struct token_entry *cache_find(struct token_cache *c, const char *tenant, const char *client_id,
    const char *resource);
struct token_entry *cache_find_minting(struct token_cache *c, uint64_t mint_id);
/* Whether the token may be served now: expires_at > now + skew. */
bool cache_usable(const struct token_cache *c, const struct token_entry *e);
enum cache_state cache_state(const struct token_cache *c, const struct token_entry *e);
/* Throttle after a 429 without Retry-After, and after this many identical
 * 4xx answers in a row for how long: the same request would fail the same
 * way, and hammering the login endpoint gets an app throttled for longer. */
#define CACHE_THROTTLE_429_S 5
#define CACHE_THROTTLE_4XX_COUNT 2
#define CACHE_THROTTLE_4XX_S 30

/* Refresh ahead: when 3/4 of the usable lifetime has passed, the next call
 * starts a login in the background and is served from the cache. */
bool cache_wants_refresh(const struct token_cache *c, const struct token_entry *e);
bool cache_throttled(const struct token_cache *c, const struct token_entry *e);
/* Records a failed login (sig identifies a 4xx answer, NULL otherwise). */
void cache_note_failure(struct token_cache *c, struct token_entry *e, enum err_code code,
    const char *msg, const char *sig, long retry_after_s);
void cache_note_success(struct token_entry *e);
void cache_invalidate(struct token_entry *e);
/* Graph rejected the token of this generation: drop it, unless it has been
 * dropped or replaced since (a late 401 about an old token must not drop
 * a fresh one).  True when it dropped it. */
bool cache_invalidate_generation(struct token_entry *e, uint64_t generation);
/* Stores a fresh token; the effective TTL is min(expires_in, max_ttl). */
int cache_store(struct token_cache *c, struct token_entry *e, const char *token, size_t len,
    const char *token_type, long expires_in);

#endif
