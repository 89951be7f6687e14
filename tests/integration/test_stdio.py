# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""brokerd over stdio, as an MCP client sees it.

Covers the MCP surface (version negotiation, ping, tools/list, JSON-RPC
errors), the execute and describe tools in smoke mode (allow, every denial
code, Graph passthrough, token cache), concurrency, the process model, the
hygiene of stdout and of the logs, and shutdown on EOF.
"""

import datetime
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (  # noqa: E402
    DESCRIBE_TOOL,
    EXECUTE_TOOL,
    GRAPH,
    LATEST_VERSION,
    SLOW_PATH,
    SMOKE_CLIENT_ID,
    SMOKE_TENANT,
    SUPPORTED_VERSIONS,
    BrokerTestCase,
    execute_args,
    tool_result,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
VERSIONS_WITH_OUTPUT_SCHEMA = ("2025-06-18", "2025-11-25")


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


class ToolAssertions(BrokerTestCase):
    """Assertions on tool results shared by the classes below."""

    def assert_future_utc(self, text):
        self.assertRegex(text, ISO_UTC)
        when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertGreater(when, now, "expires_at %s is not in the future" % text)

    def assert_ok(self, resp, request_id="req-1", http_status=200):
        """A successful execute result; returns structuredContent."""
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("status"), "ok", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc["execution"].get("http_status"), http_status, dump(sc))
        return sc

    def assert_tool_error(self, resp, code, request_id, reason=None):
        """A tool failure with this error code; returns structuredContent."""
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], True, dump(result))
        self.assertEqual(sc.get("status"), "error", dump(sc))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        err = sc.get("error", {})
        self.assertEqual(err.get("code"), code, dump(sc))
        self.assertEqual(err.get("category"), code.split(".")[0], dump(sc))
        self.assertIs(err.get("retryable"), False, dump(sc))
        self.assertIsInstance(err.get("message"), str, dump(sc))
        self.assertTrue(err["message"], dump(sc))
        if code in ("policy.denied", "policy.invalid_scope"):
            self.assertEqual(sc.get("policy", {}).get("decision"), "deny", dump(sc))
        if reason is not None:
            self.assertEqual(sc.get("policy", {}).get("reason"), reason, dump(sc))
        self.assertNotIn("token", sc, dump(sc))
        self.assertNotIn("execution", sc, dump(sc))
        return sc

    def assert_still_serving(self, broker):
        """After bad input the session goes on: a ping is still answered."""
        self.assertEqual(broker.request("ping").get("result"), {})


class InitializeTests(ToolAssertions):
    def test_supported_versions_are_echoed(self):
        for version in SUPPORTED_VERSIONS:
            with self.subTest(version=version):
                broker = self.start_broker()
                result = harness.initialize(broker, version)
                self.assertEqual(result.get("protocolVersion"), version, dump(result))
                self.assert_initialize_shape(result)

    def test_unknown_version_gets_latest(self):
        for version in ("1999-01-01", "2025-06-19", "latest"):
            with self.subTest(version=version):
                broker = self.start_broker()
                result = harness.initialize(broker, version)
                self.assertEqual(result.get("protocolVersion"), LATEST_VERSION, dump(result))
                self.assert_initialize_shape(result)

    def assert_initialize_shape(self, result):
        self.assertEqual(result.get("capabilities"), {"tools": {"listChanged": False}}, dump(result))
        info = result.get("serverInfo", {})
        self.assertEqual(info.get("name"), "mcp-auth-broker", dump(result))
        self.assertIsInstance(info.get("version"), str, dump(result))
        self.assertIsInstance(result.get("instructions"), str, dump(result))

    def test_ping_answers_empty_result(self):
        broker = self.started()
        resp = broker.request("ping")
        self.assertEqual(resp.get("result"), {}, dump(resp))

    def test_notifications_get_no_response(self):
        broker = self.started()
        broker.notify("notifications/initialized")
        broker.notify("notifications/cancelled", {"requestId": 999, "reason": "test"})
        broker.notify("notifications/no-such-notification")
        broker.notify("tools/list")  # a request method sent as a notification
        ping_id = broker.send_request("ping")
        first = broker.recv()
        self.assertEqual(first.get("id"), ping_id, "a notification was answered: %s" % dump(first))
        self.assertEqual(first.get("result"), {}, dump(first))

    def test_tools_refused_before_initialize(self):
        broker = self.start_broker()
        list_id = broker.send_request("tools/list", req_id=5)
        self.assert_rpc_error(broker.recv_response(list_id), -32600, 5)
        req_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args()}, req_id="pre-1")
        self.assert_rpc_error(broker.recv_response(req_id), -32600, "pre-1")
        # Refusal is not fatal: initialize still works afterwards.
        self.assertEqual(harness.initialize(broker).get("protocolVersion"), "2025-06-18")


class ToolsListTests(ToolAssertions):
    def test_tools_list_for_each_version(self):
        for version in SUPPORTED_VERSIONS:
            with self.subTest(version=version):
                broker = self.started(version)
                resp = broker.request("tools/list")
                self.assertIn("result", resp, dump(resp))
                tools = resp["result"].get("tools")
                self.assertIsInstance(tools, list, dump(resp))
                self.assertEqual(sorted(t.get("name") for t in tools), sorted([EXECUTE_TOOL, DESCRIBE_TOOL]))
                for tool in tools:
                    self.assert_tool_shape(tool, version in VERSIONS_WITH_OUTPUT_SCHEMA)

    def assert_tool_shape(self, tool, want_output_schema):
        self.assertIsInstance(tool.get("description"), str, dump(tool))
        self.assertTrue(tool["description"], dump(tool))
        self.assertEqual(tool.get("inputSchema", {}).get("type"), "object", dump(tool))
        if want_output_schema:
            self.assertEqual(tool.get("outputSchema", {}).get("type"), "object", dump(tool))
        else:
            self.assertNotIn("outputSchema", tool, dump(tool))


class JsonRpcErrorTests(ToolAssertions):
    def test_unparseable_line_is_parse_error(self):
        broker = self.started()
        for raw in (b"{not json\n", b'{"jsonrpc":"2.0","id":1,"method":"ping"\n', b"\xff\xfe\n"):
            with self.subTest(raw=raw):
                broker.send_raw(raw)
                self.assert_rpc_error(broker.recv(), -32700, None)
        self.assert_still_serving(broker)

    def test_non_request_json_is_invalid_request(self):
        broker = self.started()
        for raw in ([], 42, "ping", {}, True):
            with self.subTest(message=raw):
                broker.send(raw)
                self.assert_rpc_error(broker.recv(), -32600, None)
        self.assert_still_serving(broker)

    def test_malformed_request_object_is_invalid_request(self):
        """The id may or may not be recoverable from such a message: either is fine."""
        broker = self.started()
        cases = (
            {"id": 11, "method": "ping"},
            {"jsonrpc": "1.0", "id": 12, "method": "ping"},
            {"jsonrpc": "2.0", "id": 13, "method": 42},
            {"jsonrpc": "2.0", "id": 14},
        )
        for msg in cases:
            with self.subTest(message=msg):
                broker.send(msg)
                resp = broker.recv()
                self.assertIn(resp.get("id"), (msg["id"], None), dump(resp))
                self.assert_rpc_error(resp, -32600, resp.get("id"))
        self.assert_still_serving(broker)

    def test_bad_ids_are_invalid_request_with_null_id(self):
        broker = self.started()
        for bad_id in (None, [1], {"a": 1}):
            with self.subTest(id=bad_id):
                broker.send({"jsonrpc": "2.0", "id": bad_id, "method": "ping"})
                self.assert_rpc_error(broker.recv(), -32600, None)
        self.assert_still_serving(broker)

    def test_unknown_method_echoes_id(self):
        broker = self.started()
        for req_id in (77, "m-77"):
            with self.subTest(id=req_id):
                broker.send_request("no/such/method", {}, req_id=req_id)
                self.assert_rpc_error(broker.recv(), -32601, req_id)

    def test_ids_are_echoed_exactly(self):
        broker = self.started()
        for req_id in (0, -5, 2**53 - 1, "abc", "", "r\u00e9q-\u2603", "42"):
            with self.subTest(id=req_id):
                broker.send_request("ping", req_id=req_id)
                resp = broker.recv()
                self.assertEqual(resp.get("result"), {}, dump(resp))
                self.assertEqual(resp.get("id"), req_id, dump(resp))
                self.assertIs(type(resp.get("id")), type(req_id), dump(resp))

    def test_invalid_tools_call_params(self):
        broker = self.started()
        cases = (
            ("unknown tool", {"name": "auth.graph.nope.v1", "arguments": {}}),
            ("params not an object", [EXECUTE_TOOL, {}]),
            ("arguments not an object", {"name": EXECUTE_TOOL, "arguments": "x"}),
            ("arguments an array", {"name": DESCRIBE_TOOL, "arguments": []}),
            ("name missing", {"arguments": {}}),
        )
        for label, params in cases:
            with self.subTest(case=label):
                req_id = broker.send_request("tools/call", params)
                self.assert_rpc_error(broker.recv(), -32602, req_id)
        self.assert_still_serving(broker)

    def test_id_of_call_in_flight_cannot_be_reused(self):
        broker = self.started()
        slow = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow"})
        broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": slow}, req_id="dup")
        broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args()}, req_id="dup")
        answers = [broker.recv(), broker.recv()]
        errors = [a for a in answers if "error" in a]
        results = [a for a in answers if "result" in a]
        self.assertEqual((len(errors), len(results)), (1, 1), dump(answers))
        self.assert_rpc_error(errors[0], -32600, "dup")
        self.assertEqual(results[0]["id"], "dup")
        sc = self.assert_ok(results[0], request_id="req-slow")
        self.assertEqual(sc["execution"]["body"], {"slow": True}, dump(sc))


class ExecuteTests(ToolAssertions):
    def test_allowed_call_minted_then_cache(self):
        broker = self.started()
        first = self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))
        self.assert_allowed_shape(first)
        self.assertEqual(first["token"]["source"], "minted", dump(first))
        users = first["execution"]["body"].get("value")
        self.assertIsInstance(users, list, dump(first))
        self.assertTrue(users, dump(first))
        for user in users:
            for key in ("id", "displayName", "userPrincipalName"):
                self.assertIn(key, user, dump(user))
        for n in (2, 3):
            again = self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args({"request_id": "req-%d" % n})), "req-%d" % n)
            self.assert_allowed_shape(again)
            self.assertEqual(again["token"]["source"], "cache", dump(again))
            self.assertEqual(again["token"]["expires_at"], first["token"]["expires_at"], "cached token changed expiry")
            self.assertEqual(again["policy"]["policy_version"], first["policy"]["policy_version"])

    def assert_allowed_shape(self, sc):
        policy, token, execution = sc.get("policy", {}), sc.get("token", {}), sc.get("execution", {})
        self.assertEqual(policy.get("decision"), "allow", dump(sc))
        self.assertEqual(policy.get("reason"), "policy.rule.allow.graph.read", dump(sc))
        self.assertIsInstance(policy.get("rule"), str, dump(sc))
        self.assertRegex(policy.get("policy_version", ""), HEX16)
        self.assertEqual(token.get("token_type"), "Bearer", dump(sc))
        self.assertEqual(token.get("scopes"), ["User.Read.All"], dump(sc))
        self.assert_future_utc(token.get("expires_at", ""))
        self.assertIsInstance(execution.get("provider_request_id"), str, dump(sc))
        self.assertIsInstance(execution.get("headers", {}).get("request-id"), str, dump(sc))
        self.assertIn("body", execution, dump(sc))

    def test_get_listed_user(self):
        broker = self.started()
        users = self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))["execution"]["body"]["value"]
        wanted = users[-1]
        args = execute_args({"operation.path": "/v1.0/users/%s" % wanted["id"], "request_id": "req-user"})
        sc = self.assert_ok(broker.call_tool(EXECUTE_TOOL, args), "req-user")
        self.assertEqual(sc["execution"]["body"].get("id"), wanted["id"], dump(sc))
        self.assertEqual(sc["execution"]["body"].get("userPrincipalName"), wanted["userPrincipalName"], dump(sc))

    def test_get_organization(self):
        broker = self.started()
        args = execute_args({"operation.path": "/v1.0/organization"})
        sc = self.assert_ok(broker.call_tool(EXECUTE_TOOL, args))
        self.assertIsInstance(sc["execution"]["body"], dict, dump(sc))

    def test_unknown_path_passes_graph_404_through(self):
        broker = self.started()
        args = execute_args({"operation.path": "/v1.0/no-such-thing/at-all"})
        sc = self.assert_ok(broker.call_tool(EXECUTE_TOOL, args), http_status=404)
        self.assertEqual(sc["execution"]["body"].get("error", {}).get("code"), "Request_ResourceNotFound", dump(sc))

    # label, changes, removals, expected error code, expected policy reason
    REFUSALS = (
        ("unknown top-level field", {"extra": 1}, (), "bad_request.invalid_field", None),
        ("unknown requester field", {"requester.role": "admin"}, (), "bad_request.invalid_field", None),
        ("unknown graph field", {"graph.authority": "x"}, (), "bad_request.invalid_field", None),
        ("unknown operation field", {"operation.query": "x"}, (), "bad_request.invalid_field", None),
        ("timeout_ms string", {"timeout_ms": "abc"}, (), "bad_request.invalid_timeout", None),
        ("timeout_ms 0", {"timeout_ms": 0}, (), "bad_request.invalid_timeout", None),
        ("timeout_ms 99", {"timeout_ms": 99}, (), "bad_request.invalid_timeout", None),
        ("timeout_ms 120001", {"timeout_ms": 120001}, (), "bad_request.invalid_timeout", None),
        ("timeout_ms 1.5", {"timeout_ms": 1.5}, (), "bad_request.invalid_timeout", None),
        ("action not downstream_call", {"operation.action": "mint_token"}, (), "bad_request.unsupported_operation", None),
        # Left out, the requester is the session's peer (test_contract.py); given, it must name someone.
        ("requester without an id", {"requester": {"identity_assurance": "high"}}, (), "policy.missing_identity", None),
        ("contract_version v2", {"contract_version": "v2"}, (), "bad_request.invalid_field", None),
        ("header not forwarded", {"operation.headers": {"Authorization": "Bearer x"}}, (), "bad_request.invalid_field", None),
        ("other tenant", {"graph.tenant_id": "33333333-3333-3333-3333-333333333333"}, (), "policy.denied", None),
        ("resource not allowed", {"graph.resource": "https://management.azure.com"}, (), "policy.denied", None),
        ("scope not allowed", {"graph.scopes": ["Mail.ReadWrite"]}, (), "policy.invalid_scope", None),
        ("one scope of two not allowed", {"graph.scopes": ["User.Read.All", "Mail.ReadWrite"]}, (), "policy.invalid_scope", None),
        ("POST with mutations off", {"operation.method": "POST", "operation.body": {"displayName": "x"}}, (),
         "policy.denied", "policy.rule.deny.mutation.disabled"),
        ("DELETE with mutations off", {"operation.method": "DELETE", "operation.path": "/v1.0/users/x"}, (),
         "policy.denied", "policy.rule.deny.mutation.disabled"),
        ("path with ..", {"operation.path": "/v1.0/../secrets"}, (), "policy.denied", "policy.rule.deny.path.unsafe"),
        ("absolute URL path", {"operation.path": "https://evil.example/v1.0/me"}, (), "policy.denied", "policy.rule.deny.path.unsafe"),
    )

    def test_refusals_have_stable_codes(self):
        broker = self.started()
        for n, (label, changes, removals, code, reason) in enumerate(self.REFUSALS):
            with self.subTest(case=label):
                request_id = "req-refusal-%d" % n
                args = execute_args(dict(changes, request_id=request_id), removals)
                self.assert_tool_error(broker.call_tool(EXECUTE_TOOL, args), code, request_id, reason)

    def test_refused_calls_mint_no_token(self):
        broker = self.started()
        for n, (label, changes, removals, _code, _reason) in enumerate(self.REFUSALS):
            args = execute_args(dict(changes, request_id="req-r%d" % n), removals)
            self.assertTrue(tool_result(broker.call_tool(EXECUTE_TOOL, args))["isError"], label)
        sc = tool_result(broker.call_tool(DESCRIBE_TOOL, {}))["structuredContent"]
        self.assertEqual(sc.get("cache", {}).get("state"), "empty", "a refused call reached the token cache: " + dump(sc))

    def test_mutation_allowed_when_enabled(self):
        broker = self.started(env_overrides={"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true"})
        args = execute_args({
            "request_id": "req-post",
            "operation.method": "POST",
            "operation.body": {"displayName": "Smoke Test", "mailNickname": "smoketest"},
        })
        sc = self.assert_ok(broker.call_tool(EXECUTE_TOOL, args), "req-post", http_status=201)
        self.assertEqual(sc["policy"].get("reason"), "policy.rule.allow.graph.mutation", dump(sc))


class DescribeTests(ToolAssertions):
    def test_describe_before_and_after_execute(self):
        broker = self.started()
        for arguments in ({}, {"resource": GRAPH}):
            with self.subTest(arguments=arguments, when="before"):
                cache = self.describe(broker, arguments)["cache"]
                self.assertEqual(cache.get("state"), "empty", dump(cache))
        executed = self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))
        for arguments in ({}, {"resource": GRAPH}):
            with self.subTest(arguments=arguments, when="after"):
                cache = self.describe(broker, arguments)["cache"]
                self.assertEqual(cache.get("state"), "valid", dump(cache))
                self.assertEqual(cache.get("token_type"), "Bearer", dump(cache))
                self.assertEqual(cache.get("expires_at"), executed["token"]["expires_at"], dump(cache))
                self.assert_future_utc(cache["expires_at"])

    def describe(self, broker, arguments):
        result = tool_result(broker.call_tool(DESCRIBE_TOOL, arguments))
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("status"), "ok", dump(sc))
        self.assertEqual(sc.get("tenant_id"), SMOKE_TENANT, dump(sc))
        self.assertEqual(sc.get("client_id"), SMOKE_CLIENT_ID, dump(sc))
        self.assertEqual(sc.get("resource"), GRAPH, dump(sc))
        self.assertIsInstance(sc.get("cache"), dict, dump(sc))
        return sc


class ConcurrencyTests(ToolAssertions):
    def test_fast_call_overtakes_slow_call(self):
        broker = self.started()
        slow = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow"})
        slow_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": slow})
        fast_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args({"request_id": "req-fast"})})
        first = broker.recv()
        self.assertEqual(first.get("id"), fast_id, "the slow call held up the fast one: " + dump(first))
        self.assert_ok(first, "req-fast")
        second = broker.recv()
        self.assertEqual(second.get("id"), slow_id, dump(second))
        self.assertEqual(self.assert_ok(second, "req-slow")["execution"]["body"], {"slow": True})


class ProcessModelTests(ToolAssertions):
    def setUp(self):
        # One full call first: both children are then past start-up and in
        # their loops, so what we see is their steady state.
        self.broker = self.started()
        self.assert_ok(self.broker.call_tool(EXECUTE_TOOL, execute_args()))
        self.kids = self.broker.wait_children()

    def test_exactly_two_children_named_secretd_and_tokend(self):
        self.assertEqual(sorted(self.broker.children()), ["secretd", "tokend"])
        self.assertEqual(harness.proc_comm(self.broker.pid), "brokerd")
        for name, pid in self.kids.items():
            self.assertEqual(harness.proc_comm(pid), name)

    def test_no_new_privs_everywhere(self):
        for name, pid in dict(self.kids, brokerd=self.broker.pid).items():
            with self.subTest(process=name):
                self.assertEqual(harness.proc_status_field(pid, "NoNewPrivs"), "1")

    def test_every_process_is_seccomp_filtered(self):
        # Only a --disable-seccomp build (valgrind runs) may lack filters,
        # and brokerd --version says so.
        status, out, _ = harness.run_once(self.broker.stage, args=["--version"])
        self.assertEqual(status, 0)
        expected = "2" if "seccomp: yes" in out else "0"
        for name, pid in dict(self.kids, brokerd=self.broker.pid).items():
            with self.subTest(process=name):
                self.assertEqual(harness.proc_status_field(pid, "Seccomp"), expected)

    def test_children_hold_only_stdio_and_their_channels(self):
        self.assertEqual(harness.open_fds(self.kids["secretd"]), [0, 1, 2, 3, 4])
        # tokend also holds what its own curl multi handle opened (its wakeup
        # socketpair, connections): sockets made after exec, never a file
        # and never a descriptor inherited from brokerd.
        pid = self.kids["tokend"]
        fds = harness.open_fds(pid)
        self.assertEqual(fds[:5], [0, 1, 2, 3, 4])
        broker_targets = set(
            os.readlink("/proc/%d/fd/%s" % (self.broker.pid, fd))
            for fd in os.listdir("/proc/%d/fd" % self.broker.pid))
        for fd in fds[5:]:
            target = os.readlink("/proc/%d/fd/%d" % (pid, fd))
            self.assertRegex(target, r"^(socket|anon_inode):")
            self.assertNotIn(target, broker_targets)


class OutputHygieneTests(ToolAssertions):
    def run_mixed_session(self, broker):
        """Touch every path that produces output, then end the session."""
        broker.send_raw(b"not json\n")
        broker.send({"jsonrpc": "2.0", "id": 1000, "method": "no/such"})
        broker.request("tools/list")
        self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))
        self.assert_ok(broker.call_tool(EXECUTE_TOOL, execute_args()))
        broker.call_tool(EXECUTE_TOOL, execute_args({"graph.scopes": ["Mail.ReadWrite"]}))
        broker.call_tool(EXECUTE_TOOL, execute_args({"operation.path": "/v1.0/nope"}))
        broker.call_tool(EXECUTE_TOOL, execute_args({"operation.method": "POST", "operation.body": {"a": 1}}))
        broker.call_tool(DESCRIBE_TOOL, {})
        broker.close_stdin()
        broker.read_to_eof()  # every remaining line is checked to be JSON-RPC
        self.assertEqual(broker.wait(), 0, broker.stderr_text())

    def test_stdout_carries_only_jsonrpc_lines(self):
        broker = self.started()
        self.run_mixed_session(broker)
        raw = broker.stdout_bytes()
        self.assertTrue(raw.endswith(b"\n"), "stdout does not end with a newline")
        for line in raw.split(b"\n")[:-1]:
            harness.parse_message(line)

    def test_no_secret_or_token_in_output_at_debug_level(self):
        broker = self.started(env_overrides={
            "MCP_AUTH_BROKER_LOG_LEVEL": "debug",
            "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
        })
        self.run_mixed_session(broker)
        broker.kill()  # stderr fully drained
        self.assertTrue(broker.stderr_bytes(), "debug logging wrote nothing to stderr")
        self.assertEqual(harness.find_secrets(broker.stdout_bytes()), [], "secret/token on stdout")
        self.assertEqual(harness.find_secrets(broker.stderr_bytes()), [], "secret/token on stderr")


class ShutdownTests(ToolAssertions):
    def test_eof_answers_call_in_flight_then_all_exit(self):
        broker = self.started()
        kids = broker.wait_children()
        slow = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow"})
        slow_id = broker.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": slow})
        broker.close_stdin()
        sc = self.assert_ok(broker.recv_response(slow_id), "req-slow")
        self.assertEqual(sc["execution"]["body"], {"slow": True})
        self.assertEqual(broker.read_to_eof(), [], "unexpected messages after the last answer")
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assert_all_gone(broker, kids)

    def test_eof_when_idle_exits_zero(self):
        broker = self.started()
        kids = broker.wait_children()
        broker.close_stdin()
        self.assertEqual(broker.read_to_eof(), [])
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assert_all_gone(broker, kids)

    def assert_all_gone(self, broker, kids):
        """brokerd and both children are gone: not running, not zombies."""
        pids = dict(kids, brokerd=broker.pid)
        harness.wait_until(lambda: not any(harness.pid_exists(p) for p in pids.values()), timeout=5)
        for name, pid in pids.items():
            self.assertFalse(harness.pid_exists(pid), "%s (pid %d) still exists: %r" % (name, pid, harness.proc_stat(pid)))


if __name__ == "__main__":
    harness.main()
