/*
 * layout.c — encoding and defensive decoding of every lsmfs record.
 *
 * KEYS (integers big-endian, so keys sort numerically; names raw bytes):
 *
 *   superblock   'S'                                   1 byte
 *   inode        'I' ino:8                             9 bytes
 *   orphan       'O' ino:8                             9 bytes
 *   data block   'B' ino:8 block:8                     17 bytes
 *   block patch  'B' ino:8 block:8 'p'                 18 bytes
 *   dir entry    'D' parent:8 hash:8 name:1..255       18..272 bytes
 *   xattr        'X' ino:8 name:1..255                 10..264 bytes
 *
 *   hash = XXH3_64(name) >> 9 (55 bits).  A directory's entries sort by
 *   (hash, name), so readdir walks them in hash order and a cookie made
 *   from the hash stays valid while other entries come and go.  All keys
 *   of one inode and kind share the prefix [kind ino], so removing a
 *   file's data or xattrs is one delete_range [kind ino, kind ino+1).
 *
 * VALUES (integers little-endian):
 *
 *   superblock (52 bytes)
 *     0   8  magic "LSMFS\0sb"
 *     8   4  format version (2)
 *     12  4  data block size in bytes (power of two)
 *     16  4  inline threshold: regular files up to this size live inline
 *     20  4  flags: bit 0 CLEAN (closed cleanly; the counts are exact)
 *     24  8  next_ino: no inode number >= next_ino was ever handed out
 *     32  8  inode_count: live inodes at the last clean close
 *     40  8  resv_bytes: the sum of the inodes' reservations then
 *     48  4  checksum: lsm_checksum of bytes 0..47
 *   Version 1 (44 bytes: no resv_bytes, checksum at 40 of bytes 0..39;
 *   its inodes have no reservations) is decoded with resv_bytes 0;
 *   fs_open makes it version 2 at its superblock write.
 *
 *   inode (90 bytes + inline data)
 *     0   1  record format (1)
 *     1   1  flags: bit 0 INLINE (the data follows the header and the
 *            reservation), bit 1 IMMUTABLE (chattr +i), bit 2 APPEND
 *            (chattr +a), bit 3 RESV (a reservation follows the header),
 *            bit 4 PATCHED (block patches may exist: reads look for them).
 *            Bits 1-4 were added without a version change: records
 *            without them read as before; a build older than them
 *            reports a record carrying them as malformed (-EIO).
 *     2   4  mode (type and permission bits)
 *     6   4  uid
 *     10  4  gid
 *     14  4  nlink
 *     18  4  number of extended attributes
 *     22  8  rdev
 *     30  8  size: regular file bytes; directory entry count (without
 *            "." and ".."); symlink target length
 *     38  8  parent: for directories the parent directory, else 0
 *     46  8  alloc: bytes stored in data blocks, each with its patch
 *            applied (st_blocks)
 *     54  12 atime: seconds (i64), nanoseconds (u32)
 *     66  12 mtime
 *     78  12 ctime
 *     90  24 RESV only (regular files): resv, resv_lo, resv_hi (8 each):
 *            resv > 0 bytes reserved by fallocate that no write has
 *            filled yet, lying in [resv_lo, resv_hi), resv <= hi - lo
 *     ..  .. INLINE: exactly `size` bytes of file data or symlink target
 *
 *   Symlinks are always INLINE; regular files are INLINE while they fit
 *   the inline threshold, otherwise their data lives in 'B' blocks and
 *   the record is the bare header.
 *
 *   dir entry (9 bytes)   child ino:8, type:1 (DT_REG, DT_DIR, ...)
 *   data block            1..block_size bytes: the block's bytes from its
 *                         start; bytes past the value's end, and absent
 *                         blocks (holes), read as zeros.  A stored block
 *                         never reaches past the file's size.
 *   block patch           bytes written over part of the block (file.c):
 *                         extents {off:4, len:4, bytes[len]}, sorted and
 *                         disjoint, inside the block's stored bytes or
 *                         past them, contiguous with them, up to the
 *                         file's size (appends; alloc counts them; written
 *                         only into fully stored files); a read of the
 *                         block applies them onto its value.  The
 *                         key sorts right after its block's, inside the
 *                         file's block prefix, so every deletion of a
 *                         block range or of the file covers its patches.
 *   xattr                 the value, 0..65536 bytes
 *   orphan                empty: the inode has no links but open handles
 *                         (unlinked while open, or an O_TMPFILE not yet
 *                         linked); fs_open removes it after a crash
 *
 * The engine checksums its blocks and log records, so records carry no
 * checksum of their own except the superblock, which is also the marker
 * that a store is an lsmfs store.
 */
