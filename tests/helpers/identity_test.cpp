// Clocks, identities, randomness, CPU slots and spin locks.
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <thread>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {
uint64_t call0(HelperFn fn) { return fn(0, 0, 0, 0, 0, nullptr); }
uint64_t now(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}
} // namespace

TEST(Clocks, MonotonicAndOnTheRightClock) {
    uint64_t before = now(CLOCK_MONOTONIC);
    uint64_t a = call0(helpers::ktime_get_ns);
    uint64_t b = call0(helpers::ktime_get_ns);
    uint64_t after = now(CLOCK_MONOTONIC);
    EXPECT_LE(before, a);
    EXPECT_LE(a, b);
    EXPECT_LE(b, after);
    uint64_t boot_before = now(CLOCK_BOOTTIME);
    uint64_t boot = call0(helpers::ktime_get_boot_ns);
    EXPECT_LE(boot_before, boot);
    EXPECT_LE(boot, now(CLOCK_BOOTTIME));
    uint64_t c1 = call0(helpers::ktime_get_coarse_ns), c2 = call0(helpers::ktime_get_coarse_ns);
    EXPECT_LE(c1, c2);
    EXPECT_LE(c1, now(CLOCK_MONOTONIC_COARSE));
    uint64_t tai = call0(helpers::ktime_get_tai_ns);
    EXPECT_LE(tai, now(CLOCK_TAI));
    EXPECT_GT(tai, uint64_t(1'500'000'000) * 1'000'000'000ull); // wall-clock based (after 2017)
}

TEST(Clocks, Jiffies64CountsAtHzFromInitialJiffies) {
    uint64_t j1 = call0(helpers::jiffies64);
    uint64_t mono = now(CLOCK_MONOTONIC_COARSE);
    uint64_t j2 = call0(helpers::jiffies64);
    EXPECT_LE(j1, j2);
    const uint64_t initial = static_cast<uint32_t>(-300 * static_cast<int64_t>(kJiffiesHz));
    EXPECT_GE(j1, initial);
    uint64_t expected = initial + mono / (1'000'000'000ull / kJiffiesHz);
    EXPECT_LE(j1, expected);
    EXPECT_GE(j2, expected);
}

TEST(Random, PerThreadStreams) {
    std::set<uint32_t> seen;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = call0(helpers::get_prandom_u32);
        EXPECT_EQ(v >> 32, 0u);
        seen.insert(static_cast<uint32_t>(v));
    }
    EXPECT_GT(seen.size(), 990u); // 32-bit values: collisions are rare
    // Another thread has a stream of its own (not the same sequence).
    std::vector<uint32_t> mine, theirs;
    std::thread t([&] {
        for (int i = 0; i < 8; i++) theirs.push_back(static_cast<uint32_t>(call0(helpers::get_prandom_u32)));
    });
    t.join();
    for (int i = 0; i < 8; i++) mine.push_back(static_cast<uint32_t>(call0(helpers::get_prandom_u32)));
    EXPECT_NE(mine, theirs);
}

TEST(Identity, PidTgidUidGid) {
    uint64_t v = call0(helpers::get_current_pid_tgid);
    EXPECT_EQ(v >> 32, static_cast<uint64_t>(getpid()));
    EXPECT_EQ(v & 0xffffffff, static_cast<uint64_t>(gettid()));
    uint64_t other = 0;
    std::thread t([&] { other = call0(helpers::get_current_pid_tgid); });
    t.join();
    EXPECT_EQ(other >> 32, v >> 32);             // same process
    EXPECT_NE(other & 0xffffffff, v & 0xffffffff); // another thread
    uint64_t ug = call0(helpers::get_current_uid_gid);
    EXPECT_EQ(ug & 0xffffffff, getuid());
    EXPECT_EQ(ug >> 32, getgid());
}

TEST(Identity, CommIsTheThreadName) {
    std::thread t([] {
        prctl(PR_SET_NAME, "helper-thread-xyz", 0, 0, 0); // truncated by Linux to 15 characters
        char buf[16];
        std::memset(buf, 'Z', sizeof buf);
        EXPECT_EQ(s(helpers::get_current_comm(u(buf), sizeof buf, 0, 0, 0, nullptr)), 0);
        EXPECT_STREQ(buf, "helper-thread-x");
        char small[5];
        std::memset(small, 'Z', sizeof small);
        EXPECT_EQ(s(helpers::get_current_comm(u(small), sizeof small, 0, 0, 0, nullptr)), 0);
        EXPECT_EQ(std::string(small, 5), std::string("help\0", 5));
        char big[32];
        std::memset(big, 'Z', sizeof big);
        EXPECT_EQ(s(helpers::get_current_comm(u(big), sizeof big, 0, 0, 0, nullptr)), 0);
        EXPECT_EQ(std::string(big, 32), "helper-thread-x" + std::string(17, '\0')); // zero-padded
        EXPECT_EQ(s(helpers::get_current_comm(u(big), 0, 0, 0, 0, nullptr)), -EINVAL);
    });
    t.join();
}

TEST(Cpu, SlotsDistinctAcrossLiveThreads) {
    const int n = 4;
    std::vector<uint64_t> ids(n);
    std::barrier sync(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; i++)
        threads.emplace_back([&, i] {
            ids[static_cast<size_t>(i)] = call0(helpers::get_smp_processor_id);
            EXPECT_EQ(call0(helpers::get_smp_processor_id), ids[static_cast<size_t>(i)]); // stable
            EXPECT_EQ(ids[static_cast<size_t>(i)], current_cpu());
            sync.arrive_and_wait(); // all alive at once
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.end()).size(), static_cast<size_t>(n));
    EXPECT_EQ(call0(helpers::get_numa_node_id), 0u);
}

TEST(SpinLock, MutualExclusion) {
    alignas(8) struct {
        uint32_t lock = 0;
        uint32_t pad = 0;
        uint64_t counter = 0;
    } value;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&] {
            for (int i = 0; i < 20000; i++) {
                EXPECT_EQ(helpers::spin_lock(u(&value.lock), 0, 0, 0, 0, nullptr), 0u);
                uint64_t c = value.counter; // a non-atomic read-modify-write under the lock
                value.counter = c + 1;
                EXPECT_EQ(helpers::spin_unlock(u(&value.lock), 0, 0, 0, 0, nullptr), 0u);
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(value.counter, 80000u);
    EXPECT_EQ(s(helpers::spin_lock(0, 0, 0, 0, 0, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::spin_lock(u(&value.lock) + 1, 0, 0, 0, 0, nullptr)), -EINVAL); // misaligned
    CheckedContext c;
    EXPECT_TRUE(c->add_region(MemoryRegion{u(&value), sizeof value, false, "read-only"}));
    EXPECT_EQ(s(helpers::spin_lock(u(&value.lock), 0, 0, 0, 0, c.get())), -EINVAL); // not writable
}

TEST(Identity, NsCurrentPidTgid) {
    struct stat st{};
    ASSERT_EQ(stat("/proc/self/ns/pid", &st), 0);
    uint32_t info[2] = {7, 7};
    EXPECT_EQ(helpers::get_ns_current_pid_tgid(st.st_dev, st.st_ino, u(info), 8, 0, nullptr), 0u);
    EXPECT_EQ(info[0], static_cast<uint32_t>(gettid()));
    EXPECT_EQ(info[1], static_cast<uint32_t>(getpid()));
    info[0] = info[1] = 7;
    EXPECT_EQ(s(helpers::get_ns_current_pid_tgid(st.st_dev, st.st_ino + 1, u(info), 8, 0, nullptr)), -EINVAL);
    EXPECT_EQ(info[0], 0u); // cleared, as Linux
    EXPECT_EQ(info[1], 0u);
    uint32_t three[3] = {7, 7, 7};
    EXPECT_EQ(s(helpers::get_ns_current_pid_tgid(st.st_dev, st.st_ino, u(three), 12, 0, nullptr)), -EINVAL);
    EXPECT_EQ(three[2], 0u);
}

TEST(Identity, CgroupIdIsTheCgroupDirectorysInode) {
    std::ifstream in("/proc/thread-self/cgroup");
    std::string line, path;
    while (std::getline(in, line))
        if (line.starts_with("0::")) path = "/sys/fs/cgroup" + line.substr(3);
    struct stat st{};
    if (path.empty() || stat(path.c_str(), &st) != 0) {
        EXPECT_EQ(call0(helpers::get_current_cgroup_id), 0u);
        GTEST_SKIP() << "no cgroup v2 hierarchy at /sys/fs/cgroup: the id is 0";
    }
    EXPECT_EQ(call0(helpers::get_current_cgroup_id), static_cast<uint64_t>(st.st_ino));
    EXPECT_NE(st.st_ino, 0u);
}

TEST(Identity, CopyFromUser) {
    const char src[] = "abcdef";
    char dst[6];
    std::memset(dst, 'Z', sizeof dst);
    EXPECT_EQ(helpers::copy_from_user(u(dst), 6, u(src), 0, 0, nullptr), 0u);
    EXPECT_EQ(std::string(dst, 6), "abcdef");
    EXPECT_EQ(s(helpers::copy_from_user(u(dst), 6, 16, 0, 0, nullptr)), -EFAULT);
    EXPECT_EQ(std::string(dst, 6), std::string(6, '\0'));
}
