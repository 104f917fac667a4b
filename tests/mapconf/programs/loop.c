/* bpf_loop and bpf_for_each_map_elem (array, hash, per-CPU array). */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} arr4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} hsh SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} pc2 SEC(".maps");

struct walk {
    __u64 sum;
    __u64 keys;
    __u64 calls;
    __u32 stop;
    __u32 double_values;
};

static long loop_step(__u32 index, void *ctx)
{
    struct walk *w = ctx;
    w->sum += index;
    w->calls++;
    return index == w->stop;
}

static long visit(void *map, __u32 *key, __u64 *value, void *ctx)
{
    struct walk *w = ctx;
    w->sum += *value;
    w->keys += *key;
    w->calls++;
    if (w->double_values)
        *value *= 2;
    return *key == w->stop;
}

enum { OP_LOOP = 1, OP_EACH_ARRAY = 2, OP_EACH_HASH = 3, OP_EACH_PERCPU = 4 };

SEC("xdp")
int loop_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    struct walk w = {.stop = c->arg, .double_values = c->arg2};
    long r;
    switch (c->op) {
    case OP_LOOP:
        r = bpf_loop(c->key, loop_step, &w, c->flags);
        break;
    case OP_EACH_ARRAY:
        r = bpf_for_each_map_elem(&arr4, visit, &w, c->flags);
        break;
    case OP_EACH_HASH:
        r = bpf_for_each_map_elem(&hsh, visit, &w, c->flags);
        break;
    case OP_EACH_PERCPU:
        r = bpf_for_each_map_elem(&pc2, visit, &w, c->flags);
        break;
    default:
        return XDP_ABORTED;
    }
    put(0, r);
    put(1, w.sum);
    put(2, w.keys);
    put(3, w.calls);
    return XDP_PASS;
}
