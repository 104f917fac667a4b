#include "reduce.h"

#include <csignal>
#include <cstdio>
#include <cstring>

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/program.h"
#include "kernel.h"

namespace bpfvm::difftest {

std::string disagreement_signature(const CheckResult& r) {
    if (r.status != CheckResult::Status::Disagreed || r.outcomes.empty()) return {};
    std::string s = r.what + ":";
    const Outcome& ref = r.outcomes.front();
    for (const Outcome& o : r.outcomes)
        if (!same_result(ref, o)) s += fmt::format(" {}", engine_name(o.engine));
    return s;
}

std::string signature_in_child(const GeneratedProgram& program, const CheckOptions& options, unsigned timeout_s) {
    return signature_in_child(
        program, [&](const GeneratedProgram& p) { return disagreement_signature(check(p, options)); }, timeout_s);
}

std::string signature_in_child(const GeneratedProgram& program, const Signature& signature, unsigned timeout_s) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return {};
    }
    if (pid == 0) {
        close(fds[0]);
        for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM}) std::signal(sig, SIG_DFL);
        alarm(timeout_s);
        std::string sig = signature(program);
        ssize_t w = write(fds[1], sig.data(), sig.size());
        _exit(w == static_cast<ssize_t>(sig.size()) ? 0 : 1);
    }
    close(fds[1]);
    std::string sig;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) sig.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
    return sig;
}

namespace {

bool is_nop(const Insn& in) { return in.opcode == (BPF_JMP | BPF_JA) && in.off == 0 && in.dst == 0 && in.src == 0 && in.imm == 0; }

Insn nop() {
    Insn in;
    in.opcode = BPF_JMP | BPF_JA;
    return in;
}

// The program without its `ja +0` slots, jumps, calls and function
// references adjusted; nullopt when that is not a valid program.
std::optional<GeneratedProgram> drop_nops(const GeneratedProgram& p) {
    const auto& in = p.insns;
    const size_t n = in.size();
    std::vector<bool> second(n, false);
    for (size_t i = 0; i + 1 < n; i++)
        if (!second[i] && is_lddw(in[i])) second[i + 1] = true;
    std::vector<int64_t> newidx(n + 1, 0);
    int64_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        newidx[i] = kept;
        if (second[i] || !is_nop(in[i])) kept++;
    }
    newidx[n] = kept;
    if (kept == static_cast<int64_t>(n)) return std::nullopt;
    std::vector<Insn> out;
    for (size_t i = 0; i < n; i++) {
        if (!second[i] && is_nop(in[i])) continue;
        Insn x = in[i];
        if (!second[i]) {
            const OpInfo* info = find_op(x);
            if (info) {
                if (auto t = branch_target(*info, x, static_cast<int64_t>(i))) {
                    if (*t < 0 || *t > static_cast<int64_t>(n)) return std::nullopt;
                    int64_t off = newidx[static_cast<size_t>(*t)] - newidx[i] - 1;
                    if (info->form == Form::Gotol || info->form == Form::CallLocal || info->form == Form::LdImm64)
                        x.imm = static_cast<int32_t>(off);
                    else
                        x.off = static_cast<int16_t>(off);
                }
            }
        }
        out.push_back(x);
    }
    auto prog = Program::from_insns(out);
    if (!prog) return std::nullopt;
    GeneratedProgram q = p;
    q.insns = std::move(out);
    q.prologue = static_cast<size_t>(newidx[p.prologue]);
    q.functions.assign(prog->functions().begin(), prog->functions().end());
    return q;
}

} // namespace

GeneratedProgram reduce(const GeneratedProgram& original, const CheckOptions& options, size_t max_tries) {
    return reduce(
        original, [options](const GeneratedProgram& p) { return disagreement_signature(check(p, options)); },
        max_tries);
}

GeneratedProgram reduce_for_kernel(const GeneratedProgram& original, size_t max_tries) {
    return reduce(
        original,
        [](const GeneratedProgram& p) -> std::string {
            // A candidate that lost the store before a load (reduction does that)
            // differs from Linux for that reason alone.
            if (reads_uninitialized_stack(p)) return {};
            std::string why;
            auto oracle = KernelOracle::open(why);
            if (!oracle) return {};
            KernelVerdict v = oracle->check(p);
            return v.status == KernelVerdict::Status::Disagreed ? v.what : std::string();
        },
        max_tries);
}

GeneratedProgram reduce(const GeneratedProgram& original, const Signature& signature, size_t max_tries) {
    const std::string want = signature_in_child(original, signature);
    if (want.empty()) return original;
    GeneratedProgram best = original;
    size_t tries = 0;
    auto interesting = [&](const GeneratedProgram& c) {
        if (tries >= max_tries) return false;
        if (!Program::from_insns(c.insns)) return false;
        tries++;
        return signature_in_child(c, signature) == want;
    };
    for (bool progress = true; progress && tries < max_tries;) {
        progress = false;
        const size_t n = best.insns.size();
        for (size_t chunk = std::max<size_t>(n / 2, 1);; chunk /= 2) {
            for (size_t start = 0; start < best.insns.size(); start += chunk) {
                GeneratedProgram c = best;
                bool changed = false;
                for (size_t i = start; i < std::min(start + chunk, c.insns.size()); i++) {
                    if (is_nop(c.insns[i])) continue;
                    if (c.insns[i].opcode == 0 && i > 0 && is_lddw(c.insns[i - 1])) continue; // second half
                    if (is_lddw(c.insns[i]) && i + 1 < c.insns.size()) c.insns[i + 1] = nop();
                    c.insns[i] = nop();
                    changed = true;
                }
                // A chunk that ends inside an lddw leaves its second half alone: invalid, skipped.
                if (changed && interesting(c)) best = std::move(c), progress = true;
            }
            if (chunk == 1) break;
        }
        if (auto c = drop_nops(best); c && interesting(*c)) best = std::move(*c), progress = true;
    }
    return best;
}

std::string finding_text(const GeneratedProgram& p, std::string_view note, const CheckResult& r, std::string_view path) {
    std::string s;
    for (size_t start = 0; start < note.size();) {
        size_t nl = note.find('\n', start);
        if (nl == std::string_view::npos) nl = note.size();
        s += fmt::format("# {}\n", note.substr(start, nl - start));
        start = nl + 1;
    }
    s += fmt::format("#\n# From generated program seed {} (profile {}), reduced by differential_soak --reduce.\n",
                     p.seed, profile_name(p.profile));
    s += fmt::format("# Memory (r1, r2 = {} bytes): {}\n", p.memory.size(), hex(p.memory));
    if (p.may_goto_budget != kMaxLoops) s += fmt::format("# may_goto budget: {}\n", p.may_goto_budget);
    if (r.what == "budget" || r.what == "memory after error")
        s += fmt::format("# Checked modes with an instruction budget of {}.\n", p.small_budget);
    s += "# Outcomes:\n";
    for (const Outcome& o : r.outcomes) s += fmt::format("#   {:<20} {}\n", engine_name(o.engine), o.describe());
    s += fmt::format("# Replay: ./build/tests/differential/differential_soak --replay {} --mem-hex '{}'", path,
                     hex(p.memory));
    if (p.may_goto_budget != kMaxLoops) s += fmt::format(" --may-goto-budget {}", p.may_goto_budget);
    s += fmt::format(" --budget {}", p.small_budget);
    if (p.faults) s += " --faults";
    s += "\n\n";
    s += listing(p, false);
    return s;
}

} // namespace bpfvm::difftest
