// Calls bpf_skb_store_bytes (9), which bpfvm does not provide: the loader
// refuses the program, naming the helper and its number.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int store(struct __sk_buff *skb)
{
    __u32 v = 0x01020304;
    bpf_skb_store_bytes(skb, 0, &v, sizeof(v), 0);
    return 0;
}

char _license[] SEC("license") = "GPL";
