// Every atomic clang emits with -mcpu=v3, and alu32 code.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

__u64 x64;
__u32 x32;

SEC("atomics")
__u64 run_atomics(__u64 a, __u32 b) {
    __u64 r = __sync_fetch_and_add(&x64, a);
    r += __sync_fetch_and_and(&x64, a);
    r += __sync_fetch_and_or(&x64, a);
    r += __sync_fetch_and_xor(&x64, a);
    r += __sync_fetch_and_add(&x32, b);
    r += __sync_fetch_and_or(&x32, b);
    r += __sync_lock_test_and_set(&x64, a);
    r += __sync_lock_test_and_set(&x32, b);
    r += __sync_val_compare_and_swap(&x64, a, r);
    r += __sync_val_compare_and_swap(&x32, b, (__u32)r);
    __sync_fetch_and_add(&x64, 3);
    __sync_fetch_and_add(&x32, 3);
    __u32 w = b * 3 + (b >> 2) - (b ^ 0x55);
    if (w > 1000) w /= 7;
    return r + w + (__s32)b;
}

char _license[] SEC("license") = "GPL";
