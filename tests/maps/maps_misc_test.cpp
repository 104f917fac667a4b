// ringbuf, perf_event_array, prog_array, map-in-maps, freeze and access flags.
#include <map>
#include <set>
#include <thread>

#include "map_testing.h"

namespace bpfvm {
namespace {

using testing::make;
using testing::PinRoot;
using testing::spec;

// ------------------------------------------------------------------ ringbuf

TEST(RingBufMap, ReserveSubmitDiscardConsume) {
    PinRoot root;
    auto rb = make(spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), root.options());
    ASSERT_TRUE(rb);
    EXPECT_EQ(rb->ringbuf_query(BPF_RB_RING_SIZE), 4096u);
    EXPECT_EQ(rb->ringbuf_reserve(8, 1), nullptr); // flags must be 0
    EXPECT_EQ(rb->ringbuf_reserve(4096, 0), nullptr); // header does not fit
    auto* a = static_cast<uint32_t*>(rb->ringbuf_reserve(4, 0));
    ASSERT_NE(a, nullptr);
    *a = 11;
    auto* b = static_cast<uint64_t*>(rb->ringbuf_reserve(8, 0));
    ASSERT_NE(b, nullptr);
    *b = 22;
    EXPECT_EQ(rb->ringbuf_query(BPF_RB_AVAIL_DATA), 32u); // 2 x (8 header + 8)
    EXPECT_EQ(rb->ringbuf_query(BPF_RB_PROD_POS), 32u);
    EXPECT_EQ(rb->ringbuf_query(BPF_RB_CONS_POS), 0u);
    EXPECT_EQ(rb->ringbuf_query(99), 0u);

    RingBufferReader reader;
    std::vector<std::string> got;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t n) {
        got.emplace_back(static_cast<const char*>(d), n);
        return 0;
    }));
    // The first record is still reserved: nothing can be consumed past it.
    Map::ringbuf_submit(b, 0);
    EXPECT_EQ(reader.consume(), 0);
    Map::ringbuf_discard(a, 0);
    EXPECT_EQ(reader.consume(), 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].size(), 8u);
    uint64_t v;
    memcpy(&v, got[0].data(), 8);
    EXPECT_EQ(v, 22u);
    EXPECT_EQ(rb->ringbuf_query(BPF_RB_AVAIL_DATA), 0u);
    EXPECT_EQ(rb->ringbuf_output("hello", 5, 0), 0);
    EXPECT_EQ(rb->ringbuf_output("hello", 5, 4), -EINVAL);
    EXPECT_EQ(reader.consume(), 1);
    EXPECT_EQ(got.back(), "hello");
    // Userspace map operations are not supported.
    uint32_t k = 0, val = 0;
    EXPECT_EQ(rb->sys_lookup(&k, &val, 0), -524);
    EXPECT_EQ(rb->sys_update(&k, &val, 0), -524);
    EXPECT_EQ(rb->sys_delete(&k), -524);
    EXPECT_EQ(rb->sys_get_next_key(nullptr, &k), -524);
}

TEST(RingBufMap, FullRingRefusesAndWrapsContiguously) {
    PinRoot root;
    auto rb = make(spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), root.options());
    RingBufferReader reader;
    size_t consumed = 0;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t n) {
        auto* p = static_cast<const unsigned char*>(d);
        for (size_t i = 0; i < n; i++) EXPECT_EQ(p[i], uint8_t(n + i)) << "at " << i;
        consumed++;
        return 0;
    }));
    // 1000-byte records take 1008 bytes: 4 fit in 4096 (a 5th would need 5040).
    int fit = 0;
    std::vector<unsigned char> data(1000);
    for (size_t i = 0; i < data.size(); i++) data[i] = uint8_t(1000 + i);
    while (rb->ringbuf_output(data.data(), data.size(), 0) == 0) fit++;
    EXPECT_EQ(fit, 4);
    EXPECT_EQ(rb->ringbuf_output(data.data(), data.size(), 0), -EAGAIN);
    EXPECT_EQ(reader.consume(), 4);
    // Now records straddle the end of the data area and read contiguously.
    for (int round = 0; round < 10; round++) {
        ASSERT_EQ(rb->ringbuf_output(data.data(), data.size(), 0), 0);
        ASSERT_EQ(reader.consume(), 1);
    }
    EXPECT_EQ(consumed, 14u);
}

