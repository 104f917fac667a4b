// Shared by the runtime's files.
#pragma once

#include <cstdint>
#include <memory>

namespace bpfvm {
class LoadedProgram;
namespace runtime_detail {
uint32_t register_program(const std::shared_ptr<LoadedProgram>& prog);
void unregister_program(uint32_t id);
// Whether `p` is a live map that has an id (checked-mode tail calls check their map).
bool is_live_map(const void* p);
} // namespace runtime_detail
} // namespace bpfvm
