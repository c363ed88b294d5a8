/*
 * merge_iter.c — k-way merging iterator and the error iterator (iter.h).
 *
 * Order: the merged sequence is every child entry sorted by (key, child
 * index), so equal keys from different children come out child 0 first
 * going forward, and in the exact reverse going backward.
 *
 * Structure: a binary heap of the indices of the valid children, keyed by
 * (key, index) — a min-heap while moving forward, a max-heap while moving
 * backward.  The top is the current entry.  Children's current keys are
 * cached in keys[] (a key slice stays valid until its child moves), so
 * heap comparisons make no indirect calls except cmp.
 *
 * Cost with n children: first/last/seek reposition every child and
 * heapify, O(n) child moves + O(n) compares; next/prev in the same
 * direction move one child and sift, O(log n) compares; a direction
 * switch re-seeks the n - 1 other children, O(n) seeks.
 *
 * Errors: a child that turns invalid with a non-OK status makes the merge
 * invalid (it would otherwise silently skip that child's entries) and the
 * status sticky; status() reports it, or else the first non-OK child.
 */
#include <stdlib.h>

#include "error.h"
#include "iter.h"
#include "lsm.h"

/* --- the error iterator ---------------------------------------------------- */

typedef struct error_iter {
    lsm_iiter base;
    int status;
} error_iter;

static int ei_valid(lsm_iiter *it) { (void)it; return 0; }
static void ei_move(lsm_iiter *it) { (void)it; }
static void ei_seek(lsm_iiter *it, lsm_slice t) { (void)it; (void)t; }
static lsm_slice ei_empty(lsm_iiter *it)
{
    (void)it;
    return lsm_slice_make(NULL, 0);
}
static int ei_status(lsm_iiter *it) { return ((error_iter *)it)->status; }

/* Instances for every status lsm.h defines (index = -status); they are
 * never written after initialisation, so sharing them is thread-safe. */
#define N_STATIC_STATUSES (1 - LSM_BG_ERROR)
static const struct lsm_iiter_ops error_iter_ops;
static error_iter static_errors[N_STATIC_STATUSES] = {
    { { &error_iter_ops }, LSM_OK },          { { &error_iter_ops }, -1 },
    { { &error_iter_ops }, -2 },              { { &error_iter_ops }, -3 },
    { { &error_iter_ops }, -4 },              { { &error_iter_ops }, -5 },
    { { &error_iter_ops }, -6 },              { { &error_iter_ops }, -7 },
    { { &error_iter_ops }, -8 },
};

static void ei_destroy(lsm_iiter *it)
{
    error_iter *e = (error_iter *)it;
    if (e < static_errors || e >= static_errors + N_STATIC_STATUSES)
        free(e);
}

static const struct lsm_iiter_ops error_iter_ops = {
    ei_valid, ei_move,  ei_move,  ei_seek,   ei_move,
    ei_move,  ei_empty, ei_empty, ei_status, ei_destroy,
};

lsm_iiter *lsm_iiter_error(int status)
{
    if (status <= LSM_OK && status >= LSM_BG_ERROR)
        return &static_errors[-status].base;
    error_iter *e = malloc(sizeof *e);
    if (!e)
        return &static_errors[-LSM_NO_MEMORY].base;
    e->base.ops = &error_iter_ops;
    e->status = status;
    return &e->base;
}

/* --- the merging iterator --------------------------------------------------- */

enum { FORWARD, BACKWARD };

typedef struct merge_iter {
    lsm_iiter base;
    lsm_cmp_fn cmp;
    int n;
    lsm_iiter **child;
    lsm_slice *keys;    /* keys[i] = key of child i while it is in the heap */
    int *heap;          /* child indices; heap[0] is the current entry */
    int heap_len;
    int dir;
    int err;            /* sticky: first child error met */
} merge_iter;

/* Whether child a's entry comes before child b's in the current
 * direction, i.e. belongs nearer the heap top. */
static int before(const merge_iter *mi, int a, int b)
{
    int r = mi->cmp(mi->keys[a], mi->keys[b]);
    if (r == 0)
        r = a < b ? -1 : 1;
    return mi->dir == FORWARD ? r < 0 : r > 0;
}

