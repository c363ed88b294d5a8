/*
 * namei.c — the namespace: lookup, creating nodes, links, removal and
 * rename.
 *
 * Every operation here that changes entries holds fs->ns_lock
 * exclusively (so directory entries and directories' parent pointers are
 * stable while it decides), locks the inodes it changes in ascending
 * order, builds one batch (entries, inode records, parent times and
 * counts) and commits it; the cached records are updated only after the
 * commit succeeded.
 *
 * Costs: a create is one dirent read (the EEXIST check) plus one write of
 * three keys; a rename of a directory of any size writes at most two
 * dirents and four inode records.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define FS_LINK_MAX 65000u           /* hard links per inode, and subdirs */
#define ANCESTRY_MAX (1u << 20)      /* a deeper parent chain is a cycle */

/* 0, -EINVAL (empty, or contains '/') or -ENAMETOOLONG. */
static int check_name(const char *name, size_t *len)
{
    size_t n = strnlen(name, FS_NAME_MAX + 1);
    if (n > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if (n == 0 || memchr(name, '/', n) != NULL)
        return -EINVAL;
    *len = n;
    return 0;
}

static int is_dot(const char *name, size_t len)
{
    return (len == 1 && name[0] == '.') ||
           (len == 2 && name[0] == '.' && name[1] == '.');
}

/* Counts only go down to 0: a damaged count must not wrap around. */
static void dec32(uint32_t *v)
{
    if (*v > 0)
        (*v)--;
}

static void dec64(uint64_t *v)
{
    if (*v > 0)
        (*v)--;
}

/* Reads the entry `name` of directory `parent`: 0 (sets *ino, *type),
 * -ENOENT, -ENOTDIR (parent is not a directory) or -EIO. */
static int dir_lookup(fs_t *fs, uint64_t parent, const char *name, size_t len,
                      uint64_t *ino, uint8_t *type)
{
    struct inode *dp;
    int rc = inode_get(fs, parent, 0, &dp);
    if (rc < 0)
        return rc;
    int isdir = S_ISDIR(dp->rec.mode);
    inode_put(fs, dp);
    if (!isdir)
        return -ENOTDIR;
    char key[FS_KEY_MAX];
    size_t klen = fs_key_dirent(key, parent, name, len);
    void *val;
    size_t vlen;
    rc = fs_get(fs, key, klen, &val, &vlen);
    if (rc < 0)
        return rc;
    rc = fs_decode_dirent_value(val, vlen, ino, type);
    lsm_free(val);
    if (rc != 0) {
        fs_log(fs, LOG_ERR, "directory %llu: malformed entry for \"%.*s\"",
               (unsigned long long)parent, (int)len, name);
        return -EIO;
    }
    return 0;
}

/* Like dir_lookup, but a missing entry is 0 with *ino = 0. */
static int dir_probe(fs_t *fs, uint64_t parent, const char *name, size_t len,
                     uint64_t *ino, uint8_t *type)
{
    int rc = dir_lookup(fs, parent, name, len, ino, type);
    if (rc == -ENOENT) {
        /* Distinguish a missing entry from a missing parent. */
        struct inode *dp;
        rc = inode_get(fs, parent, 0, &dp);
        if (rc < 0)
            return rc;
        inode_put(fs, dp);
        *ino = 0;
        *type = 0;
        return 0;
    }
    return rc;
}

static int batch_put_dirent(lsm_batch *b, uint64_t parent, const char *name,
                            size_t len, uint64_t ino, uint8_t type)
{
    char key[FS_KEY_MAX], val[FS_DIRENT_VALUE_BYTES];
    size_t klen = fs_key_dirent(key, parent, name, len);
    fs_encode_dirent_value(val, ino, type);
    return lsm_batch_put(b, key, klen, val, sizeof val) == LSM_OK ? 0 : -ENOMEM;
}

static int batch_delete_dirent(lsm_batch *b, uint64_t parent, const char *name,
                               size_t len)
{
    char key[FS_KEY_MAX];
    size_t klen = fs_key_dirent(key, parent, name, len);
    return lsm_batch_delete(b, key, klen) == LSM_OK ? 0 : -ENOMEM;
}

/* Copies a committed record into the cache entry. */
static void install(struct inode *ip, const fs_inode *rec)
{
    ip->rec = *rec;
}

/* The link count of an inode dropped (rec->nlink may now be 0): adds what
 * that means to the batch.  Returns 1 if the inode's records are being
 * deleted (no open handles), 0 if they stay (linked, or an orphan). */
static int unlinked_effects(struct inode *ip, const fs_inode *rec,
                            lsm_batch *b, int *rc)
{
    if (rec->nlink > 0 || (ip->nopen > 0 && !S_ISDIR(rec->mode))) {
        *rc = batch_put_inode(b, ip->ino, rec, ip->data, ip->dlen);
        if (*rc == 0 && rec->nlink == 0) {
            char key[16];
            size_t klen = fs_key_orphan(key, ip->ino);
            *rc = lsm_batch_put(b, key, klen, "", 0) == LSM_OK ? 0 : -ENOMEM;
        }
        return 0;
    }
    *rc = batch_delete_inode(b, ip->ino, rec, 0);
    return 1;
}

/* After a commit that deleted ip's records. */
static void mark_gone(fs_t *fs, struct inode *ip, const fs_inode *rec)
{
    ip->rec = *rec;
    ip->rec.nlink = 0;
    ip->gone = 1;
    inode_drop_data(fs, ip);
    atomic_fetch_sub(&fs->inode_count, 1);
    lsm_release_space(fs->db, rec->resv);
}

/* --- lookup ---------------------------------------------------------------- */

/* A lookup's result: fills *st from ip, counts the kernel's lookup
 * reference and releases ip. */
static int found(fs_t *fs, struct inode *ip, struct stat *st)
{
    fs_fill_stat(fs, ip->ino, &ip->rec, st);
    icache_ref(fs, ip, 1, 0);
    inode_put(fs, ip);
    return 0;
}

/* The inode "." or ".." of `ino` names.  The kernel resolves both itself
 * on path walks; it sends them to find an inode by number alone, for a
 * file handle whose inode it has evicted (open_by_handle_at, NFS export):
 * "." is `ino` itself, of any type, and ".." a directory's parent, asked
 * to reconnect a directory handle to the tree.  A number that is not (or
 * no longer) an inode is -ENOENT, which the kernel reports as ESTALE:
 * numbers are never reused, so no handle can reach a different file. */
static int dot_lookup(fs_t *fs, uint64_t ino, int dotdot, struct stat *st)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, 0, &ip);
    if (rc < 0)
        return rc;
    if (dotdot) {
        uint64_t parent = ip->rec.parent;
        int isdir = S_ISDIR(ip->rec.mode);
        inode_put(fs, ip);
        if (!isdir)
            return -ENOTDIR;
        rc = inode_get(fs, parent, 0, &ip);
        if (rc == -ENOENT) {
            fs_log(fs, LOG_ERR, "directory %llu: parent %llu is missing",
                   (unsigned long long)ino, (unsigned long long)parent);
            return -EIO;
        }
        if (rc < 0)
            return rc;
    }
    return found(fs, ip, st);
}

