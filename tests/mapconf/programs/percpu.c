/* Per-CPU maps from a program: BPF_MAP_TYPE_PERCPU_ARRAY, PERCPU_HASH,
 * LRU_PERCPU_HASH; bpf_map_lookup_percpu_elem. cmd.arg picks the map:
 * 0 pca, 1 pch, 2 lpch; cmd.arg2 is the CPU for lookup_percpu_elem. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} pca SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} pch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} lpch SEC(".maps");

/* 4-byte values: bpf(2) still gives each CPU an 8-byte slot. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} pca4 SEC(".maps");

SEC("xdp")
int percpu_u32(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u32 *p = bpf_map_lookup_elem(&pca4, &zero);
    if (!p)
        return XDP_ABORTED;
    put(0, *p);
    *p += 1;
    return XDP_PASS;
}

enum { OP_LOOKUP = 1, OP_UPDATE = 2, OP_LOOKUP_CPU = 3, OP_ADD = 4, OP_DELETE = 5 };

static __always_inline void *pick(__u32 which)
{
    if (which == 1)
        return &pch;
    if (which == 2)
        return &lpch;
    return &pca;
}

SEC("xdp")
int percpu_op(struct xdp_md *ctx)
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
    case OP_LOOKUP_CPU:
        p = bpf_map_lookup_percpu_elem(m, &key, c->arg2);
        put(0, p != 0);
        put(1, p ? *p : -1);
        break;
    case OP_ADD:
        p = bpf_map_lookup_elem(m, &key);
        if (!p)
            return XDP_DROP;
        *p += value;
        put(0, *p);
        break;
    case OP_DELETE:
        put(0, bpf_map_delete_elem(m, &key));
        break;
    default:
        return XDP_ABORTED;
    }
    put(2, bpf_get_smp_processor_id());
    return XDP_PASS;
}
