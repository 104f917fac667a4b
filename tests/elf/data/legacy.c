// Legacy map definitions (struct bpf_map_def in section "maps", as libbpf
// before 1.0 and iproute2 read them), a kernel version section, and a socket
// filter using them. libbpf 1.x refuses this object; bpfvm reads it.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
    unsigned int type;
    unsigned int key_size;
    unsigned int value_size;
    unsigned int max_entries;
    unsigned int map_flags;
};

struct bpf_map_def SEC("maps") counts = {
    .type = BPF_MAP_TYPE_ARRAY,
    .key_size = sizeof(__u32),
    .value_size = sizeof(__u64),
    .max_entries = 256,
};

struct bpf_map_def SEC("maps") seen = {
    .type = BPF_MAP_TYPE_LRU_HASH,
    .key_size = 8,
    .value_size = 4,
    .max_entries = 1000,
    .map_flags = BPF_F_NO_COMMON_LRU,
};

SEC("socket")
int count_protocols(struct __sk_buff *skb)
{
    __u32 key = skb->protocol & 0xff;
    __u64 *v = bpf_map_lookup_elem(&counts, &key);
    if (v) __sync_fetch_and_add(v, 1);
    __u64 k2 = skb->hash;
    __u32 one = 1;
    bpf_map_update_elem(&seen, &k2, &one, BPF_ANY);
    return 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060100;
