// hash, percpu_hash, lru_hash, lru_percpu_hash, hash_of_maps
// (kernel/bpf/hashtab.c, bpf_lru_list.c). Layout and concurrency: hash.h.
//
// LRU: Linux keeps active/inactive lists with a reference bit that lookups set.
// bpfvm keeps the reference bit and replaces the lists by a clock over the
// preallocated elements: when no element is free, the hand sweeps, clearing
// reference bits, and evicts the first element not referenced since its last
// pass. BPF_F_NO_COMMON_LRU is accepted (and max_entries rounded to a multiple
// of the slot count as Linux does); the clock is shared.
#include <cerrno>
#include <vector>

#include "hash.h"

namespace bpfvm::maps {

bool inner_map_compatible(const MapSpec& tmpl, const MapSpec& m); // array.cpp

HashGeometry hash_geometry(const MapSpec& spec, uint32_t nr_cpus) {
    HashGeometry g{};
    bool lru = spec.type == BPF_MAP_TYPE_LRU_HASH || spec.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    bool percpu = spec.type == BPF_MAP_TYPE_PERCPU_HASH || spec.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    g.n_buckets = roundup_pow_of_two(spec.max_entries);
    // Spare elements let an update replace a key of a full map (Linux: extra
    // per-CPU elements); LRU maps evict instead.
    g.n_elems = lru ? spec.max_entries : spec.max_entries + 64 + std::min<uint32_t>(spec.max_entries, 1024);
    g.key_area = uint32_t(round_up(spec.key_size, 8));
    g.value_area = uint32_t(round_up(spec.value_size, 8)) * (percpu ? nr_cpus : 1);
    // lpm_trie keeps the key as given after the value (get_next_key returns it).
    if (spec.type == BPF_MAP_TYPE_LPM_TRIE) g.value_area += g.key_area;
    g.elem_size = uint32_t(sizeof(HashElem)) + g.key_area + g.value_area;
    g.buckets_off = 0;
    g.elems_off = round_up(uint64_t(g.n_buckets) * sizeof(HashBucket), 64);
    g.ring_off = g.elems_off + uint64_t(g.n_elems) * g.elem_size;
    g.end = g.ring_off + uint64_t(g.n_elems) * 4;
    return g;
}

uint64_t hash_storage(const MapSpec& spec, uint32_t nr_cpus) { return hash_geometry(spec, nr_cpus).end; }

void HashMap::attach(bool fresh) {
    static_assert(sizeof(HashState) <= sizeof(Shared::type_state));
    state_ = reinterpret_cast<HashState*>(shared_->type_state);
    HashGeometry g = hash_geometry(spec_, nr_cpus_);
    buckets_ = reinterpret_cast<HashBucket*>(storage() + g.buckets_off);
    elems_ = storage() + g.elems_off;
    ring_ = reinterpret_cast<uint32_t*>(storage() + g.ring_off);
    n_buckets_ = g.n_buckets;
    n_elems_ = g.n_elems;
    key_size_ = spec_.key_size;
    key_area_ = g.key_area;
    elem_size_ = g.elem_size;
    value_stride_ = uint32_t(round_up(spec_.value_size, 8));
    seed_ = shared_->seed;
    percpu_ = spec_.type == BPF_MAP_TYPE_PERCPU_HASH || spec_.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    lru_ = spec_.type == BPF_MAP_TYPE_LRU_HASH || spec_.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    of_maps_ = spec_.type == BPF_MAP_TYPE_HASH_OF_MAPS;
    if (of_maps_) {
        inner_ptrs_ = std::vector<std::atomic<Map*>>(n_elems_);
        inner_refs_.resize(n_elems_);
    }
    if (fresh) {
        state_->n_buckets = n_buckets_;
        state_->n_elems = n_elems_;
        for (uint32_t i = 0; i < n_buckets_; i++) buckets_[i].head.store(kNulls | i, std::memory_order_relaxed);
        for (uint32_t i = 0; i < n_elems_; i++) ring_[i] = i;
        state_->free_head = 0;
        state_->free_tail = n_elems_;
    }
}

std::string HashMap::check_storage() const {
    if (state_->n_buckets != n_buckets_ || state_->n_elems != n_elems_) return "hash geometry differs from the header";
    if (state_->free_tail - state_->free_head > n_elems_) return "free list cursors out of range";
    if (state_->count.load() > spec_.max_entries) return "element count above max_entries";
    // Every chain: indices in range, ends at its own bucket's marker, no cycle.
    uint64_t seen = 0;
    for (uint32_t b = 0; b < n_buckets_; b++) {
        uint32_t n = buckets_[b].head.load(std::memory_order_relaxed);
        uint64_t steps = 0;
        while (!(n & kNulls)) {
            if (n >= n_elems_) return "bucket " + std::to_string(b) + ": element index out of range";
            if (++steps > n_elems_) return "bucket " + std::to_string(b) + ": chain loops";
            n = elem(n)->next.load(std::memory_order_relaxed);
        }
        if ((n & ~kNulls) != b) return "bucket " + std::to_string(b) + ": chain ends in another bucket";
        seen += steps;
    }
    if (seen > n_elems_) return "more chained elements than elements";
    for (uint64_t i = state_->free_head; i != state_->free_tail; i++)
        if (ring_[i % n_elems_] >= n_elems_) return "free list: element index out of range";
    return {};
}

HashElem* HashMap::find(const void* key, uint32_t h) const {
    uint32_t bi = h & (n_buckets_ - 1);
    const HashBucket& b = buckets_[bi];
again:
    uint32_t n = b.head.load(std::memory_order_acquire);
    while (!(n & kNulls)) {
        HashElem* e = elem(n);
        if (e->hash.load(std::memory_order_relaxed) == h && key_equal(e, key)) return e;
        n = e->next.load(std::memory_order_acquire);
    }
    if ((n & ~kNulls) != bi) goto again; // followed a reused element into another chain
    return nullptr;
}

uint32_t HashMap::find_locked(HashBucket& b, const void* key, uint32_t h, uint32_t* prev) const {
    uint32_t p = UINT32_MAX;
    uint32_t n = b.head.load(std::memory_order_relaxed);
    while (!(n & kNulls)) {
        HashElem* e = elem(n);
        if (e->hash.load(std::memory_order_relaxed) == h && key_equal(e, key)) {
            if (prev) *prev = p;
            return n;
        }
        p = n;
        n = e->next.load(std::memory_order_relaxed);
    }
    return UINT32_MAX;
}

void HashMap::unlink_locked(HashBucket& b, uint32_t prev, uint32_t idx) {
    uint32_t next = elem(idx)->next.load(std::memory_order_relaxed);
    if (prev == UINT32_MAX) b.head.store(next, std::memory_order_release);
    else elem(prev)->next.store(next, std::memory_order_release);
    // idx keeps its next: readers standing on it continue down the chain.
}

uint32_t HashMap::alloc_elem() {
    {
        WordLock g(state_->free_lock);
        if (state_->free_head != state_->free_tail) {
            uint32_t idx = ring_[state_->free_head % n_elems_];
            state_->free_head++;
            elem(idx)->state.store(2, std::memory_order_relaxed);
            return idx;
        }
    }
    if (lru_) return lru_evict();
    return UINT32_MAX;
}

void HashMap::free_elem(uint32_t idx) {
    if (of_maps_) {
        std::lock_guard<std::mutex> g(inner_mutex_);
        inner_ptrs_[idx].store(nullptr, std::memory_order_release);
        // A program may still use it (Linux frees after an RCU grace period).
        if (inner_refs_[idx]) retired_.push_back(std::move(inner_refs_[idx]));
    }
    elem(idx)->state.store(0, std::memory_order_relaxed);
    WordLock g(state_->free_lock);
    ring_[state_->free_tail % n_elems_] = idx;
    state_->free_tail++;
}

uint32_t HashMap::lru_evict() {
    // Two full sweeps at most: the first may only clear reference bits.
    for (uint64_t step = 0; step < 2ull * n_elems_ + 2; step++) {
        uint32_t idx = state_->clock_hand.fetch_add(1, std::memory_order_relaxed) % n_elems_;
        HashElem* e = elem(idx);
        if (e->state.load(std::memory_order_relaxed) != 1) continue;
        if (e->ref.load(std::memory_order_relaxed)) {
            e->ref.store(0, std::memory_order_relaxed);
            continue;
        }
        uint32_t h = e->hash.load(std::memory_order_relaxed);
        HashBucket& b = bucket_of(h);
        WordLock g(b.lock);
        if (e->state.load(std::memory_order_relaxed) != 1) continue;
        // Find its predecessor in its chain.
        uint32_t p = UINT32_MAX, n = b.head.load(std::memory_order_relaxed);
        while (!(n & kNulls) && n != idx) {
            p = n;
            n = elem(n)->next.load(std::memory_order_relaxed);
        }
        if (n != idx) continue;
        unlink_locked(b, p, idx);
        e->state.store(2, std::memory_order_relaxed);
        state_->count.fetch_sub(1, std::memory_order_relaxed);
        return idx;
    }
    return UINT32_MAX;
}

void* HashMap::lookup(const void* key) {
    uint32_t h = hash_of(key);
    HashElem* e = find(key, h);
    if (!e) return nullptr;
    if (lru_ && !e->ref.load(std::memory_order_relaxed)) e->ref.store(1, std::memory_order_relaxed);
    if (of_maps_) {
        uint32_t idx = uint32_t((reinterpret_cast<unsigned char*>(e) - elems_) / elem_size_);
        return inner_ptrs_[idx].load(std::memory_order_acquire);
    }
    if (percpu_) return value_of(e, cpu_slot(nr_cpus_));
    return value_of(e);
}

void* HashMap::lookup_percpu(const void* key, uint32_t cpu) {
    if (!percpu_ || cpu >= nr_cpus_) return nullptr;
    HashElem* e = find(key, hash_of(key));
    if (!e) return nullptr;
    if (lru_ && !e->ref.load(std::memory_order_relaxed)) e->ref.store(1, std::memory_order_relaxed);
    return value_of(e, cpu);
}

long HashMap::update(const void* key, const void* value, uint64_t flags) {
    if (of_maps_) return -EINVAL; // programs only look up map-in-maps
    return upsert(key, value, flags, false);
}

long HashMap::erase(const void* key) {
    if (of_maps_) return -EINVAL;
    return remove(key, nullptr, 0);
}

long HashMap::upsert(const void* key, const void* value, uint64_t flags, bool all_cpus, std::shared_ptr<Map> inner) {
    const bool plain = !percpu_ && !lru_;
    if (plain) {
        if ((flags & ~uint64_t(BPF_F_LOCK)) > BPF_EXIST) return -EINVAL;
    } else if (flags > BPF_EXIST) {
        return -EINVAL;
    }
    const uint64_t op = flags & ~uint64_t(BPF_F_LOCK);
    uint32_t h = hash_of(key);
    HashBucket& b = bucket_of(h);
    if (flags & BPF_F_LOCK) {
        if (long e = check_lock_flag(flags)) return e;
        // Linux: an existing element is updated in place under its value's lock,
        // without the bucket lock.
        if (HashElem* old = find(key, h)) {
            if (op == BPF_NOEXIST) return -EEXIST;
            copy_in(value_of(old), value, flags);
            return 0;
        }
        if (op == BPF_EXIST) return -ENOENT;
    }

    auto fill_value = [&](HashElem* e, bool fresh) {
        if (!percpu_) {
            if (flags & BPF_F_LOCK) copy_in(value_of(e), value, flags);
            else {
                copy_value_skip_lock(value_of(e), value, spec_.value_size, spec_.spin_lock_offset);
                if (fresh && spec_.spin_lock_offset >= 0) memset(value_of(e) + spec_.spin_lock_offset, 0, 4);
            }
            return;
        }
        if (all_cpus) {
            auto* in = static_cast<const unsigned char*>(value);
            for (uint32_t c = 0; c < nr_cpus_; c++)
                memcpy(value_of(e, c), in + uint64_t(c) * value_stride_, value_stride_);
            return;
        }
        uint32_t me = cpu_slot(nr_cpus_);
        if (fresh)
            for (uint32_t c = 0; c < nr_cpus_; c++)
                if (c != me) memset(value_of(e, c), 0, value_stride_);
        memcpy(value_of(e, me), value, spec_.value_size);
    };

    // LRU maps take their new element before the bucket lock (eviction locks
    // other buckets), as Linux's prealloc_lru_pop does.
    uint32_t pre = UINT32_MAX;
    if (lru_) {
        pre = alloc_elem();
        if (pre == UINT32_MAX) return -ENOMEM;
    }

    WordLock g(b.lock);
    uint32_t prev = UINT32_MAX;
    uint32_t old = find_locked(b, key, h, &prev);
    long err = 0;
    if (old != UINT32_MAX && op == BPF_NOEXIST) err = -EEXIST;
    else if (old == UINT32_MAX && op == BPF_EXIST) err = -ENOENT;
    if (err) {
        if (pre != UINT32_MAX) free_elem(pre);
        return err;
    }
    if (old != UINT32_MAX && percpu_) {
        // Per-CPU values are updated in place (Linux: pcpu_copy_value).
        fill_value(elem(old), false);
        if (pre != UINT32_MAX) free_elem(pre);
        return 0;
    }
    if (old != UINT32_MAX && (flags & BPF_F_LOCK)) {
        copy_in(value_of(elem(old)), value, flags);
        return 0;
    }
    uint32_t idx = pre;
    if (idx == UINT32_MAX) {
        if (old == UINT32_MAX) {
            if (state_->count.fetch_add(1, std::memory_order_relaxed) >= spec_.max_entries) {
                state_->count.fetch_sub(1, std::memory_order_relaxed);
                return -E2BIG;
            }
        }
        idx = alloc_elem();
        if (idx == UINT32_MAX) {
            if (old == UINT32_MAX) state_->count.fetch_sub(1, std::memory_order_relaxed);
            return -E2BIG;
        }
    } else if (old == UINT32_MAX) {
        state_->count.fetch_add(1, std::memory_order_relaxed);
    }
    HashElem* e = elem(idx);
    memcpy(key_of(e), key, key_size_);
    fill_value(e, true);
    if (of_maps_) {
        std::lock_guard<std::mutex> lg(inner_mutex_);
        inner_ptrs_[idx].store(inner.get(), std::memory_order_release);
        inner_refs_[idx] = std::move(inner);
    }
    e->ref.store(0, std::memory_order_relaxed);
    e->hash.store(h, std::memory_order_relaxed);
    e->state.store(1, std::memory_order_relaxed);
    e->next.store(b.head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    b.head.store(idx, std::memory_order_release);
    if (old != UINT32_MAX) {
        // The new element is in front; drop the old one (its predecessor is
        // unchanged unless it was the head, which is now the new element).
        unlink_locked(b, prev == UINT32_MAX ? idx : prev, old);
        free_elem(old);
    }
    return 0;
}

void HashMap::copy_all_out(void* out, HashElem* e, uint64_t flags) {
    if (!percpu_) {
        copy_out(out, value_of(e), flags);
        return;
    }
    auto* o = static_cast<unsigned char*>(out);
    for (uint32_t c = 0; c < nr_cpus_; c++) memcpy(o + uint64_t(c) * value_stride_, value_of(e, c), value_stride_);
}

long HashMap::remove(const void* key, void* out, uint64_t flags) {
    uint32_t h = hash_of(key);
    HashBucket& b = bucket_of(h);
    WordLock g(b.lock);
    uint32_t prev = UINT32_MAX;
    uint32_t idx = find_locked(b, key, h, &prev);
    if (idx == UINT32_MAX) return -ENOENT;
    if (out) {
        if (of_maps_) {
            std::lock_guard<std::mutex> lg(inner_mutex_);
            memcpy(out, value_of(elem(idx)), 4);
        } else {
            copy_all_out(out, elem(idx), flags);
        }
    }
    unlink_locked(b, prev, idx);
    state_->count.fetch_sub(1, std::memory_order_relaxed);
    free_elem(idx);
    return 0;
}

long HashMap::for_each(ForEachCallback cb, void* ctx, uint64_t flags) {
    if (flags != 0) return -EINVAL;
    if (of_maps_) return -EINVAL;
    uint32_t cpu = percpu_ ? cpu_slot(nr_cpus_) : 0;
    long n = 0;
    for (uint32_t bi = 0; bi < n_buckets_; bi++) {
        uint32_t i = buckets_[bi].head.load(std::memory_order_acquire);
        while (!(i & kNulls)) {
            HashElem* e = elem(i);
            n++;
            // The element's own key and value, as Linux. The callback may delete
            // the element: unlinking leaves its next index in place.
            if (cb(this, key_of(e), value_of(e, cpu), ctx)) return n;
            i = e->next.load(std::memory_order_acquire);
        }
    }
    return n;
}

std::shared_ptr<Map> HashMap::inner_map(const void* key) {
    if (!of_maps_) return nullptr;
    HashElem* e = find(key, hash_of(key));
    if (!e) return nullptr;
    uint32_t idx = uint32_t((reinterpret_cast<unsigned char*>(e) - elems_) / elem_size_);
    std::lock_guard<std::mutex> g(inner_mutex_);
    return inner_refs_[idx];
}

long HashMap::do_sys_lookup(const void* key, void* value, uint64_t flags) {
    HashElem* e = find(key, hash_of(key)); // no LRU reference (lookup_elem_sys_only)
    if (!e) return -ENOENT;
    if (of_maps_) {
        if (flags) return -EINVAL;
        memcpy(value, value_of(e), 4);
        return 0;
    }
    copy_all_out(value, e, flags);
    return 0;
}

long HashMap::do_sys_update(const void* key, const void* value, uint64_t flags) {
    if (!of_maps_) return upsert(key, value, flags, true);
    uint32_t id;
    memcpy(&id, value, 4);
    if (flags > BPF_EXIST) return -EINVAL;
    auto& reg = options_.registry;
    if (!reg) return -EBADF;
    std::shared_ptr<Map> inner = reg->map_by_id(id);
    if (!inner) return -EBADF;
    if (!inner_map_compatible(*spec_.inner, inner->spec())) return -EINVAL;
    return upsert(key, value, flags, true, std::move(inner));
}

long HashMap::do_sys_delete(const void* key) { return remove(key, nullptr, 0); }

long HashMap::do_sys_lookup_and_delete(const void* key, void* value, uint64_t flags) {
    if (of_maps_) return -kENOTSUPP;
    return remove(key, value, flags);
}

long HashMap::do_sys_get_next_key(const void* key, void* next_key) {
    uint32_t bi = 0;
    if (key) {
        uint32_t h = hash_of(key);
        if (HashElem* e = find(key, h)) {
            uint32_t n = e->next.load(std::memory_order_acquire);
            if (!(n & kNulls)) {
                memcpy(next_key, key_of(elem(n)), key_size_);
                return 0;
            }
            bi = (h & (n_buckets_ - 1)) + 1;
        }
    }
    for (; bi < n_buckets_; bi++) {
        uint32_t n = buckets_[bi].head.load(std::memory_order_acquire);
        if (!(n & kNulls)) {
            memcpy(next_key, key_of(elem(n)), key_size_);
            return 0;
        }
    }
    return -ENOENT;
}

// Linux's htab batch: the cursor is a bucket index (u32); a bucket is taken
// whole or not at all (-ENOSPC if the first one does not fit).
long HashMap::do_batch(int cmd, const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                       uint64_t elem_flags) {
    if (cmd != BPF_MAP_LOOKUP_BATCH && cmd != BPF_MAP_LOOKUP_AND_DELETE_BATCH)
        return Map::do_batch(cmd, in_batch, out_batch, keys, values, count, elem_flags);
    const bool del = cmd == BPF_MAP_LOOKUP_AND_DELETE_BATCH;
    if ((elem_flags & ~uint64_t(BPF_F_LOCK)) || ((elem_flags & BPF_F_LOCK) && spec_.spin_lock_offset < 0))
        return -EINVAL;
    uint32_t max = *count;
    if (!max) return 0;
    *count = 0;
    uint32_t batch = 0;
    if (in_batch) memcpy(&batch, in_batch, 4);
    if (batch >= n_buckets_) return -ENOENT;
    const uint32_t vs = of_maps_ ? 4 : sys_value_size();
    uint32_t total = 0;
    long ret = 0;
    std::vector<uint32_t> members;
    for (;;) {
        HashBucket& b = buckets_[batch];
        {
            WordLock g(b.lock);
            members.clear();
            for (uint32_t n = b.head.load(std::memory_order_relaxed); !(n & kNulls);
                 n = elem(n)->next.load(std::memory_order_relaxed))
                members.push_back(n);
            if (members.size() > max - total) {
                if (total == 0) ret = -ENOSPC;
                break;
            }
            for (uint32_t idx : members) {
                HashElem* e = elem(idx);
                memcpy(static_cast<unsigned char*>(keys) + uint64_t(total) * key_size_, key_of(e), key_size_);
                void* dst = static_cast<unsigned char*>(values) + uint64_t(total) * vs;
                if (of_maps_) memcpy(dst, value_of(e), 4);
                else copy_all_out(dst, e, elem_flags);
                total++;
            }
            if (del) {
                for (uint32_t idx : members) {
                    unlink_locked(b, UINT32_MAX, idx); // always the head, in order
                    state_->count.fetch_sub(1, std::memory_order_relaxed);
                    free_elem(idx);
                }
            }
        }
        batch++;
        if (batch >= n_buckets_) {
            ret = -ENOENT;
            break;
        }
        // A full batch goes on over empty buckets, and stops at the next
        // non-empty one (it does not fit): Linux's cursor.
    }
    if (out_batch) memcpy(out_batch, &batch, 4);
    *count = total;
    return ret;
}

std::unique_ptr<Map> make_hash_family(uint32_t) { return std::make_unique<HashMap>(); }

} // namespace bpfvm::maps
