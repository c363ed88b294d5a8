/*
 * cli.c — the subcommand table and the helpers every subcommand uses
 * (cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mnt.h"

struct cli_cmd {
    const char *name;
    int (*main)(int argc, char *argv[]);
    const char *args;           /* for lsmfs --help's usage lines */
};

/* One line per command. */
static const struct cli_cmd cli_cmds[] = {
    { "fsck", lsmfs_fsck_main, "[-y|--repair] [-q] STORE" },
    { "snapshot", cli_snapshot_main, "create|list|delete MOUNTPOINT [NAME]" },
    { "backup", cli_backup_main, "[-q] MOUNTPOINT|STORE DEST" },
    { "stats", cli_stats_main, "[--json] MOUNTPOINT|STORE" },
    { "inspect", cli_inspect_main, "STORE PATH | --table FILE | --manifest STORE" },
    { "compact", cli_compact_main, "STORE" },
};

void cli_print_usage_lines(const char *prog)
{
    for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        printf("       %s %s %s\n", prog, cli_cmds[i].name, cli_cmds[i].args);
    printf("       (%s COMMAND --help for each)\n", prog);
}

int cli_dispatch(int argc, char *argv[], int *code)
{
    if (argc < 2)
        return 0;
    for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        if (strcmp(argv[1], cli_cmds[i].name) == 0) {
            *code = cli_cmds[i].main(argc - 1, argv + 1);
            return 1;
        }
    return 0;
}

static struct cli_progress *cli_bar;   /* the bar on screen, if any */

void cli_error(const char *cmd, const char *fmt, ...)
{
    if (cli_bar)
        cli_progress_clear(cli_bar);
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lsmfs %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage(const char *usage, int help, const char *cmd, const char *msg)
{
    if (help) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (msg)
        cli_error(cmd, "%s", msg);
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
}

void cli_progress_init(struct cli_progress *p, const char *cmd)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->tty = isatty(STDERR_FILENO);
    p->last_pct = -1;
}

void cli_progress(struct cli_progress *p, const char *phase, uint64_t done,
                  uint64_t total)
{
    if (!p->tty) {
        if (p->phase_lines && phase && p->phase != phase)
            fprintf(stderr, "lsmfs %s: phase %s\n", p->cmd, phase);
        p->phase = phase;
        return;
    }
    int pct = -1;
    if (total > 0)
        pct = done >= total ? 100 : (int)(done * 100 / total);
    if (p->phase == phase && pct == p->last_pct && pct >= 0)
        return;
    p->phase = phase;
    p->last_pct = pct;
    char bar[41];
    int fill = pct < 0 ? 0 : pct * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = '\0';
    const char *label = phase ? phase : p->cmd;
    if (pct >= 0)
        fprintf(stderr, "\r\033[K%-9s [%s] %3d%%", label, bar, pct);
    else
        fprintf(stderr, "\r\033[K%-9s %llu", label, (unsigned long long)done);
    p->shown = 1;
    cli_bar = p;
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->shown) {
        fputs("\r\033[K", stderr);
        p->shown = 0;
        p->last_pct = -1;
    }
    if (cli_bar == p)
        cli_bar = NULL;
}

int cli_open_mount(const char *cmd, const char *path, char *mp, int *fd)
{
    if (realpath(path, mp) == NULL) {
        cli_error(cmd, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct mnt_mount m;
    int rc = mnt_mount_at(mp, &m);
    if (rc < 0) {
        cli_error(cmd, "cannot read the mount table: %s", strerror(-rc));
        return -1;
    }
    if (rc == 0)
        return 0;
    if (!mnt_is_fuse_type(m.fstype)) {
        cli_error(cmd, "%s is a %s mount, not lsmfs", mp, m.fstype);
        return -1;
    }
    *fd = open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        cli_error(cmd, "%s: %s", mp, strerror(errno));
        return -1;
    }
    return 1;
}

int cli_open_store(const char *cmd, const char *dir, int read_only,
                   lsm_db **out)
{
    lsm_options o;
    lsm_options_init(&o);
    o.read_only = read_only;
    o.create_if_missing = 0;
    o.cache_bytes = 8u << 20;
    int rc = lsm_open(dir, &o, out);
    if (rc == LSM_OK)
        return 0;
    if (rc == LSM_BUSY)
        cli_error(cmd, "%s is in use (mounted?): %s; give the mountpoint, or "
                  "unmount first", dir, lsm_last_error());
    else
        cli_error(cmd, "cannot open %s: %s", dir, lsm_last_error());
    return rc;
}

const char *cli_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}
