/*
 * compaction.c — leveled compaction on background threads.
 *
 * Shape: level 0 takes flushed tables, which may overlap; levels 1..6 hold
 * disjoint tables, level L's target size is level1_bytes * multiplier^(L-1)
 * (10x per level, so a key is rewritten about once per level and a read
 * touches at most one table per level below 0).
 *
 * Picking: every version gets a score per level — level 0: file count /
 * level0_compaction_trigger; deeper: bytes / target.  The highest score
 * >= 1 is compacted first.  Inputs are one file of that level (for level
 * 0 the oldest and every file overlapping it; deeper, the one overlapping
 * the fewest bytes of the next level per byte of its own, as RocksDB's
 * default kMinOverlappingRatio: it rewrites the least of the next level
 * per byte moved down, where round robin by key took any) plus every
 * file of the next level overlapping their key range.  A single input
 * overlapping nothing in the next level, and little in the one after, is
 * moved down by a manifest edit alone (no rewrite).  Level 0 is merged
 * into itself instead, into one table, while the level-1 tables it
 * overlaps hold 1.5 times its bytes or more (pick_level0_self: a merge
 * into level 1 would rewrite them for few level-0 bytes).
 *
 * Merging: the inputs are merged in internal-key order.  An entry is
 * dropped when no snapshot (in memory or named, db.h's points) nor the
 * latest state sees it: every one at or above its sequence number sees a
 * newer version of its key (no point between the two), or a newer range
 * or point deletion covering it.  A deletion every snapshot sees goes
 * when no deeper level can hold the key.  Range
 * deletions are kept (clipped to each output's key range) unless the
 * output is the bottom level for their range and every snapshot sees them.
 * Outputs are cut at target_file_bytes, or, where the level after the
 * output's holds files in their range, at a boundary of those files once
 * past half that size (at twice it at the latest: output_done); early
 * when they would overlap more than 10 target files of that level; never
 * between two versions of the same user key.  Puts every snapshot sees
 * go out at sequence number 0 where nothing deeper holds their key
 * (zero_seq_ok); an output holding one records the highest sequence
 * number its entries had (seq0_max, version.h: manifest tag 12).
 *
 * Space: a compaction starts only if its inputs' size fits on the disk
 * besides what the memtables' flushes will need (room_for); otherwise
 * compactions wait, and level 0 may grow past the stop trigger (db.c).
 * Reclaiming compactions (lsm_compact_table, for the space and idle
 * passes of reclaim.c) drop entries under any range deletion of the
 * version, not only the inputs', and under the point deletions the pass
 * was given; idle ones (also lsm_compact_level_step) give up at the first
 * write that comes after they started.
 *
 * Safety: outputs are fsync'ed, then the directory, then the manifest
 * edit swapping inputs for outputs.  Until that edit is durable the
 * inputs remain the store; a failure leaves them in place, deletes the
 * outputs and puts the store in the background-error state.
 *
 * Tiered stores (compaction_style) pick by compaction_tiered.c instead:
 * a merge of whole levels 0..out_level into out_level, run here alike;
 * while damaged tables block tiered merges, they fall back on the
 * picking above (valid for any level shape), which works around them.
 *
 * Damaged tables: a compaction that meets an unreadable block
 * (LSM_CORRUPTION) reads each of its inputs once more through a salvage
 * iterator to find which are damaged.  Those are marked (logged once,
 * listed by lsm_property) and the compaction is abandoned like any failed
 * one, but the store stays writable: reads of the damaged block keep
 * failing with LSM_CORRUPTION, and no compaction takes a damaged table as
 * an input again in this process (lsm_repair rewrites it offline).  The
 * picker tries other files and other levels instead.  Level-0 tables
 * that overlap a damaged table (in level 0 or 1) cannot move down, so
 * they do not count towards the writers' slowdown and stop triggers:
 * level 0 grows past them instead of stalling writes forever, and reads
 * of that key range get slower until the store is repaired.  If no input
 * turns out damaged, the corruption is a background error as before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "db.h"
#include "error.h"
#include "filename.h"
#include "ikey.h"
#include "range_del.h"

typedef struct compaction {
    int level;                      /* inputs[0] level */
    /* Where outputs go: level + 1, or for a tiered merge (tiered = 1,
     * compaction_tiered.c) a deeper level; then inputs[0] are every table
     * of levels 0..out_level - 1 and inputs[1] those of out_level. */
    int out_level, tiered;
    int whole;                      /* every table of level (lsm_compact) */
    lsm_file_meta **inputs[2];
    size_t ninputs[2];
    lsm_version *version;           /* referenced while compacting */
    lsm_version_edit edit;
    uint64_t smallest_snapshot;
    uint64_t *points;               /* lsm_db_snapshot_points */
    size_t npoints;
    /* A reclaiming compaction (lsm_compact_table): never a trivial move,
     * and entries are dropped under the range deletions of every table
     * of the version, not only of the inputs, and under the point
     * deletions in `hints` (durable in tables by then). */
    int reclaim;
    const lsm_hints *hints;
    /* Idle work (reclaim.c): abandoned, not failed, once a write arrives
     * after started_us (CLOCK_REALTIME). */
    int idle;
    uint64_t started_us;
    lsm_file_meta **grandparents;   /* overlapping files of level+2 */
    size_t ngrandparents;
    /* No level below the output holds a key of the inputs' range (set by
     * compaction_start), so a range deletion every snapshot sees is never
     * kept in an output. */
    int bottommost;
    /* The highest seq0_max of the inputs (version.h): a bound on what an
     * input put already at sequence 0 had before (set by
     * compaction_start). */
    uint64_t seq0_max;
    /* A merge of level 0 into itself (out_level 0, pick_level0_self):
     * its one output's number, taken when it was picked; else 0. */
    uint64_t l0_number;
} compaction;

static uint64_t level_target(const lsm_options *o, int level)
{
    uint64_t t = o->level1_bytes;
    for (int l = 1; l < level; l++)
        t *= (uint64_t)o->level_multiplier;
    return t;
}

static double level_score(lsm_db *db, const lsm_version *v, int l)
{
    return l == 0 ? (double)v->nfiles[0] / db->opt.level0_compaction_trigger
                  : (double)lsm_version_level_bytes(v, l) /
                        (double)level_target(&db->opt, l);
}

void lsm_version_score(lsm_db *db, lsm_version *v)
{
    double best = -1;
    int best_level = 0;
    for (int l = 0; l < LSM_NUM_LEVELS - 1; l++) {
        double s = level_score(db, v, l);
        if (s > best) {
            best = s;
            best_level = l;
        }
    }
    v->compaction_score = best;
    v->compaction_level = best_level;
}

int lsm_needs_compaction(lsm_db *db)
{
    int out;
    if (db->opt.compaction_style == LSM_COMPACTION_TIERED) {
        if (lsm_tiered_pick(&db->opt, db->vs.current, &out))
            return 1;
        if (db->ndamaged == 0)
            return 0;       /* else leveled picks work around the damage */
    }
    lsm_version_score(db, db->vs.current);
    return db->vs.current->compaction_score >= 1;
}

/* --- picking ----------------------------------------------------------------- */

static void user_range(lsm_file_meta **files, size_t n, lsm_slice *lo,
                       lsm_slice *hi)
{
    for (size_t i = 0; i < n; i++) {
        lsm_slice s = lsm_ikey_user(lsm_buf_slice(&files[i]->smallest));
        lsm_slice l = lsm_ikey_user(lsm_buf_slice(&files[i]->largest));
        if (i == 0 || lsm_slice_cmp(s, *lo) < 0)
            *lo = s;
        if (i == 0 || lsm_slice_cmp(l, *hi) > 0)
            *hi = l;
    }
}

/* Is any of the files being compacted or damaged? */
static int any_blocked(lsm_file_meta **files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (files[i]->being_compacted || files[i]->damaged)
            return 1;
    return 0;
}

/* Marks the level-0 files overlapping f's user-key range (transitively). */
static void mark_l0_overlapping(lsm_version *v, const lsm_file_meta *f,
                                unsigned char *blocked)
{
    lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f->smallest));
    lsm_slice hi = lsm_ikey_user(lsm_buf_slice(&f->largest));
    lsm_file_meta **ov;
    size_t n;
    if (lsm_version_overlapping(v, 0, &lo, &hi, &ov, &n))
        return;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < v->nfiles[0]; j++)
            if (v->files[0][j] == ov[i])
                blocked[j] = 1;
    free(ov);
}

size_t lsm_l0_blocked(lsm_db *db)
{
    lsm_version *v = db->vs.current;
    if (db->ndamaged == 0 || v->nfiles[0] == 0)
        return 0;
    if (db->l0_blocked_valid)
        return db->l0_blocked;
    unsigned char *blocked = calloc(v->nfiles[0], 1);
    if (!blocked)
        return 0;
    for (int l = 0; l <= 1; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (v->files[l][i]->damaged)
                mark_l0_overlapping(v, v->files[l][i], blocked);
    size_t n = 0;
    for (size_t j = 0; j < v->nfiles[0]; j++)
        n += blocked[j];
    free(blocked);
    db->l0_blocked = n;
    db->l0_blocked_valid = 1;
    return n;
}

static void compaction_free(lsm_db *db, compaction *c)
{
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < c->ninputs[i]; k++)
            c->inputs[i][k]->being_compacted = 0;
        free(c->inputs[i]);
    }
    free(c->grandparents);
    free(c->points);
    if (c->version)
        lsm_version_unref(c->version);
    lsm_edit_free(&c->edit);
    if (c->l0_number)   /* an output not installed no longer needs it */
        lsm_db_remove_pending(db, c->l0_number);
    free(c);
}

/* Widens the user key range [*lo, *hi] to cover [lo1, hi1]. */
static void widen_range(lsm_slice *lo, lsm_slice *hi, lsm_slice lo1,
                        lsm_slice hi1)
{
    if (lsm_slice_cmp(lo1, *lo) < 0)
        *lo = lo1;
    if (lsm_slice_cmp(hi1, *hi) > 0)
        *hi = hi1;
}

/* Fills inputs[1] and the grandparents from inputs[0] (mu held). */
static int setup_other_inputs(compaction *c)
{
    lsm_slice lo, hi;
    user_range(c->inputs[0], c->ninputs[0], &lo, &hi);
    int rc = lsm_version_overlapping(c->version, c->level + 1, &lo, &hi,
                                     &c->inputs[1], &c->ninputs[1]);
    if (rc)
        return rc;
    if (c->ninputs[1]) {
        lsm_slice lo1, hi1;
        user_range(c->inputs[1], c->ninputs[1], &lo1, &hi1);
        widen_range(&lo, &hi, lo1, hi1);
    }
    if (c->level + 2 < LSM_NUM_LEVELS)
        return lsm_version_overlapping(c->version, c->level + 2, &lo, &hi,
                                       &c->grandparents, &c->ngrandparents);
    return LSM_OK;
}

