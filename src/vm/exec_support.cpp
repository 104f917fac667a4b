#include "exec_support.h"

#include <ctime>

#include <fmt/format.h>

namespace bpfvm::exec {

Result<Bindings> bind(const Program& program, const HelperTable& helpers, const PrepareOptions& options) {
    const auto insns = program.insns();
    Bindings b;
    b.call_target.assign(insns.size(), nullptr);
    b.lddw_value.assign(insns.size(), 0);
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = program.op(i);
        if (!info) continue;
        const Insn& in = insns[i];
        const auto index = static_cast<int64_t>(i);
        switch (info->form) {
        case Form::Call: {
            const Helper* h = helpers.find(static_cast<uint32_t>(in.imm));
            if (!h)
                return make_error(fmt::format("call to unknown helper {} (no helper with that number is available)",
                                              static_cast<uint32_t>(in.imm)),
                                  index);
            b.call_target[i] = h->fn;
            break;
        }
        case Form::CallKfunc: {
            const Helper* h = helpers.find_kfunc(static_cast<uint32_t>(in.imm));
            if (!h)
                return make_error(fmt::format("call to unknown kfunc with BTF id {}", static_cast<uint32_t>(in.imm)),
                                  index);
            b.call_target[i] = h->fn;
            break;
        }
        case Form::LdImm64: {
            auto src = static_cast<Pseudo>(in.src);
            const Insn& hi = insns[i + 1];
            if (src == Pseudo::Imm) {
                b.lddw_value[i] = static_cast<uint32_t>(in.imm) | (uint64_t(static_cast<uint32_t>(hi.imm)) << 32);
            } else if (src == Pseudo::Func) {
                b.lddw_value[i] = kFuncAddressTag | static_cast<uint64_t>(index + in.imm + 1);
            } else {
                if (!options.resolve_pseudo)
                    return make_error(fmt::format("lddw with source {} ({}) needs a loader that provides maps or "
                                                  "BTF objects; none is available here",
                                                  in.src, src == Pseudo::BtfId ? "BTF id" : "map reference"),
                                      index);
                auto v = options.resolve_pseudo(in, hi, index);
                if (!v) return tl::unexpected(v.error());
                b.lddw_value[i] = *v;
            }
            break;
        }
        default: break;
        }
    }
    return b;
}

std::string describe_fault(const Fault& f, const ExecContext& ctx, uint64_t stack_lo, uint64_t stack_top) {
    const char* kind = f.write ? "write" : "read";
    std::string what = fmt::format("invalid {}{} of {} byte{} at 0x{:x}", f.atomic ? "atomic " : "", kind, f.size,
                                   f.size == 1 ? "" : "s", f.addr);
    const uint64_t a = f.addr;
    if (f.atomic && (a % f.size) != 0) return what + ": atomic accesses must be aligned to their size";
    // The place the access is nearest to (within 4 KiB) says what went wrong.
    struct Place {
        uint64_t begin, size;
        std::string_view name;
        bool writable;
    };
    std::vector<Place> places;
    places.push_back({stack_lo, stack_top - stack_lo, "stack", true});
    for (int i = 0; i < ctx.num_regions; i++)
        places.push_back({ctx.regions[i].begin, ctx.regions[i].size, ctx.regions[i].name, ctx.regions[i].writable});
    const Place* best = nullptr;
    uint64_t best_distance = 4096;
    for (const Place& p : places) {
        uint64_t end = p.begin + p.size;
        uint64_t distance;
        if (in_region(MemoryRegion{p.begin, p.size, true, p.name}, a, f.size)) distance = 0;
        else if (a < p.begin) distance = p.begin - a;
        else if (a >= end) distance = a - end + 1;
        else distance = 1; // starts inside, runs past the end
        if (distance <= best_distance && (!best || distance < best_distance)) {
            best = &p;
            best_distance = distance;
        }
    }
    if (!best) return what + ": not in the stack, the context or any memory handed to the program";
    uint64_t begin = best->begin, size = best->size, end = begin + size;
    if (in_region(MemoryRegion{begin, size, true, best->name}, a, f.size))
        return what + (f.write && !best->writable ? fmt::format(": the {} is read-only", best->name) : std::string());
    if (a < begin) return what + fmt::format(": {} bytes before the {} (0x{:x}..0x{:x})", begin - a, best->name, begin, end);
    uint64_t past = a + f.size - end;
    return what + fmt::format(": {} past the end of the {} (0x{:x}..0x{:x}, {} bytes)",
                              past == 1 ? std::string("1 byte") : fmt::format("{} bytes", past), best->name, begin, end,
                              size);
}

