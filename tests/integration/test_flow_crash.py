"""Flow crash test (issue 3): 500 distinct messages in over SMTP, then
`kill -9` the gateway 5 times during delivery, restarting it each time on
the same queue. A real HTTP receiver (threaded, started here) records
every request's Idempotency-Key and the event id in its body. At the end:
every acknowledged event reached the receiver at least once, every
request carried `Idempotency-Key: <event id>:0` for its event, the
receiver counts exactly 500 distinct events, and every event is `done`.

Kill moments are set by what the receiver has seen, not by time:
- kill 1 while the receiver holds the first requests unanswered (its gate
  is shut while the messages go in), so those steps ran but were never
  recorded as done: they must be repeated, with the same key;
- kills 2..5 once the receiver has seen k distinct events, k drawn from a
  seeded generator (printed; MT_FLOW_CRASH_SEED=N replays the same k);
  one k is 0 instead: killed right after its restart, during recovery.
No sleep synchronises anything: every wait is on the receiver's counts
(a condition variable) or on queue rows, with a deadline."""

import http.server
import json
import os
import random
import sys
import threading
import time
import unittest

import mtharness as mt
from mtharness import INSTANCE

MESSAGES = 500
KILLS = 5
SENDERS = 8
TRIGGER = "crash"
WAIT = 40.0  # deadline for any one wait


