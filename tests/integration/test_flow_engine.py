"""The flow engine (src/flow/engine.c, runner.c): every step runs from
ONE thread, so a hundred webhook requests are in flight at once while the
gateway has a handful of threads; max_in_flight caps the requests to one
URL and the rest wait (they do not fail); intake wakes delivery at once,
and a retry runs at its due time, with the fallback poll set to ten
minutes (MT_RUNNER_POLL_MS) so neither can come from polling."""

import http.server
import os
import shutil
import smtplib
import tempfile
import threading
import time
import unittest

import mtharness as mt
from mtharness import INSTANCE

WIDE = 100  # requests held open at once by the barrier receiver
CAP = 5     # max_in_flight of the capped trigger
CAPPED = 20  # events sent to it
MAX_EXEC = 16  # commands at once (ENGINE_MAX_EXEC in src/flow/engine.c)
PROCS = 20  # events sent to the exec trigger
SLOW_POLL = "600000"  # 10 min: a delivery within the test is not a poll


class HoldingReceiver:
    """An HTTP receiver that holds each request until the test (or the
    barrier) releases it, and records how many were open at once."""

    def __init__(self):
        self.cond = threading.Condition()
        self.open = 0
        self.max_open = 0
        self.done = []
        self.released = 0  # requests allowed to answer
        self.barrier = None  # answer all once this many are open
        self.arrivals = []  # times of the requests to /prompt
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                status = outer.hold(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with outer.cond:
                    outer.done.append(self.path)
                    outer.cond.notify_all()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256  # a hundred connects at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def hold(self, path):
        if path == "/prompt":  # answered at once: 503 first, then 200
            with self.cond:
                self.arrivals.append(time.monotonic())
                self.cond.notify_all()
                return 503 if len(self.arrivals) == 1 else 200
        with self.cond:
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            self.cond.notify_all()
            n = self.open
            ok = self.cond.wait_for(
                lambda: self.released > 0 or (
                    self.barrier is not None and
                    self.max_open >= self.barrier), timeout=30)
            if ok and self.released > 0:
                self.released -= 1
            self.open -= 1
            return 200 if ok else 503

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait(self, pred, what, timeout=20):
        with self.cond:
            if not self.cond.wait_for(pred, timeout=timeout):
                raise AssertionError(
                    "timed out waiting for %s (open %d, max %d, done %d)"
                    % (what, self.open, self.max_open, len(self.done)))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def gateway_threads(pid):
    names = []
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
            names.append(f.read().strip())
    return names


def send_many(gw, trigger, n):
    """n distinct messages (no two are duplicates) over one connection."""
    with smtplib.SMTP(gw.host, gw.port, timeout=30) as s:
        for i in range(n):
            msg = ("Subject: %s %d\r\nMessage-ID: <%s.%d.%f@acme.com>\r\n"
                   "\r\nhello %d\r\n" % (trigger, i, trigger, i,
                                         time.time(), i))
            refused = s.sendmail(mt.SENDER, ["%s@%s" % (trigger, INSTANCE)],
                                 msg)
            assert not refused, refused


class Engine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = HoldingReceiver()
        step = {"timeout": "30s", "retry": {"first": "100ms",
                                            "max": "300ms"}}
        triggers = {
            "wide": {"flow": [{"http": dict(step, url=cls.rx.url("/wide"),
                                            max_in_flight=WIDE)}]},
            "prompt": {"flow": [{"http": dict(step,
                                              url=cls.rx.url("/prompt"))}]},
            "capped": {"flow": [{"http": dict(
                step, url=cls.rx.url("/capped"), max_in_flight=CAP)}]},
        }
        # Each run logs "+" when it starts and "-" when it ends (appends of
        # a few bytes are atomic), and waits for the release file.
        cls.dir = tempfile.mkdtemp(prefix="mt-engine-")
        script = ('cat > /dev/null; echo + >> "$0/log";'
                  ' while [ ! -e "$0/release" ]; do sleep 0.01; done;'
                  ' echo - >> "$0/log"')
        triggers["procs"] = {"flow": [{"exec": {
            "command": ["/bin/sh", "-c", script, cls.dir],
            "timeout": "30s"}}]}
        # nice(1) without arguments prints the caller's nice value.
        triggers["niceness"] = {"flow": [{"exec": {"command": [
            "/bin/sh", "-c", 'cat > /dev/null; nice > "$0/nice.tmp";'
            ' mv "$0/nice.tmp" "$0/nice"', cls.dir]}}]}
        cfg = {"instances": [{"host": INSTANCE,
                              "sender_domains": ["acme.com"],
                              "triggers": triggers}]}
        cls.gw = mt.Gateway(cfg, start=False)
        cls.gw.popen_kwargs = {"env": dict(os.environ,
                                           MT_RUNNER_POLL_MS=SLOW_POLL)}
        cls.gw.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.gw.stop()
        finally:
            cls.gw.close()
            cls.rx.close()
            shutil.rmtree(cls.dir, ignore_errors=True)

    def states(self, trigger):
        rows = self.gw.query("SELECT state, count(*) AS n FROM events"
                             " WHERE trigger = ? GROUP BY state",
                             (trigger,))
        return {r["state"]: r["n"] for r in rows}

    def test_hundred_requests_in_flight_from_one_thread(self):
        rx = self.rx
        with rx.cond:
            rx.max_open = 0
            rx.barrier = WIDE
        send_many(self.gw, "wide", WIDE)
        rx.wait(lambda: rx.max_open >= WIDE, "%d requests open" % WIDE)
        threads = gateway_threads(self.gw.pid)
        rx.wait(lambda: rx.done.count("/wide") >= WIDE, "%d answers" % WIDE)
        with rx.cond:
            rx.barrier = None
        for _ in mt.deadline_loop(20, "every wide event done"):
            if self.states("wide") == {"done": WIDE}:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        # One engine thread ran them all; far fewer threads than requests.
        self.assertEqual(threads.count("mt-engine"), 1, threads)
        self.assertLess(len(threads), 16, threads)

    def test_max_in_flight_caps_one_url(self):
        rx = self.rx
        with rx.cond:
            rx.max_open = 0
            rx.released = 0
        send_many(self.gw, "capped", CAPPED)
        for _ in mt.deadline_loop(20, "every capped event claimed"):
            if self.states("capped").get("running") == CAPPED:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        rx.wait(lambda: rx.open == CAP, "%d requests open" % CAP)
        # Release one answer at a time; the next waiting one takes its slot.
        for left in range(CAPPED, 0, -1):
            with rx.cond:
                rx.released += 1
                rx.cond.notify_all()
            rx.wait(lambda: rx.open == min(CAP, left - 1) and
                    rx.released == 0, "the next request (%d left)" % left)
        for _ in mt.deadline_loop(20, "every capped event done"):
            if self.states("capped") == {"done": CAPPED}:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        self.assertEqual(rx.max_open, CAP)
        att = self.gw.query("SELECT status, count(*) AS n FROM attempts a"
                            " JOIN events e ON e.id = a.event_id"
                            " WHERE e.trigger = 'capped' GROUP BY status")
        self.assertEqual(att, [{"status": "ok", "n": CAPPED}])

    def test_intake_wakes_delivery_and_retry_runs_when_due(self):
        # The fallback poll is 10 min: only the wake-up after intake's
        # commit and the computed due time of the retry can deliver.
        rx = self.rx
        r = mt.send_message(self.gw.host, self.gw.port,
                            ["prompt@" + INSTANCE])
        self.assertEqual(r.code, 250, r)
        sent = time.monotonic()
        evt = mt.queued_id(r.text)[0]
        rx.wait(lambda: len(rx.arrivals) >= 2, "the 503 and the retry")
        self.gw.wait_state(evt, "done")
        first, second = rx.arrivals[0] - sent, rx.arrivals[1] - rx.arrivals[0]
        # Generous bounds for a loaded machine, far below the poll.
        self.assertLess(first, 2.0, "250 to first request")
        self.assertGreaterEqual(second, 0.05, "retry delay (first: 100ms)")
        self.assertLess(second, 2.0, "retry delay (first: 100ms)")

    def exec_log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def test_commands_at_once_are_capped(self):
        send_many(self.gw, "procs", PROCS)
        for _ in mt.deadline_loop(20, "%d commands started and every"
                                  " event claimed" % MAX_EXEC):
            if (self.exec_log().count("+") >= MAX_EXEC and
                    self.states("procs").get("running") == PROCS):
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        open(os.path.join(self.dir, "release"), "w").close()
        for _ in mt.deadline_loop(20, "every procs event done"):
            if self.states("procs") == {"done": PROCS}:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        log, now, most = self.exec_log(), 0, 0
        for mark in log:
            now += 1 if mark == "+" else -1
            most = max(most, now)
        self.assertEqual((log.count("+"), most), (PROCS, MAX_EXEC), log)

    def test_delivery_runs_at_nice_5(self):
        """Delivery's threads, and the commands they start, run at nice 5
        (docs/flows.md, "Workers"); intake's threads stay at 0."""
        send_many(self.gw, "niceness", 1)
        path = os.path.join(self.dir, "nice")
        for _ in mt.deadline_loop(20, "the niceness command to run"):
            if os.path.exists(path):
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        with open(path) as f:
            self.assertEqual(f.read().strip(), "5")
        nice = {}
        task = "/proc/%d/task" % self.gw.pid
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "stat")) as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            # Field 19 of proc(5); fields counted from after the comm.
            nice.setdefault(comm, set()).add(
                int(stat[stat.rindex(")") + 2:].split()[16]))
        for thread in ("mt-ledger", "mt-parser", "mt-engine"):
            self.assertEqual(nice.get(thread), {5}, (thread, nice))
        self.assertEqual(nice.get("mailtrigger"), {0}, nice)


