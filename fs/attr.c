/*
 * attr.c — attributes (getattr, setattr) and extended attributes.
 *
 * Extended attributes live under ('X', ino, name); the inode record
 * counts them, so the frequent lookups of absent attributes (the kernel
 * asks for security.capability before writes) cost no engine read on an
 * inode that has none.  Setting or removing one rewrites the record
 * (ctime, count) in the same batch.
 */
#include "internal.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <syslog.h>

int fs_getattr(fs_t *fs, uint64_t ino, struct stat *st)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    fs_fill_stat(fs, ino, &ip->rec, st);
    inode_put(fs, ip);
    return 0;
}

static int cred_in_group(const fs_cred *c, gid_t g)
{
    return c != NULL && (c->gid == g || (c->in_group != NULL && c->in_group(c, g)));
}

static int cred_has_fsetid(const fs_cred *c)
{
    if (c == NULL)
        return 0;
    return c->has_fsetid != NULL ? c->has_fsetid(c) : c->uid == 0;
}

/* setgid goes when group-executable (it marks no mandatory locking then)
 * or when c could not have set it: neither in the group nor CAP_FSETID. */
static int drops_sgid(const fs_cred *c, mode_t mode, gid_t gid)
{
    if (!(mode & S_ISGID))
        return 0;
    return (mode & S_IXGRP) || !(cred_in_group(c, gid) || cred_has_fsetid(c));
}

mode_t fs_mode_after_write(const fs_cred *c, mode_t mode, gid_t gid)
{
    if (!S_ISREG(mode) || !(mode & (S_ISUID | S_ISGID)) || cred_has_fsetid(c))
        return mode;
    mode &= ~(mode_t)S_ISUID;
    if (drops_sgid(c, mode, gid))
        mode &= ~(mode_t)S_ISGID;
    return mode;
}

#define FS_SET_TIMES (FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW | \
                      FS_SET_MTIME_NOW | FS_SET_CTIME)

/* Times set on a file whose records are gone (unlinked, no handle left)
 * while the kernel still knows it: its writeback cache flushes a
 * written file's times after the unlink.  Nothing can read them again,
 * so they are accepted and dropped; an error would come back from the
 * next syncfs(2) of the mount (sync -f after rm -rf). */
static int setattr_gone(fs_t *fs, uint64_t ino, struct stat *out)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    if (out != NULL)
        fs_fill_stat(fs, ino, &ip->rec, out);
    inode_put(fs, ip);
    return 0;
}

int fs_setattr(fs_t *fs, const fs_cred *c, uint64_t ino,
               const struct stat *attr, int set, struct stat *out)
{
    struct inode *ip;
    int rc = inode_get_for_update(fs, ino, &ip);
    if (rc == -ENOENT && !(set & ~FS_SET_TIMES))
        return setattr_gone(fs, ino, out);
    if (rc < 0)
        return rc;
    fs_inode rec = ip->rec;
    struct timespec now = fs_now();
    struct data_change dc = { 0, NULL, 0 };
    rc = deny_change(&rec);
    if (rc == 0 && (set & (FS_SET_SIZE | FS_SET_MODE | FS_SET_UID | FS_SET_GID)))
        rc = deny_remove(&rec);  /* append-only: times only */
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    if (rc == 0 && (set & FS_SET_SIZE)) {
        if (S_ISDIR(rec.mode))
            rc = -EISDIR;
        else if (!S_ISREG(rec.mode))
            rc = -EINVAL;
        else if (attr->st_size < 0)
            rc = -EINVAL;
        else
            rc = file_truncate(fs, ip, &rec, (uint64_t)attr->st_size, b, &dc);
        rec.mtime = now;
    }
    if (rc == 0 && (set & (FS_SET_UID | FS_SET_GID))) {
        /* chown(2) of a non-directory: setuid always goes, even for root;
         * setgid as after a write (judged on the old group). */
        if (!S_ISDIR(rec.mode)) {
            if (drops_sgid(c, rec.mode, rec.gid))
                rec.mode &= ~(uint32_t)S_ISGID;
            rec.mode &= ~(uint32_t)S_ISUID;
        }
        if (set & FS_SET_UID)
            rec.uid = (uint32_t)attr->st_uid;
        if (set & FS_SET_GID)
            rec.gid = (uint32_t)attr->st_gid;
    }
    if (set & FS_SET_MODE) {
        rec.mode = (rec.mode & S_IFMT) | ((uint32_t)attr->st_mode & 07777);
        /* chmod(2): setgid only for a member of the group or CAP_FSETID
         * (the kernel's setattr_prepare; it skips this check when it
         * asks to clear the bits after a write, see fs.h). */
        if ((rec.mode & S_ISGID) && !cred_in_group(c, rec.gid) &&
            !cred_has_fsetid(c))
            rec.mode &= ~(uint32_t)S_ISGID;
    }
    if (set & (FS_SET_SIZE | FS_SET_KILL_PRIV))
        rec.mode = (uint32_t)fs_mode_after_write(c, rec.mode, rec.gid);
    if (set & FS_SET_ATIME_NOW)
        rec.atime = now;
    else if (set & FS_SET_ATIME)
        rec.atime = attr->st_atim;
    if (set & FS_SET_MTIME_NOW)
        rec.mtime = now;
    else if (set & FS_SET_MTIME)
        rec.mtime = attr->st_mtim;
    rec.ctime = (set & FS_SET_CTIME) ? attr->st_ctim : now;
    if (rc == 0 && ((rec.atime.tv_nsec < 0 || rec.atime.tv_nsec >= 1000000000L) ||
                    (rec.mtime.tv_nsec < 0 || rec.mtime.tv_nsec >= 1000000000L) ||
                    (rec.ctime.tv_nsec < 0 || rec.ctime.tv_nsec >= 1000000000L)))
        rc = -EINVAL;
    /* Truncating down frees space: it works on a full disk. */
    int shrinks = (set & FS_SET_SIZE) && rec.size < ip->rec.size;
    if (rc == 0)
        rc = inode_commit_flags(fs, ip, &rec, b, &dc, shrinks ? LSM_RECLAIM : 0);
    else
        data_change_finish(fs, ip, &dc, 0);
    lsm_batch_free(b);
    if (rc == 0 && out != NULL)
        fs_fill_stat(fs, ino, &ip->rec, out);
    inode_put(fs, ip);
    return rc;
}

