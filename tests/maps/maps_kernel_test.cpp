// The kernel as the oracle: the same map created with bpf(2) and with bpfvm,
// the same sequence of operations, the same return codes and contents.
// Skips (with a message) where the kernel refuses BPF (not root, no bpf(2)).
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <algorithm>
#include <optional>

#include "map_testing.h"

namespace bpfvm {
namespace {

using testing::PinRoot;
using testing::spec;

long sys_bpf(int cmd, union bpf_attr* attr) {
    long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : r;
}

uint32_t kernel_possible_cpus() {
    std::ifstream f("/sys/devices/system/cpu/possible");
    std::string s;
    f >> s; // "0-N" or "0"
    auto dash = s.find('-');
    return dash == std::string::npos ? 1 : uint32_t(std::stoul(s.substr(dash + 1)) + 1);
}

struct KernelMap {
    int fd = -1;
    ~KernelMap() {
        if (fd >= 0) close(fd);
    }
};

// Creates the map in the kernel; returns -errno on failure.
long kernel_create(const MapSpec& s, KernelMap& km) {
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = s.type;
    a.key_size = s.key_size;
    a.value_size = s.value_size;
    a.max_entries = s.max_entries;
    a.map_flags = s.map_flags;
    a.map_extra = s.map_extra;
    a.numa_node = s.numa_node;
    strncpy(a.map_name, s.name.c_str(), sizeof(a.map_name) - 1);
    long r = sys_bpf(BPF_MAP_CREATE, &a);
    if (r >= 0) km.fd = int(r);
    return r < 0 ? r : 0;
}

bool kernel_available() {
    KernelMap km;
    return kernel_create(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1), km) == 0;
}

#define REQUIRE_KERNEL()                                                                                       \
    do {                                                                                                       \
        if (!kernel_available()) GTEST_SKIP() << "the kernel refuses BPF maps here (needs root and bpf(2))"; \
    } while (0)

enum class Op { Update, Delete, Lookup, NextKey, LookupAndDelete, Push, Pop, Peek };

struct Step {
    Op op;
    std::vector<uint8_t> key;   // empty = NULL
    std::vector<uint8_t> value; // for update/push
    uint64_t flags = 0;
};

struct Outcome {
    long rc;
    std::vector<uint8_t> out;
    bool operator==(const Outcome& o) const { return rc == o.rc && out == o.out; }
};

std::string show(const Outcome& o) {
    std::string s = "rc=" + std::to_string(o.rc) + " [";
    for (uint8_t b : o.out) s += std::to_string(b) + " ";
    return s + "]";
}

Outcome run_kernel(int fd, const MapSpec& s, uint32_t vsize, const Step& st) {
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_fd = fd;
    std::vector<uint8_t> out;
    const void* key = st.key.empty() ? nullptr : st.key.data();
    a.key = uint64_t(uintptr_t(key));
    a.flags = st.flags;
    long rc = 0;
    switch (st.op) {
    case Op::Update:
    case Op::Push:
        a.value = uint64_t(uintptr_t(st.value.data()));
        rc = sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
        break;
    case Op::Delete:
        rc = sys_bpf(BPF_MAP_DELETE_ELEM, &a);
        break;
    case Op::Lookup:
    case Op::Peek:
        out.assign(vsize, 0);
        if (s.type == BPF_MAP_TYPE_BLOOM_FILTER) out = st.value;
        a.value = uint64_t(uintptr_t(out.data()));
        rc = sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
        break;
    case Op::NextKey:
        out.assign(s.key_size, 0);
        a.next_key = uint64_t(uintptr_t(out.data()));
        rc = sys_bpf(BPF_MAP_GET_NEXT_KEY, &a);
        break;
    case Op::LookupAndDelete:
    case Op::Pop:
        out.assign(vsize, 0);
        a.value = uint64_t(uintptr_t(out.data()));
        rc = sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &a);
        break;
    }
    if (rc != 0) out.assign(out.size(), 0);
    return {rc, out};
}

