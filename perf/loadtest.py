#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Two-node load test of dvped with no kernel in the path (issue 6, points 3-5). Run as root.

    testpmd "gen" (txonly) -> node A overlay port -> A seals for B -> WAN (memif A <-> B)
        -> B opens -> node B overlay port -> testpmd "sink" (rxonly)

Both dvped nodes are real: generated keys (dvpectl keygen -G), real handshakes, AES-256-GCM by
default, one worker each. The generator's frames are addressed to node B's overlay MAC
(fe:fd:80:00:00:02) from node A's (fe:fd:80:00:00:01), IPv4/UDP 10.88.0.1 -> 10.88.0.2, so node A
seals them for B exactly as it would frames from its TAP.

Overlay ports (--overlay):
  memif  dvped net_memif (server) <-> testpmd net_memif (client); everything runs with
         --no-huge (memif copies into its own memfd regions): the default, and what
         tests/integration/test_loadtest.py runs.
  vhost  dvped net_vhost <-> testpmd net_virtio_user (the pair pktgen-dpdk needs, see
         docs/loadtest.md). virtio-user shares its memory with the vhost side, so the two testpmd
         run on hugepages (--in-memory --single-file-segments: memfd-backed, no files left in
         /dev/hugepages); dvped itself stays on --no-huge. Needs 256 free 2 MiB hugepages
         (scripts/hugepages.sh).

It prints the delivered rate (Mpps) and the loss, then compares the counters of every hop
(testpmd's port statistics and dvped's `status`/`peers` over the control socket, as deltas over
the run) and names every packet that was dropped on the way. The run is a functional check:
on this 2-vCPU machine four busy-polling threads (generator, node A, node B, sink) share two
CPUs with whatever else runs there, so the numbers are honest but are not a speed record; the
per-core data-plane figures come from perf/dataplane_bench.py.

    perf/loadtest.py --build build-ci                 # memif, 64 B frames, 3 s of traffic
    perf/loadtest.py --build build-ci --overlay vhost --size 1024 --seconds 5
    perf/loadtest.py --build build-ci --json-out result.json --keep
    perf/loadtest.py --compare DIR      # check a pktgen-dpdk run (configs/loadtest, docs/loadtest.md)

