/* Loads and stores to a stack array: a 64-bucket histogram of 1024 bytes,
 * then a sum of squares over the buckets. */
#include "bench.h"

BENCH_PROGRAM(stack_hist) {
    u32 hist[64];
    for (u32 i = 0; i < 64; i++) hist[i] = 0;
    for (u64 i = 0; i < 1024; i++) {
        if (data + i + 1 > end) break;
        hist[data[i] >> 2]++;
    }
    u64 s = 0;
    for (u32 i = 0; i < 64; i++) s = s * 7 + (u64)hist[i] * hist[i];
    return s;
}
