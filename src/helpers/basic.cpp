// Helpers that need no map: time, identity, randomness, memory reads, strings,
// formatted output, checksums, spin locks.
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>

#include "bpfvm/helpers.h"
#include "bpfvm/map.h"

// Checks an argument of the helper this is used in (its name is __func__);
// the run fails when the program may not hand that memory over.
#define ARG(what, size, write) check_argument(ctx, __func__, #what, what, size, write)

namespace bpfvm {
namespace {

uint64_t ret(long v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- probe_read

// Linux has two address spaces, and probe_read_kernel/user read one each.
// bpfvm's: "kernel" memory is what bpfvm gives the run (its stack, context,
// maps, memory helpers return: what a checked run may access); "user" memory
// is the rest of the process (the application's own data). The NULL page is
// user memory, as on x86-64. A fast (unchecked) run cannot tell the two apart
// beyond the NULL page: there each reads either (docs/helpers.md).
enum class AddressSpace { Either, Kernel, User };
constexpr uint64_t kNullPage = 4096;

// The error Linux gives for reading [src, src+n) from the wrong address
// space (probe_read_kernel: -ERANGE, probe_read_user: -EFAULT), or 0.
long wrong_address_space(ExecContext* ctx, AddressSpace space, uint64_t src, uint64_t n) {
    if (space == AddressSpace::Either) return 0;
    const bool run_memory = ctx && ctx->checked && n > 0 && src + n >= src && ctx->may_access(src, n, false);
    if (space == AddressSpace::Kernel)
        return src < kNullPage || (ctx && ctx->checked && !run_memory) ? -ERANGE : 0;
    return run_memory ? -EFAULT : 0;
}

uint64_t probe_read_common(uint64_t dst, uint64_t size, uint64_t src, ExecContext* ctx, std::string_view name,
                           AddressSpace space) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (!check_argument(ctx, name, "dst", dst, n, true)) return ret(-EFAULT);
    if (long e = wrong_address_space(ctx, space, src, n)) {
        std::memset(reinterpret_cast<void*>(dst), 0, n);
        return ret(e);
    }
    return ret(read_memory(reinterpret_cast<void*>(dst), src, n));
}

uint64_t probe_read_str_common(uint64_t dst, uint64_t size, uint64_t src, ExecContext* ctx,
                               std::string_view name, AddressSpace space) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (!check_argument(ctx, name, "dst", dst, n, true)) return ret(-EFAULT);
    // A string's length is not known ahead: its first byte decides the space.
    if (long e = n == 0 ? 0 : wrong_address_space(ctx, space, src, 1)) {
        std::memset(reinterpret_cast<void*>(dst), 0, n);
        return ret(e);
    }
    return ret(read_string(reinterpret_cast<char*>(dst), src, n));
}

// ---- formats

// trace_printk's format: the bytes up to its zero, which must come within
// fmt_size bytes (Linux: strnchr). Read fault-safe, at most 64 KiB.
long copy_format(std::string& copy, uint64_t fmt, uint32_t fmt_size) {
    const size_t n = std::min<size_t>(fmt_size, 1 << 16);
    copy.assign(n, '\0');
    long r = read_string(copy.data(), fmt, n);
    if (r < 0) return -EFAULT;
    // r == n: cut (no zero within n bytes) unless the zero is the last byte read.
    if (static_cast<size_t>(r) == n && fmt_size > n) return -EINVAL;
    copy.resize(static_cast<size_t>(r));
    if (static_cast<size_t>(r) == n) {
        // read_string put a zero in the last byte; was it the string's own?
        char last = 0;
        if (read_memory(&last, fmt + n - 1, 1) < 0) return -EFAULT;
        if (last != 0) return -EINVAL;
    }
    return 0;
}

// ---- strtol / strtoul (kernel/bpf/helpers.c: __bpf_strtoull)

constexpr uint64_t kStrtoxBaseMask = 0x1f;

bool kernel_isspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }

