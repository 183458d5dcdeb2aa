# SPDX-License-Identifier: MIT
"""dvped as a service (issue 17, "Service" and "GVPE command-line parity"): systemd's
notification protocol spoken to a socket the test binds (this machine has no systemd as PID 1;
configs/systemd/dvped@.service is what runs it under systemd), the journal's one-copy logging,
--version and --no-detach.

    <tag>-alpha, <tag>-beta: dvped, udp transport, TAP overlay (test_overlay.make_mesh)

Checked: READY=1 only once the control socket answers; WATCHDOG=1 at half of $WATCHDOG_USEC
from the control loop, none when $WATCHDOG_PID names another process; RELOADING=1 then READY=1
around a reload (accepted or refused); STOPPING=1 on SIGTERM; with $JOURNAL_STREAM naming its
stderr, every line once with a "<N>" priority prefix and no timestamp. Metrics: `dvpectl metrics`
of a running node parsed by prometheus_client's OpenMetrics and Prometheus parsers, equal to its
status and peers replies.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


class NotifySocket:
    """A bound AF_UNIX datagram socket (a path: abstract names are per network namespace) and
    what arrived on it, with arrival times."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dvpe-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # (time, text)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            with self.lock:
                self.messages.append((time.time(), data.decode()))

    def texts(self):
        with self.lock:
            return [m for _, m in self.messages]

    def wait(self, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self.texts()):
                return
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s; got %s" % (what, self.texts()))

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()
        subprocess.run(["rm", "-rf", self.dir])


