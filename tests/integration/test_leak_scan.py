# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Leak scan: no secret and no token anywhere a user or another process can see.

Every secret here is a marker value made for this run:
  * the 1Password service-account token   ops_MARKER_OPTOKEN_<random>
    (provider 1password, with tests/fake-op standing in for op);
  * the Graph client secret               MARKER_CLIENT_SECRET_<random>
    (through the file provider, through fake op, through the env provider,
    and a second one for rotation);
  * the access tokens the login endpoint mints: MARKER_ACCESS_TOKEN_<random>
    (tests/fixtures/mock_entra.py, token_prefix);
  * with the certificate credential, the private key (every base64 line of
    its PEM, made at test time) and every client assertion the login
    endpoint received (whole, and its signature part);
  * with the federated credential, every federated token written to the
    token file (whole and each of its three parts), whose claims carry
    MARKER_FEDERATED_TOKEN_<random> (a decoded token shows it in clear).
  * an encrypted key's passphrase        MARKER_PASSPHRASE_<random>
    (through the file provider and the env provider, and a wrong one).
  * remote callers over HTTP (AUTH_MODE hybrid): every bearer token the
    authorization-server stand-in signed (whole, claims part, signature
    part), whose name claim is MARKER_CALLER_TOKEN_<random>, and the API
    keys MARKER_API_KEY_<random> (a right one and a wrong one); these are
    also looked for in what reached Graph.

Then as many scenarios as run against the real processes -- successful calls
(minted, cached), every error path (policy, contract, login endpoint, Graph,
secret provider), rotation, describe, progress, cancellation, SIGTERM, a child
killed mid-call, the --connect bridge -- and after each, the markers (and
their random parts, so a cut prefix does not hide one) are looked for in
brokerd's stdout and stderr, in the audit file, and in /proc/PID/environ and
/proc/PID/cmdline of brokerd, tokend and secretd, read while they run (root
can read those of non-dumpable processes).

Each test also checks that the markers were really used (the mock saw the
secret, minted marker tokens, op got the marker token), so the scan is never
vacuous.  Nothing leaves 127.0.0.1; every wait has a deadline.

Python 3.9+, standard library only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
from harness import DESCRIBE_TOOL, EXECUTE_TOOL, BrokerTestCase, SocketClient, execute_args, tool_result  # noqa: E402

mock_entra = harness.import_mock_entra()

TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _rand():
    return os.urandom(10).hex()


# Random per run: a scan cannot pass by luck, and the random parts are
# needles of their own.
RAND = {name: _rand() for name in ("op", "v1", "v2", "env", "pass", "wrong")}
OP_TOKEN = "ops_MARKER_OPTOKEN_" + RAND["op"]
SECRET_V1 = "MARKER_CLIENT_SECRET_" + RAND["v1"]
SECRET_V2 = "MARKER_CLIENT_SECRET_" + RAND["v2"]
ENV_SECRET = "MARKER_CLIENT_SECRET_" + RAND["env"]
TOKEN_PREFIX = "MARKER_ACCESS_TOKEN_"
PASSPHRASE = "MARKER_PASSPHRASE_" + RAND["pass"]
WRONG_PASSPHRASE = "MARKER_PASSPHRASE_" + RAND["wrong"]
MARKERS = ["MARKER_", OP_TOKEN, SECRET_V1, SECRET_V2, ENV_SECRET, PASSPHRASE,
           WRONG_PASSPHRASE] + list(RAND.values())
OP_REF = "op://Infra/rotating/credential"

PKI = None
_PKI_ROOT = None


def setUpModule():
    global PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-leak-pki-")
    PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "pki"))


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=repr)[:3000]


