// bpfvm trace: reads the trace pipe bpf_trace_printk writes to (every bpfvm
// process on the machine writes to the same one), as `bpftool prog tracelog`
// reads /sys/kernel/tracing/trace_pipe.
#include <csignal>
#include <iostream>

#include <fmt/format.h>

#include "bpfvm/helpers.h"
#include "commands.h"

namespace bpfvm::cli {
namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
} // namespace

Command add_trace(CLI::App& app) {
    struct Options {
        uint64_t count = 0;
        int64_t timeout_ms = -1;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd = app.add_subcommand("trace", "Print the lines programs write with bpf_trace_printk (the trace pipe)");
    cmd->add_option("-n,--count", o->count, "Stop after this many lines (default: run until interrupted)");
    cmd->add_option("-t,--timeout", o->timeout_ms, "Stop when no line came for this many milliseconds");
    return {cmd, [o] {
                auto pipe = TracePipe::open();
                if (!pipe) return report(pipe.error().to_string());
                std::signal(SIGINT, on_signal);
                std::signal(SIGTERM, on_signal);
                uint64_t lines = 0;
                uint64_t lost = (*pipe)->lost();
                int64_t idle = 0;
                while (!g_stop && (o->count == 0 || lines < o->count)) {
                    auto line = (*pipe)->read(std::chrono::milliseconds(100));
                    if (uint64_t now = (*pipe)->lost(); now != lost) {
                        std::cerr << fmt::format("bpfvm: {} lines were dropped (the pipe was full)\n", now - lost);
                        lost = now;
                    }
                    if (!line) {
                        idle += 100;
                        if (o->timeout_ms >= 0 && idle >= o->timeout_ms) break;
                        continue;
                    }
                    idle = 0;
                    std::cout << *line << std::flush;
                    lines++;
                }
                return 0;
            }};
}

} // namespace bpfvm::cli
