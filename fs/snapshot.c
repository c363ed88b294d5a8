/*
 * snapshot.c — named snapshots of the whole tree, and read-only views of
 * them (fs.h).
 *
 * A snapshot is the engine's named snapshot (lsm.h): O(1) to take, kept
 * in the manifest.  A view is a second fs_t over the same engine whose
 * reads all go through a handle at the snapshot's sequence number
 * (fs->ro), with its own inode cache and lookup counts, read-only for
 * good: every fs.h read works on it unchanged and every change fails with
 * -EROFS (fs_commit refuses, fs_alloc_ino refuses, opens for writing are
 * refused).  Inode numbers inside a view are the snapshot's own; telling
 * them from the live tree's is the caller's business (mount/ reserves
 * high bits of the FUSE inode number).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int fs_snapshot_create(fs_t *fs, const char *name, lsm_snapshot_info *info)
{
    if (fs->view || atomic_load(&fs->read_only))
        return -EROFS;
    if (!lsm_snapshot_name_ok(name))
        return -EINVAL;
    int rc = lsm_snapshot_create(fs->db, name, info);
    return rc == LSM_OK ? 0 : rc == LSM_EXISTS ? -EEXIST
                                               : fs_engine_error(fs, rc, "snapshot");
}

int fs_snapshot_delete(fs_t *fs, const char *name)
{
    if (fs->view || atomic_load(&fs->read_only))
        return -EROFS;
    if (!lsm_snapshot_name_ok(name))
        return -EINVAL;
    int rc = lsm_snapshot_delete(fs->db, name);
    return rc == LSM_OK ? 0 : rc == LSM_NOT_FOUND ? -ENOENT
                                                  : fs_engine_error(fs, rc, "snapshot");
}

int fs_snapshot_list(fs_t *fs, lsm_snapshot_info **out, size_t *n)
{
    int rc = lsm_snapshot_list(fs->db, out, n);
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "snapshot list");
}

int fs_snapshot_space(fs_t *fs, const lsm_snapshot_info *snaps, size_t n,
                      uint64_t *exclusive)
{
    int rc = lsm_snapshot_space(fs->db, snaps, n, exclusive);
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "snapshot space");
}

int fs_snapshot_reclaim(fs_t *fs)
{
    if (fs->view || atomic_load(&fs->read_only))
        return -EROFS;
    int rc = lsm_compact(fs->db);
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "compaction");
}

int fs_view_open(fs_t *fs, const char *name, fs_t **out, lsm_snapshot_info *info)
{
    if (!lsm_snapshot_name_ok(name))
        return -ENOENT;
    fs_t *v = calloc(1, sizeof *v);
    if (v == NULL || (v->dir = strdup(fs->dir)) == NULL || icache_init(v) < 0) {
        if (v)
            free(v->dir);
        free(v);
        return -ENOMEM;
    }
    pthread_rwlock_init(&v->ns_lock, NULL);
    pthread_mutex_init(&v->sb_lock, NULL);
    v->db = fs->db;
    v->log = fs->log;
    v->log_ctx = fs->log_ctx;
    v->block_bytes = fs->block_bytes;    /* fixed for a store's life */
    v->block_shift = fs->block_shift;
    v->inline_max = fs->inline_max;
    v->lru_per_shard = fs->lru_per_shard;
    v->sb = fs->sb;
    v->view = 1;
    atomic_store(&v->read_only, 1);
    int rc = lsm_snapshot_open(fs->db, name, &v->ro.snapshot, info);
    if (rc != LSM_OK) {
        fs_free(v);
        return rc == LSM_NOT_FOUND ? -ENOENT : fs_engine_error(fs, rc, "snapshot");
    }
    *out = v;
    return 0;
}

void fs_view_close(fs_t *view)
{
    if (view == NULL)
        return;
    lsm_snapshot_release(view->db, view->ro.snapshot);
    fs_free(view);
}

int fs_is_view(const fs_t *fs)
{
    return fs->view;
}
