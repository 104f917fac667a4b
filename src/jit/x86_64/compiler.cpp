// The x86-64 code generator (Xbyak).
//
// Register mapping (as Linux's JIT): r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx,
// r5 r8 (helper arguments are in place), r6 rbx, r7 r13, r8 r14, r9 r15
// (callee-saved), r10 rbp. r12 holds the JitState; r9, r10, r11 are scratch.
//
// Every BPF function becomes a native function. Local calls move r10 down by
// one 512-byte frame of JitState::stack around a native call; a callee saves
// the r6-r9 it writes. Errors (checked faults, call depth, callx, budget)
// unwind straight to the entry frame, whose rsp is kept in the JitState.
#include "../compiler.h"

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#define XBYAK_NO_OP_NAMES
#include <xbyak/xbyak.h>
#include <xbyak/xbyak_util.h>

#include "../jit_state.h"
#include "../../vm/exec_support.h"

namespace bpfvm::jit {

namespace {

using namespace Xbyak;

constexpr uint32_t kStackTopField = static_cast<uint32_t>(offsetof(JitState, stack_top));

int size_log2(int bytes) { return bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : 3; }

struct FunctionInfo {
    int64_t begin = 0, end = 0; // [begin, end)
    uint32_t saved = 0;         // bit i: BPF r(6+i) is written here, so saved
    bool may_goto = false;
    bool calls = false;         // any native call in the body (helpers, functions, runtime)
};

// A jump target of the emitter's own (an index into Emitter::target_pos_):
// cheaper than an Xbyak::Label, which costs hash-table entries.
struct Target {
    size_t id;
};

struct Stub {
    Target target;
    uint32_t kind;
    int64_t insn;
    int32_t aux;
};

class Emitter : public CodeGenerator {
public:
    Emitter(size_t capacity, void* memory, const Program& program, const exec::Bindings& bindings,
            const JitOptions& options)
        : CodeGenerator(capacity, memory), prog_(program), insns_(program.insns()), bind_(bindings), opt_(options),
          is_target_(insns_.size(), false), block_start_(insns_.size(), false) {
        static const bool bmi2 = util::Cpu().has(util::Cpu::tBMI2);
        bmi2_ = bmi2;
        if (opt_.blinding) {
            std::random_device rd;
            rng_.seed((uint64_t(rd()) << 32) | rd());
        }
    }

    std::vector<uint32_t> offsets;
    std::vector<uint32_t> function_offsets;
    uint32_t callback_entry = 0;
    StateUse use;

    void emit_program() {
        analyse();
        offsets.assign(insns_.size(), 0);
        function_offsets.assign(functions_.size(), 0);
        if (stub_entry_) emit_entry_stub();
        if (use.callbacks) emit_callback_entry();
        for (size_t f = 0; f < functions_.size(); f++) emit_function(f);
        emit_shared_stubs();
        for (auto& s : stubs_) emit_stub(s);
        emit_stub_tails();
        if (has_callx_) emit_function_table();
        // Forward jumps: their displacements, now that every place is known.
        for (const JumpFixup& j : jump_fixups_)
            rewrite(j.end - 4, static_cast<uint64_t>(int64_t(offsets[j.target]) - int64_t(j.end)), 4);
        for (const JumpFixup& j : target_fixups_)
            rewrite(j.end - 4, static_cast<uint64_t>(int64_t(target_pos_[j.target]) - int64_t(j.end)), 4);
    }

private:
    // ---------------------------------------------------------------- analysis
    void analyse() {
        auto starts = prog_.functions();
        fn_labels_ = std::vector<Label>(starts.size());
        for (size_t f = 0; f < starts.size(); f++) {
            FunctionInfo fi;
            fi.begin = starts[f];
            fi.end = f + 1 < starts.size() ? starts[f + 1] : static_cast<int64_t>(insns_.size());
            functions_.push_back(fi);
        }
        function_of_.assign(insns_.size(), 0);
        for (size_t f = 0; f < functions_.size(); f++)
            for (int64_t i = functions_[f].begin; i < functions_[f].end; i++) function_of_[i] = static_cast<int>(f);

        for (size_t i = 0; i < insns_.size(); i++) {
            const OpInfo* info = prog_.op(i);
            if (!info) continue;
            const Insn& in = insns_[i];
            FunctionInfo& fi = functions_[function_of_[i]];
            auto note_write = [&](int reg) {
                if (reg >= 6 && reg <= 9) fi.saved |= 1u << (reg - 6);
            };
            if (info->dst.kind == FieldRule::WReg) note_write(in.dst);
            if (info->src.kind == FieldRule::WReg) note_write(in.src);
            if (in.dst == 10 || in.src == 10) uses_stack_ = true;
            switch (info->form) {
            case Form::Call: case Form::CallKfunc:
                fi.calls = true;
                needs_state_ = true;
                use.context = true;
                break;
            case Form::CallLocal: case Form::CallX:
                fi.calls = true;
                needs_state_ = true;
                uses_stack_ = true;
                if (info->form == Form::CallX) {
                    has_callx_ = true;
                    use.callx = true;
                    use.context = true;
                }
                break;
            case Form::MayGoto:
                fi.may_goto = true;
                needs_state_ = true;
                use.may_goto = true;
                break;
            case Form::LdAbs: case Form::LdInd:
                needs_state_ = true;
                use.packet = true;
                break;
            default: break;
            }
            auto t = branch_target(*info, in, static_cast<int64_t>(i));
            if (t && info->form != Form::LdImm64) {
                is_target_[*t] = true;
            }
            // The entry function called as a function (recursion, or its address
            // taken for callx): it needs an entry stub of its own.
            if (t && *t == 0 && (info->form == Form::CallLocal || info->form == Form::LdImm64)) stub_entry_ = true;
            if (info->form == Form::LdImm64 && in.src == static_cast<uint8_t>(Pseudo::Func)) has_function_values_ = true;
        }
        // A helper may call back a function whose address the program loaded:
        // the callback trampoline unwinds like the entry stub, so the entry
        // goes through the stub.
        if (has_function_values_ && use.context) {
            use.callbacks = true;
            stub_entry_ = true;
        }
        if (stub_entry_) needs_state_ = uses_stack_ = true;
        // An unwind (error, failed packet load) from a callee skips the callee's
        // epilogue: the entry must then save every host register a callee may
        // write, not only its own.
        if (needs_state_ && functions_.size() > 1 && !stub_entry_) functions_[0].saved = 0xf;
        for (const auto& fi : functions_) use.local_calls |= fi.calls && uses_stack_;
        if (opt_.checked) {
            needs_state_ = true;
            uses_stack_ = true; // the stack check reads r10: it must be the program's
            for (auto& fi : functions_) fi.calls = true; // the slow path calls into C++
            if (!stub_entry_) functions_[0].saved = 0xf; // the entry zeroes r6-r9: it saves the host's values
        }
        use.stack = uses_stack_;
        // Blocks: for the checked mode's budget (shared with the interpreter)
        // and the limits of the peepholes.
        block_cost_ = exec::budget_blocks(prog_);
        for (size_t i = 0; i < insns_.size(); i++) block_start_[i] = block_cost_[i] != 0;
    }

