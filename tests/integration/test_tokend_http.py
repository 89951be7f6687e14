# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""tokend's networking: the login endpoint and Graph over real HTTPS.

brokerd runs in dev mode with the `file` secret provider against
tests/fixtures/mock_entra.py, which serves the Microsoft login endpoint and
a small Graph on one loopback port, over TLS with a CA made for this module.
The tests assert what a user of the broker (and the identity platform on the
other side) would notice: what is sent to the login endpoint and to Graph,
what comes back to the agent, how each failure of the login endpoint or of
Graph is reported, and how the token cache saves login requests.

Nothing here leaves 127.0.0.1.  Every wait has a deadline; every brokerd and
every mock a test starts is stopped when the test ends; and after every test
the whole output of brokerd is searched for the access tokens the mock
issued and for the client secrets.
"""

import datetime
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import DESCRIBE_TOOL, EXECUTE_TOOL, BrokerTestCase, execute_args, tool_result  # noqa: E402

mock_entra = harness.import_mock_entra()

TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
OTHER_CLIENT_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
# Random per run, so that a leak check cannot pass by luck.
SECRET_V1 = "mab-test-secret-v1~" + os.urandom(12).hex()
SECRET_V2 = "mab-test-secret-v2~" + os.urandom(12).hex()
FORWARDED_HEADERS = ("accept", "content-type", "if-match", "prefer", "consistency-level",
                     "consistencylevel")
RESULT_HEADERS = ("request-id", "client-request-id", "retry-after", "content-type", "location")
RETRYABLE = ("provider.rate_limited", "provider.timeout", "provider.unavailable",
             "secret.timeout", "secret.unavailable")
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
MIB = 1024 * 1024

PKI = None        # the CA brokerd is told to trust, and the mock's certificate
OTHER_PKI = None  # an unrelated CA: a server it signed must be refused
_PKI_ROOT = None


def setUpModule():
    global PKI, OTHER_PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-pki-")
    PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "trusted"))
    OTHER_PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "untrusted"), cn="some other CA")


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True, default=repr)


def parse_utc(text):
    return datetime.datetime.strptime(text, ISO_UTC).replace(tzinfo=datetime.timezone.utc).timestamp()


class TokendHttpCase(BrokerTestCase):
    """One mock (expecting TENANT, CLIENT_ID, SECRET_V1) and one secret file
    (holding SECRET_V1) per test; helpers to start brokerd against them."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-tokend-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.secret_file = os.path.join(self.tmp, "graph-client-secret")
        harness.write_secret_file(self.secret_file, SECRET_V1)
        self.mocks = []
        self.mock = self.start_mock()

    def start_mock(self, pki=None):
        mock = mock_entra.MockEntra(pki or PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET_V1,
                                    verbose=bool(os.environ.get("MAB_MOCK_VERBOSE")))
        self.addCleanup(mock.stop)
        self.mocks.append(mock)
        return mock.start()

    # -- brokerd ---------------------------------------------------------

    def env(self, extra=None, resources=None, authority=None, ca_file=None):
        return harness.dev_env(
            authority or self.mock.base_url,
            resources or [self.mock.base_url],
            ca_file or PKI.ca_file,
            self.secret_file, TENANT, CLIENT_ID, extra)

    def broker(self, extra=None, **kw):
        """A brokerd past initialize, in dev mode against self.mock."""
        return self.started(env_overrides=self.env(extra, **kw))

    def start_broker(self, env_overrides=None, args=()):
        # Registered before the broker's own cleanup, so it runs after it:
        # brokerd is dead and its stderr fully drained when we look.
        holder = []
        self.addCleanup(self._assert_no_leak, holder)
        broker = super().start_broker(env_overrides, args)
        holder.append(broker)
        return broker

    def _assert_no_leak(self, holder):
        if not holder:
            return
        broker = holder[0]
        needles = [mock_entra.TOKEN_PREFIX, SECRET_V1, SECRET_V2]
        for mock in self.mocks:
            needles += mock.issued_tokens()
        for stream, data in (("stdout", broker.stdout_bytes()), ("stderr", broker.stderr_bytes())):
            found = harness.find_needles(data, needles)
            if found:
                raise harness.HarnessError("brokerd %s carries token or secret material: %r" % (stream, found))

    # -- calls ------------------------------------------------------------

    def args(self, changes=None, resource=None, request_id="req-1", timeout_ms=10000):
        base = {
            "graph.tenant_id": TENANT,
            "graph.resource": resource or self.mock.base_url,
            "request_id": request_id,
            "timeout_ms": timeout_ms,
        }
        base.update(changes or {})
        return execute_args(base)

    def call(self, broker, changes=None, resource=None, request_id="req-1", timeout_ms=10000, timeout=harness.DEFAULT_TIMEOUT):
        return broker.call_tool(EXECUTE_TOOL, self.args(changes, resource, request_id, timeout_ms), timeout)

    def send_call(self, broker, changes=None, resource=None, request_id="req-1", timeout_ms=10000):
        args = self.args(changes, resource, request_id, timeout_ms)
        return broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": args})

    def describe(self, broker, resource=None):
        result = tool_result(broker.call_tool(DESCRIBE_TOOL, {"resource": resource or self.mock.base_url}))
        self.assertIs(result["isError"], False, dump(result))
        return result["structuredContent"]

    # -- assertions --------------------------------------------------------

    def assert_ok(self, resp, request_id="req-1", http_status=200, source=None):
        """A successful execute result; returns structuredContent."""
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("status"), "ok", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc.get("execution", {}).get("http_status"), http_status, dump(sc))
        self.assertEqual(sc.get("token", {}).get("token_type"), "Bearer", dump(sc))
        self.assertIn(sc["token"].get("source"), ("minted", "cache", "cache_fallback"), dump(sc))
        if source is not None:
            self.assertEqual(sc["token"]["source"], source, dump(sc))
        return sc

    def assert_error(self, resp, codes, request_id="req-1"):
        """A tool failure with one of codes; returns structuredContent."""
        codes = (codes,) if isinstance(codes, str) else tuple(codes)
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], True, dump(result))
        self.assertEqual(sc.get("status"), "error", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        err = sc.get("error", {})
        self.assertIn(err.get("code"), codes, dump(sc))
        self.assertEqual(err.get("category"), err["code"].split(".")[0], dump(sc))
        self.assertIs(err.get("retryable"), err["code"] in RETRYABLE, dump(sc))
        self.assertIsInstance(err.get("message"), str, dump(sc))
        self.assertTrue(err["message"], dump(sc))
        self.assertNotIn("execution", sc, dump(sc))
        return sc

    def assert_still_serving(self, broker, request_id="req-after"):
        """After a fault the session goes on: ping, and a clean call succeeds."""
        self.mock.clear_faults()
        self.assertEqual(broker.request("ping").get("result"), {})
        self.assert_ok(self.call(broker, request_id=request_id), request_id)

    def assert_no_more_token_requests(self, mock, count, wait=0.5):
        """mock saw exactly count token requests, and no late one follows."""
        late = mock.wait_for(lambda m: len(m.token_requests()) > count, wait)
        self.assertFalse(late, dump(mock.token_requests()))
        self.assertEqual(len(mock.token_requests()), count, dump(mock.token_requests()))

    def graph_requests(self, method=None, path=None):
        return [r for r in self.mock.graph_requests()
                if (method is None or r["method"] == method) and (path is None or r["path"] == path)]


# ---- what goes over the wire -----------------------------------------------


class WireTests(TokendHttpCase):
    def test_token_request_is_client_credentials_for_resource_default(self):
        broker = self.broker()
        self.assert_ok(self.call(broker), source="minted")
        [req] = self.mock.token_requests()
        self.assertEqual(req["method"], "POST", dump(req))
        self.assertEqual(req["path"], "/%s/oauth2/v2.0/token" % TENANT, dump(req))
        self.assertEqual(req["query"], "", dump(req))
        self.assertEqual(req["tenant"], TENANT, dump(req))
        self.assertTrue((req["content_type"] or "").startswith("application/x-www-form-urlencoded"), dump(req))
        self.assertEqual(req["field_names"], ["client_id", "client_secret", "grant_type", "scope"], dump(req))
        self.assertEqual(req["repeated_fields"], [], dump(req))
        self.assertEqual(req["fields"]["client_id"], CLIENT_ID, dump(req))
        self.assertEqual(req["fields"]["grant_type"], "client_credentials", dump(req))
        # <resource>/.default, never the scopes the caller named (User.Read.All).
        self.assertEqual(req["fields"]["scope"], self.mock.base_url + "/.default", dump(req))
        self.assertTrue(req["secret_ok"], "the secret sent is not the file's content: " + dump(req))
        self.assertEqual(req["status"], 200, dump(req))

    def test_graph_request_carries_broker_token_and_only_allowed_headers(self):
        broker = self.broker()
        agent_headers = {
            "consistency-level": "eventual",
            "prefer": "odata.maxpagesize=2",
            "accept": "application/json",
        }
        changes = {"operation.path": "/v1.0/users?$top=2&$select=id,displayName",
                   "operation.headers": agent_headers}
        # A header the broker does not forward is refused by the contract
        # (bad_request.invalid_field) and reaches neither tokend nor Graph.
        for name, value in (("authorization", "Bearer agent-supplied-token"), ("cookie", "session=agent-cookie"),
                            ("x-forwarded-for", "10.0.0.1"), ("x-ms-client-request-id", "agent-chosen")):
            refused = dict(changes, **{"operation.headers": dict(agent_headers, **{name: value})})
            self.assert_error(self.call(broker, refused), "bad_request.invalid_field")
        self.assertEqual(self.mock.graph_requests(), [])
        self.assert_ok(self.call(broker, changes))
        [token_req] = self.mock.token_requests()
        [req] = self.mock.graph_requests()
        self.assertEqual(req["method"], "GET", dump(req))
        self.assertEqual(req["path"], "/v1.0/users", dump(req))
        self.assertEqual(req["query"], "$top=2&$select=id,displayName", dump(req))
        self.assertEqual(req["host"], "127.0.0.1:%d" % self.mock.port, dump(req))
        names = [name for name, _ in req["headers"]]
        self.assertEqual(names.count("authorization"), 1, dump(req["headers"]))
        self.assertEqual(req["header_map"]["authorization"], "Bearer " + token_req["token"],
                         "Graph did not get the broker's own token")
        self.assertTrue(req["token_ok"], dump(req))
        self.assertNotIn("cookie", names, dump(req["headers"]))
        self.assertNotIn("x-forwarded-for", names, dump(req["headers"]))
        self.assertNotIn("x-ms-client-request-id", names, dump(req["headers"]))
        for name in ("consistency-level", "prefer", "accept"):
            self.assertEqual(req["header_map"].get(name), agent_headers[name], dump(req["headers"]))
        self.assertNotIn("agent-supplied-token", json.dumps(req["headers"]))

    def test_graphs_own_consistencylevel_spelling_is_forwarded(self):
        # Graph's advanced queries ($count, $search) need ConsistencyLevel.
        broker = self.broker()
        self.assert_ok(self.call(broker, {"operation.headers": {"ConsistencyLevel": "eventual"}}))
        [req] = self.mock.graph_requests()
        self.assertEqual(req["header_map"].get("consistencylevel"), "eventual", dump(req["headers"]))

    def test_result_has_graph_body_and_only_allowed_response_headers(self):
        broker = self.broker()
        sc = self.assert_ok(self.call(broker), source="minted")
        [req] = self.mock.graph_requests()
        execution = sc["execution"]
        self.assertEqual(execution["body"], mock_entra.users_body(), dump(sc))
        self.assertEqual(execution["provider_request_id"], req["request_id"], dump(sc))
        headers = execution.get("headers", {})
        self.assertEqual(headers.get("request-id"), req["request_id"], dump(sc))
        self.assertIsInstance(headers.get("client-request-id"), str, dump(sc))
        self.assertEqual(sorted(set(headers) - set(RESULT_HEADERS)), [],
                         "response headers passed back beyond %s: %s" % (RESULT_HEADERS, dump(headers)))
        self.assertNotIn("mock-", json.dumps(sc), "a Graph cookie or token reached the agent")

    def test_expires_at_follows_expires_in(self):
        self.mock.set_fault("token", "expires_in", value=1800)
        broker = self.broker()
        before = time.time()
        sc = self.assert_ok(self.call(broker), source="minted")
        after = time.time()
        expires_at = parse_utc(sc["token"]["expires_at"])
        self.assertGreaterEqual(expires_at, int(before) + 1800 - 2, dump(sc))
        self.assertLessEqual(expires_at, after + 1800 + 2, dump(sc))

    def test_graph_4xx_is_data(self):
        broker = self.broker()
        sc = self.assert_ok(self.call(broker, {"operation.path": "/v1.0/no-such-thing"}), http_status=404)
        self.assertEqual(sc["execution"]["body"]["error"]["code"], "Request_ResourceNotFound", dump(sc))

    def test_revoked_token_graph_401_is_data(self):
        broker = self.broker()
        self.assert_ok(self.call(broker), source="minted")
        self.mock.revoke()
        sc = self.assert_ok(self.call(broker, request_id="req-2"), "req-2", http_status=401)
        self.assertEqual(sc["execution"]["body"]["error"]["code"], "InvalidAuthenticationToken", dump(sc))

    def test_redirects_are_not_followed(self):
        with self.subTest(endpoint="login"):
            # Followed once, the redirect would reach the real token endpoint
            # (a query marks it) and succeed: the call would get a token.
            target = self.mock.token_url(TENANT) + "?redirected=1"
            self.mock.set_fault("token", "redirect", count=1, location=target)
            broker = self.broker()
            self.assert_error(self.call(broker), ("provider.bad_response", "provider.unavailable", "provider.auth_failed"))
            self.assert_no_more_token_requests(self.mock, 1)
            self.assertEqual(self.mock.token_requests()[0]["query"], "", dump(self.mock.token_requests()))
        with self.subTest(endpoint="graph"):
            self.mock.clear_faults()
            self.mock.reset_records()
            broker = self.broker()
            self.assert_ok(self.call(broker, request_id="warm"), "warm")
            self.mock.set_fault("graph", "redirect", location=self.mock.base_url + "/v1.0/organization")
            resp = self.call(broker, request_id="req-2")
            self.assertEqual(self.graph_requests(path="/v1.0/organization"), [], "tokend followed a Graph redirect")
            self.assertEqual(len(self.graph_requests()), 2, dump(self.graph_requests()))
            sc = tool_result(resp)["structuredContent"]
            if sc.get("status") == "ok":
                self.assertEqual(sc["execution"]["http_status"], 302, dump(sc))
            else:
                self.assert_error(resp, ("provider.bad_response", "provider.unavailable"), "req-2")

    def test_server_signed_by_untrusted_ca_is_refused(self):
        stranger = self.start_mock(OTHER_PKI)
        broker = self.broker(authority=stranger.base_url, resources=[stranger.base_url])
        self.assert_error(self.call(broker, resource=stranger.base_url), "provider.unavailable")
        self.assertEqual(stranger.token_requests(), [], "a request was sent over an unverified TLS connection")
        self.assertEqual(stranger.graph_requests(), [])


# ---- the login endpoint refuses the credentials ------------------------------


class AuthFailureTests(TokendHttpCase):
    def assert_auth_failed_after_one_retry(self):
        broker = self.broker()
        self.assert_error(self.call(broker), "provider.auth_failed")
        # The first refusal made tokend ask secretd for a fresh secret and try
        # once more; the second refusal is final.
        self.assert_no_more_token_requests(self.mock, 2)
        reqs = self.mock.token_requests()
        self.assertEqual([r["secret_sha256"] for r in reqs], [reqs[0]["secret_sha256"]] * 2, dump(reqs))
        self.assertEqual(self.mock.graph_requests(), [])
        return broker

    def test_bad_secret(self):
        self.mock.set_client_secret(SECRET_V2)  # the file still holds V1
        self.assert_auth_failed_after_one_retry()
        self.assertEqual([r["error_codes"] for r in self.mock.token_requests()], [[7000215]] * 2)

    def test_expired_secret(self):
        self.mock.set_fault("token", "expired_secret")
        self.assert_auth_failed_after_one_retry()
        self.assertEqual([r["error_codes"] for r in self.mock.token_requests()], [[7000222]] * 2)

    def test_unknown_application(self):
        self.mock.set_client_id(OTHER_CLIENT_ID)
        self.assert_auth_failed_after_one_retry()
        self.assertEqual([r["error_codes"] for r in self.mock.token_requests()], [[700016]] * 2)

    def test_rotated_secret_is_picked_up_on_retry(self):
        """The default configuration: a rotation right after start-up."""
        self.assert_rotation_picked_up(self.broker())

    def test_rotated_secret_is_picked_up_on_retry_without_secret_cache(self):
        """The same with secretd re-reading the file on every request: what
        tokend does (one retry with a fresh secret) in isolation."""
        self.assert_rotation_picked_up(self.broker({"MCP_AUTH_BROKER_SECRET_CACHE_SECONDS": "0"}))

    def assert_rotation_picked_up(self, broker):
        rotated = []

        def rotate(record):
            # Between the first refusal and the retry: the operator rotates
            # the secret in the store and in Entra ID.
            if not rotated:
                harness.write_secret_file(self.secret_file, SECRET_V2)
                self.mock.set_client_secret(SECRET_V2)
                rotated.append(record["seq"])

        self.mock.on_token_request = rotate
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.mock.token_requests()
        self.assertEqual([r["status"] for r in reqs], [401, 200], dump(reqs))
        sha = hashlib.sha256
        self.assertEqual(reqs[0]["secret_sha256"], sha(SECRET_V1.encode()).hexdigest())
        self.assertEqual(reqs[1]["secret_sha256"], sha(SECRET_V2.encode()).hexdigest(),
                         "the retry did not use the rotated secret")
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")
        self.assertEqual(len(self.mock.token_requests()), 2)

    def test_repeated_identical_400_throttles_logins(self):
        self.mock.set_fault("token", "invalid_request")
        broker = self.broker()
        counts = []
        for n in range(5):
            rid = "req-%d" % n
            self.assert_error(self.call(broker, request_id=rid),
                              ("provider.auth_failed", "provider.bad_response", "provider.rate_limited"), rid)
            counts.append(len(self.mock.token_requests()))
        self.assertEqual(counts[-1], counts[-2],
                         "identical 400s kept reaching the login endpoint: requests after each call %r" % counts)


# ---- other failures of the login endpoint ------------------------------------------


class LoginFaultTests(TokendHttpCase):
    def test_429_rate_limited_then_throttled_within_retry_after(self):
        self.mock.set_fault("token", "429", retry_after=30)
        broker = self.broker()
        self.assert_error(self.call(broker), "provider.rate_limited")
        self.assertEqual(len(self.mock.token_requests()), 1)
        self.assert_error(self.call(broker, request_id="req-2"), "provider.rate_limited", "req-2")
        self.assert_no_more_token_requests(self.mock, 1, wait=0.2)

    def test_slow_login_times_out(self):
        self.mock.set_fault("token", "slow", delay=8)
        broker = self.broker({"MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS": "1"})
        start = time.monotonic()
        self.assert_error(self.call(broker, timeout_ms=20000), "provider.timeout")
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 6.0, "the login timeout (1 s) was not applied: answered after %.1fs" % elapsed)
        self.assertEqual(len(self.mock.token_requests()), 1)

    def test_5xx_unavailable(self):
        for status in ("500", "503"):
            with self.subTest(status=status):
                self.mock.set_fault("token", status)
                broker = self.broker()
                self.assert_error(self.call(broker), "provider.unavailable")

    def test_connection_refused_unavailable(self):
        # A bound socket that does not listen: connections to it are refused,
        # and the port cannot be taken by anything else meanwhile.
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        closed = "https://127.0.0.1:%d" % holder.getsockname()[1]
        broker = self.broker(authority=closed, resources=[closed])
        self.assert_error(self.call(broker, resource=closed), "provider.unavailable")
        self.assert_still_serving_ping(broker)

    def test_dropped_connection_unavailable(self):
        self.mock.set_fault("token", "drop")
        broker = self.broker()
        self.assert_error(self.call(broker), "provider.unavailable")
        self.assert_still_serving(broker)

    def test_nonsense_answers_bad_response(self):
        for fault in ("garbage", "no_access_token", "no_expires_in"):
            with self.subTest(fault=fault):
                self.mock.set_fault("token", fault)
                broker = self.broker()
                self.assert_error(self.call(broker), "provider.bad_response")
                self.assertEqual(self.mock.graph_requests(), [])

    def test_mock_gone_after_a_call_unavailable(self):
        broker = self.broker()
        self.assert_ok(self.call(broker), source="minted")
        self.mock.stop()
        self.assert_error(self.call(broker, request_id="req-2"), "provider.unavailable", "req-2")
        self.assert_still_serving_ping(broker)

    def assert_still_serving_ping(self, broker):
        self.assertEqual(broker.request("ping").get("result"), {})


