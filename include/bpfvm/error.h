// Errors carry where (instruction index, source line) and why.
#pragma once

#include <cstdint>
#include <string>

#include <tl/expected.hpp>

namespace bpfvm {

struct Error {
    std::string message; // the reason, without the location prefix
    int64_t insn = -1;   // instruction index, or -1
    int line = 0;        // 1-based source line (assembly text), or 0
    std::string file;    // source file, or empty

    // "file:line: instruction N: message", each part only where known.
    std::string to_string() const;
};

template <typename T> using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(std::string message, int64_t insn = -1, int line = 0) {
    return tl::unexpected<Error>(Error{std::move(message), insn, line, {}});
}

} // namespace bpfvm