def held_saving(tc, triggers):
    """A held gateway's config whose triggers each save the event JSON
    to a file named by the event id in a fresh directory; returns the
    config and the directory."""
    out = tempfile.mkdtemp(prefix="mt-held-")
    tc.addCleanup(shutil.rmtree, out, True)
    save = ["/bin/sh", "-c", 'cat > "$0/$MT_EVENT_ID"', out]
    flow = {"flow": [{"exec": {"command": save}}]}
    return ({"queue": {"hold": True},
             "instances": [{"host": INSTANCE, "sender_domains": ["acme.com"],
                            "triggers": {t: flow for t in triggers}}]},
            out)


def send_large(gw, trigger):
    """One message of 28 KB, beyond the 16 KB a row keeps: its body goes
    to a segment file. Returns (event id, message id, that file)."""
    r = mt.send_message(gw.host, gw.port, ["%s@%s" % (trigger, INSTANCE)],
                        b"Subject: big\r\n\r\n"
                        + b"\r\n".join([b"q" * 70] * 400) + b"\r\n")
    assert r.code == 250, r
    evt, msg = mt.queued_id(r.text)
    (row,) = gw.query("SELECT seg FROM messages WHERE id = ?", (msg,))
    return evt, msg, "%s-bodies/%010d" % (gw.queue_path, row["seg"])


