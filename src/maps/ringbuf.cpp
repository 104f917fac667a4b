// ringbuf (kernel/bpf/ringbuf.c) and its consumer (libbpf's ring_buffer).
//
// Storage after the header page: the consumer page (consumer_pos), the
// producer page (producer_pos, the producers' lock), then the data area of
// max_entries bytes, which is mapped twice in a row so a record that wraps is
// contiguous (as Linux maps it). Records: an 8-byte header { u32 len with
// BPF_RINGBUF_BUSY_BIT / BPF_RINGBUF_DISCARD_BIT, u32 pg_off }, then the data,
// 8-byte aligned: libbpf's format. pg_off is the distance in pages from the map's
// mapping to the record's page, so submit/discard find the ring from the record.
// Wake-ups: a sequence word in the header the consumer futex-waits on.
#include <poll.h>

#include <cerrno>
#include <chrono>

#include "internal.h"

namespace bpfvm {

using namespace maps;

namespace maps {
namespace {

struct RingPages {
    std::atomic<uint64_t>* consumer_pos;
    std::atomic<uint64_t>* producer_pos;
    std::atomic<uint32_t>* lock;
    unsigned char* data;
    uint64_t mask;
};

struct RingWake {
    std::atomic<uint32_t> seq;
    std::atomic<uint32_t> waiters;
};

RingPages ring_pages(void* base, uint32_t max_entries) {
    auto* b = static_cast<unsigned char*>(base);
    RingPages p;
    p.consumer_pos = reinterpret_cast<std::atomic<uint64_t>*>(b + kHeaderSize);
    p.producer_pos = reinterpret_cast<std::atomic<uint64_t>*>(b + kHeaderSize + kPage);
    p.lock = reinterpret_cast<std::atomic<uint32_t>*>(b + kHeaderSize + kPage + 64);
    p.data = b + kHeaderSize + 2 * kPage;
    p.mask = max_entries - 1;
    return p;
}

RingWake* ring_wake(void* base) { return reinterpret_cast<RingWake*>(static_cast<Map::Shared*>(base)->type_state); }

void wake(void* base) {
    RingWake* w = ring_wake(base);
    w->seq.fetch_add(1, std::memory_order_acq_rel);
    if (w->waiters.load(std::memory_order_acquire)) futex_wake(&w->seq);
}

constexpr uint64_t kMaxRecord = UINT32_MAX >> 2;

class RingBufMap : public MapImpl {
public:
    void attach(bool) override { pages_ = ring_pages(base_, spec_.max_entries); }
    std::string check_storage() const override {
        uint64_t cons = pages_.consumer_pos->load(), prod = pages_.producer_pos->load();
        if (prod < cons || prod - cons > pages_.mask + 1 || prod % 8 || cons % 8)
            return "ring positions impossible (consumer " + std::to_string(cons) + ", producer " +
                   std::to_string(prod) + ")";
        return {};
    }

    void* lookup(const void*) override { return nullptr; }
    long update(const void*, const void*, uint64_t) override { return -kENOTSUPP; }
    long erase(const void*) override { return -kENOTSUPP; }

    void* ringbuf_reserve(uint64_t size, uint64_t flags) override {
        if (flags) return nullptr;
        if (size > kMaxRecord) return nullptr;
        uint64_t len = round_up(size + BPF_RINGBUF_HDR_SZ, 8);
        if (len > pages_.mask + 1) return nullptr;
        uint64_t cons = pages_.consumer_pos->load(std::memory_order_acquire);
        WordLock g(*pages_.lock);
        uint64_t prod = pages_.producer_pos->load(std::memory_order_relaxed);
        uint64_t next = prod + len;
        if (next - cons > pages_.mask) return nullptr;
        unsigned char* hdr = pages_.data + (prod & pages_.mask);
        uint32_t pg_off = uint32_t((uintptr_t(hdr) / kPage * kPage - uintptr_t(base_)) / kPage);
        reinterpret_cast<std::atomic<uint32_t>*>(hdr)->store(uint32_t(size) | BPF_RINGBUF_BUSY_BIT,
                                                             std::memory_order_relaxed);
        memcpy(hdr + 4, &pg_off, 4);
        pages_.producer_pos->store(next, std::memory_order_release);
        return hdr + BPF_RINGBUF_HDR_SZ;
    }