class Receiver:
    """A threaded HTTP receiver on loopback that answers 200 once its gate
    is open (requests that arrive before wait, unanswered). Records every
    request: (event id from the body, Idempotency-Key, arrival number)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.requests = []     # dicts: event, key, bad
        self.events = set()    # distinct event ids seen
        self.gate = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.record(body, self.headers.get("Idempotency-Key"))
                outer.gate.wait(WAIT)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request, client_address):
                # A gateway killed mid-request leaves a dead socket: the
                # answer to it fails, which is expected here.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def record(self, body, key):
        try:
            evt = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError):
            evt = None
        with self.cond:
            self.requests.append({"event": evt, "key": key,
                                  "bad": evt is None})
            if evt is not None:
                self.events.add(evt)
            self.cond.notify_all()

    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def wait(self, pred, what, gw):
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self), WAIT)
            have = (len(self.requests), len(self.events))
        if not ok:
            raise AssertionError("receiver: timed out waiting for %s "
                                 "(requests %d, distinct events %d)%s"
                                 % (what, have[0], have[1], gw.log_tail()))

    def snapshot(self):
        with self.cond:
            return list(self.requests), set(self.events)

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def send_batch(host, port, first, count, out, errors):
    """Sends messages first..first+count-1 over one SMTP session; each is
    distinct (subject, Message-ID, body). out[index] = event id."""
    try:
        with mt.RawSMTP(host, port, WAIT) as c:
            c.banner()
            c.ehlo("client.test")
            for i in range(first, first + count):
                data = ("Subject: crash %d\r\nMessage-ID: <crash.%d.%d@"
                        "acme.com>\r\n\r\nmessage number %d\r\n"
                        % (i, i, os.getpid(), i))
                for line in ("MAIL FROM:<%s>" % mt.SENDER,
                             "RCPT TO:<%s@%s>" % (TRIGGER, INSTANCE),
                             "DATA"):
                    r = c.cmd(line)
                    if r.code not in (250, 354):
                        raise AssertionError("%s: %r" % (line, r))
                c.send(mt.dot_stuff(data) + b".\r\n")
                r = c.reply()
                ids = mt.queued_id(r.text)
                if r.code != 250 or not ids:
                    raise AssertionError("message %d: %r" % (i, r))
                out[i] = ids[0]
            c.cmd("QUIT")
    except (OSError, AssertionError) as e:
        errors.append("sender from %d: %s" % (first, e))


class FlowCrash(unittest.TestCase):
    def test_kill9_during_delivery(self):
        seed = int(os.environ.get("MT_FLOW_CRASH_SEED",
                                  random.SystemRandom().randrange(2**32)))
        sys.stderr.write("\nflow crash test seed %d "
                         "(MT_FLOW_CRASH_SEED=%d replays)\n" % (seed, seed))
        rng = random.Random(seed)
        rx = Receiver()
        self.addCleanup(rx.close)
        step = {"http": {"url": rx.url(), "timeout": "30s",
                         "retry": {"first": "100ms", "max": "300ms"}}}
        gw = mt.Gateway({"instances": [{
            "host": INSTANCE, "sender_domains": ["acme.com"],
            "triggers": {TRIGGER: {"flow": [step]}}}]})
        self.addCleanup(gw.close)

        acked = self.send_all(gw)
        # Kill 1: the receiver holds its first requests unanswered.
        rx.wait(lambda r: len(r.events) >= 1, "a first request", gw)
        gw.kill9()
        held = rx.snapshot()[1]  # all unanswered: the gate is still shut
        rx.gate.set()
        gw.start()
        kills = [("held", len(held))]
        ks = sorted(rng.sample(range(20, MESSAGES - 20), KILLS - 1))
        # One of them right after its restart, while it recovers.
        ks[rng.randrange(len(ks))] = 0
        for k in ks:
            rx.wait(lambda r, k=k: len(r.events) >= k,
                    "%d distinct events" % k, gw)
            gw.kill9()
            kills.append((k, len(rx.snapshot()[1])))
            gw.start()
        rx.wait(lambda r: len(r.events) >= MESSAGES,
                "all %d events" % MESSAGES, gw)
        self.wait_done(gw, acked)
        gw.stop()
        self.check(gw, rx, acked, held, kills, seed)

    def send_all(self, gw):
        """All MESSAGES in, SENDERS sessions at once; returns event ids."""
        out = [None] * MESSAGES
        errors = []
        per = MESSAGES // SENDERS
        threads = []
        for n in range(SENDERS):
            first = n * per
            count = MESSAGES - first if n == SENDERS - 1 else per
            threads.append(threading.Thread(
                target=send_batch,
                args=(gw.host, gw.port, first, count, out, errors)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 2)
        self.assertEqual(errors, [])
        self.assertNotIn(None, out)
        self.assertEqual(len(set(out)), MESSAGES, "event ids not distinct")
        return out

    def wait_done(self, gw, acked):
        got = None
        for _ in mt.deadline_loop(WAIT, "every event done", lambda:
                                  " (states %r)%s" % (got, gw.log_tail())):
            rows = gw.query("SELECT state, count(*) AS n FROM events "
                            "GROUP BY state")
            got = {r["state"]: r["n"] for r in rows}
            if got == {"done": len(acked)}:
                return
            time.sleep(0.05)  # polling interval, not synchronisation

    def check(self, gw, rx, acked, held, kills, seed):
        reqs, events = rx.snapshot()
        why = " (seed %d, kills %r)" % (seed, kills)
        self.assertEqual([r for r in reqs if r["bad"]], [],
                         "requests without an event id" + why)
        wrong = [(r["event"], r["key"]) for r in reqs
                 if r["key"] != r["event"] + ":0"]
        self.assertEqual(len(wrong), 0, "%d requests whose Idempotency-Key"
                         " is not <event id>:0, e.g. (event, key) %r%s"
                         % (len(wrong), wrong[:5], why))
        self.assertEqual(len(events), MESSAGES,
                         "distinct events at the receiver" + why)
        self.assertEqual(events, set(acked),
                         "receiver's events vs the 250 replies" + why)
        per = {}
        for r in reqs:
            per[r["event"]] = per.get(r["event"], 0) + 1
        # The held requests ran but their answer never reached the queue:
        # each must have been repeated (with the key checked above).
        once = sorted(e for e in held if per[e] < 2)
        self.assertEqual(once, [], "held at kill 1 but not repeated" + why)
        rows = gw.query("SELECT id, state FROM events")
        self.assertEqual({r["id"]: r["state"] for r in rows},
                         {e: "done" for e in acked}, "final states" + why)
        no_ok = gw.query("SELECT id FROM events WHERE NOT EXISTS (SELECT 1 "
                         "FROM attempts WHERE event_id = events.id AND "
                         "status = 'ok')")
        self.assertEqual(no_ok, [], "done events without an ok attempt"
                         + why)
        repeats = len(reqs) - len(events)
        sys.stderr.write("requests %d, distinct events %d, repeats %d, "
                         "held at kill 1: %d, kills (k, seen) %r, "
                         "gateway starts %d\n"
                         % (len(reqs), len(events), repeats, len(held),
                            kills, gw.starts))


if __name__ == "__main__":
    unittest.main()
