# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The 1Password token, and the env provider's variable, live in secretd only.

brokerd receives OP_SERVICE_ACCOUNT_TOKEN in its environment, hands it to
secretd over their channel and wipes it from its own memory and from the
environment block the kernel shows as /proc/PID/environ; tokend and secretd
never have it in their environment.  These tests read /proc/PID/environ of
all three processes after a call that made secretd use the token, and check
that the token did reach op.  Reading the environ of a non-dumpable process
needs root (as the harness's descriptor checks do).
"""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
from harness import EXECUTE_TOOL, execute_args, tool_result  # noqa: E402

OP_REF = "op://Private/graph/secret"
OP_SECRET = "fake-op-secret-Private-secret"
CRED_TOKEN = "ops_credentialFileToken0123456789abcdefABCDEF"
ENV_SECRET = "env-provider-secret-5b6c7d"


class EnvironTests(harness.BrokerTestCase):
    def setUp(self):
        self.scratch = sup.ScratchDir()
        self.addCleanup(self.scratch.remove)
        self.op = sup.FakeOp(self.scratch)

    def op_env(self, extra=None):
        env = sup.secretd_env("1password", OP_REF, {
            "MCP_AUTH_BROKER_OP_PATH": self.op.path,
            "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN,
            "HOME": self.scratch.path,
        })
        env.update(extra or {})
        return env

    def serve_one_call(self, broker, secret):
        """A call that makes secretd resolve the secret; returns the pids."""
        kids = broker.wait_children()
        sc = tool_result(broker.call_tool(EXECUTE_TOOL, execute_args(), timeout=30))["structuredContent"]
        self.assertFalse(sc.get("error", {}).get("code", "").startswith("secret."), str(sc))
        sup.wait_for_fingerprint(broker, sup.fingerprint(secret))
        return {"brokerd": broker.pid, "secretd": kids["secretd"], "tokend": kids["tokend"]}

    def assert_nowhere(self, pids, value, what):
        for name, pid in pids.items():
            block = sup.proc_environ(pid)
            self.assertNotIn(value.encode(), block, "%s in /proc/%d/environ of %s" % (what, pid, name))

    def test_op_token_only_in_secretd(self):
        broker = self.started(env_overrides=self.op_env())
        pids = self.serve_one_call(broker, OP_SECRET)
        # Control: the block is readable and still holds what was not wiped.
        self.assertIn(b"MCP_AUTH_BROKER_ENV=dev", sup.proc_environ(broker.pid))
        self.assert_nowhere(pids, sup.OP_TOKEN, "the 1Password token")
        self.assertNotIn("OP_SERVICE_ACCOUNT_TOKEN", sup.environ_names(sup.proc_environ(broker.pid)))
        # It did reach op, through secretd.
        self.assertEqual(self.op.calls()[0]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), sup.OP_TOKEN)
        self.assert_not_logged(broker, sup.OP_TOKEN)

    def test_children_environments(self):
        broker = self.started(env_overrides=self.op_env({"UNRELATED_SECRET": "unrelated-7f"}))
        pids = self.serve_one_call(broker, OP_SECRET)
        # A sanitizer build also passes its runtime's options (*SAN_OPTIONS).
        ours = ("MCP_AUTH_BROKER_", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
        tokend = sup.environ_names(sup.proc_environ(pids["tokend"]))
        self.assertTrue(tokend, "tokend's environment is empty: the check below proves nothing")
        self.assertEqual([n for n in tokend if not n.startswith(ours)], [], tokend)
        secretd = sup.environ_names(sup.proc_environ(pids["secretd"]))
        extra = {n for n in secretd if not n.startswith(ours)}
        self.assertEqual(extra, {"PATH", "HOME"}, "secretd got more than op needs: %r" % secretd)
        self.assert_nowhere({"secretd": pids["secretd"], "tokend": pids["tokend"]}, "unrelated-7f",
                            "an unrelated variable")

    def test_credential_file_wins_and_env_token_is_still_wiped(self):
        creds = sup.ScratchDir("mab-creds-")
        self.addCleanup(creds.remove)
        creds.file("op-service-account-token", CRED_TOKEN + "\n", 0o400)
        broker = self.started(env_overrides=self.op_env({"CREDENTIALS_DIRECTORY": creds.path}))
        pids = self.serve_one_call(broker, OP_SECRET)
        self.assertEqual(self.op.calls()[0]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), CRED_TOKEN)
        self.assert_nowhere(pids, sup.OP_TOKEN, "the environment's 1Password token")
        self.assert_nowhere(pids, CRED_TOKEN, "the credential's 1Password token")
        self.assert_not_logged(broker, CRED_TOKEN)

    def test_credential_file_alone_is_enough(self):
        creds = sup.ScratchDir("mab-creds-")
        self.addCleanup(creds.remove)
        creds.file("op-service-account-token", CRED_TOKEN, 0o400)
        broker = self.started(env_overrides=self.op_env({
            "CREDENTIALS_DIRECTORY": creds.path, "OP_SERVICE_ACCOUNT_TOKEN": None}))
        self.serve_one_call(broker, OP_SECRET)
        self.assertEqual(self.op.calls()[0]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), CRED_TOKEN)

    def test_token_wiped_whatever_the_provider(self):
        path = self.scratch.file("graph-secret", "file-secret-env-test")
        broker = self.started(env_overrides=sup.secretd_env("file", path, {
            "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN}))
        pids = self.serve_one_call(broker, "file-secret-env-test")
        self.assert_nowhere(pids, sup.OP_TOKEN, "an unused 1Password token")

    def test_env_provider_variable_only_in_secretd_memory(self):
        broker = self.started(env_overrides=sup.secretd_env(
            "env", "MAB_GRAPH_SECRET", {"MAB_GRAPH_SECRET": ENV_SECRET}))
        pids = self.serve_one_call(broker, ENV_SECRET)
        self.assert_nowhere(pids, ENV_SECRET, "the env provider's secret")
        self.assert_not_logged(broker, ENV_SECRET)

    def assert_not_logged(self, broker, value):
        self.assertNotIn(value.encode(), broker.stdout_bytes() + broker.stderr_bytes())


if __name__ == "__main__":
    harness.main()
