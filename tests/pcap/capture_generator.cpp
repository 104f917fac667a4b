#include "capture_generator.h"

#include <array>

#include "bpfvm/pcap.h"

namespace bpfvm::pcaptest {
namespace {

// splitmix64: the same numbers on every platform and standard library.
struct Random {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
    bool chance(uint32_t percent) { return below(100) < percent; }
    template <typename T, size_t N> T pick(const std::array<T, N>& a) { return a[below(N)]; }
};

struct Bytes {
    std::vector<uint8_t> v;
    void u8(uint32_t x) { v.push_back(static_cast<uint8_t>(x)); }
    void u16(uint32_t x) {
        u8(x >> 8);
        u8(x);
    }
    void u32(uint32_t x) {
        u16(x >> 16);
        u16(x);
    }
    void put(const uint8_t* p, size_t n) { v.insert(v.end(), p, p + n); }
    void random(Random& r, size_t n) {
        for (size_t i = 0; i < n; i++) u8(static_cast<uint8_t>(r.next()));
    }
    size_t size() const { return v.size(); }
    void set16(size_t at, uint32_t x) {
        v[at] = static_cast<uint8_t>(x >> 8);
        v[at + 1] = static_cast<uint8_t>(x);
    }
};

using Mac = std::array<uint8_t, 6>;
const std::array<Mac, 6> kMacs = {{{0x02, 0, 0, 0, 0, 0x01},
                                   {0x02, 0, 0, 0, 0, 0x02},
                                   {0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x10},
                                   {0x3c, 0xfd, 0xfe, 0x00, 0x12, 0x34},
                                   {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb},  // IPv4 multicast
                                   {0x33, 0x33, 0x00, 0x00, 0x00, 0x01}}}; // IPv6 multicast
const Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

const std::array<uint32_t, 10> kIpv4 = {0x0a000001, 0x0a000002, 0x0a010203, 0xc0a8010a, 0xc0a80164,
                                        0xac100005, 0xac1f0101, 0x08080808, 0xe00000fb, 0xffffffff};
const std::array<uint16_t, 14> kTcpPorts = {80, 443, 22, 25, 53, 8080, 3306, 5432, 6379, 993, 110, 143, 1234, 0};
const std::array<uint16_t, 10> kUdpPorts = {53, 123, 67, 68, 161, 514, 4789, 5353, 1900, 0};
const std::array<uint16_t, 5> kVlans = {10, 20, 100, 4094, 1};

uint32_t ipv4_addr(Random& r) { return r.chance(85) ? r.pick(kIpv4) : static_cast<uint32_t>(r.next()); }

void ipv6_addr(Bytes& b, Random& r) {
    uint32_t kind = r.below(5);
    if (kind == 0) { // random
        b.random(r, 16);
        return;
    }
    if (kind == 4) { // multicast ff02::1 / ff02::fb
        b.u16(0xff02);
        for (int i = 0; i < 6; i++) b.u16(0);
        b.u16(r.chance(50) ? 1 : 0xfb);
        return;
    }
    b.u32(kind == 3 ? 0xfe800000 : 0x20010db8); // 2001:db8::/32 or fe80::/64
    b.u32(kind == 2 ? 0x00010000 : 0);
    b.u32(0);
    b.u32(1 + r.below(3)); // ::1, ::2, ::3
}

uint16_t port(Random& r, uint16_t p) { return p ? p : static_cast<uint16_t>(1024 + r.below(64512)); }

// Layer 4 header and payload.
void tcp(Bytes& b, Random& r) {
    b.u16(port(r, r.pick(kTcpPorts)));
    b.u16(port(r, r.pick(kTcpPorts)));
    b.u32(static_cast<uint32_t>(r.next()));
    b.u32(static_cast<uint32_t>(r.next()));
    uint32_t words = r.chance(60) ? 5 : 5 + r.below(11); // options up to 40 bytes
    static const std::array<uint8_t, 12> kFlags = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0x3f, 0x00, 0xc2};
    b.u8(words << 4);
    b.u8(r.chance(85) ? r.pick(kFlags) : r.below(256));
    b.u16(r.below(65536));
    b.u16(0);
    b.u16(r.chance(90) ? 0 : r.below(65536));
    for (uint32_t i = 5; i < words; i++) b.u32(r.chance(50) ? 0x01010101 : static_cast<uint32_t>(r.next()));
    b.random(r, r.chance(30) ? 0 : r.below(r.chance(10) ? 1400 : 300));
}

void udp(Bytes& b, Random& r) {
    size_t start = b.size();
    b.u16(port(r, r.pick(kUdpPorts)));
    b.u16(port(r, r.pick(kUdpPorts)));
    b.u16(0);
    b.u16(0);
    b.random(r, r.below(r.chance(5) ? 1200 : 200));
    b.set16(start + 4, static_cast<uint32_t>(b.size() - start));
}

void icmp(Bytes& b, Random& r, bool v6) {
    static const std::array<uint8_t, 6> kV4 = {8, 0, 3, 11, 5, 13};
    static const std::array<uint8_t, 7> kV6 = {128, 129, 133, 134, 135, 136, 1};
    b.u8(v6 ? r.pick(kV6) : r.pick(kV4));
    b.u8(r.below(4));
    b.u16(0);
    b.u32(static_cast<uint32_t>(r.next()));
    b.random(r, r.below(64));
}

void l4(Bytes& b, Random& r, uint8_t proto) {
    switch (proto) {
    case 6: tcp(b, r); break;
    case 17: udp(b, r); break;
    case 1: icmp(b, r, false); break;
    case 58: icmp(b, r, true); break;
    default: b.random(r, r.below(100)); break;
    }
}

uint8_t l4_proto(Random& r, bool v6) {
    uint32_t x = r.below(100);
    if (x < 45) return 6;
    if (x < 75) return 17;
    if (x < 88) return v6 ? 58 : 1;
    static const std::array<uint8_t, 5> kOther = {47, 50, 132, 89, 2};
    return r.pick(kOther);
}

void ipv4(Bytes& b, Random& r) {
    size_t start = b.size();
    uint32_t ihl = r.chance(85) ? 5 : 6 + r.below(10);
    uint8_t proto = l4_proto(r, false);
    b.u8(0x40 | ihl);
    b.u8(r.chance(80) ? 0 : r.below(256)); // TOS
    b.u16(0);                              // total length, below
    b.u16(r.below(65536));
    // Fragments: a first fragment (MF, offset 0), later ones (offset != 0), DF.
    uint32_t frag = 0;
    uint32_t f = r.below(100);
    if (f < 40) frag = 0x4000;
    else if (f < 45) frag = 0x2000;
    else if (f < 52) frag = (r.chance(50) ? 0x2000 : 0) | (1 + r.below(0x1fff));
    b.u16(frag);
    b.u8(1 + r.below(255));
    b.u8(proto);
    b.u16(0);
    b.u32(ipv4_addr(r));
    b.u32(ipv4_addr(r));
    for (uint32_t i = 5; i < ihl; i++) b.u32(i + 1 == ihl ? 0x01010100 : (r.chance(50) ? 0x01010101 : 0x07270400 | i));
    if ((frag & 0x1fff) != 0) b.random(r, 8 + r.below(200)); // no layer 4 header here
    else l4(b, r, proto);
    b.set16(start + 2, static_cast<uint32_t>(b.size() - start));
}

void ipv6(Bytes& b, Random& r) {
    size_t start = b.size();
    uint8_t proto = l4_proto(r, true);
    // Extension headers: hop-by-hop, routing, fragment, destination options.
    std::vector<uint8_t> chain;
    if (r.chance(30)) {
        static const std::array<uint8_t, 4> kExt = {0, 43, 44, 60};
        if (r.chance(50)) chain.push_back(0);
        uint32_t n = 1 + r.below(2);
        for (uint32_t i = 0; i < n; i++) chain.push_back(kExt[1 + r.below(3)]);
    }
    b.u32(0x60000000 | r.below(1 << 20));
    b.u16(0); // payload length, below
    b.u8(chain.empty() ? proto : chain[0]);
    b.u8(r.chance(50) ? 64 : 255);
    ipv6_addr(b, r);
    ipv6_addr(b, r);
    bool later_fragment = false;
    for (size_t i = 0; i < chain.size(); i++) {
        uint8_t next = i + 1 < chain.size() ? chain[i + 1] : proto;
        b.u8(next);
        if (chain[i] == 44) {
            b.u8(0);
            uint32_t offset = r.chance(50) ? 0 : 1 + r.below(0x1fff);
            later_fragment |= offset != 0;
            b.u16(offset << 3 | 1);
            b.u32(static_cast<uint32_t>(r.next()));
        } else {
            uint32_t len = r.below(3); // (len + 1) * 8 bytes
            b.u8(len);
            b.random(r, 6 + len * 8);
        }
    }
    if (later_fragment) b.random(r, 8 + r.below(200));
    else l4(b, r, proto);
    b.set16(start + 4, static_cast<uint32_t>(b.size() - start - 40));
}

void arp(Bytes& b, Random& r, const Mac& src) {
    b.u16(1);
    b.u16(0x0800);
    b.u8(6);
    b.u8(4);
    b.u16(r.chance(60) ? 1 : 2);
    b.put(src.data(), 6);
    b.u32(ipv4_addr(r));
    if (r.chance(50)) b.put(kMacs[0].data(), 6);
    else for (int i = 0; i < 6; i++) b.u8(0);
    b.u32(ipv4_addr(r));
}

} // namespace

