/*
 * db_open.c — opening, recovering and closing a store.
 *
 * Open: refuse a directory that holds files but no CURRENT (not a store,
 * nothing is written to it); take the LOCK; read the manifest; give back
 * the space reserve of the last session (space.c); replay every WAL
 * numbered at or above the manifest's log number into memtables, writing
 * them out as level-0 tables; start a new WAL; record all of that in a
 * fresh manifest; delete what is obsolete; take the space reserve; start
 * background threads.
 *
 * On a nearly full disk (keep_logs) intact WALs are replayed into the
 * memtable without a table and without a manifest edit: they stay live
 * (the manifest's log number does not move) until the first flush, whose
 * edit retires them with the new WAL's predecessors.  Close never
 * flushes: the synced WALs hold the memtables, so it works on a full disk.
 *
 * WAL damage: a torn or corrupt tail of the newest WAL (nothing valid
 * after it) is dropped and logged — those writes were never acknowledged
 * as synced.  So is that of a WAL the next one FOLLOWS (db.h: sealed at
 * the switch, fsync'ed later); if such a WAL lost its SEALED mark, the
 * WALs after it are not replayed (a synced write in them would have
 * fsync'ed it first, so none was acknowledged as durable).  Damage
 * followed by valid records, or damage in an older WAL that no FOLLOWS
 * WAL comes after (fsync'ed before the next one was made), is corruption:
 * the store refuses to open unless opt.salvage, which keeps every record
 * that still checks out.  One exception: in a WAL whose tail may be lost,
 * damage in records written over zeros ahead that no later sync mark
 * shows synced (wal.h: `unsynced`) is a power cut's doing; replay keeps
 * the records before it, as for a torn tail.  Without salvage no record
 * after damage is replayed.
 */
#include "db.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena.h"
#include "error.h"
#include "filename.h"
#include "blob.h"
#include "write_batch.h"

/* A directory with a CURRENT file is a store.  One without is empty when
 * it holds nothing but what a failed creation leaves (LOCK, a MANIFEST,
 * CURRENT.tmp). */
int lsm_dir_state(const char *dir, const lsm_options *opt, int *state)
{
    lsm_env *env = opt != NULL && opt->env != NULL ? opt->env : lsm_env_posix();
    if (!env->exists(env, dir)) {
        *state = LSM_DIR_MISSING;
        return LSM_OK;
    }
    char **names;
    size_t n = 0;
    int rc = env->list_dir(env, dir, &names, &n);
    if (rc)
        return rc;
    int has_current = 0, nonempty = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t number;
        enum lsm_file_type t = lsm_parse_filename(names[i], &number);
        if (strcmp(names[i], "CURRENT") == 0)
            has_current = 1;
        else if (t != LSM_FILE_LOCK && t != LSM_FILE_MANIFEST &&
                 strcmp(names[i], "CURRENT.tmp") != 0)
            nonempty = 1;
    }
    lsm_env_free_names(names, n);
    *state = has_current ? LSM_DIR_STORE : nonempty ? LSM_DIR_OTHER : LSM_DIR_EMPTY;
    return LSM_OK;
}

static int prepare_dir(lsm_env *env, const char *dir, const lsm_options *o,
                       int *is_new)
{
    int state;
    int rc = lsm_dir_state(dir, o, &state);
    if (rc)
        return rc;
    if (state == LSM_DIR_OTHER)
        return lsm_fail(LSM_INVALID,
                        "%s is not an lsm store (it holds files but no CURRENT)",
                        dir);
    if (state != LSM_DIR_STORE && (!o->create_if_missing || o->read_only))
        return lsm_fail(LSM_INVALID, "%s: no such store", dir);
    if (state == LSM_DIR_MISSING && (rc = env->mkdir(env, dir)) != LSM_OK)
        return rc;
    *is_new = state != LSM_DIR_STORE;
    return LSM_OK;
}