    // Instructions in the block starting at i (lddw counts once).
    int32_t block_length(size_t i) const { return static_cast<int32_t>(block_cost_[i]); }

    // ---------------------------------------------------------------- registers
    static const Reg64& R(int bpf) {
        static const Reg64 map[11] = {Reg64(Operand::RAX), Reg64(Operand::RDI), Reg64(Operand::RSI),
                                      Reg64(Operand::RDX), Reg64(Operand::RCX), Reg64(Operand::R8),
                                      Reg64(Operand::RBX), Reg64(Operand::R13), Reg64(Operand::R14),
                                      Reg64(Operand::R15), Reg64(Operand::RBP)};
        return map[bpf];
    }
    // The 32-bit view of a 64-bit register (Xbyak's cvt32 checks and is not
    // inlined: this is a plain construction).
    static Reg32 to32(const Reg& r) { return Reg32(r.getIdx()); }
    static Reg32 R32(int bpf) { return to32(R(bpf)); }
    static const Reg64& scratch9() { static const Reg64 r(Operand::R9); return r; }
    static const Reg64& scratch10() { static const Reg64 r(Operand::R10); return r; }
    static const Reg64& scratch11() { static const Reg64 r(Operand::R11); return r; }
    static const Reg64& state() { static const Reg64 r(Operand::R12); return r; }

    Address field(size_t offset, int bits = 64) const {
        auto disp = static_cast<uint32_t>(offset);
        switch (bits) {
        case 32: return dword[state() + disp];
        default: return qword[state() + disp];
        }
    }

    // ---------------------------------------------------------------- frames
    struct Frame {
        std::vector<Reg64> pushed; // in push order
        bool counter = false;      // may_goto counter below the pushes
        bool pad = false;          // 8 bytes to align rsp to 16
        int counter_offset = 0;    // [rsp + counter_offset] in the body
    };

    Frame frame_for(size_t f) const {
        const FunctionInfo& fi = functions_[f];
        Frame fr;
        static const int kOrder[4] = {6, 7, 8, 9};
        if (f == 0 && !stub_entry_) {
            // The entry follows the host ABI: it saves every callee-saved
            // register it uses, including rbp and r12.
            if (uses_stack_) fr.pushed.push_back(Reg64(Operand::RBP));
            if (needs_state_) fr.pushed.push_back(state());
        }
        for (int r : kOrder)
            if (fi.saved & (1u << (r - 6))) fr.pushed.push_back(R(r));
        fr.counter = fi.may_goto;
        int slots = static_cast<int>(fr.pushed.size()) + (fr.counter ? 1 : 0);
        // At entry rsp = 8 (mod 16); calls need 0 (mod 16) at the call.
        fr.pad = fi.calls && (slots % 2 == 0);
        fr.counter_offset = fr.pad ? 8 : 0;
        return fr;
    }

    void prologue(size_t f, const Frame& fr) {
        for (const auto& r : fr.pushed) push(r);
        if (f == 0 && !stub_entry_) {
            if (needs_state_) mov(state(), rdx);
            if (uses_stack_) mov(rbp, qword[rdx + kStackTopField]);
            if (opt_.checked) {
                // Registers start at 0, as in the interpreter.
                for (int r : {0, 3, 4, 5, 6, 7, 8, 9}) xor_(R32(r), R32(r));
            }
        }
        if (fr.counter) push(qword[state() + static_cast<uint32_t>(offsetof(JitState, may_goto_budget))]);
        if (fr.pad) sub(rsp, 8);
        if (f == 0 && !stub_entry_ && needs_state_) mov(field(offsetof(JitState, entry_rsp)), rsp);
    }

    // The host's entry when the entry function is also called from BPF code:
    // saves every callee-saved register, sets up the state and r10, then
    // calls the entry function as any other function.
    void emit_entry_stub() {
        static const Reg64 saved[] = {Reg64(Operand::RBX), Reg64(Operand::RBP), Reg64(Operand::R12),
                                      Reg64(Operand::R13), Reg64(Operand::R14), Reg64(Operand::R15)};
        for (const auto& r : saved) push(r);
        sub(rsp, 8); // 6 pushes: align for the call
        mov(state(), rdx);
        mov(rbp, qword[rdx + kStackTopField]);
        if (opt_.checked)
            for (int r : {0, 3, 4, 5, 6, 7, 8, 9}) xor_(R32(r), R32(r));
        mov(field(offsetof(JitState, entry_rsp)), rsp);
        call(function_label(0));
        L(main_epilogue_);
        add(rsp, 8);
        for (int k = 5; k >= 0; k--) pop(saved[k]);
        ret();
    }

    // ExecContext::call_function's way in (see compiler.h): the entry stub's
    // frame, so that an error inside unwinds to here and returns through the
    // same epilogue.
    void emit_callback_entry() {
        static const Reg64 saved[] = {Reg64(Operand::RBX), Reg64(Operand::RBP), Reg64(Operand::R12),
                                      Reg64(Operand::R13), Reg64(Operand::R14), Reg64(Operand::R15)};
        callback_entry = static_cast<uint32_t>(getSize());
        for (const auto& r : saved) push(r);
        sub(rsp, 8);
        mov(state(), r9);
        mov(rbp, field(offsetof(JitState, cb_rbp)));
        if (opt_.checked)
            for (int r : {0, 6, 7, 8, 9}) xor_(R32(r), R32(r));
        mov(field(offsetof(JitState, entry_rsp)), rsp);
        call(field(offsetof(JitState, cb_target)));
        jmp(main_epilogue_, T_NEAR);
    }

