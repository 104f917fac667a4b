// The assembler: LLVM/kernel syntax and the conformance suite's syntax, line
// by line, with labels resolved at the end.
#include <cctype>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/isa.h"

namespace bpfvm {

namespace {

struct AsmError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(std::string msg) { throw AsmError(std::move(msg)); }

// A parsed number: sign and magnitude, so that both -2^63 and 2^64-1 fit.
struct Number {
    bool negative = false;
    uint64_t magnitude = 0;
    std::string text;
};

int32_t to_imm32(const Number& n, std::string_view what = "immediate") {
    if (n.negative) {
        if (n.magnitude > 0x8000'0000ull) fail(fmt::format("{} {} does not fit in 32 bits", what, n.text));
        return static_cast<int32_t>(-static_cast<int64_t>(n.magnitude));
    }
    if (n.magnitude > 0xffff'ffffull) fail(fmt::format("{} {} does not fit in 32 bits", what, n.text));
    return static_cast<int32_t>(static_cast<uint32_t>(n.magnitude));
}

int16_t to_off16(const Number& n, std::string_view what = "offset") {
    int64_t v = n.negative ? -static_cast<int64_t>(std::min<uint64_t>(n.magnitude, 1ull << 62))
                           : static_cast<int64_t>(std::min<uint64_t>(n.magnitude, 1ull << 62));
    if (v < -32768 || v > 32767) fail(fmt::format("{} {} does not fit in 16 bits (-32768..32767)", what, n.text));
    return static_cast<int16_t>(v);
}

uint64_t to_imm64(const Number& n) {
    if (n.negative) {
        if (n.magnitude > 0x8000'0000'0000'0000ull) fail(fmt::format("immediate {} does not fit in 64 bits", n.text));
        return 0 - n.magnitude;
    }
    return n.magnitude;
}

bool fits_s32(const Number& n) {
    return n.negative ? n.magnitude <= 0x8000'0000ull : n.magnitude <= 0x7fff'ffffull;
}

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

struct Cursor {
    std::string_view s;
    size_t p = 0;

    void ws() {
        while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) p++;
    }
    bool eof() {
        ws();
        return p >= s.size();
    }
    char peek_char() {
        ws();
        return p < s.size() ? s[p] : '\0';
    }
    bool peek(std::string_view lit) {
        ws();
        return s.substr(p).starts_with(lit);
    }
    bool lit(std::string_view lit) {
        if (!peek(lit)) return false;
        p += lit.size();
        return true;
    }
    void expect(std::string_view what) {
        if (!lit(what)) fail(fmt::format("expected '{}' {}", what, here()));
    }
    std::string here() {
        ws();
        if (p >= s.size()) return "at the end of the line";
        std::string_view rest = s.substr(p);
        size_t n = std::min<size_t>(rest.size(), 20);
        return fmt::format("at '{}{}'", rest.substr(0, n), rest.size() > n ? "..." : "");
    }
    // A keyword: an identifier that is exactly `word`.
    bool keyword(std::string_view word) {
        ws();
        if (!s.substr(p).starts_with(word)) return false;
        size_t e = p + word.size();
        if (e < s.size() && is_ident_char(s[e])) return false;
        p = e;
        return true;
    }
    std::optional<std::string_view> ident() {
        ws();
        if (p >= s.size() || !is_ident_start(s[p])) return std::nullopt;
        size_t b = p;
        while (p < s.size() && is_ident_char(s[p])) p++;
        return s.substr(b, p - b);
    }
    std::optional<Number> number() {
        ws();
        size_t b = p;
        Number n;
        if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
            n.negative = s[p] == '-';
            p++;
            ws();
        }
        int base = 10;
        if (p + 1 < s.size() && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
            base = 16;
            p += 2;
        }
        size_t digits = p;
        while (p < s.size()) {
            char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[p])));
            int d = c >= '0' && c <= '9' ? c - '0' : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) break;
            if (n.magnitude > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base))
                fail(fmt::format("number '{}' does not fit in 64 bits", s.substr(b, p - b + 1)));
            n.magnitude = n.magnitude * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
            p++;
        }
        if (p == digits || (p < s.size() && is_ident_char(s[p]))) {
            p = b;
            return std::nullopt;
        }
        n.text = std::string(s.substr(b, p - b));
        return n;
    }
    Number expect_number(std::string_view what = "a number") {
        auto n = number();
        if (!n) fail(fmt::format("expected {} {}", what, here()));
        return *n;
    }
};

// A register in LLVM syntax: rN (64-bit view) or wN (32-bit view).
struct Reg {
    int num;
    bool w;
};

std::optional<Reg> try_reg(Cursor& c) {
    c.ws();
    size_t b = c.p;
    if (c.p >= c.s.size() || (c.s[c.p] != 'r' && c.s[c.p] != 'w')) return std::nullopt;
    bool w = c.s[c.p] == 'w';
    c.p++;
    size_t d = c.p;
    int num = 0;
    while (c.p < c.s.size() && std::isdigit(static_cast<unsigned char>(c.s[c.p])) && c.p - d < 3)
        num = num * 10 + (c.s[c.p++] - '0');
    if (c.p == d || (c.p < c.s.size() && is_ident_char(c.s[c.p]))) {
        c.p = b;
        return std::nullopt;
    }
    if (num > 10) fail(fmt::format("invalid register {}{} (registers are r0..r10)", w ? 'w' : 'r', num));
    return Reg{num, w};
}

