/* Binary search in a sorted array. Input: u32 n, u32 nkeys, u32 array[n]
 * (sorted), u32 keys[nkeys]; n <= 4096, nkeys <= 64. Returns the number of
 * keys found (high half) and the sum of their insertion points.
 *
 * Every read is checked against len, not through a pointer comparison with
 * end: the kernel does not run this one (see the harness's table), so it is
 * written as it was before the kernel column. The kernel could not: the input
 * (4360 bytes) is larger than the linear packet BPF_PROG_TEST_RUN builds for
 * XDP (3520 bytes), and even with 512 entries and a pointer check before each
 * read its verifier gives up after 1M instructions (every halving step
 * doubles the paths it follows, and lo and hi must stay precise). */
#include "bench.h"

BENCH_PROGRAM(binary_search) {
    u64 len = (u64)(end - data);
    if (len < 8) return 0;
    u32 n = load32(data), nkeys = load32(data + 4);
    if (n > 4096 || nkeys > 64) return 0;
    if (8 + 4 * ((u64)n + nkeys) > len) return 0;
    const u8 *array = data + 8;
    const u8 *keys = array + 4 * (u64)n;
    u64 found = 0, positions = 0;
    for (u32 k = 0; k < nkeys; k++) {
        u32 key = load32(keys + 4 * (u64)k);
        u32 lo = 0, hi = n;
        for (u32 step = 0; step < 13 && lo < hi; step++) {
            u32 mid = lo + (hi - lo) / 2;
            if (load32(array + 4 * (u64)mid) < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < n && load32(array + 4 * (u64)lo) == key) found++;
        positions += lo;
    }
    return (found << 32) | positions;
}