Exit status: 0 when traffic went through and every counter check held, 1 otherwise, 2 on bad
usage. Only python3's standard library (the integration test imports this file).
"""
import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import dvpe_client as dc  # noqa: E402  (the control-socket client the tests use too)

OVERLAY_MTU = 1434                    # mtu 1500 - 66, as GVPE
MAX_FRAME = OVERLAY_MTU + 14          # the largest overlay frame dvped seals (no FCS)
MIN_FRAME = 60                        # testpmd txonly: Ethernet + IPv4 + UDP headers = 42 B; keep >= 60
WAN_MAC = {1: "02:4c:54:00:00:01", 2: "02:4c:54:00:00:02"}
WAN_IP = {1: "10.77.0.1", 2: "10.77.0.2"}
OVERLAY_IP = {1: "10.88.0.1", 2: "10.88.0.2"}
VHOST_HUGEPAGES = 256                 # two testpmd with -m 256 on 2 MiB pages
TESTPMD_MBUFS = 8192
PROMPT = b"testpmd> "


def node_mac(node_id):
    """dvpe's overlay MAC of a node (GVPE's scheme, control/config node_mac())."""
    return "fe:fd:80:00:%02x:%02x" % (node_id >> 8, node_id & 0xFF)


class LoadTestError(Exception):
    pass


def free_hugepages():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("HugePages_Free:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


# ---- processes -----------------------------------------------------------------------------------

class Dvped:
    def __init__(self, lt, name):
        self.name = name
        self.sock = os.path.join(lt.tmp, "%s.sock" % name)
        self.log_path = os.path.join(lt.tmp, "dvped-%s.log" % name)
        self.logf = open(self.log_path, "w+")
        cmd = [lt.dvped, "-c", lt.confdir, "-D", name]
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lt.procs.append(self.proc)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise LoadTestError("dvped %s exited with %d:\n%s" % (self.name, self.proc.returncode, self.log()))
            if os.path.exists(self.sock) and dc.try_status(self.sock):
                return
            if time.monotonic() > deadline:
                raise LoadTestError("dvped %s did not answer on %s within %d s:\n%s"
                                    % (self.name, self.sock, timeout, self.log()))
            time.sleep(0.1)

    def status(self):
        if self.proc.poll() is not None:
            raise LoadTestError("dvped %s exited with %d:\n%s" % (self.name, self.proc.returncode, self.log()))
        try:
            return dc.status(self.sock)
        except dc.CommandFailed as e:
            raise LoadTestError(str(e)) from None

    def log(self, tail=4000):
        try:
            with open(self.log_path) as f:
                return f.read()[-tail:]
        except OSError:
            return ""

    def stop(self):
        dc.stop_process(self.proc, 20)
        self.logf.close()


class Testpmd:
    """dpdk-testpmd in interactive mode, driven over a pipe (stdbuf makes its stdout line-buffered)."""

    def __init__(self, lt, role, prefix, eal, app):
        self.role = role
        self.prefix = prefix
        self.log_path = os.path.join(lt.tmp, "testpmd-%s.log" % role)
        self.logf = open(self.log_path, "wb")
        cmd = (["stdbuf", "-oL", "-eL"] if shutil.which("stdbuf") else []) + ["dpdk-testpmd"]
        cmd += eal + ["--file-prefix", prefix, "--"] + app + ["-i"]
        self.cmdline = " ".join(cmd)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        lt.procs.append(self.proc)
        self._read_until(PROMPT, 90, "start")

    def _read_until(self, marker, timeout, what):
        buf = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while marker not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LoadTestError("testpmd %s: no prompt after '%s' within %d s:\n%s"
                                    % (self.role, what, timeout, self.log()))
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait()
                    raise LoadTestError("testpmd %s exited (%s) during '%s':\n%s"
                                        % (self.role, self.proc.returncode, what, self.log()))
                buf += chunk
                self.logf.write(chunk)
                self.logf.flush()
        return buf.decode(errors="replace")

    def cmd(self, line, timeout=30):
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise LoadTestError("testpmd %s is gone:\n%s" % (self.role, self.log())) from None
        return self._read_until(PROMPT, timeout, line)

    def port_stats(self):
        """`show port stats 0`: the port's rte_eth_stats."""
        return parse_port_stats(self.cmd("show port stats 0"))

    def stop_forwarding(self):
        """`stop`: returns the forward statistics (TX-dropped = frames the port did not take)."""
        return parse_forward_stats(self.cmd("stop"))

    def log(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # keep the rest of the output (the exit messages) in the log
        try:
            rest = self.proc.stdout.read()
            if rest:
                self.logf.write(rest)
        except (OSError, ValueError):
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.logf):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def _numbers_after(text, key):
    """The integer following 'key:' in testpmd's stats text, or None."""
    i = text.find(key + ":")
    if i < 0:
        return None
    tok = text[i + len(key) + 1:].split()
    return int(tok[0]) if tok and tok[0].isdigit() else None


def parse_port_stats(text):
    keys = {"RX-packets": "rx_packets", "RX-missed": "rx_missed", "RX-bytes": "rx_bytes", "RX-errors": "rx_errors",
            "RX-nombuf": "rx_nombuf", "TX-packets": "tx_packets", "TX-errors": "tx_errors", "TX-bytes": "tx_bytes"}
    if "NIC statistics for port 0" not in text:
        raise LoadTestError("unexpected reply to 'show port stats 0':\n" + text[-2000:])
    out = {}
    for k, name in keys.items():
        v = _numbers_after(text, k)
        if v is None:
            raise LoadTestError("no %s in testpmd's port statistics:\n%s" % (k, text[-2000:]))
        out[name] = v
    return out


def parse_forward_stats(text):
    i = text.find("Forward statistics for port 0")
    if i < 0:
        raise LoadTestError("unexpected reply to 'stop':\n" + text[-2000:])
    block = text[i:]
    out = {}
    for k, name in (("RX-packets", "rx_packets"), ("RX-dropped", "rx_dropped"),
                    ("TX-packets", "tx_packets"), ("TX-dropped", "tx_dropped")):
        out[name] = _numbers_after(block, k)
    return out


# ---- counters ------------------------------------------------------------------------------------

def port_of(status, name):
    for p in status["ports"]:
        if p["name"] == name:
            return p
    raise LoadTestError("node %s has no port %s" % (status["node"]["name"], name))


def peer_of(status, name):
    for p in status.get("peers", []):
        if p["name"] == name:
            return p
    raise LoadTestError("node %s has no peer %s" % (status["node"]["name"], name))


