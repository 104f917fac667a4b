// The translation to eBPF, run on both engines: every classic opcode, the
// ancillary loads, the negative offset areas and the dialect differences.
#include <atomic>
#include <cstddef>
#include <thread>

#include <gtest/gtest.h>

#include "bpfvm/insn.h"
#include "cbpf_testing.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

class CbpfRun : public ::testing::TestWithParam<Engine> {
protected:
    uint32_t run(const std::vector<Insn>& prog, const std::vector<uint8_t>& data, Dialect d = Dialect::Linux,
                 Packet meta = {}) {
        FilterOptions o;
        o.dialect = d;
        o.engine = GetParam();
        auto f = Filter::create(prog, o);
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) return 0xdeadbeef;
        meta.data = data.data();
        meta.caplen = static_cast<uint32_t>(data.size());
        return f->run(meta);
    }
    // A = `a`, X = `x`, then `op`, then return A.
    uint32_t alu(uint16_t code, uint32_t a, uint32_t x_or_k, Dialect d = Dialect::Linux) {
        const bool is_x = BPF_SRC(code) == BPF_X;
        return run({stmt(BPF_LD | BPF_IMM, a), stmt(BPF_LDX | BPF_IMM, is_x ? x_or_k : 0),
                    stmt(code, is_x ? 0 : x_or_k), stmt(BPF_RET | BPF_A, 0)},
                   {}, d);
    }
    std::vector<uint8_t> bytes(size_t n) {
        std::vector<uint8_t> v(n);
        for (size_t i = 0; i < n; i++) v[i] = static_cast<uint8_t>(i * 7 + 1);
        return v;
    }
};

} // namespace

TEST_P(CbpfRun, ReturnConstantAndA) {
    EXPECT_EQ(run({stmt(BPF_RET | BPF_K, 0xffffffff)}, {}), 0xffffffffu);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 0x80000001), stmt(BPF_RET | BPF_A, 0)}, {}), 0x80000001u);
    // A and X start at 0.
    EXPECT_EQ(run({stmt(BPF_RET | BPF_A, 0)}, {}), 0u);
    EXPECT_EQ(run({stmt(BPF_MISC | BPF_TXA, 0), stmt(BPF_RET | BPF_A, 0)}, {}), 0u);
}

TEST_P(CbpfRun, Arithmetic) {
    EXPECT_EQ(alu(BPF_ALU | BPF_ADD | BPF_K, 0xffffffff, 2), 1u);
    EXPECT_EQ(alu(BPF_ALU | BPF_ADD | BPF_X, 0xfffffffe, 3), 1u);
    EXPECT_EQ(alu(BPF_ALU | BPF_SUB | BPF_K, 0, 1), 0xffffffffu);
    EXPECT_EQ(alu(BPF_ALU | BPF_SUB | BPF_X, 5, 7), 0xfffffffeu);
    EXPECT_EQ(alu(BPF_ALU | BPF_MUL | BPF_K, 0x10000, 0x10000), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_MUL | BPF_X, 0x10001, 0x10001), 0x20001u);
    EXPECT_EQ(alu(BPF_ALU | BPF_DIV | BPF_K, 0xffffffff, 2), 0x7fffffffu);
    EXPECT_EQ(alu(BPF_ALU | BPF_DIV | BPF_K, 7, 0x80000000), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_DIV | BPF_X, 100, 7), 14u);
    EXPECT_EQ(alu(BPF_ALU | BPF_MOD | BPF_K, 100, 7), 2u);
    EXPECT_EQ(alu(BPF_ALU | BPF_MOD | BPF_X, 0xffffffff, 0x10), 0xfu);
    EXPECT_EQ(alu(BPF_ALU | BPF_AND | BPF_K, 0xff00ff00, 0x0ff00ff0), 0x0f000f00u);
    EXPECT_EQ(alu(BPF_ALU | BPF_AND | BPF_X, 0xff00ff00, 0xf000000f), 0xf0000000u);
    EXPECT_EQ(alu(BPF_ALU | BPF_OR | BPF_K, 0xff000000, 0x0f), 0xff00000fu);
    EXPECT_EQ(alu(BPF_ALU | BPF_OR | BPF_X, 1, 0x80000000), 0x80000001u);
    EXPECT_EQ(alu(BPF_ALU | BPF_XOR | BPF_K, 0xffffffff, 0x0f0f0f0f), 0xf0f0f0f0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_XOR | BPF_X, 0x12345678, 0x12345678), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_LSH | BPF_K, 1, 31), 0x80000000u);
    EXPECT_EQ(alu(BPF_ALU | BPF_LSH | BPF_X, 3, 4), 48u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_K, 0x80000000, 31), 1u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_X, 0xf0, 4), 0xfu);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ALU | BPF_NEG, 0), stmt(BPF_RET | BPF_A, 0)}, {}), 0xffffffffu);
}

