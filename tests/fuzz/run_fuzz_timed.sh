#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One bounded libFuzzer run, as CI's 'fuzz-timed' suite does it (docs/testing.md, "Fuzzing"):
#   run_fuzz_timed.sh FUZZER CORPUS_DIR [libFuzzer options...]
# Fuzzes for DVPE_FUZZ_SECONDS (default 60) with -rss_limit_mb=2048, starting from a temporary copy
# of the committed corpus (CI never writes into the source tree). A crash, leak, timeout or
# oracle violation fails the run; its reproducer is kept in DVPE_FUZZ_ARTIFACTS (default
# ./fuzz-artifacts, i.e. the build directory under meson test) as <target>-crash-<sha1>.
set -uo pipefail
fuzzer=$1
corpus=$2
shift 2
seconds=${DVPE_FUZZ_SECONDS:-60}
artifacts=${DVPE_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
name=$(basename "$fuzzer")
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/dvpe-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -d "$corpus" ]; then
  cp -r "$corpus"/. "$work"/
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -error_exitcode: libFuzzer's default, 77, is meson's "skipped".
"$fuzzer" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
  -error_exitcode=1 -artifact_prefix="$artifacts/$name-" "$@" 2>&1 | tail -n 200
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 77 ]; then
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  # This run's only (the directory keeps older runs' too): newer than the work directory.
  echo "$name: libFuzzer exited $rc; reproducers in $artifacts:"
  find "$artifacts" -maxdepth 1 -type f -name "$name-*" -newer "$work" -printf '%f\n' || true
fi
exit "$rc"
