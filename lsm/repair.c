/*
 * repair.c — finding damaged tables and rewriting them without their
 * unreadable blocks (lsm_verify_tables, lsm_repair; semantics in lsm.h).
 *
 * Finding: every table is read once, entry by entry, through a salvage
 * iterator (table.h), which verifies each data block and reports the ones
 * that fail with the index keys that bound them.  A table whose footer or
 * metadata blocks fail cannot be opened: all of it is lost, bounded by
 * the smallest and largest keys the manifest records for it.
 *
 * Rewriting (lsm_repair, with background compaction held off as
 * lsm_compact does): a group of input tables becomes one output table of
 * the same level — a damaged table of level >= 1 alone, or the oldest
 * damaged level-0 table with every newer level-0 table (the output gets a
 * new, highest, number, and level 0 is searched newest number first, so it
 * must hold everything newer than the data it carries).  The output holds
 * every readable entry of the inputs, their range deletions, and one range
 * deletion per lost range at S, the damaged table's highest known
 * sequence (for a table of zeroed puts, the one the manifest records:
 * version.h, seq0_max): it hides older versions of lost keys in deeper tables, while
 * the entries of newer tables, all above S, keep their meaning.  A lost
 * entry above every readable one of its table may have had older
 * versions above S: those are not hidden.  The output is fsync'ed, then its directory
 * entry, then one manifest edit swaps inputs for output.
 *
 * Blob values: each reference a readable entry holds is resolved and its
 * checksum verified (lsm_blobs_read); one that fails is a loss of that
 * entry alone (its key, its sequence number), so the rewrite leaves it
 * out and hides older versions of the key with a range deletion at that
 * sequence number; newer versions keep their meaning.
 *
 * Cost: one read of every table and every blob value; one rewrite of each damaged table (and,
 * for level 0, of the level-0 tables newer than it).  Memory: the losses
 * found (two keys each) and one iterator per input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "error.h"
#include "filename.h"
#include "ikey.h"

/* --- checking one table ----------------------------------------------------- */

typedef struct counting {
    lsm_table_loss_fn lost;
    void *ctx;
    uint64_t n;
} counting;

static void count_loss(void *ctx, uint64_t offset, lsm_slice lower,
                       lsm_slice upper, const char *why)
{
    counting *c = ctx;
    c->n++;
    if (c->lost)
        c->lost(c->ctx, offset, lower, upper, why);
}

static void note_seq(lsm_table_check *out, lsm_slice ikey)
{
    lsm_ikey k;
    if (lsm_ikey_parse(ikey, &k) && k.seq > out->max_seq)
        out->max_seq = k.seq;
}

int lsm_check_table(lsm_db *db, const lsm_file_meta *f, lsm_table_loss_fn lost,
                    void *ctx, lsm_table_check *out)
{
    memset(out, 0, sizeof *out);
    counting c = { lost, ctx, 0 };
    lsm_iiter *it = lsm_table_cache_salvage_iter(db->tcache, f->number, f->size,
                                                 count_loss, &c);
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        out->entries++;
        note_seq(out, lsm_iiter_key(it));
    }
    int rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    out->blocks_lost = c.n;
    if (rc)
        return rc;
    it = lsm_table_cache_range_del_iter(db->tcache, f->number, f->size);
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        out->entries++;
        note_seq(out, lsm_iiter_key(it));
    }
    rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    return rc;
}

static void ignore_loss(void *ctx, uint64_t offset, lsm_slice lower,
                        lsm_slice upper, const char *why);

/* --- the losses of one table ------------------------------------------------- */

typedef struct loss_rec {
    uint64_t offset;             /* UINT64_MAX: the whole table */
    uint64_t blob_file;          /* a blob value's loss (else 0) */
    uint64_t seq;                /* of that entry */
    lsm_buf lo, hi;              /* user keys */
    int lo_inclusive;
    char why[320];
} loss_rec;

typedef struct table_state {
    lsm_file_meta *f;
    int level;
    lsm_table_check check;
    uint64_t blobs_lost;
    int unreadable;              /* cannot be opened: all of it is lost */
    loss_rec *losses;
    size_t nlosses;
    int oom;
} table_state;

