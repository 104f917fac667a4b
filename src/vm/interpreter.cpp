// The threaded-code interpreter.
//
// A program is prepared once into an array of slots, each holding the address
// of its handler (computed goto), its registers and its operands; helper calls
// are bound to function pointers and lddw values resolved. Execution then
// jumps from handler to handler with no decoding and, in the normal mode, no
// per-instruction checks. The checked mode is the same loop instantiated with
// region checks on every load and store and an instruction budget.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "bpfvm/vm.h"
#include "exec_support.h"

namespace bpfvm {

static_assert(std::endian::native == std::endian::little, "bpfvm assumes a little-endian host");

struct Interpreter::Slot {
    const void* handler;
    uint8_t dst;
    uint8_t src;
    int16_t off;
    int32_t imm;
};
static_assert(sizeof(Interpreter::Slot) == 16);

struct Interpreter::Impl {
    std::vector<Slot> fast;    // normal mode
    std::vector<Slot> checked; // checked mode
    std::vector<HelperFn> calls; // bound helper/kfunc per call site (slot imm indexes it)
    HelperTable helpers;         // for callx
    std::vector<int64_t> functions;
    std::vector<uint32_t> block_cost; // checked mode: the budget's blocks (exec::budget_blocks)
    int frames = kMaxCallFrames;      // checked mode: the frames to zero (exec::frames_used)
};

namespace {

using Slot = Interpreter::Slot;

struct Frame {
    const Slot* ret;
    uint64_t r6, r7, r8, r9, r10;
    uint64_t may_goto_left;
};

struct ExecState {
    ExecContext ctx;
    const Interpreter::Impl* impl = nullptr;
    const Slot* code = nullptr;
    uint8_t* user_stack = nullptr; // RunOptions::stack's last 4096 bytes, or null
    uint64_t stack_lo = 0; // checked mode: the current frame's bottom
    uint64_t stack_top = 0;
    const uint8_t* packet = nullptr;
    uint64_t packet_len = 0;
    uint64_t may_goto_budget = 0;
    uint64_t budget = 0; // checked: instructions left
    const uint32_t* block_cost = nullptr; // checked: exec::budget_blocks
    // At a helper call: the caller's r10 and call depth (for call_function).
    uint64_t call_r10 = 0;
    int call_depth = 0;
    // Fault details, filled before jumping to the fault label.
    uint64_t fault_addr = 0;
    uint32_t fault_size = 0;
    bool fault_write = false;
    bool fault_atomic = false;
    // Result.
    bool failed = false;
    Error error;