TEST(RingBufMap, PollWakesOnSubmitFromAnotherThread) {
    PinRoot root;
    auto rb = make(spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 16384), root.options());
    RingBufferReader reader;
    uint64_t sum = 0;
    long records = 0;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t) {
        uint64_t v;
        memcpy(&v, d, 8);
        sum += v;
        return 0;
    }));
    std::thread producer([&] {
        for (uint64_t i = 1; i <= 1000; i++) {
            while (rb->ringbuf_output(&i, 8, 0) != 0) std::this_thread::yield();
        }
    });
    while (records < 1000) {
        long n = reader.poll(-1);
        ASSERT_GE(n, 0);
        records += n;
    }
    producer.join();
    EXPECT_EQ(records, 1000);
    EXPECT_EQ(sum, 1000u * 1001 / 2);
    EXPECT_EQ(reader.poll(0), 0); // nothing left: the timeout passes
}

TEST(RingBufMap, CallbackErrorStopsConsume) {
    PinRoot root;
    auto rb = make(spec(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), root.options());
    RingBufferReader reader;
    ASSERT_TRUE(reader.add(rb, [&](const void*, size_t) { return -7; }));
    uint32_t v = 1;
    rb->ringbuf_output(&v, 4, 0);
    rb->ringbuf_output(&v, 4, 0);
    EXPECT_EQ(reader.consume(), -7);
    EXPECT_EQ(reader.consume(), -7); // the second record
    EXPECT_EQ(reader.consume(), 0);
    auto arr = make(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1), root.options());
    auto r = reader.add(arr, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "RingBufferReader: the map is not a ringbuf");
}

// ---------------------------------------------------------- perf_event_array

TEST(PerfEventArrayMap, OutputToEnabledSlotsAndLost) {
    PinRoot root;
    MapOptions o = root.options();
    o.perf_buffer_size = 4096;
    auto m = make(spec(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2), o);
    const uint32_t mine = current_cpu() % 2, other = 1 - mine;
    uint32_t data = 5;
    EXPECT_EQ(m->perf_event_output(mine, &data, 4), -ENOENT); // no reader yet
    EXPECT_EQ(m->perf_event_output(2, &data, 4), -E2BIG);
    EXPECT_EQ(m->perf_event_output(uint64_t(1) << 60, &data, 4), -EINVAL);
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> samples;
    std::vector<std::pair<uint32_t, uint64_t>> lost;
    auto reader = PerfBufferReader::create(
        m,
        [&](uint32_t cpu, const void* d, size_t n) {
            auto* b = static_cast<const uint8_t*>(d);
            samples.emplace_back(cpu, std::vector<uint8_t>(b, b + n));
        },
        [&](uint32_t cpu, uint64_t n) { lost.emplace_back(cpu, n); });
    ASSERT_TRUE(reader) << reader.error().message;
    // Slot i is CPU i's: another CPU's slot refuses (Linux: -EOPNOTSUPP).
    EXPECT_EQ(m->perf_event_output(other, &data, 4), -EOPNOTSUPP);
    EXPECT_EQ(m->perf_event_output(mine, &data, 4), 0);
    EXPECT_EQ(m->perf_event_output(BPF_F_CURRENT_CPU, &data, 4), 0);
    EXPECT_EQ((*reader)->consume(), 2);
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[1].first, mine);
    EXPECT_EQ(samples[1].second, (std::vector<uint8_t>{5, 0, 0, 0})); // 4 + 4: no padding
    samples.clear();
    // Raw samples are padded with zeros to round_up(n + 4, 8) - 4; the tail follows the data.
    uint64_t eight = 0x0807060504030201;
    const uint8_t tail[3] = {0xa, 0xb, 0xc};
    EXPECT_EQ(m->perf_event_output(mine, &eight, 8), 0);
    EXPECT_EQ(m->perf_event_output(mine, &eight, 1, tail), 0);
    EXPECT_EQ((*reader)->consume(), 2);
    ASSERT_EQ(samples.size(), 2u);
    EXPECT_EQ(samples[0].second, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0}));
    EXPECT_EQ(samples[1].second, (std::vector<uint8_t>{1, 0xa, 0xb, 0xc}));
    samples.clear();
    data = 6;
    int ok = 0;
    while (m->perf_event_output(mine, &data, 4) == 0) ok++;
    EXPECT_EQ(ok, 4096 / 16);
    EXPECT_EQ(m->perf_event_output(mine, &data, 4), -ENOSPC);
    EXPECT_EQ((*reader)->consume(), 4096 / 16);
    EXPECT_EQ(samples[0], std::make_pair(mine, std::vector<uint8_t>{6, 0, 0, 0}));
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_EQ(lost[0], std::make_pair(mine, uint64_t(2)));
    uint32_t k = mine, v;
    EXPECT_EQ(m->sys_lookup(&k, &v, 0), -524);
    EXPECT_EQ(m->sys_delete(&k), 0);
    EXPECT_EQ(m->sys_delete(&k), -ENOENT);
    EXPECT_EQ(m->perf_event_output(mine, &data, 4), -ENOENT);
    EXPECT_EQ(m->sys_update(&k, &v, BPF_NOEXIST), -EINVAL);
}

