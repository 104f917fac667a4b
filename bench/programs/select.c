/* Conditional selects (ternaries) over 256 u32 values: min, max, absolute
 * difference, clamps, conditional counts. Native code turns these into
 * cmov; BPF has no select, so clang emits branches.
 *
 * min and max are taken of a multiple of x (y), not of x itself: when both
 * they and dist test x, the kernel's verifier learns, on some paths, which way
 * a later select goes, marks the values precise and can no longer prune: over
 * 1M instructions. */
#include "bench.h"

BENCH_PROGRAM(select) {
    u32 lo = 0xffffffffu, hi = 0;
    u64 sum = 0, above = 0, clamped = 0, mixed = 0;
    for (u64 i = 0; i < 1024; i += 4) {
        if (data + i + 4 > end) break;
        u32 x = load32(data + i);
        u32 y = x * 0x9e3779b1u;
        lo = y < lo ? y : lo;
        hi = y > hi ? y : hi;
        u32 dist = x > 0x80000000u ? x - 0x80000000u : 0x80000000u - x;
        sum += dist > 0x40000000u ? 0x40000000u : dist;
        above += (x & 0xff) > 0x7f ? 1 : 0;
        u32 z = (x >> 8) & 0xff;
        clamped += z < 16 ? 16 : z > 240 ? 240 : z;
        mixed ^= (x & 1) ? dist : x;
    }
    return ((u64)lo << 32 | hi) ^ (sum << 3) ^ (above << 50) ^ (clamped << 20) ^ mixed;
}
