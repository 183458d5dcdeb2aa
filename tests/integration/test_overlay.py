# SPDX-License-Identifier: MIT
"""Encrypted Ethernet between dvped nodes over every transport, IPv4 and IPv6 underlay (issue 5).

    ns <tag>-u   bridge br0 (underlay; raw frames injected and captured here)
       |  u-<node>
    <tag>-<node>   dvped: wan0 = net_af_packet on wan-<node> (02:77:00:00:00:0N; TwoWorkers: a memif)
                   tap0 = net_tap dvpe0 (fe:fd:80:00:00:0N), overlay address 10.88.0.N/24

For each transport (udp, rawip, icmp) over IPv4 and IPv6: sessions come up, ping and iperf3 TCP
and UDP run both ways over the TAP overlay, no authentication failure or replay is counted, and
the per-node packet counters of sender and receiver agree. Further cases: a three-node mesh,
rekeying under TCP load without loss of the session, forged and replayed packets written into
the underlay are dropped with their reason and never reach the overlay.
"""
import json
import re
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402


def af_packet_wan(i, name):
    return "net_af_packet0,iface=wan-%s" % name


def write_conf(nodes, transport, v6=False, extra="", wan=af_packet_wan, static_neighbours=True, tap="dvpe_tap0"):
    """nodes: list of names; returns a confdir with gvpe.conf for them. wan(i, name) gives the
    devargs of node i's WAN port (default: net_af_packet on its veth); tap the overlay port's
    devargs (net_tap0: DPDK's TAP; dvpe_tap0: dvpe's own, pmd/host_tap.hh)."""
    d = tempfile.mkdtemp(prefix="dvpe-conf-")
    lines = [
        "enable-%s = yes" % transport,
        "mtu = 1500", "ifname = dvpe0", "private-key = hostkeys/%s",
        "control-lcore = 0", "worker-lcores = 1", "hugepages = no", "memory-mb = 256",
        "rx-descriptors = 512", "tx-descriptors = 512", "idle-sleep-us = 200", "keepalive = 60",
        extra,
    ]
    for i, name in enumerate(nodes, start=1):
        ip = ("fd77::%d" % i) if v6 else ("10.77.0.%d" % i)
        lines += ["", "node = %s" % name, "hostname = %s" % ip,
                  "port = wan0 wan %s" % wan(i, name),
                  "port = tap0 overlay %s" % tap,
                  "wan-address = wan0 %s/%d" % (ip, 64 if v6 else 24)]
        if v6 and static_neighbours:
            for j in range(1, len(nodes) + 1):
                if j != i:
                    lines.append("neighbour = wan0 fd77::%d %s" % (j, tb.wan_mac(j)))
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return d


def make_mesh(nodes, transport="udp", v6=False, extra="", append="", wan=af_packet_wan, static_neighbours=True,
              tap="dvpe_tap0"):
    """A Mesh (not started) for `nodes` with a generated config; `append` goes after the node
    sections (e.g. "node = beta\nconnect = never")."""
    conf = write_conf(nodes, transport, v6, extra, wan, static_neighbours, tap)
    try:
        if append:
            with open(os.path.join(conf, "gvpe.conf"), "a") as f:
                f.write("\n" + append + "\n")
        return tb.Mesh(node_ips(nodes, v6), conf)
    finally:
        subprocess.run(["rm", "-rf", conf])


def node_ips(nodes, v6):
    return {n: (("fd77::%d" % i) if v6 else ("10.77.0.%d" % i)) for i, n in enumerate(nodes, start=1)}


class OverlayMesh:
    def __init__(self, nodes, transport, v6=False, extra="", wan=af_packet_wan, static_neighbours=True,
                 tap="dvpe_tap0", append=""):
        self.names = nodes
        self.mesh = make_mesh(nodes, transport, v6, extra, append=append, wan=wan, static_neighbours=static_neighbours,
                              tap=tap)
        try:
            for n in self.mesh.nodes.values():
                n.start()
            for i, name in enumerate(nodes, start=1):
                self.mesh.nodes[name].sh(["ip", "addr", "add", "10.88.0.%d/24" % i, "dev", "dvpe0"])
            self.wait_up()
        except Exception:
            self.mesh.cleanup()
            raise

    def node(self, name):
        return self.mesh.nodes[name]

    def wait_up(self, timeout=20):
        deadline = time.time() + timeout
        while True:
            states = {n: [p["state"] for p in self.node(n).ctl("peers")["peers"]] for n in self.names}
            if all(s and all(x == "up" for x in s) for s in states.values()):
                return
            if time.time() > deadline:
                raise AssertionError("sessions not up: %s\n%s" % (states, self.node(self.names[0]).log()))
            time.sleep(0.2)

    def peer(self, name, other):
        return [p for p in self.node(name).ctl("peers")["peers"] if p["name"] == other][0]

    def diagnostics(self):
        """Non-zero drops and the peer table of every node, for failure messages."""
        out = []
        for n in self.names:
            st = self.node(n).ctl("status")
            out.append("%s drops %s" % (n, {k: v for k, v in st["drops"].items() if v}))
            out.append("%s peers %s" % (n, json.dumps(self.node(n).ctl("peers")["peers"])))
        return "\n" + "\n".join(out)

    def cleanup(self):
        self.mesh.cleanup()


def overlay_ip(i):
    return "10.88.0.%d" % i


def overlay_mac(i):
    return "fe:fd:80:00:00:%02x" % i


def pin_overlay_neighbours(m):
    """Permanent overlay ARP entries on every node, so the kernels send no ARP over the overlay
    and per-peer packet counters can be compared with the number of pings exactly."""
    for i, n in enumerate(m.names, start=1):
        for j in range(1, len(m.names) + 1):
            if j != i:
                m.node(n).sh(["ip", "neigh", "replace", overlay_ip(j), "lladdr", overlay_mac(j), "dev", "dvpe0",
                              "nud", "permanent"])


IPERF_PORT = 5201


