// bpfvm_map_bench: map lookups and updates from JIT-compiled programs, per map
// type, on one thread and on two threads at once, beside the Linux kernel
// running the same programs through BPF_PROG_TEST_RUN. See bench/README.md.
//
// Every program (map_bench.bpf.c) makes MB_OPS map operations per run; the
// cost of one operation is (ns per run - ns per run of empty_loop) / ops, the
// empty loop being the same loop without the map call. Engines:
//   jit          bpfvm LoadedObject, JIT, fast mode (LoadOptions::checked = false)
//   jit_checked  bpfvm LoadedObject, JIT, checked mode (the default)
//   kernel       libbpf bpf_object__load, BPF_PROG_TEST_RUN with a repeat count
//                (needs root; skipped with the reason otherwise)
// Each engine has maps of its own, filled by the harness with the same keys
// and values (map_bench.h).
//
//   bpfvm_map_bench [--check] [--engines=jit,jit_checked,kernel] [--filter=SUBSTR]
//                   [--window-ms=N] [--repetitions=N] [--bpf-object=PATH]
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sched.h>

#include "bpfvm/jit.h"
#include "bpfvm/map.h"
#include "bpfvm/runtime.h"
#include "map_bench.h"

#if BPFVM_MAP_BENCH_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

#ifndef BPFVM_MAP_BENCH_OBJECT
#error "BPFVM_MAP_BENCH_OBJECT (the compiled map_bench.bpf.o) must be defined"
#endif

