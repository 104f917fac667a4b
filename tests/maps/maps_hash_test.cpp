// hash, percpu_hash, lru_hash, lru_percpu_hash: operations, flags, errors,
// iteration, LRU eviction, batch operations.
#include <algorithm>
#include <map>
#include <set>

#include "map_testing.h"

namespace bpfvm {
namespace {

using testing::at;
using testing::make;
using testing::PinRoot;
using testing::spec;

TEST(HashMap, UpdateLookupDeleteFlags) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 8, 2), root.options());
    uint32_t k = 5;
    uint64_t v = 50, out = 0;
    EXPECT_EQ(m->lookup(&k), nullptr);
    EXPECT_EQ(m->update(&k, &v, BPF_EXIST), -ENOENT);
    EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), 0);
    EXPECT_EQ(m->update(&k, &v, BPF_NOEXIST), -EEXIST);
    ASSERT_NE(m->lookup(&k), nullptr);
    EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k)), 50u);
    v = 51;
    EXPECT_EQ(m->update(&k, &v, BPF_EXIST), 0);
    EXPECT_EQ(m->sys_lookup(&k, &out, 0), 0);
    EXPECT_EQ(out, 51u);
    EXPECT_EQ(m->update(&k, &v, 3), -EINVAL);
    EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), -EINVAL);
    uint32_t k2 = 6, k3 = 7;
    EXPECT_EQ(m->update(&k2, &v, BPF_ANY), 0);
    EXPECT_EQ(m->update(&k3, &v, BPF_ANY), -E2BIG); // full
    EXPECT_EQ(m->update(&k2, &v, BPF_ANY), 0);      // replacing in a full map works
    EXPECT_EQ(m->erase(&k3), -ENOENT);
    EXPECT_EQ(m->erase(&k2), 0);
    EXPECT_EQ(m->update(&k3, &v, BPF_ANY), 0);
    EXPECT_EQ(m->sys_delete(&k3), 0);
    EXPECT_EQ(m->sys_delete(&k3), -ENOENT);
    EXPECT_EQ(m->sys_lookup(&k3, &out, 0), -ENOENT);
    EXPECT_EQ(m->sys_lookup_and_delete(&k, &out, 0), 0);
    EXPECT_EQ(out, 51u);
    EXPECT_EQ(m->sys_lookup_and_delete(&k, &out, 0), -ENOENT);
    EXPECT_EQ(m->sys_lookup_and_delete(&k, &out, BPF_F_LOCK), -EINVAL);
}

TEST(HashMap, LongKeysAndManyEntries) {
    PinRoot root;
    struct Key {
        uint32_t a;
        uint16_t b;
        uint8_t c[7];
    } __attribute__((packed));
    auto m = make(spec(BPF_MAP_TYPE_HASH, sizeof(Key), 4, 1000), root.options());
    for (uint32_t i = 0; i < 1000; i++) {
        Key k{i, uint16_t(i * 3), {1, 2, 3, 4, 5, 6, uint8_t(i)}};
        ASSERT_EQ(m->update(&k, &i, BPF_NOEXIST), 0) << i;
    }
    for (uint32_t i = 0; i < 1000; i++) {
        Key k{i, uint16_t(i * 3), {1, 2, 3, 4, 5, 6, uint8_t(i)}};
        auto* v = static_cast<uint32_t*>(m->lookup(&k));
        ASSERT_NE(v, nullptr) << i;
        EXPECT_EQ(*v, i);
    }
    for (uint32_t i = 0; i < 1000; i += 2) {
        Key k{i, uint16_t(i * 3), {1, 2, 3, 4, 5, 6, uint8_t(i)}};
        ASSERT_EQ(m->erase(&k), 0);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        Key k{i, uint16_t(i * 3), {1, 2, 3, 4, 5, 6, uint8_t(i)}};
        EXPECT_EQ(m->lookup(&k) != nullptr, i % 2 == 1) << i;
    }
}

TEST(HashMap, GetNextKeyVisitsEveryKeyOnce) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 64), root.options());
    std::set<uint32_t> want;
    for (uint32_t i = 0; i < 50; i++) {
        uint32_t k = i * 7919;
        m->update(&k, &i, 0);
        want.insert(k);
    }
    std::set<uint32_t> seen;
    uint32_t cur, next;
    const void* prev = nullptr;
    while (m->sys_get_next_key(prev, &next) == 0) {
        EXPECT_TRUE(seen.insert(next).second) << "twice: " << next;
        cur = next;
        prev = &cur;
        ASSERT_LE(seen.size(), 50u);
    }
    EXPECT_EQ(seen, want);
    uint32_t missing = 1;
    uint32_t first;
    ASSERT_EQ(m->sys_get_next_key(nullptr, &first), 0);
    ASSERT_EQ(m->sys_get_next_key(&missing, &next), 0); // absent key: the first key
    EXPECT_EQ(next, first);
    auto empty = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 4), root.options());
    EXPECT_EQ(empty->sys_get_next_key(nullptr, &next), -ENOENT);
}

