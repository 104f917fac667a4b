// The random program generator. See generator.h for what the programs look
// like; the comments here say how the generator keeps them valid.
//
// The generator follows each function's state as Linux's verifier would:
// for every register, whether it is uninitialised, a scalar, a pointer into
// the buffer (with its offset) or a pointer into the stack (with its offset
// from r10); for every stack byte, whether it was written. An instruction
// only reads registers and stack bytes known to be initialised, loads and
// stores only go through pointers whose target is in bounds, and after a
// call or a legacy packet load r1-r5 are treated as uninitialised. Where two
// paths join (after an if or a loop), the state is what both paths agree on.
//
// Loops run a counter (in r6-r9) a handful of times. Inside a loop body the
// registers that hold pointers when the loop starts are read-only, those that
// hold scalars may only receive scalars, and r0-r5 start uninitialised, so the
// state at the top of every iteration is the state the generator assumed.
#include "generator.h"

#include <algorithm>
#include <array>
#include <climits>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/program.h"

namespace bpfvm::difftest {

std::string_view profile_name(Profile profile) {
    switch (profile) {
    case Profile::Full: return "full";
    case Profile::Kernel: return "kernel";
    }
    return "?";
}

std::optional<Profile> parse_profile(std::string_view name) {
    if (name == "full") return Profile::Full;
    if (name == "kernel") return Profile::Kernel;
    return std::nullopt;
}

// ----------------------------------------------------------------- helpers

namespace {

thread_local int g_cpu = 0;

uint64_t rotl(uint64_t v, int n) { return (v << n) | (v >> (64 - n)); }

uint64_t helper_cpu(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) {
    return static_cast<uint64_t>(g_cpu);
}
uint64_t helper_numa(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext*) { return 0; }
// bpf_csum_diff(NULL, 0, NULL, 0, seed): Linux (x86, 6.x) returns csum_partial
// of nothing with the seed, which folds the 32-bit seed to 16 bits with end-around carry.
uint64_t helper_csum_diff(uint64_t from, uint64_t from_size, uint64_t to, uint64_t to_size, uint64_t seed,
                          ExecContext*) {
    if (from != 0 || from_size != 0 || to != 0 || to_size != 0) return static_cast<uint64_t>(-EINVAL);
    uint32_t s = static_cast<uint32_t>(seed);
    uint32_t sum = (s & 0xffff) + (s >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}
uint64_t helper_mix(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, ExecContext*) {
    return (r1 * 0x9e3779b97f4a7c15ull) ^ rotl(r2, 13) ^ ((r3 + 0x1234567) * 3) ^ (r4 >> 7) ^ ~r5;
}
uint64_t helper_sum(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, ExecContext*) {
    return r1 + r2 - r3 + (r4 ^ rotl(r5, 32));
}
uint64_t kfunc_mix(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, ExecContext*) {
    return rotl(r1, 7) - r2 * 5 + (r3 ^ r4) + (r5 | 1);
}

struct Regions {
    alignas(64) uint8_t rw[kRegionSize];
    alignas(64) uint8_t ro[kRegionSize];
};
thread_local Regions t_regions;

// Declares the region once per run (the region table is small).
uint64_t hand_out(ExecContext* ctx, uint8_t* buf, bool writable, std::string_view name) {
    auto addr = reinterpret_cast<uint64_t>(buf);
    bool known = false;
    for (int i = 0; i < ctx->num_regions; i++) known |= ctx->regions[i].begin == addr;
    if (!known) ctx->add_region(MemoryRegion{addr, kRegionSize, writable, name});
    return addr;
}
uint64_t helper_region(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    return hand_out(ctx, t_regions.rw, true, "region");
}
uint64_t helper_region_ro(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, ExecContext* ctx) {
    return hand_out(ctx, t_regions.ro, false, "read-only region");
}

} // namespace

const HelperTable& test_helpers() {
    static const HelperTable table = [] {
        HelperTable t; // deliberately without bpf_ktime_get_ns and bpf_get_prandom_u32
        t.add(BPF_FUNC_get_smp_processor_id, "bpf_get_smp_processor_id", helper_cpu);
        t.add(BPF_FUNC_csum_diff, "bpf_csum_diff", helper_csum_diff);
        t.add(BPF_FUNC_get_numa_node_id, "bpf_get_numa_node_id", helper_numa);
        t.add(1000, "diff_mix", helper_mix);
        t.add(1001, "diff_sum", helper_sum);
        t.add(1002, "diff_region", helper_region);
        t.add(1003, "diff_region_ro", helper_region_ro);
        t.add_kfunc(1, "diff_kfunc_mix", kfunc_mix);
        return t;
    }();
    return table;
}

void set_current_cpu(int cpu) { g_cpu = cpu; }

uint8_t* region_buffer(bool read_only) { return read_only ? t_regions.ro : t_regions.rw; }

void reset_regions() {
    for (size_t i = 0; i < kRegionSize; i++) {
        t_regions.rw[i] = static_cast<uint8_t>(i * 37 + 11);
        t_regions.ro[i] = static_cast<uint8_t>(0xf0 ^ (i * 13));
    }
}

std::bitset<kNumOps> ops_of(const std::vector<Insn>& insns) {
    std::bitset<kNumOps> ops;
    for (size_t i = 0; i < insns.size(); i++) {
        const OpInfo* info = find_op(insns[i]);
        if (!info) continue;
        ops.set(static_cast<size_t>(info->op));
        if (info->form == Form::LdImm64) i++;
    }
    return ops;
}

// ----------------------------------------------------------------- generator

namespace {

constexpr int kMemSlot = -8;   // every function: the buffer pointer
constexpr int kCtxSlot = -16;  // main: the context (Linux: the __sk_buff; bpfvm: the buffer)
constexpr int kSaveSlot = -24; // main: r6 while a legacy packet load needs the context in it
constexpr int kMaxNest = 4;
constexpr int kMaxLoopDepth = 2;
constexpr size_t kMaxFunctionSlots = 1800;

// Mem: the buffer; Stack: the stack; Region, RegionRO: what helpers 1002 and 1003 return.
enum class Kind : uint8_t { Uninit, Scalar, Mem, Stack, Region, RegionRO };

bool is_pointer(Kind k) { return k == Kind::Mem || k == Kind::Stack || k == Kind::Region || k == Kind::RegionRO; }

struct RegState {
    Kind kind = Kind::Uninit;
    int32_t off = 0; // Mem, Region, RegionRO: offset into the memory; Stack: offset from r10
    bool operator==(const RegState&) const = default;
};

struct State {
    std::array<RegState, 11> r{};
    std::bitset<kStackSize> init; // byte r10 - 512 + i was written
};

State meet(const State& a, const State& b) {
    State m;
    for (int i = 0; i < 11; i++) m.r[i] = a.r[i] == b.r[i] ? a.r[i] : RegState{};
    m.init = a.init & b.init;
    return m;
}

struct Fixup {
    size_t at;  // slot in the function's code
    int target; // function index
};

struct Func {
    int index = 0;
    std::vector<Insn> code;
    std::vector<Fixup> fixups;
    State st;
    int stack_lo = -kStackSize; // lowest usable offset from r10
    int reserved = 8;           // bytes below r10 the generator keeps for itself
    uint16_t locked = 0;        // registers that may not be written
    uint16_t no_ptr = 0;        // registers that may only receive scalars
    int loop_depth = 0;
    bool recursive = false;     // calls itself, at most r2 levels deep
};

struct Target {
    int base = -1;
    int off = 0;
};

const int32_t kImm32[] = {0, 1, -1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256,
                          0x7fff, 0x8000, 0xffff, 0x10000, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1,
                          0x55555555, static_cast<int32_t>(0xaaaaaaaau), -2, -128, -32768, -65536};
const uint64_t kImm64[] = {0, 1, ~0ull, 0x8000000000000000ull, 0x7fffffffffffffffull, 0x80000000ull,
                           0xffffffffull, 0x100000000ull, 0xffffffff80000000ull, 0x7fffffffull,
                           0xfffffffeull, 0x8000000000000001ull, 0x0123456789abcdefull, 0xfedcba9876543210ull,
                           0x8080808080808080ull, 0x00ff00ff00ff00ffull, 2, 0xffffffff00000000ull,
                           0x0000000100000001ull, 0x7fffffff7fffffffull, 0xffffffff7fffffffull,
                           0x00000000ffff8000ull, 0xffffffffffff8000ull, 0xffffffffffffff80ull};
const int64_t kDivisors[] = {0, 1, -1, 2, 3, 7, 10, -2, -7, INT32_MIN, INT32_MAX, 0xffffffffll, 0x80000000ll,
                             INT64_MIN, INT64_MAX, 0x100000000ll, static_cast<int64_t>(0xffffffff00000000ull),
                             0xffff, 0x10001};
const int64_t kDividends[] = {INT64_MIN, INT64_MAX, -1, 0, 1, INT32_MIN, INT32_MAX, 0xffffffffll, 0x80000000ll,
                              -7, 7, 0x7fffffff80000000ll, 100};
const int32_t kShiftImm[] = {0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 127, -1, -32, -64, INT32_MIN, 255, 256};
const int64_t kShiftReg[] = {0, 1, 31, 32, 33, 63, 64, 65, -1, 0x80000000ll, 0xffffffffll, 0x100000020ll, INT64_MIN,
                             0x3f, 0x40, 0x20};
const int32_t kMul[] = {static_cast<int32_t>(0x9e3779b1u), static_cast<int32_t>(0x85ebca6bu), 0x27d4eb2f,
                        0x165667b1, 31, -3};

class Generator {
public:
    Generator(uint64_t seed, const GenOptions& options) : rng_(seed), opt_(options) {
        out_.seed = seed;
        out_.profile = options.profile;
        out_.errors_allowed = options.errors;
        for (const OpInfo& info : op_table()) {
            if (kernel() && (info.form == Form::CallKfunc || info.form == Form::CallX)) continue;
            rows_.push_back(&info);
            if (info.form == Form::JmpK || info.form == Form::JmpX) cond_rows_.push_back(&info);
        }
    }

