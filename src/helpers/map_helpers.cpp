// Helpers on maps: element access, queues and stacks, per-CPU lookups, ring
// buffers, perf output, and the callback helpers (bpf_for_each_map_elem,
// bpf_loop). The program passes maps as the Map* an `lddw src=1` loaded.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "bpfvm/helpers.h"
#include "bpfvm/map.h"
#include "internal.h"

// Checks an argument of the helper this is used in (its name is __func__);
// the run fails when the program may not hand that memory over.
#define ARG(what, size, write) check_argument(ctx, __func__, #what, what, size, write)

namespace bpfvm {
namespace {

uint64_t ret(long v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }
Map* as_map(uint64_t r) { return reinterpret_cast<Map*>(r); }
const void* as_ptr(uint64_t r) { return reinterpret_cast<const void*>(r); }

bool rdonly_prog(const Map* m) { return m->map_flags() & BPF_F_RDONLY_PROG; }
bool wronly_prog(const Map* m) { return m->map_flags() & BPF_F_WRONLY_PROG; }
bool is_map_in_map(const Map* m) {
    return m->type() == BPF_MAP_TYPE_ARRAY_OF_MAPS || m->type() == BPF_MAP_TYPE_HASH_OF_MAPS;
}

// A lookup's result handed to the program: in checked mode its memory becomes
// a region (a whole array's values at once). nullptr if the region table is full.
void* hand_out_value(ExecContext* ctx, Map* m, void* value) {
    if (!value || !ctx || !ctx->checked || is_map_in_map(m)) return value;
    const bool writable = !rdonly_prog(m);
    if (m->type() == BPF_MAP_TYPE_ARRAY) {
        if (auto* base = static_cast<uint8_t*>(m->value_base())) {
            uint64_t stride = (uint64_t(m->value_size()) + 7) & ~uint64_t(7);
            if (expose_to_program(ctx, reinterpret_cast<uint64_t>(base), stride * m->max_entries(), writable,
                                  kMapValueRegion))
                return value;
            return nullptr;
        }
    }
    if (!expose_to_program(ctx, reinterpret_cast<uint64_t>(value), m->value_size(), writable, kMapValueRegion))
        return nullptr;
    return value;
}

// A callback stopped the run (a fault, the budget): the helper returns at once.
bool run_stopped(const ExecContext* ctx) { return ctx && ctx->stop != ExecContext::kRunning; }

// Without an engine's caller: the program cannot have a function to call back
// (Linux's verifier would refuse it), so the run fails as the engines do.
uint64_t refuse_callback(ExecContext* ctx, uint64_t fn, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return ctx->refuse_callback(fn);
}

struct ForEachState {
    ExecContext* ctx;
    FunctionCaller call;
    uint64_t fn;
    uint64_t callback_ctx;
    Map* map;
};

long for_each_trampoline(Map* map, const void* key, void* value, void* opaque) {
    auto* st = static_cast<ForEachState*>(opaque);
    ExecContext* ctx = st->ctx;
    if (run_stopped(ctx)) return 1;
    // The key and value are the program's for the callback only.
    const int saved = ctx ? ctx->num_regions : 0;
    if (ctx && ctx->checked) {
        bool ok = (map->key_size() == 0 ||
                   expose_to_program(ctx, reinterpret_cast<uint64_t>(key), map->key_size(), false, "map key")) &&
                  expose_to_program(ctx, reinterpret_cast<uint64_t>(value), map->value_size(), !rdonly_prog(map),
                                    kMapValueRegion);
        if (!ok) {
            ctx->num_regions = saved;
            return 1;
        }
    }
    uint64_t r = st->call(ctx, st->fn, reinterpret_cast<uint64_t>(map), reinterpret_cast<uint64_t>(key),
                          reinterpret_cast<uint64_t>(value), st->callback_ctx, 0);
    if (ctx && ctx->checked) ctx->num_regions = saved;
    if (run_stopped(ctx)) return 1;
    return r ? 1 : 0;
}

} // namespace

namespace helpers {

uint64_t map_lookup_elem(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m || wronly_prog(m)) return 0;
    // The fast mode checks nothing: straight to the map (the hot path).
    if (!ctx || !ctx->checked) [[likely]]
        return reinterpret_cast<uint64_t>(m->lookup_fast(as_ptr(key)));
    if (!ARG(key, m->key_size(), false)) return 0;
    return reinterpret_cast<uint64_t>(hand_out_value(ctx, m, m->lookup_fast(as_ptr(key))));
}

uint64_t map_update_elem(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (rdonly_prog(m)) return ret(-EPERM);
    if (!ARG(key, m->key_size(), false) || !ARG(value, m->value_size(), false))
        return ret(-EFAULT);
    return ret(m->update(as_ptr(key), as_ptr(value), flags));
}

uint64_t map_delete_elem(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (rdonly_prog(m)) return ret(-EPERM);
    if (!ARG(key, m->key_size(), false)) return ret(-EFAULT);
    return ret(m->erase(as_ptr(key)));
}

uint64_t map_push_elem(uint64_t map, uint64_t value, uint64_t flags, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (rdonly_prog(m)) return ret(-EPERM);
    if (!ARG(value, m->value_size(), false)) return ret(-EFAULT);
    return ret(m->push(as_ptr(value), flags));
}

uint64_t map_pop_elem(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (rdonly_prog(m)) return ret(-EPERM);
    if (!ARG(value, m->value_size(), true)) return ret(-EFAULT);
    return ret(m->pop(reinterpret_cast<void*>(value)));
}

uint64_t map_peek_elem(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (wronly_prog(m)) return ret(-EPERM);
    if (!ARG(value, m->value_size(), true)) return ret(-EFAULT);
    return ret(m->peek(reinterpret_cast<void*>(value)));
}

uint64_t map_lookup_percpu_elem(uint64_t map, uint64_t key, uint64_t cpu, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m || wronly_prog(m)) return 0;
    if (!ARG(key, m->key_size(), false)) return 0;
    return reinterpret_cast<uint64_t>(hand_out_value(ctx, m, m->lookup_percpu(as_ptr(key), static_cast<uint32_t>(cpu))));
}

