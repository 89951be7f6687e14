# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Hostile MCP input: a table of malformed and adversarial lines.

Each entry is one thing an untrusted MCP client can send -- broken JSON,
wrong types, numbers no id can be, nesting past the limit, bytes that are
not UTF-8, NUL bytes, duplicate keys, lines of many MiB, path traversal and
absolute URLs, header injection, Unicode look-alikes, bodies of several MiB,
batches, responses and unknown notifications -- with the exact answer an MCP
client must get: the JSON-RPC error code (and id), the tool error code (and
policy reason), or no answer at all.

The table runs three ways:
  * each entry in a session of its own (stdio), followed by a normal call and
    a clean end of input: no entry leaves brokerd unable to serve;
  * every entry in one session, then a normal call: nothing accumulates;
  * every entry over the unix socket (--listen) while another session has a
    call in flight: that session is answered exactly as if nothing happened.

Python 3.9+, standard library only.  Nothing leaves the machine: smoke mode.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (  # noqa: E402
    DESCRIBE_TOOL,
    EXECUTE_TOOL,
    GRAPH,
    SLOW_PATH,
    SMOKE_TENANT,
    BrokerTestCase,
    SocketClient,
    execute_args,
    tool_result,
)

MIB = 1024 * 1024
# Lines up to this long are accepted; the table sends lines over it and
# bodies of several MiB within it.
MAX_MESSAGE = 8 * MIB
ENV = {"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": str(MAX_MESSAGE)}
REQUEST_ID = "req-hostile"
PARSE, INVALID, NO_METHOD, PARAMS = -32700, -32600, -32601, -32602
# Answers to the cases come within this; a big line takes longer on a
# sanitizer build, never this long.
CASE_TIMEOUT = 30.0


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)[:4000]


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---- how a case's line is made -----------------------------------------------


def raw(data):
    """A fixed line (no newline: the runner adds it)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    return lambda case_id: data


def rpc(method, params=None, **extra):
    """A request with the case's id, as an MCP client would write it."""
    def make(case_id):
        msg = {"jsonrpc": "2.0", "id": case_id, "method": method}
        if params is not None:
            msg["params"] = params
        msg.update(extra)
        return compact(msg).encode("utf-8")
    return make


VALID = object()  # call(): the valid execute arguments, with the edits given


def call(changes=None, remove=(), tool=EXECUTE_TOOL, arguments=VALID, replace=None):
    """tools/call of the execute tool with edited arguments (or of `tool`
    with `arguments` as given, None included).  replace: (placeholder, text
    or bytes) pairs substituted in the serialised line, for what json.dumps
    cannot write (duplicate keys, raw bytes, escapes, numbers like 1e400)."""
    def make(case_id):
        if arguments is VALID:
            args = execute_args(dict({"request_id": REQUEST_ID}, **(changes or {})), remove)
        else:
            args = arguments
        line = compact({"jsonrpc": "2.0", "id": case_id, "method": "tools/call",
                        "params": {"name": tool, "arguments": args}}).encode("utf-8")
        for placeholder, value in replace or ():
            placeholder = placeholder.encode("utf-8")
            assert placeholder in line, (placeholder, line[:200])
            line = line.replace(placeholder, value if isinstance(value, bytes) else value.encode("utf-8"))
        return line
    return make


def nested_ping(depth):
    """A ping (id "deep") whose whole message nests exactly `depth` levels:
    the message, params, then arrays."""
    arrays = depth - 2
    return raw('{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":%s}}' % ("[" * arrays + "]" * arrays))


def nested_objects(depth):
    return raw('{"a":' * depth + "1" + "}" * depth)


def padded_ping(req_id, size):
    """A ping line of exactly size bytes."""
    head = '{"jsonrpc":"2.0","id":%s,"method":"ping","params":{"pad":"' % json.dumps(req_id)
    tail = '"}}'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()


def big_body(size):
    return {"blob": "x" * size}


# ---- what a case must get ------------------------------------------------------

SAME = object()  # "the id this case was sent with"
GENERATED = object()  # "a request id brokerd made up": the call gave none it could use


class Expect:
    waits_for_answer = False

    def check(self, test, msgs, case_id):
        raise NotImplementedError


