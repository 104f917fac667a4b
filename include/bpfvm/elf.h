// Reading BPF ELF objects (clang -target bpf, libbpf conventions): sections,
// symbols, programs (typed by their section name, linked with their .text
// subprograms, map and global-data references relocated), map specifications
// (legacy `maps`, BTF-defined `.maps`, global data), license, kernel version,
// and BTF line and function info. docs/elf.md describes what is supported.
//
// The result is a description: nothing is created. The runtime creates the
// maps of maps() in order and resolves the pseudo lddw instructions the
// programs carry:
//   src = BPF_PSEUDO_MAP_FD (1):    imm = index into maps()
//   src = BPF_PSEUDO_MAP_VALUE (2): imm = index into maps(), second imm = offset
//                                   in the map's value
//   src = BPF_PSEUDO_FUNC (4):      imm = relative instruction offset (as calls)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

struct btf; // libbpf's BTF object (<bpf/btf.h>)

namespace bpfvm {

namespace elf_detail {
struct FunctionTable;
class ElfObjectReader;
} // namespace elf_detail

struct ElfSymbol {
    std::string name;
    uint32_t section = 0; // section index
    uint64_t value = 0;   // offset in the section, bytes
    uint64_t size = 0;
    uint8_t type = 0;     // STT_*
    uint8_t bind = 0;     // STB_*
};

struct ElfRelocation {
    uint64_t offset = 0; // bytes into the section the relocation applies to
    uint32_t type = 0;   // R_BPF_*
    uint32_t symbol = 0; // index into symbols()
};

struct ElfSection {
    uint32_t index = 0;
    std::string name;
    uint32_t type = 0;  // SHT_*
    uint64_t flags = 0; // SHF_*
    std::vector<uint8_t> data;
    std::vector<ElfRelocation> relocations; // from the matching .rel section
    uint64_t size = 0;  // sh_size (also for SHT_NOBITS, whose data is empty)

    bool executable() const;
};

// What libbpf makes of a program's section name (libbpf.c's section_defs, Linux 6.1).
struct ElfSectionType {
    bool known = false;                // false: libbpf has no definition (type stays 0, unspec)
    uint32_t prog_type = 0;            // BPF_PROG_TYPE_*
    uint32_t expected_attach_type = 0; // BPF_* attach type, 0 where libbpf sets none
    std::string attach_target;         // "do_sys_open" in "kprobe/do_sys_open", "" if none
    uint32_t prog_flags = 0;           // BPF_F_SLEEPABLE (".s" sections, syscall), BPF_F_XDP_HAS_FRAGS
    std::string definition;            // the matching libbpf definition ("kprobe+", "xdp"), "" if none
};

// The type of a program in section `section` (without the '?' libbpf strips).
ElfSectionType section_program_type(std::string_view section);

// One .BTF.ext line info record: the source position of the instructions from
// `insn` up to the next record.
struct ElfLineInfo {
    uint32_t insn = 0;   // index in the linked program
    std::string file;    // C file, as clang recorded it
    std::string source;  // the line's text
    uint32_t line = 0;
    uint32_t column = 0;
};

// One .BTF.ext func info record: a function of the linked program.
struct ElfFuncInfo {
    uint32_t insn = 0;    // its first instruction in the linked program
    uint32_t type_id = 0; // BTF_KIND_FUNC
    std::string name;
};

// A reference of an lddw instruction to a map or global data (after relocation).
struct ElfMapReference {
    uint32_t insn = 0;   // index of the lddw in the linked program
    uint32_t map = 0;    // index into ElfObject::maps()
    bool value = false;  // BPF_PSEUDO_MAP_VALUE (global data): second imm is the offset
    uint32_t offset = 0; // offset in the value (value references)
    std::string symbol;  // the symbol the relocation named (variable, map, or section)
};

// A program taken out of an object, linked: its function's instructions, then
// the .text functions it calls (directly or not), appended in the order libbpf
// appends them, with calls, map and global-data references relocated.
struct ElfProgram {
    std::string name;    // the function symbol (libbpf's program name); the section name for a
                         // section without function symbols
    std::string section; // ELF section name, without libbpf's '?' prefix
    bool autoload = true; // false for SEC("?...")
    uint32_t prog_type = 0;            // BPF_PROG_TYPE_*, from the section name (0: unknown)
    uint32_t expected_attach_type = 0;
    std::string attach_target;
    uint32_t prog_flags = 0;
    uint32_t section_insn = 0;         // where the function starts in its section (instructions)
    uint32_t function_insns = 0;       // instructions of the function itself (the rest are subprograms)
    std::vector<Insn> insns;
    std::vector<ElfLineInfo> lines;    // sorted by insn; empty without .BTF.ext line info
    std::vector<ElfFuncInfo> funcs;    // sorted by insn; empty without .BTF.ext func info
    std::vector<ElfMapReference> map_references;

    // The line info that covers instruction `insn` (the last record at or
    // before it), or nullptr.
    const ElfLineInfo* line_at(size_t insn) const;
};

// A map the object declares, or global data as libbpf turns it into a map.
struct ElfMapSpec {
    enum class Kind {
        Btf,    // a variable in .maps, defined by its BTF
        Legacy, // a struct bpf_map_def in the `maps` section
        Data,   // .data, .data.*
        Rodata, // .rodata, .rodata.* (BPF_F_RDONLY_PROG)
        Bss,    // .bss (zeroes)
        Inner,  // the inner map of a map-in-map (only as ElfMapSpec::inner)
    };
    // An initial slot of a prog_array (a program) or a map-in-map (a map).
    struct Slot {
        uint32_t index = 0;
        std::string target; // program name (prog_array) or map name (map-in-map)
    };