Reg expect_reg(Cursor& c) {
    auto r = try_reg(c);
    if (!r) fail(fmt::format("expected a register {}", c.here()));
    return *r;
}

// A conformance-syntax register: %rN.
std::optional<int> try_creg(Cursor& c) {
    if (!c.peek("%r")) return std::nullopt;
    size_t b = c.p;
    c.p += 2;
    int num = 0;
    size_t d = c.p;
    while (c.p < c.s.size() && std::isdigit(static_cast<unsigned char>(c.s[c.p])) && c.p - d < 3)
        num = num * 10 + (c.s[c.p++] - '0');
    if (c.p == d) {
        c.p = b;
        fail(fmt::format("expected a register {}", c.here()));
    }
    if (num > 10) fail(fmt::format("invalid register %r{} (registers are %r0..%r10)", num));
    return num;
}

int expect_creg(Cursor& c) {
    auto r = try_creg(c);
    if (!r) fail(fmt::format("expected a register {}", c.here()));
    return *r;
}

// An instruction being assembled, with a label reference to resolve later.
struct Pending {
    Insn insn;
    Insn second;
    bool wide = false;
    std::string label;
    enum class Field { None, Off, Imm } label_field = Field::None;
    int line = 0;
};

// Jump target: +N, -N, pc+N, pc-N, a bare number, or a label. A trailing
// llvm-objdump annotation "<name>" or "<name+0x10>" is ignored.
void parse_target(Cursor& c, Pending& out, Pending::Field field) {
    if (c.peek("pc+") || c.peek("pc-")) c.lit("pc");
    if (auto n = c.number()) {
        if (field == Pending::Field::Off) out.insn.off = to_off16(*n, "jump offset");
        else out.insn.imm = to_imm32(*n, "jump offset");
    } else if (auto id = c.ident()) {
        out.label = std::string(*id);
        out.label_field = field;
    } else {
        fail(fmt::format("expected a jump target (+N, -N or a label) {}", c.here()));
    }
    if (c.lit("<")) {
        while (!c.eof() && c.peek_char() != '>') c.p++;
        c.expect(">");
    }
}

// "u8" .. "u64", "s8" .. "s32" inside *( ... *).
int parse_type(Cursor& c, bool* is_signed) {
    auto id = c.ident();
    if (!id) fail(fmt::format("expected a size (u8, u16, u32, u64) {}", c.here()));
    static const std::map<std::string_view, std::pair<int, bool>> types = {
        {"u8", {1, false}}, {"u16", {2, false}}, {"u32", {4, false}}, {"u64", {8, false}},
        {"s8", {1, true}},  {"s16", {2, true}},  {"s32", {4, true}},  {"s64", {8, true}},
    };
    auto it = types.find(*id);
    if (it == types.end()) fail(fmt::format("unknown size '{}' (u8, u16, u32, u64, s8, s16, s32)", *id));
    if (is_signed) *is_signed = it->second.second;
    else if (it->second.second) fail(fmt::format("signed size '{}' is only valid for loads", *id));
    return it->second.first;
}

// "(rN + OFF)" / "(rN -OFF)" / "(rN)"; the opening parenthesis is consumed here.
std::pair<int, int16_t> parse_mem(Cursor& c) {
    c.expect("(");
    Reg base = expect_reg(c);
    if (base.w) fail("a memory operand's base register must be an rN register");
    int16_t off = 0;
    if (c.peek("+") || c.peek("-")) off = to_off16(c.expect_number("an offset"));
    c.expect(")");
    return {base.num, off};
}

// "*(u32 *)" prefix of a memory operand; returns the size in bytes.
int parse_typed_prefix(Cursor& c, bool* is_signed) {
    c.expect("(");
    int size = parse_type(c, is_signed);
    c.expect("*");
    c.expect(")");
    return size;
}

uint8_t size_bits(int bytes) {
    switch (bytes) {
    case 1: return BPF_B;
    case 2: return BPF_H;
    case 4: return BPF_W;
    default: return BPF_DW;
    }
}

const std::map<std::string_view, uint8_t>& alu_ops() {
    static const std::map<std::string_view, uint8_t> ops = {
        {"+=", BPF_ADD}, {"-=", BPF_SUB},   {"*=", BPF_MUL},  {"/=", BPF_DIV},  {"%=", BPF_MOD},
        {"|=", BPF_OR},  {"&=", BPF_AND},   {"^=", BPF_XOR},  {"<<=", BPF_LSH}, {">>=", BPF_RSH},
        {"s>>=", BPF_ARSH}, {"s/=", BPF_DIV}, {"s%=", BPF_MOD}, {"=", BPF_MOV},
    };
    return ops;
}

