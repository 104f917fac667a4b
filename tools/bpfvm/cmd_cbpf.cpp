// bpfvm cbpf: classic BPF programs (socket filters, tcpdump, seccomp) in
// bpf_asm syntax or tcpdump's -d/-dd/-ddd forms: convert, check, translate
// to eBPF, run on a packet.
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>

#include "bpfvm/asm.h"
#include "bpfvm/cbpf.h"
#include "bpfvm/insn.h"
#include "commands.h"

namespace bpfvm::cli {

namespace {

struct CbpfOptions {
    std::string input;
    std::string from = "auto";
    std::string to = "bpf_asm";
    std::string dialect = "linux";
    std::string engine = "jit";
    std::string packet;
    uint32_t wire_len = 0;
    uint32_t network_offset = 14;
};

const std::map<std::string, cbpf::TextFormat>& formats() {
    static const std::map<std::string, cbpf::TextFormat> f = {{"bpf_asm", cbpf::TextFormat::BpfAsm},
                                                              {"d", cbpf::TextFormat::TcpdumpD},
                                                              {"dd", cbpf::TextFormat::TcpdumpDD},
                                                              {"ddd", cbpf::TextFormat::TcpdumpDDD}};
    return f;
}

Result<std::vector<cbpf::Insn>> read_classic(const CbpfOptions& o) {
    std::string text;
    if (o.input == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        auto bytes = read_file(o.input);
        if (!bytes) return tl::unexpected(bytes.error());
        text.assign(bytes->begin(), bytes->end());
    }
    const std::string name = o.input == "-" ? "<stdin>" : o.input;
    if (o.from == "auto") return cbpf::parse(text, name);
    return cbpf::parse(text, formats().at(o.from), name);
}

cbpf::Dialect dialect_of(const CbpfOptions& o) {
    return o.dialect == "libpcap" ? cbpf::Dialect::Libpcap : cbpf::Dialect::Linux;
}

CLI::App* add_input(CLI::App* cmd, CbpfOptions* o) {
    cmd->add_option("input", o->input, "Classic program: bpf_asm text or tcpdump -d/-dd/-ddd output ('-' for stdin)")
        ->required();
    cmd->add_option("--from", o->from, "Input format (default: recognised from the text)")
        ->check(CLI::IsMember({"auto", "bpf_asm", "d", "dd", "ddd"}));
    return cmd;
}

void add_dialect(CLI::App* cmd, CbpfOptions* o) {
    cmd->add_option("--dialect", o->dialect, "linux (default) or libpcap semantics (docs/cbpf.md)")
        ->check(CLI::IsMember({"linux", "libpcap"}));
}

} // namespace

Command add_cbpf(CLI::App& app) {
    auto o = std::make_shared<CbpfOptions>();
    CLI::App* cmd = app.add_subcommand("cbpf", "Classic BPF: convert, check, translate to eBPF, run");
    cmd->require_subcommand(1);
    CLI::App* as = add_input(cmd->add_subcommand("asm", "Convert between bpf_asm syntax and tcpdump's -d/-dd/-ddd"), o.get());
    as->add_option("--format", o->to, "Output: bpf_asm (default), d, dd or ddd")
        ->check(CLI::IsMember({"bpf_asm", "d", "dd", "ddd"}));
    CLI::App* check = add_input(cmd->add_subcommand("check", "Check a program as Linux (or libpcap) does"), o.get());
    add_dialect(check, o.get());
    CLI::App* translate = add_input(cmd->add_subcommand("translate", "Print the eBPF translation"), o.get());
    add_dialect(translate, o.get());
    CLI::App* run = add_input(cmd->add_subcommand("run", "Run a program on one packet and print its return value"),
                              o.get());
    add_dialect(run, o.get());
    run->add_option("--packet", o->packet, "The packet's bytes in hex")->required();
    run->add_option("--wire-len", o->wire_len, "Original length (BPF_LEN); default: the packet's length");
    run->add_option("--network-offset", o->network_offset, "Where the network header starts (SKF_NET_OFF), default 14");
    run->add_option("--engine", o->engine, "jit (default) or interp")->check(CLI::IsMember({"jit", "interp"}));

    return {cmd, [=] {
                auto prog = read_classic(*o);
                if (!prog) return report(prog.error().to_string());
                if (as->parsed()) {
                    std::cout << cbpf::format(*prog, formats().at(o->to));
                    return 0;
                }
                if (check->parsed()) {
                    auto ok = cbpf::check(*prog, dialect_of(*o));
                    if (!ok) return report(fmt::format("{}: {}", o->input, ok.error().to_string()));
                    std::cout << fmt::format("{}: {} instructions, accepted ({} rules)\n", o->input, prog->size(),
                                             o->dialect);
                    return 0;
                }
                if (translate->parsed()) {
                    auto e = cbpf::to_ebpf(*prog, dialect_of(*o));
                    if (!e) return report(fmt::format("{}: {}", o->input, e.error().to_string()));
                    ListingOptions lo;
                    lo.raw_bytes = false;
                    std::cout << disassemble(*e, lo);
                    return 0;
                }
                auto bytes = parse_hex(o->packet, "--packet");
                if (!bytes) return report(bytes.error().to_string());
                cbpf::FilterOptions fo;
                fo.dialect = dialect_of(*o);
                fo.engine = o->engine == "interp" ? cbpf::Engine::Interpreter : cbpf::Engine::Jit;
                auto filter = cbpf::Filter::create(*prog, fo);
                if (!filter) return report(fmt::format("{}: {}", o->input, filter.error().to_string()));
                cbpf::Packet p;
                p.data = bytes->data();
                p.caplen = static_cast<uint32_t>(bytes->size());
                p.wire_len = o->wire_len;
                p.network_offset = o->network_offset;
                std::cout << filter->run(p) << "\n";
                return 0;
            }};
}

namespace {
const CommandRegistration registration{"cbpf", add_cbpf};
}

} // namespace bpfvm::cli
