"""`mailtrigger route`, the dry run (docs/route.md): the RCPT reply per
recipient with instance, trigger and sender-policy verdict; with a
message, the parse warnings, auto-reply verdict, properties and dedup
key. Checked against the real thing: the same envelope and message sent
to a running gateway must give the same RCPT replies and an event with
the same properties and dedup key. The dry run never creates the queue.
"""

import json
import os
import subprocess
import tempfile
import unittest

import mtharness as mt
from mtharness import INSTANCE
from test_flows import Receiver, http_step
from test_rules import template_key

MESSAGE = (b"From: Nagios <nagios@acme.com>\r\n"
           b"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
           b"Subject: [PROBLEM] #4711 db1 down\r\n"
           b"Message-ID: <route-1@acme.com>\r\n"
           b"X-Alert-Id: db1-42\r\n\r\n"
           b"db1 is down\r\nSeverity: critical\r\n")


def triggers(rx):
    return {
        "db-outage": {
            "senders": ["nagios@acme.com", "*@ops.acme.com"],
            "extract": {
                "severity": {"from": "body", "required": True,
                             "regex": r"(?m)^Severity:\s*(?<value>\w+)"},
                "ticket": {"from": "subject", "regex": r"#(?<value>\d+)"},
                "prio": {"from": "tag", "regex": r"^(?<value>p\d)$"}},
            "flow": [http_step(rx.url("/db"))]},
        "keyed": {
            "extract": {"alert_id": {"from": "header:X-Alert-Id",
                                     "regex": r"(?<value>\S+)"}},
            "dedup": {"key": "{{properties.alert_id}}", "window": "2h"},
            "auto_replies": "flag",
            "flow": [http_step(rx.url("/keyed"))]},
        "deploy": {"recipients": ["ops"],
                   "flow": [http_step(rx.url("/deploy"))]},
    }


