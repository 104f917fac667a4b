#include "cases.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace bpfvm::mapconf {

using nlohmann::json;

namespace {

const std::map<std::string, int>& errno_names() {
    static const std::map<std::string, int> names = {
        {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"ESRCH", ESRCH},     {"EINTR", EINTR},   {"EIO", EIO},
        {"E2BIG", E2BIG},   {"EBADF", EBADF},   {"EAGAIN", EAGAIN},   {"ENOMEM", ENOMEM}, {"EACCES", EACCES},
        {"EFAULT", EFAULT}, {"EBUSY", EBUSY},   {"EEXIST", EEXIST},   {"EINVAL", EINVAL}, {"ENOSPC", ENOSPC},
        {"ERANGE", ERANGE}, {"ENOSYS", ENOSYS}, {"ELOOP", ELOOP},     {"EOPNOTSUPP", EOPNOTSUPP},
        {"ENOTSUPP", 524},  // the kernel's internal "operation not supported", seen by BPF programs
    };
    return names;
}

std::string errno_name(int e) {
    for (const auto& [name, value] : errno_names())
        if (value == e) return name;
    return fmt::format("errno {}", e);
}

Outcome<int> parse_errno(const json& j) {
    if (j.is_number_integer()) return j.get<int>();
    if (!j.is_string()) return failure("an errno is a name (\"ENOENT\") or a number");
    auto it = errno_names().find(j.get<std::string>());
    if (it == errno_names().end()) return failure(fmt::format("unknown errno name '{}'", j.get<std::string>()));
    return it->second;
}

Outcome<uint64_t> parse_flags(const json& j) {
    if (j.is_null()) return 0;
    if (j.is_number_unsigned() || j.is_number_integer()) return j.get<uint64_t>();
    if (!j.is_string()) return failure("flags are a number or names joined by '|'");
    static const std::map<std::string, uint64_t> names = {
        {"BPF_ANY", BPF_ANY}, {"BPF_NOEXIST", BPF_NOEXIST}, {"BPF_EXIST", BPF_EXIST}, {"BPF_F_LOCK", BPF_F_LOCK}};
    uint64_t flags = 0;
    std::string s = j.get<std::string>();
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t bar = s.find('|', pos);
        if (bar == std::string::npos) bar = s.size();
        std::string name = s.substr(pos, bar - pos);
        name.erase(std::remove(name.begin(), name.end(), ' '), name.end());
        auto it = names.find(name);
        if (it == names.end()) return failure(fmt::format("unknown flag '{}'", name));
        flags |= it->second;
        pos = bar + 1;
    }
    return flags;
}

bool parse_integer(const std::string& text, bool is_signed, uint64_t& out) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    if (is_signed) {
        long long v = std::strtoll(text.c_str(), &end, 0);
        out = static_cast<uint64_t>(v);
    } else {
        if (text[0] == '-') return false;
        out = std::strtoull(text.c_str(), &end, 0);
    }
    return errno == 0 && end != nullptr && *end == '\0';
}

// The address of the run's user buffer, when a token asks for it.
struct TokenContext {
    uint64_t user_buffer = 0;
};

