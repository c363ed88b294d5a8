/*
 * lsm.h — public API of liblsm, an embedded log-structured merge-tree
 * key-value store.
 *
 * Keys and values are arbitrary byte strings (values up to LSM_MAX_VALUE
 * bytes).  Keys order bytewise (memcmp, shorter first on a tie).
 *
 * Every call that can fail returns LSM_OK (0) or a negative lsm_status.
 * On failure a readable message for the calling thread is available from
 * lsm_last_error() until that thread's next failing call.  Nothing in this
 * library aborts on bad input or on damaged bytes read from disk.
 *
 * Thread safety: an lsm_db may be used from any number of threads at once.
 * An lsm_iter or lsm_batch belongs to one thread at a time.
 *
 * Build: `cc prog.c $(pkg-config --cflags --libs lsm)` (shared library
 * liblsm.so.0), or `pkg-config --static --libs lsm` with liblsm.a.  Every
 * name this header declares is exported by the shared library; nothing
 * else is.
 */
#ifndef LSM_H
#define LSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

enum lsm_status {
    LSM_OK = 0,
    LSM_NOT_FOUND = -1,      /* key absent (get only) */
    LSM_CORRUPTION = -2,     /* bytes on disk failed a checksum or length check */
    LSM_IO_ERROR = -3,       /* the OS reported an I/O failure */
    LSM_NO_SPACE = -4,       /* ENOSPC / EDQUOT */
    LSM_INVALID = -5,        /* bad argument, or not a store of this format */
    LSM_BUSY = -6,           /* store locked by another opener */
    LSM_NO_MEMORY = -7,
    LSM_BG_ERROR = -8,       /* an earlier background failure made the store read-only */
    LSM_EXISTS = -9,         /* a named snapshot of that name exists */
};

#define LSM_MAX_KEY   (1u << 20)          /* 1 MiB */
#define LSM_MAX_VALUE (64u << 20)         /* 64 MiB */

enum lsm_compression { LSM_COMPRESS_NONE = 0, LSM_COMPRESS_ZSTD = 1 };
/* lsm_options.compaction_style.  A store's manifest records its style;
 * DEFAULT opens a store with the style it records (a new store:
 * leveled). */
enum lsm_compaction_style {
    LSM_COMPACTION_DEFAULT = 0,
    LSM_COMPACTION_LEVELED = 1,
    LSM_COMPACTION_TIERED = 2,
};

/* Levels of lsm_options.log lines; the numbers are syslog's LOG_*. */
enum lsm_log_level {
    LSM_LOG_ERROR = 3,       /* data damaged or the store turned read-only */
    LSM_LOG_WARNING = 4,     /* trouble the store works around (full disk) */
    LSM_LOG_INFO = 6,        /* recovery after a crash, space passes */
    LSM_LOG_DEBUG = 7,       /* routine file housekeeping */
};

/* The engine's I/O interface; the library's tests substitute one that
 * injects faults.  Programs leave lsm_options.env NULL (POSIX files). */
struct lsm_env;

