// The ELF loader on clang-compiled objects (data/*.c): programs and their
// types, map specifications, lddw relocations, subprogram linking, line info,
// and the errors for malformed objects (built by patching good ones).
#include <elf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "bpfvm/elf.h"
#include "process.h"

using namespace bpfvm;

namespace {

std::string object_path(const std::string& name) { return std::string(ELF_TEST_OBJECTS) + "/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ElfObject open_object(const std::string& name) {
    auto obj = ElfObject::open(object_path(name));
    if (!obj) ADD_FAILURE() << obj.error().to_string();
    return obj ? std::move(*obj) : ElfObject{};
}

// The 1-based line of data/full.c that ends with "// LINE <marker>".
int source_line(const std::string& marker) {
    std::ifstream in(std::string(ELF_TEST_SOURCES) + "/full.c");
    std::string line;
    for (int n = 1; std::getline(in, line); n++)
        if (line.ends_with("// LINE " + marker)) return n;
    ADD_FAILURE() << "no marker " << marker;
    return -1;
}

const ElfProgram* find_program(const ElfObject& obj, const std::string& name) {
    for (const auto& p : obj.programs())
        if (p.name == name) return &p;
    return nullptr;
}

size_t map_index(const ElfObject& obj, const std::string& name) {
    for (size_t i = 0; i < obj.maps().size(); i++)
        if (obj.maps()[i].name == name) return i;
    ADD_FAILURE() << "no map " << name;
    return SIZE_MAX;
}

// An object's bytes, with the section headers and symbols found for patching.
struct Image {
    std::vector<uint8_t> bytes;

    explicit Image(const std::string& name) : bytes(read_bytes(object_path(name))) {}
    Elf64_Ehdr* ehdr() { return reinterpret_cast<Elf64_Ehdr*>(bytes.data()); }
    Elf64_Shdr* shdr(size_t i) { return reinterpret_cast<Elf64_Shdr*>(bytes.data() + ehdr()->e_shoff) + i; }
    Elf64_Shdr* section(const std::string& name) {
        const char* names = reinterpret_cast<const char*>(bytes.data() + shdr(ehdr()->e_shstrndx)->sh_offset);
        for (size_t i = 0; i < ehdr()->e_shnum; i++)
            if (name == names + shdr(i)->sh_name) return shdr(i);
        ADD_FAILURE() << "no section " << name;
        return shdr(0);
    }
    uint8_t* data(const std::string& name) { return bytes.data() + section(name)->sh_offset; }
    Elf64_Sym* symbol(const std::string& name) {
        Elf64_Shdr* symtab = section(".symtab");
        const char* strings = reinterpret_cast<const char*>(bytes.data() + shdr(symtab->sh_link)->sh_offset);
        auto* syms = reinterpret_cast<Elf64_Sym*>(bytes.data() + symtab->sh_offset);
        for (size_t i = 0; i < symtab->sh_size / sizeof(Elf64_Sym); i++)
            if (name == strings + syms[i].st_name) return &syms[i];
        ADD_FAILURE() << "no symbol " << name;
        return syms;
    }
    Elf64_Rel* relocation(const std::string& section_name, size_t i) {
        return reinterpret_cast<Elf64_Rel*>(data(section_name)) + i;
    }
    std::string error(const std::string& name = "patched.o") const {
        auto obj = ElfObject::from_memory(bytes, name);
        if (obj) return "(opened without error)";
        return obj.error().to_string();
    }
};

} // namespace

// ---- The main object ------------------------------------------------------------

TEST(ElfFull, LicenseVersionAndBtf) {
    ElfObject obj = open_object("full.o");
    EXPECT_EQ(obj.license(), "Dual BSD/GPL");
    EXPECT_FALSE(obj.kernel_version().has_value());
    EXPECT_EQ(obj.object_name(), "full");
    ElfBtfSummary btf = obj.btf_summary();
    EXPECT_TRUE(btf.present);
    EXPECT_GT(btf.type_count, 50u);
    EXPECT_GT(btf.string_size, 1000u);
    EXPECT_TRUE(btf.has_ext);
    EXPECT_TRUE(btf.has_line_info());
    // xdp_main, tail_one, tail_two, tc_main, account, add_bytes.
    EXPECT_EQ(btf.func_info_count, 6u);
    EXPECT_NE(obj.btf(), nullptr);
    EXPECT_FALSE(obj.btf_bytes().empty());
    EXPECT_FALSE(obj.btf_ext_bytes().empty());
}

