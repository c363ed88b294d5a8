/*
 * ops.c — libfuse low-level request handlers: each maps one request onto
 * one fs.h call and turns its negative errno into fuse_reply_err.
 *
 * Reference counting (see fs_forget in fs.h):
 *   - The fs counts one lookup reference for every struct stat it fills
 *     for a looked-up or new entry (lookup, mknod, mkdir, symlink, link,
 *     create, and readdirplus entries other than "." and "..").  The
 *     kernel counts one for every entry reply it receives, and returns
 *     them through forget/forget_multi.
 *   - open/create add an open reference that release drops.
 *   - So whenever a reply does not reach the kernel (the reply function
 *     fails, typically -ENOENT for an interrupted request), the handler
 *     drops the references the fs took on the kernel's behalf.  (A
 *     readdirplus entry that does not fit is refused before the fs
 *     counts it.)
 *
 * Permissions are checked by the kernel (default_permissions, set unless
 * only root can use the mount: see mnt_add_mount_opts); the caller's
 * uid/gid/umask only decide ownership of new inodes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "ctl_snap.h"
#include "mnt.h"
#include "tools.h"

/* fi->fh bits for regular files. */
#define MNT_FH_APPEND 1u   /* O_APPEND without writeback cache: fs appends */

static struct mnt_state *mnt_st(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static fs_t *mnt_fs(fuse_req_t req)
{
    return mnt_st(req)->fs;
}

static int mnt_in_group(fuse_req_t req, gid_t gid)
{
    gid_t small[64];
    gid_t *list = small;
    int n = fuse_req_getgroups(req, 64, small);
    if (n > 64) {
        list = malloc((size_t)n * sizeof *list);
        if (list == NULL)
            return 0;
        int m = fuse_req_getgroups(req, n, list);
        n = m < n ? m : n;
    }
    int found = 0;
    for (int i = 0; i < n && !found; i++)
        found = list[i] == gid;
    if (list != small)
        free(list);
    return found;
}

static int mnt_cred_in_group(const fs_cred *c, gid_t gid)
{
    return mnt_in_group(c->ctx, gid);
}

/* The kernel's capable(CAP_FSETID) for the caller: the capability in
 * its effective set (/proc/PID/status CapEff) and the caller in the
 * initial user namespace, where capable() looks (root of a namespace made
 * with unshare -U holds every capability in it, not this one).  A kernel
 * thread (Kthread: knfsd, ksmbd) writes with borrowed credentials that
 * /proc does not show: uid 0 stands for them, as when /proc cannot tell
 * (no pid, e.g. a page-cache write, or no /proc). */
#define MNT_INIT_USER_NS "user:[4026531837]"   /* PROC_USER_INIT_INO */

static int mnt_in_init_user_ns(pid_t pid)
{
    char path[64], link[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/user", (long)pid);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        return 0;
    link[n] = '\0';
    return strcmp(link, MNT_INIT_USER_NS) == 0;
}

static int mnt_cred_has_fsetid(const fs_cred *c)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(c->ctx);
    char path[64], line[256];
    int found = -1, kthread = 0;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)ctx->pid);
    FILE *f = ctx->pid > 0 ? fopen(path, "r") : NULL;
    while (f != NULL && found < 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long long caps;
        int k;
        if (sscanf(line, "Kthread: %d", &k) == 1)
            kthread = k;
        else if (sscanf(line, "CapEff: %llx", &caps) == 1)
            found = (caps >> CAP_FSETID) & 1;
    }
    if (f != NULL)
        fclose(f);
    if (found < 0 || kthread)
        return c->uid == 0;
    return found && mnt_in_init_user_ns(ctx->pid);
}

/* The caller's identity; its groups and CAP_FSETID are read from /proc
 * only when asked (a setuid/setgid file is written). */
static void mnt_cred(fuse_req_t req, fs_cred *c)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    memset(c, 0, sizeof *c);
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->umask = ctx->umask;
    c->in_group = mnt_cred_in_group;
    c->has_fsetid = mnt_cred_has_fsetid;
    c->ctx = req;
}

/* Replies to a request whose result is 0 or a negative errno.  A result
 * outside the errno range would be a broken fs contract: reported as EIO
 * rather than passed to the kernel. */
static void mnt_reply_status(fuse_req_t req, long rc)
{
    if (rc == 0)
        fuse_reply_err(req, 0);
    else if (rc < 0 && rc >= -4095)
        fuse_reply_err(req, (int)-rc);
    else
        fuse_reply_err(req, EIO);
}

static void mnt_fill_entry(const struct mnt_state *m, const struct stat *st,
                           struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = st->st_ino;
    e->generation = 0;            /* inode numbers are never reused, so a
                                     file handle (ino, 0) names one inode
                                     for the store's whole life */
    e->attr = *st;
    e->attr_timeout = m->attr_timeout;
    e->entry_timeout = m->entry_timeout;
}

/* Replies with a new or looked-up entry; the fs took one lookup reference
 * for it, returned if the kernel never gets the reply. */
static void mnt_reply_entry(fuse_req_t req, const struct stat *st)
{
    struct mnt_state *m = mnt_st(req);
    struct fuse_entry_param e;
    mnt_fill_entry(m, st, &e);
    if (fuse_reply_entry(req, &e) != 0)
        mnt_forget_ino(m, st->st_ino, 1);
}

/* --- snapshots --------------------------------------------------------------
 * Requests on a snapshot's inodes (mnt.h, snapview.c) go to its view
 * through an mnt_node; every change there, or to the snapshot directory's
 * name in the root, is refused here with EROFS. */

/* Replies EROFS and returns 1 if ino is under the snapshot directory. */
static int mnt_refuse(fuse_req_t req, fuse_ino_t ino)
{
    if (!mnt_is_snap_ino(ino))
        return 0;
    fuse_reply_err(req, EROFS);
    return 1;
}

/* The same for a change to `name` in parent: also the name of the
 * snapshot directory itself in the root. */
static int mnt_refuse_name(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (mnt_refuse(req, parent))
        return 1;
    if (!mnt_is_snapdir_name(mnt_st(req), parent, name))
        return 0;
    fuse_reply_err(req, EROFS);
    return 1;
}

/* mnt_node_get for a request: replies the error and returns -1 if it
 * fails. */
static int mnt_node(fuse_req_t req, fuse_ino_t ino, struct mnt_node *n)
{
    int rc = mnt_node_get(mnt_st(req), ino, n);
    if (rc < 0)
        mnt_reply_status(req, rc);
    return rc < 0 ? -1 : 0;
}