TEST_P(CbpfRun, DivisionByXZeroReturnsZero) {
    for (auto d : {Dialect::Linux, Dialect::Libpcap}) {
        for (uint16_t op : {BPF_DIV, BPF_MOD}) {
            std::vector<Insn> p = {stmt(BPF_LD | BPF_IMM, 9), stmt(BPF_ALU | op | BPF_X, 0), stmt(BPF_RET | BPF_K, 7)};
            EXPECT_EQ(run(p, {}, d), 0u);
            p.insert(p.begin(), stmt(BPF_LDX | BPF_IMM, 2));
            EXPECT_EQ(run(p, {}, d), 7u);
        }
    }
}

TEST_P(CbpfRun, ShiftsByXOf32OrMoreDifferByDialect) {
    // Linux masks the count (& 31), libpcap 1.10 gives 0.
    EXPECT_EQ(alu(BPF_ALU | BPF_LSH | BPF_X, 1, 33), 2u);
    EXPECT_EQ(alu(BPF_ALU | BPF_LSH | BPF_X, 1, 33, Dialect::Libpcap), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_X, 0x80, 32), 0x80u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_X, 0x80, 32, Dialect::Libpcap), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_X, 0x80, 0xffffffff, Dialect::Libpcap), 0u);
    EXPECT_EQ(alu(BPF_ALU | BPF_RSH | BPF_X, 0x80, 7, Dialect::Libpcap), 1u);
    // A constant count of 32 or more: Linux's checker refuses it, libpcap masks it on x86.
    EXPECT_EQ(alu(BPF_ALU | BPF_LSH | BPF_K, 1, 33, Dialect::Libpcap), 2u);
}

TEST_P(CbpfRun, PacketLoads) {
    std::vector<uint8_t> pkt = bytes(20); // 01 08 0f 16 1d 24 2b 32 39 40 ...
    EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_ABS, 1), stmt(BPF_RET | BPF_A, 0)}, pkt), 0x080f161du);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_H | BPF_ABS, 2), stmt(BPF_RET | BPF_A, 0)}, pkt), 0x0f16u);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, 19), stmt(BPF_RET | BPF_A, 0)}, pkt), pkt[19]);
    // Outside the packet (even partly): the program returns 0 at once.
    EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_ABS, 17), stmt(BPF_RET | BPF_K, 5)}, pkt), 0u);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, 20), stmt(BPF_RET | BPF_K, 5)}, pkt), 0u);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_ABS, 16), stmt(BPF_RET | BPF_K, 5)}, pkt), 5u);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, 0), stmt(BPF_RET | BPF_K, 5)}, {}), 0u);
    // Indirect.
    std::vector<Insn> ind = {stmt(BPF_LDX | BPF_IMM, 3), stmt(BPF_LD | BPF_H | BPF_IND, 2), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(run(ind, pkt), uint32_t(pkt[5]) << 8 | pkt[6]);
    ind[1] = stmt(BPF_LD | BPF_W | BPF_IND, 14);
    EXPECT_EQ(run(ind, pkt), 0u);
    ind[1] = stmt(BPF_LD | BPF_B | BPF_IND, 16);
    EXPECT_EQ(run(ind, pkt), pkt[19]);
}

