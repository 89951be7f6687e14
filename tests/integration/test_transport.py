# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The unix-socket transport and the session limits, as clients see them.

brokerd --listen PATH (and systemd socket activation) serving many sessions
that share one secretd and one tokend; brokerd --connect PATH, the stdio
bridge an MCP spawner launches; peer credentials; the limits every session
has (line length, calls in flight, unread answers); cancellation reaching
tokend; progress while a call waits on a retry; SIGTERM.
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (  # noqa: E402
    EXECUTE_TOOL,
    SLOW_PATH,
    BrokerTestCase,
    SocketClient,
    execute_args,
    tool_result,
)

THROTTLED_PATH = "/beta/smoke/throttled"
NOBODY = 65534


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def slow_call(request_id="req-slow"):
    return {"name": EXECUTE_TOOL, "arguments": execute_args({"operation.path": SLOW_PATH, "request_id": request_id})}


def answer_waiting(client):
    """Whether anything from brokerd is already there to be read."""
    return bool(client._inbox) or b"\n" in client._buf or bool(select.select([client.sock], [], [], 0)[0])


class ListenerTestCase(BrokerTestCase):
    """Starts brokerd --listen on a socket in a fresh directory; cleans up."""

    def listen(self, env_overrides=None):
        self.sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, self.sockdir, True)
        self.path = os.path.join(self.sockdir, "mcp.sock")
        self.audit = os.path.join(self.sockdir, "audit.log")
        env = {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit}
        env.update(env_overrides or {})
        broker = self.start_broker(env, args=["--listen", self.path])
        harness.wait_for_socket(self.path, broker)
        self.kids = broker.wait_children()
        return broker

    def client(self):
        c = SocketClient(self.path)
        self.addCleanup(c.close)
        return c

    def bridge(self, env_overrides=None):
        """brokerd --connect PATH, driven over its stdio like any stdio server."""
        return self.start_broker(env_overrides, args=["--connect", self.path])

    def assert_ok(self, resp, request_id="req-1"):
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        return sc


