/*
 * version.h — the set of live tables, its history, and the manifest.
 *
 * A version is an immutable snapshot of which tables make up each level.
 * Readers and iterators take a reference to the current version and so
 * never wait for (or see half of) a flush or compaction: those build a new
 * version from the current one plus an edit, log the edit to the
 * manifest, fsync it, and only then install the new version as current.
 * A table file is deleted only when no live version lists it.
 *
 * Level 0 holds tables straight from memtable flushes; they may overlap
 * and are searched newest (highest file number) first.  Levels 1 and
 * deeper hold tables with disjoint key ranges, sorted by smallest key.
 *
 * Locking: the version set is guarded by the DB mutex (passed in as
 * `mu`); lsm_vset_log_and_apply drops it while writing the manifest.
 * Version reference counts are atomic, so a reader can ref/unref a version
 * it already holds without the mutex.
 */
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "coding.h"
#include "env.h"
#include "iter.h"
#include "lsm.h"
#include "table_cache.h"

#define LSM_NUM_LEVELS 7
/* The key order a manifest records (and a store refuses any other). */
#define LSM_COMPARATOR_NAME "lsm.bytewise"

typedef struct lsm_file_meta {
    int refs;                  /* versions listing it (atomic) */
    uint64_t number;
    uint64_t size;
    lsm_buf smallest, largest; /* internal keys, range deletions included */
    uint64_t entries;
    /* 0, or the table holds puts at sequence number 0 (footer version 2,
     * ikey.h) and this is at least the highest sequence number its
     * entries had before compactions zeroed them (>= 1; repair.c hides
     * its lost ranges at it).  Recorded as manifest tag 12. */
    uint64_t seq0_max;
    int being_compacted;       /* guarded by the DB mutex */
    int damaged;               /* (DB mutex) a compaction found a block of
                                  it unreadable: never an input again */
    int blobs_known;           /* (DB mutex) blob_files is set (blob_gc.c) */
    /* Whether the table holds range deletions (a table never changes):
     * LSM_RDELS_*, set by the flush or compaction that wrote it, else
     * learned when a reader first opens it.  Atomic, set without the DB
     * mutex; lsm_edit_add_meta carries it over. */
    int range_dels;
    uint64_t *blob_files;      /* sorted, distinct: the blob files its */
    size_t nblob_files;        /* LSM_KIND_BLOB entries name */
} lsm_file_meta;

/* --- edits (the manifest's records; format in version_edit.c) --------- */
typedef struct lsm_new_file {
    int level;
    lsm_file_meta *meta;
} lsm_new_file;

typedef struct lsm_deleted_file {
    int level;
    uint64_t number;
} lsm_deleted_file;

/* Garbage of blob files (blob_gc.c): bytes and records of values no
 * table or memtable names any more, per blob file; sorted by file. */
typedef struct lsm_blob_garbage {
    uint64_t file, count, bytes;
} lsm_blob_garbage;
/* A dead record's bytes in a blob file, whose space may be freed (a
 * hole punched) once no reader can reach it: after `after`, the id of the
 * version that dropped it, is the oldest live version (blob.h: holes). */
typedef struct lsm_blob_extent {
    uint64_t file, off, len, after;
} lsm_blob_extent;
typedef struct lsm_garbage_list {
    lsm_blob_garbage *v;
    size_t n, cap;
    /* The dead records themselves, adjacent ones merged (in memory only:
     * the manifest records v; a crash forgets them). */
    lsm_blob_extent *ext;
    size_t next, cap_ext;
} lsm_garbage_list;
/* Adds count/bytes to file's entry (made if missing). */
int lsm_garbage_add(lsm_garbage_list *l, uint64_t file, uint64_t count,
                    uint64_t bytes);
/* Counts the record of len bytes at off of file as garbage: one record
 * and its bytes, and its extent.  Out of memory loses the extent only
 * (its space then waits for relocation). */
int lsm_garbage_add_record(lsm_garbage_list *l, uint64_t file, uint64_t off,
                           uint64_t len);
/* Adds all of src (counts and extents) to dst. */
int lsm_garbage_merge(lsm_garbage_list *dst, const lsm_garbage_list *src);
/* file's entry, or NULL. */
const lsm_blob_garbage *lsm_garbage_find(const lsm_garbage_list *l, uint64_t file);
void lsm_garbage_remove(lsm_garbage_list *l, uint64_t file);
void lsm_garbage_free(lsm_garbage_list *l);

/* A named snapshot as the manifest records it. */
typedef lsm_snapshot_info lsm_snap_record;

