// The runtime: what bpf(2) gives a process, in userspace. Loads ELF objects
// (maps created, global data initialised, pinned maps reused, programs
// resolved, bound to helpers and prepared on the JIT or the interpreter), gives
// every map and program an id, runs programs (tail calls included), and pins
// programs so another process can load them again. docs/runtime.md.
//
// Ids are process-wide, as Linux's are system-wide: a map or program has its
// id while it lives (an object holds its maps and programs; a map lives while
// any shared_ptr to it does). Ids are never reused within a process.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/elf.h"
#include "bpfvm/error.h"
#include "bpfvm/map.h"
#include "bpfvm/program.h"
#include "bpfvm/vm.h"

namespace bpfvm {

class JitProgram;
class LoadedObject;

enum class EngineKind : uint8_t {
    Jit,         // x86-64 native code (the default where supported)
    Interpreter, // the threaded-code interpreter
};
std::string_view engine_name(EngineKind kind); // "jit", "interpreter"

struct LoadOptions {
    // The engine programs are prepared on. Jit falls back to the interpreter
    // on hosts without JIT support.
    EngineKind engine = EngineKind::Jit;
    // The checked mode (loads and stores confined, an instruction budget):
    // the default, since bpfvm has no verifier yet.
    bool checked = true;
    // Where pins live (maps pinned by name, program pins): empty means
    // $BPFVM_PIN_ROOT, else /dev/shm/bpfvm (map.h's pin_root()).
    std::string pin_root;
    // libbpf's pin_root_path: where maps with `pinning = LIBBPF_PIN_BY_NAME`
    // are pinned, relative to the pin root (empty: the pin root itself).
    std::string pin_maps_dir;
    // Per-CPU slots of per-CPU maps (0: default_nr_cpus()).
    uint32_t nr_cpus = 0;
    // Maps to use instead of creating them, by the object's map name
    // (libbpf's bpf_map__reuse_fd). Their spec must match the object's.
    std::map<std::string, std::shared_ptr<Map>> reuse_maps;
    // Helpers the programs may call; bpf_tail_call (12) is added. Empty
    // (nullptr): runtime_helpers().
    const HelperTable* helpers = nullptr;
    // Programs to prepare (by name); empty: every program whose section is
    // not "?"-prefixed (libbpf's autoload).
    std::vector<std::string> only_programs;
};

// One program of a loaded object, ready to run.
class LoadedProgram {
public:
    uint32_t id() const { return id_; }
    const std::string& name() const { return elf_.name; }
    const std::string& section() const { return elf_.section; }
    uint32_t prog_type() const { return elf_.prog_type; }
    EngineKind engine() const { return engine_; }
    bool checked() const { return checked_; }
    // The linked instructions (pseudo lddw still in their object form), and
    // the line and function info of the object's BTF.
    const ElfProgram& elf() const { return elf_; }
    const Program& program() const { return program_; }
    // The JIT's code (nullptr on the interpreter).
    const JitProgram* jit() const { return jit_.get(); }
    // The ids of the maps the program uses, in the order of the object's maps.
    std::vector<uint32_t> map_ids() const;
    // The object the program came from; nullptr once that is gone.
    std::shared_ptr<LoadedObject> object() const { return object_.lock(); }

    // Runs the program: r1 = ctx, r2 = ctx_size. The mode is the one it was
    // loaded in (options.checked is ignored); in the checked mode the
    // program's global data is handed over as regions (.rodata read-only).
    Result<uint64_t> run(void* ctx, size_t ctx_size, const RunOptions& options) const;
    // The same with the default options, prepared at load (no copy per run).
    Result<uint64_t> run(void* ctx, size_t ctx_size) const;

    // Writes a pin file at `path` (resolved against the pin root) that names
    // the object file and this program, and the maps the program uses by
    // their pin paths where they are pinned. LoadedObject::open_pinned_program
    // loads it again, in this or another process. Objects loaded from memory
    // cannot be pinned (no file to load again).
    Result<void> pin(const std::string& path) const;

