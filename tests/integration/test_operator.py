# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The operator commands: brokerd --check, --health, --ready, --smoke-e2e and --tools.

--health and --smoke-e2e start the real broker (children, IPC, sandbox,
policy, audit) and drive it as an MCP client; --ready has tokend obtain a
token for each allowed resource, against tests/fixtures/mock_entra.py on
127.0.0.1 outside smoke mode.  Each prints one line per step and exits 0
only when every step passed.  The failure cases prove the steps can fail: a
broker that cannot start, a policy that refuses the calls, a rejected
secret, a login endpoint nobody serves.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

mock_entra = harness.import_mock_entra()

SRC = os.environ.get("MAB_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EX_USAGE = 64
EX_CONFIG = 78
HEALTH_STEPS = ["configuration", "initialize", "ping", "tools/list", "describe", "shutdown"]
SMOKE_STEPS = ["configuration", "initialize", "ping", "tools/list", "describe (cold)", "execute", "execute (cached)",
               "policy deny", "describe (warm)", "shutdown"]
# Two spaces or more separate a step's verdict, name and detail.
STEP_WIDTH = 18
TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
# Random per run, so that a leak check cannot pass by luck.
SECRET = "mab-operator-secret~" + os.urandom(12).hex()

PKI = None
_PKI_ROOT = None


def setUpModule():
    global PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-operator-pki-")
    PKI = mock_entra.make_pki(_PKI_ROOT)


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


def parse_steps(out):
    """[(verdict, step, detail)] and the summary line of a check's stdout."""
    lines = out.rstrip("\n").split("\n")
    steps = []
    for line in lines[:-1]:
        verdict, rest = line[:4].strip(), line[6:]
        steps.append((verdict, rest[:STEP_WIDTH].strip(), rest[STEP_WIDTH:].strip()))
    return steps, lines[-1]


class socket_on_free_port:
    """A loopback port bound but never listened on: connections are refused."""

    def __enter__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


class OperatorTests(harness.BrokerTestCase):
    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="mab-operator-")
        self.audit = os.path.join(self.scratch, "audit.jsonl")

    def tearDown(self):
        shutil.rmtree(self.scratch, ignore_errors=True)

    def run_check(self, args, env=None):
        status, out, err = harness.run_once(self.stage, args, env, timeout=120)
        self.assert_nothing_left()
        return status, out, err

    def assert_nothing_left(self):
        """No process started from this stage survives the check."""
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if self.stage.root.encode() in cmdline and harness.proc_stat(int(pid)) is not None:
                left.append((pid, cmdline))
        self.assertEqual(left, [], "processes left behind")

    def assert_steps(self, out, names, failed=(), may_warn=()):
        steps, summary = parse_steps(out)
        self.assertEqual([s[1] for s in steps], names, out)
        for verdict, name, detail in steps:
            if name in may_warn and verdict == "warn":
                continue
            self.assertEqual(verdict, "fail" if name in failed else "ok", "%s: %s\n%s" % (name, detail, out))
        return dict((s[1], s[2]) for s in steps), summary

    # ---- --smoke-e2e ---------------------------------------------------------

    def test_smoke_e2e_runs_every_step_through_the_real_processes(self):
        status, out, err = self.run_check(["--smoke-e2e"], {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit})
        self.assertEqual(status, 0, out + err)
        details, summary = self.assert_steps(out, SMOKE_STEPS)
        self.assertEqual(summary, "smoke-e2e: ok (10 passed, 0 failed)")
        self.assertRegex(details["configuration"], r"^env smoke, tenant [0-9a-f-]{36}, policy [0-9a-f]{16}$")
        self.assertIn("token cache empty", details["describe (cold)"])
        self.assertIn("token source minted", details["execute"])
        self.assertIn("token source cache", details["execute (cached)"])
        self.assertIn("token cache valid", details["describe (warm)"])
        # The calls went through policy and audit like any client's.
        # Every call, the two describes included (issue 9 item 7).
        records = harness.audit_records(self.audit, "tool_call")
        executes = [r for r in records if r["tool"] == harness.EXECUTE_TOOL]
        # The cached call gives only method and path: its requester is the
        # session's peer (the checker), its request id generated.
        peer = "uid:%d/pid:%d" % (executes[1]["peer_uid"], executes[1]["peer_pid"])
        self.assertEqual([(r["requester_id"], r["outcome"], r.get("token_source")) for r in executes],
                         [("brokerd-selfcheck", "ok", "minted"), (peer, "ok", "cache"),
                          ("brokerd-selfcheck", "policy.denied", None)], records)
        self.assertRegex(executes[1]["request_id"], r"^req-[0-9a-f]{16}$")
        self.assertEqual(executes[2]["reason"], "policy.rule.deny.path.unsafe")
        describes = [r for r in records if r["tool"] == harness.DESCRIBE_TOOL]
        self.assertEqual([(r["decision"], r["outcome"]) for r in describes], [("allow", "ok")] * 2, records)
        self.assertEqual(len(records), 5, records)
        # Marked as a self-check, with the checker (not its parent) as the peer.
        self.assertEqual({r.get("selfcheck") for r in records}, {"smoke-e2e"})
        self.assertNotIn(os.getpid(), {r["peer_pid"] for r in records})
        self.assertEqual(harness.find_secrets(out.encode()), [], out)
        # The README shows this output: it must be what the command prints.
        with open(os.path.join(SRC, "README.md")) as f:
            readme = f.read()
        shown = readme.split("$ brokerd --smoke-e2e 2>/dev/null\n", 1)[1].split("```", 1)[0]
        self.assertEqual(shown, out, "README.md's --smoke-e2e example differs from the output")

    def test_smoke_e2e_is_smoke_whatever_the_environment_says(self):
        # prod would need a tenant, a client, resources and scopes: smoke does not.
        status, out, err = self.run_check(["--smoke-e2e"], {"MCP_AUTH_BROKER_ENV": "prod"})
        self.assertEqual(status, 0, out + err)
        self.assert_steps(out, SMOKE_STEPS)

    def test_smoke_e2e_fails_when_policy_refuses_the_calls(self):
        status, out, err = self.run_check(["--smoke-e2e"], {"MCP_AUTH_BROKER_ALLOWED_PATHS": "/v1.0/users"})
        self.assertEqual(status, 1, out + err)
        details, summary = self.assert_steps(out, SMOKE_STEPS,
                                             failed=("execute", "execute (cached)", "describe (warm)"))
        self.assertTrue(details["execute"].startswith("policy.denied: "), details["execute"])
        self.assertIn("expected valid", details["describe (warm)"])
        self.assertEqual(summary, "smoke-e2e: FAILED (7 passed, 3 failed)")

    # ---- --health ------------------------------------------------------------

    def test_health_checks_the_broker_and_its_children(self):
        status, out, err = self.run_check(["--health"])
        self.assertEqual(status, 0, out + err)
        details, summary = self.assert_steps(out, HEALTH_STEPS)
        self.assertEqual(summary, "health: ok (6 passed, 0 failed)")
        self.assertTrue(details["configuration"].startswith("env smoke, "), details["configuration"])
        self.assertIn("tokend answered", details["describe"])
        self.assertIn("exited 0", details["shutdown"])

    def test_self_checks_follow_the_listed_names(self):
        # With the original names listed, the checks look for them and call them.
        env = {"MCP_AUTH_BROKER_TOOL_NAMES": "original"}
        for args, steps in ((["--health"], HEALTH_STEPS), (["--smoke-e2e"], SMOKE_STEPS)):
            status, out, err = self.run_check(args, env)
            self.assertEqual(status, 0, out + err)
            details, _ = self.assert_steps(out, steps)
            self.assertEqual(details["tools/list"],
                             "%s, %s" % (harness.ORIGINAL_EXECUTE_TOOL, harness.ORIGINAL_DESCRIBE_TOOL))
        status, out, err = self.run_check(["--health"])
        self.assertEqual(status, 0, out + err)
        details, _ = self.assert_steps(out, HEALTH_STEPS)
        self.assertEqual(details["tools/list"], "%s, %s" % (harness.EXECUTE_TOOL, harness.DESCRIBE_TOOL))

    def test_health_needs_no_network_outside_smoke_mode(self):
        mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
        self.addCleanup(mock.stop)
        mock.start()
        secret = os.path.join(self.scratch, "client-secret")
        harness.write_secret_file(secret, SECRET)
        env = harness.dev_env(mock.base_url, [mock.base_url], PKI.ca_file, secret, TENANT, CLIENT_ID)
        status, out, err = self.run_check(["--health"], env)
        self.assertEqual(status, 0, out + err)
        details, _ = self.assert_steps(out, HEALTH_STEPS)
        self.assertTrue(details["configuration"].startswith("env dev, tenant %s, " % TENANT), details)
        self.assertIn("token cache empty for %s" % mock.base_url, details["describe"])
        self.assertEqual((mock.token_requests(), mock.graph_requests()), ([], []),
                         "--health reached the login endpoint or Graph")

    def assert_check_holds_no_credential(self, args, env, markers):
        """Runs a check whose tokend waits on a FIFO until the test has
        searched /proc/PID/environ of the checker and of brokerd for each
        marker, then lets it finish; the check must still pass."""
        held = harness.stage()
        self.addCleanup(held.remove)
        real = os.path.join(held.root, "tokend.real")
        gate = os.path.join(held.root, "tokend.gate")
        os.mkfifo(gate)
        os.rename(os.path.join(held.libexecdir, "tokend"), real)
        with open(os.path.join(held.libexecdir, "tokend"), "w") as f:
            f.write("#!/bin/sh\nread go < '%s'\nexec '%s' \"$@\"\n" % (gate, real))
        os.chmod(os.path.join(held.libexecdir, "tokend"), 0o755)
        proc = subprocess.Popen([held.brokerd] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=harness.base_env(held, env))
        try:
            checker = proc.pid
            self.assertTrue(harness.wait_until(lambda: "brokerd" in harness.children_of(checker), timeout=10))
            broker = harness.children_of(checker)["brokerd"]
            # tokend is blocked on the gate, so the check cannot be over.
            self.assertTrue(harness.wait_until(lambda: harness.children_of(broker).get("tokend")
                                               or "sh" in harness.children_of(broker), timeout=10))

            def environ(pid):
                with open("/proc/%d/environ" % pid, "rb") as f:
                    return f.read()

            for marker in markers:
                for who, pid in (("the checker", checker), ("brokerd", broker)):
                    self.assertTrue(harness.wait_until(lambda: marker.encode() not in environ(pid), timeout=2),
                                    "a credential is still in %s's /proc/PID/environ" % who)
            self.assertIsNone(proc.poll())
        finally:
            fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK) if proc.poll() is None else None
            if fd is not None:
                os.write(fd, b"go\n")
                os.close(fd)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
        self.assertEqual(proc.returncode, 0, out.decode() + err.decode())
        for marker in markers:
            self.assertNotIn(marker.encode(), out + err)

    def test_health_checker_holds_no_credential(self):
        """The checking half drops OP_SERVICE_ACCOUNT_TOKEN as it forks; the
        broker half takes it as any brokerd does."""
        marker = "ops_operator-marker-" + os.urandom(12).hex()
        self.assert_check_holds_no_credential(["--health"], {"OP_SERVICE_ACCOUNT_TOKEN": marker}, [marker])

    def test_smoke_e2e_leaves_no_real_secret_around(self):
        """An env-provider secret, which smoke mode does not use, is wiped
        from both halves too."""
        op_marker = "ops_operator-marker-" + os.urandom(12).hex()
        secret_marker = "operator-env-secret~" + os.urandom(12).hex()
        self.assert_check_holds_no_credential(["--smoke-e2e"], {
            "MCP_AUTH_BROKER_ENV": "prod", "MCP_AUTH_BROKER_SECRET_PROVIDER": "env",
            "MCP_AUTH_BROKER_GRAPH_SECRET_REF": "GRAPH_CLIENT_SECRET", "GRAPH_CLIENT_SECRET": secret_marker,
            "OP_SERVICE_ACCOUNT_TOKEN": op_marker}, [op_marker, secret_marker])

    def test_health_with_stdin_closed(self):
        # A closed descriptor 0 must not become the socketpair or the signalfd.
        st = self.stage
        proc = subprocess.Popen("exec 0<&- && exec '%s' --health" % st.brokerd, shell=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness.base_env(st))
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, out.decode() + err.decode())
        self.assertTrue(out.decode().rstrip().endswith("health: ok (6 passed, 0 failed)"), out)

    def test_an_unusable_audit_file_stops_a_check_before_any_step(self):
        os.mkdir(os.path.join(self.scratch, "a-directory"))
        for args in (["--health"], ["--smoke-e2e"], ["--ready"]):
            status, out, err = self.run_check(args, {"MCP_AUTH_BROKER_AUDIT_FILE":
                                                     os.path.join(self.scratch, "a-directory")})
            self.assertEqual((status, out), (EX_CONFIG, ""), args)
            self.assertIn("MCP_AUTH_BROKER_AUDIT_FILE", err, args)

    def test_health_fails_when_the_broker_cannot_start(self):
        empty = os.path.join(self.scratch, "no-children")
        os.mkdir(empty)
        status, out, err = self.run_check(["--health"], {"MCP_AUTH_BROKER_LIBEXECDIR": empty})
        os.rmdir(empty)
        self.assertEqual(status, 1, out + err)
        details, summary = self.assert_steps(out, ["configuration", "initialize", "shutdown"],
                                             failed=("initialize", "shutdown"))
        self.assertEqual(details["initialize"], "the broker closed the session")
        self.assertEqual(details["shutdown"], "brokerd exited 1 (its log is on stderr)")
        self.assertEqual(summary, "health: FAILED (1 passed, 2 failed)")
        self.assertIn("cannot run %s/secretd" % empty, err)

    def test_bad_configuration_stops_before_any_check(self):
        status, out, err = self.run_check(["--health"], {"MCP_AUTH_BROKER_ENV": "prod"})
        self.assertEqual(status, EX_CONFIG, err)
        self.assertEqual(out, "")
        self.assertIn("MCP_AUTH_BROKER_TENANT_ID", err)

    def test_checks_run_on_their_own(self):
        for args in (["--health", "--listen", "/tmp/x"], ["--smoke-e2e", "--connect", "/tmp/x"],
                     ["--ready", "--listen", "/tmp/x"]):
            status, out, err = harness.run_once(self.stage, args)
            self.assertEqual(status, EX_USAGE, args)
            self.assertEqual(out, "", args)
            self.assertIn("run on their own: no --listen or --connect", err, args)
        for args in (["--health", "--smoke-e2e"], ["--ready", "--health"], ["--check", "--ready"],
                     ["--health", "--tools"], ["--tools", "--check"]):
            status, out, err = harness.run_once(self.stage, args)
            self.assertEqual(status, EX_USAGE, args)
            self.assertEqual(out, "", args)
            self.assertIn("exclude each other", err, args)
        for args in (["--tools", "--bogus"], ["--tools", "extra"]):
            status, out, err = harness.run_once(self.stage, args)
            self.assertEqual((status, out), (EX_USAGE, ""), args)

    # ---- --check -------------------------------------------------------------

    def seccomp_built(self):
        status, out, _ = harness.run_once(self.stage, ["--version"])
        self.assertEqual(status, 0)
        return "seccomp: yes" in out

    def test_check_passes_on_a_good_configuration_and_starts_nothing(self):
        status, out, err = self.run_check(["--check"], {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit})
        seccomp = self.seccomp_built()
        self.assertEqual(status, 0 if seccomp else 1, out + err)
        steps, _ = parse_steps(out)
        landlock = [v for v, n, _ in steps if n == "landlock"]
        details, summary = self.assert_steps(
            out, ["configuration", "secret provider", "secretd", "tokend", "seccomp"]
            + (["landlock"] if seccomp else []) + ["audit"],
            failed=() if seccomp else ("seccomp",), may_warn=("landlock",))
        self.assertRegex(details["configuration"], r"^env smoke, tenant [0-9a-f-]{36}, 1 resource, 1 scope, "
                                                   r"policy [0-9a-f]{16}$")
        self.assertEqual(details["secretd"], os.path.join(self.stage.libexecdir, "secretd") + " is executable")
        self.assertEqual(details["audit"], self.audit + " will be created (0600)")
        self.assertFalse(os.path.exists(self.audit), "--check created the audit file")
        self.assertEqual(summary, "check: ok (7 passed, 0 failed)" if seccomp
                         else "check: FAILED (5 passed, 1 failed)")
        if landlock == ["ok"]:
            self.assertRegex(details["landlock"], r"^ABI \d+: tokend reads only beneath /etc, /usr and /lib$")
        self.assertEqual(err, "", "--check logs nothing: its lines are its report")

    def test_check_reports_every_problem_on_its_own_line(self):
        empty = os.path.join(self.scratch, "no-children")
        os.mkdir(empty)
        status, out, err = self.run_check(["--check"], {"MCP_AUTH_BROKER_ENV": "prod",
                                                         "MCP_AUTH_BROKER_LIBEXECDIR": empty})
        self.assertEqual(status, 1, out + err)
        steps, summary = parse_steps(out)
        problems = [d for v, n, d in steps if v == "fail" and n == "configuration"]
        self.assertEqual([p.split(":")[0] for p in problems],
                         ["MCP_AUTH_BROKER_TENANT_ID", "MCP_AUTH_BROKER_GRAPH_CLIENT_ID",
                          "MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES", "MCP_AUTH_BROKER_ALLOWED_SCOPES"])
        # The children's programs are checked even so, where the variable says.
        for name in ("secretd", "tokend"):
            self.assertIn(("fail", name, "%s/%s: No such file or directory; install secretd and tokend there, "
                           "or point MCP_AUTH_BROKER_LIBEXECDIR at them" % (empty, name)), steps)
        # Each problem says what to do about it.
        self.assertTrue(all(d.endswith("; correct or unset the variable (mcp-auth-broker.conf(5) lists each)")
                            for d in problems), problems)
        self.assertTrue(summary.startswith("check: FAILED ("), summary)

    def test_check_reports_every_kind_of_problem_in_one_run(self):
        # A bad value and an unusable audit directory: both, not the first only.
        status, out, err = self.run_check(["--check"], {
            "MCP_AUTH_BROKER_TOKEN_MAX_TTL_SECONDS": "5",
            "MCP_AUTH_BROKER_AUDIT_FILE": os.path.join(self.scratch, "gone", "audit.log")})
        self.assertEqual(status, 1, out + err)
        steps, summary = parse_steps(out)
        failed = [(n, d) for v, n, d in steps if v == "fail" and n != "seccomp"]
        self.assertEqual([n for n, _ in failed], ["configuration", "audit"], out)
        self.assertTrue(failed[0][1].startswith("MCP_AUTH_BROKER_TOKEN_MAX_TTL_SECONDS: 5 is out of range"), out)
        self.assertIn("cannot be created", failed[1][1])
        self.assertIn("; create the directory", failed[1][1])

    def real_env(self, extra):
        secret_file = os.path.join(self.scratch, "client-secret")
        harness.write_secret_file(secret_file, SECRET)
        return harness.dev_env("https://127.0.0.1:9", ["https://127.0.0.1:9"], PKI.ca_file, secret_file,
                               TENANT, CLIENT_ID, extra)

    def test_check_warns_of_setups_that_cannot_be_meant(self):
        not_pem = os.path.join(self.scratch, "ca.der")
        with open(not_pem, "wb") as f:
            f.write(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        status, out, err = self.run_check(["--check"], self.real_env({
            "MCP_AUTH_BROKER_ENV": "prod", "MCP_AUTH_BROKER_SECRET_PROVIDER": "env",
            "MCP_AUTH_BROKER_GRAPH_SECRET_REF": "GRAPH_SECRET", "GRAPH_SECRET": "x",
            "MCP_AUTH_BROKER_TENANT_ID": "00000000-0000-0000-0000-000000000000",
            "MCP_AUTH_BROKER_GRAPH_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
            "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true", "MCP_AUTH_BROKER_CA_FILE": not_pem}))
        steps, summary = parse_steps(out)
        warns = dict((n, d) for v, n, d in steps if v == "warn" and n != "landlock")
        self.assertEqual(sorted(warns), ["CA file", "client id", "mutations", "secret provider", "tenant"], out)
        self.assertIn("MCP_AUTH_BROKER_SECRET_PROVIDER=env is a development provider, and MCP_AUTH_BROKER_ENV is prod",
                      warns["secret provider"])
        self.assertIn("00000000-0000-0000-0000-000000000000 is a placeholder", warns["tenant"])
        self.assertIn("00000000-0000-0000-0000-000000000000 is a placeholder", warns["client id"])
        self.assertIn("no MCP_AUTH_BROKER_ALLOWED_PATHS", warns["mutations"])
        self.assertIn("; set MCP_AUTH_BROKER_ALLOWED_PATHS", warns["mutations"])
        self.assertIn("does not parse as PEM certificates", warns["CA file"])
        # Warnings pass.
        self.assertEqual(status, 0 if self.seccomp_built() else 1, out)

    def test_check_parses_the_ca_file(self):
        status, out, err = self.run_check(["--check"], self.real_env({
            "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users"}))
        steps, _ = parse_steps(out)
        self.assertIn(("ok", "CA file", "%s is readable: 1 PEM certificate" % PKI.ca_file), steps)
        self.assertEqual([n for v, n, _ in steps if v == "warn" and n != "landlock"], [], out)
        with open(os.path.join(self.scratch, "key.pem"), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
        status, out, err = self.run_check(["--check"], self.real_env({
            "MCP_AUTH_BROKER_CA_FILE": os.path.join(self.scratch, "key.pem")}))
        steps, _ = parse_steps(out)
        self.assertIn("no BEGIN CERTIFICATE block", dict((n, d) for v, n, d in steps if v == "warn")["CA file"])

    def test_check_json_is_the_same_report_as_one_document(self):
        env = {"MCP_AUTH_BROKER_TOKEN_MAX_TTL_SECONDS": "5", "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "yes",
               "MCP_AUTH_BROKER_AUDIT_FILE": os.path.join(self.scratch, "gone", "audit.log")}
        status, out, _ = self.run_check(["--check"], env)
        jstatus, jout, jerr = self.run_check(["--check", "--json"], env)
        self.assertEqual((jstatus, jerr), (status, ""))
        doc = json.loads(jout)
        steps, summary = parse_steps(out)
        self.assertEqual(doc["command"], "check")
        self.assertEqual(doc["status"], "failed")
        counts = re.fullmatch(r"check: FAILED \((\d+) passed, (\d+) failed\)", summary)
        self.assertEqual((doc["passed"], doc["failed"]), (int(counts[1]), int(counts[2])), summary)
        self.assertEqual([(c["verdict"], c["check"]) for c in doc["checks"]], [(v, n) for v, n, _ in steps])
        for c, (_, _, d) in zip(doc["checks"], steps):
            self.assertEqual(d, c["detail"] + ("; " + c["hint"] if "hint" in c else ""))
        self.assertEqual(doc["warnings"], len([c for c in doc["checks"] if c["verdict"] == "warn"]))
        self.assertTrue(all(set(c) <= {"verdict", "check", "detail", "hint"} for c in doc["checks"]))

    def test_check_reports_provider_ca_and_audit_problems(self):
        env = harness.dev_env("https://127.0.0.1:9", ["https://127.0.0.1:9"],
                              os.path.join(self.scratch, "missing-ca.pem"), "op://Infra/graph/secret",
                              TENANT, CLIENT_ID, {
                                  "MCP_AUTH_BROKER_SECRET_PROVIDER": "1password",
                                  "MCP_AUTH_BROKER_OP_PATH": os.path.join(self.scratch, "no-op"),
                                  "MCP_AUTH_BROKER_AUDIT_FILE": os.path.join(self.scratch, "gone", "audit.log")})
        status, out, err = self.run_check(["--check"], env)
        self.assertEqual(status, 1, out + err)
        steps, _ = parse_steps(out)
        failed = dict((n, d) for v, n, d in steps if v == "fail" and n != "seccomp")
        self.assertEqual(sorted(failed), ["CA file", "audit", "secret provider"], out)
        self.assertIn("MCP_AUTH_BROKER_OP_PATH", out)
        self.assertIn("OP_SERVICE_ACCOUNT_TOKEN", out)
        self.assertIn("missing-ca.pem: No such file or directory", failed["CA file"])
        self.assertIn("cannot be created", failed["audit"])

    def test_check_warns_of_an_op_others_of_the_user_can_read(self):
        op = os.path.join(self.scratch, "op")
        with open(op, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(op, 0o755)
        secret_file = os.path.join(self.scratch, "unused")
        env = harness.dev_env("https://127.0.0.1:9", ["https://127.0.0.1:9"], None, secret_file, TENANT, CLIENT_ID, {
            "MCP_AUTH_BROKER_CA_FILE": None, "MCP_AUTH_BROKER_SECRET_PROVIDER": "1password",
            "MCP_AUTH_BROKER_GRAPH_SECRET_REF": "op://Infra/graph/secret", "MCP_AUTH_BROKER_OP_PATH": op,
            "OP_SERVICE_ACCOUNT_TOKEN": "ops_operator-check"})
        status, out, err = self.run_check(["--check"], env)
        steps, summary = parse_steps(out)
        self.assertIn(("warn", "op binary"), [(v, n) for v, n, _ in steps], out)
        self.assertIn("install it execute-only, owned by root (chmod 0711)", out)
        self.assertNotIn("ops_operator-check", out + err)
        # A warning is not a failure.
        self.assertEqual((status, summary.split(":")[1].split("(")[0].strip()), (0, "ok") if self.seccomp_built()
                         else (1, "FAILED"), out)

    def test_check_refuses_an_audit_path_brokerd_would_not_open(self):
        os.mkdir(os.path.join(self.scratch, "dir"))
        os.symlink(os.path.join(self.scratch, "elsewhere"), os.path.join(self.scratch, "dangling"))
        with open(os.path.join(self.scratch, "real.log"), "w"):
            pass
        os.symlink(os.path.join(self.scratch, "real.log"), os.path.join(self.scratch, "link.log"))
        os.mkfifo(os.path.join(self.scratch, "fifo"))  # nobody reads it: must not hang either
        for name, want in (("dir", "is not a regular file"), ("dangling", "(a symbolic link, which is not followed)"),
                           ("link.log", "(a symbolic link, which is not followed)"), ("fifo", "is not a regular file")):
            path = os.path.join(self.scratch, name)
            status, out, err = self.run_check(["--check"], {"MCP_AUTH_BROKER_AUDIT_FILE": path})
            steps, _ = parse_steps(out)
            self.assertIn(("fail", "audit"), [(v, n) for v, n, _ in steps], out)
            self.assertIn(want, out, name)
            self.assertEqual(status, 1, out)
            # ...as the broker itself does.
            status, _, err = harness.run_once(self.stage, [], {"MCP_AUTH_BROKER_AUDIT_FILE": path})
            self.assertEqual(status, EX_CONFIG, name + err)

    # ---- --ready -------------------------------------------------------------

    def test_ready_reports_missing_children_as_a_failed_check(self):
        empty = os.path.join(self.scratch, "no-children")
        os.mkdir(empty)
        status, out, err = self.run_check(["--ready"], {"MCP_AUTH_BROKER_LIBEXECDIR": empty})
        self.assertEqual(status, 1, out + err)
        details, summary = self.assert_steps(out, ["secretd", "tokend"], failed=("secretd", "tokend"))
        self.assertTrue(details["secretd"].startswith("%s/secretd: No such file or directory; " % empty))
        self.assertEqual(summary, "ready: FAILED (0 passed, 2 failed)")

    def test_ready_in_smoke_mode(self):
        status, out, err = self.run_check(["--ready"], {"MCP_AUTH_BROKER_AUDIT_FILE": self.audit})
        self.assertEqual(status, 0, out + err)
        details, summary = self.assert_steps(out, ["token", "secret", "credentials"], may_warn=("credentials",))
        self.assertRegex(details["token"], r"^https://graph\.microsoft\.com: minted Bearer token, "
                                           r"expires \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(details["secret"], r"^fingerprint [0-9a-f]{16} \(provider smoke\)$")
        # Said plainly: smoke mode proves no credential.
        self.assertEqual(parse_steps(out)[0][2][0], "warn")
        self.assertIn("smoke mode: the built-in secret and token were used; no credential was proved",
                      details["credentials"])
        self.assertEqual(summary, "ready: ok (3 passed, 0 failed)")
        records = harness.audit_records(self.audit, "ready_check")
        self.assertEqual([(r["resource"], r["outcome"], r["token_source"]) for r in records],
                         [("https://graph.microsoft.com", "ok", "minted")])
        self.assertEqual(harness.audit_records(self.audit, "tool_call"), [])

    def ready_against_mock(self, secret, resources=1, authority=None, roles=("User.Read.All",), scopes=None,
                           args=("--ready",)):
        """--ready in dev mode against a fresh mock expecting SECRET; the
        secret file holds secret; the tokens carry roles (None: opaque
        tokens).  Returns (status, details, summary, mock)."""
        mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
        self.addCleanup(mock.stop)
        mock.set_roles(roles)
        mock.start()
        extra = {"MCP_AUTH_BROKER_ALLOWED_SCOPES": scopes} if scopes else {}
        secret_file = os.path.join(self.scratch, "client-secret")
        harness.write_secret_file(secret_file, secret)
        urls = [mock.base_url, mock.localhost_url][:resources]
        # Generous: under valgrind each TLS handshake takes seconds; the
        # refused connection below fails at once anyway.
        extra["MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS"] = "30"
        status, out, err = self.run_check(list(args), harness.dev_env(
            authority or mock.base_url, urls, PKI.ca_file, secret_file, TENANT, CLIENT_ID, extra))
        self.ready_out = out
        needles = [SECRET, secret, mock_entra.TOKEN_PREFIX] + mock.issued_tokens()
        self.assertEqual(harness.find_needles((out + err).encode(), needles), [], "secret or token in the output")
        self.assertEqual(mock.graph_requests(), [], "--ready must not call Graph")
        steps, summary = parse_steps(out)
        return status, steps, summary, mock

    def test_ready_obtains_a_token_per_resource_and_never_calls_graph(self):
        status, steps, summary, mock = self.ready_against_mock(SECRET, resources=2)
        self.assertEqual(status, 0, steps)
        self.assertEqual([(v, n) for v, n, _ in steps], [("ok", "token"), ("ok", "roles"), ("ok", "token"),
                                                         ("ok", "roles"), ("ok", "secret")])
        self.assertIn("%s: minted Bearer token" % mock.base_url, steps[0][2])
        self.assertEqual("%s: the token's roles are exactly MCP_AUTH_BROKER_ALLOWED_SCOPES" % mock.base_url,
                         steps[1][2])
        self.assertIn("%s: minted Bearer token" % mock.localhost_url, steps[2][2])
        self.assertRegex(steps[4][2], r"^fingerprint [0-9a-f]{16} \(provider file\)$")
        self.assertEqual(len(mock.token_requests()), 2)
        self.assertEqual(summary, "ready: ok (5 passed, 0 failed)")

    def test_ready_names_roles_no_call_can_use_and_scopes_the_app_lacks(self):
        status, steps, summary, mock = self.ready_against_mock(
            SECRET, roles=["User.Read.All", "Mail.ReadWrite", "Sites.FullControl.All"],
            scopes="user.read.all Group.Read.All")
        self.assertEqual(status, 0, steps)  # warnings: the broker works, with more privilege than it needs
        self.assertEqual([(v, n) for v, n, _ in steps], [("ok", "token"), ("warn", "roles"), ("warn", "scopes"),
                                                         ("ok", "secret")])
        self.assertEqual(steps[1][2], "%s: the app holds roles no allowed call can use: Mail.ReadWrite, "
                         "Sites.FullControl.All; remove them from the app registration (API permissions) and "
                         "revoke their consent, or add to MCP_AUTH_BROKER_ALLOWED_SCOPES the ones calls need"
                         % mock.base_url)
        self.assertTrue(steps[2][2].startswith("%s: MCP_AUTH_BROKER_ALLOWED_SCOPES allows Group.Read.All, which "
                                               "the app lacks: calls will get 403; " % mock.base_url), steps[2][2])

    def test_ready_warns_when_the_token_has_no_roles(self):
        status, steps, summary, mock = self.ready_against_mock(SECRET, roles=None)
        self.assertEqual([(v, n) for v, n, _ in steps], [("ok", "token"), ("warn", "roles"), ("ok", "secret")])
        self.assertIn("the token carries no roles claim: least privilege not checked", steps[1][2])

    def test_ready_json_is_the_same_report_as_one_document(self):
        status, steps, summary, mock = self.ready_against_mock(SECRET, roles=["User.Read.All", "Mail.Send"],
                                                               args=("--ready", "--json"))
        self.assertEqual(status, 0)
        doc = json.loads(self.ready_out)
        self.assertEqual((doc["command"], doc["status"], doc["passed"], doc["failed"], doc["warnings"]),
                         ("ready", "ok", 3, 0, 1))
        self.assertEqual([(c["verdict"], c["check"]) for c in doc["checks"]],
                         [("ok", "token"), ("warn", "roles"), ("ok", "secret")])
        self.assertIn("Mail.Send", doc["checks"][1]["detail"])
        self.assertIn("remove them from the app registration", doc["checks"][1]["hint"])

    def test_ready_fails_on_a_rejected_secret(self):
        status, steps, summary, mock = self.ready_against_mock("not-the-secret~" + os.urandom(6).hex())
        self.assertEqual(status, 1, steps)
        self.assertEqual(steps[0][:2], ("fail", "token"))
        self.assertTrue(steps[0][2].startswith("%s: provider.auth_failed: " % mock.base_url), steps[0][2])
        # The secret was read (its fingerprint is what an operator compares after a rotation).
        self.assertEqual(steps[1][:2], ("ok", "secret"))
        self.assertEqual(summary, "ready: FAILED (1 passed, 1 failed)")

    def test_ready_fails_when_nothing_serves_the_login_endpoint(self):
        with socket_on_free_port() as port:
            status, steps, summary, _ = self.ready_against_mock(SECRET, authority="https://127.0.0.1:%d" % port)
        self.assertEqual(status, 1, steps)
        self.assertEqual(steps[0][:2], ("fail", "token"))
        self.assertIn(": provider.unavailable: ", steps[0][2])
        self.assertEqual(summary, "ready: FAILED (1 passed, 1 failed)")

    # ---- --tools ---------------------------------------------------------------

    def test_tools_prints_what_tools_list_answers(self):
        # Missing children do not matter: --tools starts nothing.
        env = {"MCP_AUTH_BROKER_LIBEXECDIR": "/nonexistent"}
        status, out, err = harness.run_once(self.stage, ["--tools"], env)
        self.assertEqual(status, 0, err)
        printed = json.loads(out)
        broker = self.started(version="2025-11-25")
        listed = broker.request("tools/list")["result"]
        self.assertEqual(printed, {"tools": listed["tools"]})
        self.assertEqual(sorted(t["name"] for t in printed["tools"]),
                         sorted([harness.EXECUTE_TOOL, harness.DESCRIBE_TOOL]))

    def test_tools_follows_the_configuration(self):
        # Names and descriptions depend on it, so a bad one is refused as everywhere.
        status, _, err = harness.run_once(self.stage, ["--tools"], {"MCP_AUTH_BROKER_ENV": "nonsense"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_ENV", err)
        status, out, err = harness.run_once(self.stage, ["--tools"], {
            "MCP_AUTH_BROKER_TOOL_NAMES": "original", "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
        self.assertEqual(status, 0, err)
        tools = {t["name"]: t for t in json.loads(out)["tools"]}
        self.assertEqual(sorted(tools), sorted([harness.ORIGINAL_EXECUTE_TOOL, harness.ORIGINAL_DESCRIBE_TOOL]))
        self.assertIs(tools[harness.ORIGINAL_EXECUTE_TOOL]["annotations"]["readOnlyHint"], False)


class ClientExampleTests(harness.BrokerTestCase):
    """contrib/mcp-clients: the launch examples an operator copies into an MCP
    client's configuration work as written, paths aside."""

    def examples(self):
        folder = os.path.join(SRC, "contrib", "mcp-clients")
        found = {}
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name)) as f:
                doc = json.load(f)
            servers = doc.get("mcpServers") or doc.get("servers")
            self.assertTrue(servers, name)
            for server in servers.values():
                if server.get("type") == "http":
                    continue  # a remote broker: tests/integration/test_oauth.py
                if server["command"] == "docker":
                    continue  # the image: tests/integration/test_container.py
                self.assertEqual(os.path.basename(server["command"]), "brokerd", name)
                found.setdefault(name, []).append(server)
        self.assertGreaterEqual(len(found), 3)
        return found

    def test_connect_examples_reach_a_listening_broker(self):
        _, path = self.listening_broker()
        tried = 0
        for name, servers in self.examples().items():
            for server in servers:
                if "args" not in server:
                    continue
                self.assertEqual(server["args"][0], "--connect", name)
                self.assertEqual(len(server["args"]), 2, name)
                self.assertNotIn("env", server, "%s: the bridge reads no configuration" % name)
                bridge = self.start_broker(None, ["--connect", path])
                self.assertEqual(harness.initialize(bridge)["protocolVersion"], "2025-06-18", name)
                tried += 1
        self.assertGreaterEqual(tried, 2)

    def test_standalone_examples_pass_check_and_serve(self):
        scratch = tempfile.mkdtemp(prefix="mab-examples-")
        self.addCleanup(shutil.rmtree, scratch, True)
        tried = 0
        for name, servers in self.examples().items():
            for server in servers:
                env = dict(server.get("env", {}))
                if not env:
                    continue
                for key in env:
                    # Not OP_SERVICE_ACCOUNT_TOKEN, nor the env provider's secret.
                    self.assertTrue(key.startswith("MCP_AUTH_BROKER_"), "%s: %s" % (name, key))
                self.assertNotIn(env.get("MCP_AUTH_BROKER_SECRET_PROVIDER"), ("env",), name)
                # Site paths made local; everything else as written.
                env["MCP_AUTH_BROKER_GRAPH_SECRET_REF"] = os.path.join(scratch, "secret")
                harness.write_secret_file(env["MCP_AUTH_BROKER_GRAPH_SECRET_REF"], "example-secret")
                env["MCP_AUTH_BROKER_AUDIT_FILE"] = os.path.join(scratch, "audit.log")
                status, out, err = harness.run_once(self.stage, ["--check"], env)
                steps, _ = parse_steps(out)
                verdicts = dict((n, v) for v, n, _ in steps)
                self.assertEqual(verdicts.get("configuration"), "ok", out + err)
                self.assertEqual(verdicts.get("secret provider"), "ok", out + err)
                # And launched as the client would: it serves MCP.
                broker = self.start_broker(env)
                self.assertEqual(harness.initialize(broker)["protocolVersion"], "2025-06-18", name)
                self.assertEqual(len(broker.request("tools/list")["result"]["tools"]), 2, name)
                tried += 1
        self.assertGreaterEqual(tried, 1)


if __name__ == "__main__":
    harness.main()