    void epilogue(const Frame& fr) {
        int drop = (fr.pad ? 8 : 0) + (fr.counter ? 8 : 0);
        if (drop) add(rsp, drop);
        for (auto it = fr.pushed.rbegin(); it != fr.pushed.rend(); ++it) pop(*it);
        ret();
    }

    // ---------------------------------------------------------------- emission
    void emit_function(size_t f) {
        const FunctionInfo& fi = functions_[f];
        Frame fr = frame_for(f);
        frames_.push_back(fr);
        function_offsets[f] = static_cast<uint32_t>(getSize());
        L(function_label(f));
        prologue(f, fr);
        current_ = fr;
        for (int64_t i = fi.begin; i < fi.end; i++) {
            offsets[i] = static_cast<uint32_t>(getSize());
            const OpInfo* info = prog_.op(i);
            if (!info) continue; // lddw second half
            if (opt_.checked && block_start_[i]) charge_budget(i);
            if (opt_.optimize) {
                if (int64_t fused = emit_fused(static_cast<size_t>(i), fi.end)) {
                    for (int64_t k = 1; k < fused; k++) {
                        offsets[i + k] = static_cast<uint32_t>(getSize());
                    }
                    i += fused - 1;
                    continue;
                }
            }
            emit_insn(static_cast<size_t>(i), *info, f);
        }
        if (f == 0 && !stub_entry_) {
            // The entry's epilogue, where errors unwind to (rsp = entry_rsp).
            L(main_epilogue_);
            epilogue(fr);
        }
    }

    Label& function_label(size_t f) { return fn_labels_[f]; }

    Target new_target() {
        target_pos_.push_back(kUnbound);
        return Target{target_pos_.size() - 1};
    }
    void bind(Target t) { target_pos_[t.id] = getSize(); }
    // A near jump to t, emitted by `emit(address)` (e.g. jb(address)): to its
    // place when t is bound, else to here, the displacement patched at the end.
    template <class Emit> void jump(Target t, Emit emit) {
        if (target_pos_[t.id] != kUnbound) {
            emit(getCode() + target_pos_[t.id]);
            return;
        }
        emit(getCurr());
        target_fixups_.push_back({getSize(), static_cast<int64_t>(t.id)});
    }

    Stub& add_stub(uint32_t kind, int64_t insn, int32_t aux = 0) {
        stubs_.push_back(Stub{new_target(), kind, insn, aux});
        return stubs_.back();
    }

    // After a helper: ExecContext::stop set means an error (kFailed) or, for
    // bpf_tail_call, return from function f with the helper's r0 (kReturn).
    void check_helper_stop(size_t i, size_t f) {
        cmp(byte[state() + static_cast<uint32_t>(offsetof(ExecContext, stop))], 0);
        Stub& s = add_stub(kHelperStop, static_cast<int64_t>(i), static_cast<int32_t>(f));
        jump(s.target, [&](const void* a) { jne(a); });
    }

    void charge_budget(size_t i) {
        int32_t n = block_length(i);
        Stub& s = add_stub(kBudget, static_cast<int64_t>(i));
        sub(field(offsetof(JitState, budget)), n);
        jump(s.target, [&](const void* a) { jb(a); });
    }

    // An error stub: the instruction index in r10d, then the tail its kind
    // shares with the other stubs (two instructions a stub: there is one per
    // checked access).
    void emit_stub(Stub& s) {
        bind(s.target);
        if (s.kind == kHelperStop) {
            // kReturn: the function returns (rax holds the helper's result).
            const Address stop = byte[state() + static_cast<uint32_t>(offsetof(ExecContext, stop))];
            Target failed = new_target();
            cmp(stop, static_cast<int>(ExecContext::kReturn));
            jump(failed, [&](const void* a) { jne(a); });
            mov(stop, static_cast<int>(ExecContext::kRunning));
            epilogue(frames_[static_cast<size_t>(s.aux)]);
            bind(failed);
        }
        if (s.kind == kCallx) mov(field(offsetof(JitState, error_aux), 32), static_cast<uint32_t>(s.aux));
        mov(to32(scratch10()), static_cast<uint32_t>(s.insn));
        auto [it, fresh] = stub_tails_.try_emplace(s.kind, Target{0});
        if (fresh) it->second = new_target();
        jump(it->second, [&](const void* a) { jmp(a, T_NEAR); });
    }

    void emit_stub_tails() {
        for (auto [kind, target] : stub_tails_) {
            bind(target);
            mov(field(offsetof(JitState, error_insn), 32), to32(scratch10()));
            mov(field(offsetof(JitState, error_kind), 32), kind);
            jmp(unwind_, T_NEAR);
        }
    }

    void emit_shared_stubs() {
        if (needs_state_) {
            // Errors and legacy-packet-load failures: back to the entry frame.
            L(unwind_);
            mov(rsp, field(offsetof(JitState, entry_rsp)));
            xor_(eax, eax);
            jmp(main_epilogue_, T_NEAR);
        }
        if (opt_.checked) {
            // Slow path of the access check: r11 = address, r10 = size | write << 8 | atomic << 9.
            // Returns r10 = 1 if allowed. Keeps every BPF register and r11.
            L(slow_check_);
            for (int r : {0, 1, 2, 3, 4, 5}) push(R(r));
            push(scratch11());
            mov(rdi, state());
            mov(rsi, scratch11());
            mov(rdx, scratch10());
            mov(rcx, rbp);
            call_function(reinterpret_cast<const void*>(&bpfvm_jit_check_access));
            mov(scratch10(), rax);
            pop(scratch11());
            for (int r : {5, 4, 3, 2, 1, 0}) pop(R(r));
            ret();
        }
        if (has_callx_) {
            L(callx_not_function_);
            mov(field(offsetof(JitState, error_kind), 32), kCallx);
            jmp(unwind_, T_NEAR);
        }
    }

    void emit_function_table() {
        align(8);
        L(function_table_);
        std::vector<int> function_at(insns_.size(), -1);
        for (size_t f = 0; f < functions_.size(); f++) function_at[functions_[f].begin] = static_cast<int>(f);
        for (size_t i = 0; i < insns_.size(); i++)
            putL(function_at[i] >= 0 ? fn_labels_[function_at[i]] : callx_not_function_);
    }

