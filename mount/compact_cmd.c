/*
 * compact_cmd.c — `lsmfs compact STORE`: lsm_compact on an unmounted
 * store, with a progress bar on a terminal.
 *
 * lsm_compact pushes every level into the deepest one; the bar follows
 * the compaction bytes read against an estimate of what that reads
 * (pushing level l reads the data of levels 0..l plus level l+1 as it
 * stands), so it is approximate and held below 100% until the end.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char compact_usage[] =
    "usage: lsmfs compact STORE\n"
    "Compacts an unmounted store fully: every level is merged into the\n"
    "deepest, dropping overwritten and deleted data (useful before a backup\n"
    "or after deleting much).  Progress bar on a terminal.\n"
    "Exit status: 0, 8 cannot open or compaction failed, 16 usage.\n";

struct compact_job {
    lsm_db *db;
    int rc;
    int done;
    char error[512];             /* the thread's lsm_last_error */
    pthread_mutex_t mu;
};

static void *compact_thread(void *arg)
{
    struct compact_job *j = arg;
    int rc = lsm_compact(j->db);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    if (rc != LSM_OK)
        snprintf(j->error, sizeof j->error, "%s", lsm_last_error());
    j->done = 1;
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static uint64_t estimate(const lsm_stats *s)
{
    int deepest = 1;
    for (int l = 1; l < LSM_STATS_LEVELS; l++)
        if (s->level_files[l])
            deepest = l;
    uint64_t total = 0, above = s->memtable_bytes;
    for (int l = 0; l < deepest; l++) {
        above += s->level_bytes[l];
        total += above + s->level_bytes[l + 1];
    }
    return total;
}

static uint64_t disk_total(const lsm_stats *s, uint64_t *files)
{
    uint64_t b = 0;
    *files = 0;
    for (int l = 0; l < LSM_STATS_LEVELS; l++) {
        b += s->level_bytes[l];
        *files += s->level_files[l];
    }
    return b;
}

int cli_compact_main(int argc, char *argv[])
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return cli_usage(compact_usage, 1, "compact", NULL);
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage(compact_usage, 0, "compact", "wrong arguments");
    struct compact_job j = { .mu = PTHREAD_MUTEX_INITIALIZER };
    if (cli_open_store("compact", argv[1], 0, &j.db) != 0)
        return CLI_EXIT_ERROR;
    lsm_stats s0, s;
    lsm_get_stats(j.db, &s0);
    uint64_t total = estimate(&s0);
    struct cli_progress bar;
    cli_progress_init(&bar, "compact");
    pthread_t t;
    if (pthread_create(&t, NULL, compact_thread, &j) != 0) {
        cli_error("compact", "cannot start a thread");
        lsm_close(j.db);
        return CLI_EXIT_ERROR;
    }
    for (;;) {                 /* the bar is drawn at least once */
        lsm_get_stats(j.db, &s);
        uint64_t read = s.compaction_bytes_read - s0.compaction_bytes_read;
        if (total > 0 && read >= total)
            read = total - 1;
        cli_progress(&bar, "compact", read, total);
        pthread_mutex_lock(&j.mu);
        int done = j.done;
        pthread_mutex_unlock(&j.mu);
        if (done)
            break;
        struct timespec pause = { 0, 100 * 1000000L };
        nanosleep(&pause, NULL);
    }
    pthread_join(t, NULL);
    cli_progress_clear(&bar);
    int code = CLI_EXIT_OK;
    if (j.rc != LSM_OK) {
        cli_error("compact", "%s: %s", argv[1], j.error);
        code = CLI_EXIT_ERROR;
    } else {
        lsm_get_stats(j.db, &s);
        uint64_t f0, f1;
        char b0[32], b1[32];
        uint64_t before = disk_total(&s0, &f0), after = disk_total(&s, &f1);
        printf("%s: compacted: %llu tables (%s) -> %llu tables (%s)\n", argv[1],
               (unsigned long long)f0, cli_bytes(before, b0, sizeof b0),
               (unsigned long long)f1, cli_bytes(after, b1, sizeof b1));
    }
    int rc = lsm_close(j.db);
    if (rc != LSM_OK && code == CLI_EXIT_OK) {
        cli_error("compact", "closing %s: %s", argv[1], lsm_last_error());
        code = CLI_EXIT_ERROR;
    }
    return code;
}
