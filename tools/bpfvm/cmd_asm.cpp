// bpfvm asm: assembly text to bytecode.
#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/program.h"
#include "commands.h"

namespace bpfvm::cli {

Command add_asm(CLI::App& app) {
    struct Options {
        std::string input;
        std::string output;
        bool no_check = false;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("asm", "Assemble a program (LLVM/kernel or conformance syntax) to bytecode");
    cmd->add_option("input", opts->input, "Assembly file ('-' for stdin)")->required();
    cmd->add_option("-o,--output", opts->output,
                    "Write the bytecode (8 bytes per instruction) to this file ('-' for stdout); without it, print "
                    "the bytes in hex");
    cmd->add_flag("--no-check", opts->no_check, "Do not check the program's instructions and jumps");
    return {cmd, [opts] {
                auto bytes = read_file(opts->input);
                if (!bytes) return report(bytes.error().to_string());
                auto insns = assemble(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
                if (!insns) {
                    Error e = insns.error();
                    e.file = opts->input;
                    return report(e.to_string());
                }
                if (!opts->no_check) {
                    auto prog = Program::from_insns(*insns);
                    if (!prog) {
                        Error e = prog.error();
                        e.file = opts->input;
                        return report(e.to_string());
                    }
                }
                auto out = insns_to_bytes(*insns);
                if (opts->output.empty()) {
                    for (size_t i = 0; i < out.size(); i += 8) {
                        for (size_t b = 0; b < 8; b++) std::cout << fmt::format("{:02x}{}", out[i + b], b < 7 ? " " : "\n");
                    }
                    return 0;
                }
                if (opts->output == "-") {
                    std::cout.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
                    return std::cout.good() ? 0 : report("cannot write to stdout");
                }
                std::string tmp = opts->output + ".tmp";
                {
                    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
                    if (!f) return report(fmt::format("{}: cannot open for writing", tmp));
                    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
                    if (!f) return report(fmt::format("{}: write failed", tmp));
                }
                if (std::rename(tmp.c_str(), opts->output.c_str()) != 0) {
                    std::remove(tmp.c_str());
                    return report(fmt::format("{}: cannot write", opts->output));
                }
                return 0;
            }};
}

} // namespace bpfvm::cli
