/* Bitwise CRC-32 (IEEE, reflected) of up to 256 bytes: no table, eight
 * shift/mask/xor steps per byte. */
#include "bench.h"

BENCH_PROGRAM(crc32) {
    u64 n = len < 256 ? len : 256;
    u32 crc = 0xffffffffu;
    for (u64 i = 0; i < n; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}
