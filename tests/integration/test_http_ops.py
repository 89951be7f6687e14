# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""brokerd --http's operations endpoints (issue 11, item 4): GET /ready as
--ready decides it, from the running daemon and cached; GET /metrics in the
Prometheus text format, read by a strict parser of format 0.0.4; who may
read /metrics (MCP_AUTH_BROKER_HTTP_METRICS); and --check --http."""

import http.client
import json
import os
import re
import socket
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import EXECUTE_TOOL, MockGraphCase, execute_args, tool_result  # noqa: E402
from test_http import KEY, MODERN_META, HttpCase, free_port, write_keys  # noqa: E402

PREFIX = "mcp_auth_broker_"
STORM = 12

# ---- a strict reader of the text exposition format 0.0.4 -------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABELS = r"\{(?:[a-zA-Z_][a-zA-Z0-9_]*=%s(?:,[a-zA-Z_][a-zA-Z0-9_]*=%s)*)?\}" % (LABEL_VALUE, LABEL_VALUE)
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+)|[+-]Inf|NaN)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)(?: -?[0-9]+)?$" % (NAME, LABELS, VALUE))
HELP = re.compile(r"^# HELP (%s) (?:[^\\\n]|\\[\\n])*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_metrics(text):
    """{(name, ((label, value), ...)): float}, every line checked against
    the format: HELP and TYPE once per family and before its samples,
    counters named *_total, histogram samples _bucket/_sum/_count with
    cumulative buckets ending in +Inf equal to _count."""
    if not text.endswith("\n"):
        raise AssertionError("the exposition does not end with a line feed")
    types, helped, samples = {}, set(), {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        m = HELP.match(line)
        if m:
            if m.group(1) in helped:
                raise AssertionError("line %d: second HELP for %s" % (n, m.group(1)))
            helped.add(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            if m.group(1) in types:
                raise AssertionError("line %d: second TYPE for %s" % (n, m.group(1)))
            types[m.group(1)] = m.group(2)
            if m.group(2) == "counter" and not m.group(1).endswith("_total"):
                raise AssertionError("line %d: counter %s does not end in _total" % (n, m.group(1)))
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("line %d is not in the text format: %r" % (n, line))
        name, labels = m.group(1), m.group(2) or "{}"
        family = name
        if name not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if types.get(family) != "histogram":
                raise AssertionError("line %d: sample %s before its TYPE" % (n, name))
        if family not in helped:
            raise AssertionError("line %d: %s has no HELP" % (n, family))
        pairs = tuple(
            (k, unescape(v)) for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\]|\\.)*")', labels)
        )
        pairs = tuple(sorted((k, v[1:-1]) for k, v in pairs))
        key = (name, pairs)
        if key in samples:
            raise AssertionError("line %d: %s%s twice" % (n, name, labels))
        samples[key] = float(m.group(3))
    for family, kind in types.items():
        if kind != "histogram":
            continue
        buckets = sorted(
            ((float(dict(k[1])["le"]), v) for k, v in samples.items() if k[0] == family + "_bucket"),
        )
        counts = [v for _, v in buckets]
        if not buckets or buckets[-1][0] != float("inf") or counts != sorted(counts):
            raise AssertionError("%s: buckets not cumulative up to +Inf" % family)
        if counts[-1] != samples[(family + "_count", ())] or (family + "_sum", ()) not in samples:
            raise AssertionError("%s: +Inf bucket differs from _count, or no _sum" % family)
    return samples


def metric(samples, name, **labels):
    return samples.get((PREFIX + name, tuple(sorted(labels.items()))), 0.0)


class ParserSelfTest(harness.unittest.TestCase):
    """The parser refuses what the format forbids (else the tests below prove little)."""

    def test_refuses_bad_lines(self):
        good = '# HELP x_total h\n# TYPE x_total counter\nx_total{a="b\\"c"} 1\n'
        self.assertEqual(parse_metrics(good), {("x_total", (("a", 'b"c'),)): 1.0})
        for bad in ('x_total 1\n', '# HELP x_total h\n# TYPE x_total counter\nx_total{a="b} 1\n',
                    '# HELP x h\n# TYPE x counter\nx 1\n', '# HELP x_total h\n# TYPE x_total counter\nx_total 1',
                    '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n'):
            with self.subTest(text=bad):
                with self.assertRaises(AssertionError):
                    parse_metrics(bad)


# ---- helpers -------------------------------------------------------------------


class OpsMixin:
    def get(self, path, headers=None, host="127.0.0.1", family=socket.AF_INET):
        """(status, headers lower-cased, body text)."""
        c = http.client.HTTPConnection(host, self.port, timeout=60 if harness.UNDER_WRAPPER else 20)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode("utf-8")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, body

    def scrape(self, headers=None):
        status, hdrs, body = self.get("/metrics", headers)
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return parse_metrics(body)

    def storm(self, path, n=STORM):
        """n GET path at once, each on its own connection: [(status, body)]."""
        results = [None] * n
        go = threading.Barrier(n)

        def one(i):
            go.wait()
            status, _, body = self.get(path)
            results[i] = (status, body)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertTrue(all(r is not None for r in results), results)
        return results

    def call(self, args, req_id):
        body = {"jsonrpc": "2.0", "id": req_id, "method": "tools/call",
                "params": {"name": EXECUTE_TOOL, "arguments": args, "_meta": MODERN_META}}
        status, _, answer = self.post(body)
        self.assertEqual(status, 200, answer)
        return tool_result(answer)


# ---- GET /ready ------------------------------------------------------------------


class ReadyTests(OpsMixin, MockGraphCase, HttpCase):
    """Against the TLS mock of the login endpoint."""

    def setUp(self):
        MockGraphCase.setUp(self)

    def serve_mock(self, extra=None):
        return self.serve(self.mock_env(extra))

    def ready_body(self, body):
        doc = json.loads(body)
        self.assertEqual(set(doc), {"status", "resources"})
        self.assertEqual([r["resource"] for r in doc["resources"]], [self.mock.base_url])
        # Nothing but a code: no message, no expiry, no token, no secret.
        for r in doc["resources"]:
            self.assertEqual(set(r), {"resource", "status"})
        for needle in [self.secret, self.mock_entra.TOKEN_PREFIX, "AADSTS", "expires"] + self.mock.issued_tokens():
            self.assertNotIn(needle, body)
        return doc

    def test_storm_makes_one_login_and_is_cached(self):
        self.serve_mock({"MCP_AUTH_BROKER_HTTP_READY_CACHE_SECONDS": "300"})
        results = self.storm("/ready")
        for status, body in results:
            self.assertEqual(status, 200, body)
            doc = self.ready_body(body)
            self.assertEqual(doc["status"], "ready")
            self.assertEqual(doc["resources"][0]["status"], "ok")
        self.assertEqual(len(self.mock.token_requests()), 1)
        before = self.scrape()
        self.assertEqual(metric(before, "token_mints_total"), 1)
        # Within the cache time no probe reaches tokend: not even a cache hit.
        for status, body in self.storm("/ready"):
            self.assertEqual(status, 200, body)
        after = self.scrape()
        self.assertEqual(metric(after, "token_cache_hits_total"), metric(before, "token_cache_hits_total"))
        self.assertEqual(len(self.mock.token_requests()), 1)

    def test_cached_token_counts(self):
        """With no result cache, each probe asks tokend, which answers from its token cache."""
        self.serve_mock({"MCP_AUTH_BROKER_HTTP_READY_CACHE_SECONDS": "0"})
        for _ in range(2):
            status, _, body = self.get("/ready")
            self.assertEqual(status, 200, body)
        samples = self.scrape()
        self.assertEqual(metric(samples, "token_mints_total"), 1)
        self.assertEqual(metric(samples, "token_cache_hits_total"), 1)
        self.assertEqual(len(self.mock.token_requests()), 1)

    def test_503_when_the_login_fails(self):
        self.mock.set_fault("token", "unknown_app")
        self.serve_mock({"MCP_AUTH_BROKER_HTTP_READY_CACHE_SECONDS": "300"})
        results = self.storm("/ready")
        for status, body in results:
            self.assertEqual(status, 503, body)
            doc = self.ready_body(body)
            self.assertEqual(doc["status"], "not_ready")
            self.assertRegex(doc["resources"][0]["status"], r"^(provider|secret)\.[a-z_]+$")
        logins = len(self.mock.token_requests())
        self.assertGreaterEqual(logins, 1)
        # The login endpoint is well again, but the result is cached: no login.
        self.mock.clear_faults()
        for status, body in self.storm("/ready"):
            self.assertEqual(status, 503, body)
        self.assertEqual(len(self.mock.token_requests()), logins)
        self.assertEqual(metric(self.scrape(), "token_mint_failures_total"), 1)

    def test_ready_needs_no_key_and_says_nothing_of_it(self):
        keys = os.path.join(self.tmp, "keys")
        write_keys(keys, [("alice", KEY)])
        self.serve_mock({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys})
        status, _, body = self.get("/ready", {"Host": "probe.invalid"})
        self.assertEqual(status, 200, body)
        self.ready_body(body)
        self.assertNotIn("alice", body)


# ---- GET /metrics ----------------------------------------------------------------


class MetricsTests(OpsMixin, HttpCase):
    """In smoke mode: tokend's built-in login counts as a mint."""

    def test_counters_move_with_calls(self):
        self.serve()
        samples = self.scrape()
        self.assertEqual(metric(samples, "tool_call_duration_seconds_count"), 0)
        self.assertEqual(metric(samples, "jwks_refreshes_total"), 0)
        self.assertFalse(self.call(execute_args(), "a")["isError"])
        samples = self.scrape()
        self.assertEqual(metric(samples, "token_mints_total"), 1)
        self.assertEqual(metric(samples, "token_cache_hits_total"), 0)
        self.assertFalse(self.call(execute_args(), "b")["isError"])
        denied = self.call(execute_args({"graph.resource": "https://evil.example"}), "c")
        self.assertEqual(denied["structuredContent"]["error"]["code"], "policy.denied")
        samples = self.scrape()
        self.assertEqual(metric(samples, "token_mints_total"), 1)
        self.assertEqual(metric(samples, "token_cache_hits_total"), 1)
        self.assertEqual(metric(samples, "token_mint_failures_total"), 0)
        self.assertEqual(metric(samples, "tool_calls_total", tool=EXECUTE_TOOL, code="ok"), 2)
        self.assertEqual(metric(samples, "tool_calls_total", tool=EXECUTE_TOOL, code="policy.denied"), 1)
        self.assertEqual(metric(samples, "tool_call_duration_seconds_count"), 3)
        self.assertEqual(metric(samples, "tool_call_duration_seconds_bucket", le="+Inf"), 3)

    def test_sessions_by_transport(self):
        self.serve()
        self.assertEqual(metric(self.scrape(), "sessions", transport="http"), 0)
        sid = self.initialize()
        samples = self.scrape()
        self.assertEqual(metric(samples, "sessions", transport="http"), 1)
        self.assertEqual(metric(samples, "sessions", transport="unix"), 0)
        c = self.conn()
        c.request("DELETE", "/mcp", headers=self.session_headers(sid))
        self.assertEqual(c.getresponse().status, 204)
        c.close()
        self.assertEqual(metric(self.scrape(), "sessions", transport="http"), 0)

    def test_refusals_by_reason(self):
        self.serve({"MCP_AUTH_BROKER_MAX_MESSAGE_BYTES": "4096"})
        msg = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}
        self.post(msg, {"Host": "evil.example"})
        self.post(msg, {"Origin": "https://evil.example"})
        self.post(msg, {"MCP-Protocol-Version": "1999-01-01"})
        self.post(msg, raw="x" * 5000)
        self.post(msg, {"Content-Type": "text/plain"})
        self.post(msg, raw="{not json")
        self.post(msg, raw="[]")
        self.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        self.post(msg, {"Mcp-Session-Id": "0" * 32})
        self.assertEqual(self.get("/nowhere")[0], 404)
        c = self.conn()
        c.request("GET", "/mcp")
        self.assertEqual(c.getresponse().status, 405)
        c.close()
        samples = self.scrape()
        want = {"host": 1, "origin": 1, "protocol_version": 1, "body_too_large": 1, "media_type": 1,
                "parse_error": 1, "batch": 1, "session_required": 1, "session_unknown": 1,
                "not_found": 1, "method": 1, "auth": 0, "metrics_peer": 0, "stopping": 0, "sessions_full": 0}
        got = {dict(k[1])["reason"]: v for k, v in samples.items() if k[0] == PREFIX + "http_refusals_total"}
        self.assertEqual(got, want)

    def test_off_is_404(self):
        self.serve({"MCP_AUTH_BROKER_HTTP_METRICS": "off"})
        status, _, body = self.get("/metrics")
        self.assertEqual(status, 404, body)
        self.assertNotIn(PREFIX, body)

    def test_on_asks_for_a_key(self):
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        self.serve({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys,
                    "MCP_AUTH_BROKER_HTTP_METRICS": "on"})
        status, hdrs, body = self.get("/metrics")
        self.assertEqual(status, 401, body)
        self.assertIn("www-authenticate", hdrs)
        samples = self.scrape({"Authorization": "Bearer " + KEY})
        self.assertEqual(metric(samples, "http_refusals_total", reason="auth"), 1)

    def test_loopback_needs_no_key_and_refuses_browsers(self):
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        self.serve({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys})
        self.scrape()
        status, _, body = self.get("/metrics", {"Origin": "https://evil.example"})
        self.assertEqual(status, 403, body)

    def test_dual_stack_sees_ipv4_loopback_as_loopback(self):
        """On [::], a peer at 127.0.0.1 arrives as ::ffff:127.0.0.1: still loopback."""
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::", 0))
        except OSError:
            self.skipTest("no IPv6")
        with open("/proc/sys/net/ipv6/bindv6only") as f:
            if f.read().strip() != "0":
                self.skipTest("IPv6 sockets are v6-only here")
        keys = os.path.join(tempfile.mkdtemp(prefix="mab-keys-"), "k")
        write_keys(keys, [("alice", KEY)])
        self.serve({"MCP_AUTH_BROKER_AUTH_MODE": "api_key", "MCP_AUTH_BROKER_API_KEYS_FILE": keys,
                    "MCP_AUTH_BROKER_HTTP_BEHIND_PROXY": "true"}, host="[::]")
        self.scrape()
        self.assertEqual(metric(self.scrape(), "http_refusals_total", reason="metrics_peer"), 0)