/* --- file attribute flags ------------------------------------------------- */

/* Ends an attribute change of ip (locked by inode_get_for_update): when
 * rc is 0, commits b with *rec and a new ctime.  Frees b (NULL allowed)
 * and releases ip either way; returns the result. */
static int commit_ctime_put(fs_t *fs, struct inode *ip, fs_inode *rec,
                            lsm_batch *b, int rc)
{
    if (rc == 0) {
        rec->ctime = fs_now();
        struct data_change dc = { 0, NULL, 0 };
        rc = inode_commit(fs, ip, rec, b, &dc);
    }
    lsm_batch_free(b);
    inode_put(fs, ip);
    return rc;
}

/* FS_*_FL of the flags lsmfs stores, and back. */
static unsigned rec_to_flags(const fs_inode *rec)
{
    return ((rec->flags & FS_INODE_IMMUTABLE) ? FS_IMMUTABLE_FL : 0) |
           ((rec->flags & FS_INODE_APPEND) ? FS_APPEND_FL : 0);
}

int fs_getflags(fs_t *fs, uint64_t ino, unsigned *flags)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    *flags = rec_to_flags(&ip->rec);
    inode_put(fs, ip);
    return 0;
}

int fs_setflags(fs_t *fs, const fs_cred *c, uint64_t ino, unsigned flags)
{
    if (flags & ~(unsigned)(FS_IMMUTABLE_FL | FS_APPEND_FL))
        return -EOPNOTSUPP;
    struct inode *ip;
    int rc = inode_get_for_update(fs, ino, &ip);
    if (rc < 0)
        return rc;
    fs_inode rec = ip->rec;
    if (c->uid != 0 && c->uid != rec.uid)
        rc = -EPERM;
    else if (rec_to_flags(&rec) != flags && c->uid != 0)
        rc = -EPERM;             /* CAP_LINUX_IMMUTABLE */
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    rec.flags &= (uint8_t)~(FS_INODE_IMMUTABLE | FS_INODE_APPEND);
    if (flags & FS_IMMUTABLE_FL)
        rec.flags |= FS_INODE_IMMUTABLE;
    if (flags & FS_APPEND_FL)
        rec.flags |= FS_INODE_APPEND;
    return commit_ctime_put(fs, ip, &rec, b, rc);
}

/* --- extended attributes ---------------------------------------------------- */

/* 0, -ERANGE (longer than the limit) or -EINVAL (empty). */
static int check_xattr_name(const char *name, size_t *len)
{
    size_t n = strnlen(name, FS_XATTR_NAME_MAX + 1);
    if (n > FS_XATTR_NAME_MAX)
        return -ERANGE;
    if (n == 0)
        return -EINVAL;
    *len = n;
    return 0;
}

/* Reads xattr `name` of ip: 0 with *val (lsm_free), or -ENODATA. */
static int read_xattr(fs_t *fs, struct inode *ip, const char *name, size_t len,
                      void **val, size_t *vlen)
{
    if (ip->rec.xattrs == 0)
        return -ENODATA;
    char key[FS_KEY_MAX];
    size_t klen = fs_key_xattr(key, ip->ino, name, len);
    int rc = fs_get(fs, key, klen, val, vlen);
    return rc == -ENOENT ? -ENODATA : rc;
}

/* Ends a setxattr/removexattr: when rc is 0, commits b with the inode's
 * xattr count moved by delta and a new ctime; frees b, releases ip. */
