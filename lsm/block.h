/*
 * block.h — sorted key/value blocks (data blocks, the index block and the
 * range-deletion block of a table).
 *
 * Layout of an uncompressed block (documented fully in block_builder.c):
 *     entries... | restart offsets fixed32[num_restarts] | num_restarts fixed32
 * entry = varint shared | varint unshared | varint value_len
 *         | key_delta[unshared] | value[value_len]
 * Every `restart_interval` entries the key is stored whole (shared = 0) and
 * its offset recorded, so a seek binary-searches the restarts and then
 * scans at most restart_interval entries.
 */
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include "iter.h"

typedef struct lsm_block_builder {
    lsm_buf buf;
    uint32_t *restarts;
    size_t nrestarts, cap_restarts;
    int restart_interval;
    int counter;                /* entries since the last restart */
    lsm_buf last_key;
    uint64_t entries;
} lsm_block_builder;

void lsm_block_builder_init(lsm_block_builder *b, int restart_interval);
/* Keys must be added in strictly increasing order. */
int lsm_block_builder_add(lsm_block_builder *b, lsm_slice key, lsm_slice value);
/* Size the block would have if finished now. */
size_t lsm_block_builder_estimate(const lsm_block_builder *b);
int lsm_block_builder_empty(const lsm_block_builder *b);
/* Appends the restart array; the result stays valid until reset. */
int lsm_block_builder_finish(lsm_block_builder *b, lsm_slice *out);
void lsm_block_builder_reset(lsm_block_builder *b);
void lsm_block_builder_free(lsm_block_builder *b);

/* A parsed block.  Validates the restart array on creation; entries are
 * validated as they are decoded (iterator status LSM_CORRUPTION). */
typedef struct lsm_block lsm_block;

/* Takes ownership of data (malloc'ed) when own = 1. */
int lsm_block_new(char *data, size_t len, int own, lsm_block **out);
void lsm_block_free(lsm_block *b);
/* Bytes in memory: the block and its search hints. */
size_t lsm_block_size(const lsm_block *b);
/* Builds search hints for a block of internal keys (lsm_ikey_cmp order)
 * that will be searched often, a table's index: seeks then touch a dense
 * array of 8 bytes per restart instead of the entries (block.c).  Costs
 * 8 bytes per restart.  A malformed entry leaves the block without hints
 * (seeks report it); LSM_NO_MEMORY otherwise the only failure. */
int lsm_block_add_hints(lsm_block *b);
/* Iterator ordered by cmp; does not own the block. */
lsm_iiter *lsm_block_iter(const lsm_block *b, lsm_cmp_fn cmp);
/* The first entry whose key is >= target, as a seek of lsm_block_iter
 * finds it but without allocating an iterator: 1 with *value pointing
 * into the block and its key copied into key (unless NULL), 0 if every
 * key is < target, or a negative status (LSM_CORRUPTION: a bad entry). */
int lsm_block_find(const lsm_block *b, lsm_cmp_fn cmp, lsm_slice target,
                   lsm_buf *key, lsm_slice *value);

#endif