class Route(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        cfg = {"instances": [{"host": INSTANCE,
                              "sender_domains": ["acme.com"],
                              "triggers": triggers(cls.rx)}]}
        # The dry run reads this config; no gateway runs on it.
        cls.gw = mt.Gateway(cfg, start=False)
        cls.tmp = tempfile.mkdtemp(prefix="mt-route-")
        cls.msg = os.path.join(cls.tmp, "alert.eml")
        with open(cls.msg, "wb") as f:
            f.write(MESSAGE)

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        cls.rx.close()
        subprocess.run(["rm", "-rf", cls.tmp], check=False)

    def route(self, sender, rcpts, *extra, stdin=None):
        argv = [mt.binary(), "route", "--config", self.gw.config_path,
                "--from", sender]
        for r in rcpts:
            argv += ["--to", r]
        p = subprocess.run(argv + list(extra), input=stdin,
                           capture_output=True, timeout=30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def route_json(self, sender, rcpts, *extra, stdin=None, want_rc=None):
        rc, out, err = self.route(sender, rcpts, "--json", *extra,
                                  stdin=stdin)
        if want_rc is not None:
            self.assertEqual(rc, want_rc, err)
        return json.loads(out)

    def test_rcpt_decisions(self):
        d = INSTANCE
        rows = [
            # name, sender, rcpt, reply, facts
            ("trigger form, tag, allowed", "nagios@acme.com",
             "db-outage+p1@" + d, "250 2.1.5 Ok",
             {"instance": d, "trigger": "db-outage", "form": "trigger",
              "tag": "p1", "sender_policy": "allowed",
              "sender_matched": "nagios@acme.com"}),
            ("wildcard sender", "<x@OPS.acme.com>", "db-outage@" + d,
             "250 2.1.5 Ok",
             {"sender_policy": "allowed", "sender_matched": "*@ops.acme.com",
              "tag": None}),
            ("sender denied", "mallory@evil.example", "db-outage@" + d,
             "550 5.7.1 <db-outage@%s>: Sender address rejected: "
             "<mallory@evil.example> may not trigger db-outage" % d,
             {"sender_policy": "denied", "trigger": "db-outage",
              "reason": "sender_denied"}),
            ("null sender denied", "<>", "db-outage@" + d,
             "550 5.7.1 <db-outage@%s>: Sender address rejected: <> may "
             "not trigger db-outage" % d, {"sender_policy": "denied"}),
            ("no list", "<>", "keyed@" + d, "250 2.1.5 Ok",
             {"sender_policy": "any", "sender_matched": None}),
            ("recipient form", "nagios@acme.com", "ops@deploy." + d,
             "250 2.1.5 Ok", {"form": "recipient", "recipient": "ops"}),
            ("not a recipient", "nagios@acme.com", "qa@deploy." + d,
             "550 5.1.1 <qa@deploy.%s>: Recipient address rejected: not "
             "a recipient of this trigger" % d,
             {"reason": "not_a_recipient"}),
            ("no such trigger", "nagios@acme.com", "nope@" + d,
             "550 5.1.1 <nope@%s>: Recipient address rejected: no such "
             "trigger" % d, {"reason": "no_such_trigger"}),
            ("relay", "nagios@acme.com", "user@example.org",
             "554 5.7.1 <user@example.org>: Relay access denied",
             {"reason": "relay_denied"}),
            ("syntax", "nagios@acme.com", "two words@" + d,
             "501 5.1.3 Bad recipient address syntax",
             {"reason": "syntax"}),
        ]
        for name, sender, rcpt, reply, facts in rows:
            with self.subTest(name):
                want_rc = 0 if reply.startswith("250") else 1
                got = self.route_json(sender, [rcpt], want_rc=want_rc)
                r = got["recipients"][0]
                self.assertEqual(r["reply"], reply)
                self.assertEqual(r["accepted"], want_rc == 0)
                for k, v in facts.items():
                    self.assertEqual(r.get(k), v, k)
                self.assertNotIn("events", got)

    def test_same_as_the_gateway(self):
        """The dry run's replies and event fields are what a running
        gateway answers and delivers for the same envelope and message."""
        d = INSTANCE
        rcpts = ["db-outage+p2@" + d, "user@example.org", "keyed@" + d]
        dry = self.route_json(mt.SENDER, rcpts, self.msg, want_rc=1)
        self.gw.start()
        try:
            with mt.RawSMTP(self.gw.host, self.gw.port) as c:
                c.banner()
                c.ehlo()
                c.cmd("MAIL FROM:<%s>" % mt.SENDER)
                got = [c.cmd("RCPT TO:<%s>" % r).last for r in rcpts]
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(mt.dot_stuff(MESSAGE) + b".\r\n")
                evt = mt.queued_id(c.reply().text)[0]
                c.cmd("QUIT")
            self.assertEqual(got, [r["reply"] for r in dry["recipients"]])
            self.gw.wait_state(evt, "done")
            self.gw.wait_state(evt + ".2", "done")
        finally:
            self.gw.stop()
        events = {e["trigger"]: e for e in dry["events"]}
        self.assertEqual([e["id"] for e in dry["events"]],
                         ["evt_dry-run", "evt_dry-run.2"])
        for trig, path, eid in (("db-outage", "/db", evt),
                                ("keyed", "/keyed", evt + ".2")):
            with self.subTest(trig):
                sent = json.loads(self.rx.got(path)[-1]["body"])
                self.assertEqual(sent["id"], eid)
                e = events[trig]
                self.assertEqual(e["verdict"], "run")
                self.assertEqual(e["properties"], sent["properties"])
                self.assertEqual(e["dedup_key"], sent["dedup_key"])
                self.assertEqual(e["auto_reply"]["automatic"], False)
                self.assertEqual(e["parse_warnings"],
                                 sent["message"]["parse_warnings"])
                self.assertEqual(e["event"]["message"]["text"],
                                 sent["message"]["text"])
        self.assertEqual(events["db-outage"]["properties"],
                         {"severity": "critical", "ticket": "4711",
                          "prio": "p2"})
        self.assertEqual(events["keyed"]["dedup_key"],
                         template_key("keyed", "db1-42"))
        self.assertEqual(events["keyed"]["dedup_window_s"], 7200)

    def test_verdicts_and_stdin(self):
        d = INSTANCE
        lf = MESSAGE.replace(b"\r\n", b"\n")
        ooo = b"Auto-Submitted: auto-replied\n" + lf
        rows = [
            # name, rcpt, message, verdict, reason, automatic, exit
            ("LF file runs", "db-outage@" + d, lf, "run", None, False, 0),
            ("auto-reply ignored", "db-outage@" + d, ooo, "ignored",
             "automatic mail: Auto-Submitted: auto-replied", True, 1),
            ("auto-reply flagged", "keyed@" + d, ooo, "run", None, True, 0),
            ("required missing", "db-outage@" + d,
             lf.replace(b"Severity", b"Level"), "dead",
             "missing required: severity", False, 1),
        ]
        for name, rcpt, data, verdict, reason, auto, rc in rows:
            with self.subTest(name):
                got = self.route_json(mt.SENDER, [rcpt], "-", stdin=data,
                                      want_rc=rc)
                self.assertTrue(got["crlf_added"])
                e = got["events"][0]
                self.assertEqual((e["verdict"], e["reason"]),
                                 (verdict, reason))
                self.assertEqual(e["auto_reply"]["automatic"], auto)
                self.assertNotIn("bare_lf", e["parse_warnings"])
                self.assertEqual(e["event"]["auto_reply"],
                                 auto and name == "auto-reply flagged")

    def test_text_output(self):
        rc, out, err = self.route(mt.SENDER, ["db-outage+p1@" + INSTANCE],
                                  self.msg)
        self.assertEqual(rc, 0, err)
        for want in ("rcpt <db-outage+p1@%s>: 250 2.1.5 Ok" % INSTANCE,
                     "  sender policy: allowed (nagios@acme.com)",
                     "  tag: p1",
                     "  auto-reply: not automatic, auto_replies: ignore",
                     '  properties: {"severity":"critical","ticket":"4711",'
                     '"prio":"p1"}',
                     "  verdict: run"):
            self.assertIn(want + "\n", out)

    def test_usage(self):
        rows = [
            # name, argv after "route", exit
            ("no --to", ["--from", "a@b.example"], 2),
            ("no --from", ["--to", "a@b.example"], 2),
            ("bad --from", ["--from", "not an address", "--to", "a@b.c"], 2),
            ("unknown option", ["--from", "a@b.c", "--to", "a@b.c", "-x"],
             2),
            ("two files", ["--from", "a@b.c", "--to", "a@b.c", "f", "g"], 2),
            ("missing value", ["--from", "a@b.c", "--to"], 2),
            ("unreadable message", ["--config", self.gw.config_path,
                                    "--from", "a@b.c", "--to", "a@b.c",
                                    "/nonexistent/x.eml"], 1),
            ("bad config", ["--config", "/nonexistent.yaml", "--from",
                            "a@b.c", "--to", "a@b.c"], 1),
        ]
        for name, args, rc in rows:
            with self.subTest(name):
                p = subprocess.run([mt.binary(), "route"] + args,
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, rc, p.stderr)
                self.assertEqual(p.stdout, b"")
                self.assertNotEqual(p.stderr, b"")

    def test_never_touches_the_queue(self):
        never = os.path.join(self.tmp, "never.db")
        cfg = os.path.join(self.tmp, "never.yaml")
        with open(cfg, "w") as f:
            f.write(self.gw.config_text.replace(self.gw.queue_path, never))
        p = subprocess.run([mt.binary(), "route", "--config", cfg, "--from",
                            mt.SENDER, "--to", "db-outage@" + INSTANCE,
                            self.msg], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"verdict: run", p.stdout)
        self.assertFalse(os.path.exists(never))
        self.assertEqual(os.listdir(self.tmp), ["alert.eml", "never.yaml"])


if __name__ == "__main__":
    unittest.main()
