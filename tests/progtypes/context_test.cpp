// Context access rules per program type (Linux's is_valid_access), checked
// one by one and, where root may load programs, against the kernel's
// verifier for every offset, size and direction; and the rewriting of the
// packet pointer fields.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include "bpfvm/progtypes.h"

using namespace bpfvm;
using namespace bpfvm::progtypes;

namespace {

ContextAccess check(uint32_t type, int64_t off, uint32_t size, Access access, uint32_t attach = 0) {
    const ProgramType* t = find_program_type(type);
    EXPECT_NE(t, nullptr);
    return t ? t->check(off, size, access, attach) : ContextAccess{};
}

constexpr auto R = Access::Read;
constexpr auto W = Access::Write;

} // namespace

TEST(ProgramTypes, XdpPacketFieldsArePointersAndTheContextIsReadOnly) {
    auto data = check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data), 4, R);
    ASSERT_TRUE(data.allowed);
    EXPECT_EQ(data.type, FieldType::PacketData);
    EXPECT_EQ(data.runtime_offset, static_cast<int32_t>(offsetof(XdpContext, data)));
    EXPECT_EQ(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data_end), 4, R).type, FieldType::PacketEnd);
    EXPECT_EQ(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data_meta), 4, R).type, FieldType::PacketMeta);
    auto ifindex = check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, ingress_ifindex), 4, R);
    EXPECT_TRUE(ifindex.allowed);
    EXPECT_EQ(ifindex.type, FieldType::Scalar);
    EXPECT_EQ(ifindex.runtime_offset, -1);
    EXPECT_FALSE(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data), 8, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data), 2, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, rx_queue_index), 4, W).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, egress_ifindex), 4, R).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, egress_ifindex), 4, R, BPF_XDP_DEVMAP).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_XDP, sizeof(xdp_md), 4, R).allowed);
    EXPECT_EQ(check(BPF_PROG_TYPE_XDP, 2, 4, R).reason, "misaligned access");
}

TEST(ProgramTypes, SkbFieldsPerType) {
    const int64_t mark = offsetof(__sk_buff, mark), data = offsetof(__sk_buff, data), cb = offsetof(__sk_buff, cb);
    // tc: packet pointers, writes to mark and cb.
    EXPECT_EQ(check(BPF_PROG_TYPE_SCHED_CLS, data, 4, R).type, FieldType::PacketData);
    EXPECT_EQ(check(BPF_PROG_TYPE_SCHED_CLS, data, 4, R).runtime_offset, static_cast<int32_t>(offsetof(SkbContext, data)));
    EXPECT_TRUE(check(BPF_PROG_TYPE_SCHED_CLS, mark, 4, W).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SCHED_CLS, mark, 2, W).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, len), 4, W).allowed);
    // Narrow reads of a u32 field.
    auto narrow = check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, protocol) + 2, 2, R);
    EXPECT_TRUE(narrow.allowed);
    EXPECT_EQ(narrow.field_size, 4);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, protocol), 8, R).allowed);
    // cb[]: any size inside, not past cb[4].
    EXPECT_TRUE(check(BPF_PROG_TYPE_SCHED_CLS, cb + 16, 4, W).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SCHED_CLS, cb + 16, 8, W).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_SCHED_CLS, cb + 8, 8, R).allowed);
    // Socket filters: no packet pointers, writes only to cb[].
    EXPECT_FALSE(check(BPF_PROG_TYPE_SOCKET_FILTER, data, 4, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SOCKET_FILTER, mark, 4, W).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_SOCKET_FILTER, mark, 4, R).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_SOCKET_FILTER, cb, 4, W).allowed);
    // cgroup skb: data and data_end, no data_meta.
    EXPECT_EQ(check(BPF_PROG_TYPE_CGROUP_SKB, offsetof(__sk_buff, data_end), 4, R).type, FieldType::PacketEnd);
    EXPECT_FALSE(check(BPF_PROG_TYPE_CGROUP_SKB, offsetof(__sk_buff, data_meta), 4, R).allowed);
    // sk: a nullable socket pointer, read whole.
    EXPECT_EQ(check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, sk), 8, R).type, FieldType::SocketOrNull);
    EXPECT_FALSE(check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, sk), 4, R).allowed);
}

