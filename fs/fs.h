/*
 * fs.h — POSIX filesystem semantics on the lsm engine (lsm/lsm.h only; no
 * FUSE here, so every operation is unit-tested without mounting).
 *
 * The interface mirrors the shape of a low-level (inode-number based) FUSE
 * filesystem: the daemon in mount/ maps each request onto one call.
 *
 * Conventions:
 *  - Inode numbers are 64-bit, never reused in a store's life; FS_ROOT_INO
 *    is the root directory.
 *  - Every call returns 0 (or a byte count / length) on success and a
 *    negative errno on failure.  Engine corruption or I/O failure is -EIO
 *    (and logged with the engine's message); a full disk is -ENOSPC.
 *    Changes that free space (unlink, rmdir, replacing rename, truncating
 *    down, punching a hole) and the superblock writes of open and close
 *    work on a full disk too (LSM_RECLAIM).
 *  - Every operation's changes are applied as one atomic engine batch.
 *  - All calls are thread-safe: the daemon runs a multi-threaded loop.
 *  - Permission checks are the kernel's (default_permissions); the fs
 *    only needs the caller's identity to own new inodes and to apply the
 *    setgid-directory and suid/sgid-clearing rules.
 */
#ifndef FS_H
#define FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "lsm.h"

#define FS_ROOT_INO 1
/* Inode numbers stay below this (-ENOSPC past it, which 2^40 creations
 * never reach): the daemon numbers snapshot views' inodes above it. */
#define FS_INO_LIMIT (UINT64_C(1) << 40)
#define FS_NAME_MAX 255
#define FS_SYMLINK_MAX 4095

typedef struct fs fs_t;

typedef struct fs_options {
    lsm_options lsm;          /* engine options (cache, memtable, compression) */
    size_t inline_max;        /* files up to this size live in the inode record; default 4096 */
    uint32_t block_bytes;     /* file data block size; default 64 KiB (power of 2);
                                 the daemon creates stores with 16 KiB */
    int sync;                 /* 1: every change durable before it returns */
    size_t cache_inodes;      /* inode records cached beyond those in use;
                                 default 65536 (~17 MiB) */
    int create;               /* 1: make a new store if dir is empty/missing */
    void (*log)(void *ctx, int level, const char *line);  /* level: LOG_* from syslog.h */
    void *log_ctx;
} fs_options;

void fs_options_init(fs_options *o);

/* Opens (or creates) the store in `dir`.  Fails with one clear message
 * (fs_last_error) and touches nothing if dir holds something that is not
 * an lsmfs store, a store of an unknown format version, or a store in use.
 * Reclaims orphans (files unlinked while open when the daemon died). */
int fs_open(const char *dir, const fs_options *o, fs_t **out);
int fs_close(fs_t *fs);
/* Message for the last failure of fs_open/fs_close in this thread. */
const char *fs_last_error(void);

/* Identity of the calling process.  The two optional callbacks are asked
 * only when a change must decide whether to clear a file's setuid/setgid
 * bits (the file has one), so they may be costly (a /proc read). */
typedef struct fs_cred {
    uid_t uid;
    gid_t gid;
    mode_t umask;             /* applied by the caller already if 0 */
    /* 1 if the caller is in group g (its gid or a supplementary group);
     * NULL: only gid counts. */
    int (*in_group)(const struct fs_cred *c, gid_t g);
    /* 1 if the caller holds CAP_FSETID; NULL: uid 0 does. */
    int (*has_fsetid)(const struct fs_cred *c);
    void *ctx;                /* for the callbacks */
} fs_cred;

/* The mode a write, truncate or fallocate by c leaves on a regular file
 * of mode `mode` owned by group gid (the kernel's
 * setattr_should_drop_suidgid): nothing changes for a caller holding
 * CAP_FSETID; otherwise setuid goes, and setgid when the file is
 * group-executable or c is not in its group.  c NULL: a caller with no
 * privilege in no group.  Other file types keep their mode. */
mode_t fs_mode_after_write(const fs_cred *c, mode_t mode, gid_t gid);

/* --- namespace --------------------------------------------------------- */
/* "." is the inode `parent` itself, of any type (how the kernel finds an
 * inode by number for a file handle); ".." a directory's parent. */
int fs_lookup(fs_t *fs, uint64_t parent, const char *name, struct stat *st);
int fs_getattr(fs_t *fs, uint64_t ino, struct stat *st);

