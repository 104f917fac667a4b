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
};

// Entry point of the code: uint64_t entry(uint64_t r1, uint64_t r2, JitState*).
Result<CompiledCode> compile_x86_64(const Program& program, const exec::Bindings& bindings, const JitOptions& options);

} // namespace bpfvm::jit
