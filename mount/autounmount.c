/*
 * autounmount.c — -o auto_unmount: a watcher process that lazily
 * unmounts the daemon's mount when the daemon dies without unmounting it
 * (kill -9, a crash, the OOM killer).
 *
 * Why not libfuse's: with auto_unmount libfuse mounts through fusermount3,
 * which stays behind and, once its socket to the daemon closes, unmounts
 * only if open(MOUNTPOINT) fails with ENOTCONN.  A dying daemon closes
 * that socket before its /dev/fuse descriptor is released (which aborts
 * the connection); an open that reaches the kernel in between is queued
 * as a request, fails with ECONNABORTED when the connection is aborted,
 * and fusermount3 leaves the dead mount in place (traced: 1 kill -9 in
 * 10-20 on a busy machine).  So lsmfs takes the option (opts.c): libfuse
 * never sees it, and mounts as it does without it.
 *
 * Invariants:
 *  - The watcher is forked before the store is opened and before the
 *    mount, from a single-threaded daemon, and closes every descriptor
 *    but its end of the socket: it holds no /dev/fuse descriptor and no
 *    file or lock of the store, so the daemon's death still ends the
 *    connection and frees the store for the next mount.
 *  - Only the daemon holds the other end of the socket (SOCK_CLOEXEC;
 *    the daemon forks only programs it executes), so end of file on it
 *    means the daemon has exited.
 *  - Only the daemon's /dev/fuse descriptor serves the mount, so once it
 *    has exited the mount is dead even if the kernel has not yet aborted
 *    the connection: the watcher unmounts it at once, without a request
 *    to the file system (statx with AT_STATX_DONT_SYNC, open with
 *    O_PATH), so there is nothing to wait for and nothing to misread.
 *  - It unmounts only the mount it recorded when the daemon said
 *    "mounted": the same unique mount ID (STATX_MNT_ID_UNIQUE, never
 *    reused; before Linux 6.8 the mount ID and device number, which a
 *    later mount can reuse only once this one is gone), compared on an
 *    O_PATH descriptor of the mount point, and that descriptor is what
 *    is unmounted (umount2 of /proc/self/fd/N): a mount made at the same
 *    path since is never touched.  Without the privilege to unmount
 *    (not root) it runs `fusermount3 -u -z` on the path just checked.
 *  - The daemon says "unmounted" right after each of its own unmounts
 *    (and when it fails before mounting); the watcher then exits.
 * Left open: a daemon killed between the mount system call and its
 * "mounted" message (microseconds) leaves its mount.
 *
 * Cost: one sleeping process per auto_unmount mount (in place of
 * libfuse's fusermount3), its pages shared copy-on-write with the daemon
 * as it was before opening the store; a socket pair and two one-byte
 * messages per mount; nothing per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "mnt.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U    /* Linux 6.8 */
#endif

#define MNT_WATCH_MOUNTED 'M'
#define MNT_WATCH_UNMOUNTED 'U'

/* Which mount a path leads to. */
struct mnt_watch_id {
    uint64_t id;                /* unique mount ID, or the reusable one */
    uint32_t mask;              /* STATX_MNT_ID_UNIQUE or STATX_MNT_ID */
    uint32_t dev_major, dev_minor;
};

/* The mount of dirfd/path, without a request to it (a dead FUSE mount
 * answers statx from its cached attributes).  0 or -errno; out->mask is 0
 * when the kernel gives no mount ID (before Linux 5.8). */
static int mnt_watch_stat(int dirfd, const char *path, int flags,
                          struct mnt_watch_id *out)
{
    struct statx sx;
    if (statx(dirfd, path, flags | AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT,
              STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &sx) != 0)
        return -errno;
    out->mask = sx.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE);
    out->id = sx.stx_mnt_id;
    out->dev_major = sx.stx_dev_major;
    out->dev_minor = sx.stx_dev_minor;
    return 0;
}