TEST(HashMap, DeleteWhileIteratingWithGetNextKey) {
    // bpftool's way of emptying a map: get the next key, delete the previous.
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 32), root.options());
    for (uint32_t i = 0; i < 32; i++) m->update(&i, &i, 0);
    uint32_t k;
    int n = 0;
    while (m->sys_get_next_key(nullptr, &k) == 0 && n < 100) {
        EXPECT_EQ(m->sys_delete(&k), 0);
        n++;
    }
    EXPECT_EQ(n, 32);
}

TEST(HashMap, ForEachAndSpinLock) {
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_HASH, 4, 8, 8);
    s.spin_lock_offset = 4;
    auto m = make(s, root.options());
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t v[2] = {i * 2, 0xdead};
        EXPECT_EQ(m->update(&i, v, BPF_ANY), 0);
    }
    uint32_t k = 1;
    auto* v = static_cast<uint32_t*>(m->lookup(&k));
    EXPECT_EQ(v[1], 0u); // the lock word starts at 0
    uint32_t nv[2] = {77, 0xdead};
    EXPECT_EQ(m->update(&k, nv, BPF_F_LOCK | BPF_EXIST), 0);
    EXPECT_EQ(m->lookup(&k), v); // in place under the lock
    EXPECT_EQ(v[0], 77u);
    EXPECT_EQ(v[1], 0u);
    uint32_t k9 = 9;
    EXPECT_EQ(m->update(&k9, nv, BPF_F_LOCK | BPF_EXIST), -ENOENT);
    EXPECT_EQ(m->update(&k9, nv, BPF_F_LOCK), 0);
    EXPECT_EQ(m->update(&k9, nv, BPF_F_LOCK | BPF_NOEXIST), -EEXIST);
    uint64_t sum = 0;
    long n = m->for_each(
        [](Map*, const void*, void* value, void* ctx) -> long {
            *static_cast<uint64_t*>(ctx) += *static_cast<uint32_t*>(value);
            return 0;
        },
        &sum, 0);
    EXPECT_EQ(n, 6);
    EXPECT_EQ(sum, 0u + 77 + 4 + 6 + 8 + 77);
}

TEST(PercpuHashMap, NewElementZeroesOtherSlots) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4), root.options(4));
    EXPECT_EQ(m->sys_value_size(), 32u);
    uint32_t k = 1, v = 9;
    std::vector<unsigned char> all(32, 0xab);
    EXPECT_EQ(m->sys_update(&k, all.data(), BPF_ANY), 0);
    EXPECT_EQ(m->erase(&k), 0);
    EXPECT_EQ(m->update(&k, &v, BPF_ANY), 0);
    uint32_t me = current_cpu() % 4;
    ASSERT_EQ(m->sys_lookup(&k, all.data(), 0), 0);
    for (uint32_t c = 0; c < 4; c++) EXPECT_EQ(at<uint64_t>(all, c), c == me ? 9u : 0u) << c;
    v = 10;
    EXPECT_EQ(m->update(&k, &v, BPF_EXIST), 0);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup_percpu(&k, me)), 10u);
    EXPECT_EQ(m->lookup_percpu(&k, 4), nullptr);
    EXPECT_EQ(m->update(&k, &v, BPF_F_LOCK), -EINVAL);
    ASSERT_EQ(m->sys_lookup_and_delete(&k, all.data(), 0), 0);
    EXPECT_EQ(at<uint64_t>(all, me), 10u);
}

