/* bpf-to-bpf calls: out-of-line static functions, two levels deep, with
 * scalar and pointer arguments. 32 blocks of 16 bytes, 10 calls per block. */
#include "bench.h"

SUBPROG u64 mix(u64 h, u64 v) {
    h ^= v;
    h *= 0x100000001b3ull;
    return h ^ (h >> 29);
}

SUBPROG u64 load_be32(const u8 *p) { return (u64)p[0] << 24 | (u64)p[1] << 16 | (u64)p[2] << 8 | p[3]; }

SUBPROG u64 process_block(const u8 *p, u64 h) {
    for (int i = 0; i < 4; i++) h = mix(h, load_be32(p + 4 * i));
    return h;
}

SUBPROG u64 saturating_add(u64 a, u64 b, u64 limit) {
    u64 s = a + b;
    return s > limit ? limit : s;
}

BENCH_PROGRAM(bpf_calls) {
    u64 h = (u64)(end - data), acc = 0;
    for (u64 i = 0; i < 512; i += 16) {
        if (data + i + 16 > end) break;
        h = process_block(data + i, h);
        acc = saturating_add(acc, h & 0xffff, 1u << 20);
    }
    return h ^ acc;
}
