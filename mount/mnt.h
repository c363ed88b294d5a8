/*
 * mnt.h — the lsmfs FUSE daemon: shared state between option parsing and
 * daemon life (main.c, opts.c) and the request handlers (ops.c).
 *
 * The daemon maps each libfuse low-level request onto one fs.h call; FUSE
 * inode numbers of the live tree are fs inode numbers (FUSE_ROOT_ID ==
 * FS_ROOT_INO == 1); snapshot views have their own (snapview.c).
 */
#ifndef MNT_H
#define MNT_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

/* Everything the command line decides.  Sizes are kept in the units the
 * options use (MiB, bytes) and converted when the store is opened. */
struct mnt_config {
    char *store;                /* absolute path of the store directory */
    int positional;             /* non-option arguments seen so far */
    int show_help;
    int show_version;
    int fsname_given;           /* -o fsname=... was passed through */
    int others_allowed;         /* -o allow_other or allow_root */

    /* lsmfs's own -o options (removed before libfuse sees the rest). */
    size_t cache_mb;
    size_t memtable_mb;
    char *compression;          /* "zstd" or "none"; NULL = default */
    int compaction_style;       /* enum lsm_compaction_style; 0 = the store's */
    char *snapdir;              /* -o snapdir=NAME; NULL = MNT_SNAPDIR_DEFAULT */
    size_t inline_max;
    size_t blob_min;          /* lsm blob_min_bytes; 0 = off */
    size_t blob_file_mb;      /* lsm blob_file_bytes >> 20 */
    int blob_gc_age;          /* lsm blob_gc_age_percent */
    int blob_gc_garbage;      /* lsm blob_gc_garbage_percent */
    int sync;
    int writeback;              /* 1 on, 0 off, -1 = default (on unless sync) */
    int recycle_wal;            /* lsm recycle_wal */
    unsigned max_write;
    double attr_timeout;
    double entry_timeout;
    double negative_timeout;
    unsigned workers;           /* request threads besides the reader */
    int log_level;              /* LOG_* shown at most; -1 = default */
    int read_only;              /* -o ro (the last of ro/rw wins) */
    int remount;                /* -o remount: change a live mount */
    int io_uring;               /* MNT_URING_*: -o io_uring / no_io_uring */
    int auto_unmount;           /* -o auto_unmount (autounmount.c) */
};

struct mnt_views;

/* Per-mount state handed to libfuse as the session's userdata. */
struct mnt_state {
    fs_t *fs;
    const char *snapdir;        /* name of the snapshot directory in the root */
    struct mnt_views *views;    /* open snapshot views (snapview.c) */
    struct fuse_session *se;    /* for invalidations (snapctl.c, ops.c) */
    double attr_timeout;
    double entry_timeout;
    double negative_timeout;
    int want_writeback;         /* requested on the command line */
    int writeback;              /* negotiated in init; read-only afterwards */
    int no_opendir;             /* the kernel takes ENOSYS from opendir as
                                   "no OPENDIR/RELEASEDIR needed" (init) */
    unsigned max_write;
    unsigned max_background;    /* for init; 0: the kernel's (12) */
    struct fuse_conn_info_opts *conn_opts;  /* libfuse -o options for init */
    struct mnt_uring *uring;    /* the transport's hooks (uring.c), or NULL */
    const char *mountpoint;     /* resolved path (libfuse's realpath) */
};

/* --- snapview.c: MOUNTPOINT/.snapshots/NAME ---------------------------------
 * FUSE inode numbers: the live tree's are the fs's own, below
 * 2^MNT_INO_BITS (the fs hands them out from 2 upwards, never reused:
 * 2^40 of them outlast any store).  Inode i of the view of snapshot `id`
 * (lsm_snapshot_info.id, 1..LSM_SNAPSHOT_ID_MAX, never reused) is
 * id << MNT_INO_BITS | i, so it cannot be confused with a live inode or
 * another snapshot's, and it stays the same across remounts.  The
 * snapshot directory itself is MNT_SNAPDIR_INO.  Decoding is a shift and
 * a compare: the live tree's requests pay nothing more. */
