/*
 * layout.h — how the filesystem is laid out in the engine's key space.
 *
 * Every record kind has a one-byte key prefix; integers inside keys are
 * big-endian so that keys sort numerically under the engine's memcmp
 * order.  Integers inside values are little-endian (lsm_encode_fixed32/64
 * of lsm.h).  The byte-by-byte formats are documented at the top of
 * layout.c.
 *
 *   'B' ino block        file data block
 *   'B' ino block 'p'    patch of that block: bytes written over it
 *   'D' parent hash name directory entry -> (child ino, type)
 *   'I' ino              inode record (attributes, inline data)
 *   'O' ino              orphan: unlinked while open (or an O_TMPFILE
 *                        never linked), reclaim on mount
 *   'S'                  superblock
 *   'X' ino name         extended attribute value
 *
 * Decoders take (const void *, size_t) and return 0 or -1: they accept
 * any bytes without reading out of bounds, so they can be fuzzed.
 */
#ifndef FS_LAYOUT_H
#define FS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FS_KEY_BLOCK  'B'
#define FS_KEY_DIRENT 'D'
#define FS_KEY_INODE  'I'
#define FS_KEY_ORPHAN 'O'
#define FS_KEY_SUPER  'S'
#define FS_KEY_XATTR  'X'
#define FS_KEY_PATCH_SUFFIX 'p'          /* after a block key: its patch */

#define FS_FORMAT_VERSION 2                 /* 1 is read too (no reservations) */
#define FS_SUPER_MAGIC "LSMFS\0sb"          /* 8 bytes */
#define FS_SUPER_BYTES 52
#define FS_SUPER_BYTES_V1 44
#define FS_SUPER_CLEAN 1u                   /* closed cleanly: counts valid */

#define FS_INODE_FORMAT 1
#define FS_INODE_HEADER 90
#define FS_INODE_INLINE 1u                  /* data follows the header */
#define FS_INODE_IMMUTABLE 2u               /* chattr +i */
#define FS_INODE_APPEND 4u                  /* chattr +a */
#define FS_INODE_PATCHED 16u                /* data blocks may have patches */
#define FS_INODE_FLAGS (FS_INODE_INLINE | FS_INODE_IMMUTABLE | FS_INODE_APPEND | \
                        FS_INODE_PATCHED)
#define FS_INODE_RESV 8u                    /* on disk only: a reservation follows */
#define FS_INODE_RESV_BYTES 24

#define FS_XATTR_NAME_MAX 255
#define FS_XATTR_VALUE_MAX (64u << 10)

/* Largest key any encoder here produces: prefix, two u64, a 255-byte name. */
#define FS_KEY_MAX (1 + 8 + 8 + 255)
/* A block's or a patch's key: prefix, inode, block number. */
#define FS_BLOCK_KEY_BYTES (1 + 8 + 8)

/* Directory entry hashes use the low 55 bits so a readdir cookie
 * (hash << 8 | index) stays a positive off_t. */
#define FS_HASH_BITS 55

typedef struct fs_super {
    uint32_t version;
    uint32_t block_bytes;
    uint32_t inline_max;
    uint32_t flags;           /* FS_SUPER_CLEAN */
    uint64_t next_ino;        /* every inode number >= this is unused */
    uint64_t inode_count;     /* live inodes; meaningful when CLEAN */
    uint64_t resv_bytes;      /* sum of the inodes' resv; meaningful when CLEAN */
} fs_super;

/* The attributes of an inode record (the inline data is separate). */
typedef struct fs_inode {
    uint8_t flags;            /* FS_INODE_INLINE, _IMMUTABLE, _APPEND */
    uint32_t mode, uid, gid, nlink;
    uint32_t xattrs;          /* number of extended attributes */
    uint64_t rdev;
    uint64_t size;            /* files: bytes; dirs: entries; symlinks: target length */
    uint64_t parent;          /* directories: the parent directory; else 0 */
    uint64_t alloc;           /* bytes held in data blocks (st_blocks) */
    /* Regular files: bytes fallocate reserved and no write has filled
     * yet (also in st_blocks), lying in [resv_lo, resv_hi); 0, 0, 0 when
     * none. */
    uint64_t resv, resv_lo, resv_hi;
    struct timespec atime, mtime, ctime;
} fs_inode;