static int check_options(const lsm_options *o)
{
    if (o->memtable_bytes < 4096 || o->block_bytes < 256 ||
        o->block_restart_interval < 1 || o->bloom_bits_per_key < 0 ||
        o->bloom_bits_per_key > 64 || o->max_immutable_memtables < 1 ||
        o->max_immutable_memtables >= LSM_MAX_IMM || o->max_open_files < 16 ||
        (o->compression != LSM_COMPRESS_NONE && o->compression != LSM_COMPRESS_ZSTD) ||
        o->flush_threads < 1 || o->compaction_threads < 1 ||
        o->background_nice < 0 || o->background_nice > 19 ||
        o->max_subcompactions < 1 || o->max_subcompactions > 16 ||
        o->subcompaction_bytes < 4096 ||
        o->flush_threads + o->compaction_threads > LSM_MAX_BG_THREADS ||
        o->level0_compaction_trigger < 1 ||
        o->level0_slowdown_trigger < o->level0_compaction_trigger ||
        o->level0_stop_trigger < o->level0_slowdown_trigger ||
        o->delayed_write_rate < 1024 || o->delayed_write_rate > (1ull << 40) ||
        o->level0_self_merge_percent < 0 || o->level0_self_merge_percent > 10000 ||
        o->level_multiplier < 2 || o->level1_bytes < 4096 ||
        o->target_file_bytes < 4096 || o->idle_compaction_ms < 0 ||
        o->space_amp_percent < 0 || o->compaction_style < LSM_COMPACTION_DEFAULT ||
        o->compaction_style > LSM_COMPACTION_TIERED || o->tiered_size_ratio < 0 ||
        o->tiered_min_merge_width < 2 || o->tiered_max_size_amp_percent < 1)
        return lsm_fail(LSM_INVALID, "invalid options");
    return LSM_OK;
}

static lsm_db *db_alloc(const char *dir, const lsm_options *o)
{
    lsm_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->dir = strdup(dir);
    db->opt = *o;
    db->env = o->env ? o->env : lsm_env_posix();
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->view_mu, NULL);
    pthread_mutex_init(&db->snap_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->work_cv, NULL);
    db->snapshots.next = db->snapshots.prev = &db->snapshots;
    db->block_cache = lsm_cache_new(o->cache_bytes ? o->cache_bytes : 1);
    db->group = lsm_batch_new();
    db->arena_pool = lsm_arena_pool_new(o->memtable_bytes);
    db->mem = db->arena_pool ? lsm_db_memtable_new(db) : NULL;
    db->mem_limit = o->memtable_bytes;
    db->free_bytes = UINT64_MAX;
    if (db->dir && db->block_cache && db->group && db->mem)
        db->tcache = lsm_table_cache_new(db->dir, db->env, o->max_open_files,
                                         db->block_cache, o->table_meta_in_cache);
    return db;
}

static void db_free(lsm_db *db)
{
    if (db->log)
        lsm_wal_writer_close(db->log);
    if (db->spare_log)              /* empty: replayed as nothing */
        lsm_wal_writer_close(db->spare_log);
    if (db->old_log)
        lsm_wal_writer_close(db->old_log);
    lsm_space_close(db);
    for (int i = 0; i < db->nimm; i++)
        lsm_memtable_unref(db->imm[i]);
    if (db->mem)
        lsm_memtable_unref(db->mem);
    lsm_arena_pool_unref(db->arena_pool);   /* after its memtables */
    if (db->vs.mu) {
        lsm_db_unpin_named(db);
        lsm_vset_destroy(&db->vs);
    }
    lsm_table_cache_free(db->tcache);
    lsm_blobs_close(db->blobs);
    if (db->block_cache)
        lsm_cache_free(db->block_cache);
    lsm_batch_free(db->group);
    if (db->lock)
        db->env->unlock(db->env, db->lock);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->view_mu);
    pthread_mutex_destroy(&db->snap_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->work_cv);
    free(db->pending);
    free(db->damaged);
    free(db->dir);
    free(db);
}

/* --- WAL replay ---------------------------------------------------------------- */

typedef struct replay {
    lsm_db *db;
    lsm_version_edit *edit;      /* level-0 tables written so far */
    uint64_t max_seq;
    int flushed;                 /* a full memtable was written out */
    int damaged;                 /* damage was dropped or salvaged */
    int sealed;                  /* the WAL being replayed ended sealed */
    int blob_lost;               /* a record named blob bytes that are gone */
} replay;