static loss_rec *new_loss(table_state *ts)
{
    loss_rec *p = realloc(ts->losses, (ts->nlosses + 1) * sizeof *p);
    if (!p) {
        ts->oom = 1;
        return NULL;
    }
    ts->losses = p;
    loss_rec *r = &p[ts->nlosses++];
    memset(r, 0, sizeof *r);
    return r;
}

static void set_user(table_state *ts, lsm_buf *b, lsm_slice ikey)
{
    lsm_slice u = ikey.len >= LSM_IKEY_TRAILER ? lsm_ikey_user(ikey) : ikey;
    if (lsm_buf_append(b, u.data, u.len))
        ts->oom = 1;
}

/* A salvage iterator's report: the block held keys in (lower, upper].
 * Versions of user(lower) in it are older than the one ending the block
 * before, so the user keys lost are those after user(lower). */
static void collect_loss(void *ctx, uint64_t offset, lsm_slice lower,
                         lsm_slice upper, const char *why)
{
    table_state *ts = ctx;
    loss_rec *r = new_loss(ts);
    if (!r)
        return;
    r->offset = offset;
    r->lo_inclusive = lower.len == 0;
    set_user(ts, &r->lo, lower.len ? lower : lsm_buf_slice(&ts->f->smallest));
    set_user(ts, &r->hi, upper);
    snprintf(r->why, sizeof r->why, "%s", why);
}

static void lose_whole(table_state *ts)
{
    loss_rec *r = new_loss(ts);
    if (!r)
        return;
    ts->unreadable = 1;
    r->offset = UINT64_MAX;
    r->lo_inclusive = 1;
    set_user(ts, &r->lo, lsm_buf_slice(&ts->f->smallest));
    set_user(ts, &r->hi, lsm_buf_slice(&ts->f->largest));
    lsm_error_copy(r->why, sizeof r->why);
}

static void free_state(table_state *ts)
{
    for (size_t i = 0; i < ts->nlosses; i++) {
        lsm_buf_free(&ts->losses[i].lo);
        lsm_buf_free(&ts->losses[i].hi);
    }
    free(ts->losses);
}

static int is_damaged(const table_state *ts)
{
    return ts->nlosses > 0;
}

/* Records a blob value loss of the entry ikey (reference ref). */
static void lose_blob(table_state *ts, lsm_slice ikey, const lsm_ikey *k,
                      lsm_slice ref)
{
    loss_rec *r = new_loss(ts);
    if (!r)
        return;
    lsm_blob_ref br = { 0 };
    (void)lsm_blob_ref_decode(ref, &br);
    r->blob_file = br.file ? br.file : UINT64_MAX;
    r->seq = k->seq;
    r->lo_inclusive = 1;
    set_user(ts, &r->lo, ikey);
    set_user(ts, &r->hi, ikey);
    char why[256];
    lsm_error_copy(why, sizeof why);
    snprintf(r->why, sizeof r->why, "%06llu.sst: blob value: %s",
             (unsigned long long)ts->f->number, why);
    ts->blobs_lost++;
}

/* Resolves every blob reference of ts's readable entries, recording a
 * loss for each that fails (mu not held). */
static int check_blobs(lsm_db *db, table_state *ts)
{
    lsm_iiter *it = lsm_table_cache_salvage_iter(db->tcache, ts->f->number,
                                                 ts->f->size, ignore_loss, NULL);
    lsm_buf val = { 0 };
    int rc = LSM_OK;
    for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
         lsm_iiter_next(it)) {
        lsm_ikey k;
        if (!lsm_ikey_parse(lsm_iiter_key(it), &k) || k.kind != LSM_KIND_BLOB)
            continue;
        int st = lsm_blobs_read(db->blobs, lsm_iiter_value(it), &val);
        if (st == LSM_CORRUPTION)
            lose_blob(ts, lsm_iiter_key(it), &k, lsm_iiter_value(it));
        else if (st != LSM_OK)
            rc = st;                    /* I/O or memory: the check failed */
    }
    if (rc == LSM_OK)
        rc = lsm_iiter_status(it);
    lsm_iiter_free(it);
    lsm_buf_free(&val);
    return rc == LSM_CORRUPTION ? LSM_OK : rc;  /* blocks: lsm_check_table's */
}

