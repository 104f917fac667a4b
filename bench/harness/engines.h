// Engines: the ways the harness runs a benchmark program. Each engine is one
// column of the report; native code is the reference the others are compared
// with (the first column, and the result every other engine must reproduce).
//
// Adding an engine: implement Engine and Runner in engines.cpp and add a row
// to the table engine_kinds() returns. The harness checks its results against
// native code, times it and adds its ns/run and its ratio to native to the
// summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include "bpfvm/error.h"
#include "bpfvm/program.h"
#include "programs.h"

namespace bpfvm::bench {

// One program made runnable by one engine.
class Runner {
public:
    virtual ~Runner() = default;
    // One run with r1 = data, r2 = len: the program's return value or why the
    // run failed.
    virtual Result<uint64_t> run(uint8_t* data, size_t len) = 0;
    // The timed loop: one run per iteration of `state`. Each runner writes its
    // own loop (see timed_loop) so no virtual call is timed. Engines with
    // EngineKind::manual_time report each run's time with SetIterationTime.
    virtual void time(benchmark::State& state, uint8_t* data, size_t len) = 0;
};

struct EngineConfig {
    std::string bpf_dir; // where the <name>.bpf.o objects are
};

// What an engine whose programs return 32 bits (the kernel's XDP entries)
// returns for a body result r: programs/bench.h's bench_fold32.
inline uint64_t fold32(uint64_t r) { return static_cast<uint32_t>(r ^ (r >> 32)); }

class Engine {
public:
    virtual ~Engine() = default;
    // Loads and prepares a program; an error here fails the suite.
    virtual Result<std::unique_ptr<Runner>> prepare(const BenchProgram& program) = 0;
};

struct EngineKind {
    std::string_view name;        // column name, and the suffix of benchmark names
    std::string_view description;
    bool timed_by_default;        // in the default timing set (all engines are checked by --check)
    // Creates the engine, or says why it is not available on this machine
    // (for example: the kernel engine without the rights to load programs).
    Result<std::unique_ptr<Engine>> (*create)(const EngineConfig& config);
    // Its runs return fold32(result) (checked against fold32 of native code's).
    bool folds_result = false;
    // A program it cannot load is skipped in its column with the reason,
    // instead of failing the suite (the kernel: its verifier, its limits).
    bool may_skip_programs = false;
    // Its runner measures the time itself (State::SetIterationTime): the
    // harness reports real (manual) time, not CPU time.
    bool manual_time = false;
};

// The known engines; the first is native code, the reference.
std::span<const EngineKind> engine_kinds();

// The BPF program of `program`: its object from config.bpf_dir, its section
// (by default the bpfvm entry, bench/<name>), decoded and checked. For
// engines that run BPF code.
Result<Program> load_bpf_program(const EngineConfig& config, const BenchProgram& program);
Result<Program> load_bpf_program(const EngineConfig& config, const BenchProgram& program, const std::string& section);

// How many BPF instructions one run of `program` on the input executes (found
// with the interpreter's instruction budget), or an error.
Result<uint64_t> count_bpf_insns(const Program& program, uint8_t* data, size_t len);

// The loop every Runner::time uses: calls `run_once` (which returns the
// program's result) once per iteration and keeps the result alive.
template <typename F> void timed_loop(benchmark::State& state, F&& run_once) {
    for (auto _ : state) {
        uint64_t r = run_once();
        benchmark::DoNotOptimize(r);
    }
}

} // namespace bpfvm::bench