Outcome<void> append_token(Bytes& out, const std::string& token, const TokenContext* tc) {
    if (tc != nullptr && token == "user_buffer") {
        for (int i = 0; i < 8; i++) out.push_back(static_cast<uint8_t>(tc->user_buffer >> (8 * i)));
        return {};
    }
    size_t colon = token.find(':');
    if (colon == std::string::npos) return failure(fmt::format("token '{}' has no type (u32:1, hex:00ff, ...)", token));
    std::string type = token.substr(0, colon);
    std::string text = token.substr(colon + 1);
    if (type == "str") {
        out.insert(out.end(), text.begin(), text.end());
        return {};
    }
    if (type == "hex") {
        if (text.size() % 2 != 0) return failure(fmt::format("'{}': an odd number of hex digits", token));
        for (size_t i = 0; i < text.size(); i += 2) {
            uint64_t v;
            if (!parse_integer("0x" + text.substr(i, 2), false, v))
                return failure(fmt::format("'{}': not hex digits", token));
            out.push_back(static_cast<uint8_t>(v));
        }
        return {};
    }
    if (type == "pad") {
        uint64_t n;
        if (!parse_integer(text, false, n) || n > (1u << 20)) return failure(fmt::format("'{}': bad size", token));
        if (out.size() > n) return failure(fmt::format("'{}': the value already has {} bytes", token, out.size()));
        out.resize(n, 0);
        return {};
    }
    if (type == "zero") {
        uint64_t n;
        if (!parse_integer(text, false, n) || n > (1u << 20)) return failure(fmt::format("'{}': bad count", token));
        out.insert(out.end(), n, 0);
        return {};
    }
    static const std::map<std::string, std::pair<int, bool>> ints = {
        {"u8", {1, false}},  {"u16", {2, false}}, {"u32", {4, false}}, {"u64", {8, false}}, {"i8", {1, true}},
        {"i16", {2, true}},  {"i32", {4, true}},  {"i64", {8, true}},  {"be16", {2, false}}, {"be32", {4, false}},
    };
    auto it = ints.find(type);
    if (it == ints.end()) return failure(fmt::format("token '{}': unknown type '{}'", token, type));
    auto [size, is_signed] = it->second;
    uint64_t v;
    if (!parse_integer(text, is_signed, v)) return failure(fmt::format("token '{}': not a number", token));
    if (size < 8) {
        uint64_t bits = 8 * static_cast<uint64_t>(size);
        int64_t sv = static_cast<int64_t>(v);
        bool fits = is_signed ? (sv >= -(int64_t(1) << (bits - 1)) && sv < (int64_t(1) << (bits - 1)))
                              : v < (uint64_t(1) << bits);
        if (!fits) return failure(fmt::format("token '{}': does not fit in {} bytes", token, size));
    }
    bool big = type.starts_with("be");
    for (int i = 0; i < size; i++) {
        int shift = big ? 8 * (size - 1 - i) : 8 * i;
        out.push_back(static_cast<uint8_t>(v >> shift));
    }
    return {};
}

Outcome<Bytes> parse_bytes_with(const json& spec, const TokenContext* tc) {
    Bytes out;
    std::vector<std::string> tokens;
    if (spec.is_string()) {
        std::string s = spec.get<std::string>();
        size_t pos = 0;
        while (pos < s.size()) {
            while (pos < s.size() && s[pos] == ' ') pos++;
            size_t end = s.find(' ', pos);
            if (end == std::string::npos) end = s.size();
            if (end > pos) tokens.push_back(s.substr(pos, end - pos));
            pos = end;
        }
    } else if (spec.is_array()) {
        for (const json& t : spec) {
            if (!t.is_string()) return failure("a value's tokens are strings");
            tokens.push_back(t.get<std::string>());
        }
    } else {
        return failure(fmt::format("a value is a string of tokens or an array of tokens, not {}", spec.dump()));
    }
    for (const std::string& t : tokens) {
        auto r = append_token(out, t, tc);
        if (!r) return failure(r.error());
    }
    return out;
}

