// bpfvm_bench: runs every benchmark program natively, in each bpfvm engine
// and in the Linux kernel (where this process may load BPF programs), checks
// that all of them return what native code returns, then times them with
// Google Benchmark and prints ns/run per engine, the ratio of each engine to
// native code (and of the JIT to the kernel, and of the checked JIT to the
// JIT) per program, the geometric means of the ratios, the cost of calling an
// empty program, and the JIT's compile time per 1000 instructions.
//
//   bpfvm_bench [--engines=native,jit,...|all] [--bpf-dir=DIR] [--benchmark_* flags]
//   bpfvm_bench --check      compare results only (all engines), no timing
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/jit.h"
#include "engines.h"
#include "programs.h"

#ifndef BPFVM_BENCH_BPF_DIR
#error "BPFVM_BENCH_BPF_DIR (the directory of the compiled BPF objects) must be defined"
#endif

namespace bpfvm::bench {
namespace {

struct Options {
    bool check = false;
    bool keep_going = false; // time the programs that agree even when others do not
    bool all_engines = false;
    std::vector<std::string> engines; // empty: the defaults (timing) or all (--check)
    std::string bpf_dir;
};

void print_usage() {
    fmt::print("bpfvm_bench: benchmark programs run natively and by bpfvm's engines.\n\n"
               "  --check                 only check that every engine returns what native code returns\n"
               "                          (all available engines unless --engines is given), then exit\n"
               "  --keep-going            when some programs fail the check, still time the others\n"
               "                          (the exit status is still non-zero)\n"
               "  --engines=LIST          engines to time, comma-separated, or 'all'; native is always included\n"
               "  --bpf-dir=DIR           directory of the <program>.bpf.o objects\n"
               "                          (default: $BPFVM_BENCH_BPF_DIR, else {})\n\n"
               "Engines:\n",
               BPFVM_BENCH_BPF_DIR);
    for (const auto& k : engine_kinds())
        fmt::print("  {:<16}{}{}\n", k.name, k.description, k.timed_by_default ? "" : " [not timed by default]");
    fmt::print("\nPrograms:\n");
    for (const auto& p : bench_programs()) fmt::print("  {:<16}{}\n", p.name, p.summary);
    fmt::print("\nGoogle Benchmark flags:\n");
    benchmark::PrintDefaultHelp();
}

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        size_t comma = s.find(',');
        std::string_view part = s.substr(0, comma);
        if (!part.empty()) out.emplace_back(part);
        if (comma == std::string_view::npos) break;
        s.remove_prefix(comma + 1);
    }
    return out;
}

// Takes the harness's own flags out of argv; the rest is Google Benchmark's.
Options take_own_flags(int& argc, char** argv) {
    Options o;
    const char* env_dir = std::getenv("BPFVM_BENCH_BPF_DIR");
    o.bpf_dir = env_dir && *env_dir ? env_dir : BPFVM_BENCH_BPF_DIR;
    int out = 1;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--check") {
            o.check = true;
        } else if (a == "--keep-going") {
            o.keep_going = true;
        } else if (a.starts_with("--engines=")) {
            auto list = split(a.substr(10));
            if (list.size() == 1 && list[0] == "all") o.all_engines = true;
            else o.engines = std::move(list);
        } else if (a.starts_with("--bpf-dir=")) {
            o.bpf_dir = std::string(a.substr(10));
        } else {
            argv[out++] = argv[i];
        }
    }
    argc = out;
    argv[argc] = nullptr;
    return o;
}

struct Column {
    const EngineKind* kind;
    std::unique_ptr<Engine> engine;
};

struct Cell {
    std::unique_ptr<Runner> runner; // null when the engine could not prepare the program
    std::string prepare_error;
    bool skipped = false; // not run by an engine that may skip programs; prepare_error says why
    std::unique_ptr<InputBuffer> input;
};

struct Row {
    const BenchProgram* program;
    Input input;
    std::vector<Cell> cells; // one per column
    bool agrees = false;     // set by check_suite
    uint64_t bpf_insns = 0;  // BPF instructions one run executes (0: unknown)
};

