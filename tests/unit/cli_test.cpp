// The bpfvm command, run as a user runs it: results, and clear errors with a
// non-zero exit for bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "process.h"

using bpfvm::testing::CommandResult;
using bpfvm::testing::run_command;
using bpfvm::testing::shell_quote;
using bpfvm::testing::TempDir;

namespace {

CommandResult bpfvm_cmd(const std::string& args, const std::string& input = {}) {
    return run_command(shell_quote(BPFVM_EXE) + " " + args, input);
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

const char* kSum = "r0 = 0\nr1 = 10\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit\n";

} // namespace

TEST(Cli, AssembleDisassembleRoundTrip) {
    TempDir d;
    d.write("sum.s", kSum);
    auto a = bpfvm_cmd("asm " + d.file("sum.s") + " -o " + d.file("sum.bin"));
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(slurp(d.file("sum.bin")).size(), 6u * 8);
    auto dis = bpfvm_cmd("disasm --plain " + d.file("sum.bin"));
    ASSERT_EQ(dis.exit_code, 0) << dis.err;
    EXPECT_EQ(dis.out, "r0 = 0\nr1 = 10\nr0 += r1\nr1 -= 1\nif r1 != 0 goto -3\nexit\n");
    d.write("again.s", dis.out);
    ASSERT_EQ(bpfvm_cmd("asm " + d.file("again.s") + " -o " + d.file("again.bin")).exit_code, 0);
    EXPECT_EQ(slurp(d.file("again.bin")), slurp(d.file("sum.bin")));
    auto conf = bpfvm_cmd("disasm --syntax conformance --no-raw " + d.file("sum.bin"));
    EXPECT_EQ(conf.out.substr(0, 21), "       0:\tmov %r0, 0\n");
    auto hex = bpfvm_cmd("asm " + d.file("sum.s"));
    EXPECT_EQ(hex.out.substr(0, 24), "b7 00 00 00 00 00 00 00\n");
}

TEST(Cli, RunPrintsR0) {
    TempDir d;
    d.write("sum.s", kSum);
    auto r = bpfvm_cmd("run " + d.file("sum.s"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "r0 = 0x37 (55)\n");
    auto j = bpfvm_cmd("run --json " + d.file("sum.s"));
    EXPECT_EQ(nlohmann::json::parse(j.out)["r0"], 55);
    d.write("mem.s", "r0 = *(u16 *)(r1 + 1)\nr0 += r2\nexit\n");
    EXPECT_EQ(bpfvm_cmd("run " + d.file("mem.s") + " --mem-hex '01 02 03 04'").out, "r0 = 0x306 (774)\n");
    d.write("mem.bin", std::string("\x01\x02\x03", 3));
    EXPECT_EQ(bpfvm_cmd("run --checked " + d.file("mem.s") + " --mem " + d.file("mem.bin")).out, "r0 = 0x305 (773)\n");
}

TEST(Cli, EnginesAndModes) {
    TempDir d;
    d.write("sum.s", kSum);
    for (const char* args : {"--engine interp", "--engine jit", "--engine interp --unchecked", "--engine jit --unchecked",
                             "--engine jit --blinding"})
        EXPECT_EQ(bpfvm_cmd(std::string("run ") + args + " " + d.file("sum.s")).out, "r0 = 0x37 (55)\n") << args;
    auto dump = bpfvm_cmd("run --dump-jit --unchecked " + d.file("sum.s"));
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_NE(dump.out.find("    2: r0 += r1\n"), std::string::npos) << dump.out;
    EXPECT_NE(dump.out.find("add     rax, rdi"), std::string::npos) << dump.out;
    EXPECT_NE(dump.out.find("r0 = 0x37 (55)"), std::string::npos);
    auto bad = bpfvm_cmd("run --dump-jit --engine interp " + d.file("sum.s"));
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("--dump-jit needs --engine jit"), std::string::npos);
    EXPECT_NE(bpfvm_cmd("run --checked --unchecked " + d.file("sum.s")).exit_code, 0);
}

TEST(Cli, CheckedRunStopsAtTheFaultingInstruction) {
    TempDir d;
    d.write("oob.s", "r0 = 0\nr0 = *(u64 *)(r1 + 8)\nexit\n");
    auto r = bpfvm_cmd("run --mem-size 8 " + d.file("oob.s")); // checked by default
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("run failed: instruction 1: invalid read of 8 bytes at 0x"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("past the end of the context"), std::string::npos) << r.err;
    d.write("loop.s", "l: goto l\n");
    auto b = bpfvm_cmd("run --checked --budget 1000 " + d.file("loop.s"));
    EXPECT_EQ(b.exit_code, 1);
    EXPECT_NE(b.err.find("instruction budget exhausted"), std::string::npos) << b.err;
}

TEST(Cli, BadInputGetsAClearErrorAndNonZeroExit) {
    TempDir d;
    auto missing = bpfvm_cmd("run " + d.file("nope.bin"));
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("nope.bin: cannot open: No such file or directory"), std::string::npos) << missing.err;

