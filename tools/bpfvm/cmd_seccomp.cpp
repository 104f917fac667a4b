// bpfvm seccomp: runs a seccomp classic filter on seccomp_data records and
// prints the action for each (ALLOW, ERRNO(n), KILL_PROCESS, ...).
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpfvm/cbpf.h"
#include "commands.h"

namespace bpfvm::cli {

namespace {

struct SeccompOptions {
    std::string filter;
    std::string records;
    std::vector<std::string> record;
    std::string engine = "jit";
    bool json = false;
};

Result<std::string> read_text(const std::string& path) {
    if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    auto bytes = read_file(path);
    if (!bytes) return tl::unexpected(bytes.error());
    return std::string(bytes->begin(), bytes->end());
}

Result<uint64_t> number(const std::string& s, const std::string& where) {
    try {
        size_t used = 0;
        const bool neg = !s.empty() && s[0] == '-';
        uint64_t v = neg ? static_cast<uint64_t>(std::stoll(s, &used, 0)) : std::stoull(s, &used, 0);
        if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    return make_error(fmt::format("{}: '{}' is not a number", where, s));
}

Result<uint32_t> arch_value(const std::string& s, const std::string& where) {
    static const std::map<std::string, uint32_t> names = {
        {"x86_64", 0xc000003e}, {"i386", 0x40000003},  {"x86", 0x40000003},     {"aarch64", 0xc00000b7},
        {"arm", 0x40000028},    {"riscv64", 0xc00000f3}, {"ppc64le", 0xc0000015}, {"s390x", 0x80000016},
    };
    if (auto it = names.find(s); it != names.end()) return it->second;
    auto v = number(s, where);
    if (!v) return tl::unexpected(v.error());
    return static_cast<uint32_t>(*v);
}

// One record as text: "nr=59 arch=x86_64 ip=0x401000 args=1,2,3" (arg0=..
// arg5= also work; arch defaults to x86_64).
Result<cbpf::SeccompData> parse_record(const std::string& line, const std::string& where) {
    cbpf::SeccompData d;
    d.arch = 0xc000003e;
    std::istringstream in(line);
    std::string tok;
    bool have_nr = false;
    while (in >> tok) {
        auto eq = tok.find('=');
        if (eq == std::string::npos) return make_error(fmt::format("{}: expected key=value, got '{}'", where, tok));
        std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
        if (key == "nr") {
            auto v = number(value, where);
            if (!v) return tl::unexpected(v.error());
            d.nr = static_cast<int32_t>(*v);
            have_nr = true;
        } else if (key == "arch") {
            auto v = arch_value(value, where);
            if (!v) return tl::unexpected(v.error());
            d.arch = *v;
        } else if (key == "ip") {
            auto v = number(value, where);
            if (!v) return tl::unexpected(v.error());
            d.instruction_pointer = *v;
        } else if (key == "args") {
            std::istringstream list(value);
            std::string a;
            int i = 0;
            while (std::getline(list, a, ',')) {
                if (i >= 6) return make_error(fmt::format("{}: more than 6 args", where));
                auto v = number(a, where);
                if (!v) return tl::unexpected(v.error());
                d.args[i++] = *v;
            }
        } else if (key.size() == 4 && key.rfind("arg", 0) == 0 && key[3] >= '0' && key[3] <= '5') {
            auto v = number(value, where);
            if (!v) return tl::unexpected(v.error());
            d.args[key[3] - '0'] = *v;
        } else {
            return make_error(fmt::format("{}: unknown key '{}' (nr, arch, ip, args, arg0..arg5)", where, key));
        }
    }
    if (!have_nr) return make_error(fmt::format("{}: the record has no nr=", where));
    return d;
}

Result<cbpf::SeccompData> json_record(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) return make_error(fmt::format("{}: a record is an object", where));
    cbpf::SeccompData d;
    d.arch = 0xc000003e;
    try {
        if (!j.contains("nr")) return make_error(fmt::format("{}: the record has no \"nr\"", where));
        d.nr = j.at("nr").get<int32_t>();
        if (j.contains("arch")) {
            if (j["arch"].is_string()) {
                auto a = arch_value(j["arch"].get<std::string>(), where);
                if (!a) return tl::unexpected(a.error());
                d.arch = *a;
            } else {
                d.arch = j["arch"].get<uint32_t>();
            }
        }
        if (j.contains("instruction_pointer")) d.instruction_pointer = j["instruction_pointer"].get<uint64_t>();
        if (j.contains("args")) {
            const auto& a = j["args"];
            if (!a.is_array() || a.size() > 6) return make_error(fmt::format("{}: \"args\" is a list of up to 6", where));
            for (size_t i = 0; i < a.size(); i++) d.args[i] = a[i].get<uint64_t>();
        }
    } catch (const nlohmann::json::exception& e) {
        return make_error(fmt::format("{}: {}", where, e.what()));
    }
    return d;
}

std::string describe(const cbpf::SeccompData& d) {
    std::string s = fmt::format("nr={} arch=0x{:x}", d.nr, d.arch);
    int last = -1;
    for (int i = 0; i < 6; i++)
        if (d.args[i]) last = i;
    if (last >= 0) {
        s += " args=";
        for (int i = 0; i <= last; i++) s += fmt::format("{}{:#x}", i ? "," : "", d.args[i]);
    }
    return s;
}

} // namespace

Command add_seccomp(CLI::App& app) {
    auto o = std::make_shared<SeccompOptions>();
    CLI::App* cmd = app.add_subcommand(
        "seccomp", "Run a seccomp filter (bpf_asm or tcpdump -d/-dd/-ddd text) on seccomp_data records");
    cmd->add_option("filter", o->filter, "The filter")->required();
    cmd->add_option("records", o->records,
                    "Records, one per line ('nr=59 arch=x86_64 args=1,2'), or a JSON list of {nr, arch, args, "
                    "instruction_pointer}; '-' for stdin");
    cmd->add_option("-r,--record", o->record, "A record given on the command line (repeatable)");
    cmd->add_option("--engine", o->engine, "jit (default) or interp")->check(CLI::IsMember({"jit", "interp"}));
    cmd->add_flag("--json", o->json, "Print the results as JSON");
    return {cmd, [o] {
                auto text = read_text(o->filter);
                if (!text) return report(text.error().to_string());
                auto prog = cbpf::parse(*text, o->filter);
                if (!prog) return report(prog.error().to_string());
                auto filter = cbpf::SeccompFilter::create(
                    *prog, o->engine == "interp" ? cbpf::Engine::Interpreter : cbpf::Engine::Jit);
                if (!filter) return report(fmt::format("{}: {}", o->filter, filter.error().to_string()));
                std::vector<cbpf::SeccompData> records;
                for (size_t i = 0; i < o->record.size(); i++) {
                    auto r = parse_record(o->record[i], fmt::format("--record {}", i + 1));
                    if (!r) return report(r.error().to_string());
                    records.push_back(*r);
                }
                if (!o->records.empty()) {
                    auto rt = read_text(o->records);
                    if (!rt) return report(rt.error().to_string());
                    size_t first = rt->find_first_not_of(" \t\r\n");
                    if (first != std::string::npos && ((*rt)[first] == '[' || (*rt)[first] == '{')) {
                        nlohmann::json j = nlohmann::json::parse(*rt, nullptr, false);
                        if (j.is_discarded()) return report(fmt::format("{}: not valid JSON", o->records));
                        if (!j.is_array()) j = nlohmann::json::array({j});
                        for (size_t i = 0; i < j.size(); i++) {
                            auto r = json_record(j[i], fmt::format("{}: record {}", o->records, i + 1));
                            if (!r) return report(r.error().to_string());
                            records.push_back(*r);
                        }
                    } else {
                        std::istringstream lines(*rt);
                        std::string line;
                        for (int n = 1; std::getline(lines, line); n++) {
                            auto hash = line.find('#');
                            if (hash != std::string::npos) line.resize(hash);
                            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
                            auto r = parse_record(line, fmt::format("{}:{}", o->records, n));
                            if (!r) return report(r.error().to_string());
                            records.push_back(*r);
                        }
                    }
                }
                if (records.empty()) return report("no records: give a records file or --record");
                nlohmann::json out = nlohmann::json::array();
                for (const auto& d : records) {
                    cbpf::SeccompVerdict v = filter->evaluate(d);
                    if (o->json)
                        out.push_back({{"nr", d.nr}, {"arch", d.arch}, {"value", v.value}, {"action", v.to_string()}});
                    else
                        std::cout << fmt::format("{}: {}\n", describe(d), v.to_string());
                }
                if (o->json) std::cout << out.dump(2) << "\n";
                return 0;
            }};
}

namespace {
const CommandRegistration registration{"seccomp", add_seccomp};
}

} // namespace bpfvm::cli
