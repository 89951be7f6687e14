# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""brokerd --http HOST:PORT: MCP Streamable HTTP at /mcp (issue 11, first slice).

Driven with http.client as a remote MCP client would: Mcp-Session-Id
sessions, the stateless 2026-07-28 era, notifications, DELETE, the checks
made before a message is read (Host, Origin, method, caller, protocol
version, size), API keys (the key's name becomes the requester and is
audited), the refusals at start, and hostile HTTP that must leave the
daemon serving.
"""

import fcntl
import hashlib
import http.client
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
from harness import (  # noqa: E402
    EXECUTE_TOOL,
    SLOW_PATH,
    BrokerTestCase,
    audit_records,
    execute_args,
    tool_result,
)

INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test_http", "version": "1"}}
MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
KEY = "k3y-for-alice-0123456789abcdef"
OTHER_KEY = "k3y-for-bob-fedcba9876543210"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpCase(BrokerTestCase):
    """One brokerd --http per test, on a free loopback port."""

    def serve(self, env=None, host="127.0.0.1"):
        self.tmp = tempfile.mkdtemp(prefix="mab-http-")
        self.audit = os.path.join(self.tmp, "audit.log")
        overrides = {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit}
        overrides.update(env or {})
        self.port = free_port()
        args = list(getattr(self, "serve_args", [])) + ["--http", "%s:%d" % (host, self.port)]
        self.broker = self.start_broker(overrides, args=args)
        harness.wait_until(self.listening, timeout=10)
        return self.broker

    def listening(self):
        if self.broker.proc.poll() is not None:
            raise harness.HarnessError("brokerd exited: %s" % self.broker.stderr_text())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(self, msg, headers=None, raw=None, conn=None):
        """(status, headers dict lower-cased, parsed JSON body or None)."""
        c = conn or self.conn()
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        h.update(headers or {})
        c.request("POST", "/mcp", body=raw if raw is not None else json.dumps(msg), headers=h)
        return self.read(c, conn is None)

    def read(self, c, close=True):
        r = c.getresponse()
        body = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if close:
            c.close()
        return r.status, hdrs, json.loads(body) if body else None

    def initialize(self, headers=None):
        status, hdrs, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, headers)
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs.get("content-type"), "application/json")
        self.assertEqual(body["result"]["protocolVersion"], "2025-06-18")
        sid = hdrs.get("mcp-session-id")
        self.assertRegex(sid or "", r"^[0-9a-f]{32}$")
        return sid

    def session_headers(self, sid, extra=None):
        h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
        h.update(extra or {})
        return h

    def assert_refused(self, status, body, want):
        self.assertEqual(status, want, body)
        self.assertEqual(body["jsonrpc"], "2.0")
        self.assertIsNone(body["id"])
        self.assertIsInstance(body["error"]["code"], int)

    def assert_serving(self):
        """A fresh client still gets tools/list answered (stateless era)."""
        status, _, body = self.post(
            {"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {"_meta": MODERN_META}}
        )
        self.assertEqual(status, 200, body)
        self.assertIn("tools", body["result"])


class SessionTests(HttpCase):
    def test_initialize_list_call_notify_delete(self):
        self.serve()
        sid = self.initialize()
        h = self.session_headers(sid)
        status, _, body = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
        self.assertEqual((status, body), (202, None))
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, h)
        self.assertEqual(status, 200)
        self.assertIn(EXECUTE_TOOL, [t["name"] for t in body["result"]["tools"]])
        # A tool call is answered by tokend later: the request waits for it.
        call = {"name": EXECUTE_TOOL, "arguments": execute_args()}
        status, _, body = self.post({"jsonrpc": "2.0", "id": "c-1", "method": "tools/call", "params": call}, h)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], "c-1")
        result = tool_result(body)
        self.assertFalse(result["isError"], body)
        self.assertEqual(result["structuredContent"]["execution"]["http_status"], 200)
        # DELETE ends the session; the id is then unknown.
        c = self.conn()
        c.request("DELETE", "/mcp", headers=h)
        status, _, _ = self.read(c)
        self.assertEqual(status, 204)
        status, _, body = self.post({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, h)
        self.assert_refused(status, body, 404)

    def test_slow_calls_in_parallel_on_one_session(self):
        self.serve()
        sid = self.initialize()
        h = self.session_headers(sid)
        conns = []
        for i in range(3):
            c = self.conn(timeout=20)
            args = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow-%d" % i})
            msg = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": EXECUTE_TOOL, "arguments": args}}
            c.request("POST", "/mcp", body=json.dumps(msg), headers=dict(h, **{"Content-Type": "application/json"}))
            conns.append(c)
        # While they wait, the daemon serves others.
        self.assert_serving()
        for i, c in enumerate(conns):
            status, _, body = self.read(c)
            self.assertEqual(status, 200)
            self.assertEqual(body["id"], i)
            tool_result(body)

    def test_cancelled_notification_reaches_the_call(self):
        """notifications/cancelled comes in a request of its own: it stops
        the call that another request of the same session waits for."""
        self.serve()
        sid = self.initialize()
        h = self.session_headers(sid)
        c = self.conn(timeout=20)
        args = execute_args({"operation.path": SLOW_PATH, "request_id": "req-to-cancel"})
        msg = {"jsonrpc": "2.0", "id": "slow-1", "method": "tools/call", "params": {"name": EXECUTE_TOOL, "arguments": args}}
        c.request("POST", "/mcp", body=json.dumps(msg), headers=dict(h, **{"Content-Type": "application/json"}))
        time.sleep(0.3)
        start = time.monotonic()
        status, _, body = self.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow-1", "reason": "user"}}, h)
        self.assertEqual((status, body), (202, None))
        status, _, body = self.read(c)
        self.assertLess(time.monotonic() - start, 1.0)  # not the 1.5 s the call takes
        self.assert_refused(status, body, 503)
        harness.wait_until(lambda: [r for r in audit_records(self.audit, "tool_call") if r.get("request_id") == "req-to-cancel"])
        rec = [r for r in audit_records(self.audit, "tool_call") if r.get("request_id") == "req-to-cancel"][0]
        self.assertEqual(rec["outcome"], "cancelled", rec)

    def test_unknown_and_missing_session(self):
        self.serve()
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"Mcp-Session-Id": "0" * 32})
        self.assert_refused(status, body, 404)
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        self.assert_refused(status, body, 400)
        c = self.conn()
        c.request("DELETE", "/mcp", headers={"Mcp-Session-Id": "f" * 32})
        status, _, body = self.read(c)
        self.assert_refused(status, body, 404)

    def test_stateless_era_needs_no_session(self):
        self.serve()
        meta = {"_meta": MODERN_META}
        status, hdrs, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": meta})
        self.assertEqual(status, 200, body)
        self.assertNotIn("mcp-session-id", hdrs)
        self.assertIn(MODERN, json.dumps(body["result"]))
        params = dict(meta, name=EXECUTE_TOOL, arguments=execute_args())
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}, {"MCP-Protocol-Version": MODERN})
        self.assertEqual(status, 200, body)
        self.assertFalse(tool_result(body)["isError"], body)

    def test_idle_session_expires(self):
        self.serve({"MCP_AUTH_BROKER_SESSION_IDLE_TIMEOUT_SECONDS": "1"})
        sid = self.initialize()
        time.sleep(2.5)
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, self.session_headers(sid))
        self.assert_refused(status, body, 404)


SRC = os.environ.get("MAB_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLIENTS = os.path.join(SRC, "tests", "clients")
NODE_BIN = os.path.join(CLIENTS, "node_modules", ".bin")


class SdkClientTests(HttpCase):
    """The official TypeScript SDK's Streamable HTTP client (tests/clients,
    installed by npm ci as for test_real_clients.py; skipped without it)."""

    def drive(self, *args):
        node = os.path.join(NODE_BIN, "node")
        if not os.access(node, os.X_OK):
            node = shutil.which("node")
        if node is None or not os.path.isdir(os.path.join(CLIENTS, "node_modules", "@modelcontextprotocol", "sdk")):
            self.skipTest("the MCP SDK is not installed: npm ci --ignore-scripts --prefix tests/clients")
        out = subprocess.run([node, os.path.join(CLIENTS, "drive_http.mjs")] + list(args), capture_output=True, timeout=120, cwd=CLIENTS)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return json.loads(out.stdout)

    def check_report(self, report):
        self.assertNotIn("error", report, report)
        self.assertRegex(report["sessionId"], r"^[0-9a-f]{32}$")
        self.assertIn(EXECUTE_TOOL, report["names"])
        self.assertEqual([c["isError"] for c in report["calls"]], [False, False], report)
        self.assertEqual(report["calls"][0]["sc"]["execution"]["http_status"], 200)
        # The throttled call came as an event stream: its progress reached
        # onprogress, then its result.
        progressed = report["progressed"]
        self.assertFalse(progressed["isError"], report)
        self.assertEqual(progressed["sc"]["execution"]["body"], {"throttled": False}, report)
        self.assertEqual([p["progress"] for p in progressed["progress"]], [1], report)
        self.assertTrue(report["terminated"], report)

    def test_sdk_client(self):
        self.serve()
        self.check_report(self.drive("http://127.0.0.1:%d/mcp" % self.port))

    def test_sdk_client_with_api_key(self):
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "api-keys")
        write_keys(keys, [("sdk-agent", KEY)])
        self.serve({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys})
        self.check_report(self.drive("http://127.0.0.1:%d/mcp" % self.port, KEY))
        calls = audit_records(self.audit, "tool_call")
        self.assertEqual({r["requester_id"] for r in calls}, {"sdk-agent"}, calls)
        report = self.drive("http://127.0.0.1:%d/mcp" % self.port, "wrong")
        self.assertIn("error", report)


class StopTests(HttpCase):
    def test_sigterm_answers_the_call_in_flight_then_exits(self):
        self.serve()
        sid = self.initialize()
        c = self.conn(timeout=20)
        args = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow-term"})
        msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": EXECUTE_TOOL, "arguments": args}}
        c.request("POST", "/mcp", body=json.dumps(msg), headers=self.session_headers(sid, {"Content-Type": "application/json"}))
        time.sleep(0.3)  # the call is in tokend (SLOW_PATH takes longer)
        self.broker.proc.send_signal(signal.SIGTERM)
        status, _, body = self.read(c)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], 1)
        tool_result(body)
        self.assertEqual(self.broker.proc.wait(timeout=15), 0, self.broker.stderr_text())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()


def move_to_fd3(fd):
    """In the child before exec: the socket at descriptor 3, inheritable."""
    if fd == 3:
        os.set_inheritable(3, True)
    else:
        os.dup2(fd, 3)


class SocketActivationTests(HttpCase):
    def test_systemd_tcp_socket_named_http(self):
        """As systemd does with ListenStream=127.0.0.1:PORT,
        FileDescriptorName=http, Accept=no: fd 3, LISTEN_FDNAMES=http."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(8)
        self.port = lsock.getsockname()[1]
        self.audit = os.path.join(tempfile.mkdtemp(prefix="mab-http-"), "audit.log")
        env = harness.base_env(self.stage, {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http", "MCP_AUTH_BROKER_AUDIT_FILE": self.audit})
        fd = lsock.fileno()
        proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0"', self.stage.brokerd],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, close_fds=False, preexec_fn=lambda: move_to_fd3(fd),
                                start_new_session=True)
        self.addCleanup(harness._kill_group, proc.pid)
        lsock.close()
        self.initialize()
        self.assert_serving()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=harness.DEFAULT_TIMEOUT)
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertIn(b"socket activation", err)
        self.assertEqual(out, b"")  # stdio is not an MCP channel here


