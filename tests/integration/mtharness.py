"""mtharness - run the real mailtrigger binary for integration tests.

Stdlib only. A Gateway writes a YAML config into its own temporary
directory (the SQLite queue lives there too), starts
``$MAILTRIGGER serve --config FILE``, waits for the ``msg=listening`` log
line to learn the port (the config says port 0), and offers stop
(SIGTERM, exit code checked), kill9, restart, reload (SIGHUP) and queue
inspection through the stdlib sqlite3 module.

Nothing here sleeps to synchronise: every wait is on a condition (a log
line, a socket reply, a process exit, a row in the queue) with a deadline,
and a missed deadline fails with what was collected so far (the gateway's
log is included in every failure message).

RawSMTP is a minimal line-level SMTP client for what smtplib cannot do
(pipelining by hand, bare LF, STARTTLS injection, idle sockets).

Environment:
    MAILTRIGGER    the binary (ctest sets it); default $MT_BUILD_DIR/mailtrigger
    MT_KEEP_TMP=1  keep each gateway's temporary directory (path is logged)
    MT_SHOW_LOGS=1 print each gateway's log when it is closed
"""

import copy
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HOST = "mx.mailtrigger.test"
INSTANCE = "acme.triggers.test"
CANONICAL = "lb-1.mx.example.net"
SENDER = "nagios@acme.com"
START_DEADLINE = 10.0

ID_RE = r"[0-9A-HJKMNP-TV-Z]{16}"
QUEUED_RE = re.compile(r"queued as (evt_(" + ID_RE + r"))\b")


def binary():
    """Path of the mailtrigger binary under test."""
    path = os.environ.get("MAILTRIGGER")
    if not path and os.environ.get("MT_BUILD_DIR"):
        path = os.path.join(os.environ["MT_BUILD_DIR"], "mailtrigger")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set MAILTRIGGER to the mailtrigger binary "
                           "(got %r)" % path)
    return path


def source_dir():
    """The repository root ($MT_SOURCE_DIR or derived from this file)."""
    return os.environ.get("MT_SOURCE_DIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def deadline_loop(timeout, what, on_fail=None):
    """Yields until timeout; then raises AssertionError naming `what`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        yield end - time.monotonic()
    extra = on_fail() if on_fail else ""
    raise AssertionError("timed out after %.1fs waiting for %s%s"
                         % (timeout, what, extra))


# ---------------------------------------------------------------- config

def default_config(tmpdir):
    """The config every test starts from: one instance, three triggers."""
    return {
        "hostname": HOST,
        "listen": [{"address": "127.0.0.1:0"}],
        "limits": {
            "message_size": 1000000,
            "recipients": 100,
            "connections": 1000,
            "connections_per_ip": 1000,
            "idle_timeout": "60s",
            "session_timeout": "10m",
            "errors": 10,
            "shutdown_grace": "10s",
        },
        "queue": {"backend": "sqlite",
                  "path": os.path.join(tmpdir, "queue.db")},
        "canonical_names": [CANONICAL],
        "instances": [{
            "host": INSTANCE,
            "sender_domains": ["acme.com"],
            "triggers": {
                "db-outage": {"flow": [
                    {"exec": {"command": ["/bin/true"]}}]},
                "deploy": {"recipients": ["ops", "dev"], "flow": [
                    {"http": {"url": "http://127.0.0.1:9/hooks/deploy"}}]},
                "alert": {"flow": [
                    {"exec": {"command": ["/bin/true"]}}]},
            },
        }],
    }


def merge(base, over):
    """Deep-merges dict `over` into a copy of `base`; None deletes a key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    # A YAML double-quoted scalar accepts every JSON string escape.
    return json.dumps(str(v), ensure_ascii=False)


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts, lists and scalars (keys as given)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, (dict, list)):
                lines.append("%s%s: %s" % (pad, k, "{}" if
                                            isinstance(v, dict) else "[]"))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 2).lstrip(" ")
                lines.append("%s- %s" % (pad, inner))
            else:
                lines.append("%s- %s" % (pad, _scalar(v)))
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


