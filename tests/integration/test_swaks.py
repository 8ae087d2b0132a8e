"""swaks (the Swiss Army Knife for SMTP) against the real daemon: plain,
pipelined, STARTTLS, several recipients, an 8-bit body, and refusals with
swaks' own exit codes. (Debian's swaks 20201014 has no BDAT: test_smtplib
covers BDAT over a raw socket.)"""

import re
import shutil
import subprocess
import unittest

import mtharness as mt
from mtharness import INSTANCE, SENDER

QUEUED_LINE = re.compile(r"^ *<[-~]  250 2\.0\.0 Ok: queued as (evt_(%s))$"
                         % mt.ID_RE, re.M)


def swaks(gw, *args):
    cmd = ["swaks", "--server", "%s:%d" % (gw.host, gw.port),
           "--helo", "swaks.test", "--from", SENDER] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@unittest.skipUnless(shutil.which("swaks"), "swaks not installed")
class Swaks(mt.SharedGatewayTest):
    TLS = True

    def assert_queued(self, p):
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = QUEUED_LINE.findall(p.stdout)
        self.assertEqual(len(m), 1, p.stdout)
        msg = self.gw.message(m[0][1])
        self.assertIsNotNone(msg, "%s not in the queue" % m[0][1])
        return msg, p.stdout

    def test_sends(self):
        t = "db-outage@" + INSTANCE
        rows = [
            ("plain", ["--to", t], 0, None),
            ("pipelining", ["--to", t, "--pipeline"], 0, None),
            ("starttls", ["--to", t, "--tls"], 1, r"=== TLS started"),
            ("starttls pipelined", ["--to", t, "--tls", "--pipeline"], 1,
             None),
            ("two triggers", ["--to", "%s,ops@deploy.%s" % (t, INSTANCE)],
             0, None),
        ]
        for name, args, tls, marker in rows:
            with self.subTest(name):
                msg, out = self.assert_queued(swaks(self.gw, *args))
                self.assertEqual(msg["tls"], tls)
                self.assertEqual(msg["helo"], "swaks.test")
                self.assertEqual(msg["mail_from"], SENDER)
                if marker:
                    self.assertRegex(out, marker)
                self.assertNotIn("not advertised", out)

    def test_8bit_body_stored_exact(self):
        body = "Grüße aus Köln\r\n.dot line\r\n"
        # swaks ends the data with CRLF.CRLF itself.
        p = swaks(self.gw, "--to", "alert@" + INSTANCE,
                  "--data", "Subject: 8bit\r\n\r\n" + body[:-2])
        msg, _ = self.assert_queued(p)
        data = mt.split_received(bytes(msg["data"]))[1]
        self.assertEqual(data, ("Subject: 8bit\r\n\r\n" + body).encode())

    def test_refusals_exit_codes(self):
        rows = [
            # name, args, swaks exit code, reply line in the transcript
            ("relay denied", ["--to", "a@example.org"], 24,
             "554 5.7.1 <a@example.org>: Relay access denied"),
            ("no such trigger", ["--to", "nope@" + INSTANCE], 24,
             "550 5.1.1 <nope@%s>: Recipient address rejected: no such "
             "trigger" % INSTANCE),
        ]
        before = self.gw.count()
        for name, args, code, line in rows:
            with self.subTest(name):
                p = swaks(self.gw, *args)
                self.assertEqual(p.returncode, code, p.stdout)
                self.assertIn("<** " + line + "\n", p.stdout)
        self.assertEqual(self.gw.count(), before)


if __name__ == "__main__":
    unittest.main()
