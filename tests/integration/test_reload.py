# SPDX-License-Identifier: MIT
"""Configuration reload and GVPE's signals on real dvped nodes in network namespaces.

    ns <tag>-u  bridge br0 10.77.0.254/24
    <tag>-alpha, <tag>-beta, <tag>-gamma: dvped, udp transport, TAP overlay 10.88.0.N

A node joins a running mesh: alpha and beta run with a config that lacks gamma, the config
gains gamma, alpha reloads through `dvpectl reload` and beta through SIGHUP, gamma starts, and
traffic flows between all three; then gamma leaves again the same way. A reload that changes a
restart-only setting (mtu) or does not parse is refused whole: the daemon keeps running with
the old config and its sessions; so is one with an unusable key or configuration file
(truncated, garbage or unreadable key, group-readable private key, FIFO or oversized include).
A connect-mode change takes a session down (the peer's
packets under the old keys are dropped as unknown_key) and back up. SIGUSR1
logs a status dump; SIGUSR2 is ignored.
"""
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


def peers(node):
    return dc.peers_by_name(node.ctl("peers"))


def dvpectl_reload(node):
    return tb.sh([tb.dvpectl_bin(), "-S", node.sock, "reload"], check=False)


def reloads(node):
    return node.ctl("status")["reload"]


def ping(node, ip, count=5):
    # 5 sent, at most one lost: a rekey or ARP refresh may eat one (see test_overlay.py)
    r = node.sh(["ping", "-c", str(count), "-i", "0.2", "-W", "2", ip], check=False)
    return r


