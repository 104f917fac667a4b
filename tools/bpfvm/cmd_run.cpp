// bpfvm run: run a program on memory and print r0.
#include <functional>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/elf.h"
#include "bpfvm/jit.h"
#include "bpfvm/runtime.h"
#include "bpfvm/vm.h"
#include "commands.h"

namespace bpfvm::cli {
namespace {

// Whether `path` is an ELF object with maps or global data: such a program
// runs through the runtime (LoadedObject), which creates them.
bool object_has_maps(const std::string& path, InputFormat format) {
    if (path == "-" || (format != InputFormat::Auto && format != InputFormat::Elf)) return false;
    auto obj = ElfObject::open(path);
    return obj && !obj->maps().empty();
}

} // namespace

Command add_run(CLI::App& app) {
    struct Options {
        std::string input;
        std::string section;
        std::string mem_file;
        std::string mem_hex;
        size_t mem_size = 0;
        bool unchecked = false;
        bool checked_flag = false; // the default anyway
        bool blinding = false;
        bool dump_jit = false;
        uint64_t budget = uint64_t(1) << 28;
        std::string engine = JitProgram::supported() ? "jit" : "interp";
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
    auto* checked = cmd->add_flag("--checked", opts->checked_flag, "The checked mode (the default until bpfvm has a verifier): every load and "
                                               "store confined to the stack and the memory, the budget enforced");
    cmd->add_flag("--unchecked", opts->unchecked,
                  "Run without the checked mode's checks: only for programs known to be safe")
        ->excludes(checked);
    cmd->add_option("--budget", opts->budget, "Instruction budget in checked mode")->check(CLI::PositiveNumber);
    cmd->add_option("--engine", opts->engine, "Execution engine: jit (the default on x86-64) or interp")
        ->check(CLI::IsMember({"interp", "jit"}));
    cmd->add_flag("--blinding", opts->blinding, "JIT: blind the immediates (as Linux's bpf_jit_harden)");
    cmd->add_flag("--dump-jit", opts->dump_jit, "Print the native code, each BPF instruction above what it became");
    cmd->add_option("--repeat", opts->repeat, "Run this many times (the memory is restored before each run)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--json", opts->json, "Print the result as JSON");
    add_format_option(cmd, &opts->format);
    return {cmd, [opts] {
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
                RunOptions ro;
                ro.checked = !opts->unchecked;
                ro.insn_budget = opts->budget;
                std::function<Result<uint64_t>(std::vector<uint8_t>&)> run_once;
                std::optional<Interpreter> vm;
                std::optional<JitProgram> jit;
                std::shared_ptr<LoadedObject> object;
                std::string name = opts->input;
                if (object_has_maps(opts->input, opts->format)) {
                    // The runtime creates the object's maps and binds all its helpers.
                    if (opts->blinding) return report("--blinding: not available for objects with maps (use bpfvm prog run)");
                    LoadOptions lo;
                    lo.engine = opts->engine == "jit" ? EngineKind::Jit : EngineKind::Interpreter;
                    lo.checked = !opts->unchecked;
                    auto loaded = LoadedObject::load(opts->input, lo);
                    if (!loaded) return report(loaded.error().to_string());
                    object = *loaded;
                    std::shared_ptr<LoadedProgram> p;
                    if (!opts->section.empty()) {
                        p = object->find_program(opts->section);
                        if (!p) return report(fmt::format("{}: no section or function named '{}'", opts->input, opts->section));
                    } else if (!object->programs().empty()) {
                        p = object->programs().front();
                    } else {
                        return report(fmt::format("{}: the object has no programs", opts->input));
                    }
                    name = fmt::format("{}:{}", opts->input, p->section());
                    if (opts->dump_jit) {
                        if (!p->jit()) return report("--dump-jit needs --engine jit");
                        std::cout << p->jit()->dump();
                    }
                    run_once = [p, &ro](std::vector<uint8_t>& m) { return p->run(m.empty() ? nullptr : m.data(), m.size(), ro); };
                } else {
                    auto in = read_program(opts->input, opts->format, opts->section);
                    if (!in) return report(in.error().to_string());
                    name = in->name;
                    auto prog = Program::from_insns(std::move(in->insns), in->name);
                    if (!prog) {
                        Error e = prog.error();
                        return report(fmt::format("{}: {}", in->name, e.to_string()));
                    }
                    if (opts->engine == "jit") {
                        if (!JitProgram::supported()) return report("the JIT needs an x86-64 host: use --engine interp");
                        JitOptions jo;
                        jo.checked = !opts->unchecked;
                        jo.blinding = opts->blinding;
                        auto compiled = JitProgram::compile(*prog, default_helpers(), {}, jo);
                        if (!compiled) return report(fmt::format("{}: {}", in->name, compiled.error().to_string()));
                        jit = std::move(*compiled);
                        if (opts->dump_jit) std::cout << jit->dump();
                        run_once = [&](std::vector<uint8_t>& m) { return jit->run(m.empty() ? nullptr : m.data(), m.size(), ro); };
                    } else {
                        if (opts->dump_jit) return report("--dump-jit needs --engine jit");
                        auto created = Interpreter::create(*prog);
                        if (!created) return report(fmt::format("{}: {}", in->name, created.error().to_string()));
                        vm = std::move(*created);
                        run_once = [&](std::vector<uint8_t>& m) { return vm->run(m.empty() ? nullptr : m.data(), m.size(), ro); };
                    }
                }
                std::vector<uint8_t> work;
                Result<uint64_t> r0 = 0;
                for (int i = 0; i < opts->repeat; i++) {
                    work = memory;
                    r0 = run_once(work);
                    if (!r0) break;
                }
                if (!r0) {
                    if (opts->json) {
                        nlohmann::json j = {{"error", r0.error().message}, {"insn", r0.error().insn}};
                        std::cout << j.dump() << "\n";
                    }
                    return report(fmt::format("{}: run failed: {}", name, r0.error().to_string()));
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
