// bpfvm object show: what an ELF object holds — programs, maps, sections,
// BTF — without loading it.
#include <elf.h>

#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/elf.h"
#include "bpfvm/runtime.h"
#include "commands.h"
#include "json_output.h"

namespace bpfvm::cli {
namespace {

using nlohmann::json;

const char* kind_name(ElfMapSpec::Kind k) {
    switch (k) {
    case ElfMapSpec::Kind::Btf: return "btf";
    case ElfMapSpec::Kind::Legacy: return "legacy";
    case ElfMapSpec::Kind::Data: return "data";
    case ElfMapSpec::Kind::Rodata: return "rodata";
    case ElfMapSpec::Kind::Bss: return "bss";
    case ElfMapSpec::Kind::Inner: return "inner";
    }
    return "?";
}

const char* section_type_name(uint32_t t) {
    switch (t) {
    case SHT_NULL: return "NULL";
    case SHT_PROGBITS: return "PROGBITS";
    case SHT_SYMTAB: return "SYMTAB";
    case SHT_STRTAB: return "STRTAB";
    case SHT_RELA: return "RELA";
    case SHT_NOBITS: return "NOBITS";
    case SHT_REL: return "REL";
    case 0x6fff4c03: return "LLVM_ADDRSIG"; // SHT_LLVM_ADDRSIG
    default: return "OTHER";
    }
}

json map_json(const ElfMapSpec& m) {
    json j = {{"name", m.name},         {"section", m.section},       {"kind", kind_name(m.kind)},
              {"type", map_type_name(m.type)}, {"key_size", m.key_size}, {"value_size", m.value_size},
              {"max_entries", m.max_entries},  {"flags", m.map_flags},   {"pinning", m.pinning == 1 ? "by_name" : "none"}};
    if (m.inner) j["inner"] = map_json(*m.inner);
    if (!m.initial_slots.empty()) {
        json slots = json::array();
        for (const auto& s : m.initial_slots) slots.push_back({{"index", s.index}, {"target", s.target}});
        j["initial_slots"] = slots;
    }
    return j;
}

json object_json(const ElfObject& o) {
    json progs = json::array();
    for (const auto& p : o.programs()) {
        json maps = json::array();
        for (const auto& r : p.map_references) {
            const std::string& name = r.map < o.maps().size() ? o.maps()[r.map].name : r.symbol;
            if (std::find(maps.begin(), maps.end(), name) == maps.end()) maps.push_back(name);
        }
        progs.push_back({{"name", p.name},
                         {"section", p.section},
                         {"type", prog_type_name(p.prog_type)},
                         {"autoload", p.autoload},
                         {"insns", p.insns.size()},
                         {"function_insns", p.function_insns},
                         {"functions", p.funcs.size()},
                         {"line_info", p.lines.size()},
                         {"maps", maps}});
    }
    json maps = json::array();
    for (const auto& m : o.maps()) maps.push_back(map_json(m));
    json sections = json::array();
    for (const auto& s : o.sections()) {
        if (s.index == 0) continue;
        sections.push_back({{"index", s.index},
                            {"name", s.name},
                            {"type", section_type_name(s.type)},
                            {"size", s.size},
                            {"executable", s.executable()},
                            {"relocations", s.relocations.size()}});
    }
    ElfBtfSummary b = o.btf_summary();
    json btf = {{"present", b.present},          {"types", b.type_count},
                {"strings_size", b.string_size}, {"ext", b.has_ext},
                {"func_info", b.func_info_count}, {"line_info", b.line_info_count},
                {"core_relocations", b.core_relo_count}};
    json j = {{"file", o.name()}, {"object_name", o.object_name()}, {"license", o.license()},
              {"programs", progs}, {"maps", maps}, {"sections", sections}, {"btf", btf}};
    if (o.kernel_version()) j["kernel_version"] = *o.kernel_version();
    return j;
}

void print_object(const ElfObject& o) {
    std::cout << fmt::format("{}: object {}  license {}\n", o.name(), o.object_name(),
                             o.license().empty() ? "(none)" : o.license());
    std::cout << fmt::format("programs ({}):\n", o.programs().size());
    for (const auto& p : o.programs()) {
        std::cout << fmt::format("  {}: {}  section {}  {} insns ({} in the function)", p.name,
                                 prog_type_name(p.prog_type), p.section, p.insns.size(), p.function_insns);
        if (!p.autoload) std::cout << "  not autoloaded";
        std::string maps;
        for (const auto& r : p.map_references) {
            const std::string& name = r.map < o.maps().size() ? o.maps()[r.map].name : r.symbol;
            if (maps.find(" " + name + " ") == std::string::npos && !maps.ends_with(" " + name)) maps += " " + name;
        }
        if (!maps.empty()) std::cout << "\n\tmaps" << maps;
        std::cout << "\n";
    }
    std::cout << fmt::format("maps ({}):\n", o.maps().size());
    for (const auto& m : o.maps()) {
        std::cout << fmt::format("  {}: {}  key {}B  value {}B  max_entries {}  flags 0x{:x}  ({}, section {})", m.name,
                                 map_type_name(m.type), m.key_size, m.value_size, m.max_entries, m.map_flags,
                                 kind_name(m.kind), m.section);
        if (m.pinning == 1) std::cout << "  pinned by name";
        if (m.inner) std::cout << fmt::format("\n\tinner {}  key {}B  value {}B", map_type_name(m.inner->type),
                                              m.inner->key_size, m.inner->value_size);
        for (const auto& s : m.initial_slots) std::cout << fmt::format("\n\t[{}] = {}", s.index, s.target);
        std::cout << "\n";
    }
    std::cout << "sections:\n";
    for (const auto& s : o.sections()) {
        if (s.index == 0) continue;
        std::cout << fmt::format("  [{:2}] {:<24} {:<12} {:>8}B{}{}\n", s.index, s.name, section_type_name(s.type),
                                 s.size, s.executable() ? "  code" : "",
                                 s.relocations.empty() ? std::string() : fmt::format("  {} relocations", s.relocations.size()));
    }
    ElfBtfSummary b = o.btf_summary();
    if (!b.present) {
        std::cout << "btf: none\n";
    } else {
        std::cout << fmt::format("btf: {} types, {}B of strings", b.type_count, b.string_size);
        if (b.has_ext)
            std::cout << fmt::format("; .BTF.ext: {} func info, {} line info, {} CO-RE relocations (not applied)",
                                     b.func_info_count, b.line_info_count, b.core_relo_count);
        std::cout << "\n";
    }
}

} // namespace

Command add_object(CLI::App& app) {
    CLI::App* object = app.add_subcommand("object", "Look at ELF objects");
    object->require_subcommand(1);
    struct Options {
        std::string path;
        OutputFlags out;
    };
    auto o = std::make_shared<Options>();
    CLI::App* show = object->add_subcommand("show", "Programs, maps, sections and BTF of an object");
    show->add_option("object", o->path, "ELF object")->required();
    add_output_flags(show, &o->out);
    return {object, [o] {
                auto obj = ElfObject::open(o->path);
                if (!obj) return report(obj.error().to_string());
                if (o->out.any()) {
                    emit(object_json(*obj), o->out.pretty);
                } else {
                    print_object(*obj);
                }
                return 0;
            }};
}

} // namespace bpfvm::cli
