/* BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK: push (with flags), pop, peek.
 * cmd.arg picks the map: 0 q, 1 st. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __uint(max_entries, 3);
    __type(value, __u32);
} q SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK);
    __uint(max_entries, 3);
    __type(value, __u32);
} st SEC(".maps");

enum { OP_PUSH = 1, OP_POP = 2, OP_PEEK = 3, OP_PUSH_MANY = 4 };

SEC("xdp")
int qs_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    void *m = c->arg ? (void *)&st : (void *)&q;
    __u32 value = c->key;
    switch (c->op) {
    case OP_PUSH:
        put(0, bpf_map_push_elem(m, &value, c->flags));
        break;
    case OP_POP:
        value = 0xffffffff;
        put(0, bpf_map_pop_elem(m, &value));
        put(1, value);
        break;
    case OP_PEEK:
        value = 0xffffffff;
        put(0, bpf_map_peek_elem(m, &value));
        put(1, value);
        break;
    case OP_PUSH_MANY:
        /* key, key+1, ... (cmd.value of them); slot i gets the i-th return code */
        for (__u32 i = 0; i < 6; i++) {
            if (i >= c->value)
                break;
            __u32 v = c->key + i;
            put(i, bpf_map_push_elem(m, &v, c->flags));
        }
        break;
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
