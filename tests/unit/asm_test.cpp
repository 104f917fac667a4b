// Assembler and disassembler: round trips over every encoding, both syntaxes,
// and the exact text of the LLVM and kernel forms.
#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"
#include "bpfvm/program.h"

using namespace bpfvm;

namespace {

std::vector<int32_t> values(FieldRule r, std::vector<int32_t> any) {
    switch (r.kind) {
    case FieldRule::Zero: return {0};
    case FieldRule::Equal: return {r.value};
    case FieldRule::Reg: return {0, 1, 10};
    case FieldRule::WReg: return {0, 5, 9};
    case FieldRule::Pseudo: return {0, 1, 2, 3, 4, 5, 6};
    case FieldRule::Any: return any;
    }
    return {};
}

// Every row with edge-case fields: the instances a round trip must survive.
std::vector<std::vector<Insn>> edge_instances(const OpInfo& info) {
    std::vector<std::vector<Insn>> out;
    for (int32_t dst : values(info.dst, {}))
        for (int32_t src : values(info.src, {}))
            for (int32_t off : values(info.off, {-32768, -1, 0, 1, 32767}))
                for (int32_t imm : values(info.imm, {INT32_MIN, -1, 0, 1, 16, INT32_MAX})) {
                    Insn in;
                    in.opcode = info.opcode;
                    in.dst = static_cast<uint8_t>(dst);
                    in.src = static_cast<uint8_t>(src);
                    in.off = static_cast<int16_t>(off);
                    in.imm = imm;
                    if (info.form != Form::LdImm64) {
                        out.push_back({in});
                        continue;
                    }
                    auto p = static_cast<Pseudo>(src);
                    bool second_is_zero = p == Pseudo::MapFd || p == Pseudo::MapIdx || p == Pseudo::Func;
                    for (int32_t hi : second_is_zero ? std::vector<int32_t>{0}
                                                     : std::vector<int32_t>{0, 1, -1, INT32_MIN, INT32_MAX}) {
                        Insn second;
                        second.imm = hi;
                        out.push_back({in, second});
                    }
                }
    return out;
}

std::string hex(std::span<const Insn> insns) {
    std::string s;
    for (const Insn& i : insns) {
        const auto* b = reinterpret_cast<const uint8_t*>(&i);
        for (int k = 0; k < 8; k++) s += fmt::format("{:02x} ", b[k]);
    }
    return s;
}

std::string encode(std::string_view text) {
    auto r = assemble(text);
    if (!r) return "error: " + r.error().to_string();
    return hex(*r);
}

} // namespace

TEST(RoundTrip, EveryEncodingInBothSyntaxes) {
    size_t count = 0;
    for (const OpInfo& info : op_table()) {
        for (const auto& slots : edge_instances(info)) {
            ASSERT_EQ(find_op(slots[0]), &info) << info.name << " " << hex(slots);
            for (Syntax syntax : {Syntax::Llvm, Syntax::Conformance}) {
                std::string text = disassemble_insn(slots, syntax);
                auto back = assemble(text);
                ASSERT_TRUE(back) << info.name << ": '" << text << "': " << back.error().to_string();
                ASSERT_EQ(hex(*back), hex(slots)) << info.name << ": '" << text << "'";
                count++;
            }
        }
    }
    EXPECT_GT(count, 3000u);
}

TEST(RoundTrip, ListingsReassemble) {
    // A program with labels, calls and wide instructions, printed as a listing
    // (indices and bytes, as llvm-objdump does) and reassembled.
    auto insns = assemble(R"(
        r1 = 0x123456789abcdef ll
        call pc+2
        if r1 s> r2 goto +1
        exit
        r0 = *(u16 *)(r1 - 2)
        exit
    )");
    ASSERT_TRUE(insns) << insns.error().to_string();
    for (Syntax syntax : {Syntax::Llvm, Syntax::Conformance}) {
        ListingOptions lo;
        lo.syntax = syntax;
        lo.symbols = {{0, "main"}, {5, "sub"}};
        std::string listing = disassemble(*insns, lo);
        auto back = assemble(listing);
        ASSERT_TRUE(back) << listing << back.error().to_string();
        EXPECT_EQ(hex(*back), hex(*insns)) << listing;
    }
}

