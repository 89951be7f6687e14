# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""brokerd --http: a POST answered with text/event-stream (issue 11).

A tools/call whose client lists text/event-stream in Accept, and whose
session outputs a message before the answer (notifications/progress while
tokend waits on a Graph 429's Retry-After), is answered with an event
stream: each message one SSE event, the response the last, then the end
of the stream.  Otherwise the answer stays application/json.  A client
that leaves mid-stream cancels the call; SIGTERM ends the stream with the
call's cancellation answer.

The stream is read off the socket and parsed strictly: the chunked
encoding must end with its last chunk (a stream cut short is not a clean
end), every event is one "data: " line holding one JSON-RPC message,
events end with a blank line, and nothing else is sent.
"""

import json
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, SLOW_PATH, MockGraphCase, audit_records, execute_args, tool_result  # noqa: E402
from test_http import MODERN, MODERN_META, HttpCase  # noqa: E402

THROTTLED_PATH = "/beta/smoke/throttled"  # smoke mode: one 429 (Retry-After: 1), then 200
BOTH = "application/json, text/event-stream"


def dump(o):
    return json.dumps(o, indent=1)[:3000]


class RawResponse:
    """One HTTP/1.1 response read off the socket: Content-Length or
    chunked, strictly (no tolerance for a stream cut short)."""

    def __init__(self, f):
        self.f = f
        line = f.readline()
        if not line.startswith(b"HTTP/1.1 ") or not line.endswith(b"\r\n"):
            raise AssertionError("not a status line: %r" % line)
        self.status = int(line.split()[1])
        self.headers = {}
        while (line := f.readline()) != b"\r\n":
            if not line.endswith(b"\r\n") or b":" not in line:
                raise AssertionError("not a header line: %r" % line)
            name, value = line[:-2].decode().split(":", 1)
            self.headers[name.strip().lower()] = value.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.buf = b""
        self.done = False
        if not self.chunked:
            n = int(self.headers.get("content-length", "0"))
            self.buf = f.read(n)
            if len(self.buf) != n:
                raise AssertionError("body cut short: %d of %d bytes" % (len(self.buf), n))
            self.done = True

    def getheader(self, name):
        return self.headers.get(name.lower())

    def _chunk(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise AssertionError("the stream was cut short (no last chunk): %r" % line)
        size = int(line[:-2].split(b";")[0], 16)
        if size == 0:
            if self.f.readline() != b"\r\n":
                raise AssertionError("trailers after the last chunk")
            self.done = True
            return
        data = self.f.read(size)
        if len(data) != size or self.f.read(2) != b"\r\n":
            raise AssertionError("a chunk cut short")
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf and not self.done:
            self._chunk()
        i = self.buf.find(b"\n") + 1 or len(self.buf)
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read(self):
        while not self.done:
            self._chunk()
        body, self.buf = self.buf, b""
        return body


class RawConn:
    """A keep-alive connection to brokerd, requests written by hand."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def request(self, body, headers):
        head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % len(body)
        head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
        self.sock.sendall(head.encode() + body)
        return RawResponse(self.f)

    def close(self):
        self.f.close()
        self.sock.close()


class SseReader:
    """Events of a text/event-stream response, read as they come."""

    def __init__(self, resp):
        self.resp = resp

    def next_event(self):
        """The next event's message, or None at the stream's clean end."""
        lines = []
        while True:
            line = self.resp.readline()
            if line == b"":
                if lines:
                    raise AssertionError("the stream ended inside an event: %r" % lines)
                return None
            if not line.endswith(b"\n") or line.endswith(b"\r\n"):
                raise AssertionError("not an LF-terminated SSE line: %r" % line)
            line = line[:-1]
            if line == b"":
                if not lines:
                    raise AssertionError("an empty event (a blank line alone)")
                break
            lines.append(line)
        if len(lines) != 1 or not lines[0].startswith(b"data: "):
            raise AssertionError("an event is one 'data: ' line, got %r" % lines)
        msg = json.loads(lines[0][len(b"data: "):])
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            raise AssertionError("not a JSON-RPC message: %r" % lines[0])
        return msg

    def all_events(self):
        events = []
        while (e := self.next_event()) is not None:
            events.append(e)
        return events


class SseCase(HttpCase):
    def call_msg(self, call_id, args, token=None):
        params = {"name": EXECUTE_TOOL, "arguments": args}
        if token is not None:
            params["_meta"] = {"progressToken": token}
        return {"jsonrpc": "2.0", "id": call_id, "method": "tools/call", "params": params}

    def open_call(self, sid, msg, accept=BOTH, timeout=30, headers=None):
        """The connection and the response to msg, headers read, body not
        yet; sid None: a stateless-era request."""
        c = RawConn(self.port, timeout)
        h = self.session_headers(sid) if sid is not None else {}
        h.update({"Content-Type": "application/json", "Accept": accept})
        h.update(headers or {})
        return c, c.request(json.dumps(msg).encode(), h)

    def assert_stream(self, r):
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/event-stream")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(r.getheader("Cache-Control"), "no-cache")
        self.assertEqual(r.getheader("X-Accel-Buffering"), "no")
        return SseReader(r)

    def assert_progress(self, msg, token, n):
        self.assertEqual(msg.get("method"), "notifications/progress", dump(msg))
        self.assertNotIn("id", msg)
        self.assertEqual(msg["params"]["progressToken"], token, dump(msg))
        self.assertEqual(msg["params"]["progress"], n, dump(msg))
        self.assertIn("429", msg["params"]["message"], dump(msg))

    def records(self, request_id):
        return [r for r in audit_records(self.audit, "tool_call") if r.get("request_id") == request_id]


class StreamTests(SseCase):
    """Smoke mode's throttled path: one progress notification, then the result."""

    def test_progress_then_result_as_event_stream(self):
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": THROTTLED_PATH, "request_id": "req-sse"})
        c, r = self.open_call(sid, self.call_msg("call-1", args, token="tok-1"))
        stream = self.assert_stream(r)
        first = stream.next_event()
        self.assert_progress(first, "tok-1", 1)
        # The event came while the call still waited on its retry: it was
        # sent as it arrived, not held back for the answer.
        self.assertEqual(self.records("req-sse"), [])
        rest = stream.all_events()
        self.assertEqual(len(rest), 1, dump(rest))
        self.assertEqual(rest[0]["id"], "call-1", dump(rest))
        sc = tool_result(rest[0])["structuredContent"]
        self.assertEqual(sc["execution"]["body"], {"throttled": False}, dump(sc))
        c.close()
        self.assertEqual([r["outcome"] for r in self.records("req-sse")], ["ok"])
        self.assert_serving()

    def test_keep_alive_connection_serves_the_next_request(self):
        """The stream ended as chunked encoding ends: the connection goes on."""
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": THROTTLED_PATH})
        c, r = self.open_call(sid, self.call_msg(7, args, token=7))
        events = self.assert_stream(r).all_events()
        self.assertEqual([e.get("method") or e.get("id") for e in events], ["notifications/progress", 7])
        self.assertEqual(events[0]["params"]["progressToken"], 7)
        r = c.request(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}).encode(),
                      self.session_headers(sid, {"Content-Type": "application/json", "Accept": BOTH}))
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read())["id"], 8)
        c.close()

    def test_json_without_progress_token(self):
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": THROTTLED_PATH})
        c, r = self.open_call(sid, self.call_msg(2, args))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        body = json.loads(r.read())
        c.close()
        self.assertEqual(body["id"], 2, dump(body))
        self.assertEqual(tool_result(body)["structuredContent"]["execution"]["body"], {"throttled": False})

    def test_json_when_the_client_accepts_only_json(self):
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": THROTTLED_PATH})
        c, r = self.open_call(sid, self.call_msg(3, args, token="tok-3"), accept="application/json")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        body = json.loads(r.read())
        c.close()
        self.assertEqual(body["id"], 3, dump(body))
        tool_result(body)

    def test_json_when_nothing_comes_before_the_answer(self):
        """A progressToken alone does not make a stream: a call that is not
        retried has nothing to send before its answer."""
        self.serve()
        sid = self.initialize()
        c, r = self.open_call(sid, self.call_msg(4, execute_args(), token="tok-4"))
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        body = json.loads(r.read())
        c.close()
        self.assertEqual(body["id"], 4, dump(body))

    def test_accept_forms(self):
        """text/event-stream among other types, with parameters, any case;
        not at q=0, and not through */*."""
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": THROTTLED_PATH})
        for accept, streamed in (("text/html;q=0.5 , TEXT/Event-Stream ; charset=utf-8,application/json", True),
                                 ("application/json, text/event-stream;q=0", False),
                                 ("application/json, text/event-stream; q=0.000", False),
                                 ("application/json, text/event-stream;q=0.1", True),
                                 ("*/*", False)):
            with self.subTest(accept=accept):
                c, r = self.open_call(sid, self.call_msg(5, args, token="t"), accept=accept)
                want = "text/event-stream" if streamed else "application/json"
                self.assertEqual(r.getheader("Content-Type"), want)
                r.read()
                c.close()


