// The verifier's scalar domain: what Linux's verifier knows about a scalar
// register (bpf_reg_state's var_off and its eight bounds), the transfer
// function of every eBPF ALU operation, loads, and branch refinement.
// Written from the behaviour of kernel/bpf/verifier.c (reg_bounds_sync,
// adjust_scalar_min_max_vals, is_branch_taken, reg_set_min_max, ...), not its
// code; docs/verifier.md describes the domain and where it differs.
//
// A Scalar stands for the 64-bit values v that are members of var_off and lie
// within all of its bounds (unsigned and signed, of v and of its low 32 bits).
// Every operation is sound: for x in a and y in b, the concrete eBPF result
// (include/bpfvm/vm.h semantics: x / 0 = 0, x % 0 = x, shift amounts masked)
// is a member of the abstract result.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "verifier/tnum.h"

namespace bpfvm::verifier {

// ALU operations. SDiv and SMod are the ISA v4 signed forms (off = 1).
enum class AluOp : uint8_t { Add, Sub, Mul, Div, SDiv, Mod, SMod, Or, And, Xor, Lsh, Rsh, Arsh, Neg, Mov };

// Conditional jumps, `dst op src`: taken when the comparison holds.
enum class JmpOp : uint8_t { Jeq, Jne, Jgt, Jge, Jlt, Jle, Jsgt, Jsge, Jslt, Jsle, Jset };

// is_branch_taken's answer.
enum class BranchTaken : uint8_t { Never, Always, Maybe };

struct Scalar {
    Tnum var_off = Tnum::unknown();
    int64_t smin = std::numeric_limits<int64_t>::min();
    int64_t smax = std::numeric_limits<int64_t>::max();
    uint64_t umin = 0;
    uint64_t umax = std::numeric_limits<uint64_t>::max();
    int32_t s32_min = std::numeric_limits<int32_t>::min();
    int32_t s32_max = std::numeric_limits<int32_t>::max();
    uint32_t u32_min = 0;
    uint32_t u32_max = std::numeric_limits<uint32_t>::max();

    static Scalar unknown() { return Scalar{}; }
    static Scalar constant(uint64_t v);
    // Every value of [min, max], unsigned or signed.
    static Scalar urange(uint64_t min, uint64_t max);
    static Scalar srange(int64_t min, int64_t max);
    // Every member of t.
    static Scalar from_tnum(Tnum t);
    // A load of `size` bytes (1, 2, 4, 8) of unknown memory: zero-extended,
    // or sign-extended (BPF_MEMSX).
    static Scalar unknown_bytes(unsigned size);
    static Scalar unknown_signed_bytes(unsigned size);

    bool is_const() const { return var_off.is_const(); }
    uint64_t const_value() const { return var_off.value; }
    bool subreg_is_const() const { return tnum_subreg_is_const(var_off); }
    // Is the concrete value v one of the scalar's values?
    bool contains(uint64_t v) const;
    // False when the bounds contradict each other or var_off, so that the
    // scalar has no value (an infeasible branch). True does not promise a
    // value exists.
    bool is_consistent() const;

    // reg_bounds_sync: tighten each bound from the others and from var_off,
    // and var_off from the bounds.
    void sync();
    // Forget the 64-bit or the 32-bit bounds (var_off is kept).
    void mark_64_unbounded();
    void mark_32_unbounded();
    // The result of a 32-bit operation: var_off and the 64-bit bounds from
    // the low 32 bits, upper half zero.
    void zext_32_to_64();
    // coerce_reg_to_size: keep the low `size` bytes (1, 2, 4, 8), zero-extended.
    void truncate(unsigned size);
    // Sign-extend the low `size` bytes (1, 2, 4) to 64 bits.
    void sign_extend(unsigned size);

    friend bool operator==(const Scalar& a, const Scalar& b) = default;
};

// The concrete eBPF result of `dst = dst op src` (alu64 or 32-bit, whose
// result is zero-extended). Neg and Mov ignore or take src as eBPF does.
uint64_t eval_alu(AluOp op, bool alu64, uint64_t dst, uint64_t src);
// The concrete outcome of `if dst op src` (64-bit or jmp32).
bool eval_jmp(JmpOp op, bool jmp32, uint64_t dst, uint64_t src);

// `dst = dst op src` on scalars (adjust_scalar_min_max_vals). The source is a
// Scalar whether the instruction has a register or an immediate (pass
// Scalar::constant of the sign-extended imm for alu64, of the imm for alu32).
// Neg ignores src; Mov returns src (zero-extended for 32-bit).
Scalar scalar_alu(AluOp op, bool alu64, const Scalar& dst, const Scalar& src);
// MOVSX: sign-extend the low `bits` (8, 16, 32) bits of src; the 32-bit form
// (bits 8, 16) sign-extends to 32 bits and zero-extends the result.
Scalar scalar_movsx(const Scalar& src, unsigned bits, bool alu64);
// BPF_END: byte swap of the low 16/32/64 bits, zero-extended (BSWAP, and
// BE on this little-endian host), or truncation (LE).
Scalar scalar_bswap(const Scalar& dst, unsigned bits);
Scalar scalar_to_le(const Scalar& dst, unsigned bits);

// is_branch_taken for `if a op b` between two scalars.
BranchTaken scalar_branch_taken(JmpOp op, bool jmp32, const Scalar& a, const Scalar& b);
// Refine a and b (in place) to what holds on the branch's taken side
// (taken = true) or fall-through side. Returns false when that side is
// certainly infeasible (a and b are then meaningless). When a and b are the
// same register, the caller must refine one copy and use it for both.
bool scalar_refine_branch(JmpOp op, bool jmp32, bool taken, Scalar& a, Scalar& b);
// The opposite comparison: `!(a op b)` is `a negate(op) b` (Jset has none).
JmpOp negate(JmpOp op);
// The same comparison with the operands swapped: `a op b` is `b swap(op) a`.
JmpOp swap_operands(JmpOp op);

// The values of either (for merging states) and state pruning's test: is
// every value of `inner` a value of `outer` (range_within and tnum_in)?
Scalar scalar_join(const Scalar& a, const Scalar& b);
bool scalar_within(const Scalar& inner, const Scalar& outer);

// The kernel's log form: "5" for a constant, otherwise
// "scalar(smin=..,umax=..,var_off=(0x0; 0xff))" with the bounds that say
// something.
std::string to_string(const Scalar& s);

const char* to_string(AluOp op);
const char* to_string(JmpOp op);

} // namespace bpfvm::verifier
