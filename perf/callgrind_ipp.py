#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Instructions per packet of dvped's data path, from callgrind. Run as root.

The method of docs/performance.md ("Where the gap is", "Hot path pass"), as one command:

  1. configs and pcaps: perf/dataplane_bench.py --build B --sizes 64 --suites SUITE --no-huge
     --keep (a short run; its temp dir keeps conf-run1 = encrypt, node n1, and conf-run2 =
     decrypt, node n2, with the sealed capture). If the benchmark itself fails (on a crowded VM
     testpmd can get no Rx-pps period), the same configs are written with dataplane_bench's own
     functions, which need only dvped. --configs DIR reuses an earlier dir: use the same one for
     the before and the after build;
  2. per direction: valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes on
     `dvped -D -c CONF --benchmark-static-keys NODE cipher=SUITE`; once its control socket
     answers and packets flow, --warmup more seconds (the frames before the first snapshot are
     dropped and would inflate the per-burst functions), then `callgrind_control -i on PID`,
     --measure seconds, `callgrind_control -i off PID` (the shutdown is not counted), SIGTERM;
     callgrind writes one profile per thread at exit (CONFIGS/callgrind.out.DIR.TAG-NN);
  3. the worker thread's profile (the one that ran engine::worker::process_burst): self
     instructions of every function divided by the number of packets = the number of calls from
     the wrapper (gcm_seal / gcm_open) into its IPsec-MB kernel, aes_gcm_enc/dec_256_* (one
     single-call kernel per packet in both directions; IPsec-MB's assembly entry points have no
     symbol size, so callgrind names them by address and objdump -T resolves the name).

"dvpe's own" is the self cost of every function of the dvped executable on the worker thread:
the engine with what it inlines (transports, DPDK's ethdev/mbuf helpers), the crypto wrapper
(gcm_seal / gcm_open), iterate / flush_all / run. Outside it: the AEAD kernel (t_crypto),
net_pcap and net_null (t_io), ld.so's TLS lookups, libc. The control thread and DPDK's service
threads are summed on a line of their own.

Instruction counts do not depend on the machine's load, so this is the measure for a hot-path
change on a shared VM; wall-clock numbers come from perf/dataplane_bench.py. A release build has
no line information: for `callgrind_annotate PROFILE engine/ingress.cc` per line, profile a
second build configured with -Dbuildtype=release -Ddebug=true (-O3 -g: the same code, the same
per-function counts).

    perf/callgrind_ipp.py --build build                       # both directions, ~3 minutes
    perf/callgrind_ipp.py --build build-old --configs /tmp/dvpe-dpbench-XXXX --dirs decrypt
    perf/callgrind_ipp.py --analyze /tmp/dvpe-dpbench-XXXX/callgrind.out.decrypt.58789f6

Only python3's standard library (and valgrind: apt-get install valgrind, which the script runs
when callgrind_control is missing).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import dvpe_client as dc  # noqa: E402  (the control-socket client the tests use too)

