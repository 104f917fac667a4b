// Pinning: another process sees what this one writes and the other way round,
// pins outlive their creator, bad pinned files get clear errors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "map_testing.h"
#include "process.h"

namespace bpfvm {
namespace {

using testing::make;
using testing::PinRoot;
using testing::run_command;
using testing::shell_quote;
using testing::spec;

std::string child(const PinRoot& root, const std::string& path, const std::string& args) {
    auto r = run_command(shell_quote(MAPS_PIN_CHILD) + " " + shell_quote(root.path) + " " + shell_quote(path) + " " +
                         args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.out;
}

TEST(Pin, SecondProcessSeesValuesAndWritesBack) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, "shared_arr"), root.options());
    uint32_t k = 2;
    uint64_t v = 42;
    ASSERT_EQ(m->update(&k, &v, BPF_ANY), 0);
    ASSERT_TRUE(m->pin("arr"));
    EXPECT_TRUE(std::ifstream(root.path + "/arr").good());
    EXPECT_EQ(child(root, "arr", "read 2"), "42\n");
    EXPECT_EQ(child(root, "arr", "write 1 77"), "0\n");
    uint32_t k1 = 1;
    EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k1)), 77u); // through the same memory
    // A value written while the child runs is what it reads.
    v = 43;
    m->update(&k, &v, BPF_ANY);
    EXPECT_EQ(child(root, "arr", "read 2"), "43\n");
    EXPECT_EQ(child(root, root.path + "/arr", "open"), "ok 2 4\n");
}

TEST(Pin, HashPinnedByAnExitedProcessSurvives) {
    PinRoot root;
    EXPECT_EQ(child(root, "h", "create-hash 20"), "pinned\n");
    auto m = Map::open_pinned("h", root.options());
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ((*m)->type(), uint32_t(BPF_MAP_TYPE_HASH));
    EXPECT_EQ((*m)->name(), "child_hash");
    EXPECT_EQ((*m)->max_entries(), 100u);
    for (uint32_t i = 0; i < 20; i++) {
        uint64_t out;
        ASSERT_EQ((*m)->sys_lookup(&i, &out, 0), 0) << i;
        EXPECT_EQ(out, uint64_t(i) * 10);
    }
    uint32_t k = 25;
    uint64_t v = 5;
    EXPECT_EQ((*m)->update(&k, &v, BPF_NOEXIST), 0);
    EXPECT_EQ(child(root, "h", "read 25"), "5\n");
    EXPECT_EQ(child(root, "h", "read 26"), "absent\n");
    // The same process opening it again gets the same object.
    auto again = Map::open_pinned(root.path + "/h", root.options());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->get(), m->get());
}

TEST(Pin, RingBufferAcrossProcesses) {
    PinRoot root;
    auto rb = make(spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 8192), root.options());
    ASSERT_TRUE(rb->pin("rb"));
    RingBufferReader reader;
    uint64_t sum = 0;
    long records = 0;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t n) {
        EXPECT_EQ(n, 8u);
        uint64_t v;
        memcpy(&v, d, 8);
        sum += v;
        return 0;
    }));
    std::thread producer([&] { EXPECT_EQ(child(root, "rb", "ringbuf 5000"), "done\n"); });
    while (records < 5000) {
        long n = reader.poll(1000);
        ASSERT_GE(n, 0);
        records += n;
    }
    producer.join();
    EXPECT_EQ(sum, 5000ull * 5001 / 2);
}

TEST(Pin, PercpuValuesVisibleAcrossProcesses) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1), root.options(3));
    std::vector<unsigned char> all(24);
    for (uint64_t c = 0; c < 3; c++) {
        uint64_t x = c + 1;
        memcpy(all.data() + 8 * c, &x, 8);
    }
    uint32_t k = 0;
    ASSERT_EQ(m->sys_update(&k, all.data(), 0), 0);
    ASSERT_TRUE(m->pin("pc"));
    EXPECT_EQ(child(root, "pc", "percpu 0"), "1 2 3\n");
}

TEST(Pin, Errors) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 4), root.options());
    ASSERT_TRUE(m->pin("x"));
    auto again = m->pin("x");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, "EEXIST: pin " + root.path + "/x: the path exists");
    auto nodir = m->pin("no/such/dir");
    ASSERT_FALSE(nodir);
    EXPECT_EQ(nodir.error().message.substr(0, 7), "ENOENT:");
    // /tmp is not the pin root's file system here (skip the check if it is).
    struct stat a{}, b{};
    stat("/tmp", &a);
    stat(root.path.c_str(), &b);
    if (a.st_dev != b.st_dev) {
        std::string p = "/tmp/bpfvm-pin-" + std::to_string(getpid());
        auto cross = m->pin(p);
        ASSERT_FALSE(cross);
        EXPECT_EQ(cross.error().message,
                  "EXDEV: pin " + p + ": not on the file system of the pin root " + root.path);
    }
    // Unpinning removes the name; the map lives on.
    ASSERT_TRUE(unpin("x", root.options()));
    EXPECT_FALSE(std::ifstream(root.path + "/x").good());
    uint32_t k = 1;
    EXPECT_EQ(m->update(&k, &k, 0), 0);
    auto gone = unpin("x", root.options());
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().message, "unpin " + root.path + "/x: No such file or directory");
}

