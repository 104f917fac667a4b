// BTF: the .BTF section through libbpf, .BTF.ext (func and line info) parsed
// here (libbpf 1.1 keeps btf_ext private), BTF-defined map definitions, and
// type names for printing.
#include <cerrno>
#include <algorithm>
#include <cstring>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <gelf.h>
#include <linux/bpf.h>

#include "internal.h"

namespace bpfvm {
namespace elf_detail {

namespace {

constexpr uint16_t kBtfMagic = 0xeB9F;
constexpr int kMaxTypeDepth = 32; // typedef/modifier chains longer than this are refused as loops

uint32_t read_u32(std::span<const uint8_t> b, size_t off) {
    uint32_t v;
    std::memcpy(&v, b.data() + off, 4);
    return v;
}

} // namespace

const btf_type* btf_type_at(const struct btf* btf, uint32_t id) {
    if (!btf || id >= btf__type_cnt(btf)) return nullptr;
    return btf__type_by_id(btf, id);
}

const btf_type* btf_skip_mods(const struct btf* btf, uint32_t id, uint32_t* result_id) {
    for (int depth = 0; depth < kMaxTypeDepth; depth++) {
        const btf_type* t = btf_type_at(btf, id);
        if (!t) return nullptr;
        if (!btf_is_mod(t) && !btf_is_typedef(t)) {
            if (result_id) *result_id = id;
            return t;
        }
        id = t->type;
    }
    return nullptr;
}

std::string btf_name(const struct btf* btf, uint32_t name_off) {
    const char* s = btf ? btf__name_by_offset(btf, name_off) : nullptr;
    return s ? s : "";
}

const char* btf_kind_name(const btf_type* t) {
    if (!t) return "missing";
    switch (btf_kind(t)) {
    case BTF_KIND_UNKN: return "void";
    case BTF_KIND_INT: return "int";
    case BTF_KIND_PTR: return "ptr";
    case BTF_KIND_ARRAY: return "array";
    case BTF_KIND_STRUCT: return "struct";
    case BTF_KIND_UNION: return "union";
    case BTF_KIND_ENUM: return "enum";
    case BTF_KIND_FWD: return "fwd";
    case BTF_KIND_TYPEDEF: return "typedef";
    case BTF_KIND_VOLATILE: return "volatile";
    case BTF_KIND_CONST: return "const";
    case BTF_KIND_RESTRICT: return "restrict";
    case BTF_KIND_FUNC: return "func";
    case BTF_KIND_FUNC_PROTO: return "func_proto";
    case BTF_KIND_VAR: return "var";
    case BTF_KIND_DATASEC: return "datasec";
    case BTF_KIND_FLOAT: return "float";
    case BTF_KIND_DECL_TAG: return "decl_tag";
    case BTF_KIND_TYPE_TAG: return "type_tag";
    case BTF_KIND_ENUM64: return "enum64";
    default: return "unknown";
    }
}

Result<BtfExt> parse_btf_ext(std::span<const uint8_t> b, const struct btf* btf) {
    auto bad = [](std::string why) { return make_error("section .BTF.ext: " + why); };
    if (b.size() < 8) return bad(fmt::format("{} bytes: too short for a header", b.size()));
    uint16_t magic;
    std::memcpy(&magic, b.data(), 2);
    if (magic != kBtfMagic) return bad(fmt::format("bad magic 0x{:04x} (expected 0xeb9f)", magic));
    if (b[2] != 1) return bad(fmt::format("version {} (only version 1 exists)", b[2]));
    uint32_t hdr_len = read_u32(b, 4);
    if (hdr_len < 24 || hdr_len > b.size())
        return bad(fmt::format("header length {} outside 24..{} (the section's size)", hdr_len, b.size()));
    std::span<const uint8_t> body = b.subspan(hdr_len);
    BtfExt ext;
    // One info block: rec_size, then per section {name_off, count, records}.
    auto block = [&](const char* what, uint32_t off, uint32_t len, uint32_t min_rec,
                     auto&& record) -> Result<uint32_t> {
        if (len == 0) return 0u;
        if (uint64_t(off) + len > body.size())
            return bad(fmt::format("{} info at {} (+{} bytes) goes past the end ({} bytes after the header)", what,
                                   off, len, body.size()));
        std::span<const uint8_t> d = body.subspan(off, len);
        if (d.size() < 4) return bad(fmt::format("{} info: {} bytes, no record size", what, d.size()));
        uint32_t rec = read_u32(d, 0);
        if (rec < min_rec || rec % 4 != 0)
            return bad(fmt::format("{} info: record size {} (at least {}, a multiple of 4)", what, rec, min_rec));
        size_t pos = 4;
        uint32_t total = 0;
        while (pos < d.size()) {
            if (d.size() - pos < 8) return bad(fmt::format("{} info: truncated section header at {}", what, pos));
            uint32_t name_off = read_u32(d, pos), count = read_u32(d, pos + 4);
            pos += 8;
            const char* sec = btf__name_by_offset(btf, name_off);
            if (!sec) return bad(fmt::format("{} info: section name offset {} is not in the BTF strings", what, name_off));
            if (count == 0) return bad(fmt::format("{} info for section {}: no records", what, sec));
            if (uint64_t(count) * rec > d.size() - pos)
                return bad(fmt::format("{} info for section {}: {} records of {} bytes go past the end", what, sec,
                                       count, rec));
            for (uint32_t i = 0; i < count; i++, pos += rec) {
                uint32_t insn_off = read_u32(d, pos);
                if (insn_off % 8 != 0)
                    return bad(fmt::format("{} info for section {}: record {} is at byte {}, not on an instruction",
                                           what, sec, i, insn_off));
                if (auto r = record(std::string(sec), insn_off / 8, d.subspan(pos, rec)); !r)
                    return tl::unexpected(r.error());
            }
            total += count;
        }
        return total;
    };
    auto funcs = block("func", read_u32(b, 8), read_u32(b, 12), 8,
                       [&](const std::string& sec, uint32_t insn, std::span<const uint8_t> r) -> Result<void> {
                           ext.funcs[sec].push_back(ExtFunc{insn, read_u32(r, 4)});
                           return {};
                       });
    if (!funcs) return tl::unexpected(funcs.error());
    auto lines = block("line", read_u32(b, 16), read_u32(b, 20), 16,
                       [&](const std::string& sec, uint32_t insn, std::span<const uint8_t> r) -> Result<void> {
                           ext.lines[sec].push_back(ExtLine{insn, read_u32(r, 4), read_u32(r, 8), read_u32(r, 12)});
                           return {};
                       });
    if (!lines) return tl::unexpected(lines.error());
    ext.func_count = *funcs;
    ext.line_count = *lines;
    if (hdr_len >= 32) { // CO-RE relocations: counted, not applied
        auto core = block("CO-RE relocation", read_u32(b, 24), read_u32(b, 28), 16,
                          [&](const std::string&, uint32_t, std::span<const uint8_t>) -> Result<void> { return {}; });
        if (!core) return tl::unexpected(core.error());
        ext.core_relo_count = *core;
    }
    return ext;
}

Result<void> ElfObjectReader::read_btf() {
    const ElfSection* sec = obj_.find_section(".BTF");
    const ElfSection* ext = obj_.find_section(".BTF.ext");
    if (!sec) {
        if (ext) return fail("section .BTF.ext without a .BTF section");
        return {};
    }
    if (sec->type != SHT_PROGBITS || sec->data.empty()) return fail("section .BTF: not a data section");
    errno = 0;
    struct btf* b = btf__new(sec->data.data(), static_cast<uint32_t>(sec->data.size()));
    if (!b || libbpf_get_error(b)) {
        int e = errno ? errno : EINVAL;
        return fail("section .BTF: libbpf cannot parse it ({})", std::strerror(e));
    }
    obj_.btf_ = std::shared_ptr<struct btf>(b, btf__free);
    if (auto r = fixup_datasecs(); !r) return r;
    if (ext) {
        if (ext->type != SHT_PROGBITS) return fail("section .BTF.ext: not a data section");
        auto parsed = parse_btf_ext(ext->data, b);
        if (!parsed) return fail("{}", parsed.error().message);
        ext_ = std::move(*parsed);
        obj_.func_info_count_ = ext_.func_count;
        obj_.line_info_count_ = ext_.line_count;
        obj_.core_relo_count_ = ext_.core_relo_count;
    }
    return {};
}

// clang leaves the sizes of DATASECs and the offsets of their variables to
// the loader (0 in the object): take them from the ELF section and symbols,
// and sort the variables by offset, as libbpf's btf_fixup_datasec does.
Result<void> ElfObjectReader::fixup_datasecs() {
    struct btf* b = obj_.btf_.get();
    for (uint32_t id = 1; id < btf__type_cnt(b); id++) {
        // libbpf's BTF is ours to adjust (libbpf does the same to its copy).
        auto* t = const_cast<btf_type*>(btf_type_at(b, id));
        if (!t || !btf_is_datasec(t) || t->size != 0) continue;
        std::string name = btf_name(b, t->name_off);
        const ElfSection* sec = obj_.find_section(name);
        if (!sec || sec->size == 0 || sec->size > UINT32_MAX) continue; // nothing to take it from
        t->size = static_cast<uint32_t>(sec->size);
        btf_var_secinfo* v = btf_var_secinfos(t);
        for (uint16_t i = 0; i < btf_vlen(t); i++) {
            const btf_type* var = btf_type_at(b, v[i].type);
            if (!var || !btf_is_var(var))
                return fail("section .BTF: DATASEC {} holds type {} ({}), not a variable", name, v[i].type,
                            btf_kind_name(var));
            if (btf_var(var)->linkage == BTF_VAR_STATIC) continue;
            std::string vname = btf_name(b, var->name_off);
            const ElfSymbol* sym = nullptr;
            for (const auto& s : obj_.symbols_)
                if (s.name == vname && s.type == STT_OBJECT && (s.bind == STB_GLOBAL || s.bind == STB_WEAK)) {
                    sym = &s;
                    break;
                }
            if (!sym) return fail("section .BTF: variable '{}' of DATASEC {} has no symbol giving its offset", vname, name);
            if (sym->value > UINT32_MAX) return fail("section .BTF: variable '{}' at offset {}", vname, sym->value);
            v[i].offset = static_cast<uint32_t>(sym->value);
        }
        std::stable_sort(v, v + btf_vlen(t),
                         [](const btf_var_secinfo& a, const btf_var_secinfo& c) { return a.offset < c.offset; });
    }
    return {};
}

Result<void> ElfObjectReader::attach_ext_info(Function& fn) {
    const struct btf* b = obj_.btf_.get();
    if (auto it = ext_.lines.find(fn.section_name); it != ext_.lines.end()) {
        for (const ExtLine& l : it->second) {
            if (l.insn < fn.offset || l.insn >= fn.offset + fn.count) continue;
            ElfLineInfo li;
            li.insn = l.insn - fn.offset;
            const char* file = btf__name_by_offset(b, l.file_off);
            const char* line = btf__name_by_offset(b, l.line_off);
            if (!file || !line)
                return fail("section .BTF.ext: line info of {} (instruction {}) names strings outside .BTF",
                            fn.section_name, l.insn);
            li.file = file;
            li.source = line;
            li.line = BPF_LINE_INFO_LINE_NUM(l.line_col);
            li.column = BPF_LINE_INFO_LINE_COL(l.line_col);
            fn.lines.push_back(std::move(li));
        }
        std::stable_sort(fn.lines.begin(), fn.lines.end(),
                         [](const ElfLineInfo& a, const ElfLineInfo& c) { return a.insn < c.insn; });
    }
    if (auto it = ext_.funcs.find(fn.section_name); it != ext_.funcs.end()) {
        for (const ExtFunc& f : it->second) {
            if (f.insn < fn.offset || f.insn >= fn.offset + fn.count) continue;
            const btf_type* t = btf_type_at(b, f.type_id);
            if (!t || !btf_is_func(t))
                return fail("section .BTF.ext: func info of {} (instruction {}) names type {}, which is not a FUNC",
                            fn.section_name, f.insn, f.type_id);
            fn.funcs.push_back(ElfFuncInfo{f.insn - fn.offset, f.type_id, btf_name(b, t->name_off)});
        }
        std::stable_sort(fn.funcs.begin(), fn.funcs.end(),
                         [](const ElfFuncInfo& a, const ElfFuncInfo& c) { return a.insn < c.insn; });
    }
    return {};
}

// ---- BTF-defined maps (libbpf's parse_btf_map_def) -------------------------

Result<uint32_t> ElfObjectReader::map_field_int(const std::string& map_name, const std::string& field,
                                                uint32_t type_id) const {
    const struct btf* b = obj_.btf_.get();
    const btf_type* t = btf_skip_mods(b, type_id);
    if (!t || !btf_is_ptr(t))
        return fail("map '{}': attribute '{}': expected a pointer to an array (__uint), got {}", map_name, field,
                    btf_kind_name(t));
    const btf_type* arr = btf_type_at(b, t->type);
    if (!arr || !btf_is_array(arr))
        return fail("map '{}': attribute '{}': expected a pointer to an array (__uint), got a pointer to {}",
                    map_name, field, btf_kind_name(arr));
    return btf_array(arr)->nelems;
}

Result<void> ElfObjectReader::parse_btf_map_def(const std::string& map_name, const btf_type* def, ElfMapSpec& spec,
                                                ElfMapSpec* inner) {
    const struct btf* b = obj_.btf_.get();
    bool is_inner = inner == nullptr;
    uint16_t vlen = btf_vlen(def);
    const btf_member* members = btf_members(def);
    // A type's size as the key or value: a pointer (__type) to it.
    auto pointee_size = [&](const char* what, const btf_member& m, uint32_t* type_id) -> Result<uint32_t> {
        const btf_type* t = btf_type_at(b, m.type);
        if (!t) return fail("map '{}': {} type [{}] not found", map_name, what, m.type);
        if (!btf_is_ptr(t)) return fail("map '{}': {} is not a pointer (__type): {}", map_name, what, btf_kind_name(t));
        int64_t sz = btf__resolve_size(b, t->type);
        if (sz < 0 || sz > UINT32_MAX)
            return fail("map '{}': cannot determine the size of the {} type [{}]", map_name, what, t->type);
        *type_id = t->type;
        return static_cast<uint32_t>(sz);
    };
    auto set_size = [&](const char* what, uint32_t& field, uint32_t sz) -> Result<void> {
        if (field && field != sz) return fail("map '{}': conflicting {} size {} != {}", map_name, what, field, sz);
        field = sz;
        return {};
    };
    for (uint16_t i = 0; i < vlen; i++) {
        const btf_member& m = members[i];
        const char* cname = btf__name_by_offset(b, m.name_off);
        if (!cname) return fail("map '{}': member {} has no name", map_name, i);
        std::string name = cname;
        auto get_int = [&]() { return map_field_int(map_name, name, m.type); };
        if (name == "type" || name == "max_entries" || name == "map_flags" || name == "numa_node" ||
            name == "key_size" || name == "value_size" || name == "pinning" || name == "map_extra") {
            auto v = get_int();
            if (!v) return tl::unexpected(v.error());
            if (name == "type") spec.type = *v;
            else if (name == "max_entries") spec.max_entries = *v;
            else if (name == "map_flags") spec.map_flags = *v;
            else if (name == "numa_node") spec.numa_node = *v;
            else if (name == "map_extra") spec.map_extra = *v;
            else if (name == "key_size") {
                if (auto r = set_size("key", spec.key_size, *v); !r) return r;
            } else if (name == "value_size") {
                if (auto r = set_size("value", spec.value_size, *v); !r) return r;
            } else { // pinning
                if (is_inner) return fail("map '{}': an inner map cannot be pinned", map_name);
                if (*v != 0 && *v != 1) // LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME (bpf_helpers.h)
                    return fail("map '{}': invalid pinning value {} (0: none, 1: by name)", map_name, *v);
                spec.pinning = *v;
            }
        } else if (name == "key" || name == "value") {
            uint32_t id = 0;
            auto sz = pointee_size(name.c_str(), m, &id);
            if (!sz) return tl::unexpected(sz.error());
            if (name == "key") {
                if (auto r = set_size("key", spec.key_size, *sz); !r) return r;
                spec.btf_key_type_id = id;
            } else {
                if (auto r = set_size("value", spec.value_size, *sz); !r) return r;
                spec.btf_value_type_id = id;
            }
        } else if (name == "values") {
            bool map_in_map = spec.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || spec.type == BPF_MAP_TYPE_HASH_OF_MAPS;
            bool prog_array = spec.type == BPF_MAP_TYPE_PROG_ARRAY;
            if (is_inner) return fail("map '{}': multi-level inner maps are not supported", map_name);
            if (i != vlen - 1) return fail("map '{}': 'values' must be the last member", map_name);
            if (!map_in_map && !prog_array)
                return fail("map '{}': 'values' needs a map-in-map or a prog_array (the type is {})", map_name,
                            spec.type);
            if (auto r = set_size("value", spec.value_size, 4); !r) return r;
            const btf_type* t = btf_type_at(b, m.type);
            if (!t || !btf_is_array(t) || btf_array(t)->nelems != 0)
                return fail("map '{}': 'values' is not a zero-sized array (__array)", map_name);
            t = btf_skip_mods(b, btf_array(t)->type);
            if (!t || !btf_is_ptr(t))
                return fail("map '{}': 'values' elements are {}, not pointers", map_name, btf_kind_name(t));
            t = btf_skip_mods(b, t->type);
            if (prog_array) {
                if (!t || !btf_is_func_proto(t))
                    return fail("map '{}': prog_array 'values' point to {}, not functions", map_name,
                                btf_kind_name(t));
                continue;
            }
            if (!t || !btf_is_struct(t))
                return fail("map '{}': map-in-map 'values' point to {}, not a map definition struct", map_name,
                            btf_kind_name(t));
            auto in = std::make_shared<ElfMapSpec>();
            in->name = map_name + ".inner";
            in->section = spec.section;
            in->kind = ElfMapSpec::Kind::Inner;
            in->section_index = spec.section_index;
            if (auto r = parse_btf_map_def(in->name, t, *in, nullptr); !r) return r;
            if (auto r = find_special_fields(*in); !r) return r;
            spec.inner = std::move(in);
        } else {
            return fail("map '{}': unknown attribute '{}'", map_name, name);
        }
    }
    if (spec.type == BPF_MAP_TYPE_UNSPEC) return fail("map '{}': no map type (__uint(type, ...))", map_name);
    // libbpf rounds a ring buffer's size up to a power-of-2 number of pages.
    if ((spec.type == BPF_MAP_TYPE_RINGBUF || spec.type == BPF_MAP_TYPE_USER_RINGBUF) && spec.max_entries) {
        const uint64_t page = 4096;
        uint64_t sz = spec.max_entries;
        bool ok = sz % page == 0 && ((sz / page) & (sz / page - 1)) == 0;
        if (!ok)
            for (uint64_t mul = 1; mul <= UINT32_MAX / page; mul <<= 1)
                if (mul * page > sz) {
                    spec.max_entries = static_cast<uint32_t>(mul * page);
                    break;
                }
    }
    return {};
}

Result<void> ElfObjectReader::find_special_fields(ElfMapSpec& spec) const {
    const struct btf* b = obj_.btf_.get();
    if (!spec.btf_value_type_id) return {};
    const btf_type* t = btf_skip_mods(b, spec.btf_value_type_id);
    if (!t || !btf_is_struct(t)) return {};
    const btf_member* members = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); i++) {
        const btf_type* mt = btf_type_at(b, members[i].type);
        if (!mt || !btf_is_struct(mt)) continue;
        std::string tname = btf_name(b, mt->name_off);
        int32_t* field = nullptr;
        uint32_t size = 0;
        if (tname == "bpf_spin_lock") field = &spec.spin_lock_offset, size = 4;
        else if (tname == "bpf_timer") field = &spec.timer_offset, size = 16;
        if (!field || mt->size != size) continue;
        uint32_t bits = btf_member_bit_offset(t, i);
        if (bits % 8 != 0 || (bits / 8) % 4 != 0)
            return fail("map '{}': struct {} at bit offset {} of the value is misaligned", spec.name, tname, bits);
        if (*field >= 0)
            return fail("map '{}': the value holds more than one struct {} (at {} and {})", spec.name, tname, *field,
                        bits / 8);
        *field = static_cast<int32_t>(bits / 8);
    }
    return {};
}

} // namespace elf_detail

