#!/usr/bin/env python3

# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""Play one scripted MCP session against brokerd and show every message.

    python3 contrib/mcp-session-demo.py [BROKERD]

BROKERD defaults to `brokerd` on PATH.  It runs in smoke mode
(MCP_AUTH_BROKER_ENV=smoke: built-in login endpoint and Graph, no Azure, no
1Password); the rest of the environment is inherited, so to run from a build
tree point MCP_AUTH_BROKER_LIBEXECDIR at a directory holding secretd and tokend.

The session is what an MCP client does on a first visit: initialize, list the
tools, call Graph twice (the first call mints a token, the second is served
from tokend's cache), make a call policy refuses, ask what token is cached
(metadata only), then hang up.  Each message is printed as it crosses the
pipe; brokerd's own logs go to stderr.  The exit status is non-zero if any
answer is not the expected one or brokerd does not exit cleanly, so this also
serves as a quick end-to-end check of an installation.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import time

TIMEOUT = 15.0  # seconds for any one answer; smoke answers take milliseconds
EXECUTE = "graph_execute"
DESCRIBE = "graph_token_describe"


class DemoFailure(Exception):
    """An answer was missing or not what the script expects."""


def execute_args(request_id, scopes=("User.Read.All",)):
    """Arguments for the execute tool: GET /v1.0/users with the smoke defaults."""
    return {
        "contract_version": "v0.1.0",
        "request_id": request_id,
        "requester": {"requester_id": "demo-agent", "identity_assurance": "high"},
        "graph": {
            "tenant_id": "11111111-1111-1111-1111-111111111111",
            "resource": "https://graph.microsoft.com",
            "scopes": list(scopes),
        },
        "operation": {"action": "downstream_call", "method": "GET", "path": "/v1.0/users"},
        "timeout_ms": 5000,
    }


def show(direction, msg):
    print("%s\n%s\n" % (direction, json.dumps(msg, indent=2)), flush=True)


def tools_summary(resp):
    """A tools/list answer without the schemas, which would drown the demo."""
    tools = resp.get("result", {}).get("tools", [])
    brief = [{"name": t.get("name"), "description": t.get("description")} for t in tools]
    return dict(resp, result={"tools": brief})


class Session:
    """brokerd on a pipe, spoken to one newline-delimited JSON-RPC message at a time."""

    def __init__(self, brokerd):
        env = dict(os.environ, MCP_AUTH_BROKER_ENV="smoke")
        self.proc = subprocess.Popen([brokerd], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pending = b""
        self.next_id = 0

    def send(self, msg):
        show("client -> broker", msg)
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def read_message(self):
        """Next message from stdout, waiting at most TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise DemoFailure("no answer from brokerd within %.0fs" % TIMEOUT)
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise DemoFailure("brokerd closed its stdout")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)

    def request(self, method, params, summarize=None):
        """Send a request and return its answer, printing both."""
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.read_message()
            show("broker -> client", summarize(msg) if summarize else msg)
            if msg.get("id") == self.next_id:
                return msg

    def call(self, name, arguments):
        """tools/call; returns the tool result (isError, structuredContent, ...)."""
        resp = self.request("tools/call", {"name": name, "arguments": arguments})
        if "result" not in resp:
            raise DemoFailure("tools/call %s failed: %s" % (name, resp.get("error")))
        return resp["result"]

    def hang_up(self):
        """Close stdin, as a client does at the end; brokerd's exit status."""
        print("client closes stdin\n", flush=True)
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DemoFailure("brokerd did not exit after EOF")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def expect(condition, what):
    if not condition:
        raise DemoFailure("unexpected answer: " + what)


def graph_call(session, request_id, source):
    """An allowed GET /v1.0/users whose token came from `source`."""
    result = session.call(EXECUTE, execute_args(request_id))
    sc = result.get("structuredContent", {})
    expect(result.get("isError") is False, "%s was refused" % request_id)
    expect(sc.get("execution", {}).get("http_status") == 200, "Graph did not answer 200")
    expect(sc.get("token", {}).get("source") == source, "token source is not %r" % source)


def script(session):
    """The session itself; raises DemoFailure at the first surprise."""
    init = session.request("initialize", {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcp-session-demo", "version": "1.0"},
    })
    expect("result" in init, "initialize failed")
    session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    tools = session.request("tools/list", {}, summarize=tools_summary)
    names = sorted(t.get("name") for t in tools.get("result", {}).get("tools", []))
    expect(names == sorted([EXECUTE, DESCRIBE]), "tools are %r" % names)

    graph_call(session, "demo-1", "minted")
    graph_call(session, "demo-2", "cache")

    denied = session.call(EXECUTE, execute_args("demo-3", scopes=["Mail.ReadWrite"]))
    code = denied.get("structuredContent", {}).get("error", {}).get("code")
    expect(denied.get("isError") is True and code == "policy.invalid_scope", "Mail.ReadWrite was not refused")

    described = session.call(DESCRIBE, {})
    state = described.get("structuredContent", {}).get("cache", {}).get("state")
    expect(state == "valid", "token cache state is %r" % state)


def main(argv):
    brokerd = argv[1] if len(argv) > 1 else shutil.which("brokerd")
    if not brokerd:
        print("brokerd not found on PATH; pass its path as the argument", file=sys.stderr)
        return 2
    session = Session(brokerd)
    try:
        script(session)
        status = session.hang_up()
    except (DemoFailure, OSError, ValueError) as exc:
        print("demo failed: %s" % exc, file=sys.stderr)
        return 1
    finally:
        session.kill()
    print("brokerd exited with status %d" % status)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