/* Bytes of the next level's files overlapping files[level][i], for
 * every i: one merge walk of the two sorted levels, O(n + m + shared
 * boundary files). */
static void overlap_bytes(const lsm_version *v, int level, uint64_t *out)
{
    lsm_file_meta **f = v->files[level], **g = v->files[level + 1];
    size_t m = v->nfiles[level + 1], j = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) {
        lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f[i]->smallest));
        lsm_slice hi = lsm_ikey_user(lsm_buf_slice(&f[i]->largest));
        while (j < m && lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&g[j]->largest)),
                                      lo) < 0)
            j++;
        out[i] = 0;
        for (size_t k = j; k < m; k++) {
            if (lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&g[k]->smallest)),
                              hi) > 0)
                break;
            out[i] += g[k]->size;
        }
    }
}

typedef struct ranked {
    uint64_t ratio;     /* overlapping bytes * 1024 / own bytes */
    size_t index;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->ratio != y->ratio)
        return x->ratio < y->ratio ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int lsm_pick_order(const lsm_version *v, int level, size_t *order)
{
    size_t n = v->nfiles[level];
    if (level == 0 || level >= LSM_NUM_LEVELS - 1) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        return LSM_OK;
    }
    uint64_t *ov = malloc((n ? n : 1) * sizeof *ov);
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!ov || !r) {
        free(ov);
        free(r);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    overlap_bytes(v, level, ov);
    for (size_t i = 0; i < n; i++) {
        uint64_t size = v->files[level][i]->size ? v->files[level][i]->size : 1;
        r[i].ratio = ov[i] > UINT64_MAX / 1024 ? UINT64_MAX : ov[i] * 1024 / size;
        r[i].index = i;
    }
    qsort(r, n, sizeof *r, ranked_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = r[i].index;
    free(ov);
    free(r);
    return LSM_OK;
}

static void drop_inputs(compaction *c)
{
    for (int w = 0; w < 2; w++) {
        free(c->inputs[w]);
        c->inputs[w] = NULL;
        c->ninputs[w] = 0;
    }
    free(c->grandparents);
    c->grandparents = NULL;
    c->ngrandparents = 0;
}

/* A compaction of `level` over the current version, inputs to be
 * chosen (mu held); NULL when out of memory. */
static compaction *compaction_new(lsm_db *db, int level)
{
    compaction *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->level = level;
    c->out_level = level + 1;
    c->version = db->vs.current;
    lsm_version_ref(c->version);
    lsm_edit_init(&c->edit);
    return c;
}

/* Adds the overlapping files of the next level to a compaction whose
 * inputs[0] are chosen (rc: how choosing them went).  1 if it may run
 * (no input being compacted or damaged); else 0, inputs dropped. */
static int complete_inputs(compaction *c, int rc)
{
    if (rc == LSM_OK)
        rc = setup_other_inputs(c);
    if (rc == LSM_OK && !any_blocked(c->inputs[0], c->ninputs[0]) &&
        !any_blocked(c->inputs[1], c->ninputs[1]))
        return 1;
    drop_inputs(c);
    return 0;
}

static int deeper_holds(const compaction *c, lsm_slice b, lsm_slice e);

/* Sets c->bottommost.  Cost: one pass over the deeper levels' files. */
static void note_bottommost(compaction *c)
{
    lsm_slice lo, hi, lo1, hi1;
    size_t n0 = c->ninputs[0], n1 = c->ninputs[1];
    if (n0 + n1 == 0) {
        c->bottommost = 1;
        return;
    }
    user_range(n0 ? c->inputs[0] : c->inputs[1], n0 ? n0 : n1, &lo, &hi);
    if (n0 && n1) {
        user_range(c->inputs[1], n1, &lo1, &hi1);
        widen_range(&lo, &hi, lo1, hi1);
    }
    c->bottommost = !deeper_holds(c, lo, hi);
}

/* Marks every input busy and takes the oldest snapshot (mu held). */
static compaction *compaction_start(lsm_db *db, compaction *c)
{
    note_bottommost(c);
    for (int k = 0; k < 2; k++)
        for (size_t j = 0; j < c->ninputs[k]; j++) {
            c->inputs[k][j]->being_compacted = 1;
            if (c->inputs[k][j]->seq0_max > c->seq0_max)
                c->seq0_max = c->inputs[k][j]->seq0_max;
        }
    c->smallest_snapshot = lsm_db_oldest_snapshot(db);
    if (lsm_db_snapshot_points(db, &c->points, &c->npoints)) {
        c->points = NULL;   /* no memory: keep every version newer than the oldest */
        c->npoints = 0;
    }
    return c;
}

/* complete_inputs, then compaction_start; NULL (c freed) if it may not
 * run (mu held). */
static compaction *compaction_setup(lsm_db *db, compaction *c, int rc)
{
    if (!complete_inputs(c, rc)) {
        compaction_free(db, c);
        return NULL;
    }
    return compaction_start(db, c);
}

static uint64_t total_size(lsm_file_meta **files, size_t n);

/* LevelDB's input expansion for a sorted level: takes in every file of
 * c->level inside the key range the compaction rewrites in the next
 * level, if that adds no next-level file and the inputs stay under 25
 * target files; more bytes move down per byte rewritten.  (mu held) */
static void expand_inputs(lsm_db *db, compaction *c)
{
    if (c->level == 0 || c->ninputs[1] == 0)
        return;
    lsm_slice lo, hi, lo1, hi1;
    user_range(c->inputs[0], c->ninputs[0], &lo, &hi);
    user_range(c->inputs[1], c->ninputs[1], &lo1, &hi1);
    widen_range(&lo, &hi, lo1, hi1);
    lsm_file_meta **e0 = NULL, **e1 = NULL;
    size_t n0 = 0, n1 = 0;
    uint64_t limit = 25 * db->opt.target_file_bytes;
    if (lsm_version_overlapping(c->version, c->level, &lo, &hi, &e0, &n0) ||
        n0 <= c->ninputs[0] || any_blocked(e0, n0) ||
        total_size(e0, n0) + total_size(c->inputs[1], c->ninputs[1]) >= limit) {
        free(e0);
        return;
    }
    user_range(e0, n0, &lo, &hi);
    if (lsm_version_overlapping(c->version, c->level + 1, &lo, &hi, &e1, &n1) ||
        n1 != c->ninputs[1]) {
        free(e0);
        free(e1);
        return;
    }
    free(e1);
    /* inputs[1] stay (a superset range, as many files: the same ones);
     * the grandparents follow the wider range. */
    widen_range(&lo, &hi, lo1, hi1);
    lsm_file_meta **gp = NULL;
    size_t ngp = 0;
    if (c->level + 2 < LSM_NUM_LEVELS &&
        lsm_version_overlapping(c->version, c->level + 2, &lo, &hi, &gp, &ngp)) {
        free(e0);
        return;
    }
    free(c->inputs[0]);
    c->inputs[0] = e0;
    c->ninputs[0] = n0;
    free(c->grandparents);
    c->grandparents = gp;
    c->ngrandparents = ngp;
}

/* Builds a compaction of `level` (all of it when whole), or NULL (mu
 * held).  Not whole: the first file in lsm_pick_order whose inputs are
 * neither being compacted nor damaged.  Cost: O(n log n) for the level's
 * n files per pick, besides the overlap walk. */
static compaction *pick(lsm_db *db, int level, int whole)
{
    lsm_version *v = db->vs.current;
    if (v->nfiles[level] == 0 || level >= LSM_NUM_LEVELS - 1)
        return NULL;
    compaction *c = compaction_new(db, level);
    if (!c)
        return NULL;
    c->whole = whole;
    if (whole)
        return compaction_setup(db, c,
                                lsm_version_overlapping(v, level, NULL, NULL,
                                                        &c->inputs[0],
                                                        &c->ninputs[0]));
    size_t *order = malloc(v->nfiles[level] * sizeof *order);
    if (!order || lsm_pick_order(v, level, order)) {
        free(order);
        compaction_free(db, c);
        return NULL;
    }
    for (size_t k = 0; k < v->nfiles[level]; k++) {
        lsm_file_meta *f = v->files[level][order[k]];
        if (f->being_compacted || f->damaged)
            continue;
        lsm_slice lo = lsm_ikey_user(lsm_buf_slice(&f->smallest));
        lsm_slice hi = lsm_ikey_user(lsm_buf_slice(&f->largest));
        int rc = lsm_version_overlapping(v, level, &lo, &hi, &c->inputs[0],
                                         &c->ninputs[0]);
        if (complete_inputs(c, rc)) {
            free(order);
            expand_inputs(db, c);
            return compaction_start(db, c);
        }
        if (rc != LSM_OK)
            break;
    }
    free(order);
    compaction_free(db, c);
    return NULL;
}

static uint64_t total_size(lsm_file_meta **files, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += files[i]->size;
    return s;
}

/* Bytes of both levels' inputs of c. */
static uint64_t input_bytes(const compaction *c)
{
    return total_size(c->inputs[0], c->ninputs[0]) +
           total_size(c->inputs[1], c->ninputs[1]);
}

static int is_trivial_move(lsm_db *db, const compaction *c)
{
    return !c->reclaim && !c->tiered && c->ninputs[0] == 1 && c->ninputs[1] == 0 &&
           total_size(c->grandparents, c->ngrandparents) <=
               10 * db->opt.target_file_bytes;
}

/* --- merging ------------------------------------------------------------------ */

/* One output table being written. */
typedef struct output {
    lsm_file *file;
    lsm_table_builder *builder;
    lsm_file_meta meta;
    lsm_buf lower;          /* user key where its range-del clip starts ("" = none) */
    int has_lower;
    int seq0;               /* it holds a put at sequence number 0 */
    uint64_t orig_max;      /* its point entries' highest sequence number
                               before zeroing (meta.seq0_max if seq0) */
} output;

/* The merge of one key range of a compaction: all of it, or one of its
 * sub-compactions (each on its own thread, sharing only what is read:
 * the compaction and its version, and `visible`). */
typedef struct merge_state {
    lsm_db *db;
    compaction *c;
    output out;
    int open;
    lsm_iiter *tombs;       /* all input range deletions (sorted by begin) */
    const lsm_range_dels *visible;  /* deletions that may drop entries (all seqs) */
    uint64_t *numbers;      /* output file numbers */
    size_t nnumbers, cap;
    /* The user keys merged: [lo, hi); has_lo/has_hi 0: unbounded. */
    lsm_buf lo, hi;
    int has_lo, has_hi;
    lsm_version_edit edit;  /* the outputs, in key order */
    /* level pointers for is_bottom_for_key, one per deeper level */
    size_t level_ptr[LSM_NUM_LEVELS];
    /* grandparent overlap tracking */
    size_t gp_index;
    uint64_t gp_overlap;
    int seen_key;
    int gp_inside;          /* the last key was inside grandparents[gp_index] */
    size_t gp_crossed;      /* grandparent boundaries the open output crossed */
    int *failed;            /* set by a failing sub-compaction: the rest stop */
    int status;             /* of the merge; why: its message */
    int stopped;            /* it stopped because another range failed */
    char why[256];
    pthread_t thread;
    lsm_blob_move blob;     /* relocation of old blob values (blob_gc.c);
                               the job pins the files they move to */
    lsm_buf zkey;           /* an entry's key with its sequence number zeroed */
} merge_state;

/* May a deeper level than the output hold user_key?  Keys arrive in
 * order, so each level's pointer only moves forward. */
static int is_bottom_for_key(merge_state *ms, lsm_slice user_key)
{
    compaction *c = ms->c;
    for (int l = c->out_level + 1; l < LSM_NUM_LEVELS; l++) {
        lsm_file_meta **files = c->version->files[l];
        size_t n = c->version->nfiles[l];
        for (; ms->level_ptr[l] < n; ms->level_ptr[l]++) {
            lsm_file_meta *f = files[ms->level_ptr[l]];
            if (lsm_slice_cmp(user_key, lsm_ikey_user(lsm_buf_slice(&f->largest))) <= 0) {
                if (lsm_slice_cmp(user_key, lsm_ikey_user(lsm_buf_slice(&f->smallest))) >= 0)
                    return 0;
                break;
            }
        }
    }
    return 1;
}

/* What the grandparents (the level below the output) say of cutting the
 * output before ikey: GP_CUT when it overlaps more than 10 target files
 * of them, GP_BOUNDARY when ikey enters or leaves a grandparent file (a
 * cut there aligns the output with them), else 0.  Keys arrive in order,
 * so the walk over the grandparents only moves forward. */
enum { GP_BOUNDARY = 1, GP_CUT = 2 };

static int grandparent_cut(merge_state *ms, lsm_slice ikey)
{
    compaction *c = ms->c;
    int crossed = 0;
    while (ms->gp_index < c->ngrandparents) {
        const lsm_file_meta *g = c->grandparents[ms->gp_index];
        if (!ms->gp_inside) {
            if (lsm_ikey_cmp(ikey, lsm_buf_slice(&g->smallest)) < 0)
                break;
            ms->gp_inside = 1;
        } else {
            if (lsm_ikey_cmp(ikey, lsm_buf_slice(&g->largest)) <= 0)
                break;
            ms->gp_inside = 0;
            if (ms->seen_key)
                ms->gp_overlap += g->size;
            ms->gp_index++;
        }
        crossed |= ms->seen_key;
        ms->gp_crossed += ms->seen_key;
    }
    ms->seen_key = 1;
    if (ms->gp_overlap > 10 * ms->db->opt.target_file_bytes) {
        ms->gp_overlap = 0;
        return GP_CUT;
    }
    return crossed ? GP_BOUNDARY : 0;
}

/* Is the open output done before a new user key (gp: grandparent_cut's
 * answer)?  Outputs that have grandparents are cut where the key crosses
 * a grandparent file boundary once they hold (50 + 5 min(n, 8))% of
 * target_file_bytes, n the boundaries they crossed, and at twice
 * target_file_bytes at the latest (RocksDB 7.8's default
 * level_compaction_dynamic_file_size): aligned outputs overlap fewer
 * grandparent bytes when they move down in turn (RocksDB measured ~12%
 * less compaction).  Others are cut at target_file_bytes. */
static int output_done(merge_state *ms, int gp)
{
    uint64_t size = lsm_table_builder_file_size(ms->out.builder);
    uint64_t target = ms->db->opt.target_file_bytes;
    if (ms->c->l0_number)
        return 0;       /* one output: the number taken for it */
    if (gp == GP_CUT)
        return 1;
    if (ms->c->ngrandparents == 0)
        return size >= target;
    size_t n = ms->gp_crossed < 8 ? ms->gp_crossed : 8;
    return size >= 2 * target ||
           (gp == GP_BOUNDARY && size > target / 100 * (50 + 5 * n));
}

static int set_key(lsm_buf *b, lsm_slice k)
{
    lsm_buf_clear(b);
    return lsm_buf_append(b, k.data, k.len) ? lsm_fail(LSM_NO_MEMORY, "out of memory")
                                            : LSM_OK;
}

/* The number of a new output of ms: a new one, or for a merge of level
 * 0 into itself the one taken for its single output. */
static int output_number(merge_state *ms, uint64_t *number)
{
    if (!ms->c->l0_number)
        return lsm_db_new_output(ms->db, number);
    if (ms->nnumbers > 0)
        return lsm_fail(LSM_INVALID, "compaction: a second output of a level-0 merge");
    *number = ms->c->l0_number;
    return LSM_OK;
}

static int open_output(merge_state *ms)
{
    lsm_db *db = ms->db;
    uint64_t number;
    int rc = output_number(ms, &number);
    if (rc)
        return rc;
    if (ms->nnumbers == ms->cap) {
        size_t cap = ms->cap ? ms->cap * 2 : 8;
        uint64_t *p = realloc(ms->numbers, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        ms->numbers = p;
        ms->cap = cap;
    }
    ms->numbers[ms->nnumbers++] = number;
    char *path = lsm_filename(db->dir, LSM_FILE_TABLE, number);
    if (!path)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    rc = db->env->open_write(db->env, path, &ms->out.file);
    free(path);
    if (rc)
        return rc;
    lsm_table_options to = lsm_db_table_options(&db->opt);
    ms->out.builder = lsm_table_builder_new(ms->out.file, &to);
    if (!ms->out.builder)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    ms->out.meta.number = number;
    ms->out.meta.entries = 0;
    ms->out.seq0 = 0;
    ms->out.orig_max = 0;
    lsm_buf_clear(&ms->out.meta.smallest);
    lsm_buf_clear(&ms->out.meta.largest);
    ms->open = 1;
    ms->gp_crossed = 0;
    return LSM_OK;
}

void lsm_file_meta_widen(lsm_file_meta *m, lsm_slice ikey)
{
    if (m->smallest.len == 0 || lsm_ikey_cmp(ikey, lsm_buf_slice(&m->smallest)) < 0)
        set_key(&m->smallest, ikey);
    if (m->largest.len == 0 || lsm_ikey_cmp(ikey, lsm_buf_slice(&m->largest)) > 0)
        set_key(&m->largest, ikey);
}

/* Does a level below the output hold any key of [b, e]? */
static int deeper_holds(const compaction *c, lsm_slice b, lsm_slice e)
{
    for (int l = c->out_level + 1; l < LSM_NUM_LEVELS; l++)
        for (size_t i = 0; i < c->version->nfiles[l]; i++) {
            const lsm_file_meta *f = c->version->files[l][i];
            if (lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&f->largest)), b) >= 0 &&
                lsm_slice_cmp(lsm_ikey_user(lsm_buf_slice(&f->smallest)), e) <= 0)
                return 1;
        }
    return 0;
}

