/*
 * range_del.c — a segment tree of range deletions (see range_del.h).
 *
 * Layout: bounds[0..nbounds) are the distinct boundary keys, sorted;
 * fragment f is [bounds[f], bounds[f+1]).  The tree is implicit over
 * `width` leaves (a power of two >= the fragment count): node 1 is the
 * root, node i has children 2i and 2i+1, leaf f is node width + f.  A
 * deletion covering fragments [l, r) is stored in the nodes of the
 * standard bottom-up decomposition of [l, r), so exactly one ancestor of
 * each covered leaf (the leaf included) holds its seq, and no ancestor of
 * an uncovered one does.  Node i's numbers are seqs[first[i] ..
 * first[i+1]), newest first.  leaf_max[f], the newest deletion covering
 * fragment f, answers a lookup by a snapshot that sees every deletion of
 * the set (the usual case) without walking the tree.
 */
#include "range_del.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ikey.h"
#include "lsm.h"

struct lsm_range_dels {
    lsm_buf arena;               /* key bytes of a built set (not indexed) */
    lsm_range_del *tombs;        /* only while building */
    size_t ntombs, cap;
    lsm_slice *bounds;
    size_t nbounds;
    size_t width;
    size_t *first;               /* 2 * width + 1 offsets into seqs */
    uint64_t *seqs;
    uint64_t *leaf_max;          /* per fragment: newest covering it */
    uint64_t newest;
};

static _Atomic uint64_t indexed_total;

uint64_t lsm_range_dels_indexed_total(void)
{
    return atomic_load_explicit(&indexed_total, memory_order_relaxed);
}

static int add_tomb(lsm_range_dels *rd, lsm_slice begin, lsm_slice end,
                    uint64_t seq)
{
    if (rd->ntombs == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 16;
        lsm_range_del *p = realloc(rd->tombs, cap * sizeof *p);
        if (!p)
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        rd->tombs = p;
        rd->cap = cap;
    }
    rd->tombs[rd->ntombs++] = (lsm_range_del){ begin, end, seq };
    return LSM_OK;
}

/* Copies the key bytes into the arena, storing arena offsets (the arena
 * may move while it grows; pointers are fixed once it is complete). */
static int collect(lsm_range_dels *rd, lsm_iiter *it, uint64_t snap)
{
    for (lsm_iiter_first(it); lsm_iiter_valid(it); lsm_iiter_next(it)) {
        lsm_ikey k;
        lsm_slice end = lsm_iiter_value(it);
        if (!lsm_ikey_parse(lsm_iiter_key(it), &k) || k.kind != LSM_KIND_RANGE_DEL)
            return lsm_fail(LSM_CORRUPTION, "malformed range deletion");
        if (k.seq > snap || lsm_slice_cmp(k.user, end) >= 0)
            continue;
        lsm_slice b = lsm_slice_make((const char *)(uintptr_t)rd->arena.len,
                                     k.user.len);
        if (lsm_buf_append(&rd->arena, k.user.data, k.user.len))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
        lsm_slice e = lsm_slice_make((const char *)(uintptr_t)rd->arena.len,
                                     end.len);
        if (lsm_buf_append(&rd->arena, end.data, end.len) ||
            add_tomb(rd, b, e, k.seq))
            return lsm_fail(LSM_NO_MEMORY, "out of memory");
    }
    return lsm_iiter_status(it);
}

static int cmp_slices(const void *a, const void *b)
{
    return lsm_slice_cmp(*(const lsm_slice *)a, *(const lsm_slice *)b);
}

static int cmp_seq_desc(const void *a, const void *b)
{
    uint64_t x = ((const lsm_range_del *)a)->seq, y = ((const lsm_range_del *)b)->seq;
    return (x < y) - (x > y);
}

