// The kernel backend: Linux through libbpf and bpf(2). Needs root (CAP_BPF,
// CAP_PERFMON, CAP_NET_ADMIN); unavailable() says why it cannot run otherwise.
#include "kernel_backend.h"

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>

#include <linux/bpf.h>
#include <sched.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <fmt/format.h>

namespace bpfvm::mapconf {

namespace {

// libbpf's messages (the verifier's log among them) while an object loads.
std::string* g_libbpf_log = nullptr;

int print_to_log(enum libbpf_print_level level, const char* format, va_list args) {
    if (g_libbpf_log == nullptr || level == LIBBPF_DEBUG) return 0;
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(nullptr, 0, format, args);
    if (n > 0) {
        std::string text(static_cast<size_t>(n) + 1, '\0');
        vsnprintf(text.data(), text.size(), format, again);
        text.resize(static_cast<size_t>(n));
        g_libbpf_log->append(text);
    }
    va_end(again);
    return 0;
}

// The last lines of a long log: the verifier's reason is at its end.
std::string tail(const std::string& log, size_t lines) {
    size_t pos = log.size();
    while (pos > 0 && (log[pos - 1] == '\n' || log[pos - 1] == ' ')) pos--;
    size_t end = pos;
    for (size_t n = 0; n < lines && pos > 0; n++) {
        pos = log.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            pos = 0;
            break;
        }
    }
    return log.substr(pos == 0 ? 0 : pos + 1, end - (pos == 0 ? 0 : pos + 1));
}

class CpuPin {
public:
    explicit CpuPin(unsigned cpu) {
        ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ok_ = ok_ && sched_setaffinity(0, sizeof one, &one) == 0;
        error_ = errno;
    }
    ~CpuPin() { sched_setaffinity(0, sizeof saved_, &saved_); }
    bool ok() const { return ok_; }
    int error() const { return error_; }

private:
    cpu_set_t saved_;
    bool ok_ = false;
    int error_ = 0;
};

struct EventReader {
    std::vector<Bytes> records;
    perf_buffer* perf = nullptr;
    ring_buffer* ring = nullptr;
};

void on_perf_sample(void* ctx, int /*cpu*/, void* data, __u32 size) {
    auto* reader = static_cast<EventReader*>(ctx);
    auto* p = static_cast<const uint8_t*>(data);
    reader->records.emplace_back(p, p + size);
}

void on_perf_lost(void* ctx, int cpu, __u64 count) {
    auto* reader = static_cast<EventReader*>(ctx);
    // A lost-records marker, so a test sees it.
    std::string text = fmt::format("lost {} records on CPU {}", count, cpu);
    reader->records.emplace_back(text.begin(), text.end());
}

int on_ring_record(void* ctx, void* data, size_t size) {
    auto* reader = static_cast<EventReader*>(ctx);
    auto* p = static_cast<const uint8_t*>(data);
    reader->records.emplace_back(p, p + size);
    return 0;
}

class KernelObject final : public LoadedObject {
public:
    explicit KernelObject(bpf_object* obj) : obj_(obj) {}
    ~KernelObject() override {
        for (auto& [name, r] : readers_) {
            if (r->perf) perf_buffer__free(r->perf);
            if (r->ring) ring_buffer__free(r->ring);
        }
        bpf_object__close(obj_);
    }

    std::vector<MapDesc> maps() const override {
        std::vector<MapDesc> out;
        bpf_map* m;
        bpf_object__for_each_map(m, obj_) {
            MapDesc d;
            d.name = bpf_map__name(m);
            d.type = bpf_map__type(m);
            d.key_size = bpf_map__key_size(m);
            d.value_size = bpf_map__value_size(m);
            d.max_entries = bpf_map__max_entries(m);
            d.flags = bpf_map__map_flags(m);
            out.push_back(d);
        }
        return out;
    }

