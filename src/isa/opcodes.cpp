// The opcode table and instruction-level validation.
#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "bpfvm/isa.h"

namespace bpfvm {

namespace {

constexpr FieldRule Z{FieldRule::Zero};
constexpr FieldRule A{FieldRule::Any};
constexpr FieldRule R{FieldRule::Reg};
constexpr FieldRule W{FieldRule::WReg};
constexpr FieldRule P{FieldRule::Pseudo};
constexpr FieldRule E(int32_t v) { return FieldRule{FieldRule::Equal, v}; }

constexpr OpInfo kTable[] = {
#define X(NAME, CODE, DST, SRC, OFF, IMM, GROUP, FORM, SIZE, MNEMONIC, SYMBOL)                    \
    OpInfo{Op::NAME, #NAME,       CODE,      DST,       SRC,      OFF,      IMM,                  \
           Group::GROUP, Form::FORM, SIZE,  MNEMONIC, SYMBOL},
#include "bpfvm/opcodes.def"
#undef X
};
static_assert(std::size(kTable) == kNumOps);

constexpr bool table_is_in_op_order() {
    for (size_t i = 0; i < std::size(kTable); i++)
        if (static_cast<size_t>(kTable[i].op) != i) return false;
    return true;
}
static_assert(table_is_in_op_order());

// Rows per opcode byte (at most a dozen share one: the atomics).
struct OpcodeRows {
    std::array<uint8_t, 16> rows{};
    uint8_t count = 0;
};

const std::array<OpcodeRows, 256>& rows_by_opcode() {
    static const auto table = [] {
        std::array<OpcodeRows, 256> t{};
        for (size_t i = 0; i < std::size(kTable); i++) {
            auto& e = t[kTable[i].opcode];
            e.rows[e.count++] = static_cast<uint8_t>(i);
        }
        return t;
    }();
    return table;
}

bool field_ok(FieldRule rule, int32_t v) {
    switch (rule.kind) {
    case FieldRule::Zero: return v == 0;
    case FieldRule::Any: return true;
    case FieldRule::Reg: return v >= 0 && v <= 10;
    case FieldRule::WReg: return v >= 0 && v <= 9;
    case FieldRule::Pseudo: return v >= 0 && v <= 6;
    case FieldRule::Equal: return v == rule.value;
    }
    return false;
}

bool row_matches(const OpInfo& info, const Insn& insn) {
    return field_ok(info.dst, insn.dst) && field_ok(info.src, insn.src) &&
           field_ok(info.off, insn.off) && field_ok(info.imm, insn.imm);
}

enum class Field { Dst, Src, Off, Imm };

std::string field_problem(const OpInfo& info, Field field, int32_t v) {
    FieldRule rule = field == Field::Dst   ? info.dst
                     : field == Field::Src ? info.src
                     : field == Field::Off ? info.off
                                           : info.imm;
    if (field_ok(rule, v)) return {};
    const char* what = field == Field::Dst   ? "destination register"
                       : field == Field::Src ? "source register"
                       : field == Field::Off ? "offset"
                                             : "immediate";
    switch (rule.kind) {
    case FieldRule::Reg: return fmt::format("invalid {} r{} (registers are r0..r10)", what, v);
    case FieldRule::WReg:
        if (v == 10)
            return fmt::format("{} r10 is the read-only frame pointer and cannot be written", what);
        return fmt::format("invalid {} r{} (registers are r0..r10)", what, v);
    case FieldRule::Pseudo:
        return fmt::format("lddw source {} is not one Linux defines (0..6)", v);
    case FieldRule::Zero:
        return fmt::format("reserved {} field must be 0 (is {})", what, v);
    case FieldRule::Equal:
        return fmt::format("{} field must be {} (is {})", what, rule.value, v);
    case FieldRule::Any: break;
    }
    return {};
}

// Which field tells apart the rows sharing one opcode.
Field discriminator(const OpInfo& info) {
    if (info.imm.kind == FieldRule::Equal) return Field::Imm;
    if (info.off.kind == FieldRule::Equal) return Field::Off;
    if (info.src.kind == FieldRule::Equal) return Field::Src;
    return Field::Dst;
}

int32_t field_value(const Insn& insn, Field f) {
    switch (f) {
    case Field::Dst: return insn.dst;
    case Field::Src: return insn.src;
    case Field::Off: return insn.off;
    case Field::Imm: return insn.imm;
    }
    return 0;
}

int32_t rule_value(const OpInfo& info, Field f) {
    switch (f) {
    case Field::Dst: return info.dst.value;
    case Field::Src: return info.src.value;
    case Field::Off: return info.off.value;
    case Field::Imm: return info.imm.value;
    }
    return 0;
}

std::string first_problem(const OpInfo& info, const Insn& insn) {
    for (Field f : {Field::Dst, Field::Src, Field::Off, Field::Imm}) {
        auto p = field_problem(info, f, field_value(insn, f));
        if (!p.empty()) return p;
    }
    return {};
}

// A short family name for messages about a shared opcode.
std::string family_name(const OpcodeRows& rows) {
    const OpInfo& first = kTable[rows.rows[0]];
    switch (first.form) {
    case Form::Atomic: case Form::AtomicFetch: case Form::AtomicXchg: case Form::AtomicCmpxchg:
    case Form::LoadAcq: case Form::StoreRel:
        return "atomic";
    case Form::Call: case Form::CallLocal: case Form::CallKfunc: return "call";
    case Form::Endian: return first.mnemonic[0] == 'b' && first.mnemonic[1] == 's' ? "bswap"
                                                                                  : std::string(first.mnemonic, 2);
    default: break;
    }
    std::string m = first.mnemonic;
    if (m.ends_with("32")) m.resize(m.size() - 2);
    return m;
}

} // namespace

std::string Error::to_string() const {
    std::string out;
    if (!file.empty()) out += file + ":";
    if (line > 0) out += (file.empty() ? "line " : "") + std::to_string(line) + ": ";
    else if (!file.empty()) out += " ";
    if (insn >= 0) out += "instruction " + std::to_string(insn) + ": ";
    out += message;
    return out;
}

std::string_view group_name(Group g) {
    switch (g) {
    case Group::B32: return "base32";
    case Group::B64: return "base64";
    case Group::A32: return "atomic32";
    case Group::A64: return "atomic64";
    case Group::D32: return "divmul32";
    case Group::D64: return "divmul64";
    case Group::PKT: return "packet";
    case Group::LNX: return "linux";
    }
    return "?";
}

std::span<const OpInfo> op_table() { return kTable; }

const OpInfo& op_info(Op op) { return kTable[static_cast<size_t>(op)]; }

const OpInfo* find_op(const Insn& insn) {
    const auto& rows = rows_by_opcode()[insn.opcode];
    for (uint8_t i = 0; i < rows.count; i++) {
        const OpInfo& info = kTable[rows.rows[i]];
        if (row_matches(info, insn)) return &info;
    }
    return nullptr;
}

std::string explain_invalid(const Insn& insn) {
    const auto& rows = rows_by_opcode()[insn.opcode];
    if (rows.count == 0) return fmt::format("unknown opcode 0x{:02x}", insn.opcode);
    if (find_op(insn)) return {};
    const OpInfo& first = kTable[rows.rows[0]];
    if (rows.count == 1) return first_problem(first, insn);
    Field disc = discriminator(first);
    int32_t v = field_value(insn, disc);
    for (uint8_t i = 0; i < rows.count; i++) {
        const OpInfo& info = kTable[rows.rows[i]];
        if (rule_value(info, disc) == v) return first_problem(info, insn);
    }
    std::string allowed;
    for (uint8_t i = 0; i < rows.count; i++) {
        int32_t a = rule_value(kTable[rows.rows[i]], disc);
        if (!allowed.empty()) allowed += ", ";
        allowed += disc == Field::Imm && a > 64 ? fmt::format("0x{:x}", a) : std::to_string(a);
    }
    const char* what = disc == Field::Imm ? "immediate" : disc == Field::Off ? "offset" : "source register field";
    return fmt::format("opcode 0x{:02x} ({}) with {} {} is not an instruction (allowed: {})",
                       insn.opcode, family_name(rows), what,
                       disc == Field::Imm && v > 64 ? fmt::format("0x{:x}", v) : std::to_string(v),
                       allowed);
}

std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes) {
    std::vector<Insn> out(bytes.size() / sizeof(Insn));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(Insn));
    return out;
}

