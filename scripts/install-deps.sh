#!/usr/bin/env bash
# Installs the Debian packages dpdc needs to build, test and run, if any is
# missing. Debian 12, as root. Safe to run again: it installs nothing twice.
set -euo pipefail

packages=(
  build-essential cmake pkg-config binutils
  clang llvm libbpf-dev bpftool
  libclang-rt-dev  # libFuzzer and the sanitizer runtimes (clang only recommends them)
  liburing-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libxxhash-dev
  qemu-system-x86 socat python3
  busybox-static cpio kmod xz-utils zstd debian-archive-keyring
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root (sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
