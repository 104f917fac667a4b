// bpfvm as a map and helper conformance backend: the runtime on the JIT
// ("bpfvm") and on the interpreter ("bpfvm_interp"), both in the checked mode.
#pragma once

#include <memory>

#include "backend.h"

namespace bpfvm::mapconf {

std::unique_ptr<MapConfBackend> make_bpfvm_backend();
std::unique_ptr<MapConfBackend> make_bpfvm_interp_backend();

} // namespace bpfvm::mapconf
