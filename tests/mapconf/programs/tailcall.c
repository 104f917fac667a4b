/* BPF_MAP_TYPE_PROG_ARRAY and bpf_tail_call: a call to a slot, an empty
 * slot, an index out of range, and the chain limit (33 tail calls). */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} jmp SEC(".maps");

__u64 chain_runs = 0;

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    put(0, 1);
    bpf_tail_call(ctx, &jmp, c->key);
    /* only when the tail call did not happen */
    put(1, 1);
    return XDP_DROP;
}

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
    put(2, 42);
    return XDP_TX;
}

/* Tail-calls slot 1 (itself, once the case puts it there) until the limit. */
SEC("xdp")
int tail_self(struct xdp_md *ctx)
{
    chain_runs++;
    bpf_tail_call(ctx, &jmp, 1);
    return (int)chain_runs;
}

/* Another program type: a prog array holds programs of one type only. */
SEC("tc")
int tail_tc(struct __sk_buff *skb)
{
    return 0;
}
