// The bpfvm prog/map/object/trace commands, run as the built binary (each a
// process of its own, sharing this test's pin root through BPFVM_PIN_ROOT).
#include <linux/bpf.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "runtime_testing.h"

namespace bpfvm::runtimetest {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::shell_quote;

const std::string kBinary = std::string(BPFVM_BINARY_DIR) + "/tools/bpfvm/bpfvm";

CommandResult bpfvm(const std::string& args) { return testing::run_command(shell_quote(kBinary) + " " + args); }

json parse(const CommandResult& r) {
    try {
        return json::parse(r.out);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON: " << r.out << " (" << e.what() << ")";
        return json();
    }
}

std::string obj(const std::string& name) { return shell_quote(object_path(name)); }

class CommandTest : public ::testing::Test {
protected:
    void SetUp() override { clean(); }
    void TearDown() override { clean(); }
    static void clean() {
        for (const char* p : {"shared_counts", "prog_add", "cm", "cm2", "cq", "maps/counts", "maps/stats",
                              "maps/xdp_full.data", "maps/xdp_full.rodata", "maps/xdp_full.bss", "xdp_pin"})
            (void)unpin(p);
        std::remove((pin_root() + "/maps").c_str());
    }
    std::string write_ctx(const std::string& name, const std::vector<uint8_t>& bytes) {
        std::string path = dir.file(name);
        std::ofstream f(path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        return path;
    }
    testing::TempDir dir;
};

std::vector<uint8_t> xdp_ctx(uint32_t ifindex, uint32_t queue) {
    struct xdp_md md {};
    md.ingress_ifindex = ifindex;
    md.rx_queue_index = queue;
    const auto* p = reinterpret_cast<const uint8_t*>(&md);
    return {p, p + sizeof md};
}

TEST_F(CommandTest, ObjectShowListsProgramsMapsSectionsAndBtf) {
    auto r = bpfvm("object show " + obj("xdp_full"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("  xdp_count: xdp  section xdp  72 insns"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  counts: hash  key 4B  value 8B  max_entries 16  flags 0x0  (btf, section .maps)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("xdp_full.rodata: array  key 4B  value 4B  max_entries 1  flags 0x480  (rodata"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("btf: "), std::string::npos);

    auto j = parse(bpfvm("object show -j " + obj("tailcall")));
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["license"], "GPL");
    EXPECT_EQ(j["programs"].size(), 7u);
    std::set<std::string> names;
    for (const auto& p : j["programs"]) {
        names.insert(p["name"].get<std::string>());
        EXPECT_EQ(p["type"], "xdp");
        EXPECT_EQ(p["section"], "xdp");
    }
    EXPECT_EQ(names, (std::set<std::string>{"chain_a", "chain_b", "chain_c", "missing", "from_subprogram",
                                            "self_loop", "self_entry"}));
    EXPECT_EQ(j["maps"][0]["name"], "jmp_table");
    EXPECT_EQ(j["maps"][0]["type"], "prog_array");
    EXPECT_EQ(j["maps"][0]["initial_slots"][0]["target"], "chain_b");
    EXPECT_TRUE(j["btf"]["present"]);
    EXPECT_GT(j["btf"]["line_info"].get<int>(), 0);

    auto bad = bpfvm("object show /nonexistent.o");
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("/nonexistent.o"), std::string::npos) << bad.err;
}

TEST_F(CommandTest, ProgRunRunsAProgramOfAnObjectOnTheDataIn) {
    std::string ctx = write_ctx("ctx", xdp_ctx(7, 5));
    auto r = bpfvm("prog run " + obj("xdp_full") + " --name xdp_count --data-in " + shell_quote(ctx));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("Return value: 2, duration: ", 0), 0u) << r.out;
    auto even = write_ctx("even", xdp_ctx(4, 0));
    for (const char* engine : {"", "--interpreter", "--fast", "--interpreter --fast"}) {
        auto j = parse(bpfvm("prog run " + obj("xdp_full") + " --section xdp -j --repeat 3 " + engine +
                             " --data-in " + shell_quote(even)));
        EXPECT_EQ(j["retval"], XDP_DROP) << engine;
        EXPECT_EQ(j["repeat"], 3) << engine;
    }
    // A tail call chain from the command line.
    auto tc = write_ctx("one", {1, 0, 0, 0});
    auto t = parse(bpfvm("prog run " + obj("tailcall") + " --name chain_a -j --data-in " + shell_quote(tc)));
    EXPECT_EQ(t["retval"], 43);
}

TEST_F(CommandTest, ProgRunReportsLoadAndRunErrors) {
    auto r = bpfvm("prog run " + obj("unknown_helper"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("calls helper bpf_skb_store_bytes (9), which bpfvm does not provide"), std::string::npos)
        << r.err;
    auto none = bpfvm("prog run " + obj("xdp_full") + " --name nosuch");
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("no program named nosuch"), std::string::npos) << none.err;
    // The checked mode stops a run that reads past an empty context.
    auto empty = bpfvm("prog run " + obj("xdp_full"));
    EXPECT_EQ(empty.exit_code, 1);
    EXPECT_NE(empty.err.find("program xdp_count: instruction 1: invalid read of 4 bytes"), std::string::npos)
        << empty.err;
}

TEST_F(CommandTest, APinnedProgramRunsInLaterProcessesThatShareItsPinnedMap) {
    auto load = bpfvm("prog load " + obj("pinned") + " prog_add");
    ASSERT_EQ(load.exit_code, 0) << load.err;
    // The process that loaded it is gone; the pins are not.
    auto five = write_ctx("five", {5, 0, 0, 0, 0, 0, 0, 0});
    auto r1 = bpfvm("prog run prog_add --data-in " + shell_quote(five));
    ASSERT_EQ(r1.exit_code, 0) << r1.err;
    EXPECT_EQ(r1.out.rfind("Return value: 5,", 0), 0u) << r1.out;
    auto r2 = parse(bpfvm("prog run prog_add -j --data-in " + shell_quote(five)));
    EXPECT_EQ(r2["retval"], 10);
    // This process sees what the commands' programs wrote, and they see this process's update.
    auto m = Map::open_pinned("shared_counts");
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_EQ((lookup<uint64_t, uint32_t>(**m, 1)), 10u);
    uint32_t key = 1;
    uint64_t v = 100;
    ASSERT_EQ((*m)->sys_update(&key, &v, BPF_ANY), 0);
    EXPECT_EQ(parse(bpfvm("prog run prog_add -j --data-in " + shell_quote(five)))["retval"], 105);

    auto show = parse(bpfvm("prog show -j"));
    // bpftool's place for the output flags, before the command, works too.
    EXPECT_EQ(parse(bpfvm("-j prog show")), show);
    EXPECT_EQ(parse(bpfvm("-p prog show")), show);
    ASSERT_TRUE(show.is_array());
    ASSERT_EQ(show.size(), 1u);
    EXPECT_EQ(show[0]["name"], "add");
    EXPECT_EQ(show[0]["type"], "xdp");
    EXPECT_EQ(show[0]["pinned"], pin_root() + "/prog_add");
    EXPECT_EQ(show[0]["object"], object_path("pinned"));
    EXPECT_EQ(show[0]["engine"], "jit");
    EXPECT_EQ(show[0]["checked"], true);
    EXPECT_EQ(show[0]["maps"][0]["name"], "shared_counts");
    EXPECT_EQ(show[0]["maps"][0]["pinned"], pin_root() + "/shared_counts");
    auto plain = bpfvm("prog show prog_add");
    EXPECT_EQ(plain.out.rfind(pin_root() + "/prog_add: xdp  name add  section xdp\n", 0), 0u) << plain.out;

    // A program pin is not a map.
    auto notmap = bpfvm("map dump prog_add");
    EXPECT_EQ(notmap.exit_code, 1);
}

TEST_F(CommandTest, ProgLoadPinsMapsWithPinmaps) {
    auto r = bpfvm("prog load " + obj("xdp_full") + " xdp_pin --pinmaps maps");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ctx = write_ctx("ctx", xdp_ctx(9, 4));
    EXPECT_EQ(parse(bpfvm("prog run xdp_pin -j --data-in " + shell_quote(ctx)))["retval"], XDP_PASS);
    EXPECT_EQ(parse(bpfvm("prog run xdp_pin -j --data-in " + shell_quote(ctx)))["retval"], XDP_PASS);
    auto d = bpfvm("map lookup maps/counts key 9 0 0 0");
    ASSERT_EQ(d.exit_code, 0) << d.err;
    EXPECT_EQ(d.out, "key: 09 00 00 00  value: 02 00 00 00 00 00 00 00\n");
    // stats[0] = 2 runs * (0+1+2+3) * 3
    EXPECT_EQ(bpfvm("map lookup pinned maps/stats key 0 0 0 0").out,
              "key: 00 00 00 00  value: 24 00 00 00 00 00 00 00\n");
}

TEST_F(CommandTest, ProgDumpXlatedShowsSourceLinesAndMapIds) {
    auto r = bpfvm("prog dump xlated " + obj("xdp_full") + " linum");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("xdp_count:\n; int xdp_count(struct xdp_md *ctx) [file:", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("; __u32 key = ctx->ingress_ifindex; [file:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("xdp_full.c line_num:47 line_col:22]\n   1: (61) r1 = *(u32 *)(r6 + 12)\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("   7: (18) r1 = map[id:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(85) call 181"), std::string::npos) << r.out; // bpf_loop
    EXPECT_NE(r.out.find("\nscale:\n"), std::string::npos) << r.out;  // the subprogram, from func info
    auto plain = bpfvm("prog dump xlated " + obj("xdp_full"));
    EXPECT_EQ(plain.out.find("[file:"), std::string::npos);
    EXPECT_NE(plain.out.find("; __u32 key = ctx->ingress_ifindex;\n"), std::string::npos) << plain.out;
    auto j = parse(bpfvm("prog dump xlated " + obj("xdp_full") + " -j"));
    EXPECT_EQ(j["name"], "xdp_count");
    EXPECT_EQ(j["insns"][1]["disasm"], "r1 = *(u32 *)(r6 + 12)");
}

TEST_F(CommandTest, ProgDumpJitedShowsNativeCode) {
    auto r = bpfvm("prog dump jited " + obj("tailcall") + " --name chain_c");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("bytes of x86-64 code (checked mode)"), std::string::npos) << r.out;
    auto interp = bpfvm("prog dump jited " + obj("tailcall") + " --name chain_c --interpreter");
    EXPECT_EQ(interp.exit_code, 1);
    EXPECT_NE(interp.err.find("runs on the interpreter"), std::string::npos) << interp.err;
}

TEST_F(CommandTest, MapCommandsOnAPinnedMap) {
    ASSERT_EQ(bpfvm("map create cm type hash key 4 value 8 entries 4 name cm").exit_code, 0);
    EXPECT_EQ(bpfvm("map update cm key 0x01 0 0 0 value hex 05 00 00 00 00 00 00 00").exit_code, 0);
    EXPECT_EQ(bpfvm("map update pinned cm key 2 0 0 0 value 7 0 0 0 0 0 0 0 noexist").exit_code, 0);
    auto again = bpfvm("map update cm key 2 0 0 0 value 7 0 0 0 0 0 0 0 noexist");
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_EQ(again.err, "bpfvm: map update: File exists (EEXIST)\n");
    auto exist = bpfvm("map update cm key 3 0 0 0 value 7 0 0 0 0 0 0 0 exist");
    EXPECT_EQ(exist.err, "bpfvm: map update: No such file or directory (ENOENT)\n");

    EXPECT_EQ(bpfvm("map lookup cm key 1 0 0 0").out, "key: 01 00 00 00  value: 05 00 00 00 00 00 00 00\n");
    auto missing = bpfvm("map lookup cm key 9 0 0 0");
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.err, "bpfvm: map lookup: key 09 00 00 00 not found\n");
    auto j = parse(bpfvm("map lookup cm key 1 0 0 0 -j"));
    EXPECT_EQ(j["value"][0], "0x05");

