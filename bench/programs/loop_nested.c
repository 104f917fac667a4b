/* Nested loops: the product of two 8x8 u32 matrices (input: A then B, 512
 * bytes), each element folded into a hash. */
#include "bench.h"

BENCH_PROGRAM(loop_nested) {
    if (data + 512 > end) return 0;
    const u8 *a = data, *b = data + 256;
    u64 h = 0xcbf29ce484222325ull;
    for (u32 i = 0; i < 8; i++) {
        for (u32 j = 0; j < 8; j++) {
            u32 sum = 0;
            for (u32 k = 0; k < 8; k++) sum += load32(a + 4 * (i * 8 + k)) * load32(b + 4 * (k * 8 + j));
            h = (h ^ sum) * 0x100000001b3ull;
        }
    }
    return h;
}
