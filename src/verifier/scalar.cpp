// The verifier's scalar domain (see scalar.h).
#include "verifier/scalar.h"

#include <algorithm>
#include <cstdio>

namespace bpfvm::verifier {

namespace {

using i128 = __int128;
using u128 = unsigned __int128;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int64_t kS64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kS64Max = std::numeric_limits<int64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int32_t kS32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kS32Max = std::numeric_limits<int32_t>::max();

// ---------------------------------------------------------------------------
// The bounds of one width (64 bits, or the low 32 bits), held in 64-bit
// variables, so that each operation's bound arithmetic is written once.
struct View {
    unsigned bits = 64;
    int64_t smin = kS64Min, smax = kS64Max;
    uint64_t umin = 0, umax = kU64Max;
};

uint64_t umax_of(unsigned bits) { return bits == 64 ? kU64Max : uint64_t{kU32Max}; }
int64_t smin_of(unsigned bits) { return bits == 64 ? kS64Min : int64_t{kS32Min}; }
int64_t smax_of(unsigned bits) { return bits == 64 ? kS64Max : int64_t{kS32Max}; }

View unbounded(unsigned bits) { return View{bits, smin_of(bits), smax_of(bits), 0, umax_of(bits)}; }

View view_of(const Scalar& s, unsigned bits) {
    if (bits == 64)
        return View{64, s.smin, s.smax, s.umin, s.umax};
    return View{32, s.s32_min, s.s32_max, s.u32_min, s.u32_max};
}

void put_view(Scalar& s, const View& v) {
    if (v.bits == 64) {
        s.smin = v.smin;
        s.smax = v.smax;
        s.umin = v.umin;
        s.umax = v.umax;
    } else {
        s.s32_min = static_cast<int32_t>(v.smin);
        s.s32_max = static_cast<int32_t>(v.smax);
        s.u32_min = static_cast<uint32_t>(v.umin);
        s.u32_max = static_cast<uint32_t>(v.umax);
    }
}

Tnum tnum_of(const Scalar& s, unsigned bits) { return bits == 64 ? s.var_off : tnum_subreg(s.var_off); }

// The value v (of `bits` bits) as a signed number.
int64_t as_signed(uint64_t v, unsigned bits) {
    return bits == 64 ? static_cast<int64_t>(v) : int64_t{static_cast<int32_t>(static_cast<uint32_t>(v))};
}

// The exact results of an operation lie in [lo, hi]. Wrapped to `bits` bits
// they lie in [lo mod 2^bits, hi mod 2^bits] when lo and hi wrap the same
// number of times; otherwise nothing is known.
bool wrap_unsigned(i128 lo, i128 hi, unsigned bits, uint64_t& min, uint64_t& max) {
    if ((lo >> bits) != (hi >> bits))
        return false;
    i128 mask = (i128{1} << bits) - 1;
    min = static_cast<uint64_t>(lo & mask);
    max = static_cast<uint64_t>(hi & mask);
    return true;
}

bool wrap_signed(i128 lo, i128 hi, unsigned bits, int64_t& min, int64_t& max) {
    i128 half = i128{1} << (bits - 1);
    uint64_t umin = 0, umax = 0;
    if (!wrap_unsigned(lo + half, hi + half, bits, umin, umax))
        return false;
    min = static_cast<int64_t>(static_cast<i128>(umin) - half);
    max = static_cast<int64_t>(static_cast<i128>(umax) - half);
    return true;
}

void set_unsigned(View& r, i128 lo, i128 hi) {
    if (!wrap_unsigned(lo, hi, r.bits, r.umin, r.umax)) {
        r.umin = 0;
        r.umax = umax_of(r.bits);
    }
}

void set_signed(View& r, i128 lo, i128 hi) {
    if (!wrap_signed(lo, hi, r.bits, r.smin, r.smax)) {
        r.smin = smin_of(r.bits);
        r.smax = smax_of(r.bits);
    }
}

// When every value is non-negative in the width, the signed and unsigned
// bounds are the same.
void signed_from_unsigned(View& r) {
    if (r.umax <= static_cast<uint64_t>(smax_of(r.bits))) {
        r.smin = static_cast<int64_t>(r.umin);
        r.smax = static_cast<int64_t>(r.umax);
    }
}

View view_add(const View& a, const View& b) {
    View r = unbounded(a.bits);
    set_unsigned(r, i128{a.umin} + b.umin, i128{a.umax} + b.umax);
    set_signed(r, i128{a.smin} + b.smin, i128{a.smax} + b.smax);
    return r;
}

View view_sub(const View& a, const View& b) {
    View r = unbounded(a.bits);
    set_unsigned(r, i128{a.umin} - b.umax, i128{a.umax} - b.umin);
    set_signed(r, i128{a.smin} - b.smax, i128{a.smax} - b.smin);
    return r;
}

View view_mul(const View& a, const View& b) {
    View r = unbounded(a.bits);
    // Every product lies in [umin * umin, umax * umax]: wrapped, still a
    // range when both ends wrap the same number of times.
    u128 lo = u128{a.umin} * b.umin, hi = u128{a.umax} * b.umax;
    if ((lo >> a.bits) == (hi >> a.bits)) {
        r.umin = static_cast<uint64_t>(lo & umax_of(a.bits));
        r.umax = static_cast<uint64_t>(hi & umax_of(a.bits));
    }
    i128 p[4] = {i128{a.smin} * b.smin, i128{a.smin} * b.smax, i128{a.smax} * b.smin, i128{a.smax} * b.smax};
    set_signed(r, *std::min_element(p, p + 4), *std::max_element(p, p + 4));
    return r;
}

// and, or, xor: `t` is the result's tnum in the width.
View view_and(const View& a, const View& b, Tnum t) {
    View r = unbounded(a.bits);
    r.umin = t.value;
    r.umax = std::min(a.umax, b.umax);
    if (a.smin >= 0 && b.smin >= 0) {
        signed_from_unsigned(r);
    } else if (a.smin >= 0) {
        r.smin = 0;
        r.smax = a.smax;
    } else if (b.smin >= 0) {
        r.smin = 0;
        r.smax = b.smax;
    }
    return r;
}

View view_or(const View& a, const View& b, Tnum t) {
    View r = unbounded(a.bits);
    r.umin = std::max(a.umin, b.umin);
    r.umax = t.umax();
    if (a.smin >= 0 && b.smin >= 0)
        signed_from_unsigned(r);
    return r;
}

View view_xor(const View& a, const View& b, Tnum t) {
    View r = unbounded(a.bits);
    r.umin = t.value;
    r.umax = t.umax();
    if (a.smin >= 0 && b.smin >= 0)
        signed_from_unsigned(r);
    return r;
}

// Shifts by an amount in [kmin, kmax], kmax < bits.
View view_lsh(const View& a, unsigned kmin, unsigned kmax) {
    View r = unbounded(a.bits);
    if (a.umax <= (umax_of(a.bits) >> kmax)) {
        r.umin = a.umin << kmin;
        r.umax = a.umax << kmax;
    }
    if (kmin == kmax) {
        i128 lo = i128{a.smin} * (i128{1} << kmin);
        i128 hi = i128{a.smax} * (i128{1} << kmin);
        if (lo >= smin_of(a.bits) && hi <= smax_of(a.bits)) {
            r.smin = static_cast<int64_t>(lo);
            r.smax = static_cast<int64_t>(hi);
        }
    }
    return r;
}

View view_rsh(const View& a, unsigned kmin, unsigned kmax) {
    View r = unbounded(a.bits);
    r.umin = a.umin >> kmax;
    r.umax = a.umax >> kmin;
    if (kmin >= 1 || a.smin >= 0)
        signed_from_unsigned(r);
    return r;
}

View view_arsh(const View& a, unsigned kmin, unsigned kmax) {
    View r = unbounded(a.bits);
    r.smin = std::min(a.smin >> kmin, a.smin >> kmax);
    r.smax = std::max(a.smax >> kmin, a.smax >> kmax);
    if (r.smin >= 0) {
        r.umin = static_cast<uint64_t>(r.smin);
        r.umax = static_cast<uint64_t>(r.smax);
    }
    return r;
}

View view_neg(const View& a) {
    View zero{a.bits, 0, 0, 0, 0};
    return view_sub(zero, a);
}

bool is_const(const View& v) { return v.umin == v.umax; }

View view_div(const View& a, const View& b) {
    View r = unbounded(a.bits);
    if (b.umax == 0) { // x / 0 = 0
        r = View{a.bits, 0, 0, 0, 0};
    } else if (b.umin > 0) {
        r.umin = a.umin / b.umax;
        r.umax = a.umax / b.umin;
    } else {
        r.umin = 0;
        r.umax = a.umax;
    }
    signed_from_unsigned(r);
    return r;
}

View view_mod(const View& a, const View& b) {
    if (b.umax == 0 || a.umax < b.umin) // x % 0 = x, and x % y = x for x < y
        return a;
    View r = unbounded(a.bits);
    r.umin = 0;
    r.umax = b.umin > 0 ? std::min(a.umax, b.umax - 1) : a.umax;
    signed_from_unsigned(r);
    return r;
}

View view_sdiv(const View& a, const View& b) {
    View r = unbounded(a.bits);
    if (is_const(b)) {
        int64_t c = as_signed(b.umin, b.bits);
        if (c == 0)
            return View{a.bits, 0, 0, 0, 0};
        if (c == -1)
            return view_neg(a); // and INT_MIN / -1 = INT_MIN, as negation wraps
        if (c > 0) {
            r.smin = a.smin / c;
            r.smax = a.smax / c;
        } else {
            r.smin = a.smax / c;
            r.smax = a.smin / c;
        }
        if (r.smin >= 0) {
            r.umin = static_cast<uint64_t>(r.smin);
            r.umax = static_cast<uint64_t>(r.smax);
        }
        return r;
    }
    // |x / y| <= |x| (x / 0 = 0, INT_MIN / -1 = INT_MIN).
    uint64_t mag = std::max(a.smin < 0 ? 0 - static_cast<uint64_t>(a.smin) : static_cast<uint64_t>(a.smin),
                            a.smax < 0 ? 0 - static_cast<uint64_t>(a.smax) : static_cast<uint64_t>(a.smax));
    if (mag <= static_cast<uint64_t>(smax_of(a.bits))) {
        r.smin = -static_cast<int64_t>(mag);
        r.smax = static_cast<int64_t>(mag);
    }
    return r;
}

View view_smod(const View& a, const View& b) {
    // The remainder has the dividend's sign and |x % y| <= |x|; x % 0 = x,
    // x % -1 = 0.
    int64_t lo = std::min<int64_t>(a.smin, 0);
    int64_t hi = std::max<int64_t>(a.smax, 0);
    bool limit = false;
    uint64_t m = 0; // |y| - 1 for every possible divisor y
    if (is_const(b)) {
        int64_t c = as_signed(b.umin, b.bits);
        if (c == 0)
            return a;
        if (c == -1)
            return View{a.bits, 0, 0, 0, 0};
        m = c > 0 ? static_cast<uint64_t>(c - 1) : static_cast<uint64_t>(~c);
        limit = true;
        if (a.smin >= -static_cast<int64_t>(m) && a.smax <= static_cast<int64_t>(m))
            return a; // |x| < |c|: x % c = x
    } else if (b.smin > 0) {
        m = static_cast<uint64_t>(b.smax - 1);
        limit = true;
    } else if (b.smax < 0) {
        m = static_cast<uint64_t>(~b.smin);
        limit = true;
    }
    if (limit) {
        lo = std::max(lo, -static_cast<int64_t>(m));
        hi = std::min(hi, static_cast<int64_t>(m));
    }
    View r = unbounded(a.bits);
    r.smin = lo;
    r.smax = hi;
    if (lo >= 0) {
        r.umin = static_cast<uint64_t>(lo);
        r.umax = static_cast<uint64_t>(hi);
    }
    return r;
}

// The tnum of x << k, x >> k or x s>> k for every k in [kmin, kmax] that src
// may hold (`bits`-wide tnums, zero-extended).
Tnum tnum_shift_union(AluOp op, Tnum a, Tnum shift, unsigned kmin, unsigned kmax, unsigned bits) {
    bool any = false;
    Tnum out = Tnum::constant(0);
    for (unsigned k = kmin; k <= kmax; ++k) {
        if (!shift.contains(k))
            continue;
        Tnum t;
        if (op == AluOp::Lsh)
            t = tnum_cast(tnum_lshift(a, k), bits / 8);
        else if (op == AluOp::Rsh)
            t = tnum_rshift(a, k);
        else
            t = tnum_arshift(a, k, bits);
        out = any ? tnum_union(out, t) : t;
        any = true;
    }
    return any ? out : Tnum::unknown();
}

// ---------------------------------------------------------------------------
// Deduction of bounds from each other (reg_bounds_sync's pieces).


// The tnum bounds the values: unsigned by its smallest and largest member,
// signed by the same with the sign bit chosen for each.
void bounds_from_tnum(Scalar& s) {
    Tnum t = s.var_off;
    auto sign64 = uint64_t{1} << 63;
    s.smin = std::max(s.smin, static_cast<int64_t>(t.value | (t.mask & sign64)));
    s.smax = std::min(s.smax, static_cast<int64_t>(t.value | (t.mask & ~sign64)));
    s.umin = std::max(s.umin, t.value);
    s.umax = std::min(s.umax, t.value | t.mask);

    Tnum t32 = tnum_subreg(t);
    uint32_t v = static_cast<uint32_t>(t32.value), m = static_cast<uint32_t>(t32.mask);
    uint32_t sign32 = uint32_t{1} << 31;
    s.s32_min = std::max(s.s32_min, static_cast<int32_t>(v | (m & sign32)));
    s.s32_max = std::min(s.s32_max, static_cast<int32_t>(v | (m & ~sign32)));
    s.u32_min = std::max(s.u32_min, v);
    s.u32_max = std::min(s.u32_max, v | m);

    // Each bound moves to the nearest member of the tnum (a range of
    // [12, 0x40000] over the tnum {0, 0x40000} is the constant 0x40000).
    // Signed order is unsigned order with the sign bit flipped. No member
    // in the bounds leaves them crossed: no value.
    auto tighten = [](Tnum tn, uint64_t flip, uint64_t& lo, uint64_t& hi) {
        Tnum f{tn.value ^ (flip & ~tn.mask), tn.mask};
        uint64_t l = lo ^ flip, h = hi ^ flip;
        if (l > h)
            return;
        if (!tnum_min_at_least(f, l, l) || !tnum_max_at_most(f, h, h) || l > h) {
            lo = ~uint64_t{0} ^ flip;
            hi = 0 ^ flip;
            return;
        }
        lo = l ^ flip;
        hi = h ^ flip;
    };
    uint64_t lo = s.umin, hi = s.umax;
    tighten(t, 0, lo, hi);
    s.umin = lo;
    s.umax = hi;
    lo = static_cast<uint64_t>(s.smin);
    hi = static_cast<uint64_t>(s.smax);
    tighten(t, sign64, lo, hi);
    s.smin = static_cast<int64_t>(lo);
    s.smax = static_cast<int64_t>(hi);
    lo = s.u32_min;
    hi = s.u32_max;
    tighten(t32, 0, lo, hi);
    s.u32_min = static_cast<uint32_t>(lo);
    s.u32_max = static_cast<uint32_t>(hi);
    lo = static_cast<uint32_t>(s.s32_min);
    hi = static_cast<uint32_t>(s.s32_max);
    tighten(t32, sign32, lo, hi);
    s.s32_min = static_cast<int32_t>(static_cast<uint32_t>(lo));
    s.s32_max = static_cast<int32_t>(static_cast<uint32_t>(hi));
}

// Signed and unsigned bounds of one width inform each other.
template <typename U, typename S> void deduce_sign(U& umin, U& umax, S& smin, S& smax) {
    // An unsigned range that does not cross the signed boundary is a signed range.
    if (static_cast<S>(umin) <= static_cast<S>(umax)) {
        smin = std::max(smin, static_cast<S>(umin));
        smax = std::min(smax, static_cast<S>(umax));
    }
    // A signed range on one side of zero is an unsigned range.
    if (static_cast<U>(smin) <= static_cast<U>(smax)) {
        umin = std::max(umin, static_cast<U>(smin));
        umax = std::min(umax, static_cast<U>(smax));
    } else if (smin <= smax) {
        // The signed range crosses zero: as unsigned it is [0, smax] and
        // [smin, max]. The unsigned bounds may fall in only one of them.
        if (umax < static_cast<U>(smin)) {
            // All non-negative.
            umax = std::min(umax, static_cast<U>(smax));
            smin = std::max(smin, S{0});
            if (umax <= static_cast<U>(std::numeric_limits<S>::max()))
                smin = std::max(smin, static_cast<S>(umin));
        } else if (umin > static_cast<U>(smax)) {
            // All negative.
            umin = std::max(umin, static_cast<U>(smin));
            smax = std::min(smax, S{-1});
            if (umin > static_cast<U>(std::numeric_limits<S>::max()))
                smax = std::min(smax, static_cast<S>(umax));
        }
    }
}

// The 64-bit bounds tell about the low 32 bits when the high halves of the
// bounds are equal (or consecutive, with the low halves crossing the s32
// sign boundary).
void deduce_32_from_64(Scalar& s) {
    if ((s.umin >> 32) == (s.umax >> 32)) {
        auto lo = static_cast<uint32_t>(s.umin), hi = static_cast<uint32_t>(s.umax);
        s.u32_min = std::max(s.u32_min, lo);
        s.u32_max = std::min(s.u32_max, hi);
        if (static_cast<int32_t>(lo) <= static_cast<int32_t>(hi)) {
            s.s32_min = std::max(s.s32_min, static_cast<int32_t>(lo));
            s.s32_max = std::min(s.s32_max, static_cast<int32_t>(hi));
        }
    }
    if ((s.smin >> 32) == (s.smax >> 32)) {
        auto lo = static_cast<uint32_t>(s.smin), hi = static_cast<uint32_t>(s.smax);
        if (lo <= hi) {
            s.u32_min = std::max(s.u32_min, lo);
            s.u32_max = std::min(s.u32_max, hi);
        }
        if (static_cast<int32_t>(lo) <= static_cast<int32_t>(hi)) {
            s.s32_min = std::max(s.s32_min, static_cast<int32_t>(lo));
            s.s32_max = std::min(s.s32_max, static_cast<int32_t>(hi));
        }
    }
    // High halves h and h + 1, the range running from a low half with its
    // s32 sign bit set, over the wrap, to one without: the low halves are one
    // s32 range.
    auto consecutive = [&](uint64_t lo, uint64_t hi) {
        if (static_cast<uint32_t>(lo >> 32) + 1 == static_cast<uint32_t>(hi >> 32) &&
            static_cast<int32_t>(lo) < 0 && static_cast<int32_t>(hi) >= 0) {
            s.s32_min = std::max(s.s32_min, static_cast<int32_t>(lo));
            s.s32_max = std::min(s.s32_max, static_cast<int32_t>(hi));
        }
    };
    if (s.umin <= s.umax)
        consecutive(s.umin, s.umax);
    if (s.smin <= s.smax)
        consecutive(static_cast<uint64_t>(s.smin), static_cast<uint64_t>(s.smax));
}

// The 32-bit bounds tell about the 64-bit ones: the low half of the 64-bit
// minimum is at least u32_min when the high half stays, and so on.
void deduce_64_from_32(Scalar& s) {
    constexpr uint64_t high = ~uint64_t{0xffffffff};
    auto tighten = [&](uint32_t lo32, uint32_t hi32) {
        s.umin = std::max(s.umin, (s.umin & high) | lo32);
        s.umax = std::min(s.umax, (s.umax & high) | hi32);
        s.smin = std::max(s.smin, static_cast<int64_t>((static_cast<uint64_t>(s.smin) & high) | lo32));
        s.smax = std::min(s.smax, static_cast<int64_t>((static_cast<uint64_t>(s.smax) & high) | hi32));
    };
    tighten(s.u32_min, s.u32_max);
    if (static_cast<uint32_t>(s.s32_min) <= static_cast<uint32_t>(s.s32_max))
        tighten(static_cast<uint32_t>(s.s32_min), static_cast<uint32_t>(s.s32_max));
}

void deduce_bounds(Scalar& s) {
    deduce_32_from_64(s);
    deduce_sign(s.u32_min, s.u32_max, s.s32_min, s.s32_max);
    deduce_sign(s.umin, s.umax, s.smin, s.smax);
    deduce_64_from_32(s);
}

// var_off learns the bits the unsigned bounds fix.
void tnum_from_bounds(Scalar& s) {
    Tnum t64 = tnum_intersect(s.var_off, Tnum::range(s.umin, s.umax));
    Tnum t32 = tnum_intersect(tnum_subreg(t64), Tnum::range(s.u32_min, s.u32_max));
    s.var_off = tnum_with_subreg(t64, t32);
}

bool view_consistent(const View& v) { return v.umin <= v.umax && v.smin <= v.smax; }

} // namespace

// ---------------------------------------------------------------------------

Scalar Scalar::constant(uint64_t v) {
    Scalar s;
    s.var_off = Tnum::constant(v);
    s.umin = s.umax = v;
    s.smin = s.smax = static_cast<int64_t>(v);
    s.u32_min = s.u32_max = static_cast<uint32_t>(v);
    s.s32_min = s.s32_max = static_cast<int32_t>(static_cast<uint32_t>(v));
    return s;
}

Scalar Scalar::urange(uint64_t min, uint64_t max) {
    Scalar s;
    s.umin = min;
    s.umax = max;
    s.sync();
    return s;
}

Scalar Scalar::srange(int64_t min, int64_t max) {
    Scalar s;
    s.smin = min;
    s.smax = max;
    s.sync();
    return s;
}

Scalar Scalar::from_tnum(Tnum t) {
    Scalar s;
    s.var_off = t;
    s.sync();
    return s;
}

Scalar Scalar::unknown_bytes(unsigned size) {
    if (size >= 8)
        return unknown();
    return from_tnum(Tnum{0, (uint64_t{1} << (size * 8)) - 1});
}

Scalar Scalar::unknown_signed_bytes(unsigned size) {
    Scalar s = unknown();
    s.sign_extend(size);
    return s;
}

bool Scalar::contains(uint64_t v) const {
    auto sv = static_cast<int64_t>(v);
    auto v32 = static_cast<uint32_t>(v);
    auto sv32 = static_cast<int32_t>(v32);
    return var_off.contains(v) && umin <= v && v <= umax && smin <= sv && sv <= smax && u32_min <= v32 &&
           v32 <= u32_max && s32_min <= sv32 && sv32 <= s32_max;
}

bool Scalar::is_consistent() const {
    return var_off.well_formed() && umin <= umax && smin <= smax && u32_min <= u32_max && s32_min <= s32_max &&
           var_off.umin() <= umax && var_off.umax() >= umin && static_cast<uint32_t>(var_off.value) <= u32_max &&
           static_cast<uint32_t>(var_off.umax()) >= u32_min;
}

void Scalar::sync() {
    bounds_from_tnum(*this);
    deduce_bounds(*this);
    deduce_bounds(*this);
    tnum_from_bounds(*this);
    bounds_from_tnum(*this);
    deduce_bounds(*this);
}

void Scalar::mark_64_unbounded() {
    smin = kS64Min;
    smax = kS64Max;
    umin = 0;
    umax = kU64Max;
}

void Scalar::mark_32_unbounded() {
    s32_min = kS32Min;
    s32_max = kS32Max;
    u32_min = 0;
    u32_max = kU32Max;
}

void Scalar::zext_32_to_64() {
    var_off = tnum_subreg(var_off);
    // Zero-extended, the 64-bit value is the unsigned 32-bit one.
    umin = u32_min;
    umax = u32_max;
    smin = static_cast<int64_t>(u32_min);
    smax = static_cast<int64_t>(u32_max);
}

void Scalar::truncate(unsigned size) {
    if (size >= 8)
        return;
    if (size == 4) {
        zext_32_to_64();
        sync();
        return;
    }
    unsigned bits = size * 8;
    uint64_t keep = (uint64_t{1} << bits) - 1;
    uint64_t lo = 0, hi = keep;
    if ((u32_min >> bits) == (u32_max >> bits)) {
        lo = u32_min & keep;
        hi = u32_max & keep;
    }
    Tnum t = tnum_cast(var_off, size);
    *this = Scalar{};
    var_off = t;
    umin = lo;
    umax = hi;
    sync();
}

void Scalar::sign_extend(unsigned size) {
    if (size >= 8)
        return;
    unsigned bits = size * 8;
    int64_t half = int64_t{1} << (bits - 1);
    Tnum t = tnum_sext(var_off, bits);
    // Already a sign-extended `bits`-bit value: unchanged.
    if (smin >= -half && smax < half) {
        var_off = tnum_intersect(var_off, t);
        sync();
        return;
    }
    int64_t lo = -half, hi = half - 1;
    if (bits == 32) {
        lo = s32_min;
        hi = s32_max;
    } else if ((u32_min >> bits) == (u32_max >> bits)) {
        uint64_t keep = (uint64_t{1} << bits) - 1;
        uint64_t ulo = u32_min & keep, uhi = u32_max & keep;
        auto sext = [&](uint64_t v) { return static_cast<int64_t>(v << (64 - bits)) >> (64 - bits); };
        if (sext(ulo) <= sext(uhi)) { // the range does not cross the sign boundary
            lo = sext(ulo);
            hi = sext(uhi);
        }
    } else if (s32_min >= -half && s32_max < half) {
        lo = s32_min;
        hi = s32_max;
    }
    Scalar r;
    r.var_off = t;
    r.smin = lo;
    r.smax = hi;
    // The low 32 bits: sign-extended from 8 or 16 bits they are the same
    // signed number; extended from 32 they are unchanged.
    r.s32_min = static_cast<int32_t>(lo);
    r.s32_max = static_cast<int32_t>(hi);
    if (bits == 32) {
        r.u32_min = u32_min;
        r.u32_max = u32_max;
    }
    *this = r;
    sync();
}

// ---------------------------------------------------------------------------

uint64_t eval_alu(AluOp op, bool alu64, uint64_t dst, uint64_t src) {
    if (alu64) {
        auto sd = static_cast<int64_t>(dst), ss = static_cast<int64_t>(src);
        switch (op) {
        case AluOp::Add: return dst + src;
        case AluOp::Sub: return dst - src;
        case AluOp::Mul: return dst * src;
        case AluOp::Div: return src ? dst / src : 0;
        case AluOp::Mod: return src ? dst % src : dst;
        case AluOp::SDiv: return ss == 0 ? 0 : ss == -1 ? 0 - dst : static_cast<uint64_t>(sd / ss);
        case AluOp::SMod: return ss == 0 ? dst : ss == -1 ? 0 : static_cast<uint64_t>(sd % ss);
        case AluOp::Or: return dst | src;
        case AluOp::And: return dst & src;
        case AluOp::Xor: return dst ^ src;
        case AluOp::Lsh: return dst << (src & 63);
        case AluOp::Rsh: return dst >> (src & 63);
        case AluOp::Arsh: return static_cast<uint64_t>(sd >> (src & 63));
        case AluOp::Neg: return 0 - dst;
        case AluOp::Mov: return src;
        }
        return 0;
    }
    auto d = static_cast<uint32_t>(dst), s = static_cast<uint32_t>(src);
    auto sd = static_cast<int32_t>(d), ss = static_cast<int32_t>(s);
    uint32_t r = 0;
    switch (op) {
    case AluOp::Add: r = d + s; break;
    case AluOp::Sub: r = d - s; break;
    case AluOp::Mul: r = d * s; break;
    case AluOp::Div: r = s ? d / s : 0; break;
    case AluOp::Mod: r = s ? d % s : d; break;
    case AluOp::SDiv: r = ss == 0 ? 0 : ss == -1 ? 0 - d : static_cast<uint32_t>(sd / ss); break;
    case AluOp::SMod: r = ss == 0 ? d : ss == -1 ? 0 : static_cast<uint32_t>(sd % ss); break;
    case AluOp::Or: r = d | s; break;
    case AluOp::And: r = d & s; break;
    case AluOp::Xor: r = d ^ s; break;
    case AluOp::Lsh: r = d << (s & 31); break;
    case AluOp::Rsh: r = d >> (s & 31); break;
    case AluOp::Arsh: r = static_cast<uint32_t>(sd >> (s & 31)); break;
    case AluOp::Neg: r = 0 - d; break;
    case AluOp::Mov: r = s; break;
    }
    return r;
}

bool eval_jmp(JmpOp op, bool jmp32, uint64_t dst, uint64_t src) {
    if (jmp32) {
        dst = static_cast<uint32_t>(dst);
        src = static_cast<uint32_t>(src);
    }
    int64_t sd = jmp32 ? int64_t{static_cast<int32_t>(dst)} : static_cast<int64_t>(dst);
    int64_t ss = jmp32 ? int64_t{static_cast<int32_t>(src)} : static_cast<int64_t>(src);
    switch (op) {
    case JmpOp::Jeq: return dst == src;
    case JmpOp::Jne: return dst != src;
    case JmpOp::Jgt: return dst > src;
    case JmpOp::Jge: return dst >= src;
    case JmpOp::Jlt: return dst < src;
    case JmpOp::Jle: return dst <= src;
    case JmpOp::Jsgt: return sd > ss;
    case JmpOp::Jsge: return sd >= ss;
    case JmpOp::Jslt: return sd < ss;
    case JmpOp::Jsle: return sd <= ss;
    case JmpOp::Jset: return (dst & src) != 0;
    }
    return false;
}

namespace {

// An operation whose low 32 result bits depend only on the operands' low 32
// bits, so the 32-bit bounds of an alu64 result can be computed too.
bool low_bits_closed(AluOp op) {
    switch (op) {
    case AluOp::Add:
    case AluOp::Sub:
    case AluOp::Mul:
    case AluOp::And:
    case AluOp::Or:
    case AluOp::Xor:
    case AluOp::Neg:
        return true;
    default:
        return false;
    }
}

// The result's bounds in one width, `t` being the result's tnum in it.
View view_alu(AluOp op, const View& a, const View& b, Tnum t) {
    unsigned bits = a.bits;
    switch (op) {
    case AluOp::Add: return view_add(a, b);
    case AluOp::Sub: return view_sub(a, b);
    case AluOp::Mul: return view_mul(a, b);
    case AluOp::And: return view_and(a, b, t);
    case AluOp::Or: return view_or(a, b, t);
    case AluOp::Xor: return view_xor(a, b, t);
    case AluOp::Neg: return view_neg(a);
    case AluOp::Div: return view_div(a, b);
    case AluOp::Mod: return view_mod(a, b);
    case AluOp::SDiv: return view_sdiv(a, b);
    case AluOp::SMod: return view_smod(a, b);
    case AluOp::Lsh:
    case AluOp::Rsh:
    case AluOp::Arsh: {
        if (b.umax >= bits)
            return unbounded(bits); // the amount is masked: anything may come out
        auto kmin = static_cast<unsigned>(b.umin), kmax = static_cast<unsigned>(b.umax);
        if (op == AluOp::Lsh)
            return view_lsh(a, kmin, kmax);
        if (op == AluOp::Rsh)
            return view_rsh(a, kmin, kmax);
        return view_arsh(a, kmin, kmax);
    }
    case AluOp::Mov: return b;
    }
    return unbounded(bits);
}

// The result's tnum in one width (zero-extended for 32 bits).
Tnum tnum_alu(AluOp op, Tnum a, Tnum b, const View& bv, unsigned bits) {
    Tnum t = Tnum::unknown();
    switch (op) {
    case AluOp::Add: t = tnum_add(a, b); break;
    case AluOp::Sub: t = tnum_sub(a, b); break;
    case AluOp::Mul: t = tnum_mul(a, b); break;
    case AluOp::And: t = tnum_and(a, b); break;
    case AluOp::Or: t = tnum_or(a, b); break;
    case AluOp::Xor: t = tnum_xor(a, b); break;
    case AluOp::Neg: t = tnum_neg(a); break;
    case AluOp::Mov: t = b; break;
    case AluOp::Lsh:
    case AluOp::Rsh:
    case AluOp::Arsh:
        if (bv.umax < bits)
            t = tnum_shift_union(op, a, b, static_cast<unsigned>(bv.umin), static_cast<unsigned>(bv.umax), bits);
        break;
    case AluOp::Div:
    case AluOp::SDiv:
        break; // from the bounds
    case AluOp::Mod:
    case AluOp::SMod:
        if (bv.umax == 0)
            t = a; // x % 0 = x
        break;
    }
    return bits == 32 ? tnum_subreg(t) : t;
}

} // namespace

Scalar scalar_alu(AluOp op, bool alu64, const Scalar& dst, const Scalar& src) {
    if (op == AluOp::Mov) {
        Scalar r = src;
        if (!alu64)
            r.truncate(4);
        return r;
    }
    // Constants fold exactly.
    bool src_const = alu64 ? src.is_const() : src.subreg_is_const();
    bool dst_const = alu64 ? dst.is_const() : dst.subreg_is_const();
    if (dst_const && (src_const || op == AluOp::Neg))
        return Scalar::constant(eval_alu(op, alu64, dst.var_off.value, src.var_off.value));
    // Bounds that contradict each other stand for no value: the result is
    // unknown rather than built from them (as Linux does).
    if (!dst.is_consistent() || !src.is_consistent()) {
        Scalar r = Scalar::unknown();
        if (!alu64)
            r.truncate(4);
        return r;
    }

    Scalar r = Scalar::unknown();
    if (alu64) {
        View b64 = view_of(src, 64);
        r.var_off = tnum_alu(op, dst.var_off, src.var_off, b64, 64);
        put_view(r, view_alu(op, view_of(dst, 64), b64, r.var_off));
        if (low_bits_closed(op)) {
            View b32 = view_of(src, 32);
            Tnum t32 = tnum_subreg(r.var_off);
            put_view(r, view_alu(op, view_of(dst, 32), b32, t32));
        }
        if (op == AluOp::Lsh && src.is_const() && src.const_value() == 32) {
            // x << 32 is the low half as a signed number times 2^32 (the
            // first half of the sign-extension idiom <<32 s>>32).
            r.smin = std::max(r.smin, int64_t{dst.s32_min} * (int64_t{1} << 32));
            r.smax = std::min(r.smax, int64_t{dst.s32_max} * (int64_t{1} << 32));
        } else if (op == AluOp::Lsh && src.umax < 32) {
            // Shifted by less than 32, the low half comes from the low half.
            View b{32, static_cast<int64_t>(src.umin), static_cast<int64_t>(src.umax), src.umin, src.umax};
            put_view(r, view_alu(op, view_of(dst, 32), b, tnum_subreg(r.var_off)));
        }
    } else {
        View b32 = view_of(src, 32);
        Tnum t32 = tnum_alu(op, tnum_subreg(dst.var_off), tnum_subreg(src.var_off), b32, 32);
        r.var_off = t32;
        put_view(r, view_alu(op, view_of(dst, 32), b32, t32));
        r.zext_32_to_64();
    }
    r.sync();
    return r;
}

Scalar scalar_movsx(const Scalar& src, unsigned bits, bool alu64) {
    Scalar r = src;
    if (r.is_const()) {
        int64_t v = static_cast<int64_t>(r.var_off.value << (64 - bits)) >> (64 - bits);
        r = Scalar::constant(static_cast<uint64_t>(v));
    } else {
        r.sign_extend(bits / 8);
    }
    if (!alu64)
        r.truncate(4);
    return r;
}

Scalar scalar_bswap(const Scalar& dst, unsigned bits) { return Scalar::from_tnum(tnum_bswap(dst.var_off, bits)); }

Scalar scalar_to_le(const Scalar& dst, unsigned bits) {
    Scalar r = dst;
    r.truncate(bits / 8);
    return r;
}

// ---------------------------------------------------------------------------
// Branches.

JmpOp negate(JmpOp op) {
    switch (op) {
    case JmpOp::Jeq: return JmpOp::Jne;
    case JmpOp::Jne: return JmpOp::Jeq;
    case JmpOp::Jgt: return JmpOp::Jle;
    case JmpOp::Jle: return JmpOp::Jgt;
    case JmpOp::Jge: return JmpOp::Jlt;
    case JmpOp::Jlt: return JmpOp::Jge;
    case JmpOp::Jsgt: return JmpOp::Jsle;
    case JmpOp::Jsle: return JmpOp::Jsgt;
    case JmpOp::Jsge: return JmpOp::Jslt;
    case JmpOp::Jslt: return JmpOp::Jsge;
    case JmpOp::Jset: return JmpOp::Jset;
    }
    return op;
}

JmpOp swap_operands(JmpOp op) {
    switch (op) {
    case JmpOp::Jgt: return JmpOp::Jlt;
    case JmpOp::Jlt: return JmpOp::Jgt;
    case JmpOp::Jge: return JmpOp::Jle;
    case JmpOp::Jle: return JmpOp::Jge;
    case JmpOp::Jsgt: return JmpOp::Jslt;
    case JmpOp::Jslt: return JmpOp::Jsgt;
    case JmpOp::Jsge: return JmpOp::Jsle;
    case JmpOp::Jsle: return JmpOp::Jsge;
    default: return op;
    }
}

namespace {

BranchTaken taken_if(bool always, bool never) {
    if (always)
        return BranchTaken::Always;
    if (never)
        return BranchTaken::Never;
    return BranchTaken::Maybe;
}

bool disjoint(const View& a, const View& b, Tnum ta, Tnum tb) {
    return a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin || !tnum_overlap(ta, tb);
}

BranchTaken view_branch_taken(JmpOp op, const View& a, const View& b, Tnum ta, Tnum tb) {
    switch (op) {
    case JmpOp::Jeq:
        return taken_if(ta.is_const() && tb.is_const() && ta.value == tb.value, disjoint(a, b, ta, tb));
    case JmpOp::Jne:
        return taken_if(disjoint(a, b, ta, tb), ta.is_const() && tb.is_const() && ta.value == tb.value);
    case JmpOp::Jgt: return taken_if(a.umin > b.umax, a.umax <= b.umin);
    case JmpOp::Jge: return taken_if(a.umin >= b.umax, a.umax < b.umin);
    case JmpOp::Jlt: return taken_if(a.umax < b.umin, a.umin >= b.umax);
    case JmpOp::Jle: return taken_if(a.umax <= b.umin, a.umin > b.umax);
    case JmpOp::Jsgt: return taken_if(a.smin > b.smax, a.smax <= b.smin);
    case JmpOp::Jsge: return taken_if(a.smin >= b.smax, a.smax < b.smin);
    case JmpOp::Jslt: return taken_if(a.smax < b.smin, a.smin >= b.smax);
    case JmpOp::Jsle: return taken_if(a.smax <= b.smin, a.smin > b.smax);
    case JmpOp::Jset: return taken_if((ta.value & tb.value) != 0, (ta.umax() & tb.umax()) == 0);
    }
    return BranchTaken::Maybe;
}

} // namespace

BranchTaken scalar_branch_taken(JmpOp op, bool jmp32, const Scalar& a, const Scalar& b) {
    unsigned bits = jmp32 ? 32 : 64;
    BranchTaken t = view_branch_taken(op, view_of(a, bits), view_of(b, bits), tnum_of(a, bits), tnum_of(b, bits));
    if (t == BranchTaken::Maybe && !jmp32 && (op == JmpOp::Jeq || op == JmpOp::Jne) &&
        disjoint(view_of(a, 32), view_of(b, 32), tnum_subreg(a.var_off), tnum_subreg(b.var_off))) {
        // The low halves differ, so the values do.
        t = op == JmpOp::Jeq ? BranchTaken::Never : BranchTaken::Always;
    }
    return t;
}

namespace {

// Refinements of one width's bounds; false when certainly infeasible.
bool refine_unsigned_le(View& a, View& b, bool strict) {
    // a <= b (a < b when strict)
    if (strict) {
        if (b.umax == 0 || a.umin == umax_of(a.bits))
            return false;
        a.umax = std::min(a.umax, b.umax - 1);
        b.umin = std::max(b.umin, a.umin + 1);
    } else {
        a.umax = std::min(a.umax, b.umax);
        b.umin = std::max(b.umin, a.umin);
    }
    return view_consistent(a) && view_consistent(b);
}

bool refine_signed_le(View& a, View& b, bool strict) {
    if (strict) {
        if (b.smax == smin_of(b.bits) || a.smin == smax_of(a.bits))
            return false;
        a.smax = std::min(a.smax, b.smax - 1);
        b.smin = std::max(b.smin, a.smin + 1);
    } else {
        a.smax = std::min(a.smax, b.smax);
        b.smin = std::max(b.smin, a.smin);
    }
    return view_consistent(a) && view_consistent(b);
}

// a != c for the constant c: a bound equal to c moves past it.
bool refine_not_equal(View& a, Tnum& ta, uint64_t c) {
    if (ta.is_const() && ta.value == c)
        return false;
    // A bound at the domain's edge equal to c leaves no value: infeasible.
    int64_t sc = as_signed(c, a.bits);
    if (a.umin == c) {
        if (c == umax_of(a.bits))
            return false;
        a.umin++;
    }
    if (a.umax == c) {
        if (c == 0)
            return false;
        a.umax--;
    }
    if (a.smin == sc) {
        if (sc == smax_of(a.bits))
            return false;
        a.smin++;
    }
    if (a.smax == sc) {
        if (sc == smin_of(a.bits))
            return false;
        a.smax--;
    }
    return view_consistent(a);
}

bool refine_view(JmpOp op, View& a, View& b, Tnum& ta, Tnum& tb) {
    switch (op) {
    case JmpOp::Jeq: {
        if (!tnum_overlap(ta, tb))
            return false;
        ta = tb = tnum_intersect(ta, tb);
        a.umin = b.umin = std::max(a.umin, b.umin);
        a.umax = b.umax = std::min(a.umax, b.umax);
        a.smin = b.smin = std::max(a.smin, b.smin);
        a.smax = b.smax = std::min(a.smax, b.smax);
        return view_consistent(a);
    }
    case JmpOp::Jne:
        if (tb.is_const() && !refine_not_equal(a, ta, tb.value))
            return false;
        if (ta.is_const() && !refine_not_equal(b, tb, ta.value))
            return false;
        return true;
    case JmpOp::Jle: return refine_unsigned_le(a, b, false);
    case JmpOp::Jlt: return refine_unsigned_le(a, b, true);
    case JmpOp::Jge: return refine_unsigned_le(b, a, false);
    case JmpOp::Jgt: return refine_unsigned_le(b, a, true);
    case JmpOp::Jsle: return refine_signed_le(a, b, false);
    case JmpOp::Jslt: return refine_signed_le(a, b, true);
    case JmpOp::Jsge: return refine_signed_le(b, a, false);
    case JmpOp::Jsgt: return refine_signed_le(b, a, true);
    case JmpOp::Jset: {
        // Taken: a & b != 0. A single-bit constant on one side sets that bit
        // on the other.
        if ((ta.umax() & tb.umax()) == 0)
            return false;
        auto single_bit = [](Tnum t) { return t.is_const() && t.value && !(t.value & (t.value - 1)); };
        if (single_bit(tb))
            ta = tnum_or(ta, tb);
        else if (single_bit(ta))
            tb = tnum_or(ta, tb);
        return true;
    }
    }
    return true;
}

// Not taken for Jset: a & b == 0, so a bit known set on one side is clear on
// the other.
bool refine_view_not_set(Tnum& ta, Tnum& tb) {
    if (ta.value & tb.value)
        return false;
    Tnum na = tnum_and(ta, Tnum::constant(~tb.value));
    Tnum nb = tnum_and(tb, Tnum::constant(~ta.value));
    ta = na;
    tb = nb;
    return true;
}

} // namespace

bool scalar_refine_branch(JmpOp op, bool jmp32, bool taken, Scalar& a, Scalar& b) {
    unsigned bits = jmp32 ? 32 : 64;
    View va = view_of(a, bits), vb = view_of(b, bits);
    Tnum ta = tnum_of(a, bits), tb = tnum_of(b, bits);
    bool feasible;
    if (op == JmpOp::Jset && !taken)
        feasible = refine_view_not_set(ta, tb);
    else
        feasible = refine_view(taken ? op : negate(op), va, vb, ta, tb);
    if (!feasible)
        return false;
    put_view(a, va);
    put_view(b, vb);
    if (jmp32) {
        a.var_off = tnum_with_subreg(a.var_off, ta);
        b.var_off = tnum_with_subreg(b.var_off, tb);
    } else {
        a.var_off = ta;
        b.var_off = tb;
        if ((taken ? op : negate(op)) == JmpOp::Jeq) {
            // Equal 64-bit values have equal low halves.
            View a32 = view_of(a, 32), b32 = view_of(b, 32);
            Tnum t32a = tnum_subreg(ta), t32b = tnum_subreg(tb);
            if (!refine_view(JmpOp::Jeq, a32, b32, t32a, t32b))
                return false;
            put_view(a, a32);
            put_view(b, b32);
        }
    }
    a.sync();
    b.sync();
    return a.is_consistent() && b.is_consistent();
}

// ---------------------------------------------------------------------------

Scalar scalar_join(const Scalar& a, const Scalar& b) {
    Scalar r;
    r.var_off = tnum_union(a.var_off, b.var_off);
    r.smin = std::min(a.smin, b.smin);
    r.smax = std::max(a.smax, b.smax);
    r.umin = std::min(a.umin, b.umin);
    r.umax = std::max(a.umax, b.umax);
    r.s32_min = std::min(a.s32_min, b.s32_min);
    r.s32_max = std::max(a.s32_max, b.s32_max);
    r.u32_min = std::min(a.u32_min, b.u32_min);
    r.u32_max = std::max(a.u32_max, b.u32_max);
    r.sync();
    return r;
}

bool scalar_within(const Scalar& inner, const Scalar& outer) {
    return outer.umin <= inner.umin && inner.umax <= outer.umax && outer.smin <= inner.smin &&
           inner.smax <= outer.smax && outer.u32_min <= inner.u32_min && inner.u32_max <= outer.u32_max &&
           outer.s32_min <= inner.s32_min && inner.s32_max <= outer.s32_max && tnum_in(outer.var_off, inner.var_off);
}

// ---------------------------------------------------------------------------

namespace {

// Numbers as the kernel's log prints them: decimal when small, hex otherwise.
std::string log_unsigned(uint64_t v) {
    char buf[24];
    if (v <= 512)
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    else
        std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string log_signed(int64_t v) {
    if (v < 0 && v >= -512)
        return std::to_string(v);
    if (v < 0) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
        return buf;
    }
    return log_unsigned(static_cast<uint64_t>(v));
}

} // namespace

std::string to_string(const Scalar& s) {
    if (s.is_const())
        return log_signed(static_cast<int64_t>(s.var_off.value));
    // The kernel's print_scalar_ranges: the bounds that say something, in
    // this order, a later min (max) with the same value and sign joining an
    // earlier one as "smax=umax=255".
    struct Field {
        const char* name;
        uint64_t value;
        bool omit;
    } fields[] = {
        {"smin", static_cast<uint64_t>(s.smin), s.smin == kS64Min},
        {"smax", static_cast<uint64_t>(s.smax), s.smax == kS64Max},
        {"umin", s.umin, s.umin == 0},
        {"umax", s.umax, s.umax == kU64Max},
        {"smin32", static_cast<uint64_t>(int64_t{s.s32_min}), s.s32_min == kS32Min},
        {"smax32", static_cast<uint64_t>(int64_t{s.s32_max}), s.s32_max == kS32Max},
        {"umin32", s.u32_min, s.u32_min == 0},
        {"umax32", s.u32_max, s.u32_max == kU32Max},
    };
    constexpr size_t n = sizeof fields / sizeof fields[0];
    auto negative = [](const Field& f) { return f.name[0] == 's' && static_cast<int64_t>(f.value) < 0; };
    std::string out = "scalar(";
    const char* sep = "";
    for (size_t i = 0; i < n; ++i) {
        if (fields[i].omit)
            continue;
        out += sep;
        sep = ",";
        out += fields[i].name;
        out += '=';
        for (size_t j = i + 2; j < n; j += 2) {
            if (fields[j].omit || fields[j].value != fields[i].value || negative(fields[j]) != negative(fields[i]))
                continue;
            fields[j].omit = true;
            out += fields[j].name;
            out += '=';
        }
        out += fields[i].name[0] == 's' ? log_signed(static_cast<int64_t>(fields[i].value)) : log_unsigned(fields[i].value);
    }
    if (!s.var_off.is_unknown()) {
        out += sep;
        out += "var_off=";
        out += to_string(s.var_off);
    }
    out += ')';
    return out;
}

const char* to_string(AluOp op) {
    switch (op) {
    case AluOp::Add: return "add";
    case AluOp::Sub: return "sub";
    case AluOp::Mul: return "mul";
    case AluOp::Div: return "div";
    case AluOp::SDiv: return "sdiv";
    case AluOp::Mod: return "mod";
    case AluOp::SMod: return "smod";
    case AluOp::Or: return "or";
    case AluOp::And: return "and";
    case AluOp::Xor: return "xor";
    case AluOp::Lsh: return "lsh";
    case AluOp::Rsh: return "rsh";
    case AluOp::Arsh: return "arsh";
    case AluOp::Neg: return "neg";
    case AluOp::Mov: return "mov";
    }
    return "?";
}

const char* to_string(JmpOp op) {
    switch (op) {
    case JmpOp::Jeq: return "jeq";
    case JmpOp::Jne: return "jne";
    case JmpOp::Jgt: return "jgt";
    case JmpOp::Jge: return "jge";
    case JmpOp::Jlt: return "jlt";
    case JmpOp::Jle: return "jle";
    case JmpOp::Jsgt: return "jsgt";
    case JmpOp::Jsge: return "jsge";
    case JmpOp::Jslt: return "jslt";
    case JmpOp::Jsle: return "jsle";
    case JmpOp::Jset: return "jset";
    }
    return "?";
}

} // namespace bpfvm::verifier
