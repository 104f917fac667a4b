// The hash table behind hash, percpu_hash, lru_hash, lru_percpu_hash,
// hash_of_maps and (keyed by prefix) lpm_trie. Everything lives in the map's
// shared mapping:
//
//   storage: buckets[n_buckets] { u32 head, u32 lock }
//            elems[n_elems]     { u32 next, u32 hash, u32 state, u32 ref, key (8-aligned), value(s) }
//            free ring[n_elems] u32 element indices (FIFO)
//   header type_state: HashState (count, free ring cursors and lock, LRU clock hand)
//
// Chains are singly linked by element index; the end of a chain is a "nulls"
// marker (kNulls | bucket index), so a lock-free reader that followed an
// element which was meanwhile freed and reused in another bucket notices and
// restarts (Linux's hlist_nulls). Writers take the bucket's spin lock. Freed
// elements go to the tail of a FIFO and are reused last: a value pointer a
// running program holds stays valid memory, and is reused as late as possible.
#pragma once

#include <mutex>
#include <vector>

#include "internal.h"

namespace bpfvm::maps {

constexpr uint32_t kNulls = 0x80000000u;

struct HashBucket {
    std::atomic<uint32_t> head;
    std::atomic<uint32_t> lock;
};

struct HashElem {
    std::atomic<uint32_t> next;
    std::atomic<uint32_t> hash;
    std::atomic<uint32_t> state; // 0 free, 1 linked, 2 being filled / evicted
    std::atomic<uint32_t> ref;   // LRU: referenced since the clock last passed
    // followed by the key (8-aligned), then the value(s)
    unsigned char* data() { return reinterpret_cast<unsigned char*>(this) + sizeof(HashElem); }
    const unsigned char* data() const { return reinterpret_cast<const unsigned char*>(this) + sizeof(HashElem); }
};
static_assert(sizeof(HashElem) == 16);

struct HashState {
    std::atomic<uint32_t> count;
    std::atomic<uint32_t> free_lock;
    uint64_t free_head; // next to pop
    uint64_t free_tail; // next to push
    std::atomic<uint32_t> clock_hand;
    uint32_t n_buckets;
    uint32_t n_elems;
};

struct HashGeometry {
    uint32_t n_buckets, n_elems, key_area, value_area, elem_size;
    uint64_t buckets_off, elems_off, ring_off, end;
};
HashGeometry hash_geometry(const MapSpec& spec, uint32_t nr_cpus);

class HashMap : public MapImpl {
public:
    void attach(bool fresh) override;
    std::string check_storage() const override;

    void* lookup(const void* key) override;
    void* lookup_percpu(const void* key, uint32_t cpu) override;
    long update(const void* key, const void* value, uint64_t flags) override;
    long erase(const void* key) override;
    long for_each(ForEachCallback cb, void* ctx, uint64_t flags) override;
    std::shared_ptr<Map> inner_map(const void* key) override;

protected:
    long do_sys_lookup(const void* key, void* value, uint64_t flags) override;
    long do_sys_update(const void* key, const void* value, uint64_t flags) override;
    long do_sys_delete(const void* key) override;
    long do_sys_get_next_key(const void* key, void* next_key) override;
    long do_sys_lookup_and_delete(const void* key, void* value, uint64_t flags) override;
    long do_batch(int cmd, const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                  uint64_t elem_flags) override;

public:
    // The machinery (also used by lpm_trie).
    uint32_t hash_of(const void* key) const {
        if (key_size_ == 4) {
            uint32_t k;
            memcpy(&k, key, 4);
            return jhash_4bytes(k, seed_);
        }
        return jhash(key, key_size_, seed_);
    }
    bool key_equal(const HashElem* e, const void* key) const {
        if (key_size_ == 4) return memcmp(e->data(), key, 4) == 0;
        if (key_size_ == 8) return memcmp(e->data(), key, 8) == 0;
        return memcmp(e->data(), key, key_size_) == 0;
    }
    HashElem* elem(uint32_t i) const { return reinterpret_cast<HashElem*>(elems_ + uint64_t(i) * elem_size_); }
    HashBucket& bucket_of(uint32_t h) const { return buckets_[h & (n_buckets_ - 1)]; }
    unsigned char* key_of(HashElem* e) const { return e->data(); }
    unsigned char* value_of(HashElem* e, uint32_t cpu = 0) const {
        return e->data() + key_area_ + uint64_t(cpu) * value_stride_;
    }
    // Lock-free search; nullptr if absent.
    HashElem* find(const void* key, uint32_t h) const;
    // Under the bucket lock: the element and the index of its predecessor slot.
    uint32_t find_locked(HashBucket& b, const void* key, uint32_t h, uint32_t* prev) const;
    void unlink_locked(HashBucket& b, uint32_t prev, uint32_t idx);
    uint32_t alloc_elem(); // UINT32_MAX if none
    void free_elem(uint32_t idx);
    // What update does, for the program (one slot) or userspace (all slots).
    long upsert(const void* key, const void* value, uint64_t flags, bool all_cpus, std::shared_ptr<Map> inner = {});
    // Removes `key`; copies its value first when out != nullptr.
    long remove(const void* key, void* out, uint64_t flags);
    void copy_all_out(void* out, HashElem* e, uint64_t flags);

    HashState* state_ = nullptr;
    HashBucket* buckets_ = nullptr;
    unsigned char* elems_ = nullptr;
    uint32_t* ring_ = nullptr;
    uint32_t n_buckets_ = 1, n_elems_ = 0, key_size_ = 0, key_area_ = 0, value_stride_ = 0, elem_size_ = 0;
    uint32_t seed_ = 0;
    bool percpu_ = false, lru_ = false, of_maps_ = false;

private:
    uint32_t lru_evict();
    // hash_of_maps: process-local inner maps, by element index.
    std::vector<std::atomic<Map*>> inner_ptrs_;
    std::vector<std::shared_ptr<Map>> inner_refs_;
    std::vector<std::shared_ptr<Map>> retired_;
    std::mutex inner_mutex_;
};

} // namespace bpfvm::maps