std::vector<uint32_t> budget_blocks(const Program& program) {
    const size_t n = program.size();
    std::vector<uint8_t> start(n, 0);
    const auto insns = program.insns();
    for (int64_t f : program.functions()) start[static_cast<size_t>(f)] = 1;
    for (size_t i = 0; i < n; i++) {
        const OpInfo* info = program.op(i);
        if (!info) continue; // an lddw's second half
        auto t = branch_target(*info, insns[i], static_cast<int64_t>(i));
        if (t && info->form != Form::LdImm64 && static_cast<size_t>(*t) < n) start[static_cast<size_t>(*t)] = 1;
        switch (info->form) {
        case Form::Ja: case Form::Gotol: case Form::JmpK: case Form::JmpX: case Form::Exit: case Form::MayGoto:
        case Form::Call: case Form::CallKfunc: case Form::CallLocal: case Form::CallX: case Form::LdAbs:
        case Form::LdInd:
            if (i + 1 < n) start[i + 1] = 1;
            break;
        default: break;
        }
    }
    // One pass: a block runs from its start to the next start, or to its first
    // exit/ja/gotol (what follows one of those is unreachable from the block).
    std::vector<uint32_t> cost(n, 0);
    size_t current = n; // the block being measured
    bool closed = false;
    for (size_t i = 0; i < n; i++) {
        if (start[i]) {
            current = i;
            closed = false;
        }
        const OpInfo* info = program.op(i);
        if (!info || current == n || closed) continue;
        cost[current]++;
        if (info->form == Form::Exit || info->form == Form::Ja || info->form == Form::Gotol) closed = true;
    }
    return cost;
}

int frames_used(const Program& program) {
    const auto insns = program.insns();
    for (size_t i = 0; i < program.size(); i++) {
        const OpInfo* info = program.op(i);
        if (!info) continue;
        if (info->form == Form::CallLocal || info->form == Form::CallX ||
            (info->form == Form::LdImm64 && insns[i].src == static_cast<uint8_t>(Pseudo::Func)))
            return kMaxCallFrames;
    }
    return 1;
}

std::string call_depth_message() { return fmt::format("call stack too deep: more than {} frames", kMaxCallFrames); }

std::string callx_message(int reg, uint64_t value) {
    return fmt::format("callx through r{} = 0x{:x}: neither a helper number nor a function address", reg, value);
}

std::string callback_message(uint64_t value) {
    return fmt::format("callback 0x{:x} is not a function of the program (a BPF_PSEUDO_FUNC value)", value);
}

uint64_t ktime_get_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace bpfvm::exec

namespace bpfvm {

bool ExecContext::may_access(uint64_t addr, uint64_t size, bool write) const {
    if (!checked) return true;
    if (size == 0) return true;
    if (addr >= stack_lo && addr <= stack_hi && size <= stack_hi - addr) return true;
    for (int i = 0; i < num_regions; i++)
        if (exec::in_region(regions[i], addr, size)) return !write || regions[i].writable;
    return false;
}

void ExecContext::fail(Error e) {
    if (stop == kFailed) return; // the first error stays
    stop = kFailed;
    delete error;
    error = new Error(std::move(e));
}

uint64_t ExecContext::refuse_callback(uint64_t fn) {
    fail(Error{exec::callback_message(fn), -1, 0, {}});
    return 0;
}

Error ExecContext::take_error() {
    Error e = error ? std::move(*error) : Error{"a helper stopped the run", -1, 0, {}};
    delete error;
    error = nullptr;
    stop = kRunning;
    return e;
}

} // namespace bpfvm
