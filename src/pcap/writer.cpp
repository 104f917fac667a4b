// pcap writer: the host's byte order, buffered writes.
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bpfvm/pcap.h"

namespace bpfvm::pcap {

struct Writer::State {
    std::string path;
    int fd = -1;
    bool own_fd = true;
    WriterOptions options;
    std::vector<uint8_t> buffer;
    size_t used = 0;
    uint64_t packets = 0;

    ~State() {
        if (fd < 0) return;
        (void)flush();
        if (own_fd) ::close(fd);
    }

    Result<void> io_error(const char* what) const {
        return tl::unexpected(Error{fmt::format("{}: {}", what, std::strerror(errno)), -1, 0, path});
    }

    Result<void> flush() {
        size_t done = 0;
        while (done < used) {
            ssize_t n = ::write(fd, buffer.data() + done, used - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                used = 0;
                return io_error("cannot write");
            }
            done += static_cast<size_t>(n);
        }
        used = 0;
        return {};
    }

    Result<void> append(const void* data, size_t n) {
        if (used + n > buffer.size()) {
            if (auto r = flush(); !r) return r;
            if (n > buffer.size()) buffer.resize(n);
        }
        std::memcpy(buffer.data() + used, data, n);
        used += n;
        return {};
    }
};

Writer::Writer(std::unique_ptr<State> state) : state_(std::move(state)) {}
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&&) noexcept = default;
Writer::~Writer() = default;

Result<Writer> Writer::create(const std::string& path, const WriterOptions& options) {
    auto s = std::make_unique<State>();
    s->path = path;
    s->options = options;
    if (path == "-") {
        s->fd = 1;
        s->own_fd = false;
    } else {
        s->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->fd < 0) return tl::unexpected(s->io_error("cannot create").error());
    }
    s->buffer.resize(1 << 20);
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } header{options.nanosecond ? 0xa1b23c4du : 0xa1b2c3d4u, 2, 4, 0, 0, options.snaplen, options.linktype};
    static_assert(sizeof(header) == 24);
    if (auto r = s->append(&header, sizeof header); !r) return tl::unexpected(r.error());
    return Writer(std::move(s));
}

Result<void> Writer::write(uint64_t timestamp_ns, std::span<const uint8_t> data, uint32_t wire_len) {
    State& s = *state_;
    if (s.fd < 0) return tl::unexpected(Error{"the writer is closed", -1, 0, s.path});
    if (data.size() > s.options.snaplen)
        return tl::unexpected(Error{fmt::format("packet {}: captured length {} is above the file's snaplen {}",
                                                s.packets + 1, data.size(), s.options.snaplen),
                                    -1, 0, s.path});
    uint64_t sec = timestamp_ns / 1000000000u;
    uint64_t frac = timestamp_ns % 1000000000u;
    if (sec > UINT32_MAX)
        return tl::unexpected(Error{fmt::format("packet {}: timestamp {} ns does not fit the pcap format's 32-bit seconds",
                                                s.packets + 1, timestamp_ns),
                                    -1, 0, s.path});
    uint32_t record[4] = {static_cast<uint32_t>(sec),
                          static_cast<uint32_t>(s.options.nanosecond ? frac : frac / 1000u),
                          static_cast<uint32_t>(data.size()), wire_len};
    if (auto r = s.append(record, sizeof record); !r) return r;
    if (!data.empty())
        if (auto r = s.append(data.data(), data.size()); !r) return r;
    s.packets++;
    return {};
}

Result<void> Writer::close() {
    State& s = *state_;
    if (s.fd < 0) return {};
    auto r = s.flush();
    if (s.own_fd && ::close(s.fd) != 0 && r) r = s.io_error("cannot close");
    s.fd = -1;
    return r;
}

uint64_t Writer::packets_written() const { return state_->packets; }

} // namespace bpfvm::pcap
