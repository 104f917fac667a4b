// Precision of the scalar domain: results Linux's verifier gives (the log
// strings are the kernel's, as this machine's 6.18 prints them), and the
// concrete semantics checked against bpfvm's interpreter.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <bpfvm/asm.h>
#include <bpfvm/program.h>
#include <bpfvm/vm.h>

#include "scalar_gen.h"
#include "verifier/scalar.h"

namespace bpfvm::verifier {
namespace {

constexpr uint64_t kU64Max = ~uint64_t{0};

Scalar alu64(AluOp op, const Scalar& a, uint64_t imm) { return scalar_alu(op, true, a, Scalar::constant(imm)); }
Scalar alu32(AluOp op, const Scalar& a, uint32_t imm) { return scalar_alu(op, false, a, Scalar::constant(imm)); }

TEST(ScalarPrecision, Constructors) {
    Scalar c = Scalar::constant(5);
    EXPECT_TRUE(c.is_const());
    EXPECT_EQ(c.const_value(), 5u);
    EXPECT_EQ(to_string(c), "5");
    EXPECT_EQ(to_string(Scalar::constant(kU64Max)), "-1");
    EXPECT_EQ(to_string(Scalar::unknown()), "scalar()");
    Scalar b = Scalar::unknown_bytes(1);
    EXPECT_EQ(to_string(b), "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
    Scalar sb = Scalar::unknown_signed_bytes(1);
    EXPECT_EQ(sb.smin, -128);
    EXPECT_EQ(sb.smax, 127);
    EXPECT_EQ(sb.s32_min, -128);
    EXPECT_EQ(sb.s32_max, 127);
    EXPECT_EQ(to_string(sb), "scalar(smin=smin32=-128,smax=smax32=127)");
    Scalar w = Scalar::unknown_bytes(4);
    EXPECT_EQ(w.umax, 0xffffffffu);
    EXPECT_EQ(w.smin, 0);
    EXPECT_EQ(w.var_off, (Tnum{0, 0xffffffff}));
    Scalar sw = Scalar::unknown_signed_bytes(4);
    EXPECT_EQ(sw.smin, INT32_MIN);
    EXPECT_EQ(sw.smax, INT32_MAX);
    EXPECT_EQ(Scalar::unknown_bytes(8), Scalar::unknown());
}

TEST(ScalarPrecision, SyncDeducesConstantsAndBounds) {
    // A tnum of {0, 1} with umin 1 is the constant 1.
    Scalar s;
    s.var_off = Tnum{0, 1};
    s.umin = 1;
    s.sync();
    EXPECT_TRUE(s.is_const());
    EXPECT_EQ(s, Scalar::constant(1));
    // Equal unsigned bounds make the tnum constant.
    EXPECT_EQ(Scalar::urange(7, 7), Scalar::constant(7));
    // The kernel's own example: umax 0x7f..f and var_off (0; 0xf..fc) give
    // var_off (0; 0x7f..fc) and so umax 0x7f..fc.
    Scalar k;
    k.umax = 0x7fffffffffffffff;
    k.var_off = Tnum{0, 0xfffffffffffffffc};
    k.sync();
    EXPECT_EQ(k.var_off, (Tnum{0, 0x7ffffffffffffffc}));
    EXPECT_EQ(k.umax, 0x7ffffffffffffffcu);
    EXPECT_EQ(k.smin, 0);
    // Signed and unsigned learn from each other on one side of zero.
    Scalar n = Scalar::srange(-3, -1);
    EXPECT_EQ(n.umin, 0xfffffffffffffffdu);
    EXPECT_EQ(n.umax, kU64Max);
    EXPECT_EQ(n.s32_min, -3);
    EXPECT_EQ(n.s32_max, -1);
    // 32-bit bounds from 64-bit ones with the same high half.
    Scalar h = Scalar::urange(0x100000005, 0x100000010);
    EXPECT_EQ(h.u32_min, 5u);
    EXPECT_EQ(h.u32_max, 16u);
    // A signed range across zero leaves the unsigned bounds open...
    Scalar z = Scalar::srange(-5, 5);
    EXPECT_EQ(z.umin, 0u);
    EXPECT_EQ(z.umax, kU64Max);
    EXPECT_EQ(z.s32_min, -5); // ...but the low halves are one s32 range
    EXPECT_EQ(z.s32_max, 5);
    // 64-bit bounds tightened from 32-bit knowledge (the kernel's example for
    // __reg_deduce_mixed_bounds).
    Scalar m = Scalar::urange(0x100000000, 0x380000000);
    m.s32_min = 1;
    m.s32_max = 0x7fffffff;
    m.sync();
    EXPECT_EQ(m.umin, 0x100000001u);
    EXPECT_EQ(m.umax, 0x37fffffffu);
}

TEST(ScalarPrecision, Arithmetic) {
    // [0, 10] + 5 = [5, 15]
    Scalar r = alu64(AluOp::Add, Scalar::urange(0, 10), 5);
    EXPECT_EQ(r.umin, 5u);
    EXPECT_EQ(r.umax, 15u);
    EXPECT_EQ(r.smin, 5);
    EXPECT_EQ(r.smax, 15);
    EXPECT_EQ(r.u32_min, 5u);
    EXPECT_EQ(r.u32_max, 15u);
    // [0, 255] + 5, as the kernel prints it.
    EXPECT_EQ(to_string(alu64(AluOp::Add, Scalar::unknown_bytes(1), 5)),
              "scalar(smin=umin=smin32=umin32=5,smax=umax=smax32=umax32=260,var_off=(0x0; 0x1ff))");
    // Wrapping: [0, 10] - 5 is [-5, 5] signed, unknown unsigned.
    Scalar w = alu64(AluOp::Sub, Scalar::urange(0, 10), 5);
    EXPECT_EQ(w.smin, -5);
    EXPECT_EQ(w.smax, 5);
    EXPECT_EQ(w.umin, 0u);
    EXPECT_EQ(w.umax, kU64Max);
    // Both ends wrapping the same way keep a range: [MAX-1, MAX] + 2 = [0, 1].
    Scalar both = alu64(AluOp::Add, Scalar::urange(kU64Max - 1, kU64Max), 2);
    EXPECT_EQ(both.umin, 0u);
    EXPECT_EQ(both.umax, 1u);
    // [0, 10] * [0, 10] = [0, 100]
    Scalar p = scalar_alu(AluOp::Mul, true, Scalar::urange(0, 10), Scalar::urange(0, 10));
    EXPECT_EQ(p.umax, 100u);
    EXPECT_EQ(p.smin, 0);
    // Negation.
    Scalar ng = scalar_alu(AluOp::Neg, true, Scalar::urange(1, 10), Scalar::unknown());
    EXPECT_EQ(ng.smin, -10);
    EXPECT_EQ(ng.smax, -1);
    EXPECT_EQ(scalar_alu(AluOp::Neg, true, Scalar::constant(5), Scalar::unknown()), Scalar::constant(0 - uint64_t{5}));
    // Constants fold, 32-bit results zero-extended.
    EXPECT_EQ(alu64(AluOp::Mul, Scalar::constant(6), 7), Scalar::constant(42));
    EXPECT_EQ(alu32(AluOp::Add, Scalar::constant(0xffffffff), 1), Scalar::constant(0));
    EXPECT_EQ(alu32(AluOp::Sub, Scalar::constant(0x1'0000'0000), 1), Scalar::constant(0xffffffff));
}

TEST(ScalarPrecision, BitwiseAndShifts) {
    // AND with 0xff gives umax 255, whatever came before.
    Scalar a = alu64(AluOp::And, Scalar::unknown(), 0xff);
    EXPECT_EQ(a.umax, 255u);
    EXPECT_EQ(a.smin, 0);
    EXPECT_EQ(a.var_off, (Tnum{0, 0xff}));
    EXPECT_EQ(to_string(a), "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
    // OR sets bits.
    Scalar o = alu64(AluOp::Or, Scalar::unknown_bytes(1), 0x100);
    EXPECT_EQ(o.umin, 0x100u);
    EXPECT_EQ(o.umax, 0x1ffu);
    // Shifts by constants.
    Scalar l = alu64(AluOp::Lsh, Scalar::unknown_bytes(1), 4);
    EXPECT_EQ(l.umax, 0xff0u);
    EXPECT_EQ(l.var_off, (Tnum{0, 0xff0}));
    Scalar rs = alu64(AluOp::Rsh, Scalar::unknown(), 56);
    EXPECT_EQ(rs.umax, 255u);
    Scalar ar = alu64(AluOp::Arsh, Scalar::unknown(), 56);
    EXPECT_EQ(ar.smin, -128);
    EXPECT_EQ(ar.smax, 127);
    // The sign-extension idiom: <<32 then s>>32 keeps the s32 bounds.
    Scalar s32 = scalar_alu(AluOp::Mov, false, Scalar::unknown(), Scalar::srange(-5, 5));
    EXPECT_EQ(s32.umax, 0xffffffffu);
    Scalar shifted = alu64(AluOp::Lsh, s32, 32);
    EXPECT_EQ(shifted.smin, -(int64_t{5} << 32));
    EXPECT_EQ(shifted.smax, int64_t{5} << 32);
    Scalar back = alu64(AluOp::Arsh, shifted, 32);
    EXPECT_EQ(back.smin, -5);
    EXPECT_EQ(back.smax, 5);
    // A variable shift amount: 1 << [0, 3] is one of 1, 2, 4, 8.
    Scalar v = scalar_alu(AluOp::Lsh, true, Scalar::constant(1), Scalar::urange(0, 3));
    EXPECT_EQ(v.umin, 1u);
    EXPECT_EQ(v.umax, 8u);
    EXPECT_EQ(v.var_off, (Tnum{0, 0xf}));
    // A shift amount that may reach the width gives an unknown result.
    Scalar big = scalar_alu(AluOp::Lsh, true, Scalar::constant(1), Scalar::urange(0, 64));
    EXPECT_EQ(big, Scalar::unknown());
    Scalar big32 = scalar_alu(AluOp::Lsh, false, Scalar::constant(1), Scalar::urange(0, 32));
    EXPECT_EQ(big32, Scalar::unknown_bytes(4));
}

TEST(ScalarPrecision, DivisionAndModulo) {
    Scalar d = alu64(AluOp::Div, Scalar::urange(0, 100), 10);
    EXPECT_EQ(d.umin, 0u);
    EXPECT_EQ(d.umax, 10u);
    EXPECT_EQ(alu64(AluOp::Div, Scalar::unknown(), 0), Scalar::constant(0)); // x / 0 = 0
    Scalar m = alu64(AluOp::Mod, Scalar::unknown(), 8);
    EXPECT_EQ(m.umax, 7u);
    EXPECT_EQ(m.smin, 0);
    EXPECT_EQ(alu64(AluOp::Mod, Scalar::urange(3, 9), 0), Scalar::urange(3, 9)); // x % 0 = x
    EXPECT_EQ(alu64(AluOp::Mod, Scalar::urange(3, 9), 10), Scalar::urange(3, 9));
    Scalar sd = alu64(AluOp::SDiv, Scalar::srange(-100, 50), 10);
    EXPECT_EQ(sd.smin, -10);
    EXPECT_EQ(sd.smax, 5);
    Scalar sdn = alu64(AluOp::SDiv, Scalar::srange(-100, 50), 0 - uint64_t{10});
    EXPECT_EQ(sdn.smin, -5);
    EXPECT_EQ(sdn.smax, 10);
    Scalar sm = alu64(AluOp::SMod, Scalar::unknown(), 10);
    EXPECT_EQ(sm.smin, -9);
    EXPECT_EQ(sm.smax, 9);
    EXPECT_EQ(alu64(AluOp::SMod, Scalar::unknown(), kU64Max), Scalar::constant(0)); // x % -1 = 0
    // 32-bit: the divisor's low half, the result zero-extended.
    Scalar d32 = alu32(AluOp::Div, Scalar::unknown(), 16);
    EXPECT_EQ(d32.umax, 0x0fffffffu);
    // A variable divisor bounded away from zero.
    Scalar dv = scalar_alu(AluOp::Div, true, Scalar::urange(100, 200), Scalar::urange(2, 4));
    EXPECT_EQ(dv.umin, 25u);
    EXPECT_EQ(dv.umax, 100u);
}

TEST(ScalarPrecision, MovsxAndEndianness) {
    Scalar b = scalar_movsx(Scalar::unknown(), 8, true);
    EXPECT_EQ(b.smin, -128);
    EXPECT_EQ(b.smax, 127);
    EXPECT_EQ(scalar_movsx(Scalar::urange(0, 100), 8, true), Scalar::urange(0, 100));
    EXPECT_EQ(scalar_movsx(Scalar::constant(0x80), 8, true), Scalar::constant(0xffffffffffffff80));
    EXPECT_EQ(scalar_movsx(Scalar::constant(0x80), 8, false), Scalar::constant(0xffffff80));
    Scalar h = scalar_movsx(Scalar::urange(0x8000, 0x80ff), 16, true); // all negative as s16
    EXPECT_EQ(h.smin, -0x8000);
    EXPECT_EQ(h.smax, -0x7f01);
    Scalar w = scalar_movsx(Scalar::unknown(), 32, true);
    EXPECT_EQ(w.smin, INT32_MIN);
    EXPECT_EQ(w.smax, INT32_MAX);
    EXPECT_EQ(scalar_bswap(Scalar::constant(0x1234), 16), Scalar::constant(0x3412));
    Scalar sw = scalar_bswap(Scalar::unknown_bytes(1), 16);
    EXPECT_EQ(sw.var_off, (Tnum{0, 0xff00}));
    EXPECT_EQ(sw.umax, 0xff00u);
    EXPECT_EQ(scalar_to_le(Scalar::constant(0x123456789), 32), Scalar::constant(0x23456789));
    EXPECT_EQ(scalar_to_le(Scalar::unknown(), 16), Scalar::unknown_bytes(2));
    Scalar t = Scalar::urange(0x1'0000'0010, 0x1'0000'0020);
    t.truncate(1);
    EXPECT_EQ(t, Scalar::urange(0x10, 0x20));
}

TEST(ScalarPrecision, BranchTaken) {
    Scalar r = Scalar::urange(0, 10);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jgt, false, r, Scalar::constant(20)), BranchTaken::Never);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jle, false, r, Scalar::constant(10)), BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jgt, false, r, Scalar::constant(5)), BranchTaken::Maybe);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jgt, false, Scalar::urange(11, 20), Scalar::constant(10)), BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jeq, false, Scalar::constant(5), Scalar::constant(5)), BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jne, false, Scalar::constant(5), Scalar::constant(5)), BranchTaken::Never);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jeq, false, r, Scalar::constant(11)), BranchTaken::Never);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jset, false, Scalar::from_tnum(Tnum{0, 0xf0}), Scalar::constant(0x0f)),
              BranchTaken::Never);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jset, false, Scalar::from_tnum(Tnum{0x10, 0xe0}), Scalar::constant(0x10)),
              BranchTaken::Always);
    // Signed: [-5, -1] < 0 always.
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jslt, false, Scalar::srange(-5, -1), Scalar::constant(0)), BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jlt, false, Scalar::srange(-5, -1), Scalar::constant(0)), BranchTaken::Never);
    // 32-bit compares look at the low halves only.
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jeq, true, Scalar::constant(0x1'0000'0005), Scalar::constant(5)),
              BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jeq, false, Scalar::constant(0x1'0000'0005), Scalar::constant(5)),
              BranchTaken::Never);
    // Low halves that differ make 64-bit values differ.
    Scalar hi_unknown = Scalar::unknown();
    hi_unknown.var_off = tnum_const_subreg(Tnum::unknown(), 7);
    hi_unknown.sync();
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jeq, false, hi_unknown, Scalar::constant(8)), BranchTaken::Never);
    // Two ranges.
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jlt, false, Scalar::urange(0, 9), Scalar::urange(10, 20)), BranchTaken::Always);
    EXPECT_EQ(scalar_branch_taken(JmpOp::Jge, false, Scalar::urange(0, 9), Scalar::urange(10, 20)), BranchTaken::Never);
}

