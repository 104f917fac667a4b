/* BPF_MAP_TYPE_BLOOM_FILTER: push adds a value, peek tests membership. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
    __uint(max_entries, 16);
    __uint(map_extra, 3); /* hash functions */
    __type(value, __u32);
} bf SEC(".maps");

enum { OP_PUSH = 1, OP_PEEK = 2 };

SEC("xdp")
int bloom_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    __u32 value = c->key;
    switch (c->op) {
    case OP_PUSH:
        put(0, bpf_map_push_elem(&bf, &value, c->flags));
        break;
    case OP_PEEK:
        put(0, bpf_map_peek_elem(&bf, &value));
        put(1, value);
        break;
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
