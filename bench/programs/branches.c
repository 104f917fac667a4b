/* Data-dependent if/else chains: classify 512 bytes of text-like input. */
#include "bench.h"

BENCH_PROGRAM(branches) {
    u64 ctrl = 0, space = 0, digits = 0, upper = 0, lower = 0, punct = 0, high = 0;
    for (u64 i = 0; i < 512; i++) {
        if (data + i + 1 > end) break;
        u8 c = data[i];
        if (c >= 0x80)
            high++;
        else if (c == ' ' || c == '\t')
            space++;
        else if (c < 0x20)
            ctrl += c;
        else if (c >= '0' && c <= '9')
            digits = digits * 10 + (u64)(c - '0');
        else if (c >= 'A' && c <= 'Z')
            upper++;
        else if (c >= 'a' && c <= 'z')
            lower ^= (u64)c << (i & 31);
        else
            punct++;
    }
    return (high << 56) ^ (space << 48) ^ (ctrl << 36) ^ (upper << 24) ^ (punct << 12) ^ lower ^ digits;
}
