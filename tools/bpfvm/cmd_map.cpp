// bpfvm map: create, show, dump, look up, update, delete, iterate and pin
// pinned maps, with bpftool map's syntax (keys and values as bytes:
// `key 0x01 0 0 0 value hex 05 00 00 00 00 00 00 00`).
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/helpers.h"
#include "bpfvm/map.h"
#include "bpfvm/runtime.h"
#include "commands.h"
#include "json_output.h"

namespace bpfvm::cli {
namespace {

using nlohmann::json;

// The words after the map: "pinned PATH ..." or "PATH ...".
struct Words {
    std::vector<std::string> w;
    size_t i = 0;
    bool done() const { return i >= w.size(); }
    const std::string& peek() const { return w[i]; }
    std::string next() { return w[i++]; }
};

Result<std::shared_ptr<Map>> open_map(Words& words) {
    if (words.done()) return make_error("a map is needed: pinned PATH (or PATH)");
    std::string path = words.next();
    if (path == "pinned") {
        if (words.done()) return make_error("pinned needs a PATH");
        path = words.next();
    }
    auto m = Map::open_pinned(path);
    if (!m) return tl::unexpected(m.error());
    register_map(*m);
    return *m;
}

bool is_keyword(const std::string& s) {
    return s == "key" || s == "value" || s == "any" || s == "exist" || s == "noexist";
}

// bpftool's parse_bytes: numbers in C syntax (0x01, 1, 001), or after "hex"
// hexadecimal pairs ("hex 01 02", "hex 0102"), up to the next keyword.
Result<std::vector<uint8_t>> parse_bytes(Words& words, const char* what, size_t want) {
    std::vector<uint8_t> out;
    bool hex = false;
    if (!words.done() && words.peek() == "hex") {
        hex = true;
        words.next();
    }
    while (!words.done() && !is_keyword(words.peek())) {
        std::string t = words.next();
        if (hex) {
            if (t.size() % 2) return make_error(fmt::format("{}: \"{}\" is not whole hex bytes", what, t));
            for (size_t k = 0; k < t.size(); k += 2) {
                char* end = nullptr;
                std::string pair = t.substr(k, 2);
                unsigned long v = std::strtoul(pair.c_str(), &end, 16);
                if (*end) return make_error(fmt::format("{}: \"{}\" is not a hex byte", what, pair));
                out.push_back(static_cast<uint8_t>(v));
            }
        } else {
            char* end = nullptr;
            errno = 0;
            unsigned long v = std::strtoul(t.c_str(), &end, 0);
            if (t.empty() || *end || errno || v > 255)
                return make_error(fmt::format("{}: \"{}\" is not a byte (0..255, or 0x00..0xff)", what, t));
            out.push_back(static_cast<uint8_t>(v));
        }
    }
    if (out.size() != want)
        return make_error(fmt::format("{} has {} byte{}, the map's {} is {}", what, out.size(),
                                      out.size() == 1 ? "" : "s", std::string(what) + "_size", want));
    return out;
}

std::string hex_plain(const uint8_t* p, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; i++) s += fmt::format("{}{:02x}", i ? " " : "", p[i]);
    return s;
}
json hex_json(const uint8_t* p, size_t n) {
    json a = json::array();
    for (size_t i = 0; i < n; i++) a.push_back(fmt::format("0x{:02x}", p[i]));
    return a;
}

uint32_t percpu_stride(const Map& m) { return (m.value_size() + 7) & ~7u; }

json entry_json(const Map& m, const uint8_t* key, const uint8_t* value) {
    json j = {{"key", hex_json(key, m.key_size())}};
    if (m.is_percpu()) {
        json values = json::array();
        for (uint32_t c = 0; c < m.nr_cpus(); c++)
            values.push_back({{"cpu", c}, {"value", hex_json(value + size_t(c) * percpu_stride(m), m.value_size())}});
        j["values"] = values;
    } else {
        j["value"] = hex_json(value, m.sys_value_size());
    }
    return j;
}

std::string entry_plain(const Map& m, const uint8_t* key, const uint8_t* value) {
    if (!m.is_percpu())
        return fmt::format("key: {}  value: {}\n", hex_plain(key, m.key_size()), hex_plain(value, m.sys_value_size()));
    std::string s = fmt::format("key:\n{}\n", hex_plain(key, m.key_size()));
    for (uint32_t c = 0; c < m.nr_cpus(); c++)
        s += fmt::format("value (CPU {:02}): {}\n", c,
                         hex_plain(value + size_t(c) * percpu_stride(m), m.value_size()));
    return s;
}

json map_json(const Map& m, const std::string& path) {
    json j;
    j["pinned"] = path;
    j["type"] = map_type_name(m.type());
    j["name"] = m.name();
    j["flags"] = m.map_flags();
    j["bytes_key"] = m.key_size();
    j["bytes_value"] = m.value_size();
    j["max_entries"] = m.max_entries();
    if (m.is_percpu()) j["nr_cpus"] = m.nr_cpus();
    j["frozen"] = m.frozen();
    return j;
}

void print_map(const Map& m, const std::string& path) {
    std::cout << fmt::format("{}: {}  name {}  flags 0x{:x}\n\tkey {}B  value {}B  max_entries {}", path,
                             map_type_name(m.type()), m.name(), m.map_flags(), m.key_size(), m.value_size(),
                             m.max_entries());
    if (m.is_percpu()) std::cout << fmt::format("  nr_cpus {}", m.nr_cpus());
    if (m.frozen()) std::cout << "  frozen";
    std::cout << "\n";
}

std::string errno_text(long rc) { return fmt::format("{} ({})", std::strerror(static_cast<int>(-rc)), errno_name(rc)); }

// Every map pinned under the pin root: files that open as maps.
std::vector<std::pair<std::string, std::shared_ptr<Map>>> pinned_maps() {
    std::vector<std::pair<std::string, std::shared_ptr<Map>>> maps;
    std::error_code ec;
    const std::string root = pin_root();
    const std::string trace = TracePipe::path_for();
    std::vector<std::string> paths;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        std::string p = it->path().string();
        if (p == trace || is_program_pin(p)) continue;
        paths.push_back(p);
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths)
        if (auto m = Map::open_pinned(p)) maps.emplace_back(p, *m);
    return maps;
}

