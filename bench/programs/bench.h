/* Shared by every benchmark program. Each program is one body, written once
 * and compiled into three entry points:
 *
 *   - native:  u64 bench_<name>(u8 *data, u64 len), compiled by the host
 *              compiler into libbench_native;
 *   - bpfvm:   the same function compiled by clang -target bpf, in section
 *              "bench/<name>" (r1 = data, r2 = len);
 *   - kernel:  an XDP program in section "xdp" of the same object, which takes
 *              data and data_end from its struct xdp_md and returns the body's
 *              64-bit result folded into 32 bits (bench_fold32), because an
 *              XDP program's return value is a u32. The Linux verifier must
 *              accept it: the harness runs it with BPF_PROG_TEST_RUN.
 *
 * The body gets `data` and `end` (one past the last byte). The native and
 * bpfvm entries pass end = data + len, so the compiler turns the body's
 * pointer comparisons back into comparisons of offsets with len.
 *
 * Rules for programs (the same body runs natively, on bpfvm and in the kernel,
 * whose verifier must accept the XDP entry; no maps, so that native code needs
 * no runtime):
 *   - no global variables, static const tables or string literals;
 *   - stack under 512 bytes per function, at most 5 arguments;
 *   - bounded loops, with a constant bound the verifier can see;
 *   - every read of the input proved in bounds by a comparison of a pointer
 *     with `end` (p + n > end), constant n: the verifier learns nothing from
 *     comparing offsets with end - data. Offsets added to `data` must have a
 *     bound the verifier can see (loop counters with constant bounds, masked
 *     or compared values), at most 0xffff;
 *   - unsigned arithmetic only (no signed overflow, shifts < width), so the
 *     native build has no undefined behaviour and agrees with BPF bit for bit.
 *   - at most 3520 bytes of input: the largest linear XDP buffer
 *     BPF_PROG_TEST_RUN builds (a 4 KiB page less headroom and tailroom). */
#pragma once

/* No libc headers: glibc's do not build for -target bpf. */
typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;

/* What the XDP entry returns for a body result r: both halves, xor-ed. The
 * harness compares the kernel's retval with the same fold of native code's
 * result. */
static inline u32 bench_fold32(u64 r) { return (u32)(r ^ (r >> 32)); }

#define BENCH_INLINE static inline __attribute__((always_inline))

#ifdef __bpf__
#include <linux/bpf.h>

#define BENCH_ENTRIES(name)                                                                                  \
    u64 bench_##name(u8 *data, u64 len);                                                                     \
    __attribute__((section("bench/" #name), used)) u64 bench_##name(u8 *data, u64 len) {                     \
        return bench_body_##name(data, data + len);                                                          \
    }                                                                                                        \
    int bench_xdp_##name(struct xdp_md *ctx);                                                                \
    __attribute__((section("xdp"), used)) int bench_xdp_##name(struct xdp_md *ctx) {                         \
        const u8 *data = (const u8 *)(long)ctx->data;                                                        \
        const u8 *end = (const u8 *)(long)ctx->data_end;                                                     \
        return (int)bench_fold32(bench_body_##name(data, end));                                              \
    }
#else
#define BENCH_ENTRIES(name)                                                                                  \
    u64 bench_##name(u8 *data, u64 len);                                                                     \
    u64 bench_##name(u8 *data, u64 len) { return bench_body_##name(data, data + len); }
#endif

/* Declares the entries of program `name` and starts the definition of its
 * body, u64 body(const u8 *data, const u8 *end). */
#define BENCH_PROGRAM(name)                                                                                  \
    BENCH_INLINE u64 bench_body_##name(const u8 *data, const u8 *end);                                       \
    BENCH_ENTRIES(name)                                                                                      \
    BENCH_INLINE u64 bench_body_##name(const u8 *data, const u8 *end)

/* Hides the value of x from the optimizer (no instruction is emitted). For
 * the places where clang would otherwise turn a pointer comparison with end
 * into arithmetic on end (a precomputed trip count, end + 1), which the
 * verifier refuses. In every build, so that the body stays the same. */
#define BENCH_OPAQUE(x) __asm__("" : "+r"(x))

/* A bpf-to-bpf call: kept out of line in all builds. */
#define SUBPROG static __attribute__((noinline))

static inline u64 rotl64(u64 x, unsigned r) { return (x << (r & 63)) | (x >> ((64 - r) & 63)); }
static inline u32 rotl32(u32 x, unsigned r) { return (x << (r & 31)) | (x >> ((32 - r) & 31)); }

/* Reads that the caller has bounds-checked; the harness aligns inputs so that
 * these are naturally aligned (the kernel's packet buffer is 64-byte aligned). */
static inline u16 load16(const u8 *p) { return *(const u16 *)p; }
static inline u32 load32(const u8 *p) { return *(const u32 *)p; }
static inline u64 load64(const u8 *p) { return *(const u64 *)p; }

static inline u16 bswap16(u16 x) { return __builtin_bswap16(x); }
static inline u32 bswap32(u32 x) { return __builtin_bswap32(x); }
