#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs the bundled examples.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
bpfvm_install_packages
bpfvm_build "$BPFVM_ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

bpfvm=$BPFVM_ROOT/build/tools/bpfvm/bpfvm
cd "$BPFVM_ROOT"
echo
echo "== The IPv4 header checksum, written in assembly (examples/checksum.s)"
echo "\$ bpfvm asm examples/checksum.s -o build/examples/checksum.bin"
"$bpfvm" asm examples/checksum.s -o build/examples/checksum.bin
echo "\$ bpfvm disasm build/examples/checksum.bin"
"$bpfvm" disasm build/examples/checksum.bin
echo "\$ bpfvm run build/examples/checksum.bin --mem examples/ipv4-header.bin"
"$bpfvm" run build/examples/checksum.bin --mem examples/ipv4-header.bin
echo
echo "== A C program compiled with clang -target bpf (examples/count_bytes.c)"
echo "\$ bpfvm run build/examples/count_bytes.o --mem examples/ipv4-header.bin"
"$bpfvm" run build/examples/count_bytes.o --mem examples/ipv4-header.bin
echo
echo "== A libbpf-style program with a hash map and a global variable (examples/byte_histogram.c),"
echo "   its maps pinned in shared memory: each command below is a process of its own"
BPFVM_PIN_ROOT=$(mktemp -d)
export BPFVM_PIN_ROOT
trap 'rm -rf "$BPFVM_PIN_ROOT"' EXIT
echo "\$ bpfvm prog load build/examples/byte_histogram.o histogram --pinmaps histogram_maps"
"$bpfvm" prog load build/examples/byte_histogram.o histogram --pinmaps histogram_maps
echo "\$ bpfvm prog run histogram --data-in examples/ipv4-header.bin --repeat 3"
"$bpfvm" prog run histogram --data-in examples/ipv4-header.bin --repeat 3
echo "\$ bpfvm map dump pinned histogram_maps/counts"
"$bpfvm" map dump pinned histogram_maps/counts