bool is_percpu(uint32_t type) {
    return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
           type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

// One step's run: the object, the maps, the CPU count, the failures so far.
class CaseRun {
public:
    CaseRun(MapConfBackend& backend, LoadedObject& obj, std::vector<std::string>& failures)
        : obj_(obj), failures_(failures), cpus_(backend.possible_cpus()) {
        for (const MapDesc& m : obj.maps()) maps_[m.name] = m;
    }

    void step(size_t index, const json& s) {
        where_ = fmt::format("step {}", index + 1);
        if (!s.is_object()) return fail("a step is an object");
        static const char* kinds[] = {"update", "lookup", "delete", "next_key", "push", "pop", "peek",
                                      "set_program", "set_inner_map", "open_events", "events", "run",
                                      "entries", "results", "global", "set_global"};
        for (const char* k : kinds) {
            if (!s.contains(k)) continue;
            where_ = fmt::format("step {} ({} {})", index + 1, k, s[k].is_string() ? s[k].get<std::string>() : "");
            std::string kind = k;
            if (kind == "update") return update(s);
            if (kind == "lookup") return lookup(s);
            if (kind == "delete") return remove(s);
            if (kind == "next_key") return next_key(s);
            if (kind == "push") return push(s);
            if (kind == "pop" || kind == "peek") return pop_or_peek(s, kind == "pop");
            if (kind == "set_program") return set_program(s);
            if (kind == "set_inner_map") return set_inner_map(s);
            if (kind == "open_events") return open_events(s);
            if (kind == "events") return events(s);
            if (kind == "run") return run(s);
            if (kind == "entries") return entries(s);
            if (kind == "results") return results(s);
            if (kind == "global") return global(s);
            if (kind == "set_global") return set_global(s);
        }
        fail(fmt::format("unknown step {}", s.dump()));
    }

    bool stopped() const { return stopped_; }
    // Why the backend could not run a step (kUnsupported), if it could not.
    const std::optional<std::string>& unsupported() const { return unsupported_; }

private:
    void fail(const std::string& what) { failures_.push_back(fmt::format("{}: {}", where_, what)); }
    // A mistake in the case itself, or a backend failure: later steps would only add noise.
    void abort(const std::string& what) {
        fail(what);
        stopped_ = true;
    }

    const MapDesc* map(const json& s, const char* field) {
        std::string name = s[field].get<std::string>();
        auto it = maps_.find(name);
        if (it == maps_.end()) {
            std::string known;
            for (const auto& [n, m] : maps_) known += (known.empty() ? "" : ", ") + n;
            abort(fmt::format("the object has no map '{}' (it has {})", name, known));
            return nullptr;
        }
        return &it->second;
    }

    std::optional<Bytes> bytes(const json& spec, const char* what) {
        auto b = parse_bytes_with(spec, &tokens_);
        if (!b) {
            abort(fmt::format("{}: {}", what, b.error()));
            return std::nullopt;
        }
        return *b;
    }

    std::optional<Bytes> sized(const json& spec, size_t size, const char* what) {
        auto b = bytes(spec, what);
        if (b && b->size() != size) {
            abort(fmt::format("{} {} has {} bytes, the map's are {}", what, spec.dump(), b->size(), size));
            return std::nullopt;
        }
        return b;
    }

    size_t slot(const MapDesc& m) const { return (m.value_size + 7) / 8 * 8; }

    // A value to write: for per-CPU maps, "value" goes to every CPU and
    // "cpu_values" to the first CPUs (the others get zeros).
    std::optional<Bytes> value_to_write(const MapDesc& m, const json& s) {
        if (!is_percpu(m.type)) {
            if (!s.contains("value")) {
                abort("no \"value\"");
                return std::nullopt;
            }
            return sized(s["value"], m.value_size, "value");
        }
        Bytes all(slot(m) * cpus_, 0);
        if (s.contains("value")) {
            auto v = sized(s["value"], m.value_size, "value");
            if (!v) return std::nullopt;
            for (unsigned c = 0; c < cpus_; c++) std::copy(v->begin(), v->end(), all.begin() + c * slot(m));
        } else if (s.contains("cpu_values")) {
            if (s["cpu_values"].size() > cpus_) {
                abort(fmt::format("{} CPU values, but {} CPUs", s["cpu_values"].size(), cpus_));
                return std::nullopt;
            }
            for (size_t c = 0; c < s["cpu_values"].size(); c++) {
                auto v = sized(s["cpu_values"][c], m.value_size, "cpu value");
                if (!v) return std::nullopt;
                std::copy(v->begin(), v->end(), all.begin() + c * slot(m));
            }
        } else {
            abort("no \"value\" or \"cpu_values\"");
            return std::nullopt;
        }
        return all;
    }

    // Compares a value read back with an expectation: bytes (for per-CPU maps,
    // every CPU's slot), {"cpus": [...], "others": ...} for per-CPU maps, or a
    // property.
    void check_value(const MapDesc* m, const json& expected, const Bytes& actual, const std::string& what) {
        if (expected.is_object() && expected.contains("property")) {
            return check_property(expected["property"].get<std::string>(), actual, what);
        }
        if (m == nullptr || !is_percpu(m->type)) {
            auto want = bytes(expected, "expected value");
            if (!want) return;
            if (*want != actual) fail(fmt::format("{} is {}, expected {}", what, hex(actual), hex(*want)));
            return;
        }
        size_t sz = m->value_size;
        auto cpu_value = [&](unsigned c) { return Bytes(actual.begin() + c * slot(*m), actual.begin() + c * slot(*m) + sz); };
        if (expected.is_object()) {
            const json& list = expected.value("cpus", json::array());
            for (unsigned c = 0; c < cpus_; c++) {
                json spec = c < list.size() ? list[c] : expected.value("others", json(fmt::format("zero:{}", sz)));
                auto want = sized(spec, sz, "expected CPU value");
                if (!want) return;
                if (cpu_value(c) != *want)
                    fail(fmt::format("{} on CPU {} is {}, expected {}", what, c, hex(cpu_value(c)), hex(*want)));
            }
            return;
        }
        auto want = sized(expected, sz, "expected value");
        if (!want) return;
        for (unsigned c = 0; c < cpus_; c++)
            if (cpu_value(c) != *want)
                fail(fmt::format("{} on CPU {} is {}, expected {} on every CPU", what, c, hex(cpu_value(c)), hex(*want)));
    }

    static uint64_t as_integer(const Bytes& b) {
        uint64_t v = 0;
        for (size_t i = 0; i < b.size() && i < 8; i++) v |= uint64_t(b[i]) << (8 * i);
        return v;
    }

    void check_property(const std::string& property, const Bytes& actual, const std::string& what) {
        uint64_t v = as_integer(actual);
        if (property == "any") return;
        if (property == "nonzero") {
            if (std::all_of(actual.begin(), actual.end(), [](uint8_t x) { return x == 0; }))
                fail(fmt::format("{} is zero, expected non-zero", what));
            return;
        }
        if (property == "pid_tgid") {
            uint64_t want = (uint64_t(getpid()) << 32) | uint64_t(syscall(SYS_gettid));
            if (v != want) fail(fmt::format("{} is {:#x}, expected the runner's tgid << 32 | tid = {:#x}", what, v, want));
            return;
        }
        if (property == "uid_gid") {
            uint64_t want = (uint64_t(getgid()) << 32) | uint64_t(getuid());
            if (v != want) fail(fmt::format("{} is {:#x}, expected the runner's gid << 32 | uid = {:#x}", what, v, want));
            return;
        }
        if (property == "run_cpu") {
            if (v != last_cpu_) fail(fmt::format("{} is {}, expected the CPU the program ran on, {}", what, v, last_cpu_));
            return;
        }
        if (property == "numa_node") {
            // The node directory under the CPU's sysfs directory (node0 on a machine without NUMA).
            uint64_t node = 0;
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator(fmt::format("/sys/devices/system/cpu/cpu{}", last_cpu_), ec)) {
                std::string n = e.path().filename().string();
                if (n.starts_with("node") && n.size() > 4 && std::isdigit(static_cast<unsigned char>(n[4])))
                    node = std::stoull(n.substr(4));
            }
            if (v != node) fail(fmt::format("{} is {}, expected CPU {}'s NUMA node, {}", what, v, last_cpu_, node));
            return;
        }
        if (property == "comm") {
            std::ifstream f("/proc/thread-self/comm");
            std::string comm;
            std::getline(f, comm);
            // Truncated to leave room for the NUL, then NUL-padded.
            Bytes want(comm.begin(), comm.end());
            if (!actual.empty() && want.size() > actual.size() - 1) want.resize(actual.size() - 1);
            want.resize(actual.size(), 0);
            if (actual != want) fail(fmt::format("{} is {}, expected the runner thread's name '{}'", what, hex(actual), comm));
            return;
        }
        abort(fmt::format("unknown property '{}'", property));
    }

    bool check_errno(const json& s, int actual, const std::string& what) {
        int want = 0;
        if (s.contains("errno")) {
            auto e = parse_errno(s["errno"]);
            if (!e) {
                abort(e.error());
                return false;
            }
            want = *e;
        }
        if (actual != want) {
            fail(fmt::format("{} {}, expected {}", what, actual == 0 ? "succeeds" : "fails with " + errno_name(actual),
                             want == 0 ? "success" : errno_name(want)));
            return false;
        }
        return true;
    }

    std::optional<uint64_t> flags(const json& s) {
        auto f = parse_flags(s.value("flags", json()));
        if (!f) {
            abort(f.error());
            return std::nullopt;
        }
        return *f;
    }

    void update(const json& s) {
        const MapDesc* m = map(s, "update");
        if (!m) return;
        auto key = sized(s.value("key", json("")), m->key_size, "key");
        auto value = key ? value_to_write(*m, s) : std::nullopt;
        auto f = value ? flags(s) : std::nullopt;
        if (!f) return;
        auto r = obj_.update(m->name, *key, *value, *f);
        check_errno(s, r ? 0 : r.error(), "update");
    }

    void lookup(const json& s) {
        const MapDesc* m = map(s, "lookup");
        if (!m) return;
        auto key = sized(s.value("key", json("")), m->key_size, "key");
        auto f = key ? flags(s) : std::nullopt;
        if (!f) return;
        auto r = obj_.lookup(m->name, *key, *f);
        if (!check_errno(s, r ? 0 : r.error(), "lookup") || !r) return;
        if (s.contains("value")) check_value(m, s["value"], *r, "the value");
    }

    void remove(const json& s) {
        const MapDesc* m = map(s, "delete");
        if (!m) return;
        auto key = sized(s.value("key", json("")), m->key_size, "key");
        if (!key) return;
        auto r = obj_.remove(m->name, *key);
        check_errno(s, r ? 0 : r.error(), "delete");
    }

    void next_key(const json& s) {
        const MapDesc* m = map(s, "next_key");
        if (!m) return;
        std::optional<Bytes> key = Bytes{};
        if (s.contains("key") && !s["key"].is_null()) key = sized(s["key"], m->key_size, "key");
        if (!key) return;
        auto r = obj_.next_key(m->name, *key);
        if (!check_errno(s, r ? 0 : r.error(), "get_next_key") || !r) return;
        if (s.contains("next")) check_value(nullptr, s["next"], *r, "the next key");
    }

    void push(const json& s) {
        const MapDesc* m = map(s, "push");
        if (!m) return;
        auto value = sized(s.value("value", json("")), m->value_size, "value");
        auto f = value ? flags(s) : std::nullopt;
        if (!f) return;
        auto r = obj_.push(m->name, *value, *f);
        check_errno(s, r ? 0 : r.error(), "push");
    }

    void pop_or_peek(const json& s, bool pop) {
        const MapDesc* m = map(s, pop ? "pop" : "peek");
        if (!m) return;
        if (!pop && m->type == BPF_MAP_TYPE_BLOOM_FILTER) {
            auto value = sized(s.value("value", json("")), m->value_size, "value");
            if (!value) return;
            auto r = obj_.peek(m->name, *value);
            check_errno(s, r ? 0 : r.error(), "bloom filter lookup");
            return;
        }
        auto r = pop ? obj_.pop(m->name) : obj_.peek(m->name, Bytes{});
        if (!check_errno(s, r ? 0 : r.error(), pop ? "pop" : "peek") || !r) return;
        if (s.contains("value")) check_value(m, s["value"], *r, "the value");
    }

    void set_program(const json& s) {
        const MapDesc* m = map(s, "set_program");
        if (!m) return;
        auto r = obj_.set_program(m->name, s.value("index", 0u), s.value("program", std::string()));
        check_errno(s, r ? 0 : r.error(), "setting the program");
    }

    void set_inner_map(const json& s) {
        const MapDesc* m = map(s, "set_inner_map");
        if (!m) return;
        auto key = sized(s.value("key", json("")), m->key_size, "key");
        if (!key) return;
        auto r = obj_.set_inner_map(m->name, *key, s.value("inner", std::string()));
        check_errno(s, r ? 0 : r.error(), "setting the inner map");
    }

    void open_events(const json& s) {
        const MapDesc* m = map(s, "open_events");
        if (!m) return;
        auto r = obj_.open_events(m->name);
        if (!r) abort(r.error());
    }

    void events(const json& s) {
        const MapDesc* m = map(s, "events");
        if (!m) return;
        auto r = obj_.read_events(m->name);
        if (!r) return abort(r.error());
        const json& want = s.value("records", json::array());
        if (r->size() != want.size()) {
            std::string got;
            for (const Bytes& b : *r) got += " " + hex(b);
            return fail(fmt::format("{} records ({}), expected {}", r->size(), got, want.size()));
        }
        for (size_t i = 0; i < want.size(); i++) check_value(nullptr, want[i], (*r)[i], fmt::format("record {}", i));
    }

    void run(const json& s) {
        std::string program = s["run"].get<std::string>();
        RunInput in;
        user_buffer_.clear();
        if (s.contains("user_buffer")) {
            auto b = bytes(s["user_buffer"], "user_buffer");
            if (!b) return;
            user_buffer_ = *b;
        }
        tokens_.user_buffer = reinterpret_cast<uintptr_t>(user_buffer_.data());
        if (s.contains("packet")) {
            auto b = bytes(s["packet"], "packet");
            if (!b) return;
            in.packet = *b;
        }
        if (s.contains("ctx")) {
            auto b = bytes(s["ctx"], "ctx");
            if (!b) return;
            in.ctx = *b;
        }
        in.cpu = s.value("cpu", 0u);
        if (in.cpu >= cpus_) return abort(fmt::format("CPU {} does not exist ({} CPUs)", in.cpu, cpus_));
        last_cpu_ = in.cpu;
        unsigned times = s.value("times", 1u);
        for (unsigned t = 0; t < times; t++) {
            auto r = obj_.run(program, in);
            if (!r && r.error().rfind(kUnsupported, 0) == 0) {
                unsupported_ = r.error().substr(std::strlen(kUnsupported));
                stopped_ = true;
                return;
            }
            if (!r) return abort(r.error());
            if (s.contains("retval")) {
                int64_t want = s["retval"].get<int64_t>();
                if (r->retval != static_cast<uint32_t>(want))
                    fail(fmt::format("run {}: returns {} ({:#x}), expected {}", t + 1, static_cast<int32_t>(r->retval),
                                     r->retval, want));
            }
            if (s.contains("packet_out")) check_value(nullptr, s["packet_out"], r->packet, "the packet out");
            if (s.contains("ctx_out")) check_value(nullptr, s["ctx_out"], r->ctx, "the context out");
        }
    }

    void entries(const json& s) {
        const MapDesc* m = map(s, "entries");
        if (!m) return;
        // Every key, by get_next_key from the start. The order is the map's
        // own (for hash maps, not the order of insertion): compare as sets.
        std::vector<Bytes> keys;
        Bytes key;
        for (uint32_t n = 0; n <= m->max_entries + 1; n++) {
            auto next = obj_.next_key(m->name, key);
            if (!next) {
                if (next.error() != ENOENT) return fail("get_next_key fails with " + errno_name(next.error()));
                break;
            }
            keys.push_back(*next);
            key = *next;
        }
        std::map<Bytes, json> want;
        for (const json& e : s.value("are", json::array())) {
            if (!e.is_array() || e.size() != 2) return abort("\"are\" holds [key, value] pairs");
            auto k = sized(e[0], m->key_size, "key");
            if (!k) return;
            want[*k] = e[1];
        }
        std::set<Bytes> seen;
        for (const Bytes& k : keys) {
            if (!seen.insert(k).second) fail(fmt::format("get_next_key returns key {} twice", hex(k)));
            if (!want.contains(k)) fail(fmt::format("unexpected key {}", hex(k)));
        }
        for (const auto& [k, v] : want) {
            if (!seen.contains(k)) {
                fail(fmt::format("key {} is missing", hex(k)));
                continue;
            }
            if (v.is_null()) continue;
            auto value = obj_.lookup(m->name, k, 0);
            if (!value) {
                fail(fmt::format("key {}: lookup fails with {}", hex(k), errno_name(value.error())));
                continue;
            }
            check_value(m, v, *value, fmt::format("the value of key {}", hex(k)));
        }
    }

    // Slot i of an array of 64-bit results: a number, "-ENAME", a property, or null (not checked).
    void results(const json& s) {
        std::string name = s["results"].get<std::string>();
        json ms = {{"results", name}};
        const MapDesc* m = map(ms, "results");
        if (!m) return;
        if (m->value_size != 8 || m->key_size != 4) return abort("a results map has 4-byte keys and 8-byte values");
        const json& want = s.value("are", json::array());
        for (uint32_t i = 0; i < want.size(); i++) {
            if (want[i].is_null()) continue;
            Bytes key = {uint8_t(i), uint8_t(i >> 8), uint8_t(i >> 16), uint8_t(i >> 24)};
            auto value = obj_.lookup(m->name, key, 0);
            if (!value) {
                fail(fmt::format("slot {}: lookup fails with {}", i, errno_name(value.error())));
                continue;
            }
            int64_t got = static_cast<int64_t>(as_integer(*value));
            if (want[i].is_string()) {
                std::string w = want[i].get<std::string>();
                if (w.starts_with("-E")) {
                    auto e = parse_errno(json(w.substr(1)));
                    if (!e) return abort(e.error());
                    if (got != -*e)
                        fail(fmt::format("slot {} is {}, expected -{} ({})", i, got, w.substr(1), -*e));
                    continue;
                }
                uint64_t n;
                if (parse_integer(w, true, n) || parse_integer(w, false, n)) {
                    if (static_cast<uint64_t>(got) != n)
                        fail(fmt::format("slot {} is {} ({:#x}), expected {} ({:#x})", i, got, uint64_t(got), w, n));
                    continue;
                }
                check_property(w, *value, fmt::format("slot {}", i));
                continue;
            }
            if (!want[i].is_number_integer()) return abort(fmt::format("slot {}: {} is not a result", i, want[i].dump()));
            int64_t w = want[i].is_number_unsigned() ? static_cast<int64_t>(want[i].get<uint64_t>()) : want[i].get<int64_t>();
            if (got != w) fail(fmt::format("slot {} is {} ({:#x}), expected {} ({:#x})", i, got, uint64_t(got), w, uint64_t(w)));
        }
    }

    std::optional<std::pair<GlobalVar, Bytes>> read_global(const std::string& name) {
        auto g = obj_.global(name);
        if (!g) {
            abort(g.error());
            return std::nullopt;
        }
        auto value = obj_.lookup(g->map, Bytes(4, 0), 0);
        if (!value) {
            abort(fmt::format("reading {}: {}", g->map, errno_name(value.error())));
            return std::nullopt;
        }
        if (g->offset + g->size > value->size()) {
            abort(fmt::format("global '{}' lies outside its map", name));
            return std::nullopt;
        }
        return std::make_pair(*g, *value);
    }

    void global(const json& s) {
        std::string name = s["global"].get<std::string>();
        auto g = read_global(name);
        if (!g) return;
        auto& [var, data] = *g;
        Bytes v(data.begin() + var.offset, data.begin() + var.offset + var.size);
        if (s.contains("value")) check_value(nullptr, s["value"], v, fmt::format("global '{}'", name));
    }

    void set_global(const json& s) {
        std::string name = s["set_global"].get<std::string>();
        auto g = read_global(name);
        if (!g) return;
        auto& [var, data] = *g;
        auto v = sized(s.value("value", json("")), var.size, "value");
        if (!v) return;
        std::copy(v->begin(), v->end(), data.begin() + var.offset);
        auto r = obj_.update(var.map, Bytes(4, 0), data, BPF_ANY);
        check_errno(s, r ? 0 : r.error(), "writing the global");
    }

    LoadedObject& obj_;
    std::vector<std::string>& failures_;
    unsigned cpus_;
    std::map<std::string, MapDesc> maps_;
    std::string where_;
    bool stopped_ = false;
    std::optional<std::string> unsupported_;
    unsigned last_cpu_ = 0;
    Bytes user_buffer_;
    TokenContext tokens_;
};

} // namespace