    ~LoadedProgram();

private:
    friend class LoadedObject;
    LoadedProgram() = default;
    ElfProgram elf_;
    Program program_;
    EngineKind engine_ = EngineKind::Jit;
    bool checked_ = true;
    uint32_t id_ = 0;
    std::shared_ptr<const JitProgram> jit_;
    std::shared_ptr<const Interpreter> interpreter_;
    std::vector<MemoryRegion> regions_; // global data handed over in the checked mode
    RunOptions default_options_;         // checked_, regions_
    std::vector<std::shared_ptr<Map>> maps_;
    std::weak_ptr<LoadedObject> object_;
};

// A map of a loaded object.
struct LoadedMap {
    std::string name;                 // the object's name for it (libbpf's)
    ElfMapSpec spec;                  // as the object declares it
    std::shared_ptr<Map> map;
    uint32_t id = 0;
    std::string pin_path;             // where it is pinned (by name, or pin_map), or empty
    bool reused = false;              // an existing pinned (or reuse_maps) map
};

// An ELF object loaded: its maps and programs. Programs and maps stay alive
// as long as the object (or a shared_ptr to them) does.
class LoadedObject : public std::enable_shared_from_this<LoadedObject> {
public:
    static Result<std::shared_ptr<LoadedObject>> load(const std::string& path, const LoadOptions& options = {});
    static Result<std::shared_ptr<LoadedObject>> load(std::span<const uint8_t> bytes, std::string name,
                                                      const LoadOptions& options = {});
    // Loads the object a pin file (LoadedProgram::pin) names, reusing the maps
    // it recorded where they are still pinned. `program` is set to the pinned
    // program. Options: as for load(); pin_root also resolves `path`.
    static Result<std::shared_ptr<LoadedObject>> open_pinned_program(const std::string& path,
                                                                     std::shared_ptr<LoadedProgram>* program,
                                                                     LoadOptions options = {});

    const ElfObject& elf() const { return elf_; }
    const std::string& path() const { return path_; } // absolute path, empty if loaded from memory
    const std::vector<std::shared_ptr<LoadedProgram>>& programs() const { return programs_; }
    const std::vector<LoadedMap>& maps() const { return maps_; }
    // By program name (function), else the only program of that section.
    std::shared_ptr<LoadedProgram> find_program(std::string_view name) const;
    // By the object's map name ("counts", "full.rodata"); also by the name the
    // Map carries (truncated to 15 characters).
    std::shared_ptr<Map> find_map(std::string_view name) const;
    const LoadedMap* find_loaded_map(std::string_view name) const;
    const LoadOptions& options() const { return options_; }

    // Pins a map of the object at `path` (resolved against the pin root).
    Result<void> pin_map(std::string_view name, const std::string& path);

    ~LoadedObject();

private:
    LoadedObject() = default;
    Result<void> create_maps();
    Result<void> load_programs();
    Result<void> fill_slots();
    ElfObject elf_;
    std::string path_;
    LoadOptions options_;
    std::vector<LoadedMap> maps_;
    std::vector<std::shared_ptr<LoadedProgram>> programs_;
};

// ---- Ids (Linux's BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID).

// The process's registry: resolves prog_array and map-in-map ids. Every map the
// runtime creates has it in its MapOptions.
std::shared_ptr<ObjectRegistry> object_registry();
// Gives `map` an id (its existing one if it has one). For maps created outside
// an object (Map::create, Map::open_pinned) that userspace wants to refer to by id.
uint32_t register_map(const std::shared_ptr<Map>& map);
std::shared_ptr<Map> map_by_id(uint32_t id);
std::shared_ptr<LoadedProgram> program_by_id(uint32_t id);
// Ids of the live maps / programs, ascending.
std::vector<uint32_t> map_ids();
std::vector<uint32_t> program_ids();

// The helper table programs are bound to: `base` (runtime_helpers() if null)
// plus bpf_tail_call (12).
HelperTable runtime_helper_table(const HelperTable* base = nullptr);

namespace helpers {
// bpf_tail_call(ctx, prog_array, index): runs the program at `index` on the
// same context and makes the caller return its result; when the slot is empty
// or the chain already made kMaxTailCalls tail calls, returns a negative errno
// (-ENOENT, -E2BIG) and the program goes on.
uint64_t tail_call(uint64_t ctx, uint64_t prog_array, uint64_t index, uint64_t, uint64_t, ExecContext* exec);
} // namespace helpers

// ---- Names, as bpftool prints them (libbpf's): "hash", "prog_array"; "xdp",
// "sched_cls". Unknown numbers: "type 99" / nullopt.
std::string map_type_name(uint32_t type);
std::optional<uint32_t> map_type_from_name(std::string_view name);
std::string prog_type_name(uint32_t type);

// ---- Pin files of programs.

// What a program pin file says.
struct ProgramPin {
    std::string object_path;  // absolute
    std::string program;      // program name
    EngineKind engine = EngineKind::Jit;
    bool checked = true;
    std::map<std::string, std::string> map_pins; // map name -> pin path (absolute), for pinned maps
};
// Reads a program pin file (path resolved against `pin_root`, empty: the
// default). An error names the path and what is wrong.
Result<ProgramPin> read_program_pin(const std::string& path, const std::string& pin_root = {});
// Whether `path` (resolved) is a program pin file (as opposed to a map pin).
bool is_program_pin(const std::string& path, const std::string& pin_root = {});

} // namespace bpfvm
