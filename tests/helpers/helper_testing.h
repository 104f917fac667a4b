// Shared by the helper tests: calling helpers directly, a fake engine for
// callbacks, a pin root of the test's own, and running assembled programs.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpfvm/asm.h"
#include "bpfvm/helpers.h"
#include "bpfvm/jit.h"
#include "bpfvm/map.h"
#include "bpfvm/vm.h"
#include "process.h"

namespace bpfvm::helpertest {

inline uint64_t u(const void* p) { return reinterpret_cast<uint64_t>(p); }
inline int64_t s(uint64_t v) { return static_cast<int64_t>(v); }

// A checked-mode ExecContext with a region table and a stack (what the
// engines set up), for calling helpers directly.
struct CheckedContext {
    std::vector<MemoryRegion> table = std::vector<MemoryRegion>(ExecContext::kMaxRegions);
    alignas(16) uint8_t stack[512] = {};
    ExecContext ctx;
    CheckedContext() {
        ctx.checked = true;
        ctx.regions = table.data();
        ctx.capacity = static_cast<int>(table.size());
        ctx.stack_lo = reinterpret_cast<uint64_t>(stack);
        ctx.stack_hi = reinterpret_cast<uint64_t>(stack + sizeof stack);
    }
    ~CheckedContext() {
        if (ctx.error) ctx.take_error();
    }
    // The error the run stopped with, or "" (and the context runs again).
    std::string error() {
        if (ctx.stop != ExecContext::kFailed) return "";
        return ctx.take_error().message;
    }
    template <typename T> T* on_stack(size_t offset = 0) { return reinterpret_cast<T*>(stack + offset); }
    ExecContext* operator->() { return &ctx; }
    ExecContext* get() { return &ctx; }
};

// Every test process gets a pin root of its own (maps and the trace pipe).
class PinRoot : public ::testing::Environment {
public:
    void SetUp() override {
        dir = std::make_unique<testing::TempDir>();
        setenv("BPFVM_PIN_ROOT", dir->path.c_str(), 1);
    }
    void TearDown() override { dir.reset(); }
    static inline std::unique_ptr<testing::TempDir> dir;
};

inline std::shared_ptr<Map> make_map(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                                     uint32_t flags = 0) {
    MapSpec spec;
    spec.type = type;
    spec.key_size = key_size;
    spec.value_size = value_size;
    spec.max_entries = max_entries;
    spec.map_flags = flags;
    auto m = Map::create(spec);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
}

// Assembles `text`; `map[fd:N]` lddws resolve to maps[N].
struct RunResult {
    bool ok = false;
    uint64_t r0 = 0;
    std::string error;
};
// The interpreter, or the JIT (compiled in the mode asked for).
enum class Engine { Interpreter, Jit };
inline RunResult run_program(const std::string& text, const std::vector<Map*>& maps = {}, bool checked = false,
                             Engine engine = Engine::Interpreter, void* ctx = nullptr, size_t ctx_size = 0,
                             const HelperTable& table = runtime_helpers()) {
    RunResult r;
    auto insns = assemble(text);
    if (!insns) {
        r.error = insns.error().to_string();
        return r;
    }
    auto prog = Program::from_insns(*insns);
    if (!prog) {
        r.error = prog.error().to_string();
        return r;
    }
    PrepareOptions po;
    // map[fd:N] is maps[N]; map[fd:N][0]+off is the address of its first value plus off.
    po.resolve_pseudo = [&](const Insn& first, const Insn& second, int64_t index) -> Result<uint64_t> {
        if (static_cast<size_t>(first.imm) >= maps.size()) return make_error("no such map", index);
        Map* m = maps[static_cast<size_t>(first.imm)];
        if (first.src == BPF_PSEUDO_MAP_FD) return reinterpret_cast<uint64_t>(m);
        if (first.src == BPF_PSEUDO_MAP_VALUE && m->value_base())
            return reinterpret_cast<uint64_t>(m->value_base()) + static_cast<uint32_t>(second.imm);
        return make_error("unsupported pseudo lddw", index);
    };
    RunOptions ro;
    ro.checked = checked;
    // Array values an lddw src=2 reaches (global data) are the program's, as
    // the runtime hands them over.
    for (Map* m : maps)
        if (void* base = m ? m->value_base() : nullptr)
            ro.regions.push_back(MemoryRegion{reinterpret_cast<uint64_t>(base),
                                              ((uint64_t(m->value_size()) + 7) & ~uint64_t(7)) * m->max_entries(),
                                              !(m->map_flags() & BPF_F_RDONLY_PROG), "map value"});
    Result<uint64_t> res = 0;
    if (engine == Engine::Jit) {
        JitOptions jo;
        jo.checked = checked;
        auto jit = JitProgram::compile(*prog, table, po, jo);
        if (!jit) {
            r.error = jit.error().to_string();
            return r;
        }
        res = jit->run(ctx, ctx_size, ro);
    } else {
        auto vm = Interpreter::create(*prog, table, po);
        if (!vm) {
            r.error = vm.error().to_string();
            return r;
        }
        res = vm->run(ctx, ctx_size, ro);
    }
    if (!res) {
        r.error = res.error().to_string();
        return r;
    }
    r.ok = true;
    r.r0 = *res;
    return r;
}

} // namespace bpfvm::helpertest

namespace bpfvm::helpertest {
inline ::testing::Environment* const kPinRootEnvironment = ::testing::AddGlobalTestEnvironment(new PinRoot);
} // namespace bpfvm::helpertest
