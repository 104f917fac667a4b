// array, percpu_array, prog_array, array_of_maps (kernel/bpf/arraymap.c).
//
// Storage after the header: max_entries values of round_up(value_size, 8)
// bytes; per-CPU: nr_cpus blocks of that, one per slot ([cpu][index], so
// threads do not share cache lines). prog_array and array_of_maps store u32 ids.
#include <cerrno>
#include <mutex>
#include <vector>

#include "internal.h"

namespace bpfvm::maps {

uint64_t array_storage(const MapSpec& spec, uint32_t nr_cpus) {
    return round_up(spec.value_size, 8) * uint64_t(spec.max_entries) * nr_cpus;
}

namespace {

class ArrayMap : public MapImpl {
public:
    void attach(bool) override {
        values_ = storage();
        elem_size_ = uint32_t(round_up(spec_.value_size, 8));
        percpu_ = spec_.type == BPF_MAP_TYPE_PERCPU_ARRAY;
        block_ = uint64_t(elem_size_) * spec_.max_entries;
        if (spec_.type == BPF_MAP_TYPE_ARRAY) {
            array_values_ = values_;
            array_stride_ = elem_size_;
        }
    }

    unsigned char* slot(uint32_t index, uint32_t cpu) const {
        return values_ + uint64_t(cpu) * block_ + uint64_t(index) * elem_size_;
    }

    void* lookup(const void* key) override {
        uint32_t index;
        memcpy(&index, key, 4);
        if (__builtin_expect(index >= spec_.max_entries, 0)) return nullptr;
        if (!percpu_) return values_ + uint64_t(index) * elem_size_;
        return slot(index, cpu_slot(nr_cpus_));
    }

    void* lookup_percpu(const void* key, uint32_t cpu) override {
        if (!percpu_ || cpu >= nr_cpus_) return nullptr;
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return nullptr;
        return slot(index, cpu);
    }

    long update(const void* key, const void* value, uint64_t flags) override {
        uint32_t index;
        memcpy(&index, key, 4);
        if ((flags & ~uint64_t(BPF_F_LOCK)) > BPF_EXIST) return -EINVAL;
        if (index >= spec_.max_entries) return -E2BIG;
        if (flags & BPF_NOEXIST) return -EEXIST;
        if (long e = check_lock_flag(flags)) return e;
        void* dst = percpu_ ? slot(index, cpu_slot(nr_cpus_)) : values_ + uint64_t(index) * elem_size_;
        copy_in(dst, value, flags);
        return 0;
    }

    long erase(const void*) override { return -EINVAL; }

    long for_each(ForEachCallback cb, void* ctx, uint64_t flags) override {
        if (flags != 0) return -EINVAL;
        uint32_t cpu = percpu_ ? cpu_slot(nr_cpus_) : 0;
        long n = 0;
        for (uint32_t i = 0; i < spec_.max_entries; i++) {
            n++;
            uint32_t key = i;
            if (cb(this, &key, slot(i, cpu), ctx)) break;
        }
        return n;
    }

    void* value_base() override { return percpu_ ? nullptr : values_; }

protected:
    long do_sys_lookup(const void* key, void* value, uint64_t flags) override {
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return -ENOENT;
        if (!percpu_) {
            copy_out(value, slot(index, 0), flags);
            return 0;
        }
        // bpf_percpu_array_copy: round_up(value_size, 8) bytes per slot.
        auto* out = static_cast<unsigned char*>(value);
        for (uint32_t c = 0; c < nr_cpus_; c++) memcpy(out + uint64_t(c) * elem_size_, slot(index, c), elem_size_);
        return 0;
    }

    long do_sys_update(const void* key, const void* value, uint64_t flags) override {
        if (!percpu_) return update(key, value, flags);
        uint32_t index;
        memcpy(&index, key, 4);
        if (flags > BPF_EXIST) return -EINVAL;
        if (index >= spec_.max_entries) return -E2BIG;
        if (flags == BPF_NOEXIST) return -EEXIST;
        auto* in = static_cast<const unsigned char*>(value);
        for (uint32_t c = 0; c < nr_cpus_; c++) memcpy(slot(index, c), in + uint64_t(c) * elem_size_, elem_size_);
        return 0;
    }

    long do_sys_get_next_key(const void* key, void* next_key) override {
        uint32_t index = UINT32_MAX;
        if (key) memcpy(&index, key, 4);
        uint32_t next;
        if (index >= spec_.max_entries) next = 0;
        else if (index == spec_.max_entries - 1) return -ENOENT;
        else next = index + 1;
        memcpy(next_key, &next, 4);
        return 0;
    }

    unsigned char* values_ = nullptr;
    uint32_t elem_size_ = 8;
    uint64_t block_ = 0;
    bool percpu_ = false;
};

// Arrays of ids: prog_array and array_of_maps (fd arrays in Linux).
class IdArrayMap : public ArrayMap {
public:
    void attach(bool fresh) override {
        ArrayMap::attach(fresh);
        if (spec_.type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
            inner_ptrs_ = std::vector<std::atomic<Map*>>(spec_.max_entries);
            inner_refs_.resize(spec_.max_entries);
        }
    }

