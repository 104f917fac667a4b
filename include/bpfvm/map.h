// Maps: the data structures BPF programs share with each other and with
// userspace, with the semantics of Linux's bpf(2) and Documentation/bpf/map_*.rst.
//
// Every map lives in ONE shared file mapping (a header, then its storage; offsets,
// never pointers, inside; process-shared locks), so a pinned map can be opened
// by another process, which sees what running programs write (docs/maps.md).
//
// Two sides:
//  - the program side (lookup, update, erase, push/pop/peek, for_each, ringbuf,
//    perf output, tail-call targets): what helpers call from BPF code. Cheap: no
//    allocation, no syscall, no global lock; safe from many threads at once.
//  - the userspace side (sys_*): the bpf(2) commands, as bpftool uses them.
//    Per-CPU values there are round_up(value_size, 8) * nr_cpus() bytes.
//
// Return codes are Linux's: 0 or a positive result, or a negative errno
// (-ENOENT, -EEXIST, -E2BIG, -EINVAL, -ENOSPC, -ENOMEM, -EBUSY, -EPERM, ...).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <linux/bpf.h>

#include "bpfvm/error.h"

namespace bpfvm {

class Map;

// ---------------------------------------------------------------------------
// Per-CPU slots.
//
// A thread that touches a per-CPU value (or calls current_cpu()) gets a slot id
// on first use: the lowest id no other live thread of this process holds. The
// id is released when the thread exits. A map with N slots (nr_cpus()) gives a
// thread slot `current_cpu() % N`; while at most N threads run programs at once,
// each has a slot of its own. bpf_get_smp_processor_id() returns current_cpu().
uint32_t current_cpu();

// The default number of per-CPU slots of a map: BPFVM_NR_CPUS from the
// environment if set (1..4096), else std::thread::hardware_concurrency().
uint32_t default_nr_cpus();

// ---------------------------------------------------------------------------
// struct bpf_spin_lock (4 bytes inside a map value): process-shared spin lock.
// bpf_spin_lock/bpf_spin_unlock and BPF_F_LOCK all go through these.
void spin_lock(void* lock);
void spin_unlock(void* lock);

// ---------------------------------------------------------------------------
// What a map is: bpf(2)'s BPF_MAP_CREATE attributes.
struct MapSpec {
    uint32_t type = BPF_MAP_TYPE_UNSPEC; // enum bpf_map_type
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t map_flags = 0;   // BPF_F_*
    uint32_t numa_node = 0;   // accepted with BPF_F_NUMA_NODE, otherwise ignored
    uint64_t map_extra = 0;   // bloom filter: number of hash functions in bits 0-3
    std::string name;         // up to BPF_OBJ_NAME_LEN - 1 characters of [A-Za-z0-9_.]
    // Offset of the struct bpf_spin_lock inside the value (from BTF), -1 if none.
    // Needed for BPF_F_LOCK; allowed on array, hash (not per-CPU) and local storage.
    int32_t spin_lock_offset = -1;
    // array_of_maps / hash_of_maps: the inner map template (Linux's inner_map_fd).
    std::shared_ptr<const MapSpec> inner;
};

// Resolves the ids userspace passes for prog_array and map-in-map values
// (Linux passes fds; bpfvm passes object ids). The runtime implements it.
class ObjectRegistry {
public:
    virtual ~ObjectRegistry() = default;
    // The map with this id, or nullptr.
    virtual std::shared_ptr<Map> map_by_id(uint32_t id) = 0;
    // The id of a map the registry holds, or 0.
    virtual uint32_t map_id(const Map& map) = 0;
    // 0 if program `prog_id` may be stored in `prog_array` (exists, compatible
    // with the programs that use the array), else a negative errno (-EBADF for
    // an unknown id, -EINVAL for an incompatible program, as Linux).
    virtual long check_tail_call_program(uint32_t prog_id, const Map& prog_array) = 0;
};

struct MapOptions {
    // Per-CPU slots; 0 = default_nr_cpus(). Applies to per-CPU maps and to
    // BPF_F_NO_COMMON_LRU's rounding of max_entries; open_pinned takes the file's.
    uint32_t nr_cpus = 0;
    // Where pins live and where unpinned maps' files are created (O_TMPFILE).
    // Empty: $BPFVM_PIN_ROOT, else /dev/shm/bpfvm (created 01777 if missing).
    std::string pin_root;
    // Resolves prog_array and map-in-map ids (userspace updates). Without it
    // such updates return -EBADF.
    std::shared_ptr<ObjectRegistry> registry;
    // perf_event_array: bytes of the buffer of each slot (power of two, >= 4096).
    uint32_t perf_buffer_size = 64 * 1024;
};

// The pin root MapOptions resolve to; `path` resolved against it (absolute paths
// are kept as they are). Pins must be on the pin root's file system (tmpfs).
std::string pin_root(const MapOptions& options = {});
std::string resolve_pin_path(const std::string& path, const MapOptions& options = {});
// Removes a pin (Linux: unlink on bpffs). The map lives on while open.
Result<void> unpin(const std::string& path, const MapOptions& options = {});

// Program-side for_each callback (bpf_for_each_map_elem): 0 continues, 1 stops.
using ForEachCallback = long (*)(Map* map, const void* key, void* value, void* ctx);

class Map {
public:
    // Validates `spec` as Linux's map_alloc_check functions do and creates the map
    // in an unlinked file under the pin root (if the pin root is unusable, in a
    // memfd: the map works, pin() fails naming the reason). An error's message starts with the
    // errno Linux returns, then names the type, the map and the rule, e.g.
    // "EINVAL: hash map 'flows': key_size must be > 0". The memory is reserved
    // now (a full pin root file system is an ENOMEM error here).
    // Supported types: array, percpu_array, hash, percpu_hash, lru_hash,
    // lru_percpu_hash, prog_array, perf_event_array, ringbuf, lpm_trie, queue,
    // stack, bloom_filter, array_of_maps, hash_of_maps; others are EINVAL.
    static Result<std::shared_ptr<Map>> create(const MapSpec& spec, const MapOptions& options = {});
    // Opens a pinned map (`path` resolved by resolve_pin_path). Validates the
    // header (magic, layout version, type, sizes, file size) and the storage it
    // will follow (hash chains, positions); an error names the path and the
    // reason. A map already open in this process is returned as is.
    // prog_array and map-in-maps pinned by another process are refused: their
    // values name objects of that process.
    static Result<std::shared_ptr<Map>> open_pinned(const std::string& path, const MapOptions& options = {});
    // Links the map's file at `path` (resolve_pin_path). Errors: exists, not on
    // the pin root's file system, no such directory.
    Result<void> pin(const std::string& path);

