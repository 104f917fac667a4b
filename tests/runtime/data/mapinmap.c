// A map-in-map whose slots the object sets (libbpf's .values): the program
// picks the inner map by the context's first u32 and counts in it.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner_map);
} outer SEC(".maps") = {
    .values = { [0] = &inner_a, [1] = &inner_b },
};

SEC("xdp")
int pick(void *ctx)
{
    __u32 key = *(__u32 *)ctx, zero = 0;
    void *inner = bpf_map_lookup_elem(&outer, &key);
    if (!inner)
        return -1;
    __u64 *v = bpf_map_lookup_elem(inner, &zero);
    if (!v)
        return -2;
    *v += 1;
    return *v;
}

char _license[] SEC("license") = "GPL";
