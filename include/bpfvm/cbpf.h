// Classic BPF (cBPF): the socket-filter / tcpdump / seccomp instruction set.
// Checked as Linux checks socket filters, translated to eBPF as Linux does
// (net/core/filter.c), and run on bpfvm's engines. See docs/cbpf.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"

// bpfvm::Insn (the eBPF instruction) is only declared here, so that this
// header does not pull in <linux/bpf.h>, whose struct bpf_insn clashes with
// libpcap's <pcap/bpf.h>: include "bpfvm/insn.h" to use ebpf()/to_ebpf().
namespace bpfvm {
struct Insn;
}

namespace bpfvm::cbpf {

// One instruction, laid out as Linux's struct sock_filter and libpcap's
// struct bpf_insn (so a pcap_compile result can be used as it is).
struct Insn {
    uint16_t code = 0;
    uint8_t jt = 0;
    uint8_t jf = 0;
    uint32_t k = 0;

    friend bool operator==(const Insn&, const Insn&) = default;
};
static_assert(sizeof(Insn) == 8);

constexpr size_t kMaxInsns = 4096; // BPF_MAXINSNS
constexpr int kMemWords = 16;      // BPF_MEMWORDS: M[0..15]

// Where Linux and libpcap give a program different meanings (docs/cbpf.md):
// Linux is the default; Libpcap gives libpcap's bpf_filter() behaviour.
enum class Dialect : uint8_t { Linux, Libpcap };

// Linux's bpf_check_classic() (and libpcap's bpf_validate() for Libpcap): an
// error names the instruction index and the reason.
Result<void> check(std::span<const Insn> program, Dialect dialect = Dialect::Linux);

// A packet as a classic program sees it. `data` holds `caplen` bytes; loads
// beyond them fail the program (it returns 0). `wire_len` is what
// BPF_LD|BPF_LEN loads in both dialects (libpcap: the original length;
// Linux: skb->len); 0 means caplen. The metadata feeds Linux's ancillary
// loads (SKF_AD_*).
struct Packet {
    const uint8_t* data = nullptr;
    uint32_t caplen = 0;
    uint32_t wire_len = 0;
    // SKF_AD_* metadata (host byte order, as the loads return it).
    uint16_t protocol = 0; // SKF_AD_PROTOCOL: the EtherType
    uint16_t pkttype = 0;  // SKF_AD_PKTTYPE: PACKET_HOST...
    uint32_t ifindex = 0;
    uint32_t mark = 0;
    uint32_t queue = 0;
    uint16_t hatype = 0;
    uint32_t rxhash = 0;
    uint16_t vlan_tci = 0;
    bool vlan_present = false;
    uint16_t vlan_tpid = 0;
    // Where the network header starts in `data`: the base of SKF_NET_OFF
    // loads (Linux: skb_network_offset). Ethernet: 14; see
    // network_offset_for_linktype().
    uint32_t network_offset = 14;
};

// The network header's offset for a pcap link type (DLT_*): 14 for Ethernet,
// 0 for raw IP, 16 for Linux cooked captures (SLL), 4 for BSD loopback
// (NULL), ...; 0 for a link type it does not know.
uint32_t network_offset_for_linktype(int linktype);

// The context a translated program gets in r1 (Linux keeps it in r6): the
// packet's metadata. Each SKF_AD_* ancillary load that reads metadata is a
// 32-bit load of the field at offset SKF_AD_*; see docs/cbpf.md.
struct Context {
    uint32_t protocol = 0;       // 0  SKF_AD_PROTOCOL
    uint32_t pkttype = 0;        // 4  SKF_AD_PKTTYPE
    uint32_t ifindex = 0;        // 8  SKF_AD_IFINDEX
    uint32_t unused_12_20[2]{};  // 12 SKF_AD_NLATTR, 16 SKF_AD_NLATTR_NEST (refused)
    uint32_t mark = 0;           // 20 SKF_AD_MARK
    uint32_t queue = 0;          // 24 SKF_AD_QUEUE
    uint32_t hatype = 0;         // 28 SKF_AD_HATYPE
    uint32_t rxhash = 0;         // 32 SKF_AD_RXHASH
    uint32_t unused_36_44[2]{};  // 36 SKF_AD_CPU (a helper call), 40 SKF_AD_ALU_XOR_X (A ^= X)
    uint32_t vlan_tci = 0;       // 44 SKF_AD_VLAN_TAG
    uint32_t vlan_present = 0;   // 48 SKF_AD_VLAN_TAG_PRESENT (0 or 1)
    uint32_t unused_52_60[2]{};  // 52 SKF_AD_PAY_OFFSET (refused), 56 SKF_AD_RANDOM (a helper call)
    uint32_t vlan_tpid = 0;      // 60 SKF_AD_VLAN_TPID
    uint32_t len = 0;            // 64 BPF_LD|BPF_LEN, BPF_LDX|BPF_LEN
    uint32_t network_offset = 0; // 68 base of SKF_NET_OFF loads
};
static_assert(sizeof(Context) == 72);
// The context for a packet: `len` is wire_len, or caplen when wire_len is 0.
Context make_context(const Packet& packet);

enum class Engine : uint8_t { Jit, Interpreter };

struct FilterOptions {
    Dialect dialect = Dialect::Linux;
    Engine engine = Engine::Jit;
};

// A classic program ready to run: checked, translated to eBPF, compiled.
// Immutable once created: run() may be called from many threads at once.
class Filter {
public:
    static Result<Filter> create(std::span<const Insn> program, const FilterOptions& options = {});
    Filter(Filter&&) noexcept;
    Filter& operator=(Filter&&) noexcept;
    ~Filter();

