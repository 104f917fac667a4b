/* String and checksum helpers from XDP: strtol, strtoul, strncmp, snprintf,
 * csum_diff. A 64-byte packet: the command, then 32 bytes of data. */
#include "common.h"

char out[32] = {};
char out_short[8] = {};
char out_pad[32] = {};
char out_ip[32] = {};

struct data_packet {
    struct cmd c;
    char data[32];
};

enum { OP_STRTOL = 1, OP_STRTOUL = 2, OP_STRNCMP = 3, OP_SNPRINTF = 4, OP_CSUM = 5 };

SEC("xdp")
int str_op(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    if (data + sizeof(struct data_packet) > end)
        return XDP_ABORTED;
    struct data_packet *pk = data;
    char buf[32];
    __builtin_memcpy(buf, pk->data, sizeof(buf));
    /* 1..32, in a form the verifier keeps the bounds of */
    __u32 len = ((pk->c.arg - 1) & 31) + 1;
    switch (pk->c.op) {
    case OP_STRTOL: {
        long res = 0x7777;
        put(0, bpf_strtol(buf, len, pk->c.flags, &res));
        put(1, res);
        break;
    }
    case OP_STRTOUL: {
        unsigned long res = 0x7777;
        put(0, bpf_strtoul(buf, len, pk->c.flags, &res));
        put(1, res);
        break;
    }
    case OP_STRNCMP:
        put(0, bpf_strncmp(buf, len, "hello"));
        break;
    case OP_SNPRINTF: {
        char name[4] = "abc";
        __u8 ip[4] = {10, 1, 2, 3};
        put(0, BPF_SNPRINTF(out, sizeof(out), "x=%d s=%s u=%llx", -5, name, 0xabcULL));
        put(1, BPF_SNPRINTF(out_short, sizeof(out_short), "%d-%d", 12345, 67890));
        put(2, BPF_SNPRINTF(out_pad, sizeof(out_pad), "%05d|%-4s|%c|%+d|%u", 42, "ab", 'Z', 7, -1));
        put(3, BPF_SNPRINTF(out_ip, sizeof(out_ip), "%pI4", ip));
        break;
    }
    case OP_CSUM: {
        /* from: the first arg2 bytes of data; to: the `arg` bytes from data + 16 */
        __u32 from_size = pk->c.arg2 & 31;
        __u32 to_size = pk->c.arg & 31;
        __be32 from[8] = {}, to[8] = {};
        __builtin_memcpy(from, buf, 16);
        __builtin_memcpy(to, buf + 16, 16);
        __s64 c = bpf_csum_diff(from, from_size, to, to_size, (__u32)pk->c.value);
        put(0, c);
        if (c >= 0) {
            __u32 s = (__u32)c;
            s = (s & 0xffff) + (s >> 16);
            s = (s & 0xffff) + (s >> 16);
            put(1, s);
        }
        break;
    }
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
