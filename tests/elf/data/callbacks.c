// Function addresses (bpf_loop's callback: lddw src=4 with a relocation), a
// global subprogram in .text, calls inside .text, and string literals in
// .rodata.str1.1.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 total = 0;

static int step(__u32 index, void *ctx)
{
    __u64 *sum = ctx;
    *sum += index;
    return 0;
}

static __attribute__((noinline)) __u64 twice(__u64 v)
{
    return v * 2;
}

__attribute__((noinline)) int scaled(int v)
{
    return (int)twice(v) + 1;
}

static __attribute__((noinline)) int first_char(const char *s)
{
    return s[0];
}

SEC("xdp")
int loop_prog(struct xdp_md *ctx)
{
    __u64 sum = 0;
    bpf_loop(10, step, &sum, 0);
    total += sum;
    return scaled(ctx->ingress_ifindex & 7) + first_char("xyz") > 0 ? XDP_PASS : XDP_DROP;
}

SEC("socket")
int plain(struct __sk_buff *skb)
{
    return scaled(skb->len & 1) + first_char("abc");
}

char _license[] SEC("license") = "GPL";
