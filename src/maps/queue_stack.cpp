// queue, stack (kernel/bpf/queue_stack_maps.c) and bloom_filter
// (kernel/bpf/bloom_filter.c).
//
// queue/stack storage: (max_entries + 1) values in a ring; head, tail and a
// spin lock in the header. bloom_filter storage: the bit array, set with
// atomic or (lock-free).
#include <cerrno>

#include "internal.h"

namespace bpfvm::maps {

namespace {

struct QueueState {
    std::atomic<uint32_t> lock;
    uint32_t head; // next slot to write
    uint32_t tail; // oldest element
};

class QueueStackMap : public MapImpl {
public:
    void attach(bool) override {
        st_ = reinterpret_cast<QueueState*>(shared_->type_state);
        slots_ = storage();
        size_ = spec_.max_entries + 1;
        stack_ = spec_.type == BPF_MAP_TYPE_STACK;
    }

    std::string check_storage() const override {
        if (st_->head >= size_ || st_->tail >= size_) return "queue head or tail out of range";
        return {};
    }

    void* lookup(const void*) override { return nullptr; }
    long update(const void*, const void*, uint64_t) override { return -EINVAL; }
    long erase(const void*) override { return -EINVAL; }

    long push(const void* value, uint64_t flags) override {
        if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) return -EINVAL;
        WordLock g(st_->lock);
        if ((st_->head + 1) % size_ == st_->tail) {
            if (!(flags & BPF_EXIST)) return -E2BIG;
            st_->tail = (st_->tail + 1) % size_; // drop the oldest
        }
        memcpy(slot(st_->head), value, spec_.value_size);
        st_->head = (st_->head + 1) % size_;
        return 0;
    }
    // Program side: an empty queue or stack zeroes the value (Linux's
    // __queue_map_get / __stack_map_get), the bpf(2) side leaves it alone.
    long pop(void* value) override { return zero_if_empty(value, take(value, true)); }
    long peek(void* value) override { return zero_if_empty(value, take(value, false)); }

protected:
    long zero_if_empty(void* value, long r) const {
        if (r == -ENOENT) memset(value, 0, spec_.value_size);
        return r;
    }
    long take(void* value, bool remove) {
        WordLock g(st_->lock);
        if (st_->head == st_->tail) return -ENOENT;
        if (stack_) {
            uint32_t i = st_->head == 0 ? size_ - 1 : st_->head - 1;
            memcpy(value, slot(i), spec_.value_size);
            if (remove) st_->head = i;
        } else {
            memcpy(value, slot(st_->tail), spec_.value_size);
            if (remove) st_->tail = (st_->tail + 1) % size_;
        }
        return 0;
    }
    unsigned char* slot(uint32_t i) const { return slots_ + uint64_t(i) * spec_.value_size; }

    long do_sys_lookup(const void*, void* value, uint64_t) override { return take(value, false); }
    long do_sys_update(const void*, const void* value, uint64_t flags) override { return push(value, flags); }
    long do_sys_delete(const void*) override { return -EINVAL; }
    long do_sys_get_next_key(const void*, void*) override { return -EINVAL; }
    long do_sys_lookup_and_delete(const void*, void* value, uint64_t) override { return take(value, true); }

    QueueState* st_ = nullptr;
    unsigned char* slots_ = nullptr;
    uint32_t size_ = 1;
    bool stack_ = false;
};

struct BloomGeometry {
    uint32_t nr_hash_funcs;
    uint32_t bitset_mask;
    uint64_t bytes;
};

BloomGeometry bloom_geometry(const MapSpec& s) {
    BloomGeometry g{};
    g.nr_hash_funcs = uint32_t(s.map_extra & 0xF);
    if (g.nr_hash_funcs == 0) g.nr_hash_funcs = 5;
    // n * k / ln(2), with 7/5 for 1/ln(2), rounded up to a power of two
    // (at least 64 bits); 2^32 bits if that overflows (as Linux sizes it).
    uint64_t nr_bits = uint64_t(s.max_entries) * g.nr_hash_funcs;
    bool overflow = nr_bits > UINT32_MAX;
    if (!overflow) {
        nr_bits = nr_bits / 5 * 7;
        overflow = nr_bits > UINT32_MAX || nr_bits > (uint64_t(1) << 31);
    }
    if (overflow) {
        g.bitset_mask = UINT32_MAX;
    } else {
        if (nr_bits <= 64) nr_bits = 64;
        else nr_bits = roundup_pow_of_two(uint32_t(nr_bits));
        g.bitset_mask = uint32_t(nr_bits - 1);
    }
    g.bytes = (uint64_t(g.bitset_mask) + 1 + 63) / 64 * 8;
    return g;
}

class BloomFilterMap : public MapImpl {
public:
    void attach(bool) override {
        BloomGeometry g = bloom_geometry(spec_);
        nr_hash_funcs_ = g.nr_hash_funcs;
        mask_ = g.bitset_mask;
        bits_ = reinterpret_cast<std::atomic<uint64_t>*>(storage());
        seed_ = shared_->seed;
    }
    uint32_t bit(const void* value, uint32_t i) const { return jhash(value, spec_.value_size, seed_ + i) & mask_; }

    void* lookup(const void*) override { return nullptr; }
    long update(const void*, const void*, uint64_t) override { return -EINVAL; }
    long erase(const void*) override { return -EOPNOTSUPP; }
    long push(const void* value, uint64_t flags) override {
        if (flags != BPF_ANY) return -EINVAL;
        for (uint32_t i = 0; i < nr_hash_funcs_; i++) {
            uint32_t b = bit(value, i);
            bits_[b / 64].fetch_or(uint64_t(1) << (b % 64), std::memory_order_relaxed);
        }
        return 0;
    }
    long pop(void*) override { return -EOPNOTSUPP; }
    long peek(void* value) override {
        for (uint32_t i = 0; i < nr_hash_funcs_; i++) {
            uint32_t b = bit(value, i);
            if (!(bits_[b / 64].load(std::memory_order_relaxed) & (uint64_t(1) << (b % 64)))) return -ENOENT;
        }
        return 0;
    }

protected:
    // bpf(2) lookup on a bloom filter: the value is the input, tested by peek.
    long do_sys_lookup(const void*, void* value, uint64_t) override { return peek(value); }
    long do_sys_update(const void*, const void* value, uint64_t flags) override { return push(value, flags); }
    long do_sys_delete(const void*) override { return -EOPNOTSUPP; }
    long do_sys_get_next_key(const void*, void*) override { return -EOPNOTSUPP; }

    std::atomic<uint64_t>* bits_ = nullptr;
    uint32_t nr_hash_funcs_ = 5, mask_ = 63, seed_ = 0;
};

} // namespace

uint64_t bloom_storage(const MapSpec& spec) { return bloom_geometry(spec).bytes; }

std::unique_ptr<Map> make_queue_family(uint32_t type) {
    if (type == BPF_MAP_TYPE_BLOOM_FILTER) return std::make_unique<BloomFilterMap>();
    return std::make_unique<QueueStackMap>();
}

} // namespace bpfvm::maps