TEST(Pin, BadPinnedFilesAreRefusedWithTheReason) {
    PinRoot root;
    auto open_err = [&](const std::string& name) {
        auto r = Map::open_pinned(name, root.options());
        return r ? std::string("opened") : r.error().message;
    };
    std::string p = root.path + "/";
    EXPECT_EQ(open_err("missing"), "ENOENT: open pinned map " + p + "missing: No such file or directory");
    {
        std::ofstream(p + "garbage") << std::string(8192, 'x');
    }
    EXPECT_EQ(open_err("garbage"), "EINVAL: pinned map " + p + "garbage: not a bpfvm map (bad magic)");
    {
        std::ofstream(p + "short") << "BPFVMAP";
    }
    EXPECT_EQ(open_err("short"),
              "EINVAL: pinned map " + p + "short: truncated: 7 bytes, smaller than the 4096-byte header");
    // A real map's file, then damaged copies of it.
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 8, 64), root.options());
    ASSERT_TRUE(m->pin("good"));
    std::string good;
    {
        std::ifstream f(p + "good", std::ios::binary);
        good.assign(std::istreambuf_iterator<char>(f), {});
    }
    auto write = [&](const std::string& name, const std::string& content) {
        std::ofstream(p + name, std::ios::binary) << content;
    };
    write("truncated", good.substr(0, good.size() - 4096));
    EXPECT_EQ(open_err("truncated"), "EINVAL: pinned map " + p + "truncated: truncated or resized: " +
                                         std::to_string(good.size() - 4096) + " bytes, its header describes " +
                                         std::to_string(good.size()));
    std::string badver = good;
    badver[8] = 99;
    write("badver", badver);
    EXPECT_EQ(open_err("badver"), "EINVAL: pinned map " + p + "badver: layout version 99, this bpfvm reads version 1");
    std::string badtype = good;
    uint32_t t = 1234;
    memcpy(badtype.data() + 24, &t, 4); // Shared::type
    write("badtype", badtype);
    EXPECT_EQ(open_err("badtype"), "EINVAL: pinned map " + p +
                                       "badtype: invalid map description in the header: EINVAL: unknown map "
                                       "'m': map type 1234 not supported");
    // A consistent header over damaged storage: a chain pointing outside.
    std::string badchain = good;
    uint32_t huge = 0x7ffffff0;
    memcpy(badchain.data() + 4096, &huge, 4); // bucket 0's head
    write("badchain", badchain);
    EXPECT_EQ(open_err("badchain"),
              "EINVAL: pinned map " + p + "badchain: damaged: bucket 0: element index out of range");
    std::string loop = good;
    uint32_t zero = 0;
    memcpy(loop.data() + 4096, &zero, 4); // bucket 0 -> element 0 -> element 0 ...
    uint64_t elems_off = 4096 + 64 * 8;     // 64 buckets of 8 bytes, 64-aligned
    memcpy(loop.data() + elems_off, &zero, 4);
    write("loop", loop);
    EXPECT_EQ(open_err("loop"), "EINVAL: pinned map " + p + "loop: damaged: bucket 0: chain loops");
    mkdir((p + "dir").c_str(), 0700);
    EXPECT_EQ(open_err("dir").substr(0, 7), "EISDIR:");
    EXPECT_EQ(open_err("good"), "opened");
}

TEST(Pin, ProcessLocalTypesAreRefusedElsewhere) {
    PinRoot root;
    auto pa = make(spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), root.options());
    ASSERT_TRUE(pa->pin("pa"));
    EXPECT_EQ(child(root, "pa", "open"),
              "EINVAL: pinned map " + root.path +
                  "/pa: a prog_array holds ids of another process's objects and cannot be opened here\n");
    auto same = Map::open_pinned("pa", root.options()); // this process: the same object
    ASSERT_TRUE(same);
    EXPECT_EQ(same->get(), pa.get());
}

TEST(Pin, UnusablePinRootStillCreatesAnUnpinnableMap) {
    PinRoot root;
    { std::ofstream(root.path + "/file") << "x"; }
    MapOptions o = root.options();
    o.pin_root = root.path + "/file/sub"; // below a regular file: cannot exist
    auto m = Map::create(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 2), o);
    ASSERT_TRUE(m) << m.error().message;
    uint32_t k = 1, v = 5;
    EXPECT_EQ((*m)->update(&k, &v, 0), 0);
    auto p = (*m)->pin("x");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().message, "EXDEV: pin " + o.pin_root + "/x: the map's file is not in the pin root (pin root " +
                                     root.path + "/file: not a directory)");
}

} // namespace
} // namespace bpfvm
