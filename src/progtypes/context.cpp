// Program types and their contexts: Linux's is_valid_access rules
// (net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/syscall.c) and
// bpfvm's run-time contexts.
#include <cstddef>

#include <linux/ptrace.h>

#include <fmt/format.h>

#include "bpfvm/progtypes.h"

namespace bpfvm::progtypes {
namespace {

// A field [begin, end) of a context struct.
struct Range {
    int64_t begin, end;
    bool has(int64_t off) const { return off >= begin && off < end; }
};

#define FIELD(T, m) Range{static_cast<int64_t>(offsetof(T, m)), static_cast<int64_t>(offsetof(T, m) + sizeof(T::m))}
#define FIELDS(T, first, last) Range{static_cast<int64_t>(offsetof(T, first)), static_cast<int64_t>(offsetof(T, last) + sizeof(T::last))}

using Skb = struct __sk_buff;
const Range kSkbCb = FIELD(Skb, cb);
const Range kSkbData = FIELD(Skb, data);
const Range kSkbDataEnd = FIELD(Skb, data_end);
const Range kSkbDataMeta = FIELD(Skb, data_meta);
const Range kSkbSockFields = FIELDS(Skb, family, local_port);
const Range kSkbIps = FIELDS(Skb, remote_ip4, local_ip6); // remote_ip4, local_ip4, remote_ip6, local_ip6
const Range kSkbFlowKeys = Range{static_cast<int64_t>(offsetof(Skb, flow_keys)), static_cast<int64_t>(offsetof(Skb, flow_keys) + 8)};
const Range kSkbSk = Range{static_cast<int64_t>(offsetof(Skb, sk)), static_cast<int64_t>(offsetof(Skb, sk) + 8)};
const Range kSkbTstamp = FIELD(Skb, tstamp);
const Range kSkbHwtstamp = FIELD(Skb, hwtstamp);
const Range kSkbTstampType = FIELD(Skb, tstamp_type);
const Range kSkbPadding = Range{kSkbTstampType.end, kSkbHwtstamp.begin};
const Range kSkbTcClassid = FIELD(Skb, tc_classid);
const Range kSkbWireLen = FIELD(Skb, wire_len);
const Range kSkbMark = FIELD(Skb, mark);
const Range kSkbTcIndex = FIELD(Skb, tc_index);
const Range kSkbPriority = FIELD(Skb, priority);
const Range kSkbQueueMapping = FIELD(Skb, queue_mapping);

ContextAccess refuse(std::string_view why) {
    ContextAccess a;
    a.reason = why;
    return a;
}

ContextAccess allow(FieldType type = FieldType::Scalar, uint8_t field_size = 0) {
    ContextAccess a;
    a.allowed = true;
    a.type = type;
    a.field_size = field_size;
    return a;
}

bool power_of_two_size(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

// A packet field's verdict: a whole 32-bit load becomes a 64-bit load of the
// pointer slot at `slot` in the run-time context.
ContextAccess packet_pointer(FieldType type, size_t slot) {
    ContextAccess a = allow(type);
    a.runtime_offset = static_cast<int32_t>(slot);
    a.runtime_size = 8;
    return a;
}

// ---- struct __sk_buff (bpf_skb_is_valid_access and its callers)

ContextAccess skb_common(int64_t off, uint32_t size, Access access) {
    if (off < 0 || off >= static_cast<int64_t>(sizeof(Skb))) return refuse("outside the context");
    if (off % size != 0) return refuse("misaligned access");
    if (kSkbCb.has(off)) {
        if (off + size > kSkbCb.end) return refuse("access past cb[4]");
        return allow();
    }
    if (kSkbIps.has(off) || kSkbData.has(off) || kSkbDataEnd.has(off) || kSkbDataMeta.has(off)) {
        if (size != 4) return refuse("this field is accessed whole (4 bytes)");
        return allow(); // the packet fields: the caller gives their pointer types
    }
    if (kSkbFlowKeys.has(off)) return refuse("flow_keys is for flow dissector programs");
    if (kSkbHwtstamp.has(off)) {
        if (access == Access::Write) return refuse("hwtstamp is read-only");
        if (size != 8) return refuse("hwtstamp is read whole (8 bytes)");
        return allow();
    }
    if (kSkbTstamp.has(off)) {
        if (size != 8) return refuse("tstamp is accessed whole (8 bytes)");
        return allow();
    }
    if (kSkbSk.has(off)) {
        if (access == Access::Write) return refuse("sk is read-only");
        if (size != 8) return refuse("sk is read whole (8 bytes)");
        return allow(FieldType::SocketOrNull);
    }
    if (kSkbTstampType.has(off)) return refuse("tstamp_type is for tc programs");
    if (kSkbPadding.has(off)) return refuse("padding");
    // Every other field is a u32: written whole, read whole or narrow.
    if (access == Access::Write) {
        if (size != 4) return refuse("this field is written whole (4 bytes)");
        return allow();
    }
    if (size > 4 || !power_of_two_size(size)) return refuse("a 4-byte field read with a larger size");
    return allow(FieldType::Scalar, size == 4 ? 0 : 4);
}

// The packet pointer fields' verdicts once a type allows them.
ContextAccess skb_packet_fields(ContextAccess a, int64_t off) {
    if (!a.allowed) return a;
    if (kSkbData.has(off)) return packet_pointer(FieldType::PacketData, offsetof(SkbContext, data));
    if (kSkbDataEnd.has(off)) return packet_pointer(FieldType::PacketEnd, offsetof(SkbContext, data_end));
    if (kSkbDataMeta.has(off)) return packet_pointer(FieldType::PacketMeta, offsetof(SkbContext, data_meta));
    return a;
}

ContextAccess socket_filter_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (kSkbTcClassid.has(off) || kSkbData.has(off) || kSkbDataMeta.has(off) || kSkbDataEnd.has(off) ||
        kSkbSockFields.has(off) || kSkbTstamp.has(off) || kSkbWireLen.has(off) || kSkbHwtstamp.has(off))
        return refuse("not available to socket filters");
    if (access == Access::Write && !kSkbCb.has(off)) return refuse("socket filters write only cb[]");
    return skb_common(off, size, access);
}

ContextAccess tc_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (access == Access::Write) {
        if (!(kSkbMark.has(off) || kSkbTcIndex.has(off) || kSkbPriority.has(off) || kSkbTcClassid.has(off) ||
              kSkbCb.has(off) || kSkbTstamp.has(off) || kSkbQueueMapping.has(off)))
            return refuse("tc programs write only mark, tc_index, priority, tc_classid, cb[], tstamp, queue_mapping");
    }
    if (kSkbSockFields.has(off)) return refuse("the socket fields are for sk_skb programs");
    if (off == kSkbTstampType.begin) return size == 1 ? allow() : refuse("tstamp_type is one byte");
    return skb_packet_fields(skb_common(off, size, access), off);
}

ContextAccess cgroup_skb_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (kSkbTcClassid.has(off) || kSkbDataMeta.has(off) || kSkbWireLen.has(off))
        return refuse("not available to cgroup skb programs");
    if (access == Access::Write && !(kSkbMark.has(off) || kSkbPriority.has(off) || kSkbCb.has(off) || kSkbTstamp.has(off)))
        return refuse("cgroup skb programs write only mark, priority, cb[], tstamp");
    return skb_packet_fields(skb_common(off, size, access), off); // (data_meta refused above)
}

