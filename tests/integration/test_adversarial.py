# SPDX-License-Identifier: MIT
"""An attacker on the WAN against real dvped nodes in network namespaces (issue "Security first").

    ns <tag>-u     bridge br0 (the underlay: captures and injections happen on u-<node>)
    ns <tag>-<n>   dvped <n>: wan0 = net_af_packet on wan-<n>, tap0 = net_tap dvpe0

- OnePacketCrash: datagrams whose dvpe header starts with zero bytes (the one-packet crash of the
  review), truncated headers and repeated heads, first in a burst and after real traffic, over
  udp and rawip: counted as drops, the daemon keeps running and the session keeps working.
- CrossWorkerReplay: beta runs two workers on a two-queue af_packet WAN (the kernel's fan-out
  hash picks the queue). One captured alpha->beta data packet is written back 40 times, each
  copy from another UDP source port (the outer header is not authenticated), so the copies land
  on both workers: every copy is dropped as `replayed` and none reaches beta's overlay.
- NonceUniqueness: alpha runs three workers with a three-queue TAP; while every packet alpha
  sends is captured, traffic flows from all workers, the control thread sends keepalives,
  queued frames (connect = ondemand) and a close message, sessions rekey every 3 s and both
  nodes reload. No (sender, receiver, key id, lane, counter) -- the AEAD nonce under one key --
  appears twice, and the control lane (15) is among the lanes seen.
"""
import collections
import json
import os
import signal
import socket
import struct
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
import test_overlay as ov  # noqa: E402

DVPE_UDP_PORT = 655
CONTROL_LANE = 15


def ipv4_checksum(hdr):
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) | hdr[i + 1]
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


# Runs inside the underlay namespace: captures frames arriving from `iface` (what the node on
# its other end sends) into a file as hex lines, until killed or `seconds` passed.
CAPTURE = r'''
import signal, socket, sys, time, binascii
signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
iface, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
s.bind((iface, 0)); s.settimeout(0.2)
end = time.time() + seconds
with open(out, "w") as f:
    print("ready", flush=True)
    while time.time() < end:
        try:
            fr, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        f.write(binascii.hexlify(fr).decode() + "\n")
        f.flush()
'''

# Writes hex frames (argv[2:]) out of `iface` (argv[1]).
INJECT = r'''
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
'''


