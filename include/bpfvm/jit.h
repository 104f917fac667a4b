// The x86-64 JIT: programs compiled to native code, with the interpreter's
// semantics. Code memory is never writable and executable at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bpfvm/error.h"
#include "bpfvm/program.h"
#include "bpfvm/vm.h"

namespace bpfvm {

struct JitOptions {
    // The checked mode, compiled in: loads and stores confined to the stack,
    // the context and the regions handed over, callx targets checked, the
    // instruction budget enforced. Until bpfvm has a verifier, the default.
    bool checked = true;
    // Constant blinding, as Linux's bpf_jit_harden: every immediate is
    // emitted xor-ed with a random key and unblinded in a scratch register,
    // so a program cannot plant chosen bytes in executable memory.
    bool blinding = false;
    // Code generation that goes beyond one-instruction-at-a-time translation
    // (conditional moves for short diamonds, ...). For comparisons.
    bool optimize = true;
};

// A compiled program. Immutable once compiled: run() may be called from many
// threads at once. The code memory is freed with the last copy.
class JitProgram {
public:
    // Whether this host can run JIT code (x86-64).
    static bool supported();

    static Result<JitProgram> compile(const Program& program, const HelperTable& helpers = default_helpers(),
                                      const PrepareOptions& prepare = {}, const JitOptions& options = {});

    // r1 = ctx, r2 = ctx_size; returns r0 or the error that stopped the run.
    // The mode is the one compiled in; asking for checks (options.checked)
    // from code compiled without them is an error.
    Result<uint64_t> run(void* ctx, size_t ctx_size, const RunOptions& options) const;
    // The same with the default options: the cheapest way to call a program.
    Result<uint64_t> run(void* ctx, size_t ctx_size) const;

    bool checked() const;
    const Program& program() const;
    // The native code, and where each BPF instruction's code starts in it
    // (offsets; second halves of lddw have the offset of the next instruction).
    std::span<const uint8_t> code() const;
    std::span<const uint32_t> insn_offsets() const;
    // Each BPF instruction followed by the native instructions it became.
    std::string dump() const;

    struct Impl;

private:
    std::shared_ptr<const Impl> impl_;
};

} // namespace bpfvm
