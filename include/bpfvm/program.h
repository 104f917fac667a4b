// A decoded, instruction-level valid eBPF program.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"
#include "bpfvm/isa.h"

namespace bpfvm {

class Program {
public:
    // Decodes and checks the instructions (see check_program in isa.h).
    static Result<Program> from_insns(std::vector<Insn> insns, std::string name = {});
    // Raw bytecode: 8 bytes per slot, little-endian.
    static Result<Program> from_bytes(std::span<const uint8_t> bytes, std::string name = {});

    std::span<const Insn> insns() const { return insns_; }
    size_t size() const { return insns_.size(); }
    // The table row of slot i; nullptr for the second half of an lddw.
    const OpInfo* op(size_t i) const { return shape_.ops[i]; }
    // Start index of each function (subprogram); [0] is the entry.
    std::span<const int64_t> functions() const { return shape_.subprogs; }
    const std::string& name() const { return name_; }

private:
    std::vector<Insn> insns_;
    ProgramShape shape_;
    std::string name_;
};

} // namespace bpfvm
