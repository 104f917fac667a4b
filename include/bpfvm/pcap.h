// Capture files: a reader for pcap and pcapng that hands out views into the
// mapped file (no copy per packet), and a pcap writer. See docs/pcap.md.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpfvm/error.h"

namespace bpfvm::pcap {

// Link-layer types (LINKTYPE_* of https://www.tcpdump.org/linktypes.html).
constexpr uint32_t kLinktypeNull = 0;
constexpr uint32_t kLinktypeEthernet = 1;
constexpr uint32_t kLinktypeRaw = 101;
constexpr uint32_t kLinktypeLinuxSll = 113;

// libpcap's MAXIMUM_SNAPLEN: a snaplen of 0 (or above it) in a file means this.
constexpr uint32_t kMaxSnaplen = 262144;

enum class Format : uint8_t { Pcap, PcapNg };

// One packet, pointing into the reader's file image: valid while the Reader lives.
struct PacketView {
    const uint8_t* data = nullptr;
    uint32_t caplen = 0;    // bytes at `data`
    uint32_t wire_len = 0;  // the packet's length on the wire (>= caplen in a sane file)
    uint32_t linktype = 0;  // LINKTYPE_* of the packet's interface
    uint32_t interface = 0; // pcapng: the interface's index within its section; pcap: 0
    uint64_t timestamp_ns = 0; // since the epoch, in nanoseconds
};

// A pcapng Interface Description Block (pcap files have one, from the header).
struct Interface {
    uint32_t linktype = 0;
    uint32_t snaplen = 0;    // as the file gives it (0: none)
    uint8_t tsresol = 6;     // if_tsresol: 10^-n seconds, or 2^-n with bit 7 set
    int64_t tsoffset = 0;    // if_tsoffset, seconds
};

// Reads a capture file front to back:
//   auto reader = pcap::Reader::open(path);
//   pcap::PacketView p;
//   while (reader->next(p)) ...;
//   if (reader->error()) ... // the file was bad after some packets
// Errors name the file, the packet number (1-based) and byte offset, and the reason.
class Reader {
public:
    // Maps the file (or reads it, for pipes and the like; "-" is standard
    // input). The header (pcap) or
    // the first section up to its first packet (pcapng) is checked here.
    static Result<Reader> open(const std::string& path);
    // A capture held in memory, which must outlive the Reader. `name` is for messages.
    static Result<Reader> open_memory(std::span<const uint8_t> bytes, std::string name = "<memory>");

    Reader(Reader&&) noexcept;
    Reader& operator=(Reader&&) noexcept;
    ~Reader();

    // The next packet; false at the end of the file or on an error (then error() is set).
    bool next(PacketView& packet);
    const Error* error() const;

    Format format() const;
    const std::string& name() const;
    // The first interface's link type and snaplen (the pcap header's for pcap),
    // with a snaplen of 0 or above kMaxSnaplen read as kMaxSnaplen, as libpcap does.
    uint32_t linktype() const;
    uint32_t snaplen() const;
    // Whether timestamps have a finer resolution than microseconds (the
    // nanosecond pcap magic; pcapng: the first interface's if_tsresol).
    bool nanosecond() const;
    // The interfaces of the current pcapng section known so far (pcap: one).
    const std::vector<Interface>& interfaces() const;
    uint64_t packets_read() const;
    // The whole file image.
    std::span<const uint8_t> bytes() const;

private:
    struct State;
    explicit Reader(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

struct WriterOptions {
    uint32_t linktype = kLinktypeEthernet;
    uint32_t snaplen = kMaxSnaplen;
    bool nanosecond = true; // the nanosecond magic (0xa1b23c4d), else microseconds
};

// Writes a pcap file in the host's byte order, buffered.
class Writer {
public:
    // "-" writes to standard output.
    static Result<Writer> create(const std::string& path, const WriterOptions& options = {});
    Writer(Writer&&) noexcept;
    Writer& operator=(Writer&&) noexcept;
    ~Writer(); // closes the file if close() was not called (errors then go unreported)

    // Writes data[0..caplen) with the given wire length and timestamp. An
    // error when caplen > the snaplen, or the timestamp's seconds do not fit
    // in 32 bits.
    Result<void> write(uint64_t timestamp_ns, std::span<const uint8_t> data, uint32_t wire_len);
    Result<void> write(const PacketView& packet) {
        return write(packet.timestamp_ns, {packet.data, packet.caplen}, packet.wire_len);
    }
    // Flushes and closes; errors (disk full...) are reported here.
    Result<void> close();
    uint64_t packets_written() const;

private:
    struct State;
    explicit Writer(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

} // namespace bpfvm::pcap
