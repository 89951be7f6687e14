/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The JSON-RPC lines the load generator sends and how it reads the answers.
 * Printed and scanned by hand rather than through json-c: the client's own
 * cost belongs to neither brokerd nor the floor. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"

#define EXECUTE_TOOL  "auth.graph.operation.execute.v1"
#define DESCRIBE_TOOL "auth.graph.token.describe.v1"

const char *
call_name(enum call_kind kind)
{
	switch (kind) {
	case CALL_PING:
		return "ping";
	case CALL_DESCRIBE:
		return "describe";
	case CALL_EXECUTE:
		return "execute";
	}
	return "?";
}

/* README's execute example, on GET /v1.0/organization (canned in smoke
 * mode and in the TLS mock). */
static int
execute_line(const struct call *c, long id, char *b, size_t cap)
{
	return snprintf(b, cap,
	    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"" EXECUTE_TOOL "\",\"arguments\":{\"contract_version\":\"v1\","
	    "\"request_id\":\"req-%ld\",\"requester\":{\"requester_id\":\"agent-7\","
	    "\"identity_assurance\":\"high\"},\"graph\":{\"tenant_id\":\"%s\","
	    "\"resource\":\"%s\",\"scopes\":[\"User.Read.All\"]},\"operation\":{\"action\":"
	    "\"downstream_call\",\"method\":\"GET\",\"path\":\"/v1.0/organization\"},"
	    "\"timeout_ms\":%ld}}}\n",
	    id, id, c->tenant, c->resource, c->timeout_ms);
}

size_t
call_make(const void *ctx, long id, char *b, size_t cap)
{
	const struct call *c = ctx;
	int n = -1;

	switch (c->kind) {
	case CALL_PING:
		n = snprintf(b, cap, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}\n", id);
		break;
	case CALL_DESCRIBE:
		n = snprintf(b, cap,
		    "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":"
		    "{\"name\":\"" DESCRIBE_TOOL "\",\"arguments\":{}}}\n",
		    id);
		break;
	case CALL_EXECUTE:
		n = execute_line(c, id, b, cap);
		break;
	}
	if (n < 0 || (size_t)n >= cap)
		fatalx("request line does not fit in %zu bytes", cap);
	return (size_t)n;
}

/* brokerd writes "id" right after "jsonrpc"; a line without one in its
 * first bytes is a notification. */
long
call_id_of(const char *line, size_t len)
{
	static const char key[] = "\"id\":";
	size_t scan = len < 40 ? len : 40;
	const char *p = memmem(line, scan, key, sizeof(key) - 1);

	if (p == NULL)
		return -1;
	return strtol(p + sizeof(key) - 1, NULL, 10);
}

static int
contains(const char *line, size_t len, const char *needle)
{
	return memmem(line, len, needle, strlen(needle)) != NULL;
}

/* A JSON-RPC error or a tool error is a failed call; an execute must also
 * have reached Graph and got its 200. */
int
call_check(const void *ctx, const char *line, size_t len)
{
	const struct call *c = ctx;

	if (!contains(line, len, "\"result\":") || contains(line, len, "\"isError\":true"))
		return -1;
	if (c->kind == CALL_EXECUTE && !contains(line, len, "\"http_status\":200"))
		return -1;
	return 0;
}