    // The program's return value: for a socket filter or tcpdump the number
    // of bytes to keep (0: drop); for seccomp the action.
    uint32_t run(const Packet& packet) const;

    const std::vector<Insn>& classic() const;
    const std::vector<bpfvm::Insn>& ebpf() const; // the translation that runs

private:
    struct State;
    explicit Filter(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// The translation to eBPF on its own (after check()).
Result<std::vector<bpfvm::Insn>> to_ebpf(std::span<const Insn> program, Dialect dialect = Dialect::Linux);

// Text forms. bpf_asm syntax (Documentation/networking/filter.rst), and
// tcpdump's -d (listing), -dd (C array) and -ddd (decimal) outputs.
enum class TextFormat : uint8_t { BpfAsm, TcpdumpD, TcpdumpDD, TcpdumpDDD };
// Parses any of them (`format` none: recognised from the text); errors name
// the line and column.
Result<std::vector<Insn>> parse(std::string_view text, std::string_view name = "<input>");
Result<std::vector<Insn>> parse(std::string_view text, TextFormat format, std::string_view name = "<input>");
std::string format(std::span<const Insn> program, TextFormat format);

// ---- seccomp: classic filters on system calls (Linux's seccomp(2)).

// struct seccomp_data: what a seccomp filter's 32-bit loads read.
struct SeccompData {
    int32_t nr = 0;
    uint32_t arch = 0; // AUDIT_ARCH_*
    uint64_t instruction_pointer = 0;
    uint64_t args[6] = {};
};
static_assert(sizeof(SeccompData) == 64);

// Linux's seccomp_check_filter() after bpf_check_classic(): only the
// instructions seccomp allows (no packet loads, no mod), `ld [k]` with k a
// multiple of 4 below 64. Errors name the instruction.
Result<void> check_seccomp(std::span<const Insn> program);

enum class SeccompAction : uint8_t { KillProcess, KillThread, Trap, Errno, UserNotif, Trace, Log, Allow };

// A filter's return value as the kernel acts on it: the action
// (SECCOMP_RET_ACTION_FULL bits; an unknown one kills the process) and its
// data (ERRNO's errno is capped at 4095, as Linux does).
struct SeccompVerdict {
    uint32_t value = 0;
    SeccompAction action = SeccompAction::KillThread;
    uint16_t data = 0;
    // "ALLOW", "ERRNO(1)", "KILL_PROCESS", "TRAP(5)", "TRACE(7)", "LOG", "USER_NOTIF", "KILL_THREAD".
    std::string to_string() const;
};
SeccompVerdict seccomp_verdict(uint32_t value);

// A seccomp filter: checked as seccomp(2) checks it, translated (loads of
// seccomp_data become context loads, as in Linux) and compiled.
class SeccompFilter {
public:
    static Result<SeccompFilter> create(std::span<const Insn> program, Engine engine = Engine::Jit);
    SeccompFilter(SeccompFilter&&) noexcept;
    SeccompFilter& operator=(SeccompFilter&&) noexcept;
    ~SeccompFilter();

    uint32_t run(const SeccompData& data) const;
    SeccompVerdict evaluate(const SeccompData& data) const { return seccomp_verdict(run(data)); }
    const std::vector<bpfvm::Insn>& ebpf() const;

private:
    struct State;
    explicit SeccompFilter(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

} // namespace bpfvm::cbpf
