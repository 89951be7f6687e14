/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* What policy.c shares with the checks it delegates to: policy_batch.c
 * (a $batch judged request by request) and policy_query.c (query options
 * and body references that reach further resources).  Not for callers
 * outside the policy code: they use policy.h. */
#ifndef MAB_POLICY_INT_H
#define MAB_POLICY_INT_H

#include <stdbool.h>

#include "policy.h"

#define POLICY_VERSION_LEN 6 /* "/v1.0/" and "/beta/" */

bool policy_deny(struct policy_decision *d, enum err_code code, const char *reason,
    const char *rule, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The value of a hex digit, or -1. */
int policy_hexval(char c);

/* The allowlist rule that admits METHOD on PATH, or NULL; with no allowlist
 * configured, NULL too (callers look at cfg->n_paths first). */
const struct path_rule *policy_allowlist_find(const struct config *cfg, const char *method,
    const char *path);

/* Everything policy_decide judges about the operation itself (path, batch,
 * mutation switch, allowlist, query options, references, headers), for a
 * request sent alone (in_batch false) or for one request of a $batch.
 * *is_read says whether it only reads; *rule is the allowlist rule that
 * admitted it, NULL without an allowlist. */
bool policy_judge_operation(const struct config *cfg, const struct graph_request *req,
    bool in_batch, struct policy_decision *d, const struct path_rule **rule, bool *is_read);

/* policy_batch.c: whether PATH (already judged safe) may address the batch
 * endpoint: its first segment, percent-decoded and in any letter case,
 * begins with "$batch" (policy_check_batch refuses all but "$batch"). */
bool policy_batch_path(const char *path);
/* The envelope and every request in it; *is_read when all are GET. */
bool policy_check_batch(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d, const struct path_rule **rule, bool *is_read);

/* policy_query.c: $expand (and $id) against the allowlist, and references
 * (@odata.id, @odata.bind) in the body; no-ops without an allowlist. */
bool policy_check_query(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d);
bool policy_check_references(const struct config *cfg, const struct graph_request *req,
    struct policy_decision *d);

#endif
