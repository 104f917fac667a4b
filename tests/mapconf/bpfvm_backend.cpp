// bpfvm as a map and helper conformance backend: the runtime (LoadedObject,
// checked mode) on the JIT ("bpfvm") or the interpreter ("bpfvm_interp").
//
// Contexts: bpfvm has no program-type context rewriting, so the backend builds
// the bytes the program reads. XDP (struct xdp_md) and skb programs (struct
// __sk_buff) read data/data_end as 32-bit fields and turn them into pointers;
// the packet is therefore placed below 4 GiB (MAP_32BIT), where a 32-bit field
// holds its whole address, and handed to the checked mode as a region.
// raw_tp and syscall programs get the context bytes as they are.
//
// A run on a chosen CPU: bpfvm gives each thread a per-CPU slot
// (current_cpu(): the lowest slot no other live thread holds) and offers no
// way to pick another. A run on the calling thread's slot runs on the calling
// thread (the task helpers see the runner); a run on another CPU runs on a
// worker thread of the backend that holds that slot (checked: the worker's
// current_cpu() is the CPU asked for), else the case is skipped with the
// reason. A worker is another thread: its pid_tgid is not the runner's.
#include "bpfvm_backend.h"

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include <linux/bpf.h>
#include <sys/mman.h>

#include <bpf/btf.h>

#include <fmt/format.h>

#include "bpfvm/map.h"
#include "bpfvm/runtime.h"

namespace bpfvm::mapconf {

namespace {

// struct __sk_buff offsets (uapi/linux/bpf.h) the backend fills.
constexpr size_t kSkbLen = offsetof(struct __sk_buff, len);
constexpr size_t kSkbData = offsetof(struct __sk_buff, data);
constexpr size_t kSkbDataEnd = offsetof(struct __sk_buff, data_end);
constexpr size_t kSkbDataMeta = offsetof(struct __sk_buff, data_meta);

// Packet memory below 4 GiB, so that a 32-bit context field holds its address.
class LowPacket {
public:
    explicit LowPacket(const Bytes& bytes) {
        size_ = bytes.size();
        size_t map_size = (size_ + 4095) / 4096 * 4096;
        if (map_size == 0) map_size = 4096;
        void* p = mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (p == MAP_FAILED) {
            error_ = errno;
            return;
        }
        base_ = static_cast<uint8_t*>(p);
        map_size_ = map_size;
        if (size_ > 0) std::memcpy(base_, bytes.data(), size_);
    }
    ~LowPacket() {
        if (base_ != nullptr) munmap(base_, map_size_);
    }
    LowPacket(const LowPacket&) = delete;
    LowPacket& operator=(const LowPacket&) = delete;
    bool ok() const { return base_ != nullptr && reinterpret_cast<uintptr_t>(base_) + size_ <= UINT32_MAX; }
    int error() const { return error_; }
    uint32_t begin() const { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(base_)); }
    uint32_t end() const { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(base_) + size_); }
    Bytes bytes() const { return Bytes(base_, base_ + size_); }
    MemoryRegion region() const { return MemoryRegion{reinterpret_cast<uint64_t>(base_), size_, true, "packet"}; }
    std::span<const uint8_t> span() const { return {base_, size_}; }

private:
    uint8_t* base_ = nullptr;
    size_t size_ = 0;
    size_t map_size_ = 0;
    int error_ = 0;
};

void put32(std::vector<uint8_t>& buf, size_t offset, uint32_t v) { std::memcpy(buf.data() + offset, &v, 4); }

Errno<void> sys_result(long r) {
    if (r < 0) return errno_error(static_cast<int>(-r));
    return {};
}

// A thread that keeps the per-CPU slot it got when it started and runs jobs.
class SlotWorker {
public:
    SlotWorker() : thread_([this] { loop(); }) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return started_; });
    }
    ~SlotWorker() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    SlotWorker(const SlotWorker&) = delete;
    SlotWorker& operator=(const SlotWorker&) = delete;
    uint32_t slot() const { return slot_; }
    // Runs `job` on the worker and waits for it.
    void run(std::function<void()> job) {
        std::unique_lock<std::mutex> lock(mutex_);
        job_ = std::move(job);
        cv_.notify_all();
        cv_.wait(lock, [this] { return !job_; });
    }