class RpcError(Expect):
    """Exactly one JSON-RPC error with this code and id (None: null)."""

    def __init__(self, code, req_id=None, codes=None, detail=None):
        self.codes = codes or (code,)
        self.req_id = req_id
        self.detail = detail

    def check(self, test, msgs, case_id):
        want_id = case_id if self.req_id is SAME else self.req_id
        test.assertEqual(len(msgs), 1, "expected one JSON-RPC error, got %s" % dump(msgs))
        resp = msgs[0]
        test.assertNotIn("result", resp, dump(resp))
        test.assertIn(resp.get("error", {}).get("code"), self.codes, dump(resp))
        test.assertIsInstance(resp["error"].get("message"), str, dump(resp))
        test.assertIn("id", resp, dump(resp))
        test.assertEqual(resp["id"], want_id, dump(resp))
        test.assertIs(type(resp["id"]), type(want_id), dump(resp))
        if self.detail is not None:
            test.assertIn(self.detail, json.dumps(resp["error"].get("data")), dump(resp))


class NoAnswer(Expect):
    def check(self, test, msgs, case_id):
        test.assertEqual(msgs, [], "expected no answer, got %s" % dump(msgs))


class Result(Expect):
    """Exactly one successful answer with this id (SAME: the case's)."""

    def __init__(self, req_id=SAME, result=None):
        self.req_id = req_id
        self.result = result

    def check(self, test, msgs, case_id):
        want_id = case_id if self.req_id is SAME else self.req_id
        test.assertEqual(len(msgs), 1, "expected one result, got %s" % dump(msgs))
        resp = msgs[0]
        test.assertIn("result", resp, dump(resp))
        test.assertEqual(resp.get("id"), want_id, dump(resp))
        test.assertIs(type(resp.get("id")), type(want_id), dump(resp))
        if self.result is not None:
            test.assertEqual(resp["result"], self.result, dump(resp))


class ToolError(Expect):
    """Exactly one tool result with isError and this error code (and policy
    reason); no token, no execution."""

    waits_for_answer = True

    def __init__(self, code, reason=None, request_id=REQUEST_ID):
        self.code, self.reason, self.request_id = code, reason, request_id

    def check(self, test, msgs, case_id):
        test.assertEqual(len(msgs), 1, "expected one tool result, got %s" % dump(msgs))
        resp = msgs[0]
        test.assertEqual(resp.get("id"), case_id, dump(resp))
        result = tool_result(resp)
        sc = result["structuredContent"]
        test.assertIs(result["isError"], True, dump(result))
        test.assertEqual(sc.get("status"), "error", dump(sc))
        if self.request_id is GENERATED:
            test.assertRegex(sc.get("request_id", ""), r"^req-[0-9a-f]{16}$", dump(sc))
        else:
            test.assertEqual(sc.get("request_id"), self.request_id, dump(sc))
        err = sc.get("error", {})
        test.assertEqual(err.get("code"), self.code, dump(sc))
        test.assertEqual(err.get("category"), self.code.split(".")[0], dump(sc))
        test.assertIs(err.get("retryable"), False, dump(sc))
        if self.code.startswith("policy.") and self.code != "policy.missing_identity":
            test.assertEqual(sc.get("policy", {}).get("decision"), "deny", dump(sc))
        if self.reason is not None:
            test.assertEqual(sc.get("policy", {}).get("reason"), self.reason, dump(sc))
        test.assertNotIn("token", sc, dump(sc))
        test.assertNotIn("execution", sc, dump(sc))


class ToolOk(Expect):
    """A successful execute (or describe) result."""

    waits_for_answer = True

    def __init__(self, http_status=200, describe=False):
        self.http_status, self.describe = http_status, describe

    def check(self, test, msgs, case_id):
        test.assertEqual(len(msgs), 1, "expected one tool result, got %s" % dump(msgs))
        resp = msgs[0]
        test.assertEqual(resp.get("id"), case_id, dump(resp))
        result = tool_result(resp)
        sc = result["structuredContent"]
        test.assertIs(result["isError"], False, dump(result))
        test.assertEqual(sc.get("status"), "ok", dump(sc))
        if self.describe:
            test.assertEqual(sc.get("resource"), GRAPH, dump(sc))
            test.assertIsInstance(sc.get("cache"), dict, dump(sc))
        else:
            test.assertEqual(sc["execution"]["http_status"], self.http_status, dump(sc))


def unsafe_path(path):
    return (call({"operation.path": path}),
            ToolError("policy.denied", "policy.rule.deny.path.unsafe"))


def bad_header(headers):
    return (call({"operation.headers": headers}),
            ToolError("policy.denied", "policy.rule.deny.header.invalid"))


