// The loader against libbpf itself: section names to program types
// (libbpf_prog_type_by_name), the map list and program list of the same
// objects after bpf_object__open, and, where the kernel lets us load (root),
// the instructions after libbpf's relocation, with map fds mapped back to
// map indices.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpfvm/elf.h"

using namespace bpfvm;

namespace {

std::string object_path(const std::string& name) { return std::string(ELF_TEST_OBJECTS) + "/" + name; }

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

struct LibbpfObject {
    bpf_object* obj = nullptr;
    explicit LibbpfObject(const std::string& path) {
        libbpf_set_print(quiet);
        obj = bpf_object__open_file(path.c_str(), nullptr);
        if (libbpf_get_error(obj)) obj = nullptr;
    }
    ~LibbpfObject() {
        if (obj) bpf_object__close(obj);
    }
};

void compare_with_libbpf(const std::string& name) {
    SCOPED_TRACE(name);
    auto ours = ElfObject::open(object_path(name));
    ASSERT_TRUE(ours) << ours.error().to_string();
    LibbpfObject theirs(object_path(name));
    ASSERT_NE(theirs.obj, nullptr) << "libbpf cannot open " << name;

    std::vector<bpf_map*> maps;
    bpf_map* m = nullptr;
    while ((m = bpf_object__next_map(theirs.obj, m)) != nullptr) maps.push_back(m);
    ASSERT_EQ(ours->maps().size(), maps.size());
    for (size_t i = 0; i < maps.size(); i++) {
        const ElfMapSpec& spec = ours->maps()[i];
        bpf_map* map = maps[i];
        SCOPED_TRACE(spec.name);
        EXPECT_EQ(spec.name, bpf_map__name(map));
        EXPECT_EQ(spec.type, uint32_t(bpf_map__type(map)));
        EXPECT_EQ(spec.key_size, bpf_map__key_size(map));
        EXPECT_EQ(spec.value_size, bpf_map__value_size(map));
        EXPECT_EQ(spec.max_entries, bpf_map__max_entries(map));
        EXPECT_EQ(spec.map_flags, bpf_map__map_flags(map));
        EXPECT_EQ(spec.numa_node, bpf_map__numa_node(map));
        EXPECT_EQ(spec.map_extra, bpf_map__map_extra(map));
        EXPECT_EQ(spec.btf_key_type_id, bpf_map__btf_key_type_id(map));
        EXPECT_EQ(spec.btf_value_type_id, bpf_map__btf_value_type_id(map));
        EXPECT_EQ(spec.pinning != 0, bpf_map__pin_path(map) != nullptr);
        bool internal = bpf_map__is_internal(map);
        EXPECT_EQ(internal, spec.kind == ElfMapSpec::Kind::Data || spec.kind == ElfMapSpec::Kind::Rodata ||
                                spec.kind == ElfMapSpec::Kind::Bss);
        if (internal) {
            size_t size = 0;
            const void* init = bpf_map__initial_value(map, &size);
            ASSERT_NE(init, nullptr);
            ASSERT_GE(size, spec.initial_data.size()); // libbpf's is page-rounded mmap memory
            EXPECT_EQ(std::memcmp(init, spec.initial_data.data(), spec.initial_data.size()), 0);
        }
        bpf_map* inner = bpf_map__inner_map(map);
        EXPECT_EQ(inner != nullptr, spec.inner != nullptr);
        if (inner && spec.inner) {
            EXPECT_EQ(spec.inner->name, bpf_map__name(inner));
            EXPECT_EQ(spec.inner->type, uint32_t(bpf_map__type(inner)));
            EXPECT_EQ(spec.inner->key_size, bpf_map__key_size(inner));
            EXPECT_EQ(spec.inner->value_size, bpf_map__value_size(inner));
            EXPECT_EQ(spec.inner->max_entries, bpf_map__max_entries(inner));
        }
    }

    std::vector<bpf_program*> progs;
    bpf_program* p = nullptr;
    while ((p = bpf_object__next_program(theirs.obj, p)) != nullptr) progs.push_back(p);
    ASSERT_EQ(ours->programs().size(), progs.size());
    for (size_t i = 0; i < progs.size(); i++) {
        const ElfProgram& prog = ours->programs()[i];
        SCOPED_TRACE(prog.name);
        EXPECT_EQ(prog.name, bpf_program__name(progs[i]));
        EXPECT_EQ(prog.section, bpf_program__section_name(progs[i]));
        EXPECT_EQ(prog.prog_type, uint32_t(bpf_program__type(progs[i])));
        EXPECT_EQ(prog.expected_attach_type, uint32_t(bpf_program__expected_attach_type(progs[i])));
        EXPECT_EQ(prog.autoload, bpf_program__autoload(progs[i]));
        // Before load, libbpf holds the function's own instructions.
        EXPECT_EQ(prog.function_insns, bpf_program__insn_cnt(progs[i]));
    }
}

} // namespace