typedef struct lsm_options {
    size_t memtable_bytes;          /* switch memtable past this; default 64 MiB */
    int max_immutable_memtables;    /* writers wait beyond this; default 2 */
    size_t block_bytes;             /* data block target before compression; 4 KiB */
    int block_restart_interval;     /* keys between restart points; 16 */
    int bloom_bits_per_key;         /* 0 disables filters; default 10 */
    int compression;                /* enum lsm_compression; default zstd */
    int zstd_level;                 /* default 1 */
    size_t cache_bytes;             /* block cache; default 64 MiB */
    int max_open_files;             /* table cache capacity; default 1000 */
    /* 1: the index and filter blocks of tables live in the block cache
     * at high priority (data blocks are evicted first; they are read
     * again when evicted), so their memory is bounded by cache_bytes.
     * cache_bytes must then exceed the store's metadata (2.5-3 bytes
     * a key at 10 bloom bits) severalfold: if it does not, point reads
     * re-read whole filters and fall ~100x.  0 (default, until filters
     * are partitioned): each open table holds them (bounded only by
     * max_open_files). */
    int table_meta_in_cache;
    int create_if_missing;          /* default 1 */
    int salvage;                    /* open past mid-log WAL corruption; default 0 */
    /* Open without writing anything to the store (no recovery flush, no
     * new WAL or manifest, no deletions, no background threads); every
     * write, flush and compaction fails with LSM_INVALID.  For checkers
     * and for inspecting a store before deciding to open it. */
    int read_only;
    int paranoid_checks;            /* verify checksums on every read; default 1 */
    /* Durability of an acknowledged write.  Default (0): every write is
     * handed to the kernel (one write(2) of the WAL record per group
     * commit) before it is acknowledged, so it survives a crash of the
     * process; surviving power loss takes LSM_SYNC or lsm_sync.  1: WAL
     * records may stay in a 64 KiB user-space buffer after the write
     * returns, and a crash of the process loses them, until lsm_flush_wal,
     * lsm_sync or lsm_close (or the buffer filling) writes them out.
     * Saves a system call per small write (RocksDB: manual_wal_flush). */
    int manual_wal_flush;
    /* 1 (default): the WAL file of a flushed memtable is kept, one at a
     * time, and the next WAL is written over it (RocksDB:
     * recycle_log_file_num): its synced writes then change no metadata
     * and need no zeros written ahead, which halves the bytes a stream
     * of small synced writes costs the disk.  The kept file takes the
     * largest size a WAL written over it reached (about memtable_bytes,
     * and the zeros written ahead) until it is reused, the store is idle
     * (idle_compaction_ms) or closed; none is kept on a nearly full disk.
     * 0: a WAL is deleted once flushed. */
    int recycle_wal;
    /* Background work and level shape (see compaction.c). */
    int flush_threads;              /* default 1 */
    int compaction_threads;         /* default 1 */
    /* The flush and compaction threads (and a compaction's range threads)
     * lower their CPU priority by this much (setpriority on the thread:
     * nice 0..19 added to the opener's), so a process serving requests
     * beside them on few cores is not kept off the CPU by background
     * work.  Lowering is always permitted; a failure leaves the thread
     * as it was; lsm_open returns once each has done it.  The threads
     * are named lsm-flush, lsm-compact and lsm-range.  Default 0
     * (unchanged); lsmfs uses 5. */
    int background_nice;
    /* A large compaction out of level 0 (or of whole levels: lsm_compact,
     * tiered merges) is cut by key into up to this many ranges merged
     * in parallel (compaction.c), each of at least subcompaction_bytes of
     * input; 1: never.  Default 2, at most 16; subcompaction_bytes:
     * default 8 MiB. */
    int max_subcompactions;
    uint64_t subcompaction_bytes;
    int level0_compaction_trigger;  /* default 4 */
    int level0_slowdown_trigger;    /* default 8 */
    int level0_stop_trigger;        /* default 12 */
    /* Bytes/s writes are paced to once level 0 reaches its slowdown
     * trigger; it falls with each level-0 table past the trigger, to
     * 1/(stop - slowdown + 1) of this at the stop trigger (db.c); level
     * 0 counts the memtables being flushed.  1 KiB/s to 2^40; default
     * 16 MiB/s. */
    uint64_t delayed_write_rate;
    /* Leveled: once level 0 reaches its trigger, its tables are merged
     * into one level-0 table instead of into level 1 while the level-1
     * tables they overlap hold at least this percent of their bytes
     * (compaction.c, pick_level0_self: the next merge into level 1 then
     * carries more level-0 bytes per level-1 byte it rewrites).  0:
     * never; at most 10000.  Default 150. */
    int level0_self_merge_percent;
    uint64_t level1_bytes;          /* target size of level 1; default 256 MiB */
    int level_multiplier;           /* each level's target vs the one above; 10 */
    /* enum lsm_compaction_style.  Tiered (compaction_tiered.c, RocksDB's
     * universal compaction): sorted runs of similar size are merged once
     * there are level0_compaction_trigger runs; less write amplification,
     * more space amplification and slower reads than leveled.  Opening a
     * store with the other style converts it: the manifest records the
     * new style and the new picker reshapes the levels as it goes (any
     * shape is valid for either style).  Default: the store's own. */
    int compaction_style;
    /* Tiered: runs are merged while the next older run is at most
     * (100 + this)% of the newer runs' sum; default 1. */
    int tiered_size_ratio;
    int tiered_min_merge_width;     /* runs in a size-ratio merge; 2 */
    /* Tiered: every run is merged into one once the runs above the
     * oldest hold more than this percent of its bytes; default 200. */
    int tiered_max_size_amp_percent;
    /* Compaction output split size; 64 MiB, at most 1/64 of the space
     * the store could use (its files plus the free space at open). */
    uint64_t target_file_bytes;
    /* Space kept preallocated in the store directory (file RESERVE) and
     * given back when the disk is full, so that writes marked LSM_RECLAIM
     * and the flushes and compactions they cause can still run.  The
     * reserve is at most 1/16 of the space the store could use (its files
     * plus the free space at open).  0: none.  Default 8 MiB. */
    uint64_t reserve_bytes;
    /* Idle work: once no write has come for this long (nor since the
     * open: it counts as a write, so a store's first requests do not
     * meet rewrites started as it opened), the compaction
     * thread does what deletions owe (reclaim.c): flushes a memtable
     * holding deletions and drops tables range deletions cover whole;
     * and, once no read (lsm_get, an iterator's seek or scan) has come
     * for as long either, compacts tables holding deleted data or made
     * mostly of deletions, enforces space_amp_percent and moves live
     * blob values out of garbage files.  Those rewrites wait for reads
     * because they can rewrite much of the deepest level, taking the
     * disk, the page cache and a core from reads that go on without a
     * pause.  An idle compaction stops at the first write; one already
     * running when reads come goes on.  Reads are noted to within a
     * millisecond and a clock tick, so the wait for reads is exact only
     * for periods well above that.  0: none.  Default 1000 ms. */
    int idle_compaction_ms;
    /* Space amplification bound, enforced by idle work: while the levels
     * above the deepest one holding data hold more than this percent of
     * its bytes, they are compacted down into it (so bytes on disk stay
     * near (100 + this)% of the deepest level, which holds one version of
     * each key).  0: no bound.  Default 10. */
    int space_amp_percent;
    /* Large values out of the tree (blob.c): a put whose value is at
     * least this long is written once to a blob file and the tree holds
     * a ~20-byte reference, so flushes and compactions never copy it.
     * A blob file is deleted once no table, memtable, snapshot or
     * iterator can name any of its values; live values move out of files
     * mostly garbage (blob_gc_garbage_percent) or old (blob_gc_age_percent).
     * 0: off (default; lsmfs turns it on). */
    size_t blob_min_bytes;
    uint64_t blob_file_bytes;       /* start a new blob file past this; 256 MiB */
    /* Blob relocation (blob_gc.c): a compaction copies the live values it
     * rewrites out of the oldest this % of the blob files (by number,
     * between the oldest a table names and the one being written) into
     * the current one, so files mostly dead empty out and are deleted.
     * Cost: live values are copied too, whatever share of their file is
     * dead, each time they fall below the cutoff again.  0: values are
     * never moved by age (default). */
    int blob_gc_age_percent;
    /* Blob relocation by garbage (blob_gc.c): a blob file (not the one
     * being written) whose garbage -- values flushes and compactions
     * dropped, recorded in the manifest per file -- is at least this % of
     * its bytes has its live values copied out by the compactions that
     * rewrite them, and an idle store compacts the tables naming it, so
     * its space comes back once the last is moved.  Bounds the blob files'
     * dead bytes near this % (relocation copies about (100 - it)/it bytes
     * per byte freed).  0: never.  Default 40: below a half, so files
     * holding every other file's data (rm of every other) qualify; the
     * dead share stays under 40 % and a byte freed copies 1.5 live. */
    int blob_gc_garbage_percent;
    struct lsm_env *env;            /* I/O interface; NULL = POSIX */
    /* Recorded in the store's LOCK file after the holder's pid while the
     * store is open (e.g. where it is mounted): a second opener's
     * LSM_BUSY message quotes it and lsm_lock_holder returns it.
     * NULL = nothing. */
    const char *lock_note;
    /* Log lines with their level (enum lsm_log_level): recovery, dropped
     * WAL tails, obsolete files deleted, trouble in background work.
     * NULL = silent. */
    void (*log)(void *ctx, int level, const char *line);
    void *log_ctx;
} lsm_options;

