"""mailtrigger trace against a running gateway (docs/trace.md).

Real SMTP clients from distinct loopback addresses (127.0.0.2, 127.0.0.3)
make refused RCPTs (relay denied, 550 5.1.2 CNAME expansion); the test
then runs `mailtrigger trace` while the gateway runs and checks what it
tells: refusals by sender and by client with their counts, the attempts
of a delivered message in order, a duplicate and an ignored auto-reply
with their verdicts, and clear errors for unknown ids. Refusals reach
the queue up to a second after the RCPT (they ride the next group
commit), so the test waits for the rows with a deadline.
"""
import json
import os
import socket
import subprocess
import unittest

import mtharness as h

CLIENT_A = "127.0.0.2"
CLIENT_B = "127.0.0.3"
FROM = "nagios@acme.com"


class SourcedSMTP(h.RawSMTP):
    """RawSMTP from a chosen local address (any of 127/8 on Linux)."""

    def __init__(self, host, port, source, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0))
        self.timeout = timeout
        self.buf = b""
        self.transcript = []


def message(subject, extra=""):
    return ("From: Nagios <nagios@acme.com>\r\n"
            "To: alert@%s\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@acme.com>\r\n"
            "Subject: %s\r\n%s"
            "\r\n"
            "body of %s\r\n" % (h.INSTANCE, subject.replace(" ", "-"),
                                subject, extra, subject)).encode()


