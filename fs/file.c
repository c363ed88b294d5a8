/*
 * file.c — file data: open/release, read, write, truncate, fallocate,
 * SEEK_DATA/SEEK_HOLE and copy_file_range.
 *
 * A regular file is either INLINE (its bytes are in the inode record; the
 * size is at most the inline threshold) or in blocks: key ('B', ino, n)
 * holds bytes [n * bs, n * bs + len) of the file, len <= bs.  Absent
 * blocks and the bytes past a block's stored length are holes and read
 * as zeros; a stored block never reaches past the file size (truncation
 * trims the last one), so growing a file never uncovers stale bytes.
 * A block that would be all zeros is deleted instead of stored.
 *
 * A file becomes block-based when a write or truncate takes it past the
 * threshold (its inline bytes become block 0 in the same batch) and
 * inline again when truncated to at most the threshold.
 *
 * rec.alloc counts the bytes held in blocks (st_blocks).  Keeping it
 * exact costs a read of each block a write replaces whole when that block
 * lies below the old size (its old length is unknown otherwise); appends
 * and partial writes need no extra read.  Truncating to the inline size
 * or below, and removal, delete every block with one range delete.
 *
 * Every operation is one batch: the blocks it changes plus the inode
 * record (size, times, alloc).  Reads take the inode lock shared.
 *
 * Patches: a write over part of a block of a fully stored file (alloc ==
 * size, so every block below the size is stored whole and its length is
 * known without reading it) does not read and rewrite the block: it puts
 * the written bytes as the block's patch (layout.c), merged with the
 * patch already there (one small read).  A patch is folded into its
 * block (read, apply, put the block, delete the patch) once it would
 * hold more than half a block or PATCH_MAX_EXTENTS extents, so a block
 * read costs at most two lookups and half a block more bytes however
 * many small writes came.  Every put of a block of a PATCHED file also
 * deletes its patch; deletions of blocks cover their patches (same key
 * prefix).  Measured (scripts/bench-fs large.randwrite, 16 KiB blocks):
 * 4 KiB random writes cost what 4 KiB blocks cost, while sequential
 * reads keep 16 KiB blocks.
 *
 * Appends: a write that extends the last block of a fully stored file
 * (a log appended to and fsync'd) goes into that block's patch too, and
 * the patch then reaches past the block's stored bytes: alloc counts a
 * block's bytes with its patch applied (max of the two ends), so that
 * alloc == size still says every block is stored whole.  The kernel's
 * writeback cache sends whole pages, so an append of 100 bytes arrives as
 * the page's bytes up to the new end: the part equal to what is stored
 * is dropped first (one read of the block, which an append paid before
 * too).  Such a patch folds past APPEND_PATCH_MAX bytes: a patch is
 * rewritten whole at each append (~T/2 bytes each), a fold writes the
 * block (B bytes) once per T/a appends of a bytes, so T near
 * sqrt(2 * a * B) costs least: 2 KiB for appends of ~100 bytes to
 * 16 KiB blocks.  An append that fills its block or adds more than
 * APPEND_PATCH_MAX rewrites the block as every append did before (one
 * read), so a patch stays past its appends only on a block they left
 * partly filled (the file's last, until a write past it).
 * Measured (4 processes appending 2000 lines of 100 bytes, an fsync after
 * each): the engine took 14.6 MB of writes where it took 66.5 MB, the
 * daemon dirtied 138-162 bytes of page cache per byte appended where it
 * dirtied 278-294 (the rest: a WAL page per fdatasync, and its zeros).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define FS_MAX_FILE ((uint64_t)INT64_MAX)
#define CFR_MAX (8u << 20)           /* bytes one copy_file_range call moves */
#define PATCH_MAX_EXTENTS 16
#define APPEND_PATCH_MAX(bs) ((bs) / 8)  /* an append's patch folds past it */

