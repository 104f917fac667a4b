// Loading objects: maps, global data, subprograms, bpf_loop, on every engine;
// ids; refusals.
#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <atomic>

#include "bpfvm/helpers.h"
#include "bpfvm/jit.h"
#include "runtime_testing.h"

namespace bpfvm::runtimetest {
namespace {

class LoadTest : public ::testing::TestWithParam<EngineConfig> {};

struct XdpContext {
    struct xdp_md md;
};

XdpContext context(uint32_t ifindex, uint32_t queue) {
    XdpContext c{};
    c.md.ingress_ifindex = ifindex;
    c.md.rx_queue_index = queue;
    return c;
}

TEST_P(LoadTest, XdpObjectRunsWithMapsGlobalDataSubprogramsAndLoops) {
    auto obj = load("xdp_full", options_for(GetParam()));
    ASSERT_TRUE(obj);
    auto prog = obj->find_program("xdp_count");
    ASSERT_TRUE(prog);
    EXPECT_EQ(prog->section(), "xdp");
    EXPECT_EQ(prog->prog_type(), BPF_PROG_TYPE_XDP);
    EXPECT_EQ(prog->checked(), GetParam().checked);
    EXPECT_EQ(prog->engine(), JitProgram::supported() ? GetParam().engine : EngineKind::Interpreter);
    EXPECT_EQ(obj->find_program("xdp"), prog); // the only program of its section

    auto c = context(7, 5); // loop sums 0..4 = 10
    auto r = prog->run(&c, sizeof(c));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, XDP_PASS);
    auto c2 = context(4, 3); // 0..2 = 3
    r = prog->run(&c2, sizeof(c2));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, XDP_DROP);
    r = prog->run(&c, sizeof(c));
    ASSERT_TRUE(r) << r.error().to_string();

    auto counts = obj->find_map("counts");
    auto stats = obj->find_map("stats");
    ASSERT_TRUE(counts && stats);
    EXPECT_EQ(counts->type(), BPF_MAP_TYPE_HASH);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*counts, 7)), 2u);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*counts, 4)), 1u);
    uint32_t absent = 5;
    uint64_t v;
    EXPECT_EQ(counts->sys_lookup(&absent, &v), -ENOENT);
    // stats[0] += (sum * multiplier (3)): 30 + 9 + 30.
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*stats, 0)), 69u);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*stats, 1)), 0u);

    // Global data: .data counted from 5, .bss summed, .rodata as compiled and frozen.
    auto data = obj->find_map("xdp_full.data");
    auto rodata = obj->find_map("xdp_full.rodata");
    auto bss = obj->find_map("xdp_full.bss");
    ASSERT_TRUE(data && rodata && bss);
    uint64_t counter, total;
    std::memcpy(&counter, data->value_base(), 8);
    std::memcpy(&total, bss->value_base(), 8);
    EXPECT_EQ(counter, 8u);
    EXPECT_EQ(total, 23u);
    uint32_t mult;
    std::memcpy(&mult, rodata->value_base(), 4);
    EXPECT_EQ(mult, 3u);
    EXPECT_TRUE(rodata->frozen());
    EXPECT_TRUE(rodata->map_flags() & BPF_F_RDONLY_PROG);
    EXPECT_FALSE(data->frozen());
}

TEST_P(LoadTest, RodataChangedBeforeRunIsWhatTheProgramSees) {
    // libbpf's skeletons set .rodata before load; here the map is frozen, so a
    // reuse_maps map with the new value stands in for it.
    auto first = load("xdp_full", options_for(GetParam()));
    ASSERT_TRUE(first);
    MapSpec spec = first->find_map("xdp_full.rodata")->spec();
    auto ro = Map::create(spec);
    ASSERT_TRUE(ro) << ro.error().to_string();
    uint32_t key = 0;
    uint32_t mult = 10;
    ASSERT_EQ((*ro)->sys_update(&key, &mult, BPF_ANY), 0);
    LoadOptions o = options_for(GetParam());
    o.reuse_maps["xdp_full.rodata"] = *ro;
    auto obj = load("xdp_full", o);
    ASSERT_TRUE(obj);
    auto c = context(1, 4); // 0..3 = 6
    ASSERT_TRUE(obj->find_program("xdp_count")->run(&c, sizeof(c)));
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("stats"), 0)), 60u);
    EXPECT_TRUE(obj->find_loaded_map("xdp_full.rodata")->reused);
}

