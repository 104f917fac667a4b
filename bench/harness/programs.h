// The benchmark programs (bench/programs/<name>.c) and their inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bpfvm::bench {

// The native build of a program: the same C function, compiled by the host
// compiler into libbench_native (a separate library, so it cannot be inlined
// into the timing loop).
using NativeFn = uint64_t (*)(uint8_t* data, uint64_t len);

// What a program runs on: r1 points at `bytes`, placed `offset` bytes past a
// 64-byte boundary, r2 = bytes.size().
struct Input {
    std::vector<uint8_t> bytes;
    size_t offset = 0;
    // Optional check of the result against an independent computation in the
    // harness: "" when `result` is right, otherwise what is wrong with it.
    std::function<std::string(uint64_t result)> validate;
};

struct BenchProgram {
    std::string_view name;    // bench/programs/<name>.c, section bench/<name>, object <name>.bpf.o
    std::string_view summary; // one line: what it exercises
    NativeFn native;
    Input (*make_input)();
    // Why the kernel does not run this program's XDP entry ("": it does).
    std::string_view kernel_skip = {};
    // A fixed-cost probe (the empty program): reported, but left out of the
    // geometric means, whose subject is the work programs do.
    bool fixed_cost = false;

    std::string section() const { return "bench/" + std::string(name); }
    // The XDP entry (r1 = struct xdp_md *) the kernel runs.
    static std::string xdp_section() { return "xdp"; }
    std::string object_file() const { return std::string(name) + ".bpf.o"; }
};

// All programs, in the order they are reported.
std::span<const BenchProgram> bench_programs();

// A private copy of an input at its alignment. Each engine runs on its own
// copy, so a program that wrote to its input could not change what another
// engine sees.
class InputBuffer {
public:
    explicit InputBuffer(const Input& input);
    InputBuffer(const InputBuffer&) = delete;
    InputBuffer& operator=(const InputBuffer&) = delete;

    uint8_t* data() { return data_; }
    size_t size() const { return size_; }

private:
    std::vector<uint8_t> storage_;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

} // namespace bpfvm::bench
