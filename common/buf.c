/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	buf_init(b);
}

size_t
buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

const unsigned char *
buf_head(const struct buf *b)
{
	/* A buffer that never held data has no block: NULL + 0 is undefined
	 * (UBSan aborts on it), and callers such as oauth_done pass the head of
	 * an empty body along with its length 0. */
	if (b->data == NULL)
		return (const unsigned char *)"";
	return b->data + b->off;
}

/* Moves unconsumed bytes to the front, wiping what they leave behind. */
static void
buf_compact(struct buf *b)
{
	size_t avail = buf_avail(b);

	if (b->off == 0)
		return;
	memmove(b->data, b->data + b->off, avail);
	sodium_memzero(b->data + avail, b->len - avail);
	b->off = 0;
	b->len = avail;
}

int
buf_reserve(struct buf *b, size_t n)
{
	unsigned char *p;
	size_t cap;

	if (b->cap - b->len >= n)
		return 0;
	buf_compact(b);
	if (b->cap - b->len >= n)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > ((size_t)-1) / 2)
			return -1;
		cap *= 2;
	}
	/* Not realloc: the old block must be wiped before it is released. */
	if ((p = malloc(cap)) == NULL)
		return -1;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0) /* b->data may be NULL, and p too: see buf_head */
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_avail(b))
		n = buf_avail(b);
	if (n == 0) /* and b->data may be NULL: see buf_head */
		return;
	sodium_memzero(b->data + b->off, n);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}