const std::map<std::string_view, uint8_t>& jmp_ops() {
    static const std::map<std::string_view, uint8_t> ops = {
        {"==", BPF_JEQ},  {"!=", BPF_JNE},  {">", BPF_JGT},    {">=", BPF_JGE},   {"<", BPF_JLT},  {"<=", BPF_JLE},
        {"s>", BPF_JSGT}, {"s>=", BPF_JSGE}, {"s<", BPF_JSLT}, {"s<=", BPF_JSLE}, {"&", BPF_JSET},
    };
    return ops;
}

// The longest operator from `ops` at the cursor.
template <typename Map> std::optional<std::string_view> match_op(Cursor& c, const Map& ops) {
    c.ws();
    std::optional<std::string_view> best;
    for (const auto& [op, code] : ops) {
        if (c.s.substr(c.p).starts_with(op) && (!best || op.size() > best->size())) best = op;
    }
    if (best) c.p += best->size();
    return best;
}

uint8_t atomic_op_by_name(std::string_view name) {
    if (name == "add") return BPF_ADD;
    if (name == "or") return BPF_OR;
    if (name == "and") return BPF_AND;
    if (name == "xor") return BPF_XOR;
    fail(fmt::format("unknown atomic operation '{}' (add, or, and, xor)", name));
}

// --- LLVM / kernel syntax ----------------------------------------------------

void parse_llvm_call(Cursor& c, Pending& out) {
    out.insn.opcode = BPF_JMP | BPF_CALL;
    if (c.peek("pc+") || c.peek("pc-")) {
        out.insn.src = BPF_PSEUDO_CALL;
        parse_target(c, out, Pending::Field::Imm);
        return;
    }
    if (auto n = c.number()) {
        out.insn.imm = to_imm32(*n, "helper number");
        return;
    }
    auto id = c.ident();
    if (!id) fail(fmt::format("expected a helper number, pc+N or a function label {}", c.here()));
    if (c.lit("#")) {
        Number n = c.expect_number("a helper or kfunc number");
        out.insn.imm = to_imm32(n, "helper number");
        if (*id == "kfunc") {
            out.insn.src = BPF_PSEUDO_KFUNC_CALL;
            if (c.lit("@")) out.insn.off = to_off16(c.expect_number("a BTF fd index"));
        }
        return;
    }
    out.insn.src = BPF_PSEUDO_CALL;
    out.label = std::string(*id);
    out.label_field = Pending::Field::Imm;
}

// Atomic call-like forms after "REG =": atomic_fetch_op, xchg, cmpxchg, load_acquire.
bool parse_llvm_atomic_call(Cursor& c, Pending& out, Reg dst, std::string_view name) {
    auto mem_in_call = [&](int* size) {
        // Either "(u64 *)(r1 + 0)" or "r1 + 0".
        if (c.peek("(")) {
            *size = parse_typed_prefix(c, nullptr);
            return parse_mem(c);
        }
        Reg base = expect_reg(c);
        int16_t off = 0;
        if (c.peek("+") || c.peek("-")) off = to_off16(c.expect_number("an offset"));
        return std::pair<int, int16_t>{base.num, off};
    };
    auto finish = [&](int size, int base, int16_t off, int imm, int src) {
        if (size != 4 && size != 8) fail("atomic read-modify-write operations work on u32 or u64 only");
        out.insn.opcode = BPF_STX | BPF_ATOMIC | size_bits(size);
        out.insn.dst = base;
        out.insn.off = off;
        out.insn.src = src;
        out.insn.imm = imm;
    };
    int implied = 0; // size from the name (xchg_64, xchg32_32, atomic64_...)
    if (name.starts_with("atomic64_")) implied = 8, name.remove_prefix(9);
    else if (name.starts_with("atomic_")) name.remove_prefix(7);
    else if (name == "xchg_64" || name == "cmpxchg_64") implied = 8, name.remove_suffix(3);
    else if (name == "xchg32_32" || name == "cmpxchg32_32") implied = 4, name.remove_suffix(5);
    else if (name != "load_acquire") return false;

    if (name == "load_acquire") {
        c.expect("(");
        int size = parse_typed_prefix(c, nullptr);
        auto [base, off] = parse_mem(c);
        c.expect(")");
        out.insn.opcode = BPF_STX | BPF_ATOMIC | size_bits(size);
        out.insn.dst = dst.num;
        out.insn.src = base;
        out.insn.off = off;
        out.insn.imm = BPF_LOAD_ACQ;
        return true;
    }
    c.expect("(");
    int size = implied;
    auto [base, off] = mem_in_call(&size);
    if (size == 0) size = dst.w ? 4 : 8;
    c.expect(",");
    if (name.starts_with("fetch_")) {
        uint8_t aop = atomic_op_by_name(name.substr(6));
        Reg v = expect_reg(c);
        c.expect(")");
        if (v.num != dst.num)
            fail(fmt::format("{1} returns into its operand register: write r{0} = ...(..., r{0})", v.num, name));
        finish(size, base, off, aop | BPF_FETCH, v.num);
        return true;
    }
    if (name == "xchg") {
        Reg v = expect_reg(c);
        c.expect(")");
        if (v.num != dst.num) fail(fmt::format("xchg returns into its operand register: write r{0} = xchg(..., r{0})", v.num));
        finish(size, base, off, BPF_XCHG, v.num);
        return true;
    }
    if (name == "cmpxchg") {
        Reg r0 = expect_reg(c);
        c.expect(",");
        Reg v = expect_reg(c);
        c.expect(")");
        if (dst.num != 0 || r0.num != 0) fail("cmpxchg compares with and returns into r0: write r0 = cmpxchg(..., r0, rN)");
        finish(size, base, off, BPF_CMPXCHG, v.num);
        return true;
    }
    fail(fmt::format("unknown atomic operation '{}'", name));
}