/* Checks one table into ts (mu not held). */
static int check_one(lsm_db *db, lsm_file_meta *f, int level, table_state *ts)
{
    memset(ts, 0, sizeof *ts);
    ts->f = f;
    ts->level = level;
    int rc = lsm_check_table(db, f, collect_loss, ts, &ts->check);
    if (rc == LSM_CORRUPTION) {
        /* Blocks found lost before an open failure cannot happen: the
         * open comes first.  Whatever was collected, all of it is lost. */
        lose_whole(ts);
        rc = LSM_OK;
    } else if (rc == LSM_OK) {
        rc = check_blobs(db, ts);
    }
    if (rc == LSM_OK && ts->oom)
        rc = lsm_fail(LSM_NO_MEMORY, "out of memory checking %06llu.sst",
                      (unsigned long long)f->number);
    return rc;
}

static void add_result(const table_state *ts, lsm_repair_result *res)
{
    res->tables++;
    if (!is_damaged(ts))
        return;
    res->damaged++;
    res->blobs_lost += ts->blobs_lost;
    if (ts->unreadable) {
        res->tables_lost++;
        res->entries_lost += ts->f->entries;
    } else {
        res->blocks_lost += ts->check.blocks_lost;
        if (ts->f->entries > ts->check.entries)
            res->entries_lost += ts->f->entries - ts->check.entries;
    }
}

static void emit(const table_state *ts, uint64_t new_table, lsm_loss_fn fn,
                 void *ctx)
{
    for (size_t i = 0; fn && i < ts->nlosses; i++) {
        const loss_rec *r = &ts->losses[i];
        lsm_loss l = {
            .table = ts->f->number, .level = ts->level, .offset = r->offset,
            .lo = r->lo.data ? r->lo.data : "", .lo_len = r->lo.len,
            .lo_inclusive = r->lo_inclusive,
            .hi = r->hi.data ? r->hi.data : "", .hi_len = r->hi.len,
            .new_table = new_table, .blob_file = r->blob_file, .why = r->why,
        };
        fn(ctx, &l);
    }
}

/* Every table of v, level by level (level 0 oldest first), checked. */
static int check_all(lsm_db *db, lsm_version *v, table_state **out, size_t *n)
{
    size_t total = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        total += v->nfiles[l];
    table_state *ts = calloc(total ? total : 1, sizeof *ts);
    if (!ts)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    size_t k = 0;
    int rc = LSM_OK;
    for (int l = 0; rc == LSM_OK && l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; rc == LSM_OK && i < v->nfiles[l]; i++)
            if ((rc = check_one(db, v->files[l][i], l, &ts[k])) == LSM_OK)
                k++;
    if (rc) {
        for (size_t i = 0; i <= k && i < total; i++)
            free_state(&ts[i]);
        free(ts);
        return rc;
    }
    *out = ts;
    *n = k;
    return LSM_OK;
}

static void free_all(table_state *ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free_state(&ts[i]);
    free(ts);
}

static lsm_version *ref_current(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    lsm_version *v = db->vs.current;
    lsm_version_ref(v);
    pthread_mutex_unlock(&db->mu);
    return v;
}

static void unref(lsm_db *db, lsm_version *v)
{
    pthread_mutex_lock(&db->mu);
    lsm_db_release_version(db, v);
    pthread_mutex_unlock(&db->mu);
}

int lsm_verify_tables(lsm_db *db, lsm_loss_fn fn, void *ctx,
                      lsm_repair_result *res)
{
    memset(res, 0, sizeof *res);
    lsm_version *v = ref_current(db);
    table_state *ts;
    size_t n;
    int rc = check_all(db, v, &ts, &n);
    unref(db, v);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        add_result(&ts[i], res);
        emit(&ts[i], 0, fn, ctx);
    }
    free_all(ts, n);
    return LSM_OK;
}

