"""Crash test: under load from 8 client threads, kill -9 the gateway at
random moments 5 times, restarting it each time. Every message that got a
250 must be in the queue exactly once, with its event; a message whose 250
was lost in the crash may be there or not, but never twice; the database
must pass integrity_check. The seed is printed; MT_CRASH_SEED=N replays
the same kill points (in acknowledged messages since each start)."""

import os
import random
import re
import sys
import threading
import time
import unittest

import mtharness as mt
from mtharness import INSTANCE

CLIENTS = 8
KILLS = 5
TOKEN_RE = re.compile(rb"\r\nX-Token: (\S+)\r\n")
# Odd clients send bodies beyond the 16 KB that stay in the database row,
# so kills also land among segment writes (docs/queue.md, "Message bodies").
PAYLOAD = {0: b"x" * 500, 1: b"\r\n".join([b"y" * 78] * 500)}


class Load:
    """Client threads that send continuously to wherever the gateway is."""

    def __init__(self, gw):
        self.gw = gw
        self.up = threading.Event()
        self.done = threading.Event()
        self.cond = threading.Condition()
        self.acked = {}      # token -> message id, from a 250
        self.lost = []       # tokens whose DATA end got no reply
        self.tempfail = []   # tokens answered 4xx
        self.unexpected = []
        self.since_start = 0
        self.addr = (gw.host, gw.port)
        self.threads = [threading.Thread(target=self.client, args=(n,))
                        for n in range(CLIENTS)]

    def start(self):
        self.up.set()
        for t in self.threads:
            t.start()

    def client(self, n):
        seq = 0
        while not self.done.is_set():
            if not self.up.wait(30):
                self.unexpected.append("client %d: gateway never up" % n)
                return
            with self.cond:
                host, port = self.addr
            token = "c%d-%d" % (n, seq)
            seq += 1
            self.one(host, port, token, PAYLOAD[n % 2])

    def one(self, host, port, token, payload):
        sent = False
        try:
            with mt.RawSMTP(host, port, 10) as c:
                if c.begin_data(["db-outage@" + INSTANCE],
                                strict=False).code != 354:
                    return
                c.send(b"Subject: load\r\nX-Token: %s\r\n\r\n%s\r\n.\r\n"
                       % (token.encode(), payload))
                sent = True
                r = c.reply()
        except (OSError, AssertionError):
            if sent:
                with self.cond:
                    self.lost.append(token)
            return
        ids = mt.queued_id(r.text)
        with self.cond:
            if r.code == 250 and ids:
                self.acked[token] = ids[1]
                self.since_start += 1
                self.cond.notify_all()
            elif r.code // 100 == 4:
                self.tempfail.append(token)
            else:
                self.unexpected.append("%s: %r" % (token, r))

    def wait_acks(self, n, timeout=60):
        with self.cond:
            ok = self.cond.wait_for(lambda: self.since_start >= n, timeout)
        if not ok:
            raise AssertionError("only %d of %d acks since the start%s" % (
                self.since_start, n, self.gw.log_tail()))

    def restarted(self):
        with self.cond:
            self.addr = (self.gw.host, self.gw.port)
            self.since_start = 0
        self.up.set()

    def finish(self):
        self.done.set()
        self.up.set()
        for t in self.threads:
            t.join(60)


class Crash(unittest.TestCase):
    def test_kill9_under_load(self):
        seed = int(os.environ.get("MT_CRASH_SEED",
                                  random.SystemRandom().randrange(2**32)))
        sys.stderr.write("\ncrash test seed %d (MT_CRASH_SEED=%d replays)\n"
                         % (seed, seed))
        rng = random.Random(seed)
        gw = mt.Gateway()
        self.addCleanup(gw.close)
        load = Load(gw)
        self.addCleanup(load.finish)
        load.start()
        for k in range(KILLS):
            # Sometimes 0: killed right after the restart, while the
            # queue has just recovered the previous crash.
            load.wait_acks(rng.choice([0, rng.randint(5, 120)]))
            # Jitter so the kill does not always follow an ack.
            time.sleep(rng.uniform(0, 0.03))
            load.up.clear()
            gw.kill9()
            gw.start()
            load.restarted()
        load.wait_acks(20)
        load.finish()
        gw.stop()
        self.check(gw, load, seed)

    def check(self, gw, load, seed):
        self.assertEqual(load.unexpected, [])
        self.assertEqual(gw.query("PRAGMA integrity_check"),
                         [{"integrity_check": "ok"}])
        stored = {}
        in_segments = 0
        for row in gw.query("SELECT id, size, seg IS NOT NULL AS in_seg,"
                            " mt_body(data, seg, seg_off, size) AS data"
                            " FROM messages"):
            data = bytes(row["data"])
            m = TOKEN_RE.search(data)
            self.assertIsNotNone(m, "message %s has no token" % row["id"])
            client = int(m.group(1).split(b"-")[0][1:])
            self.assertTrue(data.endswith(b"\r\n\r\n" + PAYLOAD[client % 2]
                                          + b"\r\n"), row["id"])
            self.assertEqual(len(data), row["size"])
            in_segments += row["in_seg"]
            stored.setdefault(m.group(1).decode(), []).append(row["id"])
        dup = {t: ids for t, ids in stored.items() if len(ids) > 1}
        self.assertEqual(dup, {}, "stored more than once")
        missing = {t: i for t, i in load.acked.items()
                   if stored.get(t) != [i]}
        self.assertEqual(missing, {}, "acknowledged but not stored as "
                         "acknowledged (seed %d)" % seed)
        strays = set(stored) - set(load.acked) - set(load.lost)
        self.assertEqual(strays, set(), "stored but never sent in full")
        events = {e["id"]: e["message_id"] for e in gw.events()}
        for i in load.acked.values():
            self.assertEqual(events.get("evt_" + i), i)
        self.assertEqual(len(events), len(gw.query(
            "SELECT id FROM messages")), "messages without exactly one event")
        lost_kept = sum(1 for t in load.lost if t in stored)
        sys.stderr.write("acked %d, lost replies %d (%d of them stored), "
                         "tempfail %d\n" % (len(load.acked), len(load.lost),
                                            lost_kept, len(load.tempfail)))
        self.assertGreaterEqual(len(load.acked), 20)
        self.assertGreater(in_segments, 0)


if __name__ == "__main__":
    unittest.main()
