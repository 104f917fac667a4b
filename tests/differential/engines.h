// Running one program on every bpfvm engine and comparing what they did.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "bpfvm/error.h"
#include "generator.h"

namespace bpfvm::difftest {

enum class Engine : uint8_t {
    InterpFast, InterpChecked, JitFast, JitChecked,
    JitFastBlinded, JitCheckedBlinded, // JitOptions::blinding
    JitFastPlain, JitCheckedPlain,     // JitOptions::optimize = false
};
std::string_view engine_name(Engine engine);
bool is_checked(Engine engine);

struct Outcome {
    Engine engine = Engine::InterpChecked;
    bool ok = false;
    uint64_t r0 = 0;
    Error error;                 // when !ok
    std::vector<uint8_t> memory; // the buffer after the run
    std::string abi;             // host callee-saved registers the run did not restore ("rbx = 0x2a (was ...)")
    std::string describe() const; // "r0 = 0x..." or "error: instruction N: ..."
};

// Same result (r0, or the error's text and instruction) and same memory.
bool same_result(const Outcome& a, const Outcome& b);

struct CheckOptions {
    // Also the JIT with constant blinding, and the JIT without its
    // optimisations (fast mode, or checked for programs that may fault), each
    // on every fourth program.
    bool blinding = true;
    // Also both checked modes with the program's small instruction budget.
    bool budget_runs = true;
};

struct CheckResult {
    enum class Status { Agreed, Disagreed, Invalid } status = Status::Agreed;
    std::string report;           // Disagreed, Invalid: what differs, the program, how to reproduce
    std::string what;             // Disagreed: "engines", "budget" or "read-only context"; Invalid: "invalid"
    std::string error;            // the error every engine stopped with (text without the location), if any
    bool budget_stopped = false;  // the budget runs both stopped with the budget error
    std::vector<Outcome> outcomes; // the runs (for a budget disagreement: the budget runs)
    // Agreed, but for a difference an open finding (findings/<known>.s)
    // describes: the name of that finding. The test counts these, and fails on
    // anything else. (No finding is open at present.)
    std::string known;
    size_t engines = 0;           // engine configurations that ran
};

CheckResult check(const GeneratedProgram& program, const CheckOptions& options = {});

// One run of an assembled program on one engine, with the buffer at the
// address every run of this thread uses (so that fault messages match).
Outcome run_engine(const GeneratedProgram& program, Engine engine, uint64_t insn_budget, uint64_t may_goto_budget);

// Runs of this thread use `buf` (at least 4096 bytes) as their buffer instead
// of the harness's own; nullptr goes back to it.
void set_thread_buffer(uint8_t* buf);
// Runs of this thread put the buffer in a local array of the function that
// calls the engine, as an embedder's buffer often is: close above the
// engines' stacks.
void set_buffer_on_stack(bool on);

// Self-test of the harness: the fast JIT of this thread's runs gets the
// program with every instruction of row `from` turned into row `to` (of the
// same form), as if it miscompiled `from`. nullopt: no mutation.
void set_mutation(std::optional<std::pair<Op, Op>> mutation);

// Whether the program's result depends on what the stack held before the run
// (it reads stack it did not write): the fast interpreter on a zeroed and on
// a patterned stack disagree. (Linux lets root read such stack; bpfvm's checked
// mode zeroes it.)
bool reads_uninitialized_stack(const GeneratedProgram& program);

// The budget error's text.
const std::string& exec_budget_message();

// The command that reruns one generated program and shows it.
std::string reproduce_command(const GeneratedProgram& program);

// "01 02 ff ..."
std::string hex(const std::vector<uint8_t>& bytes);

} // namespace bpfvm::difftest