/* --- rewriting ------------------------------------------------------------------ */

static void ignore_loss(void *ctx, uint64_t offset, lsm_slice lower,
                        lsm_slice upper, const char *why)
{
    (void)ctx, (void)offset, (void)lower, (void)upper, (void)why;
}

typedef struct rewrite {
    lsm_db *db;
    lsm_table_builder *b;
    lsm_file_meta meta;          /* the output's keys, entries, size,
                                    seq0_max */
} rewrite;

static uint64_t deletion_seq(const table_state *ts);

/* The output's seq0_max if it holds a put at sequence 0 (version.h):
 * the highest of its inputs' newest known sequence numbers. */
static uint64_t group_seq0_max(const table_state *g, size_t n)
{
    uint64_t s = 1;
    for (size_t i = 0; i < n; i++)
        if (deletion_seq(&g[i]) > s)
            s = deletion_seq(&g[i]);
    return s;
}

/* Adds the range deletion [begin, end) at seq to the output. */
static int add_range_del(rewrite *w, lsm_slice begin, lsm_slice end, uint64_t seq)
{
    lsm_buf k = { 0 };
    int rc = lsm_table_builder_add_range_del(w->b, begin, end, seq);
    if (rc == LSM_OK && !(rc = lsm_ikey_append(&k, begin, seq, LSM_KIND_RANGE_DEL)))
        lsm_file_meta_widen(&w->meta, lsm_buf_slice(&k));
    lsm_buf_clear(&k);
    if (rc == LSM_OK && !(rc = lsm_ikey_append(&k, end, LSM_MAX_SEQ, LSM_KIND_SEEK)))
        lsm_file_meta_widen(&w->meta, lsm_buf_slice(&k));
    lsm_buf_free(&k);
    w->meta.entries++;
    return rc;
}

/* Is ikey an entry whose blob value the check found lost? */
static int blob_lost(const table_state *g, size_t n, lsm_slice ikey)
{
    lsm_ikey k;
    if (!lsm_ikey_parse(ikey, &k) || k.kind != LSM_KIND_BLOB)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < g[i].nlosses; j++) {
            const loss_rec *r = &g[i].losses[j];
            if (r->blob_file && r->seq == k.seq &&
                lsm_slice_cmp(lsm_buf_slice(&r->lo), k.user) == 0)
                return 1;
        }
    return 0;
}

/* Every readable point entry of the group, merged, but those whose blob
 * value is lost. */
static int copy_points(rewrite *w, table_state *g, size_t n)
{
    lsm_db *db = w->db;
    lsm_iiter **its = malloc((n ? n : 1) * sizeof *its);
    if (!its)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!g[i].unreadable)
            its[k++] = lsm_table_cache_salvage_iter(db->tcache, g[i].f->number,
                                                    g[i].f->size, ignore_loss,
                                                    NULL);
    lsm_iiter *m = lsm_merge_iter_new(lsm_ikey_cmp, its, k);
    free(its);
    if (!m)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int rc = LSM_OK;
    for (lsm_iiter_first(m); rc == LSM_OK && lsm_iiter_valid(m); lsm_iiter_next(m)) {
        lsm_slice key = lsm_iiter_key(m);
        if (blob_lost(g, n, key))
            continue;
        rc = lsm_table_builder_add(w->b, key, lsm_iiter_value(m));
        lsm_ikey k;
        if (!w->meta.seq0_max && lsm_ikey_parse(key, &k) && k.seq == 0)
            w->meta.seq0_max = group_seq0_max(g, n);
        lsm_file_meta_widen(&w->meta, key);
        w->meta.entries++;
    }
    if (rc == LSM_OK)
        rc = lsm_iiter_status(m);
    lsm_iiter_free(m);
    return rc;
}

