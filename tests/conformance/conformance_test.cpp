// Runs every test of the eBPF ISA conformance suite on the interpreter, in the
// fast and the checked mode.
#include <gtest/gtest.h>

#include <cstring>

#include "bpfvm/asm.h"
#include "bpfvm/jit.h"
#include "bpfvm/vm.h"
#include "conformance_file.h"

namespace {

using bpfvm::testing::ConformanceCase;

// Helper 5, as the suite needs it: any helper that returns normally.
uint64_t helper_echo(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, bpfvm::ExecContext*) { return r1; }

const bpfvm::HelperTable& conformance_helpers() {
    static const bpfvm::HelperTable table = [] {
        bpfvm::HelperTable t = bpfvm::default_helpers();
        t.add(5, "conformance_helper", helper_echo);
        return t;
    }();
    return table;
}

enum class Engine { Interp, Jit };

struct Param {
    std::filesystem::path path;
    Engine engine;
    bool checked;
};

std::vector<Param> params() {
    std::vector<Param> out;
    for (const auto& p : bpfvm::testing::conformance_files(bpfvm::testing::conformance_dir()))
        for (Engine e : {Engine::Interp, Engine::Jit})
            for (bool checked : {false, true}) out.push_back({p, e, checked});
    return out;
}

void PrintTo(const Param& p, std::ostream* os) {
    *os << p.path.filename().string() << (p.engine == Engine::Jit ? " jit" : " interp")
        << (p.checked ? " (checked)" : " (fast)");
}

class Conformance : public ::testing::TestWithParam<Param> {};

TEST_P(Conformance, Run) {
    ConformanceCase c = bpfvm::testing::read_conformance_case(GetParam().path);
    auto insns = bpfvm::assemble(c.asm_text);
    ASSERT_TRUE(insns) << insns.error().to_string();
    if (!c.raw.empty()) {
        ASSERT_EQ(insns->size(), c.raw.size());
        for (size_t i = 0; i < c.raw.size(); i++) {
            uint64_t word;
            std::memcpy(&word, &(*insns)[i], 8);
            EXPECT_EQ(word, c.raw[i]) << "slot " << i << " differs from the file's -- raw";
        }
    }
    auto prog = bpfvm::Program::from_insns(*insns, c.name);
    if (c.error) {
        // Either the load or the run must fail.
        if (!prog) return;
    }
    ASSERT_TRUE(prog) << prog.error().to_string();
    std::vector<uint8_t> mem = c.memory;
    bpfvm::RunOptions opts;
    opts.checked = GetParam().checked;
    bpfvm::Result<uint64_t> r0 = 0;
    if (GetParam().engine == Engine::Interp) {
        auto vm = bpfvm::Interpreter::create(*prog, conformance_helpers());
        ASSERT_TRUE(vm) << vm.error().to_string();
        r0 = vm->run(mem.empty() ? nullptr : mem.data(), mem.size(), opts);
    } else {
        if (!bpfvm::JitProgram::supported()) GTEST_SKIP() << "no JIT for this host";
        bpfvm::JitOptions jo;
        jo.checked = GetParam().checked;
        auto jit = bpfvm::JitProgram::compile(*prog, conformance_helpers(), {}, jo);
        ASSERT_TRUE(jit) << jit.error().to_string();
        r0 = jit->run(mem.empty() ? nullptr : mem.data(), mem.size(), opts);
    }
    if (c.error) {
        EXPECT_FALSE(r0) << "expected an error: " << *c.error;
        return;
    }
    ASSERT_TRUE(r0) << r0.error().to_string();
    ASSERT_TRUE(c.result.has_value()) << "test has no -- result";
    EXPECT_EQ(*r0, *c.result) << std::hex << "r0 = 0x" << *r0 << ", expected 0x" << *c.result;
}

std::string name_of(const ::testing::TestParamInfo<Param>& info) {
    std::string n = info.param.path.stem().string();
    for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return n + (info.param.engine == Engine::Jit ? "_jit" : "_interp") + (info.param.checked ? "_checked" : "_fast");
}

INSTANTIATE_TEST_SUITE_P(Suite, Conformance, ::testing::ValuesIn(params()), name_of);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Conformance);

TEST(ConformanceSuite, Present) {
    auto dir = bpfvm::testing::conformance_dir();
    if (dir.empty())
        GTEST_SKIP() << "conformance suite not found: set BPFVM_CONFORMANCE_DIR or put it in ../shared/conformance";
    EXPECT_EQ(bpfvm::testing::conformance_files(dir).size(), 313u);
}

} // namespace
