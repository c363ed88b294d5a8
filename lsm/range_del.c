/*
 * range_del.c — fragmented range deletions for iterators (see range_del.h).
 */
#include "range_del.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ikey.h"
#include "lsm.h"

typedef struct tomb {
    lsm_slice begin, end;        /* point into the arena */
    uint64_t seq;
} tomb;

typedef struct fragment {
    lsm_slice begin, end;
    size_t first, nseqs;         /* its numbers: seqs[first..], newest first */
} fragment;

struct lsm_range_dels {
    lsm_buf arena;               /* key bytes (offsets until finalised) */
    tomb *tombs;
    size_t ntombs, cap;
    fragment *frags;
    size_t nfrags;
    uint64_t *seqs;
};

static int collect(lsm_range_dels *rd, lsm_iiter *it, uint64_t snap)
{
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        lsm_slice end = lsm_iiter_value(it);
        if (!lsm_ikey_parse(lsm_iiter_key(it), &k) || k.kind != LSM_KIND_RANGE_DEL)
            return lsm_fail(LSM_CORRUPTION, "malformed range deletion");
        if (k.seq > snap || lsm_slice_cmp(k.user, end) >= 0)
            continue;
        if (rd->ntombs == rd->cap) {
            size_t cap = rd->cap ? rd->cap * 2 : 16;
            tomb *p = realloc(rd->tombs, cap * sizeof *p);
            if (!p)
                return lsm_fail(LSM_NO_MEMORY, "out of memory");
            rd->tombs = p;
            rd->cap = cap;
        }
        /* Store arena offsets now; the arena may move while growing. */
        tomb *t = &rd->tombs[rd->ntombs++];
        t->begin = lsm_slice_make((const char *)(uintptr_t)rd->arena.len, k.user.len);
        if (lsm_buf_append(&rd->arena, k.user.data, k.user.len))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        t->end = lsm_slice_make((const char *)(uintptr_t)rd->arena.len, end.len);
        if (lsm_buf_append(&rd->arena, end.data, end.len))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        t->seq = k.seq;
    }
    return lsm_iiter_status(it);
}

static int cmp_slices(const void *a, const void *b)
{
    return lsm_slice_cmp(*(const lsm_slice *)a, *(const lsm_slice *)b);
}

static int cmp_seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

/* Index of the first fragment a tombstone starting at `begin` covers. */
static size_t first_fragment(const lsm_range_dels *rd, lsm_slice begin)
{
    size_t lo = 0, hi = rd->nfrags;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_slice_cmp(rd->frags[mid].begin, begin) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Calls visit(rd, fragment, tombstone) for each fragment inside each
 * tombstone. */
static void for_each_cover(lsm_range_dels *rd,
                           void (*visit)(lsm_range_dels *, size_t, const tomb *))
{
    for (size_t t = 0; t < rd->ntombs; t++) {
        const tomb *tb = &rd->tombs[t];
        for (size_t f = first_fragment(rd, tb->begin);
             f < rd->nfrags && lsm_slice_cmp(rd->frags[f].begin, tb->end) < 0; f++)
            visit(rd, f, tb);
    }
}

static void count_cover(lsm_range_dels *rd, size_t f, const tomb *tb)
{
    (void)tb;
    rd->frags[f].nseqs++;
}

static void fill_cover(lsm_range_dels *rd, size_t f, const tomb *tb)
{
    fragment *fr = &rd->frags[f];
    rd->seqs[fr->first + fr->nseqs++] = tb->seq;
}

/* Fragments: the sorted distinct boundaries cut the key space; each
 * fragment [p_i, p_i+1) lists the seqs of the tombstones containing it. */
static int fragment_all(lsm_range_dels *rd)
{
    size_t np = 2 * rd->ntombs;
    lsm_slice *points = malloc((np ? np : 1) * sizeof *points);
    if (!points)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < rd->ntombs; i++) {
        points[2 * i] = rd->tombs[i].begin;
        points[2 * i + 1] = rd->tombs[i].end;
    }
    qsort(points, np, sizeof *points, cmp_slices);
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        if (k == 0 || lsm_slice_cmp(points[k - 1], points[i]) != 0)
            points[k++] = points[i];
    rd->frags = calloc(k ? k : 1, sizeof *rd->frags);
    if (!rd->frags) {
        free(points);
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    for (size_t i = 0; i + 1 < k; i++) {
        rd->frags[i].begin = points[i];
        rd->frags[i].end = points[i + 1];
    }
    rd->nfrags = k ? k - 1 : 0;
    free(points);
    for_each_cover(rd, count_cover);
    size_t total = 0;
    for (size_t f = 0; f < rd->nfrags; f++) {
        rd->frags[f].first = total;
        total += rd->frags[f].nseqs;
        rd->frags[f].nseqs = 0;
    }
    rd->seqs = malloc((total ? total : 1) * sizeof *rd->seqs);
    if (!rd->seqs)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for_each_cover(rd, fill_cover);
    for (size_t f = 0; f < rd->nfrags; f++)
        qsort(rd->seqs + rd->frags[f].first, rd->frags[f].nseqs,
              sizeof *rd->seqs, cmp_seq_desc);
    return LSM_OK;
}

lsm_range_dels *lsm_range_dels_build(lsm_iiter **its, int n, uint64_t snap_seq,
                                     int *status)
{
    lsm_range_dels *rd = calloc(1, sizeof *rd);
    int rc = rd ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        if (rc == LSM_OK)
            rc = collect(rd, its[i], snap_seq);
        lsm_iiter_free(its[i]);
    }
    if (rc == LSM_OK) {
        for (size_t i = 0; i < rd->ntombs; i++) {  /* offsets -> pointers */
            tomb *t = &rd->tombs[i];
            t->begin.data = rd->arena.data + (uintptr_t)t->begin.data;
            t->end.data = rd->arena.data + (uintptr_t)t->end.data;
        }
        rc = fragment_all(rd);
    }
    if (rc) {
        lsm_range_dels_free(rd);
        *status = rc;
        return NULL;
    }
    *status = LSM_OK;
    return rd;
}

void lsm_range_dels_free(lsm_range_dels *rd)
{
    if (!rd)
        return;
    lsm_buf_free(&rd->arena);
    free(rd->tombs);
    free(rd->frags);
    free(rd->seqs);
    free(rd);
}

int lsm_range_dels_empty(const lsm_range_dels *rd)
{
    return rd->nfrags == 0;
}

uint64_t lsm_range_dels_max_seq(const lsm_range_dels *rd, lsm_slice user_key,
                                uint64_t snap_seq)
{
    size_t lo = 0, hi = rd->nfrags;
    while (lo < hi) {    /* first fragment with end > key */
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_slice_cmp(rd->frags[mid].end, user_key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == rd->nfrags || lsm_slice_cmp(rd->frags[lo].begin, user_key) > 0)
        return 0;
    const fragment *f = &rd->frags[lo];
    for (size_t i = 0; i < f->nseqs; i++)
        if (rd->seqs[f->first + i] <= snap_seq)
            return rd->seqs[f->first + i];
    return 0;
}
