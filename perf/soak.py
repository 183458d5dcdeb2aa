#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Soak: two dvped nodes (two workers each) under steady UDP load with a rekey every few seconds,
for a long time (default one hour). Not part of CI's run; results go to docs/security.md.

    perf/soak.py --build build-ci                     # one hour, rekey = 4 s, 40 Mbit/s
    perf/soak.py --build build-ci --minutes 2         # a quick check of the script itself

Every interval (default 60 s) one iperf3 UDP run of that length goes soak1 -> soak2 over the
overlay (--bitrate Mbit/s in all, 1200 B datagrams, 8 parallel streams so both workers carry
traffic). It
prints per interval: datagrams lost (iperf3's lost_packets / lost_percent), rekeys so far,
soak2's unknown_key / replayed / auth_failed drops in the interval, every other counter that
moved (dvped drops of either node, their ports' rx_missed / rx_nombuf / errors, the kernel's
dvpe0 tx_dropped / rx_dropped and UDP RcvbufErrors: where a lost datagram went), and both
daemons' RSS (VmRSS from /proc). At the end it checks:
  - loss per interval at most --max-loss-percent (default 0.1 %: packets in flight while
    a key changes; the make-before-break rekey should lose none);
  - no unknown_key, replayed or auth_failed drop in any interval after the first;
  - RSS flat: the last interval's RSS within --rss-slack-kib (default 2048 KiB) of the RSS after
    the first interval, for both daemons;
  - every interval moved data, the sessions never went down (downs == 0, ups == 1).
Exit code 0 when all hold. Node names soak1/soak2 (their own EAL file prefixes) and a
per-process namespace tag, so it can run beside the integration suite (it takes CPU, though).
Only python3's standard library; run as root.
"""
import argparse
import json
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests"))
import dvpe_client as dc  # noqa: E402


def kernel_counters(ns):
    """Where the kernel drops on this node: the TAP's tx_dropped (the kernel could not queue a
    frame for dvped to read) and rx_dropped, and UDP receive-buffer overflows (iperf3 too slow)."""
    out = {}
    for key in ("tx_dropped", "rx_dropped"):
        r = subprocess.run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/dvpe0/statistics/" + key],
                           capture_output=True, text=True)
        out["dvpe0 " + key] = int(r.stdout.strip() or 0)
    r = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"], capture_output=True, text=True)
    udp = [line.split() for line in r.stdout.splitlines() if line.startswith("Udp:")]
    if len(udp) == 2:
        out["udp RcvbufErrors"] = int(dict(zip(udp[0], udp[1])).get("RcvbufErrors", 0))
    return out


def port_counters(node):
    out = {}
    for p in node.ctl("status")["ports"]:
        for key in ("rx_missed", "rx_nombuf", "rx_errors", "tx_errors"):
            out["%s %s" % (p["name"], key)] = p[key]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--interval", type=int, default=60, help="seconds per iperf3 run")
    ap.add_argument("--rekey", type=int, default=4, help="rekey = SECONDS")
    ap.add_argument("--bitrate", type=float, default=40, help="Mbit/s in all (iperf3 -b is per stream)")
    ap.add_argument("--max-loss-percent", type=float, default=0.1)
    ap.add_argument("--rss-slack-kib", type=int, default=2048)
    ap.add_argument("--json-out")
    a = ap.parse_args()
    os.environ["DVPE_BUILD"] = os.path.abspath(a.build)
    import test_overlay as ov  # noqa: E402 (needs DVPE_BUILD first)

    extra = "\n".join(["worker-lcores = 1,2", "eal-args = --lcores=0@0,1@1,2@1",
                       "queue-map = wan0 0 1", "queue-map = wan0 1 2", "queue-map = tap0 0 1",
                       "queue-map = tap0 1 2", "rekey = %d" % a.rekey, "keepalive = 10"])
    m = ov.OverlayMesh(["soak1", "soak2"], "udp", extra=extra)
    rows = []
    ok = True
    try:
        s1, s2 = m.node("soak1"), m.node("soak2")
        rounds = max(1, int(a.minutes * 60 // a.interval))
        prev = s2.ctl("status")["drops"]
        prev1 = s1.ctl("status")["drops"]
        where = lambda: {**{"soak1 " + k: v for k, v in {**port_counters(s1), **kernel_counters(s1.ns)}.items()},
                         **{"soak2 " + k: v for k, v in {**port_counters(s2), **kernel_counters(s2.ns)}.items()}}
        prev_where = where()
        for r in range(rounds):
            srv = subprocess.Popen(["ip", "netns", "exec", s2.ns, "iperf3", "-s", "-1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            res = ov.tb.sh(["iperf3", "-c", ov.overlay_ip(2), "-u", "-b", "%gM" % (a.bitrate / 8), "-l", "1200",
                            "-P", "8", "-t", str(a.interval), "-J"], ns=s1.ns, check=False, timeout=a.interval + 60)
            srv.wait(30)
            j = json.loads(res.stdout) if res.stdout.strip() else {}
            summ = j.get("end", {}).get("sum", {})
            drops = s2.ctl("status")["drops"]
            d = {k: drops[k] - prev[k] for k in ("unknown_key", "replayed", "auth_failed")}
            drops1 = s1.ctl("status")["drops"]
            # every other drop on either node, for attributing loss (e.g. tx_failed, no_session)
            other = {"soak1 " + k: drops1[k] - prev1[k] for k in drops1 if drops1[k] != prev1[k]}
            other.update({"soak2 " + k: drops[k] - prev[k] for k in drops if drops[k] != prev[k] and k not in d})
            prev, prev1 = drops, drops1
            now_where = where()
            # kernel and port counters that moved: where datagrams were lost outside dvped's drops
            other.update({k: v - prev_where.get(k, 0) for k, v in now_where.items() if v != prev_where.get(k, 0)})
            prev_where = now_where
            peer = m.peer("soak1", "soak2")
            row = {"round": r + 1, "lost": summ.get("lost_packets"), "packets": summ.get("packets"),
                   "lost_percent": summ.get("lost_percent"), "rekeys": peer["rekeys"], "ups": peer["ups"],
                   "downs": peer["downs"], "drops": d, "other_drops": other, "rss_kib": [dc.rss_kib(s1.proc.pid), dc.rss_kib(s2.proc.pid)],
                   "intervals_without_data": sum(1 for i in j.get("intervals", [])
                                                 if i.get("sum", {}).get("bytes", 0) == 0)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        first, last = rows[0], rows[-1]
        for row in rows:
            if row["lost_percent"] is None or row["lost_percent"] > a.max_loss_percent:
                print("FAIL: round %d lost %s %%" % (row["round"], row["lost_percent"]))
                ok = False
            if row["intervals_without_data"]:
                print("FAIL: round %d had 1 s intervals without data" % row["round"])
                ok = False
            if row["round"] > 1 and any(row["drops"].values()):
                print("FAIL: round %d drops %s" % (row["round"], row["drops"]))
                ok = False
        if last["downs"] != 0 or last["ups"] != 1:
            print("FAIL: the session went down (%d ups, %d downs)" % (last["ups"], last["downs"]))
            ok = False
        for i, name in enumerate(("soak1", "soak2")):
            grow = last["rss_kib"][i] - first["rss_kib"][i]
            print("%s RSS %d -> %d KiB (%+d)" % (name, first["rss_kib"][i], last["rss_kib"][i], grow))
            if grow > a.rss_slack_kib:
                print("FAIL: %s RSS grew by %d KiB" % (name, grow))
                ok = False
        print("soak: %d rounds of %d s, %d rekeys, %s" % (len(rows), a.interval, last["rekeys"],
                                                        "OK" if ok else "FAILED"))
        if a.json_out:
            with open(a.json_out, "w") as f:
                json.dump({"args": vars(a), "rows": rows, "ok": ok}, f, indent=1)
    finally:
        m.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