# ---- Graph faults --------------------------------------------------------------


class GraphFaultTests(TokendHttpCase):
    def test_oversized_body_bad_response(self):
        self.mock.set_fault("graph", "oversized", size=5 * MIB)
        broker = self.broker({"MCP_AUTH_BROKER_MAX_RESPONSE_BYTES": str(MIB)})
        self.assert_error(self.call(broker), "provider.bad_response")
        self.assert_still_serving(broker)

    def test_429_retried_honouring_retry_after(self):
        self.mock.set_fault("graph", "429", retry_after=1, count=2)
        broker = self.broker()
        sc = self.assert_ok(self.call(broker, timeout_ms=10000), source="minted")
        self.assertEqual(sc["execution"]["body"], mock_entra.users_body())
        reqs = self.graph_requests()
        self.assertEqual([r["status"] for r in reqs], [429, 429, 200], dump(reqs))
        for earlier, later in zip(reqs, reqs[1:]):
            self.assertGreaterEqual(later["time"] - earlier["answered_at"], 0.9,
                                    "retried before Retry-After: 1 had passed")
        self.assertEqual(len({r["header_map"]["authorization"] for r in reqs}), 1)
        self.assertEqual(len(self.mock.token_requests()), 1)

    def test_503_and_504_retried_for_get(self):
        broker = self.broker()
        for n, (status, params) in enumerate((("503", {"retry_after": 1}), ("504", {}))):
            with self.subTest(status=status):
                self.mock.reset_records()
                self.mock.set_fault("graph", status, count=1, **params)
                rid = "req-%d" % n
                self.assert_ok(self.call(broker, request_id=rid, timeout_ms=15000), rid)
                self.assertEqual([r["status"] for r in self.graph_requests()], [int(status), 200])

    def test_no_retry_past_timeout_ms(self):
        self.mock.set_fault("graph", "429", retry_after=30)
        broker = self.broker()
        start = time.monotonic()
        resp = self.call(broker, timeout_ms=3000)
        self.assertLess(time.monotonic() - start, 8.0, "the call outlived its timeout_ms")
        self.assertEqual(len(self.graph_requests()), 1, "retried although Retry-After is past timeout_ms")
        sc = tool_result(resp)["structuredContent"]
        if sc.get("status") == "ok":
            self.assertEqual(sc["execution"]["http_status"], 429, dump(sc))
            self.assertEqual(sc["execution"]["headers"].get("retry-after"), "30", dump(sc))
        else:
            self.assert_error(resp, ("provider.rate_limited", "provider.timeout"))

    def test_post_503_is_not_retried(self):
        self.mock.set_fault("graph", "503", retry_after=1, match={"method": "POST"})
        broker = self.broker({"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
        body = {"displayName": "Test User", "mailNickname": "testuser", "accountEnabled": False}
        changes = {"operation.method": "POST", "operation.body": body}
        sc = self.assert_ok(self.call(broker, changes, timeout_ms=10000), http_status=503)
        self.assertEqual(sc["execution"]["body"]["error"]["code"], "serviceNotAvailable", dump(sc))
        [post] = self.graph_requests()
        self.assertEqual(post["method"], "POST", dump(post))
        self.assertEqual(json.loads(post["body"]), body, dump(post))
        self.assertTrue(post["header_map"].get("content-type", "").startswith("application/json"), dump(post))
        late = self.mock.wait_for(lambda m: len(m.graph_requests()) > 1, 1.5)
        self.assertFalse(late, "a POST was retried: " + dump(self.graph_requests()))

    def test_truncated_chunked_body(self):
        self.mock.set_fault("graph", "truncated")
        broker = self.broker()
        self.assert_error(self.call(broker), ("provider.bad_response", "provider.unavailable"))
        self.assert_still_serving(broker)

    def test_garbage_body_bad_response(self):
        self.mock.set_fault("graph", "garbage")
        broker = self.broker()
        self.assert_error(self.call(broker), "provider.bad_response")
        self.assert_still_serving(broker)

    def test_slow_graph_times_out_at_timeout_ms(self):
        self.mock.set_fault("graph", "slow", delay=10)
        broker = self.broker()
        start = time.monotonic()
        self.assert_error(self.call(broker, timeout_ms=1500), "provider.timeout")
        self.assertLess(time.monotonic() - start, 6.0, "timeout_ms 1500 was not applied")
        self.assert_still_serving(broker)


# ---- the token cache -----------------------------------------------------------------


class CacheTests(TokendHttpCase):
    def test_second_call_uses_cached_token(self):
        broker = self.broker()
        first = self.assert_ok(self.call(broker), source="minted")
        second = self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")
        self.assertEqual(second["token"]["expires_at"], first["token"]["expires_at"])
        self.assertEqual(len(self.mock.token_requests()), 1)
        auths = {r["header_map"]["authorization"] for r in self.mock.graph_requests()}
        self.assertEqual(len(auths), 1, "the two Graph calls carried different tokens")

    def test_concurrent_cold_calls_make_one_login(self):
        # The login is slowed so that every call arrives while it is pending.
        self.mock.set_fault("token", "slow", delay=1.5)
        broker = self.broker()
        count = 50
        ids = {}
        for n in range(count):
            rid = "req-c%02d" % n
            ids[self.send_call(broker, request_id=rid, timeout_ms=30000)] = rid
        answers = harness.recv_in_order(broker, count, timeout=60)
        self.assertEqual(sorted(a.get("id") for a in answers), sorted(ids), "answers do not match the calls")
        for a in answers:
            self.assert_ok(a, ids[a["id"]])
        self.assertEqual(len(self.mock.token_requests()), 1,
                         "%d concurrent calls on a cold cache made %d login requests"
                         % (count, len(self.mock.token_requests())))
        self.assertEqual(len(self.graph_requests()), count)

    def test_sequential_calls_reuse_one_tls_connection(self):
        # Login and Graph are one host here: one handshake serves the login
        # and every call after it (bench/ reports the same count for 1,000).
        broker = self.broker()
        for n in range(20):
            self.assert_ok(self.call(broker, request_id="req-s%02d" % n), "req-s%02d" % n)
        counts = self.mock.counts()
        self.assertEqual(counts["graph_requests"], 20, dump(counts))
        self.assertEqual(counts["handshakes"], 1, "20 sequential calls: %s" % dump(counts))

    def test_expired_token_is_minted_again(self):
        # expires_in 70 with a skew of 60: usable for 10 s.
        self.mock.set_fault("token", "expires_in", value=70)
        broker = self.broker({"MCP_AUTH_BROKER_TOKEN_CACHE_SKEW_SECONDS": "60"})
        first = self.assert_ok(self.call(broker), source="minted")
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")
        self.assertEqual(len(self.mock.token_requests()), 1)
        minted_at = self.mock.token_requests()[0]["wall"]
        time.sleep(max(0.0, minted_at + 11.5 - time.time()))
        self.assertNotEqual(self.describe(broker)["cache"].get("state"), "valid", "an expired token is described as valid")
        third = self.assert_ok(self.call(broker, request_id="req-3"), "req-3", source="minted")
        self.assertEqual(len(self.mock.token_requests()), 2)
        self.assertGreater(parse_utc(third["token"]["expires_at"]), parse_utc(first["token"]["expires_at"]))
        tokens = [r["token"] for r in self.mock.token_requests()]
        self.assertEqual(self.mock.graph_requests()[-1]["header_map"]["authorization"], "Bearer " + tokens[1],
                         "the expired token was still used")

    def test_cache_hit_not_delayed_by_slow_login_for_other_resource(self):
        fast, slow = self.mock.base_url, self.mock.localhost_url
        # The login timeout is well above the slow login's 3 s: that one must
        # succeed too, only later.
        broker = self.broker({"MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS": "20"}, resources=[fast, slow])
        self.assert_ok(self.call(broker, resource=fast, request_id="warm"), "warm", source="minted")
        self.mock.set_fault("token", "slow", delay=3, match={"resource": slow})
        slow_id = self.send_call(broker, resource=slow, request_id="req-slow", timeout_ms=20000)
        fast_id = self.send_call(broker, resource=fast, request_id="req-fast")
        first, second = harness.recv_in_order(broker, 2, timeout=30)
        self.assertEqual(first.get("id"), fast_id, "a slow login for another resource held up a cache hit: " + dump(first))
        self.assert_ok(first, "req-fast", source="cache")
        self.assertEqual(second.get("id"), slow_id, dump(second))
        self.assert_ok(second, "req-slow", source="minted")
        by_resource = sorted(r["resource"] for r in self.mock.token_requests())
        self.assertEqual(by_resource, sorted([fast, slow]), dump(self.mock.token_requests()))
        [slow_graph] = [r for r in self.graph_requests() if r["host"] == "localhost:%d" % self.mock.port]
        self.assertTrue(slow_graph["token_ok"], "Graph at localhost got a token for another resource")

    def test_describe_after_call_is_valid_and_holds_no_token(self):
        broker = self.broker()
        before = self.describe(broker)
        self.assertEqual(before.get("cache", {}).get("state"), "empty", dump(before))
        sc = self.assert_ok(self.call(broker), source="minted")
        after = self.describe(broker)
        self.assertEqual(after.get("tenant_id"), TENANT, dump(after))
        self.assertEqual(after.get("client_id"), CLIENT_ID, dump(after))
        self.assertEqual(after.get("resource"), self.mock.base_url, dump(after))
        cache = after.get("cache", {})
        self.assertEqual(cache.get("state"), "valid", dump(after))
        self.assertEqual(cache.get("token_type"), "Bearer", dump(after))
        self.assertEqual(cache.get("expires_at"), sc["token"]["expires_at"], dump(after))
        text = json.dumps(after)
        for token in self.mock.issued_tokens():
            self.assertNotIn(token, text)
        self.assertNotIn(mock_entra.TOKEN_PREFIX, text)
        self.assertNotIn("access_token", text)
        self.assertEqual(len(self.mock.token_requests()), 1, "describe requested a token")


class Graph401Tests(TokendHttpCase):
    """Issue 9 item 6: a 401 drops only the token it was sent with, at most
    once per token, and only for Graph's InvalidAuthenticationToken."""

    def assert_real_expiry(self, sc):
        expires_at = parse_utc(sc["token"]["expires_at"])
        self.assertGreater(expires_at, time.time() + 60, "an answer reports an invalidated entry's expiry: " + dump(sc))

    def test_revoked_token_answer_reports_the_expiry_of_the_token_sent(self):
        broker = self.broker()
        first = self.assert_ok(self.call(broker), source="minted")
        self.mock.revoke()
        sc = self.assert_ok(self.call(broker, request_id="req-2"), "req-2", http_status=401)
        self.assertEqual(sc["token"]["expires_at"], first["token"]["expires_at"], dump(sc))
        self.assert_real_expiry(sc)
        self.assert_ok(self.call(broker, request_id="req-3"), "req-3", source="minted")
        self.assertEqual(len(self.mock.token_requests()), 2, dump(self.mock.token_requests()))

    def test_concurrent_401s_drop_the_token_once(self):
        broker = self.broker()
        self.assert_ok(self.call(broker, request_id="warm"), "warm", source="minted")
        count = 10
        # Delayed, so that all ten are sent with the same token before the
        # first 401 comes back.
        self.mock.set_fault("graph", "401", count=count, delay=1)
        ids = {}
        for n in range(count):
            rid = "req-401-%02d" % n
            ids[self.send_call(broker, request_id=rid, timeout_ms=30000)] = rid
        answers = harness.recv_in_order(broker, count, timeout=60)
        for a in answers:
            sc = self.assert_ok(a, ids[a["id"]], http_status=401, source="cache")
            self.assert_real_expiry(sc)
        after = self.assert_ok(self.call(broker, request_id="after"), "after", source="minted")
        self.assert_real_expiry(after)
        self.assert_ok(self.call(broker, request_id="again"), "again", source="cache")
        self.assert_no_more_token_requests(self.mock, 2)
        print("\n    %d concurrent 401 InvalidAuthenticationToken: %d logins in all"
              % (count, len(self.mock.token_requests())), file=sys.stderr)

    def test_late_401_about_an_old_token_keeps_its_successor(self):
        broker = self.broker()
        self.assert_ok(self.call(broker, request_id="warm"), "warm", source="minted")
        # A call sent with token 1 whose 401 comes back late...
        self.mock.add_fault("graph", "401", count=1, match={"path": "/v1.0/users"}, delay=3)
        late = self.send_call(broker, {"operation.path": "/v1.0/users"}, request_id="late", timeout_ms=30000)
        self.assertTrue(self.mock.wait_for(lambda m: len(m.graph_requests()) == 2, 10), dump(self.mock.graph_requests()))
        # ...meanwhile token 1 is rejected at once, and token 2 minted.
        self.mock.add_fault("graph", "401", count=1, match={"path": "/v1.0/organization"})
        self.assert_ok(self.call(broker, {"operation.path": "/v1.0/organization"}, request_id="r1"), "r1", http_status=401)
        self.assert_ok(self.call(broker, {"operation.path": "/v1.0/organization"}, request_id="r2"), "r2", source="minted")
        self.assertEqual(len(self.mock.token_requests()), 2)
        sc = self.assert_ok(broker.recv_response(late, timeout=30), "late", http_status=401)
        self.assert_real_expiry(sc)
        # The late 401 was about token 1: token 2 stays.
        self.assert_ok(self.call(broker, {"operation.path": "/v1.0/organization"}, request_id="r3"), "r3", source="cache")
        self.assert_no_more_token_requests(self.mock, 2)

    def test_401_with_another_code_keeps_the_token(self):
        broker = self.broker()
        self.assert_ok(self.call(broker, request_id="warm"), "warm", source="minted")
        self.mock.set_fault("graph", "401", count=3, code="Unauthorized")
        for n, path in enumerate(("/v1.0/users", "/v1.0/organization", "/beta/no-such-thing")):
            sc = self.assert_ok(self.call(broker, {"operation.path": path}, request_id="r%d" % n), "r%d" % n,
                                http_status=401, source="cache")
            self.assertEqual(sc["execution"]["body"]["error"]["code"], "Unauthorized", dump(sc))
            self.assert_real_expiry(sc)
        self.assert_ok(self.call(broker, request_id="after"), "after", source="cache")
        self.assert_no_more_token_requests(self.mock, 1)


# ---- output hygiene ------------------------------------------------------------------


class HygieneTests(TokendHttpCase):
    def test_no_token_or_secret_in_output_at_debug_level(self):
        self.mock.set_fault("graph", "429", retry_after=1, count=1)
        broker = self.broker({"MCP_AUTH_BROKER_LOG_LEVEL": "debug"})
        self.assert_ok(self.call(broker), source="minted")
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")
        self.assert_ok(self.call(broker, {"operation.path": "/v1.0/nope"}, request_id="req-3"), "req-3", http_status=404)
        self.describe(broker)
        self.mock.revoke()
        self.call(broker, request_id="req-4")
        broker.close_stdin()
        broker.read_to_eof()
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        broker.kill()
        self.assertTrue(broker.stderr_bytes(), "debug logging wrote nothing")
        needles = [mock_entra.TOKEN_PREFIX, SECRET_V1, SECRET_V2] + self.mock.issued_tokens()
        self.assertEqual(harness.find_needles(broker.stdout_bytes(), needles), [])
        self.assertEqual(harness.find_needles(broker.stderr_bytes(), needles), [])


if __name__ == "__main__":
    harness.main()
