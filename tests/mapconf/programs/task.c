/* Helpers of tracing programs, run as raw_tp through BPF_PROG_TEST_RUN (the
 * runner's thread is the current task): pid/tgid, uid/gid, comm, the probe_read family on the stack and on a user buffer whose address
 * is ctx->args[0], trace_printk. */
#include "common.h"

char comm[16] = {};
char comm_short[4] = {};
char kernel_copy[8] = {};
char kernel_str[16] = {};
char kernel_str_short[4] = {};
char user_copy[8] = {};
char user_str[16] = {};
char user_str_short[6] = {};
char bad_copy[8] = {};
char legacy_user[8] = {};
char legacy_kernel[8] = {};

SEC("raw_tp")
int task_ids(struct bpf_raw_tracepoint_args *ctx)
{
    put(0, bpf_get_current_pid_tgid());
    put(1, bpf_get_current_uid_gid());
    put(2, bpf_get_current_comm(comm, sizeof(comm)));
    put(3, bpf_get_current_comm(comm_short, sizeof(comm_short)));
    return 0;
}

SEC("raw_tp")
int probe_kernel(struct bpf_raw_tracepoint_args *ctx)
{
    char src[8] = "abcdefg";
    put(0, bpf_probe_read_kernel(kernel_copy, sizeof(kernel_copy), src));
    put(1, bpf_probe_read_kernel_str(kernel_str, sizeof(kernel_str), src));
    put(2, bpf_probe_read_kernel_str(kernel_str_short, sizeof(kernel_str_short), src));
    /* a user address is not kernel memory */
    __builtin_memset(bad_copy, 0x55, sizeof(bad_copy));
    put(3, bpf_probe_read_kernel(bad_copy, sizeof(bad_copy), (void *)ctx->args[0]));
    put(4, bpf_probe_read_kernel(legacy_kernel, 8, (void *)0));
    return 0;
}

SEC("raw_tp")
int probe_user(struct bpf_raw_tracepoint_args *ctx)
{
    void *user = (void *)ctx->args[0];
    put(0, bpf_probe_read_user(user_copy, sizeof(user_copy), user));
    put(1, bpf_probe_read_user_str(user_str, sizeof(user_str), user));
    put(2, bpf_probe_read_user_str(user_str_short, sizeof(user_str_short), user));
    /* a kernel (stack) address is not user memory */
    char src[8] = "abcdefg";
    __builtin_memset(bad_copy, 0x55, sizeof(bad_copy));
    put(3, bpf_probe_read_user(bad_copy, sizeof(bad_copy), src));
    /* the legacy helpers read either */
    put(4, bpf_probe_read(legacy_user, sizeof(legacy_user), user));
    put(5, bpf_probe_read(legacy_kernel, sizeof(legacy_kernel), src));
    put(6, bpf_probe_read_str(user_str, sizeof(user_str), user));
    return 0;
}

SEC("raw_tp")
int printk(struct bpf_raw_tracepoint_args *ctx)
{
    static const char fmt[] = "mapconf %d %s\n";
    char s[4] = "abc";
    put(0, bpf_trace_printk(fmt, sizeof(fmt), -7, s));
    static const char plain[] = "mapconf";
    put(1, bpf_trace_printk(plain, sizeof(plain)));
    return 0;
}