int fs_lookup(fs_t *fs, uint64_t parent, const char *name, struct stat *st)
{
    size_t len = strnlen(name, FS_NAME_MAX + 1);
    if (len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if (len == 0)
        return -ENOENT;
    pthread_rwlock_rdlock(&fs->ns_lock);
    int rc;
    if (is_dot(name, len)) {
        rc = dot_lookup(fs, parent, len == 2, st);
        pthread_rwlock_unlock(&fs->ns_lock);
        return rc;
    }
    uint64_t ino = 0;
    uint8_t type;
    rc = dir_lookup(fs, parent, name, len, &ino, &type);
    if (rc == 0) {
        struct inode *ip;
        rc = inode_get(fs, ino, 0, &ip);
        if (rc == 0)
            rc = found(fs, ip, st);
        else if (rc == -ENOENT) {
            fs_log(fs, LOG_ERR, "directory %llu: entry \"%.*s\" names missing inode %llu",
                   (unsigned long long)parent, (int)len, name,
                   (unsigned long long)ino);
            rc = -EIO;
        }
    }
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}

/* --- creating nodes ------------------------------------------------------- */

/* Attributes of a new inode made by c in directory dir. */
static void init_inode(fs_inode *rec, const fs_cred *c, const fs_inode *dir,
                       uint64_t dir_ino, mode_t mode, dev_t rdev,
                       struct timespec now)
{
    memset(rec, 0, sizeof *rec);
    mode_t perm = mode & 07777 & ~c->umask;
    rec->mode = (uint32_t)((mode & S_IFMT) | perm);
    rec->uid = (uint32_t)c->uid;
    rec->gid = (uint32_t)c->gid;
    if (dir->mode & S_ISGID) {
        /* setgid directory: the group is inherited, and subdirectories
         * inherit the bit itself. */
        rec->gid = dir->gid;
        if (S_ISDIR(mode))
            rec->mode |= S_ISGID;
    }
    if (S_ISDIR(mode)) {
        rec->nlink = 2;
        rec->parent = dir_ino;
    } else {
        rec->nlink = 1;
    }
    if (S_ISCHR(mode) || S_ISBLK(mode))
        rec->rdev = (uint64_t)rdev;
    if (S_ISREG(mode) || S_ISLNK(mode))
        rec->flags = FS_INODE_INLINE;
    rec->atime = rec->mtime = rec->ctime = now;
}

/* Takes the namespace write lock (held on return, whatever the result)
 * and checks that `name` is free in `parent`: 0, -EEXIST, or an error. */
static int lock_for_new_name(fs_t *fs, uint64_t parent, const char *name,
                             size_t len)
{
    pthread_rwlock_wrlock(&fs->ns_lock);
    if (is_dot(name, len))
        return -EEXIST;
    uint64_t existing;
    uint8_t type;
    int rc = dir_probe(fs, parent, name, len, &existing, &type);
    return rc == 0 && existing != 0 ? -EEXIST : rc;
}

/* Makes a node `name` in `parent`.  target: a symlink's target. With
 * opened, the new inode starts with one open reference. */
static int make_node(fs_t *fs, const fs_cred *c, uint64_t parent,
                     const char *name, mode_t mode, dev_t rdev,
                     const char *target, size_t tlen, int opened,
                     struct stat *out)
{
    size_t len;
    int rc = check_name(name, &len);
    if (rc < 0)
        return rc;
    rc = lock_for_new_name(fs, parent, name, len);
    struct inode *dp = NULL;
    if (rc == 0)
        rc = inode_get(fs, parent, IG_EXCL, &dp);
    if (rc == 0)
        rc = deny_change(&dp->rec);
    if (rc == 0 && S_ISDIR(mode) && dp->rec.nlink >= FS_LINK_MAX)
        rc = -EMLINK;
    uint64_t ino = 0;
    if (rc == 0)
        rc = fs_alloc_ino(fs, &ino);
    char *data = NULL;
    if (rc == 0 && tlen > 0 && (data = malloc(tlen)) == NULL)
        rc = -ENOMEM;
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    fs_inode rec, prec;
    if (rc == 0) {
        struct timespec now = fs_now();
        init_inode(&rec, c, &dp->rec, parent, mode, rdev, now);
        if (tlen > 0) {
            memcpy(data, target, tlen);
            rec.size = tlen;
        }
        prec = dp->rec;
        prec.size++;
        if (S_ISDIR(mode))
            prec.nlink++;
        prec.mtime = prec.ctime = now;
        rc = batch_put_dirent(b, parent, name, len, ino, fs_mode_dtype(rec.mode));
        if (rc == 0)
            rc = batch_put_inode(b, ino, &rec, data, tlen);
        if (rc == 0)
            rc = batch_put_inode(b, parent, &prec, NULL, 0);
        if (rc == 0)
            rc = fs_commit(fs, b);
    }
    lsm_batch_free(b);
    struct inode *ip = NULL;
    if (rc == 0) {
        install(dp, &prec);
        atomic_fetch_add(&fs->inode_count, 1);
        ip = icache_pin(fs, ino);
        if (ip == NULL)
            rc = -ENOMEM;    /* created; the next access loads it */
    }
    if (ip != NULL) {
        pthread_rwlock_wrlock(&ip->lock);
        ip->rec = rec;
        ip->loaded = 1;
        /* A file made in a directory fsyncdir'd is likely fsync'd too
         * (a journal made, fsync'd and deleted per transaction; a file
         * written, fsync'd and renamed into place).  Not a directory: the
         * mark would spread to every file of a new subtree. */
        atomic_store(&ip->synced, S_ISREG(mode) && atomic_load(&dp->synced));
        if (S_ISREG(mode) || S_ISLNK(mode)) {
            inode_set_data(fs, ip, data, tlen);
            data = NULL;
        }
        icache_ref(fs, ip, 1, opened ? 1 : 0);
        fs_fill_stat(fs, ino, &rec, out);
        inode_put(fs, ip);
    }
    free(data);
    if (dp != NULL)
        inode_put(fs, dp);
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}

int fs_mknod(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
             mode_t mode, dev_t rdev, struct stat *out)
{
    if ((mode & S_IFMT) == 0)
        mode |= S_IFREG;
    switch (mode & S_IFMT) {
    case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
        break;
    default:
        return -EINVAL;
    }
    return make_node(fs, c, parent, name, mode, rdev, NULL, 0, 0, out);
}

int fs_mkdir(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
             mode_t mode, struct stat *out)
{
    return make_node(fs, c, parent, name, S_IFDIR | (mode & 07777), 0, NULL, 0,
                     0, out);
}

int fs_symlink(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
               const char *target, struct stat *out)
{
    size_t tlen = strnlen(target, FS_SYMLINK_MAX + 1);
    if (tlen == 0)
        return -ENOENT;
    if (tlen > FS_SYMLINK_MAX)
        return -ENAMETOOLONG;
    fs_cred lc = *c;
    lc.umask = 0;                /* symlinks are always rwxrwxrwx */
    return make_node(fs, &lc, parent, name, S_IFLNK | 0777, 0, target, tlen, 0,
                     out);
}

int fs_create(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
              mode_t mode, int flags, struct stat *out)
{
    int rc = make_node(fs, c, parent, name, S_IFREG | (mode & 07777), 0, NULL,
                       0, 1, out);
    if (rc != -EEXIST || (flags & O_EXCL))
        return rc;
    /* The name exists and O_EXCL is not set: open it (open(2) O_CREAT). */
    rc = fs_lookup(fs, parent, name, out);
    if (rc < 0)
        return rc;
    if (S_ISDIR(out->st_mode))
        rc = -EISDIR;
    else
        rc = fs_open_file(fs, c, (uint64_t)out->st_ino, flags);
    if (rc == 0)
        rc = fs_getattr(fs, (uint64_t)out->st_ino, out);
    if (rc < 0)
        fs_forget(fs, (uint64_t)out->st_ino, 1);
    return rc;
}

/* An O_TMPFILE: an open regular file with no name.  Its record and an
 * orphan key go in one batch, so a crash before linkat or the last
 * release leaves an orphan that fs_open reclaims.  The directory only
 * lends its setgid rule; it does not change.  Cost: one write of two
 * keys. */
int fs_tmpfile(fs_t *fs, const fs_cred *c, uint64_t parent, mode_t mode,
               int flags, struct stat *out)
{
    struct inode *dp;
    int rc = inode_get(fs, parent, 0, &dp);
    if (rc < 0)
        return rc;
    fs_inode dir = dp->rec;
    inode_put(fs, dp);
    if (!S_ISDIR(dir.mode))
        return -ENOTDIR;
    if ((rc = deny_change(&dir)) < 0)
        return rc;
    uint64_t ino;
    if ((rc = fs_alloc_ino(fs, &ino)) < 0)
        return rc;
    fs_inode rec;
    init_inode(&rec, c, &dir, parent, S_IFREG | (mode & 07777), 0, fs_now());
    rec.nlink = 0;
    lsm_batch *b = lsm_batch_new();
    char key[16];
    size_t klen = fs_key_orphan(key, ino);
    rc = b ? batch_put_inode(b, ino, &rec, NULL, 0) : -ENOMEM;
    if (rc == 0 && lsm_batch_put(b, key, klen, "", 0) != LSM_OK)
        rc = -ENOMEM;
    if (rc == 0)
        rc = fs_commit(fs, b);
    lsm_batch_free(b);
    if (rc < 0)
        return rc;
    atomic_fetch_add(&fs->inode_count, 1);
    struct inode *ip = icache_pin(fs, ino);
    if (ip == NULL)
        return -ENOMEM;          /* an orphan: reclaimed at close or open */
    pthread_rwlock_wrlock(&ip->lock);
    ip->rec = rec;
    ip->loaded = 1;
    ip->linkable = !(flags & O_EXCL);
    inode_set_data(fs, ip, NULL, 0);
    icache_ref(fs, ip, 1, 1);
    fs_fill_stat(fs, ino, &rec, out);
    inode_put(fs, ip);
    return 0;
}

int fs_readlink(fs_t *fs, uint64_t ino, char *buf, size_t cap)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_EXCL | IG_GONE, &ip);
    if (rc < 0)
        return rc;
    if (!S_ISLNK(ip->rec.mode)) {
        inode_put(fs, ip);
        return -EINVAL;
    }
    rc = inode_load_data(fs, ip);
    if (rc == 0) {
        size_t n = ip->dlen < cap ? ip->dlen : cap;
        memcpy(buf, ip->data, n);
        rc = (int)n;
    }
    inode_put(fs, ip);
    return rc;
}