/* --- connection ----------------------------------------------------------- */

/* Capabilities: writeback cache unless turned off (the daemon is the only
 * writer, so the kernel's cached size and times stay right); readdirplus;
 * 1 MiB writes.  Splice reading stays off by default: fs_write needs the
 * data in memory, so splicing requests into a pipe only adds a copy and
 * two system calls per request (-o splice_read turns it on anyway).
 *
 * setuid/setgid (and security.capability) after changes: the daemon
 * clears the bits itself, by the kernel's rule (setattr_should_drop_suidgid:
 * a writer without CAP_FSETID loses setuid, and setgid when the file is
 * group-executable or outside the writer's groups), on every write that
 * is not a page-cache writeback, truncate, O_TRUNC, fallocate and
 * copy_file_range; chown by the chown rule.  The writer's supplementary
 * groups and CAP_FSETID come from /proc (mnt_cred), read only for files
 * that have the bits.  So the INIT reply carries FUSE_HANDLE_KILLPRIV_V2
 * when the kernel offers it (uring.c adds it: libfuse 3.14 cannot ask,
 * libfuse issue #884).  With it the kernel marks a file checked for
 * security.capability (S_NOSEC) after its first write instead of asking
 * for that xattr (a GETXATTR round trip) before every write(2): 5 of the
 * 7 requests of a small SQLite transaction were those.  It still removes
 * security.capability itself (removexattr), and it bypasses the page
 * cache (sends the WRITE at once, as the writer) whenever the writer must
 * clear bits, so a writeback WRITE never clears them (FS_WRITE_KEEP_PRIV).
 * Before a write(2), fallocate or copy_file_range that must clear bits it
 * still sends, as the writer, an empty setattr (FS_SET_KILL_PRIV) whose
 * reply refreshes its cached mode; an O_TRUNC open sends none
 * (atomic_o_trunc) and the kernel keeps its cached mode, so when the file
 * had the bits the daemon invalidates the kernel's attributes
 * (mnt_priv_changed).
 * A kernel without KILLPRIV_V2 sends instead a setattr of the mode it
 * recomputed from the mode alone (setuid, setgid only when
 * group-executable), or the empty one when that recomputes nothing: the
 * fs completes both into the rule (a mode setattr keeps setgid only for
 * a group member or CAP_FSETID, the chmod rule).
 *
 * Symlinks are cached by the kernel (CACHE_SYMLINKS): a symlink's target
 * never changes (a new target is a new inode), so one READLINK per
 * symlink while the kernel keeps its inode.
 *
 * Export support: file handles (name_to_handle_at, an NFS server) hold
 * the inode number; for one whose inode the kernel has evicted it asks
 * for "." of that number, and ".." to reconnect a directory (fs_lookup
 * answers both).  Without it such handles fail with ESTALE.
 *
 * Asynchronous direct I/O stays off: with it the kernel (up to 6.18 at
 * least) completes an AIO or io_uring O_DIRECT write without dropping the
 * page-cache pages that buffered readers filled from the old data while
 * the write was in flight, and a buffered read after the write returns
 * the old bytes (xfstests generic/451; tests/mounted/t_dio_race.sh; a
 * passthrough FUSE mount does the same).  Without it such a write is
 * served synchronously and the kernel invalidates the range after it,
 * as for a plain O_DIRECT pwrite.  Cost: one submitter's AIO writes no
 * longer overlap.  (-o async_dio turns it back on.)
 *
 * Readahead: max_readahead is MNT_DEFAULT_READAHEAD (8 MiB) unless -o
 * max_readahead=N says otherwise, and the mount's bdi is raised to it
 * before the reply (readahead.c: the reply alone can only lower the
 * kernel's 128 KiB).  Measured, 1 GiB cold sequential read (dd bs=1M):
 * 128 KiB readahead sends 8192 READs of 128 KiB one or two at a time;
 * 8 MiB sends 1024 READs of 1 MiB (max_pages: 256 pages, the kernel's
 * fs.fuse.max_pages_limit and libfuse 3.14's largest buffer) several at
 * a time, which the workers serve in parallel.
 *
 * Background requests (those READs, writeback WRITEs): as many at once as
 * the bulk workers serve, at least 4 (mnt_loop_max_background), not the
 * kernel's 12, so a metadata request queued behind them waits for fewer
 * 1 MiB copies; -o max_background=N overrides. */
static void mnt_init(void *userdata, struct fuse_conn_info *conn)
{
    struct mnt_state *m = userdata;

    conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
    conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
    if (m->want_writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
        conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    else
        conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
        conn->want |= FUSE_CAP_EXPORT_SUPPORT;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;  /* a target never changes */
    if (conn->capable & FUSE_CAP_IOCTL_DIR)
        conn->want |= FUSE_CAP_IOCTL_DIR;  /* chattr on directories, mnt_ioctl on the root */
    conn->max_write = m->max_write;
    conn->max_readahead = MNT_DEFAULT_READAHEAD;
    if (m->max_background != 0) {   /* loop.c: mnt_loop_max_background */
        /* The kernel skips a readahead's async part while
         * num_background >= congestion_threshold (fs/fuse/file.c,
         * fuse_readahead): at max_background only when every slot is
         * out; libfuse's 3/4 would skip it with a slot still free. */
        conn->max_background = m->max_background;
        conn->congestion_threshold = m->max_background;
    }
    if (m->conn_opts != NULL)
        fuse_apply_conn_info_opts(m->conn_opts, conn);
    mnt_raise_readahead(m, conn->max_readahead);
    m->writeback = (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0;
    m->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
}

/* --- names ---------------------------------------------------------------- */

static void mnt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct mnt_state *m = mnt_st(req);
    struct stat st;
    struct mnt_node n;
    int rc;
    if (mnt_is_snapdir_name(m, parent, name))
        rc = mnt_snapdir_stat(m, &st);
    else if (mnt_node(req, parent, &n) != 0)
        return;
    else {
        if (n.kind == MNT_SNAPDIR ||
            (n.kind == MNT_VIEW && n.ino == FS_ROOT_INO && strcmp(name, "..") == 0))
            rc = mnt_snap_lookup(m, &n, name, &st);
        else if ((rc = fs_lookup(n.fs, n.ino, name, &st)) == 0)
            st.st_ino = mnt_node_fino(&n, st.st_ino);
        mnt_node_put(&n);
    }
    if (rc == -ENOENT && m->negative_timeout > 0) {
        /* ino 0 = cache the absence for negative_timeout seconds */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.entry_timeout = m->negative_timeout;
        fuse_reply_entry(req, &e);
        return;
    }
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        mnt_reply_entry(req, &st);
}

static void mnt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    mnt_forget_ino(mnt_st(req), ino, nlookup);
    fuse_reply_none(req);
}

