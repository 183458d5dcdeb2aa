#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reserves N 2 MiB hugepages (default 512 = 1 GiB; never fewer than are reserved already) and
# mounts hugetlbfs, with Debian's dpdk-hugepages.py (package dpdk) where it is installed, else by
# hand. Usage: scripts/hugepages.sh [N]; prints the number of free hugepages. Needs root.
# At boot, on a gateway: docs/deploy.md (kernel command line, 1 GiB pages).
set -euo pipefail
n=${1:-512}
have=$(cat /proc/sys/vm/nr_hugepages)
# A machine without systemd (a microVM) has no /dev/hugepages: dpdk-hugepages.py --mount then
# fails but exits 0, so the directory is made first and the mount checked at the end.
mkdir -p /dev/hugepages
if command -v dpdk-hugepages.py >/dev/null 2>&1; then
  if [ "$have" -lt "$n" ]; then
    dpdk-hugepages.py --pagesize 2M --reserve "$((n * 2))M"
  fi
  if ! mountpoint -q /dev/hugepages; then
    dpdk-hugepages.py --mount
  fi
else
  if [ "$have" -lt "$n" ]; then
    echo "$n" > /proc/sys/vm/nr_hugepages
  fi
fi
if ! mountpoint -q /dev/hugepages; then
  mount -t hugetlbfs nodev /dev/hugepages
fi
mountpoint -q /dev/hugepages || { echo "hugepages: /dev/hugepages is not mounted" >&2; exit 1; }
grep HugePages_Free /proc/meminfo | awk '{print $2}'