// ------------------------------------------------- prog_array, map-in-maps

class TestRegistry : public ObjectRegistry {
public:
    std::map<uint32_t, std::shared_ptr<Map>> maps;
    std::set<uint32_t> programs = {7, 8};
    std::shared_ptr<Map> map_by_id(uint32_t id) override {
        auto it = maps.find(id);
        return it == maps.end() ? nullptr : it->second;
    }
    uint32_t map_id(const Map& m) override {
        for (auto& [id, p] : maps)
            if (p.get() == &m) return id;
        return 0;
    }
    long check_tail_call_program(uint32_t id, const Map&) override {
        if (id == 9) return -EINVAL; // incompatible
        return programs.count(id) ? 0 : -EBADF;
    }
};

TEST(ProgArrayMap, IdsThroughTheRegistry) {
    PinRoot root;
    MapOptions o = root.options();
    auto reg = std::make_shared<TestRegistry>();
    auto bare = make(spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), o);
    uint32_t k = 0, id = 7, out;
    EXPECT_EQ(bare->sys_update(&k, &id, BPF_ANY), -EBADF); // no registry
    o.registry = reg;
    auto m = make(spec(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), o);
    EXPECT_EQ(m->tail_call_target(0), 0u);
    EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), 0);
    EXPECT_EQ(m->tail_call_target(0), 7u);
    EXPECT_EQ(m->tail_call_target(4), 0u);
    EXPECT_EQ(m->sys_lookup(&k, &out, 0), 0);
    EXPECT_EQ(out, 7u);
    EXPECT_EQ(m->sys_update(&k, &id, BPF_NOEXIST), -EINVAL);
    id = 100;
    EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), -EBADF);
    id = 9;
    EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), -EINVAL);
    uint32_t k4 = 4;
    id = 8;
    EXPECT_EQ(m->sys_update(&k4, &id, BPF_ANY), -E2BIG);
    EXPECT_EQ(m->lookup(&k), nullptr); // programs use tail calls, not lookups
    EXPECT_EQ(m->sys_delete(&k), 0);
    EXPECT_EQ(m->sys_delete(&k), -ENOENT);
    EXPECT_EQ(m->sys_delete(&k4), -E2BIG);
    EXPECT_EQ(m->sys_lookup(&k, &out, 0), -ENOENT);
    EXPECT_EQ(m->tail_call_target(0), 0u);
}

