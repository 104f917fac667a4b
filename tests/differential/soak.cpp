// differential_soak: many generated programs on every bpfvm engine, and on
// Linux with --kernel. See README.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/program.h"
#include "engines.h"
#include "generator.h"
#include "kernel.h"
#include "reduce.h"

using namespace bpfvm;
using namespace bpfvm::difftest;

namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#endif

// What the crash handler prints: the program this thread was running.
thread_local uint64_t t_seed = 0;
thread_local int t_profile = -1;
thread_local bool t_errors = true;

[[maybe_unused]] void on_crash(int sig) {
    char buf[512];
    int n = t_profile < 0
                ? std::snprintf(buf, sizeof buf, "\ndifferential_soak: signal %d outside a program run\n", sig)
                : std::snprintf(buf, sizeof buf,
                                "\ndifferential_soak: signal %d while running seed %llu (profile %s)\n"
                                "reproduce: ./build/tests/differential/differential_soak --seed %llu --count 1 "
                                "--profile %s%s --show\n",
                                sig, static_cast<unsigned long long>(t_seed), t_profile == 0 ? "full" : "kernel",
                                static_cast<unsigned long long>(t_seed), t_profile == 0 ? "full" : "kernel",
                                t_errors ? "" : " --no-errors");
    if (n > 0) {
        ssize_t w = write(2, buf, static_cast<size_t>(n));
        (void)w;
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// "invalid read of 4 bytes at 0x7f..: 2 bytes past ..." -> "invalid read of N bytes at N: N bytes past ..."
std::string error_kind(const std::string& message) {
    std::string k = normalise_reason(message);
    size_t colon = k.find(": ");
    if (k.starts_with("invalid") && colon != std::string::npos) {
        size_t second = k.find(" (", colon);
        if (second != std::string::npos) k.resize(second);
    }
    return k;
}

struct Stats {
    uint64_t generated = 0, full = 0, kernel_profile = 0, slots = 0, engine_runs = 0;
    uint64_t agreed = 0, disagreed = 0, invalid = 0;
    uint64_t faults = 0, budget_dependent = 0, budget_stopped = 0;
    std::map<std::string, uint64_t> known; // agreed but for a known finding
    std::map<std::string, uint64_t> errors; // programs that stopped with an error (all engines agreeing)
    uint64_t k_agreed = 0, k_refused = 0, k_disagreed = 0, k_skipped = 0;
    std::map<std::string, std::pair<uint64_t, std::string>> refused; // reason -> count, example
    std::map<std::string, uint64_t> skipped;
    std::bitset<kNumOps> ops;
    std::vector<GeneratedProgram> failures, kernel_failures; // for --reduce

    void merge(const Stats& o) {
        generated += o.generated, full += o.full, kernel_profile += o.kernel_profile, slots += o.slots;
        engine_runs += o.engine_runs;
        agreed += o.agreed, disagreed += o.disagreed, invalid += o.invalid;
        faults += o.faults, budget_dependent += o.budget_dependent, budget_stopped += o.budget_stopped;
        for (auto& [k, v] : o.known) known[k] += v;
        for (auto& [k, v] : o.errors) errors[k] += v;
        k_agreed += o.k_agreed, k_refused += o.k_refused, k_disagreed += o.k_disagreed, k_skipped += o.k_skipped;
        for (auto& [k, v] : o.refused) {
            auto& e = refused[k];
            e.first += v.first;
            if (e.second.empty()) e.second = v.second;
        }
        for (auto& [k, v] : o.skipped) skipped[k] += v;
        ops |= o.ops;
        failures.insert(failures.end(), o.failures.begin(), o.failures.end());
        kernel_failures.insert(kernel_failures.end(), o.kernel_failures.begin(), o.kernel_failures.end());
    }
};

struct Config {
    uint64_t count = 1000;
    uint64_t seed = 1;
    std::string profile = "mixed";
    bool kernel = false;
    unsigned jobs = 0;
    bool show = false;
    bool no_errors = false;
    size_t max_reports = 5;
    std::string reduce_dir;
    double progress = 10;
    bool no_blinding = false;
};

Profile profile_of(const Config& c, uint64_t i) {
    if (c.profile == "full") return Profile::Full;
    if (c.profile == "kernel") return Profile::Kernel;
    return i % 3 == 2 ? Profile::Kernel : Profile::Full;
}

std::mutex g_print;

void print_summary(const Stats& s, double seconds, bool kernel) {
    std::printf("generated:  %llu programs (%llu full profile, %llu kernel profile), %llu instruction slots, "
                "%.0f programs/s\n",
                static_cast<unsigned long long>(s.generated), static_cast<unsigned long long>(s.full),
                static_cast<unsigned long long>(s.kernel_profile), static_cast<unsigned long long>(s.slots),
                seconds > 0 ? static_cast<double>(s.generated) / seconds : 0.0);
    std::printf("bpfvm:      %llu agreed, %llu disagreed, %llu invalid (%llu engine runs; %llu programs only on the "
                "checked engines because they may fault)\n",
                static_cast<unsigned long long>(s.agreed), static_cast<unsigned long long>(s.disagreed),
                static_cast<unsigned long long>(s.invalid), static_cast<unsigned long long>(s.engine_runs),
                static_cast<unsigned long long>(s.faults));
    std::printf("budget runs: %llu stopped by the instruction budget in both checked engines\n",
                static_cast<unsigned long long>(s.budget_stopped));
    for (auto& [k, v] : s.known)
        std::printf("agreed but for known finding %s (tests/differential/findings/%s.s): %llu\n", k.c_str(), k.c_str(),
                    static_cast<unsigned long long>(v));
    uint64_t errs = 0;
    for (auto& [k, v] : s.errors) errs += v;
    std::printf("stopped with an error (the same in every engine): %llu\n", static_cast<unsigned long long>(errs));
    std::vector<std::pair<uint64_t, std::string>> e;
    for (auto& [k, v] : s.errors) e.emplace_back(v, k);
    std::sort(e.rbegin(), e.rend());
    for (size_t i = 0; i < e.size() && i < 12; i++)
        std::printf("  %8llu  %s\n", static_cast<unsigned long long>(e[i].first), e[i].second.c_str());
    std::string missing;
    for (const OpInfo& info : op_table())
        if (!s.ops.test(static_cast<size_t>(info.op))) missing += std::string(" ") + info.name;
    std::printf("opcode table rows generated: %zu of %d%s%s\n", s.ops.count(), kNumOps,
                missing.empty() ? "" : "; missing:", missing.c_str());
    if (!kernel) return;
    std::printf("linux:      %llu agreed, %llu refused by the verifier, %llu disagreed, %llu skipped\n",
                static_cast<unsigned long long>(s.k_agreed), static_cast<unsigned long long>(s.k_refused),
                static_cast<unsigned long long>(s.k_disagreed), static_cast<unsigned long long>(s.k_skipped));
    std::vector<std::tuple<uint64_t, std::string, std::string>> r;
    for (auto& [k, v] : s.refused) r.emplace_back(v.first, k, v.second);
    std::sort(r.rbegin(), r.rend());
    if (!r.empty()) std::printf("  refused, by the verifier's error:\n");
    for (size_t i = 0; i < r.size() && i < 25; i++)
        std::printf("  %8llu  %s\n            e.g. %s\n", static_cast<unsigned long long>(std::get<0>(r[i])),
                    std::get<1>(r[i]).c_str(), std::get<2>(r[i]).c_str());
    if (r.size() > 25) std::printf("  ... and %zu other reasons\n", r.size() - 25);
    for (auto& [k, v] : s.skipped)
        std::printf("  skipped %llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
}

void worker(const Config& cfg, unsigned index, std::atomic<uint64_t>& next, std::atomic<uint64_t>& done,
            std::atomic<uint64_t>& reports, Stats& out) {
    Stats s;
    std::unique_ptr<KernelOracle> oracle;
    if (cfg.kernel) {
        std::string why;
        unsigned ncpu = std::max(1u, std::thread::hardware_concurrency());
        oracle = KernelOracle::open(why, static_cast<int>(index % ncpu));
        if (!oracle) {
            std::lock_guard<std::mutex> lock(g_print);
            std::fprintf(stderr, "differential_soak: --kernel: %s\n", why.c_str());
            std::exit(2);
        }
        set_current_cpu(oracle->cpu());
    }
    CheckOptions co;
    co.blinding = !cfg.no_blinding;
    for (;;) {
        uint64_t i = next.fetch_add(1);
        if (i >= cfg.count) break;
        Profile prof = profile_of(cfg, i);
        GenOptions go;
        go.profile = prof;
        go.errors = !cfg.no_errors;
        t_seed = cfg.seed + i;
        t_profile = prof == Profile::Full ? 0 : 1;
        t_errors = go.errors;
        GeneratedProgram p = generate(cfg.seed + i, go);
        s.generated++;
        (prof == Profile::Full ? s.full : s.kernel_profile)++;
        s.slots += p.insns.size();
        s.ops |= p.ops;
        s.faults += p.faults;
        s.budget_dependent += p.budget_dependent;
        CheckResult r = check(p, co);
        s.engine_runs += r.engines;
        if (cfg.show) {
            std::lock_guard<std::mutex> lock(g_print);
            std::printf("seed %llu (profile %s), %zu slots, memory %zu bytes, may_goto budget %llu, small budget "
                        "%llu:\n%s\nmemory: %s\n",
                        static_cast<unsigned long long>(p.seed), std::string(profile_name(prof)).c_str(),
                        p.insns.size(), p.memory.size(), static_cast<unsigned long long>(p.may_goto_budget),
                        static_cast<unsigned long long>(p.small_budget), listing(p).c_str(), hex(p.memory).c_str());
            for (const Outcome& o : r.outcomes)
                std::printf("  %-20s %s\n", std::string(engine_name(o.engine)).c_str(), o.describe().c_str());
        }
        switch (r.status) {
        case CheckResult::Status::Agreed:
            s.agreed++;
            if (!r.error.empty()) s.errors[error_kind(r.error)]++;
            s.budget_stopped += r.budget_stopped;
            if (!r.known.empty()) s.known[r.known]++;
            break;
        case CheckResult::Status::Disagreed:
        case CheckResult::Status::Invalid:
            (r.status == CheckResult::Status::Invalid ? s.invalid : s.disagreed)++;
            s.failures.push_back(p);
            if (reports.fetch_add(1) < cfg.max_reports || cfg.show) {
                std::lock_guard<std::mutex> lock(g_print);
                std::printf("\n%s\n", r.report.c_str());
                std::fflush(stdout);
            }
            break;
        }
        if (oracle) {
            KernelVerdict v = oracle->check(p);
            switch (v.status) {
            case KernelVerdict::Status::Agreed: s.k_agreed++; break;
            case KernelVerdict::Status::Refused: {
                s.k_refused++;
                auto& e = s.refused[v.reason];
                e.first++;
                if (e.second.empty())
                    e.second = fmt::format("{} (seed {}, profile {})", v.detail, p.seed, profile_name(p.profile));
                break;
            }
            case KernelVerdict::Status::Skipped: s.k_skipped++, s.skipped[v.reason]++; break;
            case KernelVerdict::Status::Disagreed:
                s.k_disagreed++;
                s.kernel_failures.push_back(p);
                if (reports.fetch_add(1) < cfg.max_reports || cfg.show) {
                    std::lock_guard<std::mutex> lock(g_print);
                    std::printf("\n%s\n", v.detail.c_str());
                    std::fflush(stdout);
                }
                break;
            }
            if (cfg.show) {
                std::lock_guard<std::mutex> lock(g_print);
                std::printf("  linux: %s%s\n",
                            v.status == KernelVerdict::Status::Agreed     ? "agrees"
                            : v.status == KernelVerdict::Status::Refused  ? "refused: "
                            : v.status == KernelVerdict::Status::Skipped  ? "skipped: "
                                                                          : "DISAGREES",
                            v.status == KernelVerdict::Status::Refused   ? v.detail.c_str()
                            : v.status == KernelVerdict::Status::Skipped ? v.reason.c_str()
                                                                         : "");
            }
        }
        t_profile = -1;
        done.fetch_add(1, std::memory_order_relaxed);
    }
    std::lock_guard<std::mutex> lock(g_print);
    out.merge(s);
}

std::vector<uint8_t> parse_hex(const std::string& text) {
    std::vector<uint8_t> out;
    std::string digits;
    for (char ch : text)
        if (std::isxdigit(static_cast<unsigned char>(ch))) digits += ch;
    for (size_t i = 0; i + 1 < digits.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
    return out;
}

int replay(const std::string& path, const std::string& mem_hex, size_t mem_size, uint64_t may_goto, uint64_t budget,
           bool faults, bool context_on_stack, size_t prologue, bool kernel) {
    if (context_on_stack) set_buffer_on_stack(true);
    std::ifstream f(path);
    if (!f) {
        std::fprintf(stderr, "differential_soak: cannot read %s\n", path.c_str());
        return 2;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    auto insns = assemble(ss.str());
    if (!insns) {
        std::fprintf(stderr, "differential_soak: %s: %s\n", path.c_str(), insns.error().to_string().c_str());
        return 2;
    }
    auto prog = Program::from_insns(*insns);
    if (!prog) {
        std::fprintf(stderr, "differential_soak: %s: %s\n", path.c_str(), prog.error().to_string().c_str());
        return 2;
    }
    GeneratedProgram p;
    p.origin = path;
    p.insns = *insns;
    p.functions.assign(prog->functions().begin(), prog->functions().end());
    p.memory = mem_hex.empty() ? std::vector<uint8_t>(mem_size, 0) : parse_hex(mem_hex);
    p.may_goto_budget = may_goto;
    p.small_budget = budget;
    p.faults = faults;
    p.prologue = prologue;
    if (kernel) {
        std::string why;
        auto oracle = KernelOracle::open(why);
        if (!oracle) {
            std::fprintf(stderr, "differential_soak: --kernel: %s\n", why.c_str());
            return 2;
        }
        set_current_cpu(oracle->cpu());
        KernelVerdict v = oracle->check(p);
        switch (v.status) {
        case KernelVerdict::Status::Agreed: std::printf("linux agrees\n"); break;
        case KernelVerdict::Status::Refused: std::printf("linux refuses it: %s\n", v.detail.c_str()); break;
        case KernelVerdict::Status::Skipped: std::printf("not compared with linux: %s\n", v.reason.c_str()); break;
        case KernelVerdict::Status::Disagreed: std::printf("%s\n", v.detail.c_str()); return 1;
        }
    }
    CheckOptions co;
    co.blinding = false;
    CheckResult r = check(p, co);
    set_buffer_on_stack(false);
    for (const Outcome& o : r.outcomes)
        std::printf("%-20s %s\n", std::string(engine_name(o.engine)).c_str(), o.describe().c_str());
    if (r.status == CheckResult::Status::Agreed && r.known.empty()) {
        std::printf("the engines agree\n");
        return 0;
    }
    std::printf("%s\n", r.report.c_str());
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    Config cfg;
    std::string replay_path, mem_hex;
    size_t mem_size = 64;
    uint64_t may_goto = kMaxLoops, budget = 100;
    bool faults = false, context_on_stack = false;
    size_t prologue = 0;
    CLI::App app{"differential_soak: generated eBPF programs on the interpreter and the JIT (fast and checked "
                 "modes), and on Linux with --kernel; reports what they disagree on"};
    app.add_option("--count", cfg.count, "Programs to generate")->capture_default_str();
    app.add_option("--seed", cfg.seed, "Seed of the first program (program i has seed + i)")->capture_default_str();
    app.add_option("--profile", cfg.profile, "full, kernel, or mixed (every third program kernel)")
        ->check(CLI::IsMember({"full", "kernel", "mixed"}))
        ->capture_default_str();
    app.add_flag("--kernel", cfg.kernel, "Also load every program into Linux and compare (needs root)");
    app.add_option("--jobs,-j", cfg.jobs, "Threads (default: one per CPU)");
    app.add_flag("--show", cfg.show, "Print every program and every engine's outcome");
    app.add_flag("--no-errors", cfg.no_errors, "No programs that stop with an error");
    app.add_flag("--no-blinding", cfg.no_blinding, "No runs of the JIT with constant blinding");
    app.add_option("--max-reports", cfg.max_reports, "Disagreements to print in full")->capture_default_str();
    app.add_option("--reduce", cfg.reduce_dir,
                   "Reduce every disagreement and write it to DIR/seed-<seed>.s (bpfvm engines only)");
    app.add_option("--progress", cfg.progress, "Seconds between progress lines (0: none)")->capture_default_str();
    app.add_option("--replay", replay_path, "Run an assembly file (a finding) on every engine instead");
    app.add_option("--mem-hex", mem_hex, "--replay: the memory, as hex bytes");
    app.add_option("--mem-size", mem_size, "--replay: zero-filled memory of this size (without --mem-hex)");
    app.add_option("--may-goto-budget", may_goto, "--replay: the may_goto budget");
    app.add_option("--budget", budget, "--replay: the instruction budget of the extra checked runs");
    app.add_flag("--faults", faults, "--replay: the program may access memory out of bounds: checked engines only");
    app.add_option("--prologue", prologue,
                   "--replay --kernel: slots at the start that Linux's prologue replaces (generated programs: 2)");
    app.add_flag("--context-on-stack", context_on_stack,
                 "--replay: the buffer is a local array of the caller, as an embedder's often is");
    CLI11_PARSE(app, argc, argv);

    if (!replay_path.empty()) return replay(replay_path, mem_hex, mem_size, may_goto, budget, faults, context_on_stack, prologue,
                                             cfg.kernel);

#ifndef SOAK_ASAN
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) std::signal(sig, on_crash);
#endif
    if (cfg.jobs == 0) cfg.jobs = std::max(1u, std::thread::hardware_concurrency());
    if (cfg.show) cfg.jobs = 1;
    std::atomic<uint64_t> next{0}, done{0}, reports{0};
    Stats total;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < cfg.jobs; t++)
        threads.emplace_back(worker, std::cref(cfg), t, std::ref(next), std::ref(done), std::ref(reports),
                             std::ref(total));
    auto last = t0;
    while (done.load() < cfg.count) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (next.load() >= cfg.count + cfg.jobs) break;
        auto now = std::chrono::steady_clock::now();
        if (cfg.progress > 0 && std::chrono::duration<double>(now - last).count() >= cfg.progress) {
            last = now;
            double s = std::chrono::duration<double>(now - t0).count();
            std::lock_guard<std::mutex> lock(g_print);
            std::fprintf(stderr, "... %llu programs in %.0f s (%.0f/s), %llu disagreements so far\n",
                         static_cast<unsigned long long>(done.load()), s, static_cast<double>(done.load()) / s,
                         static_cast<unsigned long long>(reports.load()));
        }
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_summary(total, seconds, cfg.kernel);

    if (!cfg.reduce_dir.empty() && !total.failures.empty()) {
        CheckOptions co;
        co.blinding = !cfg.no_blinding;
        for (size_t i = 0; i < total.failures.size() && i < cfg.max_reports; i++) {
            const GeneratedProgram& p = total.failures[i];
            GeneratedProgram small = reduce(p, co);
            CheckResult r = check(small, co);
            std::string path = fmt::format("{}/seed-{}.s", cfg.reduce_dir, p.seed);
            std::ofstream out(path);
            out << finding_text(small, fmt::format("The engines disagree ({}).", r.what), r, path);
            std::printf("reduced seed %llu from %zu to %zu slots: %s\n", static_cast<unsigned long long>(p.seed),
                        p.insns.size(), small.insns.size(), path.c_str());
        }
    }
    if (!cfg.reduce_dir.empty() && !total.kernel_failures.empty()) {
        std::string why;
        auto oracle = KernelOracle::open(why);
        for (size_t i = 0; oracle && i < total.kernel_failures.size() && i < cfg.max_reports; i++) {
            const GeneratedProgram& p = total.kernel_failures[i];
            GeneratedProgram small = reduce_for_kernel(p);
            set_current_cpu(oracle->cpu());
            KernelVerdict v = oracle->check(small);
            std::string path = fmt::format("{}/kernel-seed-{}.s", cfg.reduce_dir, p.seed);
            std::ofstream out(path);
            std::string note = "Linux and bpfvm disagree.\n" + v.detail.substr(0, v.detail.find("\nreproduce:"));
            note += fmt::format("\n\nReplay: ./build/tests/differential/differential_soak --replay {} --kernel --prologue {} "
                                "--mem-hex '{}'",
                                path, small.prologue, hex(small.memory));
            for (size_t a = 0; a < note.size();) {
                size_t nl = note.find('\n', a);
                if (nl == std::string::npos) nl = note.size();
                out << "# " << note.substr(a, nl - a) << "\n";
                a = nl + 1;
            }
            out << "\n" << listing(small, false);
            std::printf("reduced seed %llu (linux) from %zu to %zu slots: %s\n", static_cast<unsigned long long>(p.seed),
                        p.insns.size(), small.insns.size(), path.c_str());
        }
    }
    return total.disagreed + total.invalid + total.k_disagreed ? 1 : 0;
}