typedef struct lsm_version_edit {
    int has_log_number, has_next_file, has_last_seq, has_comparator;
    uint64_t log_number, next_file, last_seq;
    char comparator[32];
    /* Named snapshots created and deleted (by id) by this edit, and the
     * next id to hand out (a new manifest's first edit records it). */
    lsm_snap_record *snaps;
    size_t nsnaps, cap_snaps;
    uint32_t *dropped_snaps;
    size_t ndropped_snaps, cap_dropped_snaps;
    int has_next_snap_id;
    uint32_t next_snap_id;
    int style;                      /* enum lsm_compaction_style; 0 = none */
    int wal_format;                 /* LSM_WAL_FORMAT_*; 0 = none */
    /* Blob garbage this edit adds (deltas; a new manifest's first edit
     * holds the totals). */
    lsm_garbage_list garbage;
    lsm_deleted_file *deleted;
    size_t ndeleted, cap_deleted;
    lsm_new_file *added;
    size_t nadded, cap_added;
} lsm_version_edit;

void lsm_edit_init(lsm_version_edit *e);
void lsm_edit_free(lsm_version_edit *e);
int lsm_edit_delete_file(lsm_version_edit *e, int level, uint64_t number);
int lsm_edit_add_snapshot(lsm_version_edit *e, const lsm_snap_record *r);
int lsm_edit_drop_snapshot(lsm_version_edit *e, uint32_t id);
/* Copies smallest/largest. */
int lsm_edit_add_file(lsm_version_edit *e, int level, uint64_t number,
                      uint64_t size, uint64_t entries, lsm_slice smallest,
                      lsm_slice largest);
/* Adds f's number, size, entries, bounds and seq0_max (not its blob
 * files: lsm_file_meta_copy_blobs). */
int lsm_edit_add_meta(lsm_version_edit *e, int level, const lsm_file_meta *f);
int lsm_edit_encode(const lsm_version_edit *e, lsm_buf *out);
/* LSM_CORRUPTION on any malformed input. */
int lsm_edit_decode(lsm_version_edit *e, lsm_slice in);

lsm_file_meta *lsm_file_meta_new(void);
void lsm_file_meta_ref(lsm_file_meta *f);
void lsm_file_meta_unref(lsm_file_meta *f);
/* Sets f's blob files (blob_gc.c) from files[0..n) (any order, repeats
 * allowed; taken over, freed by f) and marks them known. */
void lsm_file_meta_set_blobs(lsm_file_meta *f, uint64_t *files, size_t n);
/* Gives dst src's blob files if known (mu held); else leaves dst unknown
 * (it is then read by blob_gc.c). */
void lsm_file_meta_copy_blobs(lsm_file_meta *dst, const lsm_file_meta *src);
/* Widens m's smallest/largest to include ikey (compaction.c). */
void lsm_file_meta_widen(lsm_file_meta *m, lsm_slice ikey);

/* --- versions ----------------------------------------------------------- */
typedef struct lsm_version_set lsm_version_set;

typedef struct lsm_version {
    int refs;                                  /* atomic */
    uint64_t id;                               /* increasing as installed */
    lsm_version_set *vset;
    struct lsm_version *prev, *next;           /* live list, under mu */
    lsm_file_meta **files[LSM_NUM_LEVELS];
    size_t nfiles[LSM_NUM_LEVELS];
    /* Compaction hint computed when installed (compaction.c). */
    double compaction_score;
    int compaction_level;
} lsm_version;

void lsm_version_ref(lsm_version *v);
void lsm_version_unref(lsm_version *v);        /* needs the DB mutex */
/* Drops a reference without the DB mutex if it is not the last one:
 * 1 if it did, 0 (nothing done) if it may be the last, which only
 * lsm_version_unref may drop. */
int lsm_version_unref_if_shared(lsm_version *v);

/* Point lookup through the levels.  *max_tomb carries the highest
 * covering range-deletion seq seen in newer sources and is updated.
 * Returns LSM_KIND_PUT (value in val) or LSM_KIND_BLOB (its reference
 * in val), LSM_KIND_DELETE (deleted or
 * covered), -1 if no table holds the key, or a negative lsm_status. */
int lsm_version_get(lsm_version *v, lsm_slice user_key, uint64_t snap_seq,
                    uint64_t *max_tomb, lsm_buf *val, int fill_cache);

/* Appends to its[*n] one iterator per L0 table and one per deeper level
 * (as the merging iterator's children). its must have room for
 * nfiles[0] + LSM_NUM_LEVELS entries. Range-deletion iterators are
 * appended the same way to rdel (one per table holding any), if rdel. */
int lsm_version_add_iters(lsm_version *v, int fill_cache, lsm_iiter **its,
                          int *n);
int lsm_version_add_range_del_iters(lsm_version *v, lsm_iiter ***its,
                                    int *n, int *cap);
/* A table held open (lsm_table_cache_get) by a reader. */
typedef struct lsm_pinned_table {
    lsm_table *t;
    lsm_cache_handle *h;
} lsm_pinned_table;
enum { LSM_RDELS_UNKNOWN = 0, LSM_RDELS_NONE = 1, LSM_RDELS_SOME = 2 };
/* The LSM_RDELS_* state of a table known to hold (or not) range deletions. */
static inline int lsm_rdels_known(int holds)
{
    return holds ? LSM_RDELS_SOME : LSM_RDELS_NONE;
}
/* Pins every table of v that holds range deletions into *out (malloc'ed,
 * *n entries); on error pins nothing.  Unpin with
 * lsm_version_unpin_tables.  Cost: one table-cache lookup per table
 * holding range deletions, and per table whose file meta has not learned
 * yet whether it holds any (each table once); an atomic load for the
 * others.  (Every new iterator pins: a lookup per table of a large store
 * would cost more than the seek.) */
