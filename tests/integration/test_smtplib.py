"""Python's smtplib (and raw sockets where smtplib cannot go) against the
real daemon: routing replies, the queue contents, limits, STARTTLS and the
injection attack, bare-LF smuggling, BDAT, timeouts, connection limits,
SIGHUP reload, SIGTERM shutdown and check-config."""

import re
import resource
import signal
import smtplib
import socket
import subprocess
import time
import unittest
import uuid

import mtharness as mt
from mtharness import CANONICAL, HOST, INSTANCE, SENDER

SIZE_REPLY = "552 5.3.4 Message size exceeds fixed limit"
CNAME_TEXT = ("this is the mail server's own name, not a trigger address; "
              "the sending server rewrote the recipient through CNAME "
              "expansion - send to trigger@your-instance-host and disable "
              "CNAME expansion on the sending server (Sendmail: "
              "confDONT_EXPAND_CNAMES)")


def smtp(gw, **kw):
    return smtplib.SMTP(gw.host, gw.port, local_hostname="client.test",
                        timeout=10, **kw)


def sample_message(subject="test"):
    """A distinct message each call: its own Message-ID, so the dedup
    rule (docs/flows-rules.md) sees separate mails, not re-deliveries."""
    return ("From: Nagios <nagios@acme.com>\r\nTo: ops\r\n"
            "Message-ID: <%s@acme.com>\r\n"
            "Subject: %s\r\n\r\nbody\r\n"
            % (uuid.uuid4().hex, subject)).encode()


def assert_closed_after(tc, c, want, low, high=5.0):
    """The next reply is `want`, then the close, between low and high
    seconds from now (a timer of the server's, not of ours)."""
    t0 = time.monotonic()
    tc.assertEqual(c.reply(timeout=high + 5).last, want)
    elapsed = time.monotonic() - t0
    c.expect_closed()
    tc.assertGreaterEqual(elapsed, low)
    tc.assertLess(elapsed, high)


