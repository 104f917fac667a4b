// Several threads over the same maps: per-CPU slots, lost updates, readers
// during replacement.
#include <atomic>
#include <set>
#include <thread>

#include "map_testing.h"

namespace bpfvm {
namespace {

using testing::make;
using testing::PinRoot;
using testing::spec;

constexpr int kThreads = 4;

TEST(PerCpuSlots, LiveThreadsHaveDistinctIdsAndIdsAreReused) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<uint32_t> ids(kThreads);
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; i++)
        ts.emplace_back([&, i] {
            ids[i] = current_cpu();
            EXPECT_EQ(current_cpu(), ids[i]); // stable
            ready++;
            while (!go) std::this_thread::yield();
        });
    while (ready < kThreads) std::this_thread::yield();
    go = true;
    for (auto& t : ts) t.join();
    std::set<uint32_t> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), size_t(kThreads));
    // After they exit, their ids are free again: a new thread gets one of the
    // low ids (at most the number of threads alive now).
    uint32_t fresh = 0;
    std::thread([&] { fresh = current_cpu(); }).join();
    EXPECT_LE(fresh, uint32_t(kThreads));
}

TEST(PercpuArrayMap, EachThreadCountsInItsOwnSlot) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1), root.options(kThreads + 1));
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; i++)
        ts.emplace_back([&] {
            current_cpu(); // take a slot while all are alive: distinct slots
            ready++;
            while (ready < kThreads) std::this_thread::yield();
            uint32_t k = 0;
            for (int n = 0; n < 100000; n++) {
                auto* v = static_cast<uint64_t*>(m->lookup(&k));
                *v += 1; // no atomics: the slot is this thread's
            }
        });
    for (auto& t : ts) t.join();
    std::vector<unsigned char> all(m->sys_value_size());
    uint32_t k = 0;
    ASSERT_EQ(m->sys_lookup(&k, all.data(), 0), 0);
    uint64_t total = 0;
    int used = 0;
    for (uint32_t c = 0; c < m->nr_cpus(); c++) {
        uint64_t v = testing::at<uint64_t>(all, c);
        total += v;
        used += v != 0;
    }
    EXPECT_EQ(total, uint64_t(kThreads) * 100000);
    EXPECT_EQ(used, kThreads);
}

TEST(HashMap, ConcurrentInsertLookupDeleteOnDisjointKeys) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 8, kThreads * 500), root.options());
    std::vector<std::thread> ts;
    std::atomic<int> errors{0};
    for (int t = 0; t < kThreads; t++)
        ts.emplace_back([&, t] {
            for (int round = 0; round < 20; round++) {
                for (uint32_t i = 0; i < 500; i++) {
                    uint32_t k = uint32_t(t) * 1000000 + i;
                    uint64_t v = uint64_t(k) * 2 + round;
                    if (m->update(&k, &v, BPF_ANY) != 0) errors++;
                }
                for (uint32_t i = 0; i < 500; i++) {
                    uint32_t k = uint32_t(t) * 1000000 + i;
                    auto* v = static_cast<uint64_t*>(m->lookup(&k));
                    if (!v || *v != uint64_t(k) * 2 + round) errors++;
                }
                if (round < 19)
                    for (uint32_t i = 0; i < 500; i += 2) {
                        uint32_t k = uint32_t(t) * 1000000 + i;
                        if (m->erase(&k) != 0) errors++;
                    }
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(errors.load(), 0);
    uint32_t n = 0, cur, next;
    const void* prev = nullptr;
    while (m->sys_get_next_key(prev, &next) == 0) {
        n++;
        cur = next;
        prev = &cur;
    }
    EXPECT_EQ(n, uint32_t(kThreads * 500));
}

TEST(HashMap, ReadersAlwaysFindAKeyBeingReplaced) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_HASH, 4, 8, 16), root.options());
    uint32_t key = 3;
    uint64_t v = 0;
    ASSERT_EQ(m->update(&key, &v, BPF_ANY), 0);
    std::atomic<bool> stop{false};
    std::atomic<long> misses{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; r++)
        readers.emplace_back([&] {
            while (!stop) {
                if (!m->lookup(&key)) misses++;
            }
        });
    for (uint64_t i = 1; i <= 50000; i++) ASSERT_EQ(m->update(&key, &i, BPF_EXIST), 0);
    stop = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(misses.load(), 0);
    EXPECT_EQ(*static_cast<uint64_t*>(m->lookup(&key)), 50000u);
}

