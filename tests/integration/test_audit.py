# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The audit trail (issue 9 item 7): no record is lost.

Every tool call, describe included, allowed or denied, gets exactly one
record, whatever MCP_AUTH_BROKER_LOG_LEVEL says, in the audit file or on
stderr.  When a record cannot be written, brokerd fails closed: it refuses
further calls before they reach tokend (audit before effect), withholds a
result whose record was lost, and serves again once a record is written.

The failing audit file is made with RLIMIT_FSIZE, set on the running
brokerd with prlimit(2): a write past the limit fails with EFBIG (brokerd
ignores SIGXFSZ; subprocess restores its default, so this shows it does),
like a full disk, without mount privileges.  The fail-closed test runs in
dev mode against tests/fixtures/mock_entra.py, which records every Graph
request it gets: a refused call must not reach it.
"""

import json
import os
import re
import resource
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import DESCRIBE_TOOL, EXECUTE_TOOL, BrokerTestCase, execute_args, tool_result  # noqa: E402

STDERR_RECORD = re.compile(rb"^brokerd\[\d+\]: info: audit: (\{.*\})$")
AUDIT_BROKEN = "audit log cannot be written"


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=repr)


def stderr_records(data):
    """The audit records brokerd wrote to stderr (README: after `audit:`)."""
    out = []
    for line in data.splitlines():
        m = STDERR_RECORD.match(line)
        if m:
            out.append(json.loads(m.group(1)))
    return out


def calls_of(records):
    return [r for r in records if r.get("event") == "tool_call"]


class EveryCallRecorded(BrokerTestCase):
    """Smoke mode: one record per call, describe included, allowed or denied."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-audit-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def make_calls(self, broker):
        """Six calls: describe ok, denied and malformed; execute ok, denied
        and malformed.  Returns the expected (tool, decision, outcome)."""
        ok = tool_result(broker.call_tool(DESCRIBE_TOOL, {}))
        self.assertIs(ok["isError"], False, dump(ok))
        denied = tool_result(broker.call_tool(DESCRIBE_TOOL, {"resource": "https://evil.example"}))
        self.assertEqual(denied["structuredContent"]["error"]["code"], "policy.denied", dump(denied))
        bad = tool_result(broker.call_tool(DESCRIBE_TOOL, {"nonsense": 1}))
        self.assertEqual(bad["structuredContent"]["error"]["code"], "bad_request.invalid_field", dump(bad))
        ok = tool_result(broker.call_tool(EXECUTE_TOOL, execute_args()))
        self.assertIs(ok["isError"], False, dump(ok))
        denied = tool_result(broker.call_tool(EXECUTE_TOOL, execute_args({"graph.tenant_id": "contoso.example"})))
        self.assertEqual(denied["structuredContent"]["error"]["code"], "policy.denied", dump(denied))
        bad = tool_result(broker.call_tool(EXECUTE_TOOL, execute_args({"timeout_ms": 1})))
        self.assertTrue(bad["isError"], dump(bad))
        return sorted([
            (DESCRIBE_TOOL, "allow", "ok"),
            (DESCRIBE_TOOL, "deny", "policy.denied"),
            (DESCRIBE_TOOL, None, "bad_request.invalid_field"),
            (EXECUTE_TOOL, "allow", "ok"),
            (EXECUTE_TOOL, "deny", "policy.denied"),
            (EXECUTE_TOOL, None, bad["structuredContent"]["error"]["code"]),
        ], key=repr)

    def finish(self, broker):
        broker.close_stdin()
        broker.read_to_eof()
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-3000:])
        broker.kill()  # joins the stderr reader: everything is in

    def assert_one_record_each(self, records, expected):
        got = sorted(((r.get("tool"), r.get("decision"), r.get("outcome")) for r in calls_of(records)), key=repr)
        self.assertEqual(got, expected, dump(records))

    def test_every_call_has_one_record_in_the_audit_file(self):
        audit = os.path.join(self.tmp, "audit.log")
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_AUDIT_FILE": audit,
                                             "MCP_AUTH_BROKER_LOG_LEVEL": "error"})
        expected = self.make_calls(broker)
        self.finish(broker)
        records = harness.audit_records(audit)
        self.assert_one_record_each(records, expected)
        for r in calls_of(records):
            if r["tool"] == DESCRIBE_TOOL and r.get("decision"):
                self.assertIn(r.get("reason"), ("policy.rule.allow.token.describe",
                                                "policy.rule.deny.resource.not_allowed"), dump(r))
                self.assertEqual(r.get("rule"), "resource", dump(r))
        self.assertEqual(stderr_records(broker.stderr_bytes()), [], "records went to stderr too")

    def test_records_on_stderr_whatever_the_log_level(self):
        for level in ("error", "warn", "info", "debug"):
            with self.subTest(level=level):
                broker = self.started(env_overrides={"MCP_AUTH_BROKER_LOG_LEVEL": level})
                expected = self.make_calls(broker)
                self.finish(broker)
                self.assert_one_record_each(stderr_records(broker.stderr_bytes()), expected)


