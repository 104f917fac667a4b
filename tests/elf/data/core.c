// A CO-RE relocation (preserve_access_index): counted, not applied; the
// compiled offsets match the kernel's struct xdp_md, so libbpf's relocation
// against the kernel's BTF gives the same instructions.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct xdp_md___local {
    __u32 data;
    __u32 data_end;
    __u32 data_meta;
    __u32 ingress_ifindex;
} __attribute__((preserve_access_index));

SEC("xdp")
int core_prog(struct xdp_md___local *ctx)
{
    return ctx->ingress_ifindex == 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
