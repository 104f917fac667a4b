/* Conditional selects (ternaries) over 256 u32 values: min, max, absolute
 * difference, clamps, conditional counts. Native code turns these into
 * cmov; BPF has no select, so clang emits branches. */
#include "bench.h"

BENCH_PROGRAM(select) {
    u64 n = len < 1024 ? len : 1024;
    u32 lo = 0xffffffffu, hi = 0;
    u64 sum = 0, above = 0, clamped = 0, mixed = 0;
    for (u64 i = 0; i + 4 <= n; i += 4) {
        u32 x = load32(data + i);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        u32 dist = x > 0x80000000u ? x - 0x80000000u : 0x80000000u - x;
        sum += dist > 0x40000000u ? 0x40000000u : dist;
        above += (x & 0xff) > 0x7f ? 1 : 0;
        u32 z = (x >> 8) & 0xff;
        clamped += z < 16 ? 16 : z > 240 ? 240 : z;
        mixed ^= (x & 1) ? dist : x;
    }
    return ((u64)lo << 32 | hi) ^ (sum << 3) ^ (above << 50) ^ (clamped << 20) ^ mixed;
}
