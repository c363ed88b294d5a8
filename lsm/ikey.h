/*
 * ikey.h — internal keys.
 *
 * Every entry the engine stores is keyed by an internal key:
 *
 *     user_key bytes | fixed64 little-endian trailer = (seq << 8) | kind
 *
 * Internal keys order by user key ascending, then by sequence number
 * descending (newest first), then kind descending.  So a seek to
 * (k, snapshot_seq, LSM_KIND_SEEK) lands on the newest version of k that
 * the snapshot can see.
 *
 * Writes get sequence numbers from 1.  Sequence number 0 marks a put that
 * a compaction into the bottom of its key's levels found older than every
 * snapshot, with no older version or covering range deletion left
 * (compaction.c, zero_seq_ok): it sorts after every other version of its
 * key, which are all newer.  A table holding one is format version 2
 * (table_builder.c) and recorded in the manifest with tag 12
 * (version_edit.c), which readers from before refuse.
 *
 * Range deletions are stored as kind LSM_KIND_RANGE_DEL with the begin key
 * as user key and the (exclusive) end key as value; they live apart from
 * point entries (a separate memtable list, a separate table block).
 */
#ifndef LSM_IKEY_H
#define LSM_IKEY_H

#include "coding.h"

enum lsm_kind {
    LSM_KIND_DELETE = 0,
    LSM_KIND_PUT = 1,
    LSM_KIND_RANGE_DEL = 2,
    LSM_KIND_BLOB = 3,      /* a put whose value is a blob reference (blob.h) */
};
#define LSM_KIND_SEEK LSM_KIND_BLOB /* highest kind: sorts first */
/* Kinds that carry a visible value (a put, inline or in a blob file). */
static inline int lsm_kind_is_put(int kind)
{
    return kind == LSM_KIND_PUT || kind == LSM_KIND_BLOB;
}
#define LSM_MAX_SEQ ((UINT64_C(1) << 56) - 1)
#define LSM_IKEY_TRAILER 8

typedef struct lsm_ikey {
    lsm_slice user;
    uint64_t seq;
    int kind;
} lsm_ikey;

static inline uint64_t lsm_ikey_pack(uint64_t seq, int kind)
{
    return (seq << 8) | (uint64_t)kind;
}

int lsm_ikey_append(lsm_buf *b, lsm_slice user, uint64_t seq, int kind);
/* Returns 1 if s is a well-formed internal key (kind known), else 0. */
int lsm_ikey_parse(lsm_slice s, lsm_ikey *out);
/* The user-key part; s must be at least 8 bytes. */
static inline lsm_slice lsm_ikey_user(lsm_slice s)
{
    return lsm_slice_make(s.data, s.len - LSM_IKEY_TRAILER);
}
/* Total order described above.  Inputs shorter than 8 bytes compare as
 * plain bytes (they only occur on damaged data, which is rejected later). */
int lsm_ikey_cmp(lsm_slice a, lsm_slice b);

#endif
