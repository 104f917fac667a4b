/* The Internet checksum (RFC 1071) over up to 1500 bytes. */
#include "bench.h"

BENCH_PROGRAM(checksum) {
    u64 sum = 0, i = 0;
    for (; i < 1500; i += 2) {
        if (data + i + 2 > end) break;
        sum += load16(data + i);
    }
    if (i < 1500 && data + i + 1 <= end) sum += data[i];
    for (int k = 0; k < 4; k++) sum = (sum & 0xffff) + (sum >> 16);
    return (u16)~sum;
}