    GeneratedProgram run() {
        const uint32_t mem = static_cast<uint32_t>(!kernel() && chance(10) ? range(8, 63) : range(64, 256));
        mem_size_ = mem;
        out_.memory.resize(mem);
        fill_memory();
        if (kernel()) {
            out_.may_goto_budget = kMaxLoops;
        } else {
            small_may_goto_ = chance(50);
            out_.may_goto_budget = small_may_goto_ ? static_cast<uint64_t>(range(0, 24)) : kMaxLoops;
        }
        out_.small_budget = static_cast<uint64_t>(range(1, 400));
        errors_ = !kernel() && opt_.errors && chance(12);

        // Functions: main and up to four callees; a callee calls only callees after it.
        int callees = chance(20) ? 0 : range(1, 4);
        funcs_.resize(1 + callees);
        for (int i = 0; i <= callees; i++) {
            Func& fn = funcs_[i];
            fn.index = i;
            fn.reserved = i == 0 ? 24 : 8;
            // Linux: at most 512 bytes over the whole call chain (main + 4 callees,
            // each rounded up to 32 bytes, with 8 for a may_goto counter).
            if (kernel()) fn.stack_lo = i == 0 ? -160 : -48;
            else fn.stack_lo = chance(70) ? -kStackSize : -range(6, 32) * 8;
        }
        if (errors_ && callees > 0 && chance(60)) funcs_[callees].recursive = true;

        // The callees first: main then calls every callee no other function calls
        // (Linux refuses unreachable code).
        for (int i = callees; i >= 0; i--) generate_function(i);

        // Layout: main, then the callees; resolve calls and function references.
        std::vector<int64_t> start;
        for (auto& fn : funcs_) {
            start.push_back(static_cast<int64_t>(out_.insns.size()));
            out_.insns.insert(out_.insns.end(), fn.code.begin(), fn.code.end());
        }
        for (size_t i = 0; i < funcs_.size(); i++)
            for (const Fixup& fx : funcs_[i].fixups) {
                int64_t at = start[i] + static_cast<int64_t>(fx.at);
                out_.insns[at].imm = static_cast<int32_t>(start[fx.target] - (at + 1));
            }
        out_.functions = start;
        out_.ops = ops_of(out_.insns);
        return std::move(out_);
    }

private:
    // ------------------------------------------------------------- randomness
    uint64_t u64() { return rng_(); }
    int rnd(int n) { return n <= 1 ? (u64(), 0) : static_cast<int>(u64() % static_cast<uint64_t>(n)); }
    int range(int lo, int hi) { return lo + rnd(hi - lo + 1); }
    bool chance(int percent) { return rnd(100) < percent; }
    template <typename T, size_t N> T pick(const T (&a)[N]) { return a[rnd(static_cast<int>(N))]; }

    int32_t imm32() {
        int k = rnd(10);
        if (k < 6) return pick(kImm32);
        if (k < 8) return range(-300, 300);
        return static_cast<int32_t>(u64());
    }
    uint64_t imm64() {
        int k = rnd(10);
        if (k < 5) return pick(kImm64);
        if (k < 7) return static_cast<uint64_t>(static_cast<int64_t>(pick(kImm32)));
        uint64_t v = u64();
        switch (rnd(4)) {
        case 0: return v & 0xffffffffull;
        case 1: return v | 0x8000000000000000ull;
        case 2: return v >> rnd(64);
        default: return v;
        }
    }

    bool kernel() const { return opt_.profile == Profile::Kernel; }

    void fill_memory() {
        static const uint8_t kBytes[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0xfe};
        int style = rnd(4);
        for (auto& b : out_.memory) {
            if (style == 0) b = kBytes[rnd(6)];
            else if (style == 1 && chance(50)) b = kBytes[rnd(6)];
            else b = static_cast<uint8_t>(u64());
        }
    }

    // ------------------------------------------------------------- emission
    Func& fn() { return *f_; }
    State& st() { return f_->st; }
    size_t here() const { return f_->code.size(); }
    size_t emit(const Insn& insn) {
        f_->code.push_back(insn);
        return f_->code.size() - 1;
    }

    // An instruction of a table row: fields the row fixes (E) or zeroes (Z) are set from the row.
    static Insn make(const OpInfo& row, int dst, int src, int off, int32_t imm) {
        auto field = [](FieldRule rule, int32_t v) {
            if (rule.kind == FieldRule::Equal) return rule.value;
            if (rule.kind == FieldRule::Zero) return 0;
            return v;
        };
        Insn in;
        in.opcode = row.opcode;
        in.dst = static_cast<uint8_t>(field(row.dst, dst));
        in.src = static_cast<uint8_t>(field(row.src, src));
        in.off = static_cast<int16_t>(field(row.off, off));
        in.imm = field(row.imm, imm);
        return in;
    }
    static Insn make(Op op, int dst, int src, int off, int32_t imm) { return make(op_info(op), dst, src, off, imm); }