TEST(ElfLibbpf, SectionNamesGiveLibbpfsTypes) {
    const char* names[] = {
        "socket", "sk_reuseport", "sk_reuseport/migrate", "kprobe", "kprobe/x", "uprobe/p:f", "uprobe.s/p:f",
        "kretprobe/x", "uretprobe/p:f", "kprobe.multi/x*", "kretprobe.multi/x", "ksyscall/open", "kretsyscall/open",
        "usdt/p:a:b", "tc", "classifier", "action", "tracepoint/a/b", "tp/a/b", "raw_tracepoint/x", "raw_tp/x",
        "raw_tracepoint.w/x", "raw_tp.w/x", "tp_btf/x", "fentry/x", "fmod_ret/x", "fexit/x", "fentry.s/x",
        "fmod_ret.s/x", "fexit.s/x", "freplace/x", "lsm/x", "lsm.s/x", "lsm_cgroup/x", "iter/task", "iter.s/task",
        "syscall", "xdp.frags/devmap", "xdp/devmap", "xdp.frags/cpumap", "xdp/cpumap", "xdp.frags", "xdp",
        "perf_event", "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sockops", "sk_skb/stream_parser",
        "sk_skb/stream_verdict", "sk_skb", "sk_msg", "lirc_mode2", "flow_dissector", "cgroup_skb/ingress",
        "cgroup_skb/egress", "cgroup/skb", "cgroup/sock_create", "cgroup/sock_release", "cgroup/sock",
        "cgroup/post_bind4", "cgroup/post_bind6", "cgroup/bind4", "cgroup/bind6", "cgroup/connect4",
        "cgroup/connect6", "cgroup/sendmsg4", "cgroup/sendmsg6", "cgroup/recvmsg4", "cgroup/recvmsg6",
        "cgroup/getpeername4", "cgroup/getpeername6", "cgroup/getsockname4", "cgroup/getsockname6",
        "cgroup/sysctl", "cgroup/getsockopt", "cgroup/setsockopt", "cgroup/dev", "struct_ops/x", "sk_lookup",
        // Not libbpf's: unknown to both.
        "xdpfoo", "kprobex", "sk_skb/other", "cgroup", "my_section", ".text", "",
    };
    libbpf_set_print(quiet);
    for (const char* name : names) {
        SCOPED_TRACE(name);
        enum bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
        enum bpf_attach_type attach = BPF_CGROUP_INET_INGRESS;
        int err = libbpf_prog_type_by_name(name, &type, &attach);
        ElfSectionType ours = section_program_type(name);
        EXPECT_EQ(ours.known, err == 0);
        if (err == 0) {
            EXPECT_EQ(ours.prog_type, uint32_t(type));
            EXPECT_EQ(ours.expected_attach_type, uint32_t(attach));
        }
    }
}

TEST(ElfLibbpf, FullObjectMatchesLibbpfOpen) { compare_with_libbpf("full.o"); }
TEST(ElfLibbpf, SectionsObjectMatchesLibbpfOpen) { compare_with_libbpf("sections.o"); }
TEST(ElfLibbpf, SmallObjectMatchesLibbpfOpen) { compare_with_libbpf("bad.o"); }
TEST(ElfLibbpf, CallbacksObjectMatchesLibbpfOpen) { compare_with_libbpf("callbacks.o"); }
TEST(ElfLibbpf, CoreObjectMatchesLibbpfOpen) { compare_with_libbpf("core.o"); }

TEST(ElfLibbpf, LegacyMapsAreRefusedByLibbpfButRead) {
    LibbpfObject theirs(object_path("legacy.o"));
    EXPECT_EQ(theirs.obj, nullptr); // libbpf 1.x: "legacy map definitions ... are not supported"
    EXPECT_TRUE(ElfObject::open(object_path("legacy.o")).has_value());
}

namespace {

// libbpf relocates at load time only: load the object into the kernel (root)
// and compare every program's instructions with ours.
void compare_relocated(const std::string& name) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs into the kernel";
    auto ours = ElfObject::open(object_path(name));
    ASSERT_TRUE(ours) << ours.error().to_string();
    LibbpfObject theirs(object_path(name));
    ASSERT_NE(theirs.obj, nullptr);
    bpf_map* m = nullptr;
    while ((m = bpf_object__next_map(theirs.obj, m)) != nullptr) bpf_map__set_pin_path(m, nullptr); // no bpffs pins
    int err = bpf_object__load(theirs.obj);
    if (err) GTEST_SKIP() << "the kernel refused " << name << " (" << err << "): BPF unavailable here";

    std::map<int, uint32_t> index_of_fd;
    uint32_t index = 0;
    m = nullptr;
    while ((m = bpf_object__next_map(theirs.obj, m)) != nullptr) index_of_fd[bpf_map__fd(m)] = index++;

    bpf_program* p = nullptr;
    size_t k = 0;
    while ((p = bpf_object__next_program(theirs.obj, p)) != nullptr) {
        ASSERT_LT(k, ours->programs().size());
        const ElfProgram& prog = ours->programs()[k++];
        SCOPED_TRACE(prog.name);
        ASSERT_EQ(prog.insns.size(), bpf_program__insn_cnt(p));
        const auto* insns = reinterpret_cast<const Insn*>(bpf_program__insns(p));
        for (size_t i = 0; i < prog.insns.size(); i++) {
            Insn expected = insns[i];
            bool map_ref = expected.opcode == (BPF_LD | BPF_IMM | BPF_DW) &&
                           (expected.src == BPF_PSEUDO_MAP_FD || expected.src == BPF_PSEUDO_MAP_VALUE);
            if (map_ref) {
                ASSERT_TRUE(index_of_fd.count(expected.imm)) << "instruction " << i;
                expected.imm = int32_t(index_of_fd[expected.imm]);
            }
            EXPECT_EQ(prog.insns[i], expected) << "instruction " << i << ": opcode " << int(prog.insns[i].opcode)
                                               << " imm " << prog.insns[i].imm << " vs " << expected.imm;
        }
    }
    EXPECT_EQ(k, ours->programs().size());
}

} // namespace

TEST(ElfLibbpf, FullObjectRelocatedAsLibbpfRelocates) { compare_relocated("full.o"); }
TEST(ElfLibbpf, CallbacksObjectRelocatedAsLibbpfRelocates) { compare_relocated("callbacks.o"); }
TEST(ElfLibbpf, CoreObjectRelocatedAsLibbpfRelocates) { compare_relocated("core.o"); }
