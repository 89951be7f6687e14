# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Each secret provider through the real brokerd, secretd and tokend.

A call to the execute tool makes tokend ask secretd for the secret.  What a
user sees: when the provider works, brokerd logs the secret's fingerprint
(checked against one computed here) and the call fails later, as provider.*,
at the login endpoint, which is a closed loopback port; when it does not, the
call's error is the secret.* code for why.  The stand-in `op` (tests/fake-op)
prints what the real one prints for each failure, or hangs.
"""

import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
from harness import EXECUTE_TOOL, execute_args, tool_result  # noqa: E402

OP_REF = "op://Private/graph/secret"
OP_SECRET = "fake-op-secret-Private-secret"
HELPER_SECRET = "fake-op-secret-helper-secret"
NOBODY = 65534


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


class SecretdTestCase(harness.BrokerTestCase):
    """A scratch directory and a staged fake op per test."""

    def setUp(self):
        self.scratch = sup.ScratchDir()
        self.addCleanup(self.scratch.remove)
        self.op = sup.FakeOp(self.scratch)

    def op_env(self, ref=OP_REF, extra=None):
        env = sup.secretd_env("1password", ref, {
            "MCP_AUTH_BROKER_OP_PATH": self.op.path,
            "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN,
            "HOME": self.scratch.path,
        })
        env.update(extra or {})
        return env

    def call(self, broker, request_id="req-1"):
        """One execute call; returns its structuredContent."""
        resp = broker.call_tool(EXECUTE_TOOL, execute_args({"request_id": request_id}), timeout=30)
        return tool_result(resp)["structuredContent"]

    def assert_secret_served(self, broker, secret, provider):
        """The call got past secretd, and brokerd logged secret's fingerprint."""
        sc = self.call(broker)
        code = sc.get("error", {}).get("code", "")
        self.assertFalse(code.startswith("secret."), "secretd failed: %s\n%s" % (dump(sc), broker.stderr_text()))
        logged = sup.wait_for_fingerprint(broker, sup.fingerprint(secret))
        self.assertIn((sup.fingerprint(secret), provider), logged, broker.stderr_text())
        self.assert_not_in_output(broker, secret)
        return sc

    def assert_secret_error(self, broker, code, retryable):
        sc = self.call(broker)
        err = sc.get("error", {})
        self.assertEqual(err.get("code"), code, dump(sc) + "\n" + broker.stderr_text())
        self.assertEqual(err.get("category"), "secret", dump(sc))
        self.assertIs(err.get("retryable"), retryable, dump(sc))
        self.assertEqual(sup.fingerprints_logged(broker), [], "no secret, yet a fingerprint")
        return sc

    def expected_seccomp(self, broker):
        """"2", or "0" in a --disable-seccomp build (valgrind runs)."""
        status, out, _ = harness.run_once(broker.stage, args=["--version"])
        self.assertEqual(status, 0)
        return "2" if "seccomp: yes" in out else "0"

    def log_after_call(self, broker, *expected):
        """brokerd's stderr once it holds every expected text: the children
        write their log lines to it before answering, but the harness reads
        stderr on a thread of its own."""
        harness.wait_until(lambda: all(t in broker.stderr_text() for t in expected), timeout=5)
        return broker.stderr_text()

    def assert_not_in_output(self, broker, text):
        data = broker.stdout_bytes() + broker.stderr_bytes()
        self.assertNotIn(text.encode(), data, "%r appeared in brokerd's output or logs" % text)


