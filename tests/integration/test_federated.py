# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The federated credential (MCP_AUTH_BROKER_GRAPH_CREDENTIAL=federated):
workload identity federation, as AKS workload identity and GitHub Actions
use it, against real cryptography.

An OIDC issuer is made at test time: an RSA key (`openssl genpkey`) that
signs federated tokens (RS256, `openssl dgst -sign`), laid out in a
directory as the kubelet lays out a projected service-account token
(`azure-identity-token -> ..data/azure-identity-token`, `..data ->
..TIMESTAMP`, rotated by swapping `..data`).  tests/fixtures/mock_entra.py
holds the app registration's federated identity credential: it verifies each
client assertion's signature against that issuer's public key (`openssl dgst
-verify`) and checks iss, sub, aud = api://AzureADTokenExchange and exp,
answering with Entra ID's AADSTS errors otherwise.  After every test
brokerd's whole output is searched for the tokens (whole and by part).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
import test_tokend_http as tth  # noqa: E402
from test_tokend_http import CLIENT_ID, OTHER_CLIENT_ID, TENANT, dump  # noqa: E402

mock_entra = tth.mock_entra
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUDIENCE = "api://AzureADTokenExchange"
SUBJECT = "system:serviceaccount:mcp:mcp-auth-broker"
TOKEN_NAME = "azure-identity-token"
# A leak-scan marker inside every token's claims: a decoded token in any
# output shows it in clear.
MARKER = "MARKER_FEDERATED_TOKEN_"
# Under valgrind (tests/run-valgrind.sh) tokend's TLS handshake with the
# mock takes seconds: logins get more time there, and only there.
SLOW = 4 if os.environ.get("MAB_WRAPPER") else 1
# common/ipc.h
MSG_ASSERTION_REQ, MSG_ASSERTION_ANS = 20, 21


def setUpModule():
    tth.setUpModule()