#include "layout.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "lsm.h"

static void put_be64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

size_t fs_key_super(char *buf)
{
    buf[0] = FS_KEY_SUPER;
    return 1;
}

size_t fs_key_ino_prefix(char *buf, char kind, uint64_t ino)
{
    buf[0] = kind;
    put_be64(buf + 1, ino);
    return 9;
}

size_t fs_key_ino_end(char *buf, char kind, uint64_t ino)
{
    if (ino == UINT64_MAX) {
        buf[0] = (char)(kind + 1);
        return 1;
    }
    return fs_key_ino_prefix(buf, kind, ino + 1);
}

size_t fs_key_inode(char *buf, uint64_t ino)
{
    return fs_key_ino_prefix(buf, FS_KEY_INODE, ino);
}

size_t fs_key_orphan(char *buf, uint64_t ino)
{
    return fs_key_ino_prefix(buf, FS_KEY_ORPHAN, ino);
}

size_t fs_key_block(char *buf, uint64_t ino, uint64_t block)
{
    fs_key_ino_prefix(buf, FS_KEY_BLOCK, ino);
    put_be64(buf + 9, block);
    return 17;
}

size_t fs_key_patch(char *buf, uint64_t ino, uint64_t block)
{
    size_t n = fs_key_block(buf, ino, block);
    buf[n] = FS_KEY_PATCH_SUFFIX;
    return n + 1;
}

uint64_t fs_name_hash(const char *name, size_t len)
{
    return XXH3_64bits(name, len) >> (64 - FS_HASH_BITS);
}

size_t fs_key_dirent_hash(char *buf, uint64_t parent, uint64_t hash)
{
    fs_key_ino_prefix(buf, FS_KEY_DIRENT, parent);
    put_be64(buf + 9, hash);
    return 17;
}

size_t fs_key_dirent(char *buf, uint64_t parent, const char *name, size_t len)
{
    size_t n = fs_key_dirent_hash(buf, parent, fs_name_hash(name, len));
    memcpy(buf + n, name, len);
    return n + len;
}

size_t fs_key_xattr(char *buf, uint64_t ino, const char *name, size_t len)
{
    size_t n = fs_key_ino_prefix(buf, FS_KEY_XATTR, ino);
    memcpy(buf + n, name, len);
    return n + len;
}

/* [kind ino:8] exactly. */
static int decode_ino_key(const void *p, size_t n, char kind, uint64_t *ino)
{
    const unsigned char *u = p;
    if (n != 9 || u[0] != (unsigned char)kind)
        return -1;
    *ino = get_be64(u + 1);
    return 0;
}

int fs_decode_inode_key(const void *p, size_t n, uint64_t *ino)
{
    return decode_ino_key(p, n, FS_KEY_INODE, ino);
}

int fs_decode_orphan_key(const void *p, size_t n, uint64_t *ino)
{
    return decode_ino_key(p, n, FS_KEY_ORPHAN, ino);
}

int fs_decode_block_key(const void *p, size_t n, uint64_t *ino, uint64_t *block)
{
    const unsigned char *u = p;
    if (n != 17 || u[0] != FS_KEY_BLOCK)
        return -1;
    *ino = get_be64(u + 1);
    *block = get_be64(u + 9);
    return 0;
}

