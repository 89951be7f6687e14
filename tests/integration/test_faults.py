# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Fault injection: what a client sees when the machinery under brokerd fails.

* A child SIGKILLed in the middle of calls on the unix socket: every session's
  call in flight is answered with the *.unavailable code, brokerd exits 70,
  nothing is left running, and a restarted brokerd takes the socket path back.
* The login endpoint slow, dead (a closed port), dropping the connection,
  answering garbage, or answering 429 to a storm of concurrent calls (which
  must reach it only a few times), and Graph cutting a chunked body short:
  each gives the documented code, and brokerd goes on serving.
* brokerd under a small RLIMIT_NOFILE with more sessions than descriptors:
  it serves what fits, the rest wait, the sessions it has are unaffected,
  and it never crashes.
* brokerd under a small RLIMIT_AS, given a request that needs more memory
  than it has: an error, or the documented fail-closed exit -- never a crash
  by signal, a hang, or a request served altered.

Every test also checks that no secret and no token appears in anything
brokerd wrote (stdout, stderr, the audit file).  Nothing leaves 127.0.0.1;
every wait has a deadline; every process and server a test starts is stopped.

Python 3.9+, standard library only.
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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

mock_entra = harness.import_mock_entra()

EX_SOFTWARE = 70
MIB = 1024 * 1024
TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
RETRYABLE = ("provider.rate_limited", "provider.timeout", "provider.unavailable",
             "secret.timeout", "secret.unavailable")
# The slow smoke call answers after about 1.5 s: a child killed 0.2 s after
# every session answered a ping sent behind its call (so brokerd has
# dispatched them all) dies with all of them in flight.
KILL_DELAY = 0.2

PKI = None
_PKI_ROOT = None


def setUpModule():
    global PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-faults-pki-")
    PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "pki"))


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=repr)[:4000]