#define MNT_SNAPDIR_DEFAULT ".snapshots"
#define MNT_INO_BITS 40           /* FS_INO_LIMIT == 1 << MNT_INO_BITS */
#define MNT_INO_MASK ((UINT64_C(1) << MNT_INO_BITS) - 1)
#define MNT_SNAPDIR_ID ((uint64_t)LSM_SNAPSHOT_ID_MAX + 1)
#define MNT_SNAPDIR_INO ((MNT_SNAPDIR_ID << MNT_INO_BITS) | FS_ROOT_INO)

enum mnt_node_kind { MNT_LIVE, MNT_VIEW, MNT_SNAPDIR };
/* What a FUSE inode number names: the fs to ask and the number there
 * (base | ino is the FUSE number).  A view's node holds the views' read
 * lock until mnt_node_put, so the view is not closed under it. */
struct mnt_node {
    enum mnt_node_kind kind;
    fs_t *fs;
    uint64_t ino;
    uint64_t base;
    struct mnt_views *locked;
};
/* May req change the store through the control channel (remount, create
 * or delete a snapshot, start a backup)?  Root or the mount's owner (the
 * daemon's user) only. */
static inline int mnt_req_may_change(fuse_req_t req)
{
    uid_t uid = fuse_req_ctx(req)->uid;
    return uid == 0 || uid == getuid();
}
static inline int mnt_is_snap_ino(uint64_t fino)
{
    return (fino >> MNT_INO_BITS) != 0;
}
int mnt_views_new(struct mnt_state *m);
/* Closes every view (before fs_close). */
void mnt_views_free(struct mnt_state *m);
/* 0, -ESTALE (a deleted snapshot's, or a number never handed out) or
 * -ENOMEM/-EIO.  Opens the view on first use. */
int mnt_node_get(struct mnt_state *m, uint64_t fino, struct mnt_node *n);
void mnt_node_put(struct mnt_node *n);
/* The FUSE number of an inode number the node's fs returned. */
static inline uint64_t mnt_node_fino(const struct mnt_node *n, uint64_t ino)
{
    return n->base | ino;
}
/* Is `name` in directory parent (a FUSE number) the snapshot directory? */
int mnt_is_snapdir_name(const struct mnt_state *m, uint64_t parent,
                        const char *name);
/* Attributes of the snapshot directory (read-only, the root's owner and
 * times). */
int mnt_snapdir_stat(struct mnt_state *m, struct stat *st);
/* Lookup of `name` in the snapshot directory or at a view's root ("..",
 * which leads back to the snapshot directory); st in FUSE numbers, with
 * a lookup reference counted in the fs that answered (see mnt_forget_ino). */
int mnt_snap_lookup(struct mnt_state *m, const struct mnt_node *dir,
                    const char *name, struct stat *st);
/* Lists the snapshot directory from `cookie` (see fs_readdir; st carries
 * st_ino and the type only, never a lookup reference). */
int mnt_snapdir_readdir(struct mnt_state *m, uint64_t cookie,
                        fs_dirent_fn emit, void *ctx);
/* Drops nlookup kernel references of a FUSE number. */
void mnt_forget_ino(struct mnt_state *m, uint64_t fino, uint64_t nlookup);
/* Closes the view of snapshot `name` if open (after it was deleted). */
void mnt_view_drop(struct mnt_state *m, const char *name);

/* --- opts.c ----------------------------------------------------------- */
#define MNT_MAX_WRITE_MIN 4096u
#define MNT_MAX_WRITE_MAX (1u << 20)
/* Default kernel readahead, bytes (-o max_readahead=N sets it); see
 * mnt_init and readahead.c. */
#define MNT_DEFAULT_READAHEAD (8u << 20)

/* Fills cfg with defaults, then consumes lsmfs's own options and the
 * STORE argument from args (leaving MOUNTPOINT and libfuse's options).
 * Returns 0, or -1 after printing one line to stderr. */
int mnt_parse_args(struct fuse_args *args, struct mnt_config *cfg);
/* The fs options cfg asks for (values were checked while parsing; the fs
 * checks their combination in fs_open). */
