// Text forms of classic programs: bpf_asm syntax (Linux's
// Documentation/networking/filter.rst) and tcpdump's -d, -dd and -ddd
// outputs (libpcap's bpf_image() and bpf_dump()), both ways.
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include <linux/filter.h>

#include <fmt/format.h>

#include "bpfvm/cbpf.h"
#include "cbpf/opcodes.h"

namespace bpfvm::cbpf {

namespace {

// ---------------------------------------------------------------- output

// libpcap's bpf_image(): one instruction as tcpdump -d prints it.
std::string image(const Insn& p, size_t n) {
    const char* op = "unimp";
    std::string operand;
    bool cond = false;
    const auto sk = static_cast<int32_t>(p.k);
    switch (p.code) {
    case BPF_RET | BPF_K: op = "ret"; operand = fmt::format("#{}", sk); break;
    case BPF_RET | BPF_A: op = "ret"; break;
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS: {
        op = BPF_SIZE(p.code) == BPF_W ? "ld" : BPF_SIZE(p.code) == BPF_H ? "ldh" : "ldb";
        const char* name = ancillary_name(p.k);
        operand = name ? fmt::format("[{}]", name) : fmt::format("[{}]", sk);
        break;
    }
    case BPF_LD | BPF_W | BPF_LEN: op = "ld"; operand = "#pktlen"; break;
    case BPF_LD | BPF_W | BPF_IND: op = "ld"; operand = fmt::format("[x + {}]", sk); break;
    case BPF_LD | BPF_H | BPF_IND: op = "ldh"; operand = fmt::format("[x + {}]", sk); break;
    case BPF_LD | BPF_B | BPF_IND: op = "ldb"; operand = fmt::format("[x + {}]", sk); break;
    case BPF_LD | BPF_IMM: op = "ld"; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_LDX | BPF_IMM: op = "ldx"; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_LDX | BPF_MSH | BPF_B: op = "ldxb"; operand = fmt::format("4*([{}]&0xf)", sk); break;
    case BPF_LD | BPF_MEM: op = "ld"; operand = fmt::format("M[{}]", sk); break;
    case BPF_LDX | BPF_MEM: op = "ldx"; operand = fmt::format("M[{}]", sk); break;
    case BPF_ST: op = "st"; operand = fmt::format("M[{}]", sk); break;
    case BPF_STX: op = "stx"; operand = fmt::format("M[{}]", sk); break;
    case BPF_JMP | BPF_JA:
        op = "ja";
        operand = fmt::format("{}", static_cast<int32_t>(static_cast<uint32_t>(n + 1 + p.k)));
        break;
    case BPF_JMP | BPF_JGT | BPF_K: op = "jgt"; cond = true; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_JMP | BPF_JGE | BPF_K: op = "jge"; cond = true; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_JMP | BPF_JEQ | BPF_K: op = "jeq"; cond = true; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_JMP | BPF_JSET | BPF_K: op = "jset"; cond = true; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_JMP | BPF_JGT | BPF_X: op = "jgt"; cond = true; operand = "x"; break;
    case BPF_JMP | BPF_JGE | BPF_X: op = "jge"; cond = true; operand = "x"; break;
    case BPF_JMP | BPF_JEQ | BPF_X: op = "jeq"; cond = true; operand = "x"; break;
    case BPF_JMP | BPF_JSET | BPF_X: op = "jset"; cond = true; operand = "x"; break;
    case BPF_ALU | BPF_ADD | BPF_X: op = "add"; operand = "x"; break;
    case BPF_ALU | BPF_SUB | BPF_X: op = "sub"; operand = "x"; break;
    case BPF_ALU | BPF_MUL | BPF_X: op = "mul"; operand = "x"; break;
    case BPF_ALU | BPF_DIV | BPF_X: op = "div"; operand = "x"; break;
    case BPF_ALU | BPF_MOD | BPF_X: op = "mod"; operand = "x"; break;
    case BPF_ALU | BPF_AND | BPF_X: op = "and"; operand = "x"; break;
    case BPF_ALU | BPF_OR | BPF_X: op = "or"; operand = "x"; break;
    case BPF_ALU | BPF_XOR | BPF_X: op = "xor"; operand = "x"; break;
    case BPF_ALU | BPF_LSH | BPF_X: op = "lsh"; operand = "x"; break;
    case BPF_ALU | BPF_RSH | BPF_X: op = "rsh"; operand = "x"; break;
    case BPF_ALU | BPF_ADD | BPF_K: op = "add"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_SUB | BPF_K: op = "sub"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_MUL | BPF_K: op = "mul"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_DIV | BPF_K: op = "div"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_MOD | BPF_K: op = "mod"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_AND | BPF_K: op = "and"; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_ALU | BPF_OR | BPF_K: op = "or"; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_ALU | BPF_XOR | BPF_K: op = "xor"; operand = fmt::format("#0x{:x}", p.k); break;
    case BPF_ALU | BPF_LSH | BPF_K: op = "lsh"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_RSH | BPF_K: op = "rsh"; operand = fmt::format("#{}", sk); break;
    case BPF_ALU | BPF_NEG: op = "neg"; break;
    case BPF_MISC | BPF_TAX: op = "tax"; break;
    case BPF_MISC | BPF_TXA: op = "txa"; break;
    default:
        operand = fmt::format("0x{:x}", p.code);
        // bpf_image prints targets for anything in the jump class but ja.
        cond = BPF_CLASS(p.code) == BPF_JMP && BPF_OP(p.code) != BPF_JA;
        break;
    }
    if (cond)
        return fmt::format("({:03}) {:<8} {:<16} jt {}\tjf {}", n, op, operand, n + 1 + p.jt, n + 1 + p.jf);
    return fmt::format("({:03}) {:<8} {}", n, op, operand);
}

// bpf_asm's names for the ancillary loads (filter.rst); xor_x is bpfvm's.
const char* asm_extension_name(uint32_t k) {
    switch (k - static_cast<uint32_t>(SKF_AD_OFF)) {
    case SKF_AD_PROTOCOL: return "proto";
    case SKF_AD_PKTTYPE: return "type";
    case SKF_AD_IFINDEX: return "ifidx";
    case SKF_AD_NLATTR: return "nla";
    case SKF_AD_NLATTR_NEST: return "nlan";
    case SKF_AD_MARK: return "mark";
    case SKF_AD_QUEUE: return "queue";
    case SKF_AD_HATYPE: return "hatype";
    case SKF_AD_RXHASH: return "rxhash";
    case SKF_AD_CPU: return "cpu";
    case SKF_AD_ALU_XOR_X: return "xor_x";
    case SKF_AD_VLAN_TAG: return "vlan_tci";
    case SKF_AD_VLAN_TAG_PRESENT: return "vlan_avail";
    case SKF_AD_PAY_OFFSET: return "poff";
    case SKF_AD_RANDOM: return "rand";
    case SKF_AD_VLAN_TPID: return "vlan_tpid";
    default: return nullptr;
    }
}

std::optional<uint32_t> extension_by_name(std::string_view name) {
    static const std::map<std::string_view, int> names = {
        {"proto", SKF_AD_PROTOCOL},  {"type", SKF_AD_PKTTYPE},      {"ifidx", SKF_AD_IFINDEX},
        {"nla", SKF_AD_NLATTR},      {"nlan", SKF_AD_NLATTR_NEST},  {"mark", SKF_AD_MARK},
        {"queue", SKF_AD_QUEUE},     {"hatype", SKF_AD_HATYPE},     {"rxhash", SKF_AD_RXHASH},
        {"cpu", SKF_AD_CPU},         {"xor_x", SKF_AD_ALU_XOR_X},   {"vlan_tci", SKF_AD_VLAN_TAG},
        {"vlan_avail", SKF_AD_VLAN_TAG_PRESENT}, {"vlan_pr", SKF_AD_VLAN_TAG_PRESENT},
        {"vlanp", SKF_AD_VLAN_TAG_PRESENT},      {"poff", SKF_AD_PAY_OFFSET},
        {"rand", SKF_AD_RANDOM},     {"random", SKF_AD_RANDOM},     {"vlan_tpid", SKF_AD_VLAN_TPID},
    };
    auto it = names.find(name);
    if (it == names.end()) return std::nullopt;
    return static_cast<uint32_t>(SKF_AD_OFF + it->second);
}

std::string signed_k(uint32_t k) { return fmt::format("{}", static_cast<int32_t>(k)); }

std::string format_asm(std::span<const Insn> p) {
    const size_t n = p.size();
    // A jump out of the program (only in programs that fail the checker)
    // has no label to name: such an instruction is printed raw.
    // So is an instruction with fields its syntax has no place for (jt or jf
    // of a non-jump, k of an instruction without a constant).
    auto leaves_program = [&](size_t i, const Insn& in) {
        if (in.code == (BPF_JMP | BPF_JA)) return in.jt || in.jf || static_cast<uint32_t>(i + 1 + in.k) >= n;
        if (is_conditional_jump(in.code))
            return i + 1 + in.jt >= n || i + 1 + in.jf >= n || (BPF_SRC(in.code) == BPF_X && in.k);
        if (in.jt || in.jf) return true;
        const bool no_k = BPF_CLASS(in.code) == BPF_MISC || in.code == (BPF_RET | BPF_A) ||
                          in.code == (BPF_ALU | BPF_NEG) || in.code == (BPF_LD | BPF_W | BPF_LEN) ||
                          in.code == (BPF_LDX | BPF_W | BPF_LEN) ||
                          (BPF_CLASS(in.code) == BPF_ALU && BPF_SRC(in.code) == BPF_X);
        return no_k && in.k != 0;
    };
    std::set<size_t> targets;
    auto add_target = [&](size_t t) { targets.insert(t); };
    for (size_t i = 0; i < n; i++) {
        const Insn& in = p[i];
        if (leaves_program(i, in)) continue;
        if (in.code == (BPF_JMP | BPF_JA)) add_target(static_cast<uint32_t>(i + 1 + in.k));
        else if (is_conditional_jump(in.code)) {
            // The targets the printed form names (see below).
            const bool invertible = BPF_OP(in.code) != BPF_JSET;
            if (in.jf == 0) add_target(i + 1 + in.jt);
            else if (in.jt == 0 && invertible) add_target(i + 1 + in.jf);
            else {
                add_target(i + 1 + in.jt);
                add_target(i + 1 + in.jf);
            }
        }
    }
    auto label = [](size_t t) { return fmt::format("L{}", t); };
    std::string out;
    for (size_t i = 0; i < n; i++) {
        if (targets.count(i)) out += label(i) + ":\n";
        const Insn& in = p[i];
        const uint32_t k = in.k;
        std::string s;
        const char* size = BPF_SIZE(in.code) == BPF_W ? "ld" : BPF_SIZE(in.code) == BPF_H ? "ldh" : "ldb";
        switch (leaves_program(i, in) ? 0xffff : in.code) {
        case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
            if (const char* e = asm_extension_name(k)) s = fmt::format("{} #{}", size, e);
            else s = fmt::format("{} [{}]", size, signed_k(k));
            break;
        case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
            s = fmt::format("{} [x + {}]", size, signed_k(k));
            break;
        case BPF_LD | BPF_W | BPF_LEN: s = "ld #len"; break;
        case BPF_LDX | BPF_W | BPF_LEN: s = "ldx #len"; break;
        case BPF_LD | BPF_IMM: s = fmt::format("ld #0x{:x}", k); break;
        case BPF_LDX | BPF_IMM: s = fmt::format("ldx #0x{:x}", k); break;
        case BPF_LD | BPF_MEM: s = fmt::format("ld M[{}]", k); break;
        case BPF_LDX | BPF_MEM: s = fmt::format("ldx M[{}]", k); break;
        case BPF_LDX | BPF_B | BPF_MSH: s = fmt::format("ldxb 4*([{}]&0xf)", signed_k(k)); break;
        case BPF_ST: s = fmt::format("st M[{}]", k); break;
        case BPF_STX: s = fmt::format("stx M[{}]", k); break;
        case BPF_MISC | BPF_TAX: s = "tax"; break;
        case BPF_MISC | BPF_TXA: s = "txa"; break;
        case BPF_RET | BPF_K: s = fmt::format("ret #{}", k); break;
        case BPF_RET | BPF_A: s = "ret a"; break;
        case BPF_ALU | BPF_NEG: s = "neg"; break;
        case BPF_JMP | BPF_JA: s = fmt::format("ja {}", label(static_cast<uint32_t>(i + 1 + k))); break;
        default:
            if (leaves_program(i, in)) {
                s = fmt::format("raw 0x{:x}, {}, {}, 0x{:x}", in.code, in.jt, in.jf, k);
            } else if (BPF_CLASS(in.code) == BPF_ALU && in.code <= 0xff && is_known_opcode(in.code)) {
                static const std::map<int, const char*> ops = {
                    {BPF_ADD, "add"}, {BPF_SUB, "sub"}, {BPF_MUL, "mul"}, {BPF_DIV, "div"}, {BPF_MOD, "mod"},
                    {BPF_AND, "and"}, {BPF_OR, "or"},   {BPF_XOR, "xor"}, {BPF_LSH, "lsh"}, {BPF_RSH, "rsh"}};
                const uint8_t op = BPF_OP(in.code);
                const bool hex = op == BPF_AND || op == BPF_OR || op == BPF_XOR;
                if (BPF_SRC(in.code) == BPF_X) s = fmt::format("{} x", ops.at(op));
                else s = hex ? fmt::format("{} #0x{:x}", ops.at(op), k) : fmt::format("{} #{}", ops.at(op), k);
            } else if (is_known_opcode(in.code) && is_conditional_jump(in.code)) {
                const uint8_t op = BPF_OP(in.code);
                const std::string v = BPF_SRC(in.code) == BPF_X ? std::string("x") : fmt::format("#0x{:x}", k);
                const char* name = op == BPF_JEQ ? "jeq" : op == BPF_JGT ? "jgt" : op == BPF_JGE ? "jge" : "jset";
                const size_t jt = i + 1 + in.jt, jf = i + 1 + in.jf;
                if (in.jf == 0) s = fmt::format("{} {}, {}", name, v, label(jt));
                else if (in.jt == 0 && op != BPF_JSET)
                    s = fmt::format("{} {}, {}", op == BPF_JEQ ? "jne" : op == BPF_JGT ? "jle" : "jlt", v, label(jf));
                else s = fmt::format("{} {}, {}, {}", name, v, label(jt), label(jf));
            } else {
                s = fmt::format("raw 0x{:x}, {}, {}, 0x{:x}", in.code, in.jt, in.jf, k);
            }
            break;
        }
        out += "    " + s + "\n";
    }
    return out;
}

// ---------------------------------------------------------------- input

struct ParseError {
    int line;
    int column;
    std::string message;
};

class Cursor {
public:
    Cursor(std::string_view text, int line, size_t column0 = 0) : s_(text), line_(line), pos_(column0) {}
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) pos_++;
    }
    bool at_end() {
        skip_ws();
        return pos_ >= s_.size();
    }
    char peek() {
        skip_ws();
        return pos_ < s_.size() ? s_[pos_] : '\0';
    }
    bool accept(char c) {
        if (peek() == c) {
            pos_++;
            return true;
        }
        return false;
    }
    bool accept_word(std::string_view w) {
        skip_ws();
        if (s_.substr(pos_, w.size()) != w) return false;
        size_t end = pos_ + w.size();
        if (end < s_.size() && is_ident(s_[end])) return false;
        pos_ = end;
        return true;
    }
    static bool is_ident(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    }
    std::string_view ident() {
        skip_ws();
        size_t b = pos_;
        if (pos_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                 s_[pos_] == '.'))
            while (pos_ < s_.size() && is_ident(s_[pos_])) pos_++;
        return s_.substr(b, pos_ - b);
    }
    // A 32-bit number: decimal, 0x hex, 0 octal, 0b binary; negative values wrap.
    std::optional<uint32_t> number(bool decimal = false) {
        skip_ws();
        size_t b = pos_;
        bool neg = false;
        if (pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '+')) neg = s_[pos_++] == '-';
        int base = 10;
        if (decimal) {
        } else if (s_.substr(pos_, 2) == "0x" || s_.substr(pos_, 2) == "0X") base = 16, pos_ += 2;
        else if (s_.substr(pos_, 2) == "0b" || s_.substr(pos_, 2) == "0B") base = 2, pos_ += 2;
        else if (pos_ + 1 < s_.size() && s_[pos_] == '0' && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))
            base = 8, pos_ += 1;
        uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v, base);
        size_t used = static_cast<size_t>(ptr - (s_.data() + pos_));
        if (ec != std::errc() || used == 0 || (pos_ + used < s_.size() && is_ident(s_[pos_ + used]))) {
            pos_ = b;
            return std::nullopt;
        }
        pos_ += used;
        if (neg ? v > 0x80000000ull : v > 0xffffffffull) {
            pos_ = b;
            return std::nullopt;
        }
        return neg ? static_cast<uint32_t>(-static_cast<int64_t>(v)) : static_cast<uint32_t>(v);
    }
    int column() const { return static_cast<int>(pos_) + 1; }
    size_t pos() const { return pos_; }
    std::string_view rest() const { return s_.substr(pos_); }
    int line() const { return line_; }
    ParseError error(std::string message) const { return {line_, column(), std::move(message)}; }
    ParseError error_at(size_t pos, std::string message) const {
        return {line_, static_cast<int>(pos) + 1, std::move(message)};
    }

