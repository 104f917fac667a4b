// fuzz_decode: bytes -> Program::from_bytes, and the disassembler on every
// slot: each decodable instruction, printed in either syntax, must reassemble
// to the same slots; a valid program's whole listing must reassemble to the
// same program; undecodable slots must not stop the listing.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"

using namespace bpfvm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> bytes(data, size);
    auto prog = Program::from_bytes(bytes);
    if (size % 8 != 0 && prog) fuzz::finding("from_bytes accepted a length that is not a multiple of 8");

    std::vector<Insn> insns = insns_from_bytes(bytes);
    fuzz::check_all_roundtrips(insns);

    // Listings of arbitrary slots (undecodable ones print as <unknown>).
    ListingOptions opts;
    (void)disassemble(insns, opts);
    opts.syntax = Syntax::Conformance;
    opts.raw_bytes = false;
    (void)disassemble(insns, opts);

    if (prog) {
        if (prog->size() != insns.size()) fuzz::finding("Program size differs from the number of slots");
        for (size_t i = 0; i < prog->size(); i++) {
            const OpInfo* info = prog->op(i);
            bool second_half = i > 0 && prog->op(i - 1) && prog->op(i - 1)->form == Form::LdImm64;
            if (second_half ? info != nullptr : info != find_op(insns[i]))
                fuzz::finding("Program::op(" + std::to_string(i) + ") disagrees with find_op");
            if (!second_half && !explain_invalid(insns[i]).empty())
                fuzz::finding("explain_invalid complains about a valid slot " + std::to_string(i));
        }
        fuzz::check_listing_roundtrip(*prog);
    } else {
        if (prog.error().message.empty()) fuzz::finding("from_bytes failed without a message");
        // An error that names an instruction names one that exists.
        if (prog.error().insn >= static_cast<int64_t>(insns.size()))
            fuzz::finding("error names instruction " + std::to_string(prog.error().insn) + " of " +
                          std::to_string(insns.size()) + ": " + prog.error().to_string());
        // Not a valid program (a jump out of range, no exit...), but when every
        // slot decodes its listing still reassembles to the same slots.
        if (!insns.empty() && fuzz::listable(insns)) {
            const int64_t entry[] = {0};
            fuzz::check_listing_roundtrip(insns, entry);
        }
    }
    // Undecodable slots are explained.
    for (const Insn& in : insns)
        if (!find_op(in) && explain_invalid(in).empty()) fuzz::finding("explain_invalid is empty for an invalid slot");
    return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    if (seed % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
    return bpfvm::fuzz::mutate_code(data, size, max_size, 0, seed);
}
