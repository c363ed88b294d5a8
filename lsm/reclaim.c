/*
 * reclaim.c — giving the space of deleted data back without waiting for
 * new writes to push compactions past it.
 *
 * Two passes share what is here, both on the compaction thread:
 *
 *  - The space pass (space.c), on a nearly full disk, once the
 *    deletions of reclaiming writes have reached tables: it drops the
 *    tables they cover whole and compacts those holding what they delete
 *    (range deletions newer than its last pass, point deletions from the
 *    hints), all at once.
 *
 *  - The drop pass, after a flush wrote range deletions: step 2 below,
 *    before compactions by score (which would read the covered tables).
 *
 *  - The idle pass, once no write has come for idle_compaction_ms; the
 *    steps that rewrite tables (3-5) also wait for no read to have come
 *    for as long (may_rewrite).  Each
 *    call does the first of these steps that applies, then returns so
 *    scored compactions and writes come first:
 *      1. flush: the memtable holds a range deletion, or point deletions
 *         make 1/8 of its entries, or its WAL is more than
 *         space_amp_percent of the tables' bytes: it is switched, so the
 *         deletions reach a table, where the steps below see them (and
 *         the WAL, larger than the table it becomes, goes);
 *      2. drop: tables covered whole are removed by one manifest edit;
 *      3. compact: the first table holding keys a newer range deletion
 *         covers, or made mostly of deletions by its properties (point
 *         and range deletions at least half of its entries), is compacted
 *         with what it overlaps below (lsm_compact_table), dropping
 *         entries under every range deletion of the version;
 *      4. space bound: while the levels above the deepest one holding data
 *         hold more than space_amp_percent of its bytes, one file of the
 *         shallowest of them is compacted down (lsm_compact_level_step);
 *      5. blob garbage: the blob file being written, once its recorded
 *         garbage reached blob_gc_garbage_percent, is sealed (the next
 *         file started) so it can go too; else a table naming a blob file
 *         whose recorded garbage reached it is compacted (lsm_compact_table;
 *         in the last level, the level is rewritten), moving its values
 *         out of that file.
 *    A drop (step 2) counts the blob values of the tables it removes as
 *    garbage (reading them: blob_gc.c).
 *    When no step applies, the pass records the manifest edits and the
 *    oldest snapshot's sequence number it saw and runs again only once one
 *    of them moves.  Idle compactions stop at the first write that comes
 *    after they started (their outputs are deleted); a drop is one edit.
 *
 * Covered whole: a table's user-key range [smallest, largest] lies in the
 * union of range deletions (adjacent and overlapping ones merged), each
 * seen by every snapshot and held in a newer place than the table: a
 * shallower level, or a level-0 table with a higher number.  Invariant
 * (the one reads rely on): an entry in a newer place is newer than every
 * entry of its key in an older place, so every entry of the table is
 * older than a deletion covering it that every snapshot sees, and no
 * reader can see any of it: removing the table changes no read.  Range
 * deletions the table holds itself only hide older entries, which the
 * covering deletions hide too.  The deletions stay in the store (in
 * tables listed by the manifest) as long as anything deeper may hold
 * their keys.  Crash safety: the drop is a manifest edit like any other.
 *
 * Cost: a pass reads the range-deletion blocks of every table (the table
 * cache keeps them in memory) and merges them into sorted spans per level,
 * O(T log T) for T range deletions (per table in level 0); then per table
 * one binary search for cover, one index seek per overlapping span for
 * partial cover, and (idle pass) its properties, which opens the tables
 * the table cache does not hold.  The drop pass runs after a flush of range
 * deletions, the idle pass only after something changed, on an idle store.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "error.h"
#include "ikey.h"
#include "table.h"

/* --- the range deletions of a version ------------------------------------------- */

typedef struct tomb {
    lsm_buf begin, end;
    uint64_t seq;
    int level;
    uint64_t number;        /* the table holding it */
} tomb;

typedef struct tombs {
    tomb *v;
    size_t n, cap;
} tombs;

static void tombs_free(tombs *t)
{
    for (size_t i = 0; i < t->n; i++) {
        lsm_buf_free(&t->v[i].begin);
        lsm_buf_free(&t->v[i].end);
    }
    free(t->v);
}

