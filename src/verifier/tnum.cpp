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
    // Long multiplication: a known 1 bit of a adds b's unknown bits shifted,
    // an unknown bit adds everything b might have there. The known product
    // of the values is added last.
    uint64_t known_product = a.value * b.value;
    Tnum partial = Tnum::constant(0);
    while (a.value || a.mask) {
        if (a.value & 1)
            partial = tnum_add(partial, Tnum{0, b.mask});
        else if (a.mask & 1)
            partial = tnum_add(partial, Tnum{0, b.value | b.mask});
        a = tnum_rshift(a, 1);
        b = tnum_lshift(b, 1);
    }
    return tnum_add(Tnum::constant(known_product), partial);
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
