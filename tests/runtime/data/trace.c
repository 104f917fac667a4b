// bpf_trace_printk through libbpf's bpf_printk: `bpfvm trace` reads the line.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int say_hello(void *ctx)
{
    bpf_printk("hello from bpfvm %d", 42);
    return 3;
}

char _license[] SEC("license") = "GPL";