int fs_decode_patch_key(const void *p, size_t n, uint64_t *ino, uint64_t *block)
{
    const unsigned char *u = p;
    if (n != 18 || u[17] != FS_KEY_PATCH_SUFFIX)
        return -1;
    return fs_decode_block_key(p, 17, ino, block);
}

int fs_patch_apply(const void *p, size_t n, char *blk, size_t limit, size_t *end)
{
    const char *c = p;
    size_t at = 0, last = 0;
    while (at < n) {
        if (n - at < 8)
            return -1;
        uint32_t off = lsm_decode_fixed32(c + at), len = lsm_decode_fixed32(c + at + 4);
        at += 8;
        if (len == 0 || off < last || off > limit || len > limit - off ||
            len > n - at)
            return -1;
        if (blk != NULL)
            memcpy(blk + off, c + at, len);
        at += len;
        last = (size_t)off + len;
    }
    if (end != NULL)
        *end = last;
    return 0;
}

int fs_patch_covers(const void *p, size_t n, size_t from, size_t to)
{
    const char *c = p;
    size_t reach = from;
    for (size_t at = 0; at + 8 <= n && reach < to;) {
        size_t off = lsm_decode_fixed32(c + at), len = lsm_decode_fixed32(c + at + 4);
        if (off > reach)
            return 0;                    /* [reach, off) uncovered */
        if (off + len > reach)
            reach = off + len;
        at += 8 + len;
    }
    return reach >= to;
}

static int valid_name(const char *name, size_t len, size_t max)
{
    return len >= 1 && len <= max && memchr(name, '\0', len) == NULL;
}

int fs_decode_dirent_key(const void *p, size_t n, uint64_t *parent,
                         uint64_t *hash, const char **name, size_t *len)
{
    const unsigned char *u = p;
    if (n < 18 || n > 17 + 255 || u[0] != FS_KEY_DIRENT)
        return -1;
    const char *nm = (const char *)u + 17;
    size_t nl = n - 17;
    if (!valid_name(nm, nl, 255) || memchr(nm, '/', nl) != NULL)
        return -1;
    uint64_t h = get_be64(u + 9);
    if (h != fs_name_hash(nm, nl))
        return -1;
    *parent = get_be64(u + 1);
    *hash = h;
    *name = nm;
    *len = nl;
    return 0;
}

int fs_decode_xattr_key(const void *p, size_t n, uint64_t *ino,
                        const char **name, size_t *len)
{
    const unsigned char *u = p;
    if (n < 10 || n > 9 + FS_XATTR_NAME_MAX || u[0] != FS_KEY_XATTR)
        return -1;
    const char *nm = (const char *)u + 9;
    if (!valid_name(nm, n - 9, FS_XATTR_NAME_MAX))
        return -1;
    *ino = get_be64(u + 1);
    *name = nm;
    *len = n - 9;
    return 0;
}

void fs_encode_dirent_value(char *buf, uint64_t ino, uint8_t type)
{
    lsm_encode_fixed64(buf, ino);
    buf[8] = (char)type;
}

static int valid_dtype(uint8_t t)
{
    switch (t) {
    case DT_REG: case DT_DIR: case DT_LNK: case DT_FIFO:
    case DT_SOCK: case DT_CHR: case DT_BLK:
        return 1;
    default:
        return 0;
    }
}

int fs_decode_dirent_value(const void *p, size_t n, uint64_t *ino,
                           uint8_t *type)
{
    const char *c = p;
    if (n != FS_DIRENT_VALUE_BYTES)
        return -1;
    uint64_t i = lsm_decode_fixed64(c);
    uint8_t t = (uint8_t)c[8];
    if (i == 0 || !valid_dtype(t))
        return -1;
    *ino = i;
    *type = t;
    return 0;
}