class Routing(mt.SharedGatewayTest):
    """One gateway for the routing and storage tests (default config)."""

    def deliver(self, rcpts, data=None, mail_from=SENDER, mail_opts=()):
        """mail/rcpt/data with smtplib; returns (msg_id, evt_id, reply)."""
        data = data or sample_message()
        with smtp(self.gw) as s:
            s.ehlo()
            code, resp = s.mail(mail_from, list(mail_opts))
            self.assertEqual(code, 250, resp)
            for r in rcpts:
                code, resp = s.rcpt(r)
                self.assertEqual(code, 250, "RCPT %s: %r" % (r, resp))
            code, resp = s.data(data)
            self.assertEqual(code, 250, resp)
        text = resp.decode()
        ids = mt.queued_id(text)
        self.assertIsNotNone(ids, "no 'queued as evt_...' in %r" % text)
        self.assertEqual(text, "2.0.0 Ok: queued as " + ids[0])
        self.assertEqual(ids[0], "evt_" + ids[1])
        return ids[1], ids[0], text

    def test_trigger_form(self):
        rows = [
            # name, rcpt, want tag
            ("plain", "db-outage@" + INSTANCE, ""),
            ("tag", "db-outage+p1@" + INSTANCE, "p1"),
            ("upper domain", "db-outage@ACME.Triggers.TEST", ""),
            ("trailing dot", "db-outage@" + INSTANCE + ".", ""),
        ]
        for name, rcpt, tag in rows:
            with self.subTest(name):
                msg_id, evt_id, _ = self.deliver([rcpt])
                evs = self.gw.events(msg_id)
                self.assertEqual(len(evs), 1, evs)
                ev = evs[0]
                self.assertEqual(ev["id"], evt_id)
                self.assertEqual(ev["instance"], INSTANCE)
                self.assertEqual(ev["trigger"], "db-outage")
                self.assertEqual(ev["tag"] or "", tag)
                self.assertEqual(ev["recipients"], [])
                self.assertEqual(ev["rcpt_to"], [rcpt])
                # db-outage runs /bin/true: delivery takes it to done.
                self.gw.wait_state(evt_id, "done")

    def test_recipient_form(self):
        rcpt = "ops@deploy." + INSTANCE
        msg_id, evt_id, _ = self.deliver([rcpt])
        evs = self.gw.events(msg_id)
        self.assertEqual([(e["id"], e["trigger"], e["recipients"],
                           e["rcpt_to"]) for e in evs],
                         [(evt_id, "deploy", ["ops"], [rcpt])])

    def test_multi_trigger_stored_once_one_event_per_trigger(self):
        rcpts = ["ops@deploy." + INSTANCE, "db-outage@" + INSTANCE,
                 "dev@deploy." + INSTANCE, "oncall@alert." + INSTANCE,
                 "alert+p2@" + INSTANCE]
        before = self.gw.count()
        msg_id, evt_id, _ = self.deliver(rcpts)
        self.assertEqual(self.gw.count() - before, 1)
        got = {e["id"]: (e["trigger"], e["recipients"], e["rcpt_to"])
               for e in self.gw.events(msg_id)}
        want = {
            evt_id: ("deploy", ["ops", "dev"], [rcpts[0], rcpts[2]]),
            evt_id + ".2": ("db-outage", [], [rcpts[1]]),
            evt_id + ".3": ("alert", ["oncall"], [rcpts[3], rcpts[4]]),
        }
        self.assertEqual(got, want)

    def test_rejections_exact(self):
        d = INSTANCE
        rows = [
            ("relay other domain", "user@example.org", 554,
             "5.7.1 <user@example.org>: Relay access denied"),
            ("relay suffix trick", "db-outage@%s.evil.org" % d, 554,
             "5.7.1 <db-outage@%s.evil.org>: Relay access denied" % d),
            ("relay sub-subdomain", "a@b.deploy.%s" % d, 554,
             "5.7.1 <a@b.deploy.%s>: Relay access denied" % d),
            ("percent hack", "user%%example.org@%s" % d, 550,
             "5.1.1 <user%%example.org@%s>: Recipient address rejected: "
             "no such trigger" % d),
            ("unknown trigger", "nope@" + d, 550,
             "5.1.1 <nope@%s>: Recipient address rejected: no such "
             "trigger" % d),
            ("unknown trigger recipient form", "ops@nope." + d, 550,
             "5.1.1 <ops@nope.%s>: Recipient address rejected: no such "
             "trigger" % d),
            ("not a recipient", "qa@deploy." + d, 550,
             "5.1.1 <qa@deploy.%s>: Recipient address rejected: not a "
             "recipient of this trigger" % d),
            ("canonical name", "db-outage@" + CANONICAL, 550,
             "5.1.2 <db-outage@%s>: %s" % (CANONICAL, CNAME_TEXT)),
        ]
        for name, rcpt, code, text in rows:
            with self.subTest(name):
                # sendmail(): what a real client sees when every
                # recipient is refused.
                with smtp(self.gw) as s:
                    with self.assertRaises(
                            smtplib.SMTPRecipientsRefused) as cm:
                        s.sendmail(SENDER, [rcpt], sample_message())
                    self.assertEqual(cm.exception.recipients,
                                     {rcpt: (code, text.encode())})

    def test_rejected_rcpt_does_not_spoil_transaction(self):
        ok = "db-outage@" + INSTANCE
        with smtp(self.gw) as s:
            refused = s.sendmail(SENDER, ["x@example.org", ok],
                                 sample_message())
        self.assertEqual(refused, {"x@example.org": (
            554, b"5.7.1 <x@example.org>: Relay access denied")})
        last = self.gw.query("SELECT message_id FROM events ORDER BY "
                             "rowid DESC LIMIT 1")[0]
        evs = self.gw.events(last["message_id"])
        self.assertEqual([e["rcpt_to"] for e in evs], [[ok]])

    def test_queued_id_in_db(self):
        msg_id, evt_id, _ = self.deliver(["db-outage@" + INSTANCE])
        m = self.gw.message(msg_id)
        self.assertIsNotNone(m, "message %s not in the queue" % msg_id)
        self.assertEqual(m["mail_from"], SENDER)
        self.assertEqual(m["client_ip"], "127.0.0.1")
        self.assertEqual(m["helo"], "client.test")
        self.assertEqual(m["tls"], 0)
        self.assertEqual(m["smtputf8"], 0)
        self.assertIsNotNone(self.gw.query(
            "SELECT id FROM events WHERE id = ?", (evt_id,)) or None)

    def test_stored_byte_exact_with_received_on_top(self):
        body = (b"From: a@acme.com\r\nSubject: exact\r\n"
                b"X-Trailing: spaces   \r\n\r\n"
                b".leading dot\r\n..two dots\r\n.\r\n"
                b"tab\there\r\n\r\n\r\n"
                b"8bit: \xc3\xa9\xff\x80\r\n"
                + b"x" * 998 + b"\r\n"
                b"last line\r\n")
        msg_id, _, _ = self.deliver(["db-outage@" + INSTANCE], data=body,
                                    mail_opts=["BODY=8BITMIME"])
        data = bytes(self.gw.message(msg_id)["data"])
        received, rest = mt.split_received(data)
        self.assertEqual(rest, body)
        unfolded = re.sub(rb"\r\n[ \t]+", b" ", received).decode()
        want = (r"^Received: from client\.test \(\[127\.0\.0\.1\]\) by "
                r"%s \(mailtrigger\) with ESMTP id %s for "
                r"<db-outage@%s>; .+\r\n$" % (re.escape(HOST), msg_id,
                                              re.escape(INSTANCE)))
        self.assertRegex(unfolded, want)
        for line in received.split(b"\r\n"):
            self.assertLessEqual(len(line), 78, received)

    def test_null_sender_accepted(self):
        msg_id, _, _ = self.deliver(["db-outage@" + INSTANCE], mail_from="")
        self.assertEqual(self.gw.message(msg_id)["mail_from"], "")

    def test_smtputf8_mailboxes_kept_exact(self):
        sender = "j\u00fcrgen@acme.com"
        rcpts = ["db-outage+gr\u00f6\u00dfe@" + INSTANCE,
                 "j\u00f6rg@alert." + INSTANCE]
        with smtp(self.gw) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("smtputf8"))
            refused = s.sendmail(sender, rcpts,
                                 "Subject: \u00fc\r\n\r\nbody\r\n"
                                 .encode(), mail_options=["SMTPUTF8"])
            self.assertEqual(refused, {})
        row = self.gw.query("SELECT * FROM messages ORDER BY rowid DESC "
                            "LIMIT 1")[0]
        self.assertEqual(row["mail_from"], sender)
        self.assertEqual(row["smtputf8"], 1)
        got = {e["trigger"]: (e["tag"], e["recipients"], e["rcpt_to"])
               for e in self.gw.events(row["id"])}
        self.assertEqual(got, {
            "db-outage": ("gr\u00f6\u00dfe", [], [rcpts[0]]),
            "alert": ("", ["j\u00f6rg"], [rcpts[1]]),
        })

    def test_utf8_mailbox_without_smtputf8_refused(self):
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            r = c.cmd("MAIL FROM:<j\u00fcrgen@acme.com>")
            self.assertEqual(r.code // 100, 5, r)

    def test_ehlo_extensions(self):
        with smtp(self.gw) as s:
            code, resp = s.ehlo()
        self.assertEqual(code, 250)
        lines = resp.decode().split("\n")
        self.assertEqual(lines[0].split()[0], HOST)
        for ext in ("PIPELINING", "SIZE 1000000", "8BITMIME", "SMTPUTF8",
                    "ENHANCEDSTATUSCODES", "CHUNKING"):
            self.assertIn(ext, lines[1:])
        # No certificate configured: STARTTLS must not be offered.
        self.assertNotIn("STARTTLS", lines)

    def test_bdat(self):
        # BDAT data is not dot-stuffed: ".x" is stored as sent.
        chunks = [b"Subject: bdat\r\n\r\n", b".not stuffed\r\n.\r\n",
                  b"end\r\n"]
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
            self.assertEqual(c.cmd("RCPT TO:<db-outage@%s>" % INSTANCE)
                             .code, 250)
            for ch in chunks[:-1]:
                c.send(b"BDAT %d\r\n" % len(ch) + ch)
                self.assertEqual(c.reply().last,
                                 "250 2.0.0 Ok: %d octets" % len(ch))
            c.send(b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1])
            r = c.reply()
        ids = mt.queued_id(r.text)
        self.assertEqual(r.last, "250 2.0.0 Ok: queued as %s"
                         % (ids and ids[0]))
        data = bytes(self.gw.message(ids[1])["data"])
        self.assertEqual(mt.split_received(data)[1], b"".join(chunks))

    def test_pipelined_transaction(self):
        rcpt = "db-outage@" + INSTANCE
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            c.send("MAIL FROM:<%s>\r\nRCPT TO:<x@example.org>\r\n"
                   "RCPT TO:<%s>\r\nDATA\r\n" % (SENDER, rcpt))
            got = [c.reply().last for _ in range(4)]
            c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            done, bye = c.reply(), c.reply()
        self.assertEqual(got, [
            "250 2.1.0 Ok", "554 5.7.1 <x@example.org>: Relay access denied",
            "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"])
        self.assertIsNotNone(mt.queued_id(done.text), done)
        self.assertEqual(bye.last, "221 2.0.0 Bye")

    def test_bare_newline_smuggling(self):
        rcpt = "db-outage@" + INSTANCE
        smuggle = ("MAIL FROM:<evil@example.org>\r\nRCPT TO:<%s>\r\n"
                   "DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n" % rcpt)
        lf = "521 5.5.2 %s Error: bare <LF> received" % HOST
        cr = "521 5.5.2 %s Error: bare <CR> received" % HOST
        rows = [
            ("LF.LF", "hello\n.\n" + smuggle, lf),
            ("LF.CRLF", "hello\n.\r\n" + smuggle, lf),
            ("CRLF.LF", "hello\r\n.\n" + smuggle, lf),
            ("CR.CR", "hello\r.\r" + smuggle, cr),
            ("CRLF.CR", "hello\r\n.\r" + smuggle, cr),
            ("bare LF in header", "Subject: a\nb\r\n\r\n.\r\n", lf),
        ]
        for name, payload, want in rows:
            with self.subTest(name):
                before = self.gw.count()
                with self.gw.connect() as c:
                    c.begin_data([rcpt])
                    c.send(payload + "\r\n.\r\n")
                    r = c.reply()
                    self.assertEqual(r.last, want)
                    c.expect_closed()
                self.assertEqual(self.gw.count(), before)

    def test_bare_newline_in_command(self):
        rows = [
            ("LF", b"NOOP\n", "521 5.5.2 %s Error: bare <LF> received"),
            ("CR", b"NOOP\rNOOP\r\n",
             "521 5.5.2 %s Error: bare <CR> received"),
        ]
        for name, payload, want in rows:
            with self.subTest(name):
                with self.gw.connect() as c:
                    c.banner()
                    c.send(payload)
                    self.assertEqual(c.reply().last, want % HOST)
                    c.expect_closed()

    def test_too_many_recipients(self):
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            c.cmd("MAIL FROM:<%s>" % SENDER)
            rcpts = ["db-outage+%d@%s" % (i, INSTANCE) for i in range(101)]
            replies = [c.cmd("RCPT TO:<%s>" % r).last for r in rcpts]
            self.assertEqual(replies[:100], ["250 2.1.5 Ok"] * 100)
            self.assertEqual(replies[100],
                             "452 4.5.3 Error: too many recipients")
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: many\r\n\r\n.\r\n")
            ids = mt.queued_id(c.reply().text)
        evs = self.gw.events(ids[1])
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["rcpt_to"], rcpts[:100])


