// The trace pipe bpf_trace_printk writes to: a ring of lines in a shared file
// under the pin root, guarded by a robust process-shared mutex, so that any
// bpfvm process writes to it and another (`bpfvm trace`) reads it.
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

#include "bpfvm/helpers.h"
#include "bpfvm/map.h"

namespace bpfvm {

struct TracePipe::Shared {
    static constexpr uint64_t kMagic = 0x4550495050525442ull; // "BTRPPIPE"
    static constexpr uint32_t kVersion = 1;
    static constexpr uint32_t kHeaderSize = 4096;

    std::atomic<uint64_t> magic; // written last when the file is set up
    uint32_t version;
    uint32_t header_size;
    uint64_t capacity; // bytes of the ring after the header
    pthread_mutex_t lock;
    uint64_t head; // bytes ever written (records: u32 length, then the line)
    uint64_t tail; // bytes ever consumed
    uint64_t lost; // lines dropped to make room
    std::atomic<uint32_t> seq;     // futex word: bumped by every write
    std::atomic<uint32_t> waiters; // readers waiting on seq

    uint8_t* ring() { return reinterpret_cast<uint8_t*>(this) + header_size; }
    // A writer that died mid-way or a damaged file must not make readers loop.
    bool consistent() const { return head >= tail && head - tail <= capacity; }
    void reset() {
        lost++;
        tail = head;
    }
    void copy_in(uint64_t pos, const void* src, size_t n) {
        size_t off = static_cast<size_t>(pos % capacity), first = std::min<size_t>(n, capacity - off);
        std::memcpy(ring() + off, src, first);
        std::memcpy(ring(), static_cast<const uint8_t*>(src) + first, n - first);
    }
    void copy_out(uint64_t pos, void* dst, size_t n) {
        size_t off = static_cast<size_t>(pos % capacity), first = std::min<size_t>(n, capacity - off);
        std::memcpy(dst, ring() + off, first);
        std::memcpy(static_cast<uint8_t*>(dst) + first, ring(), n - first);
    }
};
static_assert(sizeof(TracePipe::Shared) <= TracePipe::Shared::kHeaderSize);

namespace {

std::string default_pin_root() {
    const char* env = std::getenv("BPFVM_PIN_ROOT");
    return env && *env ? std::string(env) : std::string("/dev/shm/bpfvm");
}

// Locks the robust mutex; a holder that died leaves it consistent again.
struct Locked {
    pthread_mutex_t* m;
    explicit Locked(pthread_mutex_t* mutex) : m(mutex) {
        if (pthread_mutex_lock(m) == EOWNERDEAD) pthread_mutex_consistent(m);
    }
    ~Locked() { pthread_mutex_unlock(m); }
};

void futex_wake(std::atomic<uint32_t>* word) {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout) {
    timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000), static_cast<long>(timeout.count() % 1'000'000'000)};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

std::string errno_text(int e) { return std::strerror(e); }

} // namespace

std::string TracePipe::path_for(const std::string& pin_root) {
    return (pin_root.empty() ? default_pin_root() : pin_root) + "/trace_pipe";
}

Result<std::shared_ptr<TracePipe>> TracePipe::open(const std::string& pin_root) {
    const std::string root = pin_root.empty() ? default_pin_root() : pin_root;
    const std::string path = root + "/trace_pipe";
    const size_t size = Shared::kHeaderSize + kDefaultCapacity;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (::mkdir(root.c_str(), 01777) == 0) ::chmod(root.c_str(), 01777);
        // Set up in an unnamed file, then linked into place: whoever opens the
        // path finds it complete. If another process links first, use its file.
        int tmp = ::open(root.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (tmp < 0)
            return make_error(fmt::format("trace pipe {}: cannot create a file in {}: {}", path, root, errno_text(errno)));
        if (::ftruncate(tmp, static_cast<off_t>(size)) != 0) {
            int e = errno;
            ::close(tmp);
            return make_error(fmt::format("trace pipe {}: cannot size the file: {}", path, errno_text(e)));
        }
        void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, tmp, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            ::close(tmp);
            return make_error(fmt::format("trace pipe {}: cannot map the file: {}", path, errno_text(e)));
        }
        auto* sh = static_cast<Shared*>(m);
        sh->version = Shared::kVersion;
        sh->header_size = Shared::kHeaderSize;
        sh->capacity = kDefaultCapacity;
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&sh->lock, &attr);
        pthread_mutexattr_destroy(&attr);
        sh->magic.store(Shared::kMagic, std::memory_order_release);
        ::munmap(m, size);
        std::string proc = fmt::format("/proc/self/fd/{}", tmp);
        if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
            fd = tmp;
        } else {
            int e = errno;
            ::close(tmp);
            if (e != EEXIST)
                return make_error(fmt::format("trace pipe {}: cannot create it: {}", path, errno_text(e)));
            fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        }
    }
    if (fd < 0) return make_error(fmt::format("trace pipe {}: cannot open it: {}", path, errno_text(errno)));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < Shared::kHeaderSize) {
        ::close(fd);
        return make_error(fmt::format("trace pipe {}: not a bpfvm trace pipe (too small)", path));
    }
    const size_t file_size = static_cast<size_t>(st.st_size);
    void* m = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    ::close(fd);
    if (m == MAP_FAILED) return make_error(fmt::format("trace pipe {}: cannot map it: {}", path, errno_text(e)));
    auto* sh = static_cast<Shared*>(m);
    std::string bad;
    if (sh->magic.load(std::memory_order_acquire) != Shared::kMagic) bad = "bad magic";
    else if (sh->version != Shared::kVersion) bad = fmt::format("layout version {}, expected {}", sh->version, Shared::kVersion);
    else if (sh->header_size != Shared::kHeaderSize || sh->capacity == 0 ||
             sh->capacity != file_size - Shared::kHeaderSize)
        bad = "its size does not match its header";
    if (!bad.empty()) {
        ::munmap(m, file_size);
        return make_error(fmt::format("trace pipe {}: not a bpfvm trace pipe ({})", path, bad));
    }
    std::shared_ptr<TracePipe> pipe(new TracePipe());
    pipe->path_ = path;
    pipe->shared_ = sh;
    pipe->size_ = file_size;
    return pipe;
}

