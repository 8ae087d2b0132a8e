"""test_dns - `mailtrigger doctor` against a real DNS server.

Starts unbound (Debian package unbound; scripts/install-deps puts it in
TEST) on a loopback port with an authoritative zone the test writes, one
name per case of issue 4: instance host with its own MX (safe); host that
is a CNAME to a load-balancer name; CNAME chain of 3; CNAME loop; MX
target that is a CNAME; no MX (implicit MX); null MX; NXDOMAIN. unbound,
not dnsmasq: dnsmasq's --cname needs a target it knows, so it can express
neither a CNAME loop nor a null MX. A UDP socket the test binds and never
answers stands for a DNS server that does not answer.

Each row runs the real binary with --json and checks the exit status
(0 works for every sender, 1 fails for CNAME-expanding senders, 2 fails
for all), the outcome, the findings and the delivery plan; the plain-words
output is checked for the lines a user acts on.
"""

import json
import os
import shutil
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
safe        MX  20 lb2.mx
safe        MX  10 lb1.mx
lb1.mx      A   192.0.2.10
lb2.mx      AAAA 2001:db8::2
acme        CNAME lb-7.mx
lb-7.mx     MX  10 lb1.mx
lb-7.mx     A   192.0.2.7
c1          CNAME c2
c2          CNAME c3
c3          CNAME lb-7.mx
loop1       CNAME loop2
loop2       CNAME loop1
badmx       MX  10 alias
alias       CNAME lb1.mx
nomx        A   192.0.2.5
nullmx      MX  0 .
spf         TXT "v=spf1 -all"
gw          A   127.0.0.1
probe       CNAME lb-9.mx
lb-9.mx     MX  10 gw
"""

# name, address, exit status, outcome, findings, plan ("PREF HOST[ADDRS]"),
# address a CNAME-expanding sender writes (None: not rewritten)
ROWS = [
    ("own MX (safe)", "flow1@safe.example", 0, "deliverable", [],
     "10 lb1.mx.example[192.0.2.10] 20 lb2.mx.example[2001:db8::2]", None),
    ("host is a CNAME to an LB name", "flow1@acme.example", 1,
     "deliverable", ["domain_is_cname"], "10 lb1.mx.example[192.0.2.10]",
     "flow1@lb-7.mx.example"),
    ("CNAME chain of 3", "flow1@c1.example", 1, "deliverable",
     ["domain_is_cname"], "10 lb1.mx.example[192.0.2.10]",
     "flow1@lb-7.mx.example"),
    ("CNAME loop", "flow1@loop1.example", 2, "cname_broken",
     ["cname_loop"], "", None),
    ("MX target is a CNAME", "flow1@badmx.example", 0, "deliverable",
     ["mx_target_cname"], "10 alias.example[192.0.2.10]", None),
    ("no MX: implicit MX", "flow1@nomx.example", 0, "deliverable",
     ["implicit_mx"], "0 nomx.example[192.0.2.5]", None),
    ("null MX", "flow1@nullmx.example", 2, "null_mx", ["null_mx"], "",
     None),
    ("NXDOMAIN", "flow1@nx.example", 2, "nxdomain", ["nxdomain"], "",
     None),
    ("no MX and no address", "flow1@spf.example", 2, "no_address",
     ["implicit_mx", "mx_target_no_address"], "0 spf.example[]", None),
]


def plan_text(plan):
    return " ".join("%d %s[%s]" % (h["preference"], h["name"],
                                   ",".join(a["address"]
                                            for a in h["addresses"]))
                    for h in plan["mx"])


@unittest.skipUnless(shutil.which("unbound") or
                     os.path.exists("/usr/sbin/unbound"),
                     "unbound is not installed (scripts/install-deps)")
class DoctorDNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unbound = mtharness.Unbound({"example.": ZONE})
        cls.dns = cls.unbound.server
        cls.tmp = tempfile.TemporaryDirectory(prefix="mt-dns-")

    @classmethod
    def tearDownClass(cls):
        cls.unbound.close()
        cls.tmp.cleanup()

    def doctor(self, *args, dns=None):
        cmd = [mtharness.binary(), "doctor", *args,
               "--dns", dns or self.dns]
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=30)

    def doctor_json(self, address, *args):
        r = self.doctor(address, "--json", *args)
        try:
            return r.returncode, json.loads(r.stdout)
        except ValueError:
            self.fail("doctor %s: not JSON (exit %d):\n%s\n%s"
                      % (address, r.returncode, r.stdout, r.stderr))

    def test_cases(self):
        for name, addr, status, outcome, finds, plan, exp in ROWS:
            with self.subTest(name):
                code, out = self.doctor_json(addr)
                got = (code, out["dns"]["outcome"],
                       [f["code"] for f in out["dns"]["findings"]],
                       plan_text(out["dns"]),
                       out["cname_expansion"].get("address"))
                want = (status, outcome, finds, plan, exp)
                self.assertEqual(got, want, "row %r: got %r want %r"
                                 % (name, got, want))
                self.assertEqual(out["status"], status)

    def test_chain_and_ttls(self):
        """The CNAME chain is reported link by link, with rcodes and TTLs
        of every lookup in the order a sender makes them."""
        _, out = self.doctor_json("flow1@c1.example")
        self.assertEqual(out["dns"]["cname_chain"],
                         ["c1.example", "c2.example", "c3.example",
                          "lb-7.mx.example"])
        steps = [(s["name"], s["type"], s["rcode"])
                 for s in out["dns"]["lookups"]]
        self.assertEqual(steps[:5], [
            ("c1.example", "CNAME", "NOERROR"),
            ("c2.example", "CNAME", "NOERROR"),
            ("c3.example", "CNAME", "NOERROR"),
            ("lb-7.mx.example", "CNAME", "NOERROR"),
            ("lb-7.mx.example", "MX", "NOERROR")])
        rec = out["dns"]["lookups"][0]["records"][0]
        self.assertEqual((rec["type"], rec["data"], rec["ttl"]),
                         ("CNAME", "c2.example", 300))
        nx = self.doctor_json("flow1@nx.example")[1]["dns"]["lookups"]
        self.assertEqual([(s["type"], s["rcode"]) for s in nx],
                         [("CNAME", "NXDOMAIN")])

    def test_plain_words_cname(self):
        r = self.doctor("flow1@acme.example")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for want in ["acme.example is a CNAME (to lb-7.mx.example)",
                     "sends RCPT TO:<flow1@lb-7.mx.example>",
                     "define(`confDONT_EXPAND_CNAMES', `True')",
                     "acme.example. MX 10 lb1.mx.example."]:
            self.assertIn(want, r.stdout)

    def test_gateway_replies_with_config(self):
        """--config runs the router on both forms: the expanded one gets
        the 5.1.2 diagnosis; an instance on the LB name makes it work."""
        cfg = mtharness.default_config(self.tmp.name)
        cfg["canonical_names"] = ["*.mx.example"]
        cfg["instances"][0]["host"] = "acme.example"
        path = os.path.join(self.tmp.name, "doctor.yaml")
        with open(path, "w") as f:
            f.write(mtharness.to_yaml(cfg))
        code, out = self.doctor_json("alert@acme.example", "--config", path)
        self.assertEqual(code, 1, out["verdict"])
        self.assertEqual(out["gateway"]["code"], 250)
        self.assertEqual(
            (out["cname_expansion"]["gateway"]["code"],
             out["cname_expansion"]["gateway"]["enhanced"]),
            (550, "5.1.2"))
        code, out = self.doctor_json("nosuch@acme.example", "--config", path)
        self.assertEqual((code, out["gateway"]["code"]), (2, 550),
                         out["verdict"])
        # CNAME recovery: the expanded form is accepted only pending the
        # Received: header, which not every sender writes: still 1.
        cfg["instances"][0]["accept_cname_expanded"] = True
        with open(path, "w") as f:
            f.write(mtharness.to_yaml(cfg))
        code, out = self.doctor_json("alert@acme.example", "--config", path)
        self.assertEqual(code, 1, out["verdict"])
        self.assertEqual(out["cname_expansion"]["gateway"]["code"], 250)
        self.assertIn("recovers only when their Received: header names",
                      out["verdict"])
        del cfg["instances"][0]["accept_cname_expanded"]
        cfg["canonical_names"] = []
        cfg["instances"].append({"host": "lb-7.mx.example", "triggers": {
            "alert": {"flow": [{"exec": {"command": ["/bin/true"]}}]}}})
        with open(path, "w") as f:
            f.write(mtharness.to_yaml(cfg))
        code, out = self.doctor_json("alert@acme.example", "--config", path)
        self.assertEqual(code, 0, out["verdict"])

    def test_server_does_not_answer(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
            mute.bind(("127.0.0.1", 0))
            dns = "127.0.0.1:%d" % mute.getsockname()[1]
            r = self.doctor("flow1@acme.example", "--timeout", "300ms",
                            dns=dns)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("DNS server: " + dns, r.stdout)
        self.assertIn("acme.example CNAME: timeout - no answer from the "
                      "DNS server within 300 ms", r.stdout)
        self.assertIn("senders defer the mail", r.stdout)

    def test_probe_against_the_gateway(self):
        """--probe talks SMTP to the MX host (the real gateway on its
        port): both RCPT replies are shown, and nothing is queued."""
        with mtharness.Gateway({
                "canonical_names": ["*.mx.example"],
                "instances": [{"host": "probe.example", "triggers": {
                    "alert": {"flow": [
                        {"exec": {"command": ["/bin/true"]}}]}}}],
        }) as gw:
            code, out = self.doctor_json("alert@probe.example", "--probe",
                                         "--port", str(gw.port))
            self.assertEqual(code, 1, out["verdict"])
            self.assertEqual(len(out["probe"]), 1, out["probe"])
            t = out["probe"][0]
            self.assertEqual((t["host"], t["address"], t["port"],
                              t["error"]),
                             ("gw.example", "127.0.0.1", gw.port, ""))
            got = [(s["command"].split(" ")[0], s["code"])
                   for s in t["dialogue"]]
            self.assertEqual(got, [("", 220), ("EHLO", 250),
                                   ("MAIL", 250), ("RCPT", 250),
                                   ("RSET", 250), ("MAIL", 250),
                                   ("RCPT", 550), ("RSET", 250),
                                   ("QUIT", 221)])
            self.assertEqual(t["dialogue"][3]["command"],
                             "RCPT TO:<alert@probe.example>")
            self.assertEqual(t["dialogue"][6]["command"],
                             "RCPT TO:<alert@lb-9.mx.example>")
            self.assertTrue(t["dialogue"][6]["reply"].startswith(
                "550 5.1.2 <alert@lb-9.mx.example>"), t["dialogue"][6])
            r = self.doctor("nosuch@probe.example", "--probe", "--port",
                            str(gw.port))
            self.assertEqual(r.returncode, 2, r.stdout)
            self.assertIn("> RCPT TO:<nosuch@probe.example>", r.stdout)
            self.assertIn("< 550 5.1.1 <nosuch@probe.example>", r.stdout)
            self.assertEqual(gw.count(), 0)

    def test_probe_nothing_listening(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, never listening: refused
            code, out = self.doctor_json("alert@probe.example", "--probe",
                                         "--port", str(port))
        self.assertEqual(out["probe"][0]["error"],
                         "connect: Connection refused")
        self.assertEqual(code, 1)

    def test_usage(self):
        for args in [[], ["a@b.example", "--bogus"],
                     ["not an address"], ["a@[127.0.0.1]"],
                     ["a@b.example", "--timeout", "0"],
                     ["a@b.example", "--probe", "--port", "0"]]:
            with self.subTest(args=args):
                r = subprocess.run([mtharness.binary(), "doctor", *args],
                                   capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertNotEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main()
