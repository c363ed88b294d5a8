/*
 * fs.c — opening and closing a store, the superblock, inode number
 * allocation, orphan reclamation, statfs and durability barriers.
 *
 * Inode numbers: fs->next_ino is handed out in memory; the superblock's
 * next_ino is a reservation limit persisted INO_RESERVE numbers ahead
 * whenever allocation reaches it.  The reservation write goes to the WAL
 * before any create that uses a number from the new range, and the WAL
 * recovers a prefix of the writes, so after a crash every number that
 * any surviving record uses is below the stored limit: numbers are never
 * reused (at most INO_RESERVE are skipped per crash).
 *
 * Inode count (statfs f_files): kept in memory, stored in the superblock
 * with the CLEAN flag at close; an open clears CLEAN, and an open that
 * finds it cleared (a crash) counts the inode records instead.
 *
 * Orphans: an inode whose link count drops to 0 while open handles
 * remain keeps its records and gets an 'O' key in the same batch.  The
 * last release removes everything in one batch.  fs_open removes the
 * orphans a crash left behind; fs_close those still open.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define INO_RESERVE 4096

static _Thread_local char open_error[512];

const char *fs_last_error(void)
{
    return open_error[0] ? open_error : "no error";
}

static int fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(open_error, sizeof open_error, fmt, ap);
    va_end(ap);
    return err;
}

void fs_options_init(fs_options *o)
{
    memset(o, 0, sizeof *o);
    lsm_options_init(&o->lsm);
    /* A daemon's memory: up to three memtables (one filling, two being
     * flushed), the block cache, cached inline data (16 MiB) and inode
     * records (cache_inodes): ~200 MiB at most with these defaults. */
    o->lsm.memtable_bytes = 32u << 20;
    o->inline_max = 4096;
    o->block_bytes = 64u << 10;
    o->cache_inodes = 65536;
}

void fs_log(fs_t *fs, int level, const char *fmt, ...)
{
    if (fs->log == NULL)
        return;
    char line[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fs->log(fs->log_ctx, level, line);
}

/* The engine's lines (recovery, dropped WAL tails, obsolete files, a
 * store turned read-only by a failure) go to the filesystem's log at the
 * engine's level (lsm_log_level numbers are syslog's). */
static void engine_log(void *ctx, int level, const char *line)
{
    fs_log(ctx, level, "engine: %s", line);
}

int fs_engine_error(fs_t *fs, int status, const char *what)
{
    fs_log(fs, LOG_ERR, "%s: %s", what, lsm_last_error());
    if (status == LSM_NOT_FOUND)
        return -EIO;             /* a record that must exist is missing */
    return lsm_status_errno(status);
}

int fs_commit_flags(fs_t *fs, lsm_batch *b, int flags)
{
    if (atomic_load(&fs->read_only))
        return -EROFS;
    int rc = lsm_write(fs->db, b, fs->wflags | flags);
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "write");
}

int fs_commit(fs_t *fs, lsm_batch *b)
{
    return fs_commit_flags(fs, b, 0);
}

int fs_get(fs_t *fs, const char *key, size_t klen, void **val, size_t *vlen)
{
    int rc = lsm_get(fs->db, &fs->ro, key, klen, val, vlen);
    if (rc == LSM_NOT_FOUND)
        return -ENOENT;
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "read");
}

struct timespec fs_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

int batch_put_inode(lsm_batch *b, uint64_t ino, const fs_inode *rec,
                    const char *data, size_t dlen)
{
    char key[FS_KEY_MAX];
    size_t klen = fs_key_inode(key, ino);
    char small[FS_INODE_HEADER + FS_INODE_RESV_BYTES + 4096 + 512];
    size_t n = fs_inode_bytes(rec, dlen);
    char *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL)
        return -ENOMEM;
    fs_encode_inode(buf, rec, data, dlen);
    int rc = lsm_batch_put(b, key, klen, buf, n);
    if (buf != small)
        free(buf);
    return rc == LSM_OK ? 0 : -ENOMEM;
}

/* [kind ino] .. the first key past every key with that prefix. */
static int batch_delete_prefix(lsm_batch *b, char kind, uint64_t ino)
{
    char lo[16], hi[16];
    size_t ll = fs_key_ino_prefix(lo, kind, ino);
    size_t hl = fs_key_ino_end(hi, kind, ino);
    return lsm_batch_delete_range(b, lo, ll, hi, hl) == LSM_OK ? 0 : -ENOMEM;
}

