// bpf_loop and bpf_for_each_map_elem against a fake engine: "functions" are
// C++ callables, called through a FunctionCaller as the engines will.
#include <cerrno>
#include <cstring>
#include <functional>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {

using Fn = std::function<uint64_t(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*)>;
std::vector<Fn>& functions() {
    static std::vector<Fn> f;
    return f;
}
// Function "addresses" as lddw src=4 gives them: kFuncAddressTag | index.
uint64_t define(Fn fn) {
    functions().push_back(std::move(fn));
    return kFuncAddressTag | (functions().size() - 1);
}
uint64_t fake_caller(ExecContext* ctx, uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
    return functions().at(fn & 0xffffffff)(r1, r2, r3, r4, r5, ctx);
}

} // namespace

TEST(Loop, CallsTheCallbackWithIndexAndContext) {
    ScopedFunctionCaller engine(fake_caller);
    std::vector<uint64_t> seen;
    uint64_t ctx_seen = 0;
    uint64_t fn = define([&](uint64_t i, uint64_t c, uint64_t, uint64_t, uint64_t, ExecContext*) {
        seen.push_back(i);
        ctx_seen = c;
        return uint64_t(0);
    });
    EXPECT_EQ(helpers::loop(5, fn, 0x1234, 0, 0, nullptr), 5u);
    EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(ctx_seen, 0x1234u);
    seen.clear();
    EXPECT_EQ(helpers::loop(0, fn, 0, 0, 0, nullptr), 0u);
    EXPECT_TRUE(seen.empty());
}

TEST(Loop, StopsWhenTheCallbackReturnsOne) {
    ScopedFunctionCaller engine(fake_caller);
    int calls = 0;
    uint64_t fn = define([&](uint64_t i, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
        calls++;
        return uint64_t(i == 3);
    });
    EXPECT_EQ(helpers::loop(100, fn, 0, 0, 0, nullptr), 4u); // i + 1 iterations
    EXPECT_EQ(calls, 4);
}

TEST(Loop, Errors) {
    ScopedFunctionCaller engine(fake_caller);
    int calls = 0;
    uint64_t fn = define([&](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
        calls++;
        return uint64_t(1);
    });
    EXPECT_EQ(s(helpers::loop(1, fn, 0, 1, 0, nullptr)), -EINVAL);                // flags
    EXPECT_EQ(s(helpers::loop((1u << 23) + 1, fn, 0, 0, 0, nullptr)), -E2BIG);    // > BPF_MAX_LOOPS
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(s(helpers::loop(1u << 23, fn, 0, 0, 0, nullptr)), 1);               // the limit itself is fine
    EXPECT_EQ(s(helpers::loop(0x1'0000'0002ull, fn, 0, 0, 0, nullptr)), 1);       // nr_loops is 32 bits
}

TEST(Loop, WithoutAnEngineCallerItIsNotSupported) {
    uint64_t fn = kFuncAddressTag;
    EXPECT_EQ(function_caller(nullptr), nullptr);
    EXPECT_EQ(s(helpers::loop(3, fn, 0, 0, 0, nullptr)), -EOPNOTSUPP);
    {
        ScopedFunctionCaller engine(fake_caller);
        EXPECT_EQ(function_caller(nullptr), &fake_caller);
        {
            ScopedFunctionCaller none(nullptr);
            EXPECT_EQ(function_caller(nullptr), nullptr);
        }
        EXPECT_EQ(function_caller(nullptr), &fake_caller);
    }
    EXPECT_EQ(function_caller(nullptr), nullptr);
}

TEST(ForEachMapElem, VisitsArrayElementsWithKeyValueAndContext) {
    ScopedFunctionCaller engine(fake_caller);
    auto map = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    ASSERT_TRUE(map);
    for (uint32_t k = 0; k < 4; k++) {
        uint64_t v = 100 + k;
        ASSERT_EQ(map->update(&k, &v, BPF_ANY), 0);
    }
    std::vector<std::pair<uint32_t, uint64_t>> seen;
    uint64_t fn = define([&](uint64_t m, uint64_t key, uint64_t value, uint64_t c, uint64_t, ExecContext*) {
        EXPECT_EQ(m, u(map.get()));
        EXPECT_EQ(c, 77u);
        uint32_t k;
        uint64_t v;
        std::memcpy(&k, reinterpret_cast<const void*>(key), 4);
        std::memcpy(&v, reinterpret_cast<const void*>(value), 8);
        seen.emplace_back(k, v);
        v *= 2; // values are writable
        std::memcpy(reinterpret_cast<void*>(value), &v, 8);
        return uint64_t(0);
    });
    EXPECT_EQ(helpers::for_each_map_elem(u(map.get()), fn, 77, 0, 0, nullptr), 4u);
    ASSERT_EQ(seen.size(), 4u);
    for (uint32_t k = 0; k < 4; k++) {
        EXPECT_EQ(seen[k], std::make_pair(k, uint64_t(100 + k)));
        EXPECT_EQ(*static_cast<uint64_t*>(map->lookup(&k)), 2 * (100 + k));
    }
}

TEST(ForEachMapElem, StopsAndCountsTheStoppingElement) {
    ScopedFunctionCaller engine(fake_caller);
    auto map = make_map(BPF_MAP_TYPE_HASH, 4, 4, 16);
    ASSERT_TRUE(map);
    for (uint32_t k = 0; k < 10; k++) ASSERT_EQ(map->update(&k, &k, BPF_ANY), 0);
    int calls = 0;
    uint64_t fn = define([&](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
        return uint64_t(++calls == 3);
    });
    EXPECT_EQ(helpers::for_each_map_elem(u(map.get()), fn, 0, 0, 0, nullptr), 3u);
    EXPECT_EQ(s(helpers::for_each_map_elem(u(map.get()), fn, 0, 1, 0, nullptr)), -EINVAL); // flags
    EXPECT_EQ(s(helpers::for_each_map_elem(0, fn, 0, 0, 0, nullptr)), -EINVAL);
}

TEST(ForEachMapElem, CheckedModeExposesKeyAndValueForTheCallbackOnly) {
    ScopedFunctionCaller engine(fake_caller);
    auto map = make_map(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_RDONLY_PROG);
    ASSERT_TRUE(map);
    uint32_t k = 5;
    uint64_t v = 55;
    ASSERT_EQ(map->update(&k, &v, BPF_ANY), 0);
    CheckedContext c;
    int inside = -1;
    uint64_t fn = define([&](uint64_t, uint64_t key, uint64_t value, uint64_t, uint64_t, ExecContext* ctx) {
        inside = ctx->num_regions;
        EXPECT_TRUE(program_may_access(ctx, key, 4, false));
        EXPECT_FALSE(program_may_access(ctx, key, 4, true));     // keys are read-only
        EXPECT_TRUE(program_may_access(ctx, value, 8, false));
        EXPECT_FALSE(program_may_access(ctx, value, 8, true));   // BPF_F_RDONLY_PROG
        return uint64_t(0);
    });
    EXPECT_EQ(helpers::for_each_map_elem(u(map.get()), fn, 0, 0, 0, c.get()), 1u);
    EXPECT_EQ(inside, 2);
    EXPECT_EQ(c->num_regions, 0); // taken back after the callback
}
