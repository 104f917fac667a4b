#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs every test, twice:
#   build/          g++, the default configuration
#   build-sanitize/ clang, AddressSanitizer + UndefinedBehaviorSanitizer, and
#                   the libFuzzer targets (each run briefly over its seeds)
# Both builds use -Werror. Ends with the line "N passed, N failed".
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
bpfvm_install_packages || exit 1

passed=0
failed=0
run_suite() { # run_suite NAME BUILD_DIR CMAKE_ARGS...
    local name=$1 dir=$2
    shift 2
    echo "== $name: build ($dir)"
    if ! bpfvm_build "$dir" "$@"; then
        echo "== $name: BUILD FAILED"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: tests"
    local log
    log=$(mktemp)
    ctest --test-dir "$dir" -j"$(nproc)" --output-on-failure --timeout 900 2>&1 | tee "$log" | grep -vE '^ *([0-9]+/[0-9]+ Test +#.*Passed|Start +[0-9]+:)' || true
    local summary
    summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
    rm -f "$log"
    if [[ -z $summary ]]; then
        echo "== $name: ctest did not finish"
        failed=$((failed + 1))
        return
    fi
    local f total
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$summary")
    passed=$((passed + total - f))
    failed=$((failed + f))
}

run_suite "g++" "$BPFVM_ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++
run_suite "clang ASan+UBSan" "$BPFVM_ROOT/build-sanitize" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DBPFVM_SANITIZE=ON -DBPFVM_FUZZ=ON

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