TEST(HashMap, SpinLockAndAtomicsLoseNoUpdates) {
    PinRoot root;
    MapSpec s = spec(BPF_MAP_TYPE_HASH, 4, 16, 4);
    s.spin_lock_offset = 0;
    auto m = make(s, root.options());
    uint32_t key = 1;
    uint64_t init[2] = {0, 0};
    ASSERT_EQ(m->update(&key, init, BPF_ANY), 0);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
        ts.emplace_back([&] {
            for (int n = 0; n < 20000; n++) {
                auto* v = static_cast<unsigned char*>(m->lookup(&key));
                spin_lock(v); // bpf_spin_lock on the value's lock
                uint64_t c;
                memcpy(&c, v + 8, 8);
                c++;
                memcpy(v + 8, &c, 8);
                spin_unlock(v);
                // Userspace-style BPF_F_LOCK reads see a consistent value.
                uint64_t out[2];
                EXPECT_EQ(m->sys_lookup(&key, out, BPF_F_LOCK), 0);
            }
        });
    for (auto& t : ts) t.join();
    uint64_t out[2];
    ASSERT_EQ(m->sys_lookup(&key, out, BPF_F_LOCK), 0);
    EXPECT_EQ(out[1], uint64_t(kThreads) * 20000);

    auto arr = make(spec(BPF_MAP_TYPE_ARRAY, 4, 8, 1), root.options());
    std::vector<std::thread> ts2;
    for (int t = 0; t < kThreads; t++)
        ts2.emplace_back([&] {
            uint32_t k = 0;
            for (int n = 0; n < 50000; n++)
                __atomic_fetch_add(static_cast<uint64_t*>(arr->lookup(&k)), 1, __ATOMIC_RELAXED);
        });
    for (auto& t : ts2) t.join();
    uint32_t k = 0;
    uint64_t total;
    ASSERT_EQ(arr->sys_lookup(&k, &total, 0), 0);
    EXPECT_EQ(total, uint64_t(kThreads) * 50000);
}

TEST(LruHashMap, ConcurrentInsertsNeverFailOrExceedCapacity) {
    PinRoot root;
    auto m = make(spec(BPF_MAP_TYPE_LRU_HASH, 4, 8, 128), root.options());
    std::atomic<int> errors{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
        ts.emplace_back([&, t] {
            for (uint32_t i = 0; i < 5000; i++) {
                uint32_t k = uint32_t(t) << 20 | i;
                uint64_t v = k;
                if (m->update(&k, &v, BPF_ANY) != 0) errors++;
                // The element may be evicted and reused at once by another thread
                // (as in Linux), so the value behind the pointer is not checked.
                (void)m->lookup(&k);
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(errors.load(), 0);
    uint32_t n = 0, cur, next;
    const void* prev = nullptr;
    while (m->sys_get_next_key(prev, &next) == 0 && n < 1000) {
        n++;
        cur = next;
        prev = &cur;
    }
    EXPECT_LE(n, 128u);
    EXPECT_GE(n, 128u - kThreads);
}

TEST(QueueMap, ConcurrentProducersAndConsumers) {
    PinRoot root;
    auto q = make(spec(BPF_MAP_TYPE_QUEUE, 0, 8, 64), root.options());
    std::atomic<uint64_t> popped_sum{0};
    std::atomic<int> popped{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; t++)
        ts.emplace_back([&, t] {
            for (uint64_t i = 1; i <= 10000; i++) {
                uint64_t v = i + uint64_t(t) * 100000;
                while (q->push(&v, BPF_ANY) != 0) std::this_thread::yield();
            }
        });
    for (int t = 0; t < 2; t++)
        ts.emplace_back([&] {
            while (popped < 20000) {
                uint64_t v;
                if (q->pop(&v) == 0) {
                    popped_sum += v;
                    popped++;
                } else {
                    std::this_thread::yield();
                }
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(popped.load(), 20000);
    EXPECT_EQ(popped_sum.load(), 2 * (10000ull * 10001 / 2) + 10000ull * 100000);
}

} // namespace
} // namespace bpfvm
