/* Linux refuses bpf_ktime_get_coarse_ns to tracing programs: this object
 * must not load. */
#include "common.h"

SEC("raw_tp")
int coarse_in_tracing(struct bpf_raw_tracepoint_args *ctx)
{
    put(0, bpf_ktime_get_coarse_ns());
    return 0;
}
