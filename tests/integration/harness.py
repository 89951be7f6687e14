# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Shared machinery for the mcp-auth-broker integration tests.

The tests drive the real binaries in an installed layout, the way an MCP
client (a "spawner") would: brokerd on a pipe, newline-delimited JSON-RPC on
stdin/stdout, logs on stderr.  Everything here exists so that a test can say
what a user would notice in a few lines, and so that no test can hang: every
read has a deadline, and every process a test starts is killed in cleanup.

Environment (set by `make check`):
    MAB_BUILDDIR  absolute build directory holding brokerd/, secretd/, tokend/
    MAB_SRCDIR    absolute source directory (unused here, kept for symmetry)

Python 3.9+, standard library only.
"""

import copy
import json
import os
import shlex
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# ---- facts fixed by the smoke configuration (MCP_AUTH_BROKER_ENV=smoke) ----

SMOKE_TENANT = "11111111-1111-1111-1111-111111111111"
SMOKE_CLIENT_ID = "22222222-2222-2222-2222-222222222222"
GRAPH = "https://graph.microsoft.com"
EXECUTE_TOOL = "graph_execute"
DESCRIBE_TOOL = "graph_token_describe"
# The original broker's names: callable always, listed with MCP_AUTH_BROKER_TOOL_NAMES=original.
ORIGINAL_EXECUTE_TOOL = "auth.graph.operation.execute.v1"
ORIGINAL_DESCRIBE_TOOL = "auth.graph.token.describe.v1"
SUPPORTED_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_VERSION = "2025-11-25"
SLOW_PATH = "/beta/smoke/slow"

# Prefixes of the smoke client secret and smoke access tokens: if either shows
# up in anything brokerd or its children write, a secret or token has leaked.
FORBIDDEN_SUBSTRINGS = (b"smoke-secret-", b"smoke-at-")

# Generous, because sanitizer builds on a loaded CI machine are slow; a
# deadline exists to turn a hang into a failure, not to measure speed.
DEFAULT_TIMEOUT = 15.0
# Under valgrind (tests/run-valgrind.sh sets MAB_WRAPPER) every process is
# ten times slower, TLS set-up above all.
UNDER_WRAPPER = bool(os.environ.get("MAB_WRAPPER"))
if UNDER_WRAPPER:
    DEFAULT_TIMEOUT = 45.0
CHILD_NAMES = ("secretd", "tokend")


class HarnessError(AssertionError):
    """A protocol or process expectation failed; reported as a test failure."""


# ---- installed layout ---------------------------------------------------


class Stage:
    """Paths of one staged installed layout (bin/brokerd, libexec/{secretd,tokend})."""

    def __init__(self, root):
        self.root = root
        self.bindir = os.path.join(root, "bin")
        self.libexecdir = os.path.join(root, "libexec")
        self.brokerd = os.path.join(self.bindir, "brokerd")

    def remove(self):
        """Delete the layout unless MAB_KEEP_STAGE asks to keep it for debugging."""
        if not os.environ.get("MAB_KEEP_STAGE"):
            shutil.rmtree(self.root, ignore_errors=True)


def builddir():
    """The build directory; a missing one is a failure, never a skip."""
    path = os.environ.get("MAB_BUILDDIR")
    if not path:
        raise HarnessError("MAB_BUILDDIR is not set (run through `make check`)")
    return path


def stage():
    """Copy the three programs into a fresh installed layout and return it.

    Copying (rather than running the build tree) proves brokerd finds its
    children through MCP_AUTH_BROKER_LIBEXECDIR and nothing else.
    """
    build = builddir()
    parent = os.path.join(build, "tests", "stage")
    os.makedirs(parent, exist_ok=True)
    st = Stage(tempfile.mkdtemp(prefix="stage-", dir=parent))
    os.makedirs(st.bindir)
    os.makedirs(st.libexecdir)
    _install(os.path.join(build, "brokerd", "brokerd"), st.bindir)
    for name in CHILD_NAMES:
        _install(os.path.join(build, name, name), st.libexecdir)
    return st


def _install(src, destdir):
    if not os.access(src, os.X_OK):
        raise HarnessError("program not built: %s" % src)
    dest = os.path.join(destdir, os.path.basename(src))
    shutil.copy2(src, dest)
    os.chmod(dest, 0o755)


def base_env(st, overrides=None):
    """A clean environment for brokerd: nothing from the caller leaks in.

    An override whose value is None removes the variable.  Sanitizer option
    variables are passed through so a sanitizer build reports the same way
    under the tests as elsewhere.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MCP_AUTH_BROKER_ENV": "smoke",
        "MCP_AUTH_BROKER_LIBEXECDIR": st.libexecdir,
    }
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def wrapper():
    """MAB_WRAPPER, split: a command brokerd runs under (tests/run-valgrind.sh
    sets it to valgrind, which follows the children through their exec)."""
    return shlex.split(os.environ.get("MAB_WRAPPER", ""))


