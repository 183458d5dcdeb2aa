#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-core data-plane benchmark of dvped (issue 6, points 1 and 2). Run as root.

One dvped worker on lcore 1 (control thread on lcore 0, idle-sleep-us = 0), fed by net_pcap with
infinite_rx=1 (frames replayed from memory) and emptied into net_null (no-rx=1):
  encrypt: plaintext overlay frames (fe:fd:80:00:00:01 -> fe:fd:80:00:00:02, IPv4/UDP) on the
           overlay port -> sealed on the WAN port (net_null);
  decrypt: the sealed packets node 1 sends to node 2 (captured once per suite and size from a
           node-1 dvped writing its WAN port to tx_pcap) on node 2's WAN port -> frames on the
           overlay port (net_null).
Both nodes run with --benchmark-static-keys (fixed keys, no handshake; in that mode dvped also
ignores the replay window's verdict, so the looped capture decrypts on every pass; the window is
still consulted, so its cost is measured).

In the same invocation it measures the ceiling 1 / (t_io + t_crypto) of the issue:
  t_io     = 1 / pps of `dpdk-testpmd --forward-mode=io` on the very same vdevs (pcap -> null),
  t_crypto = 1 / Mpps of build/perf/crypto/aead_bench (the crypto::aead_context wrapper, bursts
             of 32, the backend dvped resolves) for the same suite and the AEAD payload length
             dvped uses (frame - 12 B: the MAC pair is elided), seal for encrypt, open for decrypt.
and prints dvped's Mpps (median of 0.5 s intervals of its `status` counters after a warm-up),
Gbit/s (overlay frame bytes), TSC cycles per packet (busy_cycles / packets; the worker never
sleeps) and dvped / ceiling. t_io is the median of testpmd's per-period Rx-pps, t_crypto the
median of aead_bench's repetitions (--stat best: the best of each, all three alike).

    perf/dataplane_bench.py                 # 7 sizes x 3 suites x 2 directions (~9 minutes)
    perf/dataplane_bench.py --quick         # 64 and 1420 B, AES-256-GCM, both directions
    perf/dataplane_bench.py --sizes 64,imix --suites aes256-gcm --dirs decrypt --seconds 5

Only python3's standard library. The pcaps are written by hand (no scapy).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import dvpe_client as dc  # noqa: E402  (the control-socket client the tests use too)

