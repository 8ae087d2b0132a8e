"""test_check_dns - `mailtrigger check-dns` and `dns.servers` against a real
DNS server.

Starts unbound (mtharness.Unbound) on a loopback port with a zone the test
writes: an instance host with its own MX and a wildcard MX below it (safe);
one that is a CNAME to a load-balancer name (exposed); one with its own MX
but a wildcard `*.host CNAME lb` (its trigger names are exposed, found by
asking for the concrete names); one that does not exist (NXDOMAIN). The
config names the DNS server in `dns.servers`, so the rows also show that
check-dns and doctor use it; `--dns` overrides it.

Each row of the table is one name: its form, its exit status (0 works for
every sender, 1 fails for CNAME-expanding senders, 2 fails for all), its
findings and the address a CNAME-expanding sender writes. The exit status
of the command is the worst row's.
"""

import json
import os
import re
import socket
import subprocess
import tempfile
import unittest

import mtharness

ZONE = """$ORIGIN example.
$TTL 300
@           SOA ns.example. admin.example. 1 3600 600 86400 60
@           NS  ns.example.
ns          A   127.0.0.1
lb1.mx      A   192.0.2.10
lb-7.mx     MX  10 lb1.mx
lb-7.mx     A   192.0.2.7
safe        MX  10 lb1.mx
*.safe      MX  10 lb1.mx
acme        CNAME lb-7.mx
wild        MX  10 lb1.mx
*.wild      CNAME lb-7.mx
probe       CNAME lb-9.mx
lb-9.mx     A   127.0.0.1
"""

EXEC = [{"exec": {"command": ["/bin/true"]}}]

INSTANCES = {
    "safe": {"host": "safe.example", "triggers": {
        "alert": {"flow": EXEC},
        "deploy": {"recipients": ["ops"], "flow": EXEC}}},
    "acme": {"host": "acme.example", "triggers": {"alert": {"flow": EXEC}}},
    "wild": {"host": "wild.example", "triggers": {
        "deploy": {"flow": EXEC}, "ops": {"flow": EXEC}}},
    "gone": {"host": "gone.example", "triggers": {"alert": {"flow": EXEC}}},
}

# name, form, address checked, status, findings, CNAME-expanded address
ROWS = [
    ("safe.example", "trigger", "alert@safe.example", 0, [], None),
    ("alert.safe.example", "recipient", "someone@alert.safe.example", 0,
     [], None),
    ("deploy.safe.example", "recipient", "ops@deploy.safe.example", 0, [],
     None),
    ("acme.example", "trigger", "alert@acme.example", 1,
     ["domain_is_cname"], "alert@lb-7.mx.example"),
    ("alert.acme.example", "recipient", "someone@alert.acme.example", 2,
     ["nxdomain"], None),
    ("wild.example", "trigger", "deploy@wild.example", 0, [], None),
    ("deploy.wild.example", "recipient", "someone@deploy.wild.example", 1,
     ["domain_is_cname"], "someone@lb-7.mx.example"),
    ("ops.wild.example", "recipient", "someone@ops.wild.example", 1,
     ["domain_is_cname"], "someone@lb-7.mx.example"),
    ("gone.example", "trigger", "alert@gone.example", 2, ["nxdomain"],
     None),
    ("alert.gone.example", "recipient", "someone@alert.gone.example", 2,
     ["nxdomain"], None),
]


