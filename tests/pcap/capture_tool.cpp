// pcap_capture_tool gen PATH COUNT [SEED]: writes the generated test capture.
// pcap_capture_tool count PATH: reads a capture ("-": standard input) with
// bpfvm's reader and prints the number of packets and the link type.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bpfvm/pcap.h"
#include "capture_generator.h"

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "gen" && (argc == 4 || argc == 5)) {
        uint64_t seed = argc == 5 ? std::strtoull(argv[4], nullptr, 10) : 1;
        auto r = bpfvm::pcaptest::write_capture(argv[2], std::strtoull(argv[3], nullptr, 10), seed);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
            return 1;
        }
        return 0;
    }
    if (mode == "count" && argc == 3) {
        auto r = bpfvm::pcap::Reader::open(argv[2]);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
            return 1;
        }
        bpfvm::pcap::PacketView p;
        uint64_t n = 0;
        while (r->next(p)) n++;
        if (r->error()) {
            std::fprintf(stderr, "%s\n", r->error()->to_string().c_str());
            return 1;
        }
        std::printf("%llu packets, linktype %u\n", static_cast<unsigned long long>(n), r->linktype());
        return 0;
    }
    std::fprintf(stderr, "usage: %s gen PATH COUNT [SEED] | count PATH\n", argv[0]);
    return 2;
}