void parse_pseudo_rhs(Cursor& c, Pending& out, std::string_view kind) {
    // map[fd:N], map[fd:N][0]+OFF, map[idx:N], map[idx:N][0]+OFF, btf_id[N], btf_id[N][fd:M], func[pc+N]
    out.wide = true;
    out.insn.opcode = BPF_LD | BPF_IMM | BPF_DW;
    c.expect("[");
    if (kind == "func") {
        out.insn.src = BPF_PSEUDO_FUNC;
        parse_target(c, out, Pending::Field::Imm);
        c.expect("]");
        return;
    }
    if (kind == "btf_id") {
        out.insn.src = BPF_PSEUDO_BTF_ID;
        out.insn.imm = to_imm32(c.expect_number());
        c.expect("]");
        if (c.lit("[")) {
            c.expect("fd");
            c.expect(":");
            out.second.imm = to_imm32(c.expect_number());
            c.expect("]");
        }
        return;
    }
    bool by_idx;
    if (c.keyword("fd")) by_idx = false;
    else if (c.keyword("idx")) by_idx = true;
    else fail(fmt::format("expected 'fd:' or 'idx:' in a map reference {}", c.here()));
    c.expect(":");
    out.insn.imm = to_imm32(c.expect_number("a map fd or index"));
    c.expect("]");
    if (c.lit("[")) {
        c.expect("0");
        c.expect("]");
        c.expect("+");
        out.second.imm = to_imm32(c.expect_number("a value offset"));
        out.insn.src = by_idx ? BPF_PSEUDO_MAP_IDX_VALUE : BPF_PSEUDO_MAP_VALUE;
    } else {
        out.insn.src = by_idx ? BPF_PSEUDO_MAP_IDX : BPF_PSEUDO_MAP_FD;
    }
}

void parse_llvm_assign(Cursor& c, Pending& out, Reg dst, int forced_opcode) {
    const uint8_t alu_class = dst.w ? BPF_ALU : BPF_ALU64;
    out.insn.dst = dst.num;
    // Loads.
    if (c.lit("*")) {
        bool is_signed = false;
        int size = parse_typed_prefix(c, &is_signed);
        if (c.keyword("skb")) {
            c.expect("[");
            out.insn.opcode = BPF_LD | size_bits(size);
            if (dst.num != 0) fail("legacy packet loads (skb[...]) always load into r0");
            out.insn.dst = 0;
            if (auto r = try_reg(c)) {
                out.insn.opcode |= BPF_IND;
                out.insn.src = r->num;
                if (c.peek("+") || c.peek("-")) out.insn.imm = to_imm32(c.expect_number());
            } else {
                out.insn.opcode |= BPF_ABS;
                out.insn.imm = to_imm32(c.expect_number("a packet offset"));
            }
            c.expect("]");
            return;
        }
        auto [base, off] = parse_mem(c);
        out.insn.opcode = BPF_LDX | (is_signed ? BPF_MEMSX : BPF_MEM) | size_bits(size);
        out.insn.src = base;
        out.insn.off = off;
        return;
    }
    // Negation: r1 = -r1.
    if (c.peek("-")) {
        Cursor save = c;
        c.lit("-");
        if (auto r = try_reg(c)) {
            if (r->num != dst.num || r->w != dst.w) fail("negation works in place: write r1 = -r1");
            out.insn.opcode = alu_class | BPF_NEG;
            return;
        }
        c = save;
    }
    // Sign-extending move: r1 = (s8)r2.
    if (c.lit("(")) {
        bool is_signed = false;
        int size = parse_type(c, &is_signed);
        c.expect(")");
        Reg src = expect_reg(c);
        if (!is_signed || size == 8) fail("expected (s8), (s16) or (s32) in a sign-extending move");
        if (src.w != dst.w) fail("both registers of a sign-extending move must be rN or both wN");
        out.insn.opcode = alu_class | BPF_MOV | BPF_X;
        out.insn.src = src.num;
        out.insn.off = static_cast<int16_t>(size * 8);
        return;
    }
    if (auto r = try_reg(c)) {
        if (r->w != dst.w) fail("both registers of a move must be rN or both wN");
        out.insn.opcode = alu_class | BPF_MOV | BPF_X;
        out.insn.src = r->num;
        return;
    }
    if (auto n = c.number()) {
        bool ll = c.keyword("ll");
        if (!dst.w && (ll || forced_opcode == (BPF_LD | BPF_IMM | BPF_DW) || !fits_s32(*n))) {
            uint64_t v = to_imm64(*n);
            out.wide = true;
            out.insn.opcode = BPF_LD | BPF_IMM | BPF_DW;
            out.insn.imm = static_cast<int32_t>(static_cast<uint32_t>(v));
            out.second.imm = static_cast<int32_t>(static_cast<uint32_t>(v >> 32));
            return;
        }
        if (ll) fail("lddw (ll) needs an rN destination");
        out.insn.opcode = alu_class | BPF_MOV | BPF_K;
        out.insn.imm = to_imm32(*n);
        return;
    }
    auto id = c.ident();
    if (!id) fail(fmt::format("expected a value after '=' {}", c.here()));
    for (auto [prefix, code] : {std::pair{"be", BPF_ALU | BPF_END | BPF_TO_BE}, std::pair{"le", BPF_ALU | BPF_END | BPF_TO_LE},
                                std::pair{"bswap", BPF_ALU64 | BPF_END | BPF_TO_LE}}) {
        std::string_view name = *id;
        if (!name.starts_with(prefix)) continue;
        std::string_view width = name.substr(std::string_view(prefix).size());
        if (width != "16" && width != "32" && width != "64") continue;
        Reg r = expect_reg(c);
        if (r.num != dst.num) fail(fmt::format("{1} works in place: write r{0} = {1} r{0}", dst.num, name));
        out.insn.opcode = static_cast<uint8_t>(code);
        out.insn.imm = width == "16" ? 16 : width == "32" ? 32 : 64;
        return;
    }
    if (*id == "map" || *id == "btf_id" || *id == "func") {
        if (dst.w) fail("lddw needs an rN destination");
        parse_pseudo_rhs(c, out, *id);
        c.keyword("ll");
        return;
    }
    if (parse_llvm_atomic_call(c, out, dst, *id)) return;
    fail(fmt::format("unknown expression '{}'", *id));
}

