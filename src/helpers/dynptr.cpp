// Dynamic pointers (struct bpf_dynptr, 16 bytes in the program's memory):
// bpf_dynptr_from_mem, bpf_dynptr_read/write/data and the ring buffer's
// reserve/submit/discard_dynptr, with Linux 6.1's layout and checks.
#include <cerrno>
#include <cstring>

#include "bpfvm/helpers.h"
#include "bpfvm/map.h"
#include "internal.h"

// Checks an argument of the helper this is used in (its name is __func__);
// the run fails when the program may not hand that memory over.
#define ARG(what, size, write) check_argument(ctx, __func__, #what, what, size, write)

namespace bpfvm {
namespace {

// Linux's struct bpf_dynptr_kern.
struct Dynptr {
    uint64_t data;
    uint32_t size; // bits 0-23 size, 28-30 type, 31 read-only
    uint32_t offset;
};
static_assert(sizeof(Dynptr) == 16);

constexpr uint32_t kMaxSize = (1u << 24) - 1;
constexpr uint32_t kSizeMask = 0xffffff;
constexpr uint32_t kTypeShift = 28;
constexpr uint32_t kReadOnly = 1u << 31;
constexpr uint32_t kTypeLocal = 1, kTypeRingbuf = 2; // enum bpf_dynptr_type

uint64_t ret(long v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

Dynptr* as_dynptr(uint64_t p) { return reinterpret_cast<Dynptr*>(p); }

void set_null(Dynptr* d) { std::memset(d, 0, sizeof *d); }

// -E2BIG unless [offset, offset+len) lies in the dynptr's bytes.
long check_off_len(const Dynptr* d, uint32_t offset, uint32_t len) {
    uint32_t size = d->size & kSizeMask;
    return (len > size || offset > size - len) ? -E2BIG : 0;
}

} // namespace

namespace helpers {

uint64_t dynptr_from_mem(uint64_t data, uint64_t size, uint64_t flags, uint64_t ptr, uint64_t, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (!ptr || !ARG(ptr, sizeof(Dynptr), true)) return ret(-EINVAL);
    Dynptr* d = as_dynptr(ptr);
    long err = n > kMaxSize ? -E2BIG : flags ? -EINVAL : 0;
    // The memory must be the program's to read and write (checked mode).
    if (!err && !ARG(data, n, true)) err = -EINVAL;
    if (err) {
        set_null(d);
        return ret(err);
    }
    *d = Dynptr{data, n | (kTypeLocal << kTypeShift), 0};
    return 0;
}

uint64_t dynptr_read(uint64_t dst, uint64_t len, uint64_t src, uint64_t offset, uint64_t flags, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(len), off = static_cast<uint32_t>(offset);
    if (!src || !ARG(src, sizeof(Dynptr), false)) return ret(-EINVAL);
    const Dynptr* d = as_dynptr(src);
    if (!d->data || flags) return ret(-EINVAL);
    if (long err = check_off_len(d, off, n)) return ret(err);
    const uint64_t from = d->data + d->offset + off;
    if (!ARG(dst, n, true) || !ARG(from, n, false)) return ret(-EFAULT);
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(from), n);
    return 0;
}

uint64_t dynptr_write(uint64_t dst, uint64_t offset, uint64_t src, uint64_t len, uint64_t flags, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(len), off = static_cast<uint32_t>(offset);
    if (!dst || !ARG(dst, sizeof(Dynptr), false)) return ret(-EINVAL);
    const Dynptr* d = as_dynptr(dst);
    if (!d->data || flags || (d->size & kReadOnly)) return ret(-EINVAL);
    if (long err = check_off_len(d, off, n)) return ret(err);
    const uint64_t to = d->data + d->offset + off;
    if (!ARG(to, n, true) || !ARG(src, n, false)) return ret(-EFAULT);
    std::memmove(reinterpret_cast<void*>(to), reinterpret_cast<const void*>(src), n);
    return 0;
}

uint64_t dynptr_data(uint64_t ptr, uint64_t offset, uint64_t len, uint64_t, uint64_t, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(len), off = static_cast<uint32_t>(offset);
    if (!ptr || !ARG(ptr, sizeof(Dynptr), false)) return 0;
    const Dynptr* d = as_dynptr(ptr);
    if (!d->data || check_off_len(d, off, n) || (d->size & kReadOnly)) return 0;
    const uint64_t p = d->data + d->offset + off;
    return ARG(p, n, true) ? p : 0;
}

uint64_t ringbuf_reserve_dynptr(uint64_t map, uint64_t size, uint64_t flags, uint64_t ptr, uint64_t,
                                ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(size);
    if (!ptr || !ARG(ptr, sizeof(Dynptr), true)) return ret(-EINVAL);
    Dynptr* d = as_dynptr(ptr);
    Map* m = reinterpret_cast<Map*>(map);
    long err = flags ? -EINVAL : n > kMaxSize ? -E2BIG : !m ? -EINVAL : 0;
    void* rec = err ? nullptr : m->ringbuf_reserve(n, 0);
    if (!err && !rec) err = -EINVAL;
    if (!err && !expose_to_program(ctx, reinterpret_cast<uint64_t>(rec), n, true, kRingbufRecordRegion)) {
        Map::ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
        err = -EINVAL;
    }
    if (err) {
        set_null(d);
        return ret(err);
    }
    *d = Dynptr{reinterpret_cast<uint64_t>(rec), n | (kTypeRingbuf << kTypeShift), 0};
    return 0;
}

namespace {
uint64_t release_dynptr(uint64_t ptr, uint64_t flags, ExecContext* ctx, bool discard) {
    const char* name = discard ? "ringbuf_discard_dynptr" : "ringbuf_submit_dynptr";
    if (!ptr || !check_argument(ctx, name, "ptr", ptr, sizeof(Dynptr), true)) return ret(-EINVAL);
    Dynptr* d = as_dynptr(ptr);
    if (!d->data) return 0;
    if (((d->size >> kTypeShift) & 7) != kTypeRingbuf || !take_back_record(ctx, d->data, name)) return ret(-EINVAL);
    if (discard) Map::ringbuf_discard(reinterpret_cast<void*>(d->data), flags);
    else Map::ringbuf_submit(reinterpret_cast<void*>(d->data), flags);
    set_null(d);
    return 0;
}
} // namespace

uint64_t ringbuf_submit_dynptr(uint64_t ptr, uint64_t flags, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    return release_dynptr(ptr, flags, ctx, false);
}
uint64_t ringbuf_discard_dynptr(uint64_t ptr, uint64_t flags, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    return release_dynptr(ptr, flags, ctx, true);
}

} // namespace helpers
} // namespace bpfvm
