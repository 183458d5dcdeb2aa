# SPDX-License-Identifier: MIT
"""A GVPE-style mesh with NAT (issue 15): mediated connections, relaying as the fallback, router
failover, on real dvped nodes in network namespaces.

    ns <tag>-u   bridge br0 10.77.0.254/24 (the "internet")
    r1  10.77.0.1  hostname, router-priority 2
    r2  10.77.0.2  hostname, router-priority 3: the preferred router
    c   10.77.0.3  hostname: a node with a fixed address
    d   10.77.0.4  no hostname (an address that is not in the config)
    e   10.77.5.2  no hostname, behind <tag>-nate: masquerade to 10.77.0.50 (conntrack: only
                   replies to what e sent get in)
    f   10.77.6.2  no hostname, behind <tag>-natf: masquerade to 10.77.0.60

Nobody knows where d, e and f are until they connect; they connect to r1, r2 and c (addresses in
the config). Each pair of address-less nodes is first relayed through r2, which introduces them
(connect_info: the other's address and port as r2 sees it, after NAT); both handshake directly
at once and the NATs let the second try through (hole punching). Checked: every pair pings and
runs iperf3; the three mediated pairs end up direct at each other's NAT address, and r1's and
r2's relay counters stay flat while e and f ping each other; blocking e <-> f on the bridge
makes them fall back to r2 (relayed) after the keepalive timeout; killing r2 moves that relayed
traffic to r1; e moves behind another home router (10.77.0.51) during a TCP transfer from c, and
c and d follow it there (node-change once each) while the transfer goes on; f, behind a NAT
itself, is found again after its direct session times out and r1 mediates afresh. That replayed or
forged packets from a new address move nothing is test_roaming.py's.

NatMesh6: the same over IPv6 -- a router r (fd77::1) and e and f without hostnames, each behind
its own NAT66 masquerading home router (fd77::50, fd77::60): r's IPv6 introduction makes e and f
direct at each other's NAT address, and r relays nothing of their ping.
"""
import itertools
import os
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
import test_mesh as tm  # noqa: E402
import test_overlay as to  # noqa: E402
from test_mesh import peers, relayed  # noqa: E402

NODES = ["r1", "r2", "c", "d", "e", "f"]
KEEPALIVE = tm.KEEPALIVE
PRIO = {"r1": 2, "r2": 3}
HOSTNAMES = ("r1", "r2", "c")
NAT = {"e": ("10.77.5", "10.77.0.50"), "f": ("10.77.6", "10.77.0.60")}  # inside /24, public address


# A home router: masquerade out, and nothing new in from the WAN to the router itself (OpenWrt's
# default). The input drop matters for hole punching: without it, a peer's packet that arrives
# before the node behind the NAT sent its own is kept by conntrack (to the router, unreplied),
# and the node's own packet to that peer then gets another source port (a clash), where the
# peer's NAT does not expect it; a pair behind two such NATs then stays relayed.
NAT_RULES = """
table ip nat {
  chain post { type nat hook postrouting priority 100;
    oifname "r-up" masquerade
  }
}
table ip fw {
  chain input { type filter hook input priority 0;
    iifname "r-up" ct state new drop
  }
}
"""


def write_conf(hooks):
    d = tempfile.mkdtemp(prefix="dvpe-conf-")
    lines = tm.global_lines() + ["node-change = node-change.sh"]
    for i, name in enumerate(NODES, start=1):
        lines += ["", "node = %s" % name,
                  "port = wan0 wan %s" % to.af_packet_wan(i, name),
                  "port = tap0 overlay dvpe_tap0"]
        if name in NAT:
            inside, _ = NAT[name]
            lines += ["wan-address = wan0 %s.2/24" % inside, "wan-gateway = wan0 %s.1" % inside]
        else:
            lines += ["wan-address = wan0 10.77.0.%d/24" % i]
        if name in HOSTNAMES:
            lines += ["hostname = 10.77.0.%d" % i]
        if name in PRIO:
            lines += ["router-priority = %d" % PRIO[name]]
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    script = os.path.join(d, "node-change.sh")
    with open(script, "w") as f:
        # written whole, then renamed: the test never reads a half-written file
        f.write("#!/bin/sh\nf=$(date +%%s%%N)-$$\nenv > %s/.$f.tmp && mv %s/.$f.tmp %s/change-$NODENAME-$DESTNODE-$f.env\n"
                % (hooks, hooks, hooks))
    os.chmod(script, 0o755)
    return d