static void mnt_forget_multi(fuse_req_t req, size_t count,
                             struct fuse_forget_data *forgets)
{
    struct mnt_state *m = mnt_st(req);
    for (size_t i = 0; i < count; i++)
        mnt_forget_ino(m, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void mnt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, dev_t rdev)
{
    fs_cred c;
    struct stat st;
    if (mnt_refuse_name(req, parent, name))
        return;
    mnt_cred(req, &c);
    int rc = fs_mknod(mnt_fs(req), &c, parent, name, mode, rdev, &st);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        mnt_reply_entry(req, &st);
}

static void mnt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode)
{
    fs_cred c;
    struct stat st;
    if (mnt_refuse_name(req, parent, name))
        return;
    mnt_cred(req, &c);
    int rc = fs_mkdir(mnt_fs(req), &c, parent, name, mode, &st);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        mnt_reply_entry(req, &st);
}

static void mnt_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
                        const char *name)
{
    fs_cred c;
    struct stat st;
    if (mnt_refuse_name(req, parent, name))
        return;
    mnt_cred(req, &c);
    int rc = fs_symlink(mnt_fs(req), &c, parent, name, target, &st);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        mnt_reply_entry(req, &st);
}

static void mnt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                     const char *newname)
{
    struct stat st;
    if (mnt_refuse(req, ino) || mnt_refuse_name(req, newparent, newname))
        return;
    int rc = fs_link(mnt_fs(req), ino, newparent, newname, &st);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        mnt_reply_entry(req, &st);
}

static void mnt_readlink(fuse_req_t req, fuse_ino_t ino)
{
    char buf[FS_SYMLINK_MAX + 1];
    struct mnt_node nd;
    if (mnt_node(req, ino, &nd) != 0)
        return;
    int n = nd.kind == MNT_SNAPDIR ? -EINVAL
                                   : fs_readlink(nd.fs, nd.ino, buf, FS_SYMLINK_MAX);
    mnt_node_put(&nd);
    if (n < 0) {
        mnt_reply_status(req, n);
        return;
    }
    if (n > FS_SYMLINK_MAX) {
        fuse_reply_err(req, EIO);
        return;
    }
    buf[n] = '\0';
    fuse_reply_readlink(req, buf);
}

static void mnt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (!mnt_refuse_name(req, parent, name))
        mnt_reply_status(req, fs_unlink(mnt_fs(req), parent, name));
}

static void mnt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (!mnt_refuse_name(req, parent, name))
        mnt_reply_status(req, fs_rmdir(mnt_fs(req), parent, name));
}

/* The caller owns the whiteout of RENAME_WHITEOUT (the kernel checked
 * CAP_MKNOD). */
static void mnt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                       fuse_ino_t newparent, const char *newname,
                       unsigned int flags)
{
    fs_cred c;
    if (mnt_refuse_name(req, parent, name) ||
        mnt_refuse_name(req, newparent, newname))
        return;
    mnt_cred(req, &c);
    mnt_reply_status(req, fs_rename_as(mnt_fs(req), &c, parent, name,
                                       newparent, newname, flags));
}

/* --- attributes ------------------------------------------------------------ */

static void mnt_getattr(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    (void)fi;
    struct stat st;
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    int rc = n.kind == MNT_SNAPDIR ? mnt_snapdir_stat(mnt_st(req), &st)
                                   : fs_getattr(n.fs, n.ino, &st);
    if (rc == 0)
        st.st_ino = mnt_node_fino(&n, st.st_ino & MNT_INO_MASK);
    mnt_node_put(&n);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        fuse_reply_attr(req, &st, mnt_st(req)->attr_timeout);
}

/* FUSE_SET_ATTR_* -> FS_SET_*.  FORCE, KILL_SUID/SGID/PRIV and FILE carry
 * no change of their own and are dropped (libfuse 3.14 never passes them).
 * A setattr with nothing to set is the kernel's request to clear the bits
 * before a change that must (see mnt_init): FS_SET_KILL_PRIV, cleared by
 * the caller's credentials as after a write.  (With -o no_writeback a
 * chown(f, -1, -1) sends the same, so root keeps setuid there.) */
static int mnt_setattr_mask(int valid)
{
    static const struct { int fuse_bit, fs_bit; } map[] = {
        { FUSE_SET_ATTR_MODE, FS_SET_MODE },
        { FUSE_SET_ATTR_UID, FS_SET_UID },
        { FUSE_SET_ATTR_GID, FS_SET_GID },
        { FUSE_SET_ATTR_SIZE, FS_SET_SIZE },
        { FUSE_SET_ATTR_ATIME, FS_SET_ATIME },
        { FUSE_SET_ATTR_MTIME, FS_SET_MTIME },
        { FUSE_SET_ATTR_ATIME_NOW, FS_SET_ATIME_NOW },
        { FUSE_SET_ATTR_MTIME_NOW, FS_SET_MTIME_NOW },
        { FUSE_SET_ATTR_CTIME, FS_SET_CTIME },
    };
    int set = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (valid & map[i].fuse_bit)
            set |= map[i].fs_bit;
    return set != 0 ? set : FS_SET_KILL_PRIV;
}

/* fi is set for ftruncate/futimens on an open file; the inode (possibly
 * already unlinked, kept alive by the open reference) is the same. */
static void mnt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                        int valid, struct fuse_file_info *fi)
{
    (void)fi;
    fs_cred c;
    struct stat st;
    if (mnt_refuse(req, ino))
        return;
    mnt_cred(req, &c);
    int rc = fs_setattr(mnt_fs(req), &c, ino, attr, mnt_setattr_mask(valid),
                        &st);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        fuse_reply_attr(req, &st, mnt_st(req)->attr_timeout);
}

/* access(2) when the kernel asks (it does not with default_permissions):
 * the classic owner/group/other check, root passing everything but
 * execution of a file with no x bit. */
