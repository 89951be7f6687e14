/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The report every operator check prints (--check, --health, --ready,
 * --smoke-e2e): one line per finding, "ok", "warn" or "fail", what was
 * checked (a step, a variable, a file), what was seen and, where there is
 * something to do, what to do; then a summary line.  With --json the same
 * findings make one JSON document instead, printed at the end:
 *
 *   {"command": "check", "status": "ok"|"failed", "passed": N, "failed": N,
 *    "warnings": N, "checks": [{"verdict": "ok"|"warn"|"fail",
 *    "check": "...", "detail": "...", "hint": "..."}]}
 *
 * ("hint" only where there is one; a warning counts as passed). */
#ifndef BROKERD_REPORT_H
#define BROKERD_REPORT_H

#include <stdarg.h>
#include <stdbool.h>

#include <json-c/json.h>

enum verdict { VERDICT_OK, VERDICT_WARN, VERDICT_FAIL };

struct report {
	const char *command; /* "check", "ready", "health", "smoke-e2e" */
	bool json;
	unsigned passed, failed, warned;
	struct json_object *checks; /* json: the findings so far */
};

void report_init(struct report *r, const char *command, bool json);
/* One finding; hint (may be NULL) says what to do about it. */
void report_add(struct report *r, enum verdict v, const char *check, const char *hint,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void report_vadd(struct report *r, enum verdict v, const char *check, const char *hint,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* The summary (or the JSON document); exits 0 when nothing failed, else 1. */
void report_end(struct report *r) __attribute__((noreturn));

#endif
