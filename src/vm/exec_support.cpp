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
    uint64_t a = f.addr;
    auto near = [&](uint64_t begin, uint64_t size, std::string_view name, bool writable) -> std::string {
        uint64_t end = begin + size;
        if (in_region(MemoryRegion{begin, size, true, name}, a, f.size)) {
            if (f.write && !writable) return fmt::format(": the {} is read-only", name);
            return {};
        }
        if (a < begin && begin - a <= 4096)
            return fmt::format(": {} bytes before the {} (0x{:x}..0x{:x})", begin - a, name, begin, end);
        if (a >= begin && a - begin < size + 4096) {
            uint64_t past = a + f.size - end;
            return fmt::format(": {} past the end of the {} (0x{:x}..0x{:x}, {} bytes)",
                               past == 1 ? std::string("1 byte") : fmt::format("{} bytes", past), name, begin, end,
                               size);
        }
        return {};
    };
    if (f.atomic && (a % f.size) != 0) return what + ": atomic accesses must be aligned to their size";
    std::string hint = near(stack_lo, stack_top - stack_lo, "stack", true);
    for (int i = 0; hint.empty() && i < ctx.num_regions; i++) {
        const MemoryRegion& r = ctx.regions[i];
        hint = near(r.begin, r.size, r.name, r.writable);
    }
    if (hint.empty()) hint = ": not in the stack, the context or any memory handed to the program";
    return what + hint;
}

std::string call_depth_message() { return fmt::format("call stack too deep: more than {} frames", kMaxCallFrames); }

std::string callx_message(int reg, uint64_t value) {
    return fmt::format("callx through r{} = 0x{:x}: neither a helper number nor a function address", reg, value);
}

uint64_t ktime_get_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace bpfvm::exec
