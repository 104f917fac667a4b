// A program outside the tree, built against the installed bpfvm.
#include <bpfvm/asm.h>
#include <bpfvm/vm.h>

#include <cstdio>

int main() {
    auto insns = bpfvm::assemble("r0 = *(u32 *)(r1 + 0)\n r0 += r2\n exit");
    if (!insns) return 1;
    auto prog = bpfvm::Program::from_insns(*insns);
    auto vm = bpfvm::Interpreter::create(*prog);
    uint32_t data = 38;
    auto r0 = vm->run(&data, sizeof data);
    std::printf("%llu\n", static_cast<unsigned long long>(r0 ? *r0 : 0));
    return r0 && *r0 == 42 ? 0 : 1;
}
