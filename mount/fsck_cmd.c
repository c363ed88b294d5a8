/*
 * fsck_cmd.c — `lsmfs fsck [--repair] STORE`: the command line around
 * fs_fsck (fs/fsck.h).
 *
 * Problems, fixes and notes go to stdout, one line each, then a summary.
 * Progress goes to stderr: a bar redrawn in place when stderr is a
 * terminal, otherwise one plain line as each phase starts.  The exit code
 * is e2fsck's: 0 clean, 1 errors fixed, 4 errors left, 8 operational
 * error, 16 usage error.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fsck.h"

#define FSCK_EXIT_USAGE CLI_EXIT_USAGE

struct cli {
    struct cli_progress bar;  /* cli.h: a bar on a terminal, else phase lines */
    int quiet;                /* no notes (FSCK_INFO) */
};

static void on_line(void *ctx, enum fsck_line kind, const char *text)
{
    struct cli *c = ctx;
    if (kind == FSCK_INFO && c->quiet)
        return;
    cli_progress_clear(&c->bar);
    const char *tag = kind == FSCK_FIXED ? "fixed: "
                      : kind == FSCK_PROBLEM ? "problem: " : "note: ";
    printf("%s%s\n", tag, text);
    fflush(stdout);
}

static void on_progress(void *ctx, const char *phase, uint64_t done,
                        uint64_t total)
{
    struct cli *c = ctx;
    cli_progress(&c->bar, phase, done, total);
}

static void usage(FILE *f)
{
    fputs("usage: lsmfs fsck [-y|--repair] [-q] STORE\n"
          "Checks an unmounted lsmfs store: the engine's tables, manifest and\n"
          "log, and the namespace (entries, link counts, sizes, orphans).\n"
          "  -y, --repair  fix what can be fixed (opens the store read-write;\n"
          "                damaged tables are rewritten without their unreadable\n"
          "                blocks, whose keys are lost)\n"
          "  -n            check only (the default)\n"
          "  -q, --quiet   no notes, only problems, fixes and the summary\n"
          "Exit status: 0 clean, 1 errors fixed, 4 errors left uncorrected,\n"
          "8 operational error (cannot open, in use, not a store), 16 usage.\n",
          f);
}

/* argv[0] is "fsck". */
int lsmfs_fsck_main(int argc, char *argv[])
{
    static const struct option longopts[] = {
        { "repair", no_argument, NULL, 'y' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cli c;
    memset(&c, 0, sizeof c);
    cli_progress_init(&c.bar, "fsck");
    c.bar.phase_lines = 1;
    int repair = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ynqh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'y': repair = 1; break;
        case 'n': repair = 0; break;
        case 'q': c.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return FSCK_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "lsmfs fsck: %s\n", optind >= argc ? "missing STORE"
                                                          : "too many arguments");
        usage(stderr);
        return FSCK_EXIT_USAGE;
    }
    const char *store = argv[optind];

    fsck_options o;
    fsck_options_init(&o);
    o.flags = repair ? FSCK_REPAIR : 0;
    o.line = on_line;
    o.progress = on_progress;
    o.ctx = &c;
    fsck_result r;
    int code = fs_fsck(store, &o, &r);
    cli_progress_clear(&c.bar);
    if (code == FSCK_EXIT_ERROR) {
        fprintf(stderr, "lsmfs fsck: %s\n", r.error);
        return code;
    }
    printf("%s: %llu inodes (%llu directories), %llu entries, %llu data blocks, "
           "%llu xattrs; %llu keys read\n", store,
           (unsigned long long)r.inodes, (unsigned long long)r.directories,
           (unsigned long long)r.entries, (unsigned long long)r.blocks,
           (unsigned long long)r.xattrs, (unsigned long long)r.keys);
    if (code == FSCK_EXIT_CLEAN)
        printf("%s: clean\n", store);
    else if (code == FSCK_EXIT_FIXED)
        printf("%s: %llu problem(s), all fixed\n", store,
               (unsigned long long)r.problems);
    else
        printf("%s: %llu problem(s), %llu fixed, %llu left%s\n", store,
               (unsigned long long)r.problems, (unsigned long long)r.fixed,
               (unsigned long long)(r.problems - r.fixed),
               repair ? "" : " (run with --repair to fix)");
    return code;
}
