// Shared by the capture tests: the captures Debian packages ship, and the
// comparison of bpfvm's reader with libpcap's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "bpfvm/pcap.h"

namespace bpfvm::pcaptest {

// Real captures from Debian packages (read where they are installed, not
// copied): python3-dpkt's examples and gopacket's test captures.
inline std::vector<std::string> debian_captures() {
    std::vector<std::string> out;
    const char* dirs[] = {
        "/usr/share/doc/python3-dpkt/examples/data",
        "/usr/share/gocode/src/github.com/google/gopacket/pcap",
        "/usr/share/gocode/src/github.com/google/gopacket/pcapgo/tests/le",
        "/usr/share/gocode/src/github.com/google/gopacket/pcapgo/tests/be",
    };
    for (const char* d : dirs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(d, ec)) continue;
        std::vector<std::string> files;
        for (const auto& e : std::filesystem::directory_iterator(d, ec)) {
            auto ext = e.path().extension();
            if (ext == ".pcap" || ext == ".pcapng") files.push_back(e.path().string());
        }
        std::sort(files.begin(), files.end());
        out.insert(out.end(), files.begin(), files.end());
    }
    return out;
}

inline std::string hex(const uint8_t* p, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; i++) s += fmt::format("{}{:02x}", i && i % 16 == 0 ? "\n  " : (i ? " " : "  "), p[i]);
    return s;
}

struct ReaderComparison {
    bool libpcap_opened = false;
    std::string libpcap_error; // libpcap's error (open or read), if any
    std::string bpfvm_error;   // bpfvm's, if any
    uint64_t packets = 0;      // packets both read and found equal
    std::string difference;    // the first difference, empty if none
    // libpcap stopped at an interface whose link type or snaplen differ from
    // the first one's (it cannot hand those out); bpfvm read on.
    bool libpcap_stopped_at_interface = false;
    uint64_t bpfvm_packets_after = 0; // the packets bpfvm read after that point
};

// Reads `path` with bpfvm's Reader and libpcap's pcap_next_ex (nanosecond
// precision) side by side and compares every packet: timestamp, lengths,
// link type, bytes; and whether each ends with an error.
inline ReaderComparison compare_with_libpcap(const std::string& path) {
    ReaderComparison c;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    auto reader = pcap::Reader::open(path);
    if (!reader) c.bpfvm_error = reader.error().to_string();
    if (!p) {
        c.libpcap_error = errbuf;
        return c;
    }
    c.libpcap_opened = true;
    if (!reader) {
        c.difference = fmt::format("libpcap opens the file, bpfvm does not: {}", c.bpfvm_error);
        pcap_close(p);
        return c;
    }
    for (uint64_t n = 1;; n++) {
        pcap_pkthdr* h = nullptr;
        const u_char* data = nullptr;
        int rc = pcap_next_ex(p, &h, &data);
        pcap::PacketView v;
        bool ours = reader->next(v);
        if (!ours && reader->error()) c.bpfvm_error = reader->error()->to_string();
        if (rc == -1) c.libpcap_error = pcap_geterr(p);
        if (rc == -1 && c.libpcap_error.find("different from the") != std::string::npos) {
            c.libpcap_stopped_at_interface = true;
            if (ours) {
                c.bpfvm_packets_after++;
                while (reader->next(v)) c.bpfvm_packets_after++;
                if (reader->error()) c.bpfvm_error = reader->error()->to_string();
            }
            break;
        }
        if (rc != 1 || !ours) {
            if ((rc == 1) != ours)
                c.difference = fmt::format("packet {}: libpcap {}, bpfvm {}", n,
                                           rc == 1 ? "reads a packet" : (rc == -2 ? "ends" : "fails: " + c.libpcap_error),
                                           ours ? "reads a packet" : (c.bpfvm_error.empty() ? "ends" : "fails: " + c.bpfvm_error));
            else if ((rc == -1) != !c.bpfvm_error.empty())
                c.difference = fmt::format("after packet {}: libpcap {}, bpfvm {}", n - 1,
                                           rc == -1 ? "fails: " + c.libpcap_error : "ends",
                                           c.bpfvm_error.empty() ? "ends" : "fails: " + c.bpfvm_error);
            break;
        }
        uint64_t ts = uint64_t(int64_t(h->ts.tv_sec)) * 1000000000u + uint64_t(h->ts.tv_usec);
        // LINKTYPE_ and DLT_ values are the same below 100 (libpcap maps the others).
        int dlt = pcap_datalink(p);
        std::string why;
        if (ts != v.timestamp_ns) why = fmt::format("timestamp libpcap {} bpfvm {}", ts, v.timestamp_ns);
        else if (h->caplen != v.caplen) why = fmt::format("caplen libpcap {} bpfvm {}", h->caplen, v.caplen);
        else if (h->len != v.wire_len) why = fmt::format("wire length libpcap {} bpfvm {}", h->len, v.wire_len);
        else if (std::memcmp(data, v.data, v.caplen) != 0) why = "bytes differ";
        else if (v.linktype < 100 && static_cast<uint32_t>(dlt) != v.linktype)
            why = fmt::format("link type libpcap {} bpfvm {}", dlt, v.linktype);
        if (!why.empty()) {
            c.difference = fmt::format("packet {}: {}\n libpcap:\n{}\n bpfvm:\n{}", n, why, hex(data, h->caplen),
                                       hex(v.data, v.caplen));
            break;
        }
        c.packets++;
    }
    pcap_close(p);
    return c;
}

// How many packets the generated capture has: $BPFVM_PCAP_PACKETS, else
// 100000 (20000 in sanitizer builds).
inline uint64_t generated_packet_count() {
    if (const char* s = std::getenv("BPFVM_PCAP_PACKETS"); s && *s) return std::strtoull(s, nullptr, 10);
#ifdef BPFVM_PCAP_SANITIZE
    return 20000;
#else
    return 100000;
#endif
}

} // namespace bpfvm::pcaptest
