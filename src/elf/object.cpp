// ELF reading with libelf: sections, symbols, relocations; then the object
// layer (BTF, maps, programs) from the other files of this directory.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include <bpf/btf.h>
#include <fmt/format.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/btf.h>

#include "bpfvm/elf.h"
#include "bpfvm/isa.h"
#include "internal.h"

#ifndef EM_BPF
#define EM_BPF 247
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

std::string elf_err() {
    const char* m = elf_errmsg(-1);
    return m ? m : "unknown libelf error";
}

const char* elf_type_name(unsigned type) {
    switch (type) {
    case ET_NONE: return "ET_NONE";
    case ET_EXEC: return "ET_EXEC";
    case ET_DYN: return "ET_DYN";
    case ET_CORE: return "ET_CORE";
    default: return "unknown";
    }
}

// libbpf's object name: the basename's first 15 characters, up to the first '.'.
std::string libbpf_object_name(const std::string& path) {
    std::string base = path;
    if (auto slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
    base = base.substr(0, 15);
    if (auto dot = base.find('.'); dot != std::string::npos) base = base.substr(0, dot);
    return base;
}

} // namespace

namespace elf_detail {

Result<void> ElfObjectReader::read_elf(std::span<const uint8_t> bytes) {
    if (elf_version(EV_CURRENT) == EV_NONE) return fail("libelf initialisation failed");
    if (bytes.size() < EI_NIDENT || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        return fail("not an ELF file (bad magic)");
    // libelf may write to the buffer it reads: give it a copy it owns.
    image_.assign(bytes.begin(), bytes.end());
    ElfHandle h;
    h.elf = elf_memory(image_.data(), image_.size());
    if (!h.elf) return fail("cannot parse ELF: {}", elf_err());
    if (elf_kind(h.elf) != ELF_K_ELF) return fail("not an ELF object");
    GElf_Ehdr ehdr;
    if (!gelf_getehdr(h.elf, &ehdr)) return fail("bad ELF header: {}", elf_err());
    if (ehdr.e_ident[EI_CLASS] != ELFCLASS64) return fail("not a 64-bit ELF object (BPF objects are ELF64)");
    if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB)
        return fail("big-endian ELF: only little-endian BPF objects are supported");
    if (ehdr.e_machine != EM_BPF)
        return fail("ELF machine is {} (not BPF, 247): compile with clang -target bpf", ehdr.e_machine);
    if (ehdr.e_type != ET_REL)
        return fail("ELF type is {} ({}): only relocatable objects (ET_REL, from clang -c) can be loaded",
                    elf_type_name(ehdr.e_type), ehdr.e_type);

    // libelf reads a file cut before its section headers as one without sections.
    if (ehdr.e_shoff == 0 || ehdr.e_shnum == 0) return fail("no section header table");
    if (ehdr.e_shentsize != sizeof(Elf64_Shdr))
        return fail("section header size {} (expected {})", ehdr.e_shentsize, sizeof(Elf64_Shdr));
    if (ehdr.e_shoff > bytes.size() || uint64_t(ehdr.e_shnum) * ehdr.e_shentsize > bytes.size() - ehdr.e_shoff)
        return fail("the section header table (offset {}, {} sections) lies outside the file ({} bytes): "
                    "truncated object?",
                    ehdr.e_shoff, ehdr.e_shnum, bytes.size());

    size_t shstrndx = 0;
    if (elf_getshdrstrndx(h.elf, &shstrndx) != 0) return fail("no section name table: {}", elf_err());
    size_t section_count = 0;
    if (elf_getshdrnum(h.elf, &section_count) != 0) return fail("cannot count sections: {}", elf_err());

    std::map<uint32_t, std::vector<ElfRelocation>> relocs; // by target section index
    bool have_symtab = false;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(h.elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr)) return fail("bad section header: {}", elf_err());
        uint32_t idx = static_cast<uint32_t>(elf_ndxscn(scn));
        const char* sname = elf_strptr(h.elf, shstrndx, shdr.sh_name);
        if (!sname) return fail("section {}: name is not in the string table", idx);
        ElfSection sec;
        sec.index = idx;
        sec.name = sname;
        sec.type = shdr.sh_type;
        sec.flags = shdr.sh_flags;
        sec.size = shdr.sh_size;
        if (shdr.sh_type != SHT_NOBITS && shdr.sh_type != SHT_NULL && shdr.sh_size > 0) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            if (!data || !data->d_buf || data->d_size != shdr.sh_size)
                return fail("section {} ({}): data lies outside the file (truncated object?)", idx, sec.name);
            auto* p = static_cast<const uint8_t*>(data->d_buf);
            sec.data.assign(p, p + data->d_size);
        }
        if (shdr.sh_type == SHT_SYMTAB) {
            if (have_symtab) return fail("section {} ({}): a second symbol table", idx, sec.name);
            have_symtab = true;
            if (shdr.sh_entsize != sizeof(Elf64_Sym))
                return fail("symbol table {}: entry size {} (expected {})", sec.name, shdr.sh_entsize,
                            sizeof(Elf64_Sym));
            Elf_Data* data = elf_getdata(scn, nullptr);
            size_t count = shdr.sh_size / shdr.sh_entsize;
            for (size_t i = 0; data && i < count; i++) {
                GElf_Sym sym;
                if (!gelf_getsym(data, static_cast<int>(i), &sym))
                    return fail("symbol table: entry {} is unreadable", i);
                const char* symname = elf_strptr(h.elf, shdr.sh_link, sym.st_name);
                obj_.symbols_.push_back(ElfSymbol{symname ? symname : "", sym.st_shndx, sym.st_value, sym.st_size,
                                                  static_cast<uint8_t>(GELF_ST_TYPE(sym.st_info)),
                                                  static_cast<uint8_t>(GELF_ST_BIND(sym.st_info))});
            }
        } else if (shdr.sh_type == SHT_REL) {
            if (shdr.sh_entsize != sizeof(Elf64_Rel))
                return fail("relocation section {}: entry size {} (expected {})", sec.name, shdr.sh_entsize,
                            sizeof(Elf64_Rel));
            if (shdr.sh_info == 0 || shdr.sh_info >= section_count)
                return fail("relocation section {}: applies to section {}, which does not exist", sec.name,
                            shdr.sh_info);
            Elf_Data* data = elf_getdata(scn, nullptr);
            size_t count = shdr.sh_size / shdr.sh_entsize;
            for (size_t i = 0; data && i < count; i++) {
                GElf_Rel rel;
                if (!gelf_getrel(data, static_cast<int>(i), &rel))
                    return fail("relocation section {}: entry {} is unreadable", sec.name, i);
                relocs[shdr.sh_info].push_back(ElfRelocation{rel.r_offset,
                                                             static_cast<uint32_t>(GELF_R_TYPE(rel.r_info)),
                                                             static_cast<uint32_t>(GELF_R_SYM(rel.r_info))});
            }
        } else if (shdr.sh_type == SHT_RELA) {
            return fail("section {}: RELA relocations (BPF objects use REL)", sec.name);
        }
        obj_.sections_.push_back(std::move(sec));
    }
    for (auto& sec : obj_.sections_) {
        if (auto it = relocs.find(sec.index); it != relocs.end()) sec.relocations = std::move(it->second);
        for (size_t i = 0; i < sec.relocations.size(); i++) {
            const auto& r = sec.relocations[i];
            if (r.symbol >= obj_.symbols_.size())
                return fail("section {}: relocation at offset {} refers to symbol {} which does not exist", sec.name,
                            r.offset, r.symbol);
        }
    }
    return {};
}