TEST(LruHashMap, EvictsUnreferencedFirstAndNeverFails) {
    PinRoot root;
    const uint32_t n = 64;
    auto m = make(spec(BPF_MAP_TYPE_LRU_HASH, 4, 4, n), root.options());
    for (uint32_t i = 0; i < n; i++) ASSERT_EQ(m->update(&i, &i, BPF_NOEXIST), 0);
    // Reference the first half from the program side.
    for (uint32_t i = 0; i < n / 2; i++) ASSERT_NE(m->lookup(&i), nullptr);
    // Userspace lookups do not count as references (lookup_elem_sys_only).
    uint32_t out;
    for (uint32_t i = n / 2; i < n; i++) ASSERT_EQ(m->sys_lookup(&i, &out, 0), 0);
    // Insert n/2 new keys: the unreferenced half goes.
    for (uint32_t i = 1000; i < 1000 + n / 2; i++) ASSERT_EQ(m->update(&i, &i, BPF_ANY), 0);
    for (uint32_t i = 0; i < n / 2; i++) EXPECT_NE(m->lookup(&i), nullptr) << i;
    for (uint32_t i = n / 2; i < n; i++) EXPECT_EQ(m->lookup(&i), nullptr) << i;
    for (uint32_t i = 1000; i < 1000 + n / 2; i++) EXPECT_NE(m->lookup(&i), nullptr) << i;
    // Any number of inserts succeeds; the map never holds more than max_entries.
    for (uint32_t i = 5000; i < 5000 + 3 * n; i++) ASSERT_EQ(m->update(&i, &i, BPF_ANY), 0);
    uint32_t count = 0, cur, next;
    const void* prev = nullptr;
    while (m->sys_get_next_key(prev, &next) == 0) {
        count++;
        cur = next;
        prev = &cur;
    }
    EXPECT_EQ(count, n);
    uint32_t k = 5000 + 3 * n - 1;
    EXPECT_EQ(m->update(&k, &k, BPF_NOEXIST), -EEXIST);
    EXPECT_EQ(m->update(&k, &k, BPF_F_LOCK), -EINVAL);
}

TEST(LruPercpuHashMap, UpdatesAndEvicts) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 8, BPF_F_NO_COMMON_LRU), root.options(2));
    EXPECT_EQ(m->max_entries(), 8u);
    for (uint32_t i = 0; i < 20; i++) {
        uint64_t v = i;
        ASSERT_EQ(m->update(&i, &v, BPF_ANY), 0);
    }
    uint32_t k = 19;
    ASSERT_NE(m->lookup(&k), nullptr);
    EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&k)), 19u);
    std::vector<unsigned char> all(16);
    EXPECT_EQ(m->sys_lookup(&k, all.data(), 0), 0);
    EXPECT_EQ(at<uint64_t>(all, current_cpu() % 2), 19u);
}

TEST(HashMap, ForEachCallbackMayDeleteTheElement) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 64), root.options());
    for (uint32_t i = 0; i < 40; i++) ASSERT_EQ(m->update(&i, &i, 0), 0);
    long n = m->for_each(
        [](Map* map, const void* key, void*, void*) -> long {
            uint32_t k;
            memcpy(&k, key, 4);
            if (k % 2 == 0) {
                EXPECT_EQ(map->erase(key), 0);
            }
            return 0;
        },
        nullptr, 0);
    EXPECT_EQ(n, 40);
    for (uint32_t i = 0; i < 40; i++) EXPECT_EQ(m->lookup(&i) != nullptr, i % 2 == 1) << i;
}

TEST(PercpuArrayMap, ForEachSeesTheCallersSlot) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4), root.options(2));
    uint32_t k = 1;
    uint64_t v = 5;
    ASSERT_EQ(m->update(&k, &v, 0), 0);
    uint64_t seen = 0;
    EXPECT_EQ(m->for_each(
                  [](Map*, const void*, void* value, void* ctx) -> long {
                      *static_cast<uint64_t*>(ctx) = *static_cast<uint64_t*>(value);
                      return 0;
                  },
                  &seen, 0),
              1);
    EXPECT_EQ(seen, 5u);
}

TEST(HashMap, ZeroSeedGivesTheSameOrderEveryTime) {
    PinRoot root;
    auto order = [&](uint32_t flags) {
        auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 64, flags), root.options());
        for (uint32_t i = 0; i < 40; i++) m->update(&i, &i, 0);
        std::vector<uint32_t> keys;
        uint32_t cur, next;
        const void* prev = nullptr;
        while (m->sys_get_next_key(prev, &next) == 0) {
            keys.push_back(next);
            cur = next;
            prev = &cur;
        }
        return keys;
    };
    auto a = order(BPF_F_ZERO_SEED), b = order(BPF_F_ZERO_SEED);
    EXPECT_EQ(a.size(), 40u);
    EXPECT_EQ(a, b);
}