void mnt_config_to_fs(const struct mnt_config *cfg, fs_options *o);
void mnt_config_free(struct mnt_config *cfg);
void mnt_print_help(const char *prog);
void mnt_print_version(void);

/* --- main.c ------------------------------------------------------------ */
/* level: LOG_* from syslog.h.  Goes to stderr in the foreground, to
 * syslog once the daemon has detached. */
void mnt_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* fork() with stdio flushed first (no buffered line printed twice).  On
 * failure says why, closes fds[0] and fds[1] (the channel to the child
 * that was to be) and returns -1; 0 in the child; else the child's pid. */
pid_t mnt_fork(int fds[2]);
/* Logs to syslog from now on (a detached daemon, a background watcher). */
void mnt_log_to_syslog(void);

/* --- autounmount.c: -o auto_unmount ------------------------------------- */
/* The daemon's side of its watcher process (see autounmount.c). */
struct mnt_watch {
    int fd;                     /* socket to the watcher, or -1 */
    pid_t pid;
};
/* Forks the watcher of the mount at mountpoint (resolved path): before
 * the store is opened, while the daemon has one thread.  argc/argv:
 * main's, for the watcher's process title.  0, or -1 having said why. */
int mnt_watch_start(struct mnt_watch *w, const char *mountpoint,
                    int foreground, int argc, char **argv);
/* Right after the mount: the watcher records which mount it is. */
void mnt_watch_mounted(struct mnt_watch *w);
/* Right after the daemon's own unmount (or when it gives up before
 * mounting): the watcher exits, and is reaped.  Does nothing if w has
 * no watcher (fd -1) or it was ended already. */
void mnt_watch_end(struct mnt_watch *w);

/* --- mountinfo.c ------------------------------------------------------- */
struct mnt_mount {
    unsigned dev_major, dev_minor;  /* st_dev of files on it */
    char fstype[64];            /* "fuse.lsmfs", "ext4", ... */
    char opts[256];             /* per-mount options: "rw,nosuid,relatime" */
};
/* The mount at the absolute, resolved path (the topmost if several are
 * stacked there): 1 and *m filled, 0 if nothing is mounted there, or
 * -errno if /proc/self/mountinfo cannot be read. */
int mnt_mount_at(const char *path, struct mnt_mount *m);
/* fuse, fuseblk or fuse.SUBTYPE. */
int mnt_is_fuse_type(const char *fstype);

/* --- readahead.c ------------------------------------------------------- */
/* Raises the readahead of the mount at m->mountpoint (its bdi's
 * read_ahead_kb) to `bytes` if lower, and logs (info) what the bdi holds
 * once the INIT reply of max_readahead = bytes has reached the kernel.
 * Called from init, before that reply (see mnt_init). */
void mnt_raise_readahead(const struct mnt_state *m, unsigned bytes);

/* --- loop.c ------------------------------------------------------------ */
struct mnt_pool;
struct mnt_ring_ent;
/* A request as the loop serves it: buf holds the whole request. */
struct mnt_job {
    struct fuse_buf buf;
    struct mnt_job *next;
    struct mnt_ring_ent *ent;   /* ring entry whose memory buf is, or NULL */
    uint64_t nodeid;            /* the request's inode (loop.c's busy table) */
    int bulk;                   /* a large write (loop.c) */
};
/* Serves a request that came through a ring (uring.c): inline, or by a
 * worker when it may wait on the disk, as the reader does. */
void mnt_loop_dispatch(struct mnt_pool *p, struct mnt_job *j);
/* The kernel's max_background for a pool of nworkers (loop.c): how many
 * background requests (writeback WRITEs, readahead READs) may be out at
 * once; 0 for the kernel's default. */
unsigned mnt_loop_max_background(unsigned nworkers);
#define MNT_DEFAULT_WORKERS 8
/* Of n workers, those that serve bulk writes (loop.c). */
#define MNT_BULK_WORKERS(n) ((n) > 1 ? (n) / 2 : 1)
/* Writes up to this size (request bytes) are served by the reader: going
 * into the memtable they cost less than handing them over, and with the
 * writeback cache a small file's data arrives as one such WRITE while
 * the writer waits in close(2).  Larger ones are bulk data for the
 * engine (FS_WRITE_BULK): they wait while it catches up, and what the
 * reader serves goes ahead of them. */
