// Loading an ELF object: its maps created (or reused from pins), global data
// initialised, programs resolved, bound to helpers and prepared on an engine,
// then prog_array and map-in-map slots filled — libbpf's bpf_object__load,
// with bpfvm's objects in place of the kernel's.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "bpfvm/helpers.h"
#include "bpfvm/jit.h"
#include "bpfvm/runtime.h"
#include "internal.h"

namespace bpfvm {

std::string_view engine_name(EngineKind kind) { return kind == EngineKind::Jit ? "jit" : "interpreter"; }

namespace {

const char* map_kind_name(ElfMapSpec::Kind k) {
    switch (k) {
    case ElfMapSpec::Kind::Btf: return "BTF map";
    case ElfMapSpec::Kind::Legacy: return "legacy map";
    case ElfMapSpec::Kind::Data: return ".data";
    case ElfMapSpec::Kind::Rodata: return ".rodata";
    case ElfMapSpec::Kind::Bss: return ".bss";
    case ElfMapSpec::Kind::Inner: return "inner map";
    }
    return "map";
}

constexpr uint32_t kPinByName = 1; // LIBBPF_PIN_BY_NAME (libbpf.h)

// Linux's map names: at most 15 characters of [A-Za-z0-9_.].
std::string kernel_map_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (out.size() == BPF_OBJ_NAME_LEN - 1) break;
        out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') ? c : '_';
    }
    return out;
}

MapSpec to_map_spec(const ElfMapSpec& e) {
    MapSpec s;
    s.type = e.type;
    s.key_size = e.key_size;
    s.value_size = e.value_size;
    s.max_entries = e.max_entries;
    // libbpf: a perf_event_array without max_entries gets one slot per possible CPU.
    if (e.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY && s.max_entries == 0) s.max_entries = default_nr_cpus();
    s.map_flags = e.map_flags;
    s.numa_node = e.numa_node;
    s.map_extra = e.map_extra;
    s.name = kernel_map_name(e.name);
    s.spin_lock_offset = e.spin_lock_offset;
    if (e.inner) s.inner = std::make_shared<MapSpec>(to_map_spec(*e.inner));
    return s;
}

// libbpf's map_is_reuse_compat: type, sizes, entries, flags and extra must match.
std::string reuse_mismatch(const MapSpec& want, const Map& have) {
    const MapSpec& h = have.spec();
    auto field = [](const char* name, uint64_t a, uint64_t b) {
        return fmt::format("{} is {} there, the object wants {}", name, b, a);
    };
    if (want.type != h.type) return field("type", want.type, h.type);
    if (want.key_size != h.key_size) return field("key_size", want.key_size, h.key_size);
    if (want.value_size != h.value_size) return field("value_size", want.value_size, h.value_size);
    if (want.max_entries != h.max_entries) return field("max_entries", want.max_entries, h.max_entries);
    if (want.map_flags != h.map_flags) return field("map_flags", want.map_flags, h.map_flags);
    if (want.map_extra != h.map_extra) return field("map_extra", want.map_extra, h.map_extra);
    return {};
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string where(const ElfProgram& p, size_t insn) {
    const ElfLineInfo* l = p.line_at(insn);
    if (!l) return {};
    std::string file = std::filesystem::path(l->file).filename().string();
    std::string src = l->source;
    while (!src.empty() && (src.front() == ' ' || src.front() == '\t')) src.erase(src.begin());
    return fmt::format(" ({}:{}: {})", file, l->line, src);
}

} // namespace

// ---------------------------------------------------------------------------
// LoadedProgram

LoadedProgram::~LoadedProgram() {
    if (id_) runtime_detail::unregister_program(id_);
}

std::vector<uint32_t> LoadedProgram::map_ids() const {
    std::vector<uint32_t> ids;
    for (const auto& m : maps_) ids.push_back(register_map(m));
    return ids;
}

Result<uint64_t> LoadedProgram::run(void* ctx, size_t ctx_size) const {
    if (jit_) return jit_->run(ctx, ctx_size, default_options_);
    return interpreter_->run(ctx, ctx_size, default_options_);
}

Result<uint64_t> LoadedProgram::run(void* ctx, size_t ctx_size, const RunOptions& options) const {
    const RunOptions* use = &options;
    RunOptions copy;
    if ((checked_ && !regions_.empty()) || options.checked != checked_) {
        copy = options;
        copy.checked = checked_;
        if (checked_) {
            for (const MemoryRegion& r : regions_) {
                bool present = std::any_of(copy.regions.begin(), copy.regions.end(),
                                           [&](const MemoryRegion& o) { return o.begin == r.begin && o.size == r.size; });
                if (!present) copy.regions.push_back(r);
            }
        }
        use = &copy;
    }
    if (jit_) return jit_->run(ctx, ctx_size, *use);
    return interpreter_->run(ctx, ctx_size, *use);
}

