// Running commands from tests.
#pragma once

#include <string>

namespace bpfvm::testing {

struct CommandResult {
    int exit_code = -1;
    std::string out; // stdout
    std::string err; // stderr
};

// Runs `command` through /bin/sh with `input` on stdin.
CommandResult run_command(const std::string& command, const std::string& input = {});

std::string shell_quote(const std::string& s);

// A fresh temporary directory, removed by the destructor.
struct TempDir {
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path;
    std::string file(const std::string& name) const { return path + "/" + name; }
    void write(const std::string& name, const std::string& content) const;
};

} // namespace bpfvm::testing