def snapshot(status, peer_name):
    """The counters of one node the comparison needs, flat."""
    wan, ovl, peer = port_of(status, "wan0"), port_of(status, "ovl0"), peer_of(status, peer_name)
    s = {"uptime_s": status["uptime_s"]}
    for port, p in (("wan", wan), ("ovl", ovl)):
        for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_missed", "rx_nombuf", "rx_errors", "tx_errors"):
            s["%s_%s" % (port, k)] = p[k]
    for k in ("rx_packets", "tx_packets", "encrypted", "decrypted", "keepalives", "to_control", "from_control",
              "relayed", "arp_replies", "icmp_echo_replies"):
        s["worker_" + k] = dc.worker_sum(status, k)
    for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "keepalives_received"):
        s["peer_" + k] = peer[k]
    for k, v in status["drops"].items():
        s["drop_" + k] = v
    return s


def delta(after, before):
    return {k: after[k] - before[k] for k in after if k != "uptime_s"}


def nonzero_drops(d):
    return {k[5:]: v for k, v in d.items() if k.startswith("drop_") and v != 0}


# ---- the run -------------------------------------------------------------------------------------

class LoadTest:
    """One run. `run()` returns the result dict; `cleanup()` (also called by run) removes every
    process, socket, runtime dir and hugepage file of this run."""

    def __init__(self, build, overlay="memif", seconds=3.0, size=64, cipher="aes256-gcm", keep=False,
                 warmup=0.5, log=None):
        if overlay not in ("memif", "vhost"):
            raise LoadTestError("overlay must be memif or vhost, not %r" % overlay)
        if not MIN_FRAME <= size <= MAX_FRAME:
            raise LoadTestError("frame size %d is outside %d..%d (the overlay MTU %d plus the Ethernet header)"
                                % (size, MIN_FRAME, MAX_FRAME, OVERLAY_MTU))
        if not 0.2 <= seconds <= 600:
            raise LoadTestError("seconds must be in 0.2..600, not %g" % seconds)
        self.build = build
        self.overlay = overlay
        self.seconds = seconds
        self.size = size
        self.cipher = cipher
        self.keep = keep
        self.warmup = warmup
        self.log = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
        self.dvped = os.path.join(build, "control", "dvped")
        self.dvpectl = os.path.join(build, "control", "dvpectl")
        tag = "%d" % os.getpid()
        self.names = {1: "lt%s-a" % tag, 2: "lt%s-b" % tag}       # dvped's EAL prefix is dvpe-NAME
        self.prefixes = ["dvpe-" + self.names[1], "dvpe-" + self.names[2], "lt%s-gen" % tag, "lt%s-sink" % tag]
        self.tmp = None
        self.procs = []
        self.nodes = {}
        self.gen = self.sink = None
        self._cleaned = False

    # -- checks before anything starts
    def preflight(self):
        if os.geteuid() != 0:
            raise LoadTestError("run as root (DPDK needs it)")
        for b in (self.dvped, self.dvpectl):
            if not os.access(b, os.X_OK):
                raise LoadTestError("%s is not built (ninja -C %s)" % (b, self.build))
        if shutil.which("dpdk-testpmd") is None:
            raise LoadTestError("dpdk-testpmd not found (Debian package dpdk)")
        if self.overlay == "vhost":
            free = free_hugepages()
            if free < VHOST_HUGEPAGES:
                raise LoadTestError("--overlay vhost needs %d free 2 MiB hugepages for the two testpmd "
                                    "(virtio-user shares its memory with vhost); %d are free: "
                                    "scripts/hugepages.sh %d" % (VHOST_HUGEPAGES, free, max(512, VHOST_HUGEPAGES)))

    def write_config(self):
        self.confdir = os.path.join(self.tmp, "conf")
        os.makedirs(self.confdir)
        t = self.tmp
        lines = ["# generated by perf/loadtest.py", "enable-udp = yes", "mtu = 1500",
                 "cipher = " + self.cipher, "private-key = hostkeys/%s",
                 "control-socket = %s/%%s.sock" % t, "pid-file = %s/%%s.pid" % t,
                 "control-lcore = 0", "worker-lcores = 1",
                 "hugepages = no", "memory-mb = 256", "rx-descriptors = 1024", "tx-descriptors = 1024",
                 # The workers sleep when idle so that four DPDK processes can share two CPUs.
                 "idle-sleep-us = 100",
                 # No keepalives or rekeys during a run: the only packets in flight are the generator's.
                 "keepalive = 3600", "rekey = 3600"]
        for i in (1, 2):
            if self.overlay == "memif":
                ovl = "net_memif1,role=server,id=0,socket=%s/ovl-%d.sock,socket-abstract=no" % (t, i)
            else:
                ovl = "net_vhost0,iface=%s/vhost-%d.sock,queues=1" % (t, i)
            other = 3 - i
            lines += ["", "node = " + self.names[i], "hostname = " + WAN_IP[i],
                      "port = wan0 wan net_memif0,role=%s,id=0,socket=%s/wan.sock,socket-abstract=no,mac=%s"
                      % ("server" if i == 1 else "client", t, WAN_MAC[i]),
                      "port = ovl0 overlay " + ovl,
                      "wan-address = wan0 %s/24" % WAN_IP[i],
                      "neighbour = wan0 %s %s" % (WAN_IP[other], WAN_MAC[other]),
                      # A's worker on CPU 1, B's on CPU 0 (control threads on CPU 0; they mostly sleep)
                      "eal-args = --lcores=0@0,1@%d" % (1 if i == 1 else 0)]
        with open(os.path.join(self.confdir, "gvpe.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([self.dvpectl, "-c", self.confdir, "keygen", "-G"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise LoadTestError("dvpectl keygen -G failed:\n" + r.stdout)

    def testpmd(self, role, node_id, cpu):
        prefix = self.prefixes[2] if role == "gen" else self.prefixes[3]
        eal = ["--no-pci", "--lcores=0@0,1@%d" % cpu, "--main-lcore", "0", "--log-level=*:notice"]
        if self.overlay == "memif":
            eal += ["--no-huge", "-m", "256"]
            vdev = "net_memif0,role=client,id=0,socket=%s/ovl-%d.sock,socket-abstract=no" % (self.tmp, node_id)
        else:
            # memfd-backed hugepages in one segment: shareable with vhost, nothing left in /dev/hugepages
            eal += ["--in-memory", "--single-file-segments", "-m", "256"]
            vdev = "net_virtio_user0,path=%s/vhost-%d.sock,queues=1" % (self.tmp, node_id)
        app = ["--total-num-mbufs=%d" % TESTPMD_MBUFS, "--nb-cores=1"]
        if role == "gen":
            # Source MAC = node A's overlay MAC (what its TAP would send), destination = node B's.
            vdev += ",mac=" + node_mac(1)
            app += ["--forward-mode=txonly", "--eth-peer=0,%s" % node_mac(2), "--txpkts=%d" % self.size,
                    "--tx-ip=%s,%s" % (OVERLAY_IP[1], OVERLAY_IP[2])]
        else:
            app += ["--forward-mode=rxonly"]
        return Testpmd(self, role, prefix, eal + ["--vdev", vdev], app)

    def wait_sessions(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for i, n in self.nodes.items():
                st = n.status()
                states[n.name] = [p["state"] for p in st.get("peers", [])]
            if all(s == ["up"] for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise LoadTestError("sessions not up after %d s: %s\n%s" % (timeout, states, self.nodes[1].log()))
            time.sleep(0.1)

    def wait_overlay_links(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            links = {n.name: port_of(n.status(), "ovl0")["link_up"] for n in self.nodes.values()}
            if all(links.values()):
                return
            if time.monotonic() > deadline:
                raise LoadTestError("overlay ports not connected to testpmd after %d s: %s" % (timeout, links))
            time.sleep(0.1)

    def settle(self, timeout=20):
        """Waits until no counter of either node moves any more (every ring drained)."""
        deadline = time.monotonic() + timeout
        last, same = None, 0
        while True:
            cur = [snapshot(self.nodes[1].status(), self.names[2]), snapshot(self.nodes[2].status(), self.names[1])]
            for c in cur:
                c.pop("uptime_s")
            if cur == last:
                same += 1
                if same >= 3:
                    return
            else:
                same = 0
            last = cur
            if time.monotonic() > deadline:
                raise LoadTestError("dvped counters still moving %d s after the generator stopped" % timeout)
            time.sleep(0.1)

    def settle_sink(self, timeout=20):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            cur = self.sink.port_stats()
            if cur == last:
                return cur
            last = cur
            if time.monotonic() > deadline:
                raise LoadTestError("sink counters still moving %d s after the generator stopped" % timeout)
            time.sleep(0.2)

    def run(self):
        self.preflight()
        self.tmp = tempfile.mkdtemp(prefix="dvpe-loadtest-")
        try:
            return self._run()
        finally:
            self.cleanup()

    def _run(self):
        self.write_config()
        self.log("loadtest: %s overlay, %d B frames, %s, %.1f s of traffic; load average before: %s"
                 % (self.overlay, self.size, self.cipher, self.seconds, " ".join(loadavg())))
        # A is the WAN memif server, so it starts first; each dvped is the server of its overlay port.
        for i in (1, 2):
            self.nodes[i] = Dvped(self, self.names[i])
            self.nodes[i].wait_ready()
        self.wait_sessions()
        # Sink on CPU 0 beside node B's worker, generator on CPU 1 beside node A's.
        self.sink = self.testpmd("sink", 2, 0)
        self.gen = self.testpmd("gen", 1, 1)
        self.wait_overlay_links()
        for t in (self.sink, self.gen):
            t.cmd("clear port stats all")
        self.sink.cmd("start")
        # Baseline after the handshakes and with both testpmd connected: everything below is a delta.
        before = {1: snapshot(self.nodes[1].status(), self.names[2]), 2: snapshot(self.nodes[2].status(), self.names[1])}
        self.gen.cmd("start")
        t_start = time.monotonic()
        time.sleep(self.warmup)
        s0 = {1: snapshot(self.nodes[1].status(), self.names[2]), 2: snapshot(self.nodes[2].status(), self.names[1])}
        time.sleep(max(0.0, self.seconds - self.warmup))
        s1 = {1: snapshot(self.nodes[1].status(), self.names[2]), 2: snapshot(self.nodes[2].status(), self.names[1])}
        gen_fwd = self.gen.stop_forwarding()
        t_stop = time.monotonic()
        self.settle()
        sink_port = self.settle_sink()
        sink_fwd = self.sink.stop_forwarding()
        gen_port = self.gen.port_stats()
        after = {1: snapshot(self.nodes[1].status(), self.names[2]), 2: snapshot(self.nodes[2].status(), self.names[1])}
        res = self.evaluate(before, after, s0, s1, gen_port, gen_fwd, sink_port, sink_fwd, t_stop - t_start)
        return res

    def evaluate(self, before, after, s0, s1, gen_port, gen_fwd, sink_port, sink_fwd, traffic_s):
        return evaluate(self.overlay, self.size, self.cipher, before, after, s0, s1, gen_port, gen_fwd,
                        sink_port, sink_fwd, traffic_s)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for t in (self.gen, self.sink):
            if t is not None:
                t.quit()
        for n in self.nodes.values():
            n.stop()
        for p in self.procs:  # anything that did not get as far as its wrapper's stop
            if p.poll() is None:
                p.kill()
                p.wait()
        for prefix in self.prefixes:
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
            if os.path.isdir("/dev/hugepages"):
                for f in os.listdir("/dev/hugepages"):
                    if f.startswith(prefix + "map_"):
                        try:
                            os.unlink(os.path.join("/dev/hugepages", f))
                        except OSError:
                            pass
        if self.tmp:
            if self.keep:
                self.log("kept " + self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)


def evaluate(overlay, size, cipher, before, after, s0, s1, gen_port, gen_fwd, sink_port, sink_fwd, traffic_s,
             one_size=True):
    """The hop-by-hop comparison. before/after/s0/s1: {1: snapshot of node A, 2: of node B};
    gen_port/sink_port: the generator's tx and the sink's rx counters (packets, bytes); gen_fwd,
    sink_fwd, s0 and s1 may be None (a run driven by pktgen: no testpmd forward statistics, no
    samples for rates). one_size False: the generator sent frames of other sizes too (pktgen's
    latency probes), so bytes are compared hop to hop instead of as frames x size."""
    a, b = delta(after[1], before[1]), delta(after[2], before[2])
    a_drops, b_drops = nonzero_drops(a), nonzero_drops(b)
    b_ingress_drops = sum(v for k, v in b_drops.items() if k != "tx_failed")
    checks = []

    def check(what, lhs, rhs, why=""):
        checks.append({"check": what, "lhs": lhs, "rhs": rhs, "ok": lhs == rhs, "why": why})

    # Preconditions of the per-port attributions below: during the run nothing but the
    # generator's frames moved (no handshake, keepalive or ARP in either direction).
    check("A wan rx_packets (nothing comes back from B)", a["wan_rx_packets"], 0)
    check("B wan tx_packets (B sends nothing back)", b["wan_tx_packets"], 0)
    check("A ovl tx_packets (A delivers nothing)", a["ovl_tx_packets"], 0)
    # hop 1: generator -> node A's overlay port
    check("gen TX-packets == A ovl rx_packets", gen_port["tx_packets"], a["ovl_rx_packets"])
    check("gen TX-bytes == A ovl rx_bytes", gen_port["tx_bytes"], a["ovl_rx_bytes"])
    check("A worker rx_packets == A ovl rx_packets", a["worker_rx_packets"], a["ovl_rx_packets"])
    # node A: every frame sealed for B or dropped with a reason
    check("A ovl rx_packets == A encrypted + A drops",
          a["ovl_rx_packets"], a["worker_encrypted"] + sum(a_drops.values()) - a_drops.get("tx_failed", 0),
          "drops on A other than tx_failed: %s" % {k: v for k, v in a_drops.items() if k != "tx_failed"})
    check("A peer tx_packets == A encrypted", a["peer_tx_packets"], a["worker_encrypted"])
    if one_size:
        check("A peer tx_bytes == frames x size", a["peer_tx_bytes"], a["peer_tx_packets"] * size)
    elif not any(k != "tx_failed" for k in a_drops):
        check("A peer tx_bytes == A ovl rx_bytes (frames of several sizes)", a["peer_tx_bytes"], a["ovl_rx_bytes"])
    # hop 2: A's WAN -> B's WAN (memif: a packet the ring took is received)
    check("A peer tx_packets == A wan tx_packets + A tx_failed", a["peer_tx_packets"],
          a["wan_tx_packets"] + a_drops.get("tx_failed", 0), "tx_failed on A = WAN tx ring full (B behind)")
    check("A wan tx_packets == B wan rx_packets", a["wan_tx_packets"], b["wan_rx_packets"])
    check("A wan tx_bytes == B wan rx_bytes", a["wan_tx_bytes"], b["wan_rx_bytes"])
    check("A peer tx_packets == B peer rx_packets + A tx_failed + B ingress drops", a["peer_tx_packets"],
          b["peer_rx_packets"] + a_drops.get("tx_failed", 0) + b_ingress_drops,
          "B ingress drops: %s" % {k: v for k, v in b_drops.items() if k != "tx_failed"})
    # node B: every WAN packet opened and delivered, or dropped with a reason
    check("B wan rx_packets == B peer rx_packets + B ingress drops", b["wan_rx_packets"],
          b["peer_rx_packets"] + b_ingress_drops)
    check("B peer rx_packets == B decrypted", b["peer_rx_packets"], b["worker_decrypted"])
    if one_size:
        check("B peer rx_bytes == frames x size", b["peer_rx_bytes"], b["peer_rx_packets"] * size)
    elif not b_drops:
        check("B peer rx_bytes == B ovl tx_bytes (frames of several sizes)", b["peer_rx_bytes"], b["ovl_tx_bytes"])
    check("B peer rx_packets == B ovl tx_packets + B tx_failed", b["peer_rx_packets"],
          b["ovl_tx_packets"] + b_drops.get("tx_failed", 0), "tx_failed on B = overlay tx ring full (sink behind)")
    # hop 3: node B's overlay port -> sink
    check("B ovl tx_packets == sink RX-packets", b["ovl_tx_packets"], sink_port["rx_packets"])
    check("B ovl tx_bytes == sink RX-bytes", b["ovl_tx_bytes"], sink_port["rx_bytes"])
    if sink_fwd is not None:
        check("sink RX-packets (port) == sink forward RX-packets", sink_port["rx_packets"], sink_fwd["rx_packets"])
    for n, d in (("A", a), ("B", b)):
        for k in ("auth_failed", "replayed", "unknown_key"):
            check("%s drops %s" % (n, k), d["drop_" + k], 0)

    # rates over the sampled interval (after the warm-up, while the generator ran)
    accepted = delivered = None
    if s0 is not None and s1 is not None:
        dt_a = s1[1]["uptime_s"] - s0[1]["uptime_s"]
        dt_b = s1[2]["uptime_s"] - s0[2]["uptime_s"]
        accepted = (s1[1]["ovl_rx_packets"] - s0[1]["ovl_rx_packets"]) / dt_a if dt_a > 0 else 0.0
        delivered = (s1[2]["ovl_tx_packets"] - s0[2]["ovl_tx_packets"]) / dt_b if dt_b > 0 else 0.0
    sent = gen_port["tx_packets"]
    received = sink_port["rx_packets"]
    return {
        "overlay": overlay, "size": size, "cipher": cipher, "seconds": round(traffic_s, 3),
        "loadavg": loadavg(),
        "generator": {"tx_packets": sent, "tx_bytes": gen_port["tx_bytes"],
                      "refused": gen_fwd["tx_dropped"] if gen_fwd else None},
        "sink": {"rx_packets": received, "rx_bytes": sink_port["rx_bytes"]},
        "node_a": a, "node_b": b, "drops_a": a_drops, "drops_b": b_drops,
        "accepted_mpps": None if accepted is None else accepted / 1e6,
        "delivered_mpps": None if delivered is None else delivered / 1e6,
        "delivered_gbps": None if delivered is None else delivered * size * 8 / 1e9,
        "lost": sent - received, "loss": (sent - received) / sent if sent else 0.0,
        "checks": checks, "ok": sent > 0 and received > 0 and all(c["ok"] for c in checks),
    }


def compare_dir(d):
    """A run driven by pktgen (configs/loadtest/pktgen-loadtest.lua): reads both nodes' status
    before and after ({a,b}-{before,after}.json, from `dvpectl status --json`) and pktgen's
    counters (pktgen.txt, "key value" lines) from directory d and compares them like a run here."""
    def load(name):
        path = os.path.join(d, name)
        try:
            with open(path) as f:
                j = json.load(f)
        except OSError as e:
            raise LoadTestError("cannot read %s: %s" % (path, e.strerror)) from None
        except ValueError as e:
            raise LoadTestError("%s is not JSON: %s" % (path, e)) from None
        if not isinstance(j, dict) or "ports" not in j or "node" not in j:
            raise LoadTestError("%s is not the reply of `dvpectl NODE status --json`" % path)
        return j
    st = {k: load(k + ".json") for k in ("a-before", "a-after", "b-before", "b-after")}
    name_a, name_b = st["a-before"]["node"]["name"], st["b-before"]["node"]["name"]
    if st["a-after"]["node"]["name"] != name_a or st["b-after"]["node"]["name"] != name_b:
        raise LoadTestError("the before and after files of %s are from different nodes" % d)
    if st["a-after"]["uptime_s"] < st["a-before"]["uptime_s"] or st["b-after"]["uptime_s"] < st["b-before"]["uptime_s"]:
        raise LoadTestError("a dvped restarted between the before and after files of %s" % d)
    path = os.path.join(d, "pktgen.txt")
    pg = {}
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or not parts[1].isdigit():
                    raise LoadTestError("%s:%d: expected 'key value', got %r" % (path, n, line.strip()))
                pg[parts[0]] = int(parts[1])
    except OSError as e:
        raise LoadTestError("cannot read %s: %s" % (path, e.strerror)) from None
    for k in ("size", "port0_opackets", "port0_obytes", "port1_ipackets", "port1_ibytes"):
        if k not in pg:
            raise LoadTestError("%s has no %s" % (path, k))
    try:
        before = {1: snapshot(st["a-before"], name_b), 2: snapshot(st["b-before"], name_a)}
        after = {1: snapshot(st["a-after"], name_b), 2: snapshot(st["b-after"], name_a)}
    except KeyError as e:
        raise LoadTestError("the status files in %s lack %s (dvpectl older than the daemon?)" % (d, e)) from None
    # pktgen's latency probes (other sizes) are in its counters: then bytes are checked hop to hop
    one_size = pg["port0_obytes"] == pg["port0_opackets"] * pg["size"]
    res = evaluate(port_of(st["a-before"], "ovl0")["driver"], pg["size"], "pktgen", before, after, None, None,
                   {"tx_packets": pg["port0_opackets"], "tx_bytes": pg["port0_obytes"]}, None,
                   {"rx_packets": pg["port1_ipackets"], "rx_bytes": pg["port1_ibytes"]}, None,
                   st["a-after"]["uptime_s"] - st["a-before"]["uptime_s"], one_size)
    res["one_size"] = one_size
    res["nodes"] = [name_a, name_b]
    return res


def report(res, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    a, b = res["node_a"], res["node_b"]
    if res["cipher"] == "pktgen":
        p("dvpe load test driven by pktgen: nodes %s -> %s, %s overlay ports, %d B frames, %.1f s between the "
          "status snapshots" % (res["nodes"][0], res["nodes"][1], res["overlay"], res["size"], res["seconds"]))
        p("")
        p("  rates: see pktgen's screen (or dvpectl NODE status --watch during the run)")
    else:
        p("dvpe load test: %s overlay ports, memif WAN, %d B frames, %s, %.1f s of traffic (load average %s)"
          % (res["overlay"], res["size"], res["cipher"], res["seconds"], " ".join(res["loadavg"])))
        p("")
        p("  delivered   %.3f Mpps = %.3f Gbit/s of %d B frames (node B overlay tx, after the warm-up)"
          % (res["delivered_mpps"], res["delivered_gbps"], res["size"]))
        p("  accepted    %.3f Mpps (node A overlay rx)" % res["accepted_mpps"])
    p("  loss        %d of %d frames = %.2f %% between generator and sink"
      % (res["lost"], res["generator"]["tx_packets"], 100 * res["loss"]))
    p("")
    p("  %-44s %14s" % ("hop", "packets"))
    rows = [("generator sent (port TX-packets)", res["generator"]["tx_packets"])]
    if res["generator"]["refused"] is not None:
        rows.append(("  refused by the generator's port (ring full)", res["generator"]["refused"]))
    rows += [("node A overlay rx", a["ovl_rx_packets"]),
            ("node A sealed for B (peer tx)", a["peer_tx_packets"]),
            ("node A WAN tx", a["wan_tx_packets"]),
            ("node B WAN rx", b["wan_rx_packets"]),
            ("node B opened from A (peer rx)", b["peer_rx_packets"]),
            ("node B overlay tx", b["ovl_tx_packets"]),
            ("sink received (port RX-packets)", res["sink"]["rx_packets"])]
    for name, v in rows:
        p("  %-44s %14d" % (name, v))
    p("")
    p("  drops on node A: %s" % (", ".join("%s %d" % kv for kv in sorted(res["drops_a"].items())) or "none"))
    p("  drops on node B: %s" % (", ".join("%s %d" % kv for kv in sorted(res["drops_b"].items())) or "none"))
    p("  (tx_failed on A: its WAN tx ring was full; on B: its overlay tx ring was full. The generator's")
    p("   refused frames never entered dvped: node A's overlay rx ring was full.)")
    p("")
    p("counter checks (deltas over the run):")
    for c in res["checks"]:
        p("  %-4s %-72s %d %s %d%s" % ("ok" if c["ok"] else "FAIL", c["check"], c["lhs"], "==" if c["ok"] else "!=",
                                       c["rhs"], ("   [" + c["why"] + "]") if c["why"] and not c["ok"] else ""))
    if res["cipher"] != "pktgen":
        p("")
        p("This is a functional check on a 2-vCPU machine shared by four busy-polling DPDK threads (generator,")
        p("node A, node B, sink) and other tenants: the numbers are honest but are not a speed record. The per-core")
        p("data-plane figures are perf/dataplane_bench.py's (docs/performance.md).")
    p("result: %s" % ("PASS" if res["ok"] else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DVPE_BUILD", "build"), help="meson build dir (default build)")
    ap.add_argument("--overlay", choices=["memif", "vhost"], default="memif")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of traffic (default 3)")
    ap.add_argument("--size", type=int, default=64, help="overlay frame size in bytes, %d..%d (default 64)"
                    % (MIN_FRAME, MAX_FRAME))
    ap.add_argument("--cipher", default="aes256-gcm", choices=["aes128-gcm", "aes256-gcm", "chacha20-poly1305"])
    ap.add_argument("--json-out", help="write the result (every counter and check) to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, keys, logs)")
    ap.add_argument("--compare", metavar="DIR", help="run nothing: compare the files a pktgen run with "
                    "configs/loadtest/pktgen-loadtest.lua wrote to DIR (docs/loadtest.md)")
    args = ap.parse_args()
    if args.compare:
        try:
            res = compare_dir(args.compare)
        except LoadTestError as e:
            print("loadtest: %s" % e, file=sys.stderr)
            return 1
        report(res)
        return 0 if res["ok"] else 1
    if not MIN_FRAME <= args.size <= MAX_FRAME:
        ap.error("--size %d is outside %d..%d (the overlay MTU %d plus the Ethernet header)"
                 % (args.size, MIN_FRAME, MAX_FRAME, OVERLAY_MTU))
    if not 0.2 <= args.seconds <= 600:
        ap.error("--seconds must be in 0.2..600")
    lt = None

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        lt = LoadTest(args.build, args.overlay, args.seconds, args.size, args.cipher, args.keep)
        res = lt.run()
    except LoadTestError as e:
        print("loadtest: %s" % e, file=sys.stderr)
        return 1
    finally:
        if lt is not None:
            lt.cleanup()
    report(res)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