namespace bpfvm::bench::maps {
namespace {

// ---------------------------------------------------------------------------
// The programs and what they return.

enum class Expect {
    Sum,       // mb_fold of the values of mb_key(i), i < MB_OPS
    LpmSum,    // mb_fold of the longest-prefix values (reference_lpm)
    Ops,       // MB_OPS (bloom hits, successful updates)
    QueueSum,  // mb_fold of mb_value(i), i < MB_QUEUE_OPS
    KeySum,    // empty_loop: mb_fold of mb_key(i)
};

struct BenchProgram {
    std::string_view name;  // function in map_bench.bpf.c
    std::string_view map;   // "hash (u32 key)"
    std::string_view op;    // "lookup"
    uint32_t ops;           // map operations per run
    Expect expect;
    // Two threads at once still return `expect` (not the queue: the threads
    // pop each other's values).
    bool two_thread_result = true;
};

constexpr std::string_view kEmpty = "empty_loop";

const BenchProgram kPrograms[] = {
    {kEmpty, "(none)", "empty loop", MB_OPS, Expect::KeySum},
    {"array_lookup", "array", "lookup", MB_OPS, Expect::Sum},
    {"percpu_array_lookup", "percpu_array", "lookup", MB_OPS, Expect::Sum},
    {"hash_lookup", "hash (u32 key)", "lookup", MB_OPS, Expect::Sum},
    {"hash16_lookup", "hash (16-byte key)", "lookup", MB_OPS, Expect::Sum},
    {"percpu_hash_lookup", "percpu_hash", "lookup", MB_OPS, Expect::Sum},
    {"lru_hash_lookup", "lru_hash", "lookup", MB_OPS, Expect::Sum},
    {"lru_percpu_hash_lookup", "lru_percpu_hash", "lookup", MB_OPS, Expect::Sum},
    {"lpm_lookup", "lpm_trie (/8, /16, /24)", "lookup", MB_OPS, Expect::LpmSum},
    {"bloom_peek", "bloom_filter", "peek", MB_OPS, Expect::Ops},
    {"array_update", "array", "update", MB_OPS, Expect::Ops},
    {"percpu_array_update", "percpu_array", "update", MB_OPS, Expect::Ops},
    {"hash_update_exist", "hash (u32 key)", "update BPF_EXIST", MB_OPS, Expect::Ops},
    {"hash_update_any", "hash (u32 key)", "update BPF_ANY", MB_OPS, Expect::Ops},
    {"percpu_hash_update", "percpu_hash", "update BPF_EXIST", MB_OPS, Expect::Ops},
    {"queue_push_pop", "queue", "push + pop", 2 * MB_QUEUE_OPS, Expect::QueueSum, false},
};

// The longest prefix the harness stored (fill_maps) that covers lookup i.
uint64_t reference_lpm(uint32_t i) {
    uint32_t j = mb_lpm_j(i), k = mb_lpm_k(i);
    if (j < 16 && k < 32) return mb_lpm_value(24, j, k);
    if (j < 16) return mb_lpm_value(16, j, 0);
    return mb_lpm_value(8, 0, 0);
}

uint32_t expected_result(const BenchProgram& p) {
    uint64_t sum = 0;
    switch (p.expect) {
    case Expect::Sum:
        for (uint32_t i = 0; i < MB_OPS; i++) sum += mb_value(mb_key(i));
        return mb_fold(sum);
    case Expect::LpmSum:
        for (uint32_t i = 0; i < MB_OPS; i++) sum += reference_lpm(i);
        return mb_fold(sum);
    case Expect::Ops: return MB_OPS;
    case Expect::QueueSum:
        for (uint32_t i = 0; i < MB_QUEUE_OPS; i++) sum += mb_value(i);
        return mb_fold(sum);
    case Expect::KeySum:
        for (uint32_t i = 0; i < MB_OPS; i++) sum += mb_key(i);
        return mb_fold(sum);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Filling the maps: the same keys and values in every engine's maps.

// Writes one element as userspace does (bpf(BPF_MAP_UPDATE_ELEM)). `value` is
// one CPU's value; per-CPU maps get it in every slot.
class MapWriter {
public:
    virtual ~MapWriter() = default;
    virtual Result<void> update(const char* map, const void* key, const void* value, size_t value_size) = 0;
};

Result<void> fill_maps(MapWriter& w) {
    for (uint32_t k = 0; k < MB_ENTRIES; k++) {
        const uint64_t v = mb_value(k);
        for (const char* m : {"array", "percpu_array", "hash", "percpu_hash", "lru_hash", "lru_percpu_hash"})
            if (auto r = w.update(m, &k, &v, sizeof v); !r) return r;
        const mb_key16 key16 = mb_make_key16(k);
        if (auto r = w.update("hash16", &key16, &v, sizeof v); !r) return r;
        const uint32_t v32 = static_cast<uint32_t>(v);
        if (auto r = w.update("bloom", nullptr, &v32, sizeof v32); !r) return r;
    }
    auto lpm = [&](uint32_t prefixlen, uint32_t j, uint32_t k) {
        mb_lpm_key key{prefixlen, {10, static_cast<uint8_t>(j), static_cast<uint8_t>(k), 0}};
        uint64_t v = mb_lpm_value(prefixlen, j, k);
        return w.update("lpm", &key, &v, sizeof v);
    };
    if (auto r = lpm(8, 0, 0); !r) return r;
    for (uint32_t j = 0; j < 16; j++) {
        if (auto r = lpm(16, j, 0); !r) return r;
        for (uint32_t k = 0; k < 32; k++)
            if (auto r = lpm(24, j, k); !r) return r;
    }
    return {};
}

// ---------------------------------------------------------------------------
// Engines.

uint64_t thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

uint64_t wall_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// One program of one engine. run_once and run_batch may be called from
// several threads at once.
class Runner {
public:
    virtual ~Runner() = default;
    // One run: the program's 32-bit result.
    virtual Result<uint32_t> run_once() = 0;
    // `count` runs; the time they took in ns (the calling thread's CPU time,
    // or the kernel's own measure).
    virtual Result<double> run_batch(uint64_t count) = 0;
    // Whether a repetition is one batch per thread, as long as the window
    // (the kernel: a BPF_PROG_TEST_RUN with a repeat count costs 15-25 ms of
    // set-up, outside its measure), rather than batches of about 2 ms.
    virtual bool one_batch_per_window() const { return false; }
};

class Engine {
public:
    virtual ~Engine() = default;
    virtual Result<std::unique_ptr<Runner>> runner(std::string_view program) = 0;
};

struct EngineEntry {
    std::string_view name;
    std::string_view description;
    Result<std::unique_ptr<Engine>> (*create)(const std::string& object);
};

// ---- bpfvm: a LoadedObject on the JIT.

class BpfvmRunner final : public Runner {
public:
    explicit BpfvmRunner(std::shared_ptr<LoadedProgram> prog) : prog_(std::move(prog)) {}
    Result<uint32_t> run_once() override {
        uint8_t ctx[64] = {};
        auto r = prog_->run(ctx, sizeof ctx);
        if (!r) return tl::unexpected(r.error());
        return static_cast<uint32_t>(*r);
    }
    Result<double> run_batch(uint64_t count) override {
        uint8_t ctx[64] = {};
        const LoadedProgram& prog = *prog_;
        uint64_t sink = 0;
        uint64_t t0 = thread_cpu_ns();
        for (uint64_t n = 0; n < count; n++) {
            auto r = prog.run(ctx, sizeof ctx);
            if (!r) [[unlikely]]
                return tl::unexpected(r.error());
            sink += *r;
        }
        uint64_t t1 = thread_cpu_ns();
        asm volatile("" : : "r"(sink));
        return static_cast<double>(t1 - t0);
    }

private:
    std::shared_ptr<LoadedProgram> prog_;
};

class BpfvmWriter final : public MapWriter {
public:
    explicit BpfvmWriter(const LoadedObject& obj) : obj_(obj) {}
    Result<void> update(const char* name, const void* key, const void* value, size_t value_size) override {
        auto map = obj_.find_map(name);
        if (!map) return make_error(fmt::format("bpfvm: the object has no map '{}'", name));
        std::vector<uint8_t> all(map->sys_value_size());
        const size_t stride = (value_size + 7) & ~size_t(7);
        for (size_t off = 0; off + value_size <= all.size(); off += stride) std::memcpy(&all[off], value, value_size);
        if (long e = map->sys_update(key, all.data(), BPF_ANY); e < 0)
            return make_error(fmt::format("bpfvm: update of map '{}' failed: {}", name, errno_name(e)));
        return {};
    }

private:
    const LoadedObject& obj_;
};

class BpfvmEngine final : public Engine {
public:
    explicit BpfvmEngine(std::shared_ptr<LoadedObject> obj) : obj_(std::move(obj)) {}
    Result<std::unique_ptr<Runner>> runner(std::string_view program) override {
        auto prog = obj_->find_program(program);
        if (!prog) return make_error(fmt::format("bpfvm: the object has no program '{}'", program));
        return std::make_unique<BpfvmRunner>(std::move(prog));
    }

private:
    std::shared_ptr<LoadedObject> obj_;
};

Result<std::unique_ptr<Engine>> make_bpfvm_engine(const std::string& object, bool checked) {
    if (!JitProgram::supported()) return make_error("bpfvm's JIT needs an x86-64 host");
    LoadOptions options;
    options.engine = bpfvm::EngineKind::Jit;
    options.checked = checked;
    auto obj = LoadedObject::load(object, options);
    if (!obj) return tl::unexpected(obj.error());
    BpfvmWriter writer(**obj);
    if (auto r = fill_maps(writer); !r) return tl::unexpected(r.error());
    return std::make_unique<BpfvmEngine>(std::move(*obj));
}

// ---- The kernel: libbpf, BPF_PROG_TEST_RUN.

#if BPFVM_MAP_BENCH_HAVE_LIBBPF

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// libbpf's messages, kept (not printed) so that a failure can quote them.
std::string& libbpf_log() {
    static std::string log;
    return log;
}
int collect_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, args);
    libbpf_log() += line;
    return n;
}

class KernelRunner final : public Runner {
public:
    explicit KernelRunner(int fd) : fd_(fd) {}
    Result<uint32_t> run_once() override {
        auto r = test_run(1);
        if (!r) return tl::unexpected(r.error());
        return r->first;
    }
    Result<double> run_batch(uint64_t count) override {
        auto r = test_run(static_cast<uint32_t>(std::min<uint64_t>(count, INT32_MAX)));
        if (!r) return tl::unexpected(r.error());
        return static_cast<double>(r->second) * static_cast<double>(count);
    }
    bool one_batch_per_window() const override { return true; }

private:
    // The program's result and the kernel's average ns per repeat.
    Result<std::pair<uint32_t, uint32_t>> test_run(uint32_t repeat) const {
        uint8_t packet[64] = {};
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof packet,
                    .repeat = static_cast<int>(repeat));
        if (bpf_prog_test_run_opts(fd_, &opts) != 0)
            return make_error(fmt::format("BPF_PROG_TEST_RUN failed: {}", errno_text(errno)));
        return std::pair{opts.retval, opts.duration};
    }
    int fd_;
};

class KernelWriter final : public MapWriter {
public:
    explicit KernelWriter(bpf_object* obj) : obj_(obj), ncpus_(libbpf_num_possible_cpus()) {}
    Result<void> update(const char* name, const void* key, const void* value, size_t value_size) override {
        bpf_map* map = bpf_object__find_map_by_name(obj_, name);
        if (!map) return make_error(fmt::format("kernel: the object has no map '{}'", name));
        const uint32_t type = bpf_map__type(map);
        const bool percpu = type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
                            type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
        const size_t stride = (value_size + 7) & ~size_t(7);
        std::vector<uint8_t> all(percpu ? stride * size_t(std::max(ncpus_, 1)) : value_size);
        for (size_t off = 0; off + value_size <= all.size(); off += stride) std::memcpy(&all[off], value, value_size);
        if (bpf_map_update_elem(bpf_map__fd(map), key, all.data(), BPF_ANY) != 0)
            return make_error(fmt::format("kernel: update of map '{}' failed: {}", name, errno_text(errno)));
        return {};
    }

private:
    bpf_object* obj_;
    int ncpus_;
};

class KernelEngine final : public Engine {
public:
    explicit KernelEngine(bpf_object* obj) : obj_(obj) {}
    ~KernelEngine() override { bpf_object__close(obj_); }
    Result<std::unique_ptr<Runner>> runner(std::string_view program) override {
        bpf_program* prog = bpf_object__find_program_by_name(obj_, std::string(program).c_str());
        if (!prog) return make_error(fmt::format("kernel: the object has no program '{}'", program));
        return std::make_unique<KernelRunner>(bpf_program__fd(prog));
    }

private:
    bpf_object* obj_;
};

Result<std::unique_ptr<Engine>> make_kernel_engine(const std::string& object) {
    libbpf_set_print(collect_libbpf_message);
    libbpf_log().clear();
    bpf_object* obj = bpf_object__open_file(object.c_str(), nullptr);
    if (!obj) return make_error(fmt::format("libbpf cannot open {}: {}", object, errno_text(errno)));
    if (int err = bpf_object__load(obj); err != 0) {
        bpf_object__close(obj);
        std::string log = libbpf_log();
        while (!log.empty() && log.back() == '\n') log.pop_back();
        size_t last = log.rfind('\n');
        std::string tail = last == std::string::npos ? log : log.substr(last + 1);
        return make_error(fmt::format("the kernel does not load the programs ({}): {}{}", errno_text(err),
                                      err == -EPERM || err == -EACCES ? "needs root, or CAP_BPF and CAP_NET_ADMIN; "
                                                                      : "",
                                      tail.empty() ? "no message from libbpf" : tail));
    }
    KernelWriter writer(obj);
    if (auto r = fill_maps(writer); !r) {
        bpf_object__close(obj);
        return tl::unexpected(r.error());
    }
    std::ifstream jit_enable("/proc/sys/net/core/bpf_jit_enable");
    int enabled = -1;
    if (jit_enable >> enabled && enabled == 0)
        fmt::print(stderr, "bpfvm_map_bench: note: the kernel's JIT is off (/proc/sys/net/core/bpf_jit_enable = "
                           "0): the kernel column measures its interpreter\n");
    return std::make_unique<KernelEngine>(obj);
}

#else

Result<std::unique_ptr<Engine>> make_kernel_engine(const std::string&) {
    return make_error("built without libbpf (libbpf-dev), which loads the programs into the kernel");
}

#endif

const EngineEntry kEngines[] = {
    {"jit", "bpfvm LoadedObject on the JIT, fast mode (LoadOptions::checked = false)",
     [](const std::string& o) { return make_bpfvm_engine(o, false); }},
    {"jit_checked", "bpfvm LoadedObject on the JIT, checked mode (LoadOptions::checked = true, the default)",
     [](const std::string& o) { return make_bpfvm_engine(o, true); }},
    {"kernel", "the Linux kernel: libbpf bpf_object__load, BPF_PROG_TEST_RUN with a repeat count (needs root)",
     make_kernel_engine},
};

// ---------------------------------------------------------------------------
// Running on several threads at once.

// Pins the calling thread to `cpu` if this process may run there.
void pin_to_cpu(unsigned cpu) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || !CPU_ISSET(cpu, &allowed)) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

