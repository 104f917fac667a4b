// Shared pieces of the libFuzzer targets: the disassemble/reassemble round
// trip, and an instruction-aware mutator that keeps most mutants decodable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"
#include "bpfvm/program.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace bpfvm::fuzz {

inline std::string hex_slots(std::span<const Insn> slots) {
    std::string out;
    for (const Insn& in : slots) {
        const auto* b = reinterpret_cast<const uint8_t*>(&in);
        char buf[4];
        for (int i = 0; i < 8; i++) {
            std::snprintf(buf, sizeof buf, "%02x%s", b[i], i < 7 ? " " : "");
            out += buf;
        }
        out += " | ";
    }
    return out;
}

[[noreturn]] inline void finding(const std::string& what) {
    std::fprintf(stderr, "\n==== FUZZ FINDING ====\n%s\n======================\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

inline const char* syntax_name(Syntax s) { return s == Syntax::Llvm ? "llvm" : "conformance"; }

// Whether `second` is a second half that check_program accepts after `first`
// (an lddw): only then does the text carry all of its bits.
inline bool valid_second_half(const Insn& first, const Insn& second) {
    if (second.opcode != 0 || second.dst != 0 || second.src != 0 || second.off != 0) return false;
    auto src = static_cast<Pseudo>(first.src);
    if ((src == Pseudo::MapFd || src == Pseudo::MapIdx || src == Pseudo::Func) && second.imm != 0) return false;
    return true;
}

// Disassembles the instruction at `at` (one slot, or an lddw and its second
// half) in `syntax`, reassembles the text, and aborts unless the result is
// the same slots.
inline void check_roundtrip(std::span<const Insn> at, Syntax syntax) {
    std::string text = disassemble_insn(at, syntax);
    if (text == "<unknown>")
        finding("disassemble_insn printed <unknown> for a decodable instruction\n  slots: " + hex_slots(at) +
                "\n  syntax: " + syntax_name(syntax));
    auto back = assemble(text);
    if (!back)
        finding("disassembled text does not reassemble\n  slots: " + hex_slots(at) + "\n  syntax: " +
                syntax_name(syntax) + "\n  text: " + text + "\n  error: " + back.error().to_string());
    bool same = back->size() == at.size();
    for (size_t i = 0; same && i < at.size(); i++) same = (*back)[i] == at[i];
    if (!same)
        finding("disassemble -> assemble is not the identity\n  slots:       " + hex_slots(at) +
                "\n  syntax:      " + syntax_name(syntax) + "\n  text:        " + text +
                "\n  reassembled: " + hex_slots(*back));
}

// Round trip of every decodable slot of `insns` in both syntaxes.
inline void check_all_roundtrips(std::span<const Insn> insns) {
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = find_op(insns[i]);
        if (!info) continue;
        if (info->form == Form::LdImm64) {
            if (i + 1 >= insns.size()) {
                // No second slot: the disassembler must say so, not read past the end.
                if (disassemble_insn(insns.subspan(i, 1)) != "<unknown>")
                    finding("disassemble_insn printed a one-slot lddw: " + hex_slots(insns.subspan(i, 1)));
                continue;
            }
            // Without a well-formed second half the text cannot carry all bits;
            // still print it (must not crash).
            if (!valid_second_half(insns[i], insns[i + 1])) {
                (void)disassemble_insn(insns.subspan(i, 2), Syntax::Llvm);
                (void)disassemble_insn(insns.subspan(i, 2), Syntax::Conformance);
                continue;
            }
            check_roundtrip(insns.subspan(i, 2), Syntax::Llvm);
            check_roundtrip(insns.subspan(i, 2), Syntax::Conformance);
            continue; // the second half is looked at as a slot of its own too (it never decodes)
        }
        check_roundtrip(insns.subspan(i, 1), Syntax::Llvm);
        check_roundtrip(insns.subspan(i, 1), Syntax::Conformance);
    }
}

// Whether every slot decodes (lddw with a well-formed second half), so that a
// listing of the slots carries all of their bits.
inline bool listable(std::span<const Insn> insns) {
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = find_op(insns[i]);
        if (!info) return false;
        if (info->form == Form::LdImm64) {
            if (i + 1 >= insns.size() || !valid_second_half(insns[i], insns[i + 1])) return false;
            i++;
        }
    }
    return true;
}

