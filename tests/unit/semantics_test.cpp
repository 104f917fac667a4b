// The semantics of every instruction, on every engine: the interpreter and
// the JIT, each in the fast and the checked mode, must agree. Calls,
// may_goto, callx, helpers, and the checked mode's checks.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"
#include "bpfvm/jit.h"
#include "bpfvm/vm.h"

using namespace bpfvm;

namespace {

uint64_t helper_combine(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, ExecContext*) {
    return r1 * 10000 + r2 * 1000 + r3 * 100 + r4 * 10 + r5;
}
uint64_t kfunc_double(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return r1 * 2; }

alignas(8) uint8_t g_helper_buffer[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
uint64_t helper_buffer(uint64_t declare, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (declare && ctx->checked)
        ctx->add_region(MemoryRegion{reinterpret_cast<uint64_t>(g_helper_buffer), sizeof g_helper_buffer, false,
                                     "helper buffer"});
    return reinterpret_cast<uint64_t>(g_helper_buffer);
}

// bpf_loop's shape: calls the callback r2 for i = 0..r1-1 with (i, r3) until
// it returns 1; returns the number of calls.
uint64_t helper_loop(uint64_t n, uint64_t fn, uint64_t arg, uint64_t, uint64_t, ExecContext* ctx) {
    uint64_t i = 0;
    while (i < n) {
        uint64_t r = ctx->call_function(fn, i, arg, 0, 0, 0);
        if (ctx->stop != ExecContext::kRunning) return 0;
        i++;
        if (r == 1) break;
    }
    return i;
}
// Stops the run with an error when r1 is not 0.
uint64_t helper_fail(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (r1) ctx->fail(Error{fmt::format("helper refused {}", r1), -1, 0, {}});
    return 5;
}
// bpf_tail_call's way out: the calling function returns r1 at once.
uint64_t helper_return(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    ctx->stop = ExecContext::kReturn;
    return r1;
}

const HelperTable& test_helpers() {
    static const HelperTable t = [] {
        HelperTable h = default_helpers();
        h.add(100, "combine", helper_combine);
        h.add(101, "buffer", helper_buffer);
        h.add(102, "loop", helper_loop);
        h.add(103, "fail", helper_fail);
        h.add(104, "return", helper_return);
        h.add_kfunc(77, "double", kfunc_double);
        return h;
    }();
    return t;
}

std::set<Op>& ops_seen() {
    static std::set<Op> s;
    return s;
}

// Assembles, runs on every engine (which must agree: result or error, and
// memory) and records the ops used. Returns the fast interpreter's result.
Result<uint64_t> run(std::string_view text, std::vector<uint8_t> mem = {}, RunOptions opts = {}) {
    auto insns = assemble(text);
    if (!insns) return tl::unexpected(insns.error());
    auto prog = Program::from_insns(*insns);
    if (!prog) return tl::unexpected(prog.error());
    for (size_t i = 0; i < prog->size(); i++)
        if (prog->op(i)) ops_seen().insert(prog->op(i)->op);
    auto vm = Interpreter::create(*prog, test_helpers());
    if (!vm) return tl::unexpected(vm.error());
    struct Outcome {
        const char* engine;
        Result<uint64_t> r0;
        std::vector<uint8_t> mem;
    };
    std::vector<Outcome> outcomes;
    for (bool checked : {false, true}) {
        std::vector<uint8_t> m = mem;
        opts.checked = checked;
        auto r = vm->run(m.empty() ? nullptr : m.data(), m.size(), opts);
        outcomes.push_back({checked ? "interp checked" : "interp fast", r, m});
    }
    if (JitProgram::supported()) {
        for (bool checked : {false, true}) {
            JitOptions jo;
            jo.checked = checked;
            auto jit = JitProgram::compile(*prog, test_helpers(), {}, jo);
            EXPECT_TRUE(jit) << text << "\n" << (jit ? "" : jit.error().to_string());
            if (!jit) continue;
            std::vector<uint8_t> m = mem;
            opts.checked = checked;
            auto r = jit->run(m.empty() ? nullptr : m.data(), m.size(), opts);
            outcomes.push_back({checked ? "jit checked" : "jit fast", r, m});
        }
    }
    const Outcome& ref = outcomes[0];
    for (const Outcome& o : outcomes) {
        EXPECT_EQ(o.r0.has_value(), ref.r0.has_value()) << o.engine << ": " << text;
        if (o.r0 && ref.r0) {
            EXPECT_EQ(*o.r0, *ref.r0) << o.engine << ": " << text;
            EXPECT_EQ(o.mem, ref.mem) << o.engine << ": " << text;
        } else if (!o.r0 && !ref.r0) {
            EXPECT_EQ(o.r0.error().to_string(), ref.r0.error().to_string()) << o.engine << ": " << text;
        }
    }
    return ref.r0;
}

uint64_t r0_of(std::string_view text, std::vector<uint8_t> mem = {}) {
    auto r = run(text, std::move(mem));
    EXPECT_TRUE(r) << text << "\n" << (r ? "" : r.error().to_string());
    return r ? *r : 0xdeadbeefdeadbeefull;
}

// The checked mode's verdict, which the interpreter and the JIT must agree on.
std::string checked_error(std::string_view text, std::vector<uint8_t> mem = {}, RunOptions opts = {}) {
    auto insns = assemble(text);
    if (!insns) return "asm: " + insns.error().to_string();
    auto prog = Program::from_insns(*insns);
    if (!prog) return "load: " + prog.error().to_string();
    auto vm = Interpreter::create(*prog, test_helpers());
    if (!vm) return "create: " + vm.error().to_string();
    opts.checked = true;
    auto verdict = [](const Result<uint64_t>& r) { return r ? fmt::format("ok {:#x}", *r) : r.error().to_string(); };
    std::vector<uint8_t> m = mem;
    std::string interp = verdict(vm->run(m.empty() ? nullptr : m.data(), m.size(), opts));
    if (JitProgram::supported()) {
        auto jit = JitProgram::compile(*prog, test_helpers());
        EXPECT_TRUE(jit);
        std::vector<uint8_t> m2 = mem;
        std::string native = verdict(jit->run(m2.empty() ? nullptr : m2.data(), m2.size(), opts));
        // Addresses differ between the engines' stacks: compare up to the first address.
        auto cut = [](const std::string& v) { return v.substr(0, v.find(" at 0x")); };
        EXPECT_EQ(cut(native), cut(interp)) << "jit vs interpreter: " << text << "\n" << native << "\n" << interp;
        if (interp.find(" at 0x") == std::string::npos) {
            EXPECT_EQ(native, interp) << text;
        }
    }
    return interp;
}

constexpr uint64_t I64_MIN = 0x8000000000000000ull;

} // namespace

TEST(Alu64, Arithmetic) {
    EXPECT_EQ(r0_of("r0 = 5\n r0 += 7\n exit"), 12u);
    EXPECT_EQ(r0_of("r0 = 5\n r1 = -7\n r0 += r1\n exit"), uint64_t(-2));
    EXPECT_EQ(r0_of("r0 = 5\n r0 -= 7\n exit"), uint64_t(-2));
    EXPECT_EQ(r0_of("r0 = 5\n r1 = 3\n r0 -= r1\n exit"), 2u);
    EXPECT_EQ(r0_of("r0 = 0x100000000 ll\n r0 *= 3\n exit"), 0x300000000u);
    EXPECT_EQ(r0_of("r0 = 5\n r1 = -2\n r0 *= r1\n exit"), uint64_t(-10));
    EXPECT_EQ(r0_of("r0 = 0xf0\n r0 |= 0x0f\n exit"), 0xffu);
    EXPECT_EQ(r0_of("r0 = 0xf0\n r1 = 0x0f00\n r0 |= r1\n exit"), 0xff0u);
    EXPECT_EQ(r0_of("r0 = -1\n r0 &= -16\n exit"), uint64_t(-16)); // imm sign-extended
    EXPECT_EQ(r0_of("r0 = -1\n r1 = 0xff\n r0 &= r1\n exit"), 0xffu);
    EXPECT_EQ(r0_of("r0 = 0\n r0 ^= -1\n exit"), ~0ull);
    EXPECT_EQ(r0_of("r0 = 6\n r1 = 3\n r0 ^= r1\n exit"), 5u);
    EXPECT_EQ(r0_of("r1 = -1\n r0 = r1\n exit"), ~0ull);
    EXPECT_EQ(r0_of("r0 = 5\n r0 = -r0\n exit"), uint64_t(-5));
    EXPECT_EQ(r0_of("r0 = 0x8000000000000000 ll\n r0 = -r0\n exit"), I64_MIN);
}

TEST(Alu64, ShiftsAreMasked) {
    EXPECT_EQ(r0_of("r0 = 1\n r0 <<= 63\n exit"), I64_MIN);
    EXPECT_EQ(r0_of("r0 = 1\n r1 = 65\n r0 <<= r1\n exit"), 2u);
    EXPECT_EQ(r0_of("r0 = -1\n r0 >>= 60\n exit"), 0xfu);
    EXPECT_EQ(r0_of("r0 = -1\n r1 = 64\n r0 >>= r1\n exit"), ~0ull);
    EXPECT_EQ(r0_of("r0 = -16\n r0 s>>= 2\n exit"), uint64_t(-4));
    EXPECT_EQ(r0_of("r0 = 0x8000000000000000 ll\n r1 = 127\n r0 s>>= r1\n exit"), ~0ull);
}

TEST(Alu32, ZeroExtends) {
    EXPECT_EQ(r0_of("w0 = -1\n exit"), 0xffffffffu);
    EXPECT_EQ(r0_of("r1 = -1\n w0 = w1\n exit"), 0xffffffffu);
    EXPECT_EQ(r0_of("r0 = -1\n w0 += 1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = -1\n r1 = 2\n w0 += w1\n exit"), 1u);
    EXPECT_EQ(r0_of("w0 = 0\n w0 -= 1\n exit"), 0xffffffffu);
    EXPECT_EQ(r0_of("w0 = 0\n w1 = 2\n w0 -= w1\n exit"), 0xfffffffeu);
    EXPECT_EQ(r0_of("w0 = 0x10000\n w0 *= 0x10000\n exit"), 0u);
    EXPECT_EQ(r0_of("w0 = 0x10001\n w1 = 0x10001\n w0 *= w1\n exit"), 0x20001u);
    EXPECT_EQ(r0_of("r0 = 0x1000000f0 ll\n w0 |= 0xf\n exit"), 0xffu);
    EXPECT_EQ(r0_of("r0 = 0x1000000f0 ll\n r1 = 0x100 ll\n w0 |= w1\n exit"), 0x1f0u);
    EXPECT_EQ(r0_of("r0 = -1\n w0 &= 0xff\n exit"), 0xffu);
    EXPECT_EQ(r0_of("r0 = -1\n r1 = 0x70 \n w0 &= w1\n exit"), 0x70u);
    EXPECT_EQ(r0_of("r0 = -1\n w0 ^= 0xff\n exit"), 0xffffff00u);
    EXPECT_EQ(r0_of("r0 = -1\n r1 = -1\n w0 ^= w1\n exit"), 0u);
    EXPECT_EQ(r0_of("w0 = 1\n w0 <<= 31\n exit"), 0x80000000u);
    EXPECT_EQ(r0_of("w0 = 1\n w1 = 33\n w0 <<= w1\n exit"), 2u);
    EXPECT_EQ(r0_of("r0 = -1\n w0 >>= 28\n exit"), 0xfu);
    EXPECT_EQ(r0_of("r0 = -1\n w1 = 36\n w0 >>= w1\n exit"), 0x0fffffffu);
    EXPECT_EQ(r0_of("w0 = -16\n w0 s>>= 2\n exit"), 0xfffffffcu);
    EXPECT_EQ(r0_of("w0 = -16\n w1 = 34\n w0 s>>= w1\n exit"), 0xfffffffcu);
    EXPECT_EQ(r0_of("w0 = 5\n w0 = -w0\n exit"), 0xfffffffbu);
    EXPECT_EQ(r0_of("r0 = -1\n w0 = 7\n exit"), 7u);
}

// Sequences the JIT compiles as one (zero/sign extension pairs, multiplication
// by constants) must mean what their instructions mean.
TEST(Alu, SequencesTheJitFuses) {
    EXPECT_EQ(r0_of("r0 = -5\n r0 <<= 32\n r0 >>= 32\n exit"), 0xfffffffbu);
    EXPECT_EQ(r0_of("r0 = -5\n r0 <<= 32\n r0 s>>= 32\n exit"), uint64_t(-5));
    EXPECT_EQ(r0_of("r0 = 0x7fffffff\n r0 <<= 32\n r0 s>>= 32\n exit"), 0x7fffffffu);
    // A jump into the middle keeps the instructions apart.
    EXPECT_EQ(r0_of("r0 = -5\n r1 = 0\n if r1 == 0 goto mid\n r0 <<= 32\n mid: r0 >>= 32\n exit"), 0xffffffffu);
    // A shift pair on another register, or another amount, is not an extension.
    EXPECT_EQ(r0_of("r0 = -5\n r1 = 3\n r0 <<= 32\n r1 >>= 32\n exit"), 0xfffffffb00000000u);
    EXPECT_EQ(r0_of("r0 = -5\n r0 <<= 32\n r0 >>= 31\n exit"), 0x1fffffff6u);
    const uint64_t v = 0x9e3779b97f4a7c15ull;
    for (int64_t m : {0, 1, 2, 3, 4, 5, 8, 9, 16, 1024, -1, -3, 7, 0x40000000}) {
        std::string text = fmt::format("r0 = {:#x} ll\n r0 *= {}\n exit", v, m);
        EXPECT_EQ(r0_of(text), v * static_cast<uint64_t>(m)) << text;
        text = fmt::format("r0 = {:#x} ll\n w0 *= {}\n exit", v, m);
        EXPECT_EQ(r0_of(text), static_cast<uint32_t>(static_cast<uint32_t>(v) * static_cast<uint32_t>(m))) << text;
    }
}

TEST(DivMod, AsLinuxDoesThem) {
    EXPECT_EQ(r0_of("r0 = 100\n r0 /= 7\n exit"), 14u);
    EXPECT_EQ(r0_of("r0 = 100\n r0 /= 0\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = 100\n r0 /= -1\n exit"), 0u); // divisor is 2^64-1
    EXPECT_EQ(r0_of("r0 = 100\n r1 = 0\n r0 /= r1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = 100\n r0 %= 7\n exit"), 2u);
    EXPECT_EQ(r0_of("r0 = 100\n r1 = 0\n r0 %= r1\n exit"), 100u);
    EXPECT_EQ(r0_of("r0 = 100\n r0 %= 0\n exit"), 100u);
    EXPECT_EQ(r0_of("r0 = 0x100000064 ll\n w0 /= 7\n exit"), 14u);
    EXPECT_EQ(r0_of("r0 = 0x100000064 ll\n w1 = 0\n w0 /= w1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = 0x100000064 ll\n w0 %= 7\n exit"), 2u);
    EXPECT_EQ(r0_of("r0 = 0x100000064 ll\n w1 = 0\n w0 %= w1\n exit"), 0x64u); // upper half cleared
    EXPECT_EQ(r0_of("r0 = -100\n r0 s/= 7\n exit"), uint64_t(-14));
    EXPECT_EQ(r0_of("r0 = 0x8000000000000000 ll\n r1 = -1\n r0 s/= r1\n exit"), I64_MIN);
    EXPECT_EQ(r0_of("r0 = 0x8000000000000000 ll\n r0 s/= -1\n exit"), I64_MIN);
    EXPECT_EQ(r0_of("r0 = -100\n r1 = 0\n r0 s/= r1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = -100\n r0 s%= 7\n exit"), uint64_t(-2));
    EXPECT_EQ(r0_of("r0 = 0x8000000000000000 ll\n r1 = -1\n r0 s%= r1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = -100\n r0 s%= 0\n exit"), uint64_t(-100));
    EXPECT_EQ(r0_of("w0 = -100\n w0 s/= 7\n exit"), 0xfffffff2u);
    EXPECT_EQ(r0_of("w0 = 0x80000000\n w1 = -1\n w0 s/= w1\n exit"), 0x80000000u);
    EXPECT_EQ(r0_of("w0 = -100\n w0 s/= 0\n exit"), 0u);
    EXPECT_EQ(r0_of("w0 = -100\n w0 s%= 7\n exit"), 0xfffffffeu);
    EXPECT_EQ(r0_of("w0 = 0x80000000\n w0 s%= -1\n exit"), 0u);
    EXPECT_EQ(r0_of("r0 = -100\n w1 = 0\n w0 s%= w1\n exit"), 0xffffff9cu);
}

TEST(Alu, SignExtensionAndByteOrder) {
    EXPECT_EQ(r0_of("r1 = 0x80\n r0 = (s8)r1\n exit"), uint64_t(-128));
    EXPECT_EQ(r0_of("r1 = 0x8000\n r0 = (s16)r1\n exit"), uint64_t(-32768));
    EXPECT_EQ(r0_of("r1 = 0x80000000 ll\n r0 = (s32)r1\n exit"), 0xffffffff80000000u);
    EXPECT_EQ(r0_of("r1 = 0x180\n w0 = (s8)w1\n exit"), 0xffffff80u);
    EXPECT_EQ(r0_of("r1 = 0x18000\n w0 = (s16)w1\n exit"), 0xffff8000u);
    const char* v = "r0 = 0x1122334455667788 ll\n";
    EXPECT_EQ(r0_of(std::string(v) + "r0 = le16 r0\n exit"), 0x7788u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = le32 r0\n exit"), 0x55667788u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = le64 r0\n exit"), 0x1122334455667788u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = be16 r0\n exit"), 0x8877u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = be32 r0\n exit"), 0x88776655u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = be64 r0\n exit"), 0x8877665544332211u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = bswap16 r0\n exit"), 0x8877u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = bswap32 r0\n exit"), 0x88776655u);
    EXPECT_EQ(r0_of(std::string(v) + "r0 = bswap64 r0\n exit"), 0x8877665544332211u);
}

