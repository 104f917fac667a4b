// Map specifications: legacy `maps` (struct bpf_map_def), BTF-defined `.maps`
// and their initial slots (.rel.maps), global data sections; externs refused.
#include <algorithm>
#include <cctype>
#include <cstring>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <gelf.h>
#include <linux/bpf.h>

#include "internal.h"

namespace bpfvm::elf_detail {

namespace {

// libbpf's internal_map_name: as much of the object name as fits before the
// section name in 15 characters (the section name gets at least 7); custom
// sections (".data.foo", two dots) get no object prefix.
std::string internal_map_name(const std::string& object, const std::string& real) {
    const size_t max_len = BPF_OBJ_NAME_LEN - 1;
    size_t sfx = std::min(std::max<size_t>(7, real.size()), max_len);
    size_t pfx = 0;
    if (real.size() < 2 || real.find('.', 1) == std::string::npos)
        pfx = std::min(BPF_OBJ_NAME_LEN - sfx - 1, object.size());
    std::string name = object.substr(0, pfx) + real.substr(0, sfx);
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') c = '_';
    return name;
}

bool is_extern(const ElfSymbol& sym) {
    return sym.section == SHN_UNDEF && !sym.name.empty() && (sym.bind == STB_GLOBAL || sym.bind == STB_WEAK) &&
           (sym.type == STT_NOTYPE || sym.type == STT_OBJECT || sym.type == STT_FUNC);
}

} // namespace

ElfObjectReader::DataKind ElfObjectReader::data_kind(const ElfSection& sec) const {
    if (sec.type == SHT_PROGBITS && !(sec.flags & SHF_EXECINSTR) && !sec.data.empty()) {
        if (sec.name == ".data" || sec.name.starts_with(".data.")) return DataKind::Data;
        if (sec.name == ".rodata" || sec.name.starts_with(".rodata.")) return DataKind::Rodata;
    }
    if (sec.type == SHT_NOBITS && sec.name == ".bss" && sec.size > 0) return DataKind::Bss;
    return DataKind::None;
}

Result<void> ElfObjectReader::check_externs() {
    const struct btf* b = obj_.btf_.get();
    for (const ElfSymbol& sym : obj_.symbols_) {
        if (!is_extern(sym)) continue;
        // Name the DATASEC the extern is declared in (.kconfig, .ksyms), when BTF says.
        std::string where;
        for (uint32_t id = 1; b && id < btf__type_cnt(b) && where.empty(); id++) {
            const btf_type* t = btf_type_at(b, id);
            if (!t || !btf_is_datasec(t)) continue;
            const btf_var_secinfo* v = btf_var_secinfos(t);
            for (uint16_t i = 0; i < btf_vlen(t); i++) {
                const btf_type* var = btf_type_at(b, v[i].type);
                if (var && btf_name(b, var->name_off) == sym.name) {
                    where = btf_name(b, t->name_off);
                    break;
                }
            }
        }
        if (where.empty()) where = sym.type == STT_FUNC ? "kfunc or undefined function" : "undefined";
        return fail("extern '{}' ({}): externs (__kconfig, __ksym, undefined symbols) are not supported", sym.name,
                    where);
    }
    return {};
}

Result<void> ElfObjectReader::read_legacy_maps() {
    const ElfSection* sec = obj_.find_section("maps");
    if (!sec) return {};
    if (sec->type != SHT_PROGBITS) return fail("section maps: not a data section");
    legacy_maps_section_ = sec->index;
    std::vector<const ElfSymbol*> syms;
    for (const auto& s : obj_.symbols_)
        if (s.section == sec->index && s.type != STT_SECTION && s.type != STT_FILE) syms.push_back(&s);
    if (syms.empty()) return {};
    std::sort(syms.begin(), syms.end(), [](auto* a, auto* b) { return a->value < b->value; });
    if (sec->data.size() % syms.size() != 0)
        return fail("section maps: {} bytes for {} maps: the definitions are not all the same size",
                    sec->data.size(), syms.size());
    size_t def_size = sec->data.size() / syms.size();
    const size_t known = 5 * sizeof(uint32_t); // struct bpf_map_def
    if (def_size < 4 || def_size % 4 != 0)
        return fail("section maps: definitions of {} bytes (struct bpf_map_def is {})", def_size, known);
    for (const ElfSymbol* s : syms) {
        if (s->name.empty()) return fail("section maps: a map at offset {} has no name", s->value);
        if (s->value % 4 != 0 || s->value + def_size > sec->data.size() || s->value + def_size < s->value)
            return fail("map '{}': definition at offset {} does not fit in section maps ({} bytes)", s->name,
                        s->value, sec->data.size());
        uint32_t f[5] = {0, 0, 0, 0, 0};
        std::memcpy(f, sec->data.data() + s->value, std::min(def_size, known));
        for (size_t i = known; i < def_size; i++)
            if (sec->data[s->value + i] != 0)
                return fail("map '{}': definition has {} bytes, and bytes past struct bpf_map_def's {} are not zero "
                            "(unknown options)",
                            s->name, def_size, known);
        ElfMapSpec spec;
        spec.name = s->name;
        spec.section = "maps";
        spec.kind = ElfMapSpec::Kind::Legacy;
        spec.type = f[0];
        spec.key_size = f[1];
        spec.value_size = f[2];
        spec.max_entries = f[3];
        spec.map_flags = f[4];
        spec.section_index = sec->index;
        spec.section_offset = s->value;
        if (spec.type == BPF_MAP_TYPE_UNSPEC) return fail("map '{}': map type 0 (unspec) in section maps", s->name);
        map_at_[{sec->index, s->value}] = obj_.maps_.size();
        obj_.maps_.push_back(std::move(spec));
    }
    return {};
}

Result<void> ElfObjectReader::read_btf_maps() {
    const ElfSection* sec = obj_.find_section(".maps");
    if (!sec) return {};
    maps_section_ = sec->index;
    const struct btf* b = obj_.btf_.get();
    if (!b) return fail("section .maps: BTF-defined maps need the object's BTF (.BTF; compile with -g)");
    const btf_type* datasec = nullptr;
    for (uint32_t id = 1; id < btf__type_cnt(b); id++) {
        const btf_type* t = btf_type_at(b, id);
        if (t && btf_is_datasec(t) && btf_name(b, t->name_off) == ".maps") {
            datasec = t;
            btf_maps_datasec_ = id;
            break;
        }
    }
    if (!datasec) return fail("section .maps: the BTF has no DATASEC '.maps' describing it");
    struct Var {
        std::string name;
        uint64_t offset, size;
        const btf_type* def;
    };
    std::vector<Var> vars;
    const btf_var_secinfo* vi = btf_var_secinfos(datasec);
    for (uint16_t i = 0; i < btf_vlen(datasec); i++) {
        const btf_type* var = btf_type_at(b, vi[i].type);
        std::string name = var ? btf_name(b, var->name_off) : "";
        if (name.empty()) return fail("section .maps: map #{} has no name in the BTF", i);
        if (!btf_is_var(var)) return fail("map '{}': BTF type is {}, not a variable", name, btf_kind_name(var));
        if (btf_var(var)->linkage != BTF_VAR_GLOBAL_ALLOCATED)
            return fail("map '{}': {} map definitions are not supported (define it global)", name,
                        btf_var(var)->linkage == BTF_VAR_STATIC ? "static" : "extern");
        uint64_t offset = vi[i].offset;
        if (datasec->size == 0) { // clang leaves offsets to the loader: the symbol says
            const ElfSymbol* sym = nullptr;
            for (const auto& s : obj_.symbols_)
                if (s.name == name && s.type == STT_OBJECT && (s.bind == STB_GLOBAL || s.bind == STB_WEAK)) {
                    sym = &s;
                    break;
                }
            if (!sym) return fail("map '{}': no symbol gives its offset in section .maps", name);
            if (sym->section != sec->index)
                return fail("map '{}': its symbol is in section {}, not .maps", name, section_name(sym->section));
            offset = sym->value;
        }
        if (offset + vi[i].size > sec->data.size())
            return fail("map '{}': definition at offset {} (+{} bytes) goes past the end of section .maps ({} bytes)",
                        name, offset, vi[i].size, sec->data.size());
        const btf_type* def = btf_skip_mods(b, var->type);
        if (!def || !btf_is_struct(def))
            return fail("map '{}': definition is {}, not a struct", name, btf_kind_name(def));
        if (def->size > vi[i].size)
            return fail("map '{}': definition struct is {} bytes, its variable {}", name, def->size, vi[i].size);
        vars.push_back(Var{name, offset, vi[i].size, def});
    }
    std::stable_sort(vars.begin(), vars.end(), [](const Var& a, const Var& c) { return a.offset < c.offset; });
    for (const Var& v : vars) {
        ElfMapSpec spec;
        spec.name = v.name;
        spec.section = ".maps";
        spec.kind = ElfMapSpec::Kind::Btf;
        spec.section_index = sec->index;
        spec.section_offset = v.offset;
        ElfMapSpec inner_placeholder;
        if (auto r = parse_btf_map_def(v.name, v.def, spec, &inner_placeholder); !r) return r;
        if (auto r = find_special_fields(spec); !r) return r;
        map_at_[{sec->index, v.offset}] = obj_.maps_.size();
        btf_map_size_[obj_.maps_.size()] = v.size;
        obj_.maps_.push_back(std::move(spec));
    }
    return {};
}

Result<void> ElfObjectReader::read_global_data() {
    const struct btf* b = obj_.btf_.get();
    for (const auto& sec : obj_.sections_) {
        DataKind kind = data_kind(sec);
        if (kind == DataKind::None) continue;
        if (sec.size > UINT32_MAX) return fail("section {}: {} bytes, too large for a map value", sec.name, sec.size);
        ElfMapSpec spec;
        spec.name = internal_map_name(obj_.object_name_, sec.name);
        spec.section = sec.name;
        spec.kind = kind == DataKind::Data     ? ElfMapSpec::Kind::Data
                    : kind == DataKind::Rodata ? ElfMapSpec::Kind::Rodata
                                               : ElfMapSpec::Kind::Bss;
        spec.type = BPF_MAP_TYPE_ARRAY;
        spec.key_size = 4;
        spec.value_size = static_cast<uint32_t>(sec.size);
        spec.max_entries = 1;
        spec.map_flags = kind == DataKind::Rodata ? BPF_F_RDONLY_PROG : 0;
        spec.initial_data = kind == DataKind::Bss ? std::vector<uint8_t>(sec.size, 0) : sec.data;
        spec.section_index = sec.index;
        if (b) {
            int32_t id = btf__find_by_name(b, sec.name.c_str());
            if (id > 0) spec.btf_value_type_id = static_cast<uint32_t>(id);
        }
        // Mmapable when BTF shows a non-static variable in it (libbpf 1.1.2's
        // map_is_mmapable): strings-only sections like .rodata.str1.1 are not.
        if (const btf_type* t = btf_type_at(b, spec.btf_value_type_id);
            spec.btf_value_type_id && t && btf_is_datasec(t)) {
            const btf_var_secinfo* v = btf_var_secinfos(t);
            for (uint16_t i = 0; i < btf_vlen(t); i++) {
                const btf_type* var = btf_type_at(b, v[i].type);
                if (var && btf_is_var(var) && btf_var(var)->linkage != BTF_VAR_STATIC) {
                    spec.map_flags |= BPF_F_MMAPABLE;
                    break;
                }
            }
        }
        data_map_[sec.index] = obj_.maps_.size();
        obj_.maps_.push_back(std::move(spec));
    }
    return {};
}

Result<void> ElfObjectReader::read_map_slots() {
    if (!maps_section_) return {};
    const ElfSection* sec = obj_.section_by_index(maps_section_);
    const struct btf* b = obj_.btf_.get();
    for (size_t ri = 0; ri < sec->relocations.size(); ri++) {
        const ElfRelocation& r = sec->relocations[ri];
        const ElfSymbol& sym = obj_.symbols_[r.symbol];
        std::string sname = symbol_display_name(sym);
        size_t map_index = SIZE_MAX;
        for (const auto& [idx, size] : btf_map_size_) {
            const ElfMapSpec& m = obj_.maps_[idx];
            if (m.section_offset <= r.offset && r.offset + 8 <= m.section_offset + size) {
                map_index = idx;
                break;
            }
        }
        if (map_index == SIZE_MAX)
            return fail("section .maps: relocation {} (offset {}, against '{}') is not inside a map definition", ri,
                        r.offset, sname);
        ElfMapSpec& map = obj_.maps_[map_index];
        bool map_in_map = map.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || map.type == BPF_MAP_TYPE_HASH_OF_MAPS;
        std::string target;
        if (map_in_map) {
            if (sym.section != maps_section_)
                return fail("map '{}': initial value '{}' is not a BTF-defined map (.maps)", map.name, sname);
            if (map.type == BPF_MAP_TYPE_HASH_OF_MAPS && map.key_size != 4)
                return fail("map '{}': a hash of maps with initial values needs 4-byte keys (has {})", map.name,
                            map.key_size);
            if (!obj_.find_map(sym.name)) return fail("map '{}': initial value '{}' is not a map", map.name, sname);
            target = sym.name;
        } else if (map.type == BPF_MAP_TYPE_PROG_ARRAY) {
            bool found = false;
            for (const Function& fn : table_.functions)
                if (!fn.in_text && fn.name == sym.name && fn.section == sym.section &&
                    uint64_t(fn.offset) * 8 == sym.value)
                    found = true;
            if (!found) return fail("map '{}': initial value '{}' is not a program (an entry point)", map.name, sname);
            target = sym.name;
        } else {
            return fail("map '{}': relocation against '{}': only prog_array and map-in-map maps take initial values",
                        map.name, sname);
        }
        // The slot: the pointer's place in the last member, 'values'.
        const btf_type* def = nullptr;
        const btf_type* datasec = btf_type_at(b, btf_maps_datasec_);
        const btf_var_secinfo* vis = btf_var_secinfos(datasec);
        for (uint16_t i = 0; !def && i < btf_vlen(datasec); i++) {
            const btf_type* var = btf_type_at(b, vis[i].type);
            if (var && btf_name(b, var->name_off) == map.name) def = btf_skip_mods(b, var->type);
        }
        if (!def || btf_vlen(def) == 0)
            return fail("map '{}': relocation against '{}' but the definition has no members", map.name, sname);
        uint16_t last = btf_vlen(def) - 1;
        if (btf_name(b, btf_members(def)[last].name_off) != "values")
            return fail("map '{}': relocation against '{}' but the definition has no 'values' member", map.name, sname);
        uint64_t moff = btf_member_bit_offset(def, last) / 8;
        uint64_t rel = r.offset - map.section_offset;
        if (rel < moff || (rel - moff) % 8 != 0)
            return fail("map '{}': relocation against '{}' at offset {} is not on a 'values' slot", map.name, sname,
                        r.offset);
        uint32_t slot = static_cast<uint32_t>((rel - moff) / 8);
        if (slot >= map.max_entries)
            return fail("map '{}': initial value '{}' in slot {}, past max_entries {}", map.name, sname, slot,
                        map.max_entries);
        auto it = std::find_if(map.initial_slots.begin(), map.initial_slots.end(),
                               [&](const ElfMapSpec::Slot& s) { return s.index == slot; });
        if (it != map.initial_slots.end()) it->target = target;
        else map.initial_slots.push_back(ElfMapSpec::Slot{slot, target});
    }
    for (auto& m : obj_.maps_)
        std::sort(m.initial_slots.begin(), m.initial_slots.end(),
                  [](const ElfMapSpec::Slot& a, const ElfMapSpec::Slot& c) { return a.index < c.index; });
    return {};
}

} // namespace bpfvm::elf_detail
