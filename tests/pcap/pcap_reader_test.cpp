// The pcap/pcapng reader and the pcap writer, checked field by field and
// against libpcap's pcap_next_ex on every capture.
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "bpfvm/pcap.h"
#include "capture_generator.h"
#include "pcap_testing.h"
#include "process.h"

namespace bpfvm::pcaptest {
namespace {

// Builds capture files in either byte order.
struct Image {
    bool big = false;
    std::vector<uint8_t> v;
    void u8(uint32_t x) { v.push_back(static_cast<uint8_t>(x)); }
    void u16(uint32_t x) {
        if (big) {
            u8(x >> 8);
            u8(x);
        } else {
            u8(x);
            u8(x >> 8);
        }
    }
    void u32(uint32_t x) {
        if (big) {
            u16(x >> 16);
            u16(x & 0xffff);
        } else {
            u16(x & 0xffff);
            u16(x >> 16);
        }
    }
    void u64(uint64_t x) {
        if (big) {
            u32(static_cast<uint32_t>(x >> 32));
            u32(static_cast<uint32_t>(x));
        } else {
            u32(static_cast<uint32_t>(x));
            u32(static_cast<uint32_t>(x >> 32));
        }
    }
    void bytes(const std::vector<uint8_t>& b) { v.insert(v.end(), b.begin(), b.end()); }
    void pad() {
        while (v.size() % 4) u8(0);
    }
    void set32(size_t at, uint32_t x) {
        Image t{big, {}};
        t.u32(x);
        std::copy(t.v.begin(), t.v.end(), v.begin() + static_cast<long>(at));
    }
};

std::vector<uint8_t> payload(size_t n, uint8_t seed) {
    std::vector<uint8_t> b(n);
    for (size_t i = 0; i < n; i++) b[i] = static_cast<uint8_t>(seed + i * 7);
    return b;
}

Image pcap_header(bool big, bool nano, uint32_t snaplen = 65535, uint32_t linktype = 1) {
    Image m{big, {}};
    m.u32(nano ? 0xa1b23c4d : 0xa1b2c3d4);
    m.u16(2);
    m.u16(4);
    m.u32(0);
    m.u32(0);
    m.u32(snaplen);
    m.u32(linktype);
    return m;
}

void pcap_record(Image& m, uint32_t sec, uint32_t frac, const std::vector<uint8_t>& data, uint32_t wire) {
    m.u32(sec);
    m.u32(frac);
    m.u32(static_cast<uint32_t>(data.size()));
    m.u32(wire);
    m.bytes(data);
}

// A pcapng block: type, length, body (padded), length.
void block(Image& m, uint32_t type, const std::function<void(Image&)>& body) {
    size_t start = m.v.size();
    m.u32(type);
    m.u32(0);
    body(m);
    m.pad();
    uint32_t len = static_cast<uint32_t>(m.v.size() - start + 4);
    m.u32(len);
    m.set32(start + 4, len);
}

void shb(Image& m) {
    block(m, 0x0a0d0d0a, [](Image& b) {
        b.u32(0x1a2b3c4d);
        b.u16(1);
        b.u16(0);
        b.u64(~0ull);
        // shb_userappl option, then the end of options
        b.u16(4);
        b.u16(5);
        b.bytes({'b', 'p', 'f', 'v', 'm'});
        b.pad();
        b.u16(0);
        b.u16(0);
    });
}

void idb(Image& m, uint16_t linktype, uint32_t snaplen, int tsresol = -1, int64_t tsoffset = 0) {
    block(m, 1, [&](Image& b) {
        b.u16(linktype);
        b.u16(0);
        b.u32(snaplen);
        b.u16(2); // if_name
        b.u16(4);
        b.bytes({'e', 't', 'h', '0'});
        if (tsresol >= 0) {
            b.u16(9);
            b.u16(1);
            b.u8(static_cast<uint32_t>(tsresol));
            b.pad();
        }
        if (tsoffset) {
            b.u16(14);
            b.u16(8);
            b.u64(static_cast<uint64_t>(tsoffset));
        }
        b.u16(0);
        b.u16(0);
    });
}

void epb(Image& m, uint32_t iface, uint64_t ts, const std::vector<uint8_t>& data, uint32_t wire) {
    block(m, 6, [&](Image& b) {
        b.u32(iface);
        b.u32(static_cast<uint32_t>(ts >> 32));
        b.u32(static_cast<uint32_t>(ts));
        b.u32(static_cast<uint32_t>(data.size()));
        b.u32(wire);
        b.bytes(data);
        b.pad();
        b.u16(1); // opt_comment
        b.u16(3);
        b.bytes({'h', 'i', '!'});
        b.pad();
        b.u16(0);
        b.u16(0);
    });
}

struct Got {
    std::vector<uint8_t> data;
    uint32_t caplen, wire_len, linktype, interface;
    uint64_t ts;
};

std::vector<Got> read_all(pcap::Reader& r) {
    std::vector<Got> out;
    pcap::PacketView p;
    while (r.next(p)) out.push_back({{p.data, p.data + p.caplen}, p.caplen, p.wire_len, p.linktype, p.interface, p.timestamp_ns});
    return out;
}

std::string write_file(const testing::TempDir& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = dir.file(name);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
    return path;
}

void expect_same_as_libpcap(const std::string& path, uint64_t packets) {
    ReaderComparison c = compare_with_libpcap(path);
    ASSERT_TRUE(c.libpcap_opened) << c.libpcap_error;
    EXPECT_EQ(c.difference, "") << path;
    EXPECT_EQ(c.bpfvm_error, "");
    EXPECT_EQ(c.libpcap_error, "");
    EXPECT_EQ(c.packets, packets);
}

TEST(PcapReader, PcapEveryByteOrderAndPrecision) {
    testing::TempDir dir;
    for (bool big : {false, true}) {
        for (bool nano : {false, true}) {
            SCOPED_TRACE(fmt::format("big endian {} nanosecond {}", big, nano));
            Image m = pcap_header(big, nano, 128, 1);
            pcap_record(m, 1700000000, nano ? 123456789 : 123456, payload(60, 1), 60);
            pcap_record(m, 1700000001, 5, payload(128, 2), 1514); // cut to the snaplen
            pcap_record(m, 0, 0, {}, 0);                           // empty
            auto r = pcap::Reader::open_memory(m.v, "mem.pcap");
            ASSERT_TRUE(r) << r.error().to_string();
            EXPECT_EQ(r->format(), pcap::Format::Pcap);
            EXPECT_EQ(r->linktype(), 1u);
            EXPECT_EQ(r->snaplen(), 128u);
            EXPECT_EQ(r->nanosecond(), nano);
            auto got = read_all(*r);
            EXPECT_EQ(r->error(), nullptr);
            ASSERT_EQ(got.size(), 3u);
            EXPECT_EQ(got[0].ts, 1700000000ull * 1000000000ull + (nano ? 123456789u : 123456000u));
            EXPECT_EQ(got[0].data, payload(60, 1));
            EXPECT_EQ(got[1].caplen, 128u);
            EXPECT_EQ(got[1].wire_len, 1514u);
            EXPECT_EQ(got[1].ts, 1700000001ull * 1000000000ull + (nano ? 5u : 5000u));
            EXPECT_EQ(got[1].data, payload(128, 2));
            EXPECT_EQ(got[2].caplen, 0u);
            EXPECT_EQ(r->packets_read(), 3u);
            expect_same_as_libpcap(write_file(dir, fmt::format("t{}{}.pcap", big, nano), m.v), 3);
        }
    }
}

TEST(PcapReader, SnaplenZeroMeansTheMaximum) {
    Image m = pcap_header(false, false, 0, 101);
    pcap_record(m, 1, 2, payload(70000, 3), 70000);
    auto r = pcap::Reader::open_memory(m.v);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->snaplen(), pcap::kMaxSnaplen);
    auto got = read_all(*r);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].linktype, 101u);
    EXPECT_EQ(got[0].caplen, 70000u);
}