/* --- links and removal ----------------------------------------------------- */

int fs_link(fs_t *fs, uint64_t ino, uint64_t newparent, const char *newname,
            struct stat *out)
{
    size_t len;
    int rc = check_name(newname, &len);
    if (rc < 0)
        return rc;
    rc = lock_for_new_name(fs, newparent, newname, len);
    uint64_t inos[2] = { ino, newparent };
    struct inode *ips[2] = { NULL, NULL };
    if (rc == 0)
        rc = inode_get_many(fs, inos, 2, ips);
    if (rc == 0 && S_ISDIR(ips[0]->rec.mode))
        rc = -EPERM;
    if (rc == 0 && (rc = deny_remove(&ips[0]->rec)) == 0)
        rc = deny_change(&ips[1]->rec);
    if (rc == 0) {
        if (ips[0]->rec.nlink == 0 && !ips[0]->linkable)
            rc = -ENOENT;
        else if (ips[0]->rec.nlink >= FS_LINK_MAX)
            rc = -EMLINK;
        else    /* the rewritten record carries the inline data */
            rc = inode_load_data(fs, ips[0]);
    }
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    fs_inode rec, prec;
    if (rc == 0) {
        struct timespec now = fs_now();
        rec = ips[0]->rec;
        rec.nlink++;
        rec.ctime = now;
        prec = ips[1]->rec;
        prec.size++;
        prec.mtime = prec.ctime = now;
        rc = batch_put_dirent(b, newparent, newname, len, ino,
                              fs_mode_dtype(rec.mode));
        if (rc == 0)
            rc = batch_put_inode(b, ino, &rec, ips[0]->data, ips[0]->dlen);
        if (rc == 0 && rec.nlink == 1) {   /* a tmpfile's first name */
            char key[16];
            size_t klen = fs_key_orphan(key, ino);
            if (lsm_batch_delete(b, key, klen) != LSM_OK)
                rc = -ENOMEM;
        }
        if (rc == 0)
            rc = batch_put_inode(b, newparent, &prec, NULL, 0);
        if (rc == 0)
            rc = fs_commit(fs, b);
    }
    lsm_batch_free(b);
    if (rc == 0) {
        install(ips[0], &rec);
        install(ips[1], &prec);
        ips[0]->linkable = 0;          /* linkat(2) links a tmpfile once */
        icache_ref(fs, ips[0], 1, 0);
        fs_fill_stat(fs, ino, &rec, out);
    }
    if (ips[0] != NULL)
        inode_put_many(fs, ips, 2);
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}

