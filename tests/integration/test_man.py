# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The manual pages as installed: made from man/ at build time with the
configured directories, clean under `mandoc -Tlint -Wwarning`, every page
one of them (or a systemd unit) refers to installed with them, and the
overview page, mcp-auth-broker(7), covering what an operator looks for."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)

SRC = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("MAB_BUILDDIR", "")
PAGES = ("brokerd.8", "secretd.8", "tokend.8", "mcp-auth-broker.conf.5", "mcp-auth-broker.7")
# Pages of other packages the pages may name (not installed by this one).
FOREIGN = {"sd_notify(3)", "systemd.exec(5)", "systemd.service(5)", "systemd.socket(5)",
           "seccomp(2)", "landlock(7)", "unix(7)", "environ(7)", "op(1)", "ssh(1)", "systemd-analyze(1)"}
UNEXPANDED = re.compile(r"@[A-Za-z_]+@|\$\(|\$\{|(?<![A-Z_])LIBEXECDIR\b")
XREF = re.compile(r"^\.BR\s+\\?\"?([A-Za-z0-9_.\\-]+)\"?\s+\((\d)\)|\\fB([A-Za-z0-9_.\\-]+)\\fR\((\d)\)", re.M)


def built(name):
    path = os.path.join(BUILD, "manpages", name)
    with open(path, encoding="utf-8") as f:
        return f.read()


def references(text):
    for m in XREF.finditer(text):
        name, sect = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        yield "%s(%s)" % (name.replace("\\-", "-"), sect)


def source_codes():
    with open(os.path.join(SRC, "common", "errors.c")) as f:
        return re.findall(r'\{ "([a-z_]+\.[a-z_]+)"', f.read())


class ManPages(unittest.TestCase):
    def test_built_with_no_build_variable_left(self):
        self.assertTrue(BUILD, "MAB_BUILDDIR is not set (run through make check)")
        for name in PAGES:
            with self.subTest(page=name):
                text = built(name)
                self.assertIsNone(UNEXPANDED.search(text), "%s: %r" % (name, UNEXPANDED.findall(text)))
        # The directory the programs were built to look in, as configured.
        out = subprocess.run([os.path.join(BUILD, "brokerd", "brokerd"), "--version"],
                             stdout=subprocess.PIPE, check=True, timeout=30).stdout.decode()
        libexecdir = re.search(r"^children in: (.+)$", out, re.M).group(1)
        self.assertIn(r"\fB%s\fR" % libexecdir, built("mcp-auth-broker.conf.5"))
        self.assertIn("%s/tokend" % libexecdir, built("tokend.8"))

    def test_mandoc_lint_is_clean(self):
        mandoc = shutil.which("mandoc")
        if mandoc is None:
            self.skipTest("mandoc is not installed (apt-get install mandoc): the pages were NOT linted")
        for name in PAGES:
            with self.subTest(page=name):
                proc = subprocess.run([mandoc, "-Tlint", "-Wwarning", os.path.join(BUILD, "manpages", name)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                self.assertEqual(proc.stdout.decode(), "")
                self.assertEqual(proc.returncode, 0)

    def test_every_page_referred_to_exists(self):
        ours = {"%s(%s)" % (p.rsplit(".", 1)[0], p.rsplit(".", 1)[1]) for p in PAGES}
        texts = {name: built(name) for name in PAGES}
        for unit in ("mcp-auth-broker.service", "mcp-auth-broker.socket", "mcp-auth-broker-http.socket"):
            with open(os.path.join(SRC, "contrib", "systemd", unit)) as f:
                texts[unit] = "\n".join(r"\fB%s\fR(%s)" % m
                                        for m in re.findall(r"man:([\w.-]+)\((\d)\)", f.read()))
        seen = set()
        for name, text in texts.items():
            for ref in references(text):
                seen.add(ref)
                with self.subTest(page=name, ref=ref):
                    self.assertTrue(ref in ours or ref in FOREIGN, "%s names %s, which is not installed" % (name, ref))
        self.assertIn("mcp-auth-broker(7)", seen)
        self.assertIn("tokend(8)", seen)

    def test_no_page_sends_the_reader_to_an_uninstalled_readme(self):
        for name in PAGES:
            with self.subTest(page=name):
                for line in built(name).splitlines():
                    if "README" in line:
                        self.assertIn("source distribution", line, "%s: %s" % (name, line))

    def test_overview_page_covers_the_operator(self):
        text = built("mcp-auth-broker.7")
        for section in ("ARCHITECTURE", "THREAT MODEL", "ERROR CODES", "OPERATOR COMMANDS", "ROTATION",
                        "FAILURE SCENARIOS", "RECOVERY"):
            self.assertRegex(text, r"(?m)^\.SH %s$" % section)
        plain = text.replace("\\-", "-")
        codes = source_codes()
        self.assertEqual(len(codes), 15)
        for code in codes:
            self.assertIn(code, plain)
        for option in ("--check", "--health", "--ready", "--smoke-e2e", "--tools", "--listen", "--connect"):
            self.assertIn(option, plain)
        for who in ("A compromised brokerd", "A hostile MCP client", "A compromised tokend", "A compromised secretd"):
            self.assertIn(who, text)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
