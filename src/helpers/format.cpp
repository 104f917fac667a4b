// Linux's formatted output for BPF programs: bpf_bprintf_prepare's rules
// (kernel/bpf/helpers.c) decide what is accepted and how much argument space
// it takes; the output is what the kernel's vsnprintf prints for it.
#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "bpfvm/helpers.h"

namespace bpfvm {
namespace {

// The kernel's ctype (lib/ctype.c, Latin-1 above 0x7f).
bool k_isspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }
bool k_isprint(unsigned char c) { return (c >= 0x20 && c <= 0x7e) || c >= 0xa0; }
bool k_isalnum(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c >= 0xc0 && c != 0xd7 && c != 0xf7;
}
bool k_ispunct(unsigned char c) {
    if (c < 0x80) return c > 0x20 && c < 0x7f && !k_isalnum(c);
    return (c >= 0xa1 && c <= 0xbf) || c == 0xd7 || c == 0xf7;
}

struct Spec {
    bool left = false, plus = false, space = false, zero = false;
    uint64_t width = 0;
};

// Appends to out, keeping at most `cap` bytes, while counting them all.
struct Output {
    std::string& out;
    size_t cap;
    size_t total = 0;
    void put(std::string_view s) {
        if (out.size() < cap) out.append(s.substr(0, cap - out.size()));
        total += s.size();
    }
    void fill(char c, uint64_t n) {
        if (out.size() < cap) out.append(static_cast<size_t>(std::min<uint64_t>(n, cap - out.size())), c);
        total += n;
    }
    // A field of `width`: text padded with spaces (left or right).
    void field(std::string_view s, const Spec& spec) {
        uint64_t pad = spec.width > s.size() ? spec.width - s.size() : 0;
        if (!spec.left) fill(' ', pad);
        put(s);
        if (spec.left) fill(' ', pad);
    }
    void number(std::string_view sign, std::string_view digits, const Spec& spec) {
        uint64_t len = sign.size() + digits.size();
        uint64_t pad = spec.width > len ? spec.width - len : 0;
        if (spec.left) {
            put(sign), put(digits), fill(' ', pad);
        } else if (spec.zero) {
            put(sign), fill('0', pad), put(digits);
        } else {
            fill(' ', pad), put(sign), put(digits);
        }
    }
};

constexpr uint64_t kFieldWidthMax = (1u << 23) - 1; // the kernel's FIELD_WIDTH_MAX

std::string symbol_of(uint64_t addr, bool offset) {
    Dl_info info{};
    if (addr && dladdr(reinterpret_cast<void*>(addr), &info) && info.dli_sname && info.dli_saddr) {
        uint64_t off = addr - reinterpret_cast<uint64_t>(info.dli_saddr);
        if (offset) return fmt::format("{}+0x{:x}", info.dli_sname, off);
        return info.dli_sname;
    }
    return fmt::format("0x{:x}", addr);
}

} // namespace

