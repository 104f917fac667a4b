// The bpfvm command: one file per subcommand.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"
#include "bpfvm/program.h"

namespace bpfvm::cli {

// Every subcommand registers its options and the action to run once parsed.
// An action returns the process exit code.
struct Command {
    CLI::App* app;
    std::function<int()> run;
};

// Commands in files of their own can register themselves, so that adding one
// touches no other file: in the command's file,
//   static const bpfvm::cli::CommandRegistration registration{"filter", add_filter};
// main() adds them after the built-in ones, in the order of their names.
using AddCommand = Command (*)(CLI::App& app);
struct CommandRegistration {
    CommandRegistration(const char* name, AddCommand add);
};
std::vector<std::pair<std::string, AddCommand>>& registered_commands();

Command add_asm(CLI::App& app);
Command add_disasm(CLI::App& app);
Command add_run(CLI::App& app);
Command add_features(CLI::App& app);

// The bpf_conformance runner's plugin protocol; parses argv itself because
// the runner passes its options as one argument.
int conformance_plugin(const std::vector<std::string>& args);

// How a program file is given.
enum class InputFormat { Auto, Raw, Asm, Elf };
void add_format_option(CLI::App* app, InputFormat* format);

// The instructions of a program file: raw bytecode, assembly text, or a
// section (or function) of an ELF object.
struct ProgramInput {
    std::vector<Insn> insns;
    std::string name;             // for messages: file, or file:section
    std::vector<std::string> log; // notes for the user (e.g. which section was picked)
};
Result<ProgramInput> read_program(const std::string& path, InputFormat format, const std::string& section);

Result<std::vector<uint8_t>> read_file(const std::string& path);
Result<std::vector<uint8_t>> parse_hex(std::string_view text, std::string_view what);

// Prints "bpfvm: <message>" to stderr and returns 1.
int report(const std::string& message);

} // namespace bpfvm::cli
