/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The operator checks' output: text lines or one JSON document (report.h). */
#include "buildconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "jsonx.h"
#include "log.h"
#include "report.h"

static const char *const verdicts[] = { "ok", "warn", "fail" };

void
report_init(struct report *r, const char *command, bool json)
{
	r->command = command;
	r->json = json;
	r->passed = r->failed = r->warned = 0;
	r->checks = json ? json_object_new_array() : NULL;
}

static void
report_json(struct report *r, enum verdict v, const char *check, const char *hint,
    const char *detail)
{
	struct json_object *o = json_object_new_object();

	jx_add_str(o, "verdict", verdicts[v]);
	jx_add_str(o, "check", check);
	jx_add_str(o, "detail", detail);
	if (hint != NULL)
		jx_add_str(o, "hint", hint);
	json_object_array_add(r->checks, o);
}

void
report_vadd(struct report *r, enum verdict v, const char *check, const char *hint,
    const char *fmt, va_list ap)
{
	char detail[2048];

	vsnprintf(detail, sizeof(detail), fmt, ap);
	if (v == VERDICT_FAIL)
		r->failed++;
	else
		r->passed++;
	if (v == VERDICT_WARN)
		r->warned++;
	if (r->json) {
		report_json(r, v, check, hint, detail);
		return;
	}
	/* Flushed per line: a check that hangs shows how far it got. */
	printf("%-4s  %-18s %s%s%s\n", verdicts[v], check, detail, hint ? "; " : "", hint ? hint : "");
	fflush(stdout);
}

void
report_end(struct report *r)
{
	if (r->json) {
		struct json_object *o = json_object_new_object();
		jx_add_str(o, "command", r->command);
		jx_add_str(o, "status", r->failed ? "failed" : "ok");
		jx_add_int(o, "passed", r->passed);
		jx_add_int(o, "failed", r->failed);
		jx_add_int(o, "warnings", r->warned);
		jx_add(o, "checks", r->checks);
		puts(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%s: %s (%u passed, %u failed)\n", r->command, r->failed ? "FAILED" : "ok",
		    r->passed, r->failed);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		fatal("writing the report to stdout");
	exit(r->failed ? 1 : 0);
}

void
report_add(struct report *r, enum verdict v, const char *check, const char *hint,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vadd(r, v, check, hint, fmt, ap);
	va_end(ap);
}
