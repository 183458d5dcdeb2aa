#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages dvpe needs to build, test and run its demo, if any is missing.
# Idempotent; needs root. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
set -euo pipefail

PACKAGES=(
  # build
  g++ meson ninja-build pkg-config
  libdpdk-dev libipsec-mb-dev libsodium-dev nlohmann-json3-dev libpcap-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (scripts/test.sh's build-fuzz: clang with libFuzzer)
  clang libclang-rt-14-dev
  # run and test
  dpdk dpdk-dev iproute2 iputils-ping iperf3 tcpdump nftables procps python3 kmod
  # tests/integration/test_service.py parses `dvpectl metrics` with a real OpenMetrics parser
  python3-prometheus-client
  # tests/debian/test_package.py: dpkg-buildpackage, dpkg-shlibdeps, dpkg-gencontrol
  dpkg-dev
  # perf/compress/lzf_bench: what GVPE's compress would cost (docs/performance.md "compress")
  liblzf-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