// Every conditional jump, 64 and 32 bits, immediate and register, against
// the comparison written out here.
TEST(Jumps, EveryConditionOnEdgeValues) {
    const uint64_t values[] = {0, 1, 2, ~0ull, I64_MIN, 0x7fffffffffffffffull, 0x80000000, 0xffffffff,
                               0x100000000, 0xffffffff80000000ull, 0x1ffffffffull, 0x7fffffff};
    struct Cond {
        const char* sym;
        bool (*cmp64)(uint64_t, uint64_t);
        bool (*cmp32)(uint32_t, uint32_t);
    } conds[] = {
        {"==", [](uint64_t a, uint64_t b) { return a == b; }, [](uint32_t a, uint32_t b) { return a == b; }},
        {"!=", [](uint64_t a, uint64_t b) { return a != b; }, [](uint32_t a, uint32_t b) { return a != b; }},
        {">", [](uint64_t a, uint64_t b) { return a > b; }, [](uint32_t a, uint32_t b) { return a > b; }},
        {">=", [](uint64_t a, uint64_t b) { return a >= b; }, [](uint32_t a, uint32_t b) { return a >= b; }},
        {"<", [](uint64_t a, uint64_t b) { return a < b; }, [](uint32_t a, uint32_t b) { return a < b; }},
        {"<=", [](uint64_t a, uint64_t b) { return a <= b; }, [](uint32_t a, uint32_t b) { return a <= b; }},
        {"s>", [](uint64_t a, uint64_t b) { return int64_t(a) > int64_t(b); },
         [](uint32_t a, uint32_t b) { return int32_t(a) > int32_t(b); }},
        {"s>=", [](uint64_t a, uint64_t b) { return int64_t(a) >= int64_t(b); },
         [](uint32_t a, uint32_t b) { return int32_t(a) >= int32_t(b); }},
        {"s<", [](uint64_t a, uint64_t b) { return int64_t(a) < int64_t(b); },
         [](uint32_t a, uint32_t b) { return int32_t(a) < int32_t(b); }},
        {"s<=", [](uint64_t a, uint64_t b) { return int64_t(a) <= int64_t(b); },
         [](uint32_t a, uint32_t b) { return int32_t(a) <= int32_t(b); }},
        {"&", [](uint64_t a, uint64_t b) { return (a & b) != 0; }, [](uint32_t a, uint32_t b) { return (a & b) != 0; }},
    };
    for (const auto& c : conds) {
        for (uint64_t a : values) {
            for (uint64_t b : values) {
                for (bool w : {false, true}) {
                    char r = w ? 'w' : 'r';
                    bool expect = w ? c.cmp32(uint32_t(a), uint32_t(b)) : c.cmp64(a, b);
                    std::string reg = fmt::format("r1 = {:#x} ll\n r2 = {:#x} ll\n r0 = 0\n if {}1 {} {}2 goto +1\n"
                                                  " exit\n r0 = 1\n exit",
                                                  a, b, r, c.sym, r);
                    ASSERT_EQ(r0_of(reg), expect ? 1u : 0u) << reg;
                    // The immediate is sign-extended to 64 bits: use b's 32-bit form.
                    int32_t imm = static_cast<int32_t>(static_cast<uint32_t>(b));
                    uint64_t bx = static_cast<uint64_t>(static_cast<int64_t>(imm));
                    bool expect_imm = w ? c.cmp32(uint32_t(a), uint32_t(imm)) : c.cmp64(a, bx);
                    std::string k = fmt::format("r1 = {:#x} ll\n r0 = 0\n if {}1 {} {} goto +1\n exit\n r0 = 1\n exit",
                                                a, r, c.sym, imm);
                    ASSERT_EQ(r0_of(k), expect_imm ? 1u : 0u) << k;
                }
            }
        }
    }
}

