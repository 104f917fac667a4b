// bpf_tail_call (helper 12), as Linux's interpreter and x86 JIT do it: the
// index is checked against the array, then the chain's count against
// MAX_TAIL_CALL_CNT (33), the count goes up, and an empty slot falls through.
// The target runs on the same context; the calling function then returns the
// target's r0 (ExecContext::kReturn), which ends the chain.
#include <cerrno>

#include <fmt/format.h>

#include "bpfvm/helpers.h"
#include "bpfvm/runtime.h"
#include "internal.h"

namespace bpfvm {

namespace helpers {
uint64_t tail_call(uint64_t, uint64_t prog_array, uint64_t index, uint64_t, uint64_t, ExecContext* exec) {
    auto ret = [](long v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); };
    if (!exec) return ret(-EINVAL);
    // The checked mode trusts no pointer: the map must be one the runtime knows.
    if (exec->checked && !runtime_detail::is_live_map(reinterpret_cast<const void*>(prog_array))) {
        exec->fail(Error{fmt::format("bpf_tail_call: 0x{:x} is not a map", prog_array)});
        return 0;
    }
    auto* map = reinterpret_cast<Map*>(prog_array);
    if (map->type() != BPF_MAP_TYPE_PROG_ARRAY) {
        exec->fail(Error{fmt::format("bpf_tail_call: map {} is not a prog_array", map->name())});
        return 0;
    }
    const auto slot = static_cast<uint32_t>(index); // Linux compares the low 32 bits
    if (slot >= map->max_entries()) return ret(-ENOENT);
    if (exec->tail_calls >= kMaxTailCalls) return ret(-E2BIG);
    exec->tail_calls++; // counted before the slot is read, as Linux does
    const uint32_t id = map->tail_call_target(slot);
    if (!id) return ret(-ENOENT);
    auto target = program_by_id(id);
    if (!target) return ret(-ENOENT);

    RunOptions options = exec->options ? *exec->options : RunOptions{};
    options.tail_calls = exec->tail_calls;
    options.checked = exec->checked;
    // The caller's frames (a subprogram's callers) stay live below the target:
    // the target gets a stack of its own.
    options.stack = {};
    auto r0 = target->run(exec->context, exec->context_size, options);
    if (!r0) {
        exec->fail(Error{fmt::format("in tail call {} to program {} (id {}): {}", exec->tail_calls, target->name(),
                                     id, r0.error().to_string())});
        return 0;
    }
    exec->stop = ExecContext::kReturn;
    return *r0;
}
} // namespace helpers

HelperTable runtime_helper_table(const HelperTable* base) {
    HelperTable table = base ? *base : runtime_helpers();
    table.add(BPF_FUNC_tail_call, "bpf_tail_call", &helpers::tail_call);
    return table;
}

} // namespace bpfvm
