// The verifier's walk over every path of a program (kernel/bpf/verifier.c's
// do_check): one abstract state per path, branches pushed and explored depth
// first, states kept at prune points so that a path reaching a state an
// explored one covers is cut. Written from Linux's behaviour, not its code.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <linux/bpf.h>

#include "bpfvm/asm.h"
#include "bpfvm/helpers.h"
#include "bpfvm/program.h"
#include "bpfvm/progtypes.h"
#include "bpfvm/verifier.h"
#include "verifier/state.h"

namespace bpfvm {
namespace verifier {

const char* reg_type_name(RegType type) {
    switch (type) {
    case RegType::NotInit: return "not_init";
    case RegType::Scalar: return "scalar";
    case RegType::Ctx: return "ctx";
    case RegType::Stack: return "fp";
    case RegType::MapPtr: return "map_ptr";
    case RegType::MapValue: return "map_value";
    case RegType::PacketMeta: return "pkt_meta";
    case RegType::Packet: return "pkt";
    case RegType::PacketEnd: return "pkt_end";
    case RegType::Mem: return "mem";
    case RegType::Func: return "func";
    }
    return "?";
}

std::string to_string(const Reg& r) {
    if (r.type == RegType::NotInit) return "not_init";
    if (r.type == RegType::Scalar) return verifier::to_string(r.var);
    std::string s = reg_type_name(r.type);
    if (r.maybe_null) s += "_or_null";
    std::vector<std::string> parts;
    if (r.id) parts.push_back(fmt::format("id={}", r.id));
    if (r.ref) parts.push_back(fmt::format("ref_obj_id={}", r.ref));
    if (r.off) parts.push_back(fmt::format("off={}", r.off));
    if (!r.var.is_const() || r.var.const_value() != 0) parts.push_back("var=" + verifier::to_string(r.var));
    if (r.type == RegType::Packet) parts.push_back(fmt::format("r={}", r.range));
    if (r.type == RegType::Mem) parts.push_back(fmt::format("sz={}", r.mem_size));
    if (r.type == RegType::Stack && r.frame) parts.push_back(fmt::format("frame={}", r.frame));
    if (parts.empty()) return s;
    s += "(";
    for (size_t i = 0; i < parts.size(); i++) s += (i ? "," : "") + parts[i];
    return s + ")";
}

namespace {

constexpr int64_t kMaxVarOff = int64_t(1) << 29; // BPF_MAX_VAR_OFF
constexpr uint32_t kMaxPacketOff = 0xffff;       // MAX_PACKET_OFF
constexpr size_t kMaxStatesPerInsn = 64;

// An explored state at a prune point, with the number of paths from it not
// finished yet (Linux's branches): one still running cannot prune.
struct Explored {
    State state;
    uint32_t branches = 1;
    std::shared_ptr<Explored> parent;
};

struct Path {
    State state;
    int64_t pc = 0;
    std::shared_ptr<Explored> parent;
    std::vector<std::pair<int64_t, bool>> branches; // the decisions that led here (insn, taken)
};

struct Reject {
    int64_t pc;
    std::string message;
};
// Both sides of a branch are impossible: the path cannot happen.
struct DeadPath {};

class Checker {
public:
    Checker(const VerifyInput& input, const VerifyOptions& options, const Program& program)
        : in_(input), opt_(options), prog_(program), insns_(program.insns()) {
        type_ = progtypes::find_program_type(input.prog_type);
        explored_.resize(insns_.size());
        prune_point_.assign(insns_.size(), false);
        ptr_kind_.assign(insns_.size(), 0);
        out_.reachable.assign(insns_.size(), false);
    }

    Result<Verified> run();

private:
    const VerifyInput& in_;
    const VerifyOptions& opt_;
    const Program& prog_;
    std::span<const Insn> insns_;
    const progtypes::ProgramType* type_ = nullptr;
    std::vector<std::vector<std::shared_ptr<Explored>>> explored_;
    std::vector<bool> prune_point_;
    std::vector<uint8_t> ptr_kind_; // per memory instruction: 1 context, 2 other pointer
    std::map<size_t, Insn> rewrites_;
    std::vector<Path> pending_;
    Verified out_;
    uint32_t next_id_ = 1;
    Path* path_ = nullptr;
    int64_t pc_ = 0;

    [[noreturn]] void reject(std::string message) const { throw Reject{pc_, std::move(message)}; }

    State& st() { return path_->state; }
    Frame& fr() { return path_->state.cur(); }
    Reg& reg(int r) { return fr().regs[static_cast<size_t>(r)]; }

    const Reg& read_reg(int r) {
        const Reg& x = reg(r);
        if (x.type == RegType::NotInit) reject(fmt::format("R{} !read_ok: the register is read before anything is written to it", r));
        return x;
    }
    void write_reg(int r, const Reg& value) {
        if (r == kFramePointer) reject("frame pointer is read only: R10 cannot be written");
        reg(r) = value;
    }
    const VerifierMap& map_of(const Reg& r) const {
        if (r.inner >= 0) return in_.maps[static_cast<size_t>(r.map)].inner.at(0);
        return in_.maps[static_cast<size_t>(r.map)];
    }

    void mark_prune_points();
    void step();
    void alu(const Insn& insn);
    void pointer_alu(int dst, const Reg& ptr, const Reg& other, bool subtract, bool ptr_is_dst);
    void jump(const Insn& insn);
    void memory(const Insn& insn);
    void atomic(const Insn& insn);
    void lddw(const Insn& insn);
    void ld_packet(const Insn& insn);
    void call(const Insn& insn);
    void helper_call(const Insn& insn);
    std::optional<uint64_t> constant_key(const Reg& key, uint32_t size);
    void local_call(int64_t target, bool callback, const std::array<Reg, 6>& args);
    void exit_insn();

    Reg load(const Reg& ptr, int r, int64_t insn_off, uint32_t size, bool sign_extend);
    void store(const Reg& ptr, int r, int64_t insn_off, uint32_t size, const Reg* value, std::optional<int64_t> imm);
    // [off, off+size) of a pointer's target: the checks of check_mem_access
    // for helpers' memory arguments; `write`: the helper writes it.
    void check_memory_arg(int r, const Reg& ptr, uint64_t size, bool write, bool uninit, const char* what);
    int64_t stack_offset(const Reg& ptr, int r, int64_t insn_off, uint32_t size);
    std::pair<int64_t, int64_t> stack_range(const Reg& ptr, int r, int64_t insn_off, uint64_t size);
    void check_map_value_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write);
    void check_packet_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write);
    void check_mem_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write);

    void mark_null(uint32_t id, bool is_null);
    void find_good_packet_pointers(const Reg& cmp, bool right_open);
    void release_reference(uint32_t ref);
    void check_stack_depth();
    void push_branch(Path branch);
    void finish_path();
    bool prune_here();
    std::string where(int64_t pc) const;
    Error rejection(const Reject& r) const;
    Result<void> check_cfg() const;
};

// ---------------------------------------------------------------------------
// Equivalence for pruning: is every state `cur` stands for also one that
// `old` stands for (so that old's verified continuation covers cur's)?

struct IdMap {
    std::vector<std::pair<uint32_t, uint32_t>> pairs;
    bool check(uint32_t old_id, uint32_t cur_id) {
        if (!old_id) return !cur_id;
        for (auto& [o, c] : pairs) {
            if (o == old_id) return c == cur_id;
            if (c == cur_id) return false;
        }
        pairs.emplace_back(old_id, cur_id);
        return true;
    }
};

bool reg_within(const Reg& cur, const Reg& old, IdMap& ids) {
    if (old.type == RegType::NotInit) return true; // old's paths never read it
    if (cur.type != old.type) return false;
    if (old.type == RegType::Scalar) return scalar_within(cur.var, old.var);
    if (cur.maybe_null != old.maybe_null || cur.read_only != old.read_only || cur.off != old.off ||
        cur.map != old.map || cur.inner != old.inner || cur.mem_size != old.mem_size || cur.frame != old.frame)
        return false;
    if (!scalar_within(cur.var, old.var)) return false;
    if (old.type == RegType::Packet && cur.range < old.range) return false;
    return ids.check(old.id, cur.id) && ids.check(old.ref, cur.ref);
}

