// perf_event_array for bpf_perf_event_output, and its consumer (libbpf's
// perf_buffer).
//
// Linux stores perf event fds, one per CPU, each with its own ring. bpfvm's map
// carries the rings itself: slot i (i < max_entries) has a control block and a
// buffer of MapOptions::perf_buffer_size bytes in the map's mapping. A slot
// receives output once it is enabled: a userspace update of index i (any u32
// value; PerfBufferReader::create enables them all). Records are
// { u32 size, u32 0 } then the data (Linux's raw sample: the program's bytes
// zero-padded to round_up(n + 4, 8) - 4), padded to 8 bytes; a record that does not
// fit is dropped and counted (PERF_RECORD_LOST for the reader).
#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "internal.h"

namespace bpfvm {

using namespace maps;

namespace maps {
namespace {

struct PerfSlot {
    std::atomic<uint32_t> lock;
    std::atomic<uint32_t> enabled; // the "fd" a userspace update stored, +1; 0 = none
    std::atomic<uint64_t> head;    // bytes written
    std::atomic<uint64_t> tail;    // bytes read
    std::atomic<uint64_t> lost;
    unsigned char pad[64 - 32];
};
static_assert(sizeof(PerfSlot) == 64);

struct PerfWake {
    std::atomic<uint32_t> seq;
    std::atomic<uint32_t> waiters;
};

struct PerfLayout {
    uint64_t stride;
    uint32_t buffer;
};

PerfLayout perf_layout(uint32_t buffer) { return {sizeof(PerfSlot) + uint64_t(buffer), buffer}; }

PerfSlot* perf_slot(void* base, uint32_t buffer, uint32_t i) {
    return reinterpret_cast<PerfSlot*>(static_cast<unsigned char*>(base) + kHeaderSize +
                                       uint64_t(i) * perf_layout(buffer).stride);
}

void ring_write(unsigned char* ring, uint32_t size, uint64_t pos, const void* src, uint64_t n) {
    if (n == 0) return;
    uint64_t off = pos & (size - 1);
    uint64_t first = std::min<uint64_t>(n, size - off);
    memcpy(ring + off, src, first);
    if (first < n) memcpy(ring, static_cast<const unsigned char*>(src) + first, n - first);
}

void ring_read(const unsigned char* ring, uint32_t size, uint64_t pos, void* dst, uint64_t n) {
    uint64_t off = pos & (size - 1);
    uint64_t first = std::min<uint64_t>(n, size - off);
    memcpy(dst, ring + off, first);
    if (first < n) memcpy(static_cast<unsigned char*>(dst) + first, ring, n - first);
}

class PerfEventArrayMap : public MapImpl {
public:
    void attach(bool) override {
        buffer_ = shared_->param;
        wake_ = reinterpret_cast<PerfWake*>(shared_->type_state);
    }
    PerfSlot* slot(uint32_t i) const { return perf_slot(base_, buffer_, i); }
    std::string check_storage() const override {
        for (uint32_t i = 0; i < spec_.max_entries; i++) {
            uint64_t h = slot(i)->head.load(), t = slot(i)->tail.load();
            if (h < t || h - t > buffer_) return "perf buffer " + std::to_string(i) + ": positions impossible";
        }
        return {};
    }

    void* lookup(const void*) override { return nullptr; }
    long update(const void*, const void*, uint64_t) override { return -EINVAL; }
    long erase(const void*) override { return -EINVAL; }

    long perf_event_output(uint64_t flags, const void* data, uint64_t size, std::span<const uint8_t> tail) override {
        if (flags & ~uint64_t(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK)) return -EINVAL;
        uint64_t index = flags & BPF_F_INDEX_MASK;
        // The calling thread's slot, as per-CPU maps choose theirs; slot i's
        // "event" is on CPU i, so only that slot takes the thread's output.
        const uint32_t cpu = cpu_slot(spec_.max_entries);
        if (index == BPF_F_CURRENT_CPU) index = cpu;
        if (index >= spec_.max_entries) return -E2BIG;
        PerfSlot* s = slot(uint32_t(index));
        if (!s->enabled.load(std::memory_order_acquire)) return -ENOENT;
        if (index != cpu) return -EOPNOTSUPP;
        // Linux's raw sample: u32 size, then size bytes, 8-byte aligned together.
        const uint64_t raw = round_up(size + tail.size() + 4, 8) - 4;
        if (raw > UINT32_MAX) return -E2BIG;
        uint64_t len = 8 + round_up(raw, 8);
        {
            WordLock g(s->lock);
            uint64_t head = s->head.load(std::memory_order_relaxed);
            uint64_t tail_pos = s->tail.load(std::memory_order_acquire);
            if (len > buffer_ - (head - tail_pos)) {
                s->lost.fetch_add(1, std::memory_order_relaxed);
                return -ENOSPC;
            }
            unsigned char* ring = reinterpret_cast<unsigned char*>(s + 1);
            uint32_t hdr[2] = {uint32_t(raw), 0};
            ring_write(ring, buffer_, head, hdr, 8);
            ring_write(ring, buffer_, head + 8, data, size);
            ring_write(ring, buffer_, head + 8 + size, tail.data(), tail.size());
            static constexpr unsigned char kZeros[8] = {};
            ring_write(ring, buffer_, head + 8 + size + tail.size(), kZeros, raw - size - tail.size());
            s->head.store(head + len, std::memory_order_release);
        }
        wake_->seq.fetch_add(1, std::memory_order_acq_rel);
        if (wake_->waiters.load(std::memory_order_acquire)) futex_wake(&wake_->seq);
        return 0;
    }

protected:
    long do_sys_lookup(const void*, void*, uint64_t) override { return -kENOTSUPP; }
    long do_sys_update(const void* key, const void* value, uint64_t flags) override {
        uint32_t index, v;
        memcpy(&index, key, 4);
        memcpy(&v, value, 4);
        if (flags != BPF_ANY) return -EINVAL;
        if (index >= spec_.max_entries) return -E2BIG;
        slot(index)->enabled.store(v + 1, std::memory_order_release);
        return 0;
    }
    long do_sys_delete(const void* key) override {
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return -E2BIG;
        return slot(index)->enabled.exchange(0, std::memory_order_acq_rel) ? 0 : -ENOENT;
    }
    long do_sys_get_next_key(const void* key, void* next_key) override {
        uint32_t index = UINT32_MAX;
        if (key) memcpy(&index, key, 4);
        uint32_t next;
        if (index >= spec_.max_entries) next = 0;
        else if (index == spec_.max_entries - 1) return -ENOENT;
        else next = index + 1;
        memcpy(next_key, &next, 4);
        return 0;
    }