int fs_unlink(fs_t *fs, uint64_t parent, const char *name)
{
    size_t len;
    int rc = check_name(name, &len);
    if (rc < 0)
        return rc;
    if (is_dot(name, len))
        return -EISDIR;
    pthread_rwlock_wrlock(&fs->ns_lock);
    uint64_t ino;
    uint8_t type;
    rc = dir_lookup(fs, parent, name, len, &ino, &type);
    if (rc == 0 && type == DT_DIR)
        rc = -EISDIR;
    uint64_t inos[2] = { parent, ino };
    struct inode *ips[2] = { NULL, NULL };
    if (rc == 0)
        rc = inode_get_many(fs, inos, 2, ips);
    if (rc == 0 && S_ISDIR(ips[1]->rec.mode))
        rc = -EISDIR;
    if (rc == 0 && (rc = deny_remove(&ips[0]->rec)) == 0)
        rc = deny_remove(&ips[1]->rec);
    /* A record that stays (linked, or an orphan) carries its inline data. */
    if (rc == 0 && (ips[1]->rec.nlink > 1 || ips[1]->nopen > 0))
        rc = inode_load_data(fs, ips[1]);
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    fs_inode prec, rec;
    int deleted = 0;
    if (rc == 0) {
        struct timespec now = fs_now();
        prec = ips[0]->rec;
        dec64(&prec.size);
        prec.mtime = prec.ctime = now;
        rec = ips[1]->rec;
        rec.nlink = rec.nlink > 0 ? rec.nlink - 1 : 0;
        rec.ctime = now;
        rc = batch_delete_dirent(b, parent, name, len);
        if (rc == 0)
            rc = batch_put_inode(b, parent, &prec, NULL, 0);
        if (rc == 0)
            deleted = unlinked_effects(ips[1], &rec, b, &rc);
        if (rc == 0)
            rc = fs_commit_flags(fs, b, LSM_RECLAIM);
    }
    lsm_batch_free(b);
    if (rc == 0) {
        install(ips[0], &prec);
        if (deleted)
            mark_gone(fs, ips[1], &rec);
        else
            install(ips[1], &rec);
    }
    if (ips[0] != NULL)
        inode_put_many(fs, ips, 2);
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}