static int tombs_add(tombs *t, lsm_slice b, lsm_slice e, uint64_t seq, int level,
                     uint64_t number)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        tomb *p = realloc(t->v, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        t->v = p;
        t->cap = cap;
    }
    tomb *x = &t->v[t->n++];
    memset(x, 0, sizeof *x);
    x->seq = seq;
    x->level = level;
    x->number = number;
    if (lsm_buf_append(&x->begin, b.data, b.len) || lsm_buf_append(&x->end, e.data, e.len))
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    return LSM_OK;
}

/* The range deletions of v's tables that every snapshot sees (seq <=
 * upto) (mu not held; v referenced). */
static int collect_deletions(lsm_db *db, lsm_version *v, uint64_t upto, tombs *out)
{
    int rc = LSM_OK;
    for (int l = 0; rc == LSM_OK && l < LSM_NUM_LEVELS; l++) {
        for (size_t i = 0; rc == LSM_OK && i < v->nfiles[l]; i++) {
            const lsm_file_meta *f = v->files[l][i];
            lsm_iiter *it = lsm_table_cache_range_del_iter(db->tcache, f->number,
                                                           f->size);
            if (!it)
                return lsm_fail(LSM_NO_MEMORY, "out of memory");
            for (lsm_iiter_first(it); rc == LSM_OK && lsm_iiter_valid(it);
                 lsm_iiter_next(it)) {
                lsm_ikey k;
                if (!lsm_ikey_parse(lsm_iiter_key(it), &k))
                    rc = lsm_fail(LSM_CORRUPTION, "%06llu.sst: malformed range "
                                  "deletion", (unsigned long long)f->number);
                else if (k.seq <= upto)
                    rc = tombs_add(out, k.user, lsm_iiter_value(it), k.seq, l,
                                   f->number);
            }
            if (rc == LSM_OK)
                rc = lsm_iiter_status(it);
            lsm_iiter_free(it);
        }
    }
    return rc;
}

/* Is deletion x in a newer place than the table `number` of `level`? */
static int newer_than(const tomb *x, int level, uint64_t number)
{
    return x->level < level || (x->level == 0 && level == 0 && x->number > number);
}

/* --- tables covered whole ----------------------------------------------------------- */

typedef struct span {
    lsm_slice begin, end;
} span;

static int cmp_begin(const void *a, const void *b)
{
    const tomb *x = *(const tomb *const *)a, *y = *(const tomb *const *)b;
    return lsm_slice_cmp(lsm_buf_slice(&x->begin), lsm_buf_slice(&y->begin));
}

/* The union of t's deletions with seq > after that are newer than the
 * table `number` of `level`, as sorted disjoint spans, touching ones
 * merged; the spans borrow t's keys.  *out is malloc'ed. */
static int newer_union(const tombs *t, int level, uint64_t number, uint64_t after,
                       span **out, size_t *n)
{
    const tomb **sel = malloc((t->n ? t->n : 1) * sizeof *sel);
    span *sp = malloc((t->n ? t->n : 1) * sizeof *sp);
    *out = NULL;
    *n = 0;
    if (!sel || !sp) {
        free(sel);
        free(sp);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    size_t k = 0, m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].seq > after && newer_than(&t->v[i], level, number))
            sel[k++] = &t->v[i];
    qsort(sel, k, sizeof *sel, cmp_begin);
    for (size_t i = 0; i < k; i++) {
        lsm_slice b = lsm_buf_slice(&sel[i]->begin), e = lsm_buf_slice(&sel[i]->end);
        if (lsm_slice_cmp(b, e) >= 0)
            continue;
        if (m > 0 && lsm_slice_cmp(b, sp[m - 1].end) <= 0) {
            if (lsm_slice_cmp(e, sp[m - 1].end) > 0)
                sp[m - 1].end = e;
        } else {
            sp[m++] = (span){ b, e };
        }
    }
    free(sel);
    *out = sp;
    *n = m;
    return LSM_OK;
}

/* Do the spans cover every user key of f?  f's largest key may be the
 * end of one of its range deletions (kind SEEK at LSM_MAX_SEQ, flush.c),
 * which that deletion excludes. */
