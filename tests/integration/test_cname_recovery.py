"""CNAME recovery end to end (docs/routing.md, "CNAME recovery").

A real gateway over real sockets gets mail exactly as stock Sendmail 8.17
sends it after CNAME expansion: RCPT TO and the To: header rewritten to
the load balancer's name, the address as written only in the topmost
Received: header's "for <...>" clause (cf/m4/cfhead.m4's default
confRECEIVED_HEADER, below the MSP's own Received:). Checked: both
recovery paths (the sender's domain at RCPT; the Received: for clause at
the end of DATA, both address forms), both refusals (an ambiguous sender
domain with no usable Received: for; a for clause that names nothing
recoverable), the 452 for a transaction that mixes recipients, the
event's recipient_rewritten and rewrite (as the flow receives them), the
X-Mailtrigger-Recipient-Rewritten header on top of the stored message,
and that a forged one in incoming mail never reaches storage.
"""

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import mtharness as mt

LB = "lb-7.mx.example.net"
ACME = "acme.triggers.example.com"
BETA = "beta.triggers.example.com"
HEADER = "X-Mailtrigger-Recipient-Rewritten"
DIAG = ("this is the mail server's own name, not a trigger address; the "
        "sending server rewrote the recipient through CNAME expansion")


SERIAL = itertools.count(12344)


def sendmail_message(original, rewritten):
    """The message as Sendmail's MTA relays it: its Received: (with for
    <original>) on top of the MSP's, To: rewritten to the CNAME target.
    Each has its own queue id and Message-Id (no dedup between tests)."""
    n = next(SERIAL)
    return (
        "Received: from mail.acme.com (localhost [127.0.0.1])\r\n"
        "\tby mail.acme.com (8.17.1/8.17.1) with ESMTP id 4ASI0a1b%06d\r\n"
        "\tfor <%s>; Sat, 28 Nov 2026 18:00:00 +0000\r\n"
        "Received: (from nagios@localhost)\r\n"
        "\tby mail.acme.com (8.17.1/8.17.1/Submit) id 4ASI0Z9a%06d;\r\n"
        "\tSat, 28 Nov 2026 18:00:00 +0000\r\n"
        "Date: Sat, 28 Nov 2026 18:00:00 +0000\r\n"
        "From: nagios@acme.com\r\n"
        "Message-Id: <202611281800.4ASI0Z9a%06d@mail.acme.com>\r\n"
        "To: %s\r\n"
        "Subject: db-01 is down (%d)\r\n"
        "\r\n"
        "db-01 is down\r\n" % (n, original, n, n, rewritten, n)).encode()


# Sendmail writes no for clause when the transaction has several
# recipients ($u is unset), the case evidence 2 cannot help.
NO_FOR = (
    "Received: from mail.acme.com (localhost [127.0.0.1])\r\n"
    "\tby mail.acme.com (8.17.1/8.17.1) with ESMTP id 4ASI0a1b012346;\r\n"
    "\tSat, 28 Nov 2026 18:00:00 +0000\r\n"
    "To: flow1@%s\r\nSubject: x\r\n\r\nbody\r\n" % LB).encode()