int lsm_version_pin_range_del_tables(lsm_version *v, lsm_pinned_table **out,
                                     size_t *n);
void lsm_version_unpin_tables(lsm_version *v, lsm_pinned_table *p, size_t n);
uint64_t lsm_version_level_bytes(const lsm_version *v, int level);
/* Index of the first file in a sorted level (>= 1) whose largest key is
 * >= ikey; nfiles if none. */
size_t lsm_version_find_file(const lsm_version *v, int level, lsm_slice ikey);
/* Files of `level` overlapping user-key range [begin, end] (either may be
 * NULL = unbounded).  *out is malloc'ed. For level 0 the range is widened
 * transitively to every overlapping file. */
int lsm_version_overlapping(const lsm_version *v, int level,
                            const lsm_slice *begin, const lsm_slice *end,
                            lsm_file_meta ***out, size_t *n);

/* --- the version set ------------------------------------------------------ */
struct lsm_version_set {
    const char *dir;
    lsm_env *env;
    lsm_table_cache *tcache;
    pthread_mutex_t *mu;
    pthread_mutex_t *view_mu;       /* also held while current changes */
    lsm_version *current;
    lsm_version live;               /* list head of live versions */
    uint64_t next_file;
    uint64_t last_seq;              /* last sequence visible to readers */
    uint64_t log_number;            /* logs older than this are flushed */
    uint64_t manifest_number;
    struct lsm_wal_writer *manifest;
    int manifest_writing;           /* one log_and_apply at a time */
    int obsolete_files;             /* a retired version was freed: its
                                       tables may now be deletable */
    /* Named snapshots the manifest holds, oldest first, and the next id
     * (changed only by edits, like the tables).  pins[i] is named[i]'s
     * entry in the DB's snapshot list (db.c attaches them). */
    lsm_snap_record *named;
    struct lsm_snapshot **pins;
    size_t nnamed, cap_named;
    uint32_t next_snap_id;
    /* The compaction style the manifest records (enum
     * lsm_compaction_style; 0 = none recorded, i.e. leveled).  Every new
     * manifest records it. */
    int style;
    /* The WAL format the manifest records (0: none, the WALs' fragments
     * are in the first format; LSM_WAL_FORMAT_RECYCLABLE: WALs may hold
     * recyclable fragments, wal.h).  Every new manifest records it. */
    int wal_format;
    /* Blob garbage recorded by the edits so far (lsm_edit garbage), per
     * blob file still present (db.c forgets a file once deleted). */
    lsm_garbage_list garbage;
    /* Dead blob records of the edits installed so far, in the order of
     * their `after` (lsm_vset_take_holes), at most MAX_HOLES. */
    lsm_blob_extent *holes;
    size_t nholes, cap_holes;
    uint64_t last_version_id;
    pthread_cond_t manifest_cv;
};

/* mu guards the set; view_mu (db.h) is also held while current changes. */
int lsm_vset_init(lsm_version_set *vs, const char *dir, lsm_env *env,
                  lsm_table_cache *tc, pthread_mutex_t *mu,
                  pthread_mutex_t *view_mu);
void lsm_vset_destroy(lsm_version_set *vs);
/* Reads CURRENT and the manifest it names. */
int lsm_vset_recover(lsm_version_set *vs, void (*log)(void *, int, const char *),
                     void *log_ctx);
/* Writes a brand-new store's first manifest and CURRENT. */
int lsm_vset_create(lsm_version_set *vs);
/* Logs the edit (with next_file, last_seq and, if set, log_number) to the
 * manifest — a fresh manifest holding the whole current version if there
 * is none open yet — syncs it, and installs current + edit as the new
 * current version.  Called with mu held; drops it during I/O.  On failure
 * nothing is installed. */
int lsm_vset_log_and_apply(lsm_version_set *vs, lsm_version_edit *e);
uint64_t lsm_vset_new_file_number(lsm_version_set *vs);
/* Index of the named snapshot called name in vs->named, or -1. */
ssize_t lsm_vset_find_snapshot(const lsm_version_set *vs, const char *name);
/* Marks in `live` (sorted array, malloc'ed) every table number listed by
 * any live version. */
int lsm_vset_live_files(lsm_version_set *vs, uint64_t **live, size_t *n);
/* Moves into *out (malloc'ed, *n entries; NULL if none) at most max of
 * the dead blob records no live version's tables and memtables can name
 * any more: those whose edit's version is the oldest live one or older.
 * If more are ready, sets obsolete_files so another pass takes them
 * (mu held). */
int lsm_vset_take_holes(lsm_version_set *vs, size_t max, lsm_blob_extent **out,
                        size_t *n);

#endif
