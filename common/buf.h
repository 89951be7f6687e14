/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* A growable byte buffer with a read offset.  Consumed bytes are wiped before
 * the space is reused or freed: the same buffers carry client secrets between
 * secretd and tokend. */
#ifndef MAB_BUF_H
#define MAB_BUF_H

#include <stddef.h>

struct buf {
	unsigned char *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid data */
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
size_t buf_avail(const struct buf *b);
const unsigned char *buf_head(const struct buf *b);
/* Makes room for at least n more bytes after len; -1 on allocation failure. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);

#endif
