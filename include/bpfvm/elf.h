// Reading BPF ELF objects (clang -target bpf): sections, symbols, and the
// instructions of a program section with its calls into .text linked.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

namespace bpfvm {

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

    bool executable() const;
};

// A program taken out of an object: its instructions (the section's, then
// .text's when it calls into it) and where they came from.
struct ElfProgram {
    std::string section;
    std::vector<Insn> insns;
};

class ElfObject {
public:
    static Result<ElfObject> open(const std::string& path);
    static Result<ElfObject> from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>");

    const std::string& name() const { return name_; }
    const std::vector<ElfSection>& sections() const { return sections_; }
    const std::vector<ElfSymbol>& symbols() const { return symbols_; }
    const ElfSection* find_section(std::string_view name) const;
    const ElfSection* section_by_index(uint32_t index) const;

    // Executable sections that hold instructions, in file order.
    std::vector<const ElfSection*> program_sections() const;

    // The program in section `name` (or the section of function symbol
    // `name`), with bpf-to-bpf calls into .text linked as libbpf links them.
    // References to maps or global data are reported as errors (they need the
    // loader that creates maps).
    Result<ElfProgram> program(std::string_view name) const;

private:
    std::string name_;
    std::vector<ElfSection> sections_;
    std::vector<ElfSymbol> symbols_;
};

} // namespace bpfvm
