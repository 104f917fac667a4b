// Filter: a classic program checked, translated and compiled once, then run
// on packets.
#include <optional>

#include <pcap/dlt.h>

#include "bpfvm/cbpf.h"
#include "bpfvm/jit.h"
#include "bpfvm/program.h"
#include "bpfvm/vm.h"
#include "cbpf/translate.h"

namespace bpfvm::cbpf {

uint32_t network_offset_for_linktype(int linktype) {
    switch (linktype) {
    case DLT_EN10MB: return 14;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: return 0;
    case DLT_NULL:
    case DLT_LOOP: return 4;
    case DLT_LINUX_SLL: return 16;
    case DLT_LINUX_SLL2: return 20;
    case DLT_IEEE802: return 22;      // Token Ring with LLC/SNAP
    case DLT_PPP: return 4;
    default: return 0;
    }
}

Context make_context(const Packet& p) {
    Context c;
    c.protocol = p.protocol;
    c.pkttype = p.pkttype;
    c.ifindex = p.ifindex;
    c.mark = p.mark;
    c.queue = p.queue;
    c.hatype = p.hatype;
    c.rxhash = p.rxhash;
    c.vlan_tci = p.vlan_tci;
    c.vlan_present = p.vlan_present ? 1 : 0;
    c.vlan_tpid = p.vlan_tpid;
    c.len = p.wire_len != 0 ? p.wire_len : p.caplen;
    c.network_offset = p.network_offset;
    return c;
}

struct Filter::State {
    std::vector<Insn> classic;
    std::vector<bpfvm::Insn> ebpf;
    bool metadata = false;
    bool checked = false; // programs with loops run with the instruction budget
    std::optional<JitProgram> jit;
    std::optional<Interpreter> interpreter;
};

Filter::Filter(std::unique_ptr<State> state) : state_(std::move(state)) {}
Filter::Filter(Filter&&) noexcept = default;
Filter& Filter::operator=(Filter&&) noexcept = default;
Filter::~Filter() = default;

Result<Filter> Filter::create(std::span<const Insn> program, const FilterOptions& options) {
    if (auto ok = check(program, options.dialect); !ok) return tl::unexpected(ok.error());
    auto t = translate(program, options.dialect);
    if (!t) return tl::unexpected(t.error());
    auto state = std::make_unique<State>();
    state->classic.assign(program.begin(), program.end());
    state->ebpf = t->insns;
    state->metadata = t->uses_metadata;
    // The translation is safe by construction (packet access only through
    // LD_ABS/LD_IND, which the engines bound-check; fixed context and stack
    // offsets), so it runs in the fast mode; only a program with backward
    // jumps (libpcap's protochain) runs checked, for the instruction budget.
    state->checked = t->has_loops;
    auto prog = Program::from_insns(std::move(t->insns), "cbpf");
    if (!prog) return tl::unexpected(prog.error());
    if (options.engine == Engine::Jit && JitProgram::supported()) {
        JitOptions jo;
        jo.checked = state->checked;
        auto jit = JitProgram::compile(*prog, default_helpers(), {}, jo);
        if (!jit) return tl::unexpected(jit.error());
        state->jit.emplace(std::move(*jit));
    } else {
        auto interp = Interpreter::create(*prog, default_helpers());
        if (!interp) return tl::unexpected(interp.error());
        state->interpreter.emplace(std::move(*interp));
    }
    return Filter(std::move(state));
}

uint32_t Filter::run(const Packet& packet) const {
    const State& s = *state_;
    Context ctx;
    if (s.metadata) {
        ctx = make_context(packet);
    } else {
        ctx.len = packet.wire_len != 0 ? packet.wire_len : packet.caplen;
        ctx.network_offset = packet.network_offset;
    }
    // One RunOptions per thread, so that a run constructs none.
    thread_local RunOptions options;
    // (No data: an empty packet. An empty span would make the engines read the context instead.)
    options.packet = packet.data ? std::span<const uint8_t>(packet.data, packet.caplen)
                                 : std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(""), 0);
    options.checked = s.checked;
    Result<uint64_t> r = s.jit ? s.jit->run(&ctx, sizeof ctx, options) : s.interpreter->run(&ctx, sizeof ctx, options);
    // A run can only fail by exhausting the instruction budget (a loop): 0.
    return r ? static_cast<uint32_t>(*r) : 0;
}

const std::vector<Insn>& Filter::classic() const { return state_->classic; }
const std::vector<bpfvm::Insn>& Filter::ebpf() const { return state_->ebpf; }

} // namespace bpfvm::cbpf