ALL_SIZES = ["64", "128", "256", "512", "1024", "1420", "imix"]
ALL_SUITES = ["aes128-gcm", "aes256-gcm", "chacha20-poly1305"]
IMIX = [64, 576, 64, 64, 576, 64, 1420, 64, 576, 64, 576, 64]  # 7:4:1 of 64/576/1420
SAMPLE_S = 0.5  # dvped counter sampling interval
N_FRAMES = 1200  # frames per pcap (a multiple of 12 so IMIX keeps 7:4:1 exactly)
MAC_ELIDED = 12  # dvped elides the (sender, receiver) MAC pair from the plaintext
NODE_MAC = {1: bytes.fromhex("fefd80000001"), 2: bytes.fromhex("fefd80000002")}
WAN_IP = {1: "10.77.0.1", 2: "10.77.0.2"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- pcap --------------------------------------------------------------------------------------

def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def read_pcap(path, limit):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack_from("<I", data)[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    out, off = [], 24
    while off + 16 <= len(data) and len(out) < limit:
        _, _, incl, _ = struct.unpack_from(end + "IIII", data, off)
        if off + 16 + incl > len(data):
            break  # a record cut short by the kill
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def overlay_frame(size, seq):
    """An Ethernet frame of `size` bytes (no FCS) as node 1's overlay delivers it for node 2."""
    ip_len = size - 14
    udp_len = ip_len - 20
    payload = bytes((seq + i) & 0xFF for i in range(udp_len - 8))
    udp = struct.pack("!HHHH", 10000 + seq % 1000, 5201, udp_len, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, seq & 0xFFFF, 0x4000, 64, 17, 0,
                     socket.inet_aton("10.88.0.1"), socket.inet_aton("10.88.0.2"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return NODE_MAC[2] + NODE_MAC[1] + b"\x08\x00" + ip + udp


def size_list(size):
    return IMIX if size == "imix" else [int(size)]


def mean_frame(size):
    s = size_list(size)
    return sum(s) / len(s)


# ---- dvped -------------------------------------------------------------------------------------

class Env:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.settings = list(args.set)  # --set VAR=VALUE, passed to every dvped
        self.dvped = os.path.join(self.build, "control", "dvped")
        self.aead_bench = os.path.join(self.build, "perf", "crypto", "aead_bench")
        self.tmp = tempfile.mkdtemp(prefix="dvpe-dpbench-")
        free = 0
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("HugePages_Free:"):
                        free = int(line.split()[1])
        except OSError:
            pass
        self.huge = free >= 384 and not args.no_huge  # 2 MiB pages: 768 MiB for one process
        self.procs = []

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # DPDK leaves its runtime dirs behind; ours are the file prefixes of n1, n2 and testpmd.
        for prefix in ("dvpe-n1", "dvpe-n2", "dvpe-dpbench-tp"):
            shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log("kept", self.tmp)


def write_conf(env, name, self_id, ports, extra=()):
    """A two-node gvpe.conf; `ports` are the local node's `port = ...` values."""
    d = os.path.join(env.tmp, "conf-" + name)
    os.makedirs(d, exist_ok=True)
    lines = ["enable-udp = yes", "mtu = 1500",
             "control-socket = %s/%%s.sock" % d, "pid-file = %s/%%s.pid" % d,
             "private-key = hostkeys/%s", "loglevel = info",
             "control-lcore = 0", "worker-lcores = 1",
             "hugepages = %s" % ("yes" if env.huge else "no"), "memory-mb = %d" % (512 if env.huge else 1024),
             "mbufs = 16384", "idle-sleep-us = 0", "keepalive = 3600"] + list(extra)
    for i in (1, 2):
        lines += ["", "node = n%d" % i, "hostname = %s" % WAN_IP[i]]
        if i == self_id:
            lines += ["port = %s" % p for p in ports]
            other = 3 - i
            lines += ["wan-address = wan0 %s/24" % WAN_IP[i],
                      "neighbour = wan0 %s 02:70:63:61:70:0%d" % (WAN_IP[other], other)]
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return d


class Dvped:
    def __init__(self, env, confdir, node, suite):
        self.env = env
        self.sock = os.path.join(confdir, "%s.sock" % node)
        self.logf = open(os.path.join(confdir, "dvped-%s-%s.log" % (node, suite)), "w+")
        cmd = [env.dvped, "-D", "-c", confdir, "--benchmark-static-keys", node, "cipher=" + suite] + env.settings
        self.p = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        env.procs.append(self.p)
        deadline = time.time() + 30
        while True:
            if self.p.poll() is not None:
                raise RuntimeError("dvped exited with %d:\n%s" % (self.p.returncode, self.log()))
            if os.path.exists(self.sock) and dc.try_status(self.sock):
                break
            if time.time() > deadline:
                raise RuntimeError("dvped did not come up:\n" + self.log())
            time.sleep(0.05)

    def log(self):
        self.logf.flush()
        self.logf.seek(0)
        return self.logf.read()[-4000:]

    def stop(self):
        dc.stop_process(self.p, 15)
        self.logf.close()


def resolve_backend(env, suite):
    d = write_conf(env, "check", 1, ["wan0 wan net_null0,no-rx=1", "ovl0 overlay net_null1,no-rx=1"])
    r = subprocess.run([env.dvped, "-c", d, "--check", "n1", "cipher=" + suite],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in r.stdout.splitlines():
        if line.startswith("cipher ") and " with backend " in line:
            return line.split(" with backend ")[1].strip()
    raise RuntimeError("dvped --check did not name a backend:\n" + r.stdout)


def capture_sealed(env, suite, size, plain_pcap):
    """Runs node 1 encrypting plain_pcap into a tx_pcap; returns the path of N_FRAMES sealed frames."""
    raw = os.path.join(env.tmp, "raw-%s-%s.pcap" % (suite, size))
    out = os.path.join(env.tmp, "sealed-%s-%s.pcap" % (suite, size))
    d = write_conf(env, "cap", 1, ["wan0 wan net_pcap1,tx_pcap=%s" % raw,
                                   "ovl0 overlay net_pcap0,rx_pcap=%s,infinite_rx=1" % plain_pcap])
    if os.path.exists(raw):
        os.unlink(raw)
    sealed_len = max(size_list(size)) + 64
    want = 24 + 3 * N_FRAMES * (16 + sealed_len)
    n = Dvped(env, d, "n1", suite)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(raw) and os.path.getsize(raw) >= want:
                break
            time.sleep(0.01)
    finally:
        n.stop()
    frames = read_pcap(raw, 2 * N_FRAMES)[N_FRAMES:]  # skip the start, keep N_FRAMES in loop order
    os.unlink(raw)
    if len(frames) < N_FRAMES:
        raise RuntimeError("captured only %d sealed packets for %s %s" % (len(frames), suite, size))
    write_pcap(out, frames)
    return out, sum(len(f) for f in frames) / len(frames)


def worker_layout(workers, direction):
    """Config lines for `workers` workers, each polling its own rx queue of the pcap port (and a
    queue of the net_null port, which the config requires and which never receives)."""
    if workers == 1:
        return []
    src, sink = ("ovl0", "wan0") if direction == "encrypt" else ("wan0", "ovl0")
    lines = ["worker-lcores = 1,2", "queue-map = %s 0 1" % src, "queue-map = %s 1 2" % src,
             "queue-map = %s 0 1" % sink]
    if (os.cpu_count() or 1) < 3:
        # Two CPUs: worker 1 alone on CPU 1, worker 2 on CPU 0 beside the (mostly idle) control
        # thread. Function, not speed.
        lines.append("eal-args = --lcores=0@0,1@1,2@0")
    return lines


def run_dvped(env, suite, size, direction, pcap, workers=1):
    rx = ",".join(["rx_pcap=%s" % pcap] * workers)  # one rx queue per copy, each replayed from memory
    if direction == "encrypt":
        node, ports = 1, ["wan0 wan net_null0,no-rx=1", "ovl0 overlay net_pcap0,%s,infinite_rx=1" % rx]
        counter = "encrypted"
    else:
        node, ports = 2, ["wan0 wan net_pcap0,%s,infinite_rx=1" % rx, "ovl0 overlay net_null0,no-rx=1"]
        counter = "decrypted"
    d = write_conf(env, "run%d" % node, node, ports, worker_layout(workers, direction))
    n = Dvped(env, d, "n%d" % node, suite)
    try:
        time.sleep(env.args.warmup)
        samples = [(dc.status(n.sock), time.monotonic())]
        end = samples[0][1] + env.args.seconds
        while time.monotonic() < end - 1e-3:
            time.sleep(min(SAMPLE_S, max(0.0, end - time.monotonic())))
            samples.append((dc.status(n.sock), time.monotonic()))
    finally:
        n.stop()
    # Per-interval rates; the median interval is reported (other tenants of this VM come and go).
    def total(st):
        """The workers' counters summed (one worker: its own)."""
        ws = st["workers"]
        out = {k: dc.worker_sum(st, k) for k in (counter, "busy_cycles", "rx_packets")}
        out["drops"] = {k: sum(w["drops"][k] for w in ws) for k in ws[0]["drops"]}
        return out

    ivals = []
    for (a, ta), (b, tb) in zip(samples, samples[1:]):
        wa, wb = total(a), total(b)
        dp = wb[counter] - wa[counter]
        ivals.append((dp / (tb - ta), (wb["busy_cycles"] - wa["busy_cycles"]) / dp if dp else float("nan"),
                      (wb["busy_cycles"] - wa["busy_cycles"]) / (b["tsc_hz"] * (tb - ta))))
    ivals.sort()
    (s0, t0), (s1, t1) = samples[0], samples[-1]
    w0, w1 = total(s0), total(s1)
    if len(s1["workers"]) != workers:
        raise RuntimeError("dvped runs %d workers, expected %d" % (len(s1["workers"]), workers))
    pkts = w1[counter] - w0[counter]
    dt = t1 - t0
    drops = {k: w1["drops"][k] - w0["drops"][k] for k in w1["drops"] if w1["drops"][k] != w0["drops"][k]}
    med = ivals[-1] if env.args.stat == "best" else ivals[len(ivals) // 2]
    res = {
        "pps": med[0],
        "pps_mean": pkts / dt,
        "pps_best": ivals[-1][0],
        "rx_pps": (w1["rx_packets"] - w0["rx_packets"]) / dt,
        "cycles_per_pkt": med[1],
        "busy": med[2],
        "tsc_hz": s1["tsc_hz"],
        "drops": drops,
    }
    if pkts == 0:
        raise RuntimeError("dvped %s %s %s moved no packets; drops %s\n%s" % (direction, suite, size, drops, n.log()))
    return res


# ---- testpmd (t_io) ------------------------------------------------------------------------------

def run_testpmd(env, pcap):
    eal = ["dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--no-pci", "--file-prefix", "dvpe-dpbench-tp",
           "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % pcap, "--vdev", "net_null0,no-rx=1"]
    eal += ["-m", "512"] if env.huge else ["--no-huge", "-m", "1024"]
    app = ["--", "--forward-mode=io", "--nb-cores=1", "--auto-start", "--stats-period", "1",
           "--total-num-mbufs=16384", "--burst=32"]
    logp = os.path.join(env.tmp, "testpmd.log")
    with open(logp, "w") as lf:
        p = subprocess.Popen(eal + app, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        env.procs.append(p)
        time.sleep(env.args.warmup + env.args.seconds + 2.5)
        dc.stop_process(p, 15, signal.SIGINT)
    # "Rx-pps:" lines appear per port, port 0 (pcap) first in each stats block.
    text = open(logp).read()
    rates, port = [], None
    for line in text.splitlines():
        if "NIC statistics for port" in line:
            port = int(line.split("port")[1].split()[0])
        elif "Rx-pps:" in line and port == 0:
            rates.append(int(line.split("Rx-pps:")[1].split()[0]))
    rates = [r for r in rates if r > 0]
    skip = int(env.args.warmup) + 1
    use = rates[skip:] if len(rates) > skip + 1 else rates
    if not use:
        raise RuntimeError("no Rx-pps from testpmd:\n" + text[-3000:])
    return max(use) if env.args.stat == "best" else statistics.median(use)


# ---- aead_bench (t_crypto) -------------------------------------------------------------------------

def run_crypto(env, suite, backend, lens, reps):
    """Median wrapper Mpps for (op, len) of this suite/backend."""
    lens = sorted(set(lens))
    flt = "^(seal|open)/%s/%s/wrapper/(%s)$" % (suite, backend, "|".join(str(x) for x in lens))
    cmd = ["taskset", "-c", "1", env.aead_bench, "--benchmark_format=json", "--benchmark_filter=" + flt,
           "--benchmark_repetitions=%d" % reps, "--benchmark_min_time=0.2"]
    e = dict(os.environ, AEAD_BENCH_SIZES=",".join(str(x) for x in lens))
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=e, text=True).stdout
    runs = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        op, _, _, _, ln = b.get("run_name", b["name"]).split("/")[:5]
        runs.setdefault((op, int(ln)), []).append(b["Mpps"])
    agg = max if env.args.stat == "best" else statistics.median
    return {k: agg(v) for k, v in runs.items()}


def t_crypto_ns(cres, op, size):
    # IMIX: the mean time per packet over the 7:4:1 mix
    ts = [1e3 / cres[(op, s - MAC_ELIDED)] for s in size_list(size)]
    return sum(ts) / len(ts)


# ---- main --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DVPE_BUILD", "build"), help="meson build dir (default build)")
    ap.add_argument("--quick", action="store_true", help="64 and 1420 B, aes256-gcm, both directions")
    ap.add_argument("--sizes", default=",".join(ALL_SIZES))
    ap.add_argument("--suites", default=",".join(ALL_SUITES))
    ap.add_argument("--dirs", default="encrypt,decrypt")
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per case")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--crypto-reps", type=int, default=3)
    ap.add_argument("--stat", choices=["median", "best"], default="median",
                    help="dvped 0.5 s intervals, testpmd periods and aead_bench repetitions: the median "
                         "(default) or the best of each; best is steadier when other tenants load the VM")
    ap.add_argument("--no-huge", action="store_true", help="run dvped and testpmd with --no-huge")
    ap.add_argument("--json-out", help="write every result to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (pcaps, configs, logs)")
    ap.add_argument("--workers", default="1",
                    help="worker counts to run, e.g. 1,2 (two workers on a 2-CPU machine share CPU 0 with "
                         "the control thread: a functional check, not a speed figure)")
    ap.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                    help="extra dvped command-line setting for both nodes, e.g. inherit-tos=yes (repeatable)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.suites = "64,1420", "aes256-gcm"
    sizes = args.sizes.split(",")
    suites = args.suites.split(",")
    dirs = args.dirs.split(",")
    if os.geteuid() != 0:
        sys.exit("dataplane_bench: run as root (DPDK)")
    env = Env(args)
    for b in (env.dvped, env.aead_bench):
        if not os.access(b, os.X_OK):
            sys.exit("dataplane_bench: %s not built (ninja -C %s control/dvped perf/crypto/aead_bench)" % (b, args.build))
    if shutil.which("dpdk-testpmd") is None:
        sys.exit("dataplane_bench: dpdk-testpmd not found (Debian package dpdk)")
    log("one worker (lcore 1), control thread on lcore 0; hugepages: %s; load before: %s"
        % (env.huge, open("/proc/loadavg").read().split()[:3]))
    workers_list = [int(w) for w in args.workers.split(",")]
    if any(w not in (1, 2) for w in workers_list):
        sys.exit("dataplane_bench: --workers takes 1 and/or 2")
    if 2 in workers_list and (os.cpu_count() or 1) < 3:
        log("two workers on %d CPUs: worker 2 shares CPU 0 with the control thread (--lcores=0@0,1@1,2@0); "
            "the two-worker rows show that both lanes work, not what two cores do" % os.cpu_count())
    rows = []
    try:
        plain = {}
        for sz in sizes:
            p = os.path.join(env.tmp, "plain-%s.pcap" % sz)
            sl = size_list(sz)
            write_pcap(p, [overlay_frame(sl[i % len(sl)], i) for i in range(N_FRAMES)])
            plain[sz] = p
        tio = {}
        for suite in suites:
            backend = resolve_backend(env, suite)
            lens = [s - MAC_ELIDED for sz in sizes for s in size_list(sz)]
            log("t_crypto: aead_bench %s/%s for payloads %s" % (suite, backend, sorted(set(lens))))
            cres = run_crypto(env, suite, backend, lens, args.crypto_reps)
            for sz in sizes:
                for direction in dirs:
                    if direction == "encrypt":
                        pcap = plain[sz]
                    else:
                        log("capturing sealed %s %s" % (suite, sz))
                        pcap, _ = capture_sealed(env, suite, sz, plain[sz])
                    key = (sz, direction)
                    if key not in tio:  # the sealed frames have the same lengths for every suite
                        log("t_io: testpmd io %s %s" % (direction, sz))
                        tio[key] = 1e9 / run_testpmd(env, pcap)
                    for nw in workers_list:
                        log("dvped %s %s %s, %d worker%s" % (direction, suite, sz, nw, "s" if nw > 1 else ""))
                        r = run_dvped(env, suite, sz, direction, pcap, nw)
                        tc = t_crypto_ns(cres, "seal" if direction == "encrypt" else "open", sz)
                        ceil = nw * 1e3 / (tio[key] + tc)  # Mpps: one core's ceiling per worker
                        row = {"size": sz, "direction": direction, "suite": suite, "backend": backend, "workers": nw,
                               "mpps": r["pps"] / 1e6, "gbps": r["pps"] * mean_frame(sz) * 8 / 1e9,
                               "cycles_per_pkt": r["cycles_per_pkt"], "busy": r["busy"], "tsc_hz": r["tsc_hz"],
                               "t_io_ns": tio[key], "t_crypto_ns": tc, "ceiling_mpps": ceil,
                               "ratio": r["pps"] / 1e6 / ceil, "drops": r["drops"],
                               "mpps_mean": r["pps_mean"] / 1e6, "mpps_best": r["pps_best"] / 1e6,
                               "loadavg": open("/proc/loadavg").read().split()[0]}
                        rows.append(row)
                        log("  %.3f Mpps, %.0f cycles/pkt, ceiling %.3f, ratio %.2f, drops %s"
                            % (row["mpps"], row["cycles_per_pkt"], ceil, row["ratio"], r["drops"] or "none"))
    finally:
        env.cleanup()
    hdr = "| size | direction | suite | workers | dvped Mpps | Gbit/s | cycles/pkt | t_io ns | t_crypto ns | ceiling Mpps | ratio |"
    print(hdr)
    print("|" + "---|" * 11)
    for r in rows:
        print("| %s | %s | %s | %d | %.2f | %.2f | %.0f | %.1f | %.1f | %.2f | %.2f |" % (
            r["size"] if r["size"] == "imix" else r["size"] + " B", r["direction"], r["suite"], r["workers"], r["mpps"], r["gbps"],
            r["cycles_per_pkt"], r["t_io_ns"], r["t_crypto_ns"], r["ceiling_mpps"], r["ratio"]))
    tsc = rows[0]["tsc_hz"] / 1e9 if rows else 0
    print("\ncycles are TSC cycles (%.3f GHz); Gbit/s counts overlay frame bytes; statistic: %s; load average now %s"
          % (tsc, args.stat, open("/proc/loadavg").read().split()[:3]))
    targets = {"64": 0.80, "1420": 0.90}
    for r in rows:
        if r["suite"] == "aes256-gcm" and r["size"] in targets and r["workers"] == 1:
            t = targets[r["size"]]
            print("target %s B %s aes256-gcm: ratio %.2f vs %.2f: %s" % (
                r["size"], r["direction"], r["ratio"], t, "met" if r["ratio"] >= t else "NOT met"))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
