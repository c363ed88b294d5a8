/*
 * memtable.h — the in-memory write buffer: a skiplist of internal keys.
 *
 * Concurrency: one writer at a time (the DB's write path serialises
 * inserts); any number of concurrent readers and iterators without locks.
 * Nodes are never removed; a memtable is freed as a whole when its last
 * reference goes (readers hold references).
 *
 * Range deletions are kept in a second skiplist ordered by begin key,
 * and indexed as they are inserted (memtable.c) so point lookups and
 * iterators find those covering a key without a scan.
 *
 * Memory: entries are carved from an arena of large chunks (taken from
 * and given back to the DB's pool of free chunks, arena.h); bytes() is
 * the arena usage, which the DB compares against memtable_bytes.  The
 * range-deletion index (at most about 200 + 16 log2 T bytes per
 * deletion) and the key filter (filter_bytes) are not counted.
 */
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include "ikey.h"
#include "iter.h"

typedef struct lsm_memtable lsm_memtable;
typedef struct lsm_arena_pool lsm_arena_pool;

/* refs = 1; NULL on ENOMEM.  Its arena takes chunks from pool and gives
 * them back when freed (arena.h); pool NULL: plain malloc.  filter_bytes:
 * the size of its filter over the keys of its puts and deletions (0:
 * none; see memtable.c). */
lsm_memtable *lsm_memtable_new(lsm_arena_pool *pool, size_t filter_bytes);
/* The filter a db gives a memtable of memtable_bytes: 1/64 of it, at most
 * 64 MiB (so a memtable of 4 GiB or more gets a denser filter).  Sized
 * by the limit, not the content: a memtable past its limit (a bulk
 * write's slack, replay, a read-only open) has more false positives. */
size_t lsm_memtable_filter_bytes(uint64_t memtable_bytes);
void lsm_memtable_ref(lsm_memtable *m);
void lsm_memtable_unref(lsm_memtable *m);

/* kind PUT, BLOB or DELETE: key = user key; kind RANGE_DEL: key = begin,
 * value = end.  (seq, kind, key) must be unique. */
int lsm_memtable_add(lsm_memtable *m, uint64_t seq, int kind,
                     lsm_slice key, lsm_slice value);

/* Newest version of user_key with seq <= snap_seq:
 * returns LSM_KIND_PUT or LSM_KIND_BLOB (value or reference copied into
 * *val, *seq_out set),
 * LSM_KIND_DELETE (*seq_out set), -1 if this memtable has none, or
 * LSM_NO_MEMORY if the value could not be copied.
 * Range deletions are not consulted here (see range_del_max_seq).
 * An entry is found once the reader has acquired what the writer
 * published after adding it (the DB's last sequence number): the key
 * filter is read before the skiplist, so an entry merely present in the
 * skiplist may be missed by a reader racing its insert. */
int lsm_memtable_get(lsm_memtable *m, lsm_slice user_key, uint64_t snap_seq,
                     lsm_buf *val, uint64_t *seq_out);

/* Highest seq <= snap_seq of a range deletion here covering user_key,
 * or 0 if none.  O(log^2 T) for T range deletions here; never rebuilds. */
uint64_t lsm_memtable_range_del_max_seq(lsm_memtable *m, lsm_slice user_key,
                                        uint64_t snap_seq);

/* Before the first add: from now until it is freed, m pins (blob.h) the
 * lowest blob file its references name, so no blob file it can name is
 * deleted while any owner or iterator holds it. */
struct lsm_blobs;
void lsm_memtable_track_blobs(lsm_memtable *m, struct lsm_blobs *b);

/* Arena bytes plus the length of every blob value referenced: a memtable
 * is switched after as much user data as without blob files, which
 * bounds what recovery reads back (db_open.c: replay verifies blobs). */
size_t lsm_memtable_bytes(const lsm_memtable *m);
/* Arena bytes only: about what its flush writes (blob values are in
 * their files already). */
size_t lsm_memtable_table_bytes(const lsm_memtable *m);
uint64_t lsm_memtable_entries(const lsm_memtable *m);
/* Point deletions inserted; *ranges: range deletions inserted. */
uint64_t lsm_memtable_deletions(const lsm_memtable *m, uint64_t *ranges);
int lsm_memtable_empty(const lsm_memtable *m);

/* Iterator over point entries (internal key -> value), holding a ref. */
lsm_iiter *lsm_memtable_iter(lsm_memtable *m);
/* Iterator over range deletions: key = internal key (begin, seq,
 * RANGE_DEL), value = end user key.  Holds a ref. */
lsm_iiter *lsm_memtable_range_del_iter(lsm_memtable *m);

#endif
