// seccomp filters: Linux's seccomp_check_filter() (kernel/seccomp.c) on top
// of bpf_check_classic(), the kernel's rewrite of seccomp_data loads, and
// the actions a return value stands for.
#include <optional>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <fmt/format.h>

#include "bpfvm/cbpf.h"
#include "bpfvm/jit.h"
#include "bpfvm/program.h"
#include "bpfvm/vm.h"
#include "cbpf/translate.h"

namespace bpfvm::cbpf {

namespace {

// The check and the kernel's rewrite: ld [k] becomes a context load
// (BPF_LDX|BPF_W|BPF_ABS), ld/ldx #len the constant 64.
Result<std::vector<Insn>> seccomp_rewrite(std::span<const Insn> program) {
    if (auto ok = check(program, Dialect::Linux); !ok) return tl::unexpected(ok.error());
    std::vector<Insn> out(program.begin(), program.end());
    for (size_t pc = 0; pc < out.size(); pc++) {
        Insn& in = out[pc];
        const auto at = static_cast<int64_t>(pc);
        switch (in.code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (in.k >= sizeof(SeccompData) || (in.k & 3))
                return make_error(fmt::format("ld [{}] is not a 32-bit field of seccomp_data (offsets 0, 4, ... 60)",
                                              static_cast<int32_t>(in.k)),
                                  at);
            in.code = BPF_LDX | BPF_W | BPF_ABS;
            break;
        case BPF_LD | BPF_W | BPF_LEN:
            in.code = BPF_LD | BPF_IMM;
            in.k = sizeof(SeccompData);
            break;
        case BPF_LDX | BPF_W | BPF_LEN:
            in.code = BPF_LDX | BPF_IMM;
            in.k = sizeof(SeccompData);
            break;
        case BPF_RET | BPF_K: case BPF_RET | BPF_A:
        case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
        case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
        case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
        case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
        case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
        case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
        case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
        case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
        case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
        case BPF_ALU | BPF_NEG:
        case BPF_LD | BPF_IMM: case BPF_LDX | BPF_IMM:
        case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
        case BPF_LD | BPF_MEM: case BPF_LDX | BPF_MEM:
        case BPF_ST: case BPF_STX:
        case BPF_JMP | BPF_JA:
        case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
            break;
        default:
            return make_error(fmt::format("opcode 0x{:02x} is not allowed in a seccomp filter (packet loads, mod and "
                                          "ancillary loads are not)",
                                          in.code),
                              at);
        }
    }
    return out;
}

} // namespace

Result<void> check_seccomp(std::span<const Insn> program) {
    auto r = seccomp_rewrite(program);
    if (!r) return tl::unexpected(r.error());
    return {};
}

SeccompVerdict seccomp_verdict(uint32_t value) {
    SeccompVerdict v;
    v.value = value;
    v.data = static_cast<uint16_t>(value & SECCOMP_RET_DATA);
    switch (value & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_THREAD: v.action = SeccompAction::KillThread; break;
    case SECCOMP_RET_TRAP: v.action = SeccompAction::Trap; break;
    case SECCOMP_RET_ERRNO:
        v.action = SeccompAction::Errno;
        if (v.data > 4095) v.data = 4095; // MAX_ERRNO
        break;
    case SECCOMP_RET_USER_NOTIF: v.action = SeccompAction::UserNotif; break;
    case SECCOMP_RET_TRACE: v.action = SeccompAction::Trace; break;
    case SECCOMP_RET_LOG: v.action = SeccompAction::Log; break;
    case SECCOMP_RET_ALLOW: v.action = SeccompAction::Allow; break;
    default: v.action = SeccompAction::KillProcess; break; // SECCOMP_RET_KILL_PROCESS and unknown actions
    }
    return v;
}

std::string SeccompVerdict::to_string() const {
    switch (action) {
    case SeccompAction::KillProcess:
        if ((value & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_KILL_PROCESS)
            return fmt::format("KILL_PROCESS (unknown action 0x{:08x})", value);
        return "KILL_PROCESS";
    case SeccompAction::KillThread: return "KILL_THREAD";
    case SeccompAction::Trap: return fmt::format("TRAP({})", data);
    case SeccompAction::Errno: return fmt::format("ERRNO({})", data);
    case SeccompAction::UserNotif: return "USER_NOTIF";
    case SeccompAction::Trace: return fmt::format("TRACE({})", data);
    case SeccompAction::Log: return "LOG";
    case SeccompAction::Allow: return "ALLOW";
    }
    return "?";
}

struct SeccompFilter::State {
    std::vector<bpfvm::Insn> ebpf;
    std::optional<JitProgram> jit;
    std::optional<Interpreter> interpreter;
};

SeccompFilter::SeccompFilter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SeccompFilter::SeccompFilter(SeccompFilter&&) noexcept = default;
SeccompFilter& SeccompFilter::operator=(SeccompFilter&&) noexcept = default;
SeccompFilter::~SeccompFilter() = default;

Result<SeccompFilter> SeccompFilter::create(std::span<const Insn> program, Engine engine) {
    auto rewritten = seccomp_rewrite(program);
    if (!rewritten) return tl::unexpected(rewritten.error());
    auto t = translate(*rewritten, Dialect::Linux);
    if (!t) return tl::unexpected(t.error());
    auto state = std::make_unique<State>();
    state->ebpf = t->insns;
    auto prog = Program::from_insns(std::move(t->insns), "seccomp");
    if (!prog) return tl::unexpected(prog.error());
    // Safe by construction: context loads at checked constant offsets inside
    // the 64 bytes of seccomp_data, a fixed stack, no loops.
    if (engine == Engine::Jit && JitProgram::supported()) {
        JitOptions jo;
        jo.checked = false;
        auto jit = JitProgram::compile(*prog, default_helpers(), {}, jo);
        if (!jit) return tl::unexpected(jit.error());
        state->jit.emplace(std::move(*jit));
    } else {
        auto interp = Interpreter::create(*prog, default_helpers());
        if (!interp) return tl::unexpected(interp.error());
        state->interpreter.emplace(std::move(*interp));
    }
    return SeccompFilter(std::move(state));
}

uint32_t SeccompFilter::run(const SeccompData& data) const {
    const State& s = *state_;
    void* ctx = const_cast<SeccompData*>(&data);
    Result<uint64_t> r = s.jit ? s.jit->run(ctx, sizeof data) : s.interpreter->run(ctx, sizeof data);
    return r ? static_cast<uint32_t>(*r) : SECCOMP_RET_KILL_PROCESS;
}

const std::vector<bpfvm::Insn>& SeccompFilter::ebpf() const { return state_->ebpf; }

} // namespace bpfvm::cbpf
