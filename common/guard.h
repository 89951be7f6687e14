/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Guarded memory for secrets: libsodium's sodium_malloc (guard pages, canary,
 * mlock, wiped on free), kept no-access between uses so that a stray read
 * faults instead of leaking. */
#ifndef MAB_GUARD_H
#define MAB_GUARD_H

#include <stddef.h>

struct guarded {
	unsigned char *p;
	size_t len;
};

/* Copies n bytes of src into fresh guarded memory, left no-access; -1 on failure. */
int guard_store(struct guarded *g, const void *src, size_t n);
/* Readable between open and close; close makes it no-access again. */
const unsigned char *guard_open(const struct guarded *g);
void guard_close(const struct guarded *g);
void guard_free(struct guarded *g);
/* Wipes memory that held a secret outside guarded memory. */
void secure_wipe(void *p, size_t n);

#endif
