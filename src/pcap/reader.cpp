// pcap and pcapng reader: the file is mapped and packets are views into it.
// Formats: https://www.tcpdump.org/manpages/pcap-savefile.5.html and
// draft-ietf-opsawg-pcapng (Section Header, Interface Description, Enhanced,
// Simple and the obsolete Packet blocks; other blocks are skipped).
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bpfvm/pcap.h"

namespace bpfvm::pcap {
namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kMagicKuznetzov = 0xa1b2cd34; // modified pcap: 24-byte record headers
constexpr uint32_t kBlockShb = 0x0a0d0d0a;
constexpr uint32_t kBlockIdb = 1;
constexpr uint32_t kBlockOpb = 2; // obsolete Packet Block
constexpr uint32_t kBlockSpb = 3;
constexpr uint32_t kBlockEpb = 6;
constexpr uint32_t kByteOrderMagic = 0x1a2b3c4d;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptTsresol = 9;
constexpr uint16_t kOptTsoffset = 14;

inline uint32_t load32(const uint8_t* p, bool swapped) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}
inline uint16_t load16(const uint8_t* p, bool swapped) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return swapped ? __builtin_bswap16(v) : v;
}
inline uint64_t load64(const uint8_t* p, bool swapped) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return swapped ? __builtin_bswap64(v) : v;
}

uint32_t normalize_snaplen(uint32_t snaplen) { return snaplen == 0 || snaplen > kMaxSnaplen ? kMaxSnaplen : snaplen; }

const char* block_name(uint32_t type) {
    switch (type) {
    case kBlockShb: return "section header";
    case kBlockIdb: return "interface description";
    case kBlockOpb: return "packet";
    case kBlockSpb: return "simple packet";
    case kBlockEpb: return "enhanced packet";
    default: return "unknown";
    }
}

// An interface as the per-packet path needs it.
struct InterfaceClock {
    uint32_t linktype = 0;
    uint32_t snaplen = kMaxSnaplen; // normalised
    uint64_t units = 1000000;       // timestamp units per second
    int64_t offset_ns = 0;          // if_tsoffset
};

} // namespace

struct Reader::State {
    std::string name;
    void* map = nullptr;
    size_t map_len = 0;
    std::vector<uint8_t> owned;
    const uint8_t* base = nullptr;
    size_t size = 0;
    size_t pos = 0;
    Format format = Format::Pcap;
    bool swapped = false;
    bool nano = false;
    uint32_t record_header = 16; // pcap: 16, or 24 for the modified format
    uint32_t linktype = 0;       // the first interface's
    uint32_t snaplen = kMaxSnaplen;
    std::vector<Interface> interfaces;
    std::vector<InterfaceClock> clocks;
    uint64_t packets = 0;
    std::optional<Error> error;

    ~State() {
        if (map) munmap(map, map_len);
    }

    bool fail(std::string message) {
        error = Error{std::move(message), -1, 0, name};
        return false;
    }
    bool fail_packet(size_t offset, const std::string& reason) {
        return fail(fmt::format("packet {} at byte offset {}: {}", packets + 1, offset, reason));
    }
    bool fail_block(uint32_t type, size_t offset, const std::string& reason) {
        if (type == kBlockEpb || type == kBlockSpb || type == kBlockOpb) return fail_packet(offset, reason);
        return fail(fmt::format("{} block (type {:#x}) at byte offset {} (after packet {}): {}", block_name(type), type,
                                offset, packets, reason));
    }

    bool open_pcap();
    bool open_pcapng();
    bool next_pcap(PacketView& p);
    // Reads blocks up to the next packet. With `prime`, stops before the first
    // packet block (or a second section) without consuming it.
    bool next_pcapng(PacketView* p, bool prime);
    bool section_header(size_t offset);
    bool interface_description(size_t offset, uint32_t block_len);
};

bool Reader::State::open_pcap() {
    if (size < 24) return fail(fmt::format("byte offset 0: truncated pcap file header ({} bytes of 24)", size));
    uint32_t magic;
    std::memcpy(&magic, base, 4);
    swapped = false;
    if (magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano) ||
        magic == __builtin_bswap32(kMagicKuznetzov)) {
        swapped = true;
        magic = __builtin_bswap32(magic);
    }
    nano = magic == kMagicNano;
    record_header = magic == kMagicKuznetzov ? 24 : 16;
    uint16_t major = load16(base + 4, swapped);
    uint16_t minor = load16(base + 6, swapped);
    if (major != 2)
        return fail(fmt::format("byte offset 4: unsupported pcap version {}.{} (2.x is supported)", major, minor));
    uint32_t file_snaplen = load32(base + 16, swapped);
    linktype = load32(base + 20, swapped) & 0xffff; // the upper bits carry FCS information
    snaplen = normalize_snaplen(file_snaplen);
    interfaces.push_back(Interface{linktype, file_snaplen, static_cast<uint8_t>(nano ? 9 : 6), 0});
    pos = 24;
    return true;
}

