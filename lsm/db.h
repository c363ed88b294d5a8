/*
 * db.h — the database object shared by db.c (open, recovery, writes,
 * reads), db_iter.c (user iterators), flush.c and compaction.c (background
 * work).
 *
 * Locking: `mu` guards everything below marked (mu).  The write path is
 * serialised by the writer queue: only the writer at its head touches the
 * WAL and inserts into `mem`, with mu released during that I/O.  Readers
 * take mu only to reference the memtables and the current version.
 */
#ifndef LSM_DB_H
#define LSM_DB_H

#include <pthread.h>
#include <stdint.h>

#include "blob.h"
#include "cache.h"
#include "env.h"
#include "lsm.h"
#include "memtable.h"
#include "table_cache.h"
#include "version.h"
#include "wal.h"

#define LSM_MAX_IMM 16

typedef struct lsm_hints lsm_hints;   /* space.c */
#define LSM_MAX_BG_THREADS 16

struct lsm_snapshot {
    uint64_t seq;
    struct lsm_snapshot *prev, *next;
};

typedef struct lsm_writer {
    lsm_batch *batch;          /* NULL: a request to switch memtables */
    int sync;
    int reclaim;               /* LSM_RECLAIM: may use the space reserve */
    int held;                  /* LSM_HELD: may use held space */
    int op;                    /* what it asks of the head (db.c OP_*) */
    int bulk;                  /* LSM_BULK: yields to other writes */
    int presynced;             /* left the line to presync the WAL (db.c) */
    int done;
    int status;
    pthread_cond_t cv;
    struct lsm_writer *next;
} lsm_writer;

/* A table a compaction could not read (see compaction.c). */
typedef struct lsm_damaged_table {
    uint64_t number;
    char why[256];                 /* the first failure, naming the block */
} lsm_damaged_table;

typedef struct lsm_db_stats {      /* all atomic */
    uint64_t user_bytes;           /* key+value bytes written by users */
    uint64_t wal_bytes;
    uint64_t compact_bytes_read;
    uint64_t flushes, compactions, trivial_moves;
    uint64_t subcompactions;       /* key ranges merged by split compactions */
    uint64_t stall_micros;         /* writes waiting for room (held) */
    uint64_t slowdown_micros;      /* writes paced (level 0 at slowdown, db.c) */
    uint64_t stalled_writes;       /* writes that waited for room, each wait */
    uint64_t slowed_writes;        /* writes paced by the write controller */
    uint64_t group_commits, grouped_writes, wal_syncs;
    uint64_t wal_recycled;
    /* reclaim.c: tables dropped whole under range deletions (and their
     * bytes), idle compactions done, and abandoned for writes */
    uint64_t tables_dropped, bytes_dropped;
    uint64_t idle_compactions, idle_yields;
    uint64_t heap_trims;           /* malloc_trim after a compaction */
    /* Per level written into (lsm_stats' level_io_* say what each is):
     * level 0's by flushes (also counted in `flushed`) and by merges of
     * level 0 into itself, the others' by compactions (lsm_get_stats
     * derives the flush and compaction totals from them). */
    uint64_t flushed;
    uint64_t level_written[LSM_NUM_LEVELS], level_read_upper[LSM_NUM_LEVELS];
    uint64_t level_read_lower[LSM_NUM_LEVELS], level_moved[LSM_NUM_LEVELS];
} lsm_db_stats;

struct lsm_db {
    char *dir;
    lsm_options opt;
    lsm_env *env;
    lsm_file *lock;
    lsm_cache *block_cache;
    lsm_table_cache *tcache;
    struct lsm_blobs *blobs;       /* blob files (blob.h); always open */

    pthread_mutex_t mu;
    /* The read view's lock: mem, imm[]/nimm and vs.current change with mu
     * and view_mu both held (in that order), so a reader takes either.
     * Point reads and new iterators take only view_mu (lsm_db_view_take),
     * never waiting behind the writers and background threads that hold
     * mu; its critical sections are a few reference counts long. */
    pthread_mutex_t view_mu;
    pthread_cond_t bg_cv;          /* background progress (waiters: writers, flush) */
    pthread_cond_t work_cv;        /* background threads wait for work here */
    lsm_version_set vs;            /* (mu) */