class SizeLimit(unittest.TestCase):
    def setUp(self):
        self.gw = mt.Gateway({"limits": {"message_size": 100000}})
        self.addCleanup(self.gw.close)

    def test_size_limit_and_connection_stays_usable(self):
        rcpt = "db-outage@" + INSTANCE
        with self.gw.connect() as c:
            c.banner()
            self.assertIn("SIZE 100000", c.ehlo().lines)
            # Declared too big: refused at MAIL (RFC 1870 6.1).
            r = c.cmd("MAIL FROM:<%s> SIZE=100001" % SENDER)
            self.assertEqual(r.last, SIZE_REPLY)
            # Not declared, too big: refused after the data.
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt).code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            line = b"y" * 998 + b"\r\n"
            c.send(b"Subject: big\r\n\r\n" + line * 150 + b".\r\n")
            self.assertEqual(c.reply().last, SIZE_REPLY)
            self.assertEqual(self.gw.count(), 0)
            # Same connection, next transaction goes through.
            self.assertEqual(c.cmd("MAIL FROM:<%s> SIZE=1000" % SENDER)
                             .code, 250)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt).code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
            self.assertIsNotNone(mt.queued_id(c.reply().text))
            self.assertEqual(c.cmd("QUIT").last, "221 2.0.0 Bye")
        self.assertEqual(self.gw.count(), 1)


