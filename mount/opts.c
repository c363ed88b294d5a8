/*
 * opts.c — the lsmfs command line.
 *
 *   lsmfs [options] STORE MOUNTPOINT
 *
 * Parsing happens in three passes over one fuse_args vector:
 *   1. mnt_parse_args (here) removes STORE, --help/--version and lsmfs's
 *      own -o options, so that libfuse never sees them;
 *   2. fuse_parse_conn_info_opts (main.c) removes libfuse's connection
 *      options (splice_*, async_read, max_readahead=, ...);
 *   3. fuse_parse_cmdline and fuse_session_new take the rest: MOUNTPOINT,
 *      -f -d -s, and the mount options (allow_other, fsname=, ro, ...).
 *      Anything still unknown fails there with one line on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "cli.h"
#include "mnt.h"
#include "prio.h"

#define MNT_DEFAULT_TIMEOUT 60.0   /* seconds; the daemon is the only writer */

/* Data block size of the stores the daemon creates (an existing store
 * keeps the size in its superblock).  A write that covers part of a
 * block of a file with holes rewrites the whole block (read, merge, put;
 * fully stored files take patches instead, fs/file.c), so there the
 * block size is the write amplification of small random writes: page-cache
 * writeback and databases write 4 KiB pages.  Measured with
 * scripts/bench-fs workloads (20000 4 KiB random writes + fsync into a
 * 256 MiB file): 16 KiB blocks are 3x faster than 64 KiB and use 30%
 * less daemon CPU over a whole run, sequential write and read within
 * the noise; 4 KiB blocks make sequential reads 2-3x slower (one engine
 * lookup per 4 KiB).  A read crossing a damaged block returns the good
 * prefix first (a short read, as POSIX allows), then EIO. */
#define MNT_BLOCK_BYTES (16u << 10)
/* Blocks of this size or more go to blob files; 0: none.  4096 (a
 * file's full 16 KiB blocks and tails of 4 KiB or more) is the measured
 * choice (README: blob files): file data is written once, and a full
 * disk gives the space of removed files back through holes punched in
 * the blob files (t_enospc). */
#define MNT_BLOB_MIN_DEFAULT 4096u

enum mnt_key {
    KEY_HELP,
    KEY_VERSION,
    KEY_FSNAME,
    KEY_CACHE_MB,
    KEY_MEMTABLE_MB,
    KEY_COMPRESSION,
    KEY_COMPACTION_STYLE,
    KEY_INLINE_MAX,
    KEY_MAX_WRITE,
    KEY_ATTR_TIMEOUT,
    KEY_ENTRY_TIMEOUT,
    KEY_NEGATIVE_TIMEOUT,
    KEY_WORKERS,
    KEY_ALLOW_OTHERS,
    KEY_LOG_LEVEL,
    KEY_RO,
    KEY_RW,
    KEY_REMOUNT,
    KEY_SNAPDIR,
    KEY_BLOB_MIN,
    KEY_BLOB_FILE_MB,
    KEY_BLOB_GC_AGE,
    KEY_BLOB_GC_GARBAGE,
};

#define MNT_FLAG(t, field, v) { t, offsetof(struct mnt_config, field), v }

/* Value options are keys so that mnt_opt_proc can parse them strictly
 * (sscanf would accept "12abc" or "-1" for a size). */
