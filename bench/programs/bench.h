/* Shared by every benchmark program. Each program is one C file compiled
 * twice: by clang -target bpf into its own object (the entry function in
 * section "bench/<name>") and by the host compiler into libbench_native.
 *
 * Rules for programs (the ELF loader has no maps or global data yet):
 *   - no global variables, static const tables or string literals;
 *   - stack under 512 bytes per function, at most 5 arguments;
 *   - bounded loops; every read of the input checked against len;
 *   - unsigned arithmetic only (no signed overflow, shifts < width), so the
 *     native build has no undefined behaviour and agrees with BPF bit for bit.
 *
 * Entry: u64 bench_<name>(u8 *data, u64 len), r1 = data, r2 = len. */
#pragma once

/* No libc headers: glibc's do not build for -target bpf. */
typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;

#ifdef __bpf__
#define BENCH_SECTION(name) __attribute__((section("bench/" #name), used))
#else
#define BENCH_SECTION(name)
#endif

/* Declares and starts the definition of the entry function of program `name`. */
#define BENCH_PROGRAM(name)                                                                                  \
    u64 bench_##name(u8 *data, u64 len);                                                                     \
    BENCH_SECTION(name) u64 bench_##name(u8 *data, u64 len)

/* A bpf-to-bpf call: kept out of line in both builds. */
#define SUBPROG static __attribute__((noinline))

static inline u64 rotl64(u64 x, unsigned r) { return (x << (r & 63)) | (x >> ((64 - r) & 63)); }
static inline u32 rotl32(u32 x, unsigned r) { return (x << (r & 31)) | (x >> ((32 - r) & 31)); }

/* Reads that the caller has bounds-checked; the harness aligns inputs so that
 * these are naturally aligned. */
static inline u16 load16(const u8 *p) { return *(const u16 *)p; }
static inline u32 load32(const u8 *p) { return *(const u32 *)p; }
static inline u64 load64(const u8 *p) { return *(const u64 *)p; }

static inline u16 bswap16(u16 x) { return __builtin_bswap16(x); }
static inline u32 bswap32(u32 x) { return __builtin_bswap32(x); }