class LeakCase(BrokerTestCase):
    """A mock login endpoint and Graph minting marker tokens, a scratch
    directory, an audit file; every brokerd started is scanned when it ends,
    and checkpoint() scans the environment of the running processes."""

    def setUp(self):
        self.scratch = sup.ScratchDir("mab-leak-")
        self.addCleanup(self.scratch.remove)
        self.audit = os.path.join(self.scratch.path, "audit.log")
        self.mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET_V1,
                                         token_prefix=TOKEN_PREFIX).start()
        self.addCleanup(self.mock.stop)
        self.environ_reads = 0

    # -- brokerd --------------------------------------------------------------

    def mock_env(self, provider_env, extra=None):
        env = dict(provider_env)
        env.update({
            "MCP_AUTH_BROKER_TENANT_ID": TENANT,
            "MCP_AUTH_BROKER_GRAPH_CLIENT_ID": CLIENT_ID,
            "MCP_AUTH_BROKER_AUTHORITY": self.mock.base_url,
            "MCP_AUTH_BROKER_ALLOWED_GRAPH_RESOURCES": "%s,%s" % (self.mock.base_url, self.mock.localhost_url),
            "MCP_AUTH_BROKER_CA_FILE": PKI.ca_file,
            "MCP_AUTH_BROKER_AUDIT_FILE": self.audit,
            "MCP_AUTH_BROKER_LOG_LEVEL": "debug",
        })
        env.update(extra or {})
        return env

    def file_env(self, extra=None):
        self.secret_file = os.path.join(self.scratch.path, "graph-client-secret")
        harness.write_secret_file(self.secret_file, SECRET_V1)
        return self.mock_env(sup.secretd_env("file", self.secret_file), extra)

    def op_env(self, ref=OP_REF, extra=None):
        self.op = sup.FakeOp(self.scratch)
        self.op.set_rotating(SECRET_V1)
        return self.mock_env(sup.secretd_env("1password", ref, {
            "MCP_AUTH_BROKER_OP_PATH": self.op.path,
            "OP_SERVICE_ACCOUNT_TOKEN": OP_TOKEN,
            "HOME": self.scratch.path,
        }), extra)

    def start_broker(self, env_overrides=None, args=()):
        holder = []
        self.addCleanup(self.scan_outputs, holder)  # runs after the broker's own cleanup
        broker = super().start_broker(env_overrides, args)
        holder.append(broker)
        return broker

    # -- the scan ---------------------------------------------------------------

    def needles(self):
        tokens = self.mock.issued_tokens()
        return MARKERS + tokens + [t[len(TOKEN_PREFIX):] for t in tokens]

    def assert_clean(self, what, data):
        found = harness.find_needles(data, self.needles())
        if found:
            raise harness.HarnessError("%s carries secret or token material %r" % (what, found))

    def checkpoint(self, broker):
        """/proc/PID/environ and cmdline of brokerd and its children, now."""
        pids = dict(broker.children(), brokerd=broker.pid)
        for name, pid in pids.items():
            for part in ("environ", "cmdline"):
                try:
                    with open("/proc/%d/%s" % (pid, part), "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue  # exited meanwhile
                except PermissionError:
                    raise harness.HarnessError("cannot read /proc/%d/%s: the scan needs root" % (pid, part))
                if part == "environ":
                    self.environ_reads += 1
                self.assert_clean("/proc/%d/%s of %s" % (pid, part, name), data)
        return pids

    def scan_outputs(self, holder):
        if not holder:
            return
        broker = holder[0]
        self.assert_clean("brokerd's stdout", broker.stdout_bytes())
        self.assert_clean("brokerd's stderr", broker.stderr_bytes())
        try:
            with open(self.audit, "rb") as f:
                self.assert_clean("the audit file", f.read())
        except FileNotFoundError:
            pass

    def assert_markers_used(self):
        """The scan proved something: the mock got the marker secret and
        minted marker tokens, and the environments were read."""
        ok = [r for r in self.mock.token_requests() if r.get("secret_ok")]
        self.assertTrue(ok, "the login endpoint never got the marker secret: %s" % dump(self.mock.token_requests()))
        issued = self.mock.issued_tokens()
        self.assertTrue(issued and all(t.startswith(TOKEN_PREFIX) for t in issued), issued)
        self.assertTrue(any(r["header_map"].get("authorization", "").startswith("Bearer " + TOKEN_PREFIX)
                            for r in self.mock.graph_requests()), "Graph never got a marker token")
        self.assertGreater(self.environ_reads, 0)

    # -- calls --------------------------------------------------------------------

    def args(self, request_id="req-1", resource=None, changes=None, timeout_ms=10000):
        base = {"graph.tenant_id": TENANT, "graph.resource": resource or self.mock.base_url,
                "request_id": request_id, "timeout_ms": timeout_ms}
        base.update(changes or {})
        return execute_args(base)

    def call(self, broker, request_id="req-1", **kw):
        return tool_result(broker.call_tool(EXECUTE_TOOL, self.args(request_id, **kw), timeout=30))["structuredContent"]

    def send_call(self, broker, request_id, meta=None, **kw):
        params = {"name": EXECUTE_TOOL, "arguments": self.args(request_id, **kw)}
        if meta:
            params["_meta"] = meta
        return broker.send_request("tools/call", params)

    def assert_ok(self, sc, request_id="req-1", http_status=200, source=None):
        self.assertEqual(sc.get("status"), "ok", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc["execution"]["http_status"], http_status, dump(sc))
        if source:
            self.assertEqual(sc["token"]["source"], source, dump(sc))
        self.assertNotIn("access_token", json.dumps(sc))
        return sc

    def assert_code(self, sc, codes, request_id="req-1"):
        codes = (codes,) if isinstance(codes, str) else codes
        self.assertEqual(sc.get("status"), "error", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertIn(sc.get("error", {}).get("code"), codes, dump(sc))
        return sc

    def describe(self, broker, resource=None):
        result = tool_result(broker.call_tool(DESCRIBE_TOOL, {"resource": resource or self.mock.base_url}))
        self.assertIs(result["isError"], False, dump(result))
        return result["structuredContent"]


class FileProviderTests(LeakCase):
    def test_every_path_in_one_session(self):
        broker = self.started(env_overrides=self.file_env({"MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS": "1"}))
        kids = broker.wait_children()
        self.checkpoint(broker)
        self.assertEqual(self.describe(broker)["cache"]["state"], "empty")

        # Successful calls: minted, then from the cache.
        self.assert_ok(self.call(broker), source="minted")
        self.assert_ok(self.call(broker, "req-2"), "req-2", source="cache")
        self.assertEqual(self.describe(broker)["cache"]["state"], "valid")
        self.checkpoint(broker)

        # Refused by the contract or by policy.
        for n, (changes, code) in enumerate((
                ({"graph.scopes": ["Mail.ReadWrite"]}, "policy.invalid_scope"),
                ({"operation.path": "/v1.0/../me"}, "policy.denied"),
                ({"graph.tenant_id": "33333333-3333-3333-3333-333333333333"}, "policy.denied"),
                ({"operation.method": "DELETE"}, "policy.denied"),
                ({"operation.headers": {"authorization": "Bearer x\r\nX: y"}}, "bad_request.invalid_field"),
                ({"operation.headers": {"prefer": "x\r\nAuthorization: Bearer y"}}, "policy.denied"),
                ({"operation.query": "x"}, "bad_request.invalid_field"),
                ({"timeout_ms": 5}, "bad_request.invalid_timeout"),
                ({"operation.action": "mint_token"}, "bad_request.unsupported_operation"))):
            rid = "req-deny-%d" % n
            self.assert_code(self.call(broker, rid, changes=changes), code, rid)

        # Graph: data, retries with progress, and failures.
        self.assert_ok(self.call(broker, "req-404", changes={"operation.path": "/v1.0/nope"}), "req-404", 404)
        self.mock.set_fault("graph", "429", count=1, retry_after=1)
        call_id = self.send_call(broker, "req-429", meta={"progressToken": "p-1"})
        progress = broker.recv(timeout=15)
        self.assertEqual(progress.get("method"), "notifications/progress", dump(progress))
        self.assert_ok(tool_result(broker.recv_response(call_id, timeout=15))["structuredContent"], "req-429")
        for fault, codes in (("garbage", "provider.bad_response"),
                             ("truncated", ("provider.bad_response", "provider.unavailable"))):
            self.mock.set_fault("graph", fault, count=1)
            self.assert_code(self.call(broker, "req-" + fault), codes, "req-" + fault)
        self.mock.revoke()
        self.assert_ok(self.call(broker, "req-401"), "req-401", 401)
        self.assert_ok(self.call(broker, "req-remint"), "req-remint", source="minted")
        self.checkpoint(broker)

        # The login endpoint failing, for a resource with nothing cached.
        other = self.mock.localhost_url
        # (A connection dropped twice: curl retries a request once when a
        # kept-alive connection turns out to be closed.)
        for fault, count, params, code in (("garbage", 1, {}, "provider.bad_response"),
                                           ("500", 1, {}, "provider.unavailable"),
                                           ("drop", 2, {}, "provider.unavailable"),
                                           ("slow", 1, {"delay": 3}, "provider.timeout"),
                                           ("429", 1, {"retry_after": 1}, "provider.rate_limited")):
            self.mock.set_fault("token", fault, count=count, **params)
            rid = "req-login-" + fault
            self.assert_code(self.call(broker, rid, resource=other), code, rid)
            self.mock.clear_faults("token")
        time.sleep(1.2)  # past Retry-After
        self.assert_ok(self.call(broker, "req-other", resource=other), "req-other", source="minted")
        self.assertEqual(self.describe(broker, other)["cache"]["state"], "valid")
        self.checkpoint(broker)

        # Rotation: the endpoint now wants V2, the file holds V2, and the
        # cached tokens are revoked so the next call must log in again.
        harness.write_secret_file(self.secret_file, SECRET_V2)
        self.mock.set_client_secret(SECRET_V2)
        self.mock.revoke()
        self.assert_ok(self.call(broker, "req-rot-401"), "req-rot-401", 401)
        self.assert_ok(self.call(broker, "req-rotated"), "req-rotated", source="minted")
        logged = [fp for fp, _ in sup.wait_for_fingerprint(broker, sup.fingerprint(SECRET_V2))]
        self.assertEqual(logged[-2:], [sup.fingerprint(SECRET_V1), sup.fingerprint(SECRET_V2)], logged)
        self.assertTrue(self.mock.token_requests()[-1]["secret_ok"], "V2 was not what was sent last")
        self.checkpoint(broker)

        # Cancellation of a call in Graph.
        self.mock.set_fault("graph", "slow", count=1, delay=10)
        broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": self.args("req-cancel")},
                            req_id="c-1")
        harness.wait_until(lambda: any(r.get("fault") == "slow" for r in self.mock.graph_requests()), 10)
        broker.notify("notifications/cancelled", {"requestId": "c-1", "reason": "leak scan"})
        self.assertTrue(harness.wait_until(lambda: "transfer aborted" in broker.stderr_text(), 5),
                        broker.stderr_text()[-2000:])
        self.checkpoint(broker)

        # SIGTERM with a call in flight: answered (retryable) after the grace
        # period of 0 s, and everything exits 0.
        self.mock.set_fault("graph", "slow", count=1, delay=10)
        term_id = self.send_call(broker, "req-term")
        harness.wait_until(lambda: len([r for r in self.mock.graph_requests() if r.get("fault") == "slow"]) == 2, 10)
        self.checkpoint(broker)
        os.kill(broker.pid, signal.SIGTERM)
        resp = broker.recv_response(term_id, timeout=20)
        self.assert_code(tool_result(resp)["structuredContent"], "provider.unavailable", "req-term")
        self.assertEqual(broker.read_to_eof(), [])
        self.assertEqual(broker.wait(timeout=20), 0, broker.stderr_text()[-2000:])
        harness.wait_until(lambda: not any(harness.pid_exists(p) for p in kids.values()), 5)

        self.assert_markers_used()
        outcomes = {r.get("outcome") for r in harness.audit_records(self.audit, "tool_call")}
        for expected in ("ok", "policy.denied", "provider.timeout", "provider.rate_limited", "cancelled"):
            self.assertIn(expected, outcomes)

    def started(self, version="2025-06-18", env_overrides=None):
        env = dict(env_overrides or {})
        env.setdefault("MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS", "0")
        return super().started(version, env)

    def test_rejected_secret_is_auth_failed(self):
        broker = self.started(env_overrides=self.file_env())
        self.mock.set_client_secret(SECRET_V2)  # the file still holds V1
        sc = self.call(broker)
        self.assert_code(sc, "provider.auth_failed")
        self.checkpoint(broker)
        # Rotated in place: picked up at the next rejection, or within the
        # secret cache time; here the endpoint takes V1 again.
        self.mock.set_client_secret(SECRET_V1)
        self.assert_ok(self.call(broker, "req-2"), "req-2", source="minted")
        self.checkpoint(broker)
        self.assert_markers_used()

    def test_tokend_killed_mid_call(self):
        broker = self.started(env_overrides=self.file_env())
        kids = broker.wait_children()
        self.assert_ok(self.call(broker), source="minted")
        self.mock.set_fault("graph", "slow", count=1, delay=10)
        call_id = self.send_call(broker, "req-slow")
        harness.wait_until(lambda: any(r.get("fault") == "slow" for r in self.mock.graph_requests()), 10)
        self.checkpoint(broker)
        os.kill(kids["tokend"], signal.SIGKILL)
        self.assert_code(tool_result(broker.recv_response(call_id))["structuredContent"],
                         "provider.unavailable", "req-slow")
        self.assertEqual(broker.wait(), 70, broker.stderr_text()[-2000:])
        self.assert_markers_used()


class CertificateTests(LeakCase):
    """The certificate credential: neither the key secretd holds nor the
    assertions it signs appear anywhere, through a login, a rejected login
    and a rotation."""

    def make_pem(self, name):
        key, crt = (os.path.join(self.scratch.path, name + ext) for ext in (".key", ".crt"))
        subprocess.run(("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "40", "-subj", "/CN=leak scan " + name),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, check=True)
        with open(key) as f:
            key_text = f.read()
        with open(crt) as f:
            crt_text = f.read()
        self.key_lines += [line for line in key_text.splitlines() if len(line) >= 40]
        return key_text + crt_text, crt

    def needles(self):
        sent = [r["assertion"] for r in self.mock.token_requests() if r.get("assertion")]
        return super().needles() + self.key_lines + sent + [a.split(".")[2] for a in sent]

    def test_key_and_assertions_never_leak(self):
        self.key_lines = []
        pem_a, crt_a = self.make_pem("a")
        pem_b, crt_b = self.make_pem("b")
        pem = os.path.join(self.scratch.path, "graph-client-certificate.pem")
        harness.write_secret_file(pem, pem_a)
        self.mock.set_client_certificate(crt_a)
        env = self.mock_env(sup.secretd_env("file", None, {
            "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "certificate",
            "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": pem,
        }))
        broker = self.started(env_overrides=env)
        self.assert_ok(self.call(broker), source="minted")
        self.checkpoint(broker)
        # Rotated: the file and the app registration hold b; the next login
        # is rejected once, then made with b.
        harness.write_secret_file(pem, pem_b)
        self.mock.set_client_certificate(crt_b)
        self.assert_ok(self.call(broker, "req-2", resource=self.mock.localhost_url), "req-2",
                       source="minted")
        self.checkpoint(broker)
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 401, 200], dump(reqs))
        self.assertTrue(all(r["assertion_ok"] for r in reqs if r["status"] == 200), dump(reqs))
        self.assertGreater(self.environ_reads, 0)
        status, out, err = harness.run_once(self.stage, ["--ready"], env)
        self.assertEqual(status, 0, out + err)
        self.assert_clean("brokerd --ready's output", (out + err).encode())

    def encrypted(self, pem_text):
        """pem_text with its key encrypted under PASSPHRASE (PKCS#8,
        AES-256-CBC); the passphrase reaches openssl on its stdin."""
        key = pem_text[:pem_text.index("-----BEGIN CERTIFICATE-----")]
        crt = pem_text[len(key):]
        plain = os.path.join(self.scratch.path, "plain.key")
        with open(plain, "w") as f:
            f.write(key)
        enc = subprocess.run(("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain,
                              "-passout", "stdin"), input=PASSPHRASE.encode() + b"\n",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                             check=True).stdout.decode()
        os.unlink(plain)
        return enc + crt

    def test_encrypted_key_and_passphrase_never_leak(self):
        """PS256 with an encrypted key: its passphrase from a file, then a
        wrong one, and brokerd --check."""
        self.key_lines = []
        pem_a, crt_a = self.make_pem("enc")
        pem = os.path.join(self.scratch.path, "graph-client-certificate.pem")
        passfile = os.path.join(self.scratch.path, "graph-client-certificate.pass")
        harness.write_secret_file(pem, self.encrypted(pem_a))
        harness.write_secret_file(passfile, PASSPHRASE + "\n")
        self.mock.set_client_certificate(crt_a)
        env = self.mock_env(sup.secretd_env("file", None, {
            "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "certificate",
            "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": pem,
            "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": passfile,
            "MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256",
            "MCP_AUTH_BROKER_LOG_LEVEL": "debug",
        }))
        broker = self.started(env_overrides=env)
        self.assert_ok(self.call(broker), source="minted")
        self.checkpoint(broker)
        reqs = self.mock.token_requests()
        self.assertEqual([(r["status"], r["assertion_header"]["alg"]) for r in reqs],
                         [(200, "PS256")], dump(reqs))
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 0, out + err)
        self.assert_clean("brokerd --check's output", (out + err).encode())
        harness.write_secret_file(passfile, WRONG_PASSPHRASE)
        broker = self.started(env_overrides=env)
        self.assert_code(self.call(broker, "req-wrong"), "secret.access_denied", "req-wrong")
        self.checkpoint(broker)
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertNotEqual(status, 0, out + err)
        self.assert_clean("brokerd --check's output", (out + err).encode())

    def test_env_provider_passphrase_only_in_secretd(self):
        """The env provider (development only): the PEM and the passphrase
        in brokerd's environment at start, in no /proc/PID/environ after."""
        self.key_lines = []
        pem_a, crt_a = self.make_pem("env")
        self.mock.set_client_certificate(crt_a)
        env = self.mock_env(sup.secretd_env("env", None, {
            "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "certificate",
            "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": "MAB_LEAK_CERT_PEM",
            "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": "MAB_LEAK_CERT_PASS",
            "MAB_LEAK_CERT_PEM": self.encrypted(pem_a),
            "MAB_LEAK_CERT_PASS": PASSPHRASE,
        }))
        broker = self.started(env_overrides=env)
        self.assert_ok(self.call(broker), source="minted")
        self.checkpoint(broker)
        self.assertGreater(self.environ_reads, 0)
        self.assertEqual([r["status"] for r in self.mock.token_requests()], [200])