/* Writes db->mem as a level-0 table into the edit, and empties it. */
static int flush_recovered(replay *rp)
{
    lsm_db *db = rp->db;
    if (lsm_memtable_empty(db->mem))
        return LSM_OK;
    lsm_file_meta meta = { 0 };
    uint64_t number = lsm_vset_new_file_number(&db->vs);
    /* Named snapshots are pinned by now: their versions stay.  Without
     * any, only the newest version of each key is kept (vs.last_seq is
     * not yet past the replayed writes: it may not stand for "latest"). */
    uint64_t oldest = db->snapshots.next != &db->snapshots ? db->snapshots.next->seq
                                                           : LSM_MAX_SEQ;
    int rc = lsm_write_memtable_table(db, db->mem, number, oldest, &meta,
                                      &rp->edit->garbage);
    if (rc == LSM_OK && meta.size > 0)
        rc = lsm_edit_add_meta(rp->edit, 0, &meta);
    lsm_buf_free(&meta.smallest);
    lsm_buf_free(&meta.largest);
    free(meta.blob_files);       /* the table is read by blob_gc.c if needed */
    if (rc)
        return rc;
    lsm_memtable *fresh = lsm_db_memtable_new(db);
    if (!fresh)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_memtable_track_blobs(fresh, db->blobs);
    lsm_memtable_unref(db->mem);
    db->mem = fresh;
    return LSM_OK;
}

typedef struct blob_check {
    lsm_blobs *blobs;
    int salvage;
    lsm_buf scratch;
} blob_check;

/* 1 if a blob value the batch names is short or damaged in the newest
 * blob file (power loss took its unsynced bytes: only that file can have
 * any, blob.c), LSM_CORRUPTION if in an older one (damage, not a torn
 * tail; with salvage it ends the replay too), another lsm_status if it
 * cannot be read, else LSM_OK. */
static int blob_lost(void *ctx, uint64_t seq, int kind, lsm_slice key,
                     lsm_slice value)
{
    (void)seq, (void)key;
    blob_check *bc = ctx;
    if (kind != LSM_KIND_BLOB)
        return LSM_OK;
    int rc = lsm_blobs_read(bc->blobs, value, &bc->scratch);
    if (rc != LSM_CORRUPTION)
        return rc;
    lsm_blob_ref r;
    if (bc->salvage || (lsm_blob_ref_decode(value, &r) &&
                        r.file == lsm_blobs_newest(bc->blobs)))
        return 1;
    return lsm_fail(LSM_CORRUPTION, "%s before the newest blob file; open "
                    "with salvage to keep the writes before it", lsm_last_error());
}

static int replay_record(replay *rp, lsm_slice rec, const char *name)
{
    int mark = lsm_db_record_mark(rec);
    rp->sealed = mark == LSM_MARK_SEALED;
    if (mark)
        return LSM_OK;
    blob_check bc = { .blobs = rp->db->blobs, .salvage = rp->db->opt.salvage };
    int lost = lsm_batch_iterate(rec, blob_lost, &bc);
    lsm_buf_free(&bc.scratch);
    if (lost < 0)
        return lost == LSM_CORRUPTION ? lsm_fail(lost, "%s: %s", name,
                                                 lsm_last_error()) : lost;
    if (lost == 1) {
        /* Power loss kept the WAL record but not the unsynced blob bytes
         * it names (blob.c): the replay ends here, as at a torn tail. */
        lsm_db_log(rp->db, LSM_LOG_WARNING, "%s: a record names blob bytes "
                   "lost with its unsynced write: replay stops there", name);
        rp->blob_lost = 1;
        return LSM_OK;
    }
    int rc = lsm_batch_insert(rec, rp->db->mem);
    if (rc == LSM_CORRUPTION)
        return lsm_fail(rc, "%s: %s", name, lsm_last_error());
    if (rc)
        return rc;
    uint64_t count = lsm_decode_fixed32(rec.data + 8);
    uint64_t last = lsm_decode_fixed64(rec.data) + (count ? count - 1 : 0);
    if (last > rp->max_seq)
        rp->max_seq = last;
    /* Twice the memtable size: a store closed with its memtable full
     * (the switch happens at the next write) replays without a flush. */
    if (lsm_memtable_bytes(rp->db->mem) >= 2 * rp->db->opt.memtable_bytes &&
        !rp->db->opt.read_only) {
        rp->flushed = 1;
        return flush_recovered(rp);
    }
    return LSM_OK;
}