static int covers(const span *sp, size_t n, const lsm_file_meta *f)
{
    lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f->smallest));
    lsm_ikey hi;
    if (!lsm_ikey_parse(lsm_buf_slice(&f->largest), &hi))
        return 0;
    int hi_excluded = hi.seq == LSM_MAX_SEQ; /* a SEEK key (kind 2 or 3) */
    size_t a = 0, b = n;        /* first span starting after lo */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (lsm_slice_cmp(sp[mid].begin, lo) <= 0)
            a = mid + 1;
        else
            b = mid;
    }
    if (a == 0)
        return 0;
    const span *s = &sp[a - 1];
    int c = lsm_slice_cmp(hi.user, s->end);
    return lsm_slice_cmp(lo, s->end) < 0 && (c < 0 || (c == 0 && hi_excluded));
}

/* A table found by a pass (its meta borrowed from the pass's version). */
typedef struct cand {
    lsm_file_meta *f;
    int level;
    uint64_t number;
} cand;

typedef struct cands {
    cand *v;
    size_t n, cap;
} cands;

static int cands_add(cands *c, lsm_file_meta *f, int level)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        cand *p = realloc(c->v, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        c->v = p;
        c->cap = cap;
    }
    c->v[c->n++] = (cand){ f, level, f->number };
    return LSM_OK;
}

static int in_level(const lsm_version *v, int level, const lsm_file_meta *f)
{
    for (size_t i = 0; i < v->nfiles[level]; i++)
        if (v->files[level][i] == f)
            return 1;
    return 0;
}

/* Counts the blob values the n tables dropped whole name as garbage in
 * e (mu held; dropped while they are read, the tables marked as being
 * compacted).  A table that cannot be read counts nothing. */
static void count_dropped_blobs(lsm_db *db, lsm_file_meta **f, size_t n,
                                lsm_version_edit *e)
{
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= !f[i]->blobs_known || f[i]->nblob_files > 0;
    if (!any || lsm_blobs_bytes(db->blobs) == 0)
        return;
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < n; i++)
        if (!f[i]->blobs_known || f[i]->nblob_files > 0)
            (void)lsm_blob_gc_table_garbage(db, f[i], &e->garbage);
    pthread_mutex_lock(&db->mu);
}

/* Removes the covered tables still at their level in the current version,
 * neither being compacted nor damaged (the damaged list names them), by
 * one manifest edit (mu held; dropped for the manifest write), counted as
 * a running compaction so lsm_db_hold_compactions waits for it.  Returns
 * how many.  A failed edit is a background error (lsm_db_apply_edit). */
static size_t drop_covered(lsm_db *db, const cands *c)
{
    if (c->n == 0 || db->manual_compaction || db->shutting_down)
        return 0;
    lsm_file_meta **marked = malloc(c->n * sizeof *marked);
    if (!marked)
        return 0;
    lsm_version_edit e;
    lsm_edit_init(&e);
    size_t n = 0;
    uint64_t bytes = 0;
    int rc = LSM_OK;
    for (size_t i = 0; rc == LSM_OK && i < c->n; i++) {
        lsm_file_meta *f = c->v[i].f;
        if (f->being_compacted || f->damaged ||
            !in_level(db->vs.current, c->v[i].level, f))
            continue;
        rc = lsm_edit_delete_file(&e, c->v[i].level, f->number);
        f->being_compacted = 1;    /* no compaction takes it meanwhile */
        marked[n++] = f;
        bytes += f->size;
    }
    if (rc == LSM_OK && n > 0) {
        db->compacting++;
        count_dropped_blobs(db, marked, n, &e);
        rc = lsm_db_apply_edit(db, &e);
        db->compacting--;
        pthread_cond_broadcast(&db->bg_cv);
    }
    for (size_t i = 0; i < n; i++)
        marked[i]->being_compacted = 0;
    free(marked);
    lsm_edit_free(&e);
    if (rc != LSM_OK || n == 0)
        return 0;
    __atomic_add_fetch(&db->stats.tables_dropped, n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&db->stats.bytes_dropped, bytes, __ATOMIC_RELAXED);
    lsm_db_log(db, LSM_LOG_INFO, "dropped %zu table(s), %llu bytes, under range "
               "deletions", n, (unsigned long long)bytes);
    return n;
}

/* --- tables to compact ------------------------------------------------------------------ */

/* Does table f hold a point entry with a user key in [begin, end)?  One
 * index seek and one data block read; an error answers yes (the
 * compaction will report it).  (mu not held) */