void parse_llvm(Cursor& c, Pending& out, int forced_opcode) {
    if (c.keyword("exit")) {
        out.insn.opcode = BPF_JMP | BPF_EXIT;
        return;
    }
    if (c.keyword("goto")) {
        out.insn.opcode = BPF_JMP | BPF_JA;
        parse_target(c, out, Pending::Field::Off);
        return;
    }
    if (c.keyword("gotol")) {
        out.insn.opcode = BPF_JMP32 | BPF_JA;
        parse_target(c, out, Pending::Field::Imm);
        return;
    }
    if (c.keyword("may_goto")) {
        out.insn.opcode = BPF_JMP | BPF_JCOND;
        parse_target(c, out, Pending::Field::Off);
        return;
    }
    if (c.keyword("callx")) {
        out.insn.opcode = BPF_JMP | BPF_CALL | BPF_X;
        out.insn.dst = expect_reg(c).num;
        return;
    }
    if (c.keyword("call")) {
        parse_llvm_call(c, out);
        return;
    }
    if (c.keyword("if")) {
        Reg dst = expect_reg(c);
        auto op = match_op(c, jmp_ops());
        if (!op) fail(fmt::format("expected a comparison (==, !=, >, s<, &, ...) {}", c.here()));
        out.insn.opcode = (dst.w ? BPF_JMP32 : BPF_JMP) | jmp_ops().at(*op);
        out.insn.dst = dst.num;
        if (auto r = try_reg(c)) {
            if (r->w != dst.w) fail("both registers of a comparison must be rN or both wN");
            out.insn.opcode |= BPF_X;
            out.insn.src = r->num;
        } else {
            out.insn.imm = to_imm32(c.expect_number("a register or a number"));
        }
        if (!c.keyword("goto")) fail(fmt::format("expected 'goto' {}", c.here()));
        parse_target(c, out, Pending::Field::Off);
        return;
    }
    if (c.keyword("lock")) {
        c.expect("*");
        int size = parse_typed_prefix(c, nullptr);
        auto [base, off] = parse_mem(c);
        auto op = match_op(c, alu_ops());
        static const std::map<std::string_view, uint8_t> lock_ops = {
            {"+=", BPF_ADD}, {"|=", BPF_OR}, {"&=", BPF_AND}, {"^=", BPF_XOR}};
        if (!op || !lock_ops.count(*op)) fail("expected +=, |=, &= or ^= after lock *(...)");
        Reg v = expect_reg(c);
        if (size != 4 && size != 8) fail("atomic operations work on u32 or u64 only");
        out.insn.opcode = BPF_STX | BPF_ATOMIC | size_bits(size);
        out.insn.dst = base;
        out.insn.off = off;
        out.insn.src = v.num;
        out.insn.imm = lock_ops.at(*op);
        return;
    }
    if (c.keyword("store_release")) {
        c.expect("(");
        int size = parse_typed_prefix(c, nullptr);
        auto [base, off] = parse_mem(c);
        c.expect(",");
        Reg v = expect_reg(c);
        c.expect(")");
        out.insn.opcode = BPF_STX | BPF_ATOMIC | size_bits(size);
        out.insn.dst = base;
        out.insn.off = off;
        out.insn.src = v.num;
        out.insn.imm = BPF_STORE_REL;
        return;
    }
    if (c.keyword("ld_pseudo")) { // llvm-objdump's form: ld_pseudo rD, SRC, IMM
        Reg dst = expect_reg(c);
        c.expect(",");
        Number src = c.expect_number("a pseudo source");
        c.expect(",");
        out.wide = true;
        out.insn.opcode = BPF_LD | BPF_IMM | BPF_DW;
        out.insn.dst = dst.num;
        if (src.negative || src.magnitude > 6) fail("ld_pseudo source must be 0..6");
        out.insn.src = static_cast<uint8_t>(src.magnitude);
        out.insn.imm = to_imm32(c.expect_number());
        if (c.lit(",")) out.second.imm = to_imm32(c.expect_number());
        return;
    }
    if (c.lit("*")) {
        int size = parse_typed_prefix(c, nullptr);
        auto [base, off] = parse_mem(c);
        c.expect("=");
        out.insn.dst = base;
        out.insn.off = off;
        if (auto r = try_reg(c)) {
            out.insn.opcode = BPF_STX | BPF_MEM | size_bits(size);
            out.insn.src = r->num;
        } else {
            out.insn.opcode = BPF_ST | BPF_MEM | size_bits(size);
            out.insn.imm = to_imm32(c.expect_number("a register or a number"));
        }
        return;
    }
    auto dst = try_reg(c);
    if (!dst) fail(fmt::format("unknown instruction {}", c.here()));
    auto op = match_op(c, alu_ops());
    if (!op) fail(fmt::format("expected an assignment (=, +=, <<=, ...) {}", c.here()));
    if (*op == "=") {
        parse_llvm_assign(c, out, *dst, forced_opcode);
        return;
    }
    out.insn.opcode = (dst->w ? BPF_ALU : BPF_ALU64) | alu_ops().at(*op);
    out.insn.dst = dst->num;
    if (*op == "s/=" || *op == "s%=") out.insn.off = 1;
    if (auto r = try_reg(c)) {
        if (r->w != dst->w) fail("both registers of an ALU operation must be rN or both wN");
        out.insn.opcode |= BPF_X;
        out.insn.src = r->num;
    } else {
        out.insn.imm = to_imm32(c.expect_number("a register or a number"));
    }
}