TEST(ElfFull, MapSpecs) {
    ElfObject obj = open_object("full.o");
    std::vector<std::string> names;
    for (const auto& m : obj.maps()) names.push_back(m.name);
    // BTF maps by offset in .maps (clang lays them out in reverse), then global data by section.
    EXPECT_EQ(names, (std::vector<std::string>{"inner_a", "outer", "jumps", "flows", "scratch", "full.data",
                                               "full.rodata", ".data.custom", "full.bss"}));

    const ElfMapSpec* flows = obj.find_map("flows");
    ASSERT_NE(flows, nullptr);
    EXPECT_EQ(flows->kind, ElfMapSpec::Kind::Btf);
    EXPECT_EQ(flows->section, ".maps");
    EXPECT_EQ(flows->type, uint32_t(BPF_MAP_TYPE_HASH));
    EXPECT_EQ(flows->key_size, 12u);
    EXPECT_EQ(flows->value_size, 24u);
    EXPECT_EQ(flows->max_entries, 1024u);
    EXPECT_EQ(flows->map_flags, uint32_t(BPF_F_NO_PREALLOC));
    EXPECT_EQ(flows->pinning, 1u);
    EXPECT_EQ(flows->spin_lock_offset, 8);
    EXPECT_EQ(flows->timer_offset, -1);
    EXPECT_EQ(obj.btf_type_name(flows->btf_key_type_id), "struct flow_key");
    EXPECT_EQ(obj.btf_type_name(flows->btf_value_type_id), "struct flow_stats");
    EXPECT_EQ(obj.btf_type_declaration(flows->btf_value_type_id),
              "struct flow_stats { /* size 24 */\n"
              "\t__u64 packets; /* offset 0 */\n"
              "\tstruct bpf_spin_lock lock; /* offset 8 */\n"
              "\t__u64 bytes; /* offset 16 */\n"
              "};");
    EXPECT_TRUE(flows->initial_slots.empty());
    EXPECT_EQ(flows->inner, nullptr);

    const ElfMapSpec* scratch = obj.find_map("scratch");
    ASSERT_NE(scratch, nullptr);
    EXPECT_EQ(scratch->type, uint32_t(BPF_MAP_TYPE_PERCPU_ARRAY));
    EXPECT_EQ(scratch->key_size, 4u);
    EXPECT_EQ(scratch->value_size, 16u);
    EXPECT_EQ(scratch->max_entries, 4u);
    EXPECT_EQ(scratch->btf_key_type_id, 0u); // sizes only, no types
    EXPECT_EQ(scratch->btf_value_type_id, 0u);
    EXPECT_EQ(scratch->pinning, 0u);
    EXPECT_EQ(scratch->spin_lock_offset, -1);

    const ElfMapSpec* inner_a = obj.find_map("inner_a");
    ASSERT_NE(inner_a, nullptr);
    EXPECT_EQ(inner_a->type, uint32_t(BPF_MAP_TYPE_ARRAY));
    EXPECT_EQ(obj.btf_type_name(inner_a->btf_key_type_id), "__u32");
    EXPECT_EQ(obj.btf_type_name(inner_a->btf_value_type_id), "__u64");
    EXPECT_EQ(inner_a->value_size, 8u);

    const ElfMapSpec* outer = obj.find_map("outer");
    ASSERT_NE(outer, nullptr);
    EXPECT_EQ(outer->type, uint32_t(BPF_MAP_TYPE_ARRAY_OF_MAPS));
    EXPECT_EQ(outer->key_size, 4u);
    EXPECT_EQ(outer->value_size, 4u);
    EXPECT_EQ(outer->max_entries, 2u);
    ASSERT_NE(outer->inner, nullptr);
    EXPECT_EQ(outer->inner->name, "outer.inner");
    EXPECT_EQ(outer->inner->kind, ElfMapSpec::Kind::Inner);
    EXPECT_EQ(outer->inner->type, uint32_t(BPF_MAP_TYPE_ARRAY));
    EXPECT_EQ(outer->inner->key_size, 4u);
    EXPECT_EQ(outer->inner->value_size, 8u);
    EXPECT_EQ(outer->inner->max_entries, 8u);
    ASSERT_EQ(outer->initial_slots.size(), 1u);
    EXPECT_EQ(outer->initial_slots[0].index, 1u);
    EXPECT_EQ(outer->initial_slots[0].target, "inner_a");

    const ElfMapSpec* jumps = obj.find_map("jumps");
    ASSERT_NE(jumps, nullptr);
    EXPECT_EQ(jumps->type, uint32_t(BPF_MAP_TYPE_PROG_ARRAY));
    EXPECT_EQ(jumps->key_size, 4u);
    EXPECT_EQ(jumps->value_size, 4u);
    EXPECT_EQ(jumps->max_entries, 4u);
    EXPECT_EQ(jumps->inner, nullptr);
    ASSERT_EQ(jumps->initial_slots.size(), 2u);
    EXPECT_EQ(jumps->initial_slots[0].index, 0u);
    EXPECT_EQ(jumps->initial_slots[0].target, "tail_one");
    EXPECT_EQ(jumps->initial_slots[1].index, 2u);
    EXPECT_EQ(jumps->initial_slots[1].target, "tail_two");
}

TEST(ElfFull, GlobalData) {
    ElfObject obj = open_object("full.o");
    const ElfMapSpec* data = obj.find_map("full.data");
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(data->kind, ElfMapSpec::Kind::Data);
    EXPECT_EQ(data->section, ".data");
    EXPECT_EQ(data->type, uint32_t(BPF_MAP_TYPE_ARRAY));
    EXPECT_EQ(data->key_size, 4u);
    EXPECT_EQ(data->value_size, 8u);
    EXPECT_EQ(data->max_entries, 1u);
    EXPECT_EQ(data->map_flags, uint32_t(BPF_F_MMAPABLE));
    EXPECT_EQ(data->initial_data, (std::vector<uint8_t>{7, 0, 0, 0, 0, 0, 0, 0})); // packets_seen = 7
    EXPECT_EQ(obj.btf_type_name(data->btf_value_type_id), ".data");
    EXPECT_EQ(obj.btf_type_declaration(data->btf_value_type_id),
              "section .data { /* size 8 */\n\t__u64 packets_seen; /* offset 0, size 8 */\n};");

    const ElfMapSpec* rodata = obj.find_map("full.rodata");
    ASSERT_NE(rodata, nullptr);
    EXPECT_EQ(rodata->kind, ElfMapSpec::Kind::Rodata);
    EXPECT_EQ(rodata->map_flags, uint32_t(BPF_F_MMAPABLE | BPF_F_RDONLY_PROG));
    ASSERT_EQ(rodata->initial_data.size(), 16u); // drop_port, then the bpf_printk format
    EXPECT_EQ(rodata->initial_data[0], 53);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(rodata->initial_data.data()) + 4), "tail one %d");

    const ElfMapSpec* custom = obj.find_map(".data.custom");
    ASSERT_NE(custom, nullptr);
    EXPECT_EQ(custom->kind, ElfMapSpec::Kind::Data);
    EXPECT_EQ(custom->section, ".data.custom");
    EXPECT_EQ(custom->initial_data, (std::vector<uint8_t>{3, 0, 0, 0}));

    const ElfMapSpec* bss = obj.find_map("full.bss");
    ASSERT_NE(bss, nullptr);
    EXPECT_EQ(bss->kind, ElfMapSpec::Kind::Bss);
    EXPECT_EQ(bss->value_size, 32u);
    EXPECT_EQ(bss->initial_data, std::vector<uint8_t>(32, 0));
    EXPECT_EQ(bss->map_flags, uint32_t(BPF_F_MMAPABLE));
}