bool frame_within(const Frame& cur, const Frame& old, IdMap& ids) {
    if (cur.callsite != old.callsite || cur.function != old.function || cur.callback != old.callback) return false;
    for (size_t r = 0; r < cur.regs.size(); r++)
        if (!reg_within(cur.regs[r], old.regs[r], ids)) return false;
    // Bytes below both frames' deepest use are untouched in both.
    const size_t from = static_cast<size_t>(kStackSize) - std::max(cur.depth, old.depth);
    for (size_t i = from; i < cur.bytes.size(); i++) {
        SlotByte o = old.bytes[i], c = cur.bytes[i];
        if (o == SlotByte::Invalid) continue;
        if (o == SlotByte::Spill) {
            if (c != SlotByte::Spill) return false;
            if (i % 8 == 0 && !reg_within(cur.spills[i / 8], old.spills[i / 8], ids)) return false;
            continue;
        }
        if (o == SlotByte::Zero) {
            if (c == SlotByte::Zero) continue;
            if (c == SlotByte::Spill) {
                const Reg& s = cur.spills[i / 8];
                if (s.type == RegType::Scalar && s.var.is_const() && s.var.const_value() == 0) continue;
            }
            return false;
        }
        // Misc: any scalar bytes.
        if (c == SlotByte::Invalid) return false;
        if (c == SlotByte::Spill && cur.spills[i / 8].type != RegType::Scalar) return false;
    }
    return true;
}

bool state_within(const State& cur, const State& old) {
    if (cur.frames.size() != old.frames.size() || cur.refs.size() != old.refs.size() ||
        cur.lock_map != old.lock_map)
        return false;
    IdMap ids;
    if (!ids.check(old.lock_id, cur.lock_id)) return false;
    for (size_t i = 0; i < cur.frames.size(); i++)
        if (!frame_within(cur.frames[i], old.frames[i], ids)) return false;
    for (size_t i = 0; i < cur.refs.size(); i++)
        if (!ids.check(old.refs[i].first, cur.refs[i].first)) return false;
    return true;
}

bool state_equal(const State& a, const State& b) { return state_within(a, b) && state_within(b, a); }

// ---------------------------------------------------------------------------

std::string Checker::where(int64_t pc) const {
    if (!in_.source_line || pc < 0) return {};
    std::string line = in_.source_line(static_cast<size_t>(pc));
    return line.empty() ? std::string() : " (at " + line + ")";
}

void Checker::mark_prune_points() {
    for (size_t i = 0; i < insns_.size(); i++) {
        const OpInfo* op = prog_.op(i);
        if (!op) continue;
        const Insn& x = insns_[i];
        uint8_t cls = x.opcode & 0x07;
        if (cls != BPF_JMP && cls != BPF_JMP32) continue;
        uint8_t code = x.opcode & 0xf0;
        if (code == BPF_EXIT) continue;
        if (code == BPF_CALL) {
            if (i + 1 < insns_.size()) prune_point_[i + 1] = true;
            if (x.src == BPF_PSEUDO_CALL) prune_point_[static_cast<size_t>(static_cast<int64_t>(i) + x.imm + 1)] = true;
            continue;
        }
        int64_t off = (cls == BPF_JMP32 && code == BPF_JA) ? x.imm : x.off;
        int64_t target = static_cast<int64_t>(i) + off + 1;
        if (target >= 0 && target < static_cast<int64_t>(insns_.size())) prune_point_[static_cast<size_t>(target)] = true;
        if (code != BPF_JA && i + 1 < insns_.size()) prune_point_[i + 1] = true;
    }
}

// At a prune point: cut the path when an explored state covers it; report a
// loop that comes back to an equal state; else remember the state.
bool Checker::prune_here() {
    auto& list = explored_[static_cast<size_t>(pc_)];
    for (const auto& e : list) {
        if (e->branches == 0) {
            if (state_within(st(), e->state)) {
                out_.pruned++;
                return true;
            }
        } else if (state_equal(st(), e->state)) {
            reject("infinite loop detected: the program comes back here in the same state");
        }
    }
    if (list.size() >= kMaxStatesPerInsn) {
        // Keep the list short (each path compares with all of it): drop the
        // oldest finished state. Pruning gets weaker, never unsound.
        auto done = std::find_if(list.begin(), list.end(), [](const auto& x) { return x->branches == 0; });
        if (done != list.end()) list.erase(done);
    }
    auto e = std::make_shared<Explored>();
    e->state = st();
    e->parent = path_->parent;
    path_->parent = e;
    list.push_back(std::move(e));
    out_.states++;
    return false;
}

void Checker::push_branch(Path branch) {
    if (branch.parent) branch.parent->branches++;
    pending_.push_back(std::move(branch));
}

void Checker::finish_path() {
    for (auto e = path_->parent; e; e = e->parent)
        if (--e->branches > 0) break;
}

// The error for a rejection: the reason, the source line, and the last
// branch decisions of the path that led there.
Error Checker::rejection(const Reject& r) const {
    Error e{r.message + where(r.pc), r.pc, 0, {}};
    const auto& trail = path_->branches;
    if (!trail.empty()) {
        size_t from = trail.size() > 8 ? trail.size() - 8 : 0;
        std::string text;
        for (size_t i = from; i < trail.size(); i++)
            text += fmt::format("{}{} {}", i > from ? ", " : "", trail[i].first, trail[i].second ? "taken" : "not taken");
        e.message += fmt::format(" [path: {}{}]", from ? "..., " : "", text);
    }
    return e;
}

// check_cfg: every instruction must be reachable from the entry along some
// edge of the control flow graph (both sides of every branch).
Result<void> Checker::check_cfg() const {
    std::vector<bool> seen(insns_.size(), false);
    std::vector<int64_t> todo{0};
    auto add = [&](int64_t t) {
        if (t >= 0 && t < static_cast<int64_t>(insns_.size()) && !seen[static_cast<size_t>(t)]) todo.push_back(t);
    };
    while (!todo.empty()) {
        int64_t i = todo.back();
        todo.pop_back();
        if (seen[static_cast<size_t>(i)]) continue;
        seen[static_cast<size_t>(i)] = true;
        const Insn& x = insns_[static_cast<size_t>(i)];
        const uint8_t cls = x.opcode & 0x07, code = x.opcode & 0xf0;
        if (cls == BPF_LD && (x.opcode & 0xe0) == BPF_IMM) {
            add(i + 2);
            if (x.src == BPF_PSEUDO_FUNC) add(i + x.imm + 1);
            continue;
        }
        if (cls != BPF_JMP && cls != BPF_JMP32) {
            add(i + 1);
            continue;
        }
        if (code == BPF_EXIT) continue;
        if (code == BPF_CALL) {
            if (x.src == BPF_PSEUDO_CALL) add(i + x.imm + 1);
            add(i + 1);
            continue;
        }
        add(i + 1 + ((cls == BPF_JMP32 && code == BPF_JA) ? x.imm : x.off));
        if (code != BPF_JA) add(i + 1);
    }
    for (size_t i = 0; i < insns_.size(); i++)
        if (prog_.op(i) && !seen[i]) return make_error(fmt::format("unreachable insn {}", i), static_cast<int64_t>(i));
    return {};
}

Result<Verified> Checker::run() {
    if (!type_) return make_error(fmt::format("program type {} is not supported by bpfvm's verifier", in_.prog_type));
    if (auto cfg = check_cfg(); !cfg) return tl::unexpected(cfg.error());
    mark_prune_points();
    Path first;
    Frame f;
    f.regs[1].type = RegType::Ctx;
    f.regs[kFramePointer].type = RegType::Stack;
    first.state.frames.push_back(f);
    pending_.push_back(std::move(first));
    while (!pending_.empty()) {
        Path p = std::move(pending_.back());
        pending_.pop_back();
        path_ = &p;
        pc_ = p.pc;
        try {
            for (;;) {
                if (++out_.insns_processed > opt_.insn_budget)
                    reject(fmt::format("BPF program is too large: more than {} instructions processed", opt_.insn_budget));
                if (pc_ < 0 || pc_ >= static_cast<int64_t>(insns_.size())) reject("jump out of the program");
                path_->pc = pc_;
                if (prune_point_[static_cast<size_t>(pc_)] && prune_here()) break;
                out_.reachable[static_cast<size_t>(pc_)] = true;
                const Insn& x = insns_[static_cast<size_t>(pc_)];
                if ((x.opcode & 0x07) == BPF_JMP && (x.opcode & 0xf0) == BPF_EXIT && st().frames.size() == 1) {
                    exit_insn();
                    break;
                }
                try {
                    step();
                } catch (const DeadPath&) {
                    break;
                }
            }
        } catch (const Reject& r) {
            return tl::unexpected(rejection(r));
        }
        finish_path();
    }
    for (auto& [i, insn] : rewrites_) out_.rewrites.emplace_back(i, insn);
    return std::move(out_);
}

// ---------------------------------------------------------------------------
// One instruction on the current path.

void Checker::step() {
    const Insn& x = insns_[static_cast<size_t>(pc_)];
    const uint8_t cls = x.opcode & 0x07;
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        alu(x);
        pc_++;
        return;
    case BPF_JMP:
    case BPF_JMP32:
        jump(x);
        return;
    case BPF_LDX:
    case BPF_ST:
    case BPF_STX:
        if ((x.opcode & 0xe0) == BPF_ATOMIC) atomic(x);
        else memory(x);
        pc_++;
        return;
    case BPF_LD:
        if ((x.opcode & 0xe0) == BPF_IMM) {
            lddw(x);
            pc_ += 2;
        } else {
            ld_packet(x);
            pc_++;
        }
        return;
    }
    reject(fmt::format("unknown opcode {:#04x}", x.opcode));
}

