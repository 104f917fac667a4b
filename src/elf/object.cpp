// ELF reading with libelf.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>

#include "bpfvm/elf.h"
#include "bpfvm/isa.h"

#ifndef EM_BPF
#define EM_BPF 247
#endif
#ifndef R_BPF_64_32
#define R_BPF_64_32 10
#endif

namespace bpfvm {

bool ElfSection::executable() const { return type == SHT_PROGBITS && (flags & SHF_EXECINSTR) != 0; }

namespace {

struct ElfHandle {
    Elf* elf = nullptr;
    ~ElfHandle() {
        if (elf) elf_end(elf);
    }
};

std::string elf_err() { return elf_errmsg(-1) ? elf_errmsg(-1) : "unknown libelf error"; }

} // namespace

Result<ElfObject> ElfObject::open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return from_memory(bytes, path);
}

Result<ElfObject> ElfObject::from_memory(std::span<const uint8_t> bytes, std::string name) {
    auto err = [&](std::string msg) { return make_error(fmt::format("{}: {}", name, msg)); };
    if (elf_version(EV_CURRENT) == EV_NONE) return err("libelf initialisation failed");
    if (bytes.size() < EI_NIDENT || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        return err("not an ELF file (bad magic)");
    // libelf may write to the buffer it reads: give it a copy it owns.
    std::vector<char> copy(bytes.begin(), bytes.end());
    ElfHandle h;
    h.elf = elf_memory(copy.data(), copy.size());
    if (!h.elf) return err("cannot parse ELF: " + elf_err());
    if (elf_kind(h.elf) != ELF_K_ELF) return err("not an ELF object");
    GElf_Ehdr ehdr;
    if (!gelf_getehdr(h.elf, &ehdr)) return err("bad ELF header: " + elf_err());
    if (ehdr.e_ident[EI_CLASS] != ELFCLASS64) return err("not a 64-bit ELF object (BPF objects are ELF64)");
    if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) return err("big-endian ELF: only little-endian BPF objects are supported");
    if (ehdr.e_machine != EM_BPF)
        return err(fmt::format("ELF machine is {} (not BPF, 247): compile with clang -target bpf", ehdr.e_machine));

    size_t shstrndx = 0;
    if (elf_getshdrstrndx(h.elf, &shstrndx) != 0) return err("no section name table: " + elf_err());

    ElfObject obj;
    obj.name_ = name;
    std::map<uint32_t, std::vector<ElfRelocation>> relocs; // by target section index
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(h.elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr)) return err("bad section header: " + elf_err());
        uint32_t idx = static_cast<uint32_t>(elf_ndxscn(scn));
        const char* sname = elf_strptr(h.elf, shstrndx, shdr.sh_name);
        if (!sname) return err(fmt::format("section {}: name is not in the string table", idx));
        ElfSection sec;
        sec.index = idx;
        sec.name = sname;
        sec.type = shdr.sh_type;
        sec.flags = shdr.sh_flags;
        if (shdr.sh_type != SHT_NOBITS && shdr.sh_size > 0) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            if (!data || !data->d_buf || data->d_size != shdr.sh_size)
                return err(fmt::format("section {} ({}): data lies outside the file", idx, sec.name));
            auto* p = static_cast<const uint8_t*>(data->d_buf);
            sec.data.assign(p, p + data->d_size);
        }
        if (shdr.sh_type == SHT_SYMTAB) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
            for (size_t i = 0; data && i < count; i++) {
                GElf_Sym sym;
                if (!gelf_getsym(data, static_cast<int>(i), &sym))
                    return err(fmt::format("symbol table: entry {} is unreadable", i));
                const char* symname = elf_strptr(h.elf, shdr.sh_link, sym.st_name);
                obj.symbols_.push_back(ElfSymbol{symname ? symname : "", sym.st_shndx, sym.st_value, sym.st_size,
                                                 static_cast<uint8_t>(GELF_ST_TYPE(sym.st_info)),
                                                 static_cast<uint8_t>(GELF_ST_BIND(sym.st_info))});
            }
        } else if (shdr.sh_type == SHT_REL) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            size_t count = shdr.sh_entsize ? shdr.sh_size / shdr.sh_entsize : 0;
            for (size_t i = 0; data && i < count; i++) {
                GElf_Rel rel;
                if (!gelf_getrel(data, static_cast<int>(i), &rel))
                    return err(fmt::format("relocation section {}: entry {} is unreadable", sec.name, i));
                relocs[shdr.sh_info].push_back(ElfRelocation{rel.r_offset, static_cast<uint32_t>(GELF_R_TYPE(rel.r_info)),
                                                             static_cast<uint32_t>(GELF_R_SYM(rel.r_info))});
            }
        }
        obj.sections_.push_back(std::move(sec));
    }
    for (auto& sec : obj.sections_) {
        if (auto it = relocs.find(sec.index); it != relocs.end()) sec.relocations = std::move(it->second);
        for (const auto& r : sec.relocations)
            if (r.symbol >= obj.symbols_.size())
                return err(fmt::format("section {}: relocation at offset {} refers to symbol {} which does not exist",
                                       sec.name, r.offset, r.symbol));
    }
    return obj;
}