def sanitizer_build(st):
    """AddressSanitizer reserves terabytes of address space: RLIMIT_AS means
    nothing to such a build."""
    with open(st.brokerd, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"AddressSanitizer" in data


class LimitedBroker(harness.Broker):
    """harness.Broker with resource limits set in the child before exec
    (resource.setrlimit in preexec_fn); brokerd's children inherit them.
    The rest is harness.Broker's own set-up, unchanged."""

    def __init__(self, st, env_overrides=None, args=(), limits=()):
        def apply_limits():
            for which, value in limits:
                resource.setrlimit(which, (value, value))

        self.stage = st
        self.proc = subprocess.Popen(
            harness.wrapper() + [st.brokerd] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=harness.base_env(st, env_overrides), bufsize=0, start_new_session=True,
            preexec_fn=apply_limits,
        )
        self.pid = self.proc.pid
        self._next_id = 0
        self._outbuf = b""
        self._stdout_raw = bytearray()
        self._stdout_eof = False
        self._inbox = []
        self._stderr_chunks = []
        self._stderr_lock = threading.Lock()
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._seen_children = {}


class FaultCase(BrokerTestCase):
    """Helpers shared by every class: starting brokerd (optionally limited),
    the no-secret check over everything it wrote, and waiting for processes."""

    #: extra needles (secrets, tokens) a test's brokerd must never print
    needles = ()

    def setUp(self):
        self.scratch = harness.socket_dir()
        self.addCleanup(shutil.rmtree, self.scratch, True)
        self.audit = os.path.join(self.scratch, "audit.log")
        self.extra_needles = []

    def start_broker(self, env_overrides=None, args=(), limits=None):
        env = {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit}
        env.update(env_overrides or {})
        holder = []
        # Registered first, so it runs after the broker's own cleanup: brokerd
        # is dead and its stderr drained by then.
        self.addCleanup(self.assert_nothing_leaked, holder)
        if limits is None:
            broker = super().start_broker(env, args)
        else:
            broker = LimitedBroker(self.stage, env, args, limits)
            self.addCleanup(self._finish_broker, broker)
        holder.append(broker)
        return broker

    def leak_needles(self):
        return [n.decode() for n in harness.FORBIDDEN_SUBSTRINGS] + list(self.needles) + self.extra_needles

    def assert_nothing_leaked(self, holder):
        if not holder:
            return
        broker = holder[0]
        needles = self.leak_needles()
        try:
            with open(self.audit, "rb") as f:
                audit = f.read()
        except FileNotFoundError:
            audit = b""
        for stream, data in (("stdout", broker.stdout_bytes()), ("stderr", broker.stderr_bytes()),
                             ("the audit file", audit)):
            found = harness.find_needles(data, needles)
            if found:
                raise harness.HarnessError("%s carries secret or token material: %r" % (stream, found))

    def assert_gone(self, pids, timeout=5):
        """Every pid ({name: pid}) is gone: not running, not a zombie."""
        harness.wait_until(lambda: not any(harness.pid_exists(p) for p in pids.values()), timeout)
        for name, pid in pids.items():
            self.assertFalse(harness.pid_exists(pid), "%s (pid %d) is still there: %r"
                             % (name, pid, harness.proc_stat(pid)))

    def assert_logged(self, broker, pattern):
        """brokerd's stderr has a line matching pattern (it is read on a
        thread of its own: give it a moment after the process exits)."""
        found = harness.wait_until(lambda: re.search(pattern, broker.stderr_text()), 5)
        self.assertTrue(found, "no log line matching %r in:\n%s" % (pattern, broker.stderr_text()[-2000:]))

    def assert_tool_error(self, resp, code, request_id="req-1"):
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], True, dump(result))
        self.assertEqual(sc.get("status"), "error", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        err = sc.get("error", {})
        self.assertEqual(err.get("code"), code, dump(sc))
        self.assertEqual(err.get("category"), code.split(".")[0], dump(sc))
        self.assertIs(err.get("retryable"), code in RETRYABLE, dump(sc))
        self.assertNotIn("execution", sc, dump(sc))
        return sc

    def assert_ok(self, resp, request_id="req-1", http_status=200):
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc["execution"]["http_status"], http_status, dump(sc))
        return sc

    def listen(self, env_overrides=None, limits=None):
        self.path = os.path.join(self.scratch, "mcp.sock")
        broker = self.start_broker(env_overrides, ["--listen", self.path], limits)
        harness.wait_for_socket(self.path, broker)
        # The file may be one a dead brokerd left: wait for this one's.
        self.assertTrue(harness.wait_until(lambda: "listening on" in broker.stderr_text(), 10),
                        broker.stderr_text()[-2000:])
        return broker

    def client(self):
        c = SocketClient(self.path)
        self.addCleanup(c.close)
        return c


# ---- a child killed while every session has a call in flight --------------------


class ChildDeathOnSocketTests(FaultCase):
    SESSIONS = 3

    def kill_child_mid_calls(self, victim, survivor, code):
        broker = self.listen()
        kids = broker.wait_children()
        clients = [self.client() for _ in range(self.SESSIONS)]
        bridge = super(FaultCase, self).start_broker(None, ["--connect", self.path])
        idle = self.client()  # a session with nothing in flight
        calls = []
        for n, conn in enumerate(clients + [bridge]):
            harness.initialize(conn)
            args = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow-%d" % n})
            calls.append((conn, conn.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": args}),
                          "req-slow-%d" % n))
        harness.initialize(idle)
        for conn, _, _ in calls:
            conn.request("ping")  # brokerd has dispatched the call before it
        time.sleep(KILL_DELAY)
        os.kill(kids[victim], signal.SIGKILL)

        for conn, call_id, request_id in calls:
            self.assert_tool_error(conn.recv_response(call_id), code, request_id)
        for conn in clients + [idle]:
            self.assertEqual(conn.read_to_eof(), [], "more than the failed call was sent")
        self.assertEqual(broker.wait(), EX_SOFTWARE, broker.stderr_text()[-2000:])
        self.assertEqual(bridge.read_to_eof(), [])
        self.assertEqual(bridge.wait(), 0, bridge.stderr_text())
        self.assert_logged(broker, r"brokerd\[\d+\]: error: %s died" % victim)
        self.assert_gone({"brokerd": broker.pid, victim: kids[victim], survivor: kids[survivor],
                          "bridge": bridge.pid})
        outcomes = sorted(r.get("outcome") for r in harness.audit_records(self.audit, "tool_call"))
        self.assertEqual(outcomes, [code] * len(calls), outcomes)

        # systemd restarts the unit: the socket file left behind is taken back.
        again = self.listen()
        c = self.client()
        harness.initialize(c)
        self.assert_ok(c.call_tool(EXECUTE_TOOL, execute_args()))
        os.kill(again.pid, signal.SIGTERM)
        self.assertEqual(again.wait(), 0, again.stderr_text()[-2000:])

    def test_tokend_killed_fails_every_session_and_stops(self):
        self.kill_child_mid_calls("tokend", "secretd", "provider.unavailable")

    def test_secretd_killed_fails_every_session_and_stops(self):
        self.kill_child_mid_calls("secretd", "tokend", "secret.unavailable")


