// The instruction set: one table (opcodes.def) drives decoding, validation,
// the assembler, the disassembler, the interpreter and the JIT.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

namespace bpfvm {

enum class Op : uint8_t {
#define X(NAME, ...) NAME,
#include "bpfvm/opcodes.def"
#undef X
};
inline constexpr int kNumOps = 0
#define X(NAME, ...) +1
#include "bpfvm/opcodes.def"
#undef X
    ;

// RFC 9669 conformance groups, plus Linux's additions beyond the RFC.
enum class Group : uint8_t { B32, B64, A32, A64, D32, D64, PKT, LNX };
std::string_view group_name(Group g); // "base32", ..., "packet", "linux"

// How an instruction's operands are laid out (and printed).
enum class Form : uint8_t {
    AluK, AluX, Neg, MovSx, Endian,
    Ja, Gotol, JmpK, JmpX, Call, CallLocal, CallKfunc, CallX, Exit, MayGoto,
    LdImm64, LdAbs, LdInd, Ldx, LdxSx, St, Stx,
    Atomic, AtomicFetch, AtomicXchg, AtomicCmpxchg, LoadAcq, StoreRel,
};

// Constraint on one instruction field.
struct FieldRule {
    enum Kind : uint8_t { Zero, Any, Reg, WReg, Pseudo, Equal } kind;
    int32_t value = 0; // for Equal
};

struct OpInfo {
    Op op;
    const char* name;     // table name, e.g. "ADD64_IMM"
    uint8_t opcode;
    FieldRule dst, src, off, imm;
    Group group;
    Form form;
    uint8_t size;         // see opcodes.def
    const char* mnemonic; // conformance-suite syntax
    const char* symbol;   // LLVM/kernel syntax operator
};

std::span<const OpInfo> op_table();
const OpInfo& op_info(Op op);

// The row for an instruction, or nullptr when no row matches.
const OpInfo* find_op(const Insn& insn);

// Why an instruction matches no row; empty when it does match.
std::string explain_invalid(const Insn& insn);

// lddw source values (BPF_PSEUDO_*).
enum class Pseudo : uint8_t {
    Imm = 0, MapFd = 1, MapValue = 2, BtfId = 3, Func = 4, MapIdx = 5, MapIdxValue = 6,
};

// The branch target of a jump, local call or may_goto (index of the
// instruction it goes to), or nullopt when the instruction has none.
inline std::optional<int64_t> branch_target(const OpInfo& info, const Insn& insn, int64_t index) {
    switch (info.form) {
    case Form::Ja: case Form::JmpK: case Form::JmpX: case Form::MayGoto: return index + insn.off + 1;
    case Form::Gotol: case Form::CallLocal: return index + int64_t(insn.imm) + 1;
    case Form::LdImm64:
        if (insn.src == static_cast<uint8_t>(Pseudo::Func)) return index + int64_t(insn.imm) + 1;
        return std::nullopt;
    default: return std::nullopt;
    }
}

inline bool is_lddw(const Insn& insn) { return insn.opcode == (BPF_LD | BPF_IMM | BPF_DW); }

// Instruction-level check of a whole program: every slot matches a row, lddw
// has its second half, every jump and local call lands inside the program and
// not in the middle of an lddw, every subprogram ends with exit or goto and
// jumps stay inside their subprogram (Linux's check_subprogs).
struct ProgramShape {
    std::vector<const OpInfo*> ops;   // per slot; nullptr for lddw second halves
    std::vector<int64_t> subprogs;    // start index of each subprogram, [0] == 0
};
Result<ProgramShape> check_program(std::span<const Insn> insns);

} // namespace bpfvm
