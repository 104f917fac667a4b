// bpfvm run: run a program on memory and print r0.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/vm.h"
#include "commands.h"

namespace bpfvm::cli {

Command add_run(CLI::App& app) {
    struct Options {
        std::string input;
        std::string section;
        std::string mem_file;
        std::string mem_hex;
        size_t mem_size = 0;
        bool checked = false;
        uint64_t budget = uint64_t(1) << 28;
        std::string engine = "interp";
        bool json = false;
        int repeat = 1;
        InputFormat format = InputFormat::Auto;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("run", "Run a program (bytecode, assembly or an ELF section) and print r0");
    cmd->add_option("input", opts->input, "Bytecode, assembly or ELF object ('-' for stdin)")->required();
    cmd->add_option("-s,--section", opts->section, "Section (or function) of an ELF object");
    auto* mem = cmd->add_option("--mem", opts->mem_file, "File whose bytes the program gets: r1 points to a copy, r2 "
                                                          "holds its size");
    cmd->add_option("--mem-hex", opts->mem_hex, "The memory as hex bytes (\"01 02 ff\")")->excludes(mem);
    cmd->add_option("--mem-size", opts->mem_size, "Zero-filled memory of this many bytes (when no --mem is given)");
    cmd->add_flag("--checked", opts->checked,
                  "Checked mode: confine every load and store to the stack and the memory, enforce the budget");
    cmd->add_option("--budget", opts->budget, "Instruction budget in checked mode")->check(CLI::PositiveNumber);
    cmd->add_option("--engine", opts->engine, "Execution engine")->check(CLI::IsMember({"interp"}));
    cmd->add_option("--repeat", opts->repeat, "Run this many times (the memory is restored before each run)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--json", opts->json, "Print the result as JSON");
    add_format_option(cmd, &opts->format);
    return {cmd, [opts] {
                auto in = read_program(opts->input, opts->format, opts->section);
                if (!in) return report(in.error().to_string());
                auto prog = Program::from_insns(std::move(in->insns), in->name);
                if (!prog) {
                    Error e = prog.error();
                    return report(fmt::format("{}: {}", in->name, e.to_string()));
                }
                std::vector<uint8_t> memory;
                if (!opts->mem_file.empty()) {
                    auto m = read_file(opts->mem_file);
                    if (!m) return report(m.error().to_string());
                    memory = std::move(*m);
                } else if (!opts->mem_hex.empty()) {
                    auto m = parse_hex(opts->mem_hex, "--mem-hex");
                    if (!m) return report(m.error().to_string());
                    memory = std::move(*m);
                } else {
                    memory.assign(opts->mem_size, 0);
                }
                auto vm = Interpreter::create(*prog);
                if (!vm) return report(fmt::format("{}: {}", in->name, vm.error().to_string()));
                RunOptions ro;
                ro.checked = opts->checked;
                ro.insn_budget = opts->budget;
                std::vector<uint8_t> work;
                Result<uint64_t> r0 = 0;
                for (int i = 0; i < opts->repeat; i++) {
                    work = memory;
                    r0 = vm->run(work.empty() ? nullptr : work.data(), work.size(), ro);
                    if (!r0) break;
                }
                if (!r0) {
                    if (opts->json) {
                        nlohmann::json j = {{"error", r0.error().message}, {"insn", r0.error().insn}};
                        std::cout << j.dump() << "\n";
                    }
                    return report(fmt::format("{}: run failed: {}", in->name, r0.error().to_string()));
                }
                if (opts->json) {
                    nlohmann::json j = {{"r0", *r0}, {"r0_hex", fmt::format("{:#x}", *r0)}};
                    std::cout << j.dump() << "\n";
                } else {
                    std::cout << fmt::format("r0 = {:#x} ({})\n", *r0, static_cast<int64_t>(*r0));
                }
                return 0;
            }};
}

} // namespace bpfvm::cli