void lsm_options_init(lsm_options *opt);

typedef struct lsm_db lsm_db;
typedef struct lsm_snapshot lsm_snapshot;
typedef struct lsm_iter lsm_iter;
typedef struct lsm_batch lsm_batch;

/* Write flags. */
#define LSM_SYNC 1      /* fsync the WAL before acknowledging */
/* The write frees space (deletes) or is small bookkeeping a caller needs
 * to keep running on a full disk.  It may use the space reserve: on a
 * full disk it still succeeds, and the store then flushes and compacts
 * to give the space of what it deleted back.  Ordinary writes get
 * LSM_NO_SPACE while the reserve is not whole. */
#define LSM_RECLAIM 2
/* The write fills space the caller holds (lsm_hold_space): it may use
 * held space, which ordinary writes leave alone. */
#define LSM_HELD 4
/* The write is bulk data (a file's contents).  When flushes or
 * compactions fall behind, bulk writes are the ones held (the memtables
 * all full, or level 0 at its stop trigger), waiting outside the line of
 * writers, and slowed most (level 0 past its slowdown trigger: they pay
 * for every byte paced to delayed_write_rate, other writes only for their
 * own); other writes go on
 * meanwhile, into a memtable that bulk writes filled, until it is a
 * quarter of memtable_bytes (at least 1 MiB) past its size, and are
 * committed ahead of bulk writes waiting in line.  A bulk write also
 * makes the next WAL for the memtable switch outside the line; the switch
 * seals the old WAL without an fsync (the flush thread makes it).  So
 * small changes are not held behind large ones: they wait for the one
 * group being committed, or a switch (a few system calls). */
#define LSM_BULK 8
/* The write's values stay in the WAL and the tree whatever their size
 * (no blob file, see blob_min_bytes).  For small writes a sync is about
 * to follow: the WAL's fsync then covers them alone, where a value in a
 * blob file would cost that file's fsync too (blob bytes are synced
 * before the WAL record naming them). */
#define LSM_NO_BLOB 16

typedef struct lsm_read_options {
    const lsm_snapshot *snapshot;   /* NULL = latest */
    int no_fill_cache;              /* 1: a scan: blocks read are not cached,
                                       blob values are read ahead 512 KiB
                                       at a time; 0: a block read is
                                       cached at its second read within
                                       about a cache's worth of misses */
} lsm_read_options;

