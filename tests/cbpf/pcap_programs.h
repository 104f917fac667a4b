// tcpdump expressions compiled with libpcap, and packets to run them on.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <pcap/pcap.h>

#include "bpfvm/cbpf.h"

namespace cbpf_testing {

// Realistic filters (Ethernet).
inline const std::vector<std::string>& expressions() {
    static const std::vector<std::string> e = {
        "tcp port 80",
        "udp",
        "icmp",
        "arp",
        "ip",
        "ip6",
        "not ip",
        "host 192.168.1.1",
        "net 10.0.0.0/8",
        "src host 10.1.2.3 and dst port 53",
        "vlan",
        "vlan 100",
        "vlan and tcp",
        "vlan 100 and vlan 200",
        "tcp[tcpflags] & tcp-syn != 0",
        "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
        "tcp[13] & 0x12 = 0x12",
        "ip[6:2] & 0x3fff != 0",
        "ip6 and udp port 53",
        "port 22 or port 80 or port 443 or port 8080 or port 53 or port 123 or port 3306 or port 5432",
        "portrange 1000-2000",
        "tcp dst portrange 80-90",
        "less 100",
        "greater 500",
        "ether host 00:11:22:33:44:55",
        "ether broadcast",
        "ether multicast",
        "ip multicast",
        "icmp[icmptype] = icmp-echo",
        "ip proto 47",
        "ip6 proto 58",
        "icmp6",
        "udp and not port 53",
        "ether proto 0x88cc",
        "ip[2:2] > 576",
        "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
        "ip and len >= 64",
        "mpls",
        "mpls and ip",
        "(tcp or udp) and src net 192.168.0.0/16",
        "ip host 10.0.0.1 and not tcp port 22",
        "ip6 host ::1",
        "ip6 net 2001:db8::/32",
        "udp[8:4] == 0xdeadbeef",
        "ether[0] & 1 != 0",
        "ip[0] & 0xf != 5",
        "ip protochain 6",
        "ip6 protochain 17",
        "tcp and ip[8] < 64",
        "udp[4:2] > 100 and udp[4:2] < 1000",
        "ip[1] & 0xfc == 0xb8",
        "tcp[2:2] % 7 == 3",
        "ip[16] / 3 > 40",
        "ip[9] ^ 0xff = 0xf9",
        "tcp[0:2] << 1 > 100",
        "(ip[12:4] >> 24) * 2 - 1 = 19",
    };
    return e;
}

inline std::vector<bpfvm::cbpf::Insn> compile(const std::string& expression, int linktype = DLT_EN10MB) {
    pcap_t* h = pcap_open_dead(linktype, 65535);
    bpf_program prog{};
    std::vector<bpfvm::cbpf::Insn> out;
    if (pcap_compile(h, &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0) {
        for (unsigned i = 0; i < prog.bf_len; i++)
            out.push_back({prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k});
        pcap_freecode(&prog);
    }
    pcap_close(h);
    return out;
}

struct TestPacket {
    std::vector<uint8_t> data; // caplen bytes
    uint32_t wire_len = 0;
};

// Mixed Ethernet traffic: IPv4/IPv6 TCP/UDP/ICMP (with options, fragments,
// extension headers), ARP, VLAN (single and double), MPLS, LLDP, junk; many
// truncated.
class PacketGenerator {
public:
    explicit PacketGenerator(uint32_t seed) : rng_(seed) {}

    TestPacket next() {
        std::vector<uint8_t> p;
        const uint8_t macs[3][6] = {{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                                    {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};
        for (int side = 0; side < 2; side++) {
            int m = pick(5);
            for (int i = 0; i < 6; i++) p.push_back(m < 3 ? macs[m][i] : byte());
        }
        int kind = pick(12);
        int vlans = kind == 11 ? 0 : (pick(4) == 0 ? 1 + pick(2) : 0);
        for (int v = 0; v < vlans; v++) {
            put16(p, v == 0 && vlans == 2 ? 0x88a8 : 0x8100);
            const uint16_t ids[] = {100, 200, 300};
            put16(p, static_cast<uint16_t>((pick(8) << 13) | ids[pick(3)]));
        }
        switch (kind) {
        case 0: case 1: case 2: case 3: put16(p, 0x0800); ipv4(p); break;
        case 4: case 5: case 6: put16(p, 0x86dd); ipv6(p); break;
        case 7: put16(p, 0x0806); arp(p); break;
        case 8:
            put16(p, 0x8847);
            for (int l = 0, n = 1 + pick(2); l < n; l++) {
                put16(p, static_cast<uint16_t>(pick(0x10000)));
                p.push_back(static_cast<uint8_t>((pick(8) << 1) | (l == n - 1 ? 1 : 0)));
                p.push_back(64);
            }
            if (pick(2)) ipv4(p);
            else junk(p, 40);
            break;
        case 9: put16(p, 0x88cc); junk(p, 60); break;
        case 10: put16(p, static_cast<uint16_t>(pick(2) ? pick(1500) : pick(0x10000))); junk(p, 100); break;
        default: junk(p, 20); break;
        }
        TestPacket t;
        t.wire_len = static_cast<uint32_t>(p.size());
        if (pick(4) == 0) t.wire_len += static_cast<uint32_t>(pick(2000));
        int trunc = pick(5);
        if (trunc == 0) p.resize(static_cast<size_t>(pick(static_cast<int>(p.size()) + 1)));
        else if (trunc == 1) p.resize(std::min<size_t>(p.size(), 14 + static_cast<size_t>(pick(60))));
        t.data = std::move(p);
        if (t.wire_len < t.data.size()) t.wire_len = static_cast<uint32_t>(t.data.size());
        return t;
    }

private:
    int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
    uint8_t byte() { return static_cast<uint8_t>(rng_()); }
    static void put16(std::vector<uint8_t>& p, uint16_t v) {
        p.push_back(static_cast<uint8_t>(v >> 8));
        p.push_back(static_cast<uint8_t>(v));
    }
    void junk(std::vector<uint8_t>& p, int max) {
        for (int i = 0, n = pick(max + 1); i < n; i++) p.push_back(byte());
    }
    uint16_t port() {
        const uint16_t ports[] = {22, 53, 80, 85, 443, 8080, 123, 3306, 5432, 1500, 999, 2000};
        return pick(4) == 0 ? static_cast<uint16_t>(pick(0x10000)) : ports[pick(12)];
    }
    void l4(std::vector<uint8_t>& p, int proto) {
        if (proto == 6) {
            put16(p, port());
            put16(p, port());
            for (int i = 0; i < 8; i++) p.push_back(byte());
            int off = 5 + pick(3);
            p.push_back(static_cast<uint8_t>(off << 4));
            const uint8_t flags[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04};
            p.push_back(pick(4) ? flags[pick(6)] : byte());
            for (int i = 0; i < 4 * off - 14; i++) p.push_back(byte());
            if (pick(3) == 0) {
                const char* get = "GET / HTTP/1.1\r\n";
                p.insert(p.end(), get, get + 16);
            } else {
                junk(p, 64);
            }
        } else if (proto == 17) {
            put16(p, port());
            put16(p, port());
            put16(p, static_cast<uint16_t>(pick(1200)));
            put16(p, 0);
            if (pick(3) == 0) {
                const uint8_t v[] = {0xde, 0xad, 0xbe, 0xef};
                p.insert(p.end(), v, v + 4);
            }
            junk(p, 40);
        } else if (proto == 1 || proto == 58) {
            p.push_back(static_cast<uint8_t>(pick(2) ? 8 : pick(20)));
            p.push_back(0);
            junk(p, 40);
        } else {
            junk(p, 40);
        }
    }
    void ipv4(std::vector<uint8_t>& p) {
        const int ihl = pick(4) == 0 ? 5 + pick(4) : 5;
        const int protos[] = {6, 6, 17, 17, 1, 47, 50};
        const int proto = protos[pick(7)];
        p.push_back(static_cast<uint8_t>(pick(20) == 0 ? byte() : 0x40 | ihl));
        p.push_back(pick(3) == 0 ? 0xb8 : byte());
        put16(p, static_cast<uint16_t>(pick(1500)));
        put16(p, static_cast<uint16_t>(pick(0x10000)));
        put16(p, static_cast<uint16_t>(pick(4) == 0 ? pick(0x10000) : 0x4000)); // fragments
        p.push_back(static_cast<uint8_t>(pick(128)));
        p.push_back(static_cast<uint8_t>(proto));
        put16(p, 0);
        const uint8_t addrs[4][4] = {{192, 168, 1, 1}, {10, 0, 0, 1}, {10, 1, 2, 3}, {224, 0, 0, 5}};
        for (int side = 0; side < 2; side++) {
            int a = pick(6);
            for (int i = 0; i < 4; i++) p.push_back(a < 4 ? addrs[a][i] : byte());
        }
        for (int i = 0; i < 4 * (ihl - 5); i++) p.push_back(byte());
        l4(p, proto);
    }
    void ipv6(std::vector<uint8_t>& p) {
        p.push_back(0x60);
        p.push_back(0);
        put16(p, 0);
        put16(p, static_cast<uint16_t>(pick(1500)));
        const int protos[] = {6, 17, 58, 0, 44};
        int next = protos[pick(5)];
        p.push_back(static_cast<uint8_t>(next));
        p.push_back(64);
        for (int side = 0; side < 2; side++) {
            int a = pick(4);
            for (int i = 0; i < 16; i++) {
                uint8_t b = byte();
                if (a == 0) b = i == 15 ? 1 : 0;                                          // ::1
                else if (a == 1) b = i < 4 ? (i == 0 ? 0x20 : i == 1 ? 0x01 : i == 2 ? 0x0d : 0xb8) : b; // 2001:db8::/32
                p.push_back(b);
            }
        }
        // Extension headers (hop-by-hop, fragment) before the transport.
        while (next == 0 || next == 44) {
            const int protos2[] = {6, 17, 58};
            int after = pick(3) == 0 ? 44 : protos2[pick(3)];
            p.push_back(static_cast<uint8_t>(after));
            p.push_back(0);
            for (int i = 0; i < 6; i++) p.push_back(next == 44 ? 0 : byte());
            next = after;
        }
        l4(p, next);
    }
    void arp(std::vector<uint8_t>& p) {
        put16(p, 1);
        put16(p, 0x0800);
        p.push_back(6);
        p.push_back(4);
        put16(p, static_cast<uint16_t>(1 + pick(2)));
        for (int i = 0; i < 20; i++) p.push_back(byte());
    }

    std::mt19937 rng_;
};

} // namespace cbpf_testing