/* setattr: `set` is a mask of FS_SET_*; times are taken from attr->st_atim /
 * st_mtim unless the *_NOW bit is set.  Size changes truncate or extend
 * (holes).  Updates ctime.  setuid/setgid, in this order:
 *  - chown clears setuid, and setgid when group-executable or c is
 *    neither in the file's group nor holds CAP_FSETID (the kernel's
 *    chown rule);
 *  - FS_SET_MODE sets the mode, without setgid unless c is in the file's
 *    (new) group or holds CAP_FSETID (the kernel's chmod rule);
 *  - a size change and FS_SET_KILL_PRIV clear them as a write by c does
 *    (fs_mode_after_write).
 * A FUSE kernel without HANDLE_KILLPRIV_V2 asks to clear them after a
 * write with a setattr of the mode it recomputed from the mode alone
 * (setuid, and setgid only when group-executable) or, when that changes
 * nothing, with an empty one; the chmod rule and FS_SET_KILL_PRIV
 * complete it into its own rule (mount/ops.c, mnt_init). */
#define FS_SET_MODE      (1 << 0)
#define FS_SET_UID       (1 << 1)
#define FS_SET_GID       (1 << 2)
#define FS_SET_SIZE      (1 << 3)
#define FS_SET_ATIME     (1 << 4)
#define FS_SET_MTIME     (1 << 5)
#define FS_SET_ATIME_NOW (1 << 7)
#define FS_SET_MTIME_NOW (1 << 8)
#define FS_SET_CTIME     (1 << 10)
#define FS_SET_KILL_PRIV (1 << 11)
int fs_setattr(fs_t *fs, const fs_cred *c, uint64_t ino,
               const struct stat *attr, int set, struct stat *out);

int fs_mknod(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
             mode_t mode, dev_t rdev, struct stat *out);
int fs_mkdir(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
             mode_t mode, struct stat *out);
int fs_symlink(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
               const char *target, struct stat *out);
/* Copies the target (not NUL-terminated) into buf; returns its length. */
int fs_readlink(fs_t *fs, uint64_t ino, char *buf, size_t cap);
/* An inode with no links gives -ENOENT, except an O_TMPFILE not yet
 * linked (see fs_tmpfile). */
int fs_link(fs_t *fs, uint64_t ino, uint64_t newparent, const char *newname,
            struct stat *out);
