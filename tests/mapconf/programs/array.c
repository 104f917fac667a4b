/* BPF_MAP_TYPE_ARRAY from a program: lookup, update with every flag, delete,
 * atomic add through the looked-up pointer. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} arr SEC(".maps");

enum { OP_LOOKUP = 1, OP_UPDATE = 2, OP_DELETE = 3, OP_ADD = 4 };

SEC("xdp")
int array_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    __u32 key = c->key;
    __u64 value = c->value;
    __u64 *p;
    switch (c->op) {
    case OP_LOOKUP:
        p = bpf_map_lookup_elem(&arr, &key);
        put(0, p != 0);
        put(1, p ? *p : -1);
        break;
    case OP_UPDATE:
        put(0, bpf_map_update_elem(&arr, &key, &value, c->flags));
        break;
    case OP_DELETE:
        put(0, bpf_map_delete_elem(&arr, &key));
        break;
    case OP_ADD:
        p = bpf_map_lookup_elem(&arr, &key);
        if (!p)
            return XDP_DROP;
        put(0, __sync_fetch_and_add(p, value));
        break;
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
