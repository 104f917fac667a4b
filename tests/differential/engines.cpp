#include "engines.h"

#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <span>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bpfvm/jit.h"
#include "bpfvm/program.h"
#include "bpfvm/vm.h"

namespace bpfvm::difftest {

const std::string& exec_budget_message() {
    // The text the engines stop with when the instruction budget runs out:
    // what the interpreter says about `ja -1` with a budget of 10.
    static const std::string m = [] {
        Insn loop;
        loop.opcode = BPF_JMP | BPF_JA;
        loop.off = -1;
        auto prog = Program::from_insns({loop});
        auto vm = prog ? Interpreter::create(*prog) : tl::unexpected(prog.error());
        RunOptions o;
        o.checked = true;
        o.insn_budget = 10;
        auto r = vm ? vm->run(nullptr, 0, o) : tl::unexpected(vm.error());
        return r ? std::string("(no budget error)") : r.error().message;
    }();
    return m;
}

std::string_view engine_name(Engine engine) {
    switch (engine) {
    case Engine::InterpFast: return "interp fast";
    case Engine::InterpChecked: return "interp checked";
    case Engine::JitFast: return "jit fast";
    case Engine::JitChecked: return "jit checked";
    case Engine::JitFastBlinded: return "jit fast blinded";
    case Engine::JitCheckedBlinded: return "jit checked blinded";
    case Engine::JitFastPlain: return "jit fast plain";
    case Engine::JitCheckedPlain: return "jit checked plain";
    }
    return "?";
}

bool is_checked(Engine engine) {
    return engine == Engine::InterpChecked || engine == Engine::JitChecked || engine == Engine::JitCheckedBlinded ||
           engine == Engine::JitCheckedPlain;
}

std::string Outcome::describe() const {
    std::string s = ok ? fmt::format("r0 = 0x{:x}", r0) : "error: " + error.to_string();
    if (!abi.empty()) s += "; and the host's callee-saved registers were not restored: " + abi;
    return s;
}

bool same_result(const Outcome& a, const Outcome& b) {
    if (a.ok != b.ok) return false;
    if (a.ok) return a.r0 == b.r0 && a.memory == b.memory;
    return a.error.message == b.error.message && a.error.insn == b.error.insn && a.memory == b.memory;
}

std::string hex(const std::vector<uint8_t>& bytes) {
    std::string s;
    for (size_t i = 0; i < bytes.size(); i++) {
        if (i) s += ' ';
        s += fmt::format("{:02x}", bytes[i]);
    }
    return s;
}

std::string reproduce_command(const GeneratedProgram& p) {
    return fmt::format("./build/tests/differential/differential_soak --seed {} --count 1 --profile {}{} --show",
                       p.seed, profile_name(p.profile), p.errors_allowed ? "" : " --no-errors");
}

namespace {

// The buffer every run of this thread uses: the same address for every
// engine, so that messages naming addresses in it agree. It sits in the
// middle of its own mapping, far from any stack (a fault just outside a
// context that lay within 4 KiB of an engine's stack used to be described
// relative to that stack: findings/fault-described-relative-to-stack.s,
// fixed). Room on both sides for the accesses of faulting programs (which
// only checked modes run).
constexpr size_t kBufferSize = 4096;
constexpr size_t kMapping = 64 * 1024;
thread_local uint8_t* t_buffer_override = nullptr;
thread_local bool t_buffer_on_stack = false;
thread_local std::optional<std::pair<Op, Op>> t_mutation;

// Every run goes through a trampoline that puts canaries in the host's
// callee-saved registers (rbx, rbp, r12-r15) and checks them afterwards: an
// engine that returns without restoring them would corrupt its caller
// (findings/jit-fast-unwind-clobbers-host-registers.s, fixed). The
// trampoline restores them, so the harness survives and reports it.
#if defined(__x86_64__)
extern "C" void difftest_abi_call(void (*fn)(void*), void* arg, uint64_t* after);
asm(R"(
    .text
    .p2align 4
    .globl difftest_abi_call
    .type difftest_abi_call, @function
difftest_abi_call:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdx
    movabs $0x5a5a00000000b0b0, %rbx
    movabs $0x5a5a00000000b1b1, %rbp
    movabs $0x5a5a00000000b2b2, %r12
    movabs $0x5a5a00000000b3b3, %r13
    movabs $0x5a5a00000000b4b4, %r14
    movabs $0x5a5a00000000b5b5, %r15
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    pop %rdx
    mov %rbx, 0(%rdx)
    mov %rbp, 8(%rdx)
    mov %r12, 16(%rdx)
    mov %r13, 24(%rdx)
    mov %r14, 32(%rdx)
    mov %r15, 40(%rdx)
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
    .size difftest_abi_call, .-difftest_abi_call
)");
constexpr uint64_t kCanary[6] = {0x5a5a00000000b0b0, 0x5a5a00000000b1b1, 0x5a5a00000000b2b2,
                                 0x5a5a00000000b3b3, 0x5a5a00000000b4b4, 0x5a5a00000000b5b5};
constexpr const char* kCalleeSaved[6] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
#endif
uint8_t* mapping() {
    void* m = mmap(nullptr, kMapping, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    return static_cast<uint8_t*>(m) + kMapping / 2;
}
uint8_t* buffer() {
    if (t_buffer_override) return t_buffer_override;
    static thread_local uint8_t* buf = mapping();
    return buf;
}
// The BPF stack every engine runs on (RunOptions::stack): the same addresses
// for all, so that values computed from r10 agree, and zeroed before every
// run (as the checked mode does), so that the stack after the run can be
// compared too.
constexpr size_t kStackBytes = kMaxCallFrames * kStackSize;
uint8_t* stack_memory() {
    static thread_local uint8_t* stack = mapping();
    return stack;
}

struct Compiled {
    std::optional<Interpreter> interp;
    std::optional<JitProgram> jit[6]; // fast, checked, fast blinded, checked blinded, fast plain, checked plain
    std::string error;
};

int jit_slot(Engine e) {
    switch (e) {
    case Engine::JitFast: return 0;
    case Engine::JitChecked: return 1;
    case Engine::JitFastBlinded: return 2;
    case Engine::JitCheckedBlinded: return 3;
    case Engine::JitFastPlain: return 4;
    case Engine::JitCheckedPlain: return 5;
    default: return -1;
    }
}

Outcome run_compiled(const Compiled& c, const GeneratedProgram& p, Engine e, uint64_t budget, uint64_t may_goto,
                     bool context_writable = true, uint8_t stack_fill = 0) {
    alignas(64) uint8_t local[kBufferSize]; // used with set_buffer_on_stack
    uint8_t* buf = t_buffer_on_stack ? local : buffer();
    const size_t size = p.memory.size();
    std::memcpy(buf, p.memory.data(), size);
    std::memset(buf + size, 0xa5, kBufferSize - size);
    reset_regions();
    std::memset(stack_memory(), stack_fill, kStackBytes);
    RunOptions o;
    o.stack = std::span<uint8_t>(stack_memory(), kStackBytes);
    o.checked = is_checked(e);
    o.insn_budget = budget;
    o.may_goto_budget = may_goto;
    o.context_writable = context_writable;
    struct Call {
        const Compiled* c;
        Engine e;
        uint8_t* buf;
        size_t size;
        const RunOptions* o;
        Result<uint64_t> r;
    } call{&c, e, buf, size, &o, {}};
    auto thunk = [](void* arg) {
        auto* k = static_cast<Call*>(arg);
        k->r = (k->e == Engine::InterpFast || k->e == Engine::InterpChecked)
                   ? k->c->interp->run(k->buf, k->size, *k->o)
                   : k->c->jit[jit_slot(k->e)]->run(k->buf, k->size, *k->o);
    };
    Outcome out;
#if defined(__x86_64__)
    uint64_t after[6];
    difftest_abi_call(thunk, &call, after);
    for (int i = 0; i < 6; i++)
        if (after[i] != kCanary[i])
            out.abi += fmt::format("{}{} = 0x{:x} (was 0x{:x})", out.abi.empty() ? "" : ", ", kCalleeSaved[i],
                                   after[i], kCanary[i]);
#else
    thunk(&call);
#endif
    Result<uint64_t>& r = call.r;
    out.engine = e;
    out.ok = r.has_value();
    if (r) out.r0 = *r;
    else out.error = r.error();
    // The buffer, then the regions helpers handed out, then the stack.
    out.memory.assign(buf, buf + size);
    for (bool ro : {false, true}) out.memory.insert(out.memory.end(), region_buffer(ro), region_buffer(ro) + kRegionSize);
    out.memory.insert(out.memory.end(), stack_memory(), stack_memory() + kStackBytes);
    return out;
}

std::string memory_difference(const Outcome& a, const Outcome& b) {
    if (a.memory.size() != b.memory.size()) return "memory sizes differ";
    size_t first = a.memory.size(), last = 0;
    for (size_t i = 0; i < a.memory.size(); i++)
        if (a.memory[i] != b.memory[i]) first = std::min(first, i), last = i;
    if (first == a.memory.size()) return {};
    size_t lo = first, hi = std::min(last + 1, first + 16);
    auto slice = [&](const std::vector<uint8_t>& m) {
        return hex(std::vector<uint8_t>(m.begin() + static_cast<long>(lo), m.begin() + static_cast<long>(hi)));
    };
    return fmt::format("memory differs at bytes {}..{}: {}: [{}], {}: [{}]", first, last, engine_name(a.engine),
                       slice(a.memory), engine_name(b.engine), slice(b.memory));
}

std::string report(const GeneratedProgram& p, std::string_view what, const std::vector<Outcome>& outcomes,
                   std::string_view extra) {
    std::string s = p.origin.empty() ? fmt::format("seed {} (profile {}): {}\n", p.seed, profile_name(p.profile), what)
                                     : fmt::format("{}: {}\n", p.origin, what);
    for (const Outcome& o : outcomes) s += fmt::format("  {:<20} {}\n", engine_name(o.engine), o.describe());
    if (!extra.empty()) s += fmt::format("  {}\n", extra);
    if (p.origin.empty()) s += fmt::format("reproduce: {}\n", reproduce_command(p));
    s += fmt::format("program ({} slots; may_goto budget {}; memory {} bytes: {}):\n{}", p.insns.size(),
                     p.may_goto_budget, p.memory.size(), hex(p.memory), listing(p));
    return s;
}

// Variants beyond the four main engines: 0 none, 1 blinded, 2 unoptimised.
Result<Compiled> compile(const GeneratedProgram& p, int variant) {
    auto prog = Program::from_insns(p.insns, fmt::format("seed{}", p.seed));
    if (!prog) return tl::unexpected(prog.error());
    Compiled c;
    auto vm = Interpreter::create(*prog, test_helpers());
    if (!vm) return tl::unexpected(vm.error());
    c.interp.emplace(std::move(*vm));
    std::optional<Program> mutant;
    if (t_mutation) {
        std::vector<Insn> insns = p.insns;
        const OpInfo& to = op_info(t_mutation->second);
        for (size_t i = 0; i < insns.size(); i++) {
            const OpInfo* info = prog->op(i);
            if (!info || info->op != t_mutation->first) continue;
            insns[i].opcode = to.opcode;
            if (to.off.kind == FieldRule::Equal) insns[i].off = static_cast<int16_t>(to.off.value);
            if (to.imm.kind == FieldRule::Equal) insns[i].imm = to.imm.value;
        }
        auto m = Program::from_insns(std::move(insns));
        if (!m) return tl::unexpected(m.error());
        mutant.emplace(std::move(*m));
    }
    for (int k = 0; k < 6; k++) {
        bool checked = k & 1, blinding = k / 2 == 1, plain = k / 2 == 2;
        if ((blinding && variant != 1) || (plain && variant != 2)) continue;
        JitOptions jo;
        jo.checked = checked;
        jo.blinding = blinding;
        jo.optimize = !plain;
        auto jit = JitProgram::compile(k == 0 && mutant ? *mutant : *prog, test_helpers(), {}, jo);
        if (!jit) return tl::unexpected(jit.error());
        c.jit[k].emplace(std::move(*jit));
    }
    return c;
}

// Whether a run may end while a callee is active: a legacy packet load or a
// callx in a function other than main, or a function that calls itself. The
// fast JIT used to return without restoring host registers then
// (findings/jit-fast-unwind-clobbers-host-registers.s, fixed), which crashed
// the process: such runs go to a child process, so that a regression shows
// as a disagreement instead of killing the run.
bool may_end_in_callee(const GeneratedProgram& p) {
    for (size_t f = 1; f < p.functions.size(); f++) {
        auto begin = static_cast<size_t>(p.functions[f]);
        auto end = f + 1 < p.functions.size() ? static_cast<size_t>(p.functions[f + 1]) : p.insns.size();
        for (size_t i = begin; i < end; i++) {
            const OpInfo* info = find_op(p.insns[i]);
            if (!info) continue;
            if (info->form == Form::LdAbs || info->form == Form::LdInd || info->form == Form::CallX) return true;
            if (auto t = branch_target(*info, p.insns[i], static_cast<int64_t>(i));
                t && info->form == Form::CallLocal && static_cast<size_t>(*t) == begin)
                return true;
            if (info->form == Form::LdImm64) i++;
        }
    }
    return false;
}

// run_compiled in a child process; a crash becomes the outcome.
Outcome run_isolated(const Compiled& c, const GeneratedProgram& p, Engine e, uint64_t budget, uint64_t may_goto) {
    int fds[2];
    if (pipe(fds) != 0) return run_compiled(c, p, e, budget, may_goto);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) std::signal(sig, SIG_DFL);
        alarm(20);
        Outcome o = run_compiled(c, p, e, budget, may_goto);
        std::string msg = o.error.message;
        uint64_t head[5] = {o.ok, o.r0, static_cast<uint64_t>(o.error.insn), msg.size(), o.memory.size()};
        std::string blob(reinterpret_cast<const char*>(head), sizeof head);
        blob += msg;
        blob.append(reinterpret_cast<const char*>(o.memory.data()), o.memory.size());
        blob += o.abi;
        size_t off = 0;
        while (off < blob.size()) {
            ssize_t w = write(fds[1], blob.data() + off, blob.size() - off);
            if (w <= 0) _exit(1);
            off += static_cast<size_t>(w);
        }
        _exit(0);
    }
    close(fds[1]);
    std::string blob;
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) blob.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    Outcome o;
    o.engine = e;
    uint64_t head[5];
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || blob.size() < sizeof head) {
        o.error.message = WIFSIGNALED(status) ? fmt::format("the process crashed (signal {})", WTERMSIG(status))
                                              : "the child process failed";
        o.memory.assign(p.memory.size() + 2 * kRegionSize + kStackBytes, 0);
        return o;
    }
    std::memcpy(head, blob.data(), sizeof head);
    o.ok = head[0] != 0;
    o.r0 = head[1];
    o.error.insn = static_cast<int64_t>(head[2]);
    size_t at = sizeof head;
    o.error.message = blob.substr(at, head[3]);
    at += head[3];
    o.memory.assign(blob.begin() + static_cast<long>(at), blob.begin() + static_cast<long>(at + head[4]));
    o.abi = blob.substr(at + head[4]);
    return o;
}

} // namespace