    void fail(const Slot* pc, std::string msg) {
        failed = true;
        error = Error{std::move(msg), pc - code, 0, {}};
    }
};

// Where execute starts: the entry (the run), or a function a helper calls
// back (ExecContext::call_function): its first instruction, r1-r5, r10, and
// the frames below it.
struct Entry {
    const Interpreter::Slot* pc;
    uint64_t args[5];
    uint64_t r10;
    int depth_base;
};

template <bool Checked> uint64_t execute(ExecState& st, const Entry& entry);

// Returns the label table of an instantiation (execute called with st.code == nullptr).
template <bool Checked> const void* const* labels_of() {
    static const void* const* table = [] {
        ExecState st;
        execute<Checked>(st, Entry{});
        return reinterpret_cast<const void* const*>(st.fault_addr);
    }();
    return table;
}

#define DST regs[pc->dst]
#define SRC regs[pc->src]
#define IMM (pc->imm)
#define SIMM (static_cast<uint64_t>(static_cast<int64_t>(pc->imm)))
#define DISPATCH()                                                                                            \
    do {                                                                                                      \
        if constexpr (Checked) {                                                                              \
            uint32_t cost_ = st.block_cost[pc - st.code];                                                     \
            if (cost_) {                                                                                      \
                if (__builtin_expect(st.budget < cost_, 0)) goto L_budget;                                    \
                st.budget -= cost_;                                                                           \
            }                                                                                                 \
        }                                                                                                     \
        goto* pc->handler;                                                                                    \
    } while (0)
#define NEXT()                                                                                                \
    do {                                                                                                      \
        ++pc;                                                                                                 \
        DISPATCH();                                                                                           \
    } while (0)
#define JUMP_IF(cond)                                                                                         \
    do {                                                                                                      \
        if (cond) pc += pc->off;                                                                              \
        NEXT();                                                                                               \
    } while (0)
#define CHECK_ACCESS(addr, size, write, atomic)                                                               \
    do {                                                                                                      \
        if constexpr (Checked) {                                                                              \
            if (!exec::access_ok(st.ctx, st.stack_lo, st.stack_top, addr, size, write, atomic)) {            \
                st.fault_addr = addr;                                                                         \
                st.fault_size = size;                                                                         \
                st.fault_write = write;                                                                       \
                st.fault_atomic = atomic;                                                                     \
                goto L_fault;                                                                                 \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

template <bool Checked> uint64_t execute(ExecState& st, const Entry& entry) {
    static const void* const labels[] = {
#define X(NAME, ...) &&L_##NAME,
#include "bpfvm/opcodes.def"
#undef X
        &&L_invalid,
        &&L_fault, // (the last two keep the fast mode from warning about unused labels)
        &&L_budget,
    };
    static_assert(std::size(labels) == kNumOps + 3);
    if (!st.code) {
        st.fault_addr = reinterpret_cast<uint64_t>(&labels[0]);
        return 0;
    }

    uint64_t regs[kNumRegs] = {};
    for (int k = 0; k < 5; k++) regs[k + 1] = entry.args[k];
    regs[10] = entry.r10;
    if constexpr (Checked) st.stack_lo = entry.r10 - kStackSize;
    Frame frames[kMaxCallFrames];
    int depth = 0; // frames of this execute; entry.depth_base below them
    uint64_t may_goto_left = st.may_goto_budget;
    const Interpreter::Impl& impl = *st.impl;
    const Slot* pc = entry.pc;
    uint64_t call_target = 0;
    DISPATCH();

    // ALU and ALU64 ----------------------------------------------------------
#define ALU_PLAIN(NAME, OP)                                                                                   \
    L_##NAME##32_IMM : DST = static_cast<uint32_t>(static_cast<uint32_t>(DST) OP static_cast<uint32_t>(IMM));  \
    NEXT();                                                                                                   \
    L_##NAME##32_REG : DST = static_cast<uint32_t>(static_cast<uint32_t>(DST) OP static_cast<uint32_t>(SRC));  \
    NEXT();                                                                                                   \
    L_##NAME##64_IMM : DST = DST OP SIMM;                                                                     \
    NEXT();                                                                                                   \
    L_##NAME##64_REG : DST = DST OP SRC;                                                                      \
    NEXT();
    ALU_PLAIN(ADD, +)
    ALU_PLAIN(SUB, -)
    ALU_PLAIN(MUL, *)
    ALU_PLAIN(OR, |)
    ALU_PLAIN(AND, &)
    ALU_PLAIN(XOR, ^)
#undef ALU_PLAIN

#define ALU_SHIFT(NAME, OP)                                                                                   \
    L_##NAME##32_IMM : DST = static_cast<uint32_t>(static_cast<uint32_t>(DST) OP(IMM & 31));                  \
    NEXT();                                                                                                   \
    L_##NAME##32_REG : DST = static_cast<uint32_t>(static_cast<uint32_t>(DST) OP(SRC & 31));                  \
    NEXT();                                                                                                   \
    L_##NAME##64_IMM : DST = DST OP(IMM & 63);                                                                \
    NEXT();                                                                                                   \
    L_##NAME##64_REG : DST = DST OP(SRC & 63);                                                                \
    NEXT();
    ALU_SHIFT(LSH, <<)
    ALU_SHIFT(RSH, >>)
#undef ALU_SHIFT
L_ARSH32_IMM:
    DST = static_cast<uint32_t>(static_cast<int32_t>(DST) >> (IMM & 31));
    NEXT();
L_ARSH32_REG:
    DST = static_cast<uint32_t>(static_cast<int32_t>(DST) >> (SRC & 31));
    NEXT();
L_ARSH64_IMM:
    DST = static_cast<uint64_t>(static_cast<int64_t>(DST) >> (IMM & 63));
    NEXT();
L_ARSH64_REG:
    DST = static_cast<uint64_t>(static_cast<int64_t>(DST) >> (SRC & 63));
    NEXT();

    // Division and modulo as Linux does them: x / 0 = 0, x % 0 = x, and for
    // signed INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.
#define UDIVMOD(NAME, DIVISOR32, DIVISOR64)                                                                   \
    L_DIV32_##NAME : {                                                                                        \
        uint32_t s = DIVISOR32, d = static_cast<uint32_t>(DST);                                              \
        DST = s ? d / s : 0;                                                                                  \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_MOD32_##NAME : {                                                                                        \
        uint32_t s = DIVISOR32, d = static_cast<uint32_t>(DST);                                              \
        DST = s ? d % s : d;                                                                                  \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_DIV64_##NAME : {                                                                                        \
        uint64_t s = DIVISOR64;                                                                               \
        DST = s ? DST / s : 0;                                                                                \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_MOD64_##NAME : {                                                                                        \
        uint64_t s = DIVISOR64;                                                                               \
        DST = s ? DST % s : DST;                                                                              \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_SDIV32_##NAME : {                                                                                       \
        int32_t s = static_cast<int32_t>(DIVISOR32), d = static_cast<int32_t>(DST);                          \
        DST = static_cast<uint32_t>(s == 0 ? 0 : s == -1 ? 0u - static_cast<uint32_t>(d) : d / s);           \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_SMOD32_##NAME : {                                                                                       \
        int32_t s = static_cast<int32_t>(DIVISOR32), d = static_cast<int32_t>(DST);                          \
        DST = static_cast<uint32_t>(s == 0 ? d : s == -1 ? 0 : d % s);                                       \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_SDIV64_##NAME : {                                                                                       \
        int64_t s = static_cast<int64_t>(DIVISOR64), d = static_cast<int64_t>(DST);                          \
        DST = s == 0 ? 0 : s == -1 ? 0 - static_cast<uint64_t>(d) : static_cast<uint64_t>(d / s);           \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_SMOD64_##NAME : {                                                                                       \
        int64_t s = static_cast<int64_t>(DIVISOR64), d = static_cast<int64_t>(DST);                          \
        DST = s == 0 ? static_cast<uint64_t>(d) : s == -1 ? 0 : static_cast<uint64_t>(d % s);               \
        NEXT();                                                                                               \
    }
    UDIVMOD(IMM, static_cast<uint32_t>(IMM), SIMM)
    UDIVMOD(REG, static_cast<uint32_t>(SRC), SRC)
#undef UDIVMOD

L_NEG32:
    DST = static_cast<uint32_t>(0u - static_cast<uint32_t>(DST));
    NEXT();
L_NEG64:
    DST = 0 - DST;
    NEXT();
L_MOV32_IMM:
    DST = static_cast<uint32_t>(IMM);
    NEXT();
L_MOV32_REG:
    DST = static_cast<uint32_t>(SRC);
    NEXT();
L_MOV64_IMM:
    DST = SIMM;
    NEXT();
L_MOV64_REG:
    DST = SRC;
    NEXT();
L_MOVSX8_32:
    DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(SRC)));
    NEXT();
L_MOVSX16_32:
    DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int16_t>(SRC)));
    NEXT();
L_MOVSX8_64:
    DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(SRC)));
    NEXT();
