// fuzz_interp: the checked interpreter, and the checked JIT, on arbitrary programs.
//
// Input: [mem_len u8][flags u8][mem_len bytes of memory][bytecode...]
//   the memory is the context (r1 = its address, r2 = its size); the
//   bytecode is cut to whole 8-byte slots.
//   flags bit 0: the context is read-only (RunOptions::context_writable = false)
//   flags bit 1: legacy packet loads read a separate copy of the memory
//                (RunOptions::packet) instead of the context
//   flags bit 2: no resolver for map/BTF lddw (Interpreter::create refuses them)
//   flags bit 3: may_goto budget 0 (every may_goto jumps)
//
// Checked mode must confine every access to the stack, the context and the
// regions handed to the program, so nothing here may crash or trip ASan or
// UBSan. Every program runs twice: checked mode zeroes the stack and all
// helpers here are deterministic, so both runs must agree on r0 (or the error)
// and on the memory they leave behind. The program is also compiled by the
// JIT in the checked mode and run the same way: it must agree with the
// interpreter (same r0 and memory when the interpreter finishes; an error when
// it stops, the same one unless either ran out of instruction budget, which
// the JIT charges a block at a time).
#include <cstddef>
#include <cstdint>
#include <cctype>
#include <cstring>

#include "bpfvm/jit.h"
#include "bpfvm/vm.h"
#include "fuzz_common.h"

using namespace bpfvm;

