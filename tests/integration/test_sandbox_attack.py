# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""brokerd's sandbox, from the inside.

brokerd parses untrusted MCP input, so the question is what code running
inside it can do once it has taken brokerd over.  tests/attack/preload.so is
LD_PRELOADed into a real brokerd --listen; once the seccomp filter is loaded
(a client has been served) the test sends SIGUSR2, and the library's signal
handler makes one attempt (MAB_ATTACK) of what an attacker managed before
the filters were restricted by argument: hand brokerd's descriptors to a
client, send to a path-named datagram socket, make a socket, signal an
unrelated process, remove a file, make memory executable, ioctl, fcntl and
setsockopt with any argument.  Each must kill brokerd with SIGSYS, and the
harm must not have happened: the victim process lives, the victim file
exists, the client received no descriptor, the datagram socket nothing.
A control attempt (getpid) returns, so the injection provably runs.

Skipped, and only then, in a --disable-seccomp build (tests/run-valgrind.sh).
"""

import array
import os
import shutil
import signal
import socket
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import BrokerTestCase, SocketClient  # noqa: E402

# ./configure --enable-seccomp-debug traps and exits 159 instead of dying.
KILLED = (-signal.SIGSYS, 159)


def preload_path():
    path = os.path.join(harness.builddir(), "tests", "attack", "preload.so")
    if not os.path.exists(path):
        raise harness.HarnessError("%s is not built (make check builds it)" % path)
    return path


class SandboxAttackTests(BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        status, out, err = harness.run_once(cls.stage, ["--version"])
        if status != 0:
            raise harness.HarnessError("brokerd --version: %d %s" % (status, err))
        if "seccomp: yes" not in out:
            cls.stage.remove()
            raise unittest.SkipTest("built with --disable-seccomp: no filter to attack")
        cls.preload = preload_path()

    def setUp(self):
        self.sockdir = harness.socket_dir()
        self.addCleanup(shutil.rmtree, self.sockdir, True)
        self.path = os.path.join(self.sockdir, "mcp.sock")
        self.audit = os.path.join(self.sockdir, "audit.log")

    def attacked(self, attack, env=None, http=False):
        """brokerd --listen (with http, --http too) with the attack library,
        past the point where its filter is loaded: (broker, client)."""
        overrides = {
            "LD_PRELOAD": self.preload,
            "MAB_ATTACK": attack,
            "MAB_ATTACK_PEER": str(os.getpid()),
            "MCP_AUTH_BROKER_AUDIT_FILE": self.audit,
        }
        overrides.update(env or {})
        args = ["--listen", self.path]
        if http:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                args += ["--http", "127.0.0.1:%d" % s.getsockname()[1]]
        broker = self.start_broker(overrides, args=args)
        harness.wait_for_socket(self.path, broker)
        broker.wait_children()
        client = SocketClient(self.path)
        self.addCleanup(client.close)
        # Accepted and answered: the filter was loaded before the first accept.
        harness.initialize(client)
        self.assertTrue(harness.wait_until(lambda: "serving MCP on a unix socket" in broker.stderr_text()),
                        broker.stderr_text())
        return broker, client

    def inject(self, broker, attack):
        """SIGUSR2: the handler runs the attack; wait until it has returned or
        brokerd has died."""
        os.kill(broker.pid, signal.SIGUSR2)
        done = "attack %s: returned" % attack
        harness.wait_until(lambda: done in broker.stderr_text() or broker.proc.poll() is not None)

    def assert_killed(self, broker, attack):
        returned = "attack %s: returned" % attack
        if broker.proc.poll() is None and returned in broker.stderr_text():
            line = [l for l in broker.stderr_text().splitlines() if returned in l][0]
            self.fail("the filter let %s through (%s)" % (attack, line))
        status = broker.wait()
        # Everything written before the end (children and reaper gone too).
        broker._stderr_thread.join(timeout=5)
        text = broker.stderr_text()
        self.assertIn("attack %s: start" % attack, text, "the injected code did not run\n" + text[-2000:])
        self.assertNotIn(returned, text, text[-2000:])
        self.assertIn(status, KILLED, "brokerd exited with %s, not killed by the filter\n%s" % (status, text[-2000:]))
        # The socket reaper removes the socket of a brokerd that died.
        self.assertTrue(harness.wait_until(lambda: not os.path.exists(self.path), timeout=5),
                        "the socket file outlived brokerd")

    def victim_process(self):
        """A process of the same user that brokerd did not start."""
        proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        return proc

    # -- the control: the injection runs, and allowed calls return ---------

    def test_control_allowed_call_returns(self):
        broker, client = self.attacked("control")
        self.inject(broker, "control")
        self.assertIn("attack control: returned %d errno 0" % broker.pid, broker.stderr_text())
        self.assertEqual(client.request("ping").get("result"), {})
        self.assertIsNone(broker.proc.poll())

    # -- descriptors and addresses --------------------------------------------

    def test_sendmsg_scm_rights_to_a_client_is_killed(self):
        broker, client = self.attacked("sendmsg_rights")
        self.inject(broker, "sendmsg_rights")
        self.assert_killed(broker, "sendmsg_rights")
        self.assert_no_descriptor(client)

    def test_sendmsg_nosignal_while_serving_http_too_is_killed(self):
        """Serving HTTP as well, brokerd writes libmicrohttpd's responses
        with writev (brokerd/sendmsg.c): its filter still allows no sendmsg,
        not even with libmicrohttpd's MSG_NOSIGNAL on a session accepted
        after the filter."""
        broker, client = self.attacked("sendmsg_rights_nosignal", http=True)
        self.assertIn("serving MCP on a unix socket and HTTP", broker.stderr_text())
        self.inject(broker, "sendmsg_rights_nosignal")
        self.assert_killed(broker, "sendmsg_rights_nosignal")
        self.assert_no_descriptor(client)

    def assert_no_descriptor(self, client):
        fds = array.array("i")
        client.sock.settimeout(5)
        while True:
            try:
                data, ancdata, _, _ = client.sock.recvmsg(65536, socket.CMSG_SPACE(64 * fds.itemsize))
            except ConnectionResetError:
                break  # brokerd died with our input unread
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            if not data:
                break
        for fd in fds:
            os.close(fd)
        self.assertEqual(len(fds), 0, "the client received %d of brokerd's descriptors" % len(fds))

    def test_sendto_an_address_is_killed(self):
        target = os.path.join(self.sockdir, "dgram")
        sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sink.close)
        sink.bind(target)
        broker, _ = self.attacked("sendto_addr", {"MAB_ATTACK_PATH": target})
        self.inject(broker, "sendto_addr")
        self.assert_killed(broker, "sendto_addr")
        sink.setblocking(False)
        with self.assertRaises(BlockingIOError, msg="the datagram socket received something"):
            sink.recv(64)

    def test_new_socket_is_killed(self):
        broker, _ = self.attacked("socket")
        self.inject(broker, "socket")
        self.assert_killed(broker, "socket")

    # -- other processes ----------------------------------------------------------

    def assert_victim_survives(self, attack):
        victim = self.victim_process()
        broker, _ = self.attacked(attack, {"MAB_ATTACK_PID": str(victim.pid)})
        self.inject(broker, attack)
        self.assert_killed(broker, attack)
        self.assertIsNone(victim.poll(), "%s ended an unrelated process" % attack)

    def test_kill_of_another_process_is_killed(self):
        self.assert_victim_survives("kill_other")

    def test_tgkill_of_another_process_is_killed(self):
        self.assert_victim_survives("tgkill_other")

    def test_tkill_of_another_process_is_killed(self):
        self.assert_victim_survives("tkill_other")

    # -- files --------------------------------------------------------------------

    def assert_audit_log_survives(self, attack):
        """The victim: brokerd's own audit log (an attacker's first target)."""
        broker, _ = self.attacked(attack, {"MAB_ATTACK_PATH": self.audit})
        self.assertTrue(os.path.exists(self.audit))
        self.inject(broker, attack)
        self.assert_killed(broker, attack)
        self.assertTrue(os.path.exists(self.audit), "%s removed the audit log" % attack)

    def test_unlink_of_a_file_is_killed(self):
        self.assert_audit_log_survives("unlink_file")

    def test_unlinkat_of_a_file_is_killed(self):
        self.assert_audit_log_survives("unlinkat_file")

    def test_audit_history_cannot_be_overwritten(self):
        # Red team: fcntl(F_SETFL) is allowed (for O_NONBLOCK) on any
        # descriptor, so injected code clears O_APPEND on the audit log,
        # lseeks to 0 and overwrites the records of what it did before.
        broker, client = self.attacked("audit_rewrite")
        client.call_tool(harness.DESCRIBE_TOOL, {"resource": "https://graph.microsoft.com"})
        self.assertTrue(harness.wait_until(lambda: os.path.getsize(self.audit) > 6))
        with open(self.audit, "rb") as f:
            before = f.read(6)
        self.inject(broker, "audit_rewrite")
        with open(self.audit, "rb") as f:
            after = f.read(6)
        self.assertEqual(after, before, "injected code overwrote the audit log's first record")
        self.assert_killed(broker, "audit_rewrite")

    # -- memory, and calls restricted by argument --------------------------------

    def assert_attack_killed(self, attack):
        broker, _ = self.attacked(attack)
        self.inject(broker, attack)
        self.assert_killed(broker, attack)

    def test_executable_mmap_is_killed(self):
        self.assert_attack_killed("mmap_exec")

    def test_mprotect_to_executable_is_killed(self):
        self.assert_attack_killed("mprotect_exec")

    def test_ioctl_is_killed(self):
        self.assert_attack_killed("ioctl")

    def test_fcntl_duplicating_a_descriptor_is_killed(self):
        self.assert_attack_killed("fcntl_bad")

    def test_setsockopt_is_killed(self):
        self.assert_attack_killed("setsockopt_bad")


def main():
    """harness.main, except that a build without filters is a skip (77 for
    automake), never a pass: the whole class is skipped there."""
    program = unittest.main(module="__main__", verbosity=2, exit=False)
    result = program.result
    if result.testsRun == 0 and result.skipped and result.wasSuccessful():
        print("SKIP: %s" % result.skipped[0][1])
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