# ---- the login endpoint and Graph misbehaving -------------------------------------


class MockCase(FaultCase):
    """brokerd in dev mode against tests/fixtures/mock_entra.py, with a fresh
    random client secret per test; the secret and every token the mock issued
    are looked for in everything brokerd wrote."""

    def setUp(self):
        super().setUp()
        self.secret = "mab-faults-secret~" + os.urandom(12).hex()
        self.secret_file = os.path.join(self.scratch, "graph-client-secret")
        harness.write_secret_file(self.secret_file, self.secret)
        self.mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID,
                                         client_secret=self.secret).start()
        self.addCleanup(self.mock.stop)

    def leak_needles(self):
        return super().leak_needles() + [self.secret, mock_entra.TOKEN_PREFIX] + self.mock.issued_tokens()

    def broker(self, extra=None, authority=None, resources=None):
        env = harness.dev_env(authority or self.mock.base_url, resources or [self.mock.base_url],
                              PKI.ca_file, self.secret_file, TENANT, CLIENT_ID, extra)
        broker = self.start_broker(env)
        harness.initialize(broker)
        return broker

    def args(self, request_id="req-1", resource=None, timeout_ms=10000):
        return execute_args({"graph.tenant_id": TENANT, "graph.resource": resource or self.mock.base_url,
                             "request_id": request_id, "timeout_ms": timeout_ms})

    def call(self, broker, request_id="req-1", **kw):
        return broker.call_tool(EXECUTE_TOOL, self.args(request_id, **kw), timeout=30)

    def assert_still_serving(self, broker, request_id="req-after"):
        self.mock.clear_faults()
        self.assertEqual(broker.request("ping").get("result"), {})
        self.assert_ok(self.call(broker, request_id), request_id)
        self.assertIsNone(broker.proc.poll())