    // A call to a function of the library: rel32 when the code is near, else
    // through r11.
    void call_function(const void* fn) {
        mov(scratch11(), reinterpret_cast<uint64_t>(fn));
        call(scratch11());
    }

    // ---------------------------------------------------------------- immediates
    // An immediate, blinded when asked: returns the register holding it, or
    // nullptr when the immediate can be encoded directly.
    const Reg64* blinded(int64_t value) {
        if (!opt_.blinding) return nullptr;
        uint64_t key = rng_();
        mov(scratch10(), static_cast<uint64_t>(value) ^ key);
        mov(scratch9(), key);
        xor_(scratch10(), scratch9());
        return &scratch10();
    }

    // ---------------------------------------------------------------- memory
    // The address of [base + off] for an access of `size` bytes: an operand for
    // the fast mode; in the checked mode the address goes to r11 and is checked.
    Address memory(size_t i, int base, int16_t off, int size, bool write, bool atomic) {
        if (!opt_.checked) {
            auto& b = R(base);
            switch (size) {
            case 1: return byte[b + off];
            case 2: return word[b + off];
            case 4: return dword[b + off];
            default: return qword[b + off];
            }
        }
        // r10 cannot be written and is the top of the current frame: an access
        // to [r10 + off] inside the frame's 512 bytes needs no check. (Atomics
        // are checked for alignment.)
        if (base == 10 && !atomic && off >= -static_cast<int>(kStackSize) && off + size <= 0) {
            switch (size) {
            case 1: return byte[rbp + off];
            case 2: return word[rbp + off];
            case 4: return dword[rbp + off];
            default: return qword[rbp + off];
            }
        }
        lea(scratch11(), ptr[R(base) + off]);
        Target ok = new_target(), not_stack = new_target(), slow = new_target();
        auto check_stack = [&](Target miss) {
            lea(scratch10(), ptr[rbp - kStackSize]);
            cmp(scratch11(), scratch10());
            jump(miss, [&](const void* a) { jb(a); });
            cmp(scratch11(), field(offsetof(JitState, stack_last) + 8 * static_cast<size_t>(size_log2(size))));
            jump(ok, [&](const void* a) { jbe(a); });
        };
        auto check_context = [&](Target miss) {
            cmp(scratch11(), field(offsetof(JitState, ctx_lo)));
            jump(miss, [&](const void* a) { jb(a); });
            size_t last = write ? offsetof(JitState, ctx_last_write) : offsetof(JitState, ctx_last_read);
            cmp(scratch11(), field(last + 8 * static_cast<size_t>(size_log2(size))));
            jump(ok, [&](const void* a) { jbe(a); });
        };
        if (!atomic) {
            if (base == 10) {
                check_stack(not_stack);
                bind(not_stack);
                check_context(slow);
            } else {
                check_context(not_stack);
                bind(not_stack);
                check_stack(slow);
            }
        }
        bind(slow);
        mov(scratch10(), static_cast<uint32_t>(size | (write ? 0x100 : 0) | (atomic ? 0x200 : 0)));
        call(slow_check_);
        test(scratch10(), scratch10());
        Stub& s = add_stub(kFault, static_cast<int64_t>(i));
        jump(s.target, [&](const void* a) { jz(a); });
        bind(ok);
        switch (size) {
        case 1: return byte[scratch11()];
        case 2: return word[scratch11()];
        case 4: return dword[scratch11()];
        default: return qword[scratch11()];
        }
    }

    // ---------------------------------------------------------------- instructions
    // A jump to instruction `target` (cond: a BPF_J* condition, -1 always).
    // No Xbyak labels (each costs hash-table entries: a third of the compile
    // time): a backward target's address is known; a forward jump is emitted
    // near, to here, and its displacement patched once every place is known.
    void jump_to(int64_t target, int cond) {
        const bool backward = target <= current_index_;
        const void* a = backward ? static_cast<const void*>(getCode() + offsets[target]) : getCurr();
        switch (cond) {
        case -1: jmp(a, backward ? T_AUTO : T_NEAR); break;
        case BPF_JEQ: je(a); break;
        case BPF_JNE: jne(a); break;
        case BPF_JGT: ja(a); break;
        case BPF_JGE: jae(a); break;
        case BPF_JLT: jb(a); break;
        case BPF_JLE: jbe(a); break;
        case BPF_JSGT: jg(a); break;
        case BPF_JSGE: jge(a); break;
        case BPF_JSLT: jl(a); break;
        case BPF_JSLE: jle(a); break;
        case BPF_JSET: jnz(a); break;
        default: throw std::logic_error("bad jump condition");
        }
        if (!backward) jump_fixups_.push_back({getSize(), target});
    }

    void emit_alu(const Insn& in, const OpInfo& info) {
        const bool is64 = info.size == 64;
        const bool is_imm = info.form == Form::AluK;
        const uint8_t op = in.opcode & 0xf0;
        const Reg64& d64 = R(in.dst);
        Reg32 d32 = R32(in.dst);
        const Reg& d = is64 ? static_cast<const Reg&>(d64) : static_cast<const Reg&>(d32);
        if (is_imm && opt_.blinding && op != BPF_DIV && op != BPF_MOD) {
            // Blinded: the immediate goes through r10, and the operation takes the register form.
            const Reg64* r = blinded(is64 ? static_cast<int64_t>(in.imm) : static_cast<int64_t>(static_cast<uint32_t>(in.imm)));
            alu_reg(op, is64, in.dst, *r);
            return;
        }
        if (!is_imm) {
            alu_reg(op, is64, in.dst, R(in.src));
            return;
        }
        const int32_t imm = in.imm;
        switch (op) {
        case BPF_ADD: add(d, imm); break;
        case BPF_SUB: sub(d, imm); break;
        case BPF_MUL: imul(d, d, imm); break;
        case BPF_OR: or_(d, imm); break;
        case BPF_AND:
            if (is64) and_(d64, imm);
            else and_(d32, static_cast<uint32_t>(imm));
            break;
        case BPF_XOR: xor_(d, imm); break;
        case BPF_LSH: shl(d, (imm & (is64 ? 63 : 31))); break;
        case BPF_RSH: shr(d, (imm & (is64 ? 63 : 31))); break;
        case BPF_ARSH: sar(d, (imm & (is64 ? 63 : 31))); break;
        case BPF_MOV:
            if (imm == 0) xor_(d32, d32);
            else if (is64) mov(d64, static_cast<uint64_t>(static_cast<int64_t>(imm))); // Xbyak picks the short form
            else mov(d32, static_cast<uint32_t>(imm));
            break;
        default: throw std::logic_error("bad ALU op");
        }
        // 32-bit immediates on 32-bit registers zero-extend by themselves.
        (void)d;
    }

