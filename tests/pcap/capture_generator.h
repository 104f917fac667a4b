// A deterministic mix of packets for filter tests: Ethernet, 802.1Q (single
// and double tags), IPv4 (options, fragments), IPv6 (extension headers), TCP,
// UDP, ICMP, ICMPv6, ARP, other EtherTypes, and captures cut short.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpfvm/error.h"

namespace bpfvm::pcaptest {

struct GeneratedPacket {
    std::vector<uint8_t> bytes; // the captured bytes (caplen = bytes.size())
    uint32_t wire_len = 0;
    uint64_t timestamp_ns = 0;
};

// Packet `index` of the stream for `seed`: the same arguments give the same packet.
GeneratedPacket generate_packet(uint64_t seed, uint64_t index);

// Writes `count` packets to an Ethernet pcap file (nanosecond timestamps, snaplen 65535).
Result<void> write_capture(const std::string& path, uint64_t count, uint64_t seed);

} // namespace bpfvm::pcaptest
