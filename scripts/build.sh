#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configures (once) and builds dvpe. Usage: scripts/build.sh [BUILDDIR] [meson setup options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-$top/build}
shift || true
if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" "$top" "$@" >/dev/null
fi
# ninja's progress lines are noise in CI; its errors are not: on failure the end of its output.
log=$(mktemp)
if ! ninja -C "$builddir" -j "$(nproc)" >"$log" 2>&1; then
  echo "build: ninja failed in $builddir; its last lines:" >&2
  { grep -v '^\[[0-9]*/[0-9]*\] ' "$log" || true; } | tail -n 80 >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
