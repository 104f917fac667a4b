// Running programs: helper tables, run options, and the interpreter.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/program.h"

namespace bpfvm {

struct ExecContext;

// A helper (or kfunc) as the program calls it: r1..r5 in, r0 out. The
// execution context gives access to the embedding application's data and, in
// checked mode, lets a helper declare memory it hands to the program.
using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                              ExecContext* ctx);

struct Helper {
    HelperFn fn = nullptr;
    std::string name;
};

// Helpers by Linux number (call imm, src 0) and kfuncs by BTF id (src 2).
// The embedding application fills it; default_helpers() has the ones bpfvm
// provides.
class HelperTable {
public:
    void add(uint32_t id, std::string name, HelperFn fn) { helpers_[id] = Helper{fn, std::move(name)}; }
    void add_kfunc(uint32_t btf_id, std::string name, HelperFn fn) {
        kfuncs_[btf_id] = Helper{fn, std::move(name)};
    }
    const Helper* find(uint32_t id) const {
        auto it = helpers_.find(id);
        return it == helpers_.end() ? nullptr : &it->second;
    }
    const Helper* find_kfunc(uint32_t id) const {
        auto it = kfuncs_.find(id);
        return it == kfuncs_.end() ? nullptr : &it->second;
    }
    const std::map<uint32_t, Helper>& helpers() const { return helpers_; }
    const std::map<uint32_t, Helper>& kfuncs() const { return kfuncs_; }

private:
    std::map<uint32_t, Helper> helpers_;
    std::map<uint32_t, Helper> kfuncs_;
};

// The helpers available without any runtime objects: bpf_ktime_get_ns (5),
// bpf_get_prandom_u32 (7), bpf_get_smp_processor_id (8).
const HelperTable& default_helpers();

// Memory a checked run may touch besides its stack and context.
struct MemoryRegion {
    uint64_t begin = 0;
    uint64_t size = 0;
    bool writable = true;
    std::string_view name = "memory";
};

struct RunOptions {
    // Checked mode: every load and store is checked against the regions the
    // program may touch, callx targets are checked, and the instruction
    // budget is enforced. For code that no verifier has passed.
    bool checked = false;
    // Checked mode: at most this many instructions run. Charged per block of
    // straight-line code when the block starts (docs/semantics.md), so a run
    // stops at the first instruction of the block the budget does not cover.
    uint64_t insn_budget = uint64_t(1) << 28;
    // Iterations each function's may_goto allows (Linux: BPF_MAX_LOOPS).
    uint64_t may_goto_budget = kMaxLoops;
    // Extra memory for checked mode.
    std::vector<MemoryRegion> regions;
    // Whether the context (r1) may be written in checked mode.
    bool context_writable = true;
    // Packet for the legacy LD_ABS/LD_IND loads; empty means the context.
    std::span<const uint8_t> packet;
    // Memory for the program's stack, at least kMaxCallFrames * kStackSize
    // (4096) bytes, 16-byte aligned: its last 4096 bytes are used, r10 starts
    // at its end. Empty: a stack of the run's own. (The checked mode zeroes it.)
    std::span<uint8_t> stack;
    // Handed to helpers through ExecContext::user.
    void* user = nullptr;
    // Tail calls already made in the chain this run continues (a run that a
    // bpf_tail_call starts: ExecContext::tail_calls + 1). Linux allows 33.
    uint32_t tail_calls = 0;
};

// What a helper sees of the run that called it.
struct ExecContext {
    void* user = nullptr;
    bool checked = false;
    // Checked mode: make [begin, begin+size) accessible to the program for the
    // rest of the run. Returns false when the region table is full. In the
    // fast mode nothing is checked and this does nothing.
    bool add_region(const MemoryRegion& region) {
        if (!checked) return true;
        if (num_regions >= capacity) return false;
        regions[num_regions++] = region;
        return true;
    }
    // Checked mode: whether the program may access [addr, addr + size) (its
    // stack, or a region; a writable one for a write), as a helper must check
    // the pointers a program hands it. The fast mode trusts the program: true.
    bool may_access(uint64_t addr, uint64_t size, bool write) const;