    void emit_lddw(int dst, uint64_t value, uint8_t src = 0) {
        Insn lo = make(Op::LDDW, dst, src, 0, static_cast<int32_t>(static_cast<uint32_t>(value)));
        lo.src = src;
        emit(lo);
        Insn hi;
        hi.imm = static_cast<int32_t>(static_cast<uint32_t>(value >> 32));
        emit(hi);
    }

    // Sets a jump's offset (or gotol's immediate) so that it lands on the next instruction emitted.
    void land_here(size_t at) {
        Insn& j = f_->code[at];
        int64_t off = static_cast<int64_t>(here()) - static_cast<int64_t>(at) - 1;
        if (j.opcode == (BPF_JMP32 | BPF_JA)) j.imm = static_cast<int32_t>(off);
        else j.off = static_cast<int16_t>(off);
    }
    // An unconditional jump back to `head` (ja or gotol).
    void jump_back(size_t head, bool gotol) {
        int64_t off = static_cast<int64_t>(head) - static_cast<int64_t>(here()) - 1;
        if (gotol) emit(make(Op::GOTOL, 0, 0, 0, static_cast<int32_t>(off)));
        else emit(make(Op::JA, 0, 0, static_cast<int>(off), 0));
    }

    // ------------------------------------------------------------- registers
    bool writable(int r) const { return r >= 0 && r <= 9 && !((f_->locked >> r) & 1); }
    bool ptr_ok(int r) const { return writable(r) && !((f_->no_ptr >> r) & 1); }
    bool is(int r, Kind k) const { return f_->st.r[r].kind == k; }

    int pick_reg(uint16_t mask) {
        int regs[11], n = 0;
        for (int r = 0; r <= 10; r++)
            if ((mask >> r) & 1) regs[n++] = r;
        return n ? regs[rnd(n)] : -1;
    }
    uint16_t mask_if(auto pred) const {
        uint16_t m = 0;
        for (int r = 0; r <= 9; r++)
            if (pred(r)) m |= static_cast<uint16_t>(1u << r);
        return m;
    }

    void set_scalar(int r) { st().r[r] = RegState{Kind::Scalar, 0}; }

    // r = v, by the shortest instruction most of the time.
    void set_value(int r, uint64_t v) {
        auto s = static_cast<int64_t>(v);
        if (s == static_cast<int32_t>(s) && chance(85)) emit(make(Op::MOV64_IMM, r, 0, 0, static_cast<int32_t>(s)));
        else if (v <= 0xffffffffull && chance(85))
            emit(make(Op::MOV32_IMM, r, 0, 0, static_cast<int32_t>(static_cast<uint32_t>(v))));
        else emit_lddw(r, v);
        set_scalar(r);
    }

    // A writable register, preferably one that does not hold a pointer.
    int any_writable(uint16_t avoid = 0) {
        uint16_t plain = mask_if([&](int r) { return writable(r) && !is_pointer(st_const().r[r].kind); });
        uint16_t all = mask_if([&](int r) { return writable(r); });
        plain &= static_cast<uint16_t>(~avoid);
        all &= static_cast<uint16_t>(~avoid);
        int r = chance(85) ? pick_reg(plain) : -1;
        return r >= 0 ? r : pick_reg(all);
    }
    // A register holding a scalar (to read); makes one when there is none.
    int scalar_any(uint16_t avoid = 0) {
        uint16_t m = mask_if([&](int r) { return is(r, Kind::Scalar); }) & static_cast<uint16_t>(~avoid);
        if (m && chance(90)) return pick_reg(m);
        int r = any_writable(avoid);
        set_value(r, imm64());
        return r;
    }
    // A writable register holding a scalar (to modify); makes one when there is none.
    int scalar_rw(uint16_t avoid = 0) {
        uint16_t m = mask_if([&](int r) { return writable(r) && is(r, Kind::Scalar); }) & static_cast<uint16_t>(~avoid);
        if (m && chance(90)) return pick_reg(m);
        int r = any_writable(avoid);
        set_value(r, imm64());
        return r;
    }

    // r1-r5 after a call or a legacy packet load; r0 holds the result.
    void clobber() {
        for (int r = 1; r <= 5; r++) st().r[r] = RegState{};
        set_scalar(0);
    }

    // Stores a register into the buffer (sometimes the stack), so that the
    // value is observed even if the register is overwritten later: the
    // buffer is compared byte for byte after every run.
    void observe(int r, int percent) {
        if (r < 0 || !chance(percent)) return;
        if (!is(r, Kind::Scalar) && (kernel() || is(r, Kind::Uninit))) return;
        if (!is(r, Kind::Scalar)) out_.address_dependent = true;
        static const Op kStx[] = {Op::STX_B, Op::STX_H, Op::STX_W, Op::STX_DW};
        const int k = chance(50) ? 3 : rnd(3);
        const int size = 1 << k;
        writing_ = true;
        bool on_stack = chance(20);
        Target t = on_stack ? stack_target(size, stack_align(size, false), false, static_cast<uint16_t>(1u << r))
                            : mem_target(size, 1, static_cast<uint16_t>(1u << r));
        writing_ = false;
        emit(make(kStx[k], t.base, r, t.off, 0));
        if (on_stack) mark_init(stack_pos(t), size);
    }

    // ------------------------------------------------------------- memory
    bool stack_init(int pos, int size) const {
        for (int k = 0; k < size; k++)
            if (!f_->st.init[static_cast<size_t>(kStackSize + pos + k)]) return false;
        return true;
    }
    void mark_init(int pos, int size) {
        for (int k = 0; k < size; k++) st().init.set(static_cast<size_t>(kStackSize + pos + k));
    }
    int stack_hi(int size) const { return -f_->reserved - size; } // highest usable start

    // A register pointing into the buffer (reloading the pointer when no register has it).
    int mem_reg(uint16_t avoid) {
        uint16_t m = mask_if([&](int r) { return is(r, Kind::Mem); }) & static_cast<uint16_t>(~avoid);
        if (m && chance(75)) return pick_reg(m);
        uint16_t ok = mask_if([&](int r) { return ptr_ok(r); }) & static_cast<uint16_t>(~avoid);
        int r = pick_reg(ok);
        emit(make(Op::LDX_DW, r, 10, kMemSlot, 0));
        st().r[r] = RegState{Kind::Mem, 0};
        if (chance(25)) {
            int k = range(1, static_cast<int>(mem_size_));
            emit(make(Op::ADD64_IMM, r, 0, 0, k));
            st().r[r].off = k;
        }
        return r;
    }

    Target mem_target(int size, int align, uint16_t avoid = 0) {
        Target t;
        // Sometimes memory a helper handed out instead of the buffer.
        bool ro_ok = !writing_;
        uint16_t regions = mask_if([&](int r) { return is(r, Kind::Region) || (ro_ok && is(r, Kind::RegionRO)); }) &
                           static_cast<uint16_t>(~avoid);
        const bool region = regions && chance(35);
        t.base = region ? pick_reg(regions) : mem_reg(avoid);
        int total = region ? static_cast<int>(kRegionSize) : static_cast<int>(mem_size_);
        int slots = (total - size) / align + 1;
        int pos = rnd(slots) * align;
        if (chance(20)) pos = chance(50) ? 0 : (slots - 1) * align; // the first and the last place
        t.off = pos - st().r[t.base].off;
        return t;
    }

