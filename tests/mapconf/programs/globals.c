/* Global variables: .data (initialised), .rodata (constant), .bss (zeroed),
 * read and written by a program and from userspace. */
#include "common.h"

__u64 counter = 5;
const volatile __u32 limit = 7;
__u64 doubled;
struct {
    __u32 a;
    __u16 b;
    __u8 c[2];
} record = {1, 2, {3, 4}};

SEC("xdp")
int globals_op(struct xdp_md *ctx)
{
    counter++;
    doubled = (__u64)limit * 2;
    record.b += 10;
    record.c[1] = 0xff;
    put(0, counter);
    put(1, limit);
    return XDP_PASS;
}
