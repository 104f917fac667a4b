// The map base: creation (spec checks, the shared file and its mapping),
// pinning, opening pins, the bpf(2) wrappers' common rules, per-CPU slot ids.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "internal.h"

namespace bpfvm {

using namespace maps;

// ---------------------------------------------------------------------------
// Per-CPU slot ids.

namespace {

std::mutex& slot_mutex() {
    static std::mutex m;
    return m;
}
std::vector<bool>& slots_in_use() {
    static std::vector<bool> v;
    return v;
}

struct SlotRelease {
    uint32_t id = UINT32_MAX;
    ~SlotRelease() {
        if (id == UINT32_MAX) return;
        std::lock_guard<std::mutex> g(slot_mutex());
        if (id < slots_in_use().size()) slots_in_use()[id] = false;
    }
};

thread_local uint32_t tls_cpu = UINT32_MAX;

uint32_t assign_cpu() {
    static thread_local SlotRelease release;
    std::lock_guard<std::mutex> g(slot_mutex());
    auto& used = slots_in_use();
    uint32_t id = 0;
    while (id < used.size() && used[id]) id++;
    if (id == used.size()) used.push_back(true);
    else used[id] = true;
    release.id = id;
    tls_cpu = id;
    return id;
}

} // namespace

uint32_t current_cpu() {
    uint32_t id = tls_cpu;
    if (__builtin_expect(id != UINT32_MAX, 1)) return id;
    return assign_cpu();
}

uint32_t default_nr_cpus() {
    if (const char* env = getenv("BPFVM_NR_CPUS")) {
        char* end = nullptr;
        unsigned long v = strtoul(env, &end, 10);
        if (end && *end == 0 && v >= 1 && v <= 4096) return uint32_t(v);
    }
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

void spin_lock(void* lock) { lock_word(*static_cast<std::atomic<uint32_t>*>(lock)); }
void spin_unlock(void* lock) { unlock_word(*static_cast<std::atomic<uint32_t>*>(lock)); }

namespace maps {

uint64_t process_token() {
    static const uint64_t token = [] {
        std::random_device rd;
        uint64_t t = (uint64_t(rd()) << 32) ^ rd() ^ (uint64_t(getpid()) << 16);
        return t ? t : 1;
    }();
    return token;
}

uint32_t jhash(const void* key, uint32_t length, uint32_t initval) {
    const uint8_t* k = static_cast<const uint8_t*>(key);
    uint32_t a, b, c;
    a = b = c = 0xdeadbeef + length + initval;
    auto get = [](const uint8_t* p) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    };
    while (length > 12) {
        a += get(k);
        b += get(k + 4);
        c += get(k + 8);
        // mix
        a -= c; a ^= rol32(c, 4); c += b;
        b -= a; b ^= rol32(a, 6); a += c;
        c -= b; c ^= rol32(b, 8); b += a;
        a -= c; a ^= rol32(c, 16); c += b;
        b -= a; b ^= rol32(a, 19); a += c;
        c -= b; c ^= rol32(b, 4); b += a;
        length -= 12;
        k += 12;
    }
    uint8_t tail[12] = {};
    memcpy(tail, k, length);
    if (length == 0) return c;
    a += get(tail);
    b += get(tail + 4);
    c += get(tail + 8);
    return jhash_final(a, b, c);
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int timeout_ms) {
    struct timespec ts;
    struct timespec* tp = nullptr;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = long(timeout_ms % 1000) * 1000000;
        tp = &ts;
    }
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, tp, nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>* word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void copy_value_skip_lock(void* dst, const void* src, uint32_t size, int32_t lock_off) {
    if (lock_off < 0) {
        memcpy(dst, src, size);
        return;
    }
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    memcpy(d, s, size_t(lock_off));
    size_t after = size_t(lock_off) + 4;
    if (after < size) memcpy(d + after, s + after, size - after);
}

void MapImpl::copy_in(void* dst_value, const void* src, uint64_t flags) const {
    int32_t off = spec_.spin_lock_offset;
    if ((flags & BPF_F_LOCK) && off >= 0) {
        void* lock = static_cast<unsigned char*>(dst_value) + off;
        spin_lock(lock);
        copy_value_skip_lock(dst_value, src, spec_.value_size, off);
        spin_unlock(lock);
    } else {
        copy_value_skip_lock(dst_value, src, spec_.value_size, off);
    }
}

void MapImpl::copy_out(void* dst, void* src_value, uint64_t flags) const {
    int32_t off = spec_.spin_lock_offset;
    if ((flags & BPF_F_LOCK) && off >= 0) {
        void* lock = static_cast<unsigned char*>(src_value) + off;
        spin_lock(lock);
        copy_value_skip_lock(dst, src_value, spec_.value_size, off);
        spin_unlock(lock);
    } else {
        copy_value_skip_lock(dst, src_value, spec_.value_size, off);
    }
    if (off >= 0) memset(static_cast<unsigned char*>(dst) + off, 0, 4); // the lock reads as 0
}

} // namespace maps

const char* errno_name(long code) {
    switch (-code) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case kENOTSUPP: return "ENOTSUPP";
    case EAGAIN: return "EAGAIN";
    case ENOTDIR: return "ENOTDIR";
    case EXDEV: return "EXDEV";
    case EISDIR: return "EISDIR";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EROFS: return "EROFS";
    case EMFILE: return "EMFILE";
    case EINTR: return "EINTR";
    default: return "errno";
    }
}

