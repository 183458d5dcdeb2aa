# SPDX-License-Identifier: MIT
"""Network-namespace test bed for dvped integration tests (python3 stdlib only).

Topology (one underlay namespace with a bridge, one namespace per node):

    ns <tag>-u : bridge br0 10.77.0.254/24 (the "underlay host": pings, captures)
        |  u-<node> (veth)
        |
    ns <tag>-<node> : wan-<node> (veth, driven by dvped's net_af_packet port)
                      dvpe0 (TAP created by dvped's net_tap overlay port)

IPv6 is disabled in every namespace so the kernel sends no ND/MLD noise and the tests can
assert exact packet counters. Everything is removed again by Mesh.cleanup(), which also runs
at interpreter exit and on SIGTERM, so a failing test leaves no namespace or daemon behind.

Mesh.cleanup() is also a check: every dvped must exit 0 after SIGTERM within 20 s (one that has
to be SIGKILLed, was killed by a signal, or exited by itself is a failure unless the test said
so with Node.start(expect_exit=N)), and no daemon log may hold a sanitizer report
(AddressSanitizer, LeakSanitizer, UBSan "runtime error:"). cleanup() raises AssertionError
naming every such daemon after everything is removed.

main() runs a test module like unittest.main(verbosity=2), except that a whole class skipped at
once (setUpClass raising SkipTest, or a skip decorator on the class) is a failure unless its
reason is in CLASS_SKIPS_ALLOWED: a class that silently does not run is not a pass.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests"))
import dvpe_client as dc  # noqa: E402


def build_dir():
    return os.environ.get("DVPE_BUILD", os.path.join(TOP, "build"))


def dvped_bin():
    return os.path.join(build_dir(), "control", "dvped")


def dvpectl_bin():
    return os.path.join(build_dir(), "control", "dvpectl")


def sh(cmd, check=True, ns=None, capture=True, timeout=60):
    """Runs cmd (a list) optionally inside namespace ns; returns CompletedProcess."""
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return r


# The control-socket client and wait_until() are tests/dvpe_client.py's (shared with perf/).
wait_until = dc.wait_for


def settle(read, timeout=10, quiet=0.3):
    """Waits until read() gives the same value twice `quiet` seconds apart (counters that stopped
    moving: the packets in flight have landed) and returns it; AssertionError after `timeout`."""
    deadline = time.time() + timeout
    last = read()
    while True:
        time.sleep(quiet)
        cur = read()
        if cur == last:
            return cur
        if time.time() > deadline:
            raise AssertionError("still changing after %gs: %r -> %r" % (timeout, last, cur))
        last = cur


# Worker fields that move while a worker idles (poll loop bookkeeping), not traffic.
_POLL_FIELDS = ("polls", "empty_polls", "idle_sleeps", "busy_cycles")


def traffic_counters(status):
    """The packet counters of a `status` reply (workers without their poll bookkeeping, drops,
    ports' packet counts): what settle() can wait on to stop moving."""
    return {"workers": [{k: v for k, v in w.items() if k not in _POLL_FIELDS} for w in status["workers"]],
            "drops": status["drops"],
            "ports": [(p["name"], p["rx_packets"], p["tx_packets"]) for p in status["ports"]]}


def wait_listening(ns, port, udp=False, timeout=10):
    """Waits until something in namespace `ns` listens on `port` (e.g. an iperf3 server)."""
    def listening():
        r = sh(["ss", "-H", "-ln" + ("u" if udp else "t"), "sport = :%d" % port], ns=ns, check=False)
        return r.returncode == 0 and r.stdout.strip() != ""
    wait_until(listening, timeout, "a listener on port %d in %s" % (port, ns))


SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer|SUMMARY: \w*Sanitizer")


def sanitizer_reports(text):
    """The lines of a daemon log that are (the start of) sanitizer reports."""
    return [l for l in text.splitlines() if SANITIZER_REPORT.search(l)]


def balance(w):
    """The ways out of one worker's received packets (docs/architecture.md): rx_packets must equal
    it. tx_failed is not one of them: it counts packets that had already left one way (sealed,
    answered, fragmented...) and were then refused by a full tx queue. A reassembled packet is
    handled once more after its fragments went into the table."""
    drops = sum(v for k, v in w["drops"].items() if k not in ("tx_failed", "exception_full", "stream_full"))
    return (w["arp_replies"] + w["icmp_echo_replies"] + w["to_control"] + drops + w["encrypted"] + w["decrypted"]
            + w["keepalives"] + w["relayed"] + w.get("switched", 0) + w.get("exception_in", 0)
            + w.get("exception_out", 0) + w["fragments_in"] - w["reassembled"] - w["copies_lost"])


def wan_mac(i):
    """The WAN MAC the test bed gives the i-th node (1-based, in Mesh order)."""
    return "02:77:00:00:00:%02x" % i


_live = []


def _cleanup_all(*_):
    # At exit or on SIGTERM nothing can fail a test any more: report, do not raise.
    for m in list(_live):
        try:
            m.cleanup()
        except AssertionError as e:
            print("dvpe_netns: cleanup at exit: %s" % e, file=sys.stderr)


atexit.register(_cleanup_all)


def _on_term(signum, frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


_TX_CSUM_OFF = r'''
import array, fcntl, socket, struct, sys
# ethtool -K IFACE tx off without ethtool: SIOCETHTOOL with ETHTOOL_STXCSUM (struct ethtool_value)
ev = array.array("B", struct.pack("II", 0x17, 0))
ifr = struct.pack("16sP16x", sys.argv[1].encode(), ev.buffer_info()[0])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(s.fileno(), 0x8946, ifr)
'''


def tx_checksum_off(ns, ifname):
    """Turns off tx checksum offload on ifname in ns (ethtool -K ifname tx off; the machine has no
    ethtool). A veth passes packets on with the checksum still to be filled in (CHECKSUM_PARTIAL);
    a DPDK af_packet port reading them would forward them with that partial checksum, which the
    receiving host then rejects (TCP/UDP stall, ICMP works). With the offload off, the kernel
    completes the checksum when the packet leaves through ifname."""
    sh([sys.executable, "-c", _TX_CSUM_OFF, ifname], ns=ns)


def veth_to_engine_only(node):
    """The node's kernel must not take WAN frames from its veth itself (Linux accepts a local
    address on any interface, and an exception interface gives it the WAN's): an nftables
    netdev ingress drop, which the af_packet port sees before (packet taps come first) -- as on
    a DPDK NIC, the kernel gets WAN traffic only through the exception path."""
    subprocess.run(["ip", "netns", "exec", node.ns, "nft", "-f", "-"], check=True, text=True, input=(
        "table netdev vethdrop {\n chain in { type filter hook ingress device wan-%s priority 0; "
        "policy drop; }\n}\n" % node.name))

class Node:
    def __init__(self, mesh, name, ip):
        self.mesh = mesh
        self.name = name
        self.ip = ip
        self.ns = "%s-%s" % (mesh.tag, name)
        self.proc = None
        self.log_path = os.path.join(mesh.workdir, name + ".log")
        self.sock = os.path.join(mesh.workdir, name + ".sock")
        self.expect_exit = None  # exit code of a run that is meant to end by itself
        self.terminated = False  # the harness or the test sent SIGTERM to the current run
        self.problems = []       # what the exit checks found, over every run of this node

    def start(self, extra_overrides=(), wait=True, log_level="info", confdir=None, options=(), expect_exit=None):
        """Runs dvped; expect_exit=N: this run is meant to exit by itself with code N (e.g. a
        refused configuration), which the exit checks then require instead of 0 after SIGTERM."""
        if self.proc is not None:
            self.finish()  # a restart: the previous run is checked (and its log) first
            if getattr(self, "logf", None):
                self.logf.close()
        args = [dvped_bin(), "-c", confdir or self.mesh.confdir, "-D", "-l", log_level] + list(options) + [self.name,
                "control-socket=" + os.path.join(self.mesh.workdir, "%s.sock"),
                "pid-file=" + os.path.join(self.mesh.workdir, "%s.pid")]
        args += list(self.mesh.overrides) + list(extra_overrides)
        self.expect_exit = expect_exit
        self.terminated = False
        self.finished = False
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns] + args, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dvped %s exited with %d:\n%s" % (self.name, self.proc.returncode, self.log()))
            try:
                if self.ctl("status").get("ok"):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError("dvped %s not ready after %ds:\n%s" % (self.name, timeout, self.log()))

    def ctl(self, cmd, **args):
        """The reply to `cmd` with `args` as it comes, {"ok": false, ...} included."""
        req = {"cmd": cmd}
        req.update(args)
        return dc.request(self.sock, req)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code (None if it had to be killed). The exit
        checks of finish() apply to it as well."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.terminated = True
        if dc.stop_process(self.proc, timeout):
            return self.proc.returncode
        self.problems.append("dvped %s did not exit within %ds of SIGTERM and was SIGKILLed" % (self.name, timeout))
        return None

    def finish(self, timeout=20):
        """Stops the current run if it still runs and checks how it ended: exit code 0 after
        SIGTERM (or expect_exit if the run was meant to end by itself), not killed, no sanitizer
        report in its log. Appends what is wrong to self.problems; returns it."""
        if self.proc is None or getattr(self, "finished", False):
            return self.problems
        self.finished = True
        exited_alone = self.proc.poll() is not None and not self.terminated
        self.stop(timeout)
        rc = self.proc.returncode
        log = self.log()
        tail = "\n".join(log.splitlines()[-25:])
        if rc is not None and rc < 0 and not any("SIGKILLed" in p for p in self.problems):
            self.problems.append("dvped %s was killed by signal %d:\n%s" % (self.name, -rc, tail))
        elif self.expect_exit is not None:
            if rc != self.expect_exit or not exited_alone:
                self.problems.append("dvped %s: expected to exit by itself with %d, %s with %s:\n%s" % (
                    self.name, self.expect_exit, "exited" if exited_alone else "was stopped", rc, tail))
        elif exited_alone:
            self.problems.append("dvped %s exited by itself with %s before it was stopped:\n%s" % (self.name, rc, tail))
        elif rc not in (0, None):
            self.problems.append("dvped %s exited with %d after SIGTERM (expected 0):\n%s" % (self.name, rc, tail))
        reports = sanitizer_reports(log)
        if reports:
            first = log.find(reports[0])
            self.problems.append("dvped %s log has %d sanitizer report line(s):\n%s" % (
                self.name, len(reports), log[max(0, first - 200):first + 4000]))
        return self.problems

    def sh(self, cmd, check=True):
        return sh(cmd, ns=self.ns, check=check)


class Mesh:
    """Builds the topology for the given nodes {name: wan_ip}; confdir holds gvpe.conf."""

    def __init__(self, nodes, confdir, overrides=(), prefix=24):
        self.tag = "dv%d" % (os.getpid() % 100000)
        self.workdir = tempfile.mkdtemp(prefix="dvpe-test-")
        # A private copy of the config directory with fresh keys for every node (GVPE layout).
        self.confdir = os.path.join(self.workdir, "conf")
        shutil.copytree(confdir, self.confdir)
        sh([dvpectl_bin(), "-c", self.confdir, "keygen", "-G"])
        self.overrides = list(overrides)
        self.underlay = self.tag + "-u"
        self.underlay_ip = "10.77.0.254"
        self.nodes = {}
        self.extra_ns = []  # add_namespace(): removed by cleanup() as well
        self._cleaned = False
        _live.append(self)
        try:
            self._create(nodes, prefix)
        except Exception:
            self.cleanup()
            raise

    def _create(self, nodes, prefix):
        sh(["ip", "netns", "add", self.underlay])
        self._ns_basics(self.underlay)
        sh(["ip", "link", "add", "br0", "type", "bridge"], ns=self.underlay)
        sh(["ip", "addr", "add", "%s/%d" % (self.underlay_ip, prefix), "dev", "br0"], ns=self.underlay)
        sh(["ip", "link", "set", "br0", "up"], ns=self.underlay)
        for name, ip in nodes.items():
            n = Node(self, name, ip)
            self.nodes[name] = n
            sh(["ip", "netns", "add", n.ns])
            self._ns_basics(n.ns)
            wan, upl = "wan-" + name, "u-" + name
            sh(["ip", "link", "add", wan, "netns", n.ns, "type", "veth", "peer", "name", upl, "netns", self.underlay])
            sh(["ip", "link", "set", upl, "master", "br0", "up"], ns=self.underlay)
            # Deterministic WAN MACs, so configs can name static (IPv6) neighbours.
            sh(["ip", "link", "set", wan, "address", wan_mac(len(self.nodes))], ns=n.ns)
            sh(["ip", "link", "set", wan, "up"], ns=n.ns)

    @staticmethod
    def _ns_basics(ns):
        sh(["ip", "link", "set", "lo", "up"], ns=ns)
        for k in ("all", "default"):
            sh(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k], ns=ns)

    def add_namespace(self, suffix, ipv6=False):
        """A further namespace <tag>-<suffix> (a site LAN, a host on it), lo up, IPv6 disabled
        unless ipv6; removed by cleanup(). Returns its name."""
        ns = "%s-%s" % (self.tag, suffix)
        sh(["ip", "netns", "add", ns])
        self.extra_ns.append(ns)
        self._ns_basics(ns)
        if ipv6:
            for k in ("all", "default", "lo"):
                sh(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=0" % k], ns=ns)
        return ns

    def del_namespace(self, ns):
        """Removes a namespace made by add_namespace() before cleanup()."""
        sh(["ip", "netns", "del", ns], check=False)
        if ns in self.extra_ns:
            self.extra_ns.remove(ns)

    def underlay_sh(self, cmd, check=True):
        return sh(cmd, ns=self.underlay, check=check)

    def cleanup(self):
        """Stops every daemon, removes namespaces and files, then raises AssertionError if any
        daemon failed the exit checks (Node.finish)."""
        if self._cleaned:
            return
        self._cleaned = True
        problems = []
        try:
            for n in self.nodes.values():
                problems += n.finish()
                if getattr(n, "logf", None):
                    n.logf.close()
        finally:
            for n in self.nodes.values():
                sh(["ip", "netns", "del", n.ns], check=False)
            for ns in self.extra_ns:
                sh(["ip", "netns", "del", ns], check=False)
            self.extra_ns = []
            sh(["ip", "netns", "del", self.underlay], check=False)
            if self in _live:
                _live.remove(self)
            subprocess.run(["rm", "-rf", self.workdir])
        if problems:
            raise AssertionError("daemon exit checks failed:\n" + "\n".join(problems))


# ---- running a test module ---------------------------------------------------------------------

# Reasons for which a whole class may be skipped without failing the run (regex, why allowed).
CLASS_SKIPS_ALLOWED = [
    (r"^needs root", "not root: network namespaces and DPDK need root (scripts/test.sh runs as root)"),
    (r"^needs \d+ free hugepages", "the machine has fewer free 2 MiB hugepages than the variant needs"),
]


def class_skip_allowed(reason):
    return any(re.search(pat, reason) for pat, _ in CLASS_SKIPS_ALLOWED)


class StrictResult(unittest.TextTestResult):
    """A skip of a whole class is a failure unless CLASS_SKIPS_ALLOWED has its reason."""

    def addSkip(self, test, reason):
        whole_class = (type(test).__name__ == "_ErrorHolder" and str(test).startswith("setUpClass")) \
            or getattr(type(test), "__unittest_skip__", False)
        if whole_class and not class_skip_allowed(reason):
            try:
                raise AssertionError("class-level skip not in dvpe_netns.CLASS_SKIPS_ALLOWED: %s" % reason)
            except AssertionError:
                self.addFailure(test, sys.exc_info())
            return
        if whole_class:
            self.stream.write("[allowed class-level skip] ")
        super().addSkip(test, reason)


def main():
    """unittest.main(verbosity=2) with StrictResult."""
    unittest.main(verbosity=2, testRunner=unittest.TextTestRunner(verbosity=2, resultclass=StrictResult))