TEST(Jumps, Unconditional) {
    EXPECT_EQ(r0_of("r0 = 1\n goto +1\n r0 = 2\n exit"), 1u);
    EXPECT_EQ(r0_of("r0 = 1\n gotol +1\n r0 = 2\n exit"), 1u);
    EXPECT_EQ(r0_of("r0 = 0\n goto +2\n back: r0 += 5\n exit\n r0 += 1\n gotol back"), 6u);
}

TEST(MayGoto, LoopsUntilTheBudgetAndEachFunctionHasItsOwn) {
    const char* loop = "r0 = 0\n loop: may_goto out\n r0 += 1\n goto loop\n out: exit";
    RunOptions small;
    small.may_goto_budget = 100;
    EXPECT_EQ(run(loop, {}, small).value(), 100u);
    EXPECT_EQ(r0_of(loop), kMaxLoops); // Linux: BPF_MAX_LOOPS
    // A callee gets a fresh budget per call; the caller's is restored.
    const char* nested = R"(
        r6 = 0
        r7 = 0
    outer: may_goto done
        call inner
        r6 += r0
        r7 += 1
        goto outer
    done:
        r0 = r6
        r0 <<= 16
        r0 |= r7
        exit
    inner:
        r0 = 0
    again: may_goto back
        r0 += 1
        goto again
    back:
        exit
    )";
    RunOptions ten;
    ten.may_goto_budget = 10;
    EXPECT_EQ(run(nested, {}, ten).value(), (100u << 16) | 10u);
}

