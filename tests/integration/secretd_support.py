# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Fixtures shared by the secretd integration tests (test_secretd_*.py).

* secretd_env(): brokerd in dev mode with a secret provider, pointed at a
  login endpoint on a closed loopback port, so that whatever tokend does
  with a secret stays on this machine and fails fast as provider.*: a test
  then sees secret.* codes only when secretd produced them.
* FakeOp: tests/fake-op staged in a scratch directory, with the record of
  every run (argv, environment, process group, descriptors).
* fingerprint(): what secretd reports for a secret, computed independently.
* proc_environ(): the environment block the kernel shows for a process.
* Secretd: secretd started directly, with this test holding both of its
  channels, to speak its IPC as brokerd and as tokend would.

Python 3.9+, standard library only.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import harness

# The fingerprint key (secretd/secretd.h, README, secretd(8)).
FINGERPRINT_KEY = b"mcp-auth-broker fingerprint v1".ljust(32, b"\0")
FINGERPRINT_LOG = re.compile(r"secret fingerprint ([0-9a-f]{16}) \(provider ([a-z0-9]+)\)")
# Nothing listens on the discard port of loopback: a login fails at once.
CLOSED_AUTHORITY = "https://127.0.0.1:9"
OP_TOKEN = "ops_eyJzaWduSW5BZGRyZXNzIjoiZmFrZS5leGFtcGxlIiwidGVzdCI6dHJ1ZX0K"

# IPC (common/ipc.h): header {type, flags, id, len, reserved} in host order.
HDR = struct.Struct("=IIQII")
MSG_SECRET_REQ, MSG_SECRET_ANS, MSG_SECRET_ERR = 16, 17, 18
MSG_OP_TOKEN, MSG_SECRET_INFO = 34, 35