Image pcapng_two_interfaces(bool big) {
    Image m{big, {}};
    shb(m);
    idb(m, 1, 0, 9);         // nanoseconds, no snaplen
    idb(m, 1, 0, -1, 100);   // microseconds (default), if_tsoffset 100 s
    block(m, 0xdead, [](Image& b) { b.u32(7); }); // unknown: skipped
    epb(m, 0, 1700000000123456789ull, payload(64, 1), 64);
    epb(m, 1, 1700000000123456ull, payload(96, 2), 1500);
    block(m, 5, [](Image& b) { // interface statistics: skipped
        b.u32(0);
        b.u32(0);
        b.u32(0);
        b.u16(0);
        b.u16(0);
    });
    block(m, 3, [](Image& b) { // simple packet: interface 0
        b.u32(61);
        b.bytes(payload(61, 3));
    });
    block(m, 2, [](Image& b) { // obsolete packet block, interface 1
        b.u16(1);
        b.u16(0);
        b.u32(0);
        b.u32(42);
        b.u32(10);
        b.u32(20);
        b.bytes(payload(10, 4));
        b.pad();
    });
    return m;
}

TEST(PcapReader, PcapngBothByteOrdersSeveralInterfaces) {
    testing::TempDir dir;
    for (bool big : {false, true}) {
        SCOPED_TRACE(big ? "big endian" : "little endian");
        Image m = pcapng_two_interfaces(big);
        auto r = pcap::Reader::open_memory(m.v, "mem.pcapng");
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->format(), pcap::Format::PcapNg);
        EXPECT_EQ(r->linktype(), 1u);
        EXPECT_EQ(r->snaplen(), pcap::kMaxSnaplen);
        EXPECT_TRUE(r->nanosecond());
        ASSERT_EQ(r->interfaces().size(), 2u);
        EXPECT_EQ(r->interfaces()[0].tsresol, 9);
        EXPECT_EQ(r->interfaces()[1].tsresol, 6);
        EXPECT_EQ(r->interfaces()[1].tsoffset, 100);
        auto got = read_all(*r);
        ASSERT_EQ(r->error(), nullptr) << r->error()->to_string();
        ASSERT_EQ(got.size(), 4u);
        EXPECT_EQ(got[0].ts, 1700000000123456789ull);
        EXPECT_EQ(got[0].interface, 0u);
        EXPECT_EQ(got[0].data, payload(64, 1));
        EXPECT_EQ(got[1].ts, 1700000100123456000ull);
        EXPECT_EQ(got[1].interface, 1u);
        EXPECT_EQ(got[1].caplen, 96u);
        EXPECT_EQ(got[1].wire_len, 1500u);
        EXPECT_EQ(got[2].caplen, 61u); // the simple packet: wire length, not the padding
        EXPECT_EQ(got[2].wire_len, 61u);
        EXPECT_EQ(got[2].data, payload(61, 3));
        EXPECT_EQ(got[3].interface, 1u);
        EXPECT_EQ(got[3].ts, 100000042000ull); // 42 us after if_tsoffset
        EXPECT_EQ(got[3].data, payload(10, 4));
        EXPECT_EQ(got[3].wire_len, 20u);
        expect_same_as_libpcap(write_file(dir, big ? "be.pcapng" : "le.pcapng", m.v), 4);
    }
}