class StartTLS(mt.SharedGatewayTest):
    TLS = True

    def test_smtplib_starttls_then_send(self):
        rcpt = "db-outage@" + INSTANCE
        with smtp(self.gw) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            code, _ = s.starttls(context=mt.client_tls_context())
            self.assertEqual(code, 220)
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"))
            s.mail(SENDER)
            s.rcpt(rcpt)
            code, resp = s.data(sample_message())
        self.assertEqual(code, 250, resp)
        ids = mt.queued_id(resp)
        m = self.gw.message(ids[1])
        self.assertEqual(m["tls"], 1)
        received = re.sub(rb"\r\n[ \t]+", b" ",
                          mt.split_received(bytes(m["data"]))[0])
        self.assertIn(b" with ESMTPS ", received)

    def test_starttls_injection_discarded(self):
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            c.send(b"STARTTLS\r\nNOOP\r\n")
            r = c.reply()
            self.assertEqual(r.last, "220 2.0.0 Ready to start TLS")
            # Nothing but the 220 may come in clear text.
            self.assertEqual(c.buf, b"")
            c.starttls()
            c.send(b"EHLO client.test\r\n")
            first = c.reply()
            self.assertEqual(first.code, 250)
            self.assertEqual(first.lines[0].split()[0], HOST,
                             "first reply after TLS must answer EHLO, "
                             "got %r" % first)
            self.assertEqual(c.pending(0.2), b"",
                             "server answered the injected NOOP")
            self.assertEqual(c.cmd("NOOP").last, "250 2.0.0 Ok")

    def test_quit_over_tls(self):
        # The 221 must reach the client through TLS before the close.
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            c.ehlo()
            self.assertEqual(c.cmd("QUIT").last, "221 2.0.0 Bye")
            c.expect_closed()

    def test_starttls_resets_state(self):
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            c.cmd("MAIL FROM:<%s>" % SENDER)
            # RFC 3207 4: not inside a transaction (as Postfix).
            self.assertEqual(c.cmd("STARTTLS").last, "503 5.5.1 Error: "
                             "MAIL transaction in progress")
            c.cmd("RSET")
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            # RFC 3207 4.2: everything is forgotten, EHLO is needed again.
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).last,
                             "503 5.5.1 Error: send HELO/EHLO first")
            lines = c.ehlo().lines
            self.assertNotIn("STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS").last,
                             "503 5.5.1 Error: TLS already active")
            self.assertEqual(c.cmd("RCPT TO:<db-outage@%s>" % INSTANCE)
                             .last, "503 5.5.1 Error: need MAIL command")