// A whole listing (as llvm-objdump prints it: indices, raw bytes, function
// symbols; or bare) must reassemble to the same slots.
inline void check_listing_roundtrip(std::span<const Insn> insns, std::span<const int64_t> functions) {
    for (Syntax syntax : {Syntax::Llvm, Syntax::Conformance}) {
        for (int variant = 0; variant < 2; variant++) {
            ListingOptions opts;
            opts.syntax = syntax;
            opts.raw_bytes = variant == 0;
            opts.indices = variant == 0;
            if (variant == 0)
                for (size_t f = 0; f < functions.size(); f++)
                    opts.symbols[static_cast<uint64_t>(functions[f])] = "fn" + std::to_string(f);
            std::string text = disassemble(insns, opts);
            auto back = assemble(text);
            if (!back)
                finding(std::string("listing does not reassemble\n  syntax: ") + syntax_name(syntax) +
                        " variant " + std::to_string(variant) + "\n  error: " + back.error().to_string() +
                        "\n  listing:\n" + text);
            bool same = back->size() == insns.size();
            size_t diff = 0;
            for (; same && diff < insns.size(); diff++)
                if (!((*back)[diff] == insns[diff])) same = false;
            if (!same)
                finding(std::string("listing reassembles to different slots\n  syntax: ") + syntax_name(syntax) +
                        " variant " + std::to_string(variant) + "\n  sizes " + std::to_string(insns.size()) +
                        " -> " + std::to_string(back->size()) + ", first difference at slot " +
                        std::to_string(diff ? diff - 1 : 0) + "\n  listing:\n" + text);
        }
    }
}

inline void check_listing_roundtrip(const Program& prog) { check_listing_roundtrip(prog.insns(), prog.functions()); }

// ---------------------------------------------------------------------------
// Instruction-aware mutation.

using Rng = std::minstd_rand;

inline int32_t interesting_imm(Rng& r) {
    static constexpr int32_t values[] = {0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 255,
                                         256, 512, -512, -8, -16, 0x7fff, -0x8000, 0xffff, 0x7fffffff,
                                         INT32_MIN, 0x10000, 0x12345678};
    if (r() % 4 == 0) return static_cast<int32_t>(r());
    return values[r() % std::size(values)];
}

inline uint8_t mem_base(Rng& r) {
    switch (r() % 10) {
    case 0: case 1: case 2: case 3: return 10; // stack
    case 4: case 5: case 6: return 1;          // the memory
    default: return static_cast<uint8_t>(r() % 11);
    }
}

inline int16_t mem_off(Rng& r, unsigned size, bool stack) {
    if (size == 0) size = 1;
    if (stack) return static_cast<int16_t>(-static_cast<int>(size) * static_cast<int>(1 + r() % (512 / size)));
    switch (r() % 4) {
    case 0: return static_cast<int16_t>(r());
    default: return static_cast<int16_t>(size * (r() % 12));
    }
}

inline int64_t rel_to(Rng& r, int64_t index, int64_t n) {
    if (n <= 0) return 0;
    int64_t target = static_cast<int64_t>(r() % static_cast<uint64_t>(n + 1));
    if (r() % 4 == 0) target = index + 1 + static_cast<int64_t>(r() % 5) - 2; // near
    return target - index - 1;
}

inline int32_t field_value(Rng& r, FieldRule rule, int32_t any) {
    switch (rule.kind) {
    case FieldRule::Zero: return 0;
    case FieldRule::Equal: return rule.value;
    case FieldRule::Reg: return static_cast<int32_t>(r() % 11);
    case FieldRule::WReg: return static_cast<int32_t>(r() % 10);
    case FieldRule::Pseudo: {
        static constexpr int32_t p[] = {0, 0, 0, 0, 4, 4, 1, 2, 3, 5, 6};
        return p[r() % std::size(p)];
    }
    case FieldRule::Any: return any;
    }
    return 0;
}

// A random instruction that matches `info`'s row, for slot `index` of an
// n-slot program. Writes one slot, or two for lddw.
inline std::vector<Insn> make_insn(Rng& r, const OpInfo& info, int64_t index, int64_t n) {
    Insn in;
    in.opcode = info.opcode;
    bool is_mem = false, base_is_dst = false;
    switch (info.form) {
    case Form::Ldx: case Form::LdxSx: case Form::LoadAcq: is_mem = true; break;
    case Form::St: case Form::Stx: case Form::Atomic: case Form::AtomicFetch: case Form::AtomicXchg:
    case Form::AtomicCmpxchg: case Form::StoreRel: is_mem = base_is_dst = true; break;
    default: break;
    }
    in.dst = static_cast<uint8_t>(field_value(r, info.dst, 0) & 0xf);
    in.src = static_cast<uint8_t>(field_value(r, info.src, 0) & 0xf);
    int32_t off_any = static_cast<int16_t>(interesting_imm(r));
    int32_t imm_any = interesting_imm(r);
    switch (info.form) {
    case Form::Ja: case Form::JmpK: case Form::JmpX: case Form::MayGoto:
        off_any = static_cast<int16_t>(rel_to(r, index, n));
        break;
    case Form::Gotol: case Form::CallLocal: imm_any = static_cast<int32_t>(rel_to(r, index, n)); break;
    case Form::Call: {
        static constexpr int32_t helpers[] = {1, 5, 8, 5, 1, 7, 0, 2};
        imm_any = helpers[r() % std::size(helpers)];
        break;
    }
    case Form::CallKfunc: imm_any = 1 + static_cast<int32_t>(r() % 2); off_any = 0; break;
    case Form::Endian: break;
    default: break;
    }
    if (is_mem) {
        uint8_t base = mem_base(r);
        if (base_is_dst && info.dst.kind == FieldRule::Reg) in.dst = base;
        if (!base_is_dst && info.src.kind == FieldRule::Reg) in.src = base;
        off_any = mem_off(r, info.size, base == 10);
    }
    in.off = static_cast<int16_t>(field_value(r, info.off, off_any));
    in.imm = field_value(r, info.imm, imm_any);
    if (info.form != Form::LdImm64) return {in};
    Insn second;
    auto src = static_cast<Pseudo>(in.src);
    if (src == Pseudo::Func) in.imm = static_cast<int32_t>(rel_to(r, index, n));
    if (src != Pseudo::MapFd && src != Pseudo::MapIdx && src != Pseudo::Func) second.imm = interesting_imm(r);
    return {in, second};
}

