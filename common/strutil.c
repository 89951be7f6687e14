/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "strutil.h"

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void
strlist_add(struct strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (v == NULL)
		fatalx("out of memory");
	v[l->n++] = xstrdup(s);
	l->v = v;
}

void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const char *
text_quote(const char *s, char *out, size_t outsz)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < QUOTE_LEN && i + 1 < outsz; i++)
		out[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
	return out;
}

bool
words_contain(const char *list, const char *word, bool nocase)
{
	size_t len = strlen(word);

	for (const char *p = list; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, " ");
		if (n == len && (nocase ? strncasecmp(p, word, len) : strncmp(p, word, len)) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}