namespace {

constexpr size_t kScratchSize = 64;
constexpr size_t kRomSize = 16;

struct FuzzState {
    alignas(16) uint8_t scratch[kScratchSize]; // handed out by helper 1, region "scratch"
    alignas(16) uint8_t rom[kRomSize];         // a read-only region of every run
    alignas(16) uint8_t stack[kMaxCallFrames * kStackSize]; // every run's stack: the same r10 everywhere
};

// Helper 1: hands the scratch buffer to the program (read-only when r1 is odd)
// and returns its address, or 0 when the region table is full or the run is
// not checked.
uint64_t helper_scratch(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    auto* st = static_cast<FuzzState*>(ctx->user);
    auto addr = reinterpret_cast<uint64_t>(st->scratch);
    if (!ctx->add_region(MemoryRegion{addr, kScratchSize, (r1 & 1) == 0, "scratch"})) return 0;
    return addr;
}
// Helper 5: returns r1 (as the conformance suite needs).
uint64_t helper_echo(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return r1; }
// Helper 8 (bpf_get_smp_processor_id): deterministic.
uint64_t helper_cpu(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return 0; }
// Kfuncs 1 and 2.
uint64_t kfunc_mix(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, ExecContext*) {
    return r1 ^ (r2 << 1) ^ (r3 << 2) ^ (r4 << 3) ^ (r5 << 4);
}
uint64_t kfunc_zero(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return 0; }

const HelperTable& fuzz_helpers() {
    static const HelperTable table = [] {
        HelperTable t; // no bpf_ktime_get_ns, no bpf_get_prandom_u32: runs must be repeatable
        t.add(1, "fuzz_scratch", helper_scratch);
        t.add(5, "fuzz_echo", helper_echo);
        t.add(8, "fuzz_cpu", helper_cpu);
        t.add_kfunc(1, "fuzz_kfunc_mix", kfunc_mix);
        t.add_kfunc(2, "fuzz_kfunc_zero", kfunc_zero);
        return t;
    }();
    return table;
}

struct Outcome {
    bool ok = false;
    uint64_t r0 = 0;
    std::string error;
    int64_t error_insn = -1;
};

// Both runs go through here, from the same caller, so that the stack (and so
// r10) has the same address in both.
template <typename Engine>
__attribute__((noinline)) Outcome run_once(const Engine& vm, std::vector<uint8_t>& mem,
                                           const std::vector<uint8_t>& init, FuzzState& st, uint8_t flags) {
    const bool ctx_ro = flags & 1;
    if (!init.empty()) std::memcpy(mem.data(), init.data(), init.size());
    std::memset(st.scratch, 0x5a, sizeof st.scratch);
    for (size_t i = 0; i < kRomSize; i++) st.rom[i] = static_cast<uint8_t>(0xf0 + i);
    RunOptions opts;
    opts.checked = true;
    opts.insn_budget = 20000;
    opts.may_goto_budget = (flags & 8) ? 0 : 100;
    opts.context_writable = !ctx_ro;
    opts.user = &st;
    opts.stack = st.stack;
    opts.regions.push_back(MemoryRegion{reinterpret_cast<uint64_t>(st.rom), kRomSize, false, "rom"});
    if (flags & 2) opts.packet = std::span<const uint8_t>(init.data(), init.size()); // may be empty
    auto r = vm.run(mem.empty() ? nullptr : mem.data(), init.size(), opts);
    Outcome o;
    if (r) {
        o.ok = true;
        o.r0 = *r;
    } else {
        o.error = r.error().to_string();
        o.error_insn = r.error().insn;
    }
    return o;
}

// lddw with a map/BTF source: an address inside the scratch buffer (which the
// program may only touch after helper 1 handed it out).
Result<uint64_t> resolve(FuzzState* st, const Insn& first, const Insn& second, int64_t) {
    if (first.src == static_cast<uint8_t>(Pseudo::BtfId) && first.imm == 0) return make_error("no such BTF id 0");
    return reinterpret_cast<uint64_t>(st->scratch) + (static_cast<uint32_t>(second.imm) % kScratchSize);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    size_t mem_len = std::min<size_t>(data[0], size - 2);
    uint8_t flags = data[1];
    std::vector<uint8_t> init(data + 2, data + 2 + mem_len);
    size_t code_len = (size - 2 - mem_len) / 8 * 8;
    auto prog = Program::from_bytes(std::span<const uint8_t>(data + 2 + mem_len, code_len));
    if (!prog) {
        if (std::getenv("BPFVM_FUZZ_VERBOSE"))
            std::fprintf(stderr, "fuzz_interp: not a program: %s\n", prog.error().to_string().c_str());
        return 0;
    }

    static FuzzState st; // static: same address for both runs
    PrepareOptions prep;
    if (!(flags & 4))
        prep.resolve_pseudo = [](const Insn& a, const Insn& b, int64_t i) { return resolve(&st, a, b, i); };
    auto vm = Interpreter::create(*prog, fuzz_helpers(), prep);
    if (!vm) {
        if (std::getenv("BPFVM_FUZZ_VERBOSE"))
            std::fprintf(stderr, "fuzz_interp: not prepared: %s\n", vm.error().to_string().c_str());
        if (vm.error().message.empty()) fuzz::finding("Interpreter::create failed without a message");
        return 0;
    }

    if (flags & 4)
        for (size_t i = 0; i < prog->size(); i++)
            if (const OpInfo* info = prog->op(i); info && info->form == Form::LdImm64) {
                auto src = static_cast<Pseudo>(prog->insns()[i].src);
                if (src != Pseudo::Imm && src != Pseudo::Func)
                    fuzz::finding("Interpreter::create accepted a map/BTF lddw without a resolver");
            }

    std::vector<uint8_t> mem(init.size());
    bool ro = flags & 1;
    Outcome a = run_once(*vm, mem, init, st, flags);
    std::vector<uint8_t> mem_a = mem;
    std::vector<uint8_t> scratch_a(st.scratch, st.scratch + kScratchSize);
    Outcome b = run_once(*vm, mem, init, st, flags);
    static const bool verbose = std::getenv("BPFVM_FUZZ_VERBOSE") != nullptr;
    if (verbose)
        std::fprintf(stderr, "fuzz_interp: %zu slots, %zu bytes of memory: %s\n", prog->size(), init.size(),
                     a.ok ? ("r0 = " + std::to_string(a.r0)).c_str() : ("error: " + a.error).c_str());

    if (a.ok != b.ok || a.r0 != b.r0 || a.error != b.error)
        fuzz::finding("two checked runs of one program disagree:\n  run 1: " +
                      (a.ok ? "r0 = " + std::to_string(a.r0) : "error: " + a.error) + "\n  run 2: " +
                      (b.ok ? "r0 = " + std::to_string(b.r0) : "error: " + b.error));
    if (mem != mem_a || std::memcmp(scratch_a.data(), st.scratch, kScratchSize) != 0)
        fuzz::finding("two checked runs of one program leave different memory behind");
    if (ro && mem != init) fuzz::finding("a read-only context was written");
    for (size_t i = 0; i < kRomSize; i++)
        if (st.rom[i] != static_cast<uint8_t>(0xf0 + i)) fuzz::finding("the read-only region was written");
    if (!a.ok && (a.error_insn < 0 || a.error_insn >= static_cast<int64_t>(prog->size())))
        fuzz::finding("run error does not name an instruction of the program: " + a.error);

    // The JIT, checked, must agree with the interpreter (all runs use one
    // stack, so results that depend on addresses agree too).
    if (!JitProgram::supported()) return 0;
    auto jit = JitProgram::compile(*prog, fuzz_helpers(), prep, JitOptions{});
    if (!jit) fuzz::finding("the interpreter prepared a program the JIT refuses: " + jit.error().to_string());
    Outcome j = run_once(*jit, mem, init, st, flags);
    auto describe = [](const Outcome& o) { return o.ok ? "r0 = " + std::to_string(o.r0) : "error: " + o.error; };
    // Stack addresses differ between the engines: compare messages with every
    // hex number masked.
    auto head = [](const std::string& e) {
        std::string out;
        for (size_t k = 0; k < e.size(); k++) {
            if (e[k] == '0' && k + 1 < e.size() && e[k + 1] == 'x') {
                out += "0x?";
                k += 2;
                while (k < e.size() && std::isxdigit(static_cast<unsigned char>(e[k]))) k++;
                k--;
            } else {
                out += e[k];
            }
        }
        return out;
    };
    const char* budget = "instruction budget exhausted";
    bool budget_involved = a.error.find(budget) != std::string::npos || j.error.find(budget) != std::string::npos;
    if (a.ok != j.ok || (a.ok && a.r0 != j.r0) ||
        (!a.ok && !budget_involved && (head(a.error) != head(j.error) || a.error_insn != j.error_insn)))
        fuzz::finding("the JIT disagrees with the interpreter:\n  interpreter: " + describe(a) + "\n  jit: " + describe(j));
    if (a.ok && (mem != mem_a || std::memcmp(scratch_a.data(), st.scratch, kScratchSize) != 0))
        fuzz::finding("the JIT leaves different memory behind than the interpreter");
    if (ro && mem != init) fuzz::finding("the JIT wrote a read-only context");
    for (size_t i = 0; i < kRomSize; i++)
        if (st.rom[i] != static_cast<uint8_t>(0xf0 + i)) fuzz::finding("the JIT wrote the read-only region");
    return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    if (size < 2 || seed % 5 == 0) return LLVMFuzzerMutate(data, size, max_size);
    size_t code_begin = 2 + std::min<size_t>(data[0], size - 2);
    return bpfvm::fuzz::mutate_code(data, size, max_size, code_begin, seed);
}