/* Open (creating if allowed) the store in directory `dir`.  Fails with
 * LSM_BUSY while another lsm_open (any process) holds it. */
int lsm_open(const char *dir, const lsm_options *opt, lsm_db **out);
/* The holder of dir's lock as its LOCK file records it (POSIX
 * environment): *pid (0 if none is recorded) and its lock_note in note
 * (cap bytes, cut to fit; "" if none).  Meant for after an LSM_BUSY: a
 * holder that has let go since leaves its record behind, and the next
 * lsm_open may succeed.  LSM_NOT_FOUND if dir has no lock file. */
int lsm_lock_holder(const char *dir, long *pid, char *note, size_t cap);
/* Waits for background work, closes files, releases the lock. */
int lsm_close(lsm_db *db);

int lsm_put(lsm_db *db, const void *key, size_t klen,
            const void *val, size_t vlen, int flags);
int lsm_delete(lsm_db *db, const void *key, size_t klen, int flags);
/* Removes every key k with begin <= k < end in one write.  Its space
 * comes back without further writes: the flush of its memtable leaves
 * out what it covers there, tables it covers whole (with other range
 * deletions next to it) are dropped from the store unread once no
 * snapshot needs them, and idle work compacts tables it covers in part
 * (see idle_compaction_ms). */
int lsm_delete_range(lsm_db *db, const void *begin, size_t blen,
                     const void *end, size_t elen, int flags);

/* *val is malloc'ed; free it with lsm_free(). */
int lsm_get(lsm_db *db, const lsm_read_options *ro,
            const void *key, size_t klen, void **val, size_t *vlen);
void lsm_free(void *p);

/* Atomic batches: all of a batch is applied, or none. */
lsm_batch *lsm_batch_new(void);
void lsm_batch_free(lsm_batch *b);
void lsm_batch_clear(lsm_batch *b);
int lsm_batch_put(lsm_batch *b, const void *key, size_t klen,
                  const void *val, size_t vlen);
/* lsm_batch_put without copying the value: val[0, vlen) must stay
 * unchanged until the batch is freed or cleared (a batch written again,
 * e.g. retried after an error, reads val again).  A value the engine puts
 * in a blob file goes there straight from val, not through the batch; any
 * other is copied into the batch at lsm_write (which so changes the
 * batch's contents, not its meaning), so this saves a copy of the data
 * only for values of blob_min_bytes or more. */
int lsm_batch_put_ref(lsm_batch *b, const void *key, size_t klen,
                      const void *val, size_t vlen);
int lsm_batch_delete(lsm_batch *b, const void *key, size_t klen);
int lsm_batch_delete_range(lsm_batch *b, const void *begin, size_t blen,
                           const void *end, size_t elen);
uint32_t lsm_batch_count(const lsm_batch *b);
size_t lsm_batch_bytes(const lsm_batch *b);
/* Makes room for `bytes` more bytes of operations (key and value bytes
 * plus ~12 per operation), so a large batch is built without regrowing
 * (each regrowth copies what it holds): LSM_OK or LSM_NO_MEMORY. */
int lsm_batch_reserve(lsm_batch *b, size_t bytes);
int lsm_write(lsm_db *db, lsm_batch *b, int flags);

/* Snapshots pin a sequence number; reads through one see exactly the
 * writes acknowledged before it was taken. */
const lsm_snapshot *lsm_snapshot_get(lsm_db *db);
void lsm_snapshot_release(lsm_db *db, const lsm_snapshot *snap);

/* --- named snapshots -------------------------------------------------------
 *
 * A named snapshot is a snapshot recorded in the manifest: it survives
 * lsm_close, a crash of the process and power loss, and keeps pinning
 * its sequence number until lsm_snapshot_delete.  Creating one costs the
 * same whatever the store holds (no copy, no walk): an fsync of the WAL
 * (so every write it sees is durable) and of a one-record manifest edit.
 * Compaction keeps, of each key, exactly the versions some snapshot (in
 * memory or named) or the latest state can see: the newest version at or
 * below each snapshot's sequence number; an entry covered by a range
 * deletion goes once every snapshot that can see the entry sees a
 * covering deletion.  So deleting a snapshot lets compaction drop what
 * only it kept (lsm_compact rewrites every table after a delete).
 * Deleting one never invalidates an lsm_snapshot_open
 * handle: that handle pins the versions until released. */
#define LSM_SNAPSHOT_NAME_MAX 255
typedef struct lsm_snapshot_info {
    uint32_t id;                 /* unique in the store's life (never reused), >= 1 */
    uint64_t seq;                /* sees the writes up to this sequence number */
    uint64_t ctime;              /* creation, seconds since the epoch */
    char name[LSM_SNAPSHOT_NAME_MAX + 1];
} lsm_snapshot_info;
/* 1 if name is a valid snapshot name: 1..LSM_SNAPSHOT_NAME_MAX bytes, no
 * '/', not "." or "..". */