bool Reader::State::next_pcap(PacketView& p) {
    const size_t offset = pos;
    const size_t left = size - offset;
    if (left < record_header) [[unlikely]] {
        if (left == 0) return false;
        return fail_packet(offset, fmt::format("truncated packet header ({} bytes of {})", left, record_header));
    }
    const uint8_t* h = base + offset;
    uint32_t sec = load32(h, swapped);
    uint32_t frac = load32(h + 4, swapped);
    uint32_t caplen = load32(h + 8, swapped);
    uint32_t len = load32(h + 12, swapped);
    if (caplen > snaplen) [[unlikely]]
        return fail_packet(offset, fmt::format("captured length {} is above the snaplen {}", caplen, snaplen));
    if (caplen > left - record_header) [[unlikely]]
        return fail_packet(offset, fmt::format("truncated packet data: captured length {} but {} bytes left", caplen,
                                               left - record_header));
    p.data = h + record_header;
    p.caplen = caplen;
    p.wire_len = len;
    p.linktype = linktype;
    p.interface = 0;
    p.timestamp_ns = uint64_t(sec) * 1000000000u + (nano ? frac : uint64_t(frac) * 1000u);
    pos = offset + record_header + caplen;
    packets++;
    return true;
}

bool Reader::State::section_header(size_t offset) {
    // The block length can only be read once the byte order is known.
    const size_t left = size - offset;
    if (left < 12) return fail(fmt::format("section header block at byte offset {}: truncated ({} bytes)", offset, left));
    uint32_t magic;
    std::memcpy(&magic, base + offset + 8, 4);
    if (magic == kByteOrderMagic) swapped = false;
    else if (magic == __builtin_bswap32(kByteOrderMagic)) swapped = true;
    else
        return fail(fmt::format("section header block at byte offset {}: bad byte-order magic {:#010x}", offset + 8,
                                magic));
    uint32_t len = load32(base + offset + 4, swapped);
    if (len < 28 || len % 4 != 0 || len > left)
        return fail_block(kBlockShb, offset,
                          len > left ? fmt::format("block length {} runs past the end of the file ({} bytes left)",
                                                   len, left)
                                     : fmt::format("bad block length {}", len));
    uint32_t trailer = load32(base + offset + len - 4, swapped);
    if (trailer != len)
        return fail_block(kBlockShb, offset,
                          fmt::format("block length {} does not match the trailing length {}", len, trailer));
    uint16_t major = load16(base + offset + 12, swapped);
    uint16_t minor = load16(base + offset + 14, swapped);
    if (major != 1)
        return fail_block(kBlockShb, offset, fmt::format("unsupported pcapng version {}.{} (1.x is supported)", major, minor));
    interfaces.clear();
    clocks.clear();
    pos = offset + len;
    return true;
}

bool Reader::State::interface_description(size_t offset, uint32_t len) {
    const uint8_t* b = base + offset;
    if (len < 20) return fail_block(kBlockIdb, offset, fmt::format("bad block length {} (at least 20)", len));
    Interface iface;
    iface.linktype = load16(b + 8, swapped);
    iface.snaplen = load32(b + 12, swapped);
    // Options: code, length, value padded to 4 bytes.
    size_t o = 16;
    const size_t end = len - 4;
    while (o + 4 <= end) {
        uint16_t code = load16(b + o, swapped);
        uint16_t olen = load16(b + o + 2, swapped);
        if (code == kOptEnd) break;
        size_t padded = (size_t(olen) + 3) & ~size_t(3);
        if (o + 4 + padded > end)
            return fail_block(kBlockIdb, offset,
                              fmt::format("option {} at byte offset {} runs past the block", code, offset + o));
        if (code == kOptTsresol) {
            if (olen != 1)
                return fail_block(kBlockIdb, offset, fmt::format("if_tsresol has length {} (1 expected)", olen));
            iface.tsresol = b[o + 4];
        } else if (code == kOptTsoffset) {
            if (olen != 8)
                return fail_block(kBlockIdb, offset, fmt::format("if_tsoffset has length {} (8 expected)", olen));
            iface.tsoffset = static_cast<int64_t>(load64(b + o + 4, swapped));
        }
        o += 4 + padded;
    }
    InterfaceClock clock;
    clock.linktype = iface.linktype;
    clock.snaplen = normalize_snaplen(iface.snaplen);
    uint8_t exp = iface.tsresol & 0x7f;
    if (iface.tsresol & 0x80) {
        if (exp > 63) return fail_block(kBlockIdb, offset, fmt::format("if_tsresol 2^-{} is out of range", exp));
        clock.units = uint64_t(1) << exp;
    } else {
        if (exp > 19) return fail_block(kBlockIdb, offset, fmt::format("if_tsresol 10^-{} is out of range", exp));
        clock.units = 1;
        for (int i = 0; i < exp; i++) clock.units *= 10;
    }
    clock.offset_ns = static_cast<int64_t>(static_cast<uint64_t>(iface.tsoffset) * 1000000000u);
    interfaces.push_back(iface);
    clocks.push_back(clock);
    return true;
}