    /* Free 1 MiB chunks of flushed memtables, for the next ones (capped
     * at memtable_bytes; why that keeps the peak-RSS bound: arena.c).
     * Its own lock; drained by the idle pass (reclaim.c). */
    lsm_arena_pool *arena_pool;
    lsm_memtable *mem;             /* (mu) takes writes */
    uint64_t mem_log;              /* its WAL's number */
    lsm_memtable *imm[LSM_MAX_IMM];/* (mu) full, oldest first, being flushed */
    uint64_t imm_log[LSM_MAX_IMM];
    int nimm;
    int flushing;                  /* (mu) imm[0] is being flushed */
    int punching;                  /* (mu) punch_holes passes with mu dropped */
    lsm_wal_writer *log;           /* head writer only */
    uint64_t log_bytes;            /* (mu) its records' bytes */
    uint64_t log_file_bytes;       /* (mu) its file's (lsm_wal_file_bytes) */
    uint64_t synced_seq;           /* (mu) every write up to it is fsync'ed */

    lsm_writer *writers, *writers_tail;   /* (mu) queue */
    /* (mu) the last writer of the group the head is committing (build_group);
     * NULL while it has none.  Writers joining ahead of bulk ones go after
     * it: the group is head..group_last. */
    lsm_writer *group_last;
    lsm_batch *group;              /* head writer's scratch batch */

    lsm_snapshot snapshots;        /* (mu) list head, oldest first (sorted by seq) */
    pthread_mutex_t snap_mu;       /* serialises named snapshot create/delete */
    uint64_t *pending;             /* (mu) table numbers being written */
    size_t npending, cap_pending;

    int bg_error;                  /* (mu) sticky until reopen */
    /* (mu) tables found damaged in this process, and how many level-0
     * tables compaction cannot reach because of them (writers do not wait
     * for those; valid until the next edit or damaged table). */
    lsm_damaged_table *damaged;
    size_t ndamaged;
    size_t l0_blocked;
    int l0_blocked_valid;
    /* (mu) the last flush or compaction ran out of space: writers that
     * would wait for a flush fail with LSM_NO_SPACE instead, and background
     * work retries at retry_at (CLOCK_REALTIME, µs).  Not sticky. */
    int nospace;
    uint64_t retry_at;
    int flush_nospace;             /* (mu) the last flush ran out of space */
    /* (mu) no compaction had room: the compaction thread tries again at
     * this time; flushes go on, level 0 may grow to twice its stop
     * trigger (compact_nospace), and then writers fail instead of
     * waiting for it to shrink (nospace is set too). */
    uint64_t compact_retry_at;
    int compact_nospace;           /* (mu) the last compaction picked had no room */
    int move_nospace;              /* (mu) the last trivial move had no room */
    uint64_t compaction_claim;     /* (mu) input bytes of running compactions */
    char bg_msg[512];
    int shutting_down;             /* (mu) */
    int compacting;                /* (mu) compactions running */
    int manual_compaction;         /* (mu) lsm_compact in progress */
    int compactions_held;          /* (mu) by lsm_hold_compactions */
    int snapshot_dropped;          /* (mu) a named snapshot was deleted since
                                      the last lsm_compact (snapshot.c) */
    int stall_logged;              /* (mu) a write stall was logged since the
                                      last memtable switch */
    uint64_t wctl_next;            /* (mu) write controller's bucket (db.c) */
    uint64_t wctl_owed;            /* (mu) µs other than bulk writes owe it */
    /* (mu) a bulk writer that found the memtable full is fsyncing its WAL
     * outside the line before it switches it (db.c, make_room): other
     * bulk writers wait for the switch, the rest go on into the
     * memtable's slack. */
    int switch_presync;
    int bulk_in_mem;               /* (mu) the memtable holds bulk writes */
    /* (mu) the next WAL, made with its directory entry synced by a
     * presyncing writer outside the line; the next switch takes it. */
    lsm_wal_writer *spare_log;
    uint64_t spare_number;
    /* (mu) the previous WAL, sealed at the switch but not yet fsync'ed
     * (lsm_db_sync_old_log): the flush thread syncs it as it wakes for
     * the switch; a sync path, the next switch or close first if they
     * come before.  old_log_busy: a thread is syncing it (mu dropped). */
    lsm_wal_writer *old_log;
    int old_log_busy;
    uint64_t retry_log_number;     /* (mu) a new WAL failed to be made: its
                                      number, for the next one (else 0) */
    /* (mu) WAL recycling (db.c): a retired WAL kept for the next one to
     * be written over (0: none), and the first WAL this open made (those
     * from it on are recyclable throughout; older ones are deleted). */
    uint64_t recycle_log;
    uint64_t own_logs_from;
    pthread_t threads[LSM_MAX_BG_THREADS];
    int nthreads;