TEST(ElfFull, ProgramsAndTypes) {
    ElfObject obj = open_object("full.o");
    std::vector<std::string> names;
    for (const auto& p : obj.programs()) names.push_back(p.name);
    // By section, then offset in it (clang put xdp_main last in its section).
    EXPECT_EQ(names, (std::vector<std::string>{"tail_one", "tail_two", "xdp_main", "tc_main"}));
    for (const auto& p : obj.programs()) {
        if (p.section == "xdp") {
            EXPECT_EQ(p.prog_type, uint32_t(BPF_PROG_TYPE_XDP)) << p.name;
            EXPECT_EQ(p.expected_attach_type, uint32_t(BPF_XDP)) << p.name;
        } else {
            EXPECT_EQ(p.section, "tc");
            EXPECT_EQ(p.prog_type, uint32_t(BPF_PROG_TYPE_SCHED_CLS));
            EXPECT_EQ(p.expected_attach_type, 0u);
        }
        EXPECT_TRUE(p.autoload);
        EXPECT_EQ(p.attach_target, "");
        EXPECT_LE(p.function_insns, p.insns.size());
        EXPECT_EQ(p.insns.back().opcode, BPF_JMP | BPF_EXIT) << p.name;
    }
    // Each program's own instructions are its function's, in its section.
    const ElfSection* xdp = obj.find_section("xdp");
    ASSERT_NE(xdp, nullptr);
    auto raw = insns_from_bytes(xdp->data);
    const ElfProgram* tail_one = find_program(obj, "tail_one");
    ASSERT_NE(tail_one, nullptr);
    EXPECT_EQ(tail_one->section_insn, 0u);
    EXPECT_EQ(tail_one->function_insns, 7u);
    EXPECT_EQ(tail_one->insns.size(), 7u); // calls nothing
    EXPECT_EQ(tail_one->insns[0], raw[0]);
}

TEST(ElfFull, SubprogramsAreAppendedAsLibbpfDoes) {
    ElfObject obj = open_object("full.o");
    auto func_names = [](const ElfProgram& p) {
        std::vector<std::pair<std::string, uint32_t>> out;
        for (const auto& f : p.funcs) out.emplace_back(f.name, f.insn);
        return out;
    };
    const ElfProgram* xdp_main = find_program(obj, "xdp_main");
    ASSERT_NE(xdp_main, nullptr);
    // xdp_main calls account, which calls add_bytes: appended depth first.
    auto funcs = func_names(*xdp_main);
    ASSERT_EQ(funcs.size(), 3u);
    EXPECT_EQ(funcs[0], std::make_pair(std::string("xdp_main"), 0u));
    EXPECT_EQ(funcs[1].first, "account");
    EXPECT_EQ(funcs[1].second, xdp_main->function_insns);
    EXPECT_EQ(funcs[2].first, "add_bytes");
    // tc_main calls only add_bytes.
    const ElfProgram* tc_main = find_program(obj, "tc_main");
    ASSERT_NE(tc_main, nullptr);
    auto tc_funcs = func_names(*tc_main);
    ASSERT_EQ(tc_funcs.size(), 2u);
    EXPECT_EQ(tc_funcs[1].first, "add_bytes");
    EXPECT_EQ(tc_funcs[1].second, tc_main->function_insns);
    EXPECT_EQ(tc_main->insns.size(), tc_main->function_insns + 4u); // add_bytes is 4 instructions

    // Every BPF-to-BPF call lands on the start of a function of the program.
    for (const ElfProgram& p : obj.programs()) {
        std::set<int64_t> starts;
        for (const auto& f : p.funcs) starts.insert(f.insn);
        for (size_t i = 0; i < p.insns.size(); i++) {
            const Insn& in = p.insns[i];
            if (in.opcode != (BPF_JMP | BPF_CALL) || in.src != BPF_PSEUDO_CALL) continue;
            int64_t target = int64_t(i) + in.imm + 1;
            EXPECT_TRUE(starts.count(target)) << p.name << " instruction " << i << " calls " << target;
        }
    }
    // The appended add_bytes is .text's add_bytes.
    const ElfSection* text = obj.find_section(".text");
    ASSERT_NE(text, nullptr);
    uint64_t add_bytes_off = 0;
    for (const auto& s : obj.symbols())
        if (s.name == "add_bytes") add_bytes_off = s.value / 8;
    auto raw = insns_from_bytes(text->data);
    for (uint32_t k = 0; k < 4; k++) EXPECT_EQ(tc_main->insns[tc_funcs[1].second + k], raw[add_bytes_off + k]);
}

