// fuzz_assemble: text -> assemble. Whatever assembles is disassembled again,
// instruction by instruction in both syntaxes, and must reassemble to the same
// slots; when it is a valid program, its whole listing must too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"

using namespace bpfvm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto insns = assemble(text);
    if (!insns) {
        const Error& e = insns.error();
        if (e.message.empty()) fuzz::finding("assemble failed without a message");
        if (e.line <= 0) fuzz::finding("assemble error without a line: " + e.to_string());
        return 0;
    }
    fuzz::check_all_roundtrips(*insns);
    auto prog = Program::from_insns(*insns);
    if (prog) {
        fuzz::check_listing_roundtrip(*prog);
    } else if (fuzz::listable(*insns)) {
        // Not a valid program (a jump out of range, no exit...), but every
        // slot decodes: its listing still reassembles to the same slots.
        const int64_t entry[] = {0};
        fuzz::check_listing_roundtrip(*insns, entry);
    }
    return 0;
}
