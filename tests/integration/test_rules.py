"""The trigger rules end to end: mail in over SMTP, the flow's http step
posts the event to a real receiver (http.server in a thread, from
test_flows), and the event carries what the trigger's rules computed.

Covers (docs/flows-rules.md, docs/flows.md "The event"): extracted
properties from the subject, the text body, a header and the +tag; a
required property missing (dead letter with its reason); automatic mail
under auto_replies ignore, flag and trigger; dedup with the default key
(a resend is a duplicate, a spoofed Message-ID with another body is not)
and with a template key on an extracted property. The sender policy
(triggers.<name>.senders) at RCPT, each refusal recorded. The dedup keys the
receiver gets are recomputed here from the documented recipe, so the
docs and the code cannot drift apart unnoticed."""

import hashlib
import json
import struct
import time
import unittest

import mtharness as mt
from mtharness import INSTANCE
from test_flows import Receiver, http_step

EXTRACT = {
    "ticket": {"from": "subject", "regex": r"#(?<value>\d+)"},
    "severity": {"from": "body", "regex": r"(?m)^Severity:\s*(?<value>\w+)"},
    "alert_id": {"from": "header:X-Alert-Id", "regex": r"(?<value>\S+)"},
    "prio": {"from": "tag", "regex": r"^(?<value>p[0-9])$"},
    "team": {"from": "subject", "regex": r"team=(?<value>\w+)",
             "default": "nobody"},
}


def frame(data):
    """One field of a dedup key: presence byte, 8-byte length, data."""
    if data is None:
        return b"\0" + struct.pack(">Q", 0)
    data = data.encode() if isinstance(data, str) else data
    return b"\1" + struct.pack(">Q", len(data)) + data


def scope(kind, trigger):
    return b"".join(frame(x) for x in ("mailtrigger-dedup-1", kind,
                                       INSTANCE, trigger))


def template_key(trigger, rendered):
    """docs/flows-rules.md: a template key, scoped to the trigger."""
    return hashlib.sha256(scope("template", trigger) +
                          frame(rendered)).hexdigest()


