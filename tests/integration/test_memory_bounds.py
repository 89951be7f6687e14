# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""What one client can make brokerd hold, as another client would notice it.

Memory stays bounded by configuration, not by clients (issue 9, item 5):
a --listen client that sends many calls with large Graph answers and never
reads them cannot grow brokerd past a fixed size, and another client is
served meanwhile; one uid holding many connections cannot lock out another
uid; a session that sends nothing is closed after an idle timeout.

The large answers come from tests/fixtures/mock_entra.py over real TLS
(GET /v1.0/mock/large/SIZE answers about SIZE bytes of JSON).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, BrokerTestCase, SocketClient, execute_args, tool_result  # noqa: E402

mock_entra = harness.import_mock_entra()

TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "mab-test-secret-bounds~" + os.urandom(12).hex()
NOBODY = 65534
MIB = 1024 * 1024
LARGE_BODY = 4000000  # "4 MB", under the default MCP_AUTH_BROKER_MAX_RESPONSE_BYTES
LARGE_CALLS = 64      # the default MCP_AUTH_BROKER_MAX_INFLIGHT
RSS_LIMIT_KIB = 64 * 1024

PKI = None
_PKI_ROOT = None


def setUpModule():
    global PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-pki-")
    PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "trusted"))


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=repr)[:4000]


def sanitizer_build(st):
    """Whether brokerd is built with AddressSanitizer (as in test_faults.py)."""
    with open(st.brokerd, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"AddressSanitizer" in data


def kib_field(pid, name):
    value = harness.proc_status_field(pid, name)
    if value is None:
        raise harness.HarnessError("no %s for pid %d" % (name, pid))
    return int(value.split()[0])


class BoundsCase(BrokerTestCase):
    """brokerd --listen with an audit file, in smoke mode or against a mock."""

    def listen(self, env_overrides=None):
        self.sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, self.sockdir, True)
        self.path = os.path.join(self.sockdir, "mcp.sock")
        self.audit = os.path.join(self.sockdir, "audit.log")
        env = {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit}
        env.update(env_overrides or {})
        broker = self.start_broker(env, args=["--listen", self.path])
        harness.wait_for_socket(self.path, broker)
        broker.wait_children()
        return broker

    def client(self):
        c = SocketClient(self.path)
        self.addCleanup(c.close)
        return c

    def mock_env(self, extra=None):
        self.tmp = tempfile.mkdtemp(prefix="mab-bounds-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        secret_file = os.path.join(self.tmp, "graph-client-secret")
        harness.write_secret_file(secret_file, SECRET)
        self.mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET).start()
        self.addCleanup(self.mock.stop)
        return harness.dev_env(self.mock.base_url, [self.mock.base_url], PKI.ca_file, secret_file,
                               TENANT, CLIENT_ID, extra)

    def mock_args(self, request_id, path="/v1.0/users"):
        return execute_args({"graph.tenant_id": TENANT, "graph.resource": self.mock.base_url,
                             "request_id": request_id, "operation.path": path, "timeout_ms": 60000})


