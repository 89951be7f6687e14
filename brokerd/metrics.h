/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* GET /metrics: brokerd's counters, and tokend's as tokend last reported
 * them (MSG_TOKEN_STATS), in the Prometheus text exposition format 0.0.4.
 * Every label value comes from a closed set (tool names, error codes,
 * refusal reasons, transports): a client cannot add a series. */
#ifndef BROKERD_METRICS_H
#define BROKERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "brokerd.h"

/* Why the HTTP transport refused a request (http_request.c), one label
 * value each. */
enum metrics_refusal {
	REFUSAL_NOT_FOUND,        /* no such path */
	REFUSAL_HOST,             /* Host is not this server */
	REFUSAL_ORIGIN,           /* Origin not allowed */
	REFUSAL_METHOD,           /* method not served at that path */
	REFUSAL_AUTH,             /* no valid API key */
	REFUSAL_PROTOCOL_VERSION, /* unknown MCP-Protocol-Version */
	REFUSAL_STOPPING,         /* shutting down */
	REFUSAL_BODY_TOO_LARGE,   /* over MCP_AUTH_BROKER_MAX_MESSAGE_BYTES */
	REFUSAL_MEDIA_TYPE,       /* not application/json */
	REFUSAL_PARSE,            /* not JSON */
	REFUSAL_BATCH,            /* not one JSON-RPC object */
	REFUSAL_SESSION_REQUIRED, /* no Mcp-Session-Id where one is needed */
	REFUSAL_SESSION_UNKNOWN,  /* an Mcp-Session-Id not known (for this caller) */
	REFUSAL_SESSIONS_FULL,    /* HTTP_MAX_MCP_SESSIONS held */
	REFUSAL_METRICS_PEER,     /* GET /metrics from a peer HTTP_METRICS excludes */
	REFUSAL_COUNT
};

/* outcome: ERR_NONE (ok) or the call's error code; cancelled wins over it.
 * tool: TOOL_EXECUTE or TOOL_DESCRIBE (anything else is not counted). */
void metrics_tool_call(const char *tool, enum err_code outcome, bool cancelled,
                       int64_t duration_ms);
void metrics_refusal(enum metrics_refusal why);
/* A TOKEN_STATS message from tokend; a malformed one is fatal. */
void metrics_token_stats(const struct ipc_msg *m);
/* The exposition, malloc'd, of len bytes. */
char *metrics_render(const struct broker *b, size_t *len);

#endif