GeneratedPacket generate_packet(uint64_t seed, uint64_t index) {
    Random r{seed * 0x2545f4914f6cdd1dull + index * 0x9e3779b97f4a7c15ull};
    r.next();
    Bytes b;
    b.v.reserve(256);
    uint32_t kind = r.below(100);
    Mac src = r.pick(kMacs);
    src[0] &= 0xfe; // a unicast source
    Mac dst = kind >= 88 && kind < 95 ? kBroadcast : (r.chance(90) ? r.pick(kMacs) : kBroadcast);
    b.put(dst.data(), 6);
    b.put(src.data(), 6);
    // 802.1Q: no tag, one, or two (QinQ: 0x88a8 outside, or 0x8100 twice).
    uint32_t tags = r.chance(75) ? 0 : (r.chance(70) ? 1 : 2);
    for (uint32_t i = 0; i < tags; i++) {
        b.u16(tags == 2 && i == 0 && r.chance(50) ? 0x88a8 : 0x8100);
        b.u16((r.below(8) << 13) | r.pick(kVlans));
    }
    if (kind < 55) {
        b.u16(0x0800);
        ipv4(b, r);
    } else if (kind < 83) {
        b.u16(0x86dd);
        ipv6(b, r);
    } else if (kind < 95) {
        b.u16(0x0806);
        arp(b, r, src);
    } else if (kind < 97) { // 802.3 length field with LLC/SNAP
        size_t at = b.size();
        b.u16(0);
        b.u8(0xaa);
        b.u8(0xaa);
        b.u8(0x03);
        b.u8(0);
        b.u8(0);
        b.u8(0);
        b.u16(r.chance(50) ? 0x0800 : 0x2000);
        b.random(r, 20 + r.below(80));
        b.set16(at, static_cast<uint32_t>(b.size() - at - 2));
    } else {
        static const std::array<uint16_t, 5> kTypes = {0x88cc, 0x8847, 0x88e5, 0x8863, 0x9000};
        b.u16(r.pick(kTypes));
        b.random(r, r.below(120));
    }
    while (b.size() < 60) b.u8(0); // Ethernet minimum (without FCS)
    GeneratedPacket p;
    p.wire_len = static_cast<uint32_t>(b.size());
    // Cut short: a snaplen-like cut, or anywhere (even inside the Ethernet header).
    if (r.chance(8)) {
        uint32_t cut = r.chance(50) ? 14 + r.below(60) : r.below(p.wire_len);
        if (cut < b.size()) b.v.resize(cut);
    }
    p.timestamp_ns = 1700000000ull * 1000000000ull + index * 1000003ull + r.below(1000);
    p.bytes = std::move(b.v);
    return p;
}

Result<void> write_capture(const std::string& path, uint64_t count, uint64_t seed) {
    auto writer = pcap::Writer::create(path, {pcap::kLinktypeEthernet, 65535, true});
    if (!writer) return tl::unexpected(writer.error());
    for (uint64_t i = 0; i < count; i++) {
        GeneratedPacket p = generate_packet(seed, i);
        if (auto r = writer->write(p.timestamp_ns, p.bytes, p.wire_len); !r) return r;
    }
    return writer->close();
}

} // namespace bpfvm::pcaptest
