/* The map benchmark's programs: XDP programs (BPF_PROG_TEST_RUN runs them in
 * the kernel with a repeat count; bpfvm runs them from a LoadedObject) that
 * each make MB_OPS operations on one map with varying keys (map_bench.h) and
 * return a 32-bit digest of what they found, which the harness checks. The
 * context is not read. empty_loop is the same loop without the map call: the
 * harness subtracts its time to get the cost of one operation. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "map_bench.h"

char LICENSE[] SEC("license") = "GPL";

#define MAP(name_, type_, key_t, entries, flags)                                                                  \
    struct {                                                                                                      \
        __uint(type, type_);                                                                                      \
        __type(key, key_t);                                                                                       \
        __type(value, mb_u64);                                                                                    \
        __uint(max_entries, entries);                                                                             \
        __uint(map_flags, flags);                                                                                 \
    } name_ SEC(".maps")

MAP(array, BPF_MAP_TYPE_ARRAY, mb_u32, MB_ENTRIES, 0);
MAP(percpu_array, BPF_MAP_TYPE_PERCPU_ARRAY, mb_u32, MB_ENTRIES, 0);
MAP(hash, BPF_MAP_TYPE_HASH, mb_u32, MB_ENTRIES, 0);
MAP(hash16, BPF_MAP_TYPE_HASH, struct mb_key16, MB_ENTRIES, 0);
MAP(percpu_hash, BPF_MAP_TYPE_PERCPU_HASH, mb_u32, MB_ENTRIES, 0);
MAP(lru_hash, BPF_MAP_TYPE_LRU_HASH, mb_u32, MB_LRU_ENTRIES, 0);
MAP(lru_percpu_hash, BPF_MAP_TYPE_LRU_PERCPU_HASH, mb_u32, MB_LRU_ENTRIES, 0);
MAP(lpm, BPF_MAP_TYPE_LPM_TRIE, struct mb_lpm_key, MB_ENTRIES, BPF_F_NO_PREALLOC);

struct {
    __uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
    __type(value, mb_u32);
    __uint(max_entries, MB_ENTRIES);
} bloom SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __type(value, mb_u64);
    __uint(max_entries, MB_ENTRIES);
} queue SEC(".maps");

/* The loop every lookup program runs: MB_OPS lookups of mb_key(i) in `map`
 * (the key built by KEY_DECL), summing the values found. */
#define LOOKUP_PROGRAM(prog, map, KEY_DECL)                                                                       \
    SEC("xdp") int prog(struct xdp_md *ctx) {                                                                     \
        mb_u64 sum = 0;                                                                                           \
        for (mb_u32 i = 0; i < MB_OPS; i++) {                                                                     \
            KEY_DECL;                                                                                             \
            mb_u64 *v = bpf_map_lookup_elem(&map, &key);                                                          \
            if (v) sum += *v;                                                                                     \
        }                                                                                                         \
        return (int)mb_fold(sum);                                                                                 \
    }

#define U32_KEY mb_u32 key = mb_key(i)
#define KEY16 struct mb_key16 key = mb_make_key16(mb_key(i))
#define LPM_KEY                                                                                                   \
    struct mb_lpm_key key = {32, {10, (mb_u8)mb_lpm_j(i), (mb_u8)mb_lpm_k(i), (mb_u8)i}}

/* The same loop with the lookup replaced by an opaque pointer to the key. */
SEC("xdp") int empty_loop(struct xdp_md *ctx) {
    mb_u64 sum = 0;
    for (mb_u32 i = 0; i < MB_OPS; i++) {
        mb_u32 key = mb_key(i);
        mb_u32 *v = &key;
        asm volatile("" : "+r"(v) : : "memory");
        sum += *v;
    }
    return (int)mb_fold(sum);
}

LOOKUP_PROGRAM(array_lookup, array, U32_KEY)
LOOKUP_PROGRAM(percpu_array_lookup, percpu_array, U32_KEY)
LOOKUP_PROGRAM(hash_lookup, hash, U32_KEY)
LOOKUP_PROGRAM(hash16_lookup, hash16, KEY16)
LOOKUP_PROGRAM(percpu_hash_lookup, percpu_hash, U32_KEY)
LOOKUP_PROGRAM(lru_hash_lookup, lru_hash, U32_KEY)
LOOKUP_PROGRAM(lru_percpu_hash_lookup, lru_percpu_hash, U32_KEY)
LOOKUP_PROGRAM(lpm_lookup, lpm, LPM_KEY)

/* bloom_filter: MB_OPS tests of values that are present; returns how many
 * were found (MB_OPS). */
SEC("xdp") int bloom_peek(struct xdp_md *ctx) {
    mb_u32 found = 0;
    for (mb_u32 i = 0; i < MB_OPS; i++) {
        mb_u32 value = (mb_u32)mb_value(mb_key(i));
        if (bpf_map_peek_elem(&bloom, &value) == 0) found++;
    }
    return (int)found;
}

/* Updates: MB_OPS updates of existing keys with the values they already hold
 * (so the maps stay as the harness filled them). Keys are offset by
 * MB_CPU_OFFSET on odd CPUs, so that two threads (CPUs 0 and 1) update
 * different elements, whose array values are in different cache lines.
 * Returns how many updates succeeded (MB_OPS). */
#define UPDATE_PROGRAM(prog, map, flags)                                                                          \
    SEC("xdp") int prog(struct xdp_md *ctx) {                                                                     \
        mb_u32 cpu = (bpf_get_smp_processor_id() & 1) * MB_CPU_OFFSET;                                                \
        mb_u32 ok = 0;                                                                                            \
        for (mb_u32 i = 0; i < MB_OPS; i++) {                                                                     \
            mb_u32 key = mb_key(i) + cpu;                                                                         \
            mb_u64 value = mb_value(key);                                                                         \
            if (bpf_map_update_elem(&map, &key, &value, flags) == 0) ok++;                                        \
        }                                                                                                         \
        return (int)ok;                                                                                           \
    }

UPDATE_PROGRAM(array_update, array, BPF_ANY)
UPDATE_PROGRAM(percpu_array_update, percpu_array, BPF_ANY)
UPDATE_PROGRAM(hash_update_exist, hash, BPF_EXIST)
UPDATE_PROGRAM(hash_update_any, hash, BPF_ANY)
UPDATE_PROGRAM(percpu_hash_update, percpu_hash, BPF_EXIST)

/* queue: MB_QUEUE_OPS pushes, then as many pops (2 * MB_QUEUE_OPS operations);
 * returns the sum of the values popped. */
SEC("xdp") int queue_push_pop(struct xdp_md *ctx) {
    mb_u64 sum = 0;
    for (mb_u32 i = 0; i < MB_QUEUE_OPS; i++) {
        mb_u64 value = mb_value(i);
        bpf_map_push_elem(&queue, &value, BPF_ANY);
    }
    for (mb_u32 i = 0; i < MB_QUEUE_OPS; i++) {
        mb_u64 value = 0;
        if (bpf_map_pop_elem(&queue, &value) == 0) sum += value;
    }
    return (int)mb_fold(sum);
}
