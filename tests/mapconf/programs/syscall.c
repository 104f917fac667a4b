/* A BPF_PROG_TYPE_SYSCALL program: its context is a buffer the caller
 * passes (ctx_in); what the program writes there comes back. */
#include "common.h"

struct args {
    __u32 key;
    __u32 pad;
    __u64 value;
    __s64 ret;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} sys_h SEC(".maps");

SEC("syscall")
int sys_update(struct args *a)
{
    __u32 key = a->key;
    __u64 value = a->value;
    a->ret = bpf_map_update_elem(&sys_h, &key, &value, BPF_NOEXIST);
    return 7;
}
