// Shared by the runtime tests: a pin root of the test process's own, the
// engine configurations every program runs on, and the test objects.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "bpfvm/runtime.h"
#include "process.h"

namespace bpfvm::runtimetest {

class PinRoot : public ::testing::Environment {
public:
    void SetUp() override {
        dir = std::make_unique<testing::TempDir>();
        setenv("BPFVM_PIN_ROOT", dir->path.c_str(), 1);
    }
    void TearDown() override { dir.reset(); }
    static inline std::unique_ptr<testing::TempDir> dir;
};
inline ::testing::Environment* const kPinRootEnvironment = ::testing::AddGlobalTestEnvironment(new PinRoot);

inline std::string object_path(const std::string& name) { return std::string(RUNTIME_TEST_OBJECTS) + "/" + name + ".o"; }

struct EngineConfig {
    EngineKind engine;
    bool checked;
};
inline std::string config_name(const ::testing::TestParamInfo<EngineConfig>& info) {
    return std::string(info.param.engine == EngineKind::Jit ? "Jit" : "Interpreter") +
           (info.param.checked ? "Checked" : "Fast");
}
inline auto all_engines() {
    return ::testing::Values(EngineConfig{EngineKind::Jit, true}, EngineConfig{EngineKind::Jit, false},
                             EngineConfig{EngineKind::Interpreter, true},
                             EngineConfig{EngineKind::Interpreter, false});
}

inline LoadOptions options_for(const EngineConfig& c) {
    LoadOptions o;
    o.engine = c.engine;
    o.checked = c.checked;
    return o;
}

// Loads `name`.o or fails the test.
inline std::shared_ptr<LoadedObject> load(const std::string& name, const LoadOptions& options = {}) {
    auto obj = LoadedObject::load(object_path(name), options);
    EXPECT_TRUE(obj.has_value()) << (obj ? "" : obj.error().to_string());
    return obj ? *obj : nullptr;
}

template <typename V, typename K> V lookup(Map& map, K key) {
    V value{};
    long rc = map.sys_lookup(&key, &value);
    EXPECT_EQ(rc, 0) << "lookup in " << map.name();
    return value;
}

} // namespace bpfvm::runtimetest