class LoginFaultTests(MockCase):
    def test_slow_login_endpoint_times_out(self):
        self.mock.set_fault("token", "slow", count=1, delay=6)
        broker = self.broker({"MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS": "1"})
        start = time.monotonic()
        self.assert_tool_error(self.call(broker, timeout_ms=20000), "provider.timeout")
        self.assertLess(time.monotonic() - start, 5.0, "the 1 s login timeout was not applied")
        self.assert_still_serving(broker)

    def test_dead_login_endpoint_is_unavailable(self):
        # A bound socket that does not listen: the port is closed, and nothing
        # else can take it meanwhile.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        closed = "https://127.0.0.1:%d" % holder.getsockname()[1]
        broker = self.broker(authority=closed)
        for n in range(3):
            rid = "req-%d" % n
            self.assert_tool_error(self.call(broker, rid), "provider.unavailable", rid)
        self.assertEqual(self.mock.graph_requests(), [], "Graph was called without a token")
        self.assertEqual(broker.request("ping").get("result"), {})
        outcomes = [r.get("outcome") for r in harness.audit_records(self.audit, "tool_call")]
        self.assertEqual(outcomes, ["provider.unavailable"] * 3)

    def test_login_connection_dropped_is_unavailable(self):
        self.mock.set_fault("token", "drop", count=1)
        broker = self.broker()
        self.assert_tool_error(self.call(broker), "provider.unavailable")
        self.assert_still_serving(broker)

    def test_garbage_from_login_endpoint_is_bad_response(self):
        self.mock.set_fault("token", "garbage")
        broker = self.broker()
        self.assert_tool_error(self.call(broker), "provider.bad_response")
        self.assertEqual(self.mock.graph_requests(), [])
        self.assert_still_serving(broker)

    def test_429_storm_makes_few_login_requests(self):
        """Many concurrent calls while the login endpoint answers 429 to
        everything: all are rate_limited, and throttling keeps the endpoint
        from seeing more than a couple of requests."""
        self.mock.set_fault("token", "429", retry_after=30)
        broker = self.broker({"MCP_AUTH_BROKER_MAX_INFLIGHT": "128"})
        for wave in range(2):
            count = 40
            ids = {}
            for n in range(count):
                rid = "req-w%d-%02d" % (wave, n)
                ids[broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.args(rid)})] = rid
            answers = harness.recv_in_order(broker, count, timeout=60)
            self.assertEqual(sorted(a.get("id") for a in answers), sorted(ids))
            for a in answers:
                self.assert_tool_error(a, "provider.rate_limited", ids[a["id"]])
        logins = len(self.mock.token_requests())
        self.assertGreaterEqual(logins, 1)
        self.assertLessEqual(logins, 2, "80 calls in a 429 storm made %d login requests" % logins)
        self.assertEqual(self.mock.graph_requests(), [])
        self.assertEqual(broker.request("ping").get("result"), {})
        self.assertIsNone(broker.proc.poll())


class GraphFaultTests(MockCase):
    def test_truncated_chunked_body(self):
        self.mock.set_fault("graph", "truncated", count=1)
        broker = self.broker()
        resp = self.call(broker)
        code = tool_result(resp)["structuredContent"].get("error", {}).get("code")
        self.assertIn(code, ("provider.bad_response", "provider.unavailable"), dump(resp))
        self.assert_tool_error(resp, code)
        self.assertEqual(len(self.mock.graph_requests()), 1, "a truncated body was retried")
        self.assert_still_serving(broker)

    def test_truncated_bodies_for_concurrent_calls(self):
        self.mock.set_fault("graph", "truncated", count=5)
        broker = self.broker()
        ids = {}
        for n in range(8):
            rid = "req-%d" % n
            ids[broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.args(rid)})] = rid
        answers = harness.recv_in_order(broker, 8, timeout=30)
        failed = 0
        for a in answers:
            sc = tool_result(a)["structuredContent"]
            if sc.get("status") == "error":
                failed += 1
                self.assertIn(sc["error"]["code"], ("provider.bad_response", "provider.unavailable"), dump(sc))
            else:
                self.assert_ok(a, ids[a["id"]])
        self.assertEqual(failed, 5, dump(answers))
        self.assert_still_serving(broker)


# ---- resource limits ----------------------------------------------------------------