// ---------------------------------------------------------------------------
// Pin root and paths.

std::string pin_root(const MapOptions& options) {
    if (!options.pin_root.empty()) return options.pin_root;
    if (const char* env = getenv("BPFVM_PIN_ROOT"); env && *env) return env;
    return "/dev/shm/bpfvm";
}

std::string resolve_pin_path(const std::string& path, const MapOptions& options) {
    if (!path.empty() && path[0] == '/') return path;
    return pin_root(options) + "/" + path;
}

Result<void> unpin(const std::string& path, const MapOptions& options) {
    std::string full = resolve_pin_path(path, options);
    if (unlink(full.c_str()) != 0)
        return make_error(fmt::format("unpin {}: {}", full, strerror(errno)));
    return {};
}

namespace {

// Maps open in this process, by file identity: open_pinned returns the same object.
struct LiveMaps {
    std::mutex mutex;
    std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Map>> by_inode;
};
LiveMaps& live_maps() {
    static LiveMaps* l = new LiveMaps; // never destroyed: maps may outlive statics
    return *l;
}

std::pair<dev_t, ino_t> file_identity(int fd) {
    struct stat st{};
    fstat(fd, &st);
    return {st.st_dev, st.st_ino};
}

Result<void> ensure_dir(const std::string& dir) {
    struct stat st{};
    if (stat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return make_error(fmt::format("pin root {}: not a directory", dir));
        return {};
    }
    // Create parents as needed.
    size_t slash = dir.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        auto r = ensure_dir(dir.substr(0, slash));
        if (!r) return r;
    }
    if (mkdir(dir.c_str(), 01777) != 0 && errno != EEXIST)
        return make_error(fmt::format("pin root {}: {}", dir, strerror(errno)));
    chmod(dir.c_str(), 01777);
    return {};
}

// Maps the file: the whole file, and for a ringbuf its data area a second
// time right after it (records that wrap around are contiguous).
Result<void*> map_file(int fd, uint64_t file_size, uint64_t ring_data, const std::string& what) {
    uint64_t total = file_size + ring_data;
    void* area = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) return make_error(fmt::format("ENOMEM: {}: mmap: {}", what, strerror(errno)));
    void* m = mmap(area, file_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        munmap(area, total);
        return make_error(fmt::format("ENOMEM: {}: mmap: {}", what, strerror(e)));
    }
    if (ring_data) {
        void* m2 = mmap(static_cast<char*>(area) + file_size, ring_data, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED, fd, off_t(file_size - ring_data));
        if (m2 == MAP_FAILED) {
            int e = errno;
            munmap(area, total);
            return make_error(fmt::format("ENOMEM: {}: mmap: {}", what, strerror(e)));
        }
    }
    return area;
}

