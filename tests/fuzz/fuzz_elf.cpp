// fuzz_elf: bytes -> ElfObject::from_memory, then every program the object
// holds (by section and by function symbol) through Program::from_insns and
// the disassembler. A malformed object must give an error, never a crash.
#include <cstddef>
#include <cstdint>

#include <elf.h>

#include "bpfvm/asm.h"
#include "bpfvm/elf.h"
#include "fuzz_common.h"

using namespace bpfvm;

namespace {

void take_program(const ElfObject& obj, std::string_view name) {
    auto p = obj.program(name);
    if (!p) {
        if (p.error().message.empty()) fuzz::finding("ElfObject::program failed without a message");
        return;
    }
    (void)disassemble(p->insns);
    auto prog = Program::from_insns(p->insns, std::string(name));
    if (prog) fuzz::check_listing_roundtrip(*prog);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto obj = ElfObject::from_memory(std::span<const uint8_t>(data, size), "fuzz.o");
    if (!obj) {
        if (obj.error().message.empty()) fuzz::finding("ElfObject::from_memory failed without a message");
        return 0;
    }
    for (const ElfSection& s : obj->sections()) {
        (void)s.executable();
        if (obj->section_by_index(s.index) == nullptr) fuzz::finding("section_by_index misses a section");
        (void)obj->find_section(s.name);
        for (const ElfRelocation& r : s.relocations)
            if (r.symbol >= obj->symbols().size()) fuzz::finding("relocation names a symbol that does not exist");
    }
    for (const ElfSection* s : obj->program_sections()) take_program(*obj, s->name);
    for (const ElfSymbol& sym : obj->symbols()) {
        (void)obj->section_by_index(sym.section);
        if (sym.type == STT_FUNC && !sym.name.empty()) take_program(*obj, sym.name);
    }
    take_program(*obj, ".text");
    return 0;
}
