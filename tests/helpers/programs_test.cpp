// Helpers called by programs, run by the interpreter in the fast and the
// checked mode: maps by `lddw map[fd:N]`, strings and buffers on the stack.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;
using namespace std::chrono_literals;

namespace {

// "hi %d\n" and its zero, as a 64-bit little-endian immediate.
constexpr const char* kStoreFormat = R"(
    r1 = 0x000a6425206968 ll
    *(u64 *)(r10 - 8) = r1
)";

// Runs on the interpreter and the JIT (when the host has it), fast and checked.
void expect_everywhere(const std::string& text, uint64_t expected, const std::vector<Map*>& maps = {}) {
    for (Engine engine : {Engine::Interpreter, Engine::Jit}) {
        if (engine == Engine::Jit && !JitProgram::supported()) continue;
        for (bool checked : {false, true}) {
            std::string where = fmt::format("{} {}", engine == Engine::Jit ? "jit" : "interpreter",
                                            checked ? "checked" : "fast");
            auto r = run_program(text, maps, checked, engine);
            ASSERT_TRUE(r.ok) << where << ": " << r.error;
            EXPECT_EQ(r.r0, expected) << where;
        }
    }
}

} // namespace

TEST(Programs, KtimeIsMonotonic) {
    expect_everywhere(R"(
        call 5
        r6 = r0
        call bpf_ktime_get_ns#5
        if r0 >= r6 goto ok
        r0 = 0
        exit
    ok:
        r0 = 1
        exit
    )", 1);
}

TEST(Programs, ArrayLookupAndWriteThroughTheValue) {
    auto map = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
    ASSERT_TRUE(map);
    const std::string prog = R"(
        *(u32 *)(r10 - 4) = 1
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto miss
        r1 = *(u64 *)(r0 + 0)
        r1 += 5
        *(u64 *)(r0 + 0) = r1
        r0 = r1
        exit
    miss:
        r0 = -1
        exit
    )";
    auto fast = run_program(prog, {map.get()}, false);
    ASSERT_TRUE(fast.ok) << fast.error;
    EXPECT_EQ(fast.r0, 5u);
    auto checked = run_program(prog, {map.get()}, true); // the lookup made the value a region
    ASSERT_TRUE(checked.ok) << checked.error;
    EXPECT_EQ(checked.r0, 10u);
    uint32_t key = 1;
    EXPECT_EQ(*static_cast<uint64_t*>(map->lookup(&key)), 10u);
    if (JitProgram::supported()) {
        auto jit = run_program(prog, {map.get()}, true, Engine::Jit);
        ASSERT_TRUE(jit.ok) << jit.error;
        EXPECT_EQ(jit.r0, 15u);
    }
}

TEST(Programs, HashUpdateFromTheStackThenLookup) {
    auto map = make_map(BPF_MAP_TYPE_HASH, 4, 8, 16);
    ASSERT_TRUE(map);
    expect_everywhere(R"(
        *(u32 *)(r10 - 4) = 7
        *(u64 *)(r10 - 16) = 99
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        call 2
        if r0 != 0 goto out
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r0 = *(u64 *)(r0 + 0)
    out:
        exit
    )", 99, {map.get()});
    uint32_t key = 7;
    ASSERT_NE(map->lookup(&key), nullptr);
    EXPECT_EQ(*static_cast<uint64_t*>(map->lookup(&key)), 99u);
}

