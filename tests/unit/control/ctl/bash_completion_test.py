# SPDX-License-Identifier: MIT
"""configs/bash-completion/dvpectl in a real bash: commands, node names from the configuration
directory given with -c, per-command flags, signal names, dvped's options and log levels."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "configs", "bash-completion",
                      "dvpectl")


def complete(words):
    """COMPREPLY for the command line `words` (the last word is the one being completed)."""
    fn = "_dvped" if words[0] == "dvped" else "_dvpectl"
    quoted = " ".join("'%s'" % w for w in words)
    script = 'source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; %s; printf "%%s\\n" "${COMPREPLY[@]}"' % (
        SCRIPT, quoted, len(words) - 1, fn)
    env = dict(os.environ, DVPE_RUNDIR=BashCompletion.rundir)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True, env=env,
                       cwd=BashCompletion.rundir)
    return sorted(w for w in r.stdout.split("\n") if w)


class BashCompletion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="dvpe-compl-")
        with open(os.path.join(cls.dir, "gvpe.conf"), "w") as f:
            f.write("enable-udp = yes\nnode = hub\nhostname = 10.0.0.1\nnode=branch\n  node   laptop # roams\n")
        cls.rundir = tempfile.mkdtemp(prefix="dvpe-run-")
        import socket
        cls.sock = socket.socket(socket.AF_UNIX)  # closed by the interpreter at exit
        cls.sock.bind(os.path.join(cls.rundir, "gateway.sock"))  # a running node's control socket

    def test_commands_and_nodes(self):
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "st"]), ["status"])
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "b"]), ["branch"])
        got = complete(["dvpectl", "-c", self.dir, ""])
        for w in ("status", "peers", "neighbours", "metrics", "hub", "branch", "laptop"):
            self.assertIn(w, got)
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "hub", "re"]), ["reconnect", "reload"])

    def test_running_nodes(self):
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "ga"]), ["gateway"])

    def test_a_socket_name_is_never_run(self):
        import socket
        marker = os.path.join(self.rundir, "ran")  # bash runs in rundir: `touch ran` would make it
        name = os.path.join(self.rundir, "$(touch ran).sock")
        evil = socket.socket(socket.AF_UNIX)
        evil.bind(name)
        try:
            got = complete(["dvpectl", "-c", self.dir, ""])
        finally:
            evil.close()
            os.unlink(name)
        self.assertFalse(os.path.exists(marker), "a file name was executed")
        self.assertIn("gateway", got)

    def test_every_command_of_dvpectl_help(self):
        dvpectl = os.environ.get("DVPECTL")
        if not dvpectl:
            self.skipTest("DVPECTL not set")
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from man_pages_test import dvpectl_commands
        commands = dvpectl_commands(dvpectl)
        offered = complete(["dvpectl", "-c", self.dir, ""])
        self.assertEqual(commands - set(offered), set())

    def test_flags_and_arguments(self):
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "hub", "status", "--w"]), ["--watch"])
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "hub", "config", "--o"]), ["--offline"])
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "hub", "kill", "H"]), ["HUP"])
        self.assertEqual(complete(["dvpectl", "-c", self.dir, "hub", "reconnect", "la"]), ["laptop"])
        self.assertEqual(complete(["dvpectl", "--ti"]), ["--timeout"])

    def test_dvped(self):
        self.assertEqual(complete(["dvped", "-c", self.dir, "h"]), ["hub"])
        self.assertEqual(complete(["dvped", "-l", "no"]), ["noise", "notice"])
        self.assertEqual(complete(["dvped", "--ch"]), ["--check"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
