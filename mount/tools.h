/*
 * tools.h — what the daemon and the `lsmfs COMMAND` tools share: the
 * statistics rendering and the daemon's control handlers (ctl_tools.h).
 */
#ifndef MNT_TOOLS_H
#define MNT_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include "mnt.h"

/* What `lsmfs stats` shows.  Live: everything; offline: the engine's
 * view after a read-only open and the inodes counted by a walk. */
struct mnt_stats_view {
    lsm_stats lsm;
    int have_inodes;
    uint64_t inodes;
    int have_requests;          /* the per-opcode histograms (histo.h) */
    int have_snapshot_bytes;
    uint64_t snapshot_bytes;    /* sum of what each named snapshot alone holds */
};
/* Fills v->snapshot_bytes from db's named snapshots (v->lsm.snapshots of
 * them): one scan of the store (lsm_snapshot_space), none if there are
 * none.  0, or an lsm_status (have_snapshot_bytes left 0). */
int mnt_stats_snapshots(lsm_db *db, struct mnt_stats_view *v);
/* Renders v as text or JSON into a malloc'ed string: 0 or -ENOMEM. */
int mnt_stats_render(const struct mnt_stats_view *v, int json, char **out,
                     size_t *len);

/* tools_ctl.c: serves MNT_IOC_STATS/BACKUP_* (returns 1, having replied)
 * or returns 0 for any other command. */
int mnt_tools_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                    const void *in, size_t insz, size_t outsz);
/* Before the store closes: waits for a running backup. */
void mnt_tools_shutdown(void);

#endif
