// Differential test against libpcap's own interpreter: tcpdump expressions
// compiled with pcap_compile, run by bpf_filter() and by bpfvm on the same
// packets (random, crafted, truncated): the verdicts must be equal.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "cbpf_testing.h"
#include "pcap_programs.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

const std::vector<TestPacket>& packets() {
    static const std::vector<TestPacket> all = [] {
        std::vector<TestPacket> v;
        PacketGenerator gen(12345);
        for (int i = 0; i < 4000; i++) v.push_back(gen.next());
        // Crafted: empty, one byte, exactly an Ethernet header.
        v.push_back({{}, 0});
        v.push_back({{0x08}, 60});
        v.push_back({std::vector<uint8_t>(14, 0), 14});
        return v;
    }();
    return all;
}

bool has_backward_jump(const std::vector<Insn>& p) {
    for (size_t i = 0; i < p.size(); i++)
        if (p[i].code == (BPF_JMP | BPF_JA) && static_cast<uint32_t>(i + 1 + p[i].k) <= i) return true;
    return false;
}

struct Param {
    Engine engine;
    Dialect dialect;
};

class CbpfLibpcap : public ::testing::TestWithParam<Param> {};

} // namespace

TEST_P(CbpfLibpcap, SameVerdictsAsBpfFilter) {
    const auto [engine, dialect] = GetParam();
    size_t programs = 0, runs = 0;
    for (const std::string& expr : expressions()) {
        std::vector<Insn> prog = compile(expr);
        ASSERT_FALSE(prog.empty()) << "pcap_compile failed: " << expr;
        if (dialect == Dialect::Linux && has_backward_jump(prog)) {
            // protochain loops: libpcap's dialect only.
            auto refused = Filter::create(prog, {dialect, engine});
            EXPECT_FALSE(refused) << expr;
            continue;
        }
        auto filter = Filter::create(prog, {dialect, engine});
        ASSERT_TRUE(filter) << expr << ": " << filter.error().to_string();
        programs++;
        size_t matched = 0, differences = 0;
        for (const TestPacket& t : packets()) {
            const uint32_t want = bpf_filter(reinterpret_cast<const bpf_insn*>(prog.data()), t.data.data(), t.wire_len,
                                             static_cast<u_int>(t.data.size()));
            Packet p;
            p.data = t.data.data();
            p.caplen = static_cast<uint32_t>(t.data.size());
            p.wire_len = t.wire_len;
            const uint32_t got = filter->run(p);
            runs++;
            if (want != 0) matched++;
            if (got != want && differences++ < 3)
                ADD_FAILURE() << expr << ": bpfvm " << got << ", libpcap " << want << " on a packet of "
                              << t.data.size() << " bytes";
        }
        EXPECT_EQ(differences, 0u) << expr;
        // The traffic exercises both verdicts of every filter.
        EXPECT_GT(matched, 0u) << expr;
        EXPECT_LT(matched, packets().size()) << expr;
    }
    EXPECT_GE(programs, 30u);
    EXPECT_GE(runs, 30u * 4000);
}

INSTANTIATE_TEST_SUITE_P(All, CbpfLibpcap,
                         ::testing::Values(Param{Engine::Jit, Dialect::Libpcap}, Param{Engine::Jit, Dialect::Linux},
                                           Param{Engine::Interpreter, Dialect::Libpcap},
                                           Param{Engine::Interpreter, Dialect::Linux}),
                         [](const auto& info) {
                             return std::string(info.param.engine == Engine::Jit ? "Jit" : "Interpreter") +
                                    (info.param.dialect == Dialect::Linux ? "Linux" : "Libpcap");
                         });