static int holds_keys_in(lsm_db *db, const lsm_file_meta *f, lsm_slice begin,
                         lsm_slice end)
{
    lsm_iiter *it = lsm_table_cache_iter(db->tcache, f->number, f->size, 0);
    lsm_buf k = { 0 };
    int held = 1;
    if (it && lsm_ikey_append(&k, begin, LSM_MAX_SEQ, LSM_KIND_SEEK) == LSM_OK) {
        lsm_iiter_seek(it, lsm_buf_slice(&k));
        if (lsm_iiter_valid(it))
            held = lsm_slice_cmp(lsm_ikey_user(lsm_iiter_key(it)), end) < 0;
        else
            held = lsm_iiter_status(it) != LSM_OK;
    }
    lsm_buf_free(&k);
    lsm_iiter_free(it);
    return held;
}

/* Do the spans (of deletions newer than f) cover entries of f?  One
 * binary search, then a seek per span overlapping f.  (mu not held) */
static int deleted_under(lsm_db *db, const span *sp, size_t n,
                         const lsm_file_meta *f)
{
    lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f->smallest));
    lsm_slice hi = lsm_ikey_user(lsm_buf_slice(&f->largest));
    size_t a = 0, b = n;        /* first span ending after lo */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (lsm_slice_cmp(sp[mid].end, lo) <= 0)
            a = mid + 1;
        else
            b = mid;
    }
    for (; a < n && lsm_slice_cmp(sp[a].begin, hi) <= 0; a++)
        if (holds_keys_in(db, f, sp[a].begin, sp[a].end))
            return 1;
    return 0;
}

/* Does table f hold an older version of a key a hint deletes?  Its
 * bloom filter answers for most keys; a hit reads one block.  An error
 * answers yes (the compaction will report it).  (mu not held) */
static int hinted_in(lsm_db *db, const lsm_hints *h, const lsm_file_meta *f)
{
    lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f->smallest));
    lsm_slice hi = lsm_ikey_user(lsm_buf_slice(&f->largest));
    size_t i = lsm_hints_lower_bound(h, lo);
    if (i == lsm_hints_count(h) || lsm_slice_cmp(lsm_hints_key(h, i), hi) > 0)
        return 0;
    lsm_table *t;
    lsm_cache_handle *handle;
    if (lsm_table_cache_get(db->tcache, f->number, f->size, &t, &handle))
        return 1;
    lsm_buf ikey = { 0 }, found = { 0 }, val = { 0 };
    int held = 0;
    for (; !held && i < lsm_hints_count(h); i++) {
        lsm_slice key = lsm_hints_key(h, i);
        if (lsm_slice_cmp(key, hi) > 0)
            break;
        if (i > 0 && lsm_slice_cmp(key, lsm_hints_key(h, i - 1)) == 0)
            continue;   /* the newest deletion of a key comes first */
        lsm_buf_clear(&ikey);
        if (lsm_ikey_append(&ikey, key, LSM_MAX_SEQ, LSM_KIND_SEEK)) {
            held = 1;
            break;
        }
        int r = lsm_table_get(t, lsm_buf_slice(&ikey), &found, &val, 0);
        lsm_ikey k;
        held = r < 0 || (r == 1 && lsm_ikey_parse(lsm_buf_slice(&found), &k) &&
                         k.seq < lsm_hints_seq_at(h, i));
    }
    lsm_buf_free(&ikey);
    lsm_buf_free(&found);
    lsm_buf_free(&val);
    lsm_table_cache_release(db->tcache, handle);
    return held;
}

/* Is f made mostly of deletions every snapshot sees (seq <= upto), by its
 * properties: point and range deletions at least half of its entries?  An
 * error answers yes (the compaction will report it).  A
 * table written before point deletions were counted counts its range
 * deletions only, and one that does not record its sequence numbers
 * counts as seen.  (Deletions a snapshot needs would only be carried
 * down, level by level, rewriting what they overlap.)  (mu not held) */
static int mostly_deletions(lsm_db *db, const lsm_file_meta *f, uint64_t upto)
{
    lsm_table *t;
    lsm_cache_handle *h;
    if (lsm_table_cache_get(db->tcache, f->number, f->size, &t, &h))
        return 1;   /* the compaction will report it */
    lsm_table_props p;
    lsm_table_props_get(t, &p);
    lsm_table_cache_release(db->tcache, h);
    uint64_t dels = (p.deletions == UINT64_MAX ? 0 : p.deletions) + p.range_dels;
    return dels > 0 && 2 * dels >= p.entries + p.range_dels &&
           (p.max_seq == UINT64_MAX || p.max_seq <= upto);
}

