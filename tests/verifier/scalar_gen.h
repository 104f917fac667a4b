// Random abstract scalars with known concrete members, for the soundness
// tests: each abstract value is built from a concrete set (a constant, a hull
// of values, a range, a tnum, a load, the result of an operation, a branch
// refinement), and its members are drawn from that set, so they are members
// of the abstract value whenever the domain is sound.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "verifier/scalar.h"

namespace bpfvm::verifier::testing {

struct Sample {
    Scalar abs;
    std::vector<uint64_t> members; // each one a value of abs
    std::string how;               // how it was made, for failure messages
};

// Number of samples for a test: `normal`, divided under sanitizers, times
// VERIFIER_SAMPLE_SCALE from the environment (a soak may raise it).
inline int sample_count(int normal) {
#ifdef BPFVM_VERIFIER_SAMPLE_DIVISOR
    normal /= BPFVM_VERIFIER_SAMPLE_DIVISOR;
#endif
    if (const char* scale = std::getenv("VERIFIER_SAMPLE_SCALE")) {
        double f = std::atof(scale);
        if (f > 0)
            normal = static_cast<int>(normal * f);
    }
    return normal < 1 ? 1 : normal;
}

class ScalarGen {
public:
    // VERIFIER_SEED in the environment varies every test's seed (a soak).
    explicit ScalarGen(uint64_t seed) : rng_(seed ^ env_seed()) {}

    static uint64_t env_seed() {
        const char* s = std::getenv("VERIFIER_SEED");
        return s ? std::strtoull(s, nullptr, 0) * 0x9e3779b97f4a7c15ull : 0;
    }

    uint64_t next() { return rng_(); }
    uint64_t below(uint64_t n) { return n ? rng_() % n : 0; }
    bool coin(unsigned percent = 50) { return below(100) < percent; }

    // A value a program would likely meet, or near an edge of a domain.
    uint64_t interesting() {
        uint64_t k = below(5);
        switch (below(12)) {
        case 0: return below(20);
        case 1: return 0 - below(20); // small negative
        case 2: return (uint64_t{1} << 63) + k;
        case 3: return (uint64_t{1} << 63) - 1 - k;
        case 4: return (uint64_t{1} << 32) + k - 2;
        case 5: return (uint64_t{1} << 31) + k - 2;
        case 6: return uint64_t{0xffffffff} - k;
        case 7: return (uint64_t{1} << below(64)) + k - 2;
        case 8: return next() & ((uint64_t{1} << below(64)) - 1); // few bits
        case 9: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(next())));
        case 10: return (next() & ~uint64_t{0xffffffff}) | below(16);
        default: return next();
        }
    }

    // A span: mostly small, sometimes large.
    uint64_t span() {
        switch (below(5)) {
        case 0: return below(4);
        case 1: return below(300);
        case 2: return below(uint64_t{1} << 20);
        case 3: return next() >> below(64);
        default: return (uint64_t{1} << below(64)) - 1;
        }
    }

    // A random member of [lo, hi].
    uint64_t in_range(uint64_t lo, uint64_t hi) {
        uint64_t width = hi - lo;
        if (width == ~uint64_t{0})
            return next();
        switch (below(4)) {
        case 0: return lo;
        case 1: return hi;
        default: return lo + below(width + 1);
        }
    }

    Sample gen(int depth = 0) {
        for (;;) {
            Sample s = try_gen(depth);
            if (!s.members.empty())
                return s;
        }
    }

    // A shift amount (or another small number): a small range or constant.
    Sample small(unsigned limit) {
        uint64_t a = below(limit), b = below(limit);
        if (a > b)
            std::swap(a, b);
        if (coin(40))
            b = a;
        Sample s{Scalar::urange(a, b), {}, "urange(" + std::to_string(a) + "," + std::to_string(b) + ")"};
        for (int i = 0; i < 6; ++i)
            s.members.push_back(in_range(a, b));
        return s;
    }