namespace {
// Timestamp units since the epoch to nanoseconds, as libpcap converts them
// (whole seconds, then the fraction scaled and truncated).
inline uint64_t to_ns(const InterfaceClock& c, uint64_t t) {
    uint64_t ns;
    if (c.units == 1000000) ns = t * 1000u;
    else if (c.units == 1000000000) ns = t;
    else {
        uint64_t sec = t / c.units, frac = t % c.units;
        ns = sec * 1000000000u + static_cast<uint64_t>((static_cast<unsigned __int128>(frac) * 1000000000u) / c.units);
    }
    return ns + static_cast<uint64_t>(c.offset_ns);
}
} // namespace

bool Reader::State::next_pcapng(PacketView* p, bool prime) {
    for (;;) {
        const size_t offset = pos;
        const size_t left = size - offset;
        if (left == 0) return false;
        if (left < 12) [[unlikely]]
            return fail(fmt::format("byte offset {} (after packet {}): truncated block header ({} bytes of 12)", offset,
                                    packets, left));
        const uint8_t* b = base + offset;
        uint32_t type = load32(b, swapped);
        if (type == kBlockShb) {
            if (prime && offset != 0) return true;
            if (!section_header(offset)) return false;
            continue;
        }
        uint32_t len = load32(b + 4, swapped);
        if (len < 12 || len % 4 != 0) [[unlikely]]
            return fail_block(type, offset, fmt::format("bad block length {}", len));
        if (len > left) [[unlikely]]
            return fail_block(type, offset,
                              fmt::format("block length {} runs past the end of the file ({} bytes left)", len, left));
        if (uint32_t trailer = load32(b + len - 4, swapped); trailer != len) [[unlikely]]
            return fail_block(type, offset,
                              fmt::format("block length {} does not match the trailing length {}", len, trailer));
        switch (type) {
        case kBlockEpb:
        case kBlockOpb: {
            if (prime) return true;
            if (len < 32) return fail_block(type, offset, fmt::format("bad block length {} (at least 32)", len));
            uint32_t id;
            if (type == kBlockEpb) id = load32(b + 8, swapped);
            else id = load16(b + 8, swapped);
            uint32_t caplen = load32(b + 20, swapped);
            if (id >= clocks.size()) [[unlikely]]
                return fail_packet(offset, fmt::format("interface {} is not described (the section has {})", id,
                                                       clocks.size()));
            const InterfaceClock& c = clocks[id];
            if (caplen > len - 32) [[unlikely]]
                return fail_packet(offset,
                                   fmt::format("captured length {} runs past the block ({} bytes of data)", caplen, len - 32));
            if (caplen > c.snaplen) [[unlikely]]
                return fail_packet(offset,
                                   fmt::format("captured length {} is above the interface's snaplen {}", caplen, c.snaplen));
            uint64_t t = (uint64_t(load32(b + 12, swapped)) << 32) | load32(b + 16, swapped);
            p->data = b + 28;
            p->caplen = caplen;
            p->wire_len = load32(b + 24, swapped);
            p->linktype = c.linktype;
            p->interface = id;
            p->timestamp_ns = to_ns(c, t);
            pos = offset + len;
            packets++;
            return true;
        }
        case kBlockSpb: {
            if (prime) return true;
            if (len < 16) return fail_block(type, offset, fmt::format("bad block length {} (at least 16)", len));
            if (clocks.empty())
                return fail_packet(offset, "simple packet block, but the section describes no interface");
            const InterfaceClock& c = clocks[0];
            uint32_t wire = load32(b + 8, swapped);
            uint32_t caplen = wire;
            if (caplen > c.snaplen) caplen = c.snaplen;
            if (caplen > len - 16) caplen = len - 16;
            p->data = b + 12;
            p->caplen = caplen;
            p->wire_len = wire;
            p->linktype = c.linktype;
            p->interface = 0;
            p->timestamp_ns = 0;
            pos = offset + len;
            packets++;
            return true;
        }
        case kBlockIdb:
            if (!interface_description(offset, len)) return false;
            break;
        default: break; // statistics, name resolution, custom...: skipped
        }
        pos = offset + len;
    }
}

