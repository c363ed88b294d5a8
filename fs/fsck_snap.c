/*
 * fsck_snap.c — the snapshots' part of fs_fsck (fsck.h): each named
 * snapshot's tree gets the live tree's checks, read through the snapshot
 * (lines "snapshot NAME: ..."), and is never repaired: a snapshot is what
 * the tree was, damage and all.
 */
#include <stdio.h>
#include <string.h>

#include "fsck_snap.h"

int fsck_check_snapshots(const char *dir, const fsck_options *o,
                         fsck_result *res, lsm_db *db)
{
    lsm_snapshot_info *list;
    size_t n;
    if (lsm_snapshot_list(db, &list, &n) != LSM_OK) {
        snprintf(res->error, sizeof res->error, "%s: listing snapshots: %s",
                 dir, lsm_last_error());
        return -1;
    }
    fsck_result live = *res;       /* its counts are what res reports */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const lsm_snapshot *snap;
        if (lsm_snapshot_open(db, list[i].name, &snap, NULL) != LSM_OK) {
            snprintf(res->error, sizeof res->error, "%s: snapshot %s: %s", dir,
                     list[i].name, lsm_last_error());
            rc = -1;
            break;
        }
        char label[LSM_SNAPSHOT_NAME_MAX + 16];
        snprintf(label, sizeof label, "snapshot %s", list[i].name);
        if (o->progress)
            o->progress(o->ctx, "snapshots", i, n);
        rc = fsck_check_view(dir, o, res, db, snap, label);
        lsm_snapshot_release(db, snap);
    }
    lsm_free(list);
    uint64_t problems = res->problems, fixed = res->fixed;
    char error[sizeof res->error];
    memcpy(error, res->error, sizeof error);
    *res = live;
    res->problems = problems;
    res->fixed = fixed;
    memcpy(res->error, error, sizeof error);
    return rc;
}
