# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

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
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, tool_result  # noqa: E402

PATHS = "GET:/v1.0/users,GET:/v1.0/users/*,POST:/v1.0/$batch"


class BatchAndExpand(harness.MockGraphCase):

    def setUp(self):
        super().setUp()
        self.broker = self.started(env_overrides=self.mock_env({
            "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true", "MCP_AUTH_BROKER_ALLOWED_PATHS": PATHS}))

    def call(self, method, path, body=None):
        changes = {"operation.method": method, "operation.path": path}
        if body is not None:
            changes["operation.body"] = body
            changes["operation.headers"] = {"content-type": "application/json"}
        return tool_result(self.broker.call_tool(EXECUTE_TOOL, self.mock_args(changes)))

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


class TokenRoles(harness.MockGraphCase):
    """DESIGN.md section 4: a call's scopes are checked against policy and,
    where the token is a JWT, against its roles claim (tokend)."""

    def setUp(self):
        super().setUp()
        self.mock.set_roles(["User.Read.All"])
        self.broker = self.started(env_overrides=self.mock_env(
            {"MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All,Group.Read.All"}))

    def call(self, scopes):
        changes = {"graph.scopes": scopes, "operation.method": "GET", "operation.path": "/v1.0/users"}
        return tool_result(self.broker.call_tool(EXECUTE_TOOL, self.mock_args(changes)))

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
