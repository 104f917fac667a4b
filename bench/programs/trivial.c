/* The smallest program: the cost of entering and leaving a run. */
#include "bench.h"

BENCH_PROGRAM(trivial) {
    (void)data;
    return len;
}