    virtual ~Map();
    Map(const Map&) = delete;
    Map& operator=(const Map&) = delete;

    const MapSpec& spec() const { return spec_; }
    uint32_t type() const { return spec_.type; }
    uint32_t key_size() const { return spec_.key_size; }
    uint32_t value_size() const { return spec_.value_size; }
    uint32_t max_entries() const { return spec_.max_entries; }
    uint32_t map_flags() const { return spec_.map_flags; }
    const std::string& name() const { return spec_.name; }
    // Per-CPU slots (1 for maps that are not per-CPU).
    uint32_t nr_cpus() const { return nr_cpus_; }
    bool is_percpu() const;
    // Bytes of one userspace value: value_size, or round_up(value_size, 8) * nr_cpus()
    // for per-CPU maps; 4 (an id) for prog_array and map-in-maps.
    uint32_t sys_value_size() const;
    // The backing file's descriptor (owned by the map) and the mapping.
    int fd() const { return fd_; }
    void* mapping() const { return base_; }
    size_t mapping_size() const { return size_; }

    // ===================== program side (helpers) =====================
    // Pointer to the value for `key`, or nullptr. Per-CPU maps: the calling
    // thread's slot. Map-in-maps: the inner Map*. prog_array, perf_event_array,
    // ringbuf, queue, stack, bloom_filter: nullptr (Linux's verifier rejects it).
    // The memory stays mapped while the map lives; a deleted hash element may be
    // reused later for another key (Linux's prealloc semantics).
    virtual void* lookup(const void* key) = 0;
    // lookup() with the plain array case inline (no call): what helpers use.
    void* lookup_fast(const void* key) {
        if (array_values_) {
            uint32_t index;
            __builtin_memcpy(&index, key, 4);
            return index < spec_.max_entries ? array_values_ + uint64_t(index) * array_stride_ : nullptr;
        }
        return lookup(key);
    }
    // bpf_map_update_elem: flags BPF_ANY, BPF_NOEXIST, BPF_EXIST, | BPF_F_LOCK.
    // Per-CPU maps write the calling thread's slot (a new element's other slots
    // become zero).
    virtual long update(const void* key, const void* value, uint64_t flags) = 0;
    // bpf_map_delete_elem.
    virtual long erase(const void* key) = 0;
    // queue/stack: bpf_map_push_elem (flags BPF_ANY or BPF_EXIST = overwrite the
    // oldest when full), pop, peek. bloom_filter: push (flags BPF_ANY) adds, peek
    // tests (0 or -ENOENT), pop is -EOPNOTSUPP. Other types: -EINVAL.
    virtual long push(const void* value, uint64_t flags);
    virtual long pop(void* value);
    virtual long peek(void* value);
    // bpf_map_lookup_percpu_elem: slot `cpu`'s value, nullptr if cpu >= nr_cpus()
    // or the key is absent. Maps that are not per-CPU: nullptr.
    virtual void* lookup_percpu(const void* key, uint32_t cpu);
    // bpf_for_each_map_elem: array, percpu_array, hash, percpu_hash, lru_hash,
    // lru_percpu_hash (per-CPU: the calling thread's slot). Returns the number of
    // elements visited (including the one whose callback returned 1);
    // -EINVAL for flags != 0 or other types.
    virtual long for_each(ForEachCallback callback, void* ctx, uint64_t flags);
    // prog_array: the program id at `index` (tail call target), 0 if none.
    virtual uint32_t tail_call_target(uint32_t index) const;

