#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TAP-to-TAP throughput between two dvped nodes beside the same test over a bare veth.

    dvpe:  ns A iperf3 -> dvpe0 (TAP) -> dvped A -> veth/bridge -> dvped B -> dvpe0 -> ns B iperf3
    bare:  ns A iperf3 -> veth -> ns B iperf3 (kernel only: the ceiling of this harness)

Columns are OVERLAY@WAN. Each overlay in --overlays is a devargs for the TAP port: net_tap0 (DPDK's TAP, one frame per
system call) and dvpe_tap0 (dvpe's own, pmd/host_tap.hh: TSO/GRO and checksum offload), also
e.g. dvpe_tap0,offload=off. --rounds alternates bare / each overlay so that a neighbour's load
hits all of them alike; the table gives the median of the rounds, the ratio to the bare veth,
and CPU seconds (whole machine, /proc/stat) per Gbit moved. --json keeps the raw rounds.
Runs iperf3 TCP (TCPR: reversed, -R) and UDP with 64 B and 1380 B datagrams (unlimited rate: what arrives is
measured) for --seconds each, and prints a table of delivered Mbit/s and kpps.
On this 2-vCPU machine both dvped workers, both kernels' TAP paths and iperf3 share two CPUs:
the numbers are those of a functional harness, not of dvpe's data plane (see perf/ for the
per-core benchmarks).
--transport takes a comma-separated list (e.g. udp,tcp: the tcp transport beside udp in the same
rounds; tcp nodes get an exception interface, through which their kernel's sockets reach the
WAN, docs/tcp.md).
Usage (root): DVPE_BUILD=build perf/overlay_iperf.py [--seconds 5] [--transport udp|rawip|icmp|tcp[,...]]
    [--overlays net_tap0,dvpe_tap0[,dvpe_tap0,uso=off]] [--rounds 3] [--cases TCP,UDP1380,UDP64] [--json FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


def cpu_busy():
    """Busy CPU seconds of the whole machine so far (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def iperf(client_ns, server_ns, server_ip, args, seconds):
    """(Mbit/s delivered, kpps or None, CPU seconds per Gbit moved)."""
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        c0 = cpu_busy()
        r = tb.sh(["iperf3", "-c", server_ip, "-J", "-t", str(seconds)] + args, ns=client_ns, check=False,
                  timeout=seconds + 30)
        cpu = cpu_busy() - c0
        res = json.loads(r.stdout)
        end = res["end"]
        if "sum_received" in end:  # TCP
            s = end["sum_received"]
            mbit, kpps = s["bits_per_second"] / 1e6, None
        else:
            s = end["sum"]
            pkts = s["packets"] - s["lost_packets"]
            mbit, kpps = s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, pkts / s["seconds"] / 1e3
        gbit = mbit * seconds / 1e3
        return mbit, kpps, (cpu / gbit if gbit > 0 else None)
    finally:
        srv.wait(10)


CASES = [("TCP", []), ("TCPR", ["-R"]), ("UDP1380", ["-u", "-b", "0", "-l", "1380"]), ("UDP64", ["-u", "-b", "0", "-l", "64"])]


def run_dvpe(transport, seconds, overlay, cases, wan_kind):
    """wan_kind af_packet: each node's WAN is net_af_packet on a veth into a Linux bridge (every
    sealed frame crosses the kernel: veth, bridge, veth, packet socket; a 4096-frame ring so a
    descheduled receiver does not drop); memif: the two nodes' WAN ports share memory (no kernel
    on the WAN, as a NIC-based gateway sees it)."""
    sockdir = tempfile.mkdtemp(prefix="dvpe-memif-")
    wan = (to.memif_wan(sockdir) if wan_kind == "memif"
           else (lambda i, n: "net_af_packet0,iface=wan-%s,framecnt=4096" % n))
    # tcp: the kernel's sockets need the WAN addresses: an exception interface, at a rate that
    # does not bound the measurement
    extra = "exception = wan0 exc0\nexception-rate = 1000000" if transport in ("tcp", "dns") else ""
    append = ""
    if transport == "dns":
        # alpha (the iperf3 client) queries beta, which serves u.test and answers itself: alpha's
        # data goes up in query names, beta's (TCPR: iperf3 -R) down in TXT answers
        extra += "\non alpha dns-forw-host = 10.77.0.2"
        append = "node = beta\ndns-domain = u.test"
    try:
        m = to.OverlayMesh(["alpha", "beta"], transport, tap=overlay, wan=wan, extra=extra, append=append)
    except Exception:
        subprocess.run(["rm", "-rf", sockdir])
        raise
    try:
        out = {}
        for name, args in CASES:
            if name in cases:
                out[name] = iperf(m.node("alpha").ns, m.node("beta").ns, "10.88.0.2", args, seconds)
        st = m.node("beta").ctl("status")
        out["drops"] = {k: v for k, v in st["drops"].items() if v}
        # dvpe_tap's counters over all cases (tx_writes against tx_packets: the coalescing)
        for node in ("alpha", "beta"):
            ports = st["ports"] if node == "beta" else m.node(node).ctl("status")["ports"]
            taps = [p["tap"] for p in ports if p.get("tap")]
            if taps:
                out[node + "_tap"] = taps[0]
        return out
    finally:
        m.cleanup()
        subprocess.run(["rm", "-rf", sockdir])


def run_bare(seconds, cases):
    tag = "bv%d" % (os.getpid() % 100000)
    a, b = tag + "-a", tag + "-b"
    try:
        for ns in (a, b):
            tb.sh(["ip", "netns", "add", ns])
            tb.sh(["ip", "link", "set", "lo", "up"], ns=ns)
        tb.sh(["ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b])
        tb.sh(["ip", "addr", "add", "10.99.0.1/24", "dev", "va"], ns=a)
        tb.sh(["ip", "addr", "add", "10.99.0.2/24", "dev", "vb"], ns=b)
        tb.sh(["ip", "link", "set", "va", "up"], ns=a)
        tb.sh(["ip", "link", "set", "vb", "up"], ns=b)
        time.sleep(0.5)
        return {name: iperf(a, b, "10.99.0.2", args, seconds) for name, args in CASES if name in cases}
    finally:
        for ns in (a, b):
            tb.sh(["ip", "netns", "del", ns], check=False)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--transport", default="udp", help="udp, rawip, icmp, tcp, dns or a comma-separated list")
    ap.add_argument("--overlays", default="net_tap0,dvpe_tap0")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cases", default="TCP,UDP1380,UDP64")
    ap.add_argument("--wan", default="af_packet", help="af_packet, memif, or both comma-separated")
    ap.add_argument("--json")
    args = ap.parse_args()
    cases = args.cases.split(",")
    transports = args.transport.split(",")
    for t in transports:
        if t not in ("udp", "rawip", "icmp", "tcp", "dns"):
            sys.exit("overlay_iperf: unknown transport " + t)
    # Devargs have commas of their own: a piece with '=' belongs to the overlay before it
    # ("dvpe_tap0,dvpe_tap0,uso=off" is two overlays).
    ovs = []
    for piece in args.overlays.split(","):
        if "=" in piece and ovs:
            ovs[-1] += "," + piece
        else:
            ovs.append(piece)
    overlays = ["%s@%s" % (ov, w) for w in args.wan.split(",") for ov in ovs]
    if len(transports) > 1:
        overlays = ["%s/%s" % (ov, t) for t in transports for ov in overlays]
    else:
        overlays = ["%s/%s" % (ov, transports[0]) for ov in overlays]
    rounds = []
    for r in range(args.rounds):
        one = {"bare": run_bare(args.seconds, cases), "load": os.getloadavg()[0]}
        for ov in overlays:
            dev, rest = ov.split("@")
            wan, transport = rest.split("/")
            one[ov] = run_dvpe(transport, args.seconds, dev, cases, wan)
        rounds.append(one)
        print("round %d done (load %.1f)" % (r + 1, one["load"]), file=sys.stderr)
    cols = ["bare"] + overlays
    print("\n%d round(s) of %d s, IPv4 underlay (%s), load average %s; median Mbit/s (kpps) [ratio to bare] "
          "{CPU s per Gbit}" % (args.rounds, args.seconds, args.transport,
                                " ".join("%.1f" % r["load"] for r in rounds)))
    print("%-8s" % "test" + "".join("%30s" % c for c in cols))
    for name in cases:
        line = "%-8s" % name
        bare = median([r["bare"][name][0] for r in rounds])
        for c in cols:
            mbit = median([r[c][name][0] for r in rounds])
            kpps = median([r[c][name][1] for r in rounds])
            cpu = median([r[c][name][2] for r in rounds])
            cell = "%.0f" % mbit + (" (%.0f)" % kpps if kpps is not None else "")
            cell += " [%.2f]" % (mbit / bare) if bare else ""
            cell += " {%.2f}" % cpu if cpu is not None else ""
            line += "%30s" % cell
        print(line)
        if name == "TCP" and len(rounds) > 1:
            print("%-8s" % "  rounds" + "".join("%30s" % " ".join("%.0f" % r[c][name][0] for r in rounds) for c in cols))
    for ov in overlays:
        drops = [r[ov]["drops"] for r in rounds if r[ov]["drops"]]
        print("%s receiver drops: %s" % (ov, drops or "none"))
    print("2 vCPUs shared by both nodes, both kernels and iperf3: a functional harness, not a per-core figure.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": rounds}, f, indent=1)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("overlay_iperf: run as root")
    main()
