"""test_postfix_dns - a real Postfix, as the SENDING MTA, finds the gateway
through DNS where the instance host is a CNAME, and does not rewrite the
recipient (issue 4: Postfix and Exim keep the address; Sendmail expands
the CNAME).

Everything runs in a network namespace the test creates (`ip netns add`,
only `lo` inside), so the test owns port 53 and port 25 there and
/etc/netns/NAME/resolv.conf (bind-mounted over /etc/resolv.conf by
`ip netns exec`) sends Postfix's resolver to the test's own DNS server:

- unbound on 127.0.0.1:53 with the zone below: acme.example is a CNAME to
  the load-balancer name lb-1.mx.example, whose MX is itself and whose A
  record is 127.0.0.2, the gateway;
- mailtrigger listening on 127.0.0.2:25, with canonical_names
  *.mx.example (so a rewritten recipient would get 550 5.1.2);
- a private Postfix (`postfix -c DIR`, chroot off in master.cf so its
  resolver reads the namespace's resolv.conf) with no relayhost,
  smtp_host_lookup = dns and DNS lookups on.

The test submits with Postfix's sendmail(1) and checks: Postfix delivered
to lb-1.mx.example[127.0.0.2]:25 after the MX lookup; the gateway got RCPT
TO the original instance host (the event's rcpt_to), refused nothing, and
the flow fired (its exec step wrote the event to a file).

Needs root (CI runs as root). Nothing is skipped: a namespace that cannot
be created fails the test with the reason. The namespace and its
/etc/netns directory are removed even when the test fails.
"""

import json
import os
import re
import shutil
import subprocess
import unittest
import uuid

import mtharness as mt

ZONE = """$ORIGIN example.
$TTL 300
@           SOA ns.example. admin.example. 1 3600 600 86400 60
@           NS  ns.example.
ns          A   127.0.0.1
acme        CNAME lb-1.mx
lb-1.mx     MX  10 lb-1.mx
lb-1.mx     A   127.0.0.2
"""

INSTANCE_HOST = "acme.example"
GATEWAY = "127.0.0.2"


def run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True,
                          timeout=30)


class Netns:
    """A network namespace with lo up and its own resolv.conf."""

    def __init__(self, resolv):
        self.name = "mt-pfdns-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
        self.etc = os.path.join("/etc/netns", self.name)
        r = run("ip", "netns", "add", self.name)
        if r.returncode != 0:
            raise AssertionError(
                "cannot create the network namespace %s (this test needs "
                "root and the ip command; CI runs as root): ip netns add "
                "exited %d: %s" % (self.name, r.returncode,
                                   r.stderr.strip()))
        try:
            os.makedirs(self.etc)
            with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
                f.write(resolv)
            r = run("ip", "-n", self.name, "link", "set", "lo", "up")
            if r.returncode != 0:
                raise AssertionError("ip link set lo up in %s: %s"
                                     % (self.name, r.stderr))
        except BaseException:
            self.close()
            raise
        self.exec = ["ip", "netns", "exec", self.name]

    def close(self):
        """Removes the namespace (its processes must have been stopped)
        and its /etc/netns directory."""
        shutil.rmtree(self.etc, ignore_errors=True)
        r = run("ip", "netns", "del", self.name)
        if r.returncode != 0 and "No such file" not in r.stderr:
            raise AssertionError("ip netns del %s: %s"
                                 % (self.name, r.stderr))


class PostfixSendsByDNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = cls.unbound = cls.gw = cls.pf = None
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        cls.ns = Netns("nameserver 127.0.0.1\noptions attempts:2 "
                       "timeout:2\n")
        cls.unbound = mt.Unbound({"example.": ZONE}, port=53,
                                 prefix=cls.ns.exec)
        cls.gw = mt.Gateway(start=False)
        cls.out = os.path.join(cls.gw.tmpdir, "flow-out.json")
        cls.gw.write_config({
            "listen": [{"address": GATEWAY + ":25"}],
            "canonical_names": ["*.mx.example"],
            "instances": [{
                "host": INSTANCE_HOST,
                "sender_domains": ["acme.com"],
                "triggers": {"alert": {"flow": [{"exec": {"command": [
                    "/bin/sh", "-c", 'cat > "$0"', cls.out]}}]}},
            }],
        })
        cls.gw.command_prefix = cls.ns.exec
        cls.gw.start()
        cls.pf = mt.Postfix({
            "smtp_dns_support_level": "enabled",
            "smtp_host_lookup": "dns",
            "disable_dns_lookups": "no",
        }, netns=cls.ns.name)
        cls.pf.start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.pf:
                cls.pf.close()
            if cls.gw:
                try:
                    if cls.gw.running():
                        cls.gw.stop()
                finally:
                    cls.gw.close()
            if cls.unbound:
                cls.unbound.close()
        finally:
            if cls.ns:
                cls.ns.close()

    def test_resolv_conf_is_the_namespaces(self):
        """The set-up the rest relies on: inside the namespace the
        resolver is the test's unbound, and it answers the CNAME."""
        r = run(*self.ns.exec, "cat", "/etc/resolv.conf")
        self.assertEqual(r.stdout.splitlines()[0], "nameserver 127.0.0.1")
        r = run(*self.ns.exec, mt.binary(), "doctor",
                "alert@" + INSTANCE_HOST, "--json")
        out = json.loads(r.stdout)
        self.assertEqual((r.returncode, out["dns"]["cname_chain"],
                          [h["addresses"][0]["address"]
                           for h in out["dns"]["mx"]]),
                         (1, [INSTANCE_HOST, "lb-1.mx.example"],
                          [GATEWAY]), r.stdout + r.stderr)

    def test_postfix_keeps_the_cname_and_the_flow_fires(self):
        token = uuid.uuid4().hex
        rcpt = "alert@" + INSTANCE_HOST
        self.pf.sendmail(mt.SENDER, [rcpt], (
            "From: Nagios <%s>\nTo: <%s>\nSubject: db down\n"
            "X-Token: %s\n\nDisk full on db1.\n"
            % (mt.SENDER, rcpt, token)).encode())
        m = self.pf.wait_log(
            r"to=<%s>, relay=lb-1\.mx\.example\[127\.0\.0\.2\]:25, .*"
            r"status=sent \(250 2\.0\.0 Ok: queued as (evt_%s)\)"
            % (re.escape(rcpt), mt.ID_RE))
        evt = m.group(1)
        self.gw.wait_state(evt, "done")
        rows = self.gw.query("SELECT e.rcpt_to, e.trigger, e.instance, "
                             "m.data FROM events e JOIN messages m ON "
                             "m.id = e.message_id WHERE e.id = ?", (evt,))
        self.assertEqual(len(rows), 1)
        self.assertEqual((json.loads(rows[0]["rcpt_to"]),
                          rows[0]["trigger"], rows[0]["instance"]),
                         ([rcpt], "alert", INSTANCE_HOST))
        self.assertIn(("X-Token: " + token).encode(),
                      bytes(rows[0]["data"]))
        self.assertEqual(self.gw.count("rejections"), 0,
                         self.gw.query("SELECT * FROM rejections"))
        with open(self.out) as f:
            event = json.load(f)
        self.assertEqual((event["id"], event["trigger"]), (evt, "alert"))
        self.assertNotIn("lb-1.mx.example", json.dumps(event))


if __name__ == "__main__":
    unittest.main()
