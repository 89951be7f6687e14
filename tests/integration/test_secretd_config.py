# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Start-up refusals of secret-provider settings: brokerd exits 78 naming the
variable and why, before it starts any child (the stand-in children of
test_config_exit leave a mark when started)."""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
import test_config_exit  # noqa: E402

P = "MCP_AUTH_BROKER_"


class SecretConfigTests(test_config_exit.ConfigExitTests):
    """Reuses ConfigExitTests' assertions; its own tests run in that file."""

    @classmethod
    def setUpClass(cls):
        cls.stand_in = test_config_exit.StandInStage()
        cls.stage = cls.stand_in.stage
        cls.scratch = sup.ScratchDir()
        cls.op = sup.FakeOp(cls.scratch)
        cls.helper = cls.op.path
        cls.not_executable = cls.scratch.file("not-executable", "#!/bin/sh\n", 0o644)

    @classmethod
    def tearDownClass(cls):
        cls.scratch.remove()
        super().tearDownClass()

    def op_env(self, **extra):
        env = sup.secretd_env("1password", "op://Private/graph/secret", {
            P + "OP_PATH": self.op.path, "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN})
        env.update(extra)
        return env

    def test_each_bad_secret_setting_is_refused(self):
        cases = (
            (self.op_env(**{P + "GRAPH_SECRET_REF": "Private/graph/secret"}), P + "GRAPH_SECRET_REF"),
            (self.op_env(**{P + "GRAPH_SECRET_REF": "op://Private/graph"}), P + "GRAPH_SECRET_REF"),
            (self.op_env(OP_SERVICE_ACCOUNT_TOKEN=None), "OP_SERVICE_ACCOUNT_TOKEN"),
            (self.op_env(**{P + "OP_PATH": "/nonexistent/op"}), P + "OP_PATH"),
            (self.op_env(**{P + "OP_PATH": self.not_executable}), P + "OP_PATH"),
            # Not on PATH, and no MCP_AUTH_BROKER_OP_PATH.
            (self.op_env(**{P + "OP_PATH": None, "PATH": self.scratch.path + "/nowhere"}), P + "OP_PATH"),
            (self.op_env(**{P + "OP_PATH": "op"}), P + "OP_PATH"),
            (self.op_env(**{P + "SECRET_TIMEOUT_SECONDS": "0"}), P + "SECRET_TIMEOUT_SECONDS"),
            (self.op_env(**{P + "SECRET_TIMEOUT_SECONDS": "121"}), P + "SECRET_TIMEOUT_SECONDS"),
            (self.op_env(**{P + "SECRET_CACHE_SECONDS": "86401"}), P + "SECRET_CACHE_SECONDS"),
            (sup.secretd_env("file", "secrets/graph"), P + "GRAPH_SECRET_REF"),
            (sup.secretd_env("file", "graph-secret"), P + "GRAPH_SECRET_REF"),  # no CREDENTIALS_DIRECTORY
            (sup.secretd_env("command", "graph"), P + "SECRET_HELPER"),
            (sup.secretd_env("command", "graph", {P + "SECRET_HELPER": self.not_executable}), P + "SECRET_HELPER"),
            (sup.secretd_env("env", "1BAD"), P + "GRAPH_SECRET_REF"),
            (sup.secretd_env("env", P + "TENANT_ID"), P + "GRAPH_SECRET_REF"),
            (sup.secretd_env("env", "MAB_UNSET_SECRET"), P + "GRAPH_SECRET_REF"),
        )
        for env, name in cases:
            with self.subTest(variable=name, env={k: v for k, v in env.items() if "SECRET" in k or "OP" in k}):
                self.assert_config_refused(env, [name])

    def test_good_secret_settings_start_children(self):
        """Control: the same settings, corrected, do start the children."""
        for env in (self.op_env(),
                    sup.secretd_env("command", "graph", {P + "SECRET_HELPER": self.helper}),
                    sup.secretd_env("env", "MAB_SET_SECRET", {"MAB_SET_SECRET": "x"})):
            with self.subTest(provider=env[P + "SECRET_PROVIDER"]):
                self.stand_in.reset()
                status, _out, err = self.run_brokerd(env)
                self.assertNotEqual(status, 78, err)
                self.assertEqual(self.stand_in.started_children(), sorted(harness.CHILD_NAMES), err)


# Only this file's tests: the inherited ones run in test_config_exit.py.
for _name in [n for n in vars(test_config_exit.ConfigExitTests) if n.startswith("test_")]:
    setattr(SecretConfigTests, _name, None)

if __name__ == "__main__":
    harness.main()