    // dst op= reg (a BPF register's host register, or r10 for blinded immediates).
    void alu_reg(uint8_t op, bool is64, int dst, const Reg64& src64) {
        const Reg64& d64 = R(dst);
        Reg32 d32 = to32(d64);
        Reg32 s32 = to32(src64);
        auto both = [&](auto fn64, auto fn32) {
            if (is64) fn64(d64, src64);
            else fn32(d32, s32);
        };
        switch (op) {
        case BPF_ADD: both([&](auto& a, auto& b) { add(a, b); }, [&](auto& a, auto& b) { add(a, b); }); break;
        case BPF_SUB: both([&](auto& a, auto& b) { sub(a, b); }, [&](auto& a, auto& b) { sub(a, b); }); break;
        case BPF_MUL: both([&](auto& a, auto& b) { imul(a, b); }, [&](auto& a, auto& b) { imul(a, b); }); break;
        case BPF_OR: both([&](auto& a, auto& b) { or_(a, b); }, [&](auto& a, auto& b) { or_(a, b); }); break;
        case BPF_AND: both([&](auto& a, auto& b) { and_(a, b); }, [&](auto& a, auto& b) { and_(a, b); }); break;
        case BPF_XOR: both([&](auto& a, auto& b) { xor_(a, b); }, [&](auto& a, auto& b) { xor_(a, b); }); break;
        case BPF_MOV:
            if (is64) {
                if (d64.getIdx() != src64.getIdx()) mov(d64, src64);
            } else {
                mov(d32, s32); // zero-extends, also onto itself
            }
            break;
        case BPF_LSH: case BPF_RSH: case BPF_ARSH: shift_reg(op, is64, dst, src64); break;
        default: throw std::logic_error("bad ALU op");
        }
    }

    void shift_reg(uint8_t op, bool is64, int dst, const Reg64& count) {
        const Reg64& d64 = R(dst);
        if (bmi2_) {
            // shlx/shrx/sarx take the count from any register and mask it like BPF.
            if (is64) {
                if (op == BPF_LSH) shlx(d64, d64, count);
                else if (op == BPF_RSH) shrx(d64, d64, count);
                else sarx(d64, d64, count);
            } else {
                Reg32 d = to32(d64), c = to32(count);
                if (op == BPF_LSH) shlx(d, d, c);
                else if (op == BPF_RSH) shrx(d, d, c);
                else sarx(d, d, c);
            }
            return;
        }
        // Without BMI2 the count must be in cl (BPF r4's register).
        auto shift = [&](const Reg& target) {
            if (op == BPF_LSH) shl(target, cl);
            else if (op == BPF_RSH) shr(target, cl);
            else sar(target, cl);
        };
        const Reg64 r11 = scratch11();
        const bool count_in_rcx = count.getIdx() == Operand::RCX;
        if (d64.getIdx() == Operand::RCX) {
            mov(r11, rcx);
            if (!count_in_rcx) mov(rcx, count);
            shift(is64 ? static_cast<const Reg&>(r11) : static_cast<const Reg&>(to32(r11)));
            mov(rcx, r11);
            return;
        }
        if (!count_in_rcx) {
            mov(r11, rcx);
            mov(rcx, count);
        }
        shift(is64 ? static_cast<const Reg&>(d64) : static_cast<const Reg&>(to32(d64)));
        if (!count_in_rcx) mov(rcx, r11);
    }

    void emit_divmod(const Insn& in, const OpInfo& info) {
        const bool is64 = info.size == 64;
        const bool is_mod = (in.opcode & 0xf0) == BPF_MOD;
        const bool is_signed = in.off == 1;
        const Reg64& d64 = R(in.dst);
        const Reg64 r9 = scratch9(), r10 = scratch10(), r11 = scratch11();
        // The divisor goes to r9.
        if (info.form == Form::AluK) {
            if (const Reg64* b = blinded(is64 ? static_cast<int64_t>(in.imm) : static_cast<int64_t>(static_cast<uint32_t>(in.imm)))) {
                mov(r9, *b);
            } else if (is64) {
                mov(r9, static_cast<uint64_t>(static_cast<int64_t>(in.imm)));
            } else {
                mov(to32(r9), static_cast<uint32_t>(in.imm));
            }
        } else if (is64) {
            mov(r9, R(in.src));
        } else {
            mov(to32(r9), R32(in.src));
        }
        Label zero, minus_one, done;
        if (is64) test(r9, r9);
        else test(to32(r9), to32(r9));
        jz(zero, T_NEAR);
        if (is_signed) {
            if (is64) cmp(r9, -1);
            else cmp(to32(r9), -1);
            je(minus_one, T_NEAR);
        }
        const bool dst_rax = in.dst == 0, dst_rdx = in.dst == 3;
        if (!dst_rax) mov(r10, rax);
        if (!dst_rdx) mov(r11, rdx);
        if (!dst_rax) mov(rax, d64);
        if (is64) {
            if (is_signed) {
                cqo();
                idiv(r9);
            } else {
                xor_(edx, edx);
                div(r9);
            }
        } else {
            if (is_signed) {
                cdq();
                idiv(to32(r9));
            } else {
                xor_(edx, edx);
                div(to32(r9));
            }
        }
        const Reg64& result = is_mod ? rdx : rax;
        if (is64) {
            if (in.dst != (is_mod ? 3 : 0)) mov(d64, result);
        } else {
            mov(to32(d64), to32(result));
        }
        if (!dst_rax) mov(rax, r10);
        if (!dst_rdx) mov(rdx, r11);
        jmp(done, T_NEAR);
        L(zero);
        if (!is_mod) xor_(to32(d64), to32(d64));
        else if (!is64) mov(to32(d64), to32(d64));
        if (is_signed) {
            jmp(done, T_NEAR);
            L(minus_one);
            if (!is_mod) {
                if (is64) neg(d64);
                else neg(to32(d64));
            } else {
                xor_(to32(d64), to32(d64));
            }
        }
        L(done);
    }