/* The group's own range deletions. */
static int copy_range_dels(rewrite *w, table_state *g, size_t n)
{
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < n; i++) {
        if (g[i].unreadable)
            continue;
        lsm_iiter *it = lsm_table_cache_range_del_iter(w->db->tcache,
                                                       g[i].f->number,
                                                       g[i].f->size);
        for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
             lsm_iiter_next(it)) {
            lsm_ikey t;
            if (!lsm_ikey_parse(lsm_iiter_key(it), &t))
                rc = lsm_fail(LSM_CORRUPTION, "%06llu.sst: malformed range "
                              "deletion", (unsigned long long)g[i].f->number);
            else
                rc = add_range_del(w, t.user, lsm_iiter_value(it), t.seq);
        }
        if (rc == LSM_OK)
            rc = lsm_iiter_status(it);
        lsm_iiter_free(it);
    }
    return rc;
}

/* Sequence of the deletions hiding a damaged table's lost ranges: the
 * highest known to be in the table (readable entries, the bounds and,
 * for a table with puts zeroed by compaction, the seq0_max the manifest
 * records: zeroed entries and bounds say 0, and a deletion at 0 would
 * hide nothing).  Sequence numbers are dense — the next one may be a
 * newer table's entry — so the deletion cannot sit above it; at it, it
 * hides everything older (reads treat an entry at a deletion's own
 * sequence as deleted too, which is the table's own newest entry, and
 * that is never inside a lost range but as an older version of the lost
 * range's last key). */
static uint64_t deletion_seq(const table_state *ts)
{
    uint64_t s = ts->check.max_seq > ts->f->seq0_max ? ts->check.max_seq
                                                     : ts->f->seq0_max;
    lsm_ikey k;
    if (lsm_ikey_parse(lsm_buf_slice(&ts->f->smallest), &k) && k.seq < LSM_MAX_SEQ &&
        k.seq > s)
        s = k.seq;
    if (lsm_ikey_parse(lsm_buf_slice(&ts->f->largest), &k) && k.seq < LSM_MAX_SEQ &&
        k.seq > s)
        s = k.seq;
    return s;
}

/* A range deletion over each lost range of the group. */
static int hide_losses(rewrite *w, table_state *g, size_t n)
{
    lsm_buf b = { 0 }, e = { 0 };
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < n; i++) {
        if (!is_damaged(&g[i]))
            continue;
        uint64_t seq = deletion_seq(&g[i]);
        for (size_t j = 0; rc == LSM_OK && j < g[i].nlosses; j++) {
            const loss_rec *r = &g[i].losses[j];
            /* [lo, hi] or (lo, hi] as a half-open range: key + "\0" is the
             * first key after key. */
            lsm_buf_clear(&b);
            lsm_buf_clear(&e);
            if (lsm_buf_append(&b, r->lo.data, r->lo.len) ||
                (!r->lo_inclusive && lsm_buf_append(&b, "", 1)) ||
                lsm_buf_append(&e, r->hi.data, r->hi.len) ||
                lsm_buf_append(&e, "", 1))
                rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
            else if (lsm_slice_cmp(lsm_buf_slice(&b), lsm_buf_slice(&e)) < 0)
                rc = add_range_del(w, lsm_buf_slice(&b), lsm_buf_slice(&e),
                                   r->blob_file ? r->seq : seq);
        }
    }
    lsm_buf_free(&b);
    lsm_buf_free(&e);
    return rc;
}

/* Writes table `number` from the group; *empty if it holds nothing (the
 * file is then removed). */
static int write_output(lsm_db *db, table_state *g, size_t n, uint64_t number,
                        rewrite *w, int *empty)
{
    char *path = lsm_filename(db->dir, LSM_FILE_TABLE, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_file *f;
    int rc = db->env->open_write(db->env, path, &f);
    if (rc) {
        free(path);
        return rc;
    }
    lsm_table_options to = lsm_db_table_options(&db->opt);
    w->b = lsm_table_builder_new(f, &to);
    rc = w->b ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc == LSM_OK)
        rc = copy_points(w, g, n);
    if (rc == LSM_OK)
        rc = copy_range_dels(w, g, n);
    if (rc == LSM_OK)
        rc = hide_losses(w, g, n);
    *empty = w->meta.entries == 0;
    if (rc == LSM_OK && !*empty)
        rc = lsm_table_builder_finish(w->b, &w->meta.size);
    lsm_table_builder_free(w->b);
    w->b = NULL;
    int crc = lsm_file_close(f);
    rc = rc ? rc : crc;
    if (rc || *empty)
        db->env->unlink(db->env, path);
    if (rc == LSM_OK && !*empty)
        rc = db->env->sync_dir(db->env, db->dir);
    free(path);
    return rc;
}