Outcome<Bytes> parse_bytes(const json& spec) { return parse_bytes_with(spec, nullptr); }

std::string hex(const Bytes& b) {
    std::string out;
    for (uint8_t x : b) out += fmt::format("{:02x}", x);
    return out.empty() ? "(empty)" : out;
}

Outcome<std::vector<Case>> load_cases(const std::string& dir) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().extension() == ".json") files.push_back(e.path());
    if (ec) return failure(fmt::format("{}: {}", dir, ec.message()));
    std::sort(files.begin(), files.end());
    std::vector<Case> cases;
    std::set<std::string> names;
    for (const auto& path : files) {
        std::ifstream in(path);
        json doc = json::parse(in, nullptr, false);
        if (doc.is_discarded()) return failure(fmt::format("{}: not valid JSON", path.string()));
        if (!doc.is_object() || !doc.contains("cases") || !doc["cases"].is_array())
            return failure(fmt::format("{}: expected {{\"object\": ..., \"cases\": [...]}}", path.string()));
        std::string object = doc.value("object", std::string());
        for (const json& c : doc["cases"]) {
            Case k;
            k.file = path.filename().string();
            k.name = c.value("name", std::string());
            k.object = c.value("object", object);
            k.doc = c.value("doc", std::string());
            k.min_cpus = c.value("min_cpus", 1u);
            k.steps = c.value("steps", json::array());
            k.load_fails = c.value("load_fails", false);
            if (k.name.empty() || k.object.empty() || !k.steps.is_array() || (k.steps.empty() && !k.load_fails))
                return failure(fmt::format("{}: a case needs a name, an object and steps: {}", k.file, c.dump().substr(0, 200)));
            for (char ch : k.name)
                if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_')
                    return failure(fmt::format("{}: case name '{}': letters, digits and _ only", k.file, k.name));
            if (!names.insert(k.name).second) return failure(fmt::format("{}: case '{}' is defined twice", k.file, k.name));
            cases.push_back(std::move(k));
        }
    }
    return cases;
}

