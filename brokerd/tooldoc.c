/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Tool descriptions written from the active policy (tools/list): what an
 * agent may ask, and what it may leave out, before it asks. */
#include "buildconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "request.h"
#include "tools.h"

/* Room kept for the text after the path allowlist (the limits). */
#define TOOLDOC_TAIL 600

struct doc {
	char *out;
	size_t len, used;
};

static void doc_printf(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends what fits; the description is cut, never overrun. */
static void
doc_printf(struct doc *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->used + 1 >= d->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(d->out + d->used, d->len - d->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		d->used = d->used + (size_t)n < d->len ? d->used + (size_t)n : d->len - 1;
}

static void
doc_list(struct doc *d, const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		doc_printf(d, "%s%s", i > 0 ? ", " : "", l->v[i]);
}

/* As many entries as leave room for the rest of the text. */
static void
doc_paths(struct doc *d, const struct config *cfg)
{
	size_t i;

	if (cfg->n_paths == 0) {
		doc_printf(d, " Paths: any path under /v1.0/ or /beta/ (no allowlist is set).");
		return;
	}
	doc_printf(d, " Paths (allowlist; * stays within one segment): ");
	for (i = 0; i < cfg->n_paths; i++) {
		const struct path_rule *r = &cfg->paths[i];
		size_t need = strlen(r->pattern) + (r->method ? strlen(r->method) + 1 : 4) + 2;

		if (d->used + need + TOOLDOC_TAIL > d->len)
			break;
		doc_printf(d, "%s%s:%s", i > 0 ? ", " : "", r->method ? r->method : "any",
		    r->pattern);
	}
	if (i < cfg->n_paths)
		doc_printf(d, "%sand %zu more", i > 0 ? ", " : "", cfg->n_paths - i);
	doc_printf(d, ".");
}

void
tooldoc_execute(const struct config *cfg, char *out, size_t len)
{
	struct doc d = { out, len, 0 };

	out[0] = '\0';
	doc_printf(&d,
	    "Makes one Microsoft Graph request with the application's credentials, if policy "
	    "allows it, and returns the HTTP status, allowed response headers, the JSON body and "
	    "token metadata (never the token). Only operation.method and operation.path are "
	    "needed; everything else has a default. Tenant: %s. Resources: ",
	    cfg->tenant_id ? cfg->tenant_id : "none");
	doc_list(&d, &cfg->resources);
	doc_printf(&d, " (default: the first). Scopes: ");
	doc_list(&d, &cfg->scopes);
	doc_printf(&d, " (default: all).");
	if (cfg->enable_mutations)
		doc_printf(&d, " Methods: GET, POST, PUT, PATCH, DELETE (mutations are enabled).");
	else
		doc_printf(&d, " Methods: GET only (mutations are disabled; a JSON $batch of GETs "
			       "is a read).");
	doc_paths(&d, cfg);
	doc_printf(&d,
	    " Headers: accept, content-type, if-match, prefer, consistencylevel; any other is "
	    "refused. A body is for POST, PUT and PATCH. A POST to /v1.0/$batch takes up to 20 "
	    "requests, each judged as if sent alone. Limits: timeout_ms %d to %d (default %d); "
	    "response bodies up to %ld bytes. A refusal names what would be allowed.",
	    REQ_TIMEOUT_MIN_MS, REQ_TIMEOUT_MAX_MS, REQ_TIMEOUT_DEFAULT_MS,
	    cfg->max_response_bytes);
}

void
tooldoc_describe(const struct config *cfg, char *out, size_t len)
{
	struct doc d = { out, len, 0 };

	out[0] = '\0';
	doc_printf(&d,
	    "Describes the application token tokend holds for a Graph resource: whether it is "
	    "cached, valid or expired, its type and expiry, and whether login requests are "
	    "being held back. Never returns the token and never requests one. Resources: ");
	doc_list(&d, &cfg->resources);
	doc_printf(&d, " (default: the first).");
}
