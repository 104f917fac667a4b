/* Does nothing: the cost of calling a program, on each engine. */
#include "bench.h"

BENCH_PROGRAM(empty) {
    (void)data;
    (void)end;
    return 0;
}
