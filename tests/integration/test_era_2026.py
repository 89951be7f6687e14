# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""The 2026-07-28 protocol era beside the legacy one (a dual-era server).

server/discover; per-request _meta (io.modelcontextprotocol/protocolVersion
and io.modelcontextprotocol/clientCapabilities, required: -32602 without);
an unsupported version is -32022 with data {supported, requested}; results
carry resultType and _meta serverInfo; tools/list carries ttlMs and
cacheScope.  initialize-based clients are served as before, on stdio and on
the socket, even on a session that also sends 2026-07-28 requests.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (  # noqa: E402
    DESCRIBE_TOOL,
    EXECUTE_TOOL,
    SUPPORTED_VERSIONS,
    BrokerTestCase,
    SocketClient,
    execute_args,
    tool_result,
)

MODERN = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
INFO_KEY = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
UNSUPPORTED = -32022


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def meta(version=MODERN, caps=None, info=True, **extra):
    m = {VERSION_KEY: version, CAPS_KEY: {} if caps is None else caps}
    if info:
        m[INFO_KEY] = {"name": "era-tests", "version": "1.0"}
    m.update(extra)
    return m


def params(extra=None, **meta_args):
    p = {"_meta": meta(**meta_args)}
    p.update(extra or {})
    return p


class EraAssertions(BrokerTestCase):
    def assert_modern_result(self, resp):
        """A 2026-07-28 result: resultType complete, the server named in _meta."""
        self.assertIn("result", resp, dump(resp))
        result = resp["result"]
        self.assertEqual(result.get("resultType"), "complete", dump(result))
        info = result.get("_meta", {}).get(SERVER_INFO_KEY, {})
        self.assertEqual(info.get("name"), "mcp-auth-broker", dump(result))
        self.assertIsInstance(info.get("version"), str, dump(result))
        return result

    def assert_error(self, resp, code, req_id):
        self.assert_rpc_error(resp, code, req_id)
        return resp["error"]


class DiscoverTests(EraAssertions):
    def test_discover_without_initialize(self):
        broker = self.start_broker()
        result = self.assert_modern_result(broker.request("server/discover", params()))
        versions = result.get("supportedVersions")
        self.assertEqual(versions[0], MODERN, dump(result))
        self.assertEqual(sorted(versions), sorted((MODERN,) + SUPPORTED_VERSIONS), dump(result))
        self.assertEqual(result.get("capabilities"), {"tools": {"listChanged": False}}, dump(result))
        self.assertEqual(result.get("serverInfo", {}).get("name"), "mcp-auth-broker", dump(result))
        self.assertIsInstance(result.get("instructions"), str, dump(result))
        self.assertIsInstance(result.get("ttlMs"), int, dump(result))
        self.assertGreaterEqual(result["ttlMs"], 0, dump(result))
        self.assertIn(result.get("cacheScope"), ("public", "private"), dump(result))

    def test_discover_needs_the_per_request_fields(self):
        broker = self.start_broker()
        cases = (
            ("no params", None),
            ("no _meta", {}),
            ("_meta not an object", {"_meta": "2026-07-28"}),
            ("no protocolVersion", {"_meta": {CAPS_KEY: {}}}),
            ("no clientCapabilities", {"_meta": {VERSION_KEY: MODERN}}),
            ("protocolVersion not a string", {"_meta": {VERSION_KEY: 20260728, CAPS_KEY: {}}}),
            ("clientCapabilities not an object", {"_meta": {VERSION_KEY: MODERN, CAPS_KEY: []}}),
            ("clientInfo not an object", {"_meta": {VERSION_KEY: MODERN, CAPS_KEY: {}, INFO_KEY: "x"}}),
        )
        for label, p in cases:
            with self.subTest(case=label):
                req_id = broker.send_request("server/discover", p)
                self.assert_error(broker.recv_response(req_id), -32602, req_id)

    def test_client_info_is_optional(self):
        broker = self.start_broker()
        self.assert_modern_result(broker.request("server/discover", params(info=False)))

    def test_unsupported_version_names_what_is_supported(self):
        broker = self.start_broker()
        discovered = broker.request("server/discover", params())["result"]["supportedVersions"]
        for method, extra in (("server/discover", None), ("tools/list", None),
                              ("tools/call", {"name": EXECUTE_TOOL, "arguments": execute_args()})):
            with self.subTest(method=method):
                req_id = broker.send_request(method, params(extra, version="2099-01-01"))
                err = self.assert_error(broker.recv_response(req_id), UNSUPPORTED, req_id)
                self.assertEqual(err.get("data", {}).get("requested"), "2099-01-01", dump(err))
                self.assertEqual(err["data"].get("supported"), discovered, dump(err))
        # Nothing was called: the cache is still empty.
        cache = tool_result(broker.request("tools/call", params({"name": DESCRIBE_TOOL, "arguments": {}})))
        self.assertEqual(cache["structuredContent"]["cache"]["state"], "empty")


