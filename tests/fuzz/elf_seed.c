// Seed objects for fuzz_elf: several program sections, bpf-to-bpf calls into
// .text (static and global functions), a reference to global data, BTF.
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

static __attribute__((noinline)) int add(int a, int b) { return a + b; }

__attribute__((noinline)) int twice(int x) { return add(x, x) + 1; }

int counter;

SEC("xdp") int prog_xdp(struct xdp_md* ctx) { return twice((int)(ctx->data_end - ctx->data)) & 3; }

SEC("socket") int prog_socket(struct __sk_buff* skb) { return add((int)skb->len, 2); }

SEC("tc") int prog_global_data(struct __sk_buff* skb) { return counter + (int)skb->len; }

SEC("tracepoint/loop") int prog_loop(void* ctx) {
    int s = 0;
    for (int i = 0; i < 10; i++) s = twice(s);
    return s;
}

char _license[] SEC("license") = "GPL";
