/*
 * compaction_tiered.c — the picker of compaction_style=tiered (RocksDB's
 * universal compaction).
 *
 * Shape: a sorted run is each level-0 table (as flushed) and each
 * non-empty level 1..6 (one run per level).  Ages follow the levels as in
 * leveled compaction, so reads need no special case: level-0 tables
 * (newest file first), then level 1, 2, ... — newest run first.
 *
 * Picking, once there are level0_compaction_trigger runs or more:
 *  (a) space amplification: if the runs above the oldest hold more than
 *      tiered_max_size_amp_percent of its bytes, every run is merged into
 *      the last level;
 *  (b) size ratio: from the newest run, the next older run joins while it
 *      is at most (100 + tiered_size_ratio)% of the sum so far; at least
 *      tiered_min_merge_width runs are merged;
 *  (c) else the newest (runs - trigger + 1) runs (at least 2), to bring
 *      the count under the trigger.
 * A merge takes every level-0 table (a run merged out of level 0 lands
 * below the level-0 tables left, so it must be older than all of them)
 * and whole levels, and writes one run into the level of its oldest input
 * run; when that is level 0, into the level just above the shallowest
 * non-empty one (the last level if all are empty), or with level 1 too
 * when level 1 is taken.  So the inputs are always every table of levels
 * 0..out_level, and the levels in between are empty.
 *
 * Execution is compaction.c's (snapshots, range deletions, outputs, space
 * check: a merge starts only if its inputs' size is free besides what the
 * flushes need, so a full merge needs as much free space as the store
 * holds).  One tiered merge runs at a time: none is picked while any
 * table is being compacted or is damaged (then compaction.c uses the
 * leveled picker, which skips damaged tables, until the store is
 * repaired).  Cost of a pick: O(tables).
 */
#include <stdlib.h>

#include "db.h"

typedef struct run {
    uint64_t bytes;
    int level;
} run;

/* The runs of v, newest first (runs has room for nfiles[0] + levels);
 * returns how many.  Level-0 tables are sorted oldest first. */
static size_t list_runs(const lsm_version *v, run *runs)
{
    size_t n = 0;
    for (size_t i = v->nfiles[0]; i-- > 0;)
        runs[n++] = (run){ v->files[0][i]->size, 0 };
    for (int l = 1; l < LSM_NUM_LEVELS; l++)
        if (v->nfiles[l])
            runs[n++] = (run){ lsm_version_level_bytes(v, l), l };
    return n;
}

/* Runs (a prefix of runs[0..n)) to merge by size ratio, or 0. */
static size_t by_size_ratio(const lsm_options *o, const run *runs, size_t n)
{
    uint64_t sum = runs[0].bytes;
    size_t k = 1;
    while (k < n && runs[k].bytes * 100 <= sum * (uint64_t)(100 + o->tiered_size_ratio))
        sum += runs[k++].bytes;
    return k >= (size_t)o->tiered_min_merge_width ? k : 0;
}

/* The level a merge of runs[0..k) writes to. */
static int out_level(const lsm_version *v, const run *runs, size_t k)
{
    if (runs[k - 1].level > 0)
        return runs[k - 1].level;
    for (int l = 1; l < LSM_NUM_LEVELS; l++)
        if (v->nfiles[l])
            return l > 1 ? l - 1 : 1;
    return LSM_NUM_LEVELS - 1;
}

static int any_busy(const lsm_version *v, int upto)
{
    for (int l = 0; l <= upto; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (v->files[l][i]->being_compacted || v->files[l][i]->damaged)
                return 1;
    return 0;
}

static int pick(const lsm_options *o, const lsm_version *v, run *runs, int *out)
{
    size_t n = list_runs(v, runs);
    if (n < 2 || n < (size_t)o->level0_compaction_trigger ||
        any_busy(v, LSM_NUM_LEVELS - 1))
        return 0;
    uint64_t newer = 0;
    for (size_t i = 0; i + 1 < n; i++)
        newer += runs[i].bytes;
    if (newer * 100 > runs[n - 1].bytes * (uint64_t)o->tiered_max_size_amp_percent) {
        *out = LSM_NUM_LEVELS - 1;
        return 1;
    }
    size_t k = by_size_ratio(o, runs, n);
    if (k == 0) {
        k = n - (size_t)o->level0_compaction_trigger + 1;
        if (k < 2)
            k = 2;
    }
    if (k < v->nfiles[0])
        k = v->nfiles[0];
    *out = out_level(v, runs, k);
    return 1;
}

int lsm_tiered_pick(const lsm_options *o, const lsm_version *v, int *out)
{
    run *runs = malloc((v->nfiles[0] + LSM_NUM_LEVELS) * sizeof *runs);
    int due = runs && pick(o, v, runs, out);
    free(runs);
    return due;
}