/* What a pass found over version v: the deletions every snapshot sees
 * (seq <= upto), the tables they cover whole, the tables to compact. */
typedef struct findings {
    tombs t;
    cands covered, compact;
} findings;

static void findings_free(findings *fd)
{
    tombs_free(&fd->t);
    free(fd->covered.v);
    free(fd->compact.v);
}

enum { FIND_COVERED, FIND_COMPACTABLE, FIND_HEAVY };

/* A pass could not read the range deletions (mu held): an I/O error is a
 * background failure, as in a compaction; damage is left to the
 * compactions that meet it (compaction.c). */
static void find_failed(lsm_db *db, int rc)
{
    if (rc == LSM_IO_ERROR || rc == LSM_NO_SPACE)
        lsm_db_background_failed(db, rc);
    else if (rc != LSM_OK)
        lsm_db_log(db, LSM_LOG_WARNING, "reclaim: %s", lsm_last_error());
}

/* Spans of the deletions newer than the table `number` of `level`: all of
 * them, and those with seq > after (the same when after is 0). */
typedef struct newer_spans {
    span *all, *recent;
    size_t nall, nrecent;
} newer_spans;

static void newer_spans_free(newer_spans *ns)
{
    if (ns->recent != ns->all)
        free(ns->recent);
    free(ns->all);
    memset(ns, 0, sizeof *ns);
}

static int newer_spans_get(const tombs *t, int level, uint64_t number,
                           uint64_t after, newer_spans *ns)
{
    newer_spans_free(ns);
    int rc = newer_union(t, level, number, 0, &ns->all, &ns->nall);
    if (rc == LSM_OK && after == 0) {
        ns->recent = ns->all;
        ns->nrecent = ns->nall;
    } else if (rc == LSM_OK) {
        rc = newer_union(t, level, number, after, &ns->recent, &ns->nrecent);
    }
    return rc;
}

/* Should f (not covered whole) be compacted: it holds entries the
 * deletions newer than `after` cover, or older versions of keys the
 * hints delete, or (heavy) it is made mostly of deletions every snapshot
 * sees?  (mu not held) */
static int compactable(lsm_db *db, const newer_spans *ns, const lsm_hints *hints,
                       int heavy, uint64_t upto, const lsm_file_meta *f)
{
    return deleted_under(db, ns->recent, ns->nrecent, f) ||
           (hints && hinted_in(db, hints, f)) ||
           (heavy && mostly_deletions(db, f, upto));
}

/* Fills fd (mu not held; v referenced): the tables covered whole, and
 * unless `what` is FIND_COVERED the tables to compact (see compactable;
 * heavy with FIND_HEAVY), the last level's left out.  Level 0 gives only
 * its newest table to compact: that compaction takes the older ones
 * along. */
static int find(lsm_db *db, lsm_version *v, uint64_t upto, uint64_t after,
                const lsm_hints *hints, int what, findings *fd)
{
    int rc = collect_deletions(db, v, upto, &fd->t);
    for (int l = 0; rc == LSM_OK && l < LSM_NUM_LEVELS; l++) {
        newer_spans ns = { 0 };
        int l0_picked = 0;
        for (size_t i = v->nfiles[l]; rc == LSM_OK && i-- > 0;) {
            lsm_file_meta *f = v->files[l][i];
            if (l == 0 || i + 1 == v->nfiles[l])   /* level 0: per table */
                rc = newer_spans_get(&fd->t, l, f->number, after, &ns);
            if (rc != LSM_OK)
                break;
            if (covers(ns.all, ns.nall, f)) {
                rc = cands_add(&fd->covered, f, l);
            } else if (what != FIND_COVERED && l < LSM_NUM_LEVELS - 1 &&
                       !l0_picked &&
                       compactable(db, &ns, hints, what == FIND_HEAVY, upto, f)) {
                rc = cands_add(&fd->compact, f, l);
                l0_picked = l == 0;
            }
        }
        newer_spans_free(&ns);
    }
    return rc;
}

/* --- the space pass ------------------------------------------------------------------- */