TEST(MapInMap, ArrayAndHashOfMaps) {
    PinRoot root;
    MapOptions o = root.options();
    auto reg = std::make_shared<TestRegistry>();
    o.registry = reg;
    MapSpec inner = spec(BPF_MAP_TYPE_ARRAY, 4, 8, 2);
    auto in1 = make(inner, o);
    auto in2 = make(inner, o);
    auto wrong = make(spec(BPF_MAP_TYPE_ARRAY, 4, 8, 3), o); // max_entries differs
    reg->maps = {{1, in1}, {2, in2}, {3, wrong}};
    for (uint32_t type : {BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS}) {
        SCOPED_TRACE(type);
        MapSpec outer = spec(type, 4, 4, 4);
        outer.inner = std::make_shared<MapSpec>(inner);
        auto m = make(outer, o);
        uint32_t k = 1, id = 1, out;
        EXPECT_EQ(m->lookup(&k), nullptr);
        EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), 0);
        EXPECT_EQ(m->lookup(&k), in1.get());
        EXPECT_EQ(m->inner_map(&k), in1);
        EXPECT_EQ(m->sys_lookup(&k, &out, 0), 0);
        EXPECT_EQ(out, 1u);
        id = 3;
        EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), -EINVAL);
        id = 55;
        EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), -EBADF);
        id = 2;
        EXPECT_EQ(m->sys_update(&k, &id, BPF_ANY), 0);
        EXPECT_EQ(m->lookup(&k), in2.get());
        // Through the inner map pointer a program reaches the inner map's values.
        auto* innermap = static_cast<Map*>(m->lookup(&k));
        uint32_t ik = 1;
        uint64_t iv = 99;
        EXPECT_EQ(innermap->update(&ik, &iv, 0), 0);
        EXPECT_EQ(*static_cast<uint64_t*>(in2->lookup(&ik)), 99u);
        EXPECT_EQ(m->update(&k, &id, 0), -EINVAL); // programs only look up
        EXPECT_EQ(m->sys_delete(&k), 0);
        EXPECT_EQ(m->lookup(&k), nullptr);
        EXPECT_EQ(m->sys_delete(&k), -ENOENT);
    }
}

// ---------------------------------------------------- freeze, access flags

TEST(MapAccess, FreezeAndUserspaceFlags) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 4), root.options());
    uint32_t k = 1, v = 2;
    EXPECT_EQ(m->sys_update(&k, &v, 0), 0);
    EXPECT_EQ(m->sys_freeze(), 0);
    EXPECT_TRUE(m->frozen());
    EXPECT_EQ(m->sys_freeze(), -EPERM); // no write permission any more (Linux)
    EXPECT_EQ(m->sys_update(&k, &v, 0), -EPERM);
    EXPECT_EQ(m->sys_delete(&k), -EPERM);
    EXPECT_EQ(m->sys_lookup_and_delete(&k, &v, 0), -EPERM);
    EXPECT_EQ(m->sys_lookup(&k, &v, 0), 0);
    EXPECT_EQ(m->update(&k, &v, 0), 0); // programs still write

    auto ro = make(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY), root.options());
    k = 0;
    EXPECT_EQ(ro->sys_update(&k, &v, 0), -EPERM);
    EXPECT_EQ(ro->sys_lookup(&k, &v, 0), 0);
    EXPECT_EQ(ro->sys_freeze(), -EPERM);
    auto wo = make(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_WRONLY), root.options());
    EXPECT_EQ(wo->sys_lookup(&k, &v, 0), -EPERM);
    EXPECT_EQ(wo->sys_get_next_key(nullptr, &k), -EPERM);
    EXPECT_EQ(wo->sys_update(&k, &v, 0), 0);
    EXPECT_EQ(wo->sys_freeze(), 0);
}

} // namespace
} // namespace bpfvm