int lsm_snapshot_name_ok(const char *name);
/* Records a named snapshot of the current state (info filled if not
 * NULL).  LSM_INVALID for a bad name or a read-only store, LSM_EXISTS if
 * the name is taken, LSM_INVALID once LSM_SNAPSHOT_ID_MAX ids were handed
 * out (2^24 - 2: a filesystem may keep one more 24-bit value for itself). */
#define LSM_SNAPSHOT_ID_MAX ((1u << 24) - 2)
int lsm_snapshot_create(lsm_db *db, const char *name, lsm_snapshot_info *info);
/* Removes it from the manifest; LSM_NOT_FOUND if there is none. */
int lsm_snapshot_delete(lsm_db *db, const char *name);
/* Every named snapshot, oldest first; *out malloc'ed (lsm_free), NULL
 * when *n == 0. */
int lsm_snapshot_list(lsm_db *db, lsm_snapshot_info **out, size_t *n);
/* A handle for reading at the named snapshot (lsm_read_options.snapshot;
 * release with lsm_snapshot_release), info filled if not NULL.
 * LSM_NOT_FOUND if there is none. */
int lsm_snapshot_open(lsm_db *db, const char *name, const lsm_snapshot **out,
                      lsm_snapshot_info *info);
/* Space each of snaps[0..n) (from lsm_snapshot_list) holds alone: the
 * bytes of keys and values (before compression) of the entries that this
 * named snapshot sees and neither the latest state nor any other snapshot
 * (named or in memory) sees, which deleting it lets compaction drop.
 * Cost: one scan of every entry of the store (all versions), so it is
 * O(store size). */
int lsm_snapshot_space(lsm_db *db, const lsm_snapshot_info *snaps, size_t n,
                       uint64_t *exclusive);

/* Iterators see a consistent view (the snapshot, or the state when
 * created).  key/value pointers stay valid until the next move. */
lsm_iter *lsm_iter_new(lsm_db *db, const lsm_read_options *ro);
void lsm_iter_free(lsm_iter *it);
void lsm_iter_first(lsm_iter *it);
void lsm_iter_last(lsm_iter *it);
void lsm_iter_seek(lsm_iter *it, const void *key, size_t klen);   /* first >= key */
void lsm_iter_next(lsm_iter *it);
void lsm_iter_prev(lsm_iter *it);
int lsm_iter_valid(const lsm_iter *it);
const void *lsm_iter_key(const lsm_iter *it, size_t *klen);
const void *lsm_iter_value(const lsm_iter *it, size_t *vlen);
int lsm_iter_status(const lsm_iter *it);   /* LSM_OK or the error that stopped it */

/* Makes every write acknowledged so far durable (fsyncs the WAL).  When
 * every one already is (lsm_synced), returns at once: it does not wait
 * for a sync of writes not yet acknowledged that another thread runs. */
int lsm_sync(lsm_db *db);
/* 1 when every write acknowledged so far is durable, so lsm_sync has
 * nothing to do and does no I/O; 0 otherwise (also after a background
 * error, which lsm_sync reports).  Takes the store's mutex briefly. */
int lsm_synced(lsm_db *db);
/* What lsm_sync would do now, for a caller choosing the thread to run it
 * on (a hint: another writer may come first right after): 0 when
 * lsm_synced; else, when one fdatasync of the WAL is all it would do, the
 * bytes that writes (at least 1: records, and zeros the WAL writes ahead
 * of them, wal.h); UINT64_MAX when it would also wait for writers in
 * line or a sync under way, sync an older WAL or blob bytes, or report a
 * background error.  Takes the store's mutex briefly, never waits for
 * I/O. */
uint64_t lsm_sync_pending(lsm_db *db);
/* With manual_wal_flush: hands every write acknowledged so far to the
 * kernel (it then survives a crash of the process, not power loss).
 * Without, there is nothing to do. */
int lsm_flush_wal(lsm_db *db);
/* Makes the current memtable a table on disk and waits for it. */
int lsm_flush(lsm_db *db);
/* Compacts every level down until no level overlaps another.  After
 * lsm_snapshot_delete (in this process) it also rewrites the last level,
 * so the space of the versions only that snapshot kept comes back. */
int lsm_compact(lsm_db *db);
/* hold = 1: waits for running compactions to finish and starts no new
 * one (lsm_compact waits too) until hold = 0.  Flushes still run, so
 * writers stall once level 0 reaches its stop trigger.  Without writes
 * the store's files then stay as they are (a read-only mount).  Calls
 * that repeat the current state do nothing. */
void lsm_hold_compactions(lsm_db *db, int hold);

/* Statistics and state as text; *out is malloc'ed (lsm_free).  Names:
 * "stats" (everything), "levels", "sstables", "blobfiles" (each blob
 * file's bytes and recorded garbage, stats.c). */
int lsm_property(lsm_db *db, const char *name, char **out);

/* Bytes of live data on disk (tables + logs + blob files), without the
 * space reserve. */
