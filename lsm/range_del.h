/*
 * range_del.h — a read-side index of range deletions.
 *
 * Built once from a set of range deletions (a table's, a part of a
 * memtable's, or those a compaction must honour), it answers "which is
 * the newest deletion covering k that a snapshot at s sees?".  The
 * distinct boundary keys cut the key space into fragments; a segment tree
 * over the fragments stores each deletion's sequence number in the
 * O(log F) tree nodes that exactly cover its range, each node's numbers
 * sorted newest first.  A lookup is one binary search for k's fragment
 * and a walk up the tree: O(log F) nodes, each answered by its first
 * number (snapshot at or above every deletion) or a binary search.
 *
 * Cost: building is O(T log T) time and O(T log F) memory for T
 * deletions and F fragments, however they overlap (deletions nested like
 * repeated truncations of one file included).
 */
#ifndef LSM_RANGE_DEL_H
#define LSM_RANGE_DEL_H

#include "coding.h"
#include "iter.h"

typedef struct lsm_range_dels lsm_range_dels;

/* One deletion of [begin, end) at seq. */
typedef struct lsm_range_del {
    lsm_slice begin, end;
    uint64_t seq;
} lsm_range_del;

/* Reads (and frees) the range-deletion iterators; keeps deletions with
 * seq <= snap_seq.  The set owns copies of the keys.  Returns NULL (and
 * sets *status) on error; a set with no deletions is still returned. */
lsm_range_dels *lsm_range_dels_build(lsm_iiter **its, int n, uint64_t snap_seq,
                                     int *status);
/* Indexes dels[0..n) (copied; empty ranges skipped).  The key bytes are
 * borrowed: they must outlive the set.  NULL on ENOMEM. */
lsm_range_dels *lsm_range_dels_index(const lsm_range_del *dels, size_t n);
void lsm_range_dels_free(lsm_range_dels *rd);
/* Highest seq <= snap_seq of a deletion covering user_key, or 0. */
uint64_t lsm_range_dels_max_seq(const lsm_range_dels *rd, lsm_slice user_key,
                                uint64_t snap_seq);
int lsm_range_dels_empty(const lsm_range_dels *rd);
/* Highest seq of any deletion in the set (0 when empty). */
uint64_t lsm_range_dels_newest(const lsm_range_dels *rd);

/* For tests: deletions indexed by every set built so far in this
 * process (a measure of indexing work). */
uint64_t lsm_range_dels_indexed_total(void);

#endif
