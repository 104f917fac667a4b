// Tristate numbers: the bit-level half of the verifier's scalar domain, with
// the operations Linux's verifier has (kernel/bpf/tnum.c), written anew.
//
// A Tnum stands for every 64-bit value v with (v & ~mask) == value: bits set
// in `mask` are unknown, the others are known and equal to `value`'s. A
// well-formed Tnum has (value & mask) == 0. Every operation is sound: for x
// in a and y in b, op(x, y) is in tnum_op(a, b).
#pragma once

#include <cstdint>
#include <string>

namespace bpfvm::verifier {

struct Tnum {
    uint64_t value = 0;
    uint64_t mask = ~uint64_t{0};

    static constexpr Tnum constant(uint64_t v) { return Tnum{v, 0}; }
    static constexpr Tnum unknown() { return Tnum{0, ~uint64_t{0}}; }
    // The smallest tnum holding every value of [min, max] (unsigned).
    static Tnum range(uint64_t min, uint64_t max);

    constexpr bool is_const() const { return mask == 0; }
    constexpr bool is_unknown() const { return mask == ~uint64_t{0}; }
    constexpr bool equals_const(uint64_t v) const { return mask == 0 && value == v; }
    constexpr bool well_formed() const { return (value & mask) == 0; }
    // Is the concrete value v one of the tnum's values?
    constexpr bool contains(uint64_t v) const { return (v & ~mask) == value; }
    // The smallest and largest member, unsigned.
    constexpr uint64_t umin() const { return value; }
    constexpr uint64_t umax() const { return value | mask; }

    friend constexpr bool operator==(const Tnum& a, const Tnum& b) = default;
};

// Shifts by a known amount (shift < 64).
Tnum tnum_lshift(Tnum a, unsigned shift);
Tnum tnum_rshift(Tnum a, unsigned shift);
// Arithmetic right shift of the low `bitness` (32 or 64) bits; the 32-bit
// form gives a zero-extended 32-bit result.
Tnum tnum_arshift(Tnum a, unsigned shift, unsigned bitness);

Tnum tnum_add(Tnum a, Tnum b);
Tnum tnum_sub(Tnum a, Tnum b);
Tnum tnum_mul(Tnum a, Tnum b);
Tnum tnum_and(Tnum a, Tnum b);
Tnum tnum_or(Tnum a, Tnum b);
Tnum tnum_xor(Tnum a, Tnum b);
Tnum tnum_neg(Tnum a);

// The values in both (a meet). When a and b have no value in common the
// result is meaningless: check tnum_overlap first where that matters.
Tnum tnum_intersect(Tnum a, Tnum b);
// Do a and b have a value in common?
bool tnum_overlap(Tnum a, Tnum b);
// The values in either (a join, for merging states).
Tnum tnum_union(Tnum a, Tnum b);

// Truncation to the low `size` bytes (1, 2, 4 or 8), zero-extended.
Tnum tnum_cast(Tnum a, unsigned size);
// Sign extension of the low `bits` bits (8, 16, 32) to 64 bits.
Tnum tnum_sext(Tnum a, unsigned bits);
// Byte swaps of the low 16, 32 or 64 bits, zero-extended.
Tnum tnum_bswap(Tnum a, unsigned bits);

// The smallest member of a that is >= z, and the largest that is <= z
// (unsigned); false when there is none.
bool tnum_min_at_least(Tnum a, uint64_t z, uint64_t& out);
bool tnum_max_at_most(Tnum a, uint64_t z, uint64_t& out);

// Is every value a multiple of size (a power of two)?
bool tnum_is_aligned(Tnum a, uint64_t size);
// Is every value of b also a value of a? (Linux's tnum_in(a, b).)
bool tnum_in(Tnum a, Tnum b);

// The low 32 bits (zero-extended), the high 32 bits with the low ones
// cleared, and a with its low 32 bits replaced.
Tnum tnum_subreg(Tnum a);
Tnum tnum_clear_subreg(Tnum a);
Tnum tnum_with_subreg(Tnum a, Tnum subreg);
Tnum tnum_const_subreg(Tnum a, uint32_t value);
inline bool tnum_subreg_is_const(Tnum a) { return tnum_subreg(a).is_const(); }

// "(0x0; 0xff)" as the kernel's log prints var_off.
std::string to_string(Tnum a);

} // namespace bpfvm::verifier