L_MOVSX16_64:
    DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(SRC)));
    NEXT();
L_MOVSX32_64:
    DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(SRC)));
    NEXT();
L_LE16:
    DST = static_cast<uint16_t>(DST);
    NEXT();
L_LE32:
    DST = static_cast<uint32_t>(DST);
    NEXT();
L_LE64:
    NEXT();
L_BE16:
L_BSWAP16:
    DST = __builtin_bswap16(static_cast<uint16_t>(DST));
    NEXT();
L_BE32:
L_BSWAP32:
    DST = __builtin_bswap32(static_cast<uint32_t>(DST));
    NEXT();
L_BE64:
L_BSWAP64:
    DST = __builtin_bswap64(DST);
    NEXT();

    // Jumps ------------------------------------------------------------------
L_JA:
    pc += pc->off;
    NEXT();
L_GOTOL:
    pc += pc->imm;
    NEXT();
#define JMP(NAME, OP, T64, T32)                                                                               \
    L_##NAME##_IMM : JUMP_IF(static_cast<T64>(DST) OP static_cast<T64>(static_cast<int64_t>(IMM)));           \
    L_##NAME##_REG : JUMP_IF(static_cast<T64>(DST) OP static_cast<T64>(SRC));                                 \
    L_##NAME##32_IMM : JUMP_IF(static_cast<T32>(DST) OP static_cast<T32>(IMM));                               \
    L_##NAME##32_REG : JUMP_IF(static_cast<T32>(DST) OP static_cast<T32>(SRC));
    JMP(JEQ, ==, uint64_t, uint32_t)
    JMP(JNE, !=, uint64_t, uint32_t)
    JMP(JGT, >, uint64_t, uint32_t)
    JMP(JGE, >=, uint64_t, uint32_t)
    JMP(JLT, <, uint64_t, uint32_t)
    JMP(JLE, <=, uint64_t, uint32_t)
    JMP(JSGT, >, int64_t, int32_t)
    JMP(JSGE, >=, int64_t, int32_t)
    JMP(JSLT, <, int64_t, int32_t)
    JMP(JSLE, <=, int64_t, int32_t)