int fs_unlink(fs_t *fs, uint64_t parent, const char *name);
int fs_rmdir(fs_t *fs, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE (linux/fs.h values). */
int fs_rename(fs_t *fs, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, unsigned flags);
/* Same, also taking RENAME_WHITEOUT (alone or with RENAME_NOREPLACE): in
 * the same batch the source's name becomes a whiteout, a character
 * device 0/0 owned by c (overlayfs's mark of a deleted lower file). */
int fs_rename_as(fs_t *fs, const fs_cred *c, uint64_t parent,
                 const char *name, uint64_t newparent, const char *newname,
                 unsigned flags);

/* --- file attribute flags (chattr) -----------------------------------------
 * FS_IMMUTABLE_FL and FS_APPEND_FL (linux/fs.h values), stored in the
 * inode record, with ext4's meaning (every refusal is -EPERM):
 *  - immutable: no open for writing or O_TRUNC, write, setattr, xattr
 *    change, link, unlink or rename of it; in a directory, no entry is
 *    added or removed;
 *  - append-only: opens for writing need O_APPEND, no O_TRUNC,
 *    truncation, chmod/chown, fallocate other than extending, xattr
 *    change, link, unlink or rename; in a directory, entries may be
 *    added but not removed.  Time updates stay allowed (with a writeback
 *    cache the kernel sends an append's mtime as an explicit setattr).
 * fs_setflags: other flags -EOPNOTSUPP; a caller other than the owner or
 * root -EPERM; changing either flag needs root (CAP_LINUX_IMMUTABLE,
 * which the kernel checks too).  Updates ctime. */
int fs_getflags(fs_t *fs, uint64_t ino, unsigned *flags);
int fs_setflags(fs_t *fs, const fs_cred *c, uint64_t ino, unsigned flags);

/* --- references ---------------------------------------------------------
 * An inode whose link count reaches 0 is kept (as an orphan, recorded in
 * the store) while it has open handles (fs_open/fs_create ...
 * fs_release), and reclaimed at the last release.  The kernel's lookup
 * counts are tracked too (fs_forget drops n of them; every call above that
 * fills a struct stat for a new or looked-up entry adds one, and a
 * readdirplus entry adds one only when emit accepted it, returning 0) so
 * the in-memory inode can be dropped when nothing refers to it. */
void fs_forget(fs_t *fs, uint64_t ino, uint64_t nlookup);

/* --- files --------------------------------------------------------------- */
/* flags: open(2) flags; O_TRUNC truncates (clearing setuid/setgid as a
 * write by c does).  Adds an open reference. */
int fs_open_file(fs_t *fs, const fs_cred *c, uint64_t ino, int flags);
/* Creates and opens; O_EXCL -> -EEXIST if the name exists. */
int fs_create(fs_t *fs, const fs_cred *c, uint64_t parent, const char *name,
              mode_t mode, int flags, struct stat *out);
/* O_TMPFILE: creates and opens a regular file with no name (link count
 * 0) near directory `parent`, an orphan until fs_link gives it a name
 * (allowed once, unless flags has O_EXCL) or its last release removes
 * it; after a crash fs_open removes it.  Adds a lookup and an open
 * reference, like fs_create. */
int fs_tmpfile(fs_t *fs, const fs_cred *c, uint64_t parent, mode_t mode,
               int flags, struct stat *out);
int fs_release(fs_t *fs, uint64_t ino);
/* Reads up to size bytes at off; returns the count (0 at/after EOF). */
ssize_t fs_read(fs_t *fs, uint64_t ino, char *buf, size_t size, off_t off);
/* fs_write_as: a write by c.  FS_WRITE_APPEND writes at the current end
 * of file.  Clears setuid/setgid as fs_mode_after_write(c) says unless
 * FS_WRITE_KEEP_PRIV.  Sets mtime and ctime to now unless
 * FS_WRITE_KEEP_TIMES (with a writeback cache the kernel owns a file's
 * times and sends them with setattr; data it flushes later must not stamp
 * newer ones).  fs_write: the same with c NULL. */
#define FS_WRITE_APPEND     (1 << 0)
#define FS_WRITE_KEEP_PRIV  (1 << 1)
#define FS_WRITE_KEEP_TIMES (1 << 2)
/* FS_WRITE_BULK: the write is bulk data that may wait while the engine
 * catches up (LSM_BULK): other changes go ahead of it and are not held
 * back by it.  For a caller that serves small changes on a thread that
 * must not wait. */
#define FS_WRITE_BULK       (1 << 3)
ssize_t fs_write_as(fs_t *fs, const fs_cred *c, uint64_t ino, const char *buf,
                    size_t size, off_t off, int flags);
ssize_t fs_write(fs_t *fs, uint64_t ino, const char *buf, size_t size,
                 off_t off, int flags);
int fs_fsync(fs_t *fs, uint64_t ino, int datasync);
/* mode: 0 or FALLOC_FL_KEEP_SIZE / FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE.
 * Any of them by c clears setuid/setgid as a write by c does, changed
 * bytes or not (the kernel's file_modified); c NULL: a caller with no
 * privilege (fs_fallocate). */
int fs_fallocate_as(fs_t *fs, const fs_cred *c, uint64_t ino, int mode,
                    off_t off, off_t len);
int fs_fallocate(fs_t *fs, uint64_t ino, int mode, off_t off, off_t len);
/* SEEK_DATA / SEEK_HOLE (others: -EINVAL). Returns the new offset. */
off_t fs_lseek(fs_t *fs, uint64_t ino, off_t off, int whence);
/* Copies up to len bytes (at most 8 MiB per call); the destination
 * loses setuid/setgid as after a write by c (c NULL: no privilege). */
ssize_t fs_copy_file_range_as(fs_t *fs, const fs_cred *c, uint64_t ino_in,
                              off_t off_in, uint64_t ino_out, off_t off_out,
                              size_t len);
ssize_t fs_copy_file_range(fs_t *fs, uint64_t ino_in, off_t off_in,
                           uint64_t ino_out, off_t off_out, size_t len);

/* --- directories ----------------------------------------------------------
 * readdir calls emit(ctx, name, st, next_cookie) for each entry from
 * `cookie` on (0 = start; "." and ".." first) until emit returns nonzero
 * (buffer full) or the directory ends.  Cookies are stable across
 * concurrent inserts and deletes (derived from the name's hash), so a
 * listing resumed after a change neither repeats nor skips unchanged
 * entries.  With plus = 1, st is the full attributes and counts as a
 * lookup reference (see fs_forget) for entries other than "." and "..";
 * otherwise only st_ino and the type bits of st_mode are set. */
typedef int (*fs_dirent_fn)(void *ctx, const char *name, const struct stat *st,
                            uint64_t next_cookie);
int fs_readdir(fs_t *fs, uint64_t ino, uint64_t cookie, int plus,
               fs_dirent_fn emit, void *ctx);
int fs_fsyncdir(fs_t *fs, uint64_t ino);

int fs_statfs(fs_t *fs, struct statvfs *st);

/* --- extended attributes ------------------------------------------------ */
/* flags: 0, XATTR_CREATE, XATTR_REPLACE. */
int fs_setxattr(fs_t *fs, uint64_t ino, const char *name, const void *value,
                size_t size, int flags);
/* size 0: returns the value's size.  -ERANGE if it does not fit;
 * -ENODATA if absent. */
ssize_t fs_getxattr(fs_t *fs, uint64_t ino, const char *name, void *buf,
                    size_t size);
ssize_t fs_listxattr(fs_t *fs, uint64_t ino, char *buf, size_t size);
int fs_removexattr(fs_t *fs, uint64_t ino, const char *name);

/* --- snapshots (snapshot.c) -----------------------------------------------
 * Named snapshots of the whole tree: the engine's (lsm.h), O(1) to take,
 * durable once fs_snapshot_create returns (every change made before it
 * included), kept until fs_snapshot_delete.  Names: lsm_snapshot_name_ok
 * (else -EINVAL).  create: -EEXIST if taken; delete: -ENOENT if unknown;
 * both -EROFS on a read-only fs or a view.  fs_snapshot_space: see
 * lsm_snapshot_space (a scan of the whole store). */
int fs_snapshot_create(fs_t *fs, const char *name, lsm_snapshot_info *info);
int fs_snapshot_delete(fs_t *fs, const char *name);
/* *out: lsm_free. */
int fs_snapshot_list(fs_t *fs, lsm_snapshot_info **out, size_t *n);
int fs_snapshot_space(fs_t *fs, const lsm_snapshot_info *snaps, size_t n,
                      uint64_t *exclusive);
/* Compacts the whole store (lsm_compact), which after a delete gives
 * back the space only deleted snapshots held.  Costs a rewrite of the
 * store; the fs stays usable meanwhile. */
int fs_snapshot_reclaim(fs_t *fs);
/* A read-only view of the tree as snapshot `name` holds it (info filled
 * if not NULL): an fs_t on which every read call of this header works
 * with the snapshot's inode numbers, and every change fails (opens for
 * writing too): -EROFS, or the error its checks meet first (rmdir of a
 * non-empty directory: -ENOTEMPTY; mount/ refuses them all up front).  It never changes, whatever the live tree or
 * fs_snapshot_delete do, until fs_view_close (which must come before
 * fs_close of the fs it came from).  -ENOENT if there is no such
 * snapshot. */
int fs_view_open(fs_t *fs, const char *name, fs_t **view, lsm_snapshot_info *info);
void fs_view_close(fs_t *view);
int fs_is_view(const fs_t *fs);

/* Durability barrier for everything written so far (WAL fsync). */
int fs_sync(fs_t *fs);
/* 1 when fs_sync (an fsync) would do no I/O: every change acknowledged
 * so far is durable, or the fs is a snapshot view. */
int fs_synced(fs_t *fs);
/* What fs_sync would do now (lsm_sync_pending): 0 when fs_synced, the
 * bytes of its one WAL fdatasync when that is all it would do,
 * UINT64_MAX when it would do more or wait. */
uint64_t fs_sync_pending(fs_t *fs);
/* An fsync (or fsyncdir) of ino for which fs_sync_pending found nothing to
 * sync once the kernel had sent it (so after every write it covers was
 * acknowledged): marks ino fsync'd (its small writes then stay out of
 * blob files, fs_fsync) without loading it or any I/O.  Returns 0. */
int fs_fsync_nothing(fs_t *fs, uint64_t ino);

/* Read-only mode, for a read-only (re)mount.  ro = 1: every change from
 * now on fails with -EROFS (fs_sync succeeds doing nothing); what was
 * written is made durable and flushed into tables, the store is marked
 * clean on disk as a close does, so a crash while read-only needs no
 * recovery, and compactions pause: the store's files stay as they are.  Changes already under way when it is called may still
 * complete: the caller stops writers first (the kernel does, for a
 * remount).  ro = 0: clears the mark and accepts changes again.  Either
 * is a no-op in the mode it asks for.  0 or negative errno. */
int fs_set_read_only(fs_t *fs, int ro);
int fs_is_read_only(fs_t *fs);
/* hold = 1: the engine runs no compaction until hold = 0
 * (lsm_hold_compactions), so level 0 grows with every flush and bulk
 * writes are held once it reaches its stop trigger while other changes
 * go on (LSM_BULK).  For tests that need a write stall that lasts. */
void fs_hold_compactions(fs_t *fs, int hold);

/* The engine under the store (statistics, checkpoints, walk.h); owned by
 * fs, valid until fs_close. */
lsm_db *fs_engine(fs_t *fs);

#endif
