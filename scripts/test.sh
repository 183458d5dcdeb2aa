#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole dvpe test suite, from a clean checkout on Debian 12 (run as root):
#   1. installs missing Debian packages, reserves hugepages;
#   2. builds twice with -Werror: release (build-ci) and ASan+UBSan (build-asan);
#   3. runs the unit tests and the integration tests (but adversarial) under ASan+UBSan, then
#      every suite (unit, kat, integration) on the release build; integration tests build meshes
#      of dvped in network namespaces and fail on any sanitizer report in a dvped log;
#   4. with clang and libFuzzer, fuzzes every fuzz target for 60 s (build-fuzz, suite fuzz-timed);
#   5. prints one closing line "N passed, N failed, N skipped" and exits non-zero on any failure.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)

scripts/install-deps.sh || exit 1
if ! scripts/hugepages.sh 512 >/dev/null 2>&1; then
  echo "test: could not reserve hugepages; hugepage variants of the integration tests will skip"
fi

echo "== build (release, -Werror)"
scripts/build.sh build-ci -Dwerror=true -Dbuildtype=release || { echo "0 passed, 1 failed"; exit 1; }
echo "== build (ASan+UBSan, -Werror)"
scripts/build.sh build-asan -Dwerror=true -Dsanitize=true -Dbenchmarks=disabled -Dbuildtype=debug \
  || { echo "0 passed, 1 failed"; exit 1; }

echo "== unit tests under ASan+UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 > build-asan/test-output.txt 2>&1 \
  || tail -n 60 build-asan/test-output.txt
t0=$(date +%s)
echo "== integration tests under ASan+UBSan (dvped exit codes and logs checked for sanitizer reports)"
meson test -C build-asan --suite integration overlay sessions reload bringup config-errors loadtest harness tcp dns \
  --logbase integration --print-errorlogs > build-asan/integration-output.txt 2>&1 \
  || tail -n 60 build-asan/integration-output.txt
echo "   ($(( $(date +%s) - t0 ))s)"
echo "== all suites on the release build"
meson test -C build-ci --print-errorlogs --num-processes 2 > build-ci/test-output.txt 2>&1 \
  || tail -n 60 build-ci/test-output.txt

# ---- fuzz (docs/testing.md "Fuzz") -------------------------------------------------------------
# build-fuzz: clang, ASan+UBSan, every library instrumented for libFuzzer; only the *_fuzz binaries
# are built. Suite 'fuzz-timed' fuzzes each target for DVPE_FUZZ_SECONDS (60) from a copy of its
# committed corpus, two at a time; each is one pass/fail. Skipped without clang++ or libFuzzer.
fuzz_logs=()
if ! command -v clang++ >/dev/null 2>&1; then
  echo "== fuzz: skipped (no clang++)"
else
  t0=$(date +%s)
  echo "== fuzz: build (clang, libFuzzer, ASan+UBSan), then each target for ${DVPE_FUZZ_SECONDS:-60}s"
  rm -f build-fuzz/meson-logs/testlog.json
  fuzz_logs=(build-fuzz/meson-logs/testlog.json)  # missing if the build fails: counted as failed
  if [ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ meson setup build-fuzz "$top" -Dsanitize=true \
      -Dbenchmarks=disabled -Dbuildtype=debugoptimized -Db_lundef=false \
      -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link >/dev/null; then
    fuzzers=$(meson introspect build-fuzz --tests | python3 -c 'import json, os, sys
print(" ".join(os.path.relpath(os.path.join(os.path.abspath("build-fuzz"), t["cmd"][1]), os.path.abspath("build-fuzz"))
               for t in json.load(sys.stdin) if any(s.split(":")[-1] == "fuzz-timed" for s in t["suite"])))')
    if [ -z "$fuzzers" ]; then
      echo "   skipped: clang++ cannot link -fsanitize=fuzzer (libclang-rt-14-dev)"
      fuzz_logs=()
    elif ninja -C build-fuzz -j "$(nproc)" $fuzzers >/dev/null; then
      meson test -C build-fuzz --no-rebuild --suite fuzz-timed --print-errorlogs --num-processes 2 \
        > build-fuzz/test-output.txt 2>&1 || tail -n 60 build-fuzz/test-output.txt
    fi
  fi
  echo "   ($(( $(date +%s) - t0 ))s)"
fi

echo "== results ($(( $(date +%s) - start ))s)"
python3 scripts/test-summary.py build-asan/meson-logs/testlog.json build-asan/meson-logs/integration.json \
  build-ci/meson-logs/testlog.json "${fuzz_logs[@]}"