// ---- ALU

AluOp alu_op(uint8_t code, int16_t off) {
    switch (code) {
    case BPF_ADD: return AluOp::Add;
    case BPF_SUB: return AluOp::Sub;
    case BPF_MUL: return AluOp::Mul;
    case BPF_DIV: return off == 1 ? AluOp::SDiv : AluOp::Div;
    case BPF_MOD: return off == 1 ? AluOp::SMod : AluOp::Mod;
    case BPF_OR: return AluOp::Or;
    case BPF_AND: return AluOp::And;
    case BPF_XOR: return AluOp::Xor;
    case BPF_LSH: return AluOp::Lsh;
    case BPF_RSH: return AluOp::Rsh;
    case BPF_ARSH: return AluOp::Arsh;
    case BPF_NEG: return AluOp::Neg;
    default: return AluOp::Mov;
    }
}

void Checker::alu(const Insn& x) {
    const bool alu64 = (x.opcode & 0x07) == BPF_ALU64;
    const uint8_t code = x.opcode & 0xf0;
    const bool use_reg = (x.opcode & 0x08) == BPF_X;
    const int dst = x.dst;

    if (code == BPF_END) {
        const Reg& d = read_reg(dst);
        if (d.type != RegType::Scalar) reject(fmt::format("R{} byte swap of a pointer ({}) prohibited", dst, to_string(d)));
        unsigned bits = static_cast<unsigned>(x.imm);
        Scalar r = (alu64 || use_reg) ? scalar_bswap(d.var, bits) : scalar_to_le(d.var, bits);
        write_reg(dst, Reg::scalar(r));
        return;
    }
    if (code == BPF_NEG) {
        const Reg& d = read_reg(dst);
        if (d.type != RegType::Scalar) reject(fmt::format("R{} negation of a pointer ({}) prohibited", dst, to_string(d)));
        write_reg(dst, Reg::scalar(scalar_alu(AluOp::Neg, alu64, d.var, d.var)));
        return;
    }
    // The source: a register or the immediate (sign-extended for alu64).
    Reg src;
    if (use_reg) {
        src = read_reg(x.src);
    } else {
        src = Reg::scalar(Scalar::constant(alu64 ? static_cast<uint64_t>(static_cast<int64_t>(x.imm))
                                                 : static_cast<uint64_t>(static_cast<uint32_t>(x.imm))));
    }
    if (code == BPF_MOV) {
        if (x.off == 8 || x.off == 16 || x.off == 32) { // MOVSX
            if (src.type != RegType::Scalar) reject(fmt::format("R{} sign extension of a pointer prohibited", x.src));
            write_reg(dst, Reg::scalar(scalar_movsx(src.var, static_cast<unsigned>(x.off), alu64)));
            return;
        }
        if (alu64) {
            write_reg(dst, src);
        } else if (src.type == RegType::Scalar) {
            write_reg(dst, Reg::scalar(scalar_alu(AluOp::Mov, false, src.var, src.var)));
        } else {
            // A partial copy of a pointer is an unknown 32-bit number.
            write_reg(dst, Reg::scalar(Scalar::unknown_bytes(4)));
        }
        return;
    }
    const Reg& d = read_reg(dst);
    if (!use_reg && (code == BPF_DIV || code == BPF_MOD) && x.imm == 0) reject("div by zero: division by the constant 0");
    if (!use_reg && (code == BPF_LSH || code == BPF_RSH || code == BPF_ARSH) &&
        (x.imm < 0 || x.imm >= (alu64 ? 64 : 32)))
        reject(fmt::format("invalid shift {}", x.imm));
    if (d.type == RegType::Scalar && src.type == RegType::Scalar) {
        write_reg(dst, Reg::scalar(scalar_alu(alu_op(code, x.off), alu64, d.var, src.var)));
        return;
    }
    // Pointer arithmetic.
    if (!alu64) reject(fmt::format("R{} 32-bit pointer arithmetic prohibited", d.is_pointer() ? dst : x.src));
    if (code == BPF_ADD && d.is_pointer() && src.type == RegType::Scalar) return pointer_alu(dst, d, src, false, true);
    if (code == BPF_ADD && d.type == RegType::Scalar && src.is_pointer()) return pointer_alu(dst, src, d, false, false);
    if (code == BPF_SUB && d.is_pointer() && src.type == RegType::Scalar) return pointer_alu(dst, d, src, true, true);
    if (code == BPF_SUB && d.is_pointer() && src.is_pointer()) {
        write_reg(dst, Reg::unknown()); // the distance: a number (Linux allows it to privileged programs)
        return;
    }
    reject(fmt::format("R{} pointer arithmetic with {} operator prohibited ({})", d.is_pointer() ? dst : x.src,
                       verifier::to_string(alu_op(code, x.off)), to_string(d.is_pointer() ? d : src)));
}

void Checker::pointer_alu(int dst, const Reg& ptr, const Reg& s, bool subtract, bool ptr_is_dst) {
    const int preg = ptr_is_dst ? dst : insns_[static_cast<size_t>(pc_)].src;
    if (ptr.maybe_null)
        reject(fmt::format("R{} pointer arithmetic on {}_or_null prohibited, null-check it first", preg, reg_type_name(ptr.type)));
    switch (ptr.type) {
    case RegType::MapPtr:
    case RegType::PacketEnd:
    case RegType::Func:
        reject(fmt::format("R{} pointer arithmetic on {} prohibited", preg, reg_type_name(ptr.type)));
    default: break;
    }
    Reg r = ptr;
    if (s.var.is_const()) {
        int64_t c = static_cast<int64_t>(s.var.const_value());
        int64_t off = subtract ? int64_t(ptr.off) - c : int64_t(ptr.off) + c;
        if (off <= -kMaxVarOff || off >= kMaxVarOff)
            reject(fmt::format("R{} pointer offset {} is out of range (at most 2^29)", dst, off));
        r.off = static_cast<int32_t>(off);
    } else {
        if (s.var.smin <= -kMaxVarOff || s.var.smax >= kMaxVarOff)
            reject(fmt::format("R{} unbounded value added to a pointer: {} (bound it with 'if (x < N)' or 'x &= N' first)",
                               ptr_is_dst ? insns_[static_cast<size_t>(pc_)].src : dst, verifier::to_string(s.var)));
        r.var = scalar_alu(subtract ? AluOp::Sub : AluOp::Add, true, ptr.var, s.var);
        if (r.var.smin <= -kMaxVarOff || r.var.smax >= kMaxVarOff)
            reject(fmt::format("R{} pointer's variable offset is out of range: {}", dst, verifier::to_string(r.var)));
        if (r.type == RegType::Packet || r.type == RegType::PacketMeta) {
            r.id = next_id_++; // a new variable part: ranges learned before do not apply
            r.range = 0;
        }
    }
    write_reg(dst, r);
}

// ---- jumps

JmpOp jmp_op(uint8_t code) {
    switch (code) {
    case BPF_JEQ: return JmpOp::Jeq;
    case BPF_JNE: return JmpOp::Jne;
    case BPF_JGT: return JmpOp::Jgt;
    case BPF_JGE: return JmpOp::Jge;
    case BPF_JLT: return JmpOp::Jlt;
    case BPF_JLE: return JmpOp::Jle;
    case BPF_JSGT: return JmpOp::Jsgt;
    case BPF_JSGE: return JmpOp::Jsge;
    case BPF_JSLT: return JmpOp::Jslt;
    case BPF_JSLE: return JmpOp::Jsle;
    default: return JmpOp::Jset;
    }
}

void Checker::mark_null(uint32_t id, bool is_null) {
    if (!id) return;
    uint32_t released = 0;
    auto fix = [&](Reg& r) {
        if (r.id != id || !r.maybe_null) return;
        if (is_null) {
            if (r.ref) released = r.ref;
            r = Reg::scalar(Scalar::constant(0));
        } else {
            r.maybe_null = false;
        }
    };
    for (Frame& f : st().frames) {
        for (Reg& r : f.regs) fix(r);
        for (size_t i = 0; i < f.spills.size(); i++)
            if (f.bytes[i * 8] == SlotByte::Spill) fix(f.spills[i]);
    }
    if (released) release_reference(released); // a NULL record needs no release
}

