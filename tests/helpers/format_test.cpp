// Linux's printf rules for BPF (bpf_bprintf_prepare) and the kernel's output:
// bprintf directly, then bpf_snprintf and bpf_trace_printk as helpers.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "helper_testing.h"

using namespace bpfvm;
using namespace bpfvm::helpertest;

namespace {

// Formats with Linux's rules; returns the text, or "E<errno>" on refusal.
std::string fmt_args(const std::string& f, std::vector<uint64_t> args) {
    std::string out;
    std::string z = f + '\0';
    long r = bprintf(out, z.data(), z.size(), args.data(), static_cast<uint32_t>(args.size()));
    if (r < 0) return "E" + std::to_string(-r);
    EXPECT_EQ(static_cast<size_t>(r), out.size()) << f;
    return out;
}

} // namespace

TEST(Bprintf, Integers) {
    EXPECT_EQ(fmt_args("hello", {}), "hello");
    EXPECT_EQ(fmt_args("%d", {uint64_t(-1)}), "-1");
    EXPECT_EQ(fmt_args("%i", {0x80000000}), "-2147483648");
    EXPECT_EQ(fmt_args("%u", {uint64_t(-1)}), "4294967295"); // int-sized: 32 bits
    EXPECT_EQ(fmt_args("%ld", {uint64_t(-1)}), "-1");
    EXPECT_EQ(fmt_args("%lu", {uint64_t(-1)}), "18446744073709551615");
    EXPECT_EQ(fmt_args("%lld %llu", {uint64_t(INT64_MIN), 7}), "-9223372036854775808 7");
    EXPECT_EQ(fmt_args("%x", {0x1122334455ull}), "22334455");
    EXPECT_EQ(fmt_args("%llx", {0xdeadbeefcafeull}), "deadbeefcafe");
    EXPECT_EQ(fmt_args("%lX", {0xabcdefull}), "ABCDEF");
    EXPECT_EQ(fmt_args("[%5d|%-5d|%05d]", {42, 42, 42}), "[   42|42   |00042]");
    EXPECT_EQ(fmt_args("[%+d|% d|%+d]", {5, 5, uint64_t(-5)}), "[+5| 5|-5]");
    EXPECT_EQ(fmt_args("[%-05d|%08x]", {7, 0xbeef}), "[7    |0000beef]");
    EXPECT_EQ(fmt_args("[%+u]", {5}), "[5]");
    EXPECT_EQ(fmt_args("100%%", {}), "100%");
    EXPECT_EQ(fmt_args("%d%%", {3}), "3%");
}

TEST(Bprintf, CharsAndStrings) {
    const char* name = "bpfvm";
    EXPECT_EQ(fmt_args("%c%c", {'o', 'k'}), "ok");
    EXPECT_EQ(fmt_args("[%3c|%-3c]", {'a', 'b'}), "[  a|b  ]");
    EXPECT_EQ(fmt_args("hi %s!", {u(name)}), "hi bpfvm!");
    EXPECT_EQ(fmt_args("[%8s|%-8s]", {u(name), u(name)}), "[   bpfvm|bpfvm   ]");
    EXPECT_EQ(fmt_args("[%08s]", {u(name)}), "[   bpfvm]"); // strings pad with spaces
    EXPECT_EQ(fmt_args("%pks %pus", {u(name), u(name)}), "bpfvm bpfvm");
    // A bad pointer prints as an empty string, as in Linux.
    EXPECT_EQ(fmt_args("[%s]", {8}), "[]");
    void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page, MAP_FAILED);
    EXPECT_EQ(fmt_args("[%s]", {u(page)}), "[]");
    munmap(page, 4096);
}