def tearDownModule():
    tth.tearDownModule()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OIDC issuer (a Kubernetes cluster's service-account issuer, say):
    its URL and an RSA key made now; mint() signs a token as it would."""

    def __init__(self, directory, name="cluster"):
        self.url = "https://oidc.%s.test.invalid/%s/" % (name, os.urandom(4).hex())
        self.key = os.path.join(directory, "issuer-%s.key" % name)
        self.pub = os.path.join(directory, "issuer-%s.pub" % name)
        run = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=60, check=True)
        subprocess.run(("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", self.key), **run)
        subprocess.run(("openssl", "pkey", "-in", self.key, "-pubout", "-out", self.pub), **run)

    def mint(self, sub=SUBJECT, aud=(AUDIENCE,), lifetime=3600, iss=None, **extra):
        now = int(time.time())
        claims = {"aud": list(aud), "exp": now + lifetime, "iat": now, "nbf": now,
                  "iss": iss or self.url, "sub": sub,
                  "jti": MARKER + os.urandom(8).hex(),
                  "kubernetes.io": {"namespace": "mcp", "serviceaccount": {"name": "mcp-auth-broker"}}}
        claims.update(extra)
        head = b64url(json.dumps({"alg": "RS256", "kid": "test", "typ": "JWT"}).encode())
        body = b64url(json.dumps(claims).encode())
        sig = subprocess.run(("openssl", "dgst", "-sha256", "-sign", self.key),
                             input=(head + "." + body).encode(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60, check=True).stdout
        return head + "." + body + "." + b64url(sig)


class ProjectedVolume:
    """A projected service-account token as the kubelet writes it: the
    token in a timestamped directory, `..data` pointing at it, the file
    name a symlink through `..data`; rotation swaps `..data` atomically."""

    def __init__(self, root):
        self.dir = os.path.join(root, "tokens")
        os.makedirs(self.dir, 0o755)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, TOKEN_NAME)
        self.current = None
        self.n = 0

    def write(self, token, mode=0o644):
        self.n += 1
        stamp = os.path.join(self.dir, "..2026_11_30_19_00_%02d.%d" % (self.n, os.getpid()))
        os.mkdir(stamp, 0o755)
        with open(os.path.join(stamp, TOKEN_NAME), "w") as f:
            f.write(token)
        os.chmod(os.path.join(stamp, TOKEN_NAME), mode)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(os.path.basename(stamp), tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))
        if not os.path.lexists(self.path):
            os.symlink(os.path.join("..data", TOKEN_NAME), self.path)
        if self.current is not None:
            shutil.rmtree(self.current)
        self.current = stamp
        return token

    def file(self):
        return os.path.join(self.current, TOKEN_NAME)


class FederatedCase(tth.TokendHttpCase):
    def setUp(self):
        super().setUp()
        self.issuer = Issuer(self.tmp)
        self.volume = ProjectedVolume(self.tmp)
        self.minted = []
        self.token = self.write(self.issuer.mint())
        self.trust(self.issuer)

    def write(self, token, mode=0o644):
        self.minted.append(token)
        return self.volume.write(token, mode)

    def trust(self, issuer, subject=SUBJECT, audience=AUDIENCE):
        """The app registration's federated identity credential."""
        self.mock.set_federated_credential(
            mock_entra.FederatedCredential(issuer.url, issuer.pub, subject, audience))

    def call(self, broker, changes=None, resource=None, request_id="req-1", timeout_ms=10000,
             timeout=harness.DEFAULT_TIMEOUT):
        return super().call(broker, changes, resource, request_id, timeout_ms * SLOW, timeout * SLOW)

    def fed_env(self, extra=None, **kw):
        env = self.env(extra, **kw)
        del env["MCP_AUTH_BROKER_GRAPH_SECRET_REF"]
        del env["MCP_AUTH_BROKER_SECRET_PROVIDER"]
        env["MCP_AUTH_BROKER_GRAPH_CREDENTIAL"] = "federated"
        env["AZURE_FEDERATED_TOKEN_FILE"] = self.volume.path
        if SLOW > 1:
            env["MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS"] = str(4 * SLOW)
        env.update(extra or {})
        return env

    def fed_broker(self, extra=None, **kw):
        return self.started(env_overrides=self.fed_env(extra, **kw))

    def run_config(self, changes, remove=(), args=()):
        env = self.fed_env()
        env.update(changes)
        for name in remove:
            env.pop(name, None)
        return harness.run_once(self.stage, list(args), env)

    def needles(self):
        sent = [r["assertion"] for r in self.mock.token_requests() if r["assertion"]]
        tokens = set(self.minted + sent)
        return [MARKER] + [t for t in tokens] + [part for t in tokens for part in t.split(".")]

    def assert_clean(self, what, data):
        found = harness.find_needles(data, self.needles())
        if found:
            raise harness.HarnessError("%s carries federated token material: %r"
                                       % (what, [f[:24] for f in found]))

    def _assert_no_leak(self, holder):
        super()._assert_no_leak(holder)
        if holder:
            self.assert_clean("brokerd's stdout", holder[0].stdout_bytes())
            self.assert_clean("brokerd's stderr", holder[0].stderr_bytes())


class FederatedLogin(FederatedCase):
    def test_login_presents_the_token_and_graph_answers(self):
        broker = self.fed_broker()
        sc = self.assert_ok(self.call(broker), source="minted")
        self.assertEqual(sc["execution"]["http_status"], 200)
        reqs = self.mock.token_requests()
        self.assertEqual(len(reqs), 1, dump(reqs))
        r = reqs[0]
        self.assertEqual(r["status"], 200, dump(r))
        self.assertIs(r["federated"], True, dump(r))
        self.assertIs(r["assertion_ok"], True, dump(r))
        self.assertEqual(r["assertion"], self.token)
        self.assertNotIn("client_secret", r["field_names"])
        self.assertEqual(r["fields"]["client_assertion_type"], ASSERTION_TYPE)
        self.assertEqual(r["fields"]["client_id"], CLIENT_ID)
        self.assertEqual(r["fields"]["grant_type"], "client_credentials")
        self.assertEqual(len(self.graph_requests()), 1)
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")

    def test_rotated_token_is_read_for_the_next_login(self):
        # The kubelet swaps ..data; the next login (another resource: another
        # cache entry) presents the new token, with no restart and no
        # rejected login first.
        broker = self.fed_broker(resources=[self.mock.base_url, self.mock.localhost_url])
        self.assert_ok(self.call(broker))
        old = self.volume.file()
        rotated = self.write(self.issuer.mint())
        self.assertFalse(os.path.exists(old))
        self.assert_ok(self.call(broker, request_id="req-2", resource=self.mock.localhost_url),
                       "req-2", source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [200, 200], dump(reqs))
        self.assertEqual([r["assertion"] for r in reqs], [self.token, rotated])

    def test_token_expiring_graph_401_logs_in_again_with_the_rotated_token(self):
        # Graph refuses the token (401 InvalidAuthenticationToken): tokend
        # logs in again for the same resource, with what the file holds now.
        broker = self.fed_broker()
        self.assert_ok(self.call(broker))
        rotated = self.write(self.issuer.mint())
        self.mock.revoke()
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", http_status=401)
        self.assert_ok(self.call(broker, request_id="req-3"), "req-3", source="minted")
        reqs = self.mock.token_requests()
        self.assertGreaterEqual(len(reqs), 2, dump(reqs))
        self.assertEqual(reqs[-1]["assertion"], rotated, dump(reqs))
        self.assertEqual(reqs[-1]["status"], 200, dump(reqs))

    def test_issuer_rejects_an_unknown_subject(self):
        self.trust(self.issuer, subject="system:serviceaccount:other:other")
        sc = self.assert_error(self.call(self.fed_broker()), "provider.auth_failed")
        msg = sc["error"]["message"]
        self.assertIn("AADSTS700213", msg)
        self.assertIn("federated credential", msg)
        self.assertIn("federated identity credential", msg)
        self.assertIn("system:serviceaccount:", msg)
        # A rejection re-reads the file once (it may just have rotated).
        self.assertEqual([r["status"] for r in self.mock.token_requests()], [401, 401])

    def test_issuer_rejects_an_unknown_issuer(self):
        self.trust(Issuer(self.tmp, "other"))
        sc = self.assert_error(self.call(self.fed_broker()), "provider.auth_failed")
        self.assertIn("AADSTS700211", sc["error"]["message"])
        self.assertIn("federated credential", sc["error"]["message"])
        self.assertIn("issuer", sc["error"]["message"])

    def test_wrong_audience_is_rejected(self):
        self.write(self.issuer.mint(aud=("api://something-else",)))
        sc = self.assert_error(self.call(self.fed_broker()), "provider.auth_failed")
        self.assertIn("AADSTS700212", sc["error"]["message"])
        self.assertIn(AUDIENCE, sc["error"]["message"])

    def test_mock_refuses_a_token_signed_by_another_key(self):
        # The mock's verification is real: the right claims signed by a key
        # that is not the issuer's are refused.
        forger = Issuer(self.tmp, "forger")
        self.write(forger.mint(iss=self.issuer.url))
        sc = self.assert_error(self.call(self.fed_broker()), "provider.auth_failed")
        self.assertIn("AADSTS700027", sc["error"]["message"])
        self.assertIs(self.mock.token_requests()[0]["assertion_ok"], False)


class FederatedFile(FederatedCase):
    def assert_file_refused(self, code, *words):
        sc = self.assert_error(self.call(self.fed_broker()), code)
        for w in ("federated credential",) + words:
            self.assertIn(w, sc["error"]["message"])
        self.assertEqual(self.mock.token_requests(), [])
        return sc

    def test_not_a_jwt_is_refused(self):
        self.write("this is not a token\n")
        self.assert_file_refused("secret.not_found", "JWT")

    def test_payload_not_json_is_refused(self):
        self.write(b64url(b'{"alg":"RS256"}') + "." + b64url(b"not json") + ".c2ln")
        self.assert_file_refused("secret.not_found", "payload")

    def test_expired_token_is_refused(self):
        self.write(self.issuer.mint(lifetime=-60))
        self.assert_file_refused("secret.unavailable", "expired")

    def test_missing_file_is_refused(self):
        os.unlink(self.volume.path)
        self.assert_file_refused("secret.not_found", "does not exist")

    def test_trailing_newline_is_dropped(self):
        self.write(self.token + "\n")
        self.assert_ok(self.call(self.fed_broker()))
        self.assertEqual(self.mock.token_requests()[0]["assertion"], self.token)

    def test_kubelet_mode_0644_is_accepted(self):
        # Root-owned (when the tests run as root) or ours, mode 0644: the
        # projected volume's layout, which a client secret's file rules
        # would refuse.
        self.write(self.token, 0o644)
        st = os.stat(self.volume.path)
        self.assertIn(st.st_uid, (0, os.geteuid()))
        self.assert_ok(self.call(self.fed_broker()))

    def test_world_writable_file_is_refused(self):
        self.write(self.token, 0o666)
        self.assert_file_refused("secret.access_denied", "writable by others")

    def test_group_writable_file_is_refused(self):
        self.write(self.token, 0o664)
        self.assert_file_refused("secret.access_denied")

    def test_file_of_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file away")
        self.write(self.token, 0o644)
        os.chown(self.volume.file(), 65534, 65534)
        self.assert_file_refused("secret.access_denied", "another user")

    def test_fifo_is_refused_not_waited_on(self):
        os.unlink(self.volume.file())
        os.mkfifo(self.volume.file(), 0o644)
        self.assert_file_refused("secret.access_denied", "regular file")


class FederatedConfig(FederatedCase):
    def test_azure_variables_fill_the_broker_identity(self):
        # What the workload-identity webhook injects, without the broker's
        # own tenant, client id and authority.
        env = self.fed_env({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": TENANT,
                            "AZURE_AUTHORITY_HOST": self.mock.base_url + "/"})
        for name in ("MCP_AUTH_BROKER_GRAPH_CLIENT_ID", "MCP_AUTH_BROKER_TENANT_ID",
                     "MCP_AUTH_BROKER_AUTHORITY"):
            del env[name]
        self.assert_ok(self.call(self.started(env_overrides=env)))
        r = self.mock.token_requests()[0]
        self.assertEqual((r["status"], r["tenant"], r["fields"]["client_id"]), (200, TENANT, CLIENT_ID))

    def test_broker_variables_win_over_azure_ones(self):
        env = self.fed_env({"AZURE_CLIENT_ID": OTHER_CLIENT_ID,
                            "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000beef",
                            "AZURE_AUTHORITY_HOST": "https://127.0.0.1:9/"})
        self.assert_ok(self.call(self.started(env_overrides=env)))
        self.assertEqual(self.mock.token_requests()[0]["fields"]["client_id"], CLIENT_ID)

    def test_azure_variables_are_ignored_with_a_client_secret(self):
        env = self.env({"AZURE_CLIENT_ID": CLIENT_ID})
        del env["MCP_AUTH_BROKER_GRAPH_CLIENT_ID"]
        status, _, err = harness.run_once(self.stage, [], env)
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CLIENT_ID: required", err)

    def test_bad_azure_values_are_named(self):
        status, _, err = self.run_config(
            {"AZURE_CLIENT_ID": "not-a-guid", "AZURE_AUTHORITY_HOST": "http://login.example/"},
            remove=("MCP_AUTH_BROKER_GRAPH_CLIENT_ID", "MCP_AUTH_BROKER_AUTHORITY"))
        self.assertEqual(status, 78, err)
        self.assertIn("AZURE_CLIENT_ID: 'not-a-guid' is not an application (client) id", err)
        self.assertIn("AZURE_AUTHORITY_HOST: 'http://login.example/' must start with https://", err)

    def test_relative_token_file_is_refused(self):
        status, _, err = self.run_config({"AZURE_FEDERATED_TOKEN_FILE": "tokens/azure-identity-token"})
        self.assertEqual(status, 78, err)
        self.assertIn("AZURE_FEDERATED_TOKEN_FILE: 'tokens/azure-identity-token' is not an absolute path", err)

    def test_token_file_is_required(self):
        status, _, err = self.run_config({}, remove=("AZURE_FEDERATED_TOKEN_FILE",))
        self.assertEqual(status, 78, err)
        self.assertIn("AZURE_FEDERATED_TOKEN_FILE: required when MCP_AUTH_BROKER_GRAPH_CREDENTIAL "
                      "is federated", err)

    def test_secret_provider_and_reference_are_refused(self):
        status, _, err = self.run_config({"MCP_AUTH_BROKER_SECRET_PROVIDER": "file",
                                          "MCP_AUTH_BROKER_GRAPH_SECRET_REF": self.secret_file})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_SECRET_PROVIDER: set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL "
                      "is federated", err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_SECRET_REF: set, but", err)

    def test_certificate_reference_is_refused(self):
        status, _, err = self.run_config({"MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF": "/x.pem"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_GRAPH_CERTIFICATE_REF: set, but", err)


class FederatedOperator(FederatedCase):
    def test_check_prints_issuer_subject_audience_and_expiry(self):
        status, out, err = self.run_config({}, args=["--check"])
        self.assertEqual(status, 0, out + err)
        line = [l for l in out.splitlines() if "federated token" in l]
        self.assertEqual(len(line), 1, out)
        self.assertIn("issuer %s" % self.issuer.url, line[0])
        self.assertIn("subject %s" % SUBJECT, line[0])
        self.assertIn("audience %s" % AUDIENCE, line[0])
        self.assertRegex(line[0], r"expires 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        self.assertEqual(self.mock.token_requests(), [], "--check logged in")
        self.assert_clean("brokerd --check's output", (out + err).encode())

    def test_check_fails_on_an_expired_token(self):
        self.write(self.issuer.mint(lifetime=-5))
        status, out, err = self.run_config({}, args=["--check"])
        self.assertNotEqual(status, 0, out + err)
        self.assertRegex(out, r"(?m)^.*federated token.*secret\.unavailable: federated credential: "
                              r"the token in the file has expired")
        self.assert_clean("brokerd --check's output", (out + err).encode())

    def test_check_fails_on_a_file_that_is_not_a_jwt(self):
        self.write("{}")
        status, out, err = self.run_config({}, args=["--check"])
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("secret.not_found: federated credential: the token file does not hold a JWT", out)

    def test_check_warns_on_another_audience(self):
        self.write(self.issuer.mint(aud=("api://other",)))
        status, out, err = self.run_config({}, args=["--check"])
        self.assertRegex(out, r"(?m)^.*federated token.*audience api://other is not " + AUDIENCE)

    def test_ready_logs_in_and_prints_the_token_claims(self):
        status, out, err = self.run_config({}, args=["--ready"])
        self.assertEqual(status, 0, out + err)
        self.assertRegex(out, r"(?m)^.*token.*%s: minted Bearer token" % re.escape(self.mock.base_url))
        self.assertIn("subject %s" % SUBJECT, out)
        self.assertEqual([r["status"] for r in self.mock.token_requests()], [200])
        self.assert_clean("brokerd --ready's output", (out + err).encode())

    def test_ready_fails_when_the_issuer_is_not_trusted(self):
        self.trust(self.issuer, subject="system:serviceaccount:x:y")
        status, out, err = self.run_config({}, args=["--ready"])
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("provider.auth_failed", out)
        self.assertIn("AADSTS700213", out)


class SecretdMonitor(FederatedCase):
    """secretd spoken to directly, as tokend and a hostile brokerd would:
    with a federated credential it answers ASSERTION_REQ with the token
    file's content and never serves a SECRET_REQ."""

    def secretd(self):
        env = sup.secretd_env("none", None, {
            "MCP_AUTH_BROKER_GRAPH_CREDENTIAL": "federated",
            "AZURE_FEDERATED_TOKEN_FILE": self.volume.path})
        sd = sup.Secretd(self.stage, env)
        self.addCleanup(sd.close)
        return sd

    def test_assertion_is_the_current_token(self):
        sd = self.secretd()
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 5, b'{"refresh":false}')
        self.assertEqual(sd.recv(sd.tokend), (MSG_ASSERTION_ANS, 5, self.token.encode()))
        rotated = self.write(self.issuer.mint())
        sd.send(sd.tokend, MSG_ASSERTION_REQ, 6, b'{"refresh":false}')
        self.assertEqual(sd.recv(sd.tokend), (MSG_ASSERTION_ANS, 6, rotated.encode()))
        self.assert_clean("secretd's log", sd.log().encode())

    def test_secret_request_is_refused(self):
        sd = self.secretd()
        msg_type, payload = sd.ask_secret(7)
        self.assertEqual(msg_type, sup.MSG_SECRET_ERR, payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")
        self.assertIn("refused SECRET_REQ 7 from tokend: the credential is a federated",
                      sd.log_with("refused SECRET_REQ"))
        self.assertNotIn(self.token.encode(), payload)

    def test_brokerd_may_not_ask_for_the_token(self):
        sd = self.secretd()
        sd.send(sd.broker, MSG_ASSERTION_REQ, 8, b'{"refresh":false}')
        self.assertNotEqual(sd.wait(), 0, sd.log())


if __name__ == "__main__":
    harness.main()
