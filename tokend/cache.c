/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "log.h"

void
cache_init(struct token_cache *c, long skew_s, long max_ttl_s, int64_t (*now)(void))
{
	c->head = NULL;
	c->skew_s = skew_s;
	c->max_ttl_s = max_ttl_s;
	c->now = now;
}

void
cache_free(struct token_cache *c)
{
	struct token_entry *e, *next;

	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		guard_free(&e->token);
		free(e->tenant);
		free(e->client_id);
		free(e->resource);
		free(e);
	}
	c->head = NULL;
}

struct token_entry *
cache_find(struct token_cache *c, const char *tenant, const char *client_id, const char *resource)
{
	for (struct token_entry *e = c->head; e != NULL; e = e->next)
		if (strcmp(e->tenant, tenant) == 0 && strcmp(e->client_id, client_id) == 0 &&
		    strcmp(e->resource, resource) == 0)
			return e;
	return NULL;
}

struct token_entry *
cache_entry(struct token_cache *c, const char *tenant, const char *client_id, const char *resource)
{
	struct token_entry *e = cache_find(c, tenant, client_id, resource);

	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->tenant = strdup(tenant)) == NULL ||
	    (e->client_id = strdup(client_id)) == NULL || (e->resource = strdup(resource)) == NULL)
		fatalx("out of memory");
	e->next = c->head;
	c->head = e;
	return e;
}

struct token_entry *
cache_find_minting(struct token_cache *c, uint64_t mint_id)
{
	for (struct token_entry *e = c->head; e != NULL; e = e->next)
		if (e->minting && e->mint_id == mint_id)
			return e;
	return NULL;
}

bool
cache_usable(const struct token_cache *c, const struct token_entry *e)
{
	return e != NULL && e->token.p != NULL && e->expires_at > c->now() + c->skew_s;
}

enum cache_state
cache_state(const struct token_cache *c, const struct token_entry *e)
{
	if (e == NULL || e->token.p == NULL)
		return CACHE_EMPTY;
	return cache_usable(c, e) ? CACHE_VALID : CACHE_EXPIRED;
}

int
cache_store(struct token_cache *c, struct token_entry *e, const char *token, size_t len,
    const char *token_type, long expires_in)
{
	long ttl = expires_in < c->max_ttl_s ? expires_in : c->max_ttl_s;

	if (guard_store(&e->token, token, len) == -1)
		return -1;
	snprintf(e->token_type, sizeof(e->token_type), "%s", token_type);
	e->has_roles = false; /* the caller reads the new token's, if any */
	e->roles[0] = '\0';
	e->generation++;
	e->minted_at = c->now();
	e->expires_at = e->minted_at + ttl;
	e->refresh_at = e->minted_at + (ttl - c->skew_s) * 3 / 4;
	return 0;
}

bool
cache_wants_refresh(const struct token_cache *c, const struct token_entry *e)
{
	return cache_usable(c, e) && !e->minting && !cache_throttled(c, e) &&
	    c->now() >= e->refresh_at;
}

bool
cache_throttled(const struct token_cache *c, const struct token_entry *e)
{
	return c->now() < e->throttled_until;
}

void
cache_note_failure(struct token_cache *c, struct token_entry *e, enum err_code code,
    const char *msg, const char *sig, long retry_after_s)
{
	int64_t until = 0;

	if (code == ERR_PROVIDER_RATE_LIMITED) {
		until = c->now() + (retry_after_s > 0 ? retry_after_s : CACHE_THROTTLE_429_S);
	} else if (sig != NULL && *sig != '\0') {
		if (strcmp(sig, e->last_fail_sig) == 0) {
			e->same_fail_count++;
		} else {
			snprintf(e->last_fail_sig, sizeof(e->last_fail_sig), "%s", sig);
			e->same_fail_count = 1;
		}
		if (e->same_fail_count >= CACHE_THROTTLE_4XX_COUNT)
			until = c->now() + CACHE_THROTTLE_4XX_S;
	}
	if (until > e->throttled_until) {
		e->throttled_until = until;
		e->throttle_code = code;
		snprintf(e->throttle_msg, sizeof(e->throttle_msg), "%s", msg ? msg : "");
	}
	if (cache_usable(c, e))
		e->refresh_failed = true;
}

void
cache_note_success(struct token_entry *e)
{
	e->throttled_until = 0;
	e->last_fail_sig[0] = '\0';
	e->same_fail_count = 0;
	e->refresh_failed = false;
}

void
cache_invalidate(struct token_entry *e)
{
	guard_free(&e->token);
	e->expires_at = 0;
}

bool
cache_invalidate_generation(struct token_entry *e, uint64_t generation)
{
	if (e->token.p == NULL || e->generation != generation)
		return false;
	cache_invalidate(e);
	return true;
}
