/* One long chain of dependent operations: every instruction needs the result
 * of the one before it, so nothing overlaps. Input: an 8-byte seed. */
#include "bench.h"

BENCH_PROGRAM(dep_chain) {
    if (data + 8 > end) return 0;
    u64 x = load64(data);
    for (u32 i = 0; i < 64; i++) {
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x += 0x632be59bd9b14c01ull;
        x = rotl64(x, 31);
        x -= i;
        x ^= x << 7;
        x = (x & 0xffffffffu) * 5 + (x >> 32);
        x |= i;
    }
    return x;
}
