// Creation checks for every type, arrays, queue/stack, bloom filter, lpm_trie.
#include "map_testing.h"

namespace bpfvm {
namespace {

using testing::at;
using testing::create_error;
using testing::make;
using testing::PinRoot;
using testing::spec;

// ----------------------------------------------------------------- creation

struct CreateCase {
    const char* what;
    MapSpec spec;
    const char* error_prefix; // "" = created
};

TEST(MapCreate, LinuxRulesAndErrorCodes) {
    PinRoot root;
    auto s = [](uint32_t t, uint32_t k, uint32_t v, uint32_t m, uint32_t f = 0) { return spec(t, k, v, m, f); };
    MapSpec inner = s(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    auto with_inner = [&](MapSpec x) {
        x.inner = std::make_shared<MapSpec>(inner);
        return x;
    };
    MapSpec bloom_extra = s(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 10);
    bloom_extra.map_extra = 0x10;
    MapSpec hash_extra = s(BPF_MAP_TYPE_HASH, 4, 4, 10);
    hash_extra.map_extra = 1;
    MapSpec bad_name = s(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    bad_name.name = "bad-name";
    MapSpec long_name = s(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    long_name.name = "abcdefghijklmnop";
    MapSpec lock_ok = s(BPF_MAP_TYPE_HASH, 4, 8, 1);
    lock_ok.spin_lock_offset = 4;
    MapSpec lock_pcpu = s(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 1);
    lock_pcpu.spin_lock_offset = 0;
    MapSpec lock_out = s(BPF_MAP_TYPE_ARRAY, 4, 8, 1);
    lock_out.spin_lock_offset = 6;
    MapSpec numa0 = s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NUMA_NODE);
    MapSpec numa1 = numa0;
    numa1.numa_node = 1;
    MapSpec nested = s(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1);
    nested.inner = std::make_shared<MapSpec>(with_inner(s(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1)));

    std::vector<CreateCase> cases = {
        {"array", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1), ""},
        {"array key 8", s(BPF_MAP_TYPE_ARRAY, 8, 4, 1), "EINVAL"},
        {"array value 0", s(BPF_MAP_TYPE_ARRAY, 4, 0, 1), "EINVAL"},
        {"array entries 0", s(BPF_MAP_TYPE_ARRAY, 4, 4, 0), "EINVAL"},
        {"array mmapable", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_MMAPABLE), ""},
        {"array no_prealloc", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC), "EINVAL"},
        {"array rdonly_prog", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG), ""},
        {"array rdonly+wronly prog", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG), "EINVAL"},
        {"array rdonly+wronly", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY), "EINVAL"},
        {"array preserve_elems", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_PRESERVE_ELEMS), "EINVAL"},
        {"percpu_array mmapable", s(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE), "EINVAL"},
        {"percpu_array numa", s(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_NUMA_NODE), "EINVAL"},
        {"percpu_array value 32K+1", s(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1), "E2BIG"},
        {"hash", s(BPF_MAP_TYPE_HASH, 4, 4, 1), ""},
        {"hash key 0", s(BPF_MAP_TYPE_HASH, 0, 4, 1), "EINVAL"},
        {"hash value 0", s(BPF_MAP_TYPE_HASH, 4, 0, 1), "EINVAL"},
        {"hash entries 0", s(BPF_MAP_TYPE_HASH, 4, 4, 0), "EINVAL"},
        {"hash no_prealloc", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_PREALLOC), ""},
        {"hash zero_seed", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_ZERO_SEED), ""},
        {"hash mmapable", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE), "EINVAL"},
        {"hash no_common_lru", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU), "EINVAL"},
        {"hash huge value", s(BPF_MAP_TYPE_HASH, 4, 1 << 22, 1), "E2BIG"},
        {"hash map_extra", hash_extra, "EINVAL"},
        {"lru no_prealloc", s(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_PREALLOC), "ENOTSUPP"},
        {"lru no_common_lru", s(BPF_MAP_TYPE_LRU_HASH, 4, 4, 8, BPF_F_NO_COMMON_LRU), ""},
        {"lru_percpu numa", s(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 8, BPF_F_NUMA_NODE), "EINVAL"},
        {"percpu_hash value 32K+1", s(BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 1), "E2BIG"},
        {"prog_array", s(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), ""},
        {"prog_array value 8", s(BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 4), "EINVAL"},
        {"prog_array rdonly_prog", s(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, BPF_F_RDONLY_PROG), "EINVAL"},
        {"perf_event_array", s(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2), ""},
        {"perf_event_array preserve", s(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, BPF_F_PRESERVE_ELEMS), ""},
        {"queue", s(BPF_MAP_TYPE_QUEUE, 0, 4, 4), ""},
        {"queue key 4", s(BPF_MAP_TYPE_QUEUE, 4, 4, 4), "EINVAL"},
        {"stack value 0", s(BPF_MAP_TYPE_STACK, 0, 0, 4), "EINVAL"},
        {"stack zero_seed", s(BPF_MAP_TYPE_STACK, 0, 4, 4, BPF_F_ZERO_SEED), "EINVAL"},
        {"bloom", s(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 10), ""},
        {"bloom key 4", s(BPF_MAP_TYPE_BLOOM_FILTER, 4, 4, 10), "EINVAL"},
        {"bloom map_extra 0x10", bloom_extra, "EINVAL"},
        {"bloom zero_seed", s(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 10, BPF_F_ZERO_SEED), ""},
        {"lpm needs no_prealloc", s(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 10), "EINVAL"},
        {"lpm", s(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 10, BPF_F_NO_PREALLOC), ""},
        {"lpm key 4", s(BPF_MAP_TYPE_LPM_TRIE, 4, 4, 10, BPF_F_NO_PREALLOC), "EINVAL"},
        {"lpm key 261", s(BPF_MAP_TYPE_LPM_TRIE, 261, 4, 10, BPF_F_NO_PREALLOC), "EINVAL"},
        {"lpm value 0", s(BPF_MAP_TYPE_LPM_TRIE, 8, 0, 10, BPF_F_NO_PREALLOC), "EINVAL"},
        {"ringbuf", s(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), ""},
        {"ringbuf not pow2", s(BPF_MAP_TYPE_RINGBUF, 0, 0, 3 * 4096), "EINVAL"},
        {"ringbuf not page", s(BPF_MAP_TYPE_RINGBUF, 0, 0, 1024), "EINVAL"},
        {"ringbuf key", s(BPF_MAP_TYPE_RINGBUF, 4, 0, 4096), "EINVAL"},
        {"ringbuf rdonly", s(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, BPF_F_RDONLY), "EINVAL"},
        {"array_of_maps", with_inner(s(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2)), ""},
        {"array_of_maps no inner", s(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2), "EBADF"},
        {"array_of_maps nested", nested, "EINVAL"},
        {"hash_of_maps", with_inner(s(BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2)), ""},
        {"hash_of_maps value 8", with_inner(s(BPF_MAP_TYPE_HASH_OF_MAPS, 4, 8, 2)), "EINVAL"},
        {"name with '-'", bad_name, "EINVAL"},
        {"name 16 chars", long_name, "EINVAL"},
        {"spin lock in hash", lock_ok, ""},
        {"spin lock in percpu hash", lock_pcpu, "ENOTSUPP"},
        {"spin lock outside value", lock_out, "EINVAL"},
        {"unknown type", s(999, 4, 4, 1), "EINVAL"},
        {"numa node 0", numa0, ""},
        {"numa node 1", numa1, "EINVAL"},
        {"hash inner_map flag", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_INNER_MAP), "EINVAL"},
        {"array inner_map flag", s(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_INNER_MAP), ""},
        {"hash wronly_prog", s(BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_WRONLY_PROG), ""},
        {"queue rdonly", s(BPF_MAP_TYPE_QUEUE, 0, 4, 1, BPF_F_RDONLY), ""},
        {"ringbuf numa", s(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, BPF_F_NUMA_NODE), ""},
    };
    for (const auto& c : cases) {
        std::string err = create_error(c.spec, root.options());
        if (*c.error_prefix == 0) {
            EXPECT_EQ(err, "") << c.what;
        } else {
            EXPECT_EQ(err.substr(0, err.find(':')), c.error_prefix) << c.what << ": " << err;
        }
    }
}