/* Judges the damage a WAL reader met (see the header comment); unsynced:
 * d->unsynced, unless a later WAL proves this one synced. */
static int judge_damage(lsm_db *db, const lsm_wal_damage *d, const char *name,
                        int newest, int unsynced)
{
    if (!d->regions)
        return LSM_OK;
    if (!d->before_tail && newest) {
        lsm_db_log(db, LSM_LOG_INFO, "%s: dropped a torn tail of %llu bytes at offset %llu (%s)",
                   name, (unsigned long long)d->dropped_bytes,
                   (unsigned long long)d->first_offset, d->first_reason);
        return LSM_OK;
    }
    if (unsynced && newest && !db->opt.salvage) {
        lsm_db_log(db, LSM_LOG_WARNING, "%s: dropped %llu record(s) (%llu bytes) from offset %llu "
                   "on: written over zeros ahead and not synced, a crash left them out of "
                   "order (%s)", name, (unsigned long long)d->withheld_records,
                   (unsigned long long)d->withheld_bytes,
                   (unsigned long long)d->first_offset, d->first_reason);
        return LSM_OK;
    }
    if (db->opt.salvage) {
        lsm_db_log(db, LSM_LOG_WARNING, "%s: salvage skipped %llu damaged bytes in %d region(s) from offset %llu (%s)",
                   name, (unsigned long long)d->dropped_bytes, d->regions,
                   (unsigned long long)d->first_offset, d->first_reason);
        return LSM_OK;
    }
    return lsm_fail(LSM_CORRUPTION,
                    "%s: corrupt record at offset %llu (%s) before the end of "
                    "the log; open with salvage to keep what is readable",
                    name, (unsigned long long)d->first_offset, d->first_reason);
}

static int log_has_mark(lsm_db *db, uint64_t number);

/* Replays WAL `number`.  tail_may_be_lost: it is the newest, or the
 * next one FOLLOWS it (it was not fsync'ed at the switch), so a torn tail
 * is no corruption.  next: the WAL after it, 0 if none. */