def run_once(st, args=(), env_overrides=None, timeout=DEFAULT_TIMEOUT):
    """Run brokerd to completion with stdin at EOF; return (status, stdout, stderr).

    For start-up paths (configuration errors, --version) where brokerd is
    expected to exit on its own.  A hang is killed and reported.
    """
    proc = subprocess.Popen(
        wrapper() + [st.brokerd] + list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(st, env_overrides),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise HarnessError("brokerd %s did not exit within %.0fs" % (" ".join(args), timeout))
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ---- /proc helpers -------------------------------------------------------


def proc_stat(pid):
    """(comm, state, ppid) from /proc/PID/stat, or None when the pid is gone.

    comm sits between the first '(' and the LAST ')': it may itself contain
    spaces and parentheses, so splitting the line on spaces is wrong.
    """
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    left, right = raw.index("("), raw.rindex(")")
    fields = raw[right + 2:].split()
    return raw[left + 1:right], fields[0], int(fields[1])


def pid_alive(pid):
    """True when the pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[1] != "Z"


def pid_exists(pid):
    """True when the pid exists at all, zombies included."""
    return proc_stat(pid) is not None


def children_of(ppid):
    """{comm: pid} of the direct children of ppid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is not None and st[2] == ppid:
            found[st[0]] = int(entry)
    return found


def proc_comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().rstrip("\n")


def proc_status_field(pid, field):
    """One field of /proc/PID/status ("NoNewPrivs", ...) as its raw text."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            name, _, value = line.partition(":")
            if name == field:
                return value.strip()
    return None


def open_fds(pid):
    """Sorted descriptor numbers open in pid.

    brokerd's children are non-dumpable, so listing their fds needs root or
    CAP_SYS_PTRACE; say so plainly instead of failing with a bare EACCES.
    """
    try:
        return sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % pid))
    except PermissionError:
        raise HarnessError(
            "cannot list /proc/%d/fd: the process is non-dumpable; "
            "this check needs root or CAP_SYS_PTRACE" % pid
        )


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02):
    """Poll predicate until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---- one brokerd on pipes ----------------------------------------------


class JsonRpcPeer:
    """What Broker (stdio) and SocketClient (unix socket) share: JSON-RPC
    requests and notifications on top of their own send_raw, and waiting on
    answers on top of their own _read_message and recv_response."""

    def send(self, obj):
        """Send one JSON-RPC message as one line."""
        self.send_raw(json.dumps(obj).encode("utf-8") + b"\n")

    def new_id(self):
        self._next_id += 1
        return self._next_id

    def send_request(self, method, params=None, req_id=None):
        """Send a request without waiting; returns the id used."""
        if req_id is None:
            req_id = self.new_id()
        msg = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return req_id

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def read_to_eof(self, timeout=DEFAULT_TIMEOUT):
        """All remaining messages up to EOF (each checked like recv())."""
        deadline = time.monotonic() + timeout
        msgs, self._inbox = self._inbox, []
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                return msgs
            msgs.append(msg)

    def request(self, method, params=None, timeout=DEFAULT_TIMEOUT):
        """Send a request with a fresh id and return its response message."""
        return self.recv_response(self.send_request(method, params), timeout)

    def call_tool(self, name, arguments, timeout=DEFAULT_TIMEOUT):
        """tools/call; returns the whole response message."""
        return self.request("tools/call", {"name": name, "arguments": arguments}, timeout)


class Broker(JsonRpcPeer):
    """brokerd started from a staged layout, spoken to over its stdio.

    stdout is read only through recv(), which insists that every line is a
    JSON-RPC 2.0 object: stdout is the MCP channel and must carry nothing
    else.  stderr is drained by a thread so that a chatty brokerd never blocks
    on a full pipe, and is kept for the no-secret check.
    """

    def __init__(self, st, env_overrides=None, args=()):
        self.stage = st
        self.proc = subprocess.Popen(
            wrapper() + [st.brokerd] + list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=base_env(st, env_overrides),
            bufsize=0,
            # Own process group: cleanup can kill brokerd and any child it
            # failed to take down with it, and nothing else.
            start_new_session=True,
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

    # -- stderr ------------------------------------------------------------

    def _drain_stderr(self):
        fd = self.proc.stderr.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._stderr_lock:
                self._stderr_chunks.append(chunk)

    def stderr_bytes(self):
        with self._stderr_lock:
            return b"".join(self._stderr_chunks)

    def stderr_text(self):
        return self.stderr_bytes().decode("utf-8", "replace")

    def stdout_bytes(self):
        """Every byte brokerd has written to stdout so far."""
        return bytes(self._stdout_raw)

    # -- sending -------------------------------------------------------------

    def send_raw(self, data):
        """Write bytes as they are (the caller adds the newline)."""
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise HarnessError("brokerd closed its stdin\n" + self._context())

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    # -- receiving -----------------------------------------------------------

    def _read_line(self, deadline):
        """Next raw stdout line (without newline), or None at EOF."""
        while b"\n" not in self._outbuf:
            if self._stdout_eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("timed out waiting for a message from brokerd\n" + self._context())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            self._stdout_raw += chunk
            if not chunk:
                self._stdout_eof = True
            self._outbuf += chunk
        line, _, self._outbuf = self._outbuf.partition(b"\n")
        return line

    def _read_message(self, deadline):
        """Next parsed message, or None at EOF; anything but JSON-RPC fails."""
        line = self._read_line(deadline)
        if line is None:
            if self._outbuf:
                raise HarnessError("stdout ended with an unterminated line: %r" % self._outbuf)
            return None
        return parse_message(line)

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """Next message from brokerd in arrival order (including any held back)."""
        if self._inbox:
            return self._inbox.pop(0)
        msg = self._read_message(time.monotonic() + timeout)
        if msg is None:
            raise HarnessError("brokerd closed stdout\n" + self._context())
        return msg

    def recv_response(self, req_id, timeout=DEFAULT_TIMEOUT):
        """The response carrying req_id; other messages are kept for recv()."""
        for i, msg in enumerate(self._inbox):
            if "method" not in msg and msg.get("id") == req_id:
                return self._inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self._read_message(deadline)
            except HarnessError as exc:
                raise HarnessError("no answer to id %r (%s); other messages: %s" % (req_id, exc, json.dumps(self._inbox)))
            if msg is None:
                raise HarnessError("brokerd closed stdout before answering id %r\n%s" % (req_id, self._context()))
            if "method" not in msg and msg.get("id") == req_id and type(msg.get("id")) is type(req_id):
                return msg
            self._inbox.append(msg)

    # -- process -------------------------------------------------------------

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """brokerd's exit status; a process still running at the deadline fails."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("brokerd did not exit within %.0fs\n%s" % (timeout, self._context()))

    def children(self):
        """{comm: pid} of brokerd's direct children (remembered for cleanup)."""
        found = children_of(self.pid)
        self._seen_children.update({pid: comm for comm, pid in found.items()})
        return found

    def secretd_tokend(self):
        """{comm: pid} of secretd and tokend among brokerd's children (brokerd
        --listen also has its socket reaper, brokerd-reaper)."""
        return {name: pid for name, pid in self.children().items() if name in CHILD_NAMES}

    def wait_children(self, timeout=DEFAULT_TIMEOUT):
        """Both children, once brokerd has started them; fails otherwise."""
        def both():
            kids = self.children()
            return kids if set(CHILD_NAMES) <= set(kids) else None

        kids = wait_until(both, timeout)
        if not kids:
            raise HarnessError("brokerd children are %r, expected %r\n%s" % (self.children(), CHILD_NAMES, self._context()))
        return {name: kids[name] for name in CHILD_NAMES}

    pid_alive = staticmethod(pid_alive)

    def kill(self):
        """Kill brokerd and whatever is left of its children; never raises."""
        if self.proc.poll() is None:
            try:
                self.children()
            except OSError:
                pass
        _kill_group(self.pid)
        for pid, comm in self._seen_children.items():
            st = proc_stat(pid)
            if st is not None and st[0] == comm:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self._stderr_thread.join(timeout=5)
        if not self._stderr_thread.is_alive():
            self.proc.stderr.close()

    def _context(self):
        """What a failure report needs: exit state and the tail of stderr."""
        state = self.proc.poll()
        tail = self.stderr_text()[-3000:]
        return "brokerd %s; stderr tail:\n%s" % (
            "running" if state is None else "exited with %s" % state,
            tail or "(empty)",
        )


def parse_message(line):
    """Parse one stdout line; it must be a JSON-RPC 2.0 object."""
    try:
        msg = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HarnessError("non-JSON line on stdout (stdout must carry only JSON-RPC): %r" % line[:500])
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise HarnessError("stdout line is not a JSON-RPC 2.0 object: %r" % line[:500])
    return msg


# ---- MCP helpers ---------------------------------------------------------


def initialize(broker, version="2025-06-18", timeout=DEFAULT_TIMEOUT):
    """initialize + notifications/initialized; returns the initialize result."""
    resp = broker.request(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "mab-integration-tests", "version": "1.0"},
        },
        timeout,
    )
    if "result" not in resp:
        raise HarnessError("initialize failed: %r" % (resp,))
    broker.notify("notifications/initialized")
    return resp["result"]