// Every packet pointer sharing `cmp`'s id (and so its variable part) is known
// to have its bytes up to cmp.off (+1 when the comparison was strict) in the packet.
void Checker::find_good_packet_pointers(const Reg& cmp, bool right_open) {
    if (cmp.off < 0 || (cmp.off == 0 && right_open)) return;
    if (cmp.var.umax > kMaxPacketOff || cmp.var.umax + static_cast<uint64_t>(cmp.off) > kMaxPacketOff) return;
    uint32_t range = static_cast<uint32_t>(cmp.off) + (right_open ? 1 : 0);
    auto fix = [&](Reg& r) {
        if (r.type == cmp.type && r.id == cmp.id) r.range = std::max(r.range, range);
    };
    for (Frame& f : st().frames) {
        for (Reg& r : f.regs) fix(r);
        for (size_t i = 0; i < f.spills.size(); i++)
            if (f.bytes[i * 8] == SlotByte::Spill) fix(f.spills[i]);
    }
}

void Checker::jump(const Insn& x) {
    const uint8_t cls = x.opcode & 0x07;
    const uint8_t code = x.opcode & 0xf0;
    if (code == BPF_CALL) return call(x);
    if (code == BPF_EXIT) return exit_insn();
    if (code == BPF_JA) {
        pc_ += 1 + (cls == BPF_JMP32 ? x.imm : x.off);
        return;
    }
    if (code == 0xe0) { // may_goto: either way
        Path other = *path_;
        other.pc = pc_ + 1 + x.off;
        other.branches.emplace_back(pc_, true);
        push_branch(std::move(other));
        path_->branches.emplace_back(pc_, false);
        pc_++;
        return;
    }
    const bool jmp32 = cls == BPF_JMP32;
    const bool use_reg = (x.opcode & 0x08) == BPF_X;
    const JmpOp op = jmp_op(code);
    Reg a = read_reg(x.dst);
    Reg b = use_reg ? read_reg(x.src)
                    : Reg::scalar(Scalar::constant(jmp32 ? static_cast<uint64_t>(static_cast<uint32_t>(x.imm))
                                                         : static_cast<uint64_t>(static_cast<int64_t>(x.imm))));
    const int64_t target = pc_ + 1 + x.off;

    // The two sides: each runs with its own copy of the state.
    Path taken = *path_;
    taken.pc = target;
    taken.branches.emplace_back(pc_, true);
    bool taken_ok = true, fall_ok = true;
    Path* saved = path_;

    auto on = [&](Path& side, auto&& fn) {
        struct Restore {
            Path*& path;
            Path* saved;
            ~Restore() { path = saved; }
        } restore{path_, saved};
        path_ = &side;
        fn();
    };

    if (a.type == RegType::Scalar && b.type == RegType::Scalar) {
        BranchTaken bt = scalar_branch_taken(op, jmp32, a.var, b.var);
        if (bt == BranchTaken::Always) fall_ok = false;
        if (bt == BranchTaken::Never) taken_ok = false;
        auto refine = [&](Path& side, bool is_taken) {
            Scalar ra = a.var, rb = b.var;
            bool ok;
            if (use_reg && x.dst == x.src) {
                ok = scalar_refine_branch(op, jmp32, is_taken, ra, ra);
                rb = ra;
            } else {
                ok = scalar_refine_branch(op, jmp32, is_taken, ra, rb);
            }
            if (!ok) return false;
            on(side, [&] {
                reg(x.dst).var = ra;
                if (use_reg) reg(x.src).var = rb;
            });
            return true;
        };
        if (taken_ok) taken_ok = refine(taken, true);
        if (fall_ok) fall_ok = refine(*path_, false);
    } else if (!jmp32 && (op == JmpOp::Jeq || op == JmpOp::Jne) &&
               ((a.is_pointer() && b.type == RegType::Scalar && b.var.is_const() && b.var.const_value() == 0) ||
                (b.is_pointer() && a.type == RegType::Scalar && a.var.is_const() && a.var.const_value() == 0))) {
        // A pointer against NULL.
        const Reg& p = a.is_pointer() ? a : b;
        Path& null_side = op == JmpOp::Jeq ? taken : *path_;
        Path& nonnull_side = op == JmpOp::Jeq ? *path_ : taken;
        bool& null_ok = op == JmpOp::Jeq ? taken_ok : fall_ok;
        if (!p.maybe_null) {
            null_ok = false; // a pointer that is not NULL-able is never NULL
        } else {
            on(null_side, [&] { mark_null(p.id, true); });
            on(nonnull_side, [&] { mark_null(p.id, false); });
        }
    } else if (!jmp32 && a.is_pointer() && b.is_pointer() &&
               ((a.type == RegType::Packet && b.type == RegType::PacketEnd) ||
                (a.type == RegType::PacketEnd && b.type == RegType::Packet) ||
                (a.type == RegType::PacketMeta && b.type == RegType::Packet) ||
                (a.type == RegType::Packet && b.type == RegType::PacketMeta)) &&
               (op == JmpOp::Jgt || op == JmpOp::Jge || op == JmpOp::Jlt || op == JmpOp::Jle)) {
        // Packet bounds: on the side where `pkt (+off) <= end` holds, the
        // bytes before pkt+off are in the packet.
        // Normalise to `pkt OP end` (data_meta against data: meta is the pointer, data the end).
        const bool dst_is_pointer = (a.type == RegType::Packet && b.type == RegType::PacketEnd) || a.type == RegType::PacketMeta;
        const Reg& pkt = dst_is_pointer ? a : b;
        const JmpOp o = dst_is_pointer ? op : swap_operands(op);
        // `pkt > end` / `pkt >= end`: the fall-through has pkt <= end (< end for >=).
        bool good_taken = (o == JmpOp::Jlt || o == JmpOp::Jle);
        bool right_open = (o == JmpOp::Jlt || o == JmpOp::Jge);
        on(good_taken ? taken : *path_, [&] { find_good_packet_pointers(pkt, right_open); });
    }
    // Anything else (pointers compared with each other or with numbers):
    // both sides, nothing learned.

    if (taken_ok && fall_ok) {
        push_branch(std::move(taken));
        path_->branches.emplace_back(pc_, false);
        pc_++;
    } else if (taken_ok) {
        *path_ = std::move(taken);
        pc_ = target;
    } else if (fall_ok) {
        pc_++;
    } else {
        throw DeadPath{};
    }
}

// ---- memory

uint32_t access_size(uint8_t opcode) {
    switch (opcode & 0x18) {
    case BPF_B: return 1;
    case BPF_H: return 2;
    case BPF_W: return 4;
    default: return 8;
    }
}

std::pair<int64_t, int64_t> Checker::stack_range(const Reg& ptr, int r, int64_t insn_off, uint64_t size) {
    int64_t lo = ptr.off + ptr.var.smin + insn_off;
    int64_t hi = ptr.off + ptr.var.smax + insn_off + static_cast<int64_t>(size);
    if (ptr.var.smin <= -kMaxVarOff || ptr.var.smax >= kMaxVarOff || lo < -kStackSize || hi > 0)
        reject(fmt::format("invalid variable-offset stack access R{} {} off={} size={}: it may reach outside fp-512 .. fp-1",
                           r, to_string(ptr), insn_off, size));
    return {lo, hi};
}

int64_t Checker::stack_offset(const Reg& ptr, int r, int64_t insn_off, uint32_t size) {
    if (!ptr.var.is_const())
        reject(fmt::format("R{} variable stack access: {} (the offset into the stack must be known)", r, to_string(ptr)));
    int64_t off = ptr.off + static_cast<int64_t>(ptr.var.const_value()) + insn_off;
    if (off < -kStackSize || off + size > 0)
        reject(fmt::format("invalid stack access off={} size={}: the stack is fp-512 .. fp-1", off, size));
    if (off % static_cast<int64_t>(size) != 0)
        reject(fmt::format("misaligned stack access off={} size={}", off, size));
    return off;
}

void Checker::check_stack_depth() {
    uint32_t total = 0;
    for (const Frame& f : st().frames) total += (std::max<uint32_t>(f.depth, 1) + 31) / 32 * 32;
    out_.stack_depth = std::max(out_.stack_depth, st().frames.front().depth);
    if (total > kStackSize)
        reject(fmt::format("combined stack size of {} calls is {}. Too large (at most 512 bytes)", st().frames.size(), total));
}

void Checker::check_map_value_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write) {
    const VerifierMap& m = map_of(ptr);
    if (write && (m.map_flags & BPF_F_RDONLY_PROG)) reject(fmt::format("write into map forbidden: {} is read-only for programs", m.name));
    int64_t lo = off + ptr.var.smin;
    if (lo < 0 || ptr.var.smin < 0)
        reject(fmt::format("R{} min value is negative ({}), either use unsigned index or do a if (index >=0) check.", r, to_string(ptr)));
    if (ptr.var.umax >= static_cast<uint64_t>(kMaxVarOff))
        reject(fmt::format("R{} unbounded memory access, make sure to bounds check any such access ({})", r, to_string(ptr)));
    uint64_t hi = static_cast<uint64_t>(off) + ptr.var.umax + size;
    if (hi > m.value_size)
        reject(fmt::format("invalid access to map value, value_size={} off={} size={} (R{}={}): check the index against the value's size",
                           m.value_size, off + static_cast<int64_t>(ptr.var.umax), size, r, to_string(ptr)));
    if (m.spin_lock_offset >= 0) {
        int64_t lock = m.spin_lock_offset;
        if (lo < lock + 4 && static_cast<int64_t>(hi) > lock)
            reject("bpf_spin_lock cannot be accessed directly by load/store");
    }
}

