# SPDX-License-Identifier: MIT
"""Capture (issue 17 point 6, docs/operations.md "Capture"): dpdk-dumpcap attaches to a running
dvped (`capture = yes`, hugepages kept) and writes what alpha's WAN port sends and receives while
the overlay carries a ping; the capture holds the sealed udp packets to and from beta, and the
daemon keeps running (and stops cleanly) after dumpcap leaves. Skipped without free hugepages
(scripts/hugepages.sh reserves them in CI)."""
import json
import os
import struct
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
import test_overlay as to  # noqa: E402


def sanitized_build():
    """Whether DVPE_BUILD was configured with a sanitizer (meson's b_sanitize)."""
    path = os.path.join(os.environ.get("DVPE_BUILD", "build"), "meson-info", "intro-buildoptions.json")
    with open(path) as f:
        opts = {o["name"]: o["value"] for o in json.load(f)}
    return opts.get("b_sanitize", "none") != "none" or bool(opts.get("sanitize", False))


def free_hugepages():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def pcapng_packets(path):
    """The Enhanced Packet Blocks' packet data of a pcapng file (little-endian, as dumpcap writes)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if blen < 12 or off + blen > len(data):
            break
        if btype == 6:  # EPB: interface id, ts hi, ts lo, captured len, original len, data
            caplen = struct.unpack_from("<I", data, off + 20)[0]
            out.append(data[off + 28:off + 28 + caplen])
        off += blen
    return out


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
@unittest.skipUnless(os.path.exists("/usr/bin/dpdk-dumpcap"), "no dpdk-dumpcap")
class Capture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if free_hugepages() < 256:
            raise unittest.SkipTest("needs 256 free hugepages (scripts/hugepages.sh reserves them)")
        extra = "\n".join(["on alpha capture = yes", "on alpha hugepages = yes", "on alpha memory-mb = 0"])
        cls.mesh = to.make_mesh(["alpha", "beta"], extra=extra)
        try:
            for n in cls.mesh.nodes.values():
                n.start()
            tm.overlay_addresses(cls.mesh.nodes, ["alpha", "beta"])
        except Exception:
            cls.mesh.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.mesh.cleanup()  # stops the daemons (exit checks)
        finally:
            # kept for dumpcap while alpha ran; gone after its clean stop
            left = [f for f in os.listdir("/dev/hugepages") if f.startswith("dvpe-alphamap_")] \
                if os.path.isdir("/dev/hugepages") else []
            if left:
                raise AssertionError("hugepage files left behind: %s" % left)

    def test_dumpcap_captures_the_wan_port_of_a_running_node(self):
        a = self.mesh.nodes["alpha"]
        dc.wait_for(lambda: dc.peers_by_name(a.ctl("peers"))["beta"]["state"] == "up", 30, "alpha <-> beta up",
                    lambda: a.log()[-3000:])
        self.assertIn("capture: dpdk-dumpcap --file-prefix=dvpe-alpha", a.log())
        out = tempfile.mktemp(prefix="dvpe-capture-", suffix=".pcapng")
        dump = subprocess.Popen(["dpdk-dumpcap", "--file-prefix=dvpe-alpha", "-i", "net_af_packet0", "-c", "10",
                                 "-w", out, "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # dumpcap attaches (a secondary process), then counts 10 packets: ping until it has them
            for _ in range(60):
                a.sh(["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", to.overlay_ip(2)], check=False)
                if dump.poll() is not None:
                    break
            text, _ = dump.communicate(timeout=30)
        finally:
            if dump.poll() is None:
                dump.kill()
                dump.wait()
        try:
            self.assertEqual(dump.returncode, 0, text + a.log()[-2000:])
            pkts = pcapng_packets(out)
            self.assertGreaterEqual(len(pkts), 10, text)
            # sealed dvpe packets between the WAN addresses: IPv4, UDP to or from port 655
            udp = [p for p in pkts if len(p) > 42 and p[12:14] == b"\x08\x00" and p[23] == 17 and
                   {p[26:30], p[30:34]} == {bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])}]
            self.assertTrue(udp, "no udp between 10.77.0.1 and 10.77.0.2 in the capture")
        finally:
            if os.path.exists(out):
                os.unlink(out)
        # the daemon carries on after the capture process left
        r = a.sh(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-w", "10", to.overlay_ip(2)], check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout)
        self.assertTrue(a.ctl("status")["ok"])

    def test_peer_state_comes_from_dpdk_memory(self):
        # docs/control.md status.peer_state_memory: with sessions up, per-peer state (keys, key
        # objects, windows, tables: pmd/dp_memory.hh) came from DPDK's heap, on the capture node
        # too (its keys stay on the C++ heap: not counted here), and nothing fell back to the
        # C++ heap. A sanitizer build keeps it all there (dpdk false).
        for name, other in (("alpha", "beta"), ("beta", "alpha")):
            n = self.mesh.nodes[name]
            dc.wait_for(lambda: dc.peers_by_name(n.ctl("peers"))[other]["state"] == "up", 30,
                        "%s <-> %s up" % (name, other), lambda: n.log()[-3000:])
            pm = n.ctl("status")["peer_state_memory"]
            self.assertEqual(set(pm), {"dpdk", "dpdk_allocs", "heap_fallbacks"})
            self.assertEqual(pm["dpdk"], not sanitized_build(), name)
            if pm["dpdk"]:
                self.assertGreater(pm["dpdk_allocs"], 0, name)
                self.assertEqual(pm["heap_fallbacks"], 0, name)


if __name__ == "__main__":
    tb.main()