    auto dump = parse(bpfvm("map dump cm -j"));
    ASSERT_EQ(dump.size(), 2u);
    auto plain = bpfvm("map dump cm");
    EXPECT_NE(plain.out.find("Found 2 elements\n"), std::string::npos) << plain.out;

    auto first = parse(bpfvm("map getnext cm -j"));
    ASSERT_TRUE(first["next_key"].is_array());
    auto second = parse(bpfvm("map getnext cm key " + std::string(first["next_key"][0]) + " 0 0 0 -j"));
    EXPECT_NE(second["next_key"], first["next_key"]);

    EXPECT_EQ(bpfvm("map delete cm key 1 0 0 0").exit_code, 0);
    EXPECT_EQ(bpfvm("map delete cm key 1 0 0 0").err, "bpfvm: map delete: key 01 00 00 00 not found\n");

    // Byte errors name what is wrong.
    EXPECT_EQ(bpfvm("map update cm key 1 0 0 value 1").err,
              "bpfvm: map update: key has 3 bytes, the map's key_size is 4\n");
    EXPECT_EQ(bpfvm("map lookup cm key 1 0 0 300").err,
              "bpfvm: map lookup: key: \"300\" is not a byte (0..255, or 0x00..0xff)\n");

    // A second pin; show; freeze.
    EXPECT_EQ(bpfvm("map pin cm cm2").exit_code, 0);
    auto show = parse(bpfvm("map show -j"));
    ASSERT_EQ(show.size(), 2u);
    EXPECT_EQ(show[0]["pinned"], pin_root() + "/cm");
    EXPECT_EQ(show[0]["type"], "hash");
    EXPECT_EQ(show[0]["bytes_value"], 8);
    EXPECT_EQ(bpfvm("map show cm").out,
              pin_root() + "/cm: hash  name cm  flags 0x0\n\tkey 4B  value 8B  max_entries 4\n");
    EXPECT_EQ(bpfvm("map freeze cm2").exit_code, 0);
    EXPECT_EQ(bpfvm("map update cm key 5 0 0 0 value 1 0 0 0 0 0 0 0").err,
              "bpfvm: map update: Operation not permitted (EPERM)\n");

