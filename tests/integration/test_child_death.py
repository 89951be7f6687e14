# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""A child that dies is a fault brokerd must not paper over.

When secretd or tokend dies, brokerd answers every call in flight with the
matching *.unavailable code (so the client is not left waiting), stops the
other child and exits non-zero so that systemd restarts the whole unit.  It
must never restart a child itself (DESIGN.md section 1).
"""

import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, SLOW_PATH, BrokerTestCase, execute_args, tool_result  # noqa: E402

EX_SOFTWARE = 70
# The slow smoke call takes about 1.5 s.  A ping answered after the call was
# sent proves brokerd has dispatched it (it handles a session's lines in
# order); killing a moment later, well inside that window, makes sure the
# call is still in flight, wherever it is, when the child dies.
KILL_DELAY = 0.2


class ChildDeathTests(BrokerTestCase):
    def kill_child_during_slow_call(self, victim, survivor, expected_code):
        broker = self.started()
        kids = broker.wait_children()
        slow = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow"})
        call_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": slow})
        broker.request("ping")
        time.sleep(KILL_DELAY)
        os.kill(kids[victim], signal.SIGKILL)

        self.assert_unavailable(broker.recv_response(call_id), expected_code)
        status = broker.wait()
        self.assertEqual(status, EX_SOFTWARE, "brokerd exit status after %s died\n%s" % (victim, broker.stderr_text()))
        harness.wait_until(lambda: not harness.pid_exists(kids[survivor]), timeout=5)
        self.assertFalse(harness.pid_exists(kids[survivor]),
                         "%s survived: %r" % (survivor, harness.proc_stat(kids[survivor])))
        self.assertFalse(harness.pid_exists(kids[victim]), "%s left as a zombie" % victim)

    def assert_unavailable(self, resp, code):
        result = tool_result(resp)
        sc = result["structuredContent"]
        text = json.dumps(sc, indent=1)
        self.assertIs(result["isError"], True, text)
        self.assertEqual(sc.get("status"), "error", text)
        self.assertEqual(sc.get("request_id"), "req-slow", text)
        self.assertEqual(sc.get("error", {}).get("code"), code, text)
        self.assertEqual(sc["error"].get("category"), code.split(".")[0], text)
        self.assertIs(sc["error"].get("retryable"), True, text)

    def test_tokend_death_fails_call_and_stops_broker(self):
        self.kill_child_during_slow_call("tokend", "secretd", "provider.unavailable")

    def test_secretd_death_fails_call_and_stops_broker(self):
        self.kill_child_during_slow_call("secretd", "tokend", "secret.unavailable")


if __name__ == "__main__":
    harness.main()