uint64_t for_each_map_elem(uint64_t map, uint64_t fn, uint64_t callback_ctx, uint64_t flags, uint64_t,
                           ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m || flags) return ret(-EINVAL);
    FunctionCaller call = function_caller(ctx);
    if (!call && !ctx) return ret(-EOPNOTSUPP);
    ForEachState st{ctx, call ? call : refuse_callback, fn, callback_ctx, m};
    return ret(m->for_each(for_each_trampoline, &st, 0));
}

uint64_t loop(uint64_t nr_loops, uint64_t fn, uint64_t callback_ctx, uint64_t flags, uint64_t, ExecContext* ctx) {
    const uint32_t n = static_cast<uint32_t>(nr_loops);
    if (flags) return ret(-EINVAL);
    if (n > kMaxLoops) return ret(-E2BIG);
    FunctionCaller call = function_caller(ctx);
    if (!call && !ctx) return ret(-EOPNOTSUPP);
    if (!call) call = refuse_callback;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = call(ctx, fn, i, callback_ctx, 0, 0, 0);
        if (r || run_stopped(ctx)) return i + 1;
    }
    return n;
}

uint64_t ringbuf_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return 0;
    void* rec = m->ringbuf_reserve(size, flags);
    if (!rec) return 0;
    if (!expose_to_program(ctx, reinterpret_cast<uint64_t>(rec), size, true, kRingbufRecordRegion)) {
        Map::ringbuf_discard(rec, BPF_RB_NO_WAKEUP);
        return 0;
    }
    return reinterpret_cast<uint64_t>(rec);
}

} // namespace helpers

// Checked mode: a record the program releases must be one reserve handed out
// (its region), which the release takes back. Fast mode: trusted.
bool take_back_record(ExecContext* ctx, uint64_t rec, std::string_view helper) {
    if (!ctx || !ctx->checked) return rec != 0;
    for (int i = 0; i < ctx->num_regions; i++) {
        if (ctx->regions[i].begin == rec && ctx->regions[i].name == kRingbufRecordRegion) {
            for (int k = i + 1; k < ctx->num_regions; k++) ctx->regions[k - 1] = ctx->regions[k];
            ctx->num_regions--;
            return true;
        }
    }
    ctx->fail(Error{fmt::format("bpf_{}: 0x{:x} is not a ring buffer record bpf_ringbuf_reserve handed out in this "
                                "run (or it was released already)",
                                helper, rec),
                    -1, 0, {}});
    return false;
}

namespace helpers {

uint64_t ringbuf_submit(uint64_t data, uint64_t flags, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (!take_back_record(ctx, data, __func__)) return ret(-EINVAL);
    Map::ringbuf_submit(reinterpret_cast<void*>(data), flags);
    return 0;
}

uint64_t ringbuf_discard(uint64_t data, uint64_t flags, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    if (!take_back_record(ctx, data, __func__)) return ret(-EINVAL);
    Map::ringbuf_discard(reinterpret_cast<void*>(data), flags);
    return 0;
}

uint64_t ringbuf_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m) return ret(-EINVAL);
    if (!ARG(data, size, false)) return ret(-EFAULT);
    return ret(m->ringbuf_output(as_ptr(data), size, flags));
}

uint64_t ringbuf_query(uint64_t map, uint64_t flags, uint64_t, uint64_t, uint64_t, ExecContext*) {
    Map* m = as_map(map);
    return m ? m->ringbuf_query(flags) : 0;
}

uint64_t perf_event_output(uint64_t, uint64_t map, uint64_t flags, uint64_t data, uint64_t size, ExecContext* ctx) {
    Map* m = as_map(map);
    if (!m || m->type() != BPF_MAP_TYPE_PERF_EVENT_ARRAY) return ret(-EINVAL);
    // Packet programs (a run with a packet: RunOptions::packet) may append
    // that many of the packet's bytes with the upper 32 bits of the flags
    // (Linux's bpf_skb/xdp_event_output); other programs may not.
    std::span<const uint8_t> packet = ctx && ctx->options ? ctx->options->packet : std::span<const uint8_t>{};
    const uint64_t packet_bytes = (flags & BPF_F_CTXLEN_MASK) >> 32;
    if (flags & ~(packet.empty() ? BPF_F_INDEX_MASK : BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK)) return ret(-EINVAL);
    if (packet_bytes > packet.size()) return ret(-EFAULT);
    if (!ARG(data, size, false)) return ret(-EFAULT);
    return ret(m->perf_event_output(flags & BPF_F_INDEX_MASK, as_ptr(data), size, packet.first(packet_bytes)));
}

} // namespace helpers
} // namespace bpfvm
