/*
 * mnt.h — the lsmfs FUSE daemon: shared state between option parsing and
 * daemon life (main.c, opts.c) and the request handlers (ops.c).
 *
 * The daemon maps each libfuse low-level request onto one fs.h call; FUSE
 * inode numbers are fs inode numbers (FUSE_ROOT_ID == FS_ROOT_INO == 1).
 */
#ifndef MNT_H
#define MNT_H

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

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
    size_t inline_max;
    int sync;
    int writeback;              /* 1 on, 0 off, -1 = default (on unless sync) */
    unsigned max_write;
    double attr_timeout;
    double entry_timeout;
    double negative_timeout;
    unsigned workers;           /* request threads besides the reader */
    int log_level;              /* LOG_* shown at most; -1 = default */
    int read_only;              /* -o ro (the last of ro/rw wins) */
    int remount;                /* -o remount: change a live mount */
};

/* Per-mount state handed to libfuse as the session's userdata. */
struct mnt_state {
    fs_t *fs;
    double attr_timeout;
    double entry_timeout;
    double negative_timeout;
    int want_writeback;         /* requested on the command line */
    int writeback;              /* negotiated in init; read-only afterwards */
    unsigned max_write;
    struct fuse_conn_info_opts *conn_opts;  /* libfuse -o options for init */
};

/* --- opts.c ----------------------------------------------------------- */
#define MNT_MAX_WRITE_MIN 4096u
#define MNT_MAX_WRITE_MAX (1u << 20)

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

/* --- mountinfo.c ------------------------------------------------------- */
struct mnt_mount {
    char fstype[64];            /* "fuse.lsmfs", "ext4", ... */
    char opts[256];             /* per-mount options: "rw,nosuid,relatime" */
};
/* The mount at the absolute, resolved path (the topmost if several are
 * stacked there): 1 and *m filled, 0 if nothing is mounted there, or
 * -errno if /proc/self/mountinfo cannot be read. */
int mnt_mount_at(const char *path, struct mnt_mount *m);
/* fuse, fuseblk or fuse.SUBTYPE. */
int mnt_is_fuse_type(const char *fstype);

/* --- loop.c ------------------------------------------------------------ */
#define MNT_DEFAULT_WORKERS 8
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

#endif