static int mnt_access_check(fuse_req_t req, const struct stat *st, int mask)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    int want = mask & (R_OK | W_OK | X_OK);
    if (want == 0)
        return 0;
    if (ctx->uid == 0) {
        if ((want & X_OK) && !S_ISDIR(st->st_mode) &&
            (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0)
            return -EACCES;
        return 0;
    }
    int bits;
    if (ctx->uid == st->st_uid)
        bits = (st->st_mode >> 6) & 7;
    else if (ctx->gid == st->st_gid || mnt_in_group(req, st->st_gid))
        bits = (st->st_mode >> 3) & 7;
    else
        bits = st->st_mode & 7;
    return (want & ~bits) != 0 ? -EACCES : 0;
}

static void mnt_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    struct stat st;
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    int rc = n.kind == MNT_SNAPDIR ? mnt_snapdir_stat(mnt_st(req), &st)
                                   : fs_getattr(n.fs, n.ino, &st);
    mnt_node_put(&n);
    if (rc == 0 && (mask & W_OK) && mnt_is_snap_ino(ino))
        rc = -EROFS;
    if (rc == 0)
        rc = mnt_access_check(req, &st, mask);
    mnt_reply_status(req, rc);
}

/* --- files ---------------------------------------------------------------- */

/* 1 if ino is a regular file with setuid or setgid (a change by another
 * user may clear them). */
static int mnt_has_priv_bits(fs_t *fs, fuse_ino_t ino)
{
    struct stat st;
    return fs_getattr(fs, ino, &st) == 0 && S_ISREG(st.st_mode) &&
           (st.st_mode & (S_ISUID | S_ISGID)) != 0;
}

/* The fs may have cleared setuid/setgid where the kernel keeps its cached
 * mode (an O_TRUNC open under HANDLE_KILLPRIV_V2, see mnt_init): its
 * attributes are invalidated, so the next stat or write asks again.
 * Sent before the reply, from the serving thread: the kernel handles the
 * notification without the inode's lock. */
static void mnt_priv_changed(fuse_req_t req, fuse_ino_t ino)
{
    int rc = fuse_lowlevel_notify_inval_inode(mnt_st(req)->se, ino, -1, 0);
    if (rc != 0 && rc != -ENOENT)
        mnt_log(LOG_WARNING, "inode %llu: cannot invalidate its attributes: %s",
                (unsigned long long)ino, strerror(-rc));
}

/* With the writeback cache the kernel computes O_APPEND offsets itself and
 * may read through write-only handles (the fs never checks the access
 * mode, so nothing to widen); without it, appends are the fs's job. */
static void mnt_set_handle(const struct mnt_state *m, struct fuse_file_info *fi)
{
    fi->fh = (!m->writeback && (fi->flags & O_APPEND)) ? MNT_FH_APPEND : 0;
    fi->keep_cache = 1;           /* only this daemon changes the data */
}

static void mnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mnt_state *m = mnt_st(req);
    fs_cred c;
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    mnt_cred(req, &c);
    int had = n.kind == MNT_LIVE && (fi->flags & O_TRUNC) &&
              mnt_has_priv_bits(n.fs, n.ino);
    int rc = n.kind == MNT_SNAPDIR ? -EISDIR
                                   : fs_open_file(n.fs, &c, n.ino, fi->flags);
    if (rc == 0 && had)
        mnt_priv_changed(req, ino);
    if (rc == 0) {
        mnt_set_handle(m, fi);
        if (fuse_reply_open(req, fi) != 0)
            fs_release(n.fs, n.ino);  /* no release will come */
    }
    mnt_node_put(&n);
    if (rc != 0)
        mnt_reply_status(req, rc);
}

static void mnt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                       mode_t mode, struct fuse_file_info *fi)
{
    struct mnt_state *m = mnt_st(req);
    fs_cred c;
    struct stat st;
    struct fuse_entry_param e;
    if (mnt_refuse_name(req, parent, name))
        return;
    mnt_cred(req, &c);
    int rc = fs_create(m->fs, &c, parent, name, mode, fi->flags, &st);
    if (rc != 0) {
        mnt_reply_status(req, rc);
        return;
    }
    mnt_set_handle(m, fi);
    mnt_fill_entry(m, &st, &e);
    if (fuse_reply_create(req, &e, fi) != 0) {
        fs_release(m->fs, st.st_ino);
        fs_forget(m->fs, st.st_ino, 1);
    }
}

/* --- O_TMPFILE ---------------------------------------------------------------
 * The kernel sends FUSE_TMPFILE (like FUSE_CREATE: fuse_create_in and a
 * name, "/", then maybe extensions; the reply is fuse_entry_out then
 * fuse_open_out), but libfuse 3.14 has no handler for it and would answer
 * ENOSYS, after which the kernel fails every O_TMPFILE open with
 * EOPNOTSUPP.  So the request loop hands it here raw and the reply is
 * written to /dev/fuse directly.  The references it takes are those of a
 * create (a lookup and an open), returned if the kernel never gets the
 * reply. */

static void mnt_seconds(double t, uint64_t *sec, uint32_t *nsec)
{
    if (t < 0)
        t = 0;
    *sec = (uint64_t)t;
    *nsec = (uint32_t)((t - (double)*sec) * 1e9);
}