TEST(ElfFull, LddwRelocations) {
    ElfObject obj = open_object("full.o");
    struct Expected {
        std::string symbol, map;
        bool value;
        uint32_t offset;
    };
    auto check = [&](const std::string& prog_name, const std::vector<Expected>& expected) {
        const ElfProgram* p = find_program(obj, prog_name);
        ASSERT_NE(p, nullptr);
        ASSERT_EQ(p->map_references.size(), expected.size()) << prog_name;
        for (size_t k = 0; k < expected.size(); k++) {
            const ElfMapReference& ref = p->map_references[k];
            const Expected& e = expected[k];
            SCOPED_TRACE(prog_name + " reference to " + e.symbol);
            EXPECT_EQ(ref.symbol, e.symbol);
            EXPECT_EQ(ref.map, map_index(obj, e.map));
            EXPECT_EQ(ref.value, e.value);
            EXPECT_EQ(ref.offset, e.offset);
            ASSERT_LT(ref.insn + 1, p->insns.size());
            const Insn& first = p->insns[ref.insn];
            const Insn& second = p->insns[ref.insn + 1];
            EXPECT_EQ(first.opcode, BPF_LD | BPF_IMM | BPF_DW);
            EXPECT_EQ(first.src, e.value ? BPF_PSEUDO_MAP_VALUE : BPF_PSEUDO_MAP_FD);
            EXPECT_EQ(first.imm, int32_t(map_index(obj, e.map)));
            EXPECT_EQ(second.imm, int32_t(e.offset));
        }
    };
    check("xdp_main", {{"drop_port", "full.rodata", true, 0},
                       {"flows", "flows", false, 0},
                       {"outer", "outer", false, 0},
                       {"jumps", "jumps", false, 0},
                       // account, appended:
                       {"packets_seen", "full.data", true, 0},
                       {"zeroes", "full.bss", true, 0},
                       {"custom_counter", ".data.custom", true, 0}});
    // The format string: .rodata's section symbol, offset in the instruction.
    check("tail_one", {{".rodata", "full.rodata", true, 4}});
    check("tail_two", {{"scratch", "scratch", false, 0},
                       {"packets_seen", "full.data", true, 0},
                       {"zeroes", "full.bss", true, 0},
                       {"custom_counter", ".data.custom", true, 0}});
    check("tc_main", {{"drop_port", "full.rodata", true, 0}});

    // The references of a program's own function are where the relocations of its section say.
    const ElfProgram* xdp_main = find_program(obj, "xdp_main");
    const ElfSection* xdp = obj.find_section("xdp");
    std::set<uint32_t> from_relocations, from_program;
    auto raw = insns_from_bytes(xdp->data);
    for (const auto& r : xdp->relocations) {
        uint64_t insn = r.offset / 8;
        if (insn >= xdp_main->section_insn && insn < xdp_main->section_insn + xdp_main->function_insns &&
            raw[insn].opcode == (BPF_LD | BPF_IMM | BPF_DW))
            from_relocations.insert(static_cast<uint32_t>(insn - xdp_main->section_insn));
    }
    for (const auto& ref : xdp_main->map_references)
        if (ref.insn < xdp_main->function_insns) from_program.insert(ref.insn);
    EXPECT_EQ(from_program, from_relocations);
}

TEST(ElfFull, LineInfo) {
    ElfObject obj = open_object("full.o");
    // Every instruction of every program has a line of full.c.
    for (const ElfProgram& p : obj.programs()) {
        ASSERT_FALSE(p.lines.empty()) << p.name;
        EXPECT_EQ(p.lines[0].insn, 0u) << p.name;
        for (size_t i = 0; i < p.insns.size(); i++) {
            const ElfLineInfo* l = p.line_at(i);
            ASSERT_NE(l, nullptr) << p.name << " instruction " << i;
            EXPECT_TRUE(l->file.ends_with("/full.c")) << l->file;
        }
    }
    // Marked lines: found in the program, with their text; those of
    // subprograms after the program's own function.
    auto expect_line = [&](const std::string& prog, const std::string& marker, bool in_subprogram) {
        const ElfProgram* p = find_program(obj, prog);
        ASSERT_NE(p, nullptr);
        int line = source_line(marker);
        bool found = false;
        for (const auto& l : p->lines) {
            if (int(l.line) != line) continue;
            found = true;
            EXPECT_NE(l.source.find("// LINE " + marker), std::string::npos) << l.source;
            EXPECT_GT(l.column, 0u);
            EXPECT_EQ(l.insn >= p->function_insns, in_subprogram) << prog << " " << marker << " at " << l.insn;
        }
        EXPECT_TRUE(found) << prog << " has no instruction on line " << line << " (" << marker << ")";
    };
    expect_line("xdp_main", "xdp_main", false);
    expect_line("xdp_main", "account", true);
    expect_line("xdp_main", "add_bytes", true);
    expect_line("tail_one", "tail_one", false);
    expect_line("tc_main", "tc_main", false);
    expect_line("tc_main", "add_bytes", true);
    expect_line("tail_two", "account", true);
    // The lddw of drop_port in xdp_main is on its marked line, column 24 (the load of drop_port).
    const ElfProgram* xdp_main = find_program(obj, "xdp_main");
    const ElfLineInfo* l = xdp_main->line_at(xdp_main->map_references[0].insn);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(int(l->line), source_line("xdp_main"));
    EXPECT_EQ(l->column, 24u);
}

