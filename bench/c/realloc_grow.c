/* Grow one block from 8 MiB to 512 MiB by realloc in 4 MiB steps, writing
 * each new 4 MiB, then read one byte per page and free. Prints the wall
 * time. Run under LD_PRELOAD to compare allocators (docs/benchmarks.md,
 * "Huge realloc"):
 *   gcc -O2 -o /tmp/realloc_grow bench/c/realloc_grow.c
 *   LD_PRELOAD=$PWD/target/release/libhz4.so /tmp/realloc_grow
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB ((size_t)1 << 20)

int main(void) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 8 * MIB;
    char *p = malloc(n);
    if (!p)
        return 1;
    memset(p, 1, n);
    for (size_t s = n; s <= 512 * MIB; s += 4 * MIB) {
        p = realloc(p, s);
        if (!p)
            return 1;
        memset(p + s - 4 * MIB, 2, 4 * MIB);
    }
    long sum = 0;
    for (size_t i = 0; i < 512 * MIB; i += 4096)
        sum += p[i];
    free(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("realloc_grow: %.1f ms (checksum %ld)\n", ms, sum);
    return sum == 261120 ? 0 : 2;
}
