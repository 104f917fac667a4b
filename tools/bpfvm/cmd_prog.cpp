// bpfvm prog: load, show, dump and run programs of ELF objects and program
// pins, as bpftool prog does for the kernel's (docs/runtime.md, "bpfvm prog").
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/asm.h"
#include "bpfvm/jit.h"
#include "bpfvm/runtime.h"
#include "commands.h"
#include "json_output.h"

namespace bpfvm::cli {
namespace {

using nlohmann::json;

struct EngineFlags {
    bool interpreter = false;
    bool fast = false;
};
void add_engine_flags(CLI::App* cmd, EngineFlags* f) {
    cmd->add_flag("--interpreter", f->interpreter, "Prepare programs on the interpreter (default: the JIT)");
    cmd->add_flag("--fast", f->fast, "The fast mode: no checks of loads, stores and the budget (default: checked)");
}
LoadOptions load_options(const EngineFlags& f) {
    LoadOptions o;
    o.engine = f.interpreter ? EngineKind::Interpreter : EngineKind::Jit;
    o.checked = !f.fast;
    return o;
}

// A program named on the command line: a program pin, or an ELF object and a
// program of it (--name, --section, else the first).
struct OpenedProgram {
    std::shared_ptr<LoadedObject> object;
    std::shared_ptr<LoadedProgram> program;
    std::string pin; // the pin file, if opened from one
};

Result<OpenedProgram> open_program(const std::string& path, const std::string& name, const std::string& section,
                                   const EngineFlags& engine) {
    OpenedProgram out;
    if (is_program_pin(path)) {
        if (!name.empty() || !section.empty())
            return make_error(fmt::format("{} is a program pin: it names its program (no --name or --section)", path));
        std::shared_ptr<LoadedProgram> p;
        auto obj = LoadedObject::open_pinned_program(path, &p);
        if (!obj) return tl::unexpected(obj.error());
        out.object = *obj;
        out.program = p;
        MapOptions mo;
        out.pin = resolve_pin_path(path, mo);
        return out;
    }
    LoadOptions lo = load_options(engine);
    auto obj = LoadedObject::load(path, lo);
    if (!obj) return tl::unexpected(obj.error());
    out.object = *obj;
    if (!name.empty()) {
        out.program = out.object->find_program(name);
        if (!out.program) return make_error(fmt::format("{}: no program named {}", path, name));
    } else if (!section.empty()) {
        for (const auto& p : out.object->programs()) {
            if (p->section() != section) continue;
            out.program = p;
            break;
        }
        if (!out.program) return make_error(fmt::format("{}: no program in section {}", path, section));
    } else {
        if (out.object->programs().empty()) return make_error(fmt::format("{}: the object has no programs", path));
        out.program = out.object->programs().front();
    }
    return out;
}

json program_json(const LoadedProgram& p, const std::string& pin) {
    json j;
    j["id"] = p.id();
    if (!pin.empty()) j["pinned"] = pin;
    j["type"] = prog_type_name(p.prog_type());
    j["name"] = p.name();
    j["section"] = p.section();
    j["engine"] = engine_name(p.engine());
    j["checked"] = p.checked();
    j["xlated"] = p.program().size() * sizeof(Insn);
    j["jited"] = p.jit() ? p.jit()->code().size() : 0;
    auto obj = p.object();
    if (obj && !obj->path().empty()) j["object"] = obj->path();
    j["map_ids"] = p.map_ids();
    json maps = json::array();
    if (obj) {
        for (uint32_t id : p.map_ids()) {
            for (const auto& m : obj->maps()) {
                if (m.id != id) continue;
                json mj = {{"id", id}, {"name", m.name}};
                if (!m.pin_path.empty()) mj["pinned"] = m.pin_path;
                maps.push_back(mj);
            }
        }
    }
    j["maps"] = maps;
    return j;
}

void print_program(const LoadedProgram& p, const std::string& pin) {
    std::string head = pin.empty() ? fmt::format("{}", p.id()) : pin;
    std::cout << fmt::format("{}: {}  name {}  section {}\n", head, prog_type_name(p.prog_type()), p.name(),
                             p.section());
    auto obj = p.object();
    if (obj && !obj->path().empty()) std::cout << fmt::format("\tobject {}\n", obj->path());
    std::cout << fmt::format("\tengine {} ({})  xlated {}B", engine_name(p.engine()), p.checked() ? "checked" : "fast",
                             p.program().size() * sizeof(Insn));
    if (p.jit()) std::cout << fmt::format("  jited {}B", p.jit()->code().size());
    std::cout << "\n";
    if (obj) {
        std::string maps;
        for (uint32_t id : p.map_ids()) {
            for (const auto& m : obj->maps()) {
                if (m.id != id) continue;
                maps += fmt::format(" {}", m.name);
                if (!m.pin_path.empty()) maps += fmt::format("({})", m.pin_path);
            }
        }
        if (!maps.empty()) std::cout << "\tmaps" << maps << "\n";
    }
}

// bpftool's xlated listing: source lines as "; " comments, map references by id.
std::string xlated(const LoadedProgram& p, bool linum, bool opcodes) {
    const auto insns = p.elf().insns;
    auto obj = p.object();
    std::vector<uint32_t> ids;
    if (obj)
        for (const auto& m : obj->maps()) ids.push_back(m.id);
    std::string out;
    const ElfLineInfo* last = nullptr;
    size_t func = 0;
    for (size_t i = 0; i < insns.size(); i++) {
        const auto& funcs = p.elf().funcs;
        while (func < funcs.size() && funcs[func].insn < i) func++;
        if (func < funcs.size() && funcs[func].insn == i) out += fmt::format("{}:\n", funcs[func].name);
        else if (i == 0) out += fmt::format("{}:\n", p.name());
        const ElfLineInfo* l = p.elf().line_at(i);
        if (l && l != last && l->insn == i && !l->source.empty()) {
            std::string src = l->source;
            while (!src.empty() && (src.front() == ' ' || src.front() == '\t')) src.erase(src.begin());
            out += "; " + src;
            if (linum)
                out += fmt::format(" [file:{} line_num:{} line_col:{}]", l->file, l->line, l->column);
            out += "\n";
            last = l;
        }
        const Insn& in = insns[i];
        std::string text;
        const bool lddw = in.opcode == (BPF_LD | BPF_IMM | BPF_DW) && i + 1 < insns.size();
        if (lddw && (in.src == BPF_PSEUDO_MAP_FD || in.src == BPF_PSEUDO_MAP_VALUE)) {
            auto index = static_cast<uint32_t>(in.imm);
            uint32_t id = index < ids.size() ? ids[index] : 0;
            if (in.src == BPF_PSEUDO_MAP_FD) text = fmt::format("r{} = map[id:{}]", int(in.dst), id);
            else
                text = fmt::format("r{} = map[id:{}][0]+{}", int(in.dst), id, static_cast<uint32_t>(insns[i + 1].imm));
        } else {
            text = disassemble_insn(std::span<const Insn>(insns).subspan(i), Syntax::Llvm);
        }
        out += fmt::format("{:4}: ({:02x}) {}\n", i, in.opcode, text);
        if (opcodes) {
            const auto* b = reinterpret_cast<const uint8_t*>(&in);
            out += fmt::format("       {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x}\n", b[0], b[1], b[2],
                               b[3], b[4], b[5], b[6], b[7]);
        }
        if (lddw) i++;
    }
    return out;
}

std::vector<std::string> program_pins() {
    std::vector<std::string> pins;
    std::error_code ec;
    const std::string root = pin_root();
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        if (is_program_pin(it->path().string())) pins.push_back(it->path().string());
    }
    std::sort(pins.begin(), pins.end());
    return pins;
}

} // namespace

