// One trivial program per libbpf section name the loader must type, several
// programs in one section, a '?' (not autoloaded) section and a section libbpf
// does not know. elf_test.cpp compares each with libbpf's own view.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROG(sec, name) \
    SEC(sec) int name(void *ctx) { return 0; }

PROG("socket", p_socket)
PROG("kprobe/do_sys_open", p_kprobe)
PROG("kretprobe/do_sys_open", p_kretprobe)
PROG("uprobe//bin/sh:main", p_uprobe)
PROG("uprobe.s//bin/sh:main", p_uprobe_s)
PROG("tracepoint/syscalls/sys_enter_openat", p_tracepoint)
PROG("tp/sched/sched_switch", p_tp)
PROG("raw_tp/sys_enter", p_raw_tp)
PROG("raw_tracepoint.w/sys_enter", p_raw_tp_w)
PROG("tp_btf/sched_switch", p_tp_btf)
PROG("fentry/do_unlinkat", p_fentry)
PROG("fexit/do_unlinkat", p_fexit)
PROG("fmod_ret/do_unlinkat", p_fmod_ret)
PROG("fentry.s/do_unlinkat", p_fentry_s)
PROG("freplace/handler", p_freplace)
PROG("lsm/file_open", p_lsm)
PROG("lsm.s/file_open", p_lsm_s)
PROG("iter/task", p_iter)
PROG("syscall", p_syscall)
PROG("xdp", p_xdp)
PROG("xdp.frags", p_xdp_frags)
PROG("xdp/devmap", p_xdp_devmap)
PROG("xdp/cpumap", p_xdp_cpumap)
PROG("tc", p_tc)
PROG("classifier", p_classifier)
PROG("action", p_action)
PROG("perf_event", p_perf_event)
PROG("lwt_in", p_lwt_in)
PROG("lwt_xmit", p_lwt_xmit)
PROG("sockops", p_sockops)
PROG("sk_skb", p_sk_skb)
PROG("sk_skb/stream_parser", p_sk_skb_parser)
PROG("sk_skb/stream_verdict", p_sk_skb_verdict)
PROG("sk_msg", p_sk_msg)
PROG("sk_lookup", p_sk_lookup)
PROG("sk_reuseport", p_sk_reuseport)
PROG("flow_dissector", p_flow_dissector)
PROG("cgroup_skb/ingress", p_cgroup_skb_ingress)
PROG("cgroup_skb/egress", p_cgroup_skb_egress)
PROG("cgroup/skb", p_cgroup_skb)
PROG("cgroup/sock", p_cgroup_sock)
PROG("cgroup/connect4", p_cgroup_connect4)
PROG("cgroup/sendmsg6", p_cgroup_sendmsg6)
PROG("cgroup/dev", p_cgroup_dev)
PROG("cgroup/sysctl", p_cgroup_sysctl)
PROG("cgroup/getsockopt", p_cgroup_getsockopt)
PROG("lirc_mode2", p_lirc_mode2)
PROG("?xdp", p_xdp_optional)
PROG("my_custom_section", p_custom)

// Two programs in one section.
SEC("kprobe/vfs_read") int p_read_a(void *ctx) { return 1; }
SEC("kprobe/vfs_read") int p_read_b(void *ctx) { return 2; }

char _license[] SEC("license") = "GPL";