TEST(Bprintf, Pointers) {
    EXPECT_EQ(fmt_args("%p", {0x1234}), "0000000000001234");
    EXPECT_EQ(fmt_args("%px %pK", {0xffff, 0}), "000000000000ffff 0000000000000000");
    EXPECT_EQ(fmt_args("%p,", {0xab}), "00000000000000ab,");
    EXPECT_EQ(fmt_args("%10p|", {0xab}), "        ab|");
    // What follows %pK up to a non-alphanumeric is skipped, as vsnprintf does.
    EXPECT_EQ(fmt_args("%pKabc.", {1}), "0000000000000001.");
    uint8_t v4[4] = {192, 168, 1, 10};
    EXPECT_EQ(fmt_args("%pI4 %pi4", {u(v4), u(v4)}), "192.168.1.10 192.168.001.010");
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    EXPECT_EQ(fmt_args("%pI6", {u(v6)}), "2001:0db8:0000:0000:0000:0000:0000:0001");
    EXPECT_EQ(fmt_args("%pi6", {u(v6)}), "20010db8000000000000000000000001");
    EXPECT_EQ(fmt_args("%pI4", {8}), "0.0.0.0"); // unreadable: zeroes, as Linux
    // Symbols: a function of this process by name; unknown addresses as hex.
    void* (*fn)(size_t) = &::malloc; // exported by a shared library
    std::string sym = fmt_args("%ps", {u(reinterpret_cast<const void*>(fn))});
    EXPECT_NE(sym.find("malloc"), std::string::npos) << sym;
    EXPECT_EQ(fmt_args("%pS", {u(reinterpret_cast<const void*>(fn))}), sym + "+0x0");
    EXPECT_EQ(fmt_args("%pS", {0x10}), "0x10");
}

TEST(Bprintf, Refusals) {
    EXPECT_EQ(fmt_args("%f", {1}), "E22");
    EXPECT_EQ(fmt_args("%n", {1}), "E22");
    EXPECT_EQ(fmt_args("%o", {1}), "E22");
    EXPECT_EQ(fmt_args("%hd", {1}), "E22");
    EXPECT_EQ(fmt_args("%.2d", {1}), "E22");       // no precision
    EXPECT_EQ(fmt_args("%#x", {1}), "E22");        // no '#'
    EXPECT_EQ(fmt_args("%lld%", {1, 2}), "E22");   // '%' at the end
    EXPECT_EQ(fmt_args("%d %d", {1}), "E22");      // more conversions than arguments
    EXPECT_EQ(fmt_args("%d", {}), "E22");
    EXPECT_EQ(fmt_args("%sx", {u("a")}), "E22");   // %s must be followed by space, punctuation or the end
    EXPECT_EQ(fmt_args("%pa", {1}), "E22");        // unsupported %p modifier
    EXPECT_EQ(fmt_args("%pI5", {1}), "E22");
    EXPECT_EQ(fmt_args("bell\a", {}), "E22");      // ASCII control characters
    EXPECT_EQ(fmt_args("tab\tnewline\n", {}), "tab\tnewline\n");
    EXPECT_EQ(fmt_args("caf\xc3\xa9", {}), "caf\xc3\xa9"); // UTF-8 passes through
    EXPECT_EQ(fmt_args("%\xc3", {1}), "E22");
    // No terminating zero in fmt_size bytes.
    std::string out;
    uint64_t a = 0;
    EXPECT_EQ(bprintf(out, "abc", 3, &a, 1), -EINVAL);
    EXPECT_EQ(bprintf(out, "abc\0def", 8, &a, 1), 3); // stops at the first zero
    EXPECT_EQ(out, "abc");
}

TEST(Bprintf, ArgumentRoomIs512Bytes) {
    std::string big(600, 'x');
    // The string takes all the room (truncated to 511 bytes and its zero)...
    EXPECT_EQ(fmt_args("%s", {u(big.c_str())}), std::string(511, 'x'));
    // ... so nothing is left for the next argument.
    EXPECT_EQ(fmt_args("%s%d", {u(big.c_str()), 1}), "E28"); // ENOSPC
    EXPECT_EQ(fmt_args("%s%c", {u(big.c_str()), 'a'}), "E28");
    std::string s300(300, 'a'), s250(250, 'b');
    // 301 bytes used, 211 left: the second string gets 210 bytes and its zero.
    EXPECT_EQ(fmt_args("%s%s", {u(s300.c_str()), u(s250.c_str())}), s300 + std::string(210, 'b'));
}

