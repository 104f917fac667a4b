// The prototype table: every Linux helper by number and name, the described
// prototypes, and runtime_helpers() agreeing with them.
#include <set>

#include "helper_testing.h"

using namespace bpfvm;

TEST(HelperProtos, EveryLinuxNumberHasItsName) {
    auto protos = helper_protos();
    ASSERT_EQ(protos.size(), static_cast<size_t>(__BPF_FUNC_MAX_ID));
    EXPECT_EQ(protos[BPF_FUNC_map_lookup_elem].name, "bpf_map_lookup_elem");
    EXPECT_EQ(protos[BPF_FUNC_trace_printk].name, "bpf_trace_printk");
    EXPECT_EQ(protos[BPF_FUNC_tail_call].name, "bpf_tail_call");
    EXPECT_EQ(protos[BPF_FUNC_map_lookup_percpu_elem].name, "bpf_map_lookup_percpu_elem");
    for (size_t i = 0; i < protos.size(); i++) {
        EXPECT_EQ(protos[i].id, i);
        EXPECT_TRUE(protos[i].name.starts_with("bpf_")) << i;
    }
}

TEST(HelperProtos, LookupByNumberAndName) {
    EXPECT_EQ(find_helper_name(BPF_FUNC_ringbuf_reserve), "bpf_ringbuf_reserve");
    EXPECT_EQ(find_helper_name(0), ""); // BPF_FUNC_unspec is not a helper
    EXPECT_EQ(find_helper_name(__BPF_FUNC_MAX_ID), "");
    EXPECT_EQ(find_helper_name(100000), "");
    ASSERT_NE(find_helper_proto("bpf_loop"), nullptr);
    EXPECT_EQ(find_helper_proto("bpf_loop")->id, static_cast<uint32_t>(BPF_FUNC_loop));
    ASSERT_NE(find_helper_proto("strtol"), nullptr);
    EXPECT_EQ(find_helper_proto("strtol")->id, static_cast<uint32_t>(BPF_FUNC_strtol));
    EXPECT_EQ(find_helper_proto("bpf_no_such_helper"), nullptr);
    EXPECT_EQ(find_helper_proto("bpf_unspec"), nullptr);
    EXPECT_EQ(find_helper_proto(""), nullptr);
    EXPECT_EQ(describe_helper(BPF_FUNC_get_current_task), "bpf_get_current_task (35)");
    EXPECT_EQ(describe_helper(5000), "helper 5000");
}

TEST(HelperProtos, DescribedPrototypes) {
    const HelperProto* p = find_helper_proto(BPF_FUNC_map_lookup_elem);
    ASSERT_TRUE(p && p->described);
    EXPECT_EQ(p->ret, RetKind::MapValue);
    EXPECT_EQ(p->ret_flags, kRetMaybeNull);
    EXPECT_EQ(p->num_args(), 2);
    EXPECT_EQ(p->args[0].kind, ArgKind::MapPtr);
    EXPECT_EQ(p->args[1].kind, ArgKind::MapKey);
    EXPECT_EQ(describe_ret(p->ret, p->ret_flags), "map value or NULL");

    p = find_helper_proto(BPF_FUNC_ringbuf_reserve);
    ASSERT_TRUE(p && p->described);
    EXPECT_EQ(describe_ret(p->ret, p->ret_flags), "ringbuf mem or NULL");
    EXPECT_EQ(p->args[1].kind, ArgKind::ConstAllocSizeOrZero);

    p = find_helper_proto(BPF_FUNC_map_pop_elem);
    EXPECT_EQ(describe(p->args[1]), "pointer to uninit map value");
    p = find_helper_proto(BPF_FUNC_snprintf);
    EXPECT_TRUE(p->gpl_only);
    EXPECT_EQ(describe(p->args[0]), "pointer to mem or NULL");
    EXPECT_EQ(describe(p->args[2]), "const string");
    EXPECT_EQ(describe(p->args[3]), "pointer to read-only mem or NULL");
    p = find_helper_proto(BPF_FUNC_loop);
    EXPECT_EQ(describe(p->args[1]), "function pointer (callback)");
    EXPECT_EQ(describe(p->args[2]), "pointer to stack or NULL");
    p = find_helper_proto(BPF_FUNC_spin_lock);
    EXPECT_EQ(p->ret, RetKind::Void);
    EXPECT_EQ(describe(p->args[0]), "pointer to spin lock");
    p = find_helper_proto(BPF_FUNC_probe_read_str);
    EXPECT_EQ(describe(p->args[0]), "pointer to uninit mem");
    EXPECT_EQ(describe(p->args[1]), "const size or zero");
    EXPECT_EQ(p->num_args(), 3);

    p = find_helper_proto(BPF_FUNC_tail_call); // kept for the verifier; the engines do it
    ASSERT_TRUE(p->described);
    EXPECT_FALSE(p->implemented);
    EXPECT_EQ(p->args[0].kind, ArgKind::Ctx);
    EXPECT_EQ(p->args[1].kind, ArgKind::MapPtr);

    p = find_helper_proto(BPF_FUNC_skb_store_bytes); // named only
    EXPECT_FALSE(p->described);
    EXPECT_EQ(p->num_args(), 0);
}

TEST(HelperProtos, RuntimeTableIsWhatThePrototypesSayIsImplemented) {
    const HelperTable& t = runtime_helpers();
    std::set<uint32_t> implemented;
    for (const HelperProto& p : helper_protos())
        if (p.implemented) implemented.insert(p.id);
    std::set<uint32_t> in_table;
    for (const auto& [id, h] : t.helpers()) {
        in_table.insert(id);
        EXPECT_EQ(h.name, find_helper_name(id));
        EXPECT_NE(h.fn, nullptr) << h.name;
    }
    EXPECT_EQ(in_table, implemented);
    EXPECT_EQ(t.find(BPF_FUNC_tail_call), nullptr);
    for (uint32_t id : {BPF_FUNC_map_lookup_elem, BPF_FUNC_trace_printk, BPF_FUNC_loop, BPF_FUNC_snprintf,
                        BPF_FUNC_csum_diff, BPF_FUNC_ringbuf_reserve, BPF_FUNC_for_each_map_elem, BPF_FUNC_strtoul})
        EXPECT_NE(t.find(id), nullptr) << describe_helper(id);
    EXPECT_GE(t.helpers().size(), 40u);
}

TEST(HelperProtos, ApplicationsExtendACopy) {
    HelperTable t = runtime_helpers();
    t.add(1000, "my_helper", [](uint64_t a, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return a + 1; });
    EXPECT_NE(t.find(1000), nullptr);
    EXPECT_EQ(runtime_helpers().find(1000), nullptr);
}