TEST(ElfFull, ProgramByName) {
    ElfObject obj = open_object("full.o");
    auto by_symbol = obj.program("tail_two");
    ASSERT_TRUE(by_symbol) << by_symbol.error().to_string();
    EXPECT_EQ(by_symbol->name, "tail_two");
    auto by_section = obj.program("tc");
    ASSERT_TRUE(by_section) << by_section.error().to_string();
    EXPECT_EQ(by_section->name, "tc_main");
    auto several = obj.program("xdp");
    ASSERT_FALSE(several);
    EXPECT_EQ(several.error().message,
              object_path("full.o") + ": section xdp holds 3 programs (tail_one, tail_two, xdp_main): name one");
    // A .text function as an entry point, linked with what it calls.
    auto sub = obj.program("account");
    ASSERT_TRUE(sub) << sub.error().to_string();
    EXPECT_EQ(sub->prog_type, 0u);
    ASSERT_EQ(sub->funcs.size(), 2u);
    EXPECT_EQ(sub->funcs[1].name, "add_bytes");
    auto text = obj.program(".text");
    ASSERT_TRUE(text) << text.error().to_string();
    EXPECT_EQ(text->section_insn, 0u);
    auto none = obj.program("nope");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message, object_path("full.o") + ": no section or function named 'nope'");
}

TEST(ElfCallbacks, FunctionAddressesAndStrings) {
    ElfObject obj = open_object("callbacks.o");
    // The object name is cut at 8 characters to leave 7 for ".bss", as libbpf cuts it.
    ASSERT_EQ(obj.maps().size(), 2u);
    EXPECT_EQ(obj.maps()[0].name, "callback.bss");
    EXPECT_EQ(obj.maps()[1].name, ".rodata.str1.1"); // two dots: no object prefix
    EXPECT_EQ(obj.maps()[1].kind, ElfMapSpec::Kind::Rodata);
    EXPECT_EQ(obj.maps()[1].initial_data, (std::vector<uint8_t>{'x', 'y', 'z', 0, 'a', 'b', 'c', 0}));
    const ElfProgram* loop = find_program(obj, "loop_prog");
    ASSERT_NE(loop, nullptr);
    // bpf_loop's callback: an lddw marked BPF_PSEUDO_FUNC, relative to the appended step().
    uint32_t step_at = 0;
    for (const auto& f : loop->funcs)
        if (f.name == "step") step_at = f.insn;
    ASSERT_GT(step_at, 0u);
    bool found = false;
    for (size_t i = 0; i < loop->insns.size(); i++) {
        const Insn& in = loop->insns[i];
        if (in.opcode != (BPF_LD | BPF_IMM | BPF_DW) || in.src != BPF_PSEUDO_FUNC) continue;
        found = true;
        EXPECT_EQ(int64_t(i) + in.imm + 1, int64_t(step_at));
    }
    EXPECT_TRUE(found);
    // The global function in .text is a subprogram, appended to both programs.
    for (const auto& p : obj.programs()) {
        bool has_scaled = false;
        for (const auto& f : p.funcs) has_scaled |= f.name == "scaled";
        EXPECT_TRUE(has_scaled) << p.name;
    }
    // The string "abc" at offset 4 of .rodata.str1.1.
    const ElfProgram* plain = find_program(obj, "plain");
    ASSERT_NE(plain, nullptr);
    ASSERT_EQ(plain->map_references.size(), 1u);
    EXPECT_EQ(plain->map_references[0].map, 1u);
    EXPECT_EQ(plain->map_references[0].offset, 4u);
}

TEST(ElfCore, CoreRelocationsAreCountedNotApplied) {
    ElfObject obj = open_object("core.o");
    EXPECT_EQ(obj.btf_summary().core_relo_count, 1u);
    EXPECT_EQ(open_object("full.o").btf_summary().core_relo_count, 0u);
    ASSERT_EQ(obj.programs().size(), 1u);
    const ElfSection* sec = obj.find_section("xdp");
    ASSERT_NE(sec, nullptr);
    EXPECT_EQ(obj.programs()[0].insns, insns_from_bytes(sec->data)); // as compiled: offset 12 of ingress_ifindex
    EXPECT_EQ(obj.programs()[0].insns[0].off, 12);
}

TEST(ElfAssembly, SectionWithoutFunctionSymbolsIsOneProgram) {
    if (std::string(ELF_TEST_LLVM_MC).empty()) GTEST_SKIP() << "llvm-mc not found";
    bpfvm::testing::TempDir dir;
    // A local call inside the section (no relocation): kept as assembled.
    dir.write("a.s", "\t.section\tsec_a,\"ax\",@progbits\n\tcall inner\n\tr0 += 1\n\texit\n"
                     "inner:\n\tr0 = 7\n\texit\n");
    auto mc = bpfvm::testing::run_command(std::string(ELF_TEST_LLVM_MC) + " -triple bpf -filetype=obj " +
                                          dir.file("a.s") + " -o " + dir.file("a.o"));
    ASSERT_EQ(mc.exit_code, 0) << mc.err;
    auto obj = ElfObject::open(dir.file("a.o"));
    ASSERT_TRUE(obj) << obj.error().to_string();
    ASSERT_EQ(obj->programs().size(), 1u);
    const ElfProgram& p = obj->programs()[0];
    EXPECT_EQ(p.name, "sec_a");
    EXPECT_EQ(p.section, "sec_a");
    EXPECT_EQ(p.prog_type, 0u);
    ASSERT_EQ(p.insns.size(), 5u);
    EXPECT_EQ(p.insns[0].imm, 2); // call inner: 0 + 2 + 1 = 3
    EXPECT_TRUE(p.lines.empty());
    EXPECT_EQ(p.line_at(0), nullptr);
    auto by_section = obj->program("sec_a");
    ASSERT_TRUE(by_section) << by_section.error().to_string();
    EXPECT_EQ(by_section->insns, p.insns);
    EXPECT_FALSE(obj->btf_summary().present);
    EXPECT_EQ(obj->license(), "");
}