def refused_header(headers):
    """A name outside the forwarded list: the contract refuses it."""
    return (call({"operation.headers": headers}), ToolError("bad_request.invalid_field"))


def slow_send_over_limit(conn, case_id, line):
    """Writes a line longer than the limit in pieces, over about a second,
    without its newline; the refusal must come while the line is still open.
    Returns what arrived before the newline was sent."""
    piece = MIB
    sent = 0
    while sent < len(line):
        conn.send_raw(line[sent:sent + piece])
        sent += piece
        time.sleep(0.08)
    first = conn.recv(timeout=CASE_TIMEOUT)
    conn.send_raw(b"\n")
    return [first]


# label -> (how the line is made, what the client must get[, how it is sent])
CASES = [
    # -- broken JSON ------------------------------------------------------------
    ("broken: not JSON", raw("{not json"), RpcError(PARSE)),
    ("broken: object cut short", raw('{"jsonrpc":"2.0","id":1,"method":"ping"'), RpcError(PARSE)),
    ("broken: trailing comma", raw('{"jsonrpc":"2.0","id":1,"method":"ping",}'), RpcError(PARSE)),
    ("broken: single quotes", raw("{'jsonrpc':'2.0','id':1,'method':'ping'}"), RpcError(PARSE)),
    ("broken: comment", raw('/* hi */{"jsonrpc":"2.0","id":1,"method":"ping"}'), RpcError(PARSE)),
    ("broken: two messages on one line",
     raw('{"jsonrpc":"2.0","id":1,"method":"ping"} {"jsonrpc":"2.0","id":2,"method":"ping"}'), RpcError(PARSE)),
    ("broken: leading zero", raw('{"jsonrpc":"2.0","id":01,"method":"ping"}'), RpcError(PARSE)),
    ("broken: white space only", raw("   \t "), RpcError(PARSE)),
    ("broken: unterminated string", raw('{"jsonrpc":"2.0","id":"abc,"method":"ping"}'), RpcError(PARSE)),
    ("broken: bad escape", raw('{"jsonrpc":"2.0","id":"a\\qb","method":"ping"}'), RpcError(PARSE)),
    # -- wrong types --------------------------------------------------------------
    ("type: message is a number", raw("42"), RpcError(INVALID)),
    ("type: message is a string", raw('"ping"'), RpcError(INVALID)),
    ("type: message is null", raw("null"), RpcError(INVALID)),
    ("type: message is false", raw("false"), RpcError(INVALID)),
    ("broken: null then data", raw("null {}"), RpcError(PARSE)),
    ("type: jsonrpc is a number", raw('{"jsonrpc":2.0,"id":"t1","method":"ping"}'), RpcError(INVALID, "t1")),
    ("type: jsonrpc 1.0", raw('{"jsonrpc":"1.0","id":"t2","method":"ping"}'), RpcError(INVALID, "t2")),
    ("type: method is a number", raw('{"jsonrpc":"2.0","id":"t3","method":7}'), RpcError(INVALID, "t3")),
    ("type: no method", raw('{"jsonrpc":"2.0","id":"t4"}'), RpcError(INVALID, "t4")),
    ("type: id true", raw('{"jsonrpc":"2.0","id":true,"method":"ping"}'), RpcError(INVALID)),
    ("type: id object", raw('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'), RpcError(INVALID)),
    ("type: id array", raw('{"jsonrpc":"2.0","id":[1],"method":"ping"}'), RpcError(INVALID)),
    ("type: params as array", rpc("tools/list", [1, 2]), RpcError(PARAMS, SAME)),
    ("type: params as string", rpc("ping", "x"), RpcError(PARAMS, SAME)),
    ("type: _meta as array", rpc("tools/list", {"_meta": []}), RpcError(PARAMS, SAME)),
    ("type: initialize version a number", rpc("initialize", {"protocolVersion": 20250618}), RpcError(PARAMS, SAME)),
    ("type: timeout_ms true", call({"timeout_ms": True}), ToolError("bad_request.invalid_timeout")),
    ("type: scopes a string", call({"graph.scopes": "User.Read.All"}), ToolError("bad_request.invalid_field")),
    ("type: headers an array", call({"operation.headers": ["accept"]}), ToolError("bad_request.invalid_field")),
    ("type: path a number", call({"operation.path": 5}), ToolError("bad_request.invalid_field")),
    ("type: request_id a number", call({"request_id": 5}), ToolError("bad_request.invalid_field", request_id=GENERATED)),
    ("type: requester a string", call({"requester": "agent-7"}), ToolError("policy.missing_identity")),
    # -- numbers no id (or timeout) can be ----------------------------------------
    ("number: id 1e400", raw('{"jsonrpc":"2.0","id":1e400,"method":"ping"}'), RpcError(INVALID)),
    ("number: id 99999999999999999999", raw('{"jsonrpc":"2.0","id":99999999999999999999,"method":"ping"}'),
     RpcError(INVALID)),
    ("number: id -99999999999999999999", raw('{"jsonrpc":"2.0","id":-99999999999999999999,"method":"ping"}'),
     RpcError(INVALID)),
    ("number: id 1.5", raw('{"jsonrpc":"2.0","id":1.5,"method":"ping"}'), RpcError(INVALID)),
    ("number: id 1.0", raw('{"jsonrpc":"2.0","id":1.0,"method":"ping"}'), RpcError(INVALID)),
    # -0 is the integer 0 to every JSON reader: answered with id 0.
    ("number: id -0", raw('{"jsonrpc":"2.0","id":-0,"method":"ping"}'), Result(0, {})),
    # json-c reads NaN although JSON has no such literal; either way: no id.
    ("number: id NaN", raw('{"jsonrpc":"2.0","id":NaN,"method":"ping"}'), RpcError(INVALID, codes=(PARSE, INVALID))),
    ("number: largest exact id", raw('{"jsonrpc":"2.0","id":18446744073709551614,"method":"ping"}'),
     Result(18446744073709551614, {})),
    ("number: timeout_ms 1e400", call(replace=[('"timeout_ms":5000', '"timeout_ms":1e400')]),
     ToolError("bad_request.invalid_timeout")),
    ("number: timeout_ms 99999999999999999999", call(replace=[('"timeout_ms":5000', '"timeout_ms":99999999999999999999')]),
     ToolError("bad_request.invalid_timeout")),
    ("number: timeout_ms -0", call(replace=[('"timeout_ms":5000', '"timeout_ms":-0')]),
     ToolError("bad_request.invalid_timeout")),
    ("number: timeout_ms 1000.0", call(replace=[('"timeout_ms":5000', '"timeout_ms":1000.0')]),
     ToolError("bad_request.invalid_timeout")),
    # -- nesting -------------------------------------------------------------------
    ("nesting: depth 32 (the limit)", nested_ping(32), Result("deep", {})),
    ("nesting: depth 33", nested_ping(33), RpcError(PARSE)),
    ("nesting: depth 10000 arrays", raw("[" * 10000 + "]" * 10000), RpcError(PARSE)),
    ("nesting: depth 10000 objects", nested_objects(10000), RpcError(PARSE)),
    ("nesting: depth 33 inside the body",
     call({"operation.method": "POST"}, replace=[('"method":"POST"', '"method":"POST","body":' + "[" * 29 + "]" * 29)]),
     RpcError(PARSE)),
    # -- bytes that are not UTF-8, and escapes that are not characters --------------
    ("utf8: byte 0xff", raw(b'{"jsonrpc":"2.0","id":"\xff","method":"ping"}'), RpcError(PARSE)),
    ("utf8: lone continuation byte", raw(b'{"jsonrpc":"2.0","id":"\x80","method":"ping"}'), RpcError(PARSE)),
    ("utf8: sequence cut short", raw(b'{"jsonrpc":"2.0","id":"\xe2\x82","method":"ping"}'), RpcError(PARSE)),
    ("utf8: overlong slash (2 bytes)", raw(b'{"jsonrpc":"2.0","id":"\xc0\xaf","method":"ping"}'), RpcError(PARSE)),
    ("utf8: overlong slash (3 bytes)", raw(b'{"jsonrpc":"2.0","id":"\xe0\x80\xaf","method":"ping"}'), RpcError(PARSE)),
    ("utf8: overlong dots in path",
     call({"operation.path": "/v1.0/users/__DOTS__/me"}, replace=[("__DOTS__", b"\xc0\xae\xc0\xae")]), RpcError(PARSE)),
    ("utf8: encoded surrogate", raw(b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"ping"}'), RpcError(PARSE)),
    ("utf8: past U+10FFFF", raw(b'{"jsonrpc":"2.0","id":"\xf4\x90\x80\x80","method":"ping"}'), RpcError(PARSE)),
    ("escape: lone high surrogate id", raw('{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}'), RpcError(PARSE)),
    ("escape: lone low surrogate", raw('{"jsonrpc":"2.0","id":"x\\udc00","method":"ping"}'), RpcError(PARSE)),
    ("escape: high surrogate then a letter", raw('{"jsonrpc":"2.0","id":"\\ud800\\u0041","method":"ping"}'),
     RpcError(PARSE)),
    ("escape: lone surrogate in path",
     call({"operation.path": "/v1.0/users/__S__"}, replace=[("__S__", "\\ud800")]), RpcError(PARSE)),
    # A pair is a character: echoed exactly.
    ("escape: surrogate pair id", raw('{"jsonrpc":"2.0","id":"\\ud83d\\ude00","method":"ping"}'),
     Result("\U0001F600", {})),
    # -- NUL -----------------------------------------------------------------------------
    ("nul: raw NUL after the message", raw(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\x00'), RpcError(PARSE)),
    ("nul: raw NUL in a string", raw(b'{"jsonrpc":"2.0","id":"a\x00b","method":"ping"}'), RpcError(PARSE)),
    ("nul: \\u0000 in method", raw('{"jsonrpc":"2.0","id":"n1","method":"ping\\u0000x"}'), RpcError(NO_METHOD, "n1")),
    ("nul: \\u0000 in tool name", call(tool=DESCRIBE_TOOL + "\x00x", arguments={}), RpcError(PARAMS, SAME)),
    ("nul: \\u0000 in id (echoed exactly)", raw('{"jsonrpc":"2.0","id":"a\\u0000b","method":"ping"}'),
     Result("a\x00b", {})),
    ("nul: \\u0000 in path", call({"operation.path": "/v1.0/users\x00/../../x"}), ToolError("bad_request.invalid_field")),
    ("nul: \\u0000 in header value", call({"operation.headers": {"prefer": "a\x00b"}}),
     ToolError("bad_request.invalid_field")),
    ("nul: \\u0000 in tenant", call({"graph.tenant_id": SMOKE_TENANT + "\x00x"}), ToolError("bad_request.invalid_field")),
    ("nul: \\u0000 in contract_version", call({"contract_version": "v1\x00x"}), ToolError("bad_request.invalid_field")),
    ("nul: \\u0000 in describe resource", call(tool=DESCRIBE_TOOL, arguments={"resource": GRAPH + "\x00.evil"}),
     ToolError("bad_request.invalid_field", request_id=GENERATED)),
    # -- null and duplicate ids, duplicate keys: the last one counts, for brokerd as
    #    for the client's own JSON reader, and policy judges what is sent on -----------
    ("dup: null id", raw('{"jsonrpc":"2.0","id":null,"method":"ping"}'), RpcError(INVALID)),
    ("dup: id twice", raw('{"jsonrpc":"2.0","id":"first","id":"second","method":"ping"}'), Result("second", {})),
    ("dup: path unsafe last",
     call({"operation.path": "__P__"}, replace=[('"path":"__P__"', '"path":"/v1.0/users","path":"/v1.0/../me"')]),
     ToolError("policy.denied", "policy.rule.deny.path.unsafe")),
    ("dup: method DELETE last",
     call({"operation.method": "__M__"}, replace=[('"method":"__M__"', '"method":"GET","method":"DELETE"')]),
     ToolError("policy.denied", "policy.rule.deny.mutation.disabled")),
    ("dup: tenant foreign last",
     call({"graph.tenant_id": "__T__"},
          replace=[('"tenant_id":"__T__"', '"tenant_id":"%s","tenant_id":"33333333-3333-3333-3333-333333333333"'
                    % SMOKE_TENANT)]),
     ToolError("policy.denied", "policy.rule.deny.tenant.mismatch")),
    ("dup: path safe last",
     call({"operation.path": "__P__"}, replace=[('"path":"__P__"', '"path":"/v1.0/../me","path":"/v1.0/users"')]),
     ToolOk()),
    ("dup: header names differing in case", call({"operation.headers": {"Accept": "a/b", "accept": "c/d"}}),
     ToolError("bad_request.invalid_field")),
    # -- lines of many MiB -------------------------------------------------------------
    ("size: line over the limit", lambda cid: padded_ping("big", MAX_MESSAGE + 4 * MIB),
     RpcError(INVALID, detail="MAX_MESSAGE_BYTES")),
    ("size: line over the limit, no newline for a while", lambda cid: padded_ping("slow-big", MAX_MESSAGE + 2 * MIB),
     RpcError(INVALID, detail="MAX_MESSAGE_BYTES"), slow_send_over_limit),
    ("size: line exactly at the limit", lambda cid: padded_ping("at-limit", MAX_MESSAGE), Result("at-limit", {})),
    ("size: body of 6 MiB, mutations off", call({"operation.method": "POST", "operation.body": big_body(6 * MIB)}),
     ToolError("policy.denied", "policy.rule.deny.mutation.disabled")),
    ("size: body of 6 MiB on GET", call({"operation.body": big_body(6 * MIB)}), ToolError("bad_request.invalid_field")),
    ("size: path of 2049 bytes", call({"operation.path": "/v1.0/" + "u" * 2043}), ToolError("bad_request.invalid_field")),
    ("size: 33 scopes", call({"graph.scopes": ["User.Read.All"] * 33}), ToolError("bad_request.invalid_field")),
    ("size: 33 headers", call({"operation.headers": {"x-h%d" % i: "v" for i in range(33)}}),
     ToolError("bad_request.invalid_field")),
    ("size: requester_id of 129", call({"requester.requester_id": "a" * 129}), ToolError("bad_request.invalid_field")),
    # -- path traversal and absolute URLs in operation.path -------------------------------
    ("path: ..",) + unsafe_path("/v1.0/users/../../me"),
    ("path: %2e%2e",) + unsafe_path("/v1.0/users/%2e%2e/me"),
    ("path: %2E%2E",) + unsafe_path("/v1.0/users/%2E%2E/me"),
    ("path: %252e%252e",) + unsafe_path("/v1.0/users/%252e%252e/me"),
    ("path: %2f",) + unsafe_path("/v1.0/users%2f..%2fme"),
    ("path: backslash",) + unsafe_path("/v1.0/users\\..\\me"),
    ("path: //host",) + unsafe_path("//evil.example/v1.0/me"),
    ("path: //evil.example/x",) + unsafe_path("//evil.example/x"),
    ("path: https://evil.example/v1.0/me",) + unsafe_path("https://evil.example/v1.0/me"),
    ("path: scheme after the version",) + unsafe_path("/v1.0/https://evil.example/x"),
    ("path: host after the version",) + unsafe_path("/v1.0//evil.example/x"),
    ("path: . segment",) + unsafe_path("/v1.0/./users"),
    ("path: CR LF",) + unsafe_path("/v1.0/users\r\nHost: evil.example"),
    ("path: CR LF in the query",) + unsafe_path("/v1.0/users?$top=1\r\nHost: evil.example"),
    ("path: fragment",) + unsafe_path("/v1.0/users#/../me"),
    ("path: outside /v1.0/ and /beta/",) + unsafe_path("/v2.0/users"),
    # -- header injection ----------------------------------------------------------------
    ("header: CR LF in name",) + refused_header({"accept\r\nauthorization": "Bearer stolen"}),
    ("header: CR LF in value",) + bad_header({"accept": "application/json\r\nAuthorization: Bearer stolen"}),
    ("header: LF in value",) + bad_header({"prefer": "a\nb"}),
    ("header: colon in name",) + refused_header({"accept: x": "y"}),
    ("header: Cyrillic a in name",) + refused_header({"\u0430ccept": "application/json"}),
    # -- Unicode look-alikes -------------------------------------------------------------
    ("lookalike: fullwidth solidus",) + unsafe_path("/v1.0/users\uff0f..\uff0fme"),
    ("lookalike: one-dot leader",) + unsafe_path("/v1.0/users/\u2024\u2024/me"),
    ("lookalike: Cyrillic e in path",) + unsafe_path("/v1.0/us\u0435rs"),
    ("lookalike: Cyrillic s in tenant", call({"graph.tenant_id": SMOKE_TENANT[:-1] + "\u0441"}),
     ToolError("policy.denied", "policy.rule.deny.tenant.mismatch")),
    ("lookalike: Cyrillic a in resource", call({"graph.resource": "https://gr\u0430ph.microsoft.com"}),
     ToolError("policy.denied", "policy.rule.deny.resource.not_allowed")),
    ("lookalike: Cyrillic e in scope", call({"graph.scopes": ["Us\u0435r.Read.All"]}),
     ToolError("policy.invalid_scope", "policy.rule.deny.scope.not_permitted")),
    ("lookalike: fullwidth method", call({"operation.method": "\uff27\uff25\uff34"}), ToolError("bad_request.invalid_field")),
    # -- batches, responses, notifications ----------------------------------------------
    ("batch: one request", raw('[{"jsonrpc":"2.0","id":1,"method":"ping"}]'), RpcError(INVALID)),
    ("batch: notifications only", raw('[{"jsonrpc":"2.0","method":"notifications/initialized"}]'), RpcError(INVALID)),
    ("batch: empty", raw("[]"), RpcError(INVALID)),
    ("response: result", raw('{"jsonrpc":"2.0","id":1,"result":{}}'), NoAnswer()),
    ("response: error", raw('{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"no"}}'), NoAnswer()),
    ("response: error with null id", raw('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"no"}}'),
     NoAnswer()),
    ("response: without id", raw('{"jsonrpc":"2.0","result":{}}'), RpcError(INVALID)),
    ("notification: unknown method", raw('{"jsonrpc":"2.0","method":"notifications/no-such-thing"}'), NoAnswer()),
    ("notification: tools/call without id",
     raw(compact({"jsonrpc": "2.0", "method": "tools/call",
                  "params": {"name": EXECUTE_TOOL, "arguments": execute_args()}})), NoAnswer()),
    ("notification: cancel with an object id", raw('{"jsonrpc":"2.0","method":"notifications/cancelled",'
                                                   '"params":{"requestId":{"a":1}}}'), NoAnswer()),
    ("notification: params an array", raw('{"jsonrpc":"2.0","method":"notifications/cancelled","params":[1]}'),
     NoAnswer()),
    ("request: unknown method", rpc("no/such/method", {}), RpcError(NO_METHOD, SAME)),
    ("request: initialize again", rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}),
     RpcError(INVALID, SAME)),
    ("request: unsupported 2026 version", rpc("tools/list", {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}), RpcError(-32022, SAME)),
    # -- tools/call params ---------------------------------------------------------------
    ("call: arguments null (execute)", call(arguments=None),
     ToolError("bad_request.invalid_field", request_id=GENERATED)),
    ("call: arguments null (describe)", call(tool=DESCRIBE_TOOL, arguments=None), ToolOk(describe=True)),
    ("call: arguments a string", call(arguments="x"), RpcError(PARAMS, SAME)),
    ("call: name null", rpc("tools/call", {"name": None, "arguments": {}}), RpcError(PARAMS, SAME)),
    ("call: unknown tool", call(tool="auth.graph.token.mint.v1", arguments={}), RpcError(PARAMS, SAME)),
    ("call: request_id with a control character", call({"request_id": "req\x07"}),
     ToolError("bad_request.invalid_field", request_id=GENERATED)),
    ("call: requester_id with a newline", call({"requester.requester_id": "agent\nadmin"}),
     ToolError("bad_request.invalid_field")),
    ("call: empty scopes", call({"graph.scopes": []}), ToolError("bad_request.invalid_field")),
]


def case_parts(case):
    label, make, expect = case[:3]
    send = case[3] if len(case) > 3 else None
    return label, make, expect, send


# ---- running the table -----------------------------------------------------------


class TableRunner:
    """Sends cases on one connection (a Broker or a SocketClient) and checks
    each answer."""

    def __init__(self, test, conn, tag):
        self.test, self.conn, self.tag = test, conn, tag
        self.n = 0

    def run(self, case):
        label, make, expect, send = case_parts(case)
        self.n += 1
        case_id = "%s-case-%d" % (self.tag, self.n)
        sentinel = "%s-sentinel-%d" % (self.tag, self.n)
        line = make(case_id)
        early = []
        if send is not None:
            early = send(self.conn, case_id, line)
        else:
            self.conn.send_raw(line + b"\n")
        self.conn.send_raw(compact({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}).encode() + b"\n")
        msgs = early + self.collect(sentinel, case_id if expect.waits_for_answer else None)
        expect.check(self.test, msgs, case_id)

    def collect(self, sentinel, await_id):
        """Messages up to the sentinel's answer (and the awaited id's: a call
        that reaches tokend is answered after the sentinel ping)."""
        deadline = time.monotonic() + CASE_TIMEOUT
        msgs, seen_sentinel = [], False
        while not seen_sentinel or (await_id is not None and not any(m.get("id") == await_id for m in msgs)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise harness.HarnessError("no answer before the deadline; got %s" % dump(msgs))
            msg = self.conn.recv(timeout=left)
            if msg.get("id") == sentinel and "method" not in msg:
                self.test.assertEqual(msg.get("result"), {}, dump(msg))
                seen_sentinel = True
            else:
                msgs.append(msg)
        return msgs


class HostileTestCase(BrokerTestCase):
    def assert_normal_call(self, conn, request_id="req-normal"):
        resp = conn.call_tool(EXECUTE_TOOL, execute_args({"request_id": request_id}))
        result = tool_result(resp)
        sc = result["structuredContent"]
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(sc.get("request_id"), request_id, dump(sc))
        self.assertEqual(sc["execution"]["http_status"], 200, dump(sc))
        self.assertEqual(conn.request("ping").get("result"), {})


class TableTests(HostileTestCase):
    def test_table_has_enough_cases(self):
        labels = [c[0] for c in CASES]
        self.assertGreaterEqual(len(labels), 60)
        self.assertEqual(len(labels), len(set(labels)), "duplicate labels")

    def test_each_case_in_a_session_of_its_own(self):
        """Every case on a fresh brokerd, then a normal call, then end of
        input: brokerd exits 0 (and its children with it)."""
        for case in CASES:
            label = case[0]
            with self.subTest(case=label):
                broker = self.started(env_overrides=ENV)
                TableRunner(self, broker, "own").run(case)
                self.assert_normal_call(broker)
                broker.close_stdin()
                self.assertEqual(broker.read_to_eof(), [])
                self.assertEqual(broker.wait(), 0, broker.stderr_text()[-2000:])
                broker.kill()

    def test_whole_table_in_one_session(self):
        broker = self.started(env_overrides=ENV)
        runner = TableRunner(self, broker, "one")
        for case in CASES:
            with self.subTest(case=case[0]):
                runner.run(case)
        self.assert_normal_call(broker)
        self.assertIsNone(broker.proc.poll(), "brokerd exited during the table")
        broker.close_stdin()
        self.assertEqual(broker.read_to_eof(), [])
        self.assertEqual(broker.wait(), 0, broker.stderr_text()[-2000:])


class SocketTableTests(HostileTestCase):
    def test_table_over_the_socket_leaves_another_session_alone(self):
        broker, path = self.listening_broker(ENV)
        kids = broker.wait_children()
        bystander, hostile = SocketClient(path), SocketClient(path)
        self.addCleanup(bystander.close)
        self.addCleanup(hostile.close)
        harness.initialize(bystander)
        harness.initialize(hostile)
        slow = execute_args({"operation.path": SLOW_PATH, "request_id": "req-slow"})
        slow_id = bystander.send_request("tools/call", {"name": EXECUTE_TOOL, "arguments": slow})

        runner = TableRunner(self, hostile, "sock")
        for case in CASES:
            with self.subTest(case=case[0]):
                runner.run(case)
        self.assert_normal_call(hostile)

        # The bystander's call was answered as if nothing had happened, and
        # it heard nothing of the other session.
        resp = bystander.recv_response(slow_id, timeout=CASE_TIMEOUT)
        sc = tool_result(resp)["structuredContent"]
        self.assertEqual((sc.get("status"), sc.get("request_id")), ("ok", "req-slow"), dump(sc))
        self.assertEqual(sc["execution"]["body"], {"slow": True}, dump(sc))
        self.assert_normal_call(bystander)
        self.assertEqual(harness.messages_within(bystander, 0.2), [])
        self.assertEqual(broker.secretd_tokend(), kids, "a child was replaced")
        self.assertIsNone(broker.proc.poll(), "brokerd exited during the table")


class BigBodyTests(HostileTestCase):
    def test_body_of_several_mib_within_the_limit_is_served(self):
        """With mutations on, a PATCH whose body is 6 MiB (within the line
        limit) goes through, and the session goes on."""
        broker = self.started(env_overrides=dict(ENV, MCP_AUTH_BROKER_ENABLE_MUTATIONS="true"))
        args = execute_args({"request_id": REQUEST_ID, "operation.method": "PATCH",
                             "operation.path": "/v1.0/users/5f1a", "operation.body": big_body(6 * MIB)})
        resp = broker.call_tool(EXECUTE_TOOL, args, timeout=CASE_TIMEOUT)
        result = tool_result(resp)
        self.assertIs(result["isError"], False, dump(result))
        self.assertEqual(result["structuredContent"]["execution"]["http_status"], 204, dump(result))
        self.assertEqual(result["structuredContent"]["policy"]["reason"], "policy.rule.allow.graph.mutation")
        self.assert_normal_call(broker)


if __name__ == "__main__":
    harness.main()
