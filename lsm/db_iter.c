/*
 * db_iter.c — user iterators: the newest visible version of each key.
 *
 * Underneath is one merging iterator over internal keys from the
 * memtables and every table (newest version of a key first).  Moving
 * forward, the iterator stops on the first entry of each user key with
 * seq <= snapshot; it is shown if it is a put not covered by a newer
 * range deletion, otherwise the whole key is skipped.  Moving backward it
 * walks each key's versions from oldest to newest and keeps the last
 * visible one (LevelDB's scheme), so in reverse the merging iterator sits
 * just before the current key and key/value come from saved copies.
 *
 * The view is pinned at creation: the memtables and version are
 * referenced until the iterator is freed, so compactions that replace
 * tables underneath never disturb it.
 *
 * Range deletions are not gathered into one index (that would cost every
 * new iterator O(T log T) for T deletions): a put is checked against the
 * memtables' indexes and those of the tables holding deletions, pinned
 * at creation, O(S log^2 T) for S such sources.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "blob.h"
#include "error.h"
#include "ikey.h"
#include "range_del.h"

enum { FORWARD, REVERSE };

struct lsm_iter {
    lsm_db *db;
    lsm_iiter *it;                 /* merged internal entries */
    lsm_read_view view;            /* memtables, version, seq (db.h) */
    lsm_pinned_table *rd_tables;   /* tables holding range deletions */
    size_t nrd_tables;
    int dir;
    int valid;
    int status;
    lsm_buf saved_key, saved_value; /* REVERSE: the current entry */
    int saved_blob;                 /* REVERSE: saved_value is a reference */
    lsm_buf blob;                   /* the current blob value, resolved */
    int scan;                       /* no_fill_cache: blob values read
                                       through `win` */
    lsm_blob_window win;            /* (scan) blob bytes read ahead */
    lsm_buf skip;                   /* scratch for the key being skipped */
    unsigned steps;                 /* nexts and prevs, for note_steps */
};

/* An iterator reads for idle work (lsm_db_note_read) when it is
 * positioned (first, last, seek), and a scan all along: every 1024th
 * step notes another (a clock read per step would cost more than the
 * step).  Making an iterator reads nothing yet. */
static void note_steps(lsm_iter *it)
{
    if ((++it->steps & 1023u) == 0)
        lsm_db_note_read(it->db);
}

static int hidden_by_range_del(lsm_iter *it, const lsm_ikey *k)
{
    uint64_t seq = it->view.seq;
    for (int i = 0; i < it->view.nmems; i++)
        if (lsm_memtable_range_del_max_seq(it->view.mems[i], k->user, seq) > k->seq)
            return 1;
    for (size_t i = 0; i < it->nrd_tables; i++)
        if (lsm_table_range_del_max_seq(it->rd_tables[i].t, k->user, seq) > k->seq)
            return 1;
    return 0;
}

/* Parses the merged iterator's current key; on damage stops the iterator. */
static int parse_current(lsm_iter *it, lsm_ikey *k)
{
    if (lsm_ikey_parse(lsm_iiter_key(it->it), k))
        return 1;
    it->status = lsm_fail(LSM_CORRUPTION, "malformed internal key in a table");
    it->valid = 0;
    return 0;
}

static int save(lsm_buf *b, lsm_slice s)
{
    lsm_buf_clear(b);
    return lsm_buf_append(b, s.data, s.len);
}

/* Forward: stop on the next visible entry; with skipping, entries whose
 * user key is <= it->skip are hidden older versions. */
static void find_next_user_entry(lsm_iter *it, int skipping)
{
    it->dir = FORWARD;
    for (; lsm_iiter_valid(it->it); lsm_iiter_next(it->it)) {
        lsm_ikey k;
        if (!parse_current(it, &k))
            return;
        if (k.seq > it->view.seq)
            continue;
        if (skipping && lsm_slice_cmp(k.user, lsm_buf_slice(&it->skip)) <= 0)
            continue;
        if (lsm_kind_is_put(k.kind) && !hidden_by_range_del(it, &k)) {
            it->valid = 1;
            return;
        }
        if (save(&it->skip, k.user)) {
            it->status = lsm_fail(LSM_NO_MEMORY, "out of memory");
            break;
        }
        skipping = 1;
    }
    it->valid = 0;
    if (it->status == LSM_OK)
        it->status = lsm_iiter_status(it->it);
}

