// The verifier: proves a program safe before it runs, as Linux's verifier
// does (kernel/bpf/verifier.c): a path-sensitive abstract interpretation of
// every path, with register types, scalar bounds, the stack's contents, NULL
// checks, packet ranges and context rules per program type. See
// docs/verifier.md for what it covers so far.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

namespace bpfvm {

// A map as the verifier sees it: what lddw src=1/2 with imm = index refers to.
struct VerifierMap {
    std::string name;
    uint32_t type = 0; // BPF_MAP_TYPE_*
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t map_flags = 0;
    int32_t spin_lock_offset = -1;
    // A read-only map whose contents are known at load time (.rodata): loads
    // at constant offsets give constants, and strings in it are constant.
    std::vector<uint8_t> frozen_value;
    // A map of maps: its inner map (one element), whose values lookups reach.
    std::vector<VerifierMap> inner;
};

struct VerifyInput {
    std::span<const Insn> insns;
    uint32_t prog_type = 0; // BPF_PROG_TYPE_*
    uint32_t expected_attach_type = 0;
    std::vector<VerifierMap> maps;
    // The C file and line of an instruction ("prog.c:42: if (x > 4)"), for
    // messages; empty when unknown.
    std::function<std::string(size_t insn)> source_line;
};

struct VerifyOptions {
    uint64_t insn_budget = 1'000'000; // BPF_COMPLEXITY_LIMIT_INSNS
    bool log = false;                 // keep the state log (bpfvm verify -v)
    // Reads of stack bytes never written give an unknown number, as Linux
    // allows privileged programs (allow_uninit_stack); false refuses them,
    // as it refuses unprivileged ones.
    bool allow_uninit_stack = true;
};

// What verification proved and what the program needs changed before it runs.
struct Verified {
    uint64_t insns_processed = 0;
    uint64_t states = 0;     // states kept for pruning
    uint64_t pruned = 0;     // paths cut because an explored state covered them
    uint32_t stack_depth = 0;        // the deepest stack use of the entry function
    std::vector<bool> reachable;     // per instruction slot
    // Context accesses to rewrite for bpfvm's run-time context
    // (progtypes::rewrite_context_access): the instruction's new form.
    std::vector<std::pair<size_t, Insn>> rewrites;
    std::string log;
};

// Verifies the program; an error names the instruction, the register or
// stack slot at fault with what the verifier knew, and the reason.
Result<Verified> verify(const VerifyInput& input, const VerifyOptions& options = {});

class ElfObject;
struct ElfProgram;
struct ElfMapSpec;
// The verifier's view of an object's map (.rodata's initial bytes are its
// frozen value, as libbpf freezes it).
VerifierMap verifier_map(const ElfMapSpec& spec);
// Verifies a program of an ELF object: its maps are the object's, messages
// name the C file and line from its BTF line info.
Result<Verified> verify(const ElfObject& object, const ElfProgram& program, const VerifyOptions& options = {});

} // namespace bpfvm