CTL_TIMEOUT = 60  # valgrind serialises threads: the control thread may wait behind the worker
NODE = {"encrypt": ("run1", "n1", "encrypted"), "decrypt": ("run2", "n2", "decrypted")}
# The crypto wrapper functions that call the IPsec-MB kernel, once per packet: per run of one key
# (seal_burst / open_burst) or with a key per packet (seal_multi / open_multi).
GCM_WRAPPERS = ("gcm_seal", "gcm_open", "gcm_seal_multi", "gcm_open_multi")
# The stages docs/performance.md names, in the order it lists them (short function names).
STAGES = {
    "encrypt": ["egress_burst", "seal_one", "seal_flush", "finish_sealed", "write_outer", "send", "send_bulk",
                "gcm_seal", "gcm_seal_multi", "process_burst", "iterate", "flush_all"],
    "decrypt": ["process_burst", "ingress_burst", "ingress_dvpe", "classify_fast", "classify", "open_flush",
                "send", "send_bulk", "gcm_open", "gcm_open_multi", "iterate", "flush_all"],
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- callgrind profile -------------------------------------------------------------------------

class Profile:
    """Self cost per (object, function) and call counts per (caller, callee object, callee), from
    one callgrind.out file (one thread's with --separate-threads=yes)."""

    def __init__(self, path):
        self.path = path
        self.self_ir = {}  # (ob, fn) -> Ir
        self.calls = {}  # (caller fn, callee ob, callee fn) -> number of calls
        names = {"ob": {}, "fl": {}, "fn": {}}
        kind = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl",
                "fn": "fn", "cfn": "fn"}
        npos = 1
        ob = fn = cob = cfn = None
        after_calls = False
        ir_col = 0
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line[0] == "#":
                    continue
                c = line[0]
                if c.isdigit() or c in "+-*":
                    parts = line.split()
                    cost = int(parts[npos + ir_col]) if len(parts) > npos + ir_col else 0
                    if after_calls:
                        after_calls = False  # the inclusive cost of that call, not self cost
                    else:
                        k = (ob, fn)
                        self.self_ir[k] = self.self_ir.get(k, 0) + cost
                    continue
                key, _, val = line.partition("=")
                if key in kind:
                    m = re.match(r"\((\d+)\)\s*(.*)", val)
                    if m:
                        tab = names[kind[key]]
                        if m.group(2):
                            tab[m.group(1)] = m.group(2)
                        name = tab.get(m.group(1), "?")
                    else:
                        name = val
                    if key == "ob":
                        ob = name
                    elif key == "fn":
                        fn = name
                    elif key == "cob":
                        cob = name
                    elif key == "cfn":
                        cfn = name
                    continue
                if key == "calls":
                    k = (fn, cob or ob, cfn)
                    self.calls[k] = self.calls.get(k, 0) + int(val.split()[0])
                    cob = None  # cob/cfi/cfn describe the one call that follows them
                    after_calls = True
                    continue
                if line.startswith("positions:"):
                    npos = len(line.split()[1:])
                elif line.startswith("events:"):
                    ev = line.split()[1:]
                    ir_col = ev.index("Ir") if "Ir" in ev else 0

    def total(self):
        return sum(self.self_ir.values())

    def has(self, short):
        return any(short_name(fn or "") == short and ir > 0 for (_, fn), ir in self.self_ir.items())

    def kernel(self, name=None):
        """(object, function, calls) of the AEAD kernel: the IPsec-MB function that the wrapper
        (gcm_seal / gcm_open) calls most often (one single-call aes_gcm_enc/dec per packet)."""
        best = None
        for (caller, cob, callee), n in self.calls.items():
            if name is not None:
                if callee != name and short_name(callee or "") != name:
                    continue
            elif not ("IPSec_MB" in (cob or "") and short_name(caller or "") in GCM_WRAPPERS):
                continue
            if best is None or n > best[2]:
                best = (cob, callee, n)
        return best


