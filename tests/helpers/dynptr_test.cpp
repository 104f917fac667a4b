// Dynamic pointers: bpf_dynptr_from_mem/read/write/data and the ring buffer's
// dynptr reserve/submit/discard, with Linux's layout, checks and errors.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {
struct Dynptr { // struct bpf_dynptr_kern
    uint64_t data;
    uint32_t size;
    uint32_t offset;
};
bool is_null(const Dynptr& d) { return d.data == 0 && d.size == 0 && d.offset == 0; }
} // namespace

TEST(Dynptr, FromMemReadWriteData) {
    alignas(8) uint8_t buf[16];
    for (int i = 0; i < 16; i++) buf[i] = static_cast<uint8_t>(i);
    Dynptr d{};
    ASSERT_EQ(helpers::dynptr_from_mem(u(buf), 16, 0, u(&d), 0, nullptr), 0u);
    EXPECT_EQ(d.data, u(buf));
    EXPECT_EQ(d.size, 16u | (1u << 28)); // size, type LOCAL
    uint8_t out[8] = {};
    EXPECT_EQ(helpers::dynptr_read(u(out), 8, u(&d), 4, 0, nullptr), 0u);
    EXPECT_EQ(out[0], 4);
    EXPECT_EQ(out[7], 11);
    EXPECT_EQ(s(helpers::dynptr_read(u(out), 8, u(&d), 12, 0, nullptr)), -E2BIG);  // past the end
    EXPECT_EQ(s(helpers::dynptr_read(u(out), 17, u(&d), 0, 0, nullptr)), -E2BIG);
    EXPECT_EQ(s(helpers::dynptr_read(u(out), 8, u(&d), 0, 1, nullptr)), -EINVAL);  // flags
    const uint8_t in[4] = {0xaa, 0xbb, 0xcc, 0xdd};
    EXPECT_EQ(helpers::dynptr_write(u(&d), 12, u(in), 4, 0, nullptr), 0u);
    EXPECT_EQ(buf[12], 0xaa);
    EXPECT_EQ(buf[15], 0xdd);
    EXPECT_EQ(s(helpers::dynptr_write(u(&d), 13, u(in), 4, 0, nullptr)), -E2BIG);
    EXPECT_EQ(s(helpers::dynptr_write(u(&d), 0, u(in), 4, 2, nullptr)), -EINVAL);
    EXPECT_EQ(helpers::dynptr_data(u(&d), 8, 8, 0, 0, nullptr), u(buf + 8));
    EXPECT_EQ(helpers::dynptr_data(u(&d), 9, 8, 0, 0, nullptr), 0u);
    Dynptr ro = d;
    ro.size |= 1u << 31; // read-only
    EXPECT_EQ(s(helpers::dynptr_write(u(&ro), 0, u(in), 4, 0, nullptr)), -EINVAL);
    EXPECT_EQ(helpers::dynptr_data(u(&ro), 0, 4, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::dynptr_read(u(out), 4, u(&ro), 0, 0, nullptr), 0u); // reading is fine
}

TEST(Dynptr, FromMemErrorsLeaveANullDynptr) {
    alignas(8) uint8_t buf[16];
    Dynptr d{1, 2, 3};
    EXPECT_EQ(s(helpers::dynptr_from_mem(u(buf), 16, 1, u(&d), 0, nullptr)), -EINVAL); // flags
    EXPECT_TRUE(is_null(d));
    d = Dynptr{1, 2, 3};
    EXPECT_EQ(s(helpers::dynptr_from_mem(u(buf), 1u << 24, 0, u(&d), 0, nullptr)), -E2BIG); // > 2^24 - 1
    EXPECT_TRUE(is_null(d));
    uint8_t out[4];
    EXPECT_EQ(s(helpers::dynptr_read(u(out), 4, u(&d), 0, 0, nullptr)), -EINVAL); // a null dynptr
    EXPECT_EQ(s(helpers::dynptr_write(u(&d), 0, u(out), 4, 0, nullptr)), -EINVAL);
    EXPECT_EQ(helpers::dynptr_data(u(&d), 0, 0, 0, 0, nullptr), 0u);
    EXPECT_EQ(helpers::dynptr_from_mem(u(buf), 0, 0, u(&d), 0, nullptr), 0u); // size 0 is fine
    EXPECT_EQ(helpers::dynptr_read(u(out), 0, u(&d), 0, 0, nullptr), 0u);
}

TEST(Dynptr, RingbufReserveSubmitDiscard) {
    auto rb = make_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    ASSERT_TRUE(rb);
    RingBufferReader reader;
    std::vector<std::string> got;
    ASSERT_TRUE(reader.add(rb, [&](const void* data, size_t n) {
        got.emplace_back(static_cast<const char*>(data), n);
        return 0;
    }));
    Dynptr d{};
    ASSERT_EQ(helpers::ringbuf_reserve_dynptr(u(rb.get()), 6, 0, u(&d), 0, nullptr), 0u);
    EXPECT_NE(d.data, 0u);
    EXPECT_EQ(d.size, 6u | (2u << 28)); // type RINGBUF
    EXPECT_EQ(helpers::dynptr_write(u(&d), 0, u("dynptr"), 6, 0, nullptr), 0u);
    EXPECT_EQ(helpers::ringbuf_submit_dynptr(u(&d), 0, 0, 0, 0, nullptr), 0u);
    EXPECT_TRUE(is_null(d));
    EXPECT_EQ(helpers::ringbuf_submit_dynptr(u(&d), 0, 0, 0, 0, nullptr), 0u); // null: nothing to do
    ASSERT_EQ(helpers::ringbuf_reserve_dynptr(u(rb.get()), 4, 0, u(&d), 0, nullptr), 0u);
    EXPECT_EQ(helpers::ringbuf_discard_dynptr(u(&d), 0, 0, 0, 0, nullptr), 0u);
    EXPECT_TRUE(is_null(d));
    d = Dynptr{1, 2, 3};
    EXPECT_EQ(s(helpers::ringbuf_reserve_dynptr(u(rb.get()), 4, 1, u(&d), 0, nullptr)), -EINVAL); // flags
    EXPECT_TRUE(is_null(d));
    EXPECT_EQ(s(helpers::ringbuf_reserve_dynptr(u(rb.get()), 8192, 0, u(&d), 0, nullptr)), -EINVAL); // no room
    EXPECT_TRUE(is_null(d));
    EXPECT_EQ(s(helpers::ringbuf_reserve_dynptr(u(rb.get()), 1u << 24, 0, u(&d), 0, nullptr)), -E2BIG);
    EXPECT_EQ(reader.consume(), 1);
    EXPECT_EQ(got, std::vector<std::string>{"dynptr"});
}

TEST(DynptrChecked, ForgedDynptrsAreRefused) {
    CheckedContext c;
    alignas(8) uint8_t value[16] = {};
    ASSERT_TRUE(c->add_region(MemoryRegion{u(value), sizeof value, true, "map value"}));
    // A dynptr (on the program's stack) claiming more bytes than the region has.
    Dynptr& d = *c.on_stack<Dynptr>();
    d = Dynptr{u(value), 64 | (1u << 28), 0};
    uint8_t* out = c.on_stack<uint8_t>(64);
    EXPECT_EQ(helpers::dynptr_read(u(out), 8, u(&d), 0, 0, c.get()), 0u);
    EXPECT_EQ(c.error(), "");
    EXPECT_EQ(s(helpers::dynptr_read(u(out), 8, u(&d), 12, 0, c.get())), -EFAULT);
    EXPECT_EQ(c.error(), fmt::format("bpf_dynptr_read: from (8 bytes at {:#x}) is not memory the program may read",
                                     u(value) + 12));
    EXPECT_EQ(s(helpers::dynptr_write(u(&d), 12, u(out), 8, 0, c.get())), -EFAULT);
    EXPECT_NE(c.error(), "");
    EXPECT_EQ(helpers::dynptr_data(u(&d), 12, 8, 0, 0, c.get()), 0u);
    EXPECT_NE(c.error(), "");
    // A "ring buffer" dynptr whose record no reserve handed out.
    Dynptr& forged = *c.on_stack<Dynptr>(16);
    forged = Dynptr{u(value), 8 | (2u << 28), 0};
    EXPECT_EQ(s(helpers::ringbuf_submit_dynptr(u(&forged), 0, 0, 0, 0, c.get())), -EINVAL);
    EXPECT_NE(c.error().find("bpf_ringbuf_submit_dynptr: "), std::string::npos);
    // A local dynptr is not a ring buffer record.
    Dynptr local{u(value), 8 | (1u << 28), 0};
    EXPECT_EQ(s(helpers::ringbuf_discard_dynptr(u(&local), 0, 0, 0, 0, nullptr)), -EINVAL);
    // A reserved record is a region until submitted.
    auto rb = make_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    ASSERT_TRUE(rb);
    Dynptr& r = *c.on_stack<Dynptr>(32);
    ASSERT_EQ(helpers::ringbuf_reserve_dynptr(u(rb.get()), 8, 0, u(&r), 0, c.get()), 0u);
    EXPECT_EQ(helpers::dynptr_write(u(&r), 0, u(out), 8, 0, c.get()), 0u);
    const int regions = c->num_regions;
    EXPECT_EQ(helpers::ringbuf_submit_dynptr(u(&r), 0, 0, 0, 0, c.get()), 0u);
    EXPECT_EQ(c->num_regions, regions - 1);
    EXPECT_EQ(c.error(), "");
    // The dynptr itself must be the program's memory.
    Dynptr host{};
    EXPECT_EQ(s(helpers::dynptr_from_mem(u(value), 8, 0, u(&host), 0, c.get())), -EINVAL);
    EXPECT_NE(c.error().find("bpf_dynptr_from_mem: ptr (16 bytes at"), std::string::npos);
}