private:
    std::string_view s_;
    int line_;
    size_t pos_;
};

// One operand of bpf_asm or tcpdump -d.
struct Operand {
    enum Kind { None, Imm, Len, Ext, Mem, Abs, Ind, Msh, X, A, Label, Number } kind = None;
    uint32_t k = 0;
    std::string label;
    size_t pos = 0;
};

std::optional<ParseError> parse_operand(Cursor& c, Operand& o) {
    c.skip_ws();
    o.pos = c.pos();
    if (c.accept('#')) {
        if (auto v = c.number()) {
            o.kind = Operand::Imm;
            o.k = *v;
            return std::nullopt;
        }
        auto id = c.ident();
        if (id == "len" || id == "pktlen") {
            o.kind = Operand::Len;
            return std::nullopt;
        }
        if (auto e = extension_by_name(id)) {
            o.kind = Operand::Ext;
            o.k = *e;
            return std::nullopt;
        }
        return c.error_at(o.pos + 1, "expected a number or an extension (len, proto, type, ifidx, ...) after '#'");
    }
    if (c.accept('[')) {
        if (c.accept_word("x") || (c.peek() == '%' && (c.accept('%'), c.accept_word("x")))) {
            uint32_t k = 0;
            if (c.accept('+')) {
                auto v = c.number();
                if (!v) return c.error("expected a number after 'x +'");
                k = *v;
            } else if (c.peek() == '-') {
                auto v = c.number();
                if (!v) return c.error("expected a number after 'x'");
                k = *v;
            }
            if (!c.accept(']')) return c.error("expected ']'");
            o.kind = Operand::Ind;
            o.k = k;
            return std::nullopt;
        }
        if (auto v = c.number()) {
            if (!c.accept(']')) return c.error("expected ']'");
            o.kind = Operand::Abs;
            o.k = *v;
            return std::nullopt;
        }
        size_t at = c.pos();
        auto id = c.ident();
        if (auto e = extension_by_name(id)) {
            if (!c.accept(']')) return c.error("expected ']'");
            o.kind = Operand::Ext;
            o.k = *e;
            return std::nullopt;
        }
        return c.error_at(at, "expected an offset, 'x + offset' or an extension name inside [ ]");
    }
    if (c.peek() == 'M' && c.rest().size() > 1 && c.rest()[1] == '[') {
        c.accept('M');
        c.accept('[');
        auto v = c.number();
        if (!v) return c.error("expected a number inside M[ ]");
        if (!c.accept(']')) return c.error("expected ']'");
        o.kind = Operand::Mem;
        o.k = *v;
        return std::nullopt;
    }
    if (c.peek() == '%') {
        c.accept('%');
        if (c.accept_word("x")) o.kind = Operand::X;
        else if (c.accept_word("a")) o.kind = Operand::A;
        else return c.error("expected %x or %a");
        return std::nullopt;
    }
    if (auto v = c.number()) {
        if (c.accept('*')) {
            // 4*([k]&0xf)
            size_t at = o.pos;
            if (*v != 4) return c.error_at(at, "expected 4*([k]&0xf)");
            if (!c.accept('(') || !c.accept('[')) return c.error("expected '([' in 4*([k]&0xf)");
            auto k = c.number();
            if (!k) return c.error("expected the offset in 4*([k]&0xf)");
            if (!c.accept(']') || !c.accept('&')) return c.error("expected ']&' in 4*([k]&0xf)");
            auto mask = c.number();
            if (!mask || *mask != 0xf) return c.error("expected 0xf in 4*([k]&0xf)");
            if (!c.accept(')')) return c.error("expected ')'");
            o.kind = Operand::Msh;
            o.k = *k;
            return std::nullopt;
        }
        o.kind = Operand::Number;
        o.k = *v;
        return std::nullopt;
    }
    auto id = c.ident();
    if (id.empty()) return c.error("expected an operand");
    if (id == "x") o.kind = Operand::X;
    else if (id == "a") o.kind = Operand::A;
    else if (id == "len" || id == "pktlen") o.kind = Operand::Len;
    else if (auto e = extension_by_name(id)) {
        o.kind = Operand::Ext;
        o.k = *e;
        o.label = std::string(id); // may also be a label, for jumps
    } else {
        o.kind = Operand::Label;
        o.label = std::string(id);
    }
    return std::nullopt;
}