private:
    void loop() {
        uint32_t slot = current_cpu();
        std::unique_lock<std::mutex> lock(mutex_);
        slot_ = slot;
        started_ = true;
        cv_.notify_all();
        for (;;) {
            cv_.wait(lock, [this] { return stop_ || bool(job_); });
            if (stop_) return;
            job_();
            job_ = nullptr;
            cv_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::function<void()> job_;
    bool started_ = false;
    bool stop_ = false;
    uint32_t slot_ = 0;
    std::thread thread_; // last: starts once the members above exist
};

// The workers, one per slot other than the runner's, made on demand; one set
// for the process (a slot a worker holds is no other thread's).
class SlotWorkers {
public:
    // The worker whose slot is `cpu`, or nullptr when no new thread gets it.
    SlotWorker* for_cpu(uint32_t cpu, uint32_t slots) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (;;) {
            for (auto& w : workers_)
                if (w->slot() % slots == cpu) return w.get();
            if (workers_.size() + 1 >= slots) return nullptr;
            workers_.push_back(std::make_unique<SlotWorker>());
        }
    }

private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<SlotWorker>> workers_;
};

SlotWorkers& slot_workers() {
    static SlotWorkers workers;
    return workers;
}

struct EventReader {
    std::vector<Bytes> records;
    std::unique_ptr<PerfBufferReader> perf;
    std::unique_ptr<RingBufferReader> ring;
};

class BpfvmObject final : public LoadedObject {
public:
    BpfvmObject(std::shared_ptr<bpfvm::LoadedObject> obj, SlotWorkers& workers)
        : obj_(std::move(obj)), workers_(workers) {}

    std::vector<MapDesc> maps() const override {
        std::vector<MapDesc> out;
        for (const LoadedMap& m : obj_->maps()) {
            MapDesc d;
            d.name = m.name;
            d.type = m.map->type();
            d.key_size = m.map->key_size();
            d.value_size = m.map->value_size();
            d.max_entries = m.map->max_entries();
            d.flags = m.map->map_flags();
            out.push_back(d);
        }
        return out;
    }

    Outcome<GlobalVar> global(const std::string& name) const override {
        const struct btf* b = obj_->elf().btf();
        if (b == nullptr) return failure("the object has no BTF: its globals have no names");
        uint32_t n = btf__type_cnt(b);
        for (uint32_t id = 1; id < n; id++) {
            const btf_type* t = btf__type_by_id(b, id);
            if (!btf_is_datasec(t)) continue;
            std::string sec = btf__name_by_offset(b, t->name_off);
            const btf_var_secinfo* vi = btf_var_secinfos(t);
            for (uint16_t i = 0; i < btf_vlen(t); i++, vi++) {
                const btf_type* var = btf__type_by_id(b, vi->type);
                if (name != btf__name_by_offset(b, var->name_off)) continue;
                for (const LoadedMap& m : obj_->maps()) {
                    auto k = m.spec.kind;
                    bool data = k == ElfMapSpec::Kind::Data || k == ElfMapSpec::Kind::Rodata ||
                                k == ElfMapSpec::Kind::Bss;
                    if (data && m.spec.section == sec) return GlobalVar{m.name, vi->offset, vi->size};
                }
                return failure(fmt::format("global '{}' is in section {}, which has no map", name, sec));
            }
        }
        return failure(fmt::format("no global variable '{}' in the object's BTF", name));
    }