class LeavingTests(SseCase):
    def test_client_leaving_a_json_call_cancels_it(self):
        """Not streamed (Accept: application/json): the close is seen all
        the same, while the call waits."""
        self.serve()
        sid = self.initialize()
        args = execute_args({"operation.path": SLOW_PATH, "request_id": "req-json-leaves"})
        c = self.conn()
        c.request("POST", "/mcp", body=json.dumps(self.call_msg(1, args)),
                  headers=self.session_headers(sid, {"Content-Type": "application/json", "Accept": "application/json"}))
        time.sleep(0.3)  # the call is in tokend (SLOW_PATH takes longer)
        c.close()
        self.assertTrue(harness.wait_until(lambda: self.records("req-json-leaves")), self.broker.stderr_text()[-2000:])
        self.assertEqual([r["outcome"] for r in self.records("req-json-leaves")], ["cancelled"])
        self.assert_serving()

    def test_stateless_era_call_streams_too(self):
        """A 2026-07-28 request, with no Mcp-Session-Id, streams the same way."""
        self.serve()
        args = execute_args({"operation.path": THROTTLED_PATH})
        msg = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": EXECUTE_TOOL, "arguments": args,
                          "_meta": dict(MODERN_META, progressToken="m-1")}}
        c, r = self.open_call(None, msg, headers={"MCP-Protocol-Version": MODERN})
        events = self.assert_stream(r).all_events()
        c.close()
        self.assertEqual(len(events), 2, dump(events))
        self.assert_progress(events[0], "m-1", 1)
        self.assertEqual(events[1]["id"], 9)
        tool_result(events[1])