class Capture:
    """Every frame the node behind u-<name> sends, captured in the underlay namespace."""

    def __init__(self, mesh, name, seconds=120):
        self.path = os.path.join(mesh.workdir, "cap-%s.hex" % name)
        self.proc = subprocess.Popen(["ip", "netns", "exec", mesh.underlay, sys.executable, "-c", CAPTURE,
                                      "u-" + name, self.path, str(seconds)], stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()  # "ready"

    def stop(self):
        dc.stop_process(self.proc, 5, signal.SIGINT)
        self.proc.stdout.close()
        with open(self.path) as f:
            return [bytes.fromhex(line.strip()) for line in f if line.strip()]


def dvpe_of(frame):
    """The dvpe packet of an IPv4 udp-655 or rawip (proto 47) frame, else None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0f) * 4
    proto = frame[23]
    if proto == 17:
        if struct.unpack("!H", frame[14 + ihl + 2:14 + ihl + 4])[0] != DVPE_UDP_PORT:
            return None
        return frame[14 + ihl + 8:]
    if proto == 47:
        return frame[14 + ihl:]
    return None


def data_nonce(d):
    """(src, dst, key id, lane, counter) of a data message (docs/protocol.md: type 1 | version and
    flags | src/dst high nibbles | src low | dst low | key id | lane u16 | counter u64), else None."""
    if d is None or len(d) < 32 or d[0] != 1:
        return None
    src = ((d[2] >> 4) << 8) | d[3]
    dst = ((d[2] & 0x0f) << 8) | d[4]
    lane, counter = struct.unpack("!HQ", d[6:16])
    return (src, dst, d[5], lane, counter)


def inject(mesh, iface, frames):
    tb.sh([sys.executable, "-c", INJECT, iface] + [bytes(f).hex() for f in frames], ns=mesh.underlay)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class OnePacketCrash(unittest.TestCase):
    def run_transport(self, transport):
        m = ov.OverlayMesh(["alpha", "beta"], transport)
        try:
            a, b = m.node("alpha"), m.node("beta")
            cap = Capture(m.mesh, "alpha", seconds=30)
            a.sh(["ping", "-c", "3", "-i", "0.2", ov.overlay_ip(2)])
            frames = [f for f in cap.stop() if dvpe_of(f) is not None and len(dvpe_of(f)) > 60]
            self.assertTrue(frames, "no data packet captured")
            real = frames[-1]
            hl = len(real) - len(dvpe_of(real))
            outer = bytearray(real[:hl])

            def with_payload(p):
                f = bytearray(outer) + bytes(p)
                ihl = (f[14] & 0x0f) * 4
                struct.pack_into("!H", f, 16, ihl + len(f) - 14 - ihl)  # IPv4 total length
                f[24:26] = b"\0\0"
                struct.pack_into("!H", f, 24, ipv4_checksum(f[14:14 + ihl]))
                if transport == "udp":
                    struct.pack_into("!H", f, 14 + ihl + 4, len(f) - 14 - ihl)  # UDP length
                    f[14 + ihl + 6:14 + ihl + 8] = b"\0\0"  # no UDP checksum (IPv4)
                return f

            bad = [with_payload(bytes(32)),                      # the review's packet
                   with_payload(bytes(8) + real[hl + 8:]),       # a real packet, zero head
                   with_payload(bytes(4)),                        # truncated header
                   with_payload(b""),                             # empty
                   with_payload(real[hl:hl + 8] + bytes(24)),     # a real head, truncated body
                   with_payload(bytes([1, 0x10]) + bytes(30))]    # data type, version 1, zero ids
            before = b.ctl("status")
            # first in a burst, repeated, interleaved with the genuine packet (a replay now)
            inject(m.mesh, "u-beta", bad + [real] + bad + bad)
            time.sleep(0.5)
            after = b.ctl("status")
            self.assertIsNone(b.proc.poll(), "beta died:\n" + b.log()[-3000:])
            d = {k: after["drops"][k] - before["drops"][k] for k in after["drops"]}
            # every injected packet is one counted drop (the genuine one is a replay)
            self.assertEqual(sum(d.values()), len(bad) * 3 + 1, d)
            # the genuine packet, and the three real heads with counter 0 (seen before)
            self.assertEqual(d["replayed"], 4, d)
            self.assertEqual(dc.worker_sum(after, "decrypted") - dc.worker_sum(before, "decrypted"), 0)
            for w in after["workers"]:
                self.assertEqual(w["rx_packets"], tb.balance(w), w)
            # and the session still carries traffic
            a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", ov.overlay_ip(2)])
        finally:
            m.cleanup()

    def test_udp(self):
        self.run_transport("udp")

    def test_rawip(self):
        self.run_transport("rawip")


def set_udp_sport(frame, sport):
    f = bytearray(frame)
    ihl = (f[14] & 0x0f) * 4
    struct.pack_into("!H", f, 14 + ihl, sport)
    f[14 + ihl + 6:14 + ihl + 8] = b"\0\0"  # no UDP checksum (allowed over IPv4)
    return f


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class CrossWorkerReplay(unittest.TestCase):
    def test_a_packet_resent_from_other_source_ports_is_delivered_once(self):
        # beta: two workers, each polling one queue of a two-queue af_packet WAN (the kernel's
        # fan-out hash of the 5-tuple picks the queue) and one TAP queue.
        extra = "\n".join(["worker-lcores = 1,2", "eal-args = --lcores=0@0,1@1,2@1",
                           "queue-map = wan0 0 1", "queue-map = wan0 1 2", "queue-map = tap0 0 1",
                           "queue-map = tap0 1 2"])
        m = ov.OverlayMesh(["alpha", "beta"], "udp", extra=extra,
                           wan=lambda i, name: "net_af_packet0,iface=wan-%s,qpairs=2" % name)
        try:
            a, b = m.node("alpha"), m.node("beta")
            cap = Capture(m.mesh, "alpha", seconds=30)
            a.sh(["ping", "-c", "3", "-i", "0.2", ov.overlay_ip(2)])
            frames = [f for f in cap.stop() if data_nonce(dvpe_of(f)) and len(f) > 100]
            self.assertTrue(frames, "no data packet captured")
            real = frames[-1]
            copies = [set_udp_sport(real, 20000 + 7 * i) for i in range(40)]
            before = b.ctl("status")
            inject(m.mesh, "u-beta", copies)
            rx0 = dc.worker_sum(before, "rx_packets")
            dc.wait_for(lambda: dc.worker_sum(b.ctl("status"), "rx_packets") >= rx0 + 40, 5, "beta receiving the copies")
            time.sleep(0.3)
            after = b.ctl("status")
            self.assertEqual(after["drops"]["replayed"] - before["drops"]["replayed"], 40)
            self.assertEqual(dc.worker_sum(after, "decrypted") - dc.worker_sum(before, "decrypted"), 0)
            # the copies reached both workers (else this test proves nothing)
            got = [wa["rx_packets"] - wb["rx_packets"] for wa, wb in zip(after["workers"], before["workers"])]
            self.assertEqual(len(got), 2)
            self.assertTrue(all(g > 0 for g in got), "all copies on one worker: %s" % got)
            # a genuine session keeps working on both workers
            a.sh(["ping", "-c", "3", "-i", "0.2", "-W", "2", ov.overlay_ip(2)])
        finally:
            m.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class NonceUniqueness(unittest.TestCase):
    def test_no_nonce_repeats_under_keepalives_queues_closes_rekeys_and_reloads(self):
        extra = "\n".join(["worker-lcores = 1,2,3", "eal-args = --lcores=0@0,1@1,2@1,3@0",
                           "queue-map = wan0 0 1", "queue-map = wan0 1 2", "queue-map = wan0 2 3",
                           "queue-map = tap0 0 1", "queue-map = tap0 1 2", "queue-map = tap0 2 3",
                           "rekey = 3", "keepalive = 1"])
        m = ov.OverlayMesh(["alpha", "beta"], "udp", extra=extra)
        phases = []  # beta's restart starts new sessions whose key ids may repeat: checked apart
        try:
            a, b = m.node("alpha"), m.node("beta")
            caps = [Capture(m.mesh, "alpha", seconds=90), Capture(m.mesh, "beta", seconds=90)]
            srv = subprocess.Popen(["ip", "netns", "exec", b.ns, "iperf3", "-s", "-1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            # 12 parallel flows: the multiqueue TAP spreads them over alpha's three workers
            cli = subprocess.Popen(["ip", "netns", "exec", a.ns, "iperf3", "-c", ov.overlay_ip(2), "-t", "14",
                                    "-P", "12", "-b", "20M"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(4)
            os.kill(a.proc.pid, signal.SIGHUP)             # reloads (unchanged config)
            tb.sh([tb.dvpectl_bin(), "-S", b.sock, "reload"], check=False)
            cli.wait(40)
            srv.wait(10)
            time.sleep(2.5)                                # keepalives of an idle session (control lane)
            self.assertEqual(b.stop(), 0)                  # beta's close message
            time.sleep(0.5)
            phases.append(caps[0].stop() + caps[1].stop())
            caps = [Capture(m.mesh, "alpha", seconds=60), Capture(m.mesh, "beta", seconds=60)]
            # alpha's frames towards beta while it is away wait in alpha's queue and are sealed
            # by the control thread once the new session is up
            ping = subprocess.Popen(["ip", "netns", "exec", a.ns, "ping", "-c", "8", "-i", "0.3", "-W", "5",
                                     ov.overlay_ip(2)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            b.start()
            b.sh(["ip", "addr", "add", ov.overlay_ip(2) + "/24", "dev", "dvpe0"])
            m.wait_up()
            ping.wait(20)
            a.sh(["ping", "-c", "3", "-i", "0.2", ov.overlay_ip(2)])
            time.sleep(1.5)
            phases.append(caps[0].stop() + caps[1].stop())
            queued = a.ctl("status")
        finally:
            m.cleanup()
        lanes = collections.Counter()
        total = 0
        for frames in phases:
            seen = collections.Counter()
            for f in frames:
                n = data_nonce(dvpe_of(f))
                if n is not None:
                    seen[n] += 1
                    lanes[(n[0], n[3])] += 1
            total += len(seen)
            repeats = {k: v for k, v in seen.items() if v > 1}
            self.assertEqual(repeats, {}, "nonces used twice under one key")
        self.assertGreater(total, 1000, "too few data packets captured")
        alpha_lanes = {lane for (src, lane) in lanes if src == 1}
        self.assertIn(CONTROL_LANE, alpha_lanes, (lanes, queued))
        self.assertGreaterEqual(len(alpha_lanes - {CONTROL_LANE}), 2, lanes)
        self.assertGreater(queued["handshake"]["queued_frames_sent"], 0, queued["handshake"])


# Runs in the underlay namespace: `seconds` of handshake initiations to 10.77.0.1:655 claiming
# to come from node 2, from rotating source addresses (10.77.0.100-199, added to br0) and
# rotating UDP source ports; every other one carries a valid mac1 for alpha's public key (base64
# in argv[2]) so it passes the cheap check and costs alpha a DH if nothing stops it.
FLOOD = r"""
import base64, hashlib, os, socket, sys, time
seconds, pub = float(sys.argv[1]), base64.b64decode(sys.argv[2])
mac1_key = hashlib.blake2b(b"mac1----" + pub, digest_size=32).digest()
socks = []
for i in range(100):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.%d" % (100 + i), 0))
    s.setblocking(False)
    socks.append(s)
end = time.time() + seconds
n = 0
while time.time() < end:
    for s in socks:
        body = bytes([2, 0x10, 0x00, 2, 1]) + os.urandom(136 - 5)
        if n % 2:
            msg = body + hashlib.blake2b(body, key=mac1_key, digest_size=16).digest() + bytes(16)
        else:
            msg = body + os.urandom(32)
        try:
            s.sendto(msg, ("10.77.0.1", 655))
        except BlockingIOError:
            pass
        n += 1
    if n % 2000 == 0:
        for s in socks[:]:
            port = s.getsockname()
            s.close()
            socks.remove(s)
            t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t.bind((port[0], 0)); t.setblocking(False)
            socks.append(t)
print(n)
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class ControlPlaneFlood(unittest.TestCase):
    """60 s of garbage and valid-mac1 initiations from 100 addresses and rotating ports at alpha
    while alpha and beta keep a session with keepalive 2 s and rekey 5 s, and gamma starts in the
    middle and must complete its handshake. The control socket answers `status` with p99 under
    100 ms, keepalives and rekeys go on, memory stays bounded."""

    def test_flood(self):
        seconds = float(os.environ.get("DVPE_FLOOD_SECONDS", "60"))
        m = ov.make_mesh(["alpha", "beta", "gamma"], extra="keepalive = 2\nrekey = 5")
        try:
            a, b, g = m.nodes["alpha"], m.nodes["beta"], m.nodes["gamma"]
            a.start()
            b.start()
            dc.wait_for(lambda: [p["state"] for p in a.ctl("peers")["peers"] if p["name"] == "beta"] == ["up"],
                        20, "alpha-beta up")
            for i in range(100):
                m.underlay_sh(["ip", "addr", "add", "10.77.0.%d/24" % (100 + i), "dev", "br0"])
            with open(os.path.join(m.confdir, "pubkey", "alpha")) as f:
                pub = f.read().strip()
            rss0 = dc.rss_kib(a.proc.pid)
            before = {p["name"]: p for p in a.ctl("peers")["peers"]}
            flood = subprocess.Popen(["ip", "netns", "exec", m.underlay, sys.executable, "-c", FLOOD, str(seconds), pub],
                                     stdout=subprocess.PIPE, text=True)
            lat = []
            t0 = time.time()
            started_gamma = False
            while flood.poll() is None:
                q = time.monotonic()
                st = a.ctl("status")
                lat.append(time.monotonic() - q)
                self.assertTrue(st["ok"])
                if not started_gamma and time.time() - t0 > seconds / 3:
                    g.start()
                    started_gamma = True
                time.sleep(0.05)
            sent = int(flood.communicate(10)[0])
            after = {p["name"]: p for p in a.ctl("peers")["peers"]}
            st = a.ctl("status")
            lat.sort()
            p99 = lat[int(len(lat) * 0.99) - 1]
            info = "p99 %.1f ms over %d requests, %d initiations sent, handshake %s, drops %s" % (
                p99 * 1000, len(lat), sent, st["handshake"], {k: v for k, v in st["drops"].items() if v})
            print(info)
            self.assertGreater(sent, 10000, info)
            self.assertLess(p99, 0.100, info)
            # the legitimate sessions: beta stayed up and rekeyed; gamma came up during the flood
            self.assertEqual(after["beta"]["state"], "up", info)
            self.assertEqual(after["beta"]["downs"], before["beta"]["downs"], info)
            self.assertGreater(after["beta"]["rekeys"], before["beta"]["rekeys"], info)
            # keepalives went on: beta never timed alpha out (keepalive 2 s, the flood 30x that)
            ba = [p for p in b.ctl("peers")["peers"] if p["name"] == "alpha"][0]
            self.assertEqual((ba["state"], ba["downs"]), ("up", 0), ba)
            self.assertEqual(after["gamma"]["state"], "up", info)
            # memory bounded: RSS grew by less than 8 MiB
            self.assertLess(dc.rss_kib(a.proc.pid) - rss0, 8192, info)
            self.assertIsNone(a.proc.poll())
        finally:
            m.cleanup()


LOSSY_HANDSHAKES = """
table bridge dvpe_loss {
  chain lossy {
    type filter hook forward priority 0; policy accept;
    ether type ip udp dport 655 @th,64,8 3 numgen random mod 2 < 1 counter drop
  }
}
"""


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class RekeyWithLostHandshakes(unittest.TestCase):
    """The underlay bridge drops half of all handshake responses (nftables numgen) while alpha and beta rekey every 2 s under a steady UDP stream. A lost
    response leaves the responder with a new key the initiator never got (and a retry makes
    another): the key in use must never be the one dropped. Every 1 s interval moves data, loss
    stays within the packets in flight at a key change, no packet meets an unknown key, the
    session never goes down."""

    def test_rekeys_with_lost_responses_keep_the_key_in_use(self):
        m = ov.OverlayMesh(["alpha", "beta"], "udp", extra="rekey = 2\nkeepalive = 10")
        try:
            a, b = m.node("alpha"), m.node("beta")
            r = subprocess.run(["ip", "netns", "exec", m.mesh.underlay, "nft", "-f", "-"], input=LOSSY_HANDSHAKES,
                               text=True, capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            before = {n: n.ctl("status")["drops"] for n in (a, b)}
            srv = subprocess.Popen(["ip", "netns", "exec", b.ns, "iperf3", "-s", "-1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            res = tb.sh(["iperf3", "-c", ov.overlay_ip(2), "-u", "-b", "10M", "-l", "1000", "-t", "30", "-J"],
                        ns=a.ns, check=False, timeout=90)
            srv.wait(15)
            j = json.loads(res.stdout)
            dropped = m.mesh.underlay_sh(["nft", "list", "table", "bridge", "dvpe_loss"]).stdout
            pa, pb = m.peer("alpha", "beta"), m.peer("beta", "alpha")
            info = "%s\n%s %s%s" % (dropped, pa, pb, m.diagnostics())
            for p in (pa, pb):
                self.assertEqual((p["state"], p["ups"], p["downs"]), ("up", 1, 0), info)
            for n in (a, b):
                d = n.ctl("status")["drops"]
                self.assertEqual(d["unknown_key"] - before[n]["unknown_key"], 0, info)
                self.assertEqual(d["replayed"] - before[n]["replayed"], 0, info)
                self.assertEqual(d["auth_failed"] - before[n]["auth_failed"], 0, info)
            summ = j["end"]["sum"]
            self.assertLessEqual(summ["lost_percent"], 1.0, (summ, info))
            empty = [i["sum"]["start"] for i in j["intervals"] if i["sum"]["bytes"] == 0]
            self.assertEqual(empty, [], info)
            # and the scenario happened: rekeys, with responses lost on the way
            # (one attempt in two gets its response through: several rekeys in 30 s. With 2/3 lost,
            # 13 of 14 responses were dropped in one clean-clone CI run (about 3 % likely) and no
            # rekey completed: the scenario, not a fault. With 3/4 of
            # the responses and 1/3 of the initiations lost, f91651e dropped 14 packets as
            # unknown_key in one of two runs; on a loaded CI host that much loss also let a
            # session expire before any rekey completed, a legitimate down)
            self.assertGreaterEqual(pa["rekeys"] + pb["rekeys"], 2, info)
            self.assertNotIn("counter packets 0 ", dropped.split("@th,64,8 0x3")[1].split("\n")[0], info)
        finally:
            m.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