void Checker::check_packet_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write) {
    if (write && in_.prog_type != BPF_PROG_TYPE_XDP && in_.prog_type != BPF_PROG_TYPE_SCHED_CLS &&
        in_.prog_type != BPF_PROG_TYPE_SCHED_ACT)
        reject(fmt::format("cannot write into packet: {} programs may only read it", type_->name));
    if (ptr.var.smin < 0 || off < 0)
        reject(fmt::format("R{} min value is negative: the access starts before the packet ({})", r, to_string(ptr)));
    // The range counts from the pointer's variable part on (Linux): only the
    // fixed offset is checked against it.
    uint64_t hi = static_cast<uint64_t>(off) + size;
    if (hi > ptr.range)
        reject(fmt::format("invalid access to packet, off={} size={}, R{}(id={},off={},r={}): check the pointer against "
                           "data_end first (if (data + {} > data_end) return ...)",
                           off, size, r, ptr.id, ptr.off, ptr.range, hi));
}

void Checker::check_mem_access(const Reg& ptr, int r, int64_t off, uint64_t size, bool write) {
    if (write && ptr.read_only) reject(fmt::format("R{} cannot write into read-only memory ({})", r, to_string(ptr)));
    if (off + ptr.var.smin < 0 || static_cast<uint64_t>(off) + ptr.var.umax + size > ptr.mem_size)
        reject(fmt::format("invalid access to memory, mem_size={} off={} size={} (R{}={})", ptr.mem_size, off, size, r,
                           to_string(ptr)));
}

Reg Checker::load(const Reg& ptr, int r, int64_t insn_off, uint32_t size, bool sign_extend) {
    auto scalar_of = [&]() { return Reg::scalar(sign_extend ? Scalar::unknown_signed_bytes(size) : Scalar::unknown_bytes(size)); };
    if (ptr.maybe_null)
        reject(fmt::format("R{} invalid mem access '{}_or_null': check the pointer against NULL before use "
                           "(e.g. the result of bpf_map_lookup_elem)", r, reg_type_name(ptr.type)));
    switch (ptr.type) {
    case RegType::Stack: {
        Frame& f = st().frames[ptr.frame];
        if (!ptr.var.is_const()) {
            // A variable offset: every byte it may read must be initialised.
            auto [lo, hi] = stack_range(ptr, r, insn_off, size);
            for (int64_t i = lo; i < hi; i++)
                if (f.bytes[static_cast<size_t>(kStackSize + i)] == SlotByte::Invalid && !opt_.allow_uninit_stack)
                    reject(fmt::format("invalid variable-offset read from stack R{} {}: fp{} may never have been written", r,
                                       to_string(ptr), i));
            return scalar_of();
        }
        int64_t off = stack_offset(ptr, r, insn_off, size);
        size_t at = static_cast<size_t>(kStackSize + off);
        bool zero = true;
        for (size_t i = at; i < at + size; i++) {
            if (f.bytes[i] == SlotByte::Invalid && !opt_.allow_uninit_stack)
                reject(fmt::format("invalid read from stack off {}+{} size {}: those bytes were never written", off, i - at, size));
            if (f.bytes[i] != SlotByte::Zero) zero = false;
        }
        if (f.bytes[at] == SlotByte::Spill) {
            const Reg& s = f.spills[at / 8];
            if (size == 8 && at % 8 == 0) return s;
            if (s.type != RegType::Scalar)
                reject(fmt::format("invalid size of register fill: {} bytes of a spilled {}", size, to_string(s)));
            if (s.var.is_const() && !sign_extend) {
                uint64_t v = s.var.const_value() >> (8 * (at % 8));
                return Reg::scalar(Scalar::constant(size == 8 ? v : v & ((uint64_t(1) << (8 * size)) - 1)));
            }
            return scalar_of();
        }
        if (zero) return Reg::scalar(Scalar::constant(0));
        return scalar_of();
    }
    case RegType::Ctx: {
        int64_t off = ptr.off + insn_off;
        if (ptr.off != 0 || !ptr.var.is_const() || ptr.var.const_value() != 0)
            reject(fmt::format("dereference of modified ctx ptr R{} off={} disallowed: read context fields at a "
                               "constant offset from the context pointer itself", r, ptr.off));
        auto a = type_->check(off, size, progtypes::Access::Read, in_.expected_attach_type);
        if (!a.allowed)
            reject(fmt::format("invalid bpf_context access off={} size={}: {} ({} of {})", off, size, a.reason,
                               type_->context, type_->name));
        if (a.runtime_offset >= 0) {
            Insn rewritten = insns_[static_cast<size_t>(pc_)];
            if (auto ok = progtypes::rewrite_context_access(rewritten, a); !ok) reject(ok.error().message);
            rewrites_[static_cast<size_t>(pc_)] = rewritten;
        }
        switch (a.type) {
        case progtypes::FieldType::Scalar: return scalar_of();
        case progtypes::FieldType::PacketData: {
            Reg p;
            p.type = RegType::Packet;
            return p;
        }
        case progtypes::FieldType::PacketEnd: {
            Reg p;
            p.type = RegType::PacketEnd;
            return p;
        }
        case progtypes::FieldType::PacketMeta: {
            Reg p;
            p.type = RegType::PacketMeta;
            return p;
        }
        case progtypes::FieldType::SocketOrNull: return Reg::scalar(Scalar::constant(0));
        }
        return scalar_of();
    }
    case RegType::MapValue: {
        int64_t off = ptr.off + insn_off;
        check_map_value_access(ptr, r, off, size, false);
        const VerifierMap& m = map_of(ptr);
        if (!m.frozen_value.empty() && ptr.var.is_const() && !sign_extend) {
            int64_t at = off + static_cast<int64_t>(ptr.var.const_value());
            if (at >= 0 && static_cast<size_t>(at) + size <= m.frozen_value.size()) {
                uint64_t v = 0;
                std::memcpy(&v, m.frozen_value.data() + at, size);
                return Reg::scalar(Scalar::constant(v));
            }
        }
        return scalar_of();
    }
    case RegType::Packet:
    case RegType::PacketMeta:
        check_packet_access(ptr, r, ptr.off + insn_off, size, false);
        return scalar_of();
    case RegType::Mem:
        check_mem_access(ptr, r, ptr.off + insn_off, size, false);
        return scalar_of();
    default:
        reject(fmt::format("R{} invalid mem access '{}'{}", r, reg_type_name(ptr.type),
                           ptr.type == RegType::Scalar ? ": the register holds a number, not a pointer" : ""));
    }
}