#undef JMP
L_JSET_IMM:
    JUMP_IF((DST & SIMM) != 0);
L_JSET_REG:
    JUMP_IF((DST & SRC) != 0);
L_JSET32_IMM:
    JUMP_IF((static_cast<uint32_t>(DST) & static_cast<uint32_t>(IMM)) != 0);
L_JSET32_REG:
    JUMP_IF((static_cast<uint32_t>(DST) & static_cast<uint32_t>(SRC)) != 0);
L_MAY_GOTO:
    if (may_goto_left == 0) pc += pc->off;
    else may_goto_left--;
    NEXT();

    // Calls ------------------------------------------------------------------
L_CALL_HELPER:
L_CALL_KFUNC:
    st.call_r10 = regs[10];
    st.call_depth = entry.depth_base + depth;
    regs[0] = impl.calls[static_cast<uint32_t>(pc->imm)](regs[1], regs[2], regs[3], regs[4], regs[5], &st.ctx);
    if (st.ctx.stop != ExecContext::kRunning) [[unlikely]]
        goto L_helper_stop;
    // A call leaves r1-r5 unspecified; the checked mode makes them 0 in every engine.
    if constexpr (Checked) regs[1] = regs[2] = regs[3] = regs[4] = regs[5] = 0;
    NEXT();
L_helper_stop:
    if (st.ctx.stop == ExecContext::kReturn) { // bpf_tail_call: the function returns what the helper did
        st.ctx.stop = ExecContext::kRunning;
        goto L_EXIT;
    }
    if (!st.failed) { // (an error inside a callback is already recorded, at its place)
        Error e = st.ctx.take_error();
        if (e.insn < 0) e.insn = pc - st.code;
        st.failed = true;
        st.error = std::move(e);
    }
    return 0;
L_CALL_LOCAL:
    call_target = static_cast<uint64_t>(pc + 1 + pc->imm - st.code);
    goto L_do_call;