def parse_logfmt(line):
    """logfmt line -> dict (quoted values unescaped as util/log.c writes)."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = i
        while j < n and line[j] not in "= ":
            j += 1
        key = line[i:j]
        if j >= n or line[j] != "=":
            if key:
                out[key] = True
            i = j
            continue
        j += 1
        if j < n and line[j] == '"':
            j += 1
            val = []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n:
                    j += 1
                    val.append({"n": "\n", "r": "\r", "t": "\t"}.get(
                        line[j], line[j]))
                else:
                    val.append(line[j])
                j += 1
            out[key] = "".join(val)
            i = j + 1
        else:
            k = j
            while k < n and line[k] != " ":
                k += 1
            out[key] = line[j:k]
            i = k
    return out


def make_cert(directory, cn="localhost"):
    """Self-signed RSA cert and key (openssl req -x509); returns paths."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=" + cn, "-days", "1",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def client_tls_context():
    """A TLS client context that accepts the tests' self-signed certs."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---------------------------------------------------------------- gateway

class Gateway:
    """One mailtrigger daemon with its own config, queue and log.

    config: None (default_config), a dict merged over default_config, or
    YAML text in which "@TMPDIR@" is replaced by the temporary directory.
    tls=True generates a self-signed certificate and configures it (for
    YAML text, a tls: section is appended).
    """

    def __init__(self, config=None, tls=False, start=True):
        self.tmpdir = tempfile.mkdtemp(prefix="mt-integ-")
        self.config_path = os.path.join(self.tmpdir, "mailtrigger.yaml")
        self.queue_path = os.path.join(self.tmpdir, "queue.db")
        self.proc = None
        self.addresses = []
        self.host = self.port = None
        self._lines = []
        self._cond = threading.Condition()
        self._eof = True
        self._reader = None
        self.starts = 0
        # Extra subprocess.Popen arguments for the next start (tests that
        # set resource limits use preexec_fn).
        self.popen_kwargs = {}
        # Put before the command: ["ip", "netns", "exec", NAME] runs the
        # gateway in a network namespace (set it with start=False).
        self.command_prefix = []
        if tls:
            self.cert, self.key = make_cert(self.tmpdir)
        self.tls = tls
        self.write_config(config)
        if start:
            self.start()

    # --- config
    def config_dict(self, over=None):
        cfg = default_config(self.tmpdir)
        if self.tls:
            cfg["tls"] = {"certificate": self.cert, "key": self.key}
        return merge(cfg, over or {})

    def write_config(self, config=None):
        """Writes a new config file (same forms as the constructor)."""
        if isinstance(config, str):
            text = config.replace("@TMPDIR@", self.tmpdir)
            self.n_listeners = max(1, len(re.findall(
                r"(?m)^\s*-?\s*address:", text)))
            if self.tls:
                text += "\ntls:\n  certificate: %s\n  key: %s\n" % (
                    _scalar(self.cert), _scalar(self.key))
        else:
            cfg = self.config_dict(config)
            self.n_listeners = len(cfg.get("listen") or [None])
            text = to_yaml(cfg) + "\n"
        tmp = self.config_path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        self.config_text = text

    # --- process
    def start(self):
        """Starts the daemon and waits for every listening line."""
        assert self.proc is None or self.proc.poll() is not None
        mark = self.mark()
        self.proc = subprocess.Popen(
            self.command_prefix +
            [binary(), "serve", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.tmpdir, **self.popen_kwargs)
        self.starts += 1
        with self._cond:
            self._eof = False
        self._reader = threading.Thread(target=self._read,
                                        args=(self.proc,), daemon=True)
        self._reader.start()
        self.addresses = []
        since = mark
        while len(self.addresses) < self.n_listeners:
            rec = self.wait_log("listening", since=since,
                                timeout=START_DEADLINE)
            self.addresses.append(rec["address"])
            since = self._last_match + 1
        host, _, port = self.addresses[0].rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        return self

    def _read(self, proc):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30.0):
        """Waits for the process to exit; returns its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("gateway did not exit within %.0fs%s"
                                 % (timeout, self.log_tail())) from None
        self._reader.join(5)
        if not self._reader.is_alive():
            self.proc.stdout.close()
        return rc

    def stop(self, expect=0, timeout=30.0):
        """SIGTERM, wait, and assert the exit code (None: don't check)."""
        if not self.running():
            rc = self.proc.returncode if self.proc else None
        else:
            self.signal(signal.SIGTERM)
            rc = self.wait_exit(timeout)
        if expect is not None and rc != expect:
            raise AssertionError("gateway exit code: got %r, want %r%s"
                                 % (rc, expect, self.log_tail()))
        return rc

    def kill9(self):
        """SIGKILL: the crash the queue must survive."""
        if self.running():
            self.proc.kill()
        self.wait_exit()

    def restart(self):
        """Starts again on the same config and queue (new port if 0)."""
        if self.running():
            self.stop()
        return self.start()

    def reload(self, timeout=10.0):
        """SIGHUP; returns the next reloaded / reload_failed record."""
        mark = self.mark()
        self.signal(signal.SIGHUP)
        return self.wait_log(lambda r: r.get("msg") in
                             ("reloaded", "reload_failed"),
                             since=mark, timeout=timeout,
                             what="msg=reloaded or msg=reload_failed")

    def close(self):
        """Kills what is left and removes the temporary directory."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        if os.environ.get("MT_SHOW_LOGS"):
            sys.stderr.write("---- gateway log %s\n%s\n"
                             % (self.tmpdir, self.logs()))
        if os.environ.get("MT_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.tmpdir)
        else:
            subprocess.run(["rm", "-rf", self.tmpdir], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- logs
    def mark(self):
        """Index of the next log line: pass as since= to later waits."""
        with self._cond:
            return len(self._lines)

    def logs(self, since=0):
        with self._cond:
            return "\n".join(self._lines[since:])

    def log_tail(self, n=60):
        with self._cond:
            tail = self._lines[-n:]
        return "\n--- gateway log (last %d lines) ---\n%s" % (
            len(tail), "\n".join(tail))

    def records(self, since=0):
        with self._cond:
            lines = self._lines[since:]
        return [parse_logfmt(line) for line in lines]

    def wait_log(self, match, since=0, timeout=10.0, what=None):
        """Waits for a log record; match is a msg= value, a compiled regex
        (searched in the raw line) or a predicate on the parsed record."""
        if isinstance(match, str):
            want = match
            pred = lambda r: r.get("msg") == want  # noqa: E731
        elif hasattr(match, "search"):
            rx = match
            pred = None
        else:
            pred = match
        end = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self._lines):
                    line = self._lines[i]
                    i += 1
                    if (rx.search(line) if pred is None
                            else pred(parse_logfmt(line))):
                        self._last_match = i - 1
                        return parse_logfmt(line)
                left = end - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(left)
        if self._eof:
            rc = self.proc.wait(5)
            why = "the gateway exited with %s" % (
                "signal %s" % signal.Signals(-rc).name if rc < 0 else rc)
        else:
            why = "timeout %.0fs" % timeout
        raise AssertionError("log record %s not seen: %s%s" % (
            what or repr(getattr(match, "pattern", match)), why,
            self.log_tail()))

    # --- queue
    def db(self):
        """A fresh sqlite3 connection to the queue (caller closes), with
        the gateway's SQL function mt_body(data, seg, seg_off, size): the
        body, from its row or from its segment file (docs/queue.md,
        "Message bodies"), read here independently of the C reader."""
        con = sqlite3.connect(self.queue_path, timeout=10)
        con.row_factory = sqlite3.Row
        con.create_function("mt_body", 4, self.segment_body)
        return con

    def segment_body(self, data, seg, off, size):
        if seg is None:
            return data
        path = "%s-bodies/%010d" % (self.queue_path, seg)
        with open(path, "rb") as f:
            f.seek(off)
            body = f.read(size)
        if len(body) != size:
            raise ValueError("%s: %d of %d bytes at %d" % (
                path, len(body), size, off))
        return body

    def query(self, sql, args=()):
        con = self.db()
        try:
            return [dict(r) for r in con.execute(sql, args)]
        finally:
            con.close()

    def message(self, msg_id):
        rows = self.query("SELECT * FROM messages WHERE id = ?", (msg_id,))
        return rows[0] if rows else None

    def events(self, msg_id=None):
        if msg_id is None:
            rows = self.query("SELECT * FROM events ORDER BY id")
        else:
            rows = self.query("SELECT * FROM events WHERE message_id = ? "
                              "ORDER BY id", (msg_id,))
        for r in rows:
            for k in ("recipients", "rcpt_to"):
                if r.get(k) is not None:
                    r[k] = json.loads(r[k])
        return rows

    def count(self, table="messages"):
        return self.query("SELECT count(*) AS n FROM " + table)[0]["n"]

    def wait_count(self, n, table="messages", timeout=30.0):
        """Waits until the table holds at least n rows."""
        got = None
        for _ in deadline_loop(timeout, "%d rows in %s" % (n, table),
                               lambda: " (have %r)%s" % (got,
                                                          self.log_tail())):
            got = self.count(table)
            if got >= n:
                return got
            time.sleep(0.05)  # polling interval, not synchronisation

    def wait_state(self, evt_id, want, timeout=20.0):
        """Waits until event evt_id is in state want (delivery runs it)."""
        got = None
        for _ in deadline_loop(timeout, "%s in state %s" % (evt_id, want),
                               lambda: " (have %r)%s" % (got,
                                                          self.log_tail())):
            rows = self.query("SELECT state FROM events WHERE id = ?",
                              (evt_id,))
            got = rows[0]["state"] if rows else None
            if got == want:
                return
            time.sleep(0.02)  # polling interval, not synchronisation

    def connect(self, timeout=10.0):
        return RawSMTP(self.host, self.port, timeout)


def queued_id(text):
    """'... queued as evt_X' -> ('evt_X', 'X'); None when absent."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = QUEUED_RE.search(text)
    return (m.group(1), m.group(2)) if m else None


