/* The smallest program that reads its arguments: returns the input's length. */
#include "bench.h"

BENCH_PROGRAM(trivial) { return (u64)(end - data); }
