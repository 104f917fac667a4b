/* BPF_MAP_TYPE_HASH (preallocated and BPF_F_NO_PREALLOC) and
 * BPF_MAP_TYPE_LRU_HASH from a program. cmd.arg picks the map: 0 h, 1 hnp, 2 lru. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} h SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, __u64);
} hnp SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} lru SEC(".maps");

enum { OP_LOOKUP = 1, OP_UPDATE = 2, OP_DELETE = 3, OP_FILL = 4, OP_COUNT = 5 };

static __always_inline void *pick(__u32 which)
{
    if (which == 1)
        return &hnp;
    if (which == 2)
        return &lru;
    return &h;
}

SEC("xdp")
int hash_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    void *m = pick(c->arg);
    __u32 key = c->key;
    __u64 value = c->value;
    __u64 *p;
    switch (c->op) {
    case OP_LOOKUP:
        p = bpf_map_lookup_elem(m, &key);
        put(0, p != 0);
        put(1, p ? *p : -1);
        break;
    case OP_UPDATE:
        put(0, bpf_map_update_elem(m, &key, &value, c->flags));
        break;
    case OP_DELETE:
        put(0, bpf_map_delete_elem(m, &key));
        break;
    case OP_FILL:
        /* keys key..key+value-1, each with value key*10; slot i gets the i-th return code */
        for (__u32 i = 0; i < 8; i++) {
            if (i >= c->value)
                break;
            __u32 k = c->key + i;
            __u64 v = (__u64)k * 10;
            put(i, bpf_map_update_elem(m, &k, &v, c->flags));
        }
        break;
    case OP_COUNT:
        /* how many of keys key..key+value-1 are present (slot 0); slot 1+i: present or not */
        {
            __s64 n = 0;
            for (__u32 i = 0; i < 8; i++) {
                if (i >= c->value)
                    break;
                __u32 k = c->key + i;
                p = bpf_map_lookup_elem(m, &k);
                n += p != 0;
                put(1 + i, p != 0);
            }
            put(0, n);
        }
        break;
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