L_CALLX: {
    uint64_t target = DST;
    if ((target & 0xffff'ffff'0000'0000ull) == kFuncAddressTag &&
        std::binary_search(impl.functions.begin(), impl.functions.end(), static_cast<int64_t>(target & 0xffffffff))) {
        call_target = target & 0xffffffff;
        goto L_do_call;
    }
    const Helper* h = target <= 0xffffffff ? impl.helpers.find(static_cast<uint32_t>(target)) : nullptr;
    if (!h) {
        st.fail(pc, exec::callx_message(pc->dst, target));
        return 0;
    }
    st.call_r10 = regs[10];
    st.call_depth = entry.depth_base + depth;
    regs[0] = h->fn(regs[1], regs[2], regs[3], regs[4], regs[5], &st.ctx);
    if (st.ctx.stop != ExecContext::kRunning) [[unlikely]]
        goto L_helper_stop;
    if constexpr (Checked) regs[1] = regs[2] = regs[3] = regs[4] = regs[5] = 0;
    NEXT();
}
L_do_call:
    if (entry.depth_base + depth + 1 >= kMaxCallFrames) {
        st.fail(pc, exec::call_depth_message());
        return 0;
    }
    frames[depth] = Frame{pc + 1, regs[6], regs[7], regs[8], regs[9], regs[10], may_goto_left};
    depth++;
    regs[10] -= kStackSize;
    may_goto_left = st.may_goto_budget;
    if constexpr (Checked) st.stack_lo = regs[10] - kStackSize;
    pc = st.code + call_target;
    DISPATCH();
L_EXIT:
    if (depth == 0) return regs[0];
    depth--;
    pc = frames[depth].ret;
    regs[6] = frames[depth].r6;
    regs[7] = frames[depth].r7;
    regs[8] = frames[depth].r8;
    regs[9] = frames[depth].r9;
    regs[10] = frames[depth].r10;
    may_goto_left = frames[depth].may_goto_left;
    if constexpr (Checked) st.stack_lo = regs[10] - kStackSize;
    DISPATCH();

    // Loads and stores -------------------------------------------------------
L_LDDW:
    DST = static_cast<uint32_t>(pc[0].imm) | (static_cast<uint64_t>(static_cast<uint32_t>(pc[1].imm)) << 32);
    pc += 2;
    DISPATCH();

#define LDX(NAME, T, EXT)                                                                                     \
    L_##NAME : {                                                                                              \
        uint64_t addr = SRC + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), false, false);                                                          \
        T v;                                                                                                  \
        std::memcpy(&v, reinterpret_cast<const void*>(addr), sizeof(T));                                      \
        DST = static_cast<uint64_t>(static_cast<EXT>(v));                                                     \
        NEXT();                                                                                               \
    }
    LDX(LDX_B, uint8_t, uint64_t)
    LDX(LDX_H, uint16_t, uint64_t)
    LDX(LDX_W, uint32_t, uint64_t)
    LDX(LDX_DW, uint64_t, uint64_t)
    LDX(LDXSX_B, int8_t, int64_t)
    LDX(LDXSX_H, int16_t, int64_t)
    LDX(LDXSX_W, int32_t, int64_t)
#undef LDX

#define STORE(NAME, T, VALUE)                                                                                 \
    L_##NAME : {                                                                                              \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, false);                                                           \
        T v = static_cast<T>(VALUE);                                                                          \
        std::memcpy(reinterpret_cast<void*>(addr), &v, sizeof(T));                                            \
        NEXT();                                                                                               \
    }
    STORE(ST_B, uint8_t, IMM)
    STORE(ST_H, uint16_t, IMM)
    STORE(ST_W, uint32_t, IMM)
    STORE(ST_DW, uint64_t, SIMM)
    STORE(STX_B, uint8_t, SRC)
    STORE(STX_H, uint16_t, SRC)
    STORE(STX_W, uint32_t, SRC)
    STORE(STX_DW, uint64_t, SRC)
#undef STORE

    // Legacy packet loads: r0 = ntoh(packet[off]); out of bounds ends the
    // program with r0 = 0, as in Linux.
#define LDPKT(NAME, T, SWAP, OFFSET)                                                                          \
    L_##NAME : {                                                                                              \
        int64_t o = OFFSET;                                                                                   \
        if (o < 0 || static_cast<uint64_t>(o) + sizeof(T) > st.packet_len) return 0;                         \
        T v;                                                                                                  \
        std::memcpy(&v, st.packet + o, sizeof(T));                                                            \
        regs[0] = SWAP(v);                                                                                    \
        NEXT();                                                                                               \
    }