    // ringbuf (program side). reserve: a record of `size` bytes, nullptr if it does
    // not fit or flags != 0. submit/discard take the record pointer only (as the
    // helpers do) and find the map from the record's header. flags: 0,
    // BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP.
    virtual void* ringbuf_reserve(uint64_t size, uint64_t flags);
    static void ringbuf_submit(void* record, uint64_t flags);
    static void ringbuf_discard(void* record, uint64_t flags);
    virtual long ringbuf_output(const void* data, uint64_t size, uint64_t flags);
    // BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS; 0 otherwise.
    virtual uint64_t ringbuf_query(uint64_t flags);
    // perf_event_array: bpf_perf_event_output. flags: BPF_F_INDEX_MASK index or
    // BPF_F_CURRENT_CPU (entry current_cpu() % max_entries); the upper 32 bits
    // are the helper's (packet bytes: `tail`). The record is data then tail,
    // zero-padded as Linux pads raw samples (round_up(size + 4, 8) - 4 bytes).
    // -ENOENT if no reader enabled that slot, -E2BIG index >= max_entries,
    // -EOPNOTSUPP a slot other than the calling thread's (Linux: an event on
    // another CPU), -ENOSPC buffer full (counted lost).
    virtual long perf_event_output(uint64_t flags, const void* data, uint64_t size,
                                   std::span<const uint8_t> tail = {});

    // Arrays (array, percpu_array not included): the first value; values follow
    // each other every round_up(value_size, 8) bytes. For BPF_PSEUDO_MAP_VALUE
    // (global data). nullptr for other types.
    virtual void* value_base();

    // ===================== userspace side (bpf(2)) =====================
    // BPF_MAP_LOOKUP_ELEM: copies the value (per-CPU: every slot) into `value`.
    // flags: 0 or BPF_F_LOCK. prog_array/map-in-map: the id.
    long sys_lookup(const void* key, void* value, uint64_t flags = 0);
    // BPF_MAP_UPDATE_ELEM (per-CPU: every slot from `value`; prog_array and
    // map-in-map: an id resolved through MapOptions::registry).
    long sys_update(const void* key, const void* value, uint64_t flags);
    // BPF_MAP_DELETE_ELEM.
    long sys_delete(const void* key);
    // BPF_MAP_GET_NEXT_KEY: key nullptr (or absent, for hash types) = first key;
    // -ENOENT after the last.
    long sys_get_next_key(const void* key, void* next_key);
    // BPF_MAP_LOOKUP_AND_DELETE_ELEM: queue/stack (key nullptr: pop), hash types.
    long sys_lookup_and_delete(const void* key, void* value, uint64_t flags = 0);
    // BPF_MAP_FREEZE: userspace can no longer write (-EPERM afterwards).
    long sys_freeze();
    bool frozen() const;

