/*
 * histo.h — requests served per FUSE opcode and their latency, for
 * `lsmfs stats`.  A request is timed from when lsmfs's loop hands it to
 * libfuse until the handler returns (every lsmfs handler has replied by
 * then), in log2 buckets of nanoseconds: bucket b holds latencies in
 * [2^b, 2^(b+1)) ns, so a percentile is exact to a factor of two (reported
 * as the bucket's upper bound).  Recording is two relaxed atomic adds;
 * memory is MNT_HISTO_OPS * MNT_HISTO_BUCKETS counters (32 KiB), global
 * to the process.  Requests served by libfuse's own loop (clone_fd,
 * max_idle_threads) are not counted.
 */
#ifndef MNT_HISTO_H
#define MNT_HISTO_H

#include <stdint.h>

#define MNT_HISTO_OPS 64                /* opcodes 0..63; others are not counted */
#define MNT_HISTO_BUCKETS 64

struct fuse_buf;

struct mnt_histo_mark {
    uint32_t opcode;                    /* MNT_HISTO_OPS: not counted */
    int64_t start_ns;
};

/* Around serving one request (mount/loop.c). */
struct mnt_histo_mark mnt_histo_begin(const struct fuse_buf *buf);
void mnt_histo_end(const struct mnt_histo_mark *m);

/* Records one request of opcode that took ns nanoseconds. */
void mnt_histo_record(uint32_t opcode, uint64_t ns);

/* One opcode's counts, copied (a consistent-enough view: each counter is
 * read once). */
struct mnt_histo_op {
    uint64_t count;
    uint64_t buckets[MNT_HISTO_BUCKETS];
};
void mnt_histo_get(uint32_t opcode, struct mnt_histo_op *out);
/* The upper bound in ns of the bucket holding the q-quantile (0 < q <= 1)
 * of h; 0 if h is empty. */
uint64_t mnt_histo_quantile(const struct mnt_histo_op *h, double q);
/* "LOOKUP", "WRITE"...; NULL for an opcode without a name here. */
const char *mnt_histo_op_name(uint32_t opcode);

#endif
