/*
 * readahead.c — how far the kernel reads ahead in the mount's files.
 *
 * The kernel reads a FUSE file ahead by its mount's bdi ra_pages, shown
 * as /sys/class/bdi/MAJ:MIN/read_ahead_kb (MAJ:MIN: the mount's st_dev),
 * 128 KiB for every new FUSE mount.  The INIT reply's max_readahead can
 * only lower it (fs/fuse/inode.c, process_init_reply: ra_pages =
 * min(ra_pages, max_readahead / PAGE_SIZE)); raising it takes a write to
 * that sysfs file, which only root may make.  So init, which runs before
 * its reply reaches the kernel, writes the file first and then replies
 * with the same max_readahead.  When the write fails (not root, sysfs
 * read-only in a container) the kernel keeps 128 KiB: a debug log line,
 * not an error.
 *
 * The mount is found in /proc/self/mountinfo: a stat() of the mount point
 * would wait for the very INIT reply being prepared.
 *
 * Cost: readahead grows a window per open file from a few pages, doubling
 * while reads stay sequential, so only sequential readers use the larger
 * limit; random reads still fetch what they ask for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "mnt.h"

static int read_kb(const char *path, unsigned *kb)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    int ok = fscanf(f, "%u", kb) == 1;
    fclose(f);
    return ok ? 0 : -EINVAL;
}

static int write_kb(const char *path, unsigned kb)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -errno;
    int rc = fprintf(f, "%u\n", kb) < 0 ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;            /* sysfs reports a refused value at close */
    return rc;
}

void mnt_raise_readahead(const struct mnt_state *m, unsigned bytes)
{
    struct mnt_mount mm;
    if (m->mountpoint == NULL || mnt_mount_at(m->mountpoint, &mm) != 1) {
        mnt_log(LOG_DEBUG, "readahead: %s not found in /proc/self/mountinfo",
                m->mountpoint ? m->mountpoint : "(no mount point)");
        return;
    }
    long page = sysconf(_SC_PAGESIZE);
    unsigned pkb = page >= 1024 ? (unsigned)(page / 1024) : 4;
    unsigned want = bytes / 1024 / pkb * pkb, have;
    char path[96];
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb",
             mm.dev_major, mm.dev_minor);
    int rc = read_kb(path, &have);
    if (rc < 0) {
        mnt_log(LOG_DEBUG, "readahead: cannot read %s: %s", path, strerror(-rc));
        return;
    }
    if (have < want) {
        rc = write_kb(path, want);
        if (rc < 0)
            mnt_log(LOG_DEBUG, "readahead: cannot set %s to %u: %s", path,
                    want, strerror(-rc));
        else
            have = want;
    }
    unsigned after = have < want ? have : want;   /* the reply lowers it */
    mnt_log(LOG_INFO, "readahead %u KiB (bdi %u:%u)", after, mm.dev_major,
            mm.dev_minor);
}