static const struct fuse_opt mnt_opt_spec[] = {
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("fsname=", KEY_FSNAME),
    FUSE_OPT_KEY("cache_mb=", KEY_CACHE_MB),
    FUSE_OPT_KEY("memtable_mb=", KEY_MEMTABLE_MB),
    FUSE_OPT_KEY("compression=", KEY_COMPRESSION),
    FUSE_OPT_KEY("compaction_style=", KEY_COMPACTION_STYLE),
    FUSE_OPT_KEY("snapdir=", KEY_SNAPDIR),
    FUSE_OPT_KEY("inline_max=", KEY_INLINE_MAX),
    FUSE_OPT_KEY("blob_min=", KEY_BLOB_MIN),
    FUSE_OPT_KEY("blob_file_mb=", KEY_BLOB_FILE_MB),
    FUSE_OPT_KEY("blob_gc_age=", KEY_BLOB_GC_AGE),
    FUSE_OPT_KEY("blob_gc_garbage=", KEY_BLOB_GC_GARBAGE),
    FUSE_OPT_KEY("max_write=", KEY_MAX_WRITE),
    FUSE_OPT_KEY("attr_timeout=", KEY_ATTR_TIMEOUT),
    FUSE_OPT_KEY("entry_timeout=", KEY_ENTRY_TIMEOUT),
    FUSE_OPT_KEY("negative_timeout=", KEY_NEGATIVE_TIMEOUT),
    FUSE_OPT_KEY("workers=", KEY_WORKERS),
    FUSE_OPT_KEY("log_level=", KEY_LOG_LEVEL),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("rw", KEY_RW),
    FUSE_OPT_KEY("remount", KEY_REMOUNT),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHERS),
    FUSE_OPT_KEY("allow_root", KEY_ALLOW_OTHERS),
    MNT_FLAG("sync", sync, 1),
    MNT_FLAG("writeback", writeback, 1),
    MNT_FLAG("no_writeback", writeback, 0),
    MNT_FLAG("recycle_wal", recycle_wal, 1),
    MNT_FLAG("no_recycle_wal", recycle_wal, 0),
    MNT_FLAG("io_uring", io_uring, MNT_URING_ON),
    MNT_FLAG("no_io_uring", io_uring, MNT_URING_OFF),
    MNT_FLAG("auto_unmount", auto_unmount, 1),
    FUSE_OPT_END
};

/* Parses a whole decimal number (no sign, no suffix) into *out. */
static int mnt_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses a non-negative, finite number of seconds (fractions allowed). */
static int mnt_parse_seconds(const char *s, double *out)
{
    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

/* -o log_level= names, most severe first; values are syslog's LOG_*. */
static const struct { const char *name; int level; } mnt_log_levels[] = {
    { "error", LOG_ERR },
    { "warning", LOG_WARNING },
    { "info", LOG_INFO },
    { "debug", LOG_DEBUG },
};

static int mnt_parse_log_level(const char *s, int *out)
{
    for (size_t i = 0; i < sizeof mnt_log_levels / sizeof mnt_log_levels[0]; i++) {
        if (strcmp(s, mnt_log_levels[i].name) == 0) {
            *out = mnt_log_levels[i].level;
            return 0;
        }
    }
    return -1;
}

static int mnt_bad_value(const char *arg, const char *expected)
{
    fprintf(stderr, "lsmfs: bad option -o %s (expected %s)\n", arg, expected);
    return -1;
}

/* STORE is the first non-option argument, MOUNTPOINT the second (left in
 * args for fuse_parse_cmdline, which resolves it with realpath). */
static int mnt_take_positional(struct mnt_config *cfg, const char *arg)
{
    cfg->positional++;
    if (cfg->positional == 2)
        return 1;
    if (cfg->positional > 2) {
        fprintf(stderr, "lsmfs: unexpected argument '%s' "
                "(usage: lsmfs [options] STORE MOUNTPOINT)\n", arg);
        return -1;
    }
    if (arg[0] == '\0') {
        fprintf(stderr, "lsmfs: empty STORE path\n");
        return -1;
    }
    /* The daemon changes directory to / when it detaches, and the engine
     * opens files by path for the store's whole life: keep it absolute. */
    if (arg[0] == '/') {
        cfg->store = strdup(arg);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd) == NULL) {
            fprintf(stderr, "lsmfs: cannot resolve STORE '%s': %s\n", arg,
                    strerror(errno));
            return -1;
        }
        size_t len = strlen(cwd) + 1 + strlen(arg) + 1;
        cfg->store = malloc(len);
        if (cfg->store != NULL)
            snprintf(cfg->store, len, "%s/%s", cwd, arg);
    }
    if (cfg->store == NULL) {
        fprintf(stderr, "lsmfs: out of memory\n");
        return -1;
    }
    return 0;
}

static int mnt_take_size_mb(const char *arg, const char *val, size_t *out)
{
    uint64_t v;
    if (mnt_parse_uint(val, SIZE_MAX >> 20, &v) != 0 || v == 0)
        return mnt_bad_value(arg, "a whole number of MiB, at least 1");
    *out = (size_t)v;
    return 0;
}