    // Queues have no keys: update pushes.
    ASSERT_EQ(bpfvm("map create cq type queue key 0 value 4 entries 2 name cq").exit_code, 0);
    EXPECT_EQ(bpfvm("map update cq value 1 2 3 4").exit_code, 0);
    EXPECT_EQ(bpfvm("map dump cq").err, "bpfvm: map dump: queue maps have no keys to iterate\n");

    auto bad = bpfvm("map create cq type nosuch key 4 value 4 entries 1 name x");
    EXPECT_EQ(bad.err, "bpfvm: map create: unknown map type \"nosuch\"\n");
    auto invalid = bpfvm("map create cx type hash key 0 value 4 entries 1 name x");
    EXPECT_EQ(invalid.exit_code, 1);
    EXPECT_NE(invalid.err.find("key_size must be > 0"), std::string::npos) << invalid.err;
}

TEST_F(CommandTest, TraceReadsWhatProgramsPrint) {
    auto r = bpfvm("prog run " + obj("trace") + " -j");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(parse(r)["retval"], 3);
    auto t = bpfvm("trace -n 1 -t 5000");
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_NE(t.out.find(": bpf_trace_printk: hello from bpfvm 42\n"), std::string::npos) << t.out;
}

} // namespace
} // namespace bpfvm::runtimetest
