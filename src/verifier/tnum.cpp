// Tristate numbers (see tnum.h).
#include "verifier/tnum.h"

#include <bit>
#include <cstdio>

namespace bpfvm::verifier {

Tnum Tnum::range(uint64_t min, uint64_t max) {
    if (min > max)
        return unknown();
    // Bits below the highest bit where min and max differ take every value
    // somewhere in [min, max]; the bits above it are shared.
    uint64_t differ = min ^ max;
    unsigned bits = differ ? 64u - static_cast<unsigned>(std::countl_zero(differ)) : 0u;
    if (bits >= 64)
        return unknown();
    uint64_t low = (uint64_t{1} << bits) - 1;
    return Tnum{min & ~low, low};
}

Tnum tnum_lshift(Tnum a, unsigned shift) {
    if (shift >= 64)
        return Tnum::constant(0);
    return Tnum{a.value << shift, a.mask << shift};
}

Tnum tnum_rshift(Tnum a, unsigned shift) {
    if (shift >= 64)
        return Tnum::constant(0);
    return Tnum{a.value >> shift, a.mask >> shift};
}

Tnum tnum_arshift(Tnum a, unsigned shift, unsigned bitness) {
    if (bitness == 32) {
        if (shift > 31)
            shift = 31;
        // An unknown sign bit makes every bit shifted in unknown; a known one
        // copies itself: shifting value and mask arithmetically does both.
        auto v = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.value)) >> shift);
        auto m = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.mask)) >> shift);
        return Tnum{v, m};
    }
    if (shift > 63)
        shift = 63;
    return Tnum{static_cast<uint64_t>(static_cast<int64_t>(a.value) >> shift),
                static_cast<uint64_t>(static_cast<int64_t>(a.mask) >> shift)};
}

Tnum tnum_add(Tnum a, Tnum b) {
    uint64_t sum_mask = a.mask + b.mask;
    uint64_t sum_value = a.value + b.value;
    // Bits where the sum of the smallest members and the sum of the largest
    // differ are those a carry can reach.
    uint64_t carries = (sum_mask + sum_value) ^ sum_value;
    uint64_t unknown = carries | a.mask | b.mask;
    return Tnum{sum_value & ~unknown, unknown};
}

Tnum tnum_sub(Tnum a, Tnum b) {
    uint64_t diff = a.value - b.value;
    uint64_t high = diff + a.mask; // largest minuend, smallest subtrahend
    uint64_t low = diff - b.mask;  // smallest minuend, largest subtrahend
    uint64_t unknown = (high ^ low) | a.mask | b.mask;
    return Tnum{diff & ~unknown, unknown};
}

Tnum tnum_neg(Tnum a) { return tnum_sub(Tnum::constant(0), a); }

Tnum tnum_mul(Tnum a, Tnum b) {
    // Long multiplication over a's bits, b shifted along: a known 1 bit adds
    // b, an unknown bit adds b or nothing (the union of both partial sums).
    // This is the form Linux uses since 6.17, more precise than adding the
    // unknown bits' masks.
    Tnum acc = Tnum::constant(0);
    while (a.value || a.mask) {
        if (a.value & 1)
            acc = tnum_add(acc, b);
        else if (a.mask & 1)
            acc = tnum_union(acc, tnum_add(acc, b));
        a = tnum_rshift(a, 1);
        b = tnum_lshift(b, 1);
    }
    return acc;
}

Tnum tnum_and(Tnum a, Tnum b) {
    uint64_t may_a = a.value | a.mask;
    uint64_t may_b = b.value | b.mask;
    uint64_t value = a.value & b.value;
    return Tnum{value, may_a & may_b & ~value};
}

Tnum tnum_or(Tnum a, Tnum b) {
    uint64_t value = a.value | b.value;
    uint64_t unknown = a.mask | b.mask;
    return Tnum{value, unknown & ~value};
}

Tnum tnum_xor(Tnum a, Tnum b) {
    uint64_t unknown = a.mask | b.mask;
    return Tnum{(a.value ^ b.value) & ~unknown, unknown};
}

Tnum tnum_intersect(Tnum a, Tnum b) {
    uint64_t unknown = a.mask & b.mask;
    return Tnum{(a.value | b.value) & ~unknown, unknown};
}