void fs_encode_super(char *buf, const fs_super *s)
{
    memcpy(buf, FS_SUPER_MAGIC, 8);
    lsm_encode_fixed32(buf + 8, s->version);
    lsm_encode_fixed32(buf + 12, s->block_bytes);
    lsm_encode_fixed32(buf + 16, s->inline_max);
    lsm_encode_fixed32(buf + 20, s->flags);
    lsm_encode_fixed64(buf + 24, s->next_ino);
    lsm_encode_fixed64(buf + 32, s->inode_count);
    lsm_encode_fixed64(buf + 40, s->resv_bytes);
    lsm_encode_fixed32(buf + 48, lsm_checksum(buf, 48));
}

int fs_decode_super(const void *p, size_t n, fs_super *s)
{
    const char *c = p;
    if (n < 12 || memcmp(c, FS_SUPER_MAGIC, 8) != 0)
        return -1;
    uint32_t version = lsm_decode_fixed32(c + 8);
    if (version != FS_FORMAT_VERSION && version != 1) {
        /* Another version may have another length: report it as such. */
        s->version = version;
        return -2;
    }
    size_t sum_at = version == 1 ? FS_SUPER_BYTES_V1 - 4 : FS_SUPER_BYTES - 4;
    if (n != sum_at + 4 || lsm_decode_fixed32(c + sum_at) != lsm_checksum(c, sum_at))
        return -1;
    fs_super t;
    t.version = version;
    t.resv_bytes = version == 1 ? 0 : lsm_decode_fixed64(c + 40);
    t.block_bytes = lsm_decode_fixed32(c + 12);
    t.inline_max = lsm_decode_fixed32(c + 16);
    t.flags = lsm_decode_fixed32(c + 20);
    t.next_ino = lsm_decode_fixed64(c + 24);
    t.inode_count = lsm_decode_fixed64(c + 32);
    /* Block size: a power of two the engine can hold as one value. */
    if (t.block_bytes < 512 || t.block_bytes > (16u << 20) ||
        (t.block_bytes & (t.block_bytes - 1)) != 0)
        return -1;
    if (t.inline_max > t.block_bytes || (t.flags & ~FS_SUPER_CLEAN) != 0 ||
        t.next_ino < 2)
        return -1;
    *s = t;
    return 0;
}

uint8_t fs_mode_dtype(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return DT_REG;
    case S_IFDIR: return DT_DIR;
    case S_IFLNK: return DT_LNK;
    case S_IFIFO: return DT_FIFO;
    case S_IFSOCK: return DT_SOCK;
    case S_IFCHR: return DT_CHR;
    case S_IFBLK: return DT_BLK;
    default: return DT_UNKNOWN;
    }
}

static void put_time(char *p, struct timespec t)
{
    lsm_encode_fixed64(p, (uint64_t)(int64_t)t.tv_sec);
    lsm_encode_fixed32(p + 8, (uint32_t)t.tv_nsec);
}

static int get_time(const char *p, struct timespec *t)
{
    uint32_t ns = lsm_decode_fixed32(p + 8);
    if (ns >= 1000000000u)
        return -1;
    t->tv_sec = (time_t)(int64_t)lsm_decode_fixed64(p);
    t->tv_nsec = (long)ns;
    return 0;
}

size_t fs_inode_bytes(const fs_inode *in, size_t dlen)
{
    return FS_INODE_HEADER + (in->resv > 0 ? FS_INODE_RESV_BYTES : 0) + dlen;
}