TEST(MapCreate, ErrorNamesTypeMapAndRule) {
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_HASH, 0, 4, 1, 0, "flows");
    EXPECT_EQ(create_error(s, root.options()), "EINVAL: hash map 'flows': key_size must be > 0");
}

TEST(MapCreate, NoCommonLruRoundsMaxEntriesToSlots) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LRU_HASH, 4, 4, 10, BPF_F_NO_COMMON_LRU), root.options(4));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->max_entries(), 12u);
}

// ------------------------------------------------------------------- arrays

TEST(ArrayMap, LookupUpdateAndErrors) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_ARRAY, 4, 12, 3), root.options());
    ASSERT_TRUE(m);
    uint32_t k = 1;
    auto* v = static_cast<uint32_t*>(m->lookup(&k));
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v[0], 0u); // zero-filled
    uint32_t val[3] = {7, 8, 9};
    EXPECT_EQ(m->update(&k, val, BPF_ANY), 0);
    EXPECT_EQ(v[2], 9u);
    EXPECT_EQ(m->update(&k, val, BPF_EXIST), 0);
    EXPECT_EQ(m->update(&k, val, BPF_NOEXIST), -EEXIST);
    EXPECT_EQ(m->update(&k, val, 3), -EINVAL);
    EXPECT_EQ(m->update(&k, val, BPF_F_LOCK), -EINVAL); // no spin lock
    uint32_t out_of_range = 3;
    EXPECT_EQ(m->lookup(&out_of_range), nullptr);
    EXPECT_EQ(m->update(&out_of_range, val, BPF_ANY), -E2BIG);
    EXPECT_EQ(m->erase(&k), -EINVAL);
    EXPECT_EQ(m->sys_delete(&k), -EINVAL);
    uint32_t got[3];
    EXPECT_EQ(m->sys_lookup(&k, got, 0), 0);
    EXPECT_EQ(got[1], 8u);
    EXPECT_EQ(m->sys_lookup(&out_of_range, got, 0), -ENOENT);
    EXPECT_EQ(m->sys_lookup(&k, got, BPF_F_LOCK), -EINVAL);
    EXPECT_EQ(m->sys_lookup(&k, got, 8), -EINVAL);
    // Values are 8-byte strided and value_base points at index 0.
    EXPECT_EQ(static_cast<unsigned char*>(m->value_base()) + 16, reinterpret_cast<unsigned char*>(v));
}