TEST(ScalarPrecision, BranchRefinement) {
    // if r1 > 10: the fall-through has umax 10, the taken side umin 11.
    Scalar a = Scalar::unknown(), c = Scalar::constant(10);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jgt, false, false, a, c));
    EXPECT_EQ(a.umax, 10u);
    EXPECT_EQ(a.smin, 0);
    EXPECT_EQ(a.var_off, (Tnum{0, 0xf}));
    EXPECT_EQ(to_string(a), "scalar(smin=smin32=0,smax=umax=smax32=umax32=10,var_off=(0x0; 0xf))");
    Scalar t = Scalar::unknown(), c2 = Scalar::constant(10);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jgt, false, true, t, c2));
    EXPECT_EQ(t.umin, 11u);
    EXPECT_EQ(c2, Scalar::constant(10));
    // if w1 > 10 (jmp32): only the low half is bounded.
    Scalar w = Scalar::unknown(), c3 = Scalar::constant(10);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jgt, true, false, w, c3));
    EXPECT_EQ(w.u32_max, 10u);
    EXPECT_EQ(w.umax, 0xffffffff0000000au); // the largest value with a low half <= 10
    // Equality makes a constant.
    Scalar e = Scalar::unknown(), k = Scalar::constant(42);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jeq, false, true, e, k));
    EXPECT_EQ(e, Scalar::constant(42));
    Scalar e32 = Scalar::unknown(), k32 = Scalar::constant(42);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jne, true, false, e32, k32));
    EXPECT_EQ(e32.var_off, tnum_const_subreg(Tnum::unknown(), 42));
    // Inequality moves a bound that equals the constant.
    Scalar n = Scalar::urange(0, 10), zero = Scalar::constant(0);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jne, false, true, n, zero));
    EXPECT_EQ(n.umin, 1u);
    Scalar n2 = Scalar::urange(0, 10), ten = Scalar::constant(10);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jeq, false, false, n2, ten));
    EXPECT_EQ(n2.umax, 9u);
    // Jset: not taken clears the bits, taken with one bit sets it.
    Scalar s = Scalar::unknown_bytes(1), bit = Scalar::constant(1);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jset, false, false, s, bit));
    EXPECT_EQ(s.var_off, (Tnum{0, 0xfe}));
    Scalar s2 = Scalar::unknown_bytes(1), bit4 = Scalar::constant(4);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jset, false, true, s2, bit4));
    EXPECT_EQ(s2.var_off, (Tnum{4, 0xfb}));
    EXPECT_EQ(s2.umin, 4u);
    // Two ranges: a < b refines both.
    Scalar x = Scalar::urange(0, 100), y = Scalar::urange(10, 50);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jlt, false, true, x, y));
    EXPECT_EQ(x.umax, 49u);
    EXPECT_EQ(y.umin, 10u);
    Scalar x2 = Scalar::urange(20, 100), y2 = Scalar::urange(10, 50);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jlt, false, true, x2, y2));
    EXPECT_EQ(y2.umin, 21u);
    // Signed: if r1 s< 0 then r1 is negative.
    Scalar sg = Scalar::unknown(), z = Scalar::constant(0);
    ASSERT_TRUE(scalar_refine_branch(JmpOp::Jslt, false, true, sg, z));
    EXPECT_EQ(sg.smax, -1);
    EXPECT_EQ(sg.umin, uint64_t{1} << 63);
    // Infeasible sides.
    Scalar f = Scalar::urange(0, 10), f20 = Scalar::constant(20);
    EXPECT_FALSE(scalar_refine_branch(JmpOp::Jgt, false, true, f, f20));
    Scalar g = Scalar::constant(5), g5 = Scalar::constant(5);
    EXPECT_FALSE(scalar_refine_branch(JmpOp::Jne, false, true, g, g5));
    Scalar u = Scalar::unknown(), zero2 = Scalar::constant(0);
    EXPECT_FALSE(scalar_refine_branch(JmpOp::Jlt, false, true, u, zero2)); // x < 0 unsigned
}