/* Replaces the group's tables by one table of `level` holding what is
 * readable; *out = its number (0 if there was nothing to keep). */
static int rewrite_group(lsm_db *db, table_state *g, size_t n, int level,
                         uint64_t *out)
{
    uint64_t number;
    int rc = lsm_db_new_output(db, &number);
    if (rc)
        return rc;
    rewrite w = { .db = db };
    int empty = 1;
    rc = write_output(db, g, n, number, &w, &empty);
    lsm_version_edit e;
    lsm_edit_init(&e);
    for (size_t i = 0; rc == LSM_OK && i < n; i++)
        rc = lsm_edit_delete_file(&e, g[i].level, g[i].f->number);
    w.meta.number = number;
    if (rc == LSM_OK && !empty)
        rc = lsm_edit_add_meta(&e, level, &w.meta);
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_OK)
        rc = lsm_db_apply_edit(db, &e);
    lsm_db_remove_pending(db, number);
    pthread_mutex_unlock(&db->mu);
    lsm_edit_free(&e);
    lsm_buf_free(&w.meta.smallest);
    lsm_buf_free(&w.meta.largest);
    *out = rc == LSM_OK && !empty ? number : 0;
    return rc;
}

/* Rewrites every damaged table of the checked version (mu not held). */
static int rewrite_damaged(lsm_db *db, table_state *ts, size_t n,
                           lsm_loss_fn fn, void *ctx, lsm_repair_result *res)
{
    int rc = LSM_OK;
    size_t n0 = 0;
    while (n0 < n && ts[n0].level == 0)
        n0++;
    size_t first0 = 0;
    while (first0 < n0 && !is_damaged(&ts[first0]))
        first0++;
    if (first0 < n0) {
        uint64_t out;
        rc = rewrite_group(db, ts + first0, n0 - first0, 0, &out);
        if (rc == LSM_OK) {
            res->tables_written += out != 0;
            for (size_t i = first0; i < n0; i++)
                emit(&ts[i], out, fn, ctx);
        }
    }
    for (size_t i = n0; rc == LSM_OK && i < n; i++) {
        if (!is_damaged(&ts[i]))
            continue;
        uint64_t out;
        rc = rewrite_group(db, &ts[i], 1, ts[i].level, &out);
        if (rc == LSM_OK) {
            res->tables_written += out != 0;
            emit(&ts[i], out, fn, ctx);
        }
    }
    return rc;
}

int lsm_repair(const char *dir, const lsm_options *opt, lsm_loss_fn fn,
               void *ctx, lsm_repair_result *res)
{
    memset(res, 0, sizeof *res);
    lsm_options o;
    if (opt)
        o = *opt;
    else
        lsm_options_init(&o);
    o.read_only = 0;
    o.create_if_missing = 0;
    lsm_db *db;
    int rc = lsm_open(dir, &o, &db);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    lsm_db_hold_compactions(db);
    pthread_mutex_unlock(&db->mu);

    lsm_version *v = ref_current(db);
    table_state *ts = NULL;
    size_t n = 0;
    rc = check_all(db, v, &ts, &n);
    if (rc == LSM_OK) {
        for (size_t i = 0; i < n; i++)
            add_result(&ts[i], res);
        rc = rewrite_damaged(db, ts, n, fn, ctx, res);
        free_all(ts, n);
    }
    unref(db, v);
    char msg[512] = "";
    if (rc)
        lsm_error_copy(msg, sizeof msg);
    pthread_mutex_lock(&db->mu);
    lsm_db_release_compactions(db);
    pthread_mutex_unlock(&db->mu);
    int crc = lsm_close(db);
    if (rc)
        return lsm_fail(rc, "%s", msg);
    return crc;
}