TEST(ArrayMap, GetNextKeyIteratesAllIndexes) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 3), root.options());
    uint32_t next = 99, k = 0;
    EXPECT_EQ(m->sys_get_next_key(nullptr, &next), 0);
    EXPECT_EQ(next, 0u);
    EXPECT_EQ(m->sys_get_next_key(&k, &next), 0);
    EXPECT_EQ(next, 1u);
    k = 2;
    EXPECT_EQ(m->sys_get_next_key(&k, &next), -ENOENT);
    k = 100; // out of range: first
    EXPECT_EQ(m->sys_get_next_key(&k, &next), 0);
    EXPECT_EQ(next, 0u);
}

TEST(ArrayMap, ForEachVisitsInOrderAndStops) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_ARRAY, 4, 8, 5), root.options());
    for (uint32_t i = 0; i < 5; i++) {
        uint64_t v = i * 10;
        m->update(&i, &v, 0);
    }
    struct Ctx {
        std::vector<uint64_t> seen;
    } ctx;
    auto cb = [](Map*, const void* key, void* value, void* c) -> long {
        auto* x = static_cast<Ctx*>(c);
        uint64_t v;
        memcpy(&v, value, 8);
        x->seen.push_back(v);
        return *static_cast<const uint32_t*>(key) == 2 ? 1 : 0;
    };
    EXPECT_EQ(m->for_each(cb, &ctx, 0), 3);
    EXPECT_EQ(ctx.seen, (std::vector<uint64_t>{0, 10, 20}));
    EXPECT_EQ(m->for_each(cb, &ctx, 1), -EINVAL);
}