def symbol_at(obj, name):
    """IPsec-MB's assembly entry points have size 0 in its symbol table, so callgrind names them by
    address (0x0000000000380872); objdump -T gives the exported name."""
    if not name or not name.startswith("0x") or shutil.which("objdump") is None:
        return name
    addr = int(name, 16)
    try:
        out = subprocess.run(["objdump", "-T", obj], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout
    except OSError:
        return name
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 7 and re.fullmatch(r"[0-9a-f]{16}", f[0]) and int(f[0], 16) == addr:
            return "%s (%s)" % (f[-1], name)
    return name


def short_name(fn):
    """dvpe::engine::worker::open_flush(dvpe::engine::dataplane_snapshot const&) -> open_flush;
    void dvpe::engine::worker::finish_sealed<(dvpe::transport::kind)0, false>(...) -> finish_sealed."""
    s = fn.replace("(anonymous namespace)", "{anon}")
    depth, cut = 0, None
    for i, ch in enumerate(s):  # drop the parameter list: the first '(' at template depth 0
        if ch in "<{":
            depth += 1
        elif ch in ">}":
            depth -= 1
        elif ch == "(" and depth == 0 and i > 0:
            cut = i
            break
    if cut is not None:
        s = s[:cut]
    out, depth = [], 0
    for ch in s:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    s = "".join(out)
    s = (s.split("::")[-1].split() or [fn])[-1]
    return s.split("'")[0]  # callgrind marks recursion levels as fn'2


def group_outside(ob, fn, kern):
    obn = os.path.basename(ob or "?")
    if (ob, fn) == kern[:2]:
        return "AEAD kernel (IPsec-MB)"
    if "IPSec_MB" in obn:
        return "IPsec-MB, other"
    for k in ("net_pcap", "net_null", "libsodium"):
        if k in obn:
            return k
    if obn.startswith("librte_"):
        return "DPDK, other librte_*"
    return obn


def analyze(paths, direction, kernel=None, min_ipp=0.05, dvped_pkts=None):
    """`paths`: the per-thread profiles of one run. Prints the per-packet table of the worker
    thread(s) (those that ran engine::worker::process_burst); returns a dict of the numbers."""
    profs = [Profile(p) for p in paths]
    workers = [p for p in profs if p.has("process_burst")]
    if not workers:
        raise RuntimeError("no profile in %s ran engine::worker::process_burst" % paths)
    others = [p for p in profs if p not in workers]
    kern, pkts = None, 0
    for p in workers:
        k = p.kernel(kernel)
        if k:
            kern = k[:2]
            pkts += k[2]
    if not pkts:
        raise RuntimeError("no call from gcm_seal/gcm_open into IPsec-MB in the measured window (another "
                           "backend? pass --kernel)")
    dv, outside = {}, {}
    for p in workers:
        for (ob, fn), ir in p.self_ir.items():
            if os.path.basename(ob or "?") == "dvped":
                sn = short_name(fn or "?")
                dv[sn] = dv.get(sn, 0) + ir
            else:
                g = group_outside(ob, fn, kern)
                outside[g] = outside.get(g, 0) + ir
    own = sum(dv.values())
    wtotal = sum(p.total() for p in workers)
    ototal = sum(p.total() for p in others)
    print("%s: %s" % (direction, ", ".join(os.path.basename(p.path) for p in workers)))
    print("packets: %d calls of %s" % (pkts, symbol_at(kern[0], kern[1])) +
          ("\n  (dvped's %s counter from the status query before `-i on` to the one after `-i off`: %d;"
           "\n  those queries are slow under valgrind, so this is only an upper bound)" %
           (NODE[direction][2], dvped_pkts) if dvped_pkts else ""))
    print("self instructions per packet on the worker thread, functions of the dvped executable:")
    shown = 0
    order = STAGES[direction]
    named = sorted(dv.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), -kv[1]))
    for sn, ir in named:
        if ir / pkts >= min_ipp:
            print("  %-30s %8.1f" % (sn, ir / pkts))
            shown += ir
    if own - shown:
        print("  %-30s %8.1f" % ("(the rest, < %.2f each)" % min_ipp, (own - shown) / pkts))
    print("  %-30s %8.1f" % ("dvpe's own", own / pkts))
    print("outside dvped, worker thread:")
    for g, ir in sorted(outside.items(), key=lambda kv: -kv[1]):
        if ir / pkts >= min_ipp:
            print("  %-30s %8.1f" % (g, ir / pkts))
    print("  %-30s %8.1f" % ("worker thread, all", wtotal / pkts))
    print("  %-30s %8.1f" % ("other threads (control, ...)", ototal / pkts))
    print()
    return {"direction": direction, "profiles": paths, "packets": pkts, "kernel": symbol_at(kern[0], kern[1]),
            "dvped_packets": dvped_pkts, "functions": {k: v / pkts for k, v in dv.items()},
            "dvpe_own": own / pkts, "outside": {k: v / pkts for k, v in outside.items()},
            "worker_total": wtotal / pkts, "other_threads": ototal / pkts}


# ---- running dvped under callgrind -------------------------------------------------------------