struct PendingJump {
    size_t insn;
    enum Field { Jt, Jf, K } field;
    std::string label;
    int line, column;
};

class AsmParser {
public:
    std::vector<Insn> insns;
    std::map<std::string, size_t> labels;
    std::vector<PendingJump> pending;

    // tcpdump -d's "jt N\tjf M": absolute targets.
    static std::optional<ParseError> listed_targets(Cursor& c, Insn& in, size_t listed_index) {
        uint32_t t[2];
        const char* names[2] = {"jt", "jf"};
        for (int j = 0; j < 2; j++) {
            if (!c.accept_word(names[j])) return c.error(fmt::format("expected '{} N'", names[j]));
            size_t at = (c.skip_ws(), c.pos());
            auto v = c.number();
            if (!v) return c.error("expected the target's index");
            if (*v <= listed_index || *v - listed_index - 1 > 255)
                return c.error_at(at, fmt::format("jump target {} is not 1 to 256 instructions ahead of "
                                                  "instruction {}",
                                                  *v, listed_index));
            t[j] = *v - static_cast<uint32_t>(listed_index) - 1;
        }
        in.jt = static_cast<uint8_t>(t[0]);
        in.jf = static_cast<uint8_t>(t[1]);
        return std::nullopt;
    }

    std::optional<ParseError> line(std::string_view text, int lineno) {
        Cursor c(text, lineno);
        if (c.at_end()) return std::nullopt;
        // tcpdump -d: "(012) ldh      [12]", jumps with absolute targets.
        bool listing = false;
        size_t listed_index = 0;
        if (c.peek() == '(') {
            c.accept('(');
            size_t at = c.pos();
            auto v = c.number(true);
            if (!v || !c.accept(')')) return c.error_at(at, "expected '(index)' as tcpdump -d prints it");
            if (*v != insns.size())
                return c.error_at(at, fmt::format("instruction ({:03}) is the program's instruction {}", *v,
                                                  insns.size()));
            listing = true;
            listed_index = *v;
        }
        // Labels: "name:" (several allowed), then maybe an instruction.
        for (;;) {
            Cursor probe = c;
            auto id = probe.ident();
            if (!id.empty() && probe.accept(':')) {
                if (listing) return c.error("labels are not part of tcpdump -d listings");
                std::string name(id);
                if (labels.count(name)) return c.error(fmt::format("label '{}' is defined twice", name));
                labels[name] = insns.size();
                c = probe;
                if (c.at_end()) return std::nullopt;
                continue;
            }
            break;
        }
        size_t mpos = (c.skip_ws(), c.pos());
        std::string mnemonic(c.ident());
        if (mnemonic.empty()) return c.error("expected an instruction");
        for (auto& ch : mnemonic) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        Insn in;
        auto bad = [&](const Operand& o, std::string_view what) {
            return c.error_at(o.pos, fmt::format("'{}' takes {}", mnemonic, what));
        };
        auto operand = [&](Operand& o) -> std::optional<ParseError> {
            if (c.at_end()) return c.error(fmt::format("'{}' needs an operand", mnemonic));
            return parse_operand(c, o);
        };
        Operand o;
        if (mnemonic == "ld" || mnemonic == "ldi" || mnemonic == "ldh" || mnemonic == "ldb") {
            if (auto e = operand(o)) return e;
            const uint16_t size = mnemonic == "ldh" ? BPF_H : mnemonic == "ldb" ? BPF_B : BPF_W;
            if (mnemonic == "ldi") {
                if (o.kind != Operand::Imm && o.kind != Operand::Number) return bad(o, "#k");
                in.code = BPF_LD | BPF_IMM;
            } else if (o.kind == Operand::Imm && size == BPF_W) in.code = BPF_LD | BPF_IMM;
            else if (o.kind == Operand::Len && size == BPF_W) in.code = BPF_LD | BPF_W | BPF_LEN;
            else if (o.kind == Operand::Mem && size == BPF_W) in.code = BPF_LD | BPF_MEM;
            else if (o.kind == Operand::Ext || o.kind == Operand::Abs) in.code = BPF_LD | size | BPF_ABS;
            else if (o.kind == Operand::Ind) in.code = BPF_LD | size | BPF_IND;
            else return bad(o, size == BPF_W ? "#k, #len, M[k], [k], [x + k] or an extension" : "[k], [x + k] or an extension");
            in.k = o.k;
        } else if (mnemonic == "ldx" || mnemonic == "ldxi" || mnemonic == "ldxb") {
            if (auto e = operand(o)) return e;
            if (mnemonic == "ldxb") {
                if (o.kind != Operand::Msh) return bad(o, "4*([k]&0xf)");
                in.code = BPF_LDX | BPF_B | BPF_MSH;
            } else if (mnemonic == "ldxi") {
                if (o.kind != Operand::Imm && o.kind != Operand::Number) return bad(o, "#k");
                in.code = BPF_LDX | BPF_IMM;
            } else if (o.kind == Operand::Imm) in.code = BPF_LDX | BPF_IMM;
            else if (o.kind == Operand::Len) in.code = BPF_LDX | BPF_W | BPF_LEN;
            else if (o.kind == Operand::Mem) in.code = BPF_LDX | BPF_MEM;
            else if (o.kind == Operand::Msh) in.code = BPF_LDX | BPF_B | BPF_MSH;
            else return bad(o, "#k, #len, M[k] or 4*([k]&0xf)");
            in.k = o.k;
        } else if (mnemonic == "st" || mnemonic == "stx") {
            if (auto e = operand(o)) return e;
            if (o.kind != Operand::Mem) return bad(o, "M[k]");
            in.code = mnemonic == "st" ? BPF_ST : BPF_STX;
            in.k = o.k;
        } else if (mnemonic == "ja" || mnemonic == "jmp") {
            in.code = BPF_JMP | BPF_JA;
            size_t at = (c.skip_ws(), c.pos());
            if (auto e = operand(o)) return e;
            if (o.kind == Operand::Number) {
                // tcpdump -d: the absolute target (may be backward: k wraps).
                in.k = static_cast<uint32_t>(o.k - insns.size() - 1);
            } else if (o.kind == Operand::Label || (o.kind == Operand::Ext && !o.label.empty())) {
                pending.push_back({insns.size(), PendingJump::K, o.label, lineno, static_cast<int>(at) + 1});
            } else {
                return bad(o, "a label");
            }
        } else if (mnemonic == "jeq" || mnemonic == "jgt" || mnemonic == "jge" || mnemonic == "jset" ||
                   mnemonic == "jne" || mnemonic == "jneq" || mnemonic == "jlt" || mnemonic == "jle") {
            if (auto e = operand(o)) return e;
            uint16_t src;
            if (o.kind == Operand::Imm) src = BPF_K;
            else if (o.kind == Operand::X) src = BPF_X;
            else return bad(o, "#k or x, then the jump targets");
            in.k = src == BPF_K ? o.k : 0;
            const bool inverted = mnemonic == "jne" || mnemonic == "jneq" || mnemonic == "jlt" || mnemonic == "jle";
            uint16_t op = BPF_JEQ;
            if (mnemonic == "jgt" || mnemonic == "jle") op = BPF_JGT;
            else if (mnemonic == "jge" || mnemonic == "jlt") op = BPF_JGE;
            else if (mnemonic == "jset") op = BPF_JSET;
            in.code = static_cast<uint16_t>(BPF_JMP | op | src);
            if (listing) {
                if (auto e = listed_targets(c, in, listed_index)) return e;
            } else {
                std::vector<std::pair<std::string, size_t>> targets;
                while (c.accept(',')) {
                    size_t at = (c.skip_ws(), c.pos());
                    auto id = c.ident();
                    if (id.empty()) return c.error("expected a label");
                    targets.emplace_back(std::string(id), at);
                }
                const size_t max = inverted ? 1 : 2;
                if (targets.empty() || targets.size() > max)
                    return c.error_at(mpos, fmt::format("'{}' takes {} label{}", mnemonic,
                                                        max == 1 ? "one" : "one or two", max == 1 ? "" : "s"));
                if (inverted) {
                    pending.push_back({insns.size(), PendingJump::Jf, targets[0].first, lineno,
                                       static_cast<int>(targets[0].second) + 1});
                } else {
                    pending.push_back({insns.size(), PendingJump::Jt, targets[0].first, lineno,
                                       static_cast<int>(targets[0].second) + 1});
                    if (targets.size() == 2)
                        pending.push_back({insns.size(), PendingJump::Jf, targets[1].first, lineno,
                                           static_cast<int>(targets[1].second) + 1});
                }
            }
        } else if (mnemonic == "add" || mnemonic == "sub" || mnemonic == "mul" || mnemonic == "div" ||
                   mnemonic == "mod" || mnemonic == "and" || mnemonic == "or" || mnemonic == "xor" ||
                   mnemonic == "lsh" || mnemonic == "rsh") {
            static const std::map<std::string_view, uint16_t> ops = {
                {"add", BPF_ADD}, {"sub", BPF_SUB}, {"mul", BPF_MUL}, {"div", BPF_DIV}, {"mod", BPF_MOD},
                {"and", BPF_AND}, {"or", BPF_OR},   {"xor", BPF_XOR}, {"lsh", BPF_LSH}, {"rsh", BPF_RSH}};
            if (auto e = operand(o)) return e;
            if (o.kind == Operand::Imm) in.code = static_cast<uint16_t>(BPF_ALU | ops.at(mnemonic) | BPF_K);
            else if (o.kind == Operand::X) in.code = static_cast<uint16_t>(BPF_ALU | ops.at(mnemonic) | BPF_X);
            else return bad(o, "#k or x");
            in.k = o.kind == Operand::Imm ? o.k : 0;
        } else if (mnemonic == "neg") {
            in.code = BPF_ALU | BPF_NEG;
        } else if (mnemonic == "tax") {
            in.code = BPF_MISC | BPF_TAX;
        } else if (mnemonic == "txa") {
            in.code = BPF_MISC | BPF_TXA;
        } else if (mnemonic == "ret") {
            if (c.at_end()) {
                in.code = BPF_RET | BPF_A; // tcpdump -d prints "ret" for ret a
            } else {
                if (auto e = operand(o)) return e;
                if (o.kind == Operand::Imm) in.code = BPF_RET | BPF_K, in.k = o.k;
                else if (o.kind == Operand::A) in.code = BPF_RET | BPF_A;
                else if (o.kind == Operand::X) in.code = BPF_RET | BPF_X;
                else return bad(o, "#k, a or x");
            }
        } else if (mnemonic == "unimp") {
            // tcpdump -d's line for an opcode it does not know: "unimp 0x81".
            auto v = c.number();
            if (!v || *v > 0xffff) return c.error("expected the opcode after 'unimp'");
            in.code = static_cast<uint16_t>(*v);
            if (listing && c.peek() == 'j')
                if (auto e = listed_targets(c, in, listed_index)) return e;
        } else if (mnemonic == "raw") {
            // bpfvm: any instruction as code, jt, jf, k.
            uint32_t f[4];
            for (int j = 0; j < 4; j++) {
                if (j > 0 && !c.accept(',')) return c.error("expected ','");
                auto v = c.number();
                if (!v) return c.error("expected a number");
                f[j] = *v;
            }
            if (f[0] > 0xffff || f[1] > 255 || f[2] > 255) return c.error_at(mpos, "raw: code, jt or jf out of range");
            in.code = static_cast<uint16_t>(f[0]);
            in.jt = static_cast<uint8_t>(f[1]);
            in.jf = static_cast<uint8_t>(f[2]);
            in.k = f[3];
        } else {
            return c.error_at(mpos, fmt::format("unknown instruction '{}'", mnemonic));
        }
        if (!c.at_end()) return c.error(fmt::format("unexpected '{}' after the instruction", c.rest()));
        insns.push_back(in);
        return std::nullopt;
    }

