/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Audit records: one JSON line per tool call, to MCP_AUTH_BROKER_AUDIT_FILE
 * or, when unset, to stderr.  They carry decisions and codes, never a secret,
 * a token or a request body.  They are not log lines: the log level does
 * not filter them.  A record that cannot be written whole marks the sink
 * broken, and brokerd then refuses calls (audit before effect) until a
 * record is written again. */
#ifndef BROKERD_AUDIT_H
#define BROKERD_AUDIT_H

#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "config.h"

void audit_open(const struct config *cfg);
/* The descriptor records go to: the audit file, or stderr. */
int audit_sink_fd(void);
/* Writes rec (adding "ts" and "event") as one line: 0, or -1 when the
 * line could not be written whole. */
int audit_write(const char *event, struct json_object *rec);

/* The same record built as text, member by member, for the record written
 * per tool call (json-c's object, its 17 members and its serialisation
 * were a seventh of brokerd's instructions per call).  audit_line_begin
 * takes members already written as JSON ("\"session\":1,...", no braces,
 * no trailing comma; may be empty); audit_line_str escapes its value as
 * json-c would (NULL: null); audit_line_write adds "ts" and "event",
 * writes the line like audit_write and frees it. */
struct audit_line {
	struct buf b;
};
void audit_line_begin(struct audit_line *l, const char *members, size_t len);
void audit_line_str(struct audit_line *l, const char *key, const char *v);
void audit_line_int(struct audit_line *l, const char *key, int64_t v);
int audit_line_write(struct audit_line *l, const char *event);

/* NULL while the last record was written; else why it was not. */
const char *audit_broken(void);

#endif
