/* bpf_spin_lock/unlock in hash and array values; BPF_F_LOCK updates and
 * lookups. cmd.arg picks the map: 0 lk (hash), 1 lka (array). */
#include "common.h"

struct locked {
    __u64 count;
    struct bpf_spin_lock lock;
    __u32 tag;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct locked);
} lk SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, struct locked);
} lka SEC(".maps");

enum { OP_ADD = 1, OP_UPDATE = 2 };

SEC("xdp")
int lock_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    void *m = c->arg ? (void *)&lka : (void *)&lk;
    __u32 key = c->key;
    struct locked *v;
    switch (c->op) {
    case OP_ADD:
        v = bpf_map_lookup_elem(m, &key);
        if (!v) {
            put(0, -1);
            return XDP_DROP;
        }
        bpf_spin_lock(&v->lock);
        v->count += c->value;
        __u64 now = v->count;
        bpf_spin_unlock(&v->lock);
        put(0, now);
        break;
    case OP_UPDATE: {
        struct locked n = {.count = c->value, .tag = c->arg2};
        put(0, bpf_map_update_elem(m, &key, &n, c->flags));
        break;
    }
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
