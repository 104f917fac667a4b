// JitProgram: compiling, running, reporting errors, dumping the code.
#include <array>
#include <cstring>

#include <capstone/capstone.h>
#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/jit.h"
#include "compiler.h"
#include "jit_state.h"

namespace bpfvm {

struct JitProgram::Impl {
    std::shared_ptr<const Program> program;
    jit::CodeMemory code;
    std::vector<uint32_t> offsets;
    HelperTable helpers; // for callx by helper number
    bool checked = true;
    int frames = kMaxCallFrames; // checked mode: the frames to zero (exec::frames_used)
    bool plain = false; // run(ctx, size) needs only the stack set up: not checked, no context/packet/may_goto
    jit::StateUse use;
    using Entry = uint64_t (*)(uint64_t r1, uint64_t r2, jit::JitState* state);
    Entry entry = nullptr;
    // Callbacks: each function's native entry by its first instruction, and the trampoline.
    std::vector<std::pair<int64_t, uint32_t>> functions; // (first instruction, native offset), sorted
    using CallbackEntry = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, jit::JitState*);
    CallbackEntry callback_entry = nullptr;
};

bool JitProgram::supported() {
#if defined(__x86_64__)
    return true;
#else
    return false;
#endif
}

Result<JitProgram> JitProgram::compile(const Program& program, const HelperTable& helpers,
                                       const PrepareOptions& prepare, const JitOptions& options) {
    if (!supported()) return make_error("the JIT needs an x86-64 host; use the interpreter");
    auto bindings = exec::bind(program, helpers, prepare);
    if (!bindings) return tl::unexpected(bindings.error());
    auto code = jit::compile_x86_64(program, *bindings, options);
    if (!code) return tl::unexpected(code.error());
    auto impl = std::make_shared<Impl>();
    impl->program = std::make_shared<const Program>(program);
    impl->code = std::move(code->memory);
    impl->offsets = std::move(code->offsets);
    impl->helpers = helpers;
    impl->checked = options.checked;
    impl->use = code->use;
    impl->frames = exec::frames_used(program);
    impl->plain = !impl->checked && !impl->use.context && !impl->use.may_goto && !impl->use.packet;
    impl->entry = reinterpret_cast<Impl::Entry>(impl->code.data());
    if (impl->use.callbacks) {
        for (size_t f = 0; f < code->function_offsets.size(); f++)
            impl->functions.emplace_back(program.functions()[f], code->function_offsets[f]);
        impl->callback_entry = reinterpret_cast<Impl::CallbackEntry>(impl->code.data() + code->callback_entry);
    }
    JitProgram p;
    p.impl_ = std::move(impl);
    return p;
}

bool JitProgram::checked() const { return impl_->checked; }
const Program& JitProgram::program() const { return *impl_->program; }
std::span<const uint8_t> JitProgram::code() const { return {impl_->code.data(), impl_->code.size()}; }
std::span<const uint32_t> JitProgram::insn_offsets() const { return impl_->offsets; }

