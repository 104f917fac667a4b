// bpfvm features: what this build supports.
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/isa.h"
#include "bpfvm/jit.h"
#include "bpfvm/vm.h"
#include "commands.h"

namespace bpfvm::cli {

nlohmann::json features_json() {
    std::map<std::string, std::vector<std::string>> groups;
    std::set<uint8_t> opcodes;
    for (const OpInfo& info : op_table()) {
        groups[std::string(group_name(info.group))].push_back(info.name);
        opcodes.insert(info.opcode);
    }
    nlohmann::json j;
    j["version"] = "0.1.0";
    nlohmann::json g = nlohmann::json::object();
    for (auto& [name, ops] : groups) g[name] = {{"instructions", ops.size()}, {"supported", true}};
    j["isa"] = {{"groups", g},
                {"instructions", op_table().size()},
                {"opcodes", opcodes.size()},
                {"lddw_sources", {0, 1, 2, 3, 4, 5, 6}},
                {"call_sources", {0, 1, 2}},
                {"extensions", {"callx", "may_goto", "load_acquire", "store_release"}},
                {"stack_per_frame", kStackSize},
                {"max_call_frames", kMaxCallFrames}};
    nlohmann::json engines = nlohmann::json::array();
    if (JitProgram::supported())
        engines.push_back({{"name", "jit"}, {"arch", "x86_64"}, {"modes", {"fast", "checked"}}, {"default", true},
                           {"options", {"blinding", "dump"}}});
    engines.push_back({{"name", "interp"}, {"modes", {"fast", "checked"}}, {"default", !JitProgram::supported()}});
    j["engines"] = engines;
    j["default_mode"] = "checked";
    j["program_types"] = nlohmann::json::array();
    j["maps"] = nlohmann::json::array();
    nlohmann::json helpers = nlohmann::json::array();
    for (const auto& [id, h] : default_helpers().helpers()) helpers.push_back({{"id", id}, {"name", h.name}});
    j["helpers"] = helpers;
    j["syntaxes"] = {"llvm", "conformance"};
    j["inputs"] = {"raw", "asm", "elf"};
    return j;
}

Command add_features(CLI::App& app) {
    auto json = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand("features", "Print what this build supports");
    cmd->add_flag("--json", *json, "As JSON");
    return {cmd, [json] {
                nlohmann::json j = features_json();
                if (*json) {
                    std::cout << j.dump(2) << "\n";
                    return 0;
                }
                std::cout << fmt::format("bpfvm {}\n\n", j["version"].get<std::string>());
                std::cout << fmt::format("Instruction set: {} instructions over {} opcodes\n",
                                         j["isa"]["instructions"].get<int>(), j["isa"]["opcodes"].get<int>());
                for (auto& [name, g] : j["isa"]["groups"].items())
                    std::cout << fmt::format("  {:<10} {:>3} instructions  supported\n", name,
                                             g["instructions"].get<int>());
                std::cout << "  lddw sources 0-6 (imm, map fd, map value, BTF id, function, map idx, map idx value)\n";
                std::cout << "  calls: helper (src 0), local function (src 1), kfunc (src 2), callx\n";
                std::cout << fmt::format("  {} bytes of stack per frame, {} frames\n\n", kStackSize, kMaxCallFrames);
                std::cout << "Engines:\n";
                if (JitProgram::supported())
                    std::cout << "  jit        x86-64 JIT (default); modes: fast, checked; constant blinding; --dump-jit\n";
                std::cout << "  interp     threaded interpreter; modes: fast, checked\n";
                std::cout << "  The checked mode is the default until bpfvm has a verifier.\n\n";
                std::cout << "Program types: none yet (programs run on raw memory: r1 = data, r2 = size)\n";
                std::cout << "Maps: none yet\n";
                std::cout << "Helpers:\n";
                for (auto& h : j["helpers"])
                    std::cout << fmt::format("  {:>4}  {}\n", h["id"].get<int>(), h["name"].get<std::string>());
                std::cout << "\nAssembly syntaxes: llvm (llvm-objdump, verifier log), conformance (bpf_conformance)\n";
                std::cout << "Program inputs: raw bytecode, assembly text, ELF objects (clang -target bpf)\n";
                return 0;
            }};
}

} // namespace bpfvm::cli