bool Reader::State::open_pcapng() {
    format = Format::PcapNg;
    if (!section_header(0)) return false;
    if (!next_pcapng(nullptr, true) && error) return false;
    if (!clocks.empty()) {
        linktype = clocks[0].linktype;
        snaplen = clocks[0].snaplen;
        nano = clocks[0].units > 1000000;
    }
    return true;
}

Reader::Reader(std::unique_ptr<State> state) : state_(std::move(state)) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

Result<Reader> Reader::open_memory(std::span<const uint8_t> bytes, std::string name) {
    auto s = std::make_unique<State>();
    s->name = std::move(name);
    s->base = bytes.data();
    s->size = bytes.size();
    if (!s->base) s->base = reinterpret_cast<const uint8_t*>("");
    uint32_t magic = 0;
    if (s->size == 0) return tl::unexpected(Error{"empty file (no pcap or pcapng header)", -1, 0, s->name});
    if (s->size < 4)
        return tl::unexpected(Error{fmt::format("byte offset 0: truncated file header ({} bytes)", s->size), -1, 0, s->name});
    std::memcpy(&magic, s->base, 4);
    bool ok;
    if (magic == kBlockShb) ok = s->open_pcapng();
    else if (magic == kMagicMicro || magic == kMagicNano || magic == kMagicKuznetzov ||
             magic == __builtin_bswap32(kMagicMicro) || magic == __builtin_bswap32(kMagicNano) ||
             magic == __builtin_bswap32(kMagicKuznetzov))
        ok = s->open_pcap();
    else
        return tl::unexpected(Error{
            fmt::format("byte offset 0: unknown magic {:#010x} (not a pcap or pcapng file)", magic), -1, 0, s->name});
    if (!ok) return tl::unexpected(std::move(*s->error));
    return Reader(std::move(s));
}

Result<Reader> Reader::open(const std::string& path) {
    auto io_error = [&](const char* what) {
        return tl::unexpected(Error{fmt::format("{}: {}", what, std::strerror(errno)), -1, 0, path});
    };
    int fd = path == "-" ? dup(0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open");
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        auto e = io_error("cannot stat");
        close(fd);
        return e;
    }
    std::vector<uint8_t> owned;
    void* map = nullptr;
    size_t map_len = 0;
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        map_len = static_cast<size_t>(st.st_size);
        map = mmap(nullptr, map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) map = nullptr;
        else madvise(map, map_len, MADV_SEQUENTIAL);
    } else if (S_ISDIR(st.st_mode)) {
        close(fd);
        return tl::unexpected(Error{"is a directory", -1, 0, path});
    }
    if (!map) {
        // A pipe, or a file that cannot be mapped: read it in big chunks.
        size_t used = 0;
        owned.resize(1 << 20);
        for (;;) {
            if (used == owned.size()) owned.resize(owned.size() * 2);
            ssize_t n = ::read(fd, owned.data() + used, owned.size() - used);
            if (n < 0) {
                if (errno == EINTR) continue;
                auto e = io_error("cannot read");
                close(fd);
                return e;
            }
            if (n == 0) break;
            used += static_cast<size_t>(n);
        }
        owned.resize(used);
    }
    close(fd);
    std::span<const uint8_t> bytes = map ? std::span<const uint8_t>(static_cast<const uint8_t*>(map), map_len)
                                         : std::span<const uint8_t>(owned);
    auto reader = open_memory(bytes, path);
    if (!reader) {
        if (map) munmap(map, map_len);
        return reader;
    }
    State& s = *reader->state_;
    s.map = map;
    s.map_len = map_len;
    if (!map) {
        s.owned = std::move(owned); // the vector's buffer does not move
        s.base = s.owned.empty() ? s.base : s.owned.data();
    }
    return reader;
}

bool Reader::next(PacketView& packet) {
    State& s = *state_;
    if (s.error) [[unlikely]]
        return false;
    if (s.format == Format::Pcap) return s.next_pcap(packet);
    return s.next_pcapng(&packet, false);
}

const Error* Reader::error() const { return state_->error ? &*state_->error : nullptr; }
Format Reader::format() const { return state_->format; }
const std::string& Reader::name() const { return state_->name; }
uint32_t Reader::linktype() const { return state_->linktype; }
uint32_t Reader::snaplen() const { return state_->snaplen; }
bool Reader::nanosecond() const { return state_->nano; }
const std::vector<Interface>& Reader::interfaces() const { return state_->interfaces; }
uint64_t Reader::packets_read() const { return state_->packets; }
std::span<const uint8_t> Reader::bytes() const { return {state_->base, state_->size}; }

} // namespace bpfvm::pcap
