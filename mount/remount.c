/*
 * remount.c — `lsmfs -o remount,ro|rw[,...] [STORE] MOUNTPOINT`.
 *
 * mount(8) does not remount a FUSE filesystem itself: for
 * `mount -o remount,ro MOUNTPOINT` it runs the type's helper (mount.fuse3),
 * which runs `lsmfs STORE MOUNTPOINT -o OPTIONS`, OPTIONS being the
 * mount's current options with "remount" and the requested ones.  This
 * process, not the daemon serving the mount, then:
 *   - checks that MOUNTPOINT is a FUSE mount whose daemon is lsmfs (it
 *     answers MNT_IOC_GET_RO on the mount's root);
 *   - ro: remounts with mount(2) MS_REMOUNT|MS_RDONLY.  The kernel refuses
 *     that (EBUSY) while a file is open for writing or a deleted file is
 *     still open; otherwise FUSE's reconfigure writes every dirty page
 *     back through the daemon, and the VFS then fails every change with
 *     EROFS.  Then MNT_IOC_SET_RO 1 tells the daemon, which makes all
 *     written data durable, marks the store clean and refuses changes
 *     itself (fs_set_read_only), so a crash while read-only needs no
 *     recovery;
 *   - rw: tells the daemon first (so it never refuses a change the
 *     kernel lets through), then remounts without MS_RDONLY, telling the
 *     daemon "ro" again if that fails.
 * A remount replaces every per-mount flag (nosuid, nodev, noexec, the
 * atime ones): they start from the mount's current flags, changed by the
 * options given.  Other options (lsmfs's, libfuse's) cannot change on a
 * live mount and are ignored.  Remounting needs CAP_SYS_ADMIN (root):
 * fusermount3 cannot remount.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mnt.h"

struct mnt_flag_opt {
    const char *name;
    unsigned long set, clear;
};

/* Options that map to mount(2) flags on a remount. */
static const struct mnt_flag_opt mnt_flag_opts[] = {
    { "ro", MS_RDONLY, 0 },
    { "rw", 0, MS_RDONLY },
    { "nosuid", MS_NOSUID, 0 },
    { "suid", 0, MS_NOSUID },
    { "nodev", MS_NODEV, 0 },
    { "dev", 0, MS_NODEV },
    { "noexec", MS_NOEXEC, 0 },
    { "exec", 0, MS_NOEXEC },
    { "noatime", MS_NOATIME, MS_RELATIME | MS_STRICTATIME },
    { "atime", 0, MS_NOATIME },
    { "relatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME },
    { "norelatime", 0, MS_RELATIME },
    { "strictatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME },
    { "nodiratime", MS_NODIRATIME, 0 },
    { "diratime", 0, MS_NODIRATIME },
};

static const struct mnt_flag_opt *mnt_find_flag(const char *opt)
{
    for (size_t i = 0; i < sizeof mnt_flag_opts / sizeof mnt_flag_opts[0]; i++)
        if (strcmp(opt, mnt_flag_opts[i].name) == 0)
            return &mnt_flag_opts[i];
    return NULL;
}

static unsigned long mnt_apply_flag(const struct mnt_flag_opt *f,
                                    unsigned long flags)
{
    return (flags & ~f->clear) | f->set;
}

/* The flags of a mount's current per-mount options ("rw,nosuid,relatime"). */
static unsigned long mnt_current_flags(const char *opts)
{
    char buf[sizeof ((struct mnt_mount *)0)->opts];
    snprintf(buf, sizeof buf, "%s", opts);
    unsigned long flags = 0;
    char *save = NULL;
    for (char *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        const struct mnt_flag_opt *f = mnt_find_flag(o);
        if (f != NULL)
            flags = mnt_apply_flag(f, flags);
    }
    /* Neither noatime nor relatime shown: strictatime (mount(2) would
     * otherwise default to relatime). */
    if (!(flags & (MS_NOATIME | MS_RELATIME)))
        flags |= MS_STRICTATIME;
    return flags;
}

#define MNT_MAX_FLAG_OPTS 64

struct mnt_remount_args {
    const struct mnt_flag_opt *given[MNT_MAX_FLAG_OPTS];  /* in order */
    size_t ngiven;
    char *mountpoint;           /* malloc'ed: args are rebuilt while parsed */
};

/* fuse_opt_parse callback: flag options are collected in order, the
 * first positional left (after STORE) is the mountpoint, the rest is
 * ignored. */
static int mnt_remount_opt(void *data, const char *arg, int key,
                           struct fuse_args *outargs)
{
    (void)outargs;
    struct mnt_remount_args *ra = data;
    if (key == FUSE_OPT_KEY_NONOPT) {
        if (ra->mountpoint == NULL) {
            ra->mountpoint = strdup(arg);
            return ra->mountpoint != NULL ? 0 : -1;
        }
        fprintf(stderr, "lsmfs: unexpected argument '%s' (usage: lsmfs -o "
                "remount,ro|rw [STORE] MOUNTPOINT)\n", arg);
        return -1;
    }
    const struct mnt_flag_opt *f = arg[0] != '-' ? mnt_find_flag(arg) : NULL;
    if (f != NULL) {
        if (ra->ngiven == MNT_MAX_FLAG_OPTS) {
            fprintf(stderr, "lsmfs: too many mount flags\n");
            return -1;
        }
        ra->given[ra->ngiven++] = f;
    }
    return 0;
}

static int mnt_ioctl_ro(int fd, unsigned long cmd, uint32_t *v)
{
    return ioctl(fd, cmd, v) == 0 ? 0 : -errno;
}

static void mnt_remount_failed(const char *mp, int ro, int err)
{
    if (err == EBUSY && ro)
        fprintf(stderr, "lsmfs: cannot remount %s read-only: a file is open "
                "for writing, or a deleted file is still open\n", mp);
    else if (err == EPERM)
        fprintf(stderr, "lsmfs: cannot remount %s: only root can remount\n", mp);
    else
        fprintf(stderr, "lsmfs: cannot remount %s %s: %s\n", mp,
                ro ? "read-only" : "read-write", strerror(err));
}

/* The kernel's half: remounts mp with flags; 0, or 1 reported. */
static int mnt_remount_kernel(const char *mp, unsigned long flags, int ro)
{
    if (mount(NULL, mp, NULL, MS_REMOUNT | flags, NULL) == 0)
        return 0;
    mnt_remount_failed(mp, ro, errno);
    return 1;
}

/* The daemon's half: sets its store read-only or read-write through the
 * mount's root fd; 0, or 1 reported. */
static int mnt_remount_daemon(const char *mp, int fd, uint32_t ro)
{
    int rc = mnt_ioctl_ro(fd, MNT_IOC_SET_RO, &ro);
    if (rc == 0)
        return 0;
    fprintf(stderr, ro ? "lsmfs: %s is read-only now, but its daemon could "
                         "not make the store durable: %s\n"
                       : "lsmfs: cannot remount %s read-write: the daemon "
                         "refused: %s\n", mp, strerror(-rc));
    return 1;
}

/* Remounts mp (an lsmfs mount whose root is open as fd, its daemon
 * read-only if was_ro); 0 or 1.  The order of the two halves, and the
 * daemon set back to was_ro when the kernel refuses "rw": see the top. */
static int mnt_remount_fd(const char *mp, int fd, unsigned long flags,
                          uint32_t was_ro)
{
    if (flags & MS_RDONLY)
        return mnt_remount_kernel(mp, flags, 1) || mnt_remount_daemon(mp, fd, 1);
    if (mnt_remount_daemon(mp, fd, 0))
        return 1;
    if (mnt_remount_kernel(mp, flags, 0)) {
        mnt_ioctl_ro(fd, MNT_IOC_SET_RO, &was_ro);
        return 1;
    }
    return 0;
}

int mnt_remount(struct fuse_args *args, const struct mnt_config *cfg)
{
    struct mnt_remount_args ra;
    memset(&ra, 0, sizeof ra);
    if (fuse_opt_parse(args, &ra, NULL, mnt_remount_opt) != 0) {
        free(ra.mountpoint);
        return 2;
    }
    /* Without a STORE argument the only positional was taken as STORE. */
    const char *given = ra.mountpoint != NULL ? ra.mountpoint : cfg->store;
    if (given == NULL) {
        fprintf(stderr, "lsmfs: missing MOUNTPOINT (usage: lsmfs -o "
                "remount,ro|rw [STORE] MOUNTPOINT)\n");
        return 2;
    }
    char mp[PATH_MAX];
    int bad = realpath(given, mp) == NULL;
    if (bad)
        fprintf(stderr, "lsmfs: mountpoint %s: %s\n", given, strerror(errno));
    free(ra.mountpoint);
    if (bad)
        return 1;
    struct mnt_mount m;
    if (mnt_mount_at(mp, &m) != 1 || !mnt_is_fuse_type(m.fstype)) {
        fprintf(stderr, "lsmfs: cannot remount %s: not a FUSE mount\n", mp);
        return 1;
    }
    int fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "lsmfs: cannot remount %s: %s\n", mp, strerror(errno));
        return 1;
    }
    uint32_t was_ro;
    int rc = mnt_ioctl_ro(fd, MNT_IOC_GET_RO, &was_ro);
    int code;
    if (rc == -EPERM) {
        fprintf(stderr, "lsmfs: cannot remount %s: only root can remount\n", mp);
        code = 1;
    } else if (rc != 0) {
        fprintf(stderr, "lsmfs: cannot remount %s: not served by an lsmfs "
                "daemon that can remount (%s)\n", mp, strerror(-rc));
        code = 1;
    } else {
        /* The remount replaces the per-mount flags: the current ones,
         * changed by the options given, in order. */
        unsigned long flags = mnt_current_flags(m.opts);
        for (size_t i = 0; i < ra.ngiven; i++)
            flags = mnt_apply_flag(ra.given[i], flags);
        code = mnt_remount_fd(mp, fd, flags, was_ro);
    }
    close(fd);
    return code;
}