class CnameRecovery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.mkdtemp(prefix="mt-cname-")
        save = ["/bin/sh", "-c", 'cat > "$0/$MT_EVENT_ID.json"', cls.scratch]
        flow = {"flow": [{"exec": {"command": save}}]}
        cls.gw = mt.Gateway({
            "canonical_names": [LB],
            "instances": [
                {"host": ACME, "sender_domains": ["acme.com",
                                                  "shared.example"],
                 "accept_cname_expanded": True,
                 "triggers": {"flow1": flow}},
                {"host": BETA, "sender_domains": ["shared.example"],
                 "accept_cname_expanded": True,
                 "triggers": {"flow1": flow}},
                {"host": "closed.triggers.example.com",
                 "sender_domains": ["closed.example"],
                 "triggers": {"flow1": flow}},
            ]})

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.gw.close()
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def transaction(self, mail_from, rcpts, data):
        """One transaction; returns (RCPT replies, final reply or None)."""
        with self.gw.connect() as c:
            c.banner()
            c.ehlo("mail.acme.com")
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % mail_from).code, 250)
            replies = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
            final = None
            if any(r.code == 250 for r in replies):
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(mt.dot_stuff(data) + b".\r\n")
                final = c.reply()
            c.cmd("QUIT")
        return replies, final

    def recovered(self, final, received, recovered, evidence, recipients,
                  instance):
        """The queued event: its rewrite, the stored header, the event
        JSON the flow got."""
        ids = mt.queued_id(final.text)
        self.assertIsNotNone(ids, "not queued: %r" % final)
        evt, msg_id = ids
        self.gw.wait_state(evt, "done")
        want = {"received": received, "recovered": recovered,
                "evidence": evidence}
        row = self.gw.query("SELECT instance, trigger, recipients, rewrite "
                            "FROM events WHERE id = ?", (evt,))[0]
        self.assertEqual(json.loads(row["rewrite"]), want)
        self.assertEqual((row["instance"], row["trigger"]),
                         (instance, "flow1"))
        self.assertEqual(json.loads(row["recipients"]), recipients)
        data = self.gw.message(msg_id)["data"]
        first = data.split(b"\r\n", 1)[0].decode()
        self.assertEqual(first, "%s: <%s> -> <%s>; evidence=%s"
                         % (HEADER, received, recovered, evidence))
        self.assertEqual(data.count(HEADER.encode()), 1)
        self.assertTrue(data.split(b"\r\n", 1)[1].startswith(b"Received: "
                        b"from mail.acme.com ([127.0.0.1]) by "))
        with open(os.path.join(self.scratch, evt + ".json")) as f:
            ev = json.load(f)
        self.assertIs(ev["recipient_rewritten"], True)
        self.assertEqual(ev["rewrite"], want)
        self.assertEqual(ev["envelope"]["rcpt_to"], [received])
        return ev

    def test_sender_domain_at_rcpt(self):
        rcpt = "flow1@" + LB
        replies, final = self.transaction(
            "nagios@acme.com", [rcpt],
            sendmail_message("flow1@" + ACME, rcpt))
        self.assertEqual(replies[0].text, "2.1.5 Ok")
        ev = self.recovered(final, rcpt, "flow1@" + ACME, "sender_domains",
                            [], ACME)
        self.assertEqual((ev["instance"], ev["trigger"]), (ACME, "flow1"))

    def test_received_for_trigger_form(self):
        rcpt = "flow1@" + LB
        replies, final = self.transaction(
            "nagios@shared.example", [rcpt],
            sendmail_message("flow1@" + BETA, rcpt))
        self.assertEqual(replies[0].code, 250)
        self.assertIn("accepted pending the Received: header",
                      replies[0].text)
        ev = self.recovered(final, rcpt, "flow1@" + BETA, "received_for", [],
                            BETA)
        self.assertEqual(ev["instance"], BETA)

    def test_received_for_recipient_form(self):
        rcpt = "oncall-dba@" + LB
        _, final = self.transaction(
            "nagios@elsewhere.example", [rcpt],
            sendmail_message("oncall-dba@flow1." + ACME, rcpt))
        ev = self.recovered(final, rcpt, "oncall-dba@flow1." + ACME,
                            "received_for", ["oncall-dba"], ACME)
        self.assertEqual(ev["recipients"], ["oncall-dba"])

    def refused_after_data(self, mail_from, data):
        before = self.gw.count()
        rcpt = "flow1@" + LB
        replies, final = self.transaction(mail_from, [rcpt], data)
        self.assertEqual(replies[0].code, 250)
        self.assertEqual((final.code, final.text.split(" ", 1)[0]),
                         (550, "5.1.2"), final)
        self.assertIn("<%s>: %s" % (rcpt, DIAG), final.text)
        self.assertEqual(self.gw.count(), before)
        # The refusal is a rejections row, like a refused RCPT.
        for _ in mt.deadline_loop(10, "the rejections row"):
            rows = self.gw.query("SELECT code, reply FROM rejections WHERE "
                                 "rcpt = ? AND mail_from = ?",
                                 (rcpt, mail_from))
            if rows:
                break
            time.sleep(0.02)  # polling interval, not synchronisation
        self.assertEqual([r["code"] for r in rows], [550])
        self.assertIn(DIAG, rows[0]["reply"])

    def test_ambiguous_sender_domain_refused(self):
        # shared.example is a sender domain of both instances, and the
        # Received: has no for clause: nothing says which one.
        self.refused_after_data("ops@shared.example", NO_FOR)

    def test_unmatched_received_for_refused(self):
        # The for clause names an instance that did not opt in.
        self.refused_after_data(
            "ops@unknown.example",
            sendmail_message("flow1@closed.triggers.example.com",
                             "flow1@" + LB))

    def test_mixed_transaction_gets_452(self):
        replies, final = self.transaction(
            "ops@shared.example", ["flow1@" + ACME, "flow1@" + LB],
            sendmail_message("flow1@" + ACME, "flow1@" + LB))
        self.assertEqual(replies[0].code, 250)
        self.assertEqual(replies[1].code, 452)
        self.assertIn("4.5.3 <flow1@%s>: Recipient address deferred" % LB,
                      replies[1].text)
        evt, msg_id = mt.queued_id(final.text)
        self.assertIsNone(self.gw.query(
            "SELECT rewrite FROM events WHERE id = ?", (evt,))[0]["rewrite"])

    def test_forged_header_removed(self):
        data = ("%s: <flow1@%s> -> <flow1@%s>; evidence=received_for\r\n"
                "Subject: forged\r\n\r\nx\r\n" % (HEADER, LB, BETA)).encode()
        _, final = self.transaction("nagios@acme.com", ["flow1@" + ACME],
                                    data)
        evt, msg_id = mt.queued_id(final.text)
        self.gw.wait_state(evt, "done")
        stored = self.gw.message(msg_id)["data"]
        self.assertNotIn(HEADER.encode(), stored)
        with open(os.path.join(self.scratch, evt + ".json")) as f:
            ev = json.load(f)
        self.assertIs(ev["recipient_rewritten"], False)
        self.assertIsNone(ev["rewrite"])

    def route(self, mail_from, rcpts, data=None, want_rc=0):
        """`mailtrigger route --json` on the gateway's own config, the
        message (if any) on stdin."""
        argv = [mt.binary(), "route", "--config", self.gw.config_path,
                "--from", mail_from, "--json"]
        for r in rcpts:
            argv += ["--to", r]
        if data is not None:
            argv.append("-")
        p = subprocess.run(argv, input=data, capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, want_rc, p.stderr)
        return json.loads(p.stdout)

    def test_route_dry_run_recovers_as_the_gateway(self):
        """The dry run applies the same recovery: the sender's domain at
        RCPT, the Received: for clause when the message is given (and says
        it is pending when it is not), the 452 and the 5.1.2 refusal, with
        the replies the gateway gives."""
        lb = "flow1@" + LB
        sender_dom = self.route("nagios@acme.com", [lb])["recipients"][0]
        self.assertEqual(sender_dom["reply"], "250 2.1.5 Ok")
        self.assertEqual(sender_dom["rewrite"], {
            "received": lb, "recovered": "flow1@" + ACME,
            "evidence": "sender_domains"})
        self.assertEqual(sender_dom["instance"], ACME)

        msg = sendmail_message("flow1@" + BETA, lb)
        got = self.route("nagios@shared.example", [lb], msg)
        r = got["recipients"][0]
        self.assertIn("accepted pending the Received: header", r["reply"])
        self.assertEqual((r["data_code"], r["accepted"], r["instance"]),
                         (250, True, BETA))
        self.assertEqual(r["rewrite"]["evidence"], "received_for")
        ev = got["events"][0]["event"]
        self.assertIs(ev["recipient_rewritten"], True)
        self.assertEqual(ev["rewrite"], r["rewrite"])

        pending = self.route("nagios@shared.example", [lb], want_rc=1)
        r = pending["recipients"][0]
        self.assertFalse(r["accepted"])
        self.assertIn("first Received: field", r["after_data"])

        refused = self.route("ops@shared.example", [lb], NO_FOR, want_rc=1)
        r = refused["recipients"][0]
        self.assertEqual(r["data_code"], 550)
        self.assertIn("5.1.2 <%s>: %s" % (lb, DIAG), r["data_reply"])
        self.assertEqual(refused["events"], [])

        mixed = self.route("ops@shared.example", ["flow1@" + ACME, lb], msg,
                           want_rc=1)
        self.assertEqual([r["code"] for r in mixed["recipients"]],
                         [250, 452])
        self.assertIsNone(mixed["events"][0]["event"]["rewrite"])


if __name__ == "__main__":
    unittest.main()
