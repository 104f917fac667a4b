/* A dense 16-way switch: a tiny accumulator machine whose opcode is the low
 * nibble of each input byte and whose operand is the high nibble. */
#include "bench.h"

BENCH_PROGRAM(switch_dense) {
    u64 acc = 0, x = 1;
    for (u64 i = 0; i < 512; i++) {
        if (data + i + 1 > end) break;
        u8 b = data[i];
        u64 arg = b >> 4;
        switch (b & 15) {
        case 0: acc += arg; break;
        case 1: acc -= arg; break;
        case 2: acc ^= x; break;
        case 3: acc = acc * 3 + arg; break;
        case 4: x = acc; break;
        case 5: x += arg; break;
        case 6: acc <<= 1; break;
        case 7: acc >>= 1; break;
        case 8: acc |= arg << 8; break;
        case 9: acc &= ~arg; break;
        case 10: x ^= acc >> 3; break;
        case 11: acc = rotl64(acc, (unsigned)arg); break;
        case 12: acc += x * arg; break;
        case 13: x -= acc; break;
        case 14: acc = ~acc; break;
        default: acc ^= i; break;
        }
    }
    return acc ^ (x << 1);
}