    // An out-of-bounds or misaligned place in the buffer (checked modes only).
    Target bad_mem_target(int size, bool misalign, uint16_t avoid = 0) {
        Target t;
        t.base = mem_reg(avoid);
        int pos;
        if (misalign) pos = rnd(static_cast<int>(mem_size_) / size - 1) * size + range(1, size - 1);
        else if (chance(70)) pos = static_cast<int>(mem_size_) - size + (chance(50) ? 1 : range(1, 16));
        else pos = chance(50) ? -1 : -range(1, 16);
        t.off = pos - st().r[t.base].off;
        out_.faults = true;
        return t;
    }

    int stack_align(int size, bool atomic) {
        if (atomic || kernel()) return size;
        return chance(25) ? 1 : size;
    }

    // A place in the stack: through r10 or a register pointing into the
    // stack. With need_init, a place whose bytes were all written (writing
    // some first if there is none).
    Target stack_target(int size, int align, bool need_init, uint16_t avoid = 0) {
        int lo = f_->stack_lo, hi = stack_hi(size);
        int pos = 0;
        if (need_init) {
            std::vector<int> cands;
            for (int p = hi - ((hi % align) + align) % align; p >= lo; p -= align)
                if (stack_init(p, size)) cands.push_back(p);
            if (cands.empty() || chance(10)) {
                pos = aligned_pos(lo, hi, align);
                store_value_at(pos, size);
            } else {
                pos = cands[static_cast<size_t>(rnd(static_cast<int>(cands.size())))];
            }
        } else {
            pos = aligned_pos(lo, hi, align);
            if (chance(15)) pos = chance(50) ? aligned_pos(lo, lo + align - 1, align) : aligned_pos(hi, hi, align);
        }
        Target t{10, pos};
        uint16_t sp = mask_if([&](int r) { return is(r, Kind::Stack); }) & static_cast<uint16_t>(~avoid);
        if (sp && chance(30)) {
            t.base = pick_reg(sp);
            t.off = pos - st().r[t.base].off;
        }
        return t;
    }
    int aligned_pos(int lo, int hi, int align) {
        int top = hi - ((hi % align) + align) % align; // hi rounded down to the alignment
        int n = (top - lo) / align + 1;
        return top - rnd(n) * align;
    }
    // Writes the stack bytes [pos, pos + size) through r10.
    void store_value_at(int pos, int size) {
        static const Op kSt[] = {Op::ST_B, Op::ST_H, Op::ST_W, Op::ST_DW};
        static const Op kStx[] = {Op::STX_B, Op::STX_H, Op::STX_W, Op::STX_DW};
        int k = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
        if (chance(50)) emit(make(kSt[k], 10, 0, pos, imm32()));
        else emit(make(kStx[k], 10, scalar_any(), pos, 0));
        mark_init(pos, size);
    }

    // ------------------------------------------------------------- functions
    void generate_function(int index) {
        f_ = &funcs_[static_cast<size_t>(index)];
        Func& f = *f_;
        if (index == 0) {
            // bpfvm's prologue: the buffer pointer in both reserved slots (Linux's
            // prologue puts the packet and the __sk_buff there).
            emit(make(Op::STX_DW, 10, 1, kMemSlot, 0));
            emit(make(Op::STX_DW, 10, 1, kCtxSlot, 0));
            out_.prologue = here();
            f.st.r[1] = RegState{Kind::Mem, 0};
            f.st.r[2] = RegState{Kind::Scalar, 0};
            mark_init(kCtxSlot, 16);
        } else {
            emit(make(Op::STX_DW, 10, 1, kMemSlot, 0));
            f.st.r[1] = RegState{Kind::Mem, 0};
            for (int r = 2; r <= 5; r++) f.st.r[r] = RegState{Kind::Scalar, 0};
            mark_init(kMemSlot, 8);
        }
        f.st.r[10] = RegState{Kind::Stack, 0};
        if (f.recursive) recursion();
        int n = index == 0 ? range(6, kernel() ? 30 : 50) : range(2, kernel() ? 14 : 20);
        actions(n, 0);
        if (index == 0)
            for (int j = 1; j < static_cast<int>(funcs_.size()); j++)
                if (!referenced(j)) call_local(false, j);
        fold_and_exit();
    }

    // A function that calls itself while r2 > 0, decrementing it: deeper than
    // eight frames, the run stops with an error.
    void recursion() {
        size_t at = emit(make(Op::JSLE_IMM, 2, 0, 0, 0));
        State before = st();
        emit(make(Op::ADD64_IMM, 2, 0, 0, -1));
        emit(make(Op::LDX_DW, 1, 10, kMemSlot, 0));
        fn().fixups.push_back({emit(make(Op::CALL_LOCAL, 0, 0, 0, 0)), fn().index});
        clobber();
        land_here(at);
        st() = meet(before, st());
    }

    void fold_and_exit() {
        if (!is(0, Kind::Scalar)) set_value(0, imm64());
        for (int r = 1; r <= 9; r++) {
            // bpfvm's engines share the stack and the buffers: in the Full
            // profile, addresses are values like others.
            if (!is(r, Kind::Scalar) && (kernel() || is(r, Kind::Uninit))) continue;
            if (!is(r, Kind::Scalar)) out_.address_dependent = true;
            emit(make(Op::MUL64_IMM, 0, 0, 0, pick(kMul)));
            emit(make(chance(50) ? Op::XOR64_REG : Op::ADD64_REG, 0, r, 0, 0));
        }
        std::vector<int> slots;
        for (int p = stack_hi(8) & ~7; p >= f_->stack_lo; p -= 8)
            if (stack_init(p, 8)) slots.push_back(p);
        for (int k = 0; k < 4 && !slots.empty(); k++) {
            size_t i = static_cast<size_t>(rnd(static_cast<int>(slots.size())));
            emit(make(Op::LDX_DW, 1, 10, slots[i], 0));
            emit(make(Op::MUL64_IMM, 0, 0, 0, pick(kMul)));
            emit(make(Op::XOR64_REG, 0, 1, 0, 0));
            slots.erase(slots.begin() + static_cast<long>(i));
        }
        // Linux's test runs return the low 32 bits: fold the upper half in.
        emit(make(Op::MOV64_REG, 1, 0, 0, 0));
        emit(make(Op::RSH64_IMM, 1, 0, 0, 32));
        emit(make(Op::XOR64_REG, 0, 1, 0, 0));
        emit(make(Op::EXIT, 0, 0, 0, 0));
    }

    // ------------------------------------------------------------- actions
    void actions(int n, int nest) {
        for (int k = 0; k < n && here() < kMaxFunctionSlots; k++) action(nest);
    }

    void action(int nest) {
        int roll = rnd(100);
        if (roll < 62) return row_action(*rows_[static_cast<size_t>(rnd(static_cast<int>(rows_.size())))], nest);
        if (roll < 69) return if_block(nullptr, nest);
        if (roll < 73) return if_else(chance(30), nest);
        if (roll < 78) {
            if (!loop(nullptr, nest, chance(20) ? 1 : 0)) alu(random_alu_row());
            return;
        }
        if (roll < 85) {
            if (!call_local(false)) helper_call(false);
            return;
        }
        if (roll < 89) {
            if (!kernel() && chance(30)) return region_call();
            return helper_call(false);
        }
        if (roll < 95) return ptr_action();
        if (roll < 97) return early_exit(nullptr);
        if (errors_ && roll < 99) return error_action();
        idiom();
    }