TEST(Bprintf, OutputLimitKeepsTheFullLength) {
    std::string out;
    const char f[] = "%20d";
    uint64_t a = 1;
    EXPECT_EQ(bprintf(out, f, sizeof f, &a, 1, 5), 20);
    EXPECT_EQ(out, "     ");
}

TEST(SnprintfHelper, WritesTruncatesAndReturnsLengthPlusOne) {
    char buf[16];
    const char f[] = "n=%d s=%s";
    uint64_t args[2] = {42, u("abc")};
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(f), u(args), 16, nullptr)), 11);
    EXPECT_STREQ(buf, "n=42 s=abc");
    std::memset(buf, 'Z', sizeof buf);
    EXPECT_EQ(s(helpers::snprintf(u(buf), 5, u(f), u(args), 16, nullptr)), 11);
    EXPECT_STREQ(buf, "n=42");
    EXPECT_EQ(buf[5], 'Z'); // nothing past str_size
    // Size 0: nothing written, the length still returned (NULL allowed then).
    EXPECT_EQ(s(helpers::snprintf(0, 0, u(f), u(args), 16, nullptr)), 11);
    const char plain[] = "plain";
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(plain), 0, 0, nullptr)), 6);
    EXPECT_STREQ(buf, "plain");
}

TEST(SnprintfHelper, Refusals) {
    char buf[16];
    const char f[] = "%d";
    uint64_t args[13] = {};
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(f), u(args), 4, nullptr)), -EINVAL);   // not 8-aligned
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(f), u(args), 104, nullptr)), -EINVAL); // > 12 arguments
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(f), 0, 8, nullptr)), -EINVAL);         // data_len, no data
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(f), u(args), 0, nullptr)), -EINVAL);   // %d without argument
    const char g[] = "%f";
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, u(g), u(args), 8, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::snprintf(u(buf), sizeof buf, 16, u(args), 8, nullptr)), -EFAULT); // unreadable format
    // 12 arguments are allowed.
    const char twelve[] = "%d%d%d%d%d%d%d%d%d%d%d%d";
    for (int i = 0; i < 12; i++) args[i] = static_cast<uint64_t>(i % 10);
    char out[32];
    EXPECT_EQ(s(helpers::snprintf(u(out), sizeof out, u(twelve), u(args), 96, nullptr)), 13);
    EXPECT_STREQ(out, "012345678901");
}

TEST(TracePrintkHelper, ReturnsLengthAndChecksFormat) {
    const char f[] = "value %d %u %x\n";
    EXPECT_EQ(s(helpers::trace_printk(u(f), sizeof f, 1, 2, 255, nullptr)), 13);
    const char four[] = "%d %d %d %d";
    EXPECT_EQ(s(helpers::trace_printk(u(four), sizeof four, 1, 2, 3, nullptr)), -EINVAL); // at most 3
    const char unterminated[4] = {'a', 'b', 'c', 'd'};
    EXPECT_EQ(s(helpers::trace_printk(u(unterminated), 4, 0, 0, 0, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::trace_printk(u(f), 0, 0, 0, 0, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::trace_printk(u(f), 0xffffffff, 1, 2, 255, nullptr)), 13); // the zero ends it
    EXPECT_EQ(s(helpers::trace_printk(u(f), sizeof f - 1, 1, 2, 255, nullptr)), -EINVAL); // zero not within
    const char f2[] = "%ld %s";
    EXPECT_EQ(s(helpers::trace_printk(u(f2), sizeof f2, uint64_t(-7), u("x"), 0, nullptr)), 4);
}

TEST(TracePrintkHelper, VprintkTakesTwelveArguments) {
    const char f[] = "%d %d %d %d %d";
    uint64_t args[5] = {1, 2, 3, 4, 5};
    EXPECT_EQ(s(helpers::trace_vprintk(u(f), sizeof f, u(args), sizeof args, 0, nullptr)), 9);
    EXPECT_EQ(s(helpers::trace_vprintk(u(f), sizeof f, u(args), 12, 0, nullptr)), -EINVAL);
    EXPECT_EQ(s(helpers::trace_vprintk(u(f), sizeof f, u(args), 32, 0, nullptr)), -EINVAL); // 4 args for 5
}
