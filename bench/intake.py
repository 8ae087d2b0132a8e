#!/usr/bin/env python3
"""Intake benchmark: Postfix's smtp-source drives mailtrigger (durable
SQLite queue), smtp-sink (accepts and stores nothing) and a real Postfix
(durable queue, then the discard transport) in the same run, at 1, 10 and
50 parallel sessions with 2 KB and 100 KB messages, one message per
connection (smtp-source without -d). mailtrigger runs twice: with
delivery held (queue.hold: its intake alone, what issue 2 measures) and
with its flows running (an exec of /bin/true per message on the same
cores: the whole pipeline; each of its runs waits for the backlog to
drain before the next peer's). Prints msgs/s and the ratios to Postfix
and smtp-sink, then opens 1,000 idle connections to mailtrigger and
reports its memory per connection.

Run through bench/intake.sh (builds a release binary first), or directly
with MAILTRIGGER=/path/to/mailtrigger. Needs root (Postfix, smtp-sink) and
Debian's postfix package. Options: --quick (fewer messages), --json FILE.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import mtharness as mt  # noqa: E402

SENDER = mt.SENDER
RCPT = "db-outage@" + mt.INSTANCE
SESSIONS = (1, 10, 50)
# (label, payload bytes, messages per session count)
SIZES = (("2KB", 2048, {1: 1000, 10: 4000, 50: 8000}),
         ("100KB", 102400, {1: 400, 10: 1500, 50: 3000}))
# Each cell is measured this many times, the peers interleaved, and the
# median reported: short runs on a shared 2-core machine are noisy.
REPEATS = 5
IDLE_CONNECTIONS = 1000


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Sink:
    """smtp-sink on a free loopback port (accepts, stores nothing)."""

    def __init__(self):
        self.port = mt.free_port()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "127.0.0.1:%d" % self.port,
             "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in mt.deadline_loop(10, "smtp-sink to listen"):
            try:
                with mt.RawSMTP("127.0.0.1", self.port, 5) as c:
                    c.banner()
                    return
            except OSError:
                time.sleep(0.05)  # polling interval

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def postfix_queue_empty(pf):
    for sub in ("maildrop", "incoming", "active", "deferred"):
        d = os.path.join(pf.dir, "queue", sub)
        for _, _, files in os.walk(d):
            if files:
                return False
    return True


def wait_drained(pf):
    """Postfix's previous batch is delivered (discarded) before the next
    measurement, so a backlog does not slow the next cell."""
    for _ in mt.deadline_loop(120, "postfix to drain"):
        if postfix_queue_empty(pf):
            return
        time.sleep(0.1)  # polling interval


def smtp_source(port, sessions, count, size):
    """Runs smtp-source; returns messages per second (wall clock)."""
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(count),
           "-l", str(size), "-f", SENDER, "-t", RCPT, "-M", "client.test",
           "-S", "bench", "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                               p.stderr[-2000:]))
    return count / elapsed


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def idle_memory(n):
    """Opens n idle connections (each read its 220) to a fresh gateway;
    returns (rss_before, rss_after, hwm_after) in kB."""
    gw = mt.Gateway({"limits": {"connections": n + 100,
                                "connections_per_ip": n + 100}})
    conns = []
    try:
        # Warm up: one full transaction so the queue and TLS-less code
        # paths are paged in before the baseline.
        r = mt.send_message(gw.host, gw.port, [RCPT])
        assert r.code == 250, r
        before = proc_status(gw.pid)
        for _ in range(n):
            c = mt.RawSMTP(gw.host, gw.port, 30)
            assert c.banner().code == 220
            conns.append(c)
        after = proc_status(gw.pid)
        for c in conns:
            c.close()
        gw.stop()
    finally:
        for c in conns:
            c.close()
        gw.close()
    return before["VmRSS"], after["VmRSS"], after["VmHWM"]


def wait_delivered(gw):
    """The flows gateway's backlog is delivered before the next peer's
    measurement, so its draining does not slow that one."""
    for _ in mt.deadline_loop(300, "mailtrigger's flows to drain"):
        if gw.query("SELECT count(*) AS n FROM events WHERE state NOT IN"
                    " ('done', 'dead')")[0]["n"] == 0:
            return
        time.sleep(0.1)  # polling interval


def run(quick):
    raise_nofile()
    scale = 0.2 if quick else 1.0
    results = []
    limits = {"limits": {"connections": 2000, "connections_per_ip": 2000}}
    gw = mt.Gateway(dict(limits, queue={"hold": True}))
    flows = mt.Gateway(limits)
    sink = Sink()
    pf = mt.Postfix({"default_transport": "discard",
                     "relay_transport": "discard",
                     "smtpd_client_connection_count_limit": "0"})
    pf.start()
    targets = (("mailtrigger", gw.port), ("mt+flows", flows.port),
               ("postfix", pf.port), ("smtp-sink", sink.port))
    try:
        for label, size, counts in SIZES:
            for s in SESSIONS:
                count = max(s, int(counts[s] * scale))
                row = {"size": label, "sessions": s, "messages": count}
                runs = {name: [] for name, _ in targets}
                for _ in range(REPEATS):
                    for name, port in targets:
                        if name == "postfix":
                            wait_drained(pf)
                        runs[name].append(smtp_source(port, s, count, size))
                        if name == "mt+flows":
                            wait_delivered(flows)
                for name, rates in runs.items():
                    row[name] = sorted(rates)[len(rates) // 2]
                    row[name + "_runs"] = rates
                results.append(row)
                print_row(row, flush=True)
        stored = gw.count()
        sent = REPEATS * sum(r["messages"] for r in results)
        for g, what in ((gw, "held"), (flows, "with flows")):
            if g.count() != sent:
                raise RuntimeError("mailtrigger (%s) stored %d of %d "
                                   "messages" % (what, g.count(), sent))
        gw.stop()
        flows.stop()
    finally:
        pf.close()
        sink.close()
        gw.close()
        flows.close()
    mem = idle_memory(IDLE_CONNECTIONS)
    return results, stored, mem


HEADER = "%-6s %8s %8s %12s %9s %9s %9s %11s %8s %11s %8s" % (
    "size", "sessions", "msgs", "mailtrigger", "mt+flows", "postfix",
    "smtp-sink", "mt/postfix", "mt/sink", "fl/postfix", "fl/sink")


def print_row(r, flush=False):
    print("%-6s %8d %8d %12.0f %9.0f %9.0f %9.0f %10.2fx %7.0f%% %10.2fx "
          "%7.0f%%" % (
              r["size"], r["sessions"], r["messages"], r["mailtrigger"],
              r["mt+flows"], r["postfix"], r["smtp-sink"],
              r["mailtrigger"] / r["postfix"],
              100.0 * r["mailtrigger"] / r["smtp-sink"],
              r["mt+flows"] / r["postfix"],
              100.0 * r["mt+flows"] / r["smtp-sink"]), flush=flush)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    for tool in ("smtp-source", "smtp-sink", "postfix"):
        if not shutil.which(tool):
            sys.exit("intake: %s not found (Debian package postfix)" % tool)
    print("binary: %s" % mt.binary())
    print("msgs/s (median of %d), one message per connection "
          "(smtp-source without -d)" % REPEATS)
    print("mailtrigger: delivery held (queue.hold), intake alone; "
          "mt+flows: an exec of /bin/true per message runs meanwhile")
    print(HEADER, flush=True)
    t0 = time.monotonic()
    results, stored, (rss0, rss1, hwm1) = run(args.quick)
    print("mailtrigger stored %d messages" % stored)
    n = IDLE_CONNECTIONS
    print("idle memory: %d connections: VmRSS %d -> %d kB, VmHWM %d kB: "
          "%.1f kB per connection (RSS delta), %.1f kB (peak delta)"
          % (n, rss0, rss1, hwm1, (rss1 - rss0) / n, (hwm1 - rss0) / n))
    print("total %.0fs" % (time.monotonic() - t0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"throughput": results, "stored": stored,
                       "idle": {"connections": n, "rss_before_kb": rss0,
                                "rss_after_kb": rss1, "hwm_after_kb": hwm1}},
                      f, indent=2)


if __name__ == "__main__":
    main()
