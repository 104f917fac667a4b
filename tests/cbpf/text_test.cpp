// Text forms: tcpdump -d/-dd/-ddd byte for byte as libpcap's bpf_image() and
// bpf_dump() print them, bpf_asm syntax, round trips, and parse errors.
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "cbpf_testing.h"
#include "pcap_programs.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

// What libpcap's bpf_dump(program, option) prints on stdout.
std::string libpcap_dump(const std::vector<Insn>& prog, int option) {
    bpf_program p{};
    p.bf_len = static_cast<u_int>(prog.size());
    p.bf_insns = const_cast<bpf_insn*>(reinterpret_cast<const bpf_insn*>(prog.data()));
    std::fflush(stdout);
    FILE* tmp = std::tmpfile();
    const int saved = dup(1);
    dup2(fileno(tmp), 1);
    bpf_dump(&p, option);
    std::fflush(stdout);
    dup2(saved, 1);
    close(saved);
    std::string out;
    std::rewind(tmp);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
    std::fclose(tmp);
    return out;
}

std::string libpcap_image(const Insn& in, int n) {
    bpf_insn b{in.code, in.jt, in.jf, in.k};
    return bpf_image(&b, n);
}

std::string parse_error(std::string_view text, TextFormat f) {
    auto r = parse(text, f);
    return r ? "parsed" : r.error().to_string();
}

} // namespace

TEST(CbpfText, ListingMatchesBpfImageForEveryOpcode) {
    const uint32_t ks[] = {0, 1, 12, 0x1c, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffff000, 0xfffff000 + 44,
                           0xfffff000 + 64, 0xfff00000, 0xffe00000};
    size_t compared = 0;
    for (uint32_t code = 0; code < 0x200; code++) {
        for (uint32_t k : ks) {
            for (int n : {0, 7, 130}) {
                Insn in{static_cast<uint16_t>(code), 3, 250, k};
                const std::string want = libpcap_image(in, n);
                std::vector<Insn> one(static_cast<size_t>(n) + 1);
                one[static_cast<size_t>(n)] = in;
                // format() numbers from 0: the last line of the listing is instruction n.
                std::string all = format(one, TextFormat::TcpdumpD);
                size_t last = all.rfind('\n', all.size() - 2);
                std::string line = all.substr(last == std::string::npos ? 0 : last + 1);
                line.pop_back();
                ASSERT_EQ(line, want) << "code 0x" << std::hex << code << " k 0x" << k;
                compared++;
            }
        }
    }
    EXPECT_EQ(compared, 0x200u * 12 * 3);
}

TEST(CbpfText, DumpsMatchBpfDumpForCompiledFilters) {
    for (const std::string& expr : expressions()) {
        auto prog = compile(expr);
        ASSERT_FALSE(prog.empty()) << expr;
        EXPECT_EQ(format(prog, TextFormat::TcpdumpD), libpcap_dump(prog, 1)) << expr;
        EXPECT_EQ(format(prog, TextFormat::TcpdumpDD), libpcap_dump(prog, 2)) << expr;
        EXPECT_EQ(format(prog, TextFormat::TcpdumpDDD), libpcap_dump(prog, 3)) << expr;
    }
}

TEST(CbpfText, RoundTripsEveryFormat) {
    for (const std::string& expr : expressions()) {
        auto prog = compile(expr);
        for (auto f : {TextFormat::BpfAsm, TextFormat::TcpdumpD, TextFormat::TcpdumpDD, TextFormat::TcpdumpDDD}) {
            const std::string text = format(prog, f);
            auto back = parse(text, f);
            ASSERT_TRUE(back) << expr << " format " << int(f) << ": " << back.error().to_string() << "\n" << text;
            EXPECT_EQ(*back, prog) << expr << " format " << int(f) << "\n" << text;
            auto detected = parse(text);
            ASSERT_TRUE(detected) << expr << " format " << int(f);
            EXPECT_EQ(*detected, prog) << expr << " format " << int(f);
        }
    }
}

