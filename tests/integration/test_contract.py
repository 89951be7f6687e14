# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""What an agent and its MCP client see of the tools (issue 10 items 1-3).

* Names: tools/list offers names every client accepts
  (^[a-zA-Z0-9_-]{1,64}$); the original dotted names stay callable, and
  MCP_AUTH_BROKER_TOOL_NAMES=original lists them instead.  Titles and
  annotations follow the configuration; audit records name the tool
  canonically.
* The original contract: contract_version v0.1.0, later v0.1.x and "v1"
  are accepted, every result carries contract_version, and a header the
  broker does not forward is bad_request.invalid_field.
* Defaults: a call with only operation.method and operation.path succeeds;
  the description is written from the active policy, and a denial says
  what would be allowed.

Smoke mode: no Azure, no 1Password.
"""

import json
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (DESCRIBE_TOOL, EXECUTE_TOOL, GRAPH, ORIGINAL_DESCRIBE_TOOL,  # noqa: E402
                     ORIGINAL_EXECUTE_TOOL, SMOKE_TENANT, BrokerTestCase, execute_args, tool_result)

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
GENERATED_ID = re.compile(r"^req-[0-9a-f]{16}$")
MINIMAL = {"operation": {"method": "GET", "path": "/v1.0/users"}}
MODERN = "2026-07-28"
FORWARDED = "accepted: accept, content-type, if-match, prefer, consistencylevel"


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def modern_params(extra=None):
    p = {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                   "io.modelcontextprotocol/clientCapabilities": {}}}
    p.update(extra or {})
    return p


class Names(BrokerTestCase):
    def listed(self, broker, version):
        if version == MODERN:
            return broker.request("tools/list", modern_params())["result"]["tools"]
        return broker.request("tools/list")["result"]["tools"]

    def test_every_listed_name_matches_the_pattern_in_every_version(self):
        for version in harness.SUPPORTED_VERSIONS + (MODERN,):
            with self.subTest(version=version):
                broker = self.started(version if version != MODERN else harness.LATEST_VERSION)
                names = [t["name"] for t in self.listed(broker, version)]
                self.assertEqual(names, [EXECUTE_TOOL, DESCRIBE_TOOL])
                for name in names:
                    self.assertRegex(name, NAME_PATTERN)

    def test_original_names_listed_on_request(self):
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_TOOL_NAMES": "original"})
        names = [t["name"] for t in broker.request("tools/list")["result"]["tools"]]
        self.assertEqual(names, [ORIGINAL_EXECUTE_TOOL, ORIGINAL_DESCRIBE_TOOL])
        status, _, err = harness.run_once(self.stage, [], {"MCP_AUTH_BROKER_TOOL_NAMES": "dotted"})
        self.assertEqual(status, 78, err)
        self.assertIn("MCP_AUTH_BROKER_TOOL_NAMES: 'dotted' is not one of short, original", err)

    def test_both_name_sets_callable_whichever_is_listed(self):
        for setting in ("short", "original"):
            broker = self.started(env_overrides={"MCP_AUTH_BROKER_TOOL_NAMES": setting})
            for name in (EXECUTE_TOOL, ORIGINAL_EXECUTE_TOOL):
                with self.subTest(setting=setting, name=name):
                    result = tool_result(broker.call_tool(name, MINIMAL))
                    self.assertIs(result["isError"], False, dump(result))
            for name in (DESCRIBE_TOOL, ORIGINAL_DESCRIBE_TOOL):
                with self.subTest(setting=setting, name=name):
                    result = tool_result(broker.call_tool(name, {}))
                    self.assertIs(result["isError"], False, dump(result))

    def test_titles_and_annotations_follow_the_configuration(self):
        for mutations, read_only in (("false", True), ("true", False)):
            broker = self.started("2025-11-25", {"MCP_AUTH_BROKER_ENABLE_MUTATIONS": mutations})
            tools = {t["name"]: t for t in broker.request("tools/list")["result"]["tools"]}
            execute, describe = tools[EXECUTE_TOOL], tools[DESCRIBE_TOOL]
            with self.subTest(mutations=mutations):
                self.assertTrue(execute["title"])
                self.assertEqual(execute["annotations"]["title"], execute["title"])
                self.assertIs(execute["annotations"]["readOnlyHint"], read_only)
                self.assertIs(execute["annotations"]["openWorldHint"], True)
                if read_only:
                    self.assertNotIn("destructiveHint", execute["annotations"])
                else:
                    self.assertIs(execute["annotations"]["destructiveHint"], True)
                    self.assertIs(execute["annotations"]["idempotentHint"], False)
                self.assertTrue(describe["title"])
                self.assertIs(describe["annotations"]["readOnlyHint"], True)
                self.assertIs(describe["annotations"]["openWorldHint"], False)

    def test_annotations_from_2025_03_26_titles_from_2025_06_18(self):
        broker = self.started("2024-11-05")
        for tool in broker.request("tools/list")["result"]["tools"]:
            self.assertNotIn("annotations", tool)
            self.assertNotIn("title", tool)
        broker = self.started("2025-03-26")
        for tool in broker.request("tools/list")["result"]["tools"]:
            self.assertTrue(tool["annotations"]["title"])
            self.assertNotIn("outputSchema", tool)

    def test_audit_names_the_tool_canonically(self):
        audit = os.path.join(tempfile.mkdtemp(prefix="mab-contract-"), "audit.log")
        self.addCleanup(lambda: os.path.exists(audit) and os.unlink(audit))
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_AUDIT_FILE": audit})
        tool_result(broker.call_tool(EXECUTE_TOOL, MINIMAL))
        tool_result(broker.call_tool(ORIGINAL_EXECUTE_TOOL, MINIMAL))
        tool_result(broker.call_tool(ORIGINAL_DESCRIBE_TOOL, {}))
        records = harness.audit_records(audit, "tool_call")
        self.assertEqual([(r["tool"], r.get("called_as")) for r in records],
                         [(EXECUTE_TOOL, None), (EXECUTE_TOOL, ORIGINAL_EXECUTE_TOOL),
                          (DESCRIBE_TOOL, ORIGINAL_DESCRIBE_TOOL)], dump(records))


class OriginalContract(BrokerTestCase):
    def sc(self, broker, name, args):
        return tool_result(broker.call_tool(name, args))["structuredContent"]

    def test_versions_accepted_and_echoed(self):
        broker = self.started()
        for given in ("v0.1.0", "v0.1.3", "v0.1.42", "v1"):
            with self.subTest(contract_version=given):
                sc = self.sc(broker, EXECUTE_TOOL, execute_args({"contract_version": given}))
                self.assertEqual((sc["status"], sc["contract_version"]), ("ok", given), dump(sc))
                sc = self.sc(broker, DESCRIBE_TOOL, {"contract_version": given})
                self.assertEqual((sc["status"], sc["contract_version"]), ("ok", given), dump(sc))

    def test_versions_refused(self):
        broker = self.started()
        for given in ("v0.2.0", "v0.1", "v2", "0.1.0", "v0.1.01"):
            with self.subTest(contract_version=given):
                sc = self.sc(broker, EXECUTE_TOOL, execute_args({"contract_version": given}))
                self.assertEqual(sc["error"]["code"], "bad_request.invalid_field", dump(sc))
                self.assertIn('"v0.1.0"', sc["error"]["message"])
                # What the broker speaks, since what was asked is not a version.
                self.assertEqual(sc["contract_version"], "v0.1.0", dump(sc))

    def test_every_result_carries_contract_version_and_request_id(self):
        broker = self.started()
        cases = [
            (EXECUTE_TOOL, MINIMAL, False),
            (EXECUTE_TOOL, {"graph": {"scopes": ["Mail.Send"]}, "operation": MINIMAL["operation"]}, True),
            (EXECUTE_TOOL, {"operation": {"method": "GET"}}, True),
            (EXECUTE_TOOL, {"x": 1}, True),
            (DESCRIBE_TOOL, {}, False),
            (DESCRIBE_TOOL, {"resource": "https://evil.example"}, True),
            (DESCRIBE_TOOL, {"x": 1}, True),
        ]
        for name, args, is_error in cases:
            with self.subTest(name=name, args=args):
                result = tool_result(broker.call_tool(name, args))
                self.assertIs(result["isError"], is_error, dump(result))
                sc = result["structuredContent"]
                self.assertEqual(sc["contract_version"], "v0.1.0", dump(sc))
                self.assertIsInstance(sc["request_id"], str, dump(sc))

    def test_unknown_header_is_an_invalid_field(self):
        broker = self.started()
        for header in ("Authorization", "cookie", "X-Forwarded-For", "If-None-Match"):
            with self.subTest(header=header):
                args = execute_args({"operation.headers": {"accept": "application/json", header: "x"}})
                sc = self.sc(broker, EXECUTE_TOOL, args)
                self.assertEqual(sc["error"]["code"], "bad_request.invalid_field", dump(sc))
                self.assertEqual(sc["error"]["message"], "operation.headers.%s is not a header the broker "
                                 "forwards (%s)" % (header, FORWARDED))
                self.assertNotIn("policy", sc)
        # The forwarded ones, in any letter case, still pass.
        args = execute_args({"operation.headers": {"Accept": "application/json", "ConsistencyLevel": "eventual",
                                                   "prefer": "odata.maxpagesize=5"}})
        self.assertEqual(self.sc(broker, EXECUTE_TOOL, args)["status"], "ok")


class Defaults(BrokerTestCase):
    def test_method_and_path_are_enough(self):
        audit = os.path.join(tempfile.mkdtemp(prefix="mab-contract-"), "audit.log")
        self.addCleanup(lambda: os.path.exists(audit) and os.unlink(audit))
        broker = self.started(env_overrides={
            "MCP_AUTH_BROKER_AUDIT_FILE": audit,
            "MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All Group.Read.All"})
        result = tool_result(broker.call_tool(EXECUTE_TOOL, MINIMAL))
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
        self.assertRegex(sc["request_id"], GENERATED_ID)
        self.assertEqual(sc["contract_version"], "v0.1.0")
        # tokend got the filled request: its decoder takes an EXEC_REQ without
        # request id, requester, tenant, resource or scopes for a broken
        # invariant and exits, so the call answering 200 shows they arrived.
        # The scopes are every allowed one.
        self.assertEqual(sc["token"]["scopes"], ["User.Read.All", "Group.Read.All"])
        self.assertIn("resource=" + GRAPH, sc["policy"]["rule"])
        self.assertIn("tenant=" + SMOKE_TENANT, sc["policy"]["rule"])
        record = harness.audit_records(audit, "tool_call")[-1]
        self.assertEqual(record["request_id"], sc["request_id"])
        self.assertEqual(record["requester_id"], "uid:%d/pid:%d" % (record["peer_uid"], record["peer_pid"]))
        self.assertEqual(record["requester_id"], "uid:%d/pid:%d" % (os.getuid(), os.getpid()))
        # A second call gets another id.
        again = tool_result(broker.call_tool(EXECUTE_TOOL, MINIMAL))["structuredContent"]
        self.assertNotEqual(again["request_id"], sc["request_id"])

    def test_the_full_contract_still_works(self):
        broker = self.started()
        sc = tool_result(broker.call_tool(EXECUTE_TOOL, execute_args({"contract_version": "v0.1.0"})))
        self.assertEqual(sc["structuredContent"]["request_id"], "req-1", dump(sc))
        self.assertEqual(sc["structuredContent"]["token"]["scopes"], ["User.Read.All"])

    def test_over_the_socket_the_requester_is_the_peer(self):
        _, path = self.listening_broker()
        client = harness.SocketClient(path)
        self.addCleanup(client.close)
        harness.initialize(client)
        sc = tool_result(client.call_tool(EXECUTE_TOOL, MINIMAL))["structuredContent"]
        self.assertEqual(sc["status"], "ok", dump(sc))

    def test_description_is_written_from_the_policy(self):
        allow = ["GET:/v1.0/users", "GET:/v1.0/users/*", "/v1.0/me", "POST:/v1.0/users/*/sendMail"]
        broker = self.started(env_overrides={
            "MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All Mail.Send",
            "MCP_AUTH_BROKER_ALLOWED_PATHS": ",".join(allow),
            "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
        tools = {t["name"]: t for t in broker.request("tools/list")["result"]["tools"]}
        text = tools[EXECUTE_TOOL]["description"]
        for needle in (SMOKE_TENANT, GRAPH, "User.Read.All, Mail.Send", "mutations are enabled",
                       "GET:/v1.0/users/*", "any:/v1.0/me", "POST:/v1.0/users/*/sendMail", "timeout_ms 100 to 120000",
                       "4194304 bytes", "operation.method and operation.path"):
            self.assertIn(needle, text)
        self.assertIn(GRAPH, tools[DESCRIBE_TOOL]["description"])
        broker = self.started()
        text = broker.request("tools/list")["result"]["tools"][0]["description"]
        self.assertIn("GET only (mutations are disabled", text)
        self.assertIn("any path under /v1.0/ or /beta/", text)

    def test_a_long_allowlist_is_cut_in_the_description(self):
        allow = ["GET:/v1.0/groups/%04d/members/*" % i for i in range(300)]
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_ALLOWED_PATHS": ",".join(allow)})
        text = broker.request("tools/list")["result"]["tools"][0]["description"]
        self.assertLess(len(text), 2048)
        self.assertRegex(text, r"and \d+ more\.")
        self.assertIn("Limits: timeout_ms", text)

    def test_denials_say_what_would_be_allowed(self):
        broker = self.started(env_overrides={
            "MCP_AUTH_BROKER_ALLOWED_SCOPES": "User.Read.All Group.Read.All",
            "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users,GET:/v1.0/users/*,POST:/v1.0/$batch"})
        cases = (
            ({"graph": {"scopes": ["Mail.Send"]}, "operation": MINIMAL["operation"]}, "policy.invalid_scope",
             "scope 'Mail.Send' is not permitted; allowed: User.Read.All, Group.Read.All"),
            ({"operation": {"method": "GET", "path": "/v1.0/groups"}}, "policy.denied",
             "operation.path is not in the path allowlist for GET; allowed for GET: /v1.0/users, /v1.0/users/*"),
            ({"graph": {"resource": "https://graph.example"}, "operation": MINIMAL["operation"]}, "policy.denied",
             "graph.resource is not an allowed Graph resource; allowed: " + GRAPH),
            ({"graph": {"tenant_id": "contoso.example"}, "operation": MINIMAL["operation"]}, "policy.denied",
             "graph.tenant_id is not the tenant this broker serves (%s); leave it out to use that one"
             % SMOKE_TENANT),
            ({"operation": {"method": "DELETE", "path": "/v1.0/users/x"}}, "policy.denied",
             "DELETE is refused: mutations are disabled (only GET is allowed)"),
        )
        for args, code, message in cases:
            with self.subTest(message=message):
                sc = tool_result(broker.call_tool(EXECUTE_TOOL, args))["structuredContent"]
                self.assertEqual((sc["error"]["code"], sc["error"]["message"]), (code, message), dump(sc))

    def test_denial_hints_are_bounded(self):
        scopes = " ".join("Scope%03d.Read.All" % i for i in range(200))
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_ALLOWED_SCOPES": scopes})
        args = {"graph": {"scopes": ["Mail.Send"]}, "operation": MINIMAL["operation"]}
        message = tool_result(broker.call_tool(EXECUTE_TOOL, args))["structuredContent"]["error"]["message"]
        self.assertTrue(message.startswith("scope 'Mail.Send' is not permitted; allowed: Scope000.Read.All, "))
        self.assertTrue(message.endswith(", ..."), message)
        self.assertLess(len(message), 400)


if __name__ == "__main__":
    harness.main()
