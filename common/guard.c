/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <string.h>

#include <sodium.h>

#include "guard.h"
#include "log.h"

int
guard_store(struct guarded *g, const void *src, size_t n)
{
	guard_free(g);
	/* sodium_malloc(0) is valid but useless; keep one byte so open() works. */
	if ((g->p = sodium_malloc(n ? n : 1)) == NULL)
		return -1;
	memcpy(g->p, src, n);
	g->len = n;
	sodium_mprotect_noaccess(g->p);
	return 0;
}

const unsigned char *
guard_open(const struct guarded *g)
{
	if (g->p == NULL)
		return NULL;
	if (sodium_mprotect_readonly(g->p) != 0)
		fatal("sodium_mprotect_readonly");
	return g->p;
}

void
guard_close(const struct guarded *g)
{
	if (g->p != NULL && sodium_mprotect_noaccess(g->p) != 0)
		fatal("sodium_mprotect_noaccess");
}

void
guard_free(struct guarded *g)
{
	if (g->p != NULL)
		sodium_free(g->p); /* wipes before releasing */
	g->p = NULL;
	g->len = 0;
}

void
secure_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