def kernel_buffers_max():
    """The most the two sockets' kernel buffers can hold in between."""
    total = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        with open("/proc/sys/net/ipv4/" + name) as f:
            total += int(f.read().split()[2])
    return total


class UnreadReplies(mt.SharedGatewayTest):
    """A client that pipelines commands and never reads the replies: the
    gateway stops reading once 64 KB of replies wait (docs/smtp.md), so it
    buffers neither the commands nor the replies without bound; once the
    client reads, every reply comes, in order."""
    TLS = True
    NOOP = b"NOOP\r\n"
    CHUNK = NOOP * 4096

    def flood(self, sock):
        """Sends NOOPs until the socket stays blocked for 2 s; returns the
        bytes sent and what is left of the chunk in progress."""
        sent, left = 0, self.CHUNK
        sock.settimeout(2.0)
        while sent < 4 * kernel_buffers_max():
            try:
                n = sock.send(left)
            except socket.timeout:
                return sent, left
            sent += n
            left = left[n:] or self.CHUNK
        self.fail("sent %d bytes of NOOPs, never blocked" % sent)

    def finish(self, sock, sent, left):
        """Sends the rest and QUIT while reading every reply; returns
        them."""
        out, got = left + b"QUIT\r\n", b""
        while not got.endswith(b"221 2.0.0 Bye\r\n"):
            sock.settimeout(0.05)
            if out:
                try:
                    n = sock.send(out)
                    sent, out = sent + n, out[n:]
                except socket.timeout:
                    pass
            try:
                chunk = sock.recv(1 << 20)
            except socket.timeout:
                continue
            self.assertNotEqual(chunk, b"", "closed early")
            got += chunk
        return sent, got

    def check(self, c):
        sent, left = self.flood(c.sock)
        # What the kernel buffers of both sockets hold, the commands
        # one way and their replies the other, and no more: without the
        # limit the gateway read all of it (flood() stops at twice this)
        # and kept 2.7 bytes of reply per byte. (What the gateway holds
        # is at most that much of what it read: bounded too. Its VmRSS
        # says little under ASan, whose quarantine keeps freed memory.)
        self.assertLess(sent, 2 * kernel_buffers_max() + (1 << 20))
        sent, got = self.finish(c.sock, sent, left)
        noops = (sent - len(b"QUIT\r\n")) // len(self.NOOP)
        self.assertEqual(got, b"250 2.0.0 Ok\r\n" * noops
                         + b"221 2.0.0 Bye\r\n")

    def test_plain(self):
        with self.gw.connect() as c:
            c.banner()
            self.check(c)

    def test_tls(self):
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(c.cmd("STARTTLS").code, 220)
            c.starttls()
            self.check(c)


