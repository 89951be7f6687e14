# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Start-up refusals: bad configuration and bad command lines.

A bad value must stop brokerd with EX_CONFIG (78) before it starts any child,
naming every offending variable and why, so an operator fixes them all in one
go.  To see whether a child was started, these tests stage stand-in children
that only leave a mark; a control case proves the mark does appear when the
configuration is good.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

EX_USAGE = 64
EX_CONFIG = 78
PREFIX = "MCP_AUTH_BROKER_"
# Words of a log prefix, not of an explanation.
NOISE_WORDS = {"brokerd", "configuration", "config", "error", "fatal", "warn", "warning", "info", "err"}

STAND_IN = """#!/bin/sh
# Stand-in for %(name)s: records that brokerd started it, then exits.
echo started >> '%(marker)s'
exit 0
"""


class StandInStage:
    """A staged layout whose libexec children are stand-ins leaving marks."""

    def __init__(self):
        self.stage = harness.stage()
        self.markers = {}
        for name in harness.CHILD_NAMES:
            marker = os.path.join(self.stage.root, name + ".started")
            path = os.path.join(self.stage.libexecdir, name)
            with open(path, "w") as f:
                f.write(STAND_IN % {"name": name, "marker": marker})
            os.chmod(path, 0o755)
            self.markers[name] = marker

    def started_children(self):
        """Names of the stand-ins started since the last reset()."""
        return sorted(n for n, m in self.markers.items() if os.path.exists(m))

    def reset(self):
        for marker in self.markers.values():
            if os.path.exists(marker):
                os.unlink(marker)


