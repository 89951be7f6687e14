# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The managed identity credential (MCP_AUTH_BROKER_GRAPH_CREDENTIAL=
managed_identity, issue 12).

tests/fixtures/mock_imds.py stands in for the Azure Instance Metadata
Service or the App Service / Container Apps identity endpoint on
127.0.0.1 over plain HTTP, checking what the real ones check (Metadata:
true or X-IDENTITY-HEADER, api-version, resource, client_id, no
X-Forwarded-For); the tokens it hands out are accepted by the mock Graph
of tests/fixtures/mock_entra.py, over TLS as before.  After every test
brokerd's whole output is searched for the tokens and the agent's header.
"""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
import test_tokend_http as tth  # noqa: E402
from test_tokend_http import CLIENT_ID, TENANT, dump  # noqa: E402

harness.import_mock_entra()
import mock_imds  # noqa: E402  (tests/fixtures is on sys.path now)

SLOW = 4 if os.environ.get("MAB_WRAPPER") else 1
EX_CONFIG = 78
USER_ASSIGNED = "3c9b1f4e-2a6d-4b8e-9f70-1d2e3c4b5a69"
UNKNOWN_IDENTITY = "7d6c5b4a-3f2e-4d1c-8b0a-9e8f7d6c5b4a"
# Random per run: a leak check cannot pass by luck.
IDENTITY_HEADER = "mab-identity-header~" + os.urandom(12).hex()


def setUpModule():
    tth.setUpModule()


def tearDownModule():
    tth.tearDownModule()


class ManagedIdentityCase(tth.TokendHttpCase):
    kind = "imds"

    def setUp(self):
        super().setUp()
        self.imds = self.start_imds(self.kind)

    def start_imds(self, kind):
        imds = mock_imds.MockIdentityEndpoint(self.mock, TENANT, kind=kind,
                                              user_assigned=[USER_ASSIGNED],
                                              header=IDENTITY_HEADER)
        self.addCleanup(imds.stop)
        return imds.start()

    def mi_env(self, extra=None, timeout_s=20):
        env = self.env()
        for name in ("MCP_AUTH_BROKER_SECRET_PROVIDER", "MCP_AUTH_BROKER_GRAPH_SECRET_REF"):
            del env[name]
        env["MCP_AUTH_BROKER_GRAPH_CREDENTIAL"] = "managed_identity"
        env["MCP_AUTH_BROKER_TOKEN_PROVIDER_TIMEOUT_SECONDS"] = str(timeout_s * SLOW)
        if self.kind == "imds":
            env["MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT"] = self.imds.url
        else:
            env["IDENTITY_ENDPOINT"] = self.imds.url
            env["IDENTITY_HEADER"] = IDENTITY_HEADER
        env.update(extra or {})
        return env

    def mi_broker(self, extra=None, **kw):
        return self.started(env_overrides=self.mi_env(extra, **kw))

    def call(self, broker, changes=None, resource=None, request_id="req-1", timeout_ms=30000,
             timeout=harness.DEFAULT_TIMEOUT):
        return super().call(broker, changes, resource, request_id, timeout_ms * SLOW,
                            timeout * SLOW)

    def _assert_no_leak(self, holder):
        super()._assert_no_leak(holder)
        if not holder:
            return
        broker = holder[0]
        needles = [IDENTITY_HEADER] + self.imds.issued_tokens()
        for stream, data in (("stdout", broker.stdout_bytes()), ("stderr", broker.stderr_bytes())):
            found = harness.find_needles(data, needles)
            if found:
                raise harness.HarnessError("brokerd %s carries a token or the identity header: %r"
                                           % (stream, [f[:24] for f in found]))

    def assert_error_naming_mi(self, resp, codes):
        sc = self.assert_error(resp, codes)
        self.assertIn("managed identity", sc["error"]["message"], dump(sc))
        return sc


class ImdsLogin(ManagedIdentityCase):
    def test_system_assigned_token_and_graph_call(self):
        broker = self.mi_broker()
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.imds.requests()
        self.assertEqual(len(reqs), 1, dump(reqs))
        r = reqs[0]
        self.assertEqual(r["status"], 200, dump(r))
        self.assertEqual(r["method"], "GET")
        self.assertEqual(r["headers"].get("metadata"), "true")
        self.assertEqual(r["query"]["api-version"], ["2018-02-01"])
        self.assertEqual(r["query"]["resource"], [self.mock.base_url])
        self.assertNotIn("client_id", r["query"])
        self.assertNotIn("x-identity-header", r["headers"])
        # The login endpoint was never asked; Graph got the IMDS token.
        self.assertEqual(self.mock.token_requests(), [])
        auths = [g["header_map"]["authorization"] for g in self.mock.graph_requests()]
        self.assertEqual(auths, ["Bearer " + r["token"]])

    def test_user_assigned_sends_client_id(self):
        broker = self.mi_broker({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": USER_ASSIGNED})
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.imds.requests()
        self.assertEqual([r["query"].get("client_id") for r in reqs], [[USER_ASSIGNED]], dump(reqs))

    def test_identity_not_found_names_the_client_id_variable(self):
        broker = self.mi_broker({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": UNKNOWN_IDENTITY})
        sc = self.assert_error_naming_mi(self.call(broker), "provider.auth_failed")
        msg = sc["error"]["message"]
        self.assertIn("HTTP 400", msg)
        self.assertIn("identity not found", msg)
        self.assertIn("MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID", msg)
        self.assertEqual(len(self.imds.requests()), 1, "a 400 is not retried")

    def test_second_call_is_served_from_the_cache(self):
        broker = self.mi_broker()
        self.assert_ok(self.call(broker), source="minted")
        self.assert_ok(self.call(broker, request_id="req-2"), "req-2", source="cache")
        self.assertEqual(len(self.imds.requests()), 1)

    def test_concurrent_cold_calls_make_one_request(self):
        self.imds.set_delay(1.0)
        broker = self.mi_broker()
        count = 20
        ids = {}
        for n in range(count):
            rid = "req-c%02d" % n
            ids[self.send_call(broker, request_id=rid, timeout_ms=30000 * SLOW)] = rid
        answers = harness.recv_in_order(broker, count, timeout=60 * SLOW)
        for a in answers:
            self.assert_ok(a, ids[a["id"]])
        self.assertEqual(len(self.imds.requests()), 1, dump(self.imds.requests()))
        self.assertEqual(len(self.graph_requests()), count)


class ImdsRetries(ManagedIdentityCase):
    def assert_retried_then_ok(self, status, retry_after=None):
        self.imds.fail_next(status, retry_after=retry_after)
        broker = self.mi_broker()
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.imds.requests()
        self.assertEqual([r["status"] for r in reqs], [status, 200], dump(reqs))
        return reqs

    def test_429_then_success(self):
        self.assert_retried_then_ok(429)

    def test_429_retry_after_is_honoured(self):
        reqs = self.assert_retried_then_ok(429, retry_after=1)
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 1.0, dump(reqs))

    def test_410_then_success(self):
        self.assert_retried_then_ok(410)

    def test_503_then_success(self):
        self.assert_retried_then_ok(503)

    def test_500s_until_the_budget_ends_fail_unavailable(self):
        self.imds.fail_next(*([500] * 50))
        broker = self.mi_broker(timeout_s=3)
        sc = self.assert_error_naming_mi(self.call(broker), "provider.unavailable")
        msg = sc["error"]["message"]
        self.assertIn("HTTP 500", msg)
        n = len(self.imds.requests())
        self.assertGreater(n, 1, "a 500 is retried")
        self.assertLess(n, 10, "retries back off: %d requests" % n)
        self.assertIn("(%d attempts)" % n, msg)

    def test_429s_until_the_budget_ends_fail_rate_limited(self):
        self.imds.fail_next(*([429] * 50))
        broker = self.mi_broker(timeout_s=2)
        self.assert_error_naming_mi(self.call(broker), "provider.rate_limited")


class ImdsUnreachable(ManagedIdentityCase):
    def test_closed_port_is_unavailable_naming_managed_identity(self):
        url = self.imds.url
        self.imds.stop()
        broker = self.mi_broker({"MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT": url})
        sc = self.assert_error_naming_mi(self.call(broker), "provider.unavailable")
        self.assertIn("check that a managed identity is enabled", sc["error"]["message"])


class AgentLogin(ManagedIdentityCase):
    kind = "agent"

    def test_app_service_protocol_with_header_from_secretd(self):
        broker = self.mi_broker()
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.imds.requests()
        self.assertEqual(len(reqs), 1, dump(reqs))
        r = reqs[0]
        self.assertEqual(r["status"], 200, dump(r))
        self.assertEqual(r["headers"].get("x-identity-header"), IDENTITY_HEADER)
        self.assertNotIn("metadata", r["headers"])
        self.assertEqual(r["query"]["api-version"], ["2019-08-01"])
        self.assertEqual(r["query"]["resource"], [self.mock.base_url])

    def test_app_service_retry_asks_again_and_succeeds(self):
        self.imds.fail_next(500)
        broker = self.mi_broker({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": USER_ASSIGNED})
        self.assert_ok(self.call(broker), source="minted")
        reqs = self.imds.requests()
        self.assertEqual([r["status"] for r in reqs], [500, 200], dump(reqs))
        self.assertEqual(reqs[1]["headers"].get("x-identity-header"), IDENTITY_HEADER)
        self.assertEqual(reqs[1]["query"].get("client_id"), [USER_ASSIGNED])

    def test_missing_identity_header_is_refused_at_start(self):
        env = self.mi_env({"IDENTITY_HEADER": None})
        status, out, err = harness.run_once(self.stage, [], env)
        self.assertEqual(status, EX_CONFIG, out + err)
        self.assertIn("IDENTITY_HEADER: not set, but IDENTITY_ENDPOINT is", err)


class AgentEnviron(ManagedIdentityCase):
    """/proc/PID/environ: under valgrind it is valgrind's copy, which
    brokerd cannot wipe, so this class stays out of the valgrind run."""

    kind = "agent"

    def test_identity_header_only_in_secretd_memory(self):
        broker = self.mi_broker()
        kids = broker.wait_children()
        self.assert_ok(self.call(broker), source="minted")
        pids = {"brokerd": broker.pid, "secretd": kids["secretd"], "tokend": kids["tokend"]}
        # Control: the blocks are readable and hold what was not wiped.
        self.assertIn(b"MCP_AUTH_BROKER_ENV=dev", sup.proc_environ(broker.pid))
        self.assertIn(b"IDENTITY_ENDPOINT=", sup.proc_environ(kids["tokend"]))
        for name, pid in pids.items():
            self.assertNotIn(IDENTITY_HEADER.encode(), sup.proc_environ(pid),
                             "IDENTITY_HEADER in /proc/%d/environ of %s" % (pid, name))


class ManagedIdentityConfig(ManagedIdentityCase):
    def refused(self, extra, needle):
        status, out, err = harness.run_once(self.stage, [], self.mi_env(extra))
        self.assertEqual(status, EX_CONFIG, out + err)
        self.assertIn(needle, err)
        return err

    def test_endpoints_off_this_host_are_refused(self):
        var = "MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT"
        for url, why in (
                ("https://169.254.169.254/metadata/identity/oauth2/token", "is not an http:// URL"),
                ("http://10.0.0.1/metadata/identity/oauth2/token", "link-local"),
                ("http://example.com/metadata/identity/oauth2/token", "link-local"),
                ("http://169.254.169.254.example.com/token", "link-local"),
                ("http://[2001:db8::1]/token", "link-local"),
                ("http://user@127.0.0.1/token", "user information"),
                ("http://127.0.0.1/token?x=1", "query"),
        ):
            with self.subTest(url=url):
                err = self.refused({var: url}, "%s: '%s' " % (var, url))
                self.assertIn(why, err)

    def test_identity_endpoint_off_this_host_is_refused(self):
        self.refused({"IDENTITY_ENDPOINT": "http://10.1.2.3:8081/msi/token",
                      "IDENTITY_HEADER": IDENTITY_HEADER,
                      "MCP_AUTH_BROKER_MANAGED_IDENTITY_ENDPOINT": None},
                     "IDENTITY_ENDPOINT: 'http://10.1.2.3:8081/msi/token' is not on a link-local")

    def test_secret_settings_are_refused(self):
        self.refused({"MCP_AUTH_BROKER_SECRET_PROVIDER": "file",
                      "MCP_AUTH_BROKER_GRAPH_SECRET_REF": self.secret_file},
                     "MCP_AUTH_BROKER_GRAPH_SECRET_REF: set, but MCP_AUTH_BROKER_GRAPH_CREDENTIAL "
                     "is managed_identity")

    def test_mi_settings_need_the_managed_identity_credential(self):
        env = self.env({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": USER_ASSIGNED})
        status, out, err = harness.run_once(self.stage, [], env)
        self.assertEqual(status, EX_CONFIG, out + err)
        self.assertIn("MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID: set, but", err)

    def test_client_id_must_be_a_guid(self):
        self.refused({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": "my-identity"},
                     "MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID: 'my-identity' is not a client id")


class ManagedIdentityOperator(ManagedIdentityCase):
    def test_check_names_the_endpoint_and_identity(self):
        env = self.mi_env({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": USER_ASSIGNED})
        status, out, err = harness.run_once(self.stage, ["--check"], env)
        self.assertEqual(status, 0, out + err)
        self.assertIn("user-assigned, client id %s via IMDS %s" % (USER_ASSIGNED, self.imds.url), out)
        self.assertNotIn("secret provider", out)
        self.assertEqual(self.imds.requests(), [], "--check asked for a token")

    def test_ready_proves_a_token_can_be_obtained(self):
        status, out, err = harness.run_once(self.stage, ["--ready"], self.mi_env())
        self.assertEqual(status, 0, out + err)
        self.assertIn("managed identity (system-assigned) via %s" % self.imds.url, out)
        self.assertEqual([r["status"] for r in self.imds.requests()], [200])
        self.assertFalse(harness.find_needles((out + err).encode(), self.imds.issued_tokens()))

    def test_ready_fails_when_the_identity_is_not_found(self):
        env = self.mi_env({"MCP_AUTH_BROKER_MANAGED_IDENTITY_CLIENT_ID": UNKNOWN_IDENTITY})
        status, out, err = harness.run_once(self.stage, ["--ready"], env)
        self.assertNotEqual(status, 0, out + err)
        self.assertIn("provider.auth_failed", out)
        self.assertIn("identity not found", out)


if __name__ == "__main__":
    import unittest

    unittest.main()