static int is_zero(const char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int is_inline(const fs_inode *rec)
{
    return (rec->flags & FS_INODE_INLINE) != 0;
}

void data_change_finish(fs_t *fs, struct inode *ip, struct data_change *dc,
                        int committed)
{
    if (!dc->set)
        return;
    if (!committed) {
        free(dc->data);
    } else if (is_inline(&ip->rec)) {
        inode_set_data(fs, ip, dc->data, dc->len);
    } else {
        free(dc->data);
        inode_drop_data(fs, ip);
    }
    dc->set = 0;
    dc->data = NULL;
}

/* Writes *rec (with the inline data the change leaves) into b, commits,
 * and on success installs the record and the data. */
int inode_commit(fs_t *fs, struct inode *ip, fs_inode *rec, lsm_batch *b,
                 struct data_change *dc)
{
    return inode_commit_flags(fs, ip, rec, b, dc, 0);
}

int inode_commit_flags(fs_t *fs, struct inode *ip, fs_inode *rec, lsm_batch *b,
                       struct data_change *dc, int flags)
{
    uint64_t resv_before = ip->rec.resv;
    const char *data = NULL;
    size_t dlen = 0;
    if (is_inline(rec)) {
        data = dc->set ? dc->data : ip->data;
        dlen = dc->set ? dc->len : ip->dlen;
    }
    int rc = batch_put_inode(b, ip->ino, rec, data, dlen);
    if (rc == 0)
        rc = fs_commit_flags(fs, b, flags);
    if (rc == 0)
        ip->rec = *rec;
    if (rc == 0 && rec->resv < resv_before)
        lsm_release_space(fs->db, resv_before - rec->resv);
    data_change_finish(fs, ip, dc, rc == 0);
    return rc;
}

/* --- reservations (fallocate) ------------------------------------------------
 * rec->resv counts bytes fallocate reserved that no write has filled,
 * somewhere in [resv_lo, resv_hi); the engine holds as many bytes of
 * free space (lsm_hold_space), taken by fallocate and given back by
 * inode_commit_flags as resv shrinks, or when the inode goes.  One range
 * per file: reservations of disjoint ranges merge into the range that
 * spans them, so a write into a hole between them may use up the
 * reservation meant for them (it stays counted either way). */

static uint64_t overlap(uint64_t lo1, uint64_t hi1, uint64_t lo2, uint64_t hi2)
{
    uint64_t lo = lo1 > lo2 ? lo1 : lo2, hi = hi1 < hi2 ? hi1 : hi2;
    return hi > lo ? hi - lo : 0;
}

static void resv_clear_if_empty(fs_inode *rec)
{
    if (rec->resv == 0)
        rec->resv_lo = rec->resv_hi = 0;
}

/* Takes up to n reserved bytes for bytes of [lo, hi) that a write filled
 * (or a punch freed); returns how many. */
static uint64_t resv_take(fs_inode *rec, uint64_t lo, uint64_t hi, uint64_t n)
{
    uint64_t o = overlap(lo, hi, rec->resv_lo, rec->resv_hi);
    if (n > o)
        n = o;
    if (n > rec->resv)
        n = rec->resv;
    rec->resv -= n;
    resv_clear_if_empty(rec);
    return n;
}

static int stored_in_range(fs_t *fs, struct inode *ip, uint64_t off,
                           uint64_t end, uint64_t *out);

/* A file cut to `size` bytes keeps no reservation at or past it, nor
 * more than the bytes of [resv_lo, size) that are not stored (a scan of
 * the blocks there). */
static int resv_cut(fs_t *fs, struct inode *ip, fs_inode *rec, uint64_t size)
{
    if (rec->resv == 0 || size >= rec->resv_hi)
        return 0;
    uint64_t stored = 0;
    if (size > rec->resv_lo) {
        int rc = stored_in_range(fs, ip, rec->resv_lo, size, &stored);
        if (rc < 0)
            return rc;
    }
    uint64_t room = size > rec->resv_lo ? size - rec->resv_lo - stored : 0;
    if (rec->resv > room)
        rec->resv = room;
    rec->resv_hi = size;
    resv_clear_if_empty(rec);
    return 0;
}

static int is_patched(const fs_inode *rec)
{
    return (rec->flags & FS_INODE_PATCHED) != 0;
}

/* Reads the patch of block n of ino: *val (lsm_free) and *len, *val NULL
 * if there is none.  -EIO if it does not decode. */
static int get_patch(fs_t *fs, uint64_t ino, uint64_t n, void **val, size_t *len)
{
    char key[FS_KEY_MAX];
    int rc = fs_get(fs, key, fs_key_patch(key, ino, n), val, len);
    if (rc == -ENOENT) {
        *val = NULL;
        *len = 0;
        return 0;
    }
    if (rc == 0 && fs_patch_apply(*val, *len, NULL, fs->block_bytes, NULL) != 0) {
        lsm_free(*val);
        fs_log(fs, LOG_ERR, "inode %llu block %llu: malformed patch",
               (unsigned long long)ino, (unsigned long long)n);
        rc = -EIO;
    }
    if (rc < 0)
        *val = NULL;
    return rc;
}

/* The length of block n of ino, vlen bytes stored, with its patch
 * applied: a patch of an append reaches past the stored bytes (see the
 * top).  Every reader of a block's length from the keys (truncate and
 * punch, seek, reservations) goes through here. */
static int block_len(fs_t *fs, const fs_inode *rec, uint64_t ino, uint64_t n,
                     size_t vlen, size_t *len)
{
    *len = vlen;
    if (!is_patched(rec) || vlen >= fs->block_bytes)
        return 0;
    void *pv;
    size_t plen, end;
    int rc = get_patch(fs, ino, n, &pv, &plen);
    if (rc == 0 && pv != NULL) {
        fs_patch_apply(pv, plen, NULL, fs->block_bytes, &end);  /* validated */
        if (end > vlen)
            *len = end;
    }
    lsm_free(pv);
    return rc;
}

/* Block n's bytes (*val, *len) with its patch (pv, plen) applied; the
 * patch may reach past the stored bytes (they read as zeros). */
static int apply_patch(fs_t *fs, void **val, size_t *len, const void *pv,
                       size_t plen)
{
    size_t end;
    fs_patch_apply(pv, plen, NULL, fs->block_bytes, &end);   /* validated */
    size_t newlen = end > *len ? end : *len;
    char *m = malloc(newlen ? newlen : 1);
    if (m == NULL)
        return -ENOMEM;
    if (*len > 0)
        memcpy(m, *val, *len);
    memset(m + *len, 0, newlen - *len);
    fs_patch_apply(pv, plen, m, newlen, NULL);
    lsm_free(*val);
    *val = m;
    *len = newlen;
    return 0;
}

/* Reads block n of ino, with its patch applied when the file is PATCHED:
 * *val (lsm_free) and *len; *val NULL for a hole. */
static int get_block(fs_t *fs, uint64_t ino, int patched, uint64_t n,
                     void **val, size_t *len)
{
    char key[FS_KEY_MAX];
    size_t klen = fs_key_block(key, ino, n);
    int rc = fs_get(fs, key, klen, val, len);
    if (rc == -ENOENT) {
        *val = NULL;
        *len = 0;
        rc = 0;
    } else if (rc == 0 && (*len == 0 || *len > fs->block_bytes)) {
        lsm_free(*val);
        fs_log(fs, LOG_ERR, "inode %llu block %llu: bad length %zu",
               (unsigned long long)ino, (unsigned long long)n, *len);
        return -EIO;
    }
    if (rc < 0 || !patched)
        return rc;
    void *pv = NULL;
    size_t plen = 0;
    rc = get_patch(fs, ino, n, &pv, &plen);
    if (rc == 0 && pv != NULL)
        rc = apply_patch(fs, val, len, pv, plen);
    lsm_free(pv);
    if (rc < 0) {
        lsm_free(*val);
        *val = NULL;
    }
    return rc;
}

/* Stores (or, when all zeros, deletes) block n, adjusting rec->alloc from
 * the block's old stored length.  shared: data stays unchanged until the
 * batch is written, so the batch names it (lsm_batch_put_ref) instead of
 * copying it: a block the engine puts in a blob file is then copied once,
 * into the file, not first into the batch (~10 % of a bulk worker's CPU
 * for 1 MiB writes). */
static int put_block(lsm_batch *b, uint64_t ino, fs_inode *rec, uint64_t n,
                     const char *data, size_t len, size_t oldlen, int shared)
{
    char key[FS_KEY_MAX];
    int st = LSM_OK;
    if (is_patched(rec))      /* the block replaces its patch */
        st = lsm_batch_delete(b, key, fs_key_patch(key, ino, n));
    if (st != LSM_OK)
        return -ENOMEM;
    size_t klen = fs_key_block(key, ino, n);
    rec->alloc = rec->alloc > oldlen ? rec->alloc - oldlen : 0;
    if (is_zero(data, len)) {
        st = oldlen > 0 ? lsm_batch_delete(b, key, klen) : LSM_OK;
    } else {
        st = shared ? lsm_batch_put_ref(b, key, klen, data, len)
                    : lsm_batch_put(b, key, klen, data, len);
        rec->alloc += len;
    }
    return st == LSM_OK ? 0 : -ENOMEM;
}

static int key_before(const void *k, size_t kl, const char *end, size_t el)
{
    int c = memcmp(k, end, kl < el ? kl : el);
    return c < 0 || (c == 0 && kl < el);
}

/* Removes blocks [first, end) of ino (end = UINT64_MAX: all from first
 * on), subtracting their lengths (block_len) from rec->alloc (a scan of
 * the range) when count is set.  rec->size is the size before any shrink.
 * When the scan finds at most FEW_BLOCKS blocks (a sparse file, or one
 * shrunk again and again), those are deleted one by one: a range deletion
 * costs every later read of its range until compaction drops it. */
static int drop_blocks(fs_t *fs, lsm_batch *b, uint64_t ino, fs_inode *rec,
                       uint64_t first, uint64_t end, int count)
{
    uint64_t found[FEW_BLOCKS];
    uint8_t patch[FEW_BLOCKS];      /* found[i] names a patch key */
    size_t nfound = 0;
    if (count) {
        char lo[FS_KEY_MAX], hi[FS_KEY_MAX];
        size_t ll = fs_key_block(lo, ino, first);
        size_t hl = end == UINT64_MAX ? fs_key_ino_end(hi, FS_KEY_BLOCK, ino)
                                      : fs_key_block(hi, ino, end);
        lsm_iter *it = lsm_iter_new(fs->db, &fs->ro);
        if (it == NULL)
            return -ENOMEM;
        uint64_t sum = 0;
        int rc = 0;
        for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
            size_t klen, vlen;
            const void *k = lsm_iter_key(it, &klen);
            if (!key_before(k, klen, hi, hl))
                break;
            uint64_t kino, blk = 0;
            int is_patch = fs_decode_patch_key(k, klen, &kino, &blk) == 0;
            if (!is_patch) {           /* a patch counts with its block */
                lsm_iter_value(it, &vlen);
                size_t len = vlen;
                if (fs_decode_block_key(k, klen, &kino, &blk) != 0)
                    nfound = FEW_BLOCKS;   /* not a block key: one range */
                else if ((rc = block_len(fs, rec, ino, blk, vlen, &len)) < 0)
                    break;
                sum += len;
            }
            if (nfound < FEW_BLOCKS) {
                found[nfound] = blk;
                patch[nfound] = (uint8_t)is_patch;
            }
            nfound++;
        }
        int st = lsm_iter_status(it);
        lsm_iter_free(it);
        if (rc < 0)
            return rc;
        if (st != LSM_OK)
            return fs_engine_error(fs, st, "block scan");
        rec->alloc = sum > rec->alloc ? 0 : rec->alloc - sum;
        if (nfound <= FEW_BLOCKS) {
            char key[FS_KEY_MAX];
            for (size_t i = 0; i < nfound; i++) {
                size_t kl = patch[i] ? fs_key_patch(key, ino, found[i])
                                     : fs_key_block(key, ino, found[i]);
                if (lsm_batch_delete(b, key, kl) != LSM_OK)
                    return -ENOMEM;
            }
            return 0;
        }
    }
    return batch_delete_blocks(fs, b, ino, first, end, rec->size);
}

