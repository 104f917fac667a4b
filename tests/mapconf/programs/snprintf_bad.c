/* bpf_snprintf's format is a read-only string the verifier checks at load
 * time: an unknown conversion makes the program fail to load. */
#include "common.h"

char out[8] = {};

SEC("xdp")
int bad_format(struct xdp_md *ctx)
{
    put(0, BPF_SNPRINTF(out, sizeof(out), "%q", 1));
    return XDP_PASS;
}
