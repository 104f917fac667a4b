// The opcode table and instruction-level validation.
#include <gtest/gtest.h>

#include <set>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"
#include "bpfvm/program.h"

using namespace bpfvm;

namespace {

Insn make(uint8_t op, uint8_t dst = 0, uint8_t src = 0, int16_t off = 0, int32_t imm = 0) {
    Insn i;
    i.opcode = op;
    i.dst = dst;
    i.src = src;
    i.off = off;
    i.imm = imm;
    return i;
}

const Insn kExit = make(BPF_JMP | BPF_EXIT);

std::string load_error(std::vector<Insn> insns) {
    auto p = Program::from_insns(std::move(insns));
    return p ? std::string() : p.error().to_string();
}

} // namespace

TEST(OpTable, EveryRowMatchesItsOwnCanonicalInstruction) {
    for (const OpInfo& info : op_table()) {
        Insn in = make(info.opcode);
        auto fill = [](FieldRule r) -> int32_t { return r.kind == FieldRule::Equal ? r.value : 0; };
        in.dst = static_cast<uint8_t>(fill(info.dst));
        in.src = static_cast<uint8_t>(fill(info.src));
        in.off = static_cast<int16_t>(fill(info.off));
        in.imm = fill(info.imm);
        const OpInfo* found = find_op(in);
        ASSERT_NE(found, nullptr) << info.name;
        EXPECT_EQ(found->op, info.op) << info.name;
    }
}

TEST(OpTable, NoInstructionMatchesTwoRows) {
    // Rows sharing an opcode must differ in their discriminating field.
    for (const OpInfo& a : op_table()) {
        for (const OpInfo& b : op_table()) {
            if (&a == &b || a.opcode != b.opcode) continue;
            bool differ = (a.off.kind == FieldRule::Equal && b.off.kind == FieldRule::Equal && a.off.value != b.off.value) ||
                          (a.imm.kind == FieldRule::Equal && b.imm.kind == FieldRule::Equal && a.imm.value != b.imm.value) ||
                          (a.src.kind == FieldRule::Equal && b.src.kind == FieldRule::Equal && a.src.value != b.src.value);
            EXPECT_TRUE(differ) << a.name << " and " << b.name << " overlap";
        }
    }
}

TEST(OpTable, CoversEveryGroupAndTheLinuxAdditions) {
    std::set<Group> groups;
    std::set<std::string> names;
    for (const OpInfo& info : op_table()) {
        groups.insert(info.group);
        names.insert(info.name);
    }
    EXPECT_EQ(groups.size(), 8u);
    for (const char* n : {"SDIV64_REG", "SMOD32_IMM", "MOVSX32_64", "LDXSX_B", "BSWAP64", "GOTOL", "CALLX",
                          "MAY_GOTO", "CALL_KFUNC", "CALL_LOCAL", "LDABS_W", "LDIND_B", "ATOMIC32_CMPXCHG",
                          "ATOMIC64_FETCH_XOR", "LOAD_ACQ_B", "STORE_REL_DW"})
        EXPECT_TRUE(names.count(n)) << n;
    EXPECT_EQ(op_table().size(), static_cast<size_t>(kNumOps));
}

TEST(OpTable, RfcOpcodesDecodeAndOthersDoNot) {
    // Opcodes that are not instructions in any form.
    for (uint8_t bad : {0x00, 0x01, 0x38, 0x58, 0x8f, 0x8c, 0xdf, 0x86, 0x96, 0xe6, 0xf5, 0xe4, 0xff})
        EXPECT_EQ(find_op(make(bad)), nullptr) << std::hex << int(bad);
}

TEST(Decode, UnknownOpcode) {
    EXPECT_EQ(load_error({make(0x8f), kExit}), "instruction 0: unknown opcode 0x8f");
}

TEST(Decode, BadRegisters) {
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_MOV | BPF_K, 11), kExit}),
              "instruction 0: invalid destination register r11 (registers are r0..r10)");
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_ADD | BPF_X, 1, 12), kExit}),
              "instruction 0: invalid source register r12 (registers are r0..r10)");
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_MOV | BPF_K, 10), kExit}),
              "instruction 0: destination register r10 is the read-only frame pointer and cannot be written");
    // r10 may be read and used as a store base.
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_MOV | BPF_X, 1, 10), make(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 1),
                          kExit}),
              "");
}

TEST(Decode, ReservedFields) {
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_ADD | BPF_X, 1, 2, 0, 7), kExit}),
              "instruction 0: reserved immediate field must be 0 (is 7)");
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_ADD | BPF_K, 1, 2, 0, 7), kExit}),
              "instruction 0: reserved source register field must be 0 (is 2)");
    EXPECT_EQ(load_error({make(BPF_ALU | BPF_ADD | BPF_K, 1, 0, 3, 7), kExit}),
              "instruction 0: reserved offset field must be 0 (is 3)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_EXIT, 0, 0, 0, 1)}),
              "instruction 0: reserved immediate field must be 0 (is 1)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JA, 0, 0, 0, 1), kExit}),
              "instruction 0: reserved immediate field must be 0 (is 1)");
}