int fs_rmdir(fs_t *fs, uint64_t parent, const char *name)
{
    size_t len;
    int rc = check_name(name, &len);
    if (rc < 0)
        return rc;
    if (len == 1 && name[0] == '.')
        return -EINVAL;
    if (is_dot(name, len))
        return -ENOTEMPTY;
    pthread_rwlock_wrlock(&fs->ns_lock);
    uint64_t ino;
    uint8_t type;
    rc = dir_lookup(fs, parent, name, len, &ino, &type);
    if (rc == 0 && type != DT_DIR)
        rc = -ENOTDIR;
    uint64_t inos[2] = { parent, ino };
    struct inode *ips[2] = { NULL, NULL };
    if (rc == 0)
        rc = inode_get_many(fs, inos, 2, ips);
    if (rc == 0 && !S_ISDIR(ips[1]->rec.mode))
        rc = -ENOTDIR;
    if (rc == 0 && (rc = deny_remove(&ips[0]->rec)) == 0)
        rc = deny_remove(&ips[1]->rec);
    if (rc == 0 && ips[1]->rec.size != 0)
        rc = -ENOTEMPTY;
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    fs_inode prec, rec;
    if (rc == 0) {
        struct timespec now = fs_now();
        prec = ips[0]->rec;
        dec64(&prec.size);
        dec32(&prec.nlink);
        prec.mtime = prec.ctime = now;
        rec = ips[1]->rec;
        rec.ctime = now;
        rc = batch_delete_dirent(b, parent, name, len);
        if (rc == 0)
            rc = batch_put_inode(b, parent, &prec, NULL, 0);
        if (rc == 0)
            rc = batch_delete_inode(b, ino, &rec, 0);
        if (rc == 0)
            rc = fs_commit_flags(fs, b, LSM_RECLAIM);
    }
    lsm_batch_free(b);
    if (rc == 0) {
        install(ips[0], &prec);
        mark_gone(fs, ips[1], &rec);
    }
    if (ips[0] != NULL)
        inode_put_many(fs, ips, 2);
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}

