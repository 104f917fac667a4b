# Finding: a checked-mode fault just outside the context was described
# relative to the engine's stack when the context lies less than 4 KiB above
# that stack, as it does when the embedder's buffer is a local variable. The
# interpreter and the JIT keep their BPF stacks in different places (the
# interpreter in its run loop's frame, the JIT in JitState, in
# JitProgram::run's frame), so the two engines describe the same fault
# differently, and neither says what happened:
#
# Status: fixed in f3c6491 ("faults are described by the nearest place").
# Kept as a regression reproducer.
#
#   interp: instruction 0: invalid read of 1 byte at 0x7ffe...60f: 3264 bytes past the end of the stack (0x7ffe...750..0x7ffe...950, 512 bytes)
#   jit:    instruction 0: invalid read of 1 byte at 0x7ffe...60f: 368 bytes past the end of the stack (0x7ffe...2a0..0x7ffe...4a0, 512 bytes)
#
# where the right description is "1 byte before the context". exec::describe_fault
# tries the stack before the regions and takes the first place within 4 KiB
# of the address; the nearest place (or one the address is within a few bytes
# of) would be the better hint, and would not depend on where the host put
# the engine's stack.
#
# Found by differential_soak when its buffer was thread-local (threads keep
# their TLS at the top of their stack); the harness now maps its buffer far
# from any stack.
#
# Replay (--context-on-stack puts the buffer in a local array of the caller):
#   ./build/tests/differential/differential_soak --replay tests/differential/findings/fault-described-relative-to-stack.s --mem-size 64 --faults --context-on-stack
# The same from C++: a program `r0 = *(u8 *)(r1 - 1); exit`, an
# `uint8_t ctx[64]` local to the caller, Interpreter::run and JitProgram::run
# (checked) on it.

	r0 = *(u8 *)(r1 - 1)
	exit