def execute_args(changes=None, remove=()):
    """Valid execute arguments, with edits.

    changes maps dotted paths to new values ({"graph.scopes": [...]});
    remove lists dotted paths to delete ("requester").  A deep copy each time,
    so no test sees another's edits.
    """
    args = copy.deepcopy(
        {
            "contract_version": "v1",
            "request_id": "req-1",
            "requester": {"requester_id": "agent-7", "identity_assurance": "high"},
            "graph": {"tenant_id": SMOKE_TENANT, "resource": GRAPH, "scopes": ["User.Read.All"]},
            "operation": {"action": "downstream_call", "method": "GET", "path": "/v1.0/users"},
            "timeout_ms": 5000,
        }
    )
    for path, value in (changes or {}).items():
        parent, key = _walk(args, path)
        parent[key] = value
    for path in remove:
        parent, key = _walk(args, path)
        del parent[key]
    return args


def _walk(obj, dotted):
    keys = dotted.split(".")
    for key in keys[:-1]:
        obj = obj[key]
    return obj, keys[-1]


def tool_result(resp):
    """The result of a tools/call response; a JSON-RPC error fails the test.

    Also checks the invariant every tool result shares: the text content is
    the structuredContent as JSON, for clients that only read text.
    """
    if "result" not in resp:
        raise HarnessError("expected a tool result, got %s" % json.dumps(resp))
    result = resp["result"]
    content = result.get("content")
    if not (isinstance(content, list) and content and content[0].get("type") == "text"):
        raise HarnessError("tool result without text content: %s" % json.dumps(result))
    try:
        text_json = json.loads(content[0]["text"])
    except (TypeError, ValueError):
        raise HarnessError("text content is not JSON: %r" % content[0].get("text"))
    if text_json != result.get("structuredContent"):
        raise HarnessError("text content differs from structuredContent: %s" % json.dumps(result))
    if not isinstance(result.get("isError"), bool):
        raise HarnessError("isError missing or not a boolean: %s" % json.dumps(result))
    return result


