"""`mailtrigger queue` against a running gateway, and retention.

Mail goes in over SMTP (smtplib); the trigger's http step posts to a
receiver (http.server in a thread) that answers 404 until the test fixes
it, so the event is dead at once. The real binary then lists it, shows
its attempts and raw message, retries it into done, refuses what it must,
and purges it, all while the gateway runs. Retention: ended messages and
rejections older than queue.retention / rejection_retention are deleted by
the gateway itself at start-up. Every wait polls with a deadline.
"""

import http.server
import json
import os
import smtplib
import subprocess
import threading
import time
import unittest

import mtharness as mt
from mtharness import INSTANCE, SENDER

DAY_MS = 86400 * 1000


class Receiver:
    """Answers every POST with self.status; counts the requests."""

    def __init__(self):
        self.status = 404
        self.hits = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.hits += 1
                    status = outer.status
                self.send_response(status)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not here\n" if status != 200
                                 else b"accepted\n")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run(*args, expect=0):
    """Runs mailtrigger with args; asserts the exit status."""
    p = subprocess.run([mt.binary()] + list(args), capture_output=True,
                       timeout=60)
    if expect is not None and p.returncode != expect:
        raise AssertionError("mailtrigger %s: exit %d, want %d\nstdout: %s"
                             "\nstderr: %s" % (" ".join(args), p.returncode,
                                               expect, p.stdout, p.stderr))
    return p


class QueueCLI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        step = {"http": {"url": cls.rx.url, "timeout": "2s",
                         "retry": {"first": "100ms", "max": "300ms"}}}
        # "slow" retries an hour later: it stays in state retry.
        slow = {"http": {"url": cls.rx.url, "timeout": "2s",
                         "retry": {"first": "1h", "max": "1h"}}}
        cls.gw = mt.Gateway({"instances": [{
            "host": INSTANCE, "sender_domains": ["acme.com"],
            "triggers": {"hook": {"flow": [step]},
                         "slow": {"flow": [slow]}}}]})

    @classmethod
    def tearDownClass(cls):
        try:
            cls.gw.stop()
        finally:
            cls.gw.close()
            cls.rx.close()

    def queue(self, *args, expect=0):
        return run("queue", *args, "--config", self.gw.config_path,
                   expect=expect)

    def send(self, subject, trigger="hook"):
        with smtplib.SMTP(self.gw.host, self.gw.port, timeout=10) as s:
            s.ehlo("client.test")
            s.mail(SENDER)
            s.rcpt(trigger + "@" + INSTANCE)
            code, reply = s.data(("Subject: %s\r\nFrom: <%s>\r\n\r\n"
                                  "body\r\n" % (subject, SENDER)).encode())
        self.assertEqual(code, 250, reply)
        return mt.QUEUED_RE.search(reply.decode()).group(1)

    def test_dead_list_show_retry_purge(self):
        self.rx.status = 404
        evt = self.send("disk full on db1")
        msg = evt[4:]
        self.gw.wait_state(evt, "dead")

        # list: text and JSON, filtered by state and trigger.
        out = self.queue("list", "--state", "dead").stdout.decode()
        self.assertIn(evt, out)
        self.assertIn("HTTP 404", out)
        rows = json.loads(self.queue("list", "--state", "dead", "--trigger",
                                     "hook", "--json").stdout)
        got = [r for r in rows if r["id"] == evt]
        self.assertEqual(len(got), 1, rows)
        self.assertEqual((got[0]["state"], got[0]["message_id"],
                          got[0]["mail_from"], got[0]["attempts"]),
                         ("dead", msg, SENDER, 1))
        self.assertEqual(json.loads(self.queue(
            "list", "--state", "done", "--json").stdout), [])

        # show: the event, its attempt, and the raw message.
        out = self.queue("show", evt).stdout.decode()
        for want in ("event            " + evt, "state            dead",
                     "dead_reason", "HTTP 404", "not here",
                     "Subject: disk full on db1", "mail_from        " + SENDER):
            self.assertIn(want, out)
        self.assertRegex(out, r"\n  1 +\S+Z +0 fail +404 +\d+ms  not here")
        raw = self.queue("show", msg, "--raw").stdout
        self.assertEqual(raw, bytes(self.gw.message(msg)["data"]))

        # retry: refused while dead is not what it is; works once fixed.
        self.rx.status = 200
        out = self.queue("retry", evt).stdout.decode()
        self.assertIn(evt + ": dead -> retry, due now", out)
        self.gw.wait_state(evt, "done")
        att = self.gw.query("SELECT status, code FROM attempts"
                            " WHERE event_id = ? ORDER BY n", (evt,))
        self.assertEqual([(a["status"], a["code"]) for a in att],
                         [("fail", 404), ("ok", 200)])
        p = self.queue("retry", evt, expect=1)
        self.assertIn(b"is done: only dead or retry events", p.stderr)
        p = self.queue("retry", "--dead")
        self.assertIn(b"0 dead events made due", p.stdout)

        # purge: the done message goes with its events and attempts.
        out = self.queue("purge", "--before", "0s").stdout.decode()
        self.assertIn("purged %s " % msg, out)
        self.assertRegex(out, r"purged [1-9]\d* messages, [1-9]\d* events")
        self.assertIsNone(self.gw.message(msg))
        self.assertEqual(self.gw.query(
            "SELECT count(*) AS n FROM attempts WHERE event_id = ?",
            (evt,))[0]["n"], 0)
        p = self.queue("show", evt, expect=1)
        self.assertIn(b"no event '%s'" % evt.encode(), p.stderr)

    def test_purge_keeps_what_has_not_ended(self):
        self.rx.status = 503  # retryable: state retry, an hour later
        evt = self.send("still trying", "slow")
        self.gw.wait_state(evt, "retry")
        self.queue("purge", "--before", "0s")
        self.assertIsNotNone(self.gw.message(evt[4:]))
        p = self.queue("retry", evt)
        self.assertIn(b"-> retry, due now", p.stdout)
        self.rx.status = 200
        self.gw.wait_state(evt, "done")

    def test_usage_and_refusals(self):
        d = self.gw.tmpdir
        missing = os.path.join(d, "nope", "queue.db")
        notdb = os.path.join(d, "mailtrigger.yaml")
        rows = [
            ("missing queue", ["list", "--queue", missing], 1,
             "No such file or directory"),
            ("not a queue", ["list", "--queue", notdb], 1,
             "not a SQLite database"),
            ("bad state", ["list", "--state", "gone"], 2,
             "--state 'gone' is not one of"),
            ("bad limit", ["list", "--limit", "-1"], 2, "--limit '-1'"),
            ("bad age", ["purge", "--before", "soon"], 2,
             "--before 'soon' is not an age"),
            ("no age", ["purge"], 2, "purge needs --before"),
            ("unknown id", ["show", "evt_0000000000000000"], 1,
             "no event 'evt_0000000000000000'"),
            ("retry unknown message", ["retry", "0000000000000000"], 1,
             "no message or event '0000000000000000'"),
            ("retry both", ["retry", "x", "--dead"], 2,
             "retry needs an id or --dead"),
            ("unknown option", ["list", "--raw"], 2,
             "unexpected argument '--raw'"),
            ("unknown subcommand", ["flush"], 2, "unknown subcommand"),
        ]
        for name, args, code, want in rows:
            with self.subTest(name):
                if "--queue" not in args:
                    args = args + ["--config", self.gw.config_path]
                p = run("queue", *args, expect=None)
                self.assertEqual(p.returncode, code, p.stderr)
                self.assertIn(want, p.stderr.decode())
        self.assertFalse(os.path.exists(os.path.dirname(missing)))


