// The C API over Program and Interpreter.
#include <array>
#include <cstring>
#include <utility>
#include <mutex>
#include <optional>

#include "bpfvm/asm.h"
#include "bpfvm/bpfvm.h"
#include "bpfvm/jit.h"
#include "bpfvm/vm.h"

namespace {

void write_err(char* err, size_t size, const std::string& msg) {
    if (!err || size == 0) return;
    size_t n = std::min(size - 1, msg.size());
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

} // namespace

struct bpfvm_program {
    bpfvm::Program program;
    bpfvm::HelperTable helpers = bpfvm::default_helpers();
    std::vector<std::pair<uint32_t, bpfvm_helper_fn>> c_helpers;
    bpfvm_engine engine = bpfvm::JitProgram::supported() ? BPFVM_ENGINE_JIT : BPFVM_ENGINE_INTERP;
    // Prepared on first use, per engine and mode.
    std::mutex lock;
    bool started = false;
    std::optional<bpfvm::Result<bpfvm::Interpreter>> interp;
    std::optional<bpfvm::Result<bpfvm::JitProgram>> jit[2]; // [mode]
};

namespace {

// Trampolines: one per registered C helper slot. The run passes the program
// and the caller's user pointer through ExecContext::user.
constexpr int kMaxCHelpers = 64;

struct CRun {
    const bpfvm_program* prog;
    void* user;
};

template <int N>
uint64_t trampoline(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, bpfvm::ExecContext* ctx) {
    auto* run = static_cast<const CRun*>(ctx->user);
    return run->prog->c_helpers[N].second(a, b, c, d, e, run->user);
}

template <int... N> constexpr std::array<bpfvm::HelperFn, sizeof...(N)> make_trampolines(std::integer_sequence<int, N...>) {
    return {&trampoline<N>...};
}
constexpr auto kTrampolines = make_trampolines(std::make_integer_sequence<int, kMaxCHelpers>{});

bpfvm_program* make(bpfvm::Result<bpfvm::Program> p, char* err, size_t err_size) {
    if (!p) {
        write_err(err, err_size, p.error().to_string());
        return nullptr;
    }
    auto* prog = new bpfvm_program{std::move(*p)};
    return prog;
}

} // namespace

extern "C" {

bpfvm_program* bpfvm_program_load(const void* bytecode, size_t size, char* err, size_t err_size) {
    if (!bytecode && size) {
        write_err(err, err_size, "bytecode is NULL");
        return nullptr;
    }
    return make(bpfvm::Program::from_bytes({static_cast<const uint8_t*>(bytecode), size}), err, err_size);
}

bpfvm_program* bpfvm_program_assemble(const char* text, char* err, size_t err_size) {
    if (!text) {
        write_err(err, err_size, "text is NULL");
        return nullptr;
    }
    auto insns = bpfvm::assemble(text);
    if (!insns) {
        write_err(err, err_size, insns.error().to_string());
        return nullptr;
    }
    return make(bpfvm::Program::from_insns(std::move(*insns)), err, err_size);
}

int bpfvm_program_set_helper(bpfvm_program* prog, uint32_t id, const char* name, bpfvm_helper_fn fn) {
    if (!prog || !fn || prog->c_helpers.size() >= kMaxCHelpers) return -1;
    std::lock_guard<std::mutex> guard(prog->lock);
    if (prog->started) return -1;
    prog->helpers.add(id, name ? name : "helper", kTrampolines[prog->c_helpers.size()]);
    prog->c_helpers.emplace_back(id, fn);
    return 0;
}

int bpfvm_program_run(bpfvm_program* prog, void* mem, size_t mem_size, enum bpfvm_mode mode, void* user,
                      uint64_t* r0, char* err, size_t err_size) {
    if (!prog) {
        write_err(err, err_size, "program is NULL");
        return -1;
    }
    const bool checked = mode == BPFVM_MODE_CHECKED;
    const bpfvm::Interpreter* interp = nullptr;
    const bpfvm::JitProgram* jit = nullptr;
    {
        std::lock_guard<std::mutex> guard(prog->lock);
        prog->started = true;
        if (prog->engine == BPFVM_ENGINE_INTERP) {
            if (!prog->interp) prog->interp = bpfvm::Interpreter::create(prog->program, prog->helpers);
            if (!*prog->interp) {
                write_err(err, err_size, prog->interp->error().to_string());
                return -1;
            }
            interp = &**prog->interp;
        } else {
            auto& slot = prog->jit[checked ? 1 : 0];
            if (!slot) {
                bpfvm::JitOptions jo;
                jo.checked = checked;
                slot = bpfvm::JitProgram::compile(prog->program, prog->helpers, {}, jo);
            }
            if (!*slot) {
                write_err(err, err_size, slot->error().to_string());
                return -1;
            }
            jit = &**slot;
        }
    }
    bpfvm::RunOptions opts;
    opts.checked = mode == BPFVM_MODE_CHECKED;
    CRun run{prog, user};
    opts.user = &run;
    auto result = interp ? interp->run(mem, mem_size, opts) : jit->run(mem, mem_size, opts);
    if (!result) {
        write_err(err, err_size, result.error().to_string());
        return -1;
    }
    if (r0) *r0 = *result;
    return 0;
}

int bpfvm_program_set_engine(bpfvm_program* prog, enum bpfvm_engine engine) {
    if (!prog || (engine != BPFVM_ENGINE_JIT && engine != BPFVM_ENGINE_INTERP)) return -1;
    if (engine == BPFVM_ENGINE_JIT && !bpfvm::JitProgram::supported()) return -1;
    std::lock_guard<std::mutex> guard(prog->lock);
    if (prog->started) return -1;
    prog->engine = engine;
    return 0;
}

size_t bpfvm_program_size(const bpfvm_program* prog) { return prog ? prog->program.size() : 0; }

void bpfvm_program_free(bpfvm_program* prog) { delete prog; }

} // extern "C"