    /* Space (space.c), all (mu).  The reserve is the RESERVE file, kept
     * open holding reserve_target preallocated bytes; it is given back
     * when a reclaiming write, or the flush or space pass it caused, runs
     * out of space, and taken again once the disk has room.  Ordinary
     * writes need it whole. */
    uint64_t reserve_target;
    lsm_file *reserve;             /* NULL: not held */
    int reserve_busy;              /* a thread is taking or releasing it */
    uint64_t free_bytes;           /* free space at the last check */
    uint64_t appended_since_check; /* WAL bytes written since */
    uint64_t held_bytes;           /* lsm_hold_space: kept from ordinary writes */
    size_t mem_limit;              /* the memtable switches past this */
    size_t mem_next_check;         /* memtable size at which to check again */
    /* A write ran out of space after reclaiming writes deleted on a low
     * disk (reclaim_more) and switched memtables: once every memtable up
     * to reclaim_log is flushed, the compaction thread runs a space pass
     * (compaction.c), then clears this.  Writers that ran out of space
     * wait for it before giving up. */
    int reclaim_pending;           /* 1: asked for, 2: running */
    uint64_t reclaim_log;
    int reclaim_more;              /* deletions noted since it was asked for */
    /* Keys and sequence numbers of the point deletions of reclaiming
     * writes: since the last request, and those the pass asked for will
     * act on (their memtables are flushed when it runs).  NULL: none. */
    lsm_hints *hints, *pass_hints;
    uint64_t reclaimed_seq;        /* range deletions up to here were passed */

    /* (mu) a flush wrote range deletions: a drop pass is due (reclaim.c);
     * dropping: one is running.  Writers out of space wait for both. */
    int drops_due, dropping;
    /* Idle work (reclaim.c). */
    uint64_t last_write_us;        /* atomic: CLOCK_REALTIME of the last
                                      write, or of the open before one */
    uint64_t last_read_us;         /* atomic: CLOCK_REALTIME_COARSE of a
                                      read in the last ms or so
                                      (lsm_db_note_read) */
    uint64_t edits;                /* (mu) manifest edits applied */
    /* (mu) what the last idle pass that found nothing to do saw: no pass
     * runs again until edits or last_seq move. */
    uint64_t idle_edits, idle_seq, idle_last_seq;
    int idle_settled;
    uint64_t idle_next_at;         /* (mu) no pass before (CLOCK_REALTIME) */

    lsm_db_stats stats;
};