// Runs body(t) on `threads` new threads, thread t pinned to CPU t, all
// released at once; returns the first error.
Result<void> on_threads(unsigned threads, const std::function<Result<void>(unsigned)>& body) {
    std::atomic<unsigned> ready{0};
    std::vector<Result<void>> results(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            pin_to_cpu(t);
            ready.fetch_add(1);
            while (ready.load() < threads) std::this_thread::yield();
            results[t] = body(t);
        });
    for (auto& th : pool) th.join();
    for (auto& r : results)
        if (!r) return r;
    return {};
}

struct Measurement {
    double ns_per_run = 0;  // per thread, in the repetition TimingOptions::median picks
    double concurrency = 0; // in that repetition: the threads' busy time / (threads * wall time)
};

struct TimingOptions {
    unsigned window_ms = 200;
    unsigned repetitions = 5;
    // Which repetition: the fastest (other processes on the machine only add
    // time), or the median one.
    bool median = false;
};

// Each repetition: `threads` threads run batches of the program for about
// window_ms of wall time; a thread's ns per run is its time over its runs.
Result<Measurement> measure(Runner& runner, unsigned threads, const TimingOptions& options) {
    // Batches of about 2 ms, so that the clocks are read rarely (or one batch
    // of the whole window).
    auto probe = runner.run_batch(1000);
    if (!probe) return tl::unexpected(probe.error());
    const double per_run = std::max(*probe / 1000, 1.0);
    const bool one_batch = runner.one_batch_per_window();
    const double batch_ns = one_batch ? options.window_ms * 1e6 : 2e6;
    const uint64_t batch = static_cast<uint64_t>(std::clamp(batch_ns / per_run, 16.0, 1e9));
    std::vector<Measurement> reps;
    for (unsigned rep = 0; rep < options.repetitions; rep++) {
        std::atomic<bool> stop{false};
        std::vector<double> busy(threads, 0), runs(threads, 0);
        uint64_t start = 0, end = 0;
        std::thread timer;
        auto r = on_threads(threads, [&](unsigned t) -> Result<void> {
            if (t == 0 && !one_batch) {
                start = wall_ns();
                timer = std::thread([&] {
                    std::this_thread::sleep_for(std::chrono::milliseconds(options.window_ms));
                    stop.store(true);
                });
            }
            if (t == 0 && one_batch) start = wall_ns();
            do {
                auto ns = runner.run_batch(batch);
                if (!ns) {
                    stop.store(true);
                    return tl::unexpected(ns.error());
                }
                busy[t] += *ns;
                runs[t] += static_cast<double>(batch);
            } while (!one_batch && !stop.load(std::memory_order_relaxed));
            return {};
        });
        end = wall_ns();
        if (timer.joinable()) timer.join();
        if (!r) return tl::unexpected(r.error());
        double sum = 0, total_busy = 0;
        for (unsigned t = 0; t < threads; t++) {
            sum += busy[t] / runs[t];
            total_busy += busy[t];
        }
        reps.push_back({sum / threads, total_busy / (static_cast<double>(threads) * static_cast<double>(end - start))});
    }
    std::sort(reps.begin(), reps.end(),
              [](const Measurement& a, const Measurement& b) { return a.ns_per_run < b.ns_per_run; });
    return options.median ? reps[reps.size() / 2] : reps.front();
}