// Returns the bytes consumed or a negative errno.
long strtoull_common(const char* buf, size_t buf_len, uint64_t flags, unsigned long long* res, bool* negative) {
    unsigned base = static_cast<unsigned>(flags & kStrtoxBaseMask);
    if (!buf || !buf_len) return -EINVAL;
    if (base != 0 && base != 8 && base != 10 && base != 16) return -EINVAL;
    if (flags & ~kStrtoxBaseMask) return -EINVAL;
    size_t i = 0;
    while (i < buf_len && kernel_isspace(static_cast<unsigned char>(buf[i]))) i++;
    *negative = i < buf_len && buf[i] == '-';
    if (*negative) i++;
    size_t consumed = i;
    if (consumed == buf_len) return -EINVAL;
    // At most 63 characters are looked at (Linux copies them into char[64]).
    char str[64];
    size_t len = std::min<size_t>(buf_len - consumed, sizeof str - 1);
    std::memcpy(str, buf + consumed, len);
    str[len] = 0;
    const char* s = str;
    // _parse_integer_fixup_radix
    auto lower = [](char c) { return static_cast<char>(c | 0x20); };
    if (base == 0) {
        if (s[0] == '0') {
            if (lower(s[1]) == 'x' && std::isxdigit(static_cast<unsigned char>(s[2]))) base = 16;
            else base = 8;
        } else {
            base = 10;
        }
    }
    if (base == 16 && s[0] == '0' && lower(s[1]) == 'x') s += 2;
    // _parse_integer
    unsigned long long v = 0;
    size_t digits = 0;
    bool overflow = false;
    for (;; s++) {
        unsigned c = static_cast<unsigned char>(*s), lc = c | 0x20, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (lc >= 'a' && lc <= 'f') d = lc - 'a' + 10;
        else break;
        if (d >= base) break;
        if (v & (~0ull << 60)) {
            if (v > (ULLONG_MAX - d) / base) overflow = true;
        }
        v = v * base + d;
        digits++;
    }
    if (overflow) return -ERANGE;
    if (digits == 0) return -EINVAL;
    *res = v;
    return static_cast<long>(consumed + static_cast<size_t>(s - str));
}

// ---- csum

uint32_t add32_with_carry(uint32_t a, uint32_t b) {
    uint64_t s = uint64_t(a) + b;
    return static_cast<uint32_t>(s + (s >> 32));
}
uint32_t csum_sub(uint32_t a, uint32_t b) { return add32_with_carry(a, ~b); }
uint32_t from32to16(uint32_t x) {
    x += (x >> 16) | (x << 16);
    return x >> 16;
}

} // namespace

uint32_t csum_partial(std::span<const uint8_t> data, uint32_t seed) {
    uint64_t sum = seed;
    auto add = [&](uint64_t v) {
        sum += v;
        if (sum < v) sum++; // end-around carry (adc)
    };
    size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, data.data() + i, 8);
        add(w);
    }
    if (i + 4 <= data.size()) {
        uint32_t w;
        std::memcpy(&w, data.data() + i, 4);
        add(w);
        i += 4;
    }
    if (i < data.size()) {
        uint64_t w = 0;
        std::memcpy(&w, data.data() + i, data.size() - i);
        add(w);
    }
    return add32_with_carry(static_cast<uint32_t>(sum >> 32), static_cast<uint32_t>(sum));
}

long csum_diff(const void* from, uint32_t from_size, const void* to, uint32_t to_size, uint32_t seed) {
    // Linux 6.1 refused sizes that are not multiples of 4 or more than 512 bytes
    // together (-EINVAL); since 6.12 any sizes are summed (docs/helpers.md).
    auto bytes = [](const void* p, uint32_t n) { return std::span<const uint8_t>(static_cast<const uint8_t*>(p), n); };
    uint32_t r;
    if (from_size && to_size) r = csum_sub(csum_partial(bytes(to, to_size), seed), csum_partial(bytes(from, from_size), 0));
    else if (to_size) r = csum_partial(bytes(to, to_size), seed);
    else r = ~csum_partial(bytes(from, from_size), ~seed);
    return static_cast<long>(from32to16(r));
}

