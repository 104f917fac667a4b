// The verifier's abstract state: registers (typed, with the scalar domain of
// scalar.h for values and variable offsets), each frame's stack bytes and
// spilled registers, acquired references and the held spin lock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpfvm/insn.h"
#include "verifier/scalar.h"

namespace bpfvm::verifier {

enum class RegType : uint8_t {
    NotInit,
    Scalar,
    Ctx,        // PTR_TO_CTX
    Stack,      // PTR_TO_STACK (of frame `frame`)
    MapPtr,     // CONST_PTR_TO_MAP
    MapValue,   // PTR_TO_MAP_VALUE (maybe_null: ..._OR_NULL)
    PacketMeta, // PTR_TO_PACKET_META
    Packet,     // PTR_TO_PACKET
    PacketEnd,  // PTR_TO_PACKET_END
    Mem,        // PTR_TO_MEM: mem_size bytes a helper returned (ringbuf records)
    Func,       // PTR_TO_FUNC: a BPF function (lddw src=4), for callbacks
};

const char* reg_type_name(RegType type);

struct Reg {
    RegType type = RegType::NotInit;
    bool maybe_null = false;
    bool read_only = false;
    // Scalars: the value. Pointers: the variable part of the offset
    // (constant 0 when there is none).
    Scalar var = Scalar::constant(0);
    int32_t off = 0;     // pointers: the fixed part of the offset
    uint32_t id = 0;     // NULL checks and packet ranges apply to every register with the same id
    uint32_t ref = 0;    // the acquired reference it holds (ringbuf records), 0 for none
    int32_t map = -1;    // MapPtr, MapValue: index into the maps; Func: the target instruction
    uint32_t range = 0;  // Packet: bytes from the packet's start known to be in it
    uint32_t mem_size = 0;
    uint32_t frame = 0;  // Stack: the frame whose stack it points into
    // For MapPtr/MapValue from a map-in-map lookup: the inner map (index into
    // the inner maps), else -1.
    int32_t inner = -1;

    bool is_pointer() const { return type != RegType::NotInit && type != RegType::Scalar; }
    static Reg scalar(const Scalar& s) {
        Reg r;
        r.type = RegType::Scalar;
        r.var = s;
        return r;
    }
    static Reg unknown() { return scalar(Scalar::unknown()); }
};

// What each byte of a frame's stack holds.
enum class SlotByte : uint8_t { Invalid, Misc, Zero, Spill };

struct Frame {
    std::array<Reg, kNumRegs> regs{};
    std::array<SlotByte, kStackSize> bytes{}; // [i] is the byte at fp - kStackSize + i
    std::array<Reg, kStackSize / 8> spills{}; // the register spilled in each 8-byte slot
    int64_t callsite = -1;  // the call instruction that made this frame (-1: the entry)
    int64_t function = 0;   // first instruction of the function
    bool callback = false;  // called by a helper (bpf_loop...): return to the helper
    uint32_t depth = 0;     // deepest stack byte used
};

struct State {
    std::vector<Frame> frames;
    std::vector<std::pair<uint32_t, int64_t>> refs; // acquired references and where
    int32_t lock_map = -1; // the map whose bpf_spin_lock is held, -1: none
    uint32_t lock_id = 0;
    Frame& cur() { return frames.back(); }
    const Frame& cur() const { return frames.back(); }
};

std::string to_string(const Reg& reg);

} // namespace bpfvm::verifier
