# SPDX-License-Identifier: MIT
"""Exact counters of a short load test through two dvped nodes (issue 6, point 5).

    testpmd txonly -> node A overlay (memif) -> A seals -> memif WAN -> B opens -> node B overlay
    (memif) -> testpmd rxonly

perf/loadtest.py runs the chain (real keys, real handshakes, AES-256-GCM, --no-huge everywhere,
no kernel in the path) for two seconds and takes the counters of every hop as deltas over the run:
testpmd's port statistics and dvped's `status` (ports, workers, drops, peers). Every count that
must be equal is asserted equal, with the drops on the way named (tx_failed: a full tx ring);
nothing here depends on the rate reached. With 256 free hugepages the same check runs with
net_vhost overlay ports and testpmd on net_virtio_user (the pair pktgen-dpdk needs).
No process, socket, DPDK runtime dir or hugepage file of the run may remain afterwards.
"""
import atexit
import os
import signal
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "perf"))
sys.path.insert(0, HERE)
import loadtest  # noqa: E402
import dvpe_netns as tb  # noqa: E402  (main(), sanitizer_reports(); none of its meshes)

_live = []


def _cleanup_all(*_):
    for lt in list(_live):
        lt.cleanup()


atexit.register(_cleanup_all)


def _on_term(signum, _frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


def build_dir():
    return os.environ.get("DVPE_BUILD", os.path.join(TOP, "build"))


class Usage(unittest.TestCase):
    """Bad input is refused with a message before anything starts (no root needed)."""

    def test_bad_frame_size(self):
        with self.assertRaisesRegex(loadtest.LoadTestError, r"frame size 2000 is outside 60\.\.1448"):
            loadtest.LoadTest(build_dir(), size=2000)

    def test_bad_overlay(self):
        with self.assertRaisesRegex(loadtest.LoadTestError, "overlay must be memif or vhost"):
            loadtest.LoadTest(build_dir(), overlay="tap")

    def test_cli_bad_size_is_usage_error(self):
        r = subprocess.run([sys.executable, os.path.join(TOP, "perf", "loadtest.py"), "--size", "10"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--size 10 is outside 60..1448", r.stderr)


class PktgenCompare(unittest.TestCase):
    """--compare of a pktgen run (docs/loadtest.md): pktgen's latency probes are frames of
    another size in its counters; the byte checks then compare hop to hop, and still catch a
    byte lost on the way. Synthetic counters, no DPDK."""

    @staticmethod
    def node(**kv):
        s = {"uptime_s": 0.0}
        for port in ("wan", "ovl"):
            for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_missed", "rx_nombuf", "rx_errors",
                      "tx_errors"):
                s["%s_%s" % (port, k)] = 0
        for k in ("rx_packets", "tx_packets", "encrypted", "decrypted", "keepalives", "to_control", "from_control",
                  "relayed", "arp_replies", "icmp_echo_replies"):
            s["worker_" + k] = 0
        for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "keepalives_received"):
            s["peer_" + k] = 0
        for k in ("auth_failed", "replayed", "unknown_key", "tx_failed"):
            s["drop_" + k] = 0
        s.update(kv)
        return s

    def run_eval(self, lose_a_byte=False):
        # 1000 frames of 60 B and 10 probes of 100 B: 61000 B
        n, b = 1010, 1000 * 60 + 10 * 100
        a = self.node(ovl_rx_packets=n, ovl_rx_bytes=b, worker_rx_packets=n, worker_encrypted=n, peer_tx_packets=n,
                      peer_tx_bytes=b, wan_tx_packets=n, wan_tx_bytes=n * 100)
        bb = self.node(wan_rx_packets=n, wan_rx_bytes=n * 100, peer_rx_packets=n, peer_rx_bytes=b - lose_a_byte,
                       worker_decrypted=n, ovl_tx_packets=n, ovl_tx_bytes=b)
        zero = {1: self.node(), 2: self.node()}
        return loadtest.evaluate("net_vhost", 60, "pktgen", zero, {1: a, 2: bb}, None, None,
                                 {"tx_packets": n, "tx_bytes": b}, None, {"rx_packets": n, "rx_bytes": b}, None, 10.0,
                                 one_size=False)

    def test_probes_of_another_size_pass_hop_to_hop(self):
        res = self.run_eval()
        self.assertTrue(res["ok"], [c for c in res["checks"] if not c["ok"]])
        self.assertIn("A peer tx_bytes == A ovl rx_bytes (frames of several sizes)", [c["check"] for c in res["checks"]])

    def test_a_lost_byte_is_still_caught(self):
        res = self.run_eval(lose_a_byte=True)
        self.assertFalse(res["ok"])
        self.assertEqual([c["check"] for c in res["checks"] if not c["ok"]],
                         ["B peer rx_bytes == B ovl tx_bytes (frames of several sizes)"])


@unittest.skipUnless(os.geteuid() == 0, "needs root (DPDK)")
class Counters(unittest.TestCase):
    def run_chain(self, overlay, size):
        lt = loadtest.LoadTest(build_dir(), overlay=overlay, seconds=2.0, size=size, log=lambda *a: None)
        _live.append(lt)
        exits = {}
        try:
            res = lt.run()
        finally:
            # Each dvped must exit 0 on SIGTERM (loadtest's stop() SIGKILLs after 20 s) and leave
            # no sanitizer report in its log; read both before cleanup() removes the logs.
            for name, n in lt.nodes.items():
                n.stop()
                exits[name] = (n.proc.returncode, tb.sanitizer_reports(n.log(tail=10 ** 7)), n.log())
            lt.cleanup()
            _live.remove(lt)
        for name, (rc, reports, log) in exits.items():
            self.assertEqual(rc, 0, "dvped %s exit code after SIGTERM:\n%s" % (name, log))
            self.assertEqual(reports, [], "dvped %s sanitizer report:\n%s" % (name, log))
        self.assert_clean(lt)
        a, b, gen, sink = res["node_a"], res["node_b"], res["generator"], res["sink"]
        msg = "\n" + "\n".join("%s: %d vs %d" % (c["check"], c["lhs"], c["rhs"]) for c in res["checks"])
        # Traffic went end to end.
        self.assertGreater(gen["tx_packets"], 0, msg)
        self.assertGreater(sink["rx_packets"], 0, msg)
        # The three hops of the issue, with the drops between them named.
        self.assertEqual(gen["tx_packets"], a["ovl_rx_packets"], msg)
        self.assertEqual(gen["tx_bytes"], a["ovl_rx_bytes"], msg)
        self.assertEqual(a["peer_tx_packets"], b["peer_rx_packets"] + res["drops_a"].get("tx_failed", 0), msg)
        self.assertEqual(b["ovl_tx_packets"], sink["rx_packets"], msg)
        self.assertEqual(b["ovl_tx_bytes"], sink["rx_bytes"], msg)
        # The only drops: a full tx ring (A towards the WAN, B towards the sink). No frame is
        # refused for any other reason, and nothing fails authentication or the replay window.
        self.assertEqual(set(res["drops_a"]) - {"tx_failed"}, set(), res["drops_a"])
        self.assertEqual(set(res["drops_b"]) - {"tx_failed"}, set(), res["drops_b"])
        # Every other per-hop identity perf/loadtest.py checks (ports vs workers vs peers).
        for c in res["checks"]:
            with self.subTest(check=c["check"]):
                self.assertEqual(c["lhs"], c["rhs"], c["why"])
        self.assertTrue(res["ok"])

    def assert_clean(self, lt):
        for p in lt.procs:
            self.assertIsNotNone(p.poll(), "process %d still running" % p.pid)
        self.assertFalse(os.path.exists(lt.tmp), lt.tmp)
        for prefix in lt.prefixes:
            self.assertFalse(os.path.exists(os.path.join("/var/run/dpdk", prefix)), prefix)
            if os.path.isdir("/dev/hugepages"):
                self.assertEqual([f for f in os.listdir("/dev/hugepages") if f.startswith(prefix)], [])

    def test_memif_64(self):
        self.run_chain("memif", 64)

    def test_memif_1448(self):
        # the largest overlay frame (overlay MTU 1434 + 14): sealed to exactly the 1500 B WAN MTU
        self.run_chain("memif", 1448)

    def test_vhost_virtio_user(self):
        free = loadtest.free_hugepages()
        if free < loadtest.VHOST_HUGEPAGES:
            self.skipTest("needs %d free hugepages (scripts/hugepages.sh), have %d" % (loadtest.VHOST_HUGEPAGES, free))
        self.run_chain("vhost", 512)


if __name__ == "__main__":
    tb.main()