static void mnt_fill_entry_out(const struct mnt_state *m, const struct stat *st,
                               struct fuse_entry_out *e)
{
    memset(e, 0, sizeof *e);
    e->nodeid = st->st_ino;
    mnt_seconds(m->entry_timeout, &e->entry_valid, &e->entry_valid_nsec);
    mnt_seconds(m->attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
    struct fuse_attr *a = &e->attr;
    a->ino = st->st_ino;
    a->size = (uint64_t)st->st_size;
    a->blocks = (uint64_t)st->st_blocks;
    a->atime = (uint64_t)st->st_atim.tv_sec;
    a->mtime = (uint64_t)st->st_mtim.tv_sec;
    a->ctime = (uint64_t)st->st_ctim.tv_sec;
    a->atimensec = (uint32_t)st->st_atim.tv_nsec;
    a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
    a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
    a->mode = st->st_mode;
    a->nlink = (uint32_t)st->st_nlink;
    a->uid = st->st_uid;
    a->gid = st->st_gid;
    a->blksize = (uint32_t)st->st_blksize;
}

/* Writes one reply (header, then n parts) through the transport: 0 or
 * -errno. */
static int mnt_raw_reply(struct fuse_session *se, uint64_t unique, int error,
                         struct iovec *parts, int n)
{
    struct fuse_out_header oh;
    struct iovec iov[3];
    oh.unique = unique;
    oh.error = error;
    oh.len = sizeof oh;
    iov[0].iov_base = &oh;
    iov[0].iov_len = sizeof oh;
    for (int i = 0; i < n && i < 2; i++) {
        iov[i + 1] = parts[i];
        oh.len += (uint32_t)parts[i].iov_len;
    }
    ssize_t w = mnt_send_reply(fuse_session_fd(se), iov, n + 1);
    if (w < 0)
        return -errno;
    return (size_t)w == oh.len ? 0 : -EIO;
}

static void mnt_tmpfile(struct fuse_session *se, struct mnt_state *m,
                        const struct fuse_in_header *in, const char *arg,
                        size_t size)
{
    struct fuse_create_in ci;
    if (size < sizeof ci) {
        mnt_raw_reply(se, in->unique, -EINVAL, NULL, 0);
        return;
    }
    memcpy(&ci, arg, sizeof ci);
    fs_cred c = { .uid = in->uid, .gid = in->gid, .umask = ci.umask };
    struct stat st;
    int rc = mnt_is_snap_ino(in->nodeid)
                 ? -EROFS : fs_tmpfile(m->fs, &c, in->nodeid, ci.mode, (int)ci.flags, &st);
    if (rc < 0) {
        mnt_raw_reply(se, in->unique, rc, NULL, 0);
        return;
    }
    struct fuse_entry_out eo;
    struct fuse_open_out oo;
    struct fuse_file_info fi;
    memset(&fi, 0, sizeof fi);
    fi.flags = (int)ci.flags;
    mnt_set_handle(m, &fi);
    mnt_fill_entry_out(m, &st, &eo);
    memset(&oo, 0, sizeof oo);
    oo.fh = fi.fh;
    oo.open_flags = FOPEN_KEEP_CACHE;
    struct iovec parts[2] = { { &eo, sizeof eo }, { &oo, sizeof oo } };
    if (mnt_raw_reply(se, in->unique, 0, parts, 2) != 0) {
        fs_release(m->fs, st.st_ino);
        fs_forget(m->fs, st.st_ino, 1);
    }
}

uint64_t mnt_sync_pending(struct mnt_state *m)
{
    return fs_sync_pending(m->fs);
}

int mnt_raw_request(struct fuse_session *se, struct mnt_state *m,
                    const struct fuse_buf *buf)
{
    struct fuse_in_header in;
    if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof in)
        return 0;
    memcpy(&in, buf->mem, sizeof in);
    if (in.opcode != FUSE_TMPFILE || in.len < sizeof in || in.len > buf->size)
        return 0;
    mnt_tmpfile(se, m, &in, (const char *)buf->mem + sizeof in,
                in.len - sizeof in);
    return 1;
}

static void mnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct mnt_node nd;
    if (mnt_node(req, ino, &nd) != 0) {
        free(buf);
        return;
    }
    ssize_t n = nd.kind == MNT_SNAPDIR ? -EISDIR
                                       : fs_read(nd.fs, nd.ino, buf, size, off);
    mnt_node_put(&nd);
    if (n < 0)
        mnt_reply_status(req, n);
    else if ((size_t)n > size)
        fuse_reply_err(req, EIO);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

/* The data must be in memory for fs_write: a single memory buffer (the
 * usual case) is used in place, anything else (a spliced pipe, several
 * pieces) is copied once with fuse_buf_copy.
 *
 * setuid/setgid: a direct write clears them as its writer's
 * (fs_write_as; the setattr the kernel sent before it did already, see
 * mnt_init); a delayed page-cache write (fi->writepage) carries no writer
 * identity and keeps them (FS_WRITE_KEEP_PRIV): the setattr sent at
 * write(2) time took care of them.
 *
 * FS_WRITE_KEEP_TIMES (when fs.h offers it), for page-cache writes only:
 * with the writeback cache the kernel owns a regular file's mtime/ctime,
 * stamps them at write(2) time and sends them with a setattr when it
 * flushes the inode.  A page write reaching the fs later, possibly after
 * that setattr, must not restamp them, or the stored times differ from
 * the ones stat(2) showed. */
static void mnt_write_buf(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_bufvec *in, off_t off,
                          struct fuse_file_info *fi)
{
    if (mnt_refuse(req, ino))
        return;
    const struct fuse_buf *b0 = &in->buf[0];
    const char *data;
    char *copy = NULL;
    size_t size;

    if (in->count == 1 && in->idx == 0 && in->off == 0 &&
        !(b0->flags & FUSE_BUF_IS_FD)) {
        data = b0->mem;
        size = b0->size;
    } else {
        size = fuse_buf_size(in);
        copy = malloc(size > 0 ? size : 1);
        if (copy == NULL) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
        dst.buf[0].mem = copy;
        ssize_t got = fuse_buf_copy(&dst, in, 0);
        if (got < 0) {
            free(copy);
            mnt_reply_status(req, got);
            return;
        }
        data = copy;
        size = (size_t)got;
    }

    int flags = 0;
    fs_cred c;
    mnt_cred(req, &c);
    if (fi != NULL && fi->writepage)
        flags |= FS_WRITE_KEEP_PRIV;
    if (fi != NULL && (fi->fh & MNT_FH_APPEND))
        flags |= FS_WRITE_APPEND;
#ifdef FS_WRITE_KEEP_TIMES
    if (fi != NULL && fi->writepage)
        flags |= FS_WRITE_KEEP_TIMES;
#endif
    if (size > MNT_INLINE_WRITE_MAX)
        flags |= FS_WRITE_BULK;     /* served by a worker (loop.c) */
    ssize_t n = fs_write_as(mnt_fs(req), &c, ino, data, size, off, flags);
    if (n < 0)
        mnt_reply_status(req, n);
    else
        fuse_reply_write(req, (size_t)n);
    free(copy);
}

/* close(2) has nothing to do here: the kernel writes dirty pages back
 * before it would send FLUSH (writeback cache), and every write reply
 * already means "in the store".  ENOSYS tells the kernel so once: it
 * stops sending FLUSH for the rest of the mount, which saves one round
 * trip per close(2) (a fifth of the requests of creating an empty file).
 * POSIX locks are the kernel's (lsmfs implements no lock requests), so
 * FLUSH's lock-owner role does not apply. */
static void mnt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

static void mnt_release(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    (void)fi;
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    int rc = n.kind == MNT_SNAPDIR ? 0 : fs_release(n.fs, n.ino);
    mnt_node_put(&n);
    mnt_reply_status(req, rc);
}

