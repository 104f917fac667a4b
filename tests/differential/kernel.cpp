#include "kernel.h"

#include <cctype>
#include <cerrno>
#include <cstring>

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engines.h"

namespace bpfvm::difftest {

namespace {

long sys_bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

uint64_t ptr(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

// The verifier's error: the last line of its log that is not a statistic.
std::string error_line(const std::string& log) {
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < log.size()) {
        size_t nl = log.find('\n', pos);
        if (nl == std::string::npos) nl = log.size();
        std::string line = log.substr(pos, nl - pos);
        pos = nl + 1;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty()) continue;
        if (line.starts_with("processed ") || line.starts_with("verification time") ||
            line.starts_with("stack depth") || line.starts_with("mark_precise") || line.starts_with("func#"))
            continue;
        lines.push_back(line);
    }
    return lines.empty() ? std::string() : lines.back();
}

} // namespace

std::string normalise_reason(const std::string& line) {
    std::string out;
    for (size_t i = 0; i < line.size();) {
        if (std::isdigit(static_cast<unsigned char>(line[i])) || (line[i] == '-' && i + 1 < line.size() &&
                                                                  std::isdigit(static_cast<unsigned char>(line[i + 1])))) {
            out += 'N';
            i++;
            while (i < line.size() && (std::isxdigit(static_cast<unsigned char>(line[i])) || line[i] == 'x')) i++;
        } else {
            out += line[i++];
        }
    }
    if (out.size() > 160) out.resize(160);
    return out;
}

KernelOracle::Load KernelOracle::load(std::span<const Insn> insns) {
    static const char license[] = "GPL";
    Load l;
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
    attr.insns = ptr(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = ptr(license);
    l.fd = static_cast<int>(sys_bpf(BPF_PROG_LOAD, &attr));
    if (l.fd >= 0) return l;
    l.error = errno;
    // Again, with the log (the kernel keeps its tail when it overflows).
    std::string log(1 << 20, '\0');
    attr.log_level = 1;
    attr.log_buf = ptr(log.data());
    attr.log_size = static_cast<uint32_t>(log.size());
    int fd = static_cast<int>(sys_bpf(BPF_PROG_LOAD, &attr));
    if (fd >= 0) {
        // Accepted the second time (should not happen): use it.
        l.fd = fd;
        l.error = 0;
        return l;
    }
    log.resize(std::strlen(log.c_str()));
    l.log_line = error_line(log);
    if (l.log_line.empty()) l.log_line = fmt::format("bpf(BPF_PROG_LOAD): {}", std::strerror(l.error));
    return l;
}

KernelOracle::TestRun KernelOracle::test_run(int fd, const std::vector<uint8_t>& packet) {
    TestRun t;
    std::vector<uint8_t> out(packet.size() + 512);
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.test.prog_fd = static_cast<uint32_t>(fd);
    attr.test.data_in = ptr(packet.data());
    attr.test.data_size_in = static_cast<uint32_t>(packet.size());
    attr.test.data_out = ptr(out.data());
    attr.test.data_size_out = static_cast<uint32_t>(out.size());
    attr.test.repeat = 1;
    if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0) {
        t.error = errno;
        return t;
    }
    t.ok = true;
    t.retval = attr.test.retval;
    out.resize(std::min<size_t>(attr.test.data_size_out, out.size()));
    t.data = std::move(out);
    return t;
}

