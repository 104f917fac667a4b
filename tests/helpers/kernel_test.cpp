// Linux as the oracle: the same programs calling bpf_csum_diff, bpf_strtol,
// bpf_strtoul and bpf_snprintf, loaded into the running kernel
// (BPF_PROG_TEST_RUN as SCHED_CLS) and run by bpfvm's interpreter, must agree.
// Skips with the reason where the kernel cannot be used (not root, ...).
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "helper_testing.h"
#include "kernel.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;
using bpfvm::difftest::KernelOracle;

namespace {

long sys_bpf(int cmd, union bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }
uint64_t ptr(const void* p) { return reinterpret_cast<uint64_t>(p); }

// A kernel array map of one value (for snprintf's read-only format and its output).
struct KernelArray {
    int fd = -1;
    uint32_t value_size = 0;
    KernelArray(uint32_t size, uint32_t flags) : value_size(size) {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_type = BPF_MAP_TYPE_ARRAY;
        a.key_size = 4;
        a.value_size = size;
        a.max_entries = 1;
        a.map_flags = flags;
        fd = static_cast<int>(sys_bpf(BPF_MAP_CREATE, &a));
    }
    ~KernelArray() {
        if (fd >= 0) close(fd);
    }
    bool set(const std::string& bytes) {
        std::string v(value_size, '\0');
        std::memcpy(v.data(), bytes.data(), std::min<size_t>(bytes.size(), value_size));
        uint32_t key = 0;
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(fd);
        a.key = ptr(&key);
        a.value = ptr(v.data());
        return sys_bpf(BPF_MAP_UPDATE_ELEM, &a) == 0;
    }
    bool freeze() {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(fd);
        return sys_bpf(BPF_MAP_FREEZE, &a) == 0;
    }
    std::string get() {
        std::string v(value_size, '\0');
        uint32_t key = 0;
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.map_fd = static_cast<uint32_t>(fd);
        a.key = ptr(&key);
        a.value = ptr(v.data());
        sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
        return v;
    }
};

class KernelOracleTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string why;
        oracle_ = KernelOracle::open(why);
        if (!oracle_) GTEST_SKIP() << why;
    }
    // retval of the program on Linux, or the verifier's error as "refused: ...".
    std::string kernel_run(const std::string& text) {
        auto insns = assemble(text);
        EXPECT_TRUE(insns) << insns.error().to_string();
        if (!insns) return "bad assembly";
        auto l = KernelOracle::load(*insns);
        if (l.fd < 0) return "refused: " + l.log_line;
        auto t = KernelOracle::test_run(l.fd, std::vector<uint8_t>(64, 0));
        close(l.fd);
        if (!t.ok) return fmt::format("test run failed: {}", std::strerror(t.error));
        return std::to_string(t.retval);
    }
    std::string bpfvm_run(const std::string& text, const std::vector<Map*>& maps = {}) {
        auto r = run_program(text, maps, true);
        if (!r.ok) return "error: " + r.error;
        return std::to_string(static_cast<uint32_t>(r.r0));
    }
    std::unique_ptr<KernelOracle> oracle_;
};

// Stores `bytes` at r10 - at (4-byte words) and returns the text.
std::string store_words(const std::vector<uint8_t>& bytes, int at) {
    std::string s;
    for (size_t i = 0; i < bytes.size(); i += 4) {
        uint32_t w;
        std::memcpy(&w, bytes.data() + i, 4);
        s += fmt::format("*(u32 *)(r10 - {}) = {:#x}\n", at - static_cast<int>(i), w);
    }
    return s;
}

std::string csum_program(const std::vector<uint8_t>& from, const std::vector<uint8_t>& to, uint32_t seed,
                         bool overlap = false) {
    std::string s = store_words(from, 512);
    if (!overlap) s += store_words(to, 256);
    s += from.empty() ? "r1 = 0\n" : "r1 = r10\nr1 += -512\n";
    s += fmt::format("r2 = {}\n", from.size());
    s += to.empty() ? "r3 = 0\n" : (overlap ? "r3 = r10\nr3 += -512\n" : "r3 = r10\nr3 += -256\n");
    s += fmt::format("r4 = {}\n", to.size());
    s += fmt::format("r5 = {:#x} ll\n", seed);
    s += "call 28\nexit\n";
    return s;
}

} // namespace

