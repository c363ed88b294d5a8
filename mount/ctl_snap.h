/*
 * ctl_snap.h — the snapshot commands of the control channel: ioctls on
 * the mount's root directory, forwarded by FUSE to the daemon as
 * restricted ioctls (fixed-size structs, no pointers; type 'L', numbers
 * 0x10-0x1f).  Daemon side in snapctl.c, command line in snap_cmd.c.
 *
 *   CREATE, DELETE  struct mnt_snap_name in; only root or the mount's
 *                   owner (the daemon's uid), else EPERM.  Errors: EEXIST
 *                   (create: name taken), ENOENT (delete: unknown),
 *                   EINVAL (bad name), EROFS (read-only mount).
 *                   DELETE also compacts the store in the daemon before
 *                   it returns, so the space only that snapshot held is
 *                   back by then.
 *   LIST            struct mnt_snap_page in and out, open to all: the
 *                   caller sets cursor (0 first) and flags; the daemon
 *                   fills up to MNT_SNAP_PAGE entries from there, count,
 *                   total, and cursor for the next page (== total at the
 *                   end).  MNT_SNAP_SPACE: also each snapshot's exclusive
 *                   bytes (a scan of the whole store, per page).
 */
#ifndef MNT_CTL_SNAP_H
#define MNT_CTL_SNAP_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "lsm.h"

struct mnt_snap_name {
    char name[LSM_SNAPSHOT_NAME_MAX + 1];   /* NUL-terminated */
};

struct mnt_snap_entry {
    char name[LSM_SNAPSHOT_NAME_MAX + 1];
    uint32_t id;
    uint32_t pad;
    uint64_t ctime;                         /* seconds since the epoch */
    uint64_t exclusive;                     /* bytes, with MNT_SNAP_SPACE */
};

#define MNT_SNAP_PAGE 8
#define MNT_SNAP_SPACE 1u
struct mnt_snap_page {
    uint32_t cursor;
    uint32_t flags;
    uint32_t count;
    uint32_t total;
    struct mnt_snap_entry e[MNT_SNAP_PAGE];
};

#define MNT_IOC_SNAP_CREATE _IOW('L', 0x10, struct mnt_snap_name)
#define MNT_IOC_SNAP_DELETE _IOW('L', 0x11, struct mnt_snap_name)
#define MNT_IOC_SNAP_LIST _IOWR('L', 0x12, struct mnt_snap_page)

static inline int mnt_snap_ioctl_cmd(unsigned int cmd)
{
    return _IOC_TYPE(cmd) == 'L' && _IOC_NR(cmd) >= 0x10 && _IOC_NR(cmd) <= 0x1f;
}

/* Daemon side (snapctl.c), from mnt_ioctl. */
void mnt_snap_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                    const void *in_buf, size_t in_bufsz, size_t out_bufsz);

#endif
