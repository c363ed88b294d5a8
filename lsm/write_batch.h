/*
 * write_batch.h — the batch encoding, shared by the WAL and the write path.
 *
 * A batch is one WAL record:
 *
 *   fixed64 sequence of the first operation | fixed32 count | operations
 *   operation = kind u8 | lenprefixed key [| lenprefixed value]
 *
 * kind is LSM_KIND_PUT (key, value), LSM_KIND_DELETE (key) or
 * LSM_KIND_RANGE_DEL (begin key, end key as the value) or LSM_KIND_BLOB
 * (key, blob reference: blob.h).  Operation i gets
 * sequence number first + i, so a batch is applied atomically: on
 * recovery either the whole record checks out or none of it is used.
 */
#ifndef LSM_WRITE_BATCH_H
#define LSM_WRITE_BATCH_H

#include "coding.h"
#include "lsm.h"
#include "memtable.h"

#define LSM_BATCH_HEADER 12

struct lsm_batch {
    lsm_buf rep;          /* always holds at least the header */
};

uint64_t lsm_batch_seq(const lsm_batch *b);
void lsm_batch_set_seq(lsm_batch *b, uint64_t seq);
/* Appends one operation of any kind (value ignored for a deletion). */
int lsm_batch_add(lsm_batch *b, int kind, lsm_slice key, lsm_slice value);
/* Appends src's operations to dst. */
int lsm_batch_append(lsm_batch *dst, const lsm_batch *src);

/* Calls fn for each operation of an encoded batch, validating lengths and
 * kinds and that the count matches; LSM_CORRUPTION if malformed. */
typedef int (*lsm_batch_fn)(void *ctx, uint64_t seq, int kind, lsm_slice key,
                            lsm_slice value);
int lsm_batch_iterate(lsm_slice rep, lsm_batch_fn fn, void *ctx);
/* Inserts every operation into the memtable. */
int lsm_batch_insert(lsm_slice rep, lsm_memtable *m);

#endif