static void mnt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                      struct fuse_file_info *fi)
{
    (void)fi;
    if (mnt_is_snap_ino(ino))
        mnt_reply_status(req, 0);     /* nothing there ever changes */
    else if (mnt_noop_sync)
        mnt_reply_status(req, fs_fsync_nothing(mnt_fs(req), ino));
    else
        mnt_reply_status(req, fs_fsync(mnt_fs(req), ino, datasync));
}

static void mnt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
                          off_t offset, off_t length,
                          struct fuse_file_info *fi)
{
    (void)fi;
    if (mnt_refuse(req, ino))
        return;
    fs_cred c;
    mnt_cred(req, &c);
    mnt_reply_status(req, fs_fallocate_as(mnt_fs(req), &c, ino, mode, offset,
                                          length));
}

/* Only SEEK_DATA and SEEK_HOLE reach the daemon; the kernel does the rest.
 * The kernel does not write dirty pages back before asking, so with the
 * writeback cache the fs's idea of data and holes can be stale, and a
 * stale "hole" makes cp --sparse or tar skip real data.  ENOSYS makes the
 * kernel answer from its own size instead (all data, hole at EOF) for the
 * rest of the mount. */
static void mnt_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                      struct fuse_file_info *fi)
{
    (void)fi;
    if (mnt_st(req)->writeback) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    off_t r = n.kind == MNT_SNAPDIR ? -EINVAL : fs_lseek(n.fs, n.ino, off, whence);
    mnt_node_put(&n);
    if (r < 0)
        mnt_reply_status(req, r);
    else
        fuse_reply_lseek(req, r);
}