class HoldDelivery(unittest.TestCase):
    """queue.hold (docs/queue.md, "Holding delivery"): mail is accepted
    and queued and no step starts; a reload with hold off delivers what
    waited."""

    def test_hold_then_resume(self):
        cfg, out = held_saving(self, ["held"])
        gw = mt.Gateway(cfg)
        self.addCleanup(gw.close)
        gw.wait_log("delivery_held")
        send_many(gw, "held", 3)
        # Past intake's wake-up of delivery and a fallback poll (1 s):
        # either would have claimed the events were they not held.
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            rows = gw.query("SELECT id, state FROM events")
            self.assertEqual({r["state"] for r in rows}, {"queued"}, rows)
            time.sleep(0.05)  # polling interval, not synchronisation
        self.assertEqual(os.listdir(out), [])
        mark = gw.mark()
        cfg["queue"]["hold"] = False
        gw.write_config(cfg)
        self.assertEqual(gw.reload()["msg"], "reloaded")
        gw.wait_log("delivery_resumed", since=mark)
        for r in rows:
            gw.wait_state(r["id"], "done")
        self.assertEqual(sorted(os.listdir(out)),
                         sorted(r["id"] for r in rows))
        gw.stop()


class Unrunnable(unittest.TestCase):
    """Events that can never run end dead with the reason, at once, and
    the gateway goes on: a trigger removed from the config while its
    events were held, and a message whose body segment was deleted by
    hand (docs/queue.md, "Message bodies")."""

    def test_trigger_removed_and_body_gone(self):
        cfg, out = held_saving(self, ["gone", "kept"])
        gw = mt.Gateway(cfg)
        self.addCleanup(gw.close)
        gw.wait_log("delivery_held")
        def send(trigger, data=None):
            r = mt.send_message(gw.host, gw.port,
                                ["%s@%s" % (trigger, INSTANCE)], data)
            self.assertEqual(r.code, 250, r)
            return mt.queued_id(r.text)

        gone, _ = send("gone")
        lost, _, seg = send_large(gw, "kept")
        os.unlink(seg)
        fine, _ = send("kept")
        del cfg["instances"][0]["triggers"]["gone"]
        cfg["queue"]["hold"] = False
        gw.write_config(cfg)
        self.assertEqual(gw.reload()["msg"], "reloaded")
        gw.wait_state(gone, "dead")
        gw.wait_state(lost, "dead")
        gw.wait_state(fine, "done")
        reasons = {e["id"]: e["dead_reason"] for e in gw.events()}
        self.assertEqual(reasons[gone], "trigger is no longer in the config")
        self.assertEqual(reasons[lost], "message cannot be read: %s: No "
                         "such file or directory" % seg)
        self.assertEqual(os.listdir(out), [fine])
        gw.stop()