TEST(Calls, LocalCallsSaveRegistersAndHaveTheirOwnStack) {
    const char* text = R"(
        r6 = 6
        r7 = 7
        r8 = 8
        r9 = 9
        *(u64 *)(r10 - 8) = 111
        r1 = 5
        call f
        r0 += r6
        r0 += r7
        r0 += r8
        r0 += r9
        r1 = *(u64 *)(r10 - 8)
        r0 += r1
        exit
    f:
        *(u64 *)(r10 - 8) = 222
        r6 = 1000
        r7 = 1000
        r0 = r1
        r0 *= 2
        exit
    )";
    EXPECT_EQ(r0_of(text), 10u + 6 + 7 + 8 + 9 + 111);
}

TEST(Calls, EightFramesAtMost) {
    // main + 7 nested calls = 8 frames: fine. One more: refused.
    auto chain = [](int depth) {
        std::string s = "r0 = 0\n call f1\n exit\n";
        for (int i = 1; i <= depth; i++)
            s += fmt::format("f{}:\n r0 += 1\n {}\n exit\n", i, i < depth ? fmt::format("call f{}", i + 1) : "");
        return s;
    };
    EXPECT_EQ(r0_of(chain(7)), 7u);
    auto r = run(chain(8));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "call stack too deep: more than 8 frames");
    // The entry function calling itself (Linux's verifier refuses it; it must not break an engine).
    auto self = run("r6 = 1\n r0 = 0\n call pc-3\n exit");
    ASSERT_FALSE(self);
    EXPECT_EQ(self.error().to_string(), "instruction 2: call stack too deep: more than 8 frames");
    // (r1 and r2 start at 0 without memory, and go down the calls as arguments.)
    EXPECT_EQ(r0_of("r1 += 1\n r6 = r1\n if r1 == 3 goto +2\n call pc-4\n r6 += 10\n r0 = r6\n exit"), 11u);
    EXPECT_EQ(r0_of("r1 = func[pc-1] ll\n r2 += 1\n r0 = r2\n if r2 > 4 goto +1\n callx r1\n exit"), 5u);
    auto forever = run("call f\n exit\n f: call f\n exit");
    ASSERT_FALSE(forever);
    EXPECT_EQ(forever.error().to_string(), "instruction 2: call stack too deep: more than 8 frames");
}

