#include "cbpf/opcodes.h"

namespace bpfvm::cbpf {

bool is_known_opcode(uint16_t code) {
    switch (code) {
    case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
    case BPF_LD | BPF_IMM: case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_W | BPF_LEN: case BPF_LDX | BPF_B | BPF_MSH:
    case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_MEM:
    case BPF_ST: case BPF_STX:
    case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
    case BPF_RET | BPF_K: case BPF_RET | BPF_A:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
        return true;
    default: return false;
    }
}

const char* ancillary_name(uint32_t k) {
    switch (k - static_cast<uint32_t>(SKF_AD_OFF)) {
    case SKF_AD_PROTOCOL: return "proto";
    case SKF_AD_PKTTYPE: return "type";
    case SKF_AD_IFINDEX: return "ifidx";
    case SKF_AD_NLATTR: return "nla";
    case SKF_AD_NLATTR_NEST: return "nlan";
    case SKF_AD_MARK: return "mark";
    case SKF_AD_QUEUE: return "queue";
    case SKF_AD_HATYPE: return "hatype";
    case SKF_AD_RXHASH: return "rxhash";
    case SKF_AD_CPU: return "cpu";
    case SKF_AD_ALU_XOR_X: return "xor_x";
    case SKF_AD_VLAN_TAG: return "vlan_tci";
    case SKF_AD_VLAN_TAG_PRESENT: return "vlanp";
    case SKF_AD_PAY_OFFSET: return "poff";
    case SKF_AD_RANDOM: return "random";
    case SKF_AD_VLAN_TPID: return "vlan_tpid";
    default: return nullptr;
    }
}

} // namespace bpfvm::cbpf
