// Reading the bpf_conformance suite's .data files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace bpfvm::testing {

struct ConformanceCase {
    std::filesystem::path path;
    std::string name;                   // file stem
    std::string asm_text;               // -- asm
    std::vector<uint8_t> memory;        // -- mem
    std::optional<uint64_t> result;     // -- result
    std::optional<std::string> error;   // -- error
    std::vector<uint64_t> raw;          // -- raw (64-bit words)
};

// The suite's directory: $BPFVM_CONFORMANCE_DIR, else ../shared/conformance/tests
// beside the source tree. Empty when neither exists.
std::filesystem::path conformance_dir();

// Every *.data file of the directory, sorted by name.
std::vector<std::filesystem::path> conformance_files(const std::filesystem::path& dir);

ConformanceCase read_conformance_case(const std::filesystem::path& path);

} // namespace bpfvm::testing