int batch_delete_blocks(fs_t *fs, lsm_batch *b, uint64_t ino, uint64_t first,
                        uint64_t end, uint64_t size)
{
    if (first == 0 && end == UINT64_MAX)
        return batch_delete_prefix(b, FS_KEY_BLOCK, ino);
    uint64_t slots = size / fs->block_bytes + (size % fs->block_bytes != 0);
    if (end > slots)
        end = slots;
    if (first >= end)
        return 0;
    char key[FS_KEY_MAX];
    if (end - first <= FEW_BLOCKS) {   /* each block and its patch */
        for (uint64_t n = first; n < end; n++)
            if (lsm_batch_delete(b, key, fs_key_block(key, ino, n)) != LSM_OK ||
                lsm_batch_delete(b, key, fs_key_patch(key, ino, n)) != LSM_OK)
                return -ENOMEM;
        return 0;
    }
    /* To the end of the file: up to the next inode's prefix, so no block
     * past the size can survive either. */
    char hi[FS_KEY_MAX];
    size_t ll = fs_key_block(key, ino, first);
    size_t hl = end == slots ? fs_key_ino_end(hi, FS_KEY_BLOCK, ino)
                             : fs_key_block(hi, ino, end);
    return lsm_batch_delete_range(b, key, ll, hi, hl) == LSM_OK ? 0 : -ENOMEM;
}

int batch_delete_inode(lsm_batch *b, uint64_t ino, const fs_inode *rec,
                       int orphan)
{
    char key[16];
    if (lsm_batch_delete(b, key, fs_key_inode(key, ino)) != LSM_OK)
        return -ENOMEM;
    if (orphan && lsm_batch_delete(b, key, fs_key_orphan(key, ino)) != LSM_OK)
        return -ENOMEM;
    /* One range deletion of the block prefix, for every inode, block-based
     * or not (only block-based files have blocks): the deletions of a
     * removed tree then cover its consecutive inode numbers without gaps,
     * and the engine drops a table of their blocks whole, unread (its key
     * range lies in the union of adjacent deletions).  Measured: removing
     * a 300 MiB tree of mixed files dropped 3 tables (201 MB) by manifest
     * edits; with ranges for block-based files only, no table was covered
     * and all were read and rewritten by idle compactions.  Cost: one range
     * tombstone per removed inode (rm -rf of 50000 empty files took as
     * long either way) until compaction reaches the last level. */
    int rc = batch_delete_prefix(b, FS_KEY_BLOCK, ino);
    if (rc == 0 && (rec == NULL || rec->xattrs > 0))
        rc = batch_delete_prefix(b, FS_KEY_XATTR, ino);
    return rc;
}

void fs_fill_stat(const fs_t *fs, uint64_t ino, const fs_inode *rec,
                  struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = (ino_t)ino;
    st->st_mode = (mode_t)rec->mode;
    st->st_nlink = (nlink_t)rec->nlink;
    st->st_uid = (uid_t)rec->uid;
    st->st_gid = (gid_t)rec->gid;
    st->st_rdev = (dev_t)rec->rdev;
    st->st_size = (off_t)rec->size;
    st->st_blksize = (blksize_t)fs->block_bytes;
    uint64_t bytes = 0;
    if (S_ISREG(rec->mode))
        bytes = ((rec->flags & FS_INODE_INLINE) ? rec->size : rec->alloc) +
                rec->resv;
    st->st_blocks = (blkcnt_t)((bytes + 511) / 512);
    st->st_atim = rec->atime;
    st->st_mtim = rec->mtime;
    st->st_ctim = rec->ctime;
}

/* --- superblock ---------------------------------------------------------- */

/* Writes fs->sb (sb_lock held). */
static int put_super(fs_t *fs, int flags)
{
    char key[4], val[FS_SUPER_BYTES];
    size_t klen = fs_key_super(key);
    fs_encode_super(val, &fs->sb);
    int rc = lsm_put(fs->db, key, klen, val, sizeof val, flags);
    return rc == LSM_OK ? 0 : fs_engine_error(fs, rc, "superblock write");
}