/* --- rename ----------------------------------------------------------------- */

/* 1 if directory `anc` is `node` or one of its ancestors, 0 if not. */
static int is_ancestor(fs_t *fs, uint64_t anc, uint64_t node)
{
    for (unsigned steps = 0; steps < ANCESTRY_MAX; steps++) {
        if (node == anc)
            return 1;
        if (node == FS_ROOT_INO)
            return 0;
        struct inode *ip;
        int rc = inode_get(fs, node, 0, &ip);
        if (rc < 0)
            return rc;
        uint64_t up = ip->rec.parent;
        inode_put(fs, ip);
        node = up;
    }
    fs_log(fs, LOG_ERR, "directory %llu: parent chain does not reach the root",
           (unsigned long long)node);
    return -EIO;
}

/* The records a rename changes, one working copy per distinct inode. */
struct rename_set {
    struct inode *ip[4];     /* old parent, new parent, source, target */
    fs_inode rec[4];
    int slot[4];             /* index of the working copy for each role */
};

static fs_inode *role(struct rename_set *s, int r)
{
    return &s->rec[s->slot[r]];
}

enum { R_OLDDIR, R_NEWDIR, R_SRC, R_DST };

/* Orders and validates what rename(2) checks before anything changes.
 * Returns 1 when the rename is a no-op (both names are one inode). */
static int rename_check(fs_t *fs, uint64_t parent, uint64_t newparent,
                        uint64_t sino, uint8_t stype, uint64_t dino,
                        uint8_t dtype, unsigned flags)
{
    if ((flags & RENAME_EXCHANGE) && dino == 0)
        return -ENOENT;
    if ((flags & RENAME_NOREPLACE) && dino != 0)
        return -EEXIST;
    if (dino == sino)
        return 1;
    if (!(flags & RENAME_EXCHANGE) && dino != 0) {
        if (stype == DT_DIR && dtype != DT_DIR)
            return -ENOTDIR;
        if (stype != DT_DIR && dtype == DT_DIR)
            return -EISDIR;
    }
    if (stype == DT_DIR && parent != newparent) {
        int r = is_ancestor(fs, sino, newparent);
        if (r != 0)
            return r < 0 ? r : -EINVAL;
    }
    if ((flags & RENAME_EXCHANGE) && dtype == DT_DIR && parent != newparent) {
        int r = is_ancestor(fs, dino, parent);
        if (r != 0)
            return r < 0 ? r : -EINVAL;
    }
    return 0;
}

