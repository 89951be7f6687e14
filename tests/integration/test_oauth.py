# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Remote MCP callers with OAuth bearer tokens (MCP_AUTH_BROKER_AUTH_MODE=oauth
and hybrid), against an authorization-server stand-in on 127.0.0.1.

tests/fixtures/oauth_issuer.py makes RSA and EC keys at test time and signs
access tokens with real RS256, PS256 and ES256; tests/fixtures/mock_entra.py
serves its JWKS and OpenID configuration where Entra ID does (the broker's
defaults find them from MCP_AUTH_BROKER_AUTHORITY and the tenant), over TLS
with the test CA.  tokend fetches the key set and hands brokerd the public
keys; brokerd checks each request's token.  Every token minted, every API
key and the client secret are searched for in brokerd's whole output after
each test: the caller's token is never forwarded or printed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))

import harness  # noqa: E402
import test_http  # noqa: E402
from harness import EXECUTE_TOOL, MOCK_TENANT, audit_records  # noqa: E402
from oauth_issuer import Issuer  # noqa: E402
from test_http import INIT_PARAMS, KEY, MODERN_META, free_port, write_keys  # noqa: E402

SCOPE = "mcp.graph"
CALL_TIMEOUT = 60 if harness.UNDER_WRAPPER else 15


class OAuthCase(test_http.HttpCase, harness.MockGraphCase):
    def setUp(self):
        harness.MockGraphCase.setUp(self)
        self.issuer = Issuer("%s/%s/v2.0" % (self.mock.base_url, MOCK_TENANT))
        self.mock.set_issuer(self.issuer)

    def _finish_broker(self, broker):
        harness.MockGraphCase._finish_broker(self, broker)
        data = broker.stdout_bytes() + broker.stderr_bytes()
        for token in self.issuer.minted + [KEY]:
            # The token, and its signature alone (a log line could cut it).
            for needle in (token, token.rsplit(".", 1)[-1]):
                if len(needle) > 16 and needle.encode() in data:
                    raise harness.HarnessError("a caller's credential appeared in brokerd output")

    def serve_oauth(self, extra=None, mode="oauth", wait_keys=True):
        self.port = free_port()
        self.resource = "http://127.0.0.1:%d/mcp" % self.port
        env = self.mock_env({"MCP_AUTH_BROKER_AUTH_MODE": mode,
                             "MCP_AUTH_BROKER_RESOURCE_SERVER_URL": self.resource,
                             "MCP_AUTH_BROKER_OAUTH_REQUIRED_SCOPES": SCOPE})
        env.update(extra or {})
        self.tmp = tempfile.mkdtemp(prefix="mab-oauth-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.audit = os.path.join(self.tmp, "audit.log")
        env["MCP_AUTH_BROKER_AUDIT_FILE"] = self.audit
        self.broker = self.start_broker(env, args=["--http", "127.0.0.1:%d" % self.port])
        harness.wait_until(self.listening, timeout=10)
        if wait_keys:  # tokend fetched the key set and brokerd has it
            self.assertTrue(harness.wait_until(lambda: self.post_initialize(self.token())[0] != 503,
                                               timeout=CALL_TIMEOUT), "tokend fetched no key set")
        return self.broker

    def token(self, **kw):
        kw.setdefault("aud", self.resource)
        kw.setdefault("scp", SCOPE)
        return self.issuer.mint(**kw)

    def bearer(self, token):
        return {"Authorization": "Bearer " + token}

    def post_initialize(self, token):
        return self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS},
                         self.bearer(token))

    def call_users(self, token, requester=None):
        args = {"operation": {"method": "GET", "path": "/v1.0/users"}, "timeout_ms": CALL_TIMEOUT * 1000}
        if requester:
            args["requester"] = {"requester_id": requester, "identity_assurance": "asserted"}
        msg = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
               "params": {"name": EXECUTE_TOOL, "arguments": args, "_meta": MODERN_META}}
        c = self.conn(timeout=CALL_TIMEOUT + 5)
        try:
            return self.post(msg, self.bearer(token), conn=c)
        finally:
            c.close()

    def assert_challenge(self, status, hdrs, body, want=401, error="invalid_token"):
        self.assert_refused(status, body, want)
        challenge = hdrs.get("www-authenticate", "")
        self.assertTrue(challenge.startswith('Bearer resource_metadata="http://127.0.0.1:%d/.well-known/'
                                             'oauth-protected-resource/mcp"' % self.port), challenge)
        if error:
            self.assertIn('error="%s"' % error, challenge)
        return challenge


