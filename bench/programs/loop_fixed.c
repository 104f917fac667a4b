/* A loop with a fixed trip count: a polynomial hash of 1024 bytes. */
#include "bench.h"

BENCH_PROGRAM(loop_fixed) {
    if (data + 1024 > end) return 0;
    u64 h = 0;
    for (u32 i = 0; i < 1024; i++) h = h * 31 + data[i];
    return h;
}
