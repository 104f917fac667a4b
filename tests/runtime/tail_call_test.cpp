// bpf_tail_call (helper 12) on every engine: chains, empty slots, tail calls
// from a subprogram, Linux's limit of 33, slots set from userspace by id.
#include <linux/bpf.h>

#include <cstring>

#include "runtime_testing.h"

namespace bpfvm::runtimetest {
namespace {

class TailCallTest : public ::testing::TestWithParam<EngineConfig> {
protected:
    void SetUp() override {
        obj = load("tailcall", options_for(GetParam()));
        ASSERT_TRUE(obj);
    }
    uint64_t run(const std::string& name, uint8_t first_byte = 0) {
        auto p = obj->find_program(name);
        EXPECT_TRUE(p) << name;
        if (!p) return ~0ull;
        uint8_t ctx[64] = {first_byte};
        auto r = p->run(ctx, sizeof(ctx));
        EXPECT_TRUE(r) << (r ? "" : r.error().to_string());
        return r ? *r : ~0ull;
    }
    int32_t global(size_t offset) {
        auto bss = obj->find_map("tailcall.bss");
        EXPECT_TRUE(bss);
        int32_t v = 0;
        if (bss) std::memcpy(&v, static_cast<uint8_t*>(bss->value_base()) + offset, 4);
        return v;
    }
    std::shared_ptr<LoadedObject> obj;
};

TEST_P(TailCallTest, InitialSlotsHoldTheProgramIds) {
    auto table = obj->find_map("jmp_table");
    ASSERT_TRUE(table);
    EXPECT_EQ(table->tail_call_target(1), obj->find_program("chain_b")->id());
    EXPECT_EQ(table->tail_call_target(2), obj->find_program("chain_c")->id());
    EXPECT_EQ(table->tail_call_target(0), 0u);
    uint32_t key = 1, id = 0;
    EXPECT_EQ(table->sys_lookup(&key, &id), 0);
    EXPECT_EQ(id, obj->find_program("chain_b")->id());
}

TEST_P(TailCallTest, AChainEndsWithTheLastProgramsResult) {
    EXPECT_EQ(run("chain_a", 3), 45u); // chain_c: 42 + the context's first byte
    // `steps` (the second int of .bss) saw all three programs.
    EXPECT_EQ(global(4), 7);
}

TEST_P(TailCallTest, EmptySlotsAndIndexesPastTheEndFallThrough) { EXPECT_EQ(run("missing"), 7u); }

TEST_P(TailCallTest, ATailCallFromASubprogramReturnsToItsCaller) {
    // Linux: the target replaces the subprogram; its result returns to the
    // subprogram's caller, which adds 100.
    EXPECT_EQ(run("from_subprogram", 1), 143u);
}

TEST_P(TailCallTest, AProgramTailCallingItselfStopsAfter33TailCalls) {
    // self_entry tail-calls self_loop, which counts and tail-calls itself: the
    // 33rd tail call is the last (Linux's tailcall3 selftest: count == 33).
    EXPECT_EQ(run("self_entry"), 1u);
    EXPECT_EQ(global(0), 33);
    // Started directly, self_loop runs once more before the limit.
    EXPECT_EQ(run("self_loop"), 1u);
    EXPECT_EQ(global(0), 33 + 34);
}

TEST_P(TailCallTest, UserspaceSetsAndClearsSlotsById) {
    auto table = obj->find_map("jmp_table");
    uint32_t key = 1;
    ASSERT_EQ(table->sys_delete(&key), 0);
    EXPECT_EQ(run("chain_a"), 1u); // falls through: chain_a returns 1
    uint32_t id = obj->find_program("chain_c")->id();
    ASSERT_EQ(table->sys_update(&key, &id, BPF_ANY), 0);
    EXPECT_EQ(run("chain_a", 1), 43u);
    uint32_t unknown = 999999;
    EXPECT_EQ(table->sys_update(&key, &unknown, BPF_ANY), -EBADF);
}

TEST_P(TailCallTest, AProgramOfAnotherTypeCannotJoinTheArray) {
    // Linux: a prog_array holds programs of one type.
    auto other = load("unknown_helper", [] {
        static HelperTable t = runtime_helper_table();
        t.add(BPF_FUNC_skb_store_bytes, "bpf_skb_store_bytes",
              [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) -> uint64_t { return 0; });
        LoadOptions o;
        o.helpers = &t;
        return o;
    }());
    ASSERT_TRUE(other);
    uint32_t key = 3, id = other->find_program("store")->id();
    EXPECT_EQ(obj->find_map("jmp_table")->sys_update(&key, &id, BPF_ANY), -EINVAL);
}

class CheckedTailCallTest : public TailCallTest {};

TEST_P(CheckedTailCallTest, AFailureInTheTargetStopsTheRunAndSaysWhere) {
    // chain_c reads the context's first byte: a context of 0 bytes makes the
    // checked mode fail inside the target.
    auto p = obj->find_program("chain_a");
    auto r = p->run(nullptr, 0);
    ASSERT_FALSE(r);
    const std::string msg = r.error().to_string();
    EXPECT_NE(msg.find("in tail call 2 to program chain_c"), std::string::npos) << msg;
    EXPECT_NE(msg.find("invalid read of 1 byte"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Engines, TailCallTest, all_engines(), config_name);
INSTANTIATE_TEST_SUITE_P(Engines, CheckedTailCallTest,
                         ::testing::Values(EngineConfig{EngineKind::Jit, true}, EngineConfig{EngineKind::Interpreter, true}),
                         config_name);

} // namespace
} // namespace bpfvm::runtimetest
