// The JIT's code generator, behind an interface that does not need Xbyak.
#pragma once

#include <vector>

#include "bpfvm/jit.h"
#include "code_memory.h"
#include "jit_state.h"
#include "../vm/exec_support.h"

namespace bpfvm::jit {

struct CompiledCode {
    CodeMemory memory;             // read-execute
    std::vector<uint32_t> offsets; // per BPF slot: start of its native code
    StateUse use;
    std::vector<uint32_t> function_offsets; // per function: its native entry (callbacks)
    uint32_t callback_entry = 0;            // use.callbacks: the trampoline, see compile_x86_64
};

// Entry point of the code: uint64_t entry(uint64_t r1, uint64_t r2, JitState*).
// With use.callbacks, the code at callback_entry is
// uint64_t (r1, r2, r3, r4, r5, JitState*): it calls the function at
// JitState::cb_target with r10 = JitState::cb_rbp, as a local call would, and
// returns its r0; an error inside unwinds to it (JitState::error_kind set).
Result<CompiledCode> compile_x86_64(const Program& program, const exec::Bindings& bindings, const JitOptions& options);

} // namespace bpfvm::jit
