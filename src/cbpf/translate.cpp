// Classic BPF to eBPF, as Linux's bpf_convert_filter() (net/core/filter.c)
// maps it: A is r0, X is r7, the context is kept in r6, M[k] is the 32-bit
// stack slot at r10 - 4*k - 4, and packet loads are the legacy LD_ABS/LD_IND
// instructions, which end the program with 0 when they fall outside the
// packet. See docs/cbpf.md.
#include <cstddef>

#include <linux/filter.h>

#include <fmt/format.h>

#include "bpfvm/cbpf.h"
#include "cbpf/opcodes.h"
#include "cbpf/translate.h"

namespace bpfvm::cbpf {

namespace {

constexpr uint8_t kA = 0, kX = 7, kCtx = 6, kTmp = 2, kTmp2 = 3, kFp = 10;
constexpr int16_t kLenOffset = offsetof(Context, len);
constexpr int16_t kNetOffset = offsetof(Context, network_offset);

class Emitter {
public:
    void raw(uint8_t opcode, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
        bpfvm::Insn in;
        in.opcode = opcode;
        in.dst = dst & 0xf;
        in.src = src & 0xf;
        in.off = off;
        in.imm = imm;
        out.push_back(in);
    }
    void alu32_imm(uint8_t op, uint8_t dst, int32_t imm) { raw(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
    void alu32_reg(uint8_t op, uint8_t dst, uint8_t src) { raw(BPF_ALU | op | BPF_X, dst, src, 0, 0); }
    void mov64_reg(uint8_t dst, uint8_t src) { raw(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
    void ldxw(uint8_t dst, uint8_t base, int16_t off) { raw(BPF_LDX | BPF_MEM | BPF_W, dst, base, off, 0); }
    void stxw(uint8_t base, int16_t off, uint8_t src) { raw(BPF_STX | BPF_MEM | BPF_W, base, src, off, 0); }
    void exit() { raw(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
    void return0() {
        alu32_imm(BPF_MOV, kA, 0);
        exit();
    }
    // A jump (conditional or not) to classic instruction `target`; the
    // offset is filled in once every instruction's place is known.
    void jump_to(uint8_t opcode, uint8_t dst, uint8_t src, int32_t imm, uint32_t target) {
        fixups.push_back({out.size(), target});
        raw(opcode, dst, src, 0, imm);
    }
    // A local jump over the next `n` instructions.
    void skip(uint8_t opcode, uint8_t dst, int32_t imm, int16_t n) { raw(opcode, dst, 0, n, imm); }

    struct Fixup {
        size_t at;
        uint32_t target;
    };
    std::vector<bpfvm::Insn> out;
    std::vector<Fixup> fixups;
};

int16_t mem_slot(uint32_t k) { return static_cast<int16_t>(-(static_cast<int>(k) * 4 + 4)); }

// A = P[k:size] for an absolute offset, with Linux's negative areas.
void emit_abs_load(Emitter& e, uint16_t size, uint32_t k, bool linux) {
    const auto sk = static_cast<int32_t>(k);
    if (linux && sk < 0) {
        if (sk >= SKF_NET_OFF) {
            e.ldxw(kTmp, kCtx, kNetOffset);
            e.raw(BPF_LD | BPF_IND | size, 0, kTmp, 0, sk - SKF_NET_OFF);
        } else if (sk >= SKF_LL_OFF) {
            e.raw(BPF_LD | BPF_ABS | size, 0, 0, 0, sk - SKF_LL_OFF);
        } else {
            e.return0();
        }
        return;
    }
    e.raw(BPF_LD | BPF_ABS | size, 0, 0, 0, sk);
}

// A = P[X + k:size].
void emit_ind_load(Emitter& e, uint16_t size, uint32_t k, bool linux) {
    const auto sk = static_cast<int32_t>(k);
    if (linux && sk < 0) {
        // X + k may land in the SKF_NET_OFF or SKF_LL_OFF areas: map the
        // offset at run time, as Linux's bpf_skb_load_helper_convert_offset.
        e.raw(BPF_ALU | BPF_MOV | BPF_X, kTmp, kX, 0, 0);
        e.alu32_imm(BPF_ADD, kTmp, sk);
        e.skip(BPF_JMP32 | BPF_JSGE | BPF_K, kTmp, 0, 7);          // in the packet
        e.skip(BPF_JMP32 | BPF_JSLT | BPF_K, kTmp, SKF_NET_OFF, 4); // below the network area
        e.ldxw(kTmp2, kCtx, kNetOffset);
        e.alu32_imm(BPF_ADD, kTmp, -SKF_NET_OFF);
        e.alu32_reg(BPF_ADD, kTmp, kTmp2);
        e.skip(BPF_JMP | BPF_JA, 0, 0, 2);
        e.skip(BPF_JMP32 | BPF_JSLT | BPF_K, kTmp, SKF_LL_OFF, 1); // below both: stays negative, fails
        e.alu32_imm(BPF_ADD, kTmp, -SKF_LL_OFF);
        e.raw(BPF_LD | BPF_IND | size, 0, kTmp, 0, 0);
        return;
    }
    if (!linux && k != 0) {
        // libpcap: X + k beyond 2^32 is outside the packet (no wrap-around).
        e.skip(BPF_JMP32 | BPF_JLE | BPF_K, kX, static_cast<int32_t>(0xffffffffu - k), 2);
        e.return0();
    }
    e.raw(BPF_LD | BPF_IND | size, 0, kX, 0, sk);
}

Result<bool> emit_ancillary(Emitter& e, uint32_t k, int64_t at) {
    const uint32_t ad = k - static_cast<uint32_t>(SKF_AD_OFF);
    switch (ad) {
    case SKF_AD_PROTOCOL: case SKF_AD_PKTTYPE: case SKF_AD_IFINDEX: case SKF_AD_MARK: case SKF_AD_QUEUE:
    case SKF_AD_HATYPE: case SKF_AD_RXHASH: case SKF_AD_VLAN_TAG: case SKF_AD_VLAN_TAG_PRESENT:
    case SKF_AD_VLAN_TPID:
        e.ldxw(kA, kCtx, static_cast<int16_t>(ad));
        return true;
    case SKF_AD_ALU_XOR_X: e.alu32_reg(BPF_XOR, kA, kX); return false;
    case SKF_AD_CPU:
        e.raw(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_smp_processor_id);
        e.raw(BPF_ALU | BPF_MOV | BPF_X, kA, kA, 0, 0);
        return false;
    case SKF_AD_RANDOM:
        e.raw(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_prandom_u32);
        e.raw(BPF_ALU | BPF_MOV | BPF_X, kA, kA, 0, 0);
        return false;
    case SKF_AD_NLATTR:
    case SKF_AD_NLATTR_NEST:
        return make_error(fmt::format("ancillary load {} (SKF_AD_OFF+{}) is not supported: bpfvm's packets carry no "
                                      "netlink messages",
                                      ancillary_name(k), ad),
                          at);
    case SKF_AD_PAY_OFFSET:
        return make_error("ancillary load poff (SKF_AD_PAY_OFFSET) is not supported: it needs Linux's flow dissector",
                          at);
    default: return make_error(fmt::format("unknown ancillary load SKF_AD_OFF+{}", ad), at);
    }
}

} // namespace

Result<Translation> translate(std::span<const Insn> p, Dialect dialect) {
    const bool linux = dialect == Dialect::Linux;
    Translation t;
    Emitter e;
    const size_t n = p.size();
    std::vector<uint32_t> addrs(n + 1, 0);

    // Prologue: A = X = 0, the context in r6.
    e.alu32_reg(BPF_XOR, kA, kA);
    e.alu32_reg(BPF_XOR, kX, kX);
    e.mov64_reg(kCtx, 1);
    bool loops = false;
    for (size_t i = 0; i < n; i++)
        if (p[i].code == (BPF_JMP | BPF_JA) && static_cast<uint32_t>(i + 1 + p[i].k) <= i) loops = true;
    t.has_loops = loops;
    if (!linux) {
        // libpcap does not refuse reads of M[] before writes; such cells read 0 here.
        uint16_t cells = 0;
        if (loops) {
            for (const Insn& in : p)
                if (in.code == (BPF_LD | BPF_MEM) || in.code == (BPF_LDX | BPF_MEM)) cells |= uint16_t(1u << in.k);
        } else {
            cells = cells_read_unwritten(p);
        }
        for (uint32_t c = 0; c < kMemWords; c++)
            if (cells & (1u << c)) e.raw(BPF_ST | BPF_MEM | BPF_W, kFp, 0, mem_slot(c), 0);
    }

    for (size_t i = 0; i < n; i++) {
        const Insn& in = p[i];
        const auto at = static_cast<int64_t>(i);
        addrs[i] = static_cast<uint32_t>(e.out.size());
        const uint16_t code = in.code;
        const uint32_t k = in.k;
        switch (BPF_CLASS(code)) {
        case BPF_ALU: {
            const uint8_t op = BPF_OP(code);
            if (op == BPF_NEG) {
                e.raw(BPF_ALU | BPF_NEG, kA, 0, 0, 0);
                break;
            }
            if (BPF_SRC(code) == BPF_K) {
                e.alu32_imm(op, kA, static_cast<int32_t>(k));
                break;
            }
            if (op == BPF_DIV || op == BPF_MOD) {
                // Division by X = 0: the program returns 0 (Linux and libpcap).
                e.skip(BPF_JMP | BPF_JNE | BPF_K, kX, 0, 2);
                e.return0();
            }
            if (!linux && (op == BPF_LSH || op == BPF_RSH)) {
                // libpcap 1.10: a shift by X >= 32 gives 0.
                e.skip(BPF_JMP32 | BPF_JLT | BPF_K, kX, 32, 2);
                e.alu32_imm(BPF_MOV, kA, 0);
                e.skip(BPF_JMP | BPF_JA, 0, 0, 1);
            }
            e.alu32_reg(op, kA, kX);
            break;
        }
        case BPF_LD:
            switch (BPF_MODE(code)) {
            case BPF_ABS:
                if (linux && k >= static_cast<uint32_t>(SKF_AD_OFF)) {
                    auto meta = emit_ancillary(e, k, at);
                    if (!meta) return tl::unexpected(meta.error());
                    t.uses_metadata |= *meta;
                } else {
                    emit_abs_load(e, BPF_SIZE(code), k, linux);
                }
                break;
            case BPF_IND: emit_ind_load(e, BPF_SIZE(code), k, linux); break;
            case BPF_LEN: e.ldxw(kA, kCtx, kLenOffset); break;
            case BPF_IMM: e.alu32_imm(BPF_MOV, kA, static_cast<int32_t>(k)); break;
            case BPF_MEM: e.ldxw(kA, kFp, mem_slot(k)); break;
            default: return make_error(fmt::format("unknown opcode 0x{:02x}", code), at);
            }
            break;
        case BPF_LDX:
            switch (BPF_MODE(code)) {
            case BPF_LEN: e.ldxw(kX, kCtx, kLenOffset); break;
            case BPF_IMM: e.alu32_imm(BPF_MOV, kX, static_cast<int32_t>(k)); break;
            case BPF_MEM: e.ldxw(kX, kFp, mem_slot(k)); break;
            case BPF_ABS:
                // seccomp (seccomp_check_filter rewrites ld [k] to this):
                // A = *(u32 *)(ctx + k).
                if (BPF_SIZE(code) != BPF_W || k >= 0x8000)
                    return make_error(fmt::format("unknown opcode 0x{:02x}", code), at);
                e.ldxw(kA, kCtx, static_cast<int16_t>(k));
                break;
            case BPF_MSH:
                // X = 4 * (P[k] & 0xf); the load goes through r0, so A is
                // kept in X meanwhile (as Linux does).
                e.mov64_reg(kX, kA);
                emit_abs_load(e, BPF_B, k, linux);
                e.alu32_imm(BPF_AND, kA, 0xf);
                e.alu32_imm(BPF_LSH, kA, 2);
                e.mov64_reg(kTmp, kX);
                e.mov64_reg(kX, kA);
                e.mov64_reg(kA, kTmp);
                break;
            default: return make_error(fmt::format("unknown opcode 0x{:02x}", code), at);
            }
            break;
        case BPF_ST: e.stxw(kFp, mem_slot(k), kA); break;
        case BPF_STX: e.stxw(kFp, mem_slot(k), kX); break;
        case BPF_MISC:
            if (BPF_MISCOP(code) == BPF_TAX) e.mov64_reg(kX, kA);
            else e.mov64_reg(kA, kX);
            break;
        case BPF_RET:
            if (BPF_RVAL(code) == BPF_K) e.alu32_imm(BPF_MOV, kA, static_cast<int32_t>(k));
            e.exit();
            break;
        case BPF_JMP: {
            const uint8_t op = BPF_OP(code);
            if (op == BPF_JA) {
                e.jump_to(BPF_JMP | BPF_JA, 0, 0, 0, static_cast<uint32_t>(i + 1 + k));
                break;
            }
            uint8_t cls = BPF_JMP, src = 0, srcbit = BPF_K;
            int32_t imm = static_cast<int32_t>(k);
            if (BPF_SRC(code) == BPF_X) {
                src = kX;
                srcbit = BPF_X;
                imm = 0;
            } else if (imm < 0) {
                // eBPF sign-extends a 64-bit jump's immediate; A is 32 bits:
                // compare 32 bits (Linux moves k to a register instead).
                cls = BPF_JMP32;
            }
            const auto jt = static_cast<uint32_t>(i + 1 + in.jt), jf = static_cast<uint32_t>(i + 1 + in.jf);
            if (in.jf == 0) {
                e.jump_to(cls | op | srcbit, kA, src, imm, jt);
                break;
            }
            if (in.jt == 0 && op != BPF_JSET) {
                const uint8_t inv = op == BPF_JEQ ? BPF_JNE : op == BPF_JGT ? BPF_JLE : BPF_JLT;
                e.jump_to(cls | inv | srcbit, kA, src, imm, jf);
                break;
            }
            e.jump_to(cls | op | srcbit, kA, src, imm, jt);
            e.jump_to(BPF_JMP | BPF_JA, 0, 0, 0, jf);
            break;
        }
        default: return make_error(fmt::format("unknown opcode 0x{:02x}", code), at);
        }
    }
    addrs[n] = static_cast<uint32_t>(e.out.size());
    for (const auto& f : e.fixups) {
        if (f.target >= n) return make_error(fmt::format("jump to instruction {}, outside the program", f.target));
        const int64_t off = int64_t(addrs[f.target]) - int64_t(f.at) - 1;
        if (off < INT16_MIN || off > INT16_MAX)
            return make_error(fmt::format("the translated jump to instruction {} spans {} eBPF instructions: at most "
                                          "32767",
                                          f.target, off));
        e.out[f.at].off = static_cast<int16_t>(off);
    }
    t.insns = std::move(e.out);
    return t;
}

Result<std::vector<bpfvm::Insn>> to_ebpf(std::span<const Insn> program, Dialect dialect) {
    if (auto ok = check(program, dialect); !ok) return tl::unexpected(ok.error());
    auto t = translate(program, dialect);
    if (!t) return tl::unexpected(t.error());
    return std::move(t->insns);
}

} // namespace bpfvm::cbpf