Result<void> ElfObjectReader::read_object() {
    if (auto r = read_btf(); !r) return r;
    if (auto r = read_license_and_version(); !r) return r;
    if (auto r = check_externs(); !r) return r;
    if (auto r = read_legacy_maps(); !r) return r;
    if (auto r = read_btf_maps(); !r) return r;
    if (auto r = read_global_data(); !r) return r;
    if (auto r = read_functions(); !r) return r;
    if (auto r = read_map_slots(); !r) return r;
    return build_programs();
}

std::string ElfObjectReader::section_name(uint32_t index) const {
    const ElfSection* s = obj_.section_by_index(index);
    return s ? s->name : fmt::format("#{}", index);
}

std::string ElfObjectReader::symbol_display_name(const ElfSymbol& sym) const {
    if (sym.type == STT_SECTION || sym.name.empty()) return section_name(sym.section);
    return sym.name;
}

Result<void> ElfObjectReader::read_license_and_version() {
    for (const auto& sec : obj_.sections_) {
        if (sec.name == "license") {
            if (sec.type == SHT_NOBITS) return fail("section license: holds no data");
            auto end = std::find(sec.data.begin(), sec.data.end(), uint8_t{0});
            obj_.license_.assign(sec.data.begin(), end);
        } else if (sec.name == "version") {
            if (sec.data.size() != 4)
                return fail("section version: {} bytes (the kernel version is a 4-byte number)", sec.data.size());
            uint32_t v;
            std::memcpy(&v, sec.data.data(), 4);
            obj_.kernel_version_ = v;
        }
    }
    return {};
}

} // namespace elf_detail

