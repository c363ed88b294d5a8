/*
 * snap_cmd.c — `lsmfs snapshot create|list|delete MOUNTPOINT [NAME]`, one
 * entry of cli.c's table: talks to the daemon serving MOUNTPOINT through
 * the control ioctls on its root directory (ctl_snap.h).
 *
 * Every failure is one line on stderr naming the mountpoint; exit codes
 * are cli.h's: 0 done, 8 the operation failed (wrong mountpoint, not
 * lsmfs, unknown or duplicate name, permission), 16 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_snap.h"
#include "mnt.h"

static const char usage_text[] =
    "usage: lsmfs snapshot create MOUNTPOINT NAME\n"
    "       lsmfs snapshot list [--no-space] MOUNTPOINT\n"
    "       lsmfs snapshot delete MOUNTPOINT NAME\n"
    "\n"
    "Named snapshots of a mounted lsmfs filesystem, kept in its store:\n"
    "  create   freezes the whole tree as NAME (no copy: O(1) in its size);\n"
    "           it is then browsable read-only at MOUNTPOINT/.snapshots/NAME\n"
    "           (the directory name is the mount's -o snapdir option)\n"
    "  list     each snapshot's name, creation time and the bytes it alone\n"
    "           holds (keys and values only it sees, before compression:\n"
    "           what deleting it frees); --no-space skips that store scan\n"
    "  delete   removes NAME; the daemon then compacts the store so the\n"
    "           space NAME alone held comes back\n"
    "Names: 1-255 bytes, no '/', not '.' or '..'.  create and delete need\n"
    "root or the mount's owner.  Roll back the tree with\n"
    "  rsync -aHX --delete --exclude=/.snapshots MOUNTPOINT/.snapshots/NAME/ MOUNTPOINT/\n"
    "Exit: 0 done, 8 failed, 16 usage error.\n";

/* Opens the root of the lsmfs mount at `given` (resolved into mp): an
 * fd, or -1 reported. */
static int open_mount(const char *given, char *mp)
{
    int fd = -1;
    int m = cli_open_mount("snapshot", given, mp, &fd);
    if (m == 0)
        cli_error("snapshot", "%s is not the mountpoint of an lsmfs filesystem", mp);
    return m == 1 ? fd : -1;
}

/* One line for a failed ioctl; the exit code. */
static int failed(const char *mp, const char *what, const char *name, int err)
{
    const char *why;
    switch (err) {
    case ENOTTY:
    case ENOSYS:
        cli_error("snapshot", "%s is not served by an lsmfs daemon with snapshots", mp);
        return CLI_EXIT_ERROR;
    case EEXIST: why = "a snapshot of that name exists"; break;
    case ENOENT: why = "no snapshot of that name"; break;
    case EPERM: why = "only root or the mount's owner may"; break;
    case EINVAL: why = "bad name (1-255 bytes, no '/', not '.' or '..')"; break;
    case EROFS: why = "the filesystem is mounted read-only"; break;
    default: why = strerror(err);
    }
    if (name)
        cli_error("snapshot", "%s %s: %s: %s", what, name, mp, why);
    else
        cli_error("snapshot", "%s: %s: %s", what, mp, why);
    return CLI_EXIT_ERROR;
}

static int do_change(const char *given, const char *name, int create)
{
    const char *what = create ? "create" : "delete";
    if (!lsm_snapshot_name_ok(name))
        return failed(given, what, name, EINVAL);
    struct mnt_snap_name n;
    memset(&n, 0, sizeof n);
    memcpy(n.name, name, strlen(name));
    char mp[PATH_MAX];
    int fd = open_mount(given, mp);
    if (fd < 0)
        return CLI_EXIT_ERROR;
    /* What the kernel still caches (writeback) goes to the daemon first,
     * so the snapshot holds every write made before the command. */
    if (create)
        syncfs(fd);
    int rc = ioctl(fd, create ? MNT_IOC_SNAP_CREATE : MNT_IOC_SNAP_DELETE, &n);
    int err = errno;
    close(fd);
    return rc == 0 ? CLI_EXIT_OK : failed(mp, what, name, err);
}

static int do_list(const char *given, int space)
{
    char mp[PATH_MAX];
    int fd = open_mount(given, mp);
    if (fd < 0)
        return CLI_EXIT_ERROR;
    struct mnt_snap_page p;
    memset(&p, 0, sizeof p);
    p.flags = space ? MNT_SNAP_SPACE : 0;
    int code = 0, header = 0;
    do {
        if (ioctl(fd, MNT_IOC_SNAP_LIST, &p) != 0) {
            code = failed(mp, "list", NULL, errno);
            break;
        }
        if (!header) {
            printf(space ? "%-24s %-20s %s\n" : "%-24s %s\n", "NAME", "CREATED",
                   "EXCLUSIVE");
            header = 1;
        }
        for (uint32_t i = 0; i < p.count && i < MNT_SNAP_PAGE; i++) {
            char when[32], size[32];
            time_t t = (time_t)p.e[i].ctime;
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
            p.e[i].name[LSM_SNAPSHOT_NAME_MAX] = 0;
            cli_bytes(p.e[i].exclusive, size, sizeof size);
            if (space)
                printf("%-24s %-20s %s\n", p.e[i].name, when, size);
            else
                printf("%-24s %s\n", p.e[i].name, when);
        }
    } while (p.count > 0 && p.cursor < p.total);
    close(fd);
    return code;
}

int cli_snapshot_main(int argc, char *argv[])
{
    int space = 1;
    const char *args[3];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return cli_usage(usage_text, 1, "snapshot", NULL);
        if (strcmp(argv[i], "--no-space") == 0)
            space = 0;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_usage(usage_text, 0, "snapshot", "unknown option");
        else if (nargs < 3)
            args[nargs++] = argv[i];
        else
            return cli_usage(usage_text, 0, "snapshot", "too many arguments");
    }
    const char *cmd = nargs > 0 ? args[0] : "";
    if ((strcmp(cmd, "create") == 0 || strcmp(cmd, "delete") == 0) && nargs == 3)
        return do_change(args[1], args[2], cmd[0] == 'c');
    if (strcmp(cmd, "list") == 0 && nargs == 2)
        return do_list(args[1], space);
    return cli_usage(usage_text, 0, "snapshot", nargs ? "bad arguments" : NULL);
}