uint64_t lsm_disk_bytes(lsm_db *db);
/* 1 when the store owes no background work: no memtable waiting to be
 * flushed, no compaction running or due, and the last idle pass found
 * nothing to do since the last write or edit (idle_compaction_ms; or idle
 * work is off, or compactions are held).  Then lsm_disk_bytes stays as it
 * is until something is written.  Polled by whoever waits for the space
 * of deletions to come back (at most a few idle_compaction_ms after the
 * last write on a store with little to compact; a poller that keeps
 * reading meanwhile holds the rewrites of idle work back). */
int lsm_settled(lsm_db *db);
/* Bytes the space reserve (reserve_bytes) holds now: 0 while it is given
 * back on a full disk.  statvfs counts them as neither free nor ours. */
uint64_t lsm_reserve_bytes(lsm_db *db);

/* Held space: free space promised to the caller for later writes (a
 * filesystem's preallocated ranges).  Ordinary writes see the free space
 * less the held bytes (and 1/8 more for the tables they will become), so
 * they fail with LSM_NO_SPACE before taking it; writes with LSM_HELD do
 * not.  The caller gives bytes back (lsm_release_space) as it writes them
 * or drops them.  Holds live in memory only: the caller stores what it
 * holds and holds it again after lsm_open.
 * lsm_hold_space: LSM_NO_SPACE when the free space, less what is held,
 * owed to flushes and a margin, cannot take `bytes` (force: hold anyway). */
int lsm_hold_space(lsm_db *db, uint64_t bytes, int force);
void lsm_release_space(lsm_db *db, uint64_t bytes);
uint64_t lsm_held_bytes(lsm_db *db);

/* --- damaged tables ---------------------------------------------------------
 *
 * A table block that fails its checksum is never read as data: gets and
 * iterators that need it fail with LSM_CORRUPTION, and a compaction that
 * meets it leaves the table alone (the store stays writable; "stats" and
 * "sstables" list the table as damaged).  lsm_repair rewrites it without
 * the unreadable blocks.
 *
 * One loss: an unreadable data block, or a whole table that cannot be
 * opened (its footer, index or another metadata block is damaged, so
 * nothing in it can be located), or one entry whose value is in a blob
 * file that is missing, too short, or fails the value's checksum
 * (blob_file names it; lo == hi is the entry's key, lo_inclusive).  The lost user keys k are bounded by the
 * table's index: lo < k <= hi (lo <= k <= hi when lo_inclusive), bytewise.
 * The bounds may be shortened separator keys, not keys ever written. */
typedef struct lsm_loss {
    uint64_t table;              /* file number of the damaged table */
    int level;
    uint64_t offset;             /* the block's offset; UINT64_MAX: whole table */
    const void *lo;
    size_t lo_len;
    int lo_inclusive;
    const void *hi;
    size_t hi_len;
    uint64_t new_table;          /* lsm_repair: the table now holding what was
                                    kept (0: none, or only checking) */
    uint64_t blob_file;          /* a blob value's loss: its blob file (else 0) */
    const char *why;             /* the failed check, naming table and offset */
} lsm_loss;
typedef void (*lsm_loss_fn)(void *ctx, const lsm_loss *loss);

typedef struct lsm_repair_result {
    uint64_t tables;             /* tables checked */
    uint64_t damaged;            /* of which damaged */
    uint64_t blocks_lost;        /* unreadable data blocks */
    uint64_t tables_lost;        /* tables that could not be opened at all */
    uint64_t entries_lost;       /* entries the damaged tables held, by their
                                    own counts, that could not be read */
    uint64_t tables_written;     /* rewrites installed (lsm_repair) */
    uint64_t blobs_lost;         /* entries whose blob value cannot be read
                                    (missing file, short, bad checksum) */
} lsm_repair_result;

/* Reads every entry of every table of an open store (read-only is fine),
 * verifying every block and every blob value a table names (reading it
 * whole: the cost of reading all data), and reports each loss.  LSM_OK even if damage
 * was found (res says); an error only if the check itself failed (I/O). */
int lsm_verify_tables(lsm_db *db, lsm_loss_fn fn, void *ctx,
                      lsm_repair_result *res);

/* Offline repair of the closed store in `dir` (it takes the store's lock,
 * so it fails with LSM_BUSY while the store is open elsewhere).  Opens it
 * (replaying the WAL as lsm_open does), verifies every table, and
 * replaces each damaged one by a new table holding every entry of every
 * block that verifies, plus its range deletions:
 *   - a damaged table in level 1 or deeper is rewritten in place;
 *   - a damaged level-0 table is merged with every newer level-0 table
 *     into one new level-0 table (level 0 is ordered by age);
 *   - a table that cannot be opened is dropped;
 *   - an entry whose blob value cannot be read is left out of the
 *     rewrite of its table, with a range deletion over its key at its own
 *     sequence number (older versions stay hidden, newer ones stay).
 * Each replacement is one manifest edit, so the old tables are retired
 * only once the new one is installed; a crash leaves one or the other.
 * Every lost range also gets a range deletion at the damaged table's
 * newest known sequence number, so a lost key reads as absent rather than
 * as an older version from a deeper table; the deletion also hides any
 * other key of that range older than it (such keys are in the reported
 * range).  Only if the lost block held the table's newest entries can an
 * older version above that sequence show through.  Keys outside the lost
 * ranges are unchanged.  fn (may
 * be NULL) hears of each loss once the repair is installed.  A store with
 * no damage is left as it is (after the WAL replay of the open). */