TEST(Programs, CheckedModeRefusesWritesToReadOnlyMapValues) {
    auto map = make_map(BPF_MAP_TYPE_HASH, 4, 8, 4, BPF_F_RDONLY_PROG);
    ASSERT_TRUE(map);
    uint32_t key = 1;
    uint64_t value = 3;
    ASSERT_EQ(map->sys_update(&key, &value, BPF_ANY), 0);
    const std::string prog = R"(
        *(u32 *)(r10 - 4) = 1
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r1 = *(u64 *)(r0 + 0)
        *(u64 *)(r0 + 0) = r1
        r0 = r1
    out:
        exit
    )";
    for (Engine engine : {Engine::Interpreter, Engine::Jit}) {
        if (engine == Engine::Jit && !JitProgram::supported()) continue;
        auto r = run_program(prog, {map.get()}, true, engine);
        ASSERT_FALSE(r.ok);
        EXPECT_NE(r.error.find("the map value is read-only"), std::string::npos) << r.error;
    }
    // Reading past the value is refused too.
    auto past = run_program(R"(
        *(u32 *)(r10 - 4) = 1
        r1 = map[fd:0] ll
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r0 = *(u64 *)(r0 + 8)
    out:
        exit
    )", {map.get()}, true);
    ASSERT_FALSE(past.ok);
    EXPECT_NE(past.error.find("past the end of the map value"), std::string::npos) << past.error;
}

TEST(Programs, RingbufRecordWrittenInCheckedMode) {
    auto rb = make_map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    ASSERT_TRUE(rb);
    RingBufferReader reader;
    std::vector<uint64_t> got;
    ASSERT_TRUE(reader.add(rb, [&](const void* d, size_t n) {
        uint64_t v = 0;
        std::memcpy(&v, d, std::min<size_t>(n, 8));
        got.push_back(v);
        return 0;
    }));
    expect_everywhere(R"(
        r1 = map[fd:0] ll
        r2 = 8
        r3 = 0
        call 131
        if r0 == 0 goto fail
        r1 = 0x1122334455667788 ll
        *(u64 *)(r0 + 0) = r1
        r1 = r0
        r2 = 0
        call 132
        r0 = 1
        exit
    fail:
        r0 = 0
        exit
    )", 1, {rb.get()});
    const size_t runs = JitProgram::supported() ? 4 : 2;
    EXPECT_EQ(reader.consume(), static_cast<long>(runs));
    EXPECT_EQ(got, std::vector<uint64_t>(runs, 0x1122334455667788ull));
}

TEST(Programs, TracePrintkFromAProgram) {
    auto pipe = TracePipe::open();
    ASSERT_TRUE(pipe);
    while ((*pipe)->read(0ms)) {
    }
    expect_everywhere(std::string(kStoreFormat) + R"(
        r1 = r10
        r1 += -8
        r2 = 8
        r3 = 42
        call 6
        exit
    )", 6);
    for (int i = 0; i < (JitProgram::supported() ? 4 : 2); i++) {
        auto line = (*pipe)->read(5s);
        ASSERT_TRUE(line);
        EXPECT_TRUE(line->ends_with(": bpf_trace_printk: hi 42\n")) << *line;
    }
}

TEST(Programs, SnprintfAndStrtolOnTheStack) {
    // snprintf(buf = r10-32, 16, fmt = r10-8, args = r10-40, 8) then strtol of the result.
    expect_everywhere(std::string(kStoreFormat) + R"(
        *(u64 *)(r10 - 40) = -123
        r1 = r10
        r1 += -32
        r2 = 16
        r3 = r10
        r3 += -8
        r4 = r10
        r4 += -40
        r5 = 8
        call 165
        if r0 != 9 goto out
        r1 = r10
        r1 += -29
        r2 = 4
        r3 = 10
        r4 = r10
        r4 += -48
        call 105
        if r0 != 4 goto out
        r0 = *(u64 *)(r10 - 48)
    out:
        exit
    )", static_cast<uint64_t>(-123));
}

TEST(Programs, ProbeReadStrAndStrncmp) {
    static const char secret[] = "bpfvm";
    // probe_read_str(r10-16, 16, secret) = 6, then strncmp(r10-16, 6, secret) = 0.
    const std::string prog = fmt::format(R"(
        r1 = r10
        r1 += -16
        r2 = 16
        r3 = {0:#x} ll
        call 45
        if r0 != 6 goto out
        r1 = r10
        r1 += -16
        r2 = 6
        r3 = {0:#x} ll
        call 182
        r0 += 100
    out:
        exit
    )", u(secret));
    expect_everywhere(prog, 100);
}

TEST(Programs, UnknownHelperIsRefusedAtLoad) {
    auto r = run_program("call 35\nexit");
    ASSERT_FALSE(r.ok);
    EXPECT_NE(r.error.find("unknown helper 35"), std::string::npos) << r.error;
    EXPECT_EQ(describe_helper(35), "bpf_get_current_task (35)"); // what the loader will print
}

TEST(Programs, LoopCallsBackIntoTheProgram) {
    const std::string prog = R"(
        *(u64 *)(r10 - 8) = 0
        r1 = 10
        r2 = func[pc+10] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call 181
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        exit
    )";
    auto r = run_program(prog);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.r0, (45u << 8) | 10u);
}

