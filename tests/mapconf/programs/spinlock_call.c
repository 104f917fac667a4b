/* A helper call while a bpf_spin_lock is held: the verifier refuses the
 * program, so this object must not load. */
#include "common.h"

struct locked {
    __u64 count;
    struct bpf_spin_lock lock;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct locked);
} lk1 SEC(".maps");

SEC("xdp")
int call_under_lock(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct locked *v = bpf_map_lookup_elem(&lk1, &zero);
    if (!v)
        return XDP_PASS;
    bpf_spin_lock(&v->lock);
    v->count = bpf_ktime_get_ns();
    bpf_spin_unlock(&v->lock);
    return XDP_PASS;
}
