# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Red-team findings against the monitor, paging and Graph answers.

Each test here is an attack that worked when it was written: it fails
until the product is fixed, and then keeps the hole shut.

* A hostile brokerd (as in test_tokend_monitor.py: the real tokend and
  secretd, this process holding brokerd's ends of the channels) puts a
  '?' in EXEC_REQ.path.  Policy judges the whole string as a path: the
  allowlist's '*' matches across the '?', and policy_check_query sees no
  query.  curl's URL API, given the path without CURLU_URLENCODE, turns
  everything after the '?' into the query Graph reads: an $expand the
  allowlist refuses reaches Graph; and since the '?' ends the path Graph
  reads, "/v1.0/users/?/photo" under GET:/v1.0/users/*/photo reaches
  GET /v1.0/users/ (every user).
* The same brokerd sends a method none of GET, POST, PUT, PATCH, DELETE
  ("TRACE", "get", "GET /x?"): with mutations on, tokend sends it.
* An MCP client (no compromise needed) sends GET /v1.0/users?$expand=
  memberOf under the allowlist GET:/v1.0/users,GET:/v1.0/users/*:
  policy_query.c judges the expansion as /v1.0/users/memberOf, which the
  item rule matches, but Graph expands each user's memberOf
  (/v1.0/users/{id}/memberOf), which no rule opens.
* A reference (@odata.id, @odata.bind, $id) holding "\\u0000" is judged up
  to the NUL only (judge_reference uses json_object_get_string as a C
  string); Graph gets the rest too.
* A login endpoint answer with an access token over 8 KiB (oauth.c takes
  up to 64 KiB) makes graph_authorization call fatalx: tokend, then brokerd,
  exit on the first Graph call.
* A Graph @odata.nextLink longer than EXEC_ANS's paging.next_link bound
  (4095 bytes in msg.c's decoder; tokend copies the link whole) makes
  tokend's answer undecodable: brokerd treats that as a broken invariant
  and exits, so one Graph response takes down every session.
"""

import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, execute_args  # noqa: E402
import test_tokend_monitor as monitor  # noqa: E402

mock_entra = harness.import_mock_entra()

TENANT = harness.MOCK_TENANT
MSG_EXEC_REQ, MSG_EXEC_ANS = monitor.MSG_EXEC_REQ, monitor.MSG_EXEC_ANS


class Base(harness.MockGraphCase):

    def env(self, extra=None):
        return self.mock_env(extra)


class HostileBrokerdQueryInPath(monitor.HostileBrokerdCase):
    """tokend must not send Graph a query policy never judged."""

    def attempt(self, extra, **changes):
        """Sends the request; what Graph received, [] if tokend refused."""
        kids = self.start(extra)
        kids.send(MSG_EXEC_REQ, 7, self.exec_req(**changes))
        kids.recv()  # an answer, or None once tokend has exited
        return self.mock.graph_requests()

    def test_control_expand_in_the_query_is_refused(self):
        # The same $expand in the query member: refused, as it must be.
        extra = {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*"}
        sent = self.attempt(extra, path="/v1.0/users/x", query="$expand=memberOf")
        self.assertEqual(sent, [])

    def test_expand_smuggled_in_the_path(self):
        extra = {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*"}
        sent = self.attempt(extra, path="/v1.0/users/x?$expand=memberOf")
        self.assertEqual([(r["path"], r["query"]) for r in sent], [],
                         "an $expand policy refuses reached Graph through a '?' in the path")

    def test_path_cut_short_by_a_question_mark(self):
        # Worse than a query: the '?' ends the path Graph reads.  A rule
        # for users' photos only; Graph gets GET /v1.0/users/ (every user).
        extra = {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*/photo"}
        sent = self.attempt(extra, path="/v1.0/users/?/photo")
        self.assertEqual([(r["path"], r["query"]) for r in sent], [],
                         "a path no rule opens reached Graph through a '?' in the path")

    def test_method_outside_the_five(self):
        # msg.c takes any method of up to 8 bytes and policy only asks
        # "GET or mutations on": with mutations on (and no allowlist, or an
        # entry without a method) any bytes go to CURLOPT_CUSTOMREQUEST,
        # spaces included, so the request line can be rewritten.
        for method in ("TRACE", "get", "GET /x?"):
            with self.subTest(method=method):
                kids = self.start({"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
                kids.send(MSG_EXEC_REQ, 7, self.exec_req(method=method))
                self.assertIsNone(kids.recv(), "tokend sent method %r to Graph" % method)


class ExpandOnACollection(Base):
    """$expand on a collection reaches <collection>/<id>/<item>, not
    <collection>/<item>: policy_query.c judges the latter, which a rule
    for the collection's items ('*') matches whatever <item> is."""

    ALLOWLIST = "GET:/v1.0/users,GET:/v1.0/users/*,POST:/v1.0/$batch"

    def call(self, method, path, body=None):
        broker = self.started(env_overrides=self.env({"MCP_AUTH_BROKER_ALLOWED_PATHS": self.ALLOWLIST}))
        changes = {"graph.tenant_id": TENANT, "graph.resource": self.mock.base_url,
                   "operation.method": method, "operation.path": path}
        if body is not None:
            changes["operation.body"] = body
            changes["operation.headers"] = {"content-type": "application/json"}
        return harness.tool_result(broker.call_tool(EXECUTE_TOOL, execute_args(changes)))

    def test_control_expand_on_one_user_is_refused(self):
        result = self.call("GET", "/v1.0/users/x?$expand=memberOf")
        self.assertTrue(result["isError"], result)
        self.assertEqual(self.mock.graph_requests(), [])

    def test_expand_on_the_collection(self):
        # Every user's groups (or, with '*', every navigation property of
        # every user), though no rule opens /v1.0/users/*/memberOf.
        for query in ("$expand=memberOf", "$expand=*"):
            with self.subTest(query=query):
                before = len(self.mock.graph_requests())
                result = self.call("GET", "/v1.0/users?" + query)
                self.assertTrue(result["isError"], "allowed: %s" % result["structuredContent"].get("policy"))
                self.assertEqual(len(self.mock.graph_requests()), before, "the $expand reached Graph")

    def test_expand_on_the_collection_in_a_batch(self):
        batch = {"requests": [{"id": "1", "method": "GET", "url": "/users?$expand=memberOf"}]}
        result = self.call("POST", "/v1.0/$batch", batch)
        self.assertTrue(result["isError"], "allowed: %s" % result["structuredContent"].get("policy"))
        self.assertEqual(self.mock.graph_requests(), [], "the batch reached Graph")


class LongNextLink(Base):
    """A Graph answer must never make tokend's answer one brokerd refuses."""

    def paged(self, skiptoken, max_pages):
        broker = self.started(env_overrides=self.env())
        args = execute_args({"graph.tenant_id": TENANT, "graph.resource": self.mock.base_url,
                             "operation.path": "/v1.0/users?$top=1&$skiptoken=" + skiptoken})
        args["max_pages"] = max_pages
        resp = broker.call_tool(EXECUTE_TOOL, args)
        return broker, resp

    def check(self, skiptoken, max_pages):
        broker, resp = self.paged(skiptoken, max_pages)
        self.assertIsNotNone(resp, "no answer: brokerd died on tokend's EXEC_ANS\n" +
                             broker.stderr_text()[-600:])
        self.assertIn("result", resp, resp)
        # and brokerd still serves
        self.assertIn("result", broker.request("tools/list"))

    def test_long_next_link_on_another_host(self):
        self.check("longelsewhere", 2)

    def test_long_next_link_at_max_pages(self):
        self.check("longlink", 2)


class ReferenceWithNul(harness.BrokerTestCase):
    """A reference is judged as a C string: json_object_get_string stops at
    an embedded NUL ("\\u0000"), so policy sees ".../users/x" while Graph
    receives the whole string, "/../../directoryRoles/r" included (which a
    URL parser that removes dot segments, as .NET's System.Uri does, reads
    as /v1.0/directoryRoles/r).  request.c refuses NUL in every string it
    judges for this very reason; policy_query.c's judge_reference does not."""

    def test_nul_in_odata_id(self):
        env = {"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
               "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*,POST:/v1.0/groups/*/members/$ref"}
        broker = self.started(env_overrides=env)
        for ref in ("https://graph.microsoft.com/v1.0/users/x\u0000/../../directoryRoles/r",
                    "/v1.0/users/x\u0000/../../directoryRoles/r"):
            with self.subTest(ref=ref):
                changes = {"graph.tenant_id": harness.SMOKE_TENANT, "operation.method": "POST",
                           "operation.path": "/v1.0/groups/g/members/$ref",
                           "operation.headers": {"content-type": "application/json"},
                           "operation.body": {"@odata.id": ref}}
                sc = broker.call_tool(EXECUTE_TOOL, execute_args(changes))["result"]["structuredContent"]
                self.assertEqual(sc["policy"]["decision"], "deny", sc)

    def test_encoded_nul_in_id_query(self):
        # The same through $id: "%00" decodes to a NUL in judge_option.
        env = {"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
               "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*,DELETE:/v1.0/groups/*/members/$ref"}
        broker = self.started(env_overrides=env)
        changes = {"graph.tenant_id": harness.SMOKE_TENANT, "operation.method": "DELETE",
                   "operation.path": "/v1.0/groups/g/members/$ref?$id=/v1.0/users/x%00/../../directoryRoles/r"}
        sc = broker.call_tool(EXECUTE_TOOL, execute_args(changes))["result"]["structuredContent"]
        self.assertEqual(sc["policy"]["decision"], "deny", sc)

    def test_encoded_nul_in_expand(self):
        # And through $expand: expand_list is given strlen(value), so what
        # follows "%00" is never judged.
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_ALLOWED_PATHS":
                                             "GET:/v1.0/users/*,GET:/v1.0/users/*/photo"})
        changes = {"graph.tenant_id": harness.SMOKE_TENANT,
                   "operation.path": "/v1.0/users/x?$expand=photo%00,memberOf"}
        sc = broker.call_tool(EXECUTE_TOOL, execute_args(changes))["result"]["structuredContent"]
        self.assertEqual(sc["policy"]["decision"], "deny", sc)


class LongAccessToken(Base):
    """An access token the login endpoint sends must not take tokend down.

    oauth.c accepts any b64token in a body of up to 64 KiB; graph.c's
    graph_authorization builds the header in 8 KiB and calls fatalx when
    the token does not fit: tokend exits on the first Graph call after the
    login, brokerd with it (70), and again after every restart."""

    def test_long_access_token(self):
        self.mock.set_fault("token", "long_token", size=9000)
        broker = self.started(env_overrides=self.env())
        resp = broker.call_tool(EXECUTE_TOOL, execute_args({
            "graph.tenant_id": TENANT, "graph.resource": self.mock.base_url,
            "operation.path": "/v1.0/users"}))
        self.assertIn("result", resp, resp)
        self.assertIn("result", broker.request("tools/list"), "brokerd did not survive")


if __name__ == "__main__":
    harness.main()
