// Assembler and disassembler for two syntaxes:
//  - LLVM/kernel: what llvm-objdump -d and the kernel's verifier log print
//    (r0 = *(u32 *)(r1 + 4), if r1 > 0x3 goto +2, call 1, w1 += w2);
//  - conformance: the bpf_conformance suite's (uBPF) syntax
//    (ldxw %r0, [%r1+4], jgt %r1, 3, +2, lock fetch add [%r10-8], %r1).
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

namespace bpfvm {

enum class Syntax { Llvm, Conformance };

// Assembles text in either syntax (chosen line by line; both may be mixed).
// Labels ("name:"), numeric jump offsets (+N, -N, pc+N), comments (#, //, ;).
// Lines copied from llvm-objdump or a verifier log ("12: (bf) r1 = r6",
// "3:\tbf 16 00 .. \tr6 = r1") are accepted as they are. Errors name the line.
Result<std::vector<Insn>> assemble(std::string_view text);

// One instruction as text, without index or label. `at` starts at the
// instruction; an lddw needs its second slot in at[1]. Jump and call targets
// are printed as relative offsets (+N, pc+N). The text reassembles to the
// same slots.
std::string disassemble_insn(std::span<const Insn> at, Syntax syntax = Syntax::Llvm);

struct ListingOptions {
    Syntax syntax = Syntax::Llvm;
    bool raw_bytes = true;  // the hex bytes of each instruction, as llvm-objdump prints them
    bool indices = true;    // the instruction index in front of each line
    uint64_t first_index = 0;
    // Symbols by instruction index: printed as "<name>:" headers and as
    // "<name>" after jumps that land on them (as llvm-objdump does).
    std::map<uint64_t, std::string> symbols;
};

// A whole program, one instruction per line. Slots that do not decode are
// printed as "<unknown>" and do not stop the listing.
std::string disassemble(std::span<const Insn> insns, const ListingOptions& options = {});

} // namespace bpfvm
