#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz.
#
#   scripts/fuzz.sh [-t SECONDS] [-b BUILD_DIR] [-j PARALLEL] [-m] [TARGET...]
#
#   TARGET      fuzz_decode, fuzz_assemble, fuzz_interp, fuzz_elf (default: all)
#   -t SECONDS  how long each target fuzzes (default 600)
#   -b DIR      the fuzz build directory (default build-fuzz in the repository)
#   -j N        how many targets run at once (default 1)
#   -m          afterwards, minimise each corpus (libFuzzer -merge=1)
#   extra libFuzzer flags: FUZZ_FLAGS="-use_value_profile=1" scripts/fuzz.sh
#
# Configures and builds DIR (clang, -DBPFVM_FUZZ=ON, ASan+UBSan) when needed.
# The corpus of each target grows in DIR/corpus/<target> (seeded from the
# conformance suite at build time); crash reproducers land in
# DIR/artifacts/<target>/. Prints one summary line per target and exits
# non-zero when any target found a crash.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=600
build="$repo/build-fuzz"
parallel=1
merge=0
all_targets=(fuzz_decode fuzz_assemble fuzz_interp fuzz_elf)

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "t:b:j:mh" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    b) build=$(realpath -m "$OPTARG") ;;
    j) parallel=$OPTARG ;;
    m) merge=1 ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in *" $t "*) ;; *) echo "fuzz.sh: unknown target '$t' (${all_targets[*]})" >&2; exit 2 ;; esac
done

if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  echo "fuzz.sh: configuring $build"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DBPFVM_FUZZ=ON -DBPFVM_SANITIZE=ON -DBPFVM_BENCH=OFF >/dev/null
fi
echo "fuzz.sh: building fuzz targets in $build"
cmake --build "$build" --target fuzz_all -- -j"$(nproc)" >"$build/fuzz-build.log" 2>&1 || {
  tail -40 "$build/fuzz-build.log" >&2
  echo "fuzz.sh: build failed (full log: $build/fuzz-build.log)" >&2
  exit 1
}

fuzz_dir="$build/tests/fuzz"
seeds="$fuzz_dir/seeds"
logs="$build/fuzz-logs"
mkdir -p "$logs"

run_one() {
  local t=$1
  local corpus="$build/corpus/$t" artifacts="$build/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  local extra=()
  [ "$t" = fuzz_assemble ] && [ -f "$seeds/fuzz_assemble.dict" ] && extra+=("-dict=$seeds/fuzz_assemble.dict")
  local dirs=("$corpus")
  [ -d "$seeds/$t" ] && dirs+=("$seeds/$t")
  [ -d "$repo/tests/fuzz/regressions/$t" ] && dirs+=("$repo/tests/fuzz/regressions/$t")
  local before
  before=$(find "$artifacts" -maxdepth 1 -type f | wc -l)
  local log="$logs/$t.log" start=$SECONDS
  # shellcheck disable=SC2086
  "$fuzz_dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "${extra[@]}" ${FUZZ_FLAGS:-} "${dirs[@]}" >"$log" 2>&1 || true
  local elapsed=$((SECONDS - start)) after runs cov ft corp crashes
  after=$(find "$artifacts" -maxdepth 1 -type f | wc -l)
  crashes=$((after - before))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -z "$runs" ] && runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  corp=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  printf '%-14s %6ss  runs %-10s cov %-6s ft %-7s corpus %-6s crashes %s%s\n' "$t" "$elapsed" "${runs:-?}" \
    "${cov:-?}" "${ft:-?}" "$corp" "$crashes" "$([ "$crashes" -gt 0 ] && echo "  -> $artifacts (log: $log)")"
  if [ "$merge" = 1 ]; then
    rm -rf "$corpus.min" && mkdir -p "$corpus.min"
    if "$fuzz_dir/$t" -merge=1 -timeout=10 -rss_limit_mb=2048 "$corpus.min" "$corpus" >"$logs/$t.merge.log" 2>&1; then
      rm -rf "$corpus" && mv "$corpus.min" "$corpus"
      echo "$t: corpus minimised to $(find "$corpus" -maxdepth 1 -type f | wc -l) files"
    else
      rm -rf "$corpus.min"
      echo "$t: corpus minimisation failed (log: $logs/$t.merge.log)" >&2
    fi
  fi
  [ "$crashes" -eq 0 ]
}

status=0
pids=()
for t in "${targets[@]}"; do
  if [ "$parallel" -le 1 ]; then
    run_one "$t" || status=1
  else
    run_one "$t" & pids+=($!)
    if [ ${#pids[@]} -ge "$parallel" ]; then
      wait "${pids[0]}" || status=1
      pids=("${pids[@]:1}")
    fi
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