TEST(Calls, HelpersKfuncsAndCallx) {
    EXPECT_EQ(r0_of("r1 = 1\n r2 = 2\n r3 = 3\n r4 = 4\n r5 = 5\n call 100\n exit"), 12345u);
    EXPECT_EQ(r0_of("r1 = 21\n call kfunc#77\n exit"), 42u);
    EXPECT_EQ(r0_of("r1 = 1\n r2 = 0\n r3 = 0\n r4 = 0\n r5 = 0\n r6 = 100\n callx r6\n exit"), 10000u);
    // callx to a function address loaded with lddw (BPF_PSEUDO_FUNC).
    EXPECT_EQ(r0_of("r1 = 4\n r2 = func[pc+4] ll\n callx r2\n r0 += 1\n exit\n r0 = r1\n r0 *= r1\n exit"), 17u);
    auto bad = run("r2 = 12345\n callx r2\n exit");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().to_string(),
              "instruction 1: callx through r2 = 0x3039: neither a helper number nor a function address");
    auto prog = Program::from_insns(*assemble("call 999\n exit"));
    auto vm = Interpreter::create(*prog, test_helpers());
    ASSERT_FALSE(vm);
    EXPECT_EQ(vm.error().to_string(),
              "instruction 0: call to unknown helper 999 (no helper with that number is available)");
    auto kvm = Interpreter::create(*Program::from_insns(*assemble("call kfunc#5\n exit")), test_helpers());
    ASSERT_FALSE(kvm);
    EXPECT_EQ(kvm.error().to_string(), "instruction 0: call to unknown kfunc with BTF id 5");
}

TEST(Lddw, ImmediatesAndPseudoSources) {
    EXPECT_EQ(r0_of("r0 = 0x123456789abcdef0 ll\n exit"), 0x123456789abcdef0u);
    EXPECT_EQ(r0_of("r0 = -1 ll\n exit"), ~0ull);
    auto prog = Program::from_insns(*assemble("r0 = map[fd:3] ll\n exit"));
    ASSERT_TRUE(prog);
    auto none = Interpreter::create(*prog, test_helpers());
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().to_string(),
              "instruction 0: lddw with source 1 (map reference) needs a loader that provides maps or BTF objects; "
              "none is available here");
    PrepareOptions po;
    po.resolve_pseudo = [](const Insn& a, const Insn&, int64_t) -> Result<uint64_t> {
        return 0x1000ull + static_cast<uint64_t>(a.imm);
    };
    auto vm = Interpreter::create(*prog, test_helpers(), po);
    ASSERT_TRUE(vm);
    EXPECT_EQ(vm->run(nullptr, 0).value(), 0x1003u);
}

TEST(Memory, LoadsAndStores) {
    std::vector<uint8_t> mem = {0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88};
    EXPECT_EQ(r0_of("r0 = *(u8 *)(r1 + 1)\n exit", mem), 0x82u);
    EXPECT_EQ(r0_of("r0 = *(u16 *)(r1 + 2)\n exit", mem), 0x8483u);
    EXPECT_EQ(r0_of("r0 = *(u32 *)(r1 + 4)\n exit", mem), 0x88878685u);
    EXPECT_EQ(r0_of("r0 = *(u64 *)(r1 + 0)\n exit", mem), 0x8887868584838281u);
    EXPECT_EQ(r0_of("r0 = *(s8 *)(r1 + 1)\n exit", mem), 0xffffffffffffff82u);
    EXPECT_EQ(r0_of("r0 = *(s16 *)(r1 + 2)\n exit", mem), 0xffffffffffff8483u);
    EXPECT_EQ(r0_of("r0 = *(s32 *)(r1 + 4)\n exit", mem), 0xffffffff88878685u);
    EXPECT_EQ(r0_of("*(u64 *)(r10 - 8) = -1\n *(u8 *)(r10 - 8) = 0x12\n *(u16 *)(r10 - 6) = 0x3456\n"
                    " *(u32 *)(r10 - 4) = 0x789a\n r0 = *(u64 *)(r10 - 8)\n exit"),
              0x0000789a3456ff12u);
    EXPECT_EQ(r0_of("r2 = 0x1122334455667788 ll\n *(u64 *)(r10 - 16) = r2\n *(u32 *)(r10 - 12) = r2\n"
                    " *(u16 *)(r10 - 16) = r2\n *(u8 *)(r10 - 15) = r2\n r0 = *(u64 *)(r10 - 16)\n exit"),
              0x5566778855668888u);
    // Stores reach the caller's memory.
    std::vector<uint8_t> out(4, 0);
    auto insns = assemble("*(u32 *)(r1 + 0) = 0x01020304\n r0 = 0\n exit");
    auto vm = Interpreter::create(*Program::from_insns(*insns));
    ASSERT_TRUE(vm->run(out.data(), out.size()));
    EXPECT_EQ(out, (std::vector<uint8_t>{4, 3, 2, 1}));
}

TEST(Memory, LegacyPacketLoads) {
    std::vector<uint8_t> pkt = {0x10, 0x20, 0x30, 0x40, 0x50, 0x60};
    EXPECT_EQ(r0_of("r0 = *(u8 *)skb[1]\n exit", pkt), 0x20u);
    EXPECT_EQ(r0_of("r0 = *(u16 *)skb[1]\n exit", pkt), 0x2030u); // network byte order
    EXPECT_EQ(r0_of("r0 = *(u32 *)skb[2]\n exit", pkt), 0x30405060u);
    EXPECT_EQ(r0_of("r3 = 1\n r0 = *(u8 *)skb[r3 + 1]\n exit", pkt), 0x30u);
    EXPECT_EQ(r0_of("r3 = 1\n r0 = *(u16 *)skb[r3 + 3]\n exit", pkt), 0x5060u);
    EXPECT_EQ(r0_of("r3 = 2\n r0 = *(u32 *)skb[r3]\n exit", pkt), 0x30405060u);
    // Out of bounds ends the program with r0 = 0, from any depth.
    EXPECT_EQ(r0_of("r0 = *(u32 *)skb[3]\n r0 = 7\n exit", pkt), 0u);
    EXPECT_EQ(r0_of("r3 = -1\n r0 = *(u8 *)skb[r3]\n r0 = 7\n exit", pkt), 0u);
    EXPECT_EQ(r0_of("call f\n r0 = 7\n exit\n f: r0 = *(u8 *)skb[100]\n exit", pkt), 0u);
    // An explicit packet overrides the context.
    RunOptions o;
    std::vector<uint8_t> other = {0xaa, 0xbb};
    o.packet = other;
    EXPECT_EQ(run("r0 = *(u16 *)skb[0]\n exit", pkt, o).value(), 0xaabbu);
}

