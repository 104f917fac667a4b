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
        if (r.skipped) GTEST_SKIP() << backend_->name() << " backend unavailable: " << *r.skipped;
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
