// Objects the loader must refuse, one per -DBAD_* variant (see elf_test.cpp).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#if defined(BAD_UNKNOWN_ATTR)
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
    __uint(colour, 3);
} m SEC(".maps");
#elif defined(BAD_NO_TYPE)
struct {
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} m SEC(".maps");
#elif defined(BAD_ATTR_KIND)
struct {
    int type;
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} m SEC(".maps");
#elif defined(BAD_KEY_CONFLICT)
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __uint(key_size, 8);
    __type(key, __u32);
    __type(value, __u32);
} m SEC(".maps");
#elif defined(BAD_SLOT_OUT_OF_RANGE)
int target(void *ctx);
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 2);
    __uint(key_size, 4);
    __array(values, int(void *));
} m SEC(".maps") = {
    .values = { [5] = (void *)&target },
};
SEC("xdp") int target(void *ctx) { return 0; }
#else
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} m SEC(".maps");
#endif

#if defined(BAD_EXTERN)
extern int LINUX_KERNEL_VERSION __kconfig;
#endif

#if defined(BAD_STATIC_PROG)
SEC("xdp") static int hidden(void *ctx) { return 1; }
int (*keep)(void *) = hidden;
#endif

SEC("xdp")
int prog(void *ctx)
{
    __u32 k = 0;
    __u32 *v = bpf_map_lookup_elem(&m, &k);
#if defined(BAD_EXTERN)
    return v ? *v + LINUX_KERNEL_VERSION : 0;
#else
    return v ? *v : 0;
#endif
}

char _license[] SEC("license") = "GPL";