class NofileTests(FaultCase):
    NOFILE = 32
    CLIENTS = 40

    def test_small_nofile_many_sessions(self):
        broker = self.listen(limits=[(resource.RLIMIT_NOFILE, self.NOFILE)])
        kids = broker.wait_children()

        # The first session gets a call in flight before the crowd arrives.
        first = self.client()
        harness.initialize(first)
        slow_id = first.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args(
            {"operation.path": SLOW_PATH, "request_id": "req-slow"})})

        crowd = [self.client() for _ in range(self.CLIENTS - 1)]
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "crowd", "version": "1"}}
        for c in crowd:
            c.send_request("initialize", init)
        served = self.settle(crowd)
        waiting = [c for c in crowd if c not in served]
        self.assertIsNone(broker.proc.poll(), "brokerd died with %d sessions under RLIMIT_NOFILE %d:\n%s"
                          % (len(served) + 1, self.NOFILE, broker.stderr_text()[-1500:]))
        self.assertGreater(len(served), 0)
        self.assertTrue(waiting, "%d sessions cannot all have a descriptor under RLIMIT_NOFILE %d"
                        % (self.CLIENTS, self.NOFILE))
        # brokerd says how many it serves at once, and does as it says.
        m = harness.wait_until(lambda: re.search(r"RLIMIT_NOFILE is %d: serving at most (\d+) sessions at once"
                                                 % self.NOFILE, broker.stderr_text()), 5)
        self.assertTrue(m, broker.stderr_text()[-2000:])
        self.assertEqual(len(served) + 1, int(m.group(1)))

        # The sessions it has are served as if nothing happened ...
        self.assert_ok(first.recv_response(slow_id, timeout=10), "req-slow")
        self.assert_ok(first.call_tool(EXECUTE_TOOL, execute_args()))
        self.assert_ok(served[0].call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-2"})), "req-2")
        # ... the others wait, unanswered but not refused ...
        self.assertEqual([c for c in waiting if self.answered(c)], [])
        # ... and are served as sessions end.
        for c in served[:5]:
            c.close()
        harness.wait_until(lambda: len([c for c in waiting if self.answered(c)]) >= 5, 10, interval=0.1)
        time.sleep(0.3)  # and no more than that
        now_served = [c for c in waiting if self.answered(c)]
        self.assertEqual(len(now_served), 5, "5 sessions ended, %d waiting ones were served" % len(now_served))
        self.assert_ok(now_served[0].call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-3"})), "req-3")

        self.assertIsNone(broker.proc.poll(), "brokerd exited: " + broker.stderr_text()[-2000:])
        self.assertNotIn("fatal", broker.stderr_text())
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-2000:])
        self.assert_gone(dict(kids, brokerd=broker.pid))

    def settle(self, crowd):
        """The clients whose initialize is answered, once that number has
        stopped changing for half a second."""
        deadline = time.monotonic() + 15
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            served = [c for c in crowd if self.answered(c)]
            if len(served) != last:
                last, since = len(served), time.monotonic()
            elif served and time.monotonic() - since >= 0.5:
                return served
            time.sleep(0.05)
        return [c for c in crowd if self.answered(c)]

    @staticmethod
    def answered(client):
        """Whether the client's initialize (id 1) has been answered by now;
        what arrived is kept for its later reads."""
        if not any(m.get("id") == 1 for m in client._inbox):
            client._inbox = harness.messages_within(client, 0.01)
        return any("result" in m and m.get("id") == 1 for m in client._inbox)