// ---- struct xdp_md (xdp_is_valid_access)

ContextAccess xdp_check(int64_t off, uint32_t size, Access access, uint32_t expected_attach_type) {
    if (off == static_cast<int64_t>(offsetof(struct xdp_md, egress_ifindex)) && expected_attach_type != BPF_XDP_DEVMAP)
        return refuse("egress_ifindex is for devmap programs");
    if (access == Access::Write) return refuse("the XDP context is read-only");
    if (off < 0 || off >= static_cast<int64_t>(sizeof(struct xdp_md))) return refuse("outside the context");
    if (off % size != 0) return refuse("misaligned access");
    if (size != 4) return refuse("XDP context fields are read whole (4 bytes)");
    switch (off) {
    case offsetof(struct xdp_md, data): return packet_pointer(FieldType::PacketData, offsetof(XdpContext, data));
    case offsetof(struct xdp_md, data_end): return packet_pointer(FieldType::PacketEnd, offsetof(XdpContext, data_end));
    case offsetof(struct xdp_md, data_meta): return packet_pointer(FieldType::PacketMeta, offsetof(XdpContext, data_meta));
    default: return allow();
    }
}

// ---- tracing and syscall programs

ContextAccess kprobe_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (off < 0 || off >= static_cast<int64_t>(sizeof(struct pt_regs))) return refuse("outside struct pt_regs");
    if (access == Access::Write) return refuse("the context is read-only");
    if (off % size != 0) return refuse("misaligned access");
    if (off + size > static_cast<int64_t>(sizeof(struct pt_regs))) return refuse("past the end of struct pt_regs");
    return allow();
}