def find_secrets(data):
    """Which forbidden substrings occur in data (bytes)."""
    return [s.decode() for s in FORBIDDEN_SUBSTRINGS if s in data]


# ---- test-case base ------------------------------------------------------


class BrokerTestCase(unittest.TestCase):
    """Stages once per class; every broker a test starts is killed afterwards
    and its whole output checked for secrets and tokens."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.stage = stage()

    @classmethod
    def tearDownClass(cls):
        cls.stage.remove()

    def start_broker(self, env_overrides=None, args=()):
        broker = Broker(self.stage, env_overrides, args)
        self.addCleanup(self._finish_broker, broker)
        return broker

    def _finish_broker(self, broker):
        broker.kill()
        leaked = find_secrets(broker.stdout_bytes() + broker.stderr_bytes())
        if leaked:
            raise HarnessError("secret/token material %r appeared in brokerd output" % leaked)

    def listening_broker(self, env_overrides=None):
        """brokerd --listen on a fresh socket (its directory removed
        afterwards), once the socket exists: (broker, socket path)."""
        sockdir = socket_dir()
        self.addCleanup(shutil.rmtree, sockdir, True)
        path = os.path.join(sockdir, "mcp.sock")
        broker = self.start_broker(env_overrides, args=["--listen", path])
        wait_for_socket(path, broker)
        return broker, path

    def started(self, version="2025-06-18", env_overrides=None):
        """A broker past initialize: the starting point of most tests."""
        broker = self.start_broker(env_overrides)
        initialize(broker, version)
        return broker

    def assert_rpc_error(self, resp, code, req_id):
        """resp is a JSON-RPC error with this code, echoing req_id exactly."""
        self.assertIn("error", resp, "expected JSON-RPC error %d, got %s" % (code, json.dumps(resp)))
        self.assertNotIn("result", resp)
        self.assertEqual(resp["error"].get("code"), code, json.dumps(resp))
        self.assertIsInstance(resp["error"].get("message"), str, json.dumps(resp))
        self.assertIn("id", resp, json.dumps(resp))
        self.assertEqual(resp["id"], req_id, json.dumps(resp))
        self.assertIs(type(resp["id"]), type(req_id), json.dumps(resp))


def main():
    """Run the calling module's tests; exit 0 on success, 1 otherwise.

    Never 77: a missing build is a failure, not a skip.
    """
    program = unittest.main(module="__main__", verbosity=2, exit=False)
    result = program.result
    ok = result.wasSuccessful() and result.testsRun > 0
    sys.exit(0 if ok else 1)


# ---- helpers for the tests against the mock login endpoint and Graph ------
#
# brokerd outside smoke mode talks HTTPS to whatever MCP_AUTH_BROKER_AUTHORITY
# and the allowed resources name; tests/fixtures/mock_entra.py serves both on
# 127.0.0.1 with a CA made at test time.  Nothing here reaches past loopback.


def fixtures_dir():
    """tests/fixtures of the source tree this file sits in."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def import_mock_entra():
    """The mock_entra fixture module (tests/fixtures is put on sys.path)."""
    path = fixtures_dir()
    if path not in sys.path:
        sys.path.insert(0, path)
    import mock_entra  # noqa: E402

    return mock_entra