TEST(ScalarPrecision, JoinAndWithin) {
    Scalar j = scalar_join(Scalar::constant(1), Scalar::constant(3));
    EXPECT_EQ(j.umin, 1u);
    EXPECT_EQ(j.umax, 3u);
    EXPECT_EQ(j.var_off, (Tnum{1, 2}));
    EXPECT_FALSE(j.contains(2)); // 2 is not 1 or 3 in the tnum
    EXPECT_TRUE(scalar_within(Scalar::urange(0, 10), Scalar::urange(0, 20)));
    EXPECT_FALSE(scalar_within(Scalar::urange(0, 21), Scalar::urange(0, 20)));
    EXPECT_TRUE(scalar_within(Scalar::constant(7), Scalar::unknown()));
    EXPECT_FALSE(scalar_within(Scalar::unknown(), Scalar::constant(7)));
    EXPECT_TRUE(scalar_within(Scalar::constant(7), Scalar::urange(0, 10)));
    // The tnum counts: 2 is within [0, 3] but not within {1, 3}.
    EXPECT_FALSE(scalar_within(Scalar::constant(2), j));
    EXPECT_TRUE(scalar_within(Scalar::constant(3), j));
}

TEST(ScalarPrecision, InconsistentInputsGiveUnknown) {
    Scalar bad = Scalar::urange(0, 10);
    bad.umin = 20; // no value
    EXPECT_FALSE(bad.is_consistent());
    EXPECT_EQ(scalar_alu(AluOp::Add, true, bad, Scalar::urange(0, 5)), Scalar::unknown());
    EXPECT_EQ(scalar_alu(AluOp::Add, false, bad, Scalar::urange(0, 5)), Scalar::unknown_bytes(4));
}

