/* BPF_MAP_TYPE_PERF_EVENT_ARRAY and bpf_perf_event_output from XDP. cmd.flags
 * are the helper's flags; cmd.arg the size of the record (of 16 bytes). */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("xdp")
int perf_out(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    __u64 data[2] = {0x1122334455667788ULL, 0x99aabbccddeeff00ULL};
    __u32 size = c->arg;
    if (size > sizeof(data))
        size = sizeof(data);
    if (size == 0)
        size = 1;
    put(0, bpf_perf_event_output(ctx, &events, c->flags, data, size));
    return XDP_PASS;
}