struct Suite {
    EngineConfig config;
    std::vector<Column> columns; // [0] is native
    std::vector<Row> rows;
};

[[noreturn]] void die(const std::string& message) {
    std::fflush(stdout);
    fmt::print(stderr, "bpfvm_bench: error: {}\n", message);
    std::exit(1);
}

// The engines to use: native first, then the chosen ones. Unknown names are
// an error; an engine that is unavailable here is skipped with a note unless
// it was asked for by name.
std::vector<Column> make_columns(const Options& o, const EngineConfig& config) {
    std::vector<std::string> wanted = o.engines;
    bool by_name = !wanted.empty();
    if (!by_name)
        for (const auto& k : engine_kinds())
            if (o.all_engines || o.check || k.timed_by_default) wanted.emplace_back(k.name);
    for (const auto& w : wanted) {
        bool known = false;
        for (const auto& k : engine_kinds()) known |= k.name == w;
        if (!known) die(fmt::format("unknown engine '{}' (see --help)", w));
    }
    std::vector<Column> columns;
    for (const auto& k : engine_kinds()) {
        bool reference = &k == &engine_kinds()[0];
        bool chosen = reference;
        for (const auto& w : wanted) chosen |= k.name == w;
        if (!chosen) continue;
        auto engine = k.create(config);
        if (!engine) {
            if (reference || by_name) die(fmt::format("engine {}: {}", k.name, engine.error().to_string()));
            fmt::print(stderr, "bpfvm_bench: note: engine {} skipped: {}\n", k.name, engine.error().to_string());
            continue;
        }
        columns.push_back(Column{&k, std::move(*engine)});
    }
    return columns;
}

Suite make_suite(const Options& o) {
    Suite suite;
    suite.config.bpf_dir = o.bpf_dir;
    suite.columns = make_columns(o, suite.config);
    for (const auto& p : bench_programs()) {
        Row row{&p, p.make_input(), {}};
        for (auto& col : suite.columns) {
            Cell cell;
            cell.input = std::make_unique<InputBuffer>(row.input);
            if (auto runner = col.engine->prepare(p)) {
                cell.runner = std::move(*runner);
            } else {
                cell.prepare_error = runner.error().to_string();
                cell.skipped = col.kind->may_skip_programs;
                if (cell.skipped)
                    fmt::print(stderr, "bpfvm_bench: note: engine {} skips {}: {}\n", col.kind->name, p.name,
                               cell.prepare_error);
            }
            row.cells.push_back(std::move(cell));
        }
        suite.rows.push_back(std::move(row));
    }
    return suite;
}