// ---- Section names, legacy maps -------------------------------------------------

TEST(ElfSections, ProgramTypesFromSectionNames) {
    ElfObject obj = open_object("sections.o");
    EXPECT_EQ(obj.programs().size(), 51u);
    auto type_of = [&](const std::string& name) {
        const ElfProgram* p = find_program(obj, name);
        EXPECT_NE(p, nullptr) << name;
        return p ? *p : ElfProgram{};
    };
    ElfProgram kprobe = type_of("p_kprobe");
    EXPECT_EQ(kprobe.prog_type, uint32_t(BPF_PROG_TYPE_KPROBE));
    EXPECT_EQ(kprobe.attach_target, "do_sys_open");
    ElfProgram uprobe = type_of("p_uprobe");
    EXPECT_EQ(uprobe.attach_target, "/bin/sh:main");
    ElfProgram tracepoint = type_of("p_tracepoint");
    EXPECT_EQ(tracepoint.prog_type, uint32_t(BPF_PROG_TYPE_TRACEPOINT));
    EXPECT_EQ(tracepoint.attach_target, "syscalls/sys_enter_openat");
    ElfProgram fentry = type_of("p_fentry_s");
    EXPECT_EQ(fentry.prog_type, uint32_t(BPF_PROG_TYPE_TRACING));
    EXPECT_EQ(fentry.expected_attach_type, uint32_t(BPF_TRACE_FENTRY));
    EXPECT_EQ(fentry.prog_flags, uint32_t(BPF_F_SLEEPABLE));
    ElfProgram lsm = type_of("p_lsm");
    EXPECT_EQ(lsm.prog_type, uint32_t(BPF_PROG_TYPE_LSM));
    EXPECT_EQ(lsm.expected_attach_type, uint32_t(BPF_LSM_MAC));
    EXPECT_EQ(lsm.attach_target, "file_open");
    ElfProgram frags = type_of("p_xdp_frags");
    EXPECT_EQ(frags.prog_flags, uint32_t(BPF_F_XDP_HAS_FRAGS));
    ElfProgram devmap = type_of("p_xdp_devmap");
    EXPECT_EQ(devmap.expected_attach_type, uint32_t(BPF_XDP_DEVMAP));
    EXPECT_EQ(type_of("p_cgroup_skb_egress").expected_attach_type, uint32_t(BPF_CGROUP_INET_EGRESS));
    EXPECT_EQ(type_of("p_cgroup_connect4").prog_type, uint32_t(BPF_PROG_TYPE_CGROUP_SOCK_ADDR));
    EXPECT_EQ(type_of("p_sk_skb_parser").expected_attach_type, uint32_t(BPF_SK_SKB_STREAM_PARSER));
    EXPECT_EQ(type_of("p_syscall").prog_flags, uint32_t(BPF_F_SLEEPABLE));
    ElfProgram optional = type_of("p_xdp_optional");
    EXPECT_EQ(optional.section, "xdp");
    EXPECT_FALSE(optional.autoload);
    EXPECT_EQ(optional.prog_type, uint32_t(BPF_PROG_TYPE_XDP));
    ElfProgram custom = type_of("p_custom");
    EXPECT_EQ(custom.prog_type, 0u);
    EXPECT_EQ(custom.section, "my_custom_section");
    // Two programs in one section.
    EXPECT_EQ(type_of("p_read_a").section, "kprobe/vfs_read");
    EXPECT_EQ(type_of("p_read_b").section, "kprobe/vfs_read");
    EXPECT_EQ(type_of("p_read_b").insns[0].imm, 2);

    EXPECT_FALSE(section_program_type("xdpx").known);
    EXPECT_FALSE(section_program_type("kprobex/foo").known); // "kprobe+" needs '/' after the name
    EXPECT_EQ(section_program_type("kprobe").definition, "kprobe+");
    EXPECT_EQ(section_program_type("sk_skb/stream_parser").definition, "sk_skb/stream_parser");
    EXPECT_FALSE(section_program_type("sk_skb/other").known);
    EXPECT_EQ(section_program_type("classifier").prog_type, uint32_t(BPF_PROG_TYPE_SCHED_CLS));
}

TEST(ElfLegacy, MapsSectionAndVersion) {
    ElfObject obj = open_object("legacy.o");
    EXPECT_EQ(obj.kernel_version(), 0x060100u);
    EXPECT_EQ(obj.license(), "GPL");
    ASSERT_EQ(obj.maps().size(), 2u);
    const ElfMapSpec& counts = obj.maps()[0];
    EXPECT_EQ(counts.name, "counts");
    EXPECT_EQ(counts.kind, ElfMapSpec::Kind::Legacy);
    EXPECT_EQ(counts.section, "maps");
    EXPECT_EQ(counts.type, uint32_t(BPF_MAP_TYPE_ARRAY));
    EXPECT_EQ(counts.key_size, 4u);
    EXPECT_EQ(counts.value_size, 8u);
    EXPECT_EQ(counts.max_entries, 256u);
    EXPECT_EQ(counts.map_flags, 0u);
    const ElfMapSpec& seen = obj.maps()[1];
    EXPECT_EQ(seen.name, "seen");
    EXPECT_EQ(seen.type, uint32_t(BPF_MAP_TYPE_LRU_HASH));
    EXPECT_EQ(seen.key_size, 8u);
    EXPECT_EQ(seen.value_size, 4u);
    EXPECT_EQ(seen.max_entries, 1000u);
    EXPECT_EQ(seen.map_flags, uint32_t(BPF_F_NO_COMMON_LRU));
    ASSERT_EQ(obj.programs().size(), 1u);
    const ElfProgram& p = obj.programs()[0];
    EXPECT_EQ(p.prog_type, uint32_t(BPF_PROG_TYPE_SOCKET_FILTER));
    ASSERT_EQ(p.map_references.size(), 2u);
    EXPECT_EQ(p.map_references[0].map, 0u);
    EXPECT_EQ(p.map_references[1].map, 1u);
    for (const auto& ref : p.map_references) {
        EXPECT_EQ(p.insns[ref.insn].src, BPF_PSEUDO_MAP_FD);
        EXPECT_EQ(p.insns[ref.insn].imm, int32_t(ref.map));
    }
}