# ---------------------------------------------------------------- client

class Reply:
    """One SMTP reply: code, lines (text after 'NNN-'/'NNN '), raw."""

    def __init__(self, code, lines, raw):
        self.code, self.lines, self.raw = code, lines, raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def last(self):
        """The final line as sent, e.g. '250 2.0.0 Ok: queued as ...'."""
        return "%d %s" % (self.code, self.lines[-1])

    def __repr__(self):
        return "Reply(%r)" % self.raw


class RawSMTP:
    """A byte-exact SMTP client over one socket (optionally upgraded)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.timeout = timeout
        self.buf = b""
        self.transcript = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append(b"C: " + data)
        self.sock.sendall(data)

    def line(self, timeout=None):
        """Reads one raw reply line (without CRLF) as text."""
        return self._line(self.timeout if timeout is None else timeout
                          ).decode("utf-8", "replace")

    def _line(self, timeout):
        end = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no reply within %.1fs (have %r)"
                                     % (timeout, self.buf))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("server closed (have %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self, timeout=None):
        """Reads one (possibly multi-line) reply."""
        timeout = self.timeout if timeout is None else timeout
        lines, raw = [], b""
        while True:
            line = self._line(timeout)
            raw += line + b"\r\n"
            if len(line) < 3 or not line[:3].isdigit() or \
                    (len(line) > 3 and line[3:4] not in (b" ", b"-")):
                raise AssertionError("malformed reply line %r" % line)
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                self.transcript.append(b"S: " + raw)
                return Reply(int(line[:3]), lines, raw)

    def cmd(self, line, timeout=None):
        """Sends one command line (CRLF added) and reads its reply."""
        self.send(line + "\r\n")
        return self.reply(timeout)

    def banner(self):
        return self.reply()

    def ehlo(self, name="client.test"):
        return self.cmd("EHLO " + name)

    def starttls(self, ctx=None, server_hostname="localhost"):
        ctx = ctx or client_tls_context()
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def pending(self, timeout=0.0):
        """Bytes the server has sent that no reply() consumed yet; waits
        at most timeout for the first of them."""
        if self.buf:
            return self.buf
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            self.buf += self.sock.recv(65536)
            return self.buf
        r, _, _ = select.select([self.sock], [], [], timeout)
        if r:
            self.sock.settimeout(self.timeout)
            try:
                self.buf += self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError):
                pass
        return self.buf

    def expect_closed(self, timeout=None):
        """Waits until the server closes; fails on any further data."""
        timeout = self.timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("server did not close within %.1fs"
                                     % timeout)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.buf:
                    raise AssertionError("unread data before close: %r"
                                         % self.buf)
                return
            self.buf += chunk

    def begin_data(self, rcpts, mail_from=SENDER, helo="client.test",
                   strict=True):
        """Greeting, EHLO, MAIL, one RCPT per address, DATA. Returns the
        354; a refusal on the way is returned (strict=False) or raised."""
        self.banner()
        self.ehlo(helo)
        lines = ["MAIL FROM:<%s>" % mail_from]
        lines += ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]
        for line in lines:
            r = self.cmd(line)
            want = 354 if line == "DATA" else 250
            if r.code != want:
                if strict:
                    raise AssertionError("%s: got %r" % (line, r))
                return r
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_message(host, port, rcpts, data=None, mail_from=SENDER,
                 helo="client.test", timeout=10.0):
    """One message over one connection with RawSMTP; returns the final
    Reply to the DATA terminator, or the first refusal before it (the
    caller checks it)."""
    if data is None:
        data = b"Subject: test\r\n\r\nhello\r\n"
    with RawSMTP(host, port, timeout) as c:
        r = c.begin_data(rcpts, mail_from, helo, strict=False)
        if r.code != 354:
            return r
        c.send(dot_stuff(data) + b".\r\n")
        r = c.reply()
        c.send(b"QUIT\r\n")
        return r


def dot_stuff(data):
    """RFC 5321 4.5.2 transparency; data must end with CRLF."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def split_received(data):
    """Returns (first header field unfolded, rest) of stored message bytes."""
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        if data[j + 2:j + 3] not in (b" ", b"\t"):
            return data[:j + 2], data[j + 2:]
        i = j + 2