/* Writes the input range deletions that fall in [lower, upper) into the
 * current output, clipped to it (upper NULL = unbounded). */
static int add_clipped_tombs(merge_state *ms, const lsm_slice *upper)
{
    output *o = &ms->out;
    lsm_buf k = { 0 };
    int rc = LSM_OK;
    for (lsm_iiter_first(ms->tombs); rc == LSM_OK && lsm_iiter_valid(ms->tombs);
         lsm_iiter_next(ms->tombs)) {
        lsm_ikey t;
        if (!lsm_ikey_parse(lsm_iiter_key(ms->tombs), &t))
            return lsm_fail(LSM_CORRUPTION, "malformed range deletion");
        lsm_slice b = t.user, e = lsm_iiter_value(ms->tombs);
        if (o->has_lower && lsm_slice_cmp(b, lsm_buf_slice(&o->lower)) < 0)
            b = lsm_buf_slice(&o->lower);
        if (upper && lsm_slice_cmp(e, *upper) > 0)
            e = *upper;
        if (lsm_slice_cmp(b, e) >= 0)
            continue;
        /* Every snapshot sees it and nothing deeper holds its range: gone. */
        if (t.seq <= ms->c->smallest_snapshot && !deeper_holds(ms->c, b, e))
            continue;
        rc = lsm_table_builder_add_range_del(o->builder, b, e, t.seq);
        lsm_buf_clear(&k);
        if (rc == LSM_OK && !(rc = lsm_ikey_append(&k, b, t.seq, LSM_KIND_RANGE_DEL)))
            lsm_file_meta_widen(&o->meta, lsm_buf_slice(&k));
        lsm_buf_clear(&k);
        if (rc == LSM_OK && !(rc = lsm_ikey_append(&k, e, LSM_MAX_SEQ, LSM_KIND_SEEK)))
            lsm_file_meta_widen(&o->meta, lsm_buf_slice(&k));
        o->meta.entries++;
    }
    lsm_buf_free(&k);
    return rc ? rc : lsm_iiter_status(ms->tombs);
}

/* Is a range deletion of the inputs kept (see add_clipped_tombs) in the
 * merged range? */
static int any_tomb_kept(merge_state *ms, int *rc)
{
    for (lsm_iiter_first(ms->tombs); lsm_iiter_valid(ms->tombs);
         lsm_iiter_next(ms->tombs)) {
        lsm_ikey t;
        if (!lsm_ikey_parse(lsm_iiter_key(ms->tombs), &t))
            return 1;   /* add_clipped_tombs reports it */
        lsm_slice b = t.user, e = lsm_iiter_value(ms->tombs);
        if (ms->has_lo && lsm_slice_cmp(b, lsm_buf_slice(&ms->lo)) < 0)
            b = lsm_buf_slice(&ms->lo);
        if (ms->has_hi && lsm_slice_cmp(e, lsm_buf_slice(&ms->hi)) > 0)
            e = lsm_buf_slice(&ms->hi);
        if (lsm_slice_cmp(b, e) < 0 &&
            (t.seq > ms->c->smallest_snapshot || deeper_holds(ms->c, b, e)))
            return 1;
    }
    *rc = lsm_iiter_status(ms->tombs);
    return 0;
}

