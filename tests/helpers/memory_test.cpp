// The probe_read family: this process's memory read without faulting, -EFAULT
// and a zeroed buffer on a bad address, strings zero-terminated; and the
// checked mode's rules for memory helpers touch and hand out.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {

// Two pages: the first readable, the second not.
struct Guarded {
    uint8_t* base;
    Guarded() {
        base = static_cast<uint8_t*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        mprotect(base + 4096, 4096, PROT_NONE);
    }
    ~Guarded() { munmap(base, 8192); }
    uint8_t* edge() { return base + 4096; } // the first unreadable byte
};

using ProbeFn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*);

} // namespace

TEST(ProbeRead, CopiesReadableMemory) {
    for (ProbeFn fn : {helpers::probe_read, helpers::probe_read_user, helpers::probe_read_kernel}) {
        const char src[] = "0123456789";
        char dst[11] = {};
        EXPECT_EQ(s(fn(u(dst), 10, u(src), 0, 0, nullptr)), 0);
        EXPECT_EQ(std::string(dst, 10), "0123456789");
        // Size 0: nothing to read, but NULL is a user address, which the
        // kernel variant refuses first (Linux: -ERANGE).
        EXPECT_EQ(s(fn(u(dst), 0, 0, 0, 0, nullptr)), fn == helpers::probe_read_kernel ? -ERANGE : 0);
    }
}

TEST(ProbeRead, BadAddressGivesEfaultAndZeroes) {
    Guarded g;
    std::memset(g.base, 'a', 4096);
    for (ProbeFn fn : {helpers::probe_read, helpers::probe_read_user, helpers::probe_read_kernel}) {
        char dst[16];
        std::memset(dst, 'Z', sizeof dst);
        // NULL: unreadable; for the kernel variant a user address (Linux: -ERANGE).
        EXPECT_EQ(s(fn(u(dst), 16, 0, 0, 0, nullptr)), fn == helpers::probe_read_kernel ? -ERANGE : -EFAULT);
        EXPECT_EQ(std::string(dst, 16), std::string(16, '\0'));
        std::memset(dst, 'Z', sizeof dst);
        // Straddling into the unreadable page: all or nothing.
        EXPECT_EQ(s(fn(u(dst), 16, u(g.edge() - 8), 0, 0, nullptr)), -EFAULT);
        EXPECT_EQ(std::string(dst, 16), std::string(16, '\0'));
        EXPECT_EQ(s(fn(u(dst), 8, u(g.edge() - 8), 0, 0, nullptr)), 0);
        EXPECT_EQ(std::string(dst, 8), std::string(8, 'a'));
        EXPECT_EQ(s(fn(u(dst), 8, ~0ull - 3, 0, 0, nullptr)), -EFAULT); // wraps around
    }
}

TEST(ProbeReadStr, TerminatesAndCountsTheZero) {
    for (ProbeFn fn : {helpers::probe_read_str, helpers::probe_read_user_str, helpers::probe_read_kernel_str}) {
        const char src[] = "hello";
        char dst[16];
        std::memset(dst, 'Z', sizeof dst);
        EXPECT_EQ(s(fn(u(dst), sizeof dst, u(src), 0, 0, nullptr)), 6); // length with the zero
        EXPECT_STREQ(dst, "hello");
        // Truncated: size - 1 bytes and a zero; returns size.
        std::memset(dst, 'Z', sizeof dst);
        EXPECT_EQ(s(fn(u(dst), 4, u(src), 0, 0, nullptr)), 4);
        EXPECT_STREQ(dst, "hel");
        EXPECT_EQ(dst[4], 'Z');
        // Exactly fits.
        EXPECT_EQ(s(fn(u(dst), 6, u(src), 0, 0, nullptr)), 6);
        EXPECT_STREQ(dst, "hello");
        EXPECT_EQ(s(fn(u(dst), 0, u(src), 0, 0, nullptr)), 0); // size 0
        EXPECT_EQ(dst[0], 'h');
        EXPECT_EQ(s(fn(u(dst), 1, u(src), 0, 0, nullptr)), 1);
        EXPECT_EQ(dst[0], '\0');
        const char empty[] = "";
        EXPECT_EQ(s(fn(u(dst), 8, u(empty), 0, 0, nullptr)), 1);
    }
}