    void emit_endian(const Insn& in, const OpInfo& info) {
        const Reg64& d = R(in.dst);
        const bool swap = info.op != Op::LE16 && info.op != Op::LE32 && info.op != Op::LE64;
        switch (info.size) {
        case 16:
            if (swap) rol(d.cvt16(), 8);
            movzx(to32(d), d.cvt16());
            break;
        case 32:
            if (swap) bswap(to32(d));
            else mov(to32(d), to32(d));
            break;
        default:
            if (swap) bswap(d);
            break;
        }
    }

    void emit_jump(size_t i, const Insn& in, const OpInfo& info) {
        const bool is64 = info.size == 64;
        const uint8_t op = in.opcode & 0xf0;
        const Reg64& d64 = R(in.dst);
        const Reg& d = is64 ? static_cast<const Reg&>(d64) : static_cast<const Reg&>(to32(d64));
        if (info.form == Form::JmpX) {
            const Reg64& s64 = R(in.src);
            const Reg& s = is64 ? static_cast<const Reg&>(s64) : static_cast<const Reg&>(to32(s64));
            if (op == BPF_JSET) test(d, s);
            else cmp(d, s);
        } else if (const Reg64* b = blinded(in.imm)) {
            const Reg& s = is64 ? static_cast<const Reg&>(*b) : static_cast<const Reg&>(b->cvt32());
            if (op == BPF_JSET) test(d, s);
            else cmp(d, s);
        } else if (op == BPF_JSET) {
            if (is64) test(d64, in.imm);
            else test(to32(d64), static_cast<uint32_t>(in.imm));
        } else if (in.imm == 0 && (op == BPF_JEQ || op == BPF_JNE)) {
            test(d, d);
        } else {
            cmp(d, in.imm);
        }
        jump_to(static_cast<int64_t>(i) + in.off + 1, op);
    }

    // After a helper call r1-r5 hold what the host's calling convention left;
    // the checked mode makes them 0, as the checked interpreter does.
    void clear_arguments() {
        if (!opt_.checked) return;
        for (int r = 1; r <= 5; r++) xor_(R32(r), R32(r));
    }

    void emit_local_call(size_t i, const Operand* target_reg) {
        // At most kMaxCallFrames frames: the new frame must stay inside the stack.
        Stub& s = add_stub(kCallDepth, static_cast<int64_t>(i));
        cmp(rbp, field(offsetof(JitState, stack_call_limit)));
        jump(s.target, [&](const void* a) { jb(a); });
        sub(rbp, kStackSize);
        if (target_reg) call(*target_reg);
        else call(function_label(static_cast<size_t>(function_of_[static_cast<int64_t>(i) + insns_[i].imm + 1])));
        add(rbp, kStackSize);
    }

    void emit_callx(size_t i, const Insn& in, size_t f) {
        const Reg64 r10 = scratch10(), r11 = scratch11();
        Label helper_path, done;
        mov(r11, R(in.dst));
        mov(field(offsetof(JitState, callx_value)), r11);
        mov(field(offsetof(JitState, error_insn), 32), static_cast<uint32_t>(i));
        mov(field(offsetof(JitState, error_aux), 32), static_cast<uint32_t>(in.dst));
        mov(r10, r11);
        shr(r10, 32);
        cmp(to32(r10), static_cast<uint32_t>(kFuncAddressTag >> 32));
        jne(helper_path, T_NEAR);
        mov(to32(r10), to32(r11));
        cmp(r10, static_cast<uint32_t>(insns_.size()));
        jae(callx_not_function_, T_NEAR);
        lea(r11, ptr[rip + function_table_]);
        mov(r11, qword[r11 + r10 * 8]);
        emit_local_call(i, &r11);
        jmp(done, T_NEAR);
        L(helper_path);
        if (use.callbacks) mov(field(offsetof(JitState, call_rbp)), rbp);
        mov(scratch9(), state());
        call_function(reinterpret_cast<const void*>(&bpfvm_jit_callx_helper));
        cmp(field(offsetof(JitState, error_kind), 32), 0);
        jne(unwind_, T_NEAR);
        check_helper_stop(i, f);
        clear_arguments();
        L(done);
    }

    void emit_packet_load(const Insn& in, const OpInfo& info) {
        const Reg64 r10 = scratch10(), r11 = scratch11();
        if (info.form == Form::LdAbs) {
            mov(r11, static_cast<uint64_t>(static_cast<int64_t>(in.imm)));
        } else {
            mov(to32(r11), R32(in.src));
            add(to32(r11), in.imm);
            movsxd(r11, to32(r11));
        }
        // Outside the packet: the program ends with r0 = 0.
        test(r11, r11);
        js(unwind_, T_NEAR);
        lea(r10, ptr[r11 + info.size]);
        cmp(r10, field(offsetof(JitState, packet_len)));
        ja(unwind_, T_NEAR);
        add(r11, field(offsetof(JitState, packet)));
        switch (info.size) {
        case 1: movzx(eax, byte[r11]); break;
        case 2:
            movzx(eax, word[r11]);
            rol(ax, 8);
            movzx(eax, ax);
            break;
        default:
            mov(eax, dword[r11]);
            bswap(eax);
            break;
        }
    }

