/*
 * fsck.h — offline consistency check (and repair) of an lsmfs store.
 *
 * fs_fsck opens the store itself, through the engine's lock, so it
 * refuses a store that is mounted.  A check opens it read-only (nothing
 * is written; the engine verifies the manifest and the WAL while
 * recovering) and then reads every key of the store once (every table
 * block it reads is checksum-verified).  On top of that it checks the
 * namespace the fs layer keeps (layout.h):
 *
 *   - every record decodes; no keys of unknown kinds;
 *   - every directory entry is in a live directory and points at a live
 *     inode of the entry's type; no entry points at the root and no
 *     directory has two entries; a directory's parent field names the
 *     directory holding its entry;
 *   - link counts: a non-directory's equals the entries pointing at it,
 *     a directory's is 2 + its subdirectories; a directory's size is its
 *     entry count; an inode's xattr count is its xattr records;
 *   - data blocks belong to block-based regular files and hold nothing
 *     at or past the file's size; alloc is the sum of the block lengths;
 *   - every inode other than the root is reachable from the root, except
 *     orphans (unlinked while open; reclaimed at the next mount); orphan
 *     keys name unlinked inodes; xattrs and blocks belong to live inodes;
 *   - the superblock's next-inode counter is above every inode number in
 *     use, and its inode count is exact when it says the store was
 *     closed cleanly.
 *
 * With FSCK_REPAIR the store is opened read-write (after a read-only
 * look at its superblock, so a store that is not lsmfs is never written)
 * and every problem that can be fixed is: dangling entries removed,
 * entry types corrected, link counts, sizes, xattr counts, alloc and
 * parent fields rewritten, data past the end of a file dropped,
 * unreachable inodes linked into /lost+found (made if missing) as
 * "#<ino>", orphans reclaimed, stray records removed, the counter raised.
 *
 * Damaged tables (a block that fails its checksum): a check that meets
 * one asks the engine for every unreadable block (lsm_verify_tables; this
 * reads every table once more), reports each with the key range it held,
 * and goes on past it, so the rest of the namespace is checked too (keys
 * of other tables inside a lost range are skipped with it).  A repair
 * first has the engine rewrite every damaged table without its unreadable
 * blocks (lsm_repair, on the closed store; one line per dropped block or
 * table), then checks and repairs the namespace as it now is: lost inode
 * records leave dangling entries (removed) and their data and xattrs
 * (removed); lost entries leave unreachable inodes (moved to
 * /lost+found); lost data blocks become holes, which read as zeros (alloc
 * corrected).  Each regular file with data in a lost range gets a line
 * naming its path and the blocks.  A manifest or WAL that fails its
 * checksums still cannot be repaired here.
 *
 * Named snapshots (fs_snapshot_create): after the live tree, each
 * snapshot's tree gets the same checks, read through the snapshot, with
 * every line prefixed "snapshot NAME: ".  A snapshot is never repaired
 * (it is what the tree was), so its problems leave exit code 4; the
 * counts in fsck_result are the live tree's (fsck_snap.c).
 *
 * Orphans are not errors (a check exits 0 with a note for each), but a
 * repair reclaims them, which counts as a fix (exit 1).
 *
 * Memory: one 40-byte entry per inode (a sorted array built from the
 * inode records, which the engine returns in inode order), so a million
 * inodes need about 40 MiB; everything else is per key or per problem
 * (a lost range keeps its two bounds; at most 256 files are named).
 */
#ifndef FS_FSCK_H
#define FS_FSCK_H

#include <stdint.h>

#include "lsm.h"

/* Exit codes, as e2fsck's. */
#define FSCK_EXIT_CLEAN 0          /* no problems */
#define FSCK_EXIT_FIXED 1          /* problems found, all fixed */
#define FSCK_EXIT_UNFIXED 4        /* problems left uncorrected (also: a
                                      manifest or WAL that fails its
                                      checksums, which no repair fixes) */
#define FSCK_EXIT_ERROR 8          /* could not check: open failed, in use,
                                      not an lsmfs store, I/O failure */

#define FSCK_REPAIR 1              /* fsck_options.flags */

/* Kinds of report lines. */
enum fsck_line {
    FSCK_PROBLEM,                  /* a problem left as it is */
    FSCK_FIXED,                    /* a problem and what was done about it */
    FSCK_INFO,                     /* not a problem (e.g. a pending orphan,
                                      an engine log line) */
};

typedef struct fsck_options {
    int flags;                     /* FSCK_REPAIR */
    struct lsm_env *env;           /* NULL = POSIX */
    size_t cache_bytes;            /* engine block cache; 0 = 8 MiB */
    /* One line per problem, fix or note (no newline). */
    void (*line)(void *ctx, enum fsck_line kind, const char *text);
    /* Progress of the current phase: done of total units (total 0 when
     * unknown).  Called at most every few thousand keys. */
    void (*progress)(void *ctx, const char *phase, uint64_t done,
                     uint64_t total);
    void *ctx;
} fsck_options;

void fsck_options_init(fsck_options *o);

typedef struct fsck_result {
    int exit_code;                 /* FSCK_EXIT_* */
    uint64_t problems;             /* found */
    uint64_t fixed;                /* of which fixed (FSCK_REPAIR) */
    uint64_t orphans;              /* pending orphans seen (not problems) */
    uint64_t keys;                 /* keys read by the full scan */
    uint64_t inodes, directories, entries, blocks, xattrs;
    char error[512];               /* FSCK_EXIT_ERROR: why */
} fsck_result;

/* Checks (and with FSCK_REPAIR repairs) the store in `dir`.  Returns the
 * exit code, also in res->exit_code. */
int fs_fsck(const char *dir, const fsck_options *o, fsck_result *res);

#endif
