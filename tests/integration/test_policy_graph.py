"""Batches and query options as a client sees them, through the real
brokerd and tokend against the TLS mock of Graph.

A `$batch` is judged request by request, each as if it had been sent
alone; `$expand` reaches further resources and is judged against the path
allowlist.  What policy refuses never reaches Graph; what it allows does,
with the body policy judged.  (The rules themselves: tests/check_policy.c;
a brokerd that skips them: tests/integration/test_tokend_monitor.py.)
"""

import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, execute_args, tool_result  # noqa: E402

mock_entra = harness.import_mock_entra()

TENANT = "6f1c2a5e-3b7d-4e8a-9c0d-1e2f3a4b5c6d"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "mab-policy-secret~" + os.urandom(12).hex()
PATHS = "GET:/v1.0/users,GET:/v1.0/users/*,POST:/v1.0/$batch"

PKI = None
_PKI_ROOT = None


def setUpModule():
    global PKI, _PKI_ROOT
    _PKI_ROOT = tempfile.mkdtemp(prefix="mab-pki-")
    PKI = mock_entra.make_pki(os.path.join(_PKI_ROOT, "trusted"))


def tearDownModule():
    if _PKI_ROOT is not None:
        shutil.rmtree(_PKI_ROOT, ignore_errors=True)


class BatchAndExpand(harness.BrokerTestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-policy-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        secret_file = os.path.join(self.tmp, "graph-client-secret")
        harness.write_secret_file(secret_file, SECRET)
        self.mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
        self.addCleanup(self.mock.stop)
        self.mock.start()
        env = harness.dev_env(self.mock.base_url, [self.mock.base_url], PKI.ca_file, secret_file,
                              TENANT, CLIENT_ID, {"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
                                                  "MCP_AUTH_BROKER_ALLOWED_PATHS": PATHS})
        self.broker = self.started(env_overrides=env)

    def call(self, method, path, body=None):
        changes = {"graph.tenant_id": TENANT, "graph.resource": self.mock.base_url,
                   "operation.method": method, "operation.path": path}
        if body is not None:
            changes["operation.body"] = body
            changes["operation.headers"] = {"content-type": "application/json"}
        return tool_result(self.broker.call_tool(EXECUTE_TOOL, execute_args(changes)))

    def test_a_batch_smuggling_a_delete_is_refused_naming_it(self):
        batch = {"requests": [
            {"id": "1", "method": "GET", "url": "/users/x"},
            {"id": "2", "method": "DELETE", "url": "/users/x"},
            {"id": "3", "method": "POST", "url": "/servicePrincipals/x/addPassword",
             "headers": {"content-type": "application/json"}, "body": {}}]}
        result = self.call("POST", "/v1.0/$batch", batch)
        self.assertTrue(result["isError"], result)
        err = result["structuredContent"]["error"]
        self.assertEqual(err["code"], "policy.denied")
        self.assertIn("batch request '2'", err["message"])
        self.assertEqual(self.mock.graph_requests(), [], "a refused batch reached Graph")

    def test_an_allowed_batch_reaches_graph_as_judged(self):
        batch = {"requests": [{"id": "1", "method": "GET", "url": "/users/x"},
                              {"id": "2", "method": "GET", "url": "users"}]}
        result = self.call("POST", "/v1.0/$batch", batch)
        self.assertFalse(result["isError"], result)
        self.assertEqual(result["structuredContent"]["policy"]["decision"], "allow")
        [req] = self.mock.graph_requests()
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1.0/$batch"))
        self.assertEqual(json.loads(req["body"]), batch)

    def test_expand_is_judged_against_the_allowlist(self):
        result = self.call("GET", "/v1.0/users/x?$expand=memberOf,ownedObjects")
        self.assertTrue(result["isError"], result)
        self.assertEqual(result["structuredContent"]["error"]["code"], "policy.denied")
        self.assertEqual(self.mock.graph_requests(), [])


class TokenRoles(harness.BrokerTestCase):
    """DESIGN.md section 4: a call's scopes are checked against policy and,
    where the token is a JWT, against its roles claim (tokend)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mab-roles-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        secret_file = os.path.join(self.tmp, "graph-client-secret")
        harness.write_secret_file(secret_file, SECRET)
        self.mock = mock_entra.MockEntra(PKI, tenant=TENANT, client_id=CLIENT_ID, client_secret=SECRET)
        self.addCleanup(self.mock.stop)
        self.mock.set_roles(["User.Read.All"])
        self.mock.start()
        env = harness.dev_env(self.mock.base_url, [self.mock.base_url], PKI.ca_file, secret_file,
                              TENANT, CLIENT_ID, {"MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All,Group.Read.All"})
        self.broker = self.started(env_overrides=env)

    def call(self, scopes):
        changes = {"graph.tenant_id": TENANT, "graph.resource": self.mock.base_url, "graph.scopes": scopes,
                   "operation.method": "GET", "operation.path": "/v1.0/users"}
        return tool_result(self.broker.call_tool(EXECUTE_TOOL, execute_args(changes)))

    def test_a_scope_the_token_lacks_is_refused_naming_the_role(self):
        result = self.call(["User.Read.All", "Group.Read.All"])
        self.assertTrue(result["isError"], result)
        err = result["structuredContent"]["error"]
        self.assertEqual(err["code"], "policy.invalid_scope")
        self.assertIn("'Group.Read.All' is not among the token's roles", err["message"])
        self.assertEqual(self.mock.graph_requests(), [], "a call the token cannot make reached Graph")

    def test_scopes_among_the_roles_reach_graph(self):
        result = self.call(["user.read.all"])
        self.assertFalse(result["isError"], result)
        self.assertEqual(len(self.mock.graph_requests()), 1)


if __name__ == "__main__":
    harness.main()