const ElfSection* ElfObject::find_section(std::string_view name) const {
    for (const auto& s : sections_)
        if (s.name == name) return &s;
    return nullptr;
}

const ElfSection* ElfObject::section_by_index(uint32_t index) const {
    for (const auto& s : sections_)
        if (s.index == index) return &s;
    return nullptr;
}

std::vector<const ElfSection*> ElfObject::program_sections() const {
    std::vector<const ElfSection*> out;
    for (const auto& s : sections_)
        if (s.executable() && !s.data.empty()) out.push_back(&s);
    return out;
}

Result<ElfProgram> ElfObject::program(std::string_view name) const {
    const ElfSection* sec = find_section(name);
    if (!sec) {
        for (const auto& sym : symbols_) {
            if (sym.name != name || sym.type != STT_FUNC) continue;
            sec = section_by_index(sym.section);
            if (sec && sym.value != 0)
                return make_error(fmt::format("{}: function {} starts at instruction {} of section {}; only a "
                                              "section's first function can be run (put it in its own SEC())",
                                              name_, name, sym.value / 8, sec->name));
            break;
        }
    }
    if (!sec) return make_error(fmt::format("{}: no section or function named '{}'", name_, name));
    if (!sec->executable()) return make_error(fmt::format("{}: section {} holds no instructions", name_, sec->name));
    if (sec->data.size() % sizeof(Insn) != 0)
        return make_error(fmt::format("{}: section {} is {} bytes: not a whole number of instructions", name_,
                                      sec->name, sec->data.size()));

    ElfProgram prog;
    prog.section = sec->name;
    prog.insns = insns_from_bytes(sec->data);
    const ElfSection* text = find_section(".text");
    size_t text_base = 0; // where .text starts in prog.insns once appended
    bool text_appended = sec->name == ".text";

    // Patch the calls of `s`, whose instructions start at `base` in prog.insns.
    auto link = [&](const ElfSection& s, size_t base) -> Result<void> {
        for (const auto& r : s.relocations) {
            const ElfSymbol& sym = symbols_[r.symbol];
            if (r.offset % sizeof(Insn) != 0 || r.offset / sizeof(Insn) >= s.data.size() / sizeof(Insn))
                return make_error(fmt::format("{}: section {}: relocation at offset {} is not on an instruction",
                                              name_, s.name, r.offset));
            size_t at = base + r.offset / sizeof(Insn);
            const Insn original = prog.insns[at];
            bool is_call = original.opcode == (BPF_JMP | BPF_CALL) && original.src == BPF_PSEUDO_CALL;
            if (!is_call) {
                std::string what = sym.name.empty() ? fmt::format("section {}", sym.section) : sym.name;
                if (const ElfSection* t = section_by_index(sym.section); t && sym.name.empty()) what = t->name;
                return make_error(fmt::format("{}: section {}: instruction {} refers to '{}' (relocation type {}): "
                                              "maps and global data need the object loader, which is not "
                                              "available yet",
                                              name_, s.name, r.offset / sizeof(Insn), what, r.type));
            }
            if (!text || sym.section != text->index)
                return make_error(fmt::format("{}: section {}: instruction {} calls '{}', which is not in .text",
                                              name_, s.name, r.offset / sizeof(Insn), sym.name));
            if (!text_appended) {
                text_base = prog.insns.size();
                auto t = insns_from_bytes(text->data);
                prog.insns.insert(prog.insns.end(), t.begin(), t.end());
                text_appended = true;
            }
            int64_t callee =
                static_cast<int64_t>(text_base) + static_cast<int64_t>(sym.value / sizeof(Insn)) + original.imm + 1;
            if (callee < static_cast<int64_t>(text_base) ||
                callee >= static_cast<int64_t>(text_base + text->data.size() / sizeof(Insn)))
                return make_error(fmt::format("{}: section {}: call at instruction {} lands outside .text", name_,
                                              s.name, r.offset / sizeof(Insn)));
            // (prog.insns may have grown: index, do not hold a reference.)
            prog.insns[at].imm = static_cast<int32_t>(callee - static_cast<int64_t>(at) - 1);
        }
        return {};
    };
    if (auto r = link(*sec, 0); !r) return tl::unexpected(r.error());
    if (text_appended && sec->name != ".text" && text)
        if (auto r = link(*text, text_base); !r) return tl::unexpected(r.error());
    return prog;
}

} // namespace bpfvm