TEST(ArrayMap, SpinLockFlag) {
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_ARRAY, 4, 16, 1);
    s.spin_lock_offset = 0;
    auto m = make(s, root.options());
    uint32_t k = 0;
    uint32_t val[4] = {0xffffffff, 1, 2, 3};
    EXPECT_EQ(m->update(&k, val, BPF_F_LOCK), 0);
    auto* v = static_cast<uint32_t*>(m->lookup(&k));
    EXPECT_EQ(v[0], 0u); // the lock is not overwritten
    EXPECT_EQ(v[3], 3u);
    uint32_t out[4] = {9, 9, 9, 9};
    EXPECT_EQ(m->sys_lookup(&k, out, BPF_F_LOCK), 0);
    EXPECT_EQ(out[0], 0u);
    EXPECT_EQ(out[1], 1u);
    EXPECT_EQ(m->sys_update(&k, val, BPF_F_LOCK | BPF_EXIST), 0);
    EXPECT_EQ(m->sys_update(&k, val, BPF_F_LOCK | BPF_NOEXIST), -EEXIST);
}

TEST(PercpuArrayMap, SlotsAndUserspaceLayout) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2), root.options(3));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->nr_cpus(), 3u);
    EXPECT_TRUE(m->is_percpu());
    EXPECT_EQ(m->sys_value_size(), 24u); // round_up(4, 8) * 3
    uint32_t k = 1;
    uint32_t me = current_cpu() % 3;
    uint32_t v = 42;
    EXPECT_EQ(m->update(&k, &v, BPF_ANY), 0);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup(&k)), 42u);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup_percpu(&k, me)), 42u);
    EXPECT_EQ(m->lookup_percpu(&k, 3), nullptr);
    std::vector<unsigned char> all(24);
    EXPECT_EQ(m->sys_lookup(&k, all.data(), 0), 0);
    for (uint32_t c = 0; c < 3; c++) EXPECT_EQ(at<uint64_t>(all, c), c == me ? 42u : 0u) << c;
    for (uint32_t c = 0; c < 3; c++) {
        uint64_t x = 100 + c;
        memcpy(all.data() + 8 * c, &x, 8);
    }
    EXPECT_EQ(m->sys_update(&k, all.data(), BPF_ANY), 0);
    EXPECT_EQ(m->sys_update(&k, all.data(), BPF_NOEXIST), -EEXIST);
    EXPECT_EQ(m->sys_update(&k, all.data(), BPF_F_LOCK), -EINVAL);
    for (uint32_t c = 0; c < 3; c++) EXPECT_EQ(*static_cast<uint32_t*>(m->lookup_percpu(&k, c)), 100 + c);
    EXPECT_EQ(m->value_base(), nullptr);
}

// ------------------------------------------------------- queue, stack, bloom

TEST(QueueMap, FifoOverwriteAndErrors) {
    PinRoot root;
    auto q = make(spec(BPF_MAP_TYPE_QUEUE, 0, 4, 3), root.options());
    uint32_t v, out = 0xffffffff;
    EXPECT_EQ(q->peek(&out), -ENOENT);
    EXPECT_EQ(out, 0u); // the program side zeroes the value, as Linux
    out = 0xffffffff;
    EXPECT_EQ(q->pop(&out), -ENOENT);
    EXPECT_EQ(out, 0u);
    out = 0xffffffff;
    EXPECT_EQ(q->sys_lookup(nullptr, &out, 0), -ENOENT);
    EXPECT_EQ(out, 0xffffffffu); // bpf(2) leaves the caller's buffer alone
    for (v = 1; v <= 3; v++) EXPECT_EQ(q->push(&v, BPF_ANY), 0);
    v = 4;
    EXPECT_EQ(q->push(&v, BPF_ANY), -E2BIG);
    EXPECT_EQ(q->push(&v, BPF_NOEXIST), -EINVAL);
    EXPECT_EQ(q->push(&v, 3), -EINVAL);
    EXPECT_EQ(q->push(&v, BPF_EXIST), 0); // drops 1
    EXPECT_EQ(q->peek(&out), 0);
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(q->sys_lookup(nullptr, &out, 0), 0);
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(q->sys_lookup_and_delete(nullptr, &out, 0), 0);
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(q->sys_lookup_and_delete(nullptr, &out, BPF_F_LOCK), -EINVAL);
    EXPECT_EQ(q->pop(&out), 0);
    EXPECT_EQ(out, 3u);
    v = 5;
    EXPECT_EQ(q->sys_update(nullptr, &v, BPF_ANY), 0);
    EXPECT_EQ(q->pop(&out), 0);
    EXPECT_EQ(out, 4u);
    EXPECT_EQ(q->pop(&out), 0);
    EXPECT_EQ(out, 5u);
    EXPECT_EQ(q->pop(&out), -ENOENT);
    EXPECT_EQ(q->lookup(nullptr), nullptr);
    EXPECT_EQ(q->sys_delete(nullptr), -EINVAL);
    EXPECT_EQ(q->sys_get_next_key(nullptr, &out), -EINVAL);
    EXPECT_EQ(q->update(nullptr, &v, 0), -EINVAL);
}