uint64_t ring_data_size(uint32_t type, uint32_t max_entries) {
    return type == BPF_MAP_TYPE_RINGBUF ? max_entries : 0;
}

} // namespace

Map::~Map() {
    if (fd_ >= 0) {
        auto& live = live_maps();
        std::lock_guard<std::mutex> g(live.mutex);
        auto it = live.by_inode.find(file_identity(fd_));
        if (it != live.by_inode.end() && it->second.expired()) live.by_inode.erase(it);
    }
    if (base_) munmap(base_, size_);
    if (fd_ >= 0) close(fd_);
}

Result<std::shared_ptr<Map>> Map::create(const MapSpec& spec_in, const MapOptions& options) {
    MapSpec spec = spec_in;
    auto layout = check_spec(spec, options);
    if (!layout) return tl::unexpected(layout.error());

    std::string root = pin_root(options);
    // The file: unnamed, in the pin root (so pin() can link it there). Where the
    // pin root cannot hold it, an anonymous memfd: the map works, pin() says why not.
    int fd = -1;
    std::string root_problem;
    if (auto dir = ensure_dir(root); !dir) {
        root_problem = dir.error().message;
    } else {
        fd = open(root.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) root_problem = fmt::format("pin root {}: O_TMPFILE: {}", root, strerror(errno));
    }
    if (fd < 0) {
        fd = memfd_create(("bpfvm-map-" + spec.name).c_str(), MFD_CLOEXEC);
        if (fd < 0)
            return make_error(fmt::format("ENOMEM: map '{}': no file for it ({}; memfd_create: {})", spec.name,
                                          root_problem, strerror(errno)));
    }
    uint64_t file_size = kHeaderSize + round_up(layout->storage_size, kPage);
    if (ftruncate(fd, off_t(file_size)) != 0) {
        int e = errno;
        close(fd);
        return make_error(fmt::format("ENOMEM: map '{}': {} bytes: {}", spec.name, file_size, strerror(e)));
    }
    // Take the memory now, as Linux allocates a map's memory when it creates it:
    // a full tmpfs is then an error here, not a SIGBUS when a program writes.
    if (int e = posix_fallocate(fd, 0, off_t(file_size)); e != 0 && e != EOPNOTSUPP && e != EINVAL) {
        close(fd);
        return make_error(fmt::format("ENOMEM: map '{}': cannot reserve {} bytes under {}: {}", spec.name, file_size,
                                      root, strerror(e)));
    }
    uint64_t ring = ring_data_size(spec.type, spec.max_entries);
    auto area = map_file(fd, file_size, ring, fmt::format("map '{}'", spec.name));
    if (!area) {
        close(fd);
        return tl::unexpected(area.error());
    }

    std::unique_ptr<Map> obj = make_map_object(spec.type);
    obj->spec_ = spec;
    obj->options_ = options;
    obj->nr_cpus_ = layout->nr_cpus;
    obj->fd_ = fd;
    obj->base_ = *area;
    obj->size_ = file_size + ring;
    obj->shared_ = static_cast<Shared*>(*area);
    obj->unpinnable_reason_ = root_problem;

    Shared* h = obj->shared_;
    memcpy(h->magic, kMagic, sizeof(kMagic));
    h->version = kLayoutVersion;
    h->header_size = kHeaderSize;
    h->file_size = file_size;
    h->type = spec.type;
    h->key_size = spec.key_size;
    h->value_size = spec.value_size;
    h->max_entries = spec.max_entries;
    h->map_flags = spec.map_flags;
    h->numa_node = spec.numa_node;
    h->map_extra = spec.map_extra;
    h->spin_lock_offset = spec.spin_lock_offset;
    h->nr_cpus = layout->nr_cpus;
    memset(h->name, 0, sizeof(h->name));
    memcpy(h->name, spec.name.data(), std::min<size_t>(spec.name.size(), 15));
    h->creator_token = process_token();
    h->param = spec.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY ? options.perf_buffer_size : 0;
    if (!(spec.map_flags & BPF_F_ZERO_SEED)) {
        std::random_device rd;
        h->seed = rd();
    }
    static_cast<MapImpl*>(obj.get())->attach(true);
    h->ready.store(1, std::memory_order_release);

    std::shared_ptr<Map> result(std::move(obj));
    {
        auto& live = live_maps();
        std::lock_guard<std::mutex> g(live.mutex);
        live.by_inode[file_identity(fd)] = result;
    }
    return result;
}