TEST_F(KernelOracleTest, CsumDiffAgrees) {
    std::mt19937 rng(12345);
    auto bytes = [&](size_t n) {
        std::vector<uint8_t> b(n);
        for (auto& x : b) x = static_cast<uint8_t>(rng());
        return b;
    };
    std::vector<std::tuple<std::vector<uint8_t>, std::vector<uint8_t>, uint32_t>> cases = {
        {{}, {}, 0}, {{}, {}, 0xffffffff}, {{}, {}, 0x12345678}, {{}, {}, 0xffff},
        {bytes(4), {}, 0}, {{}, bytes(4), 0}, {bytes(4), bytes(4), 0},
        {std::vector<uint8_t>(8, 0xff), {}, 0}, {{}, std::vector<uint8_t>(8, 0xff), 0},
        {std::vector<uint8_t>(4, 0), std::vector<uint8_t>(4, 0), 0},
    };
    for (int i = 0; i < 30; i++)
        cases.emplace_back(bytes(4 * (rng() % 60)), bytes(4 * (rng() % 60)), static_cast<uint32_t>(rng()));
    for (const auto& [from, to, seed] : cases) {
        std::string prog = csum_program(from, to, seed);
        EXPECT_EQ(bpfvm_run(prog), kernel_run(prog)) << "from " << from.size() << " to " << to.size() << " seed "
                                                   << seed;
    }
    // Sizes that are not multiples of 4 (6.1 refused them).
    for (auto [f, t] : {std::pair{6, 0}, std::pair{0, 7}, std::pair{5, 3}, std::pair{1, 0}, std::pair{13, 22}}) {
        std::string prog = "r1 = 0x8877665544332211 ll\n*(u64 *)(r10 - 32) = r1\n*(u64 *)(r10 - 24) = r1\n"
                           "r1 = 0x0123456789abcdef ll\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 8) = r1\n";
        prog += fmt::format("r1 = r10\nr1 += -32\nr2 = {}\nr3 = r10\nr3 += -29\nr4 = {}\nr5 = 0x1234\ncall 28\nexit\n", f, t);
        EXPECT_EQ(bpfvm_run(prog), kernel_run(prog)) << f << " + " << t;
    }
}

TEST_F(KernelOracleTest, CsumDiffSizeLimit) {
    // 300 + 300 bytes over the same stack buffer: more than 512 together.
    auto b = std::vector<uint8_t>(300, 7);
    for (auto [f, t] : {std::pair{300, 300}, std::pair{256, 256}, std::pair{256, 260}, std::pair{512, 0}}) {
        std::string prog = store_words(std::vector<uint8_t>(512, 1), 512);
        prog += fmt::format("r1 = r10\nr1 += -512\nr2 = {}\nr3 = r10\nr3 += -512\nr4 = {}\nr5 = 0\ncall 28\nexit\n", f, t);
        EXPECT_EQ(bpfvm_run(prog), kernel_run(prog)) << f << " + " << t;
    }
}

TEST_F(KernelOracleTest, StrtolAgrees) {
    const std::vector<std::pair<std::string, uint32_t>> cases = {
        {"123", 10}, {"  -42xyz", 10}, {"0x1f", 0}, {"0X1F", 16}, {"017", 0}, {"019", 0}, {"0x", 0}, {"0xg", 16},
        {"777", 8}, {"8", 8}, {"12", 2}, {"   ", 10}, {"-", 10}, {"+5", 10}, {"abc", 0}, {"9223372036854775807", 10},
        {"9223372036854775808", 10}, {"-9223372036854775808", 10}, {"18446744073709551615", 10},
        {"18446744073709551616", 10}, {"-1", 10}, {"\t7", 10}, {"12", 10 | 0x20},
    };
    for (const auto& [text, flags] : cases) {
        for (int helper : {105, 106}) {
            std::string buf = text;
            buf.resize((buf.size() + 8) & ~size_t(7), '\0');
            std::string prog;
            for (size_t i = 0; i < buf.size(); i += 8) {
                uint64_t w;
                std::memcpy(&w, buf.data() + i, 8);
                prog += fmt::format("r1 = {:#x} ll\n*(u64 *)(r10 - {}) = r1\n", w, 128 - i);
            }
            prog += "*(u64 *)(r10 - 8) = 0\n";
            std::string call = fmt::format("r1 = r10\nr1 += -128\nr2 = {}\nr3 = {}\nr4 = r10\nr4 += -8\ncall {}\n",
                                           text.size(), flags, helper);
            // The return value, then the result's two halves.
            std::string ret = prog + call + "exit\n";
            std::string lo = prog + call + "r0 = *(u32 *)(r10 - 8)\nexit\n";
            std::string hi = prog + call + "r0 = *(u32 *)(r10 - 4)\nexit\n";
            std::string k = kernel_run(ret);
            if (k.starts_with("refused: ") && k.find("unknown func") != std::string::npos)
                GTEST_SKIP() << "this kernel has no bpf_strtol for SCHED_CLS programs: " << k;
            EXPECT_EQ(bpfvm_run(ret), k) << text << " flags " << flags << " helper " << helper;
            EXPECT_EQ(bpfvm_run(lo), kernel_run(lo)) << text << " flags " << flags << " helper " << helper;
            EXPECT_EQ(bpfvm_run(hi), kernel_run(hi)) << text << " flags " << flags << " helper " << helper;
        }
    }
}