/* Finishes the open output; `upper` is the next output's first user key. */
static int close_output(merge_state *ms, const lsm_slice *upper)
{
    output *o = &ms->out;
    int rc = add_clipped_tombs(ms, upper);
    if (rc == LSM_OK)
        rc = lsm_table_builder_finish(o->builder, &o->meta.size);
    lsm_file_meta blobs = { 0 };        /* the blob files it names */
    if (rc == LSM_OK)
        lsm_table_builder_blob_files(o->builder, &blobs);
    lsm_table_builder_free(o->builder);
    o->builder = NULL;
    int crc = lsm_file_close(o->file);
    rc = rc ? rc : crc;
    ms->open = 0;
    o->meta.seq0_max = o->seq0 ? o->orig_max : 0;
    int rdels = 0;
    if (rc == LSM_OK && o->meta.entries > 0)
        rc = lsm_table_cache_warm(ms->db->tcache, o->meta.number, o->meta.size,
                                  !ms->c->whole, &rdels);
    o->meta.range_dels = lsm_rdels_known(rdels);
    if (rc == LSM_OK && o->meta.entries > 0)
        rc = lsm_edit_add_meta(&ms->edit, ms->c->out_level, &o->meta);
    if (rc == LSM_OK && o->meta.entries > 0)
        lsm_file_meta_copy_blobs(ms->edit.added[ms->edit.nadded - 1].meta,
                                 &blobs);
    free(blobs.blob_files);
    if (rc == LSM_OK) {
        __atomic_add_fetch(&ms->db->stats.level_written[ms->c->out_level],
                           o->meta.size, __ATOMIC_RELAXED);
        if (upper) {
            o->has_lower = 1;
            rc = set_key(&o->lower, *upper);
        }
    }
    return rc;
}

/* Decides the fate of one input entry; 1 = keep. */
typedef struct key_state {
    lsm_buf user;
    int has_user;
    uint64_t last_seq;      /* seq of the previous entry of this user key */
} key_state;

/* The oldest reader that may see an entry at seq: the smallest
 * snapshot point >= seq (without points: one at seq, as the oldest
 * snapshot rule had it).  A newer version or deletion at or below it is
 * seen instead of the entry by every reader that could see the entry. */
static uint64_t first_viewer(const compaction *c, uint64_t seq)
{
    if (!c->points)
        return seq > c->smallest_snapshot ? seq : c->smallest_snapshot;
    return lsm_db_next_point(c->points, c->npoints, seq);
}

/* Does a point deletion a space pass acts on (kept in a table outside
 * the inputs, maybe) hide this entry from every snapshot? */
static int deleted_later(const compaction *c, const lsm_ikey *k)
{
    if (!c->hints)
        return 0;
    uint64_t seq = lsm_hints_seq(c->hints, k->user);
    return seq > k->seq && seq <= first_viewer(c, k->seq);
}

static int keep_entry(merge_state *ms, key_state *ks, const lsm_ikey *k)
{
    compaction *c = ms->c;
    if (!ks->has_user || lsm_slice_cmp(k->user, lsm_buf_slice(&ks->user)) != 0) {
        set_key(&ks->user, k->user);
        ks->has_user = 1;
        ks->last_seq = LSM_MAX_SEQ + 1;
    }
    int drop = 0;
    uint64_t viewer = first_viewer(c, k->seq);
    if (ks->last_seq <= viewer)
        drop = 1;   /* every reader that could see it sees a newer version */
    else if (k->kind == LSM_KIND_DELETE && k->seq <= c->smallest_snapshot &&
             is_bottom_for_key(ms, k->user))
        drop = 1;   /* deletion of a key nothing deeper holds */
    else if (lsm_range_dels_max_seq(ms->visible, k->user, viewer) > k->seq)
        drop = 1;   /* covered by a range deletion all its readers see */
    else if (deleted_later(c, k))
        drop = 1;   /* a newer deletion every snapshot sees, elsewhere */
    ks->last_seq = k->seq;
    return !drop;
}

/* May the kept put k go out with sequence number 0 (as RocksDB's
 * bottommost compactions do: a table of such entries is ~8% smaller, the
 * 7-byte sequence numbers being the least compressible bytes of a block)?
 * Only if nothing could ever tell: every snapshot sees it (so every older
 * version of its key was dropped), nothing deeper holds its key, and no
 * range deletion older than it is kept in the output (one would then
 * cover it): in a bottommost compaction every such deletion is dropped
 * (every snapshot sees it too), else no input deletion may cover the key
 * at all (one query of the deletions, O(log^2 T)).  Every other version
 * or deletion of the key the store may hold is then newer, at a
 * shallower level or earlier in this output, and compares as before
 * against 0: the level invariant (a shallower table's versions and range
 * deletions of a key are newer than a deeper table's) is what reads,
 * compactions and the space passes already rely on.  Output level 0 is
 * never zeroed (its tables overlap). */
static int zero_seq_ok(merge_state *ms, const lsm_ikey *k)
{
    const compaction *c = ms->c;
    return k->seq != 0 && lsm_kind_is_put(k->kind) && c->out_level > 0 &&
           k->seq <= c->smallest_snapshot && is_bottom_for_key(ms, k->user) &&
           (c->bottommost ||
            lsm_range_dels_max_seq(ms->visible, k->user, LSM_MAX_SEQ) == 0);
}

/* Counts the kept point entry k in o's orig_max: an entry already at
 * sequence 0 had at most its inputs' seq0_max (at least 1: writes start
 * there).  Keeping the highest original sequence number lets repair.c
 * hide a lost range of a zeroed table above the older versions of its
 * keys (a deletion at 0 hides nothing). */
static void note_orig_seq(output *o, const compaction *c, const lsm_ikey *k)
{
    uint64_t orig = k->seq ? k->seq : c->seq0_max ? c->seq0_max : 1;
    o->seq0 |= k->seq == 0;
    if (orig > o->orig_max)
        o->orig_max = orig;
}

static int merge_entry(merge_state *ms, key_state *ks, lsm_slice ikey,
                       lsm_slice value)
{
    lsm_ikey k;
    if (!lsm_ikey_parse(ikey, &k))
        return lsm_fail(LSM_CORRUPTION, "malformed key in compaction input");
    int new_user = !ks->has_user ||
                   lsm_slice_cmp(k.user, lsm_buf_slice(&ks->user)) != 0;
    int gp = grandparent_cut(ms, ikey);
    if (ms->open && new_user && output_done(ms, gp)) {
        int rc = close_output(ms, &k.user);
        if (rc)
            return rc;
    }
    if (!keep_entry(ms, ks, &k)) {
        lsm_blob_garbage_note(&ms->blob.garbage, k.kind, value);
        return LSM_OK;
    }
    if (!ms->open) {
        int rc = open_output(ms);
        if (rc)
            return rc;
    }
    note_orig_seq(&ms->out, ms->c, &k);
    if (zero_seq_ok(ms, &k)) {
        ms->out.seq0 = 1;
        lsm_buf_clear(&ms->zkey);
        if (lsm_ikey_append(&ms->zkey, k.user, 0, k.kind))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        ikey = lsm_buf_slice(&ms->zkey);
    }
    lsm_file_meta_widen(&ms->out.meta, ikey);
    ms->out.meta.entries++;
    if (k.kind == LSM_KIND_BLOB) {
        int rc = lsm_blob_relocate(ms->db, &ms->blob, &value);
        if (rc)
            return rc;
    }
    return lsm_table_builder_add(ms->out.builder, ikey, value);
}

static lsm_iiter *inputs_iter(lsm_db *db, compaction *c, int range_dels)
{
    size_t n = c->ninputs[0] + c->ninputs[1];
    lsm_iiter **its = malloc((n ? n : 1) * sizeof *its);
    if (!its)
        return NULL;
    size_t k = 0;
    for (int w = 0; w < 2; w++) {
        for (size_t i = 0; i < c->ninputs[w]; i++) {
            lsm_file_meta *f = c->inputs[w][i];
            its[k++] = range_dels
                ? lsm_table_cache_range_del_iter(db->tcache, f->number, f->size)
                : lsm_table_cache_iter(db->tcache, f->number, f->size, 0);
        }
    }
    lsm_iiter *m = lsm_merge_iter_new(lsm_ikey_cmp, its, (int)n);
    free(its);
    return m;
}

/* The range deletions that may drop input entries (keep_entry asks at
 * each entry's first viewer):
 * the inputs' own (read from, and freeing, input_tombs), and for a space
 * pass those of every table of the version.  Dropping an entry under a
 * deletion with a higher sequence number is right wherever that deletion
 * lives, and it stays in its own table, still hiding older versions
 * below. */
static lsm_range_dels *visible_deletions(compaction *c, lsm_iiter *input_tombs,
                                         int *rc)
{
    int n = 0, cap = 16;
    lsm_iiter **its = malloc((size_t)cap * sizeof *its);
    if (!its) {
        lsm_iiter_free(input_tombs);
        *rc = lsm_fail(LSM_NO_MEMORY, "out of memory");
        return NULL;
    }
    its[n++] = input_tombs;
    int st = c->reclaim ? lsm_version_add_range_del_iters(c->version, &its, &n, &cap)
                        : LSM_OK;
    lsm_range_dels *rd = lsm_range_dels_build(its, n, LSM_MAX_SEQ, rc);
    free(its);
    if (st != LSM_OK && rd) {
        lsm_range_dels_free(rd);
        rd = NULL;
        *rc = st;
    }
    return rd;
}

/* Should the merge stop: the store is closing, or idle work sees a
 * write that came after it started (LSM_BUSY: yielded, not failed). */
static int cut_short(lsm_db *db, const compaction *c)
{
    if (__atomic_load_n(&db->shutting_down, __ATOMIC_RELAXED))
        return lsm_fail(LSM_IO_ERROR, "compaction cut short by close");
    if (c->idle && lsm_db_last_write(db) >= c->started_us)
        return lsm_fail(LSM_BUSY, "idle compaction yielded to writes");
    return LSM_OK;
}

/* Merges ms's key range of the inputs into its outputs (mu not held).
 * A range deletion crossing a bound of the range is clipped to it
 * (add_clipped_tombs through out.lower and the last close_output), as
 * at a cut between two outputs. */