Result<void> Map::pin(const std::string& path) {
    std::string full = resolve_pin_path(path, options_);
    if (!unpinnable_reason_.empty())
        return make_error(fmt::format("EXDEV: pin {}: the map's file is not in the pin root ({})", full,
                                      unpinnable_reason_));
    std::string src = fmt::format("/proc/self/fd/{}", fd_);
    if (linkat(AT_FDCWD, src.c_str(), AT_FDCWD, full.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        int e = errno;
        if (e == EXDEV)
            return make_error(fmt::format("EXDEV: pin {}: not on the file system of the pin root {}", full,
                                          pin_root(options_)));
        if (e == EEXIST) return make_error(fmt::format("EEXIST: pin {}: the path exists", full));
        return make_error(fmt::format("{}: pin {}: {}", errno_name(-e), full, strerror(e)));
    }
    return {};
}

Result<std::shared_ptr<Map>> Map::open_pinned(const std::string& path, const MapOptions& options) {
    std::string full = resolve_pin_path(path, options);
    int fd = open(full.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return make_error(fmt::format("{}: open pinned map {}: {}", errno_name(-errno), full, strerror(errno)));
    auto fail = [&](const std::string& why) -> Result<std::shared_ptr<Map>> {
        close(fd);
        return make_error(fmt::format("EINVAL: pinned map {}: {}", full, why));
    };
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return fail("not a regular file");
    {
        auto& live = live_maps();
        std::lock_guard<std::mutex> g(live.mutex);
        auto it = live.by_inode.find({st.st_dev, st.st_ino});
        if (it != live.by_inode.end()) {
            if (auto m = it->second.lock()) {
                close(fd);
                return m;
            }
        }
    }
    if (uint64_t(st.st_size) < kHeaderSize)
        return fail(fmt::format("truncated: {} bytes, smaller than the {}-byte header", st.st_size, kHeaderSize));
    Shared h;
    if (pread(fd, &h, sizeof(h), 0) != ssize_t(sizeof(h))) return fail("cannot read the header");
    if (memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) return fail("not a bpfvm map (bad magic)");
    if (h.version != kLayoutVersion)
        return fail(fmt::format("layout version {}, this bpfvm reads version {}", h.version, kLayoutVersion));
    if (h.header_size != kHeaderSize) return fail(fmt::format("header size {} (expected {})", h.header_size, kHeaderSize));
    if (h.ready.load() != 1) return fail("not initialised (its creator did not finish)");

    MapSpec spec;
    spec.type = h.type;
    spec.key_size = h.key_size;
    spec.value_size = h.value_size;
    spec.max_entries = h.max_entries;
    spec.map_flags = h.map_flags;
    spec.numa_node = h.numa_node;
    spec.map_extra = h.map_extra;
    spec.spin_lock_offset = h.spin_lock_offset;
    spec.name.assign(h.name, strnlen(h.name, sizeof(h.name)));
    if (spec.type == BPF_MAP_TYPE_PROG_ARRAY || spec.type == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
        spec.type == BPF_MAP_TYPE_HASH_OF_MAPS) {
        if (h.creator_token != process_token())
            return fail(fmt::format("a {} holds ids of another process's objects and cannot be opened here",
                                    spec.type == BPF_MAP_TYPE_PROG_ARRAY ? "prog_array" : "map-in-map"));
        return fail("its creator closed it: the objects it referred to are gone");
    }
    MapOptions opts = options;
    opts.nr_cpus = h.nr_cpus;
    opts.perf_buffer_size = h.param ? h.param : opts.perf_buffer_size;
    MapSpec checked = spec;
    auto layout = check_spec(checked, opts);
    if (!layout) return fail(fmt::format("invalid map description in the header: {}", layout.error().message));
    if (checked.max_entries != spec.max_entries || layout->nr_cpus != h.nr_cpus)
        return fail("inconsistent header");
    uint64_t file_size = kHeaderSize + round_up(layout->storage_size, kPage);
    if (h.file_size != file_size || uint64_t(st.st_size) != file_size)
        return fail(fmt::format("truncated or resized: {} bytes, its header describes {}", st.st_size, file_size));
    uint64_t ring = ring_data_size(spec.type, spec.max_entries);
    auto area = map_file(fd, file_size, ring, fmt::format("pinned map {}", full));
    if (!area) {
        close(fd);
        return tl::unexpected(area.error());
    }
    std::unique_ptr<Map> obj = make_map_object(spec.type);
    obj->spec_ = spec;
    obj->options_ = opts;
    obj->nr_cpus_ = h.nr_cpus;
    obj->fd_ = fd;
    obj->base_ = *area;
    obj->size_ = file_size + ring;
    obj->shared_ = static_cast<Shared*>(*area);
    static_cast<MapImpl*>(obj.get())->attach(false);
    if (std::string bad = static_cast<MapImpl*>(obj.get())->check_storage(); !bad.empty())
        return make_error(fmt::format("EINVAL: pinned map {}: damaged: {}", full, bad));
    std::shared_ptr<Map> result(std::move(obj));
    auto& live = live_maps();
    std::lock_guard<std::mutex> g(live.mutex);
    auto& slot = live.by_inode[{st.st_dev, st.st_ino}];
    if (auto existing = slot.lock()) return existing; // another thread won
    slot = result;
    return result;
}

// ---------------------------------------------------------------------------
// Common queries.

bool Map::is_percpu() const {
    switch (spec_.type) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return true;
    default:
        return false;
    }
}

uint32_t Map::sys_value_size() const {
    if (is_percpu()) return uint32_t(round_up(spec_.value_size, 8)) * nr_cpus_;
    return spec_.value_size;
}

bool Map::frozen() const { return shared_->frozen.load(std::memory_order_acquire) != 0; }

// ---------------------------------------------------------------------------
// Program-side defaults.

long Map::push(const void*, uint64_t) { return -EINVAL; }
long Map::pop(void*) { return -EINVAL; }
long Map::peek(void*) { return -EINVAL; }
void* Map::lookup_percpu(const void*, uint32_t) { return nullptr; }
long Map::for_each(ForEachCallback, void*, uint64_t) { return -EINVAL; }
uint32_t Map::tail_call_target(uint32_t) const { return 0; }
void* Map::ringbuf_reserve(uint64_t, uint64_t) { return nullptr; }
long Map::ringbuf_output(const void*, uint64_t, uint64_t) { return -EINVAL; }
uint64_t Map::ringbuf_query(uint64_t) { return 0; }
long Map::perf_event_output(uint64_t, const void*, uint64_t, std::span<const uint8_t>) { return -EINVAL; }
void* Map::value_base() { return nullptr; }
std::shared_ptr<Map> Map::inner_map(const void*) { return nullptr; }

// ---------------------------------------------------------------------------
// Userspace side: the rules every type shares (syscall.c), then the type.

namespace {
bool can_read(const Map& m) { return !(m.map_flags() & BPF_F_WRONLY); }
bool can_write(const Map& m) { return !(m.map_flags() & BPF_F_RDONLY) && !m.frozen(); }
bool has_lock(const Map& m) { return m.spec().spin_lock_offset >= 0; }
} // namespace

long Map::sys_lookup(const void* key, void* value, uint64_t flags) {
    if (flags & ~uint64_t(BPF_F_LOCK)) return -EINVAL;
    if (!can_read(*this)) return -EPERM;
    if ((flags & BPF_F_LOCK) && !has_lock(*this)) return -EINVAL;
    return do_sys_lookup(key, value, flags);
}

long Map::sys_update(const void* key, const void* value, uint64_t flags) {
    if (!can_write(*this)) return -EPERM;
    if ((flags & BPF_F_LOCK) && !has_lock(*this)) return -EINVAL;
    return do_sys_update(key, value, flags);
}

long Map::sys_delete(const void* key) {
    if (!can_write(*this)) return -EPERM;
    return do_sys_delete(key);
}

long Map::sys_get_next_key(const void* key, void* next_key) {
    if (!can_read(*this)) return -EPERM;
    return do_sys_get_next_key(key, next_key);
}

long Map::sys_lookup_and_delete(const void* key, void* value, uint64_t flags) {
    if (flags & ~uint64_t(BPF_F_LOCK)) return -EINVAL;
    if (!can_read(*this) || !can_write(*this)) return -EPERM;
    if (flags && (spec_.type == BPF_MAP_TYPE_QUEUE || spec_.type == BPF_MAP_TYPE_STACK)) return -EINVAL;
    if ((flags & BPF_F_LOCK) && !has_lock(*this)) return -EINVAL;
    return do_sys_lookup_and_delete(key, value, flags);
}

long Map::sys_freeze() {
    // Linux checks write permission first (a frozen map has none: freezing
    // twice is -EPERM), then -EBUSY if frozen meanwhile.
    if (!can_write(*this)) return -EPERM;
    uint32_t expected = 0;
    if (!shared_->frozen.compare_exchange_strong(expected, 1)) return -EBUSY;
    return 0;
}

long Map::do_sys_lookup(const void* key, void* value, uint64_t flags) {
    void* v = lookup(key);
    if (!v) return -ENOENT;
    static_cast<MapImpl*>(this)->copy_out(value, v, flags);
    return 0;
}
long Map::do_sys_update(const void* key, const void* value, uint64_t flags) { return update(key, value, flags); }
long Map::do_sys_delete(const void* key) { return erase(key); }
long Map::do_sys_lookup_and_delete(const void*, void*, uint64_t) { return -kENOTSUPP; }

// Batches: the generic ones of syscall.c (cursor = the last key). Hash maps
// override do_batch with their bucket cursor.
long Map::sys_lookup_batch(const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                           uint64_t elem_flags) {
    if (!can_read(*this)) return -EPERM;
    return do_batch(BPF_MAP_LOOKUP_BATCH, in_batch, out_batch, keys, values, count, elem_flags);
}
long Map::sys_lookup_and_delete_batch(const void* in_batch, void* out_batch, void* keys, void* values,
                                      uint32_t* count, uint64_t elem_flags) {
    if (!can_read(*this) || !can_write(*this)) return -EPERM;
    return do_batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, in_batch, out_batch, keys, values, count, elem_flags);
}
long Map::sys_update_batch(const void* keys, const void* values, uint32_t* count, uint64_t elem_flags) {
    if (!can_write(*this)) return -EPERM;
    return do_batch(BPF_MAP_UPDATE_BATCH, nullptr, nullptr, const_cast<void*>(keys), const_cast<void*>(values),
                    count, elem_flags);
}
long Map::sys_delete_batch(const void* keys, uint32_t* count, uint64_t elem_flags) {
    if (!can_write(*this)) return -EPERM;
    return do_batch(BPF_MAP_DELETE_BATCH, nullptr, nullptr, const_cast<void*>(keys), nullptr, count, elem_flags);
}

