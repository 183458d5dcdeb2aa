# SPDX-License-Identifier: MIT
"""Roaming (issue 15 point 4, docs/protocol.md "Roaming") on real dvped nodes in namespaces.

    ns <tag>-u   bridge br0 10.77.0.254/24
    <tag>-alpha  dvped, WAN 10.77.0.1/24 on the bridge
    <tag>-rt     a router: r-up 10.77.0.50 and .51 on the bridge, u-beta 10.77.1.1/24 towards beta;
                 stateless address translation in nftables (prerouting: .50 and .51 -> 10.77.1.2;
                 postrouting: beta's source 10.77.1.2 -> .50, later .51), no conntrack
    <tag>-beta   dvped, WAN 10.77.1.2/24, gateway 10.77.1.1, no `hostname` (address-less): alpha
                 reaches it at .50, where its handshake came from

Beta "moves" when the router starts to translate its source to .51 (as a home router that got a
new public address): alpha sees beta's authenticated packets from .51, moves beta's path there,
and runs node-change once with the new address while a ping and a TCP transfer keep going. A
packet of beta's replayed from a third address, and a forged one, move nothing. `dvpectl
reconnect beta` does a new handshake and keeps the move. A peer with a configured address is not
moved (it may send from another address than it receives at); that is what ConfiguredAddress
checks: the same move leaves alpha sending to beta's `hostname`.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402

NFT_BASE = """
table ip roam {
  chain pre { type filter hook prerouting priority -300; policy accept;
    ip daddr { 10.77.0.50, 10.77.0.51 } notrack ip daddr set 10.77.1.2
  }
  chain post { type filter hook postrouting priority 300; policy accept;
    ip saddr 10.77.1.2 ip saddr set %s
  }
}
"""
# The same, and beta's UDP port 655 translated to PORT and back (test_4: a NAT that rebinds the port)
NFT_PORT = """
table ip roam {
  chain pre { type filter hook prerouting priority -300; policy accept;
    ip daddr { 10.77.0.50, 10.77.0.51 } notrack ip daddr set 10.77.1.2
    ip daddr 10.77.1.2 udp dport { 31000, 31001 } udp dport set 655
  }
  chain post { type filter hook postrouting priority 300; policy accept;
    ip saddr 10.77.1.2 udp sport 655 udp sport set %d
    ip saddr 10.77.1.2 ip saddr set %s
  }
}
"""


def peer(node, name):
    return dc.peers_by_name(node.ctl("peers"))[name]


class Topology:
    HOSTNAME = None  # beta's hostname in the config: None = address-less

    @classmethod
    def setUpClass(cls):
        cls.hooks = tempfile.mkdtemp(prefix="dvpe-roam-hooks-")
        conf = to.write_conf(["alpha", "beta"], "udp",
                             extra="node-change = node-change.sh\nnode-up = node-up.sh\nkeepalive = 10")
        path = os.path.join(conf, "gvpe.conf")
        with open(path) as f:
            text = f.read()
        # beta has no address in the config (a laptop, a home router): alpha reaches it where its
        # handshakes and packets come from; beta connects to alpha (`connect = always` in alpha's
        # section: how the others connect to alpha)
        text = text.replace("hostname = 10.77.0.2\n", "hostname = %s\n" % cls.HOSTNAME if cls.HOSTNAME else "")
        text = text.replace("node = alpha\n", "node = alpha\nconnect = always\n")
        text = text.replace("wan-address = wan0 10.77.0.2/24",
                            "wan-address = wan0 10.77.1.2/24\nwan-gateway = wan0 10.77.1.1")
        with open(path, "w") as f:
            f.write(text)
        for name in ("node-change", "node-up"):
            script = os.path.join(conf, name + ".sh")
            with open(script, "w") as f:
                # written whole, then renamed: the test never reads a half-written file
                f.write("#!/bin/sh\nf=$(date +%%s%%N)-$$\nenv > %s/.$f.tmp && mv %s/.$f.tmp %s/%s-$NODENAME-$f.env\n"
                        % (cls.hooks, cls.hooks, cls.hooks, name))
            os.chmod(script, 0o755)
        try:
            cls.mesh = tb.Mesh(to.node_ips(["alpha", "beta"], False), conf)
        finally:
            shutil.rmtree(conf)
        m = cls.mesh
        try:
            # beta's uplink leaves the bridge for the router namespace
            cls.rt = m.add_namespace("rt")
            m.underlay_sh(["ip", "link", "set", "u-beta", "nomaster"])
            m.underlay_sh(["ip", "link", "set", "u-beta", "netns", cls.rt])
            tb.sh(["ip", "link", "add", "r-up", "netns", cls.rt, "type", "veth", "peer", "name", "u-rt",
                   "netns", m.underlay])
            m.underlay_sh(["ip", "link", "set", "u-rt", "master", "br0", "up"])
            for cmd in (["ip", "addr", "add", "10.77.1.1/24", "dev", "u-beta"],
                        ["ip", "link", "set", "u-beta", "up"],
                        ["ip", "addr", "add", "10.77.0.50/24", "dev", "r-up"],
                        ["ip", "addr", "add", "10.77.0.51/24", "dev", "r-up"],
                        ["ip", "link", "set", "r-up", "up"],
                        ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                        ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
                        ["sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0"]):
                tb.sh(cmd, ns=cls.rt)
            cls.set_source("10.77.0.50")
            cls.a, cls.b = m.nodes["alpha"], m.nodes["beta"]
            cls.a.start()
            cls.b.start()
            for i, n in ((1, cls.a), (2, cls.b)):
                n.sh(["ip", "addr", "add", "10.88.0.%d/24" % i, "dev", "dvpe0"])
            dc.wait_for(lambda: peer(cls.a, "beta")["state"] == "up" and peer(cls.b, "alpha")["state"] == "up",
                        30, "alpha <-> beta up", cls.diag)
        except Exception:
            m.cleanup()
            shutil.rmtree(cls.hooks)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mesh.cleanup()
        finally:
            shutil.rmtree(cls.hooks)

    @classmethod
    def set_source(cls, addr, port=None):
        rules = NFT_BASE % addr if port is None else NFT_PORT % (port, addr)
        subprocess.run(["ip", "netns", "exec", cls.rt, "nft", "-f", "-"], check=True,
                       input="flush ruleset\n" + rules, text=True)

    @classmethod
    def diag(cls):
        out = []
        for n in (cls.a, cls.b):
            try:
                out.append("%s peers %s\n%s roaming %s" % (n.name, n.ctl("peers")["peers"], n.name,
                                                           n.ctl("status").get("roaming")))
            except (OSError, ValueError, KeyError) as e:
                out.append("%s: %s" % (n.name, e))
            out.append("%s log tail:\n%s" % (n.name, n.log()[-2500:]))
        return "\n" + "\n".join(out)

    def envs(self, kind, node):
        res = []
        for f in sorted(os.listdir(self.hooks)):
            if f.startswith("%s-%s-" % (kind, node)):
                with open(os.path.join(self.hooks, f)) as fh:
                    res.append(dict(ln.rstrip("\n").split("=", 1) for ln in fh if "=" in ln))
        return res


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Roaming(Topology, unittest.TestCase):
    def test_1_a_moved_peer_is_followed_while_traffic_flows(self):
        a, b = self.a, self.b
        self.assertEqual(peer(a, "beta")["address"], "10.77.0.50", self.diag())
        self.assertNotIn("roamed_to", peer(a, "beta"))
        # a TCP transfer and a ping run across the move
        srv = subprocess.Popen(["ip", "netns", "exec", a.ns, "iperf3", "-s", "-1", "-B", "10.88.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            tb.wait_listening(a.ns, 5201)
            cli = subprocess.Popen(["ip", "netns", "exec", b.ns, "iperf3", "-c", "10.88.0.1", "-t", "8", "-b", "20M",
                                    "--connect-timeout", "3000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(2)
            changes_before = len(self.envs("node-change", "alpha"))
            self.set_source("10.77.0.51")  # beta's router got a new public address
            dc.wait_for(lambda: peer(a, "beta").get("address") == "10.77.0.51", 10, "alpha follows beta to .51",
                        self.diag)
            out, _ = cli.communicate(timeout=30)
            self.assertEqual(cli.returncode, 0, out + self.diag())
            srv.wait(timeout=10)
        finally:
            if srv.poll() is None:
                srv.kill()
        p = peer(a, "beta")
        self.assertEqual(p["roamed_to"], "10.77.0.51")
        self.assertEqual(p["state"], "up")
        roaming = a.ctl("status")["roaming"]
        self.assertEqual(roaming["moves"], 1, self.diag())
        dc.wait_for(lambda: len(self.envs("node-change", "alpha")) == changes_before + 1, 10,
                    "node-change on alpha", self.diag)
        time.sleep(1.5)  # a second one would come within the rate limit's second
        changes = self.envs("node-change", "alpha")
        self.assertEqual(len(changes), changes_before + 1, "node-change fired once")
        env = changes[-1]
        for k, v in {"DESTNODE": "beta", "DESTID": "2", "DESTIP": "10.77.0.51", "DESTSI": "udp/10.77.0.51:655",
                     "DESTPORT": "655", "NODENAME": "alpha"}.items():
            self.assertEqual(env.get(k), v, k)
        self.assertEqual(len(self.envs("node-up", "alpha")), 1, "no down/up: the session stayed")
        # the old address is not used any more: ping through .51 only
        r = a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.88.0.2"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag())
        # beta saw no move of alpha: alpha's address never changed
        self.assertEqual(b.ctl("status")["roaming"]["moves"], 0)

    def test_2_replayed_or_forged_packets_from_a_new_address_move_nothing(self):
        a, b = self.a, self.b
        before = a.ctl("status")
        addr = peer(a, "beta")["address"]
        # Capture a few of beta's packets as alpha receives them, then send them again from a third
        # address (the bridge's own, 10.77.0.254) with a raw socket; and a copy with a flipped tag.
        pcap = os.path.join(self.mesh.workdir, "beta.pcap")
        cap = subprocess.Popen(["ip", "netns", "exec", self.mesh.underlay, "tcpdump", "-i", "u-alpha", "-U", "-c", "5",
                                "-w", pcap, "udp and src host %s and dst port 655" % addr],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        b.sh(["ping", "-c", "8", "-i", "0.1", "10.88.0.1"], check=False)
        cap.wait(timeout=15)
        script = r"""