void fs_encode_inode(char *buf, const fs_inode *in, const void *data,
                     size_t dlen)
{
    buf[0] = FS_INODE_FORMAT;
    buf[1] = (char)(in->flags | (in->resv > 0 ? FS_INODE_RESV : 0));
    lsm_encode_fixed32(buf + 2, in->mode);
    lsm_encode_fixed32(buf + 6, in->uid);
    lsm_encode_fixed32(buf + 10, in->gid);
    lsm_encode_fixed32(buf + 14, in->nlink);
    lsm_encode_fixed32(buf + 18, in->xattrs);
    lsm_encode_fixed64(buf + 22, in->rdev);
    lsm_encode_fixed64(buf + 30, in->size);
    lsm_encode_fixed64(buf + 38, in->parent);
    lsm_encode_fixed64(buf + 46, in->alloc);
    put_time(buf + 54, in->atime);
    put_time(buf + 66, in->mtime);
    put_time(buf + 78, in->ctime);
    size_t at = FS_INODE_HEADER;
    if (in->resv > 0) {
        lsm_encode_fixed64(buf + at, in->resv);
        lsm_encode_fixed64(buf + at + 8, in->resv_lo);
        lsm_encode_fixed64(buf + at + 16, in->resv_hi);
        at += FS_INODE_RESV_BYTES;
    }
    if (dlen > 0)
        memcpy(buf + at, data, dlen);
}

int fs_decode_inode(const void *p, size_t n, fs_inode *in,
                    const char **data, size_t *dlen)
{
    const char *c = p;
    if (n < FS_INODE_HEADER || c[0] != FS_INODE_FORMAT)
        return -1;
    fs_inode t;
    memset(&t, 0, sizeof t);
    t.flags = (uint8_t)c[1];
    t.mode = lsm_decode_fixed32(c + 2);
    t.uid = lsm_decode_fixed32(c + 6);
    t.gid = lsm_decode_fixed32(c + 10);
    t.nlink = lsm_decode_fixed32(c + 14);
    t.xattrs = lsm_decode_fixed32(c + 18);
    t.rdev = lsm_decode_fixed64(c + 22);
    t.size = lsm_decode_fixed64(c + 30);
    t.parent = lsm_decode_fixed64(c + 38);
    t.alloc = lsm_decode_fixed64(c + 46);
    if (get_time(c + 54, &t.atime) || get_time(c + 66, &t.mtime) ||
        get_time(c + 78, &t.ctime))
        return -1;
    if ((t.flags & ~(FS_INODE_FLAGS | FS_INODE_RESV)) != 0 ||
        fs_mode_dtype(t.mode) == DT_UNKNOWN ||
        (t.mode & ~(uint32_t)(S_IFMT | 07777)) != 0)
        return -1;
    if (t.size > (uint64_t)INT64_MAX || t.alloc > (uint64_t)INT64_MAX)
        return -1;
    size_t at = FS_INODE_HEADER;
    int is_reg = S_ISREG(t.mode), is_lnk = S_ISLNK(t.mode);
    if (t.flags & FS_INODE_RESV) {
        if (!is_reg || n < at + FS_INODE_RESV_BYTES)
            return -1;
        t.resv = lsm_decode_fixed64(c + at);
        t.resv_lo = lsm_decode_fixed64(c + at + 8);
        t.resv_hi = lsm_decode_fixed64(c + at + 16);
        if (t.resv == 0 || t.resv_lo >= t.resv_hi ||
            t.resv_hi > (uint64_t)INT64_MAX || t.resv > t.resv_hi - t.resv_lo)
            return -1;
        at += FS_INODE_RESV_BYTES;
        t.flags &= (uint8_t)~FS_INODE_RESV;
    }
    size_t extra = n - at;
    if ((t.flags & FS_INODE_PATCHED) && (!is_reg || (t.flags & FS_INODE_INLINE)))
        return -1;                       /* patches are of data blocks */
    if (t.flags & FS_INODE_INLINE) {
        if (!(is_reg || is_lnk) || extra != t.size || t.alloc != 0)
            return -1;
    } else if (extra != 0 || is_lnk) {
        return -1;
    }
    if (S_ISDIR(t.mode) ? t.parent == 0 : t.parent != 0)
        return -1;
    *in = t;
    *data = extra ? c + at : NULL;
    *dlen = extra;
    return 0;
}
