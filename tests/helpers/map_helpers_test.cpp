// The map helpers called directly on real maps: element access, the program
// flags, queues, per-CPU lookups, ring buffers and perf output; in checked
// mode, the memory they hand to the program.
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

TEST(MapHelpers, ArrayLookupUpdate) {
    auto map = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    ASSERT_TRUE(map);
    uint32_t key = 2;
    uint64_t value = 0x1122334455667788;
    EXPECT_EQ(helpers::map_update_elem(u(map.get()), u(&key), u(&value), BPF_ANY, 0, nullptr), 0u);
    uint64_t p = helpers::map_lookup_elem(u(map.get()), u(&key), 0, 0, 0, nullptr);
    ASSERT_NE(p, 0u);
    EXPECT_EQ(*reinterpret_cast<uint64_t*>(p), value);
    *reinterpret_cast<uint64_t*>(p) = 9; // the program writes in place
    EXPECT_EQ(*static_cast<uint64_t*>(map->lookup(&key)), 9u);
    key = 4;
    EXPECT_EQ(helpers::map_lookup_elem(u(map.get()), u(&key), 0, 0, 0, nullptr), 0u); // out of range: NULL
    EXPECT_EQ(s(helpers::map_update_elem(u(map.get()), u(&key), u(&value), BPF_ANY, 0, nullptr)), -E2BIG);
    key = 1;
    EXPECT_EQ(s(helpers::map_update_elem(u(map.get()), u(&key), u(&value), BPF_NOEXIST, 0, nullptr)), -EEXIST);
    EXPECT_EQ(s(helpers::map_update_elem(u(map.get()), u(&key), u(&value), 99, 0, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::map_delete_elem(u(map.get()), u(&key), 0, 0, 0, nullptr)), -EINVAL); // arrays
}

TEST(MapHelpers, HashLookupUpdateDelete) {
    auto map = make_map(BPF_MAP_TYPE_HASH, 8, 4, 2);
    ASSERT_TRUE(map);
    uint64_t k1 = 1, k2 = 2, k3 = 3;
    uint32_t v = 10;
    EXPECT_EQ(helpers::map_lookup_elem(u(map.get()), u(&k1), 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(s(helpers::map_update_elem(u(map.get()), u(&k1), u(&v), BPF_EXIST, 0, nullptr)), -ENOENT);
    EXPECT_EQ(helpers::map_update_elem(u(map.get()), u(&k1), u(&v), BPF_NOEXIST, 0, nullptr), 0u);
    EXPECT_EQ(helpers::map_update_elem(u(map.get()), u(&k2), u(&v), BPF_ANY, 0, nullptr), 0u);
    EXPECT_EQ(s(helpers::map_update_elem(u(map.get()), u(&k3), u(&v), BPF_ANY, 0, nullptr)), -E2BIG); // full
    uint64_t p = helpers::map_lookup_elem(u(map.get()), u(&k2), 0, 0, 0, nullptr);
    ASSERT_NE(p, 0u);
    EXPECT_EQ(*reinterpret_cast<uint32_t*>(p), 10u);
    EXPECT_EQ(helpers::map_delete_elem(u(map.get()), u(&k2), 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(s(helpers::map_delete_elem(u(map.get()), u(&k2), 0, 0, 0, nullptr)), -ENOENT);
    EXPECT_EQ(helpers::map_lookup_elem(u(map.get()), u(&k2), 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(s(helpers::map_update_elem(0, u(&k1), u(&v), BPF_ANY, 0, nullptr)), -EINVAL); // no map
    EXPECT_EQ(helpers::map_lookup_elem(0, u(&k1), 0, 0, 0, nullptr), 0u);
}

TEST(MapHelpers, ProgramAccessFlags) {
    auto ro = make_map(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_RDONLY_PROG);
    auto wo = make_map(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_WRONLY_PROG);
    ASSERT_TRUE(ro && wo);
    uint32_t k = 1, v = 2;
    ASSERT_EQ(ro->sys_update(&k, &v, BPF_ANY), 0);
    EXPECT_EQ(s(helpers::map_update_elem(u(ro.get()), u(&k), u(&v), BPF_ANY, 0, nullptr)), -EPERM);
    EXPECT_EQ(s(helpers::map_delete_elem(u(ro.get()), u(&k), 0, 0, 0, nullptr)), -EPERM);
    EXPECT_NE(helpers::map_lookup_elem(u(ro.get()), u(&k), 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::map_update_elem(u(wo.get()), u(&k), u(&v), BPF_ANY, 0, nullptr), 0u);
    EXPECT_EQ(helpers::map_lookup_elem(u(wo.get()), u(&k), 0, 0, 0, nullptr), 0u); // no reading
}

TEST(MapHelpers, QueueAndStack) {
    auto q = make_map(BPF_MAP_TYPE_QUEUE, 0, 4, 2);
    auto st = make_map(BPF_MAP_TYPE_STACK, 0, 4, 2);
    ASSERT_TRUE(q && st);
    for (Map* m : {q.get(), st.get()}) {
        uint32_t a = 1, b = 2, c = 3, out = 0;
        EXPECT_EQ(s(helpers::map_pop_elem(u(m), u(&out), 0, 0, 0, nullptr)), -ENOENT);
        EXPECT_EQ(s(helpers::map_peek_elem(u(m), u(&out), 0, 0, 0, nullptr)), -ENOENT);
        EXPECT_EQ(helpers::map_push_elem(u(m), u(&a), BPF_ANY, 0, 0, nullptr), 0u);
        EXPECT_EQ(helpers::map_push_elem(u(m), u(&b), BPF_ANY, 0, 0, nullptr), 0u);
        EXPECT_EQ(s(helpers::map_push_elem(u(m), u(&c), BPF_ANY, 0, 0, nullptr)), -E2BIG); // full
        EXPECT_EQ(s(helpers::map_push_elem(u(m), u(&c), 99, 0, 0, nullptr)), -EINVAL);
        EXPECT_EQ(helpers::map_peek_elem(u(m), u(&out), 0, 0, 0, nullptr), 0u);
        EXPECT_EQ(out, m == q.get() ? 1u : 2u);
        EXPECT_EQ(helpers::map_pop_elem(u(m), u(&out), 0, 0, 0, nullptr), 0u);
        EXPECT_EQ(out, m == q.get() ? 1u : 2u);
    }
    uint32_t k = 0, v = 0;
    auto arr = make_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    EXPECT_EQ(s(helpers::map_push_elem(u(arr.get()), u(&v), 0, 0, 0, nullptr)), -EINVAL); // not a queue
    EXPECT_EQ(helpers::map_lookup_elem(u(q.get()), u(&k), 0, 0, 0, nullptr), 0u);
}

TEST(MapHelpers, PerCpuLookups) {
    auto map = make_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1);
    ASSERT_TRUE(map);
    const uint32_t cpus = map->nr_cpus();
    ASSERT_GE(cpus, 1u);
    std::vector<uint64_t> all(cpus);
    for (uint32_t c = 0; c < cpus; c++) all[c] = 1000 + c;
    uint32_t key = 0;
    ASSERT_EQ(map->sys_update(&key, all.data(), BPF_ANY), 0);
    for (uint32_t c = 0; c < cpus; c++) {
        uint64_t p = helpers::map_lookup_percpu_elem(u(map.get()), u(&key), c, 0, 0, nullptr);
        ASSERT_NE(p, 0u);
        EXPECT_EQ(*reinterpret_cast<uint64_t*>(p), 1000 + c);
    }
    EXPECT_EQ(helpers::map_lookup_percpu_elem(u(map.get()), u(&key), cpus, 0, 0, nullptr), 0u);
    // map_lookup_elem gives the calling thread's slot.
    uint64_t mine = helpers::map_lookup_elem(u(map.get()), u(&key), 0, 0, 0, nullptr);
    ASSERT_NE(mine, 0u);
    EXPECT_EQ(*reinterpret_cast<uint64_t*>(mine), 1000 + current_cpu() % cpus);
    auto plain = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1);
    EXPECT_EQ(helpers::map_lookup_percpu_elem(u(plain.get()), u(&key), 0, 0, 0, nullptr), 0u);
}

TEST(MapHelpers, RingbufReserveSubmitDiscardOutputQuery) {
    auto rb = make_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    ASSERT_TRUE(rb);
    RingBufferReader reader;
    std::vector<std::string> got;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t n) {
        got.emplace_back(static_cast<const char*>(d), n);
        return 0;
    }));
    EXPECT_EQ(helpers::ringbuf_reserve(u(rb.get()), 8, 1, 0, 0, nullptr), 0u); // flags must be 0
    uint64_t rec = helpers::ringbuf_reserve(u(rb.get()), 5, 0, 0, 0, nullptr);
    ASSERT_NE(rec, 0u);
    std::memcpy(reinterpret_cast<void*>(rec), "hello", 5);
    EXPECT_EQ(helpers::ringbuf_submit(rec, 0, 0, 0, 0, nullptr), 0u);
    uint64_t gone = helpers::ringbuf_reserve(u(rb.get()), 4, 0, 0, 0, nullptr);
    ASSERT_NE(gone, 0u);
    EXPECT_EQ(helpers::ringbuf_discard(gone, 0, 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::ringbuf_output(u(rb.get()), u("world"), 5, 0, 0, nullptr), 0u);
    EXPECT_EQ(s(helpers::ringbuf_output(u(rb.get()), u("x"), 1, 4, 0, nullptr)), -EINVAL); // unknown flag
    EXPECT_EQ(helpers::ringbuf_query(u(rb.get()), BPF_RB_RING_SIZE, 0, 0, 0, nullptr), 4096u);
    EXPECT_GT(helpers::ringbuf_query(u(rb.get()), BPF_RB_AVAIL_DATA, 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::ringbuf_query(u(rb.get()), 99, 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::ringbuf_reserve(u(rb.get()), 8192, 0, 0, 0, nullptr), 0u); // does not fit
    EXPECT_EQ(reader.consume(), 2);
    EXPECT_EQ(got, (std::vector<std::string>{"hello", "world"}));
}

TEST(MapHelpers, PerfEventOutput) {
    MapSpec spec;
    spec.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY;
    spec.key_size = 4;
    spec.value_size = 4;
    spec.max_entries = 2;
    MapOptions opts;
    opts.nr_cpus = 2;
    auto created = Map::create(spec, opts);
    ASSERT_TRUE(created) << created.error().to_string();
    auto map = *created;
    std::vector<std::pair<uint32_t, std::string>> got;
    auto reader = PerfBufferReader::create(map, [&](uint32_t cpu, const void* d, size_t n) {
        got.emplace_back(cpu, std::string(static_cast<const char*>(d), n));
    });
    ASSERT_TRUE(reader) << reader.error().to_string();
    const char data[8] = "sample!";
    const uint32_t mine = current_cpu() % 2;
    EXPECT_EQ(helpers::perf_event_output(0, u(map.get()), mine, u(data), 8, nullptr), 0u);
    EXPECT_EQ(s(helpers::perf_event_output(0, u(map.get()), 1 - mine, u(data), 8, nullptr)), -EOPNOTSUPP); // another CPU's
    EXPECT_EQ(s(helpers::perf_event_output(0, u(map.get()), 2, u(data), 8, nullptr)), -E2BIG); // index >= max_entries
    // Packet bytes (the upper 32 bits) only where the run has a packet.
    EXPECT_EQ(s(helpers::perf_event_output(0, u(map.get()), 1ull << 32, u(data), 8, nullptr)), -EINVAL);
    const uint8_t packet[3] = {1, 2, 3};
    RunOptions with_packet;
    with_packet.packet = packet;
    ExecContext run;
    run.options = &with_packet;
    EXPECT_EQ(s(helpers::perf_event_output(0, u(map.get()), (4ull << 32) | BPF_F_CURRENT_CPU, u(data), 8, &run)), -EFAULT);
    EXPECT_EQ(helpers::perf_event_output(0, u(map.get()), (2ull << 32) | BPF_F_CURRENT_CPU, u(data), 8, &run), 0u);
    auto arr = make_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    EXPECT_EQ(s(helpers::perf_event_output(0, u(arr.get()), 0, u(data), 8, nullptr)), -EINVAL);
    EXPECT_EQ((*reader)->consume(), 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].first, mine);
    EXPECT_EQ(got[0].second, std::string(data, 8) + std::string(4, '\0')); // padded: round_up(8 + 4, 8) - 4
    EXPECT_EQ(got[1].second, std::string(data, 8) + std::string("\x01\x02\0\0", 4)); // 10 bytes, padded to 12
}

TEST(MapHelpersChecked, LookupsExposeValues) {
    CheckedContext c;
    auto arr = make_map(BPF_MAP_TYPE_ARRAY, 4, 12, 8);
    auto hash = make_map(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_RDONLY_PROG);
    ASSERT_TRUE(arr && hash);
    uint32_t& k = *c.on_stack<uint32_t>(); // keys come from the program's stack
    k = 3;
    uint64_t v = 1;
    ASSERT_EQ(hash->sys_update(&k, &v, BPF_ANY), 0);
    uint64_t a = helpers::map_lookup_elem(u(arr.get()), u(&k), 0, 0, 0, c.get());
    ASSERT_NE(a, 0u);
    // The whole array's values at once, writable.
    EXPECT_EQ(c->num_regions, 1);
    EXPECT_TRUE(program_may_access(c.get(), u(arr->value_base()), 16 * 8, true));
    k = 5;
    EXPECT_NE(helpers::map_lookup_elem(u(arr.get()), u(&k), 0, 0, 0, c.get()), 0u);
    EXPECT_EQ(c->num_regions, 1); // already covered
    k = 3;
    uint64_t h = helpers::map_lookup_elem(u(hash.get()), u(&k), 0, 0, 0, c.get());
    ASSERT_NE(h, 0u);
    EXPECT_EQ(c->num_regions, 2);
    EXPECT_TRUE(program_may_access(c.get(), h, 8, false));
    EXPECT_FALSE(program_may_access(c.get(), h, 8, true)); // BPF_F_RDONLY_PROG
    EXPECT_FALSE(program_may_access(c.get(), h, 9, false));
    EXPECT_EQ(c->regions[1].name, kMapValueRegion);
    EXPECT_EQ(c.error(), "");
}

TEST(MapHelpersChecked, PointersMustBeTheProgramsMemory) {
    CheckedContext c;
    auto hash = make_map(BPF_MAP_TYPE_HASH, 4, 8, 8);
    ASSERT_TRUE(hash);
    uint32_t host_key = 1; // not on the program's stack, not in a region
    EXPECT_EQ(helpers::map_lookup_elem(u(hash.get()), u(&host_key), 0, 0, 0, c.get()), 0u);
    EXPECT_EQ(c.error(), fmt::format("bpf_map_lookup_elem: key (4 bytes at {:#x}) is not memory the program may read",
                                     u(&host_key)));
    uint64_t* value = c.on_stack<uint64_t>(8);
    EXPECT_EQ(s(helpers::map_update_elem(u(hash.get()), u(c.on_stack<uint32_t>()), u(value), BPF_ANY, 0, c.get())), 0);
    EXPECT_EQ(c.error(), "");
    // Runs past the end of the stack.
    EXPECT_EQ(s(helpers::map_pop_elem(u(hash.get()), u(c.stack + 508), 0, 0, 0, c.get())), -EFAULT);
    EXPECT_NE(c.error().find("bpf_map_pop_elem: value (8 bytes at"), std::string::npos);
}

TEST(MapHelpersChecked, AFullRegionTableFailsTheRun) {
    CheckedContext c;
    auto hash = make_map(BPF_MAP_TYPE_HASH, 4, 8, 128);
    ASSERT_TRUE(hash);
    for (uint32_t k = 0; k < 100; k++) {
        uint64_t v = k;
        ASSERT_EQ(hash->sys_update(&k, &v, BPF_ANY), 0);
    }
    int found = 0;
    uint32_t& k = *c.on_stack<uint32_t>();
    for (k = 0; k < 100 && c->stop == ExecContext::kRunning; k++)
        if (helpers::map_lookup_elem(u(hash.get()), u(&k), 0, 0, 0, c.get())) found++;
    EXPECT_EQ(found, ExecContext::kMaxRegions);
    EXPECT_EQ(c.error(), "too many memory regions: a map value cannot be handed to the program, the run's 64 are in use");
}

TEST(MapHelpersChecked, RingbufRecordsAreRegionsUntilReleased) {
    CheckedContext c;
    auto rb = make_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    ASSERT_TRUE(rb);
    uint64_t rec = helpers::ringbuf_reserve(u(rb.get()), 16, 0, 0, 0, c.get());
    ASSERT_NE(rec, 0u);
    EXPECT_TRUE(program_may_access(c.get(), rec, 16, true));
    EXPECT_EQ(c->regions[0].name, kRingbufRecordRegion);
    // Only a record reserve handed out may be released, and only once: else the run fails.
    EXPECT_EQ(s(helpers::ringbuf_submit(rec + 8, 0, 0, 0, 0, c.get())), -EINVAL);
    EXPECT_EQ(c.error(), fmt::format("bpf_ringbuf_submit: {:#x} is not a ring buffer record bpf_ringbuf_reserve "
                                     "handed out in this run (or it was released already)",
                                     rec + 8));
    EXPECT_EQ(helpers::ringbuf_submit(rec, 0, 0, 0, 0, c.get()), 0u);
    EXPECT_EQ(c->num_regions, 0);
    EXPECT_EQ(s(helpers::ringbuf_discard(rec, 0, 0, 0, 0, c.get())), -EINVAL);
    EXPECT_NE(c.error().find("bpf_ringbuf_discard: "), std::string::npos);
    EXPECT_EQ(s(helpers::ringbuf_submit(u(c.stack), 0, 0, 0, 0, c.get())), -EINVAL);
    EXPECT_NE(c.error(), "");
}
