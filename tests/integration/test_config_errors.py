# SPDX-License-Identifier: MIT
"""dvped refuses bad input with a clear message and a non-zero exit, never a crash (issue 2).

Each case writes a gvpe.conf into a temp dir (the demo config with one change) and runs dvped
on it: malformed directives, an unknown node name, bad devargs (caught by validation, and caught
when DPDK cannot probe the device), lcore maps that do not fit, and bad command lines.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402

DEMO = open(os.path.join(tb.TOP, "configs", "demo", "gvpe.conf")).read()


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), start=1):
        if needle in l:
            return i
    raise AssertionError("%r not in config" % needle)


class ConfigErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dvpe-cfg-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_dvped(self, conf, *args, timeout=60):
        with open(os.path.join(self.dir, "gvpe.conf"), "w") as f:
            f.write(conf)
        cmd = [tb.dvped_bin(), "-c", self.dir, "-D"] + list(args) + [
            "control-socket=" + os.path.join(self.dir, "%s.sock"), "pid-file=" + os.path.join(self.dir, "%s.pid")]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        self.assertGreaterEqual(r.returncode, 0, "dvped died from a signal:\n" + r.stdout)
        self.assertEqual(tb.sanitizer_reports(r.stdout), [], r.stdout)  # refused cleanly, also under ASan
        self.assertNotIn("Segmentation", r.stdout)
        return r

    def assert_error_at(self, r, line, *words):
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("gvpe.conf:%d:" % line, r.stdout)
        for w in words:
            self.assertIn(w, r.stdout)

    def test_malformed_value(self):
        conf = DEMO.replace("connect = always", "connect = sometimes")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "connect = sometimes"), "sometimes")

    def test_malformed_number(self):
        conf = DEMO.replace("udp-port = 655", "udp-port = 65536x")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "udp-port = 65536x"), "udp-port")

    def test_unknown_node(self):
        r = self.run_dvped(DEMO, "zeta", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("zeta", r.stdout)
        self.assertIn("gvpe.conf", r.stdout)

    def test_bad_devargs_syntax(self):
        conf = DEMO.replace("net_af_packet0,iface=wan-alpha", "net_af_packet0,iface")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "net_af_packet0,iface"), "wan0")

    def test_unknown_driver(self):
        conf = DEMO.replace("net_af_packet0,iface=wan-alpha", "net_foo0,iface=wan-alpha")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "net_foo0"), "net_foo")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to start DPDK")
    def test_devargs_that_cannot_be_probed(self):
        # Valid syntax, but the interface does not exist: DPDK fails at probe time, and dvped
        # names the port and its config line, then exits cleanly.
        conf = DEMO.replace("net_af_packet0,iface=wan-alpha", "net_af_packet0,iface=nonexistent9")
        r = self.run_dvped(conf, "alpha")
        self.assert_error_at(r, line_of(conf, "nonexistent9"), "wan0")

    def test_lcore_beyond_cpus(self):
        conf = DEMO.replace("worker-lcores = 1", "worker-lcores = 1,%d" % (os.cpu_count() + 5))
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "worker-lcores = 1,"), str(os.cpu_count() + 5))

    def test_queue_map_to_non_worker(self):
        conf = DEMO.replace("wan-address = wan0 10.77.0.1/24", "wan-address = wan0 10.77.0.1/24\nqueue-map = wan0 0 0")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "queue-map = wan0 0 0"), "lcore")

    def test_control_lcore_is_worker(self):
        conf = DEMO.replace("control-lcore = 0", "control-lcore = 1")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("gvpe.conf:", r.stdout)

    def test_unknown_directive_warns_but_loads(self):
        conf = DEMO + "\nfrobnicate = yes\n"
        r = self.run_dvped(conf, "alpha", "--check")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("gvpe.conf:%d:" % line_of(conf, "frobnicate"), r.stdout)

    def test_warnings_show_beside_errors(self):
        # An error does not hide the warnings: the user fixing it sees what else dvpe ignores.
        conf = DEMO.replace("control-lcore = 0", "control-lcore = 1") + "\nfrobnicate = yes\n"
        r = self.run_dvped(conf, "alpha", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("gvpe.conf:%d:" % line_of(conf, "control-lcore = 1"), r.stdout)
        self.assertIn("gvpe.conf:%d:" % line_of(conf, "frobnicate"), r.stdout)
        self.assertIn("frobnicate", r.stdout)

    def test_missing_config_dir(self):
        r = subprocess.run([tb.dvped_bin(), "-c", "/nonexistent/dvpe", "alpha", "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("/nonexistent/dvpe", r.stdout)

    def test_command_line_errors(self):
        for args, word in ((["-c", self.dir], "missing NODENAME"), (["--bogus", "alpha"], "--bogus"),
                           (["-l", "loud", "alpha"], "loud"), (["alpha", "notanoverride"], "notanoverride")):
            r = subprocess.run([tb.dvped_bin()] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.assertEqual(r.returncode, 2, (args, r.stdout))
            self.assertEqual(tb.sanitizer_reports(r.stdout), [], r.stdout)
            self.assertIn(word, r.stdout)

    def test_cipher_not_compiled_in(self):
        # The default build has no null suite (meson -Dsuite_null=false).
        r = self.run_dvped(DEMO.replace("cipher = aes256-gcm", "cipher = null"), "alpha", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not compiled", r.stdout)

    def test_unknown_crypto_backend(self):
        r = self.run_dvped(DEMO, "alpha", "crypto-backend=turbo", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("turbo", r.stdout)

    def test_bad_override(self):
        r = self.run_dvped(DEMO, "alpha", "mtu=abc", "--check")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("mtu", r.stdout)

    def test_sixteen_workers_would_reuse_the_control_lane(self):
        # Worker i seals on lane i, the control thread on lane 15: a 16th worker would reuse its
        # AEAD nonces. --lcores lets lcore ids exceed this machine's CPUs (the EAL maps them).
        conf = DEMO.replace("worker-lcores = 1", "worker-lcores = 1-16\neal-args = --lcores=0@0,(1-16)@0")
        conf = conf.replace("port = tap0 overlay dvpe_tap0", "port = tap0 overlay net_null0")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "worker-lcores = 1-16"), "16 workers, at most 15", "nonces")
        r = self.run_dvped(conf.replace("worker-lcores = 1-16", "worker-lcores = 1-15"), "alpha", "--check")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_tap_with_more_queues_than_dpdk_can_pass(self):
        # DPDK 22.11's net_tap overflows its 8-fd IPC message at start ("stack smashing
        # detected") with more than 8 rx + tx queues; each worker has a tx queue. dvpe's own
        # TAP port (the demo's dvpe_tap0, pmd/host_tap.hh) has no such limit.
        eight = DEMO.replace("worker-lcores = 1", "worker-lcores = 1-8\neal-args = --lcores=0@0,(1-8)@0")
        r = self.run_dvped(eight, "alpha", "--check")
        self.assertEqual(r.returncode, 0, r.stdout)
        conf = eight.replace("port = tap0 overlay dvpe_tap0", "port = tap0 overlay net_tap0")
        r = self.run_dvped(conf, "alpha", "--check")
        self.assert_error_at(r, line_of(conf, "port = tap0 overlay net_tap0"), "tap0", "1 rx + 8 tx",
                             "at most 8")
        r = self.run_dvped(conf.replace("worker-lcores = 1-8", "worker-lcores = 1-7"), "alpha", "--check")
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_fifo_and_oversized_includes(self):
        # A FIFO never blocks dvped (nobody writes to it here); a file over 1 MiB is refused.
        fifo = os.path.join(self.dir, "fifo.conf")
        os.mkfifo(fifo)
        conf = DEMO + "\ninclude fifo.conf\n"
        r = self.run_dvped(conf, "alpha", "--check", timeout=20)
        self.assert_error_at(r, line_of(conf, "include fifo.conf"), fifo, "not a regular file (a FIFO)")
        with open(os.path.join(self.dir, "huge.conf"), "w") as f:
            f.write("# padding\n" * (1024 * 1024 // 10 + 1))
        conf = DEMO + "\ninclude huge.conf\n"
        r = self.run_dvped(conf, "alpha", "--check", timeout=20)
        self.assert_error_at(r, line_of(conf, "include huge.conf"), "larger than 1048576 bytes")


if __name__ == "__main__":
    tb.main()
