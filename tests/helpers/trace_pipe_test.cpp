// The trace pipe: lines in the kernel's trace_pipe format, read back by a
// reader in another thread and in another process; a full ring drops the
// oldest lines.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;
using namespace std::chrono_literals;

namespace {
void drain(TracePipe& p) {
    while (p.read(0ms)) {
    }
}
} // namespace

TEST(TracePipe, LineFormatIsTheKernels) {
    EXPECT_EQ(format_trace_line("bpfvm", 1234, 3, 5'123'456'789ull, "hello"),
              "           bpfvm-1234    [003] .....     5.123456: bpf_trace_printk: hello");
    EXPECT_EQ(format_trace_line("a-very-long-comm", 7, 12, 123456'000001000ull, "x"),
              "a-very-long-comm-7       [012] ..... 123456.000001: bpf_trace_printk: x");
}

TEST(TracePipe, WriteThenReadInOrder) {
    bpfvm::testing::TempDir dir;
    auto pipe = TracePipe::open(dir.path);
    ASSERT_TRUE(pipe) << pipe.error().to_string();
    EXPECT_EQ((*pipe)->path(), dir.path + "/trace_pipe");
    EXPECT_EQ(TracePipe::path_for(dir.path), dir.path + "/trace_pipe");
    (*pipe)->write("first");
    (*pipe)->write("second\n"); // a newline is not doubled
    EXPECT_EQ((*pipe)->read(0ms), "first\n");
    EXPECT_EQ((*pipe)->read(0ms), "second\n");
    EXPECT_EQ((*pipe)->read(0ms), std::nullopt);
    // A second handle on the same file sees the same ring.
    auto again = TracePipe::open(dir.path);
    ASSERT_TRUE(again);
    (*pipe)->write("shared");
    EXPECT_EQ((*again)->read(0ms), "shared\n");
    EXPECT_EQ((*pipe)->read(0ms), std::nullopt); // consumed
}

TEST(TracePipe, TracePrintkLinesReachAReaderInAnotherThread) {
    auto pipe = TracePipe::open(); // the process's pin root ($BPFVM_PIN_ROOT)
    ASSERT_TRUE(pipe) << pipe.error().to_string();
    drain(**pipe);
    std::optional<std::string> got;
    std::thread reader([&] { got = (*pipe)->read(30s); });
    std::thread writer([] {
        prctl(PR_SET_NAME, "printer", 0, 0, 0);
        const char f[] = "x=%d s=%s\n";
        EXPECT_EQ(s(helpers::trace_printk(u(f), sizeof f, 42, u("str"), 0, nullptr)), 11);
    });
    writer.join();
    reader.join();
    ASSERT_TRUE(got.has_value());
    std::regex line(R"( +printer-(\d+) +\[(\d{3})\] \.\.\.\.\. +(\d+)\.(\d{6}): bpf_trace_printk: x=42 s=str\n)");
    std::smatch m;
    EXPECT_TRUE(std::regex_match(*got, m, line)) << *got;
}

TEST(TracePipe, LongOutputIsCutAt1023Bytes) {
    auto pipe = TracePipe::open();
    ASSERT_TRUE(pipe);
    drain(**pipe);
    const char f[] = "%2000d";
    EXPECT_EQ(s(helpers::trace_printk(u(f), sizeof f, 1, 0, 0, nullptr)), 2000); // the full length
    auto got = (*pipe)->read(5s);
    ASSERT_TRUE(got);
    auto text = got->substr(got->find("bpf_trace_printk: ") + 18);
    EXPECT_EQ(text, std::string(1023, ' ') + "\n"); // 1023 bytes of output: the "1" after 1999 spaces is cut
}

TEST(TracePipe, ReaderInAnotherProcess) {
    bpfvm::testing::TempDir dir;
    auto pipe = TracePipe::open(dir.path);
    ASSERT_TRUE(pipe);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // The child opens the pipe by path, as `bpfvm trace` would, and reads 3 lines.
        auto p = TracePipe::open(dir.path);
        if (!p) _exit(10);
        for (int i = 0; i < 3; i++) {
            auto l = (*p)->read(30s);
            if (!l || *l != fmt::format("line {}\n", i)) _exit(20 + i);
        }
        _exit(0);
    }
    for (int i = 0; i < 3; i++) (*pipe)->write(fmt::format("line {}", i));
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(TracePipe, WriterInAnotherProcess) {
    bpfvm::testing::TempDir dir;
    auto pipe = TracePipe::open(dir.path);
    ASSERT_TRUE(pipe);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        setenv("BPFVM_PIN_ROOT", dir.path.c_str(), 1);
        const char f[] = "from child %d";
        std::string why;
        if (!TracePipe::process_pipe(&why)) _exit(2);
        _exit(s(helpers::trace_printk(u(f), sizeof f, 7, 0, 0, nullptr)) == 12 ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    auto got = (*pipe)->read(30s);
    ASSERT_TRUE(got);
    EXPECT_NE(got->find(fmt::format("-{} ", child)), std::string::npos) << *got; // the child's pid
    EXPECT_TRUE(got->ends_with(": bpf_trace_printk: from child 7\n")) << *got;
}

TEST(TracePipe, FullRingDropsTheOldestLines) {
    bpfvm::testing::TempDir dir;
    auto pipe = TracePipe::open(dir.path);
    ASSERT_TRUE(pipe);
    const int n = 2000;
    const std::string pad(1000, '.');
    for (int i = 0; i < n; i++) (*pipe)->write(fmt::format("{:04} {}", i, pad));
    uint64_t lost = (*pipe)->lost();
    EXPECT_GT(lost, 0u);
    int read = 0, first = -1, last = -1;
    while (auto l = (*pipe)->read(0ms)) {
        int idx = std::stoi(l->substr(0, 4));
        if (first < 0) first = idx;
        EXPECT_EQ(last < 0 ? idx : last + 1, idx); // in order, no gaps after the drop
        last = idx;
        read++;
    }
    EXPECT_EQ(static_cast<uint64_t>(read) + lost, static_cast<uint64_t>(n));
    EXPECT_EQ(first, static_cast<int>(lost));
    EXPECT_EQ(last, n - 1);
}

TEST(TracePipe, RefusesAFileThatIsNotOne) {
    bpfvm::testing::TempDir dir;
    dir.write("trace_pipe", std::string(8192, 'j'));
    auto pipe = TracePipe::open(dir.path);
    ASSERT_FALSE(pipe);
    EXPECT_EQ(pipe.error().message, "trace pipe " + dir.path + "/trace_pipe: not a bpfvm trace pipe (bad magic)");
    bpfvm::testing::TempDir small;
    small.write("trace_pipe", "tiny");
    pipe = TracePipe::open(small.path);
    ASSERT_FALSE(pipe);
    EXPECT_NE(pipe.error().message.find("too small"), std::string::npos);
    pipe = TracePipe::open("/nonexistent/dir/for/bpfvm");
    ASSERT_FALSE(pipe);
    EXPECT_NE(pipe.error().message.find("/nonexistent/dir/for/bpfvm/trace_pipe"), std::string::npos);
}

TEST(TracePipe, ADamagedRingStartsAfresh) {
    bpfvm::testing::TempDir dir;
    auto pipe = TracePipe::open(dir.path);
    ASSERT_TRUE(pipe);
    (*pipe)->write("one");
    (*pipe)->write("two");
    {
        // Overwrite the first record's length with nonsense, through the file.
        FILE* f = std::fopen((dir.path + "/trace_pipe").c_str(), "r+b");
        ASSERT_NE(f, nullptr);
        std::fseek(f, 4096, SEEK_SET);
        uint32_t bad = 0xfffffff0;
        std::fwrite(&bad, sizeof bad, 1, f);
        std::fclose(f);
    }
    EXPECT_EQ((*pipe)->read(0ms), std::nullopt); // dropped, not garbage
    EXPECT_GE((*pipe)->lost(), 1u);
    (*pipe)->write("three");
    EXPECT_EQ((*pipe)->read(0ms), "three\n");
}
