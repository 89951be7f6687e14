/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The two tools of DESIGN.md section 3: their names, schemas and calls. */
#ifndef BROKERD_TOOLS_H
#define BROKERD_TOOLS_H

#include "config.h"

/* The names tools/list offers by default: ^[a-zA-Z0-9_-]{1,64}$, which every
 * MCP client accepts (Claude Desktop, Copilot and OpenAI refuse a dot).
 * They are the interface, and what audit records name. */
#define TOOL_EXECUTE "graph_execute"
#define TOOL_DESCRIBE "graph_token_describe"
/* The original broker's names: always callable, listed instead with
 * MCP_AUTH_BROKER_TOOL_NAMES=original. */
#define TOOL_EXECUTE_ORIGINAL "auth.graph.operation.execute.v1"
#define TOOL_DESCRIBE_ORIGINAL "auth.graph.token.describe.v1"

/* The name tools/list offers for a tool (TOOL_EXECUTE or TOOL_DESCRIBE). */
const char *tools_listed_name(const struct config *cfg, const char *tool);

/* tooldoc.c: the tool descriptions, written from the active policy so that
 * an agent knows what it may ask before it asks.  Bounded: a long path
 * allowlist is cut, saying how many entries were left out. */
#define TOOLDOC_MAX 2048
void tooldoc_execute(const struct config *cfg, char *out, size_t len);
void tooldoc_describe(const struct config *cfg, char *out, size_t len);

#endif
