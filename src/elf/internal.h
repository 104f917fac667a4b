// What the parts of the ELF loader share: the reader that builds an
// ElfObject, the functions (programs and subprograms) it links from.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bpfvm/elf.h"

struct btf_type;

namespace bpfvm::elf_detail {

// A relocation of code that depends on where functions land when linked.
struct CodeRelocation {
    uint32_t insn = 0;     // in the function
    bool call = true;      // a call (else an lddw of a function address, src = BPF_PSEUDO_FUNC)
    uint64_t sym_off = 0;  // the symbol's value in .text, bytes
    std::string symbol;    // for messages
};

// A run of instructions of one section that libbpf treats as a unit: a
// program (outside .text) or a subprogram (in .text).
struct Function {
    std::string name;
    uint32_t section = 0;       // section index
    std::string section_name;
    uint32_t offset = 0;        // first instruction, in the section
    uint32_t count = 0;         // instructions
    bool in_text = false;
    std::vector<Insn> insns;    // map and data references already relocated
    std::vector<CodeRelocation> code_relocations; // sorted by insn
    std::vector<ElfMapReference> map_references;  // insn relative to the function
    std::vector<ElfLineInfo> lines;               // insn relative to the function
    std::vector<ElfFuncInfo> funcs;               // insn relative to the function
};

struct FunctionTable {
    std::vector<Function> functions; // sorted by section index, then offset
    uint32_t text_section = 0;       // 0 when the object has no .text code

    // The function of section `section` that holds instruction `insn`, or -1.
    long find(uint32_t section, uint64_t insn) const;
};

// Links function `entry` with the .text functions it reaches (libbpf's
// order: depth first, each appended when first called).
Result<ElfProgram> link_program(const FunctionTable& table, size_t entry, const std::string& object);

// One .BTF.ext record, by section name, before it is attached to functions.
struct ExtLine {
    uint32_t insn = 0; // in the section
    uint32_t file_off = 0, line_off = 0, line_col = 0;
};
struct ExtFunc {
    uint32_t insn = 0;
    uint32_t type_id = 0;
};
struct BtfExt {
    std::map<std::string, std::vector<ExtLine>> lines;
    std::map<std::string, std::vector<ExtFunc>> funcs;
    uint32_t line_count = 0, func_count = 0, core_relo_count = 0;
};

// Parses .BTF.ext (Documentation/bpf/btf.rst, "4.2 .BTF.ext section");
// section names come from the .BTF strings. Errors name what is wrong.
Result<BtfExt> parse_btf_ext(std::span<const uint8_t> bytes, const struct btf* btf);

// BTF helpers that check every id (the BTF is untrusted).
const btf_type* btf_type_at(const struct btf* btf, uint32_t id);
// Skips const/volatile/restrict/typedef/type tags; nullptr on a bad id or a loop.
const btf_type* btf_skip_mods(const struct btf* btf, uint32_t id, uint32_t* result_id = nullptr);
std::string btf_name(const struct btf* btf, uint32_t name_off); // "" when out of range
const char* btf_kind_name(const btf_type* t);

// Builds an ElfObject: ELF layer (object.cpp), BTF (btf.cpp), maps
// (maps.cpp), programs and relocations (programs.cpp).
class ElfObjectReader {
public:
    explicit ElfObjectReader(ElfObject& obj) : obj_(obj) {}

    Result<void> read_elf(std::span<const uint8_t> bytes);
    Result<void> read_object();

    template <typename... Args>
    tl::unexpected<Error> fail(fmt::format_string<Args...> format, Args&&... args) const {
        return make_error(obj_.name_ + ": " + fmt::format(format, std::forward<Args>(args)...));
    }

private:
    Result<void> read_btf();
    Result<void> fixup_datasecs();
    Result<void> read_license_and_version();
    Result<void> check_externs();
    Result<void> read_legacy_maps();
    Result<void> read_btf_maps();
    Result<void> read_global_data();
    Result<void> read_map_slots();
    Result<void> read_functions();
    Result<void> relocate_section(const ElfSection& sec);
    Result<void> attach_ext_info(Function& fn);
    Result<void> build_programs();

    // Section classification, as libbpf's bpf_object__elf_collect.
    enum class DataKind { None, Data, Rodata, Bss };
    DataKind data_kind(const ElfSection& sec) const;
    std::string symbol_display_name(const ElfSymbol& sym) const;
    std::string section_name(uint32_t index) const;

    // BTF-defined map parsing (libbpf's parse_btf_map_def).
    Result<void> parse_btf_map_def(const std::string& map_name, const btf_type* def, ElfMapSpec& spec,
                                   ElfMapSpec* inner);
    Result<uint32_t> map_field_int(const std::string& map_name, const std::string& field, uint32_t type_id) const;
    Result<void> find_special_fields(ElfMapSpec& spec) const;

    ElfObject& obj_;
    std::vector<char> image_; // libelf reads from here
    BtfExt ext_;
    uint32_t maps_section_ = 0;        // .maps
    uint32_t legacy_maps_section_ = 0; // maps
    uint32_t btf_maps_datasec_ = 0;    // BTF id of the .maps DATASEC
    std::map<std::pair<uint32_t, uint64_t>, size_t> map_at_; // (section, offset) -> index in maps, for
                                                              // `maps` and .maps
    std::map<size_t, uint64_t> btf_map_size_;                 // index in maps -> bytes of its .maps variable
    std::map<uint32_t, size_t> data_map_;                     // global data section -> index in maps
    FunctionTable table_;
};

} // namespace bpfvm::elf_detail
