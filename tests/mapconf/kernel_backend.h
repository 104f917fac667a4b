// Linux as a map and helper conformance backend (libbpf, bpf(2)).
#pragma once

#include <memory>

#include "backend.h"

namespace bpfvm::mapconf {

std::unique_ptr<MapConfBackend> make_kernel_backend();

} // namespace bpfvm::mapconf
