// The map and helper conformance suite: every case of cases/*.json on every
// backend listed in backends.cpp, one test each, named MapConf_<backend>.<case>.
// MAPCONF_BACKENDS=kernel,... in the environment picks backends.
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "backend.h"
#include "cases.h"

namespace bpfvm::mapconf {
namespace {

class CaseTest : public testing::Test {
public:
    CaseTest(std::shared_ptr<MapConfBackend> backend, Case c) : backend_(std::move(backend)), case_(std::move(c)) {}

    void TestBody() override {
        if (!case_.doc.empty()) RecordProperty("doc", case_.doc);
        CaseResult r = run_case(*backend_, case_, MAPCONF_OBJECTS_DIR);
        if (r.skipped) GTEST_SKIP() << backend_->name() << " backend " << *r.skipped;
        for (const std::string& f : r.failures) ADD_FAILURE() << case_.file << ": " << case_.name << ": " << f;
    }

private:
    std::shared_ptr<MapConfBackend> backend_;
    Case case_;
};

bool wanted(const std::string& backend) {
    const char* env = std::getenv("MAPCONF_BACKENDS");
    if (env == nullptr || *env == '\0') return true;
    std::stringstream list(env);
    std::string name;
    while (std::getline(list, name, ','))
        if (name == backend) return true;
    return false;
}

} // namespace

// The value syntax itself (no backend needed).
TEST(MapConfFormat, TokensConcatenateLittleEndian) {
    auto b = parse_bytes(nlohmann::json("u8:1 u16:0x0203 u32:4 i8:-1 be16:0x0102 hex:aabb str:hi zero:2"));
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ(hex(*b), "01030204000000ff0102aabb68690000");
    auto a = parse_bytes(nlohmann::json::array({"str:a b", "i64:-2", "pad:12"}));
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(hex(*a), "612062feffffffffffffff00");
}

TEST(MapConfFormat, BadTokensAreNamed) {
    auto e1 = parse_bytes(nlohmann::json("u8:256"));
    ASSERT_FALSE(e1);
    EXPECT_EQ(e1.error(), "token 'u8:256': does not fit in 1 bytes");
    auto e2 = parse_bytes(nlohmann::json("hex:abc"));
    ASSERT_FALSE(e2);
    EXPECT_EQ(e2.error(), "'hex:abc': an odd number of hex digits");
    auto e3 = parse_bytes(nlohmann::json("f32:1"));
    ASSERT_FALSE(e3);
    EXPECT_EQ(e3.error(), "token 'f32:1': unknown type 'f32'");
    auto e4 = parse_bytes(nlohmann::json("u32:1 pad:2"));
    ASSERT_FALSE(e4);
    EXPECT_EQ(e4.error(), "'pad:2': the value already has 4 bytes");
    auto e5 = parse_bytes(nlohmann::json("12"));
    ASSERT_FALSE(e5);
    EXPECT_EQ(e5.error(), "token '12' has no type (u32:1, hex:00ff, ...)");
}

TEST(MapConfFormat, EveryCaseFileLoads) {
    auto cases = load_cases(MAPCONF_CASES_DIR);
    ASSERT_TRUE(cases) << cases.error();
    EXPECT_GE(cases->size(), 60u);
}

} // namespace bpfvm::mapconf

int main(int argc, char** argv) {
    using namespace bpfvm::mapconf;
    testing::InitGoogleTest(&argc, argv);
    const char* dir = std::getenv("MAPCONF_CASES_DIR");
    auto cases = load_cases(dir ? dir : MAPCONF_CASES_DIR);
    if (!cases) {
        std::cerr << "mapconf: " << cases.error() << "\n";
        return 2;
    }
    for (const BackendEntry& entry : backends()) {
        if (!wanted(entry.name)) continue;
        std::shared_ptr<MapConfBackend> backend = entry.make();
        std::string suite = "MapConf_" + entry.name;
        for (const Case& c : *cases) {
            testing::RegisterTest(suite.c_str(), c.name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                                  [backend, c]() -> testing::Test* { return new CaseTest(backend, c); });
        }
    }
    return RUN_ALL_TESTS();
}