TEST(StackMap, LifoOverwrite) {
    PinRoot root;
    auto s = make(spec(BPF_MAP_TYPE_STACK, 0, 8, 2), root.options());
    uint64_t v, out;
    for (v = 1; v <= 2; v++) EXPECT_EQ(s->push(&v, 0), 0);
    v = 3;
    EXPECT_EQ(s->push(&v, 0), -E2BIG);
    EXPECT_EQ(s->push(&v, BPF_EXIST), 0); // drops the oldest (1)
    EXPECT_EQ(s->peek(&out), 0);
    EXPECT_EQ(out, 3u);
    EXPECT_EQ(s->pop(&out), 0);
    EXPECT_EQ(out, 3u);
    EXPECT_EQ(s->pop(&out), 0);
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(s->pop(&out), -ENOENT);
}

TEST(BloomFilterMap, AddTestAndUnsupported) {
    PinRoot root;
    MapSpec sp = spec(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 100);
    sp.map_extra = 3;
    auto b = make(sp, root.options());
    for (uint64_t v = 0; v < 50; v++) EXPECT_EQ(b->push(&v, BPF_ANY), 0);
    for (uint64_t v = 0; v < 50; v++) EXPECT_EQ(b->peek(&v), 0) << v; // no false negatives
    int positives = 0;
    for (uint64_t v = 1000; v < 2000; v++) positives += b->peek(&v) == 0;
    EXPECT_LT(positives, 200); // 3 hashes, 1024 bits, 50 entries: ~0.3%
    uint64_t v = 7;
    EXPECT_EQ(b->push(&v, BPF_EXIST), -EINVAL);
    EXPECT_EQ(b->pop(&v), -EOPNOTSUPP);
    EXPECT_EQ(b->sys_delete(nullptr), -EOPNOTSUPP);
    EXPECT_EQ(b->sys_get_next_key(nullptr, &v), -EOPNOTSUPP);
    EXPECT_EQ(b->sys_lookup(nullptr, &v, 0), 0); // the value is the input
    v = 12345;
    EXPECT_EQ(b->sys_update(nullptr, &v, BPF_ANY), 0);
    EXPECT_EQ(b->sys_lookup(nullptr, &v, 0), 0);
}

// ------------------------------------------------------------------ lpm_trie

struct Lpm4 {
    uint32_t prefixlen;
    uint8_t addr[4];
};

