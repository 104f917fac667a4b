// The ELF loader's main test object: BTF-defined maps (hash, prog_array with
// initial slots, array_of_maps with an inner map and a slot, a spin lock in a
// value), global data (.data, .rodata, .bss, .data.custom, strings), static
// subprograms called from several programs, and several programs in one
// section. Line numbers are checked by elf_test.cpp: keep the LINE markers.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
};

struct flow_stats {
    __u64 packets;
    struct bpf_spin_lock lock;
    __u64 bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct flow_key);
    __type(value, struct flow_stats);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, 16);
    __uint(numa_node, 0);
} scratch SEC(".maps");

struct inner_map {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} inner_a SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, __u32);
    __array(values, struct inner_map);
} outer SEC(".maps") = {
    .values = { [1] = &inner_a },
};

int tail_one(struct xdp_md *ctx);
int tail_two(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} jumps SEC(".maps") = {
    .values = { [0] = (void *)&tail_one, [2] = (void *)&tail_two },
};

__u64 packets_seen = 7;                       // .data
const volatile __u32 drop_port = 53;          // .rodata
__u64 zeroes[4];                              // .bss
__u32 custom_counter SEC(".data.custom") = 3; // .data.custom

static __attribute__((noinline)) __u64 add_bytes(__u64 total, __u64 n)
{
    return total + n * 2; // LINE add_bytes
}

static __attribute__((noinline)) __u64 account(struct xdp_md *ctx)
{
    __u64 len = ctx->data_end - ctx->data;
    packets_seen++; // LINE account
    zeroes[1] += len;
    return add_bytes(len, custom_counter);
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
    struct flow_key key = {};
    key.dport = (__u16)drop_port; // LINE xdp_main
    struct flow_stats *st = bpf_map_lookup_elem(&flows, &key);
    if (st) {
        bpf_spin_lock(&st->lock);
        st->packets++;
        bpf_spin_unlock(&st->lock);
    }
    __u32 k = 1;
    void *inner = bpf_map_lookup_elem(&outer, &k);
    if (inner) {
        __u64 *v = bpf_map_lookup_elem(inner, &k);
        if (v) *v += 1;
    }
    bpf_tail_call(ctx, &jumps, 0);
    return account(ctx) > 100 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int tail_one(struct xdp_md *ctx)
{
    bpf_printk("tail one %d", ctx->ingress_ifindex); // LINE tail_one
    return XDP_PASS;
}

SEC("xdp")
int tail_two(struct xdp_md *ctx)
{
    __u32 k = 0;
    void *p = bpf_map_lookup_elem(&scratch, &k);
    return p ? (int)account(ctx) & 1 : XDP_ABORTED;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
    return add_bytes(skb->len, drop_port) > 1 ? 0 : 2; // LINE tc_main
}

char _license[] SEC("license") = "Dual BSD/GPL";