TEST(Llvm, TextOfEachForm) {
    struct Case {
        const char* text;
        const char* bytes;
    } cases[] = {
        {"r0 = *(u32 *)(r1 + 4)", "61 10 04 00 00 00 00 00 "},
        {"r0 = *(u8 *)(r1 - 4)", "71 10 fc ff 00 00 00 00 "},
        {"*(u64 *)(r10 - 8) = r1", "7b 1a f8 ff 00 00 00 00 "},
        {"*(u32 *)(r10 - 8) = 5", "62 0a f8 ff 05 00 00 00 "},
        {"r1 += 5", "07 01 00 00 05 00 00 00 "},
        {"r1 = -r1", "87 01 00 00 00 00 00 00 "},
        {"w1 = -w1", "84 01 00 00 00 00 00 00 "},
        {"w1 s>>= w2", "cc 21 00 00 00 00 00 00 "},
        {"r1 = be16 r1", "dc 01 00 00 10 00 00 00 "},
        {"r1 = le64 r1", "d4 01 00 00 40 00 00 00 "},
        {"r1 = bswap32 r1", "d7 01 00 00 20 00 00 00 "},
        {"r1 = 4886718345 ll", "18 01 00 00 89 67 45 23 00 00 00 00 01 00 00 00 "},
        {"if r1 > 3 goto +2", "25 01 02 00 03 00 00 00 "},
        {"if w1 s<= w2 goto -2", "de 21 fe ff 00 00 00 00 "},
        {"if r1 & 0xff goto +1", "45 01 01 00 ff 00 00 00 "},
        {"goto +3", "05 00 03 00 00 00 00 00 "},
        {"gotol -5", "06 00 00 00 fb ff ff ff "},
        {"call 1", "85 00 00 00 01 00 00 00 "},
        {"call pc+29", "85 10 00 00 1d 00 00 00 "},
        {"call kfunc#1234", "85 20 00 00 d2 04 00 00 "},
        {"callx r2", "8d 02 00 00 00 00 00 00 "},
        {"may_goto +3", "e5 00 03 00 00 00 00 00 "},
        {"exit", "95 00 00 00 00 00 00 00 "},
        {"lock *(u64 *)(r10 - 8) += r1", "db 1a f8 ff 00 00 00 00 "},
        {"lock *(u32 *)(r10 - 8) += w1", "c3 1a f8 ff 00 00 00 00 "},
        {"r5 = atomic_fetch_add((u64 *)(r4 + 0), r5)", "db 54 00 00 01 00 00 00 "},
        {"w6 = atomic_fetch_or((u32 *)(r5 + 0), w6)", "c3 65 00 00 41 00 00 00 "},
        {"r6 = xchg_64(r4 + 0, r6)", "db 64 00 00 e1 00 00 00 "},
        {"r0 = cmpxchg_64(r4 + 0, r0, r1)", "db 14 00 00 f1 00 00 00 "},
        {"w0 = cmpxchg32_32(r5 + 0, w0, w1)", "c3 15 00 00 f1 00 00 00 "},
        {"r0 = load_acquire((u64 *)(r1 + 8))", "db 10 08 00 00 01 00 00 "},
        {"store_release((u8 *)(r1 + 0), w2)", "d3 21 00 00 10 01 00 00 "},
        {"r0 = *(u8 *)skb[12]", "30 00 00 00 0c 00 00 00 "},
        {"r0 = *(u16 *)skb[r1]", "48 10 00 00 00 00 00 00 "},
        {"r0 = *(u32 *)skb[r1 + 8]", "40 10 00 00 08 00 00 00 "},
        {"r1 = (s8)r2", "bf 21 08 00 00 00 00 00 "},
        {"w1 = (s16)w2", "bc 21 10 00 00 00 00 00 "},
        {"r1 = *(s32 *)(r2 + 4)", "81 21 04 00 00 00 00 00 "},
        {"r1 s/= r2", "3f 21 01 00 00 00 00 00 "},
        {"w1 s%= 3", "94 01 01 00 03 00 00 00 "},
        {"r1 = map[fd:5] ll", "18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00 "},
        {"r1 = map[idx:2][0]+8 ll", "18 61 00 00 02 00 00 00 00 00 00 00 08 00 00 00 "},
        {"r1 = func[pc+3] ll", "18 41 00 00 03 00 00 00 00 00 00 00 00 00 00 00 "},
        {"ld_pseudo r1, 1, 5", "18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00 "},
        {"w1 = 0xffffffff", "b4 01 00 00 ff ff ff ff "},
        {"r1 = -1", "b7 01 00 00 ff ff ff ff "},
        {"r1 = 0x80000000", "18 01 00 00 00 00 00 80 00 00 00 00 00 00 00 00 "}, // does not fit a mov
        {"*(u8 *)(r3 + 5) = w4", "73 43 05 00 00 00 00 00 "}, // llvm-objdump --mattr=+alu32 form
    };
    for (const auto& c : cases) {
        EXPECT_EQ(encode(c.text), c.bytes) << c.text;
        // And the disassembler prints it back (canonical forms only).
        auto insns = assemble(c.text);
        ASSERT_TRUE(insns);
        std::string back = disassemble_insn(*insns);
        EXPECT_EQ(encode(back), c.bytes) << c.text << " -> " << back;
    }
}

