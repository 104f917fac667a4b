#include "engines.h"

#include <fmt/format.h>

#include "bpfvm/elf.h"
#include "bpfvm/vm.h"

namespace bpfvm::bench {

Result<Program> load_bpf_program(const EngineConfig& config, const BenchProgram& program) {
    std::string path = config.bpf_dir + "/" + program.object_file();
    auto object = ElfObject::open(path);
    if (!object) return tl::unexpected(object.error());
    auto elf_program = object->program(program.section());
    if (!elf_program) return tl::unexpected(elf_program.error());
    auto checked = Program::from_insns(std::move(elf_program->insns), program.section());
    if (!checked) // "<object>: section <name>: instruction N: why"
        return make_error(fmt::format("{}: section {}: {}", path, program.section(), checked.error().to_string()));
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

const EngineKind kEngines[] = {
    {"native", "the program's C source compiled by the host compiler (-O2): the reference", true,
     [](const EngineConfig&) -> Result<std::unique_ptr<Engine>> { return std::make_unique<NativeEngine>(); }},
    {"interp", "bpfvm::Interpreter, fast mode (RunOptions{})", true,
     [](const EngineConfig& c) -> Result<std::unique_ptr<Engine>> {
         return std::make_unique<InterpreterEngine>(c, RunOptions{});
     }},
    {"interp_checked", "bpfvm::Interpreter, checked mode (every access bounds-checked)", false,
     [](const EngineConfig& c) -> Result<std::unique_ptr<Engine>> {
         return std::make_unique<InterpreterEngine>(c, checked_mode());
     }},
};

} // namespace

std::span<const EngineKind> engine_kinds() { return kEngines; }

} // namespace bpfvm::bench