class SocketTests(ListenerTestCase):
    def test_socket_file_has_no_access_for_others(self):
        self.listen()
        st = os.lstat(self.path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o007, 0, oct(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660, oct(st.st_mode))
        self.assertEqual(st.st_gid, os.getegid())

    def test_socket_gets_the_configured_group(self):
        self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY)})
        st = os.lstat(self.path)
        self.assertEqual(st.st_gid, NOBODY)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660, oct(st.st_mode))

    def test_unknown_socket_group_is_a_configuration_error(self):
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        path = os.path.join(sockdir, "mcp.sock")
        status, _, err = harness.run_once(self.stage, ["--listen", path],
                                          {"MCP_AUTH_BROKER_SOCKET_GROUP": "no-such-group-here"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_SOCKET_GROUP", err)
        self.assertFalse(os.path.exists(path))

    def test_sessions_share_one_token_cache_and_children(self):
        broker = self.listen()
        a, b = self.bridge(), self.bridge()
        harness.initialize(a)
        first = self.assert_ok(a.call_tool(EXECUTE_TOOL, execute_args()))
        self.assertEqual(first["token"]["source"], "minted", dump(first))
        harness.initialize(b)
        second = self.assert_ok(b.call_tool(EXECUTE_TOOL, execute_args()))
        # One token request served both sessions: the second session's first
        # call is served from the cache, with the same token's expiry.
        self.assertEqual(second["token"]["source"], "cache", dump(second))
        self.assertEqual(second["token"]["expires_at"], first["token"]["expires_at"])
        self.assertEqual(broker.secretd_tokend(), self.kids, "the sessions did not share the children")

    def test_sessions_run_concurrently(self):
        self.listen()
        a, b = self.client(), self.client()
        harness.initialize(a)
        harness.initialize(b)
        slow_id = a.send_request("tools/call", slow_call())
        self.assert_ok(b.call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-b"})), "req-b")
        self.assertFalse(answer_waiting(a), "session b was answered only after session a's slow call")
        self.assert_ok(a.recv_response(slow_id), "req-slow")

    def test_audit_records_name_the_peer(self):
        self.listen()
        bridge = self.bridge()
        harness.initialize(bridge)
        self.assert_ok(bridge.call_tool(EXECUTE_TOOL, execute_args()))
        records = harness.audit_records(self.audit, "tool_call")
        self.assertEqual(len(records), 1, records)
        self.assertEqual(records[0].get("transport"), "unix", records[0])
        self.assertEqual(records[0].get("peer_uid"), os.getuid(), records[0])
        self.assertEqual(records[0].get("peer_pid"), bridge.pid, records[0])
        self.assertIsInstance(records[0].get("session"), int, records[0])

    def test_initialize_clients_unchanged_on_the_socket(self):
        self.listen()
        c = self.client()
        result = harness.initialize(c, "2024-11-05")
        self.assertEqual(result["protocolVersion"], "2024-11-05")
        tools = c.request("tools/list")["result"]
        self.assertNotIn("ttlMs", tools)
        self.assertNotIn("resultType", tools)
        for tool in tools["tools"]:
            self.assertNotIn("outputSchema", tool)
        self.assertEqual(c.request("ping").get("result"), {})

    def test_session_end_closes_only_that_session(self):
        self.listen()
        a, b = self.client(), self.client()
        harness.initialize(a)
        harness.initialize(b)
        a.shutdown_write()
        self.assertEqual(a.read_to_eof(), [])
        self.assertEqual(b.request("ping").get("result"), {})


class BridgeTests(ListenerTestCase):
    def test_bridge_reads_no_configuration(self):
        self.listen()
        # Values brokerd itself would refuse with status 78.
        bridge = self.bridge({"MCP_AUTH_BROKER_MAX_INFLIGHT": "lots", "MCP_AUTH_BROKER_NO_SUCH": "1"})
        harness.initialize(bridge)
        self.assertEqual(bridge.request("ping").get("result"), {})
        self.assertEqual(harness.children_of(bridge.pid), {}, "the bridge started children")

    def test_bridge_end_of_input_answers_then_exits(self):
        self.listen()
        bridge = self.bridge()
        harness.initialize(bridge)
        slow_id = bridge.send_request("tools/call", slow_call())
        bridge.close_stdin()
        self.assert_ok(bridge.recv_response(slow_id), "req-slow")
        self.assertEqual(bridge.read_to_eof(), [])
        self.assertEqual(bridge.wait(), 0, bridge.stderr_text())

    def test_bridge_exits_when_brokerd_goes(self):
        broker = self.listen()
        bridge = self.bridge()
        harness.initialize(bridge)
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertEqual(bridge.read_to_eof(), [])
        self.assertEqual(bridge.wait(), 0, bridge.stderr_text())

    def test_bridge_without_server_exits_69(self):
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        status, out, err = harness.run_once(self.stage, ["--connect", os.path.join(sockdir, "none.sock")])
        self.assertEqual(status, 69, err)
        self.assertEqual(out, "")
        self.assertIn("none.sock", err)
        # One line, with what to check.
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("no such socket: is brokerd --listen (or the socket unit) running", err)

    def test_listen_and_connect_exclude_each_other(self):
        status, _, err = harness.run_once(self.stage, ["--listen", "/tmp/a.sock", "--connect", "/tmp/b.sock"])
        self.assertEqual(status, 64, err)


class PeerCredentialTests(ListenerTestCase):
    """The client runs as nobody; the socket's group lets it connect, so what
    decides is the SO_PEERCRED check."""

    def nobody_bridge(self, groups=None):
        # The bridge binary where nobody can run it (the stage is 0700).
        exe = os.path.join(self.sockdir, "brokerd")
        shutil.copy2(self.stage.brokerd, exe)
        os.chmod(exe, 0o755)
        group_arg = "--groups=%s" % ",".join(map(str, groups)) if groups else "--clear-groups"
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, group_arg, exe, "--connect", self.path]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=harness.base_env(self.stage), start_new_session=True)
        self.addCleanup(harness._kill_group, proc.pid)
        return proc

    def exchange_as_nobody(self, groups=None):
        proc = self.nobody_bridge(groups)
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "nobody", "version": "1"}}}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        data = (json.dumps(init) + "\n" + json.dumps(ping) + "\n").encode()
        try:
            out, err = proc.communicate(data, timeout=harness.DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise harness.HarnessError("the bridge run as nobody did not finish")
        lines = [harness.parse_message(line) for line in out.splitlines()]
        return proc.returncode, lines, err.decode("utf-8", "replace")

    def test_disallowed_uid_gets_one_error_and_is_closed(self):
        broker = self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY)})
        status, lines, err = self.exchange_as_nobody()
        self.assertEqual(len(lines), 1, "expected exactly one message: %s" % dump(lines))
        self.assertIsNone(lines[0].get("id"), dump(lines))
        self.assertEqual(lines[0].get("error", {}).get("code"), -32600, dump(lines))
        self.assertIn(str(NOBODY), lines[0]["error"].get("data", {}).get("detail", ""), dump(lines))
        self.assertEqual(status, 0, err)
        refused = harness.audit_records(self.audit, "session_refused")
        self.assertEqual([r.get("peer_uid") for r in refused], [NOBODY], refused)
        # brokerd goes on serving allowed peers.
        c = self.client()
        self.assertEqual(harness.initialize(c)["protocolVersion"], "2025-06-18")
        self.assertIsNone(broker.proc.poll())

    def test_a_socket_the_user_may_not_open_says_so_with_its_own_status(self):
        # The socket's group is root's (brokerd's): nobody may not open it.
        self.listen()
        status, lines, err = self.exchange_as_nobody()
        self.assertEqual(status, 77, err)
        self.assertEqual(lines, [])
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("%s: permission denied: this user may not open the socket; add the user to the "
                      "socket's group" % self.path, err)

    def test_allowed_uid_is_served(self):
        self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY),
                     "MCP_AUTH_BROKER_ALLOWED_UIDS": "%d,%d" % (os.getuid(), NOBODY)})
        _, lines, err = self.exchange_as_nobody()
        self.assertEqual([m.get("id") for m in lines], [1, 2], dump(lines) + err)
        self.assertEqual(lines[1].get("result"), {}, dump(lines))

    def test_allowed_gid_is_served(self):
        self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY),
                     "MCP_AUTH_BROKER_ALLOWED_GIDS": str(NOBODY)})
        _, lines, err = self.exchange_as_nobody()
        self.assertEqual([m.get("id") for m in lines], [1, 2], dump(lines) + err)

    def test_allowed_supplementary_gid_is_served(self):
        self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY),
                     "MCP_AUTH_BROKER_ALLOWED_GIDS": "4242"})
        _, lines, err = self.exchange_as_nobody(groups=[4242])
        self.assertEqual([m.get("id") for m in lines], [1, 2], dump(lines) + err)
        # Without that group the same peer is refused.
        _, lines, err = self.exchange_as_nobody()
        self.assertEqual([m.get("error", {}).get("code") for m in lines], [-32600], dump(lines) + err)

    def test_listing_uids_drops_the_default(self):
        self.listen({"MCP_AUTH_BROKER_ALLOWED_UIDS": str(NOBODY)})
        c = self.client()
        msgs = c.read_to_eof()
        self.assertEqual([m.get("error", {}).get("code") for m in msgs], [-32600], dump(msgs))


