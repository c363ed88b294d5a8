/*
 * fsck_snap.h — fsck of every named snapshot's tree (between fsck.c and
 * fsck_snap.c; not part of the fs API).
 */
#ifndef FS_FSCK_SNAP_H
#define FS_FSCK_SNAP_H

#include "fsck.h"

/* fsck.c: checks the tree as `snap` shows it in the open db (the same
 * checks as the live tree's, never repaired), every line prefixed with
 * label.  0, or -1 with res->error set (operational failure). */
int fsck_check_view(const char *dir, const fsck_options *o, fsck_result *res,
                    lsm_db *db, const lsm_snapshot *snap, const char *label);

/* fsck_snap.c: runs fsck_check_view on each named snapshot of db, after
 * the live tree's check.  Their problems count in res (a repair leaves
 * them: exit 4); res's other counts stay the live tree's.  0 or -1. */
int fsck_check_snapshots(const char *dir, const fsck_options *o,
                         fsck_result *res, lsm_db *db);

#endif