Outcome run_bpfvm(Map& m, uint32_t vsize, const Step& st) {
    std::vector<uint8_t> out;
    const void* key = st.key.empty() ? nullptr : st.key.data();
    long rc = 0;
    switch (st.op) {
    case Op::Update:
    case Op::Push:
        rc = m.sys_update(key, st.value.data(), st.flags);
        break;
    case Op::Delete:
        rc = m.sys_delete(key);
        break;
    case Op::Lookup:
    case Op::Peek:
        out.assign(vsize, 0);
        if (m.type() == BPF_MAP_TYPE_BLOOM_FILTER) out = st.value;
        rc = m.sys_lookup(key, out.data(), st.flags);
        break;
    case Op::NextKey:
        out.assign(m.key_size(), 0);
        rc = m.sys_get_next_key(key, out.data());
        break;
    case Op::LookupAndDelete:
    case Op::Pop:
        out.assign(vsize, 0);
        rc = m.sys_lookup_and_delete(key, out.data(), st.flags);
        break;
    }
    if (rc != 0) out.assign(out.size(), 0);
    return {rc, out};
}

std::vector<uint8_t> u32(uint32_t v) {
    std::vector<uint8_t> b(4);
    memcpy(b.data(), &v, 4);
    return b;
}
std::vector<uint8_t> u64(uint64_t v) {
    std::vector<uint8_t> b(8);
    memcpy(b.data(), &v, 8);
    return b;
}

// Runs `steps` on both and compares every outcome. Hash iteration order is
// not compared (bucket hashing differs): NextKey steps compare the code only
// when `order_matters` is false.
void compare(const MapSpec& s, const std::vector<Step>& steps, bool order_matters = true) {
    PinRoot root;
    uint32_t cpus = kernel_possible_cpus();
    auto m = Map::create(s, root.options(cpus));
    ASSERT_TRUE(m) << m.error().message;
    KernelMap km;
    ASSERT_EQ(kernel_create(s, km), 0);
    uint32_t vsize = (*m)->sys_value_size();
    for (size_t i = 0; i < steps.size(); i++) {
        Outcome k = run_kernel(km.fd, s, vsize, steps[i]);
        Outcome b = run_bpfvm(**m, vsize, steps[i]);
        if (steps[i].op == Op::NextKey && !order_matters) {
            EXPECT_EQ(k.rc, b.rc) << "step " << i;
        } else {
            EXPECT_EQ(k, b) << "step " << i << ": kernel " << show(k) << ", bpfvm " << show(b);
        }
    }
}

TEST(KernelOracle, CreationErrorCodes) {
    REQUIRE_KERNEL();
    PinRoot root;
    std::vector<MapSpec> specs = {
        spec(BPF_MAP_TYPE_ARRAY, 8, 4, 1),
        spec(BPF_MAP_TYPE_ARRAY, 4, 0, 1),
        spec(BPF_MAP_TYPE_ARRAY, 4, 4, 0),
        spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC),
        spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_MMAPABLE),
        spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
        spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY),
        spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE),
        spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1),
        spec(BPF_MAP_TYPE_HASH, 0, 4, 1),
        spec(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU),
        spec(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE),
        spec(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_PREALLOC),
        spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 1),
        spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 1),
        spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG),
        spec(BPF_MAP_TYPE_QUEUE, 4, 4, 4),
        spec(BPF_MAP_TYPE_QUEUE, 0, 4, 0),
        spec(BPF_MAP_TYPE_STACK, 0, 4, 4, BPF_F_NO_PREALLOC),
        spec(BPF_MAP_TYPE_BLOOM_FILTER, 4, 4, 4),
        spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4),
        spec(BPF_MAP_TYPE_LPM_TRIE, 4, 4, 4, BPF_F_NO_PREALLOC),
        spec(BPF_MAP_TYPE_LPM_TRIE, 261, 4, 4, BPF_F_NO_PREALLOC),
        spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 * 3),
        spec(BPF_MAP_TYPE_RINGBUF, 4, 0, 4096),
        spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, BPF_F_RDONLY_PROG),
    };
    MapSpec extra = spec(BPF_MAP_TYPE_HASH, 4, 4, 1);
    extra.map_extra = 1;
    specs.push_back(extra);
    MapSpec bloom = spec(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 4);
    bloom.map_extra = 16;
    specs.push_back(bloom);
    MapSpec numa = spec(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NUMA_NODE);
    specs.push_back(numa);
    numa.numa_node = 1;
    specs.push_back(numa);
    specs.push_back(spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 1, BPF_F_NUMA_NODE));
    specs.push_back(spec(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_INNER_MAP));
    specs.push_back(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_INNER_MAP));
    specs.push_back(spec(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1, BPF_F_PRESERVE_ELEMS));
    specs.push_back(spec(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_PRESERVE_ELEMS));
    specs.push_back(spec(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU));
    MapSpec name = spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    name.name = "a-b";
    specs.push_back(name);
    for (const auto& s : specs) {
        KernelMap km;
        long k = kernel_create(s, km);
        auto m = Map::create(s, root.options(kernel_possible_cpus()));
        long b = 0;
        if (!m) {
            // The message starts with the errno's name; map it back.
            std::string e = m.error().message.substr(0, m.error().message.find(':'));
            b = e == "EINVAL" ? -EINVAL : e == "E2BIG" ? -E2BIG : e == "ENOTSUPP" ? -524 : e == "EPERM" ? -EPERM : -1;
        }
        EXPECT_EQ(k, b) << "type " << s.type << " key " << s.key_size << " value " << s.value_size << " max "
                        << s.max_entries << " flags " << s.map_flags << ": "
                        << (m ? std::string("created") : m.error().message);
    }
}

