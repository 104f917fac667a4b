// The scalar domain beside Linux's verifier on this machine: random
// straight-line programs over four unknown registers are loaded with
// log_level 2, and after every instruction the register states the kernel
// prints are compared with the domain's. The domain must never know less than
// the kernel (so that whatever Linux accepts, the verifier built on it can
// accept); where it knows more, the case is counted and a few are printed.
// Skipped where BPF programs cannot be loaded (not root).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <bpfvm/asm.h>

#include "scalar_gen.h"
#include "verifier/scalar.h"

namespace bpfvm::verifier {
namespace {

Insn insn(uint8_t opcode, uint8_t dst, uint8_t src, int16_t off = 0, int32_t imm = 0) {
    Insn i;
    i.opcode = opcode;
    i.dst = dst;
    i.src = src;
    i.off = off;
    i.imm = imm;
    return i;
}

struct KernelLoad {
    int fd = -1;
    int error = 0;
    std::string log;
};

KernelLoad kernel_load(const std::vector<Insn>& insns) {
    static std::vector<char> log(1 << 22);
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = reinterpret_cast<uint64_t>(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = reinterpret_cast<uint64_t>("GPL");
    attr.log_level = 2;
    attr.log_buf = reinterpret_cast<uint64_t>(log.data());
    attr.log_size = static_cast<uint32_t>(log.size());
    log[0] = 0;
    KernelLoad out;
    out.fd = static_cast<int>(syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
    out.error = out.fd < 0 ? errno : 0;
    out.log = log.data();
    if (out.fd >= 0)
        close(out.fd);
    return out;
}

// ---------------------------------------------------------------------------
// The kernel's printed scalar ("5", "scalar()", "scalar(id=1,smin=..,var_off=(..))")
// as a Scalar.

std::optional<Scalar> parse_kernel_scalar(const std::string& text) {
    if (text.empty())
        return std::nullopt;
    if (text.rfind("scalar(", 0) != 0) {
        // A constant, decimal or hex.
        char* end = nullptr;
        uint64_t v = text[0] == '-' ? static_cast<uint64_t>(std::strtoll(text.c_str(), &end, 0))
                                    : std::strtoull(text.c_str(), &end, 0);
        if (*end != 0)
            return std::nullopt;
        return Scalar::constant(v);
    }
    if (text.back() != ')')
        return std::nullopt;
    std::string body = text.substr(7, text.size() - 8);
    Scalar s;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t comma = body.find(',', pos);
        std::string item = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? body.size() : comma + 1;
        if (item.rfind("var_off=(", 0) == 0) {
            unsigned long long v = 0, m = 0;
            if (std::sscanf(item.c_str(), "var_off=(%llx; %llx)", &v, &m) != 2)
                return std::nullopt;
            s.var_off = Tnum{v, m};
            continue;
        }
        size_t last_eq = item.rfind('=');
        if (last_eq == std::string::npos)
            return std::nullopt;
        std::string value = item.substr(last_eq + 1);
        std::vector<std::string> names;
        size_t p = 0;
        while (p < last_eq) {
            size_t eq = item.find('=', p);
            names.push_back(item.substr(p, eq - p));
            p = eq + 1;
        }
        uint64_t v = value[0] == '-' ? static_cast<uint64_t>(std::strtoll(value.c_str(), nullptr, 0))
                                     : std::strtoull(value.c_str(), nullptr, 0);
        for (const std::string& n : names) {
            if (n == "id" || n == "ref_obj_id")
                continue;
            else if (n == "smin")
                s.smin = static_cast<int64_t>(v);
            else if (n == "smax")
                s.smax = static_cast<int64_t>(v);
            else if (n == "umin")
                s.umin = v;
            else if (n == "umax")
                s.umax = v;
            else if (n == "smin32")
                s.s32_min = static_cast<int32_t>(v);
            else if (n == "smax32")
                s.s32_max = static_cast<int32_t>(v);
            else if (n == "umin32")
                s.u32_min = static_cast<uint32_t>(v);
            else if (n == "umax32")
                s.u32_max = static_cast<uint32_t>(v);
            else
                return std::nullopt;
        }
    }
    return s;
}

TEST(KernelScalarFormat, Parses) {
    auto s = parse_kernel_scalar("scalar(id=2,smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(*s, Scalar::unknown_bytes(1));
    EXPECT_EQ(to_string(*s), "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))");
    EXPECT_EQ(*parse_kernel_scalar("-1"), Scalar::constant(~uint64_t{0}));
    EXPECT_EQ(*parse_kernel_scalar("0x1000"), Scalar::constant(0x1000));
    EXPECT_EQ(*parse_kernel_scalar("scalar()"), Scalar::unknown());
}

// The states a log line prints: "5: (25) if r6 > 0xa goto pc+1 ; R6=scalar(...) R7=3".
std::vector<std::pair<int, std::string>> printed_registers(const std::string& line) {
    std::vector<std::pair<int, std::string>> out;
    size_t semi = line.find(" ; ");
    if (semi == std::string::npos)
        return out;
    size_t pos = semi + 3;
    while (pos < line.size()) {
        while (pos < line.size() && line[pos] == ' ')
            ++pos;
        if (pos >= line.size() || line[pos] != 'R')
            break;
        size_t eq = line.find('=', pos);
        if (eq == std::string::npos)
            break;
        std::string name = line.substr(pos + 1, eq - pos - 1);
        if (auto w = name.find('_'); w != std::string::npos)
            name = name.substr(0, w);
        // The value runs to the next space outside parentheses.
        size_t end = eq + 1;
        int depth = 0;
        while (end < line.size() && (depth > 0 || line[end] != ' ')) {
            if (line[end] == '(')
                ++depth;
            else if (line[end] == ')')
                --depth;
            ++end;
        }
        if (name.find_first_not_of("0123456789") == std::string::npos && !name.empty())
            out.emplace_back(std::stoi(name), line.substr(eq + 1, end - eq - 1));
        pos = end;
    }
    return out;
}

// ---------------------------------------------------------------------------
// Random programs and their abstract execution.

// What an instruction leaves to compare: the kernel's next logged state, a
// path the domain proves dead, or a path the kernel forks.
enum class Outcome { Next, Dead, Fork };

struct Step {
    Insn code;
    // Applies the instruction to the abstract registers r6..r9 (index 0..3).
    // Dead when the domain finds the kernel's next state unreachable (a
    // branch it knows is always taken, whose fall-through the kernel logs).
    std::function<Outcome(std::array<Scalar, 4>&)> apply;
};

class ProgramGen {
public:
    explicit ProgramGen(uint64_t seed) : g_(seed) {}

    int32_t imm() {
        switch (g_.below(8)) {
        case 0: return static_cast<int32_t>(g_.below(300));
        case 1: return -static_cast<int32_t>(g_.below(300));
        case 2: return static_cast<int32_t>((uint64_t{1} << g_.below(32)) - 1);
        case 3: return static_cast<int32_t>(uint64_t{1} << g_.below(32));
        case 4: return static_cast<int32_t>(g_.next());
        case 5: return static_cast<int32_t>(0xffff0000u);
        default: return static_cast<int32_t>(g_.below(32));
        }
    }

    Step step() {
        int dst = static_cast<int>(g_.below(4));
        int src = static_cast<int>(g_.below(4));
        auto reg = [](int i) { return static_cast<uint8_t>(6 + i); };
        unsigned kind = static_cast<unsigned>(g_.below(100));
        if (kind < 55) { // ALU
            static const AluOp ops[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Div, AluOp::Mod, AluOp::Or,
                                        AluOp::And, AluOp::Xor, AluOp::Lsh, AluOp::Rsh, AluOp::Arsh, AluOp::Neg,
                                        AluOp::Mov, AluOp::SDiv, AluOp::SMod};
            AluOp op = ops[g_.below(15)];
            bool alu64 = g_.coin(65);
            bool use_reg = g_.coin(35) && op != AluOp::Neg && op != AluOp::Mov && src != dst;
            unsigned bits = alu64 ? 64 : 32;
            int32_t k = imm();
            if (op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh)
                k = static_cast<int32_t>(g_.below(bits));
            if (op == AluOp::Neg)
                k = 0; // reserved
            if ((op == AluOp::Div || op == AluOp::Mod || op == AluOp::SDiv || op == AluOp::SMod) && k == 0)
                k = 7;
            uint8_t code = static_cast<uint8_t>((alu64 ? BPF_ALU64 : BPF_ALU) | (use_reg ? BPF_X : BPF_K));
            static const uint8_t opcodes[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_DIV, BPF_MOD, BPF_MOD, BPF_OR,
                                              BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH, BPF_ARSH, BPF_NEG, BPF_MOV};
            code |= opcodes[static_cast<int>(op)];
            int16_t off = (op == AluOp::SDiv || op == AluOp::SMod) ? 1 : 0;
            Insn i = insn(code, reg(dst), use_reg ? reg(src) : 0, off, use_reg ? 0 : k);
            uint64_t kv = alu64 ? static_cast<uint64_t>(int64_t{k}) : static_cast<uint32_t>(k);
            return Step{i, [=](std::array<Scalar, 4>& r) {
                            Scalar s = use_reg ? r[src] : Scalar::constant(kv);
                            // 6.18 forks the path at AND/OR of a register that
                            // is 0 or -1 (LLVM's select idiom); the domain
                            // keeps one state for both.
                            const Scalar& d = r[dst];
                            if ((op == AluOp::And || op == AluOp::Or) &&
                                ((d.smin == -1 && d.smax == 0) || (d.s32_min == -1 && d.s32_max == 0)))
                                return Outcome::Fork;
                            r[dst] = scalar_alu(op, alu64, r[dst], s);
                            return Outcome::Next;
                        }};
        }
        if (kind < 62) { // movsx, on the register itself (a copy would link ids)
            bool alu64 = g_.coin(60);
            unsigned bits = alu64 ? 8u << g_.below(3) : 8u << g_.below(2);
            uint8_t code = static_cast<uint8_t>((alu64 ? BPF_ALU64 : BPF_ALU) | BPF_X | BPF_MOV);
            return Step{insn(code, reg(dst), reg(dst), static_cast<int16_t>(bits)),
                        [=](std::array<Scalar, 4>& r) {
                            r[dst] = scalar_movsx(r[dst], bits, alu64);
                            return Outcome::Next;
                        }};
        }
        if (kind < 68) { // byte swaps and LE
            unsigned bits = 16u << g_.below(3);
            unsigned form = static_cast<unsigned>(g_.below(3)); // 0 bswap, 1 be, 2 le
            uint8_t code = form == 0 ? (BPF_ALU64 | BPF_END) : form == 1 ? (BPF_ALU | BPF_END | BPF_X) : (BPF_ALU | BPF_END);
            return Step{insn(code, reg(dst), 0, 0, static_cast<int32_t>(bits)), [=](std::array<Scalar, 4>& r) {
                            r[dst] = form == 2 ? scalar_to_le(r[dst], bits) : scalar_bswap(r[dst], bits);
                            return Outcome::Next;
                        }};
        }
        // A conditional jump to the next instruction: the log shows the
        // fall-through state, the kernel's taken path comes later.
        static const uint8_t jcodes[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE,
                                         BPF_JSGT, BPF_JSGE, BPF_JSLT, BPF_JSLE, BPF_JSET};
        auto op = static_cast<JmpOp>(g_.below(11));
        bool jmp32 = g_.coin(30);
        bool use_reg = g_.coin(30) && src != dst;
        int32_t k = imm();
        uint8_t code = static_cast<uint8_t>((jmp32 ? BPF_JMP32 : BPF_JMP) | (use_reg ? BPF_X : BPF_K) |
                                            jcodes[static_cast<int>(op)]);
        uint64_t kv = static_cast<uint64_t>(int64_t{k});
        return Step{insn(code, reg(dst), use_reg ? reg(src) : 0, 0, use_reg ? 0 : k), [=](std::array<Scalar, 4>& r) {
                        Scalar b = use_reg ? r[src] : Scalar::constant(kv);
                        BranchTaken t = scalar_branch_taken(op, jmp32, r[dst], b);
                        // A decided branch goes one way, unrefined (the target
                        // is the next instruction either way); otherwise the
                        // kernel logs the fall-through first.
                        if (t == BranchTaken::Always)
                            return Outcome::Dead;
                        if (t == BranchTaken::Never)
                            return Outcome::Next;
                        Scalar a = r[dst];
                        if (!scalar_refine_branch(op, jmp32, false, a, b))
                            return Outcome::Dead;
                        r[dst] = a;
                        if (use_reg)
                            r[src] = b;
                        return Outcome::Next;
                    }};
    }

    uint64_t below(uint64_t n) { return g_.below(n); }

private:
    testing::ScalarGen g_;
};

bool bpf_loadable() {
    std::vector<Insn> prog = {insn(BPF_ALU64 | BPF_K | BPF_MOV, 0, 0), insn(BPF_JMP | BPF_EXIT, 0, 0)};
    return kernel_load(prog).fd >= 0;
}

TEST(KernelAgreement, RandomStraightLinePrograms) {
    if (!bpf_loadable())
        GTEST_SKIP() << "this process cannot load BPF programs (needs root)";
    ProgramGen gen(12345); // (VERIFIER_SEED varies it)
    long compared = 0, equal = 0, more_precise = 0, programs = 0, dead_paths = 0, forks = 0;
    std::vector<std::string> examples;
    for (int p = 0, n = testing::sample_count(150); p < n; ++p) {
        // r6..r9 = unknown 64-bit values (bpf_get_prandom_u32's result is
        // an unknown scalar to the verifier).
        std::vector<Insn> insns;
        for (int r = 6; r <= 9; ++r) {
            insns.push_back(insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_prandom_u32));
            insns.push_back(insn(BPF_ALU64 | BPF_X | BPF_MOV, static_cast<uint8_t>(r), 0));
        }
        size_t first = insns.size();
        std::vector<Step> steps;
        for (int i = 0, len = 6 + static_cast<int>(gen.below(20)); i < len; ++i) {
            steps.push_back(gen.step());
            insns.push_back(steps.back().code);
        }
        insns.push_back(insn(BPF_ALU64 | BPF_K | BPF_MOV, 0, 0));
        insns.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0));
        KernelLoad load = kernel_load(insns);
        ASSERT_GE(load.fd, 0) << "the kernel refused a generated program (errno " << load.error << "):\n" << load.log;
        ++programs;

        // The fall-through path is logged first, up to the first "from".
        std::array<Scalar, 4> regs{};
        std::string log = load.log;
        size_t from = log.find("\nfrom ");
        if (from != std::string::npos)
            log = log.substr(0, from);
        size_t pos = 0;
        size_t next_step = 0;
        while (pos < log.size()) {
            size_t nl = log.find('\n', pos);
            std::string line = log.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos = nl == std::string::npos ? log.size() : nl + 1;
            // "12: (bf) ..." lines are instructions.
            size_t colon = line.find(": (");
            if (colon == std::string::npos || line.find_first_not_of("0123456789") != colon)
                continue;
            size_t idx = std::stoul(line.substr(0, colon));
            if (idx < first || idx >= first + steps.size())
                continue;
            size_t k = idx - first;
            ASSERT_EQ(k, next_step) << "the kernel skipped an instruction:\n" << load.log;
            ++next_step;
            Outcome outcome = steps[k].apply(regs);
            if (outcome == Outcome::Dead) {
                ++dead_paths; // the domain proves the kernel's path dead
                break;
            }
            if (outcome == Outcome::Fork) {
                ++forks;
                break;
            }
            for (const auto& [r, text] : printed_registers(line)) {
                if (r < 6 || r > 9)
                    continue;
                std::optional<Scalar> kernel = parse_kernel_scalar(text);
                ASSERT_TRUE(kernel.has_value()) << "cannot read the kernel's R" << r << "=" << text;
                const Scalar& ours = regs[r - 6];
                ++compared;
                if (ours == *kernel) {
                    ++equal;
                    continue;
                }
                ASSERT_TRUE(scalar_within(ours, *kernel))
                    << fmt::format("R{} after insn {}: the kernel knows more.\n  kernel: {}\n  ours:   {}\nlog:\n{}", r,
                                   idx, text, to_string(ours), load.log);
                ++more_precise;
                if (examples.size() < 5)
                    examples.push_back(fmt::format("{}\n  kernel: {}\n  ours:   {}", line.substr(0, line.find(" ; ")),
                                                   text, to_string(ours)));
            }
        }
        ASSERT_TRUE(next_step == steps.size() || pos < log.size()) << "the fall-through path ended early:\n" << load.log;
    }
    for (const std::string& e : examples)
        std::printf("more precise than the kernel: %s\n", e.c_str());
    std::printf("%ld programs, %ld register states compared: %ld equal to the kernel's, %ld more precise; "
                "%ld fall-through paths the kernel explores proved dead; %ld paths the kernel forked\n",
                programs, compared, equal, more_precise, dead_paths, forks);
    EXPECT_GT(compared, 0);
}

} // namespace
} // namespace bpfvm::verifier
