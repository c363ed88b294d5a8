/*
 * internal.h — state shared by the fs/ sources.
 *
 * Locking (always acquired in this order, released in any order):
 *   1. fs->ns_lock (rwlock): exclusive for operations that add, remove or
 *      move directory entries; shared for lookup and readdir.  It also
 *      guards every directory's parent pointer.
 *   2. inode locks (struct inode.lock, rwlock), several at once only in
 *      ascending inode number order: exclusive to change an inode's
 *      record, data or xattrs; shared to read them.
 *   3. icache shard mutexes and fs->sb_lock: leaf locks, held briefly.
 * Data operations take one inode lock (copy_file_range: two, ascending)
 * and never the namespace lock, so they cannot deadlock with it.
 *
 * Cache coherence: every change to an inode's record goes through its
 * cache entry while its lock is held exclusively: the new record is
 * written to the engine first and copied into the entry only when the
 * write succeeded.  So a loaded entry is always the stored record.
 */
#ifndef FS_INTERNAL_H
#define FS_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fs.h"
#include "layout.h"

struct inode {
    uint64_t ino;
    struct inode *hnext;              /* shard hash chain */
    struct inode *lprev, *lnext;      /* shard LRU (unreferenced entries) */
    /* Guarded by the shard mutex. */
    uint32_t pins;                    /* threads holding a pointer */
    uint32_t nopen;                   /* open handles (also changed only
                                         with `lock` held exclusively) */
    uint64_t nlookup;                 /* kernel lookup references */
    /* Guarded by `lock`. */
    pthread_rwlock_t lock;
    int loaded;                       /* rec holds the stored record */
    int gone;                         /* records deleted; attrs kept for getattr */
    int linkable;                     /* an O_TMPFILE (without O_EXCL) not
                                         linked yet: fs_link may give it
                                         its first name */
    fs_inode rec;
    int data_loaded;                  /* inline data cached in data/dlen
                                         (regular files and symlinks) */
    char *data;
    size_t dlen;
    /* 1: fsync'd (a directory: fsyncdir'd) since it entered the cache, or
     * created in a directory that was: its writes of at most
     * FS_SYNCED_WRITE_MAX bytes stay out of blob files (file.c).  A hint,
     * lost when the entry is evicted; any thread sets it. */
    atomic_int synced;
};

#define ICACHE_SHARDS 64

/* lookup_counts.c: inode number -> kernel lookup count, for inodes the
 * cache has evicted while the kernel still references them. */
struct lookup_count {
    uint64_t ino;
    uint64_t count;                   /* 0: empty slot */
};
struct lookup_counts {
    struct lookup_count *slots;
    size_t cap, used;                 /* cap: 0 or a power of 2 */
};
/* Adds n to ino's count (inserting it); 0 or -ENOMEM. */
int lookup_counts_add(struct lookup_counts *t, uint64_t ino, uint64_t n);
/* Removes ino and returns its count (0 if absent). */
uint64_t lookup_counts_take(struct lookup_counts *t, uint64_t ino);
void lookup_counts_free(struct lookup_counts *t);

struct icache_shard {
    pthread_mutex_t mu;
    struct inode **buckets;
    size_t nbuckets, count;
    struct inode lru;                 /* sentinel; head = least recent */
    size_t lru_count;
    struct lookup_counts evicted;     /* counts of evicted referenced inodes */
};

struct fs {
    lsm_db *db;
    char *dir;
    void (*log)(void *ctx, int level, const char *line);
    void *log_ctx;
    int wflags;                       /* LSM_SYNC in sync mode */
    uint32_t block_bytes;
    unsigned block_shift;
    size_t inline_max;
    size_t lru_per_shard;             /* unused cache entries kept per shard */

    pthread_rwlock_t ns_lock;

    pthread_mutex_t sb_lock;
    fs_super sb;                      /* sb.next_ino: reserved limit */
    uint64_t next_ino;                /* next number handed out */
    atomic_int_fast64_t inode_count;
    atomic_int_fast64_t inline_cached;   /* bytes of inline data in the cache */
    atomic_int read_only;             /* fs_set_read_only; changes: -EROFS */
    /* Every read goes through ro: snapshot NULL (the latest state), or a
     * snapshot view's (fs_view_open: view = 1, read_only for good). */
    lsm_read_options ro;
    int view;

    struct icache_shard shards[ICACHE_SHARDS];
};

/* chattr flags (FS_INODE_IMMUTABLE, FS_INODE_APPEND), as ext4 applies
 * them.  deny_change: an immutable inode's data, attributes, xattrs and
 * (directories) entries do not change.  deny_remove: neither does an
 * append-only one's name (unlink, rename, link) nor an append-only
 * directory's existing entries (new ones may be added). */
static inline int deny_change(const fs_inode *rec)
{
    return (rec->flags & FS_INODE_IMMUTABLE) ? -EPERM : 0;
}

static inline int deny_remove(const fs_inode *rec)
{
    return (rec->flags & (FS_INODE_IMMUTABLE | FS_INODE_APPEND)) ? -EPERM : 0;
}

/* fs.c: frees what fs_open allocated besides the engine (views too). */
void fs_free(fs_t *fs);