// Runs every program once in every engine and compares with native code (and
// native code with the harness's own computation, where the program has one).
// Returns whether everything agreed; prints every disagreement.
bool check_suite(Suite& suite, bool verbose) {
    bool ok = true;
    std::vector<std::string> problems; // of the current row, printed after its line
    auto fail = [&](const std::string& msg) {
        problems.push_back(msg);
        ok = false;
    };
    for (auto& row : suite.rows) {
        std::string_view name = row.program->name;
        problems.clear();
        std::vector<std::string> shown;
        if (!row.cells[0].runner) die(fmt::format("{}: native: {}", name, row.cells[0].prepare_error));
        auto ref = row.cells[0].runner->run(row.cells[0].input->data(), row.cells[0].input->size());
        if (!ref) die(fmt::format("{}: native run failed: {}", name, ref.error().to_string()));
        bool row_ok = true;
        if (row.input.validate) {
            if (std::string why = row.input.validate(*ref); !why.empty()) {
                fail(fmt::format("{}: native returned 0x{:x}: {}", name, *ref, why));
                row_ok = false;
            }
        }
        shown.push_back(fmt::format("native=0x{:x}", *ref));
        for (size_t c = 1; c < row.cells.size(); c++) {
            const EngineKind& kind = *suite.columns[c].kind;
            std::string_view engine = kind.name;
            if (row.cells[c].skipped) {
                shown.push_back(fmt::format("{}=(skipped)", engine));
                continue;
            }
            if (!row.cells[c].runner) {
                fail(fmt::format("{}: {} cannot load it: {}", name, engine, row.cells[c].prepare_error));
                shown.push_back(fmt::format("{}=(not loaded)", engine));
                row_ok = false;
                continue;
            }
            auto r = row.cells[c].runner->run(row.cells[c].input->data(), row.cells[c].input->size());
            if (!r) {
                fail(fmt::format("{}: {} failed: {}", name, engine, r.error().to_string()));
                row_ok = false;
                continue;
            }
            // Engines that return 32 bits return the fold of the result.
            uint64_t want = kind.folds_result ? fold32(*ref) : *ref;
            if (*r != want) {
                fail(fmt::format("{}: {} returned 0x{:x}, native returned 0x{:x}{}", name, engine, *r, *ref,
                                 kind.folds_result ? fmt::format(" (folded to 32 bits: 0x{:x})", want) : ""));
                row_ok = false;
            }
            if (*r != want || verbose)
                shown.push_back(fmt::format("{}=0x{:x}{}", engine, *r, kind.folds_result ? "(fold32)" : ""));
        }
        row.agrees = row_ok;
        if (verbose) {
            std::string line;
            for (const auto& s : shown) line += " " + s;
            fmt::print("{:<14} {}{}\n", name, row_ok ? "ok  " : "FAIL", line);
            std::fflush(stdout);
        }
        for (const auto& p : problems) fmt::print(stderr, "bpfvm_bench: FAIL: {}\n", p);
    }
    return ok;
}

// Forwards to the display reporter and keeps each benchmark's CPU ns/run.
class SummaryReporter final : public benchmark::BenchmarkReporter {
public:
    explicit SummaryReporter(benchmark::BenchmarkReporter* display) : display_(display) {}

    bool ReportContext(const Context& context) override { return display_->ReportContext(context); }
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            if (r.error_occurred) {
                errors_.push_back(r.benchmark_name() + ": " + r.error_message);
                continue;
            }
            // CPU time, except for runners that time themselves (the kernel's
            // own measurement, reported as manual time).
            bool manual = r.run_name.time_type == "manual_time";
            double ns = (manual ? r.GetAdjustedRealTime() : r.GetAdjustedCPUTime()) * ns_per_unit(r.time_unit);
            // With --benchmark_report_aggregates_only only the aggregates come here.
            if (r.run_type == Run::RT_Iteration) ns_[r.run_name.function_name].push_back(ns);
            else if (r.aggregate_name == "median") median_[r.run_name.function_name] = ns;
        }
        display_->ReportRuns(runs);
    }
    void Finalize() override { display_->Finalize(); }

    // Median over repetitions; NAN when the benchmark did not run.
    double ns(const std::string& name) const {
        if (auto m = median_.find(name); m != median_.end()) return m->second;
        auto it = ns_.find(name);
        if (it == ns_.end() || it->second.empty()) return NAN;
        auto v = it->second;
        std::sort(v.begin(), v.end());
        size_t m = v.size() / 2;
        return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    }
    const std::vector<std::string>& errors() const { return errors_; }

private:
    static double ns_per_unit(benchmark::TimeUnit u) {
        switch (u) {
        case benchmark::kNanosecond: return 1;
        case benchmark::kMicrosecond: return 1e3;
        case benchmark::kMillisecond: return 1e6;
        case benchmark::kSecond: return 1e9;
        }
        return 1;
    }

    benchmark::BenchmarkReporter* display_;
    std::map<std::string, std::vector<double>> ns_;
    std::map<std::string, double> median_;
    std::vector<std::string> errors_;
};

std::string benchmark_name(const Row& row, const Column& col) {
    return fmt::format("{}/{}", row.program->name, col.kind->name);
}