// ---------------------------------------------------------------------------
// The harness.

struct Options {
    bool check = false;
    std::vector<std::string> engines; // empty: all
    std::string filter;
    std::string object = BPFVM_MAP_BENCH_OBJECT;
    TimingOptions timing;
};

void print_usage() {
    fmt::print("bpfvm_map_bench: map operations from JIT-compiled programs, bpfvm beside the kernel.\n\n"
               "  --check              run every program once per engine (and from two threads at once)\n"
               "                       and compare the results with the expected ones, then exit\n"
               "  --engines=LIST       engines, comma-separated (default: all that are available)\n"
               "  --filter=SUBSTR      only programs whose name contains SUBSTR (empty_loop always runs)\n"
               "  --window-ms=N        wall time of one repetition (default 200)\n"
               "  --repetitions=N      repetitions per measurement (default 5); the fastest is reported\n"
               "  --median             report the median repetition instead of the fastest\n"
               "  --bpf-object=PATH    the compiled programs (default: $BPFVM_MAP_BENCH_OBJECT, else {})\n\n"
               "Engines:\n",
               BPFVM_MAP_BENCH_OBJECT);
    for (const auto& k : kEngines) fmt::print("  {:<13}{}\n", k.name, k.description);
    fmt::print("\nPrograms ({} map operations per run unless said):\n", MB_OPS);
    for (const auto& p : kPrograms) fmt::print("  {:<24}{} {}\n", p.name, p.map, p.op);
}

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        size_t comma = s.find(',');
        if (comma) out.emplace_back(s.substr(0, comma));
        if (comma == std::string_view::npos) break;
        s.remove_prefix(comma + 1);
    }
    return out;
}