TEST(LpmTrieMap, LongestPrefixMatch) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC), root.options());
    auto put = [&](uint32_t len, uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint32_t val, uint64_t flags = 0) {
        Lpm4 k{len, {a, b, c, d}};
        return m->update(&k, &val, flags);
    };
    auto get = [&](uint32_t len, uint8_t a, uint8_t b, uint8_t c, uint8_t d) -> int64_t {
        Lpm4 k{len, {a, b, c, d}};
        void* v = m->lookup(&k);
        return v ? int64_t(*static_cast<uint32_t*>(v)) : int64_t(-1);
    };
    EXPECT_EQ(put(16, 192, 168, 0, 0, 1), 0);
    EXPECT_EQ(put(24, 192, 168, 1, 0, 2), 0);
    EXPECT_EQ(put(8, 10, 0, 0, 0, 3), 0);
    EXPECT_EQ(get(32, 192, 168, 1, 7), 2);
    EXPECT_EQ(get(32, 192, 168, 2, 7), 1);
    EXPECT_EQ(get(32, 10, 9, 9, 9), 3);
    EXPECT_EQ(get(32, 11, 0, 0, 0), -1);
    EXPECT_EQ(get(20, 192, 168, 1, 7), 1); // the key's own prefix bounds the match
    EXPECT_EQ(put(33, 1, 1, 1, 1, 9), -EINVAL);
    EXPECT_EQ(put(16, 192, 168, 99, 99, 5, BPF_NOEXIST), -EEXIST); // same /16
    EXPECT_EQ(put(17, 1, 1, 1, 1, 5, BPF_EXIST), -ENOENT);
    EXPECT_EQ(put(16, 192, 168, 0, 0, 7, BPF_EXIST), 0);
    EXPECT_EQ(get(32, 192, 168, 2, 7), 7);
    EXPECT_EQ(put(0, 0, 0, 0, 0, 100), 0); // default route
    EXPECT_EQ(get(32, 11, 0, 0, 0), 100);
    EXPECT_EQ(put(32, 1, 2, 3, 4, 5), -ENOSPC); // full
    EXPECT_EQ(put(8, 10, 0, 0, 0, 33), 0);      // updating in place still works
    EXPECT_EQ(put(8, 10, 0, 0, 0, 3, 4), -EINVAL);
    Lpm4 k{24, {192, 168, 1, 0}};
    EXPECT_EQ(m->erase(&k), 0);
    EXPECT_EQ(m->erase(&k), -ENOENT);
    k.prefixlen = 40;
    EXPECT_EQ(m->erase(&k), -EINVAL);
    EXPECT_EQ(get(32, 192, 168, 1, 7), 7);
    uint32_t out;
    Lpm4 q{32, {192, 168, 5, 5}};
    EXPECT_EQ(m->sys_lookup(&q, &out, 0), 0);
    EXPECT_EQ(out, 7u);
}

// Random prefixes against a brute-force longest-prefix match.
TEST(LpmTrieMap, RandomPrefixesMatchBruteForce) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 64, BPF_F_NO_PREALLOC), root.options());
    struct Entry {
        uint32_t len, addr;
        uint32_t value;
    };
    std::vector<Entry> entries;
    uint64_t state = 0x9e3779b97f4a7c15ull;
    auto rnd = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    auto mask = [](uint32_t addr, uint32_t len) { return len == 0 ? 0u : addr & ~((1ull << (32 - len)) - 1); };
    auto key = [](uint32_t len, uint32_t addr) {
        Lpm4 k{len, {uint8_t(addr >> 24), uint8_t(addr >> 16), uint8_t(addr >> 8), uint8_t(addr)}};
        return k;
    };
    for (int i = 0; i < 60; i++) {
        uint32_t len = uint32_t(rnd() % 33), addr = mask(uint32_t(rnd()) & 0xF0F0FFFF, len);
        bool dup = false;
        for (auto& e : entries) dup = dup || (e.len == len && e.addr == addr);
        if (dup) continue;
        Lpm4 k = key(len, addr);
        uint32_t v = uint32_t(i);
        ASSERT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
        entries.push_back({len, addr, v});
    }
    for (int q = 0; q < 3000; q++) {
        uint32_t addr = uint32_t(rnd()) & 0xF0F0FFFF;
        int64_t best_len = -1;
        uint32_t want = 0;
        for (auto& e : entries)
            if (mask(addr, e.len) == e.addr && int64_t(e.len) > best_len) best_len = e.len, want = e.value;
        Lpm4 k = key(32, addr);
        auto* v = static_cast<uint32_t*>(m->lookup(&k));
        ASSERT_EQ(v != nullptr, best_len >= 0) << q;
        if (v) {
            ASSERT_EQ(*v, want) << q;
        }
    }
}

TEST(LpmTrieMap, GetNextKeyPostOrder) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 10, BPF_F_NO_PREALLOC), root.options());
    // Documentation/bpf/map_lpm_trie.rst's example order.
    std::vector<Lpm4> keys = {{16, {192, 168, 0, 0}}, {24, {192, 168, 0, 0}}, {24, {192, 168, 1, 0}},
                              {24, {192, 168, 128, 0}}, {8, {10, 0, 0, 0}}};
    uint32_t v = 0;
    for (auto& k : keys) ASSERT_EQ(m->update(&k, &v, 0), 0);
    std::vector<std::string> order;
    Lpm4 cur, next;
    const void* prev = nullptr;
    while (m->sys_get_next_key(prev, &next) == 0) {
        order.push_back(std::to_string(next.addr[0]) + "." + std::to_string(next.addr[1]) + "." +
                        std::to_string(next.addr[2]) + "/" + std::to_string(next.prefixlen));
        cur = next;
        prev = &cur;
        ASSERT_LT(order.size(), 10u);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"10.0.0/8", "192.168.0/24", "192.168.1/24", "192.168.128/24",
                                               "192.168.0/16"}));
    Lpm4 missing{32, {1, 1, 1, 1}};
    ASSERT_EQ(m->sys_get_next_key(&missing, &next), 0); // not found: the first
    EXPECT_EQ(next.prefixlen, 8u);
}

