// Shared by the files of src/helpers.
#pragma once

#include <cstdint>
#include <string_view>

#include "bpfvm/vm.h"

namespace bpfvm {

// Checked mode: whether `record` is a ring buffer record bpf_ringbuf_reserve
// handed out in this run; if so its region is taken back, else the run fails
// (naming `helper`). Fast mode: record != 0.
bool take_back_record(ExecContext* ctx, uint64_t record, std::string_view helper);

} // namespace bpfvm