void Checker::store(const Reg& ptr, int r, int64_t insn_off, uint32_t size, const Reg* value, std::optional<int64_t> imm) {
    if (ptr.maybe_null)
        reject(fmt::format("R{} invalid mem access '{}_or_null': check the pointer against NULL before use", r,
                           reg_type_name(ptr.type)));
    const bool value_is_ptr = value && value->is_pointer();
    switch (ptr.type) {
    case RegType::Stack: {
        Frame& f = st().frames[ptr.frame];
        if (!ptr.var.is_const()) {
            // A variable offset: every byte it may write holds a number after it.
            if (value_is_ptr) reject(fmt::format("R{} spill of a pointer at a variable stack offset", insns_[static_cast<size_t>(pc_)].src));
            auto [lo, hi] = stack_range(ptr, r, insn_off, size);
            for (int64_t i = lo; i < hi; i++) {
                size_t b = static_cast<size_t>(kStackSize + i);
                if (f.bytes[b] == SlotByte::Spill) {
                    for (size_t k = b / 8 * 8; k < b / 8 * 8 + 8; k++) f.bytes[k] = SlotByte::Misc;
                    f.spills[b / 8] = Reg::unknown();
                }
                if (f.bytes[b] == SlotByte::Zero) f.bytes[b] = SlotByte::Misc;
            }
            // Bytes never written stay uninitialised: the store may have missed them.
            f.depth = std::max<uint32_t>(f.depth, static_cast<uint32_t>(-lo));
            check_stack_depth();
            return;
        }
        int64_t off = stack_offset(ptr, r, insn_off, size);
        size_t at = static_cast<size_t>(kStackSize + off);
        f.depth = std::max<uint32_t>(f.depth, static_cast<uint32_t>(-off));
        if (size == 8 && value) {
            for (size_t i = at; i < at + 8; i++) f.bytes[i] = SlotByte::Spill;
            f.spills[at / 8] = *value;
        } else {
            if (value_is_ptr) reject(fmt::format("R{} partial spill of a pointer ({} bytes): spill pointers whole", insns_[static_cast<size_t>(pc_)].src, size));
            // A narrower store breaks a spilled register into plain bytes.
            size_t slot = at / 8 * 8;
            if (f.bytes[slot] == SlotByte::Spill) {
                const Reg& s = f.spills[slot / 8];
                SlotByte b = s.type == RegType::Scalar && s.var.is_const() && s.var.const_value() == 0 ? SlotByte::Zero : SlotByte::Misc;
                for (size_t i = slot; i < slot + 8; i++) f.bytes[i] = b;
            }
            bool zero = (imm && *imm == 0) || (value && value->var.is_const() && value->var.const_value() == 0);
            if (size == 8 && imm) {
                for (size_t i = at; i < at + 8; i++) f.bytes[i] = SlotByte::Spill;
                f.spills[at / 8] = Reg::scalar(Scalar::constant(static_cast<uint64_t>(*imm)));
            } else {
                for (size_t i = at; i < at + size; i++) f.bytes[i] = zero ? SlotByte::Zero : SlotByte::Misc;
            }
        }
        check_stack_depth();
        return;
    }
    case RegType::Ctx: {
        int64_t off = ptr.off + insn_off;
        if (ptr.off != 0 || !ptr.var.is_const() || ptr.var.const_value() != 0)
            reject(fmt::format("dereference of modified ctx ptr R{} off={} disallowed", r, ptr.off));
        if (!value) reject(fmt::format("BPF_ST stores into R{} ctx is not allowed: store a register", r));
        if (value_is_ptr) reject(fmt::format("R{} leaks addr into ctx", insns_[static_cast<size_t>(pc_)].src));
        auto a = type_->check(off, size, progtypes::Access::Write, in_.expected_attach_type);
        if (!a.allowed)
            reject(fmt::format("invalid bpf_context access off={} size={}: {} ({} of {})", off, size, a.reason,
                               type_->context, type_->name));
        return;
    }
    case RegType::MapValue:
        check_map_value_access(ptr, r, ptr.off + insn_off, size, true);
        return;
    case RegType::Packet:
    case RegType::PacketMeta:
        if (value_is_ptr) reject(fmt::format("R{} leaks addr into packet", insns_[static_cast<size_t>(pc_)].src));
        check_packet_access(ptr, r, ptr.off + insn_off, size, true);
        return;
    case RegType::Mem:
        if (value_is_ptr) reject(fmt::format("R{} leaks addr into mem", insns_[static_cast<size_t>(pc_)].src));
        check_mem_access(ptr, r, ptr.off + insn_off, size, true);
        return;
    default:
        reject(fmt::format("R{} invalid mem access '{}'", r, reg_type_name(ptr.type)));
    }
}

void Checker::memory(const Insn& x) {
    const uint8_t cls = x.opcode & 0x07;
    const uint8_t mode = x.opcode & 0xe0;
    const uint32_t size = access_size(x.opcode);
    if (cls == BPF_LDX) {
        if (mode != BPF_MEM && mode != BPF_MEMSX) reject(fmt::format("unsupported load mode {:#x}", mode));
        const Reg ptr = read_reg(x.src);
        uint8_t kind = ptr.type == RegType::Ctx ? 1 : 2;
        if (ptr_kind_[static_cast<size_t>(pc_)] && ptr_kind_[static_cast<size_t>(pc_)] != kind)
            reject("same insn cannot be used with different pointers (the context on one path, other memory on another)");
        ptr_kind_[static_cast<size_t>(pc_)] = kind;
        write_reg(x.dst, load(ptr, x.src, x.off, size, mode == BPF_MEMSX));
        return;
    }
    const Reg ptr = read_reg(x.dst);
    if (cls == BPF_STX) {
        const Reg value = read_reg(x.src);
        store(ptr, x.dst, x.off, size, &value, std::nullopt);
    } else {
        store(ptr, x.dst, x.off, size, nullptr, static_cast<int64_t>(x.imm));
    }
}

void Checker::atomic(const Insn& x) {
    const uint32_t size = access_size(x.opcode);
    if (size != 4 && size != 8) reject("invalid atomic operand size");
    const Reg ptr = read_reg(x.dst);
    const Reg value = read_reg(x.src);
    if (x.imm == BPF_LOAD_ACQ) {
        write_reg(x.src, load(ptr, x.dst, x.off, size, false));
        return;
    }
    if (x.imm == BPF_STORE_REL) {
        store(ptr, x.dst, x.off, size, &value, std::nullopt);
        return;
    }
    if (ptr.type == RegType::Ctx || ptr.type == RegType::Packet || ptr.type == RegType::PacketMeta)
        reject(fmt::format("BPF_ATOMIC stores into R{} {} is not allowed", x.dst, reg_type_name(ptr.type)));
    if (value.is_pointer()) reject(fmt::format("R{} leaks addr into mem", x.src));
    if (x.imm == BPF_CMPXCHG) read_reg(0);
    // Read, then write the same bytes.
    Reg old = load(ptr, x.dst, x.off, size, false);
    Reg v = Reg::unknown();
    store(ptr, x.dst, x.off, size, &v, std::nullopt);
    if (ptr.type == RegType::Stack && size == 8) {
        // The slot now holds an unknown number, not the spill written above.
        Frame& f = st().frames[ptr.frame];
        size_t at = static_cast<size_t>(kStackSize + stack_offset(ptr, x.dst, x.off, size));
        f.spills[at / 8] = Reg::unknown();
    }
    if (x.imm == BPF_CMPXCHG) write_reg(0, Reg::scalar(size == 8 ? Scalar::unknown() : Scalar::unknown_bytes(4)));
    else if (x.imm & BPF_FETCH) write_reg(x.src, old.type == RegType::Scalar ? Reg::scalar(size == 8 ? Scalar::unknown() : Scalar::unknown_bytes(4)) : old);
}

void Checker::lddw(const Insn& x) {
    const Insn& hi = insns_[static_cast<size_t>(pc_ + 1)];
    Reg r;
    switch (x.src) {
    case 0:
        r = Reg::scalar(Scalar::constant(static_cast<uint64_t>(static_cast<uint32_t>(x.imm)) |
                                         (static_cast<uint64_t>(static_cast<uint32_t>(hi.imm)) << 32)));
        break;
    case BPF_PSEUDO_MAP_FD:
    case BPF_PSEUDO_MAP_IDX:
    case BPF_PSEUDO_MAP_VALUE:
    case BPF_PSEUDO_MAP_IDX_VALUE: {
        if (x.imm < 0 || static_cast<size_t>(x.imm) >= in_.maps.size())
            reject(fmt::format("lddw: map {} does not exist (the program has {} maps)", x.imm, in_.maps.size()));
        r.map = x.imm;
        if (x.src == BPF_PSEUDO_MAP_VALUE || x.src == BPF_PSEUDO_MAP_IDX_VALUE) {
            const VerifierMap& m = in_.maps[static_cast<size_t>(x.imm)];
            if (static_cast<uint32_t>(hi.imm) >= std::max<uint32_t>(m.value_size, 1))
                reject(fmt::format("lddw: offset {} is outside the value of map {} ({} bytes)", hi.imm, m.name, m.value_size));
            r.type = RegType::MapValue;
            r.off = hi.imm;
        } else {
            r.type = RegType::MapPtr;
        }
        break;
    }
    case BPF_PSEUDO_FUNC: {
        int64_t target = pc_ + x.imm + 1;
        auto fns = prog_.functions();
        if (std::find(fns.begin(), fns.end(), target) == fns.end())
            reject(fmt::format("lddw: instruction {} is not the start of a function", target));
        r.type = RegType::Func;
        r.map = static_cast<int32_t>(target);
        break;
    }
    default:
        reject(fmt::format("lddw with source {} is not supported by bpfvm's verifier", x.src));
    }
    write_reg(x.dst, r);
}

void Checker::ld_packet(const Insn& x) {
    if (!type_->packet) reject(fmt::format("BPF_LD_[ABS|IND] instructions not allowed for {} programs", type_->name));
    if (reg(6).type != RegType::Ctx) reject("at the time of BPF_LD_ABS|IND R6 != pointer to skb");
    if (st().frames.size() > 1) reject("BPF_LD_[ABS|IND] cannot be used in a function called by another");
    if (!st().refs.empty()) reject("BPF_LD_[ABS|IND] cannot be mixed with socket references");
    if (st().lock_map >= 0) reject("BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region");
    if ((x.opcode & 0xe0) == BPF_IND) read_reg(x.src);
    for (int r = 1; r <= 5; r++) reg(r) = Reg{};
    reg(0) = Reg::scalar(Scalar::unknown_bytes(access_size(x.opcode)));
}

