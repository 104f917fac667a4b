// The map and helper conformance suite's view of an eBPF implementation.
//
// A backend loads a clang-compiled object (maps, globals, programs), gives
// userspace access to its maps as bpf(2) does, and runs a program once on an
// input (BPF_PROG_TEST_RUN). The suite runs every case on every backend that
// is registered in backends.cpp and compares what it sees with the case's
// expectations, which are what Linux does.
//
// Errors of map operations are errno values (ENOENT, EEXIST, ...), exactly as
// bpf(2) reports them: the suite checks them. Errors of the backend itself
// (an object that does not load, a program that is not there) are text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

namespace bpfvm::mapconf {

using Bytes = std::vector<uint8_t>;

// A map operation's result: the value, or a positive errno.
template <typename T> using Errno = tl::expected<T, int>;
inline tl::unexpected<int> errno_error(int e) { return tl::unexpected<int>(e); }

// A backend's failure, with the reason.
template <typename T> using Outcome = tl::expected<T, std::string>;
inline tl::unexpected<std::string> failure(std::string why) { return tl::unexpected<std::string>(std::move(why)); }

// A failure whose reason starts with this is something the backend cannot do
// (a program type it builds no context for, a run on a CPU it cannot choose):
// the case is skipped with the reason, not failed.
inline constexpr const char* kUnsupported = "unsupported: ";

struct MapDesc {
    std::string name; // as the object names it (the C variable; ".bss" etc. for global data)
    uint32_t type = 0; // BPF_MAP_TYPE_*
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t flags = 0;
};

// Where a global variable lives: a global data map, at an offset.
struct GlobalVar {
    std::string map;
    uint32_t offset = 0;
    uint32_t size = 0;
};

struct RunInput {
    Bytes packet;   // data_in (XDP, tc); empty for program types without packets
    Bytes ctx;      // ctx_in (raw_tp, syscall); empty for none
    unsigned cpu = 0; // the CPU the program runs on (bpf_get_smp_processor_id, per-CPU maps)
};

struct RunOutput {
    uint32_t retval = 0; // the program's r0, as BPF_PROG_TEST_RUN reports it (32 bits)
    Bytes packet;        // data_out
    Bytes ctx;           // ctx_out
};

// One loaded object. Map names are MapDesc::name. For per-CPU maps, values
// read and written from userspace hold one slot per possible CPU, each slot
// round_up(value_size, 8) bytes, as bpf(2) does.
class LoadedObject {
public:
    virtual ~LoadedObject() = default;

    virtual std::vector<MapDesc> maps() const = 0;
    virtual Outcome<GlobalVar> global(const std::string& name) const = 0;

    // BPF_MAP_UPDATE_ELEM / LOOKUP_ELEM / DELETE_ELEM / GET_NEXT_KEY.
    virtual Errno<void> update(const std::string& map, const Bytes& key, const Bytes& value, uint64_t flags) = 0;
    virtual Errno<Bytes> lookup(const std::string& map, const Bytes& key, uint64_t flags) = 0;
    virtual Errno<void> remove(const std::string& map, const Bytes& key) = 0;
    // The first key when `key` is empty.
    virtual Errno<Bytes> next_key(const std::string& map, const Bytes& key) = 0;
    // Maps without keys (queue, stack, bloom filter): update with no key,
    // LOOKUP_AND_DELETE (pop), LOOKUP (peek; for a bloom filter, `value` is
    // the value to test and the result is empty).
    virtual Errno<void> push(const std::string& map, const Bytes& value, uint64_t flags) = 0;
    virtual Errno<Bytes> pop(const std::string& map) = 0;
    virtual Errno<Bytes> peek(const std::string& map, const Bytes& value) = 0;

    // A prog_array slot gets one of the object's programs; a map-of-maps slot
    // one of the object's maps.
    virtual Errno<void> set_program(const std::string& map, uint32_t index, const std::string& program) = 0;
    virtual Errno<void> set_inner_map(const std::string& map, const Bytes& key, const std::string& inner) = 0;

    // Events: a perf event array gets a reader on every CPU (a perf buffer), a
    // ring buffer a consumer. read_events returns the records written since,
    // in order (for perf events, as the reader gets them: the raw sample,
    // padded by Linux).
    virtual Outcome<void> open_events(const std::string& map) = 0;
    virtual Outcome<std::vector<Bytes>> read_events(const std::string& map) = 0;

    // Runs a program once. A program that the backend refuses at load time
    // makes load() fail, not run().
    virtual Outcome<RunOutput> run(const std::string& program, const RunInput& input) = 0;
};

class MapConfBackend {
public:
    virtual ~MapConfBackend() = default;
    virtual std::string name() const = 0;
    // Why the backend cannot run here (not root, bpf(2) refused, ...), or nothing.
    virtual std::optional<std::string> unavailable() = 0;
    virtual unsigned possible_cpus() const = 0;
    virtual Outcome<std::unique_ptr<LoadedObject>> load(const std::string& path) = 0;
    // Why the backend loads objects a verifier must refuse ("load_fails"
    // cases are skipped with it), or nothing when it verifies them.
    virtual std::optional<std::string> loads_unverified() const { return std::nullopt; }
};

// The registration point: backends.cpp lists every backend the suite runs.
struct BackendEntry {
    std::string name;
    std::function<std::unique_ptr<MapConfBackend>()> make;
};
std::vector<BackendEntry> backends();

} // namespace bpfvm::mapconf
