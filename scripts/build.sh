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
ninja -C "$builddir" -j "$(nproc)" >/dev/null
