// Differential testing: generated programs on the interpreter and the JIT,
// each in the fast and the checked mode (and the JIT with constant blinding),
// must agree on r0, the memory they leave, or the error they stop with; and,
// where root can load BPF programs, with Linux.
//
// BPFVM_DIFF_PROGRAMS and BPFVM_DIFF_KERNEL_PROGRAMS in the environment set
// how many programs run (defaults from CMake: fewer under the sanitizers);
// BPFVM_DIFF_SEED moves the seeds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "bpfvm/program.h"
#include "bpfvm/asm.h"
#include "engines.h"
#include "generator.h"
#include "kernel.h"
#include "reduce.h"

using namespace bpfvm;
using namespace bpfvm::difftest;

namespace {

uint64_t env_or(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

uint64_t program_count() { return env_or("BPFVM_DIFF_PROGRAMS", BPFVM_DIFF_DEFAULT_PROGRAMS); }
uint64_t kernel_count() { return env_or("BPFVM_DIFF_KERNEL_PROGRAMS", BPFVM_DIFF_DEFAULT_KERNEL_PROGRAMS); }
uint64_t base_seed() { return env_or("BPFVM_DIFF_SEED", 1); }

// The seeds of the test: two thirds Full profile, one third Kernel profile.
struct Seeds {
    uint64_t full_first, full_count, kernel_first, kernel_count;
};
Seeds seeds() {
    uint64_t n = program_count();
    return Seeds{base_seed(), n - n / 3, base_seed() + 1'000'000, n / 3};
}

constexpr size_t kMaxReports = 5;

struct Tally {
    uint64_t programs = 0, agreed = 0, failed = 0, engine_runs = 0, faults = 0, budget_stopped = 0;
    std::map<std::string, uint64_t> errors, known;
};

void run_profile(Profile profile, uint64_t first, uint64_t count, Tally& t) {
    GenOptions go;
    go.profile = profile;
    for (uint64_t s = first; s < first + count; s++) {
        GeneratedProgram p = generate(s, go);
        CheckResult r = check(p);
        t.programs++;
        t.engine_runs += r.engines;
        t.faults += p.faults;
        if (r.status != CheckResult::Status::Agreed) {
            if (++t.failed <= kMaxReports) ADD_FAILURE() << r.report;
            continue;
        }
        t.agreed++;
        t.budget_stopped += r.budget_stopped;
        if (!r.known.empty()) t.known[r.known]++;
        if (!r.error.empty()) {
            std::string kind = r.error.substr(0, r.error.find_first_of("0123456789"));
            t.errors[kind]++;
        }
    }
}

void print(const char* what, const Tally& t) {
    std::string errors, known;
    for (auto& [k, v] : t.errors) errors += fmt::format("\n    {:6}  {}", v, k);
    for (auto& [k, v] : t.known) known += fmt::format("\n    {:6}  {} (tests/differential/findings/{}.s)", v, k, k);
    std::printf("%s: %llu programs, %llu agreed, %llu disagreed (%llu engine runs; %llu run only checked because "
                "they may fault; %llu budget runs stopped by the budget)\n"
                "  stopped with an error in every engine:%s\n"
                "  agreed but for a known finding:%s\n",
                what, static_cast<unsigned long long>(t.programs), static_cast<unsigned long long>(t.agreed),
                static_cast<unsigned long long>(t.failed), static_cast<unsigned long long>(t.engine_runs),
                static_cast<unsigned long long>(t.faults), static_cast<unsigned long long>(t.budget_stopped),
                errors.empty() ? " none" : errors.c_str(), known.empty() ? " none" : known.c_str());
}

} // namespace

TEST(Differential, GeneratorIsDeterministic) {
    for (uint64_t s = 1; s < 50; s++)
        for (Profile prof : {Profile::Full, Profile::Kernel}) {
            GenOptions go;
            go.profile = prof;
            GeneratedProgram a = generate(s, go), b = generate(s, go);
            ASSERT_EQ(a.insns, b.insns) << "seed " << s;
            ASSERT_EQ(a.memory, b.memory) << "seed " << s;
            ASSERT_EQ(a.may_goto_budget, b.may_goto_budget);
            ASSERT_TRUE(Program::from_insns(a.insns)) << "seed " << s;
        }
    // Neighbouring seeds give different programs.
    EXPECT_NE(generate(1).insns, generate(2).insns);
}

TEST(Differential, ListingReassembles) {
    for (uint64_t s = 1; s < 40; s++) {
        GeneratedProgram p = generate(s);
        for (bool bytes : {false, true}) {
            auto again = assemble(listing(p, bytes));
            ASSERT_TRUE(again) << again.error().to_string() << "\n" << listing(p, bytes);
            EXPECT_EQ(*again, p.insns) << "seed " << s;
        }
    }
}

// Every row of the opcode table appears in the test's programs; the Kernel
// profile has all but callx and kfunc calls (which Linux refuses here).
TEST(Differential, EveryOpcodeRowIsGenerated) {
    Seeds sd = seeds();
    std::bitset<kNumOps> full, kernel;
    GenOptions go;
    for (uint64_t s = sd.full_first; s < sd.full_first + sd.full_count; s++) full |= generate(s, go).ops;
    go.profile = Profile::Kernel;
    for (uint64_t s = sd.kernel_first; s < sd.kernel_first + sd.kernel_count; s++) kernel |= generate(s, go).ops;
    for (const OpInfo& info : op_table()) {
        EXPECT_TRUE(full.test(static_cast<size_t>(info.op)) || kernel.test(static_cast<size_t>(info.op)))
            << info.name << " never generated";
        if (info.form != Form::CallX && info.form != Form::CallKfunc && sd.kernel_count >= 300) {
            EXPECT_TRUE(kernel.test(static_cast<size_t>(info.op))) << info.name << " never generated in the Kernel profile";
        }
    }
}

// Edge cases the programs must contain (those visible in the instructions).
TEST(Differential, EdgeCasesAreGenerated) {
    Seeds sd = seeds();
    std::map<std::string, uint64_t> seen;
    auto note = [&](const std::string& what) { seen[what]++; };
    for (uint64_t s = sd.full_first; s < sd.full_first + std::min<uint64_t>(sd.full_count, 1500); s++) {
        GeneratedProgram p = generate(s);
        const auto& in = p.insns;
        for (size_t i = 0; i < in.size(); i++) {
            const OpInfo* info = find_op(in[i]);
            if (!info) continue;
            const uint8_t op = in[i].opcode & 0xf0;
            const bool alu = info->form == Form::AluK || info->form == Form::AluX;
            const std::string w = std::to_string(info->size);
            if (alu && info->form == Form::AluK && (op == BPF_DIV || op == BPF_MOD)) {
                std::string name = std::string(in[i].off ? "s" : "") + (op == BPF_DIV ? "div" : "mod") + w;
                if (in[i].imm == 0) note(name + " by imm 0");
                if (in[i].imm == -1) note(name + " by imm -1");
            }
            if (alu && info->form == Form::AluK && (op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH))
                for (int32_t k : {31, 32, 63, 64, 65})
                    if (in[i].imm == k) note("shift" + w + " by imm " + std::to_string(k));
            if (info->form == Form::JmpK || info->form == Form::JmpX) {
                if (in[i].off < 0) note("backward jump" + w + (info->form == Form::JmpK ? " imm" : " reg"));
                else note("forward jump" + w + (info->form == Form::JmpK ? " imm" : " reg"));
            }
            if (info->form == Form::Ja && in[i].off < 0) note("backward ja");
            if (info->form == Form::Gotol && in[i].imm < 0) note("backward gotol");
            if (info->form == Form::LdImm64 && in[i].src == uint8_t(Pseudo::Func)) note("lddw function address");
            if (info->form == Form::CallX && i > 0 && find_op(in[i - 1]) &&
                find_op(in[i - 1])->op == Op::MOV64_IMM && in[i - 1].dst == in[i].dst && in[i - 1].imm >= 1000)
                note("callx helper number");
            if (info->form == Form::AtomicCmpxchg) note("cmpxchg");
            if (info->form == Form::LdImm64) {
                uint64_t v = uint32_t(in[i].imm) | uint64_t(uint32_t(in[i + 1].imm)) << 32;
                if (v == 0x8000000000000000ull) note("INT64_MIN");
                if (v == 0x7fffffffffffffffull) note("INT64_MAX");
                i++;
            }
            if (info->op == Op::MOV32_IMM && in[i].imm == INT32_MIN) note("0x80000000");
            if (info->op == Op::MOV64_IMM && in[i].imm == INT32_MAX) note("INT32_MAX");
            if (info->op == Op::MOV64_IMM && in[i].imm == -1) note("-1");
        }
        if (p.may_goto_budget < 25) note("small may_goto budget");
        if (p.budget_dependent) note("loop only may_goto ends");
    }
    std::vector<std::string> wanted = {"lddw function address", "callx helper number", "cmpxchg", "INT64_MIN",
                                       "INT64_MAX", "0x80000000", "INT32_MAX", "-1", "backward ja", "backward gotol",
                                       "small may_goto budget", "loop only may_goto ends"};
    for (std::string w : {"32", "64"}) {
        for (std::string d : {"div", "mod", "sdiv", "smod"})
            for (std::string k : {" by imm 0", " by imm -1"}) wanted.push_back(d + w + k);
        for (std::string k : {"31", "32", "63", "64", "65"}) wanted.push_back("shift" + w + " by imm " + k);
        for (std::string dir : {"forward", "backward"})
            for (std::string f : {" imm", " reg"}) wanted.push_back(dir + " jump" + w + f);
    }
    for (const auto& w : wanted) EXPECT_GT(seen[w], 0u) << "no program has: " << w;
}

TEST(Differential, EnginesAgreeFullProfile) {
    Seeds sd = seeds();
    Tally t;
    run_profile(Profile::Full, sd.full_first, sd.full_count, t);
    print("full profile", t);
    EXPECT_EQ(t.failed, 0u);
    // The error paths were taken: every kind of error some program stops with.
    if (sd.full_count >= 600) {
        auto has = [&](std::string_view prefix) {
            for (auto& [k, v] : t.errors)
                if (k.starts_with(prefix)) return true;
            return false;
        };
        EXPECT_TRUE(has("callx through r")) << "no program stopped at a bad callx";
        EXPECT_TRUE(has("call stack too deep")) << "no program recursed too deep";
        EXPECT_TRUE(has("invalid ")) << "no program faulted";
        EXPECT_GT(t.budget_stopped, 0u) << "no budget run ran out";
    }
}

TEST(Differential, EnginesAgreeKernelProfile) {
    Seeds sd = seeds();
    Tally t;
    run_profile(Profile::Kernel, sd.kernel_first, sd.kernel_count, t);
    print("kernel profile", t);
    EXPECT_EQ(t.failed, 0u);
    EXPECT_EQ(t.faults, 0u);
    EXPECT_TRUE(t.errors.empty()) << "a Kernel-profile program stopped with an error";
}

// The harness itself: a fast JIT that miscompiles one row (simulated by
// handing it a mutated program) is caught within a few hundred programs, and
// the reducer shrinks the first program that shows it to a few instructions.
TEST(Differential, HarnessCatchesAMiscompiledRow) {
    const std::pair<Op, Op> mutations[] = {
        {Op::ADD64_REG, Op::SUB64_REG},           {Op::JSGT32_IMM, Op::JSGE32_IMM},
        {Op::RSH64_REG, Op::ARSH64_REG},          {Op::LDXSX_B, Op::LDX_B},
        {Op::ATOMIC32_FETCH_AND, Op::ATOMIC32_FETCH_OR}, {Op::MOVSX16_64, Op::MOVSX8_64},
        {Op::SDIV64_IMM, Op::DIV64_IMM},          {Op::MOD32_REG, Op::SMOD32_REG},
        {Op::JLE_REG, Op::JLT_REG},               {Op::LDIND_H, Op::LDIND_B},
        {Op::BSWAP32, Op::LE32},                  {Op::ATOMIC64_CMPXCHG, Op::ATOMIC64_XCHG},
    };
    bool reduced = false;
    for (auto [from, to] : mutations) {
        set_mutation(std::make_pair(from, to));
        uint64_t tried = 0, caught = 0;
        for (uint64_t s = 1; s <= 300 && !caught; s++) {
            GeneratedProgram p = generate(s);
            if (!p.ops.test(static_cast<size_t>(from)) || p.faults) continue;
            tried++;
            CheckResult r = check(p);
            if (r.status != CheckResult::Status::Disagreed) continue;
            caught = s;
            EXPECT_NE(disagreement_signature(r).find("jit fast"), std::string::npos) << r.report;
            if (!reduced) {
                // The reducer keeps the disagreement and drops most of the program.
                reduced = true;
                GeneratedProgram small = reduce(p, CheckOptions{}, 400);
                CheckResult again = check(small);
                EXPECT_EQ(again.status, CheckResult::Status::Disagreed);
                EXPECT_TRUE(small.ops.test(static_cast<size_t>(from)) || ops_of(small.insns).test(static_cast<size_t>(from)));
                EXPECT_LT(small.insns.size(), 40u) << "reduced from " << p.insns.size() << ":\n" << listing(small);
            }
        }
        EXPECT_NE(caught, 0u) << op_info(from).name << " miscompiled as " << op_info(to).name << " went unnoticed in "
                              << tried << " programs";
    }
    set_mutation(std::nullopt);
}

TEST(Differential, LinuxAgrees) {
    std::string why;
    auto oracle = KernelOracle::open(why);
    if (!oracle) {
        GTEST_SKIP() << why;
    }
    set_current_cpu(oracle->cpu());
    const uint64_t n = kernel_count();
    uint64_t agreed = 0, refused = 0, disagreed = 0, skipped = 0;
    std::map<std::string, std::pair<uint64_t, std::string>> reasons;
    GenOptions go;
    go.profile = Profile::Kernel;
    for (uint64_t s = base_seed() + 2'000'000; s < base_seed() + 2'000'000 + n; s++) {
        GeneratedProgram p = generate(s, go);
        KernelVerdict v = oracle->check(p);
        switch (v.status) {
        case KernelVerdict::Status::Agreed: agreed++; break;
        case KernelVerdict::Status::Skipped: skipped++; break;
        case KernelVerdict::Status::Refused: {
            refused++;
            auto& e = reasons[v.reason];
            if (e.first++ == 0) e.second = fmt::format("{} (seed {})", v.detail, s);
            break;
        }
        case KernelVerdict::Status::Disagreed:
            if (++disagreed <= kMaxReports) ADD_FAILURE() << v.detail;
            break;
        }
    }
    std::printf("linux: %llu programs: %llu agreed, %llu refused by the verifier, %llu disagreed, %llu skipped\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(agreed),
                static_cast<unsigned long long>(refused), static_cast<unsigned long long>(disagreed),
                static_cast<unsigned long long>(skipped));
    for (auto& [reason, e] : reasons)
        std::printf("  refused %llu: %s\n    e.g. %s\n", static_cast<unsigned long long>(e.first), reason.c_str(),
                    e.second.c_str());
    // Refusals are not failures: Linux may be unable to prove a program safe.
    EXPECT_EQ(disagreed, 0u);
}
