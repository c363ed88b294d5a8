/*
 * backup_cmd.c — `lsmfs backup MOUNTPOINT|STORE DEST`: a consistent copy
 * of the store as it was when the command started (lsm_checkpoint_*).
 *
 * MOUNTPOINT: the CLI first syncs the mount (syncfs: data still in the
 * kernel's page cache reaches the daemon), then asks the daemon to start
 * (MNT_IOC_BACKUP_START: the point in time is fixed before that ioctl
 * returns) and follows its progress (MNT_IOC_BACKUP_STATUS, polled ten
 * times a second).  The daemon writes DEST with its own rights.  Killing
 * the CLI does not stop a backup under way; a later one waits for it to
 * end (EBUSY until then).  STORE (unmounted): the store is opened
 * read-only and copied here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_tools.h"
#include "mnt.h"

static const char backup_usage[] =
    "usage: lsmfs backup [-q] MOUNTPOINT|STORE DEST\n"
    "Writes a consistent copy of the store as it is when the command starts\n"
    "into DEST (which must not exist, or be an empty directory).  DEST is a\n"
    "store: it mounts and passes fsck.  Tables are hard-linked when DEST is on\n"
    "the store's filesystem, else copied (progress bar on a terminal).\n"
    "MOUNTPOINT: the running daemon makes the copy (root or the mount's owner\n"
    "only).  STORE: an unmounted store, opened read-only.\n"
    "  -q, --quiet   no summary line\n"
    "Exit status: 0 done, 8 failed (nothing valid is left in DEST), 16 usage.\n";

/* DEST as an absolute path (its parent must exist): 0, or -1 reported. */
static int resolve_dest(const char *dest, char *out)
{
    char tmp[PATH_MAX];
    if (realpath(dest, out) != NULL)
        return 0;
    if (errno != ENOENT || strlen(dest) >= sizeof tmp)
        goto fail;
    snprintf(tmp, sizeof tmp, "%s", dest);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    char *slash = strrchr(tmp, '/');
    const char *base = slash ? slash + 1 : tmp;
    char parent[PATH_MAX];
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == tmp)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - tmp), tmp);
    if (realpath(parent, out) == NULL)
        goto fail;
    if (strlen(out) + strlen(base) + 2 > PATH_MAX) {
        errno = ENAMETOOLONG;
        goto fail;
    }
    if (strcmp(out, "/") != 0)
        strcat(out, "/");
    strcat(out, base);
    return 0;
fail:
    cli_error("backup", "%s: %s", dest, strerror(errno));
    return -1;
}

static int inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 &&
           (path[n] == '\0' || path[n] == '/' || strcmp(dir, "/") == 0);
}

static void summary(int quiet, const char *what, const char *dest,
                    uint64_t seq, uint64_t tables, uint64_t linked,
                    uint64_t bytes, uint64_t copied)
{
    if (quiet)
        return;
    char b1[32], b2[32];
    printf("%s: backed up at sequence %llu into %s: %llu tables (%s), "
           "%llu hard-linked, %s written\n", what, (unsigned long long)seq,
           dest, (unsigned long long)tables, cli_bytes(bytes, b1, sizeof b1),
           (unsigned long long)linked, cli_bytes(copied, b2, sizeof b2));
}

