# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The license policy scan of runbook 000 ("License policy scan passes"),
for a C program: every shared library brokerd, secretd and tokend link is
found in its Debian package, and the license the package's machine-readable
copyright file gives its files (the `Files: *` paragraph) must be one the
project's ISC license can ship beside: permissive licenses, or the LGPL for
a dynamically linked library.

A transitive dependency whose `Files: *` paragraph names the source
package's own license rather than the library's (e2fsprogs' GPL-2 for
com_err, say) is listed in REVIEWED with what its library actually is under
and why; the test checks the copyright file still says what was reviewed,
so a change upstream is looked at again.  The libraries the project itself
chose (configure.ac) get no exception.

And `reuse lint`: every file says its license (REUSE specification).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ALLOWED = {
    "isc", "mit", "expat", "x11", "bsd-2-clause", "bsd-3-clause", "bsd3", "curl", "zlib",
    "apache-2.0", "lgpl-2", "lgpl-2+", "lgpl-2.1", "lgpl-2.1+", "lgpl-3", "lgpl-3+", "mpl-1.1",
    "mpl-2.0", "public-domain", "cc0", "openldap-2.8", "bsd-4-clause",
    # The GCC runtime (a sanitizer build links libgcc_s): its exception
    # lets any program link it, whatever that program's license.
    "gpl-3+ with gcc-exception-3.1",
}
# What configure.ac links: no exception for these.
DIRECT = {"libcurl4", "libjson-c5", "libsodium23", "libseccomp2", "libssl3", "libmicrohttpd12"}
# Transitive dependencies whose `Files: *` paragraph is not the library's
# license: (the license recorded there, what the library is under, why).
REVIEWED = {
    "libcom-err2": ("GPL-2", "MIT-like (com_err, lib/et)",
                    "e2fsprogs' default; com_err is under its own permissive notice"),
    "libidn2-0": ("GPL-3+", "LGPL-3+ or GPL-2+",
                  "the library's *.c and *.h paragraph; GPL-3+ covers the build scripts"),
    "libkeyutils1": ("GPL-2+", "LGPL-2+", "keyutils' library is LGPL-2+; GPL-2+ covers the tools"),
}

# Copyright files that are not machine-readable: a phrase that must appear
# in them, and the license it states.
PLAIN = {
    "libgcc-s1": ("GCC RUNTIME LIBRARY EXCEPTION", "GPL-3+ with GCC-exception-3.1"),
    "libstdc++6": ("GCC RUNTIME LIBRARY EXCEPTION", "GPL-3+ with GCC-exception-3.1"),
    "libc6": ("GNU Lesser General Public", "LGPL-2.1+"),
    "libgnutls30": ("The main library is licensed under GNU Lesser", "LGPL-2.1+"),
    "libgssapi-krb5-2": ("MIT Kerberos", "MIT"),
    "libk5crypto3": ("MIT Kerberos", "MIT"),
    "libkrb5-3": ("MIT Kerberos", "MIT"),
    "libkrb5support0": ("MIT Kerberos", "MIT"),
    "librtmp1": ("librtmp", "LGPL-2.1"),
    "libtasn1-6": ("The library itself is licensed as LGPLv2.1+", "LGPL-2.1+"),
}


def linked_libraries(st):
    libs = set()
    for prog in (st.brokerd, os.path.join(st.libexecdir, "secretd"),
                 os.path.join(st.libexecdir, "tokend")):
        out = subprocess.run(["ldd", prog], stdout=subprocess.PIPE, text=True, check=True).stdout
        libs.update(re.findall(r"=> (/\S+)", out))
    return libs


def package_of(path):
    for candidate in (os.path.realpath(path), path):
        r = subprocess.run(["dpkg", "-S", candidate], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def main_license(text):
    """The License of the `Files: *` paragraph of a DEP-5 copyright file."""
    for para in re.split(r"\n\s*\n", text):
        m = re.search(r"^Files:\s*(.*(?:\n[ \t].*)*)", para, re.M)
        if m and "*" in m.group(1).split():
            lic = re.search(r"^License:\s*(.*)", para, re.M)
            return lic.group(1).strip() if lic else None
    return None


def allowed(expression):
    """An expression allowed: any alternative of an 'or', every part of an 'and'."""
    return any(all(part.strip().lower() in ALLOWED for part in alt.split(" and "))
               for alt in expression.split(" or "))


class LicensePolicy(harness.BrokerTestCase):

    def test_every_linked_library_is_under_an_allowed_license(self):
        if shutil.which("dpkg") is None:
            self.skipTest("not a Debian system: no dpkg to find the libraries' packages")
        seen = {}
        for lib in sorted(linked_libraries(self.stage)):
            pkg = package_of(lib)
            if pkg is None:
                continue  # the loader, or a library of our own build
            seen[pkg] = lib
        self.assertTrue(DIRECT & set(seen), "none of the libraries the project chose was found")
        for pkg in sorted(seen):
            with self.subTest(package=pkg):
                with open("/usr/share/doc/%s/copyright" % pkg, errors="replace") as f:
                    text = f.read()
                if pkg in PLAIN and not text.startswith("Format:"):
                    phrase, lic = PLAIN[pkg]
                    self.assertIn(phrase, text, "%s's copyright no longer says what was reviewed" % pkg)
                    self.assertTrue(allowed(lic))
                    continue
                lic = main_license(text)
                self.assertIsNotNone(lic, "%s: no machine-readable Files: * paragraph" % pkg)
                if allowed(lic):
                    continue
                self.assertNotIn(pkg, DIRECT, "%s, which the project links by choice, is %s" % (pkg, lic))
                self.assertIn(pkg, REVIEWED, "%s (%s) is under %s, which the policy does not allow"
                              % (pkg, seen[pkg], lic))
                self.assertEqual(REVIEWED[pkg][0], lic, "%s's license changed since it was reviewed" % pkg)

    def test_reuse_lint(self):
        if shutil.which("reuse") is None:
            self.skipTest("reuse is not installed (Debian package reuse)")
        src = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
        if not os.path.isdir(os.path.join(src, ".git")):
            self.skipTest("not a git checkout (a release tarball): reuse lint reads the repository")
        r = subprocess.run(["reuse", "--root", src, "lint"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:])


if __name__ == "__main__":
    harness.main()
