// What is particular to the JIT: its code memory, constant blinding, the dump,
// the mode being compiled in.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/jit.h"

using namespace bpfvm;

namespace {

Program program_of(std::string_view text) {
    auto insns = assemble(text);
    EXPECT_TRUE(insns) << (insns ? "" : insns.error().to_string());
    auto prog = Program::from_insns(*insns);
    EXPECT_TRUE(prog) << (prog ? "" : prog.error().to_string());
    return *prog;
}

// The permissions of the mapping that holds `addr`, as /proc/self/maps shows them ("r-xp"), or "".
std::string permissions_at(const void* addr) {
    std::ifstream maps("/proc/self/maps");
    auto a = reinterpret_cast<uintptr_t>(addr);
    for (std::string line; std::getline(maps, line);) {
        uintptr_t lo = 0, hi = 0;
        char perms[5] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %4s", &lo, &hi, perms) == 3 && a >= lo && a < hi) return perms;
    }
    return "";
}

bool contains(std::span<const uint8_t> code, std::span<const uint8_t> bytes) {
    return std::search(code.begin(), code.end(), bytes.begin(), bytes.end()) != code.end();
}

} // namespace

TEST(Jit, CodeIsExecutableNeverWritableAndFreedWithTheProgram) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    const void* code = nullptr;
    {
        auto jit = JitProgram::compile(program_of("r0 = 7\n exit"));
        ASSERT_TRUE(jit);
        code = jit->code().data();
        EXPECT_EQ(permissions_at(code), "r-xp");
        auto copy = *jit; // copies share the code
        jit = JitProgram::compile(program_of("r0 = 8\n exit"));
        EXPECT_EQ(permissions_at(code), "r-xp");
        EXPECT_EQ(copy.run(nullptr, 0).value(), 7u);
    }
    EXPECT_EQ(permissions_at(code), "") << "the code memory outlived its program";
}

TEST(Jit, BlindingKeepsImmediatesOutOfTheCode) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    const char* text = "r0 = 0x12345678\n r0 += 0x23456789\n r1 = 0x3456789abcdef012 ll\n r0 ^= r1\n"
                       "*(u32 *)(r10 - 4) = 0x456789ab\n r2 = *(u32 *)(r10 - 4)\n r0 += r2\n"
                       "if r0 == 0x56789abc goto +1\n r0 *= 0x6789abcd\n exit";
    const uint8_t imms[][4] = {{0x78, 0x56, 0x34, 0x12}, {0x89, 0x67, 0x45, 0x23}, {0x12, 0xf0, 0xde, 0xbc},
                               {0xab, 0x89, 0x67, 0x45}, {0xbc, 0x9a, 0x78, 0x56}, {0xcd, 0xab, 0x89, 0x67}};
    auto prog = program_of(text);
    for (bool checked : {false, true}) {
        JitOptions plain;
        plain.checked = checked;
        JitOptions blind = plain;
        blind.blinding = true;
        auto a = JitProgram::compile(prog, default_helpers(), {}, plain);
        auto b = JitProgram::compile(prog, default_helpers(), {}, blind);
        ASSERT_TRUE(a && b);
        for (const auto& imm : imms) {
            EXPECT_TRUE(contains(a->code(), imm)) << "the test's premise: unblinded code holds the immediate";
            EXPECT_FALSE(contains(b->code(), imm)) << "a blinded immediate appears in the code";
        }
        EXPECT_EQ(a->run(nullptr, 0).value(), b->run(nullptr, 0).value());
    }
}

TEST(Jit, TheModeIsCompiledIn) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    auto prog = program_of("r0 = *(u64 *)(r1 + 0)\n exit");
    JitOptions fast;
    fast.checked = false;
    auto unchecked = JitProgram::compile(prog, default_helpers(), {}, fast);
    ASSERT_TRUE(unchecked);
    EXPECT_FALSE(unchecked->checked());
    RunOptions ask;
    ask.checked = true;
    uint64_t word = 5;
    auto refused = unchecked->run(&word, sizeof word, ask);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("compiled without the checked mode's checks"), std::string::npos);
    auto checked = JitProgram::compile(prog); // checked by default
    ASSERT_TRUE(checked);
    EXPECT_TRUE(checked->checked());
    EXPECT_EQ(checked->run(&word, sizeof word).value(), 5u);                    // checked either way
    EXPECT_FALSE(checked->run(&word, 4));                                        // 8 bytes from a 4-byte context
}

TEST(Jit, CompileErrorsNameTheInstruction) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    auto jit = JitProgram::compile(program_of("r0 = 0\n call 9999\n exit"));
    ASSERT_FALSE(jit);
    EXPECT_EQ(jit.error().to_string(), "instruction 1: call to unknown helper 9999 (no helper with that number is available)");
}

TEST(Jit, DumpShowsEachInstructionAboveItsCode) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    JitOptions fast;
    fast.checked = false;
    auto jit = JitProgram::compile(program_of("r0 = r1\n r0 += 5\n exit"), default_helpers(), {}, fast);
    ASSERT_TRUE(jit);
    std::string d = jit->dump();
    EXPECT_NE(d.find("3 BPF instructions"), std::string::npos) << d;
    EXPECT_NE(d.find("    0: r0 = r1\n"), std::string::npos) << d;
    EXPECT_NE(d.find("mov     rax, rdi"), std::string::npos) << d;
    EXPECT_NE(d.find("    1: r0 += 5\n"), std::string::npos) << d;
    EXPECT_NE(d.find("add     rax, 5"), std::string::npos) << d;
    EXPECT_NE(d.find("    2: exit\n"), std::string::npos) << d;
    EXPECT_LT(d.find("r0 = r1"), d.find("mov     rax, rdi"));
    ASSERT_EQ(jit->insn_offsets().size(), 3u);
    EXPECT_LE(jit->insn_offsets()[0], jit->insn_offsets()[1]);
}

TEST(Jit, LargeProgramsCompile) {
    if (!JitProgram::supported()) GTEST_SKIP() << "no JIT on this host";
    // 20000 instructions with every kind of memory access in checked mode:
    // more code than the first estimate of the buffer, which must grow.
    std::string text = "r6 = r10\n";
    for (int i = 0; i < 5000; i++)
        text += fmt::format("*(u64 *)(r6 - {}) = {}\n r1 = *(u64 *)(r6 - {})\n lock *(u64 *)(r6 - {}) += r1\n"
                            " if r1 == 12345 goto +0\n",
                            8 + (i % 60) * 8, i, 8 + (i % 60) * 8, 8 + (i % 60) * 8);
    text += "r0 = *(u64 *)(r10 - 8)\n exit\n";
    auto jit = JitProgram::compile(program_of(text));
    ASSERT_TRUE(jit) << jit.error().to_string();
    EXPECT_TRUE(jit->run(nullptr, 0));
}