    std::optional<ParseError> resolve() {
        for (const auto& j : pending) {
            auto it = labels.find(j.label);
            if (it == labels.end()) return ParseError{j.line, j.column, fmt::format("label '{}' is not defined", j.label)};
            const size_t t = it->second;
            Insn& in = insns[j.insn];
            if (j.field == PendingJump::K) {
                // Backward targets wrap (libpcap accepts them; Linux's checker does not).
                in.k = static_cast<uint32_t>(t - j.insn - 1);
                continue;
            }
            if (t <= j.insn)
                return ParseError{j.line, j.column,
                                  fmt::format("label '{}' is not ahead of the jump: conditional jumps go forward only", j.label)};
            if (t - j.insn - 1 > 255)
                return ParseError{j.line, j.column,
                                  fmt::format("label '{}' is {} instructions ahead: a conditional jump reaches 256 at most",
                                              j.label, t - j.insn - 1)};
            (j.field == PendingJump::Jt ? in.jt : in.jf) = static_cast<uint8_t>(t - j.insn - 1);
        }
        return std::nullopt;
    }
};

// Comments become blanks (columns stay): /* */ (across lines), // and ; to
// the end of the line, and lines whose first non-blank character is '#'.
std::string strip_comments(std::string_view text) {
    std::string s(text);
    bool line_start = true;
    for (size_t i = 0; i < s.size(); i++) {
        char ch = s[i];
        if (ch == '\n') {
            line_start = true;
            continue;
        }
        if (ch == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            s[i] = s[i + 1] = ' ';
            size_t j = i + 2;
            while (j < s.size() && !(s[j] == '*' && j + 1 < s.size() && s[j + 1] == '/')) {
                if (s[j] != '\n') s[j] = ' ';
                j++;
            }
            if (j < s.size()) {
                s[j] = s[j + 1] = ' ';
                i = j + 1;
            } else {
                i = j;
            }
            continue;
        }
        if ((ch == '/' && i + 1 < s.size() && s[i + 1] == '/') || ch == ';' || (ch == '#' && line_start)) {
            while (i < s.size() && s[i] != '\n') s[i++] = ' ';
            i--;
            continue;
        }
        if (ch != ' ' && ch != '\t' && ch != '\r') line_start = false;
    }
    return s;
}

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> lines;
    size_t b = 0;
    for (;;) {
        size_t e = s.find('\n', b);
        if (e == std::string_view::npos) {
            lines.push_back(s.substr(b));
            return lines;
        }
        lines.push_back(s.substr(b, e - b));
        b = e + 1;
    }
}

