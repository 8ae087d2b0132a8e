"""RFC 5321 4.5.1 postmaster mail over a real socket: <Postmaster> and
postmaster@ our own names reach the trigger named by `postmaster:`, and
without it they get the documented 550 5.1.1, never a relay."""

import unittest

import mtharness as mt
from mtharness import CANONICAL, HOST, INSTANCE, SENDER

NO_PM = ("Recipient address rejected: no postmaster is configured on this "
         "gateway")


def rcpt_replies(gw, rcpts):
    with gw.connect() as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        return [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]


class Postmaster(unittest.TestCase):
    def test_configured(self):
        with mt.Gateway({"postmaster": "alert@" + INSTANCE}) as gw:
            rows = ["Postmaster", "postmaster@" + HOST,
                    "POSTMASTER@" + CANONICAL, "postmaster@" + INSTANCE]
            for r, reply in zip(rows, rcpt_replies(gw, rows)):
                with self.subTest(r):
                    self.assertEqual(reply.last, "250 2.1.5 Ok")
            with gw.connect() as c:
                c.banner()
                c.ehlo()
                c.cmd("MAIL FROM:<%s>" % SENDER)
                c.cmd("RCPT TO:<Postmaster>")
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(b"Subject: hello postmaster\r\n\r\nhi\r\n.\r\n")
                msg_id = mt.queued_id(c.reply().last)[1]
            ev = gw.events(msg_id)
            self.assertEqual([(e["trigger"], e["rcpt_to"]) for e in ev],
                             [("alert", ["Postmaster"])])

    def test_not_configured(self):
        with mt.Gateway() as gw:
            rows = ["Postmaster", "postmaster@" + HOST,
                    "postmaster@example.org"]
            got = [r.last for r in rcpt_replies(gw, rows)]
            self.assertEqual(got, [
                "550 5.1.1 <Postmaster>: " + NO_PM,
                "550 5.1.1 <postmaster@%s>: %s" % (HOST, NO_PM),
                "554 5.7.1 <postmaster@example.org>: Relay access denied"])

    def test_not_a_sender(self):
        # A reverse-path is always a full mailbox (RFC 5321 4.1.2).
        with mt.Gateway() as gw, gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<Postmaster>").code, 501)


if __name__ == "__main__":
    unittest.main()
