// Writes to .rodata through a cast: Linux's verifier refuses it; bpfvm's
// checked mode stops the run, the region being read-only.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 limit = 10;
__u32 writes = 0;

SEC("xdp")
int write_rodata(void *ctx)
{
    writes++;
    *(volatile __u32 *)&limit = 20;
    return limit;
}

char _license[] SEC("license") = "GPL";