void set_thread_buffer(uint8_t* buf) { t_buffer_override = buf; }

bool reads_uninitialized_stack(const GeneratedProgram& p) {
    auto c = compile(p, 0);
    if (!c) return false;
    // The fast interpreter leaves the stack as it finds it.
    Outcome a = run_compiled(*c, p, Engine::InterpFast, 1 << 24, p.may_goto_budget, true, 0x00);
    Outcome b = run_compiled(*c, p, Engine::InterpFast, 1 << 24, p.may_goto_budget, true, 0xa5);
    a.memory.resize(p.memory.size() + 2 * kRegionSize); // not the stack itself
    b.memory.resize(p.memory.size() + 2 * kRegionSize);
    return !same_result(a, b);
}
void set_buffer_on_stack(bool on) { t_buffer_on_stack = on; }
void set_mutation(std::optional<std::pair<Op, Op>> mutation) { t_mutation = mutation; }

Outcome run_engine(const GeneratedProgram& p, Engine engine, uint64_t insn_budget, uint64_t may_goto_budget) {
    auto c = compile(p, engine == Engine::JitFastBlinded || engine == Engine::JitCheckedBlinded ? 1
                        : engine == Engine::JitFastPlain || engine == Engine::JitCheckedPlain   ? 2
                                                                                                : 0);
    if (!c) {
        Outcome o;
        o.engine = engine;
        o.error = c.error();
        o.error.message = "not prepared: " + o.error.message;
        return o;
    }
    return run_compiled(*c, p, engine, insn_budget, may_goto_budget);
}

