// The per-run state JIT code works with: r12 points to it. Generated code
// addresses its fields by offsetof, so this is standard-layout and private.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "bpfvm/jit.h"
#include "../vm/exec_support.h"

namespace bpfvm::jit {

enum ErrorKind : uint32_t {
    kNoError = 0,
    kFault = 1,     // checked access outside the allowed memory (fault, fault_rbp)
    kBudget = 2,    // error_insn: the first instruction of the block the budget does not cover
    kCallDepth = 3,
    kCallx = 4,     // callx_value, error_aux: the register
    kHelperStop = 5, // a helper stopped the run (ExecContext::stop == kFailed): the error is the context's
};

// Fields are set by JitProgram::run only when the program needs them (the
// compiler says which), so a run of a small program costs a few stores.
struct JitState {
    // First: helpers get its address (r12) in r9. Raw storage, so that a run
    // that calls no helper does not pay for constructing it (ctx_init).
    alignas(ExecContext) unsigned char ctx_storage[sizeof(ExecContext)];
    ExecContext& ctx() { return *std::launder(reinterpret_cast<ExecContext*>(ctx_storage)); }
    const ExecContext& ctx() const { return *std::launder(reinterpret_cast<const ExecContext*>(ctx_storage)); }
    ExecContext& ctx_init() { return *new (ctx_storage) ExecContext{}; }
    const JitProgram::Impl* impl;
    uint64_t entry_rsp; // rsp of the entry frame, for unwinding on errors
    uint64_t stack_top;        // r10 of the entry function (end of the stack)
    uint64_t stack_call_limit; // a local call needs r10 >= this (room for one more frame)
    uint64_t stack_last[4];    // checked: stack_top - (1 << k), the last address of an access of 1 << k bytes
    uint64_t budget;    // checked: instructions left
    // Checked: the context, [ctx_lo, ctx_lo + len). ctx_last_*[k] is the
    // highest address an access of 1 << k bytes may start at (0 when none may).
    uint64_t ctx_lo;
    uint64_t ctx_last_read[4];
    uint64_t ctx_last_write[4];
    const uint8_t* packet;
    uint64_t packet_len;
    uint64_t may_goto_budget;
    uint64_t callx_value;
    // Callbacks (ExecContext::call_function): r10 of the function at its last
    // helper call, and the callee's r10 and native address for the trampoline.
    uint64_t call_rbp;
    uint64_t cb_rbp;
    uint64_t cb_target;
    uint32_t error_kind; // always set: kNoError before the run
    int32_t error_insn;
    int32_t error_aux;
    uint32_t padding;
    exec::Fault fault;
    uint64_t fault_rbp;
    // The BPF stack unless the caller gave one: 8 frames of 512 bytes. Not
    // initialised (the checked mode zeroes it).
    alignas(16) uint8_t stack[kMaxCallFrames * kStackSize];

    // No initialisation: run() sets what the program uses.
    JitState() {}
};

// What a compiled program uses of the JitState.
struct StateUse {
    bool context = false;   // calls helpers or kfuncs (ExecContext)
    bool packet = false;    // legacy packet loads
    bool may_goto = false;
    bool callx = false;
    bool stack = false;       // r10 (the program's stack, or local calls)
    bool local_calls = false; // local calls or callx (the frame limit)
    bool callbacks = false;   // function addresses (lddw src 4) and helpers: call_function
};

// Called by generated code.
extern "C" {
// Checked mode, slow path: 1 if [addr, addr + (packed & 0xff)) may be
// accessed (packed bit 8: write, bit 9: atomic), else records the fault and returns 0.
uint64_t bpfvm_jit_check_access(JitState* st, uint64_t addr, uint64_t packed, uint64_t rbp);
// callx with a helper number (in st->callx_value).
uint64_t bpfvm_jit_callx_helper(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, JitState* st);
}

} // namespace bpfvm::jit
