# SPDX-License-Identifier: MIT
"""Site gateways end to end (docs/site-gateways.md): a site LAN on a DPDK port, bridged or routed.

    ns <tag>-u      bridge br0 (underlay), as in test_overlay
    <tag>-alpha     dvped: wan0 = net_af_packet on wan-alpha, lan0 = net_af_packet on lan-a (gateway A)
       | lan-a <-> gw (veth)
    <tag>-sa        Linux bridge br0 (site A's LAN switch; mcast snooping off) with the hosts' veths
       | h11, h12 ...
    <tag>-h11 ...   one namespace per site host (eth0: own MAC, addresses, routes)
    <tag>-beta      gateway B, the same with lan-b, <tag>-sb and its hosts
    <tag>-gamma     node C: wan0 and the TAP dvpe0 (tap0 overlay), as in test_overlay

Bridge mode: every host in 10.50.0.0/24 and fd00:50::/64, C's TAP is 10.50.0.3 on the same
segment: ARP/ND and pings cross the mesh, TCP runs between the sites, the gateways learn the
MACs (status lan.mac_table), a MAC that moves from site A to site B is re-learned, and a host
flooding random source MACs fills only its gateway's quota on A (mac-limit-per-peer = 1000).
Route mode: site A 10.1.0.0/24 (+ fd00:1::/64) behind A, site B 10.2.0.0/24 (+ fd00:2::/64) behind
B, C owns 10.88.0.3/32; TTL, ICMP errors and anti-spoofing. After each: the counter invariant.

The site hosts' MTU is the LAN port's (status ports[lan0].mtu): the gateway sets it to what a
sealed frame can carry on the WAN, so a host with a larger MTU would send frames the LAN port
cannot take (and the mesh cannot carry without wan-fragment). Route mode: the overlay MTU (1500 -
66 = 1434 with udp). Bridge mode: 8 bytes less (BRIDGE_MTU, control/daemon/daemon.cc
bridge_mtu()): frames between foreign MACs carry their MAC pair, which node-MAC frames elide.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402
import test_overlay as ov  # noqa: E402

NAMES = ["alpha", "beta", "gamma"]
LAN_IF = {"alpha": "lan-a", "beta": "lan-b"}
SITE = {"alpha": "sa", "beta": "sb"}


def node_mac(i):
    return "fe:fd:80:00:00:%02x" % i


# The site hosts' MTU in bridge mode: the largest IP packet a full Ethernet frame (foreign MACs,
# MAC pair carried) can hold over udp4 at mtu = 1500 (docs/protocol.md "Overhead": 62 bytes of
# inner L3 overhead, + 12 for the MAC pair) -- 8 bytes below the overlay MTU (1434); the gateway
# gives its bridged LAN port this MTU (Bridge.test_7_full_frames_carry_8_bytes_less).
BRIDGE_MTU = 1500 - 62 - 12

# engine::mac_hold_down_s (engine/worker.hh): a MAC heard on a gateway's LAN this recently is not
# moved to a peer.
HOLD_DOWN_S = 5


def write_conf(mode, node_extra):
    """gvpe.conf for alpha, beta (gateways with a LAN port in `mode`) and gamma (TAP);
    node_extra[name]: lines for that node's section."""
    d = tempfile.mkdtemp(prefix="dvpe-conf-")
    lines = ["enable-udp = yes", "mtu = 1500", "ifname = dvpe0", "private-key = hostkeys/%s",
             "control-lcore = 0", "worker-lcores = 1", "hugepages = no", "memory-mb = 256",
             "rx-descriptors = 512", "tx-descriptors = 512", "idle-sleep-us = 200", "keepalive = 60"]
    for i, name in enumerate(NAMES, start=1):
        lines += ["", "node = %s" % name, "hostname = 10.77.0.%d" % i,
                  "port = wan0 wan net_af_packet0,iface=wan-%s" % name,
                  "wan-address = wan0 10.77.0.%d/24" % i]
        if name in LAN_IF:
            lines.append("port = lan0 %s net_af_packet1,iface=%s" % (mode, LAN_IF[name]))
        else:
            lines.append("port = tap0 overlay net_tap0,iface=dvpe0")
        lines += node_extra.get(name, [])
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return d


