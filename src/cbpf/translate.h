// The translation of a checked classic program to eBPF (internal).
#pragma once

#include <vector>

#include "bpfvm/cbpf.h"
#include "bpfvm/insn.h"

namespace bpfvm::cbpf {

struct Translation {
    std::vector<bpfvm::Insn> insns;
    bool uses_metadata = false; // reads Context fields other than len and network_offset
    bool has_loops = false;     // backward jumps (Libpcap dialect only)
};

// `program` must have passed check() for `dialect`.
Result<Translation> translate(std::span<const Insn> program, Dialect dialect);

} // namespace bpfvm::cbpf