int fs_alloc_ino(fs_t *fs, uint64_t *ino)
{
    if (atomic_load(&fs->read_only))
        return -EROFS;
    pthread_mutex_lock(&fs->sb_lock);
    if (fs->next_ino >= FS_INO_LIMIT) {
        pthread_mutex_unlock(&fs->sb_lock);
        return -ENOSPC;
    }
    if (fs->next_ino >= fs->sb.next_ino) {
        uint64_t old = fs->sb.next_ino;
        fs->sb.next_ino = fs->next_ino + INO_RESERVE;
        fs->sb.inode_count = (uint64_t)atomic_load(&fs->inode_count);
        int rc = put_super(fs, fs->wflags);
        if (rc < 0) {
            fs->sb.next_ino = old;
            pthread_mutex_unlock(&fs->sb_lock);
            return rc;
        }
    }
    *ino = fs->next_ino++;
    pthread_mutex_unlock(&fs->sb_lock);
    return 0;
}

int fs_sync(fs_t *fs)
{
    /* One fsync of the WAL, which holds every earlier write: shared with
     * concurrent callers (the engine's group commit) and skipped when
     * nothing was written since the last one.  Nothing else is synced:
     * tables and the manifest are made durable by the engine before the
     * WAL records they replace are dropped.  A snapshot view writes
     * nothing.  A read-only mount asks the engine too: read_only is set
     * before the switch's own sync (fs_set_read_only), and the engine's
     * check costs nothing when everything is synced. */
    if (fs->view)
        return 0;
    int st = lsm_sync(fs->db);
    return st == LSM_OK ? 0 : fs_engine_error(fs, st, "sync");
}

int fs_synced(fs_t *fs)
{
    return fs_sync_pending(fs) == 0;
}

uint64_t fs_sync_pending(fs_t *fs)
{
    return fs->view ? 0 : lsm_sync_pending(fs->db);
}

int fs_fsync_nothing(fs_t *fs, uint64_t ino)
{
    struct inode *ip = icache_pin(fs, ino);     /* never loads it */
    if (ip == NULL)
        return 0;               /* only the hint is lost */
    atomic_store(&ip->synced, 1);
    icache_unpin(fs, ip);
    return 0;
}

/* The superblock as a close leaves it (sb_lock held): clean, with the
 * exact inode count. */
static void mark_clean(fs_t *fs)
{
    fs->sb.flags |= FS_SUPER_CLEAN;
    fs->sb.inode_count = (uint64_t)atomic_load(&fs->inode_count);
    fs->sb.resv_bytes = lsm_held_bytes(fs->db);
    if (fs->next_ino > fs->sb.next_ino)
        fs->sb.next_ino = fs->next_ino;
}

int fs_is_read_only(fs_t *fs)
{
    return atomic_load(&fs->read_only);
}

lsm_db *fs_engine(fs_t *fs)
{
    return fs->db;
}

int fs_set_read_only(fs_t *fs, int ro)
{
    pthread_mutex_lock(&fs->sb_lock);
    int rc = 0;
    if (ro && !atomic_load(&fs->read_only)) {
        atomic_store(&fs->read_only, 1);
        mark_clean(fs);
        rc = put_super(fs, LSM_SYNC | LSM_RECLAIM);
        int st = rc == 0 ? lsm_flush(fs->db) : LSM_OK;
        if (st != LSM_OK)
            rc = fs_engine_error(fs, st, "flush");
        if (rc < 0) {
            fs->sb.flags &= ~FS_SUPER_CLEAN;
            atomic_store(&fs->read_only, 0);
        } else {
            lsm_hold_compactions(fs->db, 1);   /* the files stay as they are */
        }
    } else if (!ro && atomic_load(&fs->read_only)) {
        lsm_hold_compactions(fs->db, 0);
        fs->sb.flags &= ~FS_SUPER_CLEAN;
        rc = put_super(fs, LSM_SYNC | LSM_RECLAIM);
        if (rc == 0) {
            atomic_store(&fs->read_only, 0);
        } else {
            fs->sb.flags |= FS_SUPER_CLEAN;
            lsm_hold_compactions(fs->db, 1);
        }
    }
    pthread_mutex_unlock(&fs->sb_lock);
    return rc;
}

void fs_hold_compactions(fs_t *fs, int hold)
{
    lsm_hold_compactions(fs->db, hold);
}