int lsm_repair(const char *dir, const lsm_options *opt, lsm_loss_fn fn,
               void *ctx, lsm_repair_result *res);

/* --- the store directory and its file system ------------------------------ */

/* What a directory holds, judged without writing anything. */
enum lsm_dir_state {
    LSM_DIR_MISSING = 0,     /* no such directory */
    LSM_DIR_EMPTY = 1,       /* nothing, or only what a failed creation left */
    LSM_DIR_STORE = 2,       /* a store (it has a CURRENT file) */
    LSM_DIR_OTHER = 3,       /* files, but not a store: lsm_open refuses it */
};
/* *state = enum lsm_dir_state of dir, read through opt->env (opt may be
 * NULL: POSIX).  Fails (e.g. LSM_INVALID: not a directory) with a message. */
int lsm_dir_state(const char *dir, const lsm_options *opt, int *state);
/* Free bytes on the file system holding the open store, as the store's
 * env reports them (statvfs f_bavail * f_frsize for POSIX). */
int lsm_free_space(lsm_db *db, uint64_t *bytes);

/* --- byte helpers ----------------------------------------------------------
 *
 * The encodings the engine's own files use, for callers that store
 * records of their own: fixed-width little-endian integers, and a 32-bit
 * checksum (the low half of XXH3-64 of the bytes). */
static inline void lsm_encode_fixed32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}
static inline void lsm_encode_fixed64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}
static inline uint32_t lsm_decode_fixed32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
           (uint32_t)u[3] << 24;
}
static inline uint64_t lsm_decode_fixed64(const char *p)
{
    return (uint64_t)lsm_decode_fixed32(p) |
           (uint64_t)lsm_decode_fixed32(p + 4) << 32;
}
uint32_t lsm_checksum(const void *p, size_t n);

/* --- versions and errors --------------------------------------------------- */

/* The library's version, "MAJOR.MINOR.PATCH" (the lsmfs project version). */
const char *lsm_library_version(void);

/* --- checkpoints (backups of a live store) ---------------------------------
 *
 * A checkpoint is a new store directory holding exactly the data visible
 * at one sequence number S, made while the source stays open and written.
 * lsm_checkpoint_begin fixes S (the last acknowledged write) and pins what
 * holds it: the current version's tables (no compaction deletes them while
 * pinned) and the memtables.  lsm_checkpoint_write then fills `dest`:
 *   - every pinned table is hard-linked into dest when dest is on the same
 *     filesystem and the store uses the POSIX environment, else copied
 *     (tables are never changed once written, so a link is a copy);
 *   - the memtables' entries with sequence <= S become one new level-0
 *     table in dest (newer than every pinned table), instead of copying
 *     WALs: the source is not flushed or otherwise touched, and dest needs
 *     no WAL at all (its manifest's log number is past every file);
 *   - a manifest describing exactly those tables, with last sequence S,
 *     and the named snapshots of the source at S (lsm_snapshot_create:
 *     same names, ids, sequence numbers; each reads in dest as in the
 *     source: the tables and the memtable table hold their versions);
 *   - CURRENT last (temp file, fsync, rename, fsync dir), so dest is a
 *     store only once everything else is durable.  On failure the files
 *     made so far are removed (and dest itself if it was made here); a dest
 *     left over by a crash has no CURRENT, which lsm_open refuses.
 * dest must not exist, or be an empty directory.  Memory: a copy of the
 * unflushed entries (at most the memtables' size).  Works on a read-only
 * open too (the replayed WALs are in its memtable). */
typedef struct lsm_checkpoint lsm_checkpoint;
typedef struct lsm_checkpoint_result {
    uint64_t seq;                /* S */
    uint64_t tables;             /* tables in dest, the memtable one included */
    uint64_t linked;             /* of which hard-linked */
    uint64_t bytes;              /* bytes of all tables in dest */
    uint64_t copied_bytes;       /* bytes written (copied or built) */
} lsm_checkpoint_result;
/* done/total in bytes (total may grow by the memtable table's size). */
typedef void (*lsm_progress_fn)(void *ctx, uint64_t done, uint64_t total);
int lsm_checkpoint_begin(lsm_db *db, lsm_checkpoint **out);
uint64_t lsm_checkpoint_seq(const lsm_checkpoint *cp);
/* Bytes of the pinned tables (what a copy writes, bar the memtables). */
uint64_t lsm_checkpoint_bytes(const lsm_checkpoint *cp);
int lsm_checkpoint_write(lsm_checkpoint *cp, const char *dest,
                         lsm_progress_fn fn, void *ctx,
                         lsm_checkpoint_result *res);
/* Releases the pins (cp is freed). */
void lsm_checkpoint_end(lsm_checkpoint *cp);

