/*
 * db.c — opening and recovering a store, the write path (group commit
 * through the WAL into the memtable), point reads and snapshots.
 *
 * Durability protocol:
 *  - A write is acknowledged after its batch is appended to the WAL and
 *    handed to the kernel (one write(2) per group commit, so it survives
 *    a crash of the process; with manual_wal_flush only once the buffer
 *    is written out), with LSM_SYNC also fdatasync'ed (it survives power
 *    loss), and inserted into the memtable.
 *  - When the memtable fills, the WAL is fsync'ed before a new WAL is
 *    created (so a synced write in the new WAL can never survive a crash
 *    that loses an earlier unsynced write in the old one), the new WAL's
 *    directory entry is fsync'ed, and the full memtable is flushed to a
 *    level-0 table in the background (flush.c).
 *  - A table is fsync'ed, then its directory entry, then the manifest
 *    edit naming it; only then is it part of the store, and only then are
 *    the WALs it replaces deleted.
 *  - Open replays every WAL not yet covered by a table, writes what it
 *    recovered as level-0 tables, starts a fresh manifest and WAL, and
 *    deletes what is obsolete.  On a disk too full for those tables, intact
 *    WALs stay live instead (db_open.c).
 *
 * A full disk (space.c): writes fail with LSM_NO_SPACE, cleanly (the WAL
 * reserves a record's space before writing any of it) and without making
 * the store read-only; writes marked LSM_RECLAIM go on using the space
 * reserve, and their deletions give space back through a space pass.
 */
#include "db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "filename.h"
#include "ikey.h"
#include "write_batch.h"
#include "blob.h"

#define MAX_GROUP_BYTES (1u << 20)

void lsm_options_init(lsm_options *o)
{
    memset(o, 0, sizeof *o);
    o->memtable_bytes = 64u << 20;
    o->recycle_wal = 1;
    o->max_immutable_memtables = 2;
    o->block_bytes = 4096;
    o->block_restart_interval = 16;
    o->bloom_bits_per_key = 10;
    o->compression = LSM_COMPRESS_ZSTD;
    o->zstd_level = 1;
    o->cache_bytes = 64u << 20;
    o->max_open_files = 1000;
    o->table_meta_in_cache = 0;
    o->create_if_missing = 1;
    o->paranoid_checks = 1;
    o->flush_threads = 1;
    o->compaction_threads = 1;
    o->max_subcompactions = 2;
    o->subcompaction_bytes = 8u << 20;
    o->level0_compaction_trigger = 4;
    o->level0_slowdown_trigger = 8;
    o->level0_stop_trigger = 12;
    o->delayed_write_rate = 16u << 20;
    o->level0_self_merge_percent = 150;
    o->level1_bytes = 256u << 20;
    o->level_multiplier = 10;
    o->tiered_size_ratio = 1;
    o->tiered_min_merge_width = 2;
    o->tiered_max_size_amp_percent = 200;
    o->target_file_bytes = 64u << 20;
    o->reserve_bytes = 8u << 20;
    o->idle_compaction_ms = 1000;
    o->space_amp_percent = 10;
    o->blob_file_bytes = 256u << 20;
    o->blob_gc_garbage_percent = 40;
}

void lsm_free(void *p)
{
    free(p);
}

void lsm_db_log(lsm_db *db, int level, const char *fmt, ...)
{
    if (!db->opt.log)
        return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    db->opt.log(db->opt.log_ctx, level, line);
}

void lsm_db_set_bg_error(lsm_db *db, int status)
{
    if (db->bg_error || status == LSM_OK)
        return;
    db->bg_error = status;
    lsm_error_copy(db->bg_msg, sizeof db->bg_msg);
    lsm_db_log(db, LSM_LOG_ERROR, "store is now read-only after a failure: %s", db->bg_msg);
    pthread_cond_broadcast(&db->bg_cv);
}