// ---------------------------------------------------------------------------
// eval_alu / eval_jmp, the domain's concrete semantics, agree with bpfvm's
// interpreter (which the conformance suite checks against Linux).

Insn insn(uint8_t opcode, uint8_t dst, uint8_t src, int16_t off = 0, int32_t imm = 0) {
    Insn i;
    i.opcode = opcode;
    i.dst = dst;
    i.src = src;
    i.off = off;
    i.imm = imm;
    return i;
}

uint8_t alu_code(AluOp op) {
    switch (op) {
    case AluOp::Add: return BPF_ADD;
    case AluOp::Sub: return BPF_SUB;
    case AluOp::Mul: return BPF_MUL;
    case AluOp::Div:
    case AluOp::SDiv: return BPF_DIV;
    case AluOp::Mod:
    case AluOp::SMod: return BPF_MOD;
    case AluOp::Or: return BPF_OR;
    case AluOp::And: return BPF_AND;
    case AluOp::Xor: return BPF_XOR;
    case AluOp::Lsh: return BPF_LSH;
    case AluOp::Rsh: return BPF_RSH;
    case AluOp::Arsh: return BPF_ARSH;
    case AluOp::Neg: return BPF_NEG;
    case AluOp::Mov: return BPF_MOV;
    }
    return 0;
}

