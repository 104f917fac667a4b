#include "process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bpfvm::testing {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bpfvm-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

void TempDir::write(const std::string& name, const std::string& content) const {
    std::ofstream f(file(name), std::ios::binary);
    f << content;
}

CommandResult run_command(const std::string& command, const std::string& input) {
    TempDir dir;
    dir.write("in", input);
    std::string full = "(" + command + ") <" + shell_quote(dir.file("in")) + " >" + shell_quote(dir.file("out")) +
                       " 2>" + shell_quote(dir.file("err"));
    int status = std::system(full.c_str());
    CommandResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    auto slurp = [](const std::string& path) {
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
    r.out = slurp(dir.file("out"));
    r.err = slurp(dir.file("err"));
    return r;
}

} // namespace bpfvm::testing