    void emit_atomic(size_t i, const Insn& in, const OpInfo& info) {
        const int size = info.size;
        const bool is64 = size == 8;
        auto sized = [&](const Reg64& r) -> Reg { return is64 ? static_cast<const Reg&>(r) : static_cast<const Reg&>(to32(r)); };
        if (info.form == Form::LoadAcq) {
            Address a = memory(i, in.src, in.off, size, false, true);
            const Reg64& d = R(in.dst);
            if (size == 1) movzx(to32(d), a);
            else if (size == 2) movzx(to32(d), a);
            else if (size == 4) mov(to32(d), a);
            else mov(d, a);
            return;
        }
        if (info.form == Form::StoreRel) {
            Address a = memory(i, in.dst, in.off, size, true, true);
            const Reg64& s = R(in.src);
            if (size == 1) mov(a, s.cvt8());
            else if (size == 2) mov(a, s.cvt16());
            else if (size == 4) mov(a, to32(s));
            else mov(a, s);
            return;
        }
        const uint32_t aop = static_cast<uint32_t>(in.imm) & ~uint32_t(BPF_FETCH);
        if (info.form == Form::Atomic) {
            Address a = memory(i, in.dst, in.off, size, true, true);
            Reg s = sized(R(in.src));
            lock();
            switch (aop) {
            case BPF_ADD: add(a, s); break;
            case BPF_OR: or_(a, s); break;
            case BPF_AND: and_(a, s); break;
            default: xor_(a, s); break;
            }
            return;
        }
        if (info.form == Form::AtomicXchg) {
            Address a = memory(i, in.dst, in.off, size, true, true);
            xchg(a, sized(R(in.src))); // 32-bit forms zero-extend the register
            return;
        }
        if (info.form == Form::AtomicCmpxchg) {
            Address a = memory(i, in.dst, in.off, size, true, true);
            lock();
            cmpxchg(a, sized(R(in.src)));
            if (!is64) mov(eax, eax); // r0 gets the zero-extended old value either way
            return;
        }
        // Fetch forms.
        if (aop == BPF_ADD) {
            Address a = memory(i, in.dst, in.off, size, true, true);
            lock();
            xadd(a, sized(R(in.src)));
            return;
        }
        // or/and/xor with fetch: a compare-and-exchange loop on rax.
        const Reg64 r9 = scratch9(), r10 = scratch10(), r11 = scratch11();
        if (opt_.checked) {
            (void)memory(i, in.dst, in.off, size, true, true); // address in r11
        } else {
            lea(r11, ptr[R(in.dst) + in.off]);
        }
        Address a = is64 ? qword[r11] : dword[r11];
        mov(r9, R(in.src));
        const bool src_is_r0 = in.src == 0;
        const Reg64& tmp = src_is_r0 ? r10 : R(in.src);
        if (!src_is_r0) mov(r10, rax);
        mov(sized(rax), a);
        Label again;
        L(again);
        mov(sized(tmp), sized(rax));
        switch (aop) {
        case BPF_OR: or_(sized(tmp), sized(r9)); break;
        case BPF_AND: and_(sized(tmp), sized(r9)); break;
        default: xor_(sized(tmp), sized(r9)); break;
        }
        lock();
        cmpxchg(a, sized(tmp));
        jne(again);
        if (!src_is_r0) {
            mov(sized(R(in.src)), sized(rax));
            mov(rax, r10);
        } else if (!is64) {
            mov(eax, eax);
        }
    }

    // ---------------------------------------------------------------- peepholes
    // Whether instruction i + 1 can be folded into instruction i: same
    // function, nothing jumps to it, and it starts no budget block.
    bool joinable(size_t i, int64_t end) const {
        size_t n = i + 1;
        return static_cast<int64_t>(n) < end && !is_target_[n] && !block_start_[n] && prog_.op(n) != nullptr;
    }

    // Emits the code of a short sequence starting at i when a pattern
    // matches; returns how many slots it covered (0: none matched).
    int64_t emit_fused(size_t i, int64_t end) {
        const OpInfo& a = *prog_.op(i);
        const Insn& x = insns_[i];
        if (opt_.blinding) return 0; // blinding keeps every immediate in its own instruction
        // r <<= 32; r >>= 32  ->  mov r32, r32 (zero extension, as clang emits for casts)
        // r <<= 32; r s>>= 32 ->  movsxd r, r32
        if (a.op == Op::LSH64_IMM && x.imm == 32 && joinable(i, end)) {
            const OpInfo& b = *prog_.op(i + 1);
            const Insn& y = insns_[i + 1];
            if (y.dst == x.dst && y.imm == 32 && (b.op == Op::RSH64_IMM || b.op == Op::ARSH64_IMM)) {
                if (b.op == Op::RSH64_IMM) mov(R32(x.dst), R32(x.dst));
                else movsxd(R(x.dst), R32(x.dst));
                return 2;
            }
        }
        // Multiplication by a constant that lea or a shift does faster.
        if (a.op == Op::MUL64_IMM || a.op == Op::MUL32_IMM) {
            const bool is64 = a.op == Op::MUL64_IMM;
            const Reg64& d = R(x.dst);
            const int64_t m = x.imm;
            auto zext = [&] {
                if (!is64) mov(to32(d), to32(d));
            };
            switch (m) {
            case 1: zext(); return 1;
            case 2: if (is64) add(d, d); else add(to32(d), to32(d)); return 1;
            case 3: case 5: case 9:
                if (is64) lea(d, ptr[d + d * static_cast<int>(m - 1)]);
                else lea(to32(d), ptr[d + d * static_cast<int>(m - 1)]);
                return 1;
            default:
                if (m > 2 && (m & (m - 1)) == 0) {
                    int k = __builtin_ctzll(static_cast<uint64_t>(m));
                    if (is64) shl(d, k);
                    else shl(to32(d), k);
                    return 1;
                }
                return 0;
            }
        }
        return 0;
    }