Result<ElfObject> ElfObject::open(const std::string& path, ElfOpenOptions options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(fmt::format("{}: read error", path));
    return from_memory(bytes, path, options);
}

Result<ElfObject> ElfObject::from_memory(std::span<const uint8_t> bytes, std::string name, ElfOpenOptions options) {
    ElfObject obj;
    obj.name_ = std::move(name);
    obj.object_name_ = libbpf_object_name(obj.name_);
    elf_detail::ElfObjectReader reader(obj);
    if (auto r = reader.read_elf(bytes); !r) return tl::unexpected(r.error());
    if (!options.sections_only)
        if (auto r = reader.read_object(); !r) return tl::unexpected(r.error());
    return obj;
}

const ElfSection* ElfObject::find_section(std::string_view name) const {
    for (const auto& s : sections_)
        if (s.name == name) return &s;
    return nullptr;
}

const ElfSection* ElfObject::section_by_index(uint32_t index) const {
    // Sections are stored in index order from 1; look there first.
    if (index >= 1 && index <= sections_.size() && sections_[index - 1].index == index) return &sections_[index - 1];
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

const ElfMapSpec* ElfObject::find_map(std::string_view name) const {
    for (const auto& m : maps_)
        if (m.name == name) return &m;
    return nullptr;
}

std::span<const uint8_t> ElfObject::btf_bytes() const {
    const ElfSection* s = find_section(".BTF");
    return s ? std::span<const uint8_t>(s->data) : std::span<const uint8_t>();
}

std::span<const uint8_t> ElfObject::btf_ext_bytes() const {
    const ElfSection* s = find_section(".BTF.ext");
    return s ? std::span<const uint8_t>(s->data) : std::span<const uint8_t>();
}

ElfBtfSummary ElfObject::btf_summary() const {
    ElfBtfSummary s;
    if (btf_) {
        s.present = true;
        s.type_count = btf__type_cnt(btf_.get()) - 1;
        auto raw = btf_bytes(); // struct btf_header: ..., str_off, str_len at byte 20
        if (raw.size() >= sizeof(btf_header)) std::memcpy(&s.string_size, raw.data() + offsetof(btf_header, str_len), 4);
    }
    s.has_ext = find_section(".BTF.ext") != nullptr;
    s.func_info_count = func_info_count_;
    s.line_info_count = line_info_count_;
    s.core_relo_count = core_relo_count_;
    return s;
}

const ElfLineInfo* ElfProgram::line_at(size_t insn) const {
    auto it = std::upper_bound(lines.begin(), lines.end(), insn,
                               [](size_t i, const ElfLineInfo& l) { return i < l.insn; });
    if (it == lines.begin()) return nullptr;
    return &*(it - 1);
}

Result<ElfProgram> ElfObject::program(std::string_view name) const {
    if (!functions_) // opened with sections_only
        return make_error(fmt::format("{}: the object was opened for its sections only: no programs", name_));
    for (const auto& p : programs_)
        if (p.name == name) return p;
    std::vector<const ElfProgram*> in_section;
    for (const auto& p : programs_)
        if (p.section == name) in_section.push_back(&p);
    if (in_section.size() == 1) return *in_section[0];
    if (in_section.size() > 1) {
        std::string names;
        for (auto* p : in_section) names += (names.empty() ? "" : ", ") + p->name;
        return make_error(fmt::format("{}: section {} holds {} programs ({}): name one", name_, name,
                                      in_section.size(), names));
    }
    // A .text function (or .text's first), linked as an entry point.
    const auto& fns = functions_->functions;
    for (size_t i = 0; i < fns.size(); i++) {
        const auto& fn = fns[i];
        if (!fn.in_text) continue;
        if (fn.name == name || (name == ".text" && fn.offset == 0)) {
            auto prog = elf_detail::link_program(*functions_, i, name_);
            if (!prog) return prog;
            prog->prog_type = 0;
            return prog;
        }
    }
    if (const ElfSection* sec = find_section(name)) {
        if (!sec->executable() || sec->data.empty())
            return make_error(fmt::format("{}: section {} holds no instructions", name_, sec->name));
    }
    return make_error(fmt::format("{}: no section or function named '{}'", name_, name));
}

} // namespace bpfvm