long bprintf(std::string& out, const char* fmt, size_t fmt_size, const uint64_t* args, uint32_t num_args,
             size_t max_out) {
    out.clear();
    const void* end = std::memchr(fmt, 0, fmt_size);
    if (!end) return -EINVAL;
    const size_t n = static_cast<size_t>(static_cast<const char*>(end) - fmt);
    auto at = [&](size_t k) -> unsigned char { return k < n ? static_cast<unsigned char>(fmt[k]) : 0; };

    // Pass 1 (bpf_bprintf_prepare) validates and reads the arguments; pass 2
    // prints. Strings are read in pass 1, into the room Linux gives them.
    struct Piece {
        enum Kind { Text, Int, Char, Str, Ptr, PtrSym, Ip } kind;
        size_t text_begin = 0, text_len = 0; // Text
        Spec spec;
        char conv = 0; // Int: d i u x X; Ptr/PtrSym: the modifier
        int size = 4;  // Int: 4 or 8 bytes
        uint64_t value = 0;
        std::string str; // Str, Ip
    };
    std::vector<Piece> pieces;
    size_t used = 0; // bytes of Linux's MAX_BPRINTF_BIN_ARGS buffer
    const size_t room = FormatLimits::kMaxBinArgs;
    uint32_t num_spec = 0;
    size_t text_from = 0;
    auto flush_text = [&](size_t upto) {
        if (upto > text_from) {
            Piece p{Piece::Text};
            p.text_begin = text_from;
            p.text_len = upto - text_from;
            pieces.push_back(std::move(p));
        }
    };
    auto take_arg = [&](int size) -> long {
        used = (used + 3) & ~size_t(3);
        if (room - std::min(room, used) < static_cast<size_t>(size)) return -ENOSPC;
        used += static_cast<size_t>(size);
        return 0;
    };

    for (size_t i = 0; i < n; i++) {
        unsigned char c = at(i);
        if (c < 0x80 && !k_isprint(c) && !k_isspace(c)) return -EINVAL;
        if (c != '%') continue;
        if (at(i + 1) == '%') {
            flush_text(i + 1); // keeps one '%'
            i++;
            text_from = i + 1;
            continue;
        }
        if (num_spec >= num_args) return -EINVAL;
        flush_text(i);
        i++;
        if (at(i) >= 0x80) return -EINVAL;
        Spec spec;
        for (;; i++) {
            unsigned char f = at(i);
            if (f == '0') spec.zero = true;
            else if (f == '+') spec.plus = true;
            else if (f == '-') spec.left = true;
            else if (f == ' ') spec.space = true;
            else break;
        }
        if (spec.left) spec.zero = false;
        if (at(i) >= '1' && at(i) <= '9') {
            while (at(i) >= '0' && at(i) <= '9') {
                spec.width = std::min<uint64_t>(spec.width * 10 + (at(i) - '0'), kFieldWidthMax);
                i++;
            }
        }
        const uint64_t arg = args[num_spec];
        Piece p{Piece::Int};
        p.spec = spec;
        p.value = arg;
        if (at(i) == 'p') {
            unsigned char m = at(i + 1);
            if (m == 0 || k_isspace(m) || k_ispunct(m)) {
                p.kind = Piece::Ptr;
                p.conv = 'p';
                if (long e = take_arg(8)) return e;
            } else if ((m == 'k' || m == 'u') && at(i + 2) == 's') {
                i += 2;
                goto string_arg;
            } else if (m == 'K' || m == 'x' || m == 's' || m == 'S') {
                p.kind = (m == 's' || m == 'S') ? Piece::PtrSym : Piece::Ptr;
                p.conv = static_cast<char>(m);
                i++;
                if (long e = take_arg(8)) return e;
            } else if (m == 'B') {
                p.kind = Piece::PtrSym;
                p.conv = 'B';
                i++;
                std::string sym = symbol_of(arg, true);
                used += sym.size() + 1;
            } else {
                if ((m != 'i' && m != 'I') || (at(i + 2) != '4' && at(i + 2) != '6')) return -EINVAL;
                i += 2;
                const size_t len = at(i) == '4' ? 4 : 16;
                if (room - std::min(room, used) < len) return -ENOSPC;
                uint8_t ip[16];
                read_memory(ip, arg, len); // zeroed when unreadable, as Linux
                if (len == 4 && m == 'I') p.str = fmt::format("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
                else if (len == 4) p.str = fmt::format("{:03}.{:03}.{:03}.{:03}", ip[0], ip[1], ip[2], ip[3]);
                else {
                    for (size_t k = 0; k < 16; k += 2) {
                        if (m == 'I' && k) p.str += ':';
                        p.str += fmt::format("{:02x}{:02x}", ip[k], ip[k + 1]);
                    }
                }
                p.kind = Piece::Ip;
                used += p.str.size() + 1;
            }
            // The kernel's vsnprintf skips what follows %p up to a non-alphanumeric.
            while (k_isalnum(at(i + 1))) i++;
        } else if (at(i) == 's') {
        string_arg:
            if (at(i + 1) != 0 && !k_isspace(at(i + 1)) && !k_ispunct(at(i + 1))) return -EINVAL;
            if (used >= room) return -ENOSPC;
            std::string buf(room - used, '\0');
            long r = read_string(buf.data(), arg, buf.size());
            if (r < 0) r = 1, buf[0] = 0; // a bad pointer prints as an empty string
            p.kind = Piece::Str;
            p.str.assign(buf.data(), static_cast<size_t>(r) - 1);
            used += static_cast<size_t>(r);
        } else if (at(i) == 'c') {
            if (used >= room) return -ENOSPC;
            p.kind = Piece::Char;
            used += 1;
        } else {
            int size = 4;
            if (at(i) == 'l') size = 8, i++;
            if (at(i) == 'l') size = 8, i++;
            unsigned char conv = at(i);
            if (conv != 'i' && conv != 'd' && conv != 'u' && conv != 'x' && conv != 'X') return -EINVAL;
            p.conv = static_cast<char>(conv);
            p.size = size;
            if (long e = take_arg(size)) return e;
        }
        pieces.push_back(std::move(p));
        num_spec++;
        text_from = i + 1;
    }
    flush_text(n);

    Output o{out, max_out};
    for (const Piece& p : pieces) {
        switch (p.kind) {
        case Piece::Text: o.put(std::string_view(fmt + p.text_begin, p.text_len)); break;
        case Piece::Int: {
            uint64_t v = p.size == 8 ? p.value : static_cast<uint32_t>(p.value);
            std::string sign, digits;
            if (p.conv == 'd' || p.conv == 'i') {
                int64_t s = p.size == 8 ? static_cast<int64_t>(v) : static_cast<int32_t>(v);
                if (s < 0) sign = "-";
                else if (p.spec.plus) sign = "+";
                else if (p.spec.space) sign = " ";
                uint64_t mag = s < 0 ? 0 - static_cast<uint64_t>(s) : static_cast<uint64_t>(s);
                digits = fmt::format("{}", mag);
            } else if (p.conv == 'u') {
                digits = fmt::format("{}", v);
            } else if (p.conv == 'x') {
                digits = fmt::format("{:x}", v);
            } else {
                digits = fmt::format("{:X}", v);
            }
            o.number(sign, digits, p.spec);
            break;
        }
        case Piece::Char: {
            char ch = static_cast<char>(p.value);
            o.field(std::string_view(&ch, 1), p.spec);
            break;
        }
        case Piece::Str:
        case Piece::Ip: o.field(p.str, p.spec); break;
        case Piece::Ptr: {
            // Not hashed: the address is this process's own (docs/helpers.md).
            std::string digits = fmt::format("{:x}", p.value);
            Spec s = p.spec;
            if (s.width == 0) s.width = 16, s.zero = true;
            o.number("", digits, s);
            break;
        }
        case Piece::PtrSym: o.field(symbol_of(p.value, p.conv != 's'), p.spec); break;
        }
    }
    return static_cast<long>(o.total);
}

} // namespace bpfvm
