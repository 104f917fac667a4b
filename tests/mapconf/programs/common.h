/* Shared by the conformance programs: the results map and the command a
 * packet carries. Programs store every helper's return code into `results`
 * (slot -> s64) so the runner can compare them with what Linux returns. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 32);
    __type(key, __u32);
    __type(value, __s64);
} results SEC(".maps");

static __always_inline void put(__u32 slot, __s64 v)
{
    __s64 *p = bpf_map_lookup_elem(&results, &slot);
    if (p)
        *p = v;
}

/* The first 32 bytes of a test packet. */
struct cmd {
    __u32 op;
    __u32 key;
    __u64 value;
    __u64 flags;
    __u32 arg;
    __u32 arg2;
};

static __always_inline struct cmd *packet_cmd(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    if (data + sizeof(struct cmd) > end)
        return 0;
    return data;
}

char LICENSE[] SEC("license") = "GPL";