namespace helpers {

uint64_t probe_read(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_common(dst, size, src, ctx, __func__, AddressSpace::Either);
}
uint64_t probe_read_user(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_common(dst, size, src, ctx, __func__, AddressSpace::User);
}
uint64_t probe_read_kernel(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_common(dst, size, src, ctx, __func__, AddressSpace::Kernel);
}
uint64_t probe_read_str(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_str_common(dst, size, src, ctx, __func__, AddressSpace::Either);
}
uint64_t probe_read_user_str(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_str_common(dst, size, src, ctx, __func__, AddressSpace::User);
}
uint64_t probe_read_kernel_str(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_str_common(dst, size, src, ctx, __func__, AddressSpace::Kernel);
}

uint64_t ktime_get_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return clock_ns(CLOCK_MONOTONIC);
}
uint64_t ktime_get_boot_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return clock_ns(CLOCK_BOOTTIME);
}
uint64_t ktime_get_coarse_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}
uint64_t ktime_get_tai_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return clock_ns(CLOCK_TAI);
}
uint64_t jiffies64(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    // INITIAL_JIFFIES on 64-bit: (unsigned long)(unsigned int)(-300 * HZ).
    constexpr uint64_t initial = static_cast<uint32_t>(-300 * static_cast<int64_t>(kJiffiesHz));
    return initial + clock_ns(CLOCK_MONOTONIC_COARSE) / (1'000'000'000ull / kJiffiesHz);
}

uint64_t get_prandom_u32(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    // xoshiro128** per thread, seeded from getrandom (Linux: per-CPU prandom).
    struct State {
        uint32_t s[4];
        State() {
            if (getrandom(s, sizeof s, 0) != sizeof s) {
                uint64_t x = clock_ns(CLOCK_MONOTONIC) ^ reinterpret_cast<uint64_t>(this) ^ uint64_t(gettid()) << 32;
                for (uint32_t& w : s) {
                    x += 0x9e3779b97f4a7c15ull;
                    uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
                    w = static_cast<uint32_t>(z ^ (z >> 31));
                }
            }
            if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
        }
    };
    thread_local State st;
    uint32_t* s = st.s;
    auto rotl = [](uint32_t x, int k) { return (x << k) | (x >> (32 - k)); };
    uint32_t result = rotl(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
}

uint64_t get_smp_processor_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return current_cpu();
}
uint64_t get_numa_node_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return 0; }

uint64_t get_current_pid_tgid(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(getpid())) << 32) | static_cast<uint32_t>(gettid());
}
uint64_t get_current_uid_gid(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return (static_cast<uint64_t>(getgid()) << 32) | getuid();
}
uint64_t get_current_comm(uint64_t buf, uint64_t size, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (n == 0 || !buf || !ARG(buf, n, true)) return ret(-EINVAL);
    char comm[17] = {};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    auto* out = reinterpret_cast<char*>(buf);
    size_t len = std::min<size_t>(std::strlen(comm), n - 1);
    std::memcpy(out, comm, len);
    std::memset(out + len, 0, n - len);
    return 0;
}

uint64_t copy_from_user(uint64_t dst, uint64_t size, uint64_t src, uint64_t, uint64_t, ExecContext* ctx) {
    return probe_read_common(dst, size, src, ctx, __func__, AddressSpace::User);
}

uint64_t get_ns_current_pid_tgid(uint64_t dev, uint64_t ino, uint64_t nsdata, uint64_t size, uint64_t,
                                 ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (!nsdata || !ARG(nsdata, n, true)) return ret(-EINVAL);
    struct stat st{};
    auto* out = reinterpret_cast<uint32_t*>(nsdata);
    // struct bpf_pidns_info { u32 pid; u32 tgid; }, for the pid namespace (dev, ino) names.
    if (n != 2 * sizeof(uint32_t) || stat("/proc/self/ns/pid", &st) != 0 || static_cast<uint64_t>(st.st_dev) != dev ||
        static_cast<uint64_t>(st.st_ino) != ino) {
        std::memset(out, 0, n);
        return ret(-EINVAL);
    }
    out[0] = static_cast<uint32_t>(gettid());
    out[1] = static_cast<uint32_t>(getpid());
    return 0;
}