static int replay_log(replay *rp, uint64_t number, int tail_may_be_lost,
                      uint64_t next)
{
    lsm_db *db = rp->db;
    char *path = lsm_filename(db->dir, LSM_FILE_LOG, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    const char *name = strrchr(path, '/') + 1;
    lsm_file *f;
    lsm_wal_reader *r = NULL;
    int rc = db->env->open_read(db->env, path, &f);
    if (rc == LSM_OK)
        rc = lsm_wal_reader_new(f, name, &r);
    if (rc == LSM_OK)
        lsm_wal_reader_set_log(r, number);
    if (rc == LSM_OK && !db->opt.salvage)
        lsm_wal_reader_stop_at_damage(r);   /* a prefix, or refused */
    lsm_slice rec;
    int got = 0;
    rp->sealed = 0;
    while (rc == LSM_OK && !rp->blob_lost && (got = lsm_wal_read(r, &rec)) == 1)
        rc = replay_record(rp, rec, name);
    if (rc == LSM_OK && got < 0)
        rc = got;
    if (rc == LSM_OK) {
        const lsm_wal_damage *d = lsm_wal_reader_damage(r);
        rp->damaged |= d->regions > 0;
        int unsynced = d->unsynced && !(next && log_has_mark(db, next));
        rc = judge_damage(db, d, name, tail_may_be_lost, unsynced);
    }
    if (r)
        lsm_wal_reader_free(r);
    free(path);
    return rc;
}

/* A reader on WAL `number`, or NULL if it cannot be read. */
static lsm_wal_reader *open_log(lsm_db *db, uint64_t number)
{
    char *path = lsm_filename(db->dir, LSM_FILE_LOG, number);
    lsm_file *f;
    lsm_wal_reader *r = NULL;
    if (path && db->env->open_read(db->env, path, &f) == LSM_OK &&
        lsm_wal_reader_new(f, path, &r) != LSM_OK)
        r = NULL;
    if (r)
        lsm_wal_reader_set_log(r, number);
    free(path);
    return r;
}

/* How a WAL starts: no valid record at all, a FOLLOWS mark (db.h), or
 * anything else (also when it cannot be read: its replay reports why). */
enum { LOG_EMPTY, LOG_PLAIN, LOG_FOLLOWS };
static int log_start(lsm_db *db, uint64_t number)
{
    lsm_wal_reader *r = open_log(db, number);
    if (!r)
        return LOG_PLAIN;
    lsm_slice rec;
    int got = lsm_wal_read(r, &rec);
    /* No record but damage before the tail (records that verify were
     * dropped with it) is no spare: its replay judges it. */
    int start = got == 0 && !lsm_wal_reader_damage(r)->before_tail ? LOG_EMPTY
                : got == 1 && lsm_db_record_mark(rec) == LSM_MARK_FOLLOWS ? LOG_FOLLOWS
                                                                          : LOG_PLAIN;
    lsm_wal_reader_free(r);     /* rec points into it */
    return start;
}

/* Does WAL `number` hold a SYNC mark that a sync of it preceded
 * (lsm_wal_reader_marks)?  One proves every older WAL synced whole: the
 * syncs that write such marks sync the older WAL first (db.c:
 * lsm_db_sync_old_log).  Read only when damage is to be judged. */
static int log_has_mark(lsm_db *db, uint64_t number)
{
    lsm_wal_reader *r = open_log(db, number);
    lsm_slice rec;
    while (r && lsm_wal_reader_marks(r) == 0 && lsm_wal_read(r, &rec) == 1)
        ;
    int has = r && lsm_wal_reader_marks(r) > 0;
    lsm_wal_reader_free(r);
    return has;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Numbers of the WALs at or above min, ascending. */
static int list_logs(lsm_db *db, uint64_t min, uint64_t **out, size_t *n)
{
    char **names;
    size_t cnt;
    int rc = db->env->list_dir(db->env, db->dir, &names, &cnt);
    if (rc)
        return rc;
    uint64_t *logs = malloc((cnt ? cnt : 1) * sizeof *logs);
    size_t k = 0;
    for (size_t i = 0; logs && i < cnt; i++) {
        uint64_t number;
        if (lsm_parse_filename(names[i], &number) == LSM_FILE_LOG && number >= min)
            logs[k++] = number;
    }
    lsm_env_free_names(names, cnt);
    if (!logs)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    qsort(logs, k, sizeof *logs, cmp_u64);
    *out = logs;
    *n = k;
    return LSM_OK;
}

/* May the replayed WALs stay the record of what the memtable holds,
 * instead of a level-0 table?  Only when they are intact (a dropped torn
 * tail must not be followed by a newer WAL before the manifest says so)
 * and the disk is short of room for the table: then the store opens on a
 * full disk.  Otherwise the table is written, so WALs never pile up over
 * reopens. */
static int keep_logs(lsm_db *db, const replay *rp)
{
    if (rp->flushed || rp->damaged || lsm_memtable_empty(db->mem))
        return 0;
    uint64_t free_bytes;
    if (db->env->free_space(db->env, db->dir, &free_bytes) != LSM_OK)
        return 0;
    return free_bytes < 2 * (uint64_t)lsm_memtable_bytes(db->mem) +
                            db->opt.reserve_bytes;
}

/* Records the WAL format alone (mu held): the replayed WALs stay live
 * (keep_logs), but the WAL made next is in the recyclable format. */
static int record_wal_format(lsm_db *db)
{
    lsm_version_edit edit;
    lsm_edit_init(&edit);
    edit.wal_format = LSM_WAL_FORMAT_RECYCLABLE;
    int rc = lsm_vset_log_and_apply(&db->vs, &edit);
    lsm_edit_free(&edit);
    return rc;
}

/* Replays WALs, starts the new WAL and logs the new state (mu not held).
 * With keep_logs() nothing is logged: the manifest's log number stays,
 * so the replayed WALs stay live until the first flush retires them. */
static int recover_logs(lsm_db *db)
{
    uint64_t *logs = NULL;
    size_t n = 0;
    int rc = list_logs(db, db->vs.log_number, &logs, &n);
    if (rc)
        return rc;
    lsm_version_edit edit;
    lsm_edit_init(&edit);
    replay rp = { .db = db, .edit = &edit, .max_seq = db->vs.last_seq };
    if (n > 0 && logs[n - 1] >= db->vs.next_file)
        db->vs.next_file = logs[n - 1] + 1;
    /* WALs with no valid record after the last one that has one are a
     * spare never used or one whose making failed (db.c: new_log): the
     * last one with a record is the newest.  One that lost everything
     * before a WAL that FOLLOWS it stops the replay like any unsealed one. */
    size_t last = n;
    while (last > 1 && log_start(db, logs[last - 1]) == LOG_EMPTY)
        last--;
    for (size_t i = 0; rc == LSM_OK && i < last; i++) {
        int follows = i + 1 < last && log_start(db, logs[i + 1]) == LOG_FOLLOWS;
        rc = replay_log(&rp, logs[i], i + 1 == last || follows,
                        i + 1 < last ? logs[i + 1] : 0);
        if (rc == LSM_OK && rp.blob_lost) {
            rp.damaged = 1;   /* the edit below retires every WAL */
            break;
        }
        if (rc == LSM_OK && follows && !rp.sealed) {
            /* Its tail (and seal) was lost: what follows is no prefix.
             * Not kept (damaged): the edit below retires those WALs. */
            lsm_db_log(db, LSM_LOG_INFO, "%06llu.log has no seal: its tail was "
                       "lost; %zu newer WAL(s) not replayed",
                       (unsigned long long)logs[i], n - i - 1);
            rp.damaged = 1;
            break;
        }
    }
    free(logs);
    db->vs.last_seq = rp.max_seq;
    if (db->opt.read_only) {           /* everything stays in memory */
        lsm_edit_free(&edit);
        return rc;
    }
    int keep = rc == LSM_OK && keep_logs(db, &rp);
    if (keep)
        lsm_db_log(db, LSM_LOG_WARNING, "disk nearly full: the recovered WAL(s) stay live "
                   "until the next flush");
    else if (rc == LSM_OK)
        rc = flush_recovered(&rp);
    uint64_t number = lsm_vset_new_file_number(&db->vs);
    db->mem_log = number;
    edit.has_log_number = 1;
    edit.log_number = number;
    edit.wal_format = LSM_WAL_FORMAT_RECYCLABLE;   /* before such a WAL */
    /* Commit before creating WAL `number`: a failure in between must not
     * leave a newer WAL behind a replayed one with a dropped torn tail. */
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK && !keep)
        rc = lsm_vset_log_and_apply(&db->vs, &edit); /* also syncs the dir */
    else if (rc == LSM_OK && !db->vs.wal_format)
        rc = record_wal_format(db);
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK) {
        char *path = lsm_filename(db->dir, LSM_FILE_LOG, number);
        lsm_file *f;
        rc = path ? db->env->open_write(db->env, path, &f) : LSM_NO_MEMORY;
        free(path);
        if (rc == LSM_OK)
            rc = lsm_wal_writer_new_log(f, number, lsm_wal_new_id(), 0, &db->log);
        if (rc == LSM_OK) {
            db->own_logs_from = number;
            lsm_wal_set_manual_flush(db->log, db->opt.manual_wal_flush);
            rc = db->env->sync_dir(db->env, db->dir);
        }
    }
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK)
        lsm_db_delete_obsolete(db, 1);
    pthread_mutex_unlock(&db->mu);
    lsm_edit_free(&edit);
    return rc;
}