import socket, struct, sys
data = open(sys.argv[1], 'rb').read()
off, pkts = 24, []
while off + 16 <= len(data):
    incl = struct.unpack('<I', data[off + 8:off + 12])[0]
    pkts.append(data[off + 16:off + 16 + incl]); off += 16 + incl
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.77.0.254', 0))
n = 0
for p in pkts:
    ihl = (p[14] & 15) * 4
    payload = p[14 + ihl + 8:]
    s.sendto(payload, ('10.77.0.1', 655)); n += 1                     # replayed
    forged = bytearray(payload); forged[-1] ^= 1
    s.sendto(bytes(forged), ('10.77.0.1', 655)); n += 1               # forged tag
    fresh_ctr = bytearray(payload); fresh_ctr[10] ^= 0x01
    s.sendto(bytes(fresh_ctr), ('10.77.0.1', 655)); n += 1            # forged counter (+2^40: ahead of the window)
print(n)
"""
        r = subprocess.run(["ip", "netns", "exec", self.mesh.underlay, "python3", "-c", script, pcap],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        sent = int(r.stdout.strip())
        self.assertGreaterEqual(sent, 9)
        time.sleep(1.5)
        after = a.ctl("status")
        self.assertEqual(peer(a, "beta")["address"], addr, "the endpoint did not move" + self.diag())
        self.assertEqual(after["roaming"]["moves"], before["roaming"]["moves"])
        d = {k: after["drops"][k] - before["drops"].get(k, 0) for k in ("replayed", "auth_failed")}
        self.assertEqual(d["replayed"] + d["auth_failed"], sent, "every injected packet dropped: %s" % d)
        # the replayed copy and the forged tag carry a counter the window took: replayed before
        # any AEAD; the forged counter fails the tag
        self.assertEqual(d["auth_failed"], sent // 3, d)

    def test_3_reconnect_handshakes_and_keeps_the_move(self):
        a = self.a
        done = peer(a, "beta")["handshakes_completed"]
        r = tb.sh([tb.dvpectl_bin(), "-S", a.sock, "reconnect", "beta"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("beta", r.stdout)
        dc.wait_for(lambda: peer(a, "beta")["handshakes_completed"] > done, 15, "a new handshake", self.diag)
        p = peer(a, "beta")
        self.assertEqual(p["state"], "up")
        self.assertEqual(p["address"], "10.77.0.51")
        self.assertEqual(a.ctl("status")["roaming"]["moves"], 1, "no move back and forth")
        bad = tb.sh([tb.dvpectl_bin(), "-S", a.sock, "reconnect", "nosuchnode"], check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("nosuchnode", bad.stdout + bad.stderr)

    def test_4_a_nat_that_rebinds_only_the_port_is_followed(self):
        # beta sends everything from its udp-port (no hostname); its NAT now maps 655 to 31000,
        # then to 31001, the address staying .51: alpha follows the port (follow_port), moves
        # counted and node-change fired with the new port, and ping works through each mapping.
        a, b = self.a, self.b
        for port in (31000, 31001):
            moves = a.ctl("status")["roaming"]["moves"]
            changes = len(self.envs("node-change", "alpha"))
            self.set_source("10.77.0.51", port)
            b.sh(["ping", "-c", "3", "-i", "0.2", "10.88.0.1"], check=False)  # beta's packets show the new port
            dc.wait_for(lambda: peer(a, "beta").get("udp_port") == port, 10, "alpha follows beta to :%d" % port,
                        self.diag)
            self.assertEqual(peer(a, "beta")["address"], "10.77.0.51")
            self.assertEqual(a.ctl("status")["roaming"]["moves"], moves + 1, self.diag())
            dc.wait_for(lambda: len(self.envs("node-change", "alpha")) == changes + 1, 10, "node-change", self.diag)
            self.assertEqual(self.envs("node-change", "alpha")[-1].get("DESTPORT"), str(port))
            r = a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.88.0.2"], check=False)
            self.assertEqual(r.returncode, 0, r.stdout + self.diag())
            time.sleep(1.1)  # the one-move-a-second limit


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class ConfiguredAddress(Topology, unittest.TestCase):
    HOSTNAME = "10.77.0.50"

    def test_a_peer_with_a_configured_address_stays_there(self):
        a, b = self.a, self.b
        self.assertEqual(peer(a, "beta")["address"], "10.77.0.50")
        self.set_source("10.77.0.51")
        b.sh(["ping", "-c", "5", "-i", "0.2", "10.88.0.1"], check=False)
        dc.wait_for(lambda: a.ctl("status")["roaming"]["configured"] > 0, 10, "the report seen", self.diag)
        r = a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.88.0.2"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag())
        p = peer(a, "beta")
        self.assertEqual(p["address"], "10.77.0.50", "sent where the config says")
        self.assertNotIn("roamed_to", p)
        self.assertEqual(a.ctl("status")["roaming"]["moves"], 0)
        self.assertEqual(self.envs("node-change", "alpha"), [])


if __name__ == "__main__":
    tb.main()