MOCK_TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
MOCK_CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


class MockGraphCase(BrokerTestCase):
    """brokerd in dev mode against the TLS mock of the login endpoint and
    Graph (tests/fixtures/mock_entra.py): a CA made once per class, and per
    test a mock (self.mock) and a secret file holding self.secret.
    self.mock_env(extra) is brokerd's environment against it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mock_entra = import_mock_entra()
        cls._pki_root = tempfile.mkdtemp(prefix="mab-pki-")
        cls.pki = cls.mock_entra.make_pki(os.path.join(cls._pki_root, "trusted"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._pki_root, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-mock-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # Random per test, so that a leak check cannot pass by luck.
        self.secret = "mab-mock-secret~" + os.urandom(12).hex()
        self.secret_file = os.path.join(self.tmp, "graph-client-secret")
        write_secret_file(self.secret_file, self.secret)
        self.mock = self.mock_entra.MockEntra(self.pki, tenant=MOCK_TENANT, client_id=MOCK_CLIENT_ID,
                                              client_secret=self.secret)
        self.addCleanup(self.mock.stop)
        self.mock.start()

    def _finish_broker(self, broker):
        super()._finish_broker(broker)
        data = broker.stdout_bytes() + broker.stderr_bytes()
        needles = [self.secret, self.mock_entra.TOKEN_PREFIX] + self.mock.issued_tokens()
        leaked = [n for n in needles if n.encode() in data]
        if leaked:
            raise HarnessError("the client secret or a token %r appeared in brokerd output" % leaked)

    def mock_env(self, extra=None):
        env = {"MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS": "30"} if UNDER_WRAPPER else {}
        env.update(extra or {})
        return dev_env(self.mock.base_url, [self.mock.base_url], self.pki.ca_file, self.secret_file,
                       MOCK_TENANT, MOCK_CLIENT_ID, env)

    def mock_args(self, changes=None):
        """execute_args for the mock's tenant and resource, with edits."""
        # 10 s, as test_tokend_http.py: TLS under valgrind is slow.
        edits = {"graph.tenant_id": MOCK_TENANT, "graph.resource": self.mock.base_url,
                 "timeout_ms": 40000 if UNDER_WRAPPER else 10000}
        edits.update(changes or {})
        return execute_args(edits)