// A markdown table, columns right-aligned except the first.
void print_table(std::FILE* out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& table) {
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); i++) width[i] = header[i].size();
    for (const auto& line : table)
        for (size_t i = 0; i < line.size() && i < width.size(); i++) width[i] = std::max(width[i], line[i].size());
    auto print_line = [&](const std::vector<std::string>& cells) {
        std::string s = "|";
        for (size_t i = 0; i < width.size(); i++) {
            std::string_view cell = i < cells.size() ? std::string_view(cells[i]) : std::string_view();
            s += i == 0 ? fmt::format(" {:<{}} |", cell, width[i]) : fmt::format(" {:>{}} |", cell, width[i]);
        }
        fmt::print(out, "{}\n", s);
    };
    print_line(header);
    std::string rule = "|";
    for (size_t i = 0; i < width.size(); i++)
        rule += i == 0 ? std::string(width[i] + 1, '-') + "-|" : " " + std::string(width[i], '-') + ":|";
    fmt::print(out, "{}\n", rule);
    for (const auto& line : table) print_line(line);
}

int column_of(const Suite& suite, std::string_view engine) {
    for (size_t c = 0; c < suite.columns.size(); c++)
        if (suite.columns[c].kind->name == engine) return static_cast<int>(c);
    return -1;
}

// The JIT's compile time: JitProgram::compile of each program (and of
// generated ones, large enough for a per-instruction figure), in both modes.
struct CompileCase {
    std::string name; // benchmark "compile/<name>" (fast mode) and "compile_checked/<name>"
    std::shared_ptr<const Program> program;
};

// A program of about `slots` instruction slots, as clang's output mixes them:
// 64- and 32-bit ALU with registers and immediates, stack loads and stores,
// forward conditional jumps, lddw, byte swaps. Only compiled, never run.
Result<Program> generated_program(size_t slots) {
    std::string text = "r6 = r1\nr7 = r2\n";
    for (int r = 1; r <= 9; r++)
        if (r != 6 && r != 7) text += fmt::format("r{} = {}\n", r, r * 1000 + 7);
    size_t n = 0;
    for (uint32_t i = 0; n < slots; i++) {
        int a = 1 + static_cast<int>(i * 7 % 9), b = 1 + static_cast<int>((i * 5 + 3) % 9);
        int off = 8 + 8 * static_cast<int>(i % 32);
        int imm = static_cast<int>((i * 2654435761u) >> 20);
        switch (i % 16) {
        case 0: text += fmt::format("r{} += r{}\n", a, b); break;
        case 1: text += fmt::format("r{} ^= {}\n", a, imm); break;
        case 2: text += fmt::format("w{} += w{}\n", a, b); break;
        case 3: text += fmt::format("r{} = *(u64 *)(r10 - {})\n", a, off); break;
        case 4: text += fmt::format("*(u64 *)(r10 - {}) = r{}\n", off, a); break;
        case 5: text += fmt::format("if r{} > {} goto +{}\n", a, imm, 1 + i % 2); break; // not into the lddw
        case 6: text += fmt::format("r{} <<= {}\n", a, 1 + i % 63); break;
        case 7: text += fmt::format("r{} *= r{}\n", a, b); break;
        case 8: text += fmt::format("r{} = 0x{:x} ll\n", a, uint64_t(i) * 0x9e3779b97f4a7c15ull); n++; break;
        case 9: text += fmt::format("w{} = w{}\n", a, b); break;
        case 10: text += fmt::format("if w{} == w{} goto +2\n", a, b); break;
        case 11: text += fmt::format("r{} |= r{}\n", a, b); break;
        case 12: text += fmt::format("r{} >>= r{}\n", a, b); break;
        case 13: text += fmt::format("r{} -= {}\n", a, imm); break;
        case 14: text += fmt::format("r{} = be32 r{}\n", a, a); break;
        default: text += fmt::format("r{} &= {}\n", a, imm); break;
        }
        n++;
    }
    text += "r0 = r1\nr0 += r2\nr0 += r3\nexit\n"; // the last jumps land here
    auto insns = assemble(text);
    if (!insns) return tl::unexpected(insns.error());
    return Program::from_insns(std::move(*insns), fmt::format("generated_{}", slots));
}