uint64_t get_current_cgroup_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    // The cgroup v2 id is the inode number of the thread's cgroup directory.
    std::ifstream in("/proc/thread-self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.starts_with("0::")) continue;
        struct stat st{};
        if (stat(("/sys/fs/cgroup" + line.substr(3)).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_ino);
    }
    return 0;
}

uint64_t trace_printk(uint64_t fmt, uint64_t fmt_size, uint64_t a1, uint64_t a2, uint64_t a3, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(fmt_size);
    if (n == 0 || !ARG(fmt, n, false)) return ret(-EINVAL);
    std::string copy;
    if (long e = copy_format(copy, fmt, n)) return ret(e);
    const uint64_t args[FormatLimits::kMaxTracePrintkArgs] = {a1, a2, a3};
    std::string out;
    long len = bprintf(out, copy.data(), copy.size(), args, FormatLimits::kMaxTracePrintkArgs,
                       FormatLimits::kTraceBuffer - 1);
    if (len < 0) return ret(len);
    if (auto pipe = TracePipe::process_pipe()) pipe->write_printk(out);
    return ret(len);
}

uint64_t trace_vprintk(uint64_t fmt, uint64_t fmt_size, uint64_t data, uint64_t data_len, uint64_t,
                       ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(fmt_size), dl = static_cast<uint32_t>(data_len);
    if (dl % 8 || dl > FormatLimits::kMaxArgs * 8 || (dl && !data)) return ret(-EINVAL);
    if (n == 0 || !ARG(fmt, n, false) || !ARG(data, dl, false))
        return ret(-EINVAL);
    std::string copy;
    if (long e = copy_format(copy, fmt, n)) return ret(e);
    uint64_t args[FormatLimits::kMaxArgs] = {};
    if (read_memory(args, data, dl) < 0) return ret(-EFAULT);
    std::string out;
    long len = bprintf(out, copy.data(), copy.size(), args, dl / 8, FormatLimits::kTraceBuffer - 1);
    if (len < 0) return ret(len);
    if (auto pipe = TracePipe::process_pipe()) pipe->write_printk(out);
    return ret(len);
}

uint64_t snprintf(uint64_t str, uint64_t str_size, uint64_t fmt, uint64_t data, uint64_t data_len,
                  ExecContext* ctx) {
    const uint32_t size = static_cast<uint32_t>(str_size), dl = static_cast<uint32_t>(data_len);
    if (dl % 8 || dl > FormatLimits::kMaxArgs * 8 || (dl && !data)) return ret(-EINVAL);
    if ((size && !str) || !ARG(str, size, true) || !ARG(data, dl, false))
        return ret(-EFAULT);
    // The format: a zero-terminated string (Linux's verifier proves it is one).
    std::string copy;
    for (size_t chunk = 256;; chunk *= 2) {
        if (chunk > (1u << 20)) return ret(-EINVAL);
        copy.assign(chunk, '\0');
        long r = read_string(copy.data(), fmt, chunk);
        if (r < 0) return ret(-EFAULT);
        if (static_cast<size_t>(r) < chunk) { // the zero was found: r counts it
            copy.resize(static_cast<size_t>(r));
            break;
        }
    }
    if (!ARG(fmt, copy.size(), false)) return ret(-EFAULT);
    uint64_t args[FormatLimits::kMaxArgs] = {};
    if (read_memory(args, data, dl) < 0) return ret(-EFAULT);
    std::string out;
    long len = bprintf(out, copy.data(), copy.size(), args, dl / 8, size ? size - 1 : 0);
    if (len < 0) return ret(len);
    if (size) {
        auto* dst = reinterpret_cast<char*>(str);
        std::memcpy(dst, out.data(), out.size());
        dst[out.size()] = 0;
    }
    return ret(len + 1);
}

