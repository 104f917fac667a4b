// Shared by the map tests: a pin root of the test's own, spec shorthands.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpfvm/map.h"

namespace bpfvm::testing {

// A fresh pin root under /dev/shm, removed at the end.
struct PinRoot {
    PinRoot() {
        static int n = 0;
        path = "/dev/shm/bpfvm-maps-test-" + std::to_string(getpid()) + "-" + std::to_string(n++);
        std::filesystem::create_directories(path);
    }
    ~PinRoot() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    MapOptions options(uint32_t nr_cpus = 4) const {
        MapOptions o;
        o.pin_root = path;
        o.nr_cpus = nr_cpus;
        return o;
    }
    std::string path;
};

inline MapSpec spec(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0,
                    const std::string& name = "m") {
    MapSpec s;
    s.type = type;
    s.key_size = key_size;
    s.value_size = value_size;
    s.max_entries = max_entries;
    s.map_flags = flags;
    s.name = name;
    return s;
}

// Creates a map or fails the test with the error.
inline std::shared_ptr<Map> make(const MapSpec& s, const MapOptions& o) {
    auto m = Map::create(s, o);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
    return m ? *m : nullptr;
}

// The error message of a failed create ("" if it succeeded).
inline std::string create_error(const MapSpec& s, const MapOptions& o) {
    auto m = Map::create(s, o);
    return m ? std::string() : m.error().message;
}

template <typename T> T at(const std::vector<unsigned char>& buf, size_t i) {
    T v;
    memcpy(&v, buf.data() + i * sizeof(T), sizeof(T));
    return v;
}

} // namespace bpfvm::testing