TEST(KernelOracle, ArraySequence) {
    REQUIRE_KERNEL();
    compare(spec(BPF_MAP_TYPE_ARRAY, 4, 8, 3),
            {{Op::Lookup, u32(0)},
             {Op::Update, u32(1), u64(5), BPF_ANY},
             {Op::Update, u32(1), u64(6), BPF_NOEXIST},
             {Op::Update, u32(1), u64(6), BPF_EXIST},
             {Op::Update, u32(3), u64(6), BPF_ANY},
             {Op::Update, u32(1), u64(6), 3},
             {Op::Update, u32(1), u64(6), BPF_F_LOCK},
             {Op::Lookup, u32(1)},
             {Op::Lookup, u32(3)},
             {Op::Lookup, u32(1), {}, BPF_F_LOCK},
             {Op::Delete, u32(1)},
             {Op::NextKey, {}},
             {Op::NextKey, u32(1)},
             {Op::NextKey, u32(2)},
             {Op::NextKey, u32(7)},
             {Op::LookupAndDelete, u32(1)}});
}

TEST(KernelOracle, PercpuArraySequence) {
    REQUIRE_KERNEL();
    uint32_t cpus = kernel_possible_cpus();
    std::vector<uint8_t> all(8 * cpus);
    for (size_t i = 0; i < all.size(); i++) all[i] = uint8_t(i * 7 + 1);
    compare(spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2),
            {{Op::Update, u32(0), all, BPF_ANY},
             {Op::Lookup, u32(0)},
             {Op::Update, u32(0), all, BPF_NOEXIST},
             {Op::Update, u32(0), all, BPF_F_LOCK},
             {Op::Update, u32(2), all, BPF_ANY},
             {Op::Lookup, u32(1)}});
}

TEST(KernelOracle, HashSequence) {
    REQUIRE_KERNEL();
    std::vector<Step> steps = {
        {Op::Lookup, u32(1)},
        {Op::NextKey, {}},
        {Op::Update, u32(1), u64(10), BPF_EXIST},
        {Op::Update, u32(1), u64(10), BPF_NOEXIST},
        {Op::Update, u32(1), u64(11), BPF_NOEXIST},
        {Op::Update, u32(1), u64(12), BPF_EXIST},
        {Op::Update, u32(2), u64(20), BPF_ANY},
        {Op::Update, u32(3), u64(30), BPF_ANY},
        {Op::Update, u32(4), u64(40), BPF_ANY}, // full: E2BIG
        {Op::Update, u32(3), u64(31), BPF_ANY}, // replacing in a full map
        {Op::Update, u32(3), u64(31), 4},       // BPF_F_LOCK without a lock
        {Op::Update, u32(3), u64(31), 8},
        {Op::Lookup, u32(1)},
        {Op::Lookup, u32(3)},
        {Op::Lookup, u32(3), {}, 1},
        {Op::NextKey, {}},
        {Op::NextKey, u32(99)},
        {Op::Delete, u32(2)},
        {Op::Delete, u32(2)},
        {Op::LookupAndDelete, u32(1)},
        {Op::LookupAndDelete, u32(1)},
        {Op::LookupAndDelete, u32(3), {}, BPF_F_LOCK},
        {Op::Update, u32(4), u64(40), BPF_ANY},
        {Op::Lookup, u32(4)},
    };
    compare(spec(BPF_MAP_TYPE_HASH, 4, 8, 3), steps, false);
    compare(spec(BPF_MAP_TYPE_HASH, 4, 8, 3, BPF_F_NO_PREALLOC), steps, false);
}

