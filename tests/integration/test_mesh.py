# SPDX-License-Identifier: MIT
"""Routing through routers to address-less peers, failover, and a relay that queues (issue 15
points 1 and 3) on real dvped nodes in network namespaces; a and b cannot reach each other directly
(the bridge drops it), so the routers' mediation fails and they stay relayed.

    ns <tag>-u  bridge br0 10.77.0.254/24
    <tag>-r1  10.77.0.1  router-priority 2 (hence `always`)
    <tag>-r2  10.77.0.2  router-priority 3 (hence `always`): the preferred router
    <tag>-a   10.77.0.3  no hostname: nobody knows where it is until it connects
    <tag>-b   10.77.0.4  no hostname

a and b connect to both routers (they have addresses and are `always`); neither knows the
other's address, so a reaches b through the router GVPE's two-pass rule picks among those it has a
session with (pass 1: both routers reach b, r2 ranks higher). Checked: a pings b and runs a
short iperf3 through r2 (r2's `relayed` grows, r1's does not; a and b see each other up with
`via` r2); r2 is killed (SIGKILL: no goodbye), and within keepalive the traffic moves to r1; r2
comes back while neither b nor r1 can reach it (nft on the bridge), so r2 relays a's
packets for b without a session with b: it queues them (status queues.relay) and connects; when b's block goes
the session comes up and the queued packets are delivered (queued == sent, none dropped).
"""
import os
import re
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

NODES = ["r1", "r2", "a", "b"]
KEEPALIVE = 4


def global_lines():
    """The global part of a mesh test's gvpe.conf (test_nat_mesh.py uses it too)."""
    return [
        "enable-udp = yes",
        "mtu = 1500", "ifname = dvpe0", "private-key = hostkeys/%s",
        "control-lcore = 0", "worker-lcores = 1", "hugepages = no", "memory-mb = 256",
        "rx-descriptors = 512", "tx-descriptors = 512", "idle-sleep-us = 200",
        "keepalive = %d" % KEEPALIVE, "max-retry = 2",
    ]


def overlay_addresses(nodes, names, only=None):
    """Overlay address i on node i, and every other node's MAC pinned: no ARP over the overlay,
    so packet counts are the pings'. `only`: that node alone (after a restart: a new TAP)."""
    for i, name in enumerate(names, start=1):
        if only is not None and name != only:
            continue
        nodes[name].sh(["ip", "addr", "add", to.overlay_ip(i) + "/24", "dev", "dvpe0"])
        for j in range(1, len(names) + 1):
            if j != i:
                nodes[name].sh(["ip", "neigh", "replace", to.overlay_ip(j), "lladdr", to.overlay_mac(j),
                                "dev", "dvpe0", "nud", "permanent"])


def write_conf():
    d = tempfile.mkdtemp(prefix="dvpe-conf-")
    lines = global_lines()
    prio = {"r1": 2, "r2": 3}
    for i, name in enumerate(NODES, start=1):
        ip = "10.77.0.%d" % i
        lines += ["", "node = %s" % name,
                  "port = wan0 wan %s" % to.af_packet_wan(i, name),
                  "port = tap0 overlay dvpe_tap0",
                  "wan-address = wan0 %s/24" % ip]
        if name in prio:
            lines += ["hostname = %s" % ip, "router-priority = %d" % prio[name]]
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return d


def peers(node):
    return dc.peers_by_name(node.ctl("peers"))


def relayed(node):
    return sum(w["relayed"] for w in node.ctl("status")["workers"])


def relay_queue(node):
    return node.ctl("status")["queues"]["relay"]