/* Zeroes bytes [lo, hi) of block n: a range reaching the block's stored
 * end shortens the block (deleting it when nothing is left). */
static int zero_in_block(fs_t *fs, lsm_batch *b, uint64_t ino, fs_inode *rec,
                         uint64_t n, size_t lo, size_t hi)
{
    void *val;
    size_t len;
    int rc = get_block(fs, ino, is_patched(rec), n, &val, &len);
    if (rc < 0 || val == NULL || lo >= len) {
        lsm_free(val);
        return rc;
    }
    size_t newlen = len;
    if (hi >= len)
        newlen = lo;
    else
        memset((char *)val + lo, 0, hi - lo);
    rc = put_block(b, ino, rec, n, val, newlen, len, 0);
    lsm_free(val);
    return rc;
}

/* --- truncate ------------------------------------------------------------- */

/* Turns an inline file (bytes in ip->data or dc) into block 0. */
static int inline_to_blocks(struct inode *ip, fs_inode *rec,
                            lsm_batch *b, struct data_change *dc)
{
    const char *data = dc->set ? dc->data : ip->data;
    size_t len = dc->set ? dc->len : ip->dlen;
    rec->flags &= (uint8_t)~FS_INODE_INLINE;
    rec->alloc = 0;
    int rc = len > 0 ? put_block(b, ip->ino, rec, 0, data, len, 0, 0) : 0;
    if (dc->set)
        free(dc->data);
    dc->set = 1;
    dc->data = NULL;
    dc->len = 0;
    return rc;
}

int file_truncate(fs_t *fs, struct inode *ip, fs_inode *rec, uint64_t size,
                  lsm_batch *b, struct data_change *dc)
{
    uint64_t bs = fs->block_bytes;
    if (size > FS_MAX_FILE)
        return -EFBIG;
    if (size < rec->size) {
        int rc = resv_cut(fs, ip, rec, size);
        if (rc < 0)
            return rc;
    }
    if (is_inline(rec)) {
        if (size <= fs->inline_max) {
            char *nd = size ? malloc(size) : NULL;
            if (size && nd == NULL)
                return -ENOMEM;
            size_t keep = ip->dlen < size ? ip->dlen : (size_t)size;
            if (keep)
                memcpy(nd, ip->data, keep);
            if (size > keep)
                memset(nd + keep, 0, size - keep);
            dc->set = 1;
            dc->data = nd;
            dc->len = size;
            rec->size = size;
            return 0;
        }
        int rc = inline_to_blocks(ip, rec, b, dc);
        rec->size = size;
        return rc;
    }
    if (size >= rec->size) {
        rec->size = size;
        return 0;
    }
    if (size <= fs->inline_max) {
        /* Back to inline: block 0's first `size` bytes. */
        void *val = NULL;
        size_t len = 0;
        int rc = size ? get_block(fs, ip->ino, is_patched(rec), 0, &val, &len) : 0;
        if (rc < 0)
            return rc;
        char *nd = size ? calloc(1, size) : NULL;
        if (size && nd == NULL) {
            lsm_free(val);
            return -ENOMEM;
        }
        if (val != NULL)
            memcpy(nd, val, len < size ? len : size);
        lsm_free(val);
        rc = drop_blocks(fs, b, ip->ino, rec, 0, UINT64_MAX, 0);
        if (rc < 0) {
            free(nd);
            return rc;
        }
        rec->alloc = 0;
        rec->flags |= FS_INODE_INLINE;
        rec->flags &= (uint8_t)~FS_INODE_PATCHED;   /* no block is left */
        rec->size = size;
        dc->set = 1;
        dc->data = nd;
        dc->len = size;
        return 0;
    }
    uint64_t last = size / bs, within = size % bs;
    int rc = 0;
    if (within > 0)
        rc = zero_in_block(fs, b, ip->ino, rec, last, (size_t)within, (size_t)bs);
    if (rc == 0)
        rc = drop_blocks(fs, b, ip->ino, rec, within ? last + 1 : last,
                         UINT64_MAX, 1);
    rec->size = size;
    return rc;
}

/* --- write ------------------------------------------------------------------ */

static void put_extent(char *out, size_t *at, size_t off, const char *src,
                       size_t len)
{
    lsm_encode_fixed32(out + *at, (uint32_t)off);
    lsm_encode_fixed32(out + *at + 4, (uint32_t)len);
    memcpy(out + *at + 8, src, len);
    *at += 8 + len;
}

/* The patch (old, oldlen; validated) with src[0..n) written at lo over
 * it, into out (room for oldlen + n + 16: one old extent may be split in
 * two): the old extents' bytes before lo, the new extent, their bytes
 * after lo + n.  Returns its size; *bytes and *count: the data bytes and
 * extents it holds. */
