# Finding (in Linux, not in bpfvm): Linux 6.18's verifier removes a branch it
# wrongly believes is never taken, after an atomic fetch (xchg, fetch_add,
# cmpxchg) from a stack slot holding a spilled scalar, in a loop with
# may_goto and a bpf-to-bpf call. bpfvm runs the program as the instruction
# set defines it; Linux returns a different value.
#
# The loop stores r8 (6, 5, 4, ...) to fp-160 and exchanges it into r0; the
# first time r0 <= 2 (r8 = 2) the program exits with r0 = 2. bpfvm (all
# engines): r0 = 2. Linux: retval 6.
#
# Linux's verifier tracks the exchanged-out value as the spilled constant
# ("r0 = atomic64_xchg((u64 *)(r10 -160), r0) ; R0=1") but its precision
# backtracking does not follow the atomic operation back to the stack slot
# and r8 (mark_precise goes "regs=r0 ... before 19: *(u64 *)(r10 -160) = r8"
# without marking r8 or fp-160), so r8 stays imprecise, the states of the
# may_goto loop for r8 = 6..2 are pruned as equivalent to r8 = 1, the
# verifier sees r0 = 1 only, finds `if r0 s> 2` never true and deletes it:
# the translated program (BPF_OBJ_GET_INFO_BY_FD, xlated) goes from the xchg
# straight to exit. Without the call, without may_goto, or with a plain load
# instead of the atomic fetch, Linux agrees. (The `goto +0` gives the
# verifier the prune point at the branch target.)
#
# Found by differential_soak --kernel (seeds 20071202 and 20091188 of the
# Kernel profile, 2 in 100,000 programs), reduced with --reduce and by hand.
# Seen on Linux 6.18.44 (x86-64); the harness counts it as a disagreement
# with Linux, which it is: here Linux is wrong.
#
# Replay (Linux's prologue is put in front; the buffer is not used):
#   ./build/tests/differential/differential_soak --replay tests/differential/findings/linux-verifier-atomic-fetch-precision.s --kernel --mem-size 64

	r8 = 6
loop:
	may_goto dec
	call f
	*(u64 *)(r10 - 160) = r8
	r0 = xchg_64(r10 - 160, r0)
	if r0 s> 2 goto skip
	exit
skip:
	goto +0
dec:
	r8 += -1
	if r8 s>= 1 goto loop
	r0 = 0
	exit
f:
	r0 = 0
	exit
