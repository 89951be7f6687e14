# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

"""secretd's two channels, spoken to directly: this test holds both ends,
as brokerd (descriptor 3) and as tokend (descriptor 4) would.

Confinement: a secret request from brokerd, or one from tokend that names
anything but the configured reference, is refused and logged; the 1Password
token is accepted once, as brokerd's first message.  Caching: the secret is
resolved once per MCP_AUTH_BROKER_SECRET_CACHE_SECONDS; a rotated secret is
picked up when the cache expires, or at once when tokend reports that the
login endpoint rejected the secret (but not twice within 30 s).  brokerd hears of each new secret by its
fingerprint (SECRET_INFO).  Any message type secretd does not take from
brokerd is a broken invariant: secretd exits.
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True  # the source tree may be read-only (distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import secretd_support as sup  # noqa: E402
from secretd_support import (  # noqa: E402
    MSG_OP_TOKEN,
    MSG_SECRET_ANS,
    MSG_SECRET_ERR,
    MSG_SECRET_INFO,
    MSG_SECRET_REQ,
)

OP_REF = "op://Private/graph/secret"
OP_SECRET = b"fake-op-secret-Private-secret"
ROTATING_REF = "op://Private/rotating/secret"


class ChannelTests(harness.BrokerTestCase):
    def setUp(self):
        self.scratch = sup.ScratchDir()
        self.addCleanup(self.scratch.remove)
        self.op = sup.FakeOp(self.scratch)

    def start(self, ref=OP_REF, extra=None, token=sup.OP_TOKEN):
        env = sup.secretd_env("1password", ref, {"MCP_AUTH_BROKER_OP_PATH": self.op.path,
                                                  "HOME": self.scratch.path})
        env.update(extra or {})
        sd = sup.Secretd(self.stage, env)
        self.addCleanup(sd.close)
        if token is not None:
            sd.send(sd.broker, MSG_OP_TOKEN, 0, token)
        return sd

    def assert_refused(self, msg_type, payload, sd):
        self.assertEqual(msg_type, MSG_SECRET_ERR, payload)
        self.assertEqual(sup.error_of(payload)["code"], "secret.access_denied")

    def test_brokerd_may_not_ask_for_the_secret(self):
        sd = self.start()
        sd.send(sd.broker, MSG_SECRET_REQ, 7)
        msg_type, msg_id, payload = sd.recv(sd.broker)
        self.assertEqual(msg_id, 7)
        self.assert_refused(msg_type, payload, sd)
        self.assertEqual(self.op.calls(), [], "secretd resolved the secret for brokerd")
        self.assertIn("refused a secret request from brokerd", sd.log_with("refused a secret"))
        # tokend is still served.
        self.assertEqual(sd.ask_secret(1), (MSG_SECRET_ANS, OP_SECRET))

    def test_only_the_configured_reference(self):
        sd = self.start()
        for payload in ({"reference": "op://Private/other/secret"},
                        {"ref": "op://Private/other/secret", "refresh": True},
                        {"refresh": "yes"}):
            with self.subTest(payload=payload):
                msg_type, answer = sd.ask_secret(2, json.dumps(payload))
                self.assert_refused(msg_type, answer, sd)
        self.assertEqual(self.op.calls(), [], "op ran for a refused request")
        self.assertIn("only the configured reference is ever resolved", sd.log_with("only the configured"))
        self.assertEqual(sd.ask_secret(3), (MSG_SECRET_ANS, OP_SECRET))
        self.assertEqual([c["argv"][-1] for c in self.op.calls()], [OP_REF])

    def test_op_token_accepted_once_and_first(self):
        sd = self.start(token="ops_first")
        sd.send(sd.broker, MSG_OP_TOKEN, 0, "ops_second")
        self.assertEqual(sd.ask_secret(1), (MSG_SECRET_ANS, OP_SECRET))
        self.assertEqual(self.op.calls()[0]["env"]["OP_SERVICE_ACCOUNT_TOKEN"], "ops_first")
        self.assertIn("refused a 1Password token from brokerd", sd.log_with("refused a 1Password"))

    def test_op_token_must_come_first(self):
        sd = self.start(token=None)
        sd.send(sd.broker, MSG_SECRET_REQ, 1)
        status = sd.wait()
        self.assertNotEqual(status, 0, sd.log())
        self.assertIn("not OP_TOKEN", sd.log_with("not OP_TOKEN"))
        self.assertEqual(self.op.calls(), [])

    def test_cached_and_reported_once(self):
        sd = self.start()
        for i in range(3):
            self.assertEqual(sd.ask_secret(10 + i), (MSG_SECRET_ANS, OP_SECRET))
        self.assertEqual(len(self.op.calls()), 1, "op ran for each request")
        infos = [m for m in sd.pending(sd.broker) if m[0] == MSG_SECRET_INFO]
        self.assertEqual(len(infos), 1, infos)
        self.assertEqual(infos[0][1], 0, "SECRET_INFO carries id 0")
        self.assertEqual(json.loads(infos[0][2]),
                         {"fingerprint": sup.fingerprint(OP_SECRET), "provider": "1password"})

    def test_other_message_types_from_brokerd_are_fatal(self):
        # 32 was a status request brokerd never sent: retired, and now as
        # foreign as any type secretd does not take from brokerd.
        for msg_type in (32, MSG_SECRET_ANS, MSG_SECRET_INFO, 1):
            with self.subTest(msg_type=msg_type):
                sd = self.start()
                sd.send(sd.broker, msg_type, 5, b"{}")
                self.assertNotEqual(sd.wait(), 0, sd.log())
                self.assertIn("malformed message from brokerd", sd.log_with("malformed message"))
                self.assertEqual(self.op.calls(), [])

    def test_no_caching_when_cache_seconds_is_zero(self):
        sd = self.start(extra={"MCP_AUTH_BROKER_SECRET_CACHE_SECONDS": "0"})
        sd.ask_secret(1)
        sd.ask_secret(2)
        self.assertEqual(len(self.op.calls()), 2)
        # The same secret twice: brokerd hears of it once.
        infos = [m for m in sd.pending(sd.broker) if m[0] == MSG_SECRET_INFO]
        self.assertEqual(len(infos), 1, infos)

    def test_refresh_picks_up_a_rotation_once_per_30s(self):
        self.op.set_rotating("rotated-secret-A")
        sd = self.start(ROTATING_REF)
        self.assertEqual(sd.ask_secret(1), (MSG_SECRET_ANS, b"rotated-secret-A"))
        self.op.set_rotating("rotated-secret-B")
        # A plain request is served from the cache...
        self.assertEqual(sd.ask_secret(2), (MSG_SECRET_ANS, b"rotated-secret-A"))
        # ...but tokend's report that the login endpoint rejected the secret
        # makes secretd resolve it again, at once.
        refresh = json.dumps({"refresh": True})
        self.assertEqual(sd.ask_secret(3, refresh), (MSG_SECRET_ANS, b"rotated-secret-B"))
        self.assertEqual(len(self.op.calls()), 2)
        # Rejected again within 30 s: no further op run.
        self.op.set_rotating("rotated-secret-C")
        self.assertEqual(sd.ask_secret(4, refresh), (MSG_SECRET_ANS, b"rotated-secret-B"))
        self.assertEqual(len(self.op.calls()), 2, "a second refresh within 30 s ran op again")
        infos = [json.loads(m[2])["fingerprint"] for m in sd.pending(sd.broker) if m[0] == MSG_SECRET_INFO]
        self.assertEqual(infos, [sup.fingerprint("rotated-secret-A"), sup.fingerprint("rotated-secret-B")])

    def test_rotation_picked_up_when_the_cache_expires(self):
        self.op.set_rotating("rotated-secret-A")
        sd = self.start(ROTATING_REF, {"MCP_AUTH_BROKER_SECRET_CACHE_SECONDS": "1"})
        self.assertEqual(sd.ask_secret(1), (MSG_SECRET_ANS, b"rotated-secret-A"))
        self.op.set_rotating("rotated-secret-B")
        self.assertEqual(sd.ask_secret(2), (MSG_SECRET_ANS, b"rotated-secret-A"), "not cached")
        time.sleep(1.2)
        self.assertEqual(sd.ask_secret(3), (MSG_SECRET_ANS, b"rotated-secret-B"))
        infos = [json.loads(m[2])["fingerprint"] for m in sd.pending(sd.broker) if m[0] == MSG_SECRET_INFO]
        self.assertEqual(infos, [sup.fingerprint("rotated-secret-A"), sup.fingerprint("rotated-secret-B")])

    def test_failure_is_not_cached(self):
        sd = self.start("op://Private/ratelimited/secret")
        for i in range(2):
            msg_type, payload = sd.ask_secret(i)
            self.assertEqual(msg_type, MSG_SECRET_ERR)
            self.assertEqual(sup.error_of(payload)["code"], "secret.unavailable")
        self.assertEqual(len(self.op.calls()), 2, "a failure was cached")
        self.assertEqual([m for m in sd.pending(sd.broker) if m[0] == MSG_SECRET_INFO], [])

    def test_malformed_request_from_tokend_is_fatal(self):
        sd = self.start()
        sd.send(sd.tokend, MSG_SECRET_REQ, 1, b"not json")
        self.assertNotEqual(sd.wait(), 0)
        self.assertEqual(self.op.calls(), [])


if __name__ == "__main__":
    harness.main()