TEST_P(LoadTest, EachLoadHasItsOwnMaps) {
    auto a = load("xdp_full", options_for(GetParam()));
    auto b = load("xdp_full", options_for(GetParam()));
    ASSERT_TRUE(a && b);
    auto c = context(3, 0);
    ASSERT_TRUE(a->find_program("xdp_count")->run(&c, sizeof(c)));
    uint32_t key = 3;
    uint64_t v;
    EXPECT_EQ(a->find_map("counts")->sys_lookup(&key, &v), 0);
    EXPECT_EQ(b->find_map("counts")->sys_lookup(&key, &v), -ENOENT);
    EXPECT_NE(a->find_map("counts"), b->find_map("counts"));
}

TEST_P(LoadTest, ThreadsRunOneProgramAtOnce) {
    auto obj = load("xdp_full", options_for(GetParam()));
    ASSERT_TRUE(obj);
    auto prog = obj->find_program("xdp_count");
    uint32_t key = 3;
    uint64_t zero = 0;
    ASSERT_EQ(obj->find_map("counts")->sys_update(&key, &zero, BPF_ANY), 0);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&] {
            auto c = context(3, 2);
            for (int i = 0; i < 500; i++)
                if (!prog->run(&c, sizeof(c))) failures++;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    // The program adds with an atomic fetch-and-add.
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("counts"), 3)), 2000u);
}

TEST_P(LoadTest, MapInMapSlotsHoldTheObjectsMaps) {
    auto obj = load("mapinmap", options_for(GetParam()));
    ASSERT_TRUE(obj);
    auto outer = obj->find_map("outer");
    ASSERT_TRUE(outer);
    EXPECT_EQ(outer->type(), BPF_MAP_TYPE_ARRAY_OF_MAPS);
    uint32_t key = 1, id = 0;
    ASSERT_EQ(outer->sys_lookup(&key, &id), 0);
    EXPECT_EQ(id, obj->find_loaded_map("inner_b")->id);
    auto prog = obj->find_program("pick");
    auto run = [&](uint32_t k) {
        auto r = prog->run(&k, sizeof k);
        EXPECT_TRUE(r) << r.error().to_string();
        return r ? static_cast<int32_t>(*r) : -100; // an int: r0 is its 32 bits
    };
    EXPECT_EQ(run(1), 1);
    EXPECT_EQ(run(1), 2);
    EXPECT_EQ(run(0), 1);
    EXPECT_EQ(run(5), -1); // past the outer map's end
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("inner_b"), 0)), 2u);
    // Userspace points slot 0 at inner_b by id.
    key = 0;
    id = obj->find_loaded_map("inner_b")->id;
    ASSERT_EQ(outer->sys_update(&key, &id, BPF_ANY), 0);
    EXPECT_EQ(run(0), 3);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("inner_a"), 0)), 1u);
}

INSTANTIATE_TEST_SUITE_P(Engines, LoadTest, all_engines(), config_name);

class CheckedLoadTest : public LoadTest {};

TEST_P(CheckedLoadTest, GlobalDataIsHandedOverAndRodataIsReadOnly) {
    auto obj = load("rodata_write", options_for(GetParam()));
    ASSERT_TRUE(obj);
    uint8_t ctx[8] = {};
    auto r = obj->find_program("write_rodata")->run(ctx, sizeof ctx);
    ASSERT_FALSE(r);
    const std::string msg = r.error().to_string();
    EXPECT_NE(msg.find("invalid write of 4 bytes at 0x"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the rodata_w.rodata is read-only"), std::string::npos) << msg;
    // .bss was written before the fault; .rodata was not.
    uint32_t writes, limit;
    std::memcpy(&writes, obj->find_map("rodata_w.bss")->value_base(), 4);
    std::memcpy(&limit, obj->find_map("rodata_w.rodata")->value_base(), 4);
    EXPECT_EQ(writes, 1u);
    EXPECT_EQ(limit, 10u);
    // Options asking for the fast mode do not turn the checks off: the mode is the load's.
    RunOptions fast;
    fast.checked = false;
    auto again = obj->find_program("write_rodata")->run(ctx, sizeof ctx, fast);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().to_string().find("is read-only"), std::string::npos) << again.error().to_string();
    std::memcpy(&writes, obj->find_map("rodata_w.bss")->value_base(), 4);
    EXPECT_EQ(writes, 2u);
}

INSTANTIATE_TEST_SUITE_P(Engines, CheckedLoadTest,
                         ::testing::Values(EngineConfig{EngineKind::Jit, true},
                                           EngineConfig{EngineKind::Interpreter, true}),
                         config_name);

TEST(Load, UnknownHelperIsRefusedWithNameAndNumber) {
    auto obj = LoadedObject::load(object_path("unknown_helper"));
    ASSERT_FALSE(obj);
    const std::string msg = obj.error().to_string();
    EXPECT_NE(msg.find("program store: instruction "), std::string::npos) << msg;
    EXPECT_NE(msg.find(" calls helper bpf_skb_store_bytes (9), which bpfvm does not provide"), std::string::npos)
        << msg;
    // The source line from BTF line info.
    EXPECT_NE(msg.find("unknown_helper.c:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bpf_skb_store_bytes(skb"), std::string::npos) << msg;
}

TEST(Load, AHelperTheApplicationAddsIsBound) {
    HelperTable table = runtime_helpers();
    table.add(BPF_FUNC_skb_store_bytes, "bpf_skb_store_bytes",
              [](uint64_t, uint64_t, uint64_t r3, uint64_t, uint64_t, ExecContext*) -> uint64_t {
                  uint32_t v;
                  std::memcpy(&v, reinterpret_cast<const void*>(r3), 4);
                  return v == 0x01020304 ? 0 : 1;
              });
    LoadOptions o;
    o.helpers = &table;
    auto obj = load("unknown_helper", o);
    ASSERT_TRUE(obj);
    uint8_t skb[256] = {};
    auto r = obj->find_program("store")->run(skb, sizeof(skb));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, 0u);
}