class FederatedTests(LeakCase):
    """The federated credential: the token file's tokens appear nowhere,
    through a login, a rotation (the kubelet's ..data swap), a rejected
    login, --check and --ready."""

    def needles(self):
        sent = [r["assertion"] for r in self.mock.token_requests() if r.get("assertion")]
        tokens = set(self.tokens + sent)
        return super().needles() + list(tokens) + [p for t in tokens for p in t.split(".")]

    def test_federated_tokens_never_leak(self):
        import test_federated as tf
        self.tokens = []
        issuer = tf.Issuer(self.scratch.path)
        volume = tf.ProjectedVolume(self.scratch.path)
        self.mock.set_federated_credential(
            mock_entra.FederatedCredential(issuer.url, issuer.pub, tf.SUBJECT))
        marker = "MARKER_FEDERATED_TOKEN_" + _rand()

        def rotate():
            self.tokens.append(volume.write(issuer.mint(jti=marker + "_%d" % len(self.tokens))))

        rotate()
        env = self.mock_env(sup.secretd_env("none", None, {
            "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "federated",
            "AZURE_FEDERATED_TOKEN_FILE": volume.path,
        }))
        broker = self.started(env_overrides=env)
        self.assert_ok(self.call(broker), source="minted")
        self.checkpoint(broker)
        rotate()
        self.assert_ok(self.call(broker, "req-2", resource=self.mock.localhost_url), "req-2",
                       source="minted")
        # A token the app registration does not trust: rejected, then
        # re-read and rejected again; the message names no token.
        self.mock.set_federated_credential(
            mock_entra.FederatedCredential(issuer.url, issuer.pub, "system:serviceaccount:x:y"))
        self.mock.revoke()
        self.call(broker, "req-3")
        self.assert_code(self.call(broker, "req-4"), "provider.auth_failed", "req-4")
        self.checkpoint(broker)
        reqs = self.mock.token_requests()
        self.assertEqual([r["assertion"] for r in reqs[:2]], self.tokens, dump(reqs))
        self.assertTrue(all(r["federated"] for r in reqs[:2]), dump(reqs))
        self.assertGreater(self.environ_reads, 0)
        self.mock.set_federated_credential(
            mock_entra.FederatedCredential(issuer.url, issuer.pub, tf.SUBJECT))
        for args in (["--check"], ["--ready"]):
            status, out, err = harness.run_once(self.stage, args, env)
            self.assertEqual(status, 0, out + err)
            self.assert_clean("brokerd %s's output" % args[0], (out + err).encode())


