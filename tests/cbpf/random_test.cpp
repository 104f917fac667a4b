// Random classic programs (every opcode, awkward constants, truncated
// packets) run by libpcap's bpf_filter() and by bpfvm in the Libpcap
// dialect on both engines: the results must be equal. Also: whatever the
// checker accepts, the translation and both engines take.
#include <random>

#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include "cbpf_testing.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

class ProgramGenerator {
public:
    explicit ProgramGenerator(uint32_t seed) : rng_(seed) {}

    std::vector<Insn> next() {
        std::vector<Insn> p;
        // libpcap leaves M[] uninitialised: write every cell first.
        for (uint32_t c = 0; c < 16; c++) {
            p.push_back(stmt(BPF_LD | BPF_IMM, constant()));
            p.push_back(stmt(BPF_ST, c));
        }
        p.push_back(stmt(BPF_LDX | BPF_IMM, small()));
        const int body = 3 + pick(40);
        const size_t end = p.size() + static_cast<size_t>(body); // index of the final ret
        while (p.size() < end) p.push_back(random_insn(p.size(), end));
        p.push_back(pick(2) ? stmt(BPF_RET | BPF_A, 0) : stmt(BPF_RET | BPF_K, constant()));
        return p;
    }

    std::vector<uint8_t> packet() {
        std::vector<uint8_t> v(static_cast<size_t>(pick(90)));
        for (auto& b : v) b = static_cast<uint8_t>(pick(4) == 0 ? pick(16) : pick(256));
        return v;
    }

private:
    int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
    uint32_t small() { return static_cast<uint32_t>(pick(96)); }
    uint32_t constant() {
        const uint32_t interesting[] = {0, 1, 2, 3, 4, 7, 12, 14, 20, 31, 32, 33, 63, 0x7fffffff, 0x80000000,
                                        0xffffffff, 0xfffffffe, 0x10000, static_cast<uint32_t>(SKF_AD_OFF + 44),
                                        static_cast<uint32_t>(SKF_NET_OFF + 9)};
        switch (pick(3)) {
        case 0: return interesting[pick(20)];
        case 1: return small();
        default: return static_cast<uint32_t>(rng_());
        }
    }
    Insn random_insn(size_t at, size_t end) {
        const uint16_t alu_ops[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND,
                                    BPF_OR,  BPF_XOR, BPF_LSH, BPF_RSH, BPF_NEG};
        const uint16_t sizes[] = {BPF_W, BPF_H, BPF_B};
        const uint16_t jops[] = {BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET};
        const size_t room = end - at; // instructions after this one up to the final ret, inclusive of it
        switch (pick(12)) {
        case 0: case 1: {
            const uint16_t op = alu_ops[pick(11)];
            if (op == BPF_NEG) return stmt(BPF_ALU | BPF_NEG, 0);
            if (pick(2)) return stmt(static_cast<uint16_t>(BPF_ALU | op | BPF_X), 0);
            uint32_t k = pick(2) ? constant() : small();
            if ((op == BPF_DIV || op == BPF_MOD) && k == 0) k = 3;
            return stmt(static_cast<uint16_t>(BPF_ALU | op | BPF_K), k);
        }
        case 2: return stmt(static_cast<uint16_t>(BPF_LD | sizes[pick(3)] | BPF_ABS), pick(5) ? small() : constant());
        case 3: return stmt(static_cast<uint16_t>(BPF_LD | sizes[pick(3)] | BPF_IND), pick(5) ? small() : constant());
        case 4: return stmt(BPF_LDX | BPF_B | BPF_MSH, pick(6) ? small() : constant());
        case 5: return stmt(pick(2) ? BPF_LD | BPF_W | BPF_LEN : BPF_LDX | BPF_W | BPF_LEN, 0);
        case 6: return stmt(pick(2) ? BPF_LD | BPF_IMM : BPF_LDX | BPF_IMM, pick(2) ? constant() : small());
        case 7: {
            const uint16_t codes[] = {BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX};
            return stmt(codes[pick(4)], static_cast<uint32_t>(pick(16)));
        }
        case 8: return stmt(pick(2) ? BPF_MISC | BPF_TAX : BPF_MISC | BPF_TXA, 0);
        case 9: return stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(pick(static_cast<int>(room))));
        case 10: return pick(4) ? stmt(BPF_LD | BPF_IMM, constant()) : stmt(BPF_RET | BPF_A, 0);
        default: {
            const uint16_t src = pick(2) ? BPF_K : BPF_X;
            const int reach = static_cast<int>(std::min<size_t>(room, 256));
            return jump(static_cast<uint16_t>(BPF_JMP | jops[pick(4)] | src), pick(2) ? constant() : small(),
                        static_cast<uint8_t>(pick(reach)), static_cast<uint8_t>(pick(reach)));
        }
        }
    }

    std::mt19937 rng_;
};

} // namespace

