// The map and helper conformance cases: reading them (cases/*.json) and
// running one on a backend. docs/mapconf.md describes the format.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.h"

namespace bpfvm::mapconf {

struct Case {
    std::string name;   // unique over all files; the test's name
    std::string file;   // the JSON file it comes from
    std::string object; // programs/<object>.c, compiled to <object>.bpf.o
    std::string doc;    // what it checks
    unsigned min_cpus = 1;
    bool load_fails = false; // the object must not load (a program the verifier refuses)
    nlohmann::json steps;
};

// Every case of every *.json file in `dir`, in file order; an error names the
// file and the case.
Outcome<std::vector<Case>> load_cases(const std::string& dir);

struct CaseResult {
    std::optional<std::string> skipped; // why the case did not run
    std::vector<std::string> failures;  // each names the step and what differs
};

// Loads the case's object from `objects_dir` on the backend, runs its steps,
// and checks every expectation.
CaseResult run_case(MapConfBackend& backend, const Case& c, const std::string& objects_dir);

// Value syntax (exposed for the format's own tests): a string of
// space-separated tokens, or an array of tokens, concatenated little-endian:
// u8:N u16:N u32:N u64:N i8:N i16:N i32:N i64:N be16:N be32:N hex:0a0b..
// str:text (no NUL) zero:N pad:N (zeros up to N bytes in all).
Outcome<Bytes> parse_bytes(const nlohmann::json& spec);
std::string hex(const Bytes& b);

} // namespace bpfvm::mapconf