/* Reverse: moves back to the previous visible user entry and saves it. */
static void find_prev_user_entry(lsm_iter *it)
{
    int kind = LSM_KIND_DELETE;
    it->dir = REVERSE;
    for (; lsm_iiter_valid(it->it); lsm_iiter_prev(it->it)) {
        lsm_ikey k;
        if (!parse_current(it, &k))
            return;
        if (k.seq > it->view.seq)
            continue;
        if (kind != LSM_KIND_DELETE &&
            lsm_slice_cmp(k.user, lsm_buf_slice(&it->saved_key)) < 0)
            break; /* passed into the previous key with a live entry saved */
        kind = lsm_kind_is_put(k.kind) && !hidden_by_range_del(it, &k)
                   ? LSM_KIND_PUT : LSM_KIND_DELETE;
        it->saved_blob = k.kind == LSM_KIND_BLOB;
        if (kind == LSM_KIND_PUT &&
            (save(&it->saved_key, k.user) ||
             save(&it->saved_value, lsm_iiter_value(it->it)))) {
            it->status = lsm_fail(LSM_NO_MEMORY, "out of memory");
            it->valid = 0;
            return;
        }
    }
    if (it->status == LSM_OK)
        it->status = lsm_iiter_status(it->it);
    it->valid = kind == LSM_KIND_PUT && it->status == LSM_OK;
}

void lsm_iter_first(lsm_iter *it)
{
    if (it->status)
        return;
    lsm_db_note_read(it->db);
    lsm_iiter_first(it->it);
    find_next_user_entry(it, 0);
}

void lsm_iter_last(lsm_iter *it)
{
    if (it->status)
        return;
    lsm_db_note_read(it->db);
    lsm_iiter_last(it->it);
    find_prev_user_entry(it);
}

void lsm_iter_seek(lsm_iter *it, const void *key, size_t klen)
{
    if (it->status)
        return;
    lsm_db_note_read(it->db);
    lsm_buf target = { 0 };
    if (lsm_ikey_append(&target, lsm_slice_make(key, klen), it->view.seq,
                        LSM_KIND_SEEK)) {
        it->status = lsm_fail(LSM_NO_MEMORY, "out of memory");
        it->valid = 0;
        return;
    }
    lsm_iiter_seek(it->it, lsm_buf_slice(&target));
    lsm_buf_free(&target);
    find_next_user_entry(it, 0);
}

void lsm_iter_next(lsm_iter *it)
{
    if (!it->valid)
        return;
    note_steps(it);
    if (it->dir == REVERSE) {
        /* The merged iterator is just before the current key's entries. */
        if (!lsm_iiter_valid(it->it))
            lsm_iiter_first(it->it);
        else
            lsm_iiter_next(it->it);
        if (save(&it->skip, lsm_buf_slice(&it->saved_key)))
            it->status = LSM_NO_MEMORY;
    } else {
        if (save(&it->skip, lsm_ikey_user(lsm_iiter_key(it->it))))
            it->status = LSM_NO_MEMORY;
        lsm_iiter_next(it->it);
    }
    if (it->status) {
        it->valid = 0;
        return;
    }
    find_next_user_entry(it, 1);
}

void lsm_iter_prev(lsm_iter *it)
{
    if (!it->valid)
        return;
    note_steps(it);
    if (it->dir == FORWARD) {
        /* Step back over every entry of the current key. */
        if (save(&it->saved_key, lsm_ikey_user(lsm_iiter_key(it->it)))) {
            it->status = lsm_fail(LSM_NO_MEMORY, "out of memory");
            it->valid = 0;
            return;
        }
        for (;;) {
            lsm_iiter_prev(it->it);
            if (!lsm_iiter_valid(it->it))
                break;
            lsm_slice user = lsm_ikey_user(lsm_iiter_key(it->it));
            if (lsm_slice_cmp(user, lsm_buf_slice(&it->saved_key)) < 0)
                break;
        }
    }
    find_prev_user_entry(it);
}

int lsm_iter_valid(const lsm_iter *it)
{
    return it->valid;
}

const void *lsm_iter_key(const lsm_iter *it, size_t *klen)
{
    lsm_slice k = it->dir == FORWARD ? lsm_ikey_user(lsm_iiter_key(it->it))
                                     : lsm_buf_slice(&it->saved_key);
    *klen = k.len;
    return k.data;
}