    Errno<void> update(const std::string& map, const Bytes& key, const Bytes& value, uint64_t flags) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes v = sized(*m, value);
        return sys_result(m->sys_update(key.data(), v.data(), flags));
    }

    Errno<Bytes> lookup(const std::string& map, const Bytes& key, uint64_t flags) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes value(m->sys_value_size());
        long r = m->sys_lookup(key.data(), value.data(), flags);
        if (r < 0) return errno_error(static_cast<int>(-r));
        return value;
    }

    Errno<void> remove(const std::string& map, const Bytes& key) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        return sys_result(m->sys_delete(key.data()));
    }

    Errno<Bytes> next_key(const std::string& map, const Bytes& key) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes next(m->key_size());
        long r = m->sys_get_next_key(key.empty() ? nullptr : key.data(), next.data());
        if (r < 0) return errno_error(static_cast<int>(-r));
        return next;
    }

    Errno<void> push(const std::string& map, const Bytes& value, uint64_t flags) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes v = sized(*m, value);
        return sys_result(m->sys_update(nullptr, v.data(), flags));
    }

    Errno<Bytes> pop(const std::string& map) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes value(m->sys_value_size());
        long r = m->sys_lookup_and_delete(nullptr, value.data());
        if (r < 0) return errno_error(static_cast<int>(-r));
        return value;
    }

    Errno<Bytes> peek(const std::string& map, const Bytes& value) override {
        Map* m = find(map);
        if (m == nullptr) return errno_error(EBADF);
        Bytes out = sized(*m, value);
        long r = m->sys_lookup(nullptr, out.data());
        if (r < 0) return errno_error(static_cast<int>(-r));
        if (m->type() == BPF_MAP_TYPE_BLOOM_FILTER) return Bytes{};
        return out;
    }

    Errno<void> set_program(const std::string& map, uint32_t index, const std::string& program) override {
        Map* m = find(map);
        auto p = obj_->find_program(program);
        if (m == nullptr || p == nullptr) return errno_error(EBADF);
        uint32_t id = p->id();
        return sys_result(m->sys_update(&index, &id, BPF_ANY));
    }

    Errno<void> set_inner_map(const std::string& map, const Bytes& key, const std::string& inner) override {
        Map* m = find(map);
        const LoadedMap* i = obj_->find_loaded_map(inner);
        if (m == nullptr || i == nullptr) return errno_error(EBADF);
        uint32_t id = i->id;
        return sys_result(m->sys_update(key.data(), &id, BPF_ANY));
    }

    Outcome<void> open_events(const std::string& map) override {
        std::shared_ptr<Map> m = obj_->find_map(map);
        if (m == nullptr) return failure(fmt::format("no map '{}'", map));
        auto reader = std::make_unique<EventReader>();
        EventReader* r = reader.get();
        if (m->type() == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
            auto perf = PerfBufferReader::create(
                m,
                [r](uint32_t, const void* data, size_t size) {
                    auto* p = static_cast<const uint8_t*>(data);
                    r->records.emplace_back(p, p + size);
                },
                [r](uint32_t cpu, uint64_t lost) {
                    std::string text = fmt::format("lost {} records on CPU {}", lost, cpu);
                    r->records.emplace_back(text.begin(), text.end());
                });
            if (!perf) return failure(fmt::format("PerfBufferReader({}): {}", map, perf.error().to_string()));
            reader->perf = std::move(*perf);
        } else if (m->type() == BPF_MAP_TYPE_RINGBUF) {
            reader->ring = std::make_unique<RingBufferReader>();
            auto added = reader->ring->add(m, [r](const void* data, size_t size) {
                auto* p = static_cast<const uint8_t*>(data);
                r->records.emplace_back(p, p + size);
                return 0;
            });
            if (!added) return failure(fmt::format("RingBufferReader({}): {}", map, added.error().to_string()));
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
        long n = r.perf ? r.perf->consume() : r.ring->consume();
        if (n < 0) return failure(fmt::format("consuming '{}': {}", map, errno_name(n)));
        std::vector<Bytes> out = std::move(r.records);
        r.records.clear();
        return out;
    }

    Outcome<RunOutput> run(const std::string& program, const RunInput& input) override {
        auto p = obj_->find_program(program);
        if (p == nullptr) return failure(fmt::format("no program '{}' in the object", program));
        uint32_t slots = default_nr_cpus();
        uint32_t here = current_cpu() % slots;
        if (input.cpu == here) return run_here(*p, program, input);
        SlotWorker* worker = workers_.for_cpu(input.cpu, slots);
        if (worker == nullptr)
            return failure(fmt::format("{}a run on CPU {}: bpfvm runs a program on the calling thread's per-CPU "
                                       "slot ({}), and no worker thread got slot {}",
                                       kUnsupported, input.cpu, here, input.cpu));
        Outcome<RunOutput> out = failure("the worker did not run");
        worker->run([&] { out = run_here(*p, program, input); });
        return out;
    }

private:
    Outcome<RunOutput> run_here(const LoadedProgram& prog, const std::string& program, const RunInput& input) {
        const LoadedProgram* p = &prog;
        RunOptions options;
        options.checked = p->checked();
        RunOutput out;
        uint32_t type = p->prog_type();
        switch (type) {
        case BPF_PROG_TYPE_XDP: {
            LowPacket pkt(input.packet);
            if (!pkt.ok()) return failure(fmt::format("no packet memory below 4 GiB: {}", std::strerror(pkt.error())));
            std::vector<uint8_t> ctx(sizeof(struct xdp_md), 0);
            if (!input.ctx.empty()) std::memcpy(ctx.data(), input.ctx.data(), std::min(ctx.size(), input.ctx.size()));
            put32(ctx, offsetof(struct xdp_md, data), pkt.begin());
            put32(ctx, offsetof(struct xdp_md, data_end), pkt.end());
            put32(ctx, offsetof(struct xdp_md, data_meta), pkt.begin());
            options.regions.push_back(pkt.region());
            options.packet = pkt.span(); // the run's packet (LD_ABS, bpf_perf_event_output's packet bytes)
            auto r = p->run(ctx.data(), ctx.size(), options);
            if (!r) return failure(fmt::format("running {}: {}", program, r.error().to_string()));
            out.retval = static_cast<uint32_t>(*r);
            if (!input.packet.empty()) out.packet = pkt.bytes();
            if (!input.ctx.empty()) out.ctx = input.ctx;
            return out;
        }
        case BPF_PROG_TYPE_SCHED_CLS:
        case BPF_PROG_TYPE_SCHED_ACT:
        case BPF_PROG_TYPE_CGROUP_SKB: {
            LowPacket pkt(input.packet);
            if (!pkt.ok()) return failure(fmt::format("no packet memory below 4 GiB: {}", std::strerror(pkt.error())));
            std::vector<uint8_t> ctx(sizeof(struct __sk_buff), 0);
            if (!input.ctx.empty()) std::memcpy(ctx.data(), input.ctx.data(), std::min(ctx.size(), input.ctx.size()));
            put32(ctx, kSkbLen, static_cast<uint32_t>(input.packet.size()));
            put32(ctx, kSkbData, pkt.begin());
            put32(ctx, kSkbDataEnd, pkt.end());
            put32(ctx, kSkbDataMeta, pkt.begin());
            options.regions.push_back(pkt.region());
            options.packet = pkt.span(); // the run's packet (LD_ABS, bpf_perf_event_output's packet bytes)
            auto r = p->run(ctx.data(), ctx.size(), options);
            if (!r) return failure(fmt::format("running {}: {}", program, r.error().to_string()));
            out.retval = static_cast<uint32_t>(*r);
            if (!input.packet.empty()) out.packet = pkt.bytes();
            if (!input.ctx.empty()) out.ctx = input.ctx;
            return out;
        }
        case BPF_PROG_TYPE_RAW_TRACEPOINT:
        case BPF_PROG_TYPE_SYSCALL: {
            if (!input.packet.empty())
                return failure(fmt::format("{} programs take no packet", prog_type_name(type)));
            // 8-byte aligned, as the kernel's copy of ctx_in is.
            std::vector<uint64_t> ctx((input.ctx.size() + 7) / 8 + 1, 0);
            if (!input.ctx.empty()) std::memcpy(ctx.data(), input.ctx.data(), input.ctx.size());
            // raw_tp contexts are read-only to the program in Linux.
            options.context_writable = type == BPF_PROG_TYPE_SYSCALL;
            auto r = p->run(ctx.data(), input.ctx.size(), options);
            if (!r) return failure(fmt::format("running {}: {}", program, r.error().to_string()));
            out.retval = static_cast<uint32_t>(*r);
            if (!input.ctx.empty()) {
                auto* b = reinterpret_cast<const uint8_t*>(ctx.data());
                out.ctx.assign(b, b + input.ctx.size());
            }
            return out;
        }
        default:
            return failure(fmt::format("{}program type {} ({}): the bpfvm backend builds no context for it",
                                       kUnsupported, prog_type_name(type), type));
        }
    }

    Map* find(const std::string& name) const {
        const LoadedMap* m = obj_->find_loaded_map(name);
        return m ? m->map.get() : nullptr;
    }

    // A value buffer of the size the map reads from userspace (the case's bytes,
    // zero-extended), so a short value is the map's own check, not an overread.
    static Bytes sized(const Map& m, const Bytes& value) {
        Bytes v = value;
        if (v.size() < m.sys_value_size()) v.resize(m.sys_value_size());
        return v;
    }

    std::shared_ptr<bpfvm::LoadedObject> obj_;
    SlotWorkers& workers_;
    std::map<std::string, std::unique_ptr<EventReader>> readers_;
};