TEST(ElfLegacy, BadDefinitionSizes) {
    Image shorter("legacy.o");
    shorter.section("maps")->sh_size -= 4; // 2 definitions of 18 bytes
    EXPECT_EQ(shorter.error(), "patched.o: section maps: definitions of 18 bytes (struct bpf_map_def is 20)");
    Image uneven("legacy.o");
    uneven.section("maps")->sh_size -= 1;
    EXPECT_EQ(uneven.error(), "patched.o: section maps: 39 bytes for 2 maps: the definitions are not all the same size");
}

// ---- Refused objects ------------------------------------------------------------

TEST(ElfErrors, BadMapDefinitions) {
    auto error = [](const std::string& name) {
        auto obj = ElfObject::open(object_path(name));
        return obj ? std::string("(opened without error)") : obj.error().to_string();
    };
    EXPECT_TRUE(ElfObject::open(object_path("bad.o")).has_value()); // the variants' base is good
    EXPECT_EQ(error("bad_unknown_attr.o"), object_path("bad_unknown_attr.o") + ": map 'm': unknown attribute 'colour'");
    EXPECT_EQ(error("bad_no_type.o"), object_path("bad_no_type.o") + ": map 'm': no map type (__uint(type, ...))");
    EXPECT_EQ(error("bad_attr_kind.o"),
              object_path("bad_attr_kind.o") +
                  ": map 'm': attribute 'type': expected a pointer to an array (__uint), got int");
    EXPECT_EQ(error("bad_key_conflict.o"), object_path("bad_key_conflict.o") + ": map 'm': conflicting key size 8 != 4");
    EXPECT_EQ(error("bad_slot_out_of_range.o"),
              object_path("bad_slot_out_of_range.o") + ": map 'm': initial value 'target' in slot 5, past max_entries 2");
    EXPECT_EQ(error("bad_extern.o"),
              object_path("bad_extern.o") + ": extern 'LINUX_KERNEL_VERSION' (.kconfig): externs (__kconfig, __ksym, "
                                            "undefined symbols) are not supported");
    EXPECT_EQ(error("bad_static_prog.o"),
              object_path("bad_static_prog.o") +
                  ": section xdp: program 'hidden' is static: programs must be global functions (libbpf refuses "
                  "static ones)");
}

TEST(ElfErrors, SectionsOnlyOpensWhatTheLoaderRefuses) {
    auto obj = ElfObject::open(object_path("bad_extern.o"), ElfOpenOptions{.sections_only = true});
    ASSERT_TRUE(obj) << obj.error().to_string();
    EXPECT_NE(obj->find_section("xdp"), nullptr);
    EXPECT_TRUE(obj->programs().empty());
    EXPECT_TRUE(obj->maps().empty());
    auto p = obj->program("prog");
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("opened for its sections only"), std::string::npos);
}

TEST(ElfErrors, HeaderChecks) {
    Image machine("full.o");
    machine.ehdr()->e_machine = EM_X86_64;
    EXPECT_EQ(machine.error(), "patched.o: ELF machine is 62 (not BPF, 247): compile with clang -target bpf");
    Image exec("full.o");
    exec.ehdr()->e_type = ET_EXEC;
    EXPECT_EQ(exec.error(),
              "patched.o: ELF type is ET_EXEC (2): only relocatable objects (ET_REL, from clang -c) can be loaded");
    Image big("full.o");
    big.bytes[EI_DATA] = ELFDATA2MSB;
    EXPECT_EQ(big.error(), "patched.o: big-endian ELF: only little-endian BPF objects are supported");
    Image magic("full.o");
    magic.bytes[1] = 'X';
    EXPECT_EQ(magic.error(), "patched.o: not an ELF file (bad magic)");
}

TEST(ElfErrors, TruncatedObject) {
    Image full("full.o");
    // Cut in the middle of the section data (the headers are at the end).
    Image cut("full.o");
    cut.bytes.resize(0x1000);
    std::string e = cut.error();
    EXPECT_TRUE(e.starts_with("patched.o: ")) << e;
    EXPECT_NE(e.find("section"), std::string::npos) << e;
    // Section headers intact, one section's data past the end of the file.
    Image past("full.o");
    past.section(".BTF")->sh_offset = past.bytes.size() - 16;
    EXPECT_EQ(past.error(), "patched.o: section 25 (.BTF): data lies outside the file (truncated object?)");
    // Every prefix gives an error, never a crash.
    for (size_t n = 0; n < full.bytes.size(); n += 97) {
        auto obj = ElfObject::from_memory(std::span<const uint8_t>(full.bytes.data(), n), "prefix.o");
        EXPECT_FALSE(obj) << n;
        if (!obj) {
            EXPECT_TRUE(obj.error().message.starts_with("prefix.o: ")) << obj.error().message;
        }
    }
}