TEST(GetNextKey, EveryType) {
    PinRoot root;
    MapOptions o = root.options(2);
    MapSpec inner = spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    struct Case {
        MapSpec s;
        long first; // sys_get_next_key(nullptr) on the fresh map
    };
    auto with_inner = [&](MapSpec x) {
        x.inner = std::make_shared<MapSpec>(inner);
        return x;
    };
    std::vector<Case> cases = {
        {spec(BPF_MAP_TYPE_ARRAY, 4, 4, 2), 0},
        {spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2), 0},
        {spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2), 0},
        {spec(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2), 0},
        {with_inner(spec(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2)), 0},
        {spec(BPF_MAP_TYPE_HASH, 4, 4, 2), -ENOENT},
        {spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2), -ENOENT},
        {spec(BPF_MAP_TYPE_LRU_HASH, 4, 4, 2), -ENOENT},
        {spec(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 4, 2), -ENOENT},
        {with_inner(spec(BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2)), -ENOENT},
        {spec(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 2, BPF_F_NO_PREALLOC), -ENOENT},
        {spec(BPF_MAP_TYPE_QUEUE, 0, 4, 2), -EINVAL},
        {spec(BPF_MAP_TYPE_STACK, 0, 4, 2), -EINVAL},
        {spec(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 2), -EOPNOTSUPP},
        {spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), -524},
    };
    for (auto& c : cases) {
        auto m = make(c.s, o);
        ASSERT_TRUE(m);
        uint64_t next[2] = {};
        EXPECT_EQ(m->sys_get_next_key(nullptr, next), c.first) << c.s.type;
        if (c.first == 0) {
            // Arrays: 0, 1, then the end.
            uint32_t k = 0, n = 9;
            EXPECT_EQ(m->sys_get_next_key(&k, &n), 0);
            EXPECT_EQ(n, 1u);
            k = 1;
            EXPECT_EQ(m->sys_get_next_key(&k, &n), -ENOENT) << c.s.type;
        }
    }
    // Hash-like types with two keys iterate both.
    for (uint32_t type : {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                          BPF_MAP_TYPE_LRU_PERCPU_HASH}) {
        auto m = make(spec(type, 4, 4, 2), o);
        std::vector<unsigned char> v(m->sys_value_size());
        for (uint32_t k : {10u, 20u}) ASSERT_EQ(m->sys_update(&k, v.data(), 0), 0);
        uint32_t a, b, c;
        ASSERT_EQ(m->sys_get_next_key(nullptr, &a), 0);
        ASSERT_EQ(m->sys_get_next_key(&a, &b), 0);
        EXPECT_EQ(m->sys_get_next_key(&b, &c), -ENOENT);
        EXPECT_EQ(std::min(a, b), 10u);
        EXPECT_EQ(std::max(a, b), 20u);
    }
}

TEST(PinRootOption, EnvironmentAndOptions) {
    MapOptions o;
    o.pin_root = "/dev/shm/x";
    EXPECT_EQ(pin_root(o), "/dev/shm/x");
    EXPECT_EQ(resolve_pin_path("a/b", o), "/dev/shm/x/a/b");
    EXPECT_EQ(resolve_pin_path("/abs/p", o), "/abs/p");
    setenv("BPFVM_PIN_ROOT", "/dev/shm/from-env", 1);
    EXPECT_EQ(pin_root(), "/dev/shm/from-env");
    unsetenv("BPFVM_PIN_ROOT");
    EXPECT_EQ(pin_root(), "/dev/shm/bpfvm");
}

} // namespace
} // namespace bpfvm
