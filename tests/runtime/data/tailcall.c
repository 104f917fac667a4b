// Tail calls: a chain (chain_a -> chain_b -> chain_c), a missing slot that
// falls through, a tail call from a subprogram, and a program that tail-calls
// itself until Linux's limit of 33 stops it (as Linux's tailcall3 selftest).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int chain_b(void *ctx);
int chain_c(void *ctx);
int self_loop(void *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(__u32));
    __array(values, int(void *));
} jmp_table SEC(".maps") = {
    .values = { [1] = (void *)&chain_b, [2] = (void *)&chain_c },
};

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __uint(key_size, sizeof(__u32));
    __array(values, int(void *));
} self_table SEC(".maps") = {
    .values = { [0] = (void *)&self_loop },
};

int count = 0;
int steps = 0;

SEC("xdp")
int chain_a(void *ctx)
{
    steps |= 1;
    bpf_tail_call(ctx, &jmp_table, 1);
    return 1;
}

SEC("xdp")
int chain_b(void *ctx)
{
    steps |= 2;
    bpf_tail_call(ctx, &jmp_table, 2);
    return 2;
}

SEC("xdp")
int chain_c(void *ctx)
{
    steps |= 4;
    return 42 + *(__u8 *)ctx;
}

SEC("xdp")
int missing(void *ctx)
{
    long r = bpf_tail_call(ctx, &jmp_table, 3); /* empty slot */
    long r2 = bpf_tail_call(ctx, &jmp_table, 100); /* past the end */
    return (r < 0 && r2 < 0) ? 7 : 8;
}

static __attribute__((noinline)) int via_sub(void *ctx)
{
    bpf_tail_call(ctx, &jmp_table, 2);
    return 5 + *(volatile __u8 *)ctx; /* not a constant clang could return for it */
}

SEC("xdp")
int from_subprogram(void *ctx)
{
    return via_sub(ctx) + 100;
}

SEC("xdp")
int self_loop(void *ctx)
{
    count++;
    bpf_tail_call(ctx, &self_table, 0);
    return 1;
}

SEC("xdp")
int self_entry(void *ctx)
{
    bpf_tail_call(ctx, &self_table, 0);
    return 0;
}

char _license[] SEC("license") = "GPL";
