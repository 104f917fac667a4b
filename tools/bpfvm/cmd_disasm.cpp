// bpfvm disasm: bytecode (raw, or sections of an ELF object) to text.
#include <iostream>
#include <map>

#include <elf.h>
#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/elf.h"
#include "commands.h"

namespace bpfvm::cli {

Command add_disasm(CLI::App& app) {
    struct Options {
        std::string input;
        std::string section;
        std::string syntax = "llvm";
        bool plain = false;
        bool no_raw = false;
        InputFormat format = InputFormat::Auto;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("disasm", "Disassemble bytecode or the program sections of an ELF object");
    cmd->add_option("input", opts->input, "Bytecode, assembly or ELF object ('-' for stdin)")->required();
    cmd->add_option("-s,--section", opts->section, "Only this section of an ELF object");
    cmd->add_option("--syntax", opts->syntax, "llvm (as llvm-objdump prints) or conformance")
        ->check(CLI::IsMember({"llvm", "conformance"}));
    cmd->add_flag("--plain", opts->plain, "Instructions only: no indices, bytes or symbols (reassembles as is)");
    cmd->add_flag("--no-raw", opts->no_raw, "Do not print the instruction bytes");
    add_format_option(cmd, &opts->format);
    return {cmd, [opts] {
                ListingOptions lo;
                lo.syntax = opts->syntax == "conformance" ? Syntax::Conformance : Syntax::Llvm;
                lo.raw_bytes = !opts->plain && !opts->no_raw;
                lo.indices = !opts->plain;
                auto bytes = read_file(opts->input);
                if (!bytes) return report(bytes.error().to_string());
                bool is_elf = opts->format == InputFormat::Elf ||
                              (opts->format == InputFormat::Auto && bytes->size() >= 4 &&
                               std::string_view(reinterpret_cast<const char*>(bytes->data()), 4) == "\x7f" "ELF");
                if (!is_elf) {
                    auto in = read_program(opts->input, opts->format, opts->section);
                    if (!in) return report(in.error().to_string());
                    std::cout << disassemble(in->insns, lo);
                    return 0;
                }
                // Raw sections, as llvm-objdump reads them: objects the loader refuses
                // (externs, say) still disassemble.
                auto obj = ElfObject::from_memory(*bytes, opts->input, ElfOpenOptions{.sections_only = true});
                if (!obj) return report(obj.error().to_string());
                std::vector<const ElfSection*> sections;
                if (!opts->section.empty()) {
                    const ElfSection* s = obj->find_section(opts->section);
                    if (!s) return report(fmt::format("{}: no section named '{}'", opts->input, opts->section));
                    if (!s->executable())
                        return report(fmt::format("{}: section {} holds no instructions", opts->input, opts->section));
                    sections.push_back(s);
                } else {
                    sections = obj->program_sections();
                }
                if (!opts->plain) std::cout << fmt::format("\n{}:\tfile format elf64-bpf\n", opts->input);
                for (const ElfSection* s : sections) {
                    if (s->data.size() % sizeof(Insn) != 0)
                        return report(fmt::format("{}: section {} is {} bytes: not a whole number of instructions",
                                                  opts->input, s->name, s->data.size()));
                    ListingOptions so = lo;
                    if (!opts->plain) {
                        for (const auto& sym : obj->symbols())
                            if (sym.section == s->index && sym.type != STT_SECTION && sym.type != STT_FILE &&
                                !sym.name.empty() && sym.value % 8 == 0)
                                so.symbols.emplace(sym.value / 8, sym.name);
                        std::cout << fmt::format("\nDisassembly of section {}:\n\n", s->name);
                    }
                    std::cout << disassemble(insns_from_bytes(s->data), so);
                }
                return 0;
            }};
}

} // namespace bpfvm::cli