#define MNT_INLINE_WRITE_MAX (64u << 10)
#define MNT_MAX_WORKERS 256
#define MNT_STR_(x) #x
#define MNT_STR(x) MNT_STR_(x)
/* Serves requests until unmount or a signal: the calling thread reads
 * them and serves those answered from memory; nworkers threads serve the
 * ones that may wait on the disk (with sync_writes: every change).
 * Returns 0, or -errno if the loop could not run. */
int mnt_loop(struct fuse_session *se, struct mnt_state *m, unsigned nworkers,
             int sync_writes);

/* --- uring.c ----------------------------------------------------------- */
/* The transport: FUSE over io_uring when the kernel offers it, else the
 * reader of /dev/fuse alone (see uring.c). */
#define MNT_URING_AUTO (-1)
#define MNT_URING_OFF 0
#define MNT_URING_ON 1
struct mnt_uring;
/* After mounting: routes the session's reads and writes through uring.c
 * (which announces io_uring in the INIT reply when it is wanted and
 * offered).  0 or -errno; m->uring is set on success. */
int mnt_uring_setup(struct fuse_session *se, struct mnt_state *m, int want);
/* mnt_loop's pool serves the ring requests too (none before this). */
void mnt_uring_attach(struct mnt_uring *u, struct mnt_pool *pool);
/* Stops the ring threads (before the pool goes); then _free, after the
 * workers have finished the ring requests they hold. */
void mnt_uring_stop(struct mnt_uring *u);
void mnt_uring_free(struct mnt_uring *u);
/* Around serving a ring entry's request: its reply goes to the ring. */
void mnt_ring_begin(struct mnt_ring_ent *e);
void mnt_ring_end(struct mnt_ring_ent *e);
/* Sends a reply (iov[0] starts with its fuse_out_header): into the ring
 * entry the calling thread serves if it is that entry's, else writev(2)
 * on fd.  Returns what writev would. */
ssize_t mnt_send_reply(int fd, struct iovec *iov, int count);

/* --- remount.c --------------------------------------------------------- */
/* ioctls on the mount's root directory through which `lsmfs -o remount`
 * talks to the daemon (only root or the daemon's own user may):
 * GET_RO: 1 if the daemon refuses changes (read-only), else 0;
 * SET_RO 1: make everything written durable, mark the store clean and
 * refuse changes (fs_set_read_only); SET_RO 0: accept changes again. */
#define MNT_IOC_GET_RO _IOR('L', 0xe0, uint32_t)
#define MNT_IOC_SET_RO _IOW('L', 0xe0, uint32_t)
/* `lsmfs -o remount,ro|rw,... [STORE] MOUNTPOINT` (args: what
 * mnt_parse_args left).  Returns the exit code, having said why on
 * failure. */
int mnt_remount(struct fuse_args *args, const struct mnt_config *cfg);

/* --- ops.c ------------------------------------------------------------- */
extern const struct fuse_lowlevel_ops mnt_ops;
/* Serves a request libfuse has no handler for (FUSE_TMPFILE) and returns
 * 1, or returns 0 for any other request (left to
 * fuse_session_process_buf). */
int mnt_raw_request(struct fuse_session *se, struct mnt_state *m,
                    const struct fuse_buf *buf);
/* What an fsync would do now (fs_sync_pending): 0 when nothing (every
 * change acknowledged so far is durable); the bytes it writes when it is
 * one WAL fdatasync; UINT64_MAX when it would do more or wait.  loop.c
 * serves FSYNC and FSYNCDIR on the reader when it is 0, or small while
 * the workers are idle. */
uint64_t mnt_sync_pending(struct mnt_state *m);
/* Set on the reader while it serves an fsync or fsyncdir it found
 * nothing to sync for (loop.c): mnt_fsync replies without syncing. */
extern _Thread_local int mnt_noop_sync;

#endif
