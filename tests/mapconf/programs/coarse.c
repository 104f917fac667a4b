/* bpf_ktime_get_coarse_ns: tracing programs may not call it (Linux refuses
 * them); cgroup skb programs may, and BPF_PROG_TEST_RUN runs them. */
#include "common.h"

SEC("cgroup_skb/ingress")
int coarse_time(struct __sk_buff *skb)
{
    __u64 c = bpf_ktime_get_coarse_ns();
    __u64 t = bpf_ktime_get_ns();
    put(0, c);
    put(1, c <= t); /* the coarse clock is the last tick's time */
    return 1;
}