def oip(name):
    return to.overlay_ip(NODES.index(name) + 1)


class NatHelpers:
    """What the NAT mesh classes share: self.n (the nodes), diagnostics, where a peer is."""

    @classmethod
    def tearDownClass(cls):
        cls.mesh.cleanup()

    def diag(self):
        def f():
            out = []
            for name, n in self.n.items():
                try:
                    st = n.ctl("status")
                    out.append("%s mediation %s drops %s" % (name, st.get("mediation"),
                                                            {k: v for k, v in st["drops"].items() if v}))
                    out.append("%s peers %s" % (name, [(p["name"], p["state"], p.get("address"), p.get("via"))
                                                      for p in n.ctl("peers")["peers"]]))
                except (OSError, ValueError, KeyError) as e:
                    out.append("%s: %s" % (name, e))
                out.append("%s log tail\n%s" % (name, n.log()[-1500:]))
            return "\n" + "\n".join(out)
        return f

    def where(self, node, other):
        p = peers(self.n[node])[other]
        return p["state"], p.get("address"), p.get("via")

    def wait_all_up(self, names):
        dc.wait_for(lambda: all(peers(self.n[a])[b]["state"] == "up" for a in names for b in names if a != b), 60,
                    "every session up", self.diag())


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class NatMesh(NatHelpers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hooks = tempfile.mkdtemp(prefix="dvpe-natmesh-hooks-")
        conf = write_conf(cls.hooks)
        try:
            cls.mesh = tb.Mesh(to.node_ips(NODES, False), conf)
        finally:
            subprocess.run(["rm", "-rf", conf])
        m = cls.mesh
        try:
            for name, (inside, public) in NAT.items():
                cls.nat_namespace(name, inside, public)
            # a second home router for e to move behind (test_3): public 10.77.0.51, nothing inside yet
            cls.nat2 = cls.nat_router("nate2", "r-up2", "u-nate2", "10.77.0.51")
            cls.n = m.nodes
            for n in cls.n.values():
                n.start()
            tm.overlay_addresses(cls.n, NODES)
        except Exception:
            m.cleanup()
            raise

    @classmethod
    def nat_router(cls, suffix, up_in, up_out, public):
        """<tag>-<suffix>: a home router on the bridge at `public` (its uplink `up_in`, the
        bridge side `up_out`), masquerading what leaves by that uplink."""
        m = cls.mesh
        ns = m.add_namespace(suffix)
        tb.sh(["ip", "link", "add", up_in, "netns", ns, "type", "veth", "peer", "name", up_out, "netns", m.underlay])
        m.underlay_sh(["ip", "link", "set", up_out, "master", "br0", "up"])
        for cmd in (["ip", "addr", "add", public + "/24", "dev", up_in],
                    ["ip", "link", "set", up_in, "up"],
                    ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                    ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
                    ["sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0"]):
            tb.sh(cmd, ns=ns)
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], check=True, text=True,
                       input=NAT_RULES.replace('"r-up"', '"%s"' % up_in))
        return ns

    @classmethod
    def nat_namespace(cls, name, inside, public):
        """<tag>-nat<name>: the node's uplink leaves the bridge for a home router at `public`."""
        m = cls.mesh
        ns = cls.nat_router("nat" + name, "r-up", "u-nat" + name, public)
        m.underlay_sh(["ip", "link", "set", "u-" + name, "nomaster"])
        m.underlay_sh(["ip", "link", "set", "u-" + name, "netns", ns])
        tb.sh(["ip", "addr", "add", inside + ".1/24", "dev", "u-" + name], ns=ns)
        tb.sh(["ip", "link", "set", "u-" + name, "up"], ns=ns)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mesh.cleanup()
        finally:
            subprocess.run(["rm", "-rf", cls.hooks])

    def changes(self, node, about):
        return [f for f in os.listdir(self.hooks) if f.startswith("change-%s-%s-" % (node, about))]

    def wait_where(self, node, other, address, via, timeout, what):
        rid = NODES.index(via) + 1 if via else 0
        dc.wait_for(lambda: self.where(node, other) == ("up", address, rid), timeout,
                    "%s: %s -> %s" % (what, node, other), self.diag())

    def public(self, name):
        return NAT[name][1] if name in NAT else "10.77.0.%d" % (NODES.index(name) + 1)

    def test_1_every_pair_connects_and_the_mediated_pairs_go_direct(self):
        # every node has every other up (d, e and f connect out; the rest is relayed/mediated)
        self.wait_all_up(NODES)
        # the address-less pairs: direct at each other's (NAT) address after r2's introduction
        for a, b in (("d", "e"), ("d", "f"), ("e", "f")):
            self.wait_where(a, b, self.public(b), None, 60, "mediated")
            self.wait_where(b, a, self.public(a), None, 60, "mediated")
        for x in ("d", "e", "f"):
            med = self.n[x].ctl("status")["mediation"]
            self.assertGreaterEqual(med["established"], 1, self.diag()())
            self.assertEqual(med["unparsed"], 0)
            self.assertEqual(med["infos_refused"], 0)
        self.assertGreaterEqual(self.n["r2"].ctl("status")["mediation"]["introductions"], 3, self.diag()())
        # every pair pings (3 each way), and runs iperf3
        for a, b in itertools.combinations(NODES, 2):
            r = tb.sh(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-w", "10", oip(b)], ns=self.n[a].ns, check=False)
            self.assertEqual(r.returncode, 0, "%s -> %s: %s%s" % (a, b, r.stdout, self.diag()()))
        for a, b in itertools.combinations(NODES, 2):
            res = to.iperf(self, self.n[a], self.n[b], oip(b), ["-t", "1"])
            self.assertGreater(res["end"]["sum_received"]["bytes"], 0, "%s -> %s" % (a, b))
        # e <-> f goes direct: neither router relays a packet of it
        before = {r: relayed(self.n[r]) for r in ("r1", "r2")}
        e, f = self.n["e"], self.n["f"]
        tx0, rx0 = peers(e)["f"]["tx_packets"], peers(f)["e"]["rx_packets"]
        r = tb.sh(["ping", "-n", "-q", "-c", "20", "-i", "0.1", "-w", "10", oip("f")], ns=e.ns, check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout + self.diag()())
        self.assertEqual({x: relayed(self.n[x]) for x in ("r1", "r2")}, before, self.diag()())
        self.assertEqual(peers(e)["f"]["tx_packets"] - tx0, 20, self.diag()())   # 20 requests
        self.assertEqual(peers(f)["e"]["rx_packets"] - rx0, 20, self.diag()())

    def test_2_blocked_direct_path_falls_back_to_the_relay_and_a_dead_router_to_the_next(self):
        u = self.mesh.underlay_sh
        u(["nft", "add table bridge natmesh"])
        u(["nft", "add chain bridge natmesh block { type filter hook forward priority 0 ; }"])
        u(["nft", "add rule bridge natmesh block iifname u-nate oifname u-natf drop"])
        u(["nft", "add rule bridge natmesh block iifname u-natf oifname u-nate drop"])
        attempts = {x: self.n[x].ctl("status")["mediation"]["attempts"] for x in ("e", "f")}
        t0 = time.time()
        # the direct session times out (keepalive + 15 s); then relayed through r2, and r2's
        # introductions lead to direct attempts that do not get through
        self.wait_where("e", "f", "10.77.0.2", "r2", KEEPALIVE + 15 + 30, "relayed after the block")
        self.wait_where("f", "e", "10.77.0.2", "r2", 30, "relayed after the block")
        print("e <-> f relayed through r2 %.1f s after the block" % (time.time() - t0))
        # r2 introduces them again; the direct handshakes get nowhere and they stay relayed
        dc.wait_for(lambda: all(self.n[x].ctl("status")["mediation"]["attempts"] > attempts[x] for x in ("e", "f")),
                    20, "e and f try directly again", self.diag())
        self.assertEqual(self.where("e", "f"), ("up", "10.77.0.2", 2), self.diag()())
        r2_before = relayed(self.n["r2"])
        r = tb.sh(["ping", "-n", "-q", "-c", "10", "-i", "0.2", "-w", "20", oip("f")], ns=self.n["e"].ns, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag()())
        self.assertGreaterEqual(relayed(self.n["r2"]) - r2_before, 20, self.diag()())
        res = to.iperf(self, self.n["e"], self.n["f"], oip("f"), ["-t", "1"])
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
        # r2 dies without a goodbye: the relayed pair moves to r1
        r2 = self.n["r2"]
        r2.proc.kill()
        r2.proc.wait(10)
        r2.terminated = True
        r2.finish()
        r2.problems = [p for p in r2.problems if "killed by signal" not in p]
        t0 = time.time()
        self.wait_where("e", "f", "10.77.0.1", "r1", 3 * KEEPALIVE + 20, "relayed through r1 after r2 died")
        self.wait_where("f", "e", "10.77.0.1", "r1", 30, "relayed through r1 after r2 died")
        print("e <-> f relayed through r1 %.1f s after r2 died (keepalive %d s)" % (time.time() - t0, KEEPALIVE))
        r1_before = relayed(self.n["r1"])
        r = tb.sh(["ping", "-n", "-q", "-c", "5", "-i", "0.2", "-w", "20", oip("f")], ns=self.n["e"].ns, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + self.diag()())
        self.assertGreaterEqual(relayed(self.n["r1"]) - r1_before, 10, self.diag()())
        u(["nft", "delete table bridge natmesh"])


    def test_3_a_node_that_moves_behind_another_nat_is_followed_mid_transfer(self):
        # e's uplink moves from its home router (10.77.0.50) to another one (10.77.0.51): a new
        # public address, new NAT mappings. c (a hostname) and d (mediated, direct) follow e's
        # authenticated packets there while a TCP transfer from c to e runs; node-change fires
        # once on each.
        c, d, e = self.n["c"], self.n["d"], self.n["e"]
        for x in ("c", "d"):
            dc.wait_for(lambda: self.where(x, "e") == ("up", "10.77.0.50", 0), 60, "%s -> e direct" % x, self.diag())
        before = {x: len(self.changes(x, "e")) for x in ("c", "d")}
        moves = {x: self.n[x].ctl("status")["roaming"]["moves"] for x in ("c", "d")}
        srv = subprocess.Popen(["ip", "netns", "exec", e.ns, "iperf3", "-s", "-1", "-p", "5301"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tb.wait_listening(e.ns, 5301)
            cli = subprocess.Popen(["ip", "netns", "exec", c.ns, "iperf3", "-c", oip("e"), "-p", "5301", "-t", "10",
                                    "-b", "20M", "--connect-timeout", "3000"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(2)
            tb.sh(["ip", "link", "set", "u-e", "netns", self.nat2], ns=self.mesh.tag + "-nate")
            tb.sh(["ip", "addr", "add", "10.77.5.1/24", "dev", "u-e"], ns=self.nat2)
            tb.sh(["ip", "link", "set", "u-e", "up"], ns=self.nat2)
            t0 = time.time()
            for x in ("c", "d"):
                dc.wait_for(lambda: self.where(x, "e") == ("up", "10.77.0.51", 0), 30,
                            "%s follows e to 10.77.0.51" % x, self.diag())
            print("c and d follow e %.1f s after the move" % (time.time() - t0))
            out, _ = cli.communicate(timeout=40)
            self.assertEqual(cli.returncode, 0, out + self.diag()())
            srv.wait(timeout=10)
        finally:
            if srv.poll() is None:
                srv.kill()
        for x in ("c", "d"):
            dc.wait_for(lambda: len(self.changes(x, "e")) == before[x] + 1, 10, "node-change on %s" % x, self.diag())
        time.sleep(1.5)  # a second one would come within the rate limit's second
        for x in ("c", "d"):
            self.assertEqual(len(self.changes(x, "e")), before[x] + 1, "node-change on %s fired once" % x)
            self.assertEqual(peers(self.n[x])["e"].get("roamed_to"), "10.77.0.51")
            self.assertEqual(self.n[x].ctl("status")["roaming"]["moves"], moves[x] + 1, self.diag()())
        # f (behind its own NAT) cannot follow: e's packets from the new address are no answer
        # to anything f sent, its NAT drops them. f's direct session times out (keepalive + 15 s),
        # e is relayed again and r1 (r2 is dead since test_2) introduces them afresh.
        t0 = time.time()
        dc.wait_for(lambda: self.where("f", "e") == ("up", "10.77.0.51", 0), KEEPALIVE + 15 + 45,
                    "f -> e direct at the new address", self.diag())
        print("f reaches e directly at its new address %.1f s after c and d followed" % (time.time() - t0))
        for x in ("r1", "c", "d", "f"):
            r = tb.sh(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-w", "20", oip("e")], ns=self.n[x].ns,
                      check=False)
            self.assertEqual(r.returncode, 0, "%s -> e: %s%s" % (x, r.stdout, self.diag()()))


# ICMP through NAT (docs/protocol.md "ICMP roles"): icmp only, icmp-type 0 (GVPE's default).
NODES_ICMP = ["r", "d", "e", "f"]
NAT_ICMP = {"e": ("10.77.5", "10.77.0.50"), "f": ("10.77.6", "10.77.0.60")}


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class NatMeshIcmp(NatHelpers, unittest.TestCase):
    """The icmp transport through masquerading NATs: r (10.77.0.1, hostname, router), d without
    a hostname on a public address (10.77.0.2), e and f without hostnames each behind its own
    home router. e and f send echo requests (no hostname), which their NATs map; r answers them
    with echo replies carrying each one's identifier, which the NATs let back in. d and e (and
    d and f) are introduced by r: e's requests reach d, d answers with replies, and the pair
    goes direct through e's NAT (ICMP hole punching). e and f are both behind NATs that let in
    only replies to their own requests: no direct path is possible, and they stay relayed
    through r -- and ping each other there."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="dvpe-conf-")
        lines = [x for x in tm.global_lines() if not x.startswith("enable-")] + ["enable-icmp = yes"]
        for i, name in enumerate(NODES_ICMP, start=1):
            lines += ["", "node = %s" % name, "port = wan0 wan %s" % to.af_packet_wan(i, name),
                      "port = tap0 overlay dvpe_tap0"]
            if name in NAT_ICMP:
                inside, _ = NAT_ICMP[name]
                lines += ["wan-address = wan0 %s.2/24" % inside, "wan-gateway = wan0 %s.1" % inside]
            else:
                lines += ["wan-address = wan0 10.77.0.%d/24" % i]
            if name == "r":
                lines += ["hostname = 10.77.0.1", "router-priority = 2"]
        with open(os.path.join(d, "gvpe.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        try:
            cls.mesh = tb.Mesh(to.node_ips(NODES_ICMP, False), d)
        finally:
            subprocess.run(["rm", "-rf", d])
        try:
            for name, (inside, public) in NAT_ICMP.items():
                NatMesh.nat_namespace.__func__(cls, name, inside, public)
            cls.n = cls.mesh.nodes
            for n in cls.n.values():
                n.start()
            tm.overlay_addresses(cls.n, NODES_ICMP)
        except Exception:
            cls.mesh.cleanup()
            raise

    @classmethod
    def nat_router(cls, suffix, up_in, up_out, public):
        return NatMesh.nat_router.__func__(cls, suffix, up_in, up_out, public)

    def test_icmp_through_nat_direct_mediated_and_relayed(self):
        self.wait_all_up(NODES_ICMP)
        # e and f reach r directly through their NATs (requests out, r's replies in)
        for x in ("e", "f"):
            dc.wait_for(lambda: self.where("r", x) == ("up", NAT_ICMP[x][1], 0), 30, "r -> %s direct" % x, self.diag())
            self.assertEqual(self.where(x, "r"), ("up", "10.77.0.1", 0), self.diag()())
        # d and e, d and f: mediated, direct (d answers their requests with replies)
        for x in ("e", "f"):
            dc.wait_for(lambda: self.where("d", x) == ("up", NAT_ICMP[x][1], 0), 60, "d -> %s direct" % x, self.diag())
            dc.wait_for(lambda: self.where(x, "d") == ("up", "10.77.0.2", 0), 30, "%s -> d direct" % x, self.diag())
        self.assertGreaterEqual(self.n["d"].ctl("status")["mediation"]["established"], 2, self.diag()())
        # the roles (docs/protocol.md "ICMP roles"): the NATed ends request with their node id,
        # r and d reply at the identifier their NATs left (Linux keeps it without a clash)
        for x in ("e", "f"):
            xid = NODES_ICMP.index(x) + 1
            for y in ("r", "d"):
                self.assertEqual((peers(self.n[x])[y]["icmp_type"], peers(self.n[x])[y]["icmp_id"]), (8, xid))
                self.assertEqual((peers(self.n[y])[x]["icmp_type"], peers(self.n[y])[x]["icmp_id"]), (0, xid))
        # ... as an operator reads them: dvpectl peers, in wg show's shape
        out = tb.sh([tb.dvpectl_bin(), "-S", self.n["r"].sock, "peers", "e"]).stdout
        self.assertIn("peer: e (id 3)\n  state: up (connect always)\n  endpoint: icmp4 10.77.0.50 (echo replies 0, id 3)\n",
                      out)
        out = tb.sh([tb.dvpectl_bin(), "-S", self.n["e"].sock, "peers", "f"]).stdout
        self.assertIn("  endpoint: icmp4 10.77.0.1 (echo requests 8, id 3) via router r (id 1)\n", out)
        # e and f: both behind NATs, relayed through r
        self.assertEqual(self.where("e", "f"), ("up", "10.77.0.1", 1), self.diag()())
        self.assertEqual(self.where("f", "e"), ("up", "10.77.0.1", 1), self.diag()())
        for a, b in itertools.combinations(NODES_ICMP, 2):
            r = tb.sh(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-w", "10", to.overlay_ip(NODES_ICMP.index(b) + 1)],
                      ns=self.n[a].ns, check=False)
            self.assertEqual(r.returncode, 0, "%s -> %s: %s%s" % (a, b, r.stdout, self.diag()()))
        # d <-> e direct: r relays none of it
        before = relayed(self.n["r"])
        r = tb.sh(["ping", "-n", "-q", "-c", "10", "-i", "0.1", "-w", "10", to.overlay_ip(3)], ns=self.n["d"].ns,
                  check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout + self.diag()())
        self.assertEqual(relayed(self.n["r"]), before, self.diag()())
        res = to.iperf(self, self.n["e"], self.n["d"], to.overlay_ip(2), ["-t", "1"])
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)


# IPv6 (issue 15: "IPv4 and IPv6 addresses"): the same home routers with NAT66 masquerade.
NAT6_RULES = """
table ip6 nat {
  chain post { type nat hook postrouting priority 100;
    oifname "r-up" masquerade
  }
}
table ip6 fw {
  chain input { type filter hook input priority 0;
    iifname "r-up" ct state new drop
  }
}
"""
NODES6 = ["r", "e", "f"]
NAT6 = {"e": ("fd77:5::", "fd77::50"), "f": ("fd77:6::", "fd77::60")}  # inside /64, public address


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class NatMesh6(NatHelpers, unittest.TestCase):
    """r (fd77::1, hostname, router) and e and f without hostnames, each behind its own NAT66
    home router: e and f connect to r, r introduces them with IPv6 connect_infos (their NAT
    addresses and ports as r sees them), they punch through both NATs and talk directly; r
    relays none of their packets."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="dvpe-conf-")
        lines = tm.global_lines()
        for i, name in enumerate(NODES6, start=1):
            lines += ["", "node = %s" % name, "port = wan0 wan %s" % to.af_packet_wan(i, name),
                      "port = tap0 overlay dvpe_tap0"]
            if name in NAT6:
                inside, _ = NAT6[name]
                lines += ["wan-address = wan0 %s2/64" % inside, "wan-gateway = wan0 %s1" % inside]
            else:
                lines += ["wan-address = wan0 fd77::%d/64" % i, "hostname = fd77::%d" % i, "router-priority = 2"]
        with open(os.path.join(d, "gvpe.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        try:
            cls.mesh = tb.Mesh({n: "fd77::%d" % i for i, n in enumerate(NODES6, start=1)}, d, prefix=24)
        finally:
            subprocess.run(["rm", "-rf", d])
        m = cls.mesh
        try:
            # the bridge namespace forwards frames only; the home routers speak IPv6
            for name, (inside, public) in NAT6.items():
                ns = m.add_namespace("nat" + name, ipv6=True)
                tb.sh(["ip", "link", "add", "r-up", "netns", ns, "type", "veth", "peer", "name", "u-nat" + name,
                       "netns", m.underlay])
                m.underlay_sh(["ip", "link", "set", "u-nat" + name, "master", "br0", "up"])
                m.underlay_sh(["ip", "link", "set", "u-" + name, "nomaster"])
                m.underlay_sh(["ip", "link", "set", "u-" + name, "netns", ns])
                for cmd in (["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
                            ["ip", "addr", "add", public + "/64", "dev", "r-up", "nodad"],
                            ["ip", "link", "set", "r-up", "up"],
                            ["ip", "addr", "add", inside + "1/64", "dev", "u-" + name, "nodad"],
                            ["ip", "link", "set", "u-" + name, "up"]):
                    tb.sh(cmd, ns=ns)
                subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], check=True, text=True, input=NAT6_RULES)
            cls.n = m.nodes
            for n in cls.n.values():
                n.start()
            tm.overlay_addresses(cls.n, NODES6)
        except Exception:
            m.cleanup()
            raise

    def test_ipv6_mediated_pair_goes_direct_through_two_nat66(self):
        self.wait_all_up(NODES6)
        for a, b in (("e", "f"), ("f", "e")):
            dc.wait_for(lambda: self.where(a, b) == ("up", NAT6[b][1], 0), 60, "%s -> %s direct" % (a, b),
                        self.diag())
        for x in ("e", "f"):
            med = self.n[x].ctl("status")["mediation"]
            self.assertGreaterEqual(med["established"], 1, self.diag()())
            self.assertEqual(med["infos_refused"], 0)
        self.assertGreaterEqual(self.n["r"].ctl("status")["mediation"]["introductions"], 1)
        e, f = self.n["e"], self.n["f"]
        oip6 = to.overlay_ip(NODES6.index("f") + 1)
        # A first exchange, as the IPv4 tests have (every pair pings before the counted ping):
        # the counted one then measures the settled direct path, not the moment it appeared.
        r = tb.sh(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-w", "10", oip6], ns=e.ns, check=False)
        self.assertEqual(r.returncode, 0, "e -> f: %s%s" % (r.stdout, self.diag()()))
        self.assertEqual(self.where("e", "f"), ("up", NAT6["f"][1], 0), self.diag()())
        before = relayed(self.n["r"])
        tx0, rx0 = peers(e)["f"]["tx_packets"], peers(f)["e"]["rx_packets"]
        r = tb.sh(["ping", "-n", "-q", "-c", "20", "-i", "0.1", "-w", "10", oip6], ns=e.ns, check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout + self.diag()())
        self.assertEqual(relayed(self.n["r"]), before, self.diag()())
        self.assertEqual(peers(e)["f"]["tx_packets"] - tx0, 20, self.diag()())
        self.assertEqual(peers(f)["e"]["rx_packets"] - rx0, 20, self.diag()())
        res = to.iperf(self, e, f, oip6, ["-t", "1"])
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)


if __name__ == "__main__":
    tb.main()