int fs_fsync(fs_t *fs, uint64_t ino, int datasync)
{
    /* Data and metadata share the WAL, so fdatasync and fsync are both
     * one WAL sync at most: there is no separate metadata to skip.  The
     * file's later small writes stay in the WAL (ip->synced), so that
     * its next fsyncs need no blob file fsync. */
    (void)datasync;
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_GONE, &ip);
    if (rc < 0)
        return rc;
    atomic_store(&ip->synced, 1);
    inode_put(fs, ip);
    return fs->wflags & LSM_SYNC ? 0 : fs_sync(fs);
}

int fs_fsyncdir(fs_t *fs, uint64_t ino)
{
    return fs_fsync(fs, ino, 0);
}

int fs_statfs(fs_t *fs, struct statvfs *st)
{
    uint64_t avail;
    int rc = lsm_free_space(fs->db, &avail);
    if (rc != LSM_OK)
        return fs_engine_error(fs, rc, "free space");
    const uint64_t frsize = 4096;
    /* The engine's space reserve is ours, not free: counted as used; so
     * are the bytes fallocate reserved (held in the engine). */
    uint64_t held = lsm_held_bytes(fs->db);
    uint64_t ours = lsm_disk_bytes(fs->db) + lsm_reserve_bytes(fs->db) + held;
    uint64_t used = (ours + frsize - 1) / frsize;
    avail = avail > held ? avail - held : 0;
    uint64_t free_ = avail / frsize;
    int64_t files = atomic_load(&fs->inode_count);
    memset(st, 0, sizeof *st);
    st->f_bsize = fs->block_bytes;
    st->f_frsize = frsize;
    st->f_blocks = (fsblkcnt_t)(used + free_);
    st->f_bfree = (fsblkcnt_t)free_;
    st->f_bavail = (fsblkcnt_t)free_;
    /* Inodes are records, not preallocated: estimate the free count at
     * one per 256 bytes of free space. */
    st->f_ffree = (fsfilcnt_t)(avail / 256);
    st->f_favail = st->f_ffree;
    st->f_files = (fsfilcnt_t)(files > 0 ? (uint64_t)files : 0) + st->f_ffree;
    st->f_namemax = FS_NAME_MAX;
    return 0;
}

/* --- orphans and references --------------------------------------------- */

/* Removes every record of an orphan found in the store (open or close:
 * no references remain). */
static int reclaim_orphan(fs_t *fs, uint64_t ino)
{
    char key[16];
    void *val;
    size_t vlen;
    int existed = fs_get(fs, key, fs_key_inode(key, ino), &val, &vlen);
    if (existed != 0 && existed != -ENOENT)
        return existed;
    fs_inode rec;
    const char *data;
    size_t dlen;
    int known = existed == 0 && fs_decode_inode(val, vlen, &rec, &data, &dlen) == 0;
    if (existed == 0)
        lsm_free(val);
    lsm_batch *b = lsm_batch_new();
    if (b == NULL)
        return -ENOMEM;
    int rc = batch_delete_inode(b, ino, known ? &rec : NULL, 1);
    if (rc == 0)
        rc = fs_commit_flags(fs, b, LSM_RECLAIM);
    lsm_batch_free(b);
    if (rc == 0 && existed == 0)
        atomic_fetch_sub(&fs->inode_count, 1);
    if (rc == 0 && known)
        lsm_release_space(fs->db, rec.resv);
    return rc;
}

static int reclaim_orphans(fs_t *fs, int *count)
{
    char lo[16], hi[4];
    size_t ll = fs_key_ino_prefix(lo, FS_KEY_ORPHAN, 0);
    hi[0] = FS_KEY_ORPHAN + 1;
    *count = 0;
    /* Collect first: removing keys while iterating is fine for a snapshot
     * iterator, but batching the removals keeps the iteration simple. */
    for (;;) {
        uint64_t inos[256];
        int n = 0;
        lsm_iter *it = lsm_iter_new(fs->db, NULL);
        if (it == NULL)
            return -ENOMEM;
        for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it) && n < 256;
             lsm_iter_next(it)) {
            size_t klen;
            const void *k = lsm_iter_key(it, &klen);
            if (klen >= 1 && memcmp(k, hi, 1) >= 0)
                break;
            uint64_t ino;
            if (fs_decode_orphan_key(k, klen, &ino) != 0) {
                fs_log(fs, LOG_WARNING, "skipping a malformed orphan key (%zu bytes)",
                       klen);
                continue;
            }
            inos[n++] = ino;
        }
        int st = lsm_iter_status(it);
        lsm_iter_free(it);
        if (st != LSM_OK)
            return fs_engine_error(fs, st, "orphan scan");
        for (int i = 0; i < n; i++) {
            int rc = reclaim_orphan(fs, inos[i]);
            if (rc < 0)
                return rc;
            fs_log(fs, LOG_INFO, "reclaimed orphan inode %llu",
                   (unsigned long long)inos[i]);
            (*count)++;
        }
        if (n < 256)
            return 0;
    }
}