def with_env(env, fn):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        return fn()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class CommandLine(unittest.TestCase):
    def test_version(self):
        for opt in ("--version", "-v"):
            r = subprocess.run([tb.dvped_bin(), opt], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^dvped \d+\.\d+\.\d+\n$")

    def test_no_detach_is_gvpes_D(self):
        r = subprocess.run([tb.dvped_bin(), "--help"], capture_output=True, text=True)
        self.assertIn("--no-detach", r.stdout)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Notify(unittest.TestCase):
    def setUp(self):
        self.n = NotifySocket()
        self.mesh = to.make_mesh(["alpha", "beta"])

    def tearDown(self):
        try:
            self.mesh.cleanup()
        finally:
            self.n.close()

    def start(self, node, env):
        return with_env(env, lambda: node.start(wait=False, options=["--no-detach"]))

    def test_ready_watchdog_reload_stopping(self):
        a = self.mesh.nodes["alpha"]
        self.start(a, {"NOTIFY_SOCKET": self.n.path, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": None})
        self.n.wait(lambda t: any("READY=1" in m for m in t), 60, "READY=1")
        # READY means served: the control socket answers at once
        self.assertTrue(a.ctl("status")["ok"])
        ready = [m for m in self.n.texts() if "READY=1" in m][0]
        self.assertIn("STATUS=running as node alpha", ready)
        # watchdog: every 0.2 s from the control loop
        n0 = self.n.texts().count("WATCHDOG=1")
        time.sleep(2)
        pings = self.n.texts().count("WATCHDOG=1") - n0
        self.assertGreaterEqual(pings, 4, self.n.texts())
        self.assertLessEqual(pings, 12, self.n.texts())
        # a reload: RELOADING=1, then READY=1 again
        k = len(self.n.texts())
        r = subprocess.run([tb.dvpectl_bin(), "-S", a.sock, "reload"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.n.wait(lambda t: [m.split("\n")[0] for m in t[k:] if m != "WATCHDOG=1"][:2] == ["RELOADING=1", "READY=1"],
                    10, "RELOADING=1 then READY=1")
        # a refused reload too (the configuration stays, and so does readiness)
        with open(os.path.join(self.mesh.confdir, "gvpe.conf"), "a") as f:
            f.write("\nmtu = banana\n")
        k = len(self.n.texts())
        r = subprocess.run([tb.dvpectl_bin(), "-S", a.sock, "reload"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.n.wait(lambda t: [m.split("\n")[0] for m in t[k:] if m != "WATCHDOG=1"][:2] == ["RELOADING=1", "READY=1"],
                    10, "RELOADING=1 then READY=1 after a refused reload")
        self.assertEqual(a.stop(), 0)
        self.assertTrue(any(m.startswith("STOPPING=1") for m in self.n.texts()), self.n.texts())

    def test_watchdog_of_another_process_is_not_ours(self):
        a = self.mesh.nodes["alpha"]
        self.start(a, {"NOTIFY_SOCKET": self.n.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
        self.n.wait(lambda t: any("READY=1" in m for m in t), 60, "READY=1")
        time.sleep(1)
        self.assertNotIn("WATCHDOG=1", self.n.texts())

    def test_journal_gets_each_line_once_with_its_priority(self):
        a = self.mesh.nodes["alpha"]
        open(a.log_path, "w").close()  # the harness reopens it with "w": same inode
        st = os.stat(a.log_path)
        self.start(a, {"NOTIFY_SOCKET": self.n.path, "JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
        self.n.wait(lambda t: any("READY=1" in m for m in t), 60, "READY=1")
        self.assertEqual(a.stop(), 0)
        lines = [l for l in a.log().splitlines() if "dvped alpha (node id 1) running" in l]
        self.assertEqual(len(lines), 1, a.log())
        self.assertRegex(lines[0], r"^<5>dvped alpha \(node id 1\) running$")
        # every line of dvped's own log has a priority and no timestamp (EAL lines are DPDK's)
        ours = [l for l in a.log().splitlines() if re.match(r"^<\d>", l)]
        self.assertGreater(len(ours), 5)
        self.assertFalse([l for l in a.log().splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", l)], a.log())
        # a refused configuration: its errors at error priority, so journalctl -p err shows them
        open(a.log_path, "w").close()
        st = os.stat(a.log_path)
        with_env({"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)},
                 lambda: a.start(wait=False, extra_overrides=["mtu=banana"], expect_exit=1))
        self.assertEqual(a.proc.wait(30), 1)
        lines = a.log().splitlines()
        self.assertTrue([l for l in lines if l.startswith("<3>") and "mtu" in l], a.log())
        self.assertIn("<3>dvped: configuration has errors, not starting", lines)


def prometheus_parsers():
    """prometheus_client's OpenMetrics and Prometheus text parsers (Debian's
    python3-prometheus-client, which scripts/install-deps.sh installs; a python3 outside
    Debian's finds it in Debian's dist-packages)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
    from prometheus_client.parser import text_string_to_metric_families as prometheus
    return openmetrics, prometheus


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Metrics(unittest.TestCase):
    """dvpectl metrics from a running node, parsed by a real OpenMetrics parser, against the
    status and peers replies of the same (quiet) node."""

    def test_an_exporter_in_control_socket_group_reads_and_cannot_reload(self):
        # control-socket-group: node_exporter's textfile job, not root, in the group
        group = 4244
        m = to.make_mesh(["alpha", "beta"], extra="control-socket-group = %d" % group)
        try:
            a = m.nodes["alpha"]
            a.start()
            os.chmod(m.workdir, 0o755)  # the test bed's workdir: the socket's directory
            st = os.stat(a.sock)
            self.assertEqual((st.st_gid, st.st_mode & 0o777), (group, 0o660))

            def as_user(gid):
                def drop():
                    os.setgroups([])
                    os.setgid(gid)
                    os.setuid(65534)
                return drop
            run = lambda args, gid: subprocess.run([tb.dvpectl_bin(), "-S", a.sock] + args,  # noqa: E731
                                                   capture_output=True, text=True, preexec_fn=as_user(gid))
            r = run(["metrics"], group)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("dvpe_build_info", r.stdout)
            r = run(["reload"], group)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("permission denied", r.stderr)
            r = run(["status"], 65534)  # nobody outside the group: the file's mode keeps it out
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertTrue(a.ctl("reload")["ok"])  # root still may
        finally:
            m.cleanup()

    def test_metrics_parse_and_match_status(self):
        openmetrics, prometheus = prometheus_parsers()
        m = to.OverlayMesh(["alpha", "beta"], "udp")
        try:
            a = m.node("alpha")
            r = a.sh(["ping", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "2", "10.88.0.2"], check=False)
            self.assertIn("5 received", r.stdout)
            time.sleep(0.5)
            out = tb.sh([tb.dvpectl_bin(), "-S", a.sock, "metrics"]).stdout
            st, pe = a.ctl("status"), a.ctl("peers")
            fams = {f.name: f for f in openmetrics(out)}
            def value(fam, **labels):
                got = [s.value for s in fams[fam].samples if all(s.labels.get(k) == v for k, v in labels.items())]
                self.assertEqual(len(got), 1, (fam, labels, fams[fam].samples))
                return got[0]
            beta = [p for p in pe["peers"] if p["name"] == "beta"][0]
            self.assertEqual(fams["dvpe_peer_tx_packets"].type, "counter")
            for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "handshakes_completed", "rekeys", "downs"):
                fam = {"handshakes_completed": "dvpe_peer_handshakes"}.get(k, "dvpe_peer_" + k)
                self.assertEqual(value(fam, peer="beta"), beta[k], k)
            self.assertGreaterEqual(value("dvpe_peer_tx_packets", peer="beta"), 5)
            self.assertEqual(value("dvpe_peer_up", peer="beta"), 1)
            self.assertEqual(value("dvpe_peer_relayed", peer="beta"), 0)
            for reason, n in st["drops"].items():
                self.assertEqual(value("dvpe_drops", reason=reason), n, reason)
            for p in st["ports"]:
                self.assertEqual(value("dvpe_port_rx_packets", port=p["name"]), p["rx_packets"], p["name"])
            for w in st["workers"]:
                self.assertEqual(value("dvpe_worker_polls", lcore=str(w["lcore"])) <= w["polls"], True)
            self.assertEqual(value("dvpe_build_info", node="alpha"), 1)
            # the Prometheus text format node_exporter's textfile collector reads, from a file
            path = os.path.join(m.mesh.workdir, "dvpe.prom")
            tb.sh([tb.dvpectl_bin(), "-S", a.sock, "metrics", "--prometheus", "--output", path])
            with open(path) as f:
                pfams = {x.name: x for x in prometheus(f.read())}
            self.assertIn("dvpe_peer_rx_bytes", pfams)
            self.assertEqual(pfams["dvpe_peer_rx_bytes"].type, "counter")
        finally:
            m.cleanup()


if __name__ == "__main__":
    tb.main()
