/*
 * main.c — the lsmfs daemon's life: parse the command line, open the
 * store, mount, detach, serve requests, and on SIGTERM/SIGINT/SIGHUP or
 * `fusermount3 -u` unmount and close the store.
 *
 * Order matters for error reporting and for the engine's threads:
 *   - Everything that can be checked without side effects (options,
 *     mountpoint) is checked first, so bad input touches nothing.
 *   - Unless -f, the process forks BEFORE the store is opened: fs_open
 *     starts engine threads, and fork() keeps only the calling thread.
 *     The parent waits on a pipe and exits 0 only once the child reports
 *     the mount ready, or passes on the child's non-zero exit status
 *     after the child has printed its error to the still-shared stderr.
 *     (fuse_daemonize() cannot be used: it forks after the mount.)
 *   - The store lock is therefore taken by the process that serves the
 *     mount, so a second daemon's "store in use" error names its pid.
 *   - With -o auto_unmount that process forks its watcher (autounmount.c)
 *     before opening the store too: then it has one thread, and no
 *     descriptor of the store or of the mount for the watcher to keep.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_snap.h"
#include "mnt.h"
#include "tools.h"

static atomic_int mnt_use_syslog;   /* 1 once the daemon has detached */
static int mnt_ready_fd = -1;       /* write end of the parent's pipe */
/* main's arguments: the auto_unmount watcher overwrites its copy of
 * their strings with its process title (autounmount.c). */
static int mnt_argc;
static char **mnt_argv;

/* The least severe level logged on stderr (in the foreground, and until
 * the daemon detaches) and to syslog (after).  The defaults keep a
 * mount's terminal quiet unless something is wrong, while the system log
 * gets routine events (recovery after a crash, mount and unmount);
 * -o log_level sets both, -d alone makes both LOG_DEBUG.  Set before any
 * thread starts. */
static int mnt_stderr_max = LOG_WARNING;
static int mnt_syslog_max = LOG_INFO;

static void mnt_set_log_level(int level, int debug)
{
    if (level < 0 && debug)
        level = LOG_DEBUG;
    if (level >= 0)
        mnt_stderr_max = mnt_syslog_max = level;
}

void mnt_log(int level, const char *fmt, ...)
{
    int to_syslog = atomic_load(&mnt_use_syslog);
    if (level > (to_syslog ? mnt_syslog_max : mnt_stderr_max))
        return;
    va_list ap;
    va_start(ap, fmt);
    if (to_syslog) {
        vsyslog(level, fmt, ap);
    } else {
        char line[2048];
        vsnprintf(line, sizeof line, fmt, ap);
        fprintf(stderr, "lsmfs: %s\n", line);
    }
    va_end(ap);
}

void mnt_log_to_syslog(void)
{
    openlog("lsmfs", LOG_PID, LOG_DAEMON);
    fflush(stdout);
    fflush(stderr);
    atomic_store(&mnt_use_syslog, 1);
}

/* fs_options.log: the fs layer's (and engine's) log lines. */
static void mnt_fs_log(void *ctx, int level, const char *line)
{
    (void)ctx;
    mnt_log(level, "%s", line);
}

/* fuse_set_log_func: libfuse's own messages; one line may take several
 * calls, the last ending in '\n'. */
static void mnt_fuse_log(enum fuse_log_level level, const char *fmt,
                         va_list ap)
{
    if (atomic_load(&mnt_use_syslog)) {
        vsyslog((int)level, fmt, ap);
        return;
    }
    /* Problems get the program's name at the start of each line (libfuse
     * builds some lines from several calls); -d traces stay as they are. */
    static _Thread_local int mid_line;
    char buf[2048];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n <= 0)
        return;
    if (level <= FUSE_LOG_WARNING && !mid_line)
        fputs("lsmfs: ", stderr);
    fputs(buf, stderr);
    size_t len = strlen(buf);
    mid_line = buf[len - 1] != '\n';
}

pid_t mnt_fork(int fds[2])
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        mnt_log(LOG_ERR, "cannot fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
    }
    return pid;
}

/* Forks.  Returns 0 in the child (now a session leader); the parent never
 * returns: it exits 0 when the child writes the ready byte, else with the
 * child's status. */