class OnePasswordTests(LeakCase):
    def test_session_with_op_rotation_and_sigterm(self):
        broker = self.started(env_overrides=self.op_env())
        kids = broker.wait_children()
        self.assert_ok(self.call(broker), source="minted")
        self.checkpoint(broker)
        # The marker token did reach op, through secretd alone.
        runs = self.op.calls()
        self.assertTrue(runs)
        self.assertEqual(runs[0]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), OP_TOKEN)
        self.assertNotIn("OP_SERVICE_ACCOUNT_TOKEN", sup.environ_names(sup.proc_environ(broker.pid)))

        self.assertEqual(self.describe(broker)["cache"]["state"], "valid")
        self.assert_code(self.call(broker, "req-deny", changes={"graph.scopes": ["Directory.ReadWrite.All"]}),
                         "policy.invalid_scope", "req-deny")

        # Rotation in 1Password.
        self.op.set_rotating(SECRET_V2)
        self.mock.set_client_secret(SECRET_V2)
        self.mock.revoke()
        self.assert_ok(self.call(broker, "req-401"), "req-401", 401)
        self.assert_ok(self.call(broker, "req-rotated"), "req-rotated", source="minted")
        self.assertGreaterEqual(len(self.op.calls()), 2, "op was not asked again after the rejection")
        logged = [fp for fp, _ in sup.wait_for_fingerprint(broker, sup.fingerprint(SECRET_V2))]
        self.assertIn(sup.fingerprint(SECRET_V2), logged)
        self.checkpoint(broker)

        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.read_to_eof(), [])
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-2000:])
        harness.wait_until(lambda: not any(harness.pid_exists(p) for p in kids.values()), 5)
        self.assert_markers_used()

    def test_op_failures(self):
        """op failing in each way it can, one of them printing the token and a
        secret on its stderr (which secretd logs only redacted)."""
        for item, code in (("notfound", "secret.not_found"), ("unauthorized", "secret.access_denied"),
                           ("ratelimited", "secret.unavailable"), ("leak", "secret.unavailable")):
            with self.subTest(item=item):
                broker = self.started(env_overrides=self.op_env("op://Infra/%s/credential" % item))
                self.assert_code(self.call(broker), code)
                self.checkpoint(broker)
                if item == "leak":
                    self.assertTrue(harness.wait_until(lambda: "[REDACTED]" in broker.stderr_text(), 5),
                                    "op's stderr was not logged redacted: " + broker.stderr_text()[-2000:])
                    self.assertEqual(self.op.calls()[-1]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), OP_TOKEN)
                broker.close_stdin()
                self.assertEqual(broker.read_to_eof(), [])
                self.assertEqual(broker.wait(), 0)
                self.scan_outputs([broker])

    def test_secretd_killed_mid_call(self):
        broker = self.started(env_overrides=self.op_env())
        kids = broker.wait_children()
        self.assert_ok(self.call(broker), source="minted")
        self.mock.set_fault("graph", "slow", count=1, delay=10)
        call_id = self.send_call(broker, "req-slow")
        harness.wait_until(lambda: any(r.get("fault") == "slow" for r in self.mock.graph_requests()), 10)
        self.checkpoint(broker)
        os.kill(kids["secretd"], signal.SIGKILL)
        self.assert_code(tool_result(broker.recv_response(call_id))["structuredContent"],
                         "secret.unavailable", "req-slow")
        self.assertEqual(broker.wait(), 70, broker.stderr_text()[-2000:])
        self.assert_markers_used()