CaseResult run_case(MapConfBackend& backend, const Case& c, const std::string& objects_dir) {
    CaseResult result;
    if (auto why = backend.unavailable()) {
        result.skipped = "unavailable: " + *why;
        return result;
    }
    if (backend.possible_cpus() < c.min_cpus) {
        result.skipped = fmt::format("needs {} CPUs, the backend has {}", c.min_cpus, backend.possible_cpus());
        return result;
    }
    if (auto why = backend.loads_unverified(); why && c.load_fails) {
        result.skipped = "the object must be refused, and " + *why;
        return result;
    }
    std::string path = fmt::format("{}/{}.bpf.o", objects_dir, c.object);
    if (!std::filesystem::exists(path)) {
        result.failures.push_back(fmt::format("{} does not exist (is programs/{}.c built?)", path, c.object));
        return result;
    }
    auto obj = backend.load(path);
    if (c.load_fails) {
        if (obj) result.failures.push_back(fmt::format("{} loads, but must be refused", path));
        return result;
    }
    if (!obj) {
        result.failures.push_back(fmt::format("loading {}: {}", path, obj.error()));
        return result;
    }
    CaseRun run(backend, **obj, result.failures);
    for (size_t i = 0; i < c.steps.size() && !run.stopped(); i++) {
        try {
            run.step(i, c.steps[i]);
        } catch (const nlohmann::json::exception& e) {
            // A field of the wrong JSON type: a mistake in the case.
            result.failures.push_back(fmt::format("step {} ({}): {}", i + 1, c.steps[i].dump(), e.what()));
            break;
        }
    }
    // A step the backend cannot do skips the case, unless a step before it failed.
    if (run.unsupported() && result.failures.empty()) result.skipped = "cannot do this case: " + *run.unsupported();
    else if (run.unsupported()) result.failures.push_back("then the backend stopped: " + *run.unsupported());
    return result;
}

} // namespace bpfvm::mapconf