std::unique_ptr<KernelOracle> KernelOracle::open(std::string& why_not, int cpu) {
    // A trivial program: r0 = 42; exit.
    Insn prog[2];
    prog[0].opcode = BPF_ALU64 | BPF_MOV | BPF_K;
    prog[0].imm = 42;
    prog[1].opcode = BPF_JMP | BPF_EXIT;
    Load l = load(prog);
    if (l.fd < 0) {
        std::string hint;
        if (l.error == EPERM || l.error == EACCES)
            hint = geteuid() != 0 ? " (not root: loading SCHED_CLS programs needs CAP_BPF and CAP_NET_ADMIN)"
                                  : " (root, but not allowed: a security module or a container forbids bpf(2))";
        else if (l.error == ENOSYS)
            hint = " (this kernel has no bpf(2) system call)";
        why_not = fmt::format("Linux refuses to load a trivial BPF program: bpf(BPF_PROG_LOAD): {}{}",
                              std::strerror(l.error), hint);
        return nullptr;
    }
    std::vector<uint8_t> packet(64, 0);
    TestRun t = test_run(l.fd, packet);
    close(l.fd);
    if (!t.ok || t.retval != 42) {
        why_not = t.ok ? fmt::format("BPF_PROG_TEST_RUN of a trivial program returned {}, not 42", t.retval)
                       : fmt::format("bpf(BPF_PROG_TEST_RUN) fails: {}", std::strerror(t.error));
        return nullptr;
    }
    std::unique_ptr<KernelOracle> o(new KernelOracle());
    sched_getaffinity(0, sizeof o->saved_, &o->saved_);
    if (cpu < 0 || !CPU_ISSET(cpu, &o->saved_)) {
        cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &o->saved_)) cpu++;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) {
        why_not = fmt::format("cannot pin the thread to CPU {}: {}", cpu, std::strerror(errno));
        return nullptr;
    }
    o->cpu_ = cpu;
    return o;
}

KernelOracle::~KernelOracle() { sched_setaffinity(0, sizeof saved_, &saved_); }

KernelVerdict KernelOracle::check(const GeneratedProgram& p) {
    KernelVerdict v;
    if (p.budget_dependent) {
        v.status = KernelVerdict::Status::Skipped;
        v.reason = "a loop only may_goto ends (Linux limits may_goto by time, bpfvm by count)";
        return v;
    }
    if (p.address_dependent) {
        v.status = KernelVerdict::Status::Skipped;
        v.reason = "computes with addresses (bpfvm's engines share them; Linux's are its own)";
        return v;
    }
    std::vector<Insn> kprog = kernel_program(p);
    Load l = load(kprog);
    if (l.fd < 0) {
        v.status = KernelVerdict::Status::Refused;
        v.reason = normalise_reason(l.log_line);
        v.detail = l.log_line;
        return v;
    }
    TestRun t = test_run(l.fd, p.memory);
    close(l.fd);
    if (!t.ok) {
        v.status = KernelVerdict::Status::Refused;
        v.reason = fmt::format("BPF_PROG_TEST_RUN: {}", std::strerror(t.error));
        v.detail = v.reason;
        return v;
    }

    set_current_cpu(cpu_);
    Outcome ref = run_engine(p, Engine::InterpChecked, uint64_t(1) << 28, kMaxLoops);
    ref.memory.resize(p.memory.size()); // the buffer (not the regions and the stack)
    std::string what;
    if (!ref.ok) {
        v.what = "bpfvm error";
        what = fmt::format("bpfvm stops with an error, Linux returns {} (0x{:x})", t.retval, t.retval);
    } else if (static_cast<uint32_t>(ref.r0) != t.retval) {
        v.what = "r0";
        what = fmt::format("r0 differs: bpfvm 0x{:x} (low 32 bits 0x{:x}), Linux 0x{:x}", ref.r0,
                           static_cast<uint32_t>(ref.r0), t.retval);
    } else if (t.data != ref.memory) {
        v.what = "packet";
        size_t i = 0;
        while (i < t.data.size() && i < ref.memory.size() && t.data[i] == ref.memory[i]) i++;
        what = fmt::format("the packet differs (from byte {}; Linux returned {} bytes, bpfvm has {})", i,
                           t.data.size(), ref.memory.size());
    } else {
        v.status = KernelVerdict::Status::Agreed;
        return v;
    }
    v.status = KernelVerdict::Status::Disagreed;
    const std::string who =
        p.origin.empty() ? fmt::format("seed {} (profile {})", p.seed, profile_name(p.profile)) : p.origin;
    const std::string again = p.origin.empty() ? "reproduce: " + reproduce_command(p) + " --kernel\n" : "";
    v.detail = fmt::format("{}: bpfvm and Linux disagree: {}\n  bpfvm: {}\n  linux: retval 0x{:x}\n"
                           "  bpfvm memory: {}\n  linux packet: {}\n{}program (memory {} bytes: {}):\n{}",
                           who, what, ref.describe(), t.retval, hex(ref.memory), hex(t.data), again, p.memory.size(),
                           hex(p.memory), listing(p));
    return v;
}

} // namespace bpfvm::difftest
