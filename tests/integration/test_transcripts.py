"""Plays every tests/transcripts/*.txt against the real daemon over a
loopback socket (the same files run against the pure session core in
tests/unit/test_transcripts.c). The format is in tests/transcripts/README:
C:/R: lines are sent (consecutive ones in one write), S: lines are the
exact reply lines, T: starts TLS, X: expects the close, Q:/B: are the
messages that must be in the queue afterwards. One test method per file."""

import glob
import os
import re
import unittest

import mtharness as mt

TRANSCRIPTS = os.path.join(mt.source_dir(), "tests", "transcripts")
ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def unescape(text):
    """R: text -> bytes (\\r \\n \\t \\0 \\\\ \\xHH; the rest UTF-8)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                i += 2
                continue
            if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2:i + 4]):
                out.append(bytes([int(text[i + 2:i + 4], 16)]))
                i += 4
                continue
            raise ValueError("bad escape in %r at %d" % (text, i))
        out.append(ch.encode("utf-8"))
        i += 1
    return b"".join(out)


def parse(path):
    """Returns (limits, tls, steps) where steps are (lineno, tag, text)."""
    limits, tls, steps = {}, False, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            tag, _, text = line.partition(" ")
            if tag == "@limit":
                key, _, value = text.partition(" ")
                limits[key] = value
            elif tag == "@tls":
                tls = True
            elif tag in ("C:", "R:", "S:", "T:", "X:", "Q:", "B:"):
                steps.append((n, tag, text))
            else:
                raise ValueError("%s:%d: unknown tag %r" % (path, n, tag))
    return limits, tls, steps


def config_text(limits):
    """config.yaml with the queue in the gateway's tempdir and the
    transcript's limits set (replacing or adding keys under limits:)."""
    with open(os.path.join(TRANSCRIPTS, "config.yaml"),
              encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^(\s*path:).*$", r"\1 @TMPDIR@/queue.db", text)
    for key, value in limits.items():
        line = "  %s: %s" % (key, value)
        text, n = re.subn(r"(?m)^  %s:.*$" % re.escape(key), line, text)
        if n == 0:
            text = re.sub(r"(?m)^limits:\n", "limits:\n" + line + "\n",
                          text, count=1)
    return text


def parse_q(text):
    """'from=<a> to=<b>,<c>' -> ('a', ['b', 'c'])."""
    m = re.fullmatch(r"from=<([^>]*)> to=(<[^>]*>(?:,<[^>]*>)*)", text)
    if not m:
        raise ValueError("bad Q: line %r" % text)
    return m.group(1), re.findall(r"<([^>]*)>", m.group(2))


class Transcripts(unittest.TestCase):
    gateways = {}

    @classmethod
    def tearDownClass(cls):
        for gw in cls.gateways.values():
            try:
                gw.stop()
            finally:
                gw.close()
        cls.gateways = {}

    def gateway(self, limits, tls):
        """One daemon per distinct (limits, tls), shared by transcripts."""
        key = (tuple(sorted(limits.items())), tls)
        if key not in self.gateways:
            self.gateways[key] = mt.Gateway(config_text(limits), tls=tls)
        return self.gateways[key]

    def play(self, path):
        limits, tls, steps = parse(path)
        gw = self.gateway(limits, tls)
        before = {r["id"] for r in gw.query("SELECT id FROM messages")}
        name = os.path.basename(path)
        queued, replied, closed = [], [], False
        with gw.connect() as c:
            out = b""
            for n, tag, text in steps:
                where = "%s:%d" % (name, n)
                if tag in ("C:", "R:"):
                    out += (text.encode("utf-8") + b"\r\n" if tag == "C:"
                            else unescape(text))
                    continue
                if out and tag in ("S:", "T:", "X:"):
                    c.send(out)
                    out = b""
                if tag == "S:":
                    try:
                        got = c.line()
                    except (OSError, AssertionError) as e:
                        self.fail("%s: want %r, got %r" % (where, text, e))
                    ids = mt.queued_id(got)
                    if ids:
                        replied.append(ids[1])
                    if text.endswith("*"):
                        self.assertTrue(got.startswith(text[:-1]),
                                        "%s: got %r, want %r"
                                        % (where, got, text))
                    else:
                        self.assertEqual(got, text, where)
                elif tag == "T:":
                    self.assertEqual(text, "starttls", where)
                    self.assertEqual(c.buf, b"", "%s: data before the TLS "
                                     "handshake" % where)
                    c.starttls()
                elif tag == "X:":
                    self.assertEqual(text, "close", where)
                    c.expect_closed()
                    closed = True
                elif tag == "Q:":
                    queued.append((where, parse_q(text), []))
                elif tag == "B:":
                    queued[-1][2].append(text)
            if out:
                c.send(out)
            if not closed:
                self.assertEqual(c.pending(0.2), b"",
                                 "%s: replies beyond the transcript" % name)
        self.check_queue(gw, before, replied, queued, name)

    def check_queue(self, gw, before, replied, queued, name):
        new = [r["id"] for r in gw.query("SELECT id FROM messages")
               if r["id"] not in before]
        self.assertEqual(len(new), len(queued),
                         "%s: queued %d messages, want %d"
                         % (name, len(new), len(queued)))
        # Pair each Q: with the id its 250 reply named, in reply order.
        self.assertEqual(sorted(new), sorted(replied), name)
        rows = [gw.message(i) for i in replied]
        for row, (where, (mail_from, rcpts), body) in zip(rows, queued):
            self.assertEqual(row["mail_from"], mail_from, where)
            events = gw.events(row["id"])
            got = [a for e in events for a in e["rcpt_to"]]
            self.assertEqual(sorted(got), sorted(rcpts), where)
            for e in events:
                # Within each trigger, acceptance order is kept.
                want = [a for a in rcpts if a in e["rcpt_to"]]
                self.assertEqual(e["rcpt_to"], want, where)
            if body:
                data = mt.split_received(bytes(row["data"]))[1]
                want = "".join(b + "\r\n" for b in body).encode("utf-8")
                self.assertEqual(data, want, where)


def _add_tests():
    paths = sorted(glob.glob(os.path.join(TRANSCRIPTS, "*.txt")))
    for path in paths:
        stem = re.sub(r"\W", "_", os.path.basename(path)[:-4])
        setattr(Transcripts, "test_" + stem,
                lambda self, p=path: self.play(p))
    if not paths:
        def test_none(self):
            self.fail("no transcripts in %s" % TRANSCRIPTS)
        Transcripts.test_none = test_none


_add_tests()

if __name__ == "__main__":
    unittest.main()