    void emit_insn(size_t i, const OpInfo& info, size_t f) {
        const Insn& in = insns_[i];
        current_index_ = static_cast<int64_t>(i);
        switch (info.form) {
        case Form::AluK:
        case Form::AluX: {
            uint8_t op = in.opcode & 0xf0;
            if (op == BPF_DIV || op == BPF_MOD) emit_divmod(in, info);
            else emit_alu(in, info);
            break;
        }
        case Form::Neg:
            if (info.size == 64) neg(R(in.dst));
            else neg(R32(in.dst));
            break;
        case Form::MovSx: {
            const Reg64& d = R(in.dst);
            const Reg64& s = R(in.src);
            bool to64 = info.opcode == (BPF_ALU64 | BPF_MOV | BPF_X);
            if (info.size == 8) movsx(to64 ? static_cast<const Reg&>(d) : static_cast<const Reg&>(to32(d)), s.cvt8());
            else if (info.size == 16) movsx(to64 ? static_cast<const Reg&>(d) : static_cast<const Reg&>(to32(d)), s.cvt16());
            else movsxd(d, to32(s));
            break;
        }
        case Form::Endian: emit_endian(in, info); break;
        case Form::Ja: jump_to(static_cast<int64_t>(i) + in.off + 1, -1); break;
        case Form::Gotol: jump_to(static_cast<int64_t>(i) + in.imm + 1, -1); break;
        case Form::JmpK:
        case Form::JmpX: emit_jump(i, in, info); break;
        case Form::MayGoto: {
            Address counter = qword[rsp + current_.counter_offset];
            cmp(counter, 0);
            jump_to(static_cast<int64_t>(i) + in.off + 1, BPF_JEQ);
            sub(counter, 1);
            break;
        }
        case Form::Call:
        case Form::CallKfunc:
            if (use.callbacks) mov(field(offsetof(JitState, call_rbp)), rbp);
            mov(scratch9(), state());
            call_function(reinterpret_cast<const void*>(bind_.call_target[i]));
            check_helper_stop(i, f);
            clear_arguments();
            break;
        case Form::CallLocal: emit_local_call(i, nullptr); break;
        case Form::CallX: emit_callx(i, in, f); break;
        case Form::Exit: epilogue(frames_[f]); break;
        case Form::LdImm64: {
            uint64_t v = bind_.lddw_value[i];
            const Reg64& d = R(in.dst);
            if (opt_.blinding) {
                uint64_t key = rng_();
                mov(d, v ^ key);
                mov(scratch10(), key);
                xor_(d, scratch10());
            } else if (v == 0) {
                xor_(to32(d), to32(d));
            } else {
                mov(d, v);
            }
            break;
        }
        case Form::LdAbs:
        case Form::LdInd: emit_packet_load(in, info); break;
        case Form::Ldx:
        case Form::LdxSx: {
            Address a = memory(i, in.src, in.off, info.size, false, false);
            const Reg64& d = R(in.dst);
            if (info.form == Form::Ldx) {
                if (info.size == 8) mov(d, a);
                else if (info.size == 4) mov(to32(d), a);
                else movzx(to32(d), a);
            } else {
                if (info.size == 4) movsxd(d, a);
                else movsx(d, a);
            }
            break;
        }
        case Form::St: {
            Address a = memory(i, in.dst, in.off, info.size, true, false);
            if (const Reg64* b = blinded(in.imm)) {
                if (info.size == 1) mov(a, b->cvt8());
                else if (info.size == 2) mov(a, b->cvt16());
                else if (info.size == 4) mov(a, b->cvt32());
                else mov(a, *b);
            } else if (info.size == 1) {
                mov(a, static_cast<uint8_t>(in.imm));
            } else if (info.size == 2) {
                mov(a, static_cast<uint16_t>(in.imm));
            } else if (info.size == 4) {
                mov(a, static_cast<uint32_t>(in.imm));
            } else {
                mov(a, static_cast<uint64_t>(static_cast<int64_t>(in.imm))); // sign-extended imm32
            }
            break;
        }
        case Form::Stx: {
            Address a = memory(i, in.dst, in.off, info.size, true, false);
            const Reg64& s = R(in.src);
            if (info.size == 1) mov(a, s.cvt8());
            else if (info.size == 2) mov(a, s.cvt16());
            else if (info.size == 4) mov(a, to32(s));
            else mov(a, s);
            break;
        }
        case Form::Atomic:
        case Form::AtomicFetch:
        case Form::AtomicXchg:
        case Form::AtomicCmpxchg:
        case Form::LoadAcq:
        case Form::StoreRel: emit_atomic(i, in, info); break;
        }
    }

    const Program& prog_;
    std::span<const Insn> insns_;
    const exec::Bindings& bind_;
    JitOptions opt_;
    bool bmi2_ = false;
    std::mt19937_64 rng_;
    // Forward jumps to instructions: where their rel32 ends, and the target
    // (patched with CodeArray::rewrite once every instruction has its offset).
    struct JumpFixup {
        size_t end;
        int64_t target;
    };
    std::vector<JumpFixup> jump_fixups_;   // to instructions (target: an instruction index)
    std::vector<JumpFixup> target_fixups_; // to Targets (target: a Target id)
    static constexpr size_t kUnbound = ~size_t(0);
    std::vector<size_t> target_pos_; // per Target: its offset, or kUnbound
    std::map<uint32_t, Target> stub_tails_; // per error kind: the code its stubs end in
    std::vector<Label> fn_labels_; // per function (call targets, before the prologue)
    bool has_function_values_ = false; // lddw src 4 somewhere
    std::vector<bool> is_target_;
    std::vector<bool> block_start_;
    std::vector<uint32_t> block_cost_;
    std::vector<FunctionInfo> functions_;
    std::vector<int> function_of_;
    std::vector<Frame> frames_;
    Frame current_;
    int64_t current_index_ = 0;
    bool needs_state_ = false;
    bool uses_stack_ = false;
    bool stub_entry_ = false; // the entry function is also a call target
    bool has_callx_ = false;
    std::deque<Stub> stubs_; // (references stay valid as it grows)
    Label unwind_, main_epilogue_, slow_check_, callx_not_function_, function_table_;
};

// An upper bound of the code size, for the first try.
size_t estimate(const Program& program, const JitOptions& options) {
    size_t per_insn = options.checked ? 96 : 40;
    if (options.blinding) per_insn += 32;
    return 4096 + program.size() * (per_insn + 8);
}

} // namespace

Result<CompiledCode> compile_x86_64(const Program& program, const exec::Bindings& bindings, const JitOptions& options) {
    size_t capacity = estimate(program, options);
    for (int attempt = 0; attempt < 4; attempt++, capacity *= 2) {
        auto mem = CodeMemory::allocate(capacity, reinterpret_cast<const void*>(&bpfvm_jit_check_access));
        if (!mem) return tl::unexpected(mem.error());
        try {
            Emitter e(mem->capacity(), mem->data(), program, bindings, options);
            e.emit_program();
            e.ready(); // resolves labels (the code is at its final address)
            size_t used = e.getSize();
            auto offsets = std::move(e.offsets);
            auto sealed = mem->seal(used);
            if (!sealed) return tl::unexpected(sealed.error());
            return CompiledCode{std::move(*mem), std::move(offsets), e.use, std::move(e.function_offsets),
                                e.callback_entry};
        } catch (const Xbyak::Error& err) {
            if (static_cast<int>(err) == Xbyak::ERR_CODE_IS_TOO_BIG) continue;
            return make_error(fmt::format("JIT: code generation failed: {}", err.what()));
        }
    }
    return make_error("JIT: the program's code does not fit in the code buffer");
}

} // namespace bpfvm::jit