# ---- --check --http ----------------------------------------------------------


class CheckTests(HttpCase):
    def test_check_says_where_metrics_is(self):
        port = free_port()
        status, out, err = harness.run_once(self.stage, ["--check", "--http", "127.0.0.1:%d" % port], {})
        self.assertRegex(out, r"ok\s+http\s+http://127\.0\.0\.1:%d/mcp \(auth none\);.*/metrics at "
                              r"http://127\.0\.0\.1:%d/metrics for peers on a loopback address only" % (port, port))
        status, out, err = harness.run_once(self.stage, ["--check", "--http", "127.0.0.1:%d" % port],
                                            {"MCP_AUTH_BROKER_HTTP_METRICS": "off"})
        self.assertRegex(out, r"ok\s+http\s+.*/metrics off")
        status, out, err = harness.run_once(self.stage, ["--check", "--http", "0.0.0.0:%d" % port], {})
        self.assertEqual(status, 1, out + err)
        self.assertRegex(out, r"fail\s+http\s+0\.0\.0\.0:%d: MCP_AUTH_BROKER_AUTH_MODE=none" % port)
        status, out, err = harness.run_once(self.stage, ["--check"], {"MCP_AUTH_BROKER_HTTP_METRICS": "everyone"})
        self.assertEqual(status, 1, out + err)
        self.assertIn("MCP_AUTH_BROKER_HTTP_METRICS", out)
        status, out, err = harness.run_once(self.stage, ["--health", "--http", "127.0.0.1:%d" % port], {})
        self.assertEqual(status, 64, out + err)
        # Without --http, nothing about it (the variable was still checked above).
        status, out, err = harness.run_once(self.stage, ["--check"], {})
        self.assertNotRegex(out, r"(?m)^\w+\s+http\s")

    def test_ready_checks_the_address_and_binds_nothing(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            status, out, err = harness.run_once(self.stage, ["--ready", "--http", "127.0.0.1:%d" % port], {},
                                                timeout=120)
        self.assertEqual(status, 0, out + err)
        self.assertRegex(out, r"ok\s+http\s+http://127\.0\.0\.1:%d/mcp" % port)


if __name__ == "__main__":
    harness.main()
