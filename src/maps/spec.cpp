// Creation-time checks: Linux's map_create and the per-type *_alloc_check /
// *_map_alloc functions, with their error codes. Each failure names the rule.
#include <cctype>
#include <cerrno>
#include <climits>

#include <fmt/format.h>

#include "internal.h"

namespace bpfvm::maps {

namespace {

constexpr uint32_t kAccessMask = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;
constexpr uint32_t kArrayFlags = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | kAccessMask | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
constexpr uint32_t kHashFlags = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | kAccessMask | BPF_F_ZERO_SEED;
constexpr uint32_t kQueueFlags = BPF_F_NUMA_NODE | kAccessMask;
constexpr uint32_t kBloomFlags = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | kAccessMask;
constexpr uint32_t kLpmFlags = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | kAccessMask;
constexpr uint32_t kRingbufFlags = BPF_F_NUMA_NODE;
constexpr uint64_t kKmallocMax = uint64_t(1) << 22; // KMALLOC_MAX_SIZE on x86-64 (4 MiB)
constexpr uint64_t kPcpuMinUnit = 32 * 1024;         // PCPU_MIN_UNIT_SIZE
constexpr uint64_t kMaxStorage = uint64_t(1) << 36;  // what bpfvm maps at most (64 GiB)

const char* type_name(uint32_t type) {
    switch (type) {
    case BPF_MAP_TYPE_HASH: return "hash";
    case BPF_MAP_TYPE_ARRAY: return "array";
    case BPF_MAP_TYPE_PROG_ARRAY: return "prog_array";
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY: return "perf_event_array";
    case BPF_MAP_TYPE_PERCPU_HASH: return "percpu_hash";
    case BPF_MAP_TYPE_PERCPU_ARRAY: return "percpu_array";
    case BPF_MAP_TYPE_LRU_HASH: return "lru_hash";
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return "lru_percpu_hash";
    case BPF_MAP_TYPE_LPM_TRIE: return "lpm_trie";
    case BPF_MAP_TYPE_ARRAY_OF_MAPS: return "array_of_maps";
    case BPF_MAP_TYPE_HASH_OF_MAPS: return "hash_of_maps";
    case BPF_MAP_TYPE_QUEUE: return "queue";
    case BPF_MAP_TYPE_STACK: return "stack";
    case BPF_MAP_TYPE_RINGBUF: return "ringbuf";
    case BPF_MAP_TYPE_BLOOM_FILTER: return "bloom_filter";
    default: return "unknown";
    }
}

tl::unexpected<Error> fail(int err, const MapSpec& s, const std::string& why) {
    return tl::unexpected<Error>(
        Error{fmt::format("{}: {} map '{}': {}", errno_name(-err), type_name(s.type), s.name, why), -1, 0, {}});
}

bool access_ok(uint32_t flags) {
    return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

std::string flag_list(uint32_t flags) {
    return fmt::format("{:#x}", flags);
}

// array_map_alloc_check
Result<void> check_array(const MapSpec& s) {
    bool percpu = s.type == BPF_MAP_TYPE_PERCPU_ARRAY;
    if (s.max_entries == 0) return fail(EINVAL, s, "max_entries must be > 0");
    if (s.key_size != 4) return fail(EINVAL, s, fmt::format("key_size must be 4 (is {})", s.key_size));
    if (s.value_size == 0) return fail(EINVAL, s, "value_size must be > 0");
    if (s.map_flags & ~kArrayFlags)
        return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kArrayFlags)));
    if (!access_ok(s.map_flags)) return fail(EINVAL, s, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
    if (percpu && (s.map_flags & BPF_F_NUMA_NODE)) return fail(EINVAL, s, "BPF_F_NUMA_NODE on a per-CPU map");
    if (s.type != BPF_MAP_TYPE_ARRAY && (s.map_flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)))
        return fail(EINVAL, s, "BPF_F_MMAPABLE and BPF_F_INNER_MAP are for array maps only");
    if (s.type != BPF_MAP_TYPE_PERF_EVENT_ARRAY && (s.map_flags & BPF_F_PRESERVE_ELEMS))
        return fail(EINVAL, s, "BPF_F_PRESERVE_ELEMS is for perf_event_array only");
    if (s.value_size > uint32_t(INT_MAX)) return fail(E2BIG, s, "value_size too large");
    if (percpu && round_up(s.value_size, 8) > kPcpuMinUnit)
        return fail(E2BIG, s, fmt::format("per-CPU value_size {} > {}", s.value_size, kPcpuMinUnit));
    return {};
}