TEST(Llvm, KernelVerifierLogLines) {
    EXPECT_EQ(encode("0: (b7) r0 = 0"), "b7 00 00 00 00 00 00 00 ");
    EXPECT_EQ(encode("1: (61) r2 = *(u32 *)(r1 +4)"), "61 12 04 00 00 00 00 00 ");
    EXPECT_EQ(encode("2: (15) if r2 == 0x0 goto pc+3"), "15 02 03 00 00 00 00 00 ");
    EXPECT_EQ(encode("2: (a5) if r2 < 0xffffffff goto pc-1"), "a5 02 ff ff ff ff ff ff ");
    EXPECT_EQ(encode("3: (85) call bpf_map_lookup_elem#1"), "85 00 00 00 01 00 00 00 ");
    EXPECT_EQ(encode("3: (85) call pc+2"), "85 10 00 00 02 00 00 00 ");
    EXPECT_EQ(encode("4: (18) r1 = 0x123"), "18 01 00 00 23 01 00 00 00 00 00 00 00 00 00 00 ");
    EXPECT_EQ(encode("5: (db) r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)"), "db 1a f8 ff 01 00 00 00 ");
    EXPECT_EQ(encode("5: (db) r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r3)"), "db 3a f8 ff f1 00 00 00 ");
    EXPECT_EQ(encode("5: (db) r3 = atomic64_xchg((u64 *)(r10 -8), r3)"), "db 3a f8 ff e1 00 00 00 ");
    EXPECT_EQ(encode("6: (c3) lock *(u32 *)(r10 -8) += r1"), "c3 1a f8 ff 00 00 00 00 ");
    EXPECT_EQ(encode("7: (7a) *(u64 *)(r10 -8) = 5"), "7a 0a f8 ff 05 00 00 00 "); 
    EXPECT_EQ(encode("8: (05) goto pc-3"), "05 00 fd ff 00 00 00 00 ");
    EXPECT_EQ(encode("9: (95) exit\n; return 0; // a source line\n"), "95 00 00 00 00 00 00 00 ");
}

TEST(Llvm, ObjdumpLines) {
    EXPECT_EQ(encode("       4:\tdb 54 00 00 01 00 00 00\tr5 = atomic_fetch_add((u64 *)(r4 + 0), r5)"),
              "db 54 00 00 01 00 00 00 ");
    EXPECT_EQ(encode("a.o:\tfile format elf64-bpf\n\nDisassembly of section .text:\n\n0000000000000000 <f>:\n"
                     "       0:\t05 00 01 00 00 00 00 00\tgoto +1 <LBB0_2>\n"
                     "       1:\t95 00 00 00 00 00 00 00\texit\n\n0000000000000010 <LBB0_2>:\n"
                     "       2:\t05 00 fd ff 00 00 00 00\tgoto -3 <f>\n"),
              "05 00 01 00 00 00 00 00 95 00 00 00 00 00 00 00 05 00 fd ff 00 00 00 00 ");
}

TEST(Llvm, Labels) {
    EXPECT_EQ(encode("  goto out\n  r0 = 1\nout:\n  exit"), "05 00 01 00 00 00 00 00 b7 00 00 00 01 00 00 00 "
                                                             "95 00 00 00 00 00 00 00 ");
    EXPECT_EQ(encode("back: r0 += 1\n if r0 < 10 goto back\n exit"),
              "07 00 00 00 01 00 00 00 a5 00 fe ff 0a 00 00 00 95 00 00 00 00 00 00 00 ");
    EXPECT_EQ(encode("call f\nexit\nf: r0 = 2\nexit"), "85 10 00 00 01 00 00 00 95 00 00 00 00 00 00 00 "
                                                      "b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00 ");
}

