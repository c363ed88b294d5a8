/*
 * snapview.c — MOUNTPOINT/SNAPDIR/NAME: each named snapshot browsable
 * read-only (mnt.h has the inode numbering).
 *
 * SNAPDIR (-o snapdir, default .snapshots) is a synthetic directory found
 * by name in the root and left out of the root's listings (as ZFS's
 * .zfs), so find, du, tar or rsync of the whole mount do not descend into
 * every snapshot.  Its entries are the snapshots; each leads to the root
 * of an fs view (fs_view_open), opened on first use and kept until the
 * snapshot is deleted or the mount ends.  The views live in a small array
 * under a rwlock: requests on a view hold it shared for their duration,
 * opening and closing a view hold it exclusively.
 *
 * Every change under SNAPDIR is refused with EROFS by ops.c before it
 * reaches the fs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mnt.h"

struct mnt_view {
    uint32_t id;
    char name[LSM_SNAPSHOT_NAME_MAX + 1];
    fs_t *fs;
};

struct mnt_views {
    pthread_rwlock_t lock;
    struct mnt_view *v;
    size_t n, cap;
};

int mnt_views_new(struct mnt_state *m)
{
    m->views = calloc(1, sizeof *m->views);
    if (m->views == NULL)
        return -ENOMEM;
    pthread_rwlock_init(&m->views->lock, NULL);
    return 0;
}

void mnt_views_free(struct mnt_state *m)
{
    struct mnt_views *vs = m->views;
    if (vs == NULL)
        return;
    for (size_t i = 0; i < vs->n; i++)
        fs_view_close(vs->v[i].fs);
    free(vs->v);
    pthread_rwlock_destroy(&vs->lock);
    free(vs);
    m->views = NULL;
}

/* Index of the open view of snapshot id, or -1 (lock held). */
static ssize_t find_view(const struct mnt_views *vs, uint32_t id)
{
    for (size_t i = 0; i < vs->n; i++)
        if (vs->v[i].id == id)
            return (ssize_t)i;
    return -1;
}

/* The snapshot called name (name != NULL) or numbered id: 0 and *info,
 * or -ENOENT. */
static int find_snapshot(fs_t *fs, const char *name, uint32_t id,
                         lsm_snapshot_info *info)
{
    lsm_snapshot_info *list;
    size_t n;
    int rc = fs_snapshot_list(fs, &list, &n);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < n && rc == -ENOENT; i++)
        if (name ? strcmp(list[i].name, name) == 0 : list[i].id == id) {
            *info = list[i];
            rc = 0;
        }
    lsm_free(list);
    return rc;
}

/* Opens the view of the snapshot called name or numbered id unless it is
 * open; *id set.  0 or -errno (-ENOENT: no such snapshot). */
static int open_view(struct mnt_state *m, const char *name, uint32_t *id)
{
    struct mnt_views *vs = m->views;
    lsm_snapshot_info info;
    int rc = find_snapshot(m->fs, name, *id, &info);
    if (rc < 0)
        return rc;
    *id = info.id;
    pthread_rwlock_wrlock(&vs->lock);
    if (find_view(vs, info.id) < 0) {
        fs_t *view = NULL;
        if (vs->n == vs->cap) {
            size_t cap = vs->cap ? 2 * vs->cap : 8;
            struct mnt_view *p = realloc(vs->v, cap * sizeof *p);
            if (p == NULL)
                rc = -ENOMEM;
            else {
                vs->v = p;
                vs->cap = cap;
            }
        }
        if (rc == 0)
            rc = fs_view_open(m->fs, info.name, &view, NULL);
        if (rc == 0) {
            struct mnt_view *v = &vs->v[vs->n++];
            v->id = info.id;
            memcpy(v->name, info.name, sizeof v->name);
            v->fs = view;
        }
    }
    pthread_rwlock_unlock(&vs->lock);
    return rc;
}

/* Takes the read lock and fills n for the open view id; -ESTALE if it is
 * not open. */
static int hold_view(struct mnt_state *m, uint32_t id, struct mnt_node *n)
{
    struct mnt_views *vs = m->views;
    pthread_rwlock_rdlock(&vs->lock);
    ssize_t i = find_view(vs, id);
    if (i < 0) {
        pthread_rwlock_unlock(&vs->lock);
        return -ESTALE;
    }
    n->kind = MNT_VIEW;
    n->fs = vs->v[i].fs;
    n->base = (uint64_t)id << MNT_INO_BITS;
    n->locked = vs;
    return 0;
}

