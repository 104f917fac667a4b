// Map and program type names as bpftool prints them (libbpf's tables).
#include <bpf/libbpf.h>

#include <fmt/format.h>

#include "bpfvm/runtime.h"

namespace bpfvm {

std::string map_type_name(uint32_t type) {
    const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type));
    return s ? std::string(s) : fmt::format("type {}", type);
}

std::optional<uint32_t> map_type_from_name(std::string_view name) {
    for (uint32_t t = 0; t < 64; t++) {
        const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(t));
        if (s && name == s) return t;
    }
    return std::nullopt;
}

std::string prog_type_name(uint32_t type) {
    const char* s = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(type));
    return s ? std::string(s) : fmt::format("type {}", type);
}

} // namespace bpfvm