class LoadFailsForNow(unittest.TestCase):
    """A body that cannot be read for now (here: a directory where its
    segment file was) is not dead-lettered: the claim is logged with the
    error and tried again every second, and delivered once the file is
    back (docs/queue.md, "Message bodies")."""

    def test_retried_until_readable(self):
        cfg, out = held_saving(self, ["kept"])
        gw = mt.Gateway(cfg)
        self.addCleanup(gw.close)
        gw.wait_log("delivery_held")
        evt, _, seg = send_large(gw, "kept")
        os.rename(seg, seg + ".away")
        os.mkdir(seg)  # read() says EISDIR: an error that may pass
        mark = gw.mark()
        cfg["queue"]["hold"] = False
        gw.write_config(cfg)
        self.assertEqual(gw.reload()["msg"], "reloaded")
        for _ in range(2):  # the first try and one retry a second later
            rec = gw.wait_log(lambda r: r.get("msg") == "claim_load_failed",
                              since=mark)
            mark = gw.mark()
            self.assertEqual(rec["event"], evt)
            self.assertEqual(rec["error"], "%s: Is a directory" % seg)
        gw.wait_state(evt, "retry")  # between two tries; never dead
        os.rmdir(seg)
        os.rename(seg + ".away", seg)
        gw.wait_state(evt, "done")
        self.assertEqual(os.listdir(out), [evt])
        gw.stop()


class GracefulStop(unittest.TestCase):
    """SIGTERM: the request running finishes and is recorded; the events
    waiting for a slot never ran, stay due at once, and run after the
    restart."""

    def setUp(self):
        self.rx = HoldingReceiver()
        cfg = {"instances": [{"host": INSTANCE,
                              "sender_domains": ["acme.com"],
                              "triggers": {"one": {"flow": [{"http": {
                                  "url": self.rx.url("/one"),
                                  "timeout": "30s", "max_in_flight": 1}}]}}}]}
        self.gw = mt.Gateway(cfg)

    def tearDown(self):
        try:
            self.gw.close()
        finally:
            self.rx.close()

    def test_sigterm_runs_out_the_step_and_keeps_the_waiting(self):
        rx, gw = self.rx, self.gw
        send_many(gw, "one", 3)
        for _ in mt.deadline_loop(20, "3 events claimed"):
            rows = gw.query("SELECT state FROM events")
            if [r["state"] for r in rows] == ["running"] * 3:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        rx.wait(lambda: rx.open == 1, "the first request")
        mark = gw.mark()

        def release_when_stopping():
            gw.wait_log("delivery_stopping", since=mark)
            with rx.cond:
                rx.released += 1
                rx.cond.notify_all()

        t = threading.Thread(target=release_when_stopping, daemon=True)
        t.start()
        gw.stop(expect=0)
        t.join()
        rows = gw.query("SELECT e.state, count(a.n) AS tries FROM events e"
                        " LEFT JOIN attempts a ON a.event_id = e.id"
                        " GROUP BY e.id ORDER BY e.state")
        self.assertEqual([(r["state"], r["tries"]) for r in rows],
                         [("done", 1), ("retry", 0), ("retry", 0)])
        with rx.cond:
            rx.released += 2
        gw.start()
        for _ in mt.deadline_loop(20, "every event done after restart"):
            rows = gw.query("SELECT state FROM events")
            if [r["state"] for r in rows] == ["done"] * 3:
                break
            time.sleep(0.01)  # polling interval, not synchronisation
        self.assertEqual(rx.done.count("/one"), 3)
        gw.stop(expect=0)


if __name__ == "__main__":
    unittest.main()
