#include "engines.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "bpfvm/elf.h"
#include "bpfvm/jit.h"
#include "bpfvm/vm.h"

#if BPFVM_BENCH_HAVE_LIBBPF
#include <bpf/bpf.h>
#include <linux/bpf.h>
#endif

namespace bpfvm::bench {

Result<Program> load_bpf_program(const EngineConfig& config, const BenchProgram& program) {
    return load_bpf_program(config, program, program.section());
}

Result<Program> load_bpf_program(const EngineConfig& config, const BenchProgram& program, const std::string& section) {
    std::string path = config.bpf_dir + "/" + program.object_file();
    auto object = ElfObject::open(path);
    if (!object) return tl::unexpected(object.error());
    auto elf_program = object->program(section);
    if (!elf_program) return tl::unexpected(elf_program.error());
    auto checked = Program::from_insns(std::move(elf_program->insns), section);
    if (!checked) // "<object>: section <name>: instruction N: why"
        return make_error(fmt::format("{}: section {}: {}", path, section, checked.error().to_string()));
    return checked;
}

Result<uint64_t> count_bpf_insns(const Program& program, uint8_t* data, size_t len) {
    auto vm = Interpreter::create(program);
    if (!vm) return tl::unexpected(vm.error());
    RunOptions options;
    options.checked = true;
    auto runs_within = [&](uint64_t budget) {
        options.insn_budget = budget;
        return vm->run(data, len, options).has_value();
    };
    // The smallest budget the run fits in is the number it executes.
    uint64_t lo = 1, hi = 1;
    while (!runs_within(hi)) {
        if (hi >= (uint64_t(1) << 40)) return make_error("the program does not finish within 2^40 instructions");
        lo = hi + 1;
        hi *= 2;
    }
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (runs_within(mid)) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

namespace {

// Native code: the C function from libbench_native, called through a pointer
// the compiler cannot see through.
class NativeRunner final : public Runner {
public:
    explicit NativeRunner(NativeFn fn) : fn_(fn) {}
    Result<uint64_t> run(uint8_t* data, size_t len) override { return fn_(data, len); }
    void time(benchmark::State& state, uint8_t* data, size_t len) override {
        NativeFn fn = fn_;
        timed_loop(state, [&] {
            benchmark::DoNotOptimize(fn); // opaque: no inlining, no hoisting out of the loop
            return fn(data, len);
        });
    }

private:
    NativeFn fn_;
};

class NativeEngine final : public Engine {
public:
    Result<std::unique_ptr<Runner>> prepare(const BenchProgram& program) override {
        return std::make_unique<NativeRunner>(program.native);
    }
};

// The interpreter, in the mode given by `options` (fast: RunOptions{}).
class InterpreterRunner final : public Runner {
public:
    InterpreterRunner(Interpreter vm, RunOptions options) : vm_(std::move(vm)), options_(std::move(options)) {}
    Result<uint64_t> run(uint8_t* data, size_t len) override { return vm_.run(data, len, options_); }
    void time(benchmark::State& state, uint8_t* data, size_t len) override {
        bool failed = false;
        Error error;
        timed_loop(state, [&]() -> uint64_t {
            auto r = vm_.run(data, len, options_);
            if (r) [[likely]]
                return *r;
            if (!failed) error = r.error();
            failed = true;
            return 0;
        });
        if (failed) state.SkipWithError(("run failed: " + error.to_string()).c_str());
    }

private:
    Interpreter vm_;
    RunOptions options_;
};

class InterpreterEngine final : public Engine {
public:
    InterpreterEngine(EngineConfig config, RunOptions options) : config_(std::move(config)), options_(std::move(options)) {}
    Result<std::unique_ptr<Runner>> prepare(const BenchProgram& program) override {
        auto prog = load_bpf_program(config_, program);
        if (!prog) return tl::unexpected(prog.error());
        auto vm = Interpreter::create(*prog);
        if (!vm) return tl::unexpected(vm.error());
        return std::make_unique<InterpreterRunner>(std::move(*vm), options_);
    }

private:
    EngineConfig config_;
    RunOptions options_;
};

RunOptions checked_mode() {
    RunOptions o;
    o.checked = true;
    return o;
}

// bpfvm's JIT, compiled with `jit_options` (which decide the checked mode),
// run as a user runs it: JitProgram::run(ctx, size), the default options.
class JitRunner final : public Runner {
public:
    explicit JitRunner(JitProgram jit) : jit_(std::move(jit)) {}
    Result<uint64_t> run(uint8_t* data, size_t len) override { return jit_.run(data, len); }
    void time(benchmark::State& state, uint8_t* data, size_t len) override {
        bool failed = false;
        Error error;
        timed_loop(state, [&]() -> uint64_t {
            auto r = jit_.run(data, len);
            if (r) [[likely]]
                return *r;
            if (!failed) error = r.error();
            failed = true;
            return 0;
        });
        if (failed) state.SkipWithError(("run failed: " + error.to_string()).c_str());
    }

private:
    JitProgram jit_;
};

class JitEngine final : public Engine {
public:
    JitEngine(EngineConfig config, JitOptions jit_options) : config_(std::move(config)), jit_options_(jit_options) {}
    Result<std::unique_ptr<Runner>> prepare(const BenchProgram& program) override {
        auto prog = load_bpf_program(config_, program);
        if (!prog) return tl::unexpected(prog.error());
        auto jit = JitProgram::compile(*prog, default_helpers(), {}, jit_options_);
        if (!jit) return tl::unexpected(jit.error());
        return std::make_unique<JitRunner>(std::move(*jit));
    }

private:
    EngineConfig config_;
    JitOptions jit_options_;
};

Result<std::unique_ptr<Engine>> make_jit_engine(const EngineConfig& config, bool checked) {
    if (!JitProgram::supported()) return make_error("bpfvm's JIT needs an x86-64 host");
    JitOptions jit_options;
    jit_options.checked = checked;
    return std::make_unique<JitEngine>(config, jit_options);
}

// The Linux kernel: each program's XDP entry (section "xdp" of its object),
// loaded with bpf(BPF_PROG_LOAD) and run with BPF_PROG_TEST_RUN, the input as
// the packet (data_in). Its runs return the body's result folded into the u32
// an XDP program returns.
#if BPFVM_BENCH_HAVE_LIBBPF

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

// One program, loaded; the fd is closed with the runner.
class KernelProgram {
public:
    explicit KernelProgram(int fd) : fd_(fd) {}
    KernelProgram(KernelProgram&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    KernelProgram& operator=(KernelProgram&&) = delete;
    ~KernelProgram() {
        if (fd_ >= 0) close(fd_);
    }
    int fd() const { return fd_; }

    // Loads an XDP program. On failure, the error has the verifier's last
    // lines (it is loaded a second time with the log on, to get them).
    static Result<KernelProgram> load(const std::string& name, std::span<const Insn> insns) {
        std::string prog_name = name.substr(0, 15); // BPF_OBJ_NAME_LEN, with its NUL
        std::replace_if(prog_name.begin(), prog_name.end(), [](char c) { return !std::isalnum(c) && c != '_'; }, '_');
        auto raw = reinterpret_cast<const struct bpf_insn*>(insns.data());
        int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, prog_name.c_str(), "GPL", raw, insns.size(), nullptr);
        if (fd >= 0) return KernelProgram(fd);
        int err = errno;
        std::vector<char> log(16 << 20);
        LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 1, .log_size = static_cast<__u32>(log.size()),
                    .log_buf = log.data());
        fd = bpf_prog_load(BPF_PROG_TYPE_XDP, prog_name.c_str(), "GPL", raw, insns.size(), &opts);
        if (fd >= 0) return KernelProgram(fd); // loaded the second time: take it
        // The last lines of the verifier's log say why.
        std::string text(log.data(), strnlen(log.data(), log.size()));
        while (!text.empty() && text.back() == '\n') text.pop_back();
        size_t start = text.size();
        for (int lines = 0; lines < 3 && start != std::string::npos && start > 0; lines++)
            start = text.rfind('\n', start - 1);
        std::string tail = start == std::string::npos ? text : text.substr(start + 1);
        std::replace(tail.begin(), tail.end(), '\n', ' ');
        return make_error(fmt::format("the kernel does not load it ({}): {}", errno_text(err),
                                      tail.empty() ? "no verifier log" : tail));
    }

    // One BPF_PROG_TEST_RUN: the program's return value and the kernel's
    // average time per repeat (ns).
    Result<std::pair<uint32_t, uint32_t>> test_run(const uint8_t* data, size_t len, uint32_t repeat) const {
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = static_cast<__u32>(len),
                    .repeat = static_cast<int>(repeat));
        if (bpf_prog_test_run_opts(fd_, &opts) != 0)
            return make_error(fmt::format("BPF_PROG_TEST_RUN failed: {}", errno_text(errno)));
        return std::pair{opts.retval, opts.duration};
    }

private:
    int fd_;
};

class KernelRunner final : public Runner {
public:
    explicit KernelRunner(KernelProgram prog) : prog_(std::move(prog)) {}
    Result<uint64_t> run(uint8_t* data, size_t len) override {
        auto r = prog_.test_run(data, len, 1);
        if (!r) return tl::unexpected(r.error());
        return r->first;
    }
    // One benchmark iteration is one repeat of the kernel's loop: a batch of
    // `repeat` iterations is one BPF_PROG_TEST_RUN, whose time is the
    // kernel's average per repeat (nothing subtracted) times the batch.
    void time(benchmark::State& state, uint8_t* data, size_t len) override {
        uint32_t repeat = batch_size(data, len);
        while (state.KeepRunningBatch(repeat)) {
            auto r = prog_.test_run(data, len, repeat);
            if (!r) {
                state.SkipWithError(r.error().to_string().c_str());
                break;
            }
            state.SetIterationTime(static_cast<double>(r->second) * repeat * 1e-9);
        }
    }

private:
    // Repeats for about 5 ms per test run (at least 1000): the reported
    // average is in whole ns, and the kernel checks for rescheduling between
    // repeats, so long runs cost nothing extra.
    uint32_t batch_size(uint8_t* data, size_t len) {
        if (batch_) return batch_;
        auto r = prog_.test_run(data, len, 1000);
        double ns = r ? std::max<double>(r->second, 1) : 1000;
        batch_ = static_cast<uint32_t>(std::clamp(5e6 / ns, 1e3, 1e7));
        return batch_;
    }

