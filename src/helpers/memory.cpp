// What helpers need from the run: fault-safe reads of this process's memory,
// the checked mode's rules for memory a helper touches or hands out, and
// calling back into the running program.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "bpfvm/helpers.h"

namespace bpfvm {
namespace {

// ---- fault-safe reads

constexpr size_t kPage = 4096;

// Reads [src, src+n) into dst with process_vm_readv on this process; true if
// every byte was read. A pipe is the fallback where the call is not allowed
// (seccomp): write(2) from a bad address fails with EFAULT too.
bool read_pipe(void* dst, uint64_t src, size_t n) {
    struct Pipe {
        int fds[2] = {-1, -1};
        ~Pipe() {
            if (fds[0] >= 0) close(fds[0]), close(fds[1]);
        }
    };
    thread_local Pipe p;
    int* fds = p.fds;
    if (fds[0] < 0 && pipe2(fds, O_CLOEXEC) != 0) return false;
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
        size_t chunk = std::min(n, kPage);
        ssize_t w = ::write(fds[1], reinterpret_cast<const void*>(src), chunk);
        if (w <= 0) return false;
        size_t got = 0;
        while (got < static_cast<size_t>(w)) {
            ssize_t r = ::read(fds[0], out + got, static_cast<size_t>(w) - got);
            if (r <= 0) return false;
            got += static_cast<size_t>(r);
        }
        out += w;
        src += static_cast<uint64_t>(w);
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_raw(void* dst, uint64_t src, size_t n) {
    if (n == 0) return true;
    if (src == 0 || src + n < src) return false;
    iovec local{dst, n};
    iovec remote{reinterpret_cast<void*>(src), n};
    // getpid() each time: a forked child must read its own memory, not its parent's.
    ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (r == static_cast<ssize_t>(n)) return true;
    if (r >= 0 || errno == EFAULT || errno == ESRCH) return false;
    // ENOSYS/EPERM: the call is filtered here.
    return read_pipe(dst, src, n);
}

thread_local FunctionCaller t_function_caller = nullptr;

} // namespace

long read_memory(void* dst, uint64_t src, size_t n) {
    if (read_raw(dst, src, n)) return 0;
    std::memset(dst, 0, n);
    return -EFAULT;
}

long read_string(char* dst, uint64_t src, size_t n) {
    if (n == 0) return 0;
    size_t done = 0;
    while (done < n) {
        uint64_t at = src + done;
        if (at < src) break; // wrapped around
        size_t chunk = std::min(n - done, static_cast<size_t>(kPage - (at % kPage)));
        if (!read_raw(dst + done, at, chunk)) break;
        if (auto* z = static_cast<char*>(std::memchr(dst + done, 0, chunk))) {
            // Nothing past the zero is left in dst (Linux does not copy junk after it).
            return static_cast<long>(z - dst) + 1;
        }
        done += chunk;
    }
    if (done == n) {
        dst[n - 1] = 0;
        return static_cast<long>(n);
    }
    std::memset(dst, 0, n);
    return -EFAULT;
}

ScopedFunctionCaller::ScopedFunctionCaller(FunctionCaller caller) : previous_(t_function_caller) {
    t_function_caller = caller;
}
ScopedFunctionCaller::~ScopedFunctionCaller() { t_function_caller = previous_; }

FunctionCaller function_caller(ExecContext* ctx) {
    if (ctx && ctx->call_function_fn) return ctx->call_function_fn;
    return t_function_caller;
}

bool program_may_access(ExecContext* ctx, uint64_t addr, uint64_t size, bool write) {
    if (!ctx || !ctx->checked || size == 0) return true;
    if (addr + size < addr) return false;
    return ctx->may_access(addr, size, write);
}

bool check_argument_checked(ExecContext* ctx, std::string_view helper, std::string_view what, uint64_t addr,
                            uint64_t size, bool write) {
    if (program_may_access(ctx, addr, size, write)) return true;
    ctx->fail(Error{fmt::format("bpf_{}: {} ({} byte{} at 0x{:x}) is not memory the program may {}", helper, what, size,
                                size == 1 ? "" : "s", addr, write ? "write" : "read"),
                    -1, 0, {}});
    return false;
}

bool expose_to_program(ExecContext* ctx, uint64_t addr, uint64_t size, bool writable, std::string_view name) {
    if (!ctx || !ctx->checked) return true;
    for (int i = 0; i < ctx->num_regions; i++) {
        const MemoryRegion& r = ctx->regions[i];
        if (addr >= r.begin && size <= r.size && addr - r.begin <= r.size - size && (r.writable || !writable))
            return true;
    }
    if (ctx->add_region(MemoryRegion{addr, size, writable, name})) return true;
    ctx->fail(Error{fmt::format("too many memory regions: a {} cannot be handed to the program, the run's {} are in use",
                                name, ctx->capacity),
                    -1, 0, {}});
    return false;
}

} // namespace bpfvm