/* The space pass (db.h): the tables the deletions cover whole are dropped;
 * those holding what the deletions written since the last pass delete
 * (range deletions found in the tables, point deletions from the hints)
 * are compacted with those deletions applied: level-0 candidates by one
 * compaction of the newest of them and every older level-0 table, deeper
 * ones each with what they overlap below (the last level's are left).  A
 * table every entry of which is deleted yields no output at all, so that
 * needs no space; what survives needs as much as it takes.  The pass
 * stops at the first failure. */
void lsm_space_pass(lsm_db *db)
{
    db->reclaim_pending = 2;   /* running */
    uint64_t after = db->reclaimed_seq, upto = lsm_db_oldest_snapshot(db);
    lsm_version *v = db->vs.current;
    lsm_version_ref(v);
    lsm_hints *hints = db->pass_hints;
    db->pass_hints = NULL;
    pthread_mutex_unlock(&db->mu);
    lsm_hints_sort(hints);
    findings fd = { 0 };
    int rc = find(db, v, upto, after, lsm_hints_count(hints) ? hints : NULL,
                  FIND_COMPACTABLE, &fd);
    pthread_mutex_lock(&db->mu);
    size_t dropped = rc == LSM_OK ? drop_covered(db, &fd.covered) : 0;
    lsm_db_release_version(db, v);   /* before compacting: inputs go at once */
    if (dropped)
        lsm_db_delete_obsolete(db, 0);
    int compacted = 0;
    for (size_t i = 0; rc == LSM_OK && i < fd.compact.n && !db->shutting_down &&
                       !db->manual_compaction; i++) {
        int ran;
        rc = lsm_compact_table(db, fd.compact.v[i].level, fd.compact.v[i].number,
                               hints, 0, &ran);
        compacted += rc == LSM_OK && ran;
    }
    findings_free(&fd);
    lsm_hints_free(hints);
    if (rc == LSM_OK)
        db->reclaimed_seq = upto;
    else
        lsm_db_log(db, LSM_LOG_WARNING, "space pass stopped: %s", lsm_last_error());
    if (compacted || dropped) {
        /* Make the deletions of the obsolete inputs durable, so the space
         * they gave back stays free across a crash.  A failure only
         * delays that to the next directory sync. */
        pthread_mutex_unlock(&db->mu);
        db->env->sync_dir(db->env, db->dir);
        pthread_mutex_lock(&db->mu);
        lsm_db_log(db, LSM_LOG_INFO, "space pass: %zu table(s) dropped, %d "
                   "compaction(s) for deletions", dropped, compacted);
    }
    if (rc == LSM_OK && (compacted || dropped))
        db->nospace = 0;
    db->reclaim_pending = 0;
    lsm_space_retake(db);
    lsm_space_check(db, 1);
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->work_cv);
}

/* --- the drop pass ------------------------------------------------------------------- */

/* Reads the current version for findings of the given mode (as of the
 * oldest snapshot) and drops the tables the range deletions cover.  The
 * version stays pinned while mu is dropped for the reading.  Returns the
 * status of the reading; *dropped counts the tables dropped.  The caller
 * frees *fd.  (mu held; dropped.) */
static int find_and_drop(lsm_db *db, int mode, findings *fd, size_t *dropped)
{
    uint64_t upto = lsm_db_oldest_snapshot(db);
    lsm_version *v = db->vs.current;
    lsm_version_ref(v);
    pthread_mutex_unlock(&db->mu);
    int rc = find(db, v, upto, 0, NULL, mode, fd);
    pthread_mutex_lock(&db->mu);
    find_failed(db, rc);
    *dropped = rc == LSM_OK ? drop_covered(db, &fd->covered) : 0;
    lsm_db_release_version(db, v);
    if (*dropped)
        lsm_db_delete_obsolete(db, 0);
    return rc;
}

/* After a flush of range deletions (db.h): drops the tables they cover,
 * before a compaction by score would read them (mu held; dropped). */
void lsm_drop_pass(lsm_db *db)
{
    db->drops_due = 0;
    db->dropping = 1;
    findings fd = { 0 };
    size_t dropped;
    find_and_drop(db, FIND_COVERED, &fd, &dropped);
    findings_free(&fd);
    db->dropping = 0;
    if (dropped)
        lsm_space_retake(db);   /* a no-op while the reserve is held */
    pthread_cond_broadcast(&db->bg_cv);   /* writers in wait_for_space */
}