/* --- icache.c --------------------------------------------------------- */
int icache_init(fs_t *fs);
void icache_destroy(fs_t *fs);
/* Finds or adds the entry for ino and pins it; NULL when out of memory. */
struct inode *icache_pin(fs_t *fs, uint64_t ino);
void icache_unpin(fs_t *fs, struct inode *ip);
/* Adds dlookup/dopen (may be negative) to the counts; returns nopen. */
uint32_t icache_ref(fs_t *fs, struct inode *ip, int64_t dlookup, int dopen);

#define IG_EXCL 1                     /* lock exclusively */
#define IG_GONE 2                     /* succeed on a gone inode */
/* Pins, locks and loads inode `ino`: 0, -ENOENT, -EIO, -ENOMEM. */
int inode_get(fs_t *fs, uint64_t ino, int how, struct inode **out);
void inode_put(fs_t *fs, struct inode *ip);
/* Locks up to 4 distinct-or-repeated inodes exclusively in ascending
 * order; out[i] matches inos[i] (repeats share the entry).  Gone inodes
 * fail with -ENOENT. */
int inode_get_many(fs_t *fs, const uint64_t *inos, int n, struct inode **out);
void inode_put_many(fs_t *fs, struct inode **ips, int n);
/* Loads the inline data of a loaded inline inode (lock held exclusively). */
int inode_load_data(fs_t *fs, struct inode *ip);
/* inode_get(IG_EXCL) then inode_load_data: ino locked exclusively with
 * its inline data loaded, for a caller that rewrites its record. */
int inode_get_for_update(fs_t *fs, uint64_t ino, struct inode **out);
/* Replaces ip->data with `data` (ownership taken), marking it loaded. */
void inode_set_data(fs_t *fs, struct inode *ip, char *data, size_t dlen);
void inode_drop_data(fs_t *fs, struct inode *ip);
/* Inline data cached beyond this is dropped when an inode is not open. */
#define INLINE_CACHE_BYTES ((int_fast64_t)16 << 20)

/* --- fs.c -------------------------------------------------------------- */
void fs_log(fs_t *fs, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps an engine status to -errno, logging the engine's message. */
int fs_engine_error(fs_t *fs, int status, const char *what);
int fs_commit(fs_t *fs, lsm_batch *b);
/* Same, with extra engine write flags: LSM_RECLAIM for a change that
 * frees space (unlink, rmdir, truncating down, punching a hole), which
 * then works on a full disk too. */
int fs_commit_flags(fs_t *fs, lsm_batch *b, int flags);
int fs_alloc_ino(fs_t *fs, uint64_t *ino);
struct timespec fs_now(void);
/* Adds a put of ip's record with `rec` (and inline data) to b. */
int batch_put_inode(lsm_batch *b, uint64_t ino, const fs_inode *rec,
                    const char *data, size_t dlen);
/* Adds the removal of every record of ino: inode, data blocks (one range
 * deletion, made for every inode: see fs.c), xattrs (one more if rec says
 * it has any; rec NULL: unknown),
 * and the orphan key if `orphan`. */
int batch_delete_inode(lsm_batch *b, uint64_t ino, const fs_inode *rec,
                       int orphan);
/* Adds the removal of blocks [first, end) of ino, a file of `size` bytes
 * (end is clipped to its last block; UINT64_MAX: all).  All of them
 * (first 0, end UINT64_MAX) is one range deletion of ino's block prefix.
 * Otherwise up to FEW_BLOCKS blocks are removed by point deletes, more
 * by one range delete: each range tombstone costs later reads of its
 * range until compaction drops it, so a shrink by a few blocks (a file
 * truncated again and again) does without. */
#define FEW_BLOCKS 16
int batch_delete_blocks(fs_t *fs, lsm_batch *b, uint64_t ino, uint64_t first,
                        uint64_t end, uint64_t size);
void fs_fill_stat(const fs_t *fs, uint64_t ino, const fs_inode *rec,
                  struct stat *st);
/* Reads one key; *val malloc'ed (lsm_free).  -ENOENT when absent. */
int fs_get(fs_t *fs, const char *key, size_t klen, void **val, size_t *vlen);

/* --- file.c ------------------------------------------------------------ */
/* New inline data produced by a change, installed after its commit:
 * set = 1 means the cache entry's data becomes (data, len), or is dropped
 * when the committed record is no longer inline. */
struct data_change {
    int set;
    char *data;
    size_t len;
};
/* Installs a committed change (or frees it when the commit failed). */
void data_change_finish(fs_t *fs, struct inode *ip, struct data_change *dc,
                        int committed);
/* Puts *rec (with the inline data the change leaves) into b, commits b,
 * and on success installs the record and data in the cache entry. */
int inode_commit(fs_t *fs, struct inode *ip, fs_inode *rec, lsm_batch *b,
                 struct data_change *dc);
/* Same, with extra engine write flags (fs_commit_flags). */
int inode_commit_flags(fs_t *fs, struct inode *ip, fs_inode *rec, lsm_batch *b,
                       struct data_change *dc, int flags);
/* Sets the size of regular file ip (lock held exclusively, inline data
 * loaded): adds the data changes to b and the new size/flags/alloc to
 * *rec (the caller sets times, writes *rec and commits). */
int file_truncate(fs_t *fs, struct inode *ip, fs_inode *rec, uint64_t size,
                  lsm_batch *b, struct data_change *dc);

#endif
