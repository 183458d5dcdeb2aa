#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reserves N 2 MiB hugepages (default 512 = 1 GiB) and mounts hugetlbfs at /dev/hugepages.
# Usage: scripts/hugepages.sh [N]; prints the number of free hugepages. Needs root.
set -euo pipefail
n=${1:-512}
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$n" ]; then
  echo "$n" > /proc/sys/vm/nr_hugepages
fi
mkdir -p /dev/hugepages
if ! mountpoint -q /dev/hugepages; then
  mount -t hugetlbfs nodev /dev/hugepages
fi
grep HugePages_Free /proc/meminfo | awk '{print $2}'