class TraceTest(unittest.TestCase):

    def setUp(self):
        self.gw = None

    def tearDown(self):
        if self.gw is not None:
            self.gw.close()

    def start(self, over=None):
        self.gw = h.Gateway(over)
        return self.gw

    def trace(self, *args, want_rc=0):
        p = subprocess.run([h.binary(), "trace", "--config",
                            self.gw.config_path] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, want_rc,
                         "trace %s: rc %d\nstdout:\n%s\nstderr:\n%s"
                         % (" ".join(args), p.returncode, p.stdout,
                            p.stderr))
        return p

    def trace_json(self, *args):
        return json.loads(self.trace(*args, "--json").stdout)

    def refuse(self, source, helo, rcpts):
        """One transaction from source: MAIL, then each RCPT refused."""
        with SourcedSMTP(self.gw.host, self.gw.port, source) as c:
            c.banner()
            c.ehlo(helo)
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % FROM).code, 250)
            for r in rcpts:
                reply = c.cmd("RCPT TO:<%s>" % r)
                self.assertGreaterEqual(reply.code, 500, reply)
            c.cmd("QUIT")

    def send(self, data, rcpt=None):
        r = h.send_message(self.gw.host, self.gw.port,
                           [rcpt or "alert@" + h.INSTANCE], data)
        ids = h.queued_id(r.last)
        self.assertIsNotNone(ids, r)
        return ids

    # ------------------------------------------------------------ refusals

    def test_refusals_by_sender_and_client(self):
        gw = self.start()
        mark = gw.mark()
        canon = "alert@" + h.CANONICAL
        self.refuse(CLIENT_A, "mx.customer-a.test",
                    [canon, "x@elsewhere.test", canon])
        self.refuse(CLIENT_B, "mx.customer-b.test", [canon])
        gw.wait_count(4, "rejections")

        # The diagnosis log line: client, HELO, sender, running count.
        logs = [r for r in gw.records(mark)
                if r.get("msg") == "cname-expanded recipient refused"]
        got = [(r["client_ip"], r["helo"], r["from"], r["client_count"])
               for r in logs]
        self.assertEqual(got, [
            (CLIENT_A, "mx.customer-a.test", FROM, "1"),
            (CLIENT_A, "mx.customer-a.test", FROM, "2"),
            (CLIENT_B, "mx.customer-b.test", FROM, "1")])

        doc = self.trace_json("--from", FROM)
        got = [(r["client_ip"], r["rcpt"], r["code"])
               for r in doc["refusals"]]
        self.assertEqual(got, [
            (CLIENT_A, canon, 550), (CLIENT_A, "x@elsewhere.test", 554),
            (CLIENT_A, canon, 550), (CLIENT_B, canon, 550)])
        self.assertEqual(doc["messages"], [])
        self.assertTrue(doc["refusals"][1]["reply"].startswith(
            "554 5.7.1 <x@elsewhere.test>: Relay access denied"))
        text = self.trace("--from", FROM, "--since", "1h").stdout
        self.assertIn("RCPT TO:<x@elsewhere.test> refused (client %s, "
                      "HELO mx.customer-a.test): 554 5.7.1" % CLIENT_A,
                      text)

        doc = self.trace_json("--refusals")
        got = sorted((g["client_ip"], g["helo"], g["mail_from"],
                      g["enhanced"], g["n"], g["client_total"])
                     for g in doc["groups"])
        self.assertEqual(got, [
            (CLIENT_A, "mx.customer-a.test", FROM, "5.1.2", 2, 3),
            (CLIENT_A, "mx.customer-a.test", FROM, "5.7.1", 1, 3),
            (CLIENT_B, "mx.customer-b.test", FROM, "5.1.2", 1, 1)])
        self.assertEqual(doc["groups"][0]["client_ip"], CLIENT_A,
                         "the client with most refusals comes first")
        text = self.trace("--refusals").stdout
        self.assertIn("client %s: 3 refusals" % CLIENT_A, text)
        self.assertIn("client %s: 1 refusals" % CLIENT_B, text)
        self.assertIn("CNAME expansion by this client's MTA", text)

    def test_nothing_found(self):
        self.start()
        p = self.trace("--from", "nobody@nowhere.test", want_rc=1)
        self.assertIn("0 messages, 0 refusals", p.stdout)
        p = self.trace("evt_01KB55B7KW000001", want_rc=1)
        self.assertIn("no event evt_01KB55B7KW000001 in the queue",
                      p.stderr)
        p = self.trace("01KB55B7KW000001", want_rc=1)
        self.assertIn("no message 01KB55B7KW000001", p.stderr)
        p = self.trace("nonsense", want_rc=1)
        self.assertIn("neither an event id", p.stderr)
        self.trace("--from", FROM, "--since", "soon", want_rc=2)
        self.trace(want_rc=2)
        self.trace("--from", FROM, "--refusals", want_rc=2)

    def test_never_creates_a_queue(self):
        gw = self.start()
        gw.stop()
        missing = os.path.join(gw.tmpdir, "elsewhere", "queue.db")
        gw.write_config({"queue": {"path": missing}})
        p = self.trace("--refusals", want_rc=1)
        self.assertIn("queue %s: No such file or directory" % missing,
                      p.stderr)
        self.assertFalse(os.path.exists(missing))
        self.assertFalse(os.path.exists(os.path.dirname(missing)))

    def test_large_message_and_older_schema(self):
        # Over 16 KB: the body is in a segment file (docs/queue.md,
        # "Message bodies"); trace reads it by id and by Message-ID.
        gw = self.start()
        filler = "".join("line %05d of the attached log\r\n" % i
                         for i in range(2000))
        evt, msgid = self.send(message("big log", extra="X-Log: yes\r\n")
                               + filler.encode())
        self.assertEqual(gw.query("SELECT seg IS NOT NULL AS s, data IS NULL"
                                  " AS d FROM messages WHERE id = ?",
                                  (msgid,)), [{"s": 1, "d": 1}])
        self.assertEqual(self.trace_json(evt)["message"]["subject"],
                         "big log")
        doc = self.trace_json("--message-id", "<big-log@acme.com>")
        self.assertEqual([t["message"]["id"] for t in doc["traces"]],
                         [msgid])
        # A queue the gateway has not migrated yet is refused, with how.
        gw.stop()
        with gw.db() as con:
            con.execute("PRAGMA user_version = 4")
        p = self.trace(evt, want_rc=1)
        self.assertIn("schema version 4 is older than this mailtrigger's: "
                      "start the gateway once to migrate it to 5", p.stderr)

    # ------------------------------------------------------------ messages

    def test_delivered_message_attempts_in_order(self):
        gw = h.Gateway(start=False)
        self.gw = gw
        marker = os.path.join(gw.tmpdir, "second-try")
        script = ("if [ -e %s ]; then echo delivered; exit 0; fi; "
                  "touch %s; echo busy; exit 75" % (marker, marker))
        gw.write_config({"instances": [{
            "host": h.INSTANCE, "sender_domains": ["acme.com"],
            "triggers": {"alert": {"flow": [
                {"exec": {"command": ["/bin/echo", "step zero"]}},
                {"exec": {"command": ["/bin/sh", "-c", script],
                          "retry": {"first": "100ms"}}}]}}}]})
        gw.start()
        evt, msgid = self.send(message("disk full"))
        gw.wait_state(evt, "done")

        doc = self.trace_json(evt)
        self.assertEqual(doc["message"]["id"], msgid)
        self.assertEqual(doc["message"]["subject"], "disk full")
        (e,) = doc["events"]
        got = [(a["n"], a["step"], a["step_kind"], a["status"], a["code"])
               for a in e["attempt_list"]]
        self.assertEqual(got, [(1, 0, "exec", "ok", 0),
                               (2, 1, "exec", "retry", 75),
                               (3, 1, "exec", "ok", 0)])
        times = [a["at"] for a in e["attempt_list"]]
        self.assertEqual(times, sorted(times))
        self.assertEqual(e["state"], "done")
        self.assertEqual(e["sender_policy"]["verdict"], "any")
        self.assertEqual(e["verdict"], "run")
        self.assertEqual(e["dedup_key_computed"], e["dedup_key"])

        text = self.trace(evt).stdout
        lines = [ln.strip() for ln in text.splitlines()]
        att = [ln.split("  ", 1)[1] for ln in lines if "attempt " in ln
               and ": step " in ln]
        self.assertEqual(att, [
            "attempt 1: step 0 (exec) ok, code 0, %s" % att[0].split(
                ", ", 2)[2],
            "attempt 2: step 1 (exec) retry, code 75, %s" % att[1].split(
                ", ", 2)[2],
            "attempt 3: step 1 (exec) ok, code 0, %s" % att[2].split(
                ", ", 2)[2]])
        self.assertIn("step zero", att[0])
        self.assertIn("busy", att[1])
        self.assertIn("delivered", att[2])
        self.assertIn("sender policy: no sender policy", text)
        self.assertIn("state: done (3 attempts)", text)
        # The bare queue id and the Message-ID find the same message.
        self.assertEqual(self.trace_json(msgid)["message"]["id"], msgid)
        doc = self.trace_json("--message-id", "<disk-full@acme.com>")
        self.assertEqual([t["message"]["id"] for t in doc["traces"]],
                         [msgid])

    def test_duplicate_and_ignored_auto_reply(self):
        gw = self.start()
        first, _ = self.send(message("db down"))
        gw.wait_state(first, "done")
        dup, _ = self.send(message("db down"))
        gw.wait_state(dup, "duplicate")
        auto, _ = self.send(message("out of office",
                                    "Auto-Submitted: auto-replied\r\n"))
        gw.wait_state(auto, "ignored")

        (e,) = self.trace_json(dup)["events"]
        self.assertEqual(e["note"], "duplicate of %s" % first)
        self.assertEqual(e["dedup_key"], e["dedup_key_computed"])
        text = self.trace(dup).stdout
        self.assertIn("state: duplicate: duplicate of %s" % first, text)

        (e,) = self.trace_json(auto)["events"]
        self.assertTrue(e["auto_reply"]["automatic"])
        self.assertEqual(e["verdict"], "ignored")
        self.assertEqual(e["attempt_list"], [])
        text = self.trace(auto).stdout
        self.assertIn("auto-reply: automatic mail (", text)
        self.assertIn("auto_replies: ignore", text)
        self.assertIn("state: ignored: automatic mail", text)

        # --from lists the three messages with their final states.
        doc = self.trace_json("--from", FROM)
        got = [m["events"][0]["state"] for m in doc["messages"]]
        self.assertEqual(got, ["done", "duplicate", "ignored"])


if __name__ == "__main__":
    unittest.main()