TEST(Atomics, ReadModifyWrite) {
    // Returns {memory after, r2 after} for an operation on a stack slot that
    // holds 0xf0f0, with r2 = 0xffffffff0000000c.
    auto atomic = [](const char* op, bool wide) {
        std::string t = wide ? "u64" : "u32";
        std::string text = fmt::format("r6 = r1\n r1 = 0xf0f0 ll\n *({0} *)(r10 - 8) = r1\n"
                                       " r2 = 0xffffffff0000000c ll\n {1}\n"
                                       " r3 = *({0} *)(r10 - 8)\n *(u64 *)(r6 + 0) = r3\n *(u64 *)(r6 + 8) = r2\n"
                                       " r0 = 0\n exit",
                                       t, op);
        std::vector<uint8_t> mem(16, 0);
        auto r = run(text, mem);
        EXPECT_TRUE(r) << text;
        auto vm = Interpreter::create(*Program::from_insns(*assemble(text)));
        EXPECT_TRUE(vm->run(mem.data(), mem.size()));
        std::pair<uint64_t, uint64_t> out;
        std::memcpy(&out.first, mem.data(), 8);
        std::memcpy(&out.second, mem.data() + 8, 8);
        return out;
    };
    using P = std::pair<uint64_t, uint64_t>;
    const uint64_t r2 = 0xffffffff0000000cull;
    EXPECT_EQ(atomic("lock *(u64 *)(r10 - 8) += r2", true), P(0xffffffff0000f0fcull, r2));
    EXPECT_EQ(atomic("lock *(u32 *)(r10 - 8) += r2", false), P(0xf0fc, r2));
    EXPECT_EQ(atomic("r2 = atomic_fetch_add((u64 *)(r10 - 8), r2)", true), P(0xffffffff0000f0fcull, 0xf0f0));
    EXPECT_EQ(atomic("w2 = atomic_fetch_add((u32 *)(r10 - 8), w2)", false), P(0xf0fc, 0xf0f0));
    EXPECT_EQ(atomic("lock *(u64 *)(r10 - 8) |= r2", true), P(0xffffffff0000f0fcull, r2));
    EXPECT_EQ(atomic("lock *(u32 *)(r10 - 8) |= r2", false), P(0xf0fc, r2));
    EXPECT_EQ(atomic("r2 = atomic_fetch_or((u64 *)(r10 - 8), r2)", true), P(0xffffffff0000f0fcull, 0xf0f0));
    EXPECT_EQ(atomic("w2 = atomic_fetch_or((u32 *)(r10 - 8), w2)", false), P(0xf0fc, 0xf0f0));
    EXPECT_EQ(atomic("lock *(u64 *)(r10 - 8) &= r2", true), P(0, r2));
    EXPECT_EQ(atomic("lock *(u32 *)(r10 - 8) &= r2", false), P(0, r2));
    EXPECT_EQ(atomic("r2 = atomic_fetch_and((u64 *)(r10 - 8), r2)", true), P(0, 0xf0f0));
    EXPECT_EQ(atomic("w2 = atomic_fetch_and((u32 *)(r10 - 8), w2)", false), P(0, 0xf0f0));
    EXPECT_EQ(atomic("lock *(u64 *)(r10 - 8) ^= r2", true), P(0xffffffff0000f0fcull, r2));
    EXPECT_EQ(atomic("lock *(u32 *)(r10 - 8) ^= r2", false), P(0xf0fc, r2));
    EXPECT_EQ(atomic("r2 = atomic_fetch_xor((u64 *)(r10 - 8), r2)", true), P(0xffffffff0000f0fcull, 0xf0f0));
    EXPECT_EQ(atomic("w2 = atomic_fetch_xor((u32 *)(r10 - 8), w2)", false), P(0xf0fc, 0xf0f0));
    EXPECT_EQ(atomic("r2 = xchg_64(r10 - 8, r2)", true), P(r2, 0xf0f0));
    EXPECT_EQ(atomic("w2 = xchg32_32(r10 - 8, w2)", false), P(0xc, 0xf0f0));
}

TEST(Atomics, CompareAndExchange) {
    // Success: memory takes the new value, r0 the old one.
    EXPECT_EQ(r0_of("*(u64 *)(r10 - 8) = 5\n r0 = 5\n r1 = 9\n r0 = cmpxchg_64(r10 - 8, r0, r1)\n"
                    " r2 = *(u64 *)(r10 - 8)\n r0 <<= 8\n r0 |= r2\n exit"),
              0x509u);
    // Failure: memory unchanged, r0 the current value.
    EXPECT_EQ(r0_of("*(u64 *)(r10 - 8) = 5\n r0 = 6\n r1 = 9\n r0 = cmpxchg_64(r10 - 8, r0, r1)\n"
                    " r2 = *(u64 *)(r10 - 8)\n r0 <<= 8\n r0 |= r2\n exit"),
              0x505u);
    // 32 bits: compares the low half of r0, zero-extends what it returns.
    EXPECT_EQ(r0_of("*(u32 *)(r10 - 8) = 5\n r0 = 0x700000005 ll\n r1 = 9\n w0 = cmpxchg32_32(r10 - 8, w0, w1)\n"
                    " r2 = *(u32 *)(r10 - 8)\n r0 <<= 8\n r0 |= r2\n exit"),
              0x509u);
    EXPECT_EQ(r0_of("*(u32 *)(r10 - 8) = -1\n r0 = 3\n r1 = 9\n w0 = cmpxchg32_32(r10 - 8, w0, w1)\n exit"),
              0xffffffffu);
}

