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
 *
 * In memory only, a put added by lsm_batch_put_ref is kind
 * LSM_BATCH_KIND_REF with no value in rep: its value is the next of refs,
 * the caller's bytes.  lsm_write turns every such op into a blob
 * reference or an inline put (lsm_batch_inline) before the batch is
 * queued, so no REF op reaches the WAL or the memtable, and
 * lsm_batch_iterate (which parses what the WAL holds) refuses one.
 */
#ifndef LSM_WRITE_BATCH_H
#define LSM_WRITE_BATCH_H

#include "coding.h"
#include "lsm.h"
#include "memtable.h"

#define LSM_BATCH_HEADER 12
#define LSM_BATCH_KIND_REF 0x80   /* memory only; above every LSM_KIND_* */

struct lsm_batch {
    lsm_buf rep;          /* always holds at least the header */
    lsm_slice *refs;      /* values of the REF ops, in their order */
    size_t nrefs, cap_refs;
    size_t ref_bytes;     /* what they would add to rep inline */
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
/* lsm_batch_iterate over a batch in memory, a REF op given to fn as the
 * put it stands for (kind PUT, the caller's value). */
int lsm_batch_each(const lsm_batch *b, lsm_batch_fn fn, void *ctx);
/* Copies the values of b's REF ops into it, each becoming the plain put
 * lsm_batch_put would have made: LSM_OK (b then has no REF op) or
 * LSM_NO_MEMORY (b unchanged).  Costs a copy of the whole batch. */
int lsm_batch_inline(lsm_batch *b);
/* Inserts every operation into the memtable. */
int lsm_batch_insert(lsm_slice rep, lsm_memtable *m);

#endif
