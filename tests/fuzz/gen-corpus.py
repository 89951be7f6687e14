#!/usr/bin/env python3

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME/).

The seeds are committed; this script is how they were made and how to make
them again after a message or a contract changes.  Each seed is one
meaningful case: a valid message of every kind, and each way of being wrong.
Run from anywhere: python3 tests/fuzz/gen-corpus.py
"""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# common/ipc.h
EXEC_REQ, EXEC_ANS, DESCRIBE_REQ, DESCRIBE_ANS, CANCEL_REQ, PROGRESS = 1, 2, 3, 4, 5, 6
SECRET_REQ, SECRET_ANS, SECRET_ERR = 16, 17, 18
ASSERTION_REQ, ASSERTION_ANS = 20, 21
OP_TOKEN, SECRET_INFO, CERT_INFO = 34, 35, 36
TOKEN_STATS = 48
JWKS_FAIL = 49
RETIRED_STATUS_ANS = 33  # no longer on any accept list
# fuzz_ipc.c's receivers, by index
B_FROM_S, B_FROM_T, S_FROM_B, S_FROM_T, T_FROM_B, T_FROM_S = range(6)

TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
GRAPH = "https://graph.microsoft.com"


def js(o):
    return json.dumps(o, separators=(",", ":")).encode()


def msg(mtype, mid, payload=b"", flags=0, reserved=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack("=IIQII", mtype, flags, mid, n, reserved) + payload


def write(name, files):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


# ---- fuzz_ipc: receiver byte, chunk byte, stream -------------------------

def ipc(receiver, chunk, *msgs):
    return bytes([receiver, chunk]) + b"".join(msgs)


EXEC_OK = {"ok": True,
           "token": {"source": "minted", "token_type": "Bearer",
                     "expires_at": "2026-11-23T11:00:00Z"},
           "execution": {"http_status": 200,
                         "provider_request_id": "00000000-0000-4000-8000-000000000001",
                         "headers": {"request-id": "00000000-0000-4000-8000-000000000001"},
                         "body": {"value": [{"id": "1", "displayName": "Adele Vance"}]}}}
EXEC_ERR = {"ok": False, "error": {"code": "provider.timeout", "message": "Graph: Timeout was reached"}}
DESCRIBE = {"cache": {"state": "valid", "token_type": "Bearer",
                      "expires_at": "2026-11-23T11:00:00Z", "expires_in_s": 2940,
                      "refreshing": False, "throttled": False}}
EXEC_REQ_P = {"token_only": False, "request_id": "r-1", "requester_id": "agent-1",
              "tenant_id": "11111111-1111-1111-1111-111111111111", "resource": GRAPH,
              "scopes": ["User.Read.All"], "method": "GET", "path": "/v1.0/users",
              "query": "$top=5", "headers": {"consistency-level": "eventual"}, "timeout_ms": 5000,
              "max_pages": 3}
EXEC_REQ_TOKEN = {"token_only": True, "tenant_id": "11111111-1111-1111-1111-111111111111",
                  "resource": GRAPH, "timeout_ms": 5000}
IPC = {
    "brokerd-secret-info": ipc(B_FROM_S, 0, msg(SECRET_INFO, 0, js(
        {"fingerprint": "0123456789abcdef", "provider": "1password"}))),
    "brokerd-secret-err": ipc(B_FROM_S, 5, msg(SECRET_ERR, 7, js(
        {"code": "secret.access_denied", "message": "only the configured secret reference is served"}))),
    "brokerd-exec-ans-stream": ipc(B_FROM_T, 7, msg(EXEC_ANS, 1, js(EXEC_OK)),
                                   msg(PROGRESS, 2, js({"message": "Graph answered 429; retrying in 1 s (attempt 2 of 5)",
                                                        "retry_in_ms": 1000})),
                                   msg(EXEC_ANS, 2, js(EXEC_ERR)),
                                   msg(DESCRIBE_ANS, 3, js(DESCRIBE))),
    "brokerd-exec-ans-truncated": ipc(B_FROM_T, 0, msg(EXEC_ANS, 4, js(EXEC_OK))[:-9]),
    "brokerd-token-stats": ipc(B_FROM_T, 0, msg(TOKEN_STATS, 0, js(
        {"cache_hits": 3, "mints": 1, "mint_failures": 0, "jwks_refreshes": 0}))),
    "brokerd-jwks-fail": ipc(B_FROM_T, 0, msg(JWKS_FAIL, 0, js({"error": "the issuer answered HTTP 500"}))),
    "brokerd-bad-type": ipc(B_FROM_T, 0, msg(EXEC_ANS, 1, js(EXEC_ERR)), msg(SECRET_ANS, 2, b"s3cr3t")),
    "secretd-op-token": ipc(S_FROM_B, 1, msg(OP_TOKEN, 0, b"ops_eyJzaWduSW5BZGRyZXNzIjoi"),
                            msg(SECRET_REQ, 1, b"")),
    "secretd-secret-req": ipc(S_FROM_T, 3, msg(SECRET_REQ, 1, b""),
                              msg(SECRET_REQ, 2, b'{"refresh":true}')),
    "tokend-requests": ipc(T_FROM_B, 11, msg(EXEC_REQ, 1, js(EXEC_REQ_P)),
                           msg(EXEC_REQ, 3, js(EXEC_REQ_TOKEN)),
                           msg(DESCRIBE_REQ, 2, js({"resource": GRAPH})),
                           msg(CANCEL_REQ, 1, b"")),
    "tokend-secret-ans": ipc(T_FROM_S, 0, msg(SECRET_ANS, 1, b"Qx8~smoke-secret-value"),
                             msg(SECRET_ERR, 2, js({"code": "secret.timeout",
                                                    "message": "op did not answer in time"}))),
    "secretd-assertion-req": ipc(S_FROM_T, 4, msg(ASSERTION_REQ, 1, b'{"refresh":false}'),
                                 msg(ASSERTION_REQ, 2, b'{"refresh":true}')),
    "tokend-assertion-ans": ipc(T_FROM_S, 2, msg(ASSERTION_ANS, 1,
                                                 b"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"),
                                msg(SECRET_ERR, 2, js({"code": "secret.not_found",
                                                       "message": "certificate credential: no certificate"}))),
    "brokerd-cert-info": ipc(B_FROM_S, 6, msg(CERT_INFO, 0, js(
        {"subject": "CN=mcp-auth-broker", "sha256": "A" * 64, "sha1": "0" * 40,
         "not_after": "2028-11-30T16:40:00Z", "not_after_unix": 1859128800}))),
    "bad-header-flags": ipc(T_FROM_B, 0, msg(CANCEL_REQ, 1, b"", flags=1)),
    "bad-header-reserved": ipc(B_FROM_S, 0, msg(SECRET_INFO, 0, b"{}", reserved=0x80000000)),
    "bad-length": ipc(S_FROM_T, 0, msg(SECRET_REQ, 1, b"", length=16 * 1024 * 1024 + 1)),
    "not-json-payload": ipc(B_FROM_T, 2, msg(EXEC_ANS, 9, b'{"ok":tru'),
                            msg(DESCRIBE_ANS, 10, b'["not","an","object"]')),
}

# ---- fuzz_oauth: 2 bytes of status, body ----------------------------------

def oauth(status, body):
    if not isinstance(body, bytes):
        body = js(body)
    return struct.pack(">H", status) + body


def aad_error(error, code, desc):
    return {"error": error,
            "error_description": f"AADSTS{code}: {desc}\r\nTrace ID: 7e1c1f6e-6f0a-4d1a-9a5e-3b8f0c2d0100\r\n"
                                 "Correlation ID: 5d0c4b7a-1b2c-4d3e-8f90-a1b2c3d4e5f6\r\nTimestamp: 2026-11-23 10:00:00Z",
            "error_codes": [code], "timestamp": "2026-11-23 10:00:00Z",
            "trace_id": "7e1c1f6e-6f0a-4d1a-9a5e-3b8f0c2d0100",
            "correlation_id": "5d0c4b7a-1b2c-4d3e-8f90-a1b2c3d4e5f6",
            "error_uri": "https://login.microsoftonline.com/error?code=%d" % code}


OAUTH = {
    "token-v2": oauth(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                            "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2ln"}),
    "token-v1-string-expiry": oauth(200, {"token_type": "Bearer", "expires_in": "3599",
                                          "ext_expires_in": "3599", "expires_on": "1795430400",
                                          "resource": GRAPH, "access_token": "eyJ0eXAi.e30.c2ln"}),
    # A JWT whose roles claim tokend reads (claims.c): {"roles":["User.Read.All","Mail.Send"]}.
    "token-roles": oauth(200, {"token_type": "Bearer", "expires_in": 3599,
                               "access_token": "eyJhbGciOiJub25lIn0.eyJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIiwiTWFpbC5TZW5kIl19.c2ln"}),
    "token-no-type": oauth(200, {"expires_in": 60, "access_token": "a"}),
    "token-missing-access-token": oauth(200, {"token_type": "Bearer", "expires_in": 3599}),
    "token-zero-expiry": oauth(200, {"token_type": "Bearer", "expires_in": 0, "access_token": "x"}),
    "token-not-json": oauth(200, b"<html><body>Service Unavailable</body></html>"),
    "invalid-client-bad-secret": oauth(401, aad_error("invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")),
    "invalid-client-expired": oauth(401, aad_error("invalid_client", 7000222,
        "The provided client secret keys for app '22222222-2222-2222-2222-222222222222' are expired.")),
    "unauthorized-client-unknown-app": oauth(400, aad_error("unauthorized_client", 700016,
        "Application with identifier '22222222-2222-2222-2222-222222222222' was not found in the directory.")),
    "invalid-scope": oauth(400, aad_error("invalid_scope", 1002012,
        "The provided value for scope https://graph.microsoft.com/User.Read.All is not valid.")),
    "throttled": oauth(429, {"error": "temporarily_unavailable", "error_codes": [50196]}),
    "throttled-empty": oauth(429, b""),
    "server-error": oauth(503, aad_error("temporarily_unavailable", 90033,
        "A transient error has occurred. Please try again.")),
    "bad-request-html": oauth(400, b"<!DOCTYPE html><html>Bad Request</html>"),
    "redirect": oauth(302, b""),
    # Regressions: an empty token_type was kept (Authorization: " <token>"),
    # and a token or type with CR LF went into the Graph request's headers.
    "regress-empty-token-type": oauth(200, b'{"token_type":"","expires_in":"30","access_token":"\x05"}'),
    "regress-token-crlf": oauth(200, {"token_type": "Bearer", "expires_in": 3599,
                                      "access_token": "eyJ0eXAi\r\nX-Injected: 1"}),
    "regress-type-crlf": oauth(200, {"token_type": "Bearer\r\nX-Injected: 1", "expires_in": 3599,
                                     "access_token": "eyJ0eXAi.e30.c2ln"}),
}

# ---- fuzz_graph: 2 bytes of status, header lines, empty line, body --------

def graph(status, headers, body):
    if not isinstance(body, bytes):
        body = js(body)
    head = "".join(f"{h}\r\n" for h in headers).encode()
    return struct.pack(">H", status) + head + b"\r\n" + body


RID = "request-id: 8d1b6a0e-4c5f-4d7a-9e2b-1f3c5a7b9d11"
CRID = "client-request-id: 8d1b6a0e-4c5f-4d7a-9e2b-1f3c5a7b9d11"
STD = ["HTTP/1.1 200 OK", "Content-Type: application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
       RID, CRID, 'x-ms-ags-diagnostic: {"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"003","RoleInstance":"AM2PEPF0001A1B2"}}',
       "Strict-Transport-Security: max-age=31536000", "Date: Mon, 23 Nov 2026 10:00:00 GMT"]
USERS = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
         "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$top=2&$skiptoken=RFNwdAIAAQAAAB8",
         "value": [{"businessPhones": ["+1 425 555 0109"], "displayName": "Adele Vance",
                    "givenName": "Adele", "jobTitle": "Retail Manager",
                    "mail": "AdeleV@contoso.com", "mobilePhone": None, "officeLocation": "18/2111",
                    "preferredLanguage": "en-US", "surname": "Vance",
                    "userPrincipalName": "AdeleV@contoso.com",
                    "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"},
                   {"businessPhones": [], "displayName": "Alex Wilber \u00e9\u4e2d",
                    "id": "6e7b768e-07e2-4810-8459-485f84f8f204"}]}
GERR = lambda code, m: {"error": {"code": code, "message": m,
                                  "innerError": {"date": "2026-11-23T10:00:00",
                                                 "request-id": "8d1b6a0e-4c5f-4d7a-9e2b-1f3c5a7b9d11",
                                                 "client-request-id": "8d1b6a0e-4c5f-4d7a-9e2b-1f3c5a7b9d11"}}}
GRAPH_SEEDS = {
    "users-200": graph(200, STD, USERS),
    "organization-200": graph(200, STD, {"value": [{"id": TENANT, "displayName": "Contoso",
                                                    "verifiedDomains": [{"name": "contoso.com", "isDefault": True}],
                                                    "createdDateTime": "2016-06-21T19:10:43Z"}]}),
    "created-201": graph(201, STD + ["Location: https://graph.microsoft.com/v2/users/1"],
                         {"id": "1", "displayName": "New User", "accountEnabled": True}),
    "no-content-204": graph(204, ["HTTP/1.1 204 No Content", RID], b""),
    "not-found-404": graph(404, STD, GERR("Request_ResourceNotFound",
                                          "Resource 'nobody' does not exist or one of its queried reference-property objects are not present.")),
    "unauthorized-401": graph(401, STD + ['WWW-Authenticate: Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'],
                              GERR("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")),
    "forbidden-403": graph(403, STD, GERR("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")),
    "throttled-429": graph(429, STD + ["Retry-After: 7"], GERR("TooManyRequests", "Too many requests")),
    "unavailable-503-http-date": graph(503, STD + ["Retry-After: Mon, 23 Nov 2026 10:01:00 GMT"], b""),
    "not-json-502": graph(502, ["HTTP/1.1 502 Bad Gateway", "Content-Type: text/html"],
                          b"<html><head><title>502 Bad Gateway</title></head></html>"),
    "scalar-body": graph(200, [RID, "retry-after:   12  "], b"  12.5e3\n"),
    "odd-headers": graph(200, ["request-id:", "REQUEST-ID: \x01\x7f\xc3\xa9 tab\tend", "client-request-id " + "x" * 200,
                               "retry-after: 99999999999999999999", "retry-after: -1"], b"[]"),
    "deep-body": graph(200, [RID], b"[" * 20 + b"{}" + b"]" * 20),
    "count-text": graph(200, STD + ["Content-Type: text/plain"], b"42"),
    "photo-jpeg": graph(200, [RID, "Content-Type: image/jpeg"], b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9"),
    "report-csv": graph(200, [RID, "Content-Type: text/csv; charset=utf-8"], "a,b\n1,\u00e9\n".encode()),
    "latin1-text": graph(200, [RID, "Content-Type: text/plain; charset=iso-8859-1"], b"caf\xe9\x00"),
    "blob": graph(200, [RID, "Content-Type: application/octet-stream"], bytes(range(256))),
    "redirect-302": graph(302, [RID, "Location: https://contoso.example/download?tempauth=x", "Content-Length: 0"], b""),
    "untyped-text": graph(200, [RID], b"plain words, not JSON"),
    # Batch answers (a status field over 999, odd thousands, marks the
    # request a batch): sub-responses with JSON, base64 image and text bodies.
    "batch-answer": graph(1200, STD, {"responses": [
        {"id": "1", "status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": "u"}},
        {"id": "2", "status": 200, "headers": {"Content-Type": "image/jpeg"}, "body": "/9j/4AAQ"},
        {"id": "3", "status": 200, "headers": {"content-type": "text/csv"}, "body": "YSxiCjEsMgo="},
        {"id": "4", "status": 404, "body": {"error": {"code": "NotFound"}}}]}),
    # Regressions: bodies nested 31 and 32 deep were accepted by tokend and
    # made an EXEC_ANS brokerd could not parse (fatal for brokerd).
    "regress-body-depth-31": graph(200, [RID], b"[" * 31 + b"]" * 31),
    "regress-body-depth-32": graph(200, [RID], b'{"a":' * 31 + b"{}" + b"}" * 31),
    # Regression: json-c reads NaN and Infinity and writes them back out, so
    # they reached the client's stdout, which is then not JSON.  The first is
    # the input fuzz_graph found.
    "regress-nan-found": b"~\r\n\rNaN\n",
    "regress-nonfinite-body": graph(200, [RID], b'{"value":[NaN,Infinity,-Infinity],"s":"NaN"}'),
}

# ---- fuzz_mcp: lines; a first line "#mutations" selects the wider policy --

def line(o):
    return js(o) + b"\n"


def rpc(mid, method, params=None):
    o = {"jsonrpc": "2.0", "id": mid, "method": method}
    if params is not None:
        o["params"] = params
    return line(o)


INIT = rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "fuzz", "version": "1"}})
INITIALIZED = line({"jsonrpc": "2.0", "method": "notifications/initialized"})


def contract(**over):
    c = {"contract_version": "v1", "request_id": "req-1",
         "requester": {"requester_id": "agent-7", "identity_assurance": "high"},
         "graph": {"tenant_id": TENANT, "resource": GRAPH, "scopes": ["User.Read.All"]},
         "operation": {"action": "downstream_call", "method": "GET", "path": "/v1.0/users",
                       "headers": {"consistency-level": "eventual"}},
         "timeout_ms": 5000}
    for k, v in over.items():
        path = k.split("__")
        o = c
        for p in path[:-1]:
            o = o[p]
        if v is DEL:
            del o[path[-1]]
        else:
            o[path[-1]] = v
    return c


DEL = object()


def call(mid, args, name="auth.graph.operation.execute.v1"):
    return rpc(mid, "tools/call", {"name": name, "arguments": args})


MUT = b"#mutations\n"
MODERN = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
          "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"}}
MCP = {
    "session-legacy": INIT + INITIALIZED + rpc(2, "tools/list") + rpc("p", "ping") +
    call(3, contract()) + call(4, {"resource": GRAPH}, "auth.graph.token.describe.v1"),
    "session-2024-11-05": rpc(1, "initialize", {"protocolVersion": "2024-11-05"}) + rpc(2, "tools/list") +
    call("a", contract(request_id="req-a")),
    "session-unknown-version": rpc(1, "initialize", {"protocolVersion": "1999-01-01"}) + rpc(2, "tools/list"),
    "modern-discover": rpc(1, "server/discover", {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}) +
    rpc(2, "tools/list", {"_meta": MODERN}) +
    rpc(3, "tools/call", {"name": "auth.graph.operation.execute.v1", "arguments": contract(),
                          "_meta": dict(MODERN, progressToken="tok-1")}) +
    rpc(4, "tools/call", {"name": "auth.graph.token.describe.v1", "arguments": {},
                          "_meta": dict(MODERN, progressToken=9)}) +
    rpc(5, "ping", {"_meta": MODERN}),
    "modern-meta-errors": rpc(1, "tools/list", {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}) +
    rpc(2, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}) +
    rpc(3, "tools/list", {"_meta": dict(MODERN, **{"io.modelcontextprotocol/clientInfo": 1})}) +
    rpc(4, "tools/list", {"_meta": []}) + rpc(5, "tools/list", {"_meta": {"progressToken": 1.5}}) +
    rpc(6, "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "2025-03-26",
                                    "io.modelcontextprotocol/clientCapabilities": {}}}),
    "calls-before-initialize": call(1, contract()) + rpc(2, "tools/list"),
    "jsonrpc-errors": b'{"jsonrpc":"2.0","id":1,"method":"ping"\n' + b"[]\n" + b"42\n" +
    line({"jsonrpc": "2.0", "id": None, "method": "ping"}) + line({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}) +
    line({"jsonrpc": "2.0", "id": [1], "method": "ping"}) + line({"jsonrpc": "1.0", "id": 1, "method": "ping"}) +
    line({"jsonrpc": "2.0", "id": 1, "method": 7}) + rpc(2, "no/such/method") +
    line({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": [1]}) +
    line({"jsonrpc": "2.0", "id": 4, "result": {}}) + line({"jsonrpc": "2.0", "method": "notifications/x"}) +
    b'{"jsonrpc":"2.0","id":5,"method":"ping"} trailing\n' + b'{"a":"\xff"}\n' + b"\r\n\n" +
    b'{"jsonrpc":"2.0","id":6,"method":"ping"}',
    "reused-id-and-cancel": INIT + call(7, contract()) + call(7, contract(request_id="req-2")) +
    line({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}}),
    "contract-field-errors": INIT + call(1, contract(extra=1)) + call(2, contract(request_id="")) +
    call(3, contract(contract_version="v2")) + call(4, contract(requester__requester_id=DEL)) +
    call(5, contract(graph__scopes=[])) + call(6, contract(operation__method="TRACE")) +
    call(7, contract(operation__headers={"a": 1})) + call(8, contract(operation__body={"x": 1})) +
    call(9, contract(operation__action="token_exchange")) + call(10, contract(timeout_ms=99)) +
    call(11, contract(timeout_ms=1.5)) + call(12, contract(graph__tenant_id="t\u0000x")) +
    call(13, "not an object") + rpc(14, "tools/call", {"name": 5}) + call(15, {}, "no.such.tool"),
    "policy-denials": INIT + call(1, contract(graph__tenant_id="common")) +
    call(2, contract(graph__resource="https://evil.example")) +
    call(3, contract(graph__scopes=["Mail.ReadWrite"])) +
    call(4, contract(operation__path="/v1.0/users/../me")) +
    call(5, contract(operation__path="/v1.0/https://evil.example/x")) +
    call(6, contract(operation__path="/v1.0/users/%2e%2e/x?$filter=a%20eq%201")) +
    call(7, contract(operation__method="DELETE", operation__path="/v1.0/users/1")) +
    call(8, contract(operation__headers={"authorization": "Bearer x", "x-bad": "a\r\nb"})) +
    call(9, contract(requester__requester_id="")),
    "describe-tool": INIT + call(1, {}, "auth.graph.token.describe.v1") +
    call(2, {"resource": "https://Graph.Microsoft.com/"}, "auth.graph.token.describe.v1") +
    call(3, {"resource": "https://other.example"}, "auth.graph.token.describe.v1") +
    call(4, {"resource": 1, "x": 2}, "auth.graph.token.describe.v1"),
    "mutations-allowlist": MUT + INIT +
    call(1, contract(operation__method="POST", operation__path="/v1.0/users",
                     operation__body={"accountEnabled": True, "displayName": "N",
                                      "passwordProfile": {"password": "x"}},
                     operation__headers={"content-type": "application/json", "prefer": "return=minimal"})) +
    call(2, contract(operation__method="PATCH", operation__path="/v1.0/users/1",
                     operation__headers={"if-match": "*"}, operation__body={"jobTitle": "x"})) +
    call(3, contract(operation__path="/v1.0/groups")) +
    call(4, contract(operation__path="/beta/users/1/drive/root:/a/b:", graph__scopes=["user.read.all", "Group.Read.All"])),
    "batch-expand-ref": MUT + INIT +
    call(1, contract(operation__method="POST", operation__path="/v1.0/$batch",
                     operation__headers={"content-type": "application/json"},
                     operation__body={"requests": [
                         {"id": "1", "method": "GET", "url": "/users/1?$expand=memberOf"},
                         {"id": "2", "method": "DELETE", "url": "groups/2", "dependsOn": ["1"]}]})) +
    call(2, contract(operation__path="/v1.0/users/1?$expand=memberOf($select=id;$expand=owners),manager")) +
    call(3, contract(operation__method="POST", operation__path="/v1.0/groups/1/members/$ref",
                     operation__headers={"content-type": "application/json"},
                     operation__body={"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/2"})),
    "nonfinite-numbers": MUT + INIT +
    call(1, contract(operation__method="POST", operation__path="/v1.0/users")).replace(
        b'"timeout_ms":5000', b'"timeout_ms":5000,"x":NaN') +
    b'{"jsonrpc":"2.0","id":Infinity,"method":"ping"}\n' +
    call(2, contract(timeout_ms=1e400)),
    "oversized-line": INIT + b'{"jsonrpc":"2.0","id":2,"method":"ping","pad":"' + b"x" * 5000 + b'"}\n' + rpc(3, "ping"),
}


# ---- fuzz_http: ["#api_key\n"] "METHOD URL\n" headers "\n" body -------------


def http(method="POST", url="/mcp", headers=None, body=b"", api_key=False):
    h = {"Host": "127.0.0.1:8808", "Content-Type": "application/json"}
    h.update(headers or {})
    head = "".join("%s: %s\n" % (k, v) for k, v in h.items() if v is not None)
    return (b"#api_key\n" if api_key else b"") + ("%s %s\n%s\n" % (method, url, head)).encode() + body


MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}}
SID = {"Mcp-Session-Id": "$SID"}
ALICE = {"Authorization": "Bearer alice-key"}
HTTP = {
    "initialize": http(body=js({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                "params": {"protocolVersion": "2025-06-18"}})),
    "tools-list": http(headers=SID, body=js({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})),
    "tools-call": http(headers=dict(SID, **{"MCP-Protocol-Version": "2025-06-18"}),
                       body=js({"jsonrpc": "2.0", "id": "c", "method": "tools/call",
                                "params": {"name": "graph_execute", "arguments": {
                                    "operation": {"action": "downstream_call", "method": "GET",
                                                  "path": "/v1.0/users"}}}})),
    # Accept lists text/event-stream: the harness streams the call's answer.
    "tools-call-stream": http(headers=dict(SID, Accept="application/json, text/event-stream"),
                              body=js({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                       "params": {"_meta": {"progressToken": 1}, "name": "graph_execute",
                                                  "arguments": {"operation": {
                                                      "action": "downstream_call", "method": "GET",
                                                      "path": "/beta/smoke/throttled"}}}})),
    "notification": http(headers=SID, body=js({"jsonrpc": "2.0", "method": "notifications/initialized"})),
    "stateless-call": http(body=js({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                    "params": {"_meta": MODERN_META, "name": "graph_token_describe",
                                               "arguments": {}}})),
    "discover": http(body=js({"jsonrpc": "2.0", "id": 4, "method": "server/discover",
                              "params": {"_meta": MODERN_META}})),
    "delete": http("DELETE", headers=SID),
    "delete-unknown": http("DELETE", headers={"Mcp-Session-Id": "0" * 32}),
    "get": http("GET"),
    "health": http("GET", "/health", headers={"Host": "10.1.2.3:8808"}),
    "ready": http("GET", "/ready", headers={"Host": "10.1.2.3:8808"}),
    # Their lengths pick HTTP_METRICS (length % 3: off, loopback, on).
    "metrics": http("GET", "/metrics", headers={"Host": "127.0.0.1:8808", "Accept": "text/plain"}),
    "metrics-remote": http("GET", "/metrics", headers={"X-Fuzz-Peer": "10.1.2.3"}),
    "metrics-key": http("GET", "/metrics", headers={"Authorization": "Bearer alice-key"}, api_key=True),
    "other-path": http(url="/mcp/../x", body=b"{}"),
    "bad-origin": http(headers={"Origin": "https://evil.example"}, body=b"{}"),
    "allowed-origin": http(headers={"Origin": "https://app.example", "Host": "mcp.example"},
                           body=js({"jsonrpc": "2.0", "id": 5, "method": "tools/list",
                                    "params": {"_meta": MODERN_META}})),
    "bad-host": http(headers={"Host": "evil.example:8808"}, body=b"{}"),
    "v6-host": http(headers={"Host": "[::1]:8808"}, body=b"{}"),
    "bad-version": http(headers=dict(SID, **{"MCP-Protocol-Version": "1999-01-01"}), body=b"{}"),
    "text-plain": http(headers={"Content-Type": "text/plain"}, body=b"{}"),
    "batch": http(body=b"[" + js({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + b"]"),
    "not-json": http(body=b"{\"jsonrpc\":"),
    "oversized": http(body=b"{\"pad\":\"" + b"x" * 5000 + b"\"}"),
    "key-ok": http(headers=dict(ALICE, **SID), body=js({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
                   api_key=True),
    "key-x-api-key": http(headers={"X-API-Key": "bob-key"}, body=js({"jsonrpc": "2.0", "id": 1,
                          "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}), api_key=True),
    "key-wrong": http(headers={"Authorization": "Bearer alice-kez"}, body=b"{}", api_key=True),
    "key-missing": http(body=b"{}", api_key=True),
    "key-other-session": http(headers=dict(SID, Authorization="Bearer bob-key"),
                              body=js({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}), api_key=True),
}


# ---- fuzz_bearer: key sets and tokens (common/bearer.c) ------------------
# The self-test's key set and tokens, read from the C source (their keys'
# private halves are gone), and the forms an attacker or a broken issuer
# would send.
def _c_string(name):
    """The value of `static const char NAME[] = "..." "...";` in bearer.c."""
    with open(os.path.join(HERE, "..", "..", "common", "bearer.c")) as f:
        lines = f.read().split("static const char %s[] =\n" % name, 1)[1].splitlines()
    out = []
    for line in lines:
        line = line.strip()
        out.append(line.rstrip(";")[1:-1].replace('\\"', '"'))
        if line.endswith(";"):
            return "".join(out)
    raise ValueError(name)


def _b64(obj):
    import base64
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def bearer_seeds():
    jwks = _c_string("selftest_jwks")
    rs, ps, es = (_c_string(n) for n in ("selftest_rs256", "selftest_ps256", "selftest_es256"))
    h, p, sig = rs.split(".")
    claims = {"iss": "selftest", "aud": "selftest", "sub": "x", "exp": 4102444800}
    return {
        "jwks-selftest": b"J" + jwks.encode(),
        "jwks-entra-like": b"J" + json.dumps({"keys": [dict(json.loads(jwks)["keys"][0], x5t="abc", x5c=["MIIB"],
                                                                  issuer="https://login.example/t/v2.0")]}).encode(),
        "jwks-private-members": b"J" + json.dumps({"keys": [dict(json.loads(jwks)["keys"][1], d="AAAA")]}).encode(),
        "jwks-enc-only": b"J" + json.dumps({"keys": [dict(json.loads(jwks)["keys"][0], use="enc")]}).encode(),
        "jwks-oct": b"J" + json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}).encode(),
        "jwks-dup-kid": b"J" + json.dumps({"keys": json.loads(jwks)["keys"][:1] * 2}).encode(),
        "jwks-empty": b'J{"keys":[]}',
        "token-rs256": b"T" + rs.encode(),
        "token-ps256": b"T" + ps.encode(),
        "token-es256": b"T" + es.encode(),
        "token-alg-none": b"T" + ("%s.%s." % (_b64({"alg": "none", "kid": "selftest-rsa"}), _b64(claims))).encode(),
        "token-hs256": b"T" + ("%s.%s.%s" % (_b64({"alg": "HS256", "kid": "selftest-rsa"}), _b64(claims), sig)).encode(),
        "token-wrong-kty": b"T" + ("%s.%s.%s" % (_b64({"alg": "ES256", "kid": "selftest-rsa"}), p, sig)).encode(),
        "token-crit": b"T" + ("%s.%s.%s" % (_b64({"alg": "RS256", "kid": "selftest-rsa", "crit": ["x"]}), p, sig)).encode(),
        "token-two-dots": b"T" + ("%s.%s" % (h, p)).encode(),
        "token-garbage": b"T....",
        # cjose's base64 decoder asserts on padding inside a part: bearer.c
        # must stop such tokens first.
        "token-payload-padding": b"T" + ("%s.%s.%s" % (h, "eyJpc3MiOiJzZWxmd=VzdCI6InNlc3QiLCJlHeAiOj4MDAsIpm5iZiI6MH5",
                                                       sig)).encode(),
        "token-payload-len-1-mod-4": b"T" + ("%s.%s.%s" % (h, p + "A" * ((1 - len(p)) % 4), sig)).encode(),
        "token-sig-len-1-mod-4": b"T" + ("%s.%s.%s" % (h, p, sig + "A" * ((1 - len(sig)) % 4))).encode(),
    }
# ---- fuzz_identity: 2 bytes of status, body --------------------------------
# IMDS answers its numbers as strings; the App Service agent sends expires_on.

IDENTITY = {
    "imds-token": oauth(200, {"access_token": "eyJ0eXAiOiJKV1QifQ.e30.c2ln", "client_id": "5e29463d-71da-4fe0-8e69-999b57db23b0",
                              "expires_in": "3599", "expires_on": "1796000399", "ext_expires_in": "3599",
                              "not_before": "1795996800", "resource": "https://graph.microsoft.com",
                              "token_type": "Bearer"}),
    "agent-token": oauth(200, {"access_token": "eyJ0eXAiOiJKV1QifQ.e30.c2ln", "expires_on": "1796000399",
                               "resource": "https://graph.microsoft.com", "token_type": "Bearer",
                               "client_id": "5e29463d-71da-4fe0-8e69-999b57db23b0"}),
    "agent-token-past": oauth(200, {"access_token": "x", "expires_on": "1000", "token_type": "Bearer"}),
    "imds-int-expiry": oauth(200, {"access_token": "x", "expires_in": 60}),
    "identity-not-found": oauth(400, {"error": "invalid_request", "error_description": "Identity not found"}),
    "no-metadata": oauth(400, {"error": "invalid_request",
                               "error_description": "Required metadata header not specified"}),
    "agent-unauthorized": oauth(401, {"statusCode": 401, "message": "Unauthorized request"}),
    "throttled": oauth(429, {"error": "too_many_requests"}),
    "updating": oauth(410, b""),
    "unavailable": oauth(503, b"<html>down</html>"),
}

# ---- fuzz_federated: the token file's content -----------------------------

def b64u(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(header, claims, sig=b"\x01" * 256):
    return b".".join((b64u(js(header)), b64u(js(claims)), b64u(sig)))


FED_NOW = 1796083200  # fuzz_federated.c's FUZZ_NOW
FED_CLAIMS = {"aud": ["api://AzureADTokenExchange"], "iss": "https://oidc.example/abc/",
              "sub": "system:serviceaccount:mcp:mcp-auth-broker", "exp": FED_NOW + 3600,
              "iat": FED_NOW, "nbf": FED_NOW,
              "kubernetes.io": {"namespace": "mcp", "serviceaccount": {"name": "mcp-auth-broker"}}}
FED_HEADER = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
FEDERATED = {
    "aks": jwt(FED_HEADER, FED_CLAIMS),
    "aks-newline": jwt(FED_HEADER, FED_CLAIMS) + b"\n",
    "github": jwt(FED_HEADER, dict(FED_CLAIMS, aud="api://AzureADTokenExchange",
                                   iss="https://token.actions.githubusercontent.com",
                                   sub="repo:org/repo:environment:prod")),
    "expired": jwt(FED_HEADER, dict(FED_CLAIMS, exp=FED_NOW - 1)),
    "no-exp": jwt(FED_HEADER, {k: v for k, v in FED_CLAIMS.items() if k != "exp"}),
    "exp-string": jwt(FED_HEADER, dict(FED_CLAIMS, exp="tomorrow")),
    "control-chars": jwt(FED_HEADER, dict(FED_CLAIMS, sub="a\u0001b\u007f\u00e9")),
    "payload-array": b64u(js(FED_HEADER)) + b"." + b64u(b"[1,2]") + b".c2ln",
    "header-not-json": b64u(b"alg") + b"." + b64u(js(FED_CLAIMS)) + b".c2ln",
    "two-parts": b64u(js(FED_HEADER)) + b"." + b64u(js(FED_CLAIMS)),
    "empty-signature": b64u(js(FED_HEADER)) + b"." + b64u(js(FED_CLAIMS)) + b".",
    "four-parts": jwt(FED_HEADER, FED_CLAIMS) + b".x",
    "padded": jwt(FED_HEADER, FED_CLAIMS) + b"==",
    "not-a-token": b"this is not a token\n",
}


def main():
    write("fuzz_bearer", bearer_seeds())
    write("fuzz_federated", FEDERATED)
    write("fuzz_http", HTTP)
    write("fuzz_ipc", IPC)
    write("fuzz_oauth", OAUTH)
    write("fuzz_graph", GRAPH_SEEDS)
    write("fuzz_mcp", MCP)
    write("fuzz_identity", IDENTITY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
