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
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


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


def control_request(path, req, timeout=5.0):
    """One newline-delimited JSON request on the control socket; returns the decoded reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return json.loads(buf.decode())
    finally:
        s.close()


def balance(w):
    """The ways out of one worker's received packets (docs/architecture.md): rx_packets must equal
    it. tx_failed is not one of them: it counts packets that had already left one way (sealed,
    answered, fragmented...) and were then refused by a full tx queue. A reassembled packet is
    handled once more after its fragments went into the table."""
    drops = sum(v for k, v in w["drops"].items() if k != "tx_failed")
    return (w["arp_replies"] + w["icmp_echo_replies"] + w["to_control"] + drops + w["encrypted"] + w["decrypted"]
            + w["keepalives"] + w["relayed"] + w["fragments_in"] - w["reassembled"])


def wan_mac(i):
    """The WAN MAC the test bed gives the i-th node (1-based, in Mesh order)."""
    return "02:77:00:00:00:%02x" % i


_live = []


def _cleanup_all(*_):
    for m in list(_live):
        m.cleanup()


atexit.register(_cleanup_all)


def _on_term(signum, frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_term)


class Node:
    def __init__(self, mesh, name, ip):
        self.mesh = mesh
        self.name = name
        self.ip = ip
        self.ns = "%s-%s" % (mesh.tag, name)
        self.proc = None
        self.log_path = os.path.join(mesh.workdir, name + ".log")
        self.sock = os.path.join(mesh.workdir, name + ".sock")

    def start(self, extra_overrides=(), wait=True, log_level="info", confdir=None, options=()):
        args = [dvped_bin(), "-c", confdir or self.mesh.confdir, "-D", "-l", log_level] + list(options) + [self.name,
                "control-socket=" + os.path.join(self.mesh.workdir, "%s.sock"),
                "pid-file=" + os.path.join(self.mesh.workdir, "%s.pid")]
        args += list(self.mesh.overrides) + list(extra_overrides)
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
        req = {"cmd": cmd}
        req.update(args)
        return control_request(self.sock, req)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

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

    def underlay_sh(self, cmd, check=True):
        return sh(cmd, ns=self.underlay, check=check)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for n in self.nodes.values():
            n.stop()
            if getattr(n, "logf", None):
                n.logf.close()
        for n in self.nodes.values():
            sh(["ip", "netns", "del", n.ns], check=False)
        sh(["ip", "netns", "del", self.underlay], check=False)
        if self in _live:
            _live.remove(self)
        subprocess.run(["rm", "-rf", self.workdir])
