// bpfvm_bench: runs every benchmark program natively and in each bpfvm engine,
// checks that all of them return what native code returns, then times them
// with Google Benchmark and prints ns/run per engine, the ratio of each engine
// to native code per program, and the geometric mean of the ratios.
//
//   bpfvm_bench [--engines=native,interp,...|all] [--bpf-dir=DIR] [--benchmark_* flags]
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
            if (auto runner = col.engine->prepare(p)) cell.runner = std::move(*runner);
            else cell.prepare_error = runner.error().to_string();
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
            std::string_view engine = suite.columns[c].kind->name;
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
            if (*r != *ref) {
                fail(fmt::format("{}: {} returned 0x{:x}, native returned 0x{:x}", name, engine, *r, *ref));
                row_ok = false;
            }
            if (*r != *ref || verbose) shown.push_back(fmt::format("{}=0x{:x}", engine, *r));
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
            double ns = r.GetAdjustedCPUTime() * ns_per_unit(r.time_unit);
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

// The table: ns/run per engine, then each engine's ratio to native, then the
// geometric mean of each ratio column (over the programs that ran in both).
void print_summary(const Suite& suite, const SummaryReporter& results, std::FILE* out) {
    const size_t engines = suite.columns.size();
    std::vector<std::string> header{"program", "BPF insns"};
    for (const auto& col : suite.columns) header.push_back(fmt::format("{} ns", col.kind->name));
    for (size_t c = 1; c < engines; c++) header.push_back(fmt::format("{}/native", suite.columns[c].kind->name));
    for (size_t c = 1; c < engines; c++) header.push_back(fmt::format("{} ns/insn", suite.columns[c].kind->name));

    std::vector<std::vector<std::string>> table;
    std::vector<double> log_sum(engines, 0.0);
    std::vector<int> count(engines, 0);
    for (const auto& row : suite.rows) {
        std::vector<double> ns;
        for (const auto& col : suite.columns) ns.push_back(results.ns(benchmark_name(row, col)));
        bool any = false;
        for (double v : ns) any |= !std::isnan(v);
        if (!any) continue; // filtered out
        std::vector<std::string> line{std::string(row.program->name),
                                      row.bpf_insns ? fmt::format("{}", row.bpf_insns) : "-"};
        for (double v : ns) line.push_back(std::isnan(v) ? "-" : fmt::format("{:.1f}", v));
        for (size_t c = 1; c < ns.size(); c++) {
            if (std::isnan(ns[c]) || std::isnan(ns[0]) || ns[0] <= 0) {
                line.emplace_back("-");
                continue;
            }
            double ratio = ns[c] / ns[0];
            log_sum[c] += std::log(ratio);
            count[c]++;
            line.push_back(fmt::format("{:.1f}x", ratio));
        }
        for (size_t c = 1; c < ns.size(); c++)
            line.push_back(std::isnan(ns[c]) || !row.bpf_insns ? "-" : fmt::format("{:.2f}", ns[c] / row.bpf_insns));
        table.push_back(std::move(line));
    }
    if (table.empty()) return;
    std::vector<std::string> geo{"geomean", ""};
    for (size_t c = 0; c < engines; c++) geo.emplace_back("");
    for (size_t c = 1; c < engines; c++)
        geo.push_back(count[c] ? fmt::format("{:.1f}x", std::exp(log_sum[c] / count[c])) : "-");
    for (size_t c = 1; c < engines; c++) geo.emplace_back("");
    table.push_back(std::move(geo));

    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); i++) width[i] = header[i].size();
    for (const auto& line : table)
        for (size_t i = 0; i < line.size(); i++) width[i] = std::max(width[i], line[i].size());
    auto print_line = [&](const std::vector<std::string>& cells) {
        std::string s = "|";
        for (size_t i = 0; i < cells.size(); i++)
            s += i == 0 ? fmt::format(" {:<{}} |", cells[i], width[i]) : fmt::format(" {:>{}} |", cells[i], width[i]);
        fmt::print(out, "{}\n", s);
    };
    fmt::print(out, "\nCPU time per run (ns), each engine's time relative to native code, and per BPF instruction executed:\n\n");
    print_line(header);
    std::string rule = "|";
    for (size_t i = 0; i < width.size(); i++) rule += i == 0 ? std::string(width[i] + 1, '-') + "-|" : " " + std::string(width[i], '-') + ":|";
    fmt::print(out, "{}\n", rule);
    for (const auto& line : table) print_line(line);
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

    for (auto& row : suite.rows) {
        if (!row.agrees) continue;
        if (auto prog = load_bpf_program(suite.config, *row.program)) {
            InputBuffer input(row.input);
            if (auto n = count_bpf_insns(*prog, input.data(), input.size())) row.bpf_insns = *n;
        }
        for (size_t c = 0; c < suite.columns.size(); c++) {
            Cell* cell = &row.cells[c];
            benchmark::RegisterBenchmark(benchmark_name(row, suite.columns[c]).c_str(),
                                         [cell](benchmark::State& state) {
                                             cell->runner->time(state, cell->input->data(), cell->input->size());
                                         })
                ->Unit(benchmark::kNanosecond);
        }
    }
    std::unique_ptr<benchmark::BenchmarkReporter> display(benchmark::CreateDefaultDisplayReporter());
    SummaryReporter reporter(display.get());
    benchmark::RunSpecifiedBenchmarks(&reporter);
    // The summary goes with the console output; with another format (JSON,
    // CSV) it goes to stderr so stdout stays machine-readable.
    bool console = dynamic_cast<benchmark::ConsoleReporter*>(display.get()) != nullptr;
    std::cout.flush();
    print_summary(suite, reporter, console ? stdout : stderr);
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