class MetadataTests(OAuthCase):
    def test_protected_resource_metadata_and_challenge(self):
        self.serve_oauth(wait_keys=False)
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            c = self.conn()
            c.request("GET", path)
            status, hdrs, doc = self.read(c)
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["resource"], self.resource)
            self.assertEqual(doc["authorization_servers"], [self.issuer.issuer])
            self.assertEqual(doc["scopes_supported"], [SCOPE])
            self.assertEqual(doc["bearer_methods_supported"], ["header"])
        # No token: 401 naming the metadata, no error (RFC 6750 section 3.1).
        status, hdrs, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS})
        challenge = self.assert_challenge(status, hdrs, body, error=None)
        self.assertNotIn("error=", challenge)


    def test_remote_client_configuration(self):
        """contrib/mcp-clients/remote-http.json: what README's Remote clients
        section gives a VS Code user, OAuth and API-key variants."""
        src = os.environ.get("MAB_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        with open(os.path.join(src, "contrib", "mcp-clients", "remote-http.json")) as f:
            conf = json.load(f)
        servers = conf["servers"]
        self.assertEqual({s["type"] for s in servers.values()}, {"http"})
        self.assertTrue(all(s["url"].startswith("https://") and s["url"].endswith("/mcp") for s in servers.values()))
        self.assertNotIn("headers", servers["microsoft-graph"])  # OAuth: discovered, not configured
        ids = {i["id"] for i in conf["inputs"]}
        self.assertEqual(servers["microsoft-graph-api-key"]["headers"]["Authorization"], "Bearer ${input:mab-api-key}")
        self.assertIn("mab-api-key", ids)


class TokenTests(OAuthCase):
    def test_rs256_ps256_es256_callers_call_graph_as_themselves(self):
        self.serve_oauth()
        for alg in ("RS256", "PS256", "ES256"):
            with self.subTest(alg=alg):
                oid = str(uuid.uuid4())
                token = self.token(alg=alg, oid=oid)
                # The requester a caller names is not who the call is for.
                status, _, body = self.call_users(token, requester="someone-else")
                self.assertEqual(status, 200, body)
                result = harness.tool_result(body)
                self.assertFalse(result.get("isError"), result)
                calls = [r for r in audit_records(self.audit, "tool_call") if r.get("caller") == oid]
                self.assertEqual(len(calls), 1, calls)
                rec = calls[0]
                self.assertEqual(rec["auth_method"], "oauth")
                self.assertEqual(rec["requester_id"], oid)
                self.assertRegex(rec["token_sha256"], r"^[0-9a-f]{16}$")
                self.assertTrue(rec["token_jti"])
                self.assertTrue(rec["caller_app"])
        # Graph was called with the broker's own token, never the caller's.
        for req in self.mock.graph_requests():
            auth = req["header_map"].get("authorization", "")
            self.assertIn(auth[len("Bearer "):], self.mock.issued_tokens())

    def test_bad_tokens_are_refused_and_the_daemon_serves_on(self):
        self.serve_oauth()
        now = int(time.time())
        other_issuer = Issuer(self.issuer.issuer)
        cases = {
            "wrong audience": self.token(aud="https://other.example/mcp"),
            "wrong issuer": self.token(iss="https://login.microsoftonline.com/other/v2.0"),
            "expired": self.token(exp=now - 3600, nbf=now - 7200),
            "not yet valid": self.token(nbf=now + 3600),
            "no expiry": self.token(exp=None),
            "alg none": self.issuer.forge_none(self.resource, scp=SCOPE),
            "HS256 keyed with the public key": self.issuer.forge_hs256(self.resource, scp=SCOPE),
            "unlisted key": self.token(key=self.issuer.unlisted()),
            "another issuer's key, listed kid": self.token(key=other_issuer.rsa, header={"kid": self.issuer.rsa.kid}),
            "RS256 header on the EC key": self.token(alg="RS256", key=self.issuer.rsa, header={"kid": self.issuer.ec.kid}),
            "garbage": "a.b.c",
        }
        tampered = self.token().split(".")
        tampered[1] = tampered[1][:-4] + ("AAAA" if not tampered[1].endswith("AAAA") else "BBBB")
        cases["payload changed after signing"] = ".".join(tampered)
        # cjose's base64 decoder aborts the process on padding inside a part
        # (found by fuzz_bearer): one such token must not stop brokerd.
        h, p, sig = self.token().split(".")
        cases["padding inside the payload"] = "%s.%s.%s" % (
            h, "eyJpc3MiOiJzZWxmd=VzdCI6InNlc3QiLCJlHeAiOj4MDAsIpm5iZiI6MH5", sig)
        cases["payload of impossible base64 length"] = "%s.%s.%s" % (h, p + "A" * ((1 - len(p)) % 4), sig)
        for name, token in cases.items():
            with self.subTest(name):
                status, hdrs, body = self.call_users(token)
                self.assert_challenge(status, hdrs, body)
        status, hdrs, body = self.call_users(self.token(scp="User.Read"))
        challenge = self.assert_challenge(status, hdrs, body, want=403, error="insufficient_scope")
        self.assertIn('scope="%s"' % SCOPE, challenge)
        # A role (application permission) counts as well as a scope.
        status, _, body = self.call_users(self.token(scp=None, roles=[SCOPE]))
        self.assertEqual(status, 200, body)
        self.assertEqual(self.mock.counts()["graph_requests"], 1)

    def test_unknown_kid_fetches_the_key_set_again_rate_limited(self):
        self.serve_oauth()
        before = self.mock.jwks_requests()
        new = self.issuer.rotate()
        token = self.token(key=new)
        status, hdrs, body = self.call_users(token)
        self.assert_challenge(status, hdrs, body)  # not known yet: refused, refresh asked
        self.assertTrue(harness.wait_until(lambda: self.call_users(token)[0] == 200, timeout=CALL_TIMEOUT))
        self.assertEqual(self.mock.jwks_requests(), before + 1)
        # Made-up kids do not make tokend hammer the issuer.
        for _ in range(20):
            self.call_users(self.token(key=self.issuer.unlisted()))
        status, _, body = self.call_users(token)
        self.assertEqual(status, 200, body)
        time.sleep(0.5)
        self.assertLessEqual(self.mock.jwks_requests(), before + 2)

    def test_sessions_belong_to_their_caller(self):
        self.serve_oauth()
        alice, mallory = self.token(oid=str(uuid.uuid4())), self.token(oid=str(uuid.uuid4()))
        status, hdrs, body = self.post_initialize(alice)
        self.assertEqual(status, 200, body)
        sid = hdrs["mcp-session-id"]
        msg = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        status, _, body = self.post(msg, self.session_headers(sid, self.bearer(mallory)))
        self.assertEqual(status, 404, body)
        status, _, body = self.post(msg, self.session_headers(sid, self.bearer(alice)))
        self.assertEqual(status, 200, body)


class RoleTests(OAuthCase):
    """Per-caller rules: MCP_AUTH_BROKER_MUTATIONS_REQUIRED_ROLE and
    MCP_AUTH_BROKER_PATH_ROLES, judged on the roles and scopes of the
    verified caller (in brokerd, and again in tokend)."""

    def call(self, token, method, path, body=None):
        args = {"operation": {"method": method, "path": path}, "timeout_ms": CALL_TIMEOUT * 1000}
        if body is not None:
            args["operation"]["body"] = body
        msg = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": EXECUTE_TOOL, "arguments": args, "_meta": MODERN_META}}
        status, _, body = self.post(msg, self.bearer(token))
        self.assertEqual(status, 200, body)
        return harness.tool_result(body)

    def test_roles_gate_mutations_and_paths(self):
        keys = os.path.join(self.tmp, "api-keys")
        with open(keys, "w") as f:
            f.write("writer-bot %s Graph.Writer\n" % __import__("hashlib").sha256(KEY.encode()).hexdigest())
        os.chmod(keys, 0o600)
        self.serve_oauth({"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
                          "MCP_AUTH_BROKER_MUTATIONS_REQUIRED_ROLE": "Graph.Writer",
                          "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users, POST:/v1.0/users, GET:/v1.0/organization",
                          "MCP_AUTH_BROKER_PATH_ROLES": "GET:/v1.0/organization=Org.Reader",
                          "MCP_AUTH_BROKER_API_KEYS_FILE": keys}, mode="hybrid")
        plain, writer = self.token(), self.token(roles=["Graph.Writer"])
        reader = self.token(scp="%s Org.Reader" % SCOPE)
        denied = self.call(plain, "POST", "/v1.0/users", {"displayName": "x"})
        self.assertTrue(denied["isError"], denied)
        sc = denied["structuredContent"]
        self.assertEqual(sc["policy"]["reason"], "policy.rule.deny.caller.role", sc)
        self.assertIn("Graph.Writer", sc["error"]["message"])
        self.assertFalse(self.call(writer, "POST", "/v1.0/users", {"displayName": "x"})["isError"])
        self.assertFalse(self.call(KEY, "POST", "/v1.0/users", {"displayName": "y"})["isError"])
        self.assertTrue(self.call(plain, "GET", "/v1.0/organization")["isError"])
        self.assertFalse(self.call(reader, "GET", "/v1.0/organization")["isError"])
        self.assertFalse(self.call(plain, "GET", "/v1.0/users")["isError"])
        self.assertEqual([r["method"] + " " + r["path"] for r in self.mock.graph_requests()],
                         ["POST /v1.0/users", "POST /v1.0/users", "GET /v1.0/organization", "GET /v1.0/users"])


class HybridTests(OAuthCase):
    def test_api_key_or_token(self):
        keys = os.path.join(self.tmp, "api-keys")
        write_keys(keys, [("ci-agent", KEY)])
        self.serve_oauth({"MCP_AUTH_BROKER_API_KEYS_FILE": keys}, mode="hybrid")
        status, _, body = self.call_users(KEY)
        self.assertEqual(status, 200, body)
        status, _, body = self.call_users(self.token())
        self.assertEqual(status, 200, body)
        status, hdrs, body = self.call_users("not-a-key")
        self.assert_challenge(status, hdrs, body, error=None)
        methods = {r["auth_method"] for r in audit_records(self.audit, "tool_call")}
        self.assertEqual(methods, {"api_key", "oauth"})


class KeySetTests(OAuthCase):
    def test_no_keys_yet_is_503_with_retry_after(self):
        self.mock.set_issuer(self.issuer, status=500)
        self.serve_oauth(wait_keys=False)
        status, hdrs, body = self.post_initialize(self.token())
        self.assert_refused(status, body, 503)
        self.assertEqual(hdrs.get("retry-after"), "5")
        harness.wait_until(lambda: "OAuth key set" in self.broker.stderr_text(), timeout=CALL_TIMEOUT)
        self.assertIn("the issuer answered HTTP 500", self.broker.stderr_text())


class ReadyKeysTests(OAuthCase):
    """brokerd --ready with OAuth callers also proves the issuer's key set
    can be fetched: tokend fetches it at start and tells brokerd."""

    def ready(self, mode="oauth"):
        env = {"MCP_AUTH_BROKER_AUTH_MODE": mode,
               "MCP_AUTH_BROKER_RESOURCE_SERVER_URL": "http://127.0.0.1:%d/mcp" % free_port()}
        if mode == "hybrid":
            keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
            self.addCleanup(shutil.rmtree, os.path.dirname(keys), True)
            write_keys(keys, [("alice", KEY)])
            env["MCP_AUTH_BROKER_API_KEYS_FILE"] = keys
        return harness.run_once(self.stage, ["--ready"], self.mock_env(env))

    def jwks_uri(self):
        return "%s/%s/discovery/v2.0/keys" % (self.mock.base_url, MOCK_TENANT)

    def test_keys_served_is_an_ok_line(self):
        for mode in ("oauth", "hybrid"):
            with self.subTest(mode=mode):
                status, out, err = self.ready(mode)
                self.assertEqual(status, 0, out + err)
                self.assertRegex(out, r"(?m)^ok\s+OAuth keys\s+%d signing keys from %s$"
                                 % (len(self.issuer.listed), self.jwks_uri()))

    def test_issuer_failing_is_a_fail_line_and_exit_1(self):
        self.mock.set_issuer(self.issuer, status=500)
        status, out, err = self.ready()
        self.assertEqual(status, 1, out + err)
        self.assertRegex(out, r"(?m)^fail\s+OAuth keys\s+%s: the issuer answered HTTP 500; "
                         % self.jwks_uri())
        # The token check itself passed: only the keys failed.
        self.assertRegex(out, r"(?m)^ok\s+token\s")

    def test_no_line_without_oauth_callers(self):
        status, out, err = harness.run_once(self.stage, ["--ready"], self.mock_env({}))
        self.assertEqual(status, 0, out + err)
        self.assertNotIn("OAuth keys", out)


class StartRefusalTests(OAuthCase):
    def refused(self, env, args=None, want=78):
        status, out, err = harness.run_once(self.stage, args or ["--http", "127.0.0.1:%d" % free_port()],
                                            self.mock_env(env))
        self.assertEqual(status, want, out + err)
        return err

    def test_configuration_refusals(self):
        oauth = {"MCP_AUTH_BROKER_AUTH_MODE": "oauth"}
        self.assertIn("MCP_AUTH_BROKER_RESOURCE_SERVER_URL: is required", self.refused(oauth))
        url = {"MCP_AUTH_BROKER_RESOURCE_SERVER_URL": "http://127.0.0.1:1/mcp"}
        self.assertIn("smoke mode", self.refused(dict(oauth, MCP_AUTH_BROKER_ENV="smoke", **url)))
        self.assertIn("neither oauth nor hybrid", self.refused({"MCP_AUTH_BROKER_OAUTH_REQUIRED_SCOPES": "x"}))
        self.assertIn("MCP_AUTH_BROKER_OAUTH_ISSUER: is required",
                      self.refused(dict(oauth, MCP_AUTH_BROKER_TENANT_ID="contoso.onmicrosoft.com", **url)))
        self.assertIn("must start with https://",
                      self.refused(dict(oauth, MCP_AUTH_BROKER_OAUTH_JWKS_URI="http://127.0.0.1/keys", **url)))
        self.assertIn("API_KEYS_FILE: is required",
                      self.refused(dict(url, MCP_AUTH_BROKER_AUTH_MODE="hybrid")))
        # http:// resource URL: loopback only.
        err = self.refused(dict(oauth, MCP_AUTH_BROKER_HTTP_BEHIND_PROXY="true", **url),
                           ["--http", "0.0.0.0:%d" % free_port()])
        self.assertIn("RESOURCE_SERVER_URL is http://", err)

    def test_check_reports_oauth(self):
        env = {"MCP_AUTH_BROKER_AUTH_MODE": "oauth",
               "MCP_AUTH_BROKER_RESOURCE_SERVER_URL": "https://mcp.example.com/mcp",
               "MCP_AUTH_BROKER_HTTP_BEHIND_PROXY": "true"}
        status, out, err = harness.run_once(self.stage, ["--check", "--http", "0.0.0.0:8808"], self.mock_env(env))
        self.assertRegex(out, r"ok\s+OAuth\s+tokens issued by %s/%s/v2.0 for https://mcp.example.com/mcp"
                         % (self.mock.base_url, MOCK_TENANT))
        self.assertRegex(out, r"ok\s+http\s+http://0\.0\.0\.0:8808/mcp \(auth oauth\)")


class SdkClientTests(OAuthCase):
    """The official TypeScript SDK's Streamable HTTP client with a bearer token."""

    def test_sdk_client_with_bearer_token(self):
        self.serve_oauth()
        oid = str(uuid.uuid4())
        report = test_http.SdkClientTests.drive(self, self.resource, self.token(oid=oid))
        self.assertNotIn("error", report, report)
        self.assertEqual([c["isError"] for c in report["calls"]], [False, False], report)
        self.assertEqual({r["requester_id"] for r in audit_records(self.audit, "tool_call")}, {oid})


if __name__ == "__main__":
    harness.main()
