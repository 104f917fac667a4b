/* BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS: lookup the
 * outer map, then the inner map. cmd.arg picks the outer map: 0 aom, 1 hom. */
#include "common.h"

struct inner_map {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
};

struct inner_map inner_a SEC(".maps");
struct inner_map inner_b SEC(".maps");

/* Not compatible with the inner map template (another value size). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} inner_other SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner_map);
} aom SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner_map);
} hom SEC(".maps");

SEC("xdp")
int mim_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    __u32 key = c->key;
    void *inner = c->arg ? bpf_map_lookup_elem(&hom, &key) : bpf_map_lookup_elem(&aom, &key);
    put(0, inner != 0);
    if (!inner)
        return XDP_PASS;
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(inner, &zero);
    if (!v)
        return XDP_DROP;
    put(1, *v);
    *v = c->value;
    return XDP_PASS;
}