TEST(KernelOracle, PercpuAndLruHashCodes) {
    REQUIRE_KERNEL();
    uint32_t cpus = kernel_possible_cpus();
    std::vector<uint8_t> all(8 * cpus);
    for (size_t i = 0; i < all.size(); i++) all[i] = uint8_t(i + 1);
    std::vector<Step> steps = {
        {Op::Update, u32(1), all, BPF_ANY},       {Op::Lookup, u32(1)},
        {Op::Update, u32(1), all, BPF_NOEXIST},   {Op::Update, u32(2), all, BPF_EXIST},
        {Op::Update, u32(1), all, BPF_F_LOCK},    {Op::LookupAndDelete, u32(1)},
        {Op::LookupAndDelete, u32(1)},            {Op::Delete, u32(1)},
    };
    compare(spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4), steps, false);
    compare(spec(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 4), steps, false);
    compare(spec(BPF_MAP_TYPE_LRU_HASH, 4, 8, 4),
            {{Op::Update, u32(1), u64(1), BPF_ANY},
             {Op::Update, u32(1), u64(2), BPF_NOEXIST},
             {Op::Update, u32(2), u64(2), BPF_EXIST},
             {Op::Update, u32(1), u64(2), BPF_F_LOCK},
             {Op::Lookup, u32(1)},
             {Op::Delete, u32(1)},
             {Op::Delete, u32(1)}},
            false);
}

TEST(KernelOracle, QueueStackBloomSequences) {
    REQUIRE_KERNEL();
    for (uint32_t type : {BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK}) {
        SCOPED_TRACE(type);
        compare(spec(type, 0, 4, 2), {{Op::Pop, {}},
                                      {Op::Peek, {}},
                                      {Op::Push, {}, u32(1), BPF_ANY},
                                      {Op::Push, {}, u32(2), BPF_ANY},
                                      {Op::Push, {}, u32(3), BPF_ANY},
                                      {Op::Push, {}, u32(3), BPF_NOEXIST},
                                      {Op::Push, {}, u32(3), BPF_EXIST},
                                      {Op::Peek, {}},
                                      {Op::Pop, {}, {}, BPF_F_LOCK},
                                      {Op::Pop, {}},
                                      {Op::Pop, {}},
                                      {Op::Pop, {}},
                                      {Op::Delete, {}},
                                      {Op::NextKey, {}}});
    }
    compare(spec(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 16),
            {{Op::Push, {}, u32(5), BPF_ANY},
             {Op::Push, {}, u32(5), BPF_EXIST},
             {Op::Peek, {}, u32(5)},
             {Op::Pop, {}},
             {Op::Delete, {}},
             {Op::NextKey, {}}});
}

