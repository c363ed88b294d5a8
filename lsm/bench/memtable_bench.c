/*
 * memtable-bench — the memtable alone: CPU time per insert and per get.
 *
 *   memtable-bench [N] [db|fs]
 *
 * Inserts N entries (default 400000, about one 64 MiB memtable of
 * lsm-bench's entries) into a fresh memtable, first in a random order,
 * then, in a second memtable, in key order; after each fill, N gets of
 * random present keys.  Keys are lsm-bench's (db: the 16-digit decimal of
 * i) or the filesystem's block keys (fs: 'b', big-endian inode i / 64 + 2,
 * big-endian block i % 64); values are 100 bytes.  Prints one line:
 *
 *   rand_insert_ns X rand_get_ns X seq_insert_ns X seq_get_ns X bytes_per_entry X
 *
 * Times are the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID) per
 * operation, so other processes on a shared machine cost less noise than
 * in wall time; key formatting is included (the same for every build).
 * Compare two builds by alternating their runs, several times each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsm.h"
#include "memtable.h"

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = UINT64_C(88172645463325252);

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Writes key i into k (32 bytes) and returns its length. */
static size_t make_key(char *k, uint64_t i, int fs)
{
    if (!fs) {
        snprintf(k, 32, "%016llu", (unsigned long long)i); /* i < 10^16 */
        return 16;
    }
    uint64_t ino = i / 64 + 2, block = i % 64;
    k[0] = 'b';
    for (int j = 0; j < 8; j++) {
        k[1 + j] = (char)(ino >> (56 - 8 * j));
        k[9 + j] = (char)(block >> (56 - 8 * j));
    }
    return 17;
}

/* Fills a memtable in the order of `order` (NULL: 0..n-1), then gets n
 * random keys; prints the two times.  Returns bytes per entry, or -1. */
static double run(const char *name, const uint64_t *order, size_t n, int fs)
{
    char val[100], k[32];
    memset(val, 'v', sizeof val);
    /* the filter a db gives a 64 MiB memtable */
    lsm_memtable *m = lsm_memtable_new(NULL, lsm_memtable_filter_bytes(64u << 20));
    if (!m)
        return -1;
    double t0 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        size_t len = make_key(k, order ? order[i] : i, fs);
        if (lsm_memtable_add(m, i + 1, LSM_KIND_PUT, lsm_slice_make(k, len),
                             lsm_slice_make(val, sizeof val)) != LSM_OK) {
            lsm_memtable_unref(m);
            return -1;
        }
    }
    double t1 = cpu_ns();
    lsm_buf v = { 0 };
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = make_key(k, rng() % n, fs);
        found += lsm_memtable_get(m, lsm_slice_make(k, len), LSM_MAX_SEQ, &v,
                                  NULL) == LSM_KIND_PUT;
    }
    double t2 = cpu_ns();
    double bytes = (double)lsm_memtable_bytes(m) / (double)n;
    lsm_buf_free(&v);
    lsm_memtable_unref(m);
    if (found != n)
        return -1;
    printf("%s_insert_ns %.1f %s_get_ns %.1f ", name, (t1 - t0) / (double)n,
           name, (t2 - t1) / (double)n);
    return bytes;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 400000;
    int fs = argc > 2 && strcmp(argv[2], "fs") == 0;
    if (n == 0 || (argc > 2 && !fs && strcmp(argv[2], "db") != 0)) {
        fprintf(stderr, "usage: memtable-bench [N] [db|fs]\n");
        return 2;
    }
    uint64_t *order = malloc(n * sizeof *order);
    if (!order)
        return 1;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rng() % (i + 1));
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double bytes = run("rand", order, n, fs);
    free(order);
    if (bytes < 0 || run("seq", NULL, n, fs) < 0) {
        fprintf(stderr, "memtable-bench: an insert or get failed\n");
        return 1;
    }
    printf("bytes_per_entry %.1f\n", bytes);
    return 0;
}