def fingerprint(secret):
    """Keyed BLAKE2b-256 of secret (bytes or str), first 8 bytes in hex."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return hashlib.blake2b(secret, key=FINGERPRINT_KEY, digest_size=32).digest()[:8].hex()


def srcdir():
    return os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def secretd_env(provider, ref=None, extra=None):
    """env_overrides for brokerd (or secretd) in dev mode with this provider."""
    env = {
        "MCP_AUTH_BROKER_ENV": "dev",
        "MCP_AUTH_BROKER_TENANT_ID": harness.SMOKE_TENANT,
        "MCP_AUTH_BROKER_GRAPH_CLIENT_ID": harness.SMOKE_CLIENT_ID,
        "MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES": harness.GRAPH,
        "MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All",
        "MCP_AUTH_BROKER_AUTHORITY": CLOSED_AUTHORITY,
        "MCP_AUTH_BROKER_SECRET_PROVIDER": provider,
    }
    if ref is not None:
        env["MCP_AUTH_BROKER_GRAPH_SECRET_REF"] = ref
    env.update(extra or {})
    return env


def proc_environ(pid):
    """The environment block of pid as the kernel shows it (needs root for a
    non-dumpable process, as the harness's open_fds does)."""
    with open("/proc/%d/environ" % pid, "rb") as f:
        return f.read()


def environ_names(block):
    """Variable names in an environment block; wiped entries give none."""
    names = []
    for entry in block.split(b"\0"):
        name, eq, _ = entry.partition(b"=")
        if eq and name:
            names.append(name.decode("utf-8", "replace"))
    return names


def fingerprints_logged(broker):
    """[(fingerprint, provider)] in the order brokerd logged them."""
    return FINGERPRINT_LOG.findall(broker.stderr_text())


def wait_for_fingerprint(broker, expected, timeout=harness.DEFAULT_TIMEOUT):
    """Waits until brokerd has logged expected; returns everything logged."""
    harness.wait_until(lambda: expected in [fp for fp, _ in fingerprints_logged(broker)], timeout)
    return fingerprints_logged(broker)


class ScratchDir:
    """A private directory (0700) removed afterwards."""

    def __init__(self, prefix="mab-secretd-"):
        # Under tests/stage, which `make clean` removes and git ignores.
        parent = os.path.join(harness.builddir(), "tests", "stage")
        os.makedirs(parent, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        os.chmod(self.path, 0o700)

    def file(self, name, content, mode=0o600):
        path = os.path.join(self.path, name)
        with open(path, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(path, mode)
        return path

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


class FakeOp:
    """tests/fake-op copied into a scratch directory, and what it recorded."""

    def __init__(self, scratch, name="op"):
        self.path = os.path.join(scratch.path, name)
        shutil.copy2(os.path.join(srcdir(), "tests", "fake-op"), self.path)
        os.chmod(self.path, 0o755)

    def calls(self):
        try:
            with open(self.path + ".calls") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def pids(self):
        """(op pid, grandchild pid) of the hang case, once written."""
        try:
            with open(self.path + ".pids") as f:
                text = f.read().split()
        except FileNotFoundError:
            return None
        return (int(text[0]), int(text[1])) if len(text) == 2 else None

    def set_rotating(self, secret):
        tmp = self.path + ".rotating.tmp"
        with open(tmp, "w") as f:
            f.write(secret)
        os.rename(tmp, self.path + ".rotating")


# ---- secretd driven directly ------------------------------------------------


class Secretd:
    """secretd with this process holding both its channels: `broker` is the
    socket brokerd would hold (descriptor 3 in secretd), `tokend` the one
    tokend would (descriptor 4).  stderr is collected for the log checks."""

    def __init__(self, st, env_overrides):
        self.broker, broker_end = socket.socketpair()
        self.tokend, tokend_end = socket.socketpair()
        env = harness.base_env(st, env_overrides)

        def channels_at_3_and_4():
            # The fixed descriptors brokerd gives secretd; moved above 10
            # first, so that neither dup2 can clobber the other end.
            high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 10) for s in (broker_end, tokend_end)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [os.path.join(st.libexecdir, "secretd")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=channels_at_3_and_4,
            close_fds=False,
        )
        broker_end.close()
        tokend_end.close()
        self._err = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self):
        while True:
            chunk = self.proc.stderr.read1(65536) if hasattr(self.proc.stderr, "read1") else self.proc.stderr.read(65536)
            if not chunk:
                return
            with self._lock:
                self._err.append(chunk)

    def log(self):
        with self._lock:
            return b"".join(self._err).decode("utf-8", "replace")

    def log_with(self, text, timeout=5):
        """The log once it holds text (it is read on a thread of its own)."""
        harness.wait_until(lambda: text in self.log(), timeout)
        return self.log()

    @staticmethod
    def send(sock, msg_type, msg_id, payload=b""):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        sock.sendall(HDR.pack(msg_type, 0, msg_id, len(payload), 0) + payload)

    @staticmethod
    def recv(sock, timeout=harness.DEFAULT_TIMEOUT):
        """(type, id, payload) of the next message, or None at end of file."""
        sock.settimeout(timeout)
        head = _recv_exact(sock, HDR.size)
        if head is None:
            return None
        msg_type, flags, msg_id, length, reserved = HDR.unpack(head)
        assert flags == 0 and reserved == 0, "bad header from secretd"
        payload = _recv_exact(sock, length) if length else b""
        return msg_type, msg_id, payload

    def ask_secret(self, msg_id, payload=b""):
        """A SECRET_REQ as tokend; returns (type, payload) of the answer."""
        self.send(self.tokend, MSG_SECRET_REQ, msg_id, payload)
        msg_type, got_id, data = self.recv(self.tokend)
        assert got_id == msg_id, "answer for %d, asked %d" % (got_id, msg_id)
        return msg_type, data

    def pending(self, sock, wait=0.3):
        """Messages that arrive on sock within wait seconds."""
        msgs = []
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return msgs
            try:
                msg = self.recv(sock, timeout=left)
            except socket.timeout:
                return msgs
            if msg is None:
                return msgs
            msgs.append(msg)

    def wait(self, timeout=harness.DEFAULT_TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def close(self):
        for sock in (self.broker, self.tokend):
            try:
                sock.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.proc.stderr.close()


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def error_of(payload):
    """{code, message} of a SECRET_ERR payload."""
    return json.loads(payload.decode("utf-8"))
