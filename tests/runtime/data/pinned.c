// A map pinned by name (libbpf's LIBBPF_PIN_BY_NAME): every process that loads
// this object shares it. The program adds the context's first 8 bytes to the
// value at key 1 and returns the new value.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} private_count SEC(".maps");

SEC("xdp")
int add(void *ctx)
{
    __u32 key = 1, zero = 0;
    __u64 delta = *(__u64 *)ctx;
    __u64 *v = bpf_map_lookup_elem(&shared_counts, &key);
    __u64 next = v ? *v + delta : delta;
    bpf_map_update_elem(&shared_counts, &key, &next, BPF_ANY);
    __u64 *p = bpf_map_lookup_elem(&private_count, &zero);
    if (p)
        *p += 1;
    return next;
}

char _license[] SEC("license") = "GPL";
