/*
 * table.h — SSTables: immutable sorted files of internal keys.
 *
 * The byte layout is documented at the top of table_builder.c.  In short:
 * compressed-or-not data blocks each with a 5-byte trailer (type, checksum),
 * a bloom filter block over user keys, a range-deletion block, an index
 * block with one entry per data block (key >= every key in that block,
 * value = its handle) and a fixed-size footer with a magic number.
 */
#ifndef LSM_TABLE_H
#define LSM_TABLE_H

#include "cache.h"
#include "env.h"
#include "iter.h"

#define LSM_TABLE_MAGIC UINT64_C(0x4c534d4654424c31) /* "LSMFTBL1" */
/* Footer format versions (table_builder.c): 1, or 2 for a table holding
 * a put at sequence number 0, which a reader older than version 2 would
 * take for deleted (it counted a put visible only above the newest
 * covering deletion, 0 when none), so it must refuse such a table. */
#define LSM_TABLE_VERSION 1
#define LSM_TABLE_VERSION_SEQ0 2

typedef struct lsm_table_options {
    size_t block_bytes;
    int restart_interval;
    int bloom_bits_per_key;     /* 0: no filter */
    int compression;            /* enum lsm_compression */
    int zstd_level;
} lsm_table_options;

typedef struct lsm_table_builder lsm_table_builder;

/* Does not take ownership of f. */
lsm_table_builder *lsm_table_builder_new(lsm_file *f, const lsm_table_options *o);
/* Internal keys must come in strictly increasing lsm_ikey_cmp order. */
int lsm_table_builder_add(lsm_table_builder *b, lsm_slice ikey, lsm_slice value);
/* Range deletions: [begin, end) at seq.  Any order. */
int lsm_table_builder_add_range_del(lsm_table_builder *b, lsm_slice begin,
                                    lsm_slice end, uint64_t seq);
uint64_t lsm_table_builder_entries(const lsm_table_builder *b);
uint64_t lsm_table_builder_file_size(const lsm_table_builder *b);
/* Writes the remaining blocks and the footer and syncs the file.
 * *size = final file size. */
int lsm_table_builder_finish(lsm_table_builder *b, uint64_t *size);
void lsm_table_builder_free(lsm_table_builder *b);
/* Gives meta the blob files the builder's LSM_KIND_BLOB entries name
 * (lsm_file_meta_set_blobs), once it is finished. */
struct lsm_file_meta;
void lsm_table_builder_blob_files(lsm_table_builder *b, struct lsm_file_meta *meta);

typedef struct lsm_table lsm_table;

/* Reads and verifies the footer, index, filter and range-del blocks.
 * Takes ownership of f (closed by lsm_table_close, or on failure).
 * `name` is used in messages (e.g. "000012.sst"); cache may be NULL. */
int lsm_table_open(lsm_file *f, uint64_t size, const char *name,
                   lsm_cache *block_cache, lsm_table **out);
void lsm_table_close(lsm_table *t);
/* Moves t's index and filter into its block cache (if it has one), at
 * high priority (cache.h): they are then in memory only while cached or
 * in use, read again on demand.  Call before sharing t.  Resident bytes:
 * lsm_cache_high_bytes of the block cache. */
void lsm_table_meta_to_cache(lsm_table *t);

/* Finds the first entry >= ikey if its user key equals user_key(ikey):
 * returns 1 and sets *found_key / copies the value into val;
 * 0 if none (including a bloom negative); < 0 on error.  With fill_cache
 * (and for lsm_table_iter) a data block read on a miss is cached if the
 * cache admits it (lsm_cache_admit: at its second read). */
int lsm_table_get(lsm_table *t, lsm_slice ikey, lsm_buf *found_key,
                  lsm_buf *val, int fill_cache);
int lsm_table_has_range_dels(const lsm_table *t);
/* Highest seq <= snap_seq of a range deletion in this table covering
 * user_key, or 0. */
uint64_t lsm_table_range_del_max_seq(lsm_table *t, lsm_slice user_key,
                                     uint64_t snap_seq);
/* Iterator over point entries. The table must outlive it. */
lsm_iiter *lsm_table_iter(lsm_table *t, int fill_cache);
/* A salvage iterator's report of an unreadable data block at `offset`:
 * every key it held is > lower (the previous block's index key; empty for
 * the first block) and <= upper (its own index key), both internal keys.
 * `why` names the table, the offset and the check that failed. */
typedef void (*lsm_table_loss_fn)(void *ctx, uint64_t offset, lsm_slice lower,
                                  lsm_slice upper, const char *why);
/* Like lsm_table_iter, but a data block that fails its checksum (or does
 * not parse) is reported to `lost` and skipped instead of ending the
 * iteration; other errors (I/O) still do.  Forward only: first, next.
 * Does not fill the block cache. */
lsm_iiter *lsm_table_salvage_iter(lsm_table *t, lsm_table_loss_fn lost,
                                  void *ctx);
/* Iterator over range deletions (key: ikey(begin, seq, RANGE_DEL),
 * value: end). */
lsm_iiter *lsm_table_range_del_iter(lsm_table *t);
uint64_t lsm_table_entries(const lsm_table *t);
/* Calls fn for each data block in key order with its index key (an
 * internal key at or past the block's last key; valid during the call)
 * and its size in the file.  For cutting key ranges by bytes. */
int lsm_table_for_each_block(lsm_table *t,
                             int (*fn)(void *ctx, lsm_slice ikey, uint64_t bytes),
                             void *ctx);
/* Counts from the properties block (deletion-triggered compaction). */
typedef struct lsm_table_props {
    uint64_t entries;           /* point entries, deletions included */
    uint64_t deletions;         /* point deletions; UINT64_MAX: unknown
                                   (a table from before they were counted) */
    uint64_t range_dels;
    uint64_t max_seq;           /* highest sequence number; UINT64_MAX: unknown */
} lsm_table_props;
void lsm_table_props_get(const lsm_table *t, lsm_table_props *out);
/* What the footer and properties say (for inspection). */
typedef struct lsm_table_desc {
    uint64_t file_bytes, data_blocks;
    uint64_t entries;           /* point entries and range deletions */
    uint64_t filter_bytes, index_bytes;
    uint64_t index_mem_bytes;   /* the index the table holds in memory,
                                   search hints included (0: in the cache) */
} lsm_table_desc;
void lsm_table_describe(const lsm_table *t, lsm_table_desc *d);

/* Counters for statistics (atomic). */
typedef struct lsm_table_stats {
    uint64_t bloom_checks, bloom_negatives;
    uint64_t cache_hits, cache_misses;
    uint64_t cache_not_admitted;   /* misses the doorkeeper kept out */
    uint64_t blocks_read;
} lsm_table_stats;
void lsm_table_stats_get(lsm_table_stats *out);

#endif