/* After reading the manifest: every table it names must exist, and the
 * WAL it says holds the oldest unflushed writes must exist unless no WAL
 * does.  A missing one means acknowledged data is gone — typically a
 * damaged last manifest edit taken for a torn tail — so the open is
 * refused rather than serving stale data. */
static int check_files_present(lsm_db *db)
{
    lsm_version *v = db->vs.current;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            char *path = lsm_filename(db->dir, LSM_FILE_TABLE, v->files[l][i]->number);
            int present = path && db->env->exists(db->env, path);
            free(path);
            if (!present)
                return lsm_fail(LSM_CORRUPTION, "%s: table %06llu.sst named by "
                                "the manifest is missing", db->dir,
                                (unsigned long long)v->files[l][i]->number);
        }
    uint64_t *logs = NULL;
    size_t n = 0;
    int rc = list_logs(db, db->vs.log_number, &logs, &n);
    if (rc == LSM_OK && n > 0 && logs[0] != db->vs.log_number &&
        db->vs.log_number != 0)
        rc = lsm_fail(LSM_CORRUPTION, "%s: WAL %06llu named by the manifest is "
                      "missing while newer WALs exist", db->dir,
                      (unsigned long long)db->vs.log_number);
    free(logs);
    return rc;
}

/* Adds n to the calling thread's nice value (Linux: PRIO_PROCESS with a
 * thread id names that thread alone).  Best effort: lowering needs no
 * privilege, and a failure (a sandbox refusing the call) only leaves the
 * thread at the opener's priority.  mount/prio.c has the same few lines
 * (mnt_prio_lower): the FUSE floor (tests/tools/fuse_floor.c) builds the
 * request loop without the engine. */