/* Adds the entry and record changes of the rename to b. *deleted is set
 * when the replaced target's records are removed.  wino, when not 0, is
 * the whiteout (record *wrec) that takes the source's name. */
static int rename_build(struct rename_set *s, lsm_batch *b,
                        uint64_t parent, const char *name, size_t len,
                        uint64_t newparent, const char *newname, size_t newlen,
                        uint64_t sino, uint8_t stype, uint64_t dino,
                        uint8_t dtype, unsigned flags, uint64_t wino,
                        const fs_inode *wrec, int *deleted)
{
    struct timespec now = fs_now();
    fs_inode *op = role(s, R_OLDDIR), *np = role(s, R_NEWDIR);
    fs_inode *sr = role(s, R_SRC);
    int moved = parent != newparent;
    int rc;
    *deleted = 0;
    op->mtime = op->ctime = np->mtime = np->ctime = now;
    sr->ctime = now;
    if (flags & RENAME_EXCHANGE) {
        fs_inode *dr = role(s, R_DST);
        dr->ctime = now;
        rc = batch_put_dirent(b, parent, name, len, dino, dtype);
        if (rc == 0)
            rc = batch_put_dirent(b, newparent, newname, newlen, sino, stype);
        if (moved && stype == DT_DIR) {
            sr->parent = newparent;
            dec32(&op->nlink);
            np->nlink++;
        }
        if (moved && dtype == DT_DIR) {
            dr->parent = parent;
            dec32(&np->nlink);
            op->nlink++;
        }
        return rc;
    }
    if (wino != 0) {
        rc = batch_put_dirent(b, parent, name, len, wino, DT_CHR);
        if (rc == 0)
            rc = batch_put_inode(b, wino, wrec, NULL, 0);
    } else {
        rc = batch_delete_dirent(b, parent, name, len);
        dec64(&op->size);
    }
    if (rc == 0)
        rc = batch_put_dirent(b, newparent, newname, newlen, sino, stype);
    np->size++;
    if (moved && stype == DT_DIR) {
        sr->parent = newparent;
        dec32(&op->nlink);
        np->nlink++;
    }
    if (dino != 0) {
        fs_inode *dr = role(s, R_DST);
        dec64(&np->size);           /* the target's entry is replaced */
        dr->ctime = now;
        if (dtype == DT_DIR) {
            dr->nlink = 0;
            dec32(&np->nlink);
        } else {
            dr->nlink = dr->nlink > 0 ? dr->nlink - 1 : 0;
        }
        int drc = 0;
        if (rc == 0)
            *deleted = unlinked_effects(s->ip[R_DST], dr, b, &drc);
        if (rc == 0)
            rc = drc;
    }
    return rc;
}

/* -EPERM when chattr flags forbid the rename (see deny_remove): both
 * names' directories lose or replace an entry, except that a new name in
 * an append-only directory is allowed. */
static int rename_allowed(const struct rename_set *s, uint64_t dino)
{
    int replaces = dino != 0;
    int rc = deny_remove(&s->ip[R_OLDDIR]->rec);
    if (rc == 0)
        rc = replaces ? deny_remove(&s->ip[R_NEWDIR]->rec)
                      : deny_change(&s->ip[R_NEWDIR]->rec);
    if (rc == 0)
        rc = deny_remove(&s->ip[R_SRC]->rec);
    if (rc == 0 && replaces)
        rc = deny_remove(&s->ip[R_DST]->rec);
    return rc;
}

int fs_rename(fs_t *fs, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, unsigned flags)
{
    if (flags & RENAME_WHITEOUT)
        return -EINVAL;          /* the whiteout needs an owner */
    return fs_rename_as(fs, NULL, parent, name, newparent, newname, flags);
}