def move_to_fds(fds):
    """In the child before exec: fds at descriptors 3, 4, ... in order,
    inheritable (first moved out of the way, so none overwrites another)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        os.close(fd)


class BothSocketsTests(HttpCase):
    """A unit with two ListenStream=: the unix socket (any name) and a TCP
    socket named http, passed as fds 3 and 4.  One brokerd serves both."""

    def activate(self, env=None, names="mcp-auth-broker.socket:http"):
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        self.path = os.path.join(sockdir, "activated.sock")
        usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        usock.bind(self.path)
        usock.listen(8)
        tsock = socket.socket()
        tsock.bind(("127.0.0.1", 0))
        tsock.listen(8)
        self.port = tsock.getsockname()[1]
        self.audit = os.path.join(sockdir, "audit.log")
        keys = os.path.join(sockdir, "api-keys")
        write_keys(keys, [("alice", KEY)])
        overrides = {"LISTEN_FDS": "2", "LISTEN_FDNAMES": names, "MCP_AUTH_BROKER_AUDIT_FILE": self.audit,
                     "MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys}
        overrides.update(env or {})
        fds = [usock.fileno(), tsock.fileno()]
        self.proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0"', self.stage.brokerd],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=harness.base_env(self.stage, overrides), close_fds=False,
                                     preexec_fn=lambda: move_to_fds(fds), start_new_session=True)
        self.addCleanup(harness._kill_group, self.proc.pid)
        usock.close()
        tsock.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=harness.DEFAULT_TIMEOUT)
        self.assertEqual(self.proc.returncode, 0, err.decode())
        self.assertEqual(out, b"")
        return err

    def unix_client(self):
        c = harness.SocketClient(self.path)
        self.addCleanup(c.close)
        return c

    def test_unix_and_http_clients_share_one_brokerd(self):
        self.activate()
        # HTTP: AUTH_MODE decides; no key, no session.
        status, _, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS})
        self.assert_refused(status, body, 401)
        # The unix client first: its call has the token minted.
        u = self.unix_client()
        harness.initialize(u)
        first = tool_result(u.call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-unix"})))
        self.assertFalse(first["isError"], first)
        self.assertEqual(first["structuredContent"]["token"]["source"], "minted", first)
        # The HTTP client's call: the same tokend, so a cache hit.
        auth = {"Authorization": "Bearer " + KEY}
        sid = self.initialize(auth)
        call = {"name": EXECUTE_TOOL, "arguments": execute_args({"request_id": "req-http"})}
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
                                    self.session_headers(sid, auth))
        self.assertEqual(status, 200, body)
        second = tool_result(body)
        self.assertFalse(second["isError"], body)
        self.assertEqual(second["structuredContent"]["token"]["source"], "cache", body)
        self.assertEqual(second["structuredContent"]["token"]["expires_at"],
                         first["structuredContent"]["token"]["expires_at"])
        # Both still served after each other's calls.
        self.assertEqual(u.request("ping").get("result"), {})
        self.assert_serving_with(auth)
        err = self.stop()
        self.assertIn(b"a unix socket and HTTP", err)
        # One audit file: the unix caller by its uid, the HTTP one by its key.
        recs = {r.get("request_id"): r for r in audit_records(self.audit, "tool_call")}
        self.assertEqual(recs["req-unix"]["transport"], "unix", recs)
        self.assertEqual(recs["req-unix"]["peer_uid"], os.getuid(), recs)
        self.assertEqual(recs["req-http"]["transport"], "http", recs)
        self.assertEqual(recs["req-http"]["caller"], "alice", recs)
        # systemd owns the socket file: it stays.
        self.assertTrue(os.path.exists(self.path))

    def assert_serving_with(self, auth):
        status, _, body = self.post(
            {"jsonrpc": "2.0", "id": 99, "method": "tools/list", "params": {"_meta": MODERN_META}}, auth)
        self.assertEqual(status, 200, body)
        self.assertIn("tools", body["result"])

    def test_unix_peers_still_judged_by_their_credentials(self):
        """MCP_AUTH_BROKER_ALLOWED_UIDS leaves us out: the unix session is
        refused (SO_PEERCRED) while the HTTP caller with a key is served."""
        self.activate({"MCP_AUTH_BROKER_ALLOWED_UIDS": str(os.getuid() + 4242)})
        u = self.unix_client()
        u.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
        refusal = u.recv()
        self.assertEqual(refusal["error"]["message"], "Forbidden", refusal)
        self.assert_serving_with({"Authorization": "Bearer " + KEY})
        self.stop()
        refused = audit_records(self.audit, "session_refused")
        self.assertEqual([r["transport"] for r in refused], ["unix"], refused)

    def test_listen_and_http_options_together(self):
        """Without systemd: --listen PATH --http HOST:PORT."""
        sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        self.path = os.path.join(sockdir, "mcp.sock")
        self.serve_args = ["--listen", self.path]
        broker = self.serve()
        harness.wait_for_socket(self.path, broker)
        u = self.unix_client()
        harness.initialize(u)
        self.assert_serving()
        self.assertEqual(u.request("ping").get("result"), {})
        self.assertIn("serving MCP on a unix socket and HTTP", broker.stderr_text())

    def start_refused(self, names, fds_count="2"):
        self.activate({"LISTEN_FDS": fds_count}, names=names)
        _, err = self.proc.communicate(timeout=harness.DEFAULT_TIMEOUT)
        self.assertEqual(self.proc.returncode, 78, err.decode())
        return err.decode()

    def test_passed_descriptors_must_be_what_their_names_say(self):
        # The TCP socket not named http, so taken for a second unix socket.
        self.assertIn("descriptor 4: not a listening unix stream socket", self.start_refused("a:b"))
        # The unix socket named http.
        self.assertIn("descriptor 3: named http", self.start_refused("http:http"))
        self.assertIn("LISTEN_FDS must be 1 or 2", self.start_refused("a:http", "3"))


class RefusalTests(HttpCase):
    def test_protocol_version_header(self):
        self.serve()
        sid = self.initialize()
        status, _, body = self.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "1999-01-01"})
        self.assert_refused(status, body, 400)

    def test_origin_and_host(self):
        self.serve()
        status, _, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, {"Origin": "https://evil.example"})
        self.assert_refused(status, body, 403)
        status, _, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, {"Origin": "null"})
        self.assert_refused(status, body, 403)
        # A DNS-rebinding page sends its own name as Host.
        status, _, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, {"Host": "evil.example:%d" % self.port})
        self.assert_refused(status, body, 403)
        # Local origins and names are fine.
        self.initialize({"Origin": "http://localhost:3000", "Host": "localhost:%d" % self.port})

    def test_configured_origin_and_host(self):
        self.serve({"MCP_AUTH_BROKER_HTTP_ALLOWED_ORIGINS": "https://app.example", "MCP_AUTH_BROKER_HTTP_ALLOWED_HOSTS": "mcp.example"})
        self.initialize({"Origin": "https://app.example", "Host": "mcp.example"})
        status, _, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, {"Origin": "https://other.example"})
        self.assert_refused(status, body, 403)

    def test_methods_paths_types(self):
        self.serve()
        c = self.conn()
        c.request("GET", "/mcp")
        r = c.getresponse()
        body = json.loads(r.read())
        self.assertEqual(r.status, 405)
        self.assertIn("POST", r.getheader("Allow"))
        self.assertIn("error", body)
        c.close()
        c = self.conn()
        c.request("POST", "/other", body="{}", headers={"Content-Type": "application/json"})
        status, _, body = self.read(c)
        self.assert_refused(status, body, 404)
        status, _, body = self.post(None, {"Content-Type": "text/plain"}, raw="{}")
        self.assert_refused(status, body, 415)
        status, _, body = self.post(None, raw="{not json")
        self.assert_refused(status, body, 400)
        self.assertEqual(body["error"]["code"], -32700)
        status, _, body = self.post(None, raw="[]")
        self.assert_refused(status, body, 400)

    def test_health(self):
        """For orchestrators: no caller, Host or Origin needed; POST refused."""
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        self.serve({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys})
        c = self.conn()
        c.request("GET", "/health", headers={"Host": "10.1.2.3:%d" % self.port})
        status, hdrs, body = self.read(c)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "ok")
        self.assertEqual((body["secretd"], body["tokend"]), ("running", "running"))
        c = self.conn()
        c.request("POST", "/health", body="{}")
        status, _, body = self.read(c)
        self.assert_refused(status, body, 405)

    def test_oversize_body(self):
        self.serve({"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": "4096"})
        big = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": dict(INIT_PARAMS, pad="x" * 8000)}
        status, _, body = self.post(big)
        self.assert_refused(status, body, 413)
        self.assert_serving()


def write_keys(path, entries, mode=0o600):
    with open(path, "w") as f:
        f.write("# name sha256(key)\n")
        for name, key in entries:
            f.write("%s %s\n" % (name, hashlib.sha256(key.encode()).hexdigest()))
    os.chmod(path, mode)


class ApiKeyTests(HttpCase):
    def serve_keys(self, extra=None):
        keys = tempfile.mkdtemp(prefix="mab-keys-")
        self.keys = os.path.join(keys, "api-keys")
        write_keys(self.keys, [("alice", KEY), ("bob", OTHER_KEY)])
        env = {"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": self.keys}
        env.update(extra or {})
        return self.serve(env)

    def test_missing_and_wrong_key(self):
        self.serve_keys()
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic " + KEY}, {"X-API-Key": KEY + "x"}):
            status, hdrs, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}, headers)
            self.assert_refused(status, body, 401)
            self.assertTrue(hdrs.get("www-authenticate", "").startswith("Bearer"), hdrs)

    def test_key_names_the_requester_in_audit(self):
        self.serve_keys({"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})  # no key even in debug logs
        auth = {"Authorization": "Bearer " + KEY}
        sid = self.initialize(auth)
        # The client claims to be someone else: the key decides.
        args = execute_args({"request_id": "req-alice", "requester": {"requester_id": "root", "identity_assurance": "high"}})
        status, _, body = self.post(
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": EXECUTE_TOOL, "arguments": args}},
            self.session_headers(sid, auth),
        )
        self.assertEqual(status, 200, body)
        self.assertFalse(tool_result(body)["isError"], body)
        recs = [r for r in audit_records(self.audit, "tool_call") if r.get("request_id") == "req-alice"]
        self.assertEqual(len(recs), 1, audit_records(self.audit))
        self.assertEqual(recs[0]["requester_id"], "alice")
        self.assertEqual(recs[0]["caller"], "alice")
        self.assertEqual(recs[0]["auth_method"], "api_key")
        self.assertEqual(recs[0]["transport"], "http")
        with open(self.audit, "rb") as f:
            self.assertNotIn(KEY.encode(), f.read())
        self.assertNotIn(KEY.encode(), self.broker.stderr_bytes() + self.broker.stdout_bytes())
        # X-API-Key works too, and another key cannot use alice's session.
        status, _, body = self.post({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}, self.session_headers(sid, {"X-API-Key": KEY}))
        self.assertEqual(status, 200, body)
        status, _, body = self.post({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, self.session_headers(sid, {"Authorization": "Bearer " + OTHER_KEY}))
        self.assert_refused(status, body, 404)


class StartRefusalTests(HttpCase):
    def run_http(self, hostport, env):
        return harness.run_once(self.stage, ["--http", hostport], env)

    def test_none_off_loopback(self):
        status, _, err = self.run_http("0.0.0.0:%d" % free_port(), {})
        self.assertEqual(status, 78, err)
        self.assertIn("loopback", err)

    def test_api_key_off_loopback_needs_proxy(self):
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        env = {"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys}
        status, _, err = self.run_http("0.0.0.0:%d" % free_port(), env)
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_HTTP_BEHIND_PROXY", err)

    def test_check_reports_the_key_file(self):
        d = tempfile.mkdtemp(prefix="mab-keys-")
        keys = os.path.join(d, "k")
        write_keys(keys, [("alice", KEY), ("bob", OTHER_KEY)], 0o640)
        env = {"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys}
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 1, out + err)
        self.assertRegex(out + err, r"fail\s+API keys\s+.*mode 0640")
        os.chmod(keys, 0o600)
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertRegex(out + err, r"ok\s+API keys\s+.*2 keys")

    def test_check_judges_the_address_as_start_would(self):
        """`--check --http` refuses what `--http` would refuse at start,
        for the same reason, and binds nothing."""
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        api = {"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys}
        proxied = dict(api, MCP_AUTH_BROKER_HTTP_BEHIND_PROXY="true")
        port = free_port()
        cases = (
            ("0.0.0.0:%d" % port, {}, 1, r"fail\s+http\s+.*AUTH_MODE=none serves anyone"),
            ("0.0.0.0:%d" % port, api, 1, r"fail\s+http\s+.*MCP_AUTH_BROKER_HTTP_BEHIND_PROXY"),
            ("0.0.0.0:%d" % port, proxied, 0, r"ok\s+http\s+http://0\.0\.0\.0:\d+/mcp \(auth api_key\)"),
            ("127.0.0.1:%d" % port, {}, 0, r"ok\s+http\s+http://127\.0\.0\.1:\d+/mcp \(auth none\)"),
            ("localhost", {}, 1, r"fail\s+http\s+.*give HOST:PORT"),
        )
        for hostport, env, want, pattern in cases:
            with self.subTest(hostport=hostport, env=sorted(env)):
                status, out, err = harness.run_once(self.stage, ["--check", "--http", hostport], env)
                self.assertEqual(status, want, out + err)
                self.assertRegex(out, pattern)
                with socket.socket() as s:  # nothing was bound
                    s.bind(("127.0.0.1", port))

    def test_keys_file_checked(self):
        d = tempfile.mkdtemp(prefix="mab-keys-")
        loose = os.path.join(d, "loose")
        write_keys(loose, [("alice", KEY)], 0o644)
        link = os.path.join(d, "link")
        os.symlink(loose, link)
        bad = os.path.join(d, "bad")
        with open(bad, "w") as f:
            f.write("alice not-a-hash\n")
        os.chmod(bad, 0o600)
        for path, why in ((loose, "mode"), (link, "symbolic link"), (bad, "line 1"), (os.path.join(d, "none"), "No such file")):
            env = {"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": path}
            status, _, err = self.run_http("127.0.0.1:%d" % free_port(), env)
            self.assertEqual(status, 78, err)
            self.assertIn(why, err)
        status, _, err = self.run_http("127.0.0.1:%d" % free_port(), {"MCP_AUTH_BROKER_AUTH_MODE": "api_key"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_API_KEYS_FILE", err)


class HostileTests(HttpCase):
    def raw(self, data, read=True, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.sendall(data)
        out = b""
        if read:
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except socket.timeout:
                pass
        s.close()
        return out

    def test_bad_chunking(self):
        self.serve()
        req = (
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
        out = self.raw(req)
        self.assertRegex(out, rb"^HTTP/1\.1 4\d\d")
        self.assert_serving()

    def test_pipelining(self):
        self.serve()
        msg = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": MODERN_META}}).encode()
        one = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(msg), msg)
        out = self.raw(one * 3 + one.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 4, out)
        self.assert_serving()

    def test_slow_partial_headers_time_out(self):
        self.serve({"MCP_AUTH_BROKER_HTTP_REQUEST_TIMEOUT_SECONDS": "1"})
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        start = time.monotonic()
        self.assertEqual(s.recv(100), b"")  # closed by brokerd
        self.assertLess(time.monotonic() - start, 8)
        s.close()
        self.assert_serving()

    def test_oversized_headers(self):
        self.serve()
        out = self.raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        self.assertRegex(out, rb"^HTTP/1\.1 4\d\d")
        self.assert_serving()

    def test_many_connections(self):
        self.serve({"MCP_AUTH_BROKER_HTTP_MAX_CONNECTIONS": "8", "MCP_AUTH_BROKER_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "4", "MCP_AUTH_BROKER_HTTP_REQUEST_TIMEOUT_SECONDS": "2"})
        held = []
        for _ in range(20):
            try:
                held.append(socket.create_connection(("127.0.0.1", self.port), timeout=2))
            except OSError:
                pass
        for s in held:
            s.close()
        harness.wait_until(lambda: self.try_serving(), timeout=10)

    def try_serving(self):
        try:
            self.assert_serving()
            return True
        except (OSError, http.client.HTTPException):
            return False


if __name__ == "__main__":
    harness.main()