TEST(Conformance, SyntaxForms) {
    EXPECT_EQ(encode("ldxw %r0, [%r1+4]"), "61 10 04 00 00 00 00 00 ");
    EXPECT_EQ(encode("stxdw [%r10-8], %r1"), "7b 1a f8 ff 00 00 00 00 ");
    EXPECT_EQ(encode("stb [%r1 + 0x10], 0xff"), "72 01 10 00 ff 00 00 00 ");
    EXPECT_EQ(encode("lock fetch add [%r10-8], %r1"), "db 1a f8 ff 01 00 00 00 ");
    EXPECT_EQ(encode("lock cmpxchg32 [%r10-8], %r1"), "c3 1a f8 ff f1 00 00 00 ");
    EXPECT_EQ(encode("movsx1632 %r0, %r1"), "bc 10 10 00 00 00 00 00 ");
    EXPECT_EQ(encode("sdiv32 %r0, -3"), "34 00 01 00 fd ff ff ff ");
    EXPECT_EQ(encode("swap16 %r0"), "d7 00 00 00 10 00 00 00 ");
    EXPECT_EQ(encode("jeq %r1, 0x80000000, +1"), "15 01 01 00 00 00 00 80 ");
    EXPECT_EQ(encode("call %r2"), "8d 02 00 00 00 00 00 00 ");
    EXPECT_EQ(encode("call local +2"), "85 10 00 00 02 00 00 00 ");
    EXPECT_EQ(encode("ja32 +1"), "06 00 00 00 01 00 00 00 ");
    EXPECT_EQ(encode("ldabsh 12"), "28 00 00 00 0c 00 00 00 ");
    EXPECT_EQ(encode("ldindb %r1, 4"), "50 10 00 00 04 00 00 00 ");
    EXPECT_EQ(encode("lddw %r1, map_value(3, 16)"), "18 21 00 00 03 00 00 00 00 00 00 00 10 00 00 00 ");
    // "exit" as a target is the first exit when no label has that name.
    EXPECT_EQ(encode("jeq %r0, 0, exit\nmov %r0, 1\nexit"),
              "15 00 01 00 00 00 00 00 b7 00 00 00 01 00 00 00 95 00 00 00 00 00 00 00 ");
}

TEST(Errors, NameTheLineAndTheReason) {
    auto err = [](std::string_view text) {
        auto r = assemble(text);
        return r ? std::string("ok") : r.error().to_string();
    };
    EXPECT_EQ(err("exit\ngoto nowhere"), "line 2: unknown label 'nowhere'");
    EXPECT_EQ(err("r1 = r11"), "line 1: invalid register r11 (registers are r0..r10)");
    EXPECT_EQ(err("mov %r12, 1"), "line 1: invalid register %r12 (registers are %r0..%r10)");
    EXPECT_EQ(err("r1 += 0x100000000"), "line 1: immediate 0x100000000 does not fit in 32 bits");
    EXPECT_EQ(err("r0 = *(u32 *)(r1 + 40000)"), "line 1: offset + 40000 does not fit in 16 bits (-32768..32767)");
    EXPECT_EQ(err("w1 += r2"), "line 1: both registers of an ALU operation must be rN or both wN");
    EXPECT_EQ(err("r0 = *(u24 *)(r1 + 0)"), "line 1: unknown size 'u24' (u8, u16, u32, u64, s8, s16, s32)");
    EXPECT_EQ(err("x:\nx:\nexit"), "line 2: label 'x' is already defined on line 1");
    EXPECT_EQ(err("exit exit"), "line 1: unexpected text at 'exit'");
    EXPECT_EQ(err("if r1 ~ 3 goto +1"), "line 1: expected a comparison (==, !=, >, s<, &, ...) at '~ 3 goto +1'");
    EXPECT_EQ(err("ldxw %r0, %r1"), "line 1: expected '[' at '%r1'");
    EXPECT_EQ(err("r1 = 99999999999999999999"), "line 1: number '99999999999999999999' does not fit in 64 bits");
    std::string far = "goto end\n";
    for (int i = 0; i < 40000; i++) far += "r0 = 0\n";
    far += "end: exit\n";
    EXPECT_EQ(err(far), "line 1: jump to 'end' is 40000 instructions away: too far for a 16-bit offset (use gotol)");
}
