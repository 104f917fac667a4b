/* Bitwise CRC-32 (IEEE, reflected) of up to 256 bytes: no table, eight
 * shift/multiply/xor steps per byte. The polynomial is selected by multiplying
 * it with the low bit: the usual mask, poly & -(crc & 1), makes the kernel's
 * verifier fork its state at every step (2^8 paths per byte, over its limit). */
#include "bench.h"

BENCH_PROGRAM(crc32) {
    u32 crc = 0xffffffffu;
    for (u64 i = 0; i < 256; i++) {
        if (data + i + 1 > end) break;
        crc ^= data[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u * (crc & 1));
    }
    return ~crc;
}