Command add_prog(CLI::App& app) {
    CLI::App* prog = app.add_subcommand("prog", "Load, show, dump and run programs (as bpftool prog)");
    prog->require_subcommand(1);
    std::vector<Command> subs;

    // ---- load
    {
        struct Options {
            std::string object, pin, name, pinmaps;
            EngineFlags engine;
            OutputFlags out;
        };
        auto o = std::make_shared<Options>();
        CLI::App* cmd = prog->add_subcommand("load", "Load an object (checks it) and pin a program of it");
        cmd->add_option("object", o->object, "ELF object")->required();
        cmd->add_option("pin", o->pin, "Pin the program (the first, or --name) at this path under the pin root");
        cmd->add_option("--name", o->name, "The program to pin");
        cmd->add_option("--pinmaps", o->pinmaps, "Pin every map that is not pinned yet in this directory");
        add_engine_flags(cmd, &o->engine);
        add_output_flags(cmd, &o->out);
        subs.push_back({cmd, [o] {
                            auto obj = LoadedObject::load(o->object, load_options(o->engine));
                            if (!obj) return report(obj.error().to_string());
                            if (!o->pinmaps.empty()) {
                                std::error_code ec;
                                std::filesystem::create_directories(resolve_pin_path(o->pinmaps), ec);
                                for (const auto& m : (*obj)->maps()) {
                                    if (!m.pin_path.empty()) continue;
                                    auto r = (*obj)->pin_map(m.name, o->pinmaps + "/" + m.name);
                                    if (!r) return report(fmt::format("map {}: {}", m.name, r.error().to_string()));
                                }
                            }
                            std::shared_ptr<LoadedProgram> p;
                            if (!o->name.empty()) {
                                p = (*obj)->find_program(o->name);
                                if (!p) return report(fmt::format("{}: no program named {}", o->object, o->name));
                            } else if (!(*obj)->programs().empty()) {
                                p = (*obj)->programs().front();
                            }
                            if (!o->pin.empty()) {
                                if (!p) return report(fmt::format("{}: the object has no programs", o->object));
                                if (auto r = p->pin(o->pin); !r) return report(r.error().to_string());
                            }
                            if (o->out.any()) {
                                json progs = json::array();
                                for (const auto& q : (*obj)->programs())
                                    progs.push_back(program_json(*q, q == p && !o->pin.empty()
                                                                         ? resolve_pin_path(o->pin)
                                                                         : std::string()));
                                emit(json{{"programs", progs}}, o->out.pretty);
                            }
                            return 0;
                        }});
    }

    // ---- show
    {
        struct Options {
            std::string target;
            OutputFlags out;
        };
        auto o = std::make_shared<Options>();
        CLI::App* cmd = prog->add_subcommand(
            "show", "Show a pinned program or an object's programs; without an argument, every program pin");
        cmd->alias("list");
        cmd->add_option("target", o->target, "Program pin or ELF object");
        add_output_flags(cmd, &o->out);
        subs.push_back({cmd, [o] {
                            std::vector<std::pair<std::shared_ptr<LoadedProgram>, std::string>> shown;
                            std::vector<std::shared_ptr<LoadedObject>> keep;
                            int status = 0;
                            json errors = json::array();
                            auto add_pin = [&](const std::string& pin) {
                                std::shared_ptr<LoadedProgram> p;
                                auto obj = LoadedObject::open_pinned_program(pin, &p);
                                if (!obj) {
                                    if (o->out.any()) errors.push_back({{"pinned", pin}, {"error", obj.error().to_string()}});
                                    else report(obj.error().to_string());
                                    status = 1;
                                    return;
                                }
                                keep.push_back(*obj);
                                shown.emplace_back(p, resolve_pin_path(pin));
                            };
                            if (o->target.empty()) {
                                for (const auto& pin : program_pins()) add_pin(pin);
                            } else if (is_program_pin(o->target)) {
                                add_pin(o->target);
                            } else {
                                auto obj = LoadedObject::load(o->target);
                                if (!obj) return report(obj.error().to_string());
                                keep.push_back(*obj);
                                for (const auto& p : (*obj)->programs()) shown.emplace_back(p, "");
                            }
                            if (o->out.any()) {
                                json j = json::array();
                                for (auto& [p, pin] : shown) j.push_back(program_json(*p, pin));
                                for (auto& e : errors) j.push_back(e);
                                emit(j, o->out.pretty);
                            } else {
                                for (auto& [p, pin] : shown) print_program(*p, pin);
                            }
                            return status;
                        }});
    }

    // ---- dump xlated | jited
    {
        struct Options {
            std::string kind, target, name, section;
            std::vector<std::string> extra;
            EngineFlags engine;
            OutputFlags out;
        };
        auto o = std::make_shared<Options>();
        CLI::App* cmd = prog->add_subcommand("dump", "Dump a program's instructions (xlated) or native code (jited)");
        cmd->add_option("kind", o->kind, "xlated or jited")->required()->check(CLI::IsMember({"xlated", "jited"}));
        cmd->add_option("target", o->target, "Program pin or ELF object")->required();
        cmd->add_option("extra", o->extra, "linum: source file, line and column; opcodes: the instruction bytes")
            ->check(CLI::IsMember({"linum", "opcodes"}));
        cmd->add_option("--name", o->name, "Program of the object");
        cmd->add_option("--section", o->section, "Program of the object by section");
        add_engine_flags(cmd, &o->engine);
        add_output_flags(cmd, &o->out);
        subs.push_back({cmd, [o] {
                            auto opened = open_program(o->target, o->name, o->section, o->engine);
                            if (!opened) return report(opened.error().to_string());
                            const LoadedProgram& p = *opened->program;
                            bool linum = std::find(o->extra.begin(), o->extra.end(), "linum") != o->extra.end();
                            bool opcodes = std::find(o->extra.begin(), o->extra.end(), "opcodes") != o->extra.end();
                            if (o->kind == "jited") {
                                if (!p.jit())
                                    return report(fmt::format("program {} runs on the interpreter: it has no native "
                                                              "code (load it without --interpreter)",
                                                              p.name()));
                                if (o->out.any()) {
                                    auto code = p.jit()->code();
                                    emit(json{{"name", p.name()},
                                              {"jited", code.size()},
                                              {"insn_offsets", std::vector<uint32_t>(p.jit()->insn_offsets().begin(),
                                                                                     p.jit()->insn_offsets().end())},
                                              {"dump", p.jit()->dump()}},
                                         o->out.pretty);
                                } else {
                                    std::cout << p.jit()->dump();
                                }
                                return 0;
                            }
                            if (o->out.any()) {
                                json insns = json::array();
                                const auto& v = p.elf().insns;
                                for (size_t i = 0; i < v.size(); i++) {
                                    json ij = {{"index", i},
                                               {"opcode", fmt::format("0x{:02x}", v[i].opcode)},
                                               {"disasm", disassemble_insn(std::span<const Insn>(v).subspan(i))}};
                                    if (const ElfLineInfo* l = p.elf().line_at(i)) {
                                        ij["src"] = l->source;
                                        if (linum) ij["linum"] = {{"file", l->file}, {"line_num", l->line},
                                                                  {"line_col", l->column}};
                                    }
                                    insns.push_back(ij);
                                    if (v[i].opcode == (BPF_LD | BPF_IMM | BPF_DW)) i++;
                                }
                                emit(json{{"name", p.name()}, {"insns", insns}}, o->out.pretty);
                            } else {
                                std::cout << xlated(p, linum, opcodes);
                            }
                            return 0;
                        }});
    }

    // ---- run
    {
        struct Options {
            std::string target, name, section, data_in, data_out;
            uint64_t repeat = 1;
            EngineFlags engine;
            OutputFlags out;
        };
        auto o = std::make_shared<Options>();
        CLI::App* cmd = prog->add_subcommand("run", "Run a program on a context read from a file (bpftool prog run)");
        cmd->add_option("target", o->target, "Program pin or ELF object")->required();
        cmd->add_option("--name", o->name, "Program of the object");
        cmd->add_option("--section", o->section, "Program of the object by section");
        cmd->add_option("--data-in", o->data_in, "The context's bytes ('-' for stdin; default: an empty context)");
        cmd->add_option("--data-out", o->data_out, "Write the context after the (last) run here");
        cmd->add_option("--repeat", o->repeat, "Run this many times (the last result is printed)")
            ->check(CLI::Range(uint64_t(1), uint64_t(1) << 32));
        add_engine_flags(cmd, &o->engine);
        add_output_flags(cmd, &o->out);
        subs.push_back({cmd, [o] {
                            auto opened = open_program(o->target, o->name, o->section, o->engine);
                            if (!opened) return report(opened.error().to_string());
                            std::vector<uint8_t> ctx;
                            if (!o->data_in.empty()) {
                                auto bytes = read_file(o->data_in);
                                if (!bytes) return report(bytes.error().to_string());
                                ctx = std::move(*bytes);
                            }
                            std::vector<uint8_t> run_ctx;
                            Result<uint64_t> r = 0;
                            auto start = std::chrono::steady_clock::now();
                            for (uint64_t i = 0; i < o->repeat; i++) {
                                run_ctx = ctx; // every run starts from the same context
                                r = opened->program->run(run_ctx.data(), run_ctx.size());
                                if (!r) break;
                            }
                            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count();
                            if (!r) return report(fmt::format("program {}: {}", opened->program->name(),
                                                              r.error().to_string()));
                            if (!o->data_out.empty()) {
                                std::ofstream f(o->data_out, std::ios::binary);
                                f.write(reinterpret_cast<const char*>(run_ctx.data()),
                                        static_cast<std::streamsize>(run_ctx.size()));
                                if (!f) return report(fmt::format("{}: cannot write", o->data_out));
                            }
                            const uint64_t avg = static_cast<uint64_t>(ns) / o->repeat;
                            if (o->out.any())
                                emit(json{{"retval", *r}, {"duration", avg}, {"repeat", o->repeat}}, o->out.pretty);
                            else
                                std::cout << fmt::format("Return value: {}, duration{}: {}ns\n", *r,
                                                         o->repeat > 1 ? " (average)" : "", avg);
                            return 0;
                        }});
    }

    return {prog, [prog, subs] {
                for (const auto& c : subs)
                    if (c.app->parsed()) return c.run();
                return report(fmt::format("prog: {}", prog->help()));
            }};
}

} // namespace bpfvm::cli