class MockStreamTests(MockGraphCase, SseCase):
    """Against the TLS mock of Graph, which keeps answering 429."""

    def serve_mock(self, extra=None):
        self.serve(self.mock_env(extra))
        return self.initialize()

    def test_client_leaving_mid_stream_cancels_the_call(self):
        self.mock.set_fault("graph", "429", retry_after=3, count=3)
        sid = self.serve_mock()
        args = self.mock_args({"request_id": "req-leaves"})
        c, r = self.open_call(sid, self.call_msg("leave-1", args, token="tok-l"))
        self.assert_progress(self.assert_stream(r).next_event(), "tok-l", 1)
        c.close()
        self.assertTrue(harness.wait_until(lambda: self.records("req-leaves"), timeout=harness.DEFAULT_TIMEOUT),
                        self.broker.stderr_text()[-2000:])
        self.assertEqual([r["outcome"] for r in self.records("req-leaves")], ["cancelled"])
        self.assertTrue(harness.wait_until(lambda: "left while its call waited" in self.broker.stderr_text()),
                        self.broker.stderr_text()[-2000:])
        # tokend stopped retrying: the first 429 is the only Graph request,
        # though it asked for another after 3 s.
        time.sleep(3.5)
        self.assertEqual([r["status"] for r in self.mock.graph_requests()], [429])
        self.assert_serving()

    def test_stream_outlasts_the_request_timeout(self):
        """A stream waiting for its next event is no idle connection:
        MCP_AUTH_BROKER_HTTP_REQUEST_TIMEOUT_SECONDS (1 s here) does not
        end it during Retry-After waits of 2 s."""
        self.mock.set_fault("graph", "429", retry_after=2, count=2)
        sid = self.serve_mock({"MCP_AUTH_BROKER_HTTP_REQUEST_TIMEOUT_SECONDS": "1"})
        args = self.mock_args({"request_id": "req-long", "timeout_ms": 60000})
        c, r = self.open_call(sid, self.call_msg("long-1", args, token="tok-w"), timeout=60)
        events = self.assert_stream(r).all_events()
        c.close()
        self.assertEqual(len(events), 3, dump(events))
        for n, e in enumerate(events[:2], 1):
            self.assert_progress(e, "tok-w", n)
        self.assertEqual(tool_result(events[2])["structuredContent"]["execution"]["http_status"], 200)

    def test_sigterm_ends_the_stream_with_the_cancellation(self):
        self.mock.set_fault("graph", "429", retry_after=5)
        sid = self.serve_mock({"MCP_AUTH_BROKER_SHUTDOWN_GRACE_SECONDS": "0"})
        args = self.mock_args({"request_id": "req-term", "timeout_ms": 60000})
        c, r = self.open_call(sid, self.call_msg("term-1", args, token="tok-t"), timeout=60)
        stream = self.assert_stream(r)
        self.assert_progress(stream.next_event(), "tok-t", 1)
        self.broker.proc.send_signal(signal.SIGTERM)
        rest = stream.all_events()
        self.assertEqual(len(rest), 1, dump(rest))
        self.assertEqual(rest[0]["id"], "term-1")
        result = tool_result(rest[0])
        err = result["structuredContent"]["error"]
        self.assertEqual((err["code"], err["retryable"]), ("provider.unavailable", True), dump(result))
        c.close()
        self.assertEqual(self.broker.proc.wait(timeout=30), 0, self.broker.stderr_text()[-2000:])


if __name__ == "__main__":
    harness.main()
