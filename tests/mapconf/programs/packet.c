/* What a program does to the packet comes back as data_out: XDP and tc
 * programs write a map's value into it. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} stamp SEC(".maps");

SEC("xdp")
int xdp_stamp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    if (data + 16 > end)
        return XDP_ABORTED;
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&stamp, &zero);
    if (!v)
        return XDP_ABORTED;
    __builtin_memcpy(data + 8, v, 8);
    return XDP_TX;
}

SEC("tc")
int tc_stamp(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    if (data + 16 > end)
        return 2; /* TC_ACT_SHOT */
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&stamp, &zero);
    if (!v)
        return 2;
    __builtin_memcpy(data, v, 8);
    put(0, skb->len);
    return 0; /* TC_ACT_OK */
}
