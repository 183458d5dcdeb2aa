#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: installs what is missing, builds, runs the demo mesh
# (scripts/demo.py) and cleans up. Options are passed to demo.py (--hugepages).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
for a in "$@"; do
  [ "$a" = "--hugepages" ] && scripts/hugepages.sh 512 >/dev/null
done
echo "building dvpe (first time: a few minutes) ..."
scripts/build.sh build
DVPE_BUILD="$top/build" exec python3 scripts/demo.py "$@"