class ConfigExitTests(harness.BrokerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.stand_in = StandInStage()
        cls.stage = cls.stand_in.stage

    def run_brokerd(self, env_overrides=None, args=()):
        self.stand_in.reset()
        status, out, err = harness.run_once(self.stage, args, env_overrides)
        leaked = harness.find_secrets((out + err).encode())
        self.assertEqual(leaked, [], "secret/token material in brokerd output")
        return status, out, err

    def assert_config_refused(self, env_overrides, named):
        """Exit 78, no child started, nothing on stdout, each name explained."""
        status, out, err = self.run_brokerd(env_overrides)
        report = "env %r\nstderr:\n%s" % (env_overrides, err)
        self.assertEqual(status, EX_CONFIG, report)
        self.assertEqual(self.stand_in.started_children(), [], "children started despite bad configuration\n" + report)
        self.assertEqual(out, "", "stdout is the MCP channel\n" + report)
        for name in named:
            self.assert_explained(err, name, report)

    def assert_explained(self, err, name, report):
        """Some stderr line names the variable (exactly) and says why."""
        pattern = re.compile(re.escape(name) + r"(?![A-Z0-9_])")
        lines = [line for line in err.splitlines() if pattern.search(line)]
        self.assertTrue(lines, "%s not named\n%s" % (name, report))
        for line in lines:
            words = [w for w in re.findall(r"[A-Za-z]{2,}", pattern.sub("", line)) if w.lower() not in NOISE_WORDS]
            if len(words) >= 2:
                return
        self.fail("%s named but not explained: %r\n%s" % (name, lines, report))

    def test_each_bad_value_is_refused(self):
        cases = (
            (PREFIX + "TOKEN_MAX_TTL_SECONDS", "abc"),
            (PREFIX + "ENV", "bogus"),
            (PREFIX + "ENABLE_MUTATIONS", "maybe"),
            (PREFIX + "ALLOWED_GRAPH_RESOURCES", "http://graph.microsoft.com"),
            (PREFIX + "ALLOWED_PATH", "x"),  # misspelt ALLOWED_PATHS
        )
        for name, value in cases:
            with self.subTest(variable=name, value=value):
                self.assert_config_refused({name: value}, [name])

    def test_all_bad_values_are_named_at_once(self):
        bad = {
            PREFIX + "TOKEN_MAX_TTL_SECONDS": "abc",
            PREFIX + "ENABLE_MUTATIONS": "maybe",
            PREFIX + "ALLOWED_GRAPH_RESOURCES": "http://graph.microsoft.com",
            PREFIX + "ALLOWED_PATH": "x",
        }
        self.assert_config_refused(bad, sorted(bad))

    def test_a_misspelt_variable_is_matched_to_the_nearest_known_one(self):
        for wrong, right in (("ALLOWED_PATH", "ALLOWED_PATHS"), ("ENABLE_MUTATION", "ENABLE_MUTATIONS"),
                             ("TENNANT_ID", "TENANT_ID"), ("alowed_scopes", "ALLOWED_SCOPES")):
            with self.subTest(wrong=wrong):
                status, _, err = self.run_brokerd({PREFIX + wrong: "x"})
                self.assertEqual(status, EX_CONFIG, err)
                self.assertIn("%s%s: unknown variable: did you mean %s%s?" % (PREFIX, wrong, PREFIX, right), err)
        # Nothing near: no guess.
        status, _, err = self.run_brokerd({PREFIX + "FROBNICATE": "x"})
        self.assertEqual(status, EX_CONFIG, err)
        self.assertNotIn("did you mean", err)

    def test_a_relative_secret_helper_gets_one_accurate_message(self):
        status, _, err = self.run_brokerd({PREFIX + "SECRET_PROVIDER": "command", PREFIX + "SECRET_HELPER": "cat",
                                           PREFIX + "GRAPH_SECRET_REF": "graph"})
        self.assertEqual(status, EX_CONFIG, err)
        lines = [line for line in err.splitlines() if PREFIX + "SECRET_HELPER" in line]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("'cat' is not an absolute path: give the full path (for a program, as 'command -v cat' "
                      "prints it)", lines[0])

    def test_every_documented_boolean_spelling_is_accepted(self):
        # mcp-auth-broker.conf(5) and the README list these, case-insensitively.
        for value in ("true", "TRUE", "yes", "on", "1", "false", "No", "off", "0"):
            with self.subTest(value=value):
                status, _, err = self.run_brokerd({PREFIX + "ENABLE_MUTATIONS": value})
                self.assertNotEqual(status, EX_CONFIG, err)
        status, _, err = self.run_brokerd({PREFIX + "ENABLE_MUTATIONS": "enabled"})
        self.assertEqual(status, EX_CONFIG, err)
        self.assertIn("'enabled' is not a boolean: true, yes, on or 1; false, no, off or 0", err)

    def test_prod_without_settings_names_what_is_missing(self):
        required = [PREFIX + n for n in ("TENANT_ID", "GRAPH_CLIENT_ID", "ALLOWED_GRAPH_RESOURCES", "ALLOWED_SCOPES")]
        self.assert_config_refused({PREFIX + "ENV": "prod"}, required)

    def test_good_configuration_starts_children(self):
        """Control: proves the stand-ins' marks would reveal a started child."""
        status, _out, err = self.run_brokerd()
        self.assertNotEqual(status, EX_CONFIG, err)
        self.assertEqual(self.stand_in.started_children(), sorted(harness.CHILD_NAMES), err)

    def test_version(self):
        status, out, err = self.run_brokerd(args=["--version"])
        self.assertEqual(status, 0, err)
        self.assertTrue(any("mcp-auth-broker" in line for line in out.splitlines()), "stdout: %r" % out)

    def test_unknown_option_is_usage_error(self):
        status, out, err = self.run_brokerd(args=["--no-such-option"])
        self.assertEqual(status, EX_USAGE, "stdout %r stderr %r" % (out, err))
        self.assertTrue(err.strip(), "no message on stderr")
        self.assertEqual(out, "", "stdout is the MCP channel")
        # What was wrong and where to read more, not the whole help.
        for args in (["--no-such-option"], ["extra"], ["--json"], ["--check", "--health"]):
            status, out, err = self.run_brokerd(args=args)
            self.assertEqual((status, out), (EX_USAGE, ""), args)
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 2, err)
            self.assertEqual(lines[1], "brokerd: see 'brokerd --help' for the options")


if __name__ == "__main__":
    harness.main()