static size_t patch_merge(const char *old, size_t oldlen, size_t lo,
                          const char *src, size_t n, char *out,
                          size_t *bytes, size_t *count)
{
    size_t at = 0, hi = lo + n;
    *bytes = n;
    *count = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t in = 0; in < oldlen;) {
            size_t off = lsm_decode_fixed32(old + in);
            size_t len = lsm_decode_fixed32(old + in + 4), end = off + len;
            const char *d = old + in + 8;
            in += 8 + len;
            size_t a = pass == 0 ? off : (off > hi ? off : hi);
            size_t z = pass == 0 ? (end < lo ? end : lo) : end;
            if (a < z) {
                put_extent(out, &at, a, d + (a - off), z - a);
                *bytes += z - a;
                (*count)++;
            }
        }
        if (pass == 0)
            put_extent(out, &at, lo, src, n);
    }
    return at;
}

/* Block blk of a fully stored file with its patch applied, whose length
 * alloc says is blen: *val (lsm_free).  -EIO if it holds another length. */
static int get_whole_block(fs_t *fs, uint64_t ino, const fs_inode *rec,
                           uint64_t blk, size_t blen, void **val)
{
    size_t len;
    int rc = get_block(fs, ino, is_patched(rec), blk, val, &len);
    if (rc == 0 && len != blen) {
        fs_log(fs, LOG_ERR, "inode %llu block %llu: %zu bytes stored, "
               "%zu expected (alloc)", (unsigned long long)ino,
               (unsigned long long)blk, len, blen);
        lsm_free(*val);
        *val = NULL;
        rc = -EIO;
    }
    return rc;
}

/* Folds the patch (p, plen) into block blk (blen bytes stored, with its
 * old patch; end: its length with p applied): the block is put whole and
 * its patch deleted (put_block). */
static int fold_patch(fs_t *fs, lsm_batch *b, uint64_t ino, fs_inode *rec,
                      uint64_t blk, size_t blen, const char *p, size_t plen,
                      size_t end)
{
    void *val;
    int rc = get_whole_block(fs, ino, rec, blk, blen, &val);
    char *nb = rc == 0 ? malloc(end) : NULL;
    if (rc == 0 && nb == NULL)
        rc = -ENOMEM;
    if (rc == 0) {
        memcpy(nb, val, blen);
        memset(nb + blen, 0, end - blen);
        fs_patch_apply(p, plen, nb, end, NULL);
        rc = put_block(b, ino, rec, blk, nb, end, blen, 0);
    }
    free(nb);
    lsm_free(val);
    return rc;
}

/* Writes src[0..n) at lo into block blk of a fully stored file, whose
 * length blen (with its patch) is known: as the block's patch, or folded
 * into the block when the patch would hold more than max_bytes or
 * PATCH_MAX_EXTENTS (see the top).  A write past blen (an append) makes
 * the block that much longer: alloc grows with it.  Marks rec PATCHED. */
static int patch_block(fs_t *fs, lsm_batch *b, uint64_t ino, fs_inode *rec,
                       uint64_t blk, size_t blen, size_t lo, const char *src,
                       size_t n, size_t max_bytes)
{
    void *old = NULL;
    size_t oldlen = 0;
    int rc = is_patched(rec) ? get_patch(fs, ino, blk, &old, &oldlen) : 0;
    char *out = rc == 0 ? malloc(oldlen + n + 16) : NULL;
    if (rc == 0 && out == NULL)
        rc = -ENOMEM;
    size_t bytes = 0, count = 0, plen = 0, end = lo + n > blen ? lo + n : blen;
    if (rc == 0)
        plen = patch_merge(old, oldlen, lo, src, n, out, &bytes, &count);
    lsm_free(old);
    if (rc == 0 && (bytes > max_bytes || count > PATCH_MAX_EXTENTS)) {
        rc = fold_patch(fs, b, ino, rec, blk, blen, out, plen, end);
    } else if (rc == 0) {
        char key[FS_KEY_MAX];
        rec->flags |= FS_INODE_PATCHED;
        if (lsm_batch_put(b, key, fs_key_patch(key, ino, blk), out, plen) != LSM_OK)
            rc = -ENOMEM;
        rec->alloc += end - blen;
    }
    free(out);
    return rc;
}

/* Appends: src[0..n) at lo into the last block blk of a fully stored file,
 * lo <= blen < lo + n.  The leading bytes equal to the stored ones (the
 * writeback cache resends the page's head) are dropped; the rest goes
 * into the block's patch (see the top). */
static int append_block(fs_t *fs, lsm_batch *b, uint64_t ino, fs_inode *rec,
                        uint64_t blk, size_t blen, size_t lo, const char *src,
                        size_t n)
{
    if (lo < blen) {
        void *val;
        int rc = get_whole_block(fs, ino, rec, blk, blen, &val);
        if (rc < 0)
            return rc;
        const char *have = (const char *)val + lo;
        size_t same = 0, overlap = blen - lo;
        if (memcmp(have, src, overlap) == 0)
            same = overlap;
        else
            while (have[same] == src[same])
                same++;
        lsm_free(val);
        lo += same;
        src += same;
        n -= same;
    }
    return patch_block(fs, b, ino, rec, blk, blen, lo, src, n,
                       APPEND_PATCH_MAX(fs->block_bytes));
}

/* Writes buf[0..n) at off into block-based storage; block 0's old bytes
 * come from (pend, pendlen) when pend is set (a file leaving inline). */
static int write_blocks(fs_t *fs, struct inode *ip, fs_inode *rec,
                        lsm_batch *b, const char *buf, size_t n, uint64_t off,
                        uint64_t oldsize, const char *pend, size_t pendlen)
{
    uint64_t bs = fs->block_bytes;
    char *scratch = NULL;
    int rc = 0, touched0 = 0;
    /* Every block below oldsize stored whole: their lengths are known. */
    int dense = pend == NULL && rec->alloc == oldsize;
    for (uint64_t pos = off; pos < off + n && rc == 0;) {
        uint64_t blk = pos / bs, bstart = blk * bs;
        size_t lo = (size_t)(pos - bstart);
        size_t hi = (size_t)((off + n < bstart + bs ? off + n : bstart + bs) - bstart);
        const char *src = buf + (pos - off);
        void *old = NULL;
        size_t oldlen = 0;
        size_t blen = dense && bstart < oldsize
                          ? (size_t)(oldsize - bstart < bs ? oldsize - bstart : bs) : 0;
        if (blen > 0 && hi <= blen && (lo > 0 || hi < blen)) {
            rc = patch_block(fs, b, ip->ino, rec, blk, blen, lo, src, hi - lo,
                             (size_t)bs / 2);
            pos = bstart + hi;
            continue;
        }
        if (blen > 0 && hi > blen && lo <= blen && bstart + blen == oldsize &&
            hi < bs && hi - blen <= APPEND_PATCH_MAX(bs)) {
            rc = append_block(fs, b, ip->ino, rec, blk, blen, lo, src, hi - lo);
            pos = bstart + hi;
            continue;
        }
        if (blk == 0 && pend != NULL) {
            touched0 = 1;
            oldlen = pendlen;
        } else if (blen > 0 && lo == 0) {
            oldlen = blen;             /* replaced whole: no read */
        } else if (bstart < oldsize) {
            rc = get_block(fs, ip->ino, is_patched(rec), blk, &old, &oldlen);
        }
        const char *oldp = blk == 0 && pend != NULL ? pend : old;
        if (rc == 0 && lo == 0 && hi >= oldlen) {
            rc = put_block(b, ip->ino, rec, blk, src, hi, oldlen, 1);
        } else if (rc == 0) {
            size_t newlen = hi > oldlen ? hi : oldlen;
            if (scratch == NULL && (scratch = malloc(bs)) == NULL)
                rc = -ENOMEM;
            if (rc == 0) {
                if (oldlen > 0)
                    memcpy(scratch, oldp, oldlen < lo ? oldlen : lo);
                if (oldlen < lo)
                    memset(scratch + oldlen, 0, lo - oldlen);
                memcpy(scratch + lo, src, hi - lo);
                if (hi < oldlen)
                    memcpy(scratch + hi, oldp + hi, oldlen - hi);
                rc = put_block(b, ip->ino, rec, blk, scratch, newlen, oldlen, 0);
            }
        }
        lsm_free(old);
        pos = bstart + hi;
    }
    if (rc == 0 && pend != NULL && !touched0 && pendlen > 0)
        rc = put_block(b, ip->ino, rec, 0, pend, pendlen, 0, 0);
    free(scratch);
    return rc;
}