static int mnt_opt_proc(void *data, const char *arg, int key,
                        struct fuse_args *outargs)
{
    (void)outargs;
    struct mnt_config *cfg = data;
    const char *eq = strchr(arg, '=');
    const char *val = eq != NULL ? eq + 1 : "";
    uint64_t v;

    switch (key) {
    case FUSE_OPT_KEY_NONOPT:
        return mnt_take_positional(cfg, arg);
    case FUSE_OPT_KEY_OPT:
        return 1;                       /* libfuse's; leave it */
    case KEY_HELP:
        cfg->show_help = 1;
        return 0;
    case KEY_VERSION:
        cfg->show_version = 1;
        return 0;
    case KEY_FSNAME:
        cfg->fsname_given = 1;
        return 1;
    case KEY_ALLOW_OTHERS:
        cfg->others_allowed = 1;
        return 1;                /* kept for libfuse */
    case KEY_RO:
    case KEY_RW:
        cfg->read_only = key == KEY_RO;
        return 1;                /* kept: libfuse (or mnt_remount) applies it */
    case KEY_REMOUNT:
        cfg->remount = 1;
        return 0;
    case KEY_CACHE_MB:
        return mnt_take_size_mb(arg, val, &cfg->cache_mb);
    case KEY_MEMTABLE_MB:
        return mnt_take_size_mb(arg, val, &cfg->memtable_mb);
    case KEY_COMPRESSION:
        if (strcmp(val, "zstd") != 0 && strcmp(val, "none") != 0)
            return mnt_bad_value(arg, "zstd or none");
        free(cfg->compression);
        cfg->compression = strdup(val);
        return cfg->compression != NULL ? 0 : -1;
    case KEY_COMPACTION_STYLE:
        if (strcmp(val, "leveled") == 0)
            cfg->compaction_style = LSM_COMPACTION_LEVELED;
        else if (strcmp(val, "tiered") == 0)
            cfg->compaction_style = LSM_COMPACTION_TIERED;
        else
            return mnt_bad_value(arg, "leveled or tiered");
        return 0;
    case KEY_SNAPDIR:
        if (!lsm_snapshot_name_ok(val))
            return mnt_bad_value(arg, "a file name (no '/', not '.' or '..')");
        free(cfg->snapdir);
        cfg->snapdir = strdup(val);
        return cfg->snapdir != NULL ? 0 : -1;
    case KEY_INLINE_MAX:
        if (mnt_parse_uint(val, SIZE_MAX, &v) != 0)
            return mnt_bad_value(arg, "a whole number of bytes");
        cfg->inline_max = (size_t)v;
        return 0;
    case KEY_BLOB_MIN:
        if (mnt_parse_uint(val, LSM_MAX_VALUE, &v) != 0)
            return mnt_bad_value(arg, "a whole number of bytes");
        cfg->blob_min = (size_t)v;
        return 0;
    case KEY_BLOB_FILE_MB:
        return mnt_take_size_mb(arg, val, &cfg->blob_file_mb);
    case KEY_BLOB_GC_AGE:
        if (mnt_parse_uint(val, 100, &v) != 0)
            return mnt_bad_value(arg, "a percentage, 0 to 100");
        cfg->blob_gc_age = (int)v;
        return 0;
    case KEY_BLOB_GC_GARBAGE:
        if (mnt_parse_uint(val, 100, &v) != 0)
            return mnt_bad_value(arg, "a percentage, 0 to 100");
        cfg->blob_gc_garbage = (int)v;
        return 0;
    case KEY_MAX_WRITE:
        if (mnt_parse_uint(val, MNT_MAX_WRITE_MAX, &v) != 0 ||
            v < MNT_MAX_WRITE_MIN)
            return mnt_bad_value(arg, "bytes between 4096 and 1048576");
        cfg->max_write = (unsigned)v;
        return 0;
    case KEY_ATTR_TIMEOUT:
        if (mnt_parse_seconds(val, &cfg->attr_timeout) != 0)
            return mnt_bad_value(arg, "seconds, 0 or more");
        return 0;
    case KEY_ENTRY_TIMEOUT:
        if (mnt_parse_seconds(val, &cfg->entry_timeout) != 0)
            return mnt_bad_value(arg, "seconds, 0 or more");
        return 0;
    case KEY_NEGATIVE_TIMEOUT:
        if (mnt_parse_seconds(val, &cfg->negative_timeout) != 0)
            return mnt_bad_value(arg, "seconds, 0 or more");
        return 0;
    case KEY_WORKERS:
        if (mnt_parse_uint(val, MNT_MAX_WORKERS, &v) != 0)
            return mnt_bad_value(arg, "a number of threads, 0.." MNT_STR(MNT_MAX_WORKERS));
        cfg->workers = (unsigned)v;
        return 0;
    case KEY_LOG_LEVEL:
        if (mnt_parse_log_level(val, &cfg->log_level) != 0)
            return mnt_bad_value(arg, "debug, info, warning or error");
        return 0;
    }
    fprintf(stderr, "lsmfs: internal error: unhandled option key %d\n", key);
    return -1;
}