class UnreadOutputTests(BoundsCase):
    # ASan keeps freed memory in a quarantine (256 MiB by default), which a
    # sanitizer build would report as resident: keep it small here.
    SMALL_QUARANTINE = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")}

    def test_client_that_never_reads_large_answers_cannot_grow_brokerd(self):
        broker = self.listen(self.mock_env(dict(self.SMALL_QUARANTINE)))
        hog, other = self.client(), self.client()
        harness.initialize(hog)
        harness.initialize(other)
        ids = [hog.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.mock_args(
            "big-%d" % i, "/v1.0/mock/large/%d" % LARGE_BODY)}) for i in range(LARGE_CALLS)]
        # Another client is served while the large answers come back.
        resp = other.call_tool(EXECUTE_TOOL, self.mock_args("small-1"), timeout=60)
        self.assertIs(tool_result(resp)["isError"], False, dump(resp))
        # Every large call done at Graph and answered (audited) by brokerd,
        # and still not one byte read by the client.
        done = harness.wait_until(lambda: len([r for r in harness.audit_records(self.audit, "tool_call")
                                               if str(r.get("request_id")).startswith("big-")]) == LARGE_CALLS,
                                  timeout=180, interval=0.2)
        self.assertTrue(done, "only %d of %d large calls were audited" % (
            len([r for r in harness.audit_records(self.audit, "tool_call")
                 if str(r.get("request_id")).startswith("big-")]), LARGE_CALLS))
        hwm = kib_field(broker.pid, "VmHWM")
        if os.environ.get("MAB_REPORT_RSS"):
            sys.stderr.write("brokerd VmHWM %d KiB, VmRSS %d KiB\n" % (hwm, kib_field(broker.pid, "VmRSS")))
        self.assertLess(hwm, RSS_LIMIT_KIB, "brokerd peaked at %d KiB for a client that never reads" % hwm)
        resp = other.call_tool(EXECUTE_TOOL, self.mock_args("small-2"), timeout=60)
        self.assertIs(tool_result(resp)["isError"], False, dump(resp))
        # Now the client reads: exactly one answer per call.  Those that did
        # not fit its unread output are small errors that say why.
        answers = {}
        for _ in ids:
            msg = hog.recv(timeout=60)
            self.assertNotIn(msg.get("id"), answers, "two answers for one call")
            answers[msg.get("id")] = msg
        self.assertEqual(sorted(answers), sorted(ids))
        ok = capped = 0
        for msg in answers.values():
            result = tool_result(msg)
            sc = result["structuredContent"]
            if result["isError"]:
                self.assertEqual(sc["error"]["code"], "provider.bad_response", dump(sc))
                self.assertIn("MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES", sc["error"]["message"], dump(sc))
                self.assertIs(sc["error"]["retryable"], False)
                capped += 1
            else:
                self.assertEqual(sc["execution"]["http_status"], 200)
                self.assertGreater(len(result["content"][0]["text"]), LARGE_BODY * 9 // 10)
                ok += 1
        self.assertGreater(ok, 0, "not even one large answer was delivered")
        self.assertGreater(capped, 0, "every large answer was queued: the cap did not bite")
        # The audit trail says which answers were not passed on, and why.
        records = [r for r in harness.audit_records(self.audit, "tool_call")
                   if str(r.get("request_id")).startswith("big-")]
        dropped = [r for r in records if r.get("outcome") == "provider.bad_response"]
        self.assertEqual(len(dropped), capped, dump(records))
        for r in dropped:
            self.assertEqual(r.get("http_status"), 200, r)
            self.assertIn("SESSION_MAX_OUTPUT_BYTES", r.get("detail", ""), r)
        # The session goes on once it has read its answers.
        self.assertEqual(hog.request("ping").get("result"), {})

    def test_one_large_answer_costs_a_few_copies_of_its_body(self):
        # A body passes brokerd as tokend's message, the parsed answer, the
        # structured text, and the output line (text and structuredContent:
        # two copies, the protocol's).  Not also as a json-c string of the
        # text and a serialisation of the whole result: those made it 8x.
        broker = self.listen(self.mock_env(dict(self.SMALL_QUARANTINE)))
        c = self.client()
        harness.initialize(c)
        before = kib_field(broker.pid, "VmHWM")
        resp = c.call_tool(EXECUTE_TOOL, self.mock_args("big", "/v1.0/mock/large/%d" % LARGE_BODY), timeout=60)
        self.assertIs(tool_result(resp)["isError"], False)
        grown = kib_field(broker.pid, "VmHWM") - before
        allowed = 6 * LARGE_BODY
        if sanitizer_build(self.stage):
            # Shadow memory (an eighth) and the 4 MiB quarantine set above.
            allowed = allowed * 9 // 8 + 4 * MIB
        self.assertLess(grown * 1024, allowed,
                        "passing one %d-byte body took brokerd's peak %d KiB higher" % (LARGE_BODY, grown))

    def test_answers_read_are_not_kept(self):
        # Each of 8 sessions reads one 4 MB answer and stays open: what
        # brokerd held for them must go once they have read it.
        broker = self.listen(self.mock_env(dict(self.SMALL_QUARANTINE)))
        clients = [self.client() for _ in range(8)]
        for i, c in enumerate(clients):
            harness.initialize(c)
            resp = c.call_tool(EXECUTE_TOOL, self.mock_args("big-%d" % i, "/v1.0/mock/large/%d" % LARGE_BODY),
                               timeout=60)
            self.assertIs(tool_result(resp)["isError"], False)
        rss = kib_field(broker.pid, "VmRSS")
        self.assertLess(rss, 32 * 1024, "brokerd holds %d KiB after 8 sessions read their answers" % rss)
        for c in clients:
            self.assertEqual(c.request("ping").get("result"), {})

    def test_smallest_cap_still_passes_a_maximal_answer(self):
        # 3 x MAX_RESPONSE_BYTES + 64 KiB is the smallest cap allowed: one
        # answer with a body near MAX_RESPONSE_BYTES fits, the next does not.
        env = self.mock_env({"MCP_AUTH_BROKER_MAX_RESPONSE_BYTES": str(MIB),
                             "MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES": str(3 * MIB + 65536)})
        self.listen(env)
        c = self.client()
        harness.initialize(c)
        ids = [c.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.mock_args(
            "big-%d" % i, "/v1.0/mock/large/%d" % (MIB - 4096))}) for i in range(4)]
        harness.wait_until(lambda: len(harness.audit_records(self.audit, "tool_call")) == len(ids), timeout=60)
        results = [tool_result(c.recv_response(i, timeout=60)) for i in ids]
        codes = [r["structuredContent"]["error"]["code"] if r["isError"] else "ok" for r in results]
        self.assertIn("ok", codes)
        self.assertIn("provider.bad_response", codes)
        self.assertEqual(set(codes), {"ok", "provider.bad_response"}, codes)
        self.assertEqual(c.request("ping").get("result"), {})

    def test_cap_below_one_maximal_answer_is_a_configuration_error(self):
        status, _, err = harness.run_once(self.stage, env_overrides={
            "MCP_AUTH_BROKER_MAX_RESPONSE_BYTES": str(4 * MIB),
            "MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES": str(8 * MIB)})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_SESSION_MAX_OUTPUT_BYTES", err)
        self.assertIn("MCP_AUTH_BROKER_MAX_RESPONSE_BYTES", err)


