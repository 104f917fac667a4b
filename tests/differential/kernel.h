// Linux as an oracle: a generated program loaded with bpf(BPF_PROG_LOAD) as
// BPF_PROG_TYPE_SCHED_CLS (kernel_program wraps it) and run on its buffer as
// a packet with BPF_PROG_TEST_RUN; its retval (32 bits) and the packet after
// the run compared with bpfvm's checked interpreter.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sched.h>

#include "bpfvm/insn.h"
#include "generator.h"

namespace bpfvm::difftest {

struct KernelVerdict {
    enum class Status { Agreed, Refused, Disagreed, Skipped } status = Status::Agreed;
    std::string reason; // Refused: the verifier's error with numbers replaced by N; Skipped: why
    std::string detail; // Refused: the verifier's error as printed; Disagreed: the report
    std::string what;   // Disagreed: "r0", "packet" or "bpfvm error"
};

class KernelOracle {
public:
    // The oracle, or nullptr and why Linux cannot be used here (not root, BPF
    // disabled, ...). The calling thread is pinned to one CPU (`cpu`, or its
    // first allowed one) until the oracle goes, so that
    // bpf_get_smp_processor_id is deterministic.
    static std::unique_ptr<KernelOracle> open(std::string& why_not, int cpu = -1);
    ~KernelOracle();
    KernelOracle(const KernelOracle&) = delete;
    KernelOracle& operator=(const KernelOracle&) = delete;

    KernelVerdict check(const GeneratedProgram& program);
    int cpu() const { return cpu_; }

    struct Load {
        int fd = -1;
        int error = 0;         // errno
        std::string log_line;  // the verifier's error
    };
    // Loads a SCHED_CLS program; on failure, loads it again with the
    // verifier's log to find its error.
    static Load load(std::span<const Insn> insns);
    struct TestRun {
        bool ok = false;
        int error = 0;
        uint32_t retval = 0;
        std::vector<uint8_t> data;
    };
    static TestRun test_run(int fd, const std::vector<uint8_t>& packet);

private:
    KernelOracle() = default;
    cpu_set_t saved_{};
    int cpu_ = 0;
};

// "invalid access to packet, off=12 size=8" -> "invalid access to packet, off=N size=N"
std::string normalise_reason(const std::string& line);

} // namespace bpfvm::difftest