class SiteMesh:
    """The three nodes, the two site LANs (hosts added with add_host) and helpers."""

    def __init__(self, mode, node_extra):
        conf = write_conf(mode, node_extra)
        try:
            self.mesh = tb.Mesh({n: "10.77.0.%d" % i for i, n in enumerate(NAMES, start=1)}, conf)
        finally:
            subprocess.run(["rm", "-rf", conf])
        self.hosts = {}
        try:
            self.site_ns = {}
            for gw in ("alpha", "beta"):
                ns = self.mesh.add_namespace(SITE[gw])
                self.site_ns[gw] = ns
                tb.sh(["ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"], ns=ns)
                tb.sh(["ip", "link", "add", "gw", "type", "veth", "peer", "name", LAN_IF[gw], "netns",
                       self.node(gw).ns], ns=ns)
                tb.sh(["ip", "link", "set", "gw", "master", "br0", "up"], ns=ns)
                tb.tx_checksum_off(ns, "gw")  # complete checksums before the gateway's af_packet port
                tb.sh(["ip", "link", "set", "br0", "up"], ns=ns)
                self.node(gw).sh(["ip", "link", "set", LAN_IF[gw], "up"])
            for n in self.mesh.nodes.values():
                n.start()
            self.wait_up()
            # The LAN port's MTU: the overlay MTU for routed (node-MAC) frames; for bridged frames
            # to foreign MACs, which travel whole (the MAC pair, 12 bytes, is not elided), only
            # 1500 - 62 (udp4 inner overhead) - 12 = 1426 (BRIDGE_MTU). The site's links follow it.
            self.lan_mtu = self.port(self.node("alpha"), "lan0")["mtu"]
            overlay = self.node("alpha").ctl("config")["overlay_mtu"]
            assert overlay == 1434, overlay
            assert self.lan_mtu == (BRIDGE_MTU if mode == "bridge" else overlay), self.lan_mtu
            self.mtu = self.lan_mtu
            for gw in ("alpha", "beta"):
                tb.sh(["ip", "link", "set", "gw", "mtu", str(self.lan_mtu)], ns=self.site_ns[gw])
                tb.sh(["ip", "link", "set", "br0", "mtu", str(self.mtu)], ns=self.site_ns[gw])
        except Exception:
            self.mesh.cleanup()
            raise

    def node(self, name):
        return self.mesh.nodes[name]

    @staticmethod
    def port(node, name):
        return [p for p in node.ctl("status")["ports"] if p["name"] == name][0]

    def wait_up(self, timeout=30):
        def up():
            return all(p["state"] == "up" for n in NAMES for p in self.node(n).ctl("peers")["peers"])
        tb.wait_until(up, timeout, "all sessions up", self.diagnostics)

    def add_host(self, name, gw, mac, addrs, routes=(), ipv6=False):
        """A host namespace <tag>-<name> on gw's site LAN: eth0 with mac, addrs (CIDR strings;
        IPv6 without DAD) and routes (argument lists for `ip route add`)."""
        ns = self.mesh.add_namespace(name, ipv6=ipv6)
        site = self.site_ns[gw]
        tb.sh(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", ns], ns=site)
        tb.sh(["ip", "link", "set", name, "mtu", str(self.mtu), "master", "br0", "up"], ns=site)
        tb.sh(["ip", "link", "set", "eth0", "address", mac, "mtu", str(self.mtu), "up"], ns=ns)
        for a in addrs:
            tb.sh(["ip", "addr", "add", a, "dev", "eth0"] + (["nodad"] if ":" in a else []), ns=ns)
        for r in routes:
            tb.sh(["ip"] + (["-6"] if ":" in r[0] else []) + ["route", "add"] + list(r), ns=ns)
        self.hosts[name] = ns
        return ns

    def del_host(self, name):
        self.mesh.del_namespace(self.hosts.pop(name))

    def hsh(self, host, cmd, check=True, timeout=60):
        return tb.sh(cmd, ns=self.hosts[host], check=check, timeout=timeout)

    def diagnostics(self):
        out = []
        for n in NAMES:
            try:
                st = self.node(n).ctl("status")
                out.append("%s drops %s" % (n, {k: v for k, v in st["drops"].items() if v}))
                if "lan" in st:
                    lan = dict(st["lan"])
                    if "mac_table" in lan:
                        lan["mac_table"] = {k: v for k, v in lan["mac_table"].items() if k != "entries"}
                    out.append("%s lan %s" % (n, json.dumps(lan)))
                out.append("%s peers %s" % (n, json.dumps([(p["name"], p["state"]) for p in st["peers"]]
                                                          if isinstance(st.get("peers"), list) else st.get("peers"))))
            except Exception as e:  # noqa: BLE001 (diagnostics only)
                out.append("%s: %s" % (n, e))
        return "\n" + "\n".join(out)

    def ping(self, tc, host, dst, count=5, need=None, args=(), node=None):
        """Pings dst from host (or from node's namespace); asserts at least `need` replies
        (default count - 1: one echo lost on a loaded 2-CPU machine is tolerated)."""
        cmd = ["ping"] + (["-6"] if ":" in dst else []) + ["-c", str(count), "-i", "0.2", "-W", "2"] + \
            list(args) + [dst]
        r = self.node(node).sh(cmd, check=False) if node else self.hsh(host, cmd, check=False)
        got = re.search(r"(\d+) received", r.stdout)
        received = int(got.group(1)) if got else 0
        tc.assertGreaterEqual(received, count - 1 if need is None else need,
                              "%s -> %s\n%s%s%s" % (host or node, dst, r.stdout, r.stderr, self.diagnostics()))
        return r

    def ping_until(self, tc, host, dst, timeout):
        """One echo at a time until one is answered, for at most `timeout` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.hsh(host, ["ping", "-c", "1", "-W", "1", dst], check=False)
            if r.returncode == 0:
                return
        tc.fail("%s -> %s: no answer in %d s%s" % (host, dst, timeout, self.diagnostics()))

    def iperf(self, tc, client, server, server_ip, args=("-t", "3")):
        class H:  # the namespace shape test_overlay.iperf wants
            def __init__(self, ns):
                self.ns = ns
        return ov.iperf(tc, H(self.hosts[client]), H(self.hosts[server]), server_ip, list(args))

    def assert_balance(self, tc):
        for n in NAMES:
            st = tb.settle(lambda: tb.traffic_counters(self.node(n).ctl("status")))
            for w in self.node(n).ctl("status")["workers"]:
                tc.assertEqual(w["rx_packets"], tb.balance(w), "%s: %s" % (n, json.dumps(w)))

    def cleanup(self):
        self.mesh.cleanup()


def mac_table(node):
    return node.ctl("status")["lan"]["mac_table"]


def entry(table, mac):
    for e in table["entries"]:
        if e["mac"] == mac:
            return e
    return None


# Bridge mode hosts: (name, gateway, MAC, IPv4, IPv6)
BRIDGE_HOSTS = [("h11", "alpha", "02:50:00:00:00:11", "10.50.0.11", "fd00:50::11"),
                ("h12", "alpha", "02:50:00:00:00:12", "10.50.0.12", "fd00:50::12"),
                ("h21", "beta", "02:50:00:00:00:21", "10.50.0.21", "fd00:50::21"),
                ("h22", "beta", "02:50:00:00:00:22", "10.50.0.22", "fd00:50::22")]
HOST = {h[0]: h for h in BRIDGE_HOSTS}

# A site B host writes broadcast frames with random (unicast, locally administered) source MACs.
FLOOD = r'''
import os, socket, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
rnd = os.urandom(6 * n)
tail = b"\x88\xb5" + b"dvpe-mac-flood".ljust(46, b"\0")
sent = 0
for i in range(n):
    src = bytes([(rnd[6 * i] & 0xfc) | 0x02]) + rnd[6 * i + 1:6 * i + 6]
    try:
        s.send(b"\xff" * 6 + src + tail)
        sent += 1
    except OSError:
        pass
print(sent)
'''


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Bridge(unittest.TestCase):
    """`port = lan0 bridge`: the two site LANs and C's TAP are one Ethernet segment."""

    @classmethod
    def setUpClass(cls):
        cls.m = SiteMesh("bridge", {"alpha": ["mac-limit-per-peer = 1000"]})
        try:
            for name, gw, mac, ip4, ip6 in BRIDGE_HOSTS:
                cls.m.add_host(name, gw, mac, [ip4 + "/24", ip6 + "/64"], ipv6=True)
            cls.m.node("gamma").sh(["ip", "addr", "add", "10.50.0.3/24", "dev", "dvpe0"])
            cls.m.node("gamma").sh(["ip", "link", "set", "dvpe0", "up"])
        except Exception:
            cls.m.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()

    def test_1_ping_across_sites_ipv4_ipv6(self):
        m = self.m
        for src, dst in (("h11", "h21"), ("h21", "h12"), ("h22", "h11"), ("h12", "h22")):
            m.ping(self, src, HOST[dst][3])
            m.ping(self, src, HOST[dst][4])
        m.ping(self, "h11", "10.50.0.12")  # within site A: the Linux bridge, not the mesh

    def test_2_iperf_tcp_between_sites(self):
        res = self.m.iperf(self, "h11", "h21", "10.50.0.21", ("-t", "3"))
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
        res = self.m.iperf(self, "h22", "h12", "10.50.0.12", ("-t", "3", "-R"))
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)

    def test_3_tap_node_and_site_hosts_resolve_each_other(self):
        # Broadcasts cross: gamma's ARP request reaches the site hosts (flooded by the gateways
        # to their LANs) and their replies to gamma's node MAC come back.
        m = self.m
        for ip, mac in (("10.50.0.11", HOST["h11"][2]), ("10.50.0.22", HOST["h22"][2])):
            m.node("gamma").sh(["ping", "-c", "1", "-W", "1", ip], check=False)
            neigh = m.node("gamma").sh(["ip", "neigh", "show", ip, "dev", "dvpe0"]).stdout
            self.assertIn(mac, neigh, neigh + m.diagnostics())

    def test_3b_tap_node_unicasts_to_site_hosts(self):
        # A node with only a TAP (gamma) keeps a MAC table too (site_lan.cc create_learn_ring):
        # its unicast to a site host's MAC is flooded until the table has learned, from the
        # host's authenticated frames, which gateway it sits behind; then sealed to that one.
        m = self.m
        m.ping(self, None, "10.50.0.11", node="gamma")
        m.ping(self, None, "10.50.0.22", node="gamma")
        m.ping(self, "h21", "10.50.0.3")
        t = m.node("gamma").ctl("status")["lan"]["mac_table"]
        self.assertGreaterEqual(t["by_owner"].get("1", 0), 1, t)
        self.assertGreaterEqual(t["by_owner"].get("2", 0), 1, t)

    def test_4_mac_table_learned(self):
        m = self.m
        m.ping(self, "h11", "10.50.0.21")
        m.ping(self, "h12", "10.50.0.22")
        for gw, local, remote, remote_id in (("alpha", ("h11", "h12"), ("h21", "h22"), 2),
                                             ("beta", ("h21", "h22"), ("h11", "h12"), 1)):
            t = mac_table(m.node(gw))
            self.assertGreater(t["size"], 0, t)
            self.assertGreater(t["learned"], 0, t)
            for h in local:
                e = entry(t, HOST[h][2])
                self.assertIsNotNone(e, "%s: %s not learned: %s" % (gw, h, json.dumps(t)))
                self.assertEqual(e["owner"], 0, (gw, h, e))
                self.assertFalse(e["static"])
            for h in remote:
                e = entry(t, HOST[h][2])
                self.assertIsNotNone(e, "%s: %s not learned: %s" % (gw, h, json.dumps(t)))
                self.assertEqual(e["owner"], remote_id, (gw, h, e))
            self.assertGreaterEqual(t["by_owner"].get("0", 0), 2, t["by_owner"])

    def test_5_mac_moves_from_site_a_to_site_b(self):
        m = self.m
        name, _, mac, ip4, ip6 = HOST["h12"]
        m.ping(self, "h12", "10.50.0.21")
        self.assertEqual(entry(mac_table(m.node("alpha")), mac)["owner"], 0)
        moved_a, moved_b = mac_table(m.node("alpha"))["moved"], mac_table(m.node("beta"))["moved"]
        m.del_host("h12")
        m.add_host("h12b", "beta", mac, [ip4 + "/24", ip6 + "/64"], ipv6=True)
        try:
            m.ping(self, "h12b", "10.50.0.21")  # inside site B: beta learns the MAC on its LAN
            # Across: alpha learns it behind beta -- once the MAC has been quiet on site A for
            # the hold-down (docs/site-gateways.md "Trust": until then beta's frames from it are
            # mac_conflict, so a peer cannot take a live local host's MAC; lan_test pins the
            # exact rule).
            m.ping_until(self, "h12b", "10.50.0.11", HOLD_DOWN_S + 10)
            m.ping(self, "h11", "10.50.0.12")
            tb.wait_until(lambda: entry(mac_table(m.node("alpha")), mac)["owner"] == 2, 5, "alpha: MAC at beta",
                          lambda: str(entry(mac_table(m.node("alpha")), mac)))
            tb.wait_until(lambda: entry(mac_table(m.node("beta")), mac)["owner"] == 0, 5, "beta: MAC local",
                          lambda: str(entry(mac_table(m.node("beta")), mac)))
            self.assertGreater(mac_table(m.node("alpha"))["moved"], moved_a)
            self.assertGreater(mac_table(m.node("beta"))["moved"], moved_b)
        finally:
            m.del_host("h12b")  # back to site A for the later tests
            m.add_host("h12", "alpha", mac, [ip4 + "/24", ip6 + "/64"], ipv6=True)
        m.ping_until(self, "h12", "10.50.0.22", HOLD_DOWN_S + 10)  # beta lets it go after the hold-down
        tb.wait_until(lambda: entry(mac_table(m.node("alpha")), mac)["owner"] == 0, 5, "alpha: MAC back home",
                      lambda: str(entry(mac_table(m.node("alpha")), mac)))

    def test_6_random_source_mac_flood_is_capped(self):
        m = self.m
        a = m.node("alpha")
        t0 = mac_table(a)
        self.assertEqual(t0["limits"]["per_owner"], 1000, t0["limits"])
        r = m.hsh("h22", [sys.executable, "-c", FLOOD, "100000"], timeout=120)
        self.assertGreater(int(r.stdout.strip()), 50000, r.stdout)
        tb.settle(lambda: tb.traffic_counters(a.ctl("status")), timeout=30, quiet=0.5)
        t = mac_table(a)
        self.assertLessEqual(t["by_owner"].get("2", 0), 1000, t["by_owner"])
        self.assertGreaterEqual(t["by_owner"].get("2", 0), 900, t["by_owner"])  # it did fill its quota
        self.assertGreater(t["limit_dropped"], t0["limit_dropped"], {k: v for k, v in t.items() if k != "entries"})
        self.assertLessEqual(t["size"], t["limits"]["total"])
        # The other hosts' traffic still flows, and site A's entries are still there.
        m.ping(self, "h11", "10.50.0.21")
        m.ping(self, "h12", "10.50.0.22")
        m.ping(self, "h11", "fd00:50::21")
        t = mac_table(a)
        for h in ("h11", "h12"):
            e = entry(t, HOST[h][2])
            self.assertIsNotNone(e, "%s lost from alpha's table: %s" % (h, t["by_owner"]))
            self.assertEqual(e["owner"], 0)

    def test_7_full_frames_carry_8_bytes_less(self):
        m = self.m
        # The LAN port's MTU is what a full frame can carry (setUp asserts BRIDGE_MTU), and the
        # largest packet of that size crosses with DF set, both ways.
        m.ping(self, "h11", "10.50.0.21", args=("-M", "do", "-s", str(BRIDGE_MTU - 28)))
        m.ping(self, "h22", "10.50.0.12", args=("-M", "do", "-s", str(BRIDGE_MTU - 28)))
        self.assertEqual(m.port(m.node("beta"), "lan0")["mtu"], BRIDGE_MTU)

    def test_9_counters_balance(self):
        self.m.assert_balance(self)


