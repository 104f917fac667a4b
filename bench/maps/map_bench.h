/* Shared by the map benchmark's BPF programs (map_bench.bpf.c, clang -target
 * bpf) and its harness (main.cpp, the host compiler): the number of map
 * operations one run makes, the keys it uses, the values the harness stores
 * under them, so that both sides and the expected results agree by
 * construction.
 *
 * One run makes MB_OPS operations over MB_DISTINCT distinct keys (each key
 * twice, in a scrambled order): a checked run of bpfvm hands every distinct
 * hash element it looks up to the program as a memory region, and its region
 * table holds 64 (the context takes one), so more distinct elements per run
 * than 63 would fail there. */
#pragma once

typedef __UINT8_TYPE__ mb_u8;
typedef __UINT32_TYPE__ mb_u32;
typedef __UINT64_TYPE__ mb_u64;

#define MB_OPS 64          /* map operations per run */
#define MB_DISTINCT 32     /* distinct keys per run */
#define MB_ENTRIES 1024    /* entries of the array and hash maps, all filled */
#define MB_LRU_ENTRIES 4096 /* LRU maps: room to spare, so filling evicts nothing */
#define MB_QUEUE_OPS 32    /* queue: pushes, then as many pops, per run */

/* The i-th operation's index among the distinct keys, 0..MB_DISTINCT-1. */
static inline mb_u32 mb_index(mb_u32 i) { return (i * 7) & (MB_DISTINCT - 1); }
/* The key (array index, u32 hash key) of the i-th operation: spread over the map. */
static inline mb_u32 mb_key(mb_u32 i) { return mb_index(i) * (MB_ENTRIES / MB_DISTINCT) + 5; }
/* Update programs add this to the key on odd CPUs: another element, 128
 * bytes away in an array (no false sharing between two threads). */
#define MB_CPU_OFFSET 16
/* The value the harness stores under key k (and update programs write back). */
static inline mb_u64 mb_value(mb_u32 k) { return (mb_u64)k * 3 + 1; }

/* The 16-byte key of the hash16 map for u32 key k. */
struct mb_key16 {
    mb_u32 a, b, c, d;
};
static inline struct mb_key16 mb_make_key16(mb_u32 k) {
    struct mb_key16 key = {k, k ^ 0x9e3779b9u, k * 2654435761u, 0x12345678u};
    return key;
}

/* lpm_trie: keys are {prefixlen, IPv4 address in network order}. The harness
 * stores 10.0.0.0/8, 10.j.0.0/16 for j < 16 and 10.j.k.0/24 for j < 16,
 * k < 32, each with value mb_lpm_value(prefixlen, j, k). The i-th lookup is
 * for 10.J.K.i with J = mb_lpm_j(i), K = mb_lpm_k(i): some match a /24, some
 * only the /16 (K >= 32), some only the /8 (J >= 16). */
struct mb_lpm_key {
    mb_u32 prefixlen;
    mb_u8 addr[4];
};
static inline mb_u32 mb_lpm_j(mb_u32 i) { return (mb_index(i) * 5) & 31; }
static inline mb_u32 mb_lpm_k(mb_u32 i) { return (mb_index(i) * 11) & 63; }
static inline mb_u64 mb_lpm_value(mb_u32 prefixlen, mb_u32 j, mb_u32 k) {
    return (mb_u64)prefixlen * 100000 + j * 100 + k;
}

/* bloom_filter: the harness adds mb_value(k) (as u32) for every k < MB_ENTRIES;
 * programs test mb_value(mb_key(i)), always present. */

/* The 32-bit result a program returns for its 64-bit sum. */
static inline mb_u32 mb_fold(mb_u64 s) { return (mb_u32)(s ^ (s >> 32)); }