TEST_F(KernelOracleTest, SnprintfAgrees) {
    struct Case {
        std::string format;
        std::vector<uint64_t> args; // kStr stands for a pointer to "hello"
        bool compare_text = true;
    };
    constexpr uint64_t kStr = ~0ull;
    const std::vector<Case> cases = {
        {"plain", {}},
        {"%d %u %x", {uint64_t(-5), uint64_t(-5), 0xabcdef12345ull}},
        {"%ld %lu %llx %lX", {uint64_t(-5), uint64_t(-5), 0xabcdef12345ull, 0xabcull}},
        {"[%5d|%-5d|%05d|%+d|% d]", {42, 42, 42, 42, 42}},
        {"[%-05d|%08x|%+u]", {7, 0xbeef, 5}},
        {"%c%c%3c|%-3c|", {'o', 'k', 'a', 'b'}},
        {"%s|%8s|%-8s|", {kStr, kStr, kStr}},
        {"100%% %d%%", {3}},
        {"%pI4 %pi4", {kStr, kStr}},
        {"%p %pK %px", {0x1234, 0, 0x10}, false},
        {"%f", {1}}, {"%n", {1}}, {"%o", {1}}, {"%hd", {1}}, {"%.2d", {1}}, {"%#x", {1}}, {"%d %d", {1}},
        {"%sx", {kStr}}, {"%pa", {1}}, {"%pI5", {kStr}}, {"%lld%", {1, 2}}, {"bell\a", {}}, {"caf\xc3\xa9", {}},
        {"%", {1}}, {"%q", {1}}, {"%pks.", {kStr}},
    };
    KernelArray kfmt(128, BPF_F_RDONLY_PROG), kout(64, 0);
    if (kfmt.fd < 0 || kout.fd < 0) GTEST_SKIP() << "cannot create kernel maps: " << std::strerror(errno);
    auto ofmt = make_map(BPF_MAP_TYPE_ARRAY, 4, 128, 1, BPF_F_RDONLY_PROG);
    auto oout = make_map(BPF_MAP_TYPE_ARRAY, 4, 64, 1);
    ASSERT_TRUE(ofmt && oout);
    // Programs refer to the format as map 0 (+0) and the output as map 1; the
    // string argument lives in the format map at +96 ("hello").
    for (const Case& c : cases) {
        SCOPED_TRACE(c.format);
        std::string value(128, '\0');
        std::memcpy(value.data(), c.format.c_str(), c.format.size() + 1);
        std::memcpy(value.data() + 96, "hello", 6);
        KernelArray kf(128, BPF_F_RDONLY_PROG), ko(64, 0);
        ASSERT_TRUE(kf.set(value) && kf.freeze());
        uint32_t key = 0;
        ASSERT_EQ(ofmt->sys_update(&key, value.data(), BPF_ANY), 0);
        std::string zero(64, '\0');
        ASSERT_EQ(oout->sys_update(&key, zero.data(), BPF_ANY), 0);
        auto program = [&](int fmt_fd, int out_fd) {
            std::string s;
            for (size_t i = 0; i < c.args.size(); i++) {
                if (c.args[i] == kStr) s += fmt::format("r1 = map[fd:{}][0]+96 ll\n", fmt_fd);
                else s += fmt::format("r1 = {:#x} ll\n", c.args[i]);
                s += fmt::format("*(u64 *)(r10 - {}) = r1\n", 8 * (c.args.size() - i));
            }
            s += fmt::format("r1 = map[fd:{}][0]+0 ll\nr2 = 64\nr3 = map[fd:{}][0]+0 ll\n", out_fd, fmt_fd);
            if (c.args.empty()) s += "r4 = 0\nr5 = 0\n";
            else s += fmt::format("r4 = r10\nr4 += -{}\nr5 = {}\n", 8 * c.args.size(), 8 * c.args.size());
            s += "call 165\nexit\n";
            return s;
        };
        std::string k = kernel_run(program(kf.fd, ko.fd));
        std::string b = bpfvm_run(program(0, 1), {ofmt.get(), oout.get()});
        // Linux's verifier checks a constant format at load time: its refusal is
        // bpfvm's -EINVAL at run time.
        if (k == "refused: Invalid format string") k = std::to_string(static_cast<uint32_t>(-EINVAL));
        EXPECT_EQ(b, k);
        if (c.compare_text) {
            std::string kt = ko.get(), bt(static_cast<const char*>(oout->value_base()), 64);
            EXPECT_EQ(std::string(bt.c_str()), std::string(kt.c_str()));
        }
    }
}