// ---- Printing types -----------------------------------------------------------

namespace {

std::string type_name(const struct btf* b, uint32_t id, int depth) {
    using namespace elf_detail;
    if (id == 0) return "void";
    if (depth > 32) return "<loop>";
    const btf_type* t = btf_type_at(b, id);
    if (!t) return fmt::format("<bad type {}>", id);
    std::string name = btf_name(b, t->name_off);
    auto named = [&](const char* kw) { return fmt::format("{} {}", kw, name.empty() ? "{...}" : name); };
    switch (btf_kind(t)) {
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_FUNC:
    case BTF_KIND_VAR:
    case BTF_KIND_DATASEC: return name.empty() ? fmt::format("<anonymous {}>", btf_kind_name(t)) : name;
    case BTF_KIND_STRUCT: return named("struct");
    case BTF_KIND_UNION: return named("union");
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: return named("enum");
    case BTF_KIND_FWD: return named(btf_kflag(t) ? "union" : "struct");
    case BTF_KIND_PTR: {
        const btf_type* to = btf_skip_mods(b, t->type);
        if (to && btf_is_func_proto(to)) return type_name(b, to->type, depth + 1) + " (*)()";
        std::string inner = type_name(b, t->type, depth + 1);
        return inner + (inner.ends_with('*') ? "*" : " *");
    }
    case BTF_KIND_ARRAY: {
        // C writes the outermost dimension first: int[2][3] is 2 arrays of 3 ints.
        std::string dims;
        uint32_t elem = id;
        for (int d = 0; d < 32; d++) {
            const btf_type* a = btf_type_at(b, elem);
            if (!a || !btf_is_array(a)) break;
            dims += fmt::format("[{}]", btf_array(a)->nelems);
            elem = btf_array(a)->type;
        }
        return type_name(b, elem, depth + 1) + dims;
    }
    case BTF_KIND_CONST: return "const " + type_name(b, t->type, depth + 1);
    case BTF_KIND_VOLATILE: return "volatile " + type_name(b, t->type, depth + 1);
    case BTF_KIND_RESTRICT: return "restrict " + type_name(b, t->type, depth + 1);
    case BTF_KIND_TYPE_TAG:
    case BTF_KIND_DECL_TAG: return type_name(b, t->type, depth + 1);
    case BTF_KIND_FUNC_PROTO: return type_name(b, t->type, depth + 1) + "()";
    default: return fmt::format("<kind {}>", btf_kind(t));
    }
}

} // namespace