TEST(PcapReader, PcapngBinaryResolutionAndSections) {
    // 2^-20 s units; then a second section in the other byte order, whose
    // interfaces replace the first section's.
    Image m{false, {}};
    shb(m);
    idb(m, 1, 0, 0x80 | 20);
    epb(m, 0, (5ull << 20) | (1 << 19), payload(20, 1), 20); // 5.5 s
    Image second{true, {}};
    shb(second);
    idb(second, 101, 0, 3); // milliseconds, raw IP
    epb(second, 0, 1234, payload(20, 2), 20);
    m.bytes(second.v);
    auto r = pcap::Reader::open_memory(m.v);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(r->nanosecond()); // 2^-20 s is finer than a microsecond
    auto got = read_all(*r);
    ASSERT_EQ(r->error(), nullptr) << r->error()->to_string();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].ts, 5500000000ull);
    EXPECT_EQ(got[0].linktype, 1u);
    EXPECT_EQ(got[1].ts, 1234000000ull);
    EXPECT_EQ(got[1].linktype, 101u);
    EXPECT_EQ(r->interfaces().size(), 1u);
}

struct BadCase {
    const char* what;
    std::vector<uint8_t> bytes;
    std::string expected; // the whole message
};

std::vector<BadCase> bad_cases() {
    std::vector<BadCase> cases;
    cases.push_back({"empty", {}, "bad.cap: empty file (no pcap or pcapng header)"});
    cases.push_back({"magic", {1, 2, 3, 4, 5, 6, 7, 8}, "bad.cap: byte offset 0: unknown magic 0x04030201 (not a pcap or pcapng file)"});
    {
        Image m = pcap_header(false, false);
        m.v.resize(20);
        cases.push_back({"short pcap header", m.v, "bad.cap: byte offset 0: truncated pcap file header (20 bytes of 24)"});
    }
    {
        Image m = pcap_header(true, false);
        m.v[5] = 1;
        cases.push_back({"version", m.v, "bad.cap: byte offset 4: unsupported pcap version 1.4 (2.x is supported)"});
    }
    {
        Image m = pcap_header(false, false, 100);
        pcap_record(m, 1, 1, payload(10, 0), 10);
        pcap_record(m, 1, 1, payload(101, 0), 200);
        cases.push_back({"caplen above snaplen", m.v,
                         "bad.cap: packet 2 at byte offset 50: captured length 101 is above the snaplen 100"});
    }
    {
        Image m = pcap_header(false, false, 0);
        m.u32(1);
        m.u32(1);
        m.u32(0xfffffff0);
        m.u32(0xfffffff0);
        cases.push_back({"absurd caplen", m.v,
                         "bad.cap: packet 1 at byte offset 24: captured length 4294967280 is above the snaplen 262144"});
    }
    {
        Image m = pcap_header(false, false);
        pcap_record(m, 1, 1, payload(10, 0), 10);
        m.v.resize(m.v.size() - 3);
        cases.push_back({"truncated data", m.v,
                         "bad.cap: packet 1 at byte offset 24: truncated packet data: captured length 10 but 7 bytes left"});
    }
    {
        Image m = pcap_header(false, false);
        pcap_record(m, 1, 1, payload(10, 0), 10);
        m.u32(1);
        m.u16(1);
        cases.push_back({"truncated record header", m.v,
                         "bad.cap: packet 2 at byte offset 50: truncated packet header (6 bytes of 16)"});
    }
    {
        Image m{false, {}};
        shb(m);
        m.v[8] = 0x99;
        cases.push_back({"byte-order magic", m.v, "bad.cap: section header block at byte offset 8: bad byte-order magic 0x1a2b3c99"});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 0);
        size_t at = m.v.size();
        epb(m, 0, 0, payload(8, 0), 8);
        m.set32(at + 4, 30);
        cases.push_back({"block length not a multiple of 4", m.v,
                         fmt::format("bad.cap: packet 1 at byte offset {}: bad block length 30", at)});
    }
    {
        Image m{true, {}};
        shb(m);
        idb(m, 1, 0);
        size_t at = m.v.size();
        epb(m, 0, 0, payload(8, 0), 8);
        m.v.resize(m.v.size() - 8);
        cases.push_back({"block past the end", m.v,
                         fmt::format("bad.cap: packet 1 at byte offset {}: block length 52 runs past the end of the file (44 bytes left)", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 0);
        size_t at = m.v.size();
        epb(m, 0, 0, payload(8, 0), 8);
        m.set32(m.v.size() - 4, 48);
        cases.push_back({"trailer", m.v,
                         fmt::format("bad.cap: packet 1 at byte offset {}: block length 52 does not match the trailing length 48", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 0);
        size_t at = m.v.size();
        epb(m, 0, 0, payload(8, 0), 8);
        m.set32(at + 20, 200);
        cases.push_back({"caplen past the block", m.v,
                         fmt::format("bad.cap: packet 1 at byte offset {}: captured length 200 runs past the block (20 bytes of data)", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 16);
        size_t at = m.v.size();
        epb(m, 0, 0, payload(20, 0), 20);
        cases.push_back({"caplen above the interface's snaplen", m.v,
                         fmt::format("bad.cap: packet 1 at byte offset {}: captured length 20 is above the interface's snaplen 16", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 0);
        epb(m, 0, 0, payload(8, 0), 8);
        size_t at = m.v.size();
        epb(m, 3, 0, payload(8, 0), 8);
        cases.push_back({"undescribed interface", m.v,
                         fmt::format("bad.cap: packet 2 at byte offset {}: interface 3 is not described (the section has 1)", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        size_t at = m.v.size();
        idb(m, 1, 0, 25);
        cases.push_back({"tsresol", m.v,
                         fmt::format("bad.cap: interface description block (type 0x1) at byte offset {} (after packet 0): if_tsresol 10^-25 is out of range", at)});
    }
    {
        Image m{false, {}};
        shb(m);
        idb(m, 1, 0);
        epb(m, 0, 0, payload(8, 0), 8);
        size_t at = m.v.size();
        m.u32(6);
        m.u32(100);
        cases.push_back({"truncated block header", m.v,
                         fmt::format("bad.cap: byte offset {} (after packet 1): truncated block header (8 bytes of 12)", at)});
    }
    return cases;
}

TEST(PcapReader, BadInputNamesFileOffsetPacketAndReason) {
    for (const BadCase& c : bad_cases()) {
        SCOPED_TRACE(c.what);
        auto r = pcap::Reader::open_memory(c.bytes, "bad.cap");
        std::string message;
        if (!r) message = r.error().to_string();
        else {
            pcap::PacketView p;
            while (r->next(p)) {
            }
            ASSERT_NE(r->error(), nullptr);
            message = r->error()->to_string();
            // It stays failed.
            EXPECT_FALSE(r->next(p));
        }
        EXPECT_EQ(message, c.expected);
    }
}

TEST(PcapReader, EveryTruncationOfAGoodFileIsAnErrorOrAnEnd) {
    for (bool ng : {false, true}) {
        std::vector<uint8_t> full;
        if (ng) full = pcapng_two_interfaces(true).v;
        else {
            Image m = pcap_header(false, true);
            for (int i = 0; i < 4; i++) pcap_record(m, 1, 1, payload(30 + i, 0), 40);
            full = m.v;
        }
        for (size_t n = 0; n < full.size(); n++) {
            std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
            auto r = pcap::Reader::open_memory(cut, "cut");
            if (!r) continue;
            pcap::PacketView p;
            uint64_t count = 0;
            while (r->next(p)) {
                ASSERT_LE(p.data + p.caplen, cut.data() + cut.size());
                count++;
            }
            // A cut inside a record or block is an error; between them, an end.
            if (!r->error()) {
                EXPECT_LE(count, 4u);
            }
        }
    }
}

TEST(PcapReader, FileErrors) {
    auto r = pcap::Reader::open("/nonexistent/x.pcap");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "/nonexistent/x.pcap: cannot open: No such file or directory");
    r = pcap::Reader::open("/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "/: is a directory");
}

TEST(PcapWriter, RoundTripPreservesEverything) {
    testing::TempDir dir;
    for (bool nano : {true, false}) {
        std::string path = dir.file(nano ? "n.pcap" : "u.pcap");
        auto w = pcap::Writer::create(path, {101, 2000, nano});
        ASSERT_TRUE(w) << w.error().to_string();
        for (int i = 0; i < 1000; i++) {
            auto data = payload(static_cast<size_t>(i % 1500), static_cast<uint8_t>(i));
            ASSERT_TRUE(w->write(1600000000ull * 1000000000ull + uint64_t(i) * 1234567, data, uint32_t(i % 1500 + i % 3)));
        }
        auto tooLong = w->write(0, payload(2001, 0), 2001);
        ASSERT_FALSE(tooLong);
        EXPECT_EQ(tooLong.error().to_string(), path + ": packet 1001: captured length 2001 is above the file's snaplen 2000");
        EXPECT_EQ(w->packets_written(), 1000u);
        ASSERT_TRUE(w->close());
        auto r = pcap::Reader::open(path);
        ASSERT_TRUE(r) << r.error().to_string();
        EXPECT_EQ(r->linktype(), 101u);
        EXPECT_EQ(r->snaplen(), 2000u);
        EXPECT_EQ(r->nanosecond(), nano);
        auto got = read_all(*r);
        ASSERT_EQ(got.size(), 1000u);
        for (int i = 0; i < 1000; i++) {
            uint64_t ts = 1600000000ull * 1000000000ull + uint64_t(i) * 1234567;
            EXPECT_EQ(got[i].ts, nano ? ts : ts / 1000 * 1000);
            EXPECT_EQ(got[i].data, payload(static_cast<size_t>(i % 1500), static_cast<uint8_t>(i)));
            EXPECT_EQ(got[i].wire_len, uint32_t(i % 1500 + i % 3));
        }
        expect_same_as_libpcap(path, 1000);
    }
}

TEST(PcapWriter, CreateErrorNamesThePath) {
    auto w = pcap::Writer::create("/nonexistent/out.pcap");
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().to_string(), "/nonexistent/out.pcap: cannot create: No such file or directory");
}

TEST(PcapReader, StandardInput) {
    testing::TempDir dir;
    Image m = pcap_header(false, false);
    pcap_record(m, 1, 1, payload(10, 0), 10);
    std::string path = write_file(dir, "in.pcap", m.v);
    // A pipe cannot be mapped: the reader reads it.
    auto out = testing::run_command(fmt::format("cat {} | {} -", testing::shell_quote(path),
                                                testing::shell_quote(PCAP_CAPTURE_TOOL) + " count"));
    EXPECT_EQ(out.exit_code, 0) << out.err;
    EXPECT_EQ(out.out, "1 packets, linktype 1\n");
}

TEST(PcapReader, DebianCapturesReadAsLibpcapReadsThem) {
    auto files = debian_captures();
    if (files.empty())
        GTEST_SKIP() << "no Debian captures installed (python3-dpkt, golang-github-google-gopacket-dev)";
    uint64_t compared = 0, packets = 0;
    for (const std::string& f : files) {
        SCOPED_TRACE(f);
        ReaderComparison c = compare_with_libpcap(f);
        if (!c.libpcap_opened) {
            // libpcap refuses some pcapng files (interfaces of different link
            // types): bpfvm must read them or give an error, not crash.
            auto r = pcap::Reader::open(f);
            if (r) {
                pcap::PacketView p;
                while (r->next(p)) {
                }
            }
            std::printf("  %s: libpcap: %s; bpfvm: %s\n", f.c_str(), c.libpcap_error.c_str(),
                        !r ? r.error().to_string().c_str()
                           : (r->error() ? r->error()->to_string().c_str()
                                         : fmt::format("{} packets", r->packets_read()).c_str()));
            continue;
        }
        // Equal packets, and an error from bpfvm exactly where libpcap has one.
        EXPECT_EQ(c.difference, "");
        if (!c.bpfvm_error.empty())
            std::printf("  %s: both fail after %llu packets: libpcap: %s; bpfvm: %s\n", f.c_str(),
                        static_cast<unsigned long long>(c.packets), c.libpcap_error.c_str(), c.bpfvm_error.c_str());
        if (c.libpcap_stopped_at_interface)
            std::printf("  %s: libpcap stops after %llu packets (%s); bpfvm reads %llu more\n", f.c_str(),
                        static_cast<unsigned long long>(c.packets), c.libpcap_error.c_str(),
                        static_cast<unsigned long long>(c.bpfvm_packets_after));
        compared++;
        packets += c.packets;
    }
    std::printf("  %zu captures, %llu compared with libpcap, %llu packets equal\n", files.size(),
                static_cast<unsigned long long>(compared), static_cast<unsigned long long>(packets));
    EXPECT_GT(compared, 0u);
}

TEST(PcapReader, GeneratedCaptureReadsAsLibpcapReadsIt) {
    testing::TempDir dir;
    uint64_t count = generated_packet_count();
    std::string path = dir.file("gen.pcap");
    auto w = write_capture(path, count, 1);
    ASSERT_TRUE(w) << w.error().to_string();
    expect_same_as_libpcap(path, count);
    // Deterministic: the same seed gives the same bytes.
    auto a = generate_packet(1, 12345), b = generate_packet(1, 12345), c = generate_packet(2, 12345);
    EXPECT_EQ(a.bytes, b.bytes);
    EXPECT_NE(a.bytes, c.bytes);
}

} // namespace
} // namespace bpfvm::pcaptest
