// Program pins: a small text file under the pin root that says which object
// file and program to load again, in which mode, and where the maps it uses
// are pinned. A program is code plus its maps; the code is loaded again from
// the object file, the maps are shared through their own pins.
//
//   bpfvm program pin 1
//   object /abs/path/prog.o
//   program xdp_prog
//   engine jit
//   checked 1
//   map counts /dev/shm/bpfvm/counts
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bpfvm/runtime.h"

namespace bpfvm {
namespace {

constexpr std::string_view kMagic = "bpfvm program pin 1";

std::string resolve(const std::string& path, const std::string& root) {
    MapOptions mo;
    mo.pin_root = root;
    return resolve_pin_path(path, mo);
}

} // namespace

Result<void> LoadedProgram::pin(const std::string& path) const {
    auto obj = object_.lock();
    if (!obj) return make_error(fmt::format("program {}: its object is gone, nothing to pin", name()));
    if (obj->path().empty())
        return make_error(fmt::format("program {}: its object was loaded from memory; only an object loaded from a "
                                      "file can be pinned (the pin names the file)",
                                      name()));
    std::string text = fmt::format("{}\nobject {}\nprogram {}\nengine {}\nchecked {}\n", kMagic, obj->path(), name(),
                                   engine_name(engine_), checked_ ? 1 : 0);
    for (const LoadedMap& m : obj->maps()) {
        if (m.pin_path.empty()) continue;
        bool used = std::any_of(maps_.begin(), maps_.end(), [&](const auto& p) { return p == m.map; });
        if (used) text += fmt::format("map {} {}\n", m.name, m.pin_path);
    }
    const std::string full = resolve(path, obj->options().pin_root);
    int fd = ::open(full.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return make_error(fmt::format("program {}: cannot pin at {}: {}", name(), full,
                                      errno == EEXIST ? "the path exists" : std::strerror(errno)));
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(full.c_str());
            return make_error(fmt::format("program {}: writing {}: {}", name(), full, std::strerror(err)));
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return {};
}

bool is_program_pin(const std::string& path, const std::string& pin_root) {
    std::ifstream in(resolve(path, pin_root));
    std::string first;
    return in && std::getline(in, first) && first == kMagic;
}

Result<ProgramPin> read_program_pin(const std::string& path, const std::string& pin_root) {
    const std::string full = resolve(path, pin_root);
    std::ifstream in(full);
    if (!in) return make_error(fmt::format("{}: cannot open: {}", full, std::strerror(errno)));
    std::string line;
    if (!std::getline(in, line) || line != kMagic)
        return make_error(fmt::format("{}: not a program pin (the first line is not \"{}\")", full, kMagic));
    ProgramPin pin;
    int number = 1;
    while (std::getline(in, line)) {
        number++;
        if (line.empty()) continue;
        auto sp = line.find(' ');
        std::string key = line.substr(0, sp), rest = sp == std::string::npos ? "" : line.substr(sp + 1);
        auto bad = [&](const std::string& why) { return make_error(fmt::format("{}:{}: {}", full, number, why)); };
        if (key == "object") pin.object_path = rest;
        else if (key == "program") pin.program = rest;
        else if (key == "engine") {
            if (rest == "jit") pin.engine = EngineKind::Jit;
            else if (rest == "interpreter") pin.engine = EngineKind::Interpreter;
            else return bad("engine must be jit or interpreter, not \"" + rest + "\"");
        } else if (key == "checked") {
            if (rest != "0" && rest != "1") return bad("checked must be 0 or 1");
            pin.checked = rest == "1";
        } else if (key == "map") {
            auto sp2 = rest.find(' ');
            if (sp2 == std::string::npos || sp2 == 0 || sp2 + 1 >= rest.size())
                return bad("a map line is \"map <name> <pin path>\"");
            pin.map_pins[rest.substr(0, sp2)] = rest.substr(sp2 + 1);
        } else {
            return bad("unknown key \"" + key + "\"");
        }
    }
    if (pin.object_path.empty()) return make_error(fmt::format("{}: no object line", full));
    if (pin.program.empty()) return make_error(fmt::format("{}: no program line", full));
    return pin;
}

Result<std::shared_ptr<LoadedObject>> LoadedObject::open_pinned_program(const std::string& path,
                                                                        std::shared_ptr<LoadedProgram>* program,
                                                                        LoadOptions options) {
    auto pin = read_program_pin(path, options.pin_root);
    if (!pin) return tl::unexpected(pin.error());
    options.engine = pin->engine;
    options.checked = pin->checked;
    MapOptions mo;
    mo.pin_root = options.pin_root;
    mo.nr_cpus = options.nr_cpus;
    mo.registry = object_registry();
    for (const auto& [name, map_path] : pin->map_pins) {
        if (options.reuse_maps.count(name)) continue;
        auto m = Map::open_pinned(map_path, mo);
        if (!m)
            return make_error(fmt::format("{}: map {} was pinned at {} when the program was pinned, and cannot be "
                                          "opened now: {}",
                                          resolve(path, options.pin_root), name, map_path, m.error().to_string()));
        options.reuse_maps[name] = *m;
    }
    auto obj = load(pin->object_path, options);
    if (!obj)
        return make_error(fmt::format("{}: loading {}: {}", resolve(path, options.pin_root), pin->object_path,
                                      obj.error().to_string()));
    auto p = (*obj)->find_program(pin->program);
    if (!p || p->name() != pin->program)
        return make_error(fmt::format("{}: the object {} has no program {} (any more)", resolve(path, options.pin_root),
                                      pin->object_path, pin->program));
    // Maps reused through a pin keep their pin path (so pinning again records them).
    for (LoadedMap& m : (*obj)->maps_) {
        auto it = pin->map_pins.find(m.name);
        if (it != pin->map_pins.end() && m.pin_path.empty()) m.pin_path = it->second;
    }
    if (program) *program = p;
    return obj;
}

} // namespace bpfvm
