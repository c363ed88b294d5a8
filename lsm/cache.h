/*
 * cache.h — a sharded LRU cache bounded in bytes, used for data blocks and
 * for open tables.
 *
 * Entries are reference counted: lookup/insert return a handle that pins
 * the entry until released, even if it is evicted meanwhile; the deleter
 * runs when an evicted or erased entry's last handle is released.
 * Cost: one mutex per shard (16 shards, chosen by key hash).
 *
 * Priorities: high-priority entries (table indexes and filters) are
 * evicted only when no low-priority entry is, while they hold at most
 * LSM_CACHE_HIGH_PRI_RATIO of the capacity (RocksDB's high_pri_pool);
 * past it they compete with low-priority entries by recency.  At 1.0
 * (measured: at 0.5 whole-table filters of 0.7 MB in 4 MiB shards were
 * evicted for data blocks, readrandom -32%) metadata always wins.
 */
#ifndef LSM_CACHE_H
#define LSM_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "coding.h"

#define LSM_CACHE_HIGH_PRI_RATIO 1.0

typedef struct lsm_cache lsm_cache;
typedef struct lsm_cache_handle lsm_cache_handle;
typedef void (*lsm_cache_deleter)(lsm_slice key, void *value);

lsm_cache *lsm_cache_new(size_t capacity_bytes);
void lsm_cache_free(lsm_cache *c);          /* all handles must be released */

/* Inserts (replacing any entry with the same key) and returns a handle.
 * NULL on ENOMEM (the deleter is then called on value). */
lsm_cache_handle *lsm_cache_insert(lsm_cache *c, lsm_slice key, void *value,
                                   size_t charge, lsm_cache_deleter del);
/* The same with a priority: high != 0 for high. */
lsm_cache_handle *lsm_cache_insert_pri(lsm_cache *c, lsm_slice key,
                                       void *value, size_t charge,
                                       lsm_cache_deleter del, int high);
lsm_cache_handle *lsm_cache_lookup(lsm_cache *c, lsm_slice key);
void lsm_cache_release(lsm_cache *c, lsm_cache_handle *h);
void *lsm_cache_value(lsm_cache_handle *h);
void lsm_cache_erase(lsm_cache *c, lsm_slice key);
size_t lsm_cache_usage(lsm_cache *c);
/* Bytes (charges) of high-priority entries in memory: in the cache, or
 * out of it but still pinned by a handle. */
size_t lsm_cache_high_bytes(lsm_cache *c);
/* Admission for an entry that a lookup just missed: 1 if the key missed
 * recently too (within roughly as many misses as the cache holds 4 KiB
 * entries), so it is worth inserting; 0 the first time, when the caller
 * should use what it read without caching it (doorkeeper.h).  Notes the
 * key either way.  Lock-free. */
int lsm_cache_admit(lsm_cache *c, lsm_slice key);
/* Unique id for key prefixes (e.g. one per table), never 0. */
uint64_t lsm_cache_new_id(lsm_cache *c);

#endif