TEST_P(CbpfRun, IndirectOffsetWrapAroundDiffersByDialect) {
    // X + k beyond 2^32: Linux wraps (X + k = 1), libpcap fails the load.
    std::vector<uint8_t> pkt = bytes(8);
    std::vector<Insn> p = {stmt(BPF_LDX | BPF_IMM, 0xffffffff), stmt(BPF_LD | BPF_B | BPF_IND, 2),
                           stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(run(p, pkt), pkt[1]);
    EXPECT_EQ(run(p, pkt, Dialect::Libpcap), 0u);
}

TEST_P(CbpfRun, IpHeaderLength) {
    std::vector<uint8_t> pkt(40, 0);
    pkt[14] = 0x46;
    // X = 4*(P[14]&0xf) = 24; A is kept.
    EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 77), stmt(BPF_LDX | BPF_B | BPF_MSH, 14), stmt(BPF_ST, 0),
                   stmt(BPF_MISC | BPF_TXA, 0), stmt(BPF_LDX | BPF_MEM, 0), stmt(BPF_ALU | BPF_ADD | BPF_X, 0),
                   stmt(BPF_RET | BPF_A, 0)},
                  pkt),
              77u + 24u);
    EXPECT_EQ(run({stmt(BPF_LDX | BPF_B | BPF_MSH, 40), stmt(BPF_RET | BPF_K, 1)}, pkt), 0u);
}

TEST_P(CbpfRun, Length) {
    Packet meta;
    meta.wire_len = 1500;
    std::vector<uint8_t> pkt = bytes(64);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_LEN, 0), stmt(BPF_RET | BPF_A, 0)}, pkt, Dialect::Linux, meta), 1500u);
    EXPECT_EQ(run({stmt(BPF_LDX | BPF_W | BPF_LEN, 0), stmt(BPF_MISC | BPF_TXA, 0), stmt(BPF_RET | BPF_A, 0)}, pkt,
                  Dialect::Libpcap, meta),
              1500u);
    // wire_len unset: caplen.
    EXPECT_EQ(run({stmt(BPF_LD | BPF_W | BPF_LEN, 0), stmt(BPF_RET | BPF_A, 0)}, pkt), 64u);
}

TEST_P(CbpfRun, ScratchMemoryAndRegisterMoves) {
    std::vector<Insn> p;
    for (uint32_t i = 0; i < 16; i++) {
        p.push_back(stmt(BPF_LD | BPF_IMM, i * 3 + 1));
        p.push_back(stmt(i % 2 ? BPF_ST : BPF_STX, i));
        if (i % 2 == 0) p.insert(p.end() - 1, stmt(BPF_MISC | BPF_TAX, 0));
    }
    p.push_back(stmt(BPF_LD | BPF_IMM, 0));
    for (uint32_t i = 0; i < 16; i++) {
        p.push_back(stmt(BPF_LDX | BPF_MEM, i));
        p.push_back(stmt(BPF_ALU | BPF_ADD | BPF_X, 0));
    }
    p.push_back(stmt(BPF_ST, 15));
    p.push_back(stmt(BPF_LD | BPF_MEM, 15));
    p.push_back(stmt(BPF_RET | BPF_A, 0));
    uint32_t sum = 0;
    for (uint32_t i = 0; i < 16; i++) sum += i * 3 + 1;
    EXPECT_EQ(run(p, {}), sum);
}

TEST_P(CbpfRun, UnwrittenScratchReadsZeroInLibpcapDialect) {
    std::vector<Insn> p = {stmt(BPF_LD | BPF_MEM, 4), stmt(BPF_ALU | BPF_ADD | BPF_K, 1), stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(run(p, {}, Dialect::Libpcap), 1u);
}

TEST_P(CbpfRun, Jumps) {
    // A = 0xffffffff; each comparison picks one of two returns.
    auto cmp = [&](uint16_t code, uint32_t a, uint32_t x_or_k) {
        const bool is_x = BPF_SRC(code) == BPF_X;
        return run({stmt(BPF_LD | BPF_IMM, a), stmt(BPF_LDX | BPF_IMM, x_or_k), jump(code, is_x ? 0 : x_or_k, 1, 0),
                    stmt(BPF_RET | BPF_K, 10), stmt(BPF_RET | BPF_K, 20)},
                   {});
    };
    for (uint16_t src : {BPF_K, BPF_X}) {
        EXPECT_EQ(cmp(BPF_JMP | BPF_JEQ | src, 0xffffffff, 0xffffffff), 20u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JEQ | src, 5, 6), 10u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JGT | src, 0xffffffff, 0x80000000), 20u); // unsigned
        EXPECT_EQ(cmp(BPF_JMP | BPF_JGT | src, 5, 5), 10u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JGE | src, 5, 5), 20u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JGE | src, 0x7fffffff, 0x80000000), 10u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JSET | src, 0x80000001, 0x80000000), 20u);
        EXPECT_EQ(cmp(BPF_JMP | BPF_JSET | src, 0x7ffffffe, 0x80000001), 10u);
    }
    // Two-way jumps where neither target is the next instruction, and ja.
    for (uint16_t op : {BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET}) {
        std::vector<Insn> p = {stmt(BPF_LD | BPF_IMM, 3), jump(BPF_JMP | op | BPF_K, 3, 2, 1), stmt(BPF_RET | BPF_K, 1),
                               stmt(BPF_JMP | BPF_JA, 1), stmt(BPF_RET | BPF_K, 2), stmt(BPF_RET | BPF_K, 3)};
        // true: to 4 (ret 2); false: to 3, ja to 5 (ret 3).
        EXPECT_EQ(run(p, {}), op == BPF_JGT ? 3u : 2u) << op;
        // jt = 0 (the translation inverts jeq, jgt, jge): true: ret 1; false: to 4 (ret 2).
        p[1] = jump(BPF_JMP | op | BPF_K, 2, 0, 2);
        EXPECT_EQ(run(p, {}), op == BPF_JEQ ? 2u : 1u)
            << op;
    }
}