void register_compile_benchmarks(const std::vector<CompileCase>& cases) {
    for (bool checked : {false, true}) {
        JitOptions options;
        options.checked = checked;
        for (const auto& c : cases) {
            auto program = c.program;
            benchmark::RegisterBenchmark((std::string(checked ? "compile_checked/" : "compile/") + c.name).c_str(),
                                         [program, options](benchmark::State& state) {
                                             for (auto _ : state) {
                                                 auto jit = JitProgram::compile(*program, default_helpers(), {},
                                                                                options);
                                                 if (!jit) {
                                                     state.SkipWithError(jit.error().to_string().c_str());
                                                     break;
                                                 }
                                                 benchmark::DoNotOptimize(jit);
                                             }
                                         })
                ->Unit(benchmark::kMicrosecond);
        }
    }
}

std::string ratio_text(double r) { return fmt::format("{:.2f}x", r); }

// The tables: ns/run per engine and the ratios (each engine to native code,
// the JIT to the kernel, the checked JIT to the JIT) with their geometric
// means and maxima over the programs that ran in both (fixed-cost probes left
// out); the cost of calling the empty program; the JIT's compile time.
void print_summary(const Suite& suite, const std::vector<CompileCase>& compiles, const SummaryReporter& results,
                   std::FILE* out) {
    const size_t engines = suite.columns.size();
    std::vector<std::string> header{"program", "BPF insns"};
    for (const auto& col : suite.columns) header.push_back(fmt::format("{} ns", col.kind->name));
    // Ratio columns: numerator and denominator column; `net`: both less their
    // time on the empty program (the kernel's BPF_PROG_TEST_RUN loop costs tens
    // of ns a repeat, which a caller of bpfvm does not pay).
    struct Ratio {
        int n, d;
        bool net = false;
    };
    std::vector<Ratio> ratios;
    for (size_t c = 1; c < engines; c++) ratios.push_back({static_cast<int>(c), 0});
    int jit = column_of(suite, "jit"), jit_checked = column_of(suite, "jit_checked"),
        kernel = column_of(suite, "kernel");
    if (jit >= 0 && kernel >= 0) {
        ratios.push_back({jit, kernel});
        ratios.push_back({jit, kernel, true});
    }
    if (jit >= 0 && jit_checked >= 0) ratios.push_back({jit_checked, jit});
    for (auto r : ratios)
        header.push_back(fmt::format("{}/{}{}", suite.columns[r.n].kind->name, suite.columns[r.d].kind->name,
                                     r.net ? " (net)" : ""));

    std::vector<std::vector<std::string>> table;
    std::vector<double> log_sum(ratios.size(), 0.0), worst(ratios.size(), 0.0);
    std::vector<std::string> worst_name(ratios.size());
    std::vector<int> count(ratios.size(), 0);
    const Row* empty_row = nullptr;
    std::vector<double> empty_ns;
    std::vector<const Row*> shown;
    for (const auto& row : suite.rows) {
        std::vector<double> ns;
        for (const auto& col : suite.columns) ns.push_back(results.ns(benchmark_name(row, col)));
        bool any = false;
        for (double v : ns) any |= !std::isnan(v);
        if (!any) continue; // filtered out
        shown.push_back(&row);
        if (row.program->fixed_cost && !empty_row) {
            empty_row = &row;
            empty_ns = ns;
        }
        std::vector<std::string> line{std::string(row.program->name) + (row.program->fixed_cost ? " (*)" : ""),
                                      row.bpf_insns ? fmt::format("{}", row.bpf_insns) : "-"};
        for (double v : ns) line.push_back(std::isnan(v) ? "-" : fmt::format("{:.1f}", v));
        for (size_t k = 0; k < ratios.size(); k++) {
            double num = ns[ratios[k].n], den = ns[ratios[k].d];
            if (ratios[k].net) {
                if (row.program->fixed_cost || empty_ns.empty()) {
                    line.emplace_back("-");
                    continue;
                }
                num -= empty_ns[ratios[k].n];
                den -= empty_ns[ratios[k].d];
            }
            if (std::isnan(num) || std::isnan(den) || den <= 0 || num <= 0) {
                line.emplace_back("-");
                continue;
            }
            double ratio = num / den;
            if (!row.program->fixed_cost) {
                log_sum[k] += std::log(ratio);
                count[k]++;
                if (ratio > worst[k]) {
                    worst[k] = ratio;
                    worst_name[k] = row.program->name;
                }
            }
            line.push_back(ratio_text(ratio));
        }
        table.push_back(std::move(line));
    }
    if (!table.empty()) {
        std::vector<std::string> geo{"geomean", ""}, max{"max", ""};
        for (size_t c = 0; c < engines; c++) {
            geo.emplace_back("");
            max.emplace_back("");
        }
        for (size_t k = 0; k < ratios.size(); k++) {
            geo.push_back(count[k] ? "**" + ratio_text(std::exp(log_sum[k] / count[k])) + "**" : "-");
            max.push_back(count[k] ? fmt::format("{} {}", worst_name[k], ratio_text(worst[k])) : "-");
        }
        table.push_back(std::move(geo));
        table.push_back(std::move(max));
        fmt::print(out, "\nTime per run (ns; CPU time, the kernel's own measurement for the kernel), and ratios. "
                        "BPF insns: instructions one run executes.\n"
                        "(*) fixed-cost probe, left out of geomean and max. (net): both times less the "
                        "engine's time on the empty program.\n\n");
        print_table(out, header, table);
    }
    for (const Row* row_ptr : shown)
        for (size_t c = 1; c < engines; c++)
            if (const Row& row = *row_ptr; row.cells[c].skipped)
                fmt::print(out, "\n{} does not run {}: {}\n", suite.columns[c].kind->name, row.program->name,
                           row.cells[c].prepare_error);

    if (empty_row) {
        std::string costs;
        for (size_t c = 0; c < engines; c++) {
            if (std::isnan(empty_ns[c])) continue;
            costs += fmt::format("{}{} {:.1f} ns", costs.empty() ? "" : ", ", suite.columns[c].kind->name,
                                 empty_ns[c]);
        }
        fmt::print(out, "\nCalling the empty program ({}): {}.{}\n", empty_row->program->name, costs,
                   kernel >= 0 ? " The kernel's figure is BPF_PROG_TEST_RUN's time per repeat: its loop's own cost."
                               : "");
    }

    // Compile time.
    std::vector<std::vector<std::string>> ctable;
    // Least squares fit of time against size: fixed cost and cost per instruction.
    struct Fit {
        double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        void add(double x, double y) {
            n++;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        std::string text() const {
            double d = n * sxx - sx * sx;
            if (n < 2 || d <= 0) return "-";
            double slope = (n * sxy - sx * sy) / d, fixed = (sy - slope * sx) / n;
            return fmt::format("{:.1f} us + {:.1f} us/1000", fixed, slope * 1000);
        }
    } fits[2];
    for (const auto& c : compiles) {
        double us[2] = {results.ns("compile/" + c.name) / 1e3, results.ns("compile_checked/" + c.name) / 1e3};
        if (std::isnan(us[0]) && std::isnan(us[1])) continue;
        double size = static_cast<double>(c.program->size());
        std::vector<std::string> line{c.name, fmt::format("{}", c.program->size())};
        for (int m = 0; m < 2; m++) {
            if (std::isnan(us[m])) {
                line.emplace_back("-");
                line.emplace_back("-");
                continue;
            }
            fits[m].add(size, us[m]);
            line.push_back(fmt::format("{:.1f}", us[m]));
            line.push_back(fmt::format("{:.1f}", us[m] * 1000 / size));
        }
        ctable.push_back(std::move(line));
    }
    if (!ctable.empty()) {
        ctable.push_back({"fit: fixed + per 1000", "", fits[0].text(), "", fits[1].text(), ""});
        fmt::print(out, "\nJIT compile time (JitProgram::compile, CPU time, from a decoded Program to code ready to "
                        "run). BPF insns: Program::size().\n\n");
        print_table(out, {"program", "BPF insns", "jit us", "jit us/1000 insns", "jit_checked us",
                          "jit_checked us/1000 insns"},
                    ctable);
    }
    std::fflush(out);
}

int run(int argc, char** argv) {
    Options options = take_own_flags(argc, argv);
    if (!options.check) {
        benchmark::Initialize(&argc, argv, print_usage);
        if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    } else if (argc > 1) {
        fmt::print(stderr, "bpfvm_bench: --check takes no other arguments (got '{}')\n", argv[1]);
        return 1;
    }

    Suite suite = make_suite(options);
    bool all_agree = check_suite(suite, options.check);
    if (options.check) {
        if (!all_agree) return 1;
        fmt::print("all {} programs agree across {} engines\n", suite.rows.size(), suite.columns.size());
        return 0;
    }
    if (!all_agree) {
        if (!options.keep_going) {
            fmt::print(stderr, "bpfvm_bench: engines disagree with native code; not timing (--keep-going times "
                               "the programs that agree)\n");
            return 1;
        }
        fmt::print(stderr, "bpfvm_bench: timing only the programs that agree; exit status will be 1\n");
    }

    bool with_jit = column_of(suite, "jit") >= 0 || column_of(suite, "jit_checked") >= 0;
    std::vector<CompileCase> compiles;
    for (auto& row : suite.rows) {
        if (!row.agrees) continue;
        if (auto prog = load_bpf_program(suite.config, *row.program)) {
            InputBuffer input(row.input);
            if (auto n = count_bpf_insns(*prog, input.data(), input.size())) row.bpf_insns = *n;
            if (with_jit)
                compiles.push_back({std::string(row.program->name), std::make_shared<const Program>(std::move(*prog))});
        }
        for (size_t c = 0; c < suite.columns.size(); c++) {
            Cell* cell = &row.cells[c];
            if (!cell->runner) continue; // skipped by this engine
            auto* b = benchmark::RegisterBenchmark(benchmark_name(row, suite.columns[c]).c_str(),
                                                   [cell](benchmark::State& state) {
                                                       cell->runner->time(state, cell->input->data(),
                                                                          cell->input->size());
                                                   })
                          ->Unit(benchmark::kNanosecond);
            if (suite.columns[c].kind->manual_time) b->UseManualTime();
        }
    }
    if (with_jit) {
        for (size_t slots : {1024, 4096, 16384}) {
            auto prog = generated_program(slots);
            if (!prog) die(fmt::format("generated program: {}", prog.error().to_string()));
            compiles.push_back({prog->name(), std::make_shared<const Program>(std::move(*prog))});
        }
        register_compile_benchmarks(compiles);
    }
    std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
    SummaryReporter reporter(display.get());
    benchmark::RunSpecifiedBenchmarks(&reporter);
    // The summary goes with the console output; with another format (JSON,
    // CSV) it goes to stderr so stdout stays machine-readable.
    bool console = dynamic_cast<benchmark::ConsoleReporter*>(display.get()) != nullptr;
    std::cout.flush();
    print_summary(suite, compiles, reporter, console ? stdout : stderr);
    benchmark::Shutdown();
    for (const auto& e : reporter.errors()) fmt::print(stderr, "bpfvm_bench: error: {}\n", e);
    if (!all_agree) {
        std::string failed;
        for (const auto& row : suite.rows)
            if (!row.agrees) failed += fmt::format(" {}", row.program->name);
        fmt::print(stderr, "bpfvm_bench: error: not timed because engines disagree:{}\n", failed);
    }
    return reporter.errors().empty() && all_agree ? 0 : 1;
}

} // namespace
} // namespace bpfvm::bench

int main(int argc, char** argv) { return bpfvm::bench::run(argc, argv); }