    std::string name;      // libbpf's name: the variable's; for global data "<object>.data"
                           // truncated as libbpf truncates (e.g. "full.rodata", ".data.custom")
    std::string section;   // ELF section it comes from (".maps", "maps", ".data.custom", ...)
    Kind kind = Kind::Btf;
    uint32_t type = 0;     // BPF_MAP_TYPE_*
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t map_flags = 0;
    uint32_t numa_node = 0;
    uint64_t map_extra = 0;
    uint32_t pinning = 0;  // LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1)
    std::shared_ptr<const ElfMapSpec> inner; // map-in-map: the inner map's spec
    int32_t spin_lock_offset = -1; // offset of the struct bpf_spin_lock in the value, or -1
    int32_t timer_offset = -1;     // offset of the struct bpf_timer in the value, or -1
    std::vector<uint8_t> initial_data; // global data: the value's initial bytes (zeroes for .bss)
    std::vector<Slot> initial_slots;   // sorted by index
    uint32_t btf_key_type_id = 0;      // 0 when the key has no BTF type
    uint32_t btf_value_type_id = 0;    // global data: the DATASEC
    uint32_t section_index = 0;
    uint64_t section_offset = 0;       // offset of the definition in its section
};

// What the object's BTF holds.
struct ElfBtfSummary {
    bool present = false;          // a .BTF section parsed by libbpf
    uint32_t type_count = 0;       // types, not counting void (id 0)
    uint32_t string_size = 0;      // bytes of the string section
    bool has_ext = false;          // a .BTF.ext section
    uint32_t func_info_count = 0;  // records, over all sections
    uint32_t line_info_count = 0;
    uint32_t core_relo_count = 0;  // CO-RE relocations: not applied (instructions keep the compiled offsets)
    bool has_line_info() const { return line_info_count > 0; }
};

struct ElfOpenOptions {
    // Only read sections, symbols and relocations: no programs, maps or BTF
    // (for tools that look at raw sections, such as a disassembler, and
    // accept objects the loader refuses).
    bool sections_only = false;
};

class ElfObject {
public:
    static Result<ElfObject> open(const std::string& path, ElfOpenOptions options = {});
    static Result<ElfObject> from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>",
                                         ElfOpenOptions options = {});

    const std::string& name() const { return name_; }
    // libbpf's object name: the file name's first 15 characters, up to the first '.'.
    const std::string& object_name() const { return object_name_; }
    const std::vector<ElfSection>& sections() const { return sections_; }
    const std::vector<ElfSymbol>& symbols() const { return symbols_; }
    const ElfSection* find_section(std::string_view name) const;
    const ElfSection* section_by_index(uint32_t index) const;

    // Executable sections that hold instructions, in file order.
    std::vector<const ElfSection*> program_sections() const;

    // Every program of the object (each function symbol of an executable
    // section other than .text), linked, in libbpf's order (section index,
    // then offset).
    const std::vector<ElfProgram>& programs() const { return programs_; }
    // The maps, in libbpf's order: legacy maps, BTF maps, global data. Map
    // references in programs are indices into this list.
    const std::vector<ElfMapSpec>& maps() const { return maps_; }
    const ElfMapSpec* find_map(std::string_view name) const;

    const std::string& license() const { return license_; }        // "" without a license section
    std::optional<uint32_t> kernel_version() const { return kernel_version_; } // the `version` section

    // The program named `name` (a function symbol), else the only program of
    // section `name`, else a .text function (or ".text": its first function)
    // linked as an entry point.
    Result<ElfProgram> program(std::string_view name) const;

    ElfBtfSummary btf_summary() const;
    // libbpf's parsed .BTF, or nullptr.
    const struct btf* btf() const { return btf_.get(); }
    // The raw .BTF and .BTF.ext bytes (empty when absent).
    std::span<const uint8_t> btf_bytes() const;
    std::span<const uint8_t> btf_ext_bytes() const;

    // A BTF type as C writes it: "struct flow_key", "__u32", "char[16]", "void *".
    std::string btf_type_name(uint32_t type_id) const;
    // A BTF type's definition, with offsets: for a struct or union, one line
    // per member; otherwise its name and size.
    std::string btf_type_declaration(uint32_t type_id) const;

private:
    friend class elf_detail::ElfObjectReader;
    std::string name_;
    std::string object_name_;
    std::vector<ElfSection> sections_;
    std::vector<ElfSymbol> symbols_;
    std::vector<ElfProgram> programs_;
    std::vector<ElfMapSpec> maps_;
    std::string license_;
    std::optional<uint32_t> kernel_version_;
    std::shared_ptr<struct btf> btf_;
    std::vector<uint8_t> btf_ext_raw_; // .BTF.ext as read
    uint32_t func_info_count_ = 0;
    uint32_t line_info_count_ = 0;
    uint32_t core_relo_count_ = 0;
    std::shared_ptr<const elf_detail::FunctionTable> functions_; // programs and .text subprograms, unlinked
};

} // namespace bpfvm