static void sift_down(merge_iter *mi, int pos)
{
    int *h = mi->heap;
    int x = h[pos];
    for (;;) {
        int l = 2 * pos + 1;
        if (l >= mi->heap_len)
            break;
        int c = l + 1 < mi->heap_len && before(mi, h[l + 1], h[l]) ? l + 1 : l;
        if (!before(mi, h[c], x))
            break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

/* Records the error of a child found invalid; returns 1 if it had one. */
static int note_child_error(merge_iter *mi, int i)
{
    int st = lsm_iiter_status(mi->child[i]);
    if (st == LSM_OK)
        return 0;
    if (mi->err == LSM_OK)
        mi->err = st;
    return 1;
}

/* Rebuilds the heap from every valid child, in direction dir. */
static void rebuild(merge_iter *mi, int dir)
{
    mi->dir = dir;
    mi->heap_len = 0;
    for (int i = 0; i < mi->n; i++) {
        if (lsm_iiter_valid(mi->child[i])) {
            mi->keys[i] = lsm_iiter_key(mi->child[i]);
            mi->heap[mi->heap_len++] = i;
        } else {
            note_child_error(mi, i);
        }
    }
    if (mi->err) {
        mi->heap_len = 0;
        return;
    }
    for (int pos = mi->heap_len / 2 - 1; pos >= 0; pos--)
        sift_down(mi, pos);
}

/* After the top child moved: re-key it, or drop it if exhausted. */
static void fix_top(merge_iter *mi)
{
    int c = mi->heap[0];
    if (lsm_iiter_valid(mi->child[c])) {
        mi->keys[c] = lsm_iiter_key(mi->child[c]);
    } else {
        if (note_child_error(mi, c)) {
            mi->heap_len = 0;
            return;
        }
        mi->heap[0] = mi->heap[--mi->heap_len];
    }
    if (mi->heap_len > 1)
        sift_down(mi, 0);
}

static int mg_valid(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    return mi->heap_len > 0 && mi->err == LSM_OK;
}

static void mg_first(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    if (mi->err)
        return;
    for (int i = 0; i < mi->n; i++)
        lsm_iiter_first(mi->child[i]);
    rebuild(mi, FORWARD);
}

static void mg_last(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    if (mi->err)
        return;
    for (int i = 0; i < mi->n; i++)
        lsm_iiter_last(mi->child[i]);
    rebuild(mi, BACKWARD);
}

static void mg_seek(lsm_iiter *it, lsm_slice target)
{
    merge_iter *mi = (merge_iter *)it;
    if (mi->err)
        return;
    for (int i = 0; i < mi->n; i++)
        lsm_iiter_seek(mi->child[i], target);
    rebuild(mi, FORWARD);
}

static void mg_next(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    if (!mg_valid(it))
        return;
    int cur = mi->heap[0];
    if (mi->dir == BACKWARD) {
        /* Every other child i must land on its first entry after (K, cur)
         * in (key, index) order: the first key > K if i < cur, the first
         * key >= K if i > cur. */
        lsm_slice k = mi->keys[cur]; /* stable until child cur moves */
        for (int i = 0; i < mi->n; i++) {
            if (i == cur)
                continue;
            lsm_iiter *c = mi->child[i];
            lsm_iiter_seek(c, k);
            if (i < cur)
                while (lsm_iiter_valid(c) && mi->cmp(lsm_iiter_key(c), k) == 0)
                    lsm_iiter_next(c);
        }
        lsm_iiter_next(mi->child[cur]);
        rebuild(mi, FORWARD);
        return;
    }
    lsm_iiter_next(mi->child[cur]);
    fix_top(mi);
}

static void mg_prev(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    if (!mg_valid(it))
        return;
    int cur = mi->heap[0];
    if (mi->dir == FORWARD) {
        /* Every other child i must land on its last entry before (K, cur):
         * the last key <= K if i < cur, the last key < K if i > cur. */
        lsm_slice k = mi->keys[cur]; /* stable until child cur moves */
        for (int i = 0; i < mi->n; i++) {
            if (i == cur)
                continue;
            lsm_iiter *c = mi->child[i];
            lsm_iiter_seek(c, k);
            if (i < cur)
                while (lsm_iiter_valid(c) && mi->cmp(lsm_iiter_key(c), k) == 0)
                    lsm_iiter_next(c);
            if (lsm_iiter_valid(c))
                lsm_iiter_prev(c);
            else if (lsm_iiter_status(c) == LSM_OK)
                lsm_iiter_last(c); /* every key is before the target */
        }
        lsm_iiter_prev(mi->child[cur]);
        rebuild(mi, BACKWARD);
        return;
    }
    lsm_iiter_prev(mi->child[cur]);
    fix_top(mi);
}

static lsm_slice mg_key(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    return mg_valid(it) ? mi->keys[mi->heap[0]] : lsm_slice_make(NULL, 0);
}

static lsm_slice mg_value(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    return mg_valid(it) ? lsm_iiter_value(mi->child[mi->heap[0]])
                        : lsm_slice_make(NULL, 0);
}

static int mg_status(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    if (mi->err)
        return mi->err;
    for (int i = 0; i < mi->n; i++) {
        int st = lsm_iiter_status(mi->child[i]);
        if (st)
            return st;
    }
    return LSM_OK;
}

static void mg_destroy(lsm_iiter *it)
{
    merge_iter *mi = (merge_iter *)it;
    for (int i = 0; i < mi->n; i++)
        lsm_iiter_free(mi->child[i]);
    free(mi->child);
    free(mi->keys);
    free(mi->heap);
    free(mi);
}

static const struct lsm_iiter_ops merge_iter_ops = {
    mg_valid, mg_first, mg_last,   mg_seek,   mg_next,
    mg_prev,  mg_key,   mg_value,  mg_status, mg_destroy,
};

lsm_iiter *lsm_merge_iter_new(lsm_cmp_fn cmp, lsm_iiter **children, int n)
{
    if (n < 0)
        n = 0;
    merge_iter *mi = calloc(1, sizeof *mi);
    size_t slots = n ? (size_t)n : 1;
    if (mi) {
        mi->child = malloc(slots * sizeof *mi->child);
        mi->keys = malloc(slots * sizeof *mi->keys);
        mi->heap = malloc(slots * sizeof *mi->heap);
    }
    if (!mi || !mi->child || !mi->keys || !mi->heap) {
        if (mi) {
            free(mi->child);
            free(mi->keys);
            free(mi->heap);
            free(mi);
        }
        for (int i = 0; i < n; i++)
            lsm_iiter_free(children[i]);
        lsm_fail(LSM_NO_MEMORY, "merge iterator: no memory for %d children", n);
        return lsm_iiter_error(LSM_NO_MEMORY);
    }
    mi->base.ops = &merge_iter_ops;
    mi->cmp = cmp;
    /* A NULL child can only come from a constructor that ran out of
     * memory: it stands for an iterator failed with LSM_NO_MEMORY, so the
     * merge reports the loss instead of silently leaving entries out. */
    for (int i = 0; i < n; i++)
        mi->child[i] = children[i] ? children[i]
                                   : lsm_iiter_error(LSM_NO_MEMORY);
    mi->n = n;
    mi->heap_len = 0;
    mi->dir = FORWARD;
    mi->err = LSM_OK;
    return &mi->base;
}
