/*
 * histo.c — per-opcode request latency histograms (histo.h).
 */
#include "histo.h"

#include <linux/fuse.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

static _Atomic uint64_t mnt_histo[MNT_HISTO_OPS][MNT_HISTO_BUCKETS];

static int64_t mnt_histo_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct mnt_histo_mark mnt_histo_begin(const struct fuse_buf *buf)
{
    struct mnt_histo_mark m = { MNT_HISTO_OPS, 0 };
    struct fuse_in_header in;
    if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof in)
        return m;
    memcpy(&in, buf->mem, sizeof in);
    m.opcode = in.opcode < MNT_HISTO_OPS ? in.opcode : MNT_HISTO_OPS;
    m.start_ns = mnt_histo_now();
    return m;
}

void mnt_histo_end(const struct mnt_histo_mark *m)
{
    if (m->opcode >= MNT_HISTO_OPS)
        return;
    int64_t ns = mnt_histo_now() - m->start_ns;
    mnt_histo_record(m->opcode, ns > 0 ? (uint64_t)ns : 0);
}

void mnt_histo_record(uint32_t opcode, uint64_t ns)
{
    if (opcode >= MNT_HISTO_OPS)
        return;
    int b = ns ? 63 - __builtin_clzll(ns) : 0;
    atomic_fetch_add_explicit(&mnt_histo[opcode][b], 1, memory_order_relaxed);
}

void mnt_histo_get(uint32_t opcode, struct mnt_histo_op *out)
{
    memset(out, 0, sizeof *out);
    if (opcode >= MNT_HISTO_OPS)
        return;
    for (int b = 0; b < MNT_HISTO_BUCKETS; b++) {
        out->buckets[b] = atomic_load_explicit(&mnt_histo[opcode][b],
                                               memory_order_relaxed);
        out->count += out->buckets[b];
    }
}

uint64_t mnt_histo_quantile(const struct mnt_histo_op *h, double q)
{
    if (h->count == 0)
        return 0;
    /* The rank of the q-quantile, 1-based: ceil(q * count). */
    double want = q * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want || rank == 0)
        rank++;
    uint64_t seen = 0;
    for (int b = 0; b < MNT_HISTO_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank)
            return b >= 63 ? UINT64_MAX : (UINT64_C(1) << (b + 1)) - 1;
    }
    return UINT64_MAX;
}

const char *mnt_histo_op_name(uint32_t opcode)
{
    static const char *const names[MNT_HISTO_OPS] = {
        [FUSE_LOOKUP] = "LOOKUP",
        [FUSE_FORGET] = "FORGET",
        [FUSE_GETATTR] = "GETATTR",
        [FUSE_SETATTR] = "SETATTR",
        [FUSE_READLINK] = "READLINK",
        [FUSE_SYMLINK] = "SYMLINK",
        [FUSE_MKNOD] = "MKNOD",
        [FUSE_MKDIR] = "MKDIR",
        [FUSE_UNLINK] = "UNLINK",
        [FUSE_RMDIR] = "RMDIR",
        [FUSE_RENAME] = "RENAME",
        [FUSE_LINK] = "LINK",
        [FUSE_OPEN] = "OPEN",
        [FUSE_READ] = "READ",
        [FUSE_WRITE] = "WRITE",
        [FUSE_STATFS] = "STATFS",
        [FUSE_RELEASE] = "RELEASE",
        [FUSE_FSYNC] = "FSYNC",
        [FUSE_SETXATTR] = "SETXATTR",
        [FUSE_GETXATTR] = "GETXATTR",
        [FUSE_LISTXATTR] = "LISTXATTR",
        [FUSE_REMOVEXATTR] = "REMOVEXATTR",
        [FUSE_FLUSH] = "FLUSH",
        [FUSE_INIT] = "INIT",
        [FUSE_OPENDIR] = "OPENDIR",
        [FUSE_READDIR] = "READDIR",
        [FUSE_RELEASEDIR] = "RELEASEDIR",
        [FUSE_FSYNCDIR] = "FSYNCDIR",
        [FUSE_GETLK] = "GETLK",
        [FUSE_SETLK] = "SETLK",
        [FUSE_SETLKW] = "SETLKW",
        [FUSE_ACCESS] = "ACCESS",
        [FUSE_CREATE] = "CREATE",
        [FUSE_INTERRUPT] = "INTERRUPT",
        [FUSE_BMAP] = "BMAP",
        [FUSE_DESTROY] = "DESTROY",
        [FUSE_IOCTL] = "IOCTL",
        [FUSE_POLL] = "POLL",
        [FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
        [FUSE_BATCH_FORGET] = "BATCH_FORGET",
        [FUSE_FALLOCATE] = "FALLOCATE",
        [FUSE_READDIRPLUS] = "READDIRPLUS",
        [FUSE_RENAME2] = "RENAME2",
        [FUSE_LSEEK] = "LSEEK",
        [FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
        [FUSE_SETUPMAPPING] = "SETUPMAPPING",
        [FUSE_REMOVEMAPPING] = "REMOVEMAPPING",
        [FUSE_SYNCFS] = "SYNCFS",
        [FUSE_TMPFILE] = "TMPFILE",
    };
    return opcode < MNT_HISTO_OPS ? names[opcode] : NULL;
}