TEST_P(CbpfRun, AncillaryLoads) {
    Packet meta;
    meta.protocol = 0x86dd;
    meta.pkttype = 3;
    meta.ifindex = 42;
    meta.mark = 0xabcdef01;
    meta.queue = 5;
    meta.hatype = 1;
    meta.rxhash = 0x12345678;
    meta.vlan_tci = 0x2064;
    meta.vlan_present = true;
    meta.vlan_tpid = 0x88a8;
    auto load = [&](uint32_t ad, uint16_t size = BPF_W) {
        return run({stmt(BPF_LD | size | BPF_ABS, SKF_AD_OFF + ad), stmt(BPF_RET | BPF_A, 0)}, {}, Dialect::Linux, meta);
    };
    EXPECT_EQ(load(SKF_AD_PROTOCOL), 0x86ddu);
    EXPECT_EQ(load(SKF_AD_PROTOCOL, BPF_B), 0x86ddu); // the size does not matter (Linux)
    EXPECT_EQ(load(SKF_AD_PKTTYPE), 3u);
    EXPECT_EQ(load(SKF_AD_IFINDEX), 42u);
    EXPECT_EQ(load(SKF_AD_MARK), 0xabcdef01u);
    EXPECT_EQ(load(SKF_AD_QUEUE), 5u);
    EXPECT_EQ(load(SKF_AD_HATYPE), 1u);
    EXPECT_EQ(load(SKF_AD_RXHASH), 0x12345678u);
    EXPECT_EQ(load(SKF_AD_VLAN_TAG), 0x2064u);
    EXPECT_EQ(load(SKF_AD_VLAN_TAG_PRESENT), 1u);
    EXPECT_EQ(load(SKF_AD_VLAN_TPID), 0x88a8u);
    EXPECT_LT(load(SKF_AD_CPU), 4096u);
    EXPECT_EQ(run({stmt(BPF_LD | BPF_IMM, 0xf0f0), stmt(BPF_LDX | BPF_IMM, 0xff),
                   stmt(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_ALU_XOR_X), stmt(BPF_RET | BPF_A, 0)},
                  {}),
              0xf00fu);
    // Random: 1 in 2 sampling takes both branches over many runs.
    std::vector<Insn> sample = {stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM),
                                stmt(BPF_ALU | BPF_AND | BPF_K, 1), stmt(BPF_RET | BPF_A, 0)};
    FilterOptions o;
    o.engine = GetParam();
    auto f = Filter::create(sample, o);
    ASSERT_TRUE(f);
    int ones = 0;
    for (int i = 0; i < 200; i++) ones += static_cast<int>(f->run(Packet{}));
    EXPECT_GT(ones, 0);
    EXPECT_LT(ones, 200);
    // libpcap's bpf_filter() has no metadata: the loads fall outside the packet.
    EXPECT_EQ(run({stmt(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT), stmt(BPF_RET | BPF_K, 9)}, {},
                  Dialect::Libpcap, meta),
              0u);
}

