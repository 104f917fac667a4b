/* BPF_MAP_TYPE_LPM_TRIE: longest-prefix lookup, update and delete from a
 * program. cmd.key holds the IPv4 address (network order bytes), cmd.arg the
 * prefix length. */
#include "common.h"

struct ipv4_key {
    __u32 prefixlen;
    __u8 addr[4];
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 4);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct ipv4_key);
    __type(value, __u32);
} lpm SEC(".maps");

enum { OP_LOOKUP = 1, OP_UPDATE = 2, OP_DELETE = 3 };

SEC("xdp")
int lpm_op(struct xdp_md *ctx)
{
    struct cmd *c = packet_cmd(ctx);
    if (!c)
        return XDP_ABORTED;
    struct ipv4_key key = {.prefixlen = c->arg};
    __builtin_memcpy(key.addr, &c->key, 4);
    __u32 value = (__u32)c->value;
    __u32 *p;
    switch (c->op) {
    case OP_LOOKUP:
        p = bpf_map_lookup_elem(&lpm, &key);
        put(0, p != 0);
        put(1, p ? *p : -1);
        break;
    case OP_UPDATE:
        put(0, bpf_map_update_elem(&lpm, &key, &value, c->flags));
        break;
    case OP_DELETE:
        put(0, bpf_map_delete_elem(&lpm, &key));
        break;
    default:
        return XDP_ABORTED;
    }
    return XDP_PASS;
}
