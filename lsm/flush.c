/*
 * flush.c — turning full memtables into level-0 tables, on the flush
 * thread(s).
 *
 * Memtables are flushed oldest first and one at a time, so level 0's file
 * numbers stay in the order of the data's age (reads search level 0 from
 * the highest number down).  A flush never waits for a compaction: it
 * only needs the manifest, which compactions hold for an append and fsync.
 */
#include "blob.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "filename.h"
#include "ikey.h"
#include "range_del.h"

lsm_table_options lsm_db_table_options(const lsm_options *o)
{
    lsm_table_options t = {
        .block_bytes = o->block_bytes,
        .restart_interval = o->block_restart_interval,
        .bloom_bits_per_key = o->bloom_bits_per_key,
        .compression = o->compression,
        .zstd_level = o->zstd_level,
    };
    return t;
}

/* Keeps meta's [smallest, largest] covering key. */
static int widen(lsm_file_meta *meta, lsm_slice key)
{
    if (meta->smallest.len == 0 ||
        lsm_ikey_cmp(key, lsm_buf_slice(&meta->smallest)) < 0) {
        lsm_buf_clear(&meta->smallest);
        if (lsm_buf_append(&meta->smallest, key.data, key.len))
            return LSM_NO_MEMORY;
    }
    if (meta->largest.len == 0 ||
        lsm_ikey_cmp(key, lsm_buf_slice(&meta->largest)) > 0) {
        lsm_buf_clear(&meta->largest);
        if (lsm_buf_append(&meta->largest, key.data, key.len))
            return LSM_NO_MEMORY;
    }
    return LSM_OK;
}

/* A range deletion [begin, end) widens the bounds to cover end too, as
 * the key (end, max seq) — conservatively, since end itself is excluded. */
static int add_range_dels(lsm_table_builder *b, lsm_memtable *m,
                          lsm_file_meta *meta)
{
    lsm_iiter *it = lsm_memtable_range_del_iter(m);
    if (!it)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = LSM_OK;
    lsm_buf end_key = { 0 };
    for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
         lsm_iiter_next(it)) {
        lsm_ikey k;
        lsm_slice key = lsm_iiter_key(it), end = lsm_iiter_value(it);
        if (!lsm_ikey_parse(key, &k)) {
            rc = lsm_fail(LSM_CORRUPTION, "malformed range deletion");
            break;
        }
        rc = lsm_table_builder_add_range_del(b, k.user, end, k.seq);
        lsm_buf_clear(&end_key);
        if (rc == LSM_OK)
            rc = lsm_ikey_append(&end_key, end, LSM_MAX_SEQ, LSM_KIND_SEEK);
        if (rc == LSM_OK)
            rc = widen(meta, key);
        if (rc == LSM_OK)
            rc = widen(meta, lsm_buf_slice(&end_key));
        meta->entries++;
    }
    if (rc == LSM_OK)
        rc = lsm_iiter_status(it);
    lsm_buf_free(&end_key);
    lsm_iiter_free(it);
    return rc;
}

/* Is this entry hidden from every reader?  Versions of a key arrive
 * newest first; one is hidden when a newer version of its key is visible
 * to the oldest snapshot (LevelDB's rule).  Deletions are kept: older
 * tables may still hold the key.  (Entries under the memtable's own range
 * deletions: range_deleted.) */
static int hidden_version(lsm_slice ikey, lsm_buf *prev_user, uint64_t *prev_seq,
                          uint64_t oldest_snapshot)
{
    lsm_ikey k;
    if (!lsm_ikey_parse(ikey, &k))
        return 0;
    int same = prev_user->len == k.user.len &&
               lsm_slice_cmp(lsm_buf_slice(prev_user), k.user) == 0;
    int hidden = same && *prev_seq <= oldest_snapshot;
    if (!same) {
        lsm_buf_clear(prev_user);
        if (lsm_buf_append(prev_user, k.user.data, k.user.len))
            return 0;
    }
    *prev_seq = k.seq;
    return hidden;
}

/* The memtable's range deletions every snapshot sees, indexed; NULL if
 * it has none (*rc set on failure). */