    Outcome<GlobalVar> global(const std::string& name) const override {
        const btf* b = bpf_object__btf(obj_);
        if (b == nullptr) return failure("the object has no BTF: its globals have no names");
        uint32_t n = btf__type_cnt(b);
        for (uint32_t id = 1; id < n; id++) {
            const btf_type* t = btf__type_by_id(b, id);
            if (!btf_is_datasec(t)) continue;
            const char* sec = btf__name_by_offset(b, t->name_off);
            const btf_var_secinfo* vi = btf_var_secinfos(t);
            for (uint16_t i = 0; i < btf_vlen(t); i++, vi++) {
                const btf_type* var = btf__type_by_id(b, vi->type);
                if (name != btf__name_by_offset(b, var->name_off)) continue;
                // The global data map whose name ends with the section's.
                bpf_map* m;
                bpf_object__for_each_map(m, obj_) {
                    std::string mn = bpf_map__name(m);
                    if (bpf_map__is_internal(m) && mn.size() >= std::strlen(sec) &&
                        mn.compare(mn.size() - std::strlen(sec), std::string::npos, sec) == 0)
                        return GlobalVar{mn, vi->offset, vi->size};
                }
                return failure(fmt::format("global '{}' is in section {}, which has no map", name, sec));
            }
        }
        return failure(fmt::format("no global variable '{}' in the object's BTF", name));
    }

    Errno<void> update(const std::string& map, const Bytes& key, const Bytes& value, uint64_t flags) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        if (bpf_map_update_elem(fd, key.data(), value.data(), flags) != 0) return errno_error(errno);
        return {};
    }