static void mnt_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
                                off_t off_in, struct fuse_file_info *fi_in,
                                fuse_ino_t ino_out, off_t off_out,
                                struct fuse_file_info *fi_out, size_t len,
                                int flags)
{
    (void)fi_in;
    (void)fi_out;
    if (flags != 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (mnt_refuse(req, ino_out))
        return;
    if (mnt_is_snap_ino(ino_in)) {
        fuse_reply_err(req, EXDEV);   /* the kernel copies through read/write */
        return;
    }
    fs_cred c;
    mnt_cred(req, &c);
    ssize_t n = fs_copy_file_range_as(mnt_fs(req), &c, ino_in, off_in, ino_out,
                                      off_out, len);
    if (n < 0)
        mnt_reply_status(req, n);
    else
        fuse_reply_write(req, (size_t)n);
}

/* --- directories ----------------------------------------------------------- */

/* A directory handle holds nothing (listings resume from stable cookies,
 * permissions are the kernel's or root's), so where the kernel allows it
 * the first opendir answers ENOSYS: the kernel then opens directories
 * itself, with handle 0, and sends neither OPENDIR nor RELEASEDIR again --
 * two requests fewer per listing (ls, find, rm -r, tar). */
static void mnt_opendir(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    (void)ino;
    if (mnt_st(req)->no_opendir) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->fh = 0;
    fuse_reply_open(req, fi);
}

static void mnt_releasedir(fuse_req_t req, fuse_ino_t ino,
                           struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static void mnt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                         struct fuse_file_info *fi)
{
    (void)datasync;
    (void)fi;
    if (mnt_is_snap_ino(ino))
        mnt_reply_status(req, 0);
    else if (mnt_noop_sync)
        mnt_reply_status(req, fs_fsync_nothing(mnt_fs(req), ino));
    else
        mnt_reply_status(req, fs_fsyncdir(mnt_fs(req), ino));
}

/* One readdir reply being filled.  For readdirplus, `inos` records the
 * entries in the buffer that carry a lookup reference, so the references
 * can be returned if the reply never reaches the kernel. */
struct mnt_dirbuf {
    fuse_req_t req;
    struct mnt_state *m;
    struct mnt_node *node;        /* the directory's: entries' fs and numbers */
    char *buf;
    size_t cap;
    size_t used;
    int plus;
    uint64_t *inos;
    size_t ninos;
    size_t inos_cap;
    int failed;                   /* out of memory recording an ino */
};

static int mnt_is_dot(const char *name)
{
    return name[0] == '.' &&
           (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static int mnt_dirbuf_note_ino(struct mnt_dirbuf *d, uint64_t ino)
{
    if (d->ninos == d->inos_cap) {
        size_t cap = d->inos_cap ? 2 * d->inos_cap : 64;
        uint64_t *p = realloc(d->inos, cap * sizeof *p);
        if (p == NULL)
            return -1;
        d->inos = p;
        d->inos_cap = cap;
    }
    d->inos[d->ninos++] = ino;
    return 0;
}

/* fs_dirent_fn for readdirplus.  "." and ".." go out without a node id
 * (the kernel takes no reference for them).  The fs counts the lookup
 * reference of any other entry only when this returns 0, so an entry that
 * does not fit (or cannot be recorded) is refused without one. */
static int mnt_dir_add_plus(void *ctx, const char *name, const struct stat *st,
                            uint64_t next_cookie)
{
    struct mnt_dirbuf *d = ctx;
    struct fuse_entry_param e;
    /* The snapshot directory's entries carry no reference either. */
    int dot = mnt_is_dot(name) || d->node->kind == MNT_SNAPDIR;
    uint64_t fino = mnt_node_fino(d->node, (uint64_t)st->st_ino & MNT_INO_MASK);

    if (dot) {
        memset(&e, 0, sizeof e);
        e.attr.st_ino = d->node->kind == MNT_SNAPDIR ? st->st_ino : fino;
        e.attr.st_mode = st->st_mode & S_IFMT;
    } else {
        mnt_fill_entry(d->m, st, &e);
        e.ino = fino;
        e.attr.st_ino = fino;
    }
    size_t rem = d->cap - d->used;
    size_t len = fuse_add_direntry_plus(d->req, d->buf + d->used, rem, name,
                                        &e, (off_t)next_cookie);
    if (len > rem)
        return 1;
    if (!dot && mnt_dirbuf_note_ino(d, st->st_ino) != 0) {
        d->failed = 1;            /* written past `used`: not sent */
        return 1;
    }
    d->used += len;
    return 0;
}

static int mnt_dir_add(void *ctx, const char *name, const struct stat *st,
                       uint64_t next_cookie)
{
    struct mnt_dirbuf *d = ctx;
    size_t rem = d->cap - d->used;
    struct stat mapped = *st;
    if (d->node->kind == MNT_VIEW)
        mapped.st_ino = mnt_node_fino(d->node, st->st_ino);
    size_t len = fuse_add_direntry(d->req, d->buf + d->used, rem, name, &mapped,
                                   (off_t)next_cookie);
    if (len > rem)
        return 1;
    d->used += len;
    return 0;
}

static void mnt_dirbuf_drop_refs(struct mnt_dirbuf *d)
{
    for (size_t i = 0; i < d->ninos; i++)
        fs_forget(d->node->fs, d->inos[i], 1);
    d->ninos = 0;
}

/* Fills up to `size` bytes of entries from cookie `off`.  An error after
 * some entries were added still sends those entries (their references are
 * counted); the error comes back on the next call. */
static void mnt_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, int plus)
{
    struct mnt_dirbuf d;
    memset(&d, 0, sizeof d);
    d.req = req;
    d.m = mnt_st(req);
    d.cap = size;
    d.plus = plus;
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    d.node = &n;
    d.buf = malloc(size > 0 ? size : 1);
    if (d.buf == NULL) {
        mnt_node_put(&n);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    fs_dirent_fn emit = plus ? mnt_dir_add_plus : mnt_dir_add;
    int rc = n.kind == MNT_SNAPDIR
                 ? mnt_snapdir_readdir(d.m, (uint64_t)off, emit, &d)
                 : fs_readdir(n.fs, n.ino, (uint64_t)off, plus, emit, &d);
    if (d.used == 0 && (rc < 0 || d.failed)) {
        mnt_reply_status(req, rc < 0 ? rc : -ENOMEM);
    } else if (fuse_reply_buf(req, d.buf, d.used) != 0) {
        mnt_dirbuf_drop_refs(&d);
    }
    mnt_node_put(&n);
    free(d.inos);
    free(d.buf);
}

static void mnt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                        off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    mnt_do_readdir(req, ino, size, off, 0);
}

static void mnt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                            off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    mnt_do_readdir(req, ino, size, off, 1);
}

/* --- ioctl: file attribute flags ------------------------------------------ */

/* The kernel turns FS_IOC_GETFLAGS/SETFLAGS (and FS_IOC_FSGETXATTR/
 * FSSETXATTR) on any file or directory into its fileattr calls, which
 * reach the daemon as restricted ioctls on a handle it opens read-only:
 * the flags as a 4-byte int (FS_IOC_GETFLAGS is declared with a long, so
 * a caller passing the ioctl through raw sends 8 bytes: both are taken).
 * The kernel does not enforce the flags on a FUSE inode: the fs does
 * (fs_setflags in fs.h). */
static int mnt_flags_in(const void *in, size_t size, unsigned *flags)
{
    if (size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, in, sizeof v);
        *flags = v;
    } else if (size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, in, sizeof v);
        if (v > UINT32_MAX)
            return -EOPNOTSUPP;
        *flags = (unsigned)v;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* FS_IOC_FSGETXATTR/FSSETXATTR carry the same two flags as xflags. */
static unsigned mnt_xflags(unsigned flags)
{
    return ((flags & FS_IMMUTABLE_FL) ? FS_XFLAG_IMMUTABLE : 0) |
           ((flags & FS_APPEND_FL) ? FS_XFLAG_APPEND : 0);
}

static void mnt_control_ioctl(fuse_req_t req, fuse_ino_t ino,
                              unsigned int cmd, const void *in_buf,
                              size_t in_bufsz, size_t out_bufsz);

/* The file attribute flags of inode n.ino of n.fs (a snapshot's: they
 * are read, never set). */
static void mnt_flags_ioctl(fuse_req_t req, const struct mnt_node *n,
                            unsigned int cmd, const void *in_buf,
                            size_t in_bufsz, size_t out_bufsz)
{
    fs_t *fs = n->fs;
    uint64_t ino = n->ino;
    if (n->kind != MNT_LIVE &&
        (cmd == FS_IOC_SETFLAGS || cmd == FS_IOC32_SETFLAGS ||
         cmd == FS_IOC_FSSETXATTR)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fs_cred c;
    unsigned f = 0;
    int rc;
    mnt_cred(req, &c);
    switch (cmd) {
    case FS_IOC_GETFLAGS:
    case FS_IOC32_GETFLAGS:
        rc = out_bufsz >= sizeof(uint32_t) ? fs_getflags(fs, ino, &f) : -EINVAL;
        if (rc == 0 && out_bufsz >= sizeof(uint64_t)) {
            uint64_t v = f;       /* a long's worth, all of it written */
            fuse_reply_ioctl(req, 0, &v, sizeof v);
            return;
        }
        if (rc == 0) {
            uint32_t v = f;
            fuse_reply_ioctl(req, 0, &v, sizeof v);
            return;
        }
        break;
    case FS_IOC_SETFLAGS:
    case FS_IOC32_SETFLAGS:
        rc = mnt_flags_in(in_buf, in_bufsz, &f);
        if (rc == 0)
            rc = fs_setflags(fs, &c, ino, f);
        if (rc == 0) {
            fuse_reply_ioctl(req, 0, NULL, 0);
            return;
        }
        break;
    case FS_IOC_FSGETXATTR: {
        struct fsxattr fa;
        rc = out_bufsz >= sizeof fa ? fs_getflags(fs, ino, &f) : -EINVAL;
        if (rc == 0) {
            memset(&fa, 0, sizeof fa);
            fa.fsx_xflags = mnt_xflags(f);
            fuse_reply_ioctl(req, 0, &fa, sizeof fa);
            return;
        }
        break;
    }
    case FS_IOC_FSSETXATTR: {
        struct fsxattr fa;
        const unsigned known = FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND;
        rc = in_bufsz == sizeof fa ? 0 : -EINVAL;
        if (rc == 0) {
            memcpy(&fa, in_buf, sizeof fa);
            if ((fa.fsx_xflags & ~known) || fa.fsx_extsize ||
                fa.fsx_projid || fa.fsx_cowextsize)
                rc = -EOPNOTSUPP;
        }
        if (rc == 0) {
            f = ((fa.fsx_xflags & FS_XFLAG_IMMUTABLE) ? FS_IMMUTABLE_FL : 0) |
                ((fa.fsx_xflags & FS_XFLAG_APPEND) ? FS_APPEND_FL : 0);
            rc = fs_setflags(fs, &c, ino, f);
        }
        if (rc == 0) {
            fuse_reply_ioctl(req, 0, NULL, 0);
            return;
        }
        break;
    }
    default:
        rc = -ENOTTY;
    }
    mnt_reply_status(req, rc);
}

static void mnt_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd,
                      void *arg, struct fuse_file_info *fi, unsigned flags,
                      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
    (void)arg;
    (void)fi;
    if (flags & FUSE_IOCTL_COMPAT) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    if (cmd == MNT_IOC_GET_RO || cmd == MNT_IOC_SET_RO) {
        mnt_control_ioctl(req, ino, cmd, in_buf, in_bufsz, out_bufsz);
        return;
    }
    if (mnt_snap_ioctl_cmd(cmd)) {
        mnt_snap_ioctl(req, ino, cmd, in_buf, in_bufsz, out_bufsz);
        return;
    }
    if (mnt_tools_ioctl(req, ino, cmd, in_buf, in_bufsz, out_bufsz))
        return;                                   /* tools_ctl.c */
    struct mnt_node n;
    if (mnt_node(req, ino, &n) != 0)
        return;
    mnt_flags_ioctl(req, &n, cmd, in_buf, in_bufsz, out_bufsz);
    mnt_node_put(&n);
}

/* --- filesystem, xattrs ---------------------------------------------------- */

static void mnt_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    int rc = fs_statfs(mnt_fs(req), &sv);
    if (rc != 0)
        mnt_reply_status(req, rc);
    else
        fuse_reply_statfs(req, &sv);
}