static lsm_range_dels *visible_range_dels(lsm_memtable *m, uint64_t oldest_snapshot,
                                          int *rc)
{
    uint64_t ranges;
    lsm_memtable_deletions(m, &ranges);
    if (ranges == 0)
        return NULL;
    lsm_iiter *it = lsm_memtable_range_del_iter(m);
    if (!it) {
        *rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
        return NULL;
    }
    return lsm_range_dels_build(&it, 1, oldest_snapshot, rc);
}

/* Is this entry under a range deletion of its own memtable that every
 * snapshot sees?  Then no reader can see it: it is left out (the deletion
 * itself is written, for older tables). */
static int range_deleted(const lsm_range_dels *rd, lsm_slice ikey)
{
    lsm_ikey k;
    return rd && lsm_ikey_parse(ikey, &k) &&
           lsm_range_dels_max_seq(rd, k.user, LSM_MAX_SEQ) > k.seq;
}

int lsm_build_memtable_table(lsm_db *db, lsm_memtable *m, lsm_file *f,
                             uint64_t oldest_snapshot, lsm_file_meta *meta,
                             lsm_garbage_list *garbage)
{
    lsm_table_options to = lsm_db_table_options(&db->opt);
    lsm_table_builder *b = lsm_table_builder_new(f, &to);
    lsm_iiter *it = lsm_memtable_iter(m);
    lsm_buf prev_user = { 0 };
    uint64_t prev_seq = 0;
    int rc = b && it ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_range_dels *rd = rc == LSM_OK ? visible_range_dels(m, oldest_snapshot, &rc)
                                      : NULL;
    for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
         lsm_iiter_next(it)) {
        lsm_slice key = lsm_iiter_key(it);
        if (hidden_version(key, &prev_user, &prev_seq, oldest_snapshot) ||
            range_deleted(rd, key)) {
            lsm_ikey k;
            if (garbage && lsm_ikey_parse(key, &k))
                lsm_blob_garbage_note(garbage, k.kind, lsm_iiter_value(it));
            continue;
        }
        rc = lsm_table_builder_add(b, key, lsm_iiter_value(it));
        if (rc == LSM_OK && meta->smallest.len == 0)
            rc = widen(meta, key);
        if (rc == LSM_OK) {
            lsm_buf_clear(&meta->largest);
            rc = lsm_buf_append(&meta->largest, key.data, key.len);
        }
        meta->entries++;
    }
    if (rc == LSM_OK)
        rc = lsm_iiter_status(it);
    if (rc == LSM_OK)
        rc = add_range_dels(b, m, meta);
    if (rc == LSM_OK)
        rc = lsm_table_builder_finish(b, &meta->size);
    if (rc == LSM_OK)
        lsm_table_builder_blob_files(b, meta);
    lsm_buf_free(&prev_user);
    lsm_range_dels_free(rd);
    lsm_iiter_free(it);
    lsm_table_builder_free(b);
    return rc;
}

