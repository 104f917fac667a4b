// Random eBPF programs for differential testing: valid (Program::from_insns
// accepts them), terminating, deterministic, and written so that Linux's
// verifier can follow them (registers initialised before they are read,
// memory accesses in bounds, loops bounded by a counter).
//
// A program gets a buffer (r1 = its address, r2 = its length, 64..256 bytes)
// and works on it, on its stack and on its registers: every row of the
// opcode table with edge values, forward and bounded backward jumps, local
// functions, helpers, kfuncs, callx, may_goto, legacy packet loads, atomics.
// Every function ends by folding its registers and some stack slots into r0,
// and r0's upper half into its lower half (Linux's test runs return 32 bits).
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/insn.h"
#include "bpfvm/isa.h"
#include "bpfvm/vm.h"

namespace bpfvm::difftest {

enum class Profile : uint8_t {
    // Everything bpfvm runs: bpfvm-only helpers and kfuncs, callx, recursion,
    // pure may_goto loops with small budgets, misaligned stack accesses,
    // shift and division immediates Linux's verifier refuses.
    Full,
    // What Linux's verifier accepts: helpers the kernel has (8, 28, 42),
    // aligned stack accesses, atomics on the stack only, LD_ABS/LD_IND only in
    // the main function with r6 holding the context, at most 512 bytes of
    // stack over the whole call chain, no callx, no kfuncs.
    Kernel,
};
std::string_view profile_name(Profile profile);
std::optional<Profile> parse_profile(std::string_view name);

struct GenOptions {
    Profile profile = Profile::Full;
    // Full profile only: let a share of the programs stop with an error (bad
    // callx targets, call stack too deep, accesses outside the buffer).
    bool errors = true;
};

struct GeneratedProgram {
    uint64_t seed = 0;
    Profile profile = Profile::Full;
    std::vector<Insn> insns;         // the program bpfvm runs: prologue, then the body
    size_t prologue = 0;             // slots of bpfvm's prologue; the kernel's replaces them
    std::vector<int64_t> functions;  // first instruction of each function
    std::vector<uint8_t> memory;     // initial contents of the buffer (r1; r2 = its size)
    uint64_t may_goto_budget = kMaxLoops; // for bpfvm's runs
    uint64_t small_budget = 0;       // an instruction budget for extra runs of the checked modes
    bool faults = false;             // may access memory outside the buffer: only the checked modes run it
    bool budget_dependent = false;   // a loop only may_goto ends: its result depends on the may_goto budget
    bool address_dependent = false;  // computes with addresses (bpfvm's engines share them, Linux's differ)
    bool errors_allowed = true;      // GenOptions::errors (to generate it again)
    std::string origin;              // not generated: where it came from (a file)
    std::bitset<kNumOps> ops;        // the table rows the program contains
};

GeneratedProgram generate(uint64_t seed, const GenOptions& options = {});

// The program for Linux (BPF_PROG_TYPE_SCHED_CLS): a prologue that takes the
// packet from the __sk_buff, checks its length against data_end and calls the
// body with r1 = packet, r2 = length, as bpfvm does.
std::vector<Insn> kernel_program(const GeneratedProgram& program);

// The helpers generated programs call, all deterministic: 8 (get_smp_processor_id:
// the CPU set by set_current_cpu, 0 by default), 28 (csum_diff, zero-length
// buffers only: the seed folded as Linux's x86 csum_partial does), 42
// (get_numa_node_id: 0), 1000 and 1001 (mixes of r1-r5), 1002 and 1003 (see
// region_buffer), kfunc 1 (a mix).
const HelperTable& test_helpers();
void set_current_cpu(int cpu); // for this thread

// Helpers 1002 and 1003 return this thread's writable and read-only region
// (kRegionSize bytes each) and declare it to the checked mode
// (ExecContext::add_region). Runs start with reset_regions().
inline constexpr size_t kRegionSize = 128;
uint8_t* region_buffer(bool read_only);
void reset_regions();

// The program as assembly text (LLVM syntax, one function per label), which
// bpfvm::assemble turns back into the same instructions.
std::string listing(const GeneratedProgram& program, bool with_bytes = true);

// The instructions a program of `insns` ran: counts every table row present.
std::bitset<kNumOps> ops_of(const std::vector<Insn>& insns);

} // namespace bpfvm::difftest