bool parse_unsigned(std::string_view s, unsigned min, unsigned* out) {
    char* end = nullptr;
    std::string str(s);
    unsigned long v = std::strtoul(str.c_str(), &end, 10);
    if (str.empty() || *end || v < min || v > 1000000) return false;
    *out = static_cast<unsigned>(v);
    return true;
}

Result<Options> parse_options(int argc, char** argv) {
    Options o;
    if (const char* env = std::getenv("BPFVM_MAP_BENCH_OBJECT"); env && *env) o.object = env;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--check") o.check = true;
        else if (a.starts_with("--engines=")) o.engines = split(a.substr(10));
        else if (a.starts_with("--filter=")) o.filter = a.substr(9);
        else if (a == "--median") o.timing.median = true;
        else if (a.starts_with("--bpf-object=")) o.object = a.substr(13);
        else if (a.starts_with("--window-ms=")) {
            if (!parse_unsigned(a.substr(12), 1, &o.timing.window_ms))
                return make_error(fmt::format("{}: expected a number of milliseconds >= 1", a));
        } else if (a.starts_with("--repetitions=")) {
            if (!parse_unsigned(a.substr(14), 1, &o.timing.repetitions))
                return make_error(fmt::format("{}: expected a number >= 1", a));
        } else if (a == "--help" || a == "-h") {
            print_usage();
            std::exit(0);
        } else {
            return make_error(fmt::format("unknown argument '{}' (--help lists the options)", a));
        }
    }
    for (const auto& e : o.engines)
        if (std::none_of(std::begin(kEngines), std::end(kEngines), [&](const EngineEntry& k) { return k.name == e; }))
            return make_error(fmt::format("--engines: unknown engine '{}' (jit, jit_checked, kernel)", e));
    return o;
}

