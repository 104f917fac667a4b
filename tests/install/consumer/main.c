/* A C program built with pkg-config against the installed bpfvm. */
#include <bpfvm/bpfvm.h>
#include <stdio.h>

int main(void) {
    char err[128];
    uint64_t r0 = 0;
    bpfvm_program* p = bpfvm_program_assemble("r0 = 6\nr0 *= 7\nexit\n", err, sizeof err);
    if (!p || bpfvm_program_run(p, NULL, 0, BPFVM_MODE_FAST, NULL, &r0, err, sizeof err) != 0) return 1;
    bpfvm_program_free(p);
    printf("%llu\n", (unsigned long long)r0);
    return r0 == 42 ? 0 : 1;
}
