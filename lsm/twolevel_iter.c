/*
 * twolevel_iter.c — iterator over the entries an index points at (iter.h).
 *
 * The index iterator's values are handles (a block handle in a table
 * index, a file number in a level's file list); open(arg, handle) makes
 * the child iterator over what one handle points at.  The two-level
 * iterator walks the children in index order and skips empty ones.
 *
 * Invariant while valid: child is open on the handle at the index's
 * current position and is valid.  The handle the child was opened from
 * is kept so that repositioning onto the same handle reuses the child
 * instead of opening it again.
 *
 * Errors: if the index, a child, or open() fails (open may return an
 * lsm_iiter_error), the iterator becomes invalid and keeps that first
 * status; it does not skip a child it could not read.
 */
#include <stdlib.h>

#include "error.h"
#include "iter.h"
#include "lsm.h"

typedef struct twolevel_iter {
    lsm_iiter base;
    lsm_iiter *index;          /* owned */
    lsm_open_child_fn open;
    void *arg;
    lsm_iiter *child;          /* owned; NULL when none is open */
    lsm_buf child_handle;      /* index value child was opened from */
    int err;                   /* sticky first error */
} twolevel_iter;

static void set_error(twolevel_iter *t, int status)
{
    if (t->err == LSM_OK)
        t->err = status;
}

static void close_child(twolevel_iter *t)
{
    lsm_iiter_free(t->child);
    t->child = NULL;
}

/* Opens the child for the index's current entry (closing any other one),
 * or closes the child if the index is not valid.  Returns 0 on error. */
static int open_child(twolevel_iter *t)
{
    if (!lsm_iiter_valid(t->index)) {
        close_child(t);
        int st = lsm_iiter_status(t->index);
        if (st) {
            set_error(t, st);
            return 0;
        }
        return 1;
    }
    lsm_slice handle = lsm_iiter_value(t->index);
    if (t->child && lsm_slice_cmp(handle, lsm_buf_slice(&t->child_handle)) == 0)
        return 1;
    close_child(t);
    lsm_buf_clear(&t->child_handle);
    if (lsm_buf_append(&t->child_handle, handle.data, handle.len)) {
        set_error(t, lsm_fail(LSM_NO_MEMORY, "two-level iterator: no memory"));
        return 0;
    }
    t->child = t->open(t->arg, handle);
    if (!t->child) {
        set_error(t, lsm_fail(LSM_NO_MEMORY,
                              "two-level iterator: opening a child failed"));
        return 0;
    }
    return 1;
}

/* Whether the child is valid; if it is not because it failed, records
 * the error and returns -1. */
static int child_state(twolevel_iter *t)
{
    if (!t->child)
        return 0;
    if (lsm_iiter_valid(t->child))
        return 1;
    int st = lsm_iiter_status(t->child);
    if (st) {
        set_error(t, st);
        return -1;
    }
    return 0;
}

/* Moves forward past empty children until one is valid or the index
 * ends. */
static void skip_forward(twolevel_iter *t)
{
    for (;;) {
        int s = child_state(t);
        if (s != 0)
            return;
        if (!lsm_iiter_valid(t->index)) {
            close_child(t);
            return;
        }
        lsm_iiter_next(t->index);
        if (!open_child(t) || !t->child)
            return;
        lsm_iiter_first(t->child);
    }
}

static void skip_backward(twolevel_iter *t)
{
    for (;;) {
        int s = child_state(t);
        if (s != 0)
            return;
        if (!lsm_iiter_valid(t->index)) {
            close_child(t);
            return;
        }
        lsm_iiter_prev(t->index);
        if (!open_child(t) || !t->child)
            return;
        lsm_iiter_last(t->child);
    }
}

static int tl_valid(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    return t->err == LSM_OK && t->child && lsm_iiter_valid(t->child);
}

static void tl_first(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    if (t->err)
        return;
    lsm_iiter_first(t->index);
    if (!open_child(t))
        return;
    if (t->child)
        lsm_iiter_first(t->child);
    skip_forward(t);
}

static void tl_last(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    if (t->err)
        return;
    lsm_iiter_last(t->index);
    if (!open_child(t))
        return;
    if (t->child)
        lsm_iiter_last(t->child);
    skip_backward(t);
}

static void tl_seek(lsm_iiter *it, lsm_slice target)
{
    /* The index entry for a child is >= every key in it, so the first
     * index entry >= target names the only child that can hold it. */
    twolevel_iter *t = (twolevel_iter *)it;
    if (t->err)
        return;
    lsm_iiter_seek(t->index, target);
    if (!open_child(t))
        return;
    if (t->child)
        lsm_iiter_seek(t->child, target);
    skip_forward(t);
}

static void tl_next(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    if (!tl_valid(it))
        return;
    lsm_iiter_next(t->child);
    skip_forward(t);
}

static void tl_prev(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    if (!tl_valid(it))
        return;
    lsm_iiter_prev(t->child);
    skip_backward(t);
}

static lsm_slice tl_key(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    return tl_valid(it) ? lsm_iiter_key(t->child) : lsm_slice_make(NULL, 0);
}

static lsm_slice tl_value(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    return tl_valid(it) ? lsm_iiter_value(t->child) : lsm_slice_make(NULL, 0);
}

static int tl_status(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    if (t->err)
        return t->err;
    int st = lsm_iiter_status(t->index);
    if (st)
        return st;
    return t->child ? lsm_iiter_status(t->child) : LSM_OK;
}

static void tl_destroy(lsm_iiter *it)
{
    twolevel_iter *t = (twolevel_iter *)it;
    close_child(t);
    lsm_iiter_free(t->index);
    lsm_buf_free(&t->child_handle);
    free(t);
}

static const struct lsm_iiter_ops twolevel_iter_ops = {
    tl_valid, tl_first, tl_last,  tl_seek,   tl_next,
    tl_prev,  tl_key,   tl_value, tl_status, tl_destroy,
};

lsm_iiter *lsm_twolevel_iter_new(lsm_iiter *index, lsm_open_child_fn open,
                                 void *arg)
{
    twolevel_iter *t = calloc(1, sizeof *t);
    if (!t) {
        lsm_iiter_free(index);
        lsm_fail(LSM_NO_MEMORY, "two-level iterator: no memory");
        return lsm_iiter_error(LSM_NO_MEMORY);
    }
    t->base.ops = &twolevel_iter_ops;
    /* A NULL index comes from a constructor that ran out of memory. */
    t->index = index ? index : lsm_iiter_error(LSM_NO_MEMORY);
    t->open = open;
    t->arg = arg;
    return &t->base;
}
