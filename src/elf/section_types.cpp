// Section names to program types, as libbpf 1.1 (Linux 6.1, libbpf.c's
// section_defs) matches them: the first definition that matches wins.
//   "name"   matches exactly;
//   "name+"  matches "name" and "name/<target>";
//   "name/"  matches any name with that prefix.
#include <linux/bpf.h>

#include <string_view>

#include "bpfvm/elf.h"

// Program types and attach types newer than the headers Debian 12 ships
// would be guarded here; every value below is in linux-libc-dev 6.1.

namespace bpfvm {

namespace {

enum : uint32_t {
    kSleepable = 1,
    kXdpFrags = 2,
};

struct SectionDef {
    std::string_view name;
    uint32_t prog_type;
    uint32_t attach_type;
    uint32_t flags;
};

constexpr SectionDef kSectionDefs[] = {
    {"socket", BPF_PROG_TYPE_SOCKET_FILTER, 0, 0},
    {"sk_reuseport/migrate", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE, 0},
    {"sk_reuseport", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT, 0},
    {"kprobe+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"uprobe+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"uprobe.s+", BPF_PROG_TYPE_KPROBE, 0, kSleepable},
    {"kretprobe+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"uretprobe+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"uretprobe.s+", BPF_PROG_TYPE_KPROBE, 0, kSleepable},
    {"kprobe.multi+", BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI, 0},
    {"kretprobe.multi+", BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI, 0},
    {"ksyscall+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"kretsyscall+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"usdt+", BPF_PROG_TYPE_KPROBE, 0, 0},
    {"tc", BPF_PROG_TYPE_SCHED_CLS, 0, 0},
    {"classifier", BPF_PROG_TYPE_SCHED_CLS, 0, 0},
    {"action", BPF_PROG_TYPE_SCHED_ACT, 0, 0},
    {"tracepoint+", BPF_PROG_TYPE_TRACEPOINT, 0, 0},
    {"tp+", BPF_PROG_TYPE_TRACEPOINT, 0, 0},
    {"raw_tracepoint+", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0},
    {"raw_tp+", BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 0},
    {"raw_tracepoint.w+", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0, 0},
    {"raw_tp.w+", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0, 0},
    {"tp_btf+", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, 0},
    {"fentry+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, 0},
    {"fmod_ret+", BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, 0},
    {"fexit+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, 0},
    {"fentry.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, kSleepable},
    {"fmod_ret.s+", BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, kSleepable},
    {"fexit.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, kSleepable},
    {"freplace+", BPF_PROG_TYPE_EXT, 0, 0},
    {"lsm+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, 0},
    {"lsm.s+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, kSleepable},
    {"lsm_cgroup+", BPF_PROG_TYPE_LSM, BPF_LSM_CGROUP, 0},
    {"iter+", BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, 0},
    {"iter.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, kSleepable},
    {"syscall", BPF_PROG_TYPE_SYSCALL, 0, kSleepable},
    {"xdp.frags/devmap", BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, kXdpFrags},
    {"xdp/devmap", BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, 0},
    {"xdp.frags/cpumap", BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, kXdpFrags},
    {"xdp/cpumap", BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, 0},
    {"xdp.frags", BPF_PROG_TYPE_XDP, BPF_XDP, kXdpFrags},
    {"xdp", BPF_PROG_TYPE_XDP, BPF_XDP, 0},
    {"perf_event", BPF_PROG_TYPE_PERF_EVENT, 0, 0},
    {"lwt_in", BPF_PROG_TYPE_LWT_IN, 0, 0},
    {"lwt_out", BPF_PROG_TYPE_LWT_OUT, 0, 0},
    {"lwt_xmit", BPF_PROG_TYPE_LWT_XMIT, 0, 0},
    {"lwt_seg6local", BPF_PROG_TYPE_LWT_SEG6LOCAL, 0, 0},
    {"sockops", BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, 0},
    {"sk_skb/stream_parser", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_PARSER, 0},
    {"sk_skb/stream_verdict", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT, 0},
    {"sk_skb", BPF_PROG_TYPE_SK_SKB, 0, 0},
    {"sk_msg", BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT, 0},
    {"lirc_mode2", BPF_PROG_TYPE_LIRC_MODE2, BPF_LIRC_MODE2, 0},
    {"flow_dissector", BPF_PROG_TYPE_FLOW_DISSECTOR, BPF_FLOW_DISSECTOR, 0},
    {"cgroup_skb/ingress", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS, 0},
    {"cgroup_skb/egress", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, 0},
    {"cgroup/skb", BPF_PROG_TYPE_CGROUP_SKB, 0, 0},
    {"cgroup/sock_create", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, 0},
    {"cgroup/sock_release", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE, 0},
    {"cgroup/sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, 0},
    {"cgroup/post_bind4", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND, 0},
    {"cgroup/post_bind6", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET6_POST_BIND, 0},
    {"cgroup/bind4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND, 0},
    {"cgroup/bind6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_BIND, 0},
    {"cgroup/connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0},
    {"cgroup/connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, 0},
    {"cgroup/sendmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, 0},
    {"cgroup/sendmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG, 0},
    {"cgroup/recvmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG, 0},
    {"cgroup/recvmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_RECVMSG, 0},
    {"cgroup/getpeername4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME, 0},
    {"cgroup/getpeername6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETPEERNAME, 0},
    {"cgroup/getsockname4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETSOCKNAME, 0},
    {"cgroup/getsockname6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETSOCKNAME, 0},
    {"cgroup/sysctl", BPF_PROG_TYPE_CGROUP_SYSCTL, BPF_CGROUP_SYSCTL, 0},
    {"cgroup/getsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT, 0},
    {"cgroup/setsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_SETSOCKOPT, 0},
    {"cgroup/dev", BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, 0},
    {"struct_ops+", BPF_PROG_TYPE_STRUCT_OPS, 0, 0},
    {"sk_lookup", BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP, 0},
};

// Whether `def` matches `section`; `target` gets what follows "name/" for a "+" definition.
bool matches(std::string_view def, std::string_view section, std::string_view* target) {
    if (def.back() == '/') return section.starts_with(def);
    if (def.back() == '+') {
        std::string_view stem = def.substr(0, def.size() - 1);
        if (!section.starts_with(stem)) return false;
        if (section.size() == stem.size()) return true;
        if (section[stem.size()] != '/') return false;
        *target = section.substr(stem.size() + 1);
        return true;
    }
    return section == def;
}

} // namespace

ElfSectionType section_program_type(std::string_view section) {
    ElfSectionType out;
    for (const auto& def : kSectionDefs) {
        std::string_view target;
        if (!matches(def.name, section, &target)) continue;
        out.known = true;
        out.prog_type = def.prog_type;
        out.expected_attach_type = def.attach_type;
        out.attach_target = std::string(target);
        if (def.flags & kSleepable) out.prog_flags |= BPF_F_SLEEPABLE;
        if (def.flags & kXdpFrags) out.prog_flags |= BPF_F_XDP_HAS_FRAGS;
        out.definition = std::string(def.name);
        return out;
    }
    return out;
}

} // namespace bpfvm
