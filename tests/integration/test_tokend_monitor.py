# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""tokend is the monitor: a hostile brokerd gains nothing policy refuses.

This test plays a compromised brokerd.  It starts the real secretd and the
real tokend as brokerd would (channels at descriptors 3 and 4, the
secretd-tokend pair between them) against the TLS mock of the login
endpoint and Graph, then writes to tokend's channel what an attacker who
runs code in brokerd could write.

tokend decodes every request with the typed codec (common/msg.c) and
decides it again with brokerd's own policy code (common/policy.c) on its own
copy of the configuration.  A request that policy refuses is a broken
invariant: tokend logs it and exits before it mints or sends anything (and
brokerd, seeing its child die, exits 70: tests/integration/test_child_death.py).

For each attack the test checks what an attacker would want: no byte
reaches a second local server (a listening socket that must not even see a
connection), no login request names anything but the configured resource,
and no request reaches Graph at all.  One allowed request is served, so the
set-up is shown to work and the refusals are refusals of the attack.
"""

import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

HDR = struct.Struct("=IIQII")
MSG_EXEC_REQ, MSG_EXEC_ANS, MSG_DESCRIBE_REQ, MSG_DESCRIBE_ANS = 1, 2, 3, 4
MSG_TOKEN_STATS = 48  # tokend -> brokerd, id 0: its counters (common/ipc.h)

TENANT = harness.MOCK_TENANT


class Children:
    """secretd and tokend as brokerd starts them; this process holds
    brokerd's end of each channel."""

    def __init__(self, st, env):
        self.to_secretd, sd_end = socket.socketpair()
        self.to_tokend, td_end = socket.socketpair()
        peer_sd, peer_td = socket.socketpair()
        self.procs = {}
        self.logs = {}
        for name, parent_end, peer_end in (("secretd", sd_end, peer_sd), ("tokend", td_end, peer_td)):
            self.procs[name] = self._spawn(st, env, name, parent_end, peer_end)
        for s in (sd_end, td_end, peer_sd, peer_td):
            s.close()

    def _spawn(self, st, env, name, parent_end, peer_end):
        def at_3_and_4():
            # Moved above 10 first, so that neither dup2 clobbers the other.
            high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 10) for s in (parent_end, peer_end)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        proc = subprocess.Popen(
            [os.path.join(st.libexecdir, name)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=harness.base_env(st, env), preexec_fn=at_3_and_4, close_fds=False)
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read1(4096), b"")),
                                  daemon=True)
        reader.start()
        self.logs[name] = (chunks, reader)
        return proc

    def log(self, name):
        """What the process wrote to stderr; all of it once it has exited."""
        chunks, reader = self.logs[name]
        if self.procs[name].poll() is not None:
            reader.join(timeout=5)
        return b"".join(chunks).decode("utf-8", "replace")

    def send(self, msg_type, msg_id, payload):
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        self.to_tokend.sendall(HDR.pack(msg_type, 0, msg_id, len(data), 0) + data)

    def recv(self, timeout=harness.DEFAULT_TIMEOUT, skip=(45,)):
        """(type, id, payload) of tokend's next message, or None at its end;
        the key sets (MSG_JWKS) and counters (TOKEN_STATS, id 0, for GET
        /metrics) tokend sends unasked are skipped, as brokerd takes them aside."""
        while True:
            got = self._recv_one(timeout)
            if got is not None and got[0] == MSG_TOKEN_STATS:
                assert got[1] == 0, "TOKEN_STATS with id %d" % got[1]
                continue
            if got is None or got[0] not in skip:
                return got

    def _recv_one(self, timeout):
        self.to_tokend.settimeout(timeout)
        head = b""
        while len(head) < HDR.size:
            chunk = self.to_tokend.recv(HDR.size - len(head))
            if not chunk:
                return None
            head += chunk
        msg_type, _, msg_id, length, _ = HDR.unpack(head)
        data = b""
        while len(data) < length:
            data += self.to_tokend.recv(length - len(data))
        return msg_type, msg_id, json.loads(data)

    def tokend_status(self, timeout=harness.DEFAULT_TIMEOUT):
        return self.procs["tokend"].wait(timeout=timeout)

    def close(self):
        for s in (self.to_secretd, self.to_tokend):
            s.close()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.logs[name][1].join(timeout=5)
            proc.stderr.close()