/* --- keys: each encoder writes into buf (FS_KEY_MAX bytes) and returns
 * the key length. */
size_t fs_key_super(char *buf);
size_t fs_key_inode(char *buf, uint64_t ino);
size_t fs_key_orphan(char *buf, uint64_t ino);
size_t fs_key_block(char *buf, uint64_t ino, uint64_t block);
size_t fs_key_patch(char *buf, uint64_t ino, uint64_t block);
/* (parent, hash) with no name: the first key of that hash's entries. */
size_t fs_key_dirent_hash(char *buf, uint64_t parent, uint64_t hash);
size_t fs_key_dirent(char *buf, uint64_t parent, const char *name, size_t len);
size_t fs_key_xattr(char *buf, uint64_t ino, const char *name, size_t len);
/* The prefix holding every key of `kind` for ino: [kind ino]. */
size_t fs_key_ino_prefix(char *buf, char kind, uint64_t ino);
/* The first key past every key of that prefix (for range deletes). */
size_t fs_key_ino_end(char *buf, char kind, uint64_t ino);

uint64_t fs_name_hash(const char *name, size_t len);

int fs_decode_inode_key(const void *p, size_t n, uint64_t *ino);
int fs_decode_orphan_key(const void *p, size_t n, uint64_t *ino);
int fs_decode_block_key(const void *p, size_t n, uint64_t *ino, uint64_t *block);
int fs_decode_patch_key(const void *p, size_t n, uint64_t *ino, uint64_t *block);
/* A patch value: extents {off:4, len:4, bytes[len]} in increasing,
 * non-overlapping order, len >= 1, each inside [0, limit).  Applies it
 * onto blk (limit bytes) when blk is not NULL; *end (may be NULL): where
 * the last extent ends.  0, or -1 if the bytes are not such a list. */
int fs_patch_apply(const void *p, size_t n, char *blk, size_t limit, size_t *end);
/* 1 if the extents of patch p (validated) leave no byte of [from, to)
 * uncovered. */
int fs_patch_covers(const void *p, size_t n, size_t from, size_t to);
/* *name points into p.  Checks the name (1..255 bytes, no '/' or NUL) and
 * that the hash is the name's. */
int fs_decode_dirent_key(const void *p, size_t n, uint64_t *parent,
                         uint64_t *hash, const char **name, size_t *len);
int fs_decode_xattr_key(const void *p, size_t n, uint64_t *ino,
                        const char **name, size_t *len);

/* --- values -------------------------------------------------------------- */
#define FS_DIRENT_VALUE_BYTES 9
void fs_encode_dirent_value(char *buf, uint64_t ino, uint8_t type);
/* type is a DT_* value (never DT_UNKNOWN); ino nonzero. */
int fs_decode_dirent_value(const void *p, size_t n, uint64_t *ino,
                           uint8_t *type);

/* Writes FS_SUPER_BYTES (the layout of version 2 whatever s->version). */
void fs_encode_super(char *buf, const fs_super *s);
/* Returns 0, -1 (not a superblock: bad magic/length/checksum) or -2
 * (a superblock of another format version; s->version says which). */
int fs_decode_super(const void *p, size_t n, fs_super *s);

/* Bytes fs_encode_inode writes: the header, the reservation if any, and
 * dlen inline bytes. */
size_t fs_inode_bytes(const fs_inode *in, size_t dlen);
/* Writes the header (FS_INODE_HEADER bytes), the reservation when
 * in->resv > 0, then `dlen` inline bytes into buf (fs_inode_bytes).  The
 * INLINE flag must be set iff data is present or the inode is an inline
 * file/symlink. */
void fs_encode_inode(char *buf, const fs_inode *in, const void *data,
                     size_t dlen);
/* Sets data and dlen to the inline bytes (pointing into p), or NULL, 0. */
int fs_decode_inode(const void *p, size_t n, fs_inode *in,
                    const char **data, size_t *dlen);

/* mode's S_IFMT as a DT_* value, 0 (DT_UNKNOWN) if not a valid type. */
uint8_t fs_mode_dtype(uint32_t mode);

#endif