/* --- the idle pass ---------------------------------------------------------------------- */

static uint64_t idle_micros(const lsm_db *db)
{
    return (uint64_t)db->opt.idle_compaction_ms * 1000u;
}

uint64_t lsm_idle_due(lsm_db *db, uint64_t now)
{
    if (db->opt.read_only || db->opt.idle_compaction_ms <= 0 ||
        db->reclaim_pending || db->bg_error)
        return UINT64_MAX;
    uint64_t at = lsm_db_last_write(db) + idle_micros(db);
    if (at < db->idle_next_at)
        at = db->idle_next_at;
    if (now < at)
        return at;
    /* Nothing changed since a pass found nothing to do: look again later
     * (writes do not wake this thread). */
    if (db->idle_settled && db->idle_edits == db->edits &&
        db->idle_seq == lsm_db_oldest_snapshot(db) &&
        db->idle_last_seq == db->vs.last_seq)
        return now + idle_micros(db);
    return 0;
}

/* Is the WAL more than space_amp_percent of the tables' bytes?  (Its
 * records are larger than the table they become, and overwrites in it
 * hold space twice.)  Its file counts whole: zeros written ahead, and a
 * reused file's old bytes, which stay until it is retired.  (mu held) */
static int log_over_space_bound(lsm_db *db)
{
    uint64_t tables = 0;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        tables += lsm_version_level_bytes(db->vs.current, l);
    return db->opt.space_amp_percent > 0 && db->log_bytes > 0 &&
           db->log_file_bytes * 100 > tables * (uint64_t)db->opt.space_amp_percent;
}

/* Step 1: switches a memtable holding deletions, or whose WAL is large
 * next to the tables (mu held; dropped). */
static int idle_flush(lsm_db *db)
{
    uint64_t ranges, points = lsm_memtable_deletions(db->mem, &ranges);
    int deletes = ranges > 0 ||
                  (points > 0 && 8 * points >= lsm_memtable_entries(db->mem));
    /* Queued writers come first (and one may wait for this thread). */
    if (db->nimm > 0 || db->writers || lsm_memtable_empty(db->mem) ||
        db->vs.current->nfiles[0] >= (size_t)db->opt.level0_slowdown_trigger ||
        (!deletes && !log_over_space_bound(db)))
        return 0;
    uint64_t log = db->mem_log;
    pthread_mutex_unlock(&db->mu);
    lsm_db_switch_idle(db);
    pthread_mutex_lock(&db->mu);
    return db->mem_log != log;
}

/* May the steps that rewrite tables (3-5) run: no read either for
 * idle_compaction_ms?  They can rewrite much of the deepest level, and
 * would take the disk, the page cache and a core from reads that go on
 * without a pause.  Steps 1-2 (a flush, manifest edits) wait for writes
 * only.  A step held back sets *deferred. */
static int may_rewrite(lsm_db *db, int *deferred)
{
    if (lsm_db_last_activity(db) + idle_micros(db) <= lsm_db_realtime_micros())
        return 1;
    *deferred = 1;
    return 0;
}

/* Steps 2 and 3 (mu held; dropped for the reading and the I/O). */
static int idle_reclaim(lsm_db *db, int *deferred)
{
    findings fd = { 0 };
    size_t dropped;
    int rc = find_and_drop(db, FIND_HEAVY, &fd, &dropped);
    int ran = 0;
    size_t n = dropped || fd.compact.n == 0 || may_rewrite(db, deferred)
                   ? fd.compact.n : 0;
    for (size_t i = 0; !dropped && !ran && rc == LSM_OK && i < n &&
                       !db->shutting_down && !db->manual_compaction; i++)
        lsm_compact_table(db, fd.compact.v[i].level, fd.compact.v[i].number,
                          NULL, 1, &ran);
    findings_free(&fd);
    return dropped > 0 || ran;
}

/* Step 5: a table naming a blob file mostly garbage is rewritten, its
 * values moved out (blob_gc.c), so the file can go (mu held; dropped). */
