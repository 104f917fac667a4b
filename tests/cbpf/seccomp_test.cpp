// seccomp filters: the checks seccomp(2) adds, the actions, and a
// differential test against the running kernel (a child process installs
// the filter and makes system calls; their results must be the actions
// bpfvm computes).
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <gtest/gtest.h>

#include "bpfvm/insn.h"
#include "cbpf_testing.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

std::vector<Insn> asm_(std::string_view text) {
    auto p = parse(text, TextFormat::BpfAsm);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : std::vector<Insn>{};
}

std::string refusal(const std::vector<Insn>& p) {
    auto r = check_seccomp(p);
    return r ? "accepted" : r.error().to_string();
}

} // namespace

TEST(CbpfSeccomp, ChecksAsSeccompDoes) {
    EXPECT_EQ(refusal(asm_("ld [4]\nret #0x7fff0000\n")), "accepted");
    EXPECT_EQ(refusal(asm_("ld [62]\nret #0x7fff0000\n")),
              "instruction 0: ld [62] is not a 32-bit field of seccomp_data (offsets 0, 4, ... 60)");
    EXPECT_EQ(refusal(asm_("ld [64]\nret #0x7fff0000\n")),
              "instruction 0: ld [64] is not a 32-bit field of seccomp_data (offsets 0, 4, ... 60)");
    EXPECT_EQ(refusal(asm_("ldh [4]\nret #0x7fff0000\n")),
              "instruction 0: opcode 0x28 is not allowed in a seccomp filter (packet loads, mod and ancillary loads "
              "are not)");
    EXPECT_EQ(refusal(asm_("ld #5\nmod #2\nret a\n")),
              "instruction 1: opcode 0x94 is not allowed in a seccomp filter (packet loads, mod and ancillary loads "
              "are not)");
    // bpf_check_classic comes first.
    EXPECT_EQ(refusal(asm_("ld M[1]\nret a\n")), "instruction 0: M[1] is read before it is written on some path");
}

TEST(CbpfSeccomp, Actions) {
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_ALLOW).to_string(), "ALLOW");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_ERRNO | 13).to_string(), "ERRNO(13)");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_ERRNO | 0xffff).to_string(), "ERRNO(4095)");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_KILL_PROCESS).to_string(), "KILL_PROCESS");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_KILL_THREAD | 9).to_string(), "KILL_THREAD");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_TRAP | 5).to_string(), "TRAP(5)");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_TRACE | 7).to_string(), "TRACE(7)");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_LOG).to_string(), "LOG");
    EXPECT_EQ(seccomp_verdict(SECCOMP_RET_USER_NOTIF).to_string(), "USER_NOTIF");
    EXPECT_EQ(seccomp_verdict(0x12340000).to_string(), "KILL_PROCESS (unknown action 0x12340000)");
    EXPECT_EQ(seccomp_verdict(0x12340000).action, SeccompAction::KillProcess);
}

TEST(CbpfSeccomp, RunsTheDocumentationExample) {
    auto prog = asm_(R"(
  ld [4]                  /* offsetof(struct seccomp_data, arch) */
  jne #0xc000003e, bad    /* AUDIT_ARCH_X86_64 */
  ld [0]                  /* offsetof(struct seccomp_data, nr) */
  jeq #15, good           /* __NR_rt_sigreturn */
  jeq #231, good          /* __NR_exit_group */
  jeq #60, good           /* __NR_exit */
  jeq #0, good            /* __NR_read */
  jeq #1, good            /* __NR_write */
  bad: ret #0             /* SECCOMP_RET_KILL_THREAD */
  good: ret #0x7fff0000   /* SECCOMP_RET_ALLOW */
)");
    for (Engine e : {Engine::Jit, Engine::Interpreter}) {
        auto f = SeccompFilter::create(prog, e);
        ASSERT_TRUE(f) << f.error().to_string();
        SeccompData d;
        d.arch = 0xc000003e;
        d.nr = 1;
        EXPECT_EQ(f->evaluate(d).to_string(), "ALLOW");
        d.nr = 59;
        EXPECT_EQ(f->evaluate(d).to_string(), "KILL_THREAD");
        d.nr = 0;
        d.arch = 0x40000003; // i386
        EXPECT_EQ(f->evaluate(d).to_string(), "KILL_THREAD");
    }
    // ld #len is the size of seccomp_data.
    auto len = SeccompFilter::create(asm_("ld #len\nor #0x50000\nret a\n"));
    ASSERT_TRUE(len);
    EXPECT_EQ(len->evaluate(SeccompData{}).to_string(), "ERRNO(64)");
}