struct Column {
    const EngineEntry* kind;
    std::unique_ptr<Engine> engine;
    std::vector<std::unique_ptr<Runner>> runners; // one per program (rows)
    // Per row: one thread, two threads.
    std::vector<Measurement> one, two;
};

std::string fmt_ns(double v) { return std::isnan(v) ? "-" : fmt::format("{:.2f}", v); }
std::string fmt_ratio(double v) { return std::isnan(v) || std::isinf(v) ? "-" : fmt::format("{:.2f}x", v); }

// Checks every program in every column: one run, then 200 runs on each of two
// threads at once. Returns the number of failures (printed).
int check(const std::vector<const BenchProgram*>& rows, std::vector<Column>& columns) {
    int failures = 0;
    for (size_t r = 0; r < rows.size(); r++) {
        const BenchProgram& p = *rows[r];
        const uint32_t want = expected_result(p);
        for (auto& c : columns) {
            Runner& runner = *c.runners[r];
            auto got = runner.run_once();
            std::string problem;
            if (!got) problem = got.error().to_string();
            else if (*got != want) problem = fmt::format("returned {} (0x{:x}), expected {} (0x{:x})", *got, *got, want, want);
            if (problem.empty() && p.two_thread_result) {
                std::atomic<int> wrong{0};
                std::atomic<uint32_t> wrong_value{0};
                auto t = on_threads(2, [&](unsigned) -> Result<void> {
                    for (int n = 0; n < 200; n++) {
                        auto v = runner.run_once();
                        if (!v) return tl::unexpected(v.error());
                        if (*v != want && wrong.fetch_add(1) == 0) wrong_value = *v;
                    }
                    return {};
                });
                if (!t) problem = "two threads: " + t.error().to_string();
                else if (wrong.load())
                    problem = fmt::format("two threads: {} of 400 runs returned another value (first {}), expected {}",
                                          wrong.load(), wrong_value.load(), want);
            }
            if (problem.empty()) continue;
            failures++;
            fmt::print("FAIL {} on {}: {}\n", p.name, c.kind->name, problem);
        }
    }
    return failures;
}