struct Options {
    std::vector<std::string> args;
    OutputFlags out;
};

} // namespace

Command add_map(CLI::App& app) {
    CLI::App* map = app.add_subcommand("map", "Create, show, dump and change pinned maps (as bpftool map)");
    map->require_subcommand(1);
    std::vector<Command> subs;
    auto sub = [&](const char* name, const char* help, const char* usage,
                   std::function<int(Words&, const OutputFlags&)> action, bool args_required = true) {
        auto o = std::make_shared<Options>();
        CLI::App* cmd = map->add_subcommand(name, help);
        auto* opt = cmd->add_option("args", o->args, usage);
        if (args_required) opt->required();
        add_output_flags(cmd, &o->out);
        subs.push_back({cmd, [o, action, name] {
                            Words w{o->args};
                            int rc = action(w, o->out);
                            if (rc == 0 && !w.done())
                                return report(fmt::format("map {}: unexpected \"{}\"", name, w.peek()));
                            return rc;
                        }});
    };

    sub("create", "Create a map and pin it",
        "PATH type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags FLAGS] [inner_map PATH]",
        [](Words& w, const OutputFlags& out) {
            if (w.done()) return report("map create: a PATH is needed");
            std::string path = w.next();
            MapSpec spec;
            bool have_type = false;
            while (!w.done()) {
                std::string k = w.next();
                if (w.done()) return report(fmt::format("map create: {} needs a value", k));
                std::string v = w.next();
                auto number = [&](uint64_t max) -> std::optional<uint64_t> {
                    char* end = nullptr;
                    errno = 0;
                    uint64_t n = std::strtoull(v.c_str(), &end, 0);
                    if (v.empty() || *end || errno || n > max) return std::nullopt;
                    return n;
                };
                if (k == "type") {
                    auto t = map_type_from_name(v);
                    if (!t) return report(fmt::format("map create: unknown map type \"{}\"", v));
                    spec.type = *t;
                    have_type = true;
                } else if (k == "key" || k == "value" || k == "entries" || k == "flags") {
                    auto n = number(UINT32_MAX);
                    if (!n) return report(fmt::format("map create: {} must be a 32-bit number, not \"{}\"", k, v));
                    (k == "key" ? spec.key_size : k == "value" ? spec.value_size
                                              : k == "entries" ? spec.max_entries
                                                               : spec.map_flags) = static_cast<uint32_t>(*n);
                } else if (k == "name") {
                    spec.name = v;
                } else if (k == "inner_map") {
                    auto inner = Map::open_pinned(v);
                    if (!inner) return report(inner.error().to_string());
                    spec.inner = std::make_shared<MapSpec>((*inner)->spec());
                } else {
                    return report(fmt::format("map create: unknown keyword \"{}\"", k));
                }
            }
            if (!have_type) return report("map create: type TYPE is needed");
            MapOptions mo;
            mo.registry = object_registry();
            auto m = Map::create(spec, mo);
            if (!m) return report(fmt::format("map create: {}", m.error().to_string()));
            if (auto r = (*m)->pin(path); !r) return report(fmt::format("map create: {}", r.error().to_string()));
            if (out.any()) emit(map_json(**m, resolve_pin_path(path)), out.pretty);
            return 0;
        });

    sub("show", "Show a pinned map; without one, every map pinned under the pin root", "[pinned] PATH",
        [](Words& w, const OutputFlags& out) {
            std::vector<std::pair<std::string, std::shared_ptr<Map>>> maps;
            if (w.done()) {
                maps = pinned_maps();
            } else {
                Words copy = w;
                auto m = open_map(w);
                if (!m) return report(m.error().to_string());
                std::string p = copy.next();
                if (p == "pinned") p = copy.next();
                maps.emplace_back(resolve_pin_path(p), *m);
            }
            if (out.any()) {
                json j = json::array();
                for (auto& [p, m] : maps) j.push_back(map_json(*m, p));
                emit(j, out.pretty);
            } else {
                for (auto& [p, m] : maps) print_map(*m, p);
            }
            return 0;
        },
        false);

    sub("dump", "Print every element of a map", "[pinned] PATH", [](Words& w, const OutputFlags& out) {
        auto m = open_map(w);
        if (!m) return report(m.error().to_string());
        Map& map = **m;
        std::vector<uint8_t> key(map.key_size()), next(map.key_size()), value(map.sys_value_size());
        json j = json::array();
        size_t count = 0;
        const bool keyless = map.key_size() == 0;
        if (keyless) return report(fmt::format("map dump: {} maps have no keys to iterate", map_type_name(map.type())));
        long rc = map.sys_get_next_key(nullptr, next.data());
        while (rc == 0) {
            key = next;
            long lr = map.sys_lookup(key.data(), value.data());
            if (lr == 0) {
                count++;
                if (out.any()) j.push_back(entry_json(map, key.data(), value.data()));
                else std::cout << entry_plain(map, key.data(), value.data());
            } else if (lr != -ENOENT) {
                if (out.any()) j.push_back({{"key", hex_json(key.data(), key.size())}, {"error", errno_text(lr)}});
                else std::cout << fmt::format("key: {}  error: {}\n", hex_plain(key.data(), key.size()), errno_text(lr));
            }
            rc = map.sys_get_next_key(key.data(), next.data());
        }
        if (rc != -ENOENT) return report(fmt::format("map dump: get_next_key: {}", errno_text(rc)));
        if (out.any()) emit(j, out.pretty);
        else std::cout << fmt::format("Found {} element{}\n", count, count == 1 ? "" : "s");
        return 0;
    });

    sub("lookup", "Print the value of a key", "[pinned] PATH key BYTES", [](Words& w, const OutputFlags& out) {
        auto m = open_map(w);
        if (!m) return report(m.error().to_string());
        Map& map = **m;
        if (w.done() || w.next() != "key") return report("map lookup: key BYTES is needed");
        auto key = parse_bytes(w, "key", map.key_size());
        if (!key) return report(fmt::format("map lookup: {}", key.error().to_string()));
        std::vector<uint8_t> value(map.sys_value_size());
        long rc = map.sys_lookup(key->data(), value.data());
        if (rc == -ENOENT) return report(fmt::format("map lookup: key {} not found", hex_plain(key->data(), key->size())));
        if (rc < 0) return report(fmt::format("map lookup: {}", errno_text(rc)));
        if (out.any()) emit(entry_json(map, key->data(), value.data()), out.pretty);
        else std::cout << entry_plain(map, key->data(), value.data());
        return 0;
    });

    sub("update", "Set the value of a key", "[pinned] PATH key BYTES value BYTES [any|exist|noexist]",
        [](Words& w, const OutputFlags& out) {
            auto m = open_map(w);
            if (!m) return report(m.error().to_string());
            Map& map = **m;
            std::vector<uint8_t> key;
            if (map.key_size() > 0 || (!w.done() && w.peek() == "key")) {
                if (w.done() || w.next() != "key") return report("map update: key BYTES is needed");
                auto k = parse_bytes(w, "key", map.key_size());
                if (!k) return report(fmt::format("map update: {}", k.error().to_string()));
                key = *k;
            }
            if (w.done() || w.next() != "value") return report("map update: value BYTES is needed");
            auto value = parse_bytes(w, "value", map.sys_value_size());
            if (!value) return report(fmt::format("map update: {}", value.error().to_string()));
            uint64_t flags = BPF_ANY;
            if (!w.done()) {
                std::string f = w.next();
                flags = f == "exist" ? BPF_EXIST : f == "noexist" ? BPF_NOEXIST : BPF_ANY;
            }
            long rc = map.key_size() == 0 ? map.push(value->data(), flags)
                                          : map.sys_update(key.data(), value->data(), flags);
            if (rc < 0) return report(fmt::format("map update: {}", errno_text(rc)));
            if (out.any()) emit(json(nullptr), out.pretty);
            return 0;
        });

    sub("delete", "Delete a key", "[pinned] PATH key BYTES", [](Words& w, const OutputFlags& out) {
        auto m = open_map(w);
        if (!m) return report(m.error().to_string());
        Map& map = **m;
        if (w.done() || w.next() != "key") return report("map delete: key BYTES is needed");
        auto key = parse_bytes(w, "key", map.key_size());
        if (!key) return report(fmt::format("map delete: {}", key.error().to_string()));
        long rc = map.sys_delete(key->data());
        if (rc == -ENOENT) return report(fmt::format("map delete: key {} not found", hex_plain(key->data(), key->size())));
        if (rc < 0) return report(fmt::format("map delete: {}", errno_text(rc)));
        if (out.any()) emit(json(nullptr), out.pretty);
        return 0;
    });

    sub("getnext", "Print the key after a key (the first key without one)", "[pinned] PATH [key BYTES]",
        [](Words& w, const OutputFlags& out) {
            auto m = open_map(w);
            if (!m) return report(m.error().to_string());
            Map& map = **m;
            std::optional<std::vector<uint8_t>> key;
            if (!w.done()) {
                if (w.next() != "key") return report("map getnext: expected key BYTES");
                auto k = parse_bytes(w, "key", map.key_size());
                if (!k) return report(fmt::format("map getnext: {}", k.error().to_string()));
                key = *k;
            }
            std::vector<uint8_t> next(map.key_size());
            long rc = map.sys_get_next_key(key ? key->data() : nullptr, next.data());
            if (rc == -ENOENT) return report("map getnext: no next key");
            if (rc < 0) return report(fmt::format("map getnext: {}", errno_text(rc)));
            if (out.any()) {
                json j = {{"key", key ? hex_json(key->data(), key->size()) : json(nullptr)},
                          {"next_key", hex_json(next.data(), next.size())}};
                emit(j, out.pretty);
            } else {
                std::cout << "key:\n" << (key ? hex_plain(key->data(), key->size()) : "None") << "\n";
                std::cout << "next key:\n" << hex_plain(next.data(), next.size()) << "\n";
            }
            return 0;
        });

    sub("pin", "Pin a pinned map at another path too", "[pinned] PATH NEW_PATH", [](Words& w, const OutputFlags&) {
        auto m = open_map(w);
        if (!m) return report(m.error().to_string());
        if (w.done()) return report("map pin: NEW_PATH is needed");
        if (auto r = (*m)->pin(w.next()); !r) return report(fmt::format("map pin: {}", r.error().to_string()));
        return 0;
    });

    sub("freeze", "Freeze a map: userspace can no longer change it", "[pinned] PATH", [](Words& w, const OutputFlags&) {
        auto m = open_map(w);
        if (!m) return report(m.error().to_string());
        if (long rc = (*m)->sys_freeze(); rc < 0) return report(fmt::format("map freeze: {}", errno_text(rc)));
        return 0;
    });

    return {map, [map, subs] {
                for (const auto& c : subs)
                    if (c.app->parsed()) return c.run();
                return report(fmt::format("map: {}", map->help()));
            }};
}

} // namespace bpfvm::cli