// --- Conformance syntax ------------------------------------------------------

const std::unordered_map<std::string, std::vector<const OpInfo*>>& conformance_mnemonics() {
    static const auto table = [] {
        std::unordered_map<std::string, std::vector<const OpInfo*>> t;
        for (const OpInfo& info : op_table()) {
            if (info.form == Form::Call || info.form == Form::CallLocal || info.form == Form::CallKfunc ||
                info.form == Form::CallX || info.form == Form::LdImm64)
                continue;
            t[info.mnemonic].push_back(&info);
        }
        for (const char* w : {"16", "32", "64"}) t[std::string("swap") + w] = t[std::string("bswap") + w];
        return t;
    }();
    return table;
}

bool is_conformance_mnemonic(std::string_view word) {
    return word == "lddw" || word == "lock" || conformance_mnemonics().count(std::string(word)) > 0;
}

// [%rN+OFF]
std::pair<int, int16_t> parse_cmem(Cursor& c) {
    c.expect("[");
    int reg = expect_creg(c);
    int16_t off = 0;
    if (c.peek("+") || c.peek("-")) off = to_off16(c.expect_number("an offset"));
    c.expect("]");
    return {reg, off};
}

void parse_conformance_lddw(Cursor& c, Pending& out) {
    out.wide = true;
    out.insn.opcode = BPF_LD | BPF_IMM | BPF_DW;
    out.insn.dst = expect_creg(c);
    c.expect(",");
    if (auto n = c.number()) {
        uint64_t v = to_imm64(*n);
        out.insn.imm = static_cast<int32_t>(static_cast<uint32_t>(v));
        out.second.imm = static_cast<int32_t>(static_cast<uint32_t>(v >> 32));
        return;
    }
    auto id = c.ident();
    static const std::map<std::string_view, Pseudo> kinds = {
        {"map_fd", Pseudo::MapFd}, {"map_value", Pseudo::MapValue}, {"btf_id", Pseudo::BtfId},
        {"func", Pseudo::Func},    {"map_idx", Pseudo::MapIdx},     {"map_idx_value", Pseudo::MapIdxValue}};
    if (!id || !kinds.count(*id))
        fail(fmt::format("expected a number or map_fd(..), map_value(..), btf_id(..), func(..), map_idx(..), "
                         "map_idx_value(..) {}",
                         c.here()));
    Pseudo kind = kinds.at(*id);
    out.insn.src = static_cast<uint8_t>(kind);
    c.expect("(");
    if (kind == Pseudo::Func) {
        parse_target(c, out, Pending::Field::Imm);
    } else {
        out.insn.imm = to_imm32(c.expect_number());
        if (c.lit(",")) out.second.imm = to_imm32(c.expect_number());
    }
    c.expect(")");
}