class HostileBrokerdCase(harness.MockGraphCase):
    """The real secretd and tokend, this process holding brokerd's ends of
    their channels, against the mock; exec_req is an allowed EXEC_REQ with
    edits (a None value removes the member)."""

    def start(self, extra=None):
        kids = Children(self.stage, self.mock_env(extra))
        self.addCleanup(kids.close)
        return kids

    def exec_req(self, **changes):
        req = {"token_only": False, "request_id": "r-1", "requester_id": "attacker",
               "tenant_id": TENANT, "resource": self.mock.base_url, "scopes": ["User.Read.All"],
               "method": "GET", "path": "/v1.0/users", "headers": {}, "timeout_ms": 5000,
               "max_pages": 1}
        req.update(changes)
        return {k: v for k, v in req.items() if v is not None}


class HostileBrokerd(HostileBrokerdCase):

    def setUp(self):
        super().setUp()
        # The second local server the attacker wants the token sent to.
        # A connection waiting in its backlog is enough to fail.
        self.bait = socket.socket()
        self.bait.bind(("127.0.0.1", 0))
        self.bait.listen(16)
        self.addCleanup(self.bait.close)
        self.bait_url = "https://127.0.0.1:%d" % self.bait.getsockname()[1]

    def assert_nothing_sent(self):
        self.assertEqual(self.mock.graph_requests(), [], "a request reached Graph")
        for rec in self.mock.token_requests():
            self.assertEqual(rec["resource"], self.mock.base_url,
                             "a login named another resource: %r" % rec)
        readable, _, _ = select.select([self.bait], [], [], 0.2)
        self.assertEqual(readable, [], "tokend connected to the second server")

    def assert_refused(self, kids, msg_type, payload, why="broken invariant"):
        kids.send(msg_type, 7, payload)
        self.assertIsNone(kids.recv(), "tokend answered a request policy refuses")
        self.assertNotEqual(kids.tokend_status(), 0)
        self.assertIn(why, kids.log("tokend"))
        self.assert_nothing_sent()
        self.assertEqual(self.mock.token_requests(), [], "tokend logged in for a refused request")

    # -- the control: an allowed request is served --------------------------

    def test_allowed_request_is_served(self):
        kids = self.start()
        kids.send(MSG_EXEC_REQ, 1, self.exec_req(query="$top=1", headers={"consistency-level": "eventual"}))
        msg_type, msg_id, ans = kids.recv()
        self.assertEqual((msg_type, msg_id), (MSG_EXEC_ANS, 1), ans)
        self.assertTrue(ans["ok"], ans)
        self.assertEqual(ans["execution"]["http_status"], 200)
        [graph] = self.mock.graph_requests()
        self.assertEqual((graph["path"], graph["query"]), ("/v1.0/users", "$top=1"))
        self.assertEqual(graph["header_map"].get("consistency-level"), "eventual")
        self.assertEqual(graph["host"], self.mock.base_url[len("https://"):])
        readable, _, _ = select.select([self.bait], [], [], 0.2)
        self.assertEqual(readable, [])

    # -- where the token goes --------------------------------------------------

    def test_path_naming_another_host(self):
        port = self.bait.getsockname()[1]
        for path in ("@127.0.0.1:%d/v1.0/x" % port, "//127.0.0.1:%d/v1.0/x" % port,
                     "/v1.0/x@127.0.0.1:%d" % port):
            with self.subTest(path=path):
                self.assert_refused(self.start(), MSG_EXEC_REQ, self.exec_req(path=path))

    def test_unconfigured_resource_is_neither_minted_nor_called(self):
        for resource in (self.bait_url, "https://management.azure.com"):
            with self.subTest(resource=resource):
                self.assert_refused(self.start(), MSG_EXEC_REQ, self.exec_req(resource=resource))

    def test_token_only_for_an_unconfigured_resource(self):
        self.assert_refused(self.start(), MSG_EXEC_REQ,
                            {"token_only": True, "tenant_id": TENANT, "resource": self.bait_url,
                             "timeout_ms": 5000})

    def test_describe_of_an_unconfigured_resource(self):
        self.assert_refused(self.start(), MSG_DESCRIBE_REQ, {"resource": self.bait_url})

    # -- what reaches Graph ------------------------------------------------------

    def test_injected_headers(self):
        for headers in ({"prefer": "x\r\nAuthorization: Bearer stolen"},
                        {"authorization": "Bearer chosen-by-the-attacker"},
                        {"Authorization": "Bearer chosen-by-the-attacker"},
                        {"x-evil": "1"},
                        {"accept": "application/json", "Accept": "text/plain"}):
            with self.subTest(headers=headers):
                self.assert_refused(self.start(), MSG_EXEC_REQ, self.exec_req(headers=headers))

    def test_requests_policy_refuses(self):
        cases = {
            "tenant": self.exec_req(tenant_id="00000000-0000-0000-0000-000000000000"),
            "scope": self.exec_req(scopes=["Directory.ReadWrite.All"]),
            "mutation": self.exec_req(method="DELETE", path="/v1.0/users/x"),
            "traversal": self.exec_req(path="/v1.0/users/../../admin"),
            "query": self.exec_req(query="a b\r\nHost: evil"),
            "identity": self.exec_req(requester_id=""),
        }
        for name, req in cases.items():
            with self.subTest(case=name):
                self.assert_refused(self.start(), MSG_EXEC_REQ, req,
                                    why="malformed EXEC_REQ" if name == "identity" else "broken invariant")

    def test_path_outside_the_allowlist(self):
        extra = {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users"}
        self.assert_refused(self.start(extra), MSG_EXEC_REQ, self.exec_req(path="/v1.0/groups"))

    def test_batch_smuggling_refused_requests(self):
        # Each sub-request is judged as if sent alone: the envelope's POST to
        # an allowed $batch does not carry a DELETE or an addPassword along.
        extra = {"MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
                 "MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users,GET:/v1.0/users/*,POST:/v1.0/$batch"}
        batch = {"requests": [
            {"id": "1", "method": "GET", "url": "/users/x"},
            {"id": "2", "method": "DELETE", "url": "/users/x"},
            {"id": "3", "method": "POST", "url": "/servicePrincipals/x/addPassword",
             "headers": {"content-type": "application/json"}, "body": {}}]}
        self.assert_refused(self.start(extra), MSG_EXEC_REQ, self.exec_req(
            method="POST", path="/v1.0/$batch", body=batch,
            headers={"content-type": "application/json"}))

    def test_expand_reaching_past_the_allowlist(self):
        extra = {"MCP_AUTH_BROKER_ALLOWED_PATHS": "GET:/v1.0/users/*"}
        self.assert_refused(self.start(extra), MSG_EXEC_REQ, self.exec_req(
            path="/v1.0/users/x", query="$expand=memberOf,ownedObjects"))

    def test_malformed_requests(self):
        for payload in (b"not json", self.exec_req(extra_member=1),
                        self.exec_req(timeout_ms=10 ** 9), self.exec_req(method=None)):
            with self.subTest(payload=payload):
                self.assert_refused(self.start(), MSG_EXEC_REQ, payload, why="malformed EXEC_REQ")



sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from oauth_issuer import Issuer  # noqa: E402

ROLE = "Graph.Writer"


class HostileCaller(HostileBrokerdCase):
    """Issue 11, the monitor rule for callers: brokerd passes the credential
    each HTTP caller presented, and tokend proves it itself (its own key
    file, its own fetch of the issuer's keys, the same bearer code) before
    it applies that caller's rules.  A brokerd compromised by one caller
    cannot name another, forge a token, or lend itself a role."""

    def setUp(self):
        super().setUp()
        self.issuer = Issuer("%s/%s/v2.0" % (self.mock.base_url, TENANT))
        self.mock.set_issuer(self.issuer)
        self.resource_url = "http://127.0.0.1:1/mcp"
        self.keys = os.path.join(self.tmp, "api-keys")
        with open(self.keys, "w") as f:
            f.write("ci-agent %s %s\n" % (hashlib.sha256(b"ci-agent-key").hexdigest(), ROLE))
            f.write("reader %s\n" % hashlib.sha256(b"reader-key").hexdigest())
        os.chmod(self.keys, 0o600)

    def start_oauth(self):
        kids = self.start({"MCP_AUTH_BROKER_AUTH_MODE": "hybrid",
                           "MCP_AUTH_BROKER_API_KEYS_FILE": self.keys,
                           "MCP_AUTH_BROKER_RESOURCE_SERVER_URL": self.resource_url,
                           "MCP_AUTH_BROKER_ENABLE_MUTATIONS": "true",
                           "MCP_AUTH_BROKER_MUTATIONS_REQUIRED_ROLE": ROLE})
        msg_type, _, _ = kids.recv(skip=())  # the key set, fetched
        self.assertEqual(msg_type, 45)
        return kids

    def token(self, oid, **claims):
        claims.setdefault("aud", self.resource_url)
        return self.issuer.mint(oid=oid, **claims)

    def caller(self, credential, method="oauth"):
        return {"method": method, "credential": credential}

    def assert_caller_refused(self, req, why):
        kids = self.start_oauth()
        kids.send(MSG_EXEC_REQ, 7, req)
        self.assertIsNone(kids.recv(), "tokend served a caller it could not prove")
        self.assertNotEqual(kids.tokend_status(), 0)
        self.assertIn("broken invariant", kids.log("tokend"))
        self.assertIn(why, kids.log("tokend"))
        self.assertEqual(self.mock.graph_requests(), [], "a request reached Graph")

    def test_the_caller_brokerd_names_is_served(self):
        kids = self.start_oauth()
        kids.send(MSG_EXEC_REQ, 1, self.exec_req(requester_id="alice",
                                                 caller=self.caller(self.token("alice"))))
        msg_type, _, ans = kids.recv()
        self.assertEqual(msg_type, MSG_EXEC_ANS)
        self.assertTrue(ans["ok"], ans)
        kids.send(MSG_EXEC_REQ, 2, self.exec_req(method="POST", path="/v1.0/users", body={"a": 1},
                                                 requester_id="alice",
                                                 caller=self.caller(self.token("alice", roles=[ROLE]))))
        msg_type, _, ans = kids.recv()
        self.assertEqual(msg_type, MSG_EXEC_ANS)
        self.assertIn("execution", ans, ans)
        kids.send(MSG_EXEC_REQ, 3, self.exec_req(method="DELETE", path="/v1.0/users/x", requester_id="ci-agent",
                                                 caller=self.caller("ci-agent-key", "api_key")))
        msg_type, _, ans = kids.recv()
        self.assertIn("execution", ans, ans)
        self.assertEqual([r["method"] for r in self.mock.graph_requests()], ["GET", "POST", "DELETE"])

    def test_another_callers_token(self):
        self.assert_caller_refused(self.exec_req(requester_id="bob", caller=self.caller(self.token("alice"))),
                                   "another caller than the requester")

    def test_forged_tokens(self):
        good = self.token("alice")
        h, p, sig = good.split(".")
        other = Issuer(self.issuer.issuer)
        forged = {
            "unlisted key": self.token("alice", key=self.issuer.unlisted()),
            "another issuer's key under a listed kid": self.issuer.mint(
                aud=self.resource_url, oid="alice", key=other.rsa, header={"kid": self.issuer.rsa.kid}),
            "payload swapped": "%s.%s.%s" % (h, self.token("mallory").split(".")[1], sig),
            "alg none": self.issuer.forge_none(self.resource_url, oid="alice"),
            "wrong audience": self.token("alice", aud="https://elsewhere.example/mcp"),
        }
        for name, tok in forged.items():
            with self.subTest(name):
                self.mock.graph_requests().clear()
                self.assert_caller_refused(self.exec_req(requester_id="alice", caller=self.caller(tok)),
                                           "does not prove its requester")

    def test_api_keys(self):
        self.assert_caller_refused(self.exec_req(requester_id="ci-agent", caller=self.caller("guessed", "api_key")),
                                   "not in the key file")
        self.assert_caller_refused(self.exec_req(requester_id="ci-agent", caller=self.caller("reader-key", "api_key")),
                                   "another caller than the requester")

    def test_a_role_brokerd_lends_is_not_held(self):
        """The role comes from the credential tokend verified: a mutation for
        a caller without it, or for no caller at all, is refused by policy."""
        for name, caller, requester in (("no caller", None, "alice"),
                                        ("token without the role", self.token("alice"), "alice"),
                                        ("key without the role", "reader-key", "reader")):
            with self.subTest(name):
                req = self.exec_req(method="POST", path="/v1.0/users", body={"a": 1}, requester_id=requester)
                if caller is not None:
                    req["caller"] = self.caller(caller, "api_key" if caller == "reader-key" else "oauth")
                kids = self.start_oauth()
                kids.send(MSG_EXEC_REQ, 7, req)
                self.assertIsNone(kids.recv())
                self.assertIn("policy.rule.deny.caller.role", kids.log("tokend"))
                self.assertEqual(self.mock.graph_requests(), [])

    def test_a_token_that_expired_on_its_way_is_answered_not_fatal(self):
        import time
        kids = self.start_oauth()
        past = int(time.time()) - 600
        kids.send(MSG_EXEC_REQ, 1, self.exec_req(requester_id="alice",
                                                 caller=self.caller(self.token("alice", exp=past, nbf=past - 60))))
        msg_type, _, ans = kids.recv()
        self.assertEqual(msg_type, MSG_EXEC_ANS)
        self.assertFalse(ans["ok"], ans)
        self.assertEqual(ans["error"]["code"], "policy.missing_identity")
        kids.send(MSG_EXEC_REQ, 2, self.exec_req(requester_id="alice", caller=self.caller(self.token("alice"))))
        msg_type, _, ans = kids.recv()
        self.assertTrue(ans["ok"], ans)

if __name__ == "__main__":
    harness.main()