# Route mode hosts: (name, gateway, MAC, IPv4, IPv6)
ROUTE_HOSTS = [("r11", "alpha", "02:10:00:00:00:11", "10.1.0.11", "fd00:1::11"),
               ("r12", "alpha", "02:10:00:00:00:12", "10.1.0.12", "fd00:1::12"),
               ("r21", "beta", "02:20:00:00:00:21", "10.2.0.21", "fd00:2::21")]
RHOST = {h[0]: h for h in ROUTE_HOSTS}
GW4 = {"alpha": "10.1.0.1", "beta": "10.2.0.1"}
GW6 = {"alpha": "fd00:1::1", "beta": "fd00:2::1"}

# Writes IPv4/UDP packets to dport 9999 from the given source addresses out of eth0, to the
# gateway's MAC (raw: the kernel would not send from an address it does not have).
SEND_UDP = r'''
import os, socket, struct, sys
dst_mac, src_mac, dst = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((os.environ.get("IFACE", "eth0"), 0))
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    return ~(t + (t >> 16)) & 0xffff
for src in sys.argv[4:]:
    payload = ("dvpe-spoof " + src).encode()
    udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dst_mac + src_mac + b"\x08\x00" + ip + udp)
'''

# Prints the source address of every IPv4/UDP packet to port 9999 arriving on eth0 for `secs`.
CAPTURE_UDP = r'''
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0)); s.settimeout(0.2)
print("ready", flush=True)
deadline = time.time() + float(sys.argv[1])
while time.time() < deadline:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x27\x0f":
        print(socket.inet_ntoa(f[26:30]), flush=True)
'''


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Route(unittest.TestCase):
    """`port = lan0 route`: site A 10.1.0.0/24 behind alpha, site B 10.2.0.0/24 behind beta,
    gamma's TAP address 10.88.0.3/32; longest prefix match, TTL, ICMP errors, anti-spoofing."""

    @classmethod
    def setUpClass(cls):
        extra = {"alpha": ["lan-address = lan0 10.1.0.1/24", "lan-address = lan0 fd00:1::1/64",
                           "route = 10.1.0.0/24", "route = fd00:1::/64"],
                 "beta": ["lan-address = lan0 10.2.0.1/24", "lan-address = lan0 fd00:2::1/64",
                          "route = 10.2.0.0/24", "route = fd00:2::/64"],
                 "gamma": ["route = 10.88.0.3/32"]}
        cls.m = SiteMesh("route", extra)
        try:
            for name, gw, mac, ip4, ip6 in ROUTE_HOSTS:
                cls.m.add_host(name, gw, mac, [ip4 + "/24", ip6 + "/64"], ipv6=True,
                               routes=[("default", "via", GW4[gw]), ("default", "via", GW6[gw])])
            g = cls.m.node("gamma")
            g.sh(["ip", "addr", "add", "10.88.0.3/24", "dev", "dvpe0"])
            g.sh(["ip", "link", "set", "dvpe0", "up"])
            for net in ("10.1.0.0/24", "10.2.0.0/24"):
                gw_id = 1 if net.startswith("10.1.") else 2
                g.sh(["ip", "neigh", "replace", "10.88.0.%d" % gw_id, "lladdr", node_mac(gw_id), "dev", "dvpe0",
                      "nud", "permanent"])
                g.sh(["ip", "route", "add", net, "via", "10.88.0.%d" % gw_id, "dev", "dvpe0", "onlink"])
        except Exception:
            cls.m.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()

    def test_1_ping_across_sites(self):
        m = self.m
        # The first echoes to a host the gateway has not resolved yet are dropped while it asks
        # (lan_unresolved): 5 echoes, at least 3 answered.
        m.ping(self, "r11", "10.2.0.21", need=3)
        r = m.ping(self, "r21", "10.1.0.12", need=3)
        m.ping(self, "r11", "10.2.0.21")
        # two routers on the way: the reply's TTL 64 arrives as 62
        r = m.ping(self, "r11", "10.2.0.21", count=2)
        self.assertIn("ttl=62", r.stdout, r.stdout)
        st = m.node("alpha").ctl("status")["lan"]
        self.assertEqual(st["mode"], "route")
        self.assertEqual(st["routes"], 5, st)
        self.assertGreaterEqual(st["lan_hosts"], 2, st)

    def test_2_ping_ipv6_across_sites(self):
        m = self.m
        m.ping(self, "r11", "fd00:2::21", need=3)
        r = m.ping(self, "r21", "fd00:1::11", count=3)
        self.assertIn("ttl=62", r.stdout, r.stdout)

    def test_3_gateway_address_answers(self):
        m = self.m
        m.ping(self, "r11", "10.1.0.1")
        m.ping(self, "r21", "10.2.0.1")
        m.ping(self, "r12", "fd00:1::1")

    def test_4_iperf_tcp_between_sites(self):
        m = self.m
        m.ping(self, "r12", "10.2.0.21", need=3)
        res = m.iperf(self, "r12", "r21", "10.2.0.21", ("-t", "3"))
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)
        res = m.iperf(self, "r11", "r21", "10.2.0.21", ("-t", "3", "-R"))
        self.assertGreater(res["end"]["sum_received"]["bytes"], 0)

    def test_5_tap_node_reaches_both_sites(self):
        m = self.m
        m.ping(self, None, "10.1.0.11", node="gamma", need=3)
        m.ping(self, None, "10.2.0.21", node="gamma", need=3)
        m.ping(self, "r12", "10.88.0.3", need=3)

    def test_6_ttl_expires_at_the_gateway(self):
        r = self.m.hsh("r11", ["ping", "-c", "1", "-W", "2", "-t", "1", "10.2.0.21"], check=False)
        self.assertRegex(r.stdout, r"From 10\.1\.0\.1 .*Time to live exceeded", r.stdout + self.m.diagnostics())
        d = self.m.node("alpha").ctl("status")["drops"]
        self.assertGreaterEqual(d["ttl_expired"], 1, d)

    def test_7_no_owner_is_net_unreachable(self):
        r = self.m.hsh("r11", ["ping", "-c", "1", "-W", "2", "10.9.9.9"], check=False)
        self.assertRegex(r.stdout, r"From 10\.1\.0\.1 .*Destination Net Unreachable", r.stdout)
        d = self.m.node("alpha").ctl("status")["drops"]
        self.assertGreaterEqual(d["no_prefix"], 1, d)

    def test_8_spoofed_sources_are_dropped(self):
        # Cryptokey routing both ways: a gateway routes from its LAN only sources in its own
        # prefixes (beta drops site B's spoofs at the edge), and accepts from a node only
        # sources that node owns (alpha drops what gamma's TAP sends from an address not its own:
        # a TAP node routes nothing and so checks nothing).
        m = self.m
        a, b = m.node("alpha"), m.node("beta")
        m.ping(self, "r21", "10.1.0.11", need=3)  # alpha knows r11's MAC
        spoof_a = a.ctl("status")["drops"]["spoofed_source"]
        spoof_b = b.ctl("status")["drops"]["spoofed_source"]
        cap = subprocess.Popen(["ip", "netns", "exec", m.hosts["r11"], sys.executable, "-c", CAPTURE_UDP, "4"],
                               stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(cap.stdout.readline().strip(), "ready")
            # 10.7.7.7: nobody's; 10.1.0.99: site A's own prefix; 10.2.0.21: r21's real address
            m.hsh("r21", [sys.executable, "-c", SEND_UDP, node_mac(2).replace(":", ""),
                          RHOST["r21"][2].replace(":", ""), "10.1.0.11", "10.7.7.7", "10.1.0.99", "10.2.0.21"])
            # gamma's TAP: from 10.7.7.8 (not its 10.88.0.3/32) to alpha's node MAC
            m.node("gamma").sh(["env", "IFACE=dvpe0", sys.executable, "-c", SEND_UDP, node_mac(1).replace(":", ""),
                                node_mac(3).replace(":", ""), "10.1.0.11", "10.7.7.8", "10.88.0.3"])
            out, _ = cap.communicate(timeout=15)
        finally:
            if cap.poll() is None:
                cap.kill()
        seen = out.split()
        for genuine in ("10.2.0.21", "10.88.0.3"):
            self.assertIn(genuine, seen, "the genuine packet did not arrive (capture broken?) %s%s"
                          % (seen, m.diagnostics()))
        for spoof in ("10.7.7.7", "10.1.0.99", "10.7.7.8"):
            self.assertNotIn(spoof, seen)
        tb.wait_until(lambda: b.ctl("status")["drops"]["spoofed_source"] >= spoof_b + 2, 5,
                      "beta: 2 spoofed_source drops", lambda: str(b.ctl("status")["drops"]))
        tb.wait_until(lambda: a.ctl("status")["drops"]["spoofed_source"] >= spoof_a + 1, 5,
                      "alpha: 1 spoofed_source drop", lambda: str(a.ctl("status")["drops"]))
        self.assertEqual(b.ctl("status")["drops"]["spoofed_source"], spoof_b + 2)
        self.assertEqual(a.ctl("status")["drops"]["spoofed_source"], spoof_a + 1)
        per_worker = sum(w["drops"]["spoofed_source"] for w in a.ctl("status")["workers"])
        self.assertEqual(per_worker, spoof_a + 1)

    def test_9_counters_balance(self):
        self.m.assert_balance(self)


if __name__ == "__main__":
    tb.main()
