// Counts how often a byte value occurs in a buffer: a program written in C,
// compiled with clang -O2 -target bpf, and run by bpfvm from its ELF object.
//
//   bpfvm run build/examples/count_bytes.o --mem examples/ipv4-header.bin
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) __u64 count_value(const __u8 *data, __u64 len, __u8 value) {
    __u64 n = 0;
    for (__u64 i = 0; i < len && i < 4096; i++)
        n += data[i] == value;
    return n;
}

SEC("count") __u64 count_zero_bytes(const __u8 *data, __u64 len) { return count_value(data, len, 0); }

char _license[] SEC("license") = "GPL";
