# SPDX-License-Identifier: MIT
"""The checks of the test bed itself (dvpe_netns.py) fire: a green integration run means every
dvped exited 0 on SIGTERM with a clean log, and no test class was skipped for a reason nobody
allowed.

    <tag>-alpha: one dvped (udp, no running peer), started and ended in the ways the exit
    checks must catch: killed by a signal, a sanitizer report in its log, exiting by itself,
    exiting with another code than the test expected.
"""
import io
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dvpe_netns as tb  # noqa: E402
import test_overlay as to  # noqa: E402


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class ExitChecks(unittest.TestCase):
    def mesh(self):
        return to.make_mesh(["alpha", "beta"])

    def test_clean_stop_passes(self):
        m = self.mesh()
        m.nodes["alpha"].start()
        m.cleanup()  # SIGTERM, exit 0, clean log: no exception

    def test_killed_daemon_fails_the_cleanup(self):
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start()
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait()
        with self.assertRaisesRegex(AssertionError, r"dvped alpha was killed by signal 9"):
            m.cleanup()

    def test_sigkill_after_the_sigterm_timeout_fails_the_cleanup(self):
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start()
        os.kill(a.proc.pid, signal.SIGSTOP)  # a hung daemon: SIGTERM stays pending
        self.assertIsNone(a.stop(timeout=1))
        with self.assertRaisesRegex(AssertionError, r"dvped alpha did not exit within 1s of SIGTERM and was SIGKILLed"):
            m.cleanup()

    def test_sanitizer_report_fails_the_cleanup(self):
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start()
        self.assertEqual(a.stop(), 0)
        with open(a.log_path, "a") as f:
            f.write("==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n")
        with self.assertRaisesRegex(AssertionError, r"dvped alpha log has 1 sanitizer report line"):
            m.cleanup()

    def test_ubsan_runtime_error_fails_the_cleanup(self):
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start()
        self.assertEqual(a.stop(), 0)
        with open(a.log_path, "a") as f:
            f.write("engine/worker.cc:42:7: runtime error: signed integer overflow\n")
        with self.assertRaisesRegex(AssertionError, r"sanitizer report"):
            m.cleanup()

    def test_exit_by_itself_fails_unless_expected(self):
        m = self.mesh()
        a = m.nodes["alpha"]
        # an override dvped refuses: it exits 1 at once
        a.start(extra_overrides=["mtu=banana"], wait=False)
        a.proc.wait(60)
        with self.assertRaisesRegex(AssertionError, r"dvped alpha exited by itself with 1"):
            m.cleanup()
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start(extra_overrides=["mtu=banana"], wait=False, expect_exit=1)
        a.proc.wait(60)
        m.cleanup()  # what the test said would happen
        m = self.mesh()
        a = m.nodes["alpha"]
        a.start(extra_overrides=["mtu=banana"], wait=False, expect_exit=2)
        a.proc.wait(60)
        with self.assertRaisesRegex(AssertionError, r"expected to exit by itself with 2, exited with 1"):
            m.cleanup()


class _SkippedForNoReason(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("the fixture is in a bad mood")

    def test_nothing(self):
        pass


class _SkippedForHugepages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("needs 256 free hugepages (scripts/hugepages.sh), have 0")

    def test_nothing(self):
        pass


@unittest.skip("decorated away")
class _DecoratedSkip(unittest.TestCase):
    def test_nothing(self):
        pass


class _OneSkippedTest(unittest.TestCase):
    def test_skips_itself(self):
        self.skipTest("one case, not a class")


class ClassSkips(unittest.TestCase):
    def run_strict(self, cls):
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
        runner = unittest.TextTestRunner(stream=io.StringIO(), verbosity=2, resultclass=tb.StrictResult)
        return runner.run(suite)

    def test_class_skip_without_allowed_reason_fails(self):
        r = self.run_strict(_SkippedForNoReason)
        self.assertEqual((len(r.failures), len(r.skipped)), (1, 0))
        self.assertIn("the fixture is in a bad mood", r.failures[0][1])
        self.assertFalse(r.wasSuccessful())

    def test_class_skip_decorator_without_allowed_reason_fails(self):
        r = self.run_strict(_DecoratedSkip)
        self.assertEqual((len(r.failures), len(r.skipped)), (1, 0))

    def test_allowed_class_skip_is_a_skip(self):
        r = self.run_strict(_SkippedForHugepages)
        self.assertEqual((len(r.failures), len(r.skipped)), (0, 1))
        self.assertTrue(r.wasSuccessful())

    def test_skip_of_one_case_stays_a_skip(self):
        r = self.run_strict(_OneSkippedTest)
        self.assertEqual((len(r.failures), len(r.skipped)), (0, 1))


def load_tests(loader, tests, pattern):
    # the _Skipped* classes are material for ClassSkips, not tests of this module
    suite = unittest.TestSuite()
    for cls in (ExitChecks, ClassSkips):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


if __name__ == "__main__":
    tb.main()
