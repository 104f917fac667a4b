// libFuzzer target for classic BPF (built with -DBPFVM_FUZZ=ON):
//  - first byte even: the rest is text; parse it (any form), and whatever
//    parses must format and parse back to the same instructions;
//  - first byte odd: the rest is instructions (8 bytes each, the last 32
//    bytes a packet); the checker decides in both dialects, and whatever it
//    accepts must translate, compile and give the same result on both engines.
#include <cstring>
#include <string_view>

#include <linux/filter.h>

#include "bpfvm/cbpf.h"
#include "bpfvm/insn.h"

using namespace bpfvm::cbpf;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    data++;
    size--;
    if ((mode & 1) == 0) {
        auto prog = parse(std::string_view(reinterpret_cast<const char*>(data), size));
        if (!prog) return 0;
        for (auto f : {TextFormat::BpfAsm, TextFormat::TcpdumpDD, TextFormat::TcpdumpDDD}) {
            auto back = parse(format(*prog, f), f);
            if (!back || *back != *prog) __builtin_trap();
        }
        return 0;
    }
    const size_t packet_size = size < 32 ? size : 32;
    const size_t n = (size - packet_size) / sizeof(Insn);
    std::vector<Insn> prog(n);
    if (n) std::memcpy(prog.data(), data, n * sizeof(Insn));
    const uint8_t* packet = data + n * sizeof(Insn);
    for (Dialect d : {Dialect::Linux, Dialect::Libpcap}) {
        if (!check(prog, d)) continue;
        // Loops (Libpcap dialect) may run up to the instruction budget: skip them here.
        bool loops = false, random = false;
        for (size_t i = 0; i < prog.size(); i++) {
            if (prog[i].code == (BPF_JMP | BPF_JA) && static_cast<uint32_t>(i + 1 + prog[i].k) <= i) loops = true;
            if (prog[i].k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)) random = true;
        }
        if (loops) continue;
        auto jit = Filter::create(prog, {d, Engine::Jit});
        auto interp = Filter::create(prog, {d, Engine::Interpreter});
        if (static_cast<bool>(jit) != static_cast<bool>(interp)) __builtin_trap();
        if (!jit) continue;
        Packet p;
        p.data = packet;
        p.caplen = static_cast<uint32_t>(packet_size);
        p.wire_len = p.caplen + (mode >> 1);
        p.network_offset = mode >> 4;
        const uint32_t a = jit->run(p), b = interp->run(p);
        if (!random && a != b) __builtin_trap();
    }
    return 0;
}