    // Batch operations, bpf(2)'s BPF_MAP_*_BATCH. `count` in: the number of
    // elements keys/values have room for; out: the number processed. `in_batch`
    // nullptr starts at the beginning; `out_batch` receives the cursor to pass as
    // in_batch next time: for hash types a u32 bucket index (a bucket is taken
    // whole, -ENOSPC if the first one does not fit in count), for the others the
    // last key returned (key_size bytes). Supported (as in Linux): arrays and
    // array_of_maps lookup and update, lpm_trie lookup, update and delete, hash
    // types all four; the others -ENOTSUPP (524), count untouched. Returns 0,
    // or -ENOENT when the end was reached (count says how many came with it), or
    // another error (count says how many were done before it).
    long sys_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                          uint64_t elem_flags = 0);
    long sys_lookup_and_delete_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                                     uint32_t* count, uint64_t elem_flags = 0);
    long sys_update_batch(const void* keys, const void* values, uint32_t* count, uint64_t elem_flags = 0);
    long sys_delete_batch(const void* keys, uint32_t* count, uint64_t elem_flags = 0);

    // Map-in-maps: the inner map at `key` (userspace view), nullptr if none.
    virtual std::shared_ptr<Map> inner_map(const void* key);

    struct Shared; // the header at the start of the mapping (src/maps/)

protected:
    Map() = default;
    // The per-type userspace operations behind the sys_* wrappers, which check
    // the common rules (flags, frozen, BPF_F_RDONLY/WRONLY) first.
    virtual long do_sys_lookup(const void* key, void* value, uint64_t flags);
    virtual long do_sys_update(const void* key, const void* value, uint64_t flags);
    virtual long do_sys_delete(const void* key);
    virtual long do_sys_get_next_key(const void* key, void* next_key) = 0;
    virtual long do_sys_lookup_and_delete(const void* key, void* value, uint64_t flags);
    virtual long do_batch(int cmd, const void* in_batch, void* out_batch, void* keys, void* values,
                          uint32_t* count, uint64_t elem_flags);

public: // for src/maps/ only
    MapSpec spec_;
    MapOptions options_;
    uint32_t nr_cpus_ = 1;
    int fd_ = -1;
    void* base_ = nullptr;
    size_t size_ = 0;
    Shared* shared_ = nullptr;
    unsigned char* array_values_ = nullptr; // BPF_MAP_TYPE_ARRAY: the first value, else nullptr
    uint32_t array_stride_ = 0;
    std::string unpinnable_reason_; // set when the file could not be made in the pin root
};

// ---------------------------------------------------------------------------
// Consumers.

// libbpf's ring_buffer: consumes records of one or more ringbuf maps (also
// opened from a pin in another process). Not thread-safe; one consumer per map.
class RingBufferReader {
public:
    // Return < 0 to stop consuming (poll/consume return that value).
    using Callback = std::function<int(const void* data, size_t size)>;
    RingBufferReader();
    ~RingBufferReader();
    RingBufferReader(const RingBufferReader&) = delete;
    RingBufferReader& operator=(const RingBufferReader&) = delete;
    Result<void> add(std::shared_ptr<Map> ringbuf, Callback callback);
    // Consumes every record available; returns the number consumed or the
    // callback's negative value.
    long consume();
    // Waits up to timeout_ms (-1: forever) for a record (woken by submit unless
    // BPF_RB_NO_WAKEUP), then consumes. Returns records consumed (0 on timeout).
    long poll(int timeout_ms);

private:
    struct Ring;
    std::vector<std::unique_ptr<Ring>> rings_;
};

// libbpf's perf_buffer over a perf_event_array: enables every slot (the map's
// entries) and reads the records programs output to them.
class PerfBufferReader {
public:
    using SampleCallback = std::function<void(uint32_t cpu, const void* data, size_t size)>;
    using LostCallback = std::function<void(uint32_t cpu, uint64_t lost)>;
    static Result<std::unique_ptr<PerfBufferReader>> create(std::shared_ptr<Map> perf_event_array,
                                                            SampleCallback sample, LostCallback lost = {});
    ~PerfBufferReader();
    // Reads every pending record of every slot; returns the number read.
    long consume();
    // Waits up to timeout_ms (-1: forever) for records, then consumes.
    long poll(int timeout_ms);

private:
    PerfBufferReader() = default;
    std::shared_ptr<Map> map_;
    SampleCallback sample_;
    LostCallback lost_;
};

// The errno name of a negative return code ("ENOENT"), for messages.
const char* errno_name(long code);

} // namespace bpfvm