/* Is the current entry a blob reference? */
static int current_is_blob(const lsm_iter *it)
{
    if (it->dir == REVERSE)
        return it->saved_blob;
    lsm_ikey k;
    return lsm_ikey_parse(lsm_iiter_key(it->it), &k) && k.kind == LSM_KIND_BLOB;
}

/* A blob value is read (and verified) at each call; a scan's
 * (no_fill_cache) from the blob bytes it read ahead (blob.h,
 * lsm_blobs_read_window).  A failure stops the iterator with its status
 * and yields NULL, length 0. */
const void *lsm_iter_value(const lsm_iter *cit, size_t *vlen)
{
    lsm_iter *it = (lsm_iter *)cit;   /* resolving a blob caches into it */
    lsm_slice v = it->dir == FORWARD ? lsm_iiter_value(it->it)
                                     : lsm_buf_slice(&it->saved_value);
    if (it->valid && current_is_blob(it)) {
        int rc;
        if (it->scan) {
            rc = lsm_blobs_read_window(it->db->blobs, v, it->dir == REVERSE,
                                       &it->win, &v);
        } else {
            rc = lsm_blobs_read(it->db->blobs, v, &it->blob);
            v = lsm_buf_slice(&it->blob);
        }
        if (rc) {
            it->status = rc;
            it->valid = 0;
            *vlen = 0;
            return NULL;
        }
    }
    *vlen = v.len;
    return v.data;
}

int lsm_iter_status(const lsm_iter *it)
{
    return it->status;
}

static int build_merged(lsm_iter *it, int fill_cache)
{
    lsm_version *v = it->view.version;
    int cap = it->view.nmems + (int)v->nfiles[0] + LSM_NUM_LEVELS;
    lsm_iiter **children = malloc((size_t)cap * sizeof *children);
    if (!children)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    int n = 0;
    for (int i = 0; i < it->view.nmems; i++)
        children[n++] = lsm_memtable_iter(it->view.mems[i]);
    lsm_version_add_iters(v, fill_cache, children, &n);
    for (int i = 0; i < n; i++)
        if (!children[i])
            children[i] = lsm_iiter_error(LSM_NO_MEMORY);
    it->it = lsm_merge_iter_new(lsm_ikey_cmp, children, n);
    free(children);
    return it->it ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
}

lsm_iter *lsm_iter_new(lsm_db *db, const lsm_read_options *ro)
{
    lsm_iter *it = calloc(1, sizeof *it);
    if (!it) {
        lsm_fail(LSM_NO_MEMORY, "out of memory");
        return NULL;
    }
    it->db = db;
    lsm_db_view_take(db, ro ? ro->snapshot : NULL, &it->view);
    it->status = lsm_version_pin_range_del_tables(it->view.version, &it->rd_tables,
                                                  &it->nrd_tables);
    it->scan = ro && ro->no_fill_cache;
    if (it->status == LSM_OK)
        it->status = build_merged(it, !it->scan);
    if (it->status && !it->it)
        it->it = lsm_iiter_error(it->status);
    return it;
}

void lsm_iter_free(lsm_iter *it)
{
    if (!it)
        return;
    lsm_iiter_free(it->it);
    if (it->rd_tables)
        lsm_version_unpin_tables(it->view.version, it->rd_tables, it->nrd_tables);
    lsm_db_view_drop(it->db, &it->view);
    lsm_buf_free(&it->saved_key);
    lsm_buf_free(&it->saved_value);
    lsm_buf_free(&it->blob);
    lsm_buf_free(&it->win.buf);
    lsm_buf_free(&it->skip);
    free(it);
}

lsm_iiter *lsm_iter_entries(lsm_iter *it)
{
    return it->it;
}

int lsm_iter_range_dels(lsm_iter *it, lsm_range_dels **out)
{
    int n = 0, cap = it->view.nmems + 16;
    lsm_iiter **its = malloc((size_t)cap * sizeof *its);
    if (!its)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (int i = 0; i < it->view.nmems; i++)
        its[n++] = lsm_memtable_range_del_iter(it->view.mems[i]);
    int rc = lsm_version_add_range_del_iters(it->view.version, &its, &n, &cap);
    for (int i = 0; i < n; i++)
        if (!its[i])
            its[i] = lsm_iiter_error(LSM_NO_MEMORY);
    int st = LSM_OK;
    *out = lsm_range_dels_build(its, n, LSM_MAX_SEQ, &st);
    free(its);
    if (rc == LSM_OK && !*out)
        rc = st;
    return rc;
}
