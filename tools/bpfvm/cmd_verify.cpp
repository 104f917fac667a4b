// bpfvm verify: runs the verifier on the programs of an ELF object and says,
// for each, that it is safe or why not (the instruction, the C line, the
// register and what the verifier knew).
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "bpfvm/elf.h"
#include "bpfvm/verifier.h"
#include "commands.h"
#include "json_output.h"

namespace bpfvm::cli {
namespace {

Command add_verify(CLI::App& app) {
    struct Options {
        std::string object;
        std::string program;
        bool strict_stack = false;
        uint64_t budget = 1'000'000;
        OutputFlags out;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand(
        "verify", "Prove the programs of an ELF object safe, as Linux's verifier does (in progress: docs/verifier.md)");
    cmd->add_option("object", o->object, "ELF object")->required();
    cmd->add_option("-s,--section,--name", o->program, "Only the program with this function or section name");
    cmd->add_flag("--strict-stack", o->strict_stack,
                  "Refuse reads of stack bytes never written (Linux refuses them to unprivileged programs only)");
    cmd->add_option("--budget", o->budget, "Instructions the verifier may process per program (Linux: 1,000,000)")
        ->check(CLI::PositiveNumber);
    add_output_flags(cmd, &o->out);
    return {cmd, [o] {
                auto obj = ElfObject::open(o->object);
                if (!obj) return report(obj.error().to_string());
                VerifyOptions vo;
                vo.allow_uninit_stack = !o->strict_stack;
                vo.insn_budget = o->budget;
                int failed = 0, verified = 0;
                nlohmann::json all = nlohmann::json::array();
                for (const ElfProgram& p : obj->programs()) {
                    if (!o->program.empty() && p.name != o->program && p.section != o->program) continue;
                    auto start = std::chrono::steady_clock::now();
                    auto r = verify(*obj, p, vo);
                    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
                    verified++;
                    if (!r) failed++;
                    if (o->out.any()) {
                        nlohmann::json j = {{"name", p.name}, {"section", p.section}, {"verified", static_cast<bool>(r)},
                                            {"time_us", us}};
                        if (r) {
                            j["insns_processed"] = r->insns_processed;
                            j["states"] = r->states;
                            j["stack_depth"] = r->stack_depth;
                        } else {
                            j["error"] = r.error().message;
                            j["insn"] = r.error().insn;
                        }
                        all.push_back(j);
                    } else if (r) {
                        std::cout << fmt::format("{} ({}): verified: {} instructions processed, {} states, stack {} bytes, {:.0f} us\n",
                                                 p.name, p.section, r->insns_processed, r->states, r->stack_depth, us);
                    } else {
                        std::cout << fmt::format("{} ({}): refused: {}\n", p.name, p.section, r.error().to_string());
                    }
                }
                if (verified == 0)
                    return report(o->program.empty() ? fmt::format("{}: the object has no programs", o->object)
                                                     : fmt::format("{}: no program or section named '{}'", o->object, o->program));
                if (o->out.any()) emit(all, o->out.pretty);
                return failed ? 1 : 0;
            }};
}

const CommandRegistration registration{"verify", add_verify};

} // namespace
} // namespace bpfvm::cli
