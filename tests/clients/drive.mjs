/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

// Drives brokerd with an official MCP client and reports what it saw, as one
// JSON object on stdout; tests/integration/test_real_clients.py judges it.
//
//   node drive.mjs sdk <protocol-version> -- <command> [args...]
//       @modelcontextprotocol/sdk (v1), legacy era: initialize at
//       <protocol-version> (the SDK always asks for its newest; the request is
//       rewritten on its way out so that every version the SDK accepts can be
//       tried)
//   node drive.mjs client 2026-07-28 -- <command> [args...]
//       @modelcontextprotocol/client (v2), pinned to the stateless era
//
// The broker's environment is this process's.  Every tool's inputSchema and
// outputSchema is compiled with ajv (JSON Schema 2020-12, strict), and every
// structuredContent is validated against its tool's outputSchema; the clients
// also validate structuredContent themselves, and a call they refuse is
// reported as such.
import Ajv2020 from "ajv/dist/2020.js";

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const ORIGINAL = {
  graph_execute: "auth.graph.operation.execute.v1",
  graph_token_describe: "auth.graph.token.describe.v1",
};

function usage() {
  process.stderr.write("usage: drive.mjs sdk|client <protocol-version> -- command [args...]\n");
  process.exit(64);
}

const [kind, version, sep, command, ...args] = process.argv.slice(2);
if (!kind || !version || sep !== "--" || !command) usage();

async function connectSdk() {
  const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method === "initialize") message.params.protocolVersion = version;
    return send(message, options);
  };
  // The SDK tells a transport the negotiated version through this hook.
  let negotiated;
  transport.setProtocolVersion = (v) => {
    negotiated = v;
  };
  const client = new Client({ name: "mab-real-client-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, negotiated, era: "legacy" };
}

async function connectClient2() {
  const { Client } = await import("@modelcontextprotocol/client");
  const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
  const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
  const client = new Client(
    { name: "mab-real-client-test", version: "1.0.0" },
    { versionNegotiation: { mode: { pin: version } } },
  );
  await client.connect(transport);
  return { client, negotiated: client.getNegotiatedProtocolVersion(), era: client.getProtocolEra() };
}

function schemaErrors(ajv, where, schema) {
  try {
    return { validate: ajv.compile(schema), errors: [] };
  } catch (e) {
    return { validate: null, errors: [`${where}: ${e.message}`] };
  }
}

// One call: what the client returned (or refused), and whether its
// structuredContent (or, before structuredContent, its text) fits the schema.
async function call(client, validators, listedAs, name, callArgs) {
  const out = { name, arguments: callArgs };
  let result;
  try {
    result = await client.callTool({ name, arguments: callArgs });
  } catch (e) {
    out.clientError = String(e && e.message ? e.message : e);
    return out;
  }
  out.isError = result.isError === true;
  const text = result.content?.[0]?.type === "text" ? result.content[0].text : null;
  out.structured = "structuredContent" in result;
  const sc = result.structuredContent ?? (text !== null ? JSON.parse(text) : null);
  out.sc = sc;
  const validate = validators.get(listedAs);
  if (validate) {
    out.valid = validate(sc);
    if (!out.valid) out.validationErrors = validate.errors;
  }
  return out;
}

async function main() {
  const { client, negotiated, era } =
    kind === "sdk" ? await connectSdk() : kind === "client" ? await connectClient2() : usage();
  const report = { kind, version, negotiated, era, schemaErrors: [], calls: [] };
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  const listed = await client.listTools();
  report.tools = listed.tools;
  report.names = listed.tools.map((t) => t.name);
  report.namesMatch = report.names.every((n) => NAME_PATTERN.test(n));
  // Before 2025-06-18 tools have no outputSchema and results no
  // structuredContent: the text is judged against the schema brokerd --tools
  // printed (MAB_TOOLS_JSON), under the same name.
  const validators = new Map();
  if (process.env.MAB_TOOLS_JSON) {
    const { readFileSync } = await import("node:fs");
    for (const tool of JSON.parse(readFileSync(process.env.MAB_TOOLS_JSON, "utf8")).tools) {
      const compiled = schemaErrors(ajv, `--tools ${tool.name}.outputSchema`, tool.outputSchema);
      report.schemaErrors.push(...compiled.errors);
      if (compiled.validate) validators.set(tool.name, compiled.validate);
    }
  }
  for (const tool of listed.tools) {
    report.schemaErrors.push(...schemaErrors(ajv, `${tool.name}.inputSchema`, tool.inputSchema).errors);
    if (tool.outputSchema) {
      const compiled = schemaErrors(ajv, `${tool.name}.outputSchema`, tool.outputSchema);
      report.schemaErrors.push(...compiled.errors);
      if (compiled.validate) validators.set(tool.name, compiled.validate);
    }
  }
  // The names listed may be either set (MCP_AUTH_BROKER_TOOL_NAMES); both are callable.
  const execute = report.names.find((n) => n === "graph_execute" || n === ORIGINAL.graph_execute);
  const describe = report.names.find((n) => n === "graph_token_describe" || n === ORIGINAL.graph_token_describe);
  const other = (n) => Object.entries(ORIGINAL).flatMap(([s, o]) => (n === s ? [o] : n === o ? [s] : []))[0];
  const minimal = { operation: { method: "GET", path: "/v1.0/users?$top=2" } };
  const full = {
    contract_version: "v0.1.0",
    request_id: "real-client-1",
    requester: { requester_id: "agent-7", identity_assurance: "high" },
    graph: { resource: "https://graph.microsoft.com", scopes: ["User.Read.All"] },
    operation: { action: "downstream_call", method: "GET", path: "/v1.0/organization", headers: { accept: "application/json" } },
    timeout_ms: 10000,
  };
  const calls = [
    ["minimal", execute, execute, minimal],
    ["full contract, other name", other(execute), execute, full],
    ["describe", describe, describe, {}],
    ["describe, other name", other(describe), describe, { contract_version: "v0.1.3", request_id: "real-client-2" }],
    ["scope denied", execute, execute, { graph: { scopes: ["Mail.Send"] }, operation: minimal.operation }],
    ["header refused", execute, execute, { operation: { ...minimal.operation, headers: { authorization: "Bearer x" } } }],
    ["mutation refused", execute, execute, { operation: { method: "DELETE", path: "/v1.0/users/x" } }],
    ["resource refused", describe, describe, { resource: "https://evil.example" }],
  ];
  for (const [label, name, listedAs, callArgs] of calls) {
    report.calls.push({ label, ...(await call(client, validators, listedAs, name, callArgs)) });
  }
  await client.close();
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((e) => {
  process.stderr.write(`drive.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