uint8_t jmp_code(JmpOp op) {
    switch (op) {
    case JmpOp::Jeq: return BPF_JEQ;
    case JmpOp::Jne: return BPF_JNE;
    case JmpOp::Jgt: return BPF_JGT;
    case JmpOp::Jge: return BPF_JGE;
    case JmpOp::Jlt: return BPF_JLT;
    case JmpOp::Jle: return BPF_JLE;
    case JmpOp::Jsgt: return BPF_JSGT;
    case JmpOp::Jsge: return BPF_JSGE;
    case JmpOp::Jslt: return BPF_JSLT;
    case JmpOp::Jsle: return BPF_JSLE;
    case JmpOp::Jset: return BPF_JSET;
    }
    return 0;
}

// r2 = ctx[0]; r3 = ctx[8]; <body>; exit with r0.
Interpreter make_vm(std::vector<Insn> body) {
    std::vector<Insn> insns = {insn(BPF_LDX | BPF_MEM | BPF_DW, 2, 1, 0), insn(BPF_LDX | BPF_MEM | BPF_DW, 3, 1, 8)};
    insns.insert(insns.end(), body.begin(), body.end());
    insns.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0));
    auto prog = Program::from_insns(insns);
    if (!prog)
        throw std::runtime_error(prog.error().message);
    auto vm = Interpreter::create(*prog);
    if (!vm)
        throw std::runtime_error(vm.error().message);
    return std::move(*vm);
}