TEST_P(CbpfRun, NetworkAndLinkLayerAreas) {
    std::vector<uint8_t> pkt = bytes(40);
    auto at = [&](uint32_t k, uint32_t net, Dialect d = Dialect::Linux) {
        Packet meta;
        meta.network_offset = net;
        return run({stmt(BPF_LD | BPF_B | BPF_ABS, k), stmt(BPF_RET | BPF_A, 0)}, pkt, d, meta);
    };
    EXPECT_EQ(at(SKF_NET_OFF + 9, 14), pkt[23]);
    EXPECT_EQ(at(SKF_NET_OFF + 9, 0), pkt[9]);
    EXPECT_EQ(at(SKF_NET_OFF + 30, 14), 0u); // 44: beyond the packet
    EXPECT_EQ(at(SKF_LL_OFF + 12, 14), pkt[12]);
    EXPECT_EQ(at(SKF_LL_OFF - 1, 14), 0u);
    EXPECT_EQ(at(SKF_NET_OFF + 9, 14, Dialect::Libpcap), 0u); // libpcap: outside the packet
    // Half-word at the network header, and MSH from it.
    Packet meta;
    EXPECT_EQ(run({stmt(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 2), stmt(BPF_RET | BPF_A, 0)}, pkt, Dialect::Linux, meta),
              uint32_t(pkt[16]) << 8 | pkt[17]);
    EXPECT_EQ(run({stmt(BPF_LDX | BPF_B | BPF_MSH, SKF_NET_OFF), stmt(BPF_MISC | BPF_TXA, 0), stmt(BPF_RET | BPF_A, 0)},
                  pkt, Dialect::Linux, meta),
              4u * (pkt[14] & 0xf));
    // Indirect: X + k lands in an area at run time.
    auto ind = [&](uint32_t x, uint32_t k) {
        return run({stmt(BPF_LDX | BPF_IMM, x), stmt(BPF_LD | BPF_B | BPF_IND, k), stmt(BPF_RET | BPF_A, 0)}, pkt,
                   Dialect::Linux, meta);
    };
    EXPECT_EQ(ind(9, SKF_NET_OFF), pkt[23]);
    EXPECT_EQ(ind(3, SKF_LL_OFF), pkt[3]);
    EXPECT_EQ(ind(0, SKF_LL_OFF - 1), 0u);
    EXPECT_EQ(ind(0x200005, SKF_LL_OFF), pkt[5]); // the sum is positive: a plain load
}

TEST_P(CbpfRun, BackwardJumpsRunInLibpcapDialect) {
    // X counts to 5 in a loop closed by a backward ja (as protochain's code).
    std::vector<Insn> p = {stmt(BPF_LDX | BPF_IMM, 0),      stmt(BPF_MISC | BPF_TXA, 0),
                           stmt(BPF_ALU | BPF_ADD | BPF_K, 1), stmt(BPF_MISC | BPF_TAX, 0),
                           jump(BPF_JMP | BPF_JGE | BPF_K, 5, 1, 0), stmt(BPF_JMP | BPF_JA, 0xfffffffb),
                           stmt(BPF_MISC | BPF_TXA, 0),      stmt(BPF_RET | BPF_A, 0)};
    EXPECT_EQ(run(p, {}, Dialect::Libpcap), 5u);
}

