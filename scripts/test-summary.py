#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sums test cases over meson test logs and prints the closing line 'N passed, N failed, N skipped'.

Counts individual cases where the runner reports them (GoogleTest '[  PASSED  ] N tests',
'[  FAILED  ] N tests', '[  SKIPPED ] N tests'; python unittest 'Ran N tests' with
'FAILED (failures=, errors=, skipped=)' / 'OK (skipped=)'), else one case per meson test.

A whole unittest class skipped at once ('setUpClass (...) ... skipped') is a failure: the
integration tests run under tests/integration/dvpe_netns.py main(), which already fails such a
skip unless its reason is allowed (CLASS_SKIPS_ALLOWED) and marks allowed ones
'[allowed class-level skip]'; those are listed here with their reasons. An unmarked one comes
from a module that bypasses that check and is counted as failed.
Usage: test-summary.py BUILDDIR/meson-logs/testlog.json [...]; exit 1 if anything failed.
"""
import base64
import json
import os
import re
import sys

passed = failed = skipped = 0
rows = []
class_skips = []
why = []  # a few telling lines of each failed test, printed last (CI shows only the tail)
TELLING = re.compile(r"oracle violated|ERROR: |SUMMARY: |runtime error|^(?:FAIL|ERROR): |AssertionError|"
                     r"\[  FAILED  \] \w|Failure$|libFuzzer exited|deadly signal|Timeout|out-of-memory")
REPRO = re.compile(r"reproducers in (\S+):\n((?:\S+\n)*)")
CLASS_SKIP = re.compile(r"^(\[allowed class-level skip\] )?setUpClass \(([^)]*)\) \.\.\. skipped '(.*)'$", re.M)
for path in sys.argv[1:]:
    try:
        f = open(path)
    except OSError as e:
        print("no test log %s (%s): the test run did not start" % (path, e.strerror))
        failed += 1
        continue
    with f:
        for line in f:
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            res = t["result"]
            p = fl = s = 0
            m = re.search(r"\[  PASSED  \] (\d+) tests?", out)
            if m:
                p = int(m.group(1))
                m2 = re.search(r"\[  FAILED  \] (\d+) tests?, listed below", out)
                fl = int(m2.group(1)) if m2 else 0
                m3 = re.search(r"\[  SKIPPED \] (\d+) tests?", out)
                s = int(m3.group(1)) if m3 else 0
            elif re.search(r"^Ran (\d+) tests?", out, re.M):
                n = int(re.search(r"^Ran (\d+) tests?", out, re.M).group(1))
                fails = sum(int(x) for x in re.findall(r"(?:failures|errors)=(\d+)", out))
                s = sum(int(x) for x in re.findall(r"skipped=(\d+)", out))
                fl = fails
                # Class- and module-level errors and skips (setUpClass, tearDownClass...) are
                # counted in failures/errors/skipped but are not among the N that ran.
                outside = len(re.findall(r"^(?:ERROR|FAIL): (?:setUp|tearDown)(?:Class|Module) ", out, re.M)) + \
                    len(CLASS_SKIP.findall(out))
                p = max(0, n + outside - fails - s)
            for allowed, cls, reason in CLASS_SKIP.findall(out):
                class_skips.append("%s %s: %s (%s)" % ("allowed" if allowed else "FAILED ", cls, reason, t["name"]))
                if not allowed:
                    fl += 1
                    s = max(0, s - 1)
            if p == fl == s == 0:
                if res == "OK":
                    p = 1
                elif res == "SKIP":
                    s = 1
                else:
                    fl = 1
            elif res not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
                fl = 1  # crashed or timed out after its cases passed
            if fl:
                lines = [ln.strip()[:300] for ln in out.splitlines() if TELLING.search(ln)]
                why.append("%s: %s" % (t["name"], " | ".join(lines[:6]) or "(no telling line; see its log)"))
                # A fuzz reproducer small enough to paste back: base64, so a failure seen only in
                # CI can be replayed (echo ... | base64 -d > crash; FUZZER crash).
                for d, names in REPRO.findall(out):
                    for name in names.split()[:2]:
                        f2 = os.path.join(d, name)
                        if os.path.isfile(f2) and os.path.getsize(f2) <= 1536:
                            with open(f2, "rb") as r:
                                why.append("  %s (base64): %s" % (name, base64.b64encode(r.read()).decode()))
            passed, failed, skipped = passed + p, failed + fl, skipped + s
            rows.append("%-8s %-40s %4d passed %3d failed %3d skipped  %6.1fs" %
                        (res, t["name"], p, fl, s, t.get("duration", 0)))
print("\n".join(rows))
if class_skips:
    print("class-level skips:\n  " + "\n  ".join(class_skips))
if why:
    print("why the failed ones failed:\n  " + "\n  ".join(why))
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