class LimitTests(ListenerTestCase):
    def test_oversize_line_is_refused_and_session_goes_on(self):
        self.listen({"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": "4096"})
        c = self.client()
        harness.initialize(c)
        big = json.dumps({"jsonrpc": "2.0", "id": 99, "method": "ping", "params": {"pad": "x" * 20000}})
        # In pieces, so the limit holds across reads, then a request on the
        # same write as the line's end.
        c.send_raw(big[:6000].encode())
        time.sleep(0.1)
        c.send_raw(big[6000:].encode() + b"\n" + json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping"}).encode() + b"\n")
        first = c.recv()
        self.assertEqual(first.get("error", {}).get("code"), -32600, dump(first))
        self.assertIsNone(first.get("id"), dump(first))
        self.assertIn("MAX_MESSAGE_BYTES", json.dumps(first))
        second = c.recv()
        self.assertEqual((second.get("id"), second.get("result")), (5, {}), "the rest of the long line was not skipped: " + dump(second))

    def test_line_at_the_limit_is_accepted(self):
        self.listen({"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": "4096"})
        c = self.client()
        harness.initialize(c)
        msg = {"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"pad": ""}}
        msg["params"]["pad"] = "x" * (4096 - len(json.dumps(msg)))
        self.assertEqual(len(json.dumps(msg)), 4096)
        c.send(msg)
        self.assertEqual(c.recv().get("result"), {})

    def test_calls_in_flight_are_capped_per_session(self):
        self.listen({"MCP_AUTH_BROKER_MAX_INFLIGHT": "1"})
        a, b = self.client(), self.client()
        harness.initialize(a)
        harness.initialize(b)
        slow_id = a.send_request("tools/call", slow_call())
        ping_id = a.send_request("ping")
        # The other session is not held up by a's cap ...
        self.assertEqual(b.request("ping").get("result"), {})
        self.assertFalse(answer_waiting(a), "session b's ping waited for session a's call")
        # ... but a's ping waits until its one call in flight is answered.
        first = a.recv()
        self.assertEqual(first.get("id"), slow_id, "the ping overtook a call at the cap: " + dump(first))
        self.assertEqual(a.recv().get("id"), ping_id)

    def assert_unread_answers_are_bounded(self, pid, write, fd, read_all):
        """Send tools/list (kilobytes of answer each) without reading until
        brokerd stops taking input; its RSS must stay bounded, then every
        request is answered once the client reads."""
        rss_before = harness.vmrss_kib(pid)
        os.set_blocking(fd, False)
        sent, stalled_since = 0, None
        while True:
            try:
                write(json.dumps({"jsonrpc": "2.0", "id": sent + 100, "method": "tools/list"}).encode() + b"\n")
                sent += 1
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 2.0:
                    break
                time.sleep(0.05)
            self.assertLess(sent, 200000, "brokerd kept reading from a client that never reads")
        rss_after = harness.vmrss_kib(pid)
        os.set_blocking(fd, True)
        # 8 MiB of answers may wait, plus a request line and buffers: 64 MiB is
        # generous, where unbounded buffering would be hundreds.
        self.assertLess(rss_after - rss_before, 64 * 1024,
                        "brokerd grew %d KiB for a client that does not read" % (rss_after - rss_before))
        answered = read_all(sent)
        self.assertEqual(sorted(m.get("id") for m in answered), list(range(100, 100 + sent)))
        return sent

    # ASan keeps freed memory in a quarantine (256 MiB by default), which a
    # sanitizer build would report as growth: keep it small for these two.
    SMALL_QUARANTINE = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")}

    def test_client_that_does_not_read_cannot_grow_memory_socket(self):
        broker = self.listen(self.SMALL_QUARANTINE)
        c = self.client()
        harness.initialize(c)

        def write(data):
            # A partial send would split a line; keep it whole or not at all.
            view = memoryview(data)
            n = c.sock.send(view)
            while n < len(data):
                try:
                    n += c.sock.send(view[n:])
                except BlockingIOError:
                    time.sleep(0.01)

        sent = self.assert_unread_answers_are_bounded(
            broker.pid, write, c.sock.fileno(), lambda n: [c.recv(timeout=60) for _ in range(n)])
        self.assertGreater(sent, 1000)
        self.assertEqual(c.request("ping").get("result"), {})

    def test_client_that_does_not_read_cannot_grow_memory_stdio(self):
        broker = self.started(env_overrides=self.SMALL_QUARANTINE)
        fd = broker.proc.stdin.fileno()

        def write(data):
            n = os.write(fd, data)
            while n < len(data):
                try:
                    n += os.write(fd, data[n:])
                except BlockingIOError:
                    time.sleep(0.01)

        self.assert_unread_answers_are_bounded(
            broker.pid, write, fd, lambda n: [broker.recv(timeout=60) for _ in range(n)])
        self.assertEqual(broker.request("ping").get("result"), {})


class CancellationTests(ListenerTestCase):
    def test_cancelled_call_gets_no_answer_and_reaches_tokend(self):
        broker = self.listen({"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        c = self.client()
        harness.initialize(c)
        c.send_request("tools/call", slow_call(), req_id="slow-1")
        time.sleep(0.2)  # in tokend by now
        c.notify("notifications/cancelled", {"requestId": "slow-1", "reason": "user pressed stop"})
        msgs = harness.messages_within(c, 2.5)  # the slow call would answer at 1.5 s
        self.assertEqual([m for m in msgs if m.get("id") == "slow-1"], [], "a cancelled call was answered")
        self.assertEqual(msgs, [], dump(msgs))
        pattern = re.compile(r"tokend\[\d+\]: debug: call \d+ cancelled by brokerd")
        self.assertTrue(harness.wait_until(lambda: pattern.search(broker.stderr_text()), timeout=5),
                        broker.stderr_text()[-2000:])
        # The session goes on, and the id is free again.
        self.assert_ok(c.call_tool(EXECUTE_TOOL, execute_args()))
        resp = c.recv_response(c.send_request("tools/call", slow_call("req-again"), req_id="slow-1"))
        self.assert_ok(resp, "req-again")
        outcomes = [r.get("outcome") for r in harness.audit_records(self.audit, "tool_call")]
        self.assertEqual(outcomes, ["cancelled", "ok", "ok"])

    def test_cancel_for_unknown_or_finished_request_is_ignored(self):
        self.listen()
        c = self.client()
        harness.initialize(c)
        self.assert_ok(c.call_tool(EXECUTE_TOOL, execute_args()))
        c.notify("notifications/cancelled", {"requestId": 1})
        c.notify("notifications/cancelled", {"requestId": "never-sent"})
        c.notify("notifications/cancelled", {"requestId": None})
        c.notify("notifications/cancelled", {})
        ping_id = c.send_request("ping")
        self.assertEqual(c.recv().get("id"), ping_id)

    def test_closing_the_session_cancels_its_calls_in_tokend(self):
        broker = self.listen({"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        c = self.client()
        harness.initialize(c)
        c.send_request("tools/call", slow_call())
        time.sleep(0.2)
        c.close()
        self.assertTrue(harness.wait_until(
            lambda: "cancelled by brokerd" in broker.stderr_text(), timeout=5), broker.stderr_text()[-2000:])
        outcomes = [r.get("outcome") for r in harness.audit_records(self.audit, "tool_call")]
        self.assertEqual(outcomes, ["cancelled"])
        self.assertEqual(self.client().request("ping").get("result"), {})


class GraphTransferTests(BrokerTestCase):
    """The same over real HTTPS, against tests/fixtures/mock_entra.py: a
    cancel aborts tokend's Graph transfer, and a Graph 429 that tokend
    retries is reported as progress."""

    TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
    CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mock_entra = harness.import_mock_entra()
        cls.pki_dir = harness.socket_dir()
        cls.pki = cls.mock_entra.make_pki(os.path.join(cls.pki_dir, "pki"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki_dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.secret = "mab-transport-secret~" + os.urandom(8).hex()
        self.secret_file = os.path.join(self.pki_dir, "secret-%s" % self.id().rsplit(".", 1)[-1])
        harness.write_secret_file(self.secret_file, self.secret)
        self.mock = self.mock_entra.MockEntra(self.pki, tenant=self.TENANT, client_id=self.CLIENT_ID,
                                              client_secret=self.secret).start()
        self.addCleanup(self.mock.stop)

    def broker(self):
        env = harness.dev_env(self.mock.base_url, [self.mock.base_url], self.pki.ca_file, self.secret_file,
                              self.TENANT, self.CLIENT_ID, {"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        return self.started(env_overrides=env)

    def args(self, request_id="req-1"):
        return execute_args({"graph.tenant_id": self.TENANT, "graph.resource": self.mock.base_url,
                             "request_id": request_id, "timeout_ms": 20000})

    def test_cancel_aborts_the_graph_transfer(self):
        broker = self.broker()
        self.mock.set_fault("graph", "slow", count=1, delay=10)
        broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.args("req-slow")}, req_id="c-1")
        self.assertTrue(harness.wait_until(lambda: len(self.mock.graph_requests()) == 1, timeout=10),
                        "Graph never saw the call\n" + broker.stderr_text()[-2000:])
        broker.notify("notifications/cancelled", {"requestId": "c-1"})
        self.assertTrue(harness.wait_until(lambda: "transfer aborted" in broker.stderr_text(), timeout=5),
                        broker.stderr_text()[-2000:])
        self.assertRegex(broker.stderr_text(), r"tokend\[\d+\]: debug: call \d+ cancelled by brokerd: transfer aborted")
        self.assertEqual(harness.messages_within(broker, 1.0), [])
        resp = broker.call_tool(EXECUTE_TOOL, self.args("req-after"))
        self.assertIs(tool_result(resp)["isError"], False, dump(resp))

    def test_graph_retry_is_reported_as_progress(self):
        broker = self.broker()
        self.mock.set_fault("graph", "429", count=1, retry_after=1)
        call_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.args(),
                                                     "_meta": {"progressToken": "p-https"}})
        first = broker.recv(timeout=15)
        self.assertEqual(first.get("method"), "notifications/progress", dump(first))
        self.assertEqual(first["params"]["progressToken"], "p-https", dump(first))
        self.assertIn("429", first["params"]["message"], dump(first))
        sc = tool_result(broker.recv_response(call_id, timeout=15))["structuredContent"]
        self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
        self.assertEqual(len(self.mock.graph_requests()), 2)


class ProgressTests(ListenerTestCase):
    def test_progress_while_waiting_on_a_retry(self):
        self.listen()
        c = self.client()
        harness.initialize(c)
        args = execute_args({"operation.path": THROTTLED_PATH})
        call_id = c.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": args,
                                                "_meta": {"progressToken": "tok-1"}})
        first = c.recv(timeout=10)
        self.assertEqual(first.get("method"), "notifications/progress", dump(first))
        self.assertEqual(first["params"].get("progressToken"), "tok-1", dump(first))
        self.assertEqual(first["params"].get("progress"), 1, dump(first))
        self.assertIn("429", first["params"].get("message", ""), dump(first))
        self.assertNotIn("id", first)
        sc = self.assert_ok(c.recv_response(call_id, timeout=10))
        self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
        self.assertEqual(sc["execution"]["body"], {"throttled": False}, dump(sc))

    def test_no_progress_without_a_token(self):
        self.listen()
        c = self.client()
        harness.initialize(c)
        args = execute_args({"operation.path": THROTTLED_PATH})
        call_id = c.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": args})
        first = c.recv(timeout=10)
        self.assertEqual(first.get("id"), call_id, "progress without a progressToken: " + dump(first))
        self.assert_ok(first)

    def test_bad_progress_token_is_invalid_params(self):
        self.listen()
        c = self.client()
        harness.initialize(c)
        resp = c.request("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args(),
                                        "_meta": {"progressToken": {"a": 1}}})
        self.assertEqual(resp.get("error", {}).get("code"), -32602, dump(resp))


class ShutdownTests(ListenerTestCase):
    def assert_everything_gone(self, broker):
        pids = dict(self.kids, brokerd=broker.pid)
        harness.wait_until(lambda: not any(harness.pid_exists(p) for p in pids.values()), timeout=5)
        for name, pid in pids.items():
            self.assertFalse(harness.pid_exists(pid), "%s (pid %d) is still there" % (name, pid))

    def test_sigterm_finishes_calls_then_leaves_nothing(self):
        broker = self.listen()
        bridge = self.bridge()
        harness.initialize(bridge)
        slow_id = bridge.send_request("tools/call", slow_call())
        time.sleep(0.2)
        os.kill(broker.pid, signal.SIGTERM)
        # No new sessions once the signal is in.
        self.assertTrue(harness.wait_until(lambda: not os.path.exists(self.path), timeout=5),
                        "the socket file is still there")
        self.assert_ok(bridge.recv_response(slow_id), "req-slow")
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertEqual(bridge.wait(), 0, bridge.stderr_text())
        self.assertFalse(os.path.exists(self.path))
        self.assert_everything_gone(broker)

    def test_sigterm_cancels_what_outlasts_the_grace_period(self):
        broker = self.listen({"MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS": "0",
                              "MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        c = self.client()
        harness.initialize(c)
        slow_id = c.send_request("tools/call", slow_call())
        time.sleep(0.2)
        os.kill(broker.pid, signal.SIGTERM)
        resp = c.recv_response(slow_id, timeout=5)
        result = tool_result(resp)
        err = result["structuredContent"]["error"]
        self.assertEqual((err["code"], err["retryable"]), ("provider.unavailable", True), dump(result))
        self.assertEqual(c.read_to_eof(), [])
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertTrue(harness.wait_until(lambda: "cancelled by brokerd" in broker.stderr_text(), timeout=5),
                        broker.stderr_text()[-2000:])
        self.assertFalse(os.path.exists(self.path))
        self.assert_everything_gone(broker)

    def test_sighup_does_not_stop_the_broker(self):
        broker = self.listen()
        os.kill(broker.pid, signal.SIGHUP)
        c = self.client()
        self.assertEqual(harness.initialize(c)["protocolVersion"], "2025-06-18")
        self.assertTrue(harness.wait_until(lambda: "SIGHUP" in broker.stderr_text(), timeout=5),
                        broker.stderr_text())

    def test_socket_file_is_removed_when_brokerd_dies(self):
        """brokerd's sandbox allows no unlink: its socket reaper removes the
        file, even when brokerd is killed outright."""
        broker = self.listen()
        # Named once forked (PR_SET_NAME): until then it shows as brokerd.
        harness.wait_until(lambda: "brokerd-reaper" in broker.children(), timeout=5)
        reaper = broker.children().get("brokerd-reaper")
        self.assertIsNotNone(reaper, "no socket reaper among %r" % broker.children())
        os.kill(broker.pid, signal.SIGKILL)
        broker.proc.wait(timeout=5)
        self.assertTrue(harness.wait_until(lambda: not os.path.exists(self.path), timeout=5),
                        "the socket file outlived brokerd")
        self.assertTrue(harness.wait_until(lambda: not harness.pid_alive(reaper), timeout=5))

    def test_file_that_replaced_the_socket_is_left_alone(self):
        """The reaper removes the socket brokerd bound and nothing else: a file
        put at the path meanwhile stays."""
        broker = self.listen()
        os.rename(self.path, self.path + ".moved")
        with open(self.path, "w") as f:
            f.write("not brokerd's\n")
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertTrue(os.path.isfile(self.path), "the reaper removed a file that replaced the socket")
        # A socket at the path, but another one, stays too.
        os.unlink(self.path)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        broker = self.listen()
        os.rename(self.path, self.path + ".moved2")
        other.bind(self.path)
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode), "the reaper removed another socket")

    def test_stale_socket_file_is_replaced(self):
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        path = os.path.join(sockdir, "mcp.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # a socket file nobody listens on, as a crash leaves
        broker = self.start_broker(args=["--listen", path])
        harness.wait_until(lambda: "listening on" in broker.stderr_text(), timeout=10)
        c = SocketClient(path)
        self.addCleanup(c.close)
        self.assertEqual(harness.initialize(c)["protocolVersion"], "2025-06-18")


def move_to_fd3(fd):
    """In the child before exec: the socket at descriptor 3, inheritable
    (dup2 onto itself would leave close-on-exec set)."""
    if fd == 3:
        os.set_inheritable(3, True)
    else:
        os.dup2(fd, 3)


class SocketActivationTests(ListenerTestCase):
    def test_systemd_socket_is_used_and_left_in_place(self):
        """As systemd does with Accept=no: the listening socket on fd 3,
        LISTEN_FDS=1, LISTEN_PID=brokerd's pid."""
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        self.path = os.path.join(sockdir, "activated.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.path)
        lsock.listen(8)
        fd = lsock.fileno()
        env = harness.base_env(self.stage, {"LISTEN_FDS": "1"})
        # The socket goes to descriptor 3 in the child; the shell's pid is
        # brokerd's once it execs.
        proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0"', self.stage.brokerd],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, close_fds=False, preexec_fn=lambda: move_to_fd3(fd),
                                start_new_session=True)
        self.addCleanup(harness._kill_group, proc.pid)
        lsock.close()
        c = SocketClient(self.path)
        self.addCleanup(c.close)
        self.assertEqual(harness.initialize(c)["protocolVersion"], "2025-06-18")
        self.assertEqual(c.request("ping").get("result"), {})
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=harness.DEFAULT_TIMEOUT)
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertEqual(out, b"", "stdout is not the MCP channel of a socket-activated brokerd")
        self.assertIn(b"socket activation", err)
        # systemd owns the file: it stays, so the next connection starts us.
        self.assertTrue(os.path.exists(self.path))


if __name__ == "__main__":
    harness.main()