TEST(CbpfText, RoundTripsEveryKnownInstructionInBpfAsm) {
    // Every Linux opcode with awkward constants, in bpf_asm syntax.
    std::vector<Insn> prog;
    const uint32_t ks[] = {0, 5, 0x80000000, 0xffffffff};
    for (uint32_t code = 0; code < 0x100; code++) {
        if (!check(std::vector<Insn>{Insn{static_cast<uint16_t>(code), 0, 0, 1}, stmt(BPF_RET | BPF_A, 0)},
                   Dialect::Libpcap) &&
            code != (BPF_JMP | BPF_JA))
            continue;
        for (uint32_t k : ks) {
            Insn in{static_cast<uint16_t>(code), 0, 0, k};
            if (code == (BPF_JMP | BPF_JA)) in.k = 1;
            if (BPF_CLASS(code) == BPF_ST || BPF_CLASS(code) == BPF_STX || BPF_MODE(code) == BPF_MEM) in.k = k & 15;
            if ((code == (BPF_ALU | BPF_DIV | BPF_K) || code == (BPF_ALU | BPF_MOD | BPF_K)) && k == 0) in.k = 3;
            if (BPF_CLASS(code) == BPF_JMP && code != (BPF_JMP | BPF_JA)) in.jt = 1, in.jf = static_cast<uint8_t>(k & 1);
            // Instructions without a constant: k is not part of their text.
            if (BPF_CLASS(code) == BPF_MISC || code == (BPF_RET | BPF_A) || code == (BPF_ALU | BPF_NEG) ||
                BPF_MODE(code) == BPF_LEN || ((BPF_CLASS(code) == BPF_ALU || BPF_CLASS(code) == BPF_JMP) && BPF_SRC(code) == BPF_X))
                in.k = 0;
            prog.push_back(in);
        }
    }
    prog.push_back(stmt(BPF_RET | BPF_A, 0));
    prog.push_back(stmt(BPF_RET | BPF_K, 0));
    prog.push_back(stmt(0x0e, 0)); // not an instruction Linux knows: "raw"
    prog.push_back(stmt(BPF_RET | BPF_K, 0));
    const std::string text = format(prog, TextFormat::BpfAsm);
    auto back = parse(text, TextFormat::BpfAsm);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, prog);
}

TEST(CbpfText, ParsesTheKernelDocumentationExamples) {
    auto arp = parse("ldh [12]\njne #0x806, drop\nret #-1\ndrop: ret #0\n");
    ASSERT_TRUE(arp) << arp.error().to_string();
    // bpf_asm -c prints these for it (filter.rst).
    EXPECT_EQ(*arp, (std::vector<Insn>{{0x28, 0, 0, 12}, {0x15, 0, 1, 0x806}, {0x06, 0, 0, 0xffffffff}, {0x06, 0, 0, 0}}));
    auto sample = parse(R"(
  ldh [12]
  jne #0x800, drop
  ldb [23]
  jneq #1, drop
  # get a random uint32 number
  ld rand
  mod #4
  jneq #1, drop
  ret #-1
  drop: ret #0
)");
    ASSERT_TRUE(sample) << sample.error().to_string();
    ASSERT_EQ(sample->size(), 9u);
    EXPECT_EQ((*sample)[4], (Insn{BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)}));
    EXPECT_TRUE(check(*sample));
    auto seccomp = parse(R"(
  ld [4]                  /* offsetof(struct seccomp_data, arch) */
  jne #0xc000003e, bad    /* AUDIT_ARCH_X86_64 */
  ld [0]                  /* offsetof(struct seccomp_data, nr) */
  jeq #15, good           /* __NR_rt_sigreturn */
  jeq #231, good          /* __NR_exit_group */
  bad: ret #0             /* SECCOMP_RET_KILL_THREAD */
  good: ret #0x7fff0000   /* SECCOMP_RET_ALLOW */
)");
    ASSERT_TRUE(seccomp) << seccomp.error().to_string();
    EXPECT_EQ(seccomp->size(), 7u);
    EXPECT_EQ((*seccomp)[1], (Insn{0x15, 0, 3, 0xc000003e}));
    EXPECT_EQ((*seccomp)[3], (Insn{0x15, 2, 0, 15}));
    // Every addressing mode.
    auto modes = parse(R"(
        ld #len
        ldx #len
        ldi #7
        ldxi 8
        ld M[3]
        ldx M[4]
        ldh [x + 14]
        ldb [%x+2]
        ldx 4*([14]&0xf)
        ldxb 4*([14]&0xf)
        ld #proto
        ldh vlan_tci
        ld [ifidx]
        add %x
        ret %a
    )");
    ASSERT_TRUE(modes) << modes.error().to_string();
    EXPECT_EQ(*modes, (std::vector<Insn>{{BPF_LD | BPF_W | BPF_LEN, 0, 0, 0},
                                         {BPF_LDX | BPF_W | BPF_LEN, 0, 0, 0},
                                         {BPF_LD | BPF_IMM, 0, 0, 7},
                                         {BPF_LDX | BPF_IMM, 0, 0, 8},
                                         {BPF_LD | BPF_MEM, 0, 0, 3},
                                         {BPF_LDX | BPF_MEM, 0, 0, 4},
                                         {BPF_LD | BPF_H | BPF_IND, 0, 0, 14},
                                         {BPF_LD | BPF_B | BPF_IND, 0, 0, 2},
                                         {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},
                                         {BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14},
                                         {BPF_LD | BPF_W | BPF_ABS, 0, 0, uint32_t(SKF_AD_OFF + SKF_AD_PROTOCOL)},
                                         {BPF_LD | BPF_H | BPF_ABS, 0, 0, uint32_t(SKF_AD_OFF + SKF_AD_VLAN_TAG)},
                                         {BPF_LD | BPF_W | BPF_ABS, 0, 0, uint32_t(SKF_AD_OFF + SKF_AD_IFINDEX)},
                                         {BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0},
                                         {BPF_RET | BPF_A, 0, 0, 0}}));
}

