/*
 * table_cache.h — open tables, bounded by max_open_files.
 *
 * Opening a table reads its footer, index, filter and range-deletion
 * blocks; they stay in memory while the table is cached, except the index
 * and filter when meta_in_cache: those are handed to the block cache
 * (lsm_table_meta_to_cache).  An LRU cache
 * keyed by file number holds at most `capacity` open tables; a table in
 * use by an iterator stays open (pinned) even if evicted meanwhile.
 */
#ifndef LSM_TABLE_CACHE_H
#define LSM_TABLE_CACHE_H

#include "cache.h"
#include "env.h"
#include "iter.h"
#include "table.h"

typedef struct lsm_table_cache lsm_table_cache;

lsm_table_cache *lsm_table_cache_new(const char *dir, lsm_env *env,
                                     int capacity, lsm_cache *block_cache,
                                     int meta_in_cache);
void lsm_table_cache_free(lsm_table_cache *tc);

/* Pins the open table for file `number`; release with _release. */
int lsm_table_cache_get(lsm_table_cache *tc, uint64_t number, uint64_t size,
                        lsm_table **t, lsm_cache_handle **h);
void lsm_table_cache_release(lsm_table_cache *tc, lsm_cache_handle *h);
/* Iterator over the table's point entries, keeping it pinned. */
lsm_iiter *lsm_table_cache_iter(lsm_table_cache *tc, uint64_t number,
                                uint64_t size, int fill_cache);
/* lsm_table_salvage_iter through the cache (table.h). */
lsm_iiter *lsm_table_cache_salvage_iter(lsm_table_cache *tc, uint64_t number,
                                        uint64_t size, lsm_table_loss_fn lost,
                                        void *ctx);
lsm_iiter *lsm_table_cache_range_del_iter(lsm_table_cache *tc,
                                          uint64_t number, uint64_t size);
/* Bytes of index and filter blocks in memory: those the open tables hold
 * (at most max_open_files tables' worth), or with meta_in_cache those the
 * block cache holds or readers pin (lsm_cache_high_bytes). */
uint64_t lsm_table_cache_meta_bytes(lsm_table_cache *tc);
/* Opens table `number` into the cache unless it is there, and unpins it;
 * *range_dels is set to whether it holds range deletions.  Flushes and
 * compactions call it on each table they write, before the manifest
 * names it (RocksDB does the same): the footer, index, filter and range
 * deletions are read back and verified once, on the background thread,
 * so a table that cannot be opened is never installed and readers do not
 * pay for the open.  Cost: reading those blocks, a few percent of the
 * table's bytes, from the page cache the write left them in; and the
 * table then stays open like any read one (a descriptor, and without
 * meta_in_cache its index and filter in memory, 2.5-3 bytes a key)
 * until evicted, so a store only written holds what a store also read
 * did.  keep = 0 (a compaction of whole levels: lsm_compact, a level
 * rewrite) drops it from the cache again unless meta_in_cache bounds
 * that memory: kept open, such outputs would add the metadata of the
 * levels merged to that of the inputs, open until the edit (at 200M keys
 * some 300 MB for the 100 s of a full compaction).  A failure (out of
 * memory or descriptors, a bad block) fails the flush or compaction: the
 * store's background error, as any other failure of it. */
int lsm_table_cache_warm(lsm_table_cache *tc, uint64_t number, uint64_t size,
                         int keep, int *range_dels);
/* Drops a deleted table from the cache. */
void lsm_table_cache_evict(lsm_table_cache *tc, uint64_t number);

#endif