class AddressSpaceTests(FaultCase):
    BODY = 15 * MIB  # within the 16 MiB line limit below
    ENV = {"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": str(16 * MIB), "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"}
    # RLIMIT_AS values tried: the processes' peak after a normal call plus
    # these many MiB.  Where the allocation that fails falls differs from one
    # value to the next (the input buffer, the parse, the text for tokend,
    # tokend itself), so several are tried; those at which brokerd does not
    # start (or serve a normal call) are skipped.
    HEADROOM_MIB = range(4, 44, 4)

    def baseline_peak(self):
        """The largest VmPeak among the three processes after a normal call."""
        broker = super(FaultCase, self).start_broker(self.ENV)
        harness.initialize(broker)
        self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))
        kids = broker.wait_children()
        peak = max(int(harness.proc_status_field(p, "VmPeak").split()[0])
                   for p in list(kids.values()) + [broker.pid])
        broker.kill()
        return peak * 1024

    def test_requests_needing_more_memory_fail_closed(self):
        if sanitizer_build(self.stage) or harness.wrapper():
            self.skipTest("RLIMIT_AS cannot be applied to a sanitizer or valgrind build")
        peak = self.baseline_peak()
        tried = []
        for headroom in self.HEADROOM_MIB:
            limit = (peak + headroom * MIB + MIB - 1) // MIB * MIB
            broker = self.start_broker(self.ENV, limits=[(resource.RLIMIT_AS, limit)])
            try:
                harness.initialize(broker, timeout=10)
                self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args(), timeout=10))
            except (AssertionError, harness.HarnessError):
                broker.kill()  # does not start under this limit
                continue
            with self.subTest(rlimit_as_mib=limit // MIB):
                tried.append("%d MiB: %s" % (limit // MIB, self.big_request(broker)))
            broker.kill()
        sys.stderr.write("\nRLIMIT_AS, a %d MiB body:\n  %s\n" % (self.BODY // MIB, "\n  ".join(tried)))
        self.assertTrue(tried, "brokerd started under none of the limits tried")

    def big_request(self, broker):
        """Sends a POST whose body needs more memory than there is; returns
        which fail-closed outcome followed, failing on anything else."""
        kids = broker.wait_children()
        body = {"blob": "x" * self.BODY}
        args = execute_args({"request_id": "req-big", "operation.method": "POST",
                             "operation.path": "/v1.0/users", "operation.body": body})
        try:
            big_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": args})
        except harness.HarnessError:
            big_id = None  # brokerd went away while reading it
        answer = None
        deadline = time.monotonic() + 60
        while big_id is not None and answer is None and time.monotonic() < deadline:
            try:
                msg = broker._read_message(deadline)
            except harness.HarnessError:
                break
            if msg is None:  # brokerd closed stdout: it exited
                break
            if msg.get("id") in (big_id, None):
                answer = msg
        if answer is None:
            self.assertTrue(harness.wait_until(lambda: broker.proc.poll() is not None, 15),
                            "brokerd neither answered nor exited (a hang)\n" + broker.stderr_text()[-2000:])
        return self.judge(broker, kids, answer, big_id, len(body["blob"]))

    def judge(self, broker, kids, answer, big_id, body_len):
        """Which fail-closed outcome it was; fails on anything else."""
        err = broker.stderr_text()
        if answer is not None and "error" in answer:
            # Refused as a JSON-RPC error: the session, and brokerd, go on.
            self.assertIn(answer["error"]["code"], (-32700, -32600), dump(answer))
            self.assertIn(answer.get("id"), (None, big_id), dump(answer))
            # The line is good JSON: the client is told what went wrong.
            self.assertIn("out of memory", json.dumps(answer["error"].get("data")), dump(answer))
            self.assertEqual(broker.request("ping", timeout=30).get("result"), {})
            self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-after"}), timeout=30),
                           "req-after")
            return "JSON-RPC error %d (%s); brokerd went on serving" % (
                answer["error"]["code"], answer["error"].get("data", {}).get("detail"))
        if answer is not None:
            result = tool_result(answer)
            sc = result["structuredContent"]
            if result["isError"]:
                # A child ran out and died: the documented *.unavailable, exit 70.
                self.assertIn(sc["error"]["code"], ("provider.unavailable", "secret.unavailable"), dump(sc))
                self.assertIs(sc["error"]["retryable"], True, dump(sc))
                self.assertEqual(broker.wait(timeout=15), EX_SOFTWARE, err[-2000:])
                self.assert_gone(dict(kids, brokerd=broker.pid))
                return "%s, then exit 70" % sc["error"]["code"]
            # Served after all: then exactly what was sent, never a body cut short.
            self.assertEqual(sc["execution"]["http_status"], 201, dump(sc))
            self.assertEqual(len(sc["execution"]["body"].get("blob", "")), body_len,
                             "the body was altered on its way: %d bytes of %d arrived"
                             % (len(sc["execution"]["body"].get("blob", "")), body_len))
            return "served whole"
        # No answer: brokerd must have exited non-zero (not by a signal) and said why.
        status = broker.wait(timeout=15)
        self.assertGreater(status, 0, "brokerd died of signal %d\n%s" % (-status, err[-2000:]))
        self.assert_logged(broker, r"brokerd\[\d+\]: fatal: out of memory|tokend died|secretd died")
        self.assert_gone(dict(kids, brokerd=broker.pid))
        return "brokerd exited %d: %s" % (status, [line for line in broker.stderr_text().splitlines()
                                                   if "fatal" in line or "died" in line][:2])


if __name__ == "__main__":
    harness.main()