static uint64_t clock_micros(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t lsm_db_realtime_micros(void)
{
    return clock_micros(CLOCK_REALTIME);
}

uint64_t lsm_db_last_write(lsm_db *db)
{
    return __atomic_load_n(&db->last_write_us, __ATOMIC_RELAXED);
}

/* Cost per read: a coarse clock read (vDSO, no system call) and a load
 * of a line every reader shares; it is written at most once per
 * LSM_READ_MARK_MICROS, so readers on many cores do not pass it around. */
#define LSM_READ_MARK_MICROS 1000u

void lsm_db_note_read(lsm_db *db)
{
    uint64_t now = clock_micros(CLOCK_REALTIME_COARSE);
    /* Unsigned: a clock set back stores at once rather than never. */
    if (now - __atomic_load_n(&db->last_read_us, __ATOMIC_RELAXED) >= LSM_READ_MARK_MICROS)
        __atomic_store_n(&db->last_read_us, now, __ATOMIC_RELAXED);
}

uint64_t lsm_db_last_activity(lsm_db *db)
{
    uint64_t w = lsm_db_last_write(db);
    uint64_t r = __atomic_load_n(&db->last_read_us, __ATOMIC_RELAXED);
    return w > r ? w : r;
}

void lsm_db_background_failed(lsm_db *db, int status)
{
    if (status != LSM_NO_SPACE) {
        lsm_db_set_bg_error(db, status);
        return;
    }
    if (!db->nospace)
        lsm_db_log(db, LSM_LOG_WARNING, "out of space (%s); retrying background work",
                   lsm_last_error());
    db->nospace = 1;
    db->retry_at = lsm_db_realtime_micros() + LSM_NOSPACE_RETRY_MICROS;
    pthread_cond_broadcast(&db->bg_cv);
}

void lsm_db_release_version(lsm_db *db, lsm_version *v)
{
    lsm_version_unref(v);
    if (db->vs.obsolete_files)
        pthread_cond_broadcast(&db->work_cv);
}

static int apply_edit(lsm_db *db, lsm_version_edit *e, int move)
{
    int rc = lsm_vset_log_and_apply(&db->vs, e);
    db->edits++;
    if (rc && !(move && rc == LSM_NO_SPACE))
        lsm_db_set_bg_error(db, rc);
    db->l0_blocked_valid = 0;            /* a new version */
    return rc;
}

int lsm_db_apply_edit(lsm_db *db, lsm_version_edit *e)
{
    return apply_edit(db, e, 0);
}

int lsm_db_apply_move(lsm_db *db, lsm_version_edit *e)
{
    return apply_edit(db, e, 1);
}

int lsm_db_may_work(lsm_db *db)
{
    return !db->bg_error &&
           (!db->nospace || lsm_db_realtime_micros() >= db->retry_at);
}

void lsm_db_wait_for_work(lsm_db *db, uint64_t until)
{
    if (!until && db->nospace && !db->bg_error &&
        db->retry_at > lsm_db_realtime_micros())
        until = db->retry_at;
    if (!until) {
        pthread_cond_wait(&db->work_cv, &db->mu);
        return;
    }
    struct timespec ts = { (time_t)(until / 1000000u),
                           (long)(until % 1000000u) * 1000 };
    pthread_cond_timedwait(&db->work_cv, &db->mu, &ts);
}

static int bg_error_status(lsm_db *db)
{
    return lsm_fail(db->bg_error == LSM_NO_SPACE ? LSM_NO_SPACE : LSM_BG_ERROR,
                    "store is read-only after an earlier failure (%s); "
                    "reopen it to recover", db->bg_msg);
}

static uint64_t now_micros(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- pending outputs and obsolete files ------------------------------------ */

int lsm_db_add_pending(lsm_db *db, uint64_t number)
{
    if (db->npending == db->cap_pending) {
        size_t cap = db->cap_pending ? db->cap_pending * 2 : 8;
        uint64_t *p = realloc(db->pending, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        db->pending = p;
        db->cap_pending = cap;
    }
    db->pending[db->npending++] = number;
    return LSM_OK;
}

int lsm_db_new_output(lsm_db *db, uint64_t *number)
{
    pthread_mutex_lock(&db->mu);
    *number = lsm_vset_new_file_number(&db->vs);
    int rc = lsm_db_add_pending(db, *number);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

void lsm_db_remove_pending(lsm_db *db, uint64_t number)
{
    for (size_t i = 0; i < db->npending; i++) {
        if (db->pending[i] == number) {
            db->pending[i] = db->pending[--db->npending];
            return;
        }
    }
}

size_t lsm_lower_bound(const uint64_t *arr, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (arr[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int in_sorted(const uint64_t *arr, size_t n, uint64_t x)
{
    size_t i = lsm_lower_bound(arr, n, x);
    return i < n && arr[i] == x;
}

/* Which blob files may be deleted: those below blob_floor that no table
 * of a live version names (blobs), if blobs_ok. */
typedef struct blob_liveness {
    int blobs_ok;
    uint64_t blob_floor;
    uint64_t *blobs;
    size_t nblobs;
} blob_liveness;

/* Is a file of this type and number still needed? (mu held) */
static int file_is_live(lsm_db *db, enum lsm_file_type type, uint64_t number,
                        const uint64_t *live, size_t nlive, uint64_t next_file,
                        const blob_liveness *gc)
{
    switch (type) {
    case LSM_FILE_BLOB:     /* nothing may name it (blob.h) */
        return !gc->blobs_ok || number >= gc->blob_floor ||
               in_sorted(gc->blobs, gc->nblobs, number);
    case LSM_FILE_LOG:
        return number >= db->vs.log_number || number >= next_file;
    case LSM_FILE_MANIFEST:
        return number >= db->vs.manifest_number;
    case LSM_FILE_TABLE:
        if (number >= next_file || in_sorted(live, nlive, number))
            return 1;
        for (size_t i = 0; i < db->npending; i++)
            if (db->pending[i] == number)
                return 1;
        return 0;
    default:
        return 1;
    }
}

/* Extents punched per obsolete-file pass: each costs up to three system
 * calls (tens of microseconds in all), and the pass runs on the flush
 * thread, so a large backlog (scattered overwrites) is taken in turns
 * with the flushes (the flush thread serves a flush before another
 * pass). */
#define PUNCH_PER_PASS 4096

/* Frees the space of the blob records no reader can reach any more
 * (blob.h: holes; mu held, dropped while punching). */
static void punch_holes(lsm_db *db)
{
    lsm_blob_extent *holes;
    size_t n;
    if (!db->blobs || db->opt.read_only ||
        lsm_vset_take_holes(&db->vs, PUNCH_PER_PASS, &holes, &n) || n == 0)
        return;
    if (db->vs.obsolete_files)          /* more ready: the flush thread */
        pthread_cond_broadcast(&db->work_cv);
    db->punching++;
    pthread_mutex_unlock(&db->mu);
    uint64_t freed = lsm_blobs_punch(db->blobs, holes, n);
    pthread_mutex_lock(&db->mu);
    if (--db->punching == 0)
        pthread_cond_broadcast(&db->bg_cv);   /* lsm_compact waits (compaction.c) */
    free(holes);
    if (freed)
        lsm_db_log(db, LSM_LOG_DEBUG, "freed %" PRIu64 " bytes of dead blob values",
                   freed);
}

/* --- WAL recycling ------------------------------------------------------------
 * A WAL whose memtable is flushed is kept (one at a time: recycle_log)
 * instead of deleted, and the next WAL made takes its file: renamed, and
 * written over from offset 0 in the recyclable format (wal.h), whose
 * fragments name their log, so the old records past the new ones read as
 * the end.  Its blocks are written already: a sync of records written over
 * them changes no metadata, and no zeros are written ahead (wal.h:
 * lsm_wal_sync_ahead), so a stream of small synced writes costs the disk
 * half the bytes.  Only WALs this open made are kept (own_logs_from): they
 * hold recyclable fragments throughout.  Cost: the kept file's size on
 * disk (the largest a WAL written over it grew to, zeros ahead included;
 * about memtable_bytes) until it is reused, the store goes idle
 * (lsm_db_drop_recycled) or is closed; none is kept on a nearly full
 * disk.  The new WAL's start and FOLLOWS mark are synced before the
 * rename and the rename before it takes a write (start_log, new_log); a
 * crash before leaves the old name, below the log number: deleted at the
 * open. */

/* Is dead WAL `number` kept for reuse instead of deleted? (mu held)  Not
 * while a sealed WAL's writer is open (old_log): its final sync appends
 * to its file, which must not be one being written over. */
static int keep_for_recycling(lsm_db *db, uint64_t number)
{
    if (number == db->recycle_log)
        return 1;
    if (!db->opt.recycle_wal || db->recycle_log || db->old_log || !db->own_logs_from ||
        number < db->own_logs_from || !db->env->open_overwrite || lsm_space_low(db))
        return 0;
    db->recycle_log = number;
    return 1;
}

/* Takes the kept WAL, if any, for a new one (mu held). */
static uint64_t take_recycled(lsm_db *db)
{
    uint64_t number = db->recycle_log;
    db->recycle_log = 0;
    return number;
}

void lsm_db_drop_recycled(lsm_db *db)
{
    uint64_t number = take_recycled(db);
    char *path = number ? lsm_filename(db->dir, LSM_FILE_LOG, number) : NULL;
    if (!path)
        return;
    pthread_mutex_unlock(&db->mu);
    db->env->unlink(db->env, path);
    pthread_mutex_lock(&db->mu);
    free(path);
}

void lsm_db_delete_obsolete(lsm_db *db, int include_temps)
{
    if (db->bg_error)
        return; /* unsure what is live: keep everything */
    /* The floor is taken before the tables are judged: a reference that
     * moves from a memtable to a table meanwhile is in a live version. */
    blob_liveness gc = { .blob_floor = lsm_blobs_floor(db->blobs) };
    if (gc.blob_floor > 1)
        lsm_blob_gc_learn(db);
    punch_holes(db);
    char **names;
    size_t n;
    pthread_mutex_unlock(&db->mu);
    int rc = db->env->list_dir(db->env, db->dir, &names, &n);
    pthread_mutex_lock(&db->mu);
    if (rc)
        return;
    if (db->bg_error) {
        /* Failed while the lock was dropped: a failed edit's outputs are
         * no longer pending but may be named by the manifest. */
        lsm_env_free_names(names, n);
        return;
    }
    /* Liveness is judged now, under mu, after the listing: a file made
     * while the lock was dropped is pending or in a live version. */
    uint64_t *live;
    size_t nlive;
    if (lsm_vset_live_files(&db->vs, &live, &nlive)) {
        lsm_env_free_names(names, n);
        return;
    }
    if (gc.blob_floor > 1)
        gc.blobs_ok = lsm_blob_gc_named(db, &gc.blobs, &gc.nblobs);
    uint64_t next_file = db->vs.next_file;
    char **doomed = calloc(n ? n : 1, sizeof *doomed);
    size_t ndoomed = 0;
    for (size_t i = 0; doomed && i < n; i++) {
        uint64_t number = 0;
        enum lsm_file_type t = lsm_parse_filename(names[i], &number);
        int dead = t == LSM_FILE_TEMP ? include_temps
                   : !file_is_live(db, t, number, live, nlive, next_file, &gc);
        if (dead && t == LSM_FILE_LOG && keep_for_recycling(db, number))
            dead = 0;
        if (dead) {
            if (t == LSM_FILE_TABLE)
                lsm_table_cache_evict(db->tcache, number);
            doomed[ndoomed++] = names[i];
        }
    }
    free(live);
    free(gc.blobs);
    pthread_mutex_unlock(&db->mu);
    int blobs_deleted = 0;
    for (size_t i = 0; i < ndoomed; i++) {
        uint64_t number;
        if (lsm_parse_filename(doomed[i], &number) == LSM_FILE_BLOB) {
            if (lsm_blobs_delete(db->blobs, number)) {
                lsm_db_log(db, LSM_LOG_DEBUG, "deleted unreferenced %s", doomed[i]);
                blobs_deleted = 1;
            }
            continue;
        }
        char *path;
        if (asprintf(&path, "%s/%s", db->dir, doomed[i]) < 0)
            continue;
        if (db->env->unlink(db->env, path) == LSM_OK)
            lsm_db_log(db, LSM_LOG_DEBUG, "deleted obsolete %s", doomed[i]);
        free(path);
    }
    free(doomed);
    lsm_env_free_names(names, n);
    pthread_mutex_lock(&db->mu);
    if (blobs_deleted)
        lsm_blob_gc_forget_deleted(db);
}

/* --- snapshots --------------------------------------------------------------- */

const lsm_snapshot *lsm_snapshot_get(lsm_db *db)
{
    lsm_snapshot *s = malloc(sizeof *s);
    if (!s) {
        lsm_fail(LSM_NO_MEMORY, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&db->mu);
    s->seq = db->vs.last_seq;
    s->next = &db->snapshots;
    s->prev = db->snapshots.prev;
    s->prev->next = s;
    s->next->prev = s;
    pthread_mutex_unlock(&db->mu);
    return s;
}

void lsm_snapshot_release(lsm_db *db, const lsm_snapshot *snap)
{
    if (!snap)
        return;
    lsm_snapshot *s = (lsm_snapshot *)snap;
    pthread_mutex_lock(&db->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    pthread_mutex_unlock(&db->mu);
    free(s);
}

uint64_t lsm_db_oldest_snapshot(lsm_db *db)
{
    if (db->snapshots.next != &db->snapshots)
        return db->snapshots.next->seq;
    return db->vs.last_seq;
}

/* --- the write path ------------------------------------------------------------ */

int lsm_db_append_mark(lsm_wal_writer *w, int mark)
{
    char rec[LSM_BATCH_HEADER];
    lsm_encode_fixed64(rec, (uint64_t)mark);
    lsm_encode_fixed32(rec + 8, 0);
    return lsm_wal_append(w, lsm_slice_make(rec, sizeof rec));
}

int lsm_db_record_mark(lsm_slice rec)
{
    if (rec.len != LSM_BATCH_HEADER || lsm_decode_fixed32(rec.data + 8) != 0)
        return 0;
    uint64_t m = lsm_decode_fixed64(rec.data);
    return m == LSM_MARK_FOLLOWS || m == LSM_MARK_SEALED ? (int)m : 0;
}

/* The number for the next switch WAL (mu held). */
static uint64_t next_log_number(lsm_db *db)
{
    uint64_t n = db->retry_log_number;
    db->retry_log_number = 0;
    return n ? n : lsm_vset_new_file_number(&db->vs);
}

/* Makes WAL `number` and syncs it up to its FOLLOWS mark: in a new file,
 * or over the file of kept WAL `reuse` (not 0), which takes the new name
 * only then, so that a file of a WAL's name always starts with its start
 * fragment synced (wal.h).  LSM_INVALID: the kept file is gone (an
 * obsolete-file pass that judged it before it was taken deleted it).
 * Other failures are the disk's. */
static int start_log(lsm_db *db, uint64_t number, uint64_t reuse,
                     lsm_wal_writer **out)
{
    *out = NULL;
    char *path = lsm_filename(db->dir, LSM_FILE_LOG, number);
    char *from = reuse ? lsm_filename(db->dir, LSM_FILE_LOG, reuse) : NULL;
    lsm_file *f;
    uint64_t reused = 0;
    int rc = !path || (reuse && !from) ? lsm_fail(LSM_NO_MEMORY, "out of memory")
             : reuse ? db->env->open_overwrite(db->env, from, &reused, &f)
                     : db->env->open_write(db->env, path, &f);
    if (rc == LSM_OK)
        rc = lsm_wal_writer_new_log(f, number, lsm_wal_new_id(), reused, out);
    if (rc == LSM_OK) {
        lsm_wal_set_manual_flush(*out, db->opt.manual_wal_flush);
        rc = lsm_db_append_mark(*out, LSM_MARK_FOLLOWS);
    }
    if (rc == LSM_OK)
        rc = lsm_wal_sync(*out);
    if (rc == LSM_OK && reuse)
        rc = db->env->rename(db->env, from, path);
    if (rc == LSM_OK && reuse)
        __atomic_add_fetch(&db->stats.wal_recycled, 1, __ATOMIC_RELAXED);
    if (rc && *out) {
        lsm_wal_writer_close(*out);
        *out = NULL;
    }
    free(path);
    free(from);
    return rc;
}

/* Opens the WAL that follows the current one at a switch, over the file
 * of kept WAL `reuse` if not 0 (WAL recycling, above): its FOLLOWS mark
 * and its directory entry are durable before it takes a write.  On
 * failure the caller gives the number back (retry_log_number). */
static int new_log(lsm_db *db, uint64_t number, uint64_t reuse,
                   lsm_wal_writer **out)
{
    int rc = reuse ? start_log(db, number, reuse, out) : LSM_INVALID;
    if (rc == LSM_INVALID)
        rc = start_log(db, number, 0, out);
    if (rc == LSM_OK)
        rc = db->env->sync_dir(db->env, db->dir);
    if (rc && *out) {
        lsm_wal_writer_close(*out);
        *out = NULL;
    }
    return rc;
}

int lsm_db_sync_old_log(lsm_db *db)
{
    while (db->old_log_busy)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    lsm_wal_writer *w = db->old_log;
    if (!w)
        return LSM_OK;
    db->old_log_busy = 1;
    pthread_mutex_unlock(&db->mu);
    int rc = lsm_wal_sync_final(w);
    pthread_mutex_lock(&db->mu);
    db->old_log_busy = 0;
    pthread_cond_broadcast(&db->bg_cv);
    if (rc) {
        lsm_db_set_bg_error(db, rc);
        return rc;
    }
    lsm_wal_writer_close(w);
    db->old_log = NULL;
    return LSM_OK;
}

lsm_memtable *lsm_db_memtable_new(lsm_db *db)
{
    return lsm_memtable_new(db->arena_pool,
                            lsm_memtable_filter_bytes(db->opt.memtable_bytes));
}

/* Are as many memtables being flushed as the options allow (mu held)?
 * Every caller of switch_memtable asks first. */
static int imm_full(const lsm_db *db)
{
    return db->nimm >= db->opt.max_immutable_memtables;
}

/* Moves the full memtable to the immutable list and starts a new WAL and
 * memtable (mu held, by the head writer; drops mu for the I/O).  The old
 * WAL gets a SEALED mark but no fsync: that is left to the flush thread
 * (old_log), so the writers behind the head wait for a write(2) of 19
 * bytes, not a journal commit. */
static int switch_memtable(lsm_db *db)
{
    if (db->nimm >= LSM_MAX_IMM)      /* its callers ask imm_full first */
        return lsm_fail(LSM_INVALID, "%s: %d memtables being flushed already",
                        db->dir, db->nimm);
    lsm_memtable *m = lsm_db_memtable_new(db);
    if (!m)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_memtable_track_blobs(m, db->blobs);
    int rc = lsm_db_sync_old_log(db);      /* switches faster than fsyncs: rare */
    if (rc) {
        lsm_memtable_unref(m);
        return rc;
    }
    lsm_wal_writer *w = db->spare_log;   /* made ahead by a presync */
    uint64_t number = w ? db->spare_number : next_log_number(db);
    uint64_t reuse = w ? 0 : take_recycled(db);
    db->spare_log = NULL;
    pthread_mutex_unlock(&db->mu);
    if (!w)
        rc = new_log(db, number, reuse, &w);
    if (rc == LSM_OK)
        rc = lsm_db_append_mark(db->log, LSM_MARK_SEALED);
    pthread_mutex_lock(&db->mu);
    if (rc) {
        /* The old log and memtable go on unless the seal may be partly
         * written; an empty new log left behind is replayed as nothing,
         * and a spare one stays for the next switch. */
        if (w) {
            db->spare_log = w;
            db->spare_number = number;
        } else {
            db->retry_log_number = number;
        }
        lsm_memtable_unref(m);
        if (lsm_wal_broken(db->log) || rc != LSM_NO_SPACE)
            lsm_db_set_bg_error(db, rc);
        return rc;
    }
    db->old_log = db->log;
    db->log = w;
    db->log_bytes = 0;
    db->log_file_bytes = lsm_wal_file_bytes(w);
    pthread_mutex_lock(&db->view_mu);
    db->imm[db->nimm] = db->mem;
    db->imm_log[db->nimm] = db->mem_log;
    db->nimm++;
    db->mem = m;
    pthread_mutex_unlock(&db->view_mu);
    db->mem_log = number;
    db->stall_logged = 0;
    db->bulk_in_mem = 0;
    pthread_cond_broadcast(&db->work_cv);
    return LSM_OK;
}

/* Level 0's size at which writers stop (mu held).  Stopping lets
 * compaction catch up; while no compaction has room on the disk that
 * cannot happen, so level 0 may grow to twice the trigger first (reads
 * get slower, writes go on). */
static size_t level0_stop(lsm_db *db)
{
    size_t stop = (size_t)db->opt.level0_stop_trigger;
    return db->compact_nospace ? 2 * stop : stop;
}

/* Level 0's tables that can be compacted, counting the memtables being
 * flushed as the tables they will be (unless their flushes are out of
 * space: writes then fail at the memtable limit instead), the count the
 * stop trigger and the write controller both go by (mu held). */
static size_t level0_with_flushing(lsm_db *db)
{
    size_t l0 = db->vs.current->nfiles[0] - lsm_l0_blocked(db);
    return l0 + (db->flush_nospace ? 0 : (size_t)db->nimm);
}

/* make_room's answer when the head must wait for a flush or compaction:
 * it leaves the line and waits outside it (queue_write), so writes that
 * need no room go on meanwhile.  Not an lsm_status. */
#define ROOM_WAIT 1

/* Bytes past mem_limit that writes other than bulk ones may add to the
 * memtable while it cannot be switched (mu held). */
#define MIN_MEM_SLACK (1u << 20)
static size_t mem_slack(lsm_db *db)
{
    return db->mem_limit / 4 > MIN_MEM_SLACK ? db->mem_limit / 4 : MIN_MEM_SLACK;
}

/* The head must wait for room (mu held): logged once until the next
 * memtable switch, at debug level (it happens whenever writes outrun
 * the flushes). */
static int room_wait(lsm_db *db, const char *why)
{
    if (!db->stall_logged)
        lsm_db_log(db, LSM_LOG_DEBUG, "writes held: %s", why);
    db->stall_logged = 1;
    return ROOM_WAIT;
}

/* make_room's answer to a bulk head that should fsync the full
 * memtable's WAL outside the line before it switches it (queue_write).
 * Not an lsm_status. */
#define ROOM_PRESYNC 2

/* Makes room in the memtable for the head writer w (mu held): LSM_OK,
 * ROOM_WAIT, ROOM_PRESYNC or an error.  A full memtable is switched for a
 * new one unless every immutable memtable is still being flushed or level
 * 0, counting the memtables being flushed, is at its stop trigger; then
 * the head must wait (ROOM_WAIT).  But a
 * memtable that holds bulk writes is switched by a bulk write: one that
 * is not bulk goes into it, full, while it is under mem_limit plus the
 * slack, held or not.  A switch fsyncs the old WAL while
 * every writer waits; so a bulk head first fsyncs it outside the line
 * (ROOM_PRESYNC, once per switch, while writes that are not bulk go on
 * into the slack), and the switch's own fsync then has only what they
 * appended.  w NULL: force a switch of any non-empty memtable (lsm_flush). */
static int make_room(lsm_db *db, lsm_writer *w)
{
    int force = w == NULL, bulk = w && w->bulk, presynced = w && w->presynced;
    if (presynced) {
        w->presynced = 0;
        db->switch_presync = 0;
        pthread_cond_broadcast(&db->bg_cv);
    }
    if (db->bg_error)
        return bg_error_status(db);
    if (!force)
        lsm_space_check(db, 0);
    size_t used = lsm_memtable_bytes(db->mem);
    if (force ? lsm_memtable_empty(db->mem) : used < db->mem_limit)
        return LSM_OK;
    if (!force && !bulk && db->bulk_in_mem && used < db->mem_limit + mem_slack(db))
        return LSM_OK;
    /* Tables stuck behind a damaged one cannot be compacted: do not wait
     * for them (compaction.c). */
    size_t l0 = db->vs.current->nfiles[0] - lsm_l0_blocked(db);
    if (imm_full(db)) {
        if (db->flush_nospace)
            return lsm_fail(LSM_NO_SPACE, "%s: disk full: memtables cannot "
                            "be flushed until space is freed", db->dir);
        return room_wait(db, "every memtable is waiting to be flushed");
    }
    /* The memtables being flushed count as the level-0 tables they will
     * be, so level 0 never passes its stop trigger (unless their flushes
     * are out of space: then writes fail at the limit above instead). */
    if (level0_with_flushing(db) >= level0_stop(db)) {
        if (db->nospace && l0 >= level0_stop(db))
            return lsm_fail(LSM_NO_SPACE, "%s: disk full: level 0 cannot be "
                            "compacted until space is freed", db->dir);
        return room_wait(db, "level 0 is at its stop trigger");
    }
    if (db->switch_presync)
        return ROOM_WAIT;            /* the presyncing writer switches */
    if (bulk && !presynced && lsm_wal_can_presync(db->log)) {
        db->switch_presync = 1;
        return ROOM_PRESYNC;
    }
    return switch_memtable(db);
}

/* Write controller.  While level 0 is at its slowdown trigger S or above
 * (but below the stop trigger T, where writers are held), writes are
 * paced to a delayed-write rate that falls linearly with each level-0
 * table past S and rises again as compaction brings level 0 back:
 *
 *     rate = delayed_write_rate * (T - l0 + 1) / (T - S + 1)
 *
 * (the configured rate at l0 = S, 1/(T - S + 1) of it at l0 = T).  A
 * token bucket paces them (mu held, computed before the writer joins the
 * line, so nothing waits behind its sleep): wctl_next is the time by which
 * every byte admitted so far has been paid for at the rate; a write adds
 * bytes / rate to it, with at most WCTL_BURST_US of unused credit carried
 * (so a sleep that overshoots is paid back by the next writes instead of
 * lowering the rate, and a write after a pause goes at once).  A bulk
 * write owes the whole debt (wctl_next - now); any other write at most
 * its own cost, so metadata is never held behind the bytes of bulk writes
 * (and charges the bucket only while its debt is under WCTL_MAX_DEBT_US,
 * so what such writes leave unpaid cannot pile up on the bulk ones).  So
 * n writers that are not bulk go at most n times the rate.
 *
 * What is owed is paid in sleeps of at least WCTL_QUANTUM_US, as
 * RocksDB's controller sleeps at least its 1 ms refill interval: a write
 * that leaves the debt (bulk) or the sum the others owe (wctl_owed) under
 * it goes at once, and the one that takes it past sleeps all of it.  A
 * sleep costs some 60 µs more than asked (timer slack, the wake-up): a
 * 120-byte put paced to 16 MB/s owes 7.5 µs, so paying each write's cost
 * as it came made one write in ten slow while pacing lasted (0.18 % of
 * the writes of a 50M-key fill and overwrite: enough to set their p99.9);
 * in quanta, one in a few hundred is, by a millisecond, for the same
 * total pause.
 * write_delay returns the sleep in µs. */
#define WCTL_BURST_US 1000u
#define WCTL_QUANTUM_US 1000u    /* <= WCTL_BURST_US: an overpaid quantum
                                    comes back as credit */
#define WCTL_MAX_DEBT_US 50000u
#define WCTL_SLICE_US 100000u

uint64_t lsm_db_write_rate(lsm_db *db)
{
    size_t l0 = level0_with_flushing(db);
    size_t slow = (size_t)db->opt.level0_slowdown_trigger;
    size_t stop = level0_stop(db);
    if (l0 < slow || db->bg_error)
        return 0;
    if (l0 > stop)
        l0 = stop;
    double rate = (double)db->opt.delayed_write_rate * (double)(stop - l0 + 1) /
                  (double)(stop - slow + 1);
    return rate >= 1 ? (uint64_t)rate : 1;
}

static uint64_t write_delay(lsm_db *db, size_t bytes, int bulk)
{
    uint64_t rate = lsm_db_write_rate(db);
    if (rate == 0) {
        db->wctl_owed = 0;
        return 0;
    }
    uint64_t now = now_micros();
    uint64_t cost = (uint64_t)((double)bytes * 1e6 / (double)rate);
    if (db->wctl_next + WCTL_BURST_US < now) {
        db->wctl_next = now - WCTL_BURST_US;
        db->wctl_owed = 0;                  /* the pause paid it */
    }
    if (bulk || db->wctl_next < now + WCTL_MAX_DEBT_US)
        db->wctl_next += cost;
    uint64_t debt = db->wctl_next > now ? db->wctl_next - now : 0;
    if (bulk)
        return debt >= WCTL_QUANTUM_US ? debt : 0;
    /* Not cleared by a bulk write's sleep: past WCTL_MAX_DEBT_US the
     * others' shares are not in the debt that sleep pays. */
    uint64_t owed = db->wctl_owed + (debt < cost ? debt : cost);
    db->wctl_owed = owed < WCTL_QUANTUM_US ? owed : 0;
    return owed < WCTL_QUANTUM_US ? 0 : owed;
}

/* Paces a write of `bytes` (mu held, dropped for the sleep); counts the
 * time as slowdown time. */
static void slow_write(lsm_db *db, size_t bytes, int bulk)
{
    uint64_t delay = write_delay(db, bytes, bulk);
    if (delay == 0)
        return;
    uint64_t t0 = now_micros(), until = t0 + delay, now = t0;
    /* In slices, so a writer stops waiting once compaction has caught up
     * (no rate), on an error or at close. */
    while (now < until && lsm_db_write_rate(db) > 0 && !db->shutting_down) {
        uint64_t slice = until - now < WCTL_SLICE_US ? until - now : WCTL_SLICE_US;
        pthread_mutex_unlock(&db->mu);
        usleep((useconds_t)slice);
        pthread_mutex_lock(&db->mu);
        now = now_micros();
    }
    __atomic_add_fetch(&db->stats.slowdown_micros, now - t0,
                       __ATOMIC_RELAXED);
    __atomic_add_fetch(&db->stats.slowed_writes, 1, __ATOMIC_RELAXED);
}

/* Joins the batches of the writers queued behind the head into one
 * (mu held).  A sync write never joins a group led by a non-sync one, and
 * a group stays under MAX_GROUP_BYTES (less if the head is small, so
 * small writes are not delayed behind a large one).  Reclaiming and
 * ordinary writes never share a group: they differ on a full disk. */
static lsm_batch *build_group(lsm_db *db, lsm_writer **last)
{
    lsm_writer *head = db->writers;
    size_t size = lsm_batch_bytes(head->batch);
    size_t max = size <= (128u << 10) ? size + (128u << 10) : MAX_GROUP_BYTES;
    lsm_batch *result = head->batch;
    *last = head;
    for (lsm_writer *w = head->next; w; w = w->next) {
        if ((w->sync && !head->sync) || !w->batch || w->reclaim != head->reclaim ||
            w->held != head->held || (w->bulk && !head->bulk))
            break;
        size += lsm_batch_bytes(w->batch);
        if (size > max)
            break;
        if (result == head->batch) {
            lsm_batch_clear(db->group);
            if (lsm_batch_append(db->group, head->batch))
                break;
            result = db->group;
        }
        if (lsm_batch_append(result, w->batch))
            break;
        *last = w;
    }
    return result;
}

/* fdatasyncs the current WAL; ahead: writing zeros past its records
 * first (wal.h, lsm_wal_sync_ahead), left out on a nearly full disk
 * (lsm_space_low, judged by the caller under mu), where those bytes
 * could be the ones a flush needs. */
static int sync_log(lsm_db *db, int ahead)
{
    return ahead ? lsm_wal_sync_ahead(db->log) : lsm_wal_sync(db->log);
}

/* Appends the group to the WAL and inserts it (mu NOT held).  *clean is
 * set when a failure left the store as it was (nothing of the group in
 * the WAL or the memtable), so later writes may go on.  sync: 1 to sync
 * the WAL, 2 to sync it ahead (sync_log). */
static int apply_group(lsm_db *db, lsm_batch *group, int sync, int *clean)
{
    lsm_slice rep = lsm_buf_slice(&group->rep);
    int rc = lsm_wal_append(db->log, rep);
    *clean = rc != LSM_OK && !lsm_wal_broken(db->log);
    if (rc == LSM_OK && sync) {
        rc = lsm_blobs_sync(db->blobs);    /* blob bytes before the WAL */
        if (rc == LSM_OK)
            rc = sync_log(db, sync == 2);
        __atomic_add_fetch(&db->stats.wal_syncs, 1, __ATOMIC_RELAXED);
    } else if (rc == LSM_OK) {
        lsm_wal_start_writeback(db->log);
    }
    if (rc == LSM_OK)
        rc = lsm_batch_insert(rep, db->mem);
    __atomic_add_fetch(&db->stats.wal_bytes, rep.len, __ATOMIC_RELAXED);
    return rc;
}

/* Marks head..last done with status and wakes the next head (mu held). */
static void finish_writers(lsm_db *db, lsm_writer *last, int status)
{
    for (;;) {
        lsm_writer *w = db->writers;
        db->writers = w->next;
        w->status = status;
        w->done = 1;
        pthread_cond_signal(&w->cv);
        if (w == last)
            break;
    }
    db->group_last = NULL;
    if (!db->writers)
        db->writers_tail = NULL;
    else
        pthread_cond_signal(&db->writers->cv);
}

/* Queues a writer and waits to be done or to lead (mu held).  A bulk
 * writer joins at the tail (unless it comes back to switch the memtable
 * after a presync); any other goes ahead of the bulk writers
 * waiting behind the head and its group, after the other writers: so the
 * line is the head's group, then the writers that are not bulk, then the
 * bulk ones, each in the order they came. */
static void enqueue_writer(lsm_db *db, lsm_writer *w)
{
    w->done = 0;
    w->next = NULL;
    lsm_writer *prev = db->writers_tail;
    if ((!w->bulk || w->presynced) && db->writers) {
        prev = db->group_last ? db->group_last : db->writers;
        while (prev->next && !prev->next->bulk)
            prev = prev->next;
        w->next = prev->next;
    }
    if (prev)
        prev->next = w;
    else
        db->writers = w;
    if (!w->next)
        db->writers_tail = w;
    while (!w->done && db->writers != w)
        pthread_cond_wait(&w->cv, &db->mu);
}

/* The head leaves the line without being done (mu held): the next writer
 * leads. */
static void leave_head(lsm_db *db, lsm_writer *w)
{
    db->group_last = NULL;
    db->writers = w->next;
    if (!db->writers)
        db->writers_tail = NULL;
    else
        pthread_cond_signal(&db->writers->cv);
}

/* A writer that left the line waits for a flush or compaction to make
 * progress (mu held), then tries again.  Counted (as it starts, so a
 * writer held for good shows) and timed as a stall. */
static void wait_for_room(lsm_db *db)
{
    uint64_t t0 = now_micros();
    __atomic_add_fetch(&db->stats.stalled_writes, 1, __ATOMIC_RELAXED);
    if (!db->bg_error)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    __atomic_add_fetch(&db->stats.stall_micros, now_micros() - t0,
                       __ATOMIC_RELAXED);
}

/* What a queued writer asks of the head of the queue. */
enum { OP_WRITE, OP_SWITCH, OP_SWITCH_IDLE, OP_SYNC, OP_FLUSH_WAL };

/* Records the WAL's sizes for threads other than the head writer, which
 * owns db->log (mu held, by the head writer). */
static void note_log_size(lsm_db *db)
{
    db->log_bytes = lsm_wal_offset(db->log);
    db->log_file_bytes = lsm_wal_file_bytes(db->log);
}

/* OP_SWITCH_IDLE (mu held): switches a non-empty memtable only if that
 * needs no wait (a free immutable slot, level 0 below its slowdown
 * trigger, no presync of its WAL under way), so the compaction thread may
 * ask without waiting on itself. */
static int switch_if_free(lsm_db *db)
{
    if (db->bg_error || lsm_memtable_empty(db->mem) || db->switch_presync ||
        imm_full(db) ||
        db->vs.current->nfiles[0] >= (size_t)db->opt.level0_slowdown_trigger)
        return LSM_OK;
    return switch_memtable(db);
}

/* The head writer fsyncs the WAL for an OP_SYNC barrier, or writes out
 * its buffer for OP_FLUSH_WAL (mu held).  A barrier with no write since
 * the last completed WAL sync costs nothing.  A failure may have left
 * part of a record in the log: the store becomes read-only. */
static int sync_wal(lsm_db *db, int op)
{
    if (db->bg_error)
        return bg_error_status(db);
    uint64_t upto = db->vs.last_seq;   /* only the head applies writes */
    if (op == OP_SYNC && db->synced_seq == upto)
        return LSM_OK;
    int rc = lsm_db_sync_old_log(db);
    if (rc)
        return rc;
    int ahead = !lsm_space_low(db);
    pthread_mutex_unlock(&db->mu);
    rc = op == OP_SYNC ? lsm_blobs_sync(db->blobs) : LSM_OK;
    if (rc == LSM_OK)
        rc = op == OP_SYNC ? sync_log(db, ahead) : lsm_wal_flush(db->log);
    pthread_mutex_lock(&db->mu);
    note_log_size(db);                 /* a sync may write zeros ahead */
    if (op == OP_SYNC)
        __atomic_add_fetch(&db->stats.wal_syncs, 1, __ATOMIC_RELAXED);
    if (rc)
        lsm_db_set_bg_error(db, rc);
    else if (op == OP_SYNC)
        db->synced_seq = upto;
    return rc;
}

/* Group commit of barriers: the OP_SYNC writers queued right behind a
 * head that has just synced are done too (mu held).  Each asked for the
 * writes acknowledged before it queued; those were applied by earlier
 * heads, so before the head's fsync began, which therefore covers them. */
static lsm_writer *join_syncs(lsm_writer *last)
{
    while (last->next != NULL && last->next->op == OP_SYNC)
        last = last->next;
    return last;
}

/* The head writer appends its group (from build_group) to the WAL and
 * inserts it (mu held, dropped for the I/O).  *clean is set when a
 * failure left the store as it was. */
static int write_group(lsm_db *db, lsm_writer *head, lsm_batch *group,
                       int *clean)
{
    *clean = 1;
    if (head->sync) {                 /* the older WAL first (db.h) */
        int rc = lsm_db_sync_old_log(db);
        if (rc)
            return rc;
    }
    uint64_t seq = db->vs.last_seq + 1;
    if (seq + lsm_batch_count(group) - 1 > LSM_MAX_SEQ)
        return lsm_fail(LSM_INVALID, "%s: sequence numbers exhausted", db->dir);
    lsm_batch_set_seq(group, seq);
    int sync = head->sync ? 1 + !lsm_space_low(db) : 0;
    pthread_mutex_unlock(&db->mu);
    int rc = apply_group(db, group, sync, clean);
    pthread_mutex_lock(&db->mu);
    note_log_size(db);
    if (rc == LSM_OK) {
        db->bulk_in_mem |= head->bulk;
        /* Release: a reader that loads it (lsm_db_view_take) sees the
         * group's entries in the memtable. */
        __atomic_store_n(&db->vs.last_seq, seq + lsm_batch_count(group) - 1,
                         __ATOMIC_RELEASE);
        if (head->sync)   /* apply_group synced the WAL up to here */
            db->synced_seq = db->vs.last_seq;
        db->appended_since_check += lsm_batch_bytes(group);
        __atomic_store_n(&db->last_write_us, lsm_db_realtime_micros(),
                         __ATOMIC_RELAXED);
    } else if (!*clean) /* the WAL may hold a partial or unapplied record */
        lsm_db_set_bg_error(db, rc);
    __atomic_add_fetch(&db->stats.group_commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&db->stats.grouped_writes, lsm_batch_count(group),
                       __ATOMIC_RELAXED);
    return rc;
}

/* Waits for background work that gives space back (mu held): a space
 * pass in progress, else the flushes in progress (a flush deletes WALs
 * as large as the table it writes, and ends the memtables' claim on free
 * space), else a drop pass due or running (a flush of range deletions
 * asks for one: it drops the tables they cover), else a running
 * compaction whose claim alone keeps the write out (space.c).  1 if
 * there was such work and the store is still writable, so trying again
 * makes sense. */
static int wait_for_space(lsm_db *db, size_t bytes)
{
    uint64_t claim = db->compaction_claim;
    if (db->reclaim_pending) {
        while (db->reclaim_pending && !db->bg_error && !db->shutting_down)
            pthread_cond_wait(&db->bg_cv, &db->mu);
    } else if (db->nimm > 0 && !db->flush_nospace) {
        while (db->nimm > 0 && !db->flush_nospace && !db->bg_error &&
               !db->shutting_down)
            pthread_cond_wait(&db->bg_cv, &db->mu);
    } else if (db->drops_due || db->dropping) {
        while ((db->drops_due || db->dropping) && !db->bg_error &&
               !db->shutting_down)
            pthread_cond_wait(&db->bg_cv, &db->mu);
    } else if (claim > 0 && db->free_bytes + claim >=
                                lsm_space_owed(db) + 2 * (uint64_t)bytes) {
        while (db->compaction_claim == claim && !db->bg_error &&
               !db->shutting_down)
            pthread_cond_wait(&db->bg_cv, &db->mu);
    } else {
        return 0;
    }
    return !db->bg_error && !db->shutting_down;
}

/* A write ran out of space after deletions on a nearly full disk (mu
 * held, head writer): switches memtables so those deletions reach a
 * table, and asks for a space pass once that is flushed.  A failure asks
 * for nothing.  Asking only then lets one pass serve many deletions. */
static void request_reclaim(lsm_db *db)
{
    /* A writer is syncing the WAL, or the memtables being flushed are at
     * their limit (make_room's check): later, reclaim_more still set. */
    if (db->switch_presync || imm_full(db))
        return;
    db->reclaim_more = 0;
    if (switch_memtable(db) != LSM_OK)
        return;
    db->reclaim_pending = 1;
    db->reclaim_log = db->mem_log;
    lsm_hints_free(db->pass_hints);   /* no pass is running */
    db->pass_hints = db->hints;
    db->hints = NULL;
    pthread_cond_broadcast(&db->work_cv);
}

#define SPACE_RETRIES 3

/* The head writer's write (mu held).  A clean failure for lack of space
 * is tried again, at most SPACE_RETRIES times: by a reclaiming group
 * after giving the space reserve back, by any group after the space pass
 * or the flushes in progress have ended (wait_for_space).  A reclaiming
 * write is not held back by full memtables or by level 0 waiting for a
 * compaction that has no room: it goes into the current memtable. */
static int write_with_space(lsm_db *db, lsm_writer *head, lsm_writer **last)
{
    int released = 0;   /* this write gave the reserve back */
    for (int attempt = 0;; attempt++) {
        int clean = 1;
        *last = head;
        int rc = make_room(db, head);
        if (rc == ROOM_WAIT || rc == ROOM_PRESYNC)
            return rc;
        if (rc == LSM_NO_SPACE && head->reclaim && !db->bg_error)
            rc = LSM_OK;
        lsm_batch *group = rc == LSM_OK ? build_group(db, last) : NULL;
        if (group)
            db->group_last = *last;
        if (rc == LSM_OK && !head->reclaim)
            rc = lsm_space_admit(db, lsm_batch_bytes(group), head->held);
        int admitted = rc == LSM_OK;
        if (rc == LSM_OK)
            rc = write_group(db, head, group, &clean);
        if (rc == LSM_OK) {
            /* On a nearly full disk deletions are noted for a space pass,
             * which the first write to run out of space asks for, or this
             * one if it took the reserve: what is left of that is for the
             * flush the pass needs. */
            if (head->reclaim && (db->reclaim_pending || lsm_space_low(db)) &&
                lsm_space_note_deletions(db, group))
                db->reclaim_more = 1;
            if (released && db->reclaim_more && !db->reclaim_pending)
                request_reclaim(db);
            return rc;
        }
        if (rc != LSM_NO_SPACE || !clean || attempt == SPACE_RETRIES)
            return rc;
        if (admitted)   /* the WAL found the disk full */
            db->free_bytes = 0;
        int again = head->reclaim && lsm_space_release(db);
        released |= again;
        if (!again && db->reclaim_more && !db->reclaim_pending)
            request_reclaim(db);
        if (!again)
            again = wait_for_space(db, group ? lsm_batch_bytes(group) : 0);
        if (!again)
            return rc;
    }
}

/* Outside the line, for the switch that follows (mu held, dropped for
 * the I/O): fsyncs the previous WAL if the flush thread has not yet
 * (busy with a flush), so the switch need not; fsyncs the full
 * memtable's WAL while writers that are not bulk go on appending to it,
 * and makes the next WAL (created, its FOLLOWS mark and directory entry
 * synced) unless a spare one is waiting.  No switch runs meanwhile
 * (switch_presync), so db->log stays.  A failure to make the WAL leaves
 * it to the switch. */
static void presync_and_prepare(lsm_db *db)
{
    lsm_db_sync_old_log(db);
    lsm_wal_writer *log = db->log;
    uint64_t number = db->spare_log ? 0 : next_log_number(db);
    uint64_t reuse = number ? take_recycled(db) : 0;
    pthread_mutex_unlock(&db->mu);
    lsm_wal_presync(log);
    lsm_wal_writer *spare = NULL;
    if (number && new_log(db, number, reuse, &spare) != LSM_OK)
        spare = NULL;
    pthread_mutex_lock(&db->mu);
    if (spare) {
        db->spare_log = spare;
        db->spare_number = number;
    } else if (number) {
        db->retry_log_number = number;
    }
}

static int queue_write(lsm_db *db, int op, lsm_batch *batch, int flags)
{
    if (db->opt.read_only)
        return lsm_fail(LSM_INVALID, "%s was opened read-only", db->dir);
    lsm_writer w = { .batch = batch, .sync = (flags & LSM_SYNC) != 0,
                     .reclaim = (flags & LSM_RECLAIM) != 0,
                     .held = (flags & LSM_HELD) != 0, .op = op,
                     .bulk = op == OP_WRITE && (flags & LSM_BULK) != 0 };
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&db->mu);
    lsm_writer *last = &w;
    int rc;
    for (int slowed = op != OP_WRITE;; slowed = 1) {
        if (!slowed)
            slow_write(db, lsm_batch_bytes(batch), w.bulk);
        enqueue_writer(db, &w);
        if (w.done) {
            pthread_mutex_unlock(&db->mu);
            pthread_cond_destroy(&w.cv);
            return w.status;
        }
        rc = op == OP_SYNC || op == OP_FLUSH_WAL ? sync_wal(db, op)
             : op == OP_SWITCH      ? make_room(db, NULL)
             : op == OP_SWITCH_IDLE ? switch_if_free(db)
                                    : write_with_space(db, &w, &last);
        if (rc == ROOM_PRESYNC) {
            leave_head(db, &w);
            presync_and_prepare(db);
            w.presynced = 1;
            continue;
        }
        if (rc != ROOM_WAIT)
            break;
        leave_head(db, &w);
        wait_for_room(db);
    }
    if (op == OP_SYNC && rc == LSM_OK)
        last = join_syncs(last);
    finish_writers(db, last, rc);
    pthread_mutex_unlock(&db->mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

/* A batch's large puts, in order: their values (pointing into the
 * batch), then the references lsm_blobs_add_many gave them. */
typedef struct blob_split {
    lsm_db *db;
    lsm_slice *values;
    lsm_blob_ref *refs;
    size_t n, cap, next;
    lsm_batch *out;
    lsm_buf ref;
} blob_split;

static int is_large_put(const lsm_db *db, int kind, lsm_slice value)
{
    return kind == LSM_KIND_PUT && value.len >= db->opt.blob_min_bytes;
}

/* Collects the values of the batch's large puts into s->values. */
static int collect_large(void *ctx, uint64_t seq, int kind, lsm_slice key,
                         lsm_slice value)
{
    (void)seq, (void)key;
    blob_split *s = ctx;
    if (!is_large_put(s->db, kind, value))
        return LSM_OK;
    int rc = lsm_array_grow((void **)&s->values, &s->cap, s->n, sizeof *s->values);
    if (rc == LSM_OK)
        s->values[s->n++] = value;
    return rc;
}

/* Copies one operation into the split batch, a large put becoming a
 * reference to its value in the blob file (the next of s->refs). */
static int split_op(void *ctx, uint64_t seq, int kind, lsm_slice key,
                    lsm_slice value)
{
    (void)seq;
    blob_split *s = ctx;
    if (!is_large_put(s->db, kind, value))
        return lsm_batch_add(s->out, kind, key, value);
    lsm_buf_clear(&s->ref);
    int rc = lsm_blob_ref_encode(&s->refs[s->next++], &s->ref);
    return rc ? rc : lsm_batch_add(s->out, LSM_KIND_BLOB, key, lsm_buf_slice(&s->ref));
}

/* Does the batch hold a put the blob files take? */
static int has_large_put(void *ctx, uint64_t seq, int kind, lsm_slice key,
                         lsm_slice value)
{
    (void)seq, (void)key;
    return is_large_put(ctx, kind, value);
}

/* Queues b with every value in it (lsm_batch_inline): what the WAL and
 * the memtable take. */
static int queue_inline(lsm_db *db, lsm_batch *b, int flags)
{
    int rc = lsm_batch_inline(b);
    return rc == LSM_OK ? queue_write(db, OP_WRITE, b, flags) : rc;
}

/* Writes the batch's large values to the blob file, all at once, then
 * queues the batch with references in their place (s->out).  With no
 * room in the blob file the values stay in the batch b: the write then
 * meets the full disk in the write path, which asks for the space pass
 * and retries (write_with_space), as every write did before blob files. */
static int write_split(lsm_db *db, lsm_batch *b, blob_split *s, int flags)
{
    int rc = lsm_batch_each(b, collect_large, s);
    if (rc == LSM_OK && (s->refs = malloc(s->n * sizeof *s->refs)) == NULL)
        rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc == LSM_OK)
        rc = lsm_blobs_add_many(db->blobs, s->values, s->n, s->refs);
    if (rc == LSM_NO_SPACE)
        return queue_inline(db, b, flags);
    if (rc == LSM_OK)
        rc = lsm_batch_each(b, split_op, s);
    return rc == LSM_OK ? queue_write(db, OP_WRITE, s->out, flags) : rc;
}

/* Is the disk nearly full (space.c)?  Large values then stay inline: a
 * value appended to a blob file for a write the write path then refuses
 * would take space no edit names, so nothing would free it. */
static int space_low(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int low = lsm_space_low(db);
    pthread_mutex_unlock(&db->mu);
    return low;
}

int lsm_write(lsm_db *db, lsm_batch *b, int flags)
{
    if (!b)
        return lsm_fail(LSM_INVALID, "no batch given");
    if (lsm_batch_count(b) == 0)
        return LSM_OK;
    if (db->opt.read_only)
        return lsm_fail(LSM_INVALID, "%s was opened read-only", db->dir);
    __atomic_add_fetch(&db->stats.user_bytes,
                       lsm_batch_bytes(b) - LSM_BATCH_HEADER, __ATOMIC_RELAXED);
    if (!db->opt.blob_min_bytes || (flags & LSM_NO_BLOB) ||
        lsm_batch_each(b, has_large_put, db) != 1 || space_low(db))
        return queue_inline(db, b, flags);
    /* The values reach the blob file (write(2)) before the WAL record
     * naming them is appended (blob.c: durability). */
    blob_split s = { .db = db, .out = lsm_batch_new() };
    if (!s.out)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    /* The values' files are pinned until the memtable holds (and pins)
     * the references: garbage collection cannot delete them between. */
    lsm_blob_pin pin;
    lsm_blobs_pin_writes(db->blobs, &pin);
    int rc = write_split(db, b, &s, flags);
    lsm_blobs_unpin(db->blobs, &pin);
    free(s.values);
    free(s.refs);
    lsm_buf_free(&s.ref);
    lsm_batch_free(s.out);
    return rc;
}

/* Single-operation writes build a batch on the stack's heap buffer. */
static int write_one(lsm_db *db, int kind, const void *k, size_t klen,
                     const void *v, size_t vlen, int flags)
{
    lsm_batch b = { 0 };
    if (lsm_buf_reserve(&b.rep, LSM_BATCH_HEADER + klen + vlen + 24))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_batch_clear(&b);
    int rc = kind == LSM_KIND_PUT      ? lsm_batch_put(&b, k, klen, v, vlen)
             : kind == LSM_KIND_DELETE ? lsm_batch_delete(&b, k, klen)
                                       : lsm_batch_delete_range(&b, k, klen, v, vlen);
    if (rc == LSM_OK)
        rc = lsm_write(db, &b, flags);
    lsm_buf_free(&b.rep);
    return rc;
}

int lsm_put(lsm_db *db, const void *key, size_t klen, const void *val,
            size_t vlen, int flags)
{
    return write_one(db, LSM_KIND_PUT, key, klen, val, vlen, flags);
}

int lsm_delete(lsm_db *db, const void *key, size_t klen, int flags)
{
    return write_one(db, LSM_KIND_DELETE, key, klen, NULL, 0, flags);
}

int lsm_delete_range(lsm_db *db, const void *begin, size_t blen,
                     const void *end, size_t elen, int flags)
{
    return write_one(db, LSM_KIND_RANGE_DEL, begin, blen, end, elen, flags);
}

/* Every write acknowledged so far is durable, and no background error
 * waits to be reported (mu held). */
static int all_synced(const lsm_db *db)
{
    return !db->bg_error && db->synced_seq == db->vs.last_seq;
}

int lsm_synced(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int synced = all_synced(db);
    pthread_mutex_unlock(&db->mu);
    return synced;
}

/* With no writer in line no head is appending to db->log, so its
 * offsets are stable under mu (only the head writes them); a presync
 * (switch_presync) fdatasyncs it outside the line, and a sync would wait
 * behind that. */
uint64_t lsm_sync_pending(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t pending = UINT64_MAX;   /* also after a background error */
    if (all_synced(db))
        pending = 0;
    else if (!db->bg_error && !db->writers && !db->old_log && db->log &&
             !db->switch_presync && lsm_blobs_synced(db->blobs)) {
        pending = lsm_wal_sync_cost(db->log);
        pending += pending == 0;
    }
    pthread_mutex_unlock(&db->mu);
    return pending;
}

/* Writes are acknowledged only once applied (last_seq covers them), and
 * synced_seq only advances once the blob files and the WAL holding
 * writes up to it are fsync'd: equal, there is nothing to sync, and the
 * writers in line hold nothing acknowledged. */
int lsm_sync(lsm_db *db)
{
    if (!db->opt.read_only && lsm_synced(db))
        return LSM_OK;
    return queue_write(db, OP_SYNC, NULL, LSM_SYNC);
}

int lsm_flush_wal(lsm_db *db)
{
    if (!db->opt.manual_wal_flush)
        return LSM_OK;   /* every acknowledged write was written out */
    return queue_write(db, OP_FLUSH_WAL, NULL, 0);
}

void lsm_hold_compactions(lsm_db *db, int hold)
{
    pthread_mutex_lock(&db->mu);
    if (hold && !db->compactions_held)
        lsm_db_hold_compactions(db);
    else if (!hold && db->compactions_held)
        lsm_db_release_compactions(db);
    db->compactions_held = hold != 0;
    pthread_mutex_unlock(&db->mu);
}

int lsm_db_switch_idle(lsm_db *db)
{
    return queue_write(db, OP_SWITCH_IDLE, NULL, 0);
}

int lsm_flush(lsm_db *db)
{
    int rc = queue_write(db, OP_SWITCH, NULL, 0);
    pthread_mutex_lock(&db->mu);
    while (rc == LSM_OK && db->nimm > 0 && !db->bg_error && !db->nospace)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    if (rc == LSM_OK && db->bg_error)
        rc = bg_error_status(db);
    else if (rc == LSM_OK && db->nimm > 0)
        rc = lsm_fail(LSM_NO_SPACE, "%s: disk full: flush failed", db->dir);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* --- reads --------------------------------------------------------------------- */

/* The sequence number is loaded after the memtables and version are
 * taken, under view_mu: a write's entries reach its memtable before its
 * number is published (write_group), and that memtable stays in every
 * view until its table is in the current version (flush.c installs the
 * table first); and a version installed before view_mu was taken was
 * compacted with entries up to a number no later than this one, so it
 * holds no entry zeroed from a later write.  Between a flush's install
 * and its memtable's removal a view holds both, the same entries twice:
 * reads search memtables first, and merged equal entries read as one. */
void lsm_db_view_take(lsm_db *db, const lsm_snapshot *snapshot, lsm_read_view *rv)
{
    pthread_mutex_lock(&db->view_mu);
    rv->nmems = 0;
    rv->mems[rv->nmems++] = db->mem;
    for (int i = db->nimm; i-- > 0;)
        rv->mems[rv->nmems++] = db->imm[i];
    for (int i = 0; i < rv->nmems; i++)
        lsm_memtable_ref(rv->mems[i]);
    rv->version = db->vs.current;
    lsm_version_ref(rv->version);
    rv->seq = snapshot ? snapshot->seq
                       : __atomic_load_n(&db->vs.last_seq, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&db->view_mu);
}

void lsm_db_view_drop(lsm_db *db, lsm_read_view *rv)
{
    for (int i = 0; i < rv->nmems; i++)
        lsm_memtable_unref(rv->mems[i]);
    if (lsm_version_unref_if_shared(rv->version))
        return;
    pthread_mutex_lock(&db->mu);
    lsm_db_release_version(db, rv->version);
    pthread_mutex_unlock(&db->mu);
}

/* Newest visible version of key: LSM_KIND_PUT with the value in val,
 * LSM_KIND_BLOB with its reference in val,
 * LSM_KIND_DELETE, -1 (absent) or an error. */
static int view_get(lsm_read_view *rv, lsm_slice key, lsm_buf *val, int fill_cache)
{
    uint64_t max_tomb = 0;
    for (int i = 0; i < rv->nmems; i++) {
        uint64_t tomb = lsm_memtable_range_del_max_seq(rv->mems[i], key, rv->seq);
        if (tomb > max_tomb)
            max_tomb = tomb;
        uint64_t seq;
        int kind = lsm_memtable_get(rv->mems[i], key, rv->seq, val, &seq);
        if (kind < -1)
            return kind;
        if (kind >= 0)
            return lsm_kind_is_put(kind) && seq > max_tomb ? kind
                                                           : LSM_KIND_DELETE;
    }
    return lsm_version_get(rv->version, key, rv->seq, &max_tomb, val, fill_cache);
}

int lsm_get(lsm_db *db, const lsm_read_options *ro, const void *key,
            size_t klen, void **val, size_t *vlen)
{
    lsm_read_view rv;
    lsm_db_note_read(db);
    lsm_db_view_take(db, ro ? ro->snapshot : NULL, &rv);
    lsm_buf buf = { 0 };
    int kind = view_get(&rv, lsm_slice_make(key, klen), &buf,
                        !(ro && ro->no_fill_cache));
    if (kind == LSM_KIND_BLOB) {    /* in the view: its file is not deleted */
        lsm_buf ref = buf;
        buf = (lsm_buf){ 0 };
        int rc = lsm_blobs_read(db->blobs, lsm_buf_slice(&ref), &buf);
        lsm_buf_free(&ref);
        kind = rc ? rc : LSM_KIND_PUT;
    }
    lsm_db_view_drop(db, &rv);
    if (kind == LSM_KIND_PUT) {
        if (!buf.data && lsm_buf_reserve(&buf, 1)) /* empty value: non-NULL */
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        *val = buf.data;
        *vlen = buf.len;
        return LSM_OK;
    }
    lsm_buf_free(&buf);
    if (kind < -1)
        return kind;
    return LSM_NOT_FOUND;
}

uint64_t lsm_disk_bytes(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    uint64_t sum = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        sum += lsm_version_level_bytes(db->vs.current, l);
    sum += db->log_bytes;
    pthread_mutex_unlock(&db->mu);
    sum += lsm_blobs_bytes(db->blobs);
    return sum;
}