// ---------------------------------------------------------------------------
// LoadedObject

LoadedObject::~LoadedObject() = default;

Result<std::shared_ptr<LoadedObject>> LoadedObject::load(const std::string& path, const LoadOptions& options) {
    auto elf = ElfObject::open(path);
    if (!elf) return tl::unexpected(elf.error());
    std::shared_ptr<LoadedObject> obj(new LoadedObject());
    obj->elf_ = std::move(*elf);
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec);
    obj->path_ = ec ? path : abs.lexically_normal().string();
    obj->options_ = options;
    if (auto r = obj->create_maps(); !r) return tl::unexpected(r.error());
    if (auto r = obj->load_programs(); !r) return tl::unexpected(r.error());
    if (auto r = obj->fill_slots(); !r) return tl::unexpected(r.error());
    return obj;
}

Result<std::shared_ptr<LoadedObject>> LoadedObject::load(std::span<const uint8_t> bytes, std::string name,
                                                         const LoadOptions& options) {
    auto elf = ElfObject::from_memory(bytes, std::move(name));
    if (!elf) return tl::unexpected(elf.error());
    std::shared_ptr<LoadedObject> obj(new LoadedObject());
    obj->elf_ = std::move(*elf);
    obj->options_ = options;
    if (auto r = obj->create_maps(); !r) return tl::unexpected(r.error());
    if (auto r = obj->load_programs(); !r) return tl::unexpected(r.error());
    if (auto r = obj->fill_slots(); !r) return tl::unexpected(r.error());
    return obj;
}

Result<void> LoadedObject::create_maps() {
    MapOptions mopts;
    mopts.pin_root = options_.pin_root;
    mopts.nr_cpus = options_.nr_cpus;
    mopts.registry = object_registry();
    for (const ElfMapSpec& e : elf_.maps()) {
        LoadedMap lm;
        lm.name = e.name;
        lm.spec = e;
        const MapSpec spec = to_map_spec(e);
        auto fail = [&](const std::string& why) {
            return make_error(fmt::format("map {} ({}): {}", e.name, map_kind_name(e.kind), why));
        };

        if (auto it = options_.reuse_maps.find(e.name); it != options_.reuse_maps.end() && it->second) {
            if (auto why = reuse_mismatch(spec, *it->second); !why.empty())
                return fail("cannot reuse the map given for it: " + why);
            lm.map = it->second;
            lm.reused = true;
        } else if (e.pinning == kPinByName) {
            std::string rel = options_.pin_maps_dir.empty() ? e.name : options_.pin_maps_dir + "/" + e.name;
            lm.pin_path = resolve_pin_path(rel, mopts);
            for (int attempt = 0; attempt < 2 && !lm.map; attempt++) {
                if (exists(lm.pin_path)) {
                    auto m = Map::open_pinned(lm.pin_path, mopts);
                    if (!m) return fail("cannot reuse the map pinned at " + lm.pin_path + ": " + m.error().to_string());
                    if (auto why = reuse_mismatch(spec, **m); !why.empty())
                        return fail("cannot reuse the map pinned at " + lm.pin_path + ": " + why);
                    lm.map = *m;
                    lm.reused = true;
                } else {
                    auto m = Map::create(spec, mopts);
                    if (!m) return fail(m.error().to_string());
                    if (auto p = (*m)->pin(lm.pin_path); !p) {
                        if (exists(lm.pin_path)) continue; // another process pinned it first: reuse that
                        return fail("cannot pin it at " + lm.pin_path + ": " + p.error().to_string());
                    }
                    lm.map = *m;
                }
            }
            if (!lm.map) return fail("cannot create or reuse the map pinned at " + lm.pin_path);
        } else {
            auto m = Map::create(spec, mopts);
            if (!m) return fail(m.error().to_string());
            lm.map = *m;
        }

        // Global data: the section's bytes; .rodata is frozen afterwards (libbpf).
        if (!lm.reused && (e.kind == ElfMapSpec::Kind::Data || e.kind == ElfMapSpec::Kind::Rodata ||
                           e.kind == ElfMapSpec::Kind::Bss)) {
            auto* base = static_cast<uint8_t*>(lm.map->value_base());
            if (!base) return fail("global data needs an array map");
            size_t n = std::min<size_t>(e.initial_data.size(), lm.map->value_size());
            if (n) std::memcpy(base, e.initial_data.data(), n);
            if (e.kind == ElfMapSpec::Kind::Rodata) {
                if (long rc = lm.map->sys_freeze(); rc < 0) return fail(fmt::format("freeze: {}", errno_name(rc)));
            }
        }
        lm.id = register_map(lm.map);
        maps_.push_back(std::move(lm));
    }
    return {};
}