int run(int argc, char** argv) {
    auto options = parse_options(argc, argv);
    if (!options) {
        fmt::print(stderr, "bpfvm_map_bench: {}\n", options.error().to_string());
        return 2;
    }
    std::vector<const BenchProgram*> rows;
    for (const auto& p : kPrograms)
        if (p.name == kEmpty || options->filter.empty() || p.name.find(options->filter) != std::string_view::npos)
            rows.push_back(&p);

    std::vector<Column> columns;
    for (const auto& kind : kEngines) {
        bool wanted = options->engines.empty() ||
                      std::find(options->engines.begin(), options->engines.end(), kind.name) != options->engines.end();
        if (!wanted) continue;
        auto engine = kind.create(options->object);
        if (!engine) {
            // Asked for by name: an error; by default: skipped with the reason.
            if (!options->engines.empty()) {
                fmt::print(stderr, "bpfvm_map_bench: engine {}: {}\n", kind.name, engine.error().to_string());
                return 1;
            }
            fmt::print("engine {}: skipped: {}\n", kind.name, engine.error().to_string());
            continue;
        }
        Column c{&kind, std::move(*engine), {}, {}, {}};
        for (const auto* p : rows) {
            auto runner = c.engine->runner(p->name);
            if (!runner) {
                fmt::print(stderr, "bpfvm_map_bench: engine {}: {}\n", kind.name, runner.error().to_string());
                return 1;
            }
            c.runners.push_back(std::move(*runner));
        }
        columns.push_back(std::move(c));
    }
    if (columns.empty()) {
        fmt::print(stderr, "bpfvm_map_bench: no engine available\n");
        return 1;
    }

    int failures = check(rows, columns);
    std::string names;
    for (const auto& c : columns) names += (names.empty() ? "" : ", ") + std::string(c.kind->name);
    fmt::print("check: {} programs on {}: {}\n", rows.size(), names,
               failures ? fmt::format("{} failures", failures) : "all return the expected results");
    if (failures) return 1;
    if (options->check) return 0;

    // Time: programs in order, each engine, one thread then two.
    for (auto& c : columns) {
        c.one.resize(rows.size());
        c.two.resize(rows.size());
    }
    for (size_t r = 0; r < rows.size(); r++)
        for (auto& c : columns)
            for (unsigned threads : {1u, 2u}) {
                auto m = measure(*c.runners[r], threads, options->timing);
                if (!m) {
                    fmt::print(stderr, "bpfvm_map_bench: {} on {}: {}\n", rows[r]->name, c.kind->name,
                               m.error().to_string());
                    return 1;
                }
                (threads == 1 ? c.one : c.two)[r] = *m;
                std::fflush(stdout);
            }

    // ns per operation, net of the empty loop.
    auto per_op = [&](const Column& c, size_t r, bool two) {
        const auto& m = two ? c.two : c.one;
        return (m[r].ns_per_run - m[0].ns_per_run) / rows[r]->ops;
    };
    const Column* jit = nullptr;
    const Column* kernel = nullptr;
    for (const auto& c : columns) {
        if (c.kind->name == "jit") jit = &c;
        if (c.kind->name == "kernel") kernel = &c;
    }

    fmt::print("\nns per map operation: (ns per run - ns per run of empty_loop) / operations per run; {} of {} "
               "repetitions of {} ms; two threads: per thread, both at once (CPUs 0 and 1)\n\n",
               options->timing.median ? "median" : "fastest", options->timing.repetitions, options->timing.window_ms);
    std::string header = "| map | operation |";
    std::string rule = "|---|---|";
    for (const auto& c : columns) {
        header += fmt::format(" {} |", c.kind->name);
        rule += "---:|";
    }
    if (jit && kernel) {
        header += " jit/kernel |";
        rule += "---:|";
    }
    for (const auto& c : columns) {
        header += fmt::format(" {} 2 threads | scaling |", c.kind->name);
        rule += "---:|---:|";
    }
    fmt::print("{}\n{}\n", header, rule);
    for (size_t r = 1; r < rows.size(); r++) {
        std::string line = fmt::format("| {} | {} |", rows[r]->map, rows[r]->op);
        for (const auto& c : columns) line += fmt::format(" {} |", fmt_ns(per_op(c, r, false)));
        if (jit && kernel) line += fmt::format(" {} |", fmt_ratio(per_op(*jit, r, false) / per_op(*kernel, r, false)));
        for (const auto& c : columns)
            line += fmt::format(" {} | {} |", fmt_ns(per_op(c, r, true)),
                                fmt_ratio(per_op(c, r, true) / per_op(c, r, false)));
        fmt::print("{}\n", line);
    }
    fmt::print("\nscaling: ns per operation with two threads / with one (1.00x: each thread keeps its throughput)\n");

    fmt::print("\nRaw: ns per run ({} operations per run unless said; busy: the threads' time / (threads x wall "
               "time), 1.00 = both always running)\n\n",
               MB_OPS);
    header = "| program | ops |";
    rule = "|---|---:|";
    for (const auto& c : columns) {
        header += fmt::format(" {} | {} 2 threads | busy |", c.kind->name, c.kind->name);
        rule += "---:|---:|---:|";
    }
    fmt::print("{}\n{}\n", header, rule);
    for (size_t r = 0; r < rows.size(); r++) {
        std::string line = fmt::format("| {} | {} |", rows[r]->name, rows[r]->ops);
        for (const auto& c : columns)
            line += fmt::format(" {:.1f} | {:.1f} | {:.2f} |", c.one[r].ns_per_run, c.two[r].ns_per_run,
                                c.two[r].concurrency);
        fmt::print("{}\n", line);
    }
    return 0;
}

} // namespace
} // namespace bpfvm::bench::maps

int main(int argc, char** argv) { return bpfvm::bench::maps::run(argc, argv); }