static void lower_thread_priority(int n)
{
    if (n <= 0)
        return;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    (void)setpriority(PRIO_PROCESS, tid, cur + n > 19 ? 19 : cur + n);
}

/* What a background thread is told as it starts.  The starter waits on
 * ready until the thread has taken its name and priority, so once
 * lsm_open returns every background thread runs as the options say. */
struct bg_start {
    lsm_db *db;
    int flush;                     /* a flush thread, else compaction */
    sem_t ready;
};

/* Names the thread, lowers its priority (best effort: a sandbox refusing
 * it leaves the opener's), lets the starter go on, then works.  A
 * compaction's range threads inherit the lowered priority (a new thread
 * starts with its creator's nice value). */
static void *bg_thread(void *arg)
{
    struct bg_start *st = arg;
    lsm_db *db = st->db;
    int flush = st->flush;
    pthread_setname_np(pthread_self(), flush ? "lsm-flush" : "lsm-compact");
    lower_thread_priority(db->opt.background_nice);
    sem_post(&st->ready);          /* st is gone after this */
    return flush ? lsm_flush_thread(db) : lsm_compaction_thread(db);
}

/* Memtable chunks kept mapped ahead of the live memtable (arena.c,
 * warming ahead): 2 MiB, at most a quarter of memtable_bytes (none under
 * 4 MiB). */
#define WARM_AHEAD_BYTES ((size_t)2 << 20)

static int start_threads(lsm_db *db)
{
    size_t warm = db->opt.memtable_bytes / 4;
    (void)lsm_arena_pool_warm(db->arena_pool,
                              warm < WARM_AHEAD_BYTES ? warm : WARM_AHEAD_BYTES);
    struct bg_start st = { .db = db };
    if (sem_init(&st.ready, 0, 0) != 0)
        return lsm_fail(LSM_NO_MEMORY, "cannot start a background thread");
    int rc = LSM_OK;
    for (int i = 0; i < db->opt.flush_threads + db->opt.compaction_threads; i++) {
        st.flush = i < db->opt.flush_threads;
        if (pthread_create(&db->threads[i], NULL, bg_thread, &st) != 0) {
            rc = lsm_fail(LSM_NO_MEMORY, "cannot start a background thread");
            break;
        }
        db->nthreads++;
        while (sem_wait(&st.ready) != 0)
            ;                      /* EINTR */
    }
    sem_destroy(&st.ready);
    return rc;
}

static void stop_threads(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    __atomic_store_n(&db->shutting_down, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&db->work_cv);
    pthread_cond_broadcast(&db->bg_cv);
    pthread_mutex_unlock(&db->mu);
    for (int i = 0; i < db->nthreads; i++)
        pthread_join(db->threads[i], NULL);
    db->nthreads = 0;
}

static const char *style_name(int style)
{
    return style == LSM_COMPACTION_TIERED ? "tiered" : "leveled";
}

/* Settles the compaction style after the manifest is read: DEFAULT takes
 * the store's (leveled if none is recorded).  Another one converts the
 * store: vs.style changes, so the next manifest written (at the latest
 * with the first flush) records it; if the process dies first, the next
 * open converts again.  No table is rewritten — any level shape is valid
 * for either picker, which reshapes it as it compacts. */