TEST(CbpfText, ParsesBpfAsmAndBpfDbgNumberLists) {
    // bpf_asm's default output / bpf_dbg's input: "count,code jt jf k,...".
    auto p = parse("4,40 0 0 12,21 0 1 2054,6 0 0 4294967295,6 0 0 0,");
    ASSERT_TRUE(p) << p.error().to_string();
    EXPECT_EQ(p->size(), 4u);
    EXPECT_EQ((*p)[1], (Insn{21, 0, 1, 2054}));
    // bpf_asm -c: extra blanks and an octal zero.
    auto c = parse("{ 0x28,  0,  0, 0x0000000c },\n{ 0x06,  0,  0, 0000000000 },\n");
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(*c, (std::vector<Insn>{{0x28, 0, 0, 12}, {0x06, 0, 0, 0}}));
}

TEST(CbpfText, ErrorsNameLineAndColumn) {
    EXPECT_EQ(parse_error("ldh [12]\n  foo #1\n", TextFormat::BpfAsm),
              "<input>:2: column 3: unknown instruction 'foo'");
    EXPECT_EQ(parse_error("ldh [12]\njeq #1, nowhere\nret #0\n", TextFormat::BpfAsm),
              "<input>:2: column 9: label 'nowhere' is not defined");
    EXPECT_EQ(parse_error("back: ldh [12]\njeq #1, back\nret #0\n", TextFormat::BpfAsm),
              "<input>:2: column 9: label 'back' is not ahead of the jump: conditional jumps go forward only");
    EXPECT_EQ(parse_error("ld [x + ]\n", TextFormat::BpfAsm), "<input>:1: column 9: expected a number after 'x +'");
    EXPECT_EQ(parse_error("st #3\n", TextFormat::BpfAsm), "<input>:1: column 4: 'st' takes M[k]");
    EXPECT_EQ(parse_error("ret #0x100000000\n", TextFormat::BpfAsm),
              "<input>:1: column 6: expected a number or an extension (len, proto, type, ifidx, ...) after '#'");
    EXPECT_EQ(parse_error("jne #1, a, b\na: b: ret #0\n", TextFormat::BpfAsm),
              "<input>:1: column 1: 'jne' takes one label");
    EXPECT_EQ(parse_error("(000) ldh      [12]\n(002) ret      #0\n", TextFormat::TcpdumpD),
              "<input>:2: column 2: instruction (002) is the program's instruction 1");
    EXPECT_EQ(parse_error("(000) jeq      #0x800           jt 0\tjf 1\n", TextFormat::TcpdumpD),
              "<input>:1: column 36: jump target 0 is not 1 to 256 instructions ahead of instruction 0");
    EXPECT_EQ(parse_error("{ 0x28, 0, 0, 0x0000000c },\n{ 0x6, 0, x, 0 },\n", TextFormat::TcpdumpDD),
              "<input>:2: column 11: expected a number");
    EXPECT_EQ(parse_error("3\n40 0 0 12\n6 0 0 0\n", TextFormat::TcpdumpDDD),
              "<input>:1: column 1: the count says 3 instructions, 2 follow");
    EXPECT_EQ(parse_error("2\n40 0 0 12\n6 0 300 0\n", TextFormat::TcpdumpDDD),
              "<input>:3: column 1: jt and jf must be 0 to 255");
    EXPECT_EQ(parse_error("", TextFormat::BpfAsm), "<input>:1: column 1: no instructions");
}

TEST(CbpfText, JumpsOutOfTheProgramRoundTripRaw) {
    // Found by fuzz_cbpf: "jmp 21" (an absolute target, as tcpdump -d prints) in a one-instruction program.
    auto p = parse("jmp 21\n", TextFormat::BpfAsm);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, (std::vector<Insn>{{BPF_JMP | BPF_JA, 0, 0, 20}}));
    EXPECT_EQ(format(*p, TextFormat::BpfAsm), "    raw 0x5, 0, 0, 0x14\n");
    std::vector<Insn> q = {jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 9), stmt(BPF_RET | BPF_A, 0),
                           // Found by fuzz_cbpf: fields the syntax has no place for.
                           Insn{BPF_LDX | BPF_IMM, 1, 1, 1}, Insn{BPF_MISC | BPF_TAX, 0, 0, 5},
                           Insn{BPF_ALU | BPF_ADD | BPF_X, 0, 0, 7}, Insn{BPF_JMP | BPF_JA, 1, 0, 0}};
    auto back = parse(format(q, TextFormat::BpfAsm), TextFormat::BpfAsm);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, q);
}
