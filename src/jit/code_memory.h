// Memory for generated code: mapped read-write while the code is written,
// then read-execute (never both), unmapped when freed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bpfvm/error.h"

namespace bpfvm::jit {

class CodeMemory {
public:
    // Read-write pages for `size` bytes, placed near `near` when possible (so
    // that 32-bit relative calls reach the library's functions).
    static Result<CodeMemory> allocate(size_t size, const void* near = nullptr);

    CodeMemory() = default;
    CodeMemory(CodeMemory&& other) noexcept;
    CodeMemory& operator=(CodeMemory&& other) noexcept;
    CodeMemory(const CodeMemory&) = delete;
    CodeMemory& operator=(const CodeMemory&) = delete;
    ~CodeMemory();

    uint8_t* data() const { return base_; }
    size_t capacity() const { return mapped_; }
    size_t size() const { return used_; }

    // Keeps the first `used` bytes, makes them read-execute and unmaps the rest.
    Result<void> seal(size_t used);

private:
    uint8_t* base_ = nullptr;
    size_t mapped_ = 0;
    size_t used_ = 0;
};

} // namespace bpfvm::jit
