// The checker Linux applies to classic socket filters (net/core/filter.c:
// bpf_check_classic, check_load_and_stores), and libpcap's bpf_validate()
// for the Libpcap dialect.
#include <linux/filter.h>

#include <fmt/format.h>

#include "bpfvm/cbpf.h"
#include "cbpf/opcodes.h"

namespace bpfvm::cbpf {

namespace {

// Linux's check_load_and_stores: every M[] read is preceded by a write on
// every path. Returns the index of the first read that is not, or -1.
// `first_unwritten` (when given) collects the cells that may be read before
// any write (the Libpcap dialect zeroes them).
struct MemFlow {
    int64_t bad_insn = -1;
    uint32_t bad_cell = 0;
    uint16_t unwritten_reads = 0; // cells some read may see unwritten
};

MemFlow mem_flow(std::span<const Insn> p, bool allow_backward) {
    MemFlow out;
    const size_t n = p.size();
    std::vector<uint16_t> masks(n, 0xffff);
    uint16_t valid = 0;
    auto target = [&](size_t pc, uint64_t off) -> size_t { return static_cast<uint32_t>(pc + 1 + off); };
    for (size_t pc = 0; pc < n; pc++) {
        valid &= masks[pc];
        const Insn& in = p[pc];
        switch (in.code) {
        case BPF_ST:
        case BPF_STX: valid = static_cast<uint16_t>(valid | (1u << in.k)); break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
            if (!(valid & (1u << in.k))) {
                out.unwritten_reads = static_cast<uint16_t>(out.unwritten_reads | (1u << in.k));
                if (out.bad_insn < 0) {
                    out.bad_insn = static_cast<int64_t>(pc);
                    out.bad_cell = in.k;
                }
            }
            break;
        case BPF_JMP | BPF_JA: {
            size_t t = target(pc, in.k);
            if (t > pc) masks[t] &= valid;
            else if (allow_backward) masks[t] = 0; // a loop: assume nothing at its head
            valid = 0xffff;
            break;
        }
        default:
            if (is_conditional_jump(in.code)) {
                masks[pc + 1 + in.jt] &= valid;
                masks[pc + 1 + in.jf] &= valid;
                valid = 0xffff;
            }
            break;
        }
    }
    return out;
}

} // namespace

uint16_t cells_read_unwritten(std::span<const Insn> program) {
    return mem_flow(program, true).unwritten_reads;
}

Result<void> check(std::span<const Insn> p, Dialect dialect) {
    const bool linux = dialect == Dialect::Linux;
    if (p.empty()) return make_error("the program is empty: a classic program has 1 to 4096 instructions");
    if (p.size() > kMaxInsns)
        return make_error(fmt::format("the program has {} instructions: at most {} are allowed", p.size(), kMaxInsns));
    const size_t n = p.size();
    for (size_t pc = 0; pc < n; pc++) {
        const Insn& in = p[pc];
        const auto at = static_cast<int64_t>(pc);
        if (!is_known_opcode(in.code))
            return make_error(fmt::format("unknown opcode 0x{:02x}", in.code), at);
        switch (in.code) {
        case BPF_ALU | BPF_DIV | BPF_K:
            if (in.k == 0) return make_error("division by constant 0", at);
            break;
        case BPF_ALU | BPF_MOD | BPF_K:
            if (in.k == 0) return make_error("modulo by constant 0", at);
            break;
        case BPF_ALU | BPF_LSH | BPF_K:
        case BPF_ALU | BPF_RSH | BPF_K:
            if (linux && in.k >= 32) return make_error(fmt::format("shift by constant {}: at most 31", in.k), at);
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (in.k >= kMemWords)
                return make_error(fmt::format("M[{}] does not exist: the scratch memory is M[0] to M[15]", in.k), at);
            break;
        case BPF_JMP | BPF_JA:
            if (linux) {
                if (in.k >= n - pc - 1)
                    return make_error(fmt::format("ja {} jumps to instruction {}, beyond the last ({})", in.k,
                                                  uint64_t(pc) + 1 + in.k, n - 1), at);
            } else {
                // libpcap's bpf_validate: the target wraps modulo 2^32, so a
                // large k is a backward jump (protochain uses them).
                uint32_t t = static_cast<uint32_t>(pc + 1 + in.k);
                if (t >= n)
                    return make_error(fmt::format("ja {} jumps to instruction {}, outside the program (0 to {})",
                                                  in.k, t, n - 1), at);
            }
            break;
        case BPF_LD | BPF_W | BPF_ABS:
        case BPF_LD | BPF_H | BPF_ABS:
        case BPF_LD | BPF_B | BPF_ABS:
            if (linux && in.k >= static_cast<uint32_t>(SKF_AD_OFF) && !ancillary_name(in.k))
                return make_error(fmt::format("unknown ancillary load SKF_AD_OFF+{}", in.k - uint32_t(SKF_AD_OFF)), at);
            break;
        default:
            if (is_conditional_jump(in.code)) {
                if (pc + 1 + in.jt >= n || pc + 1 + in.jf >= n)
                    return make_error(fmt::format("jump to instruction {}, beyond the last ({})",
                                                  pc + 1 + (pc + 1 + in.jt >= n ? in.jt : in.jf), n - 1),
                                      at);
            }
            break;
        }
    }
    if (BPF_CLASS(p[n - 1].code) != BPF_RET)
        return make_error("the last instruction must be a return (ret)", static_cast<int64_t>(n - 1));
    if (linux) {
        MemFlow f = mem_flow(p, false);
        if (f.bad_insn >= 0)
            return make_error(fmt::format("M[{}] is read before it is written on some path", f.bad_cell), f.bad_insn);
    }
    return {};
}

} // namespace bpfvm::cbpf