def body_digest(text):
    """SHA-256 of the text with line ends as LF, trailing white space
    and trailing blank lines dropped."""
    lines = [l.rstrip(" \t\r") for l in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return hashlib.sha256("\n".join(lines).encode()).digest()


def default_key(trigger, msg):
    """docs/flows-rules.md "The default key", from the event's message."""
    mid = msg["message_id"]
    if "@" in mid:
        left, _, right = mid.rpartition("@")
        mid = left + "@" + right.lower()
    return hashlib.sha256(
        scope("default", trigger) + frame(mid) +
        frame(msg["from"]["address"].lower()) +
        frame(" ".join(msg["date"].split())) +
        frame(body_digest(msg["text"]))).hexdigest()


def message(subject="test", body="hello\r\n", msgid=None, headers=()):
    msgid = msgid or "<%f.%d@acme.com>" % (time.time(), id(subject))
    head = ["From: Nagios <nagios@acme.com>",
            "Date: Sat, 28 Nov 2026 12:00:00 +0000",
            "Subject: " + subject, "Message-ID: " + msgid]
    head += list(headers)
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


class Rules(mt.SharedGatewayTest):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()

        def step(name):
            return [http_step(cls.rx.url("/" + name))]

        triggers = {
            "props": {"extract": EXTRACT, "flow": step("props")},
            "req": {"extract": {"severity": {
                "from": "body", "required": True,
                "regex": r"(?m)^Severity:\s*(?<value>\w+)"}},
                "flow": step("req")},
            "ign": {"flow": step("ign")},
            "flag": {"auto_replies": "flag", "flow": step("flag")},
            "trig": {"auto_replies": "trigger", "flow": step("trig")},
            "dedup": {"flow": step("dedup")},
            "keyed": {"extract": {"alert_id": EXTRACT["alert_id"]},
                      "dedup": {"key": "alert-{{properties.alert_id}}",
                                "window": "1h"},
                      "flow": step("keyed")},
            "guarded": {"senders": ["nagios@acme.com", "*@ops.acme.com"],
                        "flow": step("guarded")},
        }
        cls.CONFIG = {"instances": [{"host": INSTANCE,
                                     "sender_domains": ["acme.com"],
                                     "triggers": triggers}]}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.rx.close()

    # --- helpers
    def send(self, rcpt, data, mail_from=mt.SENDER):
        if "@" not in rcpt:
            rcpt += "@" + INSTANCE
        r = mt.send_message(self.gw.host, self.gw.port, [rcpt], data,
                            mail_from=mail_from)
        self.assertEqual(r.code, 250, r)
        return mt.queued_id(r.text)[0]

    def row(self, evt):
        return self.gw.query("SELECT * FROM events WHERE id = ?", (evt,))[0]

    def delivered(self, path, evt):
        """The event the receiver got for evt (exactly one request)."""
        reqs = [r for r in self.rx.got("/" + path)
                if r["headers"]["Idempotency-Key"] == evt + ":0"]
        self.assertEqual(len(reqs), 1, "requests for %s" % evt)
        return json.loads(reqs[0]["body"])

    def not_delivered(self, path, evt):
        got = [r for r in self.rx.got("/" + path)
               if r["headers"]["Idempotency-Key"].startswith(evt + ":")]
        self.assertEqual(got, [], "%s reached the receiver" % evt)

    # --- extract
    def test_properties_arrive_in_the_event(self):
        rows = [
            # name, recipient, subject, body, headers, want properties
            ("all four sources", "props+p1", "[ALERT] #4711 db1 down",
             "db1 is down\r\nSeverity: critical\r\n",
             ["X-Alert-Id: nagios-db1-42"],
             {"ticket": "4711", "severity": "critical",
              "alert_id": "nagios-db1-42", "prio": "p1",
              "team": "nobody"}),
            ("nothing matches: default only", "props", "no number",
             "no severity here\r\n", [], {"team": "nobody"}),
            ("tag not matching the regex", "props+urgent",
             "#7 team=dba", "Severity: low\r\n", [],
             {"ticket": "7", "severity": "low", "team": "dba"}),
            ("encoded subject and folded header", "props+p9",
             "=?UTF-8?B?W0FMRVJUXSAjOTkg4p2M?=", "x\r\nSeverity:\tmajor\r\n",
             ["X-Alert-Id:\r\n  folded-1"],
             {"ticket": "99", "severity": "major", "alert_id": "folded-1",
              "prio": "p9", "team": "nobody"}),
        ]
        for name, rcpt, subject, body, headers, want in rows:
            with self.subTest(name):
                evt = self.send(rcpt, message(subject, body,
                                              headers=headers))
                self.gw.wait_state(evt, "done")
                ev = self.delivered("props", evt)
                self.assertEqual(ev["properties"], want)
                self.assertIs(ev["auto_reply"], False)
                self.assertEqual(ev["dedup_key"],
                                 default_key("props", ev["message"]))

    def test_required_property_missing_is_dead(self):
        rows = [
            # name, body, final state, dead_reason, properties
            ("present", "Severity: high\r\n", "done", None,
             {"severity": "high"}),
            ("missing", "all fine\r\n", "dead",
             "missing required: severity", None),
        ]
        for name, body, state, reason, props in rows:
            with self.subTest(name):
                evt = self.send("req", message("req " + name, body))
                self.gw.wait_state(evt, state)
                self.assertEqual(self.row(evt)["dead_reason"], reason)
                if props is None:
                    self.not_delivered("req", evt)
                    self.assertEqual(self.gw.query(
                        "SELECT count(*) AS n FROM attempts WHERE "
                        "event_id = ?", (evt,))[0]["n"], 0)
                else:
                    self.assertEqual(
                        self.delivered("req", evt)["properties"], props)

    # --- automatic mail
    def test_auto_replies(self):
        ooo = ["Auto-Submitted: auto-replied"]
        rows = [
            # name, trigger, headers, mail_from, state, note, auto_reply
            ("ignore: Auto-Submitted", "ign", ooo, mt.SENDER, "ignored",
             "automatic mail: Auto-Submitted: auto-replied", None),
            ("ignore: Precedence bulk", "ign", ["Precedence: bulk"],
             mt.SENDER, "ignored", "automatic mail: Precedence: bulk",
             None),
            ("ignore: null sender", "ign", [], "", "ignored",
             "automatic mail: null sender", None),
            ("ignore: Auto-Submitted no", "ign", ["Auto-Submitted: no"],
             mt.SENDER, "done", None, False),
            ("ignore: ordinary mail", "ign", [], mt.SENDER, "done", None,
             False),
            ("flag: automatic", "flag", ooo, mt.SENDER, "done", None, True),
            ("flag: ordinary", "flag", [], mt.SENDER, "done", None, False),
            ("trigger: automatic", "trig", ooo, mt.SENDER, "done", None,
             False),
        ]
        for name, trig, headers, sender, state, note, auto in rows:
            with self.subTest(name):
                evt = self.send(trig, message(name, headers=headers),
                                mail_from=sender)
                self.gw.wait_state(evt, state)
                self.assertEqual(self.row(evt)["note"], note)
                if auto is None:
                    self.not_delivered(trig, evt)
                else:
                    self.assertIs(self.delivered(trig, evt)["auto_reply"],
                                  auto)

    # --- dedup
    def test_resend_is_duplicate_spoof_is_not(self):
        first = message("disk full", "db1 disk full\r\n",
                        msgid="<resend-1@acme.com>")
        a = self.send("dedup", first)
        self.gw.wait_state(a, "done")
        # The same message again, as after a lost 250, with trailing
        # white space a relay might add: same key.
        again = first.replace(b"db1 disk full\r\n",
                              b"db1 disk full  \r\n\r\n")
        b = self.send("dedup", again)
        self.gw.wait_state(b, "duplicate")
        self.assertEqual(self.row(b)["note"], "duplicate of " + a)
        # Someone else's Message-ID with other content: runs.
        spoof = message("disk full", "all clear, ignore the alert\r\n",
                        msgid="<resend-1@ACME.com>")
        c = self.send("dedup", spoof)
        self.gw.wait_state(c, "done")
        self.not_delivered("dedup", b)
        ea, ec = self.delivered("dedup", a), self.delivered("dedup", c)
        self.assertEqual(self.row(a)["dedup_key"], ea["dedup_key"])
        self.assertEqual(self.row(b)["dedup_key"], ea["dedup_key"])
        self.assertEqual(ea["dedup_key"], default_key("dedup", ea["message"]))
        self.assertNotEqual(ec["dedup_key"], ea["dedup_key"])
        self.assertEqual(ec["dedup_key"], default_key("dedup", ec["message"]))

    def test_template_key_on_a_property(self):
        rows = [
            # name, X-Alert-Id, state, duplicate of row n (or None)
            ("first of 42", "42", "done", None),
            ("42 again, other message", "42", "duplicate", 0),
            ("another alert", "43", "done", None),
        ]
        evts = []
        for name, alert, state, dup_of in rows:
            with self.subTest(name):
                evt = self.send("keyed", message(
                    name, name + "\r\n", headers=["X-Alert-Id: " + alert]))
                evts.append(evt)
                self.gw.wait_state(evt, state)
                row = self.row(evt)
                self.assertEqual(row["dedup_key"],
                                 template_key("keyed", "alert-" + alert))
                if dup_of is None:
                    ev = self.delivered("keyed", evt)
                    self.assertEqual(ev["dedup_key"], row["dedup_key"])
                    self.assertEqual(ev["properties"], {"alert_id": alert})
                else:
                    self.assertEqual(row["note"],
                                     "duplicate of " + evts[dup_of])
                    self.not_delivered("keyed", evt)

    # --- sender policy
    def test_sender_policy_at_rcpt(self):
        rcpt = "guarded+x@" + INSTANCE
        refused = ("5.7.1 <%s>: Sender address rejected: <%%s> may not "
                   "trigger guarded" % rcpt)
        rows = [
            # name, MAIL FROM, RCPT code, text
            ("listed", "nagios@acme.com", 250, "2.1.5 Ok"),
            ("domain case", "nagios@ACME.com", 250, "2.1.5 Ok"),
            ("wildcard", "anyone@Ops.acme.com", 250, "2.1.5 Ok"),
            ("local part case", "NAGIOS@acme.com", 550,
             refused % "NAGIOS@acme.com"),
            ("subdomain", "x@db.ops.acme.com", 550,
             refused % "x@db.ops.acme.com"),
            ("null sender", "", 550, refused % ""),
        ]
        for name, sender, code, text in rows:
            with self.subTest(name):
                with mt.RawSMTP(self.gw.host, self.gw.port) as c:
                    c.banner()
                    c.ehlo()
                    self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender).code,
                                     250)
                    r = c.cmd("RCPT TO:<%s>" % rcpt)
                    self.assertEqual((r.code, r.text), (code, text))
                    # An open trigger in the same transaction is judged
                    # on its own.
                    self.assertEqual(
                        c.cmd("RCPT TO:<ign@%s>" % INSTANCE).code, 250)
                    c.cmd("QUIT")
        # Each refusal is a rejections row (the trace reads them).
        # They are written in the background: wait for all three.
        for _ in mt.deadline_loop(10, "three rejections rows"):
            got = self.gw.query("SELECT mail_from, code, reply FROM "
                                "rejections WHERE rcpt = ? ORDER BY at",
                                (rcpt,))
            if len(got) >= 3:
                break
            time.sleep(0.02)  # polling interval, not synchronisation
        self.assertEqual(
            [(g["mail_from"], g["code"]) for g in got],
            [("NAGIOS@acme.com", 550), ("x@db.ops.acme.com", 550),
             ("", 550)])
        self.assertEqual(got[0]["reply"],
                         "550 " + refused % "NAGIOS@acme.com")
        evt = self.send("guarded", message("allowed"))
        self.gw.wait_state(evt, "done")
        self.assertEqual(self.delivered("guarded", evt)["envelope"]
                         ["mail_from"], mt.SENDER)


if __name__ == "__main__":
    unittest.main()