static int merge_range(merge_state *ms)
{
    lsm_db *db = ms->db;
    compaction *c = ms->c;
    lsm_iiter *in = inputs_iter(db, c, 0);
    ms->tombs = inputs_iter(db, c, 1);
    int rc = in && ms->tombs ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    lsm_buf seek = { 0 };
    if (rc == LSM_OK && ms->has_lo) {
        ms->out.has_lower = 1;
        rc = set_key(&ms->out.lower, lsm_buf_slice(&ms->lo));
        if (rc == LSM_OK)
            rc = lsm_ikey_append(&seek, lsm_buf_slice(&ms->lo), LSM_MAX_SEQ,
                                 LSM_KIND_SEEK);
        if (rc == LSM_OK)
            lsm_iiter_seek(in, lsm_buf_slice(&seek));
    } else if (rc == LSM_OK) {
        lsm_iiter_first(in);
    }
    key_state ks = { { 0 }, 0, 0 };
    uint64_t bytes_read = 0, n = 0;
    for (; rc == LSM_OK && lsm_iiter_valid(in); lsm_iiter_next(in)) {
        lsm_slice ikey = lsm_iiter_key(in), value = lsm_iiter_value(in);
        lsm_ikey k;
        if (ms->has_hi && lsm_ikey_parse(ikey, &k) &&
            lsm_slice_cmp(k.user, lsm_buf_slice(&ms->hi)) >= 0)
            break;
        bytes_read += ikey.len + value.len;
        rc = merge_entry(ms, &ks, ikey, value);
        if (rc == LSM_OK && ++n % 256 == 0)
            rc = cut_short(db, c);
        if (rc == LSM_OK && n % 256 == 0 &&
            __atomic_load_n(ms->failed, __ATOMIC_RELAXED)) {
            ms->stopped = 1;
            rc = lsm_fail(LSM_IO_ERROR, "stopped: another sub-compaction failed");
        }
    }
    __atomic_add_fetch(&db->stats.compact_bytes_read, bytes_read, __ATOMIC_RELAXED);
    if (rc == LSM_OK && in)
        rc = lsm_iiter_status(in);
    /* Range deletions with no point entries still need a home, if any
     * is kept. */
    if (rc == LSM_OK && !ms->open && ms->tombs && any_tomb_kept(ms, &rc))
        rc = open_output(ms);
    lsm_slice hi = lsm_buf_slice(&ms->hi);
    if (rc == LSM_OK && ms->open)
        rc = close_output(ms, ms->has_hi ? &hi : NULL);
    lsm_buf_free(&ks.user);
    lsm_buf_free(&seek);
    lsm_iiter_free(in);
    return rc;
}

static void cleanup_outputs(merge_state *ms, int failed)
{
    lsm_db *db = ms->db;
    if (ms->open) {
        lsm_table_builder_free(ms->out.builder);
        lsm_file_close(ms->out.file);
    }
    for (size_t i = 0; i < ms->nnumbers; i++) {
        if (failed) {
            lsm_table_cache_evict(db->tcache, ms->numbers[i]);
            char *path = lsm_filename(db->dir, LSM_FILE_TABLE, ms->numbers[i]);
            if (path)
                db->env->unlink(db->env, path);
            free(path);
        }
    }
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < ms->nnumbers; i++)
        lsm_db_remove_pending(db, ms->numbers[i]);
    pthread_mutex_unlock(&db->mu);
    free(ms->numbers);
    lsm_iiter_free(ms->tombs);
    lsm_buf_free(&ms->out.meta.smallest);
    lsm_buf_free(&ms->out.meta.largest);
    lsm_buf_free(&ms->out.lower);
    lsm_buf_free(&ms->lo);
    lsm_buf_free(&ms->hi);
    lsm_buf_free(&ms->zkey);
    lsm_edit_free(&ms->edit);
}

/* --- sub-compactions ----------------------------------------------------------
 *
 * A compaction out of level 0, or of whole levels (lsm_compact, tiered
 * merges), with inputs of at least twice subcompaction_bytes is cut
 * by user key into up to max_subcompactions ranges of about equal input
 * bytes (at least subcompaction_bytes each), each merged on
 * its own thread (the compaction thread merges the first).  The cuts are
 * index keys of the inputs' data blocks, so the ranges are balanced to a
 * block: the blocks of every input are weighed by their size and sorted
 * by key, and a cut falls where the running sum passes each n-th of the
 * total.  Every version of a user key falls in one range, so each range
 * decides what to keep exactly as the whole merge would (the snapshots
 * and range deletions are the compaction's); a range deletion crossing a
 * cut is split there, and the outputs of the ranges, concatenated in key
 * order, overlap no more than the outputs of one merge do.  They become
 * one version edit, after every range succeeded; a failure of any range
 * stops the others and deletes every output.  Reclaiming and idle
 * compactions are not split (they are small and idle ones must yield at
 * once). */
typedef struct block_sample {
    lsm_slice user;         /* into block_samples.keys once collected */
    size_t off;
    uint64_t bytes;
} block_sample;

/* Samples stand for runs of consecutive blocks of one table, each run
 * at least group_bytes (the inputs' size / MAX_CUT_SAMPLES) but the
 * table's last, keyed by the run's last index key: at most
 * MAX_CUT_SAMPLES plus one per input table, where a sample per block
 * took 32 bytes and its key per data block of the inputs (a full
 * compaction of a 3 GB store: ~1.5M blocks, over 100 MiB while the
 * arrays doubled). */
#define MAX_CUT_SAMPLES 8192

typedef struct block_samples {
    lsm_buf keys;
    block_sample *s;
    size_t n, cap;
    uint64_t group_bytes;
    uint64_t pending;       /* bytes of the table's blocks not sampled yet */
    lsm_buf last;           /* the user key of the last of them */
} block_samples;

static int push_sample(block_samples *bs, lsm_slice user, uint64_t bytes)
{
    if (bs->n == bs->cap) {
        size_t cap = bs->cap ? 2 * bs->cap : 256;
        block_sample *p = realloc(bs->s, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        bs->s = p;
        bs->cap = cap;
    }
    bs->s[bs->n++] = (block_sample){ { NULL, user.len }, bs->keys.len, bytes };
    return lsm_buf_append(&bs->keys, user.data, user.len)
               ? lsm_fail(LSM_NO_MEMORY, "out of memory") : LSM_OK;
}

static int add_sample(void *ctx, lsm_slice ikey, uint64_t bytes)
{
    block_samples *bs = ctx;
    if (ikey.len < LSM_IKEY_TRAILER)
        return lsm_fail(LSM_CORRUPTION, "malformed index key");
    lsm_slice user = lsm_ikey_user(ikey);
    bs->pending += bytes;
    if (bs->pending < bs->group_bytes)
        return set_key(&bs->last, user);
    uint64_t run = bs->pending;
    bs->pending = 0;
    return push_sample(bs, user, run);
}

/* The end of a table: its last blocks, if not sampled yet. */
static int end_of_table(block_samples *bs)
{
    uint64_t run = bs->pending;
    bs->pending = 0;
    return run ? push_sample(bs, lsm_buf_slice(&bs->last), run) : LSM_OK;
}

static int sample_cmp(const void *a, const void *b)
{
    return lsm_slice_cmp(((const block_sample *)a)->user,
                         ((const block_sample *)b)->user);
}

/* How many ranges to merge c in.  Compactions between deeper levels
 * are not split (RocksDB 7.8 splits only those out of level 0 and manual
 * ones too): writers wait only for level 0, and merging deeper ones at
 * one thread's pace lets their level grow further past its target, so
 * the least-overlapping pick has more files to choose from.  Splitting
 * them wrote 10% more (lsm-bench, 6M keys, 8 MiB memtables and tables,
 * 32 MiB level 1, alternating runs: write amplification after
 * fillrandom / overwrite 2.95 / 3.43 and 3.01 / 3.40 split, 2.78 / 3.11
 * and 2.74 / 3.11 not; merges into level 2 wrote 3.40 and 3.26 bytes
 * per byte moved down split, 2.56 and 2.67 not; RocksDB 2.99 / 3.48). */
static int subcompactions(lsm_db *db, const compaction *c)
{
    if (c->reclaim || c->idle || c->l0_number || db->opt.max_subcompactions < 2)
        return 1;
    if (c->level > 0 && !c->whole && !c->tiered)
        return 1;
    uint64_t n = input_bytes(c) / db->opt.subcompaction_bytes;
    return n < 2 ? 1 : n < (uint64_t)db->opt.max_subcompactions
                           ? (int)n : db->opt.max_subcompactions;
}

/* Sets up to n - 1 cuts of c's inputs (ascending user keys) in
 * cuts[0..*ncuts) (mu not held). */
static int pick_cuts(lsm_db *db, compaction *c, int n, lsm_buf *cuts, int *ncuts)
{
    block_samples bs = { .group_bytes = input_bytes(c) / MAX_CUT_SAMPLES };
    int rc = LSM_OK;
    *ncuts = 0;
    for (int w = 0; w < 2 && rc == LSM_OK; w++)
        for (size_t i = 0; i < c->ninputs[w] && rc == LSM_OK; i++) {
            lsm_file_meta *f = c->inputs[w][i];
            lsm_table *t;
            lsm_cache_handle *h;
            rc = lsm_table_cache_get(db->tcache, f->number, f->size, &t, &h);
            if (rc == LSM_OK) {
                rc = lsm_table_for_each_block(t, add_sample, &bs);
                lsm_table_cache_release(db->tcache, h);
            }
            if (rc == LSM_OK)
                rc = end_of_table(&bs);
        }
    uint64_t total = 0;
    for (size_t i = 0; i < bs.n; i++) {
        bs.s[i].user.data = bs.keys.data + bs.s[i].off;
        total += bs.s[i].bytes;
    }
    if (rc == LSM_OK && bs.n > 0)
        qsort(bs.s, bs.n, sizeof *bs.s, sample_cmp);
    uint64_t sum = 0;
    for (size_t i = 0; i < bs.n && rc == LSM_OK && *ncuts < n - 1; i++) {
        sum += bs.s[i].bytes;
        if (sum < total / (uint64_t)n * (uint64_t)(*ncuts + 1) || i + 1 == bs.n)
            continue;
        /* a cut past the previous one, with keys on both sides */
        lsm_slice k = bs.s[i].user;
        if (*ncuts > 0 && lsm_slice_cmp(k, lsm_buf_slice(&cuts[*ncuts - 1])) <= 0)
            continue;
        if (lsm_slice_cmp(k, bs.s[0].user) <= 0)
            continue;
        rc = set_key(&cuts[*ncuts], k);
        if (rc == LSM_OK)
            ++*ncuts;
    }
    lsm_buf_free(&bs.keys);
    lsm_buf_free(&bs.last);
    free(bs.s);
    return rc;
}

/* The merges of one compaction. */
typedef struct merge_job {
    merge_state *ms;        /* one per range, in key order */
    int n;
    lsm_range_dels *visible;
    int failed;             /* atomic: a range failed */
} merge_job;

/* A range's merge; a failure stops the others. */
static int run_range(merge_state *ms)
{
    ms->status = merge_range(ms);
    if (ms->status != LSM_OK) {
        __atomic_store_n(ms->failed, 1, __ATOMIC_RELAXED);
        lsm_error_copy(ms->why, sizeof ms->why);
    }
    return ms->status;
}

static void *range_thread(void *arg)
{
    pthread_setname_np(pthread_self(), "lsm-range");
    run_range(arg);
    return NULL;
}

/* Sets up job's ranges (mu not held). */
static int plan_ranges(lsm_db *db, compaction *c, merge_job *job)
{
    int n = subcompactions(db, c), ncuts = 0;
    lsm_buf *cuts = calloc((size_t)n, sizeof *cuts);
    int rc = cuts ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc == LSM_OK && n > 1)
        rc = pick_cuts(db, c, n, cuts, &ncuts);
    if (rc == LSM_OK) {
        job->ms = calloc((size_t)ncuts + 1, sizeof *job->ms);
        rc = job->ms ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    for (int i = 0; rc == LSM_OK && i <= ncuts; i++) {
        merge_state *ms = &job->ms[i];
        *ms = (merge_state){ .db = db, .c = c, .visible = job->visible,
                             .failed = &job->failed };
        lsm_edit_init(&ms->edit);
        job->n++;
        ms->has_lo = i > 0;
        ms->has_hi = i < ncuts;
        if (ms->has_lo)
            rc = set_key(&ms->lo, lsm_buf_slice(&cuts[i - 1]));
        if (rc == LSM_OK && ms->has_hi)
            rc = set_key(&ms->hi, lsm_buf_slice(&cuts[i]));
    }
    for (int i = 0; cuts && i < n; i++)
        lsm_buf_free(&cuts[i]);
    free(cuts);
    return rc;
}

/* Merges c's inputs, in ranges on several threads when it is large, and
 * adds the outputs to c->edit in key order (mu not held). */
static int do_merge(lsm_db *db, compaction *c, merge_job *job,
                    const lsm_blob_plan *blob_plan)
{
    lsm_iiter *tomb_copy = inputs_iter(db, c, 1);
    int rc = tomb_copy ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    if (rc == LSM_OK)
        job->visible = visible_deletions(c, tomb_copy, &rc);
    if (rc == LSM_OK)
        rc = plan_ranges(db, c, job);
    if (rc != LSM_OK)
        return rc;
    for (int i = 0; i < job->n; i++)
        job->ms[i].blob.plan = blob_plan;
    int *started = calloc(job->n > 0 ? (size_t)job->n : 1, sizeof *started);
    for (int i = 1; started && i < job->n; i++)
        started[i] = pthread_create(&job->ms[i].thread, NULL, range_thread,
                                    &job->ms[i]) == 0;
    run_range(&job->ms[0]);
    for (int i = 1; i < job->n; i++) {
        if (started && started[i])
            pthread_join(job->ms[i].thread, NULL);
        else          /* no thread: merged here, after the others */
            run_range(&job->ms[i]);
    }
    free(started);
    if (job->n > 1)
        __atomic_add_fetch(&db->stats.subcompactions, (uint64_t)job->n,
                           __ATOMIC_RELAXED);
    /* The first real failure, not a range stopped because of it. */
    for (int i = 0; i < job->n && rc == LSM_OK; i++)
        if (job->ms[i].status != LSM_OK && !job->ms[i].stopped)
            rc = lsm_fail(job->ms[i].status, "%s", job->ms[i].why);
    for (int i = 0; i < job->n && rc == LSM_OK; i++)
        if (job->ms[i].status != LSM_OK)
            rc = lsm_fail(job->ms[i].status, "%s", job->ms[i].why);
    if (rc == LSM_OK)
        rc = db->env->sync_dir(db->env, db->dir);
    for (int i = 0; i < job->n && rc == LSM_OK; i++) {
        const lsm_version_edit *e = &job->ms[i].edit;
        for (size_t j = 0; j < e->nadded && rc == LSM_OK; j++) {
            const lsm_file_meta *m = e->added[j].meta;
            rc = lsm_edit_add_meta(&c->edit, e->added[j].level, m);
            if (rc == LSM_OK)
                lsm_file_meta_copy_blobs(c->edit.added[c->edit.nadded - 1].meta, m);
        }
        if (rc == LSM_OK)
            rc = lsm_garbage_merge(&c->edit.garbage, &job->ms[i].blob.garbage);
    }
    return rc;
}

/* Did a range move blob values (they must be synced before the edit)? */
static int values_moved(const merge_job *job)
{
    for (int i = 0; i < job->n; i++)
        if (job->ms[i].blob.moved)
            return 1;
    return 0;
}

/* Frees a merge job; failed: its outputs are deleted. */
static void merge_job_free(merge_job *job, int failed)
{
    for (int i = 0; i < job->n; i++) {
        cleanup_outputs(&job->ms[i], failed);
        lsm_buf_free(&job->ms[i].blob.value);
        lsm_buf_free(&job->ms[i].blob.ref);
        lsm_garbage_free(&job->ms[i].blob.garbage);
        lsm_garbage_free(&job->ms[i].blob.copies);
    }
    free(job->ms);
    lsm_range_dels_free(job->visible);
}

/* A merge that failed before its edit: the values it copied (relocation)
 * are named by nothing, its outputs being deleted.  An edit records them
 * as garbage, so their space comes back (holes, relocation) like any dead
 * value's instead of counting as live for good (mu held). */
static void drop_copies(lsm_db *db, const merge_job *job)
{
    if (db->bg_error)
        return;
    lsm_version_edit e;
    lsm_edit_init(&e);
    int rc = LSM_OK;
    for (int i = 0; i < job->n && rc == LSM_OK; i++)
        rc = lsm_garbage_merge(&e.garbage, &job->ms[i].blob.copies);
    if (rc == LSM_OK && e.garbage.n > 0)
        (void)lsm_db_apply_edit(db, &e);
    lsm_edit_free(&e);
}

/* The level of input i of inputs[w]. */
static int input_level(const compaction *c, int w, size_t i)
{
    if (w == 1 || !c->tiered)
        return w == 1 ? c->out_level : c->level;
    for (int l = 0; l < c->out_level; l++)
        for (size_t k = 0; k < c->version->nfiles[l]; k++)
            if (c->version->files[l][k] == c->inputs[0][i])
                return l;
    return c->level;    /* not reached: inputs come from c->version */
}

static int add_deletions(compaction *c)
{
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < c->ninputs[w]; i++) {
            int rc = lsm_edit_delete_file(&c->edit, input_level(c, w, i),
                                          c->inputs[w][i]->number);
            if (rc)
                return rc;
        }
    return LSM_OK;
}