/* A write of at most this many bytes to a file being fsync'd (ip->synced,
 * or every write in sync mode) keeps its data out of blob files
 * (LSM_NO_BLOB): the fsync that follows is then the WAL's fsync alone,
 * where blob data would cost the blob file's fsync first (a database's
 * page writes and journal, a log appended and fsync'd: one fsync per
 * fsync instead of two).  Larger writes, bulk data, still go to blob
 * files: written once, their fsync is mostly data either way. */
#define FS_SYNCED_WRITE_MAX (64u << 10)

/* The engine flags of a data write of n bytes to ip. */
static int write_lflags(const fs_t *fs, struct inode *ip, size_t n,
                        uint64_t filled, int flags)
{
    int synced = (fs->wflags & LSM_SYNC) || atomic_load(&ip->synced);
    return (filled ? LSM_HELD : 0) |
           ((flags & FS_WRITE_BULK) ? LSM_BULK : 0) |
           (synced && n <= FS_SYNCED_WRITE_MAX ? LSM_NO_BLOB : 0);
}

/* What a write of n bytes adds to its batch, about: per block touched a
 * put's kind, lengths and key (and maybe a patch's delete), the inode
 * record, and the data copied in: whole blocks are named, not copied
 * (put_block, shared), so only the partial first and last blocks, at
 * most 2 blocks.  Reserved at once: a batch grown by doubling copies
 * what it holds again (measured: ~6 % of a bulk worker's CPU when the
 * data was copied in). */
static size_t write_batch_bytes(const fs_t *fs, size_t n)
{
    uint64_t bs = fs->block_bytes;
    size_t copied = n < 2 * bs ? n : (size_t)(2 * bs);
    return copied + (n / bs + 2) * (2 * FS_BLOCK_KEY_BYTES + 16) + 512;
}

/* The write of fs_write with ip locked exclusively and its data loaded. */
static ssize_t write_locked(fs_t *fs, const fs_cred *c, struct inode *ip,
                            const char *buf, size_t n, uint64_t off, int flags)
{
    fs_inode rec = ip->rec;
    if (S_ISDIR(rec.mode))
        return -EISDIR;
    if (!S_ISREG(rec.mode))
        return -EINVAL;
    /* Refused here too, not only at open: a handle opened before
     * chattr +i (or pages the kernel cached) must not change the file. */
    if (deny_change(&rec) < 0)
        return -EPERM;
    if (flags & FS_WRITE_APPEND)
        off = rec.size;
    if (n == 0)
        return 0;
    if (off > FS_MAX_FILE || n > FS_MAX_FILE - off)
        return -EFBIG;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    lsm_batch *b = lsm_batch_new();
    if (b == NULL)
        return -ENOMEM;
    if (lsm_batch_reserve(b, write_batch_bytes(fs, n)) != LSM_OK) {
        lsm_batch_free(b);
        return -ENOMEM;
    }
    struct data_change dc = { 0, NULL, 0 };
    uint64_t end = off + n, oldsize = rec.size, oldalloc = rec.alloc;
    uint64_t newsize = end > oldsize ? end : oldsize;
    int rc = 0;
    if (is_inline(&rec) && newsize <= fs->inline_max) {
        char *nd = malloc(newsize);
        if (nd == NULL) {
            rc = -ENOMEM;
        } else {
            if (ip->dlen > 0)
                memcpy(nd, ip->data, ip->dlen);
            if (off > ip->dlen)
                memset(nd + ip->dlen, 0, off - ip->dlen);
            memcpy(nd + off, buf, n);
            dc.set = 1;
            dc.data = nd;
            dc.len = newsize;
        }
    } else if (is_inline(&rec)) {
        /* Leaving inline: the old bytes become block 0. */
        rec.flags &= (uint8_t)~FS_INODE_INLINE;
        rec.alloc = 0;
        rc = write_blocks(fs, ip, &rec, b, buf, n, off, 0, ip->data, ip->dlen);
        dc.set = 1;
    } else {
        rc = write_blocks(fs, ip, &rec, b, buf, n, off, oldsize, NULL, 0);
    }
    if (rc == 0) {
        struct timespec now = fs_now();
        rec.size = newsize;
        if (!(flags & FS_WRITE_KEEP_TIMES))
            rec.mtime = rec.ctime = now;
        if (!(flags & FS_WRITE_KEEP_PRIV))
            rec.mode = (uint32_t)fs_mode_after_write(c, rec.mode, rec.gid);
        /* Bytes stored where fallocate reserved them use the held space. */
        uint64_t filled = resv_take(&rec, off, end,
                                    rec.alloc > oldalloc ? rec.alloc - oldalloc : 0);
        rc = inode_commit_flags(fs, ip, &rec, b, &dc,
                                write_lflags(fs, ip, n, filled, flags));
    } else {
        data_change_finish(fs, ip, &dc, 0);
    }
    lsm_batch_free(b);
    return rc < 0 ? rc : (ssize_t)n;
}

ssize_t fs_write_as(fs_t *fs, const fs_cred *c, uint64_t ino, const char *buf,
                    size_t size, off_t off, int flags)
{
    if (off < 0)
        return -EINVAL;
    struct inode *ip;
    int rc = inode_get_for_update(fs, ino, &ip);
    if (rc < 0)
        return rc;
    ssize_t n = write_locked(fs, c, ip, buf, size, (uint64_t)off, flags);
    inode_put(fs, ip);
    return n;
}

ssize_t fs_write(fs_t *fs, uint64_t ino, const char *buf, size_t size,
                 off_t off, int flags)
{
    return fs_write_as(fs, NULL, ino, buf, size, off, flags);
}

/* --- read ------------------------------------------------------------------- */

/* Locks ip shared (exclusively if its inline data must be loaded). */
static int get_for_read(fs_t *fs, uint64_t ino, struct inode **out)
{
    int rc = inode_get(fs, ino, 0, out);
    if (rc < 0 || !is_inline(&(*out)->rec) || (*out)->data_loaded)
        return rc;
    inode_put(fs, *out);
    return inode_get_for_update(fs, ino, out);
}