def ping(node, dst, count, check=True, deadline=None):
    args = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2"]
    if deadline:
        args += ["-w", str(deadline)]
    return tb.sh(args + [dst], ns=node.ns, check=check, timeout=60)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Mesh(unittest.TestCase):
    def setUp(self):
        conf = write_conf()
        try:
            self.mesh = tb.Mesh(to.node_ips(NODES, False), conf)
        finally:
            subprocess.run(["rm", "-rf", conf])
        self.n = self.mesh.nodes
        # a and b cannot reach each other directly (the bridge drops it): the routers' mediation
        # (a router tells both where the other is) fails, and they stay relayed -- what this test
        # is about; test_nat_mesh.py has the mediated pairs that do get through.
        u = self.mesh.underlay_sh
        u(["nft", "add table bridge nodirect"])
        u(["nft", "add chain bridge nodirect block { type filter hook forward priority 0 ; }"])
        u(["nft", "add rule bridge nodirect block iifname u-a oifname u-b drop"])
        u(["nft", "add rule bridge nodirect block iifname u-b oifname u-a drop"])
        for n in self.n.values():
            n.start()
        overlay_addresses(self.n, NODES)

    def tearDown(self):
        self.mesh.cleanup()

    def diag(self):
        def f():
            out = []
            for name, n in self.n.items():
                try:
                    st = n.ctl("status")
                    out.append("%s drops %s queues %s" % (name, {k: v for k, v in st["drops"].items() if v},
                                                         st.get("queues")))
                    out.append("%s peers %s" % (name, n.ctl("peers")["peers"]))
                except (OSError, ValueError, KeyError) as e:
                    out.append("%s: %s" % (name, e))
                out.append("%s log tail\n%s" % (name, n.log()[-2500:]))
            return "\n" + "\n".join(out)
        return f

    def wait_via(self, node, other, via, timeout):
        want = self.n[via].name
        rid = NODES.index(want) + 1
        dc.wait_for(lambda: peers(self.n[node])[other]["state"] == "up" and
                    peers(self.n[node])[other].get("via") == rid,
                    timeout, "%s -> %s up via %s" % (node, other, via), self.diag())

    def test_routed_failover_and_queueing_relay(self):
        a, b, r1, r2 = self.n["a"], self.n["b"], self.n["r1"], self.n["r2"]
        # a and b reach each other through r2 (pass 1, the highest priority)
        self.wait_via("a", "b", "r2", 30)
        self.wait_via("b", "a", "r2", 30)
        for x in (a, b):
            for r in ("r1", "r2"):
                self.assertEqual(peers(x)[r].get("via"), 0, self.diag()())
        # the routers were asked to introduce them, and did; the direct handshakes got nowhere
        dc.wait_for(lambda: a.ctl("status")["mediation"]["attempts"] >= 1 and
                    b.ctl("status")["mediation"]["attempts"] >= 1, 15, "a and b tried directly", self.diag())
        self.assertGreaterEqual(r2.ctl("status")["mediation"]["introductions"], 1, self.diag()())
        for x in (a, b):
            self.assertEqual(x.ctl("status")["mediation"]["established"], 0, self.diag()())
        r1_before, r2_before = relayed(r1), relayed(r2)
        ping(a, to.overlay_ip(4), 10)
        # 10 requests + 10 replies (and a keepalive of a or b, if one fell due)
        self.assertGreaterEqual(relayed(r2) - r2_before, 20, self.diag()())
        self.assertEqual(relayed(r1), r1_before, self.diag()())
        res = to.iperf(self, a, b, to.overlay_ip(4), ["-t", "2"])
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
        self.assertGreater(relayed(r2) - r2_before, 1000)

        # r2 dies without a goodbye: within keepalive (plus its probes) a and b use r1
        r2.proc.kill()
        r2.proc.wait(10)
        r2.terminated = True  # killed on purpose
        t0 = time.time()
        self.wait_via("a", "b", "r1", 3 * KEEPALIVE + 10)
        self.wait_via("b", "a", "r1", 3 * KEEPALIVE + 10)
        moved_after = time.time() - t0
        r1_before = relayed(r1)
        ping(a, to.overlay_ip(4), 5)
        self.assertGreaterEqual(relayed(r1) - r1_before, 10, self.diag()())
        print("traffic moved to r1 %.1f s after r2 died (keepalive %d s)" % (moved_after, KEEPALIVE))

        # r2 comes back; b and r2 do not hear each other yet (the bridge drops it: dvped reads
        # its WAN with af_packet, before any netfilter hook in b's own namespace). a
        # picks r2 again once their session is up; r2 has no session with b: it queues a's
        # packets for b and connects; when b hears it, the session comes up and they go.
        u = self.mesh.underlay_sh
        u(["nft", "add table bridge dvmesh"])
        u(["nft", "add chain bridge dvmesh block { type filter hook forward priority 0 ; }"])
        u(["nft", "add rule bridge dvmesh block iifname u-r2 oifname u-b drop"])
        u(["nft", "add rule bridge dvmesh block iifname u-b oifname u-r2 drop"])
        # and r1, or r2 would reach b through it (routers route to address-less nodes too)
        u(["nft", "add rule bridge dvmesh block iifname u-r2 oifname u-r1 drop"])
        u(["nft", "add rule bridge dvmesh block iifname u-r1 oifname u-r2 drop"])
        r2.finish()  # the kill was ours: not an exit-check failure
        r2.problems = [p for p in r2.problems if "killed by signal" not in p]
        r2.start()
        overlay_addresses(self.n, NODES, only="r2")
        self.wait_via("a", "b", "r2", 30)
        self.assertNotEqual(peers(r2)["b"]["state"], "up")
        q0 = relay_queue(r2)
        pinger = subprocess.Popen(["ip", "netns", "exec", a.ns, "ping", "-n", "-q", "-c", "5", "-i", "0.2", "-w", "30",
                                   to.overlay_ip(4)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        dc.wait_for(lambda: relay_queue(r2)["queued"] - q0["queued"] >= 5, 15, "r2 queues a's packets for b",
                    self.diag())
        self.assertEqual(relay_queue(r2)["sent"], q0["sent"], self.diag()())
        # A broadcast from r2's host meanwhile: r1 and a get it now, b's copy waits in r2's
        # frame queue (GVPE's N-1 unicasts, max-queue) and is delivered once b connects.
        f0 = r2.ctl("status")["queues"]["frames"]
        b_rx0 = peers(b)["r2"]["rx_packets"]
        waiting = sorted(p for p, v in peers(r2).items() if v["state"] != "up")
        self.assertEqual(waiting, ["b", "r1"], self.diag()())  # r1 is blocked from r2 too
        r2.sh(["ping", "-b", "-n", "-q", "-c", "1", "-W", "1", "10.88.0.255"], check=False)
        dc.wait_for(lambda: r2.ctl("status")["queues"]["frames"]["queued"] == f0["queued"] + 2, 10,
                    "r2 queues the broadcast's copies for b and r1", self.diag())
        u(["nft", "delete table bridge dvmesh"])
        out, _ = pinger.communicate(timeout=40)
        self.assertEqual(pinger.returncode, 0, out + self.diag()())
        dc.wait_for(lambda: peers(r2)["b"]["state"] == "up", 20, "r2 -> b up", self.diag())
        q = relay_queue(r2)
        self.assertGreaterEqual(q["queued"] - q0["queued"], 5, q)
        self.assertEqual(q["sent"] - q0["sent"], q["queued"] - q0["queued"], q)  # every queued packet went
        self.assertEqual(q["dropped"], 0, q)
        self.assertEqual(q["waiting"], 0, q)
        # ping -c 5 -w 30 sends until 5 replies came: while the session comes up it sends more
        # requests (queued too), and its figures depend on when the replies arrive (all of them
        # at once, or the 5th before the rest): at least 5 came back. The relay queue's
        # counters above say what was lost: nothing.
        received = re.search(r"(\d+) received", out)
        self.assertTrue(received and int(received.group(1)) >= 5, out)
        dc.wait_for(lambda: peers(b)["r2"]["rx_packets"] == b_rx0 + 1, 10, "b gets r2's broadcast", self.diag())
        f = r2.ctl("status")["queues"]["frames"]
        dc.wait_for(lambda: r2.ctl("status")["queues"]["frames"]["sent"] == f0["sent"] + 2, 10,
                    "both copies sent", self.diag())
        f = r2.ctl("status")["queues"]["frames"]
        self.assertEqual((f["queued"] - f0["queued"], f["sent"] - f0["sent"], f["dropped"] - f0["dropped"],
                          f["waiting"]), (2, 2, 0, 0), f)


if __name__ == "__main__":
    tb.main()