class Listeners(unittest.TestCase):
    def test_ipv4_and_ipv6_listeners(self):
        gw = mt.Gateway({"listen": [{"address": "127.0.0.1:0"},
                                    {"address": "[::1]:0"}]})
        self.addCleanup(gw.close)
        self.assertEqual(len(gw.addresses), 2, gw.log_tail())
        self.assertRegex(gw.addresses[0], r"^127\.0\.0\.1:[1-9]\d*$")
        self.assertRegex(gw.addresses[1], r"^\[::1\]:[1-9]\d*$")
        host6, port6 = gw.addresses[1].rsplit(":", 1)
        r = mt.send_message(host6.strip("[]"), int(port6),
                            ["db-outage@" + INSTANCE])
        ids = mt.queued_id(r.text)
        self.assertIsNotNone(ids, r)
        self.assertEqual(gw.message(ids[1])["client_ip"], "::1")
        gw.stop()


class IdleTimeout(unittest.TestCase):
    def test_idle_timeout(self):
        with mt.Gateway({"limits": {"idle_timeout": "1s"}}) as gw:
            with gw.connect() as c:
                c.banner()
                assert_closed_after(self, c, "421 4.4.2 %s Error: timeout "
                                    "exceeded" % HOST, 0.9)
            # Mid-DATA counts too.
            with gw.connect() as c:
                c.begin_data(["db-outage@%s" % INSTANCE])
                c.send(b"Subject: stalled\r\n")
                assert_closed_after(self, c, "421 4.4.2 %s Error: timeout "
                                    "exceeded" % HOST, 0.9)
            self.assertEqual(gw.count(), 0)
            gw.stop()


class SessionTimeout(unittest.TestCase):
    def test_session_time_limit(self):
        # Busy or not, a session ends after limits.session_timeout.
        with mt.Gateway({"limits": {"session_timeout": "1s"}}) as gw:
            with gw.connect() as c:
                c.banner()
                c.ehlo()
                assert_closed_after(self, c, "421 4.4.2 %s Error: session "
                                    "time limit exceeded" % HOST, 0.8)
            gw.stop()


