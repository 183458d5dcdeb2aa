# SPDX-License-Identifier: MIT
"""A gvpe.conf without a single dvpe line (issue 17 point 1, docs/config.md "Automatic engine
layout") runs on real dvped nodes in namespaces.

    ns <tag>-u      bridge br0 10.77.0.254/24 (the nodes' default router)
    <tag>-alpha     wan-alpha 10.77.0.1/24, default route via 10.77.0.254 -- the kernel's, as on
    <tag>-beta      wan-beta 10.77.0.2/24        any host; gvpe.conf names neither

Each dvped picks its layout from the host: the wan port net_af_packet on the default route's
interface with its address and gateway, the TAP named by ifname, lcores and hugepages from what
the host offers; `--check` prints it. The two nodes connect and carry a ping over the overlay.
The kernel keeps its interface: it, not the engine, answers ARP and echo for its address (a ping
from the WAN gets no duplicate replies), and it does not answer our UDP packets with "port
unreachable" (the daemon holds udp-port in the kernel).
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_mesh as tm  # noqa: E402

NODES = ["alpha", "beta"]

GVPE_CONF = """# a GVPE 3.1 file: not one dvpe directive
enable-%s = yes
udp-port = 655
ifname = gvpe0
mtu = 1500
keepalive = 20
private-key = hostkeys/%s

node = alpha
hostname = 10.77.0.1

node = beta
hostname = 10.77.0.2
"""


def snmp(node, proto, field):
    """A counter of /proc/net/snmp in node's namespace (e.g. Icmp OutDestUnreachs)."""
    lines = [l.split() for l in node.sh(["cat", "/proc/net/snmp"]).stdout.splitlines() if l.startswith(proto + ":")]
    return int(lines[1][lines[0].index(field)])


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class AutoLayout(unittest.TestCase):
    TRANSPORT = "udp"

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="dvpe-conf-")
        with open(os.path.join(d, "gvpe.conf"), "w") as f:
            f.write(GVPE_CONF.replace("enable-%s", "enable-" + cls.TRANSPORT))
        try:
            cls.mesh = tb.Mesh({n: "10.77.0.%d" % i for i, n in enumerate(NODES, start=1)}, d)
        finally:
            subprocess.run(["rm", "-rf", d])
        m = cls.mesh
        try:
            for i, name in enumerate(NODES, start=1):
                n = m.nodes[name]
                # the host's own configuration, as any machine has it: dvpe reads it from the kernel
                n.sh(["ip", "addr", "add", "10.77.0.%d/24" % i, "dev", "wan-" + name])
                n.sh(["ip", "route", "add", "default", "via", "10.77.0.254"])
            for n in m.nodes.values():
                n.start()
            for i, name in enumerate(NODES, start=1):  # the TAP is named by ifname
                m.nodes[name].sh(["ip", "link", "set", "gvpe0", "up"])
                m.nodes[name].sh(["ip", "addr", "add", tm.to.overlay_ip(i) + "/24", "dev", "gvpe0"])
                for j in range(1, len(NODES) + 1):
                    if j != i:
                        m.nodes[name].sh(["ip", "neigh", "replace", tm.to.overlay_ip(j), "lladdr",
                                          tm.to.overlay_mac(j), "dev", "gvpe0", "nud", "permanent"])
        except Exception:
            m.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.mesh.cleanup()  # stops the daemons; raises if one failed its exit checks

    def diag(self):
        return "\n".join("%s log tail:\n%s" % (n, self.mesh.nodes[n].log()[-2500:]) for n in NODES)

    def test_1_check_prints_the_layout_it_chose(self):
        a = self.mesh.nodes["alpha"]
        r = tb.sh([tb.dvped_bin(), "-c", self.mesh.confdir, "--check", "alpha"], ns=a.ns, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        self.assertIn("engine layout (automatic): port = wan0 wan net_af_packet0,iface=wan-alpha (it has the "
                      "hostname's address 10.77.0.1", out)
        self.assertIn("engine layout (automatic): wan-address = wan0 10.77.0.1/24 (from wan-alpha)", out)
        self.assertIn("engine layout (automatic): wan-gateway = wan0 10.77.0.254 (the IPv4 default route's)", out)
        self.assertIn("engine layout (automatic): port = tap0 overlay dvpe_tap0", out)
        self.assertIn("gvpe0", a.sh(["ip", "-o", "link", "show", "gvpe0"]).stdout)  # named by ifname
        self.assertIn("engine layout (automatic): port = wan0", a.log())  # and the running daemon logged it
        # dvpectl reads the same file without a layout (it needs the node table and paths only)
        r = tb.sh([tb.dvpectl_bin(), "-c", self.mesh.confdir, "alpha", "config", "--offline"], check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("beta", r.stdout)
        ports = {p["name"]: p for p in a.ctl("status")["ports"]}
        self.assertEqual(set(ports), {"wan0", "tap0"})

    def test_2_the_nodes_connect_and_the_kernel_stays_the_hosts(self):
        a, b, u = self.mesh.nodes["alpha"], self.mesh.nodes["beta"], self.mesh.underlay
        dc.wait_for(lambda: dc.peers_by_name(a.ctl("peers"))["beta"]["state"] == "up", 30, "alpha <-> beta up",
                    self.diag)
        unreach0 = snmp(a, "Icmp", "OutDestUnreachs") + snmp(b, "Icmp", "OutDestUnreachs")
        r = a.sh(["ping", "-n", "-q", "-c", "10", "-i", "0.1", "-w", "10", tm.to.overlay_ip(2)], check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout + self.diag())
        # the kernels saw every dvpe packet too and answered none of them
        self.assertEqual(snmp(a, "Icmp", "OutDestUnreachs") + snmp(b, "Icmp", "OutDestUnreachs"), unreach0)
        # a ping from the WAN to alpha's address (ARP first): the kernel's answers only, no duplicates
        work = lambda k: sum(w[k] for w in a.ctl("status")["workers"])  # noqa: E731
        echo0, arp0 = work("icmp_echo_replies"), work("arp_replies")
        tb.sh(["ip", "neigh", "flush", "dev", "br0"], ns=u, check=False)
        r = tb.sh(["ping", "-n", "-c", "3", "-i", "0.2", "-w", "10", "10.77.0.1"], ns=u, check=False)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("DUP!", r.stdout)
        self.assertEqual(len(re.findall(r"bytes from 10\.77\.0\.1", r.stdout)), 3, r.stdout)
        self.assertEqual((work("icmp_echo_replies"), work("arp_replies")), (echo0, arp0))
        self.assertGreater(sum(w["drops"]["kernel_owned"] for w in a.ctl("status")["workers"]), 0)
        # the engine still resolved its gateway itself (from the reply to its own request)
        dc.wait_for(lambda: "reachable" in tb.sh([tb.dvpectl_bin(), "-S", a.sock, "neighbours"]).stdout, 10,
                    "the gateway in dvpectl neighbours", self.diag)
        out = tb.sh([tb.dvpectl_bin(), "-S", a.sock, "neighbours"]).stdout
        self.assertRegex(out, r"wan0\s+10\.77\.0\.254\s+[0-9a-f:]{17}\s+reachable")


class AutoLayoutRawip(AutoLayout):
    """The same over rawip (ip-proto 47): the kernel, which has no GRE here, would answer every
    dvpe packet with "protocol unreachable" without the daemon's drop-all raw sockets."""
    TRANSPORT = "rawip"


if __name__ == "__main__":
    tb.main()