    // What compilers emit and JITs fuse: zero and sign extension by a pair of
    // shifts (sometimes with a jump landing between them), multiplication by
    // constants that lea or a shift does.
    void idiom() {
        int r = scalar_rw();
        switch (rnd(3)) {
        case 0:
        case 1: {
            size_t at = 0;
            bool split = chance(25);
            if (split) at = emit(cond(random_cond_row()));
            emit(make(Op::LSH64_IMM, r, 0, 0, 32));
            if (split) land_here(at);
            emit(make(chance(50) ? Op::RSH64_IMM : Op::ARSH64_IMM, r, 0, 0, chance(90) ? 32 : 31));
            break;
        }
        default: {
            static const int32_t kFactors[] = {0, 1, 2, 3, 4, 5, 8, 9, 16, 1024, 1 << 30, INT32_MIN, -1, -2, 6, 7};
            emit(make(chance(50) ? Op::MUL64_IMM : Op::MUL32_IMM, r, 0, 0, pick(kFactors)));
            break;
        }
        }
        set_scalar(r);
    }

    const OpInfo& random_alu_row() {
        for (;;) {
            const OpInfo& r = *rows_[static_cast<size_t>(rnd(static_cast<int>(rows_.size())))];
            if (r.form == Form::AluK || r.form == Form::AluX) return r;
        }
    }

    void row_action(const OpInfo& row, int nest) {
        switch (row.form) {
        case Form::AluK: case Form::AluX: case Form::Neg: case Form::MovSx: case Form::Endian: alu(row); break;
        case Form::Ja: case Form::Gotol: {
            bool gotol = row.form == Form::Gotol;
            int k = rnd(4);
            if (k < 2 && nest < max_nest()) if_else(gotol, nest);
            else if (k == 2 && loop(&op_info(Op::JEQ_IMM), nest, 0, gotol ? 2 : 1)) {
            } else if (gotol) emit(make(Op::GOTOL, 0, 0, 0, 0));
            else emit(make(Op::JA, 0, 0, 0, 0));
            break;
        }
        case Form::JmpK: case Form::JmpX: {
            int k = rnd(100);
            if (k < 60) if_block(&row, nest);
            else if (k < 85 && loop(&row, nest, chance(15) ? 1 : 0)) {
            } else if (k < 92) {
                // A jump of +0.
                emit(cond(row));
            } else early_exit(&row);
            break;
        }
        case Form::Exit: early_exit(nullptr); break;
        case Form::Call: helper_call(false); break;
        case Form::CallLocal:
            if (!call_local(false)) helper_call(false);
            break;
        case Form::CallKfunc: kfunc_call(); break;
        case Form::CallX:
            if (chance(50) || !call_local(true)) helper_call(true);
            break;
        case Form::MayGoto: {
            int k = rnd(10);
            if (k < 4) may_goto_block(nest);
            else if (k < 8 && loop(nullptr, nest, 1)) {
            } else if (k < 9 && loop(nullptr, nest, 2)) {
            } else emit(make(Op::MAY_GOTO, 0, 0, 0, 0));
            break;
        }
        case Form::LdImm64: {
            int r = any_writable();
            emit_lddw(r, imm64());
            set_scalar(r);
            break;
        }
        case Form::LdAbs: case Form::LdInd: packet_load(row); break;
        case Form::Ldx: case Form::LdxSx: load(row); break;
        case Form::St: case Form::Stx: store(row); break;
        case Form::Atomic: case Form::AtomicFetch: case Form::AtomicXchg: case Form::AtomicCmpxchg:
        case Form::LoadAcq: case Form::StoreRel: atomic(row); break;
        }
    }

    // ALU rows with edge operands: division by 0 and -1, INT_MIN dividends,
    // shift counts at and above the width.
    void alu(const OpInfo& row) {
        const uint8_t op = row.opcode & 0xf0;
        const bool alu_form = row.form == Form::AluK || row.form == Form::AluX;
        const bool is_mov = (alu_form && op == BPF_MOV) || row.form == Form::MovSx;
        const bool divmod = alu_form && (op == BPF_DIV || op == BPF_MOD);
        const bool shift = alu_form && (op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH);
        const int width = row.form == Form::MovSx ? 64 : row.size;
        // rax, rdx and rcx (r0, r3, r4) are what x86 division and shifts use.
        auto special = [&](uint16_t avoid) {
            uint16_t m = mask_if([&](int r) { return (r == 0 || r == 3 || r == 4) && writable(r); }) &
                         static_cast<uint16_t>(~avoid);
            int r = pick_reg(m);
            if (r >= 0 && !is(r, Kind::Scalar)) set_value(r, imm64());
            return r;
        };
        int dst = (divmod || shift) && chance(35) ? special(0) : -1;
        if (dst < 0 && !kernel() && !is_mov && chance(8)) dst = pick_reg(pointer_regs(true)); // address arithmetic
        if (dst >= 0 && is_pointer(st().r[dst].kind)) out_.address_dependent = true;
        if (dst < 0) dst = is_mov ? any_writable() : scalar_rw();
        if (!is_mov && chance(divmod ? 40 : 12)) {
            int64_t v = pick(kDividends);
            set_value(dst, width == 32 ? static_cast<uint32_t>(v) : static_cast<uint64_t>(v));
        }
        if (row.form == Form::AluK) {
            int32_t imm = imm32();
            if (divmod) {
                imm = chance(60) ? static_cast<int32_t>(pick(kDivisors)) : imm;
                if (kernel() && imm == 0) imm = -1;
            } else if (shift) {
                imm = kernel() ? range(0, width - 1) : (chance(60) ? pick(kShiftImm) : range(0, width - 1));
            }
            emit(make(row, dst, 0, 0, imm));
        } else if (row.form == Form::AluX || row.form == Form::MovSx) {
            int src;
            if ((divmod || shift) && chance(50)) {
                src = chance(35) ? special(static_cast<uint16_t>(1u << dst)) : -1;
                if (src < 0) src = any_writable(static_cast<uint16_t>(1u << dst));
                set_value(src, static_cast<uint64_t>(divmod ? pick(kDivisors) : pick(kShiftReg)));
            } else if ((divmod || shift) && chance(15)) {
                src = dst; // dst op= dst
            } else {
                src = !kernel() && chance(8) ? pick_reg(pointer_regs(false)) : -1;
                if (src >= 0) out_.address_dependent = true;
                if (src < 0) src = scalar_any();
            }
            emit(make(row, dst, src, 0, 0));
        } else {
            emit(make(row, dst, 0, 0, 0));
        }
        set_scalar(dst);
        observe(dst, 35);
    }

    const OpInfo& random_cond_row() { return *cond_rows_[static_cast<size_t>(rnd(static_cast<int>(cond_rows_.size())))]; }

    // Registers holding addresses (r10 included unless `writable`).
    uint16_t pointer_regs(bool writable_only) {
        uint16_t m = mask_if([&](int r) { return is_pointer(st().r[r].kind) && (!writable_only || writable(r)); });
        if (!writable_only) m |= 1u << 10;
        return m;
    }

    // A conditional jump of `row` on scalars (offset 0, to be patched); in the
    // Full profile sometimes on addresses.
    Insn cond(const OpInfo& row) {
        int dst = !kernel() && chance(5) ? pick_reg(pointer_regs(false)) : -1;
        if (dst >= 0) out_.address_dependent = true;
        if (dst < 0) dst = scalar_any();
        if (row.form == Form::JmpX) {
            int src = !kernel() && chance(5) ? pick_reg(pointer_regs(false)) : -1;
            if (src >= 0) out_.address_dependent = true;
            return make(row, dst, src < 0 ? scalar_any() : src, 0, 0);
        }
        int32_t imm = chance(70) ? imm32() : range(-4, 4);
        return make(row, dst, 0, 0, imm);
    }

    int max_nest() const { return kernel() ? kMaxNest - 1 : kMaxNest; }
    int block_actions() { return range(1, kernel() ? 3 : 4); }

