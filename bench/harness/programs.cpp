// The benchmark programs and how their inputs are made. Inputs are
// deterministic (a fixed-seed generator per program), so every run of the
// suite times the same work.
#include "programs.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#define BENCH_NATIVE(name) extern "C" uint64_t bench_##name(uint8_t* data, uint64_t len);
BENCH_NATIVE(empty)
BENCH_NATIVE(trivial)
BENCH_NATIVE(alu_mix)
BENCH_NATIVE(dep_chain)
BENCH_NATIVE(branches)
BENCH_NATIVE(switch_dense)
BENCH_NATIVE(select)
BENCH_NATIVE(binary_search)
BENCH_NATIVE(loop_fixed)
BENCH_NATIVE(loop_nested)
BENCH_NATIVE(byte_loads)
BENCH_NATIVE(checksum)
BENCH_NATIVE(crc32)
BENCH_NATIVE(stack_hist)
BENCH_NATIVE(bpf_calls)
BENCH_NATIVE(packet_parse)
#undef BENCH_NATIVE

namespace bpfvm::bench {

InputBuffer::InputBuffer(const Input& input) : storage_(input.bytes.size() + input.offset + 64), size_(input.bytes.size()) {
    auto base = reinterpret_cast<uintptr_t>(storage_.data());
    uintptr_t aligned = (base + 63) & ~uintptr_t(63);
    data_ = storage_.data() + (aligned - base) + input.offset;
    if (size_) std::memcpy(data_, input.bytes.data(), size_);
}

namespace {

// splitmix64: a small, fixed generator, so inputs are the same everywhere.
class Random {
public:
    explicit Random(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }

private:
    uint64_t state_;
};

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
    Random rng(seed);
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = static_cast<uint8_t>(rng.next());
    return out;
}

void put16be(std::vector<uint8_t>& v, size_t at, uint16_t x) {
    v[at] = static_cast<uint8_t>(x >> 8);
    v[at + 1] = static_cast<uint8_t>(x);
}
void put32be(std::vector<uint8_t>& v, size_t at, uint32_t x) {
    put16be(v, at, static_cast<uint16_t>(x >> 16));
    put16be(v, at + 2, static_cast<uint16_t>(x));
}
void put32le(std::vector<uint8_t>& v, size_t at, uint32_t x) { std::memcpy(v.data() + at, &x, 4); }

// Compares with a value the harness computed on its own.
std::function<std::string(uint64_t)> expect(uint64_t want) {
    return [want](uint64_t got) {
        return got == want ? std::string() : fmt::format("expected 0x{:x} (computed by the harness)", want);
    };
}

// RFC 1071 sum of little-endian 16-bit words, as the checksum program reads them.
uint16_t internet_checksum(const uint8_t* p, size_t n) {
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) sum += static_cast<uint64_t>(p[i] | p[i + 1] << 8);
    if (i < n) sum += p[i];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// Table-driven CRC-32, independent of the bitwise loop the program uses.
uint32_t crc32_reference(const uint8_t* p, size_t n) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

Input trivial_input() {
    Input in{random_bytes(64, 1)};
    in.validate = expect(in.bytes.size());
    return in;
}

Input seed_input(uint64_t seed) { return Input{random_bytes(64, seed)}; }

// Text-like bytes: mostly letters and spaces, some digits, punctuation,
// control characters and bytes above 0x7f.
Input text_input() {
    Random rng(4);
    std::vector<uint8_t> text(512);
    for (auto& c : text) {
        uint32_t r = rng.below(100);
        if (r < 45) c = static_cast<uint8_t>('a' + rng.below(26));
        else if (r < 55) c = static_cast<uint8_t>('A' + rng.below(26));
        else if (r < 63) c = static_cast<uint8_t>('0' + rng.below(10));
        else if (r < 78) c = rng.below(8) == 0 ? '\t' : ' ';
        else if (r < 88) c = static_cast<uint8_t>(".,;:!?-()\"'"[rng.below(11)]);
        else if (r < 93) c = static_cast<uint8_t>(rng.below(2) ? '\n' : '\r');
        else c = static_cast<uint8_t>(0x80 + rng.below(128));
    }
    return Input{std::move(text)};
}

// u32 n, u32 nkeys, n sorted u32, nkeys keys: half taken from the array,
// half random (almost all misses).
Input binary_search_input() {
    constexpr uint32_t n = 1024, nkeys = 64;
    Random rng(6);
    std::vector<uint32_t> array(n);
    uint32_t v = 0;
    for (auto& x : array) x = (v += 1 + rng.below(64));
    std::vector<uint32_t> keys(nkeys);
    for (uint32_t k = 0; k < nkeys; k++) keys[k] = k % 2 ? array[rng.below(n)] : rng.below(v + 1000);

    std::vector<uint8_t> bytes(8 + 4 * (n + nkeys));
    put32le(bytes, 0, n);
    put32le(bytes, 4, nkeys);
    for (uint32_t i = 0; i < n; i++) put32le(bytes, 8 + 4 * i, array[i]);
    for (uint32_t k = 0; k < nkeys; k++) put32le(bytes, 8 + 4 * (n + k), keys[k]);

    uint64_t found = 0, positions = 0;
    for (uint32_t key : keys) {
        auto it = std::lower_bound(array.begin(), array.end(), key);
        if (it != array.end() && *it == key) found++;
        positions += static_cast<uint64_t>(it - array.begin());
    }
    Input in{std::move(bytes)};
    in.validate = expect(found << 32 | positions);
    return in;
}

Input loop_fixed_input() {
    Input in{random_bytes(1024, 7)};
    uint64_t h = 0;
    for (int i = 0; i < 1024; i++) h = h * 31 + in.bytes[i];
    in.validate = expect(h);
    return in;
}

Input byte_loads_input() {
    Input in{random_bytes(1024, 9)};
    uint64_t acc = 0;
    for (size_t i = 0; i + 8 <= in.bytes.size(); i += 8) {
        uint32_t be = 0, le = 0;
        for (int k = 0; k < 4; k++) be = be << 8 | in.bytes[i + k];
        for (int k = 7; k >= 4; k--) le = le << 8 | in.bytes[i + k];
        acc = ((acc << 5) | (acc >> 59)) ^ (uint64_t(be) << 32 | le);
        acc += uint16_t(in.bytes[i + 3] << 8 | in.bytes[i + 4]);
    }
    in.validate = expect(acc);
    return in;
}

Input checksum_input() {
    Input in{random_bytes(1500, 10)};
    in.validate = expect(internet_checksum(in.bytes.data(), in.bytes.size()));
    return in;
}

Input crc32_input() {
    Input in{random_bytes(256, 11)};
    in.validate = expect(crc32_reference(in.bytes.data(), in.bytes.size()));
    return in;
}

Input stack_hist_input() {
    Input in{random_bytes(1024, 13)};
    uint32_t hist[64] = {};
    for (uint8_t b : in.bytes) hist[b >> 2]++;
    uint64_t s = 0;
    for (uint32_t h : hist) s = s * 7 + uint64_t(h) * h;
    in.validate = expect(s);
    return in;
}

// A 1500-byte frame: Ethernet, one 802.1Q tag, IPv4 (20 bytes, DF, valid
// checksum), TCP with 20 bytes of options (MSS, NOP, window scale, SACK
// permitted, timestamps), then payload.
Input packet_input() {
    constexpr size_t frame = 1500, eth = 14, vlan = 4, ip = eth + vlan, ihl = 20, tcp = ip + ihl;
    constexpr uint16_t mss = 1460;
    constexpr uint8_t wscale = 7, tcp_flags = 0x18;
    constexpr uint32_t tsval = 0x01020304;
    std::vector<uint8_t> p = random_bytes(frame, 15); // random MACs and payload
    put16be(p, 12, 0x8100);                            // 802.1Q
    put16be(p, 14, 0x0064);                            // VLAN 100
    put16be(p, 16, 0x0800);                            // IPv4
    p[ip + 0] = 0x45;
    p[ip + 1] = 0;
    put16be(p, ip + 2, static_cast<uint16_t>(frame - ip));
    put16be(p, ip + 4, 0x1c46);
    put16be(p, ip + 6, 0x4000); // DF, offset 0
    p[ip + 8] = 64;
    p[ip + 9] = 6; // TCP
    put16be(p, ip + 10, 0);
    put32be(p, ip + 12, 0x0a000001); // 10.0.0.1
    put32be(p, ip + 16, 0xc0a80102); // 192.168.1.2
    uint16_t check = internet_checksum(p.data() + ip, ihl);
    std::memcpy(p.data() + ip + 10, &check, 2); // stored as computed over LE words: valid on the wire
    put16be(p, tcp + 0, 443);
    put16be(p, tcp + 2, 51234);
    put32be(p, tcp + 4, 0x11223344);
    put32be(p, tcp + 8, 0x55667788);
    p[tcp + 12] = 10 << 4; // 40-byte header
    p[tcp + 13] = tcp_flags;
    put16be(p, tcp + 14, 502);
    put16be(p, tcp + 16, 0);
    put16be(p, tcp + 18, 0);
    const uint8_t options[20] = {2, 4, mss >> 8, mss & 0xff, 1, 3, 3, wscale, 4, 2, 8, 10,
                                 tsval >> 24, (tsval >> 16) & 0xff, (tsval >> 8) & 0xff, tsval & 0xff, 0, 0, 0, 0};
    std::memcpy(p.data() + tcp + 20, options, sizeof options);

    Input in{std::move(p), 2}; // NET_IP_ALIGN: the IPv4 header lands on a 4-byte boundary
    uint32_t info = (uint32_t(mss) << 16) ^ (uint32_t(wscale) << 8) ^ (1u << 7) ^ tcp_flags ^ tsval;
    in.validate = [info](uint64_t got) -> std::string {
        if (got < 16) return fmt::format("the program rejected the packet (code {})", got);
        if (static_cast<uint32_t>(got) != (info | 16))
            return fmt::format("low half should be 0x{:x} (TCP options as the harness wrote them)", info | 16);
        return {};
    };
    return in;
}

Input empty_input() {
    Input in{random_bytes(64, 16)};
    in.validate = expect(0);
    return in;
}

constexpr std::string_view kBinarySearchKernelSkip =
    "its input (4360 bytes) is larger than the linear packet BPF_PROG_TEST_RUN builds for XDP (3520 bytes), "
    "and the verifier cannot follow the search (over 1M instructions even with 512 entries: see "
    "programs/binary_search.c)";

const BenchProgram kPrograms[] = {
    {"empty", "return 0: the cost of calling a program (left out of the geomeans)", bench_empty, empty_input, {},
     true},
    {"trivial", "return len: the cost of entering and leaving a run", bench_trivial, trivial_input},
    {"alu_mix", "64/32-bit ALU mix over independent lanes", bench_alu_mix, [] { return seed_input(2); }},
    {"dep_chain", "one long chain of dependent ALU ops", bench_dep_chain, [] { return seed_input(3); }},
    {"branches", "if/else chains classifying 512 text bytes", bench_branches, text_input},
    {"switch_dense", "dense 16-way switch over 512 bytes", bench_switch_dense, [] { return Input{random_bytes(512, 5)}; }},
    {"select", "ternaries (min/max/clamp/abs) over 256 u32", bench_select, [] { return Input{random_bytes(1024, 12)}; }},
    {"binary_search", "64 lookups in a sorted array of 1024 u32", bench_binary_search, binary_search_input,
     kBinarySearchKernelSkip},
    {"loop_fixed", "fixed 1024-iteration loop (polynomial hash)", bench_loop_fixed, loop_fixed_input},
    {"loop_nested", "triple loop: 8x8 u32 matrix product", bench_loop_nested, [] { return Input{random_bytes(512, 8)}; }},
    {"byte_loads", "byte loads recombined into BE/LE words, 1 KiB", bench_byte_loads, byte_loads_input},
    {"checksum", "Internet checksum of 1500 bytes", bench_checksum, checksum_input},
    {"crc32", "bitwise CRC-32 of 256 bytes", bench_crc32, crc32_input},
    {"stack_hist", "64-bucket histogram in a stack array, 1 KiB", bench_stack_hist, stack_hist_input},
    {"bpf_calls", "bpf-to-bpf calls, two levels deep, 320 calls", bench_bpf_calls, [] { return Input{random_bytes(512, 14)}; }},
    {"packet_parse", "Ethernet/VLAN/IPv4/TCP parse + options + flow hash", bench_packet_parse, packet_input},
};

} // namespace

std::span<const BenchProgram> bench_programs() { return kPrograms; }

} // namespace bpfvm::bench
