/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Small string helpers every process uses.  Allocation failure is fatal:
 * none of these processes can do anything useful without memory. */
#ifndef MAB_STRUTIL_H
#define MAB_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;
	size_t n;
};

char *xstrdup(const char *s);
void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/* Whether word is one of the space-separated words of list (NULL: none),
 * compared exactly or, with nocase, ignoring ASCII case. */
bool words_contain(const char *list, const char *word, bool nocase);

/* How much of a client-chosen name a message quotes. */
#define QUOTE_LEN 48
/* Client-chosen names go into messages that are logged and audited: at most
 * QUOTE_LEN characters, anything but visible ASCII replaced by '?'.  out
 * must hold QUOTE_LEN + 1 bytes or outsz says less. */
const char *text_quote(const char *s, char *out, size_t outsz);

#endif
