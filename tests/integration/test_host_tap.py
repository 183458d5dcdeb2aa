# SPDX-License-Identifier: MIT
"""dvpe's own TAP port (pmd/host_tap.hh, docs/host-path.md; issue 14 point 1) between two dvped
nodes, the same test bed as test_overlay.py with `port = tap0 overlay dvpe_tap0`:

    ns <tag>-u   bridge br0 (underlay)
       |  u-<node>
    <tag>-<node>   dvped: wan0 = net_af_packet on wan-<node>, tap0 = dvpe_tap dvpe0
                   overlay 10.88.0.N/24 and fd88::N/64

With offloads on, the kernel hands dvped TCP super-frames (TSO4/TSO6, counted rx_superframes)
which are cut into MTU-sized frames before sealing, and the receiver writes runs of one flow's
segments back as one super-frame (tx_merged): TCP over IPv4 and IPv6 both ways, UDP, ping, and
every worker's counters balance. offload=off moves one frame per system call (no super-frames)
and works the same. Two workers share one multi-queue TAP. idle-wait = interrupt blocks a
TAP-only worker on its fd.
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


def tap_port(node):
    return [p for p in node.ctl("status")["ports"] if p["name"] == "tap0"][0]


def add_v6(m):
    for i, name in enumerate(m.names, start=1):
        m.node(name).sh(["sysctl", "-qw", "net.ipv6.conf.dvpe0.disable_ipv6=0"])  # the test bed disables it
        m.node(name).sh(["ip", "-6", "addr", "add", "fd88::%d/64" % i, "dev", "dvpe0", "nodad"])


class MemifMesh:
    """alpha and beta with a memif WAN (no kernel between them), dvpe_tap overlays and `extra`
    engine lines; a context manager that removes the memif socket directory too."""

    def __init__(self, extra):
        self.sockdir = tempfile.mkdtemp(prefix="dvpe-memif-")
        try:
            self.m = to.OverlayMesh(["alpha", "beta"], "udp", extra="\n".join(extra), wan=to.memif_wan(self.sockdir),
                                    tap="dvpe_tap0")
        except Exception:
            subprocess.run(["rm", "-rf", self.sockdir])
            raise

    def __enter__(self):
        return self.m

    def __exit__(self, *exc):
        self.m.cleanup()
        subprocess.run(["rm", "-rf", self.sockdir])


def received_bytes(res):
    return res["end"]["sum_received"]["bytes"]


class Offload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = to.OverlayMesh(["alpha", "beta"], "udp", tap="dvpe_tap0")
        add_v6(cls.m)
        cls.a, cls.b = cls.m.node("alpha"), cls.m.node("beta")

    @classmethod
    def tearDownClass(cls):
        cls.m.cleanup()

    def assert_clean(self):
        for n in (self.a, self.b):
            st = n.ctl("status")
            d = st["drops"]
            for r in ("auth_failed", "replayed", "bad_length", "too_big", "no_buffer", "no_session"):
                self.assertEqual(d[r], 0, (n.name, r, self.m.diagnostics()))
            p = tap_port(n)
            self.assertEqual(p["rx_errors"], 0, (n.name, p))  # frames the TAP port refused
            self.assertEqual(p["tx_errors"], 0, (n.name, p))
            for w in st["workers"]:
                self.assertEqual(w["rx_packets"], tb.balance(w), (n.name, w))

    def test_status_names_the_interface_and_its_offloads(self):
        p = tap_port(self.a)
        self.assertEqual(p["driver"], "dvpe_tap")
        self.assertEqual(p["tap"]["ifname"], "dvpe0")
        for o in ("csum", "tso4", "tso6"):
            self.assertIn(o, p["tap"]["offloads"].split(), p)
        self.assertEqual(p["mac"], to.overlay_mac(1))
        link = tb.sh(["ip", "-j", "link", "show", "dvpe0"], ns=self.a.ns).stdout
        self.assertIn(to.overlay_mac(1), link)

    def test_ping_ipv4_and_ipv6(self):
        for dst in ("10.88.0.2", "fd88::2"):
            r = tb.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", dst], ns=self.a.ns, check=False)
            self.assertEqual(r.returncode, 0, dst + "\n" + r.stdout + self.m.diagnostics())
        # Large pings: the full overlay MTU, and one the kernel fragments.
        for size in ("1372", "4000"):
            r = tb.sh(["ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", size, "10.88.0.2"], ns=self.a.ns, check=False)
            self.assertEqual(r.returncode, 0, size + "\n" + r.stdout)

    def tcp(self, dst, reverse):
        before_a, before_b = tap_port(self.a)["tap"], tap_port(self.b)["tap"]
        res = to.iperf(self, self.a, self.b, dst, ["-t", "3"] + (["-R"] if reverse else []))
        self.assertGreater(received_bytes(res), 10 * 1000 * 1000, res["end"])
        sender, receiver = (self.b, self.a) if reverse else (self.a, self.b)
        sb, rb = (before_b, before_a) if reverse else (before_a, before_b)
        s, r = tap_port(sender)["tap"], tap_port(receiver)["tap"]
        # The sender's kernel handed over super-frames; the receiver wrote merged runs.
        self.assertGreater(s["rx_superframes"] - sb["rx_superframes"], 10, s)
        self.assertGreater(r["tx_merged"] - rb["tx_merged"], 100, r)
        self.assert_clean()

    def test_tcp_ipv4(self):
        self.tcp("10.88.0.2", reverse=False)

    def test_tcp_ipv4_reverse(self):
        self.tcp("10.88.0.2", reverse=True)

    def test_tcp_ipv6(self):
        self.tcp("fd88::2", reverse=False)

    def udp(self, dst):
        before = tap_port(self.b)["tap"]
        res = to.iperf(self, self.a, self.b, dst, ["-u", "-b", "100M", "-l", "1380", "-t", "2"])
        lost, packets, _ = to.udp_loss(res)
        self.assertGreater(packets, 1000)
        self.assertLess(lost, packets * to.QUEUE_DROP_BOUND)
        after = tap_port(self.b)
        # Where the kernel took USO (>= 6.2), the receiver wrote runs of datagrams as UDP
        # super-frames, which the kernel cut again for iperf3 (its loss count above checks them).
        family = "uso6" if ":" in dst else "uso4"
        if family in after["tap"]["offloads"].split():
            self.assertGreater(after["tap"]["tx_merged"] - before["tx_merged"], 100, after)
        self.assert_clean()

    def test_udp(self):
        self.udp("10.88.0.2")

    def test_udp_ipv6(self):
        self.udp("fd88::2")


class NoOffload(unittest.TestCase):
    """offload=off: plain frames, one per system call, as net_tap."""

    def test_ping_and_tcp_without_offloads(self):
        m = to.OverlayMesh(["alpha", "beta"], "udp", tap="dvpe_tap0,offload=off")
        try:
            a, b = m.node("alpha"), m.node("beta")
            self.assertEqual(tap_port(a)["tap"]["offloads"], "none")
            r = tb.sh(["ping", "-c", "2", "-i", "0.2", "10.88.0.2"], ns=a.ns, check=False)
            self.assertEqual(r.returncode, 0, r.stdout)
            res = to.iperf(self, a, b, "10.88.0.2", ["-t", "2"])
            self.assertGreater(received_bytes(res), 1000 * 1000)
            for n in (a, b):
                t = tap_port(n)["tap"]
                self.assertEqual(t["rx_superframes"], 0, t)
                self.assertEqual(t["tx_merged"], 0, t)
                self.assertEqual(t["rx_reads"], tap_port(n)["rx_packets"], t)
        finally:
            m.cleanup()

    def test_udp_without_uso(self):
        # uso=off: TSO and checksum offload stay; UDP moves one datagram per system call.
        m = to.OverlayMesh(["alpha", "beta"], "udp", tap="dvpe_tap0,uso=off")
        try:
            a, b = m.node("alpha"), m.node("beta")
            offloads = tap_port(a)["tap"]["offloads"].split()
            self.assertIn("tso4", offloads)
            self.assertNotIn("uso4", offloads)
            self.assertNotIn("uso6", offloads)
            res = to.iperf(self, a, b, "10.88.0.2", ["-u", "-b", "100M", "-l", "1380", "-t", "2"])
            lost, packets, _ = to.udp_loss(res)
            self.assertGreater(packets, 1000)
            self.assertLess(lost, packets * to.QUEUE_DROP_BOUND)
            self.assertEqual(tap_port(b)["tap"]["tx_merged"], 0, tap_port(b))
        finally:
            m.cleanup()


class MultiQueue(unittest.TestCase):
    """Two workers share one two-queue TAP (one fd per rx queue; each worker writes through its
    own): 16 TCP flows reach both workers on both nodes (the kernel spreads flows over queues)."""

    def test_two_workers_share_one_tap(self):
        extra = ["worker-lcores = 1,2", "eal-args = --lcores=0@0,1@1,2@1", "queue-map = wan0 0 1",
                 "queue-map = wan0 1 2", "queue-map = tap0 0 1", "queue-map = tap0 1 2"]
        with MemifMesh(extra) as m:
            a, b = m.node("alpha"), m.node("beta")
            to.iperf(self, a, b, to.overlay_ip(2), ["-t", "4", "-P", "16"])
            for n in (a, b):
                st = n.ctl("status")
                self.assertEqual(tap_port(n)["rx_queues"], 2)
                for w in st["workers"]:
                    self.assertGreater(w["rx_packets"], 100, (n.name, w))
                    self.assertGreater(w["encrypted"] + w["decrypted"], 100, (n.name, w))
                    self.assertEqual(w["rx_packets"], tb.balance(w), (n.name, w))
                d = st["drops"]
                self.assertEqual(d["auth_failed"], 0, d)
                self.assertEqual(d["replayed"], 0, d)


class IdleInterrupt(unittest.TestCase):
    """idle-wait = interrupt: a worker polling only the TAP blocks on its fd when idle (its polls
    stop; idle_wakeups counts the waits) and still forwards at once; the WAN worker (memif: no
    rx interrupt vector) falls back to sleeping and the log says why."""

    def test_tap_worker_blocks_and_wakes(self):
        extra = ["idle-wait = interrupt", "worker-lcores = 1,2", "eal-args = --lcores=0@0,1@1,2@1",
                 "queue-map = wan0 0 1", "queue-map = wan0 1 1", "queue-map = tap0 0 2"]
        with MemifMesh(extra) as m:
            a, b = m.node("alpha"), m.node("beta")
            self.assertIn("worker lcore 1 sleeps idle-sleep-us instead (port 0 queue 0 has no rx interrupt", a.log())
            self.assertNotIn("worker lcore 2 sleeps", a.log())
            r = tb.sh(["ping", "-c", "5", "-i", "0.3", "10.88.0.2"], ns=a.ns, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + m.diagnostics())
            res = to.iperf(self, a, b, "10.88.0.2", ["-t", "2"])
            self.assertGreater(received_bytes(res), 1000 * 1000)
            for n in (a, b):
                w1, w2 = n.ctl("status")["workers"]
                self.assertEqual(w1["idle_wakeups"], 0, w1)
                self.assertGreater(w2["idle_wakeups"], 0, w2)  # blocked in epoll, woken by the TAP
                self.assertGreater(w2["rx_packets"], 0, w2)
                for w in (w1, w2):
                    self.assertEqual(w["rx_packets"], tb.balance(w), (n.name, w))


if __name__ == "__main__":
    unittest.main(verbosity=2)