uint64_t strncmp(uint64_t s1, uint64_t s1_size, uint64_t s2, uint64_t, uint64_t, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(s1_size);
    if (!ARG(s1, n, false)) return ret(-EFAULT);
    const auto* a = reinterpret_cast<const unsigned char*>(s1);
    // s2 is read fault-safe, a piece at a time, never past its zero.
    char piece[257];
    for (uint64_t off = 0; off < n;) {
        const size_t len = static_cast<size_t>(std::min<uint64_t>(n - off, 256));
        if (read_string(piece, s2 + off, len + 1) < 0) return ret(-EFAULT);
        for (size_t i = 0; i < len; i++) {
            const unsigned char x = a[off + i], y = static_cast<unsigned char>(piece[i]);
            if (x != y) return x < y ? ret(-1) : 1;
            if (!x) return 0;
        }
        off += len;
    }
    return 0;
}

// bpf_strtol / bpf_strtoul: the argument checks (named after `helper`), the
// result zeroed first (Linux 6.11+: 0 unless a number is read), the parse;
// `convert` turns the digits and sign into the stored value or an error.
template <typename Convert>
uint64_t strtox(std::string_view helper, uint64_t buf, uint64_t buf_len, uint64_t flags, uint64_t res,
                ExecContext* ctx, Convert convert) {
    const uint32_t n = static_cast<uint32_t>(buf_len);
    if (!check_argument(ctx, helper, "buf", buf, n, false)) return ret(-EFAULT);
    if (!res || !check_argument(ctx, helper, "res", res, 8, true)) return ret(-EINVAL);
    std::memset(reinterpret_cast<void*>(res), 0, 8);
    unsigned long long v = 0;
    bool negative = false;
    long consumed = strtoull_common(reinterpret_cast<const char*>(buf), n, flags, &v, &negative);
    if (consumed < 0) return ret(consumed);
    uint64_t value = 0;
    if (long e = convert(v, negative, &value)) return ret(e);
    std::memcpy(reinterpret_cast<void*>(res), &value, 8);
    return ret(consumed);
}

uint64_t strtol(uint64_t buf, uint64_t buf_len, uint64_t flags, uint64_t res, uint64_t, ExecContext* ctx) {
    return strtox(__func__, buf, buf_len, flags, res, ctx, [](unsigned long long v, bool negative, uint64_t* out) -> long {
        const long long value = negative ? static_cast<long long>(0 - v) : static_cast<long long>(v);
        if (negative ? value > 0 : value < 0) return -ERANGE;
        *out = static_cast<uint64_t>(value);
        return 0;
    });
}

uint64_t strtoul(uint64_t buf, uint64_t buf_len, uint64_t flags, uint64_t res, uint64_t, ExecContext* ctx) {
    return strtox(__func__, buf, buf_len, flags, res, ctx, [](unsigned long long v, bool negative, uint64_t* out) -> long {
        if (negative) return -EINVAL;
        *out = v;
        return 0;
    });
}

uint64_t csum_diff(uint64_t from, uint64_t from_size, uint64_t to, uint64_t to_size, uint64_t seed,
                   ExecContext* ctx) {
    const uint32_t fs = static_cast<uint32_t>(from_size), ts = static_cast<uint32_t>(to_size);
    if ((fs && !from) || (ts && !to)) return ret(-EINVAL);
    if (!ARG(from, fs, false) || !ARG(to, ts, false)) return ret(-EFAULT);
    return ret(bpfvm::csum_diff(reinterpret_cast<const void*>(from), fs, reinterpret_cast<const void*>(to), ts,
                                static_cast<uint32_t>(seed)));
}

uint64_t spin_lock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (!lock || lock % 4 || !ARG(lock, 4, true)) return ret(-EINVAL);
    bpfvm::spin_lock(reinterpret_cast<void*>(lock));
    return 0;
}
uint64_t spin_unlock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (!lock || lock % 4 || !ARG(lock, 4, true)) return ret(-EINVAL);
    bpfvm::spin_unlock(reinterpret_cast<void*>(lock));
    return 0;
}

} // namespace helpers
} // namespace bpfvm