namespace {

// Filters that compute ERRNO(f(nr, args)) for getppid and allow the rest.
const char* const kKernelFilters[] = {
    R"(ld [0]
       jne #110, allow
       ld [16]
       add #3
       st M[0]
       ld [24]
       tax
       ld M[0]
       xor x
       mul #7
       rsh #3
       and #0xfff
       or #0x50000
       ret a
       allow: ret #0x7fff0000)",
    R"(ld [0]
       jne #110, allow
       ld [20]
       jset #0x80000000, high, low
       high: ld [32]
       sub #1000
       ja done
       low: ld [40]
       neg
       lsh #2
       done: and #0x7ff
       tax
       ld [44]
       and #0xf
       or #1
       tax
       ld [16]
       div x
       ldx #4095
       stx M[3]
       jgt x, big
       or #0x50000
       ret a
       big: ld M[3]
       or #0x50000
       ret a
       allow: ret #0x7fff0000)",
    R"(ld [0]
       jne #110, allow
       ld [4]
       jne #0xc000003e, kill
       ld [16]
       jge #0x80000000, e1
       ldx #3
       ld [24]
       lsh x
       rsh #20
       jeq #0, e2, e3
       e1: ret #0x50001
       e2: ret #0x50002
       e3: or #0x50000
       and #0x50fff
       ret a
       kill: ret #0
       allow: ret #0x7fff0000)",
};

} // namespace

TEST(CbpfSeccomp, SameActionsAsTheKernel) {
    // Can this process install seccomp filters in a child at all?
    {
        pid_t p = fork();
        if (p == 0) _exit(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_GET_SECCOMP) == 0 ? 0 : 1);
        int st = 0;
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) GTEST_SKIP() << "seccomp is not available to this process";
    }
    std::mt19937_64 rng(99);
    size_t compared = 0;
    for (const char* text : kKernelFilters) {
        auto prog = asm_(text);
        ASSERT_FALSE(prog.empty());
        auto filter = SeccompFilter::create(prog);
        ASSERT_TRUE(filter) << filter.error().to_string();
        std::vector<std::array<uint64_t, 6>> records;
        for (int i = 0; i < 200; i++) {
            std::array<uint64_t, 6> a;
            for (auto& v : a) v = (rng() % 3 == 0) ? rng() % 100 : rng();
            records.push_back(a);
        }
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        pid_t child = fork();
        if (child == 0) {
            close(fds[0]);
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            sock_fprog fp{static_cast<unsigned short>(prog.size()), reinterpret_cast<sock_filter*>(prog.data())};
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0) _exit(3);
            for (const auto& a : records) {
                long r = syscall(SYS_getppid, a[0], a[1], a[2], a[3], a[4], a[5]);
                int32_t result = r < 0 ? -errno : 0;
                if (write(fds[1], &result, sizeof result) != sizeof result) _exit(4);
            }
            _exit(0);
        }
        close(fds[1]);
        std::vector<int32_t> results;
        int32_t v;
        while (read(fds[0], &v, sizeof v) == sizeof v) results.push_back(v);
        close(fds[0]);
        int st = 0;
        waitpid(child, &st, 0);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "the child failed: status " << st << " after " << results.size() << " calls, filter:\n" << text;
        ASSERT_EQ(results.size(), records.size());
        for (size_t i = 0; i < records.size(); i++) {
            SeccompData d;
            d.nr = SYS_getppid;
            d.arch = 0xc000003e;
            for (int j = 0; j < 6; j++) d.args[j] = records[i][static_cast<size_t>(j)];
            SeccompVerdict verdict = filter->evaluate(d);
            ASSERT_EQ(verdict.action, SeccompAction::Errno) << verdict.to_string();
            EXPECT_EQ(-results[i], verdict.data) << "record " << i << ": " << verdict.to_string();
            compared++;
        }
    }
    EXPECT_EQ(compared, 600u);
}
