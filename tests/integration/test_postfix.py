"""A real Postfix relays mail to mailtrigger over loopback: interop with a
real MTA's SMTP client (EHLO, PIPELINING, SIZE, 8BITMIME), its trace
header kept inside ours, one transaction for several triggers, and a
relay-denied recipient bounced by Postfix with our exact 554 5.7.1."""

import os
import re
import shutil
import time
import smtplib
import unittest
import uuid

import mtharness as mt
from mtharness import INSTANCE, SENDER


@unittest.skipUnless(shutil.which("postfix") and os.geteuid() == 0,
                     "needs root and Debian's postfix package")
class PostfixRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = mt.Gateway()
        cls.pf = mt.Postfix({"relayhost": "[127.0.0.1]:%d" % cls.gw.port})
        try:
            cls.pf.start()
        except BaseException:
            cls.pf.close()
            cls.gw.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.pf.close()
            cls.gw.stop()
        finally:
            cls.gw.close()

    def inject(self, rcpts, token, mail_from=SENDER):
        """Hands a message to Postfix's smtpd; returns the bytes sent."""
        body = ("From: Nagios <nagios@acme.com>\r\nSubject: via postfix\r\n"
                "X-Token: %s\r\n\r\nDisk full on db1.\r\n.dot line\r\n"
                % token).encode()
        with smtplib.SMTP("127.0.0.1", self.pf.port,
                          local_hostname="client.test", timeout=30) as s:
            self.assertEqual(s.sendmail(mail_from, rcpts, body), {})
        return body

    def wait_message(self, token, timeout=30.0):
        """Polls the queue until the message carrying token is there."""
        for _ in mt.deadline_loop(timeout, "message %s in the queue" % token,
                                  lambda: self.gw.log_tail() + self.pf.log()):
            rows = self.gw.query("SELECT * FROM messages WHERE "
                                 "instr(data, ?) > 0",
                                 (("X-Token: " + token).encode(),))
            if rows:
                self.assertEqual(len(rows), 1, "stored more than once")
                return rows[0]
            time.sleep(0.05)  # polling interval

    def test_relayed_message_arrives(self):
        token = uuid.uuid4().hex
        rcpt = "db-outage@" + INSTANCE
        body = self.inject([rcpt], token)
        m = self.wait_message(token)
        self.assertEqual(m["helo"], "relay.postfix.test")
        self.assertEqual(m["mail_from"], SENDER)
        self.assertEqual(m["client_ip"], "127.0.0.1")
        data = bytes(m["data"])
        ours, rest = mt.split_received(data)
        self.assertRegex(re.sub(rb"\r\n[ \t]+", b" ", ours),
                         rb"^Received: from relay\.postfix\.test "
                         rb"\(\[127\.0\.0\.1\]\) by mx\.mailtrigger\.test "
                         rb"\(mailtrigger\) with ESMTP id " +
                         m["id"].encode())
        # Postfix's own trace header comes next, then what we sent (Postfix
        # may add Message-ID/Date/To headers to a submission; the body is
        # kept to the byte).
        pf_received, _ = mt.split_received(rest)
        self.assertRegex(re.sub(rb"\r\n[ \t]+", b" ", pf_received),
                         rb"^Received: from client\.test \(.*\[127\.0\.0\.1"
                         rb"\]\) by relay\.postfix\.test \(Postfix\) with "
                         rb"E?SMTP id ")
        self.assertTrue(data.endswith(body.split(b"\r\n\r\n", 1)[1]))
        self.assertIn(b"X-Token: " + token.encode() + b"\r\n", data)
        evs = self.gw.events(m["id"])
        self.assertEqual([(e["id"], e["trigger"], e["rcpt_to"])
                          for e in evs],
                         [("evt_" + m["id"], "db-outage", [rcpt])])
        self.pf.wait_log(r"to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d"
                         r".*status=sent \(250 2\.0\.0 Ok: queued as "
                         r"evt_%s\)" % (re.escape(rcpt), self.gw.port,
                                        m["id"]))

    def test_two_triggers_one_transaction(self):
        token = uuid.uuid4().hex
        rcpts = ["ops@deploy." + INSTANCE, "alert@" + INSTANCE]
        self.inject(rcpts, token)
        m = self.wait_message(token)
        got = sorted((e["trigger"], e["rcpt_to"])
                     for e in self.gw.events(m["id"]))
        self.assertEqual(got, [("alert", [rcpts[1]]),
                               ("deploy", [rcpts[0]])])

    def test_relay_denied_bounces(self):
        token = uuid.uuid4().hex
        before = self.gw.count()
        self.inject(["someone@example.org"], token, mail_from="")
        self.pf.wait_log(
            r"to=<someone@example\.org>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
            r":%d, .*status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] "
            r"said: 554 5\.7\.1 <someone@example\.org>: Relay access denied "
            r"\(in reply to RCPT TO command\)\)" % self.gw.port)
        self.assertEqual(self.gw.count(), before)


if __name__ == "__main__":
    unittest.main()
