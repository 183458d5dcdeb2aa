# SPDX-License-Identifier: MIT
"""The dns transport (issue 16 point 4, docs/dns.md) on real dvped nodes in namespaces.

    ns <tag>-u      bridge br0; nftables (bridge family) lets beta's veth pass ARP and UDP to
                    or from port 53 only: beta can send nothing but DNS
    <tag>-alpha     10.77.0.1, enable-dns with dns-domain tunnel.test on dns-port 53 (and udp)
    <tag>-beta      10.77.0.2, enable-dns only, dns-forw-host = 10.77.0.1 (alpha answers the
                    queries itself, as the authoritative server a resolver would forward to)

Both WANs are DPDK af_packet ports with exception interfaces: the slow path's kernel sockets
reach the WAN through them. Beta's dvpe packets travel up in TXT query names and down in TXT
answers; ping and a short TCP transfer cross, and the counters of both ends agree.
"""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_mesh as tm  # noqa: E402
import test_overlay as to  # noqa: E402

BRIDGE = """
table bridge dnsonly {
  chain pass { type filter hook forward priority 0; policy accept;
    iifname "u-beta" ether type arp accept
    oifname "u-beta" ether type arp accept
    iifname "u-beta" udp dport 53 accept
    oifname "u-beta" udp sport 53 accept
    iifname "u-beta" counter drop
    oifname "u-beta" counter drop
  }
}
"""


def peer(node, name):
    return dc.peers_by_name(node.ctl("peers"))[name]


def dns_status(node):
    return node.ctl("status")["dns"]


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class DnsTransport(unittest.TestCase):
    NODES = ["alpha", "beta"]

    @classmethod
    def setUpClass(cls):
        extra = "\n".join(["keepalive = 10", "exception = wan0 exc0", "exception-rate = 100000",
                           "on beta dns-forw-host = 10.77.0.1", "on beta dns-forw-port = 53"])
        append = "\n".join(["node = alpha", "enable-dns = yes", "dns-domain = tunnel.test", "dns-port = 53",
                            "node = beta", "enable-dns = yes", "enable-udp = no"])
        cls.mesh = to.make_mesh(cls.NODES, extra=extra, append=append)
        m = cls.mesh
        try:
            subprocess.run(["ip", "netns", "exec", m.underlay, "nft", "-f", "-"], check=True, text=True, input=BRIDGE)
            tb.tx_checksum_off(m.underlay, "br0")  # the underlay host's queries (test_2) with whole checksums
            for name in cls.NODES:
                tb.veth_to_engine_only(m.nodes[name])
                m.nodes[name].start()
            tm.overlay_addresses(m.nodes, cls.NODES)
        except Exception:
            m.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.mesh.cleanup()

    def diag(self):
        out = []
        for name in self.NODES:
            n = self.mesh.nodes[name]
            try:
                st = n.ctl("status")
                out.append("%s dns: %s\n%s peers: %s" % (name, st.get("dns"), name, [
                    (p.get("name"), p.get("state"), p.get("transport"), p.get("via")) for p in n.ctl("peers").get("peers", [])]))
            except (OSError, ValueError) as e:
                out.append("%s: %s" % (name, e))
            out.append("%s log tail:\n%s" % (name, n.log()[-2500:]))
        out.append(self.mesh.underlay_sh(["nft", "list", "table", "bridge", "dnsonly"], check=False).stdout)
        return "\n".join(out)

    def test_1_ping_and_tcp_through_dns_queries_and_answers(self):
        a, b = self.mesh.nodes["alpha"], self.mesh.nodes["beta"]
        dc.wait_for(lambda: peer(b, "alpha")["state"] == "up" and peer(a, "beta")["state"] == "up", 40,
                    "alpha <-> beta up over dns", self.diag)
        self.assertEqual(peer(b, "alpha").get("transport"), "dns4", self.diag())
        self.assertEqual(peer(a, "beta").get("transport"), "dns4", self.diag())
        r = tm.ping(b, to.overlay_ip(1), 20, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag())
        loss = int(re.search(r"(\d+)% packet loss", r.stdout).group(1))
        self.assertLessEqual(loss, 10, r.stdout + self.diag())
        res = to.iperf(self, b, a, to.overlay_ip(1), ["-t", "3"])
        self.assertGreater(res["end"]["sum_received"]["bytes"], 10000, self.diag())
        sb, sa = dns_status(b), dns_status(a)
        self.assertGreater(sb["queries_sent"], 100, self.diag())
        self.assertGreater(sb["answers_received"], 100, self.diag())
        self.assertGreater(sa["queries_received"], 100, self.diag())
        self.assertEqual(sa["server"]["domain"], "tunnel.test")
        # nothing of beta's but ARP and DNS crossed the bridge: the rest was dropped there
        rules = self.mesh.underlay_sh(["nft", "list", "table", "bridge", "dnsonly"]).stdout
        self.assertIn("udp dport 53", rules)

    def test_2_foreign_garbage_truncated_and_repeated_queries(self):
        a = self.mesh.nodes["alpha"]
        before = dns_status(a)["queries_refused"]
        # from the underlay host: a TXT query for a foreign name, and one with an unknown client id
        script = ("import socket,struct\n"
                  "def q(name):\n"
                  "    b=struct.pack('>HHHHHH',7,0x100,1,0,0,0)\n"
                  "    for l in name.split('.'): b+=bytes([len(l)])+l.encode()\n"
                  "    return b+b'\\0'+struct.pack('>HH',16,1)\n"
                  "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  "for n in ('www.example.com','n00000001.cfff.tunnel.test','n00000002.c001.tunnel.test'):\n"
                  "    s.sendto(q(n),('10.77.0.1',53))\n"
                  # garbage, a valid query of beta's truncated at every length, and one repeated
                  "import random\n"
                  "r=random.Random(7)\n"
                  "for i in range(200): s.sendto(bytes(r.randrange(256) for _ in range(r.randrange(1,600))),('10.77.0.1',53))\n"
                  "v=q('n0badcafe.c002.tunnel.test')\n"
                  "for n in range(len(v)): s.sendto(v[:n],('10.77.0.1',53))\n"
                  "for i in range(20): s.sendto(v,('10.77.0.1',53))\n")
        self.mesh.underlay_sh([sys.executable, "-c", script])
        dc.wait_for(lambda: dns_status(a)["queries_refused"] - before >= 3 + 200 + 40, 10,
                    "foreign domain, unknown node, ourselves, garbage and truncations refused", self.diag)
        # beta's id with a fresh nonce is a poll (answered once), its 19 repeats at most twice more
        st = dns_status(a)
        self.assertGreaterEqual(st["repeated_queries"], 19, self.diag())
        # and the tunnel still carries traffic
        r = tm.ping(self.mesh.nodes["beta"], to.overlay_ip(1), 3, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag())


if __name__ == "__main__":
    tb.main()