/* Fills the part of buf (file bytes [off, off + n)) that block blk
 * covers from the block's stored bytes val[0, len): zeros past len (a
 * hole is len 0). */
static void fill_from_block(char *buf, uint64_t off, size_t n, uint64_t bs,
                            uint64_t blk, const char *val, size_t len)
{
    uint64_t bstart = blk * bs, end = off + n;
    uint64_t from = off > bstart ? off : bstart;
    uint64_t to = end < bstart + bs ? end : bstart + bs;
    size_t lo = (size_t)(from - bstart), hi = (size_t)(to - bstart);
    size_t have = len > lo ? (len < hi ? len : hi) - lo : 0;
    char *dst = buf + (from - off);
    if (have)
        memcpy(dst, val + lo, have);
    memset(dst + have, 0, hi - lo - have);
}

/* Fills block blk's part of buf by lookups (get_block: the block, and
 * its patch when the file is PATCHED). */
static int fill_by_get(fs_t *fs, struct inode *ip, char *buf, uint64_t off,
                       size_t n, uint64_t blk)
{
    void *val;
    size_t len;
    int rc = get_block(fs, ip->ino, is_patched(&ip->rec), blk, &val, &len);
    if (rc < 0)
        return rc;
    fill_from_block(buf, off, n, fs->block_bytes, blk, val, len);
    lsm_free(val);
    return 0;
}

/* Reads spanning at least this many blocks walk them with one iterator
 * (one seek, then one step per block or patch, the value copied straight
 * from the engine's block into buf) instead of a lookup per block (each a
 * seek through every level and a copy into a value of its own).  Kernel
 * readahead asks for 128 KiB..1 MiB at a time, 8..64 blocks of 16 KiB. */
#define SCAN_MIN_BLOCKS 4

/* Fills buf with file bytes [off, off + n) (n > 0, inside the size) by one
 * iterator over the blocks' keys.  The blocks it reads are not kept in the
 * block cache: a sequential reader's kernel page cache holds them, and a
 * stream must not push out the cache's small hot blocks.  A patched block
 * is read again by lookups (fill_by_get), exactly as a point read sees it:
 * the shared inode lock keeps writers of this file out meanwhile. */
static int read_scan(fs_t *fs, struct inode *ip, char *buf, size_t n,
                     uint64_t off)
{
    uint64_t bs = fs->block_bytes, next = off / bs, last = (off + n - 1) / bs;
    char lo[FS_KEY_MAX], hi[FS_KEY_MAX];
    size_t ll = fs_key_block(lo, ip->ino, next);
    size_t hl = fs_key_block(hi, ip->ino, last + 1);
    lsm_read_options ro = fs->ro;
    ro.no_fill_cache = 1;
    lsm_iter *it = lsm_iter_new(fs->db, &ro);
    if (it == NULL)
        return -ENOMEM;
    int rc = 0;
    for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl, vl;
        const void *k = lsm_iter_key(it, &kl);
        if (!key_before(k, kl, hi, hl))
            break;
        uint64_t kino, blk;
        int patch = fs_decode_patch_key(k, kl, &kino, &blk) == 0;
        if (patch ? !is_patched(&ip->rec)
                  : fs_decode_block_key(k, kl, &kino, &blk) != 0)
            continue;              /* a key no point read would look at */
        for (; next < blk; next++)                       /* holes */
            fill_from_block(buf, off, n, bs, next, NULL, 0);
        if (patch) {
            rc = fill_by_get(fs, ip, buf, off, n, blk);
        } else {
            const void *v = lsm_iter_value(it, &vl);
            if (vl == 0 || vl > bs) {
                fs_log(fs, LOG_ERR, "inode %llu block %llu: bad length %zu",
                       (unsigned long long)ip->ino, (unsigned long long)blk, vl);
                rc = -EIO;
            } else {
                fill_from_block(buf, off, n, bs, blk, v, vl);
            }
        }
        if (rc < 0)
            break;
        next = blk + 1;
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (rc == 0 && st != LSM_OK)
        rc = fs_engine_error(fs, st, "block scan");
    for (; rc == 0 && next <= last; next++)              /* trailing holes */
        fill_from_block(buf, off, n, bs, next, NULL, 0);
    return rc;
}

static ssize_t read_locked(fs_t *fs, struct inode *ip, char *buf, size_t n,
                           uint64_t off)
{
    const fs_inode *rec = &ip->rec;
    if (S_ISDIR(rec->mode))
        return -EISDIR;
    if (!S_ISREG(rec->mode))
        return -EINVAL;
    if (off >= rec->size || n == 0)
        return 0;
    if (n > rec->size - off)
        n = (size_t)(rec->size - off);
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (is_inline(rec)) {
        memcpy(buf, ip->data + off, n);
        return (ssize_t)n;
    }
    uint64_t bs = fs->block_bytes, first = off / bs, last = (off + n - 1) / bs;
    int rc = 0;
    if (last - first + 1 >= SCAN_MIN_BLOCKS)
        rc = read_scan(fs, ip, buf, n, off);
    else
        for (uint64_t blk = first; rc == 0 && blk <= last; blk++)
            rc = fill_by_get(fs, ip, buf, off, n, blk);
    return rc < 0 ? rc : (ssize_t)n;
}

ssize_t fs_read(fs_t *fs, uint64_t ino, char *buf, size_t size, off_t off)
{
    if (off < 0)
        return -EINVAL;
    struct inode *ip;
    int rc = get_for_read(fs, ino, &ip);
    if (rc < 0)
        return rc;
    ssize_t n = read_locked(fs, ip, buf, size, (uint64_t)off);
    inode_put(fs, ip);
    return n;
}

/* --- open / release ----------------------------------------------------------- */

int fs_open_file(fs_t *fs, const fs_cred *c, uint64_t ino, int flags)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_EXCL, &ip);
    if (rc < 0)
        return rc;
    if (S_ISDIR(ip->rec.mode) && (flags & O_ACCMODE) != O_RDONLY)
        rc = -EISDIR;
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (rc == 0 && writes && fs->view)
        rc = -EROFS;             /* a snapshot's files never change */
    if (rc == 0 && writes && (rc = deny_change(&ip->rec)) == 0 &&
        (ip->rec.flags & FS_INODE_APPEND) &&
        (!(flags & O_APPEND) || (flags & O_TRUNC)))
        rc = -EPERM;             /* append-only: O_APPEND writes only */
    if (rc == 0 && (flags & O_TRUNC) && S_ISREG(ip->rec.mode)) {
        lsm_batch *b = lsm_batch_new();
        struct data_change dc = { 0, NULL, 0 };
        fs_inode rec = ip->rec;
        rc = b ? file_truncate(fs, ip, &rec, 0, b, &dc) : -ENOMEM;
        if (rc == 0) {
            rec.mtime = rec.ctime = fs_now();
            rec.mode = (uint32_t)fs_mode_after_write(c, rec.mode, rec.gid);
            rc = inode_commit_flags(fs, ip, &rec, b, &dc, LSM_RECLAIM);
        } else {
            data_change_finish(fs, ip, &dc, 0);
        }
        lsm_batch_free(b);
    }
    if (rc == 0)
        icache_ref(fs, ip, 0, 1);
    inode_put(fs, ip);
    return rc;
}