    KernelProgram prog_;
    uint32_t batch_ = 0;
};

class KernelEngine final : public Engine {
public:
    explicit KernelEngine(EngineConfig config) : config_(std::move(config)) {}
    Result<std::unique_ptr<Runner>> prepare(const BenchProgram& program) override {
        if (!program.kernel_skip.empty()) return make_error(std::string(program.kernel_skip));
        auto prog = load_bpf_program(config_, program, BenchProgram::xdp_section());
        if (!prog) return tl::unexpected(prog.error());
        auto loaded = KernelProgram::load("bench_" + std::string(program.name), prog->insns());
        if (!loaded) return tl::unexpected(loaded.error());
        return std::make_unique<KernelRunner>(std::move(*loaded));
    }

private:
    EngineConfig config_;
};

// Whether this process may load and test-run XDP programs: loads the
// smallest one (r0 = 0; exit).
Result<std::unique_ptr<Engine>> make_kernel_engine(const EngineConfig& config) {
    const Insn probe[] = {Insn{0xb7, 0, 0, 0, 0}, Insn{0x95, 0, 0, 0, 0}};
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_probe", "GPL",
                           reinterpret_cast<const struct bpf_insn*>(probe), 2, nullptr);
    if (fd < 0) {
        int err = errno;
        return make_error(fmt::format("cannot load BPF programs into the kernel ({}): needs root, or CAP_BPF and "
                                      "CAP_NET_ADMIN",
                                      errno_text(err)));
    }
    KernelProgram prog(fd);
    uint8_t packet[64] = {};
    if (auto r = prog.test_run(packet, sizeof packet, 1); !r) return tl::unexpected(r.error());
    std::ifstream jit_enable("/proc/sys/net/core/bpf_jit_enable");
    int enabled = -1;
    if (jit_enable >> enabled && enabled == 0)
        fmt::print(stderr, "bpfvm_bench: note: engine kernel: the kernel's JIT is off "
                           "(/proc/sys/net/core/bpf_jit_enable = 0): the kernel column measures its interpreter\n");
    return std::make_unique<KernelEngine>(config);
}