inline std::vector<Insn> random_insn(Rng& r, int64_t index, int64_t n) {
    auto table = op_table();
    const OpInfo& info = table[r() % table.size()];
    return make_insn(r, info, index, n);
}

inline Insn exit_insn() {
    Insn in;
    in.opcode = BPF_JMP | BPF_EXIT;
    return in;
}

// Mutates the bytecode part data[code_begin, size) slot-wise; the bytes
// before code_begin are left alone. Returns the new size (<= max_size).
inline size_t mutate_code(uint8_t* data, size_t size, size_t max_size, size_t code_begin, unsigned seed) {
    Rng r(seed);
    if (code_begin > size || code_begin >= max_size) return LLVMFuzzerMutate(data, size, max_size);
    size_t max_slots = (max_size - code_begin) / 8;
    std::vector<Insn> code = insns_from_bytes(std::span<const uint8_t>(data + code_begin, size - code_begin));
    auto pos = [&](int64_t limit) { return limit <= 0 ? 0 : static_cast<int64_t>(r() % static_cast<uint64_t>(limit)); };
    int steps = 1 + static_cast<int>(r() % 3);
    for (int s = 0; s < steps; s++) {
        int64_t m = static_cast<int64_t>(code.size());
        switch (r() % 9) {
        case 0: { // replace a slot
            if (m == 0) break;
            int64_t i = pos(m);
            auto ins = random_insn(r, i, m);
            for (size_t k = 0; k < ins.size(); k++)
                if (i + static_cast<int64_t>(k) < m) code[i + k] = ins[k];
                else code.push_back(ins[k]);
            break;
        }
        case 1: case 2: { // insert a slot
            int64_t i = pos(m + 1);
            auto ins = random_insn(r, i, m + 1);
            code.insert(code.begin() + i, ins.begin(), ins.end());
            break;
        }
        case 3: { // delete slots
            if (m == 0) break;
            int64_t i = pos(m);
            int64_t k = std::min<int64_t>(m - i, 1 + pos(2));
            code.erase(code.begin() + i, code.begin() + i + k);
            break;
        }
        case 4: { // tweak one field
            if (m == 0) break;
            Insn& in = code[pos(m)];
            switch (r() % 5) {
            case 0: in.dst = static_cast<uint8_t>(r() % 11); break;
            case 1: in.src = static_cast<uint8_t>(r() % 11); break;
            case 2: in.off = static_cast<int16_t>(in.off + static_cast<int>(r() % 9) - 4); break;
            case 3: in.imm = interesting_imm(r); break;
            default: in.off = static_cast<int16_t>(interesting_imm(r)); break;
            }
            break;
        }
        case 5: { // end with exit
            if (m > 0 && r() % 2) code[m - 1] = exit_insn();
            else code.push_back(exit_insn());
            break;
        }
        case 6: { // duplicate a run of slots elsewhere
            if (m == 0) break;
            int64_t from = pos(m), len = std::min<int64_t>(m - from, 1 + pos(8)), to = pos(m + 1);
            std::vector<Insn> run(code.begin() + from, code.begin() + from + len);
            code.insert(code.begin() + to, run.begin(), run.end());
            break;
        }
        case 7: { // swap two slots
            if (m < 2) break;
            std::swap(code[pos(m)], code[pos(m)]);
            break;
        }
        default: { // a byte-level mutation of the code part
            std::vector<uint8_t> bytes = insns_to_bytes(code);
            size_t cap = std::max<size_t>(bytes.size() + 16, 64);
            bytes.resize(cap);
            size_t len = LLVMFuzzerMutate(bytes.data(), code.size() * 8, cap);
            bytes.resize(len);
            code = insns_from_bytes(bytes);
            break;
        }
        }
    }
    if (code.size() > max_slots) code.resize(max_slots);
    std::vector<uint8_t> bytes = insns_to_bytes(code);
    if (!bytes.empty()) std::memcpy(data + code_begin, bytes.data(), bytes.size());
    return code_begin + bytes.size();
}

} // namespace bpfvm::fuzz
