#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's demo: a dvpe mesh in network namespaces, traffic, counters, cleanup.

Builds the topology of configs/demo/gvpe.conf with the integration test bed
(tests/integration/dvpe_netns.py), starts one dvped per node, shows that they are up (ARP and
ping to their WAN addresses from the underlay host, the engines resolving each other, the
overlay TAP interface with the node's MAC and MTU), prints each node's control-socket counters
with dvpectl, and removes everything again.
"""
import argparse
import os
import sys

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
    nodes = {"alpha": "10.77.0.1", "beta": "10.77.0.2"}
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
            r = show(["ping", "-c", "3", "-i", "0.2", "-W", "2", ip], ns=mesh.underlay)
            ok &= r.returncode == 0
        step("ARP: the underlay host learnt the engines' WAN MACs")
        show(["ip", "neigh", "show", "dev", "br0"], ns=mesh.underlay)
        for name in nodes:
            n = mesh.nodes[name]
            step("%s: overlay TAP interface (node MAC, MTU = mtu - 66)" % name)
            show(["ip", "link", "show", "dvpe0"], ns=n.ns)
            step("%s: neighbour table (the engine resolved its peers by ARP)" % name)
            show([tb.dvpectl_bin(), "-S", n.sock, "raw", '{"cmd":"neighbours"}'])
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
