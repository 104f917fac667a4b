// Tristate numbers: known results, exhaustive soundness on small widths, and
// optimality of the operations Linux's tnums are proven optimal for.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <vector>

#include "scalar_gen.h"
#include "verifier/tnum.h"

namespace bpfvm::verifier {
namespace {

constexpr uint64_t kAll = ~uint64_t{0};

TEST(Tnum, Basics) {
    EXPECT_TRUE(Tnum::constant(5).is_const());
    EXPECT_TRUE(Tnum::constant(5).equals_const(5));
    EXPECT_FALSE(Tnum::constant(5).equals_const(6));
    EXPECT_TRUE(Tnum::unknown().is_unknown());
    EXPECT_TRUE(Tnum::unknown().contains(12345));
    EXPECT_TRUE((Tnum{0x10, 0x3}.contains(0x13)));
    EXPECT_FALSE((Tnum{0x10, 0x3}.contains(0x14)));
    EXPECT_EQ((Tnum{0x10, 0x3}.umin()), 0x10u);
    EXPECT_EQ((Tnum{0x10, 0x3}.umax()), 0x13u);
}

TEST(Tnum, Range) {
    EXPECT_EQ(Tnum::range(0, 255), (Tnum{0, 0xff}));
    EXPECT_EQ(Tnum::range(5, 5), Tnum::constant(5));
    EXPECT_EQ(Tnum::range(0x10, 0x17), (Tnum{0x10, 0x7}));
    EXPECT_EQ(Tnum::range(0x10, 0x18), (Tnum{0x10, 0xf})); // differ at bit 3: 0x10..0x1f
    EXPECT_EQ(Tnum::range(0, kAll), Tnum::unknown());
    EXPECT_EQ(Tnum::range(1, uint64_t{1} << 63), Tnum::unknown());
    EXPECT_EQ(Tnum::range(0x100000000, 0x1ffffffff), (Tnum{0x100000000, 0xffffffff}));
}

TEST(Tnum, KnownResults) {
    Tnum byte{0, 0xff};
    EXPECT_EQ(tnum_add(byte, byte), (Tnum{0, 0x1ff}));
    EXPECT_EQ(tnum_add(Tnum::constant(3), Tnum::constant(4)), Tnum::constant(7));
    EXPECT_EQ(tnum_add(Tnum{0, 1}, Tnum::constant(1)), (Tnum{0, 3})); // {1, 2}
    EXPECT_EQ(tnum_sub(Tnum::constant(10), Tnum::constant(3)), Tnum::constant(7));
    EXPECT_EQ(tnum_sub(Tnum::constant(0), Tnum::constant(1)), Tnum::constant(kAll));
    EXPECT_EQ(tnum_and(byte, Tnum::constant(0x0f)), (Tnum{0, 0x0f}));
    EXPECT_EQ(tnum_and(Tnum::unknown(), Tnum::constant(0xff)), byte);
    EXPECT_EQ(tnum_or(Tnum{0, 0x0f}, Tnum::constant(0x10)), (Tnum{0x10, 0x0f}));
    EXPECT_EQ(tnum_or(Tnum{0, 0xff}, Tnum::constant(0x0f)), (Tnum{0x0f, 0xf0}));
    EXPECT_EQ(tnum_xor(Tnum::constant(0xf0), Tnum{0, 0x0f}), (Tnum{0xf0, 0x0f}));
    EXPECT_EQ(tnum_mul(Tnum::constant(3), Tnum::constant(5)), Tnum::constant(15));
    EXPECT_EQ(tnum_mul(Tnum::constant(4), byte), (Tnum{0, 0x3fc}));
    EXPECT_EQ(tnum_lshift(byte, 8), (Tnum{0, 0xff00}));
    EXPECT_EQ(tnum_rshift(Tnum{0xf0, 0x0f}, 4), (Tnum{0xf, 0}));
    EXPECT_EQ(tnum_arshift(Tnum{uint64_t{1} << 63, 0}, 63, 64), Tnum::constant(kAll));
    EXPECT_EQ(tnum_arshift(Tnum{0, uint64_t{1} << 63}, 60, 64), (Tnum{0, 0xfffffffffffffff8}));
    EXPECT_EQ(tnum_arshift(Tnum{0x80000000, 0}, 4, 32), Tnum::constant(0xf8000000));
    EXPECT_EQ(tnum_arshift(Tnum{0xffffffff80000000, 0}, 4, 32), Tnum::constant(0xf8000000)); // 32-bit: low half only
    EXPECT_EQ(tnum_neg(Tnum::constant(1)), Tnum::constant(kAll));
}

TEST(Tnum, MeetJoinAndSubset) {
    EXPECT_EQ(tnum_intersect(Tnum{0, 0xff}, Tnum{0x10, 0xf0f}), (Tnum{0x10, 0x0f}));
    EXPECT_TRUE(tnum_overlap(Tnum{0, 0xff}, Tnum{0x10, 0xf0f}));
    EXPECT_FALSE(tnum_overlap(Tnum::constant(1), Tnum::constant(2)));
    EXPECT_TRUE(tnum_overlap(Tnum{0, 1}, Tnum::constant(1)));
    EXPECT_EQ(tnum_union(Tnum::constant(1), Tnum::constant(3)), (Tnum{1, 2}));
    EXPECT_EQ(tnum_union(Tnum::constant(0), Tnum::constant(0xff)), (Tnum{0, 0xff}));
    EXPECT_TRUE(tnum_in(Tnum{0, 0xff}, Tnum::constant(7)));
    EXPECT_TRUE(tnum_in(Tnum{0, 0xff}, Tnum{0, 0x0f}));
    EXPECT_FALSE(tnum_in(Tnum{0, 0x0f}, Tnum{0, 0xff}));
    EXPECT_FALSE(tnum_in(Tnum{0x10, 0x0f}, Tnum{0x20, 0x0f}));
    EXPECT_TRUE(tnum_in(Tnum::unknown(), Tnum::unknown()));
}

TEST(Tnum, CastsAndSubregisters) {
    Tnum t{0x1234'5678'0000'0000, 0xff};
    EXPECT_EQ(tnum_cast(t, 1), (Tnum{0, 0xff}));
    EXPECT_EQ(tnum_cast(Tnum::constant(0x123456789), 4), Tnum::constant(0x23456789));
    EXPECT_EQ(tnum_cast(t, 8), t);
    EXPECT_EQ(tnum_subreg(t), (Tnum{0, 0xff}));
    EXPECT_EQ(tnum_clear_subreg(t), (Tnum{0x1234'5678'0000'0000, 0}));
    EXPECT_EQ(tnum_const_subreg(t, 7), Tnum::constant(0x1234'5678'0000'0007));
    EXPECT_TRUE(tnum_subreg_is_const(Tnum{0, 0xff00000000}));
    EXPECT_EQ(tnum_sext(Tnum::constant(0x80), 8), Tnum::constant(0xffffffffffffff80));
    EXPECT_EQ(tnum_sext(Tnum::constant(0x7f), 8), Tnum::constant(0x7f));
    EXPECT_EQ(tnum_sext(Tnum{0, 0xff}, 8), Tnum::unknown()); // the sign bit is unknown
    EXPECT_EQ(tnum_sext(Tnum{0, 0x7f}, 8), (Tnum{0, 0x7f}));
    EXPECT_EQ(tnum_bswap(Tnum::constant(0x1234), 16), Tnum::constant(0x3412));
    EXPECT_EQ(tnum_bswap(Tnum{0xff0000, 0xff}, 32), (Tnum{0xff00, 0xff000000}));
    EXPECT_EQ(tnum_bswap(Tnum::constant(0x0102030405060708), 64), Tnum::constant(0x0807060504030201));
    EXPECT_TRUE(tnum_is_aligned(Tnum{0x10, 0x30}, 16));
    EXPECT_FALSE(tnum_is_aligned(Tnum{0x10, 0x38}, 16));
    EXPECT_TRUE(tnum_is_aligned(Tnum::constant(3), 0));
    EXPECT_EQ(to_string(Tnum{0, 0xff}), "(0x0; 0xff)");
    EXPECT_EQ(to_string(Tnum::constant(0x10)), "(0x10; 0x0)");
}

// Every tnum over the low `bits` bits (each bit 0, 1 or unknown).
std::vector<Tnum> all_tnums(unsigned bits) {
    std::vector<Tnum> out;
    unsigned n = 1;
    for (unsigned i = 0; i < bits; ++i)
        n *= 3;
    for (unsigned code = 0; code < n; ++code) {
        Tnum t{0, 0};
        unsigned c = code;
        for (unsigned i = 0; i < bits; ++i, c /= 3) {
            if (c % 3 == 1)
                t.value |= uint64_t{1} << i;
            else if (c % 3 == 2)
                t.mask |= uint64_t{1} << i;
        }
        out.push_back(t);
    }
    return out;
}

std::vector<uint64_t> members(Tnum t) {
    std::vector<uint64_t> out;
    // Enumerate the subsets of the mask (small masks only).
    uint64_t sub = 0;
    do {
        out.push_back(t.value | sub);
        sub = (sub - t.mask) & t.mask;
    } while (sub != 0);
    return out;
}

// The smallest tnum holding every value of a set.
Tnum abstraction(const std::vector<uint64_t>& values) {
    Tnum t = Tnum::constant(values[0]);
    for (uint64_t v : values)
        t = tnum_union(t, Tnum::constant(v));
    return t;
}

struct BinaryOp {
    const char* name;
    Tnum (*abs)(Tnum, Tnum);
    uint64_t (*concrete)(uint64_t, uint64_t);
    bool optimal; // proven optimal (Vishwanathan et al., CGO 2022): the smallest tnum
};

const BinaryOp kBinaryOps[] = {
    {"add", tnum_add, [](uint64_t a, uint64_t b) { return a + b; }, true},
    {"sub", tnum_sub, [](uint64_t a, uint64_t b) { return a - b; }, true},
    {"mul", tnum_mul, [](uint64_t a, uint64_t b) { return a * b; }, false},
    {"and", tnum_and, [](uint64_t a, uint64_t b) { return a & b; }, true},
    {"or", tnum_or, [](uint64_t a, uint64_t b) { return a | b; }, true},
    {"xor", tnum_xor, [](uint64_t a, uint64_t b) { return a ^ b; }, true},
};

TEST(Tnum, ExhaustiveSoundnessAndOptimalityOn4Bits) {
    std::vector<Tnum> all = all_tnums(4);
    long checks = 0;
    for (const BinaryOp& op : kBinaryOps) {
        for (Tnum a : all) {
            for (Tnum b : all) {
                Tnum r = op.abs(a, b);
                ASSERT_TRUE(r.well_formed());
                std::vector<uint64_t> results;
                for (uint64_t x : members(a))
                    for (uint64_t y : members(b)) {
                        uint64_t z = op.concrete(x, y);
                        results.push_back(z);
                        ++checks;
                        ASSERT_TRUE(r.contains(z)) << fmt::format("{} {} {} ({:#x}, {:#x}) = {:#x} not in {}", op.name,
                                                                  to_string(a), to_string(b), x, y, z, to_string(r));
                    }
                if (op.optimal) {
                    ASSERT_EQ(r, abstraction(results)) << op.name << " " << to_string(a) << " " << to_string(b);
                }
            }
        }
    }
    EXPECT_GT(checks, 300000);
}

TEST(Tnum, ExhaustiveUnaryOn5Bits) {
    for (Tnum a : all_tnums(5)) {
        std::vector<uint64_t> ms = members(a);
        for (unsigned k = 0; k < 8; ++k) {
            Tnum l = tnum_lshift(a, k), r = tnum_rshift(a, k);
            // Put the 5 bits at the top for the arithmetic shift.
            Tnum high{a.value << 59, a.mask << 59};
            Tnum ar = tnum_arshift(high, k, 64);
            for (uint64_t x : ms) {
                ASSERT_TRUE(l.contains(x << k));
                ASSERT_TRUE(r.contains(x >> k));
                ASSERT_TRUE(ar.contains(static_cast<uint64_t>(static_cast<int64_t>(x << 59) >> k)));
            }
        }
        for (Tnum b : all_tnums(5)) {
            Tnum meet = tnum_intersect(a, b), join = tnum_union(a, b);
            bool common = false;
            for (uint64_t x : ms) {
                ASSERT_TRUE(join.contains(x));
                if (b.contains(x)) {
                    common = true;
                    ASSERT_TRUE(meet.contains(x));
                }
            }
            for (uint64_t y : members(b))
                ASSERT_TRUE(join.contains(y));
            ASSERT_EQ(common, tnum_overlap(a, b));
            // tnum_in(a, b): every member of b is in a.
            bool subset = true;
            for (uint64_t y : members(b))
                subset = subset && a.contains(y);
            ASSERT_EQ(subset, tnum_in(a, b)) << to_string(a) << " " << to_string(b);
        }
    }
}

TEST(Tnum, NearestMembersExhaustiveOn5Bits) {
    for (Tnum a : all_tnums(5)) {
        std::vector<uint64_t> ms = members(a);
        for (uint64_t z = 0; z < 40; ++z) {
            bool any_ge = false, any_le = false;
            uint64_t ge = kAll, le = 0;
            for (uint64_t m : ms) {
                if (m >= z && m <= ge)
                    ge = m, any_ge = true;
                if (m <= z && m >= le)
                    le = m, any_le = true;
            }
            uint64_t out = 0;
            ASSERT_EQ(tnum_min_at_least(a, z, out), any_ge) << to_string(a) << " " << z;
            if (any_ge) {
                ASSERT_EQ(out, ge) << to_string(a) << " >= " << z;
            }
            ASSERT_EQ(tnum_max_at_most(a, z, out), any_le) << to_string(a) << " " << z;
            if (any_le) {
                ASSERT_EQ(out, le) << to_string(a) << " <= " << z;
            }
        }
    }
    uint64_t out = 0;
    ASSERT_TRUE(tnum_min_at_least(Tnum{0, 0x40000}, 12, out));
    EXPECT_EQ(out, 0x40000u);
    ASSERT_TRUE(tnum_max_at_most(Tnum{0x8000000000000000, 0x1}, kAll - 5, out));
    EXPECT_EQ(out, 0x8000000000000001u);
    EXPECT_FALSE(tnum_min_at_least(Tnum{0, 0xff}, 0x100, out));
}

TEST(Tnum, RandomSoundness64) {
    testing::ScalarGen gen(3);
    auto random_tnum = [&] {
        uint64_t mask = gen.next() & gen.next() & (((uint64_t{1} << gen.below(64)) - 1) | (gen.coin(20) ? kAll : 0));
        return Tnum{gen.interesting() & ~mask, mask};
    };
    long checks = 0;
    for (int i = 0, n = testing::sample_count(60000); i < n; ++i) {
        Tnum a = random_tnum(), b = random_tnum();
        for (const BinaryOp& op : kBinaryOps) {
            Tnum r = op.abs(a, b);
            for (int k = 0; k < 4; ++k) {
                uint64_t x = a.value | (gen.next() & a.mask), y = b.value | (gen.next() & b.mask);
                ASSERT_TRUE(r.contains(op.concrete(x, y))) << op.name;
                ++checks;
            }
        }
        uint64_t x = a.value | (gen.next() & a.mask);
        ASSERT_TRUE(Tnum::range(std::min(x, a.umax()), a.umax()).contains(x));
        for (unsigned bits : {16u, 32u, 64u})
            ASSERT_TRUE(tnum_bswap(a, bits).contains(bits == 16   ? __builtin_bswap16(static_cast<uint16_t>(x))
                                                     : bits == 32 ? __builtin_bswap32(static_cast<uint32_t>(x))
                                                                  : __builtin_bswap64(x)));
        for (unsigned bits : {8u, 16u, 32u}) {
            unsigned up = 64 - bits;
            ASSERT_TRUE(tnum_sext(a, bits).contains(static_cast<uint64_t>(static_cast<int64_t>(x << up) >> up)));
        }
    }
    EXPECT_GT(checks, 0);
}

} // namespace
} // namespace bpfvm::verifier