class EnvProviderTests(LeakCase):
    def test_env_provider_secret_only_in_memory(self):
        self.mock.set_client_secret(ENV_SECRET)
        env = self.mock_env(sup.secretd_env("env", "MAB_LEAK_GRAPH_SECRET", {"MAB_LEAK_GRAPH_SECRET": ENV_SECRET}))
        broker = self.started(env_overrides=env)
        self.assert_ok(self.call(broker), source="minted")
        self.assert_ok(self.call(broker, "req-2"), "req-2", source="cache")
        self.checkpoint(broker)
        self.assert_markers_used()


class BridgeTests(LeakCase):
    def test_bridge_and_listener(self):
        """brokerd --listen with the 1password provider, and a --connect
        bridge that was (wrongly) given the token too: neither keeps it."""
        broker, path = self.listening_broker(self.op_env())
        bridge = self.start_broker({"OP_SERVICE_ACCOUNT_TOKEN": OP_TOKEN}, args=["--connect", path])
        harness.initialize(bridge)
        sc = tool_result(bridge.call_tool(EXECUTE_TOOL, self.args(), timeout=30))["structuredContent"]
        self.assert_ok(sc, source="minted")
        direct = SocketClient(path)
        self.addCleanup(direct.close)
        harness.initialize(direct)
        self.assert_ok(tool_result(direct.call_tool(EXECUTE_TOOL, self.args("req-2")))["structuredContent"],
                       "req-2", source="cache")
        self.checkpoint(broker)
        with open("/proc/%d/environ" % bridge.pid, "rb") as f:
            block = f.read()
        self.assertNotIn(OP_TOKEN.encode(), block, "the bridge kept the 1Password token")
        bridge.close_stdin()
        self.assertEqual(bridge.read_to_eof(), [])
        self.assertEqual(bridge.wait(), 0)
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-2000:])
        self.assert_markers_used()