static int mnt_watch_same(const struct mnt_watch_id *a,
                          const struct mnt_watch_id *b)
{
    return a->mask == b->mask && a->id == b->id &&
           a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* `fusermount3 -u -z -q -- path`: 0 if it exited 0, else -1. */
static int mnt_watch_fusermount(const char *path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", path,
               (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The daemon has exited: lazily unmount path if the recorded mount is
 * still the one there. */
static void mnt_watch_unmount(const char *path, const struct mnt_watch_id *rec,
                              long daemon)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return;                         /* the mount point is gone too */
    struct mnt_watch_id now;
    int rc = mnt_watch_stat(fd, "", AT_EMPTY_PATH, &now);
    if (rc != 0 || !mnt_watch_same(&now, rec)) {
        if (rc != 0)
            mnt_log(LOG_ERR, "auto_unmount: %s: %s", path, strerror(-rc));
        close(fd);
        return;                         /* else unmounted already */
    }
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    rc = umount2(self, MNT_DETACH);
    if (rc != 0 && errno == EPERM)
        rc = mnt_watch_fusermount(path);
    else if (rc != 0 && errno == ENOENT)        /* no /proc */
        rc = umount2(path, MNT_DETACH);
    close(fd);
    if (rc == 0)
        mnt_log(LOG_WARNING, "the daemon (pid %ld) died: unmounted %s",
                daemon, path);
    else
        mnt_log(LOG_ERR, "the daemon (pid %ld) died: cannot unmount %s",
                daemon, path);
}

/* ps and pgrep -f show the watcher for what it is, not as a second
 * daemon of the store: its copy of the command line (argv's strings lie
 * end to end) is overwritten, its name set. */
static void mnt_watch_title(int argc, char **argv, long daemon)
{
    if (argc < 1)
        return;
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t room = (size_t)(end - argv[0]);
    memset(argv[0], 0, room);
    snprintf(argv[0], room + 1, "lsmfs: auto_unmount of pid %ld", daemon);
    prctl(PR_SET_NAME, "lsmfs-unmount", 0, 0, 0);
}

/* The watcher's life; never returns. */
static void mnt_watch_run(int sock, const char *path, long daemon)
{
    struct mnt_watch_id rec;
    int mounted = 0;
    for (;;) {
        char c;
        ssize_t n = recv(sock, &c, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 1 && c == MNT_WATCH_MOUNTED) {
            int rc = mnt_watch_stat(AT_FDCWD, path, 0, &rec);
            mounted = rc == 0 && rec.mask != 0;
            if (rc == 0 && rec.mask == 0)
                mnt_log(LOG_ERR, "auto_unmount: this kernel's statx gives "
                        "no mount ID (Linux before 5.8): the mount at %s is "
                        "left in place if the daemon dies", path);
            else if (rc != 0)
                mnt_log(LOG_ERR, "auto_unmount: cannot identify the mount "
                        "at %s: %s", path, strerror(-rc));
            continue;
        }
        if (n == 0 && mounted)
            mnt_watch_unmount(path, &rec, daemon);
        _exit(0);                       /* unmounted by the daemon, or died */
    }
}

/* In the new watcher: a session of its own (a signal to the daemon's
 * process group does not reach it), every signal blocked (as
 * fusermount3's), no descriptor but the socket and stderr (foreground
 * only; in the background it logs to syslog, as the detached daemon
 * will).  Returns the socket's descriptor, or -1. */
static int mnt_watch_detach(int sock, int foreground)
{
    if (sock <= STDERR_FILENO)          /* the daemon had stdio closed */
        sock = fcntl(sock, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (sock < 0)
        return -1;
    setsid();
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    if (chdir("/") != 0)
        return -1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return -1;
    if (!foreground)
        mnt_log_to_syslog();
    if (dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
        (!foreground && dup2(null, STDERR_FILENO) < 0))
        return -1;
    close(null);
    if (sock > STDERR_FILENO + 1)
        close_range(STDERR_FILENO + 1, (unsigned)sock - 1, 0);
    close_range((unsigned)sock + 1, ~0U, 0);
    return sock;
}

int mnt_watch_start(struct mnt_watch *w, const char *mountpoint,
                    int foreground, int argc, char **argv)
{
    char path[PATH_MAX];
    int sv[2];
    w->fd = -1;
    w->pid = -1;
    if (snprintf(path, sizeof path, "%s", mountpoint) >= (int)sizeof path) {
        mnt_log(LOG_ERR, "auto_unmount: %s", strerror(ENAMETOOLONG));
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mnt_log(LOG_ERR, "auto_unmount: %s", strerror(errno));
        return -1;
    }
    long daemon = (long)getpid();
    pid_t pid = mnt_fork(sv);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(sv[0]);
        int sock = mnt_watch_detach(sv[1], foreground);
        if (sock < 0)
            _exit(1);
        mnt_watch_title(argc, argv, daemon);
        mnt_watch_run(sock, path, daemon);
    }
    close(sv[1]);
    w->fd = sv[0];
    w->pid = pid;
    return 0;
}

static void mnt_watch_say(struct mnt_watch *w, char c)
{
    if (w->fd < 0)
        return;
    ssize_t n;
    do {
        n = send(w->fd, &c, 1, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
}

void mnt_watch_mounted(struct mnt_watch *w)
{
    mnt_watch_say(w, MNT_WATCH_MOUNTED);
}

void mnt_watch_end(struct mnt_watch *w)
{
    if (w->fd < 0)
        return;
    mnt_watch_say(w, MNT_WATCH_UNMOUNTED);
    close(w->fd);
    w->fd = -1;
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    w->pid = -1;
}
