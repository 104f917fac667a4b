// What the map implementations share: the header at the start of every map's
// mapping, layout helpers, hashing, process-shared locks.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "bpfvm/map.h"

namespace bpfvm {

namespace maps {

// Linux's kernel-internal "operation not supported" (returned by bpf(2) too).
constexpr long kENOTSUPP = 524;

constexpr char kMagic[8] = {'B', 'P', 'F', 'V', 'M', 'A', 'P', '\0'};
constexpr uint32_t kLayoutVersion = 1;
constexpr size_t kPage = 4096;
constexpr size_t kHeaderSize = kPage; // the header page; storage starts after it

inline constexpr uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
inline uint32_t roundup_pow_of_two(uint32_t v) {
    if (v <= 1) return 1;
    return uint32_t(1) << (32 - __builtin_clz(v - 1));
}

// The calling thread's slot among n (no division while ids stay below n).
inline uint32_t cpu_slot(uint32_t n) {
    uint32_t c = current_cpu();
    return __builtin_expect(c < n, 1) ? c : c % n;
}

// Random token of this process (set once), recorded by maps that hold
// process-local references (prog_array, map-in-maps).
uint64_t process_token();

// Test-and-test-and-set spin lock on a 32-bit word in shared memory.
inline void lock_word(std::atomic<uint32_t>& w) {
    for (;;) {
        if (w.exchange(1, std::memory_order_acquire) == 0) return;
        while (w.load(std::memory_order_relaxed) != 0) __builtin_ia32_pause();
    }
}
inline void unlock_word(std::atomic<uint32_t>& w) { w.store(0, std::memory_order_release); }

struct WordLock {
    explicit WordLock(std::atomic<uint32_t>& w) : w_(w) { lock_word(w_); }
    ~WordLock() { unlock_word(w_); }
    WordLock(const WordLock&) = delete;
    WordLock& operator=(const WordLock&) = delete;
    std::atomic<uint32_t>& w_;
};

// Bob Jenkins' lookup3 hash (the one Linux's jhash is), written from its
// published description.
uint32_t jhash(const void* key, uint32_t length, uint32_t initval);
inline uint32_t rol32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
inline uint32_t jhash_final(uint32_t a, uint32_t b, uint32_t c) {
    c ^= b; c -= rol32(b, 14);
    a ^= c; a -= rol32(c, 11);
    b ^= a; b -= rol32(a, 25);
    c ^= b; c -= rol32(b, 16);
    a ^= c; a -= rol32(c, 4);
    b ^= a; b -= rol32(a, 14);
    c ^= b; c -= rol32(b, 24);
    return c;
}
// jhash() of a 4-byte key, without the loop: what Linux's htab computes for u32 keys.
inline uint32_t jhash_4bytes(uint32_t a, uint32_t initval) {
    uint32_t init = 0xdeadbeef + 4u + initval;
    return jhash_final(a + init, init, init);
}

// Futex wait/wake on a word of a shared mapping (not FUTEX_PRIVATE: works
// across processes).
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int timeout_ms);
void futex_wake(std::atomic<uint32_t>* word);

// Copies a value, skipping the 4-byte spin lock at lock_off (when >= 0).
void copy_value_skip_lock(void* dst, const void* src, uint32_t size, int32_t lock_off);

} // namespace maps

// The header page at the start of every map's file.
struct Map::Shared {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t file_size;
    uint32_t type, key_size, value_size, max_entries, map_flags, numa_node;
    uint64_t map_extra;
    int32_t spin_lock_offset;
    uint32_t nr_cpus;
    char name[16];
    uint64_t creator_token; // maps::process_token() of the creating process
    uint32_t param;         // per type: perf_event_array buffer size
    uint32_t seed;          // hash seed
    std::atomic<uint32_t> frozen;
    std::atomic<uint32_t> ready; // 1 once initialised
    // Per-type state in the rest of the header page.
    alignas(64) unsigned char type_state[3584];
};
static_assert(sizeof(Map::Shared) <= maps::kHeaderSize);

namespace maps {

// Per-type: checks the spec (Linux's alloc_check; may adjust it, e.g. the
// max_entries of a per-CPU LRU) and gives the storage bytes after the header.
struct TypeLayout {
    uint64_t storage_size = 0;
    uint32_t nr_cpus = 1; // slots this map has
};

// Creates the object for spec.type (not yet attached to memory).
std::unique_ptr<Map> make_map_object(uint32_t type);
// The families (one file each).
std::unique_ptr<Map> make_array_family(uint32_t type);     // array.cpp
std::unique_ptr<Map> make_hash_family(uint32_t type);      // hash.cpp
std::unique_ptr<Map> make_queue_family(uint32_t type);     // queue_stack.cpp, bloom_filter.cpp
std::unique_ptr<Map> make_lpm_trie();                      // lpm_trie.cpp
std::unique_ptr<Map> make_ringbuf();                       // ringbuf.cpp
std::unique_ptr<Map> make_perf_event_array();              // perf_event_array.cpp
// Storage bytes after the header, per family (spec already checked).
uint64_t array_storage(const MapSpec& spec, uint32_t nr_cpus);
uint64_t hash_storage(const MapSpec& spec, uint32_t nr_cpus);
uint64_t lpm_storage(const MapSpec& spec);
uint64_t bloom_storage(const MapSpec& spec);
uint64_t perf_storage(const MapSpec& spec, uint32_t buffer_size);

// Every Map subclass implements attach: set up pointers into base_ (and, when
// `fresh`, initialise the storage, which starts zeroed).
class MapImpl : public Map {
public:
    virtual void attach(bool fresh) = 0;
    // After attach(false) on a pinned file: what is wrong with the storage
    // (indices out of range, positions that cannot be), or "" if usable.
    virtual std::string check_storage() const { return {}; }
    Map::Shared* header() const { return shared_; }
    unsigned char* storage() const { return static_cast<unsigned char*>(base_) + kHeaderSize; }
    // 0 when the value may be accessed with BPF_F_LOCK flags, else -EINVAL.
    long check_lock_flag(uint64_t flags) const {
        if ((flags & BPF_F_LOCK) && spec_.spin_lock_offset < 0) return -EINVAL;
        return 0;
    }
    // Copy respecting BPF_F_LOCK (lock the destination/source value's lock and copy
    // everything but it) or plain (everything but the lock).
    void copy_in(void* dst_value, const void* src, uint64_t flags) const;
    void copy_out(void* dst, void* src_value, uint64_t flags) const;
    using Map::Map;
};

Result<TypeLayout> check_spec(MapSpec& spec, const MapOptions& options);

inline long errno_neg(int e) { return -long(e); }

} // namespace maps
} // namespace bpfvm
