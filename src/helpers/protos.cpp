// Helper prototypes by Linux number: every name Linux 6.1 numbers (from
// <linux/bpf.h>'s __BPF_FUNC_MAPPER), with argument and return types for the
// helpers bpfvm describes (modelled on struct bpf_func_proto).
#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>

#include "bpfvm/helpers.h"

namespace bpfvm {
namespace {

constexpr HelperArg arg(ArgKind kind, uint8_t flags = 0) { return HelperArg{kind, flags}; }

constexpr HelperArg kAny = arg(ArgKind::Anything);
constexpr HelperArg kMap = arg(ArgKind::MapPtr);
constexpr HelperArg kKey = arg(ArgKind::MapKey);
constexpr HelperArg kValue = arg(ArgKind::MapValue);
constexpr HelperArg kUninitValue = arg(ArgKind::MapValue, kArgUninit);
constexpr HelperArg kUninitMem = arg(ArgKind::Mem, kArgUninit);
constexpr HelperArg kRoMem = arg(ArgKind::Mem, kArgReadOnly);
constexpr HelperArg kRoMemOrNull = arg(ArgKind::Mem, kArgReadOnly | kArgMaybeNull);
constexpr HelperArg kSize = arg(ArgKind::ConstSize);
constexpr HelperArg kSizeOrZero = arg(ArgKind::ConstSizeOrZero);
constexpr HelperArg kCtx = arg(ArgKind::Ctx);
constexpr HelperArg kFunc = arg(ArgKind::Func);
constexpr HelperArg kStackOrNull = arg(ArgKind::Stack, kArgMaybeNull);
constexpr HelperArg kConstStr = arg(ArgKind::ConstStr);

struct Description {
    uint32_t id;
    bool implemented;
    bool gpl_only;
    bool pkt_access;
    RetKind ret;
    uint8_t ret_flags;
    std::array<HelperArg, 5> args;
};

// Linux 6.1's prototypes (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c,
// kernel/bpf/ringbuf.c, net/core/filter.c) of the helpers bpfvm knows.
const Description kDescriptions[] = {
    {BPF_FUNC_map_lookup_elem, true, false, true, RetKind::MapValue, kRetMaybeNull, {kMap, kKey}},
    {BPF_FUNC_map_update_elem, true, false, true, RetKind::Integer, 0, {kMap, kKey, kValue, kAny}},
    {BPF_FUNC_map_delete_elem, true, false, true, RetKind::Integer, 0, {kMap, kKey}},
    {BPF_FUNC_probe_read, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_ktime_get_ns, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_trace_printk, true, true, false, RetKind::Integer, 0, {kRoMem, kSize}}, // Linux checks two: the values are optional
    {BPF_FUNC_get_prandom_u32, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_get_smp_processor_id, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_tail_call, false, false, false, RetKind::Void, 0, {kCtx, kMap, kAny}},
    {BPF_FUNC_get_current_pid_tgid, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_get_current_uid_gid, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_get_current_comm, true, false, false, RetKind::Integer, 0, {kUninitMem, kSize}},
    {BPF_FUNC_perf_event_output, true, true, false, RetKind::Integer, 0, {kCtx, kMap, kAny, kRoMem, kSizeOrZero}},
    {BPF_FUNC_csum_diff, true, false, true, RetKind::Integer, 0, {kRoMemOrNull, kSizeOrZero, kRoMemOrNull, kSizeOrZero, kAny}},
    {BPF_FUNC_get_numa_node_id, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_probe_read_str, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_get_current_cgroup_id, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_jiffies64, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_map_push_elem, true, false, false, RetKind::Integer, 0, {kMap, kValue, kAny}},
    {BPF_FUNC_map_pop_elem, true, false, false, RetKind::Integer, 0, {kMap, kUninitValue}},
    {BPF_FUNC_map_peek_elem, true, false, false, RetKind::Integer, 0, {kMap, kUninitValue}},
    {BPF_FUNC_spin_lock, true, false, false, RetKind::Void, 0, {arg(ArgKind::SpinLock)}},
    {BPF_FUNC_spin_unlock, true, false, false, RetKind::Void, 0, {arg(ArgKind::SpinLock)}},
    {BPF_FUNC_strtol, true, false, false, RetKind::Integer, 0, {kRoMem, kSize, kAny, arg(ArgKind::Long)}},
    {BPF_FUNC_strtoul, true, false, false, RetKind::Integer, 0, {kRoMem, kSize, kAny, arg(ArgKind::Long)}},
    {BPF_FUNC_get_ns_current_pid_tgid, true, false, false, RetKind::Integer, 0, {kAny, kAny, kUninitMem, kSize}},
    {BPF_FUNC_probe_read_user, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_probe_read_kernel, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_probe_read_user_str, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_probe_read_kernel_str, true, true, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_ktime_get_boot_ns, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_ringbuf_output, true, false, false, RetKind::Integer, 0, {kMap, kRoMem, kSizeOrZero, kAny}},
    {BPF_FUNC_ringbuf_reserve, true, false, false, RetKind::Mem, kRetMaybeNull | kRetAlloc,
     {kMap, arg(ArgKind::ConstAllocSizeOrZero), kAny}},
    {BPF_FUNC_ringbuf_submit, true, false, false, RetKind::Void, 0, {arg(ArgKind::AllocMem), kAny}},
    {BPF_FUNC_ringbuf_discard, true, false, false, RetKind::Void, 0, {arg(ArgKind::AllocMem), kAny}},
    {BPF_FUNC_ringbuf_query, true, false, false, RetKind::Integer, 0, {kMap, kAny}},
    {BPF_FUNC_copy_from_user, true, false, false, RetKind::Integer, 0, {kUninitMem, kSizeOrZero, kAny}},
    {BPF_FUNC_ktime_get_coarse_ns, true, false, false, RetKind::Integer, 0, {}},
    {BPF_FUNC_for_each_map_elem, true, false, false, RetKind::Integer, 0, {kMap, kFunc, kStackOrNull, kAny}},
    {BPF_FUNC_snprintf, true, true, false, RetKind::Integer, 0,
     {arg(ArgKind::Mem, kArgMaybeNull), kSizeOrZero, kConstStr, kRoMemOrNull, kSizeOrZero}},
    {BPF_FUNC_trace_vprintk, true, true, false, RetKind::Integer, 0, {kRoMem, kSize, kRoMemOrNull, kSizeOrZero}},
    {BPF_FUNC_loop, true, false, false, RetKind::Integer, 0, {kAny, kFunc, kStackOrNull, kAny}},
    {BPF_FUNC_strncmp, true, false, false, RetKind::Integer, 0, {kRoMem, kSize, kConstStr}},
    {BPF_FUNC_dynptr_from_mem, true, false, false, RetKind::Integer, 0,
     {kUninitMem, kSizeOrZero, kAny, arg(ArgKind::Dynptr, kArgUninit)}},
    {BPF_FUNC_ringbuf_reserve_dynptr, true, false, false, RetKind::Integer, 0,
     {kMap, kAny, kAny, arg(ArgKind::Dynptr, kArgUninit)}},
    {BPF_FUNC_ringbuf_submit_dynptr, true, false, false, RetKind::Void, 0, {arg(ArgKind::Dynptr), kAny}},
    {BPF_FUNC_ringbuf_discard_dynptr, true, false, false, RetKind::Void, 0, {arg(ArgKind::Dynptr), kAny}},
    {BPF_FUNC_dynptr_read, true, false, false, RetKind::Integer, 0,
     {kUninitMem, kSizeOrZero, arg(ArgKind::Dynptr), kAny, kAny}},
    {BPF_FUNC_dynptr_write, true, false, false, RetKind::Integer, 0, {arg(ArgKind::Dynptr), kAny, kRoMem, kSizeOrZero, kAny}},
    {BPF_FUNC_dynptr_data, true, false, false, RetKind::Mem, kRetMaybeNull, {arg(ArgKind::Dynptr), kAny, arg(ArgKind::ConstAllocSizeOrZero)}},
    {BPF_FUNC_map_lookup_percpu_elem, true, false, false, RetKind::MapValue, kRetMaybeNull, {kMap, kKey, kAny}},
    {BPF_FUNC_ktime_get_tai_ns, true, false, false, RetKind::Integer, 0, {}},
};

#define BPFVM_HELPER_NAME(x) "bpf_" #x
constexpr const char* kNames[] = {__BPF_FUNC_MAPPER(BPFVM_HELPER_NAME)};
#undef BPFVM_HELPER_NAME
static_assert(std::size(kNames) == __BPF_FUNC_MAX_ID);

const std::vector<HelperProto>& table() {
    static const std::vector<HelperProto> protos = [] {
        std::vector<HelperProto> t(__BPF_FUNC_MAX_ID);
        for (uint32_t id = 0; id < t.size(); id++) {
            t[id].id = id;
            t[id].name = kNames[id];
        }
        for (const Description& d : kDescriptions) {
            HelperProto& p = t[d.id];
            p.described = true;
            p.implemented = d.implemented;
            p.gpl_only = d.gpl_only;
            p.pkt_access = d.pkt_access;
            p.ret = d.ret;
            p.ret_flags = d.ret_flags;
            p.args = d.args;
        }
        return t;
    }();
    return protos;
}

} // namespace

std::span<const HelperProto> helper_protos() { return table(); }

const HelperProto* find_helper_proto(uint32_t id) {
    const auto& t = table();
    // 0 is BPF_FUNC_unspec: a name, not a helper.
    return id == 0 || id >= t.size() ? nullptr : &t[id];
}

const HelperProto* find_helper_proto(std::string_view name) {
    if (name.starts_with("bpf_")) name.remove_prefix(4);
    if (name.empty() || name == "unspec") return nullptr;
    for (const HelperProto& p : table())
        if (p.name.substr(4) == name) return &p;
    return nullptr;
}

std::string_view find_helper_name(uint32_t id) {
    const HelperProto* p = find_helper_proto(id);
    return p ? p->name : std::string_view();
}

std::string describe_helper(uint32_t id) {
    std::string_view name = find_helper_name(id);
    if (name.empty()) return fmt::format("helper {}", id);
    return fmt::format("{} ({})", name, id);
}

std::string describe(HelperArg a) {
    std::string_view base;
    switch (a.kind) {
    case ArgKind::None: return "none";
    case ArgKind::Anything: return "anything";
    case ArgKind::MapPtr: base = "map pointer"; break;
    case ArgKind::MapKey: base = "pointer to map key"; break;
    case ArgKind::MapValue: base = (a.flags & kArgUninit) ? "pointer to uninit map value" : "pointer to map value"; break;
    case ArgKind::Mem: base = (a.flags & kArgUninit) ? "pointer to uninit mem" : "pointer to mem"; break;
    case ArgKind::ConstSize: base = "const size"; break;
    case ArgKind::ConstSizeOrZero: base = "const size or zero"; break;
    case ArgKind::Ctx: base = "pointer to ctx"; break;
    case ArgKind::SpinLock: base = "pointer to spin lock"; break;
    case ArgKind::Int: base = "pointer to int"; break;
    case ArgKind::Long: base = "pointer to long"; break;
    case ArgKind::AllocMem: base = "pointer to alloc mem"; break;
    case ArgKind::ConstAllocSizeOrZero: base = "const alloc size or zero"; break;
    case ArgKind::Func: base = "function pointer (callback)"; break;
    case ArgKind::Stack: base = "pointer to stack"; break;
    case ArgKind::ConstStr: base = "const string"; break;
    case ArgKind::BtfId: base = "pointer to btf id"; break;
    case ArgKind::Socket: base = "pointer to socket"; break;
    case ArgKind::Timer: base = "pointer to timer"; break;
    case ArgKind::Kptr: base = "pointer to kptr"; break;
    case ArgKind::Dynptr: base = "pointer to dynptr"; break;
    }
    std::string s(base);
    if ((a.flags & kArgReadOnly) && a.kind == ArgKind::Mem) s = "pointer to read-only mem";
    if (a.flags & kArgMaybeNull) s += " or NULL";
    return s;
}

std::string describe_ret(RetKind kind, uint8_t flags) {
    std::string s;
    switch (kind) {
    case RetKind::Integer: s = "integer"; break;
    case RetKind::Void: s = "void"; break;
    case RetKind::MapValue: s = "map value"; break;
    case RetKind::Mem: s = (flags & kRetAlloc) ? "ringbuf mem" : "pointer to mem"; break;
    case RetKind::BtfId: s = "pointer to btf id"; break;
    case RetKind::Socket: s = "pointer to socket"; break;
    }
    if (flags & kRetMaybeNull) s += " or NULL";
    return s;
}

} // namespace bpfvm