class Base(unittest.TestCase):
    def start(self, names, running, edit=None):
        """A mesh of namespaces for `names` with a config for all of them (edit(text) -> text
        changes what is written first); the `running` nodes start with overlay 10.88.0.N."""
        self.names = names
        self.mesh = to.make_mesh(names)
        self.conf = os.path.join(self.mesh.confdir, "gvpe.conf")
        with open(self.conf) as f:
            self.full = f.read()
        if edit is not None:
            self.write(edit(self.full))
        for n in running:
            self.run_node(n)

    def run_node(self, n):
        self.node(n).start()
        self.node(n).sh(["ip", "addr", "add", "10.88.0.%d/24" % (self.names.index(n) + 1), "dev", "dvpe0"])

    def tearDown(self):
        self.mesh.cleanup()

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def node(self, name):
        return self.mesh.nodes[name]

    def wait_up(self, name, other, timeout=20):
        dc.wait_for(lambda: peers(self.node(name)).get(other, {}).get("state") == "up", timeout,
                    "%s -> %s up" % (name, other), lambda: str(peers(self.node(name))) + self.node(name).log()[-3000:])

    def assert_ping(self, name, ip):
        r = ping(self.node(name), ip)
        self.assertRegex(r.stdout, r" [45] received", r.stdout + self.node(name).log()[-2000:])


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class JoinAndLeave(Base):
    def test_node_joins_and_leaves_a_running_mesh(self):
        def drop_gamma(text):
            return text[:text.index("\nnode = gamma")] + "\n"
        self.start(["alpha", "beta", "gamma"], running=["alpha", "beta"], edit=drop_gamma)
        full, without_gamma = self.full, drop_gamma(self.full)
        a, b, g = self.node("alpha"), self.node("beta"), self.node("gamma")
        self.wait_up("alpha", "beta")
        self.assertEqual(sorted(peers(a)), ["beta"])

        # gamma joins: alpha through dvpectl, beta through SIGHUP
        self.write(full)
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("added gamma (id 3)", r.stdout)
        b.proc.send_signal(signal.SIGHUP)
        dc.wait_for(lambda: reloads(b)["applied"] == 1, 10, "beta's SIGHUP reload", lambda: b.log()[-2000:])
        self.assertTrue(reloads(b)["last"]["ok"])
        self.assertEqual(reloads(b)["last"]["trigger"], "SIGHUP")
        self.assertIn("added gamma (id 3)", reloads(b)["last"]["changes"])
        self.assertEqual(sorted(peers(a)), ["beta", "gamma"])
        # the session alpha-beta is untouched by the reload
        self.assertEqual(peers(a)["beta"]["ups"], 1)
        self.assertEqual(peers(a)["beta"]["state"], "up")

        self.run_node("gamma")
        for x, y in (("alpha", "gamma"), ("beta", "gamma"), ("gamma", "alpha"), ("gamma", "beta")):
            self.wait_up(x, y)
        self.assert_ping("alpha", "10.88.0.3")
        self.assert_ping("beta", "10.88.0.3")
        self.assert_ping("gamma", "10.88.0.1")

        # gamma leaves alpha's configuration: its session and path are gone, nothing reaches it
        self.write(without_gamma)
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("removed gamma (id 3)", r.stdout)
        self.assertEqual(sorted(peers(a)), ["beta"])
        r = ping(a, "10.88.0.3", count=3)
        self.assertIn(" 0 received", r.stdout)
        # gamma still holds its session: what it sends alpha now counts as unknown_node there
        # (alpha's overlay address pinned in gamma's ARP table: the 3 echo requests are all it sends)
        g.sh(["ip", "neigh", "replace", "10.88.0.1", "lladdr", "fe:fd:80:00:00:01", "dev", "dvpe0", "nud", "permanent"])
        before = tb.settle(lambda: a.ctl("status")["drops"]["unknown_node"])
        ping(g, "10.88.0.1", count=3)
        self.assertEqual(tb.settle(lambda: a.ctl("status")["drops"]["unknown_node"]), before + 3)
        self.assertEqual(peers(a)["beta"]["ups"], 1)
        self.assert_ping("alpha", "10.88.0.2")
        self.assertEqual(reloads(a)["applied"], 2)
        self.assertEqual(reloads(a)["refused"], 0)
        for n in ("alpha", "beta", "gamma"):
            self.assertIsNone(self.node(n).proc.poll(), n + " exited")


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Refused(Base):
    def test_restart_only_and_broken_configs_change_nothing(self):
        self.start(["alpha", "beta"], running=["alpha", "beta"])
        a = self.node("alpha")
        self.wait_up("alpha", "beta")
        self.wait_up("beta", "alpha")

        self.write(self.full.replace("mtu = 1500", "mtu = 1400"))
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("need a restart", r.stderr)
        self.assertIn("mtu: 1500 -> 1400", r.stderr)

        self.write(self.full.replace("mtu = 1500", "mtu = banana"))
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("the configuration has errors", r.stderr)
        self.assertRegex(r.stderr, r"gvpe\.conf:\d+: ", r.stderr)

        st = reloads(a)
        self.assertEqual((st["applied"], st["refused"]), (0, 2))
        self.assertFalse(st["last"]["ok"])
        self.assertEqual(a.ctl("config")["mtu"], 1500)
        self.assertEqual(peers(a)["beta"]["state"], "up")
        self.assertEqual(peers(a)["beta"]["ups"], 1)
        self.assert_ping("alpha", "10.88.0.2")

        # back to the running config: applies, with nothing to change
        self.write(self.full)
        a.proc.send_signal(signal.SIGHUP)
        dc.wait_for(lambda: reloads(a)["applied"] == 1, 10, "SIGHUP reload")
        self.assertEqual(reloads(a)["last"]["changes"], [])
        self.assertEqual(peers(a)["beta"]["ups"], 1)


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class UnusableFiles(Base):
    def test_bad_key_or_config_files_refuse_the_whole_reload(self):
        """A truncated, garbage or unreadable (ELOOP) public key, a group-readable private key, a
        FIFO include, a 2 MiB include: each reload is refused naming the file, and the mesh runs
        on unchanged (before, a peer whose key did not load was dropped and the reply said ok,
        and a FIFO include hung the control thread)."""
        self.start(["alpha", "beta"], running=["alpha", "beta"])
        a = self.node("alpha")
        self.wait_up("alpha", "beta")
        confdir = self.mesh.confdir
        beta_key = os.path.join(confdir, "pubkey", "beta")
        with open(beta_key) as f:
            good = f.read()

        def refused(*words):
            t0 = time.time()
            r = tb.sh([tb.dvpectl_bin(), "-S", a.sock, "-t", "10000", "reload"], check=False)
            self.assertLess(time.time() - t0, 8, "the reload took too long (blocked?)")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            for w in words:
                self.assertIn(w, r.stderr)
            self.assertEqual(sorted(peers(a)), ["beta"])
            self.assertEqual(peers(a)["beta"]["state"], "up")
            self.assertEqual(peers(a)["beta"]["ups"], 1)

        def put_key(text):
            os.remove(beta_key)
            with open(beta_key, "w") as f:
                f.write(text)

        put_key(good[:20] + "\n")  # truncated
        refused("a key file cannot be used", "node beta: public key file " + beta_key, "decodes to 15 bytes")
        put_key("garbage\n")
        refused("a key file cannot be used", beta_key, "not valid base64")
        os.remove(beta_key)
        os.symlink(beta_key, beta_key)  # unreadable, even for root: too many levels of symlinks
        refused("a key file cannot be used", "cannot read key file " + beta_key)
        put_key(good)

        alpha_priv = os.path.join(confdir, "hostkeys", "alpha")
        os.chmod(alpha_priv, 0o644)
        refused("a key file cannot be used", alpha_priv, "accessible by group or others")
        os.chmod(alpha_priv, 0o600)

        fifo = os.path.join(confdir, "fifo.conf")
        os.mkfifo(fifo)
        self.write(self.full + "\ninclude fifo.conf\n")
        refused("the configuration has errors", fifo, "not a regular file (a FIFO)")
        with open(os.path.join(confdir, "huge.conf"), "w") as f:
            f.write("#" * (2 * 1024 * 1024) + "\n")
        self.write(self.full + "\ninclude huge.conf\n")
        refused("the configuration has errors", "huge.conf", "larger than 1048576 bytes")
        self.write(self.full)

        st = reloads(a)
        self.assertEqual((st["applied"], st["refused"]), (0, 6))
        self.assert_ping("alpha", "10.88.0.2")
        # everything restored: the reload applies, nothing changes
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("nothing changed", r.stdout)
        self.assertEqual(peers(a)["beta"]["ups"], 1)
        self.assertIsNone(a.proc.poll())