class QueueFailure(unittest.TestCase):
    def test_commit_failure_is_451_and_nothing_half_stored(self):
        # The daemon runs with a 4 MB file size limit (EFBIG instead of
        # SIGXFSZ): a commit that would grow the database past it fails
        # like a full disk. (The empty queue with its WAL is far below
        # it: 4 KB pages, one or more per table and index.)
        limit = 4 << 20

        def small_files():
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (limit, resource.RLIM_INFINITY))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

        gw = mt.Gateway({"limits": {"message_size": 5000000}}, start=False)
        self.addCleanup(gw.close)
        gw.popen_kwargs = {"preexec_fn": small_files,
                           "restore_signals": False}
        gw.start()
        rcpt = "db-outage@" + INSTANCE
        ok = mt.queued_id(mt.send_message(gw.host, gw.port, [rcpt]).text)
        self.assertIsNotNone(ok)
        big = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 4400
        with gw.connect() as c:
            c.begin_data([rcpt])
            c.send(big + b".\r\n")
            self.assertEqual(c.reply().last, "451 4.3.0 Error: queue write "
                             "failed, try again later")
            # The connection stays usable.
            self.assertEqual(c.cmd("NOOP").last, "250 2.0.0 Ok")
            self.assertEqual(c.cmd("QUIT").last, "221 2.0.0 Bye")
        # Space comes back (the limit is lifted on the running daemon):
        # the queue takes messages again without a restart.
        resource.prlimit(gw.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        again = mt.send_message(gw.host, gw.port, [rcpt])
        self.assertEqual(again.code, 250, again)
        again = mt.queued_id(again.text)
        gw.stop()
        gw.popen_kwargs = {}
        gw.start()
        self.assertEqual(gw.query("PRAGMA integrity_check"),
                         [{"integrity_check": "ok"}])
        self.assertEqual([r["id"] for r in gw.query(
            "SELECT id FROM messages ORDER BY id")], [ok[1], again[1]])
        self.assertEqual([e["id"] for e in gw.events()], [ok[0], again[0]])
        gw.stop()


class ConnectionLimits(unittest.TestCase):
    def test_limits(self):
        rows = [
            ("per ip", {"connections": 100, "connections_per_ip": 2},
             "421 4.7.0 %s Error: too many connections from 127.0.0.1"
             % HOST),
            ("total", {"connections": 2, "connections_per_ip": 100},
             "421 4.7.0 %s Error: too many connections" % HOST),
        ]
        for name, limits, want in rows:
            with self.subTest(name), mt.Gateway({"limits": limits}) as gw:
                held = [gw.connect(), gw.connect()]
                for c in held:
                    self.assertEqual(c.banner().code, 220)
                with gw.connect() as c:
                    self.assertEqual(c.banner().last, want)
                    c.expect_closed()
                held.pop().close()
                # The server notices the close asynchronously.
                for _ in mt.deadline_loop(10, "a free connection slot"):
                    with gw.connect() as c:
                        if c.banner().code == 220:
                            break
                for c in held:
                    c.close()
                gw.stop()


def add_trigger(gw, name):
    cfg = gw.config_dict()
    cfg["instances"][0]["triggers"][name] = {
        "flow": [{"exec": {"command": ["/bin/true"]}}]}
    return cfg


class Reload(unittest.TestCase):
    def setUp(self):
        self.gw = mt.Gateway()
        self.addCleanup(self.gw.close)

    def rcpt(self, c, local):
        c.cmd("RSET")
        c.cmd("MAIL FROM:<%s>" % SENDER)
        return c.cmd("RCPT TO:<%s@%s>" % (local, INSTANCE)).code

    def test_sighup_reload(self):
        old = self.gw.connect()
        self.addCleanup(old.close)
        old.banner()
        old.ehlo()
        self.assertEqual(self.rcpt(old, "fresh"), 550)
        self.gw.write_config(to_text(add_trigger(self.gw, "fresh")))
        rec = self.gw.reload()
        self.assertEqual(rec["msg"], "reloaded", self.gw.log_tail())
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(self.rcpt(c, "fresh"), 250)
        # The session opened before the reload keeps its config.
        self.assertEqual(self.rcpt(old, "fresh"), 550)
        self.assertEqual(self.rcpt(old, "db-outage"), 250)
        old.close()
        self.gw.stop()

    def test_sighup_right_after_listening(self):
        # A supervisor may reload as soon as the port is announced: the
        # signal handlers must be in place before "listening" is logged,
        # or SIGHUP's default action kills the daemon.
        # The window is short: try a few starts.
        for i in range(5):
            with self.subTest(start=i), mt.Gateway() as gw:
                rec = gw.reload()
                self.assertEqual(rec["msg"], "reloaded", gw.log_tail())
                gw.stop()

    def test_bad_config_keeps_old(self):
        cfg = add_trigger(self.gw, "fresh")
        cfg["limits"]["bogus_key"] = 1
        text = to_text(cfg)
        self.gw.write_config(text)
        bad_line = next(i for i, line in enumerate(text.split("\n"), 1)
                        if "bogus_key" in line)
        rec = self.gw.reload()
        self.assertEqual(rec["msg"], "reload_failed", self.gw.log_tail())
        self.assertRegex(self.gw.logs(), re.escape(self.gw.config_path)
                         + r":%d:\d+: " % bad_line)
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(self.rcpt(c, "fresh"), 550)
            self.assertEqual(self.rcpt(c, "db-outage"), 250)
        # A later good config is taken.
        self.gw.write_config(to_text(add_trigger(self.gw, "fresh")))
        self.assertEqual(self.gw.reload()["msg"], "reloaded")
        with self.gw.connect() as c:
            c.banner()
            c.ehlo()
            self.assertEqual(self.rcpt(c, "fresh"), 250)
        self.gw.stop()


def to_text(cfg):
    return mt.to_yaml(cfg) + "\n"


class Shutdown(unittest.TestCase):
    def test_sigterm_graceful(self):
        gw = mt.Gateway()
        self.addCleanup(gw.close)
        rcpt = "db-outage@" + INSTANCE
        ids = []
        for _ in range(3):
            ids.append(mt.queued_id(mt.send_message(
                gw.host, gw.port, [rcpt]).text)[1])
        busy, idle = gw.connect(), gw.connect()
        self.addCleanup(busy.close)
        self.addCleanup(idle.close)
        idle.banner()
        idle.ehlo()
        busy.begin_data([rcpt])
        busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
        mark = gw.mark()
        gw.signal(signal.SIGTERM)
        gw.wait_log("shutting_down", since=mark)
        self.assertEqual(idle.reply().last,
                         "421 4.3.2 %s Service shutting down" % HOST)
        idle.expect_closed()
        # The listener is closed: no new sessions. A connection that sat
        # in its backlog when it closed is reset instead of refused.
        for _ in mt.deadline_loop(5, "the listener to close"):
            try:
                gw.connect().close()
            except (ConnectionRefusedError, ConnectionResetError):
                break
        busy.send(b"second half\r\n.\r\n")
        r = busy.reply()
        self.assertEqual(r.code, 250, r)
        ids.append(mt.queued_id(r.text)[1])
        self.assertEqual(busy.reply().last,
                         "421 4.3.2 %s Service shutting down" % HOST)
        busy.expect_closed()
        self.assertEqual(gw.wait_exit(), 0, gw.log_tail())
        stored = {r["id"] for r in gw.query("SELECT id FROM messages")}
        self.assertEqual(stored, set(ids))


class ShutdownGrace(unittest.TestCase):
    def test_grace_over_cuts_unfinished_transaction(self):
        gw = mt.Gateway({"limits": {"shutdown_grace": "1s"}})
        self.addCleanup(gw.close)
        with gw.connect() as c:
            c.begin_data(["db-outage@%s" % INSTANCE])
            c.send(b"Subject: never finished\r\n")
            gw.signal(signal.SIGTERM)
            assert_closed_after(self, c, "421 4.3.2 %s Service shutting "
                                "down" % HOST, 0.8)
        self.assertEqual(gw.wait_exit(), 0, gw.log_tail())
        self.assertEqual(gw.count(), 0)


class CheckConfig(unittest.TestCase):
    def run_check(self, text):
        with mt.Gateway(start=False) as gw:
            gw.write_config(text)
            p = subprocess.run([mt.binary(), "check-config",
                                gw.config_path], capture_output=True,
                               text=True, timeout=30)
            return gw.config_path, p

    def test_check_config(self):
        good = to_text(mt.default_config("/tmp/x"))

        def pos(text, needle):
            """(line, column) of needle's first occurrence, 1-based."""
            before = text[:text.index(needle)]
            return before.count("\n") + 1, len(before.split("\n")[-1]) + 1

        bad_size = good.replace("message_size: 1000000", "message_size: 25XB")
        two = bad_size.replace("  errors: 10\n", "  errors: 10\n  frobs: 2\n")
        dup = good + ("  - host: %s\n    triggers:\n      t: {flow: [{exec: "
                      "{command: [/bin/true]}}]}\n" % INSTANCE)
        dup_trig = good.replace(
            "    triggers:\n",
            "    triggers:\n      alert: {flow: [{exec: {command: "
            "[/bin/true]}}]}\n")
        bad_dur = good.replace('idle_timeout: "60s"', "idle_timeout: soon")
        rows = [
            # name, yaml, exit, [(line, col) of errors]
            ("valid", good, 0, []),
            ("unknown top key", good + "limitz: 1\n", 1,
             [pos(good + "limitz: 1\n", "limitz")]),
            ("bad size", bad_size, 1, [pos(bad_size, "25XB")]),
            ("two errors, both reported", two, 1,
             [pos(two, "25XB"), pos(two, "frobs")]),
            ("duplicate instance", dup, 1,
             [pos(dup, "%s\n    triggers:\n      t:" % INSTANCE)]),
            ("duplicate trigger", dup_trig, 1,
             [pos(dup_trig, "alert:\n")]),
            ("bad duration", bad_dur, 1, [pos(bad_dur, "soon")]),
        ]
        for name, text, code, errs in rows:
            with self.subTest(name):
                path, p = self.run_check(text)
                self.assertEqual(p.returncode, code, p.stderr)
                if code == 0:
                    self.assertEqual(p.stdout, "%s: ok\n" % path)
                    continue
                got = re.findall(re.escape(path) + r":(\d+):(\d+): \S",
                                 p.stderr)
                self.assertEqual([(int(a), int(b)) for a, b in got], errs,
                                 "%s\n%s" % (p.stderr, text))

    def test_usage_and_missing_file(self):
        p = subprocess.run([mt.binary(), "check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = subprocess.run([mt.binary(), "check-config", "/nonexistent.yaml"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.yaml", p.stderr)

    def test_serve_refuses_invalid_config(self):
        with mt.Gateway(start=False) as gw:
            gw.write_config("limits:\n  message_size: lots\n")
            p = subprocess.run([mt.binary(), "serve", "--config",
                                gw.config_path], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertRegex(p.stderr, re.escape(gw.config_path) +
                             r":2:17: ")


if __name__ == "__main__":
    unittest.main()