class ModernToolsTests(EraAssertions):
    def test_tools_list_is_cacheable(self):
        broker = self.start_broker()
        result = self.assert_modern_result(broker.request("tools/list", params()))
        self.assertIsInstance(result.get("ttlMs"), int, dump(result))
        self.assertGreaterEqual(result["ttlMs"], 0)
        self.assertIn(result.get("cacheScope"), ("public", "private"), dump(result))
        names = [t["name"] for t in result["tools"]]
        self.assertEqual(names, [EXECUTE_TOOL, DESCRIBE_TOOL])
        for tool in result["tools"]:
            self.assertEqual(tool.get("outputSchema", {}).get("type"), "object", dump(tool))
            self.assertIn("annotations", tool, dump(tool))

    def test_tools_call_without_initialize(self):
        broker = self.start_broker()
        resp = broker.request("tools/call", params({"name": EXECUTE_TOOL, "arguments": execute_args()}))
        self.assert_modern_result(resp)
        result = tool_result(resp)
        self.assertIs(result["isError"], False, dump(result))
        sc = result["structuredContent"]
        self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
        self.assertEqual(sc["token"]["source"], "minted", dump(sc))

    def test_tool_failure_is_a_modern_result_too(self):
        broker = self.start_broker()
        args = execute_args({"graph.scopes": ["Mail.ReadWrite"]})
        resp = broker.request("tools/call", params({"name": EXECUTE_TOOL, "arguments": args}))
        self.assert_modern_result(resp)
        sc = tool_result(resp)["structuredContent"]
        self.assertEqual(sc["error"]["code"], "policy.invalid_scope", dump(sc))

    def test_tools_call_needs_the_per_request_fields(self):
        broker = self.start_broker()
        call = {"name": EXECUTE_TOOL, "arguments": execute_args()}
        for label, m in (("no capabilities", {VERSION_KEY: MODERN}), ("no version", {CAPS_KEY: {}})):
            with self.subTest(case=label):
                req_id = broker.send_request("tools/call", dict(call, _meta=m))
                self.assert_error(broker.recv_response(req_id), -32602, req_id)

    def test_ping_and_unknown_methods_are_not_found(self):
        broker = self.start_broker()
        for method in ("ping", "resources/list", "logging/setLevel"):
            with self.subTest(method=method):
                req_id = broker.send_request(method, params())
                self.assert_error(broker.recv_response(req_id), -32601, req_id)

    def test_progress_token_in_the_modern_era(self):
        broker = self.start_broker()
        args = execute_args({"operation.path": "/beta/smoke/throttled"})
        req_id = broker.send_request("tools/call", params({"name": EXECUTE_TOOL, "arguments": args},
                                                          progressToken=7))
        first = broker.recv(timeout=10)
        self.assertEqual(first.get("method"), "notifications/progress", dump(first))
        self.assertEqual(first["params"]["progressToken"], 7, dump(first))
        self.assert_modern_result(broker.recv_response(req_id, timeout=10))

    def test_cancellation_in_the_modern_era(self):
        broker = self.start_broker()
        args = execute_args({"operation.path": harness.SLOW_PATH})
        broker.send_request("tools/call", params({"name": EXECUTE_TOOL, "arguments": args}), req_id="m-slow")
        broker.notify("notifications/cancelled", {"requestId": "m-slow"})
        msgs = harness.messages_within(broker, 2.5)
        self.assertEqual(msgs, [], dump(msgs))


class DualEraTests(EraAssertions):
    def test_legacy_session_unchanged_beside_modern_requests(self):
        broker = self.start_broker()
        # A legacy tools/list before initialize is still refused ...
        req_id = broker.send_request("tools/list")
        self.assert_error(broker.recv_response(req_id), -32600, req_id)
        # ... while a 2026-07-28 one on the same session is served.
        self.assert_modern_result(broker.request("tools/list", params()))
        result = harness.initialize(broker, "2025-03-26")
        self.assertEqual(result["protocolVersion"], "2025-03-26")
        self.assertNotIn("resultType", result)
        legacy = broker.request("tools/list")["result"]
        self.assertNotIn("ttlMs", legacy)
        self.assertNotIn("resultType", legacy)
        self.assertNotIn("_meta", legacy)
        for tool in legacy["tools"]:
            self.assertNotIn("outputSchema", tool)
        # Modern requests keep their own version after initialize.
        modern = self.assert_modern_result(broker.request("tools/list", params()))
        self.assertIn("outputSchema", modern["tools"][0])
        legacy_call = broker.call_tool(EXECUTE_TOOL, execute_args())["result"]
        self.assertNotIn("structuredContent", legacy_call)
        self.assertNotIn("resultType", legacy_call)

    def test_initialize_for_2026_gets_a_legacy_version(self):
        """initialize always selects the legacy era: a 2026-07-28 client that
        sends it gets the newest initialize-based version."""
        broker = self.start_broker()
        result = harness.initialize(broker, MODERN)
        self.assertEqual(result["protocolVersion"], SUPPORTED_VERSIONS[-1])

    def test_legacy_version_in_meta_follows_the_session(self):
        broker = self.start_broker()
        req_id = broker.send_request("tools/list", params(version="2025-06-18"))
        self.assert_error(broker.recv_response(req_id), -32600, req_id)
        harness.initialize(broker, "2025-06-18")
        result = broker.request("tools/list", params(version="2025-06-18"))["result"]
        self.assertNotIn("resultType", result)

    def test_both_eras_on_the_socket(self):
        broker, path = self.listening_broker()
        modern, legacy = SocketClient(path), SocketClient(path)
        self.addCleanup(modern.close)
        self.addCleanup(legacy.close)
        self.assert_modern_result(modern.request("server/discover", params()))
        resp = modern.request("tools/call", params({"name": EXECUTE_TOOL, "arguments": execute_args()}))
        self.assert_modern_result(resp)
        self.assertEqual(tool_result(resp)["structuredContent"]["token"]["source"], "minted")
        self.assertEqual(harness.initialize(legacy, "2025-11-25")["protocolVersion"], "2025-11-25")
        legacy_resp = legacy.call_tool(EXECUTE_TOOL, execute_args())
        self.assertNotIn("resultType", legacy_resp["result"])
        self.assertEqual(tool_result(legacy_resp)["structuredContent"]["token"]["source"], "cache")


if __name__ == "__main__":
    harness.main()