int fs_release(fs_t *fs, uint64_t ino)
{
    struct inode *ip;
    int rc = inode_get(fs, ino, IG_EXCL | IG_GONE, &ip);
    if (rc < 0)
        return rc;
    uint32_t nopen = icache_ref(fs, ip, 0, -1);
    if (nopen == 0 && ip->rec.nlink == 0 && !ip->gone) {
        /* The last handle of an unlinked file: remove it. */
        lsm_batch *b = lsm_batch_new();
        rc = b ? batch_delete_inode(b, ino, &ip->rec, 1) : -ENOMEM;
        if (rc == 0)
            rc = fs_commit_flags(fs, b, LSM_RECLAIM);
        lsm_batch_free(b);
        if (rc == 0) {
            ip->gone = 1;
            inode_drop_data(fs, ip);
            atomic_fetch_sub(&fs->inode_count, 1);
            lsm_release_space(fs->db, ip->rec.resv);
        }
    } else if (nopen == 0 && atomic_load(&fs->inline_cached) > INLINE_CACHE_BYTES) {
        inode_drop_data(fs, ip);
    }
    inode_put(fs, ip);
    return rc;
}

/* --- fallocate, lseek, copy_file_range ------------------------------------------ */

/* Zeroes [off, end) of a file (end <= size) and frees the blocks inside. */
static int punch(fs_t *fs, struct inode *ip, fs_inode *rec, lsm_batch *b,
                 uint64_t off, uint64_t end, struct data_change *dc)
{
    if (is_inline(rec)) {
        char *nd = malloc(ip->dlen ? ip->dlen : 1);
        if (nd == NULL)
            return -ENOMEM;
        if (ip->dlen > 0)
            memcpy(nd, ip->data, ip->dlen);
        memset(nd + off, 0, end - off);
        dc->set = 1;
        dc->data = nd;
        dc->len = ip->dlen;
        return 0;
    }
    uint64_t bs = fs->block_bytes;
    uint64_t first = off / bs, last = (end - 1) / bs;
    if (first == last)
        return zero_in_block(fs, b, ip->ino, rec, first, (size_t)(off - first * bs),
                             (size_t)(end - first * bs));
    int rc = 0;
    uint64_t full_lo = first, full_hi = last + 1;
    if (off % bs) {
        rc = zero_in_block(fs, b, ip->ino, rec, first, (size_t)(off % bs), (size_t)bs);
        full_lo = first + 1;
    }
    if (rc == 0 && end % bs && end < rec->size) {
        rc = zero_in_block(fs, b, ip->ino, rec, last, 0, (size_t)(end % bs));
        full_hi = last;
    }
    if (rc == 0 && full_lo < full_hi)
        rc = drop_blocks(fs, b, ip->ino, rec, full_lo, full_hi, 1);
    return rc;
}

/* Bytes of [off, end) that ip's data already holds (stored blocks, or
 * the inline bytes). */
