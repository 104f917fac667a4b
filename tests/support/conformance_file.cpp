#include "conformance_file.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bpfvm::testing {

std::filesystem::path conformance_dir() {
    if (const char* env = std::getenv("BPFVM_CONFORMANCE_DIR"); env && *env) {
        std::filesystem::path p(env);
        if (std::filesystem::is_directory(p / "tests")) return p / "tests";
        return std::filesystem::is_directory(p) ? p : std::filesystem::path();
    }
    std::filesystem::path p(BPFVM_CONFORMANCE_DEFAULT);
    return std::filesystem::is_directory(p) ? p : std::filesystem::path();
}

std::vector<std::filesystem::path> conformance_files(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    if (dir.empty()) return out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".data") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

ConformanceCase read_conformance_case(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    ConformanceCase c;
    c.path = path;
    c.name = path.stem().string();
    std::string section, line, mem_text, result_text, error_text;
    while (std::getline(in, line)) {
        if (line.starts_with("-- ")) {
            section = line.substr(3);
            continue;
        }
        if (section.empty() && line.starts_with("#")) continue;
        if (section == "asm") c.asm_text += line + "\n";
        else if (section == "mem") mem_text += line + " ";
        else if (section == "result") result_text += line;
        else if (section == "error") error_text += line;
        else if (section == "raw") {
            std::string t = line.substr(0, line.find('#'));
            if (t.find_first_not_of(" \t\r") != std::string::npos) c.raw.push_back(std::stoull(t, nullptr, 16));
        }
    }
    std::istringstream mem(mem_text);
    for (std::string byte; mem >> byte;) c.memory.push_back(static_cast<uint8_t>(std::stoul(byte, nullptr, 16)));
    if (result_text.find_first_not_of(" \t\r") != std::string::npos) c.result = std::stoull(result_text, nullptr, 16);
    if (!error_text.empty()) c.error = error_text;
    return c;
}

} // namespace bpfvm::testing