#define NOSWAP(v) (v)
    LDPKT(LDABS_B, uint8_t, NOSWAP, IMM)
    LDPKT(LDABS_H, uint16_t, __builtin_bswap16, IMM)
    LDPKT(LDABS_W, uint32_t, __builtin_bswap32, IMM)
    LDPKT(LDIND_B, uint8_t, NOSWAP, static_cast<int32_t>(static_cast<uint32_t>(SRC) + static_cast<uint32_t>(IMM)))
    LDPKT(LDIND_H, uint16_t, __builtin_bswap16,
          static_cast<int32_t>(static_cast<uint32_t>(SRC) + static_cast<uint32_t>(IMM)))
    LDPKT(LDIND_W, uint32_t, __builtin_bswap32,
          static_cast<int32_t>(static_cast<uint32_t>(SRC) + static_cast<uint32_t>(IMM)))
#undef NOSWAP
#undef LDPKT

    // Atomics ----------------------------------------------------------------
#define ATOMIC_RMW(W, T, NAME, FN)                                                                            \
    L_ATOMIC##W##_##NAME : {                                                                                  \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, true);                                                            \
        FN(reinterpret_cast<T*>(addr), static_cast<T>(SRC), __ATOMIC_SEQ_CST);                                \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_ATOMIC##W##_FETCH_##NAME : {                                                                            \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, true);                                                            \
        SRC = FN(reinterpret_cast<T*>(addr), static_cast<T>(SRC), __ATOMIC_SEQ_CST);                          \
        NEXT();                                                                                               \
    }
    ATOMIC_RMW(32, uint32_t, ADD, __atomic_fetch_add)
    ATOMIC_RMW(32, uint32_t, OR, __atomic_fetch_or)
    ATOMIC_RMW(32, uint32_t, AND, __atomic_fetch_and)
    ATOMIC_RMW(32, uint32_t, XOR, __atomic_fetch_xor)
    ATOMIC_RMW(64, uint64_t, ADD, __atomic_fetch_add)
    ATOMIC_RMW(64, uint64_t, OR, __atomic_fetch_or)
    ATOMIC_RMW(64, uint64_t, AND, __atomic_fetch_and)
    ATOMIC_RMW(64, uint64_t, XOR, __atomic_fetch_xor)
#undef ATOMIC_RMW
#define ATOMIC_SWAPS(W, T)                                                                                    \
    L_ATOMIC##W##_XCHG : {                                                                                    \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, true);                                                            \
        SRC = __atomic_exchange_n(reinterpret_cast<T*>(addr), static_cast<T>(SRC), __ATOMIC_SEQ_CST);         \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_ATOMIC##W##_CMPXCHG : {                                                                                 \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, true);                                                            \
        T expected = static_cast<T>(regs[0]);                                                                 \
        __atomic_compare_exchange_n(reinterpret_cast<T*>(addr), &expected, static_cast<T>(SRC), false,        \
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                                      \
        regs[0] = expected;                                                                                   \
        NEXT();                                                                                               \
    }
    ATOMIC_SWAPS(32, uint32_t)
    ATOMIC_SWAPS(64, uint64_t)
#undef ATOMIC_SWAPS
#define ACQ_REL(S, T)                                                                                         \
    L_LOAD_ACQ_##S : {                                                                                        \
        uint64_t addr = SRC + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), false, true);                                                           \
        DST = __atomic_load_n(reinterpret_cast<const T*>(addr), __ATOMIC_ACQUIRE);                            \
        NEXT();                                                                                               \
    }                                                                                                         \
    L_STORE_REL_##S : {                                                                                       \
        uint64_t addr = DST + static_cast<int64_t>(pc->off);                                                  \
        CHECK_ACCESS(addr, sizeof(T), true, true);                                                            \
        __atomic_store_n(reinterpret_cast<T*>(addr), static_cast<T>(SRC), __ATOMIC_RELEASE);                  \
        NEXT();                                                                                               \
    }
    ACQ_REL(B, uint8_t)
    ACQ_REL(H, uint16_t)
    ACQ_REL(W, uint32_t)
    ACQ_REL(DW, uint64_t)
#undef ACQ_REL

L_invalid:
    st.fail(pc, "execution reached the second half of an lddw");
    return 0;