    std::atomic<uint32_t>& id_at(uint32_t index) const {
        return *reinterpret_cast<std::atomic<uint32_t>*>(values_ + uint64_t(index) * elem_size_);
    }

    void* lookup(const void* key) override {
        if (spec_.type != BPF_MAP_TYPE_ARRAY_OF_MAPS) return nullptr;
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return nullptr;
        return inner_ptrs_[index].load(std::memory_order_acquire);
    }
    void* lookup_percpu(const void*, uint32_t) override { return nullptr; }
    long update(const void*, const void*, uint64_t) override { return -EINVAL; }
    long erase(const void*) override { return -EINVAL; }
    long for_each(ForEachCallback, void*, uint64_t) override { return -EINVAL; }
    void* value_base() override { return nullptr; }

    uint32_t tail_call_target(uint32_t index) const override {
        if (spec_.type != BPF_MAP_TYPE_PROG_ARRAY || index >= spec_.max_entries) return 0;
        return id_at(index).load(std::memory_order_acquire);
    }

    std::shared_ptr<Map> inner_map(const void* key) override {
        if (spec_.type != BPF_MAP_TYPE_ARRAY_OF_MAPS) return nullptr;
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return nullptr;
        std::lock_guard<std::mutex> g(mutex_);
        return inner_refs_[index];
    }

protected:
    long do_sys_lookup(const void* key, void* value, uint64_t flags) override {
        if (flags) return -EINVAL;
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return -ENOENT;
        uint32_t id = id_at(index).load(std::memory_order_acquire);
        if (!id) return -ENOENT;
        memcpy(value, &id, 4);
        return 0;
    }

    long do_sys_update(const void* key, const void* value, uint64_t flags) override {
        uint32_t index, id;
        memcpy(&index, key, 4);
        memcpy(&id, value, 4);
        if (flags != BPF_ANY) return -EINVAL;
        if (index >= spec_.max_entries) return -E2BIG;
        auto& reg = options_.registry;
        if (!reg) return -EBADF;
        if (spec_.type == BPF_MAP_TYPE_PROG_ARRAY) {
            if (long e = reg->check_tail_call_program(id, *this)) return e;
            id_at(index).store(id, std::memory_order_release);
            return 0;
        }
        std::shared_ptr<Map> inner = reg->map_by_id(id);
        if (!inner) return -EBADF;
        if (!inner_compatible(*spec_.inner, inner->spec())) return -EINVAL;
        std::lock_guard<std::mutex> g(mutex_);
        if (inner_refs_[index]) retired_.push_back(std::move(inner_refs_[index]));
        inner_ptrs_[index].store(inner.get(), std::memory_order_release);
        inner_refs_[index] = std::move(inner);
        id_at(index).store(id, std::memory_order_release);
        return 0;
    }

    long do_sys_delete(const void* key) override {
        uint32_t index;
        memcpy(&index, key, 4);
        if (index >= spec_.max_entries) return -E2BIG;
        if (spec_.type == BPF_MAP_TYPE_PROG_ARRAY) {
            return id_at(index).exchange(0, std::memory_order_acq_rel) ? 0 : -ENOENT;
        }
        std::lock_guard<std::mutex> g(mutex_);
        if (!id_at(index).exchange(0, std::memory_order_acq_rel)) return -ENOENT;
        inner_ptrs_[index].store(nullptr, std::memory_order_release);
        // A running program may still hold the inner map (Linux frees it after
        // an RCU grace period): keep it until this map goes away.
        if (inner_refs_[index]) retired_.push_back(std::move(inner_refs_[index]));
        return 0;
    }

public:
    // bpf_map_meta_equal / array_map_meta_equal.
    static bool inner_compatible(const MapSpec& tmpl, const MapSpec& m) {
        if (tmpl.type != m.type || tmpl.key_size != m.key_size || tmpl.value_size != m.value_size ||
            tmpl.map_flags != m.map_flags || m.spin_lock_offset >= 0)
            return false;
        if ((m.type == BPF_MAP_TYPE_ARRAY || m.type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
            !(tmpl.map_flags & BPF_F_INNER_MAP))
            return tmpl.max_entries == m.max_entries;
        return true;
    }

private:
    std::vector<std::atomic<Map*>> inner_ptrs_;
    std::vector<std::shared_ptr<Map>> inner_refs_;
    std::vector<std::shared_ptr<Map>> retired_;
    std::mutex mutex_;
};

} // namespace

bool inner_map_compatible(const MapSpec& tmpl, const MapSpec& m) { return IdArrayMap::inner_compatible(tmpl, m); }

std::unique_ptr<Map> make_array_family(uint32_t type) {
    if (type == BPF_MAP_TYPE_PROG_ARRAY || type == BPF_MAP_TYPE_ARRAY_OF_MAPS) return std::make_unique<IdArrayMap>();
    return std::make_unique<ArrayMap>();
}

} // namespace bpfvm::maps