/* Defaults come from the fs layer itself so --help never drifts. */
static void mnt_config_defaults(struct mnt_config *cfg)
{
    fs_options o;
    fs_options_init(&o);
    memset(cfg, 0, sizeof *cfg);
    cfg->cache_mb = o.lsm.cache_bytes >> 20;
    cfg->memtable_mb = o.lsm.memtable_bytes >> 20;
    cfg->inline_max = o.inline_max;
    cfg->blob_min = MNT_BLOB_MIN_DEFAULT;
    cfg->blob_file_mb = o.lsm.blob_file_bytes >> 20;
    cfg->blob_gc_age = o.lsm.blob_gc_age_percent;
    cfg->blob_gc_garbage = o.lsm.blob_gc_garbage_percent;
    cfg->sync = o.sync;
    cfg->writeback = -1;
    cfg->recycle_wal = o.lsm.recycle_wal;
    cfg->max_write = MNT_MAX_WRITE_MAX;
    cfg->workers = MNT_DEFAULT_WORKERS;
    cfg->io_uring = MNT_URING_AUTO;
    cfg->log_level = -1;
    cfg->attr_timeout = MNT_DEFAULT_TIMEOUT;
    cfg->entry_timeout = MNT_DEFAULT_TIMEOUT;
    cfg->negative_timeout = MNT_DEFAULT_TIMEOUT;
}

int mnt_parse_args(struct fuse_args *args, struct mnt_config *cfg)
{
    mnt_config_defaults(cfg);
    if (fuse_opt_parse(args, cfg, mnt_opt_spec, mnt_opt_proc) != 0)
        return -1;
    return 0;
}

void mnt_config_to_fs(const struct mnt_config *cfg, fs_options *o)
{
    fs_options_init(o);
    o->lsm.cache_bytes = cfg->cache_mb << 20;
    o->lsm.memtable_bytes = cfg->memtable_mb << 20;
    if (cfg->compression != NULL)
        o->lsm.compression = strcmp(cfg->compression, "none") == 0
                                 ? LSM_COMPRESS_NONE : LSM_COMPRESS_ZSTD;
    o->lsm.compaction_style = cfg->compaction_style;
    o->lsm.background_nice = MNT_BG_NICE;      /* prio.h */
    o->inline_max = cfg->inline_max;
    o->lsm.blob_min_bytes = cfg->blob_min;
    o->lsm.blob_file_bytes = (uint64_t)cfg->blob_file_mb << 20;
    o->lsm.blob_gc_age_percent = cfg->blob_gc_age;
    o->lsm.blob_gc_garbage_percent = cfg->blob_gc_garbage;
    o->lsm.recycle_wal = cfg->recycle_wal;
    /* A larger inline threshold needs blocks at least as large. */
    uint32_t bb = MNT_BLOCK_BYTES;
    while (bb < cfg->inline_max && bb < (16u << 20))
        bb <<= 1;
    o->block_bytes = bb;
    o->sync = cfg->sync;
    o->create = 1;
}

void mnt_config_free(struct mnt_config *cfg)
{
    free(cfg->store);
    free(cfg->compression);
    free(cfg->snapdir);
    cfg->store = NULL;
    cfg->compression = NULL;
    cfg->snapdir = NULL;
}