Error to_error(const ParseError& e, std::string_view name) {
    Error err;
    err.file = std::string(name);
    err.line = e.line;
    err.message = fmt::format("column {}: {}", e.column, e.message);
    return err;
}

Result<std::vector<Insn>> parse_asm(std::string_view text, std::string_view name) {
    std::string clean = strip_comments(text);
    auto lines = split_lines(clean);
    AsmParser p;
    for (size_t i = 0; i < lines.size(); i++)
        if (auto e = p.line(lines[i], static_cast<int>(i + 1))) return tl::unexpected(to_error(*e, name));
    if (auto e = p.resolve()) return tl::unexpected(to_error(*e, name));
    if (p.insns.empty()) return tl::unexpected(to_error({1, 1, "no instructions"}, name));
    return p.insns;
}

std::optional<ParseError> check_fields(const uint32_t f[4], Cursor& c, size_t at) {
    if (f[0] > 0xffff) return c.error_at(at, fmt::format("opcode {} does not fit in 16 bits", f[0]));
    if (f[1] > 255 || f[2] > 255) return c.error_at(at, "jt and jf must be 0 to 255");
    return std::nullopt;
}

// -dd: "{ 0x28, 0, 0, 0x0000000c },"
Result<std::vector<Insn>> parse_dd(std::string_view text, std::string_view name) {
    std::string clean = strip_comments(text);
    auto lines = split_lines(clean);
    std::vector<Insn> out;
    for (size_t i = 0; i < lines.size(); i++) {
        Cursor c(lines[i], static_cast<int>(i + 1));
        if (c.at_end()) continue;
        size_t at = c.pos();
        const bool brace = c.accept('{');
        uint32_t f[4];
        for (int j = 0; j < 4; j++) {
            if (j > 0 && !c.accept(',')) return tl::unexpected(to_error(c.error("expected ','"), name));
            auto v = c.number();
            if (!v) return tl::unexpected(to_error(c.error("expected a number"), name));
            f[j] = *v;
        }
        if (brace && !c.accept('}')) return tl::unexpected(to_error(c.error("expected '}'"), name));
        c.accept(',');
        if (!c.at_end()) return tl::unexpected(to_error(c.error(fmt::format("unexpected '{}'", c.rest())), name));
        if (auto e = check_fields(f, c, at)) return tl::unexpected(to_error(*e, name));
        out.push_back(Insn{static_cast<uint16_t>(f[0]), static_cast<uint8_t>(f[1]), static_cast<uint8_t>(f[2]), f[3]});
    }
    if (out.empty()) return tl::unexpected(to_error({1, 1, "no instructions"}, name));
    return out;
}

