#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end handshake capacity of one dvped control thread, and a flood of spoofed initiations
against a node with an established session (issue 14 point 3). Run as root.

capacity  (namespace hs-cap: veth hs-wan <-> hs-gen)
    dvped `a` (node 1): WAN = net_af_packet on hs-wan, overlay net_null; control thread on lcore 0,
    one worker on lcore 1 (idle-sleep-us 200). The config holds N more nodes g2..g(N+1)
    (`connect = never`, no hostname: reached where their handshakes come from), keys from
    `dvpectl keygen -G`. build/perf/control/handshake_load_gen (pinned to CPU 1) is those N
    initiators on hs-gen, each from its own IPv4 source 10.79.x.y: initiations made before the
    clock starts with the real protocol core, at most --window outstanding, a cookie reply
    answered by resending with mac2, an unanswered initiation (dropped over dvped's drain budget)
    abandoned after --timeout-ms (200) for the identity's next one. The figure:
    handshakes answered per second by dvped (status handshake.completed_responder over the run,
    beside the generator's own count of valid responses; the last round of every identity is
    completed by its protocol core, so the responses are checked to be real).

flood     (namespaces hs-u (bridge), hs-a, hs-b, hs-c; veths u-x <-> wan-x)
    dvped a and b with a session, both with a net_tap overlay (dvpe0, 10.88.0.1/.2). iperf3 UDP
    (-l 1380) from hs-b to hs-a through the session: --udp-rate (offered; 0 = as fast as iperf3
    goes) for --flood-seconds, alternating runs without and with a flood (--flood-reps pairs):
    handshake_load_gen flood on u-a, valid-mac1 initiations (src node id of a configured peer,
    random contents) from 4096 random spoofed IPv4 sources and MACs, sendmmsg as fast as the
    thread goes. During every flood run, a third node g3 (not a dvped: the generator with g3's
    key, one identity, --live 1) begins its first handshake with a after a third of the run and
    must complete it: an initiation every second until one is answered (the flood makes most
    of them drop over a's drain budget), a cookie reply stored and followed at once by an
    initiation with mac2, the response completed by the protocol core.
    Reported: iperf3's received rate at a, flood / no flood, the flood's send rate, a's
    handshake counters (cookies sent, rate limited, dropped over budget...), whether c completed.

    perf/handshake_load.py --build build-hs --identities 1000 --seconds 10 --reps 3
    perf/handshake_load.py --build build-hs --skip-capacity --flood-reps 3 --udp-rate 0

Every run takes flock /tmp/dvpe-integration.lock (the integration tests' namespaces). JSON of
every run goes to --out (default perf/results/handshake-e2e-<UTC time>.json). Python stdlib only.
"""
import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests"))
import dvpe_client as dc  # noqa: E402

LOCK = "/tmp/dvpe-integration.lock"
A_MAC = "02:79:00:00:00:01"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, ns=None, check=True, timeout=120):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


class Env:
    def __init__(self, args):
        self.args = args
        self.dvped = args.dvped or os.path.join(args.build, "control", "dvped")
        self.dvpectl = os.path.join(args.build, "control", "dvpectl")
        self.gen = os.path.join(args.build, "perf", "control", "handshake_load_gen")
        for p in (self.dvped, self.dvpectl, self.gen):
            if not os.path.exists(p):
                raise SystemExit("missing %s (ninja -C %s control/dvped control/dvpectl "
                                 "perf/control/handshake_load_gen)" % (p, args.build))
        self.tmp = tempfile.mkdtemp(prefix="dvpe-hsload-")
        self.namespaces = []
        self.procs = []

    def netns(self, name):
        sh(["ip", "netns", "del", name], check=False)
        sh(["ip", "netns", "add", name])
        self.namespaces.append(name)
        sh(["ip", "link", "set", "lo", "up"], ns=name)
        for k in ("all", "default"):
            sh(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k], ns=name)

    def veth(self, a, ns_a, b, ns_b, mac_a=None):
        sh(["ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b])
        if mac_a:
            sh(["ip", "link", "set", a, "address", mac_a], ns=ns_a)
        for n, ns in ((a, ns_a), (b, ns_b)):
            sh(["ip", "link", "set", n, "up"], ns=ns)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        for ns in self.namespaces:
            sh(["ip", "netns", "del", ns], check=False)
        self.namespaces = []


def write_conf(env, d, nodes, extra=()):
    """A gvpe.conf of nodes [(name, hostname or None, [lines of its section])] and keys for all."""
    os.makedirs(d, exist_ok=True)
    lines = ["enable-udp = yes", "mtu = 1500", "private-key = hostkeys/%s",
             "control-socket = %s/%%s.sock" % d, "pid-file = %s/%%s.pid" % d,
             "hugepages = no", "memory-mb = 256", "rx-descriptors = 512", "tx-descriptors = 512",
             "idle-sleep-us = 200", "keepalive = 3600", "loglevel = notice"] + list(extra)
    for name, ip, more in nodes:
        lines += ["", "node = %s" % name]
        if ip:
            lines.append("hostname = %s" % ip)
        lines += more
    with open(os.path.join(d, "gvpe.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    sh([env.dvpectl, "-c", d, "keygen", "-G"], timeout=600)
    return d


class Dvped:
    def __init__(self, env, confdir, name, ns):
        self.sock = os.path.join(confdir, "%s.sock" % name)
        self.logpath = os.path.join(confdir, "dvped-%s.log" % name)
        self.logf = open(self.logpath, "w")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, env.dvped, "-D", "-c", confdir, name],
                                  stdout=self.logf, stderr=subprocess.STDOUT)
        env.procs.append(self.p)
        deadline = time.time() + 60
        while not (os.path.exists(self.sock) and dc.try_status(self.sock)):
            if self.p.poll() is not None or time.time() > deadline:
                raise RuntimeError("dvped %s did not come up:\n%s" % (name, self.log()))
            time.sleep(0.1)

    def log(self):
        self.logf.flush()
        with open(self.logpath) as f:
            return f.read()[-3000:]

    def status(self):
        return dc.status(self.sock, timeout=10)

    def ctl(self, cmd, **a):
        return dc.command(self.sock, cmd, timeout=10, **a)

    def stop(self):
        dc.stop_process(self.p, 20)
        self.logf.close()


def thread_cpu(pid):
    """CPU seconds (user + system) of every thread of pid, by thread name."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    st = f.read()
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            f = st[st.rindex(")") + 2:].split()
            out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / tck
    except OSError:
        pass
    return out


def cpu_share(a, b, seconds):
    """Fraction of one CPU each thread used between two thread_cpu() readings."""
    return {k: round((v - a.get(k, 0)) / seconds, 3) for k, v in b.items() if v - a.get(k, 0) > 0.005 * seconds}


def hs_counters(st):
    h = st["handshake"]
    out = {k: v for k, v in h.items() if k != "rejected"}
    out["rejected"] = {k: v for k, v in h["rejected"].items() if v}
    return out


def worker_totals(st):
    keys = ("rx_packets", "tx_packets", "decrypted", "to_control", "from_control", "busy_cycles", "idle_sleeps")
    out = {k: 0 for k in keys}
    for w in st.get("workers", []):
        for k in keys:
            if isinstance(w.get(k), int):
                out[k] += w[k]
    out["drops"] = {k: v for k, v in st.get("drops", {}).items() if isinstance(v, int)}
    return out


def port_totals(st, name="wan0"):
    for p in st.get("ports", []):
        if p.get("name") == name:
            return {k: p.get(k, 0) for k in ("rx_packets", "rx_missed", "rx_nombuf", "rx_errors", "tx_errors")}
    return {}


def nonzero(d):
    return {k: (nonzero(v) if isinstance(v, dict) else v) for k, v in d.items() if v}


def diff(a, b):
    out = {}
    for k, v in b.items():
        if isinstance(v, dict):
            out[k] = diff(a.get(k, {}), v)
        else:
            out[k] = v - a.get(k, 0)
    return out


# ---- capacity ----------------------------------------------------------------------------------

def capacity(env, args):
    n = args.identities
    env.netns("hs-cap")
    env.veth("hs-wan", "hs-cap", "hs-gen", "hs-cap", mac_a=A_MAC)
    d = os.path.join(env.tmp, "cap")
    nodes = [("a", "10.79.0.1", ["port = wan0 wan net_af_packet0,iface=hs-wan",
                                 "port = ovl0 overlay net_null0,no-rx=1",
                                 "wan-address = wan0 10.79.0.1/16", "control-lcore = 0", "worker-lcores = 1"])]
    nodes += [("g%d" % i, None, ["connect = never"]) for i in range(2, n + 2)]
    t = time.time()
    write_conf(env, d, nodes)
    log("capacity: config of %d nodes and keys in %.1f s" % (n + 1, time.time() - t))
    a = Dvped(env, d, "a", "hs-cap")
    runs = []
    try:
        for rep in range(args.reps):
            st0 = a.status()
            tc0 = thread_cpu(a.p.pid)
            c0 = cpu_times()
            la = loadavg()
            t0 = time.time()
            gen = sh(["ip", "netns", "exec", "hs-cap", "taskset", "-c", str(args.gen_cpu), env.gen, "load",
                      "--iface", "hs-gen", "--confdir", d, "--responder", "a", "--prefix", "g",
                      "--first", "2", "--count", str(n), "--window", str(args.window),
                      "--rounds", str(args.rounds), "--seconds", str(args.seconds),
                      "--timeout-ms", str(args.timeout_ms),
                      "--dst-mac", A_MAC, "--dst-ip", "10.79.0.1"], timeout=args.seconds * 4 + 600)
            g = json.loads(gen.stdout)
            tc1 = thread_cpu(a.p.pid)
            st1 = a.status()
            c1 = cpu_times()
            dh = diff(hs_counters(st0), hs_counters(st1))
            busy = 1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0])
            r = {"rep": rep + 1, "generator": g, "dvped_delta": dh, "load_before": la, "load_after": loadavg(),
                 "machine_busy_fraction_incl_pregen": round(busy, 3),
                 # dvped's threads over the whole generator run, pregeneration included (dvped idles then)
                 "dvped_cpu_seconds": {k: round(v - tc0.get(k, 0), 2) for k, v in tc1.items() if v - tc0.get(k, 0) > 0.01},
                 "dvped_completed_per_s": dh["completed_responder"] / g["seconds"] if g["seconds"] else 0,
                 "wall_s": round(time.time() - t0, 1)}
            runs.append(r)
            log("capacity rep %d: generator %.0f/s (completed %d, verified %d/%d, cookies %d, timeouts %d), "
                "dvped completed_responder +%d (%.0f/s), dropped over budget +%d, load %s, dvped CPU s %s" % (
                    rep + 1, g["completed_per_s"], g["completed"], g["verified"], n, g["cookie_replies"],
                    g["timeouts"], dh["completed_responder"], r["dvped_completed_per_s"],
                    dh["dropped_over_budget"], la, r["dvped_cpu_seconds"]))
    finally:
        a.stop()
        env.cleanup()
    return {"identities": n, "window": args.window, "rounds": args.rounds, "seconds": args.seconds,
            "timeout_ms": args.timeout_ms, "dvped": env.dvped, "runs": runs}


# ---- flood -------------------------------------------------------------------------------------

def iperf(env, args, seconds):
    """iperf3 UDP hs-b -> hs-a over the overlay; returns the receiver's bits/s and loss."""
    r = sh(["ip", "netns", "exec", "hs-b", "iperf3", "-c", "10.88.0.1", "-u", "-l", "1380",
            "-b", str(args.udp_rate), "-t", str(seconds), "-J"], timeout=seconds + 60, check=False)
    j = json.loads(r.stdout) if r.stdout.strip() else {}
    end = j.get("end", {})
    s = end.get("sum", {})
    sent_bps = s.get("bits_per_second", 0.0)
    lost = s.get("lost_percent")
    # iperf3 3.12 reports UDP as the sender's rate with the receiver's loss: received = sent x (1 - loss)
    rx_bps = end["sum_received"]["bits_per_second"] if "sum_received" in end else (
        sent_bps * (1 - lost / 100) if lost is not None else 0.0)
    return {"received_bps": rx_bps, "sent_bps": sent_bps, "lost_percent": lost,
            "packets": s.get("packets"), "lost_packets": s.get("lost_packets"), "error": j.get("error")}


def flood(env, args):
    for ns in ("hs-u", "hs-a", "hs-b"):
        env.netns(ns)
    sh(["ip", "link", "add", "br0", "type", "bridge"], ns="hs-u")
    sh(["ip", "link", "set", "br0", "up"], ns="hs-u")
    macs = {"a": A_MAC, "b": "02:79:00:00:00:02"}
    for name in ("a", "b"):
        env.veth("wan-" + name, "hs-" + name, "u-" + name, "hs-u", mac_a=macs[name])
        sh(["ip", "link", "set", "u-" + name, "master", "br0"], ns="hs-u")
    # What a answers to the flood (cookie replies to 02:66:00:00:00:01) and to the new peer goes back
    # out of u-a, where those frames came from, as to an upstream router: the bridge must not
    # flood them to b (unknown destination MACs go to every port).
    for mac in ("02:66:00:00:00:01", "02:79:00:00:00:03"):
        sh(["bridge", "fdb", "add", mac, "dev", "u-a", "master", "static"], ns="hs-u")
    d = os.path.join(env.tmp, "flood")
    common = ["port = tap0 overlay net_tap0", "ifname = dvpe0"]
    nodes = [("a", "10.79.0.1", ["port = wan0 wan net_af_packet0,iface=wan-a", "wan-address = wan0 10.79.0.1/16",
                                 "control-lcore = 0", "worker-lcores = 1"] + common),
             ("b", "10.79.0.2", ["port = wan0 wan net_af_packet0,iface=wan-b", "wan-address = wan0 10.79.0.2/16",
                                 "control-lcore = 1", "worker-lcores = 0"] + common),
             ("g3", None, ["connect = never"])]  # the legitimate new peer (node id 3), played by the generator
    write_conf(env, d, nodes, extra=["mbufs = %d" % args.mbufs] if args.mbufs else [])
    a = Dvped(env, d, "a", "hs-a")
    b = Dvped(env, d, "b", "hs-b")
    runs = []
    try:
        for name, ip in (("a", "10.88.0.1"), ("b", "10.88.0.2")):
            sh(["ip", "addr", "add", ip + "/24", "dev", "dvpe0"], ns="hs-" + name)
            sh(["ip", "link", "set", "dvpe0", "up"], ns="hs-" + name)
        dc.wait_for(lambda: [p["state"] for p in a.ctl("peers")["peers"] if p["name"] == "b"] == ["up"], 30, "a-b up")
        srv = subprocess.Popen(["ip", "netns", "exec", "hs-a", "iperf3", "-s"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        env.procs.append(srv)
        time.sleep(1)
        iperf(env, args, 2)  # warm-up
        secs = args.flood_seconds
        for rep in range(args.flood_reps):
            for flooded in [None] + args.flood_kinds.split(","):
                st0 = a.status()
                la = loadavg()
                cpu0 = {"a": thread_cpu(a.p.pid), "b": thread_cpu(b.p.pid)}
                t_run = time.time()
                fl = legit = None
                if flooded:
                    pin = ["taskset", "-c", args.flood_cpu] if args.flood_cpu else []
                    fl = subprocess.Popen(["ip", "netns", "exec", "hs-u"] + pin + [env.gen, "flood", "--kind", flooded, "--iface", "u-a",
                                           "--confdir", d, "--responder", "a", "--src-id", "2",
                                           "--dst-mac", A_MAC, "--dst-ip", "10.79.0.1",
                                           "--seconds", str(secs + 2)],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    env.procs.append(fl)
                    time.sleep(1)
                    # the new peer begins after a third of the measured run
                    legit = subprocess.Popen(["bash", "-c", "sleep %.1f; exec ip netns exec hs-u %s load --iface u-a "
                                              "--confdir %s --responder a --prefix g --first 3 --count 1 "
                                              "--live 1 --until-completed 1 --rounds 1000 --window 1 "
                                              "--seconds %d --timeout-ms 1000 "
                                              "--dst-mac %s --dst-ip 10.79.0.1 --net 80" % (
                                                  secs / 3, env.gen, d, max(4, int(secs * 2 / 3) + 1), A_MAC)],
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    env.procs.append(legit)
                ip = iperf(env, args, secs)
                el = time.time() - t_run
                rec = {"rep": rep + 1, "flood": flooded or "none", "iperf": ip, "load_before": la,
                       "cpu_of_one": {"a": cpu_share(cpu0["a"], thread_cpu(a.p.pid), el),
                                      "b": cpu_share(cpu0["b"], thread_cpu(b.p.pid), el)}}
                if flooded:
                    out, _ = fl.communicate(timeout=60)
                    rec["flood_gen"] = json.loads(out) if out.strip() else None
                    lo, le = legit.communicate(timeout=120)
                    rec["legit_peer"] = json.loads(lo) if lo.strip() else {"stderr": le[-500:]}
                st1 = a.status()
                rec["a_handshake_delta"] = diff(hs_counters(st0), hs_counters(st1))
                rec["a_workers_delta"] = nonzero(diff(worker_totals(st0), worker_totals(st1)))
                rec["a_wan_port_delta"] = nonzero(diff(port_totals(st0), port_totals(st1)))
                rec["a_peer_b_state"] = [p["state"] for p in a.ctl("peers")["peers"] if p["name"] == "b"]
                rec["load_after"] = loadavg()
                runs.append(rec)
                log("flood rep %d %-8s: %.1f Mbit/s received (loss %s %%)%s" % (
                    rep + 1, flooded or "none", ip["received_bps"] / 1e6, ip["lost_percent"],
                    "" if not flooded else ", flood %.0f/s, legit peer completed %s (cookie replies %s)" % (
                        (rec["flood_gen"] or {}).get("rate_per_s", 0), rec["legit_peer"].get("verified"),
                        rec["legit_peer"].get("cookie_replies"))))
                log("   cpu (of one CPU): a %s  b %s; a's wan0 %s" % (rec["cpu_of_one"]["a"], rec["cpu_of_one"]["b"],
                                                                   rec["a_wan_port_delta"]))
                time.sleep(2)
    finally:
        for p in (a, b):
            p.stop()
        env.cleanup()
    return {"udp_rate": args.udp_rate, "seconds": args.flood_seconds, "dvped": env.dvped, "runs": runs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--dvped", default=None, help="another dvped binary (A/B comparisons); the rest from --build")
    ap.add_argument("--identities", type=int, default=1000)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=8, help="initiations per identity made before the run")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout-ms", type=int, default=200,
                    help="capacity: an initiation unanswered this long is abandoned (dropped over dvped's budget)")
    ap.add_argument("--gen-cpu", type=int, default=1)
    ap.add_argument("--flood-seconds", type=int, default=10)
    ap.add_argument("--flood-reps", type=int, default=3)
    ap.add_argument("--udp-rate", default="300M", help="iperf3 -b, offered UDP rate (0: unlimited)")
    ap.add_argument("--flood-kinds", default="badip,mac1",
                    help="flood runs per rep after the run without: mac1, garbage, badip (generator --kind)")
    ap.add_argument("--flood-cpu", default=None, help="flood: taskset -c for the flood generator (default: unpinned)")
    ap.add_argument("--mbufs", type=int, default=0, help="flood: `mbufs =` of a and b (0: dvped sizes the pool)")
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--skip-flood", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    out = args.out or os.path.join(TOP, "perf", "results", "handshake-e2e-%s.json" % time.strftime("%Y%m%dT%H%M%SZ",
                                                                                                     time.gmtime()))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    res = {"started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "argv": sys.argv[1:],
           "git_head": subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                      text=True).stdout.strip(),
           "nproc": os.cpu_count(), "load_at_start": loadavg()}
    with open(LOCK, "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        env = Env(args)
        try:
            if not args.skip_capacity:
                res["capacity"] = capacity(env, args)
            if not args.skip_flood:
                res["flood"] = flood(env, args)
        finally:
            env.cleanup()
            if args.keep:
                log("kept", env.tmp)
            else:
                shutil.rmtree(env.tmp, ignore_errors=True)
    res["load_at_end"] = loadavg()
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    log("wrote", out)
    summary(res)


def summary(res):
    if "capacity" in res:
        c = res["capacity"]
        print("capacity, %d identities, window %d:" % (c["identities"], c["window"]))
        for r in c["runs"]:
            g = r["generator"]
            print("  rep %d: dvped %.0f handshakes/s (generator %.0f/s, verified %d, cookies %d, timeouts %d), load %s" % (
                r["rep"], r["dvped_completed_per_s"], g["completed_per_s"], g["verified"], g["cookie_replies"],
                g["timeouts"], r["load_before"]))
    if "flood" in res:
        runs = res["flood"]["runs"]
        print("flood, UDP offered %s (received rate at a; ratio to the run without flood just before):" %
              res["flood"]["udp_rate"])
        base = 0
        for r in runs:
            bps = r["iperf"]["received_bps"]
            if r["flood"] == "none":
                base = bps
                print("  rep %d none   : %7.1f Mbit/s (loss %.1f %%)" % (r["rep"], bps / 1e6, r["iperf"]["lost_percent"] or 0))
                continue
            lp = r.get("legit_peer") or {}
            print("  rep %d %-7s: %7.1f Mbit/s (loss %.1f %%) ratio %.3f, flood %.0f msg/s, a sent %d cookie replies, "
                  "dropped %d over budget; new peer %s" % (
                      r["rep"], r["flood"], bps / 1e6, r["iperf"]["lost_percent"] or 0, bps / base if base else 0,
                      (r.get("flood_gen") or {}).get("rate_per_s", 0), r["a_handshake_delta"]["sent_cookie_replies"],
                      r["a_handshake_delta"]["dropped_over_budget"],
                      ("completed in %.2f s (%d initiations, %d cookie replies)" % (
                          lp["first_completed_s"], lp["sent"], lp["cookie_replies"])) if lp.get("verified") == 1
                      else "NOT completed"))


if __name__ == "__main__":
    main()
