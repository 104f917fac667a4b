// Shrinking a program on which the engines disagree, and writing it down as a
// finding (assembly text that differential_soak --replay runs again).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engines.h"
#include "generator.h"

namespace bpfvm::difftest {

// Which engines agree with the checked interpreter: the shape of a disagreement.
std::string disagreement_signature(const CheckResult& result);

// Runs check() in a child process (a crash or a hang then only loses the
// candidate) and returns the signature of its disagreement, or "" when the
// engines agree, the program is invalid, or the child crashed or timed out.
std::string signature_in_child(const GeneratedProgram& program, const CheckOptions& options, unsigned timeout_s = 10);

// What a program's disagreement looks like; "" when there is none. Called
// in a child process.
using Signature = std::function<std::string(const GeneratedProgram&)>;

// Replaces instructions with `ja +0` and then drops those, as long as the
// disagreement keeps its signature (computed in a child process, so that a
// candidate that crashes or hangs only loses itself). Returns the smallest
// program found.
GeneratedProgram reduce(const GeneratedProgram& program, const Signature& signature, size_t max_tries = 4000);
// ... with the signature of bpfvm's engines disagreeing (check).
GeneratedProgram reduce(const GeneratedProgram& program, const CheckOptions& options, size_t max_tries = 4000);
// ... with the signature of Linux disagreeing with bpfvm (KernelOracle::check).
GeneratedProgram reduce_for_kernel(const GeneratedProgram& program, size_t max_tries = 2000);

// Runs signature(program) in a child process; "" when it crashed or timed out.
std::string signature_in_child(const GeneratedProgram& program, const Signature& signature, unsigned timeout_s = 10);

// The program as a finding: a comment header (what differs, the memory, the
// command that replays it) and the assembly.
std::string finding_text(const GeneratedProgram& program, std::string_view note, const CheckResult& result,
                         std::string_view path);

} // namespace bpfvm::difftest