/* Index of the boundary equal to key (it is one). */
static size_t bound_index(const lsm_range_dels *rd, lsm_slice key)
{
    size_t lo = 0, hi = rd->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_slice_cmp(rd->bounds[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Visits the tree nodes that exactly cover t's fragments: counting
 * (seqs NULL) bumps first[node + 1], filling appends at first[node]. */
static void cover(lsm_range_dels *rd, const lsm_range_del *t)
{
    size_t l = bound_index(rd, t->begin) + rd->width;
    size_t r = bound_index(rd, t->end) + rd->width;
    for (; l < r; l >>= 1, r >>= 1) {
        if (l & 1) {
            if (rd->seqs)
                rd->seqs[rd->first[l]++] = t->seq;
            else
                rd->first[l + 1]++;
            l++;
        }
        if (r & 1) {
            --r;
            if (rd->seqs)
                rd->seqs[rd->first[r]++] = t->seq;
            else
                rd->first[r + 1]++;
        }
    }
}

static int make_bounds(lsm_range_dels *rd)
{
    size_t np = 2 * rd->ntombs;
    rd->bounds = malloc((np ? np : 1) * sizeof *rd->bounds);
    if (!rd->bounds)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < rd->ntombs; i++) {
        rd->bounds[2 * i] = rd->tombs[i].begin;
        rd->bounds[2 * i + 1] = rd->tombs[i].end;
    }
    qsort(rd->bounds, np, sizeof *rd->bounds, cmp_slices);
    size_t k = 0;
    for (size_t i = 0; i < np; i++)
        if (k == 0 || lsm_slice_cmp(rd->bounds[k - 1], rd->bounds[i]) != 0)
            rd->bounds[k++] = rd->bounds[i];
    rd->nbounds = k;
    rd->width = 1;
    while (rd->width + 1 < k)
        rd->width *= 2;
    return LSM_OK;
}

/* Highest of node's numbers <= snap, or 0 (numbers are newest first). */
static uint64_t node_max(const lsm_range_dels *rd, size_t node, uint64_t snap)
{
    size_t lo = rd->first[node], hi = rd->first[node + 1];
    if (lo == hi || rd->seqs[lo] <= snap)
        return lo == hi ? 0 : rd->seqs[lo];
    while (lo < hi) {    /* first number <= snap */
        size_t mid = lo + (hi - lo) / 2;
        if (rd->seqs[mid] > snap)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rd->first[node + 1] ? rd->seqs[lo] : 0;
}

/* Highest seq <= snap of the deletions covering fragment f: one number
 * from each of the leaf's ancestors. */
static uint64_t tree_max(const lsm_range_dels *rd, size_t f, uint64_t snap)
{
    uint64_t best = 0;
    for (size_t node = f + rd->width; node >= 1; node >>= 1) {
        uint64_t s = node_max(rd, node, snap);
        if (s > best)
            best = s;
    }
    return best;
}

/* Builds the tree from rd->tombs (then freed).  Deletions are placed
 * newest first, so every node's numbers come out sorted. */
static int index_tombs(lsm_range_dels *rd)
{
    atomic_fetch_add_explicit(&indexed_total, rd->ntombs, memory_order_relaxed);
    int rc = make_bounds(rd);
    if (rc)
        return rc;
    if (rd->ntombs > 1)
        qsort(rd->tombs, rd->ntombs, sizeof *rd->tombs, cmp_seq_desc);
    rd->newest = rd->ntombs ? rd->tombs[0].seq : 0;
    size_t nodes = 2 * rd->width;
    rd->first = calloc(nodes + 1, sizeof *rd->first);
    if (!rd->first)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < rd->ntombs; i++)
        cover(rd, &rd->tombs[i]);
    for (size_t i = 1; i <= nodes; i++)      /* counts -> start offsets */
        rd->first[i] += rd->first[i - 1];
    rd->seqs = malloc((rd->first[nodes] ? rd->first[nodes] : 1) * sizeof *rd->seqs);
    if (!rd->seqs)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < rd->ntombs; i++)  /* first[i] -> end of node i */
        cover(rd, &rd->tombs[i]);
    for (size_t i = nodes; i > 0; i--)       /* back to start offsets */
        rd->first[i] = rd->first[i - 1];
    rd->first[0] = 0;
    size_t nfrags = rd->nbounds ? rd->nbounds - 1 : 0;
    rd->leaf_max = malloc((nfrags ? nfrags : 1) * sizeof *rd->leaf_max);
    if (!rd->leaf_max)
        return lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t f = 0; f < nfrags; f++)
        rd->leaf_max[f] = tree_max(rd, f, UINT64_MAX);
    free(rd->tombs);
    rd->tombs = NULL;
    rd->cap = 0;
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
            lsm_range_del *t = &rd->tombs[i];
            t->begin.data = rd->arena.data + (uintptr_t)t->begin.data;
            t->end.data = rd->arena.data + (uintptr_t)t->end.data;
        }
        rc = index_tombs(rd);
    }
    if (rc) {
        lsm_range_dels_free(rd);
        *status = rc;
        return NULL;
    }
    *status = LSM_OK;
    return rd;
}

lsm_range_dels *lsm_range_dels_index(const lsm_range_del *dels, size_t n)
{
    lsm_range_dels *rd = calloc(1, sizeof *rd);
    int rc = rd ? LSM_OK : lsm_fail(LSM_NO_MEMORY, "out of memory");
    for (size_t i = 0; rc == LSM_OK && i < n; i++)
        if (lsm_slice_cmp(dels[i].begin, dels[i].end) < 0)
            rc = add_tomb(rd, dels[i].begin, dels[i].end, dels[i].seq);
    if (rc == LSM_OK)
        rc = index_tombs(rd);
    if (rc) {
        lsm_range_dels_free(rd);
        return NULL;
    }
    return rd;
}

void lsm_range_dels_free(lsm_range_dels *rd)
{
    if (!rd)
        return;
    lsm_buf_free(&rd->arena);
    free(rd->tombs);
    free(rd->bounds);
    free(rd->first);
    free(rd->seqs);
    free(rd->leaf_max);
    free(rd);
}

int lsm_range_dels_empty(const lsm_range_dels *rd)
{
    return rd->newest == 0;
}

uint64_t lsm_range_dels_newest(const lsm_range_dels *rd)
{
    return rd->newest;
}

uint64_t lsm_range_dels_max_seq(const lsm_range_dels *rd, lsm_slice user_key,
                                uint64_t snap_seq)
{
    if (rd->nbounds < 2 || lsm_slice_cmp(user_key, rd->bounds[0]) < 0)
        return 0;
    size_t lo = 0, hi = rd->nbounds;
    while (lo < hi) {    /* first boundary > key */
        size_t mid = lo + (hi - lo) / 2;
        if (lsm_slice_cmp(rd->bounds[mid], user_key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == rd->nbounds)           /* at or past the last boundary */
        return 0;
    return snap_seq >= rd->newest ? rd->leaf_max[lo - 1]
                                  : tree_max(rd, lo - 1, snap_seq);
}