# ---- fail closed, against the mock Graph ----------------------------------------------

class FailClosed(harness.MockGraphCase):
    def setUp(self):
        super().setUp()
        self.audit = os.path.join(self.tmp, "audit.log")
        self.env = self.mock_env({"MCP_AUTH_BROKER_AUDIT_FILE": self.audit})

    def call(self, broker, request_id):
        args = self.mock_args({"request_id": request_id, "timeout_ms": 10000})
        return tool_result(broker.call_tool(EXECUTE_TOOL, args))

    def assert_refused(self, result, request_id, words):
        sc = result["structuredContent"]
        self.assertIs(result["isError"], True, dump(result))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc["error"]["code"], "provider.unavailable", dump(sc))
        self.assertIn(AUDIT_BROKEN, sc["error"]["message"], dump(sc))
        self.assertIn(words, sc["error"]["message"], dump(sc))
        self.assertNotIn("execution", sc, "a result whose record was lost was shown: " + dump(sc))

    def limit_file_size(self, broker, limit):
        # The soft limit only: raising it again needs no privilege.
        resource.prlimit(broker.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def test_unwritable_audit_file_refuses_calls_before_graph(self):
        broker = self.started(env_overrides=self.env)
        first = self.call(broker, "r1")
        self.assertIs(first["isError"], False, dump(first))
        self.assertEqual(len(self.mock.graph_requests()), 1)

        # Room for ten more bytes: the next record is cut short (EFBIG).
        self.limit_file_size(broker, os.path.getsize(self.audit) + 10)
        # Its Graph call was already made; its result is not shown.
        self.assert_refused(self.call(broker, "r2"), "r2", "withheld")
        self.assertEqual(len(self.mock.graph_requests()), 2)

        # From now on nothing reaches tokend, let alone Graph.
        self.assert_refused(self.call(broker, "r3"), "r3", "not made")
        described = tool_result(broker.call_tool(DESCRIBE_TOOL, {}))
        self.assertEqual(described["structuredContent"]["error"]["code"], "provider.unavailable", dump(described))
        self.assertIn(AUDIT_BROKEN, described["structuredContent"]["error"]["message"])
        self.assertEqual(broker.request("ping").get("result"), {}, "brokerd stopped serving")
        late = self.mock.wait_for(lambda m: len(m.graph_requests()) > 2, 1.0)
        self.assertFalse(late, "a refused call reached Graph: " + dump(self.mock.graph_requests()))
        self.assertEqual(len(self.mock.token_requests()), 1)

        # The sink works again: the next refusal is recorded, which lifts it.
        self.limit_file_size(broker, resource.RLIM_INFINITY)
        self.assert_refused(self.call(broker, "r4"), "r4", "not made")
        again = self.call(broker, "r5")
        self.assertIs(again["isError"], False, dump(again))
        self.assertEqual(len(self.mock.graph_requests()), 3)

        broker.close_stdin()
        broker.read_to_eof()
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-3000:])
        broker.kill()
        with open(self.audit, "rb") as f:
            lines = f.read().split(b"\n")
        self.assertEqual(lines[-1], b"", "the file does not end with a whole line")
        records, torn = [], []
        for line in lines[:-1]:
            try:
                records.append(json.loads(line))
            except ValueError:
                torn.append(line)
        self.assertEqual(len(torn), 1, "expected the one record cut short: %r" % torn)
        self.assertEqual(len(torn[0]), 10, torn)
        got = [(r.get("request_id"), r.get("outcome")) for r in calls_of(records)]
        self.assertEqual(got, [("r1", "ok"), ("r4", "provider.unavailable"), ("r5", "ok")], dump(records))
        stderr = broker.stderr_text()
        self.assertEqual(stderr.count(AUDIT_BROKEN), 1, "the failure is logged once: " + stderr[-3000:])
        self.assertIn("File too large", stderr, stderr[-3000:])  # EFBIG


if __name__ == "__main__":
    harness.main()
