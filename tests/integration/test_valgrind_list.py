# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The README says which integration tests run under valgrind: its table
names every integration file of Makefile.am, and for each one says `yes`
exactly when tests/run-valgrind.sh runs it (with the classes it leaves out
named) or `no` with a reason."""

import os
import re
import sys
import unittest

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)

SRC = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def integration_files():
    text = read("Makefile.am")
    return set(re.findall(r"tests/integration/(test_\w+\.py)", text.split("TESTS = $(check_PROGRAMS)")[0]))


def script_runs():
    """{file: [classes] (empty: all of it)} from run-valgrind.sh's loop."""
    text = read("tests/run-valgrind.sh")
    loop = text.split("for t in ", 1)[1].split("; do", 1)[0]
    runs = {}
    for entry in re.findall(r'"([^"]+)"', loop):
        words = entry.split()
        runs[words[0]] = words[1:]
    return runs


def readme_table():
    section = read("README.md").split("\n### Valgrind\n", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\| `(test_\w+\.py)` \| (.+) \|$", section, re.M))


def classes_of(name):
    """The classes of a test file that hold tests."""
    blocks = re.split(r"^class ", read("tests/integration/" + name), flags=re.M)[1:]
    return [re.match(r"\w+", b).group(0) for b in blocks if "\n    def test_" in b]


class ValgrindClaim(unittest.TestCase):
    def test_every_integration_file_is_in_the_table(self):
        self.assertEqual(set(readme_table()), integration_files())

    def test_table_says_yes_exactly_for_what_the_script_runs(self):
        runs = script_runs()
        for name, says in readme_table().items():
            with self.subTest(file=name):
                if name in runs:
                    self.assertTrue(says.startswith("yes"), says)
                else:
                    self.assertRegex(says, r"^no: \S.{10,}", "an excluded file needs its reason")

    def test_classes_left_out_are_named(self):
        runs = script_runs()
        table = readme_table()
        for name, classes in runs.items():
            with self.subTest(file=name):
                self.assertTrue(os.path.exists(os.path.join(SRC, "tests", "integration", name)))
                known = classes_of(name)
                for c in classes:
                    self.assertIn(c, known)
                if classes:
                    for c in set(known) - set(classes):
                        self.assertIn("`%s`" % c, table[name], "%s leaves %s out without saying so" % (name, c))

    def test_readme_claim_points_at_the_table(self):
        readme = read("README.md")
        self.assertIn("[Valgrind](#valgrind)", readme)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