/* Records f as damaged (mu held); logs it the first time. */
static void mark_damaged(lsm_db *db, lsm_file_meta *f, const char *why)
{
    if (f->damaged)
        return;
    f->damaged = 1;
    db->l0_blocked_valid = 0;
    lsm_damaged_table *p = realloc(db->damaged,
                                   (db->ndamaged + 1) * sizeof *p);
    if (p) {
        db->damaged = p;
        p[db->ndamaged].number = f->number;
        snprintf(p[db->ndamaged].why, sizeof p->why, "%s", why);
        db->ndamaged++;
    }
    lsm_db_log(db, LSM_LOG_ERROR, "table %06llu.sst is damaged (%s); compactions skip it "
               "until the store is repaired", (unsigned long long)f->number, why);
}

typedef struct first_loss {
    char why[256];
    int seen;
} first_loss;

static void note_first_loss(void *ctx, uint64_t offset, lsm_slice lower,
                            lsm_slice upper, const char *why)
{
    first_loss *fl = ctx;
    (void)offset, (void)lower, (void)upper;
    if (!fl->seen++)
        snprintf(fl->why, sizeof fl->why, "%s", why);
}

/* A compaction met corruption: reads each input once more to find the
 * damaged ones and marks them (mu not held).  Returns how many. */
static int find_damaged_inputs(lsm_db *db, compaction *c)
{
    int found = 0;
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < c->ninputs[w]; i++) {
            lsm_file_meta *f = c->inputs[w][i];
            first_loss fl = { "", 0 };
            lsm_table_check tc;
            int rc = lsm_check_table(db, f, note_first_loss, &fl, &tc);
            if (rc == LSM_CORRUPTION)
                lsm_error_copy(fl.why, sizeof fl.why);
            if (rc != LSM_CORRUPTION && (rc != LSM_OK || tc.blocks_lost == 0))
                continue;
            pthread_mutex_lock(&db->mu);
            mark_damaged(db, f, fl.why);
            pthread_mutex_unlock(&db->mu);
            found++;
        }
    return found;
}

/* A merge of this many input bytes or more gives the heap's free memory
 * back to the kernel when it ends (give_back_heap). */
#define HEAP_TRIM_INPUT_BYTES ((uint64_t)8 << 20)

/* Hands the free pages of every malloc arena back to the kernel (glibc's
 * malloc_trim; elsewhere nothing).  A merge's transient memory (bloom
 * builders' key hashes: 8 bytes a key of each output, block and index
 * builders, the inputs' block buffers) and the metadata of the tables it
 * replaced are freed into the arenas of the threads that merged or read
 * them; other threads rarely allocate from those arenas, so without this
 * the pages stay resident until the next flush trims (arena.c), and not
 * at all while no memtable is freed (a read-only phase after a load).
 * glibc trims free chunks of every arena and the main arena's top, not
 * the top of a thread's arena (that goes once over M_TRIM_THRESHOLD).
 * Measured at 10M keys with bloom.h's chunked hashes: peak RSS 235 ->
 * 205 MiB, after the load 94 -> 79 MiB; 0.03-2 ms a call; 8% more page
 * faults over a 3M-key run.  (mu not held) */
static void give_back_heap(lsm_db *db)
{
#ifdef __GLIBC__
    malloc_trim(0);
    __atomic_add_fetch(&db->stats.heap_trims, 1, __ATOMIC_RELAXED);
#else
    (void)db;
#endif
}

/* "L<n> <size> MiB (score <s>)" of level n in v, into buf. */
static void format_level(lsm_db *db, const lsm_version *v, int n, char *buf,
                         size_t size)
{
    snprintf(buf, size, "L%d %.1f MiB (score %.2f)", n,
             (double)lsm_version_level_bytes(v, n) / (1024.0 * 1024.0),
             level_score(db, v, n));
}

/* One debug line per finished merge, as RocksDB's LOG has: what it read
 * from each level (upper, lower bytes), what it wrote, how long it took
 * and the size of both levels after it (one for a merge of level 0 into
 * itself), against their targets.  Where a run's write amplification
 * comes from is read off these lines (lsm-bench --log).  (mu held) */
static void log_compaction(lsm_db *db, const compaction *c, uint64_t upper,
                           uint64_t lower)
{
    const double mib = 1024.0 * 1024.0;
    uint64_t out = 0;
    for (size_t i = 0; i < c->edit.nadded; i++)
        out += c->edit.added[i].meta->size;
    const lsm_version *v = db->vs.current;
    int up = c->level, low = c->out_level;
    char after_up[64], after_low[64] = "";
    format_level(db, v, up, after_up, sizeof after_up);
    if (low != up)
        format_level(db, v, low, after_low, sizeof after_low);
    lsm_db_log(db, LSM_LOG_DEBUG,
               "compaction L%d->L%d: %zu+%zu files, %.1f+%.1f MiB read, "
               "%.1f MiB written in %zu files, %.2f s; after: %s%s%s",
               up, low, c->ninputs[0], c->ninputs[1], (double)upper / mib,
               (double)lower / mib, (double)out / mib, c->edit.nadded,
               (double)(lsm_db_realtime_micros() - c->started_us) / 1e6,
               after_up, low != up ? ", " : "", after_low);
}