TEST(Atomics, AcquireAndRelease) {
    std::vector<uint8_t> mem(8, 0);
    for (const char* t : {"u8", "u16", "u32", "u64"}) {
        char r = std::string(t) == "u64" ? 'r' : 'w';
        std::string text = fmt::format("r2 = -1\n store_release(({} *)(r1 + 0), {}2)\n {}0 = load_acquire(({} *)(r1 + 0))\n exit",
                                       t, r, r, t);
        uint64_t expect = std::string(t) == "u8" ? 0xff : std::string(t) == "u16" ? 0xffff : std::string(t) == "u32" ? 0xffffffff : ~0ull;
        EXPECT_EQ(r0_of(text, mem), expect) << text;
    }
}

TEST(Checked, ConfinesLoadsAndStores) {
    std::vector<uint8_t> mem(16, 0);
    EXPECT_TRUE(checked_error("r0 = *(u32 *)(r1 + 14)\n exit", mem).starts_with("instruction 0: invalid read of 4 bytes at 0x"));
    EXPECT_NE(checked_error("r0 = *(u32 *)(r1 + 14)\n exit", mem).find(": 2 bytes past the end of the context ("),
              std::string::npos);
    EXPECT_NE(checked_error("r0 = *(u8 *)(r1 - 1)\n exit", mem).find(": 1 bytes before the context"), std::string::npos);
    EXPECT_NE(checked_error("r1 = 0\n r0 = *(u64 *)(r1 + 0)\n exit", mem)
                  .find("instruction 1: invalid read of 8 bytes at 0x0: not in the stack, the context or any memory"),
              std::string::npos);
    EXPECT_NE(checked_error("*(u64 *)(r10 + 0) = 1\n r0 = 0\n exit").find("instruction 0: invalid write of 8 bytes"),
              std::string::npos);
    EXPECT_NE(checked_error("*(u64 *)(r10 - 520) = 1\n r0 = 0\n exit").find("bytes before the stack"), std::string::npos);
    EXPECT_EQ(checked_error("*(u64 *)(r10 - 512) = 1\n r0 = 0\n exit"), "ok 0x0");
    // A callee may use the caller's stack through a pointer, not the other way round.
    EXPECT_EQ(checked_error("r1 = r10\n r1 += -8\n call f\n r0 = *(u64 *)(r10 - 8)\n exit\n"
                            " f: *(u64 *)(r1 + 0) = 42\n exit"),
              "ok 0x2a");
    EXPECT_NE(checked_error("call f\n r0 = *(u64 *)(r10 - 520)\n exit\n f: r0 = 0\n exit").find("invalid read"),
              std::string::npos);
    RunOptions ro;
    ro.context_writable = false;
    EXPECT_NE(checked_error("*(u8 *)(r1 + 0) = 1\n r0 = 0\n exit", mem, ro).find(": the context is read-only"),
              std::string::npos);
    EXPECT_NE(checked_error("r1 += 1\n lock *(u64 *)(r1 + 0) += r2\n r0 = 0\n exit", mem)
                  .find("atomic accesses must be aligned to their size"),
              std::string::npos);
}

TEST(Checked, HelpersDeclareTheMemoryTheyHandOver) {
    EXPECT_EQ(checked_error("r1 = 1\n call 101\n r0 = *(u8 *)(r0 + 3)\n exit"), "ok 0x4");
    EXPECT_NE(checked_error("r1 = 0\n call 101\n r0 = *(u8 *)(r0 + 3)\n exit").find("instruction 2: invalid read"),
              std::string::npos);
    // Read-only: the helper said so.
    EXPECT_NE(checked_error("r1 = 1\n call 101\n *(u8 *)(r0 + 3) = 1\n exit").find("the helper buffer is read-only"),
              std::string::npos);
    // Extra regions from the caller.
    uint64_t word = 0x55;
    RunOptions ro;
    ro.regions.push_back(MemoryRegion{reinterpret_cast<uint64_t>(&word), sizeof word, true, "word"});
    EXPECT_EQ(checked_error(fmt::format("r1 = {:#x} ll\n r0 = *(u64 *)(r1 + 0)\n exit", reinterpret_cast<uint64_t>(&word)),
                            {}, ro),
              "ok 0x55");
}

TEST(Checked, FaultsAreDescribedByTheNearestPlace) {
    // A context on the host stack, near the engines' own stacks: the fault is
    // still described by what the address is nearest to.
    uint8_t local[64] = {};
    auto insns = assemble("r0 = *(u8 *)(r1 - 1)\n exit");
    auto prog = Program::from_insns(*insns);
    auto vm = Interpreter::create(*prog);
    RunOptions ro;
    ro.checked = true;
    auto r = vm->run(local, sizeof local, ro);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(": 1 bytes before the context"), std::string::npos) << r.error().message;
    if (JitProgram::supported()) {
        auto jit = JitProgram::compile(*prog);
        auto j = jit->run(local, sizeof local, ro);
        ASSERT_FALSE(j);
        EXPECT_NE(j.error().message.find(": 1 bytes before the context"), std::string::npos) << j.error().message;
    }
}

TEST(Calls, AnEarlyEndInsideACalleeRestoresTheHostsRegisters) {
    // A failed packet load, a bad callx or a too-deep call ends the run from
    // inside a function that saved r6-r9 (the host's rbx, r13-r15): the run
    // must still return with the host's registers as they were.
    for (const char* end : {"r0 = *(u8 *)skb[1000]", "r1 = 12345\n callx r1", "call f"}) {
        std::string text = fmt::format("call f\n r0 = 1\n exit\n f: r6 = 42\n r7 = 43\n r8 = 44\n r9 = 45\n {}\n exit", end);
        volatile uint64_t keep[4] = {1, 2, 3, 4};
        uint64_t a = keep[0] * 3, b = keep[1] * 5, c = keep[2] * 7, d = keep[3] * 11; // live across the runs
        for (int i = 0; i < 3; i++) run(text, std::vector<uint8_t>(8, 0));
        EXPECT_EQ(a + b + c + d, 3u + 10 + 21 + 44) << text;
    }
}

