// bpfvm conformance-plugin: the bpf_conformance runner's plugin protocol.
//
//   bpfvm conformance-plugin [MEMORY-HEX] [OPTIONS]
//
// The program arrives on stdin as hex bytes; r1 points to a copy of the
// memory and r2 holds its size; r0 is printed in hex. On failure the error is
// printed on stdout (the runner compares it with a test's expected error) and
// the exit code is 1. OPTIONS (one argument or several): --checked, --interp
// (the default engine is the JIT where the host has it).
#include <iostream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "bpfvm/jit.h"
#include "bpfvm/vm.h"
#include "commands.h"

namespace bpfvm::cli {

int conformance_plugin(const std::vector<std::string>& args) {
    std::string mem_hex;
    bool checked = false;
    bool interp = !JitProgram::supported();
    bool have_mem = false;
    for (const std::string& arg : args) {
        std::istringstream words(arg);
        std::string w;
        bool option_word = false;
        for (std::string first; words >> first;) {
            if (first.starts_with("--")) {
                option_word = true;
                if (first == "--checked") checked = true;
                else if (first == "--interp") interp = true;
                else if (first == "--jit") interp = false;
                else if (first == "--help" || first == "-h") {
                    std::cout << "usage: bpfvm conformance-plugin [MEMORY-HEX] [--checked] [--interp|--jit] < PROGRAM-HEX\n";
                    return 0;
                } else {
                    std::cout << "unknown plugin option " << first << "\n";
                    return 2;
                }
            }
        }
        if (!option_word && !have_mem) {
            mem_hex = arg;
            have_mem = true;
        }
    }
    std::string program_hex((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto bytes = parse_hex(program_hex, "program");
    if (!bytes) {
        std::cout << bytes.error().to_string() << "\n";
        return 1;
    }
    auto memory = parse_hex(mem_hex, "memory");
    if (!memory) {
        std::cout << memory.error().to_string() << "\n";
        return 1;
    }
    auto prog = Program::from_bytes(*bytes);
    if (!prog) {
        std::cout << prog.error().to_string() << "\n";
        return 1;
    }
    RunOptions ro;
    ro.checked = checked;
    Result<uint64_t> r0 = 0;
    uint8_t* mem = memory->empty() ? nullptr : memory->data();
    if (interp) {
        auto vm = Interpreter::create(*prog);
        if (!vm) {
            std::cout << vm.error().to_string() << "\n";
            return 1;
        }
        r0 = vm->run(mem, memory->size(), ro);
    } else {
        JitOptions jo;
        jo.checked = checked;
        auto jit = JitProgram::compile(*prog, default_helpers(), {}, jo);
        if (!jit) {
            std::cout << jit.error().to_string() << "\n";
            return 1;
        }
        r0 = jit->run(mem, memory->size(), ro);
    }
    if (!r0) {
        std::cout << r0.error().to_string() << "\n";
        return 1;
    }
    std::cout << fmt::format("{:x}", *r0) << "\n";
    return 0;
}

} // namespace bpfvm::cli