    long ringbuf_output(const void* data, uint64_t size, uint64_t flags) override {
        if (flags & ~uint64_t(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) return -EINVAL;
        void* rec = ringbuf_reserve(size, 0);
        if (!rec) return -EAGAIN;
        memcpy(rec, data, size);
        Map::ringbuf_submit(rec, flags);
        return 0;
    }

    uint64_t ringbuf_query(uint64_t flags) override {
        uint64_t cons = pages_.consumer_pos->load(std::memory_order_acquire);
        uint64_t prod = pages_.producer_pos->load(std::memory_order_acquire);
        switch (flags) {
        case BPF_RB_AVAIL_DATA: return prod - cons;
        case BPF_RB_RING_SIZE: return pages_.mask + 1;
        case BPF_RB_CONS_POS: return cons;
        case BPF_RB_PROD_POS: return prod;
        default: return 0;
        }
    }

protected:
    long do_sys_lookup(const void*, void*, uint64_t) override { return -kENOTSUPP; }
    long do_sys_get_next_key(const void*, void*) override { return -kENOTSUPP; }

    RingPages pages_{};
};

void commit(void* record, uint64_t flags, bool discard) {
    auto* hdr = static_cast<unsigned char*>(record) - BPF_RINGBUF_HDR_SZ;
    uint32_t pg_off;
    memcpy(&pg_off, hdr + 4, 4);
    void* base = reinterpret_cast<void*>(uintptr_t(hdr) / kPage * kPage - uint64_t(pg_off) * kPage);
    auto* shared = static_cast<Map::Shared*>(base);
    RingPages p = ring_pages(base, shared->max_entries);
    auto* len = reinterpret_cast<std::atomic<uint32_t>*>(hdr);
    uint32_t new_len = len->load(std::memory_order_relaxed) & ~uint32_t(BPF_RINGBUF_BUSY_BIT);
    if (discard) new_len |= BPF_RINGBUF_DISCARD_BIT;
    len->exchange(new_len, std::memory_order_acq_rel);
    uint64_t rec_pos = uint64_t(hdr - p.data) & p.mask;
    uint64_t cons = p.consumer_pos->load(std::memory_order_acquire) & p.mask;
    if (flags & BPF_RB_FORCE_WAKEUP) wake(base);
    else if (cons == rec_pos && !(flags & BPF_RB_NO_WAKEUP)) wake(base);
}

} // namespace
} // namespace maps

void Map::ringbuf_submit(void* record, uint64_t flags) { commit(record, flags, false); }
void Map::ringbuf_discard(void* record, uint64_t flags) { commit(record, flags, true); }

namespace maps {
std::unique_ptr<Map> make_ringbuf() { return std::make_unique<RingBufMap>(); }
} // namespace maps

// ---------------------------------------------------------------------------
// The consumer.

struct RingBufferReader::Ring {
    std::shared_ptr<Map> map;
    Callback callback;
    RingPages pages;
    RingWake* wake;
};

RingBufferReader::RingBufferReader() = default;
RingBufferReader::~RingBufferReader() = default;

Result<void> RingBufferReader::add(std::shared_ptr<Map> ringbuf, Callback callback) {
    if (!ringbuf || ringbuf->type() != BPF_MAP_TYPE_RINGBUF)
        return make_error("RingBufferReader: the map is not a ringbuf");
    auto r = std::make_unique<Ring>();
    r->pages = ring_pages(ringbuf->mapping(), ringbuf->max_entries());
    r->wake = ring_wake(ringbuf->mapping());
    r->map = std::move(ringbuf);
    r->callback = std::move(callback);
    rings_.push_back(std::move(r));
    return {};
}

namespace {

long consume_ring(RingBufferReader::Callback& cb, const RingPages& p) {
    long count = 0;
    uint64_t cons = p.consumer_pos->load(std::memory_order_acquire);
    for (;;) {
        bool progress = false;
        uint64_t prod = p.producer_pos->load(std::memory_order_acquire);
        while (cons < prod) {
            auto* hdr = p.data + (cons & p.mask);
            uint32_t len = reinterpret_cast<std::atomic<uint32_t>*>(hdr)->load(std::memory_order_acquire);
            if (len & BPF_RINGBUF_BUSY_BIT) return count;
            progress = true;
            uint32_t size = len & ~uint32_t(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
            // A record cannot extend past what the producers reserved (a
            // damaged ring in a shared file): stop rather than read beyond it.
            if (uint64_t(size) + BPF_RINGBUF_HDR_SZ > prod - cons) return count ? count : -EINVAL;
            cons += round_up(uint64_t(size) + BPF_RINGBUF_HDR_SZ, 8);
            if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
                int err = cb ? cb(hdr + BPF_RINGBUF_HDR_SZ, size) : 0;
                if (err < 0) {
                    p.consumer_pos->store(cons, std::memory_order_release);
                    return err;
                }
                count++;
            }
            p.consumer_pos->store(cons, std::memory_order_release);
        }
        if (!progress) return count;
    }
}

bool ring_has_data(const RingPages& p) {
    return p.producer_pos->load(std::memory_order_acquire) != p.consumer_pos->load(std::memory_order_acquire);
}

} // namespace

long RingBufferReader::consume() {
    long total = 0;
    for (auto& r : rings_) {
        long n = consume_ring(r->callback, r->pages);
        if (n < 0) return n;
        total += n;
    }
    return total;
}

long RingBufferReader::poll(int timeout_ms) {
    if (rings_.empty()) return -EINVAL;
    for (auto& r : rings_)
        if (ring_has_data(r->pages)) return consume();
    // Wait on the first ring's sequence word; with several rings, wake up
    // at least every 10 ms to look at the others.
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        int wait = timeout_ms;
        if (timeout_ms >= 0) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                          .count();
            wait = int(std::max<long>(0, timeout_ms - ms));
        }
        if (rings_.size() > 1 && (wait < 0 || wait > 10)) wait = 10;
        RingWake* w = rings_[0]->wake;
        uint32_t seq = w->seq.load(std::memory_order_acquire);
        w->waiters.fetch_add(1, std::memory_order_acq_rel);
        bool ready = false;
        for (auto& r : rings_) ready = ready || ring_has_data(r->pages);
        if (!ready) futex_wait(&w->seq, seq, wait);
        w->waiters.fetch_sub(1, std::memory_order_acq_rel);
        for (auto& r : rings_)
            if (ring_has_data(r->pages)) return consume();
        if (timeout_ms >= 0) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                          .count();
            if (ms >= timeout_ms) return 0;
        }
    }
}

} // namespace bpfvm
