# Finding: with an instruction budget, the checked JIT charges a whole block
# of straight-line code when it enters it, so when the budget runs out inside
# a block the JIT stops at the block's start: it reports the budget error
# even where the interpreter meets a fault first, and the stores of the
# partial block are not done.
#
# Status: fixed. The interpreter now charges the budget per block too, with
# the blocks the JIT uses (exec::budget_blocks, docs/semantics.md): both stop
# at instruction 0 with the buffer unchanged (budget 3: the block is 5
# instructions long). The budget runs of the harness must now agree exactly,
# memory included.
#
# With --budget 3 on an 8-byte buffer:
#   interpreter: error at instruction 2, "invalid read of 1 byte ... past the
#                end of the context"; bytes 0 and 1 of the buffer are 1 and 2
#   JIT:         error at instruction 3, "instruction budget exhausted";
#                the buffer is unchanged
# (Before the fix.) Found by differential_test / differential_soak (budget
# runs: both checked engines with the program's small instruction budget).
#
# Replay:
#   ./build/tests/differential/differential_soak --replay tests/differential/findings/jit-budget-charged-per-block.s --mem-size 8 --budget 3 --faults
#   ./build/tests/differential/differential_soak --replay tests/differential/findings/jit-budget-charged-per-block.s --mem-size 8 --budget 2 --faults
#   ./build/tools/bpfvm/bpfvm run tests/differential/findings/jit-budget-charged-per-block.s --mem-size 8 --budget 3 --engine interp
#   ./build/tools/bpfvm/bpfvm run tests/differential/findings/jit-budget-charged-per-block.s --mem-size 8 --budget 3 --engine jit

	*(u8 *)(r1 + 0) = 1
	*(u8 *)(r1 + 1) = 2
	r0 = *(u8 *)(r1 + 64)
	r0 = 0
	exit