L_fault:
    st.fail(pc, exec::describe_fault(exec::Fault{st.fault_addr, st.fault_size, st.fault_write, st.fault_atomic},
                                     st.ctx, st.stack_lo, st.stack_top));
    return 0;
L_budget:
    st.fail(pc, exec::kBudgetMessage);
    return 0;
}

// ExecContext::call_function: runs the program's function `fn` (a
// BPF_PSEUDO_FUNC value) as if the function that called the helper called it.
template <bool Checked>
uint64_t call_function(ExecContext* c, uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
    ExecState& st = *static_cast<ExecState*>(c->engine);
    const auto& functions = st.impl->functions;
    if ((fn & 0xffff'ffff'0000'0000ull) != kFuncAddressTag ||
        !std::binary_search(functions.begin(), functions.end(), static_cast<int64_t>(fn & 0xffffffff))) {
        c->fail(Error{exec::callback_message(fn), -1, 0, {}});
        return 0;
    }
    if (st.call_depth + 1 >= kMaxCallFrames) {
        c->fail(Error{exec::call_depth_message(), -1, 0, {}});
        return 0;
    }
    const uint64_t saved_lo = st.stack_lo, saved_r10 = st.call_r10;
    const int saved_depth = st.call_depth;
    Entry e{st.code + (fn & 0xffffffff), {r1, r2, r3, r4, r5}, st.call_r10 - kStackSize, st.call_depth + 1};
    uint64_t r0 = execute<Checked>(st, e);
    st.stack_lo = saved_lo;
    st.call_r10 = saved_r10;
    st.call_depth = saved_depth;
    if (st.failed) {
        c->stop = ExecContext::kFailed; // recorded at its place by execute
        return 0;
    }
    return r0;
}

#undef DST
#undef SRC
#undef IMM
#undef SIMM
#undef DISPATCH
#undef NEXT
#undef JUMP_IF
#undef CHECK_ACCESS

uint64_t helper_ktime_get_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return exec::ktime_get_ns();
}

uint64_t helper_get_prandom_u32(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    thread_local uint64_t state = 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uint64_t>(&state);
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state);
}

uint64_t helper_get_smp_processor_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return 0;
}

} // namespace

const HelperTable& default_helpers() {
    static const HelperTable table = [] {
        HelperTable t;
        t.add(BPF_FUNC_ktime_get_ns, "bpf_ktime_get_ns", helper_ktime_get_ns);
        t.add(BPF_FUNC_get_prandom_u32, "bpf_get_prandom_u32", helper_get_prandom_u32);
        t.add(BPF_FUNC_get_smp_processor_id, "bpf_get_smp_processor_id", helper_get_smp_processor_id);
        return t;
    }();
    return table;
}

Interpreter::Interpreter() = default;
Interpreter::Interpreter(Interpreter&&) noexcept = default;
Interpreter& Interpreter::operator=(Interpreter&&) noexcept = default;
Interpreter::~Interpreter() = default;

Result<Interpreter> Interpreter::create(const Program& program, const HelperTable& helpers,
                                        const PrepareOptions& options) {
    Interpreter vm;
    vm.program_ = std::make_shared<const Program>(program);
    auto impl = std::make_unique<Impl>();
    impl->helpers = helpers;
    impl->functions.assign(program.functions().begin(), program.functions().end());

    auto bindings = exec::bind(program, helpers, options);
    if (!bindings) return tl::unexpected(bindings.error());
    const auto insns = program.insns();
    std::vector<Slot> slots(insns.size());
    std::vector<uint16_t> ops(insns.size(), static_cast<uint16_t>(kNumOps)); // kNumOps = invalid label
    for (size_t i = 0; i < insns.size(); i++)
        slots[i] = Slot{nullptr, insns[i].dst, insns[i].src, insns[i].off, insns[i].imm};
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = program.op(i);
        if (!info) continue; // second half of lddw: carries the upper 32 bits
        ops[i] = static_cast<uint16_t>(info->op);
        if (bindings->call_target[i]) {
            slots[i].imm = static_cast<int32_t>(impl->calls.size());
            impl->calls.push_back(bindings->call_target[i]);
        } else if (info->form == Form::LdImm64) {
            uint64_t value = bindings->lddw_value[i];
            slots[i].imm = static_cast<int32_t>(static_cast<uint32_t>(value));
            slots[i + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(value >> 32));
        }
    }
    impl->block_cost = exec::budget_blocks(program);
    impl->frames = exec::frames_used(program);
    impl->fast = slots;
    impl->checked = std::move(slots);
    const void* const* fast_labels = labels_of<false>();
    const void* const* checked_labels = labels_of<true>();
    for (size_t i = 0; i < ops.size(); i++) {
        impl->fast[i].handler = fast_labels[ops[i]];
        impl->checked[i].handler = checked_labels[ops[i]];
    }
    vm.impl_ = std::move(impl);
    return vm;
}