TEST(Load, MissingFileAndGarbageAreErrors) {
    auto missing = LoadedObject::load("/nonexistent/x.o");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().to_string().find("/nonexistent/x.o"), std::string::npos)
        << missing.error().to_string();
    std::vector<uint8_t> junk(100, 0x42);
    auto bad = LoadedObject::load(junk, "junk");
    ASSERT_FALSE(bad);
    EXPECT_FALSE(bad.error().to_string().empty());
}

TEST(Load, FromMemoryWorksAndCannotPin) {
    std::FILE* f = std::fopen(object_path("xdp_full").c_str(), "rb");
    ASSERT_TRUE(f);
    std::vector<uint8_t> bytes;
    uint8_t buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
    std::fclose(f);
    auto obj = LoadedObject::load(bytes, "xdp_full.o");
    ASSERT_TRUE(obj) << obj.error().to_string();
    EXPECT_TRUE((*obj)->path().empty());
    auto pin = (*obj)->find_program("xdp_count")->pin("from_memory_prog");
    ASSERT_FALSE(pin);
    EXPECT_NE(pin.error().to_string().find("loaded from memory"), std::string::npos) << pin.error().to_string();
}

TEST(Ids, MapsAndProgramsHaveIdsWhileTheyLive) {
    uint32_t prog_id, map_id;
    {
        auto obj = load("xdp_full");
        ASSERT_TRUE(obj);
        auto prog = obj->find_program("xdp_count");
        prog_id = prog->id();
        map_id = obj->find_loaded_map("counts")->id;
        EXPECT_NE(prog_id, 0u);
        EXPECT_NE(map_id, 0u);
        EXPECT_EQ(program_by_id(prog_id), prog);
        EXPECT_EQ(map_by_id(map_id), obj->find_map("counts"));
        EXPECT_EQ(object_registry()->map_id(*obj->find_map("counts")), map_id);
        auto ids = program_ids();
        EXPECT_NE(std::find(ids.begin(), ids.end(), prog_id), ids.end());
        auto mids = map_ids();
        EXPECT_NE(std::find(mids.begin(), mids.end(), map_id), mids.end());
        // The program uses counts, stats and the three global data maps.
        EXPECT_EQ(prog->map_ids().size(), 5u);
        // Distinct ids for every map of the object.
        std::set<uint32_t> distinct;
        for (const auto& m : obj->maps()) distinct.insert(m.id);
        EXPECT_EQ(distinct.size(), obj->maps().size());
    }
    EXPECT_EQ(program_by_id(prog_id), nullptr);
    EXPECT_EQ(map_by_id(map_id), nullptr);
    auto ids = program_ids();
    EXPECT_EQ(std::find(ids.begin(), ids.end(), prog_id), ids.end());
    // A new object gets new ids.
    auto obj = load("xdp_full");
    ASSERT_TRUE(obj);
    EXPECT_GT(obj->find_program("xdp_count")->id(), prog_id);
}

TEST(Ids, RegisterMapGivesUserspaceMapsAnId) {
    MapSpec spec;
    spec.type = BPF_MAP_TYPE_ARRAY;
    spec.key_size = 4;
    spec.value_size = 4;
    spec.max_entries = 1;
    auto m = Map::create(spec);
    ASSERT_TRUE(m);
    uint32_t id = register_map(*m);
    EXPECT_NE(id, 0u);
    EXPECT_EQ(register_map(*m), id);
    EXPECT_EQ(map_by_id(id), *m);
}

} // namespace
} // namespace bpfvm::runtimetest
