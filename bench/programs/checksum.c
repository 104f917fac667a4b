/* The Internet checksum (RFC 1071) over up to 1500 bytes. */
#include "bench.h"

BENCH_PROGRAM(checksum) {
    u64 n = len < 1500 ? len : 1500;
    u64 sum = 0, i = 0;
    for (; i + 2 <= n; i += 2) sum += load16(data + i);
    if (i < n) sum += data[i];
    for (int k = 0; k < 4; k++) sum = (sum & 0xffff) + (sum >> 16);
    return (u16)~sum;
}