// -ddd: the count, then "code jt jf k" per line; records may also be
// separated by commas on one line (bpf_asm's output: "4,40 0 0 12,...").
Result<std::vector<Insn>> parse_ddd(std::string_view text, std::string_view name) {
    std::string clean = strip_comments(text);
    auto lines = split_lines(clean);
    struct Record {
        std::string_view text;
        int line;
        size_t column0;
    };
    std::vector<Record> records;
    for (size_t i = 0; i < lines.size(); i++) {
        size_t b = 0;
        std::string_view l = lines[i];
        for (;;) {
            size_t e = l.find(',', b);
            std::string_view r = l.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
            if (r.find_first_not_of(" \t\r") != std::string_view::npos) records.push_back({l, int(i + 1), b});
            if (e == std::string_view::npos) break;
            b = e + 1;
        }
    }
    if (records.empty()) return tl::unexpected(to_error({1, 1, "no instructions"}, name));
    auto fields = [&](const Record& r, uint32_t* f, int count) -> std::optional<ParseError> {
        size_t end = r.text.find(',', r.column0);
        Cursor c(r.text.substr(0, end), r.line, r.column0);
        for (int j = 0; j < count; j++) {
            auto v = c.number();
            if (!v) return c.error(count == 1 ? "expected the instruction count" : "expected a number (code jt jf k)");
            f[j] = *v;
        }
        if (!c.at_end()) return c.error(fmt::format("unexpected '{}'", c.rest()));
        if (count == 4) return check_fields(f, c, r.column0);
        return std::nullopt;
    };
    uint32_t count;
    if (auto e = fields(records[0], &count, 1)) return tl::unexpected(to_error(*e, name));
    if (count != records.size() - 1)
        return tl::unexpected(to_error({records[0].line, static_cast<int>(records[0].column0) + 1,
                                        fmt::format("the count says {} instructions, {} follow", count,
                                                    records.size() - 1)},
                                       name));
    std::vector<Insn> out;
    for (size_t i = 1; i < records.size(); i++) {
        uint32_t f[4];
        if (auto e = fields(records[i], f, 4)) return tl::unexpected(to_error(*e, name));
        out.push_back(Insn{static_cast<uint16_t>(f[0]), static_cast<uint8_t>(f[1]), static_cast<uint8_t>(f[2]), f[3]});
    }
    if (out.empty()) return tl::unexpected(to_error({1, 1, "no instructions"}, name));
    return out;
}