TEST(ElfErrors, Relocations) {
    // Out of the section.
    Image out("full.o");
    out.relocation(".relxdp", 0)->r_offset = 0x10000;
    EXPECT_EQ(out.error(),
              "patched.o: section xdp: relocation 0 against '.rodata' at offset 65536 is past the section's end (584 "
              "bytes)");
    Image misaligned("full.o");
    misaligned.relocation(".relxdp", 0)->r_offset += 4;
    EXPECT_EQ(misaligned.error(),
              "patched.o: section xdp: relocation 0 against '.rodata' at offset 12 is not on an instruction boundary");
    // To a section that does not exist.
    Image nosec("full.o");
    nosec.symbol("drop_port")->st_shndx = 200;
    EXPECT_EQ(nosec.error(),
              "patched.o: section xdp: relocation 3 against 'drop_port': its symbol is in section 200, which does not "
              "exist");
    // On an instruction that is not lddw (the lddw of .rodata made a mov).
    Image notlddw("full.o");
    uint64_t at = notlddw.relocation(".relxdp", 0)->r_offset;
    notlddw.data("xdp")[at] = BPF_ALU64 | BPF_MOV | BPF_K;
    EXPECT_EQ(notlddw.error(),
              "patched.o: section xdp: relocation 0 against '.rodata' at instruction 1: the instruction (opcode 0xb7) "
              "is neither lddw nor call");
    // A symbol that is no map: a relocation against the license.
    Image license("full.o");
    license.symbol("drop_port")->st_shndx = static_cast<uint16_t>(license.section("license") - license.shdr(0));
    EXPECT_EQ(license.error(),
              "patched.o: section xdp: relocation 3 against 'drop_port' at instruction 26: section license is neither "
              "maps nor global data (.data*, .rodata*, .bss)");
    // A map whose symbol is gone: nothing says where it is in .maps.
    Image nomap("full.o");
    nomap.symbol("flows")->st_info = ELF64_ST_INFO(STB_GLOBAL, STT_NOTYPE);
    EXPECT_EQ(nomap.error(), "patched.o: section .BTF: variable 'flows' of DATASEC .maps has no symbol giving its offset");
    // A .maps initial value outside every map.
    Image slot("full.o");
    slot.relocation(".rel.maps", 0)->r_offset = 0x1000;
    EXPECT_EQ(slot.error(),
              "patched.o: section .maps: relocation 0 (offset 4096, against 'inner_a') is not inside a map definition");
    // A global-data offset past the section.
    Image past("full.o");
    past.symbol("custom_counter")->st_value = 64;
    EXPECT_EQ(past.error(),
              "patched.o: section .text: relocation 2 against 'custom_counter' at instruction 15: offset 64 is outside "
              "section .data.custom (4 bytes)");
}

TEST(ElfErrors, FunctionsAndSections) {
    Image crosses("full.o");
    crosses.symbol("tc_main")->st_size = 0x1000;
    EXPECT_EQ(crosses.error(),
              "patched.o: section tc: function 'tc_main' (offset 0, 4096 bytes) runs past the section's end (96 bytes)");
    Image partial("full.o");
    partial.section("tc")->sh_size = 0x5c;
    partial.symbol("tc_main")->st_size = 0x58;
    EXPECT_EQ(partial.error(), "patched.o: section tc is 92 bytes: not a whole number of instructions");
    Image version("legacy.o");
    version.section("version")->sh_size = 2;
    EXPECT_EQ(version.error(), "patched.o: section version: 2 bytes (the kernel version is a 4-byte number)");
}

TEST(ElfErrors, BadBtf) {
    Image btf("full.o");
    btf.data(".BTF")[0] = 0;
    EXPECT_EQ(btf.error(), "patched.o: section .BTF: libbpf cannot parse it (Invalid argument)");
    Image ext("full.o");
    ext.data(".BTF.ext")[0] = 0;
    EXPECT_EQ(ext.error(), "patched.o: section .BTF.ext: bad magic 0xeb00 (expected 0xeb9f)");
    Image hdr("full.o");
    uint32_t len = 0x10000;
    std::memcpy(hdr.data(".BTF.ext") + 4, &len, 4);
    EXPECT_EQ(hdr.error(), "patched.o: section .BTF.ext: header length 65536 outside 24..920 (the section's size)");
    Image lines("full.o");
    uint32_t line_len = 0x10000;
    std::memcpy(lines.data(".BTF.ext") + 20, &line_len, 4);
    std::string e = lines.error();
    EXPECT_TRUE(e.starts_with("patched.o: section .BTF.ext: line info at ")) << e;
    EXPECT_NE(e.find("goes past the end"), std::string::npos) << e;
    // .maps without BTF.
    Image nobtf("full.o");
    std::memcpy(reinterpret_cast<char*>(nobtf.bytes.data() + nobtf.shdr(nobtf.ehdr()->e_shstrndx)->sh_offset +
                                        nobtf.section(".BTF")->sh_name),
                ".XTF", 4);
    std::memcpy(reinterpret_cast<char*>(nobtf.bytes.data() + nobtf.shdr(nobtf.ehdr()->e_shstrndx)->sh_offset +
                                        nobtf.section(".BTF.ext")->sh_name),
                ".XTF", 4);
    EXPECT_EQ(nobtf.error(),
              "patched.o: section .maps: BTF-defined maps need the object's BTF (.BTF; compile with -g)");
}
