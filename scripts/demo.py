#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's demo: a three-node encrypted dvpe mesh in network namespaces.

Builds the topology of configs/demo/gvpe.conf with the integration test bed
(tests/integration/dvpe_netns.py, which also generates every node's X25519 keys with
`dvpectl keygen -G`), starts one dvped per node and shows: the engines answering ARP and ping on
their WAN addresses, the encrypted sessions coming up, ping between every pair of nodes over
the TAP overlay, iperf3 TCP and UDP across it, and each node's counters from the control
socket (`dvpectl status`, `dvpectl config`). Then it removes everything again.
"""
import argparse
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import dvpe_netns as tb  # noqa: E402


def step(msg):
    print("\n\033[1m== %s\033[0m" % msg, flush=True)


def show(cmd, ns=None):
    r = tb.sh(cmd, ns=ns, check=False)
    print(("$ %s%s\n" % ("ip netns exec %s " % ns if ns else "", " ".join(cmd))) + r.stdout + r.stderr, end="",
          flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hugepages", action="store_true", help="run the nodes on hugepages (default: --no-huge)")
    args = ap.parse_args()
    confdir = os.path.join(TOP, "configs", "demo")
    overrides = ["hugepages=yes"] if args.hugepages else []
    nodes = {"alpha": "10.77.0.1", "beta": "10.77.0.2", "gamma": "10.77.0.3"}
    step("topology: underlay namespace with a bridge, one namespace per node (configs/demo/gvpe.conf)")
    mesh = tb.Mesh(nodes, confdir, overrides=overrides)
    ok = True
    try:
        for name in nodes:
            step("starting dvped %s in namespace %s" % (name, mesh.nodes[name].ns))
            mesh.nodes[name].start()
            print("".join(l + "\n" for l in mesh.nodes[name].log().splitlines() if "info:" in l or "notice" in l))
        for name, ip in nodes.items():
            step("ping %s's WAN address %s from the underlay host (answered by the engine)" % (name, ip))
            r = show(["ping", "-c", "2", "-i", "0.2", "-W", "2", ip], ns=mesh.underlay)
            ok &= r.returncode == 0
        step("ARP: the underlay host learnt the engines' WAN MACs")
        show(["ip", "neigh", "show", "dev", "br0"], ns=mesh.underlay)
        step("overlay: each node's TAP gets an address (as an if-up script would)")
        for i, name in enumerate(nodes, start=1):
            tb.sh(["ip", "addr", "add", "10.88.0.%d/24" % i, "dev", "dvpe0"], ns=mesh.nodes[name].ns)
            show(["ip", "-br", "link", "show", "dvpe0"], ns=mesh.nodes[name].ns)
        step("waiting for the encrypted sessions (Noise IK handshakes)")
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(p["state"] == "up" for n in mesh.nodes.values() for p in n.ctl("peers")["peers"]):
                break
            time.sleep(0.2)
        for name in nodes:
            peers = mesh.nodes[name].ctl("peers")["peers"]
            print("%s: %s" % (name, ", ".join("%s %s via %s" % (p["name"], p["state"], p.get("transport", "?"))
                                                for p in peers)))
        for i, name in enumerate(nodes, start=1):
            for j in range(1, len(nodes) + 1):
                if j != i:
                    step("%s -> 10.88.0.%d over the encrypted overlay" % (name, j))
                    r = show(["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.88.0.%d" % j], ns=mesh.nodes[name].ns)
                    ok &= r.returncode == 0
        beta = mesh.nodes["beta"]
        for args, what in ((["-t", "3"], "TCP"), (["-u", "-b", "100M", "-l", "1380", "-t", "3"], "UDP 1380 B")):
            step("iperf3 %s alpha -> beta over the overlay" % what)
            srv = subprocess.Popen(["ip", "netns", "exec", beta.ns, "iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            r = show(["iperf3", "-c", "10.88.0.2"] + args, ns=mesh.nodes["alpha"].ns)
            ok &= r.returncode == 0
            srv.wait(10)
        for name in nodes:
            step("dvpectl status on %s" % name)
            show([tb.dvpectl_bin(), "-S", mesh.nodes[name].sock, "status"])
        step("dvpectl config on alpha (the node table, as gvpectrl -s)")
        show([tb.dvpectl_bin(), "-S", mesh.nodes["alpha"].sock, "config"])
    finally:
        step("cleanup: SIGTERM to every dvped, namespaces removed")
        for name in nodes:
            rc = mesh.nodes[name].stop()
            print("dvped %s exited with %s" % (name, rc))
            ok &= rc == 0
        mesh.cleanup()
    print("\ndemo %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("demo: run as root (network namespaces, DPDK)")
    sys.exit(main())
