"""200 concurrent SMTP sessions, each delivering one message: every one
gets a 250 with its own id and every id is in the queue with its event."""

import threading
import unittest

import mtharness as mt
from mtharness import INSTANCE, SENDER

SESSIONS = 200


class Concurrency(unittest.TestCase):
    def test_200_concurrent_sessions(self):
        gw = mt.Gateway()
        self.addCleanup(gw.close)
        # Every session is connected and greeted before any sends: the
        # 200 are open at the same time, not one after another.
        ready = threading.Barrier(SESSIONS, timeout=60)
        replies = [None] * SESSIONS
        errors = []

        def session(i):
            try:
                with mt.RawSMTP(gw.host, gw.port, 60) as c:
                    c.banner()
                    c.ehlo("c%d.test" % i)
                    ready.wait()
                    c.cmd("MAIL FROM:<%s>" % SENDER)
                    c.cmd("RCPT TO:<db-outage+s%d@%s>" % (i, INSTANCE))
                    c.cmd("DATA")
                    c.send(b"Subject: session %d\r\n\r\nbody\r\n.\r\n" % i)
                    replies[i] = c.reply().last
                    c.cmd("QUIT")
            except Exception as e:  # reported below with its session
                errors.append("session %d: %r" % (i, e))
                ready.abort()

        threads = [threading.Thread(target=session, args=(i,))
                   for i in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [], gw.log_tail())
        ids = [mt.queued_id(r) for r in replies]
        bad = [(i, r) for i, (r, x) in enumerate(zip(replies, ids))
               if x is None or r != "250 2.0.0 Ok: queued as " + x[0]]
        self.assertEqual(bad, [])
        msg_ids = {x[1] for x in ids}
        self.assertEqual(len(msg_ids), SESSIONS, "ids not distinct")
        stored = {r["id"]: r["helo"] for r in
                  gw.query("SELECT id, helo FROM messages")}
        self.assertEqual(set(stored), msg_ids)
        for i, x in enumerate(ids):
            self.assertEqual(stored[x[1]], "c%d.test" % i)
        evs = {e["id"]: e["rcpt_to"] for e in gw.events()}
        self.assertEqual(evs, {x[0]: ["db-outage+s%d@%s" % (i, INSTANCE)]
                               for i, x in enumerate(ids)})
        gw.stop()


if __name__ == "__main__":
    unittest.main()