TEST(ProbeReadStr, FaultBeforeTheZero) {
    Guarded g;
    for (ProbeFn fn : {helpers::probe_read_str, helpers::probe_read_user_str, helpers::probe_read_kernel_str}) {
        // A string that runs into the unreadable page: -EFAULT, buffer zeroed.
        std::memset(g.edge() - 8, 'x', 8);
        char dst[32];
        std::memset(dst, 'Z', sizeof dst);
        EXPECT_EQ(s(fn(u(dst), sizeof dst, u(g.edge() - 8), 0, 0, nullptr)), -EFAULT);
        EXPECT_EQ(std::string(dst, sizeof dst), std::string(sizeof dst, '\0'));
        // The same string, stopping before the bad page: truncated, fine.
        EXPECT_EQ(s(fn(u(dst), 8, u(g.edge() - 8), 0, 0, nullptr)), 8);
        EXPECT_EQ(std::string(dst), "xxxxxxx");
        // A zero right before the bad page ends the string: no fault.
        g.edge()[-1] = 0;
        EXPECT_EQ(s(fn(u(dst), sizeof dst, u(g.edge() - 8), 0, 0, nullptr)), 8);
        EXPECT_EQ(std::string(dst), "xxxxxxx");
        EXPECT_EQ(s(fn(u(dst), sizeof dst, 0, 0, 0, nullptr)), fn == helpers::probe_read_kernel_str ? -ERANGE : -EFAULT);
    }
}

TEST(ProbeRead, AddressSpacesInTheCheckedMode) {
    // A checked run's memory (its stack, regions) is bpfvm's "kernel" memory;
    // the rest of the process is "user" memory.
    alignas(8) uint8_t stack[512] = {};
    const char user[] = "user data";
    char kernel[16] = "kernel data";
    MemoryRegion regions[2] = {{u(kernel), sizeof kernel, true, "kernel"}, {}};
    ExecContext c;
    c.checked = true;
    c.regions = regions;
    c.capacity = 2;
    c.num_regions = 1;
    c.stack_lo = u(stack);
    c.stack_hi = u(stack) + sizeof stack;
    char* dst = reinterpret_cast<char*>(stack);
    EXPECT_EQ(s(helpers::probe_read_kernel(u(dst), 8, u(kernel), 0, 0, &c)), 0);
    EXPECT_EQ(std::string(dst, 8), "kernel d");
    EXPECT_EQ(s(helpers::probe_read_kernel(u(dst), 8, u(user), 0, 0, &c)), -ERANGE);
    EXPECT_EQ(std::string(dst, 8), std::string(8, '\0'));
    EXPECT_EQ(s(helpers::probe_read_user(u(dst), 8, u(user), 0, 0, &c)), 0);
    EXPECT_EQ(std::string(dst, 8), "user dat");
    EXPECT_EQ(s(helpers::probe_read_user(u(dst), 8, u(kernel), 0, 0, &c)), -EFAULT);
    EXPECT_EQ(std::string(dst, 8), std::string(8, '\0'));
    EXPECT_EQ(s(helpers::probe_read(u(dst), 8, u(kernel), 0, 0, &c)), 0); // the legacy helper reads either
    EXPECT_EQ(s(helpers::probe_read(u(dst), 8, u(user), 0, 0, &c)), 0);
}

TEST(ProbeReadStr, LongStringsAcrossPages) {
    std::string big(10000, 'q');
    std::vector<char> dst(12000, 'Z');
    EXPECT_EQ(s(helpers::probe_read_str(u(dst.data()), dst.size(), u(big.c_str()), 0, 0, nullptr)), 10001);
    EXPECT_EQ(std::string(dst.data()), big);
}