TEST(KernelOracle, LpmTrieSequence) {
    REQUIRE_KERNEL();
    auto k = [](uint32_t len, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
        std::vector<uint8_t> v(8);
        memcpy(v.data(), &len, 4);
        v[4] = a, v[5] = b, v[6] = c, v[7] = d;
        return v;
    };
    compare(spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 3, BPF_F_NO_PREALLOC),
            {{Op::Update, k(16, 192, 168, 0, 0), u32(1), BPF_ANY},
             {Op::Update, k(24, 192, 168, 1, 0), u32(2), BPF_ANY},
             {Op::Update, k(8, 10, 0, 0, 0), u32(3), BPF_ANY},
             {Op::Update, k(8, 10, 0, 0, 0), u32(3), BPF_NOEXIST},
             {Op::Update, k(9, 10, 0, 0, 0), u32(3), BPF_EXIST},
             {Op::Update, k(33, 10, 0, 0, 0), u32(3), BPF_ANY},
             {Op::Update, k(32, 1, 2, 3, 4), u32(4), BPF_ANY},
             {Op::Update, k(16, 192, 168, 7, 7), u32(5), BPF_EXIST}, // bits after the prefix kept
             {Op::Lookup, k(32, 192, 168, 1, 9)},
             {Op::Lookup, k(20, 192, 168, 1, 9)},
             {Op::Lookup, k(16, 192, 168, 1, 9)},
             {Op::Lookup, k(15, 192, 168, 1, 9)},
             {Op::Lookup, k(0, 192, 168, 1, 9)},
             {Op::Lookup, k(40, 192, 168, 1, 9)},
             {Op::Lookup, k(32, 192, 168, 2, 9)},
             {Op::Lookup, k(32, 11, 0, 0, 0)},
             {Op::NextKey, {}},
             {Op::NextKey, k(8, 10, 0, 0, 0)},
             {Op::NextKey, k(24, 192, 168, 1, 0)},
             {Op::NextKey, k(16, 192, 168, 0, 0)},
             {Op::Delete, k(24, 192, 168, 1, 0)},
             {Op::Delete, k(24, 192, 168, 1, 0)},
             {Op::Lookup, k(32, 192, 168, 1, 9)},
             {Op::LookupAndDelete, k(8, 10, 0, 0, 0)},
             {Op::Delete, k(8, 10, 0, 0, 0)},
             {Op::Update, k(0, 0, 0, 0, 0), u32(9), BPF_ANY},
             {Op::Lookup, k(32, 11, 0, 0, 0)},
             {Op::Lookup, k(0, 255, 0, 0, 0)},
             {Op::NextKey, {}},
             {Op::NextKey, k(0, 0, 0, 0, 0)},
             {Op::Delete, k(40, 0, 0, 0, 0)}});
}

TEST(KernelOracle, ArrayBatchCursor) {
    REQUIRE_KERNEL();
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_ARRAY, 4, 4, 5);
    auto m = Map::create(s, root.options(kernel_possible_cpus()));
    ASSERT_TRUE(m);
    KernelMap km;
    ASSERT_EQ(kernel_create(s, km), 0);
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t v = i * 11;
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.map_fd = km.fd;
        a.key = uintptr_t(&i);
        a.value = uintptr_t(&v);
        ASSERT_EQ(sys_bpf(BPF_MAP_UPDATE_ELEM, &a), 0);
        ASSERT_EQ((*m)->sys_update(&i, &v, 0), 0);
    }
    // Two rounds of 3 from the start, then past the end; and the commands the
    // array lacks.
    uint32_t kin = 0, bin = 0;
    bool first = true;
    for (int round = 0; round < 3; round++) {
        uint32_t kkeys[3] = {}, kvals[3] = {}, bkeys[3] = {}, bvals[3] = {}, kout = 77, bout = 77;
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.batch.map_fd = km.fd;
        a.batch.in_batch = first ? 0 : uintptr_t(&kin);
        a.batch.out_batch = uintptr_t(&kout);
        a.batch.keys = uintptr_t(kkeys);
        a.batch.values = uintptr_t(kvals);
        a.batch.count = 3;
        long kr = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a);
        uint32_t bcount = 3;
        long br = (*m)->sys_lookup_batch(first ? nullptr : &bin, &bout, bkeys, bvals, &bcount, 0);
        EXPECT_EQ(kr, br) << "round " << round;
        EXPECT_EQ(a.batch.count, bcount) << "round " << round;
        EXPECT_EQ(kout, bout) << "round " << round;
        for (int i = 0; i < 3; i++) {
            EXPECT_EQ(kkeys[i], bkeys[i]);
            EXPECT_EQ(kvals[i], bvals[i]);
        }
        kin = kout;
        bin = bout;
        first = false;
    }
    uint32_t keys[2] = {0, 1};
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.batch.map_fd = km.fd;
    a.batch.keys = uintptr_t(keys);
    a.batch.count = 2;
    long kr = sys_bpf(BPF_MAP_DELETE_BATCH, &a);
    uint32_t bcount = 2;
    EXPECT_EQ(kr, (*m)->sys_delete_batch(keys, &bcount, 0));
    EXPECT_EQ(a.batch.count, bcount);
    uint32_t vals[2], out;
    memset(&a, 0, sizeof(a));
    a.batch.map_fd = km.fd;
    a.batch.keys = uintptr_t(keys);
    a.batch.values = uintptr_t(vals);
    a.batch.out_batch = uintptr_t(&out);
    a.batch.count = 2;
    kr = sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a);
    bcount = 2;
    EXPECT_EQ(kr, (*m)->sys_lookup_and_delete_batch(nullptr, &out, keys, vals, &bcount, 0));
}

