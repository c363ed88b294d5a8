/*
 * cli.h — `lsmfs COMMAND ...`: the table of subcommands and what they
 * share: exit codes, error lines, progress display, finding a mount or
 * opening a store.
 *
 * Exit codes, e2fsck's where they fit (every command):
 *   0  success (fsck: clean)
 *   1  problems found and all fixed (fsck --repair)
 *   4  problems found and left (fsck; inspect: a damaged table or store)
 *   8  operational error: cannot open, in use, not an lsmfs store or
 *      mount, permission denied, I/O failure
 *  16  usage error
 * Errors are one line on stderr, "lsmfs COMMAND: what: why".  Progress
 * goes to stderr: a bar redrawn in place on a terminal, nothing otherwise
 * (fsck also prints one line per phase there).
 */
#ifndef MNT_CLI_H
#define MNT_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "lsm.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FIXED 1
#define CLI_EXIT_PROBLEMS 4
#define CLI_EXIT_ERROR 8
#define CLI_EXIT_USAGE 16

/* If argv[1] names a subcommand, runs it with argv[0] = its name, sets
 * *code and returns 1; else returns 0 (a mount). */
int cli_dispatch(int argc, char *argv[], int *code);
/* One "       PROG COMMAND ARGS" line per subcommand (lsmfs --help). */
void cli_print_usage_lines(const char *prog);

/* The subcommands (argv[0] is the command's name). */
int lsmfs_fsck_main(int argc, char *argv[]);
int cli_snapshot_main(int argc, char *argv[]);
int cli_backup_main(int argc, char *argv[]);
int cli_stats_main(int argc, char *argv[]);
int cli_inspect_main(int argc, char *argv[]);
int cli_compact_main(int argc, char *argv[]);

/* "lsmfs CMD: ..." and a newline on stderr (a bar shown is cleared). */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Common --help / bad usage handling: prints usage to stdout (help) or
 * the message and usage to stderr; returns the exit code. */
int cli_usage(const char *usage, int help, const char *cmd, const char *msg);

struct cli_progress {
    const char *cmd;
    int tty;                    /* stderr is a terminal: draw a bar */
    int phase_lines;            /* not a terminal: a line per phase */
    int shown;                  /* a bar is on the current line */
    int last_pct;
    const char *phase;
};
void cli_progress_init(struct cli_progress *p, const char *cmd);
/* done of total (total 0: unknown, a count is shown). */
void cli_progress(struct cli_progress *p, const char *phase, uint64_t done,
                  uint64_t total);
/* Erases the bar (before other output, and at the end). */
void cli_progress_clear(struct cli_progress *p);

/* MOUNTPOINT: 1 if path (resolved into mp, PATH_MAX) is the root of a
 * FUSE mount, with its root directory open in *fd; 0 if it is not a
 * mount (maybe a store); -1 after an error line. */
int cli_open_mount(const char *cmd, const char *path, char *mp, int *fd);
/* Opens a store with default options (read_only as asked); 0, or the
 * lsm_status after an error line (a mounted store is named as such). */
int cli_open_store(const char *cmd, const char *dir, int read_only,
                   lsm_db **out);
/* Formats bytes for people ("12.3 MiB"). */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

#endif
