// The checker: Linux's bpf_check_classic and libpcap's bpf_validate.
#include <gtest/gtest.h>

#include "bpfvm/insn.h"
#include "cbpf_testing.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

std::string refusal(const std::vector<Insn>& p, Dialect d = Dialect::Linux) {
    auto r = check(p, d);
    if (r) return "accepted";
    return r.error().to_string();
}

} // namespace

TEST(CbpfCheck, AcceptsAValidProgram) {
    std::vector<Insn> p = {stmt(BPF_LD | BPF_H | BPF_ABS, 12), jump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
                           stmt(BPF_RET | BPF_K, 0xffff), stmt(BPF_RET | BPF_K, 0)};
    EXPECT_EQ(refusal(p), "accepted");
    EXPECT_EQ(refusal(p, Dialect::Libpcap), "accepted");
}

TEST(CbpfCheck, RefusesEmptyAndTooLong) {
    EXPECT_EQ(refusal({}), "the program is empty: a classic program has 1 to 4096 instructions");
    std::vector<Insn> big(4097, stmt(BPF_RET | BPF_K, 0));
    EXPECT_EQ(refusal(big), "the program has 4097 instructions: at most 4096 are allowed");
    big.pop_back();
    EXPECT_EQ(refusal(big), "accepted");
}

TEST(CbpfCheck, RefusesUnknownOpcodes) {
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_IMM, 1), stmt(0x0e, 0), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 1: unknown opcode 0x0e");
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_DW | BPF_ABS, 0), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: unknown opcode 0x38");
    EXPECT_EQ(refusal({stmt(0x120, 0), stmt(BPF_RET | BPF_A, 0)}), "instruction 0: unknown opcode 0x120");
}

TEST(CbpfCheck, RefusesDivisionByConstantZero) {
    EXPECT_EQ(refusal({stmt(BPF_ALU | BPF_DIV | BPF_K, 0), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: division by constant 0");
    EXPECT_EQ(refusal({stmt(BPF_ALU | BPF_MOD | BPF_K, 0), stmt(BPF_RET | BPF_A, 0)}, Dialect::Libpcap),
              "instruction 0: modulo by constant 0");
    // By X: accepted (the run returns 0).
    EXPECT_EQ(refusal({stmt(BPF_ALU | BPF_DIV | BPF_X, 0), stmt(BPF_RET | BPF_A, 0)}), "accepted");
}

TEST(CbpfCheck, ShiftByLargeConstantIsLinuxOnlyError) {
    std::vector<Insn> p = {stmt(BPF_ALU | BPF_LSH | BPF_K, 32), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(refusal(p), "instruction 0: shift by constant 32: at most 31");
    EXPECT_EQ(refusal(p, Dialect::Libpcap), "accepted");
    p[0].k = 31;
    EXPECT_EQ(refusal(p), "accepted");
}

TEST(CbpfCheck, RefusesScratchIndexOutOfRange) {
    EXPECT_EQ(refusal({stmt(BPF_ST, 16), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: M[16] does not exist: the scratch memory is M[0] to M[15]");
    EXPECT_EQ(refusal({stmt(BPF_ST, 15), stmt(BPF_LDX | BPF_MEM, 15), stmt(BPF_RET | BPF_A, 0)}), "accepted");
}

TEST(CbpfCheck, RefusesJumpsOutOfRange) {
    EXPECT_EQ(refusal({stmt(BPF_JMP | BPF_JA, 1), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: ja 1 jumps to instruction 2, beyond the last (1)");
    EXPECT_EQ(refusal({jump(BPF_JMP | BPF_JGT | BPF_K, 1, 0, 2), stmt(BPF_RET | BPF_A, 0), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: jump to instruction 3, beyond the last (2)");
    // A backward ja (k wraps): libpcap accepts it (protochain), Linux does not.
    std::vector<Insn> loop = {stmt(BPF_LD | BPF_IMM, 0), stmt(BPF_JMP | BPF_JA, 0xfffffffe), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(refusal(loop), "instruction 1: ja 4294967294 jumps to instruction 4294967296, beyond the last (2)");
    EXPECT_EQ(refusal(loop, Dialect::Libpcap), "accepted");
    loop[1].k = 0xfffffff0;
    EXPECT_EQ(refusal(loop, Dialect::Libpcap),
              "instruction 1: ja 4294967280 jumps to instruction 4294967282, outside the program (0 to 2)");
}

TEST(CbpfCheck, RefusesAProgramNotEndingInReturn) {
    EXPECT_EQ(refusal({stmt(BPF_RET | BPF_K, 0), stmt(BPF_LD | BPF_IMM, 1)}),
              "instruction 1: the last instruction must be a return (ret)");
    EXPECT_EQ(refusal({stmt(BPF_RET | BPF_K, 0), stmt(BPF_LD | BPF_IMM, 1)}, Dialect::Libpcap),
              "instruction 1: the last instruction must be a return (ret)");
}

TEST(CbpfCheck, ScratchMemoryMustBeWrittenBeforeReadOnEveryPath) {
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_MEM, 3), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: M[3] is read before it is written on some path");
    // Written on one branch only.
    std::vector<Insn> p = {jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), stmt(BPF_ST, 2),
                           stmt(BPF_LDX | BPF_MEM, 2), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(refusal(p), "instruction 2: M[2] is read before it is written on some path");
    EXPECT_EQ(refusal(p, Dialect::Libpcap), "accepted");
    // Written on both.
    std::vector<Insn> q = {jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 2), stmt(BPF_ST, 2), stmt(BPF_JMP | BPF_JA, 1),
                           stmt(BPF_STX, 2), stmt(BPF_LDX | BPF_MEM, 2), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(refusal(q), "accepted");
}

TEST(CbpfCheck, AncillaryLoads) {
    for (uint32_t ad = 0; ad < SKF_AD_MAX; ad += 4)
        EXPECT_EQ(refusal({stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + ad), stmt(BPF_RET | BPF_A, 0)}), "accepted")
            << ad;
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_MAX), stmt(BPF_RET | BPF_A, 0)}),
              "instruction 0: unknown ancillary load SKF_AD_OFF+64");
    // The network and link-layer areas are below SKF_AD_OFF: fine.
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 9), stmt(BPF_RET | BPF_A, 0)}), "accepted");
    // libpcap does not know them: loads outside the packet.
    EXPECT_EQ(refusal({stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_MAX), stmt(BPF_RET | BPF_A, 0)},
                      Dialect::Libpcap),
              "accepted");
}

TEST(CbpfCheck, TranslationRefusesNetlinkAndPayloadOffset) {
    auto r = to_ebpf(std::vector<Insn>{stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_NLATTR), stmt(BPF_RET | BPF_A, 0)});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(),
              "instruction 0: ancillary load nla (SKF_AD_OFF+12) is not supported: bpfvm's packets carry no netlink "
              "messages");
    auto f = Filter::create(std::vector<Insn>{stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PAY_OFFSET),
                                              stmt(BPF_RET | BPF_A, 0)});
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().to_string(),
              "instruction 0: ancillary load poff (SKF_AD_PAY_OFFSET) is not supported: it needs Linux's flow dissector");
}
