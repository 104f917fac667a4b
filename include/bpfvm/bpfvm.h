/* The bpfvm C API: load, assemble and run eBPF programs from C. */
#ifndef BPFVM_BPFVM_H
#define BPFVM_BPFVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bpfvm_program bpfvm_program;

/* A helper as a program calls it: r1..r5 in, r0 out. `user` is the pointer
 * given to bpfvm_program_run. */
typedef uint64_t (*bpfvm_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, void* user);

/* Load raw bytecode (8 bytes per instruction). On failure returns NULL and
 * writes the reason (with the instruction index) to err, if given. */
bpfvm_program* bpfvm_program_load(const void* bytecode, size_t size, char* err, size_t err_size);

/* Assemble text (LLVM/kernel syntax or the conformance suite's) and load it. */
bpfvm_program* bpfvm_program_assemble(const char* text, char* err, size_t err_size);

/* Register a helper under Linux's number (call imm). Helpers bpfvm provides
 * by default (bpf_ktime_get_ns, ...) are already there. Returns 0, or -1 when
 * the program is already prepared (after the first run). */
int bpfvm_program_set_helper(bpfvm_program* prog, uint32_t id, const char* name, bpfvm_helper_fn fn);

enum bpfvm_mode { BPFVM_MODE_FAST = 0, BPFVM_MODE_CHECKED = 1 };

enum bpfvm_engine { BPFVM_ENGINE_JIT = 0, BPFVM_ENGINE_INTERP = 1 };

/* The engine runs use: the JIT (the default where the host has it) or the
 * interpreter. Returns 0, or -1 when the program has already run or the host
 * has no JIT. */
int bpfvm_program_set_engine(bpfvm_program* prog, enum bpfvm_engine engine);

/* Run with r1 = mem, r2 = mem_size. Returns 0 and stores r0, or -1 and
 * writes the reason to err. The checked mode confines loads and stores to the
 * stack and [mem, mem + mem_size) and bounds the run; use it for programs no
 * verifier has passed. The first run in a mode prepares (or compiles) the
 * program for it. Safe to call from several threads. */
int bpfvm_program_run(bpfvm_program* prog, void* mem, size_t mem_size, enum bpfvm_mode mode, void* user,
                      uint64_t* r0, char* err, size_t err_size);

/* Number of instruction slots. */
size_t bpfvm_program_size(const bpfvm_program* prog);

void bpfvm_program_free(bpfvm_program* prog);

#ifdef __cplusplus
}
#endif

#endif /* BPFVM_BPFVM_H */
