#include <fmt/format.h>

#include "bpfvm/program.h"

namespace bpfvm {

Result<Program> Program::from_insns(std::vector<Insn> insns, std::string name) {
    auto shape = check_program(insns);
    if (!shape) return tl::unexpected(shape.error());
    Program p;
    p.insns_ = std::move(insns);
    p.shape_ = std::move(*shape);
    p.name_ = std::move(name);
    return p;
}

Result<Program> Program::from_bytes(std::span<const uint8_t> bytes, std::string name) {
    if (bytes.size() % sizeof(Insn) != 0)
        return make_error(fmt::format("bytecode is {} bytes long: not a whole number of 8-byte instructions "
                                      "({} bytes left over after instruction {})",
                                      bytes.size(), bytes.size() % sizeof(Insn), bytes.size() / sizeof(Insn)));
    return from_insns(insns_from_bytes(bytes), std::move(name));
}

} // namespace bpfvm
