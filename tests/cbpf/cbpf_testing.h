// Shared bits of the classic BPF tests.
#pragma once

#include <cstdint>
#include <vector>

#include <linux/filter.h>

#include "bpfvm/cbpf.h"

namespace cbpf_testing {

using bpfvm::cbpf::Insn;

inline Insn stmt(uint16_t code, uint32_t k) { return Insn{code, 0, 0, k}; }
inline Insn jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return Insn{code, jt, jf, k}; }

} // namespace cbpf_testing