    d.write("short.bin", std::string("\x95\0\0\0\0\0\0\0\x95\0\0\0\0", 13));
    auto shortr = bpfvm_cmd("run --format raw " + d.file("short.bin"));
    EXPECT_EQ(shortr.exit_code, 1);
    EXPECT_NE(shortr.err.find("13 bytes is not a whole number of 8-byte instructions (5 bytes left over after "
                              "instruction 1)"),
              std::string::npos)
        << shortr.err;

    d.write("badreg.bin", std::string("\xb7\x0b\0\0\0\0\0\0\x95\0\0\0\0\0\0\0", 16));
    auto badreg = bpfvm_cmd("disasm " + d.file("badreg.bin") + " && " + shell_quote(BPFVM_EXE) + " run " +
                            d.file("badreg.bin"));
    EXPECT_EQ(badreg.exit_code, 1);
    EXPECT_NE(badreg.out.find("<unknown>"), std::string::npos);
    EXPECT_NE(badreg.err.find("instruction 0: invalid destination register r11"), std::string::npos) << badreg.err;

    d.write("bad.s", "r0 = 1\nr0 +== 2\nexit\n");
    auto bad = bpfvm_cmd("run " + d.file("bad.s"));
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("bad.s:2: expected a register or a number at '= 2'"), std::string::npos) << bad.err;

    d.write("fall.s", "r0 = 1\n");
    auto fall = bpfvm_cmd("asm " + d.file("fall.s"));
    EXPECT_EQ(fall.exit_code, 1);
    EXPECT_NE(fall.err.find("instruction 0: the program does not end with exit or goto"), std::string::npos);

    d.write("empty.s", "");
    EXPECT_EQ(bpfvm_cmd("run " + d.file("empty.s")).exit_code, 1);

    d.write("notelf.o", std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(20, 'x'));
    auto notelf = bpfvm_cmd("run " + d.file("notelf.o"));
    EXPECT_EQ(notelf.exit_code, 1);
    EXPECT_NE(notelf.err.find("notelf.o: "), std::string::npos) << notelf.err;

    auto badopt = bpfvm_cmd("run --no-such-option x");
    EXPECT_NE(badopt.exit_code, 0);
    EXPECT_NE(bpfvm_cmd("frobnicate").exit_code, 0);
}