    uint32_t buffer_ = 4096;
    PerfWake* wake_ = nullptr;
};

} // namespace

uint64_t perf_storage(const MapSpec& spec, uint32_t buffer_size) {
    return perf_layout(buffer_size).stride * spec.max_entries;
}

std::unique_ptr<Map> make_perf_event_array() { return std::make_unique<PerfEventArrayMap>(); }

} // namespace maps

Result<std::unique_ptr<PerfBufferReader>> PerfBufferReader::create(std::shared_ptr<Map> map, SampleCallback sample,
                                                                   LostCallback lost) {
    if (!map || map->type() != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
        return make_error("PerfBufferReader: the map is not a perf_event_array");
    for (uint32_t i = 0; i < map->max_entries(); i++) {
        long r = map->sys_update(&i, &i, BPF_ANY);
        if (r) return make_error(fmt::format("{}: PerfBufferReader: enabling slot {}", errno_name(r), i));
    }
    std::unique_ptr<PerfBufferReader> reader(new PerfBufferReader());
    reader->map_ = std::move(map);
    reader->sample_ = std::move(sample);
    reader->lost_ = std::move(lost);
    return reader;
}

PerfBufferReader::~PerfBufferReader() = default;

long PerfBufferReader::consume() {
    uint32_t buffer = map_->shared_->param;
    long n = 0;
    std::vector<unsigned char> rec;
    for (uint32_t i = 0; i < map_->max_entries(); i++) {
        PerfSlot* s = perf_slot(map_->mapping(), buffer, i);
        const unsigned char* ring = reinterpret_cast<const unsigned char*>(s + 1);
        uint64_t tail = s->tail.load(std::memory_order_relaxed);
        uint64_t head = s->head.load(std::memory_order_acquire);
        while (tail < head) {
            uint32_t hdr[2];
            ring_read(ring, buffer, tail, hdr, 8);
            if (uint64_t(hdr[0]) + 8 > head - tail) { // damaged: drop what is left
                s->tail.store(head, std::memory_order_release);
                break;
            }
            rec.resize(hdr[0]);
            ring_read(ring, buffer, tail + 8, rec.data(), hdr[0]);
            tail += 8 + round_up(hdr[0], 8);
            s->tail.store(tail, std::memory_order_release);
            if (sample_) sample_(i, rec.data(), rec.size());
            n++;
        }
        uint64_t lost = s->lost.exchange(0, std::memory_order_acq_rel);
        if (lost && lost_) lost_(i, lost);
    }
    return n;
}

long PerfBufferReader::poll(int timeout_ms) {
    auto* w = reinterpret_cast<PerfWake*>(map_->shared_->type_state);
    auto pending = [&] {
        uint32_t buffer = map_->shared_->param;
        for (uint32_t i = 0; i < map_->max_entries(); i++) {
            PerfSlot* s = perf_slot(map_->mapping(), buffer, i);
            if (s->head.load(std::memory_order_acquire) != s->tail.load(std::memory_order_relaxed) ||
                s->lost.load(std::memory_order_relaxed))
                return true;
        }
        return false;
    };
    if (pending()) return consume();
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        uint32_t seq = w->seq.load(std::memory_order_acquire);
        w->waiters.fetch_add(1, std::memory_order_acq_rel);
        int wait = timeout_ms;
        if (!pending()) {
            if (timeout_ms >= 0) {
                auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                 start)
                              .count();
                wait = int(std::max<long>(0, timeout_ms - ms));
            }
            futex_wait(&w->seq, seq, wait);
        }
        w->waiters.fetch_sub(1, std::memory_order_acq_rel);
        if (pending()) return consume();
        if (timeout_ms >= 0) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                          .count();
            if (ms >= timeout_ms) return 0;
        }
    }
}

} // namespace bpfvm