/* A finished merge: counted in the statistics, and logged (mu held). */
static void count_compaction(lsm_db *db, const compaction *c)
{
    lsm_db_stats *s = &db->stats;
    uint64_t upper = total_size(c->inputs[0], c->ninputs[0]);
    uint64_t lower = total_size(c->inputs[1], c->ninputs[1]);
    __atomic_add_fetch(&s->compactions, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->level_read_upper[c->out_level], upper, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->level_read_lower[c->out_level], lower, __ATOMIC_RELAXED);
    if (db->opt.log)
        log_compaction(db, c, upper, lower);
}

/* Runs a picked compaction (mu held on entry and exit). */
static int run(lsm_db *db, compaction *c)
{
    int rc, damaged = 0, yielded_nospace = 0;
    db->compacting++;
    /* Its outputs will take at most its inputs' size (space.c). */
    uint64_t claim = is_trivial_move(db, c) ? 0 : input_bytes(c);
    db->compaction_claim += claim;
    c->started_us = lsm_db_realtime_micros();
    if (is_trivial_move(db, c)) {
        lsm_file_meta *f = c->inputs[0][0];
        rc = lsm_edit_delete_file(&c->edit, c->level, f->number);
        if (rc == LSM_OK)
            rc = lsm_edit_add_meta(&c->edit, c->level + 1, f);
        if (rc == LSM_OK)
            lsm_file_meta_copy_blobs(c->edit.added[c->edit.nadded - 1].meta, f);
        if (rc == LSM_OK)
            rc = lsm_db_apply_move(db, &c->edit);
        if (rc == LSM_OK) {
            __atomic_add_fetch(&db->stats.trivial_moves, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&db->stats.level_moved[c->level + 1], f->size,
                               __ATOMIC_RELAXED);
        }
        if (rc == LSM_NO_SPACE) {
            /* Not a failure of the store: compactions back off, and
             * flushes, which this did not hold up, go on (db->nospace
             * would fail lsm_flush at once). */
            if (!db->move_nospace)
                lsm_db_log(db, LSM_LOG_WARNING, "out of space (%s); table moves wait",
                           lsm_last_error());
            db->compact_retry_at = lsm_db_realtime_micros() + LSM_NOSPACE_RETRY_MICROS;
            yielded_nospace = 1;
        }
        db->move_nospace = rc == LSM_NO_SPACE;
    } else {
        merge_job job = { NULL, 0, NULL, 0 };
        lsm_blob_pin pin;
        lsm_blob_plan plan;
        int moving = lsm_blob_gc_plan(db, &plan);
        if (moving)     /* the files values move to, until installed */
            lsm_blobs_pin_writes(db->blobs, &pin);
        pthread_mutex_unlock(&db->mu);
        rc = do_merge(db, c, &job, moving ? &plan : NULL);
        if (rc == LSM_OK && values_moved(&job))  /* before the edit names them */
            rc = lsm_blobs_sync(db->blobs);
        if (rc == LSM_CORRUPTION &&
            !__atomic_load_n(&db->shutting_down, __ATOMIC_RELAXED))
            damaged = find_damaged_inputs(db, c);
        pthread_mutex_lock(&db->mu);
        if (rc == LSM_OK)
            rc = add_deletions(c);
        int outputs_safe_to_delete = rc != LSM_OK;
        if (rc == LSM_OK)
            rc = lsm_db_apply_edit(db, &c->edit); /* on failure: keep outputs */
        else if (values_moved(&job))
            drop_copies(db, &job);
        pthread_mutex_unlock(&db->mu);
        merge_job_free(&job, outputs_safe_to_delete);
        if (moving)
            lsm_blobs_unpin(db->blobs, &pin);
        lsm_blob_plan_free(&plan);
        pthread_mutex_lock(&db->mu);
        if (rc == LSM_OK)
            count_compaction(db, c);
    }
    db->compacting--;
    db->compaction_claim -= claim;
    int yielded = c->idle && rc == LSM_BUSY;
    if (yielded)
        __atomic_add_fetch(&db->stats.idle_yields, 1, __ATOMIC_RELAXED);
    else if (rc == LSM_OK && c->idle)
        __atomic_add_fetch(&db->stats.idle_compactions, 1, __ATOMIC_RELAXED);
    if (rc && !db->shutting_down && !damaged && !yielded && !yielded_nospace)
        lsm_db_background_failed(db, rc);
    compaction_free(db, c);
    lsm_db_delete_obsolete(db, 0);   /* frees the inputs' metadata */
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->work_cv);
    if (claim >= HEAP_TRIM_INPUT_BYTES) {
        pthread_mutex_unlock(&db->mu);
        give_back_heap(db);
        pthread_mutex_lock(&db->mu);
    }
    return rc;
}

static int room_for(lsm_db *db, compaction *c);

/* --- compactions for reclaim.c ------------------------------------------------ */

/* May a background pass start a compaction now?  Not while lsm_compact or
 * lsm_repair holds them: lsm_db_hold_compactions waits only for the
 * compactions already counted in db->compacting, so a pass that dropped
 * mu (to read tables, to flush) must look again before each start, or it
 * would merge tables a repair is rewriting meanwhile.  (mu held) */
static int may_start(const lsm_db *db)
{
    return !db->manual_compaction && !db->shutting_down;
}

/* A reclaiming compaction of the table `number` at `level`: for level
 * 0 it and every older level-0 table (so no older table is left above
 * newer data), else the table alone; plus what they overlap below.
 * NULL if the table is gone or busy (mu held). */
static compaction *pick_reclaim(lsm_db *db, int level, uint64_t number,
                                const lsm_hints *hints, int idle)
{
    lsm_version *v = db->vs.current;
    size_t n = 0, found = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) {
        if (v->files[level][i]->number == number)
            found = 1;
        if (level == 0 ? v->files[0][i]->number <= number
                       : v->files[level][i]->number == number)
            n++;
    }
    if (!found)
        return NULL;
    compaction *c = compaction_new(db, level);
    if (!c)
        return NULL;
    c->reclaim = 1;
    c->idle = idle;
    c->hints = hints;
    c->inputs[0] = malloc(n * sizeof *c->inputs[0]);
    int rc = c->inputs[0] ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; rc == LSM_OK && i < v->nfiles[level]; i++) {
        lsm_file_meta *f = v->files[level][i];
        if (level == 0 ? f->number <= number : f->number == number)
            c->inputs[0][c->ninputs[0]++] = f;
    }
    return compaction_setup(db, c, rc);
}

int lsm_compact_table(lsm_db *db, int level, uint64_t number,
                      const lsm_hints *hints, int idle, int *ran)
{
    *ran = 0;
    if (level >= LSM_NUM_LEVELS - 1)
        return LSM_OK;
    for (int attempt = 0;; attempt++) {
        if (!may_start(db))
            return LSM_OK;
        compaction *c = pick_reclaim(db, level, number, hints, idle);
        if (c && idle && !room_for(db, c)) {
            compaction_free(db, c);
            c = NULL;
        }
        if (!c)
            return LSM_OK;
        *ran = 1;
        int rc = run(db, c);
        if (rc != LSM_NO_SPACE || idle || attempt > 0 || !lsm_space_release(db))
            return rc;
    }
}

/* Runs c (NULL: none) as idle work if the disk has room for it: 1 if it
 * ran (mu held). */
static int run_idle(lsm_db *db, compaction *c)
{
    if (!c)
        return 0;
    c->idle = 1;
    if (!room_for(db, c)) {
        compaction_free(db, c);
        return 0;
    }
    run(db, c);
    return 1;
}

int lsm_compact_level_step(lsm_db *db, int level)
{
    return may_start(db) ? run_idle(db, pick(db, level, 0)) : 0;
}

/* Is a space pass due? (mu held) Its deletions must have reached tables. */
static int reclaim_ready(lsm_db *db)
{
    return db->reclaim_pending == 1 && !db->bg_error && !db->manual_compaction &&
           (db->nimm == 0 || db->imm_log[0] >= db->reclaim_log);
}

/* Could the compaction's outputs, at most its inputs' size, fit on the
 * disk besides the flushes of the memtables (space.c)?  A trivial move
 * needs no space.  (mu held) */
static int room_for(lsm_db *db, compaction *c)
{
    if (is_trivial_move(db, c))
        return 1;
    uint64_t inputs = input_bytes(c);
    uint64_t owed = lsm_space_owed(db) + db->mem_limit;
    uint64_t free_bytes;
    if (db->env->free_space(db->env, db->dir, &free_bytes) != LSM_OK ||
        inputs + owed <= free_bytes)
        return 1;
    lsm_fail(LSM_NO_SPACE, "%s: a compaction of %llu bytes does not fit in "
             "%llu free bytes besides %llu for flushes and compactions",
             db->dir,
             (unsigned long long)inputs, (unsigned long long)free_bytes,
             (unsigned long long)owed);
    return 0;
}

/* --- threads and manual compaction ------------------------------------------- */