static int mnt_daemon_fork(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        mnt_log(LOG_ERR, "cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = mnt_fork(p);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p[0]);
        mnt_ready_fd = p[1];
        if (setsid() < 0) {
            mnt_log(LOG_ERR, "setsid: %s", strerror(errno));
            _exit(1);
        }
        return 0;
    }

    close(p[1]);
    char c;
    ssize_t n;
    do {
        n = read(p[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1)
        _exit(0);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            _exit(1);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        fprintf(stderr, "lsmfs: the daemon died of signal %d before the "
                "mount was ready\n", WTERMSIG(status));
    _exit(1);
}

/* In the child, once mounted: leave the terminal and release the parent. */
static int mnt_daemon_detach(void)
{
    if (chdir("/") != 0) {
        mnt_log(LOG_ERR, "chdir /: %s", strerror(errno));
        return -1;
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) {
        mnt_log(LOG_ERR, "cannot open /dev/null: %s", strerror(errno));
        return -1;
    }
    mnt_log_to_syslog();
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);

    ssize_t n;
    do {
        n = write(mnt_ready_fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    close(mnt_ready_fd);
    mnt_ready_fd = -1;
    return n == 1 ? 0 : -1;
}

static int mnt_check_mountpoint(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        mnt_log(LOG_ERR, "mountpoint %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        mnt_log(LOG_ERR, "mountpoint %s is not a directory", path);
        return -1;
    }
    return 0;
}

/* realpath of an absolute path that may not exist yet: its nearest
 * existing ancestor resolved, followed by the components that do not
 * exist.  NULL (errno set) if that fails. */
static char *mnt_resolve(const char *path)
{
    char *prefix = strdup(path);
    if (prefix == NULL)
        return NULL;
    size_t plen = strlen(prefix);
    for (;;) {
        char *r = realpath(plen == 0 ? "/" : prefix, NULL);
        if (r != NULL) {
            const char *rest = path + plen;       /* "" or "/a/b" */
            size_t len = strlen(r) + strlen(rest) + 1;
            char *out = malloc(len);
            if (out != NULL)
                snprintf(out, len, "%s%s",
                         strcmp(r, "/") == 0 && *rest != '\0' ? "" : r, rest);
            free(r);
            free(prefix);
            return out;
        }
        if (errno != ENOENT || plen == 0) {
            free(prefix);
            return NULL;
        }
        char *slash = strrchr(prefix, '/');
        plen = slash != NULL ? (size_t)(slash - prefix) : 0;
        prefix[plen] = '\0';
    }
}

/* The store must stay reachable while mounted: a store at or under the
 * mountpoint would be hidden by the mount, and the engine, which opens its
 * files by path, would call into its own filesystem. */
static int mnt_check_store_path(const char *store, const char *mountpoint)
{
    char *s = mnt_resolve(store);
    if (s == NULL) {
        mnt_log(LOG_ERR, "store %s: %s", store, strerror(errno));
        return -1;
    }
    size_t mlen = strlen(mountpoint);
    int inside = strncmp(s, mountpoint, mlen) == 0 &&
                 (s[mlen] == '\0' || s[mlen] == '/' ||
                  strcmp(mountpoint, "/") == 0);
    if (inside)
        mnt_log(LOG_ERR, "store %s is inside mountpoint %s: the mount would "
                "hide it", store, mountpoint);
    free(s);
    return inside ? -1 : 0;
}

/* Mount options lsmfs adds: /proc/mounts names the store, and the kernel
 * checks permissions (the fs layer does not) whenever anyone but root can
 * use the mount.  When root mounts without allow_other/allow_root the
 * kernel lets no other user in, and root passes every permission check
 * except executing a file with no x bit, which the kernel enforces and
 * mnt_access answers even without default_permissions.  Leaving it off
 * then saves a GETATTR of the directory after every create, unlink and
 * rename (the kernel invalidates a changed directory's attributes and
 * would fetch them again for the next permission check). */
static int mnt_add_mount_opts(struct fuse_args *args,
                              const struct mnt_config *cfg)
{
    char *opts = NULL;
    int rc = 0;
    if (geteuid() != 0 || cfg->others_allowed)
        rc = fuse_opt_add_opt(&opts, "default_permissions");
    if (rc == 0 && !cfg->fsname_given) {
        size_t len = strlen("fsname=") + strlen(cfg->store) + 1;
        char *fsname = malloc(len);
        if (fsname == NULL) {
            rc = -1;
        } else {
            snprintf(fsname, len, "fsname=%s", cfg->store);
            rc = fuse_opt_add_opt_escaped(&opts, fsname);
            free(fsname);
        }
    }
    if (rc == 0)
        rc = fuse_opt_add_arg(args, "-o");
    if (rc == 0)
        rc = fuse_opt_add_arg(args, opts);
    free(opts);
    if (rc != 0)
        mnt_log(LOG_ERR, "out of memory");
    return rc;
}

/* Does lsmfs's own loop (loop.c) serve the mount, rather than libfuse's
 * multi-threaded one, asked for by its options (clone_fd,
 * max_idle_threads)? */
static int mnt_own_loop(const struct fuse_cmdline_opts *opts)
{
    return !opts->clone_fd && opts->max_idle_threads == UINT_MAX;
}

/* The workers of the loop that will serve the mount: 0 with -s (the
 * reader serves all) or libfuse's loop (no bulk workers of ours). */
static unsigned mnt_loop_workers(const struct mnt_config *cfg,
                                 const struct fuse_cmdline_opts *opts)
{
    return opts->singlethread || !mnt_own_loop(opts) ? 0 : cfg->workers;
}

/* max_background follows the bulk workers that will really serve the
 * mount; with none (-s, libfuse's loop) the kernel's default is kept. */
static void mnt_state_init(struct mnt_state *st, const struct mnt_config *cfg,
                           const struct fuse_cmdline_opts *opts,
                           struct fuse_conn_info_opts *conn_opts)
{
    memset(st, 0, sizeof *st);
    st->attr_timeout = cfg->attr_timeout;
    st->entry_timeout = cfg->entry_timeout;
    st->negative_timeout = cfg->negative_timeout;
    st->want_writeback = cfg->writeback >= 0 ? cfg->writeback : !cfg->sync;
    st->max_write = cfg->max_write;
    st->max_background = mnt_loop_max_background(mnt_loop_workers(cfg, opts));
    st->conn_opts = conn_opts;
    st->snapdir = cfg->snapdir != NULL ? cfg->snapdir : MNT_SNAPDIR_DEFAULT;
}

/* The store lock's note (lsm_options.lock_note): "mounted at MOUNTPOINT". */
#define MNT_LOCK_NOTE "mounted at "

/* How long a mount waits for a daemon whose mount is gone to close the
 * store: `umount` returns as soon as the kernel has detached the mount,
 * while the old daemon may still be writing its last changes. */
#define MNT_LOCK_WAIT_SEC 30
#define MNT_LOCK_POLL_NSEC (50 * 1000000L)

static double mnt_elapsed(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) +
           (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* After fs_open found the store locked.  A holder that is a daemon whose
 * mount is gone from /proc/self/mountinfo is closing the store after an
 * unmount: wait for it (poll) for up to MNT_LOCK_WAIT_SEC, returning 1
 * to try again.  A holder whose mount is there, or that is no mount at
 * all (fsck, another program), or one that takes too long: 0, having
 * said why.  (A daemon still opening the store, not yet mounted, looks
 * like one closing it: the wait ends when its mount appears.) */
static int mnt_lock_wait(const char *store, const struct timespec *start)
{
    long pid = 0;
    char note[PATH_MAX + sizeof MNT_LOCK_NOTE];
    int st = lsm_lock_holder(store, &pid, note, sizeof note);
    if (st == LSM_OK && pid != 0 &&
        strncmp(note, MNT_LOCK_NOTE, strlen(MNT_LOCK_NOTE)) != 0) {
        mnt_log(LOG_ERR, "%s", fs_last_error());
        return 0;                       /* not a mount: fsck or a program */
    }
    const char *mp = note + strlen(MNT_LOCK_NOTE);
    struct mnt_mount m;
    if (st == LSM_OK && pid != 0 && mnt_mount_at(mp, &m) == 1 &&
        mnt_is_fuse_type(m.fstype)) {
        mnt_log(LOG_ERR, "store %s is in use: mounted at %s by process %ld",
                store, mp, pid);
        return 0;
    }
    if (mnt_elapsed(start) >= MNT_LOCK_WAIT_SEC) {
        mnt_log(LOG_ERR, "%s; its mount is gone but it has not closed the "
                "store within %d s", fs_last_error(), MNT_LOCK_WAIT_SEC);
        return 0;
    }
    struct timespec pause = { 0, MNT_LOCK_POLL_NSEC };
    nanosleep(&pause, NULL);
    return 1;
}

static int mnt_open_store(const struct mnt_config *cfg, const char *mountpoint,
                          fs_t **out)
{
    fs_options o;
    mnt_config_to_fs(cfg, &o);
    o.log = mnt_fs_log;
    o.log_ctx = NULL;
    char note[PATH_MAX + sizeof MNT_LOCK_NOTE];
    snprintf(note, sizeof note, MNT_LOCK_NOTE "%s", mountpoint);
    o.lsm.lock_note = note;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int rc = fs_open(cfg->store, &o, out);
        if (rc == 0)
            return 0;
        if (rc != -EBUSY) {
            mnt_log(LOG_ERR, "%s", fs_last_error());
            return -1;
        }
        if (!mnt_lock_wait(cfg->store, &start))
            return -1;
    }
}

/* Serves requests until unmount or a signal: 0, or -errno.  lsmfs's own
 * loop (loop.c) unless libfuse's multi-threaded one was asked for by its
 * options (clone_fd, max_idle_threads); that one cannot serve O_TMPFILE
 * (see mnt_raw_request), which then fails with EOPNOTSUPP. */
static int mnt_serve(struct fuse_session *se, struct mnt_state *st,
                     const struct mnt_config *cfg,
                     const struct fuse_cmdline_opts *opts)
{
    if (mnt_own_loop(opts) || opts->singlethread)
        return mnt_loop(se, st, mnt_loop_workers(cfg, opts), cfg->sync);
    struct fuse_loop_config lc = {
        .clone_fd = opts->clone_fd,
        .max_idle_threads = opts->max_idle_threads == UINT_MAX
                                ? 10 : opts->max_idle_threads,
    };
    int rc = fuse_session_loop_mt(se, &lc);
    return rc < 0 ? rc : 0;     /* positive: the signal that ended it */
}

/* The daemon's own unmount; the auto_unmount watcher, if any, is told
 * at once, so that it never mistakes a later mount for this one. */
static void mnt_unmount(struct fuse_session *se, struct mnt_watch *w)
{
    fuse_session_unmount(se);
    mnt_watch_end(w);
}

/* Opens the store, mounts, detaches and serves; returns the exit code. */
static int mnt_run_store(struct fuse_session *se, const struct mnt_config *cfg,
                         const struct fuse_cmdline_opts *opts,
                         struct mnt_state *st, struct mnt_watch *w)
{
    if (mnt_open_store(cfg, opts->mountpoint, &st->fs) != 0)
        return 1;
    st->se = se;
    if (mnt_views_new(st) != 0) {
        mnt_log(LOG_ERR, "out of memory");
        fs_close(st->fs);
        st->fs = NULL;
        return 1;
    }
    /* -o ro: the daemon refuses changes too, and the store is clean on
     * disk for as long as it stays read-only. */
    if (cfg->read_only && fs_set_read_only(st->fs, 1) != 0) {
        mnt_log(LOG_ERR, "%s: cannot make the store read-only", cfg->store);
        mnt_views_free(st);
        fs_close(st->fs);
        st->fs = NULL;
        return 1;
    }
    /* For tests only (tests/mounted/t_stall.sh): a write stall that
     * lasts, with no compaction to end it. */
    if (getenv("LSMFS_TEST_HOLD_COMPACTIONS") != NULL)
        fs_hold_compactions(st->fs, 1);
    int code = 1;
    if (fuse_set_signal_handlers(se) != 0) {
        mnt_log(LOG_ERR, "cannot install signal handlers");
        goto close_store;
    }
    if (fuse_session_mount(se, opts->mountpoint) != 0)
        goto remove_handlers;     /* libfuse printed why */
    mnt_watch_mounted(w);
    int urc = mnt_uring_setup(se, st, cfg->io_uring);
    if (urc != 0) {
        mnt_log(LOG_ERR, "cannot set up the request transport: %s",
                strerror(-urc));
        mnt_unmount(se, w);
        goto remove_handlers;
    }
    if (!opts->foreground && mnt_daemon_detach() != 0) {
        mnt_unmount(se, w);
        goto remove_handlers;
    }
    mnt_log(LOG_INFO, "mounted %s at %s", cfg->store, opts->mountpoint);

    int rc = mnt_serve(se, st, cfg, opts);
    mnt_unmount(se, w);
    if (rc < 0)
        mnt_log(LOG_ERR, "request loop failed: %s", strerror(-rc));
    else
        code = 0;
    mnt_log(LOG_INFO, "unmounted %s", opts->mountpoint);

remove_handlers:
    mnt_uring_free(st->uring);    /* the loop is over: ring memory unused */
    st->uring = NULL;
    fuse_remove_signal_handlers(se);
close_store:
    mnt_tools_shutdown();
    mnt_views_free(st);
    if (fs_close(st->fs) != 0) {
        mnt_log(LOG_ERR, "closing the store: %s", fs_last_error());
        code = 1;
    }
    st->fs = NULL;
    return code;
}

/* mnt_run_store, watched with -o auto_unmount; returns the exit code.
 * Runs in the process that will serve the mount. */
static int mnt_run(struct fuse_session *se, const struct mnt_config *cfg,
                   const struct fuse_cmdline_opts *opts, struct mnt_state *st)
{
    struct mnt_watch w = { .fd = -1, .pid = -1 };
    if (cfg->auto_unmount &&
        mnt_watch_start(&w, opts->mountpoint, opts->foreground, mnt_argc,
                        mnt_argv) != 0)
        return 1;
    int code = mnt_run_store(se, cfg, opts, st, &w);
    mnt_watch_end(&w);
    return code;
}

int main(int argc, char *argv[])
{
    mnt_argc = argc;
    mnt_argv = argv;
    /* `lsmfs COMMAND ...` (fsck, backup, stats...; cli.c) is a tool, not a
     * mount (a store that is really named like one mounts as ./NAME). */
    int cmd_code;
    if (cli_dispatch(argc, argv, &cmd_code))
        return cmd_code;

    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts opts;
    struct fuse_conn_info_opts *conn_opts = NULL;
    struct fuse_session *se = NULL;
    struct mnt_config cfg;
    struct mnt_state st;
    int code = 1;

    memset(&opts, 0, sizeof opts);
    fuse_set_log_func(mnt_fuse_log);
    if (mnt_parse_args(&args, &cfg) != 0)
        goto out;
    if (cfg.show_help) {
        mnt_print_help(argv[0]);
        code = 0;
        goto out;
    }
    if (cfg.show_version) {
        mnt_print_version();
        code = 0;
        goto out;
    }
    if (cfg.remount) {
        code = mnt_remount(&args, &cfg);
        goto out;
    }
    conn_opts = fuse_parse_conn_info_opts(&args);
    if (conn_opts == NULL)
        goto out;
    if (fuse_parse_cmdline(&args, &opts) != 0)
        goto out;
    if (cfg.store == NULL || opts.mountpoint == NULL) {
        fprintf(stderr, "lsmfs: missing %s (usage: lsmfs [options] STORE "
                "MOUNTPOINT; lsmfs --help)\n",
                cfg.store == NULL ? "STORE and MOUNTPOINT" : "MOUNTPOINT");
        code = 2;
        goto out;
    }
    mnt_set_log_level(cfg.log_level, opts.debug);
    if (mnt_check_mountpoint(opts.mountpoint) != 0 ||
        mnt_check_store_path(cfg.store, opts.mountpoint) != 0 ||
        mnt_add_mount_opts(&args, &cfg) != 0)
        goto out;

    mnt_state_init(&st, &cfg, &opts, conn_opts);
    st.mountpoint = opts.mountpoint;
    se = fuse_session_new(&args, &mnt_ops, sizeof mnt_ops, &st);
    if (se == NULL)
        goto out;                 /* e.g. unknown option; libfuse said so */
    if (!opts.foreground && mnt_daemon_fork() != 0)
        goto out;
    code = mnt_run(se, &cfg, &opts, &st);

out:
    if (se != NULL)
        fuse_session_destroy(se);
    free(opts.mountpoint);
    free(conn_opts);
    fuse_opt_free_args(&args);
    mnt_config_free(&cfg);
    return code;
}
