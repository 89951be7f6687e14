# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The certificate credential (MCP_AUTH_BROKER_GRAPH_CREDENTIAL=certificate)
against real cryptography.

Each test makes an RSA key and a self-signed certificate with `openssl req
-x509 -newkey rsa:2048` and puts both in one PEM that the `file` provider
resolves (for an encrypted key, `openssl pkcs8 -topk8 -v2 aes-256-cbc`
encrypts it and a second file holds the passphrase).  secretd signs the
client assertion; tests/fixtures/mock_entra.py verifies every assertion's
RS256 or PS256 signature, as its header's alg says, against the certificate
it was given (the app registration's uploaded certificate) with `openssl
dgst -verify`, and checks aud, iss, sub, jti and the time range, answering
as Entra ID does.  After every test brokerd's whole output is searched for
the private key, the passphrases, the assertions the mock received and the
tokens it issued.
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
import test_tokend_http as tth  # noqa: E402
from test_tokend_http import CLIENT_ID, TENANT, dump  # noqa: E402

mock_entra = tth.mock_entra
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Under valgrind (tests/run-valgrind.sh) loading the key and signing take
# seconds in secretd: calls get more time there, and only there.
SLOW = 4 if os.environ.get("MAB_WRAPPER") else 1
# common/ipc.h
MSG_ASSERTION_REQ, MSG_ASSERTION_ANS, MSG_CERT_INFO = 20, 21, 36


def setUpModule():
    tth.setUpModule()


def tearDownModule():
    tth.tearDownModule()


def make_certificate(directory, name, days=2, bits=2048):
    """(pem path, key text, cert text): key and certificate in one PEM, 0600."""
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    subprocess.run(("openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes",
                    "-keyout", key, "-out", crt, "-days", str(days),
                    "-subj", "/CN=mcp-auth-broker test %s" % name),
                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=60, check=True)
    with open(key) as f:
        key_text = f.read()
    with open(crt) as f:
        crt_text = f.read()
    return key_text, crt_text


def encrypt_key(directory, key_text, passphrase, how=("pkcs8", "-topk8", "-v2", "aes-256-cbc")):
    """key_text as an encrypted PKCS#8 PEM (BEGIN ENCRYPTED PRIVATE KEY),
    AES-256-CBC with PBKDF2, as README.md tells operators to make it (or as
    the openssl command and options how say).  The passphrase goes to
    openssl on its stdin, not in its argv."""
    plain = os.path.join(directory, "plain-%d.key" % time.monotonic_ns())
    with open(plain, "w") as f:
        f.write(key_text)
    try:
        return subprocess.run(("openssl",) + how + ("-in", plain, "-passout", "stdin"),
                              input=passphrase.encode() + b"\n", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, check=True).stdout.decode()
    finally:
        os.unlink(plain)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fingerprint(crt_text, digest):
    """The thumbprint `openssl x509 -fingerprint` prints, as hex without colons."""
    out = subprocess.run(("openssl", "x509", "-noout", "-fingerprint", "-" + digest),
                         input=crt_text.encode(), stdout=subprocess.PIPE, check=True).stdout
    return out.decode().strip().split("=", 1)[1].replace(":", "")


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class CertificateCase(tth.TokendHttpCase):
    def setUp(self):
        super().setUp()
        self.key_a, self.crt_a = make_certificate(self.tmp, "a")
        self.key_b, self.crt_b = make_certificate(self.tmp, "b")
        self.pem = os.path.join(self.tmp, "graph-client-certificate.pem")
        self.passfile = os.path.join(self.tmp, "graph-client-certificate.pass")
        self.passphrases = []  # every passphrase a test used: leak needles
        self.write_pem(self.key_a, self.crt_a)
        self.uploaded(self.crt_a)

    def new_passphrase(self):
        p = "MARKER_PASSPHRASE_" + os.urandom(12).hex()
        self.passphrases.append(p)
        return p

    def write_encrypted_pem(self, key, crt, passphrase):
        """The PEM with key encrypted by passphrase, which the passphrase
        file gets (as an operator would write it, with a newline)."""
        self.write_pem(encrypt_key(self.tmp, key, passphrase), crt)
        harness.write_secret_file(self.passfile, passphrase + "\n")

    def write_pem(self, key, crt):
        harness.write_secret_file(self.pem, key + crt)

    def uploaded(self, crt):
        """What the app registration holds: the certificate's public part."""
        path = os.path.join(self.tmp, "uploaded-%d.crt" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(crt)
        self.mock.set_client_certificate(path)

    def call(self, broker, changes=None, resource=None, request_id="req-1", timeout_ms=10000,
             timeout=harness.DEFAULT_TIMEOUT):
        return super().call(broker, changes, resource, request_id, timeout_ms * SLOW, timeout * SLOW)

    def cert_env(self, extra=None, **kw):
        env = self.env(extra, **kw)
        del env["MCP_AUTH_BROKER_GRAPH_SECRET_REF"]
        env["MCP_AUTH_BROKER_GRAPH_CREDENTIAL"] = "certificate"
        env["MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF"] = self.pem
        return env

    def cert_broker(self, extra=None, **kw):
        return self.started(env_overrides=self.cert_env(extra, **kw))

    def _assert_no_leak(self, holder):
        super()._assert_no_leak(holder)
        if not holder:
            return
        broker = holder[0]
        # The key's base64 lines and every assertion sent: none in any output.
        needles = [line for key in (self.key_a, self.key_b) for line in key.splitlines()
                   if len(line) >= 40]
        needles += self.passphrases + [p[len("MARKER_PASSPHRASE_"):] for p in self.passphrases]
        for mock in self.mocks:
            needles += [r["assertion"] for r in mock.token_requests() if r["assertion"]]
            needles += [r["assertion"].split(".")[2] for r in mock.token_requests() if r["assertion"]]
        for stream, data in (("stdout", broker.stdout_bytes()), ("stderr", broker.stderr_bytes())):
            found = harness.find_needles(data, needles)
            if found:
                raise harness.HarnessError("brokerd %s carries key or assertion material: %r"
                                           % (stream, [f[:24] for f in found]))


class CertificateLogin(CertificateCase):
    def test_assertion_is_signed_by_the_certificate_key(self):
        broker = self.cert_broker()
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual(len(reqs), 1, dump(reqs))
        r = reqs[0]
        self.assertEqual(r["status"], 200, dump(r))
        self.assertIs(r["assertion_ok"], True, dump(r))
        self.assertNotIn("client_secret", r["field_names"])
        self.assertEqual(r["fields"]["client_assertion_type"], ASSERTION_TYPE)
        self.assertEqual(r["fields"]["grant_type"], "client_credentials")
        h, c = r["assertion_header"], r["assertion_claims"]
        der = base64.b64decode("".join(self.crt_a.strip().splitlines()[1:-1]))
        b64 = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()  # noqa: E731
        self.assertEqual(h, {"alg": "RS256", "typ": "JWT", "x5t#S256": b64(hashlib.sha256(der).digest()),
                             "x5t": b64(hashlib.sha1(der).digest())})
        self.assertEqual(c["aud"], self.mock.token_url(TENANT))
        self.assertEqual(c["iss"], CLIENT_ID)
        self.assertEqual(c["sub"], CLIENT_ID)
        self.assertEqual(c["nbf"], c["iat"])
        self.assertLessEqual(c["exp"] - c["iat"], 600)
        self.assertLess(abs(c["iat"] - time.time()), 60)
        self.assertRegex(c["jti"], r"^[0-9a-f]{32}$")
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")

    def test_each_login_gets_a_fresh_assertion(self):
        broker = self.cert_broker(resources=[self.mock.base_url, self.mock.localhost_url])
        self.assert_ok(self.call(broker))
        self.assert_ok(self.call(broker, request_id="req-2", resource=self.mock.localhost_url), "req-2")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 200], dump(reqs))
        self.assertNotEqual(reqs[0]["assertion_claims"]["jti"], reqs[1]["assertion_claims"]["jti"])
        self.assertNotEqual(reqs[0]["assertion"], reqs[1]["assertion"])

    def test_certificate_in_front_of_the_key_works_too(self):
        self.write_pem(self.crt_a, self.key_a)
        self.assert_ok(self.call(self.cert_broker()))

    def test_unknown_certificate_is_auth_failed_naming_the_certificate(self):
        self.uploaded(self.crt_b)  # the app registration knows another certificate
        sc = self.assert_error(self.call(self.cert_broker()), "provider.auth_failed")
        msg = sc["error"]["message"]
        self.assertIn("AADSTS700027", msg)
        self.assertIn("certificate credential", msg)
        self.assertIn("app registration", msg)
        # Asked secretd once for a fresh key (a rotation may be under way).
        self.assertEqual([r["status"] for r in self.mock.token_requests()], [401, 401])

    def test_wrong_key_signature_is_refused(self):
        # The certificate the endpoint knows, signed with another key: the
        # signature does not verify (and secretd refuses such a PEM first).
        self.write_pem(self.key_b, self.crt_a)
        sc = self.assert_error(self.call(self.cert_broker()), ("secret.not_found",))
        self.assertIn("certificate credential", sc["error"]["message"])
        self.assertIn("does not belong", sc["error"]["message"])
        self.assertEqual(self.mock.token_requests(), [])

    def test_wrong_audience_is_refused(self):
        self.mock.set_expected_audience("https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT)
        sc = self.assert_error(self.call(self.cert_broker()), "provider.auth_failed")
        self.assertIn("AADSTS50013", sc["error"]["message"])
        self.assertIn("MCP_AUTH_BROKER_AUTHORITY", sc["error"]["message"])

    def test_expired_assertion_is_refused(self):
        self.mock.set_clock_offset(3600)  # the endpoint's clock an hour ahead
        sc = self.assert_error(self.call(self.cert_broker()), "provider.auth_failed")
        self.assertIn("AADSTS700024", sc["error"]["message"])
        self.assertIn("clock", sc["error"]["message"])

    def test_mock_refuses_a_forged_signature(self):
        # The mock's verification is real: an assertion whose signature was
        # made by another key is refused, whatever its header says.
        broker = self.cert_broker()
        self.assert_ok(self.call(broker))
        good = self.mock.token_requests()[0]["assertion"]
        head, claims, _ = good.split(".")
        keyfile = os.path.join(self.tmp, "b.key")
        sig = subprocess.run(("openssl", "dgst", "-sha256", "-sign", keyfile),
                             input=(head + "." + claims).encode(), stdout=subprocess.PIPE,
                             check=True).stdout
        forged = head + "." + claims + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
        status, body = self.post_token(forged)
        self.assertEqual(status, 401, body)
        self.assertEqual(body["error_codes"], [700027], body)

    def post_token(self, assertion):
        import ssl
        import urllib.parse
        import urllib.request
        data = urllib.parse.urlencode({
            "client_id": CLIENT_ID, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "grant_type": "client_credentials",
            "scope": self.mock.base_url + "/.default"}).encode()
        ctx = ssl.create_default_context(cafile=tth.PKI.ca_file)
        try:
            with urllib.request.urlopen(self.mock.token_url(TENANT), data, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_rotated_certificate_is_picked_up_after_a_rejected_login(self):
        # The default secret cache (300 s): only the rejection makes secretd
        # read the PEM again.
        broker = self.cert_broker(resources=[self.mock.base_url, self.mock.localhost_url])
        self.assert_ok(self.call(broker))
        # The operator rotates: a new certificate in the app registration
        # and in the file, the old one removed.
        self.write_pem(self.key_b, self.crt_b)
        self.uploaded(self.crt_b)
        self.assert_ok(self.call(broker, request_id="req-2", resource=self.mock.localhost_url),
                       "req-2", source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 401, 200], dump(reqs))
        self.assertEqual(reqs[1]["assertion_header"]["x5t"], reqs[0]["assertion_header"]["x5t"])
        self.assertNotEqual(reqs[2]["assertion_header"]["x5t"], reqs[0]["assertion_header"]["x5t"])
        self.assertIs(reqs[2]["assertion_ok"], True)


class CertificateOperator(CertificateCase):
    def test_ready_prints_subject_thumbprints_and_expiry(self):
        status, out, err = harness.run_once(self.stage, ["--ready"], self.cert_env())
        self.assertEqual(status, 0, out + err)
        self.assertIn("SHA-256 %s" % fingerprint(self.crt_a, "sha256"), out)
        self.assertIn("SHA-1 %s" % fingerprint(self.crt_a, "sha1"), out)
        self.assertIn("CN=mcp-auth-broker test a", out)
        # A two-day certificate is within the 30-day warning.
        self.assertRegex(out, r"(?m)^.*certificate.*within 30 days")
        self.assertNotIn(self.key_a.splitlines()[1], out + err)

    def test_ready_fails_with_a_certificate_the_endpoint_does_not_know(self):
        self.uploaded(self.crt_b)
        status, out, err = harness.run_once(self.stage, ["--ready"], self.cert_env())
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("provider.auth_failed", out)

    def test_check_prints_subject_thumbprints_and_expiry(self):
        status, out, err = harness.run_once(self.stage, ["--check"], self.cert_env())
        self.assertEqual(status, 0, out + err)
        line = [l for l in out.splitlines() if "certificate" in l and "SHA-1" in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn("SHA-256 %s" % fingerprint(self.crt_a, "sha256"), line[0])
        self.assertIn("SHA-1 %s" % fingerprint(self.crt_a, "sha1"), line[0])
        self.assertIn("CN=mcp-auth-broker test a", line[0])
        self.assertRegex(line[0], r"expires 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        self.assertIn("within 30 days", line[0])  # a two-day certificate
        self.assertEqual(self.mock.token_requests(), [], "--check logged in")
        self.assertNotIn(self.key_a.splitlines()[1], out + err)

    def test_check_no_warning_for_a_long_lived_certificate(self):
        key, crt = make_certificate(self.tmp, "long", days=400)
        self.write_pem(key, crt)
        status, out, err = harness.run_once(self.stage, ["--check"], self.cert_env())
        self.assertEqual(status, 0, out + err)
        self.assertIn("SHA-1 %s" % fingerprint(crt, "sha1"), out)
        self.assertNotIn("within 30 days", out)

    def test_check_fails_on_a_pem_without_its_key(self):
        harness.write_secret_file(self.pem, self.crt_a)
        status, out, err = harness.run_once(self.stage, ["--check"], self.cert_env())
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("secret.not_found: certificate credential: no unencrypted private key", out)

    def test_check_and_login_through_1password(self):
        # The PEM through op (tests/fake-op prints <op>.rotating); the
        # service-account token reaches op through secretd, for --check on
        # secretd's stdin, never in its environment.
        scratch = sup.ScratchDir()
        self.addCleanup(scratch.remove)
        op = sup.FakeOp(scratch)
        op.set_rotating(self.key_a + self.crt_a)
        env = self.cert_env()
        env.update({"MCP_AUTH_BROKER_SECRET_PROVIDER": "1password",
                    "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": "op://Infra/rotating/pem",
                    "MCP_AUTH_BROKER_OP_PATH": op.path, "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN,
                    "HOME": scratch.path})
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 0, out + err)
        self.assertIn("SHA-1 %s" % fingerprint(self.crt_a, "sha1"), out)
        calls = op.calls()
        self.assertEqual(len(calls), 1, calls)
        self.assertEqual(calls[0]["env"].get("OP_SERVICE_ACCOUNT_TOKEN"), sup.OP_TOKEN)
        self.assert_ok(self.call(self.started(env_overrides=env)))

    def test_encrypted_key_and_passphrase_through_1password(self):
        # Two references, one provider: op is run for the PEM and for the
        # passphrase (tests/fake-op prints fake-op-secret-VAULT-FIELD for
        # the item "graph"), for --check and for a login alike.
        passphrase = "fake-op-secret-Infra-passphrase"
        self.passphrases.append(passphrase)
        scratch = sup.ScratchDir()
        self.addCleanup(scratch.remove)
        op = sup.FakeOp(scratch)
        op.set_rotating(encrypt_key(self.tmp, self.key_a, passphrase) + self.crt_a)
        env = self.cert_env({"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256"})
        env.update({"MCP_AUTH_BROKER_SECRET_PROVIDER": "1password",
                    "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": "op://Infra/rotating/pem",
                    "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": "op://Infra/graph/passphrase",
                    "MCP_AUTH_BROKER_OP_PATH": op.path, "OP_SERVICE_ACCOUNT_TOKEN": sup.OP_TOKEN,
                    "HOME": scratch.path})
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 0, out + err)
        self.assertIn("SHA-1 %s" % fingerprint(self.crt_a, "sha1"), out)
        self.assertEqual([c["argv"][-1] for c in op.calls()],
                         ["op://Infra/rotating/pem", "op://Infra/graph/passphrase"])
        self.assertEqual(harness.find_needles((out + err).encode(), self.passphrases), [])
        self.assert_ok(self.call(self.started(env_overrides=env)))
        self.assertEqual(self.mock.token_requests()[0]["assertion_header"]["alg"], "PS256")

    def test_key_stays_in_secure_heap(self):
        # secretd reports how much of OpenSSL's secure heap the key took:
        # the private numbers of an RSA-2048 key, d (256 bytes) and p, q,
        # dp, dq, qinv (128 each), are 896 bytes; less would mean some went
        # to the ordinary heap.
        broker = self.cert_broker({"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        self.assert_ok(self.call(broker))
        broker.close_stdin()
        broker.wait()
        text = broker.stderr_text()
        m = re.search(r"2048-bit RSA, (\d+) bytes of OpenSSL's secure heap", text)
        self.assertIsNotNone(m, text[-3000:])
        self.assertGreaterEqual(int(m.group(1)), 256 + 5 * 128)


class CertificatePs256(CertificateCase):
    """MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM=PS256: RSASSA-PSS with
    SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 section 3.5), which
    the mock verifies as its header's alg says."""

    def ps_broker(self, extra=None, **kw):
        extra = dict(extra or {})
        extra["MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM"] = "PS256"
        return self.cert_broker(extra, **kw)

    def client_cert(self, crt):
        path = os.path.join(self.tmp, "check-%d.crt" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(crt)
        return mock_entra.ClientCertificate(path, self.tmp)

    def test_ps256_assertion_is_verified(self):
        broker = self.ps_broker()
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200], dump(reqs))
        self.assertIs(reqs[0]["assertion_ok"], True, dump(reqs))
        h = reqs[0]["assertion_header"]
        self.assertEqual(h["alg"], "PS256")
        self.assertEqual(h["typ"], "JWT")
        self.assertEqual(h["x5t"], b64url(bytes.fromhex(fingerprint(self.crt_a, "sha1"))))
        # A PSS signature indeed: it does not verify as PKCS #1 v1.5.
        head, claims, sig = reqs[0]["assertion"].split(".")
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        cert = self.client_cert(self.crt_a)
        signing_input = (head + "." + claims).encode()
        self.assertTrue(cert.verify(signing_input, raw, self.tmp, "PS256"))
        self.assertFalse(cert.verify(signing_input, raw, self.tmp, "RS256"))
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")

    def test_ps256_with_rotation_after_a_rejected_login(self):
        broker = self.ps_broker(resources=[self.mock.base_url, self.mock.localhost_url])
        self.assert_ok(self.call(broker))
        self.write_pem(self.key_b, self.crt_b)
        self.uploaded(self.crt_b)
        self.assert_ok(self.call(broker, request_id="req-2", resource=self.mock.localhost_url),
                       "req-2", source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 401, 200], dump(reqs))
        self.assertEqual([r["assertion_header"]["alg"] for r in reqs], ["PS256"] * 3)

    def sign(self, data, *sigopts):
        return subprocess.run(("openssl", "dgst", "-sha256", "-sign", os.path.join(self.tmp, "a.key"))
                              + sigopts, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=True, timeout=60).stdout

    def test_mock_verifies_ps256_exactly(self):
        """The mock's PS256 check is real and strict: PSS with a 32-byte salt
        passes; an RS256 signature under a PS256 header, a PSS signature
        with another salt length or under an RS256 header are refused."""
        claims = {"aud": self.mock.token_url(TENANT), "iss": CLIENT_ID, "sub": CLIENT_ID,
                  "jti": os.urandom(16).hex(), "nbf": int(time.time()), "iat": int(time.time()),
                  "exp": int(time.time()) + 300}
        der = base64.b64decode("".join(self.crt_a.strip().splitlines()[1:-1]))

        def assertion(alg, *sigopts):
            head = {"alg": alg, "typ": "JWT", "x5t#S256": b64url(hashlib.sha256(der).digest()),
                    "x5t": b64url(hashlib.sha1(der).digest())}
            claims["jti"] = os.urandom(16).hex()
            signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
            return signing_input + "." + b64url(self.sign(signing_input.encode(), *sigopts))

        pss = ("-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_mgf1_md:sha256")
        post = CertificateLogin.post_token
        status, body = post(self, assertion("PS256", *pss, "-sigopt", "rsa_pss_saltlen:32"))
        self.assertEqual(status, 200, body)
        for name, a in (("RS256 signature, PS256 header", assertion("PS256")),
                        ("salt 20", assertion("PS256", *pss, "-sigopt", "rsa_pss_saltlen:20")),
                        ("salt max", assertion("PS256", *pss, "-sigopt", "rsa_pss_saltlen:max")),
                        ("PSS signature, RS256 header",
                         assertion("RS256", *pss, "-sigopt", "rsa_pss_saltlen:32"))):
            with self.subTest(name):
                status, body = post(self, a)
                self.assertEqual(status, 401, body)
                self.assertEqual(body["error_codes"], [700027], body)


class CertificateEncrypted(CertificateCase):
    """An encrypted PKCS#8 key and MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF,
    resolved by the same provider."""

    def enc_env(self, extra=None, **kw):
        env = self.cert_env(extra, **kw)
        env["MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF"] = self.passfile
        return env

    def enc_broker(self, extra=None, **kw):
        return self.started(env_overrides=self.enc_env(extra, **kw))

    def test_encrypted_key_with_its_passphrase_logs_in(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        with open(self.pem) as f:
            self.assertIn("-----BEGIN ENCRYPTED PRIVATE KEY-----", f.read())
        broker = self.enc_broker({"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256",
                                  "MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200], dump(reqs))
        self.assertIs(reqs[0]["assertion_ok"], True)
        self.assertEqual(reqs[0]["assertion_header"]["alg"], "PS256")
        broker.close_stdin()
        broker.wait()
        # The decrypted key's numbers live in OpenSSL's secure heap too.
        m = re.search(r"2048-bit RSA \(decrypted\), (\d+) bytes of OpenSSL's secure heap",
                      broker.stderr_text())
        self.assertIsNotNone(m, broker.stderr_text()[-3000:])
        self.assertGreaterEqual(int(m.group(1)), 256 + 5 * 128)

    def test_scrypt_and_traditional_encryption_work_too(self):
        # PKCS#8 with scrypt (its memory comes after secretd's seccomp
        # filter), and the traditional PEM encryption (Proc-Type: 4,ENCRYPTED).
        for name, how, marker in (
                ("scrypt", ("pkcs8", "-topk8", "-scrypt"), "BEGIN ENCRYPTED PRIVATE KEY"),
                ("traditional", ("rsa", "-aes256", "-traditional"), "Proc-Type: 4,ENCRYPTED")):
            with self.subTest(name):
                passphrase = self.new_passphrase()
                pem = encrypt_key(self.tmp, self.key_a, passphrase, how)
                self.assertIn(marker, pem)
                self.write_pem(pem, self.crt_a)
                harness.write_secret_file(self.passfile, passphrase)
                self.assert_ok(self.call(self.enc_broker()), source="minted")

    def test_wrong_passphrase_is_a_clear_error(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        harness.write_secret_file(self.passfile, self.new_passphrase())
        broker = self.enc_broker()
        sc = self.assert_error(self.call(broker), "secret.access_denied")
        msg = sc["error"]["message"]
        self.assertIn("certificate credential: the passphrase "
                      "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names does not decrypt "
                      "the private key", msg)
        self.assertEqual(self.mock.token_requests(), [])
        # Both passphrases are leak needles (_assert_no_leak, after the test).

    def test_overlong_passphrase_is_said_so(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        harness.write_secret_file(self.passfile, self.new_passphrase() + "x" * 2000)
        sc = self.assert_error(self.call(self.enc_broker()), "secret.not_found")
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names is longer than "
                      "OpenSSL accepts", sc["error"]["message"])

    def test_unresolvable_passphrase_names_its_reference(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        os.unlink(self.passfile)
        sc = self.assert_error(self.call(self.enc_broker()), "secret.not_found")
        self.assertIn("the passphrase MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names "
                      "cannot be resolved", sc["error"]["message"])

    def test_passphrase_for_an_unencrypted_key_is_only_a_warning(self):
        harness.write_secret_file(self.passfile, self.new_passphrase())
        broker = self.enc_broker()
        self.assert_ok(self.call(broker))
        broker.close_stdin()
        broker.wait()
        self.assertIn("the private key is not encrypted: "
                      "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF is not needed",
                      broker.stderr_text())

    def test_key_and_passphrase_are_re_read_together_after_a_rejected_login(self):
        # The default secret cache (300 s): only the rejection makes secretd
        # read the PEM, and with it the passphrase, again.
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        broker = self.enc_broker(resources=[self.mock.base_url, self.mock.localhost_url])
        self.assert_ok(self.call(broker))
        # Rotated: a new key under a new passphrase, both files replaced.
        self.write_encrypted_pem(self.key_b, self.crt_b, self.new_passphrase())
        self.uploaded(self.crt_b)
        self.assert_ok(self.call(broker, request_id="req-2", resource=self.mock.localhost_url),
                       "req-2", source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 401, 200], dump(reqs))
        self.assertIs(reqs[2]["assertion_ok"], True)
        self.assertEqual(reqs[2]["assertion_header"]["x5t"],
                         b64url(bytes.fromhex(fingerprint(self.crt_b, "sha1"))))

    def test_check_decrypts_the_key(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        env = self.enc_env({"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256"})
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 0, out + err)
        self.assertIn("SHA-1 %s" % fingerprint(self.crt_a, "sha1"), out)
        self.assertRegex(out, r"client assertion.*signed PS256; the key is encrypted and its "
                              r"passphrase decrypts it")
        self.assertEqual(self.mock.token_requests(), [], "--check logged in")
        self.assertEqual(harness.find_needles((out + err).encode(), self.passphrases), [])

    def test_check_fails_on_a_wrong_passphrase_without_showing_it(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        harness.write_secret_file(self.passfile, self.new_passphrase())
        status, out, err = harness.run_once(self.stage, ["--check"], self.enc_env())
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("secret.access_denied: certificate credential: the passphrase "
                      "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF names does not decrypt", out)
        self.assertEqual(harness.find_needles((out + err).encode(), self.passphrases), [])

    def test_check_without_passphrase_ref_says_to_set_it(self):
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        status, out, err = harness.run_once(self.stage, ["--check"], self.cert_env())
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("the private key is encrypted: set "
                      "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF", out)


class SecretdMonitor(CertificateCase):
    """secretd spoken to directly, as tokend and brokerd would: with a
    certificate it signs and never serves the key; with a secret it has no
    certificate to sign with."""

    def secretd(self, credential="certificate", extra=None):
        if credential == "certificate":
            env = sup.secretd_env("file", None, dict({
                "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "certificate",
                "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": self.pem,
                "MCP_AUTH_BROKER_GRAPH_CLIENT_ID": CLIENT_ID,
                "MCP_AUTH_BROKER_TENANT_ID": TENANT}, **(extra or {})))
        else:
            env = sup.secretd_env("file", self.secret_file)
        sd = sup.Secretd(self.stage, env)
        self.addCleanup(sd.close)
        return sd

    def test_assertion_only_and_verifiable(self):
        sd = self.secretd()
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 5, b'{"refresh":false}')
        msg_type, msg_id, jwt = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (MSG_ASSERTION_ANS, 5), jwt)
        head, claims, sig = jwt.decode().split(".")
        self.assertEqual(b64url_json(claims)["aud"],
                         "%s/%s/oauth2/v2.0/token" % (sup.CLOSED_AUTHORITY, TENANT))
        path = os.path.join(self.tmp, "uploaded.crt")
        with open(path, "w") as f:
            f.write(self.crt_a)
        cert = mock_entra.ClientCertificate(path, self.tmp)
        self.assertTrue(cert.verify((head + "." + claims).encode(),
                                    base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), self.tmp))
        self.assertNotIn(b"PRIVATE KEY", jwt)
        # brokerd hears of the certificate's public facts, id 0.
        infos = [m for m in sd.pending(sd.broker, 1.0) if m[0] == MSG_CERT_INFO]
        self.assertEqual(len(infos), 1, infos)
        info = json.loads(infos[0][2])
        self.assertEqual(infos[0][1], 0)
        self.assertEqual(info["sha256"], fingerprint(self.crt_a, "sha256"))
        self.assertEqual(info["sha1"], fingerprint(self.crt_a, "sha1"))

    def test_algorithm_is_secretds_own(self):
        # PS256 configured: the header says so and the signature is PSS;
        # a request naming an algorithm is refused, not obeyed.
        sd = self.secretd(extra={"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256"})
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 9, b'{"refresh":false}')
        msg_type, msg_id, jwt = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (MSG_ASSERTION_ANS, 9), jwt)
        head, claims, sig = jwt.decode().split(".")
        self.assertEqual(b64url_json(head)["alg"], "PS256")
        path = os.path.join(self.tmp, "uploaded.crt")
        with open(path, "w") as f:
            f.write(self.crt_a)
        cert = mock_entra.ClientCertificate(path, self.tmp)
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        self.assertTrue(cert.verify((head + "." + claims).encode(), raw, self.tmp, "PS256"))
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 10, b'{"refresh":false,"alg":"RS256"}')
        msg_type, msg_id, payload = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (sup.MSG_SECRET_ERR, 10), payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")

    def test_encrypted_key_signs_and_a_wrong_passphrase_is_refused(self):
        # secretd alone (it runs under valgrind too): the key decrypted
        # with the passphrase file, then, after a rejected login, a
        # rotated passphrase that does not decrypt it.
        self.write_encrypted_pem(self.key_a, self.crt_a, self.new_passphrase())
        sd = self.secretd(extra={"MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": self.passfile,
                                 "MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "PS256"})
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 11, b'{"refresh":false}')
        msg_type, msg_id, jwt = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (MSG_ASSERTION_ANS, 11), jwt)
        head, claims, sig = jwt.decode().split(".")
        path = os.path.join(self.tmp, "uploaded.crt")
        with open(path, "w") as f:
            f.write(self.crt_a)
        cert = mock_entra.ClientCertificate(path, self.tmp)
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        self.assertTrue(cert.verify((head + "." + claims).encode(), raw, self.tmp, "PS256"))
        harness.write_secret_file(self.passfile, self.new_passphrase())
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 12, b'{"refresh":true}')
        msg_type, msg_id, payload = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (sup.MSG_SECRET_ERR, 12), payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")
        self.assertEqual(harness.find_needles(payload, self.passphrases), [])
        log = sd.log_with("does not decrypt")
        self.assertEqual(harness.find_needles(log.encode(), self.passphrases), [], log)

    def test_key_is_never_served_with_a_certificate(self):
        sd = self.secretd()
        msg_type, payload = sd.ask_secret(6)
        self.assertEqual(msg_type, sup.MSG_SECRET_ERR, payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")
        self.assertIn("refused SECRET_REQ 6 from tokend", sd.log_with("refused SECRET_REQ"))

    def test_no_assertion_with_a_client_secret(self):
        sd = self.secretd("secret")
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 7, b'{"refresh":false}')
        msg_type, msg_id, payload = sd.recv(sd.tokend)
        self.assertEqual((msg_type, msg_id), (sup.MSG_SECRET_ERR, 7), payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")

    def test_brokerd_may_not_ask_for_an_assertion(self):
        sd = self.secretd()
        sd.send(sd.broker, MSG_ASSERTION_REQ, 8, b'{"refresh":false}')
        self.assertNotEqual(sd.wait(), 0, sd.log())


class CertificateConfig(CertificateCase):
    def run_config(self, changes, remove=()):
        env = self.cert_env()
        env.update(changes)
        for name in remove:
            env.pop(name, None)
        return harness.run_once(self.stage, [], env)

    def test_bad_credential_value_exits_78(self):
        status, _, err = self.run_config({"MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "password"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CREDENTIAL: 'password' is not one of secret, "
                      "certificate, federated, managed_identity", err)


    def test_certificate_needs_its_reference(self):
        status, _, err = self.run_config({}, remove=("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF",))
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF: required", err)

    def test_certificate_and_secret_ref_together_are_refused(self):
        status, _, err = self.run_config({"MCP_AUTH_BROKER_GRAPH_SECRET_REF": self.pem})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_SECRET_REF: set, but", err)

    def test_encrypted_key_without_passphrase_ref_is_refused_not_prompted_for(self):
        key, crt = (os.path.join(self.tmp, "enc" + ext) for ext in (".key", ".crt"))
        subprocess.run(("openssl", "req", "-x509", "-newkey", "rsa:2048", "-passout", "pass:hunter2",
                        "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=encrypted"),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, check=True)
        with open(key) as f, open(crt) as g:
            self.write_pem(f.read(), g.read())
        sc = self.assert_error(self.call(self.cert_broker()), "secret.not_found")
        self.assertIn("certificate credential: the private key is encrypted: set "
                      "MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF", sc["error"]["message"])
        self.assertEqual(self.mock.token_requests(), [])

    def run_refused(self, changes, remove=()):
        status, _, err = self.run_config(changes, remove)
        self.assertEqual(status, 78, err)
        return err

    def test_algorithm_is_refused_with_a_client_secret(self):
        env = self.env({"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": "RS256"})
        status, _, err = harness.run_once(self.stage, [], env)
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM: set, but "
                      "MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not certificate", err)

    def test_unknown_algorithm_is_refused(self):
        for alg in ("ES256", "ps256", "HS256", "none", ""):
            with self.subTest(alg=alg):
                err = self.run_refused({"MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM": alg})
                self.assertIn("MCP_AUTH_BROKER_GRAPH_ASSERTION_ALGORITHM: '%s' is not one of "
                              "RS256, PS256" % alg, err)

    def test_passphrase_ref_is_refused_without_a_certificate(self):
        env = self.env({"MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": self.passfile})
        status, _, err = harness.run_once(self.stage, [], env)
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF: set, but "
                      "MCP_AUTH_BROKER_GRAPH_CREDENTIAL is not certificate", err)

    def test_passphrase_ref_of_the_wrong_shape_is_refused(self):
        err = self.run_refused({"MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF": "a/b"})
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_PASSPHRASE_REF: 'a/b' is neither an "
                      "absolute path nor a credential name", err)

    def test_short_key_is_refused_naming_the_credential(self):
        key, crt = make_certificate(self.tmp, "short", bits=1024)
        self.write_pem(key, crt)
        sc = self.assert_error(self.call(self.cert_broker()), "secret.not_found")
        self.assertIn("certificate credential", sc["error"]["message"])
        self.assertIn("2048", sc["error"]["message"])
        self.assertEqual(self.mock.token_requests(), [])


if __name__ == "__main__":
    harness.main()