TEST(CheckedMode, DestinationsMustBeWritableRegions) {
    CheckedContext c;
    alignas(8) char ro[16] = {}, rw[16] = {};
    ASSERT_TRUE(c->add_region(MemoryRegion{u(ro), sizeof ro, false, "read-only"}));
    ASSERT_TRUE(c->add_region(MemoryRegion{u(rw), sizeof rw, true, "rw"}));
    const char src[] = "abcdefgh";
    EXPECT_EQ(s(helpers::probe_read(u(ro), 8, u(src), 0, 0, c.get())), -EFAULT);
    EXPECT_EQ(ro[0], 0);
    // The run fails, naming the helper and the argument.
    EXPECT_EQ(c.error(), fmt::format("bpf_probe_read: dst (8 bytes at {:#x}) is not memory the program may write", u(ro)));
    EXPECT_EQ(s(helpers::probe_read(u(c.stack), 8, u(src), 0, 0, c.get())), 0); // the program's stack
    EXPECT_EQ(c.error(), "");
    char host[8];
    EXPECT_EQ(s(helpers::probe_read_kernel_str(u(host), 8, u(src), 0, 0, c.get())), -EFAULT);
    EXPECT_EQ(c.error(), fmt::format("bpf_probe_read_kernel_str: dst (8 bytes at {:#x}) is not memory the program may write",
                                     u(host)));
    EXPECT_EQ(s(helpers::probe_read(u(rw), 8, u(src), 0, 0, c.get())), 0);
    EXPECT_EQ(s(helpers::probe_read(u(rw + 12), 8, u(src), 0, 0, c.get())), -EFAULT); // runs past the region
    EXPECT_EQ(s(helpers::probe_read_str(u(ro), 8, u(src), 0, 0, c.get())), -EFAULT);
    EXPECT_TRUE(program_may_access(c.get(), u(ro), 16, false));
    EXPECT_FALSE(program_may_access(c.get(), u(ro), 16, true));
    EXPECT_FALSE(program_may_access(c.get(), u(ro) + 8, 9, false));
    EXPECT_TRUE(program_may_access(c.get(), u(ro), 0, true));          // nothing to touch
    EXPECT_TRUE(program_may_access(c.get(), u(c.stack), 512, true));  // the stack
    EXPECT_FALSE(program_may_access(c.get(), u(c.stack) + 8, 512, true));
    EXPECT_FALSE(program_may_access(c.get(), u(host), 1, false));       // anything else
    EXPECT_FALSE(program_may_access(c.get(), ~0ull - 2, 8, false));    // wraps around
    ExecContext fast;
    EXPECT_TRUE(program_may_access(&fast, u(ro), 16, true)); // the fast mode checks nothing
}

TEST(CheckedMode, ExposedMemoryIsDeduplicated) {
    CheckedContext c;
    alignas(8) char buf[64];
    EXPECT_TRUE(expose_to_program(c.get(), u(buf), 64, true, kMapValueRegion));
    EXPECT_EQ(c->num_regions, 1);
    EXPECT_TRUE(expose_to_program(c.get(), u(buf) + 8, 8, true, kMapValueRegion)); // inside: no new region
    EXPECT_TRUE(expose_to_program(c.get(), u(buf), 64, false, kMapValueRegion));
    EXPECT_EQ(c->num_regions, 1);
    EXPECT_EQ(c->regions[0].name, kMapValueRegion);
    // Fill the table: expose then says no.
    std::vector<char> many(ExecContext::kMaxRegions * 16);
    int added = 0;
    while (expose_to_program(c.get(), u(many.data()) + static_cast<uint64_t>(added) * 16, 8, true, "x")) added++;
    EXPECT_EQ(added, ExecContext::kMaxRegions - 1);
    ExecContext fast;
    EXPECT_TRUE(expose_to_program(&fast, u(buf), 8, true, "x"));
    EXPECT_EQ(fast.num_regions, 0);
}
