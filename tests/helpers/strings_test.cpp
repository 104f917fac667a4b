// bpf_strtol, bpf_strtoul, bpf_strncmp and bpf_csum_diff, called directly.
#include <cerrno>
#include <climits>
#include <cstring>
#include <random>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {

struct Parsed {
    int64_t ret;
    int64_t value;
};
Parsed strtol_of(const std::string& text, uint64_t flags, bool unsigned_ = false) {
    int64_t v = 0x5a5a5a5a; // untouched on error
    uint64_t r = unsigned_ ? helpers::strtoul(u(text.data()), text.size(), flags, u(&v), 0, nullptr)
                           : helpers::strtol(u(text.data()), text.size(), flags, u(&v), 0, nullptr);
    return {s(r), v};
}

} // namespace

TEST(Strtol, BasesAndPrefixes) {
    EXPECT_EQ(strtol_of("123", 10).ret, 3);
    EXPECT_EQ(strtol_of("123", 10).value, 123);
    EXPECT_EQ(strtol_of("  -42xyz", 10).ret, 5); // spaces, sign and digits consumed
    EXPECT_EQ(strtol_of("  -42xyz", 10).value, -42);
    EXPECT_EQ(strtol_of("\t\n7", 0).value, 7);
    EXPECT_EQ(strtol_of("0x1f", 0).value, 31);
    EXPECT_EQ(strtol_of("0x1f", 0).ret, 4);
    EXPECT_EQ(strtol_of("0X1F", 16).value, 31);
    EXPECT_EQ(strtol_of("1f", 16).value, 31);
    EXPECT_EQ(strtol_of("017", 0).value, 15); // octal
    EXPECT_EQ(strtol_of("019", 0).value, 1);  // stops at 9
    EXPECT_EQ(strtol_of("019", 0).ret, 2);
    EXPECT_EQ(strtol_of("0x", 0).value, 0); // base 0: "0x" without a digit is octal 0
    EXPECT_EQ(strtol_of("0x", 0).ret, 1);
    EXPECT_EQ(strtol_of("0xg", 16).ret, -EINVAL); // base 16: the prefix is skipped, no digit follows
    EXPECT_EQ(strtol_of("777", 8).value, 511);
    EXPECT_EQ(strtol_of("8", 8).ret, -EINVAL);
    // buf_len bounds the text: no zero needed.
    std::string s12 = "12345";
    int64_t v = 0;
    EXPECT_EQ(s(helpers::strtol(u(s12.data()), 2, 10, u(&v), 0, nullptr)), 2);
    EXPECT_EQ(v, 12);
}

TEST(Strtol, Errors) {
    EXPECT_EQ(strtol_of("12", 2).ret, -EINVAL);  // base 2 is not accepted
    EXPECT_EQ(strtol_of("12", 10 | 0x20).ret, -EINVAL); // unknown flag bits
    EXPECT_EQ(strtol_of("   ", 10).ret, -EINVAL);
    EXPECT_EQ(strtol_of("-", 10).ret, -EINVAL);
    EXPECT_EQ(strtol_of("+5", 10).ret, -EINVAL); // only '-' is a sign
    EXPECT_EQ(strtol_of("abc", 10).ret, -EINVAL);
    EXPECT_EQ(strtol_of("abc", 10).value, 0); // Linux 6.11+ zeroes the result first (6.1 left it)
    EXPECT_EQ(strtol_of("", 10).ret, -EINVAL);
    int64_t v;
    EXPECT_EQ(s(helpers::strtol(u("1"), 1, 10, 0, 0, nullptr)), -EINVAL); // no result pointer
    (void)v;
}

TEST(Strtol, Ranges) {
    EXPECT_EQ(strtol_of("9223372036854775807", 10).value, INT64_MAX);
    EXPECT_EQ(strtol_of("9223372036854775808", 10).ret, -ERANGE);
    EXPECT_EQ(strtol_of("-9223372036854775808", 10).value, INT64_MIN);
    EXPECT_EQ(strtol_of("-9223372036854775809", 10).ret, -ERANGE);
    EXPECT_EQ(strtol_of("18446744073709551615", 10, true).value, -1);
    EXPECT_EQ(strtol_of("18446744073709551615", 10, true).ret, 20);
    EXPECT_EQ(strtol_of("18446744073709551616", 10, true).ret, -ERANGE);
    EXPECT_EQ(strtol_of("0xffffffffffffffff", 0, true).value, -1);
    EXPECT_EQ(strtol_of("0x1ffffffffffffffff", 0, true).ret, -ERANGE);
    EXPECT_EQ(strtol_of("-1", 10, true).ret, -EINVAL); // strtoul refuses a sign
    EXPECT_EQ(strtol_of("-0", 10).value, 0);
    // At most 63 characters after the sign are looked at.
    std::string longnum = std::string(70, '0') + "5";
    EXPECT_EQ(strtol_of(longnum, 10).ret, 63);
    EXPECT_EQ(strtol_of(longnum, 10).value, 0);
}