def mute_server():
    """A bound UDP socket that never answers: a DNS server that is down."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s, "127.0.0.1:%d" % s.getsockname()[1]


class CheckDNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unbound = mtharness.Unbound({"example.": ZONE})
        cls.tmp = tempfile.TemporaryDirectory(prefix="mt-checkdns-")
        cls.mute, cls.mute_server = mute_server()

    @classmethod
    def tearDownClass(cls):
        cls.mute.close()
        cls.unbound.close()
        cls.tmp.cleanup()

    def config(self, names, servers=None, name="c.yaml"):
        """Writes a config with the named instances; returns its path."""
        cfg = mtharness.default_config(self.tmp.name)
        cfg["canonical_names"] = ["*.mx.example"]
        cfg["instances"] = [INSTANCES[n] for n in names]
        cfg["dns"] = {"servers": servers or [self.unbound.server]}
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(mtharness.to_yaml(cfg) + "\n")
        return path

    def run_cmd(self, *args):
        return subprocess.run([mtharness.binary(), *args],
                              capture_output=True, text=True, timeout=60)

    def check_json(self, *args):
        r = self.run_cmd("check-dns", "--json", *args)
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            self.fail("check-dns %s: not JSON (exit %d):\n%s\n%s"
                      % (args, r.returncode, r.stdout, r.stderr))

    def test_every_name(self):
        """dns.servers from the config; one row per name, in config
        order; the exit status is the worst row's."""
        path = self.config(["safe", "acme", "wild", "gone"])
        code, out = self.check_json("--config", path)
        got = [(n["name"], n["form"], n["address"], n["status"],
                [f["code"] for f in n["doctor"]["dns"]["findings"]],
                n["doctor"]["cname_expansion"].get("address"))
               for n in out["names"]]
        for i, row in enumerate(ROWS):
            with self.subTest(row[0]):
                self.assertLess(i, len(got), "row %r missing" % (row,))
                self.assertEqual(got[i], row, "got %r want %r"
                                 % (got[i], row))
        self.assertEqual(len(got), len(ROWS), got)
        self.assertEqual((code, out["status"]), (2, 2))
        self.assertEqual(out["summary"], {"checked": 10, "ok": 4,
                                          "exposed": 3, "failing": 3})
        self.assertEqual(out["dns_servers"], self.unbound.server)
        acme = out["names"][3]["doctor"]
        self.assertEqual((acme["gateway"]["code"],
                          acme["cname_expansion"]["gateway"]["enhanced"]),
                         (250, "5.1.2"))

    def test_exit_status_is_the_worst(self):
        for name, names, want in [
                ("all safe", ["safe"], 0),
                ("one exposed name", ["safe", "wild"], 1),
                ("one failing name", ["safe", "acme"], 2)]:
            with self.subTest(name):
                r = self.run_cmd("check-dns", "--config",
                                 self.config(names))
                self.assertEqual(r.returncode, want, r.stdout + r.stderr)

    def test_plain_words(self):
        path = self.config(["safe", "acme", "wild", "gone"])
        r = self.run_cmd("check-dns", "--config", path)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        out = r.stdout
        for want in [
                "DNS server: " + self.unbound.server + "\n",
                "safe.example (instance host): ok\n"
                "  mail to alert@safe.example works from every "
                "standards-following sender\n",
                "acme.example (instance host): exposed to CNAME "
                "expansion\n",
                "  fix: DNS: replace the CNAME at acme.example by MX "
                "records of its own (acme.example. MX 10 lb1.mx.example.)",
                "ops.wild.example (recipient form of trigger ops): exposed "
                "to CNAME expansion\n",
                "gone.example (instance host): fails for every sender\n"
                "  mail to alert@gone.example fails for every sender: "
                "gone.example does not exist in the DNS\n",
                "Summary: 10 names of %s checked: 4 ok, 3 exposed to "
                "CNAME expansion, 3 failing for every sender\n" % path,
                "mailtrigger doctor ADDRESS --config " + path]:
            self.assertIn(want, out)
        # Sender-side advice is said once, not for every name.
        self.assertNotIn("fix: Sending server", out)
        self.assertEqual(out.count("confDONT_EXPAND_CNAMES"), 1, out)

    def test_dns_option_overrides_config(self):
        """The config names a server that never answers: with --dns the
        checks use unbound; without, every lookup times out."""
        path = self.config(["safe"], servers=[self.mute_server])
        code, out = self.check_json("--config", path, "--dns",
                                    self.unbound.server)
        self.assertEqual((code, out["dns_servers"],
                          out["summary"]["ok"]),
                         (0, self.unbound.server, 3), out["names"])
        code, out = self.check_json("--config", path, "--timeout", "200ms")
        self.assertEqual((code, out["dns_servers"],
                          out["summary"]["failing"]),
                         (2, self.mute_server, 3))
        self.assertIn("the DNS lookups for safe.example failed",
                      out["names"][0]["verdict"])
        self.assertEqual(out["names"][0]["doctor"]["dns"]["lookups"][0]
                         ["rcode"], "timeout")

    def test_doctor_uses_dns_servers(self):
        """doctor --config FILE with no --dns asks the config's servers;
        --dns wins over them."""
        path = self.config(["acme"])
        r = self.run_cmd("doctor", "alert@acme.example", "--config", path,
                         "--json")
        out = json.loads(r.stdout)
        self.assertEqual((r.returncode, out["dns_servers"],
                          out["cname_expansion"]["address"]),
                         (1, self.unbound.server, "alert@lb-7.mx.example"))
        path = self.config(["acme"], servers=[self.mute_server])
        r = self.run_cmd("doctor", "alert@acme.example", "--config", path,
                         "--dns", self.unbound.server)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("DNS server: %s\n" % self.unbound.server, r.stdout)

    def test_doctor_probe_shows_both_replies(self):
        """The DNS points the instance host at 127.0.0.1 through a CNAME
        to the LB name (its implicit MX); the gateway has canonical_names.
        doctor --probe (DNS server from the gateway's own config) shows
        250 for the address as given, 550 5.1.2 for the expanded form,
        and exits 1."""
        with mtharness.Gateway({
                "canonical_names": ["*.mx.example"],
                "dns": {"servers": [self.unbound.server]},
                "instances": [{"host": "probe.example",
                               "triggers": {"alert": {"flow": EXEC}}}],
        }) as gw:
            r = self.run_cmd("doctor", "alert@probe.example", "--config",
                             gw.config_path, "--probe", "--port",
                             str(gw.port))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertRegex(r.stdout, re.compile(
                r"  lb-9\.mx\.example \[127\.0\.0\.1\]:%d\n"
                r"    < 220 .*\n"
                r"    > EHLO .*\n    < 250 .*\n"
                r"    > MAIL FROM:<>\n    < 250 .*\n"
                r"    > RCPT TO:<alert@probe\.example>\n"
                r"    < 250 2\.1\.5 .*\n"
                r"    > RSET\n    < 250 .*\n"
                r"    > MAIL FROM:<>\n    < 250 .*\n"
                r"    > RCPT TO:<alert@lb-9\.mx\.example>\n"
                r"    < 550 5\.1\.2 <alert@lb-9\.mx\.example>: this is the "
                r"mail server's own name.*\n"
                r"    > RSET\n    < 250 .*\n"
                r"    > QUIT\n    < 221 .*\n" % gw.port))
            self.assertEqual(gw.count(), 0)

    def test_doctor_probe_with_cname_recovery(self):
        """An instance with accept_cname_expanded: the probe's expanded
        RCPT, in a transaction of its own, is accepted pending the
        Received: header; the verdict stays 1 (some senders only)."""
        with mtharness.Gateway({
                "canonical_names": ["*.mx.example"],
                "dns": {"servers": [self.unbound.server]},
                "instances": [{"host": "probe.example",
                               "accept_cname_expanded": True,
                               "triggers": {"alert": {"flow": EXEC}}}],
        }) as gw:
            r = self.run_cmd("doctor", "alert@probe.example", "--probe",
                             "--port", str(gw.port), "--dns",
                             self.unbound.server, "--json")
            out = json.loads(r.stdout)
            self.assertEqual(r.returncode, 1, out["verdict"])
            rcpts = [s for s in out["probe"][0]["dialogue"]
                     if s["command"].startswith("RCPT")]
            self.assertEqual([s["code"] for s in rcpts], [250, 250])
            self.assertIn("accepted pending the Received: header",
                          rcpts[1]["reply"])
            self.assertIn("recovers only when", out["verdict"])
            self.assertEqual(gw.count(), 0)

    def test_errors(self):
        bad = os.path.join(self.tmp.name, "bad.yaml")
        with open(bad, "w") as f:
            f.write("dns:\n  servers: [ns.example]\n")
        for name, args, err in [
                ("no --config", ["check-dns"], "usage: mailtrigger "
                 "check-dns --config FILE"),
                ("unknown option", ["check-dns", "--config", bad, "--x"],
                 "usage:"),
                ("bad timeout", ["check-dns", "--config", bad,
                                 "--timeout", "0"], "usage:"),
                ("config with errors", ["check-dns", "--config", bad],
                 bad + ":2:13: dns.servers[0]: 'ns.example' is not an IP "
                 "address"),
                ("--dns not an address",
                 ["check-dns", "--config", self.config(["safe"]), "--dns",
                  "ns.example"],
                 "mailtrigger check-dns: --dns: 'ns.example' is not an IP "
                 "address"),
                ("doctor --dns port 0",
                 ["doctor", "a@safe.example", "--dns", "127.0.0.1:0"],
                 "mailtrigger doctor: --dns: '127.0.0.1:0' has no valid "
                 "port")]:
            with self.subTest(name):
                r = self.run_cmd(*args)
                self.assertEqual((r.returncode, r.stdout), (2, ""),
                                 r.stderr)
                self.assertIn(err, r.stderr)


if __name__ == "__main__":
    unittest.main()