def make_configs(args):
    """A dataplane_bench.py --keep dir with conf-run1 (encrypt) and conf-run2 (decrypt) for 64 B."""
    cmd = [sys.executable, os.path.join(HERE, "dataplane_bench.py"), "--build", args.build, "--sizes", "64",
           "--suites", args.suite, "--dirs", "encrypt,decrypt", "--no-huge", "--keep", "--seconds", "2",
           "--crypto-reps", "1"]
    log("configs: " + " ".join(cmd))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    kept = re.findall(r"^kept (\S+)$", r.stdout, re.M)
    if r.returncode == 0 and kept:
        return kept[-1]
    # The benchmark also runs testpmd and aead_bench, which a heavily loaded VM can starve (no
    # Rx-pps period from testpmd). The configs need only dvped: write them with the benchmark's
    # own functions, as its run_dvped() does for one worker.
    log("dataplane_bench.py failed (%s); writing the same configs with its functions instead"
        % (r.stdout.strip().splitlines() or ["no output"])[-1])
    for d in kept:
        shutil.rmtree(d, ignore_errors=True)
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import dataplane_bench as db
    env = db.Env(argparse.Namespace(build=args.build, set=list(args.set), no_huge=True, keep=True))
    try:
        plain = os.path.join(env.tmp, "plain-64.pcap")
        db.write_pcap(plain, [db.overlay_frame(64, i) for i in range(db.N_FRAMES)])
        sealed, _ = db.capture_sealed(env, args.suite, "64", plain)
        db.write_conf(env, "run1", 1, ["wan0 wan net_null0,no-rx=1",
                                       "ovl0 overlay net_pcap0,rx_pcap=%s,infinite_rx=1" % plain])
        db.write_conf(env, "run2", 2, ["wan0 wan net_pcap0,rx_pcap=%s,infinite_rx=1" % sealed,
                                       "ovl0 overlay net_null0,no-rx=1"])
    finally:
        env.cleanup()
    return env.tmp


def run_one(args, confdir, direction):
    sub, node, cname = NODE[direction]
    conf = os.path.join(confdir, "conf-" + sub)
    if not os.path.isfile(os.path.join(conf, "gvpe.conf")):
        sys.exit("callgrind_ipp: %s/gvpe.conf missing (not a dataplane_bench --keep dir?)" % conf)
    with open(os.path.join(conf, "gvpe.conf")) as f:
        if "hugepages = yes" in f.read():
            log("note: %s asks for hugepages; the docs' profiles ran with --no-huge" % conf)
    dvped = os.path.join(args.build, "control", "dvped")
    out = os.path.join(args.out or confdir, "callgrind.out.%s.%s" % (direction, args.tag))
    for old in thread_files(out):
        os.unlink(old)
    sock = os.path.join(conf, "%s.sock" % node)
    if os.path.exists(sock):
        os.unlink(sock)
    shutil.rmtree("/var/run/dpdk/dvpe-" + node, ignore_errors=True)
    cmd = ["valgrind", "--tool=callgrind", "--fair-sched=yes", "--instr-atstart=no", "--separate-threads=yes", "--callgrind-out-file=" + out,
           dvped, "-D", "-c", conf, "--benchmark-static-keys", node, "cipher=" + args.suite] + list(args.set)
    logp = os.path.join(conf, "callgrind-%s.log" % direction)
    log("%s: %s" % (direction, " ".join(cmd)))
    lf = open(logp, "w")
    p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT)
    t_start = time.monotonic()
    try:
        deadline = t_start + args.start_timeout
        st = None
        while True:  # the control socket answers and the worker moves packets
            if p.poll() is not None:
                raise RuntimeError("dvped under valgrind exited with %d; log %s" % (p.returncode, logp))
            if time.monotonic() > deadline:
                raise RuntimeError("dvped did not come up under valgrind in %d s; log %s" % (args.start_timeout, logp))
            st = dc.try_status(sock, CTL_TIMEOUT) if os.path.exists(sock) else None
            if st and dc.worker_sum(st, cname) > 0:
                break
            time.sleep(0.5)
        log("  packets flowing after %.0f s; warm-up %.0f s" % (time.monotonic() - t_start, args.warmup))
        time.sleep(args.warmup)
        c0 = dc.worker_sum(dc.status(sock, CTL_TIMEOUT), cname)
        subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True, stdout=subprocess.DEVNULL)
        log("  instrumentation on; measuring %.0f s" % args.measure)
        time.sleep(args.measure)
        subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True, stdout=subprocess.DEVNULL)
        c1 = dc.worker_sum(dc.status(sock, CTL_TIMEOUT), cname)
        drops = {k: v for k, v in dc.status(sock, CTL_TIMEOUT)["workers"][0]["drops"].items() if v}
        if drops:
            log("  worker drops since start (the first bursts before the snapshot are no_session): %s" % drops)
    finally:
        if not dc.stop_process(p, args.stop_timeout):
            log("  dvped did not stop in %d s after SIGTERM: killed (no profile)" % args.stop_timeout)
        lf.close()
        shutil.rmtree("/var/run/dpdk/dvpe-" + node, ignore_errors=True)
    files = thread_files(out)
    if not files:
        raise RuntimeError("no callgrind profile written; log %s" % logp)
    log("  profiles %s-*" % out)
    return files, c1 - c0


