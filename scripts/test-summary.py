#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sums test cases over meson test logs and prints the closing line 'N passed, N failed, N skipped'.

Counts individual cases where the runner reports them (GoogleTest '[  PASSED  ] N tests',
'[  FAILED  ] N tests', '[  SKIPPED ] N tests'; python unittest 'Ran N tests' with
'FAILED (failures=, errors=, skipped=)' / 'OK (skipped=)'), else one case per meson test.
Usage: test-summary.py BUILDDIR/meson-logs/testlog.json [...]; exit 1 if anything failed.
"""
import json
import re
import sys

passed = failed = skipped = 0
rows = []
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
                p = n - fails - s
            if p == fl == s == 0:
                if res == "OK":
                    p = 1
                elif res == "SKIP":
                    s = 1
                else:
                    fl = 1
            elif res not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
                fl = 1  # crashed or timed out after its cases passed
            passed, failed, skipped = passed + p, failed + fl, skipped + s
            rows.append("%-8s %-40s %4d passed %3d failed %3d skipped  %6.1fs" %
                        (res, t["name"], p, fl, s, t.get("duration", 0)))
print("\n".join(rows))
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