TEST(ProgramTypes, TracingContextsAreReadOnly) {
    EXPECT_TRUE(check(BPF_PROG_TYPE_RAW_TRACEPOINT, 88, 8, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_RAW_TRACEPOINT, 96, 8, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, 8, W).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_KPROBE, 0, 8, R).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_KPROBE, 0, 8, W).allowed);
    EXPECT_FALSE(check(BPF_PROG_TYPE_TRACEPOINT, 0, 8, R).allowed); // the common fields
    EXPECT_TRUE(check(BPF_PROG_TYPE_TRACEPOINT, 8, 8, R).allowed);
    EXPECT_TRUE(check(BPF_PROG_TYPE_SYSCALL, 1000, 8, W).allowed);
    EXPECT_EQ(find_program_type(BPF_PROG_TYPE_LWT_IN), nullptr);
}

TEST(ProgramTypes, RewritingLoadsThePointerSlot) {
    auto data = check(BPF_PROG_TYPE_XDP, offsetof(xdp_md, data_end), 4, R);
    Insn load{static_cast<uint8_t>(BPF_LDX | BPF_MEM | BPF_W), 2, 1, static_cast<int16_t>(offsetof(xdp_md, data_end)), 0};
    ASSERT_TRUE(rewrite_context_access(load, data));
    EXPECT_EQ(load.opcode, BPF_LDX | BPF_MEM | BPF_DW);
    EXPECT_EQ(load.off, static_cast<int16_t>(offsetof(XdpContext, data_end)));
    EXPECT_EQ(load.dst, 2);
    EXPECT_EQ(load.src, 1);
    // A scalar field keeps its place.
    auto mark = check(BPF_PROG_TYPE_SCHED_CLS, offsetof(__sk_buff, mark), 4, W);
    Insn store{static_cast<uint8_t>(BPF_STX | BPF_MEM | BPF_W), 1, 2, static_cast<int16_t>(offsetof(__sk_buff, mark)), 0};
    Insn before = store;
    ASSERT_TRUE(rewrite_context_access(store, mark));
    EXPECT_EQ(store, before);
    // Refusals and non-memory instructions are errors.
    auto bad = check(BPF_PROG_TYPE_XDP, 0, 4, W);
    EXPECT_FALSE(rewrite_context_access(load, bad));
    Insn mov{static_cast<uint8_t>(BPF_ALU64 | BPF_MOV | BPF_K), 0, 0, 0, 0};
    EXPECT_FALSE(rewrite_context_access(mov, data));
}

// ---- against the kernel's verifier

namespace {

struct KernelVerdict {
    bool loaded = false;
    int error = 0;
    std::string log;
};

// Loads `r2 = 0; <access of size at off through r1>; r0 = 0; exit`.
KernelVerdict kernel_access(uint32_t type, uint32_t attach, int64_t off, uint32_t size, Access access) {
    static const uint8_t kSize[9] = {0, BPF_B, BPF_H, 0, BPF_W, 0, 0, 0, BPF_DW};
    std::vector<Insn> insns;
    insns.push_back(Insn{static_cast<uint8_t>(BPF_ALU64 | BPF_MOV | BPF_K), 2, 0, 0, 0});
    if (access == Access::Read)
        insns.push_back(Insn{static_cast<uint8_t>(BPF_LDX | BPF_MEM | kSize[size]), 3, 1, static_cast<int16_t>(off), 0});
    else
        insns.push_back(Insn{static_cast<uint8_t>(BPF_STX | BPF_MEM | kSize[size]), 1, 2, static_cast<int16_t>(off), 0});
    insns.push_back(Insn{static_cast<uint8_t>(BPF_ALU64 | BPF_MOV | BPF_K), 0, 0, 0, 0});
    insns.push_back(Insn{static_cast<uint8_t>(BPF_JMP | BPF_EXIT), 0, 0, 0, 0});
    static char log[4096];
    log[0] = 0;
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<enum bpf_attach_type>(attach),
                .log_level = 1, .log_size = sizeof(log), .log_buf = log);
    if (type == BPF_PROG_TYPE_SYSCALL) opts.prog_flags = BPF_F_SLEEPABLE;
    int fd = bpf_prog_load(static_cast<enum bpf_prog_type>(type), "ctx_access", "GPL",
                           reinterpret_cast<const struct bpf_insn*>(insns.data()), insns.size(), &opts);
    KernelVerdict v;
    if (fd >= 0) {
        close(fd);
        v.loaded = true;
    } else {
        v.error = errno;
        v.log = log;
        while (!v.log.empty() && (v.log.back() == '\n')) v.log.pop_back();
        if (auto nl = v.log.rfind('\n', v.log.size() > 1 ? v.log.size() - 1 : 0); nl != std::string::npos)
            v.log = v.log.substr(nl + 1);
    }
    return v;
}

} // namespace