TEST(CbpfRandom, SameResultsAsBpfFilter) {
    ProgramGenerator gen(2024);
    size_t programs = 0, runs = 0, nonzero = 0;
    for (int n = 0; n < 1500; n++) {
        std::vector<Insn> prog = gen.next();
        auto ok = check(prog, Dialect::Libpcap);
        ASSERT_TRUE(ok) << ok.error().to_string();
        ASSERT_EQ(bpf_validate(reinterpret_cast<const bpf_insn*>(prog.data()), static_cast<int>(prog.size())), 1);
        auto jit = Filter::create(prog, {Dialect::Libpcap, Engine::Jit});
        auto interp = Filter::create(prog, {Dialect::Libpcap, Engine::Interpreter});
        ASSERT_TRUE(jit) << jit.error().to_string();
        ASSERT_TRUE(interp) << interp.error().to_string();
        programs++;
        for (int i = 0; i < 40; i++) {
            std::vector<uint8_t> data = gen.packet();
            const uint32_t wire = static_cast<uint32_t>(data.size()) + static_cast<uint32_t>(i % 3 == 0 ? 100 : 0);
            const uint32_t want = bpf_filter(reinterpret_cast<const bpf_insn*>(prog.data()), data.data(), wire,
                                             static_cast<u_int>(data.size()));
            Packet p;
            p.data = data.data();
            p.caplen = static_cast<uint32_t>(data.size());
            p.wire_len = wire;
            ASSERT_EQ(jit->run(p), want) << "program " << n << ":\n" << format(prog, TextFormat::TcpdumpD);
            ASSERT_EQ(interp->run(p), want) << "program " << n << ":\n" << format(prog, TextFormat::TcpdumpD);
            runs++;
            if (want) nonzero++;
        }
    }
    EXPECT_EQ(programs, 1500u);
    EXPECT_GT(nonzero, runs / 10); // the programs do not all fail early
}

TEST(CbpfRandom, WhatTheCheckerAcceptsRuns) {
    // Raw random instructions: most fail the checker with a reason; the rest
    // translate, compile and run on both engines alike.
    std::mt19937 rng(7);
    size_t accepted = 0;
    for (int n = 0; n < 20000; n++) {
        std::vector<Insn> prog(1 + rng() % 6);
        for (auto& in : prog) {
            in.code = static_cast<uint16_t>(rng() % 0xa0);
            in.jt = static_cast<uint8_t>(rng() % 4);
            in.jf = static_cast<uint8_t>(rng() % 4);
            in.k = rng() % 3 ? rng() % 20 : static_cast<uint32_t>(rng());
        }
        if (rng() % 2) prog.back() = stmt(BPF_RET | BPF_A, 0);
        for (Dialect d : {Dialect::Linux, Dialect::Libpcap}) {
            auto ok = check(prog, d);
            if (!ok) {
                EXPECT_GE(ok.error().insn, 0);
                EXPECT_FALSE(ok.error().message.empty());
                continue;
            }
            auto jit = Filter::create(prog, {d, Engine::Jit});
            auto interp = Filter::create(prog, {d, Engine::Interpreter});
            if (!jit) { // only the refused ancillary loads
                EXPECT_NE(jit.error().message.find("is not supported"), std::string::npos) << jit.error().to_string();
                continue;
            }
            ASSERT_TRUE(interp);
            accepted++;
            std::vector<uint8_t> data(static_cast<size_t>(rng() % 24));
            for (auto& b : data) b = static_cast<uint8_t>(rng());
            Packet p;
            p.data = data.data();
            p.caplen = static_cast<uint32_t>(data.size());
            const uint32_t a = jit->run(p), b = interp->run(p);
            // rand: the only load whose value may differ between runs.
            bool random = false;
            for (const Insn& in : prog)
                if (BPF_CLASS(in.code) == BPF_LD && in.k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)) random = true;
            if (!random) {
                EXPECT_EQ(a, b) << format(prog, TextFormat::TcpdumpD);
            }
        }
    }
    EXPECT_GT(accepted, 500u);
}
