// An XDP program with everything the loader handles: a hash map, an array
// map, global data in .data, .rodata and .bss, a static subprogram, and
// bpf_loop with a callback. The context is struct xdp_md read as plain bytes
// (bpfvm has no XDP context rewriting yet): ingress_ifindex is the key,
// rx_queue_index the loop count.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

__u64 data_counter = 5;
const volatile __u32 multiplier = 3;
__u64 bss_total;

static __attribute__((noinline)) __u64 scale(__u64 v)
{
    return v * multiplier;
}

struct loop_state {
    __u64 sum;
};

static int add_index(__u32 index, void *ctx)
{
    struct loop_state *st = ctx;
    st->sum += index;
    return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
    __u32 key = ctx->ingress_ifindex;
    __u64 one = 1;
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&counts, &key, &one, BPF_ANY);

    struct loop_state st = {0};
    bpf_loop(ctx->rx_queue_index, add_index, &st, 0);

    __u32 zero = 0;
    __u64 *s = bpf_map_lookup_elem(&stats, &zero);
    if (s)
        *s += scale(st.sum);
    data_counter++;
    bss_total += st.sum;
    return (key & 1) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
