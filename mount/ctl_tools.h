/*
 * ctl_tools.h — the control ioctls of `lsmfs stats` and `lsmfs backup`
 * (numbers 'L' 0x20-0x2f; the channel is described in mnt.h, remount.c).
 * Issued on the mount's root directory; FUSE forwards them as restricted
 * ioctls, so each argument is one fixed-size struct without pointers.
 *
 * STATS (anyone): the daemon renders its statistics (text or JSON) and
 * returns the bytes from `offset`; a reply with offset 0 renders afresh
 * and names the rendering in `gen`; later pages pass gen back and get the
 * same rendering (or EAGAIN if another client has since replaced it:
 * start again).
 *
 * BACKUP_START (root or the mount's owner): pins the store's state at
 * the moment of the call (lsm_checkpoint_begin) and starts writing it to
 * `dest` (absolute) in a daemon thread; returns the sequence number and
 * the backup's id.  EBUSY while another backup runs.
 * BACKUP_STATUS (anyone): the last backup's progress and outcome.
 */
#ifndef MNT_CTL_TOOLS_H
#define MNT_CTL_TOOLS_H

#include <stdint.h>
#include <sys/ioctl.h>

#define MNT_STATS_TEXT 0
#define MNT_STATS_JSON 1
#define MNT_STATS_PAGE 12288

struct mnt_ctl_stats {
    uint32_t format;            /* in: MNT_STATS_* */
    uint32_t len;               /* out: bytes in data */
    uint64_t gen;               /* in (offset > 0) / out */
    uint64_t offset;            /* in */
    uint64_t total;             /* out: bytes of the whole rendering */
    char data[MNT_STATS_PAGE];
};
#define MNT_IOC_STATS _IOWR('L', 0x20, struct mnt_ctl_stats)

#define MNT_BACKUP_PATH 4096
struct mnt_ctl_backup {
    char dest[MNT_BACKUP_PATH]; /* in: absolute path, NUL-terminated */
    uint64_t id;                /* out */
    uint64_t seq;               /* out: the state copied */
    uint64_t total;             /* out: table bytes to put */
};
#define MNT_IOC_BACKUP_START _IOWR('L', 0x28, struct mnt_ctl_backup)

enum { MNT_BACKUP_NONE, MNT_BACKUP_RUNNING, MNT_BACKUP_DONE, MNT_BACKUP_FAILED };
struct mnt_ctl_backup_status {
    uint32_t state;             /* MNT_BACKUP_* */
    uint32_t pad;
    uint64_t id;                /* of the backup described */
    uint64_t seq, done, total;  /* bytes done of total */
    uint64_t tables, linked, bytes, copied;
    char error[512];            /* MNT_BACKUP_FAILED: why */
};
#define MNT_IOC_BACKUP_STATUS _IOR('L', 0x29, struct mnt_ctl_backup_status)

#endif