static int backup_mounted(const char *mp, int fd, const char *dest, int quiet)
{
    if (inside(dest, mp)) {
        cli_error("backup", "%s is inside the mount %s", dest, mp);
        return CLI_EXIT_ERROR;
    }
    if (syncfs(fd) != 0) {
        cli_error("backup", "syncing %s: %s", mp, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    struct mnt_ctl_backup *b = calloc(1, sizeof *b);
    if (!b) {
        cli_error("backup", "out of memory");
        return CLI_EXIT_ERROR;
    }
    snprintf(b->dest, sizeof b->dest, "%s", dest);
    int rc = ioctl(fd, MNT_IOC_BACKUP_START, b) == 0 ? 0 : errno;
    uint64_t id = b->id;
    free(b);
    if (rc == EPERM || rc == EACCES) {
        cli_error("backup", "%s: only root or the mount's owner may start a "
                  "backup", mp);
        return CLI_EXIT_ERROR;
    }
    if (rc == EBUSY) {
        cli_error("backup", "%s: another backup is running", mp);
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        cli_error("backup", "%s is not served by an lsmfs daemon that can "
                  "back up (%s)", mp, strerror(rc));
        return CLI_EXIT_ERROR;
    }
    struct cli_progress bar;
    cli_progress_init(&bar, "backup");
    struct mnt_ctl_backup_status st;
    for (;;) {
        if (ioctl(fd, MNT_IOC_BACKUP_STATUS, &st) != 0) {
            cli_error("backup", "%s: lost the daemon: %s", mp, strerror(errno));
            return CLI_EXIT_ERROR;
        }
        if (st.id == id)       /* drawn at least once, the end included */
            cli_progress(&bar, "backup", st.done, st.total);
        if (st.id != id || st.state != MNT_BACKUP_RUNNING)
            break;
        struct timespec pause = { 0, 100 * 1000000L };
        nanosleep(&pause, NULL);
    }
    cli_progress_clear(&bar);
    if (st.id != id || st.state != MNT_BACKUP_DONE) {
        cli_error("backup", "%s", st.id != id ? "the daemon lost track of the "
                  "backup" : st.error);
        return CLI_EXIT_ERROR;
    }
    summary(quiet, mp, dest, st.seq, st.tables, st.linked, st.bytes, st.copied);
    return CLI_EXIT_OK;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    cli_progress(ctx, "backup", done, total);
}

static int backup_store(const char *store, const char *dest, int quiet)
{
    char sp[PATH_MAX];
    if (realpath(store, sp) == NULL) {
        cli_error("backup", "%s: %s", store, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    if (inside(dest, sp)) {
        cli_error("backup", "%s is inside the store %s", dest, sp);
        return CLI_EXIT_ERROR;
    }
    lsm_db *db;
    if (cli_open_store("backup", store, 1, &db) != 0)
        return CLI_EXIT_ERROR;
    lsm_checkpoint *cp;
    int rc = lsm_checkpoint_begin(db, &cp);
    struct cli_progress bar;
    cli_progress_init(&bar, "backup");
    lsm_checkpoint_result r;
    if (rc == LSM_OK) {
        rc = lsm_checkpoint_write(cp, dest, on_progress, &bar, &r);
        lsm_checkpoint_end(cp);
    }
    cli_progress_clear(&bar);
    if (rc != LSM_OK)
        cli_error("backup", "%s", lsm_last_error());
    lsm_close(db);
    if (rc != LSM_OK)
        return CLI_EXIT_ERROR;
    summary(quiet, store, dest, r.seq, r.tables, r.linked, r.bytes,
            r.copied_bytes);
    return CLI_EXIT_OK;
}

int cli_backup_main(int argc, char *argv[])
{
    int quiet = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return cli_usage(backup_usage, 1, "backup", NULL);
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = 1;
        else
            return cli_usage(backup_usage, 0, "backup", "unknown option");
    }
    if (argc - i != 2)
        return cli_usage(backup_usage, 0, "backup",
                         argc - i < 2 ? "missing arguments" : "too many arguments");
    char dest[PATH_MAX], mp[PATH_MAX];
    if (resolve_dest(argv[i + 1], dest) != 0)
        return CLI_EXIT_ERROR;
    int fd = -1;
    int m = cli_open_mount("backup", argv[i], mp, &fd);
    if (m < 0)
        return CLI_EXIT_ERROR;
    if (m == 0)
        return backup_store(argv[i], dest, quiet);
    int code = backup_mounted(mp, fd, dest, quiet);
    close(fd);
    return code;
}