Result<void> LoadedObject::load_programs() {
    const HelperTable table = runtime_helper_table(options_.helpers);
    const bool use_jit = options_.engine == EngineKind::Jit && JitProgram::supported();
    for (const ElfProgram& ep : elf_.programs()) {
        bool wanted = options_.only_programs.empty()
                          ? ep.autoload
                          : std::find(options_.only_programs.begin(), options_.only_programs.end(), ep.name) !=
                                options_.only_programs.end();
        if (!wanted) continue;
        auto prefix = [&](const std::string& why) { return fmt::format("program {}: {}", ep.name, why); };
        auto prog = Program::from_insns(ep.insns, ep.name);
        if (!prog) return make_error(prefix(prog.error().to_string()));

        // Every helper it calls must be one bpfvm provides.
        for (size_t i = 0; i < prog->size(); i++) {
            const OpInfo* info = prog->op(i);
            if (!info) continue;
            const Insn& in = prog->insns()[i];
            const auto id = static_cast<uint32_t>(in.imm);
            if (info->form == Form::Call && !table.find(id)) {
                std::string_view name = find_helper_name(id);
                std::string helper = name.empty() ? fmt::format("helper {}", id)
                                                  : fmt::format("helper {} ({})", name, id);
                return make_error(fmt::format("program {}: instruction {} calls {}, which bpfvm does not provide{}",
                                              ep.name, i, helper, where(ep, i)));
            }
            if (info->form == Form::CallKfunc && !table.find_kfunc(id))
                return make_error(fmt::format(
                    "program {}: instruction {} calls the kfunc with BTF id {}, which bpfvm does not provide{}",
                    ep.name, i, id, where(ep, i)));
        }

        std::shared_ptr<LoadedProgram> lp(new LoadedProgram());
        lp->elf_ = ep;
        lp->engine_ = use_jit ? EngineKind::Jit : EngineKind::Interpreter;
        lp->checked_ = options_.checked;
        lp->object_ = weak_from_this();
        std::vector<bool> used(maps_.size(), false);

        PrepareOptions po;
        po.resolve_pseudo = [&](const Insn& first, const Insn& second, int64_t index) -> Result<uint64_t> {
            const auto i = static_cast<size_t>(index);
            auto map_at = [&](const char* what) -> Result<Map*> {
                const auto m = static_cast<uint32_t>(first.imm);
                if (m >= maps_.size())
                    return make_error(fmt::format("program {}: instruction {}: lddw {} refers to map {}, but the "
                                                  "object has {} maps{}",
                                                  ep.name, i, what, m, maps_.size(), where(ep, i)));
                used[m] = true;
                return maps_[m].map.get();
            };
            switch (first.src) {
            case BPF_PSEUDO_MAP_FD: {
                auto m = map_at("of a map (src 1)");
                if (!m) return tl::unexpected(m.error());
                return reinterpret_cast<uint64_t>(*m);
            }
            case BPF_PSEUDO_MAP_VALUE: {
                auto m = map_at("of a map value (src 2)");
                if (!m) return tl::unexpected(m.error());
                auto* base = static_cast<uint8_t*>((*m)->value_base());
                const auto off = static_cast<uint32_t>(second.imm);
                if (!base)
                    return make_error(fmt::format("program {}: instruction {}: lddw of a value of map {}, which is "
                                                  "not an array{}",
                                                  ep.name, i, (*m)->name(), where(ep, i)));
                if (off >= (*m)->value_size())
                    return make_error(fmt::format("program {}: instruction {}: lddw of offset {} in map {}, whose "
                                                  "value has {} bytes{}",
                                                  ep.name, i, off, (*m)->name(), (*m)->value_size(), where(ep, i)));
                return reinterpret_cast<uint64_t>(base) + off;
            }
            default:
                return make_error(fmt::format("program {}: instruction {}: lddw with source {} is not supported by "
                                              "the runtime (only maps, src 1, and map values, src 2){}",
                                              ep.name, i, first.src, where(ep, i)));
            }
        };

        if (use_jit) {
            JitOptions jo;
            jo.checked = options_.checked;
            auto jit = JitProgram::compile(*prog, table, po, jo);
            if (!jit) {
                Error e = jit.error();
                if (e.message.rfind("program ", 0) != 0) e.message = prefix(e.to_string()), e.insn = -1;
                return tl::unexpected(e);
            }
            lp->jit_ = std::make_shared<const JitProgram>(std::move(*jit));
        } else {
            auto vm = Interpreter::create(*prog, table, po);
            if (!vm) {
                Error e = vm.error();
                if (e.message.rfind("program ", 0) != 0) e.message = prefix(e.to_string()), e.insn = -1;
                return tl::unexpected(e);
            }
            lp->interpreter_ = std::make_shared<const Interpreter>(std::move(*vm));
        }
        lp->program_ = std::move(*prog);
        for (size_t m = 0; m < maps_.size(); m++) {
            if (!used[m]) continue;
            lp->maps_.push_back(maps_[m].map);
            if (auto* base = maps_[m].map->value_base(); base && maps_[m].map->type() == BPF_MAP_TYPE_ARRAY) {
                // Global data and arrays referenced by value: the program reaches them without a helper.
                bool direct = std::any_of(ep.map_references.begin(), ep.map_references.end(),
                                          [&](const ElfMapReference& r) { return r.map == m && r.value; });
                if (direct) {
                    uint64_t stride = (uint64_t(maps_[m].map->value_size()) + 7) & ~uint64_t(7);
                    lp->regions_.push_back(MemoryRegion{reinterpret_cast<uint64_t>(base),
                                                        stride * maps_[m].map->max_entries(),
                                                        !(maps_[m].map->map_flags() & BPF_F_RDONLY_PROG),
                                                        maps_[m].map->name()});
                }
            }
        }
        lp->default_options_.checked = lp->checked_;
        if (lp->checked_) lp->default_options_.regions = lp->regions_;
        lp->id_ = runtime_detail::register_program(lp);
        programs_.push_back(std::move(lp));
    }
    return {};
}