void mnt_print_help(const char *prog)
{
    struct mnt_config d;
    fs_options o;
    mnt_config_defaults(&d);
    fs_options_init(&o);

    printf("usage: %s [options] STORE MOUNTPOINT\n"
           "       %s -o remount,ro|rw [STORE] MOUNTPOINT\n", prog, prog);
    cli_print_usage_lines(prog);
    printf("\n");
    printf("Mounts the lsmfs store in directory STORE at MOUNTPOINT.  A missing or\n"
           "empty STORE directory becomes a new store.  The daemon detaches once\n"
           "the mount is ready; errors are reported before it does, and a mount\n"
           "that succeeds prints nothing.  A store still held by a daemon whose\n"
           "mount is gone (closing after umount) is waited for, up to 30 s; a\n"
           "store mounted elsewhere is refused at once.\n"
           "`-o remount,ro` (what `mount -o remount,ro MOUNTPOINT` runs; root only)\n"
           "makes a live mount read-only: the kernel and the daemon refuse changes\n"
           "with EROFS, and the store is made durable and marked clean.\n"
           "`-o remount,rw` undoes it.  Other options are ignored on a remount.\n"
           "`fsck` checks an unmounted store (--repair: and fixes it); exit codes\n"
           "as e2fsck: 0 clean, 1 errors fixed, 4 errors left, 8 operational error.\n\n");
    printf("general options:\n"
           "    -h   --help            print this help and exit\n"
           "    -V   --version         print versions and exit\n"
           "    -f                     stay in the foreground, log to stderr\n"
           "                           (default: daemonize, log to syslog)\n"
           "    -d   -o debug          print every request (implies -f and,\n"
           "                           unless given, log_level=debug)\n"
           "    -o log_level=L         least severe messages logged: error,\n"
           "                           warning, info (recovery after a crash,\n"
           "                           mount, unmount) or debug (obsolete files\n"
           "                           deleted ...).  Default: warning on the\n"
           "                           terminal, so a mount prints nothing\n"
           "                           unless something is wrong; info in syslog\n"
           "    -s                     single-threaded: one thread serves every\n"
           "                           request (same as -o workers=0)\n"
           "    -o workers=N           threads for requests that may wait on the\n"
           "                           disk (data, fsync); the others are served\n"
           "                           by the thread reading requests (default %u)\n"
           "    -o io_uring            requests through FUSE over io_uring when\n"
           "                           the kernel offers it (fuse module\n"
           "                           parameter enable_uring=Y), else /dev/fuse\n"
           "                           with a warning (default: io_uring when\n"
           "                           offered)\n"
           "    -o no_io_uring         requests through /dev/fuse only\n"
           "    -o clone_fd            use libfuse's multi-threaded loop instead,\n"
           "    -o max_idle_threads=N  with these settings (default: not used)\n\n",
           d.workers);
    printf("lsmfs options:\n");
    printf("    -o cache_mb=N          engine block cache, MiB (default %zu)\n",
           d.cache_mb);
    printf("    -o memtable_mb=N       engine memtable size, MiB (default %zu)\n",
           d.memtable_mb);
    printf("    -o compression=zstd|none  table compression (default %s)\n",
           o.lsm.compression == LSM_COMPRESS_NONE ? "none" : "zstd");
    printf("    -o compaction_style=leveled|tiered  the store's compaction;\n"
           "                           a store remembers it, and another one\n"
           "                           converts it (default: the store's; new\n"
           "                           stores leveled)\n");
    printf("    -o snapdir=NAME        directory in the root where each snapshot\n"
           "                           is browsable read-only as NAME/SNAPSHOT\n"
           "                           (hidden from listings; default %s)\n",
           MNT_SNAPDIR_DEFAULT);
    printf("    -o inline_max=N        files up to N bytes live in the inode\n"
           "                           record (default %zu); new stores use\n"
           "                           %u KiB data blocks\n", d.inline_max,
           MNT_BLOCK_BYTES >> 10);
    printf("    -o blob_min=N          file data blocks of N bytes or more are\n"
           "                           written once to blob files, out of the\n"
           "                           tree (default %zu; 0: off)\n",
           d.blob_min);
    printf("    -o blob_file_mb=N      blob file size, MiB (default %zu)\n",
           d.blob_file_mb);
    printf("    -o blob_gc_age=PCT     compactions move live values out of the\n"
           "                           oldest PCT %% of blob files (default %d:\n"
           "                           never)\n", d.blob_gc_age);
    printf("    -o blob_gc_garbage=PCT live values move out of blob files whose\n"
           "                           deleted or overwritten values reach PCT %%\n"
           "                           of their bytes (default %d; 0: never)\n",
           d.blob_gc_garbage);
    printf("    -o sync                every change durable before it is\n"
           "                           acknowledged; implies no_writeback unless\n"
           "                           writeback is given (default %s)\n",
           d.sync ? "on" : "off");
    printf("    -o writeback           kernel writeback cache (default on)\n"
           "    -o no_writeback        writes go to the daemon as they happen\n");
    printf("    -o recycle_wal         write a WAL over a flushed one's file\n"
           "    -o no_recycle_wal      delete a WAL once flushed (default %s)\n",
           d.recycle_wal ? "recycle_wal" : "no_recycle_wal");
    printf("    -o max_write=N         largest write request, bytes, 4096..%u\n"
           "                           (default %u)\n", MNT_MAX_WRITE_MAX,
           d.max_write);
    printf("    -o attr_timeout=S      seconds the kernel caches attributes\n"
           "                           (default %g)\n", d.attr_timeout);
    printf("    -o entry_timeout=S     seconds the kernel caches names (default %g)\n",
           d.entry_timeout);
    printf("    -o negative_timeout=S  seconds the kernel caches absent names\n"
           "                           (default %g)\n\n", d.negative_timeout);
    printf("mount options (passed to libfuse and the kernel):\n"
           "    -o default_permissions the kernel checks permissions (on unless\n"
           "                           root mounts without allow_other/allow_root:\n"
           "                           then only root can use the mount, and root\n"
           "                           passes every check but exec, which the\n"
           "                           kernel and access(2) still enforce)\n"
           "    -o allow_other         let other users access the mount (default off)\n"
           "    -o fsname=NAME         source shown in /proc/mounts (default STORE)\n"
           "    -o subtype=NAME        type shown as fuse.NAME (default lsmfs)\n"
           "    -o auto_unmount        unmount when the daemon dies (default off;\n"
           "                           lsmfs's own watcher process does it, the\n"
           "                           option is not passed on)\n"
           "    -o ro|rw nosuid|suid nodev|dev noexec|exec noatime|atime ...\n"
           "                           generic mount flags (default rw,nosuid,nodev);\n"
           "                           with ro the daemon refuses changes too\n\n");
    printf("kernel connection options (libfuse; default: libfuse's choice):\n"
           "    -o async_read|sync_read  -o atomic_o_trunc  -o no_remote_lock\n"
           "    -o [no_]splice_read|splice_write|splice_move  (default off: data\n"
           "       is copied into the store's memory either way)\n"
           "    -o [no_]auto_inval_data  -o readdirplus=yes|no|auto  -o [no_]async_dio\n"
           "    -o max_background=N  -o congestion_threshold=N  (default both: the\n"
           "       workers serving large writes, half of -o workers, at least 4)\n"
           "    -o time_gran=N\n"
           "    -o max_readahead=N     kernel readahead, bytes (default %u; above\n"
           "                           the kernel's 128 KiB only when run as root)\n\n",
           MNT_DEFAULT_READAHEAD);
    printf("libfuse's own description of its options:\n");
    fuse_lowlevel_help();
}

/* The version of each library is the one loaded now, not the one built
 * against: libfuse's, zstd's and xxhash's own calls. */
void mnt_print_version(void)
{
    unsigned xxh = XXH_versionNumber();   /* major * 10000 + minor * 100 + patch */
    printf("lsmfs version %s\n", lsm_library_version());
    printf("FUSE library version %s\n", fuse_pkgversion());
    fflush(stdout);                 /* fusermount3 -V prints next, itself */
    fuse_lowlevel_version();
    printf("zstd library version %s\n", ZSTD_versionString());
    printf("xxhash library version %u.%u.%u\n", xxh / 10000, xxh / 100 % 100,
           xxh % 100);
}
