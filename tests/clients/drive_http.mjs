/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

// Drives brokerd --http with the official TypeScript SDK's Streamable HTTP
// client and reports what it saw, as one JSON object on stdout;
// tests/integration/test_http.py judges it.
//
//   node drive_http.mjs <url> [api-key]
//
// initialize (the SDK's newest version), tools/list, two calls, a third
// with onprogress on smoke mode's throttled path (one 429, so brokerd
// answers it as an event stream: progress, then the result), then the
// session is ended (DELETE) as a client does when it is done.
const [url, key] = process.argv.slice(2);
if (!url) {
  process.stderr.write("usage: drive_http.mjs URL [API-KEY]\n");
  process.exit(64);
}

const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");

const headers = key ? { Authorization: `Bearer ${key}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
const client = new Client({ name: "mab-http-client-test", version: "1.0.0" });
const report = { calls: [] };
try {
  await client.connect(transport);
  report.sessionId = transport.sessionId ?? null;
  report.protocolVersion = transport.protocolVersion ?? null;
  const listed = await client.listTools();
  report.names = listed.tools.map((t) => t.name);
  for (const [name, args] of [
    ["graph_execute", { operation: { action: "downstream_call", method: "GET", path: "/v1.0/users" } }],
    ["graph_token_describe", {}],
  ]) {
    const r = await client.callTool({ name, arguments: args });
    report.calls.push({ name, isError: r.isError === true, sc: r.structuredContent ?? null });
  }
  const progress = [];
  const r = await client.callTool(
    { name: "graph_execute", arguments: { operation: { action: "downstream_call", method: "GET", path: "/beta/smoke/throttled" } } },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  report.progressed = { isError: r.isError === true, sc: r.structuredContent ?? null, progress };
  await transport.terminateSession();
  report.terminated = transport.sessionId === undefined;
  await client.close();
} catch (e) {
  report.error = String(e && e.message ? e.message : e);
}
process.stdout.write(JSON.stringify(report) + "\n");