def iperf(tc, client, server, server_ip, args, timeout=90):
    """One iperf3 test from `client` to `server_ip`, the server (one test, JSON, 1 s intervals) in
    `server`'s namespace. Asserts success; returns the client's JSON result, which carries the
    server's (the receiver's, unless -R) as ["server_output_json"]."""
    srv = subprocess.Popen(["ip", "netns", "exec", server.ns, "iperf3", "-s", "-1", "-J", "-p", str(IPERF_PORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tb.wait_listening(server.ns, IPERF_PORT)
        r = tb.sh(["iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-J", "--get-server-output"] + list(args),
                  ns=client.ns, check=False, timeout=timeout)
        srv.wait(15)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    tc.assertEqual(r.returncode, 0, " ".join(args) + "\n" + r.stdout[-2000:] + r.stderr)
    return json.loads(r.stdout)


def udp_loss(res):
    """(lost_packets, packets, lost_percent) of a UDP iperf3 result, as the receiver counted them."""
    s = res["end"]["sum"]
    return s["lost_packets"], s["packets"], s["lost_percent"]


# Drop reasons of the data path: none may count anything while an overlay stream runs.
DATA_PATH_DROPS = ("no_session", "unknown_key", "auth_failed", "replayed", "tx_failed", "no_buffer", "bad_header",
                   "no_overlay", "control_ring_full", "no_route", "bad_length")
# The kernel queues in front of a dvped worker (the TAP queue of 1000 frames, the af_packet rx
# ring) only overflow when the worker is not scheduled for tens of milliseconds: the test
# machine has 2 CPUs for two dvpeds (whose workers share CPU 1), iperf3 and whatever else runs.
# On an otherwise idle machine they drop nothing; on a shared one under CPU pressure (PSI "some"
# around 90%) up to 27% of a 64-byte stream was seen. The bound only catches a data path that
# stopped keeping up at all; that the loss is the kernel's and not dvped's is checked exactly.
QUEUE_DROP_BOUND = 0.5


def _links(node_or_ns):
    ns = node_or_ns if isinstance(node_or_ns, str) else node_or_ns.ns
    return {l["ifname"]: l["stats64"] for l in json.loads(tb.sh(["ip", "-s", "-j", "link"], ns=ns).stdout)}


def _udp_snmp(node):
    rows = [l.split() for l in node.sh(["cat", "/proc/net/snmp"]).stdout.splitlines() if l.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))


def kernel_counters(m, client, server):
    """Counters of the kernel queues outside dvped on the path of an overlay stream, and of
    dvped's WAN ports beside them (deltas of two readings give kernel_drops())."""
    c = {"tap_tx_dropped": _links(client)["dvpe0"]["tx"]["dropped"], "rcvbuf_errors": _udp_snmp(server)["RcvbufErrors"]}
    u = _links(m.mesh.underlay)
    c["veth_dropped"] = sum(st[d]["dropped"] for name, st in u.items() if name.startswith("u-") for d in ("rx", "tx"))
    for n in (client, server):
        c["veth_dropped"] += sum(_links(n)["wan-" + n.name][d]["dropped"] for d in ("rx", "tx"))
        wan = [p for p in n.ctl("status")["ports"] if p["name"] == "wan0"][0]
        c["to_" + n.name] = u["u-" + n.name]["tx"]["packets"]  # frames the bridge gave n's veth
        c["wan_rx_" + n.name] = wan["rx_packets"]                # frames n's af_packet port read
    return c


def kernel_drops(c0, c1, client, server):
    d = {k: c1[k] - c0[k] for k in c1}
    out = {k: d[k] for k in ("tap_tx_dropped", "rcvbuf_errors", "veth_dropped")}
    for n in (client, server):  # frames on n's veth that its af_packet rx ring had no room for
        out["rx_ring_" + n.name] = d["to_" + n.name] - d["wan_rx_" + n.name]
    return out


def udp_stream(tc, m, client, server, server_ip, args):
    """A UDP iperf3 stream over the overlay, every lost datagram accounted for. dvped loses
    nothing itself: no data-path drop counts, and every packet one dvped sealed for the other
    was opened there unless the kernel dropped it on the WAN in between (the receiver's
    af_packet rx ring, a veth); every datagram iperf3 reports lost was dropped by such a kernel
    queue outside dvped (kernel_drops: also the client's TAP queue towards dvped and the server's
    UDP socket buffer). The queues in front of dvped may drop at most QUEUE_DROP_BOUND of the
    datagrams. Returns the iperf3 result."""
    def peers():
        pc = m.peer(client.name, server.name)
        ps = m.peer(server.name, client.name)
        return pc["tx_packets"], ps["rx_packets"], ps["tx_packets"], pc["rx_packets"]
    p0 = tb.settle(peers)
    k0 = kernel_counters(m, client, server)
    d0 = {n.name: n.ctl("status")["drops"] for n in (client, server)}
    res = iperf(tc, client, server, server_ip, args)
    p1 = tb.settle(peers)
    k = kernel_drops(k0, kernel_counters(m, client, server), client, server)
    what = " ".join(args)
    for n in (client, server):
        d = n.ctl("status")["drops"]
        tc.assertEqual({r: d[r] - d0[n.name][r] for r in DATA_PATH_DROPS if d[r] != d0[n.name][r]}, {},
                       "%s: %s dropped on the data path%s" % (what, n.name, m.diagnostics()))
    tx_c, rx_s, tx_s, rx_c = (b - a for a, b in zip(p0, p1))
    for snd, rcv, tx, rx in ((client, server, tx_c, rx_s), (server, client, tx_s, rx_c)):
        tc.assertGreaterEqual(tx, rx, (what, snd.name, rcv.name))
        tc.assertLessEqual(tx - rx, k["rx_ring_" + rcv.name] + k["veth_dropped"],
                           "%s: %s sealed %d packets for %s, which opened %d; the kernel dropped only %s"
                           % (what, snd.name, tx, rcv.name, rx, k))
    lost, packets, pct = udp_loss(res)
    tc.assertGreater(packets, 0, what)
    explained = k["tap_tx_dropped"] + k["rcvbuf_errors"] + k["rx_ring_" + server.name] + k["veth_dropped"]
    tc.assertLessEqual(lost, explained, "%s: %d of %d datagrams lost (%.2f%%), more than the kernel dropped "
                       "outside dvped: %s%s" % (what, lost, packets, pct, k, m.diagnostics()))
    in_front = k["tap_tx_dropped"] + k["rx_ring_" + server.name]
    tc.assertLessEqual(in_front, QUEUE_DROP_BOUND * packets,
                       "%s: the kernel queues in front of dvped dropped %d of %d frames: %s" % (what, in_front, packets, k))
    return res


def assert_every_interval_moved_data(tc, res, what):
    """Every 1 s interval the receiver (iperf3 server) reported moved data: the session never
    stalled for a second (a trailing interval shorter than 0.5 s is not counted)."""
    ivs = res["server_output_json"]["intervals"]
    full = [iv["sum"] for iv in ivs if iv["sum"]["seconds"] >= 0.5]
    duration = res["start"]["test_start"]["duration"]
    tc.assertGreaterEqual(len(full), duration - 1, "%s: %d receiver intervals for %d s" % (what, len(full), duration))
    stalled = [(round(iv["start"], 2), round(iv["end"], 2)) for iv in full if iv["bytes"] == 0]
    tc.assertEqual(stalled, [], "%s: 1 s intervals without data at the receiver: %s" % (
        what, [(round(iv["sum"]["start"], 1), iv["sum"]["bytes"]) for iv in ivs]))


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Transports(unittest.TestCase):
    """Two nodes, each transport x address family."""

    def run_pair(self, transport, v6):
        m = OverlayMesh(["alpha", "beta"], transport, v6)
        try:
            a, b = m.node("alpha"), m.node("beta")
            expect = {"udp": "udp", "rawip": "rawip", "icmp": "icmp"}[transport] + ("6" if v6 else "4")
            self.assertEqual(m.peer("alpha", "beta")["transport"], expect)
            # ping both ways
            for src, dst in ((a, 2), (b, 1)):
                r = src.sh(["ping", "-c", "5", "-i", "0.2", "-W", "2", overlay_ip(dst)], check=False)
                got = re.search(r"(\d+) received", r.stdout)
                received = int(got.group(1)) if got else 0
                if received < 5:
                    # One echo lost in the kernel of a loaded 2-CPU CI machine (seen once in
                    # clean-clone CI: 2 of 3) is tolerated only if dvpe itself lost nothing:
                    # every drop reason that could swallow a data packet stays 0.
                    self.assertGreaterEqual(received, 4, r.stdout + r.stderr + m.diagnostics())
                    for n in (a, b):
                        d = n.ctl("status")["drops"]
                        for reason in ("no_session", "unknown_key", "auth_failed", "replayed", "tx_failed",
                                       "no_buffer", "bad_header", "no_overlay", "control_ring_full"):
                            self.assertEqual(d[reason], 0, reason + m.diagnostics())
            # iperf3 TCP both ways (-R), then UDP 1400 B and 64 B datagrams
            for extra in (["-t", "2"], ["-t", "2", "-R"]):
                res = iperf(self, a, b, overlay_ip(2), extra)
                self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
            for extra in (["-u", "-b", "50M", "-l", "1400", "-t", "2"], ["-u", "-b", "5M", "-l", "64", "-t", "2"]):
                udp_stream(self, m, a, b, overlay_ip(2), extra)
            for n in (a, b):
                d = n.ctl("status")["drops"]
                self.assertEqual(d["auth_failed"], 0, d)
                self.assertEqual(d["replayed"], 0, d)
            # quiet phase: exact counters. With the overlay neighbours pinned nothing but the 5
            # echo requests (alpha -> beta) and the 5 replies crosses the session.
            pin_overlay_neighbours(m)
            pa0, pb0 = m.peer("alpha", "beta"), m.peer("beta", "alpha")
            r = a.sh(["ping", "-c", "5", "-i", "0.2", "-W", "2", overlay_ip(2)], check=False)
            self.assertIn("5 received", r.stdout)

            def deltas():
                pa1, pb1 = m.peer("alpha", "beta"), m.peer("beta", "alpha")
                return {k: (pa1[k] - pa0[k], pb1[k] - pb0[k]) for k in ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes")}
            d = tb.settle(deltas)
            self.assertEqual(d["tx_packets"], (5, 5), d)  # alpha sent 5 requests, beta 5 replies
            self.assertEqual(d["rx_packets"], (5, 5), d)
            self.assertEqual(d["tx_bytes"][0], d["rx_bytes"][1], d)
            self.assertEqual(d["tx_bytes"][1], d["rx_bytes"][0], d)
            self.assertEqual(d["tx_bytes"][0], d["tx_bytes"][1], d)  # requests and replies are the same size
            for n in (a, b):
                st = n.ctl("status")
                for w in st["workers"]:
                    self.assertEqual(w["rx_packets"], tb.balance(w), json.dumps(w))
        finally:
            m.cleanup()

    def test_udp4(self):
        self.run_pair("udp", False)

    def test_rawip4(self):
        self.run_pair("rawip", False)

    def test_icmp4(self):
        self.run_pair("icmp", False)

    def test_udp6(self):
        self.run_pair("udp", True)

    def test_rawip6(self):
        self.run_pair("rawip", True)

    def test_icmp6(self):
        self.run_pair("icmp", True)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class TwoWorkers(unittest.TestCase):
    """Two worker lcores per node (three lcores mapped onto the two CPUs with --lcores), the WAN
    a two-queue memif between the nodes. Each worker seals on its own lane and sends on its own
    tx queue; memif hands tx queue i to the other side's rx queue i, so lane i is opened by the
    receiver's worker i and neither the lane-to-queue mapping nor the test depends on a kernel
    flow hash (net_af_packet's fan-out hashes with a per-boot seed: two lanes share a queue there
    half of the time). The multiqueue TAP spreads the 16 inner TCP flows over the workers (a flow
    stays on the queue its replies arrive on, so all 16 on one worker has odds 2^-15)."""

    def test_several_flows_use_both_workers_on_both_sides(self):
        extra = "\n".join(["worker-lcores = 1,2", "eal-args = --lcores=0@0,1@1,2@1",
                            "queue-map = wan0 0 1", "queue-map = wan0 1 2", "queue-map = tap0 0 1",
                            "queue-map = tap0 1 2"])
        sockdir = tempfile.mkdtemp(prefix="dvpe-memif-")
        try:
            m = OverlayMesh(["alpha", "beta"], "udp", extra=extra, wan=memif_wan(sockdir))
        except Exception:
            subprocess.run(["rm", "-rf", sockdir])
            raise
        try:
            a, b = m.node("alpha"), m.node("beta")
            iperf(self, a, b, overlay_ip(2), ["-t", "4", "-P", "16"])
            for n in (a, b):
                st = n.ctl("status")
                self.assertEqual([w["lcore"] for w in st["workers"]], [1, 2])
                for w in st["workers"]:
                    self.assertGreater(w["rx_packets"], 100, (n.name, w))
                    self.assertGreater(w["encrypted"] + w["decrypted"], 100, (n.name, w))
                d = st["drops"]
                self.assertEqual(d["auth_failed"], 0, d)
                self.assertEqual(d["replayed"], 0, d)
        finally:
            m.cleanup()
            subprocess.run(["rm", "-rf", sockdir])


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class PathMtu(unittest.TestCase):
    """The TAP MTU raised above what the WAN carries (an operator's mistake, or a bridged LAN with
    jumbo frames): oversize frames are dropped as too_big and answered with ICMP "fragmentation
    needed" / ICMPv6 "packet too big", so the kernel learns the path MTU and TCP keeps working."""

    def test_too_big_is_answered_and_the_kernel_learns_the_path_mtu(self):
        m = OverlayMesh(["alpha", "beta"], "udp")
        try:
            a, b = m.node("alpha"), m.node("beta")
            # What the udp4 path really carries (docs/protocol.md: 1500 - 62); the TAP's own MTU
            # is GVPE's mtu - 66 = 1434, 4 bytes below it.
            mtu = 1500 - 62
            self.assertEqual(int(a.sh(["cat", "/sys/class/net/dvpe0/mtu"]).stdout), 1434)
            for i, n in enumerate((a, b), start=1):
                n.sh(["ip", "link", "set", "dvpe0", "mtu", "1600"])
                n.sh(["sysctl", "-qw", "net.ipv6.conf.dvpe0.disable_ipv6=0"])
                n.sh(["ip", "addr", "add", "fd88::%d/64" % i, "dev", "dvpe0", "nodad"])
            # IPv4, DF set: the first echo is answered with "frag needed", the next ones fail locally.
            r = a.sh(["ping", "-M", "do", "-s", "1500", "-c", "3", "-i", "0.2", "-W", "1", overlay_ip(2)], check=False)
            self.assertIn("mtu = %d" % mtu, r.stdout + r.stderr, r.stdout + r.stderr)
            route = a.sh(["ip", "route", "get", overlay_ip(2)]).stdout
            self.assertIn("mtu %d" % mtu, route)
            r = a.sh(["ping", "-M", "do", "-s", str(mtu - 28), "-c", "2", "-i", "0.2", "-W", "2", overlay_ip(2)], check=False)
            self.assertIn("2 received", r.stdout)
            # IPv6: "packet too big"; the overlay MTU is the same number for an inner IPv6 packet.
            r = a.sh(["ping", "-6", "-s", "1500", "-c", "3", "-i", "0.2", "-W", "1", "fd88::2"], check=False)
            route = a.sh(["ip", "-6", "route", "get", "fd88::2"]).stdout
            self.assertIn("mtu %d" % mtu, route, r.stdout + r.stderr)
            r = a.sh(["ping", "-6", "-M", "do", "-s", str(mtu - 48), "-c", "2", "-i", "0.2", "-W", "2", "fd88::2"],
                     check=False)
            self.assertIn("2 received", r.stdout, r.stdout + r.stderr)
            # TCP with 1600-byte interfaces at both ends: the first full segments are answered and
            # the connection carries on at the path MTU.
            res = iperf(self, a, b, overlay_ip(2), ["-t", "2"])
            self.assertGreater(res["end"]["sum_received"]["bytes"], 1000000)
            st = a.ctl("status")
            answers = sum(w["too_big_answers"] for w in st["workers"])
            # One answer per oversize frame that reached dvped: the first IPv4 ping and the first
            # IPv6 ping (after those the kernel knows the path MTU: later DF pings fail locally,
            # IPv6 fragments, TCP segments to the path MTU).
            self.assertEqual(answers, 2, st["drops"])
            self.assertEqual(st["drops"]["too_big"], answers)
            for w in st["workers"]:
                self.assertEqual(w["rx_packets"], tb.balance(w), json.dumps(w))
        finally:
            m.cleanup()


def memif_wan(sockdir):
    """WAN devargs: a memif between node 1 (server) and node 2 (client), no kernel in between."""
    def wan(i, name):
        return "net_memif0,role=%s,id=0,socket=%s/wan.sock,socket-abstract=no,mac=%s" % (
            "server" if i == 1 else "client", sockdir, tb.wan_mac(i))
    return wan


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class WanFragment(unittest.TestCase):
    """wan-fragment = yes: the overlay gets the full WAN MTU (1500), frames above what one packet
    carries cross as outer fragments, which the other dvped reassembles itself (the WAN is a
    memif: no kernel defragments on the way), over an IPv4 and an IPv6 underlay; ping with DF
    and iperf3 TCP see a 1500-byte path."""

    def run_case(self, v6):
        sockdir = tempfile.mkdtemp(prefix="dvpe-memif-")
        try:
            m = OverlayMesh(["alpha", "beta"], "udp", v6, extra="wan-fragment = yes", wan=memif_wan(sockdir))
        except Exception:
            subprocess.run(["rm", "-rf", sockdir])
            raise
        try:
            a, b = m.node("alpha"), m.node("beta")
            for n in (a, b):
                self.assertEqual(int(n.sh(["cat", "/sys/class/net/dvpe0/mtu"]).stdout), 1500)
                self.assertEqual(n.ctl("config")["overlay_mtu"], 1500)
            for src, dst in ((a, 2), (b, 1)):
                r = src.sh(["ping", "-M", "do", "-s", "1472", "-c", "3", "-i", "0.2", "-W", "2", overlay_ip(dst)],
                           check=False)
                self.assertIn("3 received", r.stdout, r.stdout + r.stderr)
            res = iperf(self, a, b, overlay_ip(2), ["-t", "2"])
            self.assertGreater(res["end"]["sum_received"]["bytes"], 1000000)
            tb.settle(lambda: [tb.traffic_counters(n.ctl("status")) for n in (a, b)])
            sa, sb = a.ctl("status"), b.ctl("status")
            fa = sum(w["fragmented"] for w in sa["workers"])
            rb = sum(w["reassembled"] for w in sb["workers"])
            fin = sum(w["fragments_in"] for w in sb["workers"])
            self.assertGreater(rb, 100)
            # Each full-size frame is two fragments. The memif ring drops what beta cannot take
            # in time (alpha's tx_failed), so some packets lack a half: never more out than in.
            self.assertLessEqual(rb, fa)
            self.assertGreaterEqual(fin, 2 * rb)
            self.assertLessEqual(fin, 2 * fa)
            for st in (sa, sb):
                self.assertEqual(st["drops"]["too_big"], 0)
                self.assertEqual(st["drops"]["auth_failed"], 0)
                self.assertEqual(st["drops"]["ip_fragment"], 0)
                for w in st["workers"]:
                    self.assertEqual(w["rx_packets"], tb.balance(w), json.dumps(w))
        finally:
            m.cleanup()
            subprocess.run(["rm", "-rf", sockdir])

    def test_ipv4_underlay(self):
        self.run_case(False)

    def test_ipv6_underlay(self):
        self.run_case(True)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class NeighbourDiscovery(unittest.TestCase):
    """IPv6 underlay without a single static neighbour: the nodes find each other's MACs with
    neighbour solicitations (RFC 4861), answer the kernel's, and answer ICMPv6 echo."""

    def test_ipv6_underlay_resolves_itself(self):
        m = OverlayMesh(["alpha", "beta"], "udp", True, static_neighbours=False)
        try:
            a, b = m.node("alpha"), m.node("beta")
            for src, dst in ((a, 2), (b, 1)):
                r = src.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", overlay_ip(dst)], check=False)
                self.assertIn("3 received", r.stdout, r.stdout + r.stderr + m.diagnostics())
            for n, other in ((a, "fd77::2"), (b, "fd77::1")):
                nb = [e for e in n.ctl("neighbours")["neighbours"] if e["ip"] == other]
                self.assertEqual(len(nb), 1, nb)
                self.assertEqual(nb[0]["state"], "reachable")
                self.assertEqual(nb[0]["mac"], tb.wan_mac(2 if other == "fd77::2" else 1))
            # The kernel in the underlay namespace resolves and pings dvped's WAN address.
            u = m.mesh.underlay
            tb.sh(["sysctl", "-qw", "net.ipv6.conf.br0.disable_ipv6=0"], ns=u)
            tb.sh(["ip", "addr", "add", "fd77::254/64", "dev", "br0", "nodad"], ns=u)
            r = tb.sh(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd77::1"], ns=u, check=False)
            self.assertIn("3 received", r.stdout, r.stdout + r.stderr + m.diagnostics())
            neigh = tb.sh(["ip", "-6", "neigh", "show", "fd77::1"], ns=u).stdout
            self.assertIn(tb.wan_mac(1), neigh.lower())
            st = a.ctl("status")
            # the underlay's 3 echo requests are the only ones alpha's WAN address ever got
            self.assertEqual(sum(w["icmp_echo_replies"] for w in st["workers"]), 3)
            self.assertGreaterEqual(sum(w["arp_replies"] for w in st["workers"]), 1)  # beta's and the kernel's NS
            for w in st["workers"]:
                self.assertEqual(w["rx_packets"], tb.balance(w), json.dumps(w))
        finally:
            m.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Mesh3(unittest.TestCase):
    def test_three_nodes_all_pairs(self):
        names = ["alpha", "beta", "gamma"]
        m = OverlayMesh(names, "udp")
        try:
            for i, n in enumerate(names, start=1):
                for j in range(1, 4):
                    if j != i:
                        r = m.node(n).sh(["ping", "-c", "2", "-i", "0.2", "-W", "2", overlay_ip(j)], check=False)
                        self.assertIn("2 received", r.stdout, "%s -> %d: %s" % (n, j, r.stdout))
        finally:
            m.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class InheritTos(unittest.TestCase):
    """inherit-tos = yes for beta: alpha's sealed packets to beta carry the DSCP of the inner
    packet in their outer IPv4 header (ECN not copied), seen on the underlay bridge; beta's
    packets to alpha (inherit-tos = no for alpha) keep TOS 0."""

    CAPTURE = r'''
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0)); s.settimeout(1)
print("ready", flush=True)
deadline = time.time() + 6
tos = set()
while time.time() < deadline and len(tos) < 8:
    try:
        f, addr = s.recvfrom(4096)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING: continue
    # IPv4 UDP to port 655 carrying a dvpe data message (type 1) of a 200-byte ping
    if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x02\x8f" and f[42] == 1 and len(f) > 250:
        tos.add(f[15])
print(" ".join(str(t) for t in sorted(tos)))
'''

    def outer_tos(self, m, sender, receiver_ip, qos):
        cap = subprocess.Popen(["ip", "netns", "exec", m.mesh.underlay, sys.executable, "-c", self.CAPTURE,
                                "u-" + sender], stdout=subprocess.PIPE, text=True)
        self.assertEqual(cap.stdout.readline().strip(), "ready")  # bound before the first ping
        r = m.node(sender).sh(["ping", "-c", "4", "-i", "0.2", "-s", "200", "-Q", qos, receiver_ip], check=False)
        self.assertIn("4 received", r.stdout, r.stdout)
        out, _ = cap.communicate(15)
        return [int(x) for x in out.split()]

    def test_outer_header_carries_the_inner_dscp(self):
        m = OverlayMesh.__new__(OverlayMesh)
        m.names = ["alpha", "beta"]
        m.mesh = make_mesh(m.names, append="node = beta\ninherit-tos = yes")
        try:
            for i, n in enumerate(m.names, start=1):
                m.node(n).start()
                m.node(n).sh(["ip", "addr", "add", overlay_ip(i) + "/24", "dev", "dvpe0"])
            m.wait_up()
            # EF (DSCP 46) with ECN ECT(1): the outer TOS is 0xb8, ECN cleared
            self.assertEqual(self.outer_tos(m, "alpha", overlay_ip(2), "0xb9"), [0xb8])
            self.assertEqual(self.outer_tos(m, "alpha", overlay_ip(2), "0x28"), [0x28])
            self.assertEqual(self.outer_tos(m, "beta", overlay_ip(1), "0xb8"), [0])
        finally:
            m.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class DnsHostnames(unittest.TestCase):
    """A peer's hostname is a DNS name, as gvpe.conf files have them: alpha finds beta through
    getaddrinfo (its namespace's /etc/hosts, bind-mounted by `ip netns exec` from
    /etc/netns/NS/hosts) and is the only one to initiate (connect = never for alpha), so the
    session exists only if the lookup worked. gamma's name does not resolve: counted and
    reported, nothing else is affected."""

    def test_peer_found_by_name(self):
        names = ["alpha", "beta", "gamma"]
        m = OverlayMesh.__new__(OverlayMesh)
        m.names = names
        m.mesh = make_mesh(names, append="node = alpha\nconnect = never")
        etc = []
        try:
            conf = os.path.join(m.mesh.confdir, "gvpe.conf")
            with open(conf) as f:
                text = f.read()
            text = text.replace("hostname = 10.77.0.2", "hostname = beta.dvpe.test")
            text = text.replace("hostname = 10.77.0.3", "hostname = gamma.dvpe.test")
            with open(conf, "w") as f:
                f.write(text)
            d = "/etc/netns/%s" % m.node("alpha").ns
            os.makedirs(d, exist_ok=True)
            etc.append(d)
            with open(os.path.join(d, "hosts"), "w") as f:
                f.write("127.0.0.1 localhost\n10.77.0.2 beta.dvpe.test\n")
            with open(os.path.join(d, "resolv.conf"), "w") as f:
                f.write("nameserver 127.0.0.1\n")  # nothing listens: unknown names fail at once
            for i, n in enumerate(names[:2], start=1):
                m.node(n).start()
                m.node(n).sh(["ip", "addr", "add", overlay_ip(i) + "/24", "dev", "dvpe0"])
            a = m.node("alpha")
            deadline = time.time() + 30
            while time.time() < deadline:
                p = {x["name"]: x for x in a.ctl("peers")["peers"]}
                if p["beta"]["state"] == "up" and p["gamma"].get("dns", {}).get("failures", 0) >= 1:
                    break
                time.sleep(0.3)
            p = {x["name"]: x for x in a.ctl("peers")["peers"]}
            self.assertEqual(p["beta"]["state"], "up", json.dumps(p) + a.log()[-2000:])
            self.assertEqual(p["beta"]["hostname"], "beta.dvpe.test")
            self.assertEqual(p["beta"]["dns"]["address"], "10.77.0.2")
            self.assertEqual(p["beta"]["address"], "10.77.0.2")
            self.assertGreaterEqual(p["beta"]["initiations_sent"], 1)
            self.assertGreaterEqual(p["gamma"]["dns"]["failures"], 1, json.dumps(p["gamma"]))
            self.assertNotEqual(p["gamma"]["dns"]["error"], "")
            self.assertNotIn("address", p["gamma"])
            self.assertIn("gamma.dvpe.test", a.log())
            self.assertIn("hostname beta.dvpe.test is 10.77.0.2", a.log())
            # beta (connect = never towards alpha) answered, it did not initiate
            self.assertEqual({x["name"]: x for x in m.node("beta").ctl("peers")["peers"]}["alpha"]["initiations_sent"], 0)
            r = a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", overlay_ip(2)], check=False)
            self.assertIn("3 received", r.stdout, r.stdout)
        finally:
            m.cleanup()
            for d in etc:
                subprocess.run(["rm", "-rf", d])


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class ConnectOutOnly(unittest.TestCase):
    """GVPE's `udp-port = 0` (a laptop: peers cannot connect to it, it connects out): beta has
    no port of its own; alpha answers its handshakes at their source port (beta's control
    lane) and sends its data there, and beta accepts its lane ports. Before beta's first
    handshake alpha has no way to reach it."""

    def test_udp_port_zero_connects_out(self):
        m = OverlayMesh.__new__(OverlayMesh)
        m.names = ["alpha", "beta"]
        m.mesh = make_mesh(m.names, append="node = beta\nudp-port = 0")
        try:
            a, b = m.node("alpha"), m.node("beta")
            a.start()
            # alpha tries to initiate (connect = always) and has nowhere to send it: wait for
            # two such attempts, then it must still know no address for beta
            tb.wait_until(lambda: a.ctl("status")["handshake"]["unsent"] >= 2, 15, "two unsent initiations",
                          lambda: json.dumps(a.ctl("status")["handshake"]))
            pa = {x["name"]: x for x in a.ctl("peers")["peers"]}["beta"]
            self.assertNotIn("address", pa, "no path to a udp-port 0 node before it connects")
            b.start()
            for i, n in enumerate(m.names, start=1):
                m.node(n).sh(["ip", "addr", "add", overlay_ip(i) + "/24", "dev", "dvpe0"])
            m.wait_up()
            for x, ip in ((a, overlay_ip(2)), (b, overlay_ip(1))):
                r = x.sh(["ping", "-c", "4", "-i", "0.2", "-W", "2", ip], check=False)
                self.assertRegex(r.stdout, r" [34] received", r.stdout + m.diagnostics())
            st = b.ctl("status")
            self.assertEqual(st["drops"]["auth_failed"], 0)
            self.assertGreater(sum(w["decrypted"] for w in st["workers"]), 0)
        finally:
            m.cleanup()


    def test_udp_port_zero_behind_a_port_rewriting_nat(self):
        # beta sits on its own subnet 10.78.0.0/24 behind the underlay namespace, which routes
        # and masquerades it with random source ports (nftables): alpha only ever sees
        # 10.77.0.254:<some port>, learns that from beta's handshake and sends there.
        m = OverlayMesh.__new__(OverlayMesh)
        m.names = ["alpha", "beta"]
        m.mesh = make_mesh(m.names)
        try:
            conf = os.path.join(m.mesh.confdir, "gvpe.conf")
            with open(conf) as f:
                text = f.read()
            text = text.replace("hostname = 10.77.0.2\n", "udp-port = 0\n")
            text = text.replace("wan-address = wan0 10.77.0.2/24",
                                "wan-address = wan0 10.78.0.2/24\nwan-gateway = wan0 10.78.0.254")
            with open(conf, "w") as f:
                f.write(text)
            u = m.mesh.underlay_sh
            u(["ip", "link", "set", "u-beta", "nomaster"])
            u(["ip", "addr", "add", "10.78.0.254/24", "dev", "u-beta"])
            u(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            u(["nft", "add", "table", "ip", "dvpenat"])
            u(["nft", "add", "chain", "ip", "dvpenat", "post", "{ type nat hook postrouting priority 100 ; }"])
            u(["nft", "add", "rule", "ip", "dvpenat", "post", "ip", "saddr", "10.78.0.0/24", "oifname", "br0",
               "counter", "masquerade", "random"])
            a, b = m.node("alpha"), m.node("beta")
            for i, n in enumerate(m.names, start=1):
                m.node(n).start()
                m.node(n).sh(["ip", "addr", "add", overlay_ip(i) + "/24", "dev", "dvpe0"])
            try:
                m.wait_up(15)
            except AssertionError:
                print(m.diagnostics(), u(["nft", "list", "ruleset"]).stdout,
                      json.dumps(a.ctl("status")["handshake"]), json.dumps(b.ctl("status")["handshake"]),
                      json.dumps(b.ctl("status")["workers"]), u(["ip", "neigh"]).stdout)
                raise
            pa = {x["name"]: x for x in a.ctl("peers")["peers"]}["beta"]
            self.assertEqual(pa["address"], "10.77.0.254", json.dumps(pa))
            for x, ip in ((a, overlay_ip(2)), (b, overlay_ip(1))):
                r = x.sh(["ping", "-c", "4", "-i", "0.2", "-W", "2", ip], check=False)
                self.assertRegex(r.stdout, r" [34] received", r.stdout + m.diagnostics())
            rules = u(["nft", "list", "ruleset"]).stdout
            self.assertRegex(rules, r"packets [1-9]", rules)  # beta's traffic went through the NAT
        finally:
            m.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Routed(unittest.TestCase):
    """GVPE routing: alpha and beta may not talk directly (deny-direct), gamma is a router
    (router-priority 2): their handshake and their traffic go through gamma, which relays the
    sealed packets without holding any key of the alpha-beta session."""

    def test_deny_direct_goes_through_router(self):
        m = OverlayMesh.__new__(OverlayMesh)
        m.names = ["alpha", "beta", "gamma"]
        m.mesh = make_mesh(m.names, append="node = alpha\ndeny-direct = beta\nnode = gamma\nrouter-priority = 2")
        try:
            for i, n in enumerate(m.names, start=1):
                m.node(n).start()
                m.node(n).sh(["ip", "addr", "add", "10.88.0.%d/24" % i, "dev", "dvpe0"])
            m.wait_up(timeout=30)
            self.assertEqual(m.peer("alpha", "beta")["via"], 3)
            self.assertEqual(m.peer("beta", "alpha")["via"], 3)
            self.assertEqual(m.peer("alpha", "gamma")["via"], 0)
            pin_overlay_neighbours(m)  # no overlay ARP: the pings are all alpha and beta send

            def relayed():
                return sum(w["relayed"] for w in m.node("gamma").ctl("status")["workers"])
            relayed0 = tb.settle(relayed)
            r = m.node("alpha").sh(["ping", "-c", "4", "-i", "0.2", "-W", "2", overlay_ip(2)], check=False)
            self.assertIn("4 received", r.stdout, r.stdout)
            self.assertEqual(tb.settle(relayed) - relayed0, 8)  # 4 requests + 4 replies, relayed sealed
            for n in m.names:
                d = m.node(n).ctl("status")["drops"]
                self.assertEqual(d["auth_failed"], 0, d)
        finally:
            m.mesh.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Attacks(unittest.TestCase):
    """Forged and replayed packets written into the underlay bridge."""

    @classmethod
    def setUpClass(cls):
        cls.m = OverlayMesh(["alpha", "beta"], "udp")

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()

    def capture_and_inject(self, mutate, reason):
        """Captures one alpha->beta data packet on the underlay, then writes mutate(frame) back
        and waits until beta counts a drop for `reason` (and its counters stopped moving)."""
        m = self.m
        code = r'''
import socket, sys, time, binascii
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("u-alpha", 0)); s.settimeout(5)
print("ready", flush=True)
deadline = time.time() + 5
while time.time() < deadline:
    f, addr = s.recvfrom(4096)
    if addr[2] == socket.PACKET_OUTGOING: continue
    # IPv4 UDP to port 655 carrying a dvpe data message (type 1)
    if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x02\x8f" and f[42] == 1 and len(f) > 100:
        print(binascii.hexlify(f).decode()); break
'''
        cap = subprocess.Popen(["ip", "netns", "exec", m.mesh.underlay, sys.executable, "-c", code],
                               stdout=subprocess.PIPE, text=True)
        self.assertEqual(cap.stdout.readline().strip(), "ready")
        m.node("alpha").sh(["ping", "-c", "3", "-i", "0.2", "-s", "100", overlay_ip(2)], check=False)
        out, _ = cap.communicate(10)
        self.assertTrue(out.strip(), "no data packet captured")
        frame = bytes.fromhex(out.strip())
        bad = mutate(bytearray(frame))
        inj = r'''
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("u-beta", 0)); s.send(bytes.fromhex(sys.argv[1]))
'''
        def both():
            return self.m.node("beta").ctl("status"), self.m.node("alpha").ctl("status")
        # the pings' packets have all landed
        tb.settle(lambda: [tb.traffic_counters(x) for x in both()])
        before, sent_before = both()
        tb.sh([sys.executable, "-c", inj, bytes(bad).hex()], ns=m.mesh.underlay)
        tb.wait_until(lambda: self.delta(before, self.m.node("beta").ctl("status"), reason) >= 1, 5,
                      "beta to count the injected packet as " + reason,
                      lambda: str(self.m.node("beta").ctl("status")["drops"]))
        tb.settle(lambda: [tb.traffic_counters(x) for x in both()])
        after, sent_after = both()
        # Nothing forged reached beta's overlay: beta decrypted exactly what alpha sealed meanwhile.
        dec = sum(w["decrypted"] + w["keepalives"] for w in after["workers"]) - \
            sum(w["decrypted"] + w["keepalives"] for w in before["workers"])
        enc = sum(w["encrypted"] for w in sent_after["workers"]) - sum(w["encrypted"] for w in sent_before["workers"])
        self.assertLessEqual(dec, enc + self.control_sent(sent_before, sent_after))
        return before, after, None

    @staticmethod
    def control_sent(before, after):
        return sum(w["from_control"] for w in after["workers"]) - sum(w["from_control"] for w in before["workers"])

    def delta(self, before, after, reason):
        return after["drops"][reason] - before["drops"][reason]

    def test_replayed_ciphertext(self):
        before, after, tap0 = self.capture_and_inject(lambda f: f, "replayed")
        self.assertEqual(self.delta(before, after, "replayed"), 1)

    def test_tampered_ciphertext(self):
        def flip(f):
            f[42 + 14] ^= 0x20  # a fresh counter, so the replay pre-check lets it through ...
            f[-20] ^= 0x40      # ... and a flipped ciphertext bit
            return f
        before, after, tap0 = self.capture_and_inject(flip, "auth_failed")
        self.assertEqual(self.delta(before, after, "auth_failed"), 1)

    def test_tampered_counter_header(self):
        def bump(f):
            f[42 + 15] ^= 0x01  # counter low byte (AAD); a fresh counter, but the tag no longer fits
            f[42 + 14] ^= 0x10
            return f
        before, after, tap0 = self.capture_and_inject(bump, "auth_failed")
        self.assertEqual(self.delta(before, after, "auth_failed"), 1)

    def test_unknown_key_id(self):
        def key(f):
            f[42 + 5] ^= 0x80
            return f
        before, after, tap0 = self.capture_and_inject(key, "unknown_key")
        self.assertEqual(self.delta(before, after, "unknown_key"), 1)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Rekey(unittest.TestCase):
    """rekey = 4: make-before-break rekeying under load. A 12 s TCP stream and then a 10 s UDP
    stream each cross at least two rekeys; every 1 s interval at the receiver moved data (no
    stall at a key change), no UDP datagram is lost, the session never went down."""

    def test_rekey_under_tcp_and_udp_load(self):
        m = OverlayMesh(["alpha", "beta"], "udp", extra="rekey = 4")
        try:
            a, b = m.node("alpha"), m.node("beta")
            rekeys0 = m.peer("alpha", "beta")["rekeys"] + m.peer("beta", "alpha")["rekeys"]
            res = iperf(self, a, b, overlay_ip(2), ["-t", "12"])
            self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
            assert_every_interval_moved_data(self, res, "TCP across rekeys")
            pa, pb = m.peer("alpha", "beta"), m.peer("beta", "alpha")
            rekeys1 = pa["rekeys"] + pb["rekeys"]
            self.assertGreaterEqual(rekeys1 - rekeys0, 2, (pa, pb))
            res = udp_stream(self, m, a, b, overlay_ip(2), ["-u", "-b", "20M", "-l", "1200", "-t", "10"])
            assert_every_interval_moved_data(self, res, "UDP across rekeys")
            self.assertGreater(udp_loss(res)[1], 10000)
            pa, pb = m.peer("alpha", "beta"), m.peer("beta", "alpha")
            self.assertGreaterEqual(pa["rekeys"] + pb["rekeys"] - rekeys1, 2, (pa, pb))
            for p in (pa, pb):
                self.assertEqual(p["ups"], 1, p)
                self.assertEqual(p["downs"], 0, p)
                self.assertEqual(p["state"], "up")
            for n in (a, b):
                d = n.ctl("status")["drops"]
                self.assertEqual(d["auth_failed"], 0, d)
                self.assertEqual(d["replayed"], 0, d)
                # A packet still in flight when both ends rekey close together may meet a key the
                # receiver has just retired (seen once under ASan: 1 packet); more is a bug.
                self.assertLessEqual(d["unknown_key"], 2, d)
                self.assertEqual(d["no_session"], 0, d)
        finally:
            m.cleanup()


if __name__ == "__main__":
    tb.main()