TextFormat detect(std::string_view text) {
    std::string clean = strip_comments(text);
    size_t i = clean.find_first_not_of(" \t\r\n");
    if (i == std::string::npos) return TextFormat::BpfAsm;
    if (clean[i] == '(') return TextFormat::TcpdumpD;
    if (clean[i] == '{') return TextFormat::TcpdumpDD;
    if (std::isdigit(static_cast<unsigned char>(clean[i]))) {
        size_t e = clean.find_first_of(",\n", i);
        std::string_view first = std::string_view(clean).substr(i, e == std::string::npos ? std::string::npos : e - i);
        size_t sp = first.find_first_of(" \t");
        bool single = sp == std::string_view::npos || first.find_first_not_of(" \t\r", sp) == std::string_view::npos;
        return single ? TextFormat::TcpdumpDDD : TextFormat::TcpdumpDD;
    }
    return TextFormat::BpfAsm;
}

} // namespace

std::string format(std::span<const Insn> program, TextFormat format) {
    std::string out;
    switch (format) {
    case TextFormat::BpfAsm: return format_asm(program);
    case TextFormat::TcpdumpD:
        for (size_t i = 0; i < program.size(); i++) out += image(program[i], i) + "\n";
        return out;
    case TextFormat::TcpdumpDD:
        for (const Insn& in : program) out += fmt::format("{{ 0x{:x}, {}, {}, 0x{:08x} }},\n", in.code, in.jt, in.jf, in.k);
        return out;
    case TextFormat::TcpdumpDDD:
        out += fmt::format("{}\n", program.size());
        for (const Insn& in : program) out += fmt::format("{} {} {} {}\n", in.code, in.jt, in.jf, in.k);
        return out;
    }
    return out;
}

Result<std::vector<Insn>> parse(std::string_view text, TextFormat format, std::string_view name) {
    switch (format) {
    case TextFormat::BpfAsm:
    case TextFormat::TcpdumpD: return parse_asm(text, name);
    case TextFormat::TcpdumpDD: return parse_dd(text, name);
    case TextFormat::TcpdumpDDD: return parse_ddd(text, name);
    }
    return make_error("unknown text format");
}

Result<std::vector<Insn>> parse(std::string_view text, std::string_view name) {
    return parse(text, detect(text), name);
}

} // namespace bpfvm::cbpf