// Random operations against a model (std::map), small key space so chains
// collide, including replacing and deleting in the middle of chains.
TEST(HashMap, RandomOperationsMatchAModel) {
    PinRoot root;
    for (uint32_t key_size : {4u, 12u}) {
        SCOPED_TRACE(key_size);
        auto m = make(spec(BPF_MAP_TYPE_HASH, key_size, 8, 16), root.options());
        std::map<uint32_t, uint64_t> model;
        uint64_t state = 88172645463325252ull;
        auto rnd = [&] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            return state;
        };
        auto key = [&](uint32_t k) {
            std::vector<unsigned char> b(key_size, 0);
            memcpy(b.data(), &k, 4);
            return b;
        };
        for (int step = 0; step < 20000; step++) {
            uint32_t k = uint32_t(rnd() % 40);
            auto kb = key(k);
            uint64_t v = rnd();
            switch (rnd() % 4) {
            case 0:
            case 1: {
                uint64_t flags = rnd() % 3;
                bool exists = model.count(k);
                long want = 0;
                if (flags == BPF_NOEXIST && exists) want = -EEXIST;
                else if (flags == BPF_EXIST && !exists) want = -ENOENT;
                else if (!exists && model.size() >= 16) want = -E2BIG;
                ASSERT_EQ(m->update(kb.data(), &v, flags), want) << "step " << step;
                if (want == 0) model[k] = v;
                break;
            }
            case 2: {
                long want = model.erase(k) ? 0 : -ENOENT;
                ASSERT_EQ(m->erase(kb.data()), want) << "step " << step;
                break;
            }
            default: {
                auto* p = static_cast<uint64_t*>(m->lookup(kb.data()));
                auto it = model.find(k);
                ASSERT_EQ(p != nullptr, it != model.end()) << "step " << step;
                if (p) {
                    ASSERT_EQ(*p, it->second) << "step " << step;
                }
            }
            }
        }
        // Iteration sees exactly the model's keys.
        std::set<uint32_t> seen;
        std::vector<unsigned char> cur(key_size), next(key_size);
        bool first = true;
        while (m->sys_get_next_key(first ? nullptr : cur.data(), next.data()) == 0) {
            uint32_t k;
            memcpy(&k, next.data(), 4);
            ASSERT_TRUE(seen.insert(k).second);
            cur = next;
            first = false;
        }
        std::set<uint32_t> want;
        for (auto& [k, v] : model) want.insert(k);
        EXPECT_EQ(seen, want);
    }
}

// ------------------------------------------------------------------ batches

TEST(HashBatch, LookupAndDeleteBatchWalksBucketsToENOENT) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 8, 100), root.options());
    for (uint32_t i = 0; i < 100; i++) {
        uint64_t v = uint64_t(i) * 3;
        m->update(&i, &v, 0);
    }
    std::set<uint32_t> seen;
    uint32_t cursor = 0;
    bool first = true;
    long r = 0;
    int rounds = 0;
    do {
        std::vector<uint32_t> keys(10);
        std::vector<uint64_t> vals(10);
        uint32_t count = 10;
        uint32_t out;
        r = m->sys_lookup_batch(first ? nullptr : &cursor, &out, keys.data(), vals.data(), &count, 0);
        ASSERT_TRUE(r == 0 || r == -ENOENT) << r;
        ASSERT_LE(count, 10u);
        for (uint32_t i = 0; i < count; i++) {
            EXPECT_EQ(vals[i], uint64_t(keys[i]) * 3);
            EXPECT_TRUE(seen.insert(keys[i]).second);
        }
        cursor = out;
        first = false;
        ASSERT_LT(++rounds, 200);
    } while (r == 0);
    EXPECT_EQ(seen.size(), 100u);
    // Past the last bucket: -ENOENT, count 0.
    uint32_t count = 10, out;
    std::vector<uint32_t> keys(10);
    std::vector<uint64_t> vals(10);
    EXPECT_EQ(m->sys_lookup_batch(&cursor, &out, keys.data(), vals.data(), &count, 0), -ENOENT);
    EXPECT_EQ(count, 0u);
    // lookup_and_delete in one big batch empties the map.
    std::vector<uint32_t> k2(128);
    std::vector<uint64_t> v2(128);
    count = 128;
    EXPECT_EQ(m->sys_lookup_and_delete_batch(nullptr, &out, k2.data(), v2.data(), &count, 0), -ENOENT);
    EXPECT_EQ(count, 100u);
    uint32_t any;
    EXPECT_EQ(m->sys_get_next_key(nullptr, &any), -ENOENT);
    // Flags.
    count = 1;
    EXPECT_EQ(m->sys_lookup_batch(nullptr, &out, k2.data(), v2.data(), &count, BPF_F_LOCK), -EINVAL);
    count = 0;
    EXPECT_EQ(m->sys_lookup_batch(nullptr, &out, k2.data(), v2.data(), &count, 0), 0);
}