@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class PidFile(Base):
    def test_a_symlink_at_the_pid_file_is_replaced_not_followed(self):
        """The pid file's path held a symlink to another file: dvped used to write its pid into
        that file; now the link is replaced by the pid file and the target is untouched."""
        self.start(["alpha", "beta"], running=[])
        victim = os.path.join(self.mesh.workdir, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        pid_path = os.path.join(self.mesh.workdir, "alpha.pid")
        os.symlink(victim, pid_path)
        self.run_node("alpha")
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertFalse(os.path.islink(pid_path))
        with open(pid_path) as f:
            self.assertEqual(f.read(), "%d\n" % self.node("alpha").proc.pid)
        # HUP through the pid file reaches the daemon (as `kill -HUP $(cat pid-file)`)
        with open(pid_path) as f:
            os.kill(int(f.read()), signal.SIGHUP)
        dc.wait_for(lambda: reloads(self.node("alpha"))["applied"] == 1, 10, "SIGHUP reload")

@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class CoreDumps(Base):
    def test_dvped_cannot_dump_core(self):
        """Every key is in dvped's memory: it sets RLIMIT_CORE to 0, soft and hard, and is not
        dumpable (prctl), unless DVPE_ALLOW_COREDUMP=1."""
        self.start(["alpha", "beta"], running=["alpha"])
        with open("/proc/%d/limits" % self.node("alpha").proc.pid) as f:
            core = [l for l in f if l.startswith("Max core file size")][0].split()
        self.assertEqual(core[4:6], ["0", "0"], core)

@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class PrivateKeyMode(Base):
    def test_group_readable_private_key_refuses_to_start(self):
        """As ssh: a private key others may read is refused (it used to be a warning)."""
        self.start(["alpha", "beta"], running=[])
        key = os.path.join(self.mesh.confdir, "hostkeys", "alpha")
        os.chmod(key, 0o640)
        a = self.node("alpha")
        with self.assertRaises(RuntimeError) as e:
            a.start(expect_exit=1)
        self.assertIn("exited with 1", str(e.exception))
        self.assertIn("private key file %s is accessible by group or others (mode 0640); chmod 600 it" % key,
                      a.log())

@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class LiveChanges(Base):
    def test_connect_mode_change_and_gvpe_signals(self):
        self.start(["alpha", "beta"], running=["alpha", "beta"])
        a, b = self.node("alpha"), self.node("beta")
        self.wait_up("alpha", "beta")
        self.assert_ping("alpha", "10.88.0.2")

        # alpha disables beta: the session goes down and stays down (beta's attempts are refused)
        self.write(self.full + "\nnode = beta\nconnect = disabled\n")
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("beta: connect: always -> disabled", r.stdout)
        self.assertNotEqual(peers(a)["beta"]["state"], "up")
        r = ping(a, "10.88.0.2", count=3)
        self.assertIn(" 0 received", r.stdout)
        # beta still holds the old keys (until its keepalive runs out): what it sends is
        # dropped by alpha as unknown_key, nothing reaches alpha's overlay
        b.sh(["ip", "neigh", "replace", "10.88.0.1", "lladdr", "fe:fd:80:00:00:01", "dev", "dvpe0", "nud", "permanent"])
        before = tb.settle(lambda: a.ctl("status")["drops"]["unknown_key"])
        r = ping(b, "10.88.0.1", count=3)
        self.assertIn(" 0 received", r.stdout)
        self.assertEqual(tb.settle(lambda: a.ctl("status")["drops"]["unknown_key"]), before + 3)  # the 3 requests

        # and enables it again: a new session, traffic flows
        self.write(self.full)
        r = dvpectl_reload(a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("beta: connect: disabled -> always", r.stdout)
        self.wait_up("alpha", "beta")
        self.assertEqual(peers(a)["beta"]["ups"], 2)
        self.assert_ping("alpha", "10.88.0.2")

        # GVPE's USR1: a status dump in the log; USR2 (and ALRM): ignored
        a.proc.send_signal(signal.SIGUSR1)
        dc.wait_for(lambda: "END status dump" in a.log(), 10, "the USR1 dump")
        self.assertRegex(a.log(), r"node beta \(id 2\): up, connect always, udp4 10\.77\.0\.2")
        a.proc.send_signal(signal.SIGUSR2)
        a.proc.send_signal(signal.SIGALRM)
        # a second USR1 after them: once its dump is written, USR2 and ALRM were delivered too
        a.proc.send_signal(signal.SIGUSR1)
        dc.wait_for(lambda: a.log().count("END status dump") == 2, 10, "the second USR1 dump", lambda: a.log()[-2000:])
        self.assertIsNone(a.proc.poll())
        self.assertTrue(a.ctl("status")["ok"])
        self.assertIsNone(b.proc.poll())


if __name__ == "__main__":
    tb.main()
