#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Debian package (issue 17 point 3, debian/, docs/operations.md "Debian package"), built as a
packager would: dpkg-buildpackage -b -us -uc on a copy of the source tree, then inspected and
installed, configured, removed and purged by dpkg in a scratch root (--root, maintainer scripts
chrootless: the host's own /usr and dpkg database stay untouched), and the installed programs run.
Needs root (dpkg --root) and dpkg-dev (scripts/install-deps.sh installs it)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def version():
    with open(os.path.join(TOP, "debian", "changelog")) as f:
        return re.match(r"dvpe \(([^)]+)\)", f.readline()).group(1)


def source_files():
    """What a clean checkout holds (tracked files, and new ones not ignored), else the tree
    without build directories."""
    r = run(["git", "-C", TOP, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    if r.returncode == 0 and r.stdout:
        return [p for p in r.stdout.split("\0") if p and os.path.exists(os.path.join(TOP, p))]
    out = []
    for d, dirs, files in os.walk(TOP):
        rel = os.path.relpath(d, TOP)
        dirs[:] = [x for x in dirs if not (rel == "." and (x.startswith("build") or x in (".git", "obj-deb")))]
        out += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return out


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (dpkg --root)")
        for tool in ("dpkg-buildpackage", "dpkg-deb", "dpkg-shlibdeps"):
            if shutil.which(tool) is None:
                raise AssertionError("%s missing: scripts/install-deps.sh installs dpkg-dev" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="dvpe-deb-")
        cls.version = version()
        src = os.path.join(cls.tmp, "dvpe-" + cls.version)
        for p in source_files():
            os.makedirs(os.path.dirname(os.path.join(src, p)), exist_ok=True)
            shutil.copy2(os.path.join(TOP, p), os.path.join(src, p), follow_symlinks=False)
        env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=%d" % (os.cpu_count() or 1))
        r = run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env, timeout=1500)
        cls.build_log = r.stdout
        if r.returncode != 0:
            raise AssertionError("dpkg-buildpackage failed (%d):\n%s" % (r.returncode, r.stdout[-4000:]))
        cls.deb = os.path.join(cls.tmp, "dvpe_%s_amd64.deb" % cls.version)
        if not os.path.isfile(cls.deb):
            raise AssertionError("no %s after the build: %s" % (cls.deb, os.listdir(cls.tmp)))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        r = run(["dpkg-deb", "-f", self.deb, name])
        self.assertEqual(r.returncode, 0, r.stdout)
        return r.stdout.strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "dvpe")
        self.assertEqual(self.field("Version"), self.version)
        self.assertEqual(self.field("Architecture"), "amd64")
        depends = self.field("Depends")
        # dpkg-shlibdeps found the libraries the programs link: DPDK's, IPsec-MB, libsodium.
        for lib in ("librte-eal", "librte-ethdev", "libipsec-mb", "libsodium"):
            self.assertIn(lib, depends, depends)
        # The drivers dvped loads as plugins (no binary links them, so dpkg-shlibdeps cannot
        # see them): without them a --no-install-recommends install cannot start a node.
        for lib in ("librte-mempool-ring23", "librte-net-af-packet23", "librte-net-tap23"):
            self.assertIn(lib, depends, depends)
        self.assertNotIn("${", depends)

    def test_built_at_the_measured_optimisation(self):
        # meson's release -O3 (docs/performance.md), with dpkg's hardening flags but not its -O2
        lines = [ln for ln in self.build_log.splitlines() if "dvped.cc" in ln and " -c " in ln]
        self.assertTrue(lines, "no compile line for dvped.cc in the build log (ninja -v)")
        self.assertIn("-O3", lines[0])
        self.assertNotIn(" -O2", lines[0])
        self.assertIn("-fstack-protector-strong", lines[0])
        self.assertNotIn("warning: substitution variable", self.build_log)

    def test_contents(self):
        r = run(["dpkg-deb", "-c", self.deb])
        self.assertEqual(r.returncode, 0, r.stdout)
        entries = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            entries[parts[5].rstrip("/")] = (parts[0], parts[1])
        for path in ("./usr/bin/dvped", "./usr/bin/dvpectl", "./usr/lib/systemd/system/dvped@.service",
                     "./usr/share/man/man8/dvped.8.gz", "./usr/share/man/man8/dvpectl.8.gz",
                     "./usr/share/man/man5/dvpe.conf.5.gz", "./usr/share/doc/dvpe/copyright",
                     "./usr/share/doc/dvpe/changelog.gz", "./usr/share/doc/dvpe/examples/gvpe-compat.conf",
                     "./usr/share/doc/dvpe/examples/deploy/gvpe.conf",
                     "./usr/share/bash-completion/completions/dvpectl", "./etc/dvpe"):
            self.assertIn(path, entries, "%s not in the package" % path)
        self.assertTrue(entries["./usr/bin/dvped"][0].startswith("-rwxr-xr-x"), entries["./usr/bin/dvped"])
        for path, (mode, owner) in entries.items():
            self.assertEqual(owner, "root/root", path)
            self.assertNotEqual(mode[8], "w", "%s is world-writable" % path)
        # Nothing of the build or test trees.
        self.assertFalse([p for p in entries if "/tests/" in p or "obj-deb" in p or p.endswith(".a")])

    def test_install_run_remove_purge(self):
        root = os.path.join(self.tmp, "root")
        admin = os.path.join(root, "var", "lib", "dpkg")
        for d in ("info", "updates", "triggers"):
            os.makedirs(os.path.join(admin, d), exist_ok=True)
        open(os.path.join(admin, "status"), "a").close()
        dpkg = ["dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"]
        r = run(dpkg + ["-i", self.deb])
        self.assertEqual(r.returncode, 0, r.stdout)
        r = run(dpkg + ["-s", "dvpe"])
        self.assertIn("Status: install ok installed", r.stdout)
        # The unit starts the installed program with a config directory the package made.
        with open(os.path.join(root, "usr/lib/systemd/system/dvped@.service")) as f:
            unit = f.read()
        exec_start = re.search(r"^ExecStart=(\S+) -c (\S+) ", unit, re.M)
        self.assertIsNotNone(exec_start, unit)
        self.assertEqual(exec_start.group(1), "/usr/bin/dvped")
        self.assertTrue(os.path.isdir(root + exec_start.group(2)))
        self.assertIn("ExecReload=/usr/bin/dvpectl ", unit)
        self.assertIn("Documentation=file:///usr/share/doc/dvpe/", unit)
        for prog in ("dvped", "dvpectl"):
            r = run([os.path.join(root, "usr/bin", prog), "--version"])
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn(self.version.split("-")[0], r.stdout)
        # The installed man pages are readable gzip (man -l reads them).
        r = run(["zcat", os.path.join(root, "usr/share/man/man5/dvpe.conf.5.gz")])
        self.assertEqual(r.returncode, 0)
        self.assertIn(".TH", r.stdout)
        # remove keeps nothing of the programs; the operator's files in /etc/dvpe survive purge.
        with open(os.path.join(root, "etc/dvpe/gvpe.conf"), "w") as f:
            f.write("# the operator's\n")
        r = run(dpkg + ["-r", "dvpe"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertFalse(os.path.exists(os.path.join(root, "usr/bin/dvped")))
        r = run(dpkg + ["-P", "dvpe"])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.isfile(os.path.join(root, "etc/dvpe/gvpe.conf")))
        r = run(dpkg + ["-s", "dvpe"])
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # Installed again on an empty /etc/dvpe, purge leaves nothing (dpkg removes the
        # package's empty directory).
        os.unlink(os.path.join(root, "etc/dvpe/gvpe.conf"))
        self.assertEqual(run(dpkg + ["-i", self.deb]).returncode, 0)
        self.assertEqual(run(dpkg + ["-P", "dvpe"]).returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(root, "etc/dvpe")))
        self.assertFalse(os.path.exists(os.path.join(root, "usr/share/doc/dvpe")))

    def test_maintainer_scripts(self):
        r = run(["dpkg-deb", "--ctrl-tarfile", self.deb])
        self.assertEqual(r.returncode, 0)
        ctrl = os.path.join(self.tmp, "control")
        os.makedirs(ctrl, exist_ok=True)
        r = run(["dpkg-deb", "-e", self.deb, ctrl])
        self.assertEqual(r.returncode, 0, r.stdout)
        for s in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctrl, s)
            self.assertTrue(os.access(path, os.X_OK), s)
            self.assertEqual(run(["sh", "-n", path]).returncode, 0, s)
        with open(os.path.join(ctrl, "md5sums")) as f:
            self.assertIn("usr/bin/dvped", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
