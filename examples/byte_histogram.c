// A libbpf-style program: a BTF-defined hash map, a global variable and a
// static function. It counts the values of the first 20 bytes of its context
// (a syscall program's context is plain memory) into `counts`, and its runs in
// the global `runs`. Its maps are pinned, so another process (a second
// terminal) reads them with `bpfvm map dump`:
//
//   bpfvm prog load build/examples/byte_histogram.o histogram --pinmaps histogram_maps
//   bpfvm prog run histogram --data-in examples/ipv4-header.bin --repeat 3
//   bpfvm map dump pinned histogram_maps/counts
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

__u64 runs = 0;

#define HEADER_BYTES 20

static void count(__u32 value)
{
    __u64 one = 1, *n = bpf_map_lookup_elem(&counts, &value);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&counts, &value, &one, BPF_NOEXIST);
}

struct header {
    __u8 bytes[HEADER_BYTES];
};

SEC("syscall")
int histogram(const struct header *ctx)
{
    /* Unrolled: the kernel's verifier (and bpfvm's) wants context reads at
     * constant offsets from the context pointer. */
#pragma clang loop unroll(full)
    for (int i = 0; i < HEADER_BYTES; i++)
        count(ctx->bytes[i]);
    __sync_fetch_and_add(&runs, 1);
    return 0;
}

char _license[] SEC("license") = "GPL";