class OnePasswordTests(SecretdTestCase):
    def test_secret_is_resolved_with_op_read(self):
        broker = self.started(env_overrides=self.op_env())
        self.assert_secret_served(broker, OP_SECRET, "1password")
        calls = self.op.calls()
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(calls[0]["argv"], ["read", "--no-newline", OP_REF])
        self.assert_not_in_output(broker, sup.OP_TOKEN)

    def test_op_runs_confined(self):
        """Only what op needs plus the token; /dev/null for stdin; no
        descriptor of ours; a process group of its own."""
        broker = self.started(env_overrides=self.op_env())
        self.assert_secret_served(broker, OP_SECRET, "1password")
        call = self.op.calls()[0]
        self.assertEqual(call["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), sup.OP_TOKEN)
        self.assertLessEqual(set(call["env"]), {"PATH", "HOME", "OP_SERVICE_ACCOUNT_TOKEN", "OP_CACHE"},
                             dump(call["env"]))
        # fake op is readable: its environment would be readable in /proc.
        self.assertIn("install it execute-only, owned by root (chmod 0711)", broker.stderr_text())
        # op's cache is a daemon that would outlive the run: off.
        self.assertEqual(call["env"].get("OP_CACHE"), "false", dump(call["env"]))
        self.assertEqual(call["env"].get("HOME"), self.scratch.path)
        self.assertTrue(call["stdin_is_devnull"], dump(call))
        self.assertEqual(call["pgid"], call["pid"], "op is not the leader of its own process group")
        # 0-2, and the one listing /proc/self/fd.
        self.assertLessEqual(len(call["fds"]), 4, dump(call))
        self.assertEqual(call["fds"][:3], [0, 1, 2], dump(call))
        # op is started by secretd's launcher, not by secretd: the helper
        # denylist is the launcher's, inherited across execve; secretd
        # itself has the allowlist (no process, no execve, no network).
        secretd = broker.wait_children()["secretd"]
        launcher = harness.children_of(secretd).get("secretd-launch")
        self.assertIsNotNone(launcher, "secretd has no launcher: %r" % harness.children_of(secretd))
        self.assertEqual(call["ppid"], launcher, dump(call))
        self.assertEqual(call["seccomp"], self.expected_seccomp(broker), dump(call))
        for pid in (secretd, launcher):
            self.assertEqual(harness.proc_status_field(pid, "Seccomp"), self.expected_seccomp(broker))


    def test_a_dead_launcher_stops_the_broker(self):
        """Like a dead child: secretd exits, brokerd exits 70 so that the
        unit is restarted, and nothing is served meanwhile."""
        broker = self.started(env_overrides=self.op_env())
        secretd = broker.wait_children()["secretd"]
        launcher = harness.wait_until(lambda: harness.children_of(secretd).get("secretd-launch"))
        self.assertIsNotNone(launcher, "secretd has no launcher")
        os.kill(launcher, signal.SIGKILL)
        self.assertEqual(broker.wait(), 70, broker.stderr_text())
        self.assertRegex(broker.stderr_text(), r"secretd\[\d+\]: fatal: the launcher died")

    def test_a_launcher_killed_mid_run_stops_the_broker(self):
        """The helper kills its parent (the launcher): the call fails
        secret.unavailable, secretd exits, brokerd exits 70."""
        helper = self.scratch.file("parent-killer", "#!/bin/sh\nkill -9 $PPID\nsleep 5\n", mode=0o755)
        broker = self.started(env_overrides=sup.secretd_env("command", "graph", {
            "MCP_AUTH_BROKER_SECRET_HELPER": helper}))
        sc = self.call(broker)
        self.assertEqual(sc.get("error", {}).get("code"), "secret.unavailable", dump(sc))
        self.assertEqual(broker.wait(), 70, broker.stderr_text())
        self.assertRegex(broker.stderr_text(), r"secretd\[\d+\]: fatal: the launcher died while running")

    def test_secretd_has_the_allowlist_and_shuts_down_cleanly(self):
        """With a helper provider only the launcher has the denylist; at the
        end of input secretd reaps it (wait4 is in its allowlist)."""
        broker = self.started(env_overrides=self.op_env(extra={"MCP_AUTH_BROKER_LOG_LEVEL": "debug"}))
        self.assert_secret_served(broker, OP_SECRET, "1password")
        broker.close_stdin()
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        log = broker.stderr_text()
        if self.expected_seccomp(broker) == "2":
            self.assertRegex(log, r"secretd\[\d+\]: debug: seccomp filter loaded \(secretd\)")
            self.assertRegex(log, r"secretd-launch\[\d+\]: debug: seccomp filter loaded \(secretd-launch\)")
        self.assertNotRegex(log, r"secretd (killed by signal|exited with status)")

    def test_cached_between_calls(self):
        broker = self.started(env_overrides=self.op_env())
        self.assert_secret_served(broker, OP_SECRET, "1password")
        self.call(broker, "req-2")
        self.assertEqual(len(self.op.calls()), 1, "op ran again within the cache period")

    def test_op_messages_map_to_codes(self):
        cases = (
            ("op://Private/notfound/secret", "secret.not_found", False),
            ("op://Private/nofield/secret", "secret.not_found", False),
            ("op://Private/novault/secret", "secret.access_denied", False),
            ("op://Private/unauthorized/secret", "secret.access_denied", False),
            ("op://Private/badtoken/secret", "secret.access_denied", False),
            ("op://Private/ratelimited/secret", "secret.unavailable", True),
            ("op://Private/weird/secret", "secret.unavailable", True),
        )
        for ref, code, retryable in cases:
            with self.subTest(ref=ref):
                broker = self.started(env_overrides=self.op_env(ref))
                self.assert_secret_error(broker, code, retryable)
                broker.kill()

    def test_hung_op_times_out_and_its_group_is_killed(self):
        broker = self.started(env_overrides=self.op_env(
            "op://Private/hang/secret", {"MCP_AUTH_BROKER_SECRET_TIMEOUT_SECONDS": "1"}))
        self.assert_secret_error(broker, "secret.timeout", True)
        pids = self.op.pids()
        self.assertIsNotNone(pids, "the hang case never started")
        for pid in pids:
            harness.wait_until(lambda: not harness.pid_alive(pid), timeout=5)
            self.assertFalse(harness.pid_alive(pid), "pid %d of the helper's group survived" % pid)
        self.assert_still_serving(broker)

    def assert_still_serving(self, broker):
        self.assertEqual(broker.request("ping").get("result"), {})

    def test_stderr_is_redacted_and_stdout_never_logged(self):
        broker = self.started(env_overrides=self.op_env("op://Private/leak/secret"))
        self.assert_secret_error(broker, "secret.unavailable", True)
        log = self.log_after_call(broker, "[REDACTED]")
        self.assertIn("[REDACTED]", log, "op's stderr was not logged at all")
        self.assert_not_in_output(broker, sup.OP_TOKEN)
        self.assert_not_in_output(broker, "leaked-stdout-7a1c9e")

    def test_oversized_output_is_refused(self):
        broker = self.started(env_overrides=self.op_env("op://Private/big/secret"))
        self.assert_secret_error(broker, "secret.unavailable", True)


class FileProviderTests(SecretdTestCase):
    def test_absolute_path(self):
        path = self.scratch.file("graph-secret", "file-secret-1\n")
        broker = self.started(env_overrides=sup.secretd_env("file", path))
        # The trailing newline an editor leaves is not part of the secret.
        self.assert_secret_served(broker, "file-secret-1", "file")

    def test_systemd_credential_name(self):
        creds = sup.ScratchDir("mab-creds-")
        self.addCleanup(creds.remove)
        creds.file("graph-client-secret", "cred-secret-2")
        broker = self.started(env_overrides=sup.secretd_env(
            "file", "graph-client-secret", {"CREDENTIALS_DIRECTORY": creds.path}))
        self.assert_secret_served(broker, "cred-secret-2", "file")

    def test_group_or_world_accessible_file_is_refused(self):
        for mode in (0o640, 0o604, 0o660):
            with self.subTest(mode=oct(mode)):
                path = self.scratch.file("loose-%o" % mode, "loose-secret", mode)
                broker = self.started(env_overrides=sup.secretd_env("file", path))
                self.assert_secret_error(broker, "secret.access_denied", False)
                log = self.log_after_call(broker, path, "chmod 600")
                self.assertIn(path, log, "the log does not name the file")
                self.assertIn("chmod 600", log, "the log does not say how to fix it")
                self.assertIn("%04o" % mode, log)
                self.assert_not_in_output(broker, "loose-secret")
                broker.kill()

    def test_file_owned_by_another_user_is_refused(self):
        path = self.scratch.file("foreign", "foreign-secret")
        os.chown(path, NOBODY, -1)
        broker = self.started(env_overrides=sup.secretd_env("file", path))
        self.assert_secret_error(broker, "secret.access_denied", False)
        self.assertIn("owned by uid %d" % NOBODY, self.log_after_call(broker, "owned by uid"))

    def test_fixing_the_mode_takes_effect_without_restart(self):
        path = self.scratch.file("fixable", "fixable-secret", 0o644)
        broker = self.started(env_overrides=sup.secretd_env("file", path))
        self.assert_secret_error(broker, "secret.access_denied", False)
        os.chmod(path, 0o600)
        self.assert_secret_served(broker, "fixable-secret", "file")

    def test_missing_file_is_not_found(self):
        broker = self.started(env_overrides=sup.secretd_env("file", os.path.join(self.scratch.path, "absent")))
        self.assert_secret_error(broker, "secret.not_found", False)

    def test_rotation_is_picked_up_and_audited(self):
        path = self.scratch.file("rotating", "rotation-secret-A")
        audit = os.path.join(self.scratch.path, "audit.log")
        broker = self.started(env_overrides=sup.secretd_env("file", path, {
            "MCP_AUTH_BROKER_SECRET_CACHE_SECONDS": "1", "MCP_AUTH_BROKER_AUDIT_FILE": audit}))
        first = sup.fingerprint("rotation-secret-A")
        second = sup.fingerprint("rotation-secret-B")
        self.assert_secret_served(broker, "rotation-secret-A", "file")
        self.scratch.file("rotating", "rotation-secret-B")
        time.sleep(1.2)  # past MCP_AUTH_BROKER_SECRET_CACHE_SECONDS
        self.call(broker, "req-2")
        logged = sup.wait_for_fingerprint(broker, second)
        self.assertEqual([fp for fp, _ in logged], [first, second], broker.stderr_text())
        with open(audit) as f:
            records = [json.loads(line) for line in f]
        by_request = {r["request_id"]: r for r in records}
        self.assertEqual(by_request["req-1"].get("secret_fingerprint"), first, dump(records))
        self.assertEqual(by_request["req-2"].get("secret_fingerprint"), second, dump(records))


class CommandProviderTests(SecretdTestCase):
    def command_env(self, ref="graph", extra=None):
        env = sup.secretd_env("command", ref, {"MCP_AUTH_BROKER_SECRET_HELPER": self.op.path,
                                                "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN})
        env.update(extra or {})
        return env

    def test_helper_prints_the_secret(self):
        broker = self.started(env_overrides=self.command_env())
        # The helper prints a line: the newline is not part of the secret.
        self.assert_secret_served(broker, HELPER_SECRET, "command")
        call = self.op.calls()[0]
        self.assertEqual(call["argv"], ["graph"], "the reference is the single argument")
        self.assertLessEqual(set(call["env"]), {"PATH", "HOME"}, dump(call["env"]))
        self.assertTrue(call["stdin_is_devnull"], dump(call))

    def test_helper_failure_is_mapped(self):
        broker = self.started(env_overrides=self.command_env("notfound"))
        self.assert_secret_error(broker, "secret.not_found", False)

    def test_nothing_the_helper_started_outlives_it(self):
        """Not even what left its process group with setsid: secretd is a
        child subreaper and kills what comes back to it."""
        pidfile = os.path.join(self.scratch.path, "escaped.pid")
        helper = self.scratch.file("escaping-helper", "#!/bin/sh\n"
                                   "setsid sleep 300 </dev/null >/dev/null 2>&1 &\n"
                                   "echo $! > '%s'\n"
                                   "echo helper-secret\n" % pidfile, mode=0o755)
        broker = self.started(env_overrides=self.command_env(extra={"MCP_AUTH_BROKER_SECRET_HELPER": helper}))
        self.assert_secret_served(broker, "helper-secret", "command")
        with open(pidfile) as f:
            escaped = int(f.read())
        self.assertTrue(harness.wait_until(lambda: not harness.pid_alive(escaped), timeout=5),
                        "the helper's setsid child (pid %d) survived the run: %r"
                        % (escaped, harness.proc_stat(escaped)))
        self.assertRegex(self.log_after_call(broker, "outside its process group"),
                         r"secretd-launch\[\d+\]: warning: .*escaping-helper left 1 process outside its process "
                         r"group: killed")

    def test_a_helper_killed_by_the_filter_is_named_so(self):
        """A helper inherits secretd's denylist: ptrace kills it, and the
        log says it was the filter, not a crash."""
        helper = self.scratch.file("ptrace-helper", "#!/bin/sh\n"
                                   "exec python3 -c 'import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)'\n",
                                   mode=0o755)
        broker = self.started(env_overrides=self.command_env(
            extra={"MCP_AUTH_BROKER_SECRET_HELPER": helper}))
        if self.expected_seccomp(broker) != "2":
            # --disable-seccomp (valgrind) build: ptrace returns, nothing is printed.
            self.assert_secret_error(broker, "secret.not_found", False)
            return
        self.assert_secret_error(broker, "secret.unavailable", True)
        self.assertRegex(self.log_after_call(broker, "SIGSYS"),
                         r"secretd\[\d+\]: error: .*ptrace-helper was killed by SIGSYS: it made a system "
                         r"call the helper seccomp filter denies")


class EnvProviderTests(SecretdTestCase):
    def test_variable_is_the_secret_with_a_warning(self):
        broker = self.started(env_overrides=sup.secretd_env(
            "env", "MAB_TEST_GRAPH_SECRET", {"MAB_TEST_GRAPH_SECRET": "env-secret-3"}))
        self.assert_secret_served(broker, "env-secret-3", "env")
        self.assertRegex(self.log_after_call(broker, "for development"),
                         r"secretd\[\d+\]: warning: .*env is for development")


class NoneProviderTests(SecretdTestCase):
    def test_no_provider_means_unavailable(self):
        broker = self.started(env_overrides=sup.secretd_env("none"))
        self.assert_secret_error(broker, "secret.unavailable", True)


if __name__ == "__main__":
    harness.main()