TEST(Strncmp, KernelResults) {
    auto cmp = [](const char* a, uint32_t n, const char* b) { return s(helpers::strncmp(u(a), n, u(b), 0, 0, nullptr)); };
    EXPECT_EQ(cmp("abc", 4, "abc"), 0);
    EXPECT_EQ(cmp("abc", 4, "abd"), -1); // the kernel's strncmp: -1, 0 or 1
    EXPECT_EQ(cmp("abz", 4, "abc"), 1);
    EXPECT_EQ(cmp("abcdef", 3, "abcxyz"), 0); // only s1_sz bytes
    EXPECT_EQ(cmp("ab", 3, "abc"), -1);
    EXPECT_EQ(cmp("\xff", 2, "a"), 1); // unsigned bytes
    EXPECT_EQ(cmp("abc", 0, "xyz"), 0);
    // A size larger than the strings: the comparison ends at the zero.
    EXPECT_EQ(cmp("abc", 0xffffffff, "abc"), 0);
    EXPECT_EQ(cmp("abc", 0xffffffff, "abd"), -1);
    std::string long_a(1000, 'a'), long_b = std::string(999, 'a') + "b";
    EXPECT_EQ(cmp(long_a.c_str(), 2000, long_b.c_str()), -1); // across the 256-byte pieces
    EXPECT_EQ(cmp(long_a.c_str(), 999, long_b.c_str()), 0);
    EXPECT_EQ(s(helpers::strncmp(u("abc"), 4, 16, 0, 0, nullptr)), -EFAULT); // unreadable s2
}


namespace {
// A reference: the one's complement sum of 16-bit big-endian words, folded.
uint16_t reference_fold(const std::vector<uint8_t>& bytes, uint32_t seed) {
    uint64_t sum = 0;
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += (uint32_t(bytes[i + 1]) << 8) | bytes[i]; // x86 reads LE
    sum += (seed & 0xffff) + (seed >> 16);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}
} // namespace

TEST(CsumDiff, AnySizes) {
    // Linux since 6.12 sums any sizes (6.1 refused these with -EINVAL).
    uint8_t a[600];
    for (size_t i = 0; i < sizeof a; i++) a[i] = static_cast<uint8_t>(i * 7);
    std::vector<uint8_t> six(a, a + 6);
    EXPECT_EQ(csum_diff(nullptr, 0, a, 6, 0), reference_fold(six, 0)); // the odd tail is a little-endian word
    EXPECT_EQ(csum_diff(a, 300, a, 300, 0) % 0xffff, 0);                // the same bytes cancel
    EXPECT_EQ(csum_diff(a, 512, nullptr, 0, 0) % 0xffff,
              (0xffff - reference_fold({a, a + 512}, 0)) % 0xffff); // pulling data out
    uint32_t zeroes[128] = {};
    EXPECT_EQ(csum_diff(zeroes, 512, nullptr, 0, 0), 0); // ~csum(zeroes, ~0) = 0
    EXPECT_EQ(s(helpers::csum_diff(0, 4, 0, 0, 0, nullptr)), -EINVAL); // NULL with a size
}

TEST(CsumDiff, MatchesTheDifferentialHarnessForEmptyBuffers) {
    // tests/differential/generator.cpp's reference: the seed folded to 16 bits.
    for (uint32_t seed : {0u, 1u, 0xffffu, 0x10000u, 0x1ffffu, 0xffffffffu, 0x12345678u, 0xfffe0001u}) {
        uint32_t sum = (seed & 0xffff) + (seed >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        EXPECT_EQ(csum_diff(nullptr, 0, nullptr, 0, seed), static_cast<long>(sum)) << seed;
        EXPECT_EQ(s(helpers::csum_diff(0, 0, 0, 0, seed, nullptr)), static_cast<int64_t>(sum));
    }
}

TEST(CsumDiff, PushPullAndDiff) {
    std::vector<uint8_t> data = {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0xab, 0xcd};
    // Pushing data: the folded sum of the words plus the seed.
    EXPECT_EQ(csum_diff(nullptr, 0, data.data(), 12, 0), reference_fold(data, 0));
    EXPECT_EQ(csum_diff(nullptr, 0, data.data(), 12, 0x1234), reference_fold(data, 0x1234));
    // Diffing: replacing from by to changes the sum by sum(to) - sum(from) (mod 0xffff).
    uint8_t from[4] = {10, 0, 0, 1}, to[4] = {192, 168, 0, 1};
    long d = csum_diff(from, 4, to, 4, 0);
    uint32_t expect = reference_fold({to, to + 4}, 0) + (0xffff - reference_fold({from, from + 4}, 0));
    expect = (expect & 0xffff) + (expect >> 16);
    EXPECT_EQ(d % 0xffff, static_cast<long>(expect % 0xffff));
    // Pulling data back out of a sum that had it cancels it.
    long pushed = csum_diff(nullptr, 0, data.data(), 12, 0);
    long pulled = csum_diff(data.data(), 12, nullptr, 0, static_cast<uint32_t>(pushed));
    EXPECT_EQ(pulled % 0xffff, 0);
}

TEST(CsumDiff, CsumPartialIsX86s) {
    // Known values: x86's csum_partial reads 8-byte words little-endian.
    std::vector<uint8_t> v = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0};
    // 0xffffffffffffffff + 1 wraps with an end-around carry to 1; folded to 32 bits: 1.
    EXPECT_EQ(csum_partial(v, 0), 1u);
    EXPECT_EQ(csum_partial({}, 0xdeadbeef), 0xdeadbeefu);
    std::vector<uint8_t> w = {1, 2, 3, 4, 5, 6, 7, 8};
    EXPECT_EQ(csum_partial(w, 0), 0x0c0a0806u + 0u); // 0x08070605 + 0x04030201
    std::mt19937 rng(7);
    for (int round = 0; round < 200; round++) {
        std::vector<uint8_t> b(4 * (rng() % 40));
        for (auto& x : b) x = static_cast<uint8_t>(rng());
        uint32_t seed = rng();
        uint32_t c = csum_partial(b, seed);
        // Congruent (mod 0xffff) to the 16-bit one's complement sum.
        uint32_t f = (c & 0xffff) + (c >> 16);
        f = (f & 0xffff) + (f >> 16);
        EXPECT_EQ(f % 0xffff, reference_fold(b, seed) % 0xffffu);
    }
}