class SharedGatewayTest(unittest.TestCase):
    """Base class: one gateway for every test of the class, stopped (exit
    code checked) after the last. Set CONFIG and TLS in the subclass."""

    CONFIG = None
    TLS = False

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(cls.CONFIG, tls=cls.TLS)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.gw.stop()
        finally:
            cls.gw.close()


# ---------------------------------------------------------------- postfix

POSTFIX_MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
local      unix  - n n - - local
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def free_port():
    """A loopback port free right now (for peers that cannot take 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postfix:
    """A private Postfix instance (postfix -c DIR) on a loopback port.

    Its own config, queue and data directories live in a temporary
    directory; it logs to DIR/maillog. settings are main.cf lines added to
    (and overriding) the base: e.g. {"relayhost": "[127.0.0.1]:2525"} or
    {"default_transport": "discard"}. Needs root and Debian's postfix
    package (user postfix, group postdrop).

    netns: the name of a network namespace to run it in (`ip netns exec`,
    which also bind-mounts /etc/netns/NAME/resolv.conf over
    /etc/resolv.conf). The test then cannot reach its smtpd; it injects
    with sendmail() and start() waits for master's "daemon started" line.
    """

    def __init__(self, settings=None, netns=None):
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.dir = tempfile.mkdtemp(prefix="mt-postfix-")
        os.chmod(self.dir, 0o755)  # postfix daemons traverse it
        self.port = free_port()
        self.maillog = os.path.join(self.dir, "maillog")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "relay.postfix.test",
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "smtp_dns_support_level": "disabled",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "notify_classes": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            "delay_warning_time": "0",
            "default_process_limit": "200",
        }
        main.update(settings or {})
        os.mkdir(main["queue_directory"], 0o755)
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        self._write_master()
        self.started = False

    # The port free_port() found can be taken by a parallel test before
    # master binds it: then another port, this often (as Unbound).
    PORT_TRIES = 5

    def _write_master(self):
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(
                listen="127.0.0.1:%d" % self.port))

    def postfix(self, *args):
        p = subprocess.run(self.prefix + ["postfix", "-c", self.dir] +
                           list(args),
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("postfix %s failed (%d): %s%s" % (
                " ".join(args), p.returncode, p.stdout + p.stderr,
                self.log()))
        return p

    def start(self):
        self.postfix("check")
        for attempt in range(self.PORT_TRIES):
            self.started = True  # from here on, stop() must run
            try:
                self.postfix("start")
                break
            except AssertionError as e:
                # master -w: "fatal: bind 127.0.0.1 port N: Address
                # already in use" fails the start; master is gone.
                if (self.prefix or attempt + 1 == self.PORT_TRIES or
                        "Address already in use" not in str(e)):
                    raise
                self.started = False
                self.port = free_port()
                self._write_master()
        if self.prefix:
            self.wait_log(r"postfix/master\[\d+\]: daemon started", 15)
            return self
        for _ in deadline_loop(15, "postfix smtpd on port %d" % self.port,
                               lambda: self.log()):
            try:
                with RawSMTP("127.0.0.1", self.port, 5) as c:
                    banner = c.banner()
                    # Postfix's own greeting, not another test's server.
                    if banner.code == 220 and banner.last.startswith(
                            "220 relay.postfix.test "):
                        c.send(b"QUIT\r\n")
                        return self
            except OSError:
                time.sleep(0.05)  # polling interval

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "queue", "pid",
                                   "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        subprocess.run(self.prefix + ["postfix", "-c", self.dir, "stop"],
                       capture_output=True, timeout=60)
        self.started = False
        if pid is None:
            return
        for _ in deadline_loop(20, "postfix master %d to exit" % pid):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)  # polling interval

    def close(self):
        try:
            self.stop()
        finally:
            if os.environ.get("MT_KEEP_TMP"):
                sys.stderr.write("kept %s\n" % self.dir)
            else:
                subprocess.run(["rm", "-rf", self.dir], check=False)

    def sendmail(self, mail_from, rcpts, data):
        """Submits a message with Postfix's sendmail(1) (maildrop, then
        pickup): no socket, so it works for an instance in a netns."""
        p = subprocess.run(["sendmail", "-C", self.dir, "-f", mail_from,
                            "--"] + list(rcpts), input=data,
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("sendmail failed (%d): %r%s" % (
                p.returncode, p.stdout + p.stderr, self.log()))

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return "\n--- postfix maillog ---\n" + f.read()[-6000:]
        except OSError:
            return "\n(no postfix maillog)"

    def wait_log(self, regex, timeout=30.0):
        """Waits for a maillog line matching regex; returns the match."""
        rx = re.compile(regex)
        for _ in deadline_loop(timeout, "postfix log /%s/" % regex,
                               self.log):
            try:
                with open(self.maillog, errors="replace") as f:
                    m = rx.search(f.read())
            except OSError:
                m = None
            if m:
                return m
            time.sleep(0.05)  # polling interval

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- unbound

UNBOUND_CONF = """server:
  interface: {address}@{port}
  port: {port}
  do-daemonize: no
  use-syslog: no
  username: ""
  chroot: ""
  pidfile: ""
  directory: "{dir}"
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  verbosity: 1
"""

UNBOUND_ZONE = """auth-zone:
  name: "{origin}"
  zonefile: "{dir}/{file}"
  for-downstream: yes
  for-upstream: no