Result<void> LoadedObject::fill_slots() {
    for (LoadedMap& lm : maps_) {
        if (lm.reused || lm.spec.initial_slots.empty()) continue;
        const bool prog_array = lm.spec.type == BPF_MAP_TYPE_PROG_ARRAY;
        for (const ElfMapSpec::Slot& slot : lm.spec.initial_slots) {
            uint32_t id = 0;
            if (prog_array) {
                auto p = find_program(slot.target);
                if (!p || p->name() != slot.target)
                    return make_error(fmt::format("map {}: slot {} names program {}, which was not loaded", lm.name,
                                                  slot.index, slot.target));
                id = p->id();
            } else {
                const LoadedMap* target = find_loaded_map(slot.target);
                if (!target)
                    return make_error(fmt::format("map {}: slot {} names map {}, which the object does not have",
                                                  lm.name, slot.index, slot.target));
                id = target->id;
            }
            const uint32_t key = slot.index;
            if (long rc = lm.map->sys_update(&key, &id, BPF_ANY); rc < 0)
                return make_error(fmt::format("map {}: slot {} ({} {}): {}", lm.name, slot.index,
                                              prog_array ? "program" : "map", slot.target, errno_name(rc)));
        }
    }
    return {};
}

std::shared_ptr<LoadedProgram> LoadedObject::find_program(std::string_view name) const {
    for (const auto& p : programs_)
        if (p->name() == name) return p;
    std::shared_ptr<LoadedProgram> only;
    for (const auto& p : programs_) {
        if (p->section() != name) continue;
        if (only) return nullptr; // ambiguous
        only = p;
    }
    return only;
}

const LoadedMap* LoadedObject::find_loaded_map(std::string_view name) const {
    for (const auto& m : maps_)
        if (m.name == name) return &m;
    for (const auto& m : maps_)
        if (m.map->name() == name) return &m;
    return nullptr;
}

std::shared_ptr<Map> LoadedObject::find_map(std::string_view name) const {
    const LoadedMap* m = find_loaded_map(name);
    return m ? m->map : nullptr;
}

Result<void> LoadedObject::pin_map(std::string_view name, const std::string& path) {
    for (auto& m : maps_) {
        if (m.name != name && m.map->name() != name) continue;
        MapOptions mo;
        mo.pin_root = options_.pin_root;
        std::string full = resolve_pin_path(path, mo);
        if (auto r = m.map->pin(full); !r) return r;
        m.pin_path = full;
        return {};
    }
    return make_error(fmt::format("the object has no map named {}", name));
}

} // namespace bpfvm