TEST(Helpers, CallBackIntoTheProgram) {
    // The callback sums i * arg into a stack slot of the caller (r3 = its address).
    const char* sum = "r6 = 0\n *(u64 *)(r10 - 8) = r6\n r1 = 5\n r2 = func[cb] ll\n r3 = r10\n r3 += -8\n"
                      " call 102\n r0 <<= 32\n r1 = *(u64 *)(r10 - 8)\n r0 |= r1\n exit\n"
                      " cb: r0 = *(u64 *)(r2 + 0)\n r0 += r1\n *(u64 *)(r2 + 0) = r0\n"
                      " *(u64 *)(r10 - 16) = r0\n r0 = 0\n exit";
    EXPECT_EQ(r0_of(sum), (5ull << 32) | 10u);
    // The callback stops the loop by returning 1 at i = 2.
    EXPECT_EQ(r0_of("r1 = 10\n r2 = func[cb] ll\n r3 = 0\n call 102\n exit\n"
                    " cb: r0 = 0\n if r1 != 2 goto +1\n r0 = 1\n exit"),
              3u);
    // Callbacks nest (a callback calls the helper again) and count toward the depth.
    EXPECT_EQ(r0_of("r1 = 3\n r2 = func[outer] ll\n r3 = 0\n call 102\n exit\n"
                    " outer: r1 = 4\n r2 = func[inner] ll\n r3 = 0\n call 102\n r0 = 0\n exit\n"
                    " inner: r0 = 0\n exit"),
              3u);
    // A fault inside the callback stops the run there, in every engine alike.
    auto fault = checked_error("r1 = 2\n r2 = func[cb] ll\n r3 = 0\n call 102\n exit\n"
                               " cb: r0 = *(u64 *)(r3 + 8)\n exit");
    EXPECT_TRUE(fault.starts_with("instruction 6: invalid read of 8 bytes at 0x8")) << fault;
    // Not a function: an error at the helper call.
    EXPECT_EQ(checked_error("r1 = 2\n r2 = 1234\n call 102\n exit"),
              "instruction 2: callback 0x4d2 is not a function of the program (a BPF_PSEUDO_FUNC value)");
    // A callback that recurses without end runs out of frames.
    EXPECT_EQ(checked_error("r1 = 1\n r2 = func[cb] ll\n r3 = 0\n call 102\n exit\n"
                            " cb: r1 = 1\n r2 = func[cb] ll\n call 102\n exit"),
              "instruction 9: call stack too deep: more than 8 frames");
}

TEST(Helpers, StopTheRun) {
    EXPECT_EQ(r0_of("r1 = 0\n call 103\n exit"), 5u);
    EXPECT_EQ(checked_error("r1 = 7\n call 103\n r0 = 1\n exit"), "instruction 1: helper refused 7");
    EXPECT_EQ(checked_error("call f\n exit\n f: r1 = 9\n call 103\n exit"), "instruction 3: helper refused 9");
    // kReturn (bpf_tail_call): the calling function returns the helper's result.
    EXPECT_EQ(r0_of("r1 = 42\n call 104\n r0 = 1\n exit"), 42u);
    EXPECT_EQ(r0_of("r6 = 3\n call f\n r0 += r6\n exit\n f: r6 = 50\n r1 = 40\n call 104\n r0 = 1\n exit"),
              43u);
}

TEST(Checked, InstructionBudget) {
    RunOptions ro;
    ro.insn_budget = 1000;
    EXPECT_EQ(checked_error("loop: goto loop", {}, ro),
              "instruction 0: instruction budget exhausted: the program ran too long (or forever)");
    ro.insn_budget = 3;
    EXPECT_EQ(checked_error("r0 = 1\n r0 += 1\n exit", {}, ro), "ok 0x2");
    // The budget is charged per block, when the block is entered: a block the
    // budget does not cover does not start (its stores are not done).
    ro.insn_budget = 2;
    EXPECT_EQ(checked_error("r0 = 1\n r0 += 1\n exit", {}, ro),
              "instruction 0: instruction budget exhausted: the program ran too long (or forever)");
    ro.insn_budget = 3;
    std::vector<uint8_t> mem(8, 0);
    EXPECT_EQ(checked_error("r0 = 0\n if r0 == 0 goto +0\n *(u8 *)(r1 + 0) = 7\n r0 = 1\n exit", mem, ro),
              "instruction 2: instruction budget exhausted: the program ran too long (or forever)");
}

TEST(Memory, TheCallersStack) {
    // With RunOptions::stack, r10 is the end of the given memory: results
    // that depend on stack addresses are the same on every engine.
    alignas(16) static uint8_t stack[4096 + 64];
    RunOptions ro;
    ro.stack = stack;
    auto r = run("*(u64 *)(r10 - 8) = 0x1234\n r0 = r10\n exit", {}, ro);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, reinterpret_cast<uint64_t>(stack + sizeof stack));
    uint64_t word;
    std::memcpy(&word, stack + sizeof stack - 8, 8);
    EXPECT_EQ(word, 0x1234u);
    RunOptions small;
    std::vector<uint8_t> tiny(100);
    small.stack = tiny;
    auto refused = run("r0 = 0\n exit", {}, small);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message, "RunOptions::stack has 100 bytes: a stack needs 4096");
}

TEST(Checked, StackStartsZeroed) {
    EXPECT_EQ(checked_error("r0 = *(u64 *)(r10 - 512)\n exit"), "ok 0x0");
}

TEST(Threads, OneInterpreterManyThreads) {
    auto vm = Interpreter::create(*Program::from_insns(*assemble(R"(
        r0 = 0
        r2 = *(u64 *)(r1 + 0)
    loop:
        r0 += r2
        r2 -= 1
        if r2 != 0 goto loop
        exit
    )")));
    ASSERT_TRUE(vm);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            for (uint64_t i = 1; i < 2000; i++) {
                uint64_t n = i + static_cast<uint64_t>(t);
                RunOptions ro;
                ro.checked = (i & 1) != 0;
                auto r = vm->run(&n, sizeof n, ro);
                if (!r || *r != n * (n + 1) / 2) wrong++;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
}

TEST(Coverage, EveryInstructionOfTheTableRan) {
    // Runs after the tests above (gtest runs a file's tests in the order they
    // are defined; ctest runs this binary as one test).
    std::string missing;
    for (const OpInfo& info : op_table())
        if (!ops_seen().count(info.op)) missing += std::string(info.name) + " ";
    if (!missing.empty() && ops_seen().size() < 50)
        GTEST_SKIP() << "run the whole interp_test binary: the other tests provide the coverage";
    EXPECT_EQ(missing, "") << "instructions no test runs";
}
