// Pins: maps pinned by name shared between processes, program pins loaded
// again in another process, and what is refused.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>

#include "runtime_testing.h"

namespace bpfvm::runtimetest {
namespace {

// Runs `child` in a forked process; returns its exit status (or -1).
int in_child(const std::function<int()>& child) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        int code = 100;
        try {
            code = child();
        } catch (...) {
        }
        _exit(code);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

std::string pin_path(const std::string& name) { return pin_root() + "/" + name; }

// Runs program `add` of a fresh load of pinned.o with `delta`: its result, or
// a value above 255 on failure.
uint64_t run_add(const std::shared_ptr<LoadedObject>& obj, uint64_t delta) {
    uint64_t ctx[2] = {delta, 0};
    auto r = obj->find_program("add")->run(ctx, sizeof(ctx));
    return r ? *r : 1000;
}

class PinTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* p : {"shared_counts", "prog_add", "priv", "prog_add2"}) (void)unpin(p);
    }
    void TearDown() override { SetUp(); }
};

TEST_F(PinTest, AMapPinnedByNameIsSharedWithOtherProcessesAndOutlivesThem) {
    // The child creates and pins the map, adds 5, and exits.
    EXPECT_EQ(in_child([] {
                  auto obj = LoadedObject::load(object_path("pinned"));
                  if (!obj || (*obj)->find_loaded_map("shared_counts")->reused) return 101;
                  return static_cast<int>(run_add(*obj, 5));
              }),
              5);
    // The pin outlived the child; this process reuses the map.
    auto obj = load("pinned");
    ASSERT_TRUE(obj);
    const LoadedMap* m = obj->find_loaded_map("shared_counts");
    EXPECT_TRUE(m->reused);
    EXPECT_EQ(m->pin_path, pin_path("shared_counts"));
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*m->map, 1)), 5u);
    EXPECT_EQ(run_add(obj, 2), 7u);
    // Another child sees this process's update, and this process the child's.
    EXPECT_EQ(in_child([] {
                  auto o = LoadedObject::load(object_path("pinned"));
                  return o ? static_cast<int>(run_add(*o, 10)) : 102;
              }),
              17);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*m->map, 1)), 17u);
    // The map that is not pinned is this load's own.
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("private_count"), 0)), 1u);
}

TEST_F(PinTest, APinnedMapThatDoesNotMatchIsRefused) {
    MapSpec spec;
    spec.type = BPF_MAP_TYPE_HASH;
    spec.key_size = 4;
    spec.value_size = 4; // the object wants 8
    spec.max_entries = 8;
    auto m = Map::create(spec);
    ASSERT_TRUE(m);
    ASSERT_TRUE((*m)->pin("shared_counts"));
    auto obj = LoadedObject::load(object_path("pinned"));
    ASSERT_FALSE(obj);
    EXPECT_EQ(obj.error().to_string(), "map shared_counts (BTF map): cannot reuse the map pinned at " +
                                           pin_path("shared_counts") + ": value_size is 4 there, the object wants 8");
}

TEST_F(PinTest, APinnedProgramIsLoadedAgainInAnotherProcessWithItsPinnedMaps) {
    auto obj = load("pinned", LoadOptions{.engine = EngineKind::Interpreter, .checked = true});
    ASSERT_TRUE(obj);
    ASSERT_TRUE(obj->pin_map("private_count", "priv"));
    auto prog = obj->find_program("add");
    auto pinned = prog->pin("prog_add");
    ASSERT_TRUE(pinned) << pinned.error().to_string();
    auto again = prog->pin("prog_add");
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().to_string().find("the path exists"), std::string::npos);

    auto pin = read_program_pin("prog_add");
    ASSERT_TRUE(pin) << pin.error().to_string();
    EXPECT_EQ(pin->object_path, object_path("pinned"));
    EXPECT_EQ(pin->program, "add");
    EXPECT_EQ(pin->engine, EngineKind::Interpreter);
    EXPECT_TRUE(pin->checked);
    EXPECT_EQ(pin->map_pins.size(), 2u);
    EXPECT_EQ(pin->map_pins["shared_counts"], pin_path("shared_counts"));
    EXPECT_EQ(pin->map_pins["private_count"], pin_path("priv"));
    EXPECT_TRUE(is_program_pin("prog_add"));
    EXPECT_FALSE(is_program_pin("priv"));

    EXPECT_EQ(run_add(obj, 3), 3u);
    // The child loads the pinned program; both maps are shared.
    EXPECT_EQ(in_child([] {
                  std::shared_ptr<LoadedProgram> p;
                  auto o = LoadedObject::open_pinned_program("prog_add", &p);
                  if (!o || !p || p->name() != "add" || p->engine() != EngineKind::Interpreter) return 103;
                  uint64_t ctx[2] = {4, 0};
                  auto r = p->run(ctx, sizeof(ctx));
                  return r ? static_cast<int>(*r) : 104;
              }),
              7);
    EXPECT_EQ((lookup<uint64_t, uint32_t>(*obj->find_map("private_count"), 0)), 2u);
}

TEST_F(PinTest, AProgramPinWhoseMapIsGoneIsRefused) {
    auto obj = load("pinned");
    ASSERT_TRUE(obj);
    ASSERT_TRUE(obj->pin_map("private_count", "priv"));
    ASSERT_TRUE(obj->find_program("add")->pin("prog_add2"));
    ASSERT_TRUE(unpin("priv"));
    std::shared_ptr<LoadedProgram> p;
    auto o = LoadedObject::open_pinned_program("prog_add2", &p);
    ASSERT_FALSE(o);
    EXPECT_NE(o.error().to_string().find("map private_count was pinned at " + pin_path("priv")), std::string::npos)
        << o.error().to_string();
}

TEST_F(PinTest, AFileThatIsNotAProgramPinIsRefused) {
    {
        std::ofstream f(pin_path("prog_add"));
        f << "hello\n";
    }
    auto pin = read_program_pin("prog_add");
    ASSERT_FALSE(pin);
    EXPECT_EQ(pin.error().to_string(),
              pin_path("prog_add") + ": not a program pin (the first line is not \"bpfvm program pin 1\")");
    {
        std::ofstream f(pin_path("prog_add"));
        f << "bpfvm program pin 1\nobject /x.o\nprogram p\nengine warp\n";
    }
    pin = read_program_pin("prog_add");
    ASSERT_FALSE(pin);
    EXPECT_EQ(pin.error().to_string(), pin_path("prog_add") + ":4: engine must be jit or interpreter, not \"warp\"");
    std::remove(pin_path("prog_add").c_str());
}

} // namespace
} // namespace bpfvm::runtimetest