bool tnum_overlap(Tnum a, Tnum b) {
    // Known in both and different: no common member.
    return ((a.value ^ b.value) & ~a.mask & ~b.mask) == 0;
}

Tnum tnum_union(Tnum a, Tnum b) {
    uint64_t unknown = a.mask | b.mask | (a.value ^ b.value);
    return Tnum{a.value & b.value & ~unknown, unknown};
}

Tnum tnum_cast(Tnum a, unsigned size) {
    if (size >= 8)
        return a;
    uint64_t keep = (uint64_t{1} << (size * 8)) - 1;
    return Tnum{a.value & keep, a.mask & keep};
}

Tnum tnum_sext(Tnum a, unsigned bits) {
    if (bits >= 64)
        return a;
    unsigned up = 64 - bits;
    return tnum_arshift(tnum_lshift(a, up), up, 64);
}

Tnum tnum_bswap(Tnum a, unsigned bits) {
    switch (bits) {
    case 16:
        return Tnum{__builtin_bswap16(static_cast<uint16_t>(a.value)), __builtin_bswap16(static_cast<uint16_t>(a.mask))};
    case 32:
        return Tnum{__builtin_bswap32(static_cast<uint32_t>(a.value)), __builtin_bswap32(static_cast<uint32_t>(a.mask))};
    default:
        return Tnum{__builtin_bswap64(a.value), __builtin_bswap64(a.mask)};
    }
}

bool tnum_min_at_least(Tnum a, uint64_t z, uint64_t& out) {
    if (z <= a.value) {
        out = a.value; // the smallest member
        return true;
    }
    if (z > a.umax())
        return false;
    // From the top, z's bits agree with a's until the first known bit of a
    // that differs.
    for (int i = 63; i >= 0; --i) {
        uint64_t bit = uint64_t{1} << i;
        if ((a.mask & bit) || ((z ^ a.value) & bit) == 0)
            continue;
        uint64_t above = i == 63 ? 0 : z & ~((bit << 1) - 1);
        if (a.value & bit) {
            // a has 1 where z has 0: z's prefix, this bit, the least below.
            out = above | bit | (a.value & (bit - 1));
            return true;
        }
        // a has 0 where z has 1: an unknown bit above, 0 in z, must become 1
        // (the lowest such), with the least below it.
        for (int j = i + 1; j < 64; ++j) {
            uint64_t bj = uint64_t{1} << j;
            if ((a.mask & bj) && !(z & bj)) {
                uint64_t above_j = j == 63 ? 0 : z & ~((bj << 1) - 1);
                out = above_j | bj | (a.value & (bj - 1));
                return true;
            }
        }
        return false;
    }
    out = z; // z is a member
    return true;
}

bool tnum_max_at_most(Tnum a, uint64_t z, uint64_t& out) {
    // Complemented, the largest member <= z is the smallest >= ~z.
    uint64_t r = 0;
    if (!tnum_min_at_least(Tnum{~a.value & ~a.mask, a.mask}, ~z, r))
        return false;
    out = ~r;
    return true;
}

bool tnum_is_aligned(Tnum a, uint64_t size) {
    if (size == 0)
        return true;
    return ((a.value | a.mask) & (size - 1)) == 0;
}

bool tnum_in(Tnum a, Tnum b) {
    if (b.mask & ~a.mask)
        return false; // b has an unknown bit that a knows
    return a.value == (b.value & ~a.mask);
}

Tnum tnum_subreg(Tnum a) { return tnum_cast(a, 4); }

Tnum tnum_clear_subreg(Tnum a) {
    constexpr uint64_t high = ~uint64_t{0xffffffff};
    return Tnum{a.value & high, a.mask & high};
}

Tnum tnum_with_subreg(Tnum a, Tnum subreg) { return tnum_or(tnum_clear_subreg(a), tnum_subreg(subreg)); }

Tnum tnum_const_subreg(Tnum a, uint32_t value) { return tnum_with_subreg(a, Tnum::constant(value)); }

std::string to_string(Tnum a) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "(0x%llx; 0x%llx)", static_cast<unsigned long long>(a.value),
                  static_cast<unsigned long long>(a.mask));
    return buf;
}

} // namespace bpfvm::verifier