    // ---- Stopping the run from a helper. The engines look at `stop` after
    // every helper or kfunc call.
    enum Stop : uint8_t {
        kRunning = 0,
        kFailed = 1, // the run ends with `error` (fail())
        kReturn = 2, // the calling function returns the helper's result at once (bpf_tail_call)
    };
    uint8_t stop = kRunning;
    // Ends the run with an error. `error.insn` < 0: reported at the helper call;
    // else at that instruction (an error inside a callback keeps its place).
    void fail(Error error);
    Error* error = nullptr; // kFailed: owned here until the engine takes it (take_error)
    Error take_error();

    // ---- Callbacks (bpf_loop, bpf_for_each_map_elem): calls the program's BPF
    // function `fn` (a value an lddw with src 4, BPF_PSEUDO_FUNC, loaded) with
    // r1..r5, as a bpf-to-bpf call from the function that called the helper:
    // a frame of its own, the same budget and call-depth limit. Returns its r0;
    // when the callee stops with an error, the run is failed (stop == kFailed)
    // and the helper should return at once. Set by the engines.
    uint64_t call_function(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
        if (!call_function_fn) return refuse_callback(fn); // (the program loads no function address)
        return call_function_fn(this, fn, r1, r2, r3, r4, r5);
    }
    uint64_t refuse_callback(uint64_t fn); // fails the run: `fn` is not a function
    uint64_t (*call_function_fn)(ExecContext*, uint64_t fn, uint64_t, uint64_t, uint64_t, uint64_t,
                                 uint64_t) = nullptr;
    void* engine = nullptr; // the engine's per-run state, for call_function_fn

    // ---- The run: its context (r1 at the start) and options, for helpers that
    // start other runs (bpf_tail_call), and the tail calls made so far.
    void* context = nullptr;
    size_t context_size = 0;
    const RunOptions* options = nullptr;
    uint32_t tail_calls = 0;

    static constexpr int kMaxRegions = 64;
    MemoryRegion* regions = nullptr; // checked mode: the run's region table
    int num_regions = 0;
    int capacity = 0;
    uint64_t stack_lo = 0, stack_hi = 0; // checked mode: the whole BPF stack (may_access)
};

// How lddw instructions with a pseudo source (maps, BTF ids) get their value:
// called once per such instruction when a program is prepared.
using PseudoResolver = std::function<Result<uint64_t>(const Insn& first, const Insn& second, int64_t index)>;

struct PrepareOptions {
    PseudoResolver resolve_pseudo; // may be empty: then pseudo lddw is an error
};

// The threaded-code interpreter. Immutable once created: run() may be called
// from many threads at once.
class Interpreter {
public:
    static Result<Interpreter> create(const Program& program, const HelperTable& helpers = default_helpers(),
                                      const PrepareOptions& options = {});

    // r1 = ctx, r2 = ctx_size; returns r0 or the error that stopped the run.
    Result<uint64_t> run(void* ctx, size_t ctx_size, const RunOptions& options) const;
    Result<uint64_t> run(void* ctx, size_t ctx_size) const; // the default options

    const Program& program() const { return *program_; }

    struct Slot;
    struct Impl;

    Interpreter(Interpreter&&) noexcept;
    Interpreter& operator=(Interpreter&&) noexcept;
    ~Interpreter();

private:
    Interpreter();
    std::shared_ptr<const Program> program_;
    std::unique_ptr<Impl> impl_;
};

// Value a lddw with source BPF_PSEUDO_FUNC loads: a code address that callx
// understands (the function's instruction index, tagged).
inline constexpr uint64_t kFuncAddressTag = 0xbf00'0000'0000'0000ull;

} // namespace bpfvm