std::vector<uint8_t> insns_to_bytes(std::span<const Insn> insns) {
    std::vector<uint8_t> out(insns.size() * sizeof(Insn));
    if (!out.empty()) std::memcpy(out.data(), insns.data(), out.size());
    return out;
}

Result<ProgramShape> check_program(std::span<const Insn> insns) {
    const int64_t n = static_cast<int64_t>(insns.size());
    if (n == 0) return make_error("the program is empty");
    ProgramShape shape;
    shape.ops.assign(insns.size(), nullptr);
    std::vector<bool> second_half(insns.size(), false);

    for (int64_t i = 0; i < n; i++) {
        const Insn& insn = insns[i];
        const OpInfo* info = find_op(insn);
        if (!info) return make_error(explain_invalid(insn), i);
        shape.ops[i] = info;
        if (info->form == Form::LdImm64) {
            if (i + 1 >= n) return make_error("lddw is missing its second half (end of program)", i);
            const Insn& next = insns[i + 1];
            if (next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0)
                return make_error(fmt::format("lddw is missing its second half: the next slot must have "
                                              "opcode 0, registers 0 and offset 0 (has opcode 0x{:02x}, "
                                              "dst r{}, src r{}, offset {})",
                                              next.opcode, next.dst, next.src, next.off),
                                  i);
            auto src = static_cast<Pseudo>(insn.src);
            if ((src == Pseudo::MapFd || src == Pseudo::MapIdx || src == Pseudo::Func) && next.imm != 0)
                return make_error(fmt::format("lddw with source {} must have 0 in the immediate of its "
                                              "second half (has {})",
                                              insn.src, next.imm),
                                  i);
            second_half[i + 1] = true;
            i++;
        }
    }

    // Subprogram entries: main, every local call target, every function reference.
    std::vector<int64_t> starts{0};
    for (int64_t i = 0; i < n; i++) {
        const OpInfo* info = shape.ops[i];
        if (!info) continue;
        bool is_call = info->form == Form::CallLocal;
        bool is_func_ref = info->form == Form::LdImm64 && insns[i].src == uint8_t(Pseudo::Func);
        if (!is_call && !is_func_ref) continue;
        int64_t t = *branch_target(*info, insns[i], i);
        const char* what = is_call ? "call" : "function reference";
        if (t < 0 || t >= n)
            return make_error(fmt::format("{} target {} is outside the program (instructions 0..{})", what, t,
                                          n - 1),
                              i);
        if (second_half[t])
            return make_error(fmt::format("{} target {} is the second half of an lddw", what, t), i);
        starts.push_back(t);
    }
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());

    for (size_t s = 0; s < starts.size(); s++) {
        int64_t begin = starts[s];
        int64_t end = s + 1 < starts.size() ? starts[s + 1] : n; // exclusive
        for (int64_t i = begin; i < end; i++) {
            const OpInfo* info = shape.ops[i];
            if (!info || info->form == Form::CallLocal || info->form == Form::LdImm64) continue;
            auto t = branch_target(*info, insns[i], i);
            if (!t) continue;
            if (*t < 0 || *t >= n)
                return make_error(fmt::format("jump target {} is outside the program (instructions 0..{})", *t,
                                              n - 1),
                                  i);
            if (second_half[*t])
                return make_error(fmt::format("jump target {} is the second half of an lddw", *t), i);
            if (*t < begin || *t >= end)
                return make_error(fmt::format("jump to instruction {} leaves its function (instructions "
                                              "{}..{})",
                                              *t, begin, end - 1),
                                  i);
        }
        int64_t last = end - 1;
        const OpInfo* info = shape.ops[last];
        if (!info && last > begin) info = shape.ops[last - 1], last--;
        if (!info || (info->form != Form::Exit && info->form != Form::Ja && info->form != Form::Gotol)) {
            if (s == 0 && starts.size() == 1)
                return make_error("the program does not end with exit or goto: execution would fall off its end",
                                  last);
            return make_error(fmt::format("the function at instructions {}..{} does not end with exit or goto: "
                                          "execution would fall into the next function",
                                          begin, end - 1),
                              last);
        }
    }
    shape.subprogs = std::move(starts);
    return shape;
}

} // namespace bpfvm