TEST(ProgramTypesKernel, EveryAccessGetsTheKernelVerifiersVerdict) {
    // The kernel must load a plain program of each type first (root, BPF on).
    for (const ProgramType& t : program_types()) {
        KernelVerdict probe = kernel_access(t.type, 0, t.type == BPF_PROG_TYPE_TRACEPOINT ? 8 : 0, 1, Access::Read);
        if (!probe.loaded && (probe.error == EPERM || probe.error == EACCES || probe.error == ENOSYS) &&
            probe.log.empty())
            GTEST_SKIP() << "the kernel refuses to load BPF programs here (" << std::strerror(probe.error)
                         << "): not root, or BPF is disabled";
    }
    struct Variant {
        uint32_t type, attach;
    };
    std::vector<Variant> variants;
    for (const ProgramType& t : program_types()) variants.push_back({t.type, 0});
    variants.push_back({BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP});
    // The deliberate differences (docs/progtypes.md).
    auto deliberate = [](uint32_t type, int64_t off) {
        // Linux compares the signed offset with sizeof(void *), an unsigned
        // value, so negative offsets pass its check; bpfvm refuses reads
        // before the record.
        return type == BPF_PROG_TYPE_TRACEPOINT && off < 0;
    };
    std::vector<std::string> mismatches;
    size_t deliberate_seen = 0;
    size_t checked = 0;
    for (const Variant& v : variants) {
        const ProgramType* t = find_program_type(v.type);
        std::vector<std::pair<int64_t, int64_t>> ranges;
        const int64_t end = t->context_size ? t->context_size : UINT16_MAX;
        if (end <= 512) ranges.push_back({-8, end + 8});
        else ranges = {{-8, 72}, {end - 16, end + 8}}; // the edges of large contexts
        for (auto [lo, hi] : ranges)
            for (int64_t off = lo; off < hi; off++)
                for (uint32_t size : {1u, 2u, 4u, 8u})
                    for (Access access : {Access::Read, Access::Write}) {
                        if (off < INT16_MIN || off > INT16_MAX) continue; // not expressible in an instruction
                        ContextAccess ours = t->check(off, size, access, v.attach);
                        KernelVerdict k = kernel_access(v.type, v.attach, off, size, access);
                        checked++;
                        if (ours.allowed != k.loaded && deliberate(v.type, off)) {
                            deliberate_seen++;
                            continue;
                        }
                        if (ours.allowed != k.loaded)
                            mismatches.push_back(fmt::format("{}{}: {} {} bytes at {}: bpfvm {}{}, kernel {}{}", t->name,
                                                             v.attach ? " (devmap)" : "",
                                                             access == Access::Read ? "read" : "write", size, off,
                                                             ours.allowed ? "allows" : "refuses",
                                                             ours.allowed ? "" : fmt::format(" ({})", ours.reason),
                                                             k.loaded ? "allows" : "refuses",
                                                             k.loaded ? "" : fmt::format(" ({})", k.log)));
                    }
    }
    std::string list;
    for (size_t i = 0; i < mismatches.size() && i < 60; i++) list += mismatches[i] + "\n";
    EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " of " << checked << " accesses differ:\n" << list;
    EXPECT_GT(checked, 10000u);
    if (deliberate_seen == 0) std::cout << "note: this kernel refuses negative tracepoint offsets too\n";
}