// ---- calls

void Checker::call(const Insn& x) {
    if (x.src == BPF_PSEUDO_CALL) {
        std::array<Reg, 6> args{};
        for (int r = 1; r <= 5; r++) args[static_cast<size_t>(r)] = reg(r);
        if (st().lock_map >= 0) reject("function calls are not allowed while holding a lock");
        local_call(pc_ + x.imm + 1, false, args);
        return;
    }
    if (x.src == BPF_PSEUDO_KFUNC_CALL) reject("kfunc calls are not supported by bpfvm's verifier yet");
    if ((x.opcode & 0x08) == BPF_X) reject("callx is not supported by bpfvm's verifier yet");
    helper_call(x);
}

void Checker::local_call(int64_t target, bool callback, const std::array<Reg, 6>& args) {
    if (st().frames.size() >= static_cast<size_t>(kMaxCallFrames))
        reject(fmt::format("the call stack of {} frames is too deep", st().frames.size()));
    Frame f;
    f.callsite = pc_;
    f.function = target;
    f.callback = callback;
    for (int r = 1; r <= 5; r++) f.regs[static_cast<size_t>(r)] = args[static_cast<size_t>(r)];
    f.regs[kFramePointer].type = RegType::Stack;
    f.regs[kFramePointer].frame = static_cast<uint32_t>(st().frames.size());
    st().frames.push_back(f);
    pc_ = target;
}

void Checker::release_reference(uint32_t ref) {
    auto& refs = st().refs;
    auto it = std::find_if(refs.begin(), refs.end(), [&](auto& p) { return p.first == ref; });
    if (it == refs.end()) reject("releasing a reference that is not held");
    refs.erase(it);
    for (Frame& f : st().frames) {
        for (Reg& r : f.regs)
            if (r.ref == ref) r = Reg{};
        for (size_t i = 0; i < f.spills.size(); i++)
            if (f.bytes[i * 8] == SlotByte::Spill && f.spills[i].ref == ref) {
                f.spills[i] = Reg::unknown();
                for (size_t b = i * 8; b < i * 8 + 8; b++) f.bytes[b] = SlotByte::Misc;
            }
    }
}

void Checker::check_memory_arg(int r, const Reg& ptr, uint64_t size, bool write, bool uninit, const char* what) {
    if (ptr.maybe_null)
        reject(fmt::format("R{} type={}_or_null expected=fp, pkt, map_value, mem: check it against NULL before passing it "
                           "as {}", r, reg_type_name(ptr.type), what));
    switch (ptr.type) {
    case RegType::Stack: {
        if (size == 0) return;
        if (!ptr.var.is_const()) reject(fmt::format("R{} variable stack access for {}", r, what));
        int64_t off = ptr.off + static_cast<int64_t>(ptr.var.const_value());
        if (off < -kStackSize || off + static_cast<int64_t>(size) > 0)
            reject(fmt::format("invalid indirect access to stack R{} off={} size={} ({})", r, off, size, what));
        Frame& f = st().frames[ptr.frame];
        size_t at = static_cast<size_t>(kStackSize + off);
        f.depth = std::max<uint32_t>(f.depth, static_cast<uint32_t>(-off));
        for (size_t i = at; i < at + size; i++) {
            if ((!write || !uninit) && !opt_.allow_uninit_stack) {
                if (f.bytes[i] == SlotByte::Invalid)
                    reject(fmt::format("invalid indirect read from stack R{} off {}+{} size {}: initialise {} first", r, off,
                                       i - at, size, what));
            }
        }
        if (write) {
            // The helper writes the bytes: spilled registers there become numbers.
            for (size_t i = at / 8 * 8; i < at + size; i += 8)
                if (f.bytes[i] == SlotByte::Spill) {
                    for (size_t b = i; b < i + 8; b++) f.bytes[b] = SlotByte::Misc;
                    f.spills[i / 8] = Reg::unknown();
                }
            for (size_t i = at; i < at + size; i++) f.bytes[i] = SlotByte::Misc;
        }
        check_stack_depth();
        return;
    }
    case RegType::MapValue: check_map_value_access(ptr, r, ptr.off, size, write); return;
    case RegType::Packet:
    case RegType::PacketMeta: check_packet_access(ptr, r, ptr.off, size, write); return;
    case RegType::Mem: check_mem_access(ptr, r, ptr.off, size, write); return;
    case RegType::Ctx:
        reject(fmt::format("R{} type=ctx: the context cannot be passed as {}", r, what));
    default:
        reject(fmt::format("R{} type={} expected=fp, pkt, map_value, mem ({})", r,
                           ptr.type == RegType::Scalar ? "scalar" : reg_type_name(ptr.type), what));
    }
}

// The value of a map key on the stack when the verifier knows it (zeroed
// bytes, or a spilled constant), else nothing.
std::optional<uint64_t> Checker::constant_key(const Reg& key, uint32_t size) {
    if (key.type != RegType::Stack || !key.var.is_const() || size == 0 || size > 8) return std::nullopt;
    int64_t off = key.off + static_cast<int64_t>(key.var.const_value());
    if (off < -kStackSize || off + size > 0) return std::nullopt;
    const Frame& f = st().frames[key.frame];
    size_t at = static_cast<size_t>(kStackSize + off);
    bool zero = true;
    for (size_t i = at; i < at + size; i++) zero = zero && f.bytes[i] == SlotByte::Zero;
    if (zero) return 0;
    if (at % 8 == 0 && f.bytes[at] == SlotByte::Spill && f.spills[at / 8].type == RegType::Scalar &&
        f.spills[at / 8].var.is_const()) {
        uint64_t v = f.spills[at / 8].var.const_value();
        return size == 8 ? v : v & ((uint64_t(1) << (8 * size)) - 1);
    }
    return std::nullopt;
}

