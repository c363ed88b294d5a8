/*
 * iter.h — the internal iterator interface.
 *
 * Memtables, blocks, tables, levels and the merging iterator all expose
 * this interface over (key, value) pairs in the order of a comparator
 * (internal keys, unless a module says otherwise).  A key or value slice
 * stays valid until the iterator moves or is freed.
 *
 * status() is LSM_OK unless the iterator met an error (corruption, I/O);
 * an iterator that met an error becomes invalid and stays so.
 */
#ifndef LSM_ITER_H
#define LSM_ITER_H

#include "coding.h"

typedef int (*lsm_cmp_fn)(lsm_slice a, lsm_slice b);

typedef struct lsm_iiter lsm_iiter;

struct lsm_iiter_ops {
    int (*valid)(lsm_iiter *it);
    void (*first)(lsm_iiter *it);
    void (*last)(lsm_iiter *it);
    void (*seek)(lsm_iiter *it, lsm_slice target);   /* first key >= target */
    void (*next)(lsm_iiter *it);
    void (*prev)(lsm_iiter *it);
    lsm_slice (*key)(lsm_iiter *it);
    lsm_slice (*value)(lsm_iiter *it);
    int (*status)(lsm_iiter *it);
    void (*destroy)(lsm_iiter *it);
};

/* Implementations embed this as their first member. */
struct lsm_iiter {
    const struct lsm_iiter_ops *ops;
};

static inline int lsm_iiter_valid(lsm_iiter *it) { return it->ops->valid(it); }
static inline void lsm_iiter_first(lsm_iiter *it) { it->ops->first(it); }
static inline void lsm_iiter_last(lsm_iiter *it) { it->ops->last(it); }
static inline void lsm_iiter_seek(lsm_iiter *it, lsm_slice t) { it->ops->seek(it, t); }
static inline void lsm_iiter_next(lsm_iiter *it) { it->ops->next(it); }
static inline void lsm_iiter_prev(lsm_iiter *it) { it->ops->prev(it); }
static inline lsm_slice lsm_iiter_key(lsm_iiter *it) { return it->ops->key(it); }
static inline lsm_slice lsm_iiter_value(lsm_iiter *it) { return it->ops->value(it); }
static inline int lsm_iiter_status(lsm_iiter *it) { return it->ops->status(it); }
static inline void lsm_iiter_free(lsm_iiter *it) { if (it) it->ops->destroy(it); }

/* An always-empty iterator carrying a status (e.g. a table that failed to
 * open).  Never returns NULL for LSM_NO_MEMORY: uses a static instance. */
lsm_iiter *lsm_iiter_error(int status);

/* Merges n child iterators (taking ownership) into one ordered by cmp.
 * Equal keys from different children come out child-index order first. */
lsm_iiter *lsm_merge_iter_new(lsm_cmp_fn cmp, lsm_iiter **children, int n);

/* Two-level iterator: `index` yields values from which open_block makes
 * the iterator over the entries they point at (table index -> data block,
 * level file list -> table).  Takes ownership of index. */
typedef lsm_iiter *(*lsm_open_child_fn)(void *arg, lsm_slice index_value);
lsm_iiter *lsm_twolevel_iter_new(lsm_iiter *index, lsm_open_child_fn open,
                                 void *arg);

#endif