namespace {

Result<uint64_t> report(const jit::JitState& st);

// ExecContext::call_function: the trampoline calls the function `fn` (a
// BPF_PSEUDO_FUNC value) one frame below the function that called the helper.
uint64_t call_function(ExecContext* c, uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
    auto& st = *static_cast<jit::JitState*>(c->engine);
    const JitProgram::Impl& impl = *st.impl;
    const int64_t index = static_cast<int64_t>(fn & 0xffffffff);
    auto it = std::lower_bound(impl.functions.begin(), impl.functions.end(), std::pair<int64_t, uint32_t>{index, 0});
    if ((fn & 0xffff'ffff'0000'0000ull) != kFuncAddressTag || it == impl.functions.end() || it->first != index) {
        c->fail(Error{exec::callback_message(fn), -1, 0, {}});
        return 0;
    }
    if (st.call_rbp < st.stack_call_limit) { // no room for one more frame
        c->fail(Error{exec::call_depth_message(), -1, 0, {}});
        return 0;
    }
    const uint64_t saved_entry_rsp = st.entry_rsp, saved_call_rbp = st.call_rbp;
    st.cb_rbp = st.call_rbp - kStackSize;
    st.cb_target = reinterpret_cast<uint64_t>(impl.code.data() + it->second);
    uint64_t r0 = impl.callback_entry(r1, r2, r3, r4, r5, &st);
    st.entry_rsp = saved_entry_rsp;
    st.call_rbp = saved_call_rbp;
    if (st.error_kind != jit::kNoError) { // inside the callee: keep its place
        Result<uint64_t> r = report(st);
        st.error_kind = jit::kNoError;
        c->fail(r ? Error{"callback failed", -1, 0, {}} : r.error());
        return 0;
    }
    return r0;
}

// The checked mode's extra set-up: the region table, a zeroed stack, the
// context's limits and the budget.
[[gnu::noinline]] Result<uint64_t> run_checked(const JitProgram::Impl& impl, jit::JitState& st, void* ctx,
                                               size_t ctx_size, const RunOptions& options) {
    exec::RegionTable regions;
    st.impl = &impl;
    st.fault = exec::Fault{};
    st.fault_rbp = 0;
    for (int k = 0; k < 4; k++) st.ctx_last_read[k] = st.ctx_last_write[k] = 0;
    st.ctx().regions = regions.data();
    st.ctx().capacity = regions.size();
    std::memset(reinterpret_cast<uint8_t*>(st.stack_top) - impl.frames * kStackSize, 0, impl.frames * kStackSize);
    for (int k = 0; k < 4; k++) st.stack_last[k] = st.stack_top - (uint64_t(1) << k);
    st.budget = options.insn_budget;
    st.ctx_lo = UINT64_MAX;
    if (ctx && ctx_size) {
        uint64_t lo = reinterpret_cast<uint64_t>(ctx);
        st.ctx_lo = lo;
        for (int k = 0; k < 4; k++) {
            uint64_t size = uint64_t(1) << k;
            uint64_t last = ctx_size >= size ? lo + ctx_size - size : 0;
            st.ctx_last_read[k] = last;
            st.ctx_last_write[k] = options.context_writable ? last : 0;
        }
        st.ctx().add_region(MemoryRegion{lo, ctx_size, options.context_writable, "context"});
    }
    for (const auto& r : options.regions)
        if (!st.ctx().add_region(r)) return make_error("too many memory regions for one run");
    uint64_t r0 = impl.entry(reinterpret_cast<uint64_t>(ctx), ctx_size, &st);
    if (st.error_kind == jit::kNoError) return r0;
    return report(st);
}

} // namespace

namespace {

[[gnu::noinline]] Result<uint64_t> run_plain(const JitProgram::Impl& impl, void* ctx, size_t ctx_size) {
    // A fast-mode program that uses no helpers, packet or may_goto: only the
    // stack and the error slot are set up.
    jit::JitState st;
    st.error_kind = jit::kNoError;
    st.stack_top = reinterpret_cast<uint64_t>(st.stack) + kMaxCallFrames * kStackSize;
    st.stack_call_limit = reinterpret_cast<uint64_t>(st.stack) + 2 * kStackSize;
    uint64_t r0 = impl.entry(reinterpret_cast<uint64_t>(ctx), ctx_size, &st);
    if (st.error_kind == jit::kNoError) [[likely]]
        return r0;
    return report(st);
}

} // namespace

Result<uint64_t> JitProgram::run(void* ctx, size_t ctx_size) const {
    const Impl& impl = *impl_;
    if (!impl.plain) [[unlikely]] {
        static const RunOptions defaults;
        return run(ctx, ctx_size, defaults);
    }
    // No stack either: the code touches no state and cannot fail.
    if (!impl.use.stack) return impl.entry(reinterpret_cast<uint64_t>(ctx), ctx_size, nullptr);
    return run_plain(impl, ctx, ctx_size);
}


Result<uint64_t> JitProgram::run(void* ctx, size_t ctx_size, const RunOptions& options) const {
    const Impl& impl = *impl_;
    jit::JitState st;
    st.error_kind = jit::kNoError;
    if (impl.use.context || impl.checked) {
        ExecContext& c = st.ctx_init();
        c.user = options.user;
        c.checked = impl.checked;
        c.context = ctx;
        c.context_size = ctx_size;
        c.options = &options;
        c.tail_calls = options.tail_calls;
        c.engine = &st;
        if (impl.use.callbacks) c.call_function_fn = &call_function;
        st.impl = &impl;
    }
    if (impl.use.may_goto) st.may_goto_budget = options.may_goto_budget;
    if (!options.stack.empty() && options.stack.size() < kMaxCallFrames * kStackSize) [[unlikely]]
        return make_error(fmt::format("RunOptions::stack has {} bytes: a stack needs {}", options.stack.size(),
                                      kMaxCallFrames * kStackSize));
    if (impl.use.stack || impl.checked) {
        uint8_t* base = st.stack;
        if (!options.stack.empty()) [[unlikely]]
            base = options.stack.data() + options.stack.size() - kMaxCallFrames * kStackSize;
        st.stack_top = reinterpret_cast<uint64_t>(base) + kMaxCallFrames * kStackSize;
        st.stack_call_limit = reinterpret_cast<uint64_t>(base) + 2 * kStackSize;
        if (impl.use.context || impl.checked) {
            st.ctx().stack_lo = reinterpret_cast<uint64_t>(base);
            st.ctx().stack_hi = st.stack_top;
        }
    }
    if (impl.use.packet) {
        if (options.packet.data()) {
            st.packet = options.packet.data();
            st.packet_len = options.packet.size();
        } else {
            st.packet = static_cast<const uint8_t*>(ctx);
            st.packet_len = ctx ? ctx_size : 0;
        }
    }
    if (impl.checked) return run_checked(impl, st, ctx, ctx_size, options);
    if (options.checked) [[unlikely]]
        return make_error("this program was compiled without the checked mode's checks: compile it with "
                          "JitOptions::checked to run it checked");
    uint64_t r0 = impl.entry(reinterpret_cast<uint64_t>(ctx), ctx_size, &st);
    if (st.error_kind == jit::kNoError) [[likely]]
        return r0;
    return report(st);
}

namespace {

[[gnu::noinline]] Result<uint64_t> report(const jit::JitState& st) {
    int64_t insn = st.error_insn;
    std::string message;
    switch (st.error_kind) {
    case jit::kFault: {
        message = exec::describe_fault(st.fault, st.ctx(), st.fault_rbp - kStackSize, st.stack_top);
        break;
    }
    case jit::kBudget: message = exec::kBudgetMessage; break; // at the block's start, as the interpreter
    case jit::kCallDepth: message = exec::call_depth_message(); break;
    case jit::kCallx: message = exec::callx_message(st.error_aux, st.callx_value); break;
    case jit::kHelperStop: {
        Error e = const_cast<jit::JitState&>(st).ctx().take_error();
        if (e.insn < 0) e.insn = insn;
        return tl::unexpected(std::move(e));
    }
    default: message = fmt::format("JIT code stopped with unknown error {}", st.error_kind); break;
    }
    return tl::unexpected(Error{std::move(message), insn, 0, {}});
}

} // namespace

std::string JitProgram::dump() const {
    const Impl& impl = *impl_;
    const Program& p = *impl.program;
    std::string out;
    csh handle;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return "capstone is not available\n";
    auto native = [&](size_t begin, size_t end) {
        if (end <= begin) return;
        cs_insn* insn = nullptr;
        // Addresses relative to the start of the code, so jump targets read as offsets.
        size_t count = cs_disasm(handle, impl.code.data() + begin, end - begin, begin, 0, &insn);
        for (size_t k = 0; k < count; k++)
            out += fmt::format("    {:6x}:  {:<7} {}\n", insn[k].address, insn[k].mnemonic, insn[k].op_str);
        if (count) cs_free(insn, count);
    };
    auto insns = p.insns();
    size_t prologue_end = impl.offsets.empty() ? impl.code.size() : impl.offsets[0];
    out += fmt::format("; {} BPF instructions, {} bytes of x86-64 code{}\n", p.size(), impl.code.size(),
                       impl.checked ? " (checked mode)" : "");
    if (prologue_end > 0) {
        out += "; entry\n";
        native(0, prologue_end);
    }
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = p.op(i);
        if (!info) continue;
        size_t next = i + (info->form == Form::LdImm64 ? 2 : 1);
        size_t begin = impl.offsets[i];
        size_t end = next < insns.size() ? impl.offsets[next] : impl.code.size();
        if (end < begin) end = begin;
        out += fmt::format("{:>5}: {}\n", i, disassemble_insn(insns.subspan(i, next - i)));
        native(begin, end);
    }
    cs_close(&handle);
    return out;
}

} // namespace bpfvm

namespace bpfvm::jit {

extern "C" uint64_t bpfvm_jit_check_access(JitState* st, uint64_t addr, uint64_t packed, uint64_t rbp) {
    uint32_t size = static_cast<uint32_t>(packed & 0xff);
    bool write = (packed & 0x100) != 0, atomic = (packed & 0x200) != 0;
    if (exec::access_ok(st->ctx(), rbp - kStackSize, st->stack_top, addr, size, write, atomic)) return 1;
    st->fault = exec::Fault{addr, size, write, atomic};
    st->fault_rbp = rbp;
    return 0;
}

extern "C" uint64_t bpfvm_jit_callx_helper(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                                           JitState* st) {
    uint64_t v = st->callx_value;
    const Helper* h = v <= 0xffffffffull ? st->impl->helpers.find(static_cast<uint32_t>(v)) : nullptr;
    if (!h) {
        st->error_kind = kCallx;
        return 0;
    }
    return h->fn(r1, r2, r3, r4, r5, &st->ctx());
}

} // namespace bpfvm::jit
