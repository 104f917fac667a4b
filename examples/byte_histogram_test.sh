#!/bin/sh
# The byte_histogram example as the README shows it: load and pin, run three
# times, and read the pinned map from another process (each command is one).
#   byte_histogram_test.sh BPFVM OBJECT INPUT
set -eu
bpfvm=$1 object=$2 input=$3
BPFVM_PIN_ROOT=$(mktemp -d)
export BPFVM_PIN_ROOT
trap 'rm -rf "$BPFVM_PIN_ROOT"' EXIT
"$bpfvm" prog load "$object" histogram --pinmaps histogram_maps
"$bpfvm" prog run histogram --data-in "$input" --repeat 3 | grep -q '^Return value: 0,'
dump=$("$bpfvm" map dump pinned histogram_maps/counts)
echo "$dump"
# The header has 0xc0 twice and 0x45 once; three runs count them 6 and 3 times.
echo "$dump" | grep -q '^key: c0 00 00 00  value: 06 00 00 00 00 00 00 00$'
echo "$dump" | grep -q '^key: 45 00 00 00  value: 03 00 00 00 00 00 00 00$'
echo "$dump" | grep -q '^Found 9 elements$'
# The global variable (the .bss map) counted the runs.
"$bpfvm" map dump pinned histogram_maps/byte_his.bss | grep -q 'value: 03 00 00 00 00 00 00 00'
echo "byte_histogram: ok"