long Map::do_batch(int cmd, const void* in_batch, void* out_batch, void* keys, void* values, uint32_t* count,
                   uint64_t elem_flags) {
    const uint32_t ks = spec_.key_size;
    const uint32_t vs = sys_value_size();
    // Which batch commands a type has (Linux's ops tables): arrays lookup and
    // update; lpm_trie also delete; hash types all four (their lookup batches are
    // HashMap::do_batch); the rest none.
    bool ok = false;
    switch (spec_.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
        ok = cmd == BPF_MAP_LOOKUP_BATCH || cmd == BPF_MAP_UPDATE_BATCH;
        break;
    case BPF_MAP_TYPE_LPM_TRIE:
        ok = cmd == BPF_MAP_LOOKUP_BATCH || cmd == BPF_MAP_UPDATE_BATCH || cmd == BPF_MAP_DELETE_BATCH;
        break;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_HASH_OF_MAPS:
        ok = true;
        break;
    default:
        break;
    }
    if (!ok) return -kENOTSUPP;
    switch (cmd) {
    case BPF_MAP_LOOKUP_BATCH: {
        // Linux offers the generic lookup batch for arrays (and others with
        // get_next_key); lookup_and_delete has no generic version.
        if (elem_flags & ~uint64_t(BPF_F_LOCK)) return -EINVAL;
        if ((elem_flags & BPF_F_LOCK) && !has_lock(*this)) return -EINVAL;
        uint32_t max = *count;
        if (!max) return 0;
        *count = 0;
        std::vector<unsigned char> prev(ks), key(ks), value(vs);
        bool have_prev = in_batch != nullptr;
        if (have_prev) memcpy(prev.data(), in_batch, ks);
        long err = 0;
        uint32_t cp = 0;
        while (cp < max) {
            err = do_sys_get_next_key(have_prev ? prev.data() : nullptr, key.data());
            if (err) break;
            err = do_sys_lookup(key.data(), value.data(), elem_flags);
            if (err == 0) {
                memcpy(static_cast<unsigned char*>(keys) + size_t(cp) * ks, key.data(), ks);
                memcpy(static_cast<unsigned char*>(values) + size_t(cp) * vs, value.data(), vs);
                cp++;
            } else if (err != -ENOENT) {
                return err;
            }
            prev.swap(key);
            have_prev = true;
        }
        *count = cp;
        if (cp && out_batch) memcpy(out_batch, prev.data(), ks);
        return err;
    }
    case BPF_MAP_UPDATE_BATCH: {
        if (elem_flags & ~uint64_t(BPF_F_LOCK)) return -EINVAL;
        if ((elem_flags & BPF_F_LOCK) && !has_lock(*this)) return -EINVAL;
        uint32_t max = *count;
        long err = 0;
        uint32_t cp = 0;
        for (; cp < max; cp++) {
            err = do_sys_update(static_cast<const unsigned char*>(keys) + size_t(cp) * ks,
                                static_cast<const unsigned char*>(values) + size_t(cp) * vs, elem_flags);
            if (err) break;
        }
        *count = cp;
        return err;
    }
    case BPF_MAP_DELETE_BATCH: {
        if (elem_flags & ~uint64_t(BPF_F_LOCK)) return -EINVAL;
        uint32_t max = *count;
        long err = 0;
        uint32_t cp = 0;
        for (; cp < max; cp++) {
            err = do_sys_delete(static_cast<const unsigned char*>(keys) + size_t(cp) * ks);
            if (err) break;
        }
        *count = cp;
        return err;
    }
    default:
        return -kENOTSUPP;
    }
}

} // namespace bpfvm
