/* A mix of 64- and 32-bit ALU operations (add, sub, mul, and, or, xor,
 * shifts, rotate, one modulo) over four independent 64-bit lanes and two
 * 32-bit ones. Input: 64 bytes of seed. */
#include "bench.h"

BENCH_PROGRAM(alu_mix) {
    if (data + 64 > end) return 0;
    u64 a = load64(data), b = load64(data + 8), c = load64(data + 16), d = load64(data + 24);
    u32 e = load32(data + 32), f = load32(data + 36);
    for (u32 i = 0; i < 128; i++) {
        a += b ^ (c << 3);
        b = (b - d) * 0x9e3779b97f4a7c15ull;
        c |= a >> 11;
        c &= ~(d << 1);
        d ^= rotl64(a, 23);
        e = e * 2654435761u + (f >> 5);
        f ^= (e << 7) | i;
        f -= e & 0xffff;
        a -= e % (f | 1);
    }
    return a ^ b ^ c ^ d ^ e ^ ((u64)f << 32);
}