TEST(Decode, DiscriminatedVariants) {
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_DIV | BPF_X, 1, 2, 2), kExit}),
              "instruction 0: opcode 0x3f (div) with offset 2 is not an instruction (allowed: 0, 1)");
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_MOV | BPF_X, 1, 2, 4), kExit}),
              "instruction 0: opcode 0xbf (mov) with offset 4 is not an instruction (allowed: 0, 8, 16, 32)");
    EXPECT_EQ(load_error({make(BPF_ALU | BPF_MOV | BPF_X, 1, 2, 32), kExit}),
              "instruction 0: opcode 0xbc (mov) with offset 32 is not an instruction (allowed: 0, 8, 16)");
    EXPECT_EQ(load_error({make(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 1, -8, 0x3), kExit}),
              "instruction 0: opcode 0xdb (atomic) with immediate 3 is not an instruction (allowed: 0, 1, 64, "
              "0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110)");
    EXPECT_EQ(load_error({make(BPF_ALU | BPF_END | BPF_TO_BE, 1, 0, 0, 8), kExit}),
              "instruction 0: opcode 0xdc (be) with immediate 8 is not an instruction (allowed: 16, 32, 64)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_CALL, 0, 3, 0, 1), kExit}),
              "instruction 0: opcode 0x85 (call) with source register field 3 is not an instruction (allowed: 0, 1, 2)");
    // The fetch forms write their source register: r10 is refused there.
    EXPECT_EQ(load_error({make(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 10, 0, BPF_ADD | BPF_FETCH), kExit}),
              "instruction 0: source register r10 is the read-only frame pointer and cannot be written");
}

TEST(Decode, Lddw) {
    Insn lddw = make(BPF_LD | BPF_IMM | BPF_DW, 1, 0, 0, 5);
    EXPECT_EQ(load_error({lddw}), "instruction 0: lddw is missing its second half (end of program)");
    EXPECT_EQ(load_error({lddw, make(0x95), kExit}),
              "instruction 0: lddw is missing its second half: the next slot must have opcode 0, registers 0 and "
              "offset 0 (has opcode 0x95, dst r0, src r0, offset 0)");
    EXPECT_EQ(load_error({lddw, make(0, 0, 0, 1), kExit}),
              "instruction 0: lddw is missing its second half: the next slot must have opcode 0, registers 0 and "
              "offset 0 (has opcode 0x00, dst r0, src r0, offset 1)");
    EXPECT_EQ(load_error({make(BPF_LD | BPF_IMM | BPF_DW, 1, 7), make(0), kExit}),
              "instruction 0: lddw source 7 is not one Linux defines (0..6)");
    EXPECT_EQ(load_error({make(BPF_LD | BPF_IMM | BPF_DW, 1, 1, 0, 3), make(0, 0, 0, 0, 1), kExit}),
              "instruction 0: lddw with source 1 must have 0 in the immediate of its second half (has 1)");
    // Every source Linux defines decodes.
    for (uint8_t src = 0; src <= 6; src++) {
        int32_t imm = src == BPF_PSEUDO_FUNC ? 2 : 3;
        EXPECT_EQ(load_error({make(BPF_LD | BPF_IMM | BPF_DW, 1, src, 0, imm), make(0), kExit, kExit}), "")
            << "src " << int(src);
    }
}

TEST(Decode, JumpTargets) {
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JA, 0, 0, 5), kExit}),
              "instruction 0: jump target 6 is outside the program (instructions 0..1)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JA, 0, 0, -2), kExit}),
              "instruction 0: jump target -1 is outside the program (instructions 0..1)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1, 0), make(BPF_LD | BPF_IMM | BPF_DW, 0), make(0),
                          kExit}),
              "instruction 0: jump target 2 is the second half of an lddw");
    EXPECT_EQ(load_error({make(BPF_JMP32 | BPF_JA, 0, 0, 0, 9), kExit}),
              "instruction 0: jump target 10 is outside the program (instructions 0..1)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JCOND, 0, 0, 7), kExit}),
              "instruction 0: jump target 8 is outside the program (instructions 0..1)");
}

TEST(Decode, FunctionsAndFallThrough) {
    EXPECT_EQ(load_error({make(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1)}),
              "instruction 0: the program does not end with exit or goto: execution would fall off its end");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, -1, 0)}),
              "instruction 0: the program does not end with exit or goto: execution would fall off its end");
    // call +1 makes instruction 2 a function: main is 0..1.
    Insn call = make(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1);
    EXPECT_EQ(load_error({call, kExit, kExit}), "");
    EXPECT_EQ(load_error({call, make(BPF_ALU64 | BPF_MOV | BPF_K), kExit}),
              "instruction 1: the function at instructions 0..1 does not end with exit or goto: execution would "
              "fall into the next function");
    EXPECT_EQ(load_error({call, make(BPF_JMP | BPF_JA, 0, 0, 0), kExit}),
              "instruction 1: jump to instruction 2 leaves its function (instructions 0..1)");
    EXPECT_EQ(load_error({make(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 5), kExit}),
              "instruction 0: call target 6 is outside the program (instructions 0..1)");
    auto prog = Program::from_insns({call, kExit, kExit});
    ASSERT_TRUE(prog);
    EXPECT_EQ(std::vector<int64_t>(prog->functions().begin(), prog->functions().end()), (std::vector<int64_t>{0, 2}));
}

TEST(Decode, ByteLength) {
    std::vector<uint8_t> bytes(13, 0);
    auto p = Program::from_bytes(bytes);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().to_string(),
              "bytecode is 13 bytes long: not a whole number of 8-byte instructions (5 bytes left over after "
              "instruction 1)");
    EXPECT_EQ(Program::from_bytes({}).error().to_string(), "the program is empty");
}

TEST(Decode, ErrorsCarryAssemblyLines) {
    auto insns = assemble("r0 = 1\n\nfoo r1\n");
    ASSERT_FALSE(insns);
    EXPECT_EQ(insns.error().line, 3);
    EXPECT_EQ(insns.error().to_string(), "line 3: unknown instruction at 'foo r1'");
}
