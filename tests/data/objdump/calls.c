// bpf-to-bpf calls, global data, and maps (relocations the disassembler prints as 0).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

__u64 total = 0;
const volatile __u32 limit = 100;

static __attribute__((noinline)) __u64 square(__u64 v) { return v * v; }
static __attribute__((noinline)) __u64 sum_squares(__u64 a, __u64 b) { return square(a) + square(b); }
__attribute__((noinline)) int global_fn(int v) { return v > (int)limit ? (int)limit : v; }

SEC("xdp")
int count(struct xdp_md *ctx) {
    __u32 key = ctx->ingress_ifindex & 3;
    __u64 *value = bpf_map_lookup_elem(&counters, &key);
    if (!value) return 1;
    *value += sum_squares(ctx->data_end - ctx->data, key);
    total += global_fn(key);
    bpf_printk("count %d", key);
    return 2;
}

char _license[] SEC("license") = "GPL";
