// The Linux dialect against the running kernel: socket filters attached to a
// packet socket on the loopback device (root only; skipped otherwise). A
// filter returns (value & 0x3f) + 1, the kernel trims the packet to that
// many bytes, and the length received must be what bpfvm computes for the
// same bytes and metadata (pkttype from sockaddr_ll).
#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "cbpf_testing.h"

using namespace bpfvm::cbpf;
using namespace cbpf_testing;

namespace {

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

int packet_socket(int ifindex, const std::vector<Insn>& filter) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
    if (fd < 0) return -1;
    sock_fprog fp{static_cast<unsigned short>(filter.size()),
                  const_cast<sock_filter*>(reinterpret_cast<const sock_filter*>(filter.data()))};
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = ifindex;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// (pkttype, bytes) of what arrives within `ms`.
std::vector<std::pair<int, std::vector<uint8_t>>> receive(int fd, int ms) {
    std::vector<std::pair<int, std::vector<uint8_t>>> out;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) return out;
        std::vector<uint8_t> buf(2048);
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) return out;
        buf.resize(static_cast<size_t>(n));
        out.emplace_back(from.sll_pkttype, std::move(buf));
        ms = 50;
    }
}

} // namespace

TEST(CbpfKernel, SocketFiltersAgreeWithLinux) {
    const int lo = static_cast<int>(if_nametoindex("lo"));
    std::mt19937 rng(std::random_device{}());
    const uint32_t magic = 0xb9f0ca00u | (rng() & 0xff), nonce = static_cast<uint32_t>(rng());
    // ld [42] is the payload on lo (Ethernet 14 + IPv4 20 + UDP 8).
    auto guarded = [&](std::vector<Insn> probe, bool whole_packet = false) {
        std::vector<Insn> p = {stmt(BPF_LD | BPF_W | BPF_ABS, 42), jump(BPF_JMP | BPF_JEQ | BPF_K, magic, 0, 0),
                               stmt(BPF_LD | BPF_W | BPF_ABS, 46), jump(BPF_JMP | BPF_JEQ | BPF_K, nonce, 0, 0)};
        p.insert(p.end(), probe.begin(), probe.end());
        if (!whole_packet) {
            p.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, 0x3f));
            p.push_back(stmt(BPF_ALU | BPF_ADD | BPF_K, 1));
        }
        p.push_back(stmt(BPF_RET | BPF_A, 0));
        p.push_back(stmt(BPF_RET | BPF_K, 0));
        const auto drop = static_cast<uint8_t>(p.size() - 1);
        p[1].jf = static_cast<uint8_t>(drop - 2);
        p[3].jf = static_cast<uint8_t>(drop - 4);
        return p;
    };
    Fd whole(packet_socket(lo, guarded({stmt(BPF_LD | BPF_IMM, 0xffff)}, true)));
    if (whole.get() < 0) GTEST_SKIP() << "no packet socket on lo (needs root): " << strerror(errno);

    const uint32_t AD = static_cast<uint32_t>(SKF_AD_OFF), NET = static_cast<uint32_t>(SKF_NET_OFF),
                   LL = static_cast<uint32_t>(SKF_LL_OFF);
    const std::vector<std::pair<const char*, std::vector<Insn>>> probes = {
        {"ldb [net+9]", {stmt(BPF_LD | BPF_B | BPF_ABS, NET + 9)}},
        {"ld [ll+46]", {stmt(BPF_LD | BPF_W | BPF_ABS, LL + 46)}},
        {"ldb [ll-1]", {stmt(BPF_LD | BPF_B | BPF_ABS, LL - 1)}},
        {"ld [net+4096]", {stmt(BPF_LD | BPF_W | BPF_ABS, NET + 4096)}},
        {"lsh x 33", {stmt(BPF_LD | BPF_IMM, 0x13), stmt(BPF_LDX | BPF_IMM, 33), stmt(BPF_ALU | BPF_LSH | BPF_X, 0)}},
        {"rsh x 33", {stmt(BPF_LD | BPF_IMM, 0xa5), stmt(BPF_LDX | BPF_IMM, 33), stmt(BPF_ALU | BPF_RSH | BPF_X, 0)}},
        {"ind wrap", {stmt(BPF_LDX | BPF_IMM, 0xffffffff), stmt(BPF_LD | BPF_B | BPF_IND, 45)}},
        {"ind net", {stmt(BPF_LDX | BPF_IMM, 9), stmt(BPF_LD | BPF_B | BPF_IND, NET)}},
        {"ind ll", {stmt(BPF_LDX | BPF_IMM, 47), stmt(BPF_LD | BPF_B | BPF_IND, LL)}},
        {"msh net", {stmt(BPF_LDX | BPF_B | BPF_MSH, NET), stmt(BPF_MISC | BPF_TXA, 0)}},
        {"div x 0", {stmt(BPF_LD | BPF_IMM, 7), stmt(BPF_LDX | BPF_IMM, 0), stmt(BPF_ALU | BPF_DIV | BPF_X, 0)}},
        {"proto", {stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_PROTOCOL), stmt(BPF_ALU | BPF_RSH | BPF_K, 6)}},
        {"type", {stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_PKTTYPE)}},
        {"ifidx", {stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_IFINDEX)}},
        {"hatype", {stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_HATYPE)}},
        {"mark", {stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_MARK)}},
        {"vlan_avail", {stmt(BPF_LD | BPF_B | BPF_ABS, AD + SKF_AD_VLAN_TAG_PRESENT)}},
        {"xor_x", {stmt(BPF_LD | BPF_IMM, 0x35), stmt(BPF_LDX | BPF_IMM, 0x0f), stmt(BPF_LD | BPF_W | BPF_ABS, AD + SKF_AD_ALU_XOR_X)}},
        {"len", {stmt(BPF_LD | BPF_W | BPF_LEN, 0)}},
    };
    std::vector<Fd> fds;
    fds.reserve(probes.size());
    for (const auto& [name, probe] : probes) {
        fds.emplace_back(packet_socket(lo, guarded(probe)));
        ASSERT_GE(fds.back().get(), 0) << name << ": " << strerror(errno);
    }
    // One UDP datagram to 127.0.0.1: every packet socket sees the outgoing and the incoming copy.
    Fd udp(socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9); // discard
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t payload[64];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = static_cast<uint8_t>(i * 37 + 5);
    const uint32_t m = htonl(magic), n = htonl(nonce);
    memcpy(payload, &m, 4);
    memcpy(payload + 4, &n, 4);
    ASSERT_EQ(sendto(udp.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(sizeof payload));
    auto copies = receive(whole.get(), 1000);
    ASSERT_FALSE(copies.empty()) << "the datagram did not show on lo";
    ASSERT_EQ(copies[0].second.size(), 14u + 20 + 8 + sizeof payload);
    std::map<int, std::vector<uint8_t>> bytes; // by pkttype
    for (auto& [type, data] : copies) bytes[type] = data;
    size_t compared = 0;
    for (size_t i = 0; i < probes.size(); i++) {
        auto filter = Filter::create(guarded(probes[i].second));
        ASSERT_TRUE(filter) << probes[i].first << ": " << filter.error().to_string();
        std::set<std::pair<int, size_t>> want, got;
        for (const auto& [type, data] : bytes) {
            Packet p;
            p.data = data.data();
            p.caplen = static_cast<uint32_t>(data.size());
            p.wire_len = p.caplen;
            p.protocol = ETH_P_IP;
            p.pkttype = static_cast<uint16_t>(type);
            p.ifindex = static_cast<uint32_t>(lo);
            p.hatype = ARPHRD_LOOPBACK;
            p.network_offset = 14;
            const uint32_t keep = filter->run(p);
            if (keep) want.insert({type, std::min<size_t>(keep, data.size())});
        }
        for (auto& [type, data] : receive(fds[i].get(), want.empty() ? 200 : 1000)) got.insert({type, data.size()});
        EXPECT_EQ(got, want) << probes[i].first;
        compared++;
    }
    EXPECT_EQ(compared, probes.size());
}