int fs_rename_as(fs_t *fs, const fs_cred *c, uint64_t parent,
                 const char *name, uint64_t newparent, const char *newname,
                 unsigned flags)
{
    const unsigned known = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
    if ((flags & ~known) != 0 ||
        ((flags & RENAME_EXCHANGE) &&
         (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) ||
        ((flags & RENAME_WHITEOUT) && c == NULL))
        return -EINVAL;
    size_t len, newlen;
    int rc = check_name(name, &len);
    if (rc == 0)
        rc = check_name(newname, &newlen);
    if (rc < 0)
        return rc;
    if (is_dot(name, len) || is_dot(newname, newlen))
        return -EINVAL;
    pthread_rwlock_wrlock(&fs->ns_lock);
    uint64_t sino = 0, dino = 0;
    uint8_t stype = 0, dtype = 0;
    rc = dir_lookup(fs, parent, name, len, &sino, &stype);
    if (rc == 0)
        rc = dir_probe(fs, newparent, newname, newlen, &dino, &dtype);
    if (rc == 0)
        rc = rename_check(fs, parent, newparent, sino, stype, dino, dtype, flags);
    if (rc != 0) {
        pthread_rwlock_unlock(&fs->ns_lock);
        return rc > 0 ? 0 : rc;
    }
    struct rename_set s;
    uint64_t inos[4] = { parent, newparent, sino, dino };
    rc = inode_get_many(fs, inos, 4, s.ip);
    if (rc < 0) {
        pthread_rwlock_unlock(&fs->ns_lock);
        return rc;
    }
    for (int r = 0; r < 4; r++) {
        s.slot[r] = r;
        for (int j = 0; j < r; j++)
            if (s.ip[j] == s.ip[r]) {
                s.slot[r] = j;
                break;
            }
        if (s.ip[r] != NULL)
            s.rec[r] = s.ip[r]->rec;
    }
    rc = rename_allowed(&s, dino);
    if (rc == 0 && !(flags & RENAME_EXCHANGE) && dino != 0 &&
        dtype == DT_DIR && s.ip[R_DST]->rec.size != 0)
        rc = -ENOTEMPTY;
    if (rc == 0 && stype == DT_DIR && parent != newparent &&
        s.ip[R_NEWDIR]->rec.nlink >= FS_LINK_MAX)
        rc = -EMLINK;
    /* Records rewritten below carry their inline data (a replaced target
     * that is deleted is not rewritten). */
    if (rc == 0)
        rc = inode_load_data(fs, s.ip[R_SRC]);
    if (rc == 0 && dino != 0 &&
        ((flags & RENAME_EXCHANGE) || s.ip[R_DST]->rec.nlink > 1 ||
         s.ip[R_DST]->nopen > 0))
        rc = inode_load_data(fs, s.ip[R_DST]);
    /* The whiteout: a character device 0/0 owned by the caller (as
     * vfs_whiteout makes one), in the source's directory. */
    uint64_t wino = 0;
    fs_inode wrec;
    if (rc == 0 && (flags & RENAME_WHITEOUT)) {
        rc = fs_alloc_ino(fs, &wino);
        init_inode(&wrec, c, &s.ip[R_OLDDIR]->rec, parent, S_IFCHR, 0,
                   fs_now());
    }
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    int deleted = 0;
    if (rc == 0)
        rc = rename_build(&s, b, parent, name, len, newparent, newname,
                          newlen, sino, stype, dino, dtype, flags, wino,
                          &wrec, &deleted);
    /* Every distinct record once (the target's, unless handled above). */
    for (int r = 0; rc == 0 && r < 4; r++) {
        if (s.ip[r] == NULL || s.slot[r] != r)
            continue;
        if (r == R_DST && !(flags & RENAME_EXCHANGE))
            continue;
        rc = batch_put_inode(b, s.ip[r]->ino, &s.rec[r], s.ip[r]->data,
                             s.ip[r]->dlen);
    }
    if (rc == 0)   /* replacing a target frees its space */
        rc = fs_commit_flags(fs, b, deleted ? LSM_RECLAIM : 0);
    lsm_batch_free(b);
    if (rc == 0 && wino != 0)
        atomic_fetch_add(&fs->inode_count, 1);
    if (rc == 0) {
        for (int r = 0; r < 4; r++) {
            if (s.ip[r] == NULL || s.slot[r] != r)
                continue;
            if (r == R_DST && deleted)
                mark_gone(fs, s.ip[r], &s.rec[r]);
            else
                install(s.ip[r], &s.rec[r]);
        }
    }
    inode_put_many(fs, s.ip, 4);
    pthread_rwlock_unlock(&fs->ns_lock);
    return rc;
}
