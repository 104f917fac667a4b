#include "code_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace bpfvm::jit {

namespace {

size_t page_size() {
    static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return size;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

} // namespace

Result<CodeMemory> CodeMemory::allocate(size_t size, const void* near) {
    size_t len = round_up(size == 0 ? 1 : size, page_size());
    void* p = MAP_FAILED;
    if (near) {
        // Try addresses below the hint, within +-1 GiB, without replacing anything mapped there.
        uintptr_t hint = reinterpret_cast<uintptr_t>(near) & ~(uintptr_t(1 << 30) - 1);
        for (uintptr_t step = 1; step <= 8 && p == MAP_FAILED; step++) {
            uintptr_t at = hint - step * (uintptr_t(64) << 20);
            p = mmap(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (p != MAP_FAILED && p != reinterpret_cast<void*>(at)) { // old kernels ignore the flag
                munmap(p, len);
                p = MAP_FAILED;
            }
        }
    }
    if (p == MAP_FAILED) p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return make_error(fmt::format("cannot map {} bytes for JIT code: {}", len, std::strerror(errno)));
    CodeMemory m;
    m.base_ = static_cast<uint8_t*>(p);
    m.mapped_ = len;
    return m;
}

CodeMemory::CodeMemory(CodeMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), mapped_(std::exchange(other.mapped_, 0)),
      used_(std::exchange(other.used_, 0)) {}

CodeMemory& CodeMemory::operator=(CodeMemory&& other) noexcept {
    if (this != &other) {
        this->~CodeMemory();
        base_ = std::exchange(other.base_, nullptr);
        mapped_ = std::exchange(other.mapped_, 0);
        used_ = std::exchange(other.used_, 0);
    }
    return *this;
}

CodeMemory::~CodeMemory() {
    if (base_) munmap(base_, mapped_);
}

Result<void> CodeMemory::seal(size_t used) {
    size_t keep = round_up(used == 0 ? 1 : used, page_size());
    if (keep < mapped_) {
        munmap(base_ + keep, mapped_ - keep);
        mapped_ = keep;
    }
    if (mprotect(base_, mapped_, PROT_READ | PROT_EXEC) != 0)
        return make_error(fmt::format("cannot make JIT code executable: {}", std::strerror(errno)));
    used_ = used;
    return {};
}

} // namespace bpfvm::jit
