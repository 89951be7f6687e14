/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Policy (DESIGN.md section 4): deterministic, default deny.  brokerd
 * decides with it (for the answer and the audit record); tokend decides
 * again with the same code before it mints or sends anything. */
#ifndef MAB_POLICY_H
#define MAB_POLICY_H

#include <stdbool.h>

#include "config.h"
#include "errors.h"
#include "request.h"

/* Headers forwarded to Graph when present and valid; anything else is
 * stripped (authorization and cookie among them, always).  request.c refuses
 * any other name before policy sees it, so brokerd strips nothing; policy
 * keeps its own judgement for tokend, the monitor. */
#define POLICY_FORWARDED_HEADERS REQ_FORWARDED_HEADERS

struct policy_decision {
	bool allow;
	enum err_code code;    /* ERR_NONE when allowed */
	char reason[96];       /* policy.rule.allow.<rule> | policy.rule.deny.<why> */
	char rule[256];	       /* the rule that matched, for audit */
	char message[512];     /* for the client: why, and what would be allowed */
	bool forward[REQ_MAX_HEADERS]; /* per request header: forwarded or stripped */
	size_t n_stripped;
};

void policy_decide(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d);
/* Whether a request to path (one policy allowed) is a JSON batch. */
bool policy_is_batch(const char *path);
/* The tenant and resource checks alone: a token_only request (--ready). */
void policy_decide_target(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d);
/* The resource in the form config.c keeps resources in (lower case, no
 * trailing slash), which is also tokend's cache key; false if it does not
 * fit in out. */
bool policy_resource_key(const char *resource, char *out, size_t outsz);
/* "a, b, c" into out, as many items as fit, ", ..." when some did not;
 * "none" when n is 0.  What a denial says would be allowed. */
const char *policy_hint_list(char *out, size_t outsz, const char *const *items, size_t n);
/* How much of a denial message such a list may take: enough for a useful
 * hint, bounded whatever the configuration holds. */
#define POLICY_HINT_LEN 240
/* The path check alone (also used on the describe tool's inputs). */
bool policy_path_safe(const char *path, const char *query, const char **why);

#endif