static int stored_in_range(fs_t *fs, struct inode *ip, uint64_t off,
                           uint64_t end, uint64_t *out)
{
    *out = 0;
    if (is_inline(&ip->rec)) {
        *out = overlap(off, end, 0, ip->dlen);
        return 0;
    }
    uint64_t bs = fs->block_bytes;
    char lo[FS_KEY_MAX], hi[FS_KEY_MAX];
    size_t ll = fs_key_block(lo, ip->ino, off / bs);
    size_t hl = fs_key_block(hi, ip->ino, (end - 1) / bs + 1);  /* end <= 2^63 */
    lsm_iter *it = lsm_iter_new(fs->db, &fs->ro);
    if (it == NULL)
        return -ENOMEM;
    int rc = 0;
    for (lsm_iter_seek(it, lo, ll); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t klen, vlen;
        const void *k = lsm_iter_key(it, &klen);
        uint64_t kino, blk;
        if (key_before(k, klen, hi, hl) && fs_decode_patch_key(k, klen, &kino, &blk) == 0)
            continue;                  /* counted with its block (block_len) */
        if (!key_before(k, klen, hi, hl) ||
            fs_decode_block_key(k, klen, &kino, &blk) != 0 || kino != ip->ino)
            break;
        lsm_iter_value(it, &vlen);
        size_t len;
        rc = block_len(fs, &ip->rec, ip->ino, blk, vlen, &len);
        if (rc < 0)
            break;
        *out += overlap(off, end, blk * bs, blk * bs + len);
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    if (rc < 0)
        return rc;
    return st == LSM_OK ? 0 : fs_engine_error(fs, st, "block scan");
}

/* Reserves what [off, end) lacks: the bytes neither stored nor reserved
 * already, held in the engine (-ENOSPC when the free space, less what is
 * held, cannot take them).  *held: the bytes newly held. */
static int reserve_range(fs_t *fs, struct inode *ip, fs_inode *rec,
                         uint64_t off, uint64_t end, uint64_t *held)
{
    *held = 0;
    uint64_t stored;
    int rc = stored_in_range(fs, ip, off, end, &stored);
    if (rc < 0)
        return rc;
    uint64_t have = overlap(off, end, rec->resv_lo, rec->resv_hi);
    have = (have < rec->resv ? have : rec->resv) + stored;
    if (have >= end - off)
        return 0;
    uint64_t need = end - off - have;
    int st = lsm_hold_space(fs->db, need, 0);
    if (st == LSM_NO_SPACE)
        return -ENOSPC;
    if (st != LSM_OK)
        return fs_engine_error(fs, st, "space hold");
    if (rec->resv == 0) {
        rec->resv_lo = off;
        rec->resv_hi = end;
    } else {
        rec->resv_lo = off < rec->resv_lo ? off : rec->resv_lo;
        rec->resv_hi = end > rec->resv_hi ? end : rec->resv_hi;
    }
    rec->resv += need;
    *held = need;
    return 0;
}

/* Allocation (mode 0, KEEP_SIZE) reserves the range's missing bytes in
 * the engine's free space, so later writes into it do not fail for lack
 * of space (a log-structured store cannot place them in advance), and
 * mode 0 extends the size (the new range reads as zeros).  Punching
 * zeroes the range, frees its blocks and drops its reservation. */
int fs_fallocate_as(fs_t *fs, const fs_cred *c, uint64_t ino, int mode,
                    off_t off, off_t len)
{
    if (off < 0 || len <= 0)
        return -EINVAL;
    if ((uint64_t)off > FS_MAX_FILE - (uint64_t)len)
        return -EFBIG;
    int keep = (mode & FALLOC_FL_KEEP_SIZE) != 0;
    int punch_hole = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
        return -EOPNOTSUPP;
    if (punch_hole && !keep)
        return -EINVAL;
    struct inode *ip;
    int rc = inode_get_for_update(fs, ino, &ip);
    if (rc < 0)
        return rc;
    fs_inode rec = ip->rec;
    uint64_t end = (uint64_t)off + (uint64_t)len, held = 0;
    lsm_batch *b = NULL;
    struct data_change dc = { 0, NULL, 0 };
    if (deny_change(&rec) < 0 || (punch_hole && deny_remove(&rec) < 0))
        rc = -EPERM;             /* append-only files may only grow */
    else if (S_ISDIR(rec.mode))
        rc = -EISDIR;
    else if (!S_ISREG(rec.mode))
        rc = -ENODEV;
    else if ((b = lsm_batch_new()) == NULL)
        rc = -ENOMEM;
    else if (punch_hole) {
        resv_take(&rec, (uint64_t)off, end, UINT64_MAX);
        if ((uint64_t)off < rec.size)
            rc = punch(fs, ip, &rec, b, (uint64_t)off,
                       end < rec.size ? end : rec.size, &dc);
    } else {
        rc = reserve_range(fs, ip, &rec, (uint64_t)off, end, &held);
        if (rc == 0 && !keep && end > rec.size)
            rc = file_truncate(fs, ip, &rec, end, b, &dc);
    }
    if (rc == 0)
        rec.mode = (uint32_t)fs_mode_after_write(c, rec.mode, rec.gid);
    int changed = rec.size != ip->rec.size || rec.resv != ip->rec.resv ||
                  rec.mode != ip->rec.mode || dc.set ||
                  (b != NULL && lsm_batch_count(b) > 0);
    if (rc == 0 && changed) {
        rec.mtime = rec.ctime = fs_now();
        rc = inode_commit_flags(fs, ip, &rec, b, &dc,
                                punch_hole ? LSM_RECLAIM : 0);
    } else {
        data_change_finish(fs, ip, &dc, 0);
    }
    if (rc < 0 && held > 0)
        lsm_release_space(fs->db, held);
    lsm_batch_free(b);
    inode_put(fs, ip);
    return rc;
}

int fs_fallocate(fs_t *fs, uint64_t ino, int mode, off_t off, off_t len)
{
    return fs_fallocate_as(fs, NULL, ino, mode, off, len);
}

/* SEEK_DATA / SEEK_HOLE over stored blocks, off < size: one iterator
 * walks the blocks from off's on. */
static off_t seek_blocks(fs_t *fs, struct inode *ip, uint64_t off, int whence)
{
    uint64_t bs = fs->block_bytes, size = ip->rec.size, pos = off;
    char key[FS_KEY_MAX];
    size_t klen = fs_key_block(key, ip->ino, pos / bs);
    lsm_iter *it = lsm_iter_new(fs->db, &fs->ro);
    if (it == NULL)
        return -ENOMEM;
    off_t res = whence == SEEK_DATA ? -ENXIO : (off_t)size;
    for (lsm_iter_seek(it, key, klen); pos < size; lsm_iter_next(it)) {
        uint64_t kino, blk;
        size_t kl, len = 0;
        const void *k = lsm_iter_valid(it) ? lsm_iter_key(it, &kl) : NULL;
        if (k != NULL && fs_decode_patch_key(k, kl, &kino, &blk) == 0)
            continue;                  /* a patch: counted with its block */
        int found = k != NULL && fs_decode_block_key(k, kl, &kino, &blk) == 0 &&
                    kino == ip->ino && blk <= (size - 1) / bs;
        if (found) {
            size_t vlen;
            lsm_iter_value(it, &vlen);
            if (block_len(fs, &ip->rec, ip->ino, blk, vlen, &len) < 0) {
                res = -EIO;
                break;
            }
        }
        if (len > bs) {
            fs_log(fs, LOG_ERR, "inode %llu block %llu: bad length %zu",
                   (unsigned long long)ip->ino, (unsigned long long)blk, len);
            res = -EIO;
            break;
        }
        uint64_t bstart = found ? blk * bs : size, dend = bstart + len;
        if (whence == SEEK_DATA) {
            if (!found)
                break;                       /* -ENXIO */
            if (dend > pos) {
                res = (off_t)(bstart > pos ? bstart : pos);
                break;
            }
            continue;                        /* pos is in this block's tail */
        }
        if (!found || bstart > pos || dend <= pos) {
            res = (off_t)pos;                /* pos is in a hole */
            break;
        }
        if (len < bs) {
            res = (off_t)(dend < size ? dend : size);
            break;
        }
        pos = dend;
    }
    int st = lsm_iter_status(it);
    lsm_iter_free(it);
    return st == LSM_OK ? res : fs_engine_error(fs, st, "block scan");
}

off_t fs_lseek(fs_t *fs, uint64_t ino, off_t off, int whence)
{
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0)
        return -ENXIO;
    struct inode *ip;
    int rc = inode_get(fs, ino, 0, &ip);
    if (rc < 0)
        return rc;
    off_t res;
    if (!S_ISREG(ip->rec.mode))
        res = S_ISDIR(ip->rec.mode) ? -EISDIR : -EINVAL;
    else if ((uint64_t)off >= ip->rec.size)
        res = -ENXIO;
    else if (is_inline(&ip->rec))
        res = whence == SEEK_DATA ? off : (off_t)ip->rec.size;
    else
        res = seek_blocks(fs, ip, (uint64_t)off, whence);
    inode_put(fs, ip);
    return res;
}

ssize_t fs_copy_file_range_as(fs_t *fs, const fs_cred *c, uint64_t ino_in,
                              off_t off_in, uint64_t ino_out, off_t off_out,
                              size_t len)
{
    if (off_in < 0 || off_out < 0)
        return -EINVAL;
    if (len > CFR_MAX)
        len = CFR_MAX;
    if (ino_in == ino_out && (uint64_t)off_in < (uint64_t)off_out + len &&
        (uint64_t)off_out < (uint64_t)off_in + len)
        return -EINVAL;          /* overlapping ranges of one file */
    struct inode *ip;
    int rc = get_for_read(fs, ino_in, &ip);
    if (rc < 0)
        return rc;
    char *buf = NULL;
    ssize_t got = 0;
    if (!S_ISREG(ip->rec.mode))
        got = S_ISDIR(ip->rec.mode) ? -EISDIR : -EINVAL;
    else if ((uint64_t)off_in >= ip->rec.size || len == 0)
        got = 0;
    else if ((buf = malloc(len)) == NULL)
        got = -ENOMEM;
    else
        got = read_locked(fs, ip, buf, len, (uint64_t)off_in);
    inode_put(fs, ip);
    if (got <= 0) {
        free(buf);
        return got;
    }
    struct inode *op;
    rc = inode_get_for_update(fs, ino_out, &op);
    ssize_t put = rc;
    if (rc == 0) {
        put = write_locked(fs, c, op, buf, (size_t)got, (uint64_t)off_out, 0);
        inode_put(fs, op);
    }
    free(buf);
    return put;
}

ssize_t fs_copy_file_range(fs_t *fs, uint64_t ino_in, off_t off_in,
                           uint64_t ino_out, off_t off_out, size_t len)
{
    return fs_copy_file_range_as(fs, NULL, ino_in, off_in, ino_out, off_out,
                                 len);
}