TEST(Cli, FailedAssemblyLeavesTheOutputAlone) {
    TempDir d;
    d.write("out.bin", "previous");
    d.write("bad.s", "exit\nnonsense\n");
    auto r = bpfvm_cmd("asm " + d.file("bad.s") + " -o " + d.file("out.bin"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(slurp(d.file("out.bin")), "previous");
}

TEST(Cli, ElfObjects) {
    TempDir d;
    d.write("prog.c", "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
                      "static __attribute__((noinline)) long twice(long v) { return v * 2; }\n"
                      "SEC(\"xdp\") long prog(unsigned char *data, long len) { return twice(len) + data[0]; }\n"
                      "char _license[] SEC(\"license\") = \"GPL\";\n");
    auto cc = run_command("clang -O2 -target bpf -I/usr/include/$(gcc -dumpmachine) -c " + d.file("prog.c") + " -o " +
                          d.file("prog.o"));
    if (cc.exit_code != 0) GTEST_SKIP() << "clang -target bpf unavailable: " << cc.err;
    auto r = bpfvm_cmd("run " + d.file("prog.o") + " --mem-hex '07 00 00'");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "r0 = 0xd (13)\n");
    auto dis = bpfvm_cmd("disasm " + d.file("prog.o"));
    EXPECT_NE(dis.out.find("Disassembly of section xdp:"), std::string::npos);
    EXPECT_NE(dis.out.find("<prog>:"), std::string::npos);
    auto nosec = bpfvm_cmd("run " + d.file("prog.o") + " --section nope");
    EXPECT_EQ(nosec.exit_code, 1);
    EXPECT_NE(nosec.err.find("no section or function named 'nope'"), std::string::npos) << nosec.err;
    // A truncated object.
    std::string obj = slurp(d.file("prog.o"));
    d.write("cut.o", obj.substr(0, obj.size() / 2));
    auto cut = bpfvm_cmd("run " + d.file("cut.o"));
    EXPECT_EQ(cut.exit_code, 1);
    EXPECT_NE(cut.err.find("cut.o: "), std::string::npos) << cut.err;
}

TEST(Cli, RunCreatesTheMapsOfAnObject) {
    TempDir d;
    d.write("maps.c", "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
                      "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32);"
                      " __type(value, __u64); } seen SEC(\".maps\");\n"
                      "__u64 total = 5;\n"
                      "SEC(\"syscall\") long prog(unsigned int *key) {\n"
                      "  __u64 one = 1, *v = bpf_map_lookup_elem(&seen, key);\n"
                      "  if (!v) { bpf_map_update_elem(&seen, key, &one, BPF_ANY); v = &one; }\n"
                      "  total += *key;\n  return total * 100 + *v;\n}\n"
                      "char _license[] SEC(\"license\") = \"GPL\";\n");
    auto cc = run_command("clang -O2 -g -target bpf -I/usr/include/$(gcc -dumpmachine) -c " + d.file("maps.c") +
                          " -o " + d.file("maps.o"));
    if (cc.exit_code != 0) GTEST_SKIP() << "clang -target bpf unavailable: " << cc.err;
    for (const char* engine : {"jit", "interp"}) {
        auto r = bpfvm_cmd("run " + d.file("maps.o") + " --mem-hex '02 00 00 00' --engine " + engine);
        EXPECT_EQ(r.exit_code, 0) << engine << ": " << r.err;
        EXPECT_EQ(r.out, "r0 = 0x2bd (701)\n") << engine; // total 5 + 2, a new entry
        // The maps live as long as the run: repeats see the entry and the total.
        r = bpfvm_cmd("run " + d.file("maps.o") + " --mem-hex '02 00 00 00' --repeat 3 --engine " + engine);
        EXPECT_EQ(r.out, "r0 = 0x44d (1101)\n") << engine << ": " << r.err;
    }
    auto nosec = bpfvm_cmd("run " + d.file("maps.o") + " --section nope");
    EXPECT_EQ(nosec.exit_code, 1);
    EXPECT_NE(nosec.err.find("no section or function named 'nope'"), std::string::npos) << nosec.err;
}

TEST(Cli, Features) {
    auto text = bpfvm_cmd("features");
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("base64"), std::string::npos);
    auto j = nlohmann::json::parse(bpfvm_cmd("features --json").out);
    EXPECT_EQ(j["isa"]["groups"].size(), 8u);
    EXPECT_EQ(j["isa"]["instructions"], 174);
    EXPECT_EQ(j["engines"][0]["name"], "jit");
    EXPECT_EQ(j["engines"][1]["name"], "interp");
    EXPECT_EQ(j["default_mode"], "checked");
}

TEST(Cli, ConformancePluginProtocol) {
    // r0 = *(u16 *)(r1 + 0) + r2; exit -- bytes as the runner writes them.
    std::string prog = "69  10  00  00  00  00  00  00  0f  20  00  00  00  00  00  00  "
                       "95  00  00  00  00  00  00  00  \n";
    auto r = bpfvm_cmd("conformance-plugin '34  12  ff  '", prog);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, "1237\n");
    auto checked = bpfvm_cmd("conformance-plugin '' '--checked'", "61  10  00  00  00  00  00  00  95  00  00  00  00  00  00  00\n");
    EXPECT_EQ(checked.exit_code, 1);
    EXPECT_NE(checked.out.find("instruction 0: invalid read of 4 bytes"), std::string::npos) << checked.out;
    auto bad = bpfvm_cmd("conformance-plugin ''", "8f  00  00  00  00  00  00  00\n");
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_EQ(bad.out, "instruction 0: unknown opcode 0x8f\n");
}
