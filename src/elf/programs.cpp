// Programs: the functions of executable sections, their relocations (calls,
// function addresses, maps, global data), and linking an entry point with the
// .text subprograms it reaches, as libbpf does (bpf_object__reloc_code).
#include <algorithm>

#include <fmt/format.h>
#include <gelf.h>
#include <linux/bpf.h>

#include "internal.h"

namespace bpfvm::elf_detail {

namespace {

bool is_call(const Insn& in) { return in.opcode == (BPF_JMP | BPF_CALL); }
bool is_lddw(const Insn& in) { return in.opcode == (BPF_LD | BPF_IMM | BPF_DW); }

} // namespace

long FunctionTable::find(uint32_t section, uint64_t insn) const {
    // Last function with (section, offset) <= (section, insn).
    auto it = std::upper_bound(functions.begin(), functions.end(), std::make_pair(section, insn),
                               [](const std::pair<uint32_t, uint64_t>& key, const Function& f) {
                                   return key.first < f.section || (key.first == f.section && key.second < f.offset);
                               });
    if (it == functions.begin()) return -1;
    --it;
    if (it->section != section || insn >= uint64_t(it->offset) + it->count) return -1;
    return it - functions.begin();
}

Result<void> ElfObjectReader::read_functions() {
    if (const ElfSection* text = obj_.find_section(".text"); text && text->executable() && !text->data.empty())
        table_.text_section = text->index;
    for (const ElfSection& sec : obj_.sections_) {
        if (!sec.executable() || sec.data.empty()) continue;
        if (sec.data.size() % sizeof(Insn) != 0)
            return fail("section {} is {} bytes: not a whole number of instructions", sec.name, sec.data.size());
        bool in_text = sec.index == table_.text_section;
        uint64_t size = sec.data.size();
        std::vector<Function> fns;
        for (const ElfSymbol& sym : obj_.symbols_) {
            if (sym.section != sec.index || sym.type != STT_FUNC) continue;
            if (sym.name.empty()) return fail("section {}: a function at offset {} has no name", sec.name, sym.value);
            if (sym.value % 8 != 0 || sym.size % 8 != 0 || sym.size == 0)
                return fail("section {}: function '{}' (offset {}, {} bytes) is not a whole number of instructions",
                            sec.name, sym.name, sym.value, sym.size);
            if (sym.value > size || sym.size > size - sym.value)
                return fail("section {}: function '{}' (offset {}, {} bytes) runs past the section's end ({} bytes)",
                            sec.name, sym.name, sym.value, sym.size, size);
            if (!in_text && sym.bind == STB_LOCAL)
                return fail("section {}: program '{}' is static: programs must be global functions (libbpf refuses "
                            "static ones)",
                            sec.name, sym.name);
            Function fn;
            fn.name = sym.name;
            fn.offset = static_cast<uint32_t>(sym.value / 8);
            fn.count = static_cast<uint32_t>(sym.size / 8);
            fns.push_back(std::move(fn));
        }
        if (fns.empty()) { // hand-written assembly: the section is one function
            Function fn;
            fn.name = sec.name;
            fn.offset = 0;
            fn.count = static_cast<uint32_t>(size / 8);
            fns.push_back(std::move(fn));
        }
        std::sort(fns.begin(), fns.end(), [](const Function& a, const Function& b) { return a.offset < b.offset; });
        for (size_t i = 1; i < fns.size(); i++)
            if (fns[i].offset < fns[i - 1].offset + fns[i - 1].count)
                return fail("section {}: functions '{}' and '{}' overlap", sec.name, fns[i - 1].name, fns[i].name);
        auto all = insns_from_bytes(sec.data);
        for (Function& fn : fns) {
            fn.section = sec.index;
            fn.section_name = sec.name;
            fn.in_text = in_text;
            fn.insns.assign(all.begin() + fn.offset, all.begin() + fn.offset + fn.count);
            if (auto r = attach_ext_info(fn); !r) return r;
            table_.functions.push_back(std::move(fn));
        }
    }
    for (const ElfSection& sec : obj_.sections_)
        if (sec.executable() && !sec.data.empty())
            if (auto r = relocate_section(sec); !r) return r;
    return {};
}

Result<void> ElfObjectReader::relocate_section(const ElfSection& sec) {
    for (size_t ri = 0; ri < sec.relocations.size(); ri++) {
        const ElfRelocation& r = sec.relocations[ri];
        const ElfSymbol& sym = obj_.symbols_[r.symbol];
        std::string name = symbol_display_name(sym);
        if (r.offset % 8 != 0 || r.offset >= sec.data.size())
            return fail("section {}: relocation {} against '{}' at offset {} is {}", sec.name, ri, name, r.offset,
                        r.offset % 8 != 0 ? "not on an instruction boundary"
                                          : fmt::format("past the section's end ({} bytes)", sec.data.size()));
        if (sym.section != SHN_UNDEF && sym.section < SHN_LORESERVE && !obj_.section_by_index(sym.section))
            return fail("section {}: relocation {} against '{}': its symbol is in section {}, which does not exist",
                        sec.name, ri, name, sym.section);
        uint64_t insn = r.offset / 8;
        long fi = table_.find(sec.index, insn);
        if (fi < 0) continue; // between functions (libbpf skips these too)
        Function& fn = table_.functions[fi];
        uint32_t local = static_cast<uint32_t>(insn - fn.offset);
        Insn& in = fn.insns[local];
        std::string where = fmt::format("section {}: relocation {} against '{}' at instruction {}", sec.name, ri, name,
                                        insn);
        if (!is_call(in) && !is_lddw(in))
            return fail("{}: the instruction (opcode 0x{:02x}) is neither lddw nor call", where, in.opcode);
        if (is_call(in)) {
            if (in.src != BPF_PSEUDO_CALL)
                return fail("{}: a call with a relocation must be a BPF-to-BPF call (src 1), not src {}", where, unsigned(in.src));
            if (!table_.text_section || sym.section != table_.text_section)
                return fail("{}: the callee is in section {}: subprograms must be in .text", where,
                            section_name(sym.section));
            if (sym.value % 8 != 0) return fail("{}: the callee's offset {} is not on an instruction", where, sym.value);
            fn.code_relocations.push_back(CodeRelocation{local, true, sym.value, name});
            continue;
        }
        // lddw
        if (local + 1 >= fn.count) return fail("{}: the lddw has no second half", where);
        if (sym.section == SHN_UNDEF || sym.section >= SHN_LORESERVE)
            return fail("{}: the symbol is in special section 0x{:x} (an uninitialised or common variable?)", where,
                        sym.section);
        bool subprog = sym.section == table_.text_section && table_.text_section &&
                       ((sym.bind == STB_LOCAL && sym.type == STT_SECTION) ||
                        ((sym.bind == STB_GLOBAL || sym.bind == STB_WEAK) && sym.type == STT_FUNC));
        if (subprog) {
            // clang leaves src 0: mark it, as libbpf does.
            in.src = BPF_PSEUDO_FUNC;
            if (sym.value % 8 != 0 || in.imm % 8 != 0)
                return fail("{}: the function address {}+{} is not on an instruction", where, sym.value, in.imm);
            fn.code_relocations.push_back(CodeRelocation{local, false, sym.value, name});
            continue;
        }
        if (sym.section == maps_section_ || sym.section == legacy_maps_section_) {
            auto it = map_at_.find({sym.section, sym.value});
            if (it == map_at_.end())
                return fail("{}: no map is defined at offset {} of section {}", where, sym.value,
                            section_name(sym.section));
            in.src = BPF_PSEUDO_MAP_FD;
            in.imm = static_cast<int32_t>(it->second);
            fn.map_references.push_back(ElfMapReference{local, static_cast<uint32_t>(it->second), false, 0, name});
            continue;
        }
        auto dm = data_map_.find(sym.section);
        if (dm == data_map_.end())
            return fail("{}: section {} is neither maps nor global data (.data*, .rodata*, .bss)", where,
                        section_name(sym.section));
        const ElfMapSpec& map = obj_.maps_[dm->second];
        int64_t off = int64_t(in.imm) + int64_t(sym.value);
        if (off < 0 || off >= int64_t(map.value_size))
            return fail("{}: offset {} is outside section {} ({} bytes)", where, off, map.section, map.value_size);
        Insn& second = fn.insns[local + 1];
        second.imm = static_cast<int32_t>(off);
        in.src = BPF_PSEUDO_MAP_VALUE;
        in.imm = static_cast<int32_t>(dm->second);
        fn.map_references.push_back(
            ElfMapReference{local, static_cast<uint32_t>(dm->second), true, static_cast<uint32_t>(off), name});
    }
    for (Function& fn : table_.functions)
        if (fn.section == sec.index)
            std::sort(fn.code_relocations.begin(), fn.code_relocations.end(),
                      [](const CodeRelocation& a, const CodeRelocation& b) { return a.insn < b.insn; });
    return {};
}

Result<void> ElfObjectReader::build_programs() {
    for (size_t i = 0; i < table_.functions.size(); i++) {
        const Function& fn = table_.functions[i];
        if (fn.in_text) continue;
        auto prog = link_program(table_, i, obj_.name_);
        if (!prog) return tl::unexpected(prog.error());
        obj_.programs_.push_back(std::move(*prog));
    }
    obj_.functions_ = std::make_shared<const FunctionTable>(std::move(table_));
    return {};
}

Result<ElfProgram> link_program(const FunctionTable& table, size_t entry, const std::string& object) {
    const auto& fns = table.functions;
    const Function& main = fns[entry];
    ElfProgram p;
    p.name = main.name;
    p.section = main.section_name;
    if (p.section.starts_with('?')) {
        p.section.erase(0, 1);
        p.autoload = false;
    }
    ElfSectionType st = section_program_type(p.section);
    p.prog_type = st.prog_type;
    p.expected_attach_type = st.expected_attach_type;
    p.attach_target = st.attach_target;
    p.prog_flags = st.prog_flags;
    p.section_insn = main.offset;
    p.function_insns = main.count;

    auto place = [&](const Function& fn, size_t base) {
        p.insns.insert(p.insns.end(), fn.insns.begin(), fn.insns.end());
        for (auto l : fn.lines) {
            l.insn += static_cast<uint32_t>(base);
            p.lines.push_back(std::move(l));
        }
        for (auto f : fn.funcs) {
            f.insn += static_cast<uint32_t>(base);
            p.funcs.push_back(std::move(f));
        }
        for (auto m : fn.map_references) {
            m.insn += static_cast<uint32_t>(base);
            p.map_references.push_back(std::move(m));
        }
    };
    auto err = [&](std::string why) {
        return make_error(fmt::format("{}: program '{}': {}", object, main.name, why));
    };

    std::vector<long> placed(fns.size(), -1);
    placed[entry] = 0;
    place(main, 0);
    struct Frame {
        size_t fn, base, next;
    };
    std::vector<Frame> stack{{entry, 0, 0}};
    while (!stack.empty()) {
        Frame& f = stack.back();
        const Function& fn = fns[f.fn];
        if (f.next >= fn.count) {
            stack.pop_back();
            continue;
        }
        size_t i = f.next++;
        size_t at = f.base + i;
        const Insn in = p.insns[at];
        bool call = is_call(in) && in.src == BPF_PSEUDO_CALL;
        bool func_addr = is_lddw(in) && in.src == BPF_PSEUDO_FUNC;
        if (!call && !func_addr) continue;
        auto rel = std::lower_bound(fn.code_relocations.begin(), fn.code_relocations.end(), i,
                                    [](const CodeRelocation& r, size_t v) { return r.insn < v; });
        bool has_rel = rel != fn.code_relocations.end() && rel->insn == i;
        std::string what = fmt::format("instruction {} (in {} '{}', section {}, instruction {})", at,
                                        fn.in_text ? "subprogram" : "function", fn.name, fn.section_name,
                                        fn.offset + i);
        int64_t target;
        uint32_t target_section;
        if (has_rel) {
            target_section = table.text_section;
            target = rel->call ? int64_t(rel->sym_off / 8) + in.imm + 1 : (int64_t(rel->sym_off) + in.imm) / 8;
        } else if (func_addr) {
            return err(what + ": an lddw of a function address without a relocation");
        } else {
            target = int64_t(fn.offset) + int64_t(i) + in.imm + 1;
            target_section = fn.section;
            if (target >= int64_t(fn.offset) && target < int64_t(fn.offset) + fn.count)
                continue; // a call inside the function itself: already relative
            if (fn.section != table.text_section)
                return err(what + fmt::format(": call to instruction {} of section {}, outside the function: "
                                              "subprograms must be in .text",
                                              target, fn.section_name));
        }
        long t = target < 0 ? -1 : table.find(target_section, static_cast<uint64_t>(target));
        if (t < 0)
            return err(what + fmt::format(": {} instruction {} of .text, where no function is",
                                          call ? "calls" : "takes the address of", target));
        const Function& callee = fns[t];
        if (uint64_t(target) != callee.offset)
            return err(what + fmt::format(": {} instruction {} of .text, inside function '{}' (which starts at {})",
                                          call ? "calls" : "takes the address of", target, callee.name,
                                          callee.offset));
        if (placed[t] < 0) {
            size_t base = p.insns.size();
            placed[t] = static_cast<long>(base);
            place(callee, base);
            stack.push_back(Frame{static_cast<size_t>(t), base, 0}); // (invalidates f)
        }
        p.insns[at].imm = static_cast<int32_t>(placed[t] - static_cast<long>(at) - 1);
    }
    auto by_insn = [](const auto& a, const auto& b) { return a.insn < b.insn; };
    std::stable_sort(p.lines.begin(), p.lines.end(), by_insn);
    std::stable_sort(p.funcs.begin(), p.funcs.end(), by_insn);
    std::stable_sort(p.map_references.begin(), p.map_references.end(), by_insn);
    return p;
}

} // namespace bpfvm::elf_detail