/* POSIX ACLs are not supported (FUSE_CAP_POSIX_ACL is never asked for),
 * yet a kernel on the host passes their xattrs through.  Storing them as
 * plain values would fool cp -a and tar, which set the mode through
 * system.posix_acl_access and fall back to chmod only on EOPNOTSUPP. */
static int mnt_is_acl_name(const char *name)
{
    return strcmp(name, "system.posix_acl_access") == 0 ||
           strcmp(name, "system.posix_acl_default") == 0;
}

static void mnt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                         const char *value, size_t size, int flags)
{
    if (mnt_is_acl_name(name)) {
        fuse_reply_err(req, EOPNOTSUPP);
        return;
    }
    if (!mnt_refuse(req, ino))
        mnt_reply_status(req, fs_setxattr(mnt_fs(req), ino, name, value, size,
                                          flags));
}

/* getxattr/listxattr: size 0 asks for the length, otherwise the value must
 * fit in size bytes (-ERANGE from the fs if not). */
static void mnt_reply_sized(fuse_req_t req, ssize_t n, const char *buf,
                            size_t size)
{
    if (n < 0)
        mnt_reply_status(req, n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else if ((size_t)n > size)
        fuse_reply_err(req, EIO);
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

static void mnt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                         size_t size)
{
    if (mnt_is_acl_name(name)) {
        fuse_reply_err(req, EOPNOTSUPP);
        return;
    }
    char *buf = NULL;
    if (size > 0 && (buf = malloc(size)) == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct mnt_node nd;
    if (mnt_node(req, ino, &nd) != 0) {
        free(buf);
        return;
    }
    ssize_t n = nd.kind == MNT_SNAPDIR ? -ENODATA
                                       : fs_getxattr(nd.fs, nd.ino, name, buf, size);
    mnt_node_put(&nd);
    mnt_reply_sized(req, n, buf, size);
    free(buf);
}

static void mnt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    char *buf = NULL;
    if (size > 0 && (buf = malloc(size)) == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct mnt_node nd;
    if (mnt_node(req, ino, &nd) != 0) {
        free(buf);
        return;
    }
    ssize_t n = nd.kind == MNT_SNAPDIR ? 0 : fs_listxattr(nd.fs, nd.ino, buf, size);
    mnt_node_put(&nd);
    mnt_reply_sized(req, n, buf, size);
    free(buf);
}

static void mnt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    if (mnt_is_acl_name(name)) {
        fuse_reply_err(req, EOPNOTSUPP);
        return;
    }
    if (!mnt_refuse(req, ino))
        mnt_reply_status(req, fs_removexattr(mnt_fs(req), ino, name));
}

/* --- control ----------------------------------------------------------- */

/* MNT_IOC_GET_RO / MNT_IOC_SET_RO (mnt.h; mnt_ioctl routes only these
 * here, not compat ones), answered on the root directory only. */
static void mnt_control_ioctl(fuse_req_t req, fuse_ino_t ino,
                              unsigned int cmd, const void *in_buf,
                              size_t in_bufsz, size_t out_bufsz)
{
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTTY);
        return;
    }
    if (!mnt_req_may_change(req)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    fs_t *fs = mnt_fs(req);
    uint32_t v;
    if (cmd == MNT_IOC_GET_RO) {
        v = (uint32_t)fs_is_read_only(fs);
        if (out_bufsz < sizeof v)
            fuse_reply_err(req, EINVAL);
        else
            fuse_reply_ioctl(req, 0, &v, sizeof v);
        return;
    }
    if (in_bufsz < sizeof v) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    memcpy(&v, in_buf, sizeof v);
    int rc = fs_set_read_only(fs, v != 0);
    if (rc == 0) {
        mnt_log(LOG_INFO, "now %s", v ? "read-only" : "read-write");
        fuse_reply_ioctl(req, 0, NULL, 0);
    } else {
        mnt_reply_status(req, rc);
    }
}

const struct fuse_lowlevel_ops mnt_ops = {
    .init = mnt_init,
    .lookup = mnt_lookup,
    .forget = mnt_forget,
    .forget_multi = mnt_forget_multi,
    .getattr = mnt_getattr,
    .setattr = mnt_setattr,
    .readlink = mnt_readlink,
    .mknod = mnt_mknod,
    .mkdir = mnt_mkdir,
    .unlink = mnt_unlink,
    .rmdir = mnt_rmdir,
    .symlink = mnt_symlink,
    .rename = mnt_rename,
    .link = mnt_link,
    .open = mnt_open,
    .read = mnt_read,
    .write_buf = mnt_write_buf,
    .flush = mnt_flush,
    .release = mnt_release,
    .fsync = mnt_fsync,
    .opendir = mnt_opendir,
    .readdir = mnt_readdir,
    .readdirplus = mnt_readdirplus,
    .releasedir = mnt_releasedir,
    .fsyncdir = mnt_fsyncdir,
    .statfs = mnt_statfs,
    .setxattr = mnt_setxattr,
    .getxattr = mnt_getxattr,
    .listxattr = mnt_listxattr,
    .removexattr = mnt_removexattr,
    .access = mnt_access,
    .create = mnt_create,
    .fallocate = mnt_fallocate,
    .lseek = mnt_lseek,
    .copy_file_range = mnt_copy_file_range,
    .ioctl = mnt_ioctl,
};