void Checker::helper_call(const Insn& x) {
    const HelperProto* proto = find_helper_proto(static_cast<uint32_t>(x.imm));
    if (!proto || !proto->described) reject(fmt::format("invalid func unknown#{}", x.imm));
    if (st().lock_map >= 0 && x.imm != BPF_FUNC_spin_unlock)
        reject(fmt::format("function calls are not allowed while holding a lock ({} inside bpf_spin_lock)", proto->name));
    const int nargs = proto->num_args();
    Reg map_arg;
    bool have_map = false;
    uint32_t release = 0;
    int64_t callback = -1;
    Reg args[6];
    for (int i = 0; i < nargs; i++) {
        const int r = i + 1;
        const HelperArg arg = proto->args[static_cast<size_t>(i)];
        const Reg& v = read_reg(r);
        args[r] = v;
        const bool nullable = arg.flags & kArgMaybeNull;
        const bool is_null = v.type == RegType::Scalar && v.var.is_const() && v.var.const_value() == 0;
        auto next_size = [&](bool zero_ok) -> uint64_t {
            const Reg& s = read_reg(r + 1);
            if (s.type != RegType::Scalar) reject(fmt::format("R{} is not a size: {}", r + 1, to_string(s)));
            if (s.var.smin < 0 && !(s.var.umin == 0 && s.var.umax < static_cast<uint64_t>(kMaxVarOff)))
                reject(fmt::format("R{} min value is negative, either use unsigned or 'var &= const'", r + 1));
            if (!zero_ok && s.var.umin == 0)
                reject(fmt::format("R{} invalid zero-sized read: {} takes a size above 0 ({})", r + 1, proto->name, to_string(s)));
            if (s.var.umax >= static_cast<uint64_t>(kMaxVarOff))
                reject(fmt::format("R{} unbounded memory access, use 'var &= const' or 'if (var < const)' ({})", r + 1,
                                   to_string(s)));
            return s.var.umax;
        };
        switch (arg.kind) {
        case ArgKind::None: break;
        case ArgKind::Anything: break;
        case ArgKind::MapPtr:
            if (v.type != RegType::MapPtr) reject(fmt::format("R{} type={} expected=map_ptr ({})", r, to_string(v), proto->name));
            map_arg = v;
            have_map = true;
            break;
        case ArgKind::MapKey:
            if (!have_map) reject("invalid map_ptr to access map->key");
            check_memory_arg(r, v, map_of(map_arg).key_size, false, false, "the map key");
            break;
        case ArgKind::MapValue:
            if (!have_map) reject("invalid map_ptr to access map->value");
            check_memory_arg(r, v, map_of(map_arg).value_size, arg.flags & kArgUninit, arg.flags & kArgUninit, "the map value");
            break;
        case ArgKind::Mem: {
            uint64_t size = 0;
            const HelperArg next = i + 1 < 5 ? proto->args[static_cast<size_t>(i + 1)] : HelperArg{};
            if (next.kind == ArgKind::ConstSize || next.kind == ArgKind::ConstSizeOrZero)
                size = next_size(next.kind == ArgKind::ConstSizeOrZero);
            if (nullable && is_null) break;
            check_memory_arg(r, v, size, arg.flags & kArgUninit, arg.flags & kArgUninit, "memory");
            break;
        }
        case ArgKind::ConstSize:
        case ArgKind::ConstSizeOrZero:
            if (v.type != RegType::Scalar) reject(fmt::format("R{} is not a size: {}", r, to_string(v)));
            break;
        case ArgKind::Ctx:
            if (v.type != RegType::Ctx || v.off != 0)
                reject(fmt::format("R{} type={} expected=ctx ({} takes the program's context)", r, to_string(v), proto->name));
            break;
        case ArgKind::SpinLock: {
            if (v.type != RegType::MapValue || v.maybe_null)
                reject(fmt::format("R{} type={} expected=map_value (the bpf_spin_lock inside a map value)", r, to_string(v)));
            const VerifierMap& m = map_of(v);
            if (m.spin_lock_offset < 0) reject(fmt::format("map '{}' has no valid bpf_spin_lock", m.name));
            if (!v.var.is_const() || v.off + static_cast<int64_t>(v.var.const_value()) != m.spin_lock_offset)
                reject(fmt::format("off {} doesn't point to 'struct bpf_spin_lock' that is at {}", v.off, m.spin_lock_offset));
            if (x.imm == BPF_FUNC_spin_lock) {
                if (st().lock_map >= 0) reject("Locking two bpf_spin_locks are not allowed");
                st().lock_map = v.map;
                st().lock_id = v.id ? v.id : 1;
            } else {
                if (st().lock_map < 0) reject("bpf_spin_unlock without taking a lock");
                if (st().lock_map != v.map) reject("bpf_spin_unlock of different lock");
                st().lock_map = -1;
                st().lock_id = 0;
            }
            break;
        }
        case ArgKind::Int:
        case ArgKind::Long:
            check_memory_arg(r, v, arg.kind == ArgKind::Int ? 4 : 8, true, true, "the result");
            break;
        case ArgKind::AllocMem:
            if (v.type != RegType::Mem || !v.ref || v.maybe_null)
                reject(fmt::format("R{} type={} expected=alloc_mem: pass the record bpf_ringbuf_reserve returned, "
                                   "checked against NULL", r, to_string(v)));
            if (v.off != 0 || !v.var.is_const() || v.var.const_value() != 0)
                reject(fmt::format("R{} must point to the start of the record (off={})", r, v.off));
            release = v.ref;
            break;
        case ArgKind::ConstAllocSizeOrZero:
            if (v.type != RegType::Scalar || !v.var.is_const())
                reject(fmt::format("R{} is not a known constant: the size of the record must be", r));
            break;
        case ArgKind::Func:
            if (v.type != RegType::Func) reject(fmt::format("R{} type={} expected=func (a static function of the program)", r, to_string(v)));
            callback = v.map;
            break;
        case ArgKind::Stack:
            if (nullable && is_null) break;
            if (v.type != RegType::Stack) reject(fmt::format("R{} type={} expected=fp", r, to_string(v)));
            break;
        case ArgKind::ConstStr: {
            if (v.type != RegType::MapValue || v.maybe_null)
                reject(fmt::format("R{} type={} expected=map_value (a constant string in .rodata)", r, to_string(v)));
            const VerifierMap& m = map_of(v);
            if (m.frozen_value.empty() || !(m.map_flags & BPF_F_RDONLY_PROG))
                reject(fmt::format("R{} does not point to a read-only map's value: the string must be constant", r));
            if (!v.var.is_const()) reject(fmt::format("R{} is not a constant address", r));
            size_t at = static_cast<size_t>(v.off + static_cast<int64_t>(v.var.const_value()));
            if (at >= m.frozen_value.size() ||
                std::find(m.frozen_value.begin() + static_cast<long>(at), m.frozen_value.end(), 0) == m.frozen_value.end())
                reject("string is not zero-terminated");
            break;
        }
        default:
            reject(fmt::format("{} takes {}, which bpfvm's verifier does not support yet", proto->name, describe(arg)));
        }
    }
    if (release) release_reference(release);

    if (callback >= 0) {
        // The callback runs as a function called from here (once: Linux 6.1).
        std::array<Reg, 6> cb{};
        if (x.imm == BPF_FUNC_loop) {
            cb[1] = Reg::scalar(Scalar::unknown_bytes(4));
            cb[2] = args[3];
        } else if (x.imm == BPF_FUNC_for_each_map_elem) {
            const VerifierMap& m = map_of(args[1]);
            cb[1] = args[1];
            cb[2].type = RegType::Mem; // the key: read-only memory of key_size
            cb[2].mem_size = m.key_size;
            cb[2].read_only = true;
            cb[3].type = RegType::MapValue;
            cb[3].map = args[1].map;
            cb[3].inner = args[1].inner;
            cb[4] = args[3];
        } else {
            reject(fmt::format("{} with a callback is not supported by bpfvm's verifier yet", proto->name));
        }
        local_call(callback, true, cb);
        return;
    }

    for (int r = 1; r <= 5; r++) reg(r) = Reg{};
    Reg ret;
    switch (proto->ret) {
    case RetKind::Integer: ret = Reg::unknown(); break;
    case RetKind::Void: ret = Reg{}; break;
    case RetKind::MapValue: {
        if (!have_map) reject("a map value return without a map argument");
        const VerifierMap& m = map_of(map_arg);
        ret.maybe_null = proto->ret_flags & kRetMaybeNull;
        // Linux 6.11+: an array lookup with a constant key below max_entries
        // cannot fail.
        if (ret.maybe_null && x.imm == BPF_FUNC_map_lookup_elem &&
            (m.type == BPF_MAP_TYPE_ARRAY || m.type == BPF_MAP_TYPE_PERCPU_ARRAY)) {
            if (auto key = constant_key(args[2], m.key_size); key && *key < m.max_entries) ret.maybe_null = false;
        }
        ret.id = next_id_++;
        if ((m.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || m.type == BPF_MAP_TYPE_HASH_OF_MAPS) && map_arg.inner < 0) {
            if (m.inner.empty()) reject(fmt::format("map '{}' holds maps, but its inner map is not known", m.name));
            ret.type = RegType::MapPtr;
            ret.map = map_arg.map;
            ret.inner = 0;
        } else {
            ret.type = RegType::MapValue;
            ret.map = map_arg.map;
            ret.inner = map_arg.inner;
        }
        break;
    }
    case RetKind::Mem: {
        ret.type = RegType::Mem;
        ret.maybe_null = proto->ret_flags & kRetMaybeNull;
        ret.read_only = proto->ret_flags & kRetReadOnly;
        ret.id = next_id_++;
        for (int i = 0; i < nargs; i++)
            if (proto->args[static_cast<size_t>(i)].kind == ArgKind::ConstAllocSizeOrZero)
                ret.mem_size = static_cast<uint32_t>(args[i + 1].var.const_value());
        if (proto->ret_flags & kRetAlloc) {
            ret.ref = next_id_++;
            st().refs.emplace_back(ret.ref, pc_);
        }
        break;
    }
    default:
        reject(fmt::format("{} returns {}, which bpfvm's verifier does not support yet", proto->name,
                           describe_ret(proto->ret, proto->ret_flags)));
    }
    reg(0) = ret;
    pc_++;
}

void Checker::exit_insn() {
    if (st().lock_map >= 0) reject("bpf_spin_unlock is missing: the program exits holding a bpf_spin_lock");
    const Reg r0 = reg(0);
    if (r0.type == RegType::NotInit) reject("R0 !read_ok: the function returns without setting R0");
    if (st().frames.size() == 1) {
        if (!st().refs.empty())
            reject(fmt::format("Unreleased reference id={} alloc_insn={}: submit or discard the ringbuf record on every path",
                               st().refs.front().first, st().refs.front().second));
        return;
    }
    Frame callee = st().frames.back();
    if (callee.callback && r0.type != RegType::Scalar)
        reject(fmt::format("R0 of a callback must be a number: {}", to_string(r0)));
    if (r0.type == RegType::Stack && r0.frame == st().frames.size() - 1)
        reject("cannot return stack pointer to the caller");
    st().frames.pop_back();
    for (int r = 1; r <= 5; r++) reg(r) = Reg{};
    reg(0) = callee.callback ? Reg::unknown() : r0;
    pc_ = callee.callsite + 1;
}

} // namespace
} // namespace verifier

Result<Verified> verify(const VerifyInput& input, const VerifyOptions& options) {
    auto program = Program::from_insns(std::vector<Insn>(input.insns.begin(), input.insns.end()));
    if (!program) return tl::unexpected(program.error());
    verifier::Checker checker(input, options, *program);
    return checker.run();
}

} // namespace bpfvm