"""


def free_udp_port():
    """A loopback UDP port free right now (unbound cannot take 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unbound_binary():
    """Debian's unbound (scripts/install-deps installs it)."""
    for path in (shutil.which("unbound"), "/usr/sbin/unbound"):
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError("unbound is not installed: run scripts/install-deps")


class Unbound:
    """unbound answering authoritatively for the test's own zones.

    zones: {origin: zone text}, e.g. {"example.": "$ORIGIN example.\\n..."}.
    Listens on address:port (port None: a free loopback port). prefix is
    put before the command (["ip", "netns", "exec", NAME] to run it in a
    network namespace). self.server is "ADDRESS:PORT" for --dns and
    dns.servers. Waits for unbound's "start of service" log line.
    """

    # A port found free can be taken (its TCP side by a parallel test's
    # connection) before unbound binds it: then another port, this often.
    PORT_TRIES = 5

    def __init__(self, zones, address="127.0.0.1", port=None, prefix=()):
        self.dir = tempfile.mkdtemp(prefix="mt-unbound-")
        for i, (origin, text) in enumerate(zones.items()):
            with open(os.path.join(self.dir, "zone%d" % i), "w") as f:
                f.write(text)
        self.logfile = open(os.path.join(self.dir, "unbound.log"), "w+")
        for attempt in range(1 if port else self.PORT_TRIES):
            self.port = port or free_udp_port()
            self.server = "%s:%d" % (address, self.port)
            self._write_conf(zones, address)
            self.logfile.seek(0)
            self.logfile.truncate()
            self.proc = subprocess.Popen(
                list(prefix) + [unbound_binary(), "-d", "-c", self.conf],
                stdout=self.logfile, stderr=self.logfile)
            try:
                self._wait_ready()
                return
            except AssertionError:
                if (port or attempt + 1 == self.PORT_TRIES or
                        "Address already in use" not in self.log()):
                    self.close()
                    raise
            except BaseException:
                self.close()
                raise

    def _write_conf(self, zones, address):
        conf = UNBOUND_CONF.format(address=address, port=self.port,
                                   dir=self.dir)
        for i, origin in enumerate(zones):
            conf += UNBOUND_ZONE.format(origin=origin, dir=self.dir,
                                        file="zone%d" % i)
        self.conf = os.path.join(self.dir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def log(self):
        self.logfile.seek(0)
        return self.logfile.read()

    def _wait_ready(self):
        for _ in deadline_loop(10.0, "unbound to start",
                               lambda: "\nunbound log:\n" + self.log()):
            if "start of service" in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError("unbound exited %d:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                self.proc.wait(0.05)  # poll interval; exit is checked above
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.logfile.close()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