    Errno<Bytes> lookup(const std::string& map, const Bytes& key, uint64_t flags) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        Bytes value(value_buffer_size(map));
        if (bpf_map_lookup_elem_flags(fd, key.data(), value.data(), flags) != 0) return errno_error(errno);
        return value;
    }

    Errno<void> remove(const std::string& map, const Bytes& key) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        if (bpf_map_delete_elem(fd, key.data()) != 0) return errno_error(errno);
        return {};
    }

    Errno<Bytes> next_key(const std::string& map, const Bytes& key) override {
        bpf_map* m = bpf_object__find_map_by_name(obj_, map.c_str());
        if (m == nullptr) return errno_error(EBADF);
        Bytes next(bpf_map__key_size(m));
        if (bpf_map_get_next_key(bpf_map__fd(m), key.empty() ? nullptr : key.data(), next.data()) != 0)
            return errno_error(errno);
        return next;
    }

    Errno<void> push(const std::string& map, const Bytes& value, uint64_t flags) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        if (bpf_map_update_elem(fd, nullptr, value.data(), flags) != 0) return errno_error(errno);
        return {};
    }

    Errno<Bytes> pop(const std::string& map) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        Bytes value(value_buffer_size(map));
        if (bpf_map_lookup_and_delete_elem(fd, nullptr, value.data()) != 0) return errno_error(errno);
        return value;
    }

    Errno<Bytes> peek(const std::string& map, const Bytes& value) override {
        int fd = map_fd(map);
        if (fd < 0) return errno_error(EBADF);
        Bytes out = value;
        out.resize(value_buffer_size(map));
        if (bpf_map_lookup_elem(fd, nullptr, out.data()) != 0) return errno_error(errno);
        const bpf_map* m = bpf_object__find_map_by_name(obj_, map.c_str());
        if (bpf_map__type(m) == BPF_MAP_TYPE_BLOOM_FILTER) return Bytes{};
        return out;
    }

    Errno<void> set_program(const std::string& map, uint32_t index, const std::string& program) override {
        int fd = map_fd(map);
        bpf_program* p = bpf_object__find_program_by_name(obj_, program.c_str());
        if (fd < 0 || p == nullptr) return errno_error(EBADF);
        int pfd = bpf_program__fd(p);
        if (bpf_map_update_elem(fd, &index, &pfd, BPF_ANY) != 0) return errno_error(errno);
        return {};
    }

    Errno<void> set_inner_map(const std::string& map, const Bytes& key, const std::string& inner) override {
        int fd = map_fd(map);
        int ifd = map_fd(inner);
        if (fd < 0 || ifd < 0) return errno_error(EBADF);
        if (bpf_map_update_elem(fd, key.data(), &ifd, BPF_ANY) != 0) return errno_error(errno);
        return {};
    }

    Outcome<void> open_events(const std::string& map) override {
        bpf_map* m = bpf_object__find_map_by_name(obj_, map.c_str());
        if (m == nullptr) return failure(fmt::format("no map '{}'", map));
        auto reader = std::make_unique<EventReader>();
        if (bpf_map__type(m) == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
            reader->perf = perf_buffer__new(bpf_map__fd(m), 8, on_perf_sample, on_perf_lost, reader.get(), nullptr);
            if (reader->perf == nullptr)
                return failure(fmt::format("perf_buffer__new({}): {}", map, std::strerror(errno)));
        } else if (bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF) {
            reader->ring = ring_buffer__new(bpf_map__fd(m), on_ring_record, reader.get(), nullptr);
            if (reader->ring == nullptr)
                return failure(fmt::format("ring_buffer__new({}): {}", map, std::strerror(errno)));
        } else {
            return failure(fmt::format("map '{}' is neither a perf event array nor a ring buffer", map));
        }
        readers_[map] = std::move(reader);
        return {};
    }

    Outcome<std::vector<Bytes>> read_events(const std::string& map) override {
        auto it = readers_.find(map);
        if (it == readers_.end()) return failure(fmt::format("no events reader open on '{}'", map));
        EventReader& r = *it->second;
        int n = r.perf ? perf_buffer__consume(r.perf) : ring_buffer__consume(r.ring);
        if (n < 0) return failure(fmt::format("consuming '{}': {}", map, std::strerror(-n)));
        std::vector<Bytes> out = std::move(r.records);
        r.records.clear();
        return out;
    }

    Outcome<RunOutput> run(const std::string& program, const RunInput& input) override {
        bpf_program* p = bpf_object__find_program_by_name(obj_, program.c_str());
        if (p == nullptr) return failure(fmt::format("no program '{}' in the object", program));
        RunOutput out;
        Bytes data_out(input.packet.size() + 4096);
        // raw_tp and syscall programs take a context and nothing else: no
        // repeat, no ctx_out (a syscall program's context is written back
        // into ctx_in).
        bpf_prog_type type = bpf_program__type(p);
        bool context_only = type == BPF_PROG_TYPE_RAW_TRACEPOINT || type == BPF_PROG_TYPE_SYSCALL;
        Bytes ctx_in = input.ctx;
        Bytes ctx_out(input.ctx.size());
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        if (!input.packet.empty()) {
            opts.data_in = input.packet.data();
            opts.data_size_in = static_cast<uint32_t>(input.packet.size());
            opts.data_out = data_out.data();
            opts.data_size_out = static_cast<uint32_t>(data_out.size());
        }
        if (!ctx_in.empty()) {
            opts.ctx_in = ctx_in.data();
            opts.ctx_size_in = static_cast<uint32_t>(ctx_in.size());
            if (!context_only) {
                opts.ctx_out = ctx_out.data();
                opts.ctx_size_out = static_cast<uint32_t>(ctx_out.size());
            }
        }
        if (!context_only) opts.repeat = 1;
        CpuPin pin(input.cpu);
        if (!pin.ok()) return failure(fmt::format("cannot run on CPU {}: {}", input.cpu, std::strerror(pin.error())));
        if (bpf_prog_test_run_opts(bpf_program__fd(p), &opts) != 0)
            return failure(fmt::format("BPF_PROG_TEST_RUN of {}: {}", program, std::strerror(errno)));
        if (type == BPF_PROG_TYPE_SYSCALL) {
            ctx_out = ctx_in;
            opts.ctx_size_out = static_cast<uint32_t>(ctx_in.size());
        }
        out.retval = opts.retval;
        if (!input.packet.empty()) {
            data_out.resize(std::min<size_t>(opts.data_size_out, data_out.size()));
            out.packet = std::move(data_out);
        }
        if (!input.ctx.empty()) {
            ctx_out.resize(std::min<size_t>(opts.ctx_size_out, ctx_out.size()));
            out.ctx = std::move(ctx_out);
        }
        return out;
    }

