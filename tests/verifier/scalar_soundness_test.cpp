// Soundness of the scalar domain: for random abstract values with known
// members, the concrete result of every operation must be a member of the
// abstract result; for branches, the concrete outcome must agree with
// is_branch_taken and the operands must be members of the refined side.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "scalar_gen.h"
#include "verifier/scalar.h"

namespace bpfvm::verifier {
namespace {

using testing::Sample;
using testing::sample_count;
using testing::ScalarGen;

std::string dump(const Scalar& s) {
    return fmt::format("{} [var_off={} s=[{},{}] u=[{},{}] s32=[{},{}] u32=[{},{}]]", to_string(s), to_string(s.var_off),
                       s.smin, s.smax, s.umin, s.umax, s.s32_min, s.s32_max, s.u32_min, s.u32_max);
}

std::string dump(const Sample& s) { return dump(s.abs) + " from " + s.how; }

bool is_shift(AluOp op) { return op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh; }

constexpr int kPairsPerAbstract = 16;

// ---------------------------------------------------------------------------
// The generator's own values: sync must keep every member.

TEST(ScalarSoundness, GeneratedMembersAreMembers) {
    ScalarGen gen(1);
    long checks = 0;
    for (int i = 0, n = sample_count(40000); i < n; ++i) {
        Sample s = gen.gen();
        ASSERT_TRUE(s.abs.is_consistent()) << dump(s);
        ASSERT_TRUE(s.abs.var_off.well_formed()) << dump(s);
        for (uint64_t v : s.members) {
            ASSERT_TRUE(s.abs.contains(v)) << fmt::format("{:#x} not in {}", v, dump(s));
            ++checks;
        }
        // sync is idempotent in what it allows: syncing again keeps members.
        Scalar again = s.abs;
        again.sync();
        for (uint64_t v : s.members)
            ASSERT_TRUE(again.contains(v)) << fmt::format("{:#x} lost by a second sync of {}", v, dump(s));
    }
    EXPECT_GT(checks, 0);
}

// ---------------------------------------------------------------------------
// ALU operations.

struct AluCase {
    AluOp op;
    bool alu64;
};

std::string alu_name(const ::testing::TestParamInfo<AluCase>& info) {
    return std::string(to_string(info.param.op)) + (info.param.alu64 ? "64" : "32");
}

class AluSoundness : public ::testing::TestWithParam<AluCase> {};

TEST_P(AluSoundness, ConcreteResultIsMember) {
    const AluOp op = GetParam().op;
    const bool alu64 = GetParam().alu64;
    ScalarGen gen(static_cast<uint64_t>(op) * 2 + alu64 + 100);
    long checks = 0;
    const int n = sample_count(14000);
    for (int i = 0; i < n; ++i) {
        Sample a = gen.gen();
        Sample b;
        if (is_shift(op) && gen.coin(75))
            b = gen.small(alu64 ? 64 : 32);
        else if (gen.coin(25)) {
            uint64_t c = a.members[0] + gen.below(3) - 1;
            b = Sample{Scalar::constant(c), {c}, "near"};
        }
        else
            b = gen.gen();
        Scalar r = scalar_alu(op, alu64, a.abs, b.abs);
        ASSERT_TRUE(r.var_off.well_formed()) << dump(r);
        for (int k = 0; k < kPairsPerAbstract; ++k) {
            uint64_t x = a.members[gen.below(a.members.size())];
            uint64_t y = b.members[gen.below(b.members.size())];
            uint64_t z = eval_alu(op, alu64, x, y);
            ++checks;
            if (!r.contains(z)) {
                FAIL() << fmt::format("{}{}: {:#x} op {:#x} = {:#x} not in result {}\n  dst {}\n  src {}", to_string(op),
                                      alu64 ? "64" : "32", x, y, z, dump(r), dump(a), dump(b));
            }
        }
    }
    RecordProperty("checks", std::to_string(checks));
    EXPECT_GE(checks, static_cast<long>(n) * kPairsPerAbstract);
}

std::vector<AluCase> all_alu_cases() {
    std::vector<AluCase> out;
    for (int op = 0; op < 15; ++op)
        for (bool alu64 : {true, false})
            out.push_back({static_cast<AluOp>(op), alu64});
    return out;
}

INSTANTIATE_TEST_SUITE_P(AllOps, AluSoundness, ::testing::ValuesIn(all_alu_cases()), alu_name);

// ---------------------------------------------------------------------------
// Unary operations: movsx, byte swaps, truncation, sign extension.

uint64_t sext(uint64_t v, unsigned bits) {
    unsigned up = 64 - bits;
    return static_cast<uint64_t>(static_cast<int64_t>(v << up) >> up);
}

TEST(ScalarSoundness, UnaryOps) {
    ScalarGen gen(7);
    struct Unary {
        const char* name;
        Scalar (*abs)(const Scalar&);
        uint64_t (*concrete)(uint64_t);
    };
    const Unary ops[] = {
        {"movsx8_64", [](const Scalar& s) { return scalar_movsx(s, 8, true); }, [](uint64_t v) { return sext(v, 8); }},
        {"movsx16_64", [](const Scalar& s) { return scalar_movsx(s, 16, true); }, [](uint64_t v) { return sext(v, 16); }},
        {"movsx32_64", [](const Scalar& s) { return scalar_movsx(s, 32, true); }, [](uint64_t v) { return sext(v, 32); }},
        {"movsx8_32", [](const Scalar& s) { return scalar_movsx(s, 8, false); },
         [](uint64_t v) { return sext(v, 8) & 0xffffffff; }},
        {"movsx16_32", [](const Scalar& s) { return scalar_movsx(s, 16, false); },
         [](uint64_t v) { return sext(v, 16) & 0xffffffff; }},
        {"bswap16", [](const Scalar& s) { return scalar_bswap(s, 16); },
         [](uint64_t v) { return uint64_t{__builtin_bswap16(static_cast<uint16_t>(v))}; }},
        {"bswap32", [](const Scalar& s) { return scalar_bswap(s, 32); },
         [](uint64_t v) { return uint64_t{__builtin_bswap32(static_cast<uint32_t>(v))}; }},
        {"bswap64", [](const Scalar& s) { return scalar_bswap(s, 64); }, [](uint64_t v) { return __builtin_bswap64(v); }},
        {"le16", [](const Scalar& s) { return scalar_to_le(s, 16); }, [](uint64_t v) { return v & 0xffff; }},
        {"le32", [](const Scalar& s) { return scalar_to_le(s, 32); }, [](uint64_t v) { return v & 0xffffffff; }},
        {"le64", [](const Scalar& s) { return scalar_to_le(s, 64); }, [](uint64_t v) { return v; }},
        {"truncate1", [](const Scalar& s) { Scalar r = s; r.truncate(1); return r; }, [](uint64_t v) { return v & 0xff; }},
        {"truncate2", [](const Scalar& s) { Scalar r = s; r.truncate(2); return r; }, [](uint64_t v) { return v & 0xffff; }},
        {"truncate4", [](const Scalar& s) { Scalar r = s; r.truncate(4); return r; },
         [](uint64_t v) { return v & 0xffffffff; }},
        {"sign_extend1", [](const Scalar& s) { Scalar r = s; r.sign_extend(1); return r; }, [](uint64_t v) { return sext(v, 8); }},
        {"sign_extend2", [](const Scalar& s) { Scalar r = s; r.sign_extend(2); return r; },
         [](uint64_t v) { return sext(v, 16); }},
        {"sign_extend4", [](const Scalar& s) { Scalar r = s; r.sign_extend(4); return r; },
         [](uint64_t v) { return sext(v, 32); }},
        {"neg64", [](const Scalar& s) { return scalar_alu(AluOp::Neg, true, s, Scalar::unknown()); },
         [](uint64_t v) { return 0 - v; }},
    };
    long checks = 0;
    for (const Unary& u : ops) {
        for (int i = 0, n = sample_count(8000); i < n; ++i) {
            Sample a = gen.gen();
            Scalar r = u.abs(a.abs);
            for (uint64_t x : a.members) {
                uint64_t z = u.concrete(x);
                ++checks;
                ASSERT_TRUE(r.contains(z)) << fmt::format("{}({:#x}) = {:#x} not in {}\n  of {}", u.name, x, z, dump(r),
                                                          dump(a));
            }
        }
    }
    EXPECT_GT(checks, 0);
}

// ---------------------------------------------------------------------------
// Branches.

struct JmpCase {
    JmpOp op;
    bool jmp32;
};

std::string jmp_name(const ::testing::TestParamInfo<JmpCase>& info) {
    return std::string(to_string(info.param.op)) + (info.param.jmp32 ? "32" : "64");
}

class BranchSoundness : public ::testing::TestWithParam<JmpCase> {};

TEST_P(BranchSoundness, TakenAndRefinementAgreeWithConcrete) {
    const JmpOp op = GetParam().op;
    const bool jmp32 = GetParam().jmp32;
    ScalarGen gen(static_cast<uint64_t>(op) * 2 + jmp32 + 500);
    long checks = 0;
    const int n = sample_count(12000);
    for (int i = 0; i < n; ++i) {
        Sample a = gen.gen();
        Sample b;
        if (gen.coin(40)) { // a constant near a's values: the common case and the edges
            uint64_t c = a.members[gen.below(a.members.size())] + gen.below(3) - 1;
            b = Sample{Scalar::constant(c), {c}, "const"};
        } else if (gen.coin(20)) { // overlapping: b's members taken from a's
            b = gen.gen();
            b.members.push_back(a.members[gen.below(a.members.size())]);
            b.abs = scalar_join(b.abs, Scalar::constant(b.members.back()));
        } else {
            b = gen.gen();
        }
        if (gen.coin(50))
            std::swap(a, b);
        BranchTaken bt = scalar_branch_taken(op, jmp32, a.abs, b.abs);
        Scalar at = a.abs, bt_ = b.abs, af = a.abs, bf = b.abs;
        bool feasible_t = scalar_refine_branch(op, jmp32, true, at, bt_);
        bool feasible_f = scalar_refine_branch(op, jmp32, false, af, bf);
        for (int k = 0; k < kPairsPerAbstract; ++k) {
            uint64_t x = a.members[gen.below(a.members.size())];
            uint64_t y = b.members[gen.below(b.members.size())];
            bool c = eval_jmp(op, jmp32, x, y);
            ++checks;
            auto where = [&] {
                return fmt::format("{}{} {:#x} {:#x} (concretely {})\n  a {}\n  b {}", to_string(op), jmp32 ? "32" : "",
                                   x, y, c ? "taken" : "not taken", dump(a), dump(b));
            };
            if (c) {
                ASSERT_NE(bt, BranchTaken::Never) << "is_branch_taken says never: " << where();
            } else {
                ASSERT_NE(bt, BranchTaken::Always) << "is_branch_taken says always: " << where();
            }
            if (c) {
                ASSERT_TRUE(feasible_t) << "taken side called infeasible: " << where();
                ASSERT_TRUE(at.contains(x)) << "a lost on the taken side: " << dump(at) << "\n  " << where();
                ASSERT_TRUE(bt_.contains(y)) << "b lost on the taken side: " << dump(bt_) << "\n  " << where();
            } else {
                ASSERT_TRUE(feasible_f) << "fall-through called infeasible: " << where();
                ASSERT_TRUE(af.contains(x)) << "a lost on the fall-through: " << dump(af) << "\n  " << where();
                ASSERT_TRUE(bf.contains(y)) << "b lost on the fall-through: " << dump(bf) << "\n  " << where();
            }
        }
    }
    EXPECT_GE(checks, static_cast<long>(n) * kPairsPerAbstract);
}

std::vector<JmpCase> all_jmp_cases() {
    std::vector<JmpCase> out;
    for (int op = 0; op < 11; ++op)
        for (bool jmp32 : {false, true})
            out.push_back({static_cast<JmpOp>(op), jmp32});
    return out;
}

INSTANTIATE_TEST_SUITE_P(AllOps, BranchSoundness, ::testing::ValuesIn(all_jmp_cases()), jmp_name);

// The concrete helpers negate and swap_operands describe.
TEST(ScalarSoundness, NegateAndSwapMatchConcrete) {
    ScalarGen gen(9);
    for (int i = 0; i < sample_count(20000); ++i) {
        uint64_t x = gen.interesting(), y = gen.coin() ? x + gen.below(3) - 1 : gen.interesting();
        for (int op = 0; op < 11; ++op) {
            auto j = static_cast<JmpOp>(op);
            for (bool jmp32 : {false, true}) {
                ASSERT_EQ(eval_jmp(j, jmp32, x, y), eval_jmp(swap_operands(j), jmp32, y, x)) << to_string(j);
                if (j != JmpOp::Jset) {
                    ASSERT_NE(eval_jmp(j, jmp32, x, y), eval_jmp(negate(j), jmp32, x, y)) << to_string(j);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Join and pruning.

TEST(ScalarSoundness, JoinHoldsBoth) {
    ScalarGen gen(11);
    long checks = 0;
    for (int i = 0, n = sample_count(20000); i < n; ++i) {
        Sample a = gen.gen(), b = gen.gen();
        Scalar j = scalar_join(a.abs, b.abs);
        for (uint64_t v : a.members)
            ASSERT_TRUE(j.contains(v)) << fmt::format("{:#x} of {} not in the join {}", v, dump(a), dump(j));
        for (uint64_t v : b.members)
            ASSERT_TRUE(j.contains(v)) << fmt::format("{:#x} of {} not in the join {}", v, dump(b), dump(j));
        checks += static_cast<long>(a.members.size() + b.members.size());
        EXPECT_TRUE(scalar_within(a.abs, a.abs)) << dump(a);
    }
    EXPECT_GT(checks, 0);
}

TEST(ScalarSoundness, WithinMeansEveryMemberIsInTheOuter) {
    ScalarGen gen(13);
    long within = 0;
    for (int i = 0, n = sample_count(40000); i < n; ++i) {
        Sample inner = gen.gen();
        Sample outer = gen.coin(50) ? Sample{scalar_join(inner.abs, gen.gen().abs), {}, "join"} : gen.gen();
        if (!scalar_within(inner.abs, outer.abs))
            continue;
        ++within;
        for (uint64_t v : inner.members)
            ASSERT_TRUE(outer.abs.contains(v))
                << fmt::format("{:#x} of {} not in {} though within", v, dump(inner), dump(outer.abs));
    }
    // Joins mostly contain their parts, so the property was exercised.
    EXPECT_GT(within, sample_count(40000) / 8);
}

} // namespace
} // namespace bpfvm::verifier
