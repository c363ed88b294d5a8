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
};
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