static void settle_style(lsm_db *db, int is_new)
{
    int recorded = db->vs.style ? db->vs.style : LSM_COMPACTION_LEVELED;
    int want = db->opt.compaction_style;
    if (want == LSM_COMPACTION_DEFAULT)
        want = is_new ? LSM_COMPACTION_LEVELED : recorded;
    if (!is_new && want != recorded)
        lsm_db_log(db, LSM_LOG_INFO, "%s: converting from %s to %s compaction%s",
                   db->dir, style_name(recorded), style_name(want),
                   db->opt.read_only ? " (not recorded: read-only)" : "");
    db->opt.compaction_style = want;
    if (!db->opt.read_only)
        db->vs.style = want;
}

int lsm_open(const char *dir, const lsm_options *opt, lsm_db **out)
{
    lsm_options defaults;
    if (!opt) {
        lsm_options_init(&defaults);
        opt = &defaults;
    }
    if (!dir || !*dir || !out)
        return lsm_fail(LSM_INVALID, "no store directory given");
    int rc = check_options(opt);
    if (rc)
        return rc;
    lsm_db *db = db_alloc(dir, opt);
    if (!db || !db->tcache) {
        if (db)
            db_free(db);
        return lsm_fail(LSM_NO_MEMORY, "out of memory opening %s", dir);
    }
    int is_new = 0;
    rc = prepare_dir(db->env, dir, opt, &is_new);
    if (rc == LSM_OK) {
        char *lockpath = lsm_filename(dir, LSM_FILE_LOCK, 0);
        rc = lockpath ? db->env->lock(db->env, lockpath, opt->lock_note, &db->lock)
                      : LSM_NO_MEMORY;
        free(lockpath);
    }
    if (rc == LSM_OK)
        rc = lsm_vset_init(&db->vs, db->dir, db->env, db->tcache, &db->mu,
                           &db->view_mu);
    if (rc == LSM_OK && is_new)
        settle_style(db, is_new);
    if (rc == LSM_OK)
        rc = is_new ? lsm_vset_create(&db->vs)
                    : lsm_vset_recover(&db->vs, opt->log, opt->log_ctx);
    if (rc == LSM_OK && !is_new)
        settle_style(db, is_new);
    if (rc == LSM_OK && !is_new)
        rc = check_files_present(db);
    if (rc == LSM_OK)
        rc = lsm_db_pin_named(db);   /* before recovery flushes anything */
    if (rc == LSM_OK && !opt->read_only)
        lsm_space_drop_old(db);
    if (rc == LSM_OK)
        rc = lsm_blobs_open(db->env, db->dir, opt->blob_file_bytes,
                            opt->read_only, &db->blobs);
    if (rc == LSM_OK) {
        lsm_memtable_track_blobs(db->mem, db->blobs);
        lsm_blob_gc_forget_deleted(db);     /* figures of files gone */
    }
    if (rc == LSM_OK)
        rc = recover_logs(db);
    if (rc == LSM_OK && !opt->read_only) {
        /* Every reference the WALs hold is in a (pinned) memtable now. */
        lsm_blobs_enable_gc(db->blobs);
        lsm_space_open(db);
        /* The open counts as the last write: idle work waits one idle
         * period for the opener's first requests, rather than starting
         * rewrites at once that those would then run beside. */
        db->last_write_us = lsm_db_realtime_micros();
        rc = start_threads(db);
    }
    if (rc) {
        char msg[512];
        lsm_error_copy(msg, sizeof msg);
        stop_threads(db);
        db_free(db);
        return lsm_fail(rc, "%s", msg);
    }
    *out = db;
    return LSM_OK;
}

int lsm_close(lsm_db *db)
{
    if (!db)
        return LSM_OK;
    stop_threads(db);
    int rc = db->blobs ? lsm_blobs_sync(db->blobs) : LSM_OK; /* before WALs */
    if (rc == LSM_OK)
        rc = db->old_log ? lsm_wal_sync_final(db->old_log) : LSM_OK;
    /* A sync of the newer WAL appends a mark that proves the older one
     * synced whole (db_open.c, log_has_mark): not while it is not. */
    int rc2 = db->log && (rc == LSM_OK || !db->old_log)
                  ? lsm_wal_sync_final(db->log) : LSM_OK;
    if (rc == LSM_OK)
        rc = rc2;
    if (!db->opt.read_only) {
        pthread_mutex_lock(&db->mu);
        lsm_db_delete_obsolete(db, 0);
        lsm_db_drop_recycled(db);
        pthread_mutex_unlock(&db->mu);
    }
    db_free(db);
    return rc;
}
