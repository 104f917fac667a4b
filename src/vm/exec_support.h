// What the interpreter and the JIT share: binding calls and lddw values when a
// program is prepared, the checked mode's memory rules, and the text of the
// errors a run stops with (so both engines report the same).
#pragma once

#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "bpfvm/vm.h"

namespace bpfvm::exec {

// The function each call site calls, and the 64-bit value each lddw loads.
struct Bindings {
    std::vector<HelperFn> call_target; // per slot: helper or kfunc of a call, else nullptr
    std::vector<uint64_t> lddw_value;  // per slot: value of an lddw, else 0
};
Result<Bindings> bind(const Program& program, const HelperTable& helpers, const PrepareOptions& options);

inline bool in_region(const MemoryRegion& r, uint64_t addr, uint64_t size) {
    return addr >= r.begin && size <= r.size && addr - r.begin <= r.size - size;
}

// The checked mode's rule: [addr, addr+size) lies in [stack_lo, stack_top) or
// in one region (writable, for a write); atomics are aligned to their size.
inline bool access_ok(const ExecContext& ctx, uint64_t stack_lo, uint64_t stack_top, uint64_t addr, uint64_t size,
                      bool write, bool atomic) {
    if (atomic && (addr & (size - 1)) != 0) return false;
    if (addr >= stack_lo && addr <= stack_top && size <= stack_top - addr) return true;
    for (int i = 0; i < ctx.num_regions; i++) {
        const MemoryRegion& r = ctx.regions[i];
        if (in_region(r, addr, size)) return !write || r.writable;
    }
    return false;
}

// A checked run's region table, left uninitialised (64 MemoryRegion
// constructions cost more than a short run): add_region writes each entry
// before any is read. (MemoryRegion is an aggregate: an implicit-lifetime type.)
struct RegionTable {
    alignas(MemoryRegion) unsigned char bytes[sizeof(MemoryRegion) * ExecContext::kMaxRegions];
    MemoryRegion* data() { return std::launder(reinterpret_cast<MemoryRegion*>(bytes)); }
    static constexpr int size() { return ExecContext::kMaxRegions; }
};

struct Fault { // (no initialisers: the JIT's per-run state holds one it does not always use)
    uint64_t addr;
    uint32_t size;
    bool write;
    bool atomic;
};

// "invalid read of 4 bytes at 0x...: 2 bytes past the end of the context (...)"
std::string describe_fault(const Fault& fault, const ExecContext& ctx, uint64_t stack_lo, uint64_t stack_top);

// The checked mode's instruction budget is charged per block of straight-line
// code, when the block is entered: a block runs only when the budget left
// covers all of it, else the run stops at the block's first instruction. The
// engines share the blocks, so they stop at the same place with the same
// memory. budget_blocks gives, for each instruction that starts a block, the
// block's length in instructions (an lddw counts once), and 0 for the others.
// A block ends after a jump, call, exit, may_goto or legacy packet load, and
// before a jump target or a function's first instruction.
std::vector<uint32_t> budget_blocks(const Program& program);

// Stack frames a run of the program can reach: 1 without local calls, callx
// or function addresses (the checked mode zeroes only these), else
// kMaxCallFrames.
int frames_used(const Program& program);

// Messages shared by the engines.
inline constexpr const char* kBudgetMessage = "instruction budget exhausted: the program ran too long (or forever)";
std::string call_depth_message();
std::string callx_message(int reg, uint64_t value);
std::string callback_message(uint64_t value);

// Linux's BPF_FUNC_* number of a helper the default table provides, by name.
uint64_t ktime_get_ns();

} // namespace bpfvm::exec