    void if_block(const OpInfo* row, int nest) {
        Insn j = cond(row ? *row : random_cond_row());
        size_t at = emit(j);
        State before = st();
        if (nest < max_nest()) actions(block_actions(), nest + 1);
        else alu(random_alu_row());
        land_here(at);
        st() = meet(before, st());
    }

    void if_else(bool gotol, int nest) {
        if (nest >= max_nest()) return if_block(nullptr, nest);
        size_t at = emit(cond(random_cond_row()));
        State before = st();
        actions(block_actions(), nest + 1);
        size_t skip = emit(gotol ? make(Op::GOTOL, 0, 0, 0, 0) : make(Op::JA, 0, 0, 0, 0));
        State after_then = st();
        st() = before;
        land_here(at);
        actions(block_actions(), nest + 1);
        land_here(skip);
        st() = meet(after_then, st());
    }

    // if (cond) skip; else fold and exit.
    void early_exit(const OpInfo* row) {
        size_t at = emit(cond(row ? *row : random_cond_row()));
        State before = st();
        fold_and_exit();
        land_here(at);
        st() = before;
    }

    void may_goto_block(int nest) {
        size_t at = emit(make(Op::MAY_GOTO, 0, 0, 0, 0));
        State before = st();
        actions(range(1, 3), std::min(nest + 1, max_nest()));
        land_here(at);
        st() = meet(before, st());
    }

    // Loops. kind 0: a counter; 1: a counter and a may_goto at the top; 2:
    // only may_goto ends it (Full profile with a small may_goto budget).
    // back: 0 a conditional jump back (`row`), 1 "if done goto out; ja back",
    // 2 the same with gotol.
    bool loop(const OpInfo* row, int nest, int kind, int back = 0) {
        // Callees loop at most one level deep (their calls may sit in main's loops).
        const int max_depth = f_->index == 0 ? kMaxLoopDepth : 1;
        if (f_->loop_depth >= max_depth || nest >= max_nest()) return false;
        if (kind == 2 && (kernel() || !small_may_goto_)) kind = 1;
        const int n = range(1, f_->loop_depth > 0 ? 3 : f_->index == 0 ? 6 : 4);
        uint16_t counters = mask_if([&](int r) { return r >= 6 && writable(r); });
        int c = kind == 2 ? -1 : pick_reg(counters);
        if (kind != 2 && c < 0) return false;

        // The back edge: `c OP v` (or `L OP c` when swapped) holds while the loop goes on.
        const OpInfo* jrow = row ? row : &random_cond_row();
        uint8_t jop = jrow->opcode & 0xf0;
        const bool is32 = jrow->size == 32;
        bool reg_form = jrow->form == Form::JmpX;
        bool up = false, swap = false, inverted = back != 0;
        int64_t v = 0;
        if (inverted) jop = BPF_JEQ;
        switch (jop) {
        case BPF_JEQ: inverted = true; up = chance(50); v = up ? n : 0; break;
        case BPF_JNE: up = chance(50); v = up ? n : 0; break;
        case BPF_JGT: case BPF_JSGT:
            if (reg_form && chance(50)) swap = up = true, v = n;
            else v = 0;
            break;
        case BPF_JGE: case BPF_JSGE:
            if (reg_form && chance(50)) swap = up = true, v = n - 1;
            else v = 1;
            break;
        case BPF_JLT: case BPF_JSLT:
            if (reg_form && chance(50)) swap = true, v = 0;
            else up = true, v = n;
            break;
        case BPF_JLE: case BPF_JSLE:
            if (reg_form && chance(50)) swap = true, v = 1;
            else up = true, v = n - 1;
            break;
        case BPF_JSET: v = chance(50) ? 7 : -1; break;
        default: return false;
        }
        int limit = -1;
        if (kind != 2 && reg_form) {
            limit = pick_reg(counters & static_cast<uint16_t>(~(1u << c)));
            if (limit < 0) return false; // nothing emitted yet
        }
        Op jump = find_jump(jop, is32, reg_form);

        if (kind != 2) set_value(c, up ? 0 : static_cast<uint64_t>(n));
        if (limit >= 0) set_value(limit, static_cast<uint64_t>(v));

        const uint16_t saved_locked = f_->locked, saved_no_ptr = f_->no_ptr;
        if (c >= 0) f_->locked |= static_cast<uint16_t>(1u << c);
        if (limit >= 0) f_->locked |= static_cast<uint16_t>(1u << limit);
        for (int r = 6; r <= 9; r++) {
            if (is_pointer(st().r[r].kind)) f_->locked |= static_cast<uint16_t>(1u << r);
            else if (is(r, Kind::Scalar)) f_->no_ptr |= static_cast<uint16_t>(1u << r);
        }
        for (int r = 0; r <= 5; r++) st().r[r] = RegState{};
        f_->loop_depth++;
        const State entry = st();

        size_t head = here();
        size_t may_goto_at = kind >= 1 ? emit(make(Op::MAY_GOTO, 0, 0, 0, 0)) : 0;
        actions(range(1, kernel() ? 4 : 5), nest + 1);
        if (kind == 2) {
            jump_back(head, chance(30));
            out_.budget_dependent = true;
        } else {
            // The update.
            int32_t step = up ? 1 : -1;
            switch (rnd(4)) {
            case 0: emit(make(Op::ADD64_IMM, c, 0, 0, step)); break;
            case 1: emit(make(Op::SUB64_IMM, c, 0, 0, -step)); break;
            case 2: emit(make(Op::ADD32_IMM, c, 0, 0, step)); break;
            default: emit(make(Op::SUB32_IMM, c, 0, 0, -step)); break;
            }
            int dst = swap ? limit : c, src = swap ? c : limit;
            if (inverted) {
                emit(make(jump, dst, src, 1, static_cast<int32_t>(v)));
                jump_back(head, back == 2 || (back == 0 && chance(30)));
            } else {
                int64_t off = static_cast<int64_t>(head) - static_cast<int64_t>(here()) - 1;
                emit(make(jump, dst, src, static_cast<int>(off), static_cast<int32_t>(v)));
            }
        }
        if (kind >= 1) {
            land_here(may_goto_at);
            st() = meet(entry, st());
        }
        f_->loop_depth--;
        f_->locked = saved_locked;
        f_->no_ptr = saved_no_ptr;
        return true;
    }

    static Op find_jump(uint8_t jop, bool is32, bool reg) {
        for (const OpInfo& info : op_table()) {
            if (info.form != (reg ? Form::JmpX : Form::JmpK)) continue;
            if ((info.opcode & 0xf0) == jop && (info.size == 32) == is32) return info.op;
        }
        throw std::logic_error("no such jump");
    }

    // ------------------------------------------------------------- calls
    // r1 = the buffer, r2-r5 scalars (r2 the depth for a recursive callee).
    void prepare_call_args(const Func* callee) {
        if (!(is(1, Kind::Mem) && st().r[1].off == 0) || chance(50)) {
            emit(make(Op::LDX_DW, 1, 10, kMemSlot, 0));
            st().r[1] = RegState{Kind::Mem, 0};
        }
        for (int r = 2; r <= 5; r++)
            if (!is(r, Kind::Scalar) || chance(30)) set_value(r, imm64());
        if (callee && callee->recursive) set_value(2, static_cast<uint64_t>(range(-1, 12)));
    }

    bool referenced(int j) const {
        for (const Func& g : funcs_)
            if (g.index != j)
                for (const Fixup& fx : g.fixups)
                    if (fx.target == j) return true;
        return false;
    }