TEST_P(CbpfRun, RunsFromManyThreadsAtOnce) {
    // ldb [0]; st M[0]; ldb [1]; add M[0] via X; ret a: a per-packet sum.
    std::vector<Insn> prog = {stmt(BPF_LD | BPF_B | BPF_ABS, 0), stmt(BPF_ST, 0), stmt(BPF_LD | BPF_B | BPF_ABS, 1),
                              stmt(BPF_LDX | BPF_MEM, 0), stmt(BPF_ALU | BPF_ADD | BPF_X, 0), stmt(BPF_RET | BPF_A, 0)};
    FilterOptions o;
    o.engine = GetParam();
    auto f = Filter::create(prog, o);
    ASSERT_TRUE(f);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20000; i++) {
                const uint8_t data[2] = {static_cast<uint8_t>(t * 50), static_cast<uint8_t>(i & 0xff)};
                Packet p;
                p.data = data;
                p.caplen = 2;
                if (f->run(p) != uint32_t(data[0]) + data[1]) wrong++;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    // No data: an empty packet, whatever caplen says.
    Packet none;
    none.caplen = 100;
    EXPECT_EQ(f->run(none), 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, CbpfRun, ::testing::Values(Engine::Jit, Engine::Interpreter),
                         [](const auto& info) { return info.param == Engine::Jit ? "Jit" : "Interpreter"; });

TEST(CbpfTranslate, MapsRegistersAsLinuxDoes) {
    // ldh [12]; jeq #0x800, 0, 1; ret #-1; ret #0
    std::vector<Insn> p = {stmt(BPF_LD | BPF_H | BPF_ABS, 12), jump(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 1),
                           stmt(BPF_RET | BPF_K, 0xffffffff), stmt(BPF_RET | BPF_K, 0)};
    auto e = to_ebpf(p);
    ASSERT_TRUE(e) << e.error().to_string();
    auto I = [](uint8_t op, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
        bpfvm::Insn in;
        in.opcode = op;
        in.dst = dst;
        in.src = src;
        in.off = off;
        in.imm = imm;
        return in;
    };
    std::vector<bpfvm::Insn> want = {
        I(BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0, 0),   // A = 0
        I(BPF_ALU | BPF_XOR | BPF_X, 7, 7, 0, 0),   // X = 0
        I(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0), // ctx in r6
        I(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12),
        I(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 2, 0x800), // jt = 0: inverted
        I(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, -1),
        I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
        I(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0),
        I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    };
    EXPECT_EQ(*e, want);
    // Scratch memory: M[k] at r10 - 4k - 4.
    auto m = to_ebpf(std::vector<Insn>{stmt(BPF_ST, 3), stmt(BPF_LDX | BPF_MEM, 3), stmt(BPF_RET | BPF_A, 0)});
    ASSERT_TRUE(m);
    EXPECT_EQ((*m)[3], I(BPF_STX | BPF_MEM | BPF_W, 10, 0, -16, 0));
    EXPECT_EQ((*m)[4], I(BPF_LDX | BPF_MEM | BPF_W, 7, 10, -16, 0));
    // The checker runs first.
    auto bad = to_ebpf(std::vector<Insn>{stmt(BPF_LD | BPF_IMM, 0)});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().to_string(), "instruction 0: the last instruction must be a return (ret)");
}

TEST(CbpfContext, NetworkOffsetsAndLayout) {
    EXPECT_EQ(network_offset_for_linktype(1), 14u);   // DLT_EN10MB
    EXPECT_EQ(network_offset_for_linktype(12), 0u);   // DLT_RAW
    EXPECT_EQ(network_offset_for_linktype(113), 16u); // DLT_LINUX_SLL
    EXPECT_EQ(network_offset_for_linktype(276), 20u); // DLT_LINUX_SLL2
    EXPECT_EQ(network_offset_for_linktype(0), 4u);    // DLT_NULL
    EXPECT_EQ(network_offset_for_linktype(99999), 0u);
    // An ancillary field sits at its SKF_AD_* number.
    EXPECT_EQ(offsetof(Context, protocol), size_t(SKF_AD_PROTOCOL));
    EXPECT_EQ(offsetof(Context, pkttype), size_t(SKF_AD_PKTTYPE));
    EXPECT_EQ(offsetof(Context, ifindex), size_t(SKF_AD_IFINDEX));
    EXPECT_EQ(offsetof(Context, mark), size_t(SKF_AD_MARK));
    EXPECT_EQ(offsetof(Context, queue), size_t(SKF_AD_QUEUE));
    EXPECT_EQ(offsetof(Context, hatype), size_t(SKF_AD_HATYPE));
    EXPECT_EQ(offsetof(Context, rxhash), size_t(SKF_AD_RXHASH));
    EXPECT_EQ(offsetof(Context, vlan_tci), size_t(SKF_AD_VLAN_TAG));
    EXPECT_EQ(offsetof(Context, vlan_present), size_t(SKF_AD_VLAN_TAG_PRESENT));
    EXPECT_EQ(offsetof(Context, vlan_tpid), size_t(SKF_AD_VLAN_TPID));
    Packet p;
    p.caplen = 60;
    p.wire_len = 0;
    p.vlan_present = true;
    p.network_offset = 16;
    Context c = make_context(p);
    EXPECT_EQ(c.len, 60u);
    EXPECT_EQ(c.vlan_present, 1u);
    EXPECT_EQ(c.network_offset, 16u);
    p.wire_len = 1500;
    EXPECT_EQ(make_context(p).len, 1500u);
}
