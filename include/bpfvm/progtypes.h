// Program types: the context each one gets, which of its fields a program
// may read or write and with which sizes (Linux's is_valid_access), what a
// field holds for the verifier (a scalar, or a pointer into the packet), and
// the context bpfvm really passes in r1. See docs/progtypes.md.
//
// bpfvm's run-time context is the program's own struct (struct xdp_md,
// struct __sk_buff, ...) followed by the 64-bit pointers that its 32-bit
// packet fields stand for: every scalar field is where the program expects
// it, and the verifier rewrites only the loads of `data`, `data_end` and
// `data_meta` into 64-bit loads of those pointers (as Linux rewrites them
// into loads from struct xdp_buff / sk_buff).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <linux/bpf.h>

#include "bpfvm/error.h"
#include "bpfvm/insn.h"

namespace bpfvm::progtypes {

// What a context field holds, as the verifier sees it after the load.
enum class FieldType : uint8_t {
    Scalar,
    PacketData, // PTR_TO_PACKET: the packet's first byte
    PacketEnd,  // PTR_TO_PACKET_END
    PacketMeta, // PTR_TO_PACKET_META
    SocketOrNull, // PTR_TO_SOCK_COMMON_OR_NULL (__sk_buff->sk): bpfvm gives NULL
};
std::string_view field_type_name(FieldType type);

enum class Access : uint8_t { Read, Write };

// The verdict on one context access [off, off + size).
struct ContextAccess {
    bool allowed = false;
    FieldType type = FieldType::Scalar;
    // The field's own size, for narrow reads (a 1- or 2-byte read of a 4-byte
    // field); 0 when the access is the whole field.
    uint8_t field_size = 0;
    // Where the access goes in bpfvm's run-time context when that is not
    // [off, off + size): the 64-bit pointer slots of the packet fields.
    int32_t runtime_offset = -1; // -1: unchanged
    uint8_t runtime_size = 0;
    // When refused: why, in a few words ("write to a read-only field",
    // "size 2 for a 4-byte pointer field", ...).
    std::string_view reason;
};

struct ProgramType {
    uint32_t type = 0;            // BPF_PROG_TYPE_*
    std::string_view name;        // as bpftool prints it: "xdp", "sched_cls"
    std::string_view context;     // the C type of r1: "struct xdp_md"
    uint32_t context_size = 0;    // the program's view (0: any size, as syscall)
    uint32_t runtime_size = 0;    // what bpfvm passes: context + pointer slots
    bool packet = false;          // runs on a packet (LD_ABS/LD_IND, packet pointers)
    // Linux's is_valid_access for this type (expected_attach_type: BPF_XDP_DEVMAP
    // lets XDP programs read egress_ifindex).
    ContextAccess (*check)(int64_t off, uint32_t size, Access access, uint32_t expected_attach_type) = nullptr;
};

// The types bpfvm knows contexts for; nullptr for others.
const ProgramType* find_program_type(uint32_t type);
std::span<const ProgramType> program_types();

// The run-time contexts of packet programs.
struct XdpContext {
    struct xdp_md md;
    uint32_t reserved;
    uint64_t data, data_end, data_meta;
};
struct SkbContext {
    struct __sk_buff skb;
    uint64_t data, data_end, data_meta;
};

// Rewrites one allowed context load or store as `access` says (a no-op for
// accesses that keep their place). An error when the instruction is not a
// load or store, or the verdict was a refusal.
Result<void> rewrite_context_access(Insn& insn, const ContextAccess& access);

} // namespace bpfvm::progtypes
