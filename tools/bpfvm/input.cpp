// Reading program files for the subcommands.
#include <cctype>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/elf.h"
#include "commands.h"

namespace bpfvm::cli {

int report(const std::string& message) {
    std::cerr << "bpfvm: " << message << "\n";
    return 1;
}

void add_format_option(CLI::App* app, InputFormat* format) {
    app->add_option("--format", *format, "Input format (default: detected from the content)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, InputFormat>{{"auto", InputFormat::Auto},
                                                                             {"raw", InputFormat::Raw},
                                                                             {"asm", InputFormat::Asm},
                                                                             {"elf", InputFormat::Elf}},
                                            CLI::ignore_case));
}

Result<std::vector<uint8_t>> read_file(const std::string& path) {
    if (path == "-") {
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        return bytes;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return make_error(fmt::format("{}: read error", path));
    return bytes;
}

Result<std::vector<uint8_t>> parse_hex(std::string_view text, std::string_view what) {
    std::vector<uint8_t> out;
    size_t i = 0;
    auto digit = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    auto value = [](char c) { return c <= '9' ? c - '0' : (std::tolower(static_cast<unsigned char>(c)) - 'a' + 10); };
    while (i < text.size()) {
        char c = text[i];
        if (std::isspace(static_cast<unsigned char>(c)) || c == ',') {
            i++;
            continue;
        }
        if (c == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
            i += 2;
            continue;
        }
        if (!digit(c) || i + 1 >= text.size() || !digit(text[i + 1]))
            return make_error(fmt::format("{}: invalid hex at character {}: expected pairs of hex digits", what, i + 1));
        out.push_back(static_cast<uint8_t>(value(c) * 16 + value(text[i + 1])));
        i += 2;
    }
    return out;
}

namespace {

bool looks_like_text(const std::vector<uint8_t>& bytes) {
    if (bytes.empty()) return true;
    size_t n = std::min<size_t>(bytes.size(), 4096);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = bytes[i];
        if (b == 0 || (b < 0x20 && b != '\n' && b != '\r' && b != '\t')) return false;
    }
    return true;
}

} // namespace

Result<ProgramInput> read_program(const std::string& path, InputFormat format, const std::string& section) {
    auto bytes = read_file(path);
    if (!bytes) return tl::unexpected(bytes.error());
    if (format == InputFormat::Auto) {
        if (bytes->size() >= 4 && std::memcmp(bytes->data(), "\x7f" "ELF", 4) == 0) format = InputFormat::Elf;
        else if (looks_like_text(*bytes)) format = InputFormat::Asm;
        else format = InputFormat::Raw;
    }
    ProgramInput in;
    in.name = path;
    if (!section.empty() && format != InputFormat::Elf)
        return make_error(fmt::format("{}: --section applies to ELF objects only", path));
    switch (format) {
    case InputFormat::Raw:
        if (bytes->size() % sizeof(Insn) != 0)
            return make_error(fmt::format("{}: {} bytes is not a whole number of 8-byte instructions "
                                          "({} bytes left over after instruction {})",
                                          path, bytes->size(), bytes->size() % sizeof(Insn),
                                          bytes->size() / sizeof(Insn)));
        in.insns = insns_from_bytes(*bytes);
        break;
    case InputFormat::Asm: {
        auto insns = assemble(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
        if (!insns) {
            Error e = insns.error();
            e.file = path;
            return tl::unexpected(e);
        }
        in.insns = std::move(*insns);
        break;
    }
    case InputFormat::Elf: {
        auto obj = ElfObject::from_memory(*bytes, path);
        if (!obj) return tl::unexpected(obj.error());
        std::string wanted = section;
        if (wanted.empty()) {
            auto progs = obj->program_sections();
            if (progs.empty()) return make_error(fmt::format("{}: the object has no program sections", path));
            if (progs.size() > 1) {
                // Prefer a section other than .text (libbpf's programs live in SEC()s).
                std::vector<const ElfSection*> named;
                for (auto* s : progs)
                    if (s->name != ".text") named.push_back(s);
                if (named.size() != 1) {
                    std::string names;
                    for (auto* s : progs) names += (names.empty() ? "" : ", ") + s->name;
                    return make_error(fmt::format("{}: the object has several program sections ({}): choose one "
                                                  "with --section",
                                                  path, names));
                }
                wanted = named[0]->name;
            } else {
                wanted = progs[0]->name;
            }
        }
        auto prog = obj->program(wanted);
        if (!prog) return tl::unexpected(prog.error());
        in.insns = std::move(prog->insns);
        in.name = path + ":" + prog->section;
        break;
    }
    case InputFormat::Auto: break;
    }
    if (in.insns.empty()) return make_error(fmt::format("{}: the program is empty", in.name));
    return in;
}

} // namespace bpfvm::cli