// fd_array_map_alloc_check
Result<void> check_fd_array(const MapSpec& s) {
    if (s.value_size != 4) return fail(EINVAL, s, fmt::format("value_size must be 4 (an id), is {}", s.value_size));
    if (s.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
        return fail(EINVAL, s, "BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG not supported");
    return check_array(s);
}

// htab_map_alloc_check
Result<void> check_hash(MapSpec& s, uint32_t nr_cpus) {
    bool percpu = s.type == BPF_MAP_TYPE_PERCPU_HASH || s.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    bool lru = s.type == BPF_MAP_TYPE_LRU_HASH || s.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    bool percpu_lru = s.map_flags & BPF_F_NO_COMMON_LRU;
    bool prealloc = !(s.map_flags & BPF_F_NO_PREALLOC);
    if (s.map_flags & ~kHashFlags)
        return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kHashFlags)));
    if (!access_ok(s.map_flags)) return fail(EINVAL, s, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
    if (!lru && percpu_lru) return fail(EINVAL, s, "BPF_F_NO_COMMON_LRU is for LRU maps only");
    if (lru && !prealloc) return fail(kENOTSUPP, s, "LRU maps are always preallocated (BPF_F_NO_PREALLOC)");
    if ((s.map_flags & BPF_F_NUMA_NODE) && (percpu || percpu_lru))
        return fail(EINVAL, s, "BPF_F_NUMA_NODE on a per-CPU map");
    if (s.max_entries == 0) return fail(EINVAL, s, "max_entries must be > 0");
    if (s.key_size == 0) return fail(EINVAL, s, "key_size must be > 0");
    if (s.value_size == 0) return fail(EINVAL, s, "value_size must be > 0");
    if (uint64_t(s.key_size) + s.value_size >= kKmallocMax - 48)
        return fail(E2BIG, s, "key_size + value_size too large");
    if (percpu && round_up(s.value_size, 8) > kPcpuMinUnit)
        return fail(E2BIG, s, fmt::format("per-CPU value_size {} > {}", s.value_size, kPcpuMinUnit));
    if (percpu_lru) {
        // htab_map_alloc: max_entries becomes a multiple of the CPU count.
        uint64_t m = round_up(s.max_entries, nr_cpus);
        if (m > UINT32_MAX) m = uint64_t(s.max_entries) / nr_cpus * nr_cpus;
        s.max_entries = uint32_t(m);
        if (s.max_entries == 0) return fail(E2BIG, s, "max_entries smaller than the CPU count");
    }
    if (s.max_entries > (uint32_t(1) << 31) - 1 - 4096) return fail(E2BIG, s, "max_entries too large");
    return {};
}

Result<void> check_inner(const MapSpec& s) {
    if (!s.inner) return fail(EBADF, s, "no inner map template (MapSpec::inner)");
    const MapSpec& in = *s.inner;
    if (in.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || in.type == BPF_MAP_TYPE_HASH_OF_MAPS)
        return fail(EINVAL, s, "an inner map cannot be a map-in-map (one level only)");
    if (in.type == BPF_MAP_TYPE_PROG_ARRAY || in.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
        return fail(kENOTSUPP, s, fmt::format("a {} cannot be an inner map", type_name(in.type)));
    if (in.spin_lock_offset >= 0) return fail(kENOTSUPP, s, "an inner map with a bpf_spin_lock");
    return {};
}

} // namespace

