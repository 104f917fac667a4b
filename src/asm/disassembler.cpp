// The disassembler: one printer per syntax, driven by the opcode table's forms.
#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"

namespace bpfvm {

namespace {

const char* size_type(unsigned bytes, bool is_signed = false) {
    switch (bytes) {
    case 1: return is_signed ? "s8" : "u8";
    case 2: return is_signed ? "s16" : "u16";
    case 4: return is_signed ? "s32" : "u32";
    default: return is_signed ? "s64" : "u64";
    }
}

std::string signed_offset(int64_t off) { return off < 0 ? fmt::format("- {}", -off) : fmt::format("+ {}", off); }
std::string rel(int64_t off) { return fmt::format("{:+d}", off); }

// "(r1 + 4)" in LLVM syntax.
std::string mem_operand(int reg, int off) { return fmt::format("(r{} {})", reg, signed_offset(off)); }

uint64_t lddw_value(std::span<const Insn> at) {
    return static_cast<uint32_t>(at[0].imm) | (static_cast<uint64_t>(static_cast<uint32_t>(at[1].imm)) << 32);
}

std::string pseudo_llvm(const Insn& a, const Insn& b) {
    uint32_t second = static_cast<uint32_t>(b.imm);
    switch (static_cast<Pseudo>(a.src)) {
    case Pseudo::MapFd: return fmt::format("map[fd:{}]", a.imm);
    case Pseudo::MapValue: return fmt::format("map[fd:{}][0]+{}", a.imm, second);
    case Pseudo::MapIdx: return fmt::format("map[idx:{}]", a.imm);
    case Pseudo::MapIdxValue: return fmt::format("map[idx:{}][0]+{}", a.imm, second);
    case Pseudo::BtfId:
        return second ? fmt::format("btf_id[{}][fd:{}]", a.imm, second) : fmt::format("btf_id[{}]", a.imm);
    case Pseudo::Func: return fmt::format("func[pc{}]", rel(a.imm));
    case Pseudo::Imm: break;
    }
    return {};
}

std::string pseudo_conformance(const Insn& a, const Insn& b) {
    uint32_t second = static_cast<uint32_t>(b.imm);
    switch (static_cast<Pseudo>(a.src)) {
    case Pseudo::MapFd: return fmt::format("map_fd({})", a.imm);
    case Pseudo::MapValue: return fmt::format("map_value({}, {})", a.imm, second);
    case Pseudo::MapIdx: return fmt::format("map_idx({})", a.imm);
    case Pseudo::MapIdxValue: return fmt::format("map_idx_value({}, {})", a.imm, second);
    case Pseudo::BtfId: return second ? fmt::format("btf_id({}, {})", a.imm, second) : fmt::format("btf_id({})", a.imm);
    case Pseudo::Func: return fmt::format("func({})", rel(a.imm));
    case Pseudo::Imm: break;
    }
    return {};
}

std::string llvm_text(const OpInfo& info, std::span<const Insn> at) {
    const Insn& in = at[0];
    const char r = info.size == 32 ? 'w' : 'r';
    switch (info.form) {
    case Form::AluK: return fmt::format("{}{} {} {}", r, in.dst, info.symbol, in.imm);
    case Form::AluX: return fmt::format("{}{} {} {}{}", r, in.dst, info.symbol, r, in.src);
    case Form::Neg: return fmt::format("{0}{1} = -{0}{1}", r, in.dst);
    case Form::MovSx: {
        char w = info.opcode == (BPF_ALU | BPF_MOV | BPF_X) ? 'w' : 'r';
        return fmt::format("{}{} = ({}){}{}", w, in.dst, info.symbol, w, in.src);
    }
    case Form::Endian: return fmt::format("r{0} = {1} r{0}", in.dst, info.symbol);
    case Form::Ja: return fmt::format("goto {}", rel(in.off));
    case Form::Gotol: return fmt::format("gotol {}", rel(in.imm));
    case Form::JmpK: return fmt::format("if {}{} {} {} goto {}", r, in.dst, info.symbol, in.imm, rel(in.off));
    case Form::JmpX: return fmt::format("if {0}{1} {2} {0}{3} goto {4}", r, in.dst, info.symbol, in.src, rel(in.off));
    case Form::Call: return fmt::format("call {}", in.imm);
    case Form::CallLocal: return fmt::format("call pc{}", rel(in.imm));
    case Form::CallKfunc:
        return in.off ? fmt::format("call kfunc#{}@{}", static_cast<uint32_t>(in.imm), in.off)
                      : fmt::format("call kfunc#{}", static_cast<uint32_t>(in.imm));
    case Form::CallX: return fmt::format("callx r{}", in.dst);
    case Form::Exit: return "exit";
    case Form::MayGoto: return fmt::format("may_goto {}", rel(in.off));
    case Form::LdImm64:
        if (in.src == 0) return fmt::format("r{} = {} ll", in.dst, static_cast<int64_t>(lddw_value(at)));
        return fmt::format("r{} = {} ll", in.dst, pseudo_llvm(at[0], at[1]));
    case Form::LdAbs: return fmt::format("r0 = *({} *)skb[{}]", size_type(info.size), in.imm);
    case Form::LdInd:
        if (in.imm == 0) return fmt::format("r0 = *({} *)skb[r{}]", size_type(info.size), in.src);
        return fmt::format("r0 = *({} *)skb[r{} {}]", size_type(info.size), in.src, signed_offset(in.imm));
    case Form::Ldx: return fmt::format("r{} = *({} *){}", in.dst, size_type(info.size), mem_operand(in.src, in.off));
    case Form::LdxSx:
        return fmt::format("r{} = *({} *){}", in.dst, size_type(info.size, true), mem_operand(in.src, in.off));
    case Form::St: return fmt::format("*({} *){} = {}", size_type(info.size), mem_operand(in.dst, in.off), in.imm);
    case Form::Stx:
        return fmt::format("*({} *){} = r{}", size_type(info.size), mem_operand(in.dst, in.off), in.src);
    case Form::Atomic:
        return fmt::format("lock *({} *){} {} r{}", size_type(info.size), mem_operand(in.dst, in.off), info.symbol,
                           in.src);
    case Form::AtomicFetch: {
        char w = info.size == 4 ? 'w' : 'r';
        return fmt::format("{0}{1} = {2}(({3} *){4}, {0}{1})", w, in.src, info.symbol, size_type(info.size),
                           mem_operand(in.dst, in.off));
    }
    case Form::AtomicXchg:
        if (info.size == 4)
            return fmt::format("w{0} = xchg32_32(r{1} {2}, w{0})", in.src, in.dst, signed_offset(in.off));
        return fmt::format("r{0} = xchg_64(r{1} {2}, r{0})", in.src, in.dst, signed_offset(in.off));
    case Form::AtomicCmpxchg:
        if (info.size == 4)
            return fmt::format("w0 = cmpxchg32_32(r{} {}, w0, w{})", in.dst, signed_offset(in.off), in.src);
        return fmt::format("r0 = cmpxchg_64(r{} {}, r0, r{})", in.dst, signed_offset(in.off), in.src);
    case Form::LoadAcq:
        return fmt::format("{}{} = load_acquire(({} *){})", info.size == 8 ? 'r' : 'w', in.dst, size_type(info.size),
                           mem_operand(in.src, in.off));
    case Form::StoreRel:
        return fmt::format("store_release(({} *){}, {}{})", size_type(info.size), mem_operand(in.dst, in.off),
                           info.size == 8 ? 'r' : 'w', in.src);
    }
    return "<unknown>";
}

std::string conf_mem(int reg, int off) { return fmt::format("[%r{}{:+d}]", reg, off); }

std::string conformance_text(const OpInfo& info, std::span<const Insn> at) {
    const Insn& in = at[0];
    switch (info.form) {
    case Form::AluK: return fmt::format("{} %r{}, {}", info.mnemonic, in.dst, in.imm);
    case Form::AluX: return fmt::format("{} %r{}, %r{}", info.mnemonic, in.dst, in.src);
    case Form::Neg: return fmt::format("{} %r{}", info.mnemonic, in.dst);
    case Form::MovSx: return fmt::format("{} %r{}, %r{}", info.mnemonic, in.dst, in.src);
    case Form::Endian: return fmt::format("{} %r{}", info.mnemonic, in.dst);
    case Form::Ja: return fmt::format("ja {}", rel(in.off));
    case Form::Gotol: return fmt::format("ja32 {}", rel(in.imm));
    case Form::JmpK: return fmt::format("{} %r{}, {}, {}", info.mnemonic, in.dst, in.imm, rel(in.off));
    case Form::JmpX: return fmt::format("{} %r{}, %r{}, {}", info.mnemonic, in.dst, in.src, rel(in.off));
    case Form::Call: return fmt::format("call {}", in.imm);
    case Form::CallLocal: return fmt::format("call local {}", rel(in.imm));
    case Form::CallKfunc:
        return in.off ? fmt::format("call kfunc {}, {}", static_cast<uint32_t>(in.imm), in.off)
                      : fmt::format("call kfunc {}", static_cast<uint32_t>(in.imm));
    case Form::CallX: return fmt::format("call %r{}", in.dst);
    case Form::Exit: return "exit";
    case Form::MayGoto: return fmt::format("may_goto {}", rel(in.off));
    case Form::LdImm64:
        if (in.src == 0) return fmt::format("lddw %r{}, {:#x}", in.dst, lddw_value(at));
        return fmt::format("lddw %r{}, {}", in.dst, pseudo_conformance(at[0], at[1]));
    case Form::LdAbs: return fmt::format("{} {}", info.mnemonic, in.imm);
    case Form::LdInd: return fmt::format("{} %r{}, {}", info.mnemonic, in.src, in.imm);
    case Form::Ldx:
    case Form::LdxSx:
    case Form::LoadAcq: return fmt::format("{} %r{}, {}", info.mnemonic, in.dst, conf_mem(in.src, in.off));
    case Form::St: return fmt::format("{} {}, {}", info.mnemonic, conf_mem(in.dst, in.off), in.imm);
    case Form::Stx:
    case Form::StoreRel:
    case Form::Atomic:
    case Form::AtomicFetch:
    case Form::AtomicXchg:
    case Form::AtomicCmpxchg: return fmt::format("{} {}, %r{}", info.mnemonic, conf_mem(in.dst, in.off), in.src);
    }
    return "<unknown>";
}

} // namespace

std::string disassemble_insn(std::span<const Insn> at, Syntax syntax) {
    if (at.empty()) return "<unknown>";
    const OpInfo* info = find_op(at[0]);
    if (!info) return "<unknown>";
    if (info->form == Form::LdImm64 && at.size() < 2) return "<unknown>";
    return syntax == Syntax::Llvm ? llvm_text(*info, at) : conformance_text(*info, at);
}

std::string disassemble(std::span<const Insn> insns, const ListingOptions& options) {
    std::string out;
    for (size_t i = 0; i < insns.size(); i++) {
        uint64_t index = options.first_index + i;
        if (auto it = options.symbols.find(index); it != options.symbols.end())
            out += fmt::format("{}{:016x} <{}>:\n", out.empty() ? "" : "\n", index * 8, it->second);
        const OpInfo* info = find_op(insns[i]);
        bool wide = info && info->form == Form::LdImm64 && i + 1 < insns.size();
        std::string text = disassemble_insn(insns.subspan(i, wide ? 2 : 1), options.syntax);
        if (info && options.syntax == Syntax::Llvm && !options.symbols.empty()) {
            if (auto t = branch_target(*info, insns[i], static_cast<int64_t>(index));
                t && info->form != Form::CallLocal && info->form != Form::LdImm64) {
                if (auto it = options.symbols.find(static_cast<uint64_t>(*t)); it != options.symbols.end())
                    text += fmt::format(" <{}>", it->second);
            }
        }
        std::string line;
        if (options.indices) line += fmt::format("{:>8}:\t", index);
        if (options.raw_bytes) {
            const auto* bytes = reinterpret_cast<const uint8_t*>(&insns[i]);
            for (size_t b = 0; b < (wide ? 16u : 8u); b++) line += fmt::format("{:02x}{}", bytes[b], b + 1 < (wide ? 16u : 8u) ? " " : "");
            line += "\t";
        }
        out += line + text + "\n";
        if (wide) i++;
    }
    return out;
}

} // namespace bpfvm