static int idle_blob_gc(lsm_db *db, int *deferred)
{
    int level, ran = 0, sealed;
    uint64_t number;
    if (db->shutting_down || db->manual_compaction)
        return 0;
    if (lsm_blob_gc_seal_if_due(db, &sealed) != LSM_OK)
        return 0;
    if (sealed) {
        lsm_db_delete_obsolete(db, 0);
        return 1;
    }
    if (!lsm_blob_gc_pick(db, -1, &level, &number) || !may_rewrite(db, deferred))
        return 0;
    if (level == LSM_NUM_LEVELS - 1)    /* nothing below to merge into */
        return lsm_compact_rewrite_level(db, level);
    lsm_compact_table(db, level, number, NULL, 1, &ran);
    return ran;
}

/* Step 4: the level to compact down for the space bound, or -1 (mu held). */
static int over_space_bound(lsm_db *db)
{
    const lsm_version *v = db->vs.current;
    int deepest = -1;
    for (int l = 0; l < LSM_NUM_LEVELS; l++)
        if (v->nfiles[l])
            deepest = l;
    /* Tiered stores bound space by their own picker (compaction_tiered.c). */
    if (db->opt.space_amp_percent <= 0 || deepest < 0 ||
        db->opt.compaction_style == LSM_COMPACTION_TIERED)
        return -1;
    if (deepest == 0)
        return v->nfiles[0] > 1 ? 0 : -1;
    uint64_t upper = 0;
    int shallowest = -1;
    for (int l = deepest - 1; l >= 0; l--) {
        upper += lsm_version_level_bytes(v, l);
        if (v->nfiles[l])
            shallowest = l;
    }
    uint64_t last = lsm_version_level_bytes(v, deepest);
    if (shallowest < 0 ||
        upper * 100 <= last * (uint64_t)db->opt.space_amp_percent)
        return -1;
    return shallowest;
}

/* Step 4 (mu held; dropped for the I/O). */
static int idle_space_bound(lsm_db *db, int *deferred)
{
    int level = over_space_bound(db);
    return level >= 0 && may_rewrite(db, deferred) &&
           lsm_compact_level_step(db, level);
}

int lsm_idle_pass(lsm_db *db)
{
    uint64_t edits = db->edits, seq = lsm_db_oldest_snapshot(db);
    uint64_t last_seq = db->vs.last_seq;
    int deferred = 0;
    /* The kept WAL's disk space goes back first (db.c, WAL recycling), so
     * the idle flush's switch starts a new file: one written over the kept
     * file would hold its old size (about memtable_bytes) on the disk of
     * an idle store until the next switch, for no sync to save. */
    lsm_db_drop_recycled(db);
    int did = idle_flush(db) || idle_reclaim(db, &deferred) ||
              idle_space_bound(db, &deferred) || idle_blob_gc(db, &deferred);
    /* A pass that met a hold (manual_compaction) found nothing settled:
     * it runs again once the hold ends; one that held a rewrite back for
     * reads, at the next idle period. */
    if (!did && !db->manual_compaction) {
        /* No step ran, no write for idle_compaction_ms: the pooled chunks of
         * flushed memtables (up to memtable_bytes) go back to the kernel;
         * writes that resume fault them in again.  Not under mu: the
         * frees and the trim take up to a few ms; what changes meanwhile
         * shows below as not settled. */
        pthread_mutex_unlock(&db->mu);
        lsm_arena_pool_drain(db->arena_pool);
        pthread_mutex_lock(&db->mu);
        db->idle_settled = !deferred && db->edits == edits &&
                           lsm_db_oldest_snapshot(db) == seq &&
                           db->vs.last_seq == last_seq;
        db->idle_edits = edits;
        db->idle_seq = seq;
        db->idle_last_seq = last_seq;
        db->idle_next_at = lsm_db_realtime_micros() + idle_micros(db);
    }
    return did;
}

int lsm_settled(lsm_db *db)
{
    pthread_mutex_lock(&db->mu);
    int owed = db->nimm > 0 || db->compacting > 0 || db->reclaim_pending ||
               lsm_needs_compaction(db);
    int settled = !owed && (lsm_idle_due(db, 0) == UINT64_MAX ||
                            db->compactions_held ||
                            (db->idle_settled && db->idle_edits == db->edits &&
                             db->idle_seq == lsm_db_oldest_snapshot(db) &&
                             db->idle_last_seq == db->vs.last_seq));
    pthread_mutex_unlock(&db->mu);
    return settled;
}