class RemoteCallerTests(LeakCase):
    """brokerd --http with MCP_AUTH_BROKER_AUTH_MODE=hybrid against the
    authorization-server stand-in (tests/fixtures/oauth_issuer.py): OAuth
    callers' bearer tokens, whose name claim carries
    MARKER_CALLER_TOKEN_<random> (in clear only once decoded), and API
    keys MARKER_API_KEY_<random>.  Good, refused, expired, forged and
    unknown-kid tokens, right and wrong keys; then the usual scan, and
    what reached Graph.  Not scanned: the processes' memory (brokerd checks
    each token and passes it to tokend, which checks it again; both hold it
    while they do) and the socketpair between them."""

    def caller_needles(self):
        minted = self.issuer.minted
        # Whole tokens, their claims part and their signature part.
        parts = [p for t in minted for p in t.split(".")[1:] if len(p) > 16]
        marked = [self.name_marker, self.api_key, self.wrong_key]
        # And their random parts: a cut prefix does not hide one.
        return marked + [m.rsplit("_", 1)[1] for m in marked] + minted + parts

    def needles(self):
        return super().needles() + self.caller_needles()

    def serve(self):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
        from oauth_issuer import Issuer
        import test_http

        self.http = test_http
        self.issuer = Issuer("%s/%s/v2.0" % (self.mock.base_url, TENANT))
        self.mock.set_issuer(self.issuer)
        self.name_marker = "MARKER_CALLER_TOKEN_" + _rand()
        self.api_key = "MARKER_API_KEY_" + _rand()
        self.wrong_key = "MARKER_API_KEY_" + _rand()
        keys = os.path.join(self.scratch.path, "api-keys")
        test_http.write_keys(keys, [("svc-robot", self.api_key)])
        self.port = test_http.free_port()
        self.resource = "http://127.0.0.1:%d/mcp" % self.port
        env = self.file_env({"MCP_AUTH_BROKER_AUTH_MODE": "hybrid",
                             "MCP_AUTH_BROKER_API_KEYS_FILE": keys,
                             "MCP_AUTH_BROKER_RESOURCE_SERVER_URL": self.resource,
                             "MCP_AUTH_BROKER_OAUTH_REQUIRED_SCOPES": "mcp.graph"})
        broker = self.start_broker(env, args=["--http", "127.0.0.1:%d" % self.port])
        # Listening, and tokend has handed brokerd the key set.
        harness.wait_until(lambda: self.post(self.token(), self.init_msg())[0] in (200, 401), timeout=30)
        return broker

    def token(self, **claims):
        claims.setdefault("scp", "mcp.graph")
        claims.setdefault("name", self.name_marker)
        return self.issuer.mint(self.resource, **claims)

    def init_msg(self):
        return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": self.http.INIT_PARAMS}

    def post(self, credential, msg, scheme="Bearer"):
        import http.client

        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if scheme == "Bearer":
            headers["Authorization"] = "Bearer " + credential
        else:
            headers["X-API-Key"] = credential
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request("POST", "/mcp", body=json.dumps(msg), headers=headers)
            r = c.getresponse()
            body = r.read()
            return r.status, json.loads(body) if body else None
        except (ConnectionError, OSError):
            return 0, None
        finally:
            c.close()

    def call(self, credential, request_id, scheme="Bearer", **kw):
        msg = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
               "params": {"name": EXECUTE_TOOL, "arguments": self.args(request_id, **kw),
                          "_meta": self.http.MODERN_META}}
        status, body = self.post(credential, msg, scheme)
        self.assertEqual(status, 200, body)
        return tool_result(body)["structuredContent"]

    def test_caller_tokens_and_api_keys_never_leak(self):
        broker = self.serve()
        broker.wait_children()
        good = self.token()
        self.assertEqual(self.post(good, self.init_msg())[0], 200)
        self.assert_ok(self.call(good, "req-oauth-1"), "req-oauth-1", source="minted")
        self.assert_ok(self.call(good, "req-oauth-2"), "req-oauth-2", source="cache")
        self.assert_code(self.call(good, "req-oauth-deny", changes={"operation.method": "DELETE"}),
                         "policy.denied", "req-oauth-deny")
        self.assert_ok(self.call(self.token(alg="ES256"), "req-oauth-es"), "req-oauth-es", source="cache")
        self.checkpoint(broker)
        # Refused tokens, each carrying the marker: expired, wrong audience,
        # signature altered, alg none, a key the issuer never listed (which
        # has tokend fetch the key set again).
        now = int(time.time())
        bad = [self.token(exp=now - 600, nbf=now - 1200, iat=now - 1200),
               self.issuer.mint("https://other.example/mcp", scp="mcp.graph", name=self.name_marker),
               good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"),
               self.issuer.forge_none(self.resource, scp="mcp.graph", name=self.name_marker),
               self.issuer.mint(self.resource, key=self.issuer.unlisted(), scp="mcp.graph",
                                name=self.name_marker)]
        for token in bad:
            self.assertEqual(self.post(token, self.init_msg())[0], 401, token[:40])
        # API keys: the right one (X-API-Key and Bearer), a wrong one.
        self.assert_ok(self.call(self.api_key, "req-key-1", scheme="X-API-Key"), "req-key-1", source="cache")
        self.assert_ok(self.call(self.api_key, "req-key-2"), "req-key-2", source="cache")
        self.assertEqual(self.post(self.wrong_key, self.init_msg(), scheme="X-API-Key")[0], 401)
        self.checkpoint(broker)
        os.kill(broker.pid, signal.SIGTERM)
        self.assertEqual(broker.wait(timeout=20), 0, broker.stderr_text()[-2000:])
        # Graph got the broker's token, never a caller's credential.
        found = harness.find_needles(repr(self.mock.graph_requests()).encode(), self.caller_needles())
        self.assertEqual(found, [], "a caller's credential reached Graph")
        self.assert_markers_used()
        methods = {r.get("auth_method") for r in harness.audit_records(self.audit, "tool_call")}
        self.assertEqual(methods, {"oauth", "api_key"})


if __name__ == "__main__":
    harness.main()
