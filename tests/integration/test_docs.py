# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Documentation moves with the behaviour: every configuration variable the
code accepts is documented in the README and in mcp-auth-broker.conf(5), and
nothing is documented that the code does not accept."""
import os
import re
import sys
import unittest

SRC = os.environ.get("MAB_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def code_variables():
    text = read("common/config.c")
    table = text[text.index("cfg_vars[] = {"):]
    table = table[: table.index("};")]
    names = set("MCP_AUTH_BROKER_" + n for n in re.findall(r'PREFIX "([A-Z_]+)"', table))
    return names


class DocsMatchCode(unittest.TestCase):
    def test_readme_table_matches_config(self):
        readme = read("README.md")
        documented = set(re.findall(r"^\| `(MCP_AUTH_BROKER_[A-Z_]+)`", readme, re.M))
        self.assertEqual(documented, code_variables())

    def test_man_page_matches_config(self):
        man = read("man/mcp-auth-broker.conf.5")
        documented = set(re.findall(r"^\\fB(MCP_AUTH_BROKER_[A-Z_]+)\\fR$", man, re.M))
        self.assertEqual(documented, code_variables())

    def test_boolean_spellings_are_the_ones_the_code_accepts(self):
        code = read("common/config.c")
        body = code[code.index("parse_bool(struct cfg_ctx"):]
        words = set()
        for arr in ("yes", "no"):
            words |= set(re.findall(r'"([^"]+)"', re.search(r"\b%s\[\] = \{([^}]*)\}" % arr, body).group(1)))
        row = [line for line in read("README.md").splitlines()
               if line.startswith("| `MCP_AUTH_BROKER_ENABLE_MUTATIONS`")][0]
        self.assertEqual(set(re.findall(r"`([a-z0-9]+)`", row)) - {"false"} | {"false"}, words, row)
        man = read("man/mcp-auth-broker.conf.5")
        para = man.split("\\fBMCP_AUTH_BROKER_ENABLE_MUTATIONS\\fR\n", 1)[1].split(".TP\n", 1)[0]
        self.assertEqual(set(re.findall(r"^\.BR? ([a-z0-9]+)", para, re.M)), words, para)
        self.assertIn("'%s' is not a boolean: true, yes, on or 1; false, no, off or 0", code)

    def test_exit_statuses_are_documented_as_they_are(self):
        usage = read("brokerd/main.c")
        usage = usage[usage.index("Exit status:"):usage.index("\n}\n", usage.index("Exit status:"))]
        in_help = set(re.findall(r"\b(\d{1,2}) ", usage.replace('\\n"\n\t    "', " ")))
        table = read("README.md").split("| exit status | meaning |\n", 1)[1].split("\n\n", 1)[0]
        readme = set(re.findall(r"^\| (\d+) \|", table, re.M))
        man = read("man/brokerd.8").split(".SH EXIT STATUS\n", 1)[1].split(".SH ", 1)[0]
        in_man = set(re.findall(r"\b(\d{1,2})\b", man))
        self.assertEqual(in_help, readme)
        self.assertEqual(in_man, readme)
        # The codes the programs use are among them.
        for path in ("brokerd/main.c", "brokerd/bridge.c", "common/config.h", "brokerd/brokerd.h"):
            for code in re.findall(r"#define EX\w*_STATUS (\d+)", read(path)):
                self.assertIn(code, readme, path)

    def test_threat_model_names_tests_that_exist(self):
        # Each claim of the README's threat model names the test that proves
        # it: a renamed or deleted test must not leave a claim unproven.
        readme = read("README.md")
        section = readme.split("\n## Threat model\n", 1)[1].split("\n## ", 1)[0]
        named = re.findall(r"`(tests/[\w/]+\.(?:py|c))(?:::(\w+))?`", section)
        self.assertGreater(len(named), 40, "the threat model names too few tests")
        for path, test in named:
            with self.subTest(test="%s::%s" % (path, test)):
                source = read(path)
                if test and path.endswith(".py"):
                    self.assertRegex(source, r"\n\s+def %s\(" % re.escape(test))
                elif test:
                    self.assertIn("START_TEST(%s)" % test, source)

    def test_getting_started_walks_to_a_first_real_call(self):
        readme = read("README.md")
        section = readme.split("\n## Getting started with a real tenant\n", 1)[1].split("\n## ", 1)[0]
        for step in ("App registrations", "Application permissions", "admin consent",
                     "Certificate credential", "brokerd --check", "brokerd --ready",
                     "graph_execute", "Rotate"):
            self.assertIn(step, section)
        # Every variable it names is one the code accepts.
        named = set(re.findall(r"MCP_AUTH_BROKER_[A-Z_]+", section))
        self.assertTrue(named)
        self.assertEqual(named - code_variables(), set())
        self.assertIn("GETTING STARTED WITH A REAL TENANT", read("man/mcp-auth-broker.7"))

    def test_readme_commands_present(self):
        readme = read("README.md")
        for marker in ("<!-- main-command -->", "<!-- test-command -->"):
            self.assertIn(marker, readme)
        self.assertIn("tests/run-suite.sh", readme)
        self.assertIn("contrib/demo.sh", readme)

    def test_dockerfile_builds_what_the_readme_builds_and_runs_unprivileged(self):
        # No Docker daemon or registry here: what can be checked without
        # building the image is checked.
        docker = read("Dockerfile")
        readme = read("README.md")
        main = readme.split("<!-- main-command -->", 1)[1].split("```")[1]
        wanted = [w for w in main.split("install", 1)[1].split("&&")[0].split()
                  if not w.startswith("-") and w != "python3"]
        build, _, runtime = docker.partition("\nFROM debian:bookworm-slim")
        self.assertTrue(runtime, "no runtime stage")
        missing = [p for p in wanted if p not in build.split()]
        self.assertEqual(missing, [], "the Dockerfile's build stage lacks what the README installs")
        users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
        self.assertEqual(len(users), 1, users)
        self.assertNotIn(users[0].split(":")[0], ("0", "root"))
        for line in re.findall(r"^(?:ENV|ARG)\s.*$", docker, re.M):
            self.assertNotRegex(line, r"OP_SERVICE_ACCOUNT_TOKEN|SECRET", "a credential in the image: " + line)
        self.assertIn('ENTRYPOINT ["/usr/bin/brokerd"]', runtime)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
