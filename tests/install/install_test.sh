#!/usr/bin/env bash
# Installs bpfvm into a temporary prefix and builds programs against it: with
# CMake's find_package (C++) and with pkg-config (C, shared library).
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/bpfvm/bpfvm.h"
test -f "$tmp/prefix/lib/libbpfvm.a" -o -f "$tmp/prefix/lib/$(gcc -dumpmachine)/libbpfvm.a"

cmake -S "$source_dir/consumer" -B "$tmp/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libbpfvm.so*' | head -1)")
LD_LIBRARY_PATH=$libdir "$tmp/cmake/consumer"

export PKG_CONFIG_PATH=$(dirname "$(find "$tmp/prefix" -name bpfvm.pc | head -1)")
cc "$source_dir/consumer/main.c" -o "$tmp/c_consumer" $(pkg-config --cflags --libs bpfvm)
LD_LIBRARY_PATH=$libdir "$tmp/c_consumer"
echo "installed bpfvm builds and runs with find_package and pkg-config"
