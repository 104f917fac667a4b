# Finding: the fast JIT returns to its caller with the host's callee-saved
# registers (rbx, r13, r14, r15) holding BPF values when a run ends inside a
# function other than main.
#
# Status: fixed in f3c6491 ("JIT: an early end inside a callee restores the
# host's registers"). Kept as a regression reproducer: the harness reports a
# recurrence as a disagreement (the fast JIT's outcome names the registers it
# did not restore, or the crash of the child process it ran in).
#
# A run ends early through the JIT's unwind path: a legacy packet load
# outside the packet (r0 = 0), a callx to something that is neither a helper
# nor a function, or a call stack deeper than 8 frames. The unwind sets rsp
# to the entry frame's and runs the entry's epilogue, which pops only what
# the entry pushed. In the fast mode the entry saves only the r6-r9 it
# writes itself (the checked mode's entry saves all four); registers a callee
# saved in its own prologue are never restored. Below, main writes none of
# r6-r9 and f writes all four: after the run, the host's rbx, r13, r14 and r15
# hold 42, 43, 44 and 45 (those JitProgram::run does not save itself stay
# so: r14 and r15 here). The caller of JitProgram::run then crashes, often
# inside JitProgram::run itself (its error report read its state through a
# clobbered register), or computes garbage.
#
# The interpreter and the checked JIT return r0 = 0 and leave the host's
# registers alone. Found by differential_soak (seeds 4171, 39262, ... of the
# Full profile); the harness now runs the fast JIT in a child process when a
# run ends early inside a callee, and calls every engine through a
# trampoline that checks the callee-saved registers.
#
# Replay (the fast JIT runs in a child process; its outcome shows the
# clobbered registers or the crash):
#   ./build/tests/differential/differential_soak --replay tests/differential/findings/jit-fast-unwind-clobbers-host-registers.s --mem-size 64
# In a process of one's own (crashes or corrupts the caller):
#   ./build/tools/bpfvm/bpfvm run tests/differential/findings/jit-fast-unwind-clobbers-host-registers.s --mem-size 64 --unchecked
# The same with `callx r1` (r1 = 12345) in f instead of the packet load, or
# with f calling itself until the stack is 8 frames deep.

main:
	call f
	r0 = 1
	exit
f:
	r6 = 42
	r7 = 43
	r8 = 44
	r9 = 45
	r0 = *(u8 *)skb[1000]
	exit
