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

#include <json-c/json.h>

#include "config.h"

void audit_open(const struct config *cfg);
/* The descriptor records go to: the audit file, or stderr. */
int audit_sink_fd(void);
/* Writes rec (adding "ts" and "event") as one line: 0, or -1 when the
 * line could not be written whole. */
int audit_write(const char *event, struct json_object *rec);
/* NULL while the last record was written; else why it was not. */
const char *audit_broken(void);

#endif