Result<uint64_t> Interpreter::run(void* ctx, size_t ctx_size) const {
    static const RunOptions defaults;
    return run(ctx, ctx_size, defaults);
}

Result<uint64_t> Interpreter::run(void* ctx, size_t ctx_size, const RunOptions& options) const {
    ExecState st;
    st.impl = impl_.get();
    if (!options.stack.empty()) {
        if (options.stack.size() < kMaxCallFrames * kStackSize)
            return make_error(fmt::format("RunOptions::stack has {} bytes: a stack needs {}", options.stack.size(),
                                          kMaxCallFrames * kStackSize));
        st.user_stack = options.stack.data() + options.stack.size() - kMaxCallFrames * kStackSize;
    }
    st.ctx.user = options.user;
    st.ctx.checked = options.checked;
    st.may_goto_budget = options.may_goto_budget;
    st.budget = options.insn_budget;
    if (options.packet.data()) {
        st.packet = options.packet.data();
        st.packet_len = options.packet.size();
    } else {
        st.packet = static_cast<const uint8_t*>(ctx);
        st.packet_len = ctx ? ctx_size : 0;
    }
    alignas(16) uint8_t own_stack[kMaxCallFrames * kStackSize];
    uint8_t* stack = st.user_stack ? st.user_stack : own_stack;
    if (options.checked) // the frames the program can reach start zeroed
        std::memset(stack + (kMaxCallFrames - impl_->frames) * kStackSize, 0, impl_->frames * kStackSize);
    st.stack_top = reinterpret_cast<uint64_t>(stack + kMaxCallFrames * kStackSize);
    st.ctx.stack_lo = reinterpret_cast<uint64_t>(stack);
    st.ctx.stack_hi = st.stack_top;
    st.ctx.context = ctx;
    st.ctx.context_size = ctx_size;
    st.ctx.options = &options;
    st.ctx.tail_calls = options.tail_calls;
    st.ctx.engine = &st;
    Entry entry{nullptr, {reinterpret_cast<uint64_t>(ctx), ctx_size, 0, 0, 0}, st.stack_top, 0};
    uint64_t r0;
    if (options.checked) {
        // Only the checked mode keeps a region table (the fast mode checks nothing).
        exec::RegionTable regions;
        st.ctx.regions = regions.data();
        st.ctx.capacity = regions.size();
        if (ctx && ctx_size)
            st.ctx.add_region(MemoryRegion{reinterpret_cast<uint64_t>(ctx), ctx_size, options.context_writable,
                                           "context"});
        for (const auto& r : options.regions)
            if (!st.ctx.add_region(r)) return make_error("too many memory regions for one run");
        st.code = impl_->checked.data();
        st.block_cost = impl_->block_cost.data();
        st.ctx.call_function_fn = &call_function<true>;
        entry.pc = st.code;
        r0 = execute<true>(st, entry);
    } else {
        st.code = impl_->fast.data();
        st.ctx.call_function_fn = &call_function<false>;
        entry.pc = st.code;
        r0 = execute<false>(st, entry);
    }
    if (st.ctx.error) st.ctx.take_error(); // (failed twice: the first error is reported)
    if (st.failed) return tl::unexpected(std::move(st.error));
    return r0;
}

} // namespace bpfvm