/* --- statistics as numbers (lsm_property renders the same as text) ------- */
#define LSM_STATS_LEVELS 7
typedef struct lsm_stats {
    uint64_t level_files[LSM_STATS_LEVELS], level_bytes[LSM_STATS_LEVELS];
    uint64_t memtables;          /* the active one plus those being flushed */
    uint64_t memtable_bytes;
    uint64_t pending_compaction_bytes;  /* bytes over each level's target
                                           (level 0: all of it once at its
                                           compaction trigger) */
    uint64_t user_bytes, wal_bytes, wal_syncs, flush_bytes;
    uint64_t compaction_bytes_read, compaction_bytes_written;
    double write_amp;            /* (flush + compaction writes) / user bytes */
    uint64_t flushes, compactions, trivial_moves, stall_micros;
    uint64_t subcompactions;     /* ranges merged in parallel (compactions cut
                                    in n count n) */
    uint64_t stalled_writes;     /* writes that waited for room, each wait */
    uint64_t slowdown_micros;    /* writes paced (level 0 at slowdown) */
    uint64_t slowed_writes;      /* writes paced, each pause */
    uint64_t delayed_write_rate; /* bytes/s writes are paced to now; 0: none */
    uint64_t group_commits, grouped_writes;  /* WAL writes, batches in them */
    uint64_t cache_hits, cache_misses, cache_bytes, blocks_read;
    /* Misses of reads that fill the cache whose block was read and
     * dropped, not cached: the first read of a block in a while (the
     * cache admits a block at its second read). */
    uint64_t cache_not_admitted;
    uint64_t bloom_checks, bloom_useful;   /* useful: a table skipped */
    uint64_t last_seq, damaged_tables, disk_bytes;
    uint64_t tables_dropped, bytes_dropped;  /* whole, under range deletions */
    uint64_t idle_compactions, idle_yields;
    uint64_t heap_trims;         /* free heap memory given back to the
                                    kernel after a compaction (glibc) */
    uint64_t snapshots;          /* named ones (lsm_snapshot_space: their bytes) */
    uint64_t table_meta_bytes;   /* index and filter blocks in memory: in the
                                    block cache (or pinned by a reader) with
                                    table_meta_in_cache, else those of the
                                    open tables (max_open_files tables') */
    /* Where the write amplification comes from, per level L written into
     * (RocksDB's "Compaction Stats" Write, Rn, Rnp1 and Moved): table
     * bytes written into L (level 0: by flushes, flush_bytes, and by
     * merges of level 0 into itself; others: by compactions, outputs of
     * failed or abandoned ones included), bytes of the input tables
     * compactions into L took from above it and from L itself (completed
     * ones; a merge of level 0 into itself reads "from above"), and bytes
     * of the tables moved into L whole.  written[L] / read_upper[L] (level
     * 0: less flush_bytes) is what each byte compacted into L cost. */
    uint64_t level_io_written[LSM_STATS_LEVELS];
    uint64_t level_io_read_upper[LSM_STATS_LEVELS];
    uint64_t level_io_read_lower[LSM_STATS_LEVELS];
    uint64_t level_io_moved[LSM_STATS_LEVELS];
    uint64_t wal_recycled;       /* WALs written over a flushed one's file */
} lsm_stats;
void lsm_get_stats(lsm_db *db, lsm_stats *out);

/* --- inspecting a table file (read-only, any table, open store or not) ---- */
typedef struct lsm_table_report {
    uint64_t file_bytes, data_blocks, entries, range_dels;
    uint64_t filter_bytes, index_bytes;     /* in the file */
    uint64_t entries_read, blocks_bad;      /* by the full read */
    uint64_t min_seq, max_seq;              /* of the entries read */
    /* Smallest and largest user keys read, cut to 128 bytes (*_len is the
     * full length). */
    unsigned char smallest[128], largest[128];
    size_t smallest_len, largest_len;
    /* Memory the index takes while the table is open (decoded, with its
     * search hints); with the filter, what lsm_stats.table_meta_bytes
     * counts for an open table. */
    uint64_t index_mem_bytes;
} lsm_table_report;
/* Opens the table at path (footer, index, filter, range deletions and
 * properties verified), reads every data block (each checksum verified)
 * and fills rep.  fn hears of each unreadable block (its message names
 * the offset and the check); entry (may be NULL) sees every entry read
 * (kind: 1 put, 0 delete).  LSM_OK even if blocks were bad (rep says);
 * LSM_CORRUPTION if the table cannot be opened at all (message says why),
 * other errors for I/O. */
int lsm_inspect_table(const char *path,
                      void (*fn)(void *ctx, const char *why),
                      void (*entry)(void *ctx, const void *key, size_t klen,
                                    uint64_t seq, int kind, size_t vlen),
                      void *ctx, lsm_table_report *rep);

const char *lsm_last_error(void);
const char *lsm_status_name(int status);
/* Maps an lsm_status onto a negative errno (for filesystems). */
int lsm_status_errno(int status);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
