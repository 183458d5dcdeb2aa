# SPDX-License-Identifier: MIT
"""man/*: each page renders without a groff warning, and dvpectl.8 names every command dvpectl
accepts (its --help text lists them)."""
import os
import re
import shutil
import subprocess
import unittest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..")
PAGES = ["dvped.8", "dvpectl.8", "dvpe.conf.5"]


def dvpectl_commands(dvpectl):
    """The commands `dvpectl --help` lists (its "Commands:" section)."""
    usage = subprocess.run([dvpectl, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^  ([a-z]+)(?: |$)", usage.split("Commands:")[1], re.M))


class ManPages(unittest.TestCase):
    @unittest.skipUnless(shutil.which("groff"), "no groff")
    def test_they_render_cleanly(self):
        for p in PAGES:
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(TOP, "man", p)],
                               capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
            self.assertEqual((r.returncode, r.stderr), (0, ""), p)

    def test_dvpectl_page_names_every_command(self):
        dvpectl = os.environ.get("DVPECTL")
        if not dvpectl:
            self.skipTest("DVPECTL not set")
        commands = dvpectl_commands(dvpectl)
        self.assertIn("neighbours", commands)
        page = open(os.path.join(TOP, "man", "dvpectl.8")).read()
        for c in sorted(commands):
            self.assertRegex(page, r"\.B %s\b" % c, c)


if __name__ == "__main__":
    unittest.main(verbosity=2)