class ResultTextTests(BoundsCase):
    """A tool result is written from one JSON text (structuredContent, and
    the same escaped as the text content): every character a Graph body may
    hold comes through both unchanged, in every protocol era, whatever the
    request's id holds."""

    MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {}}
    # The id holds what brokerd's stand-ins for the two copies look like.
    ODD_ID = "\u0001mab:text\u0001 \u0001mab:structured\u0001 \"}"

    def tricky_body(self, result):
        if "structuredContent" in result:
            self.assertEqual(json.loads(result["content"][0]["text"]), result["structuredContent"])
        sc = json.loads(result["content"][0]["text"])
        self.assertEqual(sc["execution"]["body"], mock_entra.TRICKY_BODY, dump(sc))
        return sc

    def test_every_character_comes_through(self):
        self.listen(self.mock_env())
        for version in harness.SUPPORTED_VERSIONS:
            c = self.client()
            harness.initialize(c, version)
            for req_id in (7, self.ODD_ID):
                c.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.mock_args(
                    "tricky", "/v1.0/mock/tricky")}, req_id=req_id)
                resp = c.recv_response(req_id, timeout=30)
                result = resp["result"]
                self.assertIs(result["isError"], False, dump(resp))
                self.assertEqual(result["content"][0]["type"], "text")
                self.assertEqual("structuredContent" in result, version >= "2025-06-18", version)
                self.tricky_body(result)
            c.close()

    def test_every_character_comes_through_in_the_2026_era(self):
        self.listen(self.mock_env())
        c = self.client()
        c.send_request("tools/call", {"name": EXECUTE_TOOL, "_meta": self.MODERN_META,
                                      "arguments": self.mock_args("tricky", "/v1.0/mock/tricky")},
                       req_id=self.ODD_ID)
        resp = c.recv_response(self.ODD_ID, timeout=30)
        result = resp["result"]
        self.assertEqual(result.get("resultType"), "complete", dump(resp))
        self.assertEqual(result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcp-auth-broker")
        self.assertIs(result["isError"], False, dump(resp))
        self.tricky_body(result)


class SessionsPerUidTests(BoundsCase):
    HELD = 320

    def nobody_bridge(self):
        # The bridge binary where nobody can run it (the stage is 0700).
        exe = os.path.join(self.sockdir, "brokerd")
        shutil.copy2(self.stage.brokerd, exe)
        os.chmod(exe, 0o755)
        cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", exe,
               "--connect", self.path]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=harness.base_env(self.stage), start_new_session=True)
        self.addCleanup(harness._kill_group, proc.pid)
        return proc

    def hold(self, count):
        """count idle connections from our uid, kept open until the test ends."""
        held = []
        deadline = time.monotonic() + harness.DEFAULT_TIMEOUT
        for _ in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            self.addCleanup(s.close)
            while True:
                try:
                    s.connect(self.path)
                    break
                except BlockingIOError:  # the listen backlog is full for now
                    if time.monotonic() > deadline:
                        raise harness.HarnessError("brokerd stopped accepting after %d connections" % len(held))
                    time.sleep(0.01)
            held.append(s)
        return held

    def test_one_uid_holding_many_connections_does_not_lock_out_another(self):
        broker = self.listen({"MCP_AUTH_BROKER_SOCKET_GROUP": str(NOBODY),
                              "MCP_AUTH_BROKER_ALLOWED_UIDS": "%d,%d" % (os.getuid(), NOBODY)})
        held = self.hold(self.HELD)
        # Our uid's sessions past the cap (default 32) were refused, once each.
        refused = harness.wait_until(lambda: len(harness.audit_records(self.audit, "session_refused"))
                                     >= self.HELD - 32, timeout=30)
        self.assertTrue(refused, "%d refusals" % len(harness.audit_records(self.audit, "session_refused")))
        records = harness.audit_records(self.audit, "session_refused")
        self.assertEqual(len(records), self.HELD - 32)
        self.assertEqual({r.get("peer_uid") for r in records}, {os.getuid()})
        self.assertEqual({r.get("reason") for r in records}, {"too many sessions for this uid"}, records[:1])
        last = held[-1]
        last.setblocking(True)
        last.settimeout(5)
        data = last.recv(65536)
        msg = harness.parse_message(data.split(b"\n")[0])
        self.assertIsNone(msg.get("id"))
        self.assertEqual(msg["error"]["code"], -32600, dump(msg))
        self.assertIn("MCP_AUTH_BROKER_MAX_SESSIONS_PER_UID", msg["error"]["data"]["detail"], dump(msg))
        # Another uid is served meanwhile.
        proc = self.nobody_bridge()
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "nobody", "version": "1"}}}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        try:
            out, err = proc.communicate((json.dumps(init) + "\n" + json.dumps(ping) + "\n").encode(),
                                        timeout=harness.DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise harness.HarnessError("a client of another uid was not served while one uid held %d "
                                       "connections" % self.HELD)
        lines = [harness.parse_message(line) for line in out.splitlines()]
        self.assertEqual([m.get("id") for m in lines], [1, 2], dump(lines) + err.decode())
        self.assertEqual(lines[1].get("result"), {})
        # And one of our uid's sessions under the cap is served too.
        self.assertIsNone(broker.proc.poll())

    def test_cap_is_configurable(self):
        self.listen({"MCP_AUTH_BROKER_MAX_SESSIONS_PER_UID": "2"})
        a, b = self.client(), self.client()
        harness.initialize(a)
        harness.initialize(b)
        c = self.client()
        msgs = c.read_to_eof()
        self.assertEqual([m.get("error", {}).get("code") for m in msgs], [-32600], dump(msgs))
        # A slot frees when a session ends.
        a.close()
        time.sleep(0.3)
        d = self.client()
        self.assertEqual(harness.initialize(d)["protocolVersion"], "2025-06-18")


class IdleTimeoutTests(BoundsCase):
    def test_idle_session_is_closed(self):
        self.listen({"MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS": "1"})
        idle, busy = self.client(), self.client()
        harness.initialize(idle)
        harness.initialize(busy)
        started = time.monotonic()
        # busy keeps talking; idle sends nothing.
        while time.monotonic() - started < 2.5:
            self.assertEqual(busy.request("ping").get("result"), {})
            time.sleep(0.2)
        self.assertEqual(idle.read_to_eof(timeout=5), [])
        self.assertLess(time.monotonic() - started, 6)
        closed = [r for r in harness.audit_records(self.audit, "session_closed")]
        self.assertEqual([r.get("reason") for r in closed], ["idle"], closed)
        self.assertEqual(busy.request("ping").get("result"), {})

    def test_call_in_flight_is_not_idleness(self):
        self.listen({"MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS": "1"})
        c = self.client()
        harness.initialize(c)
        # The smoke slow path takes longer than the idle timeout.
        resp = c.call_tool(EXECUTE_TOOL, execute_args({"operation.path": harness.SLOW_PATH}))
        self.assertIs(tool_result(resp)["isError"], False, dump(resp))

    def test_idle_deadline_during_shutdown_does_not_spin(self):
        # After SIGTERM a session that does not read what it was sent is
        # kept until its answers drain or the grace period ends; its idle
        # deadline passing meanwhile must not make the loop spin.
        broker = self.listen({"MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS": "1",
                              "MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS": "10"})
        stuck = self.client()
        harness.initialize(stuck)
        lines = b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/list"}).encode() + b"\n"
                         for i in range(100, 400))
        stuck.sock.sendall(lines)
        time.sleep(0.5)
        os.kill(broker.pid, signal.SIGTERM)
        time.sleep(0.5)
        before = cpu_seconds(broker.pid)
        time.sleep(2.5)  # the idle deadline passes in here
        used = cpu_seconds(broker.pid) - before
        self.assertIsNone(broker.proc.poll())
        self.assertLess(used, 0.5, "brokerd used %.2f s of CPU in 2.5 s of waiting" % used)
        stuck.close()
        self.assertEqual(broker.wait(), 0)


def cpu_seconds(pid):
    """User plus system CPU time of pid so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    harness.main()