int mnt_node_get(struct mnt_state *m, uint64_t fino, struct mnt_node *n)
{
    uint64_t id = fino >> MNT_INO_BITS;
    n->ino = fino & MNT_INO_MASK;
    n->fs = m->fs;
    n->base = 0;
    n->locked = NULL;
    if (id == 0) {
        n->kind = MNT_LIVE;
        return 0;
    }
    if (id == MNT_SNAPDIR_ID) {
        n->kind = MNT_SNAPDIR;
        n->base = id << MNT_INO_BITS;
        return n->ino == FS_ROOT_INO ? 0 : -ESTALE;
    }
    if (id > LSM_SNAPSHOT_ID_MAX)
        return -ESTALE;
    if (hold_view(m, (uint32_t)id, n) == 0)
        return 0;
    uint32_t want = (uint32_t)id;
    int rc = open_view(m, NULL, &want);
    if (rc < 0)
        return rc == -ENOENT ? -ESTALE : rc;
    return hold_view(m, want, n);
}

void mnt_node_put(struct mnt_node *n)
{
    if (n->locked != NULL)
        pthread_rwlock_unlock(&n->locked->lock);
    n->locked = NULL;
}

int mnt_is_snapdir_name(const struct mnt_state *m, uint64_t parent,
                        const char *name)
{
    return parent == FUSE_ROOT_ID && strcmp(name, m->snapdir) == 0;
}

int mnt_snapdir_stat(struct mnt_state *m, struct stat *st)
{
    int rc = fs_getattr(m->fs, FS_ROOT_INO, st);
    if (rc < 0)
        return rc;
    st->st_ino = MNT_SNAPDIR_INO;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_size = 0;
    st->st_blocks = 0;
    return 0;
}

int mnt_snap_lookup(struct mnt_state *m, const struct mnt_node *dir,
                    const char *name, struct stat *st)
{
    if (dir->kind == MNT_VIEW)               /* ".." at a view's root */
        return mnt_snapdir_stat(m, st);
    if (strcmp(name, ".") == 0)
        return mnt_snapdir_stat(m, st);
    if (strcmp(name, "..") == 0)
        return fs_lookup(m->fs, FS_ROOT_INO, ".", st);
    uint32_t id = 0;
    int rc = open_view(m, name, &id);
    struct mnt_node n = { 0 };
    if (rc == 0)
        rc = hold_view(m, id, &n);
    if (rc < 0)
        return rc == -ESTALE ? -ENOENT : rc;
    rc = fs_lookup(n.fs, FS_ROOT_INO, ".", st);   /* counts a reference */
    st->st_ino = mnt_node_fino(&n, (uint64_t)st->st_ino);
    mnt_node_put(&n);
    return rc;
}

int mnt_snapdir_readdir(struct mnt_state *m, uint64_t cookie,
                        fs_dirent_fn emit, void *ctx)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFDIR;
    /* Cookies: 1 after ".", 2 after "..", 2 + k after the k-th snapshot. */
    if (cookie == 0) {
        st.st_ino = MNT_SNAPDIR_INO;
        if (emit(ctx, ".", &st, 1))
            return 0;
        cookie = 1;
    }
    if (cookie == 1) {
        st.st_ino = FS_ROOT_INO;
        if (emit(ctx, "..", &st, 2))
            return 0;
        cookie = 2;
    }
    lsm_snapshot_info *list;
    size_t n;
    int rc = fs_snapshot_list(m->fs, &list, &n);
    if (rc < 0)
        return rc;
    for (size_t k = (size_t)cookie - 2; k < n; k++) {
        st.st_ino = ((uint64_t)list[k].id << MNT_INO_BITS) | FS_ROOT_INO;
        if (emit(ctx, list[k].name, &st, (uint64_t)k + 3))
            break;
    }
    lsm_free(list);
    return 0;
}

void mnt_forget_ino(struct mnt_state *m, uint64_t fino, uint64_t nlookup)
{
    if (!mnt_is_snap_ino(fino)) {
        fs_forget(m->fs, fino, nlookup);
        return;
    }
    /* A view closed since keeps no counts; the directory has none. */
    uint64_t id = fino >> MNT_INO_BITS;
    struct mnt_node n = { 0 };
    if (id == MNT_SNAPDIR_ID || id > LSM_SNAPSHOT_ID_MAX ||
        hold_view(m, (uint32_t)id, &n) != 0)
        return;
    fs_forget(n.fs, fino & MNT_INO_MASK, nlookup);
    mnt_node_put(&n);
}

void mnt_view_drop(struct mnt_state *m, const char *name)
{
    struct mnt_views *vs = m->views;
    pthread_rwlock_wrlock(&vs->lock);
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0) {
            fs_view_close(vs->v[i].fs);
            vs->v[i] = vs->v[--vs->n];
            break;
        }
    pthread_rwlock_unlock(&vs->lock);
}