private:
    void add_members(Sample& s, auto&& draw, int n = 8) {
        for (int i = 0; i < n; ++i)
            s.members.push_back(draw());
    }

    Sample try_gen(int depth) {
        Sample s;
        unsigned kinds = depth < 2 ? 11 : 8;
        switch (below(kinds)) {
        case 0: {
            uint64_t v = interesting();
            s = {Scalar::constant(v), {v}, "const"};
            break;
        }
        case 1: { // the hull of a few values near one another
            uint64_t centre = interesting();
            uint64_t spread = span();
            s.how = "hull";
            s.abs = Scalar::constant(centre);
            s.members.push_back(centre);
            for (uint64_t i = 0, n = 1 + below(5); i < n; ++i) {
                uint64_t v = coin(70) ? centre + (below(spread + 1) - spread / 2) : interesting();
                s.abs = scalar_join(s.abs, Scalar::constant(v));
                s.members.push_back(v);
            }
            break;
        }
        case 2: { // an unsigned range
            uint64_t lo = interesting(), w = span();
            uint64_t hi = lo + w < lo ? ~uint64_t{0} : lo + w;
            s = {Scalar::urange(lo, hi), {}, "urange"};
            add_members(s, [&] { return in_range(lo, hi); });
            break;
        }
        case 3: { // a signed range
            auto lo = static_cast<int64_t>(interesting());
            uint64_t w = span();
            uint64_t room = static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(lo);
            int64_t hi = room < w ? INT64_MAX : static_cast<int64_t>(static_cast<uint64_t>(lo) + w);
            s = {Scalar::srange(lo, hi), {}, "srange"};
            add_members(s, [&] { return in_range(static_cast<uint64_t>(lo), static_cast<uint64_t>(hi)); });
            break;
        }
        case 4: { // a tnum
            uint64_t mask = next() & next();
            if (coin())
                mask &= (uint64_t{1} << below(64)) - 1;
            if (coin(20))
                mask = ~uint64_t{0} << below(64);
            uint64_t value = interesting() & ~mask;
            s = {Scalar::from_tnum(Tnum{value, mask}), {}, "tnum"};
            add_members(s, [&] { return value | (next() & mask); });
            break;
        }
        case 5: { // a load
            unsigned size = 1u << below(4);
            bool sx = coin() && size < 8;
            s = {sx ? Scalar::unknown_signed_bytes(size) : Scalar::unknown_bytes(size), {},
                 std::string(sx ? "ldsx" : "ld") + std::to_string(size)};
            add_members(s, [&] {
                uint64_t v = size == 8 ? next() : next() & ((uint64_t{1} << (size * 8)) - 1);
                if (sx) {
                    unsigned up = 64 - size * 8;
                    v = static_cast<uint64_t>(static_cast<int64_t>(v << up) >> up);
                }
                return v;
            });
            break;
        }
        case 6: { // a range in the low 32 bits with fixed high bits
            uint64_t high = coin() ? 0 : interesting() & ~uint64_t{0xffffffff};
            uint32_t lo = static_cast<uint32_t>(interesting());
            uint64_t w = span() & 0xffffffff;
            uint32_t hi = uint64_t{lo} + w > 0xffffffff ? 0xffffffff : static_cast<uint32_t>(lo + w);
            s.how = "range32";
            s.abs = Scalar::urange(high | lo, high | hi);
            add_members(s, [&] { return high | in_range(lo, hi); });
            s.members.push_back(high | lo);
            s.members.push_back(high | hi);
            break;
        }
        case 7: {
            s = {Scalar::unknown(), {}, "unknown"};
            add_members(s, [&] { return interesting(); });
            break;
        }
        case 8: { // the result of an operation
            Sample a = gen(depth + 1);
            auto op = static_cast<AluOp>(below(15));
            bool alu64 = coin(70);
            Sample b = (op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh) && coin(80)
                           ? small(alu64 ? 64 : 32)
                           : gen(depth + 1);
            s.abs = scalar_alu(op, alu64, a.abs, b.abs);
            s.how = std::string(to_string(op)) + (alu64 ? "64" : "32") + "(" + a.how + "," + b.how + ")";
            for (int i = 0; i < 8; ++i)
                s.members.push_back(eval_alu(op, alu64, a.members[below(a.members.size())],
                                             b.members[below(b.members.size())]));
            break;
        }
        case 9: { // a branch refinement against a constant
            Sample a = gen(depth + 1);
            auto op = static_cast<JmpOp>(below(11));
            bool jmp32 = coin(30);
            uint64_t c = coin() ? a.members[below(a.members.size())] + below(3) - 1 : interesting();
            bool taken = coin();
            Scalar b = Scalar::constant(c);
            s.abs = a.abs;
            s.how = std::string(to_string(op)) + (jmp32 ? "32" : "") + (taken ? "" : "!") + "(" + a.how + ")";
            if (!scalar_refine_branch(op, jmp32, taken, s.abs, b))
                return Sample{};
            for (uint64_t v : a.members)
                if (eval_jmp(op, jmp32, v, c) == taken)
                    s.members.push_back(v);
            break;
        }
        case 10: { // the join of two
            Sample a = gen(depth + 1), b = gen(depth + 1);
            s.abs = scalar_join(a.abs, b.abs);
            s.how = "join(" + a.how + "," + b.how + ")";
            s.members = a.members;
            s.members.insert(s.members.end(), b.members.begin(), b.members.end());
            break;
        }
        }
        return s;
    }

    std::mt19937_64 rng_;
};

} // namespace bpfvm::verifier::testing
