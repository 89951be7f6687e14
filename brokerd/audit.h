/* Audit records: one JSON line per tool call, to MCP_AUTH_BROKER_AUDIT_FILE
 * or, when unset, to stderr.  They carry decisions and codes, never a secret,
 * a token or a request body. */
#ifndef BROKERD_AUDIT_H
#define BROKERD_AUDIT_H

#include <json-c/json.h>

#include "config.h"

void audit_open(const struct config *cfg);
/* Writes rec (adding "ts" and "event") as one line. */
void audit_write(const char *event, struct json_object *rec);

#endif