Result<TypeLayout> check_spec(MapSpec& s, const MapOptions& options) {
    TypeLayout out;
    uint32_t nr_cpus = options.nr_cpus ? options.nr_cpus : default_nr_cpus();
    if (nr_cpus > 4096) return fail(EINVAL, s, "nr_cpus > 4096");

    // map_create
    if (s.type != BPF_MAP_TYPE_BLOOM_FILTER && s.map_extra != 0)
        return fail(EINVAL, s, "map_extra is for bloom filters only");
    if ((s.map_flags & BPF_F_RDONLY) && (s.map_flags & BPF_F_WRONLY))
        return fail(EINVAL, s, "BPF_F_RDONLY and BPF_F_WRONLY together");
    if ((s.map_flags & BPF_F_NUMA_NODE) && s.numa_node != 0)
        return fail(EINVAL, s, fmt::format("numa_node {} does not exist (bpfvm has node 0)", s.numa_node));
    if (s.name.size() >= BPF_OBJ_NAME_LEN)
        return fail(EINVAL, s, fmt::format("name longer than {} characters", BPF_OBJ_NAME_LEN - 1));
    for (char c : s.name)
        if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.')
            return fail(EINVAL, s, fmt::format("name: character '{}' not allowed (only [A-Za-z0-9_.])", c));
    if (s.spin_lock_offset >= 0) {
        switch (s.type) {
        case BPF_MAP_TYPE_HASH:
        case BPF_MAP_TYPE_ARRAY:
            break;
        default:
            return fail(kENOTSUPP, s, "bpf_spin_lock in values of this map type");
        }
        if (s.map_flags & BPF_F_RDONLY_PROG) return fail(EACCES, s, "bpf_spin_lock in a BPF_F_RDONLY_PROG map");
        if (s.spin_lock_offset % 4 != 0 || uint64_t(s.spin_lock_offset) + 4 > s.value_size)
            return fail(EINVAL, s, fmt::format("spin_lock_offset {} outside the value or misaligned", s.spin_lock_offset));
    } else if (s.spin_lock_offset != -1) {
        return fail(EINVAL, s, fmt::format("spin_lock_offset {} (-1 for none)", s.spin_lock_offset));
    }

    switch (s.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: {
        auto r = check_array(s);
        if (!r) return tl::unexpected(r.error());
        if (s.type == BPF_MAP_TYPE_PERCPU_ARRAY) out.nr_cpus = nr_cpus;
        out.storage_size = array_storage(s, out.nr_cpus);
        break;
    }
    case BPF_MAP_TYPE_PROG_ARRAY:
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
    case BPF_MAP_TYPE_ARRAY_OF_MAPS: {
        auto r = check_fd_array(s);
        if (!r) return tl::unexpected(r.error());
        if (s.type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
            auto i = check_inner(s);
            if (!i) return tl::unexpected(i.error());
        }
        if (s.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
            uint32_t b = options.perf_buffer_size;
            if (b < 4096 || (b & (b - 1)))
                return fail(EINVAL, s, fmt::format("perf_buffer_size {} must be a power of two >= 4096", b));
            out.storage_size = perf_storage(s, b);
        } else {
            out.storage_size = array_storage(s, 1);
        }
        break;
    }
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_HASH_OF_MAPS: {
        if (s.type == BPF_MAP_TYPE_HASH_OF_MAPS) {
            if (s.value_size != 4)
                return fail(EINVAL, s, fmt::format("value_size must be 4 (an id), is {}", s.value_size));
            if (s.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
                return fail(EINVAL, s, "BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG not supported");
        }
        auto r = check_hash(s, nr_cpus);
        if (!r) return tl::unexpected(r.error());
        if (s.type == BPF_MAP_TYPE_HASH_OF_MAPS) {
            auto i = check_inner(s);
            if (!i) return tl::unexpected(i.error());
        }
        if (s.type == BPF_MAP_TYPE_PERCPU_HASH || s.type == BPF_MAP_TYPE_LRU_PERCPU_HASH) out.nr_cpus = nr_cpus;
        out.storage_size = hash_storage(s, out.nr_cpus);
        break;
    }
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        if (s.max_entries == 0) return fail(EINVAL, s, "max_entries must be > 0");
        if (s.key_size != 0) return fail(EINVAL, s, fmt::format("key_size must be 0 (is {})", s.key_size));
        if (s.value_size == 0) return fail(EINVAL, s, "value_size must be > 0");
        if (s.map_flags & ~kQueueFlags)
            return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kQueueFlags)));
        if (!access_ok(s.map_flags)) return fail(EINVAL, s, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
        if (s.value_size > kKmallocMax) return fail(E2BIG, s, "value_size too large");
        out.storage_size = (uint64_t(s.max_entries) + 1) * s.value_size;
        break;
    case BPF_MAP_TYPE_BLOOM_FILTER:
        if (s.value_size > kKmallocMax) return fail(E2BIG, s, "value_size too large");
        if (s.key_size != 0) return fail(EINVAL, s, fmt::format("key_size must be 0 (is {})", s.key_size));
        if (s.value_size == 0) return fail(EINVAL, s, "value_size must be > 0");
        if (s.max_entries == 0) return fail(EINVAL, s, "max_entries must be > 0");
        if (s.map_flags & ~kBloomFlags)
            return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kBloomFlags)));
        if (!access_ok(s.map_flags)) return fail(EINVAL, s, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
        if (s.map_extra & ~uint64_t(0xF)) return fail(EINVAL, s, "map_extra: only bits 0-3 (hash functions)");
        out.storage_size = bloom_storage(s);
        break;
    case BPF_MAP_TYPE_LPM_TRIE:
        if (s.max_entries == 0) return fail(EINVAL, s, "max_entries must be > 0");
        if (!(s.map_flags & BPF_F_NO_PREALLOC)) return fail(EINVAL, s, "BPF_F_NO_PREALLOC is required");
        if (s.map_flags & ~kLpmFlags)
            return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kLpmFlags)));
        if (!access_ok(s.map_flags)) return fail(EINVAL, s, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG together");
        if (s.key_size < 5 || s.key_size > 4 + 256)
            return fail(EINVAL, s, fmt::format("key_size {} outside [5, 260] (4-byte prefixlen + 1..256 data bytes)",
                                               s.key_size));
        if (s.value_size < 1 || s.value_size > kKmallocMax - 256 - 64)
            return fail(EINVAL, s, fmt::format("value_size {} out of range", s.value_size));
        if (s.max_entries > (uint32_t(1) << 24)) return fail(E2BIG, s, "max_entries too large for bpfvm (2^24)");
        out.storage_size = lpm_storage(s);
        break;
    case BPF_MAP_TYPE_RINGBUF:
        if (s.map_flags & ~kRingbufFlags)
            return fail(EINVAL, s, fmt::format("flags {} not allowed", flag_list(s.map_flags & ~kRingbufFlags)));
        if (s.key_size || s.value_size) return fail(EINVAL, s, "key_size and value_size must be 0");
        if (s.max_entries == 0 || (s.max_entries & (s.max_entries - 1)) || s.max_entries % kPage)
            return fail(EINVAL, s, fmt::format("max_entries {} must be a power of two and a multiple of {}",
                                               s.max_entries, kPage));
        out.storage_size = 2 * kPage + s.max_entries;
        break;
    default:
        return fail(EINVAL, s, fmt::format("map type {} not supported", s.type));
    }
    if (out.storage_size > kMaxStorage) return fail(ENOMEM, s, fmt::format("{} bytes of storage", out.storage_size));
    return out;
}

std::unique_ptr<Map> make_map_object(uint32_t type) {
    switch (type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PROG_ARRAY:
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
        return make_array_family(type);
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        return make_perf_event_array();
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_HASH_OF_MAPS:
        return make_hash_family(type);
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
    case BPF_MAP_TYPE_BLOOM_FILTER:
        return make_queue_family(type);
    case BPF_MAP_TYPE_LPM_TRIE:
        return make_lpm_trie();
    case BPF_MAP_TYPE_RINGBUF:
        return make_ringbuf();
    default:
        return nullptr;
    }
}

} // namespace bpfvm::maps