class BpfvmBackend final : public MapConfBackend {
public:
    BpfvmBackend(std::string name, EngineKind engine) : name_(std::move(name)), engine_(engine) {}

    std::string name() const override { return name_; }
    std::optional<std::string> unavailable() override { return std::nullopt; }
    unsigned possible_cpus() const override { return default_nr_cpus(); }
    std::optional<std::string> loads_unverified() const override {
        return "bpfvm has no verifier yet (issue 5): it loads the object and checks its accesses as it runs";
    }

    Outcome<std::unique_ptr<LoadedObject>> load(const std::string& path) override {
        LoadOptions options;
        options.engine = engine_;
        options.checked = true;
        auto obj = bpfvm::LoadedObject::load(path, options);
        if (!obj) return failure(fmt::format("LoadedObject::load({}): {}", path, obj.error().to_string()));
        current_cpu(); // the runner's slot is taken before any worker's
        return std::unique_ptr<LoadedObject>(new BpfvmObject(std::move(*obj), slot_workers()));
    }

private:
    std::string name_;
    EngineKind engine_;
};

} // namespace

std::unique_ptr<MapConfBackend> make_bpfvm_backend() {
    return std::make_unique<BpfvmBackend>("bpfvm", EngineKind::Jit);
}
std::unique_ptr<MapConfBackend> make_bpfvm_interp_backend() {
    return std::make_unique<BpfvmBackend>("bpfvm_interp", EngineKind::Interpreter);
}

} // namespace bpfvm::mapconf
