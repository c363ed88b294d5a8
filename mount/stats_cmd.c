/*
 * stats_cmd.c — `lsmfs stats [--json] MOUNTPOINT|STORE`.
 *
 * MOUNTPOINT: the daemon's rendering, paged through MNT_IOC_STATS (open
 * to every user).  STORE (unmounted): opened read-only; the engine's
 * shape (levels, the memtable replayed from the WAL), the inode records
 * counted by a walk (walk.h), and none of the counters of a running
 * daemon (they start at zero).
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_tools.h"
#include "tools.h"
#include "walk.h"

static const char stats_usage[] =
    "usage: lsmfs stats [--json] MOUNTPOINT|STORE\n"
    "Prints what the store is doing: tables and bytes per level, memtables,\n"
    "pending compaction bytes, write amplification, stall time, block cache\n"
    "and bloom filter hit ratios, WAL bytes and syncs, snapshots (count and\n"
    "the bytes each alone holds, summed: one scan of the store), tables\n"
    "dropped and idle compactions, inodes, and (mounted) requests served\n"
    "per FUSE opcode with p50/p99 latency.  An unmounted\n"
    "STORE is opened read-only (counters of a running daemon are absent).\n"
    "  --json   one JSON object, for scripts\n"
    "Exit status: 0, 8 cannot open or not lsmfs, 16 usage.\n";

#define STATS_RETRIES 8

static int stats_mounted(const char *mp, int fd, int json)
{
    struct mnt_ctl_stats *s = malloc(sizeof *s);
    char *text = NULL;
    size_t len = 0;
    int rc = s ? 0 : ENOMEM;
    for (int tries = 0; rc == 0 && tries < STATS_RETRIES; tries++) {
        uint64_t gen = 0;
        len = 0;
        for (;;) {
            memset(s, 0, offsetof(struct mnt_ctl_stats, data));
            s->format = json ? MNT_STATS_JSON : MNT_STATS_TEXT;
            s->gen = gen;
            s->offset = len;
            if (ioctl(fd, MNT_IOC_STATS, s) != 0) {
                rc = errno;
                break;
            }
            gen = s->gen;
            char *t = realloc(text, len + s->len + 1);
            if (!t) {
                rc = ENOMEM;
                break;
            }
            text = t;
            memcpy(text + len, s->data, s->len);
            len += s->len;
            if (len >= s->total || s->len == 0)
                break;
        }
        if (rc != EAGAIN)
            break;
        rc = 0;                  /* another client re-rendered: again */
    }
    free(s);
    if (rc == 0 && text)
        fwrite(text, 1, len, stdout);
    free(text);
    if (rc == 0)
        return CLI_EXIT_OK;
    cli_error("stats", rc == ENOTTY || rc == EINVAL || rc == ENOSYS
                           ? "%s is not served by an lsmfs daemon with "
                             "statistics (%s)" : "%s: %s",
              mp, strerror(rc));
    return CLI_EXIT_ERROR;
}

static int count_inode(void *ctx, const fs_record *r)
{
    if (r->ok)
        ++*(uint64_t *)ctx;
    return 0;
}

static int stats_store(const char *store, int json)
{
    lsm_db *db;
    if (cli_open_store("stats", store, 1, &db) != 0)
        return CLI_EXIT_ERROR;
    struct mnt_stats_view v;
    memset(&v, 0, sizeof v);
    lsm_get_stats(db, &v.lsm);
    char b = FS_KEY_INODE, e = FS_KEY_INODE + 1;
    int rc = fs_walk_range(db, &b, 1, &e, 1, count_inode, &v.inodes);
    v.have_inodes = rc == 0;
    if (rc != 0)
        cli_error("stats", "counting inodes: %s", lsm_last_error());
    if (mnt_stats_snapshots(db, &v) != LSM_OK)
        cli_error("stats", "space of the snapshots: %s", lsm_last_error());
    char *text = NULL;
    size_t len = 0;
    if (mnt_stats_render(&v, json, &text, &len) == 0)
        fwrite(text, 1, len, stdout);
    free(text);
    lsm_close(db);
    return CLI_EXIT_OK;
}

int cli_stats_main(int argc, char *argv[])
{
    int json = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return cli_usage(stats_usage, 1, "stats", NULL);
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return cli_usage(stats_usage, 0, "stats", "unknown option");
    }
    if (argc - i != 1)
        return cli_usage(stats_usage, 0, "stats", argc - i < 1
                         ? "missing MOUNTPOINT or STORE" : "too many arguments");
    char mp[PATH_MAX];
    int fd = -1;
    int m = cli_open_mount("stats", argv[i], mp, &fd);
    if (m < 0)
        return CLI_EXIT_ERROR;
    if (m == 0)
        return stats_store(argv[i], json);
    int code = stats_mounted(mp, fd, json);
    close(fd);
    return code;
}
