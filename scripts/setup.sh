#!/usr/bin/env bash
# Installs the Debian 12 packages bpfvm needs (only those missing) and builds
# it. Sourced by demo.sh and test.sh; run alone, it builds build/.
#
#   scripts/setup.sh [BUILD_DIR] [extra cmake arguments...]
set -euo pipefail

BPFVM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What the build, the tests and the examples use.
BPFVM_PACKAGES=(
    build-essential cmake ninja-build pkg-config
    clang llvm lld libclang-rt-14-dev        # BPF target, llvm-objdump/llvm-mc, libFuzzer and sanitizers
    linux-libc-dev libelf-dev zlib1g-dev libbpf-dev libpcap-dev   # libpcap: tcpdump expressions, live capture
    libfmt-dev nlohmann-json3-dev libcli11-dev libexpected-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    python3-dpkt golang-github-google-gopacket-dev   # real captures the pcap tests read (BSD licences)
)

bpfvm_install_packages() {
    local missing=() p
    for p in "${BPFVM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    echo "setup: installing ${missing[*]}"
    local sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# bpfvm_build DIR [cmake args...]: configure (once) and build.
bpfvm_build() {
    local dir=$1
    shift
    cmake -S "$BPFVM_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -- -j"$(nproc)"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    bpfvm_install_packages
    dir=${1:-$BPFVM_ROOT/build}
    shift || true
    bpfvm_build "$dir" "$@"
fi