std::shared_ptr<TracePipe> TracePipe::process_pipe(std::string* why) {
    static std::mutex mu;
    static std::shared_ptr<TracePipe> pipe;
    static std::string root, error;
    std::lock_guard<std::mutex> g(mu);
    // Opened again when the pin root changes (tests point it elsewhere).
    std::string now = default_pin_root();
    if (!pipe || root != now) {
        root = now;
        auto p = open(root);
        pipe = p ? *p : nullptr;
        error = p ? std::string() : p.error().message;
    }
    if (why) *why = error;
    return pipe;
}

TracePipe::~TracePipe() {
    if (shared_) ::munmap(shared_, size_);
}

void TracePipe::write(std::string_view line) {
    std::string text(line);
    if (text.empty() || text.back() != '\n') text += '\n';
    Shared* sh = shared_;
    const uint64_t need = sizeof(uint32_t) + text.size();
    if (need > sh->capacity) return;
    {
        Locked g(&sh->lock);
        if (!sh->consistent()) sh->reset();
        while (sh->capacity - (sh->head - sh->tail) < need) { // drop the oldest lines
            uint32_t len = 0;
            sh->copy_out(sh->tail, &len, sizeof len);
            if (sizeof len + len > sh->head - sh->tail) { // a damaged record: start afresh
                sh->reset();
                break;
            }
            sh->tail += sizeof len + len;
            sh->lost++;
        }
        uint32_t len = static_cast<uint32_t>(text.size());
        sh->copy_in(sh->head, &len, sizeof len);
        sh->copy_in(sh->head + sizeof len, text.data(), text.size());
        sh->head += need;
        sh->seq.fetch_add(1, std::memory_order_release);
    }
    if (sh->waiters.load(std::memory_order_acquire)) futex_wake(&sh->seq);
}

std::optional<std::string> TracePipe::read(std::chrono::milliseconds timeout) {
    Shared* sh = shared_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        uint32_t seen;
        {
            Locked g(&sh->lock);
            if (!sh->consistent()) sh->reset();
            if (sh->head != sh->tail) {
                uint32_t len = 0;
                sh->copy_out(sh->tail, &len, sizeof len);
                if (sizeof len + len > sh->head - sh->tail) { // a damaged record: start afresh
                    sh->reset();
                    continue;
                }
                std::string line(len, '\0');
                sh->copy_out(sh->tail + sizeof len, line.data(), line.size());
                sh->tail += sizeof len + len;
                return line;
            }
            seen = sh->seq.load(std::memory_order_acquire);
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::nullopt;
        sh->waiters.fetch_add(1, std::memory_order_acq_rel);
        // Bounded waits: a writer that raced past the waiters count is seen soon.
        auto left = std::min<std::chrono::nanoseconds>(deadline - now, std::chrono::milliseconds(100));
        futex_wait(&sh->seq, seen, left);
        sh->waiters.fetch_sub(1, std::memory_order_acq_rel);
    }
}

uint64_t TracePipe::lost() const {
    Locked g(&shared_->lock);
    return shared_->lost;
}

std::string format_trace_line(std::string_view comm, uint32_t pid, uint32_t cpu, uint64_t time_ns,
                              std::string_view text) {
    uint64_t usec = time_ns / 1000;
    return fmt::format("{:>16}-{:<7} [{:03}] ..... {:5}.{:06}: bpf_trace_printk: {}", comm, pid, cpu,
                       usec / 1'000'000, usec % 1'000'000, text);
}

void TracePipe::write_printk(std::string_view text) {
    char comm[17] = {};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
    write(format_trace_line(comm, static_cast<uint32_t>(gettid()), current_cpu(), ns, text));
}

} // namespace bpfvm
