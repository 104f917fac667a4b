/* Time, randomness and CPU helpers from XDP. Values that vary are stored
 * with the properties the program checks itself (two reads ordered, ...). */
#include "common.h"

SEC("xdp")
int time_op(struct xdp_md *ctx)
{
    __u64 t1 = bpf_ktime_get_ns();
    __u64 t2 = bpf_ktime_get_ns();
    put(0, t1);
    put(1, t2 >= t1);
    __u64 b = bpf_ktime_get_boot_ns();
    put(2, b);
    put(3, b >= t2); /* boot time = monotonic time + time suspended */
    __u64 j1 = bpf_jiffies64();
    __u64 j2 = bpf_jiffies64();
    put(4, j1);
    put(5, j2 >= j1);
    __u64 tai = bpf_ktime_get_tai_ns();
    put(6, tai > b); /* TAI counts from 1970 */

    __u32 r[4];
    for (int i = 0; i < 4; i++)
        r[i] = bpf_get_prandom_u32();
    put(7, r[0]);
    put(8, !(r[0] == r[1] && r[1] == r[2] && r[2] == r[3]));

    put(9, bpf_get_smp_processor_id());
    put(10, bpf_get_numa_node_id());
    return XDP_PASS;
}
