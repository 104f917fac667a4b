// bpfvm: the command.
#include <algorithm>
#include <iostream>

#include "commands.h"

// The runtime's commands (tools/bpfvm/cmd_{prog,map,object,trace}.cpp).
namespace bpfvm::cli {
Command add_prog(CLI::App& app);
Command add_map(CLI::App& app);
Command add_object(CLI::App& app);
Command add_trace(CLI::App& app);

std::vector<std::pair<std::string, AddCommand>>& registered_commands() {
    static std::vector<std::pair<std::string, AddCommand>> commands;
    return commands;
}

CommandRegistration::CommandRegistration(const char* name, AddCommand add) {
    registered_commands().emplace_back(name, add);
}
} // namespace bpfvm::cli

int main(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    // The conformance runner passes the plugin's options as one argument:
    // handle it before CLI11 sees them.
    if (args.size() >= 2 && args[1] == "conformance-plugin")
        return bpfvm::cli::conformance_plugin({args.begin() + 2, args.end()});

    // bpftool takes its output flags before the command too (`bpftool -j map
    // show`); the commands that have them take them at their end.
    {
        size_t first = 1;
        std::vector<std::string> output_flags;
        while (first < args.size() && !args[first].empty() && args[first][0] == '-') {
            const std::string& a = args[first];
            if (a == "-j" || a == "-p" || a == "--json" || a == "--pretty" || a == "-jp" || a == "-pj") {
                output_flags.push_back(a);
                args.erase(args.begin() + static_cast<long>(first));
            } else {
                first++;
            }
        }
        args.insert(args.end(), output_flags.begin(), output_flags.end());
    }
    std::vector<char*> argv_moved;
    for (auto& a : args) argv_moved.push_back(a.data());
    argc = static_cast<int>(argv_moved.size());
    argv = argv_moved.data();

    CLI::App app{"bpfvm: eBPF programs in userspace: assemble, disassemble, verify and run them"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "bpfvm 0.1.0");
    app.add_subcommand("conformance-plugin",
                       "Run one program for the bpf_conformance runner (program as hex on stdin, memory as hex in "
                       "the first argument, r0 printed in hex)");
    std::vector<bpfvm::cli::Command> commands = {
        bpfvm::cli::add_asm(app),
        bpfvm::cli::add_disasm(app),
        bpfvm::cli::add_run(app),
        bpfvm::cli::add_features(app),
        bpfvm::cli::add_prog(app),
        bpfvm::cli::add_map(app),
        bpfvm::cli::add_object(app),
        bpfvm::cli::add_trace(app),
    };
    auto registered = bpfvm::cli::registered_commands();
    std::sort(registered.begin(), registered.end());
    for (auto& [name, add] : registered) commands.push_back(add(app));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    for (auto& c : commands)
        if (c.app->parsed()) return c.run();
    return 0;
}
