// bpftool's output flags: -j/--json (one line of JSON), -p/--pretty (indented).
#pragma once

#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace bpfvm::cli {

struct OutputFlags {
    bool json = false;
    bool pretty = false;
    bool any() const { return json || pretty; }
};

inline void add_output_flags(CLI::App* cmd, OutputFlags* f) {
    cmd->add_flag("-j,--json", f->json, "Output as JSON");
    cmd->add_flag("-p,--pretty", f->pretty, "Output as human-readable JSON");
}

inline void emit(const nlohmann::json& j, bool pretty) { std::cout << (pretty ? j.dump(2) : j.dump()) << "\n"; }

} // namespace bpfvm::cli