void parse_conformance(Cursor& c, Pending& out) {
    auto word = c.ident();
    if (!word) fail(fmt::format("unknown instruction {}", c.here()));
    std::string mnemonic(*word);
    if (mnemonic == "lddw") {
        parse_conformance_lddw(c, out);
        return;
    }
    if (mnemonic == "call") {
        out.insn.opcode = BPF_JMP | BPF_CALL;
        if (auto r = try_creg(c)) {
            out.insn.opcode |= BPF_X;
            out.insn.dst = *r;
        } else if (c.keyword("local")) {
            out.insn.src = BPF_PSEUDO_CALL;
            parse_target(c, out, Pending::Field::Imm);
        } else if (c.keyword("kfunc")) {
            out.insn.src = BPF_PSEUDO_KFUNC_CALL;
            out.insn.imm = to_imm32(c.expect_number("a kfunc BTF id"));
            if (c.lit(",")) out.insn.off = to_off16(c.expect_number());
        } else if (c.keyword("helper")) {
            out.insn.imm = to_imm32(c.expect_number("a helper number"));
        } else {
            out.insn.imm = to_imm32(c.expect_number("a helper number, local LABEL or %rN"));
        }
        return;
    }
    if (mnemonic == "lock") {
        mnemonic = "lock";
        if (c.keyword("fetch")) mnemonic += " fetch";
        auto op = c.ident();
        if (!op) fail(fmt::format("expected an atomic operation after lock {}", c.here()));
        mnemonic += " " + std::string(*op);
    }
    auto it = conformance_mnemonics().find(mnemonic);
    if (it == conformance_mnemonics().end()) fail(fmt::format("unknown instruction '{}'", mnemonic));
    const OpInfo* info = it->second.front();
    auto pick = [&](bool reg_form) -> const OpInfo* {
        for (const OpInfo* i : it->second) {
            bool is_reg = i->form == Form::AluX || i->form == Form::JmpX;
            if (is_reg == reg_form) return i;
        }
        fail(fmt::format("'{}' takes {}", mnemonic, reg_form ? "an immediate, not a register" : "a register, not an immediate"));
    };
    switch (info->form) {
    case Form::AluK:
    case Form::AluX: {
        out.insn.dst = expect_creg(c);
        c.expect(",");
        bool reg = c.peek("%");
        info = pick(reg);
        if (reg) out.insn.src = expect_creg(c);
        else out.insn.imm = to_imm32(c.expect_number("a register or a number"));
        break;
    }
    case Form::JmpK:
    case Form::JmpX: {
        out.insn.dst = expect_creg(c);
        c.expect(",");
        bool reg = c.peek("%");
        info = pick(reg);
        if (reg) out.insn.src = expect_creg(c);
        else out.insn.imm = to_imm32(c.expect_number("a register or a number"));
        c.expect(",");
        parse_target(c, out, Pending::Field::Off);
        break;
    }
    case Form::Neg:
    case Form::Endian: out.insn.dst = expect_creg(c); break;
    case Form::MovSx:
        out.insn.dst = expect_creg(c);
        c.expect(",");
        out.insn.src = expect_creg(c);
        break;
    case Form::Ja:
    case Form::MayGoto: parse_target(c, out, Pending::Field::Off); break;
    case Form::Gotol: parse_target(c, out, Pending::Field::Imm); break;
    case Form::Exit: break;
    case Form::LdAbs: out.insn.imm = to_imm32(c.expect_number("a packet offset")); break;
    case Form::LdInd:
        out.insn.src = expect_creg(c);
        c.expect(",");
        out.insn.imm = to_imm32(c.expect_number("a packet offset"));
        break;
    case Form::Ldx:
    case Form::LdxSx:
    case Form::LoadAcq: {
        out.insn.dst = expect_creg(c);
        c.expect(",");
        auto [base, off] = parse_cmem(c);
        out.insn.src = base;
        out.insn.off = off;
        break;
    }
    case Form::St: {
        auto [base, off] = parse_cmem(c);
        out.insn.dst = base;
        out.insn.off = off;
        c.expect(",");
        out.insn.imm = to_imm32(c.expect_number());
        break;
    }
    case Form::Stx:
    case Form::StoreRel:
    case Form::Atomic:
    case Form::AtomicFetch:
    case Form::AtomicXchg:
    case Form::AtomicCmpxchg: {
        auto [base, off] = parse_cmem(c);
        out.insn.dst = base;
        out.insn.off = off;
        c.expect(",");
        out.insn.src = expect_creg(c);
        break;
    }
    default: fail(fmt::format("unknown instruction '{}'", mnemonic));
    }
    out.insn.opcode = info->opcode;
    // The discriminating field (sdiv's offset, an atomic's operation, an endian width).
    if (info->off.kind == FieldRule::Equal) out.insn.off = static_cast<int16_t>(info->off.value);
    if (info->imm.kind == FieldRule::Equal) out.insn.imm = info->imm.value;
}

// --- Lines -------------------------------------------------------------------

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string_view strip_comment(std::string_view s) {
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == ';') return s.substr(0, i);
        if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '/') return s.substr(0, i);
        if (s[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) return s.substr(0, i);
    }
    return s;
}