TEST(Programs, LoopOnEveryEngine) {
    expect_everywhere(R"(
        *(u64 *)(r10 - 8) = 0
        r1 = 10
        r2 = func[pc+10] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call 181
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        if r1 != 6 goto +1
        r0 = 1
        exit
    )", (21u << 8) | 7u); // 0 + 1 + ... + 6, stopped after 7 iterations
}

TEST(Programs, ForEachMapElemSumsValues) {
    auto map = make_map(BPF_MAP_TYPE_HASH, 4, 8, 16);
    ASSERT_TRUE(map);
    for (uint32_t k = 1; k <= 5; k++) {
        uint64_t v = k;
        ASSERT_EQ(map->sys_update(&k, &v, BPF_ANY), 0);
    }
    expect_everywhere(R"(
        *(u64 *)(r10 - 8) = 0
        r1 = map[fd:0] ll
        r2 = func[pc+10] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call 164
        r6 = r0
        r0 = *(u64 *)(r10 - 8)
        r0 <<= 8
        r0 |= r6
        exit
        r5 = *(u64 *)(r3 + 0)
        r1 = *(u64 *)(r4 + 0)
        r1 += r5
        *(u64 *)(r4 + 0) = r1
        r0 = 0
        exit
    )", (15u << 8) | 5u, {map.get()});
}

TEST(Programs, ACallbackFaultStopsTheRun) {
    const std::string prog = R"(
        r1 = 3
        r2 = func[pc+6] ll
        r3 = 0
        r4 = 0
        call 181
        r0 = 7
        exit
        r0 = *(u64 *)(r2 + 0)
        exit
    )";
    for (Engine engine : {Engine::Interpreter, Engine::Jit}) {
        if (engine == Engine::Jit && !JitProgram::supported()) continue;
        auto r = run_program(prog, {}, true, engine);
        ASSERT_FALSE(r.ok);
        EXPECT_NE(r.error.find("invalid read of 8 bytes at 0x0"), std::string::npos) << r.error;
    }
}

TEST(Programs, ALoopWithoutAFunctionFailsTheRun) {
    auto r = run_program(R"(
        r1 = 3
        r2 = 12345
        r3 = 0
        r4 = 0
        call 181
        exit
    )", {}, true);
    ASSERT_FALSE(r.ok);
    EXPECT_NE(r.error.find("callback 0x3039 is not a function of the program"), std::string::npos) << r.error;
    // Zero iterations call nothing: no error.
    auto none = run_program("r1 = 0\nr2 = 12345\nr3 = 0\nr4 = 0\ncall 181\nexit", {}, true);
    ASSERT_TRUE(none.ok) << none.error;
    EXPECT_EQ(none.r0, 0u);
}

TEST(Programs, CheckedRunsRefuseHostPointers) {
    static uint64_t host = 0;
    const std::string prog = fmt::format(R"(
        r1 = {:#x} ll
        r2 = 8
        r3 = r10
        r3 += -8
        *(u64 *)(r10 - 8) = 1
        call 4
        exit
    )", u(&host));
    auto fast = run_program(prog);
    ASSERT_TRUE(fast.ok) << fast.error; // the fast mode trusts the program
    EXPECT_EQ(host, 1u);
    auto r = run_program(prog, {}, true);
    ASSERT_FALSE(r.ok);
    EXPECT_NE(r.error.find(fmt::format("bpf_probe_read: dst (8 bytes at {:#x}) is not memory the program may write",
                                       u(&host))),
              std::string::npos)
        << r.error;
}
