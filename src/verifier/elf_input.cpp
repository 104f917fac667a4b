// The verifier's input from an ELF object: its maps and line info.
#include <fmt/format.h>
#include <linux/bpf.h>

#include "bpfvm/elf.h"
#include "bpfvm/verifier.h"

namespace bpfvm {

VerifierMap verifier_map(const ElfMapSpec& spec) {
    VerifierMap m;
    m.name = spec.name;
    m.type = spec.type;
    m.key_size = spec.key_size;
    m.value_size = spec.value_size;
    m.max_entries = spec.max_entries;
    m.map_flags = spec.map_flags;
    m.spin_lock_offset = spec.spin_lock_offset;
    if (spec.kind == ElfMapSpec::Kind::Rodata) m.frozen_value = spec.initial_data;
    if (spec.inner) m.inner.push_back(verifier_map(*spec.inner));
    return m;
}

Result<Verified> verify(const ElfObject& object, const ElfProgram& program, const VerifyOptions& options) {
    VerifyInput in;
    in.insns = program.insns;
    in.prog_type = program.prog_type;
    in.expected_attach_type = program.expected_attach_type;
    for (const ElfMapSpec& spec : object.maps()) in.maps.push_back(verifier_map(spec));
    in.source_line = [&program](size_t insn) -> std::string {
        const ElfLineInfo* l = program.line_at(insn);
        if (!l) return {};
        std::string text = l->source;
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.erase(text.begin());
        return fmt::format("{}:{}: {}", l->file, l->line, text);
    };
    return verify(in, options);
}

} // namespace bpfvm
