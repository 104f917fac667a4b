/* BPF_MAP_TYPE_RINGBUF: bpf_ringbuf_output, reserve/submit/discard, query. */
#include "common.h"

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} rb SEC(".maps");

enum { OP_OUTPUT = 1, OP_RESERVE = 2, OP_QUERY = 3 };

SEC("xdp")
int rb_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    __u64 data[2] = {c->value, ~c->value};
    switch (c->op) {
    case OP_OUTPUT: {
        /* cmd.arg: bytes of data (8 or 16); cmd.flags: the helper's flags */
        __u32 size = c->arg == 16 ? 16 : 8;
        put(0, bpf_ringbuf_output(&rb, data, size, c->flags));
        break;
    }
    case OP_RESERVE: {
        /* reserve 12 bytes and submit; then reserve 12 more and discard */
        __u32 *p = bpf_ringbuf_reserve(&rb, 12, 0);
        put(0, p != 0);
        if (p) {
            p[0] = c->key;
            p[1] = c->key + 1;
            p[2] = c->key + 2;
            bpf_ringbuf_submit(p, 0);
        }
        p = bpf_ringbuf_reserve(&rb, 12, 0);
        put(1, p != 0);
        if (p) {
            p[0] = 0xdead;
            bpf_ringbuf_discard(p, 0);
        }
        break;
    }
    case OP_QUERY:
        break;
    case 4: {
        /* reservations the ring refuses: larger than the ring, flags */
        void *p = bpf_ringbuf_reserve(&rb, 8192, 0);
        put(0, p != 0);
        if (p)
            bpf_ringbuf_discard(p, 0);
        p = bpf_ringbuf_reserve(&rb, 8, 1);
        put(1, p != 0);
        if (p)
            bpf_ringbuf_discard(p, 0);
        break;
    }
    default:
        return XDP_ABORTED;
    }
    put(4, bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA));
    put(5, bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE));
    put(6, bpf_ringbuf_query(&rb, BPF_RB_CONS_POS));
    put(7, bpf_ringbuf_query(&rb, BPF_RB_PROD_POS));
    put(8, bpf_ringbuf_query(&rb, 99));
    return XDP_PASS;
}