#else

Result<std::unique_ptr<Engine>> make_kernel_engine(const EngineConfig&) {
    return make_error("bpfvm_bench was built without libbpf (libbpf-dev), which it uses to load programs into "
                      "the kernel");
}

#endif

const EngineKind kEngines[] = {
    {"native", "the program's C source compiled by the host compiler (-O2): the reference", true,
     [](const EngineConfig&) -> Result<std::unique_ptr<Engine>> { return std::make_unique<NativeEngine>(); }},
    {"jit", "bpfvm::JitProgram, fast mode (JitOptions{.checked = false})", true,
     [](const EngineConfig& c) { return make_jit_engine(c, false); }},
    {"jit_checked", "bpfvm::JitProgram, checked mode (JitOptions{.checked = true}: accesses bounds-checked)", true,
     [](const EngineConfig& c) { return make_jit_engine(c, true); }},
    {"interp", "bpfvm::Interpreter, fast mode (RunOptions{})", true,
     [](const EngineConfig& c) -> Result<std::unique_ptr<Engine>> {
         return std::make_unique<InterpreterEngine>(c, RunOptions{});
     }},
    {"interp_checked", "bpfvm::Interpreter, checked mode (every access bounds-checked)", false,
     [](const EngineConfig& c) -> Result<std::unique_ptr<Engine>> {
         return std::make_unique<InterpreterEngine>(c, checked_mode());
     }},
    {"kernel", "the Linux kernel's JIT: the program's XDP entry, BPF_PROG_TEST_RUN (its time per repeat, "
               "which includes its loop); needs root",
     true, make_kernel_engine, /*folds_result=*/true, /*may_skip_programs=*/true, /*manual_time=*/true},
};

} // namespace

std::span<const EngineKind> engine_kinds() { return kEngines; }

} // namespace bpfvm::bench
