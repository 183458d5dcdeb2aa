#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TAP-to-TAP throughput between two dvped nodes beside the same test over a bare veth.

    dvpe:  ns A iperf3 -> dvpe0 (TAP) -> dvped A -> veth/bridge -> dvped B -> dvpe0 -> ns B iperf3
    bare:  ns A iperf3 -> veth -> ns B iperf3 (kernel only: the ceiling of this harness)

Runs iperf3 TCP and UDP with 64 B and 1400 B datagrams (unlimited rate: what arrives is
measured) for --seconds each, and prints a table of delivered Mbit/s and kpps.
On this 2-vCPU machine both dvped workers, both kernels' TAP paths and iperf3 share two CPUs:
the numbers are those of a functional harness, not of dvpe's data plane (see perf/ for the
per-core benchmarks).
Usage (root): DVPE_BUILD=build perf/overlay_iperf.py [--seconds 5] [--transport udp|rawip|icmp]
"""
import argparse
import json
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


def iperf(client_ns, server_ns, server_ip, args, seconds):
    srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        r = tb.sh(["iperf3", "-c", server_ip, "-J", "-t", str(seconds)] + args, ns=client_ns, check=False,
                  timeout=seconds + 30)
        res = json.loads(r.stdout)
        end = res["end"]
        if "sum_received" in end:  # TCP
            s = end["sum_received"]
            return s["bits_per_second"] / 1e6, None
        s = end["sum"]
        pkts = s["packets"] - s["lost_packets"]
        return s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, pkts / s["seconds"] / 1e3
    finally:
        srv.wait(10)


CASES = [("TCP", []), ("UDP 1400 B", ["-u", "-b", "0", "-l", "1380"]), ("UDP 64 B", ["-u", "-b", "0", "-l", "64"])]


def run_dvpe(transport, seconds):
    m = to.OverlayMesh(["alpha", "beta"], transport)
    try:
        out = {}
        for name, args in CASES:
            out[name] = iperf(m.node("alpha").ns, m.node("beta").ns, "10.88.0.2", args, seconds)
        st = m.node("beta").ctl("status")
        out["drops"] = {k: v for k, v in st["drops"].items() if v}
        return out
    finally:
        m.cleanup()


def run_bare(seconds):
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
        return {name: iperf(a, b, "10.99.0.2", args, seconds) for name, args in CASES}
    finally:
        for ns in (a, b):
            tb.sh(["ip", "netns", "del", ns], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--transport", default="udp", choices=["udp", "rawip", "icmp"])
    args = ap.parse_args()
    bare = run_bare(args.seconds)
    dvpe = run_dvpe(args.transport, args.seconds)
    print("\n%-12s %22s %22s" % ("test", "bare veth", "dvpe TAP-to-TAP (%s4)" % args.transport))
    for name, _ in CASES:
        def fmt(v):
            mbit, kpps = v
            return "%8.0f Mbit/s" % mbit + ("  %6.0f kpps" % kpps if kpps is not None else "")
        print("%-12s %22s %22s" % (name, fmt(bare[name]), fmt(dvpe[name])))
    print("dvpe receiver drops: %s" % (dvpe["drops"] or "none"))
    print("2 vCPUs shared by both nodes, both kernels and iperf3: a functional harness, not a per-core figure.")


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("overlay_iperf: run as root")
    main()