/* Logs a formatted line through opt.log; level: enum lsm_log_level. */
void lsm_db_log(lsm_db *db, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records the first background error (mu held); writes then fail. */
void lsm_db_set_bg_error(lsm_db *db, int status);

/* WAL marks: batch-shaped records of no operations (count 0; lsm_write
 * never logs an empty batch), which older code replays as nothing.  A
 * WAL made by a memtable switch starts with LSM_MARK_FOLLOWS, synced with
 * its directory entry before it takes a write: the WAL before it was
 * sealed, not fsync'ed.  The switch ends that WAL with LSM_MARK_SEALED.
 * Recovery (db_open.c) goes past a WAL into one that FOLLOWS it only if
 * it is sealed: otherwise its tail was lost, and nothing after it belongs
 * to the prefix.  A switch WAL whose making failed is made again under
 * the same number (retry_log_number), so no empty WAL is left between
 * two used ones. */
enum { LSM_MARK_FOLLOWS = 1, LSM_MARK_SEALED = 2 };
int lsm_db_append_mark(lsm_wal_writer *w, int mark);
/* The mark a WAL record is, or 0 if it is an ordinary batch. */
int lsm_db_record_mark(lsm_slice rec);
/* fsyncs and closes old_log, if any (mu held, dropped for the fsync;
 * waits for another thread doing it).  Every path that makes writes
 * durable calls it first, so a synced write never follows a WAL whose
 * tail could still be lost.  A failure is also the store's bg_error. */
int lsm_db_sync_old_log(lsm_db *db);
/* Deletes the WAL kept for recycling, if any (db.c; mu held, dropped
 * for the unlink). */
void lsm_db_drop_recycled(lsm_db *db);
/* A new memtable of db: chunks from its arena pool, and a key filter
 * sized for memtable_bytes (memtable.h); NULL on ENOMEM. */
lsm_memtable *lsm_db_memtable_new(lsm_db *db);
/* Drops a reader's version reference (mu held); wakes the background
 * threads if that retired tables. */
void lsm_db_release_version(lsm_db *db, lsm_version *v);

/* What a read sees: the memtables (newest first) and the version,
 * referenced, and the sequence number it reads at. */
typedef struct lsm_read_view {
    lsm_memtable *mems[LSM_MAX_IMM + 1];
    int nmems;
    lsm_version *version;
    uint64_t seq;
} lsm_read_view;
/* Takes the current view (mu not held), at snapshot's sequence number if
 * given, else at the last one written: every write up to it is in the
 * view's memtables or tables, and the version holds no entry zeroed
 * (compaction.c) from a later write. */
void lsm_db_view_take(lsm_db *db, const lsm_snapshot *snapshot, lsm_read_view *rv);
/* Drops its references (mu not held; taken only if the version was
 * retired meanwhile and this was its last reader). */
void lsm_db_view_drop(lsm_db *db, lsm_read_view *rv);
/* Logs and installs an edit (mu held).  A failure may leave the edit
 * durable in the manifest, so it is a background error: nothing is
 * deleted until a reopen reads the manifest back. */
int lsm_db_apply_edit(lsm_db *db, lsm_version_edit *e);
/* lsm_db_apply_edit for an edit that only moves live tables to another
 * level (a trivial move): out of space, it leaves the store writable.
 * Whether or not the edit reached the manifest, both versions name the
 * same live files, and the next edit starts a fresh manifest holding the
 * whole current version (version.c), so nothing can diverge. */
int lsm_db_apply_move(lsm_db *db, lsm_version_edit *e);
/* The delayed-write rate in bytes/s writes are paced to now, 0 while
 * they are not slowed (mu held; db.c). */
uint64_t lsm_db_write_rate(lsm_db *db);
/* A flush or compaction failed (mu held): no space is retried later,
 * anything else is a background error. */
void lsm_db_background_failed(lsm_db *db, int status);
/* Background threads wait here for work (mu held), at most until
 * `until` (CLOCK_REALTIME µs; 0: retry_at if background work ran out of
 * space and that is still ahead, else no limit). */
void lsm_db_wait_for_work(lsm_db *db, uint64_t until);
uint64_t lsm_db_realtime_micros(void);
/* When the last write was applied (CLOCK_REALTIME µs; 0: none yet). */
uint64_t lsm_db_last_write(lsm_db *db);
/* Notes a read (lsm_get, an iterator's seek or scan) for idle
 * work, whose rewrites wait for reads too (reclaim.c may_rewrite). */
void lsm_db_note_read(lsm_db *db);
/* When the store last served a write or a read (CLOCK_REALTIME µs; reads
 * to within LSM_READ_MARK_MICROS plus a clock tick; 0: none yet). */
uint64_t lsm_db_last_activity(lsm_db *db);
/* mu NOT held: switches the memtable if that needs no waiting (idle
 * work; reclaim.c). */
int lsm_db_switch_idle(lsm_db *db);
#define LSM_NOSPACE_RETRY_MICROS 500000
/* May background work run now? (mu held) */
int lsm_db_may_work(lsm_db *db);
/* Waits for running compactions and keeps new ones from starting until
 * released (mu held; waits drop it).  For lsm_compact and lsm_repair. */
void lsm_db_hold_compactions(lsm_db *db);
void lsm_db_release_compactions(lsm_db *db);
/* Sequence number below which no snapshot needs old versions (mu held). */
uint64_t lsm_db_oldest_snapshot(lsm_db *db);
/* snapshot.c.  The points compaction keeps versions for (mu held): the
 * distinct sequence numbers of every snapshot, sorted, then LSM_MAX_SEQ
 * standing for the latest state and every later reader.  *out malloc'ed.
 * A version of a key at seq s whose next newer version is at p is seen
 * by some reader iff a point lies in [s, p). */
int lsm_db_snapshot_points(lsm_db *db, uint64_t **out, size_t *n);
/* The index of the first element >= x of the sorted arr[0..n) (n if
 * none); O(log n). */
size_t lsm_lower_bound(const uint64_t *arr, size_t n, uint64_t x);
/* The smallest point >= seq (LSM_MAX_SEQ if none); O(log n). */
uint64_t lsm_db_next_point(const uint64_t *points, size_t n, uint64_t seq);
/* Pins every named snapshot the version set holds that has no pin yet
 * (after recovery, before anything is flushed or compacted), and drops
 * the pins (close).  mu not held / held-or-single-threaded. */
int lsm_db_pin_named(lsm_db *db);
void lsm_db_unpin_named(lsm_db *db);
/* db_iter.c: the merged iterator over every internal entry (all
 * versions, newest first per key) underneath a user iterator, and an
 * index of every range deletion of its memtables and version (*out
 * lsm_range_dels_free).  For whole-store scans (snapshot.c). */
struct lsm_range_dels;
lsm_iiter *lsm_iter_entries(lsm_iter *it);
int lsm_iter_range_dels(lsm_iter *it, struct lsm_range_dels **out);
int lsm_db_add_pending(lsm_db *db, uint64_t number);
/* A new file number for a table being written, protected from deletion
 * until lsm_db_remove_pending (mu NOT held). */
int lsm_db_new_output(lsm_db *db, uint64_t *number);
void lsm_db_remove_pending(lsm_db *db, uint64_t number);
/* Deletes files no live version, memtable or pending output uses
 * (mu held; drops it for the I/O). */
void lsm_db_delete_obsolete(lsm_db *db, int include_temps);
/* blob_gc.c (mu held): learns the blob files each table of the live
 * versions names (reading the tables, mu dropped meanwhile); then
 * lsm_blob_gc_named gives them all, sorted (1), or 0 if some table's set
 * is unknown (every blob file must be kept). */
void lsm_blob_gc_learn(lsm_db *db);
int lsm_blob_gc_named(lsm_db *db, uint64_t **live, size_t *n);
/* Relocation by a compaction: values in blob files below cutoff, or
 * in a target file (whose garbage is at least blob_gc_garbage_percent of
 * its bytes), are copied to the current blob file by lsm_blob_relocate,
 * which points *ref at the new reference (in m->ref, valid until the
 * next call) and counts the old record as garbage.  lsm_blob_gc_plan
 * (mu held) sets cutoff and targets (shared by a compaction's ranges,
 * freed by lsm_blob_plan_free); it returns 1 if anything may move.  The
 * compaction pins (pin, taken before the first copy) the new files until
 * its version is installed, and syncs the blob files first if moved > 0.
 * A value that cannot be read stays where it is. */
typedef struct lsm_blob_plan {
    uint64_t cutoff;
    uint64_t *targets;      /* sorted */
    size_t ntargets;
} lsm_blob_plan;
typedef struct lsm_blob_move {
    const lsm_blob_plan *plan;
    uint64_t moved;
    lsm_buf value, ref;
    lsm_garbage_list garbage;   /* of the values this range dropped or moved */
    lsm_garbage_list copies;    /* the records it wrote: garbage if the
                                   compaction fails (compaction.c) */
} lsm_blob_move;
int lsm_blob_gc_plan(lsm_db *db, lsm_blob_plan *p);
void lsm_blob_plan_free(lsm_blob_plan *p);
int lsm_blob_relocate(lsm_db *db, lsm_blob_move *m, lsm_slice *ref);
/* Counts value as garbage in g if kind is LSM_KIND_BLOB (a reference);
 * a malformed reference counts nothing.  Out of memory is ignored: the
 * figures only guide relocation. */
void lsm_blob_garbage_note(lsm_garbage_list *g, int kind, lsm_slice value);
/* Counts every reference table f holds as garbage in g (it is dropped
 * whole; mu not held). */
int lsm_blob_gc_table_garbage(lsm_db *db, const lsm_file_meta *f,
                              lsm_garbage_list *g);
/* A table of the current version (of only_level if >= 0), neither being
 * compacted nor damaged, naming a target file of lsm_blob_gc_plan; 0 if
 * none (mu held). */
int lsm_blob_gc_pick(lsm_db *db, int only_level, int *level, uint64_t *number);
/* Seals the blob file being written (lsm_blobs_seal) if it is mostly
 * garbage (blob_gc_garbage_percent of its bytes), so it can be moved out
 * of or deleted like the others; *sealed says whether it was.  mu held,
 * dropped while sealing. */
int lsm_blob_gc_seal_if_due(lsm_db *db, int *sealed);
/* Forgets the garbage of blob files no longer present (mu held). */
void lsm_blob_gc_forget_deleted(lsm_db *db);

/* flush.c: writes a memtable as a level-0 table (mu not held), leaving
 * out versions no snapshot at or after oldest_snapshot can see.  The meta
 * is filled (the caller frees meta->blob_files, smallest and largest);
 * meta->size == 0 if the memtable held nothing. */
int lsm_write_memtable_table(lsm_db *db, lsm_memtable *m, uint64_t number,
                             uint64_t oldest_snapshot, lsm_file_meta *meta,
                             lsm_garbage_list *garbage);
/* The same, into an open file f (not closed; the builder syncs it).
 * The blob values left out are counted in garbage (if not NULL). */
int lsm_build_memtable_table(lsm_db *db, lsm_memtable *m, lsm_file *f,
                             uint64_t oldest_snapshot, lsm_file_meta *meta,
                             lsm_garbage_list *garbage);
/* The table format options the store's options ask for. */
lsm_table_options lsm_db_table_options(const lsm_options *o);
/* space.c (see the fields above). */
/* rw open, mu not held: frees a previous reserve before recovery. */
void lsm_space_drop_old(lsm_db *db);
/* rw open after recovery, mu not held: sizes and takes the reserve and
 * measures the free space. */
void lsm_space_open(lsm_db *db);
/* Close, mu not held: closes the reserve's handle (its file stays). */
void lsm_space_close(lsm_db *db);
/* mu held: re-measures the free space once the memtable has grown past
 * mem_next_check (always with force) and derives mem_limit. */
void lsm_space_check(lsm_db *db, int force);
/* Is the disk nearly full? (mu held) */
int lsm_space_low(lsm_db *db);
/* mu held, dropped for the I/O: gives the reserve back to the disk.
 * 1 if it was held (space was freed), 0 if there was none to give. */
int lsm_space_release(lsm_db *db);
/* Bytes the unflushed memtables will need as tables, and the running
 * compactions at most (mu held). */
uint64_t lsm_space_owed(lsm_db *db);
/* mu held, may drop it: may an ordinary write of `bytes` proceed?  Only
 * with the reserve held (retaken if the disk has room) and room for the
 * write and every memtable's flush; else LSM_NO_SPACE. */
int lsm_space_admit(lsm_db *db, size_t bytes, int held);
/* mu held, dropped for the I/O: takes the reserve again if it fits. */
void lsm_space_retake(lsm_db *db);
/* reclaim.c, mu held: one space pass (see reclaim_pending). */
void lsm_space_pass(lsm_db *db);
/* reclaim.c, mu held (dropped for the I/O): the drop pass, asked for by
 * drops_due. */
void lsm_drop_pass(lsm_db *db);
/* reclaim.c, mu held: 0 if an idle pass is due now, else when to look
 * again (CLOCK_REALTIME µs; UINT64_MAX: never, idle work is off). */
uint64_t lsm_idle_due(lsm_db *db, uint64_t now);
/* reclaim.c, mu held (dropped for the I/O): one step of idle work;
 * 1 if it did something. */
int lsm_idle_pass(lsm_db *db);
/* compaction.c, mu held: compacts table `number` of `level` (with every
 * older level-0 table for level 0) and what it overlaps below, dropping
 * entries under any range deletion of the version and under the hints'
 * deletions (NULL: none).  *ran: a compaction ran (the table was there
 * and free).  idle: it yields to writes (LSM_BUSY, not an error), and on
 * running out of space the reserve is not given back. */
int lsm_compact_table(lsm_db *db, int level, uint64_t number,
                      const lsm_hints *hints, int idle, int *ran);
/* compaction.c, mu held: an idle compaction of one file of `level` into
 * the next (as by score); 1 if one ran. */
int lsm_compact_level_step(lsm_db *db, int level);
/* compaction.c, mu held: an idle rewrite in place of the whole `level`
 * (>= 1; blob relocation out of the last level); 1 if one ran. */
int lsm_compact_rewrite_level(lsm_db *db, int level);
/* After a reclaiming write (mu held): records the keys and sequence
 * numbers of its point deletions in db->hints (up to a bound; more are
 * forgotten).  Returns 1 if the batch deletes anything. */
int lsm_space_note_deletions(lsm_db *db, const lsm_batch *b);
void lsm_hints_free(lsm_hints *h);
/* Sorts by key, newest first per key (before the lookups below). */
void lsm_hints_sort(lsm_hints *h);
size_t lsm_hints_count(const lsm_hints *h);
lsm_slice lsm_hints_key(const lsm_hints *h, size_t i);
uint64_t lsm_hints_seq_at(const lsm_hints *h, size_t i);
/* Index of the first hint whose key is >= key. */
size_t lsm_hints_lower_bound(const lsm_hints *h, lsm_slice key);
/* Highest sequence number of a deletion of key, 0 if none. */
uint64_t lsm_hints_seq(const lsm_hints *h, lsm_slice key);

/* Background thread bodies. */
void *lsm_flush_thread(void *arg);
void *lsm_compaction_thread(void *arg);
/* compaction.c: does the version need compaction? (mu held) */
int lsm_needs_compaction(lsm_db *db);
/* compaction_tiered.c (mu held): is a tiered merge due in v?  If so
 * *out_level is where it writes; its inputs are every table of levels
 * 0..*out_level. */
int lsm_tiered_pick(const lsm_options *o, const lsm_version *v, int *out_level);
/* compaction.c: the order in which the picker tries the files of a
 * level of v, as indexes into v->files[level] (order has nfiles[level]
 * entries): level 0 oldest first; sorted levels by ascending bytes of
 * level + 1 they overlap / their own bytes, ties in key order. */
int lsm_pick_order(const lsm_version *v, int level, size_t *order);
/* Computes v's compaction score/level (before it is installed). */
void lsm_version_score(lsm_db *db, lsm_version *v);
/* Level-0 tables of the current version that no compaction can take
 * because a damaged table overlaps them (mu held). */
size_t lsm_l0_blocked(lsm_db *db);

/* repair.c: reads every entry of table f through a salvage iterator
 * (table.h), reporting each unreadable block to `lost` (may be NULL).
 * *blocks_lost counts them.  LSM_CORRUPTION: the table cannot be opened
 * at all (footer, index or another metadata block damaged); other errors
 * are I/O or memory. */
typedef struct lsm_table_check {
    uint64_t blocks_lost;
    uint64_t entries;          /* point entries and range deletions read */
    uint64_t max_seq;          /* highest sequence number read */
} lsm_table_check;
int lsm_check_table(lsm_db *db, const lsm_file_meta *f, lsm_table_loss_fn lost,
                    void *ctx, lsm_table_check *out);

#endif
