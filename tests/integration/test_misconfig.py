# SPDX-License-Identifier: MIT
"""Misconfigured peers show (issue 15 point 5) on real dvped nodes in network namespaces.

    ns <tag>-u  bridge br0 10.77.0.254/24
    <tag>-alpha, <tag>-beta: dvped, udp transport, TAP overlay

Serial: beta's config has a newer `serial` than alpha's. Both refuse each other's handshakes
(the responder with an authenticated refusal), alpha logs that its config is outdated (GVPE's
"outdated config"), beta that alpha's is; `dvpectl status` shows the reason per peer; the log
line is not repeated within a minute. Alpha's reload with beta's serial lets them connect, and
the reason goes.

Keys: beta runs with a fresh key pair that alpha's config does not have. Alpha reports beta's
static key as not the one of pubkey/beta (marked unauthenticated: anyone could send it), beta
that alpha's config holds a wrong public key for it (bad mac1). Alpha's reload with beta's new
public key lets them connect.
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


def peer(node, name):
    return dc.peers_by_name(node.ctl("peers"))[name]


def failure(node, name):
    return peer(node, name).get("handshake_failure")


def reload(node, confdir=None):
    args = [tb.dvpectl_bin(), "-S", node.sock, "reload"]
    r = tb.sh(args, check=False)
    return r


def diag(*nodes):
    return lambda: "".join("\n--- %s peers %s\n--- %s log tail\n%s" % (
        n.name, node_peers(n), n.name, n.log()[-3000:]) for n in nodes)


def node_peers(n):
    try:
        return n.ctl("peers")["peers"]
    except (OSError, ValueError, KeyError) as e:
        return "? (%s)" % e


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class Misconfig(unittest.TestCase):
    def setUp(self):
        self.mesh = to.make_mesh(["alpha", "beta"], extra="serial = 1")
        self.beta_dir = tempfile.mkdtemp(prefix="dvpe-beta-")
        shutil.copytree(self.mesh.confdir, self.beta_dir, dirs_exist_ok=True)
        self.a, self.b = self.mesh.nodes["alpha"], self.mesh.nodes["beta"]

    def tearDown(self):
        self.mesh.cleanup()
        shutil.rmtree(self.beta_dir)

    def set_serial(self, confdir, serial):
        path = os.path.join(confdir, "gvpe.conf")
        with open(path) as f:
            lines = f.read().splitlines()
        lines = ["serial = %s" % serial if ln.startswith("serial =") else ln for ln in lines]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def wait_up(self):
        for x, other in ((self.a, "beta"), (self.b, "alpha")):
            dc.wait_for(lambda: peer(x, other)["state"] == "up", 30, "%s -> %s up" % (x.name, other),
                        diag(self.a, self.b))

    def test_serial_mismatch_shows_on_both_sides_and_reload_fixes_it(self):
        self.set_serial(self.beta_dir, "2")
        self.a.start()
        self.b.start(confdir=self.beta_dir)
        fa = dc.wait_for(lambda: failure(self.a, "beta"), 20, "alpha's handshake_failure for beta",
                         diag(self.a, self.b))
        fb = dc.wait_for(lambda: failure(self.b, "alpha"), 20, "beta's handshake_failure for alpha",
                         diag(self.a, self.b))
        self.assertEqual((fa["reason"], fa["serial"], fa["authenticated"]), ("serial_mismatch", "peer_newer", True), fa)
        self.assertEqual((fb["reason"], fb["serial"], fb["authenticated"]), ("serial_mismatch", "peer_older", True), fb)
        self.assertIn("our config is outdated (GVPE: 'outdated config')", fa["detail"])
        self.assertGreaterEqual(fa["count"], 1)
        self.assertNotEqual(peer(self.a, "beta")["state"], "up")
        # the refusals went both ways: each side answered the other's initiation
        dc.wait_for(lambda: peer(self.a, "beta")["refusals_sent"] >= 1 and peer(self.b, "alpha")["refusals_sent"] >= 1,
                    20, "refusals both ways", diag(self.a, self.b))
        line_a = 'node beta: handshake refused: its config serial "2" is newer than ours "1" -- our config is outdated'
        line_b = 'node alpha: handshake refused: its config serial "1" is older than ours "2" -- its config is outdated'
        dc.wait_for(lambda: line_a in self.a.log(), 10, "alpha's log line", diag(self.a))
        dc.wait_for(lambda: line_b in self.b.log(), 10, "beta's log line", diag(self.b))
        # several attempts refused since, still one line (at most one a minute per peer and reason)
        dc.wait_for(lambda: failure(self.a, "beta")["count"] >= 3, 20, "more refusals", diag(self.a))
        self.assertEqual(self.a.log().count("node beta: handshake refused"), 1, self.a.log()[-3000:])
        # dvpectl's text shows it too
        text = tb.sh([tb.dvpectl_bin(), "-S", self.a.sock, "status"]).stdout
        self.assertIn("handshake failures:", text)
        self.assertIn("  beta: handshake refused: its config serial", text)

        # alpha gets the current config: they connect and the reason goes
        self.set_serial(self.mesh.confdir, "2")
        r = reload(self.a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_up()
        self.assertIsNone(failure(self.a, "beta"))
        self.assertIsNone(failure(self.b, "alpha"))

    def test_cipher_mismatch_shows_on_both_sides(self):
        # GVPE nodes built with different ciphers never talk and say nothing; dvpe's handshake
        # carries the cipher, and both sides say which one the other uses.
        self.a.start()
        self.b.start(extra_overrides=["cipher=chacha20-poly1305"])
        fa = dc.wait_for(lambda: (failure(self.a, "beta") or {}).get("reason") == "cipher_mismatch"
                         and failure(self.a, "beta"), 20, "alpha: cipher mismatch", diag(self.a, self.b))
        fb = dc.wait_for(lambda: (failure(self.b, "alpha") or {}).get("reason") == "cipher_mismatch"
                         and failure(self.b, "alpha"), 20, "beta: cipher mismatch", diag(self.a, self.b))
        self.assertTrue(fa["authenticated"])
        self.assertTrue(fb["authenticated"])
        self.assertIn("its cipher is chacha20-poly1305, ours is aes256-gcm", fa["detail"])
        self.assertIn("its cipher is aes256-gcm, ours is chacha20-poly1305", fb["detail"])
        dc.wait_for(lambda: "node beta: handshake refused: its cipher is chacha20-poly1305" in self.a.log(), 10,
                    "alpha's log line", diag(self.a))
        self.assertNotEqual(peer(self.a, "beta")["state"], "up")
        # beta restarted with the mesh's cipher: they connect and the reason goes
        self.b.start()
        self.wait_up()
        self.assertIsNone(failure(self.a, "beta"))

    def test_wrong_public_key_shows_and_reload_fixes_it(self):
        # beta runs with a fresh key pair; alpha's config still has the old pubkey/beta
        os.remove(os.path.join(self.beta_dir, "pubkey", "beta"))
        os.remove(os.path.join(self.beta_dir, "hostkeys", "beta"))
        tb.sh([tb.dvpectl_bin(), "-c", self.beta_dir, "keygen", "-G"])
        with open(os.path.join(self.beta_dir, "pubkey", "beta")) as f:
            beta_key = f.read().strip()
        self.a.start()
        self.b.start(confdir=self.beta_dir)
        fa = dc.wait_for(lambda: (failure(self.a, "beta") or {}).get("reason") == "wrong_static_key"
                         and failure(self.a, "beta"), 20, "alpha: wrong static key of beta", diag(self.a, self.b))
        self.assertFalse(fa["authenticated"])
        self.assertIn(beta_key, fa["detail"])
        self.assertIn("(pubkey/beta)", fa["detail"])
        self.assertIn("unauthenticated", fa["detail"])
        fb = dc.wait_for(lambda: (failure(self.b, "alpha") or {}).get("reason") == "bad_mac1"
                         and failure(self.b, "alpha"), 20, "beta: bad mac1 from alpha", diag(self.a, self.b))
        self.assertFalse(fb["authenticated"])
        self.assertIn("alpha's config likely holds an old or wrong public key for us (pubkey/beta there)", fb["detail"])
        dc.wait_for(lambda: ("node beta: handshake rejected: its static key %s is not the one in our config "
                             "(pubkey/beta)" % beta_key) in self.a.log(), 10, "alpha's log line", diag(self.a))
        dc.wait_for(lambda: "node alpha: handshake rejected: mac1 does not verify" in self.b.log(), 10,
                    "beta's log line", diag(self.b))

        # alpha gets beta's new public key
        shutil.copy(os.path.join(self.beta_dir, "pubkey", "beta"), os.path.join(self.mesh.confdir, "pubkey", "beta"))
        r = reload(self.a)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_up()
        self.assertIsNone(failure(self.a, "beta"))
        self.assertIsNone(failure(self.b, "alpha"))


if __name__ == "__main__":
    tb.main()