    bool call_local(bool via_callx, int target = -1) {
        int first = f_->index + 1, last = static_cast<int>(funcs_.size()) - 1;
        if (first > last) return false;
        if (target < 0) target = range(first, last);
        prepare_call_args(&funcs_[static_cast<size_t>(target)]);
        if (via_callx) {
            int t = callx_register();
            fn().fixups.push_back({here(), target});
            emit_lddw(t, 0, static_cast<uint8_t>(Pseudo::Func));
            emit(make(Op::CALLX, t, 0, 0, 0));
            if (t != 0) set_scalar(t); // a code address: a number bpfvm's engines agree on
        } else {
            fn().fixups.push_back({emit(make(Op::CALL_LOCAL, 0, 0, 0, 0)), target});
        }
        clobber();
        return true;
    }

    // The register callx goes through: r0 or a writable r6-r9.
    int callx_register() {
        uint16_t m = mask_if([&](int r) { return (r == 0 || r >= 6) && writable(r); });
        return pick_reg(m);
    }

    void helper_call(bool via_callx) {
        static const uint32_t kFull[] = {1000, 1001, BPF_FUNC_get_smp_processor_id, BPF_FUNC_csum_diff,
                                         BPF_FUNC_get_numa_node_id};
        static const uint32_t kKernel[] = {BPF_FUNC_get_smp_processor_id, BPF_FUNC_csum_diff,
                                           BPF_FUNC_get_numa_node_id};
        uint32_t id = kernel() ? pick(kKernel) : pick(kFull);
        if (id >= 1000) {
            for (int r = 1; r <= 5; r++)
                if (!is(r, Kind::Scalar) || chance(30)) set_value(r, imm64());
        } else if (id == BPF_FUNC_csum_diff) {
            for (int r = 1; r <= 4; r++) emit(make(Op::MOV64_IMM, r, 0, 0, 0)), set_scalar(r);
            if (!is(5, Kind::Scalar) || chance(50)) set_value(5, imm64());
        }
        if (via_callx && !kernel()) {
            int t = callx_register();
            set_value(t, id);
            emit(make(Op::CALLX, t, 0, 0, 0));
        } else {
            emit(make(Op::CALL_HELPER, 0, 0, 0, static_cast<int32_t>(id)));
        }
        clobber();
        observe(0, 30);
    }

    // r0 = a region from helper 1002 (writable) or 1003 (read-only), often kept in r6-r9.
    void region_call() {
        bool ro = chance(35);
        emit(make(Op::CALL_HELPER, 0, 0, 0, ro ? 1003 : 1002));
        clobber();
        st().r[0] = RegState{ro ? Kind::RegionRO : Kind::Region, 0};
        uint16_t keep = mask_if([&](int r) { return r >= 6 && ptr_ok(r); });
        if (keep && chance(60)) {
            int r = pick_reg(keep);
            emit(make(Op::MOV64_REG, r, 0, 0, 0));
            st().r[r] = st().r[0];
        }
    }

    void kfunc_call() {
        for (int r = 1; r <= 5; r++)
            if (!is(r, Kind::Scalar) || chance(30)) set_value(r, imm64());
        emit(make(Op::CALL_KFUNC, 0, 0, 0, 1));
        clobber();
        observe(0, 30);
    }

    // ------------------------------------------------------------- memory actions
    void ptr_action() {
        uint16_t ok = mask_if([&](int r) { return ptr_ok(r); });
        int r = pick_reg(ok);
        if (r < 0) return;
        switch (rnd(4)) {
        case 0:
            emit(make(Op::LDX_DW, r, 10, kMemSlot, 0));
            st().r[r] = RegState{Kind::Mem, 0};
            break;
        case 1: {
            uint16_t ptrs = mask_if([&](int x) { return is_pointer(st().r[x].kind); });
            int src = pick_reg(ptrs);
            if (src < 0) return;
            emit(make(Op::MOV64_REG, r, src, 0, 0));
            st().r[r] = st().r[src];
            break;
        }
        case 2: {
            uint16_t mems = mask_if([&](int x) { return ptr_ok(x) && is(x, Kind::Mem); });
            int m = pick_reg(mems);
            if (m < 0) return;
            int target = range(0, static_cast<int>(mem_size_));
            int delta = target - st().r[m].off;
            if (chance(50)) emit(make(Op::ADD64_IMM, m, 0, 0, delta));
            else emit(make(Op::SUB64_IMM, m, 0, 0, -delta));
            st().r[m].off = target;
            break;
        }
        default: {
            int k = range(f_->stack_lo, 0);
            emit(make(Op::MOV64_REG, r, 10, 0, 0));
            emit(make(Op::ADD64_IMM, r, 0, 0, k));
            st().r[r] = RegState{Kind::Stack, k};
            break;
        }
        }
    }

    bool inject_fault() {
        if (force_fault_) {
            force_fault_ = false;
            return true;
        }
        return errors_ && chance(4);
    }

    void load(const OpInfo& row) {
        const int size = row.size;
        Target t;
        if (inject_fault()) t = bad_mem_target(size, false);
        else if (chance(55)) t = mem_target(size, kernel() ? 1 : (chance(80) ? 1 : size));
        else t = stack_target(size, stack_align(size, false), true);
        int dst = any_writable();
        emit(make(row, dst, t.base, t.off, 0));
        set_scalar(dst);
        observe(dst, 30);
    }

    void store(const OpInfo& row) {
        const int size = row.size;
        Target t;
        bool on_stack = false;
        writing_ = true;
        if (inject_fault()) t = bad_mem_target(size, false);
        else if (chance(50)) t = mem_target(size, 1);
        else t = stack_target(size, stack_align(size, false), false), on_stack = true;
        writing_ = false;
        if (row.form == Form::St) {
            emit(make(row, t.base, 0, t.off, imm32()));
        } else {
            int src = scalar_any(static_cast<uint16_t>(1u << t.base));
            emit(make(row, t.base, src, t.off, 0));
        }
        if (on_stack) mark_init(stack_pos(t), size);
    }

    int stack_pos(const Target& t) const { return t.base == 10 ? t.off : st_const().r[t.base].off + t.off; }
    const State& st_const() const { return f_->st; }

    void atomic(const OpInfo& row) {
        const int size = row.size;
        const bool writes = row.form != Form::LoadAcq;
        const bool reads_old = row.form != Form::StoreRel;
        uint16_t avoid = row.form == Form::AtomicCmpxchg ? 1 : 0; // cmpxchg's r0 is set below
        Target t;
        bool on_stack = false;
        writing_ = writes;
        if (inject_fault()) t = bad_mem_target(size, size > 1 && chance(60), avoid);
        else if (!kernel() && chance(35)) t = mem_target(size, size, avoid);
        else t = stack_target(size, size, reads_old, avoid), on_stack = true;
        writing_ = false;
        const uint16_t base_bit = static_cast<uint16_t>(1u << t.base);
        const int spos = on_stack ? stack_pos(t) : 0; // (observe may reuse the base register)
        switch (row.form) {
        case Form::Atomic: emit(make(row, t.base, scalar_any(base_bit), t.off, 0)); break;
        case Form::AtomicFetch: case Form::AtomicXchg: {
            int src = -1;
            if (t.base != 0 && chance(20)) { // r0 (rax) is what x86's cmpxchg loops use
                src = 0;
                if (!is(0, Kind::Scalar)) set_value(0, imm64());
            }
            if (src < 0) src = scalar_rw(base_bit);
            emit(make(row, t.base, src, t.off, 0));
            set_scalar(src);
            observe(src, 35);
            break;
        }
        case Form::AtomicCmpxchg: {
            int src = chance(15) ? 0 : scalar_any(base_bit);
            // r0: the current value (the exchange happens), or something else.
            int k = rnd(3);
            if (k < 2) {
                emit(make(size == 8 ? Op::LDX_DW : Op::LDX_W, 0, t.base, t.off, 0));
                if (k == 1) emit(make(chance(50) ? Op::XOR64_IMM : Op::ADD32_IMM, 0, 0, 0, 1));
            } else if (!is(0, Kind::Scalar)) {
                set_value(0, imm64());
            }
            set_scalar(0);
            emit(make(row, t.base, src, t.off, 0));
            observe(0, 35);
            break;
        }
        case Form::LoadAcq: {
            int dst = any_writable();
            emit(make(row, dst, t.base, t.off, 0));
            set_scalar(dst);
            observe(dst, 35);
            break;
        }
        default: emit(make(row, t.base, scalar_any(base_bit), t.off, 0)); break;
        }
        if (on_stack && writes) mark_init(spos, size);
    }

