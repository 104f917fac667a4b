/* The C API, used from C. */
#include <stdio.h>
#include <string.h>

#include "bpfvm/bpfvm.h"

static int failures = 0;
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                 \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static uint64_t add_user(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, void* user) {
    (void)r3;
    (void)r4;
    (void)r5;
    return r1 + r2 + *(uint64_t*)user;
}

int main(void) {
    char err[256];
    uint64_t r0 = 0;

    /* Assemble, register a helper, run with a user pointer. */
    bpfvm_program* p = bpfvm_program_assemble("r1 = 2\nr2 = 3\ncall 1000\nexit\n", err, sizeof err);
    CHECK(p != NULL);
    CHECK(bpfvm_program_size(p) == 4);
    CHECK(bpfvm_program_set_helper(p, 1000, "add_user", add_user) == 0);
    uint64_t extra = 100;
    CHECK(bpfvm_program_run(p, NULL, 0, BPFVM_MODE_FAST, &extra, &r0, err, sizeof err) == 0);
    CHECK(r0 == 105);
    /* Helpers cannot change once the program has run. */
    CHECK(bpfvm_program_set_helper(p, 1001, "late", add_user) == -1);
    bpfvm_program_free(p);

    /* Raw bytecode: r0 = *(u32 *)(r1 + 0); exit. */
    const uint8_t code[] = {0x61, 0x10, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0};
    p = bpfvm_program_load(code, sizeof code, err, sizeof err);
    CHECK(p != NULL);
    uint32_t word = 0xdeadbeef;
    CHECK(bpfvm_program_run(p, &word, sizeof word, BPFVM_MODE_CHECKED, NULL, &r0, err, sizeof err) == 0);
    CHECK(r0 == 0xdeadbeef);
    /* Checked mode refuses a read past the memory. */
    CHECK(bpfvm_program_run(p, &word, 2, BPFVM_MODE_CHECKED, NULL, &r0, err, sizeof err) == -1);
    CHECK(strstr(err, "instruction 0: invalid read of 4 bytes") != NULL);
    bpfvm_program_free(p);

    /* Both engines, both modes. */
    for (int engine = 0; engine < 2; engine++) {
        p = bpfvm_program_assemble("r0 = *(u32 *)(r1 + 0)\nr0 += r2\nexit\n", err, sizeof err);
        CHECK(p != NULL);
        CHECK(bpfvm_program_set_engine(p, (enum bpfvm_engine)engine) == 0);
        for (int mode = 0; mode < 2; mode++) {
            r0 = 0;
            CHECK(bpfvm_program_run(p, &word, sizeof word, (enum bpfvm_mode)mode, NULL, &r0, err, sizeof err) == 0);
            CHECK(r0 == 0xdeadbeef + 4);
        }
        CHECK(bpfvm_program_set_engine(p, BPFVM_ENGINE_INTERP) == -1); /* too late */
        bpfvm_program_free(p);
    }

    /* Errors name the place. */
    CHECK(bpfvm_program_load(code, 7, err, sizeof err) == NULL);
    CHECK(strstr(err, "not a whole number of 8-byte instructions") != NULL);
    CHECK(bpfvm_program_assemble("r0 = 1\nbogus\n", err, sizeof err) == NULL);
    CHECK(strcmp(err, "line 2: unknown instruction at 'bogus'") == 0);
    p = bpfvm_program_assemble("call 4242\nexit\n", err, sizeof err);
    CHECK(p != NULL);
    CHECK(bpfvm_program_run(p, NULL, 0, BPFVM_MODE_FAST, NULL, &r0, err, sizeof err) == -1);
    CHECK(strstr(err, "instruction 0: call to unknown helper 4242") != NULL);
    bpfvm_program_free(p);
    /* A tiny error buffer is truncated, not overrun. */
    char small[8];
    CHECK(bpfvm_program_load(code, 7, small, sizeof small) == NULL);
    CHECK(strlen(small) == 7);
    CHECK(bpfvm_program_run(NULL, NULL, 0, BPFVM_MODE_FAST, NULL, &r0, err, sizeof err) == -1);

    printf("%s\n", failures ? "FAILED" : "all C API checks passed");
    return failures ? 1 : 0;
}