bool all_hex(std::string_view s) {
    if (s.empty()) return false;
    for (char ch : s)
        if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
    return true;
}

bool is_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char ch : s)
        if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
    return true;
}

} // namespace

Result<std::vector<Insn>> assemble(std::string_view text) {
    std::vector<Pending> pending;
    std::map<std::string, size_t, std::less<>> labels; // label -> instruction index
    std::map<std::string, int, std::less<>> label_lines;
    std::optional<size_t> first_exit;
    size_t index = 0;
    int line_no = 0;

    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        line_no++;
        std::string_view line = trim(strip_comment(raw));
        if (line.empty()) continue;
        try {
            // llvm-objdump file headers.
            if (line.find("file format") != std::string_view::npos || line.starts_with("Disassembly of section"))
                continue;
            // llvm-objdump symbol header: "0000000000000070 <LBB0_8>:"
            if (size_t lt = line.find(" <"); lt != std::string_view::npos && line.ends_with(">:") &&
                                             all_hex(line.substr(0, lt))) {
                std::string_view name = line.substr(lt + 2, line.size() - lt - 4);
                if (labels.count(name) == 0) {
                    labels.emplace(std::string(name), index);
                    label_lines.emplace(std::string(name), line_no);
                }
                continue;
            }
            // Instruction index "12:" (llvm-objdump, verifier log), kernel opcode "(bf)", raw bytes.
            int forced_opcode = -1;
            if (size_t colon = line.find(':'); colon != std::string_view::npos && is_digits(line.substr(0, colon))) {
                line = trim(line.substr(colon + 1));
                if (line.size() >= 4 && line[0] == '(' && line[3] == ')' && all_hex(line.substr(1, 2))) {
                    forced_opcode = std::stoi(std::string(line.substr(1, 2)), nullptr, 16);
                    line = trim(line.substr(4));
                }
                size_t p = 0, bytes = 0;
                while (p + 2 <= line.size() && all_hex(line.substr(p, 2)) &&
                       (p + 2 == line.size() || std::isspace(static_cast<unsigned char>(line[p + 2])))) {
                    p += 2;
                    bytes++;
                    while (p < line.size() && std::isspace(static_cast<unsigned char>(line[p]))) p++;
                }
                if (bytes >= 8) line = trim(line.substr(p));
            }
            // Label definitions: "name:" possibly followed by an instruction.
            for (;;) {
                size_t n = 0;
                while (n < line.size() && is_ident_char(line[n])) n++;
                if (n == 0 || n >= line.size() || line[n] != ':' || !is_ident_start(line[0])) break;
                std::string name(line.substr(0, n));
                if (auto it = label_lines.find(name); it != label_lines.end())
                    fail(fmt::format("label '{}' is already defined on line {}", name, it->second));
                labels.emplace(name, index);
                label_lines.emplace(name, line_no);
                line = trim(line.substr(n + 1));
            }
            if (line.empty()) continue;
            if (line == "<unknown>") fail("llvm-objdump could not decode this instruction: its bytes are unknown");

            Cursor c{line};
            Pending p;
            p.line = line_no;
            size_t first_space = line.find_first_of(" \t");
            std::string_view first_word = line.substr(0, first_space);
            bool conformance = line.find("%r") != std::string_view::npos ||
                               (is_conformance_mnemonic(first_word) &&
                                !(first_word == "lock" && line.find('*') != std::string_view::npos)) ||
                               line.starts_with("call local") || line.starts_with("call kfunc ") ||
                               line.starts_with("call helper");
            if (conformance) parse_conformance(c, p);
            else parse_llvm(c, p, forced_opcode);
            if (!c.eof()) fail(fmt::format("unexpected text {}", c.here()));
            if (p.insn.opcode == (BPF_JMP | BPF_EXIT) && !first_exit) first_exit = index;
            index += p.wide ? 2 : 1;
            pending.push_back(std::move(p));
        } catch (const AsmError& e) {
            return tl::unexpected(Error{e.what(), -1, line_no, {}});
        }
    }

    std::vector<Insn> out;
    out.reserve(index);
    for (Pending& p : pending) {
        size_t here = out.size();
        if (!p.label.empty()) {
            size_t target;
            if (auto it = labels.find(p.label); it != labels.end()) target = it->second;
            else if (p.label == "exit" && first_exit) target = *first_exit;
            else return tl::unexpected(Error{fmt::format("unknown label '{}'", p.label), -1, p.line, {}});
            int64_t rel = static_cast<int64_t>(target) - static_cast<int64_t>(here) - 1;
            if (p.label_field == Pending::Field::Off) {
                if (rel < -32768 || rel > 32767)
                    return tl::unexpected(Error{fmt::format("jump to '{}' is {} instructions away: too far for a "
                                                            "16-bit offset (use gotol)",
                                                            p.label, rel),
                                                -1, p.line, {}});
                p.insn.off = static_cast<int16_t>(rel);
            } else {
                p.insn.imm = static_cast<int32_t>(rel);
            }
        }
        out.push_back(p.insn);
        if (p.wide) out.push_back(p.second);
    }
    return out;
}

} // namespace bpfvm