TEST(ScalarSemantics, EvalMatchesInterpreter) {
    testing::ScalarGen gen(21);
    long checks = 0;
    for (int op = 0; op < 15; ++op) {
        auto aop = static_cast<AluOp>(op);
        for (bool alu64 : {true, false}) {
            int16_t off = (aop == AluOp::SDiv || aop == AluOp::SMod) ? 1 : 0;
            uint8_t cls = alu64 ? BPF_ALU64 : BPF_ALU;
            uint8_t source = aop == AluOp::Neg ? BPF_K : BPF_X; // neg has no source
            Interpreter vm = make_vm({insn(cls | source | alu_code(aop), 2, aop == AluOp::Neg ? 0 : 3, off),
                                      insn(BPF_ALU64 | BPF_X | BPF_MOV, 0, 2)});
            for (int i = 0; i < testing::sample_count(3000); ++i) {
                uint64_t ctx[2] = {gen.interesting(), gen.coin(20) ? gen.below(70) : gen.interesting()};
                auto r = vm.run(ctx, sizeof ctx);
                ASSERT_TRUE(r.has_value());
                ASSERT_EQ(*r, eval_alu(aop, alu64, ctx[0], ctx[1]))
                    << fmt::format("{}{} {:#x} {:#x}", to_string(aop), alu64 ? 64 : 32, ctx[0], ctx[1]);
                ++checks;
            }
        }
    }
    for (int op = 0; op < 11; ++op) {
        auto jop = static_cast<JmpOp>(op);
        for (bool jmp32 : {false, true}) {
            uint8_t cls = jmp32 ? BPF_JMP32 : BPF_JMP;
            Interpreter vm = make_vm({insn(BPF_ALU64 | BPF_K | BPF_MOV, 0, 0, 0, 1), insn(cls | BPF_X | jmp_code(jop), 2, 3, 1),
                                      insn(BPF_ALU64 | BPF_K | BPF_MOV, 0, 0, 0, 0)});
            for (int i = 0; i < testing::sample_count(3000); ++i) {
                uint64_t x = gen.interesting();
                uint64_t ctx[2] = {x, gen.coin(30) ? x + gen.below(3) - 1 : gen.interesting()};
                auto r = vm.run(ctx, sizeof ctx);
                ASSERT_TRUE(r.has_value());
                ASSERT_EQ(*r, eval_jmp(jop, jmp32, ctx[0], ctx[1]) ? 1u : 0u)
                    << fmt::format("{}{} {:#x} {:#x}", to_string(jop), jmp32 ? 32 : 64, ctx[0], ctx[1]);
                ++checks;
            }
        }
    }
    EXPECT_GT(checks, 0);
}

} // namespace
} // namespace bpfvm::verifier