/* The files of levels [from, to] of v into *out (malloc'ed). */
static int files_of_levels(const lsm_version *v, int from, int to,
                           lsm_file_meta ***out, size_t *n)
{
    size_t cnt = 0;
    for (int l = from; l <= to; l++)
        cnt += v->nfiles[l];
    *n = 0;
    *out = malloc((cnt ? cnt : 1) * sizeof **out);
    if (!*out)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (int l = from; l <= to; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            (*out)[(*n)++] = v->files[l][i];
    return LSM_OK;
}

/* A merge of every table of levels 0..out into out (mu held), or NULL
 * if out of memory or an input is busy. */
static compaction *tiered_merge(lsm_db *db, int out)
{
    compaction *c = compaction_new(db, 0);
    if (!c)
        return NULL;
    c->tiered = 1;
    c->out_level = out;
    if (files_of_levels(c->version, 0, out - 1, &c->inputs[0], &c->ninputs[0]) ||
        files_of_levels(c->version, out, out, &c->inputs[1], &c->ninputs[1]) ||
        any_blocked(c->inputs[0], c->ninputs[0]) ||
        any_blocked(c->inputs[1], c->ninputs[1])) {
        compaction_free(db, c);
        return NULL;
    }
    return compaction_start(db, c);
}

/* A tiered merge (compaction_tiered.c), or NULL (mu held). */
static compaction *pick_tiered(lsm_db *db)
{
    int out;
    return lsm_tiered_pick(&db->opt, db->vs.current, &out) ? tiered_merge(db, out)
                                                           : NULL;
}

#define LEVEL0_SELF_MERGE_MAX_FILES 4

/* Level 0 merged into itself, or NULL (mu held).
 *
 * Cost model: a merge of level 0 (B bytes) into level 1 rewrites the
 * level-1 tables overlapping it (S bytes).  Merging level 0 into one
 * table first writes B once more, but the next merge into level 1 then
 * takes those B bytes with the tables flushed since, rewriting S once
 * where two merges would have rewritten it twice: S - B saved.  So it is
 * done while S >= level0_self_merge_percent of B (default 150: S - B at
 * least a third of what it writes), which ends it once level 0 has grown
 * to about S / 1.5.  Level 0 keeps at most its trigger's count of tables,
 * so a read searches no more of them than before; they hold more bytes.
 * With keys spread at random, each level-0 merge into level 1 then
 * carries about twice the bytes.  Measured (lsm-bench, 50M keys, 64 MiB
 * memtables, 256 MiB level 1): merges into level 1 read 1.03 bytes of it
 * per level-0 byte, 1.81 without; write amplification 3.19 / 3.79 after
 * fillrandom / overwrite, 3.56-3.62 / 4.37 without.
 *
 * Bounds: the output is one table merged on one thread, so its inputs
 * stay under LEVEL0_SELF_MERGE_MAX_FILES target files (a long merge
 * would hold level 0 back from level 1 meanwhile).  Not while a table
 * is damaged: a level-0 table made wider may come to overlap a damaged
 * level-1 one, and then could not move down until a repair (nor would
 * any level-0 table overlapping it).  Not for tiered stores, whose
 * picker this is not (compaction_tiered.c).
 *
 * Order: reads search level 0 by number, newest first.  The output takes
 * its number now, above every input's and below that of any table a
 * flush makes after this pick; so no flush may be under way (its table
 * already has a lower number and newer data), and the merge takes every
 * level-0 table (none older may be left below the output). */
static compaction *pick_level0_self(lsm_db *db)
{
    lsm_version *v = db->vs.current;
    size_t n0 = v->nfiles[0];
    if (db->opt.level0_self_merge_percent <= 0 || db->flushing || n0 < 2 ||
        db->ndamaged > 0 || db->opt.compaction_style == LSM_COMPACTION_TIERED ||
        any_blocked(v->files[0], n0))
        return NULL;
    lsm_slice lo, hi;
    user_range(v->files[0], n0, &lo, &hi);
    lsm_file_meta **f1 = NULL;
    size_t n1 = 0;
    if (lsm_version_overlapping(v, 1, &lo, &hi, &f1, &n1))
        return NULL;
    uint64_t s = total_size(f1, n1), b = total_size(v->files[0], n0);
    free(f1);
    if (s * 100 < b * (uint64_t)db->opt.level0_self_merge_percent ||
        b > LEVEL0_SELF_MERGE_MAX_FILES * db->opt.target_file_bytes)
        return NULL;
    compaction *c = compaction_new(db, 0);
    if (!c)
        return NULL;
    c->out_level = 0;
    if (files_of_levels(v, 0, 0, &c->inputs[0], &c->ninputs[0])) {
        compaction_free(db, c);
        return NULL;
    }
    c->l0_number = lsm_vset_new_file_number(&db->vs);
    if (lsm_db_add_pending(db, c->l0_number)) {
        c->l0_number = 0;
        compaction_free(db, c);
        return NULL;
    }
    return compaction_start(db, c);
}

/* A compaction of the level with the highest score >= 1 that has a
 * compactable file, or NULL (mu held).  Tiered stores: pick_tiered; while
 * a damaged table blocks that, the leveled pick (which skips damaged
 * tables) instead, so level 0 still drains. */
static compaction *pick_by_score(lsm_db *db)
{
    if (db->opt.compaction_style == LSM_COMPACTION_TIERED) {
        compaction *c = pick_tiered(db);
        if (c || db->ndamaged == 0)
            return c;
    }
    lsm_version *v = db->vs.current;
    int tried[LSM_NUM_LEVELS] = { 0 };
    for (;;) {
        int best = -1;
        double best_score = 1;
        for (int l = 0; l < LSM_NUM_LEVELS - 1; l++) {
            double s = level_score(db, v, l);
            if (!tried[l] && s >= best_score) {
                best = l;
                best_score = s;
            }
        }
        if (best < 0)
            return NULL;
        tried[best] = 1;
        compaction *c = best == 0 ? pick_level0_self(db) : NULL;
        if (!c)
            c = pick(db, best, 0);
        if (c)
            return c;
    }
}

void *lsm_compaction_thread(void *arg)
{
    lsm_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->shutting_down) {
        if (reclaim_ready(db)) {
            lsm_space_pass(db);
            continue;
        }
        compaction *c = NULL;
        uint64_t now = lsm_db_realtime_micros();
        int backing_off = now < db->compact_retry_at;
        /* A drop pass writes one manifest record and frees space, so
         * no back-off from a full disk holds it. */
        if (db->drops_due && !db->dropping && !db->bg_error &&
            !db->manual_compaction) {
            lsm_drop_pass(db);
            continue;
        }
        if (lsm_db_may_work(db) && !backing_off && !db->manual_compaction &&
            lsm_needs_compaction(db))
            c = pick_by_score(db);
        int room = c ? room_for(db, c) : 1;
        if (c)
            db->compact_nospace = !room;
        if (!room) {
            compaction_free(db, c);
            if (!db->nospace)
                lsm_db_log(db, LSM_LOG_WARNING, "out of space (%s); compactions wait", lsm_last_error());
            db->nospace = 1;
            db->compact_retry_at = now + LSM_NOSPACE_RETRY_MICROS;
            pthread_cond_broadcast(&db->bg_cv);
            continue;
        }
        if (c) {
            run(db, c);
            continue;
        }
        uint64_t until = backing_off ? db->compact_retry_at : 0;
        if (lsm_db_may_work(db) && !backing_off && !db->manual_compaction) {
            /* Idle work (reclaim.c): a due pass does one step. */
            uint64_t at = lsm_idle_due(db, now);
            if (at == 0) {
                lsm_idle_pass(db);
                continue;
            }
            if (at != UINT64_MAX)
                until = at;
        }
        lsm_db_wait_for_work(db, until);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

void lsm_db_hold_compactions(lsm_db *db)
{
    while (db->manual_compaction)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    db->manual_compaction = 1;
    while (db->compacting > 0)
        pthread_cond_wait(&db->bg_cv, &db->mu);
}

void lsm_db_release_compactions(lsm_db *db)
{
    db->manual_compaction = 0;
    pthread_cond_broadcast(&db->bg_cv);
    pthread_cond_broadcast(&db->work_cv);
}

/* A rewrite in place of every table of `level` >= 1 (mu held): a
 * compaction of the (empty) level above whose next-level inputs are the
 * whole level.  It drops what no snapshot sees any more, such as the
 * versions a deleted named snapshot kept.  NULL if it may not run. */
static compaction *pick_rewrite(lsm_db *db, int level)
{
    compaction *c = compaction_new(db, level - 1);
    if (!c)
        return NULL;
    c->whole = 1;
    int rc = lsm_version_overlapping(c->version, level, NULL, NULL,
                                     &c->inputs[1], &c->ninputs[1]);
    if (rc == LSM_OK && c->ninputs[1] > 0 && c->version->nfiles[level - 1] == 0 &&
        !any_blocked(c->inputs[1], c->ninputs[1]))
        return compaction_start(db, c);
    compaction_free(db, c);
    return NULL;
}

int lsm_compact_rewrite_level(lsm_db *db, int level)
{
    return may_start(db) ? run_idle(db, pick_rewrite(db, level)) : 0;
}

/* After a named snapshot was deleted the last level may hold versions
 * only it needed, or it names blob files mostly garbage (blob_gc.c):
 * rewrite it (mu held, compactions held). */
static int rewrite_last_level(lsm_db *db, int deepest)
{
    int lvl, rc = LSM_OK;
    uint64_t num;
    if (db->snapshot_dropped || lsm_blob_gc_pick(db, deepest, &lvl, &num)) {
        compaction *c = pick_rewrite(db, deepest);
        rc = c ? run(db, c) : LSM_OK;
        if (rc == LSM_OK)
            db->snapshot_dropped = 0;
    }
    return rc;
}

int lsm_compact(lsm_db *db)
{
    int rc = lsm_flush(db);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    lsm_db_hold_compactions(db);
    if (db->ndamaged > 0)
        rc = lsm_fail(LSM_CORRUPTION, "cannot compact: table %06llu.sst is "
                      "damaged (%s); repair the store",
                      (unsigned long long)db->damaged[0].number,
                      db->damaged[0].why);
    /* Push every level into the deepest one holding data (level 1 at
     * least), so no two levels overlap afterwards: for a tiered store
     * in one merge (one rewrite of each byte), else level by level. */
    int deepest = 1, above = 0;
    for (int d = 1; d < LSM_NUM_LEVELS; d++)
        if (db->vs.current->nfiles[d])
            deepest = d;
    for (int l = 0; l < deepest; l++)
        above += db->vs.current->nfiles[l] > 0;
    if (rc == LSM_OK && db->opt.compaction_style == LSM_COMPACTION_TIERED &&
        above > 0) {
        compaction *c = tiered_merge(db, deepest);
        rc = c ? run(db, c) : lsm_fail(LSM_NO_MEMORY, "cannot set up a compaction");
    }
    for (int l = 0; rc == LSM_OK && l < deepest; l++) {
        if (db->vs.current->nfiles[l] == 0)
            continue;
        compaction *c = pick(db, l, 1);
        rc = c ? run(db, c) : lsm_fail(LSM_NO_MEMORY, "cannot set up a compaction");
    }
    if (rc == LSM_OK)
        rc = rewrite_last_level(db, deepest);
    /* That rewrite may have left the current blob file mostly garbage
     * (the versions a deleted snapshot held): seal it, so a second
     * rewrite moves its live values out and it can go now rather than
     * at some later idle pass. */
    int sealed = 0;
    if (rc == LSM_OK)
        rc = lsm_blob_gc_seal_if_due(db, &sealed);
    if (rc == LSM_OK && sealed)
        rc = rewrite_last_level(db, deepest);
    if (rc == LSM_OK && db->bg_error)
        rc = lsm_fail(LSM_BG_ERROR, "%s", db->bg_msg);
    /* Files that only released iterators or snapshots still held go now,
     * even when there was nothing to merge: after lsm_compact the store
     * holds what it needs and no more (the holes another thread took to
     * punch, mu dropped, too: waited for). */
    if (rc == LSM_OK)
        lsm_db_delete_obsolete(db, 0);
    while (rc == LSM_OK && db->punching)
        pthread_cond_wait(&db->bg_cv, &db->mu);
    lsm_db_release_compactions(db);
    pthread_mutex_unlock(&db->mu);
    return rc;
}