TEST(KernelOracle, HashBatchEndsWithENOENTAndAllKeys) {
    REQUIRE_KERNEL();
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_HASH, 4, 8, 64);
    auto m = Map::create(s, root.options(kernel_possible_cpus()));
    ASSERT_TRUE(m);
    KernelMap km;
    ASSERT_EQ(kernel_create(s, km), 0);
    for (uint32_t i = 0; i < 40; i++) {
        uint64_t v = i * 3;
        union bpf_attr a;
        memset(&a, 0, sizeof(a));
        a.map_fd = km.fd;
        a.key = uintptr_t(&i);
        a.value = uintptr_t(&v);
        ASSERT_EQ(sys_bpf(BPF_MAP_UPDATE_ELEM, &a), 0);
        ASSERT_EQ((*m)->sys_update(&i, &v, 0), 0);
    }
    // One batch larger than the map: both return everything and -ENOENT.
    std::vector<uint32_t> kk(64), bk(64);
    std::vector<uint64_t> kv(64), bv(64);
    uint32_t kout, bout;
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.batch.map_fd = km.fd;
    a.batch.out_batch = uintptr_t(&kout);
    a.batch.keys = uintptr_t(kk.data());
    a.batch.values = uintptr_t(kv.data());
    a.batch.count = 64;
    long kr = sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a);
    uint32_t bcount = 64;
    long br = (*m)->sys_lookup_and_delete_batch(nullptr, &bout, bk.data(), bv.data(), &bcount, 0);
    EXPECT_EQ(kr, -ENOENT);
    EXPECT_EQ(br, kr);
    EXPECT_EQ(a.batch.count, 40u);
    EXPECT_EQ(bcount, 40u);
    EXPECT_EQ(kout, bout); // n_buckets: both 64
    kk.resize(40);
    bk.resize(40);
    std::sort(kk.begin(), kk.end());
    std::sort(bk.begin(), bk.end());
    EXPECT_EQ(kk, bk);
    // Now empty: a cursor past the end, count 0, -ENOENT on both.
    uint32_t past = 64;
    memset(&a, 0, sizeof(a));
    a.batch.map_fd = km.fd;
    a.batch.in_batch = uintptr_t(&past);
    a.batch.out_batch = uintptr_t(&kout);
    a.batch.keys = uintptr_t(kk.data());
    a.batch.values = uintptr_t(kv.data());
    a.batch.count = 4;
    kr = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a);
    bcount = 4;
    br = (*m)->sys_lookup_batch(&past, &bout, bk.data(), bv.data(), &bcount, 0);
    EXPECT_EQ(kr, br);
    EXPECT_EQ(a.batch.count, bcount);
}

