/*
 * range_del.h — a read-side index of range deletions.
 *
 * Built from a set of range deletions (a table's, a memtable's, or all
 * those an iterator can see), it splits the key space into disjoint
 * fragments [begin, end), each carrying the sequence numbers of the
 * deletions covering it, newest first.  "Which is the newest deletion
 * covering k that a snapshot at s sees?" is then one binary search plus a
 * short scan of that fragment's numbers.
 *
 * Cost: building is O(T log T + sum of fragments per deletion) for T
 * deletions; the set owns copies of the boundary keys.
 */
#ifndef LSM_RANGE_DEL_H
#define LSM_RANGE_DEL_H

#include "coding.h"
#include "iter.h"

typedef struct lsm_range_dels lsm_range_dels;

/* Reads (and frees) the range-deletion iterators; keeps deletions with
 * seq <= snap_seq.  Returns NULL (and sets *status) on error; a set with
 * no deletions is still returned. */
lsm_range_dels *lsm_range_dels_build(lsm_iiter **its, int n, uint64_t snap_seq,
                                     int *status);
void lsm_range_dels_free(lsm_range_dels *rd);
/* Highest seq <= snap_seq of a deletion covering user_key, or 0. */
uint64_t lsm_range_dels_max_seq(const lsm_range_dels *rd, lsm_slice user_key,
                                uint64_t snap_seq);
int lsm_range_dels_empty(const lsm_range_dels *rd);

#endif