CheckResult check(const GeneratedProgram& p, const CheckOptions& options) {
    CheckResult res;
    const int variant = !options.blinding ? 0 : p.seed % 4 == 0 ? 1 : p.seed % 4 == 2 ? 2 : 0;
    auto c = compile(p, variant);
    if (!c) {
        res.status = CheckResult::Status::Invalid;
        res.what = "invalid";
        res.report = report(p, "the generated program is not accepted: " + c.error().to_string(), {}, "");
        return res;
    }
    // The checked interpreter first: the reference.
    std::vector<Engine> engines = {Engine::InterpChecked, Engine::JitChecked};
    if (!p.faults) engines.insert(engines.begin() + 1, Engine::InterpFast), engines.push_back(Engine::JitFast);
    if (variant == 1) engines.push_back(p.faults ? Engine::JitCheckedBlinded : Engine::JitFastBlinded);
    if (variant == 2) engines.push_back(p.faults ? Engine::JitCheckedPlain : Engine::JitFastPlain);
    // Generated programs run far fewer instructions than this; one that runs
    // out (a reduced program whose loop lost its counter) would not end in
    // the fast modes, so only the checked ones run it.
    const uint64_t full_budget = uint64_t(1) << 24;
    res.outcomes.push_back(run_compiled(*c, p, engines.front(), full_budget, p.may_goto_budget));
    const Outcome& first = res.outcomes.front();
    if (!first.ok && first.error.message == exec_budget_message())
        std::erase_if(engines, [](Engine x) { return !is_checked(x); });
    // Did the run end early (an error, or r0 = 0 from a legacy packet load)?
    const bool isolate = (!first.ok || first.r0 == 0) && may_end_in_callee(p);
    for (size_t k = 1; k < engines.size(); k++) {
        const Engine e = engines[k];
        res.outcomes.push_back(isolate && !is_checked(e) && e != Engine::InterpFast
                                   ? run_isolated(*c, p, e, full_budget, p.may_goto_budget)
                                   : run_compiled(*c, p, e, full_budget, p.may_goto_budget));
    }
    res.engines = engines.size();

    const Outcome& ref = res.outcomes.front();
    for (const Outcome& o : res.outcomes) {
        if (same_result(ref, o) && o.abi.empty()) continue;
        res.status = CheckResult::Status::Disagreed;
        res.what = "engines";
        res.report = report(p, "the engines disagree", res.outcomes, memory_difference(ref, o));
        return res;
    }
    if (!ref.ok) res.error = ref.error.message;

    if (options.budget_runs) {
        std::vector<Outcome> b;
        for (Engine e : {Engine::InterpChecked, Engine::JitChecked})
            b.push_back(run_compiled(*c, p, e, p.small_budget, p.may_goto_budget));
        const Outcome &x = b[0], &y = b[1];
        bool same = x.ok == y.ok && (x.ok ? x.r0 == y.r0
                                          : x.error.message == y.error.message && x.error.insn == y.error.insn);
        // The engines charge the budget per block (exec::budget_blocks): they
        // stop at the same instruction with the same memory, error or not.
        if (!same || x.memory != y.memory) {
            res.status = CheckResult::Status::Disagreed;
            res.what = "budget";
            res.outcomes = b;
            res.report = report(p, fmt::format("the checked engines disagree with an instruction budget of {}",
                                               p.small_budget),
                                b, memory_difference(x, y));
            return res;
        }
        res.budget_stopped = !x.ok && x.error.message == exec_budget_message();

        // A read-only context: the checked engines stop at the same store, or
        // agree, and the buffer is as it was.
        std::vector<Outcome> ro;
        for (Engine e : {Engine::InterpChecked, Engine::JitChecked})
            ro.push_back(run_compiled(*c, p, e, full_budget, p.may_goto_budget, false));
        const bool untouched = std::equal(p.memory.begin(), p.memory.end(), ro[0].memory.begin());
        if (!same_result(ro[0], ro[1]) || !untouched) {
            res.status = CheckResult::Status::Disagreed;
            res.what = "read-only context";
            res.outcomes = ro;
            res.report = report(p, untouched ? "the checked engines disagree on a read-only context"
                                             : "a read-only context was written",
                                ro, memory_difference(ro[0], ro[1]));
            return res;
        }
    }
    return res;
}

} // namespace bpfvm::difftest