std::string ElfObject::btf_type_name(uint32_t type_id) const {
    if (!btf_) return fmt::format("<no BTF: type {}>", type_id);
    return type_name(btf_.get(), type_id, 0);
}

std::string ElfObject::btf_type_declaration(uint32_t type_id) const {
    using namespace elf_detail;
    const struct btf* b = btf_.get();
    if (!b) return fmt::format("<no BTF: type {}>", type_id);
    const btf_type* t = btf_type_at(b, type_id);
    if (!t) return fmt::format("<bad type {}>", type_id);
    std::string out;
    if (btf_is_composite(t)) {
        out = fmt::format("{} {{ /* size {} */\n", type_name(b, type_id, 0), t->size);
        const btf_member* m = btf_members(t);
        for (uint16_t i = 0; i < btf_vlen(t); i++) {
            uint32_t bits = btf_member_bit_offset(t, i), width = btf_member_bitfield_size(t, i);
            std::string mname = btf_name(b, m[i].name_off);
            std::string decl = type_name(b, m[i].type, 1);
            // Arrays put their dimensions after the member's name.
            std::string dims;
            if (auto pos = decl.find('['); pos != std::string::npos && !decl.ends_with(')')) {
                dims = decl.substr(pos);
                decl = decl.substr(0, pos);
            }
            std::string line = fmt::format("{}{}{}{}{}", decl, decl.ends_with('*') ? "" : " ", mname, dims,
                                           width ? fmt::format(": {}", width) : "");
            if (bits % 8 == 0) out += fmt::format("\t{}; /* offset {} */\n", line, bits / 8);
            else out += fmt::format("\t{}; /* bit offset {} */\n", line, bits);
        }
        out += "};";
        return out;
    }
    if (btf_is_datasec(t)) {
        out = fmt::format("section {} {{ /* size {} */\n", btf_name(b, t->name_off), t->size);
        const btf_var_secinfo* v = btf_var_secinfos(t);
        for (uint16_t i = 0; i < btf_vlen(t); i++) {
            const btf_type* var = btf_type_at(b, v[i].type);
            std::string vname = var ? btf_name(b, var->name_off) : "?";
            std::string vtype = var ? type_name(b, var->type, 1) : "?";
            out += fmt::format("\t{} {}; /* offset {}, size {} */\n", vtype, vname, v[i].offset, v[i].size);
        }
        out += "};";
        return out;
    }
    int64_t size = btf__resolve_size(b, type_id);
    if (size >= 0) return fmt::format("{} /* size {} */", type_name(b, type_id, 0), size);
    return type_name(b, type_id, 0);
}

} // namespace bpfvm