TEST(HashBatch, BucketThatDoesNotFitIsENOSPC) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 2), root.options()); // two buckets
    uint32_t zero = 0;
    ASSERT_EQ(m->update(&zero, &zero, 0), 0);
    // Add keys until one shares key 0's bucket: a batch of 1 cannot take that
    // bucket whole, and says so with -ENOSPC and count 0.
    bool found = false;
    for (uint32_t j = 1; j < 64 && !found; j++) {
        ASSERT_EQ(m->update(&j, &j, 0), 0);
        uint32_t keys[2], vals[2], out = 77;
        for (uint32_t start = 0; start < 2 && !found; start++) {
            uint32_t count = 1;
            long r = m->sys_lookup_batch(&start, &out, keys, vals, &count, 0);
            if (r == -ENOSPC) {
                EXPECT_EQ(count, 0u);
                EXPECT_GE(out, start); // empty buckets before it are skipped
                found = true;
            } else {
                EXPECT_TRUE(r == 0 || r == -ENOENT) << r;
            }
        }
        if (!found) {
            ASSERT_EQ(m->erase(&j), 0);
        }
    }
    EXPECT_TRUE(found);
}

TEST(HashBatch, UpdateAndDeleteBatch) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 4, 4), root.options());
    uint32_t keys[5] = {1, 2, 3, 4, 5}, vals[5] = {10, 20, 30, 40, 50};
    uint32_t count = 5;
    EXPECT_EQ(m->sys_update_batch(keys, vals, &count, 0), -E2BIG);
    EXPECT_EQ(count, 4u);
    count = 2;
    EXPECT_EQ(m->sys_update_batch(keys, vals, &count, BPF_F_LOCK), -EINVAL);
    uint32_t del[3] = {1, 2, 9};
    count = 3;
    EXPECT_EQ(m->sys_delete_batch(del, &count, 0), -ENOENT);
    EXPECT_EQ(count, 2u);
    uint32_t out;
    EXPECT_EQ(m->sys_lookup(&keys[0], &out, 0), -ENOENT);
    EXPECT_EQ(m->sys_lookup(&keys[2], &out, 0), 0);
    EXPECT_EQ(out, 30u);
}

TEST(PercpuHashBatch, ValuesAreAllSlots) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 8), root.options(2));
    std::vector<unsigned char> v(16);
    for (uint32_t i = 0; i < 3; i++) {
        uint64_t a = i, b = i + 100;
        memcpy(v.data(), &a, 8);
        memcpy(v.data() + 8, &b, 8);
        ASSERT_EQ(m->sys_update(&i, v.data(), 0), 0);
    }
    std::vector<uint32_t> keys(8);
    std::vector<unsigned char> vals(8 * 16);
    uint32_t count = 8, out;
    EXPECT_EQ(m->sys_lookup_batch(nullptr, &out, keys.data(), vals.data(), &count, 0), -ENOENT);
    ASSERT_EQ(count, 3u);
    for (uint32_t i = 0; i < 3; i++) {
        EXPECT_EQ(at<uint64_t>(vals, 2 * i), keys[i]);
        EXPECT_EQ(at<uint64_t>(vals, 2 * i + 1), keys[i] + 100);
    }
}

TEST(ArrayBatch, GenericCursorIsTheLastKey) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_ARRAY, 4, 4, 5), root.options());
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t v = i * i;
        m->update(&i, &v, 0);
    }
    uint32_t keys[3], vals[3], count = 3, out = 99;
    EXPECT_EQ(m->sys_lookup_batch(nullptr, &out, keys, vals, &count, 0), 0);
    EXPECT_EQ(count, 3u);
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(vals[2], 4u);
    count = 3;
    EXPECT_EQ(m->sys_lookup_batch(&out, &out, keys, vals, &count, 0), -ENOENT);
    EXPECT_EQ(count, 2u);
    EXPECT_EQ(keys[0], 3u);
    EXPECT_EQ(vals[1], 16u);
    EXPECT_EQ(out, 4u);
    count = 3;
    EXPECT_EQ(m->sys_lookup_and_delete_batch(nullptr, &out, keys, vals, &count, 0), -524 /* ENOTSUPP */);
}

} // namespace
} // namespace bpfvm