private:
    int map_fd(const std::string& name) const {
        const bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
        return m ? bpf_map__fd(m) : -1;
    }

    size_t value_buffer_size(const std::string& name) const {
        const bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
        if (m == nullptr) return 0;
        size_t size = bpf_map__value_size(m);
        switch (bpf_map__type(m)) {
        case BPF_MAP_TYPE_PERCPU_ARRAY:
        case BPF_MAP_TYPE_PERCPU_HASH:
        case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
            return ((size + 7) / 8 * 8) * static_cast<size_t>(libbpf_num_possible_cpus());
        default:
            return size;
        }
    }

    bpf_object* obj_;
    std::map<std::string, std::unique_ptr<EventReader>> readers_;
};

class KernelBackend final : public MapConfBackend {
public:
    std::string name() const override { return "kernel"; }

    std::optional<std::string> unavailable() override {
        if (!checked_) {
            checked_ = true;
            why_not_ = probe();
        }
        return why_not_;
    }

    unsigned possible_cpus() const override {
        int n = libbpf_num_possible_cpus();
        return n > 0 ? static_cast<unsigned>(n) : 1;
    }

    Outcome<std::unique_ptr<LoadedObject>> load(const std::string& path) override {
        std::string log;
        g_libbpf_log = &log;
        libbpf_set_print(print_to_log);
        bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
        if (obj == nullptr) {
            int e = errno;
            g_libbpf_log = nullptr;
            return failure(fmt::format("bpf_object__open_file({}): {}\n{}", path, std::strerror(e), tail(log, 20)));
        }
        if (bpf_object__load(obj) != 0) {
            int e = errno;
            bpf_object__close(obj);
            g_libbpf_log = nullptr;
            return failure(fmt::format("bpf_object__load({}): {}\n{}", path, std::strerror(e), tail(log, 30)));
        }
        g_libbpf_log = nullptr;
        return std::unique_ptr<LoadedObject>(new KernelObject(obj));
    }

private:
    static std::optional<std::string> probe() {
        std::string hint = geteuid() != 0 ? " (not root: the suite needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)"
                                          : " (root, but refused: a security module or a container forbids bpf(2))";
        int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "mapconf_probe", 4, 8, 1, nullptr);
        if (fd < 0) return fmt::format("Linux refuses to create a BPF array map: {}{}", std::strerror(errno), hint);
        close(fd);
        // r0 = 2 (XDP_PASS); exit
        struct bpf_insn insns[2] = {};
        insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
        insns[0].imm = 2;
        insns[1].code = BPF_JMP | BPF_EXIT;
        int pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "mapconf_probe", "GPL", insns, 2, nullptr);
        if (pfd < 0) return fmt::format("Linux refuses to load a trivial XDP program: {}{}", std::strerror(errno), hint);
        uint8_t packet[64] = {};
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof packet, .repeat = 1);
        int r = bpf_prog_test_run_opts(pfd, &opts);
        int e = errno;
        close(pfd);
        if (r != 0) return fmt::format("bpf(BPF_PROG_TEST_RUN) of a trivial XDP program fails: {}", std::strerror(e));
        if (opts.retval != 2) return fmt::format("BPF_PROG_TEST_RUN of a trivial XDP program returned {}, not 2", opts.retval);
        return std::nullopt;
    }

    bool checked_ = false;
    std::optional<std::string> why_not_;
};

} // namespace

std::unique_ptr<MapConfBackend> make_kernel_backend() { return std::make_unique<KernelBackend>(); }

} // namespace bpfvm::mapconf