    // Legacy packet loads. Linux wants the context in r6: in main, r6 is saved,
    // loaded with the context and restored around the load (always in the
    // Kernel profile, sometimes in the Full one, where the load may also be in
    // any function).
    void packet_load(const OpInfo& row) {
        if (kernel() && f_->index != 0) {
            const OpInfo& ld = op_info(row.size == 1 ? Op::LDX_B : row.size == 2 ? Op::LDX_H : Op::LDX_W);
            return load(ld);
        }
        const int size = row.size;
        const bool dance = f_->index == 0 && (kernel() || chance(50));
        const bool save = dance && !is(6, Kind::Uninit);
        const RegState r6 = st().r[6];
        // LD_IND's index register: a scalar other than r6, set first most of the time.
        int src = -1;
        int64_t k;
        int roll = rnd(100);
        if (roll < 80) k = rnd(static_cast<int>(mem_size_) - size + 1);
        else if (roll < 88) k = static_cast<int64_t>(mem_size_) - size + range(1, 8);
        else if (roll < 92) k = chance(50) ? INT32_MAX : 0x10000;
        else if (roll < 97) k = -range(1, 8);
        else k = INT32_MIN;
        int32_t imm = static_cast<int32_t>(k);
        if (row.form == Form::LdInd) {
            const uint16_t not6 = static_cast<uint16_t>(1u << 6);
            if (chance(75)) {
                src = any_writable(not6);
                int64_t v = chance(50) ? range(-64, 300) : static_cast<int64_t>(imm64());
                set_value(src, static_cast<uint64_t>(v));
                imm = static_cast<int32_t>(static_cast<uint32_t>(k) - static_cast<uint32_t>(v));
            } else {
                src = scalar_any(not6);
                imm = imm32();
            }
        }
        if (save) emit(make(Op::STX_DW, 10, 6, kSaveSlot, 0));
        if (dance) emit(make(Op::LDX_DW, 6, 10, kCtxSlot, 0));
        emit(make(row, 0, src < 0 ? 0 : src, 0, imm));
        if (save) emit(make(Op::LDX_DW, 6, 10, kSaveSlot, 0));
        clobber();
        if (dance) st().r[6] = save ? r6 : RegState{};
        observe(0, 30);
    }

    // ------------------------------------------------------------- errors
    void error_action() {
        switch (rnd(4)) {
        case 0: {
            // callx to something that is neither a helper nor a function.
            int t = callx_register();
            static const uint64_t kBad[] = {0, 5, 12345, 0xffffffffull, 0x100000000ull, kFuncAddressTag | 0xffffff,
                                            0xbf00000100000000ull};
            // In main, an address inside main (which starts at 0): not a function.
            uint64_t v = f_->index == 0 && chance(50) ? (kFuncAddressTag | (here() + 1)) : pick(kBad);
            set_value(t, v);
            emit(make(Op::CALLX, t, 0, 0, 0));
            clobber();
            break;
        }
        case 1:
            force_fault_ = true;
            load(op_info(chance(50) ? Op::LDX_W : Op::LDXSX_H));
            break;
        case 2:
            force_fault_ = true;
            store(op_info(chance(50) ? Op::STX_DW : Op::ST_B));
            break;
        default:
            force_fault_ = true;
            atomic(op_info(chance(50) ? Op::ATOMIC64_FETCH_ADD : Op::ATOMIC32_XOR)); break;
        }
    }

    std::mt19937_64 rng_;
    GenOptions opt_;
    GeneratedProgram out_;
    std::vector<const OpInfo*> rows_, cond_rows_;
    std::vector<Func> funcs_;
    Func* f_ = nullptr;
    uint32_t mem_size_ = 64;
    bool small_may_goto_ = false;
    bool errors_ = false;
    bool force_fault_ = false;
    bool writing_ = false; // the target being chosen is written (so not a read-only region)
};

} // namespace

GeneratedProgram generate(uint64_t seed, const GenOptions& options) {
    // The seed goes through a mixer so that neighbouring seeds give unrelated programs.
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    s ^= s >> 31;
    Generator g(s, options);
    GeneratedProgram p = g.run();
    p.seed = seed;
    return p;
}

std::vector<Insn> kernel_program(const GeneratedProgram& p) {
    auto I = [](uint8_t code, int dst, int src, int off, int32_t imm) {
        Insn in;
        in.opcode = code;
        in.dst = static_cast<uint8_t>(dst);
        in.src = static_cast<uint8_t>(src);
        in.off = static_cast<int16_t>(off);
        in.imm = imm;
        return in;
    };
    const auto len = static_cast<int32_t>(p.memory.size());
    std::vector<Insn> out = {
        I(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),                                      // r6 = ctx
        I(BPF_LDX | BPF_MEM | BPF_W, 2, 6, offsetof(struct __sk_buff, data), 0),         // r2 = data
        I(BPF_LDX | BPF_MEM | BPF_W, 3, 6, offsetof(struct __sk_buff, data_end), 0),     // r3 = data_end
        I(BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0),                                      // r4 = r2
        I(BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, len),                                    // r4 += len
        I(BPF_JMP | BPF_JLE | BPF_X, 4, 3, 2, 0),                                        // if r4 <= r3 goto +2
        I(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0x7ead),                                 // r0 = 0x7ead
        I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                                               // exit
        I(BPF_STX | BPF_MEM | BPF_DW, 10, 2, kMemSlot, 0),                               // the packet
        I(BPF_STX | BPF_MEM | BPF_DW, 10, 6, kCtxSlot, 0),                               // the context
        I(BPF_ALU64 | BPF_MOV | BPF_X, 1, 2, 0, 0),                                      // r1 = packet
        I(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, len),                                    // r2 = len
        // bpfvm's registers start at 0: so do the ones this prologue used (a
        // program never reads them, but a reduced one may).
        I(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 0),
        I(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0),
        I(BPF_ALU64 | BPF_MOV | BPF_K, 6, 0, 0, 0),
    };
    out.insert(out.end(), p.insns.begin() + static_cast<long>(p.prologue), p.insns.end());
    return out;
}

std::string listing(const GeneratedProgram& p, bool with_bytes) {
    ListingOptions lo;
    lo.raw_bytes = with_bytes;
    lo.indices = with_bytes;
    for (size_t i = 0; i < p.functions.size(); i++)
        lo.symbols[static_cast<uint64_t>(p.functions[i])] = i == 0 ? "main" : fmt::format("f{}", i);
    return disassemble(p.insns, lo);
}

} // namespace bpfvm::difftest