class LargeMessages(unittest.TestCase):
    """A body over 16 KB lives in a segment file (docs/queue.md, "Message
    bodies"): `queue show --raw` gives it byte for byte, and `queue purge`
    deletes its segment once no message needs it, but never the newest."""

    def test_show_raw_and_purge(self):
        body = b"\r\n".join(b"line %05d of a long log" % i
                              for i in range(1500))
        big = b"Subject: big\r\n\r\n" + body + b"\r\n"
        with mt.Gateway({"queue": {"hold": True}}) as gw:
            r = mt.send_message(gw.host, gw.port, ["db-outage@" + INSTANCE],
                                big)
            evt, msg = mt.queued_id(r.text)
            (row,) = gw.query("SELECT seg, mt_body(data, seg, seg_off, size)"
                              " AS body FROM messages WHERE id = ?", (msg,))
            self.assertIsNotNone(row["seg"])
            cli = ("--config", gw.config_path)
            raw = run("queue", "show", msg, "--raw", *cli).stdout
            self.assertEqual(raw, bytes(row["body"]))
            self.assertTrue(raw.endswith(body + b"\r\n"))
            seg = "%s-bodies/%010d" % (gw.queue_path, row["seg"])
            # Still the newest segment: kept although nothing needs it.
            with gw.db() as con:  # commits
                con.execute("UPDATE events SET state = 'done'")
            out = run("queue", "purge", "--before", "0s", *cli).stdout
            self.assertIn(b"purged %s " % msg.encode(), out)
            self.assertNotIn(b"segment file", out)
            self.assertTrue(os.path.exists(seg))
            # After a restart the next large body starts the next segment:
            # now the old one goes.
            gw.stop()
            gw.start()
            r = mt.send_message(gw.host, gw.port, ["db-outage@" + INSTANCE],
                                big)
            self.assertEqual(r.code, 250, r)
            out = run("queue", "purge", "--before", "0s", *cli).stdout
            self.assertIn(b"removed 1 body segment file\n", out)
            self.assertFalse(os.path.exists(seg))
            gw.stop()


class Retention(unittest.TestCase):
    """The gateway's own pass at start-up, per queue.retention."""

    def test_start_purges_old(self):
        cfg = {"queue": {"retention": "7d", "rejection_retention": "1d",
                         "rejections_max": 1000}}
        with mt.Gateway(cfg) as gw:
            gw.stop()
            now = int(time.time() * 1000)
            con = gw.db()
            for mid, age, state in (("0000000000OLD001", 8, "done"),
                                    ("0000000000NEW001", 6, "done"),
                                    ("0000000000OLD002", 8, "retry")):
                at = now - age * DAY_MS
                con.execute("INSERT INTO messages (id, received_at, data)"
                            " VALUES (?, ?, x'00')", (mid, at))
                con.execute("INSERT INTO events (id, message_id, state,"
                            " created_at, next_attempt_at) VALUES"
                            " (?, ?, ?, ?, ?)", ("evt_" + mid, mid, state,
                                                 at, now + DAY_MS))
            for age in (2, 0):
                con.execute("INSERT INTO rejections (at, code) VALUES"
                            " (?, 550)", (now - age * DAY_MS,))
            con.commit()
            con.close()
            mark = gw.mark()
            gw.start()
            rec = gw.wait_log("purged", since=mark)
            self.assertEqual((rec["messages"], rec["events"],
                              rec["rejections"]), ("1", "1", "1"))
            left = [r["id"] for r in gw.query(
                "SELECT id FROM messages ORDER BY id")]
            self.assertEqual(left, ["0000000000NEW001", "0000000000OLD002"])
            gw.stop()


if __name__ == "__main__":
    unittest.main()
