// fuzz_seed_gen: writes the fuzz targets' seed corpora and the assembler's
// dictionary into a build directory.
//
//   fuzz_seed_gen OUT_DIR [CONFORMANCE_DIR]
//
// OUT_DIR/fuzz_decode, OUT_DIR/fuzz_assemble, OUT_DIR/fuzz_interp get one
// file per conformance test (assembled bytes, the test's assembly and its LLVM
// listing, memory + bytes), plus built-in seeds that cover every row of the
// opcode table, so the corpora are not empty when the suite is absent.
// OUT_DIR/fuzz_assemble.dict gets every mnemonic and operator.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"
#include "bpfvm/program.h"
#include "conformance_file.h"
#include "fuzz_common.h"

namespace fs = std::filesystem;
using namespace bpfvm;

namespace {

void write_file(const fs::path& path, const void* data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
        std::fprintf(stderr, "fuzz_seed_gen: cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

void write_text(const fs::path& path, const std::string& text) { write_file(path, text.data(), text.size()); }

std::vector<uint8_t> interp_input(const std::vector<uint8_t>& mem, std::span<const Insn> insns, uint8_t flags = 0) {
    std::vector<uint8_t> out;
    out.push_back(static_cast<uint8_t>(mem.size()));
    out.push_back(flags);
    out.insert(out.end(), mem.begin(), mem.end());
    auto code = insns_to_bytes(insns);
    out.insert(out.end(), code.begin(), code.end());
    return out;
}

std::string listing(std::span<const Insn> insns, Syntax syntax, bool raw) {
    ListingOptions opts;
    opts.syntax = syntax;
    opts.raw_bytes = raw;
    opts.indices = raw;
    return disassemble(insns, opts);
}

// Built-in seeds: every row of the opcode table, with varied operands.
std::vector<std::vector<Insn>> builtin_programs() {
    std::vector<std::vector<Insn>> progs;
    fuzz::Rng rng(12345);
    auto table = op_table();
    // One program per form family: rows in table order, 8 per program, then exit.
    std::vector<Insn> cur;
    for (size_t i = 0; i < table.size(); i++) {
        auto ins = fuzz::make_insn(rng, table[i], static_cast<int64_t>(cur.size()), 9);
        // Jumps: to the next slot, so every program is shaped right.
        for (auto& in : ins) {
            const OpInfo* info = find_op(in);
            if (info && (info->form == Form::Ja || info->form == Form::JmpK || info->form == Form::JmpX ||
                         info->form == Form::MayGoto))
                in.off = 0;
            if (info && (info->form == Form::Gotol)) in.imm = 0;
            if (info && info->form == Form::CallLocal) in.imm = 0; // a call to the next slot
            if (info && info->form == Form::LdImm64 && in.src == uint8_t(Pseudo::Func)) in.imm = 0;
        }
        cur.insert(cur.end(), ins.begin(), ins.end());
        if (cur.size() >= 8 || i + 1 == table.size()) {
            cur.push_back(fuzz::exit_insn());
            progs.push_back(cur);
            cur.clear();
        }
    }
    return progs;
}

void add_dictionary(const fs::path& path) {
    std::set<std::string> words = {
        "r0", "r1", "r10", "w1", "%r1", "%r10", "goto", "gotol", "if", "exit", "call", "callx", "call local",
        "call kfunc", "call helper", "kfunc#", "pc+", "pc-", "ll", "lddw", "skb[", "*(u8 *)", "*(u16 *)",
        "*(u32 *)", "*(u64 *)", "*(s8 *)", "*(s16 *)", "*(s32 *)", "(s8)", "(s16)", "(s32)", "(r1 + 8)",
        "(r10 - 8)", "[%r10-8]", "[%r1+4]", "map[fd:", "map[idx:", "][0]+", "btf_id[", "][fd:", "func[pc+",
        "map_fd(", "map_value(", "map_idx(", "map_idx_value(", "btf_id(", "func(", "lock", "lock fetch",
        "atomic_fetch_add(", "atomic64_", "xchg_64(", "xchg32_32(", "cmpxchg_64(", "cmpxchg32_32(",
        "load_acquire(", "store_release(", "ld_pseudo", "may_goto", "0x", "-0x", "0xffffffff",
        "0x7fffffff", "-2147483648", "9223372036854775807", "18446744073709551615", "32767", "-32768",
        ":", "\n", "# ", "// ", "; ", "<", ">", "label:", "0000000000000010 <sym>:", "12: (bf) ",
        "bf 16 00 00 00 00 00 00\t", "file format", "Disassembly of section", "swap16", "swap32", "swap64",
        "<unknown>",
    };
    for (const OpInfo& info : op_table()) {
        words.insert(info.mnemonic);
        words.insert(info.symbol);
    }
    std::string out;
    for (const std::string& w : words) {
        out += "\"";
        for (unsigned char c : w) {
            if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
            else if (c < 0x20 || c >= 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
            } else out += static_cast<char>(c);
        }
        out += "\"\n";
    }
    write_text(path, out);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR [CONFORMANCE_DIR]\n", argv[0]);
        return 2;
    }
    fs::path out = argv[1];
    fs::path decode = out / "fuzz_decode", assemble_dir = out / "fuzz_assemble", interp = out / "fuzz_interp";
    for (const auto& d : {decode, assemble_dir, interp}) {
        fs::remove_all(d);
        fs::create_directories(d);
    }
    add_dictionary(out / "fuzz_assemble.dict");

    int n = 0;
    auto progs = builtin_programs();
    for (size_t i = 0; i < progs.size(); i++) {
        std::string name = "builtin-" + std::to_string(i);
        auto bytes = insns_to_bytes(progs[i]);
        write_file(decode / name, bytes.data(), bytes.size());
        write_text(assemble_dir / (name + ".llvm"), listing(progs[i], Syntax::Llvm, false));
        write_text(assemble_dir / (name + ".conf"), listing(progs[i], Syntax::Conformance, false));
        std::vector<uint8_t> mem(16, 0);
        auto in = interp_input(mem, progs[i]);
        write_file(interp / name, in.data(), in.size());
        n++;
    }

    fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::path();
    int suite = 0;
    if (!dir.empty() && fs::is_directory(dir)) {
        for (const auto& path : testing::conformance_files(dir)) {
            testing::ConformanceCase c;
            try {
                c = testing::read_conformance_case(path);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "fuzz_seed_gen: skipping %s: %s\n", path.c_str(), e.what());
                continue;
            }
            write_text(assemble_dir / (c.name + ".asm"), c.asm_text);
            auto insns = bpfvm::assemble(c.asm_text);
            if (!insns) {
                std::fprintf(stderr, "fuzz_seed_gen: %s does not assemble: %s\n", path.c_str(),
                             insns.error().to_string().c_str());
                continue;
            }
            write_text(assemble_dir / (c.name + ".objdump"), listing(*insns, Syntax::Llvm, true));
            auto bytes = insns_to_bytes(*insns);
            write_file(decode / c.name, bytes.data(), bytes.size());
            if (c.memory.size() <= 255) {
                auto in = interp_input(c.memory, *insns);
                write_file(interp / c.name, in.data(), in.size());
            }
            suite++;
        }
    }
    std::printf("fuzz_seed_gen: %d built-in seeds, %d from the conformance suite%s%s\n", n, suite,
                dir.empty() ? "" : " in ", dir.empty() ? "" : dir.c_str());
    return 0;
}