int lsm_write_memtable_table(lsm_db *db, lsm_memtable *m, uint64_t number,
                             uint64_t oldest_snapshot, lsm_file_meta *meta,
                             lsm_garbage_list *garbage)
{
    meta->number = number;
    meta->size = 0;
    if (lsm_memtable_empty(m))
        return LSM_OK;
    /* The table replaces the WAL: the blob bytes it names go first. */
    int rc = lsm_blobs_sync(db->blobs), rdels = 0;
    if (rc)
        return rc;
    char *path = lsm_filename(db->dir, LSM_FILE_TABLE, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_file *f;
    rc = db->env->open_write(db->env, path, &f);
    if (rc == LSM_OK) {
        rc = lsm_build_memtable_table(db, m, f, oldest_snapshot, meta, garbage);
        int crc = lsm_file_close(f);
        rc = rc ? rc : crc;
    }
    if (rc == LSM_OK)
        rc = db->env->sync_dir(db->env, db->dir);
    if (rc == LSM_OK)
        rc = lsm_table_cache_warm(db->tcache, number, meta->size, 1, &rdels);
    meta->range_dels = lsm_rdels_known(rdels);
    if (rc) {
        lsm_table_cache_evict(db->tcache, number);
        db->env->unlink(db->env, path);
        meta->size = 0;
    }
    free(path);
    if (rc == LSM_OK) {
        /* flushed first; the release pairs with lsm_get_stats' acquire */
        __atomic_add_fetch(&db->stats.flushed, meta->size, __ATOMIC_RELAXED);
        __atomic_add_fetch(&db->stats.level_written[0], meta->size,
                           __ATOMIC_RELEASE);
    }
    return rc;
}

/* A flush failed (mu held).  When it serves a reclaiming write (space.c)
 * and ran out of space, the space reserve is given back and the flush
 * thread tries again at once; with no reserve left the space pass is
 * abandoned, so writers waiting for it get their LSM_NO_SPACE. */
static void flush_failed(lsm_db *db, int rc)
{
    db->flush_nospace = rc == LSM_NO_SPACE;
    if (rc == LSM_NO_SPACE && db->reclaim_pending) {
        if (lsm_space_release(db))
            return;
        if (db->reclaim_pending == 1) {   /* asked for, not running */
            db->reclaim_pending = 0;
            pthread_cond_broadcast(&db->bg_cv);
        }
    }
    lsm_db_background_failed(db, rc);
}

/* Flushes imm[0] (mu held; dropped during the table write). */
static void flush_oldest(lsm_db *db)
{
    lsm_memtable *m = db->imm[0];
    uint64_t number = lsm_vset_new_file_number(&db->vs);
    lsm_file_meta meta = { 0 };
    lsm_garbage_list garbage = { 0 };   /* blob values the flush leaves out */
    db->flushing = 1;
    uint64_t oldest_snapshot = lsm_db_oldest_snapshot(db);
    int rc = lsm_db_add_pending(db, number);
    pthread_mutex_unlock(&db->mu);
    if (rc == LSM_OK)
        rc = lsm_write_memtable_table(db, m, number, oldest_snapshot, &meta,
                                      &garbage);
    pthread_mutex_lock(&db->mu);

    lsm_version_edit edit;
    lsm_edit_init(&edit);
    edit.garbage = garbage;     /* freed with the edit */
    if (rc == LSM_OK && meta.size > 0)
        rc = lsm_edit_add_meta(&edit, 0, &meta);
    if (rc == LSM_OK && meta.size > 0)
        lsm_file_meta_copy_blobs(edit.added[edit.nadded - 1].meta, &meta);
    free(meta.blob_files);
    edit.has_log_number = 1;
    edit.log_number = db->nimm > 1 ? db->imm_log[1] : db->mem_log;
    if (rc == LSM_OK)
        rc = lsm_db_apply_edit(db, &edit);
    lsm_edit_free(&edit);
    lsm_buf_free(&meta.smallest);
    lsm_buf_free(&meta.largest);
    lsm_db_remove_pending(db, number);
    db->flushing = 0;
    if (rc) {
        flush_failed(db, rc);
        return;
    }
    db->nospace = 0;
    db->flush_nospace = 0;
    pthread_mutex_lock(&db->view_mu);   /* after its table is installed */
    memmove(db->imm, db->imm + 1, (size_t)(db->nimm - 1) * sizeof *db->imm);
    memmove(db->imm_log, db->imm_log + 1,
            (size_t)(db->nimm - 1) * sizeof *db->imm_log);
    db->nimm--;
    pthread_mutex_unlock(&db->view_mu);
    uint64_t ranges;
    lsm_memtable_deletions(m, &ranges);
    if (ranges > 0 && meta.size > 0)
        db->drops_due = 1;   /* reclaim.c: before compactions by score */
    lsm_memtable_unref(m);
    __atomic_add_fetch(&db->stats.flushes, 1, __ATOMIC_RELAXED);
    lsm_db_delete_obsolete(db, 0);
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->work_cv); /* level 0 grew: maybe compact */
}

void *lsm_flush_thread(void *arg)
{
    lsm_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        if (db->old_log && !db->old_log_busy && !db->bg_error) {
            lsm_db_sync_old_log(db);     /* first: its switch woke us */
        } else if (db->nimm > 0 && !db->flushing && lsm_db_may_work(db)) {
            flush_oldest(db);
        } else if (db->vs.obsolete_files && !db->bg_error) {
            db->vs.obsolete_files = 0;
            lsm_db_delete_obsolete(db, 0);
        } else {
            lsm_db_wait_for_work(db, 0);
        }
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}