/* Counts the inode records and sums their reservations (the superblock's
 * counts after a crash). */
static int count_inodes(fs_t *fs, int64_t *count, uint64_t *resv)
{
    char lo[4], hi[4];
    lo[0] = FS_KEY_INODE;
    hi[0] = FS_KEY_INODE + 1;
    lsm_iter *it = lsm_iter_new(fs->db, NULL);
    if (it == NULL)
        return -ENOMEM;
    int64_t n = 0;
    *resv = 0;
    for (lsm_iter_seek(it, lo, 1); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen, dlen;
        const void *k = lsm_iter_key(it, &klen);
        if (memcmp(k, hi, 1) >= 0)
            break;
        n++;
        const void *v = lsm_iter_value(it, &vlen);
        fs_inode rec;
        const char *data;
        if (fs_decode_inode(v, vlen, &rec, &data, &dlen) == 0)
            *resv += rec.resv;
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (st != LSM_OK)
        return fs_engine_error(fs, st, "inode count");
    *count = n;
    return 0;
}

void fs_forget(fs_t *fs, uint64_t ino, uint64_t nlookup)
{
    struct inode *ip = icache_pin(fs, ino);
    if (ip == NULL)
        return;
    icache_ref(fs, ip, -(int64_t)(nlookup > INT64_MAX ? INT64_MAX : nlookup), 0);
    icache_unpin(fs, ip);
}

/* --- open / close ---------------------------------------------------------- */

/* What `dir` holds (enum lsm_dir_state), judged without writing anything. */
static int inspect_dir(const fs_options *o, const char *dir, int *state)
{
    int st = lsm_dir_state(dir, &o->lsm, state);
    if (st != LSM_OK)
        return fail(lsm_status_errno(st) == -EINVAL ? -ENOTDIR : lsm_status_errno(st),
                    "%s", lsm_last_error());
    return 0;
}

static int validate_options(const fs_options *o)
{
    uint32_t bb = o->block_bytes;
    if (bb < 512 || bb > (16u << 20) || (bb & (bb - 1)) != 0)
        return fail(-EINVAL, "block size %u: must be a power of two from 512 "
                    "to 16 MiB", bb);
    if (o->inline_max > bb)
        return fail(-EINVAL, "inline threshold %zu exceeds the block size %u",
                    o->inline_max, bb);
    return 0;
}

/* Writes the superblock and root directory of a new store, one batch. */
static int format_store(fs_t *fs, const fs_options *o)
{
    fs->sb.version = FS_FORMAT_VERSION;
    fs->sb.block_bytes = o->block_bytes;
    fs->sb.inline_max = (uint32_t)o->inline_max;
    fs->sb.flags = FS_SUPER_CLEAN;   /* inode_count (the root) is exact */
    fs->sb.next_ino = FS_ROOT_INO + 1;
    fs->sb.inode_count = 1;
    fs_inode root;
    memset(&root, 0, sizeof root);
    root.mode = S_IFDIR | 0755;
    root.uid = (uint32_t)geteuid();
    root.gid = (uint32_t)getegid();
    root.nlink = 2;
    root.parent = FS_ROOT_INO;
    root.atime = root.mtime = root.ctime = fs_now();
    char key[4], val[FS_SUPER_BYTES];
    fs_encode_super(val, &fs->sb);
    lsm_batch *b = lsm_batch_new();
    if (b == NULL)
        return -ENOMEM;
    int rc = lsm_batch_put(b, key, fs_key_super(key), val, sizeof val) == LSM_OK
                 ? batch_put_inode(b, FS_ROOT_INO, &root, NULL, 0)
                 : -ENOMEM;
    if (rc == 0) {
        int st = lsm_write(fs->db, b, LSM_SYNC);
        if (st != LSM_OK)
            rc = fail(lsm_status_errno(st), "%s: formatting: %s", fs->dir,
                      lsm_last_error());
    }
    lsm_batch_free(b);
    return rc;
}

static int store_is_empty(fs_t *fs, int *empty)
{
    lsm_iter *it = lsm_iter_new(fs->db, NULL);
    if (it == NULL)
        return -ENOMEM;
    lsm_iter_first(it);
    *empty = !lsm_iter_valid(it);
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (st != LSM_OK)
        return fail(lsm_status_errno(st), "%s: %s", fs->dir, lsm_last_error());
    return 0;
}

/* Reads and checks the superblock, formatting a new store if allowed. */
static int load_super(fs_t *fs, const fs_options *o, int fresh)
{
    char key[4];
    size_t klen = fs_key_super(key);
    void *val;
    size_t vlen;
    int st = lsm_get(fs->db, NULL, key, klen, &val, &vlen);
    if (st == LSM_NOT_FOUND) {
        int empty = 0;
        int rc = store_is_empty(fs, &empty);
        if (rc < 0)
            return rc;
        if (!empty || !(o->create || fresh))
            return fail(-EINVAL, "%s is not an lsmfs store (an lsm store "
                        "without an lsmfs superblock)", fs->dir);
        return format_store(fs, o);
    }
    if (st != LSM_OK)
        return fail(lsm_status_errno(st), "%s: reading the superblock: %s",
                    fs->dir, lsm_last_error());
    fs_super sb;
    int d = fs_decode_super(val, vlen, &sb);
    lsm_free(val);
    if (d == -2)
        return fail(-EINVAL, "%s has lsmfs format version %u; this lsmfs "
                    "reads version %d", fs->dir, sb.version, FS_FORMAT_VERSION);
    if (d != 0)
        return fail(-EINVAL, "%s is not an lsmfs store (bad superblock)",
                    fs->dir);
    fs->sb = sb;
    fs->sb.version = FS_FORMAT_VERSION;   /* a version-1 store is upgraded */
    return 0;
}

/* Opens an existing store read-only (which writes nothing: no recovery
 * flush, no new WAL or manifest) and checks that it is an lsmfs store of
 * this format version, or an empty lsm store that may be formatted.  So
 * a store fs_open refuses is left exactly as it was; only a store that
 * passes is then opened read-write. */
static int probe_store(const char *dir, const fs_options *o)
{
    fs_t probe;
    memset(&probe, 0, sizeof probe);
    probe.dir = (char *)dir;
    lsm_options lo = o->lsm;
    lo.read_only = 1;
    lo.create_if_missing = 0;
    int st = lsm_open(dir, &lo, &probe.db);
    if (st != LSM_OK)
        return fail(lsm_status_errno(st), "%s", lsm_last_error());
    fs_options po = *o;
    po.create = 0;               /* an empty lsm store: refused unless o->create */
    int rc = load_super(&probe, &po, 0);
    if (rc == -EINVAL && o->create) {
        int empty = 0;
        if (store_is_empty(&probe, &empty) == 0 && empty) {
            open_error[0] = '\0';
            rc = 0;
        }
    }
    lsm_close(probe.db);
    return rc;
}

void fs_free(fs_t *fs)
{
    icache_destroy(fs);
    pthread_rwlock_destroy(&fs->ns_lock);
    pthread_mutex_destroy(&fs->sb_lock);
    free(fs->dir);
    free(fs);
}

int fs_open(const char *dir, const fs_options *o, fs_t **out)
{
    open_error[0] = '\0';
    if (dir == NULL || *dir == '\0' || o == NULL || out == NULL)
        return fail(-EINVAL, "no store directory given");
    int rc = validate_options(o);
    if (rc < 0)
        return rc;
    int state = LSM_DIR_MISSING;
    rc = inspect_dir(o, dir, &state);
    if (rc < 0)
        return rc;
    if (state == LSM_DIR_OTHER)
        return fail(-EINVAL, "%s is not an lsmfs store", dir);
    int fresh = state == LSM_DIR_MISSING || state == LSM_DIR_EMPTY;
    if (fresh && !o->create)
        return fail(-ENOENT, "%s: no lsmfs store there (%s)", dir,
                    state == LSM_DIR_MISSING ? "no such directory" : "empty directory");
    if (state == LSM_DIR_STORE && (rc = probe_store(dir, o)) < 0)
        return rc;

    fs_t *fs = calloc(1, sizeof *fs);
    if (fs == NULL || (fs->dir = strdup(dir)) == NULL || icache_init(fs) < 0) {
        if (fs)
            free(fs->dir);
        free(fs);
        return fail(-ENOMEM, "out of memory");
    }
    pthread_rwlock_init(&fs->ns_lock, NULL);
    pthread_mutex_init(&fs->sb_lock, NULL);
    fs->log = o->log;
    fs->log_ctx = o->log_ctx;
    fs->wflags = o->sync ? LSM_SYNC : 0;
    fs->lru_per_shard = o->cache_inodes / ICACHE_SHARDS;

    lsm_options lo = o->lsm;
    lo.create_if_missing = fresh;
    if (!lo.log && fs->log) {
        lo.log = engine_log;
        lo.log_ctx = fs;
    }
    int st = lsm_open(dir, &lo, &fs->db);
    if (st != LSM_OK) {
        rc = fail(lsm_status_errno(st), "%s", lsm_last_error());
        fs_free(fs);
        return rc;
    }
    rc = load_super(fs, o, fresh);
    int64_t count = (int64_t)fs->sb.inode_count;
    uint64_t resv = fs->sb.resv_bytes;
    if (rc == 0 && !(fs->sb.flags & FS_SUPER_CLEAN)) {
        fs_log(fs, LOG_INFO, "%s was not closed cleanly: counting inodes", dir);
        rc = count_inodes(fs, &count, &resv);
    }
    if (rc == 0)
        lsm_hold_space(fs->db, resv, 1);   /* promised before: kept */
    if (rc == 0) {
        fs->block_bytes = fs->sb.block_bytes;
        fs->block_shift = (unsigned)__builtin_ctz(fs->block_bytes);
        fs->inline_max = fs->sb.inline_max;
        atomic_store(&fs->inode_count, count);
        /* Mark the store in use and reserve the first range of numbers. */
        fs->next_ino = fs->sb.next_ino;
        fs->sb.next_ino += INO_RESERVE;
        fs->sb.flags &= ~FS_SUPER_CLEAN;
        rc = put_super(fs, LSM_SYNC | LSM_RECLAIM);   /* opens on a full disk */
        if (rc < 0)
            fail(rc, "%s: writing the superblock: %s", dir, lsm_last_error());
    }
    int reclaimed = 0;
    if (rc == 0 && (rc = reclaim_orphans(fs, &reclaimed)) < 0)
        fail(rc, "%s: reclaiming orphans: %s", dir, lsm_last_error());
    if (rc < 0) {
        lsm_close(fs->db);
        fs_free(fs);
        return rc;
    }
    if (reclaimed > 0)
        fs_log(fs, LOG_INFO, "%s: reclaimed %d orphan inode(s)", dir, reclaimed);
    *out = fs;
    return 0;
}

int fs_close(fs_t *fs)
{
    open_error[0] = '\0';
    if (fs == NULL)
        return 0;
    /* No references survive a close: files unlinked while open go now.
     * Read-only: the store was marked clean when the mode began and
     * nothing changed since (reclaiming would fail with -EROFS). */
    int ro = atomic_load(&fs->read_only);
    int reclaimed = 0;
    int rc = ro ? 0 : reclaim_orphans(fs, &reclaimed);
    if (rc < 0)
        fail(rc, "%s: reclaiming orphans: %s", fs->dir, lsm_last_error());
    if (rc == 0 && !ro) {
        pthread_mutex_lock(&fs->sb_lock);
        mark_clean(fs);
        rc = put_super(fs, LSM_SYNC | LSM_RECLAIM);   /* closes on a full disk */
        pthread_mutex_unlock(&fs->sb_lock);
        if (rc == -ENOSPC) {
            /* Not even the space reserve had room: the store is intact,
             * only not marked clean, so the next open counts inodes. */
            fs_log(fs, LOG_WARNING, "%s: disk full: closed without the clean "
                   "mark", fs->dir);
            rc = 0;
        }
        if (rc < 0)
            fail(rc, "%s: writing the superblock: %s", fs->dir, lsm_last_error());
    }
    int st = lsm_close(fs->db);
    if (st != LSM_OK && rc == 0)
        rc = fail(lsm_status_errno(st), "%s: %s", fs->dir, lsm_last_error());
    fs_free(fs);
    return rc;
}