constexpr int64_t kMaxFuncArgs = 12; // MAX_BPF_FUNC_ARGS

ContextAccess raw_tracepoint_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (off < 0 || off >= kMaxFuncArgs * 8) return refuse("outside args[12]");
    if (access == Access::Write) return refuse("the context is read-only");
    if (off % size != 0) return refuse("misaligned access");
    return allow();
}

constexpr int64_t kPerfMaxTraceSize = 8192; // PERF_MAX_TRACE_SIZE (Linux 6.10 and later; 2048 before)

ContextAccess tracepoint_check(int64_t off, uint32_t size, Access access, uint32_t) {
    if (off < 8 || off >= kPerfMaxTraceSize) return refuse("outside the tracepoint's record (the first 8 bytes are the common fields)");
    if (access == Access::Write) return refuse("the context is read-only");
    if (off % size != 0) return refuse("misaligned access");
    return allow();
}

ContextAccess syscall_check(int64_t off, uint32_t size, Access, uint32_t) {
    if (off < 0 || off >= UINT16_MAX) return refuse("outside the context (64 KiB)");
    if (off % size != 0) return refuse("misaligned access");
    return allow();
}

const ProgramType kTypes[] = {
    {BPF_PROG_TYPE_SOCKET_FILTER, "socket_filter", "struct __sk_buff", sizeof(Skb), sizeof(SkbContext), true, socket_filter_check},
    {BPF_PROG_TYPE_KPROBE, "kprobe", "struct pt_regs", sizeof(struct pt_regs), sizeof(struct pt_regs), false, kprobe_check},
    {BPF_PROG_TYPE_SCHED_CLS, "sched_cls", "struct __sk_buff", sizeof(Skb), sizeof(SkbContext), true, tc_check},
    {BPF_PROG_TYPE_SCHED_ACT, "sched_act", "struct __sk_buff", sizeof(Skb), sizeof(SkbContext), true, tc_check},
    {BPF_PROG_TYPE_TRACEPOINT, "tracepoint", "the tracepoint's record", kPerfMaxTraceSize, kPerfMaxTraceSize, false, tracepoint_check},
    {BPF_PROG_TYPE_XDP, "xdp", "struct xdp_md", sizeof(struct xdp_md), sizeof(XdpContext), true, xdp_check},
    {BPF_PROG_TYPE_CGROUP_SKB, "cgroup_skb", "struct __sk_buff", sizeof(Skb), sizeof(SkbContext), true, cgroup_skb_check},
    {BPF_PROG_TYPE_RAW_TRACEPOINT, "raw_tracepoint", "struct bpf_raw_tracepoint_args", kMaxFuncArgs * 8, kMaxFuncArgs * 8, false, raw_tracepoint_check},
    {BPF_PROG_TYPE_SYSCALL, "syscall", "the caller's memory", 0, 0, false, syscall_check},
};

} // namespace

std::string_view field_type_name(FieldType type) {
    switch (type) {
    case FieldType::Scalar: return "scalar";
    case FieldType::PacketData: return "pkt";
    case FieldType::PacketEnd: return "pkt_end";
    case FieldType::PacketMeta: return "pkt_meta";
    case FieldType::SocketOrNull: return "sock_common_or_null";
    }
    return "?";
}

const ProgramType* find_program_type(uint32_t type) {
    for (const ProgramType& t : kTypes)
        if (t.type == type) return &t;
    return nullptr;
}

std::span<const ProgramType> program_types() { return kTypes; }

Result<void> rewrite_context_access(Insn& insn, const ContextAccess& access) {
    if (!access.allowed) return make_error(fmt::format("a refused context access cannot be rewritten ({})", access.reason));
    const uint8_t cls = insn.opcode & 0x07;
    const uint8_t mode = insn.opcode & 0xe0;
    if ((cls != BPF_LDX && cls != BPF_STX && cls != BPF_ST) || mode != BPF_MEM)
        return make_error(fmt::format("opcode {:#04x} is not a load or store", insn.opcode));
    if (access.runtime_offset < 0) return {};
    if (cls != BPF_LDX) return make_error("a packet pointer field is read-only");
    insn.off = static_cast<int16_t>(access.runtime_offset);
    insn.opcode = static_cast<uint8_t>(BPF_LDX | BPF_MEM | BPF_DW);
    return {};
}

} // namespace bpfvm::progtypes