def thread_files(out):
    """--separate-threads=yes writes OUT-01, OUT-02, ... (one per thread)."""
    return sorted(f for f in glob.glob(glob.escape(out) + "*") if re.fullmatch(r"(-\d+)*", f[len(out):]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DVPE_BUILD", "build"), help="meson build dir (default build)")
    ap.add_argument("--configs", help="a perf/dataplane_bench.py --keep dir to reuse (default: make one)")
    ap.add_argument("--suite", default="aes256-gcm")
    ap.add_argument("--dirs", default="encrypt,decrypt")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds after packets flow before measuring")
    ap.add_argument("--measure", type=float, default=25.0, help="seconds with instrumentation on")
    ap.add_argument("--start-timeout", type=int, default=300)
    ap.add_argument("--stop-timeout", type=int, default=300)
    ap.add_argument("--out", help="dir for the callgrind.out.{encrypt,decrypt}.TAG-NN files (default: the configs dir)")
    ap.add_argument("--kernel", help="the function whose call count is the packet count (default: the "
                                     "most-called IPsec-MB aes_gcm_enc/dec single-call kernel)")
    ap.add_argument("--min", type=float, default=0.05, help="list functions with at least this many instr/pkt")
    ap.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                    help="extra dvped command-line setting, e.g. inherit-tos=yes (repeatable)")
    ap.add_argument("--tag", help="suffix of the profile files (default: the build's source commit)")
    ap.add_argument("--analyze", action="append", default=[], metavar="[DIR=]FILE",
                    help="only analyse existing profiles: FILE and its per-thread FILE-NN (DIR encrypt or "
                         "decrypt; default from the file name)")
    ap.add_argument("--json-out", help="write the numbers to this file")
    args = ap.parse_args()
    results = []
    if args.analyze:
        for a in args.analyze:
            d, _, path = a.rpartition("=")
            if not d:
                d = "decrypt" if "decrypt" in os.path.basename(path) else "encrypt"
            files = thread_files(path)
            if not files:
                sys.exit("callgrind_ipp: no profile %s" % path)
            results.append(analyze(files, d, args.kernel, args.min))
    else:
        if os.geteuid() != 0:
            sys.exit("callgrind_ipp: run as root (DPDK)")
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            log("valgrind missing: apt-get install -y valgrind")
            subprocess.run(["apt-get", "install", "-y", "valgrind"], check=True)
        dvped = os.path.join(args.build, "control", "dvped")
        if not os.access(dvped, os.X_OK):
            sys.exit("callgrind_ipp: %s not built" % dvped)
        confdir = args.configs or make_configs(args)
        log("configs in %s; load average %s" % (confdir, open("/proc/loadavg").read().split()[:3]))
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(args.build)), "rev-parse", "--short",
                              "HEAD"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        args.tag = args.tag or rev or "build"
        print("build %s (source HEAD %s), suite %s, 64 B, warm-up %.0f s, measured %.0f s\n"
              % (args.build, rev or "?", args.suite, args.warmup, args.measure))
        for d in args.dirs.split(","):
            out, dvped_pkts = run_one(args, confdir, d)
            results.append(analyze(out, d, args.kernel, args.min, dvped_pkts))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
