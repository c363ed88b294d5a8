/*
 * range_del.h — a read-side index of range deletions.
 *
 * Built from every range deletion visible to an iterator's snapshot, it
 * splits the key space into disjoint fragments [begin, end) each carrying
 * the highest sequence number of the deletions that cover it, so "is key
 * k at seq s deleted?" is one binary search: covered iff the fragment
 * holding k has max seq > s.
 *
 * Cost: building is O(T log T) for T deletions; the fragments own copies
 * of their boundary keys.
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
/* Highest seq of a deletion covering user_key, or 0. */
uint64_t lsm_range_dels_max_seq(const lsm_range_dels *rd, lsm_slice user_key);
int lsm_range_dels_empty(const lsm_range_dels *rd);

#endif
