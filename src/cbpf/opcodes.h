// Classic BPF opcodes: which exist, and the names of the ancillary loads.
#pragma once

#include <cstdint>
#include <span>

#include <linux/filter.h>

#include "bpfvm/cbpf.h"

namespace bpfvm::cbpf {

// Linux's chk_code_allowed(): the opcodes a socket filter may use.
bool is_known_opcode(uint16_t code);

inline bool is_conditional_jump(uint16_t code) {
    if (BPF_CLASS(code) != BPF_JMP || code > 0xff) return false;
    switch (BPF_OP(code)) {
    case BPF_JEQ: case BPF_JGT: case BPF_JGE: case BPF_JSET: return true;
    default: return false;
    }
}

// The name of an ancillary load's k (SKF_AD_OFF + SKF_AD_*), as libpcap's
// bpf_image prints it ("proto", "vlan_tci", ...), or nullptr.
const char* ancillary_name(uint32_t k);

// The cells of M[] some read may see before any write (the Libpcap dialect
// zeroes them, as its checker does not refuse such reads).
uint16_t cells_read_unwritten(std::span<const Insn> program);

} // namespace bpfvm::cbpf