// With BPF_F_ZERO_SEED both hash the same way (jhash, seed 0) into the same
// number of buckets and chain new elements first: iteration and batch cursors
// agree exactly.
TEST(KernelOracle, ZeroSeedHashIteratesInTheKernelsOrder) {
    REQUIRE_KERNEL();
    for (uint32_t key_size : {4u, 8u, 13u, 24u}) {
        SCOPED_TRACE(key_size);
        MapSpec s = spec(BPF_MAP_TYPE_HASH, key_size, 8, 32, BPF_F_ZERO_SEED);
        std::vector<Step> steps;
        auto key = [&](uint32_t i) {
            std::vector<uint8_t> k(key_size);
            for (uint32_t b = 0; b < key_size; b++) k[b] = uint8_t(i * 31 + b * 7);
            return k;
        };
        for (uint32_t i = 0; i < 30; i++) steps.push_back({Op::Update, key(i), u64(i), BPF_ANY});
        for (uint32_t i = 0; i < 30; i += 3) steps.push_back({Op::Delete, key(i)});
        for (uint32_t i = 0; i < 30; i += 6) steps.push_back({Op::Update, key(i), u64(i + 100), BPF_ANY});
        steps.push_back({Op::NextKey, {}});
        for (uint32_t i = 0; i < 30; i++) steps.push_back({Op::NextKey, key(i)});
        compare(s, steps, true);

        // Batches of 4 from the start to the end: the same keys, counts, cursors.
        PinRoot root;
        auto m = Map::create(s, root.options(kernel_possible_cpus()));
        ASSERT_TRUE(m);
        KernelMap km;
        ASSERT_EQ(kernel_create(s, km), 0);
        for (uint32_t i = 0; i < 30; i++) {
            auto k = key(i);
            uint64_t v = i;
            union bpf_attr a;
            memset(&a, 0, sizeof(a));
            a.map_fd = km.fd;
            a.key = uintptr_t(k.data());
            a.value = uintptr_t(&v);
            ASSERT_EQ(sys_bpf(BPF_MAP_UPDATE_ELEM, &a), 0);
            ASSERT_EQ((*m)->sys_update(k.data(), &v, 0), 0);
        }
        uint32_t kin = 0, bin = 0;
        bool first = true;
        for (int round = 0; round < 40; round++) {
            std::vector<uint8_t> kk(8 * key_size), bk(8 * key_size);
            std::vector<uint64_t> kv(8), bv(8);
            uint32_t kout = 0, bout = 0;
            union bpf_attr a;
            memset(&a, 0, sizeof(a));
            a.batch.map_fd = km.fd;
            a.batch.in_batch = first ? 0 : uintptr_t(&kin);
            a.batch.out_batch = uintptr_t(&kout);
            a.batch.keys = uintptr_t(kk.data());
            a.batch.values = uintptr_t(kv.data());
            a.batch.count = 4;
            long kr = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a);
            uint32_t bcount = 4;
            long br = (*m)->sys_lookup_batch(first ? nullptr : &bin, &bout, bk.data(), bv.data(), &bcount, 0);
            ASSERT_EQ(kr, br) << "round " << round;
            ASSERT_EQ(a.batch.count, bcount) << "round " << round;
            EXPECT_EQ(kout, bout) << "round " << round;
            EXPECT_EQ(kk, bk) << "round " << round;
            EXPECT_EQ(kv, bv) << "round " << round;
            if (kr == -ENOENT) break;
            ASSERT_TRUE(kr == 0 || kr == -ENOSPC) << kr;
            if (kr == -ENOSPC) break; // a bucket of more than 4: both said so
            kin = kout;
            bin = bout;
            first = false;
        }
    }
}

// The bloom filter with BPF_F_ZERO_SEED: the same bits, so the same false
// positives as the kernel's.
TEST(KernelOracle, ZeroSeedBloomFilterHasTheKernelsFalsePositives) {
    REQUIRE_KERNEL();
    for (uint32_t value_size : {4u, 6u, 16u}) {
        for (uint64_t nr_hash : {0u, 1u, 3u}) {
            SCOPED_TRACE(std::to_string(value_size) + " bytes, " + std::to_string(nr_hash) + " hashes");
            MapSpec s = spec(BPF_MAP_TYPE_BLOOM_FILTER, 0, value_size, 8, BPF_F_ZERO_SEED);
            s.map_extra = nr_hash;
            auto value = [&](uint32_t i) {
                std::vector<uint8_t> v(value_size);
                for (uint32_t b = 0; b < value_size; b++) v[b] = uint8_t(i >> (8 * (b % 4)));
                return v;
            };
            std::vector<Step> steps;
            for (uint32_t i = 0; i < 8; i++) steps.push_back({Op::Push, {}, value(i * 977), BPF_ANY});
            for (uint32_t i = 0; i < 300; i++) steps.push_back({Op::Peek, {}, value(i)});
            compare(s, steps, true);
        }
    }
}

// prog_array and perf_event_array with values that name nothing (an fd the
// process does not have; an id no registry knows).
TEST(KernelOracle, FdArrayCodes) {
    REQUIRE_KERNEL();
    std::vector<Step> steps = {
        {Op::Lookup, u32(0)},
        {Op::Update, u32(0), u32(999), BPF_NOEXIST},
        {Op::Update, u32(5), u32(999), BPF_ANY},
        {Op::Update, u32(0), u32(999), BPF_ANY},
        {Op::Delete, u32(0)},
        {Op::Delete, u32(5)},
        {Op::NextKey, {}},
        {Op::NextKey, u32(3)},
        {Op::LookupAndDelete, u32(0)},
    };
    compare(spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), steps);
}

} // namespace
} // namespace bpfvm
