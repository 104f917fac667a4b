// The process's object ids: maps and programs, as Linux's map and prog idrs
// (ids count up from 1 and are not reused), and the ObjectRegistry that
// resolves the ids userspace stores in prog_arrays and map-in-maps.
#include <algorithm>
#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "bpfvm/runtime.h"
#include "internal.h"

namespace bpfvm {
namespace {

class ProcessRegistry final : public ObjectRegistry {
public:
    std::shared_ptr<Map> map_by_id(uint32_t id) override {
        std::shared_lock lock(mutex_);
        auto it = maps_.find(id);
        return it == maps_.end() ? nullptr : it->second.lock();
    }

    uint32_t map_id(const Map& map) override {
        std::shared_lock lock(mutex_);
        return live_map_id(&map);
    }

    long check_tail_call_program(uint32_t prog_id, const Map& prog_array) override {
        std::unique_lock lock(mutex_);
        auto it = programs_.find(prog_id);
        if (it == programs_.end()) return -EBADF;
        auto prog = it->second.lock();
        if (!prog) return -EBADF;
        // Linux: every program of a prog_array has the type of the first one
        // stored (or of the first program that uses the array).
        auto [owner, inserted] = owners_.try_emplace(&prog_array, Owner{prog->prog_type(), live_map(&prog_array)});
        if (!inserted) {
            if (!owner->second.map.lock()) owner->second = Owner{prog->prog_type(), live_map(&prog_array)};
            else if (owner->second.prog_type != prog->prog_type()) return -EINVAL;
        }
        return 0;
    }

    uint32_t add_map(const std::shared_ptr<Map>& map) {
        std::unique_lock lock(mutex_);
        if (uint32_t id = live_map_id(map.get())) return id;
        purge();
        uint32_t id = next_map_id_++;
        maps_[id] = map;
        map_ids_[map.get()] = id;
        return id;
    }

    uint32_t add_program(const std::shared_ptr<LoadedProgram>& prog) {
        std::unique_lock lock(mutex_);
        uint32_t id = next_prog_id_++;
        programs_[id] = prog;
        return id;
    }

    void remove_program(uint32_t id) {
        std::unique_lock lock(mutex_);
        programs_.erase(id);
    }

    std::shared_ptr<LoadedProgram> program(uint32_t id) {
        std::shared_lock lock(mutex_);
        auto it = programs_.find(id);
        return it == programs_.end() ? nullptr : it->second.lock();
    }

    bool is_live_map(const void* p) {
        std::shared_lock lock(mutex_);
        return live_map_id(static_cast<const Map*>(p)) != 0;
    }

    std::vector<uint32_t> live_map_ids() {
        std::shared_lock lock(mutex_);
        std::vector<uint32_t> ids;
        for (auto& [id, m] : maps_)
            if (!m.expired()) ids.push_back(id);
        return ids;
    }
    std::vector<uint32_t> live_program_ids() {
        std::shared_lock lock(mutex_);
        std::vector<uint32_t> ids;
        for (auto& [id, p] : programs_)
            if (!p.expired()) ids.push_back(id);
        return ids;
    }

private:
    struct Owner {
        uint32_t prog_type;
        std::weak_ptr<Map> map;
    };
    // The id of `map` if it is the live map registered under it (a dead map's
    // address may be reused by a new one).
    uint32_t live_map_id(const Map* map) {
        auto it = map_ids_.find(map);
        if (it == map_ids_.end()) return 0;
        auto m = maps_.find(it->second);
        if (m == maps_.end() || m->second.lock().get() != map) return 0;
        return it->second;
    }
    std::weak_ptr<Map> live_map(const Map* map) {
        uint32_t id = live_map_id(map);
        return id ? maps_[id] : std::weak_ptr<Map>();
    }
    // Forgets dead maps (called when adding, so the tables stay small).
    void purge() {
        for (auto q = map_ids_.begin(); q != map_ids_.end();) {
            auto m = maps_.find(q->second);
            if (m == maps_.end() || m->second.expired()) q = map_ids_.erase(q);
            else ++q;
        }
        std::erase_if(maps_, [](const auto& entry) { return entry.second.expired(); });
        for (auto it = owners_.begin(); it != owners_.end();) {
            if (it->second.map.expired()) it = owners_.erase(it);
            else ++it;
        }
    }

    std::shared_mutex mutex_;
    uint32_t next_map_id_ = 1;
    uint32_t next_prog_id_ = 1;
    std::map<uint32_t, std::weak_ptr<Map>> maps_;
    std::unordered_map<const Map*, uint32_t> map_ids_;
    std::map<uint32_t, std::weak_ptr<LoadedProgram>> programs_;
    std::unordered_map<const Map*, Owner> owners_;
};

ProcessRegistry& registry() {
    // Never destroyed: maps created by static objects may outlive any order.
    static auto* r = new std::shared_ptr<ProcessRegistry>(std::make_shared<ProcessRegistry>());
    return **r;
}
std::shared_ptr<ProcessRegistry> registry_ptr() {
    static auto* r = new std::shared_ptr<ProcessRegistry>(std::shared_ptr<ProcessRegistry>(&registry(), [](auto*) {}));
    return *r;
}

} // namespace

std::shared_ptr<ObjectRegistry> object_registry() { return registry_ptr(); }
uint32_t register_map(const std::shared_ptr<Map>& map) { return map ? registry().add_map(map) : 0; }
std::shared_ptr<Map> map_by_id(uint32_t id) { return registry().map_by_id(id); }
std::shared_ptr<LoadedProgram> program_by_id(uint32_t id) { return registry().program(id); }
std::vector<uint32_t> map_ids() { return registry().live_map_ids(); }
std::vector<uint32_t> program_ids() { return registry().live_program_ids(); }

namespace runtime_detail {
uint32_t register_program(const std::shared_ptr<LoadedProgram>& prog) { return registry().add_program(prog); }
void unregister_program(uint32_t id) { registry().remove_program(id); }
bool is_live_map(const void* p) { return registry().is_live_map(p); }
} // namespace runtime_detail

} // namespace bpfvm
