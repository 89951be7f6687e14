/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What a failed `op read` means, from what it prints on stderr, and what of
 * that stderr may be logged.
 *
 * op exits 1 for every failure; only its message tells a missing item from
 * a revoked token.  The distinction matters to the client: not_found and
 * access_denied need an operator, so retrying them only burns the service
 * account's hourly rate limit, while unavailable is worth a retry. */
#include "buildconf.h"

#include <string.h>

#include "secretd.h"

struct opmap_rule {
	const char *needle;
	enum err_code code;
	const char *message;
};

/* Matched in order against the messages op 2.x prints. */
static const struct opmap_rule opmap_rules[] = {
	/* The account cannot see the vault, or the token itself is refused or
	 * unreadable: the service account needs fixing. */
	{ "isn't a vault in this account", ERR_SECRET_ACCESS_DENIED,
	    "1Password: the vault is not visible to this service account" },
	{ "doesn't seem to be a vault in this account", ERR_SECRET_ACCESS_DENIED,
	    "1Password: the vault is not visible to this service account" },
	{ "(401) Unauthorized", ERR_SECRET_ACCESS_DENIED,
	    "1Password refused the service account token (401 Unauthorized)" },
	{ "failed to DecodeSACredentials", ERR_SECRET_ACCESS_DENIED,
	    "the 1Password service account token is malformed" },
	{ "illegal base64 data", ERR_SECRET_ACCESS_DENIED,
	    "the 1Password service account token is malformed" },
	/* The vault is there but the reference points at nothing. */
	{ "isn't an item in", ERR_SECRET_NOT_FOUND,
	    "1Password: the item named by the secret reference does not exist" },
	{ "does not have a field", ERR_SECRET_NOT_FOUND,
	    "1Password: the item has no field named by the secret reference" },
	/* Throttled: retryable, later. */
	{ "(429) Too Many Requests", ERR_SECRET_UNAVAILABLE,
	    "1Password rate limit reached (429): retry later" },
};

enum err_code
opmap_classify(const char *text, size_t len, const char **message)
{
	for (size_t i = 0; i < sizeof(opmap_rules) / sizeof(opmap_rules[0]); i++) {
		const struct opmap_rule *r = &opmap_rules[i];
		if (memmem(text, len, r->needle, strlen(r->needle)) != NULL) {
			*message = r->message;
			return r->code;
		}
	}
	*message = "the secret helper failed (see secretd's log)";
	return ERR_SECRET_UNAVAILABLE;
}

/* ---- redaction ---------------------------------------------------------- */

#define REDACTED "[REDACTED]"
/* A secret shorter than this is not searched for: it would turn ordinary
 * words into [REDACTED], and no client secret is that short. */
#define REDACT_MIN_SECRET 4
/* Tokens and keys are long runs of base64 or hex; words and 1Password's
 * 26-character item ids are shorter.  A service account token starts
 * "ops_" and is redacted from its prefix on. */
#define REDACT_MIN_RUN 32

static bool
token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

/* Length of the known secret starting at in[i], or 0.  A secret cut short
 * by the end of the input counts too: captured stderr is capped, and the
 * cap may fall inside a secret. */
static size_t
known_at(const char *in, size_t len, size_t i, const struct redact_secret *known, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t m = known[k].len < len - i ? known[k].len : len - i;
		if (known[k].p == NULL || known[k].len < REDACT_MIN_SECRET || m < REDACT_MIN_SECRET)
			continue;
		if (memcmp(in + i, known[k].p, m) == 0)
			return m;
	}
	return 0;
}

/* Length of the run of token characters starting at in[i] if it must go. */
static size_t
token_run_at(const char *in, size_t len, size_t i)
{
	size_t j = i;

	if (i > 0 && token_char((unsigned char)in[i - 1]))
		return 0; /* only from the start of a run */
	while (j < len && token_char((unsigned char)in[j]))
		j++;
	if (j - i >= REDACT_MIN_RUN || (j - i > 4 && strncmp(in + i, "ops_", 4) == 0))
		return j - i;
	return 0;
}

struct out_buf {
	char *p;
	size_t len;
	size_t cap; /* excluding the NUL */
};

static void
out_put(struct out_buf *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

void
opmap_redact(const char *in, size_t len, const struct redact_secret *known, size_t n_known,
    char *out, size_t outlen)
{
	struct out_buf o = { out, 0, outlen - 1 };
	size_t i = 0, skip;

	while (i < len && o.len < o.cap) {
		if ((skip = known_at(in, len, i, known, n_known)) > 0 ||
		    (skip = token_run_at(in, len, i)) > 0) {
			out_put(&o, REDACTED, strlen(REDACTED));
			i += skip;
		} else {
			char c = in[i] == '\n' || in[i] == '\r' ? ' ' : in[i];
			out_put(&o, &c, 1);
			i++;
		}
	}
	while (o.len > 0 && o.p[o.len - 1] == ' ')
		o.len--;
	out[o.len] = '\0';
}
