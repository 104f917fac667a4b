/* Single-byte loads recombined into words, big- and little-endian, as code
 * that reads unaligned wire formats does. Input: up to 1024 bytes. */
#include "bench.h"

BENCH_PROGRAM(byte_loads) {
    u64 acc = 0;
    for (u64 i = 0; i < 1024; i += 8) {
        if (data + i + 8 > end) break;
        const u8 *p = data + i;
        u32 be = (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
        u32 le = (u32)p[4] | (u32)p[5] << 8 | (u32)p[6] << 16 | (u32)p[7] << 24;
        u16 mid = (u16)((u32)p[3] << 8 | p[4]);
        acc = rotl64(acc, 5) ^ ((u64)be << 32 | le);
        acc += mid;
    }
    return acc;
}