def write_secret_file(path, secret):
    """Put secret (no trailing newline) in path, mode 0600, replacing it
    atomically the way an operator rotating the secret would (write + rename),
    so a reader sees the old content or the new, never a mix."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    try:
        os.write(fd, secret.encode("utf-8"))
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def dev_env(authority, resources, ca_file, secret_file, tenant, client_id, extra=None):
    """env_overrides for brokerd in dev mode against a login endpoint at
    authority and Graph at each of resources, with the client secret in
    secret_file (the `file` provider) and ca_file as the extra CA bundle."""
    env = {
        "MCP_AUTH_BROKER_ENV": "dev",
        "MCP_AUTH_BROKER_TENANT_ID": tenant,
        "MCP_AUTH_BROKER_GRAPH_CLIENT_ID": client_id,
        "MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES": ",".join(resources),
        "MCP_AUTH_BROKER_AUTHORITY": authority,
        "MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All",
        "MCP_AUTH_BROKER_CA_FILE": ca_file,
        "MCP_AUTH_BROKER_SECRET_PROVIDER": "file",
        "MCP_AUTH_BROKER_GRAPH_SECRET_REF": secret_file,
    }
    env.update(extra or {})
    return env


def recv_in_order(broker, count, timeout=DEFAULT_TIMEOUT):
    """The next count messages from brokerd in arrival order, all within one
    deadline (for many calls sent at once)."""
    deadline = time.monotonic() + timeout
    msgs = []
    while len(msgs) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError("got %d of %d messages before the deadline: %s" % (len(msgs), count, json.dumps(msgs)[:2000]))
        msgs.append(broker.recv(timeout=left))
    return msgs


def find_needles(data, needles):
    """Which of the strings in needles occur in data (bytes)."""
    return [n for n in needles if n and n.encode("utf-8") in data]


# ---- the unix-socket transport (brokerd --listen, brokerd --connect) --------


def socket_dir():
    """A fresh directory for a listening socket under /tmp (a socket path must
    be short), reachable but not listable by other uids (0711)."""
    import tempfile as _tempfile

    path = _tempfile.mkdtemp(prefix="mab-sock-", dir="/tmp")
    os.chmod(path, 0o711)
    return path


def wait_for_socket(path, broker, timeout=DEFAULT_TIMEOUT):
    """Wait until brokerd --listen has made its socket at path."""
    import stat as _stat

    def ready():
        if broker.proc.poll() is not None:
            raise HarnessError("brokerd --listen exited early\n" + broker._context())
        try:
            return _stat.S_ISSOCK(os.lstat(path).st_mode)
        except FileNotFoundError:
            return False

    if not wait_until(ready, timeout):
        raise HarnessError("no socket at %s\n%s" % (path, broker._context()))


def vmrss_kib(pid):
    """Resident set size of pid in KiB, from /proc/PID/status."""
    value = proc_status_field(pid, "VmRSS")
    if value is None:
        raise HarnessError("no VmRSS for pid %d" % pid)
    return int(value.split()[0])


def audit_records(path, event=None):
    """The JSON records of an audit file, optionally only one event."""
    try:
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return [r for r in records if event is None or r.get("event") == event]


class SocketClient(JsonRpcPeer):
    """One MCP session straight on brokerd's unix socket (no bridge), with the
    sending and receiving methods of Broker.  Every line received must be a
    JSON-RPC 2.0 object; every read has a deadline."""

    def __init__(self, path):
        import socket as _socket

        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.sock.connect(path)
        self._next_id = 0
        self._buf = b""
        self._inbox = []
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def shutdown_write(self):
        """Half-close: brokerd sees the end of input, answers, then closes."""
        import socket as _socket

        self.sock.shutdown(_socket.SHUT_WR)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_message(self, deadline):
        """Next parsed message, or None at EOF."""
        while b"\n" not in self._buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("timed out waiting for a message on the socket")
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return parse_message(line)

    def recv(self, timeout=DEFAULT_TIMEOUT):
        if self._inbox:
            return self._inbox.pop(0)
        msg = self._read_message(time.monotonic() + timeout)
        if msg is None:
            raise HarnessError("brokerd closed the socket")
        return msg

    def recv_response(self, req_id, timeout=DEFAULT_TIMEOUT):
        for i, msg in enumerate(self._inbox):
            if "method" not in msg and msg.get("id") == req_id:
                return self._inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_message(deadline)
            if msg is None:
                raise HarnessError("socket closed before an answer to id %r" % (req_id,))
            if "method" not in msg and msg.get("id") == req_id and type(msg.get("id")) is type(req_id):
                return msg
            self._inbox.append(msg)

    def messages_within(self, seconds):
        """Every message that arrives within the next seconds (stops at EOF)."""
        deadline = time.monotonic() + seconds
        msgs, self._inbox = self._inbox, []
        while True:
            try:
                msg = self._read_message(deadline)
            except HarnessError:
                return msgs
            if msg is None:
                return msgs
            msgs.append(msg)


def messages_within(conn, seconds):
    """Every message conn (a Broker, or a SocketClient) receives within the
    next seconds, including any it held back; stops early at EOF."""
    deadline = time.monotonic() + seconds
    msgs, conn._inbox = conn._inbox, []
    while time.monotonic() < deadline:
        try:
            msg = conn._read_message(deadline)
        except HarnessError:
            break
        if msg is None:
            break
        msgs.append(msg)
    return msgs
