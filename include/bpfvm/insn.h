// The eBPF instruction word, as Linux lays it out (struct bpf_insn).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <linux/bpf.h>

// Opcode parts that linux-libc-dev 6.1 (Debian 12) predates. The values are
// Linux's (include/uapi/linux/bpf.h in 6.6 and later); the guards let newer
// headers win.
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif
#ifndef BPF_JCOND
#define BPF_JCOND 0xe0
#endif
#ifndef BPF_MAY_GOTO
#define BPF_MAY_GOTO 0
#endif
#ifndef BPF_LOAD_ACQ
#define BPF_LOAD_ACQ 0x100
#endif
#ifndef BPF_STORE_REL
#define BPF_STORE_REL 0x110
#endif

namespace bpfvm {

// One 64-bit instruction slot; layout-compatible with struct bpf_insn.
struct Insn {
    uint8_t opcode = 0;
    uint8_t dst : 4 = 0;
    uint8_t src : 4 = 0;
    int16_t off = 0;
    int32_t imm = 0;

    friend bool operator==(const Insn& a, const Insn& b) {
        return a.opcode == b.opcode && a.dst == b.dst && a.src == b.src && a.off == b.off &&
               a.imm == b.imm;
    }
};
static_assert(sizeof(Insn) == 8, "Insn must be one 64-bit slot");
static_assert(sizeof(Insn) == sizeof(struct bpf_insn));

inline constexpr int kNumRegs = 11;      // r0..r10
inline constexpr int kFramePointer = 10; // r10, read-only
inline constexpr int kStackSize = 512;   // bytes of stack per frame (MAX_BPF_STACK)
inline constexpr int kMaxCallFrames = 8; // MAX_CALL_FRAMES
inline constexpr uint64_t kMaxLoops = 8u * 1024 * 1024; // BPF_MAX_LOOPS, may_goto budget
inline constexpr uint32_t kMaxTailCalls = 33; // MAX_TAIL_CALL_CNT: tail calls in a chain

// Bytes (little-endian, 8 per slot) <-> instruction slots.
std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes);
std::vector<uint8_t> insns_to_bytes(std::span<const Insn> insns);

} // namespace bpfvm