static int xattr_finish(fs_t *fs, struct inode *ip, lsm_batch *b, int rc,
                        int delta)
{
    fs_inode rec = ip->rec;
    if (delta > 0)
        rec.xattrs++;
    else if (delta < 0 && rec.xattrs > 0)
        rec.xattrs--;
    return commit_ctime_put(fs, ip, &rec, b, rc);
}

int fs_setxattr(fs_t *fs, uint64_t ino, const char *name, const void *value,
                size_t size, int flags)
{
    size_t len;
    int rc = check_xattr_name(name, &len);
    if (rc < 0)
        return rc;
    if (size > FS_XATTR_VALUE_MAX)
        return -E2BIG;
    if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0 ||
        flags == (XATTR_CREATE | XATTR_REPLACE))
        return -EINVAL;
    struct inode *ip;
    rc = inode_get_for_update(fs, ino, &ip);
    if (rc < 0)
        return rc;
    void *old;
    size_t oldlen;
    int exists = 0;
    rc = deny_remove(&ip->rec);
    if (rc == 0)
        rc = read_xattr(fs, ip, name, len, &old, &oldlen);
    if (rc == 0) {
        exists = 1;
        lsm_free(old);
    } else if (rc == -ENODATA) {
        rc = 0;
    }
    if (rc == 0 && exists && (flags & XATTR_CREATE))
        rc = -EEXIST;
    if (rc == 0 && !exists && (flags & XATTR_REPLACE))
        rc = -ENODATA;
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        char key[FS_KEY_MAX];
        size_t klen = fs_key_xattr(key, ino, name, len);
        if (lsm_batch_put(b, key, klen, size ? value : "", size) != LSM_OK)
            rc = -ENOMEM;
    }
    return xattr_finish(fs, ip, b, rc, exists ? 0 : 1);
}

ssize_t fs_getxattr(fs_t *fs, uint64_t ino, const char *name, void *buf,
                    size_t size)
{
    size_t len;
    int rc = check_xattr_name(name, &len);
    if (rc < 0)
        return rc == -ERANGE ? -ENODATA : rc;
    struct inode *ip;
    rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    void *val = NULL;
    size_t vlen = 0;
    rc = ip->gone ? -ENODATA : read_xattr(fs, ip, name, len, &val, &vlen);
    inode_put(fs, ip);
    if (rc < 0)
        return rc;
    ssize_t res = (ssize_t)vlen;
    if (size > 0 && vlen > size)
        res = -ERANGE;
    else if (size > 0 && vlen > 0)
        memcpy(buf, val, vlen);
    lsm_free(val);
    return res;
}

ssize_t fs_listxattr(fs_t *fs, uint64_t ino, char *buf, size_t size)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    if (ip->rec.xattrs == 0 || ip->gone) {
        inode_put(fs, ip);
        return 0;
    }
    char lo[FS_KEY_MAX];
    size_t ll = fs_key_ino_prefix(lo, FS_KEY_XATTR, ino);
    lsm_iter *it = lsm_iter_new(fs->db, NULL);
    if (it == NULL) {
        inode_put(fs, ip);
        return -ENOMEM;
    }
    size_t total = 0;
    ssize_t res = 0;
    for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, nlen;
        const void *k = lsm_iter_key(it, &klen);
        uint64_t kino;
        const char *nm;
        if (klen < ll || memcmp(k, lo, ll) != 0)
            break;
        if (fs_decode_xattr_key(k, klen, &kino, &nm, &nlen) != 0) {
            fs_log(fs, LOG_ERR, "inode %llu: malformed xattr key (%zu bytes)",
                   (unsigned long long)ino, klen);
            res = -EIO;
            break;
        }
        if (size > 0 && total + nlen + 1 <= size) {
            memcpy(buf + total, nm, nlen);
            buf[total + nlen] = '\0';
        }
        total += nlen + 1;
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    inode_put(fs, ip);
    if (st != LSM_OK)
        return fs_engine_error(fs, st, "xattr scan");
    if (res < 0)
        return res;
    if (size > 0 && total > size)
        return -ERANGE;
    return (ssize_t)total;
}

int fs_removexattr(fs_t *fs, uint64_t ino, const char *name)
{
    size_t len;
    int rc = check_xattr_name(name, &len);
    if (rc < 0)
        return rc == -ERANGE ? -ENODATA : rc;
    struct inode *ip;
    rc = inode_get_for_update(fs, ino, &ip);
    if (rc < 0)
        return rc;
    void *old;
    size_t oldlen;
    rc = deny_remove(&ip->rec);
    if (rc == 0)
        rc = read_xattr(fs, ip, name, len, &old, &oldlen);
    if (rc == 0)
        lsm_free(old);
    lsm_batch *b = NULL;
    if (rc == 0 && (b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        char key[FS_KEY_MAX];
        size_t klen = fs_key_xattr(key, ino, name, len);
        if (lsm_batch_delete(b, key, klen) != LSM_OK)
            rc = -ENOMEM;
    }
    return xattr_finish(fs, ip, b, rc, -1);
}
